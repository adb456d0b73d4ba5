//! The checks a backup plan brings with it. Each `[[backup]]` plan gets,
//! in its site (or in keepup's own site when it names none):
//!
//! - `backup-<plan>`: the result of the last scheduled run (every target
//!   got its snapshot, or which did not and why);
//! - `backup-<plan>-fresh`: the age of the newest good snapshot on each
//!   target against the plan's RPO, read from the repositories themselves
//!   (so a run made by hand, or by restic, counts);
//! - `backup-<plan>-verify` (with `[backup.verify]`): the last integrity
//!   check;
//! - `backup-<plan>-restore` (with `[backup.restore_test]`): the last
//!   restore test.
//!
//! So a failed, stale, corrupt or unrestorable backup opens an incident,
//! is routed and escalated, and counts in the SLA like any other check.

use crate::backup::BackupPlan;
use crate::load::SELF_SITE;
use crate::spec::{Alerting, Check, CheckSpec, PassiveSpec, Site};
use keepup_model::CheckId;
use std::time::Duration;

/// A job of a backup plan: what the monitor's runner runs on a schedule
/// (or on demand) and what a backup check reports. Every job but
/// [`BackupJob::Retention`] has a check of its own; retention reports on
/// the run's check ([`BackupJob::reported_on`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackupJob {
    /// A snapshot to every target; its check shows the last run (passive:
    /// the monitor's backup runner records it).
    Run,
    /// Forget and prune by the retention rules; a failure shows on the
    /// run's check (a repository that grows without bound fills the disk
    /// the next run needs).
    Retention,
    /// The age of the newest good snapshot per target (active).
    Freshness,
    /// The last integrity check (passive).
    Verify,
    /// The last restore test (passive).
    RestoreTest,
}

impl BackupJob {
    /// The job whose check shows this job's result: itself, except for
    /// retention, which shows on the run's check.
    pub fn reported_on(self) -> BackupJob {
        match self {
            BackupJob::Retention => BackupJob::Run,
            job => job,
        }
    }

    /// Suffix of the check id after `backup-<plan>`.
    pub fn suffix(self) -> &'static str {
        match self.reported_on() {
            BackupJob::Run | BackupJob::Retention => "",
            BackupJob::Freshness => "-fresh",
            BackupJob::Verify => "-verify",
            BackupJob::RestoreTest => "-restore",
        }
    }

    /// Words for the check's display name.
    fn words(self) -> &'static str {
        match self {
            BackupJob::Run => "last run",
            BackupJob::Retention => "retention",
            BackupJob::Freshness => "freshness",
            BackupJob::Verify => "integrity check",
            BackupJob::RestoreTest => "restore test",
        }
    }
}

/// `CheckSpec::Passive(PassiveSpec::Backup)`: a check about backup plan `plan`.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupCheckSpec {
    /// The plan's id.
    pub plan: String,
    /// What is reported.
    pub job: BackupJob,
}

/// How often the freshness of a plan is read from its repositories.
const FRESHNESS_INTERVAL: Duration = Duration::from_secs(300);
/// How often the passive checks show the runner's last result (cheap: an
/// in-memory read).
const PASSIVE_INTERVAL: Duration = Duration::from_secs(60);

/// The check id that shows `job` of `plan`.
pub fn backup_check_id(plan: &BackupPlan, job: BackupJob) -> CheckId {
    CheckId::new(
        plan.site.as_deref().unwrap_or(SELF_SITE),
        &format!("backup-{}{}", plan.id, job.suffix()),
    )
}

/// Adds the checks of every plan to its site (keepup's own site for plans
/// without one, created if needed). A check id already taken by a
/// configured check is left to that check: the caller reports it.
pub(crate) fn add_backup_checks(sites: &mut Vec<Site>, plans: &[BackupPlan]) -> Vec<CheckId> {
    let mut clashes = Vec::new();
    for plan in plans {
        let site_id = plan.site.as_deref().unwrap_or(SELF_SITE);
        if !sites.iter().any(|s| s.id == site_id) {
            sites.push(Site {
                id: site_id.to_owned(),
                name: if site_id == SELF_SITE {
                    "keepup itself".into()
                } else {
                    site_id.to_owned()
                },
                tags: Vec::new(),
                checks: Vec::new(),
            });
        }
        let Some(site) = sites.iter_mut().find(|s| s.id == site_id) else {
            continue;
        };
        let mut jobs = vec![BackupJob::Run, BackupJob::Freshness];
        if plan.verify.is_some() {
            jobs.push(BackupJob::Verify);
        }
        if plan.restore_test.is_some() {
            jobs.push(BackupJob::RestoreTest);
        }
        for job in jobs {
            let id = backup_check_id(plan, job);
            if site.checks.iter().any(|c| c.id == id) {
                clashes.push(id);
                continue;
            }
            let (interval, timeout) = match job {
                // Listing snapshots over SFTP can take a while.
                BackupJob::Freshness => (FRESHNESS_INTERVAL, Duration::from_secs(120)),
                _ => (PASSIVE_INTERVAL, Duration::from_secs(10)),
            };
            let mut tags = plan.tags.clone();
            tags.push("backup".into());
            site.checks.push(std::sync::Arc::new(Check {
                short_id: id
                    .as_str()
                    .split_once('/')
                    .map_or("", |(_, c)| c)
                    .to_owned(),
                id,
                name: format!("Backup {}: {}", plan.name, job.words()),
                interval,
                timeout,
                tags,
                site_tags: site.tags.clone(),
                depends_on: Vec::new(),
                alerting: Alerting {
                    // A finished job's result is already confirmed; a
                    // second look a minute later would only delay the page.
                    failure_threshold: 1,
                    retry_interval: interval,
                    // A run that reached only some targets (Degraded) has
                    // lost a copy: that is worth a page, not a colour.
                    incident_on_degraded: job == BackupJob::Run,
                    ..Alerting::default()
                },
                forecasts: Vec::new(),
                spec: CheckSpec::Passive(PassiveSpec::Backup(BackupCheckSpec {
                    plan: plan.id.clone(),
                    job,
                })),
            }));
        }
    }
    clashes
}
