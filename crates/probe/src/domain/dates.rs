//! Dates as registries write them, to Unix seconds (UTC).
//!
//! RDAP uses RFC 3339; WHOIS servers use whatever their software always
//! used: `2025-01-21`, `2025-01-21T04:00:00Z`, `2025-01-21 00:00:00`,
//! `2025/01/31` (.jp), `20250121`, `21.01.2025`, `21-Jan-2025`,
//! `Tue Dec 12 2000` (.be). A date without a time is midnight UTC; a time
//! without a zone is taken as UTC (the error is at most a day, far below
//! any threshold).

use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// `secs` as `YYYY-MM-DD` (UTC).
pub(crate) fn day(secs: i64) -> String {
    match OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
        Err(_) => secs.to_string(),
    }
}

/// Parses a registry's date, or `None` when it is not one of the known
/// layouts (or not a real calendar date).
pub(crate) fn parse(text: &str) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() || text.len() > 64 {
        return None;
    }
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t.unix_timestamp());
    }
    let mut words = text.split_whitespace();
    let first = words.next()?;
    // `2025-01-21T04:00:00` without a zone, or with a zone RFC 3339 does
    // not accept (`+0000`, `.0Z`): date and time, zone ignored.
    if let Some((d, t)) = first.split_once('T')
        && let Some(date) = numeric_date(d)
    {
        return Some(at(date, clock(t).unwrap_or(Time::MIDNIGHT)));
    }
    if let Some(date) = numeric_date(first) {
        let time = words.next().and_then(clock).unwrap_or(Time::MIDNIGHT);
        return Some(at(date, time));
    }
    named_month_date(text).map(|date| at(date, Time::MIDNIGHT))
}

fn at(date: Date, time: Time) -> i64 {
    PrimitiveDateTime::new(date, time)
        .assume_utc()
        .unix_timestamp()
}

/// `YYYY-MM-DD`, `YYYY/MM/DD`, `YYYY.MM.DD`, `YYYYMMDD`, `DD.MM.YYYY`,
/// `DD-MM-YYYY`.
fn numeric_date(s: &str) -> Option<Date> {
    if s.len() == 8 && s.bytes().all(|b| b.is_ascii_digit()) {
        return ymd(&s[..4], &s[4..6], &s[6..]);
    }
    let sep = s.chars().find(|c| matches!(c, '-' | '/' | '.'))?;
    let parts: Vec<&str> = s.split(sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if a.len() == 4 {
        ymd(a, b, c)
    } else if c.len() == 4 && sep != '/' {
        // Day first; `/` is left out because of the US month-first order.
        ymd(c, b, a)
    } else {
        None
    }
}

fn ymd(y: &str, m: &str, d: &str) -> Option<Date> {
    let all_digits =
        |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !(all_digits(y) && all_digits(m) && all_digits(d)) {
        return None;
    }
    let month = Month::try_from(m.parse::<u8>().ok()?).ok()?;
    Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// `HH:MM[:SS[.fff]]`, anything after the seconds ignored.
fn clock(s: &str) -> Option<Time> {
    let mut parts = s.split(':');
    let h: u8 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.get(..2)?.parse().ok()?;
    let sec: u8 = match parts.next() {
        Some(rest) => rest.get(..2)?.parse().ok()?,
        None => 0,
    };
    Time::from_hms(h, m, sec).ok()
}

/// `21-Jan-2025`, `21 Jan 2025`, `Tue Dec 12 2000`, `Dec 12 2000`,
/// `January 21, 2025`.
fn named_month_date(text: &str) -> Option<Date> {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == '-' || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    let (mi, month) = words
        .iter()
        .enumerate()
        .find_map(|(i, w)| month_name(w).map(|m| (i, m)))?;
    let number = |w: &&str| {
        w.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| w.parse::<i32>().ok())?
    };
    let numbers: Vec<i32> = words
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != mi)
        .filter_map(|(_, w)| number(w))
        .collect();
    let (day, year) = match numbers.as_slice() {
        [d, y, ..] if *y > 31 => (*d, *y),
        [y, d, ..] if *y > 31 => (*d, *y),
        _ => return None,
    };
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

fn month_name(word: &str) -> Option<Month> {
    let w = word.to_ascii_lowercase();
    let prefix = w.get(..3)?;
    let month = match prefix {
        "jan" => Month::January,
        "feb" => Month::February,
        "mar" => Month::March,
        "apr" => Month::April,
        "may" => Month::May,
        "jun" => Month::June,
        "jul" => Month::July,
        "aug" => Month::August,
        "sep" => Month::September,
        "oct" => Month::October,
        "nov" => Month::November,
        "dec" => Month::December,
        _ => return None,
    };
    // "march" yes, "marathon" no.
    let full = format!("{month}").to_ascii_lowercase();
    (w.len() == 3 || full.starts_with(&w) || (w.len() == 4 && w.ends_with('.'))).then_some(month)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_21_2025: i64 = 1_737_417_600;

    #[test]
    fn registry_layouts() {
        for text in [
            "2025-01-21",
            "2025-01-21T00:00:00Z",
            "2025-01-21T00:00:00.0Z",
            "2025-01-21T00:00:00+0000",
            "2025-01-21 00:00:00",
            "2025-01-21 00:00:00 CET",
            "2025/01/21",
            "20250121",
            "21.01.2025",
            "21-01-2025",
            "21-Jan-2025",
            "21-jan-2025",
            "Tue Jan 21 2025",
            "January 21, 2025",
        ] {
            assert_eq!(parse(text), Some(JAN_21_2025), "{text}");
        }
        assert_eq!(parse("2025-01-21T04:00:00Z"), Some(JAN_21_2025 + 4 * 3600));
        assert_eq!(
            parse("2025-01-21T05:00:00+01:00"),
            Some(JAN_21_2025 + 4 * 3600)
        );
        assert_eq!(
            parse("2025/01/21 01:05:03 (JST)"),
            Some(JAN_21_2025 + 3600 + 5 * 60 + 3)
        );
    }

    #[test]
    fn non_dates_are_refused() {
        for text in [
            "",
            "never",
            "2025-13-01",
            "2025-02-30",
            "01/21/2025",
            "Marathon 21 2025",
            "9999999999999999",
            "2025-01",
            "-",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    #[test]
    fn days_read_well() {
        assert_eq!(day(JAN_21_2025), "2025-01-21");
        assert_eq!(day(JAN_21_2025 + 86_399), "2025-01-21");
    }
}
