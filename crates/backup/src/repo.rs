//! Opening a plan's target as a rustic_core repository.
//!
//! Every repository is opened through a [`Guard`], a thin layer over the
//! storage backend that
//! - holds back snapshot files while a backup runs, so that a snapshot is
//!   only recorded once every source (commands, dumps) is known to have
//!   succeeded — a dump that fails half way never becomes a "good" backup,
//!   even if keepup is killed right after;
//! - removes what a failed write left behind (a pack cut short by a full
//!   disk), so that the repository stays consistent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use keepup_config::backup::BackupTarget;
use rustic_core::{
    BytesList, ConfigOptions, Credentials, FileType, Id, KeyOptions, OpenStatus, ReadBackend,
    Repository, RepositoryBackends, RepositoryOptions, RusticResult, WriteBackend,
};

use crate::backend::{Location, TargetOptions, open_backend};
use crate::error::{BackupError, one_line};
use crate::progress::{Bars, Progress};

/// The storage of a target: a local directory, an SFTP server or a REST
/// server (see [`crate::backend`]).
fn open_target(target: &BackupTarget) -> Result<Arc<dyn WriteBackend>, BackupError> {
    let unavailable = |reason: String| BackupError::Unavailable {
        target: target.id.clone(),
        reason,
    };
    let location = &target.repository;
    if let Location::Local { path } = location {
        // A backup disk that is not mounted must fail, not fill an empty
        // mount point on the root filesystem.
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(unavailable(format!(
                    "{} is not a directory",
                    path.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BackupError::DiskMissing {
                    target: target.id.clone(),
                    path: path.clone(),
                });
            }
            Err(e) => return Err(unavailable(format!("{}: {e}", path.display()))),
        }
    }
    let options = TargetOptions {
        access: target.access.clone(),
        ..TargetOptions::default()
    };
    open_backend(location, &options).map_err(|e| unavailable(e.to_string()))
}

/// A repository opened for a target, with its guard.
pub(crate) struct Opened {
    pub(crate) repo: Repository<OpenStatus>,
    pub(crate) guard: Arc<Guard>,
}

/// Opens the target's repository with its password.
pub(crate) fn open(
    target: &BackupTarget,
    progress: Arc<dyn Progress>,
) -> Result<Opened, BackupError> {
    let (repo, guard) = unopened(target, progress)?;
    match repo.config_id() {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Err(BackupError::NotInitialised {
                target: target.id.clone(),
                location: target.repository.to_string(),
            });
        }
        Err(e) => {
            return Err(BackupError::Unavailable {
                target: target.id.clone(),
                reason: one_line(&e),
            });
        }
    }
    let repo = repo
        .open(&Credentials::password(target.password.expose()))
        .map_err(|e| {
            if e.is_incorrect_password() {
                BackupError::WrongPassword {
                    target: target.id.clone(),
                }
            } else {
                BackupError::repo(&target.id, "opening the repository", &e)
            }
        })?;
    Ok(Opened { repo, guard })
}

