//! Restoring database dumps: the scheduled restore test, which proves a
//! dump restores (into a scratch database, checked by validation queries,
//! then dropped), and the operator's restore into a named database
//! (`keepup backup restore --into-db URL`).
//!
//! The dump arrives as a [`Read`] (from the repository) and is streamed
//! into `psql` (plain SQL), `pg_restore` (custom format) or `mysql`: never
//! staged on disk. Every client stops at the first error. A plain dump
//! without its completion line (a truncated stream) fails even when what
//! was restored passes the validation queries.
//!
//! Credentials work as for dumps ([`crate::dump`]): the password (from the
//! configuration or the URL) reaches the clients through their
//! environment, never a command line or a message, and the clients get
//! nothing else of keepup's environment ([`crate::child`]).
//!
//! Every client has a deadline ([`RestoreOptions::timeout`]): when it
//! passes, its process group is killed and the restore fails saying so;
//! connecting is bounded by [`RestoreTarget::connect_timeout`].

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keepup_config::Secret;
use keepup_config::backup::{DatabaseKind, DumpFormat};
use keepup_model::text::PercentDecodeError;

use crate::child::Deadline;
use crate::dump::{self, Server};

/// The prefix of scratch databases: `keepup_restore_test_<16 hex digits>`.
pub const SCRATCH_PREFIX: &str = "keepup_restore_test_";

/// How much of a client's stderr is kept (its end).
const STDERR_TAIL: usize = 8 * 1024;
/// How much of a statement's output is kept (validation queries print one
/// number).
const OUTPUT_LIMIT: u64 = 64 * 1024;
/// Size of the copy buffer between the dump stream and the client.
const COPY_BUFFER: usize = 256 * 1024;

/// A database server to restore into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreTarget {
    /// PostgreSQL or MySQL/MariaDB.
    pub kind: DatabaseKind,
    /// Host name or address; a path (starting with `/`) is a Unix socket.
    /// `None`: the client's default.
    pub host: Option<String>,
    /// TCP port; `None`: the client's default.
    pub port: Option<u16>,
    /// User name (needs the right to create and drop databases); `None`:
    /// the client's default.
    pub user: Option<String>,
    /// The password (from the configuration or a URL).
    pub password: Option<Secret>,
    /// Connecting (TCP and login) must not take longer (default 30 s).
    pub connect_timeout: Duration,
    /// PostgreSQL: the database to connect to for `CREATE DATABASE` and
    /// `DROP DATABASE` (default `postgres`). Unused for MySQL.
    pub maintenance_db: Option<String>,
    /// Directory of the clients (`psql`, `pg_restore`, `mysql`); `None`:
    /// found on `PATH`.
    pub bin_dir: Option<PathBuf>,
}

impl RestoreTarget {
    /// A target with the clients' defaults.
    pub fn new(kind: DatabaseKind) -> Self {
        Self {
            kind,
            host: None,
            port: None,
            user: None,
            password: None,
            connect_timeout: dump::CONNECT_TIMEOUT,
            maintenance_db: None,
            bin_dir: None,
        }
    }

    /// Parses `postgres://[user[:password]@]host[:port]/dbname` (also
    /// `postgresql://`) or `mysql://...` (also `mariadb://`); returns the
    /// target and the database name. Percent-escapes are decoded (a Unix
    /// socket directory is written `%2Frun%2Fpostgresql`); IPv6 addresses
    /// go in brackets. Query parameters are refused.
    pub fn from_url(url: &str) -> Result<(Self, String), RestoreError> {
        parse_url(url)
    }

    /// `what`: `PostgreSQL on host:port`, for messages.
    pub fn describe(&self) -> String {
        let name = match self.kind {
            DatabaseKind::Postgres => "PostgreSQL",
            DatabaseKind::Mysql => "MySQL",
        };
        format!(
            "{name}{}",
            dump::describe_server(self.host.as_deref(), self.port)
        )
    }

    /// How its clients connect.
    fn server(&self) -> Server<'_> {
        Server {
            kind: self.kind,
            host: self.host.as_deref(),
            port: self.port,
            user: self.user.as_deref(),
            password: self.password.as_ref(),
            connect_timeout: self.connect_timeout,
        }
    }

    fn program(&self, name: &str) -> PathBuf {
        match &self.bin_dir {
            Some(dir) => dir.join(name),
            None => PathBuf::from(name),
        }
    }
}

