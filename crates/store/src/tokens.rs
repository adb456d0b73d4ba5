//! API tokens: a name, a scope, an optional expiry and the time of last
//! use. The token itself is shown once when created and never stored: the
//! store keeps its SHA-256 (a random 256-bit token needs no slow hash), so
//! lookups are one indexed read.

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::{Row, params};

/// How often `last_used_at` is written at most, so that a busy client
/// does not write the store on every request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// What a token may do; `Write` implies `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TokenScope {
    /// Reads.
    Read,
    /// Reads and acts.
    Write,
}

impl TokenScope {
    /// Stable lowercase name, as stored and as written on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
        }
    }

    /// The scope named `text`, if any.
    pub fn parse(text: &str) -> Option<TokenScope> {
        [TokenScope::Read, TokenScope::Write]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for TokenScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// Its name, unique.
    pub name: String,
    /// What it may do.
    pub scope: TokenScope,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    pub expires_at: Option<Timestamp>,
    /// When it was last used (to the minute), if ever.
    pub last_used_at: Option<Timestamp>,
}

impl ApiToken {
    /// Whether it still works at `at`.
    pub fn live_at(&self, at: Timestamp) -> bool {
        self.expires_at.is_none_or(|end| at < end)
    }
}

const TOKEN_COLUMNS: &str = "name, scope, created_at, expires_at, last_used_at";

fn token_from_row(r: &Row<'_>) -> Result<ApiToken, Fail> {
    let scope: String = r.get(1)?;
    Ok(ApiToken {
        name: r.get(0)?,
        scope: TokenScope::parse(&scope)
            .ok_or_else(|| Fail::Corrupt(format!("unknown token scope {scope:?}")))?,
        created_at: r.get(2)?,
        expires_at: r.get(3)?,
        last_used_at: r.get(4)?,
    })
}

impl Store {
    /// Stores a new token by the SHA-256 of its text; false when the name
    /// is taken.
    pub fn create_token(
        &self,
        name: &str,
        hash: &[u8],
        scope: TokenScope,
        at: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Result<bool, StoreError> {
        self.with_state("create token", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "INSERT INTO api_token (name, hash, scope, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (name) DO NOTHING",
                )?
                .execute(params![name, hash, scope.as_str(), at, expires_at])?;
            Ok(n == 1)
        })
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.with_state("list tokens", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_token ORDER BY name"
            ))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(token_from_row(r)?);
            }
            Ok(out)
        })
    }

    /// Deletes a token; false when there is none of that name.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        self.with_state("revoke token", |st| {
            let n = st
                .conn
                .prepare_cached("DELETE FROM api_token WHERE name = ?1")?
                .execute([name])?;
            Ok(n == 1)
        })
    }

    /// The token whose text hashes to `hash`, if it works at `at`; its
    /// last use is recorded.
    pub fn use_token(&self, hash: &[u8], at: Timestamp) -> Result<Option<ApiToken>, StoreError> {
        self.with_state("use token", |st| {
            let token = {
                let mut stmt = st.conn.prepare_cached(&format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_token WHERE hash = ?1"
                ))?;
                let mut rows = stmt.query([hash])?;
                rows.next()?.map(token_from_row).transpose()?
            };
            let Some(token) = token.filter(|t| t.live_at(at)) else {
                return Ok(None);
            };
            if token
                .last_used_at
                .is_none_or(|last| at.saturating_sub(last) >= TOUCH_EVERY_MS)
            {
                st.conn
                    .prepare_cached("UPDATE api_token SET last_used_at = ?2 WHERE hash = ?1")?
                    .execute(params![hash, at])?;
            }
            Ok(Some(token))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_work_until_expiry_or_revocation_and_record_their_use() {
        let s = Store::open_in_memory().unwrap();
        assert!(
            s.create_token("ci", b"h1", TokenScope::Read, 10, None)
                .unwrap()
        );
        assert!(
            !s.create_token("ci", b"h2", TokenScope::Write, 10, None)
                .unwrap()
        );
        assert!(
            s.create_token("tmp", b"h3", TokenScope::Write, 10, Some(1_000))
                .unwrap()
        );
        assert_eq!(
            s.use_token(b"h1", 500).unwrap().unwrap().scope,
            TokenScope::Read
        );
        assert!(s.use_token(b"h2", 500).unwrap().is_none());
        assert!(s.use_token(b"h3", 999).unwrap().is_some());
        assert!(s.use_token(b"h3", 1_000).unwrap().is_none(), "expired");
        let listed = s.tokens().unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].last_used_at, Some(500));
        assert!(s.revoke_token("ci").unwrap());
        assert!(s.use_token(b"h1", 600).unwrap().is_none(), "revoked");
        assert!(!s.revoke_token("ci").unwrap());
    }
}
