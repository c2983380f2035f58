//! tini mode (`tini`, `docker-init`): tini's flags, environment, exit codes and version line.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(30);

fn tini(dir: &TempDir, name: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(ward_as(dir, name));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    default_signals(&mut cmd);
    output_within(cmd, T)
}

#[test]
fn version_help_and_licence() {
    let dir = TempDir::new("tini-meta");
    for name in ["tini", "docker-init"] {
        let out = tini(&dir, name, &["--version"], &[]);
        assert_eq!(code(&out), 0);
        // dockerd's parser: "tini version X" before an optional " - ...".
        let line = stdout(&out);
        assert!(line.starts_with("tini version 0.19.0 - ward "), "{line}");
        assert_eq!(line.lines().count(), 1);
    }
    let out = tini(&dir, "tini", &["-h"], &[]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("-e CODE"));
    let out = tini(&dir, "tini", &["-l"], &[]);
    assert_eq!(code(&out), 0);
    assert!(stdout(&out).contains("MIT License"));
}

#[test]
fn usage_errors_exit_1() {
    let dir = TempDir::new("tini-usage");
    for args in [
        &[][..],
        &["--"],
        &["-x", "true"],
        &["--grace", "1s", "true"],
        &["-v", "--version"],
        &["-e", "x", "true"],
        &["-p", "SIGNOPE", "true"],
    ] {
        let out = tini(&dir, "tini", args, &[]);
        assert_eq!(code(&out), 1, "{args:?}: {}", stderr(&out));
        assert_eq!(
            stderr(&out).lines().count(),
            1,
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn flags_and_exit_codes() {
    let dir = TempDir::new("tini-flags");
    let out = tini(
        &dir,
        "tini",
        &["-s", "-p", "SIGTERM", "-g", "--", "sh", "-c", "exit 4"],
        &[],
    );
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    let out = tini(&dir, "tini", &["sh", "-c", "exit 5"], &[]);
    assert_eq!(code(&out), 5, "options end at the first non-option");
    let out = tini(
        &dir,
        "tini",
        &["-e", "3", "-e", "4", "--", "sh", "-c", "exit 3"],
        &[],
    );
    assert_eq!(code(&out), 0);
    let out = tini(&dir, "tini", &["--", "sh", "-c", "kill -USR2 $$"], &[]);
    assert_eq!(code(&out), 140);
    let out = tini(&dir, "tini", &["--", "/nonexistent"], &[]);
    assert_eq!(code(&out), 127);
    let out = tini(&dir, "tini", &["--", "/etc"], &[]);
    assert_eq!(code(&out), 126);
    let out = tini(
        &dir,
        "docker-init",
        &["-w", "--", "sh", "-c", "(sleep 0.1 &); sleep 0.5"],
        &[],
    );
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("warning: Reaped zombie process with pid="),
        "{}",
        stderr(&out)
    );
}

#[test]
fn environment_variables() {
    let dir = TempDir::new("tini-env");
    // Verbosity goes to stderr only (tini prints INFO and DEBUG on stdout).
    let out = tini(&dir, "tini", &["--", "true"], &[("TINI_VERBOSITY", "3")]);
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("started"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = tini(
        &dir,
        "tini",
        &["--", "true"],
        &[("TINI_VERBOSITY", "0"), ("TINI_SUBREAPER", "")],
    );
    assert_eq!(code(&out), 0);
    assert!(out.stderr.is_empty());

    // TINI_KILL_PROCESS_GROUP is presence-based: even "0" turns it on.
    let d = dir.path().display();
    let script = format!(
        "trap 'wait; exit 0' USR1; (trap 'echo > {d}/grandchild; exit 0' USR1; echo > {d}/ready; while :; do sleep 0.1; done) & wait; wait"
    );
    let mut cmd = Command::new(ward_as(&dir, "tini"));
    cmd.args(["--", "sh", "-c", &script])
        .env("TINI_KILL_PROCESS_GROUP", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    default_signals(&mut cmd);
    let child = cmd.spawn().unwrap();
    assert!(wait_until(T, || dir.join("ready").exists()));
    kill(child.id(), libc::SIGUSR1);
    assert_eq!(code(&wait_output(child, T)), 0);
    assert!(
        wait_until(T, || dir.join("grandchild").exists()),
        "the group was not signalled"
    );
}

#[test]
fn no_grace_by_default_but_ward_grace_on_request() {
    require_pidns();
    let dir = TempDir::new("tini-grace");
    let trapped = dir.join("trapped");
    let ready = dir.join("ready");
    let script = format!(
        "sh -c 'trap \"echo > {t}; exit 0\" TERM; echo > {r}; while :; do sleep 0.1; done' &
         while [ ! -e {r} ]; do sleep 0.02; done; exit 3",
        t = trapped.display(),
        r = ready.display()
    );
    for (grace, expect_trap) in [(None, false), (Some("5s"), true)] {
        let _ = std::fs::remove_file(&trapped);
        let _ = std::fs::remove_file(&ready);
        let mut cmd = Command::new("unshare");
        cmd.args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(ward_as(&dir, "tini"))
            .args(["--", "sh", "-c", &script]);
        if let Some(g) = grace {
            cmd.env("WARD_INIT_GRACE", g);
        }
        default_signals(&mut cmd);
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert_eq!(trapped.exists(), expect_trap, "grace={grace:?}");
    }
}
