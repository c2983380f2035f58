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
use super::net::{self, Conn};
use super::options::Prepared;
use super::sha::hash;
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
    let plain = net::connect(
        &db.host,
        db.port,
        opts.unix_socket.as_deref(),
        opts.connect_timeout,
        deadline,
        progress,
    )?;
    let mut wire = Wire {
        conn: Conn::new(plain, *deadline),
        tls: db.tls,
        host: &db.host,
        deadline,
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
        wire.host,
        true,
        wire.deadline,
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
    host: &'a str,
    deadline: &'a Deadline,
    progress: &'a Progress,
}

impl Wire<'_> {
    fn fail(&self, e: io::Error) -> Failure {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            return Failure::new("the server closed the connection without answering");
        }
        io_failure(&e, self.tls, self.host, self.deadline, self.progress)
    }

    /// Writes `bytes`. No flush: a plain socket has nothing to flush, and rustls writes a
    /// record out at once (what it could not write goes out before the next read).
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.progress.set(Phase::Sending);
        let r = self.conn.write_all(bytes);
        r.map_err(|e| self.fail(e))?;
        self.progress.set(Phase::Waiting);
        Ok(())
    }

    fn read(&mut self, buf: &mut [u8]) -> Result<(), Failure> {
        let r = self.conn.read_exact(buf);
        r.map_err(|e| self.fail(e))
    }

    /// One message of PostgreSQL (a type byte and a big-endian length that counts itself) or
    /// MySQL (a little-endian 3-byte length and a sequence number): (type or sequence number,
    /// payload). PostgreSQL's types are those of the replies to a StartupMessage that ward
    /// judges; any other is not PostgreSQL.
    fn message(&mut self, pg: bool) -> Result<(u8, Vec<u8>), Failure> {
        let mut head = [0u8; 5];
        let n = if pg { 5 } else { 4 };
        self.read(&mut head[..n])?;
        let [a, b, c, d, e] = head;
        let (tag, len, min) = match pg {
            true => (a, u32::from_be_bytes([b, c, d, e]), 4),
            false => (d, u32::from_le_bytes([a, b, c, 0]), 1),
        };
        let len = len as usize;
        if !(min..=MAX_REPLY).contains(&len) || pg && !b"REvN".contains(&tag) {
            let what = if pg { "PostgreSQL" } else { "MySQL" };
            return Err(not_server(what, "reply", &head[..n]));
        }
        let mut body = vec![0; if pg { len - 4 } else { len }];
        self.read(&mut body)?;
        Ok((tag, body))
    }

    /// One Redis reply line without its CRLF, the password scrubbed; at most 64 KiB.
    fn line(&mut self, password: Option<&str>) -> Result<Vec<u8>, Failure> {
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() >= MAX_REPLY {
                return Err(Failure::new(
                    "not a Redis server (a reply line over 64 KiB)",
                ));
            }
            self.read(&mut byte)?;
            line.push(byte[0]);
        }
        line.truncate(line.len() - 2);
        Ok(scrub(line, password))
    }
}

