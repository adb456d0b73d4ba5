//! Time as a seam: production code reads a [`Clock`], tests drive a
//! [`ManualClock`] so hours of schedule run in milliseconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC. A plain integer so it stores,
/// sorts and subtracts without ceremony.
pub type Timestamp = i64;

/// The source of "now" for everything that schedules or measures time.
pub trait Clock: Send + Sync + 'static {
    /// Current wall-clock time in milliseconds since the epoch.
    fn now_ms(&self) -> Timestamp;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> Timestamp {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; cheap to clone, all clones share
/// the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start_ms)))
    }
    /// Move time forward.
    pub fn advance(&self, by: Duration) {
        self.0.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }
    /// Jump to an absolute time.
    pub fn set(&self, at_ms: Timestamp) {
        self.0.store(at_ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

/// Formats a timestamp as RFC 3339 UTC, for humans and JSON.
pub fn format_rfc3339(ts: Timestamp) -> String {
    let nanos = i128::from(ts) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

/// The UTC date of a timestamp, `2026-12-05`: the date part of
/// [`format_rfc3339`], for lists that show days.
pub fn format_date(ts: Timestamp) -> String {
    let nanos = i128::from(ts) * 1_000_000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => {
            let d = t.date();
            format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
        }
        Err(_) => ts.to_string(),
    }
}

/// Parses an RFC 3339 time (`2026-12-05T20:00:00Z`, any offset) into a
/// timestamp; `None` when it is not one or lies outside the timestamps'
/// range.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    Timestamp::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_is_shared_between_clones() {
        let a = ManualClock::new(1_000);
        let b = a.clone();
        a.advance(Duration::from_secs(2));
        assert_eq!(b.now_ms(), 3_000);
    }

    #[test]
    fn rfc3339_of_epoch() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn the_date_is_the_utc_day() {
        assert_eq!(format_date(0), "1970-01-01");
        assert_eq!(format_date(86_400_000 - 1), "1970-01-01");
        assert_eq!(format_date(1_796_500_800_000), "2026-12-05");
        assert_eq!(format_date(-1), "1969-12-31");
        assert!(format_rfc3339(1_796_500_800_000).starts_with(&format_date(1_796_500_800_000)));
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        let at = 1_764_964_800_123;
        assert_eq!(parse_rfc3339(&format_rfc3339(at)), Some(at));
        assert_eq!(
            parse_rfc3339("2026-12-05T21:00:00+01:00"),
            Some(1_796_500_800_000)
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
