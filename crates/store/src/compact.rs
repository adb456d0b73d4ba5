//! Rollups and retention: [`Store::compact`] and [`Store::rollups`].
//!
//! Each tier keeps a watermark: the start of the first bucket it has not
//! rolled up. A compaction rolls up, for every check, the raw results in
//! `[watermark, start of the current bucket)`, a chunk at a time (one
//! transaction per chunk, so writers get the lock in between and a crash
//! loses at most the chunk in flight), and moves the watermark in the same
//! transaction as the rows it wrote. Running it again finds nothing to do.
//! A result recorded after its bucket was rolled up stays in the raw
//! results but is not added to the rollup.
//!
//! Minute and hour buckets are packed (the `packed` module), a row per
//! check per hour and per check per day: writing a chunk merges its
//! buckets into the rows they belong to, and retention deletes a row once
//! every bucket in it is older than the tier's retention.

use std::time::Duration;

use keepup_model::{CheckId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::content::{self, LAST_USED_GRANULARITY_MS};
use crate::error::Fail;
use crate::findings;
use crate::packed::{self, Bucket};
use crate::store::State;
use crate::{CompactReport, Resolution, Retention, Rollup, Store, StoreError};

/// Where a tier's buckets live.
#[derive(Clone, Copy)]
enum Layout {
    /// One row per bucket (`check_id, bucket, up, ...`).
    Rows(&'static str),
    /// One row per check and period (`check_id, period, buckets`) holding
    /// `slots` buckets in a blob.
    Packed { table: &'static str, slots: i64 },
}

fn layout(res: Resolution) -> Layout {
    match res {
        Resolution::Minute => Layout::Packed {
            table: "rollup_minute_by_hour",
            slots: 60,
        },
        Resolution::Hour => Layout::Packed {
            table: "rollup_hour_by_day",
            slots: 24,
        },
        Resolution::Day => Layout::Rows("rollup_day"),
    }
}

fn tier(res: Resolution) -> i64 {
    match res {
        Resolution::Minute => 0,
        Resolution::Hour => 1,
        Resolution::Day => 2,
    }
}

/// How far one transaction moves a tier's watermark at most: an hour of
/// minute or hour buckets, one day bucket.
fn chunk_ms(res: Resolution) -> i64 {
    res.width_ms().max(Resolution::Hour.width_ms())
}

fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

fn ceil_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0)
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store {
    /// Rolls up every complete bucket (bucket end `<= now`) not rolled up
    /// yet, then applies `retention`: deletes raw results older than
    /// `now - retention.raw` (never ones a tier has not rolled up yet),
    /// rollups whose bucket ended before their tier's retention, stored
    /// contents no remaining result uses, audit entries past their
    /// retention and ended sessions. Idempotent and incremental.
    ///
    /// Meant to run every few minutes to an hour; it takes the store's lock
    /// once per hour of backlog, so recording goes on meanwhile.
    pub fn compact(
        &self,
        now: Timestamp,
        retention: &Retention,
    ) -> Result<CompactReport, StoreError> {
        let mut report = CompactReport::default();
        for res in Resolution::ALL {
            while let Some(written) =
                self.with_state("compact", |st| roll_up_chunk(st, res, now))?
            {
                match res {
                    Resolution::Minute => report.minute_rollups += written,
                    Resolution::Hour => report.hour_rollups += written,
                    Resolution::Day => report.day_rollups += written,
                }
            }
        }
        self.with_state("compact", |st| prune(st, now, retention, &mut report))?;
        Ok(report)
    }

    /// The rollups of `check` at resolution `res` whose bucket starts in
    /// `[from, to)`, oldest first. Only buckets that [`Store::compact`] has
    /// rolled up and retention has kept exist; buckets without results have
    /// no rollup.
    pub fn rollups(
        &self,
        check: &CheckId,
        res: Resolution,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Rollup>, StoreError> {
        let width = res.width_ms();
        let (first, end) = (ceil_div(from, width), ceil_div(to, width));
        self.with_reader("rollups", |conn| {
            let buckets = match layout(res) {
                Layout::Rows(table) => read_rows(conn, table, check, first, end)?,
                Layout::Packed { table, slots } => {
                    read_packed(conn, table, slots, check, first, end)?
                }
            };
            Ok(buckets
                .into_iter()
                .map(|(bucket, counts, latency)| {
                    let ms = |units: i64| units as f64 / (1000 / ROLLUP_UNIT_US) as f64;
                    let [up, degraded, down, unknown] = counts;
                    Rollup {
                        bucket_start: bucket.saturating_mul(width),
                        up,
                        degraded,
                        down,
                        unknown,
                        latency_min_ms: ms(latency[0]),
                        latency_p50_ms: ms(latency[1]),
                        latency_p95_ms: ms(latency[2]),
                        latency_p99_ms: ms(latency[3]),
                        latency_max_ms: ms(latency[4]),
                        latency_mean_ms: ms(latency[5]),
                    }
                })
                .collect())
        })
    }
}

/// A bucket number with its counts and latency figures (rollup units).
type BucketFigures = (i64, [u32; 4], [i64; 6]);

/// Buckets `[first, end)` of `check` from a one-row-per-bucket table.
fn read_rows(
    conn: &Connection,
    table: &str,
    check: &CheckId,
    first: i64,
    end: i64,
) -> Result<Vec<BucketFigures>, Fail> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT bucket, up, degraded, down, unknown, lat_min, lat_p50, lat_p95, lat_p99, lat_max, lat_mean
         FROM {table} WHERE check_id = (SELECT id FROM checks WHERE key = ?1) AND bucket >= ?2 AND bucket < ?3
         ORDER BY bucket"
    ))?;
    let mut rows = stmt.query(params![check.as_str(), first, end])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut counts = [0u32; 4];
        for (i, c) in counts.iter_mut().enumerate() {
            let n: i64 = row.get(1 + i)?;
            *c = u32::try_from(n).map_err(|_| Fail::Corrupt(format!("rollup count {n}")))?;
        }
        let mut latency = [0i64; 6];
        for (i, l) in latency.iter_mut().enumerate() {
            *l = row.get(5 + i)?;
        }
        out.push((row.get(0)?, counts, latency));
    }
    Ok(out)
}

