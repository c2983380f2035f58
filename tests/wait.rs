//! `ward wait`, `wait` (docker-compose-wait's variables) and `ward init --wait`: targets that
//! become ready later, targets that never do, exec of the program, signals during the wait.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::servers::{self, Reply};
use crate::util::*;

const T: Duration = Duration::from_secs(40);

/// A command with no WAIT_* / WARD_WAIT_* variables from the outside.
fn clean(mut cmd: Command) -> Command {
    for (k, _) in std::env::vars() {
        if k.starts_with("WAIT_") || k.starts_with("WARD_WAIT_") || k.starts_with("WARD_INIT_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

fn wait_cmd(args: &[&str]) -> Command {
    clean(ward_cmd(
        std::iter::once("wait").chain(args.iter().copied()),
    ))
}

/// `wait` by its own name (docker-compose-wait mode), with these variables.
fn compat(dir: &TempDir, env: &[(&str, &str)]) -> Output {
    let mut cmd = clean(Command::new(ward_as(dir, "wait")));
    for (k, v) in env {
        cmd.env(k, v);
    }
    default_signals(&mut cmd);
    output_within(cmd, T)
}

/// Reserves a port, then serves HTTP 200 on it after `delay`.
fn server_later(delay: Duration) -> u16 {
    let port = servers::dead_port();
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        servers::http_on(l, Reply::Status(200, "up".into()));
        std::thread::sleep(Duration::from_secs(600));
    });
    port
}

#[test]
fn waits_for_targets_that_come_up_later_then_execs() {
    let dir = TempDir::new("later");
    let port = server_later(Duration::from_millis(800));
    let file = dir.join("flag");
    let f2 = file.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        std::fs::write(f2, "").unwrap();
    });
    let http = format!("http://127.0.0.1:{port}/");
    let tcp = format!("tcp://127.0.0.1:{port}");
    let file_t = format!("file://{}", file.display());
    let mut cmd = wait_cmd(&[
        "-i",
        "100ms",
        &http,
        &tcp,
        &file_t,
        "--",
        "sh",
        "-c",
        "echo $$ \"$@\"; exit 7",
        "sh",
        "a b",
        "c",
    ]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let out = wait_output(child, T);
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    // exec: the program runs as the same process, with its arguments untouched.
    assert_eq!(stdout(&out), format!("{pid} a b c\n"));
    let err = stderr(&out);
    for t in [&http, &tcp, &file_t] {
        assert!(err.contains(&format!("{t} is ready (")), "{err}");
    }
    assert_eq!(
        err.lines().count(),
        3,
        "one line per target, not per attempt: {err}"
    );
}

#[test]
fn without_a_program_ready_means_exit_0() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let out = output_within(wait_cmd(&[&s.url("/"), "-q"]), T);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "-q: {}", stderr(&out));
}

#[test]
fn targets_that_never_answer_time_out_with_their_last_error() {
    let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
    let s = servers::http("127.0.0.1:0", Reply::Status(503, String::new()));
    let missing = "file:///nonexistent/ward-flag";
    let out = output_within(
        wait_cmd(&[
            "-t",
            "1500ms",
            "-i",
            "100ms",
            &dead,
            &s.url("/"),
            missing,
            "--",
            "true",
        ]),
        T,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 3, "{err}");
    assert!(
        err.contains(&format!("{dead}: not ready after 1.5s: connection refused")),
        "{err}"
    );
    assert!(
        err.contains(&format!("{}: not ready after 1.5s: HTTP 503", s.url("/"))),
        "{err}"
    );
    assert!(
        err.contains(&format!("{missing}: not ready after 1.5s: does not exist")),
        "{err}"
    );
}

#[test]
fn still_waiting_lines_come_every_10s_not_every_attempt() {
    let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
    let out = output_within(wait_cmd(&["-t", "11s", "-i", "100ms", &dead]), T);
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    let still: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("still waiting for"))
        .collect();
    assert_eq!(still.len(), 1, "{err}");
    assert!(
        still[0].contains(&format!(
            "still waiting for {dead} (10s): connection refused"
        )),
        "{err}"
    );
    assert_eq!(err.lines().count(), 2, "{err}");
}

#[test]
fn any_is_enough_with_any() {
    let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let out = output_within(
        wait_cmd(&[
            "--any",
            "-t",
            "10s",
            &dead,
            &s.url("/"),
            "--",
            "sh",
            "-c",
            "exit 3",
        ]),
        T,
    );
    assert_eq!(code(&out), 3, "{}", stderr(&out));
}

