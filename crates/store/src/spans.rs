//! Status spans: each check's status as a timeline of intervals, kept as
//! long as day rollups (two years by default) so that SLA accounting over a
//! month or a year reads a few rows per status change instead of every raw
//! result.
//!
//! # How results become spans
//!
//! A result vouches for its check's status from its time until the next
//! result, but for no longer than the check's *allowed gap*
//! ([`CheckMeta::max_gap`](crate::CheckMeta::max_gap), given when the check
//! is registered; the monitor uses the interval, plus half the interval,
//! plus the timeout). [`Store::record`] applies it as results arrive:
//!
//! * results with the same status extend the open span;
//! * a result with another status closes the open span at its own time and
//!   opens a new one;
//! * a result that comes more than the allowed gap after the previous one
//!   closes the previous span at *previous + allowed gap*; the time between
//!   that and the new result is **unknown**;
//! * a result with status `Unknown` makes a span like any other, read back
//!   as unknown. That is how keepup's own outages show: while every
//!   connectivity reference fails, the monitor records failures as
//!   `Unknown` with the finding `MONITOR_OFFLINE`;
//! * [`Store::end_open_spans`], which the monitor calls when it starts and
//!   when it stops, ends every open span at that time (or at its allowed
//!   gap, if earlier): the time the daemon did not run is unknown even when
//!   it was shorter than the allowed gap. After a crash, the open spans end
//!   at their allowed gap;
//! * a result older than the check's latest one and recorded as
//!   *backfill* ([`ResultRecord::backfill`](crate::ResultRecord::backfill):
//!   an agent's backlog, delivered after the central judged newer times)
//!   takes its place in time order ([`respan`]): the stretch from the
//!   result before it to the first result after it is derived again from
//!   the raw results, and the span that holds that next result starts
//!   where the stretch says (earlier, when its status now runs on from
//!   before); every later span stands. So the timeline and SLA read it as
//!   if it had come on time, and a backlog costs each late result the rows
//!   around it, not the time since. Only the rule above on the daemon's
//!   stops is not applied again: a stop within the rewritten stretch
//!   shorter than the allowed gap is covered by the results around it. A
//!   late result older than every raw result kept, when spans of results
//!   pruned since cover its time, is raw history only (those spans cannot
//!   be derived again);
//! * a result older than the check's latest one that is *not* backfill,
//!   by at most [`MAX_STEP_BACK_MS`] (an hour), means the wall clock
//!   stepped back (NTP, a paused VM): the timeline
//!   follows the clock. The result becomes the current one; spans that
//!   start at its time or later (results dated in what is now the future)
//!   are deleted, the span that holds its time ends there, and the open
//!   span starts at it (or goes on, when the span that held its time had
//!   the same status). The results dated after it are deleted with their
//!   spans (their time was the clock's mistake; kept, a late result in
//!   that stretch and the rollups would read them as real), and the next
//!   results go on from it by the rules above: spans never overlap and no
//!   result is derived again per batch;
//! * a check registered without an allowed gap (one seen only through its
//!   results) has results that vouch for no time at all.
//!
//! Closed spans are rows of table `span`; the open one is
//! `current.span_start` with the current status, and ends at the latest
//! result plus the allowed gap (later results move that end).
//!
//! # Reading
//!
//! [`Store::status_spans`] streams the spans of several checks over
//! `[from, to)`: for each check, spans that cover the range exactly, with no
//! hole and no overlap, clipped to it, where every time no result vouches
//! for is a span with status `None`; adjacent spans of one check always
//! differ in status. The checks' spans are merged in order of start (then
//! of the check's position in the list). Memory is bounded by a page of
//! rows per check, and the store's lock is taken per page, so a reader over
//! a year does not hold up the recorder.
//!
//! # Stores older than version 8
//!
//! Migration fills `span` from what is left: the raw results, with the
//! rules above and an allowed gap estimated as one and a half times the
//! median time between the check's results (the next registration sets the
//! configured one); before the first raw result, from hour rollups: an hour
//! takes the status of its results when they all share it and are numerous
//! enough to have covered the hour without a gap longer than the estimated
//! allowed gap. Every other hour, and all time before the hour rollups, is
//! unknown.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use keepup_model::{CheckId, Status, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::StoreError;
use crate::content::status_from_code;
use crate::error::Fail;
use crate::packed;
use crate::store::{Current, Store};