/// Buckets `[first, end)` of `check` from a packed table: the rows of the
/// periods that overlap the range, decoded and trimmed to it.
fn read_packed(
    conn: &Connection,
    table: &str,
    slots: i64,
    check: &CheckId,
    first: i64,
    end: i64,
) -> Result<Vec<BucketFigures>, Fail> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT period, buckets FROM {table}
         WHERE check_id = (SELECT id FROM checks WHERE key = ?1) AND period >= ?2 AND period < ?3
         ORDER BY period"
    ))?;
    let mut rows = stmt.query(params![
        check.as_str(),
        floor_div(first, slots),
        ceil_div(end, slots)
    ])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let period: i64 = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        for b in decode_row(&blob, slots, period)? {
            let bucket = period.saturating_mul(slots) + i64::from(b.slot);
            if (first..end).contains(&bucket) {
                out.push((bucket, b.counts, b.latency));
            }
        }
    }
    Ok(out)
}

/// Decodes one packed row, saying which row a damaged blob belongs to.
fn decode_row(blob: &[u8], slots: i64, period: i64) -> Result<Vec<Bucket>, Fail> {
    let slots = u32::try_from(slots).unwrap_or(u32::MAX);
    packed::decode(blob, slots).map_err(|e| match e {
        Fail::Corrupt(what) => Fail::Corrupt(format!("{what} (period {period})")),
        other => other,
    })
}

/// The watermark of `res`, if it was ever set.
fn watermark(tx: &Transaction<'_>, res: Resolution) -> Result<Option<Timestamp>, Fail> {
    Ok(tx
        .prepare_cached("SELECT next_ms FROM watermark WHERE tier = ?1")?
        .query_row(params![tier(res)], |r| r.get(0))
        .optional()?)
}

fn set_watermark(tx: &Transaction<'_>, res: Resolution, next: Timestamp) -> Result<(), Fail> {
    tx.prepare_cached("INSERT OR REPLACE INTO watermark (tier, next_ms) VALUES (?1, ?2)")?
        .execute(params![tier(res), next])?;
    Ok(())
}

fn check_ids(tx: &Transaction<'_>) -> Result<Vec<i64>, Fail> {
    let mut stmt = tx.prepare_cached("SELECT id FROM checks ORDER BY id")?;
    let ids = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<Vec<i64>, _>>()?;
    Ok(ids)
}

/// The earliest raw result at or after `from`, over all checks: one index
/// seek per check instead of a scan of the whole table.
fn first_result_from(tx: &Transaction<'_>, from: Timestamp) -> Result<Option<Timestamp>, Fail> {
    Ok(tx
        .prepare_cached(
            "SELECT min((SELECT r.ts FROM result r WHERE r.check_id = c.id AND r.ts >= ?1 ORDER BY r.ts LIMIT 1))
             FROM checks c",
        )?
        .query_row(params![from], |r| r.get(0))?)
}

