//! Processes: spawning the child with the caller's original signal state, reaping, exec in place,
//! and the small per-process settings an init needs (subreaper, parent-death signal, fds, cwd).

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

use nix::errno::Errno;

use super::signals::{self, Inherited};

/// How a reaped process ended, as an exit code a shell would report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// One result of a non-blocking `waitpid(-1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// `pid` ended and is gone now.
    Process { pid: i32, ended: Ended },
    /// Children exist but none has ended.
    NoneReady,
    /// No children at all.
    NoChildren,
}

/// Reaps one ended child, whichever it is, without blocking.
///
/// Raw `waitpid`: nix's `WaitStatus` cannot represent a death by a real-time signal and
/// reports an error instead, after the child has already been consumed.
pub fn reap_one() -> Reaped {
    loop {
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a live c_int the kernel writes the wait status into.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid > 0 {
            let ended = if libc::WIFEXITED(status) {
                Ended::Exited(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                Ended::Signaled(libc::WTERMSIG(status))
            } else {
                // Stopped/continued are not reported without WUNTRACED/WCONTINUED.
                continue;
            };
            return Reaped::Process { pid, ended };
        }
        if pid == 0 {
            return Reaped::NoneReady;
        }
        match Errno::last() {
            Errno::EINTR => continue,
            _ => return Reaped::NoChildren,
        }
    }
}

/// Spawns `program` with `args` as a new process group leader, with exactly the signal mask and
/// dispositions in `saved`. When `take_tty` is set, the child makes its group the foreground
/// group of the terminal on stdin. Returns the child's pid.
pub fn spawn(
    program: &OsStr,
    args: &[std::ffi::OsString],
    saved: Inherited,
    take_tty: bool,
) -> io::Result<i32> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    // SAFETY: the closure runs in the forked child before exec and only makes async-signal-safe
    // system calls (setpgid, getpid, tcsetpgrp, rt_sigaction, rt_sigprocmask); it allocates
    // nothing and touches no lock. `saved` is a Copy value moved into the closure.
    unsafe {
        cmd.pre_exec(move || {
            // Own process group first, so the terminal can be handed to it.
            libc::setpgid(0, 0);
            if take_tty {
                // SIGTTOU is still blocked here, so a background group may take the terminal.
                libc::tcsetpgrp(0, libc::getpid());
            }
            // std resets SIGPIPE to SIG_DFL in the child and keeps the parent's mask: put back
            // what ward itself was given, signal for signal.
            signals::restore_inherited(&saved);
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    Ok(child.id() as i32)
}

/// True when stdin is a terminal whose foreground process group is ours: only then does the
/// child take it over (a backgrounded ward must not steal the terminal).
pub fn stdin_is_our_foreground_tty() -> bool {
    // SAFETY: isatty, tcgetpgrp and getpgrp have no memory-safety preconditions.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

/// This process's pid.
pub fn pid() -> i32 {
    std::process::id() as i32
}

/// The parent's pid (0 when the parent lives outside our PID namespace).
pub fn parent_pid() -> i32 {
    nix::unistd::getppid().as_raw()
}

/// Makes orphaned descendants re-parent to us instead of to the namespace's init.
pub fn set_child_subreaper() -> Result<(), Errno> {
    nix::sys::prctl::set_child_subreaper(true)
}

/// Asks the kernel to send `sig` to us when our parent exits.
pub fn set_parent_death_signal(sig: i32) -> Result<(), Errno> {
    // SAFETY: PR_SET_PDEATHSIG takes a signal number and no pointers.
    let rc = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) };
    Errno::result(rc).map(drop)
}

/// Closes every file descriptor above 2 (the child keeps its own copies).
pub fn close_fds_above_stderr() {
    // SAFETY: close_range only closes descriptors; none of ours above 2 is in use afterwards.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if rc == 0 {
        return;
    }
    // Kernels before 5.9: close what /proc lists (collected first, so the directory's own
    // descriptor is not closed under the iterator).
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd > 2)
            .collect(),
        Err(_) => return,
    };
    for fd in fds {
        // SAFETY: closing a descriptor number has no memory-safety effect; a stale number
        // (the directory fd, already closed) gives EBADF, which is ignored.
        unsafe {
            libc::close(fd);
        }
    }
}
