//! gRPC health checks against a real gRPC server, Python's grpcio with grpcio-health-checking
//! (gRPC's C core; `dist/setup` installs both): overall health, SERVING, NOT_SERVING and
//! unknown services, a server without the health service, TLS with a CA made here, mTLS,
//! metadata an interceptor requires, a Unix socket, a server that starts late for `wait`;
//! the same through the `grpc_health_probe` name and its exit codes. Then raw HTTP/2 servers
//! written here, careful ones (padding, CONTINUATION, Huffman, the dynamic table, PING) and
//! hostile ones (silent, HTTP/1.1, huge frames, endless CONTINUATION, a table size of 2^31,
//! floods, GOAWAY, RST_STREAM, a compressed message), each of which must end in one line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::servers::{self, Pki};
use crate::util::*;

const T: Duration = Duration::from_secs(60);

/// A python3 that imports grpcio and grpcio-health-checking.
fn grpc_python() -> PathBuf {
    static PY: OnceLock<Option<PathBuf>> = OnceLock::new();
    let found = PY.get_or_init(|| {
        ["python3", "/usr/bin/python3", "/usr/local/bin/python3"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .args(["-c", "import grpc, grpc_health.v1.health"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .map(PathBuf::from)
    });
    require(
        "python3 with grpcio and grpcio-health-checking (dist/setup installs them)",
        found.is_some(),
    );
    found.clone().unwrap_or_default()
}

/// tests/grpc_server.py, running until dropped.
struct Grpc {
    child: Child,
    port: u16,
}

impl Drop for Grpc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn grpc_server(args: &[&str]) -> Grpc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/grpc_server.py");
    let mut child = Command::new(grpc_python())
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tests/grpc_server.py");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx.recv_timeout(T).unwrap_or_default();
    let port = line
        .strip_prefix("READY ")
        .and_then(|p| p.trim().parse::<u16>().ok());
    let Some(port) = port else {
        let _ = child.kill();
        panic!("grpc_server.py {args:?} did not start: {line:?}");
    };
    Grpc { child, port }
}

/// `ward NAME ARGS`, without WARD_* variables from the outside.
fn ward(name: &str, args: &[&str]) -> Output {
    let mut cmd = ward_cmd(std::iter::once(name).chain(args.iter().copied()));
    without_env(&mut cmd, &["WARD_"]);
    output_within(cmd, T)
}

/// Exit `want` with stderr containing `says`, one line unless 0; returns stderr.
fn expect(out: &Output, want: i32, says: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), want, "{err}");
    assert!(err.contains(says), "wanted {says:?}: {err}");
    if want != 0 {
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    err
}

fn url(port: u16, service: &str) -> String {
    format!("grpc://127.0.0.1:{port}/{service}")
}

#[test]
fn grpcio_overall_and_named_services() {
    let s = grpc_server(&[
        "--port",
        "0",
        "--service",
        "ok.Svc=SERVING",
        "--service",
        "down.Svc=NOT_SERVING",
    ]);
    let p = s.port;
    expect(&ward("health", &["-v", &url(p, "")]), 0, "SERVING");
    expect(&ward("health", &[&format!("grpc://127.0.0.1:{p}")]), 0, "");
    expect(&ward("health", &[&url(p, "ok.Svc")]), 0, "");
    let err = expect(&ward("health", &[&url(p, "down.Svc")]), 1, "NOT_SERVING");
    assert!(
        err.starts_with(&format!("grpc://127.0.0.1:{p}/down.Svc: ")),
        "{err}"
    );
    expect(
        &ward("health", &[&url(p, "no.Such")]),
        1,
        "unknown service (gRPC status 5 NOT_FOUND",
    );
    // Both at once, and --any.
    expect(
        &ward("health", &["--any", &url(p, "down.Svc"), &url(p, "ok.Svc")]),
        0,
        "",
    );
}

#[test]
fn grpcio_without_the_health_service() {
    let s = grpc_server(&["--port", "0", "--no-health"]);
    expect(
        &ward("health", &[&url(s.port, "")]),
        1,
        "does not implement grpc.health.v1",
    );
    expect(
        &ward(
            "grpc_health_probe",
            &[&format!("-addr=127.0.0.1:{}", s.port)],
        ),
        3,
        "does not implement",
    );
}

#[test]
fn grpcio_metadata_an_interceptor_requires_is_sent_and_never_printed() {
    let token = "Bearer s3cr3t-t0ken";
    let s = grpc_server(&[
        "--port",
        "0",
        "--require-metadata",
        &format!("authorization: {token}"),
    ]);
    let u = url(s.port, "");
    let err = expect(&ward("health", &[&u]), 1, "UNAUTHENTICATED");
    assert!(err.contains("gRPC status 16"), "{err}");
    let wrong = "authorization: Bearer wr0ng-t0ken";
    let err = expect(&ward("health", &["-H", wrong, &u]), 1, "UNAUTHENTICATED");
    assert!(!err.contains("wr0ng"), "{err}");
    let good = format!("authorization: {token}");
    let out = ward("health", &["-v", "-H", &good, &u]);
    let err = expect(&out, 0, "SERVING");
    assert!(!err.contains("s3cr3t"), "{err}");
    let out = ward(
        "grpc_health_probe",
        &[
            "-v",
            &format!("-addr=127.0.0.1:{}", s.port),
            "-rpc-header",
            &good,
        ],
    );
    let err = expect(&out, 0, "status: SERVING");
    assert!(
        !err.contains("s3cr3t") && err.contains("time elapsed: connect="),
        "{err}"
    );
    expect(
        &ward(
            "grpc_health_probe",
            &[&format!("-addr=127.0.0.1:{}", s.port)],
        ),
        3,
        "UNAUTHENTICATED",
    );
    // Metadata HTTP/2 forbids is refused before connecting.
    expect(
        &ward("health", &["-H", "connection: close", &u]),
        1,
        "not allowed on a gRPC call",
    );
}

#[test]
fn grpcio_over_a_unix_socket() {
    let dir = TempDir::new("grpc-unix");
    let sock = dir.join("health.sock");
    let _s = grpc_server(&["--unix", sock.to_str().unwrap()]);
    let sock = sock.to_str().unwrap();
    expect(
        &ward("health", &["--unix-socket", sock, "grpc://localhost"]),
        0,
        "",
    );
    expect(
        &ward("grpc_health_probe", &[&format!("-addr=unix://{sock}")]),
        0,
        "status: SERVING",
    );
}

#[test]
fn grpcio_with_tls_and_mtls() {
    let dir = TempDir::new("grpc-tls");
    let pki = Pki::new(dir.path());
    let server = pki.leaf("server", &["localhost", "127.0.0.1"], false, false);
    let client = pki.leaf("client", &["ward-client"], false, false);
    let (cert, key) = (
        server.cert_pem.to_str().unwrap(),
        server.key_pem.to_str().unwrap(),
    );
    let ca = pki.ca_pem();
    let ca = ca.to_str().unwrap();
    let s = grpc_server(&["--port", "0", "--tls", cert, key]);
    let u = format!("grpcs://127.0.0.1:{}", s.port);
    expect(&ward("health", &["--ca-file", ca, &u]), 0, "");
    expect(&ward("health", &["-k", &u]), 0, "");
    expect(
        &ward(
            "health",
            &["--ca-file", ca, "--tls-server-name", "localhost", &u],
        ),
        0,
        "",
    );
    expect(&ward("health", &[&u]), 1, "TLS");
    // h2c to a TLS port: not HTTP/2.
    expect(
        &ward("health", &[&format!("grpc://127.0.0.1:{}", s.port)]),
        1,
        "",
    );
    let addr = format!("-addr=127.0.0.1:{}", s.port);
    expect(
        &ward("grpc_health_probe", &[&addr, "-tls", "-tls-ca-cert", ca]),
        0,
        "SERVING",
    );
    expect(&ward("grpc_health_probe", &[&addr, "-tls"]), 2, "TLS");
    drop(s);

    let m = grpc_server(&["--port", "0", "--tls", cert, key, "--client-ca", ca]);
    let u = format!("grpcs://127.0.0.1:{}", m.port);
    let with_client = [
        "--ca-file",
        ca,
        "--client-cert",
        client.cert_pem.to_str().unwrap(),
        "--client-key",
        client.key_pem.to_str().unwrap(),
    ];
    let mut args = with_client.to_vec();
    args.push(&u);
    expect(&ward("health", &args), 0, "");
    expect(
        &ward("health", &["--ca-file", ca, &u]),
        1,
        "does it want a client certificate?",
    );
    let addr = format!("-addr=127.0.0.1:{}", m.port);
    expect(
        &ward(
            "grpc_health_probe",
            &[
                &addr,
                "-tls",
                "-tls-ca-cert",
                ca,
                "-tls-client-cert",
                client.cert_pem.to_str().unwrap(),
                "-tls-client-key",
                client.key_pem.to_str().unwrap(),
            ],
        ),
        0,
        "SERVING",
    );
}

#[test]
fn grpc_health_probe_exit_codes() {
    let s = grpc_server(&["--port", "0", "--service", "down.Svc=NOT_SERVING"]);
    let addr = format!("-addr=127.0.0.1:{}", s.port);
    let out = ward("grpc_health_probe", &[&addr]);
    expect(&out, 0, "status: SERVING");
    // `-addr=:PORT` is this machine.
    expect(
        &ward("grpc_health_probe", &[&format!("-addr=:{}", s.port)]),
        0,
        "",
    );
    expect(
        &ward("grpc_health_probe", &[&addr, "-service", "down.Svc"]),
        4,
        "service unhealthy (responded with \"NOT_SERVING\")",
    );
    expect(
        &ward("grpc_health_probe", &[&addr, "-service=no.Such"]),
        3,
        "unknown service",
    );
    let dead = servers::dead_port();
    expect(
        &ward("grpc_health_probe", &[&format!("-addr=127.0.0.1:{dead}")]),
        2,
        "failed to connect service",
    );
    for bad in [
        &[][..],
        &["-addr"],
        &[&addr, "-tls-no-verify"],
        &[&addr, "-alts"],
        &[&addr, "-spiffe"],
        &[&addr, "-rpc-timeout=0s"],
        &[&addr, "-connect-timeout=soon"],
        &[&addr, "-nosuchflag"],
        &[&addr, "-rpc-header", "no colon here"],
    ] {
        let out = ward("grpc_health_probe", bad);
        assert_eq!(code(&out), 1, "{bad:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{bad:?}: {}", stderr(&out));
    }
    let out = ward("grpc_health_probe", &["-version"]);
    assert!(code(&out) == 0 && stdout(&out).starts_with("ward "));
    let out = ward("grpc_health_probe", &["-help"]);
    assert!(code(&out) == 0 && stdout(&out).contains("4 not SERVING"));
    // By its own name, as a chart calls it.
    let dir = TempDir::new("ghp");
    let probe = ward_as(&dir, "grpc_health_probe");
    let mut cmd = Command::new(probe);
    cmd.arg(&addr);
    let out = output_within(cmd, T);
    expect(&out, 0, "status: SERVING");
}

#[test]
fn wait_execs_once_a_late_grpc_server_is_serving() {
    let port = servers::dead_port();
    let dir = TempDir::new("grpc-wait");
    let flag = dir.join("ran");
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1500));
        grpc_server(&["--port", &port.to_string()])
    });
    let mut cmd = ward_cmd([
        "wait",
        "--timeout",
        "40s",
        &url(port, ""),
        "--",
        "touch",
        flag.to_str().unwrap(),
    ]);
    without_env(&mut cmd, &["WARD_", "WAIT_"]);
    let out = output_within(cmd, T);
    let _server = late.join().unwrap();
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(flag.exists());
}

