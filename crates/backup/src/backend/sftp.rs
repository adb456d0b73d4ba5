//! A repository on an SFTP server, reached the way restic reaches it: the
//! system's `ssh` runs the server's `sftp` subsystem
//! (`ssh [-p PORT] [-i KEY] [-o UserKnownHostsFile=F] -o BatchMode=yes
//! [-l USER] [EXTRA..] -s -- HOST sftp`) and we speak SFTP over its
//! stdin/stdout with `russh-sftp`. The operator's SSH setup (agent, config,
//! known hosts) applies as it does for restic.
//!
//! Layout (restic's): `config`, `keys/`, `snapshots/`, `index/`, `locks/`,
//! `data/00` … `data/ff`. Files are written to a temporary name in their
//! directory (mode 0600) and renamed into place, so a reader never sees a
//! half-written file. One ssh process carries every request (SFTP
//! multiplexes them); when it dies, the next operation starts a new one.
//! Logins never prompt (`BatchMode=yes`); connecting is bounded by the
//! connect timeout, every SFTP request by the I/O timeout, and a failure
//! reports the host and the tail of ssh's stderr. A request that times out
//! (a server that stopped answering) marks the connection broken: the
//! operation is retried on a new one. A whole-file read believes the size
//! the server announces only up to [`READ_FULL_LIMIT`] and fails when the
//! file ends before it. `ssh` starts with keepup's environment allow-list
//! plus `SSH_AUTH_SOCK` ([`crate::child`]).

use std::future::Future;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use rustic_core::{BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::runtime::Runtime;
use tokio::sync::Mutex as AsyncMutex;

use super::{BackendError, Location, TargetOptions, bounded, run_blocking, rustic_error};

/// How much of ssh's stderr is kept for messages.
const STDERR_KEEP: usize = 2048;
/// The largest file read whole (config, keys, snapshots, indexes, packs):
/// restic's packs stay below 128 MiB, its other files far below that, so
/// a larger size announced by the server is refused instead of being
/// allocated and read.
pub(crate) const READ_FULL_LIMIT: u64 = 1 << 30;
/// Memory reserved up front for a whole-file read; beyond it the buffer
/// grows with the bytes that really arrive.
const READ_FULL_RESERVE: u64 = 8 << 20;
/// Directories under the repository (besides `data/xx`).
const DIRS: [&str; 5] = ["keys", "snapshots", "index", "locks", "data"];

/// An SFTP target.
pub struct SftpBackend {
    inner: Arc<Inner>,
    /// `Option` only so that `Drop` can shut it down without blocking.
    rt: Option<Runtime>,
}

struct Inner {
    /// The location as restic writes it, for messages.
    target: String,
    /// `user@host:port` for messages.
    peer: String,
    user: Option<String>,
    host: String,
    port: Option<u16>,
    /// Repository directory without a trailing `/`.
    dir: String,
    opts: TargetOptions,
    conn: AsyncMutex<Option<Arc<Conn>>>,
}

/// One ssh process and the SFTP session over it.
struct Conn {
    sftp: SftpSession,
    child: Mutex<Child>,
    stderr: Arc<Mutex<String>>,
    /// Set when a request timed out or the transport failed: the next
    /// operation reconnects.
    broken: AtomicBool,
}

impl Conn {
    fn alive(&self) -> bool {
        if self.broken.load(Ordering::Relaxed) {
            return false;
        }
        match self.child.lock() {
            Ok(mut c) => matches!(c.try_wait(), Ok(None)),
            Err(_) => false,
        }
    }

    fn kill(&self) {
        self.broken.store(true, Ordering::Relaxed);
        if let Ok(mut c) = self.child.lock() {
            let _ = c.start_kill();
        }
    }

    fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }
}