#[test]
fn a_signal_ends_the_wait_at_once() {
    for (sig, want) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
        let mut cmd = wait_cmd(&["-t", "60s", &dead, "--", "true"]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        let _guard = KillOnDrop(vec![child.id()]);
        assert!(
            wait_until(T, || threads(child.id()) > 1),
            "the wait never started"
        );
        kill(child.id(), sig);
        let out = wait_output(child, Duration::from_secs(5));
        // An exit code, not a death by the signal: ward caught it and ended the wait.
        assert_eq!(out.status.code(), Some(want), "{}", stderr(&out));
        assert!(stderr(&out).contains("stopped by SIG"), "{}", stderr(&out));
    }
}

#[test]
fn the_program_gets_the_original_signal_state() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let mut cmd = wait_cmd(&[
        "-q",
        &s.url("/"),
        "--",
        "grep",
        "-E",
        "SigBlk|SigIgn",
        "/proc/self/status",
    ]);
    let (blk, ign) = (bit(libc::SIGUSR2), bit(libc::SIGHUP));
    // SAFETY: only raw signal system calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            set_signal_state(blk, ign);
            Ok(())
        });
    }
    let out = output_within(cmd, T);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
    };
    assert_eq!(field("SigBlk:"), blk, "{text}");
    assert_eq!(field("SigIgn:"), ign, "{text}");
}

#[test]
fn exec_failures_and_bad_input() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let url = s.url("/");
    let out = output_within(wait_cmd(&["-q", &url, "--", "/nonexistent/app"]), T);
    assert_eq!(code(&out), 127);
    assert!(stderr(&out).contains("/nonexistent/app"));
    let out = output_within(wait_cmd(&["-q", &url, "--", "/etc"]), T);
    assert_eq!(code(&out), 126);
    for args in [
        &[][..],
        &["ftp://x"],
        &["db:5432"],
        &["-t", "soon", "tcp://127.0.0.1:1"],
        &["-i", "x", "tcp://127.0.0.1:1"],
        &["--bogus", "tcp://127.0.0.1:1"],
        &["--", "true"],
        &["tcp://127.0.0.1:1", "--"],
    ] {
        let out = output_within(wait_cmd(args), T);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let mut cmd = wait_cmd(&["tcp://127.0.0.1:1"]);
    cmd.env("WARD_WAIT_TIMEOUT", "later");
    let out = output_within(cmd, T);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("WARD_WAIT_TIMEOUT"));
}

#[test]
fn targets_and_options_from_ward_wait_variables() {
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let mut cmd = wait_cmd(&["--", "sh", "-c", "exit 5"]);
    cmd.env(
        "WARD_WAIT_TARGETS",
        format!("{} tcp://{}", s.url("/"), s.addr),
    );
    assert_eq!(code(&output_within(cmd, T)), 5);
    let mut cmd = wait_cmd(&[]);
    cmd.env(
        "WARD_WAIT_TARGETS",
        format!("tcp://127.0.0.1:{}", servers::dead_port()),
    )
    .env("WARD_WAIT_TIMEOUT", "500ms");
    assert_eq!(code(&output_within(cmd, T)), 1);
}

#[test]
fn docker_compose_wait_variables() {
    let dir = TempDir::new("compat");
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let host = s.addr.to_string();
    let flag = dir.join("flag");
    std::fs::write(&flag, "").unwrap();
    // Hosts and paths, then WAIT_COMMAND replaces the process (its words split like a shell's).
    let out = compat(
        &dir,
        &[
            ("WAIT_HOSTS", &format!("{host}, {host}")),
            ("WAIT_PATHS", flag.to_str().unwrap()),
            ("WAIT_COMMAND", "sh -c 'echo \"$0 $1\"; exit 9' 'a b' c"),
            ("WAIT_LOGGER_LEVEL", "info"),
        ],
    );
    assert_eq!(code(&out), 9, "{}", stderr(&out));
    assert_eq!(stdout(&out), "a b c\n");
    assert!(
        stderr(&out).contains(&format!("tcp://{host} is ready")),
        "{}",
        stderr(&out)
    );
    // Nothing to wait for: runs the command at once (docker-compose-wait does the same).
    let out = compat(&dir, &[("WAIT_COMMAND", "sh -c 'exit 4'")]);
    assert_eq!(code(&out), 4);
    let out = compat(&dir, &[]);
    assert_eq!(code(&out), 0);
    // Timeout in seconds, with the connect timeout and sleep interval in seconds too.
    let dead = format!("127.0.0.1:{}", servers::dead_port());
    let out = compat(
        &dir,
        &[
            ("WAIT_HOSTS", &dead),
            ("WAIT_TIMEOUT", "1"),
            ("WAIT_SLEEP_INTERVAL", "1"),
            ("WAIT_HOST_CONNECT_TIMEOUT", "1"),
            ("WAIT_COMMAND", "sh -c 'exit 0'"),
            ("WAIT_LOGGER_LEVEL", "error"),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("not ready after 1s: connection refused"));
    // WAIT_LOGGER_LEVEL=off: silent even on failure.
    let out = compat(
        &dir,
        &[
            ("WAIT_HOSTS", &dead),
            ("WAIT_TIMEOUT", "1"),
            ("WAIT_LOGGER_LEVEL", "off"),
        ],
    );
    assert_eq!(code(&out), 1);
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    // WAIT_BEFORE and WAIT_AFTER sleep (whole seconds) around the wait.
    let started = std::time::Instant::now();
    let out = compat(
        &dir,
        &[
            ("WAIT_HOSTS", &host),
            ("WAIT_BEFORE", "1"),
            ("WAIT_AFTER", "1"),
        ],
    );
    assert_eq!(code(&out), 0);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "WAIT_BEFORE/WAIT_AFTER were not honoured"
    );
    // A bad number is an error, not silently the default.
    let out = compat(&dir, &[("WAIT_HOSTS", &host), ("WAIT_TIMEOUT", "30s")]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("WAIT_TIMEOUT"), "{}", stderr(&out));
}

