//! HPACK (RFC 7541), the header compression of HTTP/2: the decoding side only, for the client's
//! responses. Small rather than fast: the static table is one string searched line by line,
//! and Huffman strings are decoded bit by bit from the canonical code's shape (see `COUNTS`).
//! Every input is hostile: nothing here panics, and memory is bounded by the table limit
//! (the dynamic table) and by the block itself (decoded strings).

/// Appendix A: the 61 static entries, one a line, "name value" (values may hold spaces, names
/// never do). A line starting with a space repeats the previous line's name.
const STATIC: &str = ":authority
:method GET
 POST
:path /
 /index.html
:scheme http
 https
:status 200
 204
 206
 304
 400
 404
 500
accept-charset
accept-encoding gzip, deflate
accept-language
accept-ranges
accept
access-control-allow-origin
age
allow
authorization
cache-control
content-disposition
content-encoding
content-language
content-length
content-location
content-range
content-type
cookie
date
etag
expect
expires
from
host
if-match
if-modified-since
if-none-match
if-range
if-unmodified-since
last-modified
link
location
max-forwards
proxy-authenticate
proxy-authorization
range
referer
refresh
retry-after
server
set-cookie
strict-transport-security
transfer-encoding
user-agent
vary
via
www-authenticate";

/// Appendix B's code is canonical: ordered by (length, symbol), each code is the previous one
/// plus one, shifted left by the growth in length. So the number of codes of each length
/// (1 to 30 bits) and the symbols in that order define it whole.
const COUNTS: [u8; 30] = [
    0, 0, 0, 0, 10, 26, 32, 6, 0, 5, 3, 2, 6, 2, 3, 0, 0, 0, 3, 8, 13, 26, 29, 12, 4, 15, 19, 29,
    0, 4,
];

/// The 256 octets in canonical order, one line per code length (5 to 30 bits); the 257th
/// symbol, EOS (thirty 1 bits), is the last code and has no octet.
const SYMBOLS: &[u8; 256] = b"012aceiost\
    \x20%-./3456789=A_bdfghlmnpru\
    :BCDEFGHIJKLMNOPQRSTUVWYjkqvwxyz\
    &*,;XZ\
    !\"()?\
    '+|\
    #>\
    \x00$@[]~\
    ^}\
    <`{\
    \\\xc3\xd0\
    \x80\x82\x83\xa2\xb8\xc2\xe0\xe2\
    \x99\xa1\xa7\xac\xb0\xb1\xb3\xd1\xd8\xd9\xe3\xe5\xe6\
    \x81\x84\x85\x86\x88\x92\x9a\x9c\xa0\xa3\xa4\xa9\xaa\xad\xb2\xb5\xb9\xba\xbb\xbd\xbe\xc4\
    \xc6\xe4\xe8\xe9\
    \x01\x87\x89\x8a\x8b\x8c\x8d\x8f\x93\x95\x96\x97\x98\x9b\x9d\x9e\xa5\xa6\xa8\xae\xaf\xb4\
    \xb6\xb7\xbc\xbf\xc5\xe7\xef\
    \x09\x8e\x90\x91\x94\x9f\xab\xce\xd7\xe1\xec\xed\
    \xc7\xcf\xea\xeb\
    \xc0\xc1\xc8\xc9\xca\xcd\xd2\xd5\xda\xdb\xee\xf0\xf2\xf3\xff\
    \xcb\xcc\xd3\xd4\xd6\xdd\xde\xdf\xf1\xf4\xf5\xf6\xf7\xf8\xfa\xfb\xfc\xfd\xfe\
    \x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x17\x18\x19\x1a\x1b\
    \x1c\x1d\x1e\x1f\x7f\xdc\xf9\
    \x0a\x0d\x16";

const TRUNCATED: &str = "truncated block";
const BAD_INDEX: &str = "index out of range";
const EOS: &str = "huffman string with EOS";

/// An HPACK decoder for one connection: the static table, a dynamic table bounded by
/// `limit` octets (RFC 7541 §4: entry size = name + value + 32), size updates, Huffman.
pub struct Decoder {
    /// The dynamic table, newest entry first.
    table: Vec<(Vec<u8>, Vec<u8>)>,
    /// The sum of the entries' sizes, never above `max`.
    size: usize,
    /// The table's maximum size, as last set by a size update.
    max: usize,
    limit: usize,
}

