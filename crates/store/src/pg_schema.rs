//! The store's schema in PostgreSQL: created from the SQLite schema's own
//! text as it was when PostgreSQL stores began, then moved by the same
//! steps.
//!
//! SQLite keeps its step list (`schema::MIGRATIONS`), which existing files
//! still climb from version 0. A PostgreSQL store starts later: a fresh
//! database gets the schema of [`SCHEMA_VERSION`] in one transaction,
//! translated from the tables and indexes an SQLite store had at
//! [`PG_FIRST_VERSION`] (`sql::postgres_ddl`), then the SQLite steps
//! after it, translated the same way, as any older PostgreSQL store
//! climbs them. Every fresh database climbs every step, so the tests
//! comparing its columns with an SQLite store's try each new step on
//! PostgreSQL too. A step with a data
//! conversion in Rust after [`PG_FIRST_VERSION`] needs that conversion
//! written on the SQL layer first (a test keeps that true).
//!
//! The version lives in the table `keepup_schema` (its `application`
//! column holds `schema::APPLICATION_ID`, as SQLite's `PRAGMA
//! application_id`). A database with tables but no `keepup_schema` is
//! another application's and is left untouched; one whose version is
//! newer than this build is refused. Migrations hold a transaction-level
//! advisory lock, so two instances starting at once migrate once.

use crate::error::{Fail, StoreError};
use crate::schema::{self, APPLICATION_ID, SCHEMA_VERSION};
use crate::sql::postgres::PgConn;
use crate::sql::{Value, postgres_ddl};

/// The first schema version a PostgreSQL store exists at: the version
/// when it was introduced. Older SQLite files climb the SQLite steps.
pub(crate) const PG_FIRST_VERSION: u32 = 25;
const _: () = assert!(PG_FIRST_VERSION <= SCHEMA_VERSION);

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction.
pub(crate) fn migrate(conn: &PgConn, shown: &str) -> Result<(), Fail> {
    conn.begin()?;
    match migrate_in_transaction(conn, shown) {
        Ok(()) => conn.commit(),
        Err(e) => {
            // The error says what went wrong; a failed rollback only
            // means the session is gone, which ends the transaction too.
            let _ = conn.rollback();
            Err(e)
        }
    }
}

fn migrate_in_transaction(conn: &PgConn, shown: &str) -> Result<(), Fail> {
    conn.execute(
        "SELECT pg_advisory_xact_lock(?1)",
        &[Value::Int(APPLICATION_ID.into())],
    )?;
    let has_version_table = count(
        conn,
        "SELECT count(*) FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_name = 'keepup_schema'",
    )? > 0;
    if !has_version_table {
        let objects = count(
            conn,
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
        )?;
        if objects > 0 {
            return Err(StoreError::NotKeepup {
                path: shown.to_owned(),
                application_id: 0,
                version: 0,
                objects: u32::try_from(objects).unwrap_or(u32::MAX),
            }
            .into());
        }
        // The schema as PostgreSQL stores began, then the steps since:
        // every fresh database climbs them, so each is tried on
        // PostgreSQL by the tests of the build that adds it.
        for statement in sqlite_schema_at(PG_FIRST_VERSION)? {
            conn.batch(&postgres_ddl(&statement))?;
        }
        conn.batch(
            "CREATE TABLE keepup_schema (application BIGINT NOT NULL, version BIGINT NOT NULL)",
        )?;
        conn.execute(
            "INSERT INTO keepup_schema (application, version) VALUES (?1, ?2)",
            &[
                Value::Int(APPLICATION_ID.into()),
                Value::Int(PG_FIRST_VERSION.into()),
            ],
        )?;
    }
    let row = conn.query("SELECT application, version FROM keepup_schema", &[])?;
    let (application, version) = match row.as_slice() {
        [row] => (
            row.first().and_then(Value::as_i64),
            row.get(1).and_then(Value::as_i64),
        ),
        _ => (None, None),
    };
    let (Some(application), Some(version)) = (application, version) else {
        return Err(Fail::Corrupt(format!(
            "keepup_schema holds {} rows, expected one with the application and version",
            row.len()
        )));
    };
    let version = u32::try_from(version)
        .map_err(|_| Fail::Corrupt(format!("keepup_schema: version {version}")))?;
    if application != i64::from(APPLICATION_ID) {
        return Err(StoreError::NotKeepup {
            path: shown.to_owned(),
            application_id: i32::try_from(application).unwrap_or(-1),
            version,
            objects: 0,
        }
        .into());
    }
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: shown.to_owned(),
            found: version,
            supported: SCHEMA_VERSION,
        }
        .into());
    }
    if version < PG_FIRST_VERSION {
        return Err(Fail::Corrupt(format!(
            "keepup_schema: version {version} predates PostgreSQL stores ({PG_FIRST_VERSION})"
        )));
    }
    for step in &schema::MIGRATIONS[version as usize..] {
        conn.batch(&postgres_ddl(step))?;
    }
    conn.execute(
        "UPDATE keepup_schema SET version = ?1",
        &[Value::Int(SCHEMA_VERSION.into())],
    )?;
    Ok(())
}

fn count(conn: &PgConn, sql: &str) -> Result<i64, Fail> {
    conn.query_value(sql, &[])?
        .and_then(|v| v.as_i64())
        .ok_or_else(|| Fail::Corrupt(format!("no count from {sql}")))
}

/// The `CREATE` statements of an SQLite store at schema `version`, in
/// the order SQLite keeps them (each table before what refers to it).
pub(crate) fn sqlite_schema_at(version: u32) -> Result<Vec<String>, Fail> {
    let mut conn = rusqlite::Connection::open_in_memory()?;
    schema::migrate_to(&mut conn, ":memory:", version)?;
    let mut stmt = conn.prepare(
        "SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'
         ORDER BY rowid",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(row.get(0)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_conversion_after_the_first_postgres_version_has_a_postgres_side() {
        // A step converting data in Rust on rusqlite would be skipped on
        // PostgreSQL; none exists after PostgreSQL stores began. One that
        // is added must be written on the SQL layer for both first.
        for (version, _) in schema::CONVERSIONS {
            assert!(
                *version <= PG_FIRST_VERSION,
                "the conversion at version {version} runs on rusqlite only, so a PostgreSQL store \
                 would skip it: write it on the SQL layer (`sql::Db`) for both engines, \
                 or ask the owner of issue 19"
            );
        }
    }

    #[test]
    fn the_sqlite_schema_translates_without_sqlite_only_words() {
        let statements = sqlite_schema_at(SCHEMA_VERSION).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(statements.len() > 30, "{statements:?}");
        for s in statements {
            let pg = postgres_ddl(&s);
            for word in ["WITHOUT ROWID", "INTEGER", "BLOB", " REAL", "AUTOINCREMENT"] {
                assert!(!pg.contains(word), "{word} left in: {pg}");
            }
        }
    }
}
