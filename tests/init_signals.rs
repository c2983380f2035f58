//! Signal forwarding, as PID 1 (signals sent from the host, where a PID 1 with SIG_DFL would
//! silently drop them) and as a subreaper: every catchable signal except SIGCHLD reaches the
//! child, fault signals sent by a process included; rewrites and drops apply.

use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(30);

/// Every signal a child can catch and ward forwards: 1–31 without KILL, STOP and CHLD, and
/// real-time signals (32 and 33 are glibc's own and cannot be caught by the python helper).
fn forwardable() -> Vec<i32> {
    let mut v: Vec<i32> = (1..=31).filter(|s| ![9, 17, 19].contains(s)).collect();
    v.extend([34, 35, 40, 50, 63, 64]);
    v
}

/// Starts ward (as PID 1 or not) running the catcher; returns (spawned process, ward's pid,
/// catcher's pid, log path, temp dir).
fn start_catcher(
    pid1: bool,
    extra: &[&str],
) -> (std::process::Child, u32, u32, std::path::PathBuf, TempDir) {
    let py = python().unwrap();
    let dir = TempDir::new("sig");
    let catcher = write_catcher(&dir);
    let log = dir.join("log");
    let mut args: Vec<String> = vec!["init".into(), "--grace".into(), "0".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push("--".into());
    args.push(py.to_string_lossy().into_owned());
    args.push(catcher.to_string_lossy().into_owned());
    args.push(log.to_string_lossy().into_owned());
    let mut cmd = if pid1 {
        ward_pid1_cmd(&args)
    } else {
        ward_cmd(&args)
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let ward_pid = if pid1 {
        only_child(child.id())
    } else {
        child.id()
    };
    assert!(wait_for_prefix(&log, "ready", T), "catcher never started");
    let catcher_pid = only_child(ward_pid);
    (child, ward_pid, catcher_pid, log, dir)
}

fn forwards_everything(pid1: bool) {
    let (child, ward_pid, catcher_pid, log, _dir) = start_catcher(pid1, &[]);
    let mut missing = Vec::new();
    for sig in forwardable() {
        kill(ward_pid, sig);
        if !wait_for_line(&log, &sig.to_string(), Duration::from_secs(5)) {
            missing.push(sig);
        }
        assert!(alive(ward_pid), "ward died of signal {sig}");
    }
    // SIGCHLD is never forwarded (it makes ward reap).
    kill(ward_pid, libc::SIGCHLD);
    std::thread::sleep(Duration::from_millis(300));
    let got_chld = log_lines(&log).iter().any(|l| l == "17");
    kill(catcher_pid, libc::SIGKILL);
    let out = wait_output(child, T);
    assert!(
        missing.is_empty(),
        "pid1={pid1}: signals not forwarded: {missing:?}"
    );
    assert!(!got_chld, "SIGCHLD was forwarded");
    assert_eq!(code(&out), 137, "{}", stderr(&out));
}

#[test]
fn every_signal_reaches_the_child_when_ward_is_pid1() {
    if require_python().is_none() {
        return;
    }
    if require_pidns() {
        forwards_everything(true);
    }
}

#[test]
fn every_signal_reaches_the_child_when_ward_is_a_subreaper() {
    if require_python().is_none() {
        return;
    }
    forwards_everything(false);
}

#[test]
fn sent_fault_signals_are_forwarded_from_inside_the_namespace_too() {
    if require_python().is_none() || !require_pidns() {
        return;
    }
    // sigqueue from a process inside ward's own namespace (si_pid != 0), as `kill` in a
    // `docker exec` would.
    let (child, ward_pid, catcher_pid, log, _dir) = start_catcher(true, &[]);
    for sig in [
        libc::SIGABRT,
        libc::SIGTRAP,
        libc::SIGSYS,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ] {
        let out = output_within(
            {
                let mut c = std::process::Command::new("nsenter");
                c.args([
                    "-t",
                    &ward_pid.to_string(),
                    "-p",
                    "--",
                    "kill",
                    &format!("-{sig}"),
                    "1",
                ]);
                c
            },
            T,
        );
        assert!(
            out.status.success(),
            "nsenter kill failed: {}",
            stderr(&out)
        );
        assert!(
            wait_for_line(&log, &sig.to_string(), Duration::from_secs(5)),
            "signal {sig} not forwarded"
        );
        assert!(alive(ward_pid));
    }
    kill(catcher_pid, libc::SIGKILL);
    assert_eq!(code(&wait_output(child, T)), 137);
}

#[test]
fn rewrite_and_drop() {
    if require_python().is_none() {
        return;
    }
    let (child, ward_pid, catcher_pid, log, _dir) = start_catcher(
        false,
        &[
            "-r",
            "TERM:USR1",
            "--rewrite",
            "HUP:none",
            "-r",
            "RTMIN+1:RTMAX",
        ],
    );
    kill(ward_pid, libc::SIGTERM);
    assert!(
        wait_for_line(&log, "10", T),
        "TERM was not forwarded as USR1"
    );
    kill(ward_pid, 35);
    assert!(
        wait_for_line(&log, "64", T),
        "RTMIN+1 was not forwarded as RTMAX"
    );
    kill(ward_pid, libc::SIGHUP);
    kill(ward_pid, libc::SIGUSR2);
    assert!(wait_for_line(&log, "12", T));
    let lines = log_lines(&log);
    kill(catcher_pid, libc::SIGKILL);
    wait_output(child, T);
    assert!(
        !lines.iter().any(|l| l == "15" || l == "1" || l == "35"),
        "{lines:?}"
    );
}

#[test]
fn pgroup_signals_the_whole_group() {
    let dir = TempDir::new("pgroup");
    let d = dir.path().display();
    let script = format!(
        "trap 'echo > {d}/child; wait; exit 0' USR1; (trap 'echo > {d}/grandchild; exit 0' USR1; echo > {d}/ready; while :; do sleep 0.1; done) & wait; wait"
    );
    for flag in ["-g", "--pgroup"] {
        for f in ["child", "grandchild", "ready"] {
            let _ = std::fs::remove_file(dir.join(f));
        }
        let mut cmd = ward_cmd(["init", flag, "--", "sh", "-c", &script]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        assert!(wait_until(T, || dir.join("ready").exists()));
        kill(child.id(), libc::SIGUSR1);
        let out = wait_output(child, T);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            dir.join("child").exists() && dir.join("grandchild").exists(),
            "{flag}"
        );
    }
}