impl std::fmt::Debug for SftpBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpBackend")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl Drop for SftpBackend {
    fn drop(&mut self) {
        // Stop ssh now rather than whenever the last handle goes.
        if let Ok(slot) = self.inner.conn.try_lock()
            && let Some(c) = slot.as_ref()
        {
            c.kill();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A failed SFTP operation.
enum Fail {
    /// The connection is gone or wedged: reconnect and retry.
    Transport(String),
    /// The server refused (no such file, permission denied, disk full...).
    Refused(String),
}

/// A request the server did not answer in time.
fn timed_out(e: &SftpError) -> bool {
    matches!(e, SftpError::Timeout)
}

/// An I/O error from a file handle that is a request timeout.
fn io_timed_out(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::TimedOut
}

/// A failed request in a batch ([`all_of`]).
struct JobError {
    text: String,
    timed_out: bool,
}

impl JobError {
    fn new(text: String, e: &SftpError) -> Self {
        Self {
            text,
            timed_out: timed_out(e),
        }
    }
}

/// A file that does not exist (for listing and mkdir decisions).
fn is_no_such_file(e: &SftpError) -> bool {
    matches!(e, SftpError::Status(s) if s.status_code == StatusCode::NoSuchFile)
}

impl SftpBackend {
    /// The backend for an `sftp:` location; nothing is started yet.
    pub fn new(loc: &Location, opts: &TargetOptions) -> Result<Self, BackendError> {
        let Location::Sftp {
            user,
            host,
            port,
            path,
        } = loc
        else {
            return Err(BackendError::Options {
                target: loc.to_string(),
                reason: "not an sftp: location".into(),
            });
        };
        let target = loc.to_string();
        for a in &opts.access.ssh_args {
            if a.chars().any(char::is_control) {
                return Err(BackendError::Options {
                    target,
                    reason: "ssh_command arguments must not contain control characters".into(),
                });
            }
        }
        let port = port.or(opts.ssh_port);
        let peer = format!(
            "{}{}{}",
            user.as_deref().map(|u| format!("{u}@")).unwrap_or_default(),
            host,
            port.map(|p| format!(":{p}")).unwrap_or_default()
        );
        let mut dir = path.trim_end_matches('/').to_owned();
        if dir.is_empty() {
            dir = "/".into();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keepup-sftp")
            .enable_all()
            .build()
            .map_err(|source| BackendError::Runtime {
                target: target.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                peer,
                user: user.clone(),
                host: host.clone(),
                port,
                dir,
                opts: opts.clone(),
                conn: AsyncMutex::new(None),
            }),
            rt: Some(rt),
        })
    }

    fn block_on<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = RusticResult<T>> + Send + 'static,
    ) -> RusticResult<T> {
        run_blocking(self.rt.as_ref(), &self.inner.target, fut)
    }

    /// Kills the current ssh process, as if the connection had dropped
    /// (tests check that the next operation reconnects).
    #[doc(hidden)]
    pub fn kill_connection(&self) {
        let inner = Arc::clone(&self.inner);
        let _ = self.block_on(async move {
            if let Some(c) = inner.conn.lock().await.as_ref() {
                c.kill();
            }
            Ok(())
        });
    }
}

fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:08x}{n:x}", std::process::id(), t)
}

impl Inner {
    fn path(&self, tpe: FileType, id: &Id) -> String {
        let hex = id.to_hex();
        let hex = hex.as_str();
        match tpe {
            FileType::Config => self.join("config"),
            FileType::Pack => self.join(&format!("data/{}/{hex}", &hex[..2])),
            _ => self.join(&format!("{}/{hex}", tpe.dirname())),
        }
    }

    fn join(&self, rest: &str) -> String {
        if self.dir == "/" {
            format!("/{rest}")
        } else {
            format!("{}/{rest}", self.dir)
        }
    }

    /// The ssh command line (without the program name).
    fn ssh_args(&self) -> Vec<String> {
        let mut a = ssh_options(
            self.port,
            self.opts.access.ssh_identity_file.as_deref(),
            self.opts.access.ssh_known_hosts_file.as_deref(),
            self.opts.connect_timeout,
        );
        if let Some(u) = &self.user {
            a.extend(["-l".into(), u.clone()]);
        }
        a.extend(self.opts.access.ssh_args.iter().cloned());
        // `--`: the host can never be taken for an option.
        a.extend(["-s".into(), "--".into(), self.host.clone(), "sftp".into()]);
        a
    }