impl Decoder {
    /// `limit`: the largest dynamic table size a size update may set (we use 4096, the
    /// protocol default, even though the client advertises 0, to be lenient with servers
    /// that index before they see our SETTINGS).
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            table: Vec::new(),
            size: 0,
            max: limit,
            limit,
        }
    }

    /// Decodes one complete header block (HEADERS + CONTINUATION fragments joined), calling
    /// `field(name, value)` for each header field in order. Fails when the decoded header
    /// list (sum of name + value + 32 per field) exceeds `max_list` octets, on any malformed
    /// input, on an index out of range, on a size update above `limit` or not at the start
    /// of the block, on an integer that overflows (more than a few continuation bytes /
    /// value > u32 range is plenty), on a string longer than the remaining input, on
    /// invalid Huffman (EOS symbol inside, padding longer than 7 bits or not all ones).
    /// The error is a short lower-case English phrase (it is shown after "HPACK: ").
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list: usize,
        field: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<(), &'static str> {
        let mut s = block;
        // Grows by at least 32 per field, so it is 0 until the first one.
        let mut list = 0usize;
        while let Some((&b, rest)) = s.split_first() {
            s = rest;
            if b & 0x80 != 0 {
                // §6.1: indexed header field.
                let (name, value) = self.entry(integer(&mut s, b & 0x7f, 0x7f)?)?;
                emit(&mut list, max_list, field, name, value)?;
            } else if b & 0xe0 == 0x20 {
                // §6.3: dynamic table size update.
                if list != 0 {
                    return Err("table size update after a header field");
                }
                let max = integer(&mut s, b & 0x1f, 0x1f)?;
                if max > self.limit {
                    return Err("table size update above the limit");
                }
                self.max = max;
                self.evict(0);
            } else {
                // §6.2: literal with incremental indexing (01), without indexing (0000) or
                // never indexed (0001); the name is an index or, for index 0, a string.
                let mask = if b & 0x40 != 0 { 0x3f } else { 0x0f };
                let name = match integer(&mut s, b & mask, mask)? {
                    0 => string(&mut s)?,
                    index => self.entry(index)?.0.to_vec(),
                };
                let value = string(&mut s)?;
                emit(&mut list, max_list, field, &name, &value)?;
                if mask == 0x3f {
                    self.insert(name, value);
                }
            }
        }
        Ok(())
    }

    /// The entry at a 1-based index: the static table, then the dynamic one (§2.3.3).
    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), &'static str> {
        let k = index.checked_sub(1).ok_or(BAD_INDEX)?;
        let mut name = "";
        for (i, line) in STATIC.split('\n').enumerate() {
            let (n, value) = line.split_once(' ').unwrap_or((line, ""));
            if !n.is_empty() {
                name = n;
            }
            if i == k {
                return Ok((name.as_bytes(), value.as_bytes()));
            }
        }
        let (name, value) = k
            .checked_sub(61)
            .and_then(|k| self.table.get(k))
            .ok_or(BAD_INDEX)?;
        Ok((name, value))
    }

    /// Adds an entry (§4.4): evicts the oldest ones until it fits, and when it is larger than
    /// the table itself, leaves the table empty.
    fn insert(&mut self, name: Vec<u8>, value: Vec<u8>) {
        let size = size(&name, &value);
        self.evict(size);
        if size <= self.max {
            self.table.insert(0, (name, value));
            self.size = self.size.saturating_add(size);
        }
    }

    /// Evicts the oldest entries until `room` more octets fit, or the table is empty (§4.3).
    fn evict(&mut self, room: usize) {
        while self.size.saturating_add(room) > self.max {
            let Some((name, value)) = self.table.pop() else {
                break;
            };
            self.size = self.size.saturating_sub(size(&name, &value));
        }
    }
}

/// An entry's size (§4.1), also what a header field counts towards the list limit.
fn size(name: &[u8], value: &[u8]) -> usize {
    name.len().saturating_add(value.len()).saturating_add(32)
}

