//! The options that shape a check, shared by `health` and `wait` under the same names, with
//! their environment twins (`WARD_HEALTH_*`, `WARD_WAIT_*`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{self, parse_env, parse_opt};
use crate::error::Error;
use crate::redact::{Secret, quoted};

/// Default limit of one connection attempt (each resolved address gets its own).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// HTTP statuses counted as healthy: ranges, inclusive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl Default for StatusSet {
    /// 200–399, as Kubernetes' httpGet probe counts success.
    fn default() -> Self {
        StatusSet(vec![(200, 399)])
    }
}

impl StatusSet {
    pub fn contains(&self, code: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| lo <= code && code <= hi)
    }

    /// Parses `200,204`, `200-299`, `2xx` and mixes of them.
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let bad = || {
            format!(
                "invalid status list {} (use e.g. 200,204 or 200-299 or 2xx)",
                quoted(text)
            )
        };
        let code = |s: &str| -> Option<u16> {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
        };
        let mut ranges = Vec::new();
        for item in cli::split_list(text) {
            let lower = item.to_ascii_lowercase();
            let range = if let Some(d) = lower.strip_suffix("xx") {
                let hundreds: u16 = d
                    .parse()
                    .ok()
                    .filter(|h| (1..=5).contains(h))
                    .ok_or_else(bad)?;
                (hundreds * 100, hundreds * 100 + 99)
            } else if let Some((lo, hi)) = item.split_once('-') {
                let (lo, hi) = (code(lo).ok_or_else(bad)?, code(hi).ok_or_else(bad)?);
                if lo > hi {
                    return Err(bad());
                }
                (lo, hi)
            } else {
                let c = code(item).ok_or_else(bad)?;
                (c, c)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err(bad());
        }
        Ok(StatusSet(ranges))
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    pub server_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    pub connect_timeout: Duration,
    pub method: String,
    pub status: StatusSet,
    pub follow_redirects: bool,
    /// Extra request headers, validated (no CR/LF, token names).
    pub headers: Vec<(String, String)>,
    /// Basic-auth credentials from --user (the URL's own userinfo is used otherwise).
    pub user: Option<(String, String)>,
    pub expect_body: Option<String>,
    pub tls: TlsOptions,
    pub unix_socket: Option<PathBuf>,
    /// The database password read from --password-file (a URL's own password wins).
    pub password: Option<Secret>,
}

impl Default for CheckOptions {
    fn default() -> CheckOptions {
        CheckOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            method: "GET".into(),
            status: StatusSet::default(),
            follow_redirects: false,
            headers: Vec::new(),
            user: None,
            expect_body: None,
            tls: TlsOptions::default(),
            unix_socket: None,
            password: None,
        }
    }
}

/// Options with their files loaded (CA, client certificate), ready for many checks.
pub struct Prepared {
    pub opts: CheckOptions,
    /// Built on first use (an http target may redirect to https), or up front when a target
    /// is https so that a bad --ca-file is a usage error.
    #[cfg(feature = "tls")]
    tls: std::sync::OnceLock<Result<super::tls::Setup, String>>,
}

/// The most targets one health, wait or init --wait takes: each is checked by a thread of its
/// own, and thousands of them would overrun the deadline and the memory a probe may use.
pub const MAX_TARGETS: usize = 64;

impl Prepared {
    /// When one of `targets` is https, the TLS files are read (and checked) now. More than
    /// [`MAX_TARGETS`] targets is a usage error.
    pub fn new(opts: CheckOptions, targets: &[super::Target]) -> Result<Prepared, Error> {
        if targets.len() > MAX_TARGETS {
            return Err(Error::usage(format!(
                "too many targets ({}; at most {MAX_TARGETS})",
                targets.len()
            )));
        }
        let grpc = targets.iter().any(|t| matches!(t, super::Target::Grpc(_)));
        if let Some((name, _)) = opts
            .headers
            .iter()
            .find(|(n, _)| grpc && super::grpc::reserved(n))
        {
            return Err(Error::usage(format!(
                "-H {name}: not allowed on a gRPC call (HTTP/2 forbids it or ward sets it)"
            )));
        }
        let needs_tls = targets.iter().any(|t| match t {
            super::Target::Http(u) => u.scheme == super::Scheme::Https,
            super::Target::Db(d) => d.tls,
            super::Target::Grpc(g) => g.tls,
            _ => false,
        });
        let prepared = Prepared {
            opts,
            #[cfg(feature = "tls")]
            tls: std::sync::OnceLock::new(),
        };
        #[cfg(feature = "tls")]
        if needs_tls {
            prepared.tls().map_err(Error::Usage)?;
        }
        #[cfg(not(feature = "tls"))]
        let _ = needs_tls;
        Ok(prepared)
    }