/// Rows read per check and page.
const PAGE: usize = 512;

const HOUR: i64 = 3_600_000;

/// How long one check had one status (or none known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusSpan {
    /// The check: its position in the list given to [`Store::status_spans`].
    pub check: usize,
    /// Start, inclusive (ms since the epoch).
    pub from_ms: Timestamp,
    /// End, exclusive.
    pub to_ms: Timestamp,
    /// The status, `None` when unknown: no result vouches for the time, the
    /// result said `Unknown` (keepup offline: `MONITOR_OFFLINE`), or the
    /// daemon was not running. Never `Some(Status::Unknown)`.
    pub status: Option<Status>,
}

impl StatusSpan {
    /// Its length in milliseconds.
    pub fn duration_ms(&self) -> i64 {
        self.to_ms - self.from_ms
    }
}

/// A closed span as stored: start, end, status code.
pub(crate) type Closed = (Timestamp, Timestamp, i64);

/// Moves a check's open span forward with a result at `at` with status code
/// `status`, the previous result having been at `prev_at` with `prev_status`.
/// Returns the span this closes, if it is not empty.
pub(crate) fn advance(
    span_start: &mut Option<Timestamp>,
    prev: (Timestamp, i64),
    max_gap: i64,
    at: Timestamp,
    status: i64,
) -> Option<Closed> {
    let (prev_at, prev_status) = prev;
    let Some(start) = *span_start else {
        // Nothing open (first result, or after the daemon stopped).
        *span_start = Some(at);
        return None;
    };
    let covered_until = prev_at.saturating_add(max_gap);
    let end = if at > covered_until {
        covered_until
    } else if status != prev_status {
        at
    } else {
        return None;
    };
    *span_start = Some(at);
    (end > start).then_some((start, end, prev_status))
}

