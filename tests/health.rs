//! `ward health` against real servers on loopback, well-behaved and hostile. Every outcome is
//! exit 0 or 1, never anything else; failures are one line per target, starting with it.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::servers::{self, Pki, Reply};
use crate::util::*;

const T: Duration = Duration::from_secs(30);

const PROXY_VARS: [&str; 8] = [
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
];

/// `ward health ARGS...` with a clean environment (no proxies, no WARD_HEALTH_*).
fn health_cmd(args: &[&str]) -> Command {
    let mut cmd = ward_cmd(std::iter::once("health").chain(args.iter().copied()));
    for v in PROXY_VARS {
        cmd.env_remove(v);
    }
    for (k, _) in std::env::vars() {
        if k.starts_with("WARD_HEALTH_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn health(args: &[&str]) -> Output {
    output_within(health_cmd(args), T)
}

fn health_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = health_cmd(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    output_within(cmd, T)
}

/// Asserts the contract: exit 0 or 1, and on 1 exactly one stderr line per failing target,
/// each starting with the target and under 300 bytes. Returns the stderr text.
fn expect(out: &Output, code_wanted: i32, failing: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(code(out), code_wanted, "stderr: {err}");
    assert!(out.stdout.is_empty(), "stdout: {}", stdout(out));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), failing.len(), "{err}");
    for (line, target) in lines.iter().zip(failing) {
        assert!(
            line.starts_with(&format!("{target}: ")),
            "{line:?} should start with {target}"
        );
        assert!(line.len() < 300, "{line:?}");
    }
    err
}

fn healthy(url: &str, args: &[&str]) {
    let mut all = args.to_vec();
    all.push(url);
    let out = health(&all);
    expect(&out, 0, &[]);
}

fn unhealthy(url: &str, args: &[&str], says: &str) -> String {
    let mut all = args.to_vec();
    all.push(url);
    unhealthy_out(&health(&all), url, says)
}

fn unhealthy_out(out: &Output, url: &str, says: &str) -> String {
    let shown = url.split('?').next().unwrap();
    let err = expect(out, 1, &[shown]);
    assert!(err.contains(says), "expected {says:?} in {err:?}");
    err
}

#[test]
fn http_statuses() {
    for (code, ok) in [
        (200, true),
        (204, true),
        (301, true),
        (404, false),
        (500, false),
        (503, false),
    ] {
        let s = servers::http("127.0.0.1:0", Reply::Status(code, String::new()));
        if ok {
            healthy(&s.url("/healthz"), &[]);
        } else {
            unhealthy(&s.url("/healthz"), &[], &format!("HTTP {code}"));
        }
    }
    let s = servers::http("127.0.0.1:0", Reply::Status(204, String::new()));
    unhealthy(&s.url("/"), &["--status", "200"], "HTTP 204");
    healthy(&s.url("/"), &["--status", "200,204"]);
    healthy(&s.url("/"), &["--status", "2xx"]);
    let s = servers::http("127.0.0.1:0", Reply::Status(503, String::new()));
    healthy(&s.url("/"), &["--status", "500-599"]);
}

#[test]
fn redirects_are_judged_unless_followed() {
    let target = servers::http("127.0.0.1:0", Reply::Status(200, "fine".into()));
    let redirect = servers::http(
        "127.0.0.1:0",
        Reply::WithHeaders(
            301,
            vec![format!("Location: {}", target.url("/ok"))],
            String::new(),
        ),
    );
    healthy(&redirect.url("/"), &[]);
    unhealthy(
        &redirect.url("/"),
        &["--status", "200"],
        "HTTP 301 (redirect not followed",
    );
    healthy(
        &redirect.url("/"),
        &["--status", "200", "--follow-redirects"],
    );
    healthy(
        &redirect.url("/"),
        &["--follow-redirects", "--expect-body", "fine"],
    );
    assert_eq!(target.requests().len(), 2);
    assert!(target.requests()[0].starts_with("GET /ok HTTP/1.1\r\n"));
}

