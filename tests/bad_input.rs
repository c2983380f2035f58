//! Bad input never wins: one test per class of defect a fuzz campaign found (issue 10), each
//! reproducing the original case. Every one of them failed before the fix.

use std::io::Read;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::servers::{self, Reply};
use crate::util::*;

const T: Duration = Duration::from_secs(30);

/// Variables that would change what these tests see.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("WAIT_")
            || k.starts_with("WARD_")
            || k.to_ascii_lowercase().ends_with("_proxy")
        {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = clean(ward_cmd(args));
    cmd.envs(env.iter().copied());
    output_within(cmd, T)
}

fn all_output(out: &Output) -> String {
    format!("{}{}", stdout(out), stderr(out))
}

/// No panic, no abort, no death by signal: the documented code and one line.
fn usage_error(out: &Output, want: i32, what: &str) -> String {
    let err = stderr(out);
    assert_eq!(code(out), want, "{what}: {err}");
    assert_eq!(err.lines().count(), 1, "{what}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("overflow"),
        "{what}: {err}"
    );
    err
}

/// Class 1: every duration is bounded; the docker-compose-wait case that aborted with
/// "overflow when adding duration to instant" is a usage error now.
#[test]
fn durations_are_bounded_everywhere() {
    let dir = TempDir::new("bounded");
    let dead = format!("127.0.0.1:{}", servers::dead_port());
    for var in [
        "WAIT_TIMEOUT",
        "WAIT_HOSTS_TIMEOUT",
        "WAIT_BEFORE",
        "WAIT_AFTER",
        "WAIT_SLEEP_INTERVAL",
        "WAIT_HOST_CONNECT_TIMEOUT",
    ] {
        for value in ["18446744073709551615", "99999999999", "3155760001"] {
            let mut cmd = clean(Command::new(ward_as(&dir, "wait")));
            cmd.env("WAIT_HOSTS", &dead).env(var, value);
            default_signals(&mut cmd);
            let out = output_within(cmd, T);
            let err = usage_error(&out, 2, &format!("{var}={value}"));
            assert!(err.contains(var) && err.contains("too long"), "{err}");
        }
    }
    let huge = "99999999999h";
    for (args, want) in [
        (&["health", "-t", huge, "tcp://127.0.0.1:1"][..], 1),
        (&["wait", "-t", huge, "tcp://127.0.0.1:1"], 2),
        (
            &["wait", "-i", "18446744073709551615", "tcp://127.0.0.1:1"],
            2,
        ),
        (&["init", "--grace", huge, "true"], 2),
        (&["init", "--kill-after", "1e30", "true"], 2),
        (&["init", "--wait-timeout", huge, "true"], 2),
    ] {
        usage_error(&run(args, &[]), want, &format!("{args:?}"));
    }
    // The longest accepted duration still works (no overflow on now + 100 years).
    let out = run(&["init", "--grace", "876000h", "--", "true"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Environment variables for one case.
type Env = Vec<(String, String)>;

/// Class 2: nothing that might be a credential is ever printed, however the password is
/// spelled and wherever the URL was given.
#[test]
fn credentials_are_never_printed() {
    let dead = servers::dead_port();
    let dir = TempDir::new("secrets");
    let mut cases: Vec<(Vec<String>, Env)> = Vec::new();
    let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let env = |a: &[(&str, &str)]| {
        a.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    // Passwords with #, ?, ://, / and spaces in targets that fail to parse.
    for url in [
        "http://admin:pw#S3CRET@127.0.0.1:99999/",
        "http://admin:S3CRET?x@127.0.0.1:0/",
        "http://admin:a://S3CRET@127.0.0.1:99999/",
        "http://admin:a/S3CRET@[::1/",
        "tcp://admin:S3CRET#x@127.0.0.1:99999",
        "admin:S3CRET@127.0.0.1:80",
    ] {
        cases.push((args(&["health", url]), vec![]));
        cases.push((args(&["wait", "-t", "1s", url]), vec![]));
        cases.push((args(&["init", "--wait", url, "true"]), vec![]));
    }
    // A URL given by mistake as an option's value.
    let url = "http://admin:S3CRET@127.0.0.1/";
    for opt in ["-t", "--status", "--method", "--connect-timeout", "-H"] {
        cases.push((args(&["health", opt, url, "tcp://127.0.0.1:1"]), vec![]));
    }
    for opt in [
        "--grace",
        "--kill-after",
        "-r",
        "-e",
        "-p",
        "--wait-timeout",
    ] {
        cases.push((args(&["init", opt, url, "true"]), vec![]));
    }
    cases.push((args(&["wait", "-i", url, "tcp://127.0.0.1:1"]), vec![]));
    // Lists split inside a password (comma, space).
    for value in [
        "http://admin:S3CRET,x@127.0.0.1:1/",
        "http://admin:S3 CRET@127.0.0.1:1/",
        "tcp://admin:S3CRET,tcp://x@127.0.0.1:1",
        "http://admin:a,S3CRET,b@127.0.0.1:1/",
        "http://admin:a S3CRET b@127.0.0.1:1/",
    ] {
        cases.push((args(&["init", "true"]), env(&[("WARD_INIT_WAIT", value)])));
        cases.push((args(&["health"]), env(&[("WARD_HEALTH_TARGETS", value)])));
    }
    // Proxy variables with credentials: unsupported schemes, bad ports, a dead proxy. The
    // target is a name that is never resolved or contacted (it would go through the proxy).
    for proxy in [
        "socks5://admin:S3CRET@127.0.0.1:1".to_string(),
        "admin:S3CRET://x@127.0.0.1".to_string(),
        "http://admin:S3CRET@127.0.0.1:99999".to_string(),
        "http://admin:pw#S3CRET@127.0.0.1:99999".to_string(),
        format!("http://admin:S3CRET@127.0.0.1:{dead}"),
    ] {
        cases.push((
            args(&["health", "http://ward-test.invalid/"]),
            vec![("http_proxy".into(), proxy)],
        ));
    }
    for (argv, vars) in &cases {
        let mut cmd = clean(ward_cmd(argv));
        cmd.envs(vars.iter().map(|(k, v)| (k, v)));
        let out = output_within(cmd, T);
        let text = all_output(&out);
        assert!(code(&out) != 0, "{argv:?} {vars:?}: {text}");
        for secret in ["S3CRET", "S3 CRET", "pw#", "admin"] {
            assert!(
                !text.contains(secret),
                "{argv:?} {vars:?} printed it: {text}"
            );
        }
    }
    // docker-compose-wait's variables too.
    for hosts in [
        "admin:S3CRET@127.0.0.1:99999",
        "127.0.0.1:1,S3CRET,x@127.0.0.1:1",
    ] {
        let mut cmd = clean(Command::new(ward_as(&dir, "wait")));
        cmd.env("WAIT_HOSTS", hosts);
        default_signals(&mut cmd);
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 2, "{hosts}");
        assert!(!all_output(&out).contains("S3CRET"), "{}", all_output(&out));
    }
}

/// Class 3: a health check exits 0 or 1, whatever signal comes and whatever happened to its
/// stderr.
#[test]
fn health_is_never_killed_by_a_signal() {
    let silent = servers::http("127.0.0.1:0", Reply::Silent);
    let url = silent.url("/");
    for sig in [
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGVTALRM,
        libc::SIGPROF,
        libc::SIGIO,
        libc::SIGPWR,
        // Sent by another process: a fault signal, and the stop signals.
        libc::SIGSEGV,
        libc::SIGABRT,
        libc::SIGBUS,
        libc::SIGTRAP,
        libc::SIGSYS,
        libc::SIGTSTP,
        libc::SIGTTIN,
        libc::SIGTTOU,
        34,
        40,
        64,
    ] {
        let mut cmd = clean(ward_cmd(["health", "-t", "20s", &url]));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // Counted before the start: a request that arrives at once must not be in the count
        // the wait compares against.
        let before = silent.requests().len();
        let child = cmd.spawn().unwrap();
        let pid = child.id();
        // Let it get into the check (the request reaches the server).
        assert!(wait_until(Duration::from_secs(10), || silent
            .requests()
            .len()
            > before));
        kill(pid, sig);
        let out = wait_output(child, T);
        assert_eq!(code(&out), 1, "signal {sig}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("stopped by SIG"),
            "signal {sig}: {}",
            stderr(&out)
        );
    }

    // stderr a broken pipe: the line is lost, the verdict is not.
    let mut fds = [0; 2];
    // SAFETY: a plain pipe(2) into a two-int array.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: closing the read end we own makes every write to the pipe fail with EPIPE.
    unsafe { libc::close(fds[0]) };
    let mut cmd = clean(ward_cmd(["health", "-t", "2s", "tcp://127.0.0.1:1"]));
    let write_end = fds[1];
    // SAFETY: dup2 between fork and exec, async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            libc::dup2(write_end, 2);
            Ok(())
        });
    }
    cmd.stdin(Stdio::null()).stdout(Stdio::null());
    let status = cmd.status().unwrap();
    // SAFETY: closing our copy of the write end.
    unsafe { libc::close(write_end) };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), None, "killed by a signal: {status:?}");
    assert_eq!(status.code(), Some(1));
}

