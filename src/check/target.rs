//! What a target is: parsing `http://`, `https://`, `tcp://`, `unix://` and `file://` targets,
//! and showing them in messages without their credentials.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::redact::{Secret, quoted};

/// The forms every message about a bad target lists.
pub const FORMS: &str = "http://HOST[:PORT]/PATH, https://HOST[:PORT]/PATH, tcp://HOST:PORT, \
     grpc[s]://HOST:PORT[/SERVICE], postgres://HOST[:PORT], redis[s]://HOST[:PORT], mysql://HOST[:PORT] (or mariadb://) or \
     unix:///PATH";

/// A database whose readiness a target asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Postgres,
    Redis,
    Mysql,
}

/// A database scheme: what it asks about, whether over TLS, and the default port.
type DbScheme = (&'static str, DbKind, bool, u16);

static DB_SCHEMES: [DbScheme; 6] = [
    ("postgres://", DbKind::Postgres, false, 5432),
    ("postgresql://", DbKind::Postgres, false, 5432),
    ("redis://", DbKind::Redis, false, 6379),
    ("rediss://", DbKind::Redis, true, 6379),
    ("mysql://", DbKind::Mysql, false, 3306),
    ("mariadb://", DbKind::Mysql, false, 3306),
];

/// `postgres://[USER@]HOST[:PORT][/DB]`, `redis://[[USER]:PASSWORD@]HOST[:PORT]` (`rediss://`
/// with TLS), `mysql://[USER[:PASSWORD]@]HOST[:PORT]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbUrl {
    pub kind: DbKind,
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    /// From the URL (percent-decoded); `--password-file` fills it in at check time.
    pub password: Option<Secret>,
    pub database: Option<String>,
}

impl DbUrl {
    /// Parses a database URL whose scheme was recognised; `rest` is what follows `://`. A query
    /// (`?sslmode=...`) and, except for PostgreSQL's database name, a path are accepted and
    /// ignored: DSNs copied from an app's configuration work as they are.
    fn parse(&(_, kind, tls, default_port): &DbScheme, rest: &str) -> Result<DbUrl, String> {
        let Authority {
            user,
            password,
            host,
            port,
            tail,
        } = Authority::split(rest)?;
        let port = port.unwrap_or(default_port);
        // The database: the path up to a query or a fragment, without its leading slashes.
        let path = tail.split('?').next().unwrap_or("");
        let mut name = path.split('#').next().unwrap_or("");
        while let Some(rest) = name.strip_prefix('/') {
            name = rest;
        }
        let database = match name {
            "" => None,
            db => Some(percent_decode(db)?),
        };
        Ok(DbUrl {
            kind,
            tls,
            host,
            port,
            user: user.filter(|u| !u.is_empty()),
            password: password.filter(|p| !p.is_empty()).map(Secret),
            database: database.filter(|_| kind == DbKind::Postgres),
        })
    }

    pub fn scheme(&self) -> &'static str {
        match (self.kind, self.tls) {
            (DbKind::Postgres, _) => "postgres",
            (DbKind::Redis, false) => "redis",
            (DbKind::Redis, true) => "rediss",
            (DbKind::Mysql, _) => "mysql",
        }
    }
}

/// `grpc://HOST[:PORT][/SERVICE]` (h2c) or `grpcs://` (TLS with ALPN h2): the standard
/// `grpc.health.v1.Health/Check` call for SERVICE (the whole server when empty).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcUrl {
    pub tls: bool,
    pub host: String,
    pub port: u16,
    pub service: String,
}

/// The longest service name a grpc target takes (names are package-qualified identifiers).
const MAX_SERVICE: usize = 1024;

impl GrpcUrl {
    fn parse(tls: bool, rest: &str) -> Result<GrpcUrl, String> {
        let a = Authority::split(rest)?;
        if a.user.is_some() {
            return Err(
                "a grpc target takes no user:password@ (use -H 'authorization: ...')".into(),
            );
        }
        let path = a.tail.split(['?', '#']).next().unwrap_or("");
        let service = percent_decode(path.trim_start_matches('/'))?;
        if service.len() > MAX_SERVICE || service.contains('/') {
            return Err("the service must be one name of at most 1024 characters".into());
        }
        Ok(GrpcUrl {
            tls,
            host: a.host,
            port: a.port.unwrap_or(if tls { 443 } else { 80 }),
            service,
        })
    }

