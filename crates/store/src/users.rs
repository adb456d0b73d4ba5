//! The dashboard's users: a name, an argon2id password hash (made and
//! checked by the web crate; the store only keeps the PHC string), a role,
//! and the account lock that stops guessing: failed logins in a row and
//! the time the account is locked until.

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
    /// Failed logins since the last success or lock.
    pub failed_attempts: u32,
    /// Logins are refused until then.
    pub locked_until: Option<Timestamp>,
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
            .field("failed_attempts", &self.failed_attempts)
            .field("locked_until", &self.locked_until)
            .finish_non_exhaustive()
    }
}

impl User {
    /// Whether logins are refused at `at`.
    pub fn locked_at(&self, at: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| at < until)
    }
}

/// What a failed login did to the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailedLogin {
    /// Counted; `attempts` failures in a row now.
    Counted {
        /// Failures in a row.
        attempts: u32,
    },
    /// This failure locked the account until the given time.
    Locked {
        /// End of the lock.
        until: Timestamp,
    },
}

const USER_COLUMNS: &str =
    "id, name, password_hash, role, created_at, failed_attempts, locked_until";

fn user_from_row(r: &Row<'_>) -> Result<User, Fail> {
    let role: String = r.get(3)?;
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        password_hash: r.get(2)?,
        role: Role::parse(&role).ok_or_else(|| Fail::Corrupt(format!("unknown role {role:?}")))?,
        created_at: r.get(4)?,
        failed_attempts: u32::try_from(r.get::<_, i64>(5)?).unwrap_or(u32::MAX),
        locked_until: r.get(6)?,
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
                    "UPDATE web_user SET password_hash = ?2, failed_attempts = 0, locked_until = NULL
                     WHERE name = ?1 RETURNING id",
                    params![name, password_hash],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(id) = id else { return Ok(false) };
            tx.execute("DELETE FROM web_session WHERE user_id = ?1", [id])?;
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

    /// Counts a failed login of user `id` at `at`; the failure that makes
    /// `lock_after` in a row locks the account until `at + lock_for_ms`
    /// and starts the count again.
    pub fn login_failed(
        &self,
        id: i64,
        at: Timestamp,
        lock_after: u32,
        lock_for_ms: i64,
    ) -> Result<FailedLogin, StoreError> {
        self.with_state("count failed login", |st| {
            let tx = st.conn.transaction()?;
            let attempts: i64 = tx
                .query_row(
                    "UPDATE web_user SET failed_attempts = failed_attempts + 1 WHERE id = ?1
                     RETURNING failed_attempts",
                    [id],
                    |r| r.get(0),
                )
                .optional()?
                .unwrap_or(0);
            let attempts = u32::try_from(attempts).unwrap_or(u32::MAX);
            let outcome = if attempts >= lock_after {
                let until = at.saturating_add(lock_for_ms);
                tx.execute(
                    "UPDATE web_user SET failed_attempts = 0, locked_until = ?2 WHERE id = ?1",
                    params![id, until],
                )?;
                FailedLogin::Locked { until }
            } else {
                FailedLogin::Counted { attempts }
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    /// A successful login of user `id`: the failure count starts again.
    pub fn login_succeeded(&self, id: i64) -> Result<(), StoreError> {
        self.with_state("count successful login", |st| {
            st.conn
                .prepare_cached(
                    "UPDATE web_user SET failed_attempts = 0 WHERE id = ?1 AND failed_attempts != 0",
                )?
                .execute([id])?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_added_once_locked_after_failures_and_unlocked_by_a_new_password() {
        let s = Store::open_in_memory().unwrap();
        assert!(s.add_user("ann", "$argon2id$x", Role::Operator, 5).unwrap());
        assert!(!s.add_user("ann", "$argon2id$y", Role::Admin, 6).unwrap());
        let ann = s.user("ann").unwrap().unwrap();
        assert_eq!((ann.role, ann.created_at), (Role::Operator, 5));
        assert_eq!(
            s.login_failed(ann.id, 100, 3, 1_000).unwrap(),
            FailedLogin::Counted { attempts: 1 }
        );
        s.login_succeeded(ann.id).unwrap();
        for attempts in 1..3 {
            assert_eq!(
                s.login_failed(ann.id, 100, 3, 1_000).unwrap(),
                FailedLogin::Counted { attempts }
            );
        }
        assert_eq!(
            s.login_failed(ann.id, 100, 3, 1_000).unwrap(),
            FailedLogin::Locked { until: 1_100 }
        );
        let ann = s.user("ann").unwrap().unwrap();
        assert!(ann.locked_at(1_099) && !ann.locked_at(1_100));
        assert_eq!(ann.failed_attempts, 0);
        assert!(s.set_password("ann", "$argon2id$z").unwrap());
        let ann = s.user("ann").unwrap().unwrap();
        assert_eq!(ann.locked_until, None);
        assert_eq!(ann.password_hash, "$argon2id$z");
        assert!(!format!("{ann:?}").contains("argon2id"));
        assert!(!s.set_password("bob", "h").unwrap());
        assert!(s.remove_user("ann").unwrap());
        assert!(!s.remove_user("ann").unwrap());
        assert!(s.users().unwrap().is_empty());
    }
}
