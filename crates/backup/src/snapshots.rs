//! Listing a plan's snapshots on a target.

use std::sync::Arc;

use keepup_config::BackupPlan;
use rustic_core::repofile::SnapshotFile;
use rustic_core::{OpenStatus, Repository};
use serde::Serialize;

use crate::error::BackupError;
use crate::plan::plan_tag;
use crate::progress::NoProgress;
use crate::repo;

/// A snapshot as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SnapshotInfo {
    /// Full id (hex).
    pub id: String,
    /// The first 8 hex digits, as restic shows them.
    pub short_id: String,
    /// When it was taken (RFC 3339 with offset).
    pub time: String,
    /// The same as milliseconds since the epoch.
    pub time_ms: i64,
    /// The host recorded.
    pub hostname: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its paths.
    pub paths: Vec<String>,
    /// Files in it.
    pub files: u64,
    /// Bytes in it.
    pub bytes: u64,
}

impl From<&SnapshotFile> for SnapshotInfo {
    fn from(s: &SnapshotFile) -> Self {
        let id = s.id.to_hex().to_string();
        Self {
            short_id: id.chars().take(8).collect(),
            id,
            time: rustic_core::repofile::RusticTime::to_string(&s.time),
            time_ms: s.time.timestamp().as_millisecond(),
            hostname: s.hostname.clone(),
            tags: s.tags.iter().cloned().collect(),
            paths: s.paths.iter().cloned().collect(),
            files: s.summary.as_ref().map_or(0, |x| x.total_files_processed),
            bytes: s.summary.as_ref().map_or(0, |x| x.total_bytes_processed),
        }
    }
}

/// The plan's snapshots on `target`, oldest first.
pub fn list(plan: &BackupPlan, target: &str) -> Result<Vec<SnapshotInfo>, BackupError> {
    let t = crate::target(plan, target)?;
    let opened = repo::open(t, Arc::new(NoProgress))?;
    let snaps = plan_snapshots(&opened.repo, plan, target)?;
    Ok(snaps.iter().map(SnapshotInfo::from).collect())
}

/// The plan's snapshots in an open repository, oldest first.
pub(crate) fn plan_snapshots<S: rustic_core::Open>(
    repo: &Repository<S>,
    plan: &BackupPlan,
    target: &str,
) -> Result<Vec<SnapshotFile>, BackupError> {
    let tag = plan_tag(plan);
    let mut snaps = repo
        .get_matching_snapshots(|s| s.tags.contains(&tag))
        .map_err(|e| BackupError::repo(target, "listing snapshots", &e))?;
    snaps.sort_by(|a, b| a.time.cmp(&b.time));
    Ok(snaps)
}

/// Opened, read-only use of a target (list, freshness, check).
pub(crate) fn open_plain(
    plan: &BackupPlan,
    target: &str,
) -> Result<Repository<OpenStatus>, BackupError> {
    let t = crate::target(plan, target)?;
    Ok(repo::open(t, Arc::new(NoProgress))?.repo)
}
