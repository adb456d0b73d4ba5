//! Restoring: a whole snapshot to a directory (contents by our bounded
//! restorer, `contents.rs`; metadata by rustic_core), one file to a writer,
//! and the restore test — a sample of files of the latest snapshot streamed
//! out of the repository and compared, blob by blob, with the content ids
//! the snapshot recorded at backup time, and byte for byte with the source
//! file when that is still unchanged on this machine.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keepup_config::BackupPlan;
use keepup_model::{Finding, Outcome, Severity, Status};
use rand::RngExt;
use rustic_core::repofile::{Node, SnapshotFile};
use rustic_core::{
    FileType, IndexedFull, LocalDestination, LsOptions, ReadBackend, Repository, RestoreOptions,
};
use serde::Serialize;

use crate::blob::{BlobError, Cipher, Opener};
use crate::error::BackupError;
use crate::progress::{NoProgress, Progress};
use crate::snapshots::{SnapshotInfo, plan_snapshots};
use keepup_model::codes;

mod contents;

/// Which snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotRef {
    /// The plan's newest on the target.
    Latest,
    /// By id or unique id prefix (e.g. restic's 8-digit short id).
    Id(String),
}

/// Where a restore goes.
pub enum RestoreTo<'a> {
    /// The whole snapshot, under this directory (created if missing), with
    /// its absolute paths as relative ones (`/srv/shop` → `DIR/srv/shop`).
    Dir(PathBuf),
    /// Only these paths of the snapshot (absolute, as backed up; a file or
    /// a directory with everything under it), each under this directory
    /// as in [`RestoreTo::Dir`] (`/srv/shop/media` → `DIR/srv/shop/media`).
    Paths {
        /// Where they go (created if missing).
        dir: PathBuf,
        /// The paths in the snapshot.
        paths: Vec<String>,
    },
    /// One file of the snapshot (its path in the snapshot, e.g.
    /// `/shop-db/shop.sql`), written to `writer` (stdout, a pipe into
    /// `psql`...).
    File {
        /// The path in the snapshot.
        path: String,
        /// Where the content goes.
        writer: &'a mut dyn Write,
    },
}

/// What a restore did.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The snapshot restored from.
    pub snapshot: SnapshotInfo,
    /// Files restored.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
}

/// Restores `snapshot` of the plan from `target` to `to`.
pub fn restore(
    plan: &BackupPlan,
    target: &str,
    snapshot: &SnapshotRef,
    to: RestoreTo<'_>,
    progress: Arc<dyn Progress>,
) -> Result<RestoreReport, BackupError> {
    let t = crate::target(plan, target)?;
    let opened = crate::repo::open(t, progress.clone())?;
    let repo = opened
        .repo
        .to_indexed()
        .map_err(|e| BackupError::repo(target, "reading the index", &e))?;
    let snap = find_snapshot(&repo, plan, target, snapshot)?;
    let info = SnapshotInfo::from(&snap);
    match to {
        RestoreTo::Dir(dir) => {
            let root = repo
                .node_from_snapshot_and_path(&snap, "")
                .map_err(|e| BackupError::repo(target, "reading the snapshot", &e))?;
            restore_node(&repo, &*opened.guard, &root, &dir, target, &progress)?;
            Ok(RestoreReport {
                files: info.files,
                bytes: info.bytes,
                snapshot: info,
            })
        }
        RestoreTo::Paths { dir, paths } => {
            let mut report = RestoreReport {
                snapshot: info,
                files: 0,
                bytes: 0,
            };
            for path in &paths {
                let node = repo.node_from_snapshot_and_path(&snap, path).map_err(|e| {
                    BackupError::NoSnapshot {
                        target: target.to_owned(),
                        what: format!(
                            "snapshot {} has no {path}: {}",
                            report.snapshot.short_id,
                            crate::error::one_line(&e)
                        ),
                    }
                })?;
                let relative = Path::new(path.trim_start_matches('/'));
                // A directory's entries are listed relative to it; a
                // file is listed under its own name, so it goes into its
                // parent.
                let (dest, top) = if node.is_dir() {
                    (dir.join(relative), Some(dir.join(relative)))
                } else {
                    (dir.join(relative.parent().unwrap_or(Path::new(""))), None)
                };
                let (files, bytes) =
                    restore_node(&repo, &*opened.guard, &node, &dest, target, &progress)?;
                if let Some(top) = top {
                    set_top_metadata(&top, &node, target)?;
                }
                report.files += files;
                report.bytes += bytes;
            }
            Ok(report)
        }
        RestoreTo::File { path, writer } => {
            let node = repo
                .node_from_snapshot_and_path(&snap, &path)
                .map_err(|e| BackupError::NoSnapshot {
                    target: target.to_owned(),
                    what: format!(
                        "snapshot {} has no file {path}: {}",
                        info.short_id,
                        crate::error::one_line(&e)
                    ),
                })?;
            if !node.is_file() {
                return Err(BackupError::NoSnapshot {
                    target: target.to_owned(),
                    what: format!("{path} in snapshot {} is not a file", info.short_id),
                });
            }
            let mut counting = Counting {
                inner: writer,
                n: 0,
            };
            repo.dump(&node, &mut counting)
                .map_err(|e| BackupError::repo(target, "restoring", &e))?;
            counting.flush().map_err(|e| BackupError::Io {
                what: "writing the restored file".into(),
                source: e,
            })?;
            Ok(RestoreReport {
                snapshot: info,
                files: 1,
                bytes: counting.n,
            })
        }
    }
}

