//! init as an ordinary process (not PID 1, so it makes itself a subreaper): exit codes, exec
//! failures, what the child inherits, what ward lets go of, and shutting down leftovers.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::*;

const T: Duration = Duration::from_secs(30);

#[test]
fn every_exit_code_passes_through() {
    for n in 0..=255 {
        let out = output_within(
            ward_cmd(["init", "--", "sh", "-c", &format!("exit {n}")]),
            T,
        );
        assert_eq!(code(&out), n, "exit {n}: {}", stderr(&out));
        assert!(out.stderr.is_empty(), "exit {n}: {}", stderr(&out));
    }
}

#[test]
fn death_by_signal_is_128_plus_n() {
    // Every signal whose default action terminates the process, RT ones included.
    let mut sigs: Vec<i32> = vec![
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 31,
    ];
    sigs.extend([34, 40, 64]);
    for sig in sigs {
        let out = output_within(
            ward_cmd(["init", "--", "sh", "-c", &format!("kill -{sig} $$")]),
            T,
        );
        assert_eq!(code(&out), 128 + sig, "signal {sig}: {}", stderr(&out));
    }
}

#[test]
fn exec_failures_are_127_and_126_with_one_line() {
    let dir = TempDir::new("exec");
    let script = dir.join("noexec.sh");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    let cases: Vec<(String, i32)> = vec![
        ("/nonexistent/program".into(), 127),
        ("no-such-command-anywhere".into(), 127),
        ("/etc".into(), 126),
        (script.to_string_lossy().into_owned(), 126),
    ];
    for (program, want) in cases {
        let out = output_within(ward_cmd(["init", "--", &program]), T);
        assert_eq!(code(&out), want, "{program}");
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("ward init[") && err.contains(&program),
            "{err}"
        );
    }
}

#[test]
fn remap_exit_codes() {
    let out = output_within(
        ward_cmd(["init", "-e", "3", "-e", "143", "--", "sh", "-c", "exit 3"]),
        T,
    );
    assert_eq!(code(&out), 0);
    let out = output_within(
        ward_cmd(["init", "-e", "143", "--", "sh", "-c", "kill $$"]),
        T,
    );
    assert_eq!(code(&out), 0);
    let out = output_within(ward_cmd(["init", "-e", "3", "--", "sh", "-c", "exit 4"]), T);
    assert_eq!(code(&out), 4);
    let mut cmd = ward_cmd(["init", "--", "sh", "-c", "exit 130"]);
    cmd.env("WARD_INIT_REMAP_EXIT", "1, 130");
    assert_eq!(code(&output_within(cmd, T)), 0);
}

#[test]
fn arguments_pass_through_untouched() {
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 --grace -v");
    let mut cmd = ward_cmd(["init", "printf", "%s|%s"]);
    cmd.arg(odd).arg("--");
    let out = output_within(cmd, T);
    assert_eq!(code(&out), 0);
    assert_eq!(out.stdout, b"caf\xe9 --grace -v|--");
}

/// The child must start with exactly the mask and ignored set ward was given, no matter what
/// ward does with signals itself (it blocks almost all of them; the Rust runtime would ignore
/// SIGPIPE; std::process::Command would keep ward's mask).
#[test]
fn child_inherits_the_original_signal_state() {
    // (blocked, ignored) set up by a wrapper right before exec'ing ward.
    let cases: [(&[i32], &[i32]); 3] = [
        (&[], &[]),
        (
            &[libc::SIGUSR2, 36, libc::SIGTERM],
            &[libc::SIGHUP, libc::SIGPIPE, 40],
        ),
        (
            &[libc::SIGPIPE, 64, 33],
            &[libc::SIGINT, libc::SIGQUIT, libc::SIGTTOU, 32],
        ),
    ];
    for pid1 in [false, true] {
        if pid1 {
            require_pidns();
        }
        for (blocked, ignored) in cases {
            let mut cmd = if pid1 {
                ward_pid1_cmd(["init", "--grace", "0", "--", "sleep", "100"])
            } else {
                ward_cmd(["init", "--grace", "0", "--", "sleep", "100"])
            };
            // unshare is a glibc program, and glibc's sigprocmask silently drops its internal
            // signals 32 and 33 from any mask it sets, so they cannot reach a PID-1 ward.
            let want_blk = blocked
                .iter()
                .filter(|&&s| !(pid1 && (s == 32 || s == 33)))
                .fold(0, |m, &s| m | bit(s));
            let want_ign = ignored.iter().fold(0, |m, &s| m | bit(s));
            // SAFETY: only raw signal system calls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    set_signal_state(want_blk, want_ign);
                    Ok(())
                });
            }
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            let child = cmd.spawn().unwrap();
            let top = child.id();
            let ward_pid = if pid1 { only_child(top) } else { top };
            let sleep = only_child(ward_pid);
            assert!(wait_until(T, || std::fs::read_link(format!(
                "/proc/{sleep}/exe"
            ))
            .is_ok_and(|p| p.ends_with("sleep"))));
            let got_blk = sigset_field(sleep, "SigBlk");
            let got_ign = sigset_field(sleep, "SigIgn");
            kill(sleep, libc::SIGKILL);
            let out = wait_output(child, T);
            assert_eq!(code(&out), 137, "{}", stderr(&out));
            assert_eq!(
                got_blk, want_blk,
                "pid1={pid1} blocked: got {got_blk:#x}, want {want_blk:#x}"
            );
            assert_eq!(
                got_ign, want_ign,
                "pid1={pid1} ignored: got {got_ign:#x}, want {want_ign:#x}"
            );
        }
    }
}

