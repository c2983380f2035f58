//! init's options: the ward command line, the tini-compatible command line, and their
//! environment variables. Parsing only; nothing here touches process state.

use std::ffi::OsString;
use std::time::Duration;

use lexopt::prelude::*;

use crate::check::options::parse_positive;
use crate::cli::{self, parse_env, parse_opt};
use crate::error::Error;
use crate::redact::quoted;
use crate::sys::signals::MAX_SIGNAL;

/// Default time the processes left behind get between SIGTERM and SIGKILL.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(2);

/// Where each signal goes when forwarded: `map[n]` is what signal n becomes (0 = dropped).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rewrites {
    map: [u8; MAX_SIGNAL as usize + 1],
}

impl Default for Rewrites {
    fn default() -> Self {
        let mut map = [0u8; MAX_SIGNAL as usize + 1];
        for (i, m) in map.iter_mut().enumerate() {
            *m = i as u8;
        }
        Rewrites { map }
    }
}

impl Rewrites {
    /// The signal to send for a received `sig`, or None when it is dropped.
    pub fn get(&self, sig: i32) -> Option<i32> {
        let to = *self.map.get(usize::try_from(sig).ok()?)?;
        (to != 0).then_some(i32::from(to))
    }

    /// Adds one `FROM:TO` rule (TO may be `none`, or 0, to drop).
    fn add(&mut self, spec: &str) -> Result<(), String> {
        let (from, to) = spec.split_once(':').ok_or_else(|| {
            format!(
                "invalid rewrite {} (use FROM:TO, e.g. TERM:QUIT or HUP:none)",
                quoted(spec)
            )
        })?;
        let from = cli::parse_signal(from)?;
        if [libc::SIGKILL, libc::SIGSTOP, libc::SIGCHLD].contains(&from) {
            return Err(format!(
                "{} cannot be rewritten: it is never forwarded",
                cli::signal_name(from)
            ));
        }
        let to = match to.trim().to_ascii_lowercase().as_str() {
            "none" | "0" => 0,
            _ => cli::parse_signal(to)?,
        };
        self.map[from as usize] = to as u8;
        Ok(())
    }
}

/// A set of exit codes (0–255) that are reported as 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitSet([u64; 4]);

impl ExitSet {
    pub fn insert(&mut self, code: u8) {
        self.0[usize::from(code / 64)] |= 1 << (code % 64);
    }
    pub fn contains(&self, code: u8) -> bool {
        self.0[usize::from(code / 64)] & (1 << (code % 64)) != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub pgroup: bool,
    pub grace: Duration,
    pub kill_after: Option<Duration>,
    pub rewrite: Rewrites,
    pub pdeathsig: Option<i32>,
    pub remap_exit: ExitSet,
    /// 0 errors only, 1 warnings (default), 2 info, 3 debug.
    pub verbosity: u8,
    pub warn_reaped: bool,
    /// Called as tini: `-w` lines use tini's wording (`Reaped zombie process with pid=N`),
    /// which people and scripts grep for.
    pub tini_wording: bool,
    /// Targets to wait for before the child is started (`--wait`), validated.
    pub wait: Vec<crate::check::Target>,
    /// Limit of that wait; None waits forever.
    pub wait_timeout: Option<Duration>,
    /// `--health`: the watchdog that stops an unhealthy app; None without targets.
    pub health: Option<Watch>,
    pub program: OsString,
    pub args: Vec<OsString>,
}

/// The watchdog's targets and timing, named and defaulted as Docker's HEALTHCHECK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    pub targets: Vec<crate::check::Target>,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

pub const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(30);
pub const HEALTH_RETRIES: u32 = 3;

/// What parsing asks for: run a child, or stop here (help, version, licence) with a code.
pub enum Parsed {
    Run(Box<Options>),
    Done(u8),
}

/// Options before the program is known; shared by both command lines.
#[derive(Default)]
struct Builder {
    pgroup: Option<bool>,
    grace: Option<Duration>,
    kill_after: Option<Option<Duration>>,
    rewrite: Option<Rewrites>,
    pdeathsig: Option<i32>,
    remap_exit: Option<ExitSet>,
    verbose: Option<u8>,
    warn_reaped: Option<bool>,
    wait: Option<Vec<crate::check::Target>>,
    wait_timeout: Option<Duration>,
    health: Option<Vec<crate::check::Target>>,
    health_interval: Option<Duration>,
    health_timeout: Option<Duration>,
    health_retries: Option<u32>,
    health_start_period: Option<Duration>,
}

const APPLET: &str = "init";

impl Builder {
    /// This builder's values where set, `env`'s otherwise.
    fn or(self, env: Builder) -> Builder {
        Builder {
            pgroup: self.pgroup.or(env.pgroup),
            grace: self.grace.or(env.grace),
            kill_after: self.kill_after.or(env.kill_after),
            rewrite: self.rewrite.or(env.rewrite),
            pdeathsig: self.pdeathsig.or(env.pdeathsig),
            remap_exit: self.remap_exit.or(env.remap_exit),
            verbose: self.verbose.or(env.verbose),
            warn_reaped: self.warn_reaped.or(env.warn_reaped),
            wait: self.wait.or(env.wait),
            wait_timeout: self.wait_timeout.or(env.wait_timeout),
            health: self.health.or(env.health),
            health_interval: self.health_interval.or(env.health_interval),
            health_timeout: self.health_timeout.or(env.health_timeout),
            health_retries: self.health_retries.or(env.health_retries),
            health_start_period: self.health_start_period.or(env.health_start_period),
        }
    }