// ---- Raw HTTP/2 servers -----------------------------------------------------------------------

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

const SETTINGS: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];

/// A header block for `:status 200`, `content-type: application/grpc`, with no table use.
fn plain_headers() -> Vec<u8> {
    let mut b = vec![0x88, 0x0f, 0x10, 16];
    b.extend_from_slice(b"application/grpc");
    b
}

/// Trailers with `grpc-status` and a `grpc-message` (as sent: percent-encoded).
fn status_with_message(status: &str, message: &[u8]) -> Vec<u8> {
    let mut t = plain_headers();
    t.extend(status_trailers(status));
    t.extend_from_slice(&[0x00, 12]);
    t.extend_from_slice(b"grpc-message");
    t.push(message.len() as u8);
    t.extend_from_slice(message);
    t
}

fn status_trailers(status: &str) -> Vec<u8> {
    let mut b = vec![0x00, 11];
    b.extend_from_slice(b"grpc-status");
    b.push(status.len() as u8);
    b.extend_from_slice(status.as_bytes());
    b
}

/// A whole answer: headers, a HealthCheckResponse with `status`, trailers with grpc-status 0.
fn answer(status: u8) -> Vec<u8> {
    let mut out = frame(1, 4, 1, &plain_headers());
    out.extend(frame(0, 0, 1, &[0, 0, 0, 0, 2, 0x08, status]));
    out.extend(frame(1, 5, 1, &status_trailers("0")));
    out
}

