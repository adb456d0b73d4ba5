//! The audit log: who did what to what, and when. Written for every
//! login, user and token change and every operator action (acknowledge,
//! resolve, maintenance, public updates), from the dashboard, the API and
//! the command line alike. Entries are only ever added.

use crate::StoreError;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::params;

/// One entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditEntry {
    /// When (ms since the epoch).
    pub at: Timestamp,
    /// Who: a user's name, `token:<name>`, or `cli:<unix user>`.
    pub actor: String,
    /// What, as a dotted name: `login.success`, `user.add`, `incident.ack`.
    pub action: String,
    /// To what: a user, a token, an incident number, a check.
    pub target: String,
    /// More, in words (never a secret).
    pub detail: String,
}

impl Store {
    /// Appends an entry to the audit log.
    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.with_state("write audit log", |st| {
            st.conn
                .prepare_cached(
                    "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.target,
                    entry.detail
                ])?;
            Ok(())
        })
    }

    /// The entries from `since` on, oldest first, at most the newest `limit`.
    pub fn audit_since(
        &self,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_state("read audit log", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT at, actor, action, target, detail FROM
                   (SELECT id, at, actor, action, target, detail FROM audit WHERE at >= ?1
                    ORDER BY at DESC, id DESC LIMIT ?2)
                 ORDER BY at, id",
            )?;
            let mut rows = stmt.query(params![since, i64::try_from(limit).unwrap_or(i64::MAX)])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(AuditEntry {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    detail: r.get(4)?,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Timestamp, action: &str) -> AuditEntry {
        AuditEntry {
            at,
            actor: "cli:ann".into(),
            action: action.into(),
            target: "bob".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn entries_read_back_in_time_order_from_a_point_on() {
        let s = Store::open_in_memory().unwrap();
        for (at, action) in [(10, "user.add"), (30, "user.remove"), (20, "user.passwd")] {
            s.audit(&entry(at, action)).unwrap();
        }
        let read: Vec<_> = s
            .audit_since(15, 10)
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(read, ["user.passwd", "user.remove"]);
        assert_eq!(s.audit_since(0, 1).unwrap(), [entry(30, "user.remove")]);
    }
}
