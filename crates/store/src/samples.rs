//! Samples of forecast measures (version 22): one downsampled series per
//! (check, measure) for capacity forecasts, apart from the raw results
//! (kept 7 days) because a forecast's window may be months.
//!
//! `sample`: `WITHOUT ROWID`, primary key `(check_id, measure, ts)`, the
//! value as a REAL. The monitor decides which results become samples (one
//! per step of a 500th of the window, or per interval); writing one
//! deletes that series' samples older than what its window keeps, so a
//! series holds about 500 rows whatever its age. A series whose forecast
//! was removed from the configuration stops growing and is deleted once
//! older than [`MAX_AGE_MS`] by [`Store::prune_samples`].

use keepup_model::{CheckId, Timestamp};
use rusqlite::{TransactionBehavior, params};

use crate::error::StoreError;
use crate::store::{State, Store, check_id};

/// Samples older than this are deleted whatever their series (the longest
/// forecast window, 366 days).
pub const MAX_AGE_MS: i64 = 366 * 86_400_000;

/// One sample to write.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRecord {
    /// The check.
    pub check: CheckId,
    /// The measure's key (`disk:/var`, `latency`).
    pub measure: String,
    /// When it was measured.
    pub at: Timestamp,
    /// Its value.
    pub value: f64,
    /// The series' samples before this are deleted (its window).
    pub keep_from: Timestamp,
}

impl Store {
    /// Writes samples (one transaction), each pruning its series to its
    /// window. A value that is not a finite number is skipped.
    pub fn record_samples(&self, samples: &[SampleRecord]) -> Result<(), StoreError> {
        if samples.is_empty() {
            return Ok(());
        }
        self.with_state("record samples", |st| {
            let State {
                conn, check_ids, ..
            } = st;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for s in samples.iter().filter(|s| s.value.is_finite()) {
                let id = check_id(&tx, check_ids, &s.check)?;
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO sample (check_id, measure, ts, value) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, s.measure, s.at, s.value])?;
                tx.prepare_cached(
                    "DELETE FROM sample WHERE check_id = ?1 AND measure = ?2 AND ts < ?3",
                )?
                .execute(params![id, s.measure, s.keep_from])?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// The newest `limit` samples of `check`'s `measure` from `from` on,
    /// oldest first.
    pub fn samples(
        &self,
        check: &CheckId,
        measure: &str,
        from: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, f64)>, StoreError> {
        self.with_reader("read samples", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.ts, s.value FROM sample s JOIN checks c ON c.id = s.check_id
                 WHERE c.key = ?1 AND s.measure = ?2 AND s.ts >= ?3
                 ORDER BY s.ts DESC LIMIT ?4",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![check.as_str(), measure, from, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(1)?));
            }
            out.reverse();
            Ok(out)
        })
    }

    /// Deletes every sample older than [`MAX_AGE_MS`] before `now` (the
    /// series of forecasts no longer configured); returns how many.
    pub fn prune_samples(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.with_state("prune samples", |st| {
            let n = st
                .conn
                .prepare_cached("DELETE FROM sample WHERE ts < ?1")?
                .execute(params![now.saturating_sub(MAX_AGE_MS)])?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(check: &CheckId, at: Timestamp, value: f64, keep_from: Timestamp) -> SampleRecord {
        SampleRecord {
            check: check.clone(),
            measure: "disk:/".into(),
            at,
            value,
            keep_from,
        }
    }

    #[test]
    fn samples_are_kept_within_their_window_read_oldest_first_and_capped() {
        let s = Store::open_in_memory().unwrap();
        let a = CheckId::new("s", "a");
        let b = CheckId::new("s", "b");
        let batch: Vec<SampleRecord> = (0..10)
            .map(|i| sample(&a, i * 1_000, i as f64, i * 1_000 - 5_000))
            .chain([sample(&b, 500, 7.0, 0), sample(&b, 600, f64::NAN, 0)])
            .collect();
        s.record_samples(&batch).unwrap();
        // The last write kept 4,000 ms and later.
        let all = s.samples(&a, "disk:/", 0, 100).unwrap();
        assert_eq!(all.first(), Some(&(4_000, 4.0)));
        assert_eq!(all.len(), 6);
        assert_eq!(
            s.samples(&a, "disk:/", 0, 2).unwrap(),
            [(8_000, 8.0), (9_000, 9.0)]
        );
        assert_eq!(s.samples(&a, "disk:/", 8_500, 100).unwrap(), [(9_000, 9.0)]);
        assert_eq!(s.samples(&a, "memory", 0, 100).unwrap(), []);
        assert_eq!(s.samples(&b, "disk:/", 0, 100).unwrap(), [(500, 7.0)]);
        assert_eq!(s.prune_samples(MAX_AGE_MS + 5_000).unwrap(), 2);
        assert_eq!(s.samples(&a, "disk:/", 0, 100).unwrap().len(), 5);
    }
}
