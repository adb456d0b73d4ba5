//! Cron expressions (five fields: minute hour day-of-month month
//! day-of-week), parsed and checked at load time, evaluated in a time zone.
//!
//! Supported per field: `*`, numbers, ranges `a-b`, lists `a,b`, steps
//! `*/n` and `a-b/n`; month and weekday names (`jan`, `mon`); weekday 7 is
//! Sunday like 0. As in Vixie cron, when both day-of-month and day-of-week
//! are restricted a day matches if either does.
//!
//! Daylight saving time follows cronie (Vixie cron), which people expect
//! of a schedule written as local time. Like cronie, a job is *wildcard*
//! when its minute or hour field is written with `*` (`*/15 * * * *`,
//! `0 * * * *`, `5 */2 * * *`) and *fixed-time* otherwise (`30 2 * * *`,
//! `0 9-17 * * 1-5`, `0 1-23/2 * * *`):
//! - a fixed-time job whose local time does not exist (spring forward:
//!   02:30 in Berlin on the last Sunday of March) runs once at the jump,
//!   the first instant after the gap (03:00 summer time); several skipped
//!   times of the same gap make one run;
//! - a fixed-time job whose local time occurs twice (fall back) runs at
//!   the first occurrence only;
//! - a wildcard job runs by real time: at every instant the clock shows a
//!   matching time, so in a repeated hour it runs in both passes and a
//!   wholly skipped hour has no run; an hourly job thus runs every 60 real
//!   minutes, never twice in a UTC hour, wherever offsets change by whole
//!   hours. One addition to cronie: when a jump lands inside the hour of a
//!   skipped time (Australia/Lord_Howe moves by 30 minutes: 02:00 becomes
//!   02:30), that time runs at the jump, so a local hour that partly exists
//!   keeps its run. There `45 * * * *` runs at 01:45 and 02:45 on the
//!   spring day, 30 real minutes apart in one UTC hour: both times exist,
//!   and skipping either would lose a local hour.
//!
//! Runs are found by walking UTC minutes and asking one rule (`fires`) of
//! each, so that [`Cron::next_after`] and [`Cron::last_at_or_before`] (and
//! through them the backup runner and maintenance windows) agree.

use jiff::Timestamp as JiffTimestamp;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};

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
    /// Minute and hour both written without `*` (cronie's fixed-time job).
    fixed_time: bool,
}

/// The longest gap whose skipped times are looked at (real offset changes
/// are at most a day: Pacific/Apia skipped 30 December 2011).
const MAX_GAP_MINUTES: i64 = 26 * 60;

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
        let starred = |f: &str| f.split(',').any(|part| part.starts_with('*'));
        Ok(Cron {
            text: text.to_owned(),
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: (weekdays as u8) & 0x7f,
            days_restricted,
            weekdays_restricted,
            fixed_time: !starred(fields[0]) && !starred(fields[1]),
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

    /// Whether the job runs in the minute starting at `minute_start` (ms
    /// since the epoch), given the civil times the clock shows then and a
    /// minute earlier (see the module doc for the rules).
    fn fires(
        &self,
        minute_start: i64,
        civil: DateTime,
        civil_before: DateTime,
        tz: &TimeZone,
    ) -> bool {
        if self.matches(civil) && (!self.fixed_time || self.first_pass(minute_start, civil, tz)) {
            return true;
        }
        // The clock jumped over the minutes strictly between the two.
        let jumped = civil_before.duration_until(civil).as_mins();
        if jumped <= 1 || jumped > MAX_GAP_MINUTES {
            return false;
        }
        (1..jumped)
            .filter_map(|m| {
                civil_before
                    .checked_add(jiff::SignedDuration::from_mins(m))
                    .ok()
            })
            .any(|skipped| {
                self.matches(skipped)
                    && (self.fixed_time
                        || (skipped.date() == civil.date() && skipped.hour() == civil.hour()))
            })
    }

    /// Whether `minute_start` is the first instant showing `civil` (false
    /// in the second pass of a repeated hour).
    fn first_pass(&self, minute_start: i64, civil: DateTime, tz: &TimeZone) -> bool {
        match tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Fold { before, .. } => JiffTimestamp::from_millisecond(minute_start)
                .is_ok_and(|t| tz.to_offset(t) == before),
            _ => true,
        }
    }

    /// The latest minute the job runs at or before `at` (ms since the
    /// epoch), looking back at most `horizon_minutes`; in `tz`.
    pub fn last_at_or_before(&self, at: i64, tz: &TimeZone, horizon_minutes: u32) -> Option<i64> {
        let civil_at = |ms: i64| JiffTimestamp::from_millisecond(ms).map(|t| tz.to_datetime(t));
        // Start from the top of the current minute.
        let mut minute_start = at - at.rem_euclid(60_000);
        let mut civil = civil_at(minute_start).ok()?;
        for _ in 0..=horizon_minutes {
            let civil_before = civil_at(minute_start - 60_000).ok()?;
            if self.fires(minute_start, civil, civil_before, tz) {
                return Some(minute_start);
            }
            minute_start -= 60_000;
            civil = civil_before;
        }
        None
    }

    /// Whether the job has an occurrence in `(after, now]`: what a
    /// scheduler that looked at `after` and looks again at `now` runs
    /// (once, however many occurrences passed). Bounded: after a long
    /// suspend only the last day is looked at.
    pub fn fired_between(&self, after: i64, now: i64, tz: &TimeZone) -> bool {
        let window = ((now - after).max(0) / 60_000 + 2).min(1440) as u32;
        self.last_at_or_before(now, tz, window)
            .is_some_and(|at| at > after)
    }

    /// The first minute the job runs strictly after `at`, looking ahead at
    /// most `horizon_minutes`.
    pub fn next_after(&self, at: i64, tz: &TimeZone, horizon_minutes: u32) -> Option<i64> {
        let civil_at = |ms: i64| JiffTimestamp::from_millisecond(ms).map(|t| tz.to_datetime(t));
        let mut minute_start = at - at.rem_euclid(60_000);
        let mut civil_before = civil_at(minute_start).ok()?;
        for _ in 0..horizon_minutes {
            minute_start += 60_000;
            let civil = civil_at(minute_start).ok()?;
            if self.fires(minute_start, civil, civil_before, tz) {
                return Some(minute_start);
            }
            civil_before = civil;
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
