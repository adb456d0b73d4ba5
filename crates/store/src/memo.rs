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

use crate::StoreError;
use crate::error::Fail;
use crate::outbox::Outgoing;
use crate::store::{State, Store};
use keepup_model::Timestamp;
use rusqlite::params;

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

fn write(
    tx: &rusqlite::Transaction<'_>,
    at: Timestamp,
    changes: &[MemoChange],
) -> Result<(), Fail> {
    for c in changes {
        match &c.value {
            Some(v) => tx
                .prepare_cached(
                    "INSERT INTO memo (kind, key, value, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )?
                .execute(params![c.kind, c.key, v, at])?,
            None => tx
                .prepare_cached("DELETE FROM memo WHERE kind = ?1 AND key = ?2")?
                .execute(params![c.kind, c.key])?,
        };
    }
    Ok(())
}

fn in_tx<T>(
    st: &mut State,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T, Fail>,
) -> Result<T, Fail> {
    let tx = st.conn.transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

impl Store {
    /// Writes and deletes memos in one transaction.
    pub fn write_memos(&self, at: Timestamp, changes: &[MemoChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        self.with_state("write memos", |st| in_tx(st, |tx| write(tx, at, changes)))
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
        self.with_state("read memo", |st| {
            let mut stmt = st
                .conn
                .prepare_cached("SELECT value FROM memo WHERE kind = ?1 AND key = ?2")?;
            let mut rows = stmt.query(params![kind, key])?;
            match rows.next()? {
                Some(r) => Ok(Some(r.get(0)?)),
                None => Ok(None),
            }
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
        self.with_state("delete memos", |st| {
            Ok(st
                .conn
                .prepare_cached("DELETE FROM memo WHERE kind = ?1 AND key >= ?2 AND key < ?3")?
                .execute(params![kind, keys.start, keys.end])?)
        })
    }

    /// Every memo of `kind` as (key, text), in key order.
    pub fn memos(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        self.with_state("read memos", |st| {
            let mut stmt = st
                .conn
                .prepare_cached("SELECT key, value FROM memo WHERE kind = ?1 ORDER BY key")?;
            let mut rows = stmt.query(params![kind])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push((r.get(0)?, r.get(1)?));
            }
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
        self.with_state("enqueue notifications", |st| {
            in_tx(st, |tx| {
                crate::outbox::insert(tx, now, items)?;
                write(tx, now, changes)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memos_are_written_replaced_listed_and_deleted() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.memo("k", "a").unwrap(), None);
        s.put_memo("k", "a", "1", 10).unwrap();
        s.write_memos(
            20,
            &[
                MemoChange::put("k", "b", "2".into()),
                MemoChange::put("k", "a", "3".into()),
                MemoChange::put("other", "a", "x".into()),
            ],
        )
        .unwrap();
        assert_eq!(
            s.memos("k").unwrap(),
            [("a".into(), "3".into()), ("b".into(), "2".into())]
        );
        s.write_memos(30, &[MemoChange::delete("k", "a")]).unwrap();
        assert_eq!(s.memo("k", "a").unwrap(), None);
        assert_eq!(s.memo("other", "a").unwrap().as_deref(), Some("x"));
    }

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