/// The stored span that holds `at` (`start <= at < end`): its start and
/// end, the open span's end being `None`. One indexed lookup, whatever the
/// number of the check's spans.
fn holding(
    tx: &Transaction<'_>,
    check: i64,
    at: Timestamp,
    open_start: Option<Timestamp>,
) -> Result<Option<(Timestamp, Option<Timestamp>)>, Fail> {
    let closed: Option<(Timestamp, Timestamp)> = tx
        .prepare_cached(
            "SELECT start_ms, end_ms FROM span WHERE check_id = ?1 AND start_ms <= ?2
             ORDER BY start_ms DESC LIMIT 1",
        )?
        .query_row(params![check, at], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(match closed {
        Some((start, end)) if end > at => Some((start, Some(end))),
        // Closed spans all end before the open one starts.
        _ => open_start.filter(|s| *s <= at).map(|s| (s, None)),
    })
}

/// Puts results recorded late (the oldest at `late.0`, the newest at
/// `late.1`) in their place in `check`'s spans, and moves `c` (`since`;
/// status and open span when the late results reach the current one).
///
/// Only the stretch the late results change is derived again: from the
/// result before them to the first result after them (`next`), walked in
/// time order with the rules of [`advance`]. The spans in between are
/// replaced; of those from `next` on, only the one that holds `next` can
/// change, and only its start (it may now begin earlier, merged with what
/// precedes it); every later span stands. So the work follows the late
/// results and the results between them, not the time since: a backlog
/// delivered report by report costs each report a few rows, where
/// deriving every span from the late result to now cost the whole backlog
/// per report (quadratic).
pub(crate) fn respan(
    tx: &Transaction<'_>,
    check: i64,
    max_gap: i64,
    late: (Timestamp, Timestamp),
    oldest_kept: Option<Timestamp>,
    c: &mut Current,
) -> Result<(), Fail> {
    let (from, to) = late;
    let before: Option<(Timestamp, i64)> = tx
        .prepare_cached(
            "SELECT ts, status FROM result WHERE check_id = ?1 AND ts < ?2 ORDER BY ts DESC LIMIT 1",
        )?
        .query_row(params![check, from], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let next: Option<(Timestamp, i64)> = tx
        .prepare_cached(
            "SELECT ts, status FROM result WHERE check_id = ?1 AND ts > ?2 ORDER BY ts LIMIT 1",
        )?
        .query_row(params![check, to], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let until = next.map_or(Timestamp::MAX, |n| n.0);
    // The span holding `next`, looked up before anything is deleted.
    let next_span = match next {
        Some((at, _)) => holding(tx, check, at, c.span_start)?,
        None => None,
    };
    let mut span_start = None;
    let walk_from = match before {
        Some((at, _)) => {
            // The span that holds the result before: it goes on with it.
            let held = holding(tx, check, at, c.span_start)?;
            span_start = held.map(|h| h.0);
            tx.prepare_cached(
                "DELETE FROM span WHERE check_id = ?1 AND start_ms >= ?2 AND start_ms <= ?3 AND end_ms > ?4",
            )?
            .execute(params![
                check,
                span_start.unwrap_or(at.saturating_add(1)),
                until,
                at
            ])?;
            at.saturating_add(1)
        }
        None => {
            // Older than every result kept (`oldest_kept`, before this
            // batch). Spans after it that began before that came from
            // results pruned since (raw results are kept days, spans
            // years) or from hour rollups: they cannot be derived again,
            // so the late result stays raw history only.
            let oldest_kept = oldest_kept.unwrap_or(Timestamp::MAX);
            let underived: bool = tx
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM span WHERE check_id = ?1 AND end_ms > ?2 AND start_ms < ?3)",
                )?
                .query_row(params![check, from, oldest_kept], |r| r.get(0))?;
            if underived || c.span_start.is_some_and(|s| s < oldest_kept) {
                return Ok(());
            }
            tx.prepare_cached(
                "DELETE FROM span WHERE check_id = ?1 AND start_ms >= ?2 AND start_ms <= ?3",
            )?
            .execute(params![check, from, until])?;
            from
        }
    };
    let mut prev = before;
    // The last result in the walk whose status differs from the one before.
    let mut change = None;
    let mut read = tx.prepare_cached(
        "SELECT ts, status FROM result WHERE check_id = ?1 AND ts >= ?2 AND ts <= ?3 ORDER BY ts",
    )?;
    let mut rows = read.query(params![check, walk_from, until])?;
    while let Some(row) = rows.next()? {
        let (at, status): (Timestamp, i64) = (row.get(0)?, row.get(1)?);
        match prev {
            None => {
                span_start = Some(at);
                change = Some(at);
            }
            Some(p) => {
                if let Some(closed) = advance(&mut span_start, p, max_gap, at, status) {
                    insert_closed(tx, check, closed)?;
                }
                if status != p.1 {
                    change = Some(at);
                }
            }
        }
        prev = Some((at, status));
    }
    drop(rows);
    let Some(last) = prev else {
        return Ok(());
    };
    match (next, span_start) {
        (Some((at, status)), Some(start)) => match next_span {
            // The span holding `next` now starts where the walk says.
            Some((_, Some(end))) => insert_closed(tx, check, (start, end, status))?,
            Some((_, None)) => c.span_start = Some(start),
            // `next` vouches for nothing (the daemon stopped at its time):
            // what the walk had open ends there.
            None if start < at => insert_closed(tx, check, (start, at, status))?,
            None => {}
        },
        (Some(_), None) => {}
        (None, _) => {
            // The walk reached the newest result: the open span is its.
            c.span_start = span_start;
            if last.0 == c.at {
                c.status = last.1;
            }
        }
    }
    // `since`: the first result of the run of the current status.
    let run_unchanged = match next {
        // The current run starts after the rewritten stretch.
        Some((at, _)) => c.since > at,
        None => false,
    };
    if !run_unchanged {
        if let Some(at) = change {
            c.since = at;
        } else if let Some((at, status)) = before
            && c.since > at
        {
            // No change of status in the stretch, and the run used to
            // start in it (a result in place of another took another
            // status): the run now goes on from before it.
            c.since = run_start(tx, check, at, status)?;
        }
    }
    Ok(())
}

/// The first result of the run of `status` that holds the result at `at`.
fn run_start(
    tx: &Transaction<'_>,
    check: i64,
    at: Timestamp,
    status: i64,
) -> Result<Timestamp, Fail> {
    let mut read = tx.prepare_cached(
        "SELECT ts, status FROM result WHERE check_id = ?1 AND ts <= ?2 ORDER BY ts DESC",
    )?;
    let mut rows = read.query(params![check, at])?;
    let mut start = at;
    while let Some(row) = rows.next()? {
        if row.get::<_, i64>(1)? != status {
            break;
        }
        start = row.get(0)?;
    }
    Ok(start)
}

/// A result that is not history, at `at` with status code `status`, older
/// than `c`'s (the wall clock stepped back): it becomes the current
/// result, and the timeline follows the clock. Spans that start at `at` or
/// later and results after `at` (dated in what is now the future) are deleted, the one
/// that holds `at` ends there, and the open span starts at `at`, or goes
/// on when the span that held `at` had the same status.
/// How far back a non-history result may be dated before the latest one
/// and still be taken for the wall clock stepping back (NTP correcting a
/// clock that ran ahead, a paused VM): the spans and results dated after
/// it are dropped. Further back, the clock itself is wrong (a host that
/// boots with a stale RTC would otherwise erase the timeline since): the
/// result is kept as history and the current state waits for the clock.
pub(crate) const MAX_STEP_BACK_MS: i64 = 3_600_000;

pub(crate) fn step_back(
    tx: &Transaction<'_>,
    check: i64,
    at: Timestamp,
    status: i64,
    c: &mut Current,
) -> Result<(), Fail> {
    let held = holding(tx, check, at, c.span_start)?;
    tx.prepare_cached("DELETE FROM span WHERE check_id = ?1 AND start_ms >= ?2")?
        .execute(params![check, at])?;
    // The results stamped by the clock that was ahead go with their spans:
    // kept, they would sit between the new results, and a late result in
    // that stretch or the rollups would read them as real.
    tx.prepare_cached("DELETE FROM result WHERE check_id = ?1 AND ts > ?2")?
        .execute(params![check, at])?;
    c.span_start = Some(at);
    match held {
        Some((start, end)) if start < at => {
            let held_status = match end {
                Some(_) => tx
                    .prepare_cached(
                        "SELECT status FROM span WHERE check_id = ?1 AND start_ms = ?2",
                    )?
                    .query_row(params![check, start], |r| r.get::<_, i64>(0))?,
                None => c.status,
            };
            if end.is_some() {
                tx.prepare_cached("DELETE FROM span WHERE check_id = ?1 AND start_ms = ?2")?
                    .execute(params![check, start])?;
            }
            if held_status == status {
                c.span_start = Some(start);
            } else {
                insert_closed(tx, check, (start, at, held_status))?;
            }
        }
        _ => {}
    }
    if status != c.status {
        c.since = at;
    } else {
        c.since = c.since.min(at);
    }
    c.status = status;
    c.at = at;
    Ok(())
}

pub(crate) fn insert_closed(tx: &Transaction<'_>, check: i64, span: Closed) -> Result<(), Fail> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO span (check_id, start_ms, end_ms, status) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![check, span.0, span.1, span.2])?;
    Ok(())
}

impl Store {
    /// Ends every check's open span at `at` (or at its allowed gap, if
    /// earlier), so the time until the check's next result is unknown. The
    /// monitor calls it when it starts and when it stops; see the `spans`
    /// module.
    pub fn end_open_spans(&self, at: Timestamp) -> Result<(), StoreError> {
        self.with_state("end open spans", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let open: Vec<(i64, Timestamp, Timestamp, i64, Option<i64>)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT s.check_id, s.span_start, s.ts, s.status, c.max_gap_ms
                     FROM current s JOIN checks c ON c.id = s.check_id
                     WHERE s.span_start IS NOT NULL",
                )?;
                let rows = stmt.query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })?;
                rows.collect::<Result<_, _>>()?
            };
            for (check, start, last, status, max_gap) in open {
                let end = last.saturating_add(max_gap.unwrap_or(0)).min(at);
                if end > start {
                    insert_closed(&tx, check, (start, end, status))?;
                }
            }
            tx.execute("UPDATE current SET span_start = NULL", [])?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The status spans of `checks` over `[from, to)`, streamed: for each
    /// check, spans covering the range with no hole (unknown time is a span
    /// with status `None`), merged across checks in order of start. A check
    /// the store has never seen is one unknown span. An empty or reversed
    /// range yields nothing. See the `spans` module for the rules.
    pub fn status_spans(&self, checks: &[CheckId], from: Timestamp, to: Timestamp) -> StatusSpans {
        let cursors = if from < to {
            checks
                .iter()
                .enumerate()
                .map(|(i, c)| Cursor::new(i, c.clone(), from, to))
                .collect()
        } else {
            Vec::new()
        };
        StatusSpans {
            store: self.clone(),
            cursors,
            heads: BinaryHeap::new(),
            primed: false,
            failed: false,
        }
    }
}