#[test]
fn ward_lets_go_of_inherited_fds_and_cwd_but_the_child_keeps_them() {
    let dir = TempDir::new("fds");
    let file = dir.join("held");
    std::fs::write(&file, "x").unwrap();
    let f = std::fs::File::open(&file).unwrap();
    let mut cmd = ward_cmd(["init", "--grace", "0", "--", "sleep", "100"]);
    cmd.current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    {
        use std::os::fd::AsRawFd;
        let raw = f.as_raw_fd();
        // SAFETY: dup2/fcntl between fork and exec, onto a fixed descriptor number. When the
        // file already is descriptor 7 (the lowest free one in a busy test process), dup2 would
        // do nothing and leave its close-on-exec flag: clear the flag instead.
        unsafe {
            cmd.pre_exec(move || {
                if raw == 7 {
                    libc::fcntl(7, libc::F_SETFD, 0);
                } else {
                    libc::dup2(raw, 7);
                }
                Ok(())
            });
        }
    }
    let mut child = cmd.spawn().unwrap();
    let ward_pid = child.id();
    let sleep = only_child(ward_pid);
    let fds = |pid: u32| -> Vec<u32> {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        wait_until(T, || fds(ward_pid).iter().all(|&fd| fd <= 2)),
        "ward keeps {:?}",
        fds(ward_pid)
    );
    assert!(wait_until(T, || std::fs::read_link(format!(
        "/proc/{ward_pid}/cwd"
    ))
    .is_ok_and(|p| p == std::path::Path::new("/"))));
    assert!(fds(sleep).contains(&7), "child lost fd 7: {:?}", fds(sleep));
    assert_eq!(
        std::fs::read_link(format!("/proc/{sleep}/cwd")).unwrap(),
        std::fs::canonicalize(dir.path()).unwrap()
    );
    kill(sleep, libc::SIGKILL);
    child.wait().unwrap();
}

/// A process the child leaves behind gets SIGTERM, and its handler runs before ward exits.
fn leftover_trap_runs(pid1: bool, grace: &str) -> bool {
    let dir = TempDir::new("grace");
    let ready = dir.join("ready");
    let trapped = dir.join("trapped");
    let script = format!(
        "sh -c 'trap \"echo yes > {t}; exit 0\" TERM; echo > {r}; while :; do sleep 0.1; done' &
         while [ ! -e {r} ]; do sleep 0.02; done; exit 3",
        t = trapped.display(),
        r = ready.display()
    );
    let args = ["init", "--grace", grace, "--", "sh", "-c", &script];
    let cmd = if pid1 {
        ward_pid1_cmd(args)
    } else {
        ward_cmd(args)
    };
    let out = output_within(cmd, T);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    trapped.exists()
}

#[test]
fn leftovers_get_sigterm_and_time_to_exit() {
    assert!(
        leftover_trap_runs(false, "5s"),
        "subreaper: the leftover's TERM trap did not run"
    );
    require_pidns();
    assert!(
        leftover_trap_runs(true, "5s"),
        "PID 1: the leftover's TERM trap did not run"
    );
    // tini's behaviour on request: no grace, the kernel SIGKILLs the rest with PID 1.
    assert!(
        !leftover_trap_runs(true, "0"),
        "PID 1 with --grace 0 still signalled leftovers"
    );
}

