//! A plan's sources as one rustic_core `ReadSource`, so that a run makes
//! one snapshot per target holding every source:
//! - `paths` sources are walked by rustic's `LocalSource` (excludes
//!   applied);
//! - every command and database dump becomes one file at
//!   `/<plan id>/<filename>`, read from the child's stdout while it runs —
//!   streamed into the repository, never staged on disk.
//!
//! Entries are merged in path order (the order rustic's tree builder
//! needs). A command's exit status is only known once its output ended;
//! the run asks [`PlanSource::stream_results`] after the archive and
//! records the snapshot only if every command succeeded: it exited with
//! status 0 within the plan's `command_timeout` and, for a plain database
//! dump, its output ends with the dump's completion line
//! ([`crate::dump::completion_line`]) — a dump cut short behind a wrapper
//! or a pipeline that hid the exit status is a failed run too.
//!
//! Errors rustic would only log and skip (a file that vanished or cannot
//! be read) are collected here, so that the run reports the snapshot as
//! incomplete instead of silently good.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io::Read;
use std::iter::Peekable;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rustic_core::repofile::{Metadata, Node, NodeType};
use rustic_core::{
    ErrorKind, Excludes, LocalSource, LocalSourceFilterOptions, LocalSourceSaveOptions, ReadSource,
    ReadSourceEntry, ReadSourceOpen, RusticError, RusticResult,
};

use crate::child::{Deadline, kill_group};
use crate::error::BackupError;

type LocalOpen = <LocalSource as ReadSource>::Open;
type LocalReader = <LocalOpen as ReadSourceOpen>::Reader;
type LocalIter = <LocalSource as ReadSource>::Iter;

/// How many bytes of a command's stderr are kept for the error message.
const STDERR_TAIL: usize = 2048;

/// Problems with single entries that rustic skips with a warning.
#[derive(Debug, Default)]
pub(crate) struct Skipped(Mutex<Vec<String>>);

impl Skipped {
    fn push(&self, what: String) {
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: a tree of unreadable files must not eat memory.
        if v.len() < 1000 {
            v.push(what);
        }
    }
    pub(crate) fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A streamed source as the plan gives it.
pub(crate) struct StreamSpec {
    /// The stored file name.
    pub(crate) filename: String,
    /// The command writing the content to stdout (environment already
    /// set, see [`crate::child`]).
    pub(crate) command: Command,
    /// The line a complete output contains near its end (plain database
    /// dumps), checked after a successful exit.
    pub(crate) completion_line: Option<&'static [u8]>,
    /// The password the command was given (a dump's), blanked out of its
    /// stderr before that goes into a message.
    pub(crate) password: Option<keepup_config::Secret>,
}

/// One streamed source (a command or a dump) of one run.
pub(crate) struct Stream {
    /// Where it is stored in the snapshot.
    path: PathBuf,
    state: Arc<StreamState>,
}

/// The life of one command: spawned when rustic opens its entry, finished
/// when its stdout ends.
pub(crate) struct StreamState {
    filename: String,
    command: Mutex<Option<Command>>,
    child: Mutex<Option<Child>>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    stderr_thread: Mutex<Option<JoinHandle<()>>>,
    bytes: AtomicU64,
    result: Mutex<Option<Result<(), String>>>,
    /// How long the command may run.
    timeout: Duration,
    /// Kills the command when it runs too long; dropped once it is reaped.
    deadline: Mutex<Option<Deadline>>,
    completion_line: Option<&'static [u8]>,
    password: Option<keepup_config::Secret>,
}

impl StreamState {
    fn new(spec: StreamSpec, timeout: Duration) -> Self {
        Self {
            timeout,
            deadline: Mutex::new(None),
            completion_line: spec.completion_line,
            password: spec.password,
            filename: spec.filename,
            command: Mutex::new(Some(spec.command)),
            child: Mutex::new(None),
            stderr: Arc::new(Mutex::new(VecDeque::new())),
            stderr_thread: Mutex::new(None),
            bytes: AtomicU64::new(0),
            result: Mutex::new(None),
        }
    }

    fn set_result(&self, r: Result<(), String>) {
        let mut slot = self.result.lock().unwrap_or_else(|e| e.into_inner());
        // The first verdict stands (a read error is not overwritten by the
        // exit status that follows it).
        if slot.is_none() {
            *slot = Some(r);
        }
    }