#[test]
fn init_waits_before_spawning_as_pid1() {
    require_pidns();
    let port = server_later(Duration::from_millis(700));
    let url = format!("http://127.0.0.1:{port}/");
    let out = output_within(
        clean(ward_pid1_cmd([
            "init",
            "--wait",
            &url,
            "--wait",
            &format!("tcp://127.0.0.1:{port}"),
            "--",
            "sh",
            "-c",
            "[ $PPID = 1 ] && exit 6",
        ])),
        T,
    );
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("{url} is ready")),
        "{}",
        stderr(&out)
    );

    // A target that never answers: exit 1 after --wait-timeout, the child never starts.
    let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
    let dir = TempDir::new("initwait");
    let marker = dir.join("started");
    let script = format!("echo > {}", marker.display());
    let out = output_within(
        clean(ward_pid1_cmd([
            "init",
            "--wait",
            &dead,
            "--wait-timeout",
            "1s",
            "--",
            "sh",
            "-c",
            &script,
        ])),
        T,
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(!marker.exists(), "the child ran although the wait failed");

    // docker stop during the wait: SIGTERM to PID 1 ends it at once.
    let mut cmd = clean(ward_pid1_cmd([
        "init", "--wait", &dead, "--", "sh", "-c", &script,
    ]));
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let _guard = KillOnDrop(vec![child.id()]);
    let ward_pid = only_child(child.id());
    assert!(
        wait_until(T, || threads(ward_pid) > 1),
        "the wait never started"
    );
    kill(ward_pid, libc::SIGTERM);
    let out = wait_output(child, Duration::from_secs(5));
    assert_eq!(code(&out), 143, "{}", stderr(&out));
    assert!(!marker.exists());

    // The environment twin.
    let port2 = server_later(Duration::from_millis(300));
    let mut cmd = clean(ward_pid1_cmd(["init", "--", "sh", "-c", "exit 8"]));
    cmd.env("WARD_INIT_WAIT", format!("tcp://127.0.0.1:{port2}"));
    assert_eq!(code(&output_within(cmd, T)), 8);
}

/// Threads of a process (its pollers run once the wait has started, all signals blocked).
fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// A Unix socket whose listen backlog is full: a blocking connect to it would never return.
fn stalled_unix_socket(path: &std::path::Path) -> Vec<i32> {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: plain socket calls on descriptors this test owns; sockaddr_un is filled in
    // within its bounds.
    unsafe {
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(path.as_os_str().as_bytes()) {
            *d = *s as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        let listener = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
        assert_eq!(
            libc::bind(listener, (&addr as *const libc::sockaddr_un).cast(), len),
            0
        );
        assert_eq!(libc::listen(listener, 0), 0);
        let mut fds = vec![listener];
        loop {
            let c = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0);
            fds.push(c);
            if libc::connect(c, (&addr as *const libc::sockaddr_un).cast(), len) != 0 {
                break;
            }
        }
        fds
    }
}

