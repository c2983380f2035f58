//! The health personality: `HEALTHCHECK CMD ["/ward", "health", ...]` and Kubernetes exec
//! probes. Options → checks (a thread per target, or the main thread for one; never a
//! process) → exit 0 or 1, within one hard deadline. On failure, one line per failing target
//! on stderr, starting with the target; credentials never appear. Exit 2 is never used:
//! Docker reserves it.

use std::ffi::OsString;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::applet::Invocation;
use crate::check::options;
use crate::check::{self, CheckArgs, Deadline, Prepared, Progress, Target};
use crate::cli::{self, parse_env, parse_opt};
use crate::error::Error;
use crate::sys::signals::{self, Received};
use crate::{exit, log};

const APPLET: &str = "health";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Docker keeps 4096 bytes of probe output; each line stays well under that.
const MAX_LINE: usize = 299;

struct Options {
    timeout: Duration,
    any: bool,
    verbose: bool,
    targets: Vec<Target>,
    check: check::CheckOptions,
}

/// `ward health ...`
pub fn run(inv: Invocation) -> Result<u8, Error> {
    let opts = parse(inv.args)?;
    let deadline = Deadline::after(opts.timeout);
    // One target is checked on this thread (a thread of its own costs 0.1-0.2 ms, about 15% of
    // a check on loopback), and the watcher holds the hard deadline for it.
    let late = match &opts.targets[..] {
        [target] => Some(Late {
            target: target.to_string(),
            deadline,
            progress: Arc::default(),
        }),
        _ => None,
    };
    let progress = late.as_ref().map(|l| l.progress.clone());
    // Before anything that could take time (reading the TLS files).
    let watching = watch_for_termination(late);
    let prepared = match Prepared::new(opts.check.clone(), &opts.targets) {
        Ok(prepared) => Arc::new(prepared),
        Err(e) => {
            end_first();
            return Err(e);
        }
    };
    Ok(check_all(
        &opts,
        prepared,
        &deadline,
        progress.filter(|_| watching),
    ))
}

/// A check running on the main thread, which the watcher ends at its deadline: one line, as
/// [`check::probe_all`] gives for a check still running then, and exit 1.
pub(crate) struct Late {
    target: String,
    deadline: Deadline,
    progress: Arc<Progress>,
}

/// Taken by whichever ends a [`Late`] check first: the check itself, or the watcher.
static ENDED: AtomicBool = AtomicBool::new(false);

/// Takes [`ENDED`] for the main thread; if the watcher has it, its line is out and it ends the
/// process, so this thread waits for that.
fn end_first() {
    if ENDED.swap(true, Ordering::SeqCst) {
        loop {
            std::thread::park();
        }
    }
}

