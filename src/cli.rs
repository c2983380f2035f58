//! Shared argument helpers: durations, signal names, exit codes, booleans, lists, the
//! environment-variable twins every option has, and writing to stdout.

use std::io::Write;
use std::time::Duration;

use crate::error::Error;
use crate::redact::quoted;

/// Signal names, index = number (0 unused). Real-time signals are handled separately.
const SIGNAL_NAMES: [&str; 32] = [
    "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2",
    "PIPE", "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG",
    "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
];

/// First real-time signal number as glibc (and `kill -l` on most distributions) counts it.
/// Numbers are always accepted and are unambiguous.
pub const RTMIN: i32 = 34;
pub const RTMAX: i32 = 64;

/// Parses a signal given as a name (`TERM`, `SIGTERM`, `term`, `RTMIN+3`, `SIGRTMAX-1`) or a
/// number (1–64).
pub fn parse_signal(text: &str) -> Result<i32, String> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=RTMAX).contains(&n) {
            Ok(n)
        } else {
            Err(format!("signal number {n} is out of range 1-64"))
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Ok(n) = name.parse::<i32>() {
        return parse_signal(&n.to_string());
    }
    let aliases = [("IOT", 6), ("CLD", 17), ("POLL", 29), ("UNUSED", 31)];
    if let Some(n) = SIGNAL_NAMES
        .iter()
        .position(|&s| !s.is_empty() && s == name)
    {
        return Ok(n as i32);
    }
    if let Some(&(_, n)) = aliases.iter().find(|(a, _)| *a == name) {
        return Ok(n);
    }
    let rt = |base: i32, rest: &str| -> Option<i32> {
        let n = if rest.is_empty() {
            base
        } else if let Some(off) = rest.strip_prefix('+') {
            base + off.parse::<i32>().ok()?
        } else if let Some(off) = rest.strip_prefix('-') {
            base - off.parse::<i32>().ok()?
        } else {
            return None;
        };
        (RTMIN..=RTMAX).contains(&n).then_some(n)
    };
    let found = if let Some(rest) = name.strip_prefix("RTMIN") {
        rt(RTMIN, rest)
    } else if let Some(rest) = name.strip_prefix("RTMAX") {
        rt(RTMAX, rest)
    } else {
        None
    };
    found.ok_or_else(|| {
        format!(
            "unknown signal {} (use a name like TERM or a number 1-64)",
            quoted(text)
        )
    })
}

/// A readable name: `SIGTERM`, `SIGRTMIN+3`, `SIG32`.
pub fn signal_name(sig: i32) -> String {
    match sig {
        1..=31 => format!("SIG{}", SIGNAL_NAMES[sig as usize]),
        RTMIN => "SIGRTMIN".to_string(),
        RTMAX => "SIGRTMAX".to_string(),
        s if s > RTMIN && s < RTMAX => format!("SIGRTMIN+{}", s - RTMIN),
        s => format!("SIG{s}"),
    }
}

/// The longest duration ward takes anywhere (options, twins, docker-compose-wait's WAIT_*
/// seconds): 100 years. Every duration ward is given goes through [`parse_duration`] or
/// [`parse_seconds`], so `Instant::now() + d`, and sums of two of them, cannot overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// A later moment: `now + d`, or the latest moment ward uses (now + [`MAX_DURATION`]) if `d`
/// is longer (never a panic).
pub fn later(d: Duration) -> std::time::Instant {
    let now = std::time::Instant::now();
    now.checked_add(d.min(MAX_DURATION)).unwrap_or(now)
}

/// Parses a whole number of seconds (docker-compose-wait's variables), at most
/// [`MAX_DURATION`].
pub fn parse_seconds(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid number of seconds {}", quoted(t)));
    }
    t.parse::<u64>()
        .ok()
        .map(Duration::from_secs)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or_else(|| format!("{} seconds is too long (at most 100 years)", quoted(t)))
}