/// An HTTP/2 server on 127.0.0.1 for one connection at a time: reads the client's preface
/// and SETTINGS, sends `first` (normally SETTINGS), waits for the request (when `then` is
/// not empty, until the client's END_STREAM DATA frame), sends `then`, and reads until the
/// client closes. Returns the port.
fn h2_server(first: Vec<u8>, then: Vec<u8>) -> u16 {
    h2_server_after(first, then, Duration::ZERO).0
}

/// [`h2_server`], sending `first` only after `delay`; also returns the request's header
/// block (HEADERS and CONTINUATION payloads, joined) as the server received it.
fn h2_server_after(first: Vec<u8>, then: Vec<u8>, delay: Duration) -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (first, then) = (Arc::new(first), Arc::new(then));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let block = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (first, then, block) = (first.clone(), then.clone(), block.clone());
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
                let mut preface = [0u8; 24 + 9 + 12];
                if conn.read_exact(&mut preface).is_err() {
                    return;
                }
                std::thread::sleep(delay);
                let _ = conn.write_all(&first);
                if !then.is_empty() {
                    // Frames until DATA with END_STREAM on stream 1.
                    loop {
                        let mut head = [0u8; 9];
                        if conn.read_exact(&mut head).is_err() {
                            return;
                        }
                        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
                        let mut payload = vec![0; len];
                        if conn.read_exact(&mut payload).is_err() {
                            return;
                        }
                        if head[3] == 1 || head[3] == 9 {
                            block.lock().unwrap().extend_from_slice(&payload);
                        }
                        if head[3] == 0 && head[4] & 1 != 0 {
                            break;
                        }
                    }
                    let _ = conn.write_all(&then);
                }
                let mut sink = [0u8; 4096];
                while matches!(conn.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    (port, seen)
}