/// A health check exits 0 or 1, always: SIGPIPE is ignored (a closed stderr costs the line,
/// not the verdict), and every other signal that would end or stop the process (SIGTERM from
/// Docker or the kubelet giving up, Ctrl-C, HUP, QUIT, USR1, USR2, ALRM, the real-time
/// signals, TSTP/TTIN/TTOU, and SEGV/ABRT/BUS/... when another process sends them) ends the
/// check at once with 1 and one line. They are blocked before any thread starts, so only this
/// watcher receives them; a sent fault signal reaches it through the fault handlers, which
/// queue it and raise a SIGCHLD (a real fault in ward still kills it). Only SIGKILL and
/// SIGSTOP, which nothing can catch, are left. With `late`, the watcher also ends that check
/// at its deadline. False when there is no watcher (the signals could not be blocked, or the
/// thread not started).
pub(crate) fn watch_for_termination(late: Option<Late>) -> bool {
    signals::ignore_sigpipe();
    signals::catch_sent_faults();
    // musl unblocks its internal signals (32-34) in the thread that creates the first thread:
    // have that done now, so the block below is the last word for every thread.
    signals::prepare_for_threads();
    let mut set = signals::ALL_BUT_FAULTS;
    for keep in [
        libc::SIGKILL,
        libc::SIGSTOP,
        libc::SIGPIPE,
        libc::SIGCONT,
        libc::SIGURG,
        libc::SIGWINCH,
    ] {
        set = set.without(keep);
    }
    if !signals::block_in_thread(set) {
        return false;
    }
    let spawned = std::thread::Builder::new().spawn(move || {
        let mut late = late;
        loop {
            let left = late
                .as_ref()
                .map(|l| l.deadline.end().saturating_duration_since(Instant::now()));
            let signo = match signals::wait(set, left) {
                Received::TimedOut => {
                    if let Some(l) = late.take().filter(|_| !ENDED.swap(true, Ordering::SeqCst)) {
                        report(&format!(
                            "{}: {}",
                            l.target,
                            l.deadline.timed_out(l.progress.get()).0
                        ));
                        std::process::exit(i32::from(exit::FAILURE));
                    }
                    continue;
                }
                Received::Signal { signo, .. } if signo == libc::SIGCHLD => {
                    // Raised by the fault handler for a sent fault signal (health has no
                    // children of its own).
                    match signals::take_sent_faults().iter().next() {
                        Some(fault) => fault,
                        None => continue,
                    }
                }
                Received::Signal { signo, .. } => signo,
                _ => continue,
            };
            log::said(format_args!("stopped by {}", cli::signal_name(signo)));
            std::process::exit(i32::from(exit::FAILURE));
        }
    });
    spawned.is_ok()
}

/// Runs every check concurrently and reports. 0 when all (or, with --any, one) are healthy.
/// With `progress`, the one target is checked on this thread, the watcher holding the deadline.
fn check_all(
    opts: &Options,
    prepared: Arc<Prepared>,
    deadline: &Deadline,
    progress: Option<Arc<Progress>>,
) -> u8 {
    let results = match (&opts.targets[..], progress) {
        ([target], Some(progress)) => {
            let start = Instant::now();
            let result = check::probe(target, &prepared, deadline, &progress);
            end_first();
            vec![Some((result, start.elapsed()))]
        }
        _ => check::probe_all(&opts.targets, &prepared, deadline, opts.any),
    };
    let healthy_count = results
        .iter()
        .filter(|r| matches!(r, Some((Ok(_), _))))
        .count();
    let ok = if opts.any {
        healthy_count > 0
    } else {
        healthy_count == opts.targets.len()
    };
    // Silent on success (failures of other targets included, with --any) unless verbose.
    for (i, target) in opts.targets.iter().enumerate() {
        match results.get(i).and_then(|r| r.as_ref()) {
            Some((Ok(detail), took)) => {
                if opts.verbose {
                    report(&format!("{target}: {detail} in {}", format_took(*took)));
                }
            }
            Some((Err(failure), _)) if !ok || opts.verbose => {
                report(&format!("{target}: {}", failure.0));
            }
            Some((Err(_), _)) | None => {}
        }
    }
    if ok { exit::SUCCESS } else { exit::FAILURE }
}

/// One line on stderr, under 300 bytes.
fn report(line: &str) {
    log::line(&log::one_line(line, MAX_LINE));
}

fn format_took(d: Duration) -> String {
    let us = d.as_micros();
    if us >= 10_000 {
        format!("{}ms", us / 1000)
    } else {
        format!("{}.{}ms", us / 1000, (us % 1000) / 100)
    }
}