    /// The TLS set-up, built the first time it is needed.
    #[cfg(feature = "tls")]
    pub fn tls(&self) -> Result<&super::tls::Setup, String> {
        self.tls
            .get_or_init(|| super::tls::Setup::new(&self.opts.tls))
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// An option name, owned, so the parser can be borrowed again for its value.
pub enum Key {
    Short(char),
    Long(String),
}

impl Key {
    pub fn from_arg(arg: &lexopt::Arg<'_>) -> Option<Key> {
        match arg {
            lexopt::Arg::Short(c) => Some(Key::Short(*c)),
            lexopt::Arg::Long(s) => Some(Key::Long(s.to_string())),
            lexopt::Arg::Value(_) => None,
        }
    }

    /// The usage error for an option nobody takes.
    pub fn unexpected(&self) -> String {
        match self {
            Key::Short(c) => format!("unknown option '-{c}'"),
            Key::Long(s) => format!("unknown option '--{s}'"),
        }
    }

    pub fn is(&self, short: Option<char>, long: &str) -> bool {
        match self {
            Key::Short(c) => Some(*c) == short,
            Key::Long(s) => s == long,
        }
    }
}

/// The command line of an applet that checks targets (health, wait): check options are
/// collected, positional words are targets, and any other option is offered to `other`, which
/// takes its value from the parser and returns false for an option it does not know. Help alone
/// on the line is answered before this parser runs (applet.rs); here it is a usage error.
pub fn parse_command_line(
    args: Vec<std::ffi::OsString>,
    applet: &str,
    mut other: impl FnMut(&Key, &mut lexopt::Parser) -> Result<bool, Error>,
) -> Result<(CheckArgs, Vec<String>), Error> {
    let mut checks = CheckArgs::default();
    let mut targets = Vec::new();
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next()? {
        let key = Key::from_arg(&arg);
        let value = match arg {
            lexopt::Arg::Value(v) => Some(v),
            _ => None,
        };
        match (key, value) {
            (Some(key), _) => {
                if key.is(Some('h'), "help") || key.is(None, "version") {
                    let flag = match key {
                        Key::Short(_) => "-h",
                        Key::Long(ref s) if s == "help" => "--help",
                        Key::Long(_) => "--version",
                    };
                    return Err(cli::meta_with_others(flag, true));
                }
                if !checks.take(&key, &mut parser)? && !other(&key, &mut parser)? {
                    return Err(Error::usage(format!(
                        "{}; see 'ward {applet} --help'",
                        key.unexpected()
                    )));
                }
            }
            (None, Some(v)) => targets.push(
                v.into_string()
                    .map_err(|_| Error::usage("target is not valid UTF-8"))?,
            ),
            (None, None) => {}
        }
    }
    Ok((checks, targets))
}

/// Check options being collected: environment first, then the command line.
#[derive(Default)]
pub struct CheckArgs {
    connect_timeout: Option<Duration>,
    method: Option<String>,
    status: Option<StatusSet>,
    follow_redirects: Option<bool>,
    headers: Option<Vec<(String, String)>>,
    user: Option<(String, String)>,
    expect_body: Option<String>,
    ca_file: Option<PathBuf>,
    insecure: Option<bool>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    server_name: Option<String>,
    unix_socket: Option<PathBuf>,
    password_file: Option<PathBuf>,
}

/// A duration that must be more than zero.
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    match cli::parse_duration(text)? {
        d if d.is_zero() => Err("must be more than 0".into()),
        d => Ok(d),
    }
}

fn parse_method(text: &str) -> Result<String, String> {
    let m = text.trim();
    if m.is_empty() || !m.bytes().all(is_token) {
        return Err(format!("invalid method {}", quoted(m)));
    }
    Ok(m.to_ascii_uppercase())
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `Name: value`. The value is never repeated in an error: it may be a secret.
fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or("invalid header (use 'Name: value')")?;
    let name = name.trim();
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err("invalid header name (use 'Name: value')".into());
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(format!("header {name} contains a line break"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

fn parse_user(text: &str) -> Result<(String, String), String> {
    let (u, p) = text
        .split_once(':')
        .ok_or("invalid credentials (use USER:PASSWORD)")?;
    Ok((u.to_string(), p.to_string()))
}

fn parse_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("empty path".into());
    }
    Ok(PathBuf::from(text))
}

fn parse_text(text: &str) -> Result<String, String> {
    if text.is_empty() {
        return Err("empty text".into());
    }
    Ok(text.to_string())
}

impl CheckArgs {
    /// Whether --connect-timeout (or its twin) was given.
    pub fn connect_timeout_given(&self) -> bool {
        self.connect_timeout.is_some()
    }

    /// These values where set (the command line), `env`'s otherwise.
    pub fn or(self, env: CheckArgs) -> CheckArgs {
        CheckArgs {
            connect_timeout: self.connect_timeout.or(env.connect_timeout),
            method: self.method.or(env.method),
            status: self.status.or(env.status),
            follow_redirects: self.follow_redirects.or(env.follow_redirects),
            headers: self.headers.or(env.headers),
            user: self.user.or(env.user),
            expect_body: self.expect_body.or(env.expect_body),
            ca_file: self.ca_file.or(env.ca_file),
            insecure: self.insecure.or(env.insecure),
            client_cert: self.client_cert.or(env.client_cert),
            client_key: self.client_key.or(env.client_key),
            server_name: self.server_name.or(env.server_name),
            unix_socket: self.unix_socket.or(env.unix_socket),
            password_file: self.password_file.or(env.password_file),
        }
    }

    /// Reads the environment twins of every check option for `applet` (WARD_<APPLET>_*).
    pub fn from_env(applet: &str) -> Result<CheckArgs, Error> {
        let mut a = CheckArgs::default();
        let get = |opt: &str| cli::env_twin(applet, opt);
        if let Some(v) = get("connect-timeout")? {
            a.connect_timeout = Some(parse_env(&v, parse_positive)?);
        }
        if let Some(v) = get("method")? {
            a.method = Some(parse_env(&v, parse_method)?);
        }
        if let Some(v) = get("status")? {
            a.status = Some(parse_env(&v, StatusSet::parse)?);
        }
        if let Some(v) = get("follow-redirects")? {
            a.follow_redirects = Some(parse_env(&v, cli::parse_bool)?);
        }
        if let Some(v) = get("header")? {
            // One header per line: values may hold commas and spaces.
            let mut list = Vec::new();
            for line in v.1.lines().filter(|l| !l.trim().is_empty()) {
                list.push(parse_env(&(v.0.clone(), line.to_string()), parse_header)?);
            }
            a.headers = Some(list);
        }
        if let Some(v) = get("user")? {
            a.user = Some(parse_env(&v, parse_user)?);
        }
        if let Some(v) = get("expect-body")? {
            a.expect_body = Some(parse_env(&v, parse_text)?);
        }
        if let Some(v) = get("ca-file")? {
            a.ca_file = Some(parse_env(&v, parse_path)?);
        }
        if let Some(v) = get("insecure")? {
            a.insecure = Some(parse_env(&v, cli::parse_bool)?);
        }
        if let Some(v) = get("client-cert")? {
            a.client_cert = Some(parse_env(&v, parse_path)?);
        }
        if let Some(v) = get("client-key")? {
            a.client_key = Some(parse_env(&v, parse_path)?);
        }
        if let Some(v) = get("tls-server-name")? {
            a.server_name = Some(parse_env(&v, parse_text)?);
        }
        if let Some(v) = get("unix-socket")? {
            a.unix_socket = Some(parse_env(&v, parse_path)?);
        }
        if let Some(v) = get("password-file")? {
            a.password_file = Some(parse_env(&v, parse_path)?);
        }
        Ok(a)
    }

    /// Takes one command-line option if it is a check option (reading its value from
    /// `parser`); returns false when the option is not one of these.
    pub fn take(&mut self, key: &Key, parser: &mut lexopt::Parser) -> Result<bool, Error> {
        if key.is(None, "connect-timeout") {
            self.connect_timeout = Some(parse_opt(
                "--connect-timeout",
                parser.value()?,
                parse_positive,
            )?);
        } else if key.is(Some('X'), "method") {
            self.method = Some(parse_opt("--method", parser.value()?, parse_method)?);
        } else if key.is(None, "status") {
            self.status = Some(parse_opt("--status", parser.value()?, StatusSet::parse)?);
        } else if key.is(None, "follow-redirects") {
            self.follow_redirects = Some(true);
        } else if key.is(Some('H'), "header") {
            let h = parse_opt("--header", parser.value()?, parse_header)?;
            self.headers.get_or_insert_with(Vec::new).push(h);
        } else if key.is(Some('u'), "user") {
            self.user = Some(parse_opt("--user", parser.value()?, parse_user)?);
        } else if key.is(None, "expect-body") {
            self.expect_body = Some(parse_opt("--expect-body", parser.value()?, parse_text)?);
        } else if key.is(None, "ca-file") {
            self.ca_file = Some(parse_opt("--ca-file", parser.value()?, parse_path)?);
        } else if key.is(Some('k'), "insecure") {
            self.insecure = Some(true);
        } else if key.is(None, "client-cert") {
            self.client_cert = Some(parse_opt("--client-cert", parser.value()?, parse_path)?);
        } else if key.is(None, "client-key") {
            self.client_key = Some(parse_opt("--client-key", parser.value()?, parse_path)?);
        } else if key.is(None, "tls-server-name") {
            self.server_name = Some(parse_opt("--tls-server-name", parser.value()?, parse_text)?);
        } else if key.is(None, "unix-socket") {
            self.unix_socket = Some(parse_opt("--unix-socket", parser.value()?, parse_path)?);
        } else if key.is(None, "password-file") {
            self.password_file = Some(parse_opt("--password-file", parser.value()?, parse_path)?);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    pub fn finish(self) -> Result<CheckOptions, Error> {
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(Error::usage("--client-cert and --client-key go together"));
        }
        // Before anything is moved out: a failure drops `self` whole.
        let password = match &self.password_file {
            Some(path) => Some(read_password(path)?),
            None => None,
        };
        let headers = self.headers.unwrap_or_default();
        Ok(CheckOptions {
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            method: self.method.unwrap_or_else(|| "GET".into()),
            status: self.status.unwrap_or_default(),
            follow_redirects: self.follow_redirects.unwrap_or(false),
            headers,
            user: self.user,
            expect_body: self.expect_body,
            tls: TlsOptions {
                ca_file: self.ca_file,
                insecure: self.insecure.unwrap_or(false),
                client_cert: self.client_cert,
                client_key: self.client_key,
                server_name: self.server_name,
            },
            unix_socket: self.unix_socket,
            password,
        })
    }
}

/// The first `limit` bytes of a file that an option names (a password, a PEM file); Err(None)
/// when it is not a regular file: a FIFO or a device given by mistake must neither block the
/// check past its deadline nor fill the memory (it is opened non-blocking too, should one be
/// swapped in).
pub(super) fn read_file(path: &Path, limit: usize) -> Result<Vec<u8>, Option<io::Error>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    if !std::fs::metadata(path)?.is_file() {
        return Err(None);
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // A buffer of the limit's size (untouched pages of a large one cost nothing) and a loop of
    // reads: less code than read_to_end.
    let mut data = vec![0; limit];
    let mut len = 0;
    while len < limit {
        match file.read(&mut data[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Some(e)),
        }
    }
    data.truncate(len);
    Ok(data)
}

/// The password in a file (a Docker or Kubernetes secret): its content without one trailing
/// newline. The content is never shown, not even in an error.
fn read_password(path: &Path) -> Result<Secret, Error> {
    let bytes = read_file(path, 4096).map_err(|e| {
        Error::usage(match e {
            None => format!("--password-file: {} is not a regular file", path.display()),
            Some(e) => format!(
                "--password-file: cannot read {}: {}",
                path.display(),
                crate::error::describe_io(&e).to_ascii_lowercase()
            ),
        })
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::usage("--password-file: the password is not valid UTF-8"))?;
    let text = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if text.is_empty() || text.len() > 1024 {
        return Err(Error::usage(
            "--password-file: the file is empty or longer than 1024 bytes",
        ));
    }
    Ok(Secret(text.to_string()))
}

/// The help lines for the check options, shared by health and wait. Twins are shown as
/// `…_NAME`: WARD_HEALTH_NAME for health, WARD_WAIT_NAME for wait.
pub const HELP: &str = "\
Check options (environment twin WARD_<APPLET>_<NAME> in brackets):
      --connect-timeout DURATION  limit of each connection attempt (default 2s)
                              [CONNECT_TIMEOUT]
  -X, --method METHOD         request method (default GET) [METHOD]
      --status LIST           healthy statuses: 200,204 or 200-299 or 2xx (default 200-399)
                              [STATUS]
      --follow-redirects      follow redirects (default: judge the 3xx itself)
                              [FOLLOW_REDIRECTS]
  -H, --header 'Name: value'  extra request header; repeatable [HEADER, one per line]
  -u, --user USER:PASSWORD    basic auth (default: the URL's user:password@) [USER]
      --expect-body TEXT      TEXT must appear in the first 64 KiB of the body [EXPECT_BODY]
      --unix-socket PATH      connect over this Unix socket instead (HTTP, gRPC, databases)
                              [UNIX_SOCKET]
      --password-file PATH    the password for redis:// and mysql:// targets whose URL has
                              none (a Docker or Kubernetes secret) [PASSWORD_FILE]
      --ca-file PEM           trust only the CAs in this file [CA_FILE]
  -k, --insecure              do not verify the server's certificate [INSECURE]
      --client-cert PEM       client certificate (mTLS), with --client-key [CLIENT_CERT]
      --client-key PEM        its private key [CLIENT_KEY]
      --tls-server-name NAME  verify the certificate (and send SNI) for NAME
                              [TLS_SERVER_NAME]
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let d = StatusSet::default();
        assert!(d.contains(200) && d.contains(301) && d.contains(399) && !d.contains(404));
        let s = StatusSet::parse("200, 204,300-302,5xx").unwrap();
        for c in [200, 204, 300, 301, 302, 500, 599] {
            assert!(s.contains(c), "{c}");
        }
        for c in [201, 303, 404, 499] {
            assert!(!s.contains(c), "{c}");
        }
        for bad in ["", "abc", "99", "600", "300-200", "6xx", "2x", "200-"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn headers_and_users() {
        assert_eq!(
            parse_header("X-A:  b c ").unwrap(),
            ("X-A".into(), "b c".into())
        );
        assert_eq!(
            parse_header("Authorization: Bearer a:b").unwrap().1,
            "Bearer a:b"
        );
        for bad in ["nocolon", ": v", "Bad Name: v", "X: a\r\nEvil: 1"] {
            let err = parse_header(bad).unwrap_err();
            assert!(!err.contains("Evil"), "{err}");
        }
        assert_eq!(parse_user("a:b:c").unwrap(), ("a".into(), "b:c".into()));
        assert!(parse_user("alice").is_err());
        assert_eq!(parse_method("get").unwrap(), "GET");
        assert!(parse_method("G T").is_err());
    }
}