/// Rolls up one chunk of tier `res`. `None` when the tier is up to date,
/// otherwise the number of rollup rows written (possibly 0).
fn roll_up_chunk(st: &mut State, res: Resolution, now: Timestamp) -> Result<Option<u64>, Fail> {
    let width = res.width_ms();
    let tx = st
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let target = floor_div(now, width).saturating_mul(width);
    let mark = watermark(&tx, res)?;
    if mark.is_some_and(|m| m >= target) {
        return Ok(None);
    }
    // Skip empty stretches (first run, keepup stopped for a month) in one
    // step instead of walking them chunk by chunk.
    let first = first_result_from(&tx, mark.unwrap_or(i64::MIN))?;
    let start = match first {
        Some(first) => {
            let first_bucket = floor_div(first, width).saturating_mul(width);
            mark.map_or(first_bucket, |m| m.max(first_bucket))
        }
        None => target,
    };
    if start >= target {
        // No result in any complete bucket from the watermark on: they are
        // all done. A store that never had a result sets no watermark, so
        // results recorded later with earlier times still get rolled up.
        if first.is_some() || mark.is_some() {
            set_watermark(&tx, res, target)?;
            tx.commit()?;
        }
        return Ok(None);
    }
    let end = start.saturating_add(chunk_ms(res)).min(target);
    let mut written = 0;
    {
        let mut read = tx.prepare_cached(
            "SELECT ts, status, latency_us FROM result WHERE check_id = ?1 AND ts >= ?2 AND ts < ?3 ORDER BY ts",
        )?;
        let mut acc = Accumulator::default();
        let mut buckets: Vec<BucketFigures> = Vec::new();
        for check in check_ids(&tx)? {
            let mut rows = read.query(params![check, start, end])?;
            let mut bucket = None;
            buckets.clear();
            while let Some(row) = rows.next()? {
                let ts: i64 = row.get(0)?;
                let b = floor_div(ts, width);
                if bucket != Some(b) {
                    if let Some(done) = bucket {
                        buckets.extend(acc.finish(done)?);
                    }
                    bucket = Some(b);
                }
                acc.add(row.get(1)?, row.get(2)?)?;
            }
            if let Some(done) = bucket {
                buckets.extend(acc.finish(done)?);
            }
            written += write_buckets(&tx, res, check, &buckets)?;
        }
    }
    set_watermark(&tx, res, end)?;
    tx.commit()?;
    Ok(Some(written))
}

/// Writes the rolled-up `buckets` (ascending) of `check`, replacing stored
/// ones with the same number. Returns how many were written.
fn write_buckets(
    tx: &Transaction<'_>,
    res: Resolution,
    check: i64,
    buckets: &[BucketFigures],
) -> Result<u64, Fail> {
    match layout(res) {
        Layout::Rows(table) => {
            let mut write = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table}
                   (check_id, bucket, up, degraded, down, unknown, lat_min, lat_p50, lat_p95, lat_p99, lat_max, lat_mean)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ))?;
            for &(bucket, [up, degraded, down, unknown], l) in buckets {
                write.execute(params![
                    check, bucket, up, degraded, down, unknown, l[0], l[1], l[2], l[3], l[4], l[5]
                ])?;
            }
        }
        Layout::Packed { table, slots } => {
            let mut load = tx.prepare_cached(&format!(
                "SELECT buckets FROM {table} WHERE check_id = ?1 AND period = ?2"
            ))?;
            let mut store = tx.prepare_cached(&format!(
                "INSERT OR REPLACE INTO {table} (check_id, period, buckets) VALUES (?1, ?2, ?3)"
            ))?;
            for same_period in
                buckets.chunk_by(|a, b| floor_div(a.0, slots) == floor_div(b.0, slots))
            {
                let period = floor_div(same_period[0].0, slots);
                let new: Vec<Bucket> = same_period
                    .iter()
                    .map(|&(bucket, counts, latency)| Bucket {
                        // In 0..slots, so it fits.
                        slot: bucket.rem_euclid(slots) as u32,
                        counts,
                        latency,
                    })
                    .collect();
                let old = match load
                    .query_row(params![check, period], |r| r.get::<_, Vec<u8>>(0))
                    .optional()?
                {
                    Some(blob) => decode_row(&blob, slots, period)?,
                    None => Vec::new(),
                };
                store.execute(params![
                    check,
                    period,
                    packed::encode(&packed::merge(old, &new))
                ])?;
            }
        }
    }
    Ok(buckets.len() as u64)
}