    fn spawn(self: &Arc<Self>) -> Result<ChildStdout, String> {
        let Some(mut cmd) = self
            .command
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Err("was started twice".into());
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A timeout also stops what it started (a grandchild holding
        // stderr open would block the run).
        crate::child::own_group(&mut cmd);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("could not be started ({:?}): {e}", cmd.get_program()))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| "has no stdout".to_owned())?;
        if let Some(mut err) = child.stderr.take() {
            let tail = self.stderr.clone();
            let handle = std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    t.extend(&buf[..n]);
                    let excess = t.len().saturating_sub(STDERR_TAIL);
                    t.drain(..excess);
                }
            });
            *self.stderr_thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        }
        *self.deadline.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(Deadline::start(child.id(), self.timeout));
        *self.child.lock().unwrap_or_else(|e| e.into_inner()) = Some(child);
        Ok(stdout)
    }

    /// The command was reaped: its watchdog stands down. If it had fired,
    /// the verdict says so (before whatever the kill caused).
    fn stop_deadline(&self) {
        let deadline = self
            .deadline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(d) = deadline
            && d.passed()
        {
            self.set_result(Err(format!(
                "ran longer than the plan's command_timeout ({}) and was stopped",
                humantime::format_duration(d.limit())
            )));
        }
    }

    /// The command's stdout ended (`tail`: its last bytes): its exit status
    /// decides, and the completion line for a plain dump.
    fn finished(&self, tail: &[u8]) {
        let status = self
            .child
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|mut c| c.wait());
        self.stop_deadline();
        self.join_stderr();
        match status {
            Some(Ok(s)) if s.success() => match self.completion_line {
                Some(line) if !crate::dump::contains(tail, line) => {
                    self.set_result(Err(self.with_stderr(format!(
                        "exited with status 0 but its output does not end with the dump's completion line {:?}: the dump is incomplete",
                        String::from_utf8_lossy(line)
                    ))));
                }
                _ => self.set_result(Ok(())),
            },
            Some(Ok(s)) => {
                use std::os::unix::process::ExitStatusExt;
                let how = match (s.code(), s.signal()) {
                    (Some(code), _) => format!("exited with status {code}"),
                    (None, Some(sig)) => format!("was killed by signal {sig}"),
                    _ => format!("failed ({s})"),
                };
                self.set_result(Err(self.with_stderr(how)));
            }
            Some(Err(e)) => self.set_result(Err(format!("could not be waited for: {e}"))),
            None => self.set_result(Err("was never started".into())),
        }
    }

    /// Stops the command if it still runs (its output was not consumed to
    /// the end: the archive failed).
    fn abort(&self, why: &str) {
        if let Some(mut c) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            // The whole group: in `sh -c "pg_dump | gzip"` the pipeline's
            // other processes would otherwise hold stderr open.
            kill_group(c.id());
            let _ = c.wait();
            self.stop_deadline();
            self.join_stderr();
            self.set_result(Err(self.with_stderr(why.to_owned())));
        }
    }

    fn join_stderr(&self) {
        if let Some(h) = self
            .stderr_thread
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = h.join();
        }
    }

    fn with_stderr(&self, how: String) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        let (a, b) = tail.as_slices();
        let mut text = String::from_utf8_lossy(&[a, b].concat()).trim().to_owned();
        if let Some(p) = &self.password {
            text = p.scrub(&text);
        }
        if text.is_empty() {
            how
        } else {
            format!("{how}: {}", text.replace('\n', " | "))
        }
    }

    /// The verdict after the archive: success, or why not.
    fn verdict(&self) -> Result<u64, String> {
        self.abort("stopped before its output ended");
        match &*self.result.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Ok(())) => Ok(self.bytes.load(Ordering::SeqCst)),
            Some(Err(e)) => Err(e.clone()),
            None => Err("was never started".into()),
        }
    }
}

/// Reads a command's stdout for rustic, counting bytes and taking the exit
/// status when the output ends.
pub(crate) struct StreamReader {
    stdout: ChildStdout,
    state: Arc<StreamState>,
    done: bool,
    /// The last bytes read, when there is a completion line to look for.
    tail: Vec<u8>,
}

