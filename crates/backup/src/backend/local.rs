//! A repository in a local directory: rustic_backend's `LocalBackend`, plus
//! one rule: the directory must exist (only [`WriteBackend::create`] makes
//! it). A backup disk that is not mounted then fails loudly instead of
//! filling an empty mount point on the root filesystem.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use rustic_backend::LocalBackend;
use rustic_core::{BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend};

use super::{BackendError, rustic_error};

/// A local repository directory.
#[derive(Debug, Clone)]
pub struct LocalTarget {
    path: PathBuf,
    inner: LocalBackend,
}

impl LocalTarget {
    /// The repository in `path` (not touched yet).
    pub fn new(path: &Path) -> Result<Self, BackendError> {
        let inner = LocalBackend::new(path.to_string_lossy(), Vec::new()).map_err(|e| {
            BackendError::Options {
                target: format!("local:{}", path.display()),
                reason: e.to_string(),
            }
        })?;
        Ok(Self {
            path: path.to_owned(),
            inner,
        })
    }

    fn ensure_dir(&self) -> RusticResult<()> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(rustic_error(format!(
                "local:{}: not a directory",
                self.path.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(rustic_error(format!(
                "local:{}: the repository directory does not exist (is the backup disk mounted? a new repository must be initialised first)",
                self.path.display()
            ))),
            Err(e) => Err(rustic_error(format!(
                "local:{}: cannot access the repository directory: {e}",
                self.path.display()
            ))),
        }
    }
}

impl ReadBackend for LocalTarget {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.ensure_dir()?;
        self.inner.list_with_size(tpe)
    }

    fn list(&self, tpe: FileType) -> RusticResult<Vec<Id>> {
        self.ensure_dir()?;
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
}

impl WriteBackend for LocalTarget {
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
        self.ensure_dir()?;
        self.inner.write_bytes(tpe, id, cacheable, content)
    }

    fn remove(&self, tpe: FileType, id: &Id, cacheable: bool) -> RusticResult<()> {
        self.inner.remove(tpe, id, cacheable)
    }
}
