//! Database dumps as streams: the `pg_dump` / `mysqldump` command for a
//! database source, and [`DumpSource`], which runs it and hands its stdout
//! to the repository writer as a [`Read`] (never staged on disk), then says
//! whether the dump really succeeded.
//!
//! A dump that fails half way must never be recorded as a good snapshot,
//! so [`DumpSource::finish`] (or [`DumpWaiter::finish`]) is the verdict:
//! it fails when the dump program exits non-zero or by a signal, when its
//! output was not read to the end, or when a plain-text dump lacks the
//! completion line its program writes last. Its error carries the exit
//! status and the tail of the program's stderr.
//!
//! Passwords come from an environment variable or a file
//! ([`DumpSpec::password_env`], [`DumpSpec::password_file`]) and reach the
//! dump program through its environment only (`PGPASSWORD`, `MYSQL_PWD`):
//! never on its command line, never in a log line or an error (stderr
//! excerpts are scrubbed of it).

use std::ffi::OsString;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How much of a dump program's stderr is kept (its end).
const STDERR_TAIL: usize = 8 * 1024;
/// How much of the end of a dump is kept to look for its completion line.
const OUTPUT_TAIL: usize = 1024;
/// `PGCONNECT_TIMEOUT` when the environment does not set one: a server
/// that does not answer fails the dump instead of hanging it.
const CONNECT_TIMEOUT_SECS: &str = "30";

/// Which database server a source or target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// PostgreSQL: `pg_dump`, `psql`, `pg_restore`.
    Postgres,
    /// MySQL or MariaDB: `mysqldump`, `mysql`.
    Mysql,
}

impl DbKind {
    /// The dump program's name.
    pub fn dump_program(self) -> &'static str {
        match self {
            DbKind::Postgres => "pg_dump",
            DbKind::Mysql => "mysqldump",
        }
    }
}

/// The format of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DumpFormat {
    /// SQL text (`pg_dump --format=plain`, any `mysqldump`); restored
    /// with `psql` / `mysql`.
    #[default]
    Plain,
    /// `pg_dump --format=custom` (compressed, restored with
    /// `pg_restore`). PostgreSQL only.
    Custom,
}

/// A database to dump: what a `[[backup]]` database source says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpSpec {
    /// PostgreSQL or MySQL/MariaDB.
    pub kind: DbKind,
    /// Host name or address; a path (starting with `/`) is a Unix socket
    /// (PostgreSQL: its directory; MySQL: the socket file). `None`: the
    /// client's default (the local socket).
    pub host: Option<String>,
    /// TCP port; `None`: the client's default.
    pub port: Option<u16>,
    /// User name; `None`: the client's default.
    pub user: Option<String>,
    /// The database to dump.
    pub dbname: String,
    /// Name of the environment variable that holds the password.
    pub password_env: Option<String>,
    /// File whose content is the password (one trailing newline ignored).
    pub password_file: Option<PathBuf>,
    /// Plain SQL or PostgreSQL's custom format.
    pub format: DumpFormat,
    /// Extra arguments for the dump program (e.g. `--no-owner`,
    /// `--exclude-table=sessions`). Options that would write the dump to a
    /// file, change the format or put a password on the command line are
    /// refused.
    pub args: Vec<String>,
    /// The dump program; `None`: `pg_dump` / `mysqldump` from `PATH`.
    pub program: Option<PathBuf>,
}

impl DumpSpec {
    /// A plain dump of `dbname` with the clients' defaults for the rest.
    pub fn new(kind: DbKind, dbname: impl Into<String>) -> Self {
        Self {
            kind,
            host: None,
            port: None,
            user: None,
            dbname: dbname.into(),
            password_env: None,
            password_file: None,
            format: DumpFormat::Plain,
            args: Vec::new(),
            program: None,
        }
    }

    /// What is dumped, for messages: `pg_dump of database "shop" on
    /// 127.0.0.1:5432`. Never contains a secret.
    pub fn describe(&self) -> String {
        format!(
            "{} of database {:?}{}",
            self.kind.dump_program(),
            self.dbname,
            describe_server(self.host.as_deref(), self.port)
        )
    }
}

/// ` on host:port`, or nothing for the client's defaults.
pub(crate) fn describe_server(host: Option<&str>, port: Option<u16>) -> String {
    match (host, port) {
        (Some(h), Some(p)) => format!(" on {h}:{p}"),
        (Some(h), None) => format!(" on {h}"),
        (None, Some(p)) => format!(" on port {p}"),
        (None, None) => String::new(),
    }
}

