//! The dashboard's users: a name, an argon2id password hash (made and
//! checked by the web crate; the store only keeps the PHC string), a role,
//! and the lock that stops guessing. The lock is kept per user and source
//! network (the web crate names it), so a guesser somewhere else can
//! neither lock the owner out nor get more tries by guessing faster: an
//! attempt is reserved before its password is checked, in the statement
//! that checks the lock, and the attempt that makes `lock_after` in a row
//! locks that pair at once (failures older than the lock's length are
//! forgotten).

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

/// What a user may do, weakest first (the order is the permission order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads every page.
    Viewer,
    /// Also acts: acknowledges, resolves, starts maintenance, posts updates.
    Operator,
    /// Also manages users and tokens.
    Admin,
}

impl Role {
    /// Every role, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// Stable lowercase name, as stored and as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    /// The role named `text`, if any.
    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Row id (sessions refer to it).
    pub id: i64,
    /// Login name.
    pub name: String,
    /// The argon2id hash in PHC string format.
    pub password_hash: String,
    /// What the user may do.
    pub role: Role,
    /// When the user was added.
    pub created_at: Timestamp,
}

// The hash is not a password, but it is what a guesser would want: kept out
// of debug output.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A login attempt reserved for a user from a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAttempt {
    /// Attempts in a row from this source, this one included.
    pub attempts: u32,
    /// Set when this attempt was the last one allowed: unless it succeeds,
    /// the pair stays locked until then.
    pub locks_until: Option<Timestamp>,
}

const USER_COLUMNS: &str = "id, name, password_hash, role, created_at";

fn user_from_row(r: &Row<'_>) -> Result<User, Fail> {
    let role: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        role: Role::parse(&role).ok_or_else(|| Fail::Corrupt(format!("unknown role {role:?}")))?,
        created_at: r.get(4)?,
    })
}

