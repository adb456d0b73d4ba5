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

use crate::StoreError;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::params;

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
        self.with_state("write audit log", |st| {
            let tx = st.conn.transaction()?;
            let mut source = source;
            let mut detail = entry.detail.clone();
            let mut counted = count_repeat(&tx, entry, source, &detail, since)?;
            if counted == 0 {
                let sources: i64 = tx
                    .prepare_cached(
                        "SELECT count(DISTINCT source) FROM audit
                         WHERE at > ?1 AND action = ?2 AND target = ?3
                           AND source IS NOT NULL AND source != ?4",
                    )?
                    .query_row(
                        params![since, entry.action, entry.target, MANY_SOURCES],
                        |r| r.get(0),
                    )?;
                if sources >= MAX_SOURCES {
                    source = MANY_SOURCES;
                    detail = format!(
                        "from more than {MAX_SOURCES} networks; the latest {}",
                        entry.detail
                    );
                    counted = count_repeat(&tx, entry, source, &detail, since)?;
                }
            }
            if counted == 0 {
                tx.prepare_cached(
                    "INSERT INTO audit (at, actor, action, target, detail, source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    entry.at,
                    entry.actor,
                    entry.action,
                    entry.target,
                    detail,
                    source
                ])?;
            }
            tx.commit()?;
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
        self.with_state("read audit log", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT at, actor, action, target, detail, repeats, last_at FROM
                   (SELECT id, at, actor, action, target, detail, repeats, last_at FROM audit
                    WHERE at >= ?3 AND coalesce(last_at, at) >= ?1
                    ORDER BY at DESC, id DESC LIMIT ?2)
                 ORDER BY at, id",
            )?;
            let mut rows = stmt.query(params![
                since,
                i64::try_from(limit).unwrap_or(i64::MAX),
                since.saturating_sub(repeats_window_ms())
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(AuditEntry {
                    at: r.get(0)?,
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    detail: r.get(4)?,
                    repeats: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
                    last_at: r.get(6)?,
                });
            }
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
    tx: &rusqlite::Transaction<'_>,
    entry: &AuditEntry,
    source: &str,
    detail: &str,
    since: Timestamp,
) -> Result<usize, rusqlite::Error> {
    tx.prepare_cached(
        "UPDATE audit SET repeats = repeats + 1, last_at = ?5, detail = ?6
         WHERE id = (SELECT id FROM audit
                     WHERE source = ?1 AND action = ?2 AND target = ?3 AND at > ?4
                     ORDER BY at DESC, id DESC LIMIT 1)",
    )?
    .execute(params![
        source,
        entry.action,
        entry.target,
        since,
        entry.at,
        detail
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Timestamp, action: &str) -> AuditEntry {
        AuditEntry::new(at, "cli:ann", action, "bob", "")
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

    #[test]
    fn repeats_from_one_source_within_the_window_are_one_entry() {
        let s = Store::open_in_memory().unwrap();
        let failure = |at, target: &str, detail: &str| {
            AuditEntry::new(at, "anonymous", "login.failure", target, detail)
        };
        // A guess a second for two windows of 100 s from one network.
        let mut written = 0;
        for at in 0..200 {
            let e = failure(at * 1000, "ann", &format!("from 192.0.2.{}", at % 7));
            written += usize::from(s.audit_repeated(&e, "192.0.2.0/24", 100_000).unwrap());
        }
        assert_eq!(written, 2);
        // Another source, another target: entries of their own.
        assert!(
            s.audit_repeated(&failure(5_000, "ann", "x"), "198.51.100.0/24", 100_000)
                .unwrap()
        );
        assert!(
            s.audit_repeated(&failure(5_000, "bob", "x"), "192.0.2.0/24", 100_000)
                .unwrap()
        );
        let read = s.audit_since(0, 100).unwrap();
        let ann: Vec<_> = read
            .iter()
            .filter(|e| e.target == "ann" && e.detail.starts_with("from 192.0.2."))
            .map(|e| (e.at, e.repeats, e.last_at))
            .collect();
        assert_eq!(ann, [(0, 100, Some(99_000)), (100_000, 100, Some(199_000))]);
        let first = read.iter().find(|e| e.at == 0).unwrap();
        assert_eq!(
            first.detail_shown(),
            "from 192.0.2.1 (100 times, the last at 1970-01-01T00:01:39Z)"
        );
        // Plain entries are never counted together.
        s.audit(&entry(1, "user.add")).unwrap();
        s.audit(&entry(1, "user.add")).unwrap();
        assert_eq!(s.audit_since(0, 100).unwrap().len(), 6);
    }

    #[test]
    fn guesses_from_ever_new_networks_stop_adding_entries_past_the_limit() {
        let s = Store::open_in_memory().unwrap();
        let mut written = 0;
        for i in 0..200 {
            let e = AuditEntry::new(
                1000 + i,
                "anonymous",
                "login.failure",
                "ann",
                &format!("from 10.{i}.0.1"),
            );
            let source = format!("10.{i}.0.0/24");
            written += usize::from(s.audit_repeated(&e, &source, 600_000).unwrap());
        }
        let read = s.audit_since(0, 1000).unwrap();
        assert_eq!(read.len(), MAX_SOURCES as usize + 1, "{read:#?}");
        assert_eq!(written, read.len());
        assert_eq!(read.iter().map(|e| e.repeats).sum::<u32>(), 200);
        let many = read.last().unwrap();
        assert_eq!(many.repeats, 200 - MAX_SOURCES as u32);
        assert_eq!(
            many.detail,
            "from more than 20 networks; the latest from 10.199.0.1"
        );
        // A source already kept apart still counts on its own entry, and
        // another target is not affected.
        let e = AuditEntry::new(2000, "anonymous", "login.failure", "ann", "from 10.3.0.9");
        assert!(!s.audit_repeated(&e, "10.3.0.0/24", 600_000).unwrap());
        let e = AuditEntry::new(2000, "anonymous", "login.failure", "bob", "x");
        assert!(s.audit_repeated(&e, "10.150.0.0/24", 600_000).unwrap());
        let read = s.audit_since(0, 1000).unwrap();
        assert_eq!(
            read.iter()
                .find(|e| e.detail == "from 10.3.0.9")
                .unwrap()
                .repeats,
            2
        );
    }

    #[test]
    fn an_entry_still_repeating_is_read_from_a_point_after_it_began() {
        let s = Store::open_in_memory().unwrap();
        let failure = |at| AuditEntry::new(at, "anonymous", "login.failure", "ann", "x");
        // A guess every 10 s from one network for 5 minutes: one entry
        // that began at 0 and repeats up to 300 s.
        for at in (0..=300_000).step_by(10_000) {
            s.audit_repeated(&failure(at), "192.0.2.0/24", 600_000)
                .unwrap();
        }
        s.audit(&entry(100_000, "user.add")).unwrap();
        let read = s.audit_since(200_000, 10).unwrap();
        let actions: Vec<_> = read
            .iter()
            .map(|e| (e.action.as_str(), e.repeats))
            .collect();
        assert_eq!(actions, [("login.failure", 31)], "{read:#?}");
        assert!(s.audit_since(300_001, 10).unwrap().is_empty());
    }
}
