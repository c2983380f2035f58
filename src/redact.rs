//! The one redaction function: every piece of user input that a message repeats (a target, an
//! option's or a variable's value, a proxy setting) goes through [`redact`] first, so that
//! nothing that might be a credential is ever printed. When in doubt, it hides.

/// Longest piece of user input a message repeats, in characters.
const MAX_SHOWN: usize = 60;

/// Schemes shown as they are; any other is hidden.
const KNOWN_SCHEMES: &[&str] = &[
    "http",
    "https",
    "tcp",
    "unix",
    "file",
    "grpc",
    "grpcs",
    "postgres",
    "postgresql",
    "redis",
    "rediss",
    "mysql",
    "mariadb",
    "socks4",
    "socks4a",
    "socks5",
    "socks5h",
    "ftp",
];

/// What a server said, with every copy of each secret (a password, a token it was sent)
/// replaced by `…`, before any message repeats it. Empty secrets are left alone.
pub fn scrub(text: &[u8], secrets: &[&str]) -> Vec<u8> {
    let mut out = text.to_vec();
    for secret in secrets
        .iter()
        .map(|s| s.as_bytes())
        .filter(|s| !s.is_empty())
    {
        let mut clean = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(secret) {
                clean.extend_from_slice("…".as_bytes());
                i += secret.len();
            } else {
                clean.push(out[i]);
                i += 1;
            }
        }
        out = clean;
    }
    out
}

/// A password: compared and used, never shown, not even by `{:?}`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// `text` made safe for a message:
/// - everything up to the last `@` is dropped (after `scheme://` when there is one): a
///   password may hold `/`, `?`, `#`, `,`, `://` or a space, so no earlier `@` is trusted to
///   end the userinfo;
/// - a scheme ward does not know is hidden (`…://`): it may be a user name followed by a
///   password that starts with `//`; so is everything after a second `://`;
/// - an authority that reads `name:word` with a word that is not a port number is hidden
///   whole (`…`): a list split inside a password leaves `http://user:pass` behind;
/// - the query and fragment are hidden (`?…`): they may carry a token;
/// - control characters are escaped, and the result is at most 60 characters.
pub fn redact(text: &str) -> String {
    let (scheme, rest) = match text.find("://") {
        Some(i) if known_scheme(&text[..i]) => (&text[..i + 3], &text[i + 3..]),
        Some(i) => ("…://", &text[i + 3..]),
        None => ("", text),
    };
    let rest = match rest.rfind('@') {
        Some(at) => &rest[at + 1..],
        None => rest,
    };
    if rest.contains("://") {
        return short(&format!("{scheme}…"));
    }
    let (before_query, hidden) = match rest.find(['?', '#']) {
        Some(q) => (&rest[..q], true),
        None => (rest, false),
    };
    let authority_end = before_query.find('/').unwrap_or(before_query.len());
    let (authority, path) = before_query.split_at(authority_end);
    let authority = if looks_like_userinfo(authority) {
        "…"
    } else {
        authority
    };
    let mut shown = format!("{scheme}{authority}{path}");
    if hidden {
        shown.push_str("?…");
    }
    short(&shown)
}

/// [`redact`], in double quotes, as messages show a value.
pub fn quoted(text: &str) -> String {
    format!("\"{}\"", redact(text))
}

/// Whether ward shows this scheme (`http`, `socks5`...) as it is in messages.
pub fn known_scheme(scheme: &str) -> bool {
    KNOWN_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str())
}

/// `user:pass` rather than `host:port` or `[v6]:port`.
fn looks_like_userinfo(authority: &str) -> bool {
    if authority.starts_with('[') {
        return false;
    }
    match authority.rsplit_once(':') {
        Some((_, port)) => !port.bytes().all(|b| b.is_ascii_digit()),
        None => false,
    }
}

/// At most [`MAX_SHOWN`] characters, control characters escaped (the escapes count).
fn short(text: &str) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for c in text.chars() {
        let piece: String = if c.is_control() {
            c.escape_default().collect()
        } else {
            c.to_string()
        };
        shown += piece.chars().count();
        if shown > MAX_SHOWN {
            out.push('…');
            break;
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_every_spelling_of_a_password() {
        for (text, want) in [
            ("http://u:p@h/x?y", "http://h/x?…"),
            ("http://u:p#ss@h:80/", "http://h:80/"),
            ("http://u:p?ss@h/", "http://h/"),
            ("http://u:a://b@h/", "http://h/"),
            ("http://u:pa/ss@h/", "http://h/"),
            ("http://u:p,ss@h/", "http://h/"),
            ("http://u:p", "http://…"),
            ("tcp://u:sec ret@h:1", "tcp://h:1"),
            ("ss@host/x", "host/x"),
            ("user:pw://x@h", "…://h"),
            ("admin://,pw://@h:1/", "…://h:1/"),
            ("hfile://ttp://ad/amin:pw?", "…://…"),
            ("http://a/b://c", "http://…"),
            ("127.0.0.1:8080/h?token=s", "127.0.0.1:8080/h?…"),
            ("http://[::1]:80/", "http://[::1]:80/"),
            ("tcp://db:5432", "tcp://db:5432"),
            ("5s", "5s"),
            ("a\nb", "a\\nb"),
        ] {
            assert_eq!(redact(text), want, "{text}");
        }
        assert_eq!(redact(&"x".repeat(100)).chars().count(), 61);
        assert_eq!(quoted("http://u:p@h/"), "\"http://h/\"");
    }
}
