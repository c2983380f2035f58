//! The `grpc_health_probe` personality: grpc-ecosystem/grpc-health-probe's flags, in Go's
//! flag syntax, and its exit codes, so that an image or a chart that runs
//! `["/bin/grpc_health_probe", "-addr=:5000"]` keeps working with ward copied to that path.
//! The call itself is check/grpc.rs, the same as `ward health grpc://...`.
//!
//! Exit codes: 0 SERVING, 1 invalid arguments, 2 the connection could not be made within
//! -connect-timeout, 3 the call failed once connected, 4 the call succeeded and the service is
//! not SERVING.

use std::ffi::OsString;

use std::time::{Duration, Instant};

use crate::applet::Invocation;
use crate::check::grpc::{self, Stage};
use crate::check::target::{GrpcUrl, split_host_port};
use crate::check::{CheckOptions, Deadline, Prepared, Progress};
use crate::error::Error;
use crate::log;

const CONNECT_FAILED: u8 = 2;
const RPC_FAILED: u8 = 3;
const UNHEALTHY: u8 = 4;

pub const HELP: &str = "\
Usage: grpc_health_probe -addr=HOST:PORT [-service NAME] [-tls ...]   (ward's docs/grpc.md)

grpc_health_probe's flags and exit codes: 0 SERVING, 1 bad flags, 2 no connection, 3 the call
failed, 4 not SERVING. -alts and -spiffe are refused; -gzip has no effect.
";

/// The flags that take a value, in grpc_health_probe's words (numbered from 0), and the
/// boolean ones.
const VALUED: &str = "addr service user-agent connect-timeout rpc-timeout tls-ca-cert \
                      tls-client-cert tls-client-key tls-server-name rpc-header";
const BOOLEAN: &str = "tls tls-no-verify v version h help gzip alts spiffe";

/// A command line taken in.
struct Probe {
    url: GrpcUrl,
    /// `-addr` as given, for messages (redacted).
    addr: String,
    opts: CheckOptions,
    rpc_timeout: Duration,
    user_agent: String,
    verbose: bool,
}

pub fn version() -> String {
    concat!(
        "ward ",
        env!("CARGO_PKG_VERSION"),
        " (grpc_health_probe compatible)\n"
    )
    .to_string()
}

/// `grpc_health_probe ...`
pub fn run(inv: Invocation) -> Result<u8, Error> {
    let Some(p) = parse(inv.args)? else {
        return Ok(crate::exit::SUCCESS);
    };
    // What the probe holds lives until the process exits: leaked, not dropped (drop code for
    // every field on every way out is bytes in the binary, freeing it is nothing).
    let p = Box::leak(Box::new(p));
    crate::health::watch_for_termination(None);
    let target = crate::check::Target::Grpc(p.url.clone());
    let opts = std::mem::take(&mut p.opts);
    let prepared = Box::leak(Box::new(Prepared::new(
        opts,
        std::slice::from_ref(&target),
    )?));
    std::mem::forget(target);
    let connect = Deadline::after(prepared.opts.connect_timeout);
    let start = Instant::now();
    let mut connected = Duration::ZERO;
    let outcome = grpc::call(
        &p.url,
        prepared,
        &connect,
        Some(p.rpc_timeout),
        Some(&p.user_agent),
        &mut || connected = start.elapsed(),
        &Progress::default(),
    );
    if p.verbose && !connected.is_zero() {
        use crate::cli::format_duration as f;
        log::line(&format!(
            "time elapsed: connect={} rpc={}",
            f(connected),
            f(start.elapsed().saturating_sub(connected))
        ));
    }
    let (code, line) = match outcome {
        Ok(_) => (crate::exit::SUCCESS, "status: SERVING".to_string()),
        Err((Stage::NotServing, f)) => (
            UNHEALTHY,
            format!("service unhealthy (responded with \"{}\")", f.0),
        ),
        Err((stage, f)) => {
            let (code, what) = match stage {
                Stage::Connect => (CONNECT_FAILED, "failed to connect service at"),
                _ => (RPC_FAILED, "health rpc failed for"),
            };
            (code, format!("error: {what} \"{}\": {}", p.addr, f.0))
        }
    };
    log::line(&log::one_line(&line, 299));
    Ok(code)
}

/// A usage error about flag `-name`.
fn bad(name: &str, why: &str) -> Error {
    Error::usage(format!("-{name}: {why}"))
}

/// Go's flag package: `-name=value`, `-name value`, `--name`; a boolean takes only
/// `-name` or `-name=BOOL`. Parsing stops at `--`; any argument left over is refused (Go
/// would ignore it, and every flag after it). Then grpc_health_probe's checks, and the
/// address. None when -help or -version was answered.
fn parse(args: Vec<OsString>) -> Result<Option<Probe>, Error> {
    // Everything owned lives in `p`, filled in by reference: one value to drop on every way
    // out, not one per field per way.
    let mut p = Probe {
        url: GrpcUrl {
            tls: false,
            host: "localhost".into(),
            port: 80,
            service: String::new(),
        },
        addr: String::new(),
        opts: CheckOptions {
            connect_timeout: Duration::from_secs(1),
            ..CheckOptions::default()
        },
        rpc_timeout: Duration::from_secs(1),
        user_agent: "grpc_health_probe".into(),
        verbose: false,
    };
    Ok(fill(&mut p, args)?.then_some(p))
}