/// Restores everything `node` lists (a directory's entries, or the file
/// itself) under `dir`: the contents by our bounded restorer, then the
/// rest by rustic_core's. Returns the files and bytes of contents.
fn restore_node<S: IndexedFull>(
    repo: &Repository<S>,
    backend: &dyn ReadBackend,
    node: &Node,
    dir: &Path,
    target: &str,
    progress: &Arc<dyn Progress>,
) -> Result<(u64, u64), BackupError> {
    std::fs::create_dir_all(dir).map_err(|e| BackupError::Io {
        what: format!("creating {}", dir.display()),
        source: e,
    })?;
    // The contents first, by our bounded restorer...
    let restored = contents::restore_contents(repo, backend, node, dir, target, &**progress)?;
    // ...then rustic_core's restore finds them in place (size and time
    // match) and sets up the rest: links, special files, owners,
    // permissions, times.
    let ls = repo
        .ls(node, &LsOptions::default())
        .map_err(|e| BackupError::repo(target, "reading the snapshot", &e))?;
    let dest = LocalDestination::new(&dir.to_string_lossy(), true, false)
        .map_err(|e| BackupError::repo(target, "preparing the destination", &e))?;
    let opts = RestoreOptions::default();
    let prepared = repo
        .prepare_restore(&opts, ls.clone(), &dest, false)
        .map_err(|e| BackupError::repo(target, "planning the restore", &e))?;
    if prepared.restore_size > 0 {
        // Files whose time could not be set (no recorded time, a file
        // system without the precision): rustic rewrites them.
        tracing::debug!(
            target = target,
            bytes = prepared.restore_size,
            "contents left to rustic_core's restorer"
        );
    }
    // rustic_core's restorer unwraps read and decrypt failures in its
    // worker threads: the panic is caught here and becomes this target's
    // error.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        repo.restore(prepared, &opts, ls, &dest)
    }));
    match result {
        Ok(result) => result.map_err(|e| BackupError::repo(target, "restoring", &e))?,
        Err(panic) => {
            return Err(BackupError::Repository {
                target: target.to_owned(),
                op: "restoring",
                reason: format!(
                    "data could not be read or decrypted ({}); the files restored so far are incomplete. \
                     Run `keepup backup check` on this target and restore from another one",
                    panic_text(panic.as_ref())
                ),
            });
        }
    }
    Ok(restored)
}

/// Gives a restored directory the permissions, owner (when we are root)
/// and time its node recorded: rustic_core sets those of the entries it
/// lists, and a directory's listing does not hold the directory itself.
fn set_top_metadata(dir: &Path, node: &Node, target: &str) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |what: &str, e: std::io::Error| BackupError::Io {
        what: format!("{what} of {} (from {target})", dir.display()),
        source: e,
    };
    if let Some(mode) = node.meta.mode {
        // restic records Go's file mode: the permission bits are the
        // same as Unix's.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode & 0o777))
            .map_err(|e| io("setting the permissions", e))?;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(dir, node.meta.uid, node.meta.gid)
            .map_err(|e| io("setting the owner", e))?;
    }
    if let Some(mtime) = node.meta.mtime {
        let time = std::time::SystemTime::from(mtime);
        File::open(dir)
            .and_then(|f| f.set_modified(time))
            .map_err(|e| io("setting the time", e))?;
    }
    Ok(())
}