/// The iterator [`Store::status_spans`] returns.
#[derive(Debug)]
pub struct StatusSpans {
    store: Store,
    cursors: Vec<Cursor>,
    /// The next span of every check that has one, earliest first.
    heads: BinaryHeap<Reverse<Head>>,
    primed: bool,
    /// After an error the iterator ends.
    failed: bool,
}

/// A check's next span, ordered by start, then by the check's position.
#[derive(Debug, PartialEq, Eq)]
struct Head(StatusSpan);

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.from_ms, self.0.check).cmp(&(other.0.from_ms, other.0.check))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl StatusSpans {
    fn push_next(&mut self, i: usize) -> Result<(), StoreError> {
        if let Some(span) = self.cursors[i].next(&self.store)? {
            self.heads.push(Reverse(Head(span)));
        }
        Ok(())
    }

    fn step(&mut self) -> Result<Option<StatusSpan>, StoreError> {
        if !self.primed {
            self.primed = true;
            for i in 0..self.cursors.len() {
                self.push_next(i)?;
            }
        }
        let Some(Reverse(Head(span))) = self.heads.pop() else {
            return Ok(None);
        };
        self.push_next(span.check)?;
        Ok(Some(span))
    }
}

impl Iterator for StatusSpans {
    type Item = Result<StatusSpan, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.step();
        if next.is_err() {
            self.failed = true;
        }
        next.transpose()
    }
}