impl Store {
    /// Adds a user; false when the name is taken.
    pub fn add_user(
        &self,
        name: &str,
        password_hash: &str,
        role: Role,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with_state("add user", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "INSERT INTO web_user (name, password_hash, role, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (name) DO NOTHING",
                )?
                .execute(params![name, password_hash, role.as_str(), at])?;
            Ok(n == 1)
        })
    }

    /// Replaces a user's password hash, lifts any lock and ends every
    /// session of the user (whoever knew the old password is logged out);
    /// false when there is no such user.
    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        self.with_state("set password", |st| {
            let tx = st.conn.transaction()?;
            let id: Option<i64> = tx
                .query_row(
                    "UPDATE web_user SET password_hash = ?2 WHERE name = ?1 RETURNING id",
                    params![name, password_hash],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            tx.execute("DELETE FROM web_session WHERE user_id = ?1", [id])?;
            tx.execute("DELETE FROM web_login_lock WHERE user_id = ?1", [id])?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Removes a user and their sessions; false when there is no such user.
    pub fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        self.with_state("remove user", |st| {
            let n = st
                .conn
                .prepare_cached("DELETE FROM web_user WHERE name = ?1")?
                .execute([name])?;
            Ok(n == 1)
        })
    }

    /// One user by name.
    pub fn user(&self, name: &str) -> Result<Option<User>, StoreError> {
        self.with_state("read user", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM web_user WHERE name = ?1"
            ))?;
            let mut rows = stmt.query([name])?;
            rows.next()?.map(user_from_row).transpose()
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<User>, StoreError> {
        self.with_state("list users", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM web_user ORDER BY name"
            ))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(user_from_row(r)?);
            }
            Ok(out)
        })
    }

    /// Reserves a login attempt of user `id` from `source` at `at`,
    /// before its password is checked; `None` while that pair is locked.
    /// The attempt that makes `lock_after` in a row locks the pair until
    /// `at + lock_for_ms` right away, so attempts in flight cannot add
    /// more; [`Store::login_succeeded`] lifts it again.
    pub fn reserve_login(
        &self,
        id: i64,
        source: &str,
        at: Timestamp,
        lock_after: u32,
        lock_for_ms: i64,
    ) -> Result<Option<LoginAttempt>, StoreError> {
        self.with_state("reserve login attempt", |st| {
            let tx = st.conn.transaction()?;
            tx.execute(
                "INSERT INTO web_login_lock (user_id, source, failed_attempts, last_attempt)
                 VALUES (?1, ?2, 0, ?3) ON CONFLICT DO NOTHING",
                params![id, source, at],
            )?;
            // A count goes on while unlocked and recent; after a lock or a
            // quiet spell as long as one, it starts again.
            let reserved: Option<(i64, Option<Timestamp>)> = tx
                .query_row(
                    "UPDATE web_login_lock SET
                        failed_attempts = next.attempts,
                        last_attempt = ?3,
                        locked_until = CASE WHEN next.attempts >= ?4 THEN ?3 + ?5 END
                     FROM (SELECT CASE
                             WHEN locked_until IS NULL AND last_attempt > ?3 - ?5
                             THEN failed_attempts + 1 ELSE 1 END AS attempts
                           FROM web_login_lock WHERE user_id = ?1 AND source = ?2) AS next
                     WHERE user_id = ?1 AND source = ?2
                       AND (locked_until IS NULL OR locked_until <= ?3)
                     RETURNING failed_attempts, locked_until",
                    params![id, source, at, lock_after, lock_for_ms],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            tx.commit()?;
            Ok(reserved.map(|(attempts, locks_until)| LoginAttempt {
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                locks_until,
            }))
        })
    }

    /// A successful login of user `id` from `source`: its count and lock
    /// end; other sources' entries that are neither locked nor recent
    /// (older than `forget_ms`) are dropped.
    pub fn login_succeeded(
        &self,
        id: i64,
        source: &str,
        at: Timestamp,
        forget_ms: i64,
    ) -> Result<(), StoreError> {
        self.with_state("count successful login", |st| {
            st.conn
                .prepare_cached(
                    "DELETE FROM web_login_lock WHERE (user_id = ?1 AND source = ?2)
                     OR (last_attempt <= ?3 - ?4 AND (locked_until IS NULL OR locked_until <= ?3))",
                )?
                .execute(params![id, source, at, forget_ms])?;
            Ok(())
        })
    }

    /// Until when user `id` is locked from some source at `at`, the
    /// latest such end; `None` when no source is locked.
    pub fn user_locked_until(
        &self,
        id: i64,
        at: Timestamp,
    ) -> Result<Option<Timestamp>, StoreError> {
        self.with_state("read login locks", |st| {
            Ok(st
                .conn
                .prepare_cached(
                    "SELECT max(locked_until) FROM web_login_lock WHERE user_id = ?1 AND locked_until > ?2",
                )?
                .query_row(params![id, at], |r| r.get(0))?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_once_and_locked_per_source_after_attempts_in_a_row() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.add_user("ann", "$argon2id$x", Role::Operator, 5).unwrap());
        assert!(!s.add_user("ann", "$argon2id$y", Role::Admin, 6).unwrap());
        let ann = s.user("ann").unwrap().unwrap();
        assert_eq!((ann.role, ann.created_at), (Role::Operator, 5));
        let reserve =
            |source: &str, at: i64| s.reserve_login(ann.id, source, at, 3, 1_000).unwrap();
        let counted = |attempts| {
            Some(LoginAttempt {
                attempts,
                locks_until: None,
            })
        };
        assert_eq!(reserve("a", 100), counted(1));
        s.login_succeeded(ann.id, "a", 100, 1_000).unwrap();
        // Reserved before any answer: three in flight at once lock the
        // pair with the third, and a fourth is refused.
        assert_eq!(reserve("a", 100), counted(1));
        assert_eq!(reserve("a", 100), counted(2));
        assert_eq!(
            reserve("a", 100),
            Some(LoginAttempt {
                attempts: 3,
                locks_until: Some(1_100)
            })
        );
        assert_eq!(reserve("a", 200), None);
        assert_eq!(s.user_locked_until(ann.id, 200).unwrap(), Some(1_100));
        // Another source is not locked out.
        assert_eq!(reserve("b", 200), counted(1));
        // The lock ends and the count starts again.
        assert_eq!(reserve("a", 1_100), counted(1));
        assert_eq!(s.user_locked_until(ann.id, 1_100).unwrap(), None);
        // Failures older than a lock's length are forgotten.
        assert_eq!(reserve("a", 1_101), counted(2));
        assert_eq!(reserve("a", 2_101), counted(1));
        s.reserve_login(ann.id, "c", 2_200, 1, 1_000).unwrap();
        assert_eq!(s.user_locked_until(ann.id, 2_300).unwrap(), Some(3_200));
        assert!(s.set_password("ann", "$argon2id$z").unwrap());
        assert_eq!(s.user_locked_until(ann.id, 2_300).unwrap(), None);
        let ann = s.user("ann").unwrap().unwrap();
        assert_eq!(ann.password_hash, "$argon2id$z");
        assert!(!format!("{ann:?}").contains("argon2id"));
        assert!(!s.set_password("bob", "h").unwrap());
        assert!(s.remove_user("ann").unwrap());
        assert!(!s.remove_user("ann").unwrap());
        assert!(s.users().unwrap().is_empty());
    }
}