/// [`parse`]'s work; false when -help or -version was answered.
fn fill(p: &mut Probe, args: Vec<OsString>) -> Result<bool, Error> {
    let mut addr_given = false;
    let mut on = [false; 9];
    let count = args.len();
    // Borrowed, not owned: nothing to drop on the many ways out.
    let mut args = args.iter().map(|a| {
        a.to_str()
            .ok_or_else(|| Error::usage("an argument is not valid UTF-8"))
    });
    while let Some(arg) = args.next() {
        let arg = arg?;
        if arg == "--" {
            if args.next().is_some() {
                return Err(bad("-", "no arguments after it (flags only)"));
            }
            break;
        }
        let flag = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .filter(|f| !f.is_empty() && !f.starts_with(['-', '=']));
        let Some(flag) = flag else {
            // Not shown: an unquoted "-rpc-header=authorization: TOKEN" leaves the token here.
            return Err(Error::usage(
                "an argument that is not a flag (not shown; see grpc_health_probe -help)",
            ));
        };
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        if let Some(slot) = find(BOOLEAN, name) {
            // Go's words for true, then for false.
            const WORDS: &str = "1 t T true TRUE True 0 f F false FALSE False";
            on[slot] = match inline.map(|v| find(WORDS, v)) {
                None => true,
                Some(Some(i)) => i < 6,
                Some(None) => return Err(bad(name, "a boolean: true or false")),
            };
            if on[slot] && slot > 6 {
                return Err(bad(
                    name,
                    "not supported (use -tls, with -tls-client-cert for mTLS)",
                ));
            }
            continue;
        }
        let Some(slot) = find(VALUED, name) else {
            return Err(bad(
                &crate::redact::redact(name),
                "flag provided but not defined (see grpc_health_probe -help)",
            ));
        };
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .and_then(Result::ok)
                .ok_or_else(|| bad(name, "the flag needs a value"))?,
        };
        if value.bytes().any(|b| b.is_ascii_control()) {
            return Err(bad(name, "the value holds control characters (not shown)"));
        }
        let tls = &mut p.opts.tls;
        match slot {
            0 => (p.addr, addr_given) = (value.into(), true),
            1 => p.url.service = value.into(),
            2 => p.user_agent = value.into(),
            3 | 4 => {
                let d = crate::cli::parse_duration(value)
                    .ok()
                    .filter(|d| !d.is_zero());
                let d = d.ok_or_else(|| {
                    bad(
                        name,
                        "a duration greater than zero, e.g. 500ms, 1s or 1m30s",
                    )
                })?;
                *(if slot == 3 {
                    &mut p.opts.connect_timeout
                } else {
                    &mut p.rpc_timeout
                }) = d;
            }
            5 => tls.ca_file = Some(value.into()),
            6 => tls.client_cert = Some(value.into()),
            7 => tls.client_key = Some(value.into()),
            8 => tls.server_name = Some(value.into()),
            _ => p.opts.headers.push(rpc_header(value)?),
        }
    }
    // -help and -version only alone: with other flags, a probe that printed them and
    // exited 0 would pass without checking anything.
    if on[3] || on[4] || on[5] {
        if count > 1 {
            return Err(Error::usage("-help and -version take no other flags"));
        }
        crate::cli::print_stdout(&if on[3] { version() } else { HELP.into() });
        return Ok(false);
    }
    // grpc_health_probe's rules, in fewer words.
    let (tls, t) = (on[0], &mut p.opts.tls);
    t.insecure = on[1];
    let (ca, cert, key, name) = (
        t.ca_file.is_some(),
        t.client_cert.is_some(),
        t.client_key.is_some(),
        t.server_name.is_some(),
    );
    let rules = [
        (!addr_given, "-addr not specified"),
        (
            !tls && (t.insecure || ca || cert || name),
            "the -tls-* flags need -tls",
        ),
        (
            cert != key,
            "-tls-client-cert and -tls-client-key go together",
        ),
        (
            t.insecure && (ca || name),
            "-tls-ca-cert and -tls-server-name would not be used with -tls-no-verify",
        ),
        (
            p.url.service.len() > 1024,
            "-service: the name is longer than 1024 characters",
        ),
    ];
    if let Some((_, msg)) = rules.iter().find(|r| r.0) {
        return Err(Error::usage(*msg));
    }
    p.url.tls = tls;
    p.url.port = if tls { 443 } else { 80 };
    let addr = &p.addr;
    let bad_addr = || {
        Error::usage(format!(
            "-addr {}: use HOST:PORT, :PORT, [IPv6]:PORT or unix:///PATH",
            crate::redact::quoted(addr)
        ))
    };
    if let Some(rest) = addr.strip_prefix("unix:") {
        // unix:///abs/path, unix:relative/path; unix://host/path is refused, as by grpc-go.
        let path = match rest.strip_prefix("//") {
            Some(p) if p.starts_with('/') => p,
            Some(_) => "",
            None => rest,
        };
        if path.is_empty() {
            return Err(bad_addr());
        }
        p.opts.unix_socket = Some(path.into());
    } else {
        // ":5000" is this machine, as Go dials it.
        let (host, port) = match addr.strip_prefix(':') {
            Some(port) => ("localhost".into(), port.parse().ok().filter(|&p| p != 0)),
            None => split_host_port(addr).map_err(|_| bad_addr())?,
        };
        p.url.port = port.ok_or_else(bad_addr)?;
        p.url.host = host;
    }
    p.addr = crate::redact::redact(&p.addr);
    p.user_agent
        .push_str(concat!(" ward/", env!("CARGO_PKG_VERSION")));
    p.verbose = on[2];
    Ok(true)
}