#[test]
fn leftovers_that_ignore_sigterm_are_killed_after_the_grace() {
    let dir = TempDir::new("stubborn");
    let pidfile = dir.join("pid");
    let script = format!(
        "sh -c 'trap \"\" TERM; echo $$ > {p}.tmp; mv {p}.tmp {p}; while :; do sleep 0.1; done' &
         while [ ! -e {p} ]; do sleep 0.02; done; exit 0",
        p = pidfile.display()
    );
    let out = output_within(
        ward_cmd(["init", "--grace", "300ms", "--", "sh", "-c", &script]),
        T,
    );
    assert_eq!(code(&out), 0);
    assert!(stderr(&out).contains("SIGKILL"), "{}", stderr(&out));
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid), "stubborn leftover {pid} survived");
}

#[test]
fn kill_after_ends_a_child_that_ignores_sigterm() {
    for pid1 in [false, true] {
        if pid1 {
            require_pidns();
        }
        let dir = TempDir::new("killafter");
        let ready = dir.join("ready");
        let script = format!(
            "trap '' TERM; echo > {}; while :; do sleep 1; done",
            ready.display()
        );
        let args = [
            "init",
            "-g",
            "--kill-after",
            "300ms",
            "--grace",
            "0",
            "--",
            "sh",
            "-c",
            &script,
        ];
        let mut cmd = if pid1 {
            ward_pid1_cmd(args)
        } else {
            ward_cmd(args)
        };
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let child = cmd.spawn().unwrap();
        let ward_pid = if pid1 {
            only_child(child.id())
        } else {
            child.id()
        };
        assert!(wait_until(T, || ready.exists()));
        kill(ward_pid, libc::SIGTERM);
        let out = wait_output(child, T);
        assert_eq!(code(&out), 137, "pid1={pid1}: {}", stderr(&out));
    }
}