type OpenRow = (Timestamp, Timestamp, i64, Option<i64>);

/// Where reading one check's spans stands.
#[derive(Debug)]
struct Cursor {
    index: usize,
    check: CheckId,
    to: Timestamp,
    /// `checks.id`, looked up with the first page; `None` before that.
    db_id: Option<Option<i64>>,
    /// The smallest start of the next page of stored spans (the first page
    /// starts at the span that holds `from`).
    next_start: Option<Timestamp>,
    /// Start of the last stored span read.
    last_stored: Option<Timestamp>,
    stored_done: bool,
    open_done: bool,
    /// The open span as `current` held it when the last page was read:
    /// start, latest result, status code, allowed gap.
    open: Option<OpenRow>,
    /// Stored spans read and not yet used: start, end, status code.
    buffer: VecDeque<Closed>,
    /// Time covered by what was handed out (or is pending).
    pos: Timestamp,
    /// The last span, held back in case the next one has the same status.
    pending: Option<StatusSpan>,
    /// Spans complete and ready to hand out.
    ready: VecDeque<StatusSpan>,
    finished: bool,
    from: Timestamp,
}

impl Cursor {
    fn new(index: usize, check: CheckId, from: Timestamp, to: Timestamp) -> Self {
        Cursor {
            index,
            check,
            to,
            db_id: None,
            next_start: None,
            last_stored: None,
            stored_done: false,
            open_done: false,
            open: None,
            buffer: VecDeque::new(),
            pos: from,
            pending: None,
            ready: VecDeque::new(),
            finished: false,
            from,
        }
    }

    fn next(&mut self, store: &Store) -> Result<Option<StatusSpan>, StoreError> {
        loop {
            if let Some(span) = self.ready.pop_front() {
                return Ok(Some(span));
            }
            if self.finished {
                return Ok(self.pending.take());
            }
            match self.next_stored(store)? {
                Some((start, end, code)) => {
                    let (from, to) = (start.max(self.pos), end.min(self.to));
                    if to <= from {
                        continue;
                    }
                    if from > self.pos {
                        self.feed(self.pos, from, None);
                    }
                    let status = match status_from_code(code)
                        .map_err(|e| e.at(store.path(), "status spans"))?
                    {
                        Status::Unknown => None,
                        known => Some(known),
                    };
                    self.feed(from, to, status);
                    self.pos = to;
                }
                None => {
                    if self.pos < self.to {
                        self.feed(self.pos, self.to, None);
                        self.pos = self.to;
                    }
                    self.finished = true;
                }
            }
        }
    }