#[test]
fn request_shape() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    healthy(&s.url("/p?q=1"), &["-H", "X-Probe: yes", "-X", "HEAD"]);
    let req = &s.requests()[0];
    assert!(req.starts_with("HEAD /p?q=1 HTTP/1.1\r\n"), "{req}");
    assert!(req.contains(&format!("\r\nHost: {}\r\n", s.addr)), "{req}");
    assert!(
        req.contains(&format!(
            "\r\nUser-Agent: ward/{}\r\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{req}"
    );
    assert!(req.contains("\r\nX-Probe: yes\r\n"), "{req}");
    assert!(req.contains("\r\nConnection: close\r\n"), "{req}");
}

#[test]
fn expect_body() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, "status: ok".into()));
    healthy(&s.url("/"), &["--expect-body", "ok"]);
    unhealthy(
        &s.url("/"),
        &["--expect-body", "ready"],
        "body does not contain \"ready\"",
    );
    let c = servers::http(
        "127.0.0.1:0",
        Reply::Chunked(vec!["{\"sta".into(), "tus\":".into(), "\"UP\"}".into()]),
    );
    healthy(&c.url("/"), &["--expect-body", "\"status\":\"UP\""]);
    unhealthy(&c.url("/"), &["--expect-body", "DOWN"], "does not contain");
}

#[test]
fn https_certificates() {
    let dir = TempDir::new("pki");
    let pki = Pki::new(dir.path());
    let ca = pki.ca_pem();
    let ca = ca.to_str().unwrap();
    let ok = Reply::Status(200, "ok".into());

    let right = pki.leaf("right", &["127.0.0.1", "localhost"], false, false);
    let s = pki.https(&right, false, false, ok.clone());
    healthy(&s.https("/"), &["--ca-file", ca]);
    healthy(&s.https("/"), &["--ca-file", ca, "--expect-body", "ok"]);
    healthy(
        &format!("https://localhost:{}/", s.addr.port()),
        &["--ca-file", ca],
    );
    // The public roots do not know our CA.
    unhealthy(
        &s.https("/"),
        &[],
        "TLS: certificate signed by an unknown authority",
    );

    let tls12 = pki.https(&right, true, false, ok.clone());
    healthy(&tls12.https("/"), &["--ca-file", ca]);

    let wrong = pki.leaf("wrong", &["other.test"], false, false);
    let s = pki.https(&wrong, false, false, ok.clone());
    unhealthy(
        &s.https("/"),
        &["--ca-file", ca],
        "TLS: certificate not valid for name 127.0.0.1",
    );
    healthy(
        &s.https("/"),
        &["--ca-file", ca, "--tls-server-name", "other.test"],
    );

    let expired = pki.leaf("expired", &["127.0.0.1"], false, true);
    let s = pki.https(&expired, false, false, ok.clone());
    unhealthy(
        &s.https("/"),
        &["--ca-file", ca],
        "TLS: certificate expired",
    );

    let selfsigned = pki.leaf("self", &["127.0.0.1"], true, false);
    let s = pki.https(&selfsigned, false, false, ok.clone());
    unhealthy(
        &s.https("/"),
        &["--ca-file", ca],
        "TLS: certificate signed by an unknown authority",
    );
    healthy(&s.https("/"), &["--insecure"]);
    healthy(&s.https("/"), &["-k"]);

    // Plain HTTP on the other end.
    let plain = servers::http(
        "127.0.0.1:0",
        Reply::Greet(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n".to_vec()),
    );
    unhealthy(
        &format!("https://{}/", plain.addr),
        &["-k"],
        "TLS: not a TLS server",
    );
}

#[test]
fn https_client_certificates() {
    let dir = TempDir::new("mtls");
    let pki = Pki::new(dir.path());
    let ca = pki.ca_pem();
    let ca = ca.to_str().unwrap();
    let server = pki.leaf("server", &["127.0.0.1"], false, false);
    let client = pki.leaf("client", &["client.test"], false, false);
    let (cert, key) = (
        client.cert_pem.to_str().unwrap(),
        client.key_pem.to_str().unwrap(),
    );
    for tls12 in [false, true] {
        let s = pki.https(&server, tls12, true, Reply::Status(200, String::new()));
        let err = unhealthy(&s.https("/"), &["--ca-file", ca], "TLS:");
        assert!(
            err.contains("client certificate") || err.contains("closed"),
            "{err}"
        );
        healthy(
            &s.https("/"),
            &["--ca-file", ca, "--client-cert", cert, "--client-key", key],
        );
    }
}

#[test]
fn tcp_and_unix_targets() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    healthy(&format!("tcp://{}", s.addr), &[]);
    let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
    unhealthy(&dead, &[], "connection refused");

    let dir = TempDir::new("unix");
    let sock = dir.join("app.sock");
    let log = servers::unix(&sock, Reply::Status(200, "ok".into()));
    let sock_s = sock.to_str().unwrap();
    healthy(
        "http://localhost/healthz",
        &["--unix-socket", sock_s, "--expect-body", "ok"],
    );
    assert!(log.lock().unwrap()[0].starts_with("GET /healthz HTTP/1.1\r\nHost: localhost\r\n"));
    healthy(&format!("unix://{sock_s}"), &[]);
    let missing = dir.join("missing.sock");
    unhealthy(
        &format!("unix://{}", missing.display()),
        &[],
        "no such socket",
    );
    unhealthy(
        "http://localhost/",
        &["--unix-socket", missing.to_str().unwrap()],
        "no such socket",
    );
}

