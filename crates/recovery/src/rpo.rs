//! The plan's `rpo_query` value read as a time: the newest restored row
//! (e.g. `SELECT max(created_at) FROM orders`) as PostgreSQL and MariaDB
//! print it, so the measured RPO can be the age of the data itself rather
//! than of the snapshot holding it.
//!
//! Accepted: RFC 3339 (`2026-12-05T20:00:00Z`), and the clients' text
//! `YYYY-MM-DD HH:MM:SS[.fff][±HH[:MM]]` (`timestamptz` prints `+00`,
//! `+05:30`; `timestamp` and MariaDB's `DATETIME` print no zone, read as
//! UTC), or a bare date (midnight UTC).

use keepup_model::{Timestamp, parse_rfc3339};

/// `text` as a timestamp (ms), or why it is not one.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("null") {
        return Err("the query returned no value (no rows restored?)".into());
    }
    let (date, rest) = match text.split_once(['T', 't', ' ']) {
        Some((d, r)) => (d, r.trim_start()),
        None => (text, "00:00:00"),
    };
    let date_ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !date_ok {
        return Err("expected YYYY-MM-DD HH:MM:SS[.fff][+zone] or RFC 3339".into());
    }
    // The zone starts at the first 'Z', '+' or '-' after the clock.
    let zone_at = rest.find(['Z', 'z', '+', '-']).unwrap_or(rest.len());
    let (clock, zone) = rest.split_at(zone_at);
    let clock = clock.trim_end();
    let zone = match zone {
        "" => "Z".to_owned(),
        z if z.eq_ignore_ascii_case("z") => "Z".to_owned(),
        z => {
            let (sign, digits) = z.split_at(1);
            let digits: String = digits.chars().filter(|c| *c != ':').collect();
            match digits.len() {
                2 if digits.bytes().all(|b| b.is_ascii_digit()) => format!("{sign}{digits}:00"),
                4 if digits.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{sign}{}:{}", &digits[..2], &digits[2..])
                }
                _ => return Err(format!("{z:?} is not a time zone offset")),
            }
        }
    };
    parse_rfc3339(&format!("{date}T{clock}{zone}"))
        .ok_or_else(|| "expected YYYY-MM-DD HH:MM:SS[.fff][+zone] or RFC 3339".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_databases_texts_and_rfc3339_are_read() {
        let at = 1_796_500_800_000; // 2026-12-05T20:00:00Z
        for text in [
            "2026-12-05T20:00:00Z",
            "2026-12-05 20:00:00",
            "2026-12-05 20:00:00+00",
            "2026-12-05 21:00:00+01",
            "2026-12-05 21:30:00+01:30",
            "2026-12-05 15:00:00-0500",
            "2026-12-05T21:00:00+01:00",
        ] {
            assert_eq!(parse_time(text), Ok(at), "{text}");
        }
        assert_eq!(parse_time("2026-12-05 20:00:00.250"), Ok(at + 250));
        assert_eq!(parse_time("2026-12-05 20:00:00.123456+00"), Ok(at + 123));
        assert_eq!(parse_time("2026-12-05"), Ok(at - 20 * 3_600_000));
    }

    #[test]
    fn other_values_say_why() {
        for text in [
            "",
            "NULL",
            "42",
            "yesterday",
            "2026-13-05 20:00:00",
            "2026-12-05 20:00:00+1",
        ] {
            let e = parse_time(text).expect_err(text);
            assert!(!e.is_empty(), "{text}");
        }
        assert!(parse_time("").unwrap_err().contains("no value"));
    }
}
