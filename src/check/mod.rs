//! What a target is and how it is probed (HTTP, HTTPS, TCP, Unix socket, file, gRPC,
//! PostgreSQL, Redis, MySQL): the one checker shared by `health`, `wait`, `init --wait` (the poller) and
//! `init --health` (the watchdog), which meet here and in sys/ only. Everything runs in-process under a hard deadline; nothing
//! here starts a process. A probe ends in a short success detail ("HTTP 200") or a one-line
//! failure ("connection refused", "timed out after 5s while connecting"), never in a panic.

mod db;
pub mod grpc;
pub(crate) mod hpack;
pub(crate) mod http;
pub mod mailbox;
mod net;
pub mod options;
pub mod poll;
pub(crate) mod proxy;
mod sha;
pub(crate) mod target;
#[cfg(feature = "tls")]
mod tls;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

pub use options::{CheckArgs, CheckOptions, Prepared};
pub use target::{Scheme, Target, list_error, parse_list};

/// The hard end of a check, and the total it was given (for messages).
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    end: Instant,
    total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Deadline {
        Deadline {
            end: crate::cli::later(total),
            total,
        }
    }

    /// The moment it ends.
    pub fn end(&self) -> Instant {
        self.end
    }

    /// The time left, or None once it has passed.
    pub fn remaining(&self) -> Option<Duration> {
        let left = self.end.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// The failure for running out of time in `phase`.
    pub fn timed_out(&self, phase: Phase) -> Failure {
        Failure::new(format!(
            "timed out after {} while {}",
            crate::cli::format_duration(self.total),
            phase.describe()
        ))
    }
}

/// Where a check is, so a timeout can say what it was waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Starting = 0,
    Resolving,
    Connecting,
    Proxy,
    Tls,
    Sending,
    Waiting,
    Headers,
    Body,
    Handshake,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            1 => Phase::Resolving,
            2 => Phase::Connecting,
            3 => Phase::Proxy,
            4 => Phase::Tls,
            5 => Phase::Sending,
            6 => Phase::Waiting,
            7 => Phase::Headers,
            8 => Phase::Body,
            9 => Phase::Handshake,
            _ => Phase::Starting,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Resolving => "resolving the host name",
            Phase::Connecting => "connecting",
            Phase::Proxy => "setting up the proxy tunnel",
            Phase::Tls => "in the TLS handshake",
            Phase::Sending => "sending the request",
            Phase::Waiting => "waiting for the response",
            Phase::Headers => "reading the response headers",
            Phase::Body => "reading the response body",
            Phase::Handshake => "in the HTTP/2 handshake",
        }
    }
}

/// A check's current phase, shared with whoever waits for it.
#[derive(Debug, Default)]
pub struct Progress(AtomicU8);

impl Progress {
    pub fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Relaxed);
    }
    pub fn get(&self) -> Phase {
        Phase::from_u8(self.0.load(Ordering::Relaxed))
    }
}

/// Why a target is not healthy: one line, without the target (the caller puts it in front).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl Failure {
    pub fn new(msg: impl Into<String>) -> Failure {
        Failure(msg.into())
    }
}

/// Probes `target` once. Ok carries a short detail for verbose output ("HTTP 200",
/// "connected").
pub fn probe(
    target: &Target,
    prepared: &Prepared,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<String, Failure> {
    let opts = &prepared.opts;
    match target {
        Target::Http(url) => http::check(url, prepared, deadline, progress),
        Target::Tcp { host, port } => {
            net::connect(host, *port, None, opts.connect_timeout, deadline, progress)?;
            Ok("connected".into())
        }
        Target::Unix(path) => {
            net::connect("", 0, Some(path), opts.connect_timeout, deadline, progress)?;
            Ok("connected".into())
        }
        Target::File(path) => file_exists(path),
        Target::Db(db) => db::check(db, prepared, deadline, progress),
        Target::Grpc(g) => grpc::check(g, prepared, deadline, progress),
    }
}

/// The first `max` bytes of what a server sent instead of the protocol, for a message: printable
/// ASCII as it is, anything else as '.'.
fn printable(bytes: &[u8], max: usize) -> String {
    bytes
        .iter()
        .take(max)
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect()
}

/// One target's outcome in a round of [`probe_all`], and how long it took.
pub type Verdict = (Result<String, Failure>, Duration);

/// Probes every target at once, a thread each, under one hard deadline: a probe still running
/// when it passes is a timeout that names its phase (the thread is left behind; it ends at
/// its own deadline). With `any`, returns as soon as one target is healthy, and the targets
/// not done yet are None.
pub fn probe_all(
    targets: &[Target],
    prepared: &Arc<Prepared>,
    deadline: &Deadline,
    any: bool,
) -> Vec<Option<Verdict>> {
    let start = Instant::now();
    let mailbox = Arc::new(mailbox::Mailbox::default());
    let mut progress = Vec::with_capacity(targets.len());
    for (i, target) in targets.iter().enumerate() {
        let p = Arc::new(Progress::default());
        progress.push(p.clone());
        let (sender, target, prepared) = (mailbox.clone(), target.clone(), prepared.clone());
        let deadline = *deadline;
        let spawned = std::thread::Builder::new().spawn(move || {
            let result = probe(&target, &prepared, &deadline, &p);
            sender.send((i, result, start.elapsed()));
        });
        if spawned.is_err() {
            mailbox.send((
                i,
                Err(Failure::new("cannot start a thread")),
                start.elapsed(),
            ));
        }
    }
    let mut results: Vec<Option<Verdict>> = targets.iter().map(|_| None).collect();
    let mut pending = targets.len();
    while pending > 0 {
        let Some((i, result, took)) = mailbox.recv_until(deadline.end()) else {
            break;
        };
        let healthy = result.is_ok();
        if let Some(slot) = results.get_mut(i) {
            *slot = Some((result, took));
        }
        pending -= 1;
        if any && healthy {
            return results;
        }
    }
    for (slot, p) in results.iter_mut().zip(&progress) {
        if slot.is_none() {
            *slot = Some((Err(deadline.timed_out(p.get())), start.elapsed()));
        }
    }
    results
}

fn file_exists(path: &PathBuf) -> Result<String, Failure> {
    match std::fs::metadata(path) {
        Ok(_) => Ok("exists".into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Failure::new("does not exist")),
        Err(e) => Err(Failure::new(
            crate::error::describe_io(&e).to_ascii_lowercase(),
        )),
    }
}
