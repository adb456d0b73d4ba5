//! Maintenance windows started by hand (`keepup maintenance start`), next
//! to the configured ones. A target is a check id (`site/check`), a site id,
//! `tag:NAME` for the checks carrying a tag, or `*` for everything: the text
//! form of [`MaintenanceScope`].
//!
//! Runs on SQLite and PostgreSQL alike (the `sql` layer).

use crate::StoreError;
use crate::error::Fail;
use crate::sql::{Db, Row, params};
use crate::store::Store;
use keepup_model::{CheckId, MaintenanceScope, Timestamp};

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

const COLUMNS: &str = "SELECT id, target, starts_at, ends_at, reason, created_by FROM maintenance";

fn from_row(r: &Row<'_>) -> Result<AdhocMaintenance, Fail> {
    Ok(AdhocMaintenance {
        id: r.i64(0)?,
        target: r.string(1)?,
        starts_at: r.i64(2)?,
        ends_at: r.i64(3)?,
        reason: r.string(4)?,
        created_by: r.string(5)?,
    })
}

/// The windows `sql` (a `WHERE ...` after [`COLUMNS`]) selects.
fn windows(
    db: &Db<'_>,
    sql: &str,
    params: &[crate::sql::Param<'_>],
) -> Result<Vec<AdhocMaintenance>, Fail> {
    let mut out = Vec::new();
    db.query(sql, params, |r| {
        out.push(from_row(r)?);
        Ok(())
    })?;
    Ok(out)
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
        self.with_db("start maintenance", |db| {
            db.query_opt(
                "INSERT INTO maintenance (target, starts_at, ends_at, reason, created_by)
                 VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                params![target, starts_at, ends_at, reason, by],
                |r| r.i64(0),
            )?
            .ok_or_else(|| Fail::Corrupt("INSERT ... RETURNING returned no id".into()))
        })
    }

    /// Ends a window now; false if unknown or already over.
    pub fn stop_maintenance(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        self.with_db("stop maintenance", |db| {
            let n = db.execute(
                "UPDATE maintenance SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
                params![id, at],
            )?;
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
        self.with_db("maintenance overlapping", |db| {
            windows(
                db,
                &format!("{COLUMNS} WHERE starts_at < ?2 AND ends_at > ?1 ORDER BY starts_at, id"),
                params![from, to],
            )
        })
    }

    /// One window started by hand, whatever its state.
    pub fn maintenance_window(&self, id: i64) -> Result<Option<AdhocMaintenance>, StoreError> {
        self.with_db("read maintenance", |db| {
            db.query_opt(&format!("{COLUMNS} WHERE id = ?1"), params![id], from_row)
        })
    }

    /// Windows that ended at or before `at`, the latest end first, at most
    /// `limit`.
    pub fn maintenance_ended(
        &self,
        at: Timestamp,
        limit: usize,
    ) -> Result<Vec<AdhocMaintenance>, StoreError> {
        self.with_db("list past maintenance", |db| {
            windows(
                db,
                &format!("{COLUMNS} WHERE ends_at <= ?1 ORDER BY ends_at DESC, id DESC LIMIT ?2"),
                params![at, limit.min(10_000) as i64],
            )
        })
    }

    /// Windows that end after `at` (open now or upcoming), by start.
    pub fn maintenance_after(&self, at: Timestamp) -> Result<Vec<AdhocMaintenance>, StoreError> {
        self.with_db("list maintenance", |db| {
            windows(
                db,
                &format!("{COLUMNS} WHERE ends_at > ?1 ORDER BY starts_at, id"),
                params![at],
            )
        })
    }
}
