//! The wait personality: poll targets until they answer, then exec the program (or exit 0).
//! Called as `wait` (argv[0]) it also reads docker-compose-wait's variables, so an image that
//! used that tool keeps its environment and swaps the binary.
//!
//! Exit codes: 0 ready (or, after exec, the program's own), 1 timed out, 2 usage, 128+N when
//! signal N (SIGTERM, SIGINT, ...) ended the wait, 127/126 when the program cannot be run.

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use crate::applet::Invocation;
use crate::check::options;
use crate::check::poll;
use crate::check::{CheckArgs, Prepared, Target};
use crate::cli::{self, parse_env, parse_opt};
use crate::error::Error;
use crate::exit;
use crate::sys::{process, signals};

use poll::{DEFAULT_INTERVAL, DEFAULT_TIMEOUT, Plan, default_attempt_timeout};

const APPLET: &str = "wait";

/// docker-compose-wait's defaults, used when called as `wait`.
const COMPAT_TIMEOUT: Duration = Duration::from_secs(30);
const COMPAT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

struct Options {
    plan: Plan,
    before: Duration,
    after: Duration,
    program: Option<(OsString, Vec<OsString>)>,
}

/// `ward wait ...` and `wait ...`.
pub fn run(inv: Invocation) -> Result<u8, Error> {
    // Collected by the calling thread during the wait; the program gets the original state.
    if !signals::block_all_but_faults() {
        return Err(Error::Failed("cannot block signals".into()));
    }
    let opts = parse(inv.args, inv.via_argv0)?;
    let level = opts.plan.level;
    if !opts.before.is_zero() {
        if let Some(sig) = poll::pause(opts.before) {
            return Ok(exit::from_signal(sig));
        }
    }
    if !opts.plan.targets.is_empty() {
        // Other signals during the wait are dropped: there is no program yet to give them to.
        if let Some(code) = poll::wait(Arc::new(opts.plan), false).0.exit_code() {
            return Ok(code);
        }
    }
    if !opts.after.is_zero() {
        if let Some(sig) = poll::pause(opts.after) {
            return Ok(exit::from_signal(sig));
        }
    }
    // A signal still pending would hit ward itself once the original mask is back: an ending
    // one ends ward as the program would have been ended; others are dropped.
    let all = signals::SigSet::ALL;
    if let Some(sig) = signals::drain(all)
        .into_iter()
        .find(|&s| poll::is_ending(s))
    {
        return Ok(exit::from_signal(sig));
    }
    match opts.program {
        None => Ok(exit::SUCCESS),
        Some((program, args)) => {
            poll::say(level, poll::DEBUG, &format!("running {program:?}"));
            let err = process::exec(&program, &args, signals::inherited());
            Err(Error::Exec { program, err })
        }
    }
}

/// Splits `ARGS... -- PROGRAM ARGS...` at the first `--`.
fn split_program(mut args: Vec<OsString>) -> (Vec<OsString>, Option<(OsString, Vec<OsString>)>) {
    match args.iter().position(|a| a == "--") {
        Some(i) => {
            let mut rest = args.split_off(i);
            rest.remove(0);
            if rest.is_empty() {
                (args, None)
            } else {
                let program = rest.remove(0);
                (args, Some((program, rest)))
            }
        }
        None => (args, None),
    }
}

/// An environment value in seconds, docker-compose-wait style (a whole number).
fn compat_seconds(name: &str) -> Result<Option<Duration>, Error> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => cli::parse_seconds(&v)
            .map(Some)
            .map_err(|e| Error::usage(format!("{name}: {e}"))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(_) => Err(Error::usage(format!("{name}: not valid UTF-8"))),
    }
}

/// A docker-compose-wait variable: None when unset or blank; not valid UTF-8 is a usage
/// error, never a variable silently ignored.
fn compat_var(name: &str) -> Result<Option<String>, Error> {
    match std::env::var(name) {
        Ok(v) => Ok(Some(v).filter(|v| !v.trim().is_empty())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::usage(format!("{name}: not valid UTF-8")))
        }
    }
}

/// The first of several docker-compose-wait variable names that is set (new name, then the
/// older one).
fn compat_seconds_any(names: &[&str]) -> Result<Option<Duration>, Error> {
    for n in names {
        if let Some(d) = compat_seconds(n)? {
            return Ok(Some(d));
        }
    }
    Ok(None)
}