    /// Appends `[from, to)` to the output, merging it into the pending span
    /// when their statuses agree.
    fn feed(&mut self, from: Timestamp, to: Timestamp, status: Option<Status>) {
        if let Some(p) = &mut self.pending
            && p.status == status
            && p.to_ms == from
        {
            p.to_ms = to;
            return;
        }
        let span = StatusSpan {
            check: self.index,
            from_ms: from,
            to_ms: to,
            status,
        };
        if let Some(done) = self.pending.replace(span) {
            self.ready.push_back(done);
        }
    }

    /// The next stored span (closed, then the open one), in order of start.
    fn next_stored(&mut self, store: &Store) -> Result<Option<Closed>, StoreError> {
        if self.buffer.is_empty() && !self.stored_done {
            self.read_page(store)?;
        }
        if let Some(span) = self.buffer.pop_front() {
            return Ok(Some(span));
        }
        if self.open_done {
            return Ok(None);
        }
        self.open_done = true;
        let after = self.last_stored;
        // Read with the last page, in its transaction (see read_page).
        Ok(self.open.take().and_then(|(start, last, status, max_gap)| {
            // Closed meanwhile and already read as a stored span: skip.
            let fresh = after.is_none_or(|a| start > a);
            (fresh && start < self.to)
                .then(|| (start, last.saturating_add(max_gap.unwrap_or(0)), status))
        }))
    }

