//! The text toolbox: how keepup writes durations for people, and the small
//! encodings every protocol needs (base64, hex, percent-decoding, HTML
//! escaping). One home each, so that a message reads the same whichever
//! crate wrote it.
//!
//! Durations have a few styles on purpose, each named for where it is used:
//! [`duration_words`] in sentences about thresholds and timeouts ("2 s"),
//! [`duration_compact`] in notifications ("1h 2m 3s"), [`duration_table`]
//! and [`ago`] in the CLI's tables ("1m05s", "3m ago"). Durations the user
//! wrote in the configuration are echoed with `humantime` instead, as they
//! were written.

use std::fmt;
use std::time::Duration;

use crate::Timestamp;

/// `"500 ms"`, `"2 s"`, `"1.5 s"`, `"2 min"`: for thresholds and timeouts in
/// sentences.
pub fn duration_words(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis.is_multiple_of(60_000) {
        format!("{} min", millis / 60_000)
    } else if millis.is_multiple_of(1000) {
        format!("{} s", millis / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// `"1d 1h"`, `"1h 2m 3s"`, `"45s"`, `"0s"`, and `"300 ms"` below a
/// second: for notifications. Whole seconds otherwise, zero parts left out.
pub fn duration_compact(d: Duration) -> String {
    if d < Duration::from_secs(1) && !d.is_zero() {
        return format!("{} ms", d.as_millis());
    }
    let secs = d.as_secs();
    let (days, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let mut parts = Vec::new();
    for (n, unit) in [(days, "d"), (h, "h"), (m, "m")] {
        if n > 0 {
            parts.push(format!("{n}{unit}"));
        }
    }
    if s > 0 || parts.is_empty() {
        parts.push(format!("{s}s"));
    }
    parts.join(" ")
}

/// `"45s"`, `"1m05s"`, `"1h05m"`: a table column of milliseconds, two
/// units at most so the column stays narrow. Negative counts as zero.
pub fn duration_table(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// `"42s ago"`, `"3m ago"`, `"2h ago"`, `"5d ago"`: how long before `now`
/// something happened, one unit, for tables.
pub fn ago(now: Timestamp, at: Timestamp) -> String {
    let s = ((now - at) / 1000).max(0);
    match s {
        0..=119 => format!("{s}s ago"),
        120..=7199 => format!("{}m ago", s / 60),
        7200..=172_799 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

/// Standard base64 with padding (RFC 4648 section 4): basic-auth headers,
/// SASL.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The bytes of standard base64 (RFC 4648 section 4, padding optional,
/// whitespace ignored: TSIG secrets as key files write them); `None` if it
/// holds anything else.
pub fn unbase64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut padding = false;
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace()) {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding = true;
                continue;
            }
            _ => return None,
        };
        if padding {
            return None;
        }
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Six leftover bits cannot end a base64 text.
    (bits < 6).then_some(out)
}

/// Lower-case hex, two digits per byte.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The bytes of a hex string (either case); `None` if its length is odd or
/// it holds anything but hex digits.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits = s.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
        .collect()
}

fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).map(|d| d as u8)
}

/// Why a percent-encoded text could not be decoded. Never holds the text:
/// it is often part of a URL with a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PercentDecodeError {
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl fmt::Display for PercentDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PercentDecodeError::BadEscape => "bad %-escape",
            PercentDecodeError::NotUtf8 => "not UTF-8 once %-escapes are decoded",
        })
    }
}

impl std::error::Error for PercentDecodeError {}

/// Escapes every byte of `s` but the URL-unreserved ones (`A-Z a-z 0-9 -
/// . _ ~`) as `%XX`, so that it can stand as one query value.
pub fn percent_encode(s: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(DIGITS[usize::from(b >> 4)]));
            out.push(char::from(DIGITS[usize::from(b & 15)]));
        }
    }
    out
}

/// Decodes the `%XX` escapes of a URL part (user names, passwords, paths).
pub fn percent_decode(s: &str) -> Result<String, PercentDecodeError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .and_then(|pair| Some(hex_digit(pair[0])? << 4 | hex_digit(pair[1])?))
                .ok_or(PercentDecodeError::BadEscape)?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| PercentDecodeError::NotUtf8)
}