/// A loopback server that never answers and records every byte it receives.
fn recorder() -> (u16, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<u8>>> = Arc::default();
    let got2 = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let got = got2.clone();
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(15)));
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    got.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
    });
    (port, got)
}

/// Class 4: started with fd 2 closed, ward's failure line never goes into a socket.
#[test]
fn a_closed_stderr_never_sends_diagnostics_to_a_server() {
    let (port, got) = recorder();
    let url = format!("http://127.0.0.1:{port}/");
    for args in [
        vec!["health", "-t", "1s", url.as_str()],
        vec![
            "init",
            "--wait",
            url.as_str(),
            "--wait-timeout",
            "2s",
            "true",
        ],
    ] {
        let mut cmd = clean(ward_cmd(&args));
        // SAFETY: close(2) between fork and exec, async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                libc::close(2);
                Ok(())
            });
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null());
        let status = cmd.status().unwrap();
        assert_eq!(status.code(), Some(1), "{args:?}");
    }
    std::thread::sleep(Duration::from_millis(300));
    let text = String::from_utf8_lossy(&got.lock().unwrap()).into_owned();
    assert!(text.contains("GET / HTTP/1.1"), "{text}");
    for line in ["timed out", "ward ", "not ready"] {
        assert!(
            !text.contains(line),
            "a diagnostic reached the server: {text}"
        );
    }
}

