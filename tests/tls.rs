//! TLS against `openssl s_server` on loopback, with certificates made by the openssl command
//! line at test time: a pinned self-signed CA certificate (the usual one-liner) is accepted,
//! and every certificate or key ward cannot use fails with one line a person can act on (no
//! Debug output, no variant names).

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(60);

const RSA2048: &[&str] = &["-newkey", "rsa:2048"];
const RSA1024: &[&str] = &["-newkey", "rsa:1024"];
const P256: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
const P521: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"];

/// The wording for a P-521 server certificate, in full.
const P521_WORDS: &str = "the server's certificate uses ECDSA P-521, which ward's TLS library \
                          does not support (use P-256, P-384, RSA or Ed25519)";

fn openssl_available() -> bool {
    Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A directory of certificates and keys made with the openssl command line.
struct Certs {
    dir: TempDir,
}

impl Certs {
    fn new(tag: &str) -> Certs {
        require(
            "the openssl command line tool (apt-get install openssl)",
            openssl_available(),
        );
        Certs {
            dir: TempDir::new(tag),
        }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_string()
    }

    fn openssl(&self, args: &[&str]) {
        let mut cmd = Command::new("openssl");
        cmd.args(args).current_dir(self.dir.path());
        let out = output_within(cmd, T);
        assert!(
            out.status.success(),
            "openssl {}: {}",
            args.join(" "),
            stderr(&out)
        );
    }

    /// NAME.pem and NAME.key: a self-signed certificate for localhost and 127.0.0.1 made by
    /// the one-liner everyone uses (basicConstraints CA:TRUE), with `extra` arguments.
    fn self_signed(&self, name: &str, key: &[&str], extra: &[&str]) -> (String, String) {
        let (pem, keyfile) = (format!("{name}.pem"), format!("{name}.key"));
        let mut args = vec!["req", "-x509"];
        args.extend(key);
        args.extend([
            "-nodes",
            "-keyout",
            &keyfile,
            "-out",
            &pem,
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ]);
        args.extend(extra);
        self.openssl(&args);
        (self.path(&pem), self.path(&keyfile))
    }

    /// A CA: NAME.pem and NAME.key.
    fn ca(&self, name: &str, key: &[&str]) -> String {
        let subject = format!("/CN=ward test {name}");
        self.self_signed(name, key, &["-subj", &subject]).0
    }

    /// NAME.pem and NAME.key: a certificate for localhost and 127.0.0.1 signed by CA with
    /// DIGEST, with extension lines `ext` besides subjectAltName and CA:FALSE.
    fn leaf(
        &self,
        name: &str,
        key: &[&str],
        ca: &str,
        digest: &str,
        ext: &[&str],
    ) -> (String, String) {
        let (pem, keyfile, csr, extfile) = (
            format!("{name}.pem"),
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.ext"),
        );
        let mut args = vec!["req", "-new"];
        args.extend(key);
        args.extend([
            "-nodes",
            "-keyout",
            &keyfile,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ]);
        self.openssl(&args);
        let mut lines = vec![
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "basicConstraints=CA:FALSE",
        ];
        lines.extend(ext);
        std::fs::write(self.dir.join(&extfile), lines.join("\n") + "\n").unwrap();
        let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
        let digest = format!("-{digest}");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "1",
            &digest,
            "-extfile",
            &extfile,
        ]);
        (self.path(&pem), self.path(&keyfile))
    }

    /// A file NAME holding the concatenation of `files`.
    fn concat(&self, name: &str, files: &[&str]) -> String {
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        std::fs::write(self.dir.join(name), text).unwrap();
        self.path(name)
    }
}

/// `openssl s_server -www` on 127.0.0.1 for one connection; killed on drop. Security level 0,
/// so that it serves what ward must refuse (SHA-1, RSA-1024).
struct SServer {
    child: Child,
    port: u16,
}

