//! The [`Store`] handle: opening, recording, reading back.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use keepup_model::{CheckId, Timestamp};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

use crate::content::{self, Cached, Columns, Content};
use crate::error::{Fail, StoreError};
use crate::findings;
use crate::readers::{MAX_READERS, Readers};
use crate::schema;
use crate::spans;
use crate::sql::Db;
use crate::sql::postgres::{PgConn, PostgresTarget};
use crate::{CheckMeta, FindingSeen, LatestState, PingKind, ResultRecord};

/// Keeps the database at `path` and its WAL companions from other users:
/// a new file is created 0600 before SQLite opens it (SQLite gives `-wal`
/// and `-shm` the database's mode), and an existing one with bits for
/// others loses them, with a warning. Group bits stay: an admin who gave
/// the group access (a backup user, say) meant it.
fn closed_to_others(path: &Path, shown: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(source) => {
            return Err(StoreError::CreateFile {
                path: shown.to_owned(),
                source,
            });
        }
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = path.as_os_str().to_owned();
        file.push(suffix);
        let file = Path::new(&file);
        let Ok(meta) = std::fs::metadata(file) else {
            continue;
        };
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o007 == 0 {
            continue;
        }
        let tightened = mode & !0o007;
        match std::fs::set_permissions(file, std::fs::Permissions::from_mode(tightened)) {
            Ok(()) => tracing::warn!(
                file = %file.display(),
                was = format_args!("{mode:04o}"),
                now = format_args!("{tightened:04o}"),
                "the store was readable by other users; no longer"
            ),
            Err(e) => tracing::warn!(
                file = %file.display(),
                mode = format_args!("{mode:04o}"),
                error = %e,
                "the store is readable by other users and its mode cannot be changed"
            ),
        }
    }
    Ok(())
}

/// Pings kept per check.
const PING_HISTORY: i64 = 100;

/// A handle on one keepup database. Cheap to clone; clones share one SQLite
/// connection behind a mutex, so writes from many threads are serialized,
/// and (for a database file) a few read-only connections that history
/// reads share (the `readers` module), so those run side by side and
/// beside a write. Other processes may open the same file (WAL lets
/// readers run beside the writer; writers wait up to 5 s for each other).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

struct Inner {
    /// For error messages: the file path, `:memory:` or
    /// `postgres://user@host:port/database`.
    path: String,
    engine: Engine,
}

/// The database under the store.
// One per store, inside its `Arc`: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Sqlite {
        state: Mutex<State>,
        /// Read-only connections for history reads; `None` for a database
        /// in memory (private to its one connection) or a store opened
        /// read-only (its one connection is a reader already).
        readers: Option<Readers>,
    },
    /// A PostgreSQL session (the `sql::postgres` module). Only operations
    /// moved onto the SQL layer (`with_db`) run on it; the others fail
    /// "not yet supported" (issue 19).
    Postgres(Mutex<PgConn>),
}

/// The connection and caches that only save lookups. The caches are
/// dropped whenever an operation fails, because a rolled-back transaction
/// may have put ids in them that no longer exist.
pub(crate) struct State {
    pub conn: Connection,
    /// `CheckId` text to `checks.id`.
    pub check_ids: HashMap<String, i64>,
    /// `checks.id` to the content its latest result used.
    pub contents: HashMap<i64, Cached>,
}

impl State {
    fn forget_caches(&mut self) {
        self.check_ids.clear();
        self.contents.clear();
    }
}

