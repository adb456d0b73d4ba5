//! The durable notification outbox.
//!
//! A notification is written here before anyone tries to send it, and
//! marked sent only after its channel confirmed. The delivery loop claims a
//! due entry (`Sending`, attempt counted, committed) before calling the
//! channel, so after a crash an entry that was being sent is tried again:
//! delivery is at least once, and providers that deduplicate (PagerDuty's
//! dedup_key, Matrix's transaction id) make the repeat harmless. An entry
//! confirmed `Sent` is never sent again.

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::{Row, params};

/// Where an entry is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Waiting for its next attempt.
    Pending,
    /// Claimed by the delivery loop; if the process died, it is due again.
    Sending,
    /// Confirmed by the channel.
    Sent,
    /// Given up (attempts exhausted, or a permanent error); a fallback
    /// channel may have taken over.
    Failed,
}

impl OutboxState {
    fn code(self) -> i64 {
        match self {
            OutboxState::Pending => 0,
            OutboxState::Sending => 1,
            OutboxState::Sent => 2,
            OutboxState::Failed => 3,
        }
    }
    fn from_code(c: i64) -> Result<Self, Fail> {
        Ok(match c {
            0 => OutboxState::Pending,
            1 => OutboxState::Sending,
            2 => OutboxState::Sent,
            3 => OutboxState::Failed,
            other => return Err(Fail::Corrupt(format!("outbox state {other}"))),
        })
    }
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sending => "sending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }
}

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Stable per incident (or group): providers deduplicate on it.
    pub dedup_key: String,
    /// The channel id from the configuration.
    pub channel: String,
    /// The incident it is about, if any.
    pub incident: Option<i64>,
    /// The notification, serialised (JSON); never holds secrets.
    pub payload: String,
    /// Not before this time.
    pub not_before: Timestamp,
}

/// An entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Its number.
    pub id: i64,
    /// When it was enqueued.
    pub created_at: Timestamp,
    /// Dedup key.
    pub dedup_key: String,
    /// Channel id.
    pub channel: String,
    /// Incident.
    pub incident: Option<i64>,
    /// Payload (JSON).
    pub payload: String,
    /// State.
    pub state: OutboxState,
    /// Attempts made (including one in flight).
    pub attempts: u32,
    /// Next attempt.
    pub next_attempt_at: Timestamp,
    /// The last delivery error (never holds secrets).
    pub last_error: Option<String>,
    /// When the channel confirmed.
    pub sent_at: Option<Timestamp>,
    /// The provider's id for the message, when it gave one.
    pub provider_id: Option<String>,
    /// When delivery was last tried (None before the first attempt, and
    /// for entries older than the column).
    pub last_attempt_at: Option<Timestamp>,
}

/// A page of the outbox: newest first, optionally one channel or state.
#[derive(Debug, Clone, Default)]
pub struct OutboxQuery {
    /// Only this channel.
    pub channel: Option<String>,
    /// Only entries in this state.
    pub state: Option<OutboxState>,
    /// Only entries older than this one (the last of the previous page).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: usize,
}

/// How a channel's deliveries have gone lately.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelHealth {
    /// The last confirmed delivery.
    pub last_sent_at: Option<Timestamp>,
    /// The last failed attempt, and its error.
    pub last_failure: Option<(Timestamp, String)>,
    /// Entries that failed (given up or waiting to retry) since the last
    /// confirmed delivery.
    pub failing_streak: u32,
    /// Entries waiting for delivery.
    pub waiting: u32,
}

const SELECT: &str =
    "SELECT id, created_at, dedup_key, channel, incident_id, payload, state, attempts,
    next_attempt_at, last_error, sent_at, provider_id, last_attempt_at FROM outbox";

fn from_row(r: &Row<'_>) -> Result<OutboxEntry, Fail> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        created_at: r.get(1)?,
        dedup_key: r.get(2)?,
        channel: r.get(3)?,
        incident: r.get(4)?,
        payload: r.get(5)?,
        state: OutboxState::from_code(r.get(6)?)?,
        attempts: r.get::<_, i64>(7)?.clamp(0, u32::MAX as i64) as u32,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        sent_at: r.get(10)?,
        provider_id: r.get(11)?,
        last_attempt_at: r.get(12)?,
    })
}

/// Inserts notifications inside the caller's transaction; returns their ids.
pub(crate) fn insert(
    tx: &rusqlite::Transaction<'_>,
    now: Timestamp,
    items: &[Outgoing],
) -> Result<Vec<i64>, Fail> {
    let mut ids = Vec::with_capacity(items.len());
    let mut stmt = tx.prepare_cached(
        "INSERT INTO outbox (created_at, dedup_key, channel, incident_id, payload, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for o in items {
        stmt.execute(params![
            now,
            o.dedup_key,
            o.channel,
            o.incident,
            o.payload,
            o.not_before.max(now)
        ])?;
        ids.push(tx.last_insert_rowid());
    }
    Ok(ids)
}