/// Parses a duration: `500ms`, `2s`, `1.5s`, `1m`, `1h`, `1m30s` (Go's form too: `300us`,
/// `2h45m`), `0`; a bare number means seconds; at most [`MAX_DURATION`]. (Fixed-point, no
/// floating point: that keeps float formatting out of the binary.)
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!(
            "invalid duration {} (use e.g. 500ms, 2s, 1.5s, 1m30s; at most 100 years)",
            quoted(text)
        )
    };
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    let mut first = true;
    while !rest.is_empty() {
        let split = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(split);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_end);
        rest = next;
        let unit_nanos: u128 = match unit.trim() {
            // A bare number, alone: seconds.
            "" if first && rest.is_empty() => 1_000_000_000,
            "s" | "sec" | "secs" => 1_000_000_000,
            "ms" => 1_000_000,
            "us" | "µs" | "μs" => 1_000,
            "ns" => 1,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(bad()),
        };
        first = false;
        let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') || frac.len() > 9 {
            return Err(bad());
        }
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let frac_nanos: u128 = if frac.is_empty() {
            0
        } else {
            frac.parse::<u128>().map_err(|_| bad())? * 10u128.pow(9 - frac.len() as u32)
        };
        total = whole
            .checked_mul(unit_nanos)
            .and_then(|n| n.checked_add(frac_nanos * unit_nanos / 1_000_000_000))
            .and_then(|n| n.checked_add(total))
            .filter(|&n| n <= MAX_DURATION.as_nanos())
            .ok_or_else(bad)?;
    }
    Ok(Duration::new(
        (total / 1_000_000_000) as u64,
        (total % 1_000_000_000) as u32,
    ))
}

/// Formats a duration compactly for messages: `2s`, `1.5s`, `250ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{}.{}s", ms / 1000, (ms % 1000) / 100)
    } else {
        format!("{ms}ms")
    }
}

/// Parses an exit code 0–255.
pub fn parse_exit_code(text: &str) -> Result<u8, String> {
    text.trim()
        .parse::<u8>()
        .map_err(|_| format!("invalid exit code {} (use 0-255)", quoted(text)))
}

/// Parses a boolean environment value: 1/true/yes/on, or 0/false/no/off/empty.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(format!(
            "invalid boolean {} (use 1/0, true/false)",
            quoted(text)
        )),
    }
}

/// Splits a list given in one environment variable: commas and/or white space separate items.
pub fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