impl Store {
    /// Opens (creating if needed) the database at `path`, creating its
    /// directory if missing, switching it to WAL and bringing its schema up
    /// to date. The file is created readable by its owner only (it holds
    /// password hashes and session digests), and an existing one readable
    /// by others loses the others' bits, with a warning (the group's stay).
    ///
    /// Fails, without modifying the file, when it is not an SQLite database,
    /// is another application's database, or was written by a newer keepup.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: shown.clone(),
                dir: dir.to_owned(),
                source,
            })?;
        }
        closed_to_others(path, &shown)?;
        let conn = Connection::open(path).map_err(|e| Fail::from(e).at(&shown, "open"))?;
        Self::setup(conn, shown, Some(Readers::new(path, MAX_READERS)))
    }

    /// Opens an existing database for reading only, as `keepup status
    /// --watch` does beside a running daemon: SQLite refuses every write
    /// through this handle, and nothing is created or migrated.
    ///
    /// Fails when the file is missing, is not keepup's, or has another
    /// schema version than this build (an older one is brought up to date
    /// by the daemon of this version at its start).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        let flags =
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| Fail::from(e).at(&shown, "open read-only"))?;
        schema::check_read_only(&conn, &shown).map_err(|e| e.at(&shown, "open read-only"))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: shown,
                engine: Engine::Sqlite {
                    state: Mutex::new(State {
                        conn,
                        check_ids: HashMap::new(),
                        contents: HashMap::new(),
                    }),
                    readers: None,
                },
            }),
        })
    }

    /// A fresh private database in memory, for tests.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let shown = ":memory:".to_owned();
        let conn = Connection::open_in_memory().map_err(|e| Fail::from(e).at(&shown, "open"))?;
        Self::setup(conn, shown, None)
    }

    /// Configures and migrates the read-write connection; `readers` is the
    /// pool of a database file (`None` in memory).
    fn setup(
        mut conn: Connection,
        path: String,
        readers: Option<Readers>,
    ) -> Result<Store, StoreError> {
        let mode = schema::configure(&conn, readers.is_some()).map_err(|e| e.at(&path, "open"))?;
        if let Some(mode) = mode {
            return Err(StoreError::NotWal { path, mode });
        }
        schema::migrate(&mut conn, &path).map_err(|e| e.at(&path, "migrate"))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path,
                engine: Engine::Sqlite {
                    state: Mutex::new(State {
                        conn,
                        check_ids: HashMap::new(),
                        contents: HashMap::new(),
                    }),
                    readers,
                },
            }),
        })
    }

    /// Opens the PostgreSQL store of `target`: connects (TLS as asked),
    /// creates the schema in an empty database or brings it up to date
    /// (the `pg_schema` module), refusing another application's database
    /// or a newer schema, as [`Store::open`] does for a file.
    ///
    /// The foundation of issue 19: the memos, the maintenance windows
    /// started by hand, the API tokens, the audit log and the schema version
    /// run on it; every other operation fails with "not yet supported:
    /// `OP` runs on SQLite only so far" until its module moves onto the
    /// SQL layer, and the
    /// binary refuses `[store] url` at load meanwhile.
    pub fn open_postgres(target: &PostgresTarget) -> Result<Store, StoreError> {
        let shown = target.shown();
        let conn = PgConn::connect(target).map_err(|e| e.at(&shown, "open"))?;
        crate::pg_schema::migrate(&conn, &shown).map_err(|e| e.at(&shown, "migrate"))?;
        Ok(Store {
            inner: Arc::new(Inner {
                path: shown,
                engine: Engine::Postgres(Mutex::new(conn)),
            }),
        })
    }

    /// The schema version of the open database (`PRAGMA user_version`,
    /// PostgreSQL's `keepup_schema`).
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.with_db("schema_version", |db| {
            let sql = match db {
                Db::Sqlite(_) => "PRAGMA user_version",
                Db::Postgres(_) => "SELECT version FROM keepup_schema",
            };
            let version = db
                .query_opt(sql, &[], |r| r.opt_i64(0))?
                .flatten()
                .ok_or_else(|| Fail::Corrupt("no schema version".into()))?;
            u32::try_from(version).map_err(|_| Fail::Corrupt(format!("schema version {version}")))
        })
    }

    /// Inserts or updates the metadata of `checks`, in one transaction.
    /// Checks missing from the list are left alone with their history.
    pub fn register_checks(&self, checks: &[CheckMeta]) -> Result<(), StoreError> {
        self.with_state("register_checks", |st| {
            let tx = st.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO checks (key, site, name, kind, max_gap_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (key) DO UPDATE SET site = excluded.site, name = excluded.name, kind = excluded.kind,
                       max_gap_ms = excluded.max_gap_ms
                     RETURNING id",
                )?;
                for c in checks {
                    let max_gap = c.max_gap.map(|g| i64::try_from(g.as_millis()).unwrap_or(i64::MAX));
                    let id: i64 = upsert.query_row(
                        params![c.id.as_str(), c.site, c.name, c.kind, max_gap],
                        |r| r.get(0),
                    )?;
                    // Warm the id cache so that the first results and
                    // incidents after start do not look each check up.
                    st.check_ids.insert(c.id.as_str().to_owned(), id);
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    /// Records a batch of results in one transaction, and in the same
    /// transaction moves each check's current state forward.
    ///
    /// A check not registered yet is registered with kind `unknown`. A
    /// [`backfill`](ResultRecord::backfill) result older than the check's
    /// current state is stored and takes its place in the status spans
    /// (and in `since`, when it splits the current status's run), but the
    /// current state stays the newest result's; one that is not backfill
    /// means the clock stepped back and becomes the current state (the
    /// `spans` module). The current status's `since` moves only
    /// when the status changes (results of one check are considered in
    /// time order, whatever their order in `results`). Status spans move
    /// forward in the same transaction (see the `spans` module), and so
    /// do the days on which findings were seen (the `findings` module).
    pub fn record(&self, results: &[ResultRecord]) -> Result<(), StoreError> {
        if results.is_empty() {
            return Ok(());
        }
        self.with_state("record", |st| record_batch(st, results))
    }

    /// The current state of every check that has ever had a result, ordered
    /// by check id.
    pub fn latest(&self) -> Result<Vec<LatestState>, StoreError> {
        self.with_state("latest", |st| {
            let mut stmt = st
                .conn
                .prepare_cached(&format!("{LATEST_SELECT} ORDER BY c.key"))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(latest_from_row(row)?);
            }
            Ok(out)
        })
    }

    /// The current state of one check, `None` if it never had a result.
    pub fn latest_for(&self, check: &CheckId) -> Result<Option<LatestState>, StoreError> {
        self.with_state("latest_for", |st| {
            let mut stmt = st
                .conn
                .prepare_cached(&format!("{LATEST_SELECT} WHERE c.key = ?1"))?;
            let mut rows = stmt.query(params![check.as_str()])?;
            match rows.next()? {
                Some(row) => Ok(Some(latest_from_row(row)?)),
                None => Ok(None),
            }
        })
    }

    /// Raw results of `check` with `from <= at < to`, newest first, at most
    /// `limit` of them. Only results younger than the raw retention exist.
    pub fn results(
        &self,
        check: &CheckId,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<ResultRecord>, StoreError> {
        self.with_reader("results", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT r.ts, r.status, r.latency_us, r.dns_us, r.connect_us, r.tls_us, r.first_byte_us, r.total_us,
                        t.message, t.findings, t.details
                 FROM result r LEFT JOIN content t ON t.id = r.content_id
                 WHERE r.check_id = (SELECT id FROM checks WHERE key = ?1) AND r.ts >= ?2 AND r.ts < ?3
                 ORDER BY r.ts DESC LIMIT ?4",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![check.as_str(), from, to, limit])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(ResultRecord {
                    check: check.clone(),
                    at: row.get(0)?,
                    outcome: outcome_from_row(row, 1, 8)?,
                    backfill: false,
                });
            }
            Ok(out)
        })
    }

    /// The distinct findings of `check`'s results with `from <= at < to`:
    /// each with the first and last time it was seen and in how many
    /// results. Read from the findings recorded per day (the `findings`
    /// module), so the cost follows the days and distinct outcomes with
    /// findings, not the results, and days older than the raw retention
    /// are covered as long as day rollups are kept.
    pub fn findings_between(
        &self,
        check: &CheckId,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<FindingSeen>, StoreError> {
        self.with_reader("findings_between", |conn| {
            findings::between(conn, check.as_str(), from, to)
        })
    }

    /// Records a heartbeat ping. The last [`PING_HISTORY`] pings per check
    /// are kept. An unknown check is registered with kind `unknown`.
    pub fn record_ping(
        &self,
        check: &CheckId,
        at: Timestamp,
        kind: PingKind,
    ) -> Result<(), StoreError> {
        self.with_state("record_ping", |st| {
            let State {
                conn, check_ids, ..
            } = st;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = check_id(&tx, check_ids, check)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO ping (check_id, ts, kind) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![id, at, ping_code(kind)])?;
            tx.prepare_cached(
                "DELETE FROM ping WHERE check_id = ?1 AND ts <
                   (SELECT ts FROM ping WHERE check_id = ?1 ORDER BY ts DESC LIMIT 1 OFFSET ?2)",
            )?
            .execute(params![id, PING_HISTORY - 1])?;
            tx.commit()?;
            Ok(())
        })
    }

    /// The most recent ping of `check`.
    pub fn last_ping(&self, check: &CheckId) -> Result<Option<(Timestamp, PingKind)>, StoreError> {
        Ok(self.pings(check, 1)?.into_iter().next())
    }

    /// The most recent pings of `check`, newest first, at most `limit`.
    pub fn pings(
        &self,
        check: &CheckId,
        limit: usize,
    ) -> Result<Vec<(Timestamp, PingKind)>, StoreError> {
        self.with_state("pings", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT ts, kind FROM ping WHERE check_id = (SELECT id FROM checks WHERE key = ?1)
                 ORDER BY ts DESC LIMIT ?2",
            )?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![check.as_str(), limit])?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push((row.get(0)?, ping_from_code(row.get(1)?)?));
            }
            Ok(out)
        })
    }

    /// Runs `f` on the locked state; on failure, drops the caches and says
    /// where and what failed.
    pub(crate) fn with_state<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut State) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        let state = match &self.inner.engine {
            Engine::Sqlite { state, .. } => state,
            Engine::Postgres(_) => return Err(not_on_postgres(op).at(&self.inner.path, op)),
        };
        let mut guard = match state.lock() {
            Ok(guard) => guard,
            Err(poisoned) => {
                // A panic mid-operation rolled its transaction back when
                // the transaction was dropped; only the caches are suspect.
                state.clear_poison();
                let mut guard = poisoned.into_inner();
                guard.forget_caches();
                guard
            }
        };
        f(&mut guard).map_err(|e| {
            guard.forget_caches();
            e.at(&self.inner.path, op)
        })
    }

    /// Runs the read `f` on a read-only connection of the pool, beside
    /// other readers and the writer (on the one connection for a store
    /// without a pool); says where and what failed. `f` sees every
    /// transaction committed before it starts. It must not call the store
    /// again: a nested read could wait for a connection it holds.
    pub(crate) fn with_reader<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Connection) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        match &self.inner.engine {
            Engine::Sqlite {
                readers: Some(readers),
                ..
            } => readers.with(f).map_err(|e| e.at(&self.inner.path, op)),
            _ => self.with_state(op, |st| f(&mut st.conn)),
        }
    }

    /// Runs `f` on the store's database, SQLite or PostgreSQL (the `sql`
    /// module); says where and what failed.
    pub(crate) fn with_db<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Db<'_>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        match &self.inner.engine {
            Engine::Sqlite { .. } => self.with_state(op, |st| f(&Db::Sqlite(&st.conn))),
            Engine::Postgres(pg) => {
                let pg = lock_postgres(pg);
                f(&Db::Postgres(&pg)).map_err(|e| e.at(&self.inner.path, op))
            }
        }
    }

    /// Runs `f` in a write transaction: SQLite's `BEGIN IMMEDIATE`, or a
    /// PostgreSQL transaction that first takes the store's advisory lock,
    /// so writers queue in both; committed when `f` succeeds, rolled back
    /// when it fails.
    pub(crate) fn with_db_tx<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&Db<'_>) -> Result<T, Fail>,
    ) -> Result<T, StoreError> {
        match &self.inner.engine {
            Engine::Sqlite { .. } => self.with_state(op, |st| {
                let tx = st
                    .conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&Db::Sqlite(&tx))?;
                tx.commit()?;
                Ok(out)
            }),
            Engine::Postgres(pg) => {
                let pg = lock_postgres(pg);
                // Rolls back when `f` fails or panics, before the session
                // is unlocked: the advisory lock goes with the transaction,
                // and other instances wait on it.
                let tx = PgTx::begin(&pg).map_err(|e| e.at(&self.inner.path, op))?;
                let run = || {
                    pg.execute(
                        "SELECT pg_advisory_xact_lock(?1)",
                        &[crate::sql::Value::Int(schema::APPLICATION_ID.into())],
                    )?;
                    f(&Db::Postgres(&pg))
                };
                let out = run().map_err(|e: Fail| e.at(&self.inner.path, op))?;
                tx.commit().map_err(|e| e.at(&self.inner.path, op))?;
                Ok(out)
            }
        }
    }

    /// How many read-only connections the store has open (0 without a
    /// pool): they are opened on demand, up to a small fixed number.
    pub fn readers_open(&self) -> usize {
        match &self.inner.engine {
            Engine::Sqlite {
                readers: Some(readers),
                ..
            } => readers.opened(),
            _ => 0,
        }
    }

    /// The integers the one-column query `sql` returns.
    pub(crate) fn id_set(
        &self,
        op: &'static str,
        sql: &str,
    ) -> Result<std::collections::HashSet<i64>, StoreError> {
        self.with_state(op, |st| {
            let mut stmt = st.conn.prepare_cached(sql)?;
            let mut rows = stmt.query([])?;
            let mut out = std::collections::HashSet::new();
            while let Some(r) = rows.next()? {
                out.insert(r.get(0)?);
            }
            Ok(out)
        })
    }

    /// The path shown in messages (`:memory:` for in-memory stores).
    pub fn path(&self) -> &str {
        &self.inner.path
    }
}

