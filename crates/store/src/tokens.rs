//! API tokens: a name, a scope, an optional expiry and the time of last
//! use. The token itself is shown once when created and never stored: the
//! store keeps its SHA-256 (a random 256-bit token needs no slow hash), so
//! lookups are one indexed read.
//!
//! Runs on SQLite and PostgreSQL alike (the `sql` layer).

use crate::StoreError;
use crate::error::Fail;
use crate::sql::{Row, params};
use crate::store::Store;
use keepup_model::Timestamp;

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
    let scope = r.string(1)?;
    Ok(ApiToken {
        name: r.string(0)?,
        scope: TokenScope::parse(&scope)
            .ok_or_else(|| Fail::Corrupt(format!("unknown token scope {scope:?}")))?,
        created_at: r.i64(2)?,
        expires_at: r.opt_i64(3)?,
        last_used_at: r.opt_i64(4)?,
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
        self.with_db("create token", |db| {
            let n = db.execute(
                "INSERT INTO api_token (name, hash, scope, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO NOTHING",
                params![name, hash, scope.as_str(), at, expires_at],
            )?;
            Ok(n == 1)
        })
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<ApiToken>, StoreError> {
        self.with_db("list tokens", |db| {
            let mut out = Vec::new();
            db.query(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_token ORDER BY name"),
                &[],
                |r| {
                    out.push(token_from_row(r)?);
                    Ok(())
                },
            )?;
            Ok(out)
        })
    }

    /// Deletes a token; false when there is none of that name.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        self.with_db("revoke token", |db| {
            let n = db.execute("DELETE FROM api_token WHERE name = ?1", params![name])?;
            Ok(n == 1)
        })
    }

    /// The token whose text hashes to `hash`, if it works at `at`; its
    /// last use is recorded.
    pub fn use_token(&self, hash: &[u8], at: Timestamp) -> Result<Option<ApiToken>, StoreError> {
        self.with_db("use token", |db| {
            let token = db.query_opt(
                &format!("SELECT {TOKEN_COLUMNS} FROM api_token WHERE hash = ?1"),
                params![hash],
                token_from_row,
            )?;
            let Some(token) = token.filter(|t| t.live_at(at)) else {
                return Ok(None);
            };
            if token
                .last_used_at
                .is_none_or(|last| at.saturating_sub(last) >= TOUCH_EVERY_MS)
            {
                db.execute(
                    "UPDATE api_token SET last_used_at = ?2 WHERE hash = ?1",
                    params![hash, at],
                )?;
            }
            Ok(Some(token))
        })
    }
}
