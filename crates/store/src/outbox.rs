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
}

const SELECT: &str =
    "SELECT id, created_at, dedup_key, channel, incident_id, payload, state, attempts,
    next_attempt_at, last_error, sent_at, provider_id FROM outbox";

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
                tx.prepare_cached("UPDATE outbox SET state = 1, attempts = ?2, next_attempt_at = ?3 WHERE id = ?1")?
                    .execute(params![e.id, e.attempts, e.next_attempt_at])?;
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
                 next_attempt_at, last_error, sent_at, provider_id FROM outbox
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
