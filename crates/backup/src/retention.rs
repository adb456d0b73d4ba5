//! Retention: forget the snapshots the rules do not keep, then prune the
//! data only they used (restic's `forget --keep-*` and `prune`).
//!
//! Only the plan's own snapshots (tagged `keepup:<plan>`) are considered,
//! as one group: a repository shared with other plans or tools keeps
//! theirs. Prune keeps rustic's safety delay: packs it drops are only
//! marked at first and deleted by a later prune (23 h on), so that a backup
//! running meanwhile cannot lose data.

use std::sync::Arc;

use jiff::Zoned;
use keepup_config::BackupPlan;
use rustic_core::{KeepOptions, PruneOptions};
use serde::Serialize;

use crate::error::BackupError;
use crate::progress::NoProgress;
use crate::snapshots::{SnapshotInfo, plan_snapshots};

/// What a forget and prune did.
#[derive(Debug, Clone, Serialize)]
pub struct ForgetReport {
    /// Snapshots kept, oldest first.
    pub kept: Vec<SnapshotInfo>,
    /// Snapshots forgotten.
    pub removed: Vec<SnapshotInfo>,
    /// Pack files the prune removes or marks for removal.
    pub packs_removed: u64,
    /// Their bytes.
    pub bytes_removed: u64,
}

/// Applies the plan's retention on `target` now.
pub fn forget_and_prune(plan: &BackupPlan, target: &str) -> Result<ForgetReport, BackupError> {
    forget_and_prune_at(plan, target, &Zoned::now())
}

/// [`forget_and_prune`] as if it were `now` (for `keep_within`).
pub fn forget_and_prune_at(
    plan: &BackupPlan,
    target: &str,
    now: &Zoned,
) -> Result<ForgetReport, BackupError> {
    let Some(r) = &plan.retention else {
        return Err(BackupError::NotConfigured {
            plan: plan.id.clone(),
            what: "retention",
        });
    };
    let count = |n: Option<u32>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
    let mut keep = KeepOptions::default()
        .keep_last(count(r.keep_last))
        .keep_hourly(count(r.keep_hourly))
        .keep_daily(count(r.keep_daily))
        .keep_weekly(count(r.keep_weekly))
        .keep_monthly(count(r.keep_monthly))
        .keep_yearly(count(r.keep_yearly));
    if let Some(w) = r.keep_within {
        let span = jiff::Span::try_from(w).map_err(|e| BackupError::Repository {
            target: target.to_owned(),
            op: "applying retention",
            reason: format!("keep_within: {e}"),
        })?;
        keep = keep.keep_within(span);
    }
    let t = crate::target(plan, target)?;
    let repo = crate::repo::open(t, Arc::new(NoProgress))?.repo;
    let snaps = plan_snapshots(&repo, plan, target)?;
    let decided = keep
        .apply(snaps, now)
        .map_err(|e| BackupError::repo(target, "applying retention", &e))?;
    let mut kept = Vec::new();
    let mut removed = Vec::new();
    let mut remove_ids = Vec::new();
    for d in &decided {
        if d.keep {
            kept.push(SnapshotInfo::from(&d.snapshot));
        } else {
            removed.push(SnapshotInfo::from(&d.snapshot));
            remove_ids.push(d.snapshot.id);
        }
    }
    kept.sort_by_key(|s| s.time_ms);
    removed.sort_by_key(|s| s.time_ms);
    if !remove_ids.is_empty() {
        repo.delete_snapshots(&remove_ids)
            .map_err(|e| BackupError::repo(target, "forgetting snapshots", &e))?;
    }
    let opts = PruneOptions::default();
    let prune = repo
        .prune_plan(&opts)
        .map_err(|e| BackupError::repo(target, "planning the prune", &e))?;
    let packs_removed = prune.stats.packs_to_delete.remove;
    let bytes_removed = prune.stats.size_to_delete.remove;
    repo.prune(&opts, prune)
        .map_err(|e| BackupError::repo(target, "pruning", &e))?;
    Ok(ForgetReport {
        kept,
        removed,
        packs_removed,
        bytes_removed,
    })
}