/// Class 5: help with anything else on the line is a usage error, not a pass.
#[test]
fn help_next_to_a_target_is_a_usage_error() {
    let out = run(
        &[
            "health",
            "-h",
            "Authorization: Bearer x",
            "http://127.0.0.1:1/",
        ],
        &[],
    );
    let err = usage_error(&out, 1, "health -h");
    assert!(out.stdout.is_empty(), "printed help: {}", stdout(&out));
    assert!(err.contains("a request header is -H"), "{err}");
    assert!(!err.contains("Bearer"), "{err}");
}

/// Class 6: only http and https redirects are followed.
#[test]
fn redirects_to_other_schemes_are_not_followed() {
    for location in ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://h/x"] {
        let s = servers::http(
            "127.0.0.1:0",
            Reply::WithHeaders(302, vec![format!("Location: {location}")], String::new()),
        );
        let out = run(&["health", "--follow-redirects", &s.url("/")], &[]);
        let err = stderr(&out);
        assert_eq!(code(&out), 1, "{location}: {err}");
        assert!(
            err.contains("only http:// and https:// redirects are followed"),
            "{location}: {err}"
        );
        assert_eq!(
            s.requests().len(),
            1,
            "{location}: followed as a relative path"
        );
    }
}

/// Class 7: --expect-body is linear in the body's size, however it is chunked: 60 KB in
/// 1-byte chunks (7.5 s of CPU before, past the default 5 s deadline) is healthy.
#[test]
fn body_search_is_linear() {
    let mut pieces = vec!["x".to_string(); 60_000];
    pieces.push("ready".into());
    let s = servers::http("127.0.0.1:0", Reply::Chunked(pieces));
    let out = run(&["health", "--expect-body", "ready", &s.url("/")], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
}

/// Class 8: the number of targets is bounded, with a clear error, and the cap itself works.
#[test]
fn targets_are_bounded() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let many: Vec<String> = (0..64).map(|i| s.url(&format!("/{i}"))).collect();
    let mut args = vec!["health".to_string()];
    args.extend(many.iter().cloned());
    let out = output_within(clean(ward_cmd(&args)), T);
    assert_eq!(code(&out), 0, "64 targets: {}", stderr(&out));
    args.push(s.url("/65"));
    let out = output_within(clean(ward_cmd(&args)), T);
    let err = usage_error(&out, 1, "65 targets");
    assert!(err.contains("too many targets (65; at most 64)"), "{err}");
    args[0] = "wait".into();
    let out = output_within(clean(ward_cmd(&args)), T);
    usage_error(&out, 2, "wait, 65 targets");
}

