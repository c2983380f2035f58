//! Readiness that means ready: PostgreSQL, Redis and MySQL/MariaDB spoken to on the wire, so
//! that "the port is open" and "the database answers" are told apart.
//!
//! - PostgreSQL: a StartupMessage, and the first reply judged as libpq's ping judges it: an
//!   authentication request, or any error but SQLSTATE 57P03 ("the database system is starting
//!   up"), means the server is up. No password is needed; the connection is closed at the
//!   authentication request, which the server does not log.
//! - Redis: AUTH when a password is given, then PING; only `+PONG` is ready (`-LOADING`,
//!   `-BUSY`, `-MASTERDOWN` are not, and `redis-cli ping` gets this wrong).
//! - MySQL/MariaDB: the server's greeting (protocol 10) proves it is up; with a user, a full
//!   login (mysql_native_password, caching_sha2_password's fast path) and COM_QUIT.
//!
//! Every read is bounded (a reply of at most 64 KiB) and under the check's deadline.

use std::io::{self, Read, Write};

use super::http::io_failure;
use super::net::{self, Conn, Plain};
use super::options::Prepared;
use super::sha::{sha1, sha256};
use super::target::{DbKind, DbUrl};
use super::{Deadline, Failure, Phase, Progress};

/// The most bytes one reply may take.
const MAX_REPLY: usize = 64 * 1024;

pub fn check(
    db: &DbUrl,
    prepared: &Prepared,
    deadline: &Deadline,
    progress: &Progress,
) -> Result<String, Failure> {
    let opts = &prepared.opts;
    let plain = match &opts.unix_socket {
        Some(path) => Plain::Unix(net::connect_unix(
            path,
            opts.connect_timeout,
            deadline,
            progress,
        )?),
        None => {
            let addrs = net::resolve(&db.host, db.port, deadline, progress)?;
            Plain::Tcp(net::connect_tcp(
                &addrs,
                opts.connect_timeout,
                deadline,
                progress,
            )?)
        }
    };
    let mut wire = Wire {
        conn: Conn::new(plain, *deadline),
        tls: db.tls,
        host: db.host.clone(),
        deadline: *deadline,
        progress,
    };
    if db.tls {
        start_tls(&mut wire, prepared)?;
    }
    // MySQL speaks first: from here on, ward waits for the server.
    progress.set(Phase::Waiting);
    let password = db
        .password
        .as_ref()
        .or(opts.password.as_ref())
        .map(|s| s.0.as_str());
    match db.kind {
        DbKind::Postgres => postgres(&mut wire, db),
        DbKind::Redis => redis(&mut wire, db.user.as_deref(), password),
        DbKind::Mysql => mysql(&mut wire, db.user.as_deref(), password.unwrap_or("")),
    }
}

#[cfg(feature = "tls")]
fn start_tls(wire: &mut Wire, prepared: &Prepared) -> Result<(), Failure> {
    let setup = prepared.tls().map_err(Failure::new)?;
    setup.handshake(
        &mut wire.conn,
        &wire.host,
        true,
        &wire.deadline,
        wire.progress,
    )
}

#[cfg(not(feature = "tls"))]
fn start_tls(_wire: &mut Wire, _prepared: &Prepared) -> Result<(), Failure> {
    Err(Failure::new(
        "rediss:// needs TLS, and this ward was built without it",
    ))
}

/// The connection and what its failures need to be told well.
struct Wire<'a> {
    conn: Conn,
    tls: bool,
    host: String,
    deadline: Deadline,
    progress: &'a Progress,
}

