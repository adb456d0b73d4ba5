//! The store's small SQL layer: what its logic needs from a database, for
//! SQLite (rusqlite, in process) and PostgreSQL (tokio-postgres on a
//! thread of its own, the [`postgres`] module).
//!
//! The store keeps ONE implementation of its logic (spans derivation,
//! rollup packing, outbox claims, ...) and speaks SQL both engines accept:
//! `?N` placeholders (rewritten to PostgreSQL's `$N` once, when a
//! statement is prepared and cached, by [`dollar_placeholders`]), `ON
//! CONFLICT ... DO NOTHING / DO UPDATE`, `RETURNING`. Where the two
//! differ, the text is per engine: column types ([`postgres_ddl`]
//! translates the SQLite schema), `WITHOUT ROWID`, PRAGMAs, how a write
//! transaction takes its lock.
//!
//! A converted operation runs on a [`Db`] (`Store::with_db`, or
//! `Store::with_db_tx` for a write transaction): [`Db::execute`] and
//! [`Db::query`] with borrowed [`Param`]s (no copies on SQLite: rusqlite
//! binds them in place and caches the prepared statement), rows read
//! through [`Row`]'s typed getters. A write transaction is SQLite's
//! `BEGIN IMMEDIATE` (the write lock taken first) or, on PostgreSQL, a
//! transaction that first takes an advisory lock: writers queue in both,
//! so the logic's read-then-write steps see no other writer.
//!
//! This is the foundation of issue 19 part 1. The PostgreSQL side creates
//! and migrates the schema (the `pg_schema` module) and runs the modules
//! moved onto this layer (memos, maintenance windows, API tokens, the
//! audit log, the schema version); the others still
//! call rusqlite directly and answer "not yet supported" on a PostgreSQL
//! store. They move one by one, SQLite's behaviour unchanged at each step.

pub(crate) mod postgres;

use std::borrow::Cow;

use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::error::Fail;
use postgres::PgConn;

/// A connection (or open transaction) the store's logic runs on.
pub(crate) enum Db<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(&'a PgConn),
}

/// A value bound to a statement, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Null,
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl rusqlite::ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Param::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Param::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(v)),
            Param::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
            Param::Blob(v) => ToSqlOutput::Borrowed(ValueRef::Blob(v)),
        })
    }
}

impl Param<'_> {
    fn owned(self) -> Value {
        match self {
            Param::Null => Value::Null,
            Param::Int(v) => Value::Int(v),
            Param::Text(v) => Value::Text(v.to_owned()),
            Param::Blob(v) => Value::Blob(v.to_vec()),
        }
    }
}

/// `[Param]` from a list of values of different types.
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::sql::Param::from($v)),*] as &[$crate::sql::Param<'_>]
    };
}
pub(crate) use params;

/// One row of an answer, read by column index.
pub(crate) enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r [Value]),
}

impl Row<'_> {
    fn value(&self, i: usize) -> Result<&Value, Fail> {
        match self {
            Row::Postgres(values) => values
                .get(i)
                .ok_or_else(|| Fail::Corrupt(format!("no column {i}"))),
            Row::Sqlite(_) => Err(Fail::Corrupt("an SQLite row read as PostgreSQL's".into())),
        }
    }

    /// Column `i` as text.
    pub(crate) fn string(&self, i: usize) -> Result<String, Fail> {
        match self {
            Row::Sqlite(r) => Ok(r.get(i)?),
            Row::Postgres(_) => match self.value(i)? {
                Value::Text(s) => Ok(s.clone()),
                other => Err(Fail::Corrupt(format!(
                    "column {i}: text expected, got {other:?}"
                ))),
            },
        }
    }

    /// Column `i` as an integer.
    pub(crate) fn i64(&self, i: usize) -> Result<i64, Fail> {
        self.opt_i64(i)?
            .ok_or_else(|| Fail::Corrupt(format!("column {i}: NULL where an integer belongs")))
    }

    /// Column `i` as an integer, `None` for NULL.
    pub(crate) fn opt_i64(&self, i: usize) -> Result<Option<i64>, Fail> {
        match self {
            Row::Sqlite(r) => Ok(r.get(i)?),
            Row::Postgres(_) => match self.value(i)? {
                Value::Int(v) => Ok(Some(*v)),
                Value::Null => Ok(None),
                other => Err(Fail::Corrupt(format!(
                    "column {i}: integer expected, got {other:?}"
                ))),
            },
        }
    }
}

