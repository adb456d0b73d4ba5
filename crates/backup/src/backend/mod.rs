//! Repository storage: where the restic-format files of a target live.
//!
//! A target is a [`Location`] in restic's syntax (a local directory,
//! `sftp:user@host:/path`, `rest:https://host/path/`,
//! `s3:https://host/bucket/prefix`) plus [`TargetOptions`]: the target's
//! [`TargetAccess`] from the configuration (SSH identity and known hosts,
//! a CA file, the REST password, S3 credentials and region) and the
//! timeouts. [`open_backend`] turns them into the
//! [`rustic_core::WriteBackend`] that `rustic_core::Repository` stores its
//! files through:
//!
//! - local: [`rustic_backend::LocalBackend`], behind a check that the
//!   directory exists (an unmounted disk is an error, not a fresh empty
//!   directory on the root filesystem);
//! - REST: restic's REST protocol v2 over hyper, TLS by rustls (aws-lc-rs);
//! - S3: S3-compatible storage in restic's layout, signed with AWS
//!   Signature Version 4, over the same HTTP client as REST;
//! - SFTP: the system's `ssh` running the `sftp` subsystem, as restic does,
//!   spoken to with `russh-sftp`.
//!
//! The backends are synchronous (rustic_core calls them from rayon
//! threads); the network ones own a small tokio runtime and block on it, so
//! they must not be called from inside an async task (callers use
//! `spawn_blocking`). Nothing is connected by [`open_backend`]: the first
//! operation connects, and every operation is bounded by the timeouts.
//!
//! Errors reaching rustic_core are [`rustic_core::RusticError`]s whose text
//! names the target (never a password) and what failed.

// The types in it are `pub` only to be nameable in the public aliases
// `RestBackend` and `S3Backend`; the module is private.
mod http;
mod local;
mod rest;
mod s3;
mod sftp;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use keepup_config::Secret;
// The location is parsed, and the access settings checked, by the
// configuration at load.
pub use keepup_config::backup::{Location, LocationError, TargetAccess};
use rustic_core::{ErrorKind, RusticError, WriteBackend};

pub use local::LocalTarget;
pub use rest::RestBackend;
pub use s3::S3Backend;
pub use sftp::{SftpBackend, ssh_options};

/// The parsers of untrusted server answers, for the fuzz targets.
#[doc(hidden)]
pub mod fuzzing {
    /// S3: a ListObjectsV2 page and an error document.
    pub use super::s3::xml::{Page as S3Page, error as s3_error, list_page as s3_list_page};
}

/// How a backend reaches its storage: the target's configured access
/// (SSH, TLS trust, credentials: [`TargetAccess`]) and the transport's
/// limits, which are not configurable. `Default` gives no access settings
/// and the default timeouts.
#[derive(Debug, Clone)]
pub struct TargetOptions {
    /// From the target's configuration.
    pub access: TargetAccess,
    /// `ssh -p PORT` when the location does not give one.
    pub ssh_port: Option<u16>,
    /// Time allowed to establish a connection (TCP + TLS, or the ssh login
    /// and SFTP handshake).
    pub connect_timeout: Duration,
    /// Time allowed for one request without the body transfer; a body gets
    /// on top of it one second per [`TargetOptions::min_throughput`] bytes.
    pub io_timeout: Duration,
    /// Bytes per second below which a transfer is considered hung.
    pub min_throughput: u64,
    /// Attempts for one operation on transient failures (connection
    /// errors, timeouts, HTTP 5xx); at least 1.
    pub attempts: u32,
}

impl Default for TargetOptions {
    fn default() -> Self {
        Self {
            access: TargetAccess::default(),
            ssh_port: None,
            connect_timeout: Duration::from_secs(15),
            io_timeout: Duration::from_secs(60),
            min_throughput: 64 * 1024,
            attempts: 4,
        }
    }
}

impl TargetOptions {
    /// The time allowed for a request moving `bytes` bytes.
    pub(crate) fn request_timeout(&self, bytes: u64) -> Duration {
        let per_byte = bytes / self.min_throughput.max(1);
        self.io_timeout + Duration::from_secs(per_byte)
    }

    /// The pause before attempt `n` (1-based; attempt 1 has none).
    pub(crate) fn backoff(attempt: u32) -> Duration {
        Duration::from_millis(250 * (1u64 << attempt.saturating_sub(1).min(5)))
    }
}

/// Why a backend could not be set up (before any network traffic).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The location and options contradict each other.
    #[error("{target}: {reason}")]
    Options {
        /// The location, as restic writes it.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// The CA file of an https target cannot be used.
    #[error("{target}: CA file {path}: {reason}")]
    CaFile {
        /// The location.
        target: String,
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The backend's runtime could not be started.
    #[error("{target}: cannot start the I/O runtime: {source}")]
    Runtime {
        /// The location.
        target: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// The storage backend for `loc`. Nothing is contacted yet.
///
/// To create a new repository call [`WriteBackend::create`] on the result
/// first (it makes the directories, or the bucket of an S3 target; a local
/// target refuses to work in a directory that does not exist), then
/// `rustic_core::Repository::init`.
pub fn open_backend(
    loc: &Location,
    opts: &TargetOptions,
) -> Result<Arc<dyn WriteBackend>, BackendError> {
    Ok(match loc {
        Location::Local { path } => Arc::new(LocalTarget::new(path)?),
        Location::Rest { .. } => Arc::new(RestBackend::new(loc, opts)?),
        Location::Sftp { .. } => Arc::new(SftpBackend::new(loc, opts)?),
        Location::S3 { .. } => Arc::new(S3Backend::new(loc, opts)?),
    })
}

/// The [`rustic_core::RepositoryBackends`] for `loc` (no hot/cold split).
pub fn repository_backends(
    loc: &Location,
    opts: &TargetOptions,
) -> Result<rustic_core::RepositoryBackends, BackendError> {
    Ok(rustic_core::RepositoryBackends::new(
        open_backend(loc, opts)?,
        None,
    ))
}

/// Runs `fut` on a backend's own runtime and waits for it on this thread.
/// The future runs on the runtime's workers, never on the caller's thread,
/// so this works from any thread (rayon's, a `spawn_blocking` one, even a
/// tokio worker, which it then blocks) without tokio's "runtime inside a
/// runtime" panic.
pub(crate) fn run_blocking<T: Send + 'static>(
    rt: Option<&tokio::runtime::Runtime>,
    target: &str,
    fut: impl std::future::Future<Output = rustic_core::RusticResult<T>> + Send + 'static,
) -> rustic_core::RusticResult<T> {
    let Some(rt) = rt else {
        return Err(rustic_error(format!("{target}: backend shut down")));
    };
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    rt.spawn(async move {
        let _ = tx.send(fut.await);
    });
    rx.recv().unwrap_or_else(|_| {
        Err(rustic_error(format!(
            "{target}: backend task ended unexpectedly"
        )))
    })
}

/// A backend failure for rustic_core: `what` (one line: the target, the
/// operation, the cause) as the message. Braces are escaped because
/// rustic_core fills `{name}` placeholders from its context.
pub(crate) fn rustic_error(what: String) -> Box<RusticError> {
    let what = what.replace('{', "(").replace('}', ")");
    RusticError::new(ErrorKind::Backend, what)
}

/// At most `max` bytes of `s` (on a char boundary), for peer-supplied text
/// in messages.
pub(crate) fn bounded(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}