impl Wire<'_> {
    fn fail(&self, e: &io::Error) -> Failure {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Failure::new("the server closed the connection without answering");
        }
        io_failure(e, self.tls, &self.host, &self.deadline, self.progress)
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.progress.set(Phase::Sending);
        let r = self.conn.write_all(bytes).and_then(|_| self.conn.flush());
        r.map_err(|e| self.fail(&e))?;
        self.progress.set(Phase::Waiting);
        Ok(())
    }

    fn exact(&mut self, n: usize) -> Result<Vec<u8>, Failure> {
        let mut buf = vec![0u8; n];
        let r = self.conn.read_exact(&mut buf);
        r.map_err(|e| self.fail(&e))?;
        Ok(buf)
    }

    /// One line ending in CRLF (Redis), without it; at most 64 KiB.
    fn line(&mut self) -> Result<Vec<u8>, Failure> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() >= MAX_REPLY {
                return Err(Failure::new(
                    "not a Redis server (a reply line over 64 KiB)",
                ));
            }
            let r = self.conn.read_exact(&mut byte);
            r.map_err(|e| self.fail(&e))?;
            line.push(byte[0]);
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }
}

/// Server text for a message: one line, printable, at most 200 characters.
fn server_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut s: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s.trim().to_string()
}

/// "not a Redis server (the reply starts with "HTTP/1.1 400 Ba")": what came instead, in
/// printable characters.
#[inline(never)]
fn not_server(what: &str, reply: &str, bytes: &[u8]) -> Failure {
    let shown = super::printable(bytes, 16);
    Failure::new(format!(
        "not a {what} server (the {reply} starts with {shown:?})"
    ))
}

// ---- PostgreSQL -----------------------------------------------------------------------------