/// A password in memory: its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    /// The password itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `text` with every occurrence of the password replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why a dump could not be started or did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// The password's environment variable is not set (or not UTF-8).
    #[error("database password: environment variable {0} is not set")]
    PasswordEnv(String),
    /// The password file cannot be read.
    #[error("database password: cannot read {}: {source}", path.display())]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The source's settings cannot work.
    #[error("invalid database source: {0}")]
    Invalid(String),
    /// The dump program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        source: io::Error,
    },
    /// The dump program failed: non-zero exit or killed by a signal.
    #[error("{what} failed ({status}){}", stderr_suffix(.stderr))]
    Failed {
        /// What was dumped ([`DumpSpec::describe`]).
        what: String,
        /// The exit status, e.g. `exit status: 1` or `signal: 9 (SIGKILL)`.
        status: String,
        /// The end of its stderr, scrubbed of the password.
        stderr: String,
    },
    /// The program exited successfully but its output lacks the line it
    /// writes at the end of a complete dump.
    #[error("{what} is incomplete: its output does not end with the dump's completion line{}", stderr_suffix(.stderr))]
    Incomplete {
        /// What was dumped.
        what: String,
        /// The end of its stderr, scrubbed of the password.
        stderr: String,
    },
    /// The reader stopped before the end of the dump (the program was
    /// killed): the stream that was stored is not the whole dump.
    #[error("{what} was not read to its end ({bytes} bytes read); the dump was stopped")]
    NotReadToEnd {
        /// What was dumped.
        what: String,
        /// Bytes read before the stop.
        bytes: u64,
    },
    /// Waiting for the program failed.
    #[error("{what}: {source}")]
    Wait {
        /// What was dumped.
        what: String,
        /// Why.
        source: io::Error,
    },
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(": {}", stderr.trim())
    }
}

/// Reads the password from `env` (a variable name) or `file`, in that
/// order; `None` when neither is given. One trailing newline of a file is
/// not part of the password.
pub fn resolve_password(
    env: Option<&str>,
    file: Option<&Path>,
) -> Result<Option<Secret>, DumpError> {
    if let Some(name) = env {
        return match std::env::var(name) {
            Ok(v) => Ok(Some(Secret(v))),
            Err(_) => Err(DumpError::PasswordEnv(name.to_owned())),
        };
    }
    if let Some(path) = file {
        let mut text = std::fs::read_to_string(path).map_err(|source| DumpError::PasswordFile {
            path: path.to_path_buf(),
            source,
        })?;
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        return Ok(Some(Secret(text)));
    }
    Ok(None)
}

/// Puts `password` into `cmd`'s environment the way `kind`'s clients read
/// it, plus the connection defaults keepup wants.
pub(crate) fn apply_env(cmd: &mut Command, kind: DbKind, password: Option<&Secret>) {
    match kind {
        DbKind::Postgres => {
            if let Some(p) = password {
                cmd.env("PGPASSWORD", p.expose());
            }
            cmd.env("PGAPPNAME", "keepup-backup");
            if std::env::var_os("PGCONNECT_TIMEOUT").is_none() {
                cmd.env("PGCONNECT_TIMEOUT", CONNECT_TIMEOUT_SECS);
            }
        }
        DbKind::Mysql => {
            if let Some(p) = password {
                cmd.env("MYSQL_PWD", p.expose());
            }
        }
    }
}

/// The connection options of `kind`'s clients (`pg_dump`, `psql`,
/// `pg_restore` share theirs; so do `mysqldump` and `mysql`).
pub(crate) fn connection_args(
    kind: DbKind,
    host: Option<&str>,
    port: Option<u16>,
    user: Option<&str>,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    match kind {
        DbKind::Postgres => {
            // Never prompt: no password means failing, not hanging.
            args.push("--no-password".into());
            if let Some(h) = host {
                args.push(format!("--host={h}").into());
            }
            if let Some(p) = port {
                args.push(format!("--port={p}").into());
            }
            if let Some(u) = user {
                args.push(format!("--username={u}").into());
            }
        }
        DbKind::Mysql => {
            match host {
                Some(h) if h.starts_with('/') => args.push(format!("--socket={h}").into()),
                Some(h) => {
                    args.push(format!("--host={h}").into());
                    // "localhost" would silently mean the default socket
                    // and ignore the port.
                    args.push("--protocol=TCP".into());
                }
                None => {}
            }
            if let Some(p) = port {
                args.push(format!("--port={p}").into());
            }
            if let Some(u) = user {
                args.push(format!("--user={u}").into());
            }
            args.push("--default-character-set=utf8mb4".into());
        }
    }
    args
}

