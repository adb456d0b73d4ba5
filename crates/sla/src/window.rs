//! Periods and service hours as instants.
//!
//! A period is a calendar month or quarter in the contract's zone, from
//! local midnight of its first day to local midnight of the next period's
//! (a midnight that does not exist on a DST day is the first instant after
//! the jump). Service hours are the instants whose *local reading* falls
//! into a weekly rule on a day that is not a holiday: on the night the
//! clocks go back, an hour that is read twice is service time twice; the
//! hour that is skipped in spring is not there to count.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use keepup_config::contract::{Contract, Period, ServiceHours};
use keepup_model::Timestamp;

const DAY_MS: i64 = 86_400_000;

/// The range a set of figures is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Start, ms since the epoch.
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// `2026-10`, `2026-Q4`, or the range as written.
    pub label: String,
}

/// A period that cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WindowError {
    /// A date outside what the time zone arithmetic handles.
    #[error("no period starts at {0}: {1}")]
    OutOfRange(String, String),
    /// `--from` not before `--to`.
    #[error("the range ends before it starts")]
    Empty,
    /// A month written wrongly.
    #[error("{0:?} is not a month; write YYYY-MM, e.g. 2026-10")]
    BadMonth(String),
}

impl Window {
    /// The period of `contract` that contains the local date `day`.
    pub fn period_containing(contract: &Contract, day: Date) -> Result<Window, WindowError> {
        let (first, next, label) = match contract.period {
            Period::Month => {
                let first = day.first_of_month();
                (
                    first,
                    add_months(first, 1)?,
                    format!("{:04}-{:02}", day.year(), day.month()),
                )
            }
            Period::Quarter => {
                let q = (day.month() - 1) / 3;
                let first = Date::new(day.year(), q * 3 + 1, 1)
                    .map_err(|e| WindowError::OutOfRange(day.to_string(), e.to_string()))?;
                (
                    first,
                    add_months(first, 3)?,
                    format!("{:04}-Q{}", day.year(), q + 1),
                )
            }
        };
        Ok(Window {
            from: local_midnight(&contract.time_zone, first)?,
            to: local_midnight(&contract.time_zone, next)?,
            label,
        })
    }

    /// The period of `contract` that contains the month `YYYY-MM`.
    pub fn for_month(contract: &Contract, month: &str) -> Result<Window, WindowError> {
        let bad = || WindowError::BadMonth(month.to_owned());
        let (y, m) = month.split_once('-').ok_or_else(bad)?;
        let (y, m): (i16, i8) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        let day = Date::new(y, m, 1).map_err(|_| bad())?;
        Window::period_containing(contract, day)
    }

    /// The period of `contract` that contains the instant `at`.
    pub fn period_at(contract: &Contract, at: Timestamp) -> Result<Window, WindowError> {
        let ts = jiff::Timestamp::from_millisecond(at)
            .map_err(|e| WindowError::OutOfRange(at.to_string(), e.to_string()))?;
        Window::period_containing(contract, contract.time_zone.to_datetime(ts).date())
    }

    /// From `from` to `to` (exclusive), each either an instant or a local
    /// date (its midnight in the contract's zone).
    pub fn range(contract: &Contract, from: Bound, to: Bound) -> Result<Window, WindowError> {
        let instant = |b: Bound| match b {
            Bound::At(t) => Ok(t),
            Bound::Day(d) => local_midnight(&contract.time_zone, d),
        };
        let label = format!("{from}..{to}");
        Window::between(instant(from)?, instant(to)?, label)
    }

    /// An explicit range.
    pub fn between(from: Timestamp, to: Timestamp, label: String) -> Result<Window, WindowError> {
        if to <= from {
            return Err(WindowError::Empty);
        }
        Ok(Window { from, to, label })
    }

    /// Its length in ms.
    pub fn len(&self) -> i64 {
        self.to - self.from
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }
}

/// One end of a range given by hand: an instant, or a local date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// ms since the epoch.
    At(Timestamp),
    /// Local midnight of this date in the contract's zone.
    Day(Date),
}

