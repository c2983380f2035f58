//! Signal state, at the level of the kernel: what ward was started with, blocking, waiting, and
//! restoring the original state in a child.
//!
//! Everything here talks to the kernel with raw `rt_sig*` system calls on 64-bit masks instead
//! of libc's `sigset_t` helpers, because musl hides signals 32–34 (its internal ones) from
//! `sigprocmask`/`sigaction`. An init must still block, see and forward them: a glibc program's
//! SIGRTMIN is 34.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

#[cfg(any(target_arch = "mips", target_arch = "mips64", target_arch = "sparc64"))]
compile_error!("ward's raw sigaction layout is not written for this architecture");

/// Highest signal number on Linux.
pub const MAX_SIGNAL: i32 = 64;

/// Signals the kernel raises for faults in the faulting thread. They stay unblocked in ward so a
/// real fault still kills it; when another process *sends* one, ward forwards it (see
/// [`catch_sent_faults`]).
pub const FAULTS: [i32; 7] = [
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
];

/// Every signal but the fault signals: what ward blocks and waits for.
pub const ALL_BUT_FAULTS: SigSet = {
    let mut bits = u64::MAX;
    let mut i = 0;
    while i < FAULTS.len() {
        bits &= !(1u64 << (FAULTS[i] - 1));
        i += 1;
    }
    SigSet(bits)
};

/// A kernel signal set: bit `n - 1` stands for signal `n`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct SigSet(pub u64);

impl SigSet {
    pub const EMPTY: SigSet = SigSet(0);
    pub const ALL: SigSet = SigSet(u64::MAX);

    fn bit(sig: i32) -> u64 {
        if (1..=MAX_SIGNAL).contains(&sig) {
            1u64 << (sig - 1)
        } else {
            0
        }
    }

    pub fn contains(self, sig: i32) -> bool {
        self.0 & Self::bit(sig) != 0
    }

    pub fn without(self, sig: i32) -> SigSet {
        SigSet(self.0 & !Self::bit(sig))
    }

    pub fn with(self, sig: i32) -> SigSet {
        SigSet(self.0 | Self::bit(sig))
    }

    /// The signal numbers in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = i32> {
        (1..=MAX_SIGNAL).filter(move |&s| self.contains(s))
    }
}

/// The signal state ward was started with: what its parent left blocked and ignored. Every
/// other disposition is SIG_DFL at exec time, so these two sets describe it completely.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inherited {
    pub blocked: SigSet,
    pub ignored: SigSet,
}

static INHERITED: OnceLock<Inherited> = OnceLock::new();

/// The kernel's `struct sigaction` as the raw system call takes it on x86_64, aarch64, arm,
/// riscv and the other "generic" layouts: only the handler is ever non-zero here, and it comes
/// first on all of them.
#[repr(C)]
#[derive(Default)]
struct KernelSigaction {
    handler: usize,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

const SIGSET_BYTES: libc::c_long = 8;

fn raw_sigprocmask(how: libc::c_int, set: Option<&SigSet>, old: Option<&mut SigSet>) -> bool {
    let set_ptr = set.map_or(std::ptr::null(), |s| &s.0 as *const u64);
    let old_ptr = old.map_or(std::ptr::null_mut(), |s| &mut s.0 as *mut u64);
    // SAFETY: both pointers are null or point to a live u64, which is the 8-byte kernel
    // sigset the call is told to expect. The call only changes the calling thread's mask.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            set_ptr,
            old_ptr,
            SIGSET_BYTES,
        )
    };
    rc == 0
}

fn raw_get_handler(sig: i32) -> Option<usize> {
    let mut old = KernelSigaction::default();
    // SAFETY: a null new action only reads the disposition; `old` is a live struct at least as
    // large as the kernel's for the supported architectures.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            std::ptr::null::<KernelSigaction>(),
            &mut old as *mut KernelSigaction,
            SIGSET_BYTES,
        )
    };
    (rc == 0).then_some(old.handler)
}

/// Sets signal `sig` to SIG_DFL or SIG_IGN with the raw system call. Async-signal-safe: it is
/// used between fork and exec.
fn raw_set_default_or_ignore(sig: i32, ignore: bool) {
    let act = KernelSigaction {
        handler: if ignore { libc::SIG_IGN } else { libc::SIG_DFL },
        ..KernelSigaction::default()
    };
    // SAFETY: `act` is a live, fully initialised struct; SIG_DFL/SIG_IGN need no restorer and
    // the flags and mask are zero. Failure (SIGKILL/SIGSTOP) is harmless and ignored.
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            &act as *const KernelSigaction,
            std::ptr::null_mut::<KernelSigaction>(),
            SIGSET_BYTES,
        );
    }
}

