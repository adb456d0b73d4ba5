//! What can go wrong with a backup plan, in words an operator can act on.
//!
//! Messages name the plan's target and what failed; they never contain a
//! repository or database password (rustic_core's own messages are reduced
//! to their one-line summary).

use std::path::PathBuf;

/// A failed backup operation.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The plan has no target with this id.
    #[error("plan {plan:?} has no target {target:?}")]
    NoSuchTarget {
        /// The plan.
        plan: String,
        /// The id asked for.
        target: String,
    },
    /// The target cannot be reached or used at all (missing directory,
    /// unsupported location, refused connection).
    #[error("target {target:?}: {reason}")]
    Unavailable {
        /// The target id.
        target: String,
        /// Why.
        reason: String,
    },
    /// A local target's directory is missing (a backup disk that is not
    /// mounted). Not retried: a disk does not come back within a run.
    #[error(
        "target {target:?}: the repository directory {} does not exist (is the disk mounted?)",
        path.display()
    )]
    DiskMissing {
        /// The target id.
        target: String,
        /// The directory.
        path: PathBuf,
    },
    /// There is no repository at the target yet.
    #[error(
        "target {target:?}: no restic repository at {location} (initialise it first: `keepup backup init`)"
    )]
    NotInitialised {
        /// The target id.
        target: String,
        /// Where we looked.
        location: String,
    },
    /// The repository password does not open any key of the repository.
    #[error(
        "target {target:?}: wrong repository password (no key of the repository opens with it)"
    )]
    WrongPassword {
        /// The target id.
        target: String,
    },
    /// A path of a `paths` source does not exist.
    #[error("source path {} does not exist (moved, unmounted or deleted?)", path.display())]
    SourceMissing {
        /// The path.
        path: PathBuf,
    },
    /// A path of a `paths` source cannot be read.
    #[error("source path {}: {reason}", path.display())]
    SourceUnreadable {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A command (or database dump) failed; its snapshot was not recorded.
    #[error("{filename}: the command {detail}; no snapshot was recorded")]
    Command {
        /// The stored file name of the source.
        filename: String,
        /// Exit status or signal, and the tail of its stderr.
        detail: String,
    },
    /// The source kind cannot run in this build.
    #[error("{filename}: {reason}")]
    Unsupported {
        /// The stored file name of the source.
        filename: String,
        /// Why.
        reason: String,
    },
    /// A repository operation failed.
    #[error("target {target:?}: {op} failed: {reason}")]
    Repository {
        /// The target id.
        target: String,
        /// What was being done.
        op: &'static str,
        /// rustic_core's one-line reason.
        reason: String,
    },
    /// The plan has no snapshot on the target (or not the one asked for).
    #[error("target {target:?}: {what}")]
    NoSnapshot {
        /// The target id.
        target: String,
        /// Which snapshot was missing.
        what: String,
    },
    /// The plan does not configure this.
    #[error("plan {plan:?} has no {what} configured")]
    NotConfigured {
        /// The plan.
        plan: String,
        /// What is missing (e.g. "retention").
        what: &'static str,
    },
    /// A local file operation failed (restore destination, temp dirs).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl BackupError {
    /// Whether trying again later can help (the storage hiccuped), as
    /// opposed to a mistake that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BackupError::Unavailable { .. } | BackupError::Repository { .. }
        )
    }

    pub(crate) fn repo(target: &str, op: &'static str, err: &rustic_core::RusticError) -> Self {
        BackupError::Repository {
            target: target.to_owned(),
            op,
            reason: one_line(err),
        }
    }
}

/// rustic_core's error as one line: its message with context filled in,
/// and the underlying cause, without the boilerplate.
pub(crate) fn one_line(err: &rustic_core::RusticError) -> String {
    let log = err.display_log();
    let log = log.strip_prefix("Error: ").unwrap_or(&log);
    // "(kind: related to ..., code: ...)" says nothing to an operator.
    let text = match (log.find(" (kind: related to"), log.find("): caused by: ")) {
        (Some(a), Some(b)) if b > a => format!("{}: {}", &log[..a], &log[b + 14..]),
        (Some(a), None) => log[..a].to_owned(),
        _ => log.to_owned(),
    };
    let text = text.replace('\n', " ");
    if text.len() > 600 {
        let mut end = 600;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    } else {
        text
    }
}