/// A query whose single integer result must be at least `min` (e.g.
/// `SELECT count(*) FROM orders` ≥ 1000).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// One SQL query returning one integer.
    pub query: String,
    /// The smallest acceptable result.
    pub min: i64,
}

impl Validation {
    /// `query` must return at least `min`.
    pub fn new(query: impl Into<String>, min: i64) -> Self {
        Self {
            query: query.into(),
            min,
        }
    }

    /// `SELECT count(*) FROM <table>` must be at least `min` (`table` is
    /// taken as written: a plain or schema-qualified table name).
    pub fn row_count(table: &str, min: i64) -> Self {
        Self::new(format!("SELECT count(*) FROM {table}"), min)
    }
}

/// A validation query's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationResult {
    /// The query.
    pub query: String,
    /// The smallest acceptable result.
    pub min: i64,
    /// What it returned.
    pub value: i64,
}

impl ValidationResult {
    /// Whether `value >= min`.
    pub fn passed(&self) -> bool {
        self.value >= self.min
    }
}

/// How to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreOptions {
    /// The dump's format (custom: PostgreSQL only, restored with
    /// `pg_restore`).
    pub format: DumpFormat,
    /// Queries run after the restore; any result below its minimum fails
    /// the restore.
    pub validations: Vec<Validation>,
    /// Scratch restores: keep the scratch database afterwards (for a look
    /// at a failure). Default false: it is dropped, failed or not.
    pub keep: bool,
    /// Fail a plain dump that lacks its program's completion line
    /// (default true). Turn off for dumps made with `--skip-comments` or
    /// `--compact` (mysqldump), which write none.
    pub require_complete: bool,
    /// How long any one client (a statement, the restore itself) may run
    /// before its process group is killed (default 6 h, the default
    /// `command_timeout` of the dump).
    pub timeout: Duration,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        Self {
            format: DumpFormat::Plain,
            validations: Vec::new(),
            keep: false,
            require_complete: true,
            timeout: Duration::from_secs(6 * 3600),
        }
    }
}

/// What a successful restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreReport {
    /// The database restored into.
    pub database: String,
    /// Whether it still exists (restore into a named database, or a kept
    /// scratch database).
    pub kept: bool,
    /// Bytes of dump read.
    pub bytes: u64,
    /// Time spent restoring (the client's run).
    pub restore_duration: Duration,
    /// Everything: creating, restoring, validating, dropping.
    pub duration: Duration,
    /// The validation queries' results (all passed).
    pub validations: Vec<ValidationResult>,
}

/// Why a restore failed.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// A client ran past its deadline and was killed.
    #[error("{what} did not finish within {limit} and was stopped{}", suffix(.stderr))]
    TimedOut {
        /// What was attempted.
        what: String,
        /// The deadline, e.g. `2s`.
        limit: String,
        /// The end of its stderr, scrubbed of the password.
        stderr: String,
    },
    /// The target or the options cannot work.
    #[error("invalid restore target: {0}")]
    Invalid(String),
    /// A client could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// A statement (creating or dropping the database, a validation
    /// query) failed.
    #[error("{what} failed ({status}){}", suffix(.stderr))]
    Sql {
        /// What was attempted.
        what: String,
        /// The client's exit status.
        status: String,
        /// The end of its stderr, scrubbed of the password.
        stderr: String,
    },
    /// The client restoring the dump failed (the dump does not restore).
    #[error("restoring the dump into {database} failed ({status}){}", suffix(.stderr))]
    Restore {
        /// The database.
        database: String,
        /// The client's exit status.
        status: String,
        /// The end of its stderr, scrubbed of the password.
        stderr: String,
    },
    /// Reading the dump stream failed.
    #[error("reading the dump: {0}")]
    Read(io::Error),
    /// A validation query returned something that is not one integer.
    #[error("validation query `{query}` did not return one integer but {output:?}")]
    BadValidationOutput {
        /// The query.
        query: String,
        /// What it printed (shortened).
        output: String,
    },
    /// Validation queries returned less than their minimum.
    #[error("validation failed in {database}: {}", failures(.results))]
    Validation {
        /// The database.
        database: String,
        /// Every validation's result (passed ones too).
        results: Vec<ValidationResult>,
    },
    /// The restore and validations passed but the plain dump lacks its
    /// completion line: it is truncated.
    #[error(
        "the dump restored into {database} is incomplete: it does not end with the dump's completion line"
    )]
    Incomplete {
        /// The database.
        database: String,
    },
}