#[test]
fn ipv6_and_localhost_on_one_family() {
    require("IPv6 loopback (::1)", servers::ipv6_available());
    let v6 = servers::http("[::1]:0", Reply::Status(200, String::new()));
    healthy(&format!("http://[::1]:{}/", v6.addr.port()), &[]);
    healthy(&format!("tcp://[::1]:{}", v6.addr.port()), &[]);
    // `localhost` served on one family only: every address is tried.
    healthy(&format!("http://localhost:{}/", v6.addr.port()), &[]);
    let v4 = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    healthy(&format!("http://localhost:{}/", v4.addr.port()), &[]);
    let dead = servers::dead_port();
    let err = unhealthy(
        &format!("http://localhost:{dead}/"),
        &[],
        "connection refused",
    );
    assert!(err.contains("[::1]") && err.contains("127.0.0.1"), "{err}");
}

#[test]
fn proxies_are_never_used_for_loopback() {
    let dead = format!("http://127.0.0.1:{}", servers::dead_port());
    let env: Vec<(&str, &str)> = [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ]
    .iter()
    .map(|v| (*v, dead.as_str()))
    .collect();
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let out = health_env(&[&s.url("/")], &env);
    expect(&out, 0, &[]);
    let out = health_env(&[&format!("http://localhost:{}/", s.addr.port())], &env);
    expect(&out, 0, &[]);
    let dir = TempDir::new("proxy-tls");
    let pki = Pki::new(dir.path());
    let leaf = pki.leaf("l", &["127.0.0.1"], false, false);
    let tls = pki.https(&leaf, false, false, Reply::Status(200, String::new()));
    let out = health_env(
        &["--ca-file", pki.ca_pem().to_str().unwrap(), &tls.https("/")],
        &env,
    );
    expect(&out, 0, &[]);
}