/// Class 9: loopback is decided on the address, however it is written; none of these goes
/// through the (dead) proxy.
#[test]
fn loopback_in_every_spelling_bypasses_the_proxy() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let port = s.addr.port();
    let proxy = format!("http://127.0.0.1:{}", servers::dead_port());
    for host in [
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "0x7f.1",
    ] {
        let url = format!("http://{host}:{port}/");
        let out = run(
            &["health", &url],
            &[("http_proxy", &proxy), ("HTTP_PROXY", &proxy)],
        );
        assert_eq!(code(&out), 0, "{host}: {}", stderr(&out));
    }
    require("IPv6 sockets", servers::ipv6_available());
    let url = format!("http://[::ffff:127.0.0.1]:{port}/");
    let out = run(&["health", &url], &[("http_proxy", &proxy)]);
    assert_eq!(code(&out), 0, "mapped: {}", stderr(&out));
}

/// Class 12: tini's -w wording is tested in tini.rs; no raw TAB reaches an output line.
#[test]
fn no_raw_tab_in_output() {
    for args in [
        &["init", "--", "/no/such\tprogram"][..],
        &["health", "tcp://a\tb:1"],
        &["wait", "--frob\tx"],
    ] {
        let out = run(args, &[]);
        let err = stderr(&out);
        assert!(!err.is_empty(), "{args:?}");
        assert!(!err.contains('\t'), "{args:?}: {err:?}");
    }
}

/// A FIFO given as a file ward reads (a password, a CA) fails at once instead of blocking the
/// check past its deadline; non-UTF-8 in docker-compose-wait's variables is a usage error,
/// never a variable silently dropped.
#[test]
fn special_files_and_bytes_are_refused_at_once() {
    let dir = TempDir::new("fifo");
    let fifo = dir.join("fifo");
    let path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }, 0);
    let fifo = fifo.to_str().unwrap();
    let out = run(
        &["health", "--password-file", fifo, "redis://127.0.0.1:1"],
        &[],
    );
    let err = usage_error(&out, 1, "--password-file FIFO");
    assert!(err.contains("is not a regular file"), "{err}");
    let out = run(
        &["init", "--wait", "redis://127.0.0.1:1", "true"],
        &[("WARD_WAIT_PASSWORD_FILE", fifo)],
    );
    usage_error(&out, 2, "init --wait with a FIFO password file");

    use std::os::unix::ffi::OsStrExt;
    for var in ["WAIT_HOSTS", "WAIT_PATHS", "WAIT_COMMAND"] {
        let mut cmd = clean(Command::new(ward_as(&dir, "wait")));
        cmd.env(var, std::ffi::OsStr::from_bytes(b"127.0.0.1:1\xff"))
            .env("WAIT_TIMEOUT", "1");
        default_signals(&mut cmd);
        let out = output_within(cmd, T);
        let err = usage_error(&out, 2, var);
        assert!(err.contains("not valid UTF-8"), "{err}");
    }
}
