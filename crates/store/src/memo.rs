//! Memos: small pieces of working state that other crates keep in memory
//! and that must survive a restart (`kill -9`, a reboot), such as since
//! when a heartbeat has been watched, a page's change baseline, a
//! registry's answer or an escalation's progress.
//!
//! A memo is a JSON text under a `kind` (the owner's namespace, e.g.
//! `"page_baseline"`) and a `key` (e.g. the check id). The store does not
//! interpret the text: the owner decides what it holds and reads it back
//! at start-up. Writes of several memos (and, for escalations, the
//! notifications they decided) are one transaction, so a restart sees
//! either all of a change or none of it.
//!
//! Memos run on SQLite and PostgreSQL alike (the `sql` layer); writing
//! them with notifications waits for the outbox to move there too.

use crate::StoreError;
use crate::error::Fail;
use crate::outbox::Outgoing;
use crate::sql::{Db, params};
use crate::store::Store;
use keepup_model::Timestamp;

/// One memo to write or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoChange {
    /// The owner's namespace.
    pub kind: &'static str,
    /// The key within it.
    pub key: String,
    /// The new JSON text; `None` deletes the memo.
    pub value: Option<String>,
}

impl MemoChange {
    /// Writes `value` under `kind`/`key`.
    pub fn put(kind: &'static str, key: impl Into<String>, value: String) -> Self {
        Self {
            kind,
            key: key.into(),
            value: Some(value),
        }
    }

    /// Deletes `kind`/`key`.
    pub fn delete(kind: &'static str, key: impl Into<String>) -> Self {
        Self {
            kind,
            key: key.into(),
            value: None,
        }
    }
}

fn write(db: &Db<'_>, at: Timestamp, changes: &[MemoChange]) -> Result<(), Fail> {
    for c in changes {
        match &c.value {
            Some(v) => db.execute(
                "INSERT INTO memo (kind, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params![c.kind, &c.key, v, at],
            )?,
            None => db.execute(
                "DELETE FROM memo WHERE kind = ?1 AND key = ?2",
                params![c.kind, &c.key],
            )?,
        };
    }
    Ok(())
}

impl Store {
    /// Writes and deletes memos in one transaction.
    pub fn write_memos(&self, at: Timestamp, changes: &[MemoChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.with_db_tx("write memos", |db| write(db, at, changes))
    }

    /// Writes one memo.
    pub fn put_memo(
        &self,
        kind: &'static str,
        key: &str,
        value: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.write_memos(at, &[MemoChange::put(kind, key, value.to_owned())])
    }

    /// One memo's text, if any.
    pub fn memo(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        self.with_db("read memo", |db| {
            db.query_opt(
                "SELECT value FROM memo WHERE kind = ?1 AND key = ?2",
                params![kind, key],
                |r| r.string(0),
            )
        })
    }

    /// Deletes the memos of `kind` whose keys lie in `keys` (byte order),
    /// for owners whose keys end in a date (`check@2026-12-06`): one
    /// statement drops every day before a cutoff. Returns how many went.
    pub fn delete_memos_in(
        &self,
        kind: &str,
        keys: std::ops::Range<&str>,
    ) -> Result<usize, StoreError> {
        self.with_db("delete memos", |db| {
            let n = db.execute(
                "DELETE FROM memo WHERE kind = ?1 AND key >= ?2 AND key < ?3",
                params![kind, keys.start, keys.end],
            )?;
            Ok(usize::try_from(n).unwrap_or(usize::MAX))
        })
    }

    /// Every memo of `kind` as (key, text), in key order.
    pub fn memos(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.with_db("read memos", |db| {
            let mut out = Vec::new();
            db.query(
                "SELECT key, value FROM memo WHERE kind = ?1 ORDER BY key",
                params![kind],
                |r| {
                    out.push((r.string(0)?, r.string(1)?));
                    Ok(())
                },
            )?;
            Ok(out)
        })
    }

    /// Enqueues notifications and writes memos in one transaction: the
    /// progress of an escalation is recorded exactly when the messages it
    /// decided are.
    pub fn enqueue_with_memos(
        &self,
        now: Timestamp,
        items: &[Outgoing],
        changes: &[MemoChange],
    ) -> Result<(), StoreError> {
        if items.is_empty() && changes.is_empty() {
            return Ok(());
        }
        // The outbox is not on the SQL layer yet: SQLite only.
        self.with_state("enqueue notifications", |st| {
            let tx = st.conn.transaction()?;
            crate::outbox::insert(&tx, now, items)?;
            write(&Db::Sqlite(&tx), now, changes)?;
            tx.commit()?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_and_memos_commit_together() {
        let s = Store::open_in_memory().unwrap();
        let out = Outgoing {
            dedup_key: "d".into(),
            channel: "hook".into(),
            incident: None,
            payload: "{}".into(),
            not_before: 0,
        };
        s.enqueue_with_memos(5, &[out], &[MemoChange::put("esc", "1", "{}".into())])
            .unwrap();
        assert_eq!(s.claim_due(5, 10, 1_000).unwrap().len(), 1);
        assert_eq!(s.memo("esc", "1").unwrap().as_deref(), Some("{}"));
    }
}