#[test]
fn other_hosts_go_through_the_proxy() {
    // The proxy is a recording server on loopback; the target name is never resolved or
    // contacted (the proxy answers for it).
    let proxy = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let proxy_url = format!("http://user:pw@{}", proxy.addr);
    let out = health_env(
        &["http://ward-test.invalid:8080/health"],
        &[("http_proxy", &proxy_url)],
    );
    expect(&out, 0, &[]);
    let req = &proxy.requests()[0];
    assert!(
        req.starts_with("GET http://ward-test.invalid:8080/health HTTP/1.1\r\n"),
        "{req}"
    );
    assert!(
        req.contains("\r\nProxy-Authorization: Basic dXNlcjpwdw==\r\n"),
        "{req}"
    );
    // A failing proxy: the message names the proxy, never its credentials.
    let bad = servers::http("127.0.0.1:0", Reply::Status(502, String::new()));
    let out = health_env(
        &["-v", "http://ward-test.invalid/"],
        &[("HTTP_PROXY", &format!("http://user:pw@{}", bad.addr))],
    );
    let err = expect(&out, 1, &["http://ward-test.invalid/"]);
    assert!(err.contains("HTTP 502") && !err.contains("pw"), "{err}");
    let dead = format!("http://127.0.0.1:{}", servers::dead_port());
    let out = health_env(&["http://ward-test.invalid/"], &[("ALL_PROXY", &dead)]);
    let err = expect(&out, 1, &["http://ward-test.invalid/"]);
    assert!(
        err.contains("proxy 127.0.0.1:") && err.contains("connection refused"),
        "{err}"
    );
}

#[test]
fn hostile_servers_end_at_the_deadline() {
    let silent = servers::http("127.0.0.1:0", Reply::Silent);
    let started = std::time::Instant::now();
    unhealthy(
        &silent.url("/"),
        &["--timeout", "1s"],
        "timed out after 1s while waiting for the response",
    );
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    let dribble = servers::http("127.0.0.1:0", Reply::Dribble);
    unhealthy(
        &dribble.url("/"),
        &["-t", "2s"],
        "timed out after 2s while reading the response headers",
    );
    let garbage = servers::http(
        "127.0.0.1:0",
        Reply::Raw(b"SSH-2.0-OpenSSH_9.2p1\r\n".to_vec()),
    );
    unhealthy(&garbage.url("/"), &[], "not an HTTP response");
    let ssh = servers::http(
        "127.0.0.1:0",
        Reply::Greet(b"SSH-2.0-OpenSSH_9.2p1\r\n".to_vec()),
    );
    unhealthy(&ssh.url("/"), &[], "not an HTTP response");
    let closed = servers::http("127.0.0.1:0", Reply::Raw(Vec::new()));
    unhealthy(
        &closed.url("/"),
        &[],
        "closed the connection without a response",
    );
}

#[test]
fn endless_bodies_keep_memory_bounded() {
    for chunked in [false, true] {
        let s = servers::http("127.0.0.1:0", Reply::Endless(chunked));
        // Without --expect-body the body is not read at all.
        healthy(&s.url("/"), &[]);
        // With it, at most 64 KiB is read: under a 64 MiB address-space limit (about twice what
        // ward maps), reading the endless stream into memory would fail long before the 5 s
        // deadline, and ward would abort instead of exiting 1.
        let mut cmd = health_cmd(&["--expect-body", "needle", &s.url("/")]);
        // SAFETY: setrlimit between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                let limit = libc::rlimit {
                    rlim_cur: 64 << 20,
                    rlim_max: 64 << 20,
                };
                libc::setrlimit(libc::RLIMIT_AS, &limit);
                Ok(())
            });
        }
        let out = output_within(cmd, T);
        let err = expect(&out, 1, &[&s.url("/")]);
        assert!(
            err.contains("does not contain \"needle\" (first 64 KiB checked)"),
            "{err}"
        );
    }
}