/// The error of an operation not moved onto the SQL layer yet, on a
/// PostgreSQL store.
fn not_on_postgres(op: &'static str) -> Fail {
    Fail::Postgres(format!(
        "not yet supported: `{op}` runs on SQLite only so far (issue 19)"
    ))
}

/// The session, also after a panic while it was held (the transaction
/// the panic interrupted was rolled back by [`PgTx`]'s drop).
fn lock_postgres(pg: &Mutex<PgConn>) -> std::sync::MutexGuard<'_, PgConn> {
    match pg.lock() {
        Ok(guard) => guard,
        Err(poisoned) => {
            pg.clear_poison();
            poisoned.into_inner()
        }
    }
}

/// A PostgreSQL transaction, rolled back when dropped uncommitted: on an
/// error and on a panic alike, at once.
struct PgTx<'a> {
    conn: &'a PgConn,
    open: bool,
}

impl<'a> PgTx<'a> {
    fn begin(conn: &'a PgConn) -> Result<PgTx<'a>, Fail> {
        conn.begin()?;
        Ok(PgTx { conn, open: true })
    }

    fn commit(mut self) -> Result<(), Fail> {
        self.open = false;
        self.conn.commit()
    }
}

impl Drop for PgTx<'_> {
    fn drop(&mut self) {
        if self.open {
            // A failed rollback means the session is gone, and the
            // transaction with it.
            let _ = self.conn.rollback();
        }
    }
}

