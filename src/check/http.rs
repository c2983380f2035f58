//! One HTTP/1.1 exchange at a time, written for health checks: a GET (or --method) with
//! `Connection: close`, response headers capped at 64 KiB, the body read only when
//! --expect-body asks for it and then only its first 64 KiB, every read and write under the
//! deadline. Hand-written rather than a general client so that hostile servers (silent,
//! dribbling, endless, not HTTP) end in a clear one-line failure with bounded memory.

use std::io::{self, Read, Write};

use super::net::{self, Conn, Plain};
use super::proxy::{self, Proxy};
use super::target::{Scheme, Url};
use super::{Deadline, Failure, Phase, Prepared, Progress};

/// Largest response head accepted, and how much of a body --expect-body searches.
const HEAD_LIMIT: usize = 64 * 1024;
const BODY_LIMIT: usize = 64 * 1024;
const MAX_REDIRECTS: usize = 10;

/// Checks `url`, following redirects when asked. Ok("HTTP 200") when healthy.
pub fn check(
    url: &Url,
    prepared: &Prepared,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<String, Failure> {
    let opts = &prepared.opts;
    let origin = (url.scheme, url.host.clone(), url.port);
    let first_host = url.host.clone();
    let mut url = url.clone();
    let mut hops = 0;
    loop {
        let same_origin = (url.scheme, url.host.clone(), url.port) == origin;
        let same_host = url.host == first_host;
        let mut ex = exchange(&url, same_origin, same_host, prepared, deadline, progress)?;
        let status = ex.head.status;
        let location = ex.head.header("location").map(str::to_string);
        if opts.follow_redirects && is_redirect(status) {
            if let Some(loc) = location {
                if hops == MAX_REDIRECTS {
                    return Err(Failure::new(format!("more than {MAX_REDIRECTS} redirects")));
                }
                url = url
                    .join(&loc)
                    .map_err(|e| Failure::new(format!("HTTP {status}: bad redirect: {e}")))?;
                hops += 1;
                continue;
            }
        }
        if !opts.status.contains(status) {
            return Err(Failure::new(
                if is_redirect(status) && !opts.follow_redirects {
                    format!("HTTP {status} (redirect not followed; see --follow-redirects)")
                } else {
                    format!("HTTP {status}")
                },
            ));
        }
        if let Some(needle) = &opts.expect_body {
            progress.set(Phase::Body);
            if !ex.body_contains(needle.as_bytes(), &opts.method, deadline, progress)? {
                return Err(Failure::new(format!(
                    "HTTP {status}, but the body does not contain {:?}{}",
                    short(needle),
                    if ex.truncated {
                        " (first 64 KiB checked)"
                    } else {
                        ""
                    }
                )));
            }
        }
        return Ok(format!("HTTP {status}"));
    }
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

fn short(text: &str) -> String {
    let mut s: String = text.chars().take(40).collect();
    if s.len() < text.len() {
        s.push('…');
    }
    s
}

/// A response whose head has been read; the connection stays open for the body.
struct Exchange {
    conn: Conn,
    head: Head,
    /// Bytes read past the head.
    rest: Vec<u8>,
    tls: bool,
    name: String,
    truncated: bool,
}

pub(crate) struct Head {
    pub(crate) status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Opens the connection (direct, through a proxy, or over --unix-socket), sends the request and
/// reads the response head.
fn exchange(
    url: &Url,
    same_origin: bool,
    same_host: bool,
    prepared: &Prepared,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<Exchange, Failure> {
    let opts = &prepared.opts;
    let mut via_proxy: Option<Proxy> = None;
    let plain = if let Some(path) = &opts.unix_socket {
        Plain::Unix(net::connect_unix(
            path,
            opts.connect_timeout,
            deadline,
            progress,
        )?)
    } else {
        via_proxy = proxy::for_url(url).map_err(Failure::new)?;
        let (host, port) = match &via_proxy {
            Some(p) => (p.host.as_str(), p.port),
            None => (url.host.as_str(), url.port),
        };
        let in_proxy = |f: Failure| match &via_proxy {
            Some(p) => Failure::new(format!("proxy {}: {}", p.display(), f.0)),
            None => f,
        };
        let addrs = net::resolve(host, port, deadline, progress).map_err(in_proxy)?;
        Plain::Tcp(
            net::connect_tcp(&addrs, opts.connect_timeout, deadline, progress).map_err(in_proxy)?,
        )
    };
    let mut conn = Conn::new(plain, *deadline);
    let name = url.host.clone();
    let tls = url.scheme == Scheme::Https;

    if tls {
        if let Some(p) = &via_proxy {
            tunnel(&mut conn, p, url, deadline, progress)?;
        }
        start_tls(&mut conn, prepared, &name, same_host, deadline, progress)?;
    }

    // Absolute-form only for plain HTTP through a proxy; a CONNECT tunnel is end-to-end.
    let absolute = via_proxy.is_some() && !tls;
    let request = build_request(url, same_origin, absolute, via_proxy.as_ref(), prepared);
    progress.set(Phase::Sending);
    conn.write_all(request.as_bytes())
        .and_then(|_| conn.flush())
        .map_err(|e| io_failure(&e, tls, &name, deadline, progress))?;

    progress.set(Phase::Waiting);
    let (head, rest) = read_head(&mut conn, tls, &name, deadline, progress)?;
    Ok(Exchange {
        conn,
        head,
        rest,
        tls,
        name,
        truncated: false,
    })
}

#[cfg(feature = "tls")]
fn start_tls(
    conn: &mut Conn,
    prepared: &Prepared,
    name: &str,
    same_host: bool,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<(), Failure> {
    let setup = prepared.tls().map_err(Failure::new)?;
    setup.handshake(conn, name, same_host, deadline, progress)
}

#[cfg(not(feature = "tls"))]
fn start_tls(
    _conn: &mut Conn,
    _prepared: &Prepared,
    _name: &str,
    _same_host: bool,
    _deadline: &Deadline,
    _progress: &Progress,
) -> Result<(), Failure> {
    Err(Failure::new(
        "https is not supported: this ward was built without TLS (feature \"tls\")",
    ))
}

/// CONNECT through an HTTP proxy for an https target.
fn tunnel(
    conn: &mut Conn,
    proxy: &Proxy,
    url: &Url,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<(), Failure> {
    progress.set(Phase::Proxy);
    let authority = url.authority(true);
    let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some((u, p)) = &proxy.userinfo {
        req.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64(&format!("{u}:{p}"))
        ));
    }
    req.push_str("\r\n");
    let fail = |f: Failure| Failure::new(format!("proxy {}: {}", proxy.display(), f.0));
    conn.write_all(req.as_bytes())
        .map_err(|e| fail(io_failure(&e, false, "", deadline, progress)))?;
    let (head, _) = read_head(conn, false, "", deadline, progress).map_err(fail)?;
    if !(200..300).contains(&head.status) {
        return Err(fail(Failure::new(format!(
            "CONNECT answered HTTP {}",
            head.status
        ))));
    }
    Ok(())
}

fn build_request(
    url: &Url,
    same_origin: bool,
    absolute: bool,
    proxy: Option<&Proxy>,
    prepared: &Prepared,
) -> String {
    let opts = &prepared.opts;
    let has = |name: &str| {
        opts.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    let target = if absolute {
        format!("http://{}{}", url.authority(false), url.path)
    } else {
        url.path.clone()
    };
    let mut req = format!("{} {target} HTTP/1.1\r\n", opts.method);
    if !has("host") {
        req.push_str(&format!("Host: {}\r\n", url.authority(false)));
    }
    if !has("user-agent") {
        req.push_str(concat!(
            "User-Agent: ward/",
            env!("CARGO_PKG_VERSION"),
            "\r\n"
        ));
    }
    if !has("accept") {
        req.push_str("Accept: */*\r\n");
    }
    // Credentials go only to the origin they were given for, never across a redirect.
    let creds = opts.user.as_ref().or(url.userinfo.as_ref());
    if let (Some((u, p)), true, false) = (creds, same_origin, has("authorization")) {
        req.push_str(&format!(
            "Authorization: Basic {}\r\n",
            base64(&format!("{u}:{p}"))
        ));
    }
    if let (
        true,
        Some(Proxy {
            userinfo: Some((u, p)),
            ..
        }),
    ) = (absolute, proxy)
    {
        req.push_str(&format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64(&format!("{u}:{p}"))
        ));
    }
    for (n, v) in &opts.headers {
        // Credentials and the host name the user gave belong to the first origin only.
        let sensitive = ["authorization", "cookie", "host", "proxy-authorization"]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h));
        if same_origin || !sensitive {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    if matches!(opts.method.as_str(), "POST" | "PUT" | "PATCH") && !has("content-length") {
        req.push_str("Content-Length: 0\r\n");
    }
    req.push_str("Connection: close\r\n\r\n");
    req
}

/// Maps an I/O error during the exchange to a failure, naming the phase on timeout.
pub(super) fn io_failure(
    e: &io::Error,
    tls: bool,
    name: &str,
    deadline: &Deadline,
    progress: &Progress,
) -> Failure {
    if e.kind() == io::ErrorKind::TimedOut {
        return deadline.timed_out(progress.get());
    }
    #[cfg(feature = "tls")]
    if tls && e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
        return super::tls::io_failure(e, name, deadline);
    }
    let _ = (tls, name);
    match e.kind() {
        io::ErrorKind::ConnectionReset => Failure::new("connection reset by the server"),
        io::ErrorKind::BrokenPipe => Failure::new("the server closed the connection"),
        io::ErrorKind::UnexpectedEof => Failure::new("the server closed the connection"),
        _ => Failure::new(crate::error::describe_io(e).to_ascii_lowercase()),
    }
}

/// Reads until the end of the response head (skipping 1xx interim responses); returns the
/// head and whatever was read past it.
fn read_head(
    conn: &mut Conn,
    tls: bool,
    name: &str,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<(Head, Vec<u8>), Failure> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    // Bytes already searched for the end of the head (minus the 3 that may start it).
    let mut scanned = 0;
    loop {
        if let Some(end) = find_head_end(&buf, scanned) {
            let head = parse_head(&buf[..end])?;
            let rest = buf.split_off(end);
            if (100..200).contains(&head.status) && head.status != 101 {
                buf = rest;
                scanned = 0;
                continue;
            }
            return Ok((head, rest));
        }
        scanned = buf.len().saturating_sub(3);
        if buf.len() > HEAD_LIMIT {
            return Err(Failure::new("response headers larger than 64 KiB"));
        }
        let n = match conn.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure(&e, tls, name, deadline, progress)),
        };
        if n == 0 {
            return Err(Failure::new(if buf.is_empty() {
                "the server closed the connection without a response".to_string()
            } else if !looks_like_http(&buf) {
                not_http(&buf)
            } else {
                "the server closed the connection in the middle of the response headers".to_string()
            }));
        }
        buf.extend_from_slice(&chunk[..n]);
        progress.set(Phase::Headers);
        if !looks_like_http(&buf) {
            return Err(Failure::new(not_http(&buf)));
        }
    }
}

/// Whether the bytes so far can still be the start of an HTTP/1.x status line.
fn looks_like_http(buf: &[u8]) -> bool {
    let expect = b"HTTP/1.";
    let n = buf.len().min(expect.len());
    buf[..n] == expect[..n]
}

fn not_http(buf: &[u8]) -> String {
    format!(
        "not an HTTP response (starts with {:?})",
        super::printable(buf, 24)
    )
}

/// Position just past the blank line that ends the head (CRLFCRLF, or bare LFLF), searching
/// from `from` on.
pub(crate) fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let tail = buf.get(from..)?;
    let crlf = tail
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| from + i + 4);
    let lf = tail
        .windows(2)
        .position(|w| w == b"\n\n")
        .map(|i| from + i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

pub(crate) fn parse_head(bytes: &[u8]) -> Result<Head, Failure> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines = text.split('\n').map(|l| l.trim_end_matches('\r'));
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let code = parts.next().unwrap_or("");
    let status = (version.len() == 8 && version.starts_with("HTTP/1.") && code.len() == 3)
        .then(|| code.parse::<u16>().ok())
        .flatten()
        .filter(|c| (100..=599).contains(c))
        .ok_or_else(|| Failure::new(not_http(bytes)))?;
    let headers = lines
        .filter_map(|l| {
            let (n, v) = l.split_once(':')?;
            Some((n.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    Ok(Head { status, headers })
}

impl Exchange {
    /// Reads the body (de-chunked) until `needle` shows up, the body ends, or 64 KiB have been
    /// searched.
    fn body_contains(
        &mut self,
        needle: &[u8],
        method: &str,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<bool, Failure> {
        if method == "HEAD" || matches!(self.head.status, 204 | 304) {
            return Ok(false);
        }
        let chunked = self
            .head
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length = self
            .head
            .header("content-length")
            .and_then(|v| v.trim().parse::<usize>().ok());
        let mut input = Input {
            buf: std::mem::take(&mut self.rest),
            pos: 0,
            eof: false,
        };
        let mut body: Vec<u8> = Vec::new();
        // Linear whatever the chunking: each pass searches only what arrived since the last
        // one, plus the needle's length minus one before it (a match may straddle the two).
        let mut searched: usize = 0;
        let mut remaining_in_chunk: usize = 0;
        let mut left = length;
        loop {
            if !needle.is_empty() && body.len() >= needle.len() {
                let from = searched.saturating_sub(needle.len() - 1);
                if body[from..].windows(needle.len()).any(|w| w == needle) {
                    return Ok(true);
                }
                searched = body.len();
            }
            if body.len() >= BODY_LIMIT {
                self.truncated = true;
                return Ok(false);
            }
            let want = BODY_LIMIT - body.len();
            if chunked {
                if remaining_in_chunk == 0 {
                    let line = input.line(self, deadline, progress)?;
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16).map_err(|_| {
                        Failure::new("invalid chunked encoding in the response body")
                    })?;
                    if size == 0 {
                        return Ok(false);
                    }
                    remaining_in_chunk = size;
                }
                let got = input.take(self, remaining_in_chunk.min(want), deadline, progress)?;
                if got.is_empty() {
                    return Ok(false);
                }
                remaining_in_chunk -= got.len();
                body.extend_from_slice(&got);
                if remaining_in_chunk == 0 {
                    input.line(self, deadline, progress)?;
                }
            } else {
                let limit = match left {
                    Some(0) => return Ok(false),
                    Some(n) => n.min(want),
                    None => want,
                };
                let got = input.take(self, limit, deadline, progress)?;
                if got.is_empty() {
                    return Ok(false);
                }
                if let Some(n) = left.as_mut() {
                    *n -= got.len();
                }
                body.extend_from_slice(&got);
            }
        }
    }

    fn fill(
        &mut self,
        into: &mut Vec<u8>,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<bool, Failure> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.conn.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    into.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A server that closes without TLS close_notify still sent a whole body.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(false),
                Err(e) => return Err(io_failure(&e, self.tls, &self.name, deadline, progress)),
            }
        }
    }
}

/// Buffered body bytes.
struct Input {
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
}

impl Input {
    fn refill(
        &mut self,
        ex: &mut Exchange,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<(), Failure> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if !self.eof && !ex.fill(&mut self.buf, deadline, progress)? {
            self.eof = true;
        }
        Ok(())
    }

    /// Up to `max` bytes (fewer only at the end of the stream).
    fn take(
        &mut self,
        ex: &mut Exchange,
        max: usize,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<Vec<u8>, Failure> {
        if self.pos >= self.buf.len() {
            self.refill(ex, deadline, progress)?;
        }
        let end = (self.pos + max).min(self.buf.len());
        let out = self.buf[self.pos..end].to_vec();
        self.pos = end;
        Ok(out)
    }

    /// One line (without its CRLF), at most 4 KiB.
    fn line(
        &mut self,
        ex: &mut Exchange,
        deadline: &Deadline,
        progress: &Progress,
    ) -> Result<String, Failure> {
        loop {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.buf[self.pos..self.pos + i])
                    .trim_end_matches('\r')
                    .to_string();
                self.pos += i + 1;
                return Ok(line);
            }
            if self.buf.len() - self.pos > 4096 {
                return Err(Failure::new(
                    "invalid chunked encoding in the response body",
                ));
            }
            if self.eof {
                return Err(Failure::new(
                    "the server closed the connection in the middle of the body",
                ));
            }
            self.refill(ex, deadline, progress)?;
        }
    }
}

/// Standard base64 with padding, for Basic credentials.
pub(super) fn base64(text: &str) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_encoding() {
        assert_eq!(base64(""), "");
        assert_eq!(base64("f"), "Zg==");
        assert_eq!(base64("fo"), "Zm8=");
        assert_eq!(base64("foo"), "Zm9v");
        assert_eq!(base64("user:secret"), "dXNlcjpzZWNyZXQ=");
    }

    #[test]
    fn heads() {
        let h = parse_head(b"HTTP/1.1 204 No Content\r\nX-A: b\r\nLocation: /x\r\n\r\n").unwrap();
        assert_eq!(h.status, 204);
        assert_eq!(h.header("location"), Some("/x"));
        assert!(parse_head(b"HTTP/1.1 20 OK\r\n\r\n").is_err());
        assert!(parse_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert_eq!(find_head_end(b"HTTP/1.0 200 OK\n\nbody", 0), Some(17));
        assert_eq!(find_head_end(b"HTTP/1.0 200 OK\r\n\r\nbody", 14), Some(19));
        assert!(looks_like_http(b"HTT"));
        assert!(!looks_like_http(b"SSH-2.0"));
    }
}