#[test]
fn tls_files_that_are_not_regular_files_fail_fast() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("ca.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path we own.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    for ca in [fifo.to_str().unwrap(), "/dev/zero"] {
        let out = health(&["-t", "1s", "--ca-file", ca, "https://127.0.0.1:1/"]);
        assert_eq!(code(&out), 1, "{ca}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn redirect_from_http_to_https() {
    let dir = TempDir::new("redir-tls");
    let pki = Pki::new(dir.path());
    let leaf = pki.leaf("l", &["127.0.0.1"], false, false);
    let tls = pki.https(&leaf, false, false, Reply::Status(200, "secure".into()));
    let plain = servers::http(
        "127.0.0.1:0",
        Reply::WithHeaders(
            302,
            vec![format!("Location: {}", tls.https("/"))],
            String::new(),
        ),
    );
    let ca = pki.ca_pem();
    healthy(
        &plain.url("/"),
        &[
            "--follow-redirects",
            "--status",
            "200",
            "--ca-file",
            ca.to_str().unwrap(),
            "--expect-body",
            "secure",
        ],
    );
}

#[test]
fn several_targets_and_any() {
    let up = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let down = servers::http("127.0.0.1:0", Reply::Status(503, String::new()));
    let (u, d) = (up.url("/"), down.url("/"));
    let tcp = format!("tcp://{}", up.addr);
    let out = health(&[&u, &tcp]);
    expect(&out, 0, &[]);
    let out = health(&[&u, &d, &tcp]);
    expect(&out, 1, &[&d]);
    let out = health(&["--any", &u, &d]);
    expect(&out, 0, &[]);
    // A failure that arrives first is not reported when another target is healthy.
    let dead_first = format!("tcp://127.0.0.1:{}", servers::dead_port());
    for _ in 0..5 {
        let out = health(&["--any", &dead_first, &d, &u]);
        expect(&out, 0, &[]);
    }
    let dead = format!("http://127.0.0.1:{}/", servers::dead_port());
    let out = health(&["--any", &d, &dead]);
    expect(&out, 1, &[&d, &dead]);
    // Verbose: one line per target on success too, with its status and time.
    let out = health(&["-v", &u, &tcp]);
    assert_eq!(code(&out), 0);
    let err = stderr(&out);
    assert!(
        err.lines().count() == 2 && err.contains(&format!("{u}: HTTP 200 in ")),
        "{err}"
    );
}

#[test]
fn credentials_never_appear_in_output() {
    let s = servers::http("127.0.0.1:0", Reply::Status(503, String::new()));
    let with_user = format!("http://user:secret@{}/x?token=hunter2", s.addr);
    let out = health(&["-v", "-H", "Authorization: Bearer tok3n", &with_user]);
    let err = expect(&out, 1, &[&format!("http://{}/x?…", s.addr)]);
    for secret in ["secret", "user:", "tok3n", "hunter2"] {
        assert!(!err.contains(secret), "{secret} leaked: {err}");
    }
    let out = health(&["-v", "--user", "alice:s3cr3t", &s.url("/")]);
    assert!(!stderr(&out).contains("s3cr3t"));
    // ... while the server did get them.
    let reqs = s.requests();
    assert!(
        reqs[0].contains("\r\nAuthorization: Bearer tok3n\r\n"),
        "{}",
        reqs[0]
    );
    assert!(
        reqs[1].contains("\r\nAuthorization: Basic YWxpY2U6czNjcjN0\r\n"),
        "{}",
        reqs[1]
    );
    let out = health(&[&with_user]);
    expect(&out, 1, &[&format!("http://{}/x?…", s.addr)]);
    assert!(s.requests()[2].contains("\r\nAuthorization: Basic dXNlcjpzZWNyZXQ=\r\n"));
    // Usage errors do not echo credentials either.
    for bad in [
        "htp://admin:s3cret@127.0.0.1/",
        "tcp://admin:s3cret@127.0.0.1:5432",
        "http://admin:pa/ss@h:1/",
    ] {
        let out = health(&[bad]);
        assert_eq!(code(&out), 1);
        let err = stderr(&out);
        assert!(!err.contains("s3cret") && !err.contains("admin"), "{err}");
    }
    // A header with a line break is refused without echoing its value.
    let out = health(&["-H", "X-Token: abc\ndef", &s.url("/")]);
    assert_eq!(code(&out), 1);
    assert!(!stderr(&out).contains("abc"), "{}", stderr(&out));
}

#[test]
fn every_usage_error_exits_1() {
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["ftp://127.0.0.1/"],
        vec!["127.0.0.1:80"],
        vec!["tcp://127.0.0.1"],
        vec!["http://[::1/"],
        vec!["http://127.0.0.1:99999/"],
        vec!["unix://relative.sock"],
        vec!["--timeout", "soon", "http://127.0.0.1/"],
        vec!["--timeout", "0", "http://127.0.0.1/"],
        vec!["--status", "abc", "http://127.0.0.1/"],
        vec!["-H", "no colon", "http://127.0.0.1/"],
        vec!["-X", "GE T", "http://127.0.0.1/"],
        vec!["--user", "nopassword", "http://127.0.0.1/"],
        vec!["--bogus", "http://127.0.0.1/"],
        vec!["--client-cert", "/x.pem", "https://127.0.0.1/"],
        vec!["--ca-file", "/nonexistent.pem", "https://127.0.0.1/"],
        vec!["--any=yes", "http://127.0.0.1/"],
    ];
    for args in cases {
        let out = health(&args);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("ward health["), "{args:?}: {err}");
    }
    let out = health_env(&["http://127.0.0.1/"], &[("WARD_HEALTH_TIMEOUT", "later")]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("WARD_HEALTH_TIMEOUT"));
}