/// Command line, then WARD_WAIT_* twins, then (as `wait`) docker-compose-wait's variables.
fn parse(args: Vec<OsString>, compat: bool) -> Result<Options, Error> {
    let had_separator = args.iter().any(|a| a == "--");
    let (args, mut program) = split_program(args);
    let mut timeout: Option<Duration> = None;
    let mut interval: Option<Duration> = None;
    let mut attempt: Option<Duration> = None;
    let mut any: Option<bool> = None;
    let mut quiet: Option<bool> = None;
    let parsed = options::parse_command_line(args, APPLET, |key, parser| {
        let duration = |name: &str, parser: &mut lexopt::Parser| {
            parse_opt(name, parser.value()?, cli::parse_duration)
        };
        if key.is(Some('t'), "timeout") {
            timeout = Some(duration("--timeout", parser)?);
        } else if key.is(Some('i'), "interval") {
            interval = Some(duration("--interval", parser)?);
        } else if key.is(None, "attempt-timeout") {
            attempt = Some(duration("--attempt-timeout", parser)?);
        } else if key.is(None, "any") {
            any = Some(true);
        } else if key.is(Some('q'), "quiet") {
            quiet = Some(true);
        } else {
            return Ok(false);
        }
        Ok(true)
    })?;
    let (checks, target_args) = parsed;

    // Environment twins. What the command line or a WARD_WAIT_* twin sets wins over
    // docker-compose-wait's variables below.
    let checks = checks.or(CheckArgs::from_env(APPLET)?);
    let explicit_connect = checks.connect_timeout_given();
    let twin = |opt: &str,
                parse: fn(&str) -> Result<Duration, String>|
     -> Result<Option<Duration>, Error> {
        cli::env_twin(APPLET, opt)?
            .map(|v| parse_env(&v, parse))
            .transpose()
    };
    let timeout = timeout.or(twin("timeout", cli::parse_duration)?);
    let interval = interval.or(twin("interval", cli::parse_duration)?);
    let attempt = attempt.or(twin("attempt-timeout", cli::parse_duration)?);
    let bool_twin = |opt: &str| -> Result<Option<bool>, Error> {
        cli::env_twin(APPLET, opt)?
            .map(|v| parse_env(&v, cli::parse_bool))
            .transpose()
    };
    let any = any.or(bool_twin("any")?).unwrap_or(false);
    let quiet = quiet.or(bool_twin("quiet")?);
    let from_env = match cli::env_twin(APPLET, "targets")? {
        Some((name, value)) if target_args.is_empty() => Some(
            crate::check::parse_list(&value, true)
                .map_err(|e| Error::usage(format!("{name}: {e}")))?,
        ),
        _ => None,
    };
    let mut targets = target_args
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Target::parse(t, true).map_err(|e| {
                // `ward wait tcp://db:5432 echo ready`: a program where a target was expected.
                if i > 0 && !had_separator && !t.contains("://") {
                    Error::usage(format!(
                        "{e}; to run a program after the targets, put -- before it: \
                         ward wait TARGET... -- PROGRAM"
                    ))
                } else {
                    Error::Usage(e)
                }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    targets.extend(from_env.unwrap_or_default());

    let mut level = if quiet == Some(true) {
        poll::QUIET
    } else {
        poll::PROGRESS
    };
    let (mut before, mut after) = (Duration::ZERO, Duration::ZERO);
    let mut attempts = None;
    let mut check_opts = checks.finish()?;
    let mut interval = interval;
    let timeout = if compat {
        // docker-compose-wait's variables, when called as `wait`.
        if let Some(hosts) = compat_var("WAIT_HOSTS")? {
            for (i, h) in hosts
                .split(',')
                .map(str::trim)
                .filter(|h| !h.is_empty())
                .enumerate()
            {
                let t = if h.contains("://") {
                    h.to_string()
                } else {
                    format!("tcp://{h}")
                };
                targets.push(Target::parse(&t, true).map_err(|e| {
                    Error::usage(format!(
                        "WAIT_HOSTS: {}",
                        crate::check::list_error(&hosts, i, e)
                    ))
                })?);
            }
        }
        if let Some(paths) = compat_var("WAIT_PATHS")? {
            // Relative paths are relative to the working directory, as there.
            let cwd = std::env::current_dir().unwrap_or_else(|_| "/".into());
            for p in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                targets.push(Target::File(cwd.join(p)));
            }
        }
        if program.is_none() {
            if let Some(cmd) = compat_var("WAIT_COMMAND")? {
                let mut words = cli::split_command(&cmd)
                    .map_err(|e| Error::usage(format!("WAIT_COMMAND: {e}")))?;
                if !words.is_empty() {
                    let prog = OsString::from(words.remove(0));
                    program = Some((prog, words.into_iter().map(OsString::from).collect()));
                }
            }
        }
        before = compat_seconds_any(&["WAIT_BEFORE", "WAIT_BEFORE_HOSTS"])?.unwrap_or_default();
        after = compat_seconds_any(&["WAIT_AFTER", "WAIT_AFTER_HOSTS"])?.unwrap_or_default();
        let compat_connect = compat_seconds("WAIT_HOST_CONNECT_TIMEOUT")?;
        if !explicit_connect {
            check_opts.connect_timeout = compat_connect
                .filter(|d| !d.is_zero())
                .unwrap_or(COMPAT_CONNECT_TIMEOUT);
        }
        let compat_interval = compat_seconds("WAIT_SLEEP_INTERVAL")?;
        interval = interval.or(compat_interval);
        if let Some(l) = compat_var("WAIT_LOGGER_LEVEL")? {
            let compat_level = match l.trim().to_ascii_lowercase().as_str() {
                "debug" | "trace" => poll::DEBUG,
                "info" | "warn" => poll::PROGRESS,
                "error" => poll::QUIET,
                "off" => 0,
                _ => {
                    return Err(Error::usage(format!(
                        "WAIT_LOGGER_LEVEL: invalid level {} (debug, info, error, off)",
                        crate::redact::quoted(&l)
                    )));
                }
            };
            if quiet.is_none() {
                level = compat_level;
            }
        }
        match timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t),
            None => match compat_seconds_any(&["WAIT_TIMEOUT", "WAIT_HOSTS_TIMEOUT"])? {
                // docker-compose-wait's WAIT_TIMEOUT=0 gives up after the first attempt.
                Some(t) if t.is_zero() => {
                    attempts = Some(1);
                    None
                }
                Some(t) => Some(t),
                None => Some(COMPAT_TIMEOUT),
            },
        }
    } else {
        if targets.is_empty() {
            return Err(Error::usage(format!(
                "no target (give one, e.g. tcp://db:5432, or set {})",
                cli::twin(APPLET, "targets")
            )));
        }
        match timeout.unwrap_or(DEFAULT_TIMEOUT) {
            t if t.is_zero() => None,
            t => Some(t),
        }
    };
    if program.is_none() && had_separator {
        return Err(Error::usage("missing PROGRAM after --"));
    }
    let attempt_timeout = attempt.unwrap_or_else(|| default_attempt_timeout(&check_opts));
    Ok(Options {
        plan: Plan {
            prepared: Prepared::new(check_opts, &targets)?,
            targets,
            timeout,
            attempts,
            interval: interval
                .unwrap_or(DEFAULT_INTERVAL)
                .max(Duration::from_millis(10)),
            attempt_timeout: attempt_timeout.max(Duration::from_millis(1)),
            any,
            level,
        },
        before,
        after,
        program,
    })
}