/// Server text for a message: one line, printable, at most 200 characters.
fn server_text(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, c) in String::from_utf8_lossy(bytes).chars().enumerate() {
        if i == 200 {
            s.push('…');
            break;
        }
        s.push(if c.is_control() { ' ' } else { c });
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
    let (key, database, nul) = match &db.database {
        Some(name) => ("database\0", name.as_str(), "\0"),
        None => ("", "", ""),
    };
    // StartupMessage: the length (filled in below), protocol 3.0, then names and values.
    let mut msg =
        format!("\0\0\0\0\0\x03\0\0user\0{user}\0{key}{database}{nul}application_name\0ward\0\0")
            .into_bytes();
    let len = (msg.len() as u32).to_be_bytes();
    if let [a, b, c, d, ..] = &mut msg[..] {
        [*a, *b, *c, *d] = len;
    }
    wire.send(&msg)?;

    loop {
        let (kind, body) = wire.message(true)?;
        match (kind, &body[..]) {
            (b'R', [0, 0, 0, 0, ..]) => {
                // Trust: logged in already; say goodbye properly (Terminate).
                let _ = wire.send(&[b'X', 0, 0, 0, 4]);
                return Ok("accepting connections".into());
            }
            (b'R', _) => return Ok("accepting connections (asks for authentication)".into()),
            (b'E', _) => {
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
            // A newer server's answer to our protocol version, or a notice; the verdict
            // comes next.
            _ => {}
        }
    }
}

/// One field of an ErrorResponse (a code byte, then text up to a NUL; a NUL ends the list),
/// or "?".
fn pg_field(body: &[u8], code: u8) -> String {
    let mut rest = body;
    while let Some((&c, tail)) = rest.split_first() {
        let (text, next) = cstr(tail);
        if c == 0 {
            break;
        }
        if c == code {
            return server_text(text);
        }
        rest = next;
    }
    "?".to_string()
}

// ---- Redis ----------------------------------------------------------------------------------

/// AUTH as a RESP array of bulk strings.
fn auth_command(user: Option<&str>, password: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::from(if user.is_some() { "*3" } else { "*2" });
    out.push_str("\r\n$4\r\nAUTH\r\n");
    for w in user.into_iter().chain([password]) {
        let _ = write!(out, "${}\r\n{w}\r\n", w.len());
    }
    out
}

/// Redis's errors that mean "not ready yet" (the first word of the reply).
const REDIS_NOT_READY: [&str; 5] = ["LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"];

fn redis(wire: &mut Wire, user: Option<&str>, password: Option<&str>) -> Result<String, Failure> {
    // AUTH first when there is a password, then PING.
    let mut auth = password.map(|pw| auth_command(user, pw));
    loop {
        let cmd = auth.take();
        let is_ping = cmd.is_none();
        wire.send(cmd.as_deref().unwrap_or("*1\r\n$4\r\nPING\r\n").as_bytes())?;
        let reply = wire.line(password)?;
        match &reply[..] {
            [b'+', ..] if !is_ping => {}
            [b'+', b'P' | b'p', b'O' | b'o', b'N' | b'n', b'G' | b'g'] => return Ok("PONG".into()),
            [b'-', error @ ..] => {
                let text = server_text(error);
                let upper = text.to_ascii_uppercase();
                let word = upper.split(' ').next().unwrap_or("");
                let not_ready = if is_ping {
                    if word == "NOAUTH" {
                        return Err(Failure::new(
                            "a password is required (give it in the URL, redis://:PASSWORD@HOST, \
                             or with --password-file)",
                        ));
                    }
                    REDIS_NOT_READY.contains(&word)
                } else {
                    if upper.contains("WITHOUT ANY PASSWORD CONFIGURED")
                        || upper.contains("NO PASSWORD")
                    {
                        continue; // The server wants none; PING decides.
                    }
                    if upper.starts_with("WRONGPASS") || upper.contains("INVALID PASSWORD") {
                        return Err(Failure::new(
                            "the password was refused (WRONGPASS): check the URL or \
                             --password-file",
                        ));
                    }
                    upper.starts_with("LOADING")
                };
                let what = match (not_ready, is_ping) {
                    (true, _) => "not ready",
                    (false, true) => "PING failed",
                    (false, false) => "AUTH failed",
                };
                return Err(Failure::new(format!("{what}: {text}")));
            }
            _ => {
                let what = if is_ping { "reply to PING" } else { "reply" };
                return Err(not_server("Redis", what, &reply));
            }
        }
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

/// The fixed start of the login packet (HandshakeResponse41): the capabilities, the largest
/// packet (16 MiB), the character set (utf8mb4_general_ci) and 23 reserved zeros.
const LOGIN_HEAD: [u8; 32] = {
    let caps = (CLIENT_LONG_PASSWORD
        | CLIENT_PROTOCOL_41
        | CLIENT_TRANSACTIONS
        | CLIENT_SECURE_CONNECTION
        | CLIENT_PLUGIN_AUTH)
        .to_le_bytes();
    let mut head = [0u8; 32];
    head[0] = caps[0];
    head[1] = caps[1];
    head[2] = caps[2];
    head[3] = caps[3];
    head[7] = 1; // 16 MiB, little-endian
    head[8] = 45;
    head
};

/// Sends one packet made of `parts`.
fn mysql_send(wire: &mut Wire, seq: u8, parts: &[&[u8]]) -> Result<(), Failure> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let [a, b, c, _] = (len as u32).to_le_bytes();
    let mut out = vec![a, b, c, seq];
    for part in parts {
        out.extend_from_slice(part);
    }
    wire.send(&out)
}

/// An ERR packet as a failure: "not ready: message (error N)", or "login refused: ..." for
/// error 1045 at the login.
fn mysql_error(payload: &[u8], login: bool) -> Failure {
    let code = match payload.get(1..3) {
        Some(c) => u16::from_le_bytes([c[0], c[1]]),
        None => 0,
    };
    let mut text = payload.get(3..).unwrap_or(&[]);
    if text.first() == Some(&b'#') {
        text = text.get(6..).unwrap_or(&[]);
    }
    let what = if login && code == 1045 {
        "login refused"
    } else {
        "not ready"
    };
    Failure::new(format!("{what}: {} (error {code})", server_text(text)))
}

/// The bytes up to a NUL (or the end), and those after it.
fn cstr(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    (&bytes[..end], bytes.get(end + 1..).unwrap_or(&[]))
}

/// The authentication plugins ward does: SHA-1 based, then SHA-256 based.
const PLUGINS: [&[u8]; 2] = [b"mysql_native_password", b"caching_sha2_password"];

/// The scramble (nonce) that the server sent, in its two parts.
type Nonce<'a> = [&'a [u8]; 2];

/// What the greeting says: the server version, the nonce and the auth plugin.
fn parse_greeting(p: &[u8]) -> Option<(&[u8], Nonce<'_>, &[u8])> {
    let (version, rest) = cstr(p.get(1..)?);
    let part1 = rest.get(4..12)?;
    let caps_high = u16::from_le_bytes([*rest.get(18)?, *rest.get(19)?]);
    let auth_len = usize::from(*rest.get(20)?);
    let mut part2: &[u8] = &[];
    let mut plugin = PLUGINS[0];
    if let Some(after) = rest.get(31..) {
        let n2 = auth_len.saturating_sub(9).max(12).min(after.len());
        part2 = &after[..n2];
        if u32::from(caps_high) << 16 & CLIENT_PLUGIN_AUTH != 0 {
            let tail = after.get(n2..).unwrap_or(&[]);
            let (name, _) = cstr(match tail {
                [0, rest @ ..] => rest,
                _ => tail,
            });
            if !name.is_empty() {
                plugin = name;
            }
        }
    }
    // MariaDB puts "5.5.5-" before its version for old clients.
    let version = version.strip_prefix(b"5.5.5-").unwrap_or(version);
    Some((version, [part1, part2], plugin))
}

/// The scramble `plugin` wants for `password` and `nonce`; None for a plugin ward cannot do.
/// mysql_native_password: SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw))); caching_sha2_password:
/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce).
fn scramble(plugin: &[u8], password: &str, [n1, n2]: Nonce) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    let sha2 = PLUGINS.iter().position(|&p| p == plugin)? == 1;
    let mut h1 = hash(sha2, &[password.as_bytes()]);
    let h2 = hash(sha2, &[&h1]);
    let h3 = hash(
        sha2,
        &if sha2 {
            [&h2[..], n1, n2]
        } else {
            [n1, n2, &h2[..]]
        },
    );
    for (a, b) in h1.iter_mut().zip(h3) {
        *a ^= b;
    }
    Some(h1)
}

