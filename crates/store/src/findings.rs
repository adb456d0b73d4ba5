//! Where a check's findings were seen, per UTC day: the `finding_day` table
//! that [`Store::findings_between`](crate::Store::findings_between) reads.
//!
//! `Store::record` adds every result whose outcome has findings to the row
//! of its check, UTC day and stored content (first and last time, how many
//! results). Consecutive results of a check share their content, so a batch
//! writes one row per check at most, and a result without findings writes
//! nothing. A month's security section then reads about one row per day
//! and distinct outcome of the checks that had findings, instead of every
//! raw result of every check (43 M rows for 1,000 checks at 60 s).
//!
//! Rows live as long as day rollups and status spans (compaction deletes
//! the days before that retention), and keep the contents they refer to
//! from being deleted, so the security section of an older month is as
//! complete as its availability figures. A range that starts or ends
//! inside a UTC day (a month in the contract's time zone) reads the raw
//! results of that day for the outcomes that straddle its edge; once raw
//! retention has deleted them, the day's row is clipped to the range and
//! counted whole (documented in the README).

use std::collections::HashMap;

use keepup_model::{Finding, Timestamp};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::FindingSeen;
use crate::content;
use crate::error::Fail;

/// The width of a row: one UTC day.
pub(crate) const DAY_MS: i64 = 86_400_000;

/// The UTC day of `at`, rounded towards negative infinity like the
/// backfill's SQL.
fn day_of(at: Timestamp) -> i64 {
    at.div_euclid(DAY_MS)
}

/// Results with findings of one check, one day and one content, not yet
/// written.
struct Pending {
    check: i64,
    day: i64,
    content: i64,
    first: Timestamp,
    last: Timestamp,
    results: i64,
}

/// Collects a batch's results with findings (in check and time order, as
/// `record_batch` walks them) and writes one upsert per run of results
/// sharing check, day and content.
#[derive(Default)]
pub(crate) struct Tally {
    pending: Option<Pending>,
}

impl Tally {
    /// Counts the result of `check` at `at` whose stored content is
    /// `content` (which has findings).
    pub(crate) fn note(
        &mut self,
        tx: &Transaction<'_>,
        check: i64,
        at: Timestamp,
        content: i64,
    ) -> Result<(), Fail> {
        let day = day_of(at);
        if let Some(p) = &mut self.pending
            && (p.check, p.day, p.content) == (check, day, content)
        {
            p.first = p.first.min(at);
            p.last = p.last.max(at);
            p.results += 1;
            return Ok(());
        }
        self.flush(tx)?;
        self.pending = Some(Pending {
            check,
            day,
            content,
            first: at,
            last: at,
            results: 1,
        });
        Ok(())
    }

    /// Writes what is pending; call before the transaction commits.
    pub(crate) fn flush(&mut self, tx: &Transaction<'_>) -> Result<(), Fail> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        tx.prepare_cached(
            "INSERT INTO finding_day (check_id, day, content_id, first_ms, last_ms, results)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)
             ON CONFLICT (check_id, day, content_id) DO UPDATE SET
               first_ms = min(first_ms, excluded.first_ms),
               last_ms = max(last_ms, excluded.last_ms),
               results = results + excluded.results",
        )?
        .execute(params![
            p.check, p.day, p.content, p.first, p.last, p.results
        ])?;
        Ok(())
    }
}