fn suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim())
    }
}

fn failures(results: &[ValidationResult]) -> String {
    results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("`{}` = {} < {}", r.query, r.value, r.min))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The restore test: creates a scratch database
/// (`keepup_restore_test_<random>`), restores `dump` into it, runs the
/// validation queries, and drops it again (unless `options.keep`) — also
/// when the restore failed.
pub fn restore_test(
    target: &RestoreTarget,
    dump: &mut dyn Read,
    options: &RestoreOptions,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    let session = Session::new(target, options.timeout)?;
    check_format(target, options)?;
    let database = scratch_name();
    session.create_database(&database)?;
    let restored = session.restore(&database, dump, options, true);
    let dropped = if options.keep {
        Ok(())
    } else {
        session.drop_database(&database)
    };
    if let (Err(_), Err(e)) = (&restored, &dropped) {
        // The restore's error is the one returned; this one must not be
        // lost silently (a scratch database is left behind).
        tracing::warn!("{e}");
    }
    let mut report = restored?;
    dropped?;
    report.kept = options.keep;
    report.duration = started.elapsed();
    Ok(report)
}

/// Restores `dump` into database `database` on `target`, creating it when
/// it does not exist, then runs the validation queries. An existing
/// database is restored into as it is (a plain dump then fails on the
/// first object that already exists).
pub fn restore_into(
    target: &RestoreTarget,
    database: &str,
    dump: &mut dyn Read,
    options: &RestoreOptions,
) -> Result<RestoreReport, RestoreError> {
    restore_named(target, database, dump, options, false)
}

/// What a replacement's side database is called: `<database>` and this.
pub const SIDE_SUFFIX: &str = "_keepup_new";
/// How often a PostgreSQL swap is tried while clients reconnect.
const SWAP_ATTEMPTS: u32 = 5;
/// Where a replaced database's tables go for the moment of the swap.
const OLD_SUFFIX: &str = "_keepup_old";
/// PostgreSQL keeps 63 bytes of an identifier (it would cut the suffix).
const MAX_IDENTIFIER: usize = 63;

/// The side database a replacement of `database` is imported into
/// ([`import_beside`]), or why `database` leaves no room for one.
pub fn side_name(database: &str) -> Result<String, RestoreError> {
    check_name(database)?;
    if database.len() + OLD_SUFFIX.len().max(SIDE_SUFFIX.len()) > MAX_IDENTIFIER {
        return Err(RestoreError::Invalid(format!(
            "database name {database:?}: at most {} characters, so that its replacement can be \
             imported beside it as {database}{SIDE_SUFFIX}",
            MAX_IDENTIFIER - SIDE_SUFFIX.len()
        )));
    }
    Ok(format!("{database}{SIDE_SUFFIX}"))
}

/// The first half of replacing `database` on `target` with `dump`: the
/// dump goes into a new, empty side database ([`side_name`]; one left by
/// an earlier attempt is dropped first), so that `database` keeps serving
/// whatever happens to the import. The caller checks the side database
/// and then puts it in place with [`swap_in`] (or drops it with
/// [`drop_database`]). A failed import drops the side database again.
pub fn import_beside(
    target: &RestoreTarget,
    database: &str,
    dump: &mut dyn Read,
    options: &RestoreOptions,
) -> Result<RestoreReport, RestoreError> {
    let side = side_name(database)?;
    let imported = restore_named(target, &side, dump, options, true);
    if imported.is_err()
        && let Err(e) = drop_database(target, &side, options.timeout)
    {
        tracing::warn!(database = %side, error = %e, "the failed import's side database was not dropped");
    }
    imported
}

