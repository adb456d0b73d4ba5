//! Freshness: the age of a plan's last good snapshot on a target, against
//! its RPO. keepup only ever records snapshots whose every source
//! succeeded, so the newest snapshot is the last good one.

use std::time::Duration;

use jiff::Zoned;
use keepup_config::BackupPlan;
use keepup_model::{Finding, Outcome, Severity, Status};
use serde::Serialize;

use crate::error::BackupError;
use crate::snapshots::{SnapshotInfo, open_plain, plan_snapshots};
use keepup_model::codes;

/// How old a target's last good snapshot is.
#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// The plan.
    pub plan: String,
    /// The target.
    pub target: String,
    /// The newest snapshot, if any.
    pub last: Option<SnapshotInfo>,
    /// Its age at the time asked (zero if it is in the future).
    pub age: Option<Duration>,
    /// The limit applied ([`limit`]).
    pub limit: Duration,
}

/// The age of the plan's newest snapshot on `target` at `now`.
pub fn freshness(plan: &BackupPlan, target: &str, now: &Zoned) -> Result<Freshness, BackupError> {
    let repo = open_plain(plan, target)?;
    let snaps = plan_snapshots(&repo, plan, target)?;
    let last = snaps.last().map(SnapshotInfo::from);
    let age = last.as_ref().map(|s| {
        let ms = now.timestamp().as_millisecond() - s.time_ms;
        Duration::from_millis(u64::try_from(ms).unwrap_or(0))
    });
    Ok(Freshness {
        plan: plan.id.clone(),
        target: target.to_owned(),
        last,
        age,
        limit: limit(plan),
    })
}

/// The age above which a target's newest snapshot is stale: the plan's
/// RPO, times the number of targets for an alternating plan (each target
/// gets every n-th run).
pub fn limit(plan: &BackupPlan) -> Duration {
    let factor = if plan.alternate_targets {
        u32::try_from(plan.targets.len()).unwrap_or(1).max(1)
    } else {
        1
    };
    plan.rpo.saturating_mul(factor)
}

impl Freshness {
    /// Up while the last snapshot is younger than the limit; Down when it is
    /// older or there is none.
    pub fn outcome(&self) -> Outcome {
        let mut o = match (&self.last, self.age) {
            (Some(last), Some(age)) if age <= self.limit => {
                let mut o = Outcome::new(
                    Status::Up,
                    format!("backup {} on {} is fresh", self.plan, self.target),
                );
                o.evidence.insert("last_snapshot", last.id.clone());
                o
            }
            (Some(last), Some(age)) => {
                let mut o = Outcome::new(
                    Status::Down,
                    format!("backup {} on {} is stale", self.plan, self.target),
                );
                o.push(Finding::new(
                    codes::BACKUP_STALE,
                    Severity::Critical,
                    format!(
                        "the last good snapshot ({}, {}) is {} old, more than the {} allowed",
                        last.short_id,
                        last.time,
                        humantime::format_duration(Duration::from_secs(age.as_secs())),
                        humantime::format_duration(self.limit)
                    ),
                ));
                o.evidence.insert("last_snapshot", last.id.clone());
                o
            }
            _ => {
                let mut o = Outcome::new(
                    Status::Down,
                    format!("backup {} has no snapshot on {}", self.plan, self.target),
                );
                o.push(Finding::new(
                    codes::BACKUP_NO_SNAPSHOT,
                    Severity::Critical,
                    format!(
                        "no snapshot of plan {} on target {}",
                        self.plan, self.target
                    ),
                ));
                o
            }
        };
        if let Some(age) = self.age {
            o.evidence.insert("age_seconds", age.as_secs());
        }
        o.evidence.insert("limit_seconds", self.limit.as_secs());
        o
    }
}

/// A repository that could not be opened, as a check result.
pub fn unavailable_outcome(plan: &BackupPlan, target: &str, err: &BackupError) -> Outcome {
    let mut o = Outcome::new(
        Status::Down,
        format!("backup {} target {} is unavailable", plan.id, target),
    );
    o.push(Finding::new(
        codes::BACKUP_UNAVAILABLE,
        Severity::Critical,
        err.to_string(),
    ));
    o
}
