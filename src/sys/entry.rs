//! ward's own process entry point.
//!
//! ward does not let the Rust runtime start it: `lang_start` would set SIGPIPE to SIG_IGN (and
//! install SIGSEGV/SIGBUS handlers) before `main`, and then nobody could know what SIGPIPE was
//! when ward was started, so the init could not hand it on to its child unchanged. Instead the C
//! runtime calls this `main` directly. The first thing it does is record the inherited signal
//! state; then it turns argv into `OsString`s and hands them to the applet table.

use std::ffi::{CStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// Turns the C argument vector into owned strings.
///
/// # Safety
/// `argv` must point to `argc` valid, NUL-terminated C strings, as the C runtime guarantees for
/// the arguments of `main`.
unsafe fn collect_args(argc: libc::c_int, argv: *const *const libc::c_char) -> Vec<OsString> {
    let mut args = Vec::with_capacity(argc.max(0) as usize);
    for i in 0..argc.max(0) as usize {
        // SAFETY: the caller guarantees `argv[0..argc]` are valid C strings.
        let arg = unsafe { *argv.add(i) };
        if arg.is_null() {
            break;
        }
        // SAFETY: as above; the string lives as long as the process.
        let bytes = unsafe { CStr::from_ptr(arg) }.to_bytes();
        args.push(std::ffi::OsStr::from_bytes(bytes).to_owned());
    }
    args
}

/// Makes sure descriptors 0, 1 and 2 are open. Started with one of them closed (`2>&-`), the
/// next socket or file ward opens would take its number, and a line meant for stderr would go
/// to a server, or into a file. A closed one is opened on /dev/null (on `/` read-only where
/// there is no /dev/null): ward's lines to it are lost, as they would have been, and the
/// program init starts gets the same.
fn open_standard_fds() {
    for fd in 0..=2 {
        // SAFETY: F_GETFD only asks whether the descriptor is open.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1 {
            continue;
        }
        for path in [c"/dev/null", c"/"] {
            let flags = if path == c"/" {
                libc::O_RDONLY | libc::O_DIRECTORY
            } else {
                libc::O_RDWR
            };
            // SAFETY: a NUL-terminated path; the lowest free descriptor is `fd`, since every
            // lower one is open (checked in order).
            let got = unsafe { libc::open(path.as_ptr(), flags) };
            if got == fd {
                break;
            }
            if got >= 0 {
                // SAFETY: closing the descriptor just opened.
                unsafe { libc::close(got) };
            }
        }
    }
}

/// The process entry point, called by the C runtime (musl or glibc) with the real argv.
#[cfg(not(test))]
#[unsafe(no_mangle)]
extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    super::signals::capture_inherited();
    open_standard_fds();
    // SAFETY: the C runtime passes argc valid argument strings.
    let args = unsafe { collect_args(argc, argv) };
    libc::c_int::from(crate::run(args))
}