    /// Reads every WARD_INIT_* twin: what the command line left unset is taken from here
    /// (`Builder::or`); a list given on the command line replaces the list from here.
    fn from_env() -> Result<Builder, Error> {
        let mut b = Builder::default();
        if let Some(v) = cli::env_twin(APPLET, "pgroup")? {
            b.pgroup = Some(parse_env(&v, cli::parse_bool)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "grace")? {
            b.grace = Some(parse_env(&v, parse_grace)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "kill-after")? {
            b.kill_after = Some(parse_env(&v, parse_kill_after)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "rewrite")? {
            b.rewrite = Some(parse_env(&v, |text| {
                let mut r = Rewrites::default();
                for spec in cli::split_list(text) {
                    r.add(spec)?;
                }
                Ok(r)
            })?);
        }
        if let Some(v) = cli::env_twin(APPLET, "pdeathsig")? {
            b.pdeathsig = parse_env(&v, parse_optional_signal)?;
        }
        if let Some(v) = cli::env_twin(APPLET, "remap-exit")? {
            b.remap_exit = Some(parse_env(&v, |text| {
                let mut set = ExitSet::default();
                for code in cli::split_list(text) {
                    set.insert(cli::parse_exit_code(code)?);
                }
                Ok(set)
            })?);
        }
        if let Some(v) = cli::env_twin(APPLET, "verbose")? {
            b.verbose = Some(parse_env(&v, parse_verbose)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "warn-reaped")? {
            b.warn_reaped = Some(parse_env(&v, cli::parse_bool)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "wait")? {
            b.wait = Some(parse_env(&v, |text| crate::check::parse_list(text, true))?);
        }
        if let Some(v) = cli::env_twin(APPLET, "wait-timeout")? {
            b.wait_timeout = Some(parse_env(&v, cli::parse_duration)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "health")?.filter(|v| !v.1.trim().is_empty()) {
            b.health = Some(parse_env(&v, |text| crate::check::parse_list(text, false))?);
        }
        if let Some(v) =
            cli::env_twin(APPLET, "health-interval")?.filter(|v| !v.1.trim().is_empty())
        {
            b.health_interval = Some(parse_env(&v, parse_positive)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "health-timeout")?.filter(|v| !v.1.trim().is_empty())
        {
            b.health_timeout = Some(parse_env(&v, parse_positive)?);
        }
        if let Some(v) = cli::env_twin(APPLET, "health-retries")?.filter(|v| !v.1.trim().is_empty())
        {
            b.health_retries = Some(parse_env(&v, parse_retries)?);
        }
        if let Some(v) =
            cli::env_twin(APPLET, "health-start-period")?.filter(|v| !v.1.trim().is_empty())
        {
            b.health_start_period = Some(parse_env(&v, cli::parse_duration)?);
        }
        Ok(b)
    }

    fn build(self, default_grace: Duration, program: OsString, args: Vec<OsString>) -> Options {
        Options {
            pgroup: self.pgroup.unwrap_or(false),
            grace: self.grace.unwrap_or(default_grace),
            kill_after: self.kill_after.flatten(),
            rewrite: self.rewrite.unwrap_or_default(),
            pdeathsig: self.pdeathsig,
            remap_exit: self.remap_exit.unwrap_or_default(),
            verbosity: 1 + self.verbose.unwrap_or(0),
            warn_reaped: self.warn_reaped.unwrap_or(false),
            tini_wording: false,
            wait: self.wait.unwrap_or_default(),
            wait_timeout: match self
                .wait_timeout
                .unwrap_or(crate::check::poll::DEFAULT_TIMEOUT)
            {
                t if t.is_zero() => None,
                t => Some(t),
            },
            health: self.health.filter(|t| !t.is_empty()).map(|targets| Watch {
                targets,
                interval: self.health_interval.unwrap_or(HEALTH_INTERVAL),
                timeout: self.health_timeout.unwrap_or(HEALTH_TIMEOUT),
                retries: self.health_retries.unwrap_or(HEALTH_RETRIES),
                start_period: self.health_start_period.unwrap_or_default(),
            }),
            program,
            args,
        }
    }
}

fn parse_wait_target(text: &str) -> Result<crate::check::Target, String> {
    crate::check::Target::parse(text, true)
}

/// How many failures in a row make the app unhealthy: 1 to 1000.
fn parse_retries(text: &str) -> Result<u32, String> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=1000).contains(n))
        .ok_or_else(|| format!("invalid number {} (use 1-1000)", quoted(text)))
}

/// Whether a value means "off": `0`, `off`, `false`, `no`, `none` or empty.
fn is_off(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "" | "0" | "off" | "false" | "no" | "none"
    )
}

/// `--kill-after 0` (or `off`, `false`) disables it, like leaving it out.
fn parse_kill_after(text: &str) -> Result<Option<Duration>, String> {
    if is_off(text) {
        return Ok(None);
    }
    let d = cli::parse_duration(text)?;
    Ok((!d.is_zero()).then_some(d))
}

/// `--grace 0` (or `off`, `false`) means no grace period.
fn parse_grace(text: &str) -> Result<Duration, String> {
    if is_off(text) {
        return Ok(Duration::ZERO);
    }
    cli::parse_duration(text)
}

/// A signal, or `0`/`none`/`off`/empty for none (environment form).
fn parse_optional_signal(text: &str) -> Result<Option<i32>, String> {
    if is_off(text) {
        return Ok(None);
    }
    cli::parse_signal(text).map(Some)
}

/// WARD_INIT_VERBOSE: how many `-v` (0–3), or a boolean meaning 0 or 1.
fn parse_verbose(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(n) if n <= 3 => Ok(n),
        Ok(_) => Err(format!("invalid verbosity {} (use 0-3)", quoted(text))),
        Err(_) => cli::parse_bool(text)
            .map(u8::from)
            .map_err(|_| format!("invalid verbosity {} (use 0-3)", quoted(text))),
    }
}

/// The ward command line: `ward init [OPTIONS] [--] PROGRAM [ARGS...]`.
pub fn parse(args: Vec<OsString>) -> Result<Parsed, Error> {
    // The command line first (so --help works even with a bad environment), then the
    // environment fills in what the command line left out.
    let mut b = Builder::default();
    let mut parser = lexopt::Parser::from_args(args);
    let mut verbose = 0u8;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('g') | Long("pgroup") => b.pgroup = Some(true),
            Long("grace") => b.grace = Some(parse_opt("--grace", parser.value()?, parse_grace)?),
            Long("kill-after") => {
                b.kill_after = Some(parse_opt(
                    "--kill-after",
                    parser.value()?,
                    parse_kill_after,
                )?)
            }
            Short('r') | Long("rewrite") => {
                let value = parser.value()?;
                let r = b.rewrite.get_or_insert_with(Rewrites::default);
                parse_opt("--rewrite", value, |s| r.add(s))?;
            }
            Short('p') | Long("pdeathsig") => {
                b.pdeathsig = Some(parse_opt(
                    "--pdeathsig",
                    parser.value()?,
                    cli::parse_signal,
                )?)
            }
            Short('e') | Long("remap-exit") => {
                let code = parse_opt("--remap-exit", parser.value()?, cli::parse_exit_code)?;
                b.remap_exit
                    .get_or_insert_with(ExitSet::default)
                    .insert(code);
            }
            Short('v') | Long("verbose") => verbose = verbose.saturating_add(1),
            Short('w') | Long("warn-reaped") => b.warn_reaped = Some(true),
            Long("wait") => {
                let t = parse_opt("--wait", parser.value()?, parse_wait_target)?;
                b.wait.get_or_insert_with(Vec::new).push(t);
            }
            Long("health") => {
                let t = parse_opt("--health", parser.value()?, |s| {
                    crate::check::Target::parse(s, false)
                })?;
                b.health.get_or_insert_with(Vec::new).push(t);
            }
            Long("health-interval") => {
                let d = parse_opt("--health-interval", parser.value()?, parse_positive)?;
                b.health_interval = Some(d);
            }
            Long("health-timeout") => {
                let d = parse_opt("--health-timeout", parser.value()?, parse_positive)?;
                b.health_timeout = Some(d);
            }
            Long("health-retries") => {
                let n = parse_opt("--health-retries", parser.value()?, parse_retries)?;
                b.health_retries = Some(n);
            }
            Long("health-start-period") => {
                let d = parse_opt(
                    "--health-start-period",
                    parser.value()?,
                    cli::parse_duration,
                )?;
                b.health_start_period = Some(d);
            }
            Long("wait-timeout") => {
                b.wait_timeout = Some(parse_opt(
                    "--wait-timeout",
                    parser.value()?,
                    cli::parse_duration,
                )?)
            }
            Short('h') => return Err(cli::meta_with_others("-h", false)),
            Long("help") => return Err(cli::meta_with_others("--help", false)),
            Long("version") => return Err(cli::meta_with_others("--version", false)),
            Value(program) => {
                let rest: Vec<OsString> = parser.raw_args()?.collect();
                if verbose > 0 {
                    b.verbose = Some(verbose.min(3));
                }
                let b = b.or(Builder::from_env()?);
                return Ok(Parsed::Run(Box::new(b.build(DEFAULT_GRACE, program, rest))));
            }
            _ => {
                return Err(cli::unknown_option(&arg, "see 'ward init --help'"));
            }
        }
    }
    Err(Error::usage(
        "missing PROGRAM (usage: ward init [OPTIONS] [--] PROGRAM [ARGS...])",
    ))
}

/// The version line dockerd's `docker info` parses (`tini version X[ - ...]`).
pub fn tini_version_line() -> String {
    format!("tini version 0.19.0 - ward {}\n", env!("CARGO_PKG_VERSION"))
}

/// tini's command line: `tini [-h] [-s] [-p SIGNAL] [-v] [-w] [-g] [-e CODE] [-l] [--] PROGRAM
/// [ARGS...]` or `tini --version`, and its environment (TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP
/// and TINI_VERBOSITY, with tini's presence-based meaning). No grace period by default, as in
/// tini; the WARD_INIT_* twins still apply.
pub fn parse_tini(args: Vec<OsString>) -> Result<Parsed, Error> {
    let mut b = Builder::default();
    if std::env::var_os("TINI_KILL_PROCESS_GROUP").is_some() {
        b.pgroup = Some(true);
    }
    // TINI_SUBREAPER is accepted and needs nothing: ward always becomes a subreaper when it is
    // not PID 1.
    let mut verbosity: Option<u8> = std::env::var_os("TINI_VERBOSITY").map(|v| tini_atoi(&v));
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        match arg {
            // Alone, `-h` was answered before parsing (applet.rs).
            Short('h') => return Err(cli::meta_with_others("-h", false)),
            Long("help") => return Err(cli::meta_with_others("--help", false)),
            Long("version") => return Err(cli::meta_with_others("--version", false)),
            Short('l') => {
                cli::print_stdout(LICENSE);
                return Ok(Parsed::Done(0));
            }
            Short('s') => {}
            Short('g') => b.pgroup = Some(true),
            Short('w') => b.warn_reaped = Some(true),
            Short('v') => verbosity = Some(verbosity.unwrap_or(1).saturating_add(1)),
            Short('p') => b.pdeathsig = Some(parse_opt("-p", parser.value()?, cli::parse_signal)?),
            Short('e') => {
                let code = parse_opt("-e", parser.value()?, cli::parse_exit_code)?;
                b.remap_exit
                    .get_or_insert_with(ExitSet::default)
                    .insert(code);
            }
            Value(program) => {
                let rest: Vec<OsString> = parser.raw_args()?.collect();
                let b = b.or(Builder::from_env()?);
                let mut opts = b.build(Duration::ZERO, program, rest);
                opts.tini_wording = true;
                if let Some(v) = verbosity {
                    opts.verbosity = v.min(3);
                }
                return Ok(Parsed::Run(Box::new(opts)));
            }
            _ => {
                return Err(cli::unknown_option(&arg, TINI_USAGE));
            }
        }
    }
    Err(Error::usage(format!("missing PROGRAM; {TINI_USAGE}")))
}