impl SServer {
    fn start(cert: &str, key: &str, extra: &[&str]) -> SServer {
        let mut why = String::new();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let accept = format!("127.0.0.1:{port}");
            let mut child = Command::new("openssl")
                .args(["s_server", "-accept", &accept, "-cert", cert, "-key", key])
                .args(["-www", "-naccept", "1", "-cipher", "DEFAULT@SECLEVEL=0"])
                .args(extra)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("openssl s_server");
            // It prints ACCEPT once it listens; the rest of its output is drained and dropped.
            let (tx, rx) = mpsc::channel();
            let stdout = child.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    match line {
                        Ok(l) if l.contains("ACCEPT") => {
                            let _ = tx.send(());
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
            });
            if rx.recv_timeout(Duration::from_secs(20)).is_ok() {
                return SServer { child, port };
            }
            let _ = child.kill();
            let _ = child.wait();
            why.clear();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut why);
            }
        }
        panic!("openssl s_server did not start: {why}");
    }

    fn url(&self, host: &str) -> String {
        format!("https://{host}:{}/", self.port)
    }
}

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ward health -t 20s ARGS...` without proxies or WARD_HEALTH_* from the environment.
fn health(args: &[&str]) -> Output {
    let mut cmd = ward_cmd(["health", "-t", "20s"].iter().chain(args));
    for (k, _) in std::env::vars() {
        if k.starts_with("WARD_HEALTH_") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(k);
        }
    }
    output_within(cmd, T)
}

/// Serves CERT/KEY once and checks it with ward.
fn probe(cert: &str, key: &str, server: &[&str], host: &str, args: &[&str]) -> (String, Output) {
    let s = SServer::start(cert, key, server);
    let url = s.url(host);
    let out = health(&[args, &[url.as_str()]].concat());
    (url, out)
}

fn healthy(out: &Output) {
    assert_eq!(code(out), 0, "stderr: {}", stderr(out));
    assert!(out.stderr.is_empty(), "stderr: {}", stderr(out));
}

/// Exit 1 and exactly one stderr line that starts with `prefix`, contains `wanted` and reads
/// as a sentence: no braces, no Rust paths, no variant names. Returns the line.
fn fails(out: &Output, prefix: &str, wanted: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), 1, "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "not one line: {err}");
    let line = lines[0];
    assert!(
        line.starts_with(prefix),
        "{line:?} should start with {prefix:?}"
    );
    assert!(line.contains(wanted), "{line:?} should contain {wanted:?}");
    assert!(line.len() < 300, "too long: {line}");
    assert!(!line.contains(['{', '}']), "Debug output in {line:?}");
    assert!(!line.contains("::"), "a Rust path in {line:?}");
    for word in line.split(|c: char| !c.is_ascii_alphanumeric()) {
        let camel = word.starts_with(|c: char| c.is_ascii_uppercase())
            && word
                .as_bytes()
                .windows(2)
                .any(|w| w[0].is_ascii_lowercase() && w[1].is_ascii_uppercase());
        assert!(!camel, "{word:?} looks like a variant name in {line:?}");
    }
    line.to_string()
}

/// A failure in the handshake: the line starts with the target.
fn tls_fails(url: &str, out: &Output, wanted: &str) -> String {
    fails(out, &format!("{url}: TLS: "), wanted)
}

/// A bad option (a file ward cannot use): the applet's usage line.
fn setup_fails(args: &[&str], wanted: &str) -> String {
    let out = health(&[args, &["https://127.0.0.1:1/"]].concat());
    fails(&out, "ward health[", wanted)
}

#[test]
fn pinned_self_signed_ca_certificate_is_accepted() {
    let c = Certs::new("tls-pin");
    let (pin, key) = c.self_signed(
        "pin",
        RSA2048,
        &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    );
    for (host, server) in [
        ("127.0.0.1", &[][..]),
        ("localhost", &[][..]),
        ("127.0.0.1", &["-tls1_2"][..]),
    ] {
        healthy(&probe(&pin, &key, server, host, &["--ca-file", &pin]).1);
    }
    // Pinned among other certificates in the same file.
    let (other, _) = c.self_signed("other", P256, &[]);
    let both = c.concat("both.pem", &[&other, &pin]);
    healthy(&probe(&pin, &key, &[], "127.0.0.1", &["--ca-file", &both]).1);
    // A CA-signed leaf pinned without its CA.
    c.ca("ca", P256);
    let (leaf, leaf_key) = c.leaf("leaf", P256, "ca", "sha256", &[]);
    healthy(&probe(&leaf, &leaf_key, &[], "127.0.0.1", &["--ca-file", &leaf]).1);
}

#[test]
fn pinned_certificate_must_name_the_server() {
    let c = Certs::new("tls-pin-name");
    let (pin, key) = c.self_signed(
        "pin",
        RSA2048,
        &["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
    );
    let args = ["--ca-file", &pin, "--tls-server-name", "other.test"];
    let (url, out) = probe(&pin, &key, &[], "127.0.0.1", &args);
    tls_fails(
        &url,
        &out,
        "certificate not valid for name other.test (it is for localhost, 127.0.0.1; see \
         --tls-server-name)",
    );
    // Only a DNS name in it, and the URL uses the address.
    let (dns, dns_key) =
        c.self_signed("dns", RSA2048, &["-addext", "subjectAltName=DNS:localhost"]);
    let (url, out) = probe(&dns, &dns_key, &[], "127.0.0.1", &["--ca-file", &dns]);
    tls_fails(&url, &out, "certificate not valid for name 127.0.0.1");
    // No subjectAltName at all: the common name does not count.
    let (bare, bare_key) = c.self_signed("bare", RSA2048, &[]);
    let (url, out) = probe(&bare, &bare_key, &[], "localhost", &["--ca-file", &bare]);
    tls_fails(&url, &out, "the common name is not used");
}

#[test]
fn pinned_certificate_must_be_in_date_and_for_servers() {
    let c = Certs::new("tls-pin-date");
    // openssl 3.0's req cannot back-date a certificate: rcgen makes the expired one.
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let (pem, key_pem) = (c.path("expired.pem"), c.path("expired.key"));
    std::fs::write(&pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let (url, out) = probe(&pem, &key_pem, &[], "127.0.0.1", &["--ca-file", &pem]);
    tls_fails(&url, &out, "certificate expired on 2021-01-01 00:00:00 UTC");

    let (client, client_key) = c.self_signed(
        "client-only",
        RSA2048,
        &[
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-addext",
            "extendedKeyUsage=clientAuth",
        ],
    );
    let (url, out) = probe(
        &client,
        &client_key,
        &[],
        "127.0.0.1",
        &["--ca-file", &client],
    );
    tls_fails(
        &url,
        &out,
        "the server's certificate is not allowed for TLS server authentication",
    );
}

#[test]
fn other_certificates_than_the_pinned_one_are_refused() {
    let c = Certs::new("tls-other");
    let san = ["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"];
    let (pin, key) = c.self_signed("pin", RSA2048, &san);
    let (other, _) = c.self_signed("other", RSA2048, &san);
    // A self-signed CA certificate that is not the one in --ca-file.
    let (url, out) = probe(&pin, &key, &[], "127.0.0.1", &["--ca-file", &other]);
    tls_fails(
        &url,
        &out,
        "the server's certificate is a CA certificate that is not in --ca-file",
    );
    // The same with -tls1_2, and a self-signed leaf (CA:FALSE).
    let (url, out) = probe(
        &pin,
        &key,
        &["-tls1_2"],
        "127.0.0.1",
        &["--ca-file", &other],
    );
    tls_fails(&url, &out, "not in --ca-file");
    let leaf_ext = [
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
        "-addext",
        "basicConstraints=critical,CA:FALSE",
    ];
    let (leaf, leaf_key) = c.self_signed("self-leaf", RSA2048, &leaf_ext);
    // Same subject as the one in --ca-file (CN=localhost), another key.
    let (url, out) = probe(&leaf, &leaf_key, &[], "127.0.0.1", &["--ca-file", &other]);
    tls_fails(
        &url,
        &out,
        "certificate signed by an unknown authority (a trusted CA has the same name, but its \
         key did not sign it",
    );
    // A CA-signed certificate whose CA is not in --ca-file.
    c.ca("ca", P256);
    let (signed, signed_key) = c.leaf("signed", P256, "ca", "sha256", &[]);
    let (url, out) = probe(
        &signed,
        &signed_key,
        &[],
        "127.0.0.1",
        &["--ca-file", &other],
    );
    tls_fails(&url, &out, "certificate signed by an unknown authority");
    // And the CA itself, once in --ca-file, still works the usual way.
    let ca = c.path("ca.pem");
    healthy(&probe(&signed, &signed_key, &[], "127.0.0.1", &["--ca-file", &ca]).1);
}

#[test]
fn p521_server_certificate_is_named() {
    let c = Certs::new("tls-p521");
    c.ca("ca", P256);
    let ca = c.path("ca.pem");
    let (cert, key) = c.leaf("p521", P521, "ca", "sha256", &[]);
    // TLS 1.3: ward offers P-521 signatures just to be able to say this.
    let (url, out) = probe(&cert, &key, &[], "127.0.0.1", &["--ca-file", &ca]);
    assert_eq!(
        tls_fails(&url, &out, P521_WORDS),
        format!("{url}: TLS: {P521_WORDS}")
    );
    let (url, out) = probe(&cert, &key, &[], "127.0.0.1", &["-k"]);
    tls_fails(&url, &out, P521_WORDS);
    // TLS 1.2: the server gives up before sending its certificate; the line says what to
    // suspect.
    let (url, out) = probe(&cert, &key, &["-tls1_2"], "127.0.0.1", &["--ca-file", &ca]);
    tls_fails(&url, &out, "P-521");
    // A P-521 CA.
    c.ca("ca521", P521);
    let ca521 = c.path("ca521.pem");
    let (by521, by521_key) = c.leaf("by521", P256, "ca521", "sha256", &[]);
    let (url, out) = probe(&by521, &by521_key, &[], "127.0.0.1", &["--ca-file", &ca521]);
    tls_fails(
        &url,
        &out,
        "a CA certificate in the server's chain uses ECDSA P-521, which ward's TLS library \
         does not support",
    );
}

#[test]
fn sha1_signed_server_certificate_is_named() {
    let c = Certs::new("tls-sha1");
    for (ca_key, tag) in [(RSA2048, "rsa"), (P256, "ec")] {
        let ca_name = format!("ca-{tag}");
        c.ca(&ca_name, ca_key);
        let ca = c.path(&format!("{ca_name}.pem"));
        let (cert, key) = c.leaf(&format!("sha1-{tag}"), RSA2048, &ca_name, "sha1", &[]);
        let (url, out) = probe(&cert, &key, &[], "127.0.0.1", &["--ca-file", &ca]);
        tls_fails(&url, &out, "SHA-1 signatures are not accepted");
    }
}

#[test]
fn client_only_key_usage_is_named() {
    let c = Certs::new("tls-eku");
    c.ca("ca", P256);
    let ca = c.path("ca.pem");
    let (cert, key) = c.leaf(
        "eku",
        RSA2048,
        "ca",
        "sha256",
        &["extendedKeyUsage=clientAuth"],
    );
    let (url, out) = probe(&cert, &key, &[], "127.0.0.1", &["--ca-file", &ca]);
    tls_fails(
        &url,
        &out,
        "the server's certificate is not allowed for TLS server authentication (its extended \
         key usage",
    );
}

#[test]
fn rsa_1024_keys_are_named() {
    let c = Certs::new("tls-rsa1024");
    c.ca("ca", P256);
    let ca = c.path("ca.pem");
    let (cert, key) = c.leaf("weak", RSA1024, "ca", "sha256", &[]);
    for server in [&[][..], &["-tls1_2"][..]] {
        let (url, out) = probe(&cert, &key, server, "127.0.0.1", &["--ca-file", &ca]);
        tls_fails(
            &url,
            &out,
            "the server's certificate has a 1024-bit RSA key, which ward's TLS library does not \
             accept (RSA keys need 2048 to 8192 bits)",
        );
    }
    c.ca("weak-ca", RSA1024);
    let weak_ca = c.path("weak-ca.pem");
    let (cert, key) = c.leaf("by-weak", RSA2048, "weak-ca", "sha256", &[]);
    let (url, out) = probe(&cert, &key, &[], "127.0.0.1", &["--ca-file", &weak_ca]);
    tls_fails(
        &url,
        &out,
        "a CA certificate in the server's chain has a 1024-bit RSA key",
    );
}

#[test]
fn client_key_that_does_not_match_the_certificate() {
    let c = Certs::new("tls-client-key");
    let (cert, _) = c.self_signed("client", RSA2048, &[]);
    let (_, other_key) = c.self_signed("other", RSA2048, &[]);
    setup_fails(
        &["--client-cert", &cert, "--client-key", &other_key],
        "--client-key does not match --client-cert",
    );
}

#[test]
fn unusable_tls_files_say_what_is_wrong() {
    let c = Certs::new("tls-files");
    let (cert, key) = c.self_signed("good", RSA2048, &[]);
    c.openssl(&[
        "pkey", "-in", "good.key", "-out", "enc.key", "-aes256", "-passout", "pass:x",
    ]);
    c.openssl(&[
        "x509", "-in", "good.pem", "-outform", "der", "-out", "good.der",
    ]);
    c.openssl(&[
        "genpkey",
        "-algorithm",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-521",
        "-out",
        "p521.key",
    ]);
    std::fs::write(c.dir.join("empty.pem"), "").unwrap();
    std::fs::write(
        c.dir.join("garbage.pem"),
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(c.dir.join("cut.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
    std::fs::write(
        c.dir.join("notx509.pem"),
        "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let [missing, empty, der, garbage, cut, not_x509, encrypted, p521] = [
        "missing.pem",
        "empty.pem",
        "good.der",
        "garbage.pem",
        "cut.pem",
        "notx509.pem",
        "enc.key",
        "p521.key",
    ]
    .map(|f| c.path(f));
    let cases: [(&[&str], &str); 11] = [
        (&["--ca-file", &missing], "No such file or directory"),
        (&["--ca-file", &empty], "the file is empty"),
        (&["--ca-file", &der], "looks like binary DER"),
        (
            &["--ca-file", &key],
            "only a private key (is this the key file?)",
        ),
        (&["--ca-file", &garbage], "not valid base64"),
        (&["--ca-file", &cut], "has no END line"),
        (
            &["--ca-file", &not_x509],
            "certificate 1 is not a valid X.509 certificate",
        ),
        (
            &["--client-cert", &cert, "--client-key", &encrypted],
            "the key is encrypted",
        ),
        (
            &["--client-cert", &cert, "--client-key", &cert],
            "only a certificate (is this the certificate file?)",
        ),
        (
            &["--client-cert", &key, "--client-key", &key],
            "only a private key",
        ),
        (
            &["--client-cert", &cert, "--client-key", &p521],
            "unsupported key type",
        ),
    ];
    for (args, wanted) in cases {
        let line = setup_fails(args, wanted);
        assert!(
            args.iter().any(|a| a.starts_with('/') && line.contains(a)),
            "the line names no file: {line}"
        );
    }
}
