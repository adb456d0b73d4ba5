//! Maintenance windows started by hand (`keepup maintenance start`), next
//! to the configured ones. A target is a check id (`site/check`), a site id,
//! `tag:NAME` for the checks carrying a tag, or `*` for everything: the text
//! form of [`MaintenanceScope`].

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::{CheckId, MaintenanceScope, Timestamp};
use rusqlite::{Row, params};

/// A window started from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdhocMaintenance {
    /// Its number.
    pub id: i64,
    /// `site/check`, `site`, `tag:NAME` or `*`.
    pub target: String,
    /// Start.
    pub starts_at: Timestamp,
    /// End (exclusive); stopping early moves it.
    pub ends_at: Timestamp,
    /// Why.
    pub reason: String,
    /// Who.
    pub created_by: String,
}

impl AdhocMaintenance {
    /// What it covers, read from `target`.
    pub fn scope(&self) -> MaintenanceScope {
        MaintenanceScope::parse(&self.target)
    }
    /// Whether it covers `check`; `carries_tag` answers whether the check
    /// or its site carries a tag (the configuration knows).
    pub fn covers(&self, check: &CheckId, carries_tag: impl FnOnce(&str) -> bool) -> bool {
        self.scope().covers(check, carries_tag)
    }
    /// Whether it is open at `at`.
    pub fn open_at(&self, at: Timestamp) -> bool {
        self.starts_at <= at && at < self.ends_at
    }
}

fn from_row(r: &Row<'_>) -> Result<AdhocMaintenance, Fail> {
    Ok(AdhocMaintenance {
        id: r.get(0)?,
        target: r.get(1)?,
        starts_at: r.get(2)?,
        ends_at: r.get(3)?,
        reason: r.get(4)?,
        created_by: r.get(5)?,
    })
}

impl Store {
    /// Starts a window; returns its number.
    pub fn start_maintenance(
        &self,
        target: &str,
        starts_at: Timestamp,
        ends_at: Timestamp,
        reason: &str,
        by: &str,
    ) -> Result<i64, StoreError> {
        self.with_state("start maintenance", |st| {
            st.conn
                .prepare_cached("INSERT INTO maintenance (target, starts_at, ends_at, reason, created_by) VALUES (?1, ?2, ?3, ?4, ?5)")?
                .execute(params![target, starts_at, ends_at, reason, by])?;
            Ok(st.conn.last_insert_rowid())
        })
    }

    /// Ends a window now; false if unknown or already over.
    pub fn stop_maintenance(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        self.with_state("stop maintenance", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "UPDATE maintenance SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
                )?
                .execute(params![id, at])?;
            Ok(n == 1)
        })
    }

    /// Windows started by hand that overlap `[from, to)`, by start, for SLA
    /// accounting. The configured (recurring) windows are not stored: they
    /// are the configuration's `[[maintenance]]`.
    pub fn maintenance_overlapping(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<AdhocMaintenance>, StoreError> {
        self.with_state("maintenance overlapping", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT id, target, starts_at, ends_at, reason, created_by FROM maintenance
                 WHERE starts_at < ?2 AND ends_at > ?1 ORDER BY starts_at, id",
            )?;
            let mut rows = stmt.query(params![from, to])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// One window started by hand, whatever its state.
    pub fn maintenance_window(&self, id: i64) -> Result<Option<AdhocMaintenance>, StoreError> {
        self.with_state("read maintenance", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT id, target, starts_at, ends_at, reason, created_by FROM maintenance WHERE id = ?1",
            )?;
            let mut rows = stmt.query(params![id])?;
            match rows.next()? {
                Some(r) => Ok(Some(from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    /// Windows that ended at or before `at`, the latest end first, at most
    /// `limit`.
    pub fn maintenance_ended(
        &self,
        at: Timestamp,
        limit: usize,
    ) -> Result<Vec<AdhocMaintenance>, StoreError> {
        self.with_state("list past maintenance", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT id, target, starts_at, ends_at, reason, created_by FROM maintenance
                 WHERE ends_at <= ?1 ORDER BY ends_at DESC, id DESC LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![at, limit.min(10_000) as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// Windows that end after `at` (open now or upcoming), by start.
    pub fn maintenance_after(&self, at: Timestamp) -> Result<Vec<AdhocMaintenance>, StoreError> {
        self.with_state("list maintenance", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT id, target, starts_at, ends_at, reason, created_by FROM maintenance WHERE ends_at > ?1 ORDER BY starts_at, id",
            )?;
            let mut rows = stmt.query(params![at])?;
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

    #[test]
    fn windows_start_cover_and_stop() {
        let s = Store::open_in_memory().unwrap();
        let id = s
            .start_maintenance("shop", 1_000, 3_600_000, "db upgrade", "alice")
            .unwrap();
        let w = &s.maintenance_after(2_000).unwrap()[0];
        assert!(w.covers(&CheckId::new("shop", "web"), |_| false));
        assert!(!w.covers(&CheckId::new("shopx", "web"), |_| true));
        assert!(w.open_at(2_000) && !w.open_at(3_600_000));
        assert!(s.stop_maintenance(id, 5_000).unwrap());
        assert!(!s.stop_maintenance(id, 6_000).unwrap(), "already over");
        assert_eq!(
            s.maintenance_window(id).unwrap().map(|w| w.ends_at),
            Some(5_000)
        );
        assert!(s.maintenance_window(id + 100).unwrap().is_none());
        assert!(s.maintenance_after(5_000).unwrap().is_empty());
        assert_eq!(s.maintenance_ended(5_000, 10).unwrap()[0].id, id);
        assert!(s.maintenance_ended(4_999, 10).unwrap().is_empty());
        let all = s.start_maintenance("*", 0, 10, "", "bob").unwrap();
        assert!(
            s.maintenance_after(0)
                .unwrap()
                .iter()
                .any(|w| w.id == all && w.covers(&CheckId::new("x", "y"), |_| false))
        );
    }
}
