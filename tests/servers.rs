//! Real servers for the health tests, on loopback only: HTTP with chosen statuses and bodies,
//! hostile ones (silent, dribbling, endless, not HTTP), HTTPS with certificates made at test
//! time (a CA, right and wrong names, expired, self-signed, client certificates), a
//! Unix-socket HTTP server, and a recording HTTP proxy.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// What a server does with each connection, after reading the request head.
#[derive(Clone)]
pub enum Reply {
    /// A status with a body (Content-Length framing).
    Status(u16, String),
    /// A status with extra header lines (each "Name: value").
    WithHeaders(u16, Vec<String>, String),
    /// A chunked body sent in these pieces.
    Chunked(Vec<String>),
    /// Accept, read the request, then never answer.
    Silent,
    /// Send a valid status line and headers one byte per second.
    Dribble,
    /// 200 with a body that never ends (chunked when the flag is set).
    Endless(bool),
    /// Bytes that are not HTTP.
    Raw(Vec<u8>),
    /// Bytes sent as soon as the connection is accepted, before reading anything (an SSH
    /// server's greeting; an HTTP server answering a TLS hello with 400), then close.
    Greet(Vec<u8>),
}

/// Requests the server received (their heads, as text).
pub type Log = Arc<Mutex<Vec<String>>>;

pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

fn read_head(s: &mut dyn Stream) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 65536 {
        match s.read(&mut byte) {
            Ok(1) => buf.push(byte[0]),
            _ => return None,
        }
    }
    Some(String::from_utf8_lossy(&buf).into_owned())
}

fn respond(s: &mut dyn Stream, reply: &Reply) {
    let _ = match reply {
        Reply::Status(code, body) => write!(
            s,
            "HTTP/1.1 {code} Test\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Reply::WithHeaders(code, headers, body) => {
            let mut head = format!("HTTP/1.1 {code} Test\r\nContent-Length: {}\r\n", body.len());
            for h in headers {
                head.push_str(h);
                head.push_str("\r\n");
            }
            write!(s, "{head}Connection: close\r\n\r\n{body}")
        }
        Reply::Chunked(pieces) => {
            let mut out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_string();
            for p in pieces {
                out.push_str(&format!("{:x}\r\n{p}\r\n", p.len()));
            }
            out.push_str("0\r\n\r\n");
            s.write_all(out.as_bytes())
        }
        Reply::Silent => {
            std::thread::sleep(Duration::from_secs(120));
            Ok(())
        }
        Reply::Dribble => {
            for b in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" {
                if s.write_all(&[*b]).and_then(|_| s.flush()).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
            Ok(())
        }
        Reply::Endless(chunked) => {
            let head = if *chunked {
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\n\r\n"
            };
            if s.write_all(head.as_bytes()).is_err() {
                return;
            }
            let piece = vec![b'x'; 8192];
            loop {
                let r = if *chunked {
                    write!(s, "2000\r\n")
                        .and_then(|_| s.write_all(&piece))
                        .and_then(|_| write!(s, "\r\n"))
                } else {
                    s.write_all(&piece)
                };
                if r.is_err() {
                    return;
                }
            }
        }
        Reply::Raw(bytes) | Reply::Greet(bytes) => s.write_all(bytes),
    };
    let _ = s.flush();
}

fn handle(mut s: Box<dyn Stream>, reply: &Reply, log: &Log) {
    if let Reply::Greet(bytes) = reply {
        let _ = s.write_all(bytes);
        let _ = s.flush();
        return;
    }
    if let Some(head) = read_head(&mut *s) {
        log.lock().unwrap().push(head);
        respond(&mut *s, reply);
    }
}

/// An HTTP server on `bind` (e.g. "127.0.0.1:0", "[::1]:0") answering every request with
/// `reply`. Lives until the test process ends.
pub struct Server {
    pub addr: SocketAddr,
    pub log: Log,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
    pub fn https(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }
    pub fn requests(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

pub fn http(bind: &str, reply: Reply) -> Server {
    serve(TcpListener::bind(bind).unwrap(), reply, None)
}

pub fn http_on(listener: TcpListener, reply: Reply) -> Server {
    serve(listener, reply, None)
}

fn serve(listener: TcpListener, reply: Reply, tls: Option<Arc<rustls::ServerConfig>>) -> Server {
    let addr = listener.local_addr().unwrap();
    let log: Log = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (reply, log, tls) = (reply.clone(), log2.clone(), tls.clone());
            std::thread::spawn(move || match tls {
                None => handle(Box::new(conn), &reply, &log),
                Some(cfg) => {
                    let Ok(server) = rustls::ServerConnection::new(cfg) else {
                        return;
                    };
                    let stream = rustls::StreamOwned::new(server, conn);
                    handle(Box::new(stream), &reply, &log);
                }
            });
        }
    });
    Server { addr, log }
}

/// An HTTP server on a Unix socket at `path`.
pub fn unix(path: &Path, reply: Reply) -> Log {
    let listener = UnixListener::bind(path).unwrap();
    let log: Log = Arc::default();
    let log2 = log.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let (reply, log) = (reply.clone(), log2.clone());
            std::thread::spawn(move || handle(Box::new(conn), &reply, &log));
        }
    });
    log
}

/// A port on 127.0.0.1 where nothing listens.
pub fn dead_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether this machine has IPv6 loopback.
pub fn ipv6_available() -> bool {
    TcpListener::bind("[::1]:0").is_ok()
}

/// Certificates made for one test: a CA and leaves it signed, all written as PEM files.
pub struct Pki {
    pub dir: PathBuf,
    ca: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, as DER for a server and as PEM files for ward.
pub struct Leaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub cert_pem: PathBuf,
    pub key_pem: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "ward test CA");
        let ca = rcgen::CertifiedIssuer::self_signed(params, rcgen::KeyPair::generate().unwrap())
            .unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            ca,
        }
    }

    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A leaf for `names`, signed by the CA (or self-signed), valid now unless `expired`.
    pub fn leaf(&self, tag: &str, names: &[&str], self_signed: bool, expired: bool) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = if self_signed {
            params.self_signed(&key).unwrap()
        } else {
            params.signed_by(&key, &self.ca).unwrap()
        };
        let cert_pem = self.dir.join(format!("{tag}.pem"));
        let key_pem = self.dir.join(format!("{tag}.key"));
        std::fs::write(&cert_pem, cert.pem()).unwrap();
        std::fs::write(&key_pem, key.serialize_pem()).unwrap();
        Leaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem,
            key_pem,
        }
    }

    /// An HTTPS server on 127.0.0.1 with `leaf`; TLS 1.2 only when `tls12_only`; requiring a
    /// client certificate signed by this CA when `require_client`.
    pub fn https(
        &self,
        leaf: &Leaf,
        tls12_only: bool,
        require_client: bool,
        reply: Reply,
    ) -> Server {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if tls12_only {
            &[&rustls::version::TLS12]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .unwrap();
        let builder = if require_client {
            let mut roots = rustls::RootCertStore::empty();
            roots.add(self.ca.der().clone()).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let cfg = builder
            .with_single_cert(leaf.chain.clone(), leaf.key.clone_key())
            .unwrap();
        serve(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            reply,
            Some(Arc::new(cfg)),
        )
    }
}

/// Connects and returns at once: used to check a server is up.
pub fn can_connect(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
}