struct Counting<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The snapshot `r` of the plan.
fn find_snapshot<S: rustic_core::Open>(
    repo: &Repository<S>,
    plan: &BackupPlan,
    target: &str,
    r: &SnapshotRef,
) -> Result<SnapshotFile, BackupError> {
    let mut snaps = plan_snapshots(repo, plan, target)?;
    match r {
        SnapshotRef::Latest => snaps.pop().ok_or_else(|| BackupError::NoSnapshot {
            target: target.to_owned(),
            what: format!("plan {} has no snapshot here", plan.id),
        }),
        SnapshotRef::Id(prefix) => {
            let prefix = prefix.to_ascii_lowercase();
            let mut matching = snaps
                .into_iter()
                .filter(|s| s.id.to_hex().starts_with(prefix.as_str()));
            match (matching.next(), matching.next()) {
                (Some(s), None) if !prefix.is_empty() => Ok(s),
                (Some(_), Some(_)) => Err(BackupError::NoSnapshot {
                    target: target.to_owned(),
                    what: format!("snapshot id {prefix:?} is ambiguous"),
                }),
                _ => Err(BackupError::NoSnapshot {
                    target: target.to_owned(),
                    what: format!("plan {} has no snapshot {prefix:?}", plan.id),
                }),
            }
        }
    }
}

/// What a restore test found.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreTestReport {
    /// The plan.
    pub plan: String,
    /// The target.
    pub target: String,
    /// The snapshot tested.
    pub snapshot: SnapshotInfo,
    /// Files restored and compared.
    pub files_checked: u64,
    /// Their bytes.
    pub bytes_checked: u64,
    /// Of them, compared byte for byte with the unchanged source too.
    pub compared_with_source: u64,
    /// Files whose restored content differs.
    pub mismatches: Vec<String>,
    /// Files that could not be restored.
    pub errors: Vec<String>,
}

/// Restores up to `sample` files (chosen at random) of the plan's latest
/// snapshot on `target` and compares each, as it streams out of the
/// repository, with the snapshot's recorded content ids and size, and with
/// the source file when that is unchanged. Nothing is staged on disk, and
/// the memory is one blob at a time.
pub fn restore_test_files(
    plan: &BackupPlan,
    target: &str,
    sample: u32,
) -> Result<RestoreTestReport, BackupError> {
    let t = crate::target(plan, target)?;
    let opened = crate::repo::open(t, Arc::new(NoProgress))?;
    let repo = opened
        .repo
        .to_indexed()
        .map_err(|e| BackupError::repo(target, "reading the index", &e))?;
    let snap = find_snapshot(&repo, plan, target, &SnapshotRef::Latest)?;
    let root = repo
        .node_from_snapshot_and_path(&snap, "")
        .map_err(|e| BackupError::repo(target, "reading the snapshot", &e))?;
    // Reservoir sampling: one pass, memory bounded by the sample size.
    let mut rng = rand::rng();
    let mut chosen: Vec<(PathBuf, Node)> = Vec::new();
    let mut seen = 0u64;
    let mut errors = Vec::new();
    for item in repo
        .ls(&root, &LsOptions::default())
        .map_err(|e| BackupError::repo(target, "reading the snapshot", &e))?
    {
        let (path, node) = match item {
            Ok(x) => x,
            Err(e) => {
                errors.push(format!(
                    "reading the snapshot: {}",
                    crate::error::one_line(&e)
                ));
                continue;
            }
        };
        if !node.is_file() || sample == 0 {
            continue;
        }
        seen += 1;
        if chosen.len() < sample as usize {
            chosen.push((path, node));
        } else {
            let j = rng.random_range(0..seen);
            if j < u64::from(sample) {
                chosen[j as usize] = (path, node);
            }
        }
    }
    let mut report = RestoreTestReport {
        plan: plan.id.clone(),
        target: target.to_owned(),
        snapshot: SnapshotInfo::from(&snap),
        files_checked: 0,
        bytes_checked: 0,
        compared_with_source: 0,
        mismatches: Vec::new(),
        errors,
    };
    let cipher = Cipher::new(&repo.key());
    let mut opener = Opener::new(&cipher).map_err(|e| BackupError::Repository {
        target: target.to_owned(),
        op: "restore test",
        reason: e.to_string(),
    })?;
    let mut source_buf = Vec::new();
    for (path, node) in &chosen {
        // `ls` gives paths relative to the root: the snapshot's are absolute.
        let shown = Path::new("/").join(path);
        match test_one(
            &repo,
            &*opened.guard,
            &mut opener,
            node,
            &shown,
            &mut source_buf,
        ) {
            Ok(Checked { bytes, source }) => {
                report.files_checked += 1;
                report.bytes_checked += bytes;
                match source {
                    SourceCompare::Same => report.compared_with_source += 1,
                    SourceCompare::Differs => report.mismatches.push(format!(
                        "{}: the restored file differs from the unchanged source",
                        shown.display()
                    )),
                    SourceCompare::NotComparable => {}
                }
            }
            Err(Failure::Mismatch(why)) => report
                .mismatches
                .push(format!("{}: {why}", shown.display())),
            Err(Failure::Error(why)) => report.errors.push(format!("{}: {why}", shown.display())),
        }
    }
    Ok(report)
}