/// Records the mask and ignored set ward was started with. Called once, first thing in the
/// process, before anything can change them (ward has its own entry point, so the Rust runtime
/// never ignores SIGPIPE behind our back).
pub fn capture_inherited() -> Inherited {
    *INHERITED.get_or_init(|| {
        let mut blocked = SigSet::EMPTY;
        raw_sigprocmask(libc::SIG_BLOCK, None, Some(&mut blocked));
        let mut ignored = SigSet::EMPTY;
        for sig in 1..=MAX_SIGNAL {
            if raw_get_handler(sig) == Some(libc::SIG_IGN) {
                ignored = ignored.with(sig);
            }
        }
        Inherited { blocked, ignored }
    })
}

/// The state captured by [`capture_inherited`] (captured now if it was not yet).
pub fn inherited() -> Inherited {
    capture_inherited()
}

/// Puts SIGCHLD back to SIG_DFL in ward itself: a parent that left it ignored would make the
/// kernel reap ward's children behind its back, and ward would never learn the child's status.
/// (The child still gets the inherited disposition.)
pub fn default_sigchld() {
    raw_set_default_or_ignore(libc::SIGCHLD, false);
}

/// Blocks every signal except the fault signals, so that nothing can kill or be lost by ward
/// (a PID 1 with SIG_DFL silently drops signals; blocked ones stay pending until waited for).
pub fn block_all_but_faults() -> bool {
    raw_sigprocmask(libc::SIG_SETMASK, Some(&ALL_BUT_FAULTS), None)
}

/// Ignores SIGPIPE in ward itself: a write to a closed pipe or socket then fails with EPIPE
/// instead of killing the process (health must exit 0 or 1, whatever happened to its stderr).
pub fn ignore_sigpipe() {
    raw_set_default_or_ignore(libc::SIGPIPE, true);
}

/// Blocks `set` in the calling thread; threads it starts afterwards inherit the mask.
pub fn block_in_thread(set: SigSet) -> bool {
    raw_sigprocmask(libc::SIG_BLOCK, Some(&set), None)
}

/// Puts back, in the calling process, exactly the mask and dispositions it was started with.
/// Async-signal-safe (raw system calls only, no allocation), so it may run between fork and
/// exec; it is also used right before an in-place exec.
pub fn restore_inherited(saved: &Inherited) {
    for sig in 1..=MAX_SIGNAL {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        raw_set_default_or_ignore(sig, saved.ignored.contains(sig));
    }
    raw_sigprocmask(libc::SIG_SETMASK, Some(&saved.blocked), None);
}

/// What a wait for a signal produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Signal `signo` arrived. `own`: ward itself is the sender, which is how the kernel
    /// raises a signal at ward for ward's own doing (SIGPIPE after writing to a closed pipe);
    /// such a signal is not news for anyone else.
    Signal { signo: i32, own: bool },
    /// The timeout passed.
    TimedOut,
    /// A handler ran (a sent fault signal: see [`take_sent_faults`]), or the wait failed.
    Interrupted,
}

