//! Mutational fuzzing of the real binary (the parsers' properties are unit tests in src/fuzz/):
//! - a hostile HTTP server on loopback answers each probe with a mutation of a response from
//!   tests/corpus/http/, and `ward health` must still give its contract: exit 0 or 1, at most
//!   one line, no panic, no death by signal, an end within its deadline;
//! - random command lines and environments for health, wait and init, run in an empty
//!   network namespace (nothing can leave it, not even a DNS query), must end in a documented
//!   exit code with no panic.
//!
//! Deterministic (a fixed seed); `WARD_FUZZ_CASES` and `WARD_FUZZ_SEED` run a longer or
//! another campaign. A failing case is printed, escaped, ready to be added to the corpus.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::mutate::{self, Rng, escape, mutate};
use crate::util::*;

const T: Duration = Duration::from_secs(20);

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/http");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// No panic, no death by signal.
fn no_crash(out: &Output, what: &str) {
    use std::os::unix::process::ExitStatusExt;
    let err = stderr(out);
    assert_eq!(out.status.signal(), None, "{what}: killed: {err}");
    assert!(
        !err.contains("panicked") && code(out) != 101 && code(out) != 134,
        "{what}: {err}"
    );
}

/// A server that answers every connection with the response in `next`, then closes.
fn hostile_server(next: Arc<Mutex<Vec<u8>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let response = next.lock().unwrap().clone();
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                match conn.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let _ = conn.write_all(&response);
        }
    });
    port
}

#[test]
fn hostile_http_responses_never_break_the_contract() {
    let corpus = corpus();
    assert!(corpus.len() >= 5, "tests/corpus/http is missing");
    let others: Vec<&[u8]> = corpus.iter().map(Vec::as_slice).collect();
    let next = Arc::new(Mutex::new(Vec::new()));
    let port = hostile_server(next.clone());
    let url = format!("http://127.0.0.1:{port}/");
    let mut rng = Rng::new(mutate::seed());
    let n = mutate::cases(300);
    for i in 0..corpus.len() + n {
        let case = match corpus.get(i) {
            Some(seed) => seed.clone(),
            None => {
                let base = *rng.pick(&others);
                mutate(&mut rng, base, &others)
            }
        };
        *next.lock().unwrap() = case.clone();
        let mut args = vec!["health", "-t", "2s"];
        if rng.chance(2) {
            args.extend(["--expect-body", "ready"]);
        }
        args.push(&url);
        let out = output_within(ward_cmd(&args), T);
        let what = format!("response \"{}\"", escape(&case));
        no_crash(&out, &what);
        assert!(matches!(code(&out), 0 | 1), "{what}: exit {}", code(&out));
        assert!(
            stderr(&out).lines().count() <= 1,
            "{what}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{what}");
    }
}

/// Words the command lines are made of: every option of the three applets, values good and
/// bad, targets that need no network (loopback, closed ports, Unix paths).
const WORDS: &[&str] = &[
    "-t",
    "--timeout",
    "-v",
    "--any",
    "--status",
    "200-299",
    "2xx",
    "-H",
    "X-A: b",
    "--method",
    "HEAD",
    "--expect-body",
    "ok",
    "--follow-redirects",
    "-u",
    "a:b",
    "--ca-file",
    "/nonexistent",
    "-k",
    "--insecure",
    "--client-cert",
    "--client-key",
    "--tls-server-name",
    "x",
    "--unix-socket",
    "/nonexistent.sock",
    "--connect-timeout",
    "1s",
    "500ms",
    "0",
    "-1",
    "99999999999h",
    "http://127.0.0.1:1/",
    "https://127.0.0.1:1/",
    "tcp://127.0.0.1:1",
    "tcp://[::1]:1",
    "unix:///nonexistent.sock",
    "file:///nonexistent",
    "http://u:p@127.0.0.1:1/",
    "-q",
    "-i",
    "--interval",
    "--attempt-timeout",
    "--grace",
    "--kill-after",
    "-r",
    "TERM:QUIT",
    "-p",
    "HUP",
    "-e",
    "3",
    "-g",
    "-w",
    "-s",
    "--wait",
    "--wait-timeout",
    "--",
    "true",
    "/no/such/program",
    "-h",
    "--help",
    "--version",
    "",
];

/// Options that set how long a run may take: left out, so the default or the environment's
/// short one applies.
fn sets_a_duration(arg: &str) -> bool {
    ["-t", "--t", "-i", "--i", "--a", "--g", "--k", "--w", "--c"]
        .iter()
        .any(|p| arg.starts_with(p))
}

#[test]
fn random_command_lines_end_in_documented_codes() {
    require(
        "an empty network namespace (unshare --net, as root)",
        Command::new("unshare")
            .args(["--net", "true"])
            .status()
            .is_ok_and(|s| s.success()),
    );
    let words: Vec<&[u8]> = WORDS.iter().map(|w| w.as_bytes()).collect();
    let mut rng = Rng::new(mutate::seed() ^ 0xa5);
    let n = mutate::cases(150);
    let mut ran = 0;
    while ran < n {
        let applet = *rng.pick(&["health", "wait", "init"]);
        let mut args: Vec<String> = Vec::new();
        for _ in 0..1 + rng.below(6) {
            let word = rng.pick(&words);
            let word = if rng.chance(3) {
                mutate(&mut rng, word, &words)
            } else {
                word.to_vec()
            };
            // argv cannot hold a NUL byte.
            args.push(String::from_utf8_lossy(&word).replace('\0', ""));
        }
        if args.iter().any(|a| sets_a_duration(a)) {
            continue;
        }
        // init runs only programs that cannot do anything.
        if applet == "init" {
            args.retain(|a| a.starts_with('-') || a.contains("://") || a.is_empty());
            args.extend(["--".into(), "true".into()]);
        }
        ran += 1;
        let mut cmd = Command::new("unshare");
        cmd.args(["--net", "--"])
            .arg(ward())
            .arg(applet)
            .args(&args);
        default_signals(&mut cmd);
        for (k, _) in std::env::vars() {
            if k.starts_with("WARD_") || k.starts_with("WAIT_") || k.ends_with("_proxy") {
                cmd.env_remove(k);
            }
        }
        cmd.env("WARD_HEALTH_TIMEOUT", "2s")
            .env("WARD_WAIT_TIMEOUT", "2s")
            .env("WARD_INIT_WAIT_TIMEOUT", "2s");
        let out = output_within(cmd, T);
        let what = format!("ward {applet} {args:?}");
        no_crash(&out, &what);
        let allowed: &[i32] = match applet {
            "health" => &[0, 1],
            "wait" => &[0, 1, 2, 126, 127],
            _ => &[0, 1, 2, 126, 127],
        };
        assert!(
            allowed.contains(&code(&out)),
            "{what}: exit {}: {}",
            code(&out),
            stderr(&out)
        );
    }
}