    /// `host[:port]` for the `:authority` pseudo-header (port only when not the default).
    pub fn authority(&self) -> String {
        authority(
            &self.host,
            self.port,
            self.port == if self.tls { 443 } else { 80 },
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A parsed http(s) URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    /// Percent-decoded user and password from the userinfo part, if any.
    pub userinfo: Option<(String, String)>,
    /// Host name or IP literal, without brackets.
    pub host: String,
    pub port: u16,
    /// Path and query, starting with '/'.
    pub path: String,
}

impl Url {
    pub fn default_port(scheme: Scheme) -> u16 {
        match scheme {
            Scheme::Http => 80,
            Scheme::Https => 443,
        }
    }

    /// `host[:port]` as it goes into a Host header or a CONNECT line (port only when it is
    /// not the scheme's default, unless `always_port`).
    pub fn authority(&self, always_port: bool) -> String {
        let default = self.port == Url::default_port(self.scheme);
        authority(&self.host, self.port, default && !always_port)
    }

    /// The URL without credentials, with the query hidden (it may carry a token).
    pub fn display(&self) -> String {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let path = match self.path.split_once('?') {
            Some((p, _)) => format!("{p}?…"),
            None => self.path.clone(),
        };
        format!("{scheme}://{}{path}", self.authority(false))
    }

    /// Parses an absolute http(s) URL.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(text, "http://") {
            (Scheme::Http, r)
        } else if let Some(r) = strip_prefix_ci(text, "https://") {
            (Scheme::Https, r)
        } else {
            return Err(format!("not an http(s) URL (use {FORMS})"));
        };
        let a = Authority::split(rest)?;
        let tail = a.tail.split('#').next().unwrap_or("");
        let path = if tail.is_empty() {
            "/".to_string()
        } else if tail.starts_with('?') {
            format!("/{tail}")
        } else {
            tail.to_string()
        };
        Ok(Url {
            scheme,
            userinfo: a.user.map(|u| (u, a.password.unwrap_or_default())),
            host: a.host,
            port: a.port.unwrap_or(Url::default_port(scheme)),
            path,
        })
    }

    /// Resolves a redirect's Location against this URL. Only http and https locations are
    /// followed: `ftp://host/x` is an error, not a relative path.
    pub fn join(&self, location: &str) -> Result<Url, String> {
        let loc = location.trim();
        if strip_prefix_ci(loc, "http://").is_some() || strip_prefix_ci(loc, "https://").is_some() {
            return Url::parse(loc);
        }
        if let Some(scheme) = uri_scheme(loc) {
            // The scheme is shown only when ward knows it (it could be a user name).
            let shown = if crate::redact::known_scheme(scheme) {
                format!("{}:", scheme.to_ascii_lowercase())
            } else {
                "…:".to_string()
            };
            return Err(format!(
                "the location's scheme is {shown}, and only http:// and https:// redirects are \
                 followed"
            ));
        }
        let mut next = self.clone();
        if let Some(rest) = loc.strip_prefix("//") {
            let scheme = match self.scheme {
                Scheme::Http => "http://",
                Scheme::Https => "https://",
            };
            return Url::parse(&format!("{scheme}{rest}"));
        }
        if loc.starts_with('/') {
            next.path = loc.to_string();
        } else if loc.starts_with('?') {
            let base = self.path.split('?').next().unwrap_or("/");
            next.path = format!("{base}{loc}");
        } else if loc.is_empty() {
            return Err("redirect without a location".into());
        } else {
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            next.path = format!("{}{loc}", if dir.is_empty() { "/" } else { dir });
        }
        if next.path.chars().any(|c| c.is_control() || c == ' ') {
            return Err("redirect location contains spaces or control characters".into());
        }
        Ok(next)
    }
}

