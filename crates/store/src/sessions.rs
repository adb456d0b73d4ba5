//! Dashboard sessions. The browser holds a random id in a cookie; the
//! store keeps only its SHA-256 (the web crate computes it), so a copy of
//! the database opens no session. Each session has its CSRF token, an idle
//! expiry (moved forward as it is used) and an absolute one.

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use crate::users::Role;
use keepup_model::Timestamp;
use rusqlite::params;

/// How often `last_seen` is written at most: a page that loads many
/// resources does not write the store for each. A short idle time gets a
/// quarter of itself, so a session in use never looks idle for longer
/// than a quarter of its idle time.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A live session and whose it is.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// The user's name.
    pub user: String,
    /// The user's role now (a changed role applies at once).
    pub role: Role,
    /// The token every state-changing form of this session carries.
    pub csrf: String,
}

impl std::fmt::Debug for SessionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRecord")
            .field("user", &self.user)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Stores a new session of user `user_id`, ending at `expires_at` at
    /// the latest.
    pub fn create_session(
        &self,
        id_hash: &[u8],
        user_id: i64,
        csrf: &str,
        at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), StoreError> {
        self.with_state("create session", |st| {
            st.conn
                .prepare_cached(
                    "INSERT INTO web_session (id_hash, user_id, csrf, created_at, last_seen, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?4, ?5)",
                )?
                .execute(params![id_hash, user_id, csrf, at, expires_at])?;
            Ok(())
        })
    }

    /// The session whose id hashes to `id_hash`, if it is live at `at`: not
    /// past its absolute expiry and used within `idle_ms`. Using it moves
    /// its idle expiry forward; a dead one is deleted.
    pub fn session(
        &self,
        id_hash: &[u8],
        at: Timestamp,
        idle_ms: i64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        // Read on the read pool: every dashboard request asks, and the
        // writer is shared with the recorder's batches; the writer is
        // taken only for the rare touch or delete.
        let found = self.with_reader("read session", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT u.name, u.role, s.csrf, s.last_seen, s.expires_at
                 FROM web_session s JOIN web_user u ON u.id = s.user_id WHERE s.id_hash = ?1",
            )?;
            let mut rows = stmt.query([id_hash])?;
            let Some(r) = rows.next()? else {
                return Ok(None);
            };
            let role: String = r.get(1)?;
            let record = SessionRecord {
                user: r.get(0)?,
                role: Role::parse(&role)
                    .ok_or_else(|| Fail::Corrupt(format!("unknown role {role:?}")))?,
                csrf: r.get(2)?,
            };
            Ok(Some((record, r.get::<_, i64>(3)?, r.get::<_, i64>(4)?)))
        })?;
        let Some((record, last_seen, expires_at)) = found else {
            return Ok(None);
        };
        if at >= expires_at || at.saturating_sub(last_seen) >= idle_ms {
            self.delete_session(id_hash)?;
            return Ok(None);
        }
        if at - last_seen >= TOUCH_EVERY_MS.min(idle_ms / 4) {
            self.with_state("touch session", |st| {
                st.conn
                    .prepare_cached("UPDATE web_session SET last_seen = ?2 WHERE id_hash = ?1")?
                    .execute(params![id_hash, at])?;
                Ok(())
            })?;
        }
        Ok(Some(record))
    }

    /// Ends a session (logout); false when there was none.
    pub fn delete_session(&self, id_hash: &[u8]) -> Result<bool, StoreError> {
        self.with_state("delete session", |st| {
            let n = st
                .conn
                .prepare_cached("DELETE FROM web_session WHERE id_hash = ?1")?
                .execute([id_hash])?;
            Ok(n == 1)
        })
    }

    /// Deletes the sessions dead at `at` (past their absolute expiry or
    /// idle for `idle_ms`); returns how many.
    pub fn delete_dead_sessions(&self, at: Timestamp, idle_ms: i64) -> Result<usize, StoreError> {
        self.with_state("delete dead sessions", |st| {
            Ok(delete_dead(&st.conn, at, idle_ms)?)
        })
    }
}

