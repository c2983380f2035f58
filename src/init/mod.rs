//! The init personality: PID 1 for containers.
//!
//! Start-up is a straight line of phases; any of them may fail and end ward with an error,
//! because no child exists yet:
//!   1. block signals (before anything else, so none is lost or kills ward),
//!   2. read options and environment,
//!   3. become a child subreaper when not PID 1, set the parent-death signal,
//!   4. spawn the child with the signal state ward was started with,
//!   5. drop inherited fds and the working directory.
//!
//! Then [`supervise`] runs the one event loop. From the moment the child exists, nothing may
//! end ward early: every error becomes a warning, and no code on that side can panic.

mod leftovers;
mod options;
mod supervise;
mod watchdog;

use crate::applet::Invocation;
use crate::check::poll;
use crate::error::Error;
use crate::sys::{process, signals};
use crate::{cli, info, log, warn};

pub use options::{HELP, TINI_HELP, tini_version_line};
use options::{Options, Parsed};

/// `ward init ...`
pub fn run(inv: Invocation) -> Result<u8, Error> {
    block_signals()?;
    match options::parse(inv.args)? {
        Parsed::Run(opts) => start(*opts),
        Parsed::Done(code) => Ok(code),
    }
}

/// `tini ...` / `docker-init ...`
pub fn run_tini(inv: Invocation) -> Result<u8, Error> {
    block_signals()?;
    match options::parse_tini(inv.args)? {
        Parsed::Run(opts) => start(*opts),
        Parsed::Done(code) => Ok(code),
    }
}

/// Phase 1: catch fault signals that processes send (so they can be forwarded), and block
/// everything else.
fn block_signals() -> Result<(), Error> {
    // Handlers first: musl unblocks its internal signals 33 and 34 when the first handler is
    // installed, and the block below must have the last word.
    if !signals::catch_sent_faults() {
        return Err(Error::Failed("cannot install fault-signal handlers".into()));
    }
    if !signals::block_all_but_faults() {
        return Err(Error::Failed("cannot block signals".into()));
    }
    signals::default_sigchld();
    Ok(())
}

fn start(opts: Options) -> Result<u8, Error> {
    log::set_level(opts.verbosity);
    let pid1 = process::pid() == 1;

    // Phase 3: reaping must work even when ward is not PID 1 (--pid=host, nested inits, under
    // another supervisor), so become a subreaper; stay quiet unless that fails.
    if !pid1 {
        if let Err(e) = process::set_child_subreaper() {
            warn!(
                "cannot become a child subreaper ({}); orphans will escape ward",
                e.desc()
            );
        }
    }
    let mut initial = None;
    if let Some(sig) = opts.pdeathsig {
        let parent = process::parent_pid();
        process::set_parent_death_signal(sig)
            .map_err(|e| Error::Failed(format!("cannot set parent-death signal: {}", e.desc())))?;
        // The parent may have died before the prctl: then the signal would never come, so
        // forward it as soon as the child runs.
        if process::parent_pid() != parent {
            initial = Some(sig);
        }
    }

    // The watchdog's check options come from WARD_HEALTH_*: a bad one is a usage error now,
    // before the app starts.
    let watch = match &opts.health {
        Some(w) => {
            let checks = crate::check::CheckArgs::from_env("health")?.finish()?;
            let prepared = crate::check::Prepared::new(checks, &w.targets)?;
            // The first thread a process creates makes musl unblock its internal signals
            // 32-34 in the creating thread: have that done now, before the child exists, and
            // block again, so that a signal 34 is forwarded, not fatal, once the watchdog runs.
            signals::prepare_for_threads();
            if !signals::block_all_but_faults() {
                return Err(Error::Failed("cannot block signals".into()));
            }
            Some((w.clone(), prepared))
        }
        None => None,
    };

    // Phase 3b: wait for dependencies, with every signal already blocked: SIGTERM or SIGINT
    // (docker stop, Ctrl-C) ends ward at once.
    let mut pending: Vec<i32> = initial.into_iter().collect();
    if !opts.wait.is_empty() {
        let plan = poll::plan_for_init(opts.wait.clone(), opts.wait_timeout)?;
        let (outcome, others) = poll::wait(std::sync::Arc::new(plan), true);
        if let Some(code) = outcome.exit_code() {
            return Ok(code);
        }
        // Signals that came during the wait (the parent-death signal, say) go to the child.
        pending.extend(others);
    }

    // Phase 4.
    let take_tty = process::stdin_is_our_foreground_tty();
    let child = match process::spawn(&opts.program, &opts.args, signals::inherited(), take_tty) {
        Ok(pid) => pid,
        Err(process::SpawnError::Exec(err)) => {
            return Err(Error::Exec {
                program: opts.program.clone(),
                err,
            });
        }
        Err(process::SpawnError::Fork(err)) => {
            return Err(Error::Failed(format!(
                "cannot start {:?}: {}",
                opts.program,
                crate::error::describe_io(&err)
            )));
        }
    };
    info!(
        "started {:?} as pid {child}{}",
        opts.program,
        if pid1 {
            ""
        } else {
            " (ward is a subreaper, not PID 1)"
        }
    );

    // Phase 5: the child has its own copies; ward must not pin them for the container's life.
    process::close_fds_above_stderr();
    if let Err(e) = std::env::set_current_dir("/") {
        warn!(
            "cannot change directory to /: {}",
            crate::error::describe_io(&e)
        );
    }

    if let Some((w, prepared)) = watch {
        watchdog::start(w, prepared, signals::thread_id());
    }

    // From here on: no early exits.
    let code = supervise::run(&opts, child, pid1, &pending);
    info!("exiting with status {code}");
    Ok(code)
}

/// For messages: `SIGTERM` etc.
fn name(sig: i32) -> String {
    cli::signal_name(sig)
}