const LATEST_SELECT: &str = "
    SELECT c.key, c.site, c.name, c.kind, s.ts, s.since,
           s.status, s.latency_us, s.dns_us, s.connect_us, s.tls_us, s.first_byte_us, s.total_us,
           t.message, t.findings, t.details, c.max_gap_ms
    FROM current s
    JOIN checks c ON c.id = s.check_id
    LEFT JOIN content t ON t.id = s.content_id";

fn latest_from_row(row: &Row<'_>) -> Result<LatestState, Fail> {
    Ok(LatestState {
        meta: CheckMeta {
            id: CheckId(row.get(0)?),
            site: row.get(1)?,
            name: row.get(2)?,
            kind: row.get(3)?,
            max_gap: row
                .get::<_, Option<i64>>(16)?
                .map(|ms| std::time::Duration::from_millis(ms.max(0) as u64)),
        },
        at: row.get(4)?,
        since: row.get(5)?,
        outcome: outcome_from_row(row, 6, 13)?,
    })
}

/// Reads status, latency and the five timings from `cols..cols + 7` and the
/// content (message, findings, details) from `text..text + 3`.
fn outcome_from_row(
    row: &Row<'_>,
    cols: usize,
    text: usize,
) -> Result<keepup_model::Outcome, Fail> {
    let columns = Columns {
        status: row.get(cols)?,
        latency_us: row.get(cols + 1)?,
        timing: [
            row.get(cols + 2)?,
            row.get(cols + 3)?,
            row.get(cols + 4)?,
            row.get(cols + 5)?,
            row.get(cols + 6)?,
        ],
    };
    let message: Option<String> = row.get(text)?;
    let content = match message {
        Some(m) => Some((m, row.get(text + 1)?, row.get(text + 2)?)),
        None => None,
    };
    content::decode(columns, content)
}