    fn read_page(&mut self, store: &Store) -> Result<(), StoreError> {
        let (check, from, to) = (self.check.as_str().to_owned(), self.from, self.to);
        let (db_id, next_start) = (self.db_id, self.next_start);
        let (id, rows, open) = store.with_reader("status spans", |conn| {
            // One read transaction for the page and, with the last page,
            // the open span: a span the recorder closes in between is then
            // either both stored and gone from `current`, or neither.
            let tx = conn.transaction()?;
            let id = match db_id {
                Some(id) => id,
                None => tx
                    .prepare_cached("SELECT id FROM checks WHERE key = ?1")?
                    .query_row(params![check], |r| r.get::<_, i64>(0))
                    .optional()?,
            };
            let Some(id) = id else {
                return Ok((None, Vec::new(), None));
            };
            let first = match next_start {
                Some(s) => s,
                // The span that holds `from`, if one does.
                None => tx
                    .prepare_cached(
                        "SELECT max(start_ms) FROM span WHERE check_id = ?1 AND start_ms <= ?2",
                    )?
                    .query_row(params![id, from], |r| r.get::<_, Option<i64>>(0))?
                    .unwrap_or(from),
            };
            let rows = tx
                .prepare_cached(
                    "SELECT start_ms, end_ms, status FROM span
                     WHERE check_id = ?1 AND start_ms >= ?2 AND start_ms < ?3
                     ORDER BY start_ms LIMIT ?4",
                )?
                .query_map(params![id, first, to, PAGE as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<Vec<Closed>, _>>()?;
            let open = if rows.len() < PAGE {
                tx.prepare_cached(
                    "SELECT s.span_start, s.ts, s.status, c.max_gap_ms
                     FROM current s JOIN checks c ON c.id = s.check_id
                     WHERE s.check_id = ?1 AND s.span_start IS NOT NULL",
                )?
                .query_row(params![id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?
            } else {
                None
            };
            tx.commit()?;
            Ok((Some(id), rows, open))
        })?;
        self.db_id = Some(id);
        self.open = open;
        self.stored_done = rows.len() < PAGE;
        if let Some(last) = rows.last() {
            self.next_start = Some(last.0.saturating_add(1));
            self.last_stored = Some(last.0);
        } else if self.next_start.is_none() {
            self.next_start = Some(from);
        }
        self.buffer.extend(rows);
        Ok(())
    }
}

/// Migration to version 8: fills `span` and `current.span_start` from the
/// raw results and hour rollups, and estimates each check's allowed gap
/// (see the module doc).
pub(crate) fn backfill(tx: &Transaction<'_>) -> Result<(), Fail> {
    let checks: Vec<i64> = {
        let mut stmt = tx.prepare("SELECT id FROM checks ORDER BY id")?;
        stmt.query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?
    };
    for check in checks {
        let results: Vec<(Timestamp, i64)> = {
            let mut stmt =
                tx.prepare_cached("SELECT ts, status FROM result WHERE check_id = ?1 ORDER BY ts")?;
            stmt.query_map(params![check], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?
        };
        let estimate = match estimated_max_gap(&results) {
            Some(gap) => Some(gap),
            None => gap_from_hours(tx, check)?,
        };
        let Some(max_gap) = estimate else {
            continue;
        };
        tx.execute(
            "UPDATE checks SET max_gap_ms = ?2 WHERE id = ?1",
            params![check, max_gap],
        )?;
        let first_raw = results.first().map_or(Timestamp::MAX, |r| r.0);
        backfill_from_hours(tx, check, max_gap, first_raw)?;
        let mut span_start = None;
        let mut prev = None;
        for &(at, status) in &results {
            match prev {
                None => span_start = Some(at),
                Some(prev) => {
                    if let Some(closed) = advance(&mut span_start, prev, max_gap, at, status) {
                        insert_closed(tx, check, closed)?;
                    }
                }
            }
            prev = Some((at, status));
        }
        tx.execute(
            "UPDATE current SET span_start = ?2 WHERE check_id = ?1",
            params![check, span_start],
        )?;
    }
    Ok(())
}

/// One and a half times the median time between consecutive results, or
/// `None` with fewer than two results.
fn estimated_max_gap(results: &[(Timestamp, i64)]) -> Option<i64> {
    let mut gaps: Vec<i64> = results.windows(2).map(|w| w[1].0 - w[0].0).collect();
    if gaps.is_empty() {
        return None;
    }
    let mid = gaps.len() / 2;
    let (_, median, _) = gaps.select_nth_unstable(mid);
    Some(median.saturating_mul(3) / 2)
}

/// One and a half times the interval that the fullest hour rollup of
/// `check` implies, for checks without raw results.
fn gap_from_hours(tx: &Transaction<'_>, check: i64) -> Result<Option<i64>, Fail> {
    let mut stmt =
        tx.prepare_cached("SELECT buckets FROM rollup_hour_by_day WHERE check_id = ?1")?;
    let mut rows = stmt.query(params![check])?;
    let mut fullest = 0u32;
    while let Some(row) = rows.next()? {
        let blob: Vec<u8> = row.get(0)?;
        for bucket in packed::decode(&blob, 24)? {
            fullest = fullest.max(bucket.counts.iter().sum());
        }
    }
    Ok((fullest > 0).then(|| HOUR / i64::from(fullest) * 3 / 2))
}

/// Spans from the hour rollups that end by `until` (see the module doc).
fn backfill_from_hours(
    tx: &Transaction<'_>,
    check: i64,
    max_gap: i64,
    until: Timestamp,
) -> Result<(), Fail> {
    let mut stmt = tx.prepare_cached(
        "SELECT period, buckets FROM rollup_hour_by_day WHERE check_id = ?1 ORDER BY period",
    )?;
    let mut rows = stmt.query(params![check])?;
    let mut open: Option<Closed> = None;
    while let Some(row) = rows.next()? {
        let period: i64 = row.get(0)?;
        let blob: Vec<u8> = row.get(1)?;
        for bucket in packed::decode(&blob, 24)? {
            let start = (period * 24 + i64::from(bucket.slot)) * HOUR;
            let end = start + HOUR;
            if end > until {
                break;
            }
            let statuses: Vec<usize> = (0..4).filter(|&i| bucket.counts[i] > 0).collect();
            let known = match statuses[..] {
                [one] if i64::from(bucket.counts[one]).saturating_mul(max_gap) >= HOUR => {
                    Some(one as i64)
                }
                _ => None,
            };
            match (&mut open, known) {
                (Some(o), Some(s)) if o.1 == start && o.2 == s => o.1 = end,
                (_, known) => {
                    if let Some(done) = open.take() {
                        insert_closed(tx, check, done)?;
                    }
                    open = known.map(|s| (start, end, s));
                }
            }
        }
    }
    if let Some(done) = open {
        insert_closed(tx, check, done)?;
    }
    Ok(())
}