/// The fields of a header block as ward's encoder writes it: static-table indexes and raw
/// literals (with a static or a literal name), no Huffman, no dynamic table.
fn request_fields(block: &[u8]) -> Vec<(String, String)> {
    const NAMES: [(usize, &str); 4] = [
        (1, ":authority"),
        (4, ":path"),
        (31, "content-type"),
        (58, "user-agent"),
    ];
    fn int(b: &[u8], i: &mut usize, bits: u32) -> usize {
        let max = (1usize << bits) - 1;
        let mut v = usize::from(b[*i]) & max;
        *i += 1;
        if v == max {
            let mut shift = 0;
            loop {
                let byte = b[*i];
                *i += 1;
                v += usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
        }
        v
    }
    fn string(b: &[u8], i: &mut usize) -> String {
        assert_eq!(b[*i] & 0x80, 0, "ward's encoder does not Huffman-code");
        let len = int(b, i, 7);
        let s = String::from_utf8(b[*i..*i + len].to_vec()).unwrap();
        *i += len;
        s
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < block.len() {
        let first = block[i];
        if first & 0x80 != 0 {
            let pair = match int(block, &mut i, 7) {
                3 => (":method", "POST"),
                6 => (":scheme", "http"),
                7 => (":scheme", "https"),
                n => panic!("unexpected index {n}"),
            };
            out.push((pair.0.to_string(), pair.1.to_string()));
            continue;
        }
        assert!(
            first & 0xe0 == 0,
            "only literals without indexing: {first:#x}"
        );
        let name = match int(block, &mut i, 4) {
            0 => string(block, &mut i),
            n => NAMES.iter().find(|(k, _)| *k == n).unwrap().1.to_string(),
        };
        out.push((name, string(block, &mut i)));
    }
    out
}

fn raw(first: Vec<u8>, then: Vec<u8>, timeout: &str) -> (Output, Output) {
    let port = h2_server(first, then);
    let health = ward("health", &["-t", timeout, &url(port, "")]);
    let probe = ward(
        "grpc_health_probe",
        &[
            &format!("-addr=127.0.0.1:{port}"),
            &format!("-connect-timeout={timeout}"),
            &format!("-rpc-timeout={timeout}"),
        ],
    );
    (health, probe)
}

#[test]
fn raw_careful_server_padding_continuation_huffman_dynamic_table_ping() {
    let mut then = frame(6, 0, 0, b"12345678"); // PING
    then.extend(frame(8, 0, 0, &[0, 0, 1, 0])); // WINDOW_UPDATE
    then.extend(frame(0x42, 0, 0, b"unknown frame type"));
    // Headers, padded and with priority, split into HEADERS + CONTINUATION, indexing into
    // the dynamic table, one field Huffman-coded (RFC 7541 C.4.3's custom-key/custom-value).
    let mut block = vec![0x88, 0x5f, 0x10];
    block.extend_from_slice(b"application/grpc");
    block.extend_from_slice(&[0x40, 0x88, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xa9, 0x7d, 0x7f]);
    block.extend_from_slice(&[0x89, 0x25, 0xa8, 0x49, 0xe9, 0x5b, 0xb8, 0xe8, 0xb4, 0xbf]);
    let (a, b) = block.split_at(7);
    let mut headers = vec![3]; // pad length
    headers.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
    headers.extend_from_slice(a);
    headers.extend_from_slice(&[0, 0, 0]);
    then.extend(frame(1, 0x08 | 0x20, 1, &headers));
    then.extend(frame(9, 4, 1, b));
    // The message in two padded DATA frames.
    then.extend(frame(0, 0x08, 1, &[1, 0, 0, 0, 0, 0]));
    then.extend(frame(0, 0, 1, &[2, 0x08, 1]));
    // A graceful GOAWAY that still serves stream 1, then the trailers: the dynamic table's
    // newest entry (custom-key) and grpc-status.
    then.extend(frame(7, 0, 0, &[0, 0, 0, 1, 0, 0, 0, 0]));
    let mut trailers = vec![0xbe];
    trailers.extend(status_trailers("0"));
    then.extend(frame(1, 5, 1, &trailers));
    let (health, probe) = raw(SETTINGS.to_vec(), then, "5s");
    expect(&health, 0, "");
    expect(&probe, 0, "status: SERVING");
}

#[test]
fn raw_trailers_only_and_other_grpc_statuses() {
    let t = status_with_message("14", b"draining%20for%20upgrade%0A");
    let (health, probe) = raw(SETTINGS.to_vec(), frame(1, 5, 1, &t), "5s");
    expect(
        &health,
        1,
        "gRPC status 14 UNAVAILABLE: draining for upgrade",
    );
    expect(&probe, 3, "UNAVAILABLE");
    // SERVICE_UNKNOWN and UNKNOWN (an empty message) are not healthy: exit 4 for the probe.
    let (health, probe) = raw(SETTINGS.to_vec(), answer(3), "5s");
    expect(&health, 1, "SERVICE_UNKNOWN");
    expect(&probe, 4, "SERVICE_UNKNOWN");
    let mut empty = frame(1, 4, 1, &plain_headers());
    empty.extend(frame(0, 0, 1, &[0, 0, 0, 0, 0]));
    empty.extend(frame(1, 5, 1, &status_trailers("0")));
    let (health, _) = raw(SETTINGS.to_vec(), empty, "5s");
    expect(&health, 1, "UNKNOWN");
    // A server that repeats the metadata it refused: the value is never shown.
    let t = status_with_message("16", b"bad token: echo-t0ken-123");
    let port = h2_server(SETTINGS.to_vec(), frame(1, 5, 1, &t));
    let out = ward(
        "health",
        &["-H", "authorization: Bearer echo-t0ken-123", &url(port, "")],
    );
    let err = expect(&out, 1, "UNAUTHENTICATED: bad token: ...");
    assert!(!err.contains("echo-t0ken"), "{err}");
    assert!(!err.contains("t0ken"), "{err}");
    // An HTTP/2 server that is not gRPC.
    let (health, _) = raw(SETTINGS.to_vec(), frame(1, 5, 1, &[0x8d]), "5s");
    expect(
        &health,
        1,
        "not a gRPC answer (HTTP status 404, content-type none",
    );
}

#[test]
fn raw_hostile_servers_end_in_one_line() {
    let big = |n: usize| vec![0u8; n];
    // Name, what the server sends first, what it answers the request with, what ward's line
    // says, grpc_health_probe's exit code.
    type Case = (&'static str, Vec<u8>, Vec<u8>, &'static str, i32);
    let cases: Vec<Case> = vec![
        ("silent", vec![], vec![], "in the HTTP/2 handshake", 2),
        (
            "http/1.1",
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
            vec![],
            "not an HTTP/2 server",
            2,
        ),
        (
            "silent after SETTINGS",
            SETTINGS.to_vec(),
            vec![],
            "waiting for the response",
            3,
        ),
        (
            "16 MiB frame",
            SETTINGS.to_vec(),
            vec![0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1],
            "larger than the 16 KiB",
            3,
        ),
        (
            "endless CONTINUATION",
            SETTINGS.to_vec(),
            {
                let mut v = frame(1, 0, 1, &[0x88]);
                for _ in 0..8 {
                    v.extend(frame(9, 0, 1, &big(16_384)));
                }
                v
            },
            "header block is larger than 64 KiB",
            3,
        ),
        (
            "table size 2^31",
            SETTINGS.to_vec(),
            frame(1, 4, 1, &[0x3f, 0xe1, 0xff, 0xff, 0xff, 0x07, 0x88]),
            "HPACK",
            3,
        ),
        (
            "SETTINGS flood",
            [
                SETTINGS.to_vec(),
                (0..200).flat_map(|_| SETTINGS.to_vec()).collect(),
            ]
            .concat(),
            vec![],
            "flood",
            3,
        ),
        (
            "PING flood",
            SETTINGS.to_vec(),
            (0..200).flat_map(|_| frame(6, 0, 0, b"pingpong")).collect(),
            "flood",
            3,
        ),
        (
            "GOAWAY",
            SETTINGS.to_vec(),
            frame(7, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 11, b'c', b'a', b'l', b'm']),
            "GOAWAY (ENHANCE_YOUR_CALM: calm)",
            3,
        ),
        (
            "RST_STREAM",
            SETTINGS.to_vec(),
            frame(3, 0, 1, &[0, 0, 0, 7]),
            "reset the stream (REFUSED_STREAM)",
            3,
        ),
        (
            "compressed message",
            SETTINGS.to_vec(),
            {
                let mut v = frame(1, 4, 1, &plain_headers());
                v.extend(frame(0, 0, 1, &[1, 0, 0, 0, 2, 0x08, 1]));
                v.extend(frame(1, 5, 1, &status_trailers("0")));
                v
            },
            "compressed message",
            3,
        ),
        (
            "message over 64 KiB",
            SETTINGS.to_vec(),
            {
                let mut v = frame(1, 4, 1, &plain_headers());
                for _ in 0..5 {
                    v.extend(frame(0, 0, 1, &big(16_000)));
                }
                v
            },
            "larger than 64 KiB",
            3,
        ),
        (
            "not SETTINGS first",
            frame(6, 0, 0, b"pingpong"),
            vec![],
            "not an HTTP/2 server",
            2,
        ),
        (
            "closes in the handshake",
            SETTINGS[..4].to_vec(),
            vec![],
            "",
            2,
        ),
    ];
    for (name, first, then, says, probe_code) in cases {
        let closes = name == "closes in the handshake";
        let port = if closes {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = l.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for c in l.incoming().flatten() {
                    let mut c = c;
                    let _ = c.write_all(&first);
                }
            });
            port
        } else {
            h2_server(first, then)
        };
        let health = ward("health", &["-t", "2s", &url(port, "")]);
        let err = expect(&health, 1, says);
        assert!(err.len() < 300, "{name}: {err}");
        let probe = ward(
            "grpc_health_probe",
            &[
                &format!("-addr=127.0.0.1:{port}"),
                "-connect-timeout=2s",
                "-rpc-timeout=2s",
            ],
        );
        assert_eq!(code(&probe), probe_code, "{name}: {}", stderr(&probe));
        assert_eq!(
            stderr(&probe).lines().count(),
            1,
            "{name}: {}",
            stderr(&probe)
        );
    }
}

