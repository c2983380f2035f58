//! The event loop of a running init. It sleeps in the kernel until a signal comes (no timer
//! unless a deadline is pending, so an idle init costs no wake-ups), reaps every zombie, forwards
//! every other signal, and when the child is gone lets the rest shut down gracefully.
//!
//! Rule: nothing here returns early or panics. Failures are logged and the loop goes on; the
//! only way out is the end of the shutdown sequence, which returns the child's exit status.

use std::time::{Duration, Instant};

use super::options::Options;
use super::{leftovers, name};
use crate::sys::process::{self, Ended, Reaped};
use crate::sys::signals::{self, ALL_BUT_FAULTS, Received};
use crate::{cli, debug, exit, info, warn};

/// How long an app stopped for being unhealthy gets between SIGTERM and SIGKILL when
/// --kill-after does not say (docker stop's default).
const UNHEALTHY_GRACE: Duration = Duration::from_secs(10);

/// How long ward keeps reaping after the final SIGKILL (a process in uninterruptible sleep dies
/// only when it wakes up); after that, what is left is re-parented or killed by the kernel.
const AFTER_KILL: Duration = Duration::from_millis(500);

/// Who forwarded signals go to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    /// The main child (or its group with --pgroup).
    Child,
    /// Everything left after the main child exited.
    Leftovers,
}

struct Supervisor<'a> {
    opts: &'a Options,
    child: i32,
    pid1: bool,
    /// When --kill-after is armed: the moment the child gets SIGKILL.
    kill_at: Option<Instant>,
    /// Warned once that /proc could not be read.
    warned_proc: bool,
    /// The watchdog found the app unhealthy and ward is stopping it.
    stopping_unhealthy: bool,
}

/// Runs until the child has exited and the rest has been shut down; returns the exit code.
/// `initial` are signals to forward first: the parent-death signal when the parent was already
/// gone before it could be armed, and whatever arrived during `--wait`.
pub fn run(opts: &Options, child: i32, pid1: bool, initial: &[i32]) -> u8 {
    let mut s = Supervisor {
        opts,
        child,
        pid1,
        kill_at: None,
        warned_proc: false,
        stopping_unhealthy: false,
    };
    for &sig in initial {
        s.forward(sig, Target::Child);
    }
    let ended = s.until_child_exits();
    let mut code = exit::from_ended(ended);
    info!("child {child} {}", describe(ended));
    if s.stopping_unhealthy {
        // Whatever the app said on its way out (0 after a clean SIGTERM, say), the container
        // must not look like it finished well; --remap-exit does not apply.
        warn!(
            "the app was stopped for being unhealthy ({}); exiting with status {}",
            describe(ended),
            exit::UNHEALTHY
        );
        code = exit::UNHEALTHY;
    } else if opts.remap_exit.contains(code) {
        debug!("status {code} remapped to 0");
        code = exit::SUCCESS;
    }
    s.shut_down_leftovers();
    code
}

fn describe(ended: Ended) -> String {
    match ended {
        Ended::Exited(c) => format!("exited with status {c}"),
        Ended::Signaled(s) => format!("was killed by {}", name(s)),
    }
}