/// TINI_VERBOSITY as tini reads it, with C's atoi: leading digits (anything else is 0); tini
/// compares it as unsigned, so a negative number means the most verbose.
fn tini_atoi(v: &std::ffi::OsStr) -> u8 {
    let s = v.to_string_lossy();
    let t = s.trim_start();
    let (negative, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
    match digits.parse::<u64>() {
        Ok(0) | Err(_) => 0,
        Ok(_) if negative => 3,
        Ok(n) => n.min(3) as u8,
    }
}

const TINI_USAGE: &str = "usage: tini [-h] [-s] [-p SIGNAL] [-v] [-w] [-g] [-e CODE] [-l] [--] PROGRAM [ARGS...] | --version";

const LICENSE: &str = include_str!("../../LICENSE");

pub const HELP: &str = "\
Usage: ward init [OPTIONS] [--] PROGRAM [ARGS...]

Runs PROGRAM as the only child of a minimal PID 1: forwards every signal to it, reaps every
zombie, and exits with its exit code (128+N if it died of signal N; 127 if PROGRAM is not
found, 126 if it cannot be executed; 124 if --health stopped it). When the child exits, the processes left behind get
SIGTERM, then SIGKILL after the grace period. Not PID 1, ward becomes a child subreaper.

Options (environment twin in brackets; the command line wins):
  -g, --pgroup              forward signals to the child's whole process group
                            [WARD_INIT_PGROUP=1]
      --grace DURATION      after the child exits, how long the rest get between SIGTERM and
                            SIGKILL; 0 exits at once like tini (default 2s) [WARD_INIT_GRACE]
      --kill-after DURATION when ward receives SIGTERM or SIGINT (whatever --rewrite makes
                            of it), SIGKILL the child (group) if it is still running this
                            much later (default off)
                            [WARD_INIT_KILL_AFTER]
  -r, --rewrite FROM:TO     forward signal FROM as TO; TO may be none to drop it; repeatable
                            [WARD_INIT_REWRITE=\"TERM:QUIT HUP:none\"]
  -p, --pdeathsig SIGNAL    have the kernel send SIGNAL to ward (which forwards it) when ward's
                            parent dies [WARD_INIT_PDEATHSIG]
  -e, --remap-exit CODE     exit 0 when the child's status is CODE; repeatable
                            [WARD_INIT_REMAP_EXIT=\"143 130\"]
  -v, --verbose             more messages on stderr; repeatable [WARD_INIT_VERBOSE=0-3]
  -w, --warn-reaped         warn about every reaped process other than the child
                            [WARD_INIT_WARN_REAPED=1]
      --wait TARGET         before starting the child, wait until TARGET answers (as
                            `ward wait`); repeatable [WARD_INIT_WAIT=\"tcp://db:5432 ...\"]
      --wait-timeout DURATION  give up waiting (exit 1) after this long; 0 = never
                            (default 60s) [WARD_INIT_WAIT_TIMEOUT]
      --health TARGET       watchdog: check TARGET (anything `ward health` takes) every
                            interval, in-process; after --health-retries failures in a row,
                            stop the app (SIGTERM; SIGKILL after --kill-after, else 10s) and
                            exit 124, so the restart policy brings the container back;
                            repeatable [WARD_INIT_HEALTH=\"http://127.0.0.1:8080/healthz ...\"]
      --health-interval DURATION  time between checks (default 30s)
                            [WARD_INIT_HEALTH_INTERVAL]
      --health-timeout DURATION   limit of one check (default 30s) [WARD_INIT_HEALTH_TIMEOUT]
      --health-retries N    failures in a row that make the app unhealthy (default 3)
                            [WARD_INIT_HEALTH_RETRIES]
      --health-start-period DURATION  failures in this first stretch do not count; the first
                            success ends it (default 0) [WARD_INIT_HEALTH_START_PERIOD]
  -h, --help                show this help

The health checks take their check options (--status, -H, --ca-file...) from the
WARD_HEALTH_* variables of `ward health`.
The wait takes its check options (interval, headers, TLS...) from the WARD_WAIT_* variables of
`ward wait`. SIGTERM or SIGINT during the wait ends ward at once (143, 130).

DURATION: 500ms, 2s, 1.5s, 1m (a bare number is seconds). SIGNAL: TERM, SIGTERM, RTMIN+2 or a
number 1-64. Booleans in the environment: 1/0, true/false, yes/no, on/off.
";

pub const TINI_HELP: &str = "\
Usage: tini [OPTIONS] [--] PROGRAM [ARGS...] | --version

ward's init with tini's interface (tini 0.19.0), for drop-in use as tini or docker-init.
Differences: no warning and no -s needed when not PID 1 (ward becomes a subreaper by itself);
messages go to stderr only; SIGABRT/SIGTRAP/SIGSYS/SIGSEGV sent by a process are forwarded.

Options:
  -h            show this help
  -s            register as a child subreaper (always done when not PID 1)
  -p SIGNAL     parent-death signal, forwarded to the child like any other
  -v            more messages; repeatable
  -w            warn about every reaped process other than the child
  -g            forward signals to the child's process group
  -e CODE       exit 0 when the child's status is CODE; repeatable
  -l            show the licence
  --version     show the version (only as the sole argument)

Environment: TINI_SUBREAPER, TINI_KILL_PROCESS_GROUP (set at all = on), TINI_VERBOSITY (a
number), and every WARD_INIT_* variable of `ward init` (for example WARD_INIT_GRACE=2s).
";

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    fn run_opts(list: &[&str]) -> Options {
        match parse(args(list)) {
            Ok(Parsed::Run(o)) => *o,
            Ok(Parsed::Done(_)) => panic!("stopped early"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn command_line() {
        let o = run_opts(&[
            "-gvv",
            "--grace",
            "5s",
            "--kill-after=1s",
            "-r",
            "TERM:QUIT",
            "-rHUP:none",
            "-e",
            "143",
            "-w",
            "--",
            "prog",
            "-x",
            "--grace",
        ]);
        assert!(o.pgroup && o.warn_reaped);
        assert_eq!(o.verbosity, 3);
        assert_eq!(o.grace, Duration::from_secs(5));
        assert_eq!(o.kill_after, Some(Duration::from_secs(1)));
        assert_eq!(o.rewrite.get(15), Some(3));
        assert_eq!(o.rewrite.get(1), None);
        assert_eq!(o.rewrite.get(2), Some(2));
        assert!(o.remap_exit.contains(143) && !o.remap_exit.contains(0));
        assert_eq!(o.program, "prog");
        assert_eq!(o.args, args(&["-x", "--grace"]));
    }

    #[test]
    fn program_without_dashes_stops_option_parsing() {
        let o = run_opts(&["sh", "-c", "exit 3"]);
        assert_eq!(o.program, "sh");
        assert_eq!(o.args, args(&["-c", "exit 3"]));
        assert_eq!(o.grace, DEFAULT_GRACE);
        assert_eq!(o.verbosity, 1);
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["--grace", "x", "p"][..],
            &["--bogus", "p"],
            &["-r", "TERM", "p"],
            &["-r", "KILL:TERM", "p"],
            &["-r", "TERM:BOGUS", "p"],
            &["-e", "256", "p"],
            &["-p", "0", "p"],
            &[],
            &["--"],
            &["--grace"],
        ] {
            assert!(matches!(parse(args(bad)), Err(Error::Usage(_))), "{bad:?}");
        }
    }

    #[test]
    fn tini_line() {
        let o = match parse_tini(args(&["-s", "-g", "-e", "3", "-vv", "--", "x"])) {
            Ok(Parsed::Run(o)) => o,
            _ => panic!(),
        };
        assert!(o.pgroup && o.remap_exit.contains(3));
        assert_eq!(o.grace, Duration::ZERO);
        assert_eq!(o.verbosity, 3);
        assert!(matches!(
            parse_tini(args(&["--grace", "1s", "x"])),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            parse_tini(args(&["-v", "--version"])),
            Err(Error::Usage(_))
        ));
        assert!(tini_version_line().starts_with("tini version 0.19.0 - "));
        assert_eq!(tini_atoi(std::ffi::OsStr::new("abc")), 0);
        assert_eq!(tini_atoi(std::ffi::OsStr::new("2x")), 2);
        assert_eq!(tini_atoi(std::ffi::OsStr::new("-1")), 3);
    }
}