/// Passes a field on, counting it towards the header list limit first.
fn emit(
    list: &mut usize,
    max_list: usize,
    field: &mut dyn FnMut(&[u8], &[u8]),
    name: &[u8],
    value: &[u8],
) -> Result<(), &'static str> {
    *list = list.saturating_add(size(name, value));
    if *list > max_list {
        return Err("header list too large");
    }
    field(name, value);
    Ok(())
}

fn byte(s: &mut &[u8]) -> Result<u8, &'static str> {
    let (&b, rest) = s.split_first().ok_or(TRUNCATED)?;
    *s = rest;
    Ok(b)
}

/// An integer (§5.1) whose prefix bits were `prefix`, all ones being `max`; at most five
/// continuation octets and a value within u32.
fn integer(s: &mut &[u8], prefix: u8, max: u8) -> Result<usize, &'static str> {
    if prefix < max {
        return Ok(usize::from(prefix));
    }
    let mut value = u64::from(prefix);
    for shift in (0..35).step_by(7) {
        let b = byte(s)?;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            break;
        }
        if b & 0x80 == 0 {
            return usize::try_from(value).map_err(|_| "integer overflow");
        }
    }
    Err("integer overflow")
}

/// A string literal (§5.2): a Huffman flag, a length and that many octets.
fn string(s: &mut &[u8]) -> Result<Vec<u8>, &'static str> {
    let b = byte(s)?;
    let len = integer(s, b & 0x7f, 0x7f)?;
    let (raw, rest) = s.split_at_checked(len).ok_or(TRUNCATED)?;
    *s = rest;
    if b & 0x80 != 0 {
        huffman(raw)
    } else {
        Ok(raw.to_vec())
    }
}

