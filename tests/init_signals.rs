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

/// ward (as PID 1 or not) running the catcher. Dropping it kills whatever is left.
struct Catcher {
    child: Option<std::process::Child>,
    ward: u32,
    catcher: u32,
    log: std::path::PathBuf,
    _dir: TempDir,
    _guard: KillOnDrop,
}

impl Catcher {
    /// Kills the catcher and returns ward's output (ward exits 137: its child was SIGKILLed).
    fn finish(mut self) -> std::process::Output {
        kill(self.catcher, libc::SIGKILL);
        wait_output(self.child.take().unwrap(), T)
    }
}

fn start_catcher(pid1: bool, extra: &[&str]) -> Catcher {
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
    let mut guard = KillOnDrop(vec![child.id()]);
    let ward_pid = if pid1 {
        only_child(child.id())
    } else {
        child.id()
    };
    guard.0.push(ward_pid);
    assert!(wait_for_prefix(&log, "ready", T), "catcher never started");
    let catcher_pid = only_child(ward_pid);
    guard.0.push(catcher_pid);
    Catcher {
        child: Some(child),
        ward: ward_pid,
        catcher: catcher_pid,
        log,
        _dir: dir,
        _guard: guard,
    }
}

fn forwards_everything(pid1: bool) {
    let c = start_catcher(pid1, &[]);
    let mut missing = Vec::new();
    for sig in forwardable() {
        kill(c.ward, sig);
        if !wait_for_line(&c.log, &sig.to_string(), Duration::from_secs(5)) {
            missing.push(sig);
        }
        assert!(alive(c.ward), "ward died of signal {sig}");
    }
    // SIGCHLD is never forwarded (it makes ward reap): send it, then a marker; when the marker
    // has arrived, SIGCHLD would have too.
    kill(c.ward, libc::SIGCHLD);
    kill(c.ward, 45);
    assert!(wait_for_line(&c.log, "45", T));
    let got_chld = log_lines(&c.log).iter().any(|l| l == "17");
    let out = c.finish();
    assert!(
        missing.is_empty(),
        "pid1={pid1}: signals not forwarded: {missing:?}"
    );
    assert!(!got_chld, "SIGCHLD was forwarded");
    assert_eq!(code(&out), 137, "{}", stderr(&out));
}

#[test]
fn every_signal_reaches_the_child_when_ward_is_pid1() {
    require_python();
    require_pidns();
    forwards_everything(true);
}

#[test]
fn every_signal_reaches_the_child_when_ward_is_a_subreaper() {
    require_python();
    forwards_everything(false);
}

#[test]
fn sent_fault_signals_are_forwarded_from_inside_the_namespace_too() {
    require_python();
    require_pidns();
    // kill from a process inside ward's own namespace (si_pid != 0), as `kill` in a
    // `docker exec` would.
    let c = start_catcher(true, &[]);
    for sig in [
        libc::SIGABRT,
        libc::SIGTRAP,
        libc::SIGSYS,
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
    ] {
        let mut cmd = std::process::Command::new("nsenter");
        cmd.args([
            "-t",
            &c.ward.to_string(),
            "-p",
            "--",
            "kill",
            &format!("-{sig}"),
            "1",
        ]);
        let out = output_within(cmd, T);
        assert!(
            out.status.success(),
            "nsenter kill failed: {}",
            stderr(&out)
        );
        assert!(
            wait_for_line(&c.log, &sig.to_string(), Duration::from_secs(5)),
            "signal {sig} not forwarded"
        );
        assert!(alive(c.ward));
    }
    assert_eq!(code(&c.finish()), 137);
}

#[test]
fn rewrite_and_drop() {
    require_python();
    let c = start_catcher(
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
    kill(c.ward, libc::SIGTERM);
    assert!(
        wait_for_line(&c.log, "10", T),
        "TERM was not forwarded as USR1"
    );
    kill(c.ward, 35);
    assert!(
        wait_for_line(&c.log, "64", T),
        "RTMIN+1 was not forwarded as RTMAX"
    );
    kill(c.ward, libc::SIGHUP);
    kill(c.ward, libc::SIGUSR2);
    assert!(wait_for_line(&c.log, "12", T));
    let lines = log_lines(&c.log);
    c.finish();
    assert!(
        !lines.iter().any(|l| l == "15" || l == "1" || l == "35"),
        "{lines:?}"
    );
}

/// ward's own SIGPIPE (a log line written to a closed stderr pipe) is the kernel's signal to
/// ward, not a signal for the app: it must not be forwarded.
#[test]
fn sigpipe_raised_at_ward_is_not_forwarded() {
    require_python();
    let py = python().unwrap();
    let dir = TempDir::new("ownpipe");
    let catcher = write_catcher(&dir);
    let log = dir.join("log");
    // stderr is a pipe whose read end is already closed; -w makes ward write to it when it
    // reaps the orphan, so the kernel raises SIGPIPE at ward. The catcher is ward's child's
    // child, in the same process group.
    let script = format!(
        "{py} {c} {l} & while ! grep -q ready {l} 2>/dev/null; do sleep 0.05; done; (sleep 0.1 &); sleep 1; kill -USR2 $!; wait",
        py = py.display(),
        c = catcher.display(),
        l = log.display()
    );
    let mut cmd = ward_cmd([
        "init", "-g", "-w", "--grace", "0", "--", "sh", "-c", &script,
    ]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(child.stderr.take());
    let _guard = KillOnDrop(vec![child.id()]);
    assert!(
        wait_for_line(&log, "12", T),
        "the catcher never got its USR2"
    );
    let lines = log_lines(&log);
    let catcher_pid: u32 = lines[0].trim_start_matches("ready ").parse().unwrap();
    kill(catcher_pid, libc::SIGKILL);
    let status = child.wait().unwrap();
    assert!(
        !lines.iter().any(|l| l == "13"),
        "SIGPIPE was forwarded: {lines:?}"
    );
    // `wait` without operands returns 0 once the catcher is gone; a forwarded SIGPIPE would
    // have killed the shell (141).
    assert_eq!(status.code(), Some(0), "{status:?}");
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
