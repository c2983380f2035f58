//! `ward init --health`: a watchdog that stops an unhealthy app, so that Docker's restart
//! policy (which ignores "unhealthy") brings the container back. No docker.sock, no sidecar,
//! no shell.
//!
//! One thread sleeps for an interval, checks every target in-process (as `ward health` does,
//! with threads that keep every signal blocked, never a child process), and counts failures in
//! a row, with Docker's HEALTHCHECK semantics: failures in the start period do not count, the
//! first success ends it, a success resets the count. When the count reaches the retries it
//! says why in one line, raises the flag and wakes the main loop with a SIGCHLD (harmless: it
//! only causes a reap pass), which then stops the app. A healthy app is never touched, and the
//! main loop is never woken while the app is healthy: one wake-up per interval, in this thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::options::Watch;
use crate::check::{self, Deadline, Prepared};
use crate::sys::signals;
use crate::{cli, debug, info, warn};

/// Set once the app has been found unhealthy.
static UNHEALTHY: AtomicBool = AtomicBool::new(false);

pub fn unhealthy() -> bool {
    UNHEALTHY.load(Ordering::SeqCst)
}

/// Starts the watchdog thread; the main loop (thread `main_tid`) is woken when it fires.
pub fn start(watch: Watch, prepared: Prepared, main_tid: i32) {
    let prepared = Arc::new(prepared);
    let spawned = std::thread::Builder::new().spawn(move || {
        let started = Instant::now();
        let mut starting = !watch.start_period.is_zero();
        let mut failures = 0u32;
        loop {
            std::thread::sleep(watch.interval);
            let deadline = Deadline::after(watch.timeout);
            let failed = check::probe_all(&watch.targets, &prepared, &deadline, false)
                .into_iter()
                .zip(&watch.targets)
                .find_map(|(verdict, target)| match verdict {
                    Some((Err(f), _)) => Some(format!("{target}: {}", f.0)),
                    _ => None,
                });
            let Some(why) = failed else {
                if failures > 0 || starting {
                    debug!("health check passed");
                }
                failures = 0;
                starting = false;
                continue;
            };
            if starting && started.elapsed() < watch.start_period {
                info!("health check failed in the start period (not counted): {why}");
                continue;
            }
            starting = false;
            failures += 1;
            if failures < watch.retries {
                info!(
                    "health check failed ({failures} of {} in a row): {why}",
                    watch.retries
                );
                continue;
            }
            let times = if failures == 1 {
                "1 failure".to_string()
            } else {
                format!("{failures} failures in a row")
            };
            warn!(
                "unhealthy: {why} ({times}, every {}); stopping the app",
                cli::format_duration(watch.interval)
            );
            UNHEALTHY.store(true, Ordering::SeqCst);
            signals::wake_thread(main_tid, libc::SIGCHLD);
            return;
        }
    });
    if spawned.is_err() {
        warn!("cannot start the health watchdog thread; the app runs without it");
    }
}