/// Deletes the sessions dead at `at`; how many (also run by compaction).
pub(crate) fn delete_dead(
    conn: &rusqlite::Connection,
    at: Timestamp,
    idle_ms: i64,
) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM web_session WHERE expires_at <= ?1 OR last_seen <= ?1 - ?2")?
        .execute(params![at, idle_ms])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_live_until_idle_or_absolute_expiry_and_die_with_their_user() {
        let s = Store::open_in_memory().unwrap();
        s.add_user("ann", "h", Role::Viewer, 0).unwrap();
        let ann = s.user("ann").unwrap().unwrap();
        s.create_session(b"one", ann.id, "csrf1", 0, 1_000_000)
            .unwrap();
        let live = s.session(b"one", 50_000, 100_000).unwrap().unwrap();
        assert_eq!(
            (live.user.as_str(), live.role, live.csrf.as_str()),
            ("ann", Role::Viewer, "csrf1")
        );
        // Used at 80 s (touched), so still live at 170 s, idle since 80 s.
        assert!(s.session(b"one", 80_000, 100_000).unwrap().is_some());
        assert!(s.session(b"one", 170_000, 100_000).unwrap().is_some());
        assert!(s.session(b"other", 170_000, 100_000).unwrap().is_none());
        // Absolute expiry, whatever the use.
        s.create_session(b"two", ann.id, "csrf2", 0, 200_000)
            .unwrap();
        assert!(s.session(b"two", 199_999, 1_000_000).unwrap().is_some());
        assert!(s.session(b"two", 200_000, 1_000_000).unwrap().is_none());
        // Idle expiry deletes it.
        assert!(s.session(b"one", 400_000, 100_000).unwrap().is_none());
        assert!(s.session(b"one", 400_001, 10_000_000).unwrap().is_none());
        s.create_session(b"three", ann.id, "c", 0, 1_000_000)
            .unwrap();
        assert!(s.delete_session(b"three").unwrap());
        assert!(!s.delete_session(b"three").unwrap());
        s.create_session(b"four", ann.id, "c", 0, 1_000_000)
            .unwrap();
        assert!(s.set_password("ann", "h2").unwrap());
        assert!(
            s.session(b"four", 1, 100_000).unwrap().is_none(),
            "a new password ends sessions"
        );
        s.create_session(b"five", ann.id, "c", 0, 1_000_000)
            .unwrap();
        assert!(s.remove_user("ann").unwrap());
        assert!(s.session(b"five", 1, 100_000).unwrap().is_none());
        assert_eq!(s.delete_dead_sessions(10, 1).unwrap(), 0);
    }

    /// On a file store the lookup reads on the pool, and what it writes
    /// (the touch, the delete of a dead session) still reaches the writer.
    #[test]
    fn a_file_store_reads_sessions_on_the_read_pool_and_still_touches_them() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("keepup.db")).unwrap();
        s.add_user("ann", "h", Role::Viewer, 0).unwrap();
        let ann = s.user("ann").unwrap().unwrap();
        s.create_session(b"one", ann.id, "c", 0, 10_000_000)
            .unwrap();
        assert_eq!(s.readers_open(), 0);
        assert!(s.session(b"one", 50_000, 100_000).unwrap().is_some());
        assert_eq!(s.readers_open(), 1, "read on the pool");
        // Touched at 120 s, so live at 200 s although 150 s after creation
        // would be past the idle time without the touch.
        assert!(s.session(b"one", 120_000, 100_000).unwrap().is_some());
        assert!(s.session(b"one", 200_000, 100_000).unwrap().is_some());
        // Idle: deleted, and gone even for a longer idle time.
        assert!(s.session(b"one", 400_000, 100_000).unwrap().is_none());
        assert!(s.session(b"one", 400_001, 10_000_000).unwrap().is_none());
    }

    #[test]
    fn a_session_in_use_outlives_a_one_minute_idle_time() {
        let s = Store::open_in_memory().unwrap();
        s.add_user("ann", "h", Role::Viewer, 0).unwrap();
        let ann = s.user("ann").unwrap().unwrap();
        s.create_session(b"one", ann.id, "c", 0, 10_000_000)
            .unwrap();
        // A page every 20 s, for five minutes, with session_idle = 1m.
        for at in (20_000..=300_000).step_by(20_000) {
            assert!(
                s.session(b"one", at, 60_000).unwrap().is_some(),
                "used every 20 s, ended at {at} ms"
            );
        }
        assert!(s.session(b"one", 360_000, 60_000).unwrap().is_none());
    }
}