#[test]
fn orphans_are_reaped_when_not_pid1() {
    // The grandchild is orphaned at once; as a subreaper ward adopts and reaps it (-w says so).
    let out = output_within(
        ward_cmd([
            "init",
            "-w",
            "--",
            "sh",
            "-c",
            "(sleep 0.2 &); sleep 1; exit 0",
        ]),
        T,
    );
    assert_eq!(code(&out), 0);
    assert!(
        stderr(&out).contains("reaped zombie pid"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn pdeathsig_is_forwarded_when_the_parent_dies() {
    let dir = TempDir::new("pdeath");
    let pidfile = dir.join("ward.pid");
    let ward = ward();
    // The parent shell starts ward in the background, records its pid, then exits.
    let script = format!(
        "{w} init -p USR1 -- sh -c 'trap \"exit 42\" USR1; while :; do sleep 0.1; done' >/dev/null 2>&1 & echo $! > {p}; sleep 0.5",
        w = ward.display(),
        p = pidfile.display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script]);
    let out = output_within(cmd, T);
    assert_eq!(code(&out), 0);
    let ward_pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The child exits 42 on USR1, then ward exits; nothing is left running.
    let gone = wait_until(T, || !alive(ward_pid));
    if !gone {
        kill(ward_pid, libc::SIGKILL);
    }
    assert!(gone, "ward {ward_pid} still running after its parent died");
}

#[test]
fn environment_twins_apply_and_zero_means_off() {
    // WARD_INIT_PGROUP=0 is off: only the child gets the signal, not its group.
    let dir = TempDir::new("twins");
    let script = |tag: &str| {
        format!(
            "trap 'wait; exit 0' USR1; (trap 'echo {tag} > {d}/grandchild; exit 0' USR1; echo > {d}/ready; while [ ! -e {d}/stop ]; do sleep 0.1; done; rm {d}/ready) & wait; wait",
            d = dir.path().display()
        )
    };
    for (value, expect_group) in [("0", false), ("false", false), ("1", true), ("yes", true)] {
        let _ = std::fs::remove_file(dir.join("grandchild"));
        let _ = std::fs::remove_file(dir.join("ready"));
        let mut cmd = ward_cmd(["init", "--grace", "0", "--", "sh", "-c", &script(value)]);
        // No pipes: the grandchild may outlive ward and would hold them open.
        cmd.env("WARD_INIT_PGROUP", value)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().unwrap();
        assert!(wait_until(T, || dir.join("ready").exists()));
        kill(child.id(), libc::SIGUSR1);
        if expect_group {
            let out = wait_output(child, T);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            assert!(
                dir.join("grandchild").exists(),
                "PGROUP={value}: group not signalled"
            );
        } else {
            // Only the child got USR1; it waits for the grandchild, which runs until told.
            std::thread::sleep(Duration::from_millis(300));
            let signalled = dir.join("grandchild").exists();
            std::fs::write(dir.join("stop"), "").unwrap();
            let out = wait_output(child, T);
            assert_eq!(code(&out), 0, "{}", stderr(&out));
            assert!(!signalled, "PGROUP={value}: group was signalled");
            std::fs::remove_file(dir.join("stop")).unwrap();
        }
    }
}

#[test]
fn sigchld_ignored_by_the_parent_does_not_blind_ward() {
    // With SIGCHLD ignored the kernel would reap ward's children itself and ward would never
    // see the child's status; the child still inherits the ignored SIGCHLD.
    let ignoring_sigchld = |args: &[&str]| {
        let mut cmd = ward_cmd(args);
        // SAFETY: only raw signal system calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                set_signal_state(0, bit(libc::SIGCHLD));
                Ok(())
            });
        }
        output_within(cmd, T)
    };
    let out = ignoring_sigchld(&["init", "--", "sh", "-c", "sleep 0.2; exit 3"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let out = ignoring_sigchld(&["init", "--", "grep", "SigIgn", "/proc/self/status"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let line = stdout(&out);
    let mask = u64::from_str_radix(line.trim().trim_start_matches("SigIgn:").trim(), 16).unwrap();
    assert_eq!(mask & bit(libc::SIGCHLD), bit(libc::SIGCHLD), "{line}");
}

#[test]
fn a_stopped_leftover_still_gets_to_handle_sigterm() {
    for pid1 in [false, true] {
        if pid1 {
            require_pidns();
        }
        let dir = TempDir::new("stopped");
        let (t, r) = (dir.join("trapped"), dir.join("ready"));
        let script = format!(
            "sh -c 'trap \"echo > {t}; exit 0\" TERM; echo > {r}; kill -STOP $$; while :; do sleep 0.1; done' &
             while [ ! -e {r} ]; do sleep 0.02; done; sleep 0.2; exit 0",
            t = t.display(),
            r = r.display()
        );
        let args = ["init", "--grace", "5s", "--", "sh", "-c", &script];
        let cmd = if pid1 {
            ward_pid1_cmd(args)
        } else {
            ward_cmd(args)
        };
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(
            t.exists(),
            "pid1={pid1}: the stopped leftover's TERM trap never ran"
        );
    }
}

#[test]
fn grace_zero_leaves_leftovers_alone_when_not_pid1() {
    // tini's behaviour: no signal at all to what the child left behind. The same from the
    // command line and from the environment's "off" spellings.
    type Case<'a> = (&'a [&'a str], Option<(&'a str, &'a str)>);
    let cases: [Case; 3] = [
        (&["--grace", "0"], None),
        (&[], Some(("WARD_INIT_GRACE", "false"))),
        (&[], Some(("WARD_INIT_GRACE", "off"))),
    ];
    for (opts, env) in cases {
        let dir = TempDir::new("nograce");
        let pidfile = dir.join("pid");
        let script = format!(
            "sh -c 'echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 30' & while [ ! -e {p} ]; do sleep 0.02; done; exit 0",
            p = pidfile.display()
        );
        let mut args = vec!["init"];
        args.extend_from_slice(opts);
        args.extend(["--", "sh", "-c", &script]);
        let mut cmd = ward_cmd(args);
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let out = wait_output(cmd.spawn().unwrap(), T);
        assert_eq!(code(&out), 0);
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let _guard = KillOnDrop(vec![pid]);
        assert!(alive(pid), "{opts:?} {env:?} still signalled the leftover");
    }
}

#[test]
fn off_values_in_the_environment() {
    for (var, value) in [
        ("WARD_INIT_GRACE", "false"),
        ("WARD_INIT_GRACE", "off"),
        ("WARD_INIT_GRACE", ""),
        ("WARD_INIT_KILL_AFTER", "false"),
        ("WARD_INIT_KILL_AFTER", ""),
        ("WARD_INIT_PDEATHSIG", "none"),
        ("WARD_INIT_PGROUP", ""),
        ("WARD_INIT_VERBOSE", "0"),
    ] {
        let mut cmd = ward_cmd(["init", "--", "sh", "-c", "exit 6"]);
        cmd.env(var, value);
        let out = output_within(cmd, T);
        assert_eq!(code(&out), 6, "{var}={value:?}: {}", stderr(&out));
    }
    // A bad environment does not stand in the way of --help.
    let mut cmd = ward_cmd(["init", "--help"]);
    cmd.env("WARD_INIT_GRACE", "soon");
    assert_eq!(code(&output_within(cmd, T)), 0);
}