/// Creates a new repository at the target (its directory must exist for a
/// local target). Fails if there already is one. `verify_uploads: false`
/// is stored in its config (rustic's `extra_verify`, which restic ignores),
/// so that blobs are no longer decrypted and decompressed again before they
/// are stored.
pub(crate) fn init(target: &BackupTarget, verify_uploads: bool) -> Result<(), BackupError> {
    let (repo, guard) = unopened(target, Arc::new(crate::progress::NoProgress))?;
    if let Ok(Some(_)) = repo.config_id() {
        return Err(BackupError::Repository {
            target: target.id.clone(),
            op: "initialising",
            reason: format!("there already is a repository at {}", target.repository),
        });
    }
    guard
        .create()
        .map_err(|e| BackupError::repo(&target.id, "creating the repository layout", &e))?;
    let repo = repo
        .init(
            &Credentials::password(target.password.expose()),
            &KeyOptions::default(),
            // Left unset (rustic's default: verify) unless turned off.
            &ConfigOptions::default().set_extra_verify((!verify_uploads).then_some(false)),
        )
        .map_err(|e| BackupError::repo(&target.id, "initialising", &e))?;
    // rustic_core's key costs 128 MiB to open; it is replaced by one of
    // restic's size (see blob::KDF_LOG_N). Written before the old one is
    // removed, so that the repository always has a key.
    let err =
        |e: Box<rustic_core::RusticError>| BackupError::repo(&target.id, "writing the key", &e);
    let rustic_keys = guard.list(FileType::Key).map_err(err)?;
    let file = crate::blob::key_file(&repo.key(), target.password.expose()).map_err(err)?;
    guard
        .write_through(
            FileType::Key,
            &crate::blob::id_of(&file),
            false,
            file.into(),
        )
        .map_err(err)?;
    for id in rustic_keys {
        guard.remove(FileType::Key, &id, false).map_err(err)?;
    }
    Ok(())
}

fn unopened(
    target: &BackupTarget,
    progress: Arc<dyn Progress>,
) -> Result<(Repository<()>, Arc<Guard>), BackupError> {
    let guard = Arc::new(Guard::new(open_target(target)?));
    let backends = RepositoryBackends::new(guard.clone(), None);
    // No local cache: keepup runs unattended and the snapshot files it
    // holds back must not linger in a cache either.
    let opts = RepositoryOptions::default().no_cache(true);
    let repo =
        Repository::new_with_progress(&opts, &backends, Bars::new(progress, target.id.clone()))
            .map_err(|e| BackupError::Unavailable {
                target: target.id.clone(),
                reason: one_line(&e),
            })?;
    Ok((repo, guard))
}

/// The storage backend with snapshot writes held back on demand.
pub(crate) struct Guard {
    inner: Arc<dyn WriteBackend>,
    hold: AtomicBool,
    held: Mutex<Vec<(Id, BytesList)>>,
}

impl Guard {
    fn new(inner: Arc<dyn WriteBackend>) -> Self {
        Self {
            inner,
            hold: AtomicBool::new(false),
            held: Mutex::new(Vec::new()),
        }
    }

    /// From now on, snapshot files are kept in memory instead of written.
    pub(crate) fn hold_snapshots(&self) {
        self.hold.store(true, Ordering::SeqCst);
    }

    /// The snapshot files held back so far (taken out).
    pub(crate) fn take_held(&self) -> Vec<(Id, BytesList)> {
        std::mem::take(&mut *self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Writes a file straight to the storage (held snapshots, packs we
    /// build ourselves).
    pub(crate) fn write_through(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let result = self.inner.write_bytes(tpe, id, cacheable, content);
        if result.is_err() && tpe != FileType::Config && tpe != FileType::Key {
            // A file cut short (full disk, lost connection) must not stay:
            // a truncated index or snapshot would break every later read.
            let _ = self.inner.remove(tpe, id, cacheable);
        }
        result
    }
}

impl ReadBackend for Guard {
    fn location(&self) -> String {
        self.inner.location()
    }
    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.inner.list_with_size(tpe)
    }
    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.inner.list(tpe)
    }
    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        self.inner.read_full(tpe, id)
    }
    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        self.inner.read_partial(tpe, id, cacheable, offset, length)
    }
    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.warmup_path(tpe, id)
    }
    fn needs_warm_up(&self) -> bool {
        self.inner.needs_warm_up()
    }
    fn warm_up(&self, tpe: FileType, id: &Id) -> RusticResult<()> {
        self.inner.warm_up(tpe, id)
    }
}

impl WriteBackend for Guard {
    fn create(&self) -> RusticResult<()> {
        self.inner.create()
    }
    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        if tpe == FileType::Snapshot && self.hold.load(Ordering::SeqCst) {
            self.held
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((*id, content));
            return Ok(());
        }
        self.write_through(tpe, id, cacheable, content)
    }
    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}
