//! Backup plans in the daemon.
//!
//! The [`BackupRunner`] wakes every minute and runs what the plans'
//! cron schedules say is due: the backup itself, retention (forget and
//! prune), the integrity check and the restore test. Jobs run one at a
//! time, off the async runtime (`rustic_core` is synchronous and heavy on
//! the disk; one at a time also keeps the shop's own server responsive).
//!
//! Each job's result lands in the [`BackupBook`], and the scheduler is
//! asked to evaluate the plan's check at once: the passive backup checks
//! (`backup-<plan>`, `-verify`, `-restore`) show the book's latest entry,
//! so a failed job goes through the state machine, incidents and alerting
//! like any check. Freshness (`-fresh`) is active: every few minutes it
//! reads the newest snapshot of each target from the repository itself.

use crate::scheduler::SchedulerHandle;
use keepup_backup as backup;
use keepup_config::backup::BackupPlan;
use keepup_config::{BackupCheckSpec, BackupJob, Check, Config, backup_check_id};
use keepup_model::{CheckId, Clock, Finding, Outcome, Severity, Status, Timestamp, codes};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The latest result of each passive backup check, and the plans in force.
#[derive(Default)]
pub struct BackupBook {
    latest: Mutex<HashMap<CheckId, Outcome>>,
    plans: Mutex<Arc<Vec<BackupPlan>>>,
}

impl BackupBook {
    /// Takes the plans of a (re)loaded configuration; results of checks
    /// that still exist are kept.
    pub fn configure(&self, config: &Config) {
        let keep: std::collections::HashSet<CheckId> =
            config.checks().map(|c| c.id.clone()).collect();
        lock(&self.latest).retain(|id, _| keep.contains(id));
        *lock(&self.plans) = Arc::new(config.backups.clone());
    }

    /// Seeds a passive check's result from the store (its last recorded
    /// outcome), so a restart does not turn a failed backup into "unknown".
    pub fn seed(&self, id: CheckId, outcome: Outcome) {
        lock(&self.latest).entry(id).or_insert(outcome);
    }

    /// The plans in force.
    pub fn plans(&self) -> Arc<Vec<BackupPlan>> {
        lock(&self.plans).clone()
    }

    fn plan(&self, id: &str) -> Option<BackupPlan> {
        self.plans().iter().find(|p| p.id == id).cloned()
    }

    /// Records a job's result for check `id`.
    pub fn record(&self, id: CheckId, outcome: Outcome) {
        lock(&self.latest).insert(id, outcome);
    }

    /// Records what `job` reported on check `id` and returns the check's
    /// outcome now. Retention reports on the run check without standing in
    /// for the last run: a success leaves that run's verdict as it is (a
    /// failed backup stays failed), a failure adds its findings to it and
    /// makes an otherwise good run Degraded.
    pub fn record_job(&self, job: BackupJob, id: CheckId, outcome: Outcome) -> Outcome {
        let mut latest = lock(&self.latest);
        let merged = match latest.get(&id) {
            Some(run) if job == BackupJob::Retention => {
                let mut merged = run.clone();
                merged
                    .findings
                    .retain(|f| f.code != codes::BACKUP_RETENTION_FAILED);
                if outcome.status != Status::Up {
                    merged.findings.extend(outcome.findings);
                    if merged.status == Status::Up {
                        merged.status = outcome.status;
                        merged.message = outcome.message;
                    }
                }
                merged
            }
            _ => outcome,
        };
        latest.insert(id, merged.clone());
        merged
    }