#[test]
fn tls_without_alpn_h2_is_refused() {
    let dir = TempDir::new("grpc-alpn");
    let pki = Pki::new(dir.path());
    let leaf = pki.leaf("server", &["localhost", "127.0.0.1"], false, false);
    // The HTTPS test server offers no ALPN.
    let s = pki.https(
        &leaf,
        false,
        false,
        servers::Reply::Status(200, "ok".into()),
    );
    let port = s
        .url("/")
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let ca = pki.ca_pem();
    let out = ward(
        "health",
        &[
            "--ca-file",
            ca.to_str().unwrap(),
            &format!("grpcs://127.0.0.1:{port}"),
        ],
    );
    expect(&out, 1, "did not agree to h2");
}

#[test]
fn raw_the_request_ward_sends() {
    let (port, seen) = h2_server_after(SETTINGS.to_vec(), answer(1), Duration::ZERO);
    let out = ward(
        "health",
        &[
            "-t",
            "9s",
            "-H",
            "Authorization: Bearer x",
            "-H",
            "x-trace-bin: hi",
            "-H",
            "host: greeter.local",
            &url(port, "my.pkg.Greeter"),
        ],
    );
    expect(&out, 0, "");
    let fields = request_fields(&seen.lock().unwrap());
    let get = |n: &str| {
        fields
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("no {n} in {fields:?}"))
    };
    assert_eq!(get(":method"), "POST");
    assert_eq!(get(":scheme"), "http");
    assert_eq!(get(":path"), "/grpc.health.v1.Health/Check");
    assert_eq!(get(":authority"), "greeter.local");
    assert_eq!(get("content-type"), "application/grpc");
    assert_eq!(get("te"), "trailers");
    assert!(get("user-agent").starts_with("ward/"), "{fields:?}");
    let timeout = get("grpc-timeout");
    let ms: u64 = timeout.strip_suffix('m').unwrap().parse().unwrap();
    assert!((1..=9000).contains(&ms), "{timeout}");
    assert_eq!(get("authorization"), "Bearer x");
    assert_eq!(get("x-trace-bin"), "aGk=");
    assert!(!fields.iter().any(|(k, _)| k == "host"), "{fields:?}");

    // grpc_health_probe's user agent and the default :authority.
    let (port, seen) = h2_server_after(SETTINGS.to_vec(), answer(1), Duration::ZERO);
    let out = ward(
        "grpc_health_probe",
        &[&format!("-addr=127.0.0.1:{port}"), "-user-agent=probe/1"],
    );
    expect(&out, 0, "status: SERVING");
    let fields = request_fields(&seen.lock().unwrap());
    assert!(
        fields.contains(&(":authority".into(), format!("127.0.0.1:{port}"))),
        "{fields:?}"
    );
    assert!(
        fields
            .iter()
            .any(|(k, v)| k == "user-agent" && v.starts_with("probe/1 ward/")),
        "{fields:?}"
    );
}