/// The value of cookie `name` in the value of a `Cookie` request header
/// (`a=1; b="2"`), without the quotes a value may have.
pub fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// Escapes `&`, `<`, `>` and `"` for HTML text and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// The piece of `text` that looks like a Rust debug structure rather than
/// words (`Some(`, `Os { code: 2, .. }`, `Custom { kind: .. }`,
/// `Other(OtherError(..))`, `[6, 8, 42, 134, ..]`), if any: what a message
/// shows when an error was formatted with `{:?}` instead of being
/// explained. Shapes that prose and quoted values use (`"quoted"`, a list
/// of status codes, JSON) are not matched.
pub fn debug_structure(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let ident_start = |end: usize| {
        let mut start = end;
        while start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            start -= 1;
        }
        start
    };
    for (at, &b) in bytes.iter().enumerate() {
        // Only ASCII bytes start a pattern, and they are char boundaries.
        if !b.is_ascii() {
            continue;
        }
        let rest = &text[at..];
        match b {
            // `Name { field: ` — a struct's debug form.
            b' ' if rest.starts_with(" { ") => {
                let start = ident_start(at);
                let field: String = rest[3..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if start < at
                    && bytes[start].is_ascii_uppercase()
                    && !field.is_empty()
                    && rest[3 + field.len()..].starts_with(": ")
                {
                    return Some(&text[start..(at + 5 + field.len()).min(text.len())]);
                }
            }
            // `Variant(Inner`, `Some("`, `Kind(NotFound` — a tuple variant
            // holding another debug value.
            b'(' => {
                let start = ident_start(at);
                let next = bytes.get(at + 1).copied().unwrap_or(b' ');
                if start < at
                    && bytes[start].is_ascii_uppercase()
                    && bytes[start..at].iter().any(u8::is_ascii_lowercase)
                    && (next.is_ascii_uppercase() || next == b'"' || next == b'[')
                {
                    return Some(&text[start..at + 2]);
                }
                if text[start..at].eq("Some") {
                    return Some(&text[start..at + 1]);
                }
            }
            // `[6, 8, 42, 134` — bytes; HTTP status lists are 100 or more.
            b'[' => {
                let numbers: Vec<&str> = rest[1..]
                    .split(", ")
                    .take(4)
                    .map(|n| n.trim_end_matches(']'))
                    .collect();
                if numbers.len() == 4
                    && numbers.iter().all(|n| {
                        !n.is_empty() && n.len() <= 3 && n.bytes().all(|c| c.is_ascii_digit())
                    })
                    && numbers.iter().any(|n| n.len() < 3)
                {
                    let end = at + 1 + numbers.iter().map(|n| n.len() + 2).sum::<usize>() - 2;
                    return Some(&text[at..end.min(text.len())]);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cookie_is_found_among_others_without_its_quotes() {
        assert_eq!(
            cookie_value("a=1; shop_session=abc", "shop_session"),
            Some("abc")
        );
        assert_eq!(cookie_value("s=\"x y\";b=2", "s"), Some("x y"));
        assert_eq!(cookie_value("a=1; ab=2", "b"), None);
        assert_eq!(cookie_value("", "a"), None);
    }

    #[test]
    fn debug_structures_are_found_and_prose_is_not() {
        let debug = [
            (
                "the chain is not trusted: UnsupportedSignatureAlgorithmForPublicKeyContext { signature_algorithm_id: [6, 8, 42, 134, 72] }",
                "UnsupportedSignatureAlgorithmForPublicKeyContext { signature_algorithm_id: ",
            ),
            ("cannot read: Os { code: 2, kind: NotFound }", "Os { code: "),
            (
                "not trusted: Other(OtherError(CaUsedAsEndEntity))",
                "Other(O",
            ),
            ("failed: Kind(NotFound)", "Kind(N"),
            ("the value was Some(3)", "Some("),
            ("bytes [6, 8, 42, 134, 72]", "[6, 8, 42, 134"),
            (
                "io: Custom { kind: Other, error: \"x\" }",
                "Custom { kind: ",
            ),
        ];
        for (text, found) in debug {
            assert_eq!(debug_structure(text), Some(found), "{text}");
        }
        let prose = [
            "the certificate for shop.test is self-signed and not issued by a trusted CA (add its CA with `ca_file`, or set `verify = false`)",
            "HTTP 503 Service Unavailable (expected one of [200, 201, 204, 301])",
            "the body does not contain \"{\\\"status\\\": \\\"ok\\\"}\"",
            "{ \"error\": \"down\" } was the answer",
            "TLS 1.3 (TLS13_AES_256_GCM_SHA384)",
            "ns1.shop.test (192.0.2.1) did not answer",
            "Expires \"2026-13-01\" is not an RFC 3339 date-time",
            "la page « Été » (café) n’a pas changé …",
        ];
        for text in prose {
            assert_eq!(debug_structure(text), None, "{text}");
        }
    }

    #[test]
    fn durations_in_words_name_the_unit() {
        assert_eq!(duration_words(Duration::from_millis(250)), "250 ms");
        assert_eq!(duration_words(Duration::from_secs(2)), "2 s");
        assert_eq!(duration_words(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(duration_words(Duration::from_secs(120)), "2 min");
        assert_eq!(duration_words(Duration::from_secs(90)), "90 s");
    }

    #[test]
    fn compact_durations_read_like_a_human_wrote_them() {
        let secs = Duration::from_secs;
        assert_eq!(duration_compact(secs(0)), "0s");
        assert_eq!(duration_compact(secs(45)), "45s");
        assert_eq!(duration_compact(secs(3723)), "1h 2m 3s");
        assert_eq!(duration_compact(secs(90_000)), "1d 1h");
        assert_eq!(duration_compact(Duration::from_millis(300)), "300 ms");
        assert_eq!(duration_compact(Duration::from_millis(90_500)), "1m 30s");
    }

    #[test]
    fn table_durations_and_ages_stay_narrow() {
        assert_eq!(duration_table(-5), "0s");
        assert_eq!(duration_table(45_000), "45s");
        assert_eq!(duration_table(65_000), "1m05s");
        assert_eq!(duration_table(3_900_000), "1h05m");
        assert_eq!(ago(200_000, 158_000), "42s ago");
        assert_eq!(ago(0, 1_000), "0s ago");
        assert_eq!(ago(180_000, 0), "3m ago");
        assert_eq!(ago(7_200_000, 0), "2h ago");
        assert_eq!(ago(5 * 86_400_000, 0), "5d ago");
    }

    #[test]
    fn unbase64_reverses_base64_and_rejects_other_text() {
        for text in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(
                unbase64(&base64(text.as_bytes())).as_deref(),
                Some(text.as_bytes())
            );
        }
        assert_eq!(unbase64("Zm9v\nYg").as_deref(), Some(&b"foob"[..]));
        assert_eq!(unbase64("Zm9v!"), None);
        assert_eq!(unbase64("Zg==Zg=="), None);
        assert_eq!(unbase64("Z"), None);
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(base64(plain.as_bytes()), encoded, "{plain}");
        }
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn hex_round_trips_and_rejects_what_is_not_hex() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(unhex("000fA5ff"), Some(vec![0x00, 0x0f, 0xa5, 0xff]));
        assert_eq!(unhex(""), Some(vec![]));
        assert_eq!(unhex("abc"), None);
        assert_eq!(unhex("zz"), None);
        assert_eq!(unhex("+1"), None);
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("p%40ss%3Aw%2fd").as_deref(), Ok("p@ss:w/d"));
        assert_eq!(percent_decode("caf%C3%A9").as_deref(), Ok("café"));
        assert_eq!(percent_decode("plain"), Ok("plain".to_owned()));
        assert_eq!(percent_decode("50%"), Err(PercentDecodeError::BadEscape));
        assert_eq!(percent_decode("%zz"), Err(PercentDecodeError::BadEscape));
        assert_eq!(percent_decode("%ff"), Err(PercentDecodeError::NotUtf8));
    }

    #[test]
    fn percent_encoding_round_trips_through_decoding() {
        let odd = "/checks?q=a b&x=é/../%";
        let encoded = percent_encode(odd);
        assert_eq!(encoded, "%2Fchecks%3Fq%3Da%20b%26x%3D%C3%A9%2F..%2F%25");
        assert_eq!(percent_decode(&encoded).unwrap(), odd);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape(r#"<a href="x">Tom & Jerry</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&lt;/a&gt;"
        );
    }
}