impl Store {
    /// Enqueues notifications in one transaction; returns their ids.
    pub fn enqueue(&self, now: Timestamp, items: &[Outgoing]) -> Result<Vec<i64>, StoreError> {
        self.with_state("enqueue notifications", |st| {
            let tx = st.conn.transaction()?;
            let ids = insert(&tx, now, items)?;
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Claims up to `limit` due entries (pending, or left `Sending` by a
    /// crash) for delivery: each is marked `Sending` with its attempt
    /// counted before it is returned. `lease_ms` later an unconfirmed claim
    /// is due again.
    pub fn claim_due(
        &self,
        now: Timestamp,
        limit: usize,
        lease_ms: i64,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with_state("claim notifications", |st| {
            let tx = st.conn.transaction()?;
            let mut out = Vec::new();
            {
                let mut stmt = tx.prepare_cached(&format!(
                    "{SELECT} WHERE state IN (0, 1) AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2"
                ))?;
                let mut rows = stmt.query(params![now, limit.min(10_000) as i64])?;
                while let Some(r) = rows.next()? {
                    out.push(from_row(r)?);
                }
            }
            for e in &mut out {
                e.attempts += 1;
                e.state = OutboxState::Sending;
                e.next_attempt_at = now + lease_ms;
                e.last_attempt_at = Some(now);
                tx.prepare_cached("UPDATE outbox SET state = 1, attempts = ?2, next_attempt_at = ?3, last_attempt_at = ?4 WHERE id = ?1")?
                    .execute(params![e.id, e.attempts, e.next_attempt_at, now])?;
            }
            tx.commit()?;
            Ok(out)
        })
    }

    /// Makes every entry left `Sending` by a previous process due now. Call
    /// at start-up, before delivering, when this is the only process
    /// delivering from this store: an unconfirmed send is then repeated at
    /// once instead of after its lease. Returns how many.
    pub fn requeue_in_flight(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.with_state("requeue notifications", |st| {
            Ok(st
                .conn
                .prepare_cached(
                    "UPDATE outbox SET state = 0, next_attempt_at = ?1 WHERE state = 1",
                )?
                .execute(params![now])?)
        })
    }

    /// The channel confirmed delivery.
    pub fn mark_sent(
        &self,
        id: i64,
        at: Timestamp,
        provider_id: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with_state("mark notification sent", |st| {
            st.conn
                .prepare_cached("UPDATE outbox SET state = 2, sent_at = ?2, provider_id = ?3, last_error = NULL WHERE id = ?1")?
                .execute(params![id, at, provider_id])?;
            Ok(())
        })
    }

    /// Delivery failed: try again at `retry_at`, or give up (`None`).
    pub fn mark_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.with_state("mark notification failed", |st| {
            match retry_at {
                Some(at) => st
                    .conn
                    .prepare_cached("UPDATE outbox SET state = 0, last_error = ?2, next_attempt_at = ?3 WHERE id = ?1")?
                    .execute(params![id, error, at])?,
                None => st
                    .conn
                    .prepare_cached("UPDATE outbox SET state = 3, last_error = ?2 WHERE id = ?1")?
                    .execute(params![id, error])?,
            };
            Ok(())
        })
    }

    /// How many notifications are in each state, within the outbox's
    /// retention (for `/metrics`); states without any are left out.
    pub fn outbox_states(&self) -> Result<Vec<(OutboxState, u64)>, StoreError> {
        self.with_state("count notifications", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT state, count(*) FROM outbox GROUP BY state ORDER BY state",
            )?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                let n: i64 = row.get(1)?;
                out.push((OutboxState::from_code(row.get(0)?)?, n.max(0) as u64));
            }
            Ok(out)
        })
    }

    /// The incidents some notification was queued for (as the leader of
    /// its group), within the outbox's retention.
    pub fn incidents_in_outbox(&self) -> Result<std::collections::HashSet<i64>, StoreError> {
        self.id_set(
            "list notified incidents",
            "SELECT DISTINCT incident_id FROM outbox WHERE incident_id IS NOT NULL",
        )
    }