#[test]
fn raw_answers_grpc_go_would_refuse_are_unhealthy() {
    // grpc-status 0 in the first headers, not in trailers: the call did not end well.
    let mut h = plain_headers();
    h.extend(status_trailers("0"));
    let mut v = frame(1, 4, 1, &h);
    v.extend(frame(0, 1, 1, &[0, 0, 0, 0, 2, 0x08, 1]));
    let (health, probe) = raw(SETTINGS.to_vec(), v, "5s");
    expect(&health, 1, "grpc-status none in the trailers");
    expect(&probe, 3, "not a gRPC answer");
    // HTTP 500 or text/html with a SERVING message and grpc-status 0.
    for headers in [vec![0x8e, 0x0f, 0x10, 16], vec![0x88, 0x0f, 0x10, 9]] {
        let mut h = headers.clone();
        h.extend_from_slice(if headers[0] == 0x8e {
            b"application/grpc".as_slice()
        } else {
            b"text/html".as_slice()
        });
        let mut v = frame(1, 4, 1, &h);
        v.extend(frame(0, 0, 1, &[0, 0, 0, 0, 2, 0x08, 1]));
        v.extend(frame(1, 5, 1, &status_trailers("0")));
        let (health, probe) = raw(SETTINGS.to_vec(), v, "5s");
        expect(&health, 1, "not a gRPC answer");
        expect(&probe, 3, "not a gRPC answer");
    }
    // An unknown serving status is shown as its number.
    let (_, probe) = raw(SETTINGS.to_vec(), answer(7), "5s");
    expect(&probe, 4, "responded with \"an unknown status\"");
}