/// Refuses settings that cannot give a streamed, complete, secret-free
/// dump.
fn validate(spec: &DumpSpec) -> Result<(), DumpError> {
    let bad = |msg: String| Err(DumpError::Invalid(msg));
    if spec.dbname.is_empty() {
        return bad("the database name is empty".into());
    }
    if spec.dbname.starts_with('-') {
        return bad(format!(
            "database name {:?} starts with '-' (it would be read as an option)",
            spec.dbname
        ));
    }
    if spec.kind == DbKind::Mysql && spec.format == DumpFormat::Custom {
        return bad("the custom format is PostgreSQL's; mysqldump writes plain SQL".into());
    }
    for arg in &spec.args {
        let refused = match spec.kind {
            DbKind::Postgres => {
                if is_option(arg, &["-f", "--file"]) {
                    Some("writes the dump to a file; keepup streams it from stdout")
                } else if is_option(arg, &["-F", "--format"]) {
                    Some("sets the format; use the source's `format` setting")
                } else if is_option(arg, &["-W", "--password"]) {
                    Some("asks for a password; use password_env or password_file")
                } else {
                    None
                }
            }
            DbKind::Mysql => {
                if is_option(arg, &["-r", "--result-file"]) {
                    Some("writes the dump to a file; keepup streams it from stdout")
                } else if is_option(arg, &["-p", "--password"]) {
                    Some("puts a password on the command line; use password_env or password_file")
                } else if is_option(arg, &["--tab", "-T"]) {
                    Some("writes the dump to files; keepup streams it from stdout")
                } else {
                    None
                }
            }
        };
        if let Some(why) = refused {
            // The argument itself is not repeated: it may hold a password.
            return bad(format!(
                "an argument for {} {why}",
                spec.kind.dump_program()
            ));
        }
    }
    Ok(())
}

/// Whether `arg` is one of `names` (short `-x`, `-xVALUE`; long `--name`,
/// `--name=VALUE`, or an unambiguous prefix is not accepted by us either).
fn is_option(arg: &str, names: &[&str]) -> bool {
    names.iter().any(|name| {
        if name.starts_with("--") {
            arg == *name || arg.starts_with(&format!("{name}="))
        } else {
            arg.starts_with(name) && !arg.starts_with("--")
        }
    })
}

/// Builds the dump command for `spec`: `pg_dump --format=plain|custom` or
/// `mysqldump --single-transaction --quick --routines --triggers`, with
/// the connection options, the extra arguments and the database name.
///
/// The password (read now from `password_env` / `password_file`) is in
/// the returned command's *environment*: do not `Debug`-print the command
/// (use [`DumpSpec::describe`] for messages). Stdio is left unset; see
/// [`DumpSource::spawn`] for the streamed run.
pub fn dump_command(spec: &DumpSpec) -> Result<Command, DumpError> {
    validate(spec)?;
    let password = resolve_password(spec.password_env.as_deref(), spec.password_file.as_deref())?;
    Ok(build_command(spec, password.as_ref()))
}

/// [`dump_command`] with a password the caller already holds (the
/// configuration reads `password_env`/`password_file` at load) instead of
/// the spec's own `password_env`/`password_file`.
pub fn dump_command_with_password(
    spec: &DumpSpec,
    password: Option<&str>,
) -> Result<Command, DumpError> {
    validate(spec)?;
    let password = password.map(Secret::new);
    Ok(build_command(spec, password.as_ref()))
}

fn build_command(spec: &DumpSpec, password: Option<&Secret>) -> Command {
    let program = spec
        .program
        .clone()
        .unwrap_or_else(|| PathBuf::from(spec.kind.dump_program()));
    let mut cmd = Command::new(program);
    match spec.kind {
        DbKind::Postgres => {
            cmd.arg(match spec.format {
                DumpFormat::Plain => "--format=plain",
                DumpFormat::Custom => "--format=custom",
            });
        }
        DbKind::Mysql => {
            // A consistent snapshot without locking InnoDB tables, rows
            // streamed rather than buffered, and the schema's code too.
            cmd.args([
                "--single-transaction",
                "--quick",
                "--routines",
                "--triggers",
            ]);
        }
    }
    cmd.args(connection_args(
        spec.kind,
        spec.host.as_deref(),
        spec.port,
        spec.user.as_deref(),
    ));
    cmd.args(&spec.args);
    match spec.kind {
        DbKind::Postgres => cmd.arg(format!("--dbname={}", spec.dbname)),
        DbKind::Mysql => cmd.arg(&spec.dbname),
    };
    apply_env(&mut cmd, spec.kind, password);
    cmd
}