/// Splits a command line the way a shell would split words, without expanding anything:
/// white space separates words, '...' is literal, "..." allows \" \\ \$ \` escapes, and a
/// backslash outside quotes escapes the next character. For WAIT_COMMAND.
pub fn split_command(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => word.push(ch),
                        None => return Err("unterminated ' quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => word.push(e),
                            Some(other) => {
                                word.push('\\');
                                word.push(other);
                            }
                            None => return Err("unterminated \" quote".into()),
                        },
                        Some(ch) => word.push(ch),
                        None => return Err("unterminated \" quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The environment twin of an option: `WARD_<APPLET>_<OPTION>`, e.g. WARD_INIT_KILL_AFTER.
pub fn twin(applet: &str, option: &str) -> String {
    format!("WARD_{}_{}", applet, option)
        .to_ascii_uppercase()
        .replace('-', "_")
}

/// Reads the twin of `option` for `applet`; a set but non-UTF-8 value is an error.
pub fn env_twin(applet: &str, option: &str) -> Result<Option<(String, String)>, Error> {
    let name = twin(applet, option);
    match std::env::var(&name) {
        Ok(v) => Ok(Some((name, v))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::usage(format!("{name}: not valid UTF-8")))
        }
    }
}

/// The usage error for a bad value of `name` (an option or a variable). Not generic and not
/// inlined, so the many typed parsers share one copy of the formatting.
#[inline(never)]
fn bad_value(name: &str, e: String) -> Error {
    Error::usage(format!("{name}: {e}"))
}

#[inline(never)]
fn option_text(option: &str, value: std::ffi::OsString) -> Result<String, Error> {
    value
        .into_string()
        .map_err(|_| Error::usage(format!("{option}: value is not valid UTF-8")))
}

/// Applies `parse` to an environment value, naming the variable in the error.
pub fn parse_env<T>(
    var: &(String, String),
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<T, Error> {
    parse(&var.1).map_err(|e| bad_value(&var.0, e))
}

/// Applies `parse` to an option's value, naming the option in the error.
pub fn parse_opt<T>(
    option: &str,
    value: std::ffi::OsString,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, Error> {
    let text = option_text(option, value)?;
    parse(&text).map_err(|e| bad_value(option, e))
}

/// The one wording for an option no applet takes: `unknown option '--frob'; see 'ward init
/// --help'` (`see` is what follows the semicolon).
pub fn unknown_option(arg: &lexopt::Arg<'_>, see: &str) -> Error {
    let name = match arg {
        lexopt::Arg::Short(c) => format!("-{c}"),
        lexopt::Arg::Long(s) => format!("--{s}"),
        lexopt::Arg::Value(v) => v.to_string_lossy().into_owned(),
    };
    Error::usage(format!("unknown option '{name}'; {see}"))
}

/// `-h`, `--help` or `--version` with other arguments: a usage error, never help and exit 0 (a
/// HEALTHCHECK typed `-h 'Authorization: ...'` must not pass forever).
pub fn meta_with_others(flag: &str, headers: bool) -> Error {
    let hint = if flag == "-h" && headers {
        " (a request header is -H)"
    } else {
        ""
    };
    Error::usage(format!("{flag} takes no other arguments{hint}"))
}

/// Writes to stdout, ignoring errors (a closed pipe must not turn into a panic).
pub fn print_stdout(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("TERM"), Ok(15));
        assert_eq!(parse_signal("sigterm"), Ok(15));
        assert_eq!(parse_signal("SIGKILL"), Ok(9));
        assert_eq!(parse_signal("9"), Ok(9));
        assert_eq!(parse_signal("RTMIN"), Ok(34));
        assert_eq!(parse_signal("SIGRTMIN+3"), Ok(37));
        assert_eq!(parse_signal("RTMAX-1"), Ok(63));
        assert_eq!(parse_signal("IOT"), Ok(6));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("65").is_err());
        assert!(parse_signal("RTMIN+40").is_err());
        assert!(parse_signal("FOO").is_err());
        assert!(parse_signal("").is_err());
        for sig in 1..=64 {
            let name = signal_name(sig);
            assert_eq!(parse_signal(&name), Ok(sig), "{name}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("300us"), Ok(Duration::from_micros(300)));
        assert_eq!(parse_duration("1s500ms"), Ok(Duration::from_millis(1500)));
        for bad in [
            "1m30",
            "30 1m",
            "1s.",
            "99999h99999999999999h",
            "",
            "s",
            "-1s",
            "2x",
            "1e400",
            "nan",
            "1..2s",
            "999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }

    #[test]
    fn command_words() {
        assert_eq!(
            split_command("/app  --port 8080").unwrap(),
            ["/app", "--port", "8080"]
        );
        assert_eq!(
            split_command(r#"/bin/x 'a b' "c \"d\"" e\ f ''"#).unwrap(),
            ["/bin/x", "a b", "c \"d\"", "e f", ""]
        );
        assert!(split_command("'open").is_err());
        assert!(split_command("\"open").is_err());
        assert!(split_command("   ").unwrap().is_empty());
    }

    #[test]
    fn lists_bools_twins() {
        assert_eq!(
            split_list("a, b  c,,d").collect::<Vec<_>>(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert!(parse_bool("maybe").is_err());
        assert_eq!(twin("init", "kill-after"), "WARD_INIT_KILL_AFTER");
        assert_eq!(parse_exit_code("255"), Ok(255));
        assert!(parse_exit_code("256").is_err());
    }
}
