//! gRPC health checks: one `grpc.health.v1.Health/Check` call over HTTP/2, h2c with prior
//! knowledge (`grpc://`) or TLS with ALPN `h2` (`grpcs://`). The HTTP/2 client is ours and
//! does only what one unary call needs, carefully: the preface and SETTINGS (a header table of
//! 0 and push off), SETTINGS and PING acknowledged, WINDOW_UPDATE and PRIORITY ignored,
//! padding, CONTINUATION, trailers-only responses, a graceful GOAWAY. Every bound is small and
//! fixed: a frame of at most 16 KiB (the size we allow, the protocol's minimum), a header
//! block and a header list of at most 64 KiB, a message of at most 64 KiB, at most
//! [`MAX_CONTROL`] SETTINGS and PING frames; so a hostile peer ends in a one-line failure
//! before the deadline or at it, with bounded memory.

use std::io::{self, Read, Write};

use super::hpack::Decoder;
use super::http::io_failure;
use super::net::{self, Conn};
use super::target::GrpcUrl;
use super::{Deadline, Failure, Phase, Prepared, Progress};

/// The largest frame payload we accept (SETTINGS_MAX_FRAME_SIZE left at its default).
const MAX_FRAME: usize = 16_384;
/// The largest header block (HEADERS and its CONTINUATIONs) and decoded header list.
const MAX_HEADERS: usize = 64 * 1024;
/// The largest response message.
const MAX_MESSAGE: usize = 64 * 1024;
/// SETTINGS and PING frames a server may send within one call.
const MAX_CONTROL: u32 = 100;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const RST_STREAM: u8 = 3;
const SETTINGS: u8 = 4;
const PUSH_PROMISE: u8 = 5;
const PING: u8 = 6;
const GOAWAY: u8 = 7;
const CONTINUATION: u8 = 9;

const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// The client preface and our SETTINGS: HEADER_TABLE_SIZE 0, ENABLE_PUSH 0.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\
    \x00\x00\x0c\x04\x00\x00\x00\x00\x00\
    \x00\x01\x00\x00\x00\x00\
    \x00\x02\x00\x00\x00\x00";

/// Where a failed call stopped, which grpc_health_probe's exit codes tell apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// No HTTP/2 connection: refused, TLS, not HTTP/2, no SETTINGS within the deadline.
    Connect,
    /// Connected, but the call failed (a grpc-status other than 0, a reset, a timeout).
    Rpc,
    /// The call succeeded and the service is not SERVING.
    NotServing,
}

/// What [`call`] can end in.
pub type Outcome = Result<String, (Stage, Failure)>;