impl Read for StreamReader {
    // rustic_core's Rabin chunker shrinks its 4 KiB read buffer to the
    // length of a short read and never grows it back, so one short read
    // from the pipe would leave every later read a few bytes long. Fill
    // the whole buffer unless the stream ends.
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read_some(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        Ok(filled)
    }
}

impl StreamReader {
    /// One read from the pipe, counted, with the end and errors recorded.
    fn read_some(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.stdout.read(buf) {
                Ok(0) => {
                    if !self.done {
                        self.done = true;
                        self.state.finished(&self.tail);
                    }
                    return Ok(0);
                }
                Ok(n) => {
                    self.state.bytes.fetch_add(n as u64, Ordering::Relaxed);
                    if self.state.completion_line.is_some() {
                        crate::dump::keep_tail(&mut self.tail, &buf[..n]);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.state
                        .set_result(Err(format!("output could not be read: {e}")));
                    return Err(e);
                }
            }
        }
    }
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        if !self.done {
            self.state
                .abort("was stopped: its output was not read to the end");
        }
    }
}

/// How rustic opens an entry of a plan.
pub(crate) enum SourceOpen {
    File {
        open: LocalOpen,
        path: PathBuf,
        skipped: Arc<Skipped>,
    },
    Stream(Arc<StreamState>),
}

/// What rustic reads an entry from.
pub(crate) enum SourceReader {
    File {
        file: LocalReader,
        path: PathBuf,
        skipped: Arc<Skipped>,
    },
    Stream(StreamReader),
}

impl Read for SourceReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            SourceReader::File {
                file,
                path,
                skipped,
            } => file.read(buf).inspect_err(|e| {
                skipped.push(format!("{}: read failed: {e}", path.display()));
            }),
            SourceReader::Stream(s) => s.read(buf),
        }
    }
}

impl ReadSourceOpen for SourceOpen {
    type Reader = SourceReader;

    fn open(self) -> RusticResult<SourceReader> {
        match self {
            SourceOpen::File {
                open,
                path,
                skipped,
            } => match open.open() {
                Ok(file) => Ok(SourceReader::File {
                    file,
                    path,
                    skipped,
                }),
                Err(e) => {
                    skipped.push(format!(
                        "{}: cannot be opened: {}",
                        path.display(),
                        crate::error::one_line(&e)
                    ));
                    Err(e)
                }
            },
            SourceOpen::Stream(state) => match state.spawn() {
                Ok(stdout) => Ok(SourceReader::Stream(StreamReader {
                    stdout,
                    state,
                    done: false,
                    tail: Vec::new(),
                })),
                Err(why) => {
                    state.set_result(Err(why.clone()));
                    Err(RusticError::new(
                        ErrorKind::ExternalCommand,
                        "a backup command could not be started",
                    ))
                }
            },
        }
    }
}

/// A plan's sources for one run on one target.
pub(crate) struct PlanSource {
    local: Option<LocalSource>,
    streams: Vec<Stream>,
    skipped: Arc<Skipped>,
    /// The time stamped on streamed files (their "mtime"): a fresh one each
    /// run, so that a parent snapshot is never taken as unchanged content.
    stamp: jiff::Timestamp,
}