impl Supervisor<'_> {
    /// Reaps everything that has ended. Returns the main child's end if it was among them, and
    /// whether ward has no children left at all.
    fn reap_all(&mut self) -> (Option<Ended>, bool) {
        let mut main = None;
        loop {
            match process::reap_one() {
                Reaped::Process { pid, ended } if pid == self.child => main = Some(ended),
                Reaped::Process { pid, ended } => {
                    if self.opts.warn_reaped && self.opts.tini_wording {
                        warn!("Reaped zombie process with pid={pid}");
                    } else if self.opts.warn_reaped {
                        warn!("reaped zombie pid {pid}, which {}", describe(ended));
                    } else {
                        debug!("reaped pid {pid}, which {}", describe(ended));
                    }
                }
                Reaped::NoneReady => return (main, false),
                Reaped::NoChildren => return (main, true),
            }
        }
    }

    /// Phase one: the child runs. Forward, reap, enforce --kill-after.
    fn until_child_exits(&mut self) -> Ended {
        // Fault signals stay unblocked and reach ward through their handler
        // (`signals::catch_sent_faults`).
        let set = ALL_BUT_FAULTS;
        // Reap at the start and after every SIGCHLD (pending SIGCHLDs coalesce, but one stays
        // pending until taken, and each pass drains every zombie): a forwarded signal costs
        // one wait and one kill, nothing more.
        let mut reap = true;
        loop {
            for sig in signals::take_sent_faults().iter() {
                self.forward(sig, Target::Child);
            }
            if !self.stopping_unhealthy && super::watchdog::unhealthy() {
                self.stop_unhealthy();
            }
            if reap {
                reap = false;
                match self.reap_all() {
                    (Some(ended), _) => return ended,
                    (None, true) => {
                        // Cannot happen (only ward reaps its children), but never wait forever
                        // for a child that no longer exists.
                        warn!("the child is gone but its status was lost; exiting with status 1");
                        return Ended::Exited(1);
                    }
                    (None, false) => {}
                }
            }
            let timeout = self
                .kill_at
                .map(|at| at.saturating_duration_since(Instant::now()));
            match signals::wait(set, timeout) {
                Received::Signal { signo, .. } if signo == libc::SIGCHLD => reap = true,
                Received::Signal { signo, own: true } => {
                    debug!("not forwarding {}: raised at ward itself", name(signo));
                }
                Received::Signal { signo, .. } => self.forward(signo, Target::Child),
                Received::TimedOut => {
                    self.kill_child_now();
                    reap = true;
                }
                Received::Interrupted => reap = true,
            }
        }
    }

    fn forward(&mut self, sig: i32, target: Target) {
        let Some(to) = self.opts.rewrite.get(sig) else {
            debug!("dropped {} (rewritten to none)", name(sig));
            return;
        };
        match target {
            Target::Child => {
                let pid = if self.opts.pgroup {
                    -self.child
                } else {
                    self.child
                };
                match signals::send(pid, to) {
                    Ok(()) => debug!("forwarded {} to {pid} as {}", name(sig), name(to)),
                    Err(nix::errno::Errno::ESRCH) => {
                        debug!("{} not forwarded: {pid} is gone", name(sig))
                    }
                    Err(e) => warn!("cannot forward {} to {pid}: {}", name(to), e.desc()),
                }
                if (sig == libc::SIGTERM || sig == libc::SIGINT) && self.kill_at.is_none() {
                    if let Some(after) = self.opts.kill_after {
                        self.kill_at = Some(cli::later(after));
                    }
                }
            }
            Target::Leftovers => self.signal_leftovers(&[to]),
        }
    }

    /// The watchdog fired: SIGTERM to the app (as `docker stop` would send it to ward, so
    /// --rewrite applies), SIGKILL after --kill-after or 10 s.
    fn stop_unhealthy(&mut self) {
        self.stopping_unhealthy = true;
        let grace = self.opts.kill_after.unwrap_or(UNHEALTHY_GRACE);
        self.kill_at = Some(cli::later(grace));
        self.forward(libc::SIGTERM, Target::Child);
    }

    /// --kill-after expired: the child ignored SIGTERM/SIGINT for too long.
    fn kill_child_now(&mut self) {
        self.kill_at = None;
        let pid = if self.opts.pgroup {
            -self.child
        } else {
            self.child
        };
        let grace = match (self.stopping_unhealthy, self.opts.kill_after) {
            (_, Some(after)) => after,
            (true, None) => UNHEALTHY_GRACE,
            (false, None) => Duration::ZERO,
        };
        let sent = if self.stopping_unhealthy {
            "the SIGTERM for being unhealthy"
        } else {
            "SIGTERM/SIGINT"
        };
        warn!(
            "child still running {} after {sent}; sending SIGKILL",
            cli::format_duration(grace)
        );
        if let Err(e) = signals::send(pid, libc::SIGKILL) {
            if e != nix::errno::Errno::ESRCH {
                warn!("cannot kill {pid}: {}", e.desc());
            }
        }
    }

    /// Sends `sigs`, in order, to everything left: the whole PID namespace when ward is PID 1,
    /// otherwise every descendant of ward (read from /proc once for all of them).
    fn signal_leftovers(&mut self, sigs: &[i32]) {
        if self.pid1 {
            for &sig in sigs {
                match signals::send(-1, sig) {
                    Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
                    Err(e) => warn!(
                        "cannot send {} to the remaining processes: {}",
                        name(sig),
                        e.desc()
                    ),
                }
            }
            return;
        }
        let targets = match leftovers::descendants(process::pid()) {
            Some(pids) => pids,
            None => {
                if !self.warned_proc {
                    warn!("cannot read /proc; signalling only the child's process group");
                    self.warned_proc = true;
                }
                vec![-self.child]
            }
        };
        for &sig in sigs {
            for &pid in &targets {
                let _ = signals::send(pid, sig);
            }
        }
    }

    /// Phase two: the child is gone. Give the rest `--grace` to exit after SIGTERM, then
    /// SIGKILL whatever is left. With no grace, return at once (tini's behaviour).
    fn shut_down_leftovers(&mut self) {
        let (_, none_left) = self.reap_all();
        if none_left || self.opts.grace.is_zero() {
            return;
        }
        info!(
            "sending SIGTERM to the remaining processes; SIGKILL in {}",
            cli::format_duration(self.opts.grace)
        );
        // SIGCONT too: a stopped process keeps SIGTERM pending and could never run its handler.
        self.signal_leftovers(&[libc::SIGTERM, libc::SIGCONT]);
        if self.wait_for_leftovers(cli::later(self.opts.grace), true) {
            return;
        }
        warn!(
            "processes still running {} after SIGTERM; sending SIGKILL",
            cli::format_duration(self.opts.grace)
        );
        self.signal_leftovers(&[libc::SIGKILL]);
        self.wait_for_leftovers(cli::later(AFTER_KILL), false);
    }

    /// Reaps until no child is left (true) or `deadline` passes (false). Signals that arrive
    /// meanwhile go to the remaining processes when `forward` is set.
    fn wait_for_leftovers(&mut self, deadline: Instant, forward: bool) -> bool {
        // Fault signals stay unblocked and reach ward through their handler
        // (`signals::catch_sent_faults`).
        let set = ALL_BUT_FAULTS;
        loop {
            for sig in signals::take_sent_faults().iter() {
                if forward {
                    self.forward(sig, Target::Leftovers);
                }
            }
            if self.reap_all().1 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match signals::wait(set, Some(left)) {
                Received::Signal { signo, .. } if signo == libc::SIGCHLD => {}
                Received::Signal { own: true, .. } => {}
                Received::Signal { signo, .. } if forward => self.forward(signo, Target::Leftovers),
                Received::TimedOut => return false,
                Received::Signal { .. } | Received::Interrupted => {}
            }
        }
    }
}