fn postgres(wire: &mut Wire, db: &DbUrl) -> Result<String, Failure> {
    let user = db.user.as_deref().unwrap_or("postgres");
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
    for (k, v) in [
        ("user", Some(user)),
        ("database", db.database.as_deref()),
        ("application_name", Some("ward")),
    ] {
        if let Some(v) = v {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    wire.send(&msg)?;

    loop {
        let head = wire.exact(5)?;
        let kind = head[0];
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if !kind.is_ascii_alphabetic() || !(4..=MAX_REPLY).contains(&len) {
            return Err(not_server("PostgreSQL", "reply", &head));
        }
        let body = wire.exact(len - 4)?;
        match kind {
            b'R' => {
                let code = body
                    .get(..4)
                    .map_or(u32::MAX, |c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
                if code == 0 {
                    // Trust: logged in already; say goodbye properly (Terminate).
                    let _ = wire.send(&[b'X', 0, 0, 0, 4]);
                    return Ok("accepting connections".into());
                }
                return Ok("accepting connections (asks for authentication)".into());
            }
            b'E' => {
                let code = pg_field(&body, b'C');
                let message = pg_field(&body, b'M');
                if code == "57P03" {
                    return Err(Failure::new(format!(
                        "not ready: {message} (SQLSTATE 57P03)"
                    )));
                }
                // Any other error proves the server is up: a user that does not exist, too
                // many connections, a database that does not exist.
                return Ok(format!("up ({message}, SQLSTATE {code})"));
            }
            // A newer server's answer to our protocol version; the verdict comes next.
            b'v' | b'N' => continue,
            _ => {
                return Err(not_server("PostgreSQL", "reply", &head));
            }
        }
    }
}

/// One field of an ErrorResponse (a code byte, then text up to a NUL; a NUL ends the list),
/// or "?".
fn pg_field(body: &[u8], code: u8) -> String {
    let mut rest = body;
    while let Some((&c, tail)) = rest.split_first() {
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        if c == 0 {
            break;
        }
        if c == code {
            return server_text(&tail[..end]);
        }
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    "?".to_string()
}

// ---- Redis ----------------------------------------------------------------------------------

/// A command as a RESP array of bulk strings.
fn resp(words: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend_from_slice(format!("${}\r\n", w.len()).as_bytes());
        out.extend_from_slice(w);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn redis(wire: &mut Wire, user: Option<&str>, password: Option<&str>) -> Result<String, Failure> {
    if let Some(pw) = password {
        let cmd = match user {
            Some(u) => resp(&[b"AUTH", u.as_bytes(), pw.as_bytes()]),
            None => resp(&[b"AUTH", pw.as_bytes()]),
        };
        wire.send(&cmd)?;
        let reply = scrub(wire.line()?, password);
        if reply.first() == Some(&b'-') {
            let text = server_text(&reply[1..]);
            let upper = text.to_ascii_uppercase();
            if upper.contains("WITHOUT ANY PASSWORD CONFIGURED") || upper.contains("NO PASSWORD") {
                // The server wants none; PING decides.
            } else if upper.starts_with("WRONGPASS") || upper.contains("INVALID PASSWORD") {
                return Err(Failure::new(
                    "the password was refused (WRONGPASS): check the URL or --password-file",
                ));
            } else if upper.starts_with("LOADING") {
                return Err(Failure::new(format!("not ready: {text}")));
            } else {
                return Err(Failure::new(format!("AUTH failed: {text}")));
            }
        } else if reply.first() != Some(&b'+') {
            return Err(not_server("Redis", "reply", &reply));
        }
    }
    wire.send(&resp(&[b"PING"]))?;
    let reply = scrub(wire.line()?, password);
    match reply.first() {
        Some(b'+') if reply[1..].eq_ignore_ascii_case(b"PONG") => Ok("PONG".into()),
        Some(b'-') => {
            let text = server_text(&reply[1..]);
            let word = text.split(' ').next().unwrap_or("").to_ascii_uppercase();
            Err(Failure::new(match word.as_str() {
                "NOAUTH" => {
                    "a password is required (give it in the URL, redis://:PASSWORD@HOST, or \
                     with --password-file)"
                        .to_string()
                }
                "LOADING" | "BUSY" | "MASTERDOWN" | "TRYAGAIN" | "CLUSTERDOWN" => {
                    format!("not ready: {text}")
                }
                _ => format!("PING failed: {text}"),
            }))
        }
        _ => Err(not_server("Redis", "reply to PING", &reply)),
    }
}

/// A reply line with every copy of the password replaced: a server that does not know AUTH
/// answers "unknown command 'AUTH', with args beginning with: '<the password>'", and its words
/// go into messages.
fn scrub(line: Vec<u8>, password: Option<&str>) -> Vec<u8> {
    crate::redact::scrub(&line, password.as_slice())
}

// ---- MySQL / MariaDB ------------------------------------------------------------------------

const CLIENT_LONG_PASSWORD: u32 = 1;
const CLIENT_PROTOCOL_41: u32 = 0x200;
const CLIENT_TRANSACTIONS: u32 = 0x2000;
const CLIENT_SECURE_CONNECTION: u32 = 0x8000;
const CLIENT_PLUGIN_AUTH: u32 = 0x8_0000;

/// One packet: (sequence number, payload).
fn mysql_packet(wire: &mut Wire) -> Result<(u8, Vec<u8>), Failure> {
    let head = wire.exact(4)?;
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    if len == 0 || len > MAX_REPLY {
        return Err(not_server("MySQL", "reply", &head));
    }
    Ok((head[3], wire.exact(len)?))
}

fn mysql_send(wire: &mut Wire, seq: u8, payload: &[u8]) -> Result<(), Failure> {
    let len = payload.len() as u32;
    let mut out = vec![len as u8, (len >> 8) as u8, (len >> 16) as u8, seq];
    out.extend_from_slice(payload);
    wire.send(&out)
}

/// An ERR packet's "message (error N)".
fn mysql_error(payload: &[u8]) -> (u16, String) {
    let code = match payload.get(1..3) {
        Some(c) => u16::from_le_bytes([c[0], c[1]]),
        None => 0,
    };
    let mut text = payload.get(3..).unwrap_or(&[]);
    if text.first() == Some(&b'#') {
        text = text.get(6..).unwrap_or(&[]);
    }
    (code, server_text(text))
}

fn cstr(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    (&bytes[..end], bytes.get(end + 1..).unwrap_or(&[]))
}

/// What the greeting says: the server version, the scramble (nonce) and the auth plugin.
struct Greeting {
    version: String,
    nonce: Vec<u8>,
    plugin: String,
}

fn parse_greeting(p: &[u8]) -> Option<Greeting> {
    let (version, rest) = cstr(p.get(1..)?);
    let part1 = rest.get(4..12)?;
    let caps_low = u16::from_le_bytes([*rest.get(13)?, *rest.get(14)?]);
    let caps_high = u16::from_le_bytes([*rest.get(18)?, *rest.get(19)?]);
    let caps = u32::from(caps_low) | u32::from(caps_high) << 16;
    let auth_len = usize::from(*rest.get(20)?);
    let mut nonce = part1.to_vec();
    let mut plugin = String::from("mysql_native_password");
    if let Some(after) = rest.get(31..) {
        let n2 = auth_len.saturating_sub(9).max(12).min(after.len());
        nonce.extend_from_slice(&after[..n2]);
        if caps & CLIENT_PLUGIN_AUTH != 0 {
            let tail = after.get(n2..).unwrap_or(&[]);
            let tail = tail.strip_prefix(&[0]).unwrap_or(tail);
            let (name, _) = cstr(tail);
            if !name.is_empty() {
                plugin = String::from_utf8_lossy(name).into_owned();
            }
        }
    }
    let version = server_text(version);
    Some(Greeting {
        // MariaDB puts "5.5.5-" before its version for old clients.
        version: version
            .strip_prefix("5.5.5-")
            .map_or(version.clone(), str::to_string),
        nonce,
        plugin,
    })
}

fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
    a.iter().zip(b).map(|(x, y)| x ^ y).collect()
}

/// The scramble `plugin` wants for `password` and `nonce`; None for a plugin ward cannot do.
fn scramble(plugin: &str, password: &str, nonce: &[u8]) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    let pw = password.as_bytes();
    match plugin {
        // SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))
        "mysql_native_password" => {
            let h1 = sha1(pw);
            let mut salted = nonce.to_vec();
            salted.extend_from_slice(&sha1(&h1));
            Some(xor(&h1, &sha1(&salted)))
        }
        // SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)
        "caching_sha2_password" => {
            let h1 = sha256(pw);
            let mut salted = sha256(&h1).to_vec();
            salted.extend_from_slice(nonce);
            Some(xor(&h1, &sha256(&salted)))
        }
        _ => None,
    }
}

fn mysql(wire: &mut Wire, user: Option<&str>, password: &str) -> Result<String, Failure> {
    let (_, greeting) = mysql_packet(wire)?;
    match greeting.first() {
        Some(0x0a) => {}
        Some(0xff) => {
            let (code, text) = mysql_error(&greeting);
            return Err(Failure::new(format!("not ready: {text} (error {code})")));
        }
        _ => {
            return Err(not_server("MySQL", "greeting", &greeting));
        }
    }
    let g = parse_greeting(&greeting)
        .ok_or_else(|| Failure::new("not a MySQL server (a greeting too short)"))?;
    let Some(user) = user else {
        return Ok(format!("up ({})", g.version));
    };

    let mut plugin = g.plugin.clone();
    let mut nonce = g.nonce.clone();
    let auth = scramble(&plugin, password, &nonce).unwrap_or_default();
    let caps = CLIENT_LONG_PASSWORD
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH;
    let mut hello = caps.to_le_bytes().to_vec();
    hello.extend_from_slice(&(16u32 << 20).to_le_bytes()); // max packet
    hello.push(45); // utf8mb4_general_ci
    hello.extend_from_slice(&[0u8; 23]);
    hello.extend_from_slice(user.as_bytes());
    hello.push(0);
    hello.push(auth.len() as u8);
    hello.extend_from_slice(&auth);
    hello.extend_from_slice(plugin.as_bytes());
    hello.push(0);
    mysql_send(wire, 1, &hello)?;

    // OK, ERR, an auth switch, or caching_sha2_password's fast-auth result.
    for _ in 0..4 {
        let (seq, reply) = mysql_packet(wire)?;
        match reply.first() {
            Some(0x00) => {
                let _ = mysql_send(wire, 0, &[0x01]); // COM_QUIT
                return Ok(format!("logged in ({})", g.version));
            }
            Some(0xff) => {
                let (code, text) = mysql_error(&reply);
                return Err(Failure::new(match code {
                    1045 => format!("login refused: {text} (error 1045)"),
                    _ => format!("not ready: {text} (error {code})"),
                }));
            }
            Some(0xfe) => {
                let (name, data) = cstr(&reply[1..]);
                plugin = String::from_utf8_lossy(name).into_owned();
                nonce = data.strip_suffix(&[0]).unwrap_or(data).to_vec();
                let Some(auth) = scramble(&plugin, password, &nonce) else {
                    return Err(Failure::new(format!(
                        "the server asks for the {plugin} authentication, which ward does not \
                         do (give the probe user mysql_native_password or caching_sha2_password)"
                    )));
                };
                mysql_send(wire, seq.wrapping_add(1), &auth)?;
            }
            Some(0x01) if reply.get(1) == Some(&0x03) => continue, // fast auth: OK follows
            Some(0x01) if reply.get(1) == Some(&0x04) => {
                return Err(Failure::new(
                    "the server wants caching_sha2_password's full authentication, which needs \
                     TLS or RSA: log in once with the mysql client so the server caches the \
                     password, or give the probe user mysql_native_password",
                ));
            }
            _ => {
                return Err(not_server("MySQL", "reply to the login", &reply));
            }
        }
    }
    Err(Failure::new("the login did not end (too many exchanges)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrambles() {
        // Both sides compute the same stored value: the server keeps SHA1(SHA1(pw)) and checks
        // that SHA1(scramble XOR SHA1(nonce + stored)) == stored.
        let nonce = b"abcdefghijklmnopqrst";
        let s = scramble("mysql_native_password", "secret", nonce).unwrap();
        let stored = sha1(&sha1(b"secret"));
        let mut salted = nonce.to_vec();
        salted.extend_from_slice(&stored);
        assert_eq!(sha1(&xor(&s, &sha1(&salted))), stored);
        let s = scramble("caching_sha2_password", "secret", nonce).unwrap();
        let mut salted = sha256(&sha256(b"secret")).to_vec();
        salted.extend_from_slice(nonce);
        assert_eq!(xor(&s, &sha256(&salted)), sha256(b"secret"));
        assert_eq!(scramble("x", "", nonce), Some(Vec::new()));
        assert_eq!(scramble("dialog", "pw", nonce), None);
    }

    #[test]
    fn greetings_and_errors() {
        let mut g = vec![0x0a];
        g.extend_from_slice(b"10.11.6-MariaDB\0");
        g.extend_from_slice(&[1, 0, 0, 0]); // connection id
        g.extend_from_slice(b"12345678\0"); // part 1 + filler
        g.extend_from_slice(&[0xff, 0xf7, 45, 2, 0, 0xff, 0x81, 21]);
        g.extend_from_slice(&[0u8; 10]);
        g.extend_from_slice(b"9abcdefghijk\0mysql_native_password\0");
        let parsed = parse_greeting(&g).unwrap();
        assert_eq!(parsed.version, "10.11.6-MariaDB");
        assert_eq!(parsed.nonce, b"123456789abcdefghijk");
        assert_eq!(parsed.plugin, "mysql_native_password");
        assert!(parse_greeting(&g[..20]).is_none());
        let err = b"\xff\x10\x04#08004Too many connections";
        assert_eq!(mysql_error(err), (1040, "Too many connections".to_string()));
        let body = b"SFATAL\0C57P03\0Mthe database system is starting up\0\0";
        assert_eq!(pg_field(body, b'C'), "57P03");
        assert_eq!(pg_field(body, b'M'), "the database system is starting up");
        assert_eq!(pg_field(body, b'X'), "?");
        assert_eq!(
            scrub(
                b"-ERR unknown command 'AUTH', with args beginning with: 's3cr'".to_vec(),
                Some("s3cr")
            ),
            "-ERR unknown command 'AUTH', with args beginning with: '…'".as_bytes()
        );
        assert_eq!(scrub(b"+OK".to_vec(), None), b"+OK");
        assert_eq!(
            resp(&[b"AUTH", b"pw"]),
            b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n".to_vec()
        );
    }
}
