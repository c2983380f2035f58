//! Polling targets until they are ready: one thread per target, each attempt under its own
//! deadline, progress on stderr (a line when a target becomes ready, "still waiting" at most
//! every 10 s per target). The calling thread only waits for signals, so SIGTERM/SIGINT end the
//! wait at once; the poller wakes it with a SIGCHLD (harmless everywhere ward runs) when done.
//! Shared by `ward wait` and `ward init --wait`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::check::mailbox::Mailbox;
use crate::check::{self, Deadline, Prepared, Progress, Target};
use crate::cli::format_duration;
use crate::log;
use crate::sys::signals::{self, FAULTS, Received, SigSet};

/// How often a target that is not ready yet is mentioned.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Message levels: 0 nothing, 1 errors (the timeout report), 2 progress, 3 every attempt.
pub const QUIET: u8 = 1;
pub const PROGRESS: u8 = 2;
pub const DEBUG: u8 = 3;

pub struct Plan {
    pub targets: Vec<Target>,
    pub prepared: Prepared,
    /// None: wait forever.
    pub timeout: Option<Duration>,
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
    /// SIGTERM or SIGINT (or another ending signal) arrived: the number.
    Signaled(i32),
}

fn say(level: u8, wanted: u8, text: &str) {
    if level >= wanted {
        log::line(&format!("ward {}: {text}", log::applet()));
    }
}

/// One event from a target's poller.
struct Attempt {
    index: usize,
    result: Result<String, check::Failure>,
}

/// Waits until the plan's targets are ready, it times out, or an ending signal arrives. The
/// calling thread must have (almost) every signal blocked: it collects them here.
pub fn wait(plan: Arc<Plan>) -> Outcome {
    let done: Arc<Mutex<Option<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let main_tid = signals::thread_id();
    {
        let (worker_plan, done, worker_stop) = (plan.clone(), done.clone(), stop.clone());
        let spawned = std::thread::Builder::new().spawn(move || {
            let outcome = coordinate(&worker_plan, &worker_stop);
            worker_stop.store(true, Ordering::SeqCst);
            *done.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
            signals::wake_thread(main_tid, libc::SIGCHLD);
        });
        if spawned.is_err() {
            say(
                plan.level,
                QUIET,
                "cannot start a thread to poll the targets",
            );
            return Outcome::TimedOut;
        }
    }
    let set = FAULTS.iter().fold(SigSet::ALL, |s, &sig| s.without(sig));
    loop {
        if let Some(outcome) = done.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return outcome;
        }
        match signals::wait(set, None) {
            Received::Signal { signo, .. }
                if matches!(
                    signo,
                    libc::SIGTERM | libc::SIGINT | libc::SIGHUP | libc::SIGQUIT
                ) =>
            {
                stop.store(true, Ordering::SeqCst);
                say(
                    plan.level,
                    QUIET,
                    &format!(
                        "stopped by {} while waiting",
                        crate::cli::signal_name(signo)
                    ),
                );
                return Outcome::Signaled(signo);
            }
            _ => {}
        }
    }
}

/// Sleeps up to `d` in the calling thread (whose signals are blocked), ending early with the
/// signal when SIGTERM, SIGINT, SIGHUP or SIGQUIT arrives. For WAIT_BEFORE / WAIT_AFTER.
pub fn pause(d: Duration) -> Option<i32> {
    let set = SigSet::EMPTY
        .with(libc::SIGTERM)
        .with(libc::SIGINT)
        .with(libc::SIGHUP)
        .with(libc::SIGQUIT);
    let end = Instant::now() + d;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        if let Received::Signal { signo, .. } = signals::wait(set, Some(left)) {
            return Some(signo);
        }
    }
}

/// Runs the pollers and decides. Returns Ready or TimedOut.
fn coordinate(plan: &Arc<Plan>, stop: &Arc<AtomicBool>) -> Outcome {
    let start = Instant::now();
    let end = plan.timeout.map(|t| start + t);
    let mailbox: Arc<Mailbox<Attempt>> = Arc::default();
    for index in 0..plan.targets.len() {
        let (plan, stop, sender) = (plan.clone(), stop.clone(), mailbox.clone());
        let spawned =
            std::thread::Builder::new().spawn(move || poll(&plan, index, end, &stop, &sender));
        if spawned.is_err() {
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
    let mut last_error: Vec<Option<String>> = vec![None; n];
    let mut next_report: Vec<Instant> = vec![start + REPORT_EVERY; n];
    loop {
        let ready_count = ready.iter().filter(|r| **r).count();
        if ready_count == n || (plan.any && ready_count > 0) {
            return Outcome::Ready;
        }
        let now = Instant::now();
        if end.is_some_and(|e| now >= e) {
            let waited = format_duration(plan.timeout.unwrap_or_default());
            for (i, target) in plan.targets.iter().enumerate() {
                if !ready[i] {
                    let why = last_error[i].as_deref().unwrap_or("no attempt finished");
                    say(
                        plan.level,
                        QUIET,
                        &format!("{target}: not ready after {waited}: {why}"),
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

/// One target's poller: attempt, report, sleep the interval, until ready or told to stop.
fn poll(
    plan: &Plan,
    index: usize,
    end: Option<Instant>,
    stop: &AtomicBool,
    mailbox: &Mailbox<Attempt>,
) {
    let Some(target) = plan.targets.get(index) else {
        return;
    };
    loop {
        if stop.load(Ordering::SeqCst) {
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
        let ok = result.is_ok();
        mailbox.send(Attempt { index, result });
        if ok {
            return;
        }
        // The interval runs from the start of the attempt, so a slow failure does not add to it.
        let pause = plan.interval.saturating_sub(began.elapsed());
        std::thread::sleep(pause.max(Duration::from_millis(10)));
    }
}