/// The distinct findings of `check`'s results with `from <= at < to`
/// (see [`Store::findings_between`](crate::Store::findings_between)).
pub(crate) fn between(
    conn: &Connection,
    check: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<FindingSeen>, Fail> {
    if from >= to {
        return Ok(Vec::new());
    }
    let Some(check) = conn
        .prepare_cached("SELECT id FROM checks WHERE key = ?1")?
        .query_row(params![check], |r| r.get::<_, i64>(0))
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let mut rows_stmt = conn.prepare_cached(
        "SELECT f.day, f.content_id, f.first_ms, f.last_ms, f.results, t.findings
         FROM finding_day f JOIN content t ON t.id = f.content_id
         WHERE f.check_id = ?1 AND f.day >= ?2 AND f.day <= ?3 AND f.last_ms >= ?4 AND f.first_ms < ?5
         ORDER BY f.day, f.first_ms",
    )?;
    let mut rows = rows_stmt.query(params![check, day_of(from), day_of(to - 1), from, to])?;
    // Parsed once per content, however many days it spans.
    let mut parsed: HashMap<i64, Vec<Finding>> = HashMap::new();
    let mut out: Vec<FindingSeen> = Vec::new();
    while let Some(row) = rows.next()? {
        let (day, content_id): (i64, i64) = (row.get(0)?, row.get(1)?);
        let (first, last, results): (Timestamp, Timestamp, i64) =
            (row.get(2)?, row.get(3)?, row.get(4)?);
        let seen = if first >= from && last < to {
            Some((first, last, results))
        } else {
            straddling(
                conn,
                check,
                day,
                content_id,
                (first, last, results),
                from,
                to,
            )?
        };
        let Some((first, last, results)) = seen else {
            continue;
        };
        let findings = match parsed.get(&content_id) {
            Some(f) => f,
            None => {
                let json: Option<String> = row.get(5)?;
                let list = match json {
                    Some(json) => content::findings_from_json(&json)?,
                    None => Vec::new(),
                };
                parsed.entry(content_id).or_insert(list)
            }
        };
        let results = results.max(0) as u64;
        for finding in findings {
            // One finding in several outcomes (another message, the same
            // certificate warning) is one entry.
            match out.iter_mut().find(|s| &s.finding == finding) {
                Some(seen) => {
                    seen.first = seen.first.min(first);
                    seen.last = seen.last.max(last);
                    seen.results += results;
                }
                None => out.push(FindingSeen {
                    finding: finding.clone(),
                    first,
                    last,
                    results,
                }),
            }
        }
    }
    out.sort_by_key(|s| s.first);
    Ok(out)
}

/// The part within `[from, to)` of a day's row that reaches outside it:
/// from the raw results when they still hold the whole day's count for
/// that content, otherwise the row clipped to the range and counted whole.
fn straddling(
    conn: &Connection,
    check: i64,
    day: i64,
    content_id: i64,
    (first, last, results): (Timestamp, Timestamp, i64),
    from: Timestamp,
    to: Timestamp,
) -> Result<Option<(Timestamp, Timestamp, i64)>, Fail> {
    let start = day.saturating_mul(DAY_MS);
    let end = start.saturating_add(DAY_MS);
    let (in_first, in_last, in_count, day_count): (Option<i64>, Option<i64>, i64, i64) = conn
        .prepare_cached(
            "SELECT MIN(CASE WHEN ts >= ?4 AND ts < ?5 THEN ts END),
                    MAX(CASE WHEN ts >= ?4 AND ts < ?5 THEN ts END),
                    COALESCE(SUM(ts >= ?4 AND ts < ?5), 0), COUNT(*)
             FROM result WHERE check_id = ?1 AND ts >= ?2 AND ts < ?3 AND content_id = ?6",
        )?
        .query_row(params![check, start, end, from, to, content_id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    if day_count == results {
        return Ok(match (in_first, in_last) {
            (Some(f), Some(l)) => Some((f, l, in_count)),
            _ => None,
        });
    }
    Ok(Some((first.max(from), last.min(to - 1), results)))
}

/// Deletes the rows of days that ended at or before `cutoff`, for every
/// check in `checks`; returns how many.
pub(crate) fn prune(tx: &Transaction<'_>, checks: &[i64], cutoff: Timestamp) -> Result<u64, Fail> {
    let mut delete =
        tx.prepare_cached("DELETE FROM finding_day WHERE check_id = ?1 AND day < ?2")?;
    let mut deleted = 0;
    for &check in checks {
        deleted += delete.execute(params![check, day_of(cutoff)])? as u64;
    }
    Ok(deleted)
}