    /// The live connection, or a new one.
    async fn conn(&self) -> Result<Arc<Conn>, Fail> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref()
            && c.alive()
        {
            return Ok(Arc::clone(c));
        }
        if let Some(old) = slot.take() {
            old.kill();
        }
        let c = Arc::new(self.connect().await?);
        *slot = Some(Arc::clone(&c));
        Ok(c)
    }

    async fn connect(&self) -> Result<Conn, Fail> {
        // No password or key of keepup's environment reaches ssh (or a
        // ProxyCommand it runs); the agent socket does.
        let mut cmd = Command::from(crate::child::command("ssh", &["SSH_AUTH_SOCK"]));
        cmd.args(self.ssh_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| Fail::Refused(format!("cannot run ssh (package openssh-client): {e}")))?;
        let (Some(stdin), Some(stdout), Some(mut err)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(Fail::Refused("ssh started without pipes".into()));
        };
        let stderr = Arc::new(Mutex::new(String::new()));
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        {
            let stderr = Arc::clone(&stderr);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = err.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = stderr.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                        if s.len() > STDERR_KEEP {
                            let mut cut = s.len() - STDERR_KEEP;
                            while !s.is_char_boundary(cut) {
                                cut += 1;
                            }
                            s.drain(..cut);
                        }
                    }
                }
                let _ = done_tx.send(());
            });
        }
        let config = russh_sftp::client::Config {
            request_timeout_secs: self.opts.io_timeout.as_secs().max(1),
            ..Default::default()
        };
        // ssh's own ConnectTimeout covers TCP; this covers the login and
        // the SFTP handshake too.
        let limit = self.opts.connect_timeout + Duration::from_secs(5);
        let session = tokio::time::timeout(
            limit,
            SftpSession::new_with_config(tokio::io::join(stdout, stdin), config),
        )
        .await;
        match session {
            Ok(Ok(sftp)) => Ok(Conn {
                sftp,
                child: Mutex::new(child),
                stderr,
                broken: AtomicBool::new(false),
            }),
            Ok(Err(e)) => {
                // ssh has probably exited: let it finish its message.
                let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
                let _ = tokio::time::timeout(Duration::from_secs(1), done_rx).await;
                let _ = child.start_kill();
                let text = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                let why = match (text.trim().is_empty(), status) {
                    (false, _) => match ssh_advice(&text) {
                        Some(advice) => {
                            format!("{advice} (ssh said: {})", bounded(&text, STDERR_KEEP))
                        }
                        None => bounded(&text, STDERR_KEEP),
                    },
                    (true, Ok(Ok(st))) => format!("ssh exited with {st} (no message)"),
                    (true, _) => format!("SFTP handshake failed: {e}"),
                };
                Err(Fail::Transport(format!(
                    "ssh to {} failed: {}",
                    self.peer,
                    one_line(&why)
                )))
            }
            Err(_) => {
                let _ = child.start_kill();
                let text = stderr.lock().map(|s| s.clone()).unwrap_or_default();
                Err(Fail::Transport(format!(
                    "ssh to {} did not log in within {limit:?}{}",
                    self.peer,
                    if text.trim().is_empty() {
                        String::new()
                    } else {
                        format!(": {}", one_line(&bounded(&text, STDERR_KEEP)))
                    }
                )))
            }
        }
    }

    /// Classifies a failed request on `conn`: a timeout or a dead
    /// connection is a transport failure (the connection is dropped and the
    /// operation retried), anything else the server's refusal.
    fn fail(&self, conn: &Conn, e: impl std::fmt::Display, timed_out: bool) -> Fail {
        if timed_out || !conn.alive() {
            conn.kill();
            let tail = conn.stderr_tail();
            Fail::Transport(if tail.is_empty() {
                format!("connection to {} lost: {e}", self.peer)
            } else {
                format!(
                    "connection to {} lost: {e}: {}",
                    self.peer,
                    one_line(&bounded(&tail, STDERR_KEEP))
                )
            })
        } else {
            Fail::Refused(e.to_string())
        }
    }

    /// Runs `f` on a live connection; a transport failure reconnects and
    /// retries (with backoff) up to the target's attempts.
    async fn run<T, F, Fut>(&self, op: &str, path: &str, f: F) -> RusticResult<T>
    where
        F: Fn(Arc<Conn>) -> Fut,
        Fut: Future<Output = Result<T, Fail>>,
    {
        let attempts = self.opts.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(TargetOptions::backoff(attempt)).await;
            }
            let result = match self.conn().await {
                Ok(c) => f(c).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(v) => return Ok(v),
                Err(Fail::Refused(e)) => {
                    return Err(rustic_error(format!("{}: {op} {path}: {e}", self.target)));
                }
                Err(Fail::Transport(e)) => {
                    tracing::debug!(target = %self.target, op, path, attempt, error = %e, "SFTP operation failed");
                    last = e;
                }
            }
        }
        Err(rustic_error(format!(
            "{}: {op} {path}: {last} (after {attempts} attempts)",
            self.target
        )))
    }

    /// `mkdir` that accepts an existing directory.
    async fn mkdir(&self, c: &Conn, path: &str) -> Result<(), Fail> {
        match c.sftp.create_dir(path).await {
            Ok(()) => Ok(()),
            Err(e) => match c.sftp.metadata(path).await {
                Ok(m) if m.is_dir() => Ok(()),
                _ => Err(self.fail(
                    c,
                    format!("cannot create directory {path}: {e}"),
                    timed_out(&e),
                )),
            },
        }
    }

    async fn create(&self, c: Arc<Conn>) -> Result<(), Fail> {
        // mkdir -p of the repository directory itself.
        let absolute = self.dir.starts_with('/');
        let mut prefix = String::new();
        for part in self.dir.split('/').filter(|p| !p.is_empty()) {
            if !prefix.is_empty() || absolute {
                prefix.push('/');
            }
            prefix.push_str(part);
            if !matches!(c.sftp.metadata(prefix.as_str()).await, Ok(m) if m.is_dir()) {
                self.mkdir(&c, &prefix).await?;
            }
        }
        for d in DIRS {
            self.mkdir(&c, &self.join(d)).await?;
        }
        // 256 data subdirectories: several at a time, SFTP pipelines them.
        let jobs = (0..=255u8).map(|i| {
            let path = self.join(&format!("data/{i:02x}"));
            let c = Arc::clone(&c);
            async move {
                match c.sftp.create_dir(path.as_str()).await {
                    Ok(()) => Ok(()),
                    Err(e) => match c.sftp.metadata(path.as_str()).await {
                        Ok(m) if m.is_dir() => Ok(()),
                        _ => Err(JobError::new(
                            format!("cannot create directory {path}: {e}"),
                            &e,
                        )),
                    },
                }
            }
        });
        all_of(jobs)
            .await
            .map_err(|e| self.fail(&c, e.text, e.timed_out))?;
        Ok(())
    }

    async fn list(&self, c: Arc<Conn>, tpe: FileType) -> Result<Vec<(Id, u32)>, Fail> {
        if tpe == FileType::Config {
            return match c.sftp.metadata(self.join("config")).await {
                Ok(m) => Ok(vec![(Id::default(), u32::try_from(m.len()).unwrap_or(0))]),
                Err(e) if is_no_such_file(&e) => Ok(Vec::new()),
                Err(e) => {
                    let t = timed_out(&e);
                    Err(self.fail(&c, e, t))
                }
            };
        }
        let dir = self.join(tpe.dirname());
        let entries = match c.sftp.read_dir(dir.as_str()).await {
            Ok(d) => d,
            // Not created (yet): nothing there, as restic sees it.
            Err(e) if is_no_such_file(&e) => return Ok(Vec::new()),
            Err(e) => return Err(self.fail(&c, format!("listing {dir}: {e}"), timed_out(&e))),
        };
        let mut out = Vec::new();
        if tpe != FileType::Pack {
            for e in entries {
                collect_entry(&mut out, &e.file_name(), &e.metadata(), tpe);
            }
            return Ok(out);
        }
        let jobs = entries
            .filter(|e| e.metadata().is_dir() && e.file_name().len() == 2)
            .map(|e| {
                let sub = format!("{dir}/{}", e.file_name());
                let c = Arc::clone(&c);
                async move {
                    let r = c.sftp.read_dir(sub.as_str()).await;
                    r.map(|d| d.map(|e| (e.file_name(), e.metadata())).collect::<Vec<_>>())
                        .map_err(|e| JobError::new(format!("listing {sub}: {e}"), &e))
                }
            });
        let listed = all_of(jobs)
            .await
            .map_err(|e| self.fail(&c, e.text, e.timed_out))?;
        for files in listed {
            for (name, meta) in files {
                collect_entry(&mut out, &name, &meta, tpe);
            }
        }
        Ok(out)
    }

    async fn read(
        &self,
        c: Arc<Conn>,
        path: &str,
        range: Option<(u32, u32)>,
    ) -> Result<Bytes, Fail> {
        let mut file = c.sftp.open(path).await.map_err(|e| {
            let t = timed_out(&e);
            self.fail(&c, e, t)
        })?;
        match range {
            Some((offset, length)) => {
                file.seek(std::io::SeekFrom::Start(u64::from(offset)))
                    .await
                    .map_err(|e| {
                        let t = io_timed_out(&e);
                        self.fail(&c, e, t)
                    })?;
                let mut buf = vec![0u8; length as usize];
                file.read_exact(&mut buf).await.map_err(|e| {
                    if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        Fail::Refused(format!(
                            "file shorter than {length} bytes at offset {offset}"
                        ))
                    } else {
                        let t = io_timed_out(&e);
                        self.fail(&c, e, t)
                    }
                })?;
                let _ = file.close().await;
                Ok(Bytes::from(buf))
            }
            None => {
                let size = file.metadata().await.map(|m| m.len()).map_err(|e| {
                    let t = timed_out(&e);
                    self.fail(&c, e, t)
                })?;
                if size > READ_FULL_LIMIT {
                    return Err(Fail::Refused(format!(
                        "the server reports {size} bytes, more than any repository file may have ({READ_FULL_LIMIT} bytes)"
                    )));
                }
                // The announced size is not trusted with memory: the
                // buffer grows with what arrives.
                let mut buf = Vec::with_capacity(size.min(READ_FULL_RESERVE) as usize);
                // A file growing while we read is cut at the size we saw.
                (&mut file)
                    .take(size)
                    .read_to_end(&mut buf)
                    .await
                    .map_err(|e| {
                        let t = io_timed_out(&e);
                        self.fail(&c, e, t)
                    })?;
                let _ = file.close().await;
                if buf.len() as u64 != size {
                    return Err(Fail::Refused(format!(
                        "the file ended after {} of the {size} bytes the server reported",
                        buf.len()
                    )));
                }
                Ok(Bytes::from(buf))
            }
        }
    }

    async fn remove(&self, c: Arc<Conn>, path: &str) -> Result<(), Fail> {
        c.sftp.remove_file(path).await.map_err(|e| {
            let t = timed_out(&e);
            self.fail(&c, e, t)
        })
    }

    async fn write(
        &self,
        c: Arc<Conn>,
        tpe: FileType,
        path: &str,
        content: &[Bytes],
    ) -> Result<(), Fail> {
        let tmp = format!("{path}-tmp-{}", unique_suffix());
        let attrs = FileAttributes {
            permissions: Some(0o600),
            ..FileAttributes::empty()
        };
        let flags = OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE;
        let file = match c
            .sftp
            .open_with_flags_and_attributes(tmp.as_str(), flags, attrs.clone())
            .await
        {
            Ok(f) => f,
            Err(e) if is_no_such_file(&e) => {
                // A data/xx directory that is missing (repository made
                // by another tool): create it and try again.
                if let Some((parent, _)) = path.rsplit_once('/') {
                    self.mkdir(&c, parent).await?;
                }
                c.sftp
                    .open_with_flags_and_attributes(tmp.as_str(), flags, attrs)
                    .await
                    .map_err(|e| self.fail(&c, format!("creating {tmp}: {e}"), timed_out(&e)))?
            }
            Err(e) => {
                return Err(self.fail(&c, format!("creating {tmp}: {e}"), timed_out(&e)));
            }
        };
        let written = async {
            let mut file = file;
            for chunk in content {
                file.write_all(chunk).await?;
            }
            file.sync_all().await.map_err(std::io::Error::from)?;
            file.close().await
        }
        .await;
        if let Err(e) = written {
            let f = self.fail(&c, format!("writing {tmp}: {e}"), io_timed_out(&e));
            if c.alive() {
                let _ = c.sftp.remove_file(tmp.as_str()).await;
            }
            return Err(f);
        }
        if let Err(e) = c.sftp.rename(tmp.as_str(), path).await {
            // SFTP v3 rename does not replace. Content-addressed files with
            // the same name are the same file: keep the one there. The
            // config file is replaced.
            let exists = c.sftp.metadata(path).await.is_ok();
            let replaced = if exists && tpe == FileType::Config {
                c.sftp.remove_file(path).await.is_ok()
                    && c.sftp.rename(tmp.as_str(), path).await.is_ok()
            } else {
                false
            };
            if exists && tpe != FileType::Config {
                let _ = c.sftp.remove_file(tmp.as_str()).await;
                return Ok(());
            }
            if !replaced {
                let f = self.fail(&c, format!("renaming {tmp} to {path}: {e}"), timed_out(&e));
                let _ = c.sftp.remove_file(tmp.as_str()).await;
                return Err(f);
            }
        }
        Ok(())
    }
}