struct Checked {
    bytes: u64,
    source: SourceCompare,
}

enum SourceCompare {
    Same,
    Differs,
    NotComparable,
}

enum Failure {
    Mismatch(String),
    Error(String),
}

/// Streams one file out of the repository, blob by blob: each blob is
/// checked against its recorded id (by [`Opener`]) and compared with the
/// same bytes of the source while that is unchanged since the backup.
fn test_one<S: IndexedFull>(
    repo: &Repository<S>,
    backend: &dyn ReadBackend,
    opener: &mut Opener<'_>,
    node: &Node,
    original: &Path,
    source_buf: &mut Vec<u8>,
) -> Result<Checked, Failure> {
    let mut source = unchanged_source(node, original);
    let mut same = source.is_some();
    let mut len = 0u64;
    for (k, blob) in node.content.iter().flatten().enumerate() {
        let entry = repo.get_index_entry(blob).map_err(|e| {
            Failure::Error(format!(
                "content block {k} is not in the index: {}",
                crate::error::one_line(&e)
            ))
        })?;
        let location = entry.location;
        let sealed = backend
            .read_partial(
                FileType::Pack,
                &entry.pack,
                false,
                location.offset,
                location.length,
            )
            .map_err(|e| {
                Failure::Error(format!(
                    "restore failed: content block {k}: {}",
                    crate::error::one_line(&e)
                ))
            })?;
        let mut sealed = sealed
            .try_into_mut()
            .unwrap_or_else(|shared| bytes::BytesMut::from(&shared[..]));
        let plain = opener
            .open(&mut sealed, location.uncompressed_length, blob)
            .map_err(|e| match e {
                BlobError::Hash => Failure::Mismatch(format!(
                    "content block {k} does not match its recorded hash"
                )),
                other => Failure::Error(format!("restore failed: content block {k}: {other}")),
            })?;
        len += plain.len() as u64;
        if let Some(src) = source.as_mut().filter(|_| same) {
            source_buf.resize(plain.len(), 0);
            same = src.read_exact(source_buf).is_ok() && source_buf[..] == plain[..];
        }
    }
    if len != node.meta.size {
        return Err(Failure::Mismatch(format!(
            "restored {len} bytes, the snapshot records {}",
            node.meta.size
        )));
    }
    let source = match source {
        None => SourceCompare::NotComparable,
        Some(mut src) => {
            let mut rest = [0u8; 1];
            if same && matches!(src.read(&mut rest), Ok(0)) {
                SourceCompare::Same
            } else {
                SourceCompare::Differs
            }
        }
    };
    Ok(Checked { bytes: len, source })
}

/// The source file, if it still has the size and modification time
/// recorded (i.e. it did not change since the backup).
fn unchanged_source(node: &Node, original: &Path) -> Option<BufReader<File>> {
    let meta = std::fs::symlink_metadata(original).ok()?;
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok());
    if !meta.is_file() || meta.len() != node.meta.size || mtime != node.meta.mtime {
        return None;
    }
    File::open(original)
        .ok()
        .map(|f| BufReader::with_capacity(1 << 16, f))
}

impl RestoreTestReport {
    /// Down on any mismatch or failed restore; Up otherwise.
    pub fn outcome(&self) -> Outcome {
        let mut o = if self.mismatches.is_empty() && self.errors.is_empty() {
            Outcome::new(
                Status::Up,
                format!(
                    "backup {} on {}: restore test passed",
                    self.plan, self.target
                ),
            )
        } else {
            Outcome::new(
                Status::Down,
                format!(
                    "backup {} on {}: restore test failed",
                    self.plan, self.target
                ),
            )
        };
        for m in self.mismatches.iter().take(20) {
            o.push(Finding::new(
                codes::BACKUP_RESTORE_MISMATCH,
                Severity::Critical,
                m.clone(),
            ));
        }
        for e in self.errors.iter().take(20) {
            o.push(Finding::new(
                codes::BACKUP_RESTORE_FAILED,
                Severity::Critical,
                e.clone(),
            ));
        }
        o.evidence.insert("snapshot", self.snapshot.id.clone());
        o.evidence.insert("files_checked", self.files_checked);
        o.evidence.insert("bytes_checked", self.bytes_checked);
        o.evidence
            .insert("compared_with_source", self.compared_with_source);
        o
    }
}

/// The message of a panic (caught, or seen by a panic hook), on one line
/// and bounded; rustic's errors are reduced to their guidance sentence.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown failure");
    // rustic's errors arrive as their Debug form; its guidance field is
    // the sentence meant for people.
    let text = text
        .split_once("guidance: \"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map_or(text, |(guidance, _)| guidance);
    let line = text.lines().next().unwrap_or_default();
    line.chars().take(300).collect()
}