/// `host:port` (an IPv6 host in brackets), or `host` alone when `omit_port`.
fn authority(host: &str, port: u16, omit_port: bool) -> String {
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    if omit_port {
        host
    } else {
        format!("{host}:{port}")
    }
}

/// The scheme of an absolute URI (RFC 3986: a letter, then letters, digits, `+`, `-` or `.`,
/// then `:`), if `text` starts with one. `/x`, `x/y:z` and `?q` have none.
fn uri_scheme(text: &str) -> Option<&str> {
    let (scheme, _) = text.split_once(':')?;
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic() && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
        .then_some(scheme)
}

/// What follows `scheme://`: the authority taken apart, and the rest as written.
struct Authority<'a> {
    /// Percent-decoded, as are the password and nothing else.
    user: Option<String>,
    password: Option<String>,
    host: String,
    port: Option<u16>,
    /// Path, query and fragment.
    tail: &'a str,
}

impl Authority<'_> {
    fn split(rest: &str) -> Result<Authority<'_>, String> {
        if rest.chars().any(|c| c.is_control() || c == ' ') {
            return Err("URL contains spaces or control characters".into());
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') && tail.contains('@') {
            // `http://user:p@ss#x@host/`: the password holds an `@` and a character that ends
            // the authority; taken as written, its second half would be the host name.
            return Err("more than one '@' (write an '@' in the password as %40)".into());
        }
        let (user, password, hostport) = match authority.rsplit_once('@') {
            Some((info, h)) => {
                let (u, p) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(percent_decode(p)?)),
                    None => (info, None),
                };
                (Some(percent_decode(u)?), p, h)
            }
            None => (None, None, authority),
        };
        let (host, port) = split_host_port(hostport)?;
        Ok(Authority {
            user,
            password,
            host,
            port,
            tail,
        })
    }
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Splits `host:port`, `[v6]:port`, `host` or `[v6]`. The host must not be empty.
pub fn split_host_port(text: &str) -> Result<(String, Option<u16>), String> {
    // Errors never repeat the text: it may hold credentials.
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or("unclosed '['")?;
        if h.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("invalid IPv6 address in brackets".into());
        }
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or("unexpected text after ']'")?),
        };
        (h.to_string(), port)
    } else {
        match text.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err("an IPv6 address must be in brackets, e.g. [::1]:8080".into());
            }
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (text.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err("missing host".into());
    }
    if !host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-_:%".contains(c))
    {
        return Err("invalid host name".into());
    }
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|&n| n != 0)
                .ok_or("invalid port")?,
        ),
    };
    Ok((host, port))
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("invalid percent-encoding in the URL")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "URL credentials are not valid UTF-8".to_string())
}

/// The address a host written as an IP literal means, however it is spelled: IPv6, dotted
/// IPv4, and every form the C library's inet_aton (and so getaddrinfo) takes: fewer than four
/// parts (`127.1`, `127.0.1`), one number (`2130706433`), hex (`0x7f000001`) and octal
/// (`0177.0.0.1`) parts. None for a host name. This is the one place that decides what a
/// literal means, both for connecting and for "is this loopback".
pub fn ip_literal(host: &str) -> Option<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Some(ip);
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut numbers = Vec::with_capacity(parts.len());
    for part in &parts {
        let (digits, radix) =
            if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
                (hex, 16)
            } else if part.len() > 1 && part.starts_with('0') {
                (&part[1..], 8)
            } else {
                (*part, 10)
            };
        if digits.is_empty() && radix != 8 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        numbers.push(u32::from_str_radix(digits, radix).ok()?);
    }
    let (last, head) = numbers.split_last()?;
    if head.iter().any(|&n| n > 255) {
        return None;
    }
    let last_bits = 8 * (4 - head.len() as u32);
    if last_bits < 32 && *last >> last_bits != 0 {
        return None;
    }
    let mut value = *last;
    for (i, &n) in head.iter().enumerate() {
        value |= n << (24 - 8 * i as u32);
    }
    Some(IpAddr::V4(std::net::Ipv4Addr::from(value)))
}

