//! Polling targets until they are ready: one thread per target, each attempt under its own
//! deadline, progress on stderr (a line when a target becomes ready, "still waiting" at most
//! every 10 s per target). The calling thread only collects signals, so SIGTERM/SIGINT end the
//! wait at once; the coordinator wakes it with a SIGCHLD (harmless everywhere ward runs) when
//! it is done. Shared by `ward wait` and `ward init --wait` (which meet here, in check/, and
//! never in each other).
//!
//! Every thread starts with every signal blocked (see `signals::prepare_for_threads`), so no
//! signal meant for ward or its child can be taken, or kill the process, in a poller.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::check::mailbox::Mailbox;
use crate::check::{self, CheckArgs, Deadline, Prepared, Progress, Target};
use crate::cli::parse_env;
use crate::cli::{self, format_duration};
use crate::error::Error;
use crate::log;
use crate::sys::signals::{self, ALL_BUT_FAULTS, Received};

/// The defaults of `ward wait` (and of `ward init --wait`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a target that is not ready yet is mentioned.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Message levels: 0 nothing, 1 errors (the timeout report), 2 progress, 3 every attempt.
pub const QUIET: u8 = 1;
pub const PROGRESS: u8 = 2;
pub const DEBUG: u8 = 3;

pub struct Plan {
    pub targets: Vec<Target>,
    pub prepared: Prepared,
    /// None: no time limit (see `attempts`).
    pub timeout: Option<Duration>,
    /// Give up after this many attempts per target (docker-compose-wait's WAIT_TIMEOUT=0).
    pub attempts: Option<u32>,
    pub interval: Duration,
    pub attempt_timeout: Duration,
    pub any: bool,
    pub level: u8,
}

/// How a wait ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    TimedOut,
    /// SIGTERM, SIGINT, SIGHUP or SIGQUIT arrived: the number.
    Signaled(i32),
}

impl Outcome {
    /// The exit code when the wait ends the process: None when ready.
    pub fn exit_code(&self) -> Option<u8> {
        match self {
            Outcome::Ready => None,
            Outcome::TimedOut => Some(crate::exit::FAILURE),
            Outcome::Signaled(sig) => Some(crate::exit::from_signal(*sig)),
        }
    }
}

/// Signals that end a wait (their default action would end the process anyway).
pub fn is_ending(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGTERM | libc::SIGINT | libc::SIGHUP | libc::SIGQUIT
    )
}

/// A progress or error line, `ward <applet>[<pid>]: text`, when `level` reaches `wanted`.
pub fn say(level: u8, wanted: u8, text: &str) {
    if level >= wanted {
        log::said(format_args!("{text}"));
    }
}

/// One event from a target's poller.
struct Attempt {
    index: usize,
    result: Result<String, check::Failure>,
}

/// Stop flag and live-poller count, with a condition variable so that sleeping pollers wake
/// at once when told to stop.
#[derive(Default)]
struct Control {
    state: Mutex<(bool, usize)>,
    changed: Condvar,
}