/// Command line and environment.
fn parse(args: Vec<OsString>) -> Result<Options, Error> {
    // The command line first (so --help works even with a bad environment); the environment
    // twins fill in what it left out.
    let mut timeout: Option<Duration> = None;
    let mut any: Option<bool> = None;
    let mut verbose: Option<bool> = None;
    let parsed = options::parse_command_line(args, APPLET, |key, parser| {
        if key.is(Some('t'), "timeout") {
            timeout = Some(parse_opt(
                "--timeout",
                parser.value()?,
                cli::parse_duration,
            )?);
        } else if key.is(None, "any") {
            any = Some(true);
        } else if key.is(Some('v'), "verbose") {
            verbose = Some(true);
        } else {
            return Ok(false);
        }
        Ok(true)
    })?;
    let (checks, target_args) = parsed;
    let checks = checks.or(CheckArgs::from_env(APPLET)?);
    let timeout = match (timeout, cli::env_twin(APPLET, "timeout")?) {
        (Some(t), _) => t,
        (None, Some(v)) => parse_env(&v, cli::parse_duration)?,
        (None, None) => DEFAULT_TIMEOUT,
    };
    let any = match (any, cli::env_twin(APPLET, "any")?) {
        (Some(a), _) => a,
        (None, Some(v)) => parse_env(&v, cli::parse_bool)?,
        (None, None) => false,
    };
    let verbose = match (verbose, cli::env_twin(APPLET, "verbose")?) {
        (Some(a), _) => a,
        (None, Some(v)) => parse_env(&v, cli::parse_bool)?,
        (None, None) => false,
    };
    if timeout.is_zero() {
        return Err(Error::usage("--timeout must be more than 0"));
    }
    let targets = match cli::env_twin(APPLET, "targets")? {
        Some((name, value)) if target_args.is_empty() => {
            let targets = check::parse_list(&value, false)
                .map_err(|e| Error::usage(format!("{name}: {e}")))?;
            if targets.is_empty() {
                return Err(Error::usage(format!("{name} is empty")));
            }
            targets
        }
        _ => target_args
            .iter()
            .map(|t| Target::parse(t, false).map_err(Error::Usage))
            .collect::<Result<Vec<_>, _>>()?,
    };
    if targets.is_empty() {
        return Err(Error::usage(format!(
            "no target (give one, e.g. http://127.0.0.1:8080/healthz, or set {})",
            cli::twin(APPLET, "targets")
        )));
    }
    Ok(Options {
        timeout,
        any,
        verbose,
        targets,
        check: checks.finish()?,
    })
}

pub fn help() -> String {
    format!(
        "\
Usage: ward health [OPTIONS] TARGET...
       health | healthcheck [OPTIONS] TARGET...

Checks every TARGET, concurrently and in-process, and exits 0 when all are healthy, 1 for
anything else (unhealthy, unreachable, timed out, bad usage). Never 2: Docker reserves it.
Silent on success; one line per failing target on stderr.

TARGET: http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH (IPv6 as [::1]), tcp://HOST:PORT
(a connect check), unix:///PATH (a connect check), and databases that are ready, not just
listening: postgres://[USER@]HOST[:PORT][/DB], redis://[[USER]:PASSWORD@]HOST[:PORT] (rediss://
with TLS), mysql://[USER[:PASSWORD]@]HOST[:PORT] (a login when a user is given); gRPC:
grpc[s]://HOST[:PORT][/SERVICE], healthy when SERVING. HTTP is healthy for statuses 200-399. Loopback targets (localhost, 127.0.0.0/8 however written, ::1)
never go through a proxy; every address a name resolves to is tried, IPv6 and IPv4. At most
64 targets.

Options (environment twin in brackets):
  -t, --timeout DURATION      deadline for the whole run, name resolution included
                              (default 5s) [WARD_HEALTH_TIMEOUT]
      --any                   healthy when any target is [WARD_HEALTH_ANY=1]
  -v, --verbose               one line per target on success too [WARD_HEALTH_VERBOSE=1]
  -h, --help                  show this help
{}
With no TARGET, targets come from WARD_HEALTH_TARGETS (space- or comma-separated), so an image
can say HEALTHCHECK CMD [\"/ward\", \"health\"] and operators set the target with -e.
",
        check::options::HELP
    )
}