/// Checks a grpc target for health, wait and init: one deadline for everything.
pub fn check(
    url: &GrpcUrl,
    prepared: &Prepared,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<String, Failure> {
    call(url, prepared, deadline, None, None, &mut || {}, progress).map_err(|(_, f)| f)
}

/// Headers a -H or -rpc-header cannot set on a gRPC call: HTTP/2 forbids the
/// connection-specific ones, and the call's own are ward's (`host` and `user-agent` replace
/// `:authority` and ward's user agent).
pub fn reserved(name: &str) -> bool {
    "connection keep-alive proxy-connection transfer-encoding upgrade te content-type \
     grpc-timeout grpc-encoding grpc-accept-encoding"
        .split_ascii_whitespace()
        .any(|r| name.eq_ignore_ascii_case(r))
}

/// One Health/Check call: connecting (TCP or Unix, TLS, the HTTP/2 handshake up to the
/// server's SETTINGS) under `connect`, the call itself under a deadline of `rpc` from then
/// (None: still `connect`), with `connected` called in between. `user_agent` replaces ward's
/// own (a -H user-agent replaces both).
pub fn call(
    url: &GrpcUrl,
    prepared: &Prepared,
    connect: &Deadline,
    rpc: Option<std::time::Duration>,
    user_agent: Option<&str>,
    connected: &mut dyn FnMut(),
    progress: &Progress,
) -> Outcome {
    let opts = &prepared.opts;
    let at = |stage| move |f| (stage, f);
    #[cfg(not(feature = "tls"))]
    if url.tls {
        // Before connecting: nothing a server does changes this.
        return Err((Stage::Connect, start_tls().unwrap_err()));
    }
    let plain = net::connect(
        &url.host,
        url.port,
        opts.unix_socket.as_deref(),
        opts.connect_timeout,
        connect,
        progress,
    )
    .map_err(at(Stage::Connect))?;
    let mut h2 = H2 {
        conn: Conn::new(plain, *connect),
        tls: url.tls,
        host: &url.host,
        deadline: *connect,
        progress,
        buf: Vec::new(),
        start: 0,
        out: Vec::new(),
        control: 0,
        decoder: Decoder::new(4096),
        block: Vec::new(),
        response: Response::default(),
    };
    // Dropped here only, whichever way the call ends.
    h2.call(url, prepared, connect, rpc, user_agent, connected)
}

impl H2<'_> {
    /// [`call`] once connected.
    fn call(
        &mut self,
        url: &GrpcUrl,
        prepared: &Prepared,
        connect: &Deadline,
        rpc: Option<std::time::Duration>,
        user_agent: Option<&str>,
        connected: &mut dyn FnMut(),
    ) -> Outcome {
        let opts = &prepared.opts;
        let at = |stage| move |f| (stage, f);
        #[cfg(feature = "tls")]
        if url.tls {
            start_tls(&mut self.conn, prepared, &url.host, connect, self.progress)
                .map_err(at(Stage::Connect))?;
        }
        // The call (and its metadata) goes out only once the server has proved to speak
        // HTTP/2 with its SETTINGS, as grpc-go does: a token is not handed to whatever else
        // listens.
        self.progress.set(Phase::Handshake);
        self.out.extend_from_slice(PREFACE);
        self.handshake().map_err(at(Stage::Connect))?;
        connected();
        let rpc = rpc.map_or(*connect, Deadline::after);
        self.conn.set_deadline(rpc);
        self.deadline = rpc;
        request(&mut self.out, url, opts, &rpc, user_agent);
        self.progress.set(Phase::Waiting);
        let read = self.response(opts);
        // A polite end: GOAWAY, NO_ERROR, no stream processed by us.
        frame(&mut self.out, GOAWAY, 0, 0, &[0; 8]);
        let _ = self.flush();
        read.map_err(at(Stage::Rpc))?;
        judge(opts, &self.response)
    }
}

#[cfg(feature = "tls")]
fn start_tls(
    conn: &mut Conn,
    prepared: &Prepared,
    host: &str,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<(), Failure> {
    let setup = prepared.tls().map_err(Failure::new)?;
    setup.handshake_h2(conn, host, deadline, progress)
}

#[cfg(not(feature = "tls"))]
fn start_tls() -> Result<(), Failure> {
    Err(Failure::new(
        "grpcs:// needs TLS, and this ward was built without it",
    ))
}

// ---- The request ----------------------------------------------------------------------------

/// Appends one frame.
fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
}

