//! Leveled logging to stderr, one `write` per line, prefixed `ward <applet>[<pid>]: `.
//! stdout belongs to the child (init) or to `--list`/`--version`; nothing here touches it.
//! Level 0: errors only; 1 (default): warnings; 2: info (`-v`); 3: debug (`-vv`).

use std::fmt;
use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

static LEVEL: AtomicU8 = AtomicU8::new(1);
static APPLET: OnceLock<&'static str> = OnceLock::new();

pub const WARN: u8 = 1;
pub const INFO: u8 = 2;
pub const DEBUG: u8 = 3;

pub fn set_applet(name: &'static str) {
    let _ = APPLET.set(name);
}

pub fn set_level(level: u8) {
    LEVEL.store(level, Ordering::Relaxed);
}

pub fn enabled(level: u8) -> bool {
    LEVEL.load(Ordering::Relaxed) >= level
}

/// Longest line written; anything longer is cut (and marked with "...").
pub const MAX_LINE: usize = 1000;

/// `text` as exactly one line of at most `max` bytes: control characters from user input (a
/// newline in a path, say) are escaped, and the end is cut at a character boundary.
pub fn one_line(text: &str, max: usize) -> String {
    let mut buf = String::with_capacity(text.len().min(max) + 4);
    for c in text.chars() {
        let mut piece = [0u8; 4];
        let escaped;
        let piece: &str = if c.is_control() {
            escaped = c.escape_default().to_string();
            &escaped
        } else {
            c.encode_utf8(&mut piece)
        };
        if buf.len() + piece.len() > max.saturating_sub(3) {
            buf.push_str("...");
            break;
        }
        buf.push_str(piece);
    }
    buf
}

/// Writes one whole line to stderr with a single write; errors are ignored (a closed stderr
/// must never stop an init).
pub fn line(text: &str) {
    let mut buf = one_line(text, MAX_LINE);
    buf.push('\n');
    let _ = std::io::stderr().write_all(buf.as_bytes());
}

pub fn emit(level: u8, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let tag = match level {
        WARN => "warning: ",
        _ => "",
    };
    said(format_args!("{tag}{args}"));
}

/// Writes `ward <applet>[<pid>]: <text>` (`ward[<pid>]: ` before an applet is chosen), whatever
/// the level: errors, and the lines a user asked for.
pub fn said(args: fmt::Arguments<'_>) {
    let pid = std::process::id();
    match APPLET.get() {
        Some(applet) => line(&format!("ward {applet}[{pid}]: {args}")),
        None => line(&format!("ward[{pid}]: {args}")),
    }
}

// The level is checked before the arguments are evaluated: a disabled message costs nothing
// (no allocation on init's hot paths, such as reaping 10,000 orphans).
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::WARN) {
            $crate::log::emit($crate::log::WARN, format_args!($($arg)*))
        }
    };
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::INFO) {
            $crate::log::emit($crate::log::INFO, format_args!($($arg)*))
        }
    };
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::enabled($crate::log::DEBUG) {
            $crate::log::emit($crate::log::DEBUG, format_args!($($arg)*))
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_escapes_and_cuts() {
        assert_eq!(one_line("a\nb\rc\td", 100), "a\\nb\\rc\\td");
        let long = "é".repeat(200);
        let cut = one_line(&long, 299);
        assert!(cut.len() <= 299 && cut.ends_with("..."), "{}", cut.len());
    }
}