    /// The outcome of a backup check: the book's entry for passive checks,
    /// a fresh read of the repositories for freshness.
    pub async fn evaluate(self: Arc<Self>, check: Arc<Check>, spec: BackupCheckSpec) -> Outcome {
        if spec.job != BackupJob::Freshness {
            return lock(&self.latest)
                .get(&check.id)
                .cloned()
                .unwrap_or_else(|| {
                    Outcome::new(
                        Status::Unknown,
                        format!("no {} of backup {} yet", job_words(spec.job), spec.plan),
                    )
                });
        }
        let Some(plan) = self.plan(&spec.plan) else {
            return Outcome::new(
                Status::Unknown,
                format!("backup plan {} is not configured", spec.plan),
            );
        };
        let started = Instant::now();
        match tokio::task::spawn_blocking(move || freshness(&plan)).await {
            Ok(o) => o.with_latency(started.elapsed()),
            Err(e) => Outcome::new(Status::Unknown, format!("the freshness check stopped: {e}")),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn job_words(job: BackupJob) -> &'static str {
    match job {
        BackupJob::Run => "run",
        BackupJob::Retention => "retention",
        BackupJob::Freshness => "freshness check",
        BackupJob::Verify => "integrity check",
        BackupJob::RestoreTest => "restore test",
    }
}

/// One target's entry in the freshness check's evidence `targets`: written
/// by [`freshness`], read by the dashboard's backups page and `/metrics`
/// (through [`freshness_targets`]), so the keys are defined once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FreshnessTarget {
    /// The target's id in its plan.
    pub target: String,
    /// Up while its newest snapshot is younger than the limit.
    pub status: Status,
    /// The newest snapshot's short id.
    pub last_snapshot: Option<String>,
    /// When it was taken (RFC 3339 with offset).
    pub snapshot_time: Option<String>,
    /// The same in milliseconds since the epoch.
    pub snapshot_time_ms: Option<i64>,
    /// Bytes of source data in it.
    pub snapshot_bytes: Option<u64>,
    /// Its age when read, in seconds.
    pub age_seconds: Option<u64>,
    /// The age above which it is stale, in seconds; also for a target that
    /// cannot be read, since alert rules compare the snapshot time with it.
    pub limit_seconds: u64,
}

/// The freshness check's evidence key holding the [`FreshnessTarget`]s.
const TARGETS: &str = "targets";

/// The per-target entries of a freshness check's outcome; none when it has
/// none or they do not read (evidence recorded by an older keepup).
pub fn freshness_targets(outcome: &Outcome) -> Vec<FreshnessTarget> {
    let Some(targets) = outcome.evidence.details.get(TARGETS) else {
        return Vec::new();
    };
    serde_json::from_value(targets.clone()).unwrap_or_else(|e| {
        tracing::debug!(error = %e, "freshness evidence does not read");
        Vec::new()
    })
}

/// The age of the newest snapshot on every target, as one outcome, with
/// each target's [`FreshnessTarget`] in its evidence `targets`.
pub fn freshness(plan: &BackupPlan) -> Outcome {
    let now = jiff::Zoned::now();
    let limit_seconds = backup::freshness::limit(plan).as_secs();
    let mut targets = Vec::with_capacity(plan.targets.len());
    let per_target = plan
        .targets
        .iter()
        .map(|t| {
            let (outcome, snapshot, age) = match backup::freshness(plan, &t.id, &now) {
                Ok(f) => (f.outcome(), f.last, f.age),
                Err(e) => (
                    backup::freshness::unavailable_outcome(plan, &t.id, &e),
                    None,
                    None,
                ),
            };
            targets.push(FreshnessTarget {
                target: t.id.clone(),
                status: outcome.status,
                last_snapshot: snapshot.as_ref().map(|s| s.short_id.clone()),
                snapshot_time: snapshot.as_ref().map(|s| s.time.clone()),
                snapshot_time_ms: snapshot.as_ref().map(|s| s.time_ms),
                snapshot_bytes: snapshot.as_ref().map(|s| s.bytes),
                age_seconds: age.map(|a| a.as_secs()),
                limit_seconds,
            });
            outcome
        })
        .collect();
    let mut out = combine(
        per_target,
        format!("backup {} is fresh on every target", plan.id),
    );
    match serde_json::to_value(&targets) {
        Ok(targets) => out.evidence.insert(TARGETS, targets),
        // Strings and numbers only: cannot fail, but never panic on it.
        Err(e) => tracing::error!(plan = %plan.id, error = %e, "freshness evidence not written"),
    }
    out
}

/// One outcome from per-target ones: the worst status; the message of the
/// first target in that status (or `all_good` when all are Up); every
/// finding.
pub fn combine(parts: Vec<Outcome>, all_good: String) -> Outcome {
    let worst = if parts.is_empty() {
        Status::Unknown
    } else {
        parts
            .iter()
            .fold(Status::Up, |w, o| keepup_model::worse(w, o.status))
    };
    let message = if worst == Status::Up {
        all_good
    } else {
        parts
            .iter()
            .find(|o| o.status == worst)
            .map(|o| o.message.clone())
            .unwrap_or_else(|| "no targets".into())
    };
    let mut out = Outcome::new(worst, message);
    for p in parts {
        out.findings.extend(p.findings);
        for (k, v) in p.evidence.details {
            out.evidence.details.entry(k).or_insert(v);
        }
    }
    out
}

/// The scheduled jobs of a plan, with their cron schedules.
fn scheduled_jobs(plan: &BackupPlan) -> Vec<(BackupJob, &keepup_config::backup::Schedule)> {
    let mut jobs = Vec::new();
    if let Some(s) = &plan.schedule {
        jobs.push((BackupJob::Run, s));
    }
    if let Some(s) = plan.retention.as_ref().and_then(|r| r.schedule.as_ref()) {
        jobs.push((BackupJob::Retention, s));
    }
    if let Some(s) = plan.verify.as_ref().and_then(|v| v.schedule.as_ref()) {
        jobs.push((BackupJob::Verify, s));
    }
    if let Some(s) = plan.restore_test.as_ref().and_then(|r| r.schedule.as_ref()) {
        jobs.push((BackupJob::RestoreTest, s));
    }
    jobs
}

/// Runs one job of a plan (blocking) and returns the check it reports to
/// with its outcome. Freshness is the read its active check makes.
pub fn run_job(plan: &BackupPlan, job: BackupJob) -> (CheckId, Outcome) {
    let started = Instant::now();
    let progress: Arc<dyn backup::Progress> = Arc::new(backup::NoProgress);
    let (check, outcome) = match job {
        BackupJob::Run => {
            let report = backup::run_plan(plan, None, progress);
            let mut o = report.outcome();
            // Retention without a schedule of its own follows each run.
            if plan
                .retention
                .as_ref()
                .is_some_and(|r| r.schedule.is_none())
                && let Some(f) = retention_findings(plan)
            {
                if o.status == Status::Up {
                    o.status = Status::Degraded;
                    o.message = format!("backup {}: retention failed", plan.id);
                }
                o.findings.extend(f);
            }
            (BackupJob::Run, o)
        }
        BackupJob::Retention => {
            // Reported on the run check: a repository that grows without
            // bound fills the disk, which the next run then fails on.
            let o = match retention_findings(plan) {
                None => {
                    return (
                        backup_check_id(plan, BackupJob::Run),
                        Outcome::new(Status::Up, "retention applied"),
                    );
                }
                Some(f) => {
                    let mut o = Outcome::new(
                        Status::Degraded,
                        format!("backup {}: retention failed", plan.id),
                    );
                    o.findings = f;
                    o
                }
            };
            (BackupJob::Run, o)
        }
        BackupJob::Freshness => (BackupJob::Freshness, freshness(plan)),
        BackupJob::Verify => {
            let read = plan
                .verify
                .as_ref()
                .map_or(keepup_config::backup::ReadData::None, |v| v.read_data);
            let now = jiff::Zoned::now();
            let parts = plan
                .targets
                .iter()
                .map(|t| {
                    match backup::check(plan, &t.id, read, &now, Arc::new(backup::NoProgress)) {
                        Ok(r) => r.outcome(),
                        Err(e) => backup::freshness::unavailable_outcome(plan, &t.id, &e),
                    }
                })
                .collect();
            (
                BackupJob::Verify,
                combine(parts, format!("backup {}: every target is intact", plan.id)),
            )
        }
        BackupJob::RestoreTest => {
            let sample = plan.restore_test.as_ref().map_or(20, |r| r.sample_files);
            let mut parts = Vec::new();
            for t in &plan.targets {
                if sample > 0 {
                    parts.push(match backup::restore_test_files(plan, &t.id, sample) {
                        Ok(r) => r.outcome(),
                        Err(e) => backup::freshness::unavailable_outcome(plan, &t.id, &e),
                    });
                }
                // The latest dump into a scratch database, queried.
                if let Some(r) = backup::dbtest::restore_test_database(plan, &t.id) {
                    parts.push(r.outcome());
                }
            }
            (
                BackupJob::RestoreTest,
                combine(
                    parts,
                    format!("backup {}: the latest snapshots restore", plan.id),
                ),
            )
        }
    };
    (
        backup_check_id(plan, check),
        outcome.with_latency(started.elapsed()),
    )
}

/// Forget and prune on every target; the findings of those that failed.
fn retention_findings(plan: &BackupPlan) -> Option<Vec<Finding>> {
    let failed: Vec<Finding> = plan
        .targets
        .iter()
        .filter_map(|t| backup::forget_and_prune(plan, &t.id).err().map(|e| (t, e)))
        .map(|(t, e)| {
            Finding::new(
                codes::BACKUP_RETENTION_FAILED,
                Severity::Warning,
                format!("forget and prune on {} failed: {e}", t.id),
            )
        })
        .collect();
    (!failed.is_empty()).then_some(failed)
}

/// Runs the plans' scheduled jobs.
pub struct BackupRunner;

impl BackupRunner {
    /// The runner's loop: every minute, the jobs whose schedule fired since
    /// the last look, one at a time.
    pub async fn run(book: Arc<BackupBook>, scheduler: SchedulerHandle, clock: Arc<dyn Clock>) {
        let mut looked_at = clock.now_ms();
        loop {
            let now = clock.now_ms();
            let next_minute = (now.div_euclid(60_000) + 1) * 60_000;
            tokio::time::sleep(Duration::from_millis(
                (next_minute - now).max(0) as u64 + 50,
            ))
            .await;
            let now = clock.now_ms();
            for (plan, job) in due_jobs(&book.plans(), looked_at, now) {
                tracing::info!(plan = %plan.id, job = ?job, "backup job starts");
                let p = plan.clone();
                match tokio::task::spawn_blocking(move || run_job(&p, job)).await {
                    Ok((id, outcome)) => {
                        tracing::info!(plan = %plan.id, job = ?job, status = outcome.status.as_str(), message = %outcome.message, "backup job finished");
                        book.record_job(job, id.clone(), outcome);
                        scheduler.run_now(id);
                        if job == BackupJob::Run {
                            // A new snapshot changes the freshness at once.
                            scheduler.run_now(backup_check_id(&plan, BackupJob::Freshness));
                        }
                    }
                    Err(e) => {
                        tracing::error!(plan = %plan.id, job = ?job, error = %e, "backup job stopped")
                    }
                }
            }
            looked_at = now;
        }
    }
}

/// The jobs whose cron schedule has an occurrence in `(after, now]`, in
/// plan order (each once, even if several occurrences passed while an
/// earlier job ran).
pub fn due_jobs(
    plans: &[BackupPlan],
    after: Timestamp,
    now: Timestamp,
) -> Vec<(BackupPlan, BackupJob)> {
    let mut due = Vec::new();
    for plan in plans {
        for (job, schedule) in scheduled_jobs(plan) {
            if schedule.cron.fired_between(after, now, &plan.timezone.tz) {
                due.push((plan.clone(), job));
            }
        }
    }
    due
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(status: Status, message: &str, code: &str) -> Outcome {
        let mut o = Outcome::new(status, message);
        // Pushed directly: the status is the test's to choose.
        o.findings
            .push(Finding::new(code, Severity::Warning, message));
        o
    }

    #[test]
    fn combining_targets_keeps_the_worst_status_and_every_finding() {
        let all_up = combine(
            vec![
                outcome(Status::Up, "a fine", "x.a"),
                outcome(Status::Up, "b fine", "x.b"),
            ],
            "all good".into(),
        );
        assert_eq!(all_up.status, Status::Up);
        assert_eq!(all_up.message, "all good");
        assert_eq!(all_up.findings.len(), 2);

        let mixed = combine(
            vec![
                outcome(Status::Up, "local fine", "x.a"),
                outcome(
                    Status::Down,
                    "offsite unreachable",
                    codes::BACKUP_UNAVAILABLE,
                ),
                outcome(Status::Degraded, "odd", "x.c"),
            ],
            "all good".into(),
        );
        assert_eq!(mixed.status, Status::Down);
        assert_eq!(mixed.message, "offsite unreachable");
        assert_eq!(mixed.findings.len(), 3);

        let nothing = combine(Vec::new(), "all good".into());
        assert_eq!(nothing.status, Status::Unknown);
    }
}
