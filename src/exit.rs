//! The exit-code model. Exit codes are contracts with Docker, Kubernetes and shells:
//! a child's own code passes through, a death by signal N is 128+N, an exec failure is 127
//! (not found) or 126 (found but not executable), a usage error is 2 (1 where a personality's
//! contract says so: tini mode, health), and an app that `init --health` stopped for being
//! unhealthy is 124.

use std::io;

use crate::sys::process::Ended;

pub const SUCCESS: u8 = 0;
pub const FAILURE: u8 = 1;
pub const USAGE: u8 = 2;
/// `ward init --health` stopped the app because it was unhealthy, whatever the app's own
/// status then was: non-zero, so `restart: on-failure` (and always, unless-stopped) brings the
/// container back; the value of timeout(1) when it gave up on a command.
pub const UNHEALTHY: u8 = 124;
pub const CANNOT_EXECUTE: u8 = 126;
pub const NOT_FOUND: u8 = 127;

/// 128 + N for a death by signal N (N ≤ 64, so this never wraps).
pub fn from_signal(sig: i32) -> u8 {
    (128 + sig.clamp(0, 127)) as u8
}

/// The code a shell would report for a process that ended this way.
pub fn from_ended(ended: Ended) -> u8 {
    match ended {
        Ended::Exited(code) => (code & 0xff) as u8,
        Ended::Signaled(sig) => from_signal(sig),
    }
}

/// 127 when the program was not found, 126 for every other reason it could not be executed
/// (permission, not a regular file, bad format), as shells do.
pub fn for_exec_error(err: &io::Error) -> u8 {
    match err.raw_os_error() {
        Some(libc::ENOENT) => NOT_FOUND,
        _ => CANNOT_EXECUTE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(from_ended(Ended::Exited(3)), 3);
        assert_eq!(from_ended(Ended::Exited(300)), 44);
        assert_eq!(from_ended(Ended::Signaled(15)), 143);
        assert_eq!(from_ended(Ended::Signaled(64)), 192);
        assert_eq!(
            for_exec_error(&io::Error::from_raw_os_error(libc::ENOENT)),
            127
        );
        assert_eq!(
            for_exec_error(&io::Error::from_raw_os_error(libc::EACCES)),
            126
        );
    }
}