impl PlanSource {
    /// `paths`: every path of the plan (sorted, not nested); `excludes`:
    /// gitignore-style globs; `streams`: the commands and dumps.
    pub(crate) fn new(
        plan_id: &str,
        paths: &[PathBuf],
        excludes: &[String],
        streams: Vec<StreamSpec>,
        command_timeout: Duration,
    ) -> Result<Self, BackupError> {
        let local = if paths.is_empty() {
            None
        } else {
            // `!glob` excludes in the override syntax of the `ignore` crate.
            let globs = excludes.iter().map(|g| format!("!{g}")).collect::<Vec<_>>();
            let excludes = Excludes::default().globs(globs);
            Some(
                LocalSource::new(
                    LocalSourceSaveOptions::default(),
                    &excludes,
                    &LocalSourceFilterOptions::default(),
                    paths,
                )
                .map_err(|e| BackupError::SourceUnreadable {
                    path: paths[0].clone(),
                    reason: crate::error::one_line(&e),
                })?,
            )
        };
        let mut streams: Vec<Stream> = streams
            .into_iter()
            .map(|spec| Stream {
                path: Path::new("/").join(plan_id).join(&spec.filename),
                state: Arc::new(StreamState::new(spec, command_timeout)),
            })
            .collect();
        streams.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self {
            local,
            streams,
            skipped: Arc::new(Skipped::default()),
            stamp: jiff::Timestamp::now(),
        })
    }

    /// The paths recorded in the snapshot (for restic's `paths` and the
    /// parent lookup).
    pub(crate) fn snapshot_paths(&self, paths: &[PathBuf]) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = paths.to_vec();
        all.extend(self.streams.iter().map(|s| s.path.clone()));
        all.sort();
        all
    }

    /// Per streamed source: its file name and the bytes it produced, or why
    /// it failed. Stops commands still running.
    pub(crate) fn stream_results(&self) -> Vec<(String, Result<u64, String>)> {
        self.streams
            .iter()
            .map(|s| (s.state.filename.clone(), s.state.verdict()))
            .collect()
    }

    /// Entries rustic skipped.
    pub(crate) fn skipped(&self) -> Vec<String> {
        self.skipped.take()
    }
}

impl Drop for PlanSource {
    fn drop(&mut self) {
        for s in &self.streams {
            s.state.abort("was stopped: the backup ended early");
        }
    }
}

/// The merged entries of paths and streams, in path order.
pub(crate) struct Entries {
    local: Option<Peekable<LocalIter>>,
    streams: std::vec::IntoIter<(PathBuf, Arc<StreamState>)>,
    next_stream: Option<(PathBuf, Arc<StreamState>)>,
    skipped: Arc<Skipped>,
    stamp: jiff::Timestamp,
}

impl Entries {
    fn stream_entry(&self, path: PathBuf, state: Arc<StreamState>) -> ReadSourceEntry<SourceOpen> {
        let name = path.file_name().map(OsStr::to_owned).unwrap_or_default();
        let meta = Metadata {
            mode: Some(0o600),
            mtime: Some(self.stamp),
            atime: Some(self.stamp),
            ctime: Some(self.stamp),
            ..Default::default()
        };
        ReadSourceEntry {
            path,
            node: Node::new_node(&name, NodeType::File, meta),
            open: Some(SourceOpen::Stream(state)),
        }
    }
}

impl Iterator for Entries {
    type Item = RusticResult<ReadSourceEntry<SourceOpen>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.next_stream.is_none() {
            self.next_stream = self.streams.next();
        }
        let local_first = match (
            self.local.as_mut().and_then(|l| l.peek()),
            &self.next_stream,
        ) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            // Walker errors go first, as they come.
            (Some(Err(_)), Some(_)) => true,
            (Some(Ok(e)), Some((p, _))) => e.path.as_path() <= p.as_path(),
        };
        if local_first {
            let item = self.local.as_mut()?.next()?;
            Some(match item {
                Ok(e) => {
                    let path = e.path.clone();
                    let skipped = self.skipped.clone();
                    Ok(ReadSourceEntry {
                        path: e.path,
                        node: e.node,
                        open: e.open.map(|open| SourceOpen::File {
                            open,
                            path,
                            skipped,
                        }),
                    })
                }
                Err(e) => {
                    self.skipped.push(crate::error::one_line(&e));
                    Err(e)
                }
            })
        } else {
            let (path, state) = self.next_stream.take()?;
            Some(Ok(self.stream_entry(path, state)))
        }
    }
}

impl ReadSource for PlanSource {
    type Open = SourceOpen;
    type Iter = Entries;

    fn size(&self) -> RusticResult<Option<u64>> {
        match &self.local {
            Some(l) => l.size(),
            None => Ok(None),
        }
    }

    fn entries(&self) -> Entries {
        Entries {
            local: self.local.as_ref().map(|l| l.entries().peekable()),
            streams: self
                .streams
                .iter()
                .map(|s| (s.path.clone(), s.state.clone()))
                .collect::<Vec<_>>()
                .into_iter(),
            next_stream: None,
            skipped: self.skipped.clone(),
            stamp: self.stamp,
        }
    }
}