/// The greeting, then (with a user) the login: OK, ERR, an auth switch, or
/// caching_sha2_password's fast-auth result, at most four replies.
fn mysql(wire: &mut Wire, user: Option<&str>, password: &str) -> Result<String, Failure> {
    let mut version = String::new();
    for round in 0..5 {
        let (seq, reply) = wire.message(false)?;
        let (plugin, nonce) = match (round, &reply[..]) {
            (_, [0xff, ..]) => return Err(mysql_error(&reply, round > 0)),
            (0, [0x0a, ..]) => {
                let (v, nonce, plugin) = parse_greeting(&reply)
                    .ok_or_else(|| Failure::new("not a MySQL server (a greeting too short)"))?;
                version = server_text(v);
                if user.is_none() {
                    return Ok(format!("up ({version})"));
                }
                (plugin, nonce)
            }
            (1.., [0x00, ..]) => {
                let _ = wire.send(&[1, 0, 0, 0, 0x01]); // COM_QUIT
                return Ok(format!("logged in ({version})"));
            }
            (1.., [0xfe, switch @ ..]) => {
                let (plugin, nonce) = cstr(switch);
                let nonce = match nonce {
                    [rest @ .., 0] => rest,
                    _ => nonce,
                };
                (plugin, [nonce, &[][..]])
            }
            (1.., [0x01, 0x03, ..]) => continue, // fast auth: OK follows
            (1.., [0x01, 0x04, ..]) => {
                return Err(Failure::new(
                    "the server wants caching_sha2_password's full authentication, which needs \
                     TLS or RSA: log in once with the mysql client so the server caches the \
                     password, or give the probe user mysql_native_password",
                ));
            }
            _ => {
                let what = if round == 0 {
                    "greeting"
                } else {
                    "reply to the login"
                };
                return Err(not_server("MySQL", what, &reply));
            }
        };
        let auth = match scramble(plugin, password, nonce) {
            Some(auth) => auth,
            // The greeting's plugin is only a guess: the server may switch to another.
            None if round == 0 => Vec::new(),
            None => {
                return Err(Failure::new(format!(
                    "the server asks for the {} authentication, which ward does not do (give \
                     the probe user mysql_native_password or caching_sha2_password)",
                    server_text(plugin)
                )));
            }
        };
        let user = user.unwrap_or("").as_bytes();
        let login = [
            &LOGIN_HEAD,
            user,
            &[0, auth.len() as u8],
            &auth,
            plugin,
            &[0],
        ];
        let (seq, parts): (u8, &[&[u8]]) = match round {
            0 => (1, &login),
            _ => (seq.wrapping_add(1), &[&auth]),
        };
        mysql_send(wire, seq, parts)?;
    }
    Err(Failure::new("the login did not end (too many exchanges)"))
}

