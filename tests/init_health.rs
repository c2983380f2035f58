//! `ward init --health`: the watchdog, with ward as PID 1 of a PID namespace and real HTTP
//! servers on loopback that turn unhealthy. (tests/docker.rs has the same on the Docker engine
//! with restart policies.)

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::servers::{self, Reply};
use crate::util::*;

const T: Duration = Duration::from_secs(60);

/// A loopback HTTP server whose /healthz is healthy while the flag file does not exist.
struct Flip {
    dir: TempDir,
    child: std::process::Child,
    url: String,
}

impl Flip {
    fn start() -> Flip {
        let dir = TempDir::new("flip");
        let port_file = dir.join("port");
        let script = "import http.server, socketserver, sys, os\n\
            flag = sys.argv[2]\n\
            class H(http.server.BaseHTTPRequestHandler):\n\
            \x20   def do_GET(self):\n\
            \x20       self.send_response(503 if os.path.exists(flag) else 200)\n\
            \x20       self.send_header('Content-Length', '0'); self.end_headers()\n\
            \x20   def log_message(self, *a): pass\n\
            s = socketserver.TCPServer(('127.0.0.1', 0), H)\n\
            open(sys.argv[1] + '.tmp', 'w').write(str(s.server_address[1]))\n\
            os.rename(sys.argv[1] + '.tmp', sys.argv[1])\n\
            s.serve_forever()\n";
        let child = Command::new(require_python())
            .arg("-c")
            .arg(script)
            .arg(&port_file)
            .arg(dir.join("sick"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        assert!(wait_until(T, || port_file.exists()));
        let port = std::fs::read_to_string(&port_file).unwrap();
        let url = format!("http://127.0.0.1:{}/healthz", port.trim());
        Flip { dir, child, url }
    }

    fn sicken(&self) {
        std::fs::write(self.dir.join("sick"), "").unwrap();
    }
}

impl Drop for Flip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn init_with(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = ward_pid1_cmd(std::iter::once("init").chain(args.iter().copied()));
    without_env(&mut cmd, &["WARD_"]);
    cmd.envs(env.iter().copied());
    cmd
}

#[test]
fn an_unhealthy_app_is_stopped_and_ward_exits_124() {
    require_pidns();
    let s = Flip::start();
    // The app exits 0 on SIGTERM; --remap-exit cannot turn the status into 0 either.
    let mut cmd = init_with(
        &[
            "--health",
            &s.url,
            "--health-interval",
            "100ms",
            "--health-retries",
            "3",
            "-e",
            "124",
            "-e",
            "0",
            "--",
            "sh",
            "-c",
            "trap 'echo app: got TERM; exit 0' TERM; sleep 100 & wait",
        ],
        &[],
    );
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    s.sicken();
    let out = wait_output(child, T);
    assert_eq!(code(&out), 124, "{}", stderr(&out));
    assert!(stdout(&out).contains("app: got TERM"), "{}", stdout(&out));
    let err = stderr(&out);
    let line = format!(
        "warning: unhealthy: {}: HTTP 503 (3 failures in a row, every 100ms); stopping the app",
        s.url
    );
    assert!(err.contains(&line), "{err}");
    assert!(err.contains("exiting with status 124"), "{err}");
}

#[test]
fn a_healthy_app_is_never_touched_and_keeps_its_status() {
    require_pidns();
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let url = s.url("/healthz");
    let out = output_within(
        init_with(
            &[
                "--health",
                &url,
                "--health-interval",
                "100ms",
                "--health-retries",
                "1",
                "--",
                "sh",
                "-c",
                "sleep 1.5; exit 5",
            ],
            &[],
        ),
        T,
    );
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
    assert!(s.requests().len() >= 5, "the checks did not run");
}

#[test]
fn failures_in_the_start_period_do_not_count() {
    require_pidns();
    // Nothing listens for the first second: every check fails, none counts.
    let port = servers::dead_port();
    let url = format!("http://127.0.0.1:{port}/");
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        servers::http(
            &format!("127.0.0.1:{port}"),
            Reply::Status(200, String::new()),
        )
    });
    let out = output_within(
        init_with(
            &[
                "--health",
                &url,
                "--health-interval",
                "100ms",
                "--health-retries",
                "2",
                "--health-start-period",
                "20s",
                "--",
                "sh",
                "-c",
                "sleep 2.5; exit 7",
            ],
            &[],
        ),
        T,
    );
    let s = late.join().unwrap();
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(!stderr(&out).contains("unhealthy"), "{}", stderr(&out));
    assert!(!s.requests().is_empty(), "no check after the start");
}

