//! init as a real PID 1 of a fresh PID namespace: exit codes, reaping a burst of orphans, and
//! sleeping without wake-ups.

use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(60);

#[test]
fn exit_codes_as_pid1() {
    require_pidns();
    for (script, want) in [
        ("exit 0", 0),
        ("exit 1", 1),
        ("exit 42", 42),
        ("exit 255", 255),
        ("kill -TERM $$", 143),
        ("kill -KILL $$", 137),
        ("kill -USR1 $$", 138),
        ("[ $PPID = 1 ] && exit 7", 7),
    ] {
        let out = output_within(ward_pid1_cmd(["init", "--", "sh", "-c", script]), T);
        assert_eq!(code(&out), want, "{script}: {}", stderr(&out));
    }
    let out = output_within(ward_pid1_cmd(["init", "--", "/nonexistent"]), T);
    assert_eq!(code(&out), 127);
    assert!(stderr(&out).contains("/nonexistent"));
    let out = output_within(ward_pid1_cmd(["init", "--", "/"]), T);
    assert_eq!(code(&out), 126);
}

#[test]
fn a_burst_of_1000_orphans_leaves_no_zombie() {
    require_pidns();
    // 1000 orphans exit at about the same time (SIGCHLD coalesces); the child then counts
    // zombies in the namespace until there are none, or gives up after 30 s and reports them.
    let script = r#"
        i=0
        while [ $i -lt 1000 ]; do (sleep 0.3 &); i=$((i+1)); done
        n=0
        while :; do
            z=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c ') Z ')
            running=$(cat /proc/[0-9]*/stat 2>/dev/null | grep -c '(sleep)')
            if [ "$z" = 0 ] && [ "$running" = 0 ]; then break; fi
            n=$((n+1)); [ $n -gt 300 ] && break
            sleep 0.1
        done
        echo "zombies=$z sleeping=$running"
    "#;
    let out = output_within(ward_pid1_cmd(["init", "-w", "--", "sh", "-c", script]), T);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "zombies=0 sleeping=0");
    let reaped = stderr(&out).matches("reaped zombie pid").count();
    // Every orphaned sleep was reaped by ward (the subshells are reaped by the child itself).
    assert!(reaped >= 1000, "ward reaped only {reaped} orphans");
}

#[test]
fn idle_init_makes_no_context_switches() {
    require_pidns();
    let mut cmd = ward_pid1_cmd(["init", "--", "sleep", "100"]);
    cmd.stdout(Stdio::null()).stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let ward_pid = only_child(child.id());
    let sleep = only_child(ward_pid);
    assert!(wait_until(T, || std::fs::read_link(format!(
        "/proc/{sleep}/exe"
    ))
    .is_ok_and(|p| p.ends_with("sleep"))));
    // Let start-up settle (the exec of the child wakes ward once), then watch for 3 s.
    std::thread::sleep(Duration::from_millis(200));
    let switches = |pid| status_field(pid, "voluntary_ctxt_switches").unwrap();
    let before = switches(ward_pid);
    std::thread::sleep(Duration::from_secs(3));
    let after = switches(ward_pid);
    kill(ward_pid, libc::SIGTERM);
    let out = wait_output(child, T);
    assert_eq!(code(&out), 143, "{}", stderr(&out));
    assert_eq!(
        before, after,
        "idle ward woke up: {before} -> {after} voluntary switches"
    );
}
