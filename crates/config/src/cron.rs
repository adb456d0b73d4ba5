//! Cron expressions (five fields: minute hour day-of-month month
//! day-of-week), parsed and checked at load time, evaluated in a time zone.
//!
//! Supported per field: `*`, numbers, ranges `a-b`, lists `a,b`, steps
//! `*/n` and `a-b/n`; month and weekday names (`jan`, `mon`); weekday 7 is
//! Sunday like 0. As in Vixie cron, when both day-of-month and day-of-week
//! are restricted a day matches if either does.

use jiff::Timestamp as JiffTimestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    text: String,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    days_restricted: bool,
    weekdays_restricted: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const WEEKDAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    what: &str,
) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let restricted = text != "*";
    let value = |s: &str| -> Result<u32, String> {
        if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
            return Ok(i as u32 + if names.len() == 12 { 1 } else { 0 });
        }
        let v: u32 = s
            .parse()
            .map_err(|_| format!("{what}: {s:?} is not a number"))?;
        Ok(v)
    };
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("{what}: invalid step {s:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("{what}: a step cannot be 0"));
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?)
        } else {
            let v = value(range)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(format!("{what}: {part:?} is outside {min}-{max}"));
        }
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    // Weekday 7 is Sunday, like 0.
    if names.len() == 7 && bits & (1 << 7) != 0 {
        bits = (bits & !(1 << 7)) | 1;
    }
    Ok((bits, restricted))
}

impl Cron {
    /// Parses five fields.
    pub fn parse(text: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = text.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "a cron expression has 5 fields (minute hour day-of-month month day-of-week), found {}",
                fields.len()
            ));
        }
        let (minutes, _) = field(fields[0], 0, 59, &[], "minute")?;
        let (hours, _) = field(fields[1], 0, 23, &[], "hour")?;
        let (days, days_restricted) = field(fields[2], 1, 31, &[], "day of month")?;
        let (months, _) = field(fields[3], 1, 12, &MONTHS, "month")?;
        let (weekdays, weekdays_restricted) = field(fields[4], 0, 7, &WEEKDAYS, "day of week")?;
        Ok(Cron {
            text: text.to_owned(),
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays as u8) & 0x7f,
            days_restricted,
            weekdays_restricted,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the civil minute `dt` matches.
    pub fn matches(&self, dt: DateTime) -> bool {
        let minute_ok = self.minutes & (1 << dt.minute()) != 0;
        let hour_ok = self.hours & (1 << dt.hour()) != 0;
        let month_ok = self.months & (1 << dt.month()) != 0;
        let dom = self.days & (1 << dt.day()) != 0;
        let dow = self.weekdays & (1 << dt.weekday().to_sunday_zero_offset()) != 0;
        let day_ok = match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => dom || dow,
            _ => dom && dow,
        };
        minute_ok && hour_ok && month_ok && day_ok
    }

    /// The latest matching minute at or before `at` (ms since the epoch),
    /// looking back at most `horizon_minutes`; in `tz`.
    pub fn last_at_or_before(&self, at: i64, tz: &TimeZone, horizon_minutes: u32) -> Option<i64> {
        // Start from the top of the current minute.
        let mut minute_start = at - at.rem_euclid(60_000);
        for _ in 0..=horizon_minutes {
            let t = JiffTimestamp::from_millisecond(minute_start).ok()?;
            let civil = tz.to_datetime(t);
            if self.matches(civil) {
                return Some(minute_start);
            }
            minute_start -= 60_000;
        }
        None
    }

    /// The first matching minute strictly after `at`, looking ahead at most
    /// `horizon_minutes`.
    pub fn next_after(&self, at: i64, tz: &TimeZone, horizon_minutes: u32) -> Option<i64> {
        let mut minute_start = at - at.rem_euclid(60_000) + 60_000;
        for _ in 0..horizon_minutes {
            let t = JiffTimestamp::from_millisecond(minute_start).ok()?;
            if self.matches(tz.to_datetime(t)) {
                return Some(minute_start);
            }
            minute_start += 60_000;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn fields_parse_and_match() {
        let c = Cron::parse("30 2 * * sun").unwrap();
        assert!(c.matches(date(2026, 11, 22).at(2, 30, 0, 0)), "a Sunday");
        assert!(!c.matches(date(2026, 11, 23).at(2, 30, 0, 0)), "a Monday");
        let c = Cron::parse("*/15 9-17 * * 1-5").unwrap();
        assert!(c.matches(date(2026, 11, 23).at(9, 45, 0, 0)));
        assert!(!c.matches(date(2026, 11, 23).at(9, 46, 0, 0)));
        assert!(
            !c.matches(date(2026, 11, 22).at(10, 0, 0, 0)),
            "Sunday excluded"
        );
        let c = Cron::parse("0 0 1 jan,jul *").unwrap();
        assert!(c.matches(date(2027, 7, 1).at(0, 0, 0, 0)));
        let sunday7 = Cron::parse("0 3 * * 7").unwrap();
        assert!(sunday7.matches(date(2026, 11, 22).at(3, 0, 0, 0)));
        // Either day field matches when both are restricted (Vixie cron).
        let c = Cron::parse("0 0 13 * fri").unwrap();
        assert!(c.matches(date(2026, 11, 13).at(0, 0, 0, 0)));
        assert!(c.matches(date(2026, 11, 20).at(0, 0, 0, 0)));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        for (e, msg) in [
            ("* * *", "5 fields"),
            ("60 * * * *", "minute"),
            ("* 24 * * *", "hour"),
            ("* * 0 * *", "day of month"),
            ("* * * 13 *", "month"),
            ("* * * * 8", "day of week"),
            ("*/0 * * * *", "step"),
            ("x * * * *", "not a number"),
        ] {
            let err = Cron::parse(e).unwrap_err();
            assert!(err.contains(msg), "{e}: {err}");
        }
    }

    #[test]
    fn occurrences_are_found_in_a_time_zone() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let c = Cron::parse("0 2 * * *").unwrap();
        // 2026-11-21 12:00 UTC; the last 02:00 Berlin (UTC+1) was 01:00 UTC that day.
        let noon = 1_763_726_400_000;
        let last = c.last_at_or_before(noon, &tz, 24 * 60).unwrap();
        assert_eq!(last, noon - 11 * 3_600_000);
        let next = c.next_after(noon, &tz, 24 * 60).unwrap();
        assert_eq!(next, noon + 13 * 3_600_000);
    }
}
