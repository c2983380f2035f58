//! Connections under a hard deadline: name resolution bounded by a thread (musl's resolver
//! ignores socket timeouts), every resolved address tried in turn, and every read and write
//! limited to the time that is left.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::mailbox::Mailbox;
use super::{Deadline, Failure, Phase, Progress};
use crate::error::describe_io;

/// Resolves `host` to socket addresses within the deadline. IP literals and `localhost` (plus
/// `*.localhost`, RFC 6761) never touch the resolver: `localhost` is ::1 then 127.0.0.1, so a
/// FROM-scratch image without /etc/hosts still finds an app on either family.
pub fn resolve(
    host: &str,
    port: u16,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<Vec<SocketAddr>, Failure> {
    if let Some(ip) = super::target::ip_literal(host) {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let lower = host.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Ok(vec![
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port),
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port),
        ]);
    }
    progress.set(Phase::Resolving);
    let mailbox = Arc::new(Mailbox::default());
    let sender = mailbox.clone();
    let name = host.to_string();
    let spawned = std::thread::Builder::new().spawn(move || {
        sender.send((name.as_str(), port).to_socket_addrs().map(Vec::from_iter));
    });
    if spawned.is_err() {
        return Err(Failure::new("cannot start a thread to resolve the host"));
    }
    match mailbox.recv_until(deadline.end()) {
        Some(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Some(Ok(_)) => Err(Failure::new(format!("{host:?} has no addresses"))),
        Some(Err(e)) => Err(Failure::new(format!(
            "cannot resolve {host:?}: {}",
            resolve_error(&e)
        ))),
        None => Err(deadline.timed_out(Phase::Resolving)),
    }
}

fn resolve_error(e: &io::Error) -> String {
    let text = e.to_string();
    // std wraps getaddrinfo's message: "failed to lookup address information: <gai text>".
    text.strip_prefix("failed to lookup address information: ")
        .unwrap_or(&text)
        .to_string()
}

/// Why one connect attempt failed, in a few words.
fn connect_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        io::ErrorKind::NotFound => "no such socket".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => describe_io(e).to_ascii_lowercase(),
    }
}

