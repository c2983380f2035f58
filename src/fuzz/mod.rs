//! Property and fuzz tests for every parser ward has: targets and URLs, redirects, proxy
//! settings, status lists, durations, seconds, signal specs, environment lists, WAIT_COMMAND
//! splitting, IP literals (against the C library's inet_aton), HTTP response heads and the
//! redaction of credentials. Each property runs the corpus in tests/corpus/ and then mutations
//! of it, deterministically (see mutate.rs); `WARD_FUZZ_CASES` and `WARD_FUZZ_SEED` make a
//! longer or another campaign. A failure names the seed and the case, ready for the corpus.
//!
//! The tool is our own small mutator rather than cargo-fuzz or proptest: it runs on the stable
//! toolchain inside `cargo test` (and so in CI) with no dependency and no nightly sanitizer
//! build; the properties are what matters, and every one of them also has the hostile inputs
//! found so far in its corpus.

mod mutate;

use std::time::Duration;

use mutate::{Rng, cases, corpus_lines, escape, mutate, seed};

use crate::check::http::{find_head_end, parse_head};
use crate::check::options::StatusSet;
use crate::check::target::{Url, ip_literal, is_loopback};
use crate::check::{Target, parse_list, proxy};
use crate::cli;
use crate::redact::redact;

const TARGETS: &str = include_str!("../../tests/corpus/targets.txt");
const DURATIONS: &str = include_str!("../../tests/corpus/durations.txt");
const SIGNALS: &str = include_str!("../../tests/corpus/signals.txt");
const COMMANDS: &str = include_str!("../../tests/corpus/commands.txt");
const HEADS: &[&[u8]] = &[
    include_bytes!("../../tests/corpus/http/ok-length.http"),
    include_bytes!("../../tests/corpus/http/ok-chunked.http"),
    include_bytes!("../../tests/corpus/http/redirect.http"),
    include_bytes!("../../tests/corpus/http/unavailable.http"),
    include_bytes!("../../tests/corpus/http/close-delimited.http"),
    include_bytes!("../../tests/corpus/http/continue.http"),
    include_bytes!("../../tests/corpus/http/bare-lf.http"),
    include_bytes!("../../tests/corpus/http/chunk-overflow.http"),
];

/// Runs `property` on every corpus entry, then on `n` mutations of them. The property panics
/// (with its own message) on a violation; this adds the seed and the case.
fn run(name: &str, corpus: &[Vec<u8>], n: usize, property: impl Fn(&[u8])) {
    let seed = seed();
    let mut rng = Rng::new(seed ^ name.len() as u64);
    let others: Vec<&[u8]> = corpus.iter().map(Vec::as_slice).collect();
    let check = |case: &[u8]| {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| property(case)));
        if result.is_err() {
            panic!(
                "fuzz {name}: property failed (WARD_FUZZ_SEED={seed}) on the case \"{}\"",
                escape(case)
            );
        }
    };
    for case in corpus {
        check(case);
    }
    for _ in 0..cases(n) {
        let base = rng.pick(&others);
        let case = mutate(&mut rng, base, &others);
        check(&case);
    }
}

/// Whether the corpus's planted password stands before an `@` in this case (every copy of it:
/// a mutation may splice one into the host).
fn password_before_at(case: &str) -> bool {
    case.rfind("S3CRET")
        .is_some_and(|i| case[i..].contains('@'))
}

fn text(case: &[u8]) -> String {
    String::from_utf8_lossy(case).into_owned()
}

#[test]
fn targets_parse_without_panic_and_show_no_credentials() {
    run("targets", &corpus_lines(TARGETS), 20_000, |case| {
        let t = text(case);
        for allow_file in [false, true] {
            match Target::parse(&t, allow_file) {
                Ok(target) => {
                    let shown = target.to_string();
                    if let Target::Http(u) = &target {
                        if let Some((user, pw)) = &u.userinfo {
                            assert!(!shown.contains(&format!("{user}:{pw}@")), "{shown}");
                        }
                        assert!(u.path.starts_with('/'));
                        assert!(!u.host.is_empty());
                        assert!(u.port != 0);
                    }
                }
                // A password is what stands before an `@`.
                Err(e) if password_before_at(&t) => assert!(!e.contains("S3CRET"), "{e}"),
                Err(_) => {}
            }
        }
        let _ = parse_list(&t, true);
    });
}