#[test]
fn a_unix_socket_that_never_accepts_does_not_stall_attempts() {
    let dir = TempDir::new("stall");
    let sock = dir.join("full.sock");
    let _fds = stalled_unix_socket(&sock);
    let target = format!("unix://{}", sock.display());
    let out = output_within(
        wait_cmd(&["-t", "2s", "--connect-timeout", "500ms", &target]),
        T,
    );
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("not ready after 2s: timed out after 500ms while connecting"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn rt_signals_after_init_wait_reach_the_child_and_never_kill_ward() {
    // --any with a target that never answers leaves its poller sleeping (interval 1h) after
    // the wait: it must not take signal 34 (musl's internal signal, a glibc program's SIGRTMIN,
    // whose default action kills).
    let py = require_python();
    let dir = TempDir::new("rt34");
    let catcher = write_catcher(&dir);
    let log = dir.join("log");
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let dead = format!("tcp://127.0.0.1:{}", servers::dead_port());
    let mut cmd = clean(ward_cmd([
        "init",
        "--grace",
        "0",
        "--wait",
        &dead,
        "--wait",
        &s.url("/"),
        "--",
    ]));
    cmd.arg(&py).arg(&catcher).arg(&log);
    cmd.env("WARD_WAIT_ANY", "1")
        .env("WARD_WAIT_INTERVAL", "1h");
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let ward_pid = child.id();
    let mut guard = KillOnDrop(vec![ward_pid]);
    assert!(wait_for_prefix(&log, "ready", T), "the child never started");
    let catcher_pid = only_child(ward_pid);
    guard.0.push(catcher_pid);
    for _ in 0..300 {
        kill(ward_pid, 34);
        std::thread::sleep(Duration::from_micros(300));
    }
    assert!(
        wait_for_line(&log, "34", T),
        "signal 34 never reached the child"
    );
    if !alive(ward_pid) {
        let out = wait_output(child, T);
        panic!(
            "ward ended ({}) while signal 34 was being sent: {}",
            code(&out),
            stderr(&out)
        );
    }
    kill(catcher_pid, libc::SIGKILL);
    assert_eq!(code(&wait_output(child, T)), 137);
}

#[test]
fn the_parent_death_signal_during_the_wait_reaches_the_child() {
    // The parent exits while ward waits; the parent-death signal (USR1) is kept and forwarded
    // once the child runs: `sleep` dies of it at once, and ward with it, long before 60 s.
    // ward's own log (-v) says how the child ended.
    let dir = TempDir::new("pdeath-wait");
    let pidfile = dir.join("ward.pid");
    let log = dir.join("ward.log");
    let port = server_later(Duration::from_millis(1500));
    let script = format!(
        "{w} init -v -p USR1 --wait tcp://127.0.0.1:{port} -- sleep 60 >/dev/null 2>{l} & echo $! > {p}; sleep 0.3",
        w = ward().display(),
        l = log.display(),
        p = pidfile.display()
    );
    let mut cmd = clean(Command::new("sh"));
    cmd.args(["-c", &script]);
    default_signals(&mut cmd);
    assert_eq!(code(&output_within(cmd, T)), 0);
    let ward_pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut guard = KillOnDrop(vec![ward_pid]);
    assert!(wait_until(T, || children(ward_pid).len() == 1 || !alive(ward_pid)));
    if let Some(&c) = children(ward_pid).first() {
        guard.0.push(c);
    }
    assert!(
        wait_until(Duration::from_secs(20), || !alive(ward_pid)),
        "the child never got the parent-death signal"
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("was killed by SIGUSR1"), "{text}");
}

#[test]
fn docker_compose_wait_edge_cases() {
    let dir = TempDir::new("compat-edges");
    let dead = format!("127.0.0.1:{}", servers::dead_port());
    // WAIT_TIMEOUT=0: one attempt, then give up.
    let out = compat(
        &dir,
        &[
            ("WAIT_HOSTS", &dead),
            ("WAIT_TIMEOUT", "0"),
            ("WAIT_LOGGER_LEVEL", "debug"),
        ],
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.matches(": connection refused").count(), 2, "{err}");
    assert!(
        err.contains("not ready after 1 attempt: connection refused"),
        "{err}"
    );
    // The command line wins over WAIT_LOGGER_LEVEL.
    let mut cmd = clean(Command::new(ward_as(&dir, "wait")));
    cmd.args(["-q", "-t", "300ms"])
        .env("WAIT_HOSTS", &dead)
        .env("WAIT_LOGGER_LEVEL", "debug");
    let out = output_within(cmd, T);
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    // Relative WAIT_PATHS are relative to the working directory.
    std::fs::write(dir.join("flag"), "").unwrap();
    let mut cmd = clean(Command::new(ward_as(&dir, "wait")));
    cmd.current_dir(dir.path())
        .env("WAIT_PATHS", "flag")
        .env("WAIT_COMMAND", "sh -c 'exit 6'");
    assert_eq!(code(&output_within(cmd, T)), 6);
    // A signal other than TERM/INT during WAIT_BEFORE does not kill ward.
    let s = servers::http("127.0.0.1:0", Reply::Status(200, String::new()));
    let mut cmd = clean(Command::new(ward_as(&dir, "wait")));
    cmd.env("WAIT_HOSTS", s.addr.to_string())
        .env("WAIT_BEFORE", "1")
        .env("WAIT_COMMAND", "sh -c 'exit 5'")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    default_signals(&mut cmd);
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(child.id(), libc::SIGUSR1);
    assert_eq!(code(&wait_output(child, T)), 5);
}