/// Whether a host is the local machine's loopback: `localhost`, `*.localhost`, 127.0.0.0/8 in
/// any spelling [`ip_literal`] takes, ::1, and IPv4-mapped ::ffff:127.x. Loopback targets
/// never go through a proxy.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    if h == "localhost" || h.ends_with(".localhost") {
        return true;
    }
    match ip_literal(&h) {
        // 0.0.0.0 and :: reach this machine too.
        Some(IpAddr::V4(v4)) => v4.is_loopback() || v4.is_unspecified(),
        Some(IpAddr::V6(v6)) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
        None => false,
    }
}

/// A thing to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An HTTP(S) request.
    Http(Url),
    /// A TCP connect.
    Tcp { host: String, port: u16 },
    /// A connect to a Unix stream socket.
    Unix(PathBuf),
    /// The path exists (wait only).
    File(PathBuf),
    /// A database that is ready, not just listening.
    Db(DbUrl),
    /// A gRPC server's health service.
    Grpc(GrpcUrl),
}

impl Target {
    /// Parses a target. `file://` is accepted only when `allow_file` is set. Errors show the
    /// target only through [`redact`].
    pub fn parse(text: &str, allow_file: bool) -> Result<Target, String> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let in_target = |e: String| format!("{e} in target {}", quoted(t));
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Url::parse(t).map(Target::Http).map_err(in_target);
        }
        if let Some(rest) = strip_prefix_ci(t, "tcp://") {
            let rest = rest.trim_end_matches('/');
            if rest.contains('@') {
                return Err(in_target("a tcp target takes no user:password@".into()));
            }
            let (host, port) = split_host_port(rest).map_err(in_target)?;
            let port = port.ok_or_else(|| in_target("missing port (tcp://HOST:PORT)".into()))?;
            return Ok(Target::Tcp { host, port });
        }
        for (scheme, tls) in [("grpc://", false), ("grpcs://", true)] {
            if let Some(rest) = strip_prefix_ci(t, scheme) {
                return GrpcUrl::parse(tls, rest)
                    .map(Target::Grpc)
                    .map_err(in_target);
            }
        }
        for db in &DB_SCHEMES {
            if let Some(rest) = strip_prefix_ci(t, db.0) {
                return DbUrl::parse(db, rest).map(Target::Db).map_err(in_target);
            }
        }
        if let Some(rest) = strip_prefix_ci(t, "unix://") {
            return absolute_path(rest, t).map(Target::Unix);
        }
        if allow_file {
            if let Some(rest) = strip_prefix_ci(t, "file://") {
                return absolute_path(rest, t).map(Target::File);
            }
        }
        let forms = if allow_file {
            format!("{FORMS} or file:///PATH")
        } else {
            FORMS.to_string()
        };
        Err(format!("unsupported target {} (use {forms})", quoted(t)))
    }
}

/// Parses a list of targets given in one variable (commas and/or white space between them).
pub fn parse_list(value: &str, allow_file: bool) -> Result<Vec<Target>, String> {
    crate::cli::split_list(value)
        .enumerate()
        .map(|(i, item)| Target::parse(item, allow_file).map_err(|e| list_error(value, i, e)))
        .collect()
}

/// The error for item `index` of a list: a password may hold a comma or a space, so the list
/// was perhaps split inside one, and the item is a piece of it that no redaction can
/// recognise. Where the list holds an `@` anywhere, nothing of the item is shown.
pub fn list_error(whole: &str, index: usize, err: String) -> String {
    if whole.contains('@') {
        format!(
            "item {} is not a valid target (not shown: the list holds a password; use {FORMS})",
            index + 1
        )
    } else {
        format!("item {}: {err}", index + 1)
    }
}

fn absolute_path(rest: &str, whole: &str) -> Result<PathBuf, String> {
    if !rest.starts_with('/') || rest.len() < 2 {
        let scheme = whole.split("://").next().unwrap_or("unix");
        return Err(format!(
            "{} needs an absolute path, e.g. {scheme}:///run/app.sock",
            quoted(whole)
        ));
    }
    Ok(PathBuf::from(rest))
}