/// Status counts and latencies of one bucket being rolled up.
#[derive(Default)]
struct Accumulator {
    counts: [i64; 4],
    latencies: Vec<i64>,
}

impl Accumulator {
    fn add(&mut self, status: i64, latency_us: i64) -> Result<(), Fail> {
        let slot = usize::try_from(status)
            .ok()
            .and_then(|s| self.counts.get_mut(s))
            .ok_or_else(|| Fail::Corrupt(format!("status code {status}")))?;
        *slot += 1;
        self.latencies.push(latency_us);
        Ok(())
    }

    /// The figures of bucket `bucket` (none if it is empty), and resets
    /// for the next bucket.
    fn finish(&mut self, bucket: i64) -> Result<Option<BucketFigures>, Fail> {
        let Some(latency) = latency_stats(&mut self.latencies) else {
            return Ok(None);
        };
        let mut counts = [0u32; 4];
        for (c, &n) in counts.iter_mut().zip(&self.counts) {
            *c = u32::try_from(n)
                .map_err(|_| Fail::Corrupt(format!("{n} results in one bucket")))?;
        }
        self.counts = [0; 4];
        self.latencies.clear();
        Ok(Some((bucket, counts, latency)))
    }
}

/// Rollup latencies are stored in units of 100 µs: two bytes per value up
/// to 3.2 s instead of three, on the tables that are kept for two years.
pub(crate) const ROLLUP_UNIT_US: i64 = 100;

/// `[min, p50, p95, p99, max, mean]` of `values` (microseconds, sorted in
/// place) in [`ROLLUP_UNIT_US`] units, rounded half up. Percentiles by
/// nearest rank, the mean from the exact sum. `None` if empty.
pub(crate) fn latency_stats(values: &mut [i64]) -> Option<[i64; 6]> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    values.sort_unstable();
    let unit = |us: i64| {
        us.saturating_add(ROLLUP_UNIT_US / 2)
            .div_euclid(ROLLUP_UNIT_US)
    };
    // Nearest rank: the smallest value with at least p% of values <= it.
    let pct = |p: usize| unit(values[(p * n).div_ceil(100).max(1) - 1]);
    let sum: i128 = values.iter().map(|&v| i128::from(v)).sum();
    let (n128, u128_) = (n as i128, i128::from(ROLLUP_UNIT_US));
    let mean = (2 * sum + u128_ * n128).div_euclid(2 * u128_ * n128);
    let mean = i64::try_from(mean).unwrap_or(i64::MAX);
    Some([
        unit(values[0]),
        pct(50),
        pct(95),
        pct(99),
        unit(values[n - 1]),
        mean,
    ])
}