impl Control {
    fn lock(&self) -> std::sync::MutexGuard<'_, (bool, usize)> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn stopped(&self) -> bool {
        self.lock().0
    }
    fn stop(&self) {
        self.lock().0 = true;
        self.changed.notify_all();
    }
    fn started(&self) {
        self.lock().1 += 1;
    }
    fn finished(&self) {
        self.lock().1 -= 1;
        self.changed.notify_all();
    }
    /// Sleeps `d`, or less when stopped; returns whether it was stopped.
    fn sleep(&self, d: Duration) -> bool {
        let end = cli::later(d);
        let mut g = self.lock();
        while !g.0 {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = match self.changed.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
    /// Waits until every poller has finished, for at most `limit`.
    fn settle(&self, limit: Duration) {
        let end = cli::later(limit);
        let mut g = self.lock();
        while g.1 > 0 {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            g = match self.changed.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

/// Waits until the plan's targets are ready, it gives up, or an ending signal arrives; returns
/// how it ended and the other signals that arrived meanwhile (init forwards them to its child
/// once it runs). With `settle`, sleeping pollers are given a moment to leave before this
/// returns (init lives on after the wait; `ward wait` execs at once).
pub fn wait(plan: Arc<Plan>, settle: bool) -> (Outcome, Vec<i32>) {
    signals::prepare_for_threads();
    signals::block_all_but_faults();
    let done: Arc<Mutex<Option<Outcome>>> = Arc::default();
    let control = Arc::new(Control::default());
    let main_tid = signals::thread_id();
    {
        let (worker_plan, done, worker_control) = (plan.clone(), done.clone(), control.clone());
        let spawned = std::thread::Builder::new().spawn(move || {
            let outcome = coordinate(&worker_plan, &worker_control);
            worker_control.stop();
            *done.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            signals::wake_thread(main_tid, libc::SIGCHLD);
        });
        if spawned.is_err() {
            say(
                plan.level,
                QUIET,
                "cannot start a thread to poll the targets",
            );
            return (Outcome::TimedOut, Vec::new());
        }
    }
    let set = ALL_BUT_FAULTS;
    let mut others = Vec::new();
    let outcome = loop {
        if let Some(outcome) = done.lock().unwrap_or_else(|e| e.into_inner()).take() {
            break outcome;
        }
        match signals::wait(set, None) {
            Received::Signal { signo, .. } if is_ending(signo) => {
                control.stop();
                say(
                    plan.level,
                    QUIET,
                    &format!(
                        "stopped by {} while waiting",
                        crate::cli::signal_name(signo)
                    ),
                );
                return (Outcome::Signaled(signo), others);
            }
            Received::Signal { signo, .. } if signo != libc::SIGCHLD => others.push(signo),
            _ => {}
        }
    };
    if settle {
        // Sleeping pollers wake at once and leave; one still inside an attempt (with --any, a
        // silent target) is not waited for: it has every signal blocked and ends within its
        // attempt timeout, and holding the child back for it would defeat --any.
        control.settle(Duration::from_millis(100));
    }
    (outcome, others)
}

/// Sleeps up to `d` in the calling thread (whose signals are blocked), ending early with the
/// signal when an ending one arrives; other signals are taken and dropped. For WAIT_BEFORE and
/// WAIT_AFTER.
pub fn pause(d: Duration) -> Option<i32> {
    let set = ALL_BUT_FAULTS;
    let end = cli::later(d);
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if let Received::Signal { signo, .. } = signals::wait(set, Some(left)) {
            if is_ending(signo) {
                return Some(signo);
            }
        }
    }
}

/// Runs the pollers and decides. Returns Ready or TimedOut.
fn coordinate(plan: &Arc<Plan>, control: &Arc<Control>) -> Outcome {
    let start = Instant::now();
    let end = plan.timeout.map(|t| start + t);
    let mailbox: Arc<Mailbox<Attempt>> = Arc::default();
    for index in 0..plan.targets.len() {
        let (plan, worker_control, sender) = (plan.clone(), control.clone(), mailbox.clone());
        control.started();
        let spawned = std::thread::Builder::new().spawn(move || {
            poll(&plan, index, end, &worker_control, &sender);
            worker_control.finished();
        });
        if spawned.is_err() {
            control.finished();
            mailbox.send(Attempt {
                index,
                result: Err(check::Failure::new("cannot start a thread")),
            });
        }
    }
    say(
        plan.level,
        DEBUG,
        &format!(
            "waiting for {} target(s), timeout {}, every {}",
            plan.targets.len(),
            plan.timeout.map_or("none".into(), format_duration),
            format_duration(plan.interval)
        ),
    );
    let n = plan.targets.len();
    let mut ready = vec![false; n];
    let mut tries = vec![0u32; n];
    let mut last_error: Vec<Option<String>> = vec![None; n];
    let mut next_report: Vec<Instant> = vec![start + REPORT_EVERY; n];
    loop {
        let ready_count = ready.iter().filter(|r| **r).count();
        if ready_count == n || (plan.any && ready_count > 0) {
            return Outcome::Ready;
        }
        let now = Instant::now();
        let out_of_time = end.is_some_and(|e| now >= e);
        let out_of_tries = plan
            .attempts
            .is_some_and(|max| (0..n).all(|i| ready[i] || tries[i] >= max));
        if out_of_time || out_of_tries {
            let after = match (plan.timeout, plan.attempts) {
                (Some(t), _) if out_of_time => format!(" after {}", format_duration(t)),
                (_, Some(1)) => " after 1 attempt".to_string(),
                (_, Some(k)) => format!(" after {k} attempts"),
                _ => String::new(),
            };
            for (i, target) in plan.targets.iter().enumerate() {
                if !ready[i] {
                    let why = last_error[i].as_deref().unwrap_or("no attempt finished");
                    say(
                        plan.level,
                        QUIET,
                        &format!("{target}: not ready{after}: {why}"),
                    );
                }
            }
            return Outcome::TimedOut;
        }
        // "Still waiting" lines that are due.
        for (i, target) in plan.targets.iter().enumerate() {
            if !ready[i] && now >= next_report[i] {
                let why = last_error[i].as_deref().unwrap_or("no answer yet");
                say(
                    plan.level,
                    PROGRESS,
                    &format!(
                        "still waiting for {target} ({}): {why}",
                        format_duration(secs(now - start))
                    ),
                );
                next_report[i] = now + REPORT_EVERY;
            }
        }
        let mut wake = next_report
            .iter()
            .zip(&ready)
            .filter(|(_, r)| !**r)
            .map(|(t, _)| *t)
            .min()
            .unwrap_or(now + REPORT_EVERY);
        if let Some(e) = end {
            wake = wake.min(e);
        }
        if let Some(Attempt { index, result }) = mailbox.recv_until(wake) {
            if index >= n || ready[index] {
                continue;
            }
            tries[index] += 1;
            match result {
                Ok(detail) => {
                    ready[index] = true;
                    say(
                        plan.level,
                        PROGRESS,
                        &format!(
                            "{} is ready ({detail}) after {}",
                            plan.targets[index],
                            format_duration(tenths(start.elapsed()))
                        ),
                    );
                }
                Err(f) => {
                    say(
                        plan.level,
                        DEBUG,
                        &format!("{}: {}", plan.targets[index], f.0),
                    );
                    last_error[index] = Some(f.0);
                }
            }
        }
    }
}

fn secs(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

fn tenths(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64 / 100 * 100)
}

/// One target's poller: attempt, report, sleep the interval, until ready, out of attempts, or
/// told to stop.
fn poll(
    plan: &Plan,
    index: usize,
    end: Option<Instant>,
    control: &Control,
    mailbox: &Mailbox<Attempt>,
) {
    let Some(target) = plan.targets.get(index) else {
        return;
    };
    let mut tries = 0;
    loop {
        if control.stopped() || plan.attempts.is_some_and(|max| tries >= max) {
            return;
        }
        let mut limit = plan.attempt_timeout;
        if let Some(e) = end {
            limit = limit.min(e.saturating_duration_since(Instant::now()));
        }
        if limit.is_zero() {
            return;
        }
        let began = Instant::now();
        let result = check::probe(
            target,
            &plan.prepared,
            &Deadline::after(limit),
            &Progress::default(),
        );
        tries += 1;
        let ok = result.is_ok();
        mailbox.send(Attempt { index, result });
        if ok {
            return;
        }
        // The interval runs from the start of the attempt, so a slow failure does not add to it.
        let pause = plan.interval.saturating_sub(began.elapsed());
        if control.sleep(pause.max(Duration::from_millis(10))) {
            return;
        }
    }
}

/// The applet whose WARD_WAIT_* variables `ward init --wait` reads.
const WAIT: &str = "wait";

/// The plan for `ward init --wait`: its targets and timeout, with every other setting from
/// the WARD_WAIT_* variables.
pub fn plan_for_init(targets: Vec<Target>, timeout: Option<Duration>) -> Result<Plan, Error> {
    let checks = CheckArgs::from_env(WAIT)?.finish()?;
    let get = |opt: &str| -> Result<Option<Duration>, Error> {
        cli::env_twin(WAIT, opt)?
            .map(|v| parse_env(&v, cli::parse_duration))
            .transpose()
    };
    let flag = |opt: &str| -> Result<bool, Error> {
        Ok(cli::env_twin(WAIT, opt)?
            .map(|v| parse_env(&v, cli::parse_bool))
            .transpose()?
            .unwrap_or(false))
    };
    let attempt_timeout =
        get("attempt-timeout")?.unwrap_or_else(|| default_attempt_timeout(&checks));
    Ok(Plan {
        prepared: Prepared::new(checks, &targets)?,
        timeout,
        attempts: None,
        interval: get("interval")?
            .unwrap_or(DEFAULT_INTERVAL)
            .max(Duration::from_millis(10)),
        attempt_timeout: attempt_timeout.max(Duration::from_millis(1)),
        any: flag("any")?,
        level: if flag("quiet")? { QUIET } else { PROGRESS },
        targets,
    })
}

/// One attempt may take the default 5 s, or longer when the connect timeout asks for it (a
/// WAIT_HOST_CONNECT_TIMEOUT of 10 s must be able to take effect).
pub fn default_attempt_timeout(check: &crate::check::CheckOptions) -> Duration {
    DEFAULT_ATTEMPT_TIMEOUT.max(check.connect_timeout + Duration::from_secs(1))
}
