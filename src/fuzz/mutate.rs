//! A small deterministic mutator for ward's fuzz and property tests (shared by the unit tests
//! in src/fuzz/ and the hostile-server test in tests/fuzz.rs). Deterministic: a run is fixed by
//! its seed, so a failure prints the seed and the case and can be replayed or added to the
//! corpus in tests/corpus/. No dependency, stable toolchain, runs inside `cargo test`.

#![allow(dead_code)]

/// SplitMix64: tiny, fast, and good enough to drive mutations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// Tokens that tend to matter to ward's parsers: URL punctuation, number edges, line ends,
/// units, signal and protocol words.
pub const DICTIONARY: &[&str] = &[
    "://",
    "@",
    ":",
    "[",
    "]",
    "%",
    "%zz",
    "%00",
    "?",
    "#",
    "/",
    ".",
    "..",
    "0x",
    "0",
    "00",
    "9",
    "255",
    "256",
    "65535",
    "65536",
    "4294967296",
    "18446744073709551615",
    "-1",
    "+",
    "\r\n",
    "\n",
    "\r",
    " ",
    "\t",
    "\0",
    "é",
    "\u{200b}",
    ",",
    ";",
    "'",
    "\"",
    "\\",
    "ms",
    "s",
    "m",
    "h",
    "us",
    "µs",
    "1.5",
    ".5",
    "SIG",
    "RT",
    "MIN",
    "MAX",
    "+1",
    "-1",
    "TERM",
    "http://",
    "https://",
    "tcp://",
    "unix://",
    "file://",
    "localhost",
    "127.0.0.1",
    "::1",
    "HTTP/1.1 ",
    "200",
    "Content-Length: ",
    "Transfer-Encoding: chunked",
    "\r\n\r\n",
    "Location: ",
    "ffffffff",
    "0\r\n\r\n",
];

/// One to four random edits of `input`: bit flips, random bytes, dictionary tokens inserted,
/// ranges deleted, duplicated or cut, and splices from `others`.
pub fn mutate(rng: &mut Rng, input: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next() as u8;
            }
            2 | 3 => {
                let at = rng.below(len + 1);
                let token = rng.pick(DICTIONARY).as_bytes();
                out.splice(at..at, token.iter().copied());
            }
            4 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(8)).min(len);
                out.drain(a..b);
            }
            5 if len > 0 => {
                let a = rng.below(len);
                let b = (a + 1 + rng.below(16)).min(len);
                let piece = out[a..b].to_vec();
                let at = rng.below(out.len() + 1);
                out.splice(at..at, piece);
            }
            6 if len > 0 => out.truncate(rng.below(len)),
            7 if !others.is_empty() => {
                let other = rng.pick(others);
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = (a + 1 + rng.below(32)).min(other.len());
                    let at = rng.below(out.len() + 1);
                    out.splice(at..at, other[a..b].iter().copied());
                }
            }
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

/// How many cases a property runs: $WARD_FUZZ_CASES when set (a longer campaign), else
/// `default` (the bounded run in `cargo test` and CI).
pub fn cases(default: usize) -> usize {
    std::env::var("WARD_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The seed of a run: $WARD_FUZZ_SEED when set (to replay a failure), else a fixed one, so
/// `cargo test` is deterministic.
pub fn seed() -> u64 {
    std::env::var("WARD_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x77a2_d5ee_d001)
}

/// Lines of a corpus file: the interesting inputs kept (one per line; `\n`, `\r`, `\t` and
/// `\xNN` escapes are decoded; lines starting with `# ` are comments).
pub fn corpus_lines(text: &str) -> Vec<Vec<u8>> {
    text.lines()
        .filter(|l| !l.starts_with("# "))
        .map(unescape)
        .collect()
}

pub fn unescape(line: &str) -> Vec<u8> {
    let b = line.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 1 < b.len() {
            match b[i + 1] {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = b
                        .get(i + 2..i + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(v) => {
                            out.push(v);
                            i += 4;
                        }
                        None => {
                            out.push(b'\\');
                            i += 1;
                        }
                    }
                    continue;
                }
                other => {
                    out.push(b'\\');
                    out.push(other);
                }
            }
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// A case, printable in a failure message and as a corpus line.
pub fn escape(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}