/// Retention: raw results, rollups, unused contents.
fn prune(
    st: &mut State,
    now: Timestamp,
    retention: &Retention,
    report: &mut CompactReport,
) -> Result<(), Fail> {
    let tx = st
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut raw_cutoff = now.saturating_sub(duration_ms(retention.raw));
    for res in Resolution::ALL {
        // A tier without a watermark has had nothing to roll up yet (or
        // only incomplete buckets): keep everything from its first result.
        let done_until = match watermark(&tx, res)? {
            Some(m) => m,
            None => match first_result_from(&tx, i64::MIN)? {
                Some(first) => floor_div(first, res.width_ms()).saturating_mul(res.width_ms()),
                None => i64::MAX,
            },
        };
        raw_cutoff = raw_cutoff.min(done_until);
    }
    let checks = check_ids(&tx)?;
    {
        let mut delete = tx.prepare_cached("DELETE FROM result WHERE check_id = ?1 AND ts < ?2")?;
        for &check in &checks {
            report.raw_deleted += delete.execute(params![check, raw_cutoff])? as u64;
        }
    }
    for res in Resolution::ALL {
        let cutoff = now.saturating_sub(duration_ms(retention.of(res)));
        // Buckets that ended at or before the cutoff.
        let before_bucket = floor_div(cutoff, res.width_ms());
        match layout(res) {
            Layout::Rows(table) => {
                let mut delete = tx.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE check_id = ?1 AND bucket < ?2"
                ))?;
                for &check in &checks {
                    report.rollups_deleted += delete.execute(params![check, before_bucket])? as u64;
                }
            }
            Layout::Packed { table, slots } => {
                // Rows whose every bucket is before the cutoff; the buckets
                // they held are counted (a damaged row is deleted all the
                // same, counting none: it must not hold retention up).
                let mut delete = tx.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE check_id = ?1 AND period < ?2 RETURNING period, buckets"
                ))?;
                for &check in &checks {
                    let mut rows = delete.query(params![check, floor_div(before_bucket, slots)])?;
                    while let Some(row) = rows.next()? {
                        let blob: Vec<u8> = row.get(1)?;
                        report.rollups_deleted +=
                            decode_row(&blob, slots, row.get(0)?).map_or(0, |b| b.len() as u64);
                    }
                }
            }
        }
    }
    // A screenshot goes with its result.
    report.screenshots_deleted += crate::screenshots::prune(&tx, &checks, raw_cutoff)?;
    // Status spans live as long as day rollups: SLA reports over the
    // same history as the charts.
    let span_cutoff = now.saturating_sub(duration_ms(retention.day));
    {
        let mut delete = tx.prepare_cached(
            "DELETE FROM span WHERE check_id = ?1 AND start_ms < ?2 AND end_ms <= ?2",
        )?;
        for &check in &checks {
            report.spans_deleted += delete.execute(params![check, span_cutoff])? as u64;
        }
    }
    // So are the days findings were seen (and the contents they name).
    report.finding_days_deleted += findings::prune(&tx, &checks, span_cutoff)?;
    // Finished notifications only: one still pending or being sent is
    // never lost to retention, however old.
    let notifications_cutoff = now.saturating_sub(duration_ms(retention.notifications));
    report.notifications_deleted += tx
        .prepare_cached("DELETE FROM outbox WHERE created_at < ?1 AND state IN (2, 3)")?
        .execute(params![notifications_cutoff])? as u64;
    // Agent actions that ended, as long as delivered notifications.
    crate::agent_actions::prune(&tx, notifications_cutoff)?;
    // The links of deleted report mails (the kept reports stay).
    tx.prepare_cached(
        "DELETE FROM sla_report_mail WHERE outbox_id NOT IN (SELECT id FROM outbox)",
    )?
    .execute([])?;
    report.audit_deleted +=
        tx.prepare_cached("DELETE FROM audit WHERE at < ?1")?
            .execute(params![now.saturating_sub(duration_ms(retention.audit))])? as u64;
    // Action runs are kept as long as the audit log that names them.
    tx.prepare_cached(
        "DELETE FROM action_run WHERE started_at < ?1
         AND outcome NOT IN ('running', 'queued', 'awaiting_confirmation')",
    )?
    .execute(params![now.saturating_sub(duration_ms(retention.audit))])?;
    // Ended sessions were otherwise only swept at the next login.
    report.sessions_deleted +=
        crate::sessions::delete_dead(&tx, now, duration_ms(retention.session_idle))? as u64;
    // Every remaining result is at least `raw_cutoff` old, and its content's
    // `last_used` lags its time by at most the granularity.
    report.contents_deleted +=
        content::delete_unused(&tx, raw_cutoff.saturating_sub(LAST_USED_GRANULARITY_MS))?;
    tx.commit()?;
    st.contents.clear();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        // 1 ms ..= 100 ms: stats in units of 0.1 ms.
        let mut v: Vec<i64> = (1..=100).rev().map(|ms| ms * 1000).collect();
        assert_eq!(latency_stats(&mut v), Some([10, 500, 950, 990, 1000, 505]));
        let mut one = vec![700];
        assert_eq!(latency_stats(&mut one), Some([7, 7, 7, 7, 7, 7]));
        assert_eq!(latency_stats(&mut []), None);
        // n = 3: p50 rank ceil(1.5) = 2, p95 rank ceil(2.85) = 3; 149 µs
        // rounds down to 0.1 ms, 150 µs up to 0.2 ms.
        let mut three = vec![3000, 149, 150];
        assert_eq!(latency_stats(&mut three), Some([1, 2, 30, 30, 30, 11]));
    }

    #[test]
    fn bucket_division_rounds_towards_negative_infinity() {
        assert_eq!(floor_div(-1, 60_000), -1);
        assert_eq!(ceil_div(-1, 60_000), 0);
        assert_eq!(ceil_div(60_000, 60_000), 1);
        assert_eq!(ceil_div(60_001, 60_000), 2);
    }
}