impl fmt::Display for Target {
    /// How the target appears at the start of every message: never with credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Http(u) => f.write_str(&u.display()),
            Target::Tcp { host, port } => {
                if host.contains(':') {
                    write!(f, "tcp://[{host}]:{port}")
                } else {
                    write!(f, "tcp://{host}:{port}")
                }
            }
            Target::Unix(p) => write!(f, "unix://{}", p.display()),
            Target::File(p) => write!(f, "file://{}", p.display()),
            Target::Db(d) if d.host.contains(':') => {
                write!(f, "{}://[{}]:{}", d.scheme(), d.host, d.port)
            }
            Target::Db(d) => write!(f, "{}://{}:{}", d.scheme(), d.host, d.port),
            Target::Grpc(g) => {
                let scheme = if g.tls { "grpcs" } else { "grpc" };
                write!(f, "{scheme}://{}", g.authority())?;
                match g.service.as_str() {
                    "" => Ok(()),
                    s => write!(f, "/{}", super::printable(s.as_bytes(), MAX_SERVICE)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("http://127.0.0.1:8080/healthz?x=1").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8080, "/healthz?x=1")
        );
        assert_eq!(u.display(), "http://127.0.0.1:8080/healthz?…");
        let u = Url::parse("HTTPS://[::1]/").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Https, "::1", 443)
        );
        assert_eq!(u.authority(false), "[::1]");
        assert_eq!(u.authority(true), "[::1]:443");
        let u = Url::parse("http://al%40ice:p%3Ass@host:81").unwrap();
        assert_eq!(u.userinfo, Some(("al@ice".into(), "p:ss".into())));
        assert_eq!(u.path, "/");
        assert_eq!(u.display(), "http://host:81/");
        assert_eq!(Url::parse("http://h?q").unwrap().path, "/?q");
        for bad in [
            "http://",
            "http://:80/",
            "http://h:0/",
            "http://h:99999/",
            "http://::1/",
            "http://[::1/",
            "http://h/ x",
            "ftp://h/",
            "http://[zz]/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redirects() {
        let base = Url::parse("http://h:1/a/b?q").unwrap();
        assert_eq!(base.join("/x").unwrap().path, "/x");
        assert_eq!(base.join("c").unwrap().path, "/a/c");
        assert_eq!(base.join("?z").unwrap().path, "/a/b?z");
        assert_eq!(base.join("https://o/p").unwrap().host, "o");
        for other in [
            "ftp://h/x",
            "FILE:///etc/passwd",
            "javascript:x",
            "mailto:a@b",
        ] {
            let err = base.join(other).unwrap_err();
            assert!(err.contains("only http:// and https://"), "{other}: {err}");
        }
        assert!(
            base.join("x:y")
                .unwrap_err()
                .starts_with("the location's scheme is …:,")
        );
        assert!(
            base.join("ftp:x")
                .unwrap_err()
                .starts_with("the location's scheme is ftp:,")
        );
        assert_eq!(base.join("./x:y").unwrap().path, "/a/./x:y");
        let u = base.join("//other:2/p").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.scheme),
            ("other", 2, Scheme::Http)
        );
    }

    #[test]
    fn targets() {
        assert_eq!(
            Target::parse("tcp://db:5432", false).unwrap(),
            Target::Tcp {
                host: "db".into(),
                port: 5432
            }
        );
        assert_eq!(
            Target::parse("tcp://[::1]:1", false).unwrap().to_string(),
            "tcp://[::1]:1"
        );
        assert_eq!(
            Target::parse("unix:///run/x.sock", false).unwrap(),
            Target::Unix("/run/x.sock".into())
        );
        assert!(Target::parse("file:///tmp/x", false).is_err());
        assert_eq!(
            Target::parse("file:///tmp/x", true).unwrap(),
            Target::File("/tmp/x".into())
        );
        for bad in [
            "tcp://db",
            "tcp://:5",
            "unix://rel",
            "db:5432",
            "",
            "grpc://u:p@x:1",
            "grpc://x:1/a/b",
            "grpcs://",
            "postgres://",
            "redis://h:0",
            "mysql://u:p@h:1/x@y",
        ] {
            assert!(Target::parse(bad, true).is_err(), "{bad}");
        }
        let grpc = |t: &str| match Target::parse(t, false).unwrap() {
            Target::Grpc(g) => (
                g.tls,
                g.host.clone(),
                g.port,
                g.service.clone(),
                g.authority(),
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            grpc("grpc://127.0.0.1:50051/my.pkg.Greeter"),
            (
                false,
                "127.0.0.1".into(),
                50051,
                "my.pkg.Greeter".into(),
                "127.0.0.1:50051".into()
            )
        );
        assert_eq!(
            grpc("GRPCS://[::1]/"),
            (true, "::1".into(), 443, "".into(), "[::1]".into())
        );
        assert_eq!(grpc("grpc://h/a%2Eb?x#y").3, "a.b");
        assert_eq!(
            Target::parse("grpcs://h:8443/s", false)
                .unwrap()
                .to_string(),
            "grpcs://h:8443/s"
        );
        assert_eq!(
            Target::parse("grpc://h:80", false).unwrap().to_string(),
            "grpc://h"
        );
        let db = |t: &str| match Target::parse(t, false).unwrap() {
            Target::Db(d) => d,
            other => panic!("{other:?}"),
        };
        let p = db("postgresql://app@db/shop?sslmode=disable");
        assert_eq!(
            (p.kind, p.port, p.user.as_deref(), p.database.as_deref()),
            (DbKind::Postgres, 5432, Some("app"), Some("shop"))
        );
        let r = db("rediss://:p%40ss@[::1]");
        assert_eq!(
            (r.kind, r.tls, r.port, r.user.clone(), r.password.clone()),
            (DbKind::Redis, true, 6379, None, Some(Secret("p@ss".into())))
        );
        assert_eq!(Target::Db(r).to_string(), "rediss://[::1]:6379");
        let m = db("MARIADB://probe:secret@db:3307/ignored");
        assert_eq!(
            (
                m.kind,
                m.port,
                m.user.as_deref(),
                m.password.clone(),
                m.database.clone()
            ),
            (
                DbKind::Mysql,
                3307,
                Some("probe"),
                Some(Secret("secret".into())),
                None
            )
        );
        assert!(!format!("{m:?}").contains("secret"));
        assert_eq!(Target::Db(m).to_string(), "mysql://db:3307");
    }

    #[test]
    fn credentials_never_in_errors() {
        for bad in [
            "htp://admin:s3cret@127.0.0.1/",
            "tcp://admin:s3cret@127.0.0.1:5432",
            "http://admin:pa/ss@host:8080/",
            "http://admin:s3cret@[::1/",
            "127.0.0.1:8080/health?token=s3cret",
            "http://h:99999/?token=s3cret",
        ] {
            let err = Target::parse(bad, true).unwrap_err();
            for secret in ["s3cret", "admin", "ss@"] {
                assert!(!err.contains(secret), "{err}");
            }
        }
    }

    #[test]
    fn loopback() {
        for h in [
            "localhost",
            "LOCALHOST.",
            "app.localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "::",
            "127.1",
            "127.0.1",
            "2130706433",
            "0x7f000001",
            "0X7F.1",
            "0177.0.0.1",
            "0177.1",
            "::ffff:7f00:1",
            "::FFFF:127.9.9.9",
            "0",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for (text, ip) in [
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("10.65535", "10.0.255.255"),
            ("2130706433", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("0177.0.0.01", "127.0.0.1"),
            ("00", "0.0.0.0"),
        ] {
            assert_eq!(ip_literal(text), ip.parse().ok(), "{text}");
        }
        for not_ip in [
            "example.com",
            "1.2.3.4.5",
            "256.1",
            "1.2.3.256",
            "08.1.1.1",
            "0x",
            "4294967296",
            "1..1",
            "",
            "127.0.0.1.",
            "0x1g",
        ] {
            assert_eq!(ip_literal(not_ip), None, "{not_ip}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "localhost.example.com",
            "8.8.8.8",
            "128.0.0.1",
            "0x80000001",
            "::ffff:10.0.0.1",
            "127.example.com",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }
}