/// The second half of a replacement on PostgreSQL: the checked side
/// database of `database` ([`import_beside`]) takes its place, and what
/// was there is dropped. Both `ALTER DATABASE ... RENAME` run in one
/// transaction, after the sessions of `database` are ended (tried again
/// when a client reconnects in between). MariaDB/MySQL cannot rename a
/// database, nor move views or triggers to another one: there the caller
/// imports the proven dump again with [`replace_database`].
pub fn swap_in(
    target: &RestoreTarget,
    database: &str,
    timeout: Duration,
) -> Result<(), RestoreError> {
    let side = side_name(database)?;
    let old = format!("{database}{OLD_SUFFIX}");
    let session = Session::new(target, timeout)?;
    match target.kind {
        DatabaseKind::Postgres => session.swap_postgres(database, &side, &old),
        DatabaseKind::Mysql => Err(RestoreError::Invalid(
            "MariaDB/MySQL cannot rename a database: import the dump again instead".into(),
        )),
    }
}

/// Restores `dump` into a new, empty database `database` on `target`:
/// an existing one is dropped first (on PostgreSQL also while sessions
/// use it). A replacement's second half on MariaDB/MySQL, once the same
/// dump passed its checks beside ([`import_beside`]).
pub fn replace_database(
    target: &RestoreTarget,
    database: &str,
    dump: &mut dyn Read,
    options: &RestoreOptions,
) -> Result<RestoreReport, RestoreError> {
    restore_named(target, database, dump, options, true)
}

/// [`restore_into`], [`import_beside`] and [`replace_database`]: the
/// database is dropped and
/// created empty first when `replace`, else created only if missing.
fn restore_named(
    target: &RestoreTarget,
    database: &str,
    dump: &mut dyn Read,
    options: &RestoreOptions,
    replace: bool,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    let session = Session::new(target, options.timeout)?;
    check_format(target, options)?;
    check_name(database)?;
    if replace {
        session.drop_database(database)?;
        session.create_database(database)?;
    } else {
        session.create_database_if_missing(database)?;
    }
    let mut report = session.restore(database, dump, options, false)?;
    report.kept = true;
    report.duration = started.elapsed();
    Ok(report)
}

/// Drops database `database` on `target` if it exists (on PostgreSQL also
/// while sessions use it): a recovery drill's cleanup of its scratch
/// database.
pub fn drop_database(
    target: &RestoreTarget,
    database: &str,
    timeout: Duration,
) -> Result<(), RestoreError> {
    let session = Session::new(target, timeout)?;
    check_name(database)?;
    session.drop_database(database)
}

/// Runs `sql` in `database` on `target` and returns its rows, one line
/// each (columns tab-separated), at most 64 KiB of output.
pub fn query_rows(
    target: &RestoreTarget,
    database: &str,
    sql: &str,
    timeout: Duration,
) -> Result<Vec<String>, RestoreError> {
    let session = Session::new(target, timeout)?;
    check_name(database)?;
    let out = session.sql(Some(database), sql, &format!("query `{sql}` in {database}"))?;
    Ok(out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect())
}

fn check_format(target: &RestoreTarget, options: &RestoreOptions) -> Result<(), RestoreError> {
    if target.kind == DatabaseKind::Mysql && options.format == DumpFormat::Custom {
        return Err(RestoreError::Invalid(
            "the custom format is PostgreSQL's; MySQL dumps are plain SQL".into(),
        ));
    }
    Ok(())
}

/// Database names we quote ourselves: not empty, no control characters,
/// no backslash (quoting), no `=` (psql would take the name for a
/// connection string).
fn check_name(name: &str) -> Result<(), RestoreError> {
    if name.is_empty()
        || name.len() > 64
        || name
            .chars()
            .any(|c| c.is_control() || c == '\\' || c == '=')
    {
        return Err(RestoreError::Invalid(format!(
            "database name {name:?}: 1 to 64 characters, no control characters, backslashes or '='"
        )));
    }
    if name.starts_with('-') {
        return Err(RestoreError::Invalid(format!(
            "database name {name:?} starts with '-'"
        )));
    }
    Ok(())
}

/// `keepup_restore_test_` and 16 random hex digits.
fn scratch_name() -> String {
    // RandomState is seeded from the OS's randomness.
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    format!("{SCRATCH_PREFIX}{:016x}", h.finish())
}

/// `name` quoted as an identifier in `kind`'s SQL (also in the Recovery
/// Plan document's by-hand lines).
pub fn ident(kind: DatabaseKind, name: &str) -> String {
    match kind {
        DatabaseKind::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
        DatabaseKind::Mysql => format!("`{}`", name.replace('`', "``")),
    }
}