#[test]
fn targets_and_options_from_the_environment() {
    let up = servers::http("127.0.0.1:0", Reply::Status(200, "ok".into()));
    let down = servers::http("127.0.0.1:0", Reply::Status(204, String::new()));
    let targets = format!("{}, tcp://{}", up.url("/"), up.addr);
    expect(
        &health_env(&[], &[("WARD_HEALTH_TARGETS", &targets)]),
        0,
        &[],
    );
    let out = health_env(
        &[],
        &[
            ("WARD_HEALTH_TARGETS", &down.url("/")),
            ("WARD_HEALTH_STATUS", "200"),
        ],
    );
    expect(&out, 1, &[&down.url("/")]);
    let out = health_env(
        &[],
        &[
            ("WARD_HEALTH_TARGETS", &up.url("/")),
            ("WARD_HEALTH_EXPECT_BODY", "nope"),
            ("WARD_HEALTH_HEADER", "X-One: 1\nX-Two: a, b"),
        ],
    );
    expect(&out, 1, &[&up.url("/")]);
    assert!(
        up.requests()[1].contains("X-Two: a, b\r\n"),
        "{}",
        up.requests()[1]
    );
    // The command line wins over the environment.
    let out = health_env(
        &[&up.url("/")],
        &[
            ("WARD_HEALTH_TARGETS", &down.url("/")),
            ("WARD_HEALTH_STATUS", "201"),
        ],
    );
    expect(&out, 1, &[&up.url("/")]);
    expect(
        &health_env(
            &["--status", "200", &up.url("/")],
            &[("WARD_HEALTH_STATUS", "201")],
        ),
        0,
        &[],
    );
    let out = health_env(&[], &[("WARD_HEALTH_TARGETS", " , ")]);
    assert_eq!(code(&out), 1);
}

#[test]
fn sigterm_ends_the_check_at_once_and_nothing_is_left() {
    let silent = servers::http("127.0.0.1:0", Reply::Silent);
    let mut cmd = health_cmd(&["--timeout", "60s", &silent.url("/")]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let _guard = KillOnDrop(vec![pid]);
    assert!(
        wait_until(T, || silent.requests().len() == 1),
        "the request never arrived"
    );
    assert!(children(pid).is_empty(), "ward health started a process");
    kill(pid, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(5));
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("SIGTERM"), "{}", stderr(&out));
}