/// The line a complete plain dump of `spec` contains near its end, when
/// there is one to check.
fn completion_marker(spec: &DumpSpec) -> Option<&'static [u8]> {
    match (spec.kind, spec.format) {
        (DbKind::Postgres, DumpFormat::Plain) => Some(b"-- PostgreSQL database dump complete"),
        (DbKind::Postgres, DumpFormat::Custom) => None,
        (DbKind::Mysql, _) => {
            // Without comments mysqldump writes no completion line.
            let quiet = spec
                .args
                .iter()
                .any(|a| a == "--skip-comments" || a == "--compact" || a == "--comments=0");
            (!quiet).then_some(b"-- Dump completed".as_slice())
        }
    }
}

/// What a successful dump produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpReport {
    /// Bytes of dump read from the program.
    pub bytes: u64,
    /// From start to exit.
    pub duration: Duration,
    /// The end of the program's stderr (warnings), scrubbed of the
    /// password; usually empty.
    pub stderr: String,
}

/// State shared by a [`DumpReader`] and its [`DumpWaiter`].
#[derive(Debug, Default)]
struct Shared {
    bytes: AtomicU64,
    eof: AtomicBool,
    /// The end of the output, published by the reader at EOF.
    tail: Mutex<Vec<u8>>,
}

/// The read half of a [`DumpSource`]: the dump program's stdout, counted.
/// `Send + 'static`, so it can be handed to the repository writer's
/// threads.
#[derive(Debug)]
pub struct DumpReader {
    stdout: ChildStdout,
    shared: Arc<Shared>,
    tail: Vec<u8>,
    check_tail: bool,
}

impl Read for DumpReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0 {
            if !buf.is_empty() && !self.shared.eof.swap(true, Ordering::AcqRel) {
                let tail = std::mem::take(&mut self.tail);
                if let Ok(mut t) = self.shared.tail.lock() {
                    *t = tail;
                }
            }
            return Ok(0);
        }
        self.shared.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if self.check_tail {
            let data = &buf[..n];
            if data.len() >= OUTPUT_TAIL {
                self.tail.clear();
                self.tail
                    .extend_from_slice(&data[data.len() - OUTPUT_TAIL..]);
            } else {
                self.tail.extend_from_slice(data);
                let excess = self.tail.len().saturating_sub(OUTPUT_TAIL);
                self.tail.drain(..excess);
            }
        }
        Ok(n)
    }
}

/// The control half of a [`DumpSource`]: waits for the program and gives
/// the verdict. Dropping it without [`DumpWaiter::finish`] kills the
/// program.
#[derive(Debug)]
pub struct DumpWaiter {
    child: Option<Child>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    shared: Arc<Shared>,
    what: String,
    marker: Option<&'static [u8]>,
    password: Option<Secret>,
    started: Instant,
}

/// A running dump: its stdout as a [`Read`] (streamed from the program,
/// nothing on disk), and after EOF, [`DumpSource::finish`] for the
/// verdict. Use [`DumpSource::split`] when the reader must move to another
/// thread.
#[derive(Debug)]
pub struct DumpSource {
    reader: DumpReader,
    waiter: DumpWaiter,
}

impl DumpSource {
    /// Starts the dump of `spec` ([`dump_command`]): stdin closed (it can
    /// never prompt), stdout piped to the reader, stderr kept (its end).
    pub fn spawn(spec: &DumpSpec) -> Result<Self, DumpError> {
        validate(spec)?;
        let password =
            resolve_password(spec.password_env.as_deref(), spec.password_file.as_deref())?;
        let cmd = build_command(spec, password.as_ref());
        Self::start(cmd, spec.describe(), completion_marker(spec), password)
    }

    /// Runs any command as a streamed source (a "command" backup source):
    /// the same verdict, without a completion line to check. `what` names
    /// it in messages.
    pub fn from_command(cmd: Command, what: impl Into<String>) -> Result<Self, DumpError> {
        Self::start(cmd, what.into(), None, None)
    }