impl Db<'_> {
    /// Runs one statement; how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64, Fail> {
        match self {
            Db::Sqlite(conn) => {
                let n = conn
                    .prepare_cached(sql)?
                    .execute(rusqlite::params_from_iter(params))?;
                Ok(n as u64)
            }
            Db::Postgres(pg) => {
                let values: Vec<Value> = params.iter().map(|p| p.owned()).collect();
                pg.execute(sql, &values)
            }
        }
    }

    /// Runs one query and hands each row to `each`, in order.
    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[Param<'_>],
        mut each: impl FnMut(&Row<'_>) -> Result<(), Fail>,
    ) -> Result<(), Fail> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                while let Some(r) = rows.next()? {
                    each(&Row::Sqlite(r))?;
                }
                Ok(())
            }
            Db::Postgres(pg) => {
                let values: Vec<Value> = params.iter().map(|p| p.owned()).collect();
                for row in pg.query(sql, &values)? {
                    each(&Row::Postgres(&row))?;
                }
                Ok(())
            }
        }
    }

    /// The first row's `read`, `None` without rows (further rows are
    /// not read on SQLite; PostgreSQL sends them all: for queries of one
    /// row).
    pub(crate) fn query_opt<T>(
        &self,
        sql: &str,
        params: &[Param<'_>],
        read: impl FnOnce(&Row<'_>) -> Result<T, Fail>,
    ) -> Result<Option<T>, Fail> {
        match self {
            Db::Sqlite(conn) => {
                let mut stmt = conn.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
                match rows.next()? {
                    Some(r) => Ok(Some(read(&Row::Sqlite(r))?)),
                    None => Ok(None),
                }
            }
            Db::Postgres(pg) => {
                let values: Vec<Value> = params.iter().map(|p| p.owned()).collect();
                match pg.query(sql, &values)?.first() {
                    Some(row) => Ok(Some(read(&Row::Postgres(row))?)),
                    None => Ok(None),
                }
            }
        }
    }
}

/// One value bound to a statement or read from a row; the types the
/// store's schema uses (PostgreSQL's BIGINT, DOUBLE PRECISION, TEXT and
/// BYTEA; SQLite's storage classes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl Value {
    /// The integer, `None` for NULL or another type.
    pub(crate) fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Bytes it holds, for the caps on what a query may read.
    pub(crate) fn size(&self) -> usize {
        match self {
            Value::Null | Value::Int(_) | Value::Real(_) => 8,
            Value::Text(s) => s.len() + 8,
            Value::Blob(b) => b.len() + 8,
        }
    }
}

/// Rewrites SQLite's numbered placeholders `?N` to PostgreSQL's `$N`,
/// leaving string literals, quoted identifiers and comments alone. The
/// store writes numbered placeholders only (a bare `?` stays as it is,
/// and PostgreSQL then refuses the statement).
pub(crate) fn dollar_placeholders(sql: &str) -> Cow<'_, str> {
    if !sql.contains('?') {
        return Cow::Borrowed(sql);
    }
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // Copied to the closing quote; a doubled quote closes and
                // reopens, which copies the same.
                for q in chars.by_ref() {
                    out.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '?' if chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The PostgreSQL text of SQLite schema text (a `CREATE TABLE`, `CREATE
/// INDEX`, `ALTER TABLE` or `DROP` statement as the store writes them):
/// `id INTEGER PRIMARY KEY` (a rowid alias) becomes an identity column,
/// INTEGER → BIGINT (SQLite integers are 64-bit), REAL → DOUBLE
/// PRECISION, BLOB → BYTEA, and `WITHOUT ROWID` (a storage choice
/// PostgreSQL has no use for) goes. Types are matched as whole
/// upper-case words: the schema writes types in upper case and names in
/// lower case.
pub(crate) fn postgres_ddl(sqlite: &str) -> String {
    let text = sqlite.replace(") WITHOUT ROWID", ")");
    let mut out = String::with_capacity(text.len() + 64);
    let mut word = String::new();
    // The words of the current column definition so far, to recognise
    // `id INTEGER PRIMARY KEY`.
    let mut column: Vec<String> = Vec::new();
    let flush = |word: &mut String, out: &mut String, column: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        let mapped = match word.as_str() {
            "INTEGER" => "BIGINT",
            "REAL" => "DOUBLE PRECISION",
            "BLOB" => "BYTEA",
            w => w,
        };
        if word == "KEY" && column.len() == 3 && column[0] == "id" && column[1] == "INTEGER" {
            // `id BIGINT PRIMARY KEY` → an identity column: rows inserted
            // without an id are numbered as SQLite numbers them.
            out.push_str("KEY GENERATED BY DEFAULT AS IDENTITY");
        } else {
            out.push_str(mapped);
        }
        column.push(std::mem::take(word));
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut out, &mut column);
        if c == ',' || c == '(' || c == ')' {
            column.clear();
        }
        out.push(c);
    }
    flush(&mut word, &mut out, &mut column);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_for_postgres_outside_literals() {
        assert_eq!(
            dollar_placeholders("SELECT a FROM t WHERE b = ?1 AND c IN (?2, ?10)"),
            "SELECT a FROM t WHERE b = $1 AND c IN ($2, $10)"
        );
        assert_eq!(
            dollar_placeholders("SELECT '?1', \"a?2\" -- ?3\n, ?4"),
            "SELECT '?1', \"a?2\" -- ?3\n, $4"
        );
        assert_eq!(dollar_placeholders("SELECT 1"), "SELECT 1");
    }

    #[test]
    fn sqlite_schema_text_translates_to_postgres_types() {
        assert_eq!(
            postgres_ddl(
                "CREATE TABLE t (\n    id INTEGER PRIMARY KEY,\n    blobby BLOB NOT NULL,\n    v REAL,\n    n INTEGER NOT NULL DEFAULT 0\n) WITHOUT ROWID"
            ),
            "CREATE TABLE t (\n    id BIGINT PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,\n    blobby BYTEA NOT NULL,\n    v DOUBLE PRECISION,\n    n BIGINT NOT NULL DEFAULT 0\n)"
        );
        // A key that is not a rowid alias of `id` keeps explicit values.
        assert_eq!(
            postgres_ddl("CREATE TABLE c (check_id INTEGER PRIMARY KEY REFERENCES checks(id))"),
            "CREATE TABLE c (check_id BIGINT PRIMARY KEY REFERENCES checks(id))"
        );
    }
}