/// Where `name` is in `list`, words separated by white space.
fn find(list: &str, name: &str) -> Option<usize> {
    list.split_ascii_whitespace().position(|n| n == name)
}

/// `name: value`, as grpc_health_probe splits it: at the first colon, the value's leading
/// space trimmed, the name lower-cased and limited to gRPC's characters. Values are never
/// shown: they are often tokens.
fn rpc_header(text: &str) -> Result<(String, String), Error> {
    let (name, value) = text.split_once(':').unwrap_or(("", ""));
    let name = name.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b"-_.".contains(&b));
    if !valid || crate::check::grpc::reserved(&name) {
        return Err(Error::usage(
            "-rpc-header: expected 'name: value', a name of [0-9a-z-_.] (value not shown)",
        ));
    }
    Ok((name, value.trim_start().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parsed(list: &[&str]) -> Result<Probe, String> {
        let args = list.iter().map(OsString::from).collect();
        match parse(args) {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err("help or version".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn go_flag_syntax() {
        let p = parsed(&[
            "-addr=:5000",
            "--service",
            "my.Svc",
            "-tls",
            "-tls-no-verify=false",
            "-rpc-header",
            "Authorization: Bearer x",
            "-rpc-header=k:v",
            "-connect-timeout=1m30s",
            "-rpc-timeout",
            "250ms",
            "-gzip",
            "-alts=false",
        ])
        .unwrap();
        assert_eq!((p.url.host.as_str(), p.url.port), ("localhost", 5000));
        assert_eq!(p.url.service, "my.Svc");
        assert!(p.url.tls && !p.opts.tls.insecure);
        assert_eq!(
            p.opts.headers,
            [
                ("authorization".into(), "Bearer x".into()),
                ("k".into(), "v".into())
            ]
        );
        assert_eq!(p.opts.connect_timeout, Duration::from_secs(90));
        assert_eq!(p.rpc_timeout, Duration::from_millis(250));
        assert!(p.user_agent.starts_with("grpc_health_probe ward/"));
        for bad in [
            &["-addr"][..],
            &["-addr=h:1", "-nope"],
            &["-addr=h:1", "-tls=maybe"],
            &["-addr=h:1", "-alts"],
            &["-addr=h:1", "-spiffe=true"],
            &["-addr=h:1", "-rpc-timeout=0"],
            &["-addr=h:1", "-rpc-timeout=-1s"],
            &["-addr=h:1", "-connect-timeout=1x"],
            &["-addr=h:1", "-rpc-header=novalue"],
            &["-addr=h:1", "-rpc-header=bad name: v"],
            &["-addr=h:1", "-rpc-header=te: x"],
            &["-addr=h:1", "stray"],
            &["-addr=h:1", "--", "x"],
        ] {
            assert!(parsed(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn probe_validation_in_grpc_health_probe_order() {
        let check =
            |list: &[&str]| parsed(list).map(|p| (p.url.host, p.url.port, p.opts.unix_socket));
        assert_eq!(check(&["-addr", "[::1]:7"]), Ok(("::1".into(), 7, None)));
        assert_eq!(
            check(&["-addr=unix:///run/s.sock"]),
            Ok(("localhost".into(), 80, Some(PathBuf::from("/run/s.sock"))))
        );
        assert_eq!(
            check(&["-addr=unix:rel.sock"]),
            Ok(("localhost".into(), 80, Some(PathBuf::from("rel.sock"))))
        );
        assert!(check(&["-addr=unix://host/x"]).is_err());
        assert!(check(&["-addr=h"]).unwrap_err().contains("use HOST:PORT"));
        assert!(check(&[]).unwrap_err().contains("-addr not specified"));
        for (args, says) in [
            (&["-addr=h:1", "-tls-no-verify"][..], "need -tls"),
            (&["-addr=h:1", "-tls", "-tls-client-cert=c"], "go together"),
            (
                &["-addr=h:1", "-tls", "-tls-no-verify", "-tls-ca-cert=c"],
                "would not be used",
            ),
        ] {
            assert!(check(args).unwrap_err().contains(says), "{args:?}");
        }
        assert!(check(&["-version"]).is_err_and(|e| e == "help or version"));
    }
}