/// A target and the deadline of its clients.
struct Session<'a> {
    target: &'a RestoreTarget,
    timeout: Duration,
}

impl<'a> Session<'a> {
    fn new(target: &'a RestoreTarget, timeout: Duration) -> Result<Self, RestoreError> {
        if let Some(h) = &target.host
            && h.starts_with('-')
        {
            return Err(RestoreError::Invalid(format!("host {h:?} starts with '-'")));
        }
        Ok(Self { target, timeout })
    }

    /// `text` with the password replaced by `***`.
    fn scrub(&self, text: &str) -> String {
        match &self.target.password {
            Some(p) => p.scrub(text),
            None => text.to_owned(),
        }
    }

    /// `psql`/`mysql` connected to `database` (`None`: the maintenance
    /// database / none).
    fn client(&self, database: Option<&str>) -> Command {
        let t = self.target;
        let program = match t.kind {
            DatabaseKind::Postgres => "psql",
            DatabaseKind::Mysql => "mysql",
        };
        let mut cmd = dump::client_command(t.program(program), &t.server());
        match t.kind {
            DatabaseKind::Postgres => {
                let db = database
                    .or(t.maintenance_db.as_deref())
                    .unwrap_or("postgres");
                cmd.args(["-X", "-q", "--set=ON_ERROR_STOP=1"])
                    .arg(format!("--dbname={db}"));
            }
            DatabaseKind::Mysql => {
                let secs = t.connect_timeout.as_secs().max(1);
                cmd.arg(format!("--connect-timeout={secs}")).arg("--batch");
                if let Some(db) = database {
                    cmd.arg(format!("--database={db}"));
                }
            }
        }
        cmd
    }

    /// Runs one statement, returns its output (tuples only, unaligned).
    fn sql(&self, database: Option<&str>, sql: &str, what: &str) -> Result<String, RestoreError> {
        let mut cmd = self.client(database);
        match self.target.kind {
            DatabaseKind::Postgres => cmd.args(["--tuples-only", "--no-align", "--command", sql]),
            DatabaseKind::Mysql => cmd.args(["--skip-column-names", "--execute", sql]),
        };
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = crate::child::own_group(&mut cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RestoreError::Spawn { program, source })?;
        let deadline = Deadline::start(child.id(), self.timeout);
        let stderr = drain_stderr(&mut child);
        let mut stdout = Vec::new();
        if let Some(out) = child.stdout.take() {
            // Bounded; the rest is drained so that the client can finish.
            let mut out = out;
            let _ = (&mut out).take(OUTPUT_LIMIT).read_to_end(&mut stdout);
            let _ = io::copy(&mut out, &mut io::sink());
        }
        let status = child.wait().map_err(RestoreError::Read)?;
        let stderr = self.scrub(&tail_text(
            &stderr.and_then(|h| h.join().ok()).unwrap_or_default(),
        ));
        if deadline.passed() {
            return Err(RestoreError::TimedOut {
                what: what.to_owned(),
                limit: humantime::format_duration(deadline.limit()).to_string(),
                stderr,
            });
        }
        if !status.success() {
            return Err(RestoreError::Sql {
                what: what.to_owned(),
                status: status.to_string(),
                stderr,
            });
        }
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    }

    fn create_database(&self, database: &str) -> Result<(), RestoreError> {
        let kind = self.target.kind;
        self.sql(
            None,
            &format!("CREATE DATABASE {}", ident(kind, database)),
            &format!("creating database {database} on {}", self.target.describe()),
        )
        .map(drop)
    }

    fn create_database_if_missing(&self, database: &str) -> Result<(), RestoreError> {
        let kind = self.target.kind;
        let what = format!("creating database {database} on {}", self.target.describe());
        match kind {
            DatabaseKind::Postgres => {
                let literal = format!("'{}'", database.replace('\'', "''"));
                let exists = self.sql(
                    None,
                    &format!("SELECT 1 FROM pg_database WHERE datname = {literal}"),
                    &what,
                )?;
                if exists.trim() == "1" {
                    return Ok(());
                }
                self.create_database(database)
            }
            DatabaseKind::Mysql => self
                .sql(
                    None,
                    &format!("CREATE DATABASE IF NOT EXISTS {}", ident(kind, database)),
                    &what,
                )
                .map(drop),
        }
    }