/// A plain connection to `host:port`, or to the Unix socket `unix` instead when one is given.
pub fn connect(
    host: &str,
    port: u16,
    unix: Option<&Path>,
    per_attempt: Duration,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<Plain, Failure> {
    Ok(match unix {
        Some(path) => Plain::Unix(connect_unix(path, per_attempt, deadline, progress)?),
        None => {
            let addrs = resolve(host, port, deadline, progress)?;
            Plain::Tcp(connect_tcp(&addrs, per_attempt, deadline, progress)?)
        }
    })
}

/// Connects to the first address that accepts, each attempt bounded by `per_attempt` and by
/// the deadline. When all fail, the message lists what happened at each address.
pub fn connect_tcp(
    addrs: &[SocketAddr],
    per_attempt: Duration,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<TcpStream, Failure> {
    progress.set(Phase::Connecting);
    let mut errors: Vec<String> = Vec::new();
    for addr in addrs {
        let Some(left) = deadline.remaining() else {
            break;
        };
        let limit = per_attempt.min(left).max(Duration::from_millis(1));
        match TcpStream::connect_timeout(addr, limit) {
            Ok(s) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Err(e) => {
                let why = if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) {
                    format!("timed out after {}", crate::cli::format_duration(limit))
                } else {
                    connect_error(&e)
                };
                errors.push(if addrs.len() > 1 {
                    format!("{why} ({addr})")
                } else {
                    why
                });
            }
        }
    }
    if errors.len() < addrs.len() && deadline.remaining().is_none() {
        return Err(deadline.timed_out(Phase::Connecting));
    }
    Err(Failure::new(errors.join("; ")))
}

/// Connects to a Unix stream socket within the deadline (a listener with a full backlog does
/// not stall the check).
pub fn connect_unix(
    path: &Path,
    per_attempt: Duration,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<UnixStream, Failure> {
    progress.set(Phase::Connecting);
    let left = deadline
        .remaining()
        .ok_or_else(|| deadline.timed_out(Phase::Connecting))?;
    let limit = per_attempt.min(left);
    crate::sys::net::connect_unix(path, limit).map_err(|e| {
        if e.kind() == io::ErrorKind::TimedOut {
            Failure::new(format!(
                "timed out after {} while connecting",
                crate::cli::format_duration(limit)
            ))
        } else {
            Failure::new(connect_error(&e))
        }
    })
}

/// A plain byte stream: TCP or Unix.
pub enum Plain {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Plain {
    fn set_timeouts(&self, t: Duration) -> io::Result<()> {
        match self {
            Plain::Tcp(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
            Plain::Unix(s) => {
                s.set_read_timeout(Some(t))?;
                s.set_write_timeout(Some(t))
            }
        }
    }
}

impl Read for Plain {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Plain::Tcp(s) => s.read(buf),
            Plain::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Plain {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Plain::Tcp(s) => s.write(buf),
            Plain::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A connection whose every read and write is bounded by the deadline, optionally with TLS on
/// top. A timeout surfaces as `io::ErrorKind::TimedOut`.
pub struct Conn {
    plain: Plain,
    #[cfg(feature = "tls")]
    pub(super) tls: Option<rustls::ClientConnection>,
    deadline: Deadline,
}

impl Conn {
    pub fn new(plain: Plain, deadline: Deadline) -> Conn {
        Conn {
            plain,
            #[cfg(feature = "tls")]
            tls: None,
            deadline,
        }
    }

    /// Moves the deadline every read and write is bounded by.
    pub fn set_deadline(&mut self, deadline: Deadline) {
        self.deadline = deadline;
    }

    /// The plain stream, under the deadline, and the TLS state, separately (for the
    /// handshake).
    #[cfg(feature = "tls")]
    pub(super) fn tls_parts(&mut self) -> (Timed<'_>, Option<&mut rustls::ClientConnection>) {
        (
            Timed {
                plain: &mut self.plain,
                deadline: &self.deadline,
            },
            self.tls.as_mut(),
        )
    }
}

/// The plain stream with the deadline applied to every single read and write (rustls may make
/// several of them for one call of ours).
pub struct Timed<'a> {
    plain: &'a mut Plain,
    deadline: &'a Deadline,
}

impl Read for Timed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        arm(self.plain, self.deadline)?;
        timeout_kind(self.plain.read(buf))
    }
}

impl Write for Timed<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        arm(self.plain, self.deadline)?;
        timeout_kind(self.plain.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Applies the time left to the socket, or fails with TimedOut when none is.
fn arm(plain: &mut Plain, deadline: &Deadline) -> io::Result<()> {
    let left = deadline
        .remaining()
        .ok_or_else(|| io::Error::from(io::ErrorKind::TimedOut))?;
    plain.set_timeouts(left.max(Duration::from_millis(1)))
}

/// Turns the "would block" a socket timeout produces into TimedOut.
fn timeout_kind(r: io::Result<usize>) -> io::Result<usize> {
    r.map_err(|e| {
        if e.kind() == io::ErrorKind::WouldBlock {
            io::Error::from(io::ErrorKind::TimedOut)
        } else {
            e
        }
    })
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut io = Timed {
            plain: &mut self.plain,
            deadline: &self.deadline,
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return timeout_kind(rustls::Stream::new(tls, &mut io).read(buf));
        }
        io.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut io = Timed {
            plain: &mut self.plain,
            deadline: &self.deadline,
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            return timeout_kind(rustls::Stream::new(tls, &mut io).write(buf));
        }
        io.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_mut() {
            let mut io = Timed {
                plain: &mut self.plain,
                deadline: &self.deadline,
            };
            return rustls::Stream::new(tls, &mut io).flush();
        }
        Ok(())
    }
}