/// An HPACK integer (RFC 7541 §5.1) with `flags` in the bits above the `bits`-bit prefix.
fn int(out: &mut Vec<u8>, flags: u8, bits: u32, mut value: usize) {
    let max = (1usize << bits) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    value -= max;
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A literal field not added to the table (`flags` 0x00) or never indexed (0x10), with the
/// name from the static table (`index`) or, for index 0, written out. Strings are raw (no
/// Huffman): the encoder needs no table.
fn field(out: &mut Vec<u8>, flags: u8, index: usize, name: &str, value: &[u8]) {
    int(out, flags, 4, index);
    if index == 0 {
        int(out, 0, 7, name.len());
        out.extend_from_slice(name.as_bytes());
    }
    int(out, 0, 7, value.len());
    out.extend_from_slice(value);
}

/// `grpc-timeout`: the time left, in at most 8 digits (milliseconds, else seconds, else hours).
fn timeout_value(left: std::time::Duration) -> String {
    let (secs, ms) = (left.as_secs(), left.as_millis().max(1) as u64);
    let (n, unit) = if ms < 100_000_000 {
        (ms, 'm')
    } else if secs < 100_000_000 {
        (secs, 'S')
    } else {
        ((secs / 3600).min(99_999_999), 'H')
    };
    format!("{n}{unit}")
}

/// The HEADERS (split into CONTINUATIONs past 16 KiB) and DATA of the call on stream 1.
fn request(
    out: &mut Vec<u8>,
    url: &GrpcUrl,
    opts: &super::CheckOptions,
    rpc: &Deadline,
    user_agent: Option<&str>,
) {
    let given = |name: &str| {
        opts.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let authority = given("host").map_or_else(|| url.authority(), str::to_string);
    let ours = concat!("ward/", env!("CARGO_PKG_VERSION"));
    let agent = given("user-agent").or(user_agent).unwrap_or(ours);
    // :method POST, :scheme http or https (static table 3, 6, 7).
    let mut block = vec![0x83, if url.tls { 0x87 } else { 0x86 }];
    field(&mut block, 0, 4, "", b"/grpc.health.v1.Health/Check");
    field(&mut block, 0, 1, "", authority.as_bytes());
    field(&mut block, 0, 31, "", b"application/grpc");
    field(&mut block, 0, 0, "te", b"trailers");
    field(&mut block, 0, 58, "", agent.as_bytes());
    if let Some(left) = rpc.remaining() {
        field(
            &mut block,
            0,
            0,
            "grpc-timeout",
            timeout_value(left).as_bytes(),
        );
    }
    for (name, value) in &opts.headers {
        let name = name.to_ascii_lowercase();
        // Binary metadata travels base64-encoded (gRPC over HTTP/2).
        let encoded;
        let value = if name.ends_with("-bin") {
            encoded = super::http::base64(value);
            &encoded
        } else {
            value
        };
        if !matches!(name.as_str(), "host" | "user-agent") {
            field(&mut block, 0x10, 0, &name, value.as_bytes());
        }
    }
    let mut chunks = block.chunks(MAX_FRAME).peekable();
    let mut kind = HEADERS;
    while let Some(chunk) = chunks.next() {
        let flags = if chunks.peek().is_none() {
            END_HEADERS
        } else {
            0
        };
        frame(out, kind, flags, 1, chunk);
        kind = CONTINUATION;
    }
    // The message: not compressed, HealthCheckRequest { service = 1 } (absent when empty).
    let service = url.service.as_bytes();
    let mut message = Vec::with_capacity(service.len() + 3);
    if !service.is_empty() {
        message.push(0x0a);
        varint(&mut message, service.len());
        message.extend_from_slice(service);
    }
    let mut data = vec![0];
    data.extend_from_slice(&(message.len() as u32).to_be_bytes());
    data.extend_from_slice(&message);
    frame(out, DATA, END_STREAM, 1, &data);
}

/// A protobuf varint.
fn varint(out: &mut Vec<u8>, mut value: usize) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

// ---- The connection -------------------------------------------------------------------------

struct H2<'a> {
    conn: Conn,
    tls: bool,
    host: &'a str,
    deadline: Deadline,
    progress: &'a Progress,
    /// What was read and not used yet, from `start`.
    buf: Vec<u8>,
    start: usize,
    /// What is to be written at the next flush (acknowledgements, the request).
    out: Vec<u8>,
    /// SETTINGS and PING frames seen.
    control: u32,
    /// The answer as it is read: the decoder, the header block, what the server said.
    decoder: Decoder,
    block: Vec<u8>,
    response: Response,
}

/// One frame: type, flags, stream, payload.
struct Frame {
    kind: u8,
    flags: u8,
    stream: u32,
    payload: Vec<u8>,
}

/// What the server answered.
#[derive(Default)]
struct Response {
    /// `:status`, `content-type`, `grpc-status`, `grpc-message`, `grpc-encoding` as sent.
    status: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    grpc_status: Option<Vec<u8>>,
    grpc_message: Option<Vec<u8>>,
    encoding: Option<Vec<u8>>,
    message: Vec<u8>,
}

impl H2<'_> {
    fn fail(&self, e: &io::Error) -> Failure {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Failure::new(match self.progress.get() {
                Phase::Handshake if self.tls => {
                    "the server closed the connection after the TLS handshake (does it want a \
                     client certificate? see --client-cert)"
                }
                Phase::Handshake => {
                    "the server closed the connection in the HTTP/2 handshake (not an HTTP/2 \
                     server?)"
                }
                _ => "the server closed the connection before the call ended",
            });
        }
        io_failure(e, self.tls, self.host, &self.deadline, self.progress)
    }

    fn flush(&mut self) -> Result<(), Failure> {
        let out = std::mem::take(&mut self.out);
        let r = self.conn.write_all(&out).and_then(|_| self.conn.flush());
        r.map_err(|e| self.fail(&e))
    }

    /// Makes `n` bytes available at `buf[start..]`.
    fn fill(&mut self, n: usize) -> Result<(), Failure> {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let mut chunk = [0u8; 4096];
        while self.buf.len() < n {
            let got = match self.conn.read(&mut chunk) {
                Ok(0) => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
                Ok(got) => Ok(got),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
            let got = got.map_err(|e| self.fail(&e))?;
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Failure> {
        if self.buf.len() - self.start < n {
            self.fill(n)?;
        }
        let at = self.start;
        self.start += n;
        Ok(&self.buf[at..at + n])
    }

    fn frame(&mut self) -> Result<Frame, Failure> {
        let head = self.take(9)?;
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
        if len > MAX_FRAME {
            return Err(Failure::new(
                "the server sent a frame larger than the 16 KiB it may send (FRAME_SIZE_ERROR)",
            ));
        }
        let payload = self.take(len)?.to_vec();
        Ok(Frame {
            kind,
            flags,
            stream,
            payload,
        })
    }

    /// Sends what is queued (the preface), then reads up to the server's first SETTINGS,
    /// which must be its first frame, and queues the acknowledgement. A server that never sends one (silent, or another protocol) keeps
    /// the connection from being made.
    fn handshake(&mut self) -> Result<(), Failure> {
        self.flush()?;
        self.fill(9)?;
        if self.buf.starts_with(b"HTTP/") {
            return Err(Failure::new(
                "not an HTTP/2 server (it answered in HTTP/1.x; gRPC needs HTTP/2)",
            ));
        }
        let head = &self.buf[..9];
        if head[3] != SETTINGS || head[4] & ACK != 0 || head[0] != 0 {
            return Err(Failure::new(
                "not an HTTP/2 server (its first bytes are not a SETTINGS frame)",
            ));
        }
        let f = self.frame()?;
        self.control_frame(&f)
    }

    /// SETTINGS and PING: acknowledged (at most [`MAX_CONTROL`] of them).
    fn control_frame(&mut self, f: &Frame) -> Result<(), Failure> {
        if f.flags & ACK != 0 {
            return Ok(());
        }
        self.control += 1;
        if self.control > MAX_CONTROL {
            return Err(Failure::new(
                "the server sent more than 100 SETTINGS and PING frames (a flood)",
            ));
        }
        match f.kind {
            SETTINGS if f.payload.len() % 6 == 0 && f.stream == 0 => {
                frame(&mut self.out, SETTINGS, ACK, 0, &[])
            }
            PING if f.payload.len() == 8 && f.stream == 0 => {
                frame(&mut self.out, PING, ACK, 0, &f.payload)
            }
            _ => return Err(protocol("a malformed SETTINGS or PING frame")),
        }
        Ok(())
    }

    /// Reads the response to stream 1 up to its end: headers, message, trailers.
    /// Into `self.response`; what it owns lives in `self`, so that no way out drops it.
    fn response(&mut self, opts: &super::CheckOptions) -> Result<(), Failure> {
        // Whether a header block (HEADERS then CONTINUATION, into `self.block`) is being
        // read, and whether it ends the stream.
        let mut block: Option<bool> = None;
        let mut blocks = 0;
        loop {
            if !self.out.is_empty() {
                self.flush()?;
            }
            let f = self.frame()?;
            if block.is_some() && (f.kind != CONTINUATION || f.stream != 1) {
                return Err(protocol("a header block interrupted by another frame"));
            }
            let mut ends = false;
            match f.kind {
                DATA if f.stream == 1 => {
                    if blocks == 0 {
                        return Err(protocol("DATA before the response headers"));
                    }
                    self.progress.set(Phase::Body);
                    let data = unpad(f.flags, &f.payload, false)?;
                    let message = &mut self.response.message;
                    if message.len() + data.len() > MAX_MESSAGE + 5 {
                        return Err(Failure::new(
                            "the server's response message is larger than 64 KiB",
                        ));
                    }
                    message.extend_from_slice(data);
                    if f.flags & END_STREAM != 0 {
                        return Ok(());
                    }
                }
                HEADERS if f.stream == 1 => {
                    self.progress.set(Phase::Headers);
                    let fragment = unpad(f.flags, &f.payload, true)?;
                    self.block.clear();
                    self.block.extend_from_slice(fragment);
                    block = Some(f.flags & END_STREAM != 0);
                    ends = f.flags & END_HEADERS != 0;
                }
                CONTINUATION => {
                    if block.is_none() {
                        return Err(protocol("CONTINUATION without HEADERS"));
                    }
                    let b = &mut self.block;
                    if b.len() + f.payload.len() > MAX_HEADERS {
                        return Err(Failure::new(
                            "the server's header block is larger than 64 KiB",
                        ));
                    }
                    b.extend_from_slice(&f.payload);
                    ends = f.flags & END_HEADERS != 0;
                }
                RST_STREAM if f.stream == 1 => {
                    return Err(Failure::new(format!(
                        "the server reset the stream ({})",
                        error_name(&f.payload)
                    )));
                }
                SETTINGS | PING => self.control_frame(&f)?,
                GOAWAY => {
                    let last = f.payload.get(..4).map_or(0, |b| {
                        u32::from_be_bytes([b[0], b[1], b[2], b[3]]) & 0x7fff_ffff
                    });
                    let code = f.payload.get(4..8).unwrap_or(&[]);
                    // A graceful shutdown that still serves stream 1: read on.
                    if last >= 1 && code == [0; 4] {
                        continue;
                    }
                    let debug = f.payload.get(8..).unwrap_or(&[]);
                    let debug = scrub(debug, opts);
                    return Err(Failure::new(format!(
                        "the server sent GOAWAY ({}{}{})",
                        error_name(code),
                        if debug.is_empty() { "" } else { ": " },
                        super::printable(&debug, 120)
                    )));
                }
                PUSH_PROMISE => return Err(protocol("PUSH_PROMISE although push is off")),
                // WINDOW_UPDATE, PRIORITY, frames of other streams and of unknown types.
                _ => {}
            }
            if ends {
                let Some(end_stream) = block.take() else {
                    continue;
                };
                let response = &mut self.response;
                let mut interim = false;
                let mut fields = |name: &[u8], value: &[u8]| {
                    let slot = match name {
                        b":status" => {
                            interim = value.first() == Some(&b'1');
                            &mut response.status
                        }
                        b"content-type" => &mut response.content_type,
                        // Only trailers (or a trailers-only answer) end the call.
                        b"grpc-status" if end_stream => &mut response.grpc_status,
                        b"grpc-message" if end_stream => &mut response.grpc_message,
                        b"grpc-encoding" => &mut response.encoding,
                        _ => return,
                    };
                    *slot = Some(value.to_vec());
                };
                self.decoder
                    .decode(&self.block, MAX_HEADERS, &mut fields)
                    .map_err(|e| Failure::new(format!("HPACK: {e} (COMPRESSION_ERROR)")))?;
                // Headers without :status end as "not a gRPC answer (HTTP status none...)".
                if !interim {
                    blocks += 1;
                }
                if end_stream {
                    return Ok(());
                }
            }
        }
    }
}

const BAD_PADDING: &str = "a frame shorter than its padding and priority fields";

/// A frame's content without its padding (and, for HEADERS, its priority fields).
fn unpad(flags: u8, payload: &[u8], headers: bool) -> Result<&[u8], Failure> {
    let mut body = payload;
    let mut pad = 0;
    if flags & PADDED != 0 {
        let (&n, rest) = body.split_first().ok_or_else(|| protocol(BAD_PADDING))?;
        pad = n as usize;
        body = rest;
    }
    if headers && flags & PRIORITY != 0 {
        body = body.get(5..).ok_or_else(|| protocol(BAD_PADDING))?;
    }
    body.get(..body.len().wrapping_sub(pad))
        .filter(|_| pad <= body.len())
        .ok_or_else(|| protocol(BAD_PADDING))
}

fn protocol(what: &str) -> Failure {
    Failure::new(format!("HTTP/2 protocol error: {what}"))
}

/// The name of an HTTP/2 error code (RFC 9113 §7) from its 4 bytes.
fn error_name(code: &[u8]) -> &'static str {
    const NAMES: &str = "NO_ERROR PROTOCOL_ERROR INTERNAL_ERROR FLOW_CONTROL_ERROR \
        SETTINGS_TIMEOUT STREAM_CLOSED FRAME_SIZE_ERROR REFUSED_STREAM CANCEL COMPRESSION_ERROR \
        CONNECT_ERROR ENHANCE_YOUR_CALM INADEQUATE_SECURITY HTTP_1_1_REQUIRED";
    let n = code
        .get(..4)
        .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    nth(NAMES, n as usize).unwrap_or("an unknown error code")
}

/// A server's text with every -H value the request carried (of 3 bytes or more) replaced by
/// `…`: a server may repeat the metadata it refused.
fn scrub(text: &[u8], opts: &super::CheckOptions) -> Vec<u8> {
    // Each value whole, then each of its words (a server may quote only the token of
    // "Bearer TOKEN"), longest first.
    let mut secrets: Vec<&str> = Vec::new();
    for (_, v) in &opts.headers {
        secrets.push(v);
        secrets.extend(v.split(' '));
    }
    secrets.retain(|s| s.len() > 3);
    crate::redact::scrub(text, &secrets)
}

// ---- The verdict ----------------------------------------------------------------------------

/// gRPC status code names (the `grpc-status` trailer), from 0.
const CODES: &str = "OK CANCELLED UNKNOWN INVALID_ARGUMENT DEADLINE_EXCEEDED NOT_FOUND \
    ALREADY_EXISTS PERMISSION_DENIED RESOURCE_EXHAUSTED FAILED_PRECONDITION ABORTED OUT_OF_RANGE \
    UNIMPLEMENTED INTERNAL UNAVAILABLE DATA_LOSS UNAUTHENTICATED";

/// The `n`th word of a list of names separated by spaces.
fn nth(names: &'static str, n: usize) -> Option<&'static str> {
    names.split_ascii_whitespace().nth(n)
}

/// `grpc-message` percent-decoded (gRPC encodes everything outside printable ASCII and `%`).
fn percent_decoded(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hex = text
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (text[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn judge(opts: &super::CheckOptions, r: &Response) -> Outcome {
    let rpc = |msg: String| Err((Stage::Rpc, Failure::new(msg)));
    let shown = |v: &Option<Vec<u8>>| super::printable(v.as_deref().unwrap_or(b"none"), 40);
    let is_grpc = r.status.as_deref() == Some(b"200")
        && r.content_type
            .as_deref()
            .is_some_and(|c| c.starts_with(b"application/grpc"));
    let Some(code_text) = r.grpc_status.as_deref().filter(|_| is_grpc) else {
        return rpc(format!(
            "not a gRPC answer (HTTP status {}, content-type {}, grpc-status {} in the trailers)",
            shown(&r.status),
            shown(&r.content_type),
            shown(&r.grpc_status)
        ));
    };
    let code = std::str::from_utf8(code_text)
        .ok()
        .and_then(|c| c.trim().parse::<usize>().ok())
        .unwrap_or(usize::MAX);
    if code != 0 {
        let text = scrub(
            &percent_decoded(r.grpc_message.as_deref().unwrap_or(b"")),
            opts,
        );
        let (what, open, close) = match code {
            5 => ("unknown service", " (", ")"),
            12 => ("the server does not implement grpc.health.v1", " (", ")"),
            _ => ("", "", ""),
        };
        return rpc(format!(
            "{what}{open}gRPC status {} {}{}{}{close}",
            super::printable(code_text, 12),
            nth(CODES, code).unwrap_or("(unknown code)"),
            if text.is_empty() { "" } else { ": " },
            super::printable(&text, 200)
        ));
    }
    let m = &r.message;
    if m.first().is_some_and(|&c| c != 0) {
        return rpc(format!(
            "a compressed message (grpc-encoding {}), although ward asked for none",
            shown(&r.encoding)
        ));
    }
    let body = m.get(5..).filter(|b| {
        m.get(1..5)
            .is_some_and(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize == b.len())
    });
    let Some(status) = body.and_then(health_status) else {
        return rpc("the server's response is not a HealthCheckResponse".into());
    };
    let not = |what: &str| Err((Stage::NotServing, Failure::new(what)));
    match status {
        1 => Ok("SERVING".into()),
        2 => not("NOT_SERVING"),
        3 => not("SERVICE_UNKNOWN"),
        0 => not("UNKNOWN"),
        _ => not("an unknown status"),
    }
}

/// Field 1 (the status enum) of a HealthCheckResponse; 0 when absent; None when the bytes
/// are not protobuf.
fn health_status(msg: &[u8]) -> Option<u64> {
    fn varint(msg: &[u8], i: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *msg.get(*i)?;
            *i += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut i = 0;
    let mut status = 0;
    while i < msg.len() {
        let key = varint(msg, &mut i)?;
        let skip = match key & 7 {
            0 => {
                let v = varint(msg, &mut i)?;
                if key >> 3 == 1 {
                    status = v;
                }
                0
            }
            1 => 8,
            2 => usize::try_from(varint(msg, &mut i)?).ok()?,
            5 => 4,
            _ => return None,
        };
        i = i.checked_add(skip).filter(|&end| end <= msg.len())?;
    }
    Some(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_integers_and_timeouts() {
        let mut out = Vec::new();
        int(&mut out, 0, 5, 10);
        int(&mut out, 0, 5, 1337);
        int(&mut out, 0x10, 4, 15);
        assert_eq!(out, [10, 31, 154, 10, 0x1f, 0]);
        use std::time::Duration;
        assert_eq!(timeout_value(Duration::from_millis(1500)), "1500m");
        assert_eq!(timeout_value(Duration::from_micros(10)), "1m");
        assert_eq!(timeout_value(Duration::from_secs(200_000)), "200000S");
        assert_eq!(timeout_value(Duration::from_secs(100_000_000)), "27777H");
    }

    #[test]
    fn grpc_health_responses() {
        assert_eq!(health_status(&[0x08, 0x01]), Some(1));
        assert_eq!(health_status(&[]), Some(0));
        // Unknown fields of every wire type are skipped.
        assert_eq!(
            health_status(&[
                0x12, 0x02, b'h', b'i', 0x19, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x02
            ]),
            Some(2)
        );
        assert_eq!(health_status(&[0x08]), None);
        assert_eq!(health_status(&[0x12, 0x05, 0]), None);
        assert_eq!(health_status(&[0x0b]), None);
        assert_eq!(health_status(&[0xff; 12]), None);
        assert_eq!(percent_decoded(b"a%20b%zz%4"), b"a b%zz%4");
        assert_eq!(error_name(&[0, 0, 0, 11]), "ENHANCE_YOUR_CALM");
        assert_eq!(error_name(&[0, 0, 1, 0]), "an unknown error code");
        assert_eq!(unpad(PADDED, &[2, b'x', 0, 0], false).unwrap(), b"x");
        assert!(unpad(PADDED, &[5, b'x'], false).is_err());
        assert!(unpad(PADDED | PRIORITY, &[0, 1, 2], true).is_err());
    }
}