/// Waits for one of the (blocked) signals in `set`. With no timeout the thread sleeps in the
/// kernel until a signal comes: no timer, no wake-ups.
pub fn wait(set: SigSet, timeout: Option<Duration>) -> Received {
    let ts = timeout.map(|d| {
        // SAFETY: timespec is plain old data; all-zero is valid.
        let mut t: libc::timespec = unsafe { std::mem::zeroed() };
        t.tv_sec = d.as_secs().min(i32::MAX as u64) as _;
        t.tv_nsec = d.subsec_nanos() as _;
        t
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: siginfo_t is plain old data for which all-zero bytes are valid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` points to a live 8-byte kernel sigset, `info` to a live siginfo_t, and
    // `ts_ptr` is null or points to a live timespec.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_rt_sigtimedwait,
            &set.0 as *const u64,
            &mut info as *mut libc::siginfo_t,
            ts_ptr,
            SIGSET_BYTES,
        )
    };
    if rc > 0 {
        // SAFETY: si_pid is meaningful (and initialised, all-zero otherwise) for the sent and
        // SIGCHLD signals this returns; it is only compared, never dereferenced.
        let sender = unsafe { info.si_pid() };
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        return Received::Signal {
            signo: rc as i32,
            own: info.si_code <= 0 && sender == me,
        };
    }
    match nix::errno::Errno::last() {
        nix::errno::Errno::EAGAIN => Received::TimedOut,
        _ => Received::Interrupted,
    }
}

/// Fault signals that another process sent to ward and that are waiting to be forwarded.
static SENT_FAULTS: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // Only async-signal-safe work here: atomics and raw system calls.
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let (code, sender) = unsafe {
        if info.is_null() {
            (1, 0)
        } else {
            ((*info).si_code, (*info).si_pid())
        }
    };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    if code <= 0 && sender != me {
        // Sent by another process (kill, sigqueue, tgkill): remember it and make sure the main
        // loop wakes up even if it was not yet inside its wait, by queueing a SIGCHLD (blocked,
        // never forwarded, only ever causes a harmless reap pass).
        SENT_FAULTS.fetch_or(1u64 << (sig - 1), Ordering::SeqCst);
        // SAFETY: kill is async-signal-safe.
        unsafe {
            libc::kill(me, libc::SIGCHLD);
        }
    } else {
        // A real fault in ward itself, or its own abort(): fall back to the default action so
        // the kernel kills ward as it should.
        raw_set_default_or_ignore(sig, false);
        if code > 0
            && !matches!(
                sig,
                libc::SIGSEGV | libc::SIGBUS | libc::SIGILL | libc::SIGFPE
            )
        {
            // TRAP and SYS (int3, seccomp) do not fault again when the handler returns.
            // SAFETY: async-signal-safe calls; abort() is the way out for PID 1, which ignores
            // signals it sends itself while they are at SIG_DFL.
            unsafe {
                if me != 1 {
                    libc::syscall(libc::SYS_tgkill, me, libc::syscall(libc::SYS_gettid), sig);
                } else {
                    libc::abort();
                }
            }
        }
    }
}

/// Installs handlers on the fault signals that tell a fault (kill ward) from a signal some
/// process sent (queue it for forwarding). tini and catatonit leave these at SIG_DFL, so a
/// `kill -ABRT 1` never reaches their child.
///
/// Call this *before* [`block_all_but_faults`]: musl's `sigaction` unblocks its internal
/// signals 33 and 34 the first time any handler is installed in a single-threaded process.
pub fn catch_sent_faults() -> bool {
    let mut ok = true;
    for sig in FAULTS {
        // SAFETY: sigaction is plain old data; all-zero is a valid starting value.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_fault as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        // SAFETY: `act` is initialised, the handler has the SA_SIGINFO signature and only does
        // async-signal-safe work, and the mask it points to is live.
        unsafe {
            libc::sigemptyset(&mut act.sa_mask);
            ok &= libc::sigaction(sig, &act, std::ptr::null_mut()) == 0;
        }
    }
    ok
}

/// Takes (and clears) the fault signals sent by other processes since the last call.
pub fn take_sent_faults() -> SigSet {
    SigSet(SENT_FAULTS.swap(0, Ordering::SeqCst))
}

/// Gets musl's one-time thread set-up over with: the first thread a process creates makes
/// musl unblock its internal signals 33 and 34 in the creating thread, and every thread created
/// after inherits that. Call this, then block again, before starting threads that must not
/// take those signals (a glibc program's SIGRTMIN is 34; its default action kills).
pub fn prepare_for_threads() {
    if let Ok(t) = std::thread::Builder::new().spawn(|| {}) {
        let _ = t.join();
    }
}

/// Takes every pending signal in `set` without waiting, and returns them in order.
pub fn drain(set: SigSet) -> Vec<i32> {
    let mut out = Vec::new();
    while let Received::Signal { signo, .. } = wait(set, Some(Duration::ZERO)) {
        out.push(signo);
    }
    out
}

/// The calling thread's kernel thread id.
pub fn thread_id() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

/// Sends `sig` to one thread of this process (to wake it from a signal wait).
pub fn wake_thread(tid: i32, sig: i32) {
    // SAFETY: tgkill with our own pid and a thread id of this process.
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, sig);
    }
}

/// Sends `sig` to `pid` (a negative pid names a process group, -1 everyone ward may signal).
pub fn send(pid: i32, sig: i32) -> Result<(), nix::errno::Errno> {
    // SAFETY: kill has no memory-safety preconditions.
    let rc = unsafe { libc::kill(pid, sig) };
    nix::errno::Errno::result(rc).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigset_bits() {
        let s = SigSet::EMPTY.with(1).with(64).with(34);
        assert!(s.contains(1) && s.contains(34) && s.contains(64));
        assert!(!s.contains(2) && !s.contains(0) && !s.contains(65));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![1, 34, 64]);
        assert!(!ALL_BUT_FAULTS.contains(libc::SIGSEGV) && ALL_BUT_FAULTS.contains(34));
    }
}
