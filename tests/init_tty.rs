//! A terminal: the child becomes the foreground process group, so Ctrl-C reaches it (and not
//! ward), as under `docker run -it`.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::Duration;

use crate::util::*;

/// Opens a pseudo-terminal pair: (master, slave).
fn openpty() -> (std::fs::File, OwnedFd) {
    // SAFETY: standard pty set-up calls on descriptors we own; ptsname_r writes into a local
    // buffer of the given size.
    unsafe {
        let master = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(master >= 0);
        assert_eq!(libc::grantpt(master), 0);
        assert_eq!(libc::unlockpt(master), 0);
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(master, name.as_mut_ptr(), name.len()), 0);
        let slave = libc::open(name.as_ptr(), libc::O_RDWR | libc::O_NOCTTY);
        assert!(slave >= 0);
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

#[test]
fn child_gets_the_terminal_and_ctrl_c() {
    let (mut master, slave) = openpty();
    // The child prints its process group and the terminal's foreground group, then waits.
    let script =
        "set -- $(sed 's/.*) //' /proc/self/stat); echo \"pgrp=$3 tpgid=$6\"; exec sleep 100";
    let mut cmd = ward_cmd(["init", "--", "sh", "-c", script]);
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave));
    // SAFETY: setsid and TIOCSCTTY between fork and exec make the pty ward's controlling
    // terminal, as a container runtime does for `-t`.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            libc::ioctl(0, libc::TIOCSCTTY, 0);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    // Read until the line arrives.
    let mut seen = String::new();
    let ok = wait_until(Duration::from_secs(20), || {
        let mut buf = [0u8; 256];
        // SAFETY: poll on our own descriptor with a zero timeout.
        let ready = unsafe {
            let mut p = libc::pollfd {
                fd: std::os::fd::AsRawFd::as_raw_fd(&master),
                events: libc::POLLIN,
                revents: 0,
            };
            libc::poll(&mut p, 1, 0)
        };
        if ready > 0 {
            if let Ok(n) = master.read(&mut buf) {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
        seen.contains("tpgid=") && seen.trim_end().ends_with(|c: char| c.is_ascii_digit())
    });
    assert!(ok, "no output from the child: {seen:?}");
    let line = seen
        .lines()
        .find(|l| l.starts_with("pgrp="))
        .unwrap()
        .trim()
        .to_string();
    let fields: Vec<&str> = line.split(' ').collect();
    let pgrp = fields[0].trim_start_matches("pgrp=");
    let tpgid = fields[1].trim_start_matches("tpgid=");
    assert_eq!(
        pgrp, tpgid,
        "the child is not the terminal's foreground group: {line}"
    );
    assert_ne!(
        pgrp,
        child.id().to_string(),
        "the child shares ward's group: {line}"
    );

    // Ctrl-C: the terminal sends SIGINT to the foreground group; the child dies of it and
    // ward passes 130 on.
    let sleep = only_child(child.id());
    assert!(wait_until(Duration::from_secs(10), || std::fs::read_link(
        format!("/proc/{sleep}/exe")
    )
    .is_ok_and(|p| p.ends_with("sleep"))));
    master.write_all(b"\x03").unwrap();
    let mut status = None;
    let exited = wait_until(Duration::from_secs(20), || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !exited {
        kill(sleep, libc::SIGKILL);
        let _ = child.wait();
    }
    assert!(exited, "Ctrl-C did not end the child");
    assert_eq!(status.and_then(|s| s.code()), Some(130));
}