#[test]
fn usage_errors_exit_2_before_the_app_starts() {
    let dir = TempDir::new("health-usage");
    let marker = dir.join("started");
    let app = format!("touch {}", marker.display());
    for (args, env) in [
        (vec!["--health", "bogus"], vec![]),
        (
            vec!["--health", "tcp://127.0.0.1:1", "--health-interval", "0"],
            vec![],
        ),
        (
            vec!["--health", "tcp://127.0.0.1:1", "--health-timeout", "0s"],
            vec![],
        ),
        (
            vec!["--health", "tcp://127.0.0.1:1", "--health-retries", "0"],
            vec![],
        ),
        (
            vec![],
            vec![("WARD_INIT_HEALTH", "http://127.0.0.1:1/ nope")],
        ),
        (
            vec!["--health", "http://127.0.0.1:1/"],
            vec![("WARD_HEALTH_STATUS", "600")],
        ),
        (
            vec!["--health", "https://127.0.0.1:1/"],
            vec![("WARD_HEALTH_CA_FILE", "/nonexistent.pem")],
        ),
    ] {
        let mut all: Vec<&str> = args.clone();
        all.extend(["--", "sh", "-c", &app]);
        let mut cmd = ward_cmd(std::iter::once("init").chain(all.iter().copied()));
        without_env(&mut cmd, &["WARD_"]);
        cmd.envs(env.iter().copied());
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 2, "{args:?} {env:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
        assert!(!marker.exists(), "{args:?} {env:?}: the app started");
    }
}

/// tini mode: the same, configured through WARD_INIT_HEALTH* only.
#[test]
fn tini_mode_takes_the_watchdog_from_the_environment() {
    require_pidns();
    let s = Flip::start();
    s.sicken();
    let dir = TempDir::new("tini-health");
    let tini = ward_as(&dir, "tini");
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
        .arg(&tini)
        .args(["--", "sleep", "100"]);
    default_signals(&mut cmd);
    without_env(&mut cmd, &["WARD_"]);
    cmd.env("WARD_INIT_HEALTH", &s.url)
        .env("WARD_INIT_HEALTH_INTERVAL", "100ms")
        .env("WARD_INIT_HEALTH_RETRIES", "2");
    let out = output_within(cmd, T);
    assert_eq!(code(&out), 124, "{}", stderr(&out));
    assert!(stderr(&out).contains("unhealthy: "), "{}", stderr(&out));
}

/// With --health, ward's main thread still sleeps: the checks run in the watchdog's thread.
#[test]
fn the_watchdog_never_wakes_the_main_loop_of_a_healthy_app() {
    require_pidns();
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let url = s.url("/");
    let mut cmd = init_with(
        &[
            "--health",
            &url,
            "--health-interval",
            "200ms",
            "--",
            "sleep",
            "100",
        ],
        &[],
    );
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let ward_pid = only_child(child.id());
    let sleep = only_child(ward_pid);
    assert!(wait_until(T, || std::fs::read_link(format!(
        "/proc/{sleep}/exe"
    ))
    .is_ok_and(|p| p.ends_with("sleep"))));
    std::thread::sleep(Duration::from_millis(300));
    // The main thread's own counters (/proc/PID/status is the thread group leader's).
    let switches = |pid| status_field(pid, "voluntary_ctxt_switches").unwrap();
    let before = switches(ward_pid);
    let checks_before = s.requests().len();
    std::thread::sleep(Duration::from_secs(2));
    let after = switches(ward_pid);
    let checks = s.requests().len() - checks_before;
    kill(ward_pid, libc::SIGTERM);
    let out = wait_output(child, T);
    assert_eq!(code(&out), 143, "{}", stderr(&out));
    assert!((5..=15).contains(&checks), "{checks} checks in 2 s");
    assert_eq!(before, after, "the main loop woke up: {before} -> {after}");
}

/// Threads or not, every signal still reaches the app: with the watchdog running, signal 34
/// (SIGRTMIN for glibc programs, and internal to musl, which unblocks it in the thread that
/// creates the first thread) is forwarded, and ward lives on.
#[test]
fn with_the_watchdog_running_every_signal_is_still_forwarded() {
    let py = require_python();
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let url = s.url("/");
    let dir = TempDir::new("health-signals");
    let catcher = write_catcher(&dir);
    let log = dir.join("log");
    // As a subreaper, not PID 1: the catcher is ward's only child.
    let mut cmd = {
        let mut c = ward_cmd(["init", "--health", &url, "--health-interval", "100ms", "--"]);
        c.arg(&py).arg(&catcher).arg(&log);
        without_env(&mut c, &["WARD_"]);
        c
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let ward = child.id();
    assert!(
        wait_for_prefix(&log, "ready", T),
        "the catcher never started"
    );
    // Let the watchdog thread start and check a few times.
    assert!(wait_until(T, || s.requests().len() >= 3));
    for sig in [34, 35, 40, 64, libc::SIGUSR1, libc::SIGHUP] {
        kill(ward, sig);
        assert!(
            wait_for_line(&log, &sig.to_string(), T),
            "signal {sig} did not reach the app: {:?}",
            log_lines(&log)
        );
        assert!(alive(ward), "signal {sig} killed ward");
    }
    let catcher_pid = only_child(ward);
    kill(catcher_pid, libc::SIGKILL);
    let out = wait_output(child, T);
    assert_eq!(code(&out), 137, "{}", stderr(&out));
}