#[test]
fn raw_rpc_timeout_starts_once_connected() {
    // SETTINGS after 0.9 s, the answer at once: within a 5 s connect and a 1 s call limit.
    let (port, _) = h2_server_after(SETTINGS.to_vec(), answer(1), Duration::from_millis(900));
    let out = ward(
        "grpc_health_probe",
        &[
            &format!("-addr=127.0.0.1:{port}"),
            "-connect-timeout=5s",
            "-rpc-timeout=1s",
        ],
    );
    expect(&out, 0, "status: SERVING");
}

#[test]
fn probe_help_and_version_only_alone() {
    for args in [&["-addr=127.0.0.1:1", "-h"][..], &["-version", "-addr=:1"]] {
        let out = ward("grpc_health_probe", args);
        expect(&out, 1, "take no other flags");
    }
    // A stray word is refused without being shown (it may be half of a header).
    let out = ward(
        "grpc_health_probe",
        &["-addr=:1", "-rpc-header=authorization:", "s3cr3t-value"],
    );
    let err = expect(&out, 1, "not a flag");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn grpcs_without_tls_in_the_binary_says_so() {
    let mut cmd = Command::new(notls_ward());
    cmd.args(["health", "grpcs://127.0.0.1:1"]);
    let out = output_within(cmd, T);
    expect(
        &out,
        1,
        "grpcs:// needs TLS, and this ward was built without it",
    );
}