fn ping_code(kind: PingKind) -> i64 {
    match kind {
        PingKind::Success => 0,
        PingKind::Fail => 1,
    }
}

fn ping_from_code(code: i64) -> Result<PingKind, Fail> {
    match code {
        0 => Ok(PingKind::Success),
        1 => Ok(PingKind::Fail),
        other => Err(Fail::Corrupt(format!("ping kind {other}"))),
    }
}

/// The integer id of `check`, registering it with kind `unknown` if new.
pub(crate) fn check_id(
    tx: &Transaction<'_>,
    cache: &mut HashMap<String, i64>,
    check: &CheckId,
) -> Result<i64, Fail> {
    if let Some(&id) = cache.get(check.as_str()) {
        return Ok(id);
    }
    let known = tx
        .prepare_cached("SELECT id FROM checks WHERE key = ?1")?
        .query_row(params![check.as_str()], |r| r.get(0))
        .optional()?;
    let id = match known {
        Some(id) => id,
        None => {
            let meta = CheckMeta::unregistered(check);
            tx.prepare_cached(
                "INSERT INTO checks (key, site, name, kind) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![check.as_str(), meta.site, meta.name, meta.kind])?;
            tx.last_insert_rowid()
        }
    };
    cache.insert(check.as_str().to_owned(), id);
    Ok(id)
}

/// The part of `current` that decides `since` and the open span.
pub(crate) struct Current {
    pub(crate) status: i64,
    pub(crate) since: Timestamp,
    pub(crate) at: Timestamp,
    /// Start of the open status span (`None` after the daemon stopped).
    pub(crate) span_start: Option<Timestamp>,
}

fn record_batch(st: &mut State, results: &[ResultRecord]) -> Result<(), Fail> {
    let State {
        conn,
        check_ids,
        contents,
    } = st;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;

    // Work check by check in time order: `since` needs the order, and the
    // inserts then walk the (check_id, ts) primary key sequentially.
    let mut order = Vec::with_capacity(results.len());
    for (i, r) in results.iter().enumerate() {
        order.push((check_id(&tx, check_ids, &r.check)?, r.at, i));
    }
    order.sort_unstable();

    let mut insert = tx.prepare_cached(
        "INSERT OR REPLACE INTO result
           (check_id, ts, status, latency_us, content_id, dns_us, connect_us, tls_us, first_byte_us, total_us)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    // One row per check: its allowed gap, and its current state if any.
    let mut load_current = tx.prepare_cached(
        "SELECT c.max_gap_ms, s.status, s.since, s.ts, s.span_start
         FROM checks c LEFT JOIN current s ON s.check_id = c.id WHERE c.id = ?1",
    )?;
    let mut save_current = tx.prepare_cached(
        "INSERT OR REPLACE INTO current
           (check_id, status, since, ts, latency_us, content_id, dns_us, connect_us, tls_us, first_byte_us, total_us,
            span_start)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?;

    let mut findings = findings::Tally::default();
    let mut start = 0;
    while start < order.len() {
        let check = order[start].0;
        let end = start + order[start..].iter().take_while(|o| o.0 == check).count();
        let (max_gap, mut current) = load_current.query_row(params![check], |r| {
            let max_gap: Option<i64> = r.get(0)?;
            let current = match r.get::<_, Option<i64>>(1)? {
                Some(status) => Some(Current {
                    status,
                    since: r.get(2)?,
                    at: r.get(3)?,
                    span_start: r.get(4)?,
                }),
                None => None,
            };
            Ok((max_gap.unwrap_or(0), current))
        })?;
        // The newest result of this batch that moves the current state:
        // (index into results, content id).
        let mut newest = None;
        // The oldest and newest results recorded late (history older than
        // the current state, or in place of the current result).
        let mut late: Option<(Timestamp, Timestamp)> = None;
        // The oldest result the check's spans can be derived from: the
        // oldest kept before this batch when it has late ones (its first
        // result, the oldest, is not newer than the current), this batch's
        // first for a check without results.
        let oldest_kept = match &current {
            Some(c) if order[start].1 <= c.at => tx
                .prepare_cached("SELECT MIN(ts) FROM result WHERE check_id = ?1")?
                .query_row(params![check], |r| r.get::<_, Option<Timestamp>>(0))?,
            Some(_) => None,
            None => Some(order[start].1),
        };
        let mut stepped_too_far_told = false;
        for &(_, at, i) in &order[start..end] {
            let outcome = &results[i].outcome;
            let content = match outcome.attachments.first() {
                // Stored beside the result and named in its evidence.
                Some(shot) => match crate::screenshots::insert(&tx, check, at, shot)? {
                    Some(id) => {
                        let mut details = outcome.evidence.details.clone();
                        details.insert(
                            "screenshot".into(),
                            serde_json::json!({ "id": id, "bytes": shot.bytes.len(), "mime": shot.mime }),
                        );
                        Content::with_details(outcome, &details)?
                    }
                    None => Content::of(outcome)?,
                },
                None => Content::of(outcome)?,
            };
            let content_id = content::content_id(&tx, contents, check, content, at)?;
            let status = content::status_code(outcome.status);
            let latency = content::ms_to_us(outcome.latency_ms);
            let [dns, connect, tls, first_byte, total] =
                content::timing_columns(outcome.evidence.timing.as_ref());
            insert.execute(params![
                check, at, status, latency, content_id, dns, connect, tls, first_byte, total
            ])?;
            if !outcome.findings.is_empty() {
                findings.note(&tx, check, at, content_id)?;
            }
            match &mut current {
                None => {
                    current = Some(Current {
                        status,
                        since: at,
                        at,
                        span_start: Some(at),
                    })
                }
                Some(c) if at > c.at => {
                    let prev = (c.at, c.status);
                    if let Some(closed) =
                        spans::advance(&mut c.span_start, prev, max_gap, at, status)
                    {
                        spans::insert_closed(&tx, check, closed)?;
                    }
                    if status != c.status {
                        c.since = at;
                    }
                    c.status = status;
                    c.at = at;
                }
                Some(c)
                    if at < c.at
                        && !results[i].backfill
                        && c.at - at <= spans::MAX_STEP_BACK_MS =>
                {
                    // Not history, yet older: the wall clock stepped back.
                    spans::step_back(&tx, check, at, status, c)?;
                }
                Some(c) if at < c.at && !results[i].backfill && !stepped_too_far_told => {
                    // Further back than a clock correction goes: the clock
                    // is wrong (a host booting with a stale RTC), and the
                    // timeline since would be lost following it. The
                    // result is kept as history below.
                    stepped_too_far_told = true;
                    tracing::error!(
                        check_id = check,
                        behind_s = (c.at - at) / 1000,
                        "a result is dated far before the check's latest one: the wall clock is wrong; kept as history, the current state waits for the clock"
                    );
                    late = Some(late.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))));
                    continue;
                }
                Some(c) => {
                    // History (or the current result again): it takes its
                    // place in the spans below.
                    late = Some(late.map_or((at, at), |(lo, hi)| (lo.min(at), hi.max(at))));
                    if at < c.at {
                        continue;
                    }
                }
            }
            newest = Some((i, content_id));
        }
        if let (Some(late), Some(c)) = (late, &mut current) {
            spans::respan(&tx, check, max_gap, late, oldest_kept, c)?;
            if newest.is_none() {
                tx.prepare_cached(
                    "UPDATE current SET status = ?2, since = ?3, span_start = ?4 WHERE check_id = ?1",
                )?
                .execute(params![check, c.status, c.since, c.span_start])?;
            }
        }
        if let (Some((i, content_id)), Some(c)) = (newest, &current) {
            let outcome = &results[i].outcome;
            let [dns, connect, tls, first_byte, total] =
                content::timing_columns(outcome.evidence.timing.as_ref());
            save_current.execute(params![
                check,
                c.status,
                c.since,
                c.at,
                content::ms_to_us(outcome.latency_ms),
                content_id,
                dns,
                connect,
                tls,
                first_byte,
                total,
                c.span_start
            ])?;
        }
        start = end;
    }
    findings.flush(&tx)?;
    drop((insert, load_current, save_current));
    tx.commit()?;
    Ok(())
}