pub fn help() -> String {
    format!(
        "\
Usage: ward wait [OPTIONS] TARGET... [-- PROGRAM [ARGS...]]
       wait [OPTIONS] [TARGET...] [-- PROGRAM [ARGS...]]   (also reads docker-compose-wait's
                                                            WAIT_* variables)

Polls every TARGET concurrently until all answer (or one, with --any), then replaces itself
with PROGRAM (exec: the program keeps ward's pid), or exits 0 without one. Exits 1 when the
timeout passes, with one line per target that never became ready; 128+N when signal N
(SIGTERM, SIGINT) ends the wait; 2 for bad usage; 127/126 when PROGRAM cannot be run.

TARGET: everything `ward health` accepts (http://, https://, tcp://HOST:PORT, unix:///PATH,
grpc[s]://HOST:PORT[/SERVICE] (SERVING), postgres://, redis://, rediss://, mysql://: ready, not
just listening) and file:///PATH (ready when the path exists).

Options (environment twin in brackets):
  -t, --timeout DURATION      give up after this long; 0 waits forever (default 60s)
                              [WARD_WAIT_TIMEOUT]
  -i, --interval DURATION     time between attempts on a target (default 1s) [WARD_WAIT_INTERVAL]
      --attempt-timeout DURATION  limit of one attempt (default 5s) [WARD_WAIT_ATTEMPT_TIMEOUT]
      --any                   ready when any target is [WARD_WAIT_ANY=1]
  -q, --quiet                 only the final error, no progress lines [WARD_WAIT_QUIET=1]
  -h, --help                  show this help
{}
With no TARGET, targets come from WARD_WAIT_TARGETS (space- or comma-separated).
",
        crate::check::options::HELP
    )
}
