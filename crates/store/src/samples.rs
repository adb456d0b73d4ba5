//! Samples of forecast measures (version 22): one downsampled series per
//! (check, measure) for capacity forecasts, apart from the raw results
//! (kept 7 days) because a forecast's window may be months.
//!
//! `sample`: `WITHOUT ROWID`, primary key `(check_id, measure, ts)`, the
//! value as a REAL. The monitor decides which results become samples (one
//! per step of a 500th of the window, or per interval); writing one
//! deletes that series' samples older than what the monitor keeps (see
//! `keep_from`), so a series holds a bounded number of rows whatever its
//! age. When the forecasts are configured, [`Store::retain_samples`]
//! deletes the series no longer configured and prunes the others.

use std::collections::HashMap;

use keepup_model::{CheckId, Timestamp};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::error::StoreError;
use crate::store::{State, Store, check_id};

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
        self.samples_between(check, measure, from, Timestamp::MAX, limit)
    }

    /// The newest `limit` samples of `check`'s `measure` from `from` and
    /// before `until`, oldest first (a report's forecast as of its
    /// period's end).
    pub fn samples_between(
        &self,
        check: &CheckId,
        measure: &str,
        from: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<(Timestamp, f64)>, StoreError> {
        self.with_reader("read samples", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT s.ts, s.value FROM sample s JOIN checks c ON c.id = s.check_id
                 WHERE c.key = ?1 AND s.measure = ?2 AND s.ts >= ?3 AND s.ts < ?4
                 ORDER BY s.ts DESC LIMIT ?5",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![check.as_str(), measure, from, until, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(1)?));
            }
            out.reverse();
            Ok(out)
        })
    }

    /// Deletes the samples of every series not in `keep` (forecasts no
    /// longer configured, also those removed while keepup was stopped)
    /// and those of the series in it before their time; returns how many.
    /// `keep` maps (check, measure) to the oldest sample kept. Walks the
    /// series by the table's key (one seek each), not its rows.
    pub fn retain_samples(
        &self,
        keep: &HashMap<(CheckId, String), Timestamp>,
    ) -> Result<u64, StoreError> {
        let wanted: HashMap<(&str, &str), Timestamp> = keep
            .iter()
            .map(|((c, m), from)| ((c.as_str(), m.as_str()), *from))
            .collect();
        self.with_state("retain samples", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut deleted = 0u64;
            let mut after: (i64, String) = (i64::MIN, String::new());
            loop {
                let next: Option<(i64, String, Option<String>)> = tx
                    .prepare_cached(
                        "SELECT s.check_id, s.measure, (SELECT key FROM checks WHERE id = s.check_id)
                         FROM sample s WHERE (s.check_id, s.measure) > (?1, ?2)
                         ORDER BY s.check_id, s.measure LIMIT 1",
                    )?
                    .query_row(params![after.0, after.1], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .optional()?;
                let Some((id, measure, key)) = next else {
                    break;
                };
                let from = key
                    .as_deref()
                    .and_then(|k| wanted.get(&(k, measure.as_str())))
                    .copied()
                    .unwrap_or(Timestamp::MAX);
                deleted += tx
                    .prepare_cached(
                        "DELETE FROM sample WHERE check_id = ?1 AND measure = ?2 AND ts < ?3",
                    )?
                    .execute(params![id, measure, from])? as u64;
                after = (id, measure);
            }
            tx.commit()?;
            Ok(deleted)
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
        assert_eq!(
            s.samples_between(&a, "disk:/", 0, 6_000, 100).unwrap(),
            [(4_000, 4.0), (5_000, 5.0)]
        );
    }

    #[test]
    fn retaining_deletes_the_series_not_configured_and_prunes_the_others() {
        let s = Store::open_in_memory().unwrap();
        let a = CheckId::new("s", "a");
        let b = CheckId::new("s", "b");
        let mut batch: Vec<SampleRecord> = (0..10).map(|i| sample(&a, i * 1_000, 1.0, 0)).collect();
        batch.push(sample(&b, 500, 7.0, 0));
        batch.push(SampleRecord {
            measure: "memory".into(),
            ..sample(&a, 700, 3.0, 0)
        });
        s.record_samples(&batch).unwrap();
        // `a`'s disk kept from 6,000; `a`'s memory and all of `b` gone.
        let keep = HashMap::from([((a.clone(), "disk:/".to_owned()), 6_000)]);
        assert_eq!(s.retain_samples(&keep).unwrap(), 6 + 1 + 1);
        assert_eq!(s.samples(&a, "disk:/", 0, 100).unwrap().len(), 4);
        assert_eq!(s.samples(&a, "memory", 0, 100).unwrap(), []);
        assert_eq!(s.samples(&b, "disk:/", 0, 100).unwrap(), []);
        assert_eq!(s.retain_samples(&HashMap::new()).unwrap(), 4);
        assert_eq!(s.retain_samples(&HashMap::new()).unwrap(), 0);
    }
}
