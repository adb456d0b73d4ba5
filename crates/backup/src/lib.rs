//! Backups that are proven to restore.
//!
//! A backup plan (from `[[backup]]` in the configuration) copies sources
//! (paths, database dumps streamed from `pg_dump`/`mysqldump`, any
//! command's output; children start with a clean environment) into two or more restic-format repositories through
//! `rustic_core`, applies retention, verifies the repositories by reading a
//! share of their data, and restore-tests the latest snapshot. Every run,
//! check and restore test ends in an [`keepup_model::Outcome`], so a failed
//! or stale backup raises an incident like any other check.
//!
//! The repository format is restic's: the standalone `restic` tool lists,
//! checks and restores what keepup wrote, with or without keepup.
//!
//! `rustic_core` is synchronous; callers on an async runtime run this
//! crate's functions with `spawn_blocking` or on a thread of their own.
//!
//! Public entry points, all synchronous:
//! - [`init`]: create the repository of a target;
//! - [`run_plan`] / [`run_plan_with`]: back up, one snapshot per target;
//! - [`list`]: a plan's snapshots on a target;
//! - [`forget_and_prune`]: apply the retention rules;
//! - [`check`]: verify a repository, reading a share of its data;
//! - [`restore`]: restore a snapshot to a directory, or one file to a writer;
//! - [`restore_test_files`]: restore a sample and compare it;
//! - [`freshness`]: the age of the last good snapshot against the RPO.

pub mod backend;
mod blob;
/// Child processes (empty environment plus an allow-list, own process
/// group, deadline) come from keepup-process, shared with probe and agent.
pub use keepup_process as child;
pub mod dbrestore;
pub mod dbtest;
mod dump;
pub mod error;
pub mod freshness;
pub mod plan;
pub mod progress;
mod repo;
pub mod restore;
pub mod retention;
pub mod snapshots;
mod source;
mod treefix;
pub mod verify;

pub use error::BackupError;
pub use freshness::{Freshness, freshness};
pub use plan::{PlanReport, RunOptions, TargetReport, plan_tag, run_plan, run_plan_with};
pub use progress::{NoProgress, Progress};
pub use restore::{
    RestoreReport, RestoreTestReport, RestoreTo, SnapshotRef, restore, restore_test_files,
};
pub use retention::{ForgetReport, forget_and_prune};
pub use snapshots::{SnapshotInfo, list};
pub use verify::{CheckReport, check};

use keepup_config::BackupPlan;
use keepup_config::backup::BackupTarget;

/// The plan's target with this id.
pub(crate) fn target<'a>(plan: &'a BackupPlan, id: &str) -> Result<&'a BackupTarget, BackupError> {
    plan.target(id).ok_or_else(|| BackupError::NoSuchTarget {
        plan: plan.id.clone(),
        target: id.to_owned(),
    })
}

/// Creates the repository of `target` (for a local target its directory
/// must exist: an unmounted disk is not silently replaced by a directory on
/// the root filesystem). Fails if a repository is already there. The
/// plan's `verify_uploads` is written into the new repository's config.
pub fn init(plan: &BackupPlan, target: &str) -> Result<(), BackupError> {
    repo::init(crate::target(plan, target)?, plan.verify_uploads)
}