    /// [`swap_in`] on PostgreSQL.
    fn swap_postgres(&self, database: &str, side: &str, old: &str) -> Result<(), RestoreError> {
        let kind = DatabaseKind::Postgres;
        let literal = |name: &str| format!("'{}'", name.replace('\'', "''"));
        let what = format!(
            "putting {side} in place of {database} on {}",
            self.target.describe()
        );
        self.drop_database(old)?;
        let exists = self.sql(
            None,
            &format!(
                "SELECT 1 FROM pg_database WHERE datname = {}",
                literal(database)
            ),
            &what,
        )?;
        let rename = if exists.trim() == "1" {
            // One query string: psql sends it as one transaction.
            format!(
                "ALTER DATABASE {} RENAME TO {}; ALTER DATABASE {} RENAME TO {};",
                ident(kind, database),
                ident(kind, old),
                ident(kind, side),
                ident(kind, database)
            )
        } else {
            format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(kind, side),
                ident(kind, database)
            )
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            // A database in use cannot be renamed: its sessions end first.
            self.sql(
                None,
                &format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                     WHERE datname IN ({}, {}) AND pid <> pg_backend_pid()",
                    literal(database),
                    literal(side)
                ),
                &what,
            )?;
            match self.sql(None, &rename, &what) {
                Ok(_) => break,
                Err(RestoreError::Sql { stderr, .. })
                    if attempt < SWAP_ATTEMPTS
                        && stderr.contains("being accessed by other users") =>
                {
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => return Err(e),
            }
        }
        self.drop_database(old)
    }

    /// Drops a scratch database; on PostgreSQL also when a session of a
    /// killed client still uses it (its server process only notices the
    /// lost client when it next writes).
    fn drop_database(&self, database: &str) -> Result<(), RestoreError> {
        let force = match self.target.kind {
            DatabaseKind::Postgres => " WITH (FORCE)",
            DatabaseKind::Mysql => "",
        };
        self.sql(
            None,
            &format!(
                "DROP DATABASE IF EXISTS {}{force}",
                ident(self.target.kind, database)
            ),
            &format!("dropping database {database} on {}", self.target.describe()),
        )
        .map(drop)
    }

    /// Streams `dump` into the right client, then validates.
    fn restore(
        &self,
        database: &str,
        dump: &mut dyn Read,
        options: &RestoreOptions,
        scratch: bool,
    ) -> Result<RestoreReport, RestoreError> {
        let t = self.target;
        let mut cmd: Command = match (t.kind, options.format) {
            (DatabaseKind::Postgres, DumpFormat::Custom) => {
                let mut cmd = dump::client_command(t.program("pg_restore"), &t.server());
                cmd.arg("--exit-on-error");
                if scratch {
                    // A scratch server need not have the dump's roles.
                    cmd.args(["--no-owner", "--no-acl"]);
                }
                cmd.arg(format!("--dbname={database}"));
                cmd
            }
            (DatabaseKind::Mysql, _) => {
                // A second guard after the load's refusal of dumps that
                // switch databases: with --one-database, statements after a
                // `USE` of another database are skipped, never run there.
                // It only knows the database named as the last argument
                // (given as --database=, it skips every statement).
                let mut cmd = self.client(None);
                cmd.arg("--one-database").arg(database);
                cmd
            }
            (DatabaseKind::Postgres, DumpFormat::Plain) => self.client(Some(database)),
        };
        let program = cmd.get_program().to_string_lossy().into_owned();
        let started = Instant::now();
        let mut child = crate::child::own_group(&mut cmd)
            .stdin(Stdio::piped())
            // psql prints the results of the dump's SELECTs: not wanted.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| RestoreError::Spawn { program, source })?;
        let deadline = Deadline::start(child.id(), self.timeout);
        let stderr = drain_stderr(&mut child);
        let fed = feed(&mut child, dump);
        let status = child.wait();
        let stderr = self.scrub(&tail_text(
            &stderr.and_then(|h| h.join().ok()).unwrap_or_default(),
        ));
        let restore_duration = started.elapsed();
        let status = status.map_err(RestoreError::Read)?;
        if deadline.passed() {
            return Err(RestoreError::TimedOut {
                what: format!("restoring the dump into {database}"),
                limit: humantime::format_duration(deadline.limit()).to_string(),
                stderr,
            });
        }
        let fed = match fed {
            Ok(fed) => fed,
            // The client's own failure explains a broken pipe better.
            Err(FeedError::Write(_)) if !status.success() => Fed::default(),
            Err(FeedError::Write(e)) => return Err(RestoreError::Read(e)),
            Err(FeedError::Read(e)) => return Err(RestoreError::Read(e)),
        };
        if !status.success() {
            return Err(RestoreError::Restore {
                database: database.to_owned(),
                status: status_text(status),
                stderr,
            });
        }
        let mut results = Vec::new();
        for v in &options.validations {
            let out = self.sql(
                Some(database),
                &v.query,
                &format!("validation query `{}` in {database}", v.query),
            )?;
            let value = out
                .lines()
                .next()
                .and_then(|l| l.trim().parse::<i64>().ok())
                .filter(|_| out.trim().lines().count() == 1)
                .ok_or_else(|| RestoreError::BadValidationOutput {
                    query: v.query.clone(),
                    output: out.chars().take(200).collect(),
                })?;
            results.push(ValidationResult {
                query: v.query.clone(),
                min: v.min,
                value,
            });
        }
        if results.iter().any(|r| !r.passed()) {
            return Err(RestoreError::Validation {
                database: database.to_owned(),
                results,
            });
        }
        if options.require_complete
            && let Some(line) = dump::completion_line(t.kind, options.format, &[])
            && !dump::contains(&fed.tail, line)
        {
            return Err(RestoreError::Incomplete {
                database: database.to_owned(),
            });
        }
        Ok(RestoreReport {
            database: database.to_owned(),
            kept: !scratch,
            bytes: fed.bytes,
            restore_duration,
            duration: started.elapsed(),
            validations: results,
        })
    }
}