    fn start(
        mut cmd: Command,
        what: String,
        marker: Option<&'static [u8]>,
        password: Option<Secret>,
    ) -> Result<Self, DumpError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| DumpError::Spawn { program, source })?;
        let (Some(stdout), Some(mut stderr)) = (child.stdout.take(), child.stderr.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(DumpError::Wait {
                what,
                source: io::Error::other("no pipes to the dump program"),
            });
        };
        // Drained all along: a program blocked on a full stderr pipe would
        // stall the dump.
        let stderr = std::thread::Builder::new()
            .name("dump-stderr".into())
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
            .ok();
        let shared = Arc::new(Shared::default());
        Ok(Self {
            reader: DumpReader {
                stdout,
                shared: Arc::clone(&shared),
                tail: Vec::new(),
                check_tail: marker.is_some(),
            },
            waiter: DumpWaiter {
                child: Some(child),
                stderr,
                shared,
                what,
                marker,
                password,
                started: Instant::now(),
            },
        })
    }

    /// The reader and the waiter, to use on different threads.
    pub fn split(self) -> (DumpReader, DumpWaiter) {
        (self.reader, self.waiter)
    }

    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.waiter.bytes()
    }

    /// Kills the dump program (a stalled dump, a cancelled backup).
    pub fn kill(&mut self) {
        self.waiter.kill();
    }

    /// The verdict, once the output was read to its end
    /// ([`DumpWaiter::finish`]).
    pub fn finish(self) -> Result<DumpReport, DumpError> {
        let Self { reader, waiter } = self;
        drop(reader);
        waiter.finish()
    }
}

impl Read for DumpSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.reader.read(buf)
    }
}

impl DumpWaiter {
    /// Bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::Relaxed)
    }

    /// The program's process id, while it runs.
    pub fn id(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the dump program.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
        }
    }

    /// Waits for the program and says whether the dump is good: it exited
    /// with status 0, its output was read to the end (otherwise it is
    /// killed first), and a plain dump ends with its completion line.
    pub fn finish(mut self) -> Result<DumpReport, DumpError> {
        let read_to_end = self.shared.eof.load(Ordering::Acquire);
        if !read_to_end {
            // Nobody will read the rest: a program blocked on its full
            // pipe would never exit.
            self.kill();
        }
        let status = match self.child.take() {
            Some(mut child) => child.wait(),
            None => Err(io::Error::other("already finished")),
        };
        let stderr = self.stderr_tail();
        let what = std::mem::take(&mut self.what);
        let status = status.map_err(|source| DumpError::Wait {
            what: what.clone(),
            source,
        })?;
        let bytes = self.bytes();
        if !read_to_end {
            return Err(DumpError::NotReadToEnd { what, bytes });
        }
        if !status.success() {
            return Err(DumpError::Failed {
                what,
                status: status_text(status),
                stderr,
            });
        }
        if let Some(marker) = self.marker {
            let tail = self
                .shared
                .tail
                .lock()
                .map(|t| t.clone())
                .unwrap_or_default();
            if !contains(&tail, marker) {
                return Err(DumpError::Incomplete { what, stderr });
            }
        }
        Ok(DumpReport {
            bytes,
            duration: self.started.elapsed(),
            stderr,
        })
    }

    /// The end of stderr, as text, scrubbed of the password.
    fn stderr_tail(&mut self) -> String {
        let raw = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&raw);
        // Cut at a line start when the tail begins mid-line.
        let text = if raw.len() >= STDERR_TAIL {
            text.split_once('\n').map_or(&*text, |(_, rest)| rest)
        } else {
            &text
        };
        let text = text.trim().to_owned();
        match &self.password {
            Some(p) => p.scrub(&text),
            None => text,
        }
    }
}

