//! Socket calls std does not offer: a Unix-socket connect with a time limit.

use std::io;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Connects to the Unix stream socket at `path`, giving up after `limit`. A listener whose
/// backlog is full makes a blocking connect wait forever; a non-blocking one says EAGAIN,
/// which is retried every 10 ms until the limit.
pub fn connect_unix(path: &Path, limit: Duration) -> io::Result<UnixStream> {
    let bytes = path.as_os_str().as_bytes();
    // SAFETY: sockaddr_un is plain old data; all-zero is a valid starting value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long",
        ));
    }
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    let len = (std::mem::size_of::<libc::sa_family_t>() + bytes.len() + 1) as libc::socklen_t;
    // SAFETY: creating a socket has no memory-safety preconditions.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket we just created and own from here on.
    let stream = unsafe { UnixStream::from_raw_fd(fd) };
    let end = crate::cli::later(limit);
    loop {
        // SAFETY: `addr` is a live, initialised sockaddr_un and `len` does not exceed it.
        let rc = unsafe { libc::connect(fd, (&addr as *const libc::sockaddr_un).cast(), len) };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EAGAIN) | Some(libc::EINTR) if Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Some(libc::EAGAIN) => return Err(io::Error::from(io::ErrorKind::TimedOut)),
            _ => return Err(err),
        }
    }
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The C library's inet_aton, for the tests that check [`crate::check::target::ip_literal`]
/// against it.
#[cfg(test)]
pub fn inet_aton(text: &str) -> Option<std::net::Ipv4Addr> {
    unsafe extern "C" {
        fn inet_aton(cp: *const libc::c_char, inp: *mut libc::in_addr) -> libc::c_int;
    }
    let c = std::ffi::CString::new(text).ok()?;
    let mut addr = libc::in_addr { s_addr: 0 };
    // SAFETY: a NUL-terminated string and a live in_addr to write to.
    let ok = unsafe { inet_aton(c.as_ptr(), &mut addr) };
    (ok != 0).then(|| std::net::Ipv4Addr::from(u32::from_be(addr.s_addr)))
}