/// Whatever characters a password holds, and wherever it stands, no message shows it.
#[test]
fn passwords_never_reach_a_message() {
    let specials = [
        "#", "?", "://", "/", ",", " ", "@", ":", "%", "[", "]", "\t", ";",
    ];
    let mut rng = Rng::new(seed());
    for _ in 0..cases(20_000) {
        let mut pw = String::new();
        for _ in 0..rng.below(4) {
            let piece: &&str = rng.pick(&specials);
            pw.push_str(piece);
        }
        pw.push_str("S3CRET");
        for _ in 0..rng.below(4) {
            let piece: &&str = rng.pick(&specials);
            pw.push_str(piece);
        }
        let scheme = rng.pick(&["http://", "https://", "tcp://", "", "ftp://", "HTTP://"]);
        let host = rng.pick(&["h", "127.0.0.1:99999", "[::1", "h:0", "db:5432", ""]);
        let url = format!("{scheme}admin:{pw}@{host}/x?q");
        let check = |msg: &str| {
            assert!(
                !msg.contains("S3CRET") && !msg.contains("admin"),
                "{url:?} showed {msg:?}"
            )
        };
        match Target::parse(&url, true) {
            Ok(t) => check(&t.to_string()),
            Err(e) => check(&e),
        }
        check(&redact(&url));
        if let Err(e) = parse_list(&url, true) {
            check(&e);
        }
        if let Err(e) = proxy::parse(&url) {
            check(&e);
        }
        for parse in [
            cli::parse_duration as fn(&str) -> Result<Duration, String>,
            cli::parse_seconds,
        ] {
            if let Err(e) = parse(&url) {
                check(&e);
            }
        }
        if let Err(e) = cli::parse_signal(&url) {
            check(&e);
        }
        if let Err(e) = StatusSet::parse(&url) {
            check(&e);
        }
    }
}

#[test]
fn redirects_resolve_without_panic() {
    let base = Url::parse("http://h:1/a/b?q").unwrap();
    run("redirects", &corpus_lines(TARGETS), 20_000, |case| {
        if let Ok(next) = base.join(&text(case)) {
            assert!(next.path.starts_with('/'), "{}", next.path);
            assert!(!next.path.chars().any(|c| c.is_control() || c == ' '));
        }
    });
}

#[test]
fn proxy_settings_and_status_lists_parse_without_panic() {
    let mut corpus = corpus_lines(TARGETS);
    corpus.extend(["200,204", "200-299", "2xx", "1-999", "299-200"].map(|s| s.into()));
    run("proxy-status", &corpus, 20_000, |case| {
        let t = text(case);
        if let Ok(p) = proxy::parse(&t) {
            assert!(!p.host.is_empty() && p.port != 0);
        }
        if let Ok(set) = StatusSet::parse(&t) {
            let _ = set.contains(200);
        }
    });
}

#[test]
fn durations_are_bounded_and_round_trip() {
    run("durations", &corpus_lines(DURATIONS), 20_000, |case| {
        let t = text(case);
        for d in [cli::parse_duration(&t), cli::parse_seconds(&t)]
            .into_iter()
            .flatten()
        {
            assert!(d <= cli::MAX_DURATION, "{d:?}");
            let _ = cli::later(d);
            let _ = cli::format_duration(d);
        }
    });
    let mut rng = Rng::new(seed());
    for _ in 0..cases(5_000) {
        let ms = rng.next() % 3_000_000_000_000;
        assert_eq!(
            cli::parse_duration(&format!("{ms}ms")),
            Ok(Duration::from_millis(ms))
        );
        let s = ms / 1000;
        assert_eq!(
            cli::parse_seconds(&s.to_string()),
            Ok(Duration::from_secs(s))
        );
    }
    assert!(cli::later(Duration::MAX) > cli::later(Duration::ZERO));
}

