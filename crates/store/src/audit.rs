//! The audit log: who did what to what, and when. Written for every
//! login, user and token change and every operator action (acknowledge,
//! resolve, maintenance, public updates), from the dashboard, the API and
//! the command line alike. Entries are added, never changed, with one
//! exception: events that anyone on the network can cause (failed logins)
//! are written with their source, and the same event from the same source
//! within a window is counted on the entry already there
//! ([`Store::audit_repeated`]: `repeats`, `last_at`), so a guesser adds a
//! row a window, not a row a guess. A guesser who changes network each
//! guess is bounded too: past [`MAX_SOURCES`] sources of the same action
//! and target within the window, further ones are counted on one entry
//! of source [`MANY_SOURCES`]. Retention (`[store] audit_retention`)
//! deletes entries by age at compaction.
//!
//! Runs on SQLite and PostgreSQL alike (the `sql` layer); its tests are
//! in `tests/backends.rs`, run on both.

use crate::StoreError;
use crate::error::Fail;
use crate::sql::{Db, params};
use crate::store::Store;
use keepup_model::Timestamp;

/// The longest window repeats are counted in ([`Store::audit_repeated`]
/// takes no longer one): [`Store::audit_since`] looks this far back for
/// entries that began earlier and still repeat.
pub const AUDIT_REPEATS_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// Sources kept apart per action and target within a repeat window; the
/// ones after them are counted together on one entry.
pub const MAX_SOURCES: i64 = 20;

/// The source of the entry counting the events from sources past
/// [`MAX_SOURCES`].
pub const MANY_SOURCES: &str = "(many networks)";

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
    /// More, in words (never a secret); for a repeated entry, the latest
    /// repeat's.
    pub detail: String,
    /// How many times it happened: 1, or more for an entry counted by
    /// [`Store::audit_repeated`].
    pub repeats: u32,
    /// When it last happened, for an entry that repeated.
    pub last_at: Option<Timestamp>,
}

impl AuditEntry {
    /// A new entry that happened once.
    pub fn new(at: Timestamp, actor: &str, action: &str, target: &str, detail: &str) -> Self {
        AuditEntry {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            detail: detail.to_owned(),
            repeats: 1,
            last_at: None,
        }
    }

    /// The detail with the repeats, as shown: `… (37 times, the last at
    /// 2026-01-02T03:04:05Z)`.
    pub fn detail_shown(&self) -> String {
        match (self.repeats, self.last_at) {
            (n, Some(last)) if n > 1 => format!(
                "{} ({n} times, the last at {})",
                self.detail,
                keepup_model::format_rfc3339(last)
            ),
            _ => self.detail.clone(),
        }
    }
}

impl Store {
    /// Appends an entry to the audit log.
    pub fn audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.with_db("write audit log", |db| {
            db.execute(
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    entry.at,
                    &entry.actor,
                    &entry.action,
                    &entry.target,
                    &entry.detail
                ],
            )?;
            Ok(())
        })
    }

    /// Writes `entry`, caused from `source`, unless an entry of the same
    /// action and target from the same source was written within
    /// `window_ms` before it: then that one counts it (`repeats` grows by
    /// one, `last_at` and `detail` become this one's). When [`MAX_SOURCES`]
    /// other sources already have entries of that action and target in the
    /// window, it is counted on the entry of source [`MANY_SOURCES`]
    /// instead, its detail saying so. A window longer than
    /// [`AUDIT_REPEATS_WINDOW`] is taken as that. True when a new entry was
    /// written.
    pub fn audit_repeated(
        &self,
        entry: &AuditEntry,
        source: &str,
        window_ms: i64,
    ) -> Result<bool, StoreError> {
        let window_ms = window_ms.min(repeats_window_ms());
        let since = entry.at.saturating_sub(window_ms);
        self.with_db_tx("write audit log", |db| {
            let mut source = source;
            let mut detail = entry.detail.clone();
            let mut counted = count_repeat(db, entry, source, &detail, since)?;
            if counted == 0 {
                let sources = db
                    .query_opt(
                        "SELECT count(DISTINCT source) FROM audit
                         WHERE at > ?1 AND action = ?2 AND target = ?3
                           AND source IS NOT NULL AND source != ?4",
                        params![since, &entry.action, &entry.target, MANY_SOURCES],
                        |r| r.i64(0),
                    )?
                    .unwrap_or(0);
                if sources >= MAX_SOURCES {
                    source = MANY_SOURCES;
                    detail = format!(
                        "from more than {MAX_SOURCES} networks; the latest {}",
                        entry.detail
                    );
                    counted = count_repeat(db, entry, source, &detail, since)?;
                }
            }
            if counted == 0 {
                db.execute(
                    "INSERT INTO audit (at, actor, action, target, detail, source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        entry.at,
                        &entry.actor,
                        &entry.action,
                        &entry.target,
                        &detail,
                        source
                    ],
                )?;
            }
            Ok(counted == 0)
        })
    }

    /// The entries from `since` on, oldest first, at most the newest `limit`:
    /// those that began then or later, and those that began earlier and
    /// were repeated since (an ongoing spray counted on an older entry).
    pub fn audit_since(
        &self,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.with_db("read audit log", |db| {
            let mut out = Vec::new();
            // The inner query is named: PostgreSQL before 16 requires it.
            db.query(
                "SELECT at, actor, action, target, detail, repeats, last_at FROM
                   (SELECT id, at, actor, action, target, detail, repeats, last_at FROM audit
                    WHERE at >= ?3 AND coalesce(last_at, at) >= ?1
                    ORDER BY at DESC, id DESC LIMIT ?2) AS newest
                 ORDER BY at, id",
                params![
                    since,
                    i64::try_from(limit).unwrap_or(i64::MAX),
                    since.saturating_sub(repeats_window_ms())
                ],
                |r| {
                    out.push(AuditEntry {
                        at: r.i64(0)?,
                        actor: r.string(1)?,
                        action: r.string(2)?,
                        target: r.string(3)?,
                        detail: r.string(4)?,
                        repeats: u32::try_from(r.i64(5)?).unwrap_or(u32::MAX),
                        last_at: r.opt_i64(6)?,
                    });
                    Ok(())
                },
            )?;
            Ok(out)
        })
    }
}

/// [`AUDIT_REPEATS_WINDOW`] in ms.
fn repeats_window_ms() -> i64 {
    i64::try_from(AUDIT_REPEATS_WINDOW.as_millis()).unwrap_or(i64::MAX)
}

/// Counts `entry` on the newest entry of its action and target from
/// `source` since `since`, with `detail`; the rows changed (0 or 1).
fn count_repeat(
    db: &Db<'_>,
    entry: &AuditEntry,
    source: &str,
    detail: &str,
    since: Timestamp,
) -> Result<u64, Fail> {
    db.execute(
        "UPDATE audit SET repeats = repeats + 1, last_at = ?5, detail = ?6
         WHERE id = (SELECT id FROM audit
                     WHERE source = ?1 AND action = ?2 AND target = ?3 AND at > ?4
                     ORDER BY at DESC, id DESC LIMIT 1)",
        params![
            source,
            &entry.action,
            &entry.target,
            since,
            entry.at,
            detail
        ],
    )
}