/// SFTP requests kept in flight by one listing or `create`: enough to hide
/// the round trips, few enough for the server's open-handle limit.
const PARALLEL: usize = 16;

/// Runs `jobs` on the current runtime, [`PARALLEL`] at a time; the first
/// error wins.
async fn all_of<T, F>(jobs: impl Iterator<Item = F>) -> Result<Vec<T>, JobError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, JobError>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut out = Vec::new();
    let mut collect = |r: Result<Result<T, JobError>, tokio::task::JoinError>| match r {
        Ok(Ok(v)) => {
            out.push(v);
            Ok(())
        }
        Ok(Err(e)) => Err(e),
        Err(e) => Err(JobError {
            text: format!("internal task failed: {e}"),
            timed_out: false,
        }),
    };
    for job in jobs {
        if set.len() >= PARALLEL
            && let Some(r) = set.join_next().await
        {
            collect(r)?;
        }
        set.spawn(job);
    }
    while let Some(r) = set.join_next().await {
        collect(r)?;
    }
    Ok(out)
}

fn collect_entry(
    out: &mut Vec<(Id, u32)>,
    name: &str,
    meta: &russh_sftp::client::fs::Metadata,
    tpe: FileType,
) {
    if meta.is_dir() {
        return;
    }
    let Some(id) = Id::parse_some(name, tpe) else {
        return;
    };
    match u32::try_from(meta.len()) {
        Ok(size) => out.push((id, size)),
        Err(_) => tracing::warn!(name, "file too large for the repository format, ignored"),
    }
}

