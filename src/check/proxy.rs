//! Which HTTP proxy, if any, a request goes through. Loopback targets never use one, whatever
//! the environment says (curl, wget and busybox wget all send `localhost` through
//! `http_proxy`). Other hosts follow the usual variables: `http_proxy`/`HTTP_PROXY`,
//! `https_proxy`/`HTTPS_PROXY`, `all_proxy`/`ALL_PROXY`, with `no_proxy`/`NO_PROXY`.

use std::net::IpAddr;

use super::target::{Scheme, Url, is_loopback, split_host_port};

/// An HTTP proxy to send the request through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    pub host: String,
    pub port: u16,
    /// Basic-auth credentials for Proxy-Authorization.
    pub userinfo: Option<(String, String)>,
}

impl Proxy {
    /// `host:port` for messages (no credentials).
    pub fn display(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

fn env(names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))
}

/// The proxy for `url`, from the environment; None means connect directly.
pub fn for_url(url: &Url) -> Result<Option<Proxy>, String> {
    if is_loopback(&url.host) {
        return Ok(None);
    }
    let no_proxy = env(&["no_proxy", "NO_PROXY"]).unwrap_or_default();
    if bypassed(&url.host, &no_proxy) {
        return Ok(None);
    }
    let value = match url.scheme {
        Scheme::Http => env(&["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"]),
        Scheme::Https => env(&["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"]),
    };
    match value {
        Some(v) => parse(&v).map(Some),
        None => Ok(None),
    }
}

/// Parses a proxy variable: `http://[user:pass@]host[:port]` or `host[:port]` (port 1080 by
/// default, as curl).
pub fn parse(text: &str) -> Result<Proxy, String> {
    let t = text.trim().trim_end_matches('/');
    let rest = match t.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) if crate::redact::known_scheme(scheme) => {
            return Err(format!(
                "{scheme}:// proxies are not supported (only http:// proxies)"
            ));
        }
        Some(_) => {
            return Err("invalid proxy setting (use http://[USER:PASSWORD@]HOST[:PORT])".into());
        }
        None => t,
    };
    let url =
        Url::parse(&format!("http://{rest}")).map_err(|e| format!("invalid proxy setting: {e}"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let port = if split_host_port(authority.rsplit('@').next().unwrap_or(authority))
        .ok()
        .and_then(|(_, p)| p)
        .is_some()
    {
        url.port
    } else {
        1080
    };
    Ok(Proxy {
        host: url.host,
        port,
        userinfo: url.userinfo,
    })
}

/// Whether `no_proxy` exempts `host`: `*`, a domain (matching itself and its subdomains; a
/// leading dot is allowed), an IP address, or an IP network in CIDR notation.
pub fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    no_proxy
        .split([',', ' '])
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            if let Some((net, bits)) = entry.split_once('/') {
                return match (ip, net.parse::<IpAddr>(), bits.parse::<u32>()) {
                    (Some(a), Ok(n), Ok(b)) => in_network(a, n, b),
                    _ => false,
                };
            }
            // ".example.com" and "*.example.com" mean the domain and its subdomains.
            let entry = entry.trim_start_matches("*.").trim_start_matches('.');
            // "[v6]" and "[v6]:port".
            let entry = match entry.strip_prefix('[') {
                Some(rest) => rest.split(']').next().unwrap_or(rest),
                None => entry,
            };
            if let (Some(a), Ok(e)) = (ip, entry.parse::<IpAddr>()) {
                return a == e;
            }
            // A port suffix (host:port) in no_proxy is accepted and ignored.
            let name = match entry.rsplit_once(':') {
                Some((n, p)) if !n.contains(':') && p.parse::<u16>().is_ok() => n,
                _ => entry,
            };
            host == name || host.ends_with(&format!(".{name}"))
        })
}

fn in_network(addr: IpAddr, net: IpAddr, bits: u32) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) if bits <= 32 => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) if bits <= 128 => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_matching() {
        let np = "example.com, .corp.local,10.0.0.0/8, 192.168.1.5,[fd00::1],internal:8080";
        for h in [
            "example.com",
            "api.example.com",
            "x.corp.local",
            "corp.local",
            "10.1.2.3",
            "192.168.1.5",
            "fd00::1",
            "internal",
        ] {
            assert!(bypassed(h, np), "{h}");
        }
        for h in [
            "notexample.com",
            "example.org",
            "11.0.0.1",
            "192.168.1.6",
            "fd00::2",
        ] {
            assert!(!bypassed(h, np), "{h}");
        }
        assert!(bypassed("anything", "*"));
        assert!(!bypassed("anything", ""));
        assert!(bypassed("2001:db8::5", "2001:db8::/32"));
        assert!(bypassed("a.b.example.net", "*.example.net"));
        assert!(bypassed("fd00::9", "[fd00::9]:8080"));
    }

    #[test]
    fn proxy_values() {
        let p = parse("http://user:pw@proxy.corp:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.corp", 3128));
        assert_eq!(p.userinfo, Some(("user".into(), "pw".into())));
        assert_eq!(p.display(), "proxy.corp:3128");
        assert_eq!(parse("proxy.corp").unwrap().port, 1080);
        assert_eq!(parse("[::1]:3128").unwrap().host, "::1");
        assert_eq!(parse("http://127.0.0.1:3128/proxy").unwrap().port, 3128);
        assert!(parse("socks5://proxy:1080").is_err());
        assert!(parse("https://proxy:443").is_err());
    }
}