    /// The notifications about incidents queued in `[from, to)`, oldest
    /// first, without their payloads (a month's report reads thousands and
    /// needs only who was told, when and how it went). One pass over the
    /// creation-time index, not a scan of the outbox per incident.
    pub fn incident_notifications_between(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with_state("list incidents' notifications", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT id, created_at, dedup_key, channel, incident_id, '', state, attempts,
                 next_attempt_at, last_error, sent_at, provider_id, last_attempt_at FROM outbox
                 WHERE created_at >= ?1 AND created_at < ?2 AND incident_id IS NOT NULL
                 ORDER BY created_at, id",
            )?;
            let mut rows = stmt.query(params![from, to])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// A page of entries as `query` says, newest first.
    pub fn outbox_page(&self, query: &OutboxQuery) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with_state("list a page of notifications", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "{SELECT} WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR state = ?2)
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ))?;
            let state = query.state.map(OutboxState::code);
            let mut rows = stmt.query(params![
                query.channel,
                state,
                query.before,
                query.limit.min(10_000) as i64
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// The notifications queued about incident `id` (as its group's
    /// leader), oldest first.
    pub fn incident_notifications(&self, id: i64) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with_state("list an incident's notifications", |st| {
            let mut stmt = st
                .conn
                .prepare_cached(&format!("{SELECT} WHERE incident_id = ?1 ORDER BY id"))?;
            let mut rows = stmt.query(params![id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// How `channel`'s deliveries have gone, from the entries in the
    /// outbox (within its retention).
    pub fn channel_health(&self, channel: &str) -> Result<ChannelHealth, StoreError> {
        self.with_state("read channel health", |st| {
            let mut health = ChannelHealth::default();
            let (last_sent_id, last_sent_at): (Option<i64>, Option<Timestamp>) = st
                .conn
                .prepare_cached(
                    "SELECT MAX(id), MAX(sent_at) FROM outbox WHERE channel = ?1 AND state = 2",
                )?
                .query_row(params![channel], |r| Ok((r.get(0)?, r.get(1)?)))?;
            health.last_sent_at = last_sent_at;
            // A confirmed delivery clears the entry's error, so an error
            // left on an entry is a failure: given up, or waiting to retry.
            let mut stmt = st.conn.prepare_cached(
                "SELECT COALESCE(last_attempt_at, created_at), last_error FROM outbox
                 WHERE channel = ?1 AND last_error IS NOT NULL
                 ORDER BY COALESCE(last_attempt_at, created_at) DESC, id DESC LIMIT 1",
            )?;
            let mut rows = stmt.query(params![channel])?;
            if let Some(r) = rows.next()? {
                health.last_failure = Some((r.get(0)?, r.get(1)?));
            }
            let (streak, waiting): (i64, i64) = st
                .conn
                .prepare_cached(
                    "SELECT COUNT(*) FILTER (WHERE last_error IS NOT NULL AND id > ?2),
                            COUNT(*) FILTER (WHERE state IN (0, 1))
                     FROM outbox WHERE channel = ?1",
                )?
                .query_row(params![channel, last_sent_id.unwrap_or(0)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            health.failing_streak = streak.clamp(0, u32::MAX as i64) as u32;
            health.waiting = waiting.clamp(0, u32::MAX as i64) as u32;
            Ok(health)
        })
    }

    /// The most recent entries, newest first.
    pub fn outbox(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with_state("list notifications", |st| {
            let mut stmt = st
                .conn
                .prepare_cached(&format!("{SELECT} ORDER BY id DESC LIMIT ?1"))?;
            let mut rows = stmt.query(params![limit.min(100_000) as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(channel: &str) -> Outgoing {
        Outgoing {
            dedup_key: "inc-1".into(),
            channel: channel.into(),
            incident: None,
            payload: "{}".into(),
            not_before: 0,
        }
    }

    #[test]
    fn pages_filter_and_channel_health_counts_failures_since_the_last_delivery() {
        let s = Store::open_in_memory().unwrap();
        let incident = |check: &str| {
            s.open_incident(&crate::NewIncident {
                check: keepup_model::CheckId(check.into()),
                status: keepup_model::Status::Down,
                opened_at: 0,
                detected_at: 0,
                cause: None,
                suppressed: false,
                maintenance: false,
                message: String::new(),
                findings: Vec::new(),
            })
            .unwrap()
        };
        let (seven, eight) = (incident("a/x"), incident("a/y"));
        let with_incident = |channel: &str, incident| Outgoing {
            incident: Some(incident),
            ..item(channel)
        };
        let ids = s
            .enqueue(
                1_000,
                &[
                    with_incident("mail", seven),
                    with_incident("mail", eight),
                    item("mail"),
                    with_incident("sms", seven),
                ],
            )
            .unwrap();
        s.claim_due(2_000, 10, 30_000).unwrap();
        s.mark_sent(ids[0], 2_100, None).unwrap();
        s.mark_failed(ids[1], "HTTP 500", None).unwrap();
        s.mark_failed(ids[2], "HTTP 502", Some(9_000)).unwrap();
        s.mark_sent(ids[3], 2_200, None).unwrap();

        let mail = s.channel_health("mail").unwrap();
        assert_eq!(mail.last_sent_at, Some(2_100));
        assert_eq!(mail.last_failure.as_ref().map(|f| f.0), Some(2_000));
        assert_eq!(
            mail.failing_streak, 2,
            "both failures came after the delivery"
        );
        assert_eq!(mail.waiting, 1, "the one retrying");
        assert_eq!(s.channel_health("sms").unwrap().failing_streak, 0);
        assert_eq!(s.channel_health("none").unwrap(), ChannelHealth::default());

        let page = |channel: Option<&str>, state, before, limit| {
            s.outbox_page(&OutboxQuery {
                channel: channel.map(str::to_owned),
                state,
                before,
                limit,
            })
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect::<Vec<_>>()
        };
        assert_eq!(page(None, None, None, 2), [ids[3], ids[2]]);
        assert_eq!(page(None, None, Some(ids[2]), 10), [ids[1], ids[0]]);
        assert_eq!(
            page(Some("mail"), Some(OutboxState::Failed), None, 10),
            [ids[1]]
        );
        assert_eq!(
            s.incident_notifications(seven)
                .unwrap()
                .iter()
                .map(|e| e.id)
                .collect::<Vec<_>>(),
            [ids[0], ids[3]]
        );
    }

    #[test]
    fn an_entry_is_claimed_retried_and_sent_once() {
        let s = Store::open_in_memory().unwrap();
        let ids = s
            .enqueue(
                1_000,
                &[
                    item("mail"),
                    Outgoing {
                        not_before: 5_000,
                        ..item("sms")
                    },
                ],
            )
            .unwrap();
        let due = s.claim_due(1_000, 10, 30_000).unwrap();
        assert_eq!(due.len(), 1, "the sms is not due yet");
        assert_eq!(
            (due[0].id, due[0].attempts, due[0].state),
            (ids[0], 1, OutboxState::Sending)
        );
        assert!(
            s.claim_due(2_000, 10, 30_000).unwrap().is_empty(),
            "a claimed entry is leased"
        );
        s.mark_failed(ids[0], "HTTP 503", Some(3_000)).unwrap();
        let due = s.claim_due(5_000, 10, 30_000).unwrap();
        assert_eq!(due.len(), 2);
        let mail = due.iter().find(|e| e.id == ids[0]).unwrap();
        assert_eq!(
            (mail.attempts, mail.last_error.as_deref()),
            (2, Some("HTTP 503"))
        );
        s.mark_sent(ids[0], 5_100, Some("msg-42")).unwrap();
        s.mark_failed(ids[1], "HTTP 400 bad number", None).unwrap();
        assert!(
            s.claim_due(1_000_000, 10, 30_000).unwrap().is_empty(),
            "sent and failed entries are done"
        );
        let all = s.outbox(10).unwrap();
        assert_eq!(all[1].state, OutboxState::Sent);
        assert_eq!(all[1].provider_id.as_deref(), Some("msg-42"));
        assert_eq!(all[0].state, OutboxState::Failed);
    }

    #[test]
    fn a_claim_left_by_a_crash_is_due_again_after_its_lease() {
        let s = Store::open_in_memory().unwrap();
        let ids = s.enqueue(0, &[item("mail")]).unwrap();
        assert_eq!(s.claim_due(0, 10, 30_000).unwrap().len(), 1);
        // The process died before confirming.
        assert!(s.claim_due(29_000, 10, 30_000).unwrap().is_empty());
        let again = s.claim_due(30_000, 10, 30_000).unwrap();
        assert_eq!((again[0].id, again[0].attempts), (ids[0], 2));
    }

    #[test]
    fn retention_deletes_finished_notifications_only() {
        const DAY: i64 = 86_400_000;
        let s = Store::open_in_memory().unwrap();
        let old = s
            .enqueue(
                0,
                &[
                    item("sent"),
                    item("failed"),
                    item("pending"),
                    item("sending"),
                ],
            )
            .unwrap();
        let recent = s.enqueue(40 * DAY, &[item("sent-recently")]).unwrap();
        let claimed = s.claim_due(40 * DAY, 10, 60 * DAY).unwrap();
        assert_eq!(claimed.len(), 5);
        s.mark_sent(old[0], 1, None).unwrap();
        s.mark_failed(old[1], "HTTP 400", None).unwrap();
        s.mark_failed(old[2], "HTTP 503", Some(41 * DAY)).unwrap();
        s.mark_sent(recent[0], 40 * DAY, None).unwrap();
        let report = s.compact(41 * DAY, &crate::Retention::default()).unwrap();
        assert_eq!(report.notifications_deleted, 2);
        let mut left: Vec<String> = s
            .outbox(10)
            .unwrap()
            .into_iter()
            .map(|e| e.channel)
            .collect();
        left.sort();
        assert_eq!(left, ["pending", "sending", "sent-recently"]);
    }
}