/// Decodes a Huffman string (§5.2, Appendix B) bit by bit: `code` holds the bits read for the
/// current symbol, `first` the first code of that length and `index` the number of symbols
/// with shorter codes.
fn huffman(raw: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    let (mut code, mut first, mut index, mut len) = (0usize, 0usize, 0usize, 0usize);
    for &octet in raw {
        for shift in (0..8).rev() {
            code = code << 1 | usize::from(octet >> shift & 1);
            first <<= 1;
            // The code is complete, so no run of bits goes past 30 without a symbol.
            let count = usize::from(*COUNTS.get(len).ok_or(EOS)?);
            len += 1;
            let offset = code.wrapping_sub(first);
            if offset < count {
                out.push(*SYMBOLS.get(index + offset).ok_or(EOS)?);
                (code, first, index, len) = (0, 0, 0, 0);
            } else {
                index += count;
                first += count;
            }
        }
    }
    // What is left must be a prefix of EOS (all ones) shorter than an octet (§5.2).
    if len > 7 || code != (1 << len) - 1 {
        return Err("invalid huffman padding");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(text: &str) -> Vec<u8> {
        let digits: Vec<u8> = text.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn line(name: &[u8], value: &[u8]) -> String {
        format!(
            "{}: {}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value)
        )
    }

    /// Decodes a block into "name: value" lines.
    fn run(d: &mut Decoder, block: &[u8]) -> Result<Vec<String>, &'static str> {
        let mut fields = Vec::new();
        d.decode(block, usize::MAX, &mut |n, v| fields.push(line(n, v)))?;
        Ok(fields)
    }

    fn table(d: &Decoder) -> Vec<String> {
        d.table.iter().map(|(n, v)| line(n, v)).collect()
    }

    /// An HPACK integer with the given first-octet flags and prefix mask.
    fn int(flags: u8, mask: u8, value: u64) -> Vec<u8> {
        if value < u64::from(mask) {
            return vec![flags | value as u8];
        }
        let mut out = vec![flags | mask];
        let mut rest = value - u64::from(mask);
        while rest >= 128 {
            out.push(rest as u8 | 0x80);
            rest >>= 7;
        }
        out.push(rest as u8);
        out
    }

    /// Each code as (length, bits), by symbol (256 = EOS), rebuilt from the canonical shape.
    fn codes() -> Vec<(usize, u32)> {
        let mut codes = vec![(0, 0); 257];
        let (mut code, mut k) = (0u32, 0);
        for (i, &count) in COUNTS.iter().enumerate() {
            for _ in 0..count {
                let symbol = SYMBOLS.get(k).map_or(256, |&s| usize::from(s));
                codes[symbol] = (i + 1, code);
                code += 1;
                k += 1;
            }
            code <<= 1;
        }
        codes
    }

    fn encode(text: &[u8]) -> Vec<u8> {
        let codes = codes();
        let (mut out, mut acc, mut bits) = (Vec::new(), 0u64, 0);
        for &b in text {
            let (len, code) = codes[usize::from(b)];
            acc = acc << len | u64::from(code);
            bits += len;
            while bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
            }
        }
        if bits > 0 {
            out.push((acc << (8 - bits) | 0xff >> bits) as u8);
        }
        out
    }

    #[test]
    fn static_table() {
        assert_eq!(STATIC.split('\n').count(), 61);
        let d = Decoder::new(0);
        let get = |i| d.entry(i).map(|(n, v)| line(n, v));
        assert_eq!(get(1).unwrap(), ":authority: ");
        assert_eq!(get(3).unwrap(), ":method: POST");
        assert_eq!(get(14).unwrap(), ":status: 500");
        assert_eq!(get(16).unwrap(), "accept-encoding: gzip, deflate");
        assert_eq!(get(61).unwrap(), "www-authenticate: ");
        assert_eq!(get(0), Err(BAD_INDEX));
        assert_eq!(get(62), Err(BAD_INDEX));
    }

    /// The shape gives all 257 symbols, a complete code (Kraft sum exactly 1), and codes that
    /// match Appendix B on a sample from every part of the table.
    #[test]
    fn huffman_code_shape() {
        assert_eq!(COUNTS.iter().map(|&c| usize::from(c)).sum::<usize>(), 257);
        let kraft: u64 = (1..=30).map(|l| u64::from(COUNTS[l - 1]) << (30 - l)).sum();
        assert_eq!(kraft, 1 << 30);
        let mut seen = [false; 256];
        for &s in SYMBOLS {
            assert!(!seen[usize::from(s)], "symbol {s} twice");
            seen[usize::from(s)] = true;
        }
        let codes = codes();
        for (symbol, len, code) in [
            (0usize, 13, 0x1ff8),
            (1, 23, 0x7fffd8),
            (10, 30, 0x3ffffffc),
            (13, 30, 0x3ffffffd),
            (22, 30, 0x3ffffffe),
            (32, 6, 0x14),
            (48, 5, 0x0),
            (58, 7, 0x5c),
            (97, 5, 0x3),
            (122, 7, 0x7b),
            (127, 28, 0xffffffc),
            (128, 20, 0xfffe6),
            (195, 19, 0x7fff1),
            (200, 26, 0x3ffffe2),
            (254, 27, 0x7fffff0),
            (255, 26, 0x3ffffee),
            (256, 30, 0x3fffffff),
        ] {
            assert_eq!(codes[symbol], (len, code), "symbol {symbol}");
        }
    }

    #[test]
    fn huffman_round_trip() {
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(huffman(&encode(&all)).unwrap(), all);
        let mut rng = Rng(7);
        for _ in 0..2000 {
            let text: Vec<u8> = (0..rng.below(40)).map(|_| rng.next() as u8).collect();
            assert_eq!(huffman(&encode(&text)).unwrap(), text);
        }
        assert_eq!(huffman(b"").unwrap(), b"");
    }

    #[test]
    fn integers() {
        // C.1: 10 and 1337 with a 5-bit prefix, 42 on a whole octet.
        assert_eq!(integer(&mut &[][..], 10, 31), Ok(10));
        assert_eq!(integer(&mut &[0x9a, 0x0a][..], 31, 31), Ok(1337));
        assert_eq!(integer(&mut &[][..], 42, 255), Ok(42));
        for value in [0, 30, 31, 127, 128, 4096, u64::from(u32::MAX)] {
            let bytes = int(0, 0x1f, value);
            let mut s = &bytes[1..];
            assert_eq!(integer(&mut s, bytes[0], 0x1f), Ok(value as usize));
            assert!(s.is_empty());
        }
        let too_big = int(0, 0x1f, 1 << 32);
        assert!(integer(&mut &too_big[1..], 31, 31).is_err());
        // Zero-valued continuation octets do not go on for ever.
        assert!(integer(&mut &[0x80, 0x80, 0x80, 0x80, 0x80, 0][..], 31, 31).is_err());
        assert_eq!(
            integer(&mut &[0x80, 0x80, 0x80, 0x80, 0][..], 31, 31),
            Ok(31)
        );
        assert_eq!(integer(&mut &[0x80][..], 31, 31), Err(TRUNCATED));
    }

    /// C.2: one representation of each kind, on fresh decoders.
    #[test]
    fn rfc_c2_representations() {
        let mut d = Decoder::new(4096);
        let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
        assert_eq!(run(&mut d, &block).unwrap(), ["custom-key: custom-header"]);
        assert_eq!(table(&d), ["custom-key: custom-header"]);
        assert_eq!(d.size, 55);

        for (block, field) in [
            ("040c 2f73 616d 706c 652f 7061 7468", ":path: /sample/path"),
            (
                "1008 7061 7373 776f 7264 0673 6563 7265 74",
                "password: secret",
            ),
            ("82", ":method: GET"),
        ] {
            let mut d = Decoder::new(4096);
            assert_eq!(run(&mut d, &hex(block)).unwrap(), [field]);
            assert!(d.table.is_empty());
            assert_eq!(d.size, 0);
        }
    }

    /// Runs blocks in order on one decoder, checking the fields, the table and its size.
    fn sequence(limit: usize, steps: &[(&str, &[&str], &[&str], usize)]) {
        let mut d = Decoder::new(limit);
        for &(block, fields, entries, size) in steps {
            assert_eq!(run(&mut d, &hex(block)).unwrap(), fields);
            assert_eq!(table(&d), entries);
            assert_eq!(d.size, size);
        }
    }

    const REQUEST_1: &[&str] = &[
        ":method: GET",
        ":scheme: http",
        ":path: /",
        ":authority: www.example.com",
    ];
    const REQUEST_2: &[&str] = &[
        ":method: GET",
        ":scheme: http",
        ":path: /",
        ":authority: www.example.com",
        "cache-control: no-cache",
    ];
    const REQUEST_3: &[&str] = &[
        ":method: GET",
        ":scheme: https",
        ":path: /index.html",
        ":authority: www.example.com",
        "custom-key: custom-value",
    ];
    const REQUEST_TABLE_1: &[&str] = &[":authority: www.example.com"];
    const REQUEST_TABLE_2: &[&str] = &["cache-control: no-cache", ":authority: www.example.com"];
    const REQUEST_TABLE_3: &[&str] = &[
        "custom-key: custom-value",
        "cache-control: no-cache",
        ":authority: www.example.com",
    ];

    #[test]
    fn rfc_c3_requests() {
        sequence(
            4096,
            &[
                (
                    "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
                    REQUEST_1,
                    REQUEST_TABLE_1,
                    57,
                ),
                (
                    "8286 84be 5808 6e6f 2d63 6163 6865",
                    REQUEST_2,
                    REQUEST_TABLE_2,
                    110,
                ),
                (
                    "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
                    REQUEST_3,
                    REQUEST_TABLE_3,
                    164,
                ),
            ],
        );
    }

    #[test]
    fn rfc_c4_requests_huffman() {
        sequence(
            4096,
            &[
                (
                    "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
                    REQUEST_1,
                    REQUEST_TABLE_1,
                    57,
                ),
                (
                    "8286 84be 5886 a8eb 1064 9cbf",
                    REQUEST_2,
                    REQUEST_TABLE_2,
                    110,
                ),
                (
                    "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
                    REQUEST_3,
                    REQUEST_TABLE_3,
                    164,
                ),
            ],
        );
    }

    const RESPONSE_1: &[&str] = &[
        ":status: 302",
        "cache-control: private",
        "date: Mon, 21 Oct 2013 20:13:21 GMT",
        "location: https://www.example.com",
    ];
    const RESPONSE_2: &[&str] = &[
        ":status: 307",
        "cache-control: private",
        "date: Mon, 21 Oct 2013 20:13:21 GMT",
        "location: https://www.example.com",
    ];
    const RESPONSE_3: &[&str] = &[
        ":status: 200",
        "cache-control: private",
        "date: Mon, 21 Oct 2013 20:13:22 GMT",
        "location: https://www.example.com",
        "content-encoding: gzip",
        "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    ];
    const RESPONSE_TABLE_1: &[&str] = &[
        "location: https://www.example.com",
        "date: Mon, 21 Oct 2013 20:13:21 GMT",
        "cache-control: private",
        ":status: 302",
    ];
    const RESPONSE_TABLE_2: &[&str] = &[
        ":status: 307",
        "location: https://www.example.com",
        "date: Mon, 21 Oct 2013 20:13:21 GMT",
        "cache-control: private",
    ];
    const RESPONSE_TABLE_3: &[&str] = &[
        "set-cookie: foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
        "content-encoding: gzip",
        "date: Mon, 21 Oct 2013 20:13:22 GMT",
    ];

    #[test]
    fn rfc_c5_responses() {
        sequence(
            256,
            &[
                (
                    "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 \
                     3230 3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 \
                     7777 2e65 7861 6d70 6c65 2e63 6f6d",
                    RESPONSE_1,
                    RESPONSE_TABLE_1,
                    222,
                ),
                ("4803 3330 37c1 c0bf", RESPONSE_2, RESPONSE_TABLE_2, 222),
                (
                    "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 \
                     3220 474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a \
                     584f 5157 454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 \
                     3630 303b 2076 6572 7369 6f6e 3d31",
                    RESPONSE_3,
                    RESPONSE_TABLE_3,
                    215,
                ),
            ],
        );
    }

    #[test]
    fn rfc_c6_responses_huffman() {
        sequence(
            256,
            &[
                (
                    "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 \
                     66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
                    RESPONSE_1,
                    RESPONSE_TABLE_1,
                    222,
                ),
                ("4883 640e ffc1 c0bf", RESPONSE_2, RESPONSE_TABLE_2, 222),
                (
                    "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a \
                     839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 \
                     72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
                    RESPONSE_3,
                    RESPONSE_TABLE_3,
                    215,
                ),
            ],
        );
    }

    #[test]
    fn size_updates() {
        let mut d = Decoder::new(4096);
        let c31 = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        run(&mut d, &c31).unwrap();
        assert_eq!(d.size, 57);
        // Two updates at the start (§4.2): down to 0 empties the table, then back up.
        let mut block = int(0x20, 0x1f, 0);
        block.extend(int(0x20, 0x1f, 4096));
        block.push(0x82);
        assert_eq!(run(&mut d, &block).unwrap(), [":method: GET"]);
        assert!(d.table.is_empty());
        assert_eq!((d.size, d.max), (0, 4096));
        // Shrinking evicts the oldest entries only.
        run(&mut d, &c31).unwrap();
        run(&mut d, &hex("5808 6e6f 2d63 6163 6865")).unwrap();
        assert_eq!(d.size, 110);
        run(&mut d, &int(0x20, 0x1f, 60)).unwrap();
        assert_eq!(table(&d), ["cache-control: no-cache"]);
        assert_eq!(d.size, 53);
        // An entry larger than the whole table empties it and is not added.
        let mut big = hex("4001 611c");
        big.extend([b'x'; 28]); // a: xxx…, 1 + 28 + 32 = 61 octets
        assert_eq!(run(&mut d, &big).unwrap().len(), 1);
        assert!(d.table.is_empty());
        assert_eq!(d.size, 0);
        // The limit itself is allowed, one more is not, nor 2^31.
        let mut d = Decoder::new(4096);
        assert!(run(&mut d, &int(0x20, 0x1f, 4096)).is_ok());
        for value in [4097, 1 << 31] {
            assert_eq!(
                run(&mut d, &int(0x20, 0x1f, value)),
                Err("table size update above the limit")
            );
        }
        // Not after a field.
        assert_eq!(
            run(&mut d, &hex("8220")),
            Err("table size update after a header field")
        );
    }

    #[test]
    fn a_name_indexed_from_an_entry_about_to_be_evicted() {
        // 60 octets hold one 34-octet entry: adding another that takes its name (index 62)
        // evicts it, and its name must still be used.
        let mut d = Decoder::new(60);
        run(&mut d, &hex("4001 6101 62")).unwrap(); // a: b, 34 octets
        assert_eq!(run(&mut d, &hex("7e01 63")).unwrap(), ["a: c"]);
        assert_eq!(table(&d), ["a: c"]);
        assert_eq!(d.size, 34);
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            ("80", BAD_INDEX),
            ("be", BAD_INDEX),
            ("40 00", TRUNCATED),
            ("7f 00 00", BAD_INDEX),
            ("ff ffff ffff ffff ffff ff", "integer overflow"),
            ("ff 80 80 80 80 80 80 80 00", "integer overflow"),
            ("ff", TRUNCATED),
            ("400a 6375", TRUNCATED),
            ("0001 6102 62", TRUNCATED),
            ("0001 61ff ffff ffff 0f", "integer overflow"),
            // EOS (thirty 1 bits) inside a string, then padding.
            ("0001 6184 ffff ffff", EOS),
            // 'a' (00011) and an octet of padding; 'a' and zero padding.
            ("0001 6182 1fff", "invalid huffman padding"),
            ("0001 6181 18", "invalid huffman padding"),
        ];
        for &(block, error) in cases {
            let mut d = Decoder::new(4096);
            assert_eq!(run(&mut d, &hex(block)), Err(error), "{block}");
        }
        let mut d = Decoder::new(4096);
        assert_eq!(run(&mut d, &hex("0001 6181 1f")).unwrap(), ["a: a"]);
        assert_eq!(run(&mut d, &hex("bd")).unwrap(), ["www-authenticate: "]);
        assert_eq!(run(&mut d, &[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn header_list_limit() {
        // C.3.1: 42 + 43 + 38 + 57 = 180 octets.
        let block = hex("8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d");
        let mut n = 0;
        let mut d = Decoder::new(4096);
        assert!(d.decode(&block, 180, &mut |_, _| n += 1).is_ok());
        assert_eq!(n, 4);
        let mut d = Decoder::new(4096);
        n = 0;
        assert_eq!(
            d.decode(&block, 179, &mut |_, _| n += 1),
            Err("header list too large")
        );
        assert_eq!(n, 3);
    }

    /// xorshift64: deterministic, no crates.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Random octets, and the RFC's blocks truncated and mutated, through long-lived
    /// decoders: never a panic, and the table stays within its bounds.
    #[test]
    fn hostile_input_never_panics() {
        let seeds: Vec<Vec<u8>> = [
            "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32",
            "3fe1 1f 4001 6101 62 7e01 63 1001 6181 1f",
        ]
        .iter()
        .map(|h| hex(h))
        .collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut decoders = [Decoder::new(0), Decoder::new(256), Decoder::new(4096)];
        for round in 0..200_000 {
            let mut block = if round % 2 == 0 {
                (0..rng.below(64)).map(|_| rng.next() as u8).collect()
            } else {
                seeds[rng.below(seeds.len())].clone()
            };
            for _ in 0..rng.below(4) {
                if let Some(len) = block.len().checked_sub(1) {
                    let at = rng.below(len + 1);
                    block[at] = match rng.below(3) {
                        0 => rng.next() as u8,
                        1 => block[at] ^ 1 << rng.below(8),
                        _ => 0xff,
                    };
                }
            }
            block.truncate(rng.below(block.len() + 1));
            let d = &mut decoders[round % 3];
            let max_list = [0, 100, usize::MAX][rng.below(3)];
            let mut list = 0;
            let _ = d.decode(&block, max_list, &mut |n, v| list += n.len() + v.len() + 32);
            assert!(list <= max_list);
            assert!(d.size <= d.max && d.max <= d.limit);
            let sum: usize = d.table.iter().map(|(n, v)| size(n, v)).sum();
            assert_eq!(sum, d.size);
        }
    }
}