/// One target is checked on the main thread and the signal-watching thread holds the deadline:
/// stopped until both are past it and then continued, the two race to end the check. Whichever
/// wins, there is one line and exit 1, every time.
#[test]
fn one_target_past_its_deadline_gives_one_line() {
    let silent = servers::http("127.0.0.1:0", Reply::Silent);
    for round in 0..4 {
        let mut cmd = health_cmd(&["--timeout", "1s", &silent.url("/")]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        let _guard = KillOnDrop(vec![pid]);
        assert!(
            wait_until(T, || silent.requests().len() == round + 1),
            "the request never arrived"
        );
        kill(pid, libc::SIGSTOP);
        // Under a heavy load it may be over already; the output is checked all the same.
        wait_until(T, || matches!(state(pid), Some('T' | 'Z') | None));
        std::thread::sleep(Duration::from_millis(1300));
        kill(pid, libc::SIGCONT);
        let out = wait_output(child, T);
        unhealthy_out(&out, &silent.url("/"), "timed out after 1s while");
    }
}

/// The watcher alone ends a check stuck on the main thread: ptrace holds the main thread (and
/// only it) in a stop, so its own socket timeouts cannot end the check; the signal-watching
/// thread does, at the deadline, with the line a check still running then gets.
#[test]
fn the_watcher_ends_a_stuck_check_at_its_deadline() {
    use std::io::Read;
    let silent = servers::http("127.0.0.1:0", Reply::Silent);
    let mut cmd = health_cmd(&["--timeout", "1s", &silent.url("/")]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let guard = KillOnDrop(vec![pid as u32]);
    assert!(
        wait_until(T, || silent.requests().len() == 1),
        "the request never arrived"
    );
    // SAFETY: ptrace requests on our own child's main thread, with no addresses or data.
    unsafe {
        for (request, name) in [
            (libc::PTRACE_SEIZE, "PTRACE_SEIZE"),
            (libc::PTRACE_INTERRUPT, "PTRACE_INTERRUPT"),
        ] {
            let r = libc::ptrace(request, pid, 0, 0);
            assert_eq!(r, 0, "{name}: {}", std::io::Error::last_os_error());
        }
    }
    // The stop comes first (the main thread stays in it), then the end of the process.
    let started = std::time::Instant::now();
    let mut status = 0;
    loop {
        // SAFETY: `status` is a live c_int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) };
        assert!(
            r == 0 || r == pid,
            "waitpid: {}",
            std::io::Error::last_os_error()
        );
        if r == pid && (libc::WIFEXITED(status) || libc::WIFSIGNALED(status)) {
            break;
        }
        assert!(started.elapsed() < T, "ward did not end at its deadline");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Reaped above (so this finds nothing to wait for): nothing left to kill.
    let _ = child.wait();
    std::mem::forget(guard);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1,
        "status {status:#x}: {err}"
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    let expected = format!("{}: timed out after 1s while ", silent.url("/"));
    assert!(lines[0].starts_with(&expected), "{err}");
}

#[test]
fn argv0_names() {
    let dir = TempDir::new("health-names");
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    for name in ["health", "healthcheck"] {
        let mut cmd = Command::new(ward_as(&dir, name));
        cmd.arg(s.url("/"));
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 0, "{name}: {}", stderr(&out));
    }
}

/// The build without the `tls` feature (WARD_NOTLS_BIN, or built by the test itself):
/// http works, https is a clear one-line failure, exit 1.
#[test]
fn a_build_without_tls_says_so_for_https() {
    let bin = notls_ward();
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let run = |url: &str| {
        let mut cmd = Command::new(&bin);
        cmd.args(["health", url]);
        output_within(cmd, T)
    };
    expect(&run(&s.url("/")), 0, &[]);
    let https = format!("https://{}/", s.addr);
    let err = expect(&run(&https), 1, &[&https]);
    assert!(err.contains("built without TLS"), "{err}");
}