impl Drop for DumpWaiter {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `exit status: 1`, `signal: 9 (SIGKILL)`.
fn status_text(status: ExitStatus) -> String {
    status.to_string()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn args(cmd: &Command) -> Vec<String> {
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn env(cmd: &Command, name: &str) -> Option<String> {
        cmd.get_envs()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
    }

    fn password_file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn pg_dump_command_has_the_password_in_its_environment_only() {
        let pw = password_file("s3cret pw\n");
        let mut spec = DumpSpec::new(DbKind::Postgres, "shop");
        spec.host = Some("127.0.0.1".into());
        spec.port = Some(5433);
        spec.user = Some("backup".into());
        spec.password_file = Some(pw.path().to_path_buf());
        spec.format = DumpFormat::Custom;
        spec.args = vec!["--no-owner".into()];
        let cmd = dump_command(&spec).unwrap();
        assert_eq!(cmd.get_program(), "pg_dump");
        assert_eq!(
            args(&cmd),
            [
                "--format=custom",
                "--no-password",
                "--host=127.0.0.1",
                "--port=5433",
                "--username=backup",
                "--no-owner",
                "--dbname=shop"
            ]
        );
        assert_eq!(env(&cmd, "PGPASSWORD").as_deref(), Some("s3cret pw"));
        assert!(!spec.describe().contains("s3cret"));
    }

    #[test]
    fn mysqldump_command() {
        let mut spec = DumpSpec::new(DbKind::Mysql, "shop");
        spec.host = Some("localhost".into());
        spec.port = Some(3307);
        spec.user = Some("backup".into());
        spec.password_file = Some(password_file("pw\r\n").path().to_path_buf());
        // The file is gone: a clear error naming it, not the password.
        let err = dump_command(&spec).unwrap_err();
        assert!(matches!(err, DumpError::PasswordFile { .. }), "{err}");
        let pw = password_file("pw\r\n");
        spec.password_file = Some(pw.path().to_path_buf());
        let cmd = dump_command(&spec).unwrap();
        assert_eq!(cmd.get_program(), "mysqldump");
        assert_eq!(
            args(&cmd),
            [
                "--single-transaction",
                "--quick",
                "--routines",
                "--triggers",
                "--host=localhost",
                "--protocol=TCP",
                "--port=3307",
                "--user=backup",
                "--default-character-set=utf8mb4",
                "shop"
            ]
        );
        assert_eq!(env(&cmd, "MYSQL_PWD").as_deref(), Some("pw"));

        spec.host = Some("/run/mysqld/mysqld.sock".into());
        spec.port = None;
        let cmd = dump_command(&spec).unwrap();
        assert!(args(&cmd).contains(&"--socket=/run/mysqld/mysqld.sock".to_owned()));
        assert!(!args(&cmd).contains(&"--protocol=TCP".to_owned()));
    }

    #[test]
    fn refuses_what_cannot_stream_or_would_leak() {
        let cases: &[(DbKind, &str)] = &[
            (DbKind::Postgres, "--file=/tmp/x"),
            (DbKind::Postgres, "-f"),
            (DbKind::Postgres, "-Fd"),
            (DbKind::Postgres, "--password"),
            (DbKind::Mysql, "-psecret"),
            (DbKind::Mysql, "--password=secret"),
            (DbKind::Mysql, "--result-file=/tmp/x"),
        ];
        for (kind, arg) in cases {
            let mut spec = DumpSpec::new(*kind, "shop");
            spec.args = vec![(*arg).to_owned()];
            let err = dump_command(&spec).unwrap_err();
            assert!(matches!(err, DumpError::Invalid(_)), "{arg}: {err}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
        // Options that merely look alike pass.
        let mut spec = DumpSpec::new(DbKind::Mysql, "shop");
        spec.args = vec!["-P3306".into(), "--port=3306".into()];
        assert!(dump_command(&spec).is_ok());
        assert!(matches!(
            dump_command(&DumpSpec::new(DbKind::Mysql, "--all-databases")),
            Err(DumpError::Invalid(_))
        ));
        let mut spec = DumpSpec::new(DbKind::Mysql, "shop");
        spec.format = DumpFormat::Custom;
        assert!(matches!(dump_command(&spec), Err(DumpError::Invalid(_))));
    }

    #[test]
    fn missing_password_env_is_named() {
        let mut spec = DumpSpec::new(DbKind::Postgres, "shop");
        spec.password_env = Some("KEEPUP_TEST_SURELY_UNSET_PW".into());
        let err = dump_command(&spec).unwrap_err();
        assert_eq!(
            err.to_string(),
            "database password: environment variable KEEPUP_TEST_SURELY_UNSET_PW is not set"
        );
    }

    #[test]
    fn the_reader_can_move_to_the_repository_writer() {
        // rustic_core's ReadSourceOpen wants Read + Send + 'static.
        fn sendable<T: Read + Send + 'static>() {}
        sendable::<DumpReader>();
        sendable::<DumpSource>();
    }

    #[test]
    fn secret_is_redacted() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.scrub("bad hunter2!"), "bad ***!");
    }

    fn script(body: &str) -> (tempfile::TempDir, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fake-dump");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        (dir, path)
    }

    /// Spawns, retrying while the fresh script is "text file busy" (its
    /// write descriptor may live on in a child another test thread forked
    /// at that moment).
    fn spawn(spec: &DumpSpec) -> DumpSource {
        for _ in 0..100 {
            match DumpSource::spawn(spec) {
                Err(DumpError::Spawn { source, .. }) if source.raw_os_error() == Some(26) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                other => return other.unwrap(),
            }
        }
        panic!("the test script stayed busy");
    }

    fn run(spec: &DumpSpec) -> (Vec<u8>, Result<DumpReport, DumpError>) {
        let mut source = spawn(spec);
        let mut out = Vec::new();
        source.read_to_end(&mut out).unwrap();
        (out, source.finish())
    }

    #[test]
    fn a_complete_plain_dump_passes() {
        let (_dir, fake) = script(
            "printf 'CREATE TABLE t ();\\n--\\n-- PostgreSQL database dump complete\\n--\\n\\n\\\\unrestrict abc\\n'",
        );
        let mut spec = DumpSpec::new(DbKind::Postgres, "shop");
        spec.program = Some(fake);
        let (out, verdict) = run(&spec);
        let report = verdict.unwrap();
        assert_eq!(report.bytes, out.len() as u64);
        assert!(out.starts_with(b"CREATE TABLE"));
    }

    #[test]
    fn a_successful_exit_without_the_completion_line_is_incomplete() {
        let (_dir, fake) = script("printf 'CREATE TABLE t ();\\nCOPY t FROM stdin;\\n'");
        let mut spec = DumpSpec::new(DbKind::Postgres, "shop");
        spec.program = Some(fake.clone());
        let (_, verdict) = run(&spec);
        assert!(
            matches!(verdict, Err(DumpError::Incomplete { .. })),
            "{verdict:?}"
        );
        // The custom format has no such line: exit status only.
        spec.format = DumpFormat::Custom;
        assert!(run(&spec).1.is_ok());
    }

    #[test]
    fn a_failing_program_reports_status_and_scrubbed_stderr() {
        let pw = password_file("topsecret");
        let (_dir, fake) = script(
            "printf 'partial'; echo \"connection failed for $MYSQL_PWD\" >&2; echo 'Dump completed'; exit 3",
        );
        let mut spec = DumpSpec::new(DbKind::Mysql, "shop");
        spec.program = Some(fake);
        spec.password_file = Some(pw.path().to_path_buf());
        let (_, verdict) = run(&spec);
        let err = verdict.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DumpError::Failed { .. }), "{msg}");
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("connection failed for ***"), "{msg}");
        assert!(!msg.contains("topsecret"), "{msg}");
    }

    #[test]
    fn stopping_before_the_end_fails_and_kills_the_program() {
        let (_dir, fake) = script("while :; do echo 'INSERT INTO t VALUES (1);'; done");
        let mut spec = DumpSpec::new(DbKind::Mysql, "shop");
        spec.program = Some(fake);
        let mut source = spawn(&spec);
        let mut buf = [0u8; 100];
        source.read_exact(&mut buf).unwrap();
        let err = source.finish().unwrap_err();
        assert!(matches!(err, DumpError::NotReadToEnd { .. }), "{err}");
    }

    #[test]
    fn a_killed_program_fails() {
        let (_dir, fake) = script("while :; do echo 'INSERT INTO t VALUES (1);'; done");
        let mut spec = DumpSpec::new(DbKind::Mysql, "shop");
        spec.program = Some(fake);
        let mut source = spawn(&spec);
        let mut buf = [0u8; 100];
        source.read_exact(&mut buf).unwrap();
        source.kill();
        let mut rest = Vec::new();
        source.read_to_end(&mut rest).unwrap();
        let err = source.finish().unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, DumpError::Failed { .. }), "{msg}");
        assert!(msg.contains("signal: 9"), "{msg}");
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let mut spec = DumpSpec::new(DbKind::Postgres, "shop");
        spec.program = Some("/nonexistent/pg_dump".into());
        let err = DumpSource::spawn(&spec).unwrap_err();
        assert!(matches!(err, DumpError::Spawn { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/pg_dump"));
    }
}