/// What ssh's complaint on stderr means for the target's settings, for the
/// failures a person can fix from the configuration.
fn ssh_advice(stderr: &str) -> Option<&'static str> {
    if stderr.contains("Permission denied") {
        Some(
            "the server refused the login: check the user in the location and the key in ssh_identity_file (its public key must be in the server's authorized_keys)",
        )
    } else if stderr.contains("Host key verification failed") {
        Some(
            "the server's host key is not in ssh_known_hosts_file (or differs from the one there): add the key after checking it, e.g. with ssh-keyscan",
        )
    } else if stderr.contains("Connection refused") {
        Some("nothing accepts connections on that host and port (is sshd running?)")
    } else if stderr.contains("Could not resolve hostname") {
        Some("the host name does not resolve")
    } else {
        None
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

impl ReadBackend for SftpBackend {
    fn location(&self) -> String {
        self.inner.target.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        let inner = Arc::clone(&self.inner);
        let what = inner.join(tpe.dirname());
        self.block_on(async move { inner.run("listing", &what, |c| inner.list(c, tpe)).await })
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let inner = Arc::clone(&self.inner);
        let path = inner.path(tpe, id);
        self.block_on(async move {
            inner
                .run("reading", &path, |c| inner.read(c, &path, None))
                .await
        })
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        let inner = Arc::clone(&self.inner);
        let path = inner.path(tpe, id);
        self.block_on(async move {
            inner
                .run("reading", &path, |c| {
                    inner.read(c, &path, Some((offset, length)))
                })
                .await
        })
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.path(tpe, id)
    }
}

impl WriteBackend for SftpBackend {
    fn create(&self) -> RusticResult<()> {
        let inner = Arc::clone(&self.inner);
        let dir = inner.dir.clone();
        self.block_on(async move {
            inner
                .run("creating the repository in", &dir, |c| inner.create(c))
                .await
        })
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let inner = Arc::clone(&self.inner);
        let path = inner.path(tpe, id);
        let chunks = content.into_vec();
        self.block_on(async move {
            inner
                .run("writing", &path, |c| inner.write(c, tpe, &path, &chunks))
                .await
        })
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let inner = Arc::clone(&self.inner);
        let path = inner.path(tpe, id);
        self.block_on(async move {
            inner
                .run("removing", &path, |c| inner.remove(c, &path))
                .await
        })
    }
}

/// The options keepup's `ssh` runs always get, before the operator's own
/// (`ssh_args`, ssh_config: the first value wins): the port, the identity
/// (only that one), the known hosts file, never a prompt, an unknown host
/// key refused (never learnt), connecting bounded by `connect_timeout` and
/// a dead connection noticed within 45 s. Also the SSH steps of disaster
/// recovery use them.
pub fn ssh_options(
    port: Option<u16>,
    identity_file: Option<&std::path::Path>,
    known_hosts_file: Option<&std::path::Path>,
    connect_timeout: Duration,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if let Some(p) = port {
        a.extend(["-p".into(), p.to_string()]);
    }
    if let Some(id) = identity_file {
        a.extend([
            "-i".into(),
            id.display().to_string(),
            "-o".into(),
            "IdentitiesOnly=yes".into(),
        ]);
    }
    if let Some(kh) = known_hosts_file {
        a.extend(["-o".into(), format!("UserKnownHostsFile={}", kh.display())]);
    }
    let connect_secs = connect_timeout.as_secs().max(1);
    a.extend([
        "-o".into(),
        "BatchMode=yes".into(),
        "-o".into(),
        "StrictHostKeyChecking=yes".into(),
        "-o".into(),
        format!("ConnectTimeout={connect_secs}"),
        "-o".into(),
        "ServerAliveInterval=15".into(),
        "-o".into(),
        "ServerAliveCountMax=3".into(),
    ]);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TargetAccess;
    use std::path::Path;

    fn backend(s: &str, opts: TargetOptions) -> SftpBackend {
        SftpBackend::new(&Location::parse(s).unwrap(), &opts).unwrap()
    }

    #[test]
    fn ssh_command_line() {
        let b = backend(
            "sftp://bob@host.example:2222//srv/repo/",
            TargetOptions {
                access: TargetAccess {
                    ssh_identity_file: Some("/k/id".into()),
                    ssh_known_hosts_file: Some("/k/known".into()),
                    ssh_args: vec!["-o".into(), "Compression=yes".into()],
                    ..TargetAccess::default()
                },
                ..TargetOptions::default()
            },
        );
        let args = b.inner.ssh_args().join(" ");
        assert!(args.starts_with("-p 2222 -i /k/id -o IdentitiesOnly=yes -o UserKnownHostsFile=/k/known -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=15"), "{args}");
        assert!(
            args.ends_with("-l bob -o Compression=yes -s -- host.example sftp"),
            "{args}"
        );
        assert_eq!(b.inner.dir, "/srv/repo");
        let id = Id::default();
        assert_eq!(
            b.inner.path(FileType::Pack, &id),
            format!("/srv/repo/data/00/{}", id.to_hex().as_str())
        );
        assert_eq!(b.inner.path(FileType::Config, &id), "/srv/repo/config");
    }

    #[test]
    fn option_port_applies_to_the_short_form() {
        let b = backend(
            "sftp:host:repo",
            TargetOptions {
                ssh_port: Some(2200),
                ..TargetOptions::default()
            },
        );
        assert!(b.inner.ssh_args().join(" ").starts_with("-p 2200 "));
        assert_eq!(
            b.inner
                .path(FileType::Key, &Id::default())
                .split('/')
                .next(),
            Some("repo")
        );
        assert!(!Path::new(&b.inner.dir).is_absolute());
    }
}
