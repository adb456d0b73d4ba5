//! The one error type of the crate. Every message starts with the database
//! it concerns (`store /var/lib/keepup/keepup.db: ...`, or
//! `store postgres://keepup@db:5432/keepup: ...`) and, for operations,
//! says which operation failed.

use std::path::PathBuf;

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A blocking task that was using the store panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(String),
    /// The directory that should hold the database could not be created.
    #[error("store {path}: cannot create directory {}: {source}", dir.display())]
    CreateDir {
        /// The database path.
        path: String,
        /// The directory.
        dir: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database file could not be created.
    #[error("store {path}: cannot create the file: {source}")]
    CreateFile {
        /// The database path.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// SQLite refused an operation (locked, corrupt, not a database, disk
    /// full, ...).
    #[error("store {path}: {op}: {}", sqlite_reason(source))]
    Sqlite {
        /// The database path.
        path: String,
        /// The operation (`open`, `record`, `compact`, ...).
        op: &'static str,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// PostgreSQL refused an operation, or could not be reached. `path` is
    /// `postgres://user@host:port/database` (never a password).
    #[error("store {path}: {op}: {detail}")]
    Postgres {
        /// The server and database.
        path: String,
        /// The operation (`open`, `migrate`, ...).
        op: &'static str,
        /// What went wrong, with the server's SQLSTATE when it answered.
        detail: String,
    },
    /// Findings or evidence could not be encoded to or decoded from JSON.
    #[error("store {path}: {op}: JSON: {source}")]
    Json {
        /// The database path.
        path: String,
        /// The operation.
        op: &'static str,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// A stored row holds a value this version cannot interpret.
    #[error("store {path}: {op}: corrupt data: {detail}")]
    Corrupt {
        /// The database path.
        path: String,
        /// The operation.
        op: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// The database was written by a newer keepup with a schema this one
    /// does not know.
    #[error(
        "store {path}: schema version {found} is newer than the {supported} this keepup supports; \
         run a newer keepup or restore an older copy of the database"
    )]
    TooNew {
        /// The database path.
        path: String,
        /// The version found in the file.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// A read-only reader found an older schema, which only a writer may
    /// bring up to date.
    #[error(
        "store {path}: schema version {found} is older than the {supported} this keepup reads; \
         start `keepup run` of this version once to bring it up to date"
    )]
    TooOld {
        /// The database path.
        path: String,
        /// The version found in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// The file is an SQLite database, but not one of keepup's; it is left
    /// untouched.
    #[error(
        "store {path}: not a keepup database (application_id {application_id:#x}, \
         schema version {version}, {objects} schema objects); refusing to modify it"
    )]
    NotKeepup {
        /// The database path.
        path: String,
        /// The file's `PRAGMA application_id`.
        application_id: i32,
        /// The file's `PRAGMA user_version`.
        version: u32,
        /// How many tables, indexes, ... it has.
        objects: u32,
    },
    /// SQLite would not switch the file to WAL mode (e.g. on a file system
    /// without shared-memory support).
    #[error("store {path}: journal mode is {mode}, expected wal (network file system?)")]
    NotWal {
        /// The database path.
        path: String,
        /// The mode SQLite reported.
        mode: String,
    },
}

/// SQLite's complaint as a sentence with what to do for the failures a
/// person can fix, SQLite's own words after it.
fn sqlite_reason(e: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode as C;
    let advice = match e.sqlite_error_code() {
        Some(C::DatabaseBusy | C::DatabaseLocked) => {
            "the database is locked by another process (is a second keepup using the same store?)"
        }
        Some(C::NotADatabase) => {
            "the file is not an SQLite database (is the store path right? keepup does not overwrite it)"
        }
        Some(C::DatabaseCorrupt) => {
            "the database file is corrupt (restore a copy, or move it aside to start an empty store)"
        }
        Some(C::DiskFull) => "the disk is full (free some space)",
        Some(C::ReadOnly) => {
            "the database is read-only (check the permissions of the file and its directory)"
        }
        Some(C::CannotOpen) => {
            "the database file cannot be opened (check that its directory exists and keepup may write there)"
        }
        Some(C::PermissionDenied) => "permission denied (check the file's owner and mode)",
        Some(C::SystemIoFailure) => "the disk reported an I/O error",
        _ => return e.to_string(),
    };
    format!("{advice} (SQLite: {e})")
}

/// Errors inside an operation, before the path and operation name are
/// attached by [`Fail::at`].
#[derive(Debug)]
pub(crate) enum Fail {
    Sqlite(rusqlite::Error),
    Postgres(String),
    Json(serde_json::Error),
    Corrupt(String),
    Store(Box<StoreError>),
}

impl From<rusqlite::Error> for Fail {
    fn from(e: rusqlite::Error) -> Self {
        Fail::Sqlite(e)
    }
}

impl From<rusqlite::types::FromSqlError> for Fail {
    fn from(e: rusqlite::types::FromSqlError) -> Self {
        Fail::Corrupt(e.to_string())
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::Json(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(Box::new(e))
    }
}

impl Fail {
    /// Attaches where and what.
    pub(crate) fn at(self, path: &str, op: &'static str) -> StoreError {
        let path = path.to_owned();
        match self {
            Fail::Sqlite(source) => StoreError::Sqlite { path, op, source },
            Fail::Postgres(detail) => StoreError::Postgres { path, op, detail },
            Fail::Json(source) => StoreError::Json { path, op, source },
            Fail::Corrupt(detail) => StoreError::Corrupt { path, op, detail },
            Fail::Store(e) => *e,
        }
    }
}