impl std::str::FromStr for Bound {
    type Err = String;
    /// `2026-10-01` or an RFC 3339 instant such as `2026-10-01T08:00:00+02:00`.
    fn from_str(s: &str) -> Result<Bound, String> {
        if let Ok(d) = s.parse::<Date>() {
            return Ok(Bound::Day(d));
        }
        s.parse::<jiff::Timestamp>()
            .map(|t| Bound::At(t.as_millisecond()))
            .map_err(|_| format!("{s:?} is neither a date (2026-10-01) nor an RFC 3339 time (2026-10-01T08:00:00+02:00)"))
    }
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::At(t) => f.write_str(&keepup_model::format_rfc3339(*t)),
            Bound::Day(d) => write!(f, "{d}"),
        }
    }
}

fn add_months(first: Date, months: i32) -> Result<Date, WindowError> {
    first
        .checked_add(jiff::Span::new().months(months))
        .map_err(|e| WindowError::OutOfRange(first.to_string(), e.to_string()))
}

/// The first instant of local `day`.
fn local_midnight(tz: &TimeZone, day: Date) -> Result<Timestamp, WindowError> {
    tz.to_ambiguous_timestamp(day.at(0, 0, 0, 0))
        .compatible()
        .map(|t| t.as_millisecond())
        .map_err(|e| WindowError::OutOfRange(day.to_string(), e.to_string()))
}

/// The service time within `[from, to)`, ordered, disjoint and merged.
pub fn service_windows(
    hours: &ServiceHours,
    tz: &TimeZone,
    from: Timestamp,
    to: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    if to <= from {
        return Vec::new();
    }
    let (rules, holidays) = match hours {
        ServiceHours::Always => return vec![(from, to)],
        ServiceHours::Weekly { rules, holidays } => (rules, holidays),
    };
    let mut out: Vec<(Timestamp, Timestamp)> = Vec::new();
    // Walk the stretches of constant UTC offset: within one, the local
    // reading is the instant plus the offset.
    let mut start = from;
    while start < to {
        let Ok(at) = jiff::Timestamp::from_millisecond(start) else {
            break;
        };
        let offset = i64::from(tz.to_offset(at).seconds()) * 1000;
        let end = tz
            .following(at)
            .next()
            .map(|t| t.timestamp().as_millisecond())
            .filter(|&t| t < to)
            .unwrap_or(to);
        let (local_from, local_to) = (start + offset, end + offset);
        let mut day = local_from.div_euclid(DAY_MS);
        while day * DAY_MS < local_to {
            if let Some(date) = unix_day(day)
                && !holidays.contains(&date)
            {
                for r in rules.iter().filter(|r| r.applies_on(date.weekday())) {
                    let a = (day * DAY_MS + i64::from(r.start_minute) * 60_000).max(local_from);
                    let b = (day * DAY_MS + i64::from(r.end_minute) * 60_000).min(local_to);
                    if a < b {
                        push_merged(&mut out, (a - offset, b - offset));
                    }
                }
            }
            day += 1;
        }
        start = end;
    }
    out.sort_unstable();
    let mut merged: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(out.len());
    for w in out {
        push_merged(&mut merged, w);
    }
    merged
}

/// Service time between `from` and `to` in ms (business repair times).
pub fn service_time(hours: &ServiceHours, tz: &TimeZone, from: Timestamp, to: Timestamp) -> i64 {
    service_windows(hours, tz, from, to)
        .iter()
        .map(|(a, b)| b - a)
        .sum()
}

/// The civil date of a day number counted from 1970-01-01.
fn unix_day(day: i64) -> Option<Date> {
    let ts = jiff::Timestamp::from_second(day.checked_mul(86_400)?).ok()?;
    Some(TimeZone::UTC.to_datetime(ts).date())
}

/// Appends `w`, joining it to the last interval when they touch or overlap
/// (`out` must be ordered by start).
pub(crate) fn push_merged(out: &mut Vec<(Timestamp, Timestamp)>, w: (Timestamp, Timestamp)) {
    match out.last_mut() {
        Some(last) if w.0 <= last.1 && w.0 >= last.0 => last.1 = last.1.max(w.1),
        _ => out.push(w),
    }
}