#[test]
fn signals_parse_in_range_and_names_round_trip() {
    for sig in 1..=64 {
        assert_eq!(cli::parse_signal(&cli::signal_name(sig)), Ok(sig), "{sig}");
    }
    run("signals", &corpus_lines(SIGNALS), 20_000, |case| {
        if let Ok(sig) = cli::parse_signal(&text(case)) {
            assert!((1..=64).contains(&sig), "{sig}");
        }
    });
}

#[test]
fn lists_split_into_clean_items() {
    run("lists", &corpus_lines(TARGETS), 20_000, |case| {
        let t = text(case);
        let items: Vec<&str> = cli::split_list(&t).collect();
        for item in &items {
            assert!(!item.is_empty());
            assert!(!item.contains(',') && !item.contains(char::is_whitespace));
        }
        let joined: String = items.concat();
        let kept: String = t
            .chars()
            .filter(|c| *c != ',' && !c.is_whitespace())
            .collect();
        assert_eq!(joined, kept);
    });
}

/// WAIT_COMMAND: never a panic; words quoted the shell's way come back unchanged.
#[test]
fn commands_split_like_a_shell() {
    run("commands", &corpus_lines(COMMANDS), 20_000, |case| {
        let _ = cli::split_command(&text(case));
    });
    let mut rng = Rng::new(seed());
    let pieces = [
        "a", "b c", "'", "\"", "\\", "$x", "`", " ", "\t", "é", "--", "",
    ];
    for _ in 0..cases(5_000) {
        let words: Vec<String> = (0..1 + rng.below(4))
            .map(|_| (0..rng.below(4)).map(|_| *rng.pick(&pieces)).collect())
            .collect();
        let line: Vec<String> = words
            .iter()
            .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
            .collect();
        assert_eq!(
            cli::split_command(&line.join(" ")),
            Ok(words.clone()),
            "{line:?}"
        );
    }
}

/// ward and the C library agree on what an IPv4 literal means, in every spelling: what ward
/// connects to and what it calls loopback can never differ from what getaddrinfo would use.
#[test]
fn ip_literals_agree_with_inet_aton() {
    let mut corpus: Vec<Vec<u8>> = [
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "0x7f.1",
        "1.2.3.4",
        "256.1",
        "08.1",
        "0x",
        "00",
        "4294967296",
        "1..1",
        "0xffffffff",
        "1.0xffffff",
    ]
    .map(|s| s.into())
    .to_vec();
    corpus.extend(corpus_lines(TARGETS));
    run("ip-literals", &corpus, 50_000, |case| {
        let t = text(case);
        // inet_aton stops at white space and takes what is before it; ward takes whole
        // host names only (they never hold white space or NUL).
        if t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == '\0') {
            return;
        }
        let ours = match ip_literal(&t) {
            Some(std::net::IpAddr::V4(v4)) => Some(v4),
            _ if t.contains(':') => return,
            _ => None,
        };
        assert_eq!(ours, crate::sys::net::inet_aton(&t), "{t:?}");
        let _ = is_loopback(&t);
    });
}

#[test]
fn response_heads_parse_without_panic() {
    let corpus: Vec<Vec<u8>> = HEADS.iter().map(|h| h.to_vec()).collect();
    run("heads", &corpus, 50_000, |case| {
        if let Some(end) = find_head_end(case, 0) {
            assert!(end <= case.len());
            if let Ok(head) = parse_head(&case[..end]) {
                assert!((100..=599).contains(&head.status));
            }
        }
        let _ = parse_head(case);
    });
}

#[test]
fn redaction_is_total() {
    run("redact", &corpus_lines(TARGETS), 50_000, |case| {
        let t = text(case);
        let shown = redact(&t);
        assert!(shown.chars().count() <= 61, "{shown}");
        assert!(!shown.contains(|c: char| c.is_control()), "{shown:?}");
        if let Some(at) = t.rfind('@') {
            let secret = &t[..at];
            // (Unless the same text stands after the `@` too, which is shown.)
            if secret.len() >= 6 && !secret.contains("://") && !t[at..].contains(secret) {
                assert!(!shown.contains(secret), "{shown}");
            }
        }
    });
}