/// What was fed to the client.
#[derive(Default)]
struct Fed {
    bytes: u64,
    tail: Vec<u8>,
}

enum FeedError {
    Read(io::Error),
    Write(io::Error),
}

/// Copies `dump` into the child's stdin, keeping its end; closes stdin.
fn feed(child: &mut Child, dump: &mut dyn Read) -> Result<Fed, FeedError> {
    let Some(mut stdin) = child.stdin.take() else {
        return Err(FeedError::Write(io::Error::other("no pipe to the client")));
    };
    let mut buf = vec![0u8; COPY_BUFFER];
    let mut fed = Fed::default();
    loop {
        let n = match dump.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // The client must not take a half-read dump for a whole
                // one: kill it before closing its input.
                let _ = child.kill();
                return Err(FeedError::Read(e));
            }
        };
        stdin.write_all(&buf[..n]).map_err(FeedError::Write)?;
        fed.bytes += n as u64;
        dump::keep_tail(&mut fed.tail, &buf[..n]);
    }
    drop(stdin);
    Ok(fed)
}

/// Reads the child's stderr on a thread, keeping its end.
fn drain_stderr(child: &mut Child) -> Option<JoinHandle<Vec<u8>>> {
    let mut stderr = child.stderr.take()?;
    std::thread::Builder::new()
        .name("restore-stderr".into())
        .spawn(move || {
            let mut tail = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                let excess = tail.len().saturating_sub(STDERR_TAIL);
                tail.drain(..excess);
            }
            tail
        })
        .ok()
}

/// The end of a client's stderr as text.
fn tail_text(raw: &[u8]) -> String {
    let raw = &raw[raw.len().saturating_sub(STDERR_TAIL)..];
    String::from_utf8_lossy(raw).trim().to_owned()
}

fn status_text(status: ExitStatus) -> String {
    status.to_string()
}

/// Decodes the `%XX` escapes of one part of a database URL.
fn percent_decode(s: &str) -> Result<String, RestoreError> {
    keepup_model::text::percent_decode(s).map_err(|e| {
        RestoreError::Invalid(
            match e {
                PercentDecodeError::BadEscape => "bad %-escape in the URL",
                PercentDecodeError::NotUtf8 => "the URL is not UTF-8",
            }
            .into(),
        )
    })
}