#[cfg(test)]
mod tests {
    use super::super::sha::{sha1, sha256};
    use super::*;

    fn xor(a: &[u8], b: &[u8]) -> Vec<u8> {
        a.iter().zip(b).map(|(x, y)| x ^ y).collect()
    }

    #[test]
    fn scrambles() {
        // Both sides compute the same stored value: the server keeps SHA1(SHA1(pw)) and checks
        // that SHA1(scramble XOR SHA1(nonce + stored)) == stored.
        let nonce = b"abcdefghijklmnopqrst";
        let s = scramble(
            b"mysql_native_password",
            "secret",
            [&nonce[..5], &nonce[5..]],
        )
        .unwrap();
        let stored = sha1(&sha1(b"secret"));
        let mut salted = nonce.to_vec();
        salted.extend_from_slice(&stored);
        assert_eq!(sha1(&xor(&s, &sha1(&salted))), stored);
        let s = scramble(b"caching_sha2_password", "secret", [nonce, &[]]).unwrap();
        let mut salted = sha256(&sha256(b"secret")).to_vec();
        salted.extend_from_slice(nonce);
        assert_eq!(xor(&s, &sha256(&salted)), sha256(b"secret"));
        assert_eq!(scramble(b"x", "", [nonce, &[]]), Some(Vec::new()));
        assert_eq!(scramble(b"dialog", "pw", [nonce, &[]]), None);
    }

    #[test]
    fn greetings_and_errors() {
        let mut g = vec![0x0a];
        g.extend_from_slice(b"5.5.5-10.11.6-MariaDB\0");
        g.extend_from_slice(&[1, 0, 0, 0]); // connection id
        g.extend_from_slice(b"12345678\0"); // part 1 + filler
        g.extend_from_slice(&[0xff, 0xf7, 45, 2, 0, 0xff, 0x81, 21]);
        g.extend_from_slice(&[0u8; 10]);
        g.extend_from_slice(b"9abcdefghijk\0mysql_native_password\0");
        let (version, nonce, plugin) = parse_greeting(&g).unwrap();
        assert_eq!(version, b"10.11.6-MariaDB");
        assert_eq!(nonce.concat(), b"123456789abcdefghijk");
        assert_eq!(plugin, b"mysql_native_password");
        assert!(parse_greeting(&g[..20]).is_none());
        let err = b"\xff\x10\x04#08004Too many connections";
        assert_eq!(
            mysql_error(err, true).0,
            "not ready: Too many connections (error 1040)"
        );
        let err = b"\xff\x15\x04#28000Access denied";
        assert_eq!(
            mysql_error(err, true).0,
            "login refused: Access denied (error 1045)"
        );
        assert_eq!(
            mysql_error(err, false).0,
            "not ready: Access denied (error 1045)"
        );
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
        assert_eq!(auth_command(None, "pw"), "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n");
        assert_eq!(
            auth_command(Some("u"), "p w"),
            "*3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$3\r\np w\r\n"
        );
    }
}
