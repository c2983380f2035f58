//! Processes: spawning the child with the caller's original signal state, reaping, exec in place,
//! and the small per-process settings an init needs (subreaper, parent-death signal, fds, cwd).

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

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

/// The argument vector as C strings, built before fork (no allocation may happen after).
struct Argv {
    _strings: Vec<CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl Argv {
    fn new(program: &OsStr, args: &[OsString]) -> io::Result<Argv> {
        let strings = std::iter::once(program)
            .chain(args.iter().map(OsString::as_os_str))
            .map(|a| {
                CString::new(a.as_bytes()).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "argument contains a NUL byte")
                })
            })
            .collect::<io::Result<Vec<CString>>>()?;
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        Ok(Argv {
            _strings: strings,
            ptrs,
        })
    }

    fn program(&self) -> *const libc::c_char {
        self.ptrs[0]
    }
}

/// Why a spawn failed: before the child existed (pipe, fork), or in its exec.
#[derive(Debug)]
pub enum SpawnError {
    Fork(io::Error),
    Exec(io::Error),
}

/// Spawns `program` with `args` (searched in PATH when it has no '/') as a new process group
/// leader, with exactly the signal mask and dispositions in `saved`. When `take_tty` is set, the
/// child makes its group the foreground group of the terminal on stdin. Returns the child's
/// pid once the exec has succeeded, or the exec's error (the failed child is reaped here).
///
/// Hand-rolled fork/exec rather than std::process::Command: Command keeps the parent's signal
/// mask, resets SIGPIPE behind our back and brings in code the binary does not need.
pub fn spawn(
    program: &OsStr,
    args: &[OsString],
    saved: Inherited,
    take_tty: bool,
) -> Result<i32, SpawnError> {
    let argv = Argv::new(program, args).map_err(SpawnError::Exec)?;
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a live array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(SpawnError::Fork(io::Error::last_os_error()));
    }
    let [read_end, write_end] = fds;
    // SAFETY: fork has no memory-safety preconditions; the child below only makes
    // async-signal-safe calls on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let err = io::Error::last_os_error();
        // SAFETY: closing our own pipe descriptors.
        unsafe {
            libc::close(read_end);
            libc::close(write_end);
        }
        return Err(SpawnError::Fork(err));
    }
    if pid == 0 {
        // The child. Only async-signal-safe system calls from here to exec or _exit.
        // SAFETY: every call takes plain values or pointers into `argv` and `saved`, which
        // were fully built before fork; nothing allocates or takes a lock.
        unsafe {
            libc::close(read_end);
            // Own process group first, so the terminal can be handed to it.
            libc::setpgid(0, 0);
            if take_tty {
                // SIGTTOU is still blocked here, so a background group may take the terminal.
                libc::tcsetpgrp(0, libc::getpid());
            }
            signals::restore_inherited(&saved);
            libc::execvp(argv.program(), argv.ptrs.as_ptr());
            // exec failed: report errno through the pipe, then leave without running any
            // of the parent's exit handlers or flushing its buffers.
            let errno = *libc::__errno_location();
            let bytes = errno.to_ne_bytes();
            libc::write(write_end, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copy of the write end; reading into a live 4-byte buffer.
    let (n, buf) = unsafe {
        libc::close(write_end);
        let mut buf = [0u8; 4];
        let n = loop {
            let n = libc::read(read_end, buf.as_mut_ptr().cast(), buf.len());
            if n >= 0 || *libc::__errno_location() != libc::EINTR {
                break n;
            }
        };
        libc::close(read_end);
        (n, buf)
    };
    if n == 4 {
        // SAFETY: reaping the child that failed to exec; a null status pointer is allowed.
        unsafe {
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        return Err(SpawnError::Exec(io::Error::from_raw_os_error(
            i32::from_ne_bytes(buf),
        )));
    }
    // EOF: the close-on-exec pipe closed because exec succeeded.
    Ok(pid)
}

/// Replaces this process with `program` (searched in PATH), first putting back the signal
/// state in `saved`. Returns only on failure, with the exec's error.
pub fn exec(program: &OsStr, args: &[OsString], saved: Inherited) -> io::Error {
    let argv = match Argv::new(program, args) {
        Ok(a) => a,
        Err(e) => return e,
    };
    signals::restore_inherited(&saved);
    // SAFETY: `argv` holds NUL-terminated strings and a terminating null pointer.
    unsafe {
        libc::execvp(argv.program(), argv.ptrs.as_ptr());
    }
    io::Error::last_os_error()
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