fn parse_url(url: &str) -> Result<(RestoreTarget, String), RestoreError> {
    // Errors never repeat the URL: it may hold a password.
    let bad = |msg: &str| RestoreError::Invalid(format!("database URL: {msg}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| bad("expected postgres://... or mysql://..."))?;
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => DatabaseKind::Postgres,
        "mysql" | "mariadb" => DatabaseKind::Mysql,
        _ => {
            return Err(bad(
                "the scheme must be postgres, postgresql, mysql or mariadb",
            ));
        }
    };
    if rest.contains(['?', '#']) {
        return Err(bad("query parameters are not supported"));
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let mut target = RestoreTarget::new(kind);
    if let Some(userinfo) = userinfo {
        let (user, password) = match userinfo.split_once(':') {
            Some((u, p)) => (u, Some(p)),
            None => (userinfo, None),
        };
        if !user.is_empty() {
            target.user = Some(percent_decode(user)?);
        }
        if let Some(p) = password {
            target.password = Some(Secret::new(percent_decode(p)?));
        }
    }
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed '[' in the host"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("unexpected text after the IPv6 address")),
        };
        (h.to_owned(), port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (percent_decode(h)?, Some(p)),
            None => (percent_decode(hostport)?, None),
        }
    };
    if !host.is_empty() {
        target.host = Some(host);
    }
    if let Some(p) = port {
        target.port = Some(p.parse().map_err(|_| bad("the port is not a number"))?);
    }
    let database = percent_decode(path)?;
    if database.is_empty() {
        return Err(bad("no database name (postgres://host/DBNAME)"));
    }
    check_name(&database)?;
    Ok((target, database))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let (t, db) =
            RestoreTarget::from_url("postgres://app:p%40ss:w@db.example:5433/shop").unwrap();
        assert_eq!(t.kind, DatabaseKind::Postgres);
        assert_eq!(t.user.as_deref(), Some("app"));
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("p@ss:w"));
        assert_eq!(t.host.as_deref(), Some("db.example"));
        assert_eq!(t.port, Some(5433));
        assert_eq!(db, "shop");

        let (t, db) = RestoreTarget::from_url("mariadb://[::1]:3306/shop_restored").unwrap();
        assert_eq!(t.kind, DatabaseKind::Mysql);
        assert_eq!(t.host.as_deref(), Some("::1"));
        assert_eq!(t.port, Some(3306));
        assert_eq!(t.user, None);
        assert_eq!(db, "shop_restored");

        let (t, _) =
            RestoreTarget::from_url("postgresql://backup@%2Frun%2Fpostgresql/shop").unwrap();
        assert_eq!(t.host.as_deref(), Some("/run/postgresql"));
        assert_eq!(t.port, None);
    }

    #[test]
    fn refuses_bad_urls_without_repeating_them() {
        for url in [
            "http://u:secretpw@h/db",
            "postgres://u:secretpw@h:port/db",
            "postgres://u:secretpw@h/",
            "postgres://u:secretpw@h/db?sslmode=require",
            "postgres://u:secretpw@h/d%zz",
            "postgres://u:secretpw@h/-db",
            "postgres://u:secretpw@h/a=b",
            "postgres://u:secretpw@h",
        ] {
            let err = RestoreTarget::from_url(url).unwrap_err();
            assert!(matches!(err, RestoreError::Invalid(_)), "{url}: {err}");
            assert!(!err.to_string().contains("secretpw"), "{err}");
        }
    }

    #[test]
    fn scratch_names_differ() {
        let a = scratch_name();
        let b = scratch_name();
        assert_ne!(a, b);
        assert!(a.starts_with(SCRATCH_PREFIX));
        assert_eq!(a.len(), SCRATCH_PREFIX.len() + 16);
    }

    #[test]
    fn quotes_identifiers() {
        assert_eq!(ident(DatabaseKind::Postgres, "a\"b"), "\"a\"\"b\"");
        assert_eq!(ident(DatabaseKind::Mysql, "a`b"), "`a``b`");
    }

    #[test]
    fn validation_message_lists_failures() {
        let err = RestoreError::Validation {
            database: "x".into(),
            results: vec![
                ValidationResult {
                    query: "SELECT count(*) FROM orders".into(),
                    min: 10,
                    value: 3,
                },
                ValidationResult {
                    query: "SELECT 1".into(),
                    min: 1,
                    value: 1,
                },
            ],
        };
        assert_eq!(
            err.to_string(),
            "validation failed in x: `SELECT count(*) FROM orders` = 3 < 10"
        );
    }
}
