//! Running a plan: one snapshot per target, every source in it.
//!
//! Targets are done one after the other; a target that fails does not stop
//! the others, and a failure that may pass (storage unreachable, an I/O
//! error) is retried a few times with a growing pause. Mistakes that will
//! fail the same way again (a wrong password, a missing source path, a
//! failing dump command) are not retried.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jiff::Zoned;
use keepup_config::BackupPlan;
use keepup_config::backup::{BackupSource, BackupTarget};
use keepup_model::{Finding, Outcome, Severity, Status};
use rustic_core::repofile::SnapshotFile;
use rustic_core::{BackupOptions, FileType, SnapshotOptions};
use serde::Serialize;

use crate::error::BackupError;
use crate::progress::Progress;
use crate::repo;
use crate::source::{PlanSource, StreamSpec};
use keepup_model::codes;

/// How a run behaves beyond the plan.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The time recorded in the snapshots (and that decides the target of
    /// an alternating plan); default now.
    pub time: Option<Zoned>,
    /// Attempts per target for failures that may pass (default 3).
    pub attempts: u32,
    /// Pause before the second attempt; doubled before each further one
    /// (default 10 s).
    pub retry_delay: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            time: None,
            attempts: 3,
            retry_delay: Duration::from_secs(10),
        }
    }
}

/// The result of a run of a plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    /// The plan.
    pub plan: String,
    /// One entry per target the run was meant for.
    pub targets: Vec<TargetReport>,
    /// Targets left out by alternation (or `--target`).
    pub not_due: Vec<String>,
    /// A problem before any target was tried (e.g. an unknown target id).
    pub error: Option<String>,
    /// Wall time of the whole run.
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
}

/// The result of a run on one target.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetReport {
    /// The target id.
    pub target: String,
    /// Whether it is off-site.
    pub offsite: bool,
    /// The snapshot recorded, if any (full hex id).
    pub snapshot: Option<String>,
    /// Files new since the parent snapshot.
    pub files_new: u64,
    /// Files changed since the parent snapshot.
    pub files_changed: u64,
    /// Files in the snapshot.
    pub files_total: u64,
    /// Bytes in the snapshot.
    pub bytes_total: u64,
    /// Bytes of new data stored (before compression).
    pub bytes_added: u64,
    /// Bytes written to the repository for them (compressed, encrypted).
    pub bytes_added_stored: u64,
    /// Time spent on this target (all attempts).
    #[serde(serialize_with = "secs")]
    pub duration: Duration,
    /// Attempts made.
    pub attempts: u32,
    /// Why no snapshot was recorded.
    pub error: Option<String>,
    /// Entries left out of the snapshot (unreadable or vanished files).
    pub skipped: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl PlanReport {
    /// Whether every target it was meant for got its snapshot.
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.targets.iter().all(|t| t.error.is_none())
    }

    /// The run as a check result: Up when every target got its snapshot,
    /// Degraded when some did, Down when none did.
    pub fn outcome(&self) -> Outcome {
        let good = self.targets.iter().filter(|t| t.error.is_none()).count();
        let total = self.targets.len();
        let mut o = if let Some(e) = &self.error {
            let mut o = Outcome::new(Status::Down, format!("backup {}: {e}", self.plan));
            o.push(Finding::new(
                codes::BACKUP_FAILED,
                Severity::Critical,
                e.clone(),
            ));
            o
        } else if good == total {
            Outcome::new(
                Status::Up,
                format!("backup {} stored on {total} of {total} targets", self.plan),
            )
        } else if good == 0 {
            Outcome::new(
                Status::Down,
                format!("backup {} failed on every target", self.plan),
            )
        } else {
            Outcome::new(
                Status::Degraded,
                format!("backup {} stored on {good} of {total} targets", self.plan),
            )
        };
        for t in &self.targets {
            if let Some(e) = &t.error {
                let severity = if good == 0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                };
                o.push(Finding::new(
                    codes::BACKUP_TARGET_FAILED,
                    severity,
                    format!("target {}: {e}", t.target),
                ));
            }
            if !t.skipped.is_empty() {
                o.push(Finding::new(
                    codes::BACKUP_SOURCE_INCOMPLETE,
                    Severity::Warning,
                    format!(
                        "target {}: could not read {} {}, missing from the snapshot (first: {})",
                        t.target,
                        t.skipped.len(),
                        if t.skipped.len() == 1 {
                            "entry"
                        } else {
                            "entries"
                        },
                        t.skipped[0]
                    ),
                ));
            }
        }
        o.evidence.insert(
            "targets",
            serde_json::to_value(&self.targets).unwrap_or_default(),
        );
        o.with_latency(self.duration)
    }
}

/// Runs `plan`: one snapshot on each target due (all, or today's under
/// `alternate_targets`, or only `only_target`).
///
/// Synchronous and long: call it from `spawn_blocking` or a thread of its
/// own on an async runtime.
pub fn run_plan(
    plan: &BackupPlan,
    only_target: Option<&str>,
    progress: Arc<dyn Progress>,
) -> PlanReport {
    run_plan_with(plan, only_target, &RunOptions::default(), progress)
}

/// [`run_plan`] with explicit [`RunOptions`].
pub fn run_plan_with(
    plan: &BackupPlan,
    only_target: Option<&str>,
    opts: &RunOptions,
    progress: Arc<dyn Progress>,
) -> PlanReport {
    let started = Instant::now();
    let time = opts.time.clone().unwrap_or_else(Zoned::now);
    let mut report = PlanReport {
        plan: plan.id.clone(),
        targets: Vec::new(),
        not_due: Vec::new(),
        error: None,
        duration: Duration::ZERO,
    };
    let due = match targets_due(plan, only_target, &time) {
        Ok(due) => due,
        Err(e) => {
            report.error = Some(e.to_string());
            report.duration = started.elapsed();
            return report;
        }
    };
    report.not_due = plan
        .targets
        .iter()
        .filter(|t| !due.iter().any(|d| d.id == t.id))
        .map(|t| t.id.clone())
        .collect();
    for target in due {
        let t0 = Instant::now();
        let mut tr = TargetReport {
            target: target.id.clone(),
            offsite: target.offsite,
            ..Default::default()
        };
        let attempts = opts.attempts.max(1);
        let mut delay = opts.retry_delay;
        for attempt in 1..=attempts {
            tr.attempts = attempt;
            match backup_to_target(plan, target, &time, progress.clone()) {
                Ok(done) => {
                    fill(&mut tr, &done.snapshot);
                    tr.skipped = done.skipped;
                    tr.error = None;
                    break;
                }
                Err(e) => {
                    tracing::warn!(plan = %plan.id, target = %target.id, attempt, "backup failed: {e}");
                    let again = e.is_transient() && attempt < attempts;
                    tr.error = Some(e.to_string());
                    if !again {
                        break;
                    }
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                }
            }
        }
        tr.duration = t0.elapsed();
        report.targets.push(tr);
    }
    report.duration = started.elapsed();
    report
}

/// The targets a run at `time` writes to.
fn targets_due<'a>(
    plan: &'a BackupPlan,
    only_target: Option<&str>,
    time: &Zoned,
) -> Result<Vec<&'a BackupTarget>, BackupError> {
    if let Some(id) = only_target {
        return Ok(vec![crate::target(plan, id)?]);
    }
    if plan.alternate_targets && !plan.targets.is_empty() {
        let i = day_number(time, &plan.timezone.tz).rem_euclid(plan.targets.len() as i64);
        return Ok(vec![&plan.targets[i as usize]]);
    }
    Ok(plan.targets.iter().collect())
}

/// Days since 1970-01-01 of the civil date of `time` in `tz`: even days go
/// to the first target, odd days to the second, with no break at month
/// ends.
pub(crate) fn day_number(time: &Zoned, tz: &jiff::tz::TimeZone) -> i64 {
    let date = time.with_time_zone(tz.clone()).date();
    let epoch = jiff::civil::date(1970, 1, 1);
    date.since((jiff::Unit::Day, epoch))
        .map(|s| i64::from(s.get_days()))
        .unwrap_or(0)
}

fn fill(tr: &mut TargetReport, snap: &SnapshotFile) {
    tr.snapshot = Some(snap.id.to_hex().to_string());
    if let Some(s) = &snap.summary {
        tr.files_new = s.files_new;
        tr.files_changed = s.files_changed;
        tr.files_total = s.total_files_processed;
        tr.bytes_total = s.total_bytes_processed;
        tr.bytes_added = s.data_added;
        tr.bytes_added_stored = s.data_added_packed;
    }
}

struct Done {
    snapshot: SnapshotFile,
    skipped: Vec<String>,
}

/// What a run reads: the plan's paths and excludes (all `paths` sources
/// together) and its streamed sources as commands.
pub(crate) struct Inputs {
    pub(crate) paths: Vec<PathBuf>,
    pub(crate) excludes: Vec<String>,
    pub(crate) streams: Vec<StreamSpec>,
}

/// The [`Inputs`] of a plan.
pub(crate) fn plan_inputs(plan: &BackupPlan) -> Result<Inputs, BackupError> {
    let mut paths = Vec::new();
    let mut excludes = Vec::new();
    let mut streams = Vec::new();
    for s in &plan.sources {
        match s {
            BackupSource::Paths(p) => {
                paths.extend(p.paths.iter().cloned());
                excludes.extend(p.exclude.iter().cloned());
            }
            BackupSource::Command(c) => {
                // keepup's environment (repository and database passwords,
                // storage keys) stays out: see crate::child.
                let mut command = crate::child::command(&c.command[0], &[]);
                command.args(&c.command[1..]);
                streams.push(StreamSpec {
                    filename: c.filename.clone(),
                    command,
                    completion_line: None,
                    password: None,
                });
            }
            BackupSource::Database(d) => streams.push(StreamSpec {
                filename: d.filename.clone(),
                command: crate::dump::dump_command(d).map_err(|reason| {
                    BackupError::Unsupported {
                        filename: d.filename.clone(),
                        reason,
                    }
                })?,
                completion_line: crate::dump::dump_completion_line(d),
                password: d.password.clone(),
            }),
        }
    }
    paths.sort();
    Ok(Inputs {
        paths,
        excludes,
        streams,
    })
}

fn backup_to_target(
    plan: &BackupPlan,
    target: &BackupTarget,
    time: &Zoned,
    progress: Arc<dyn Progress>,
) -> Result<Done, BackupError> {
    let Inputs {
        paths,
        excludes,
        streams,
    } = plan_inputs(plan)?;
    // A path that vanished would only be logged by rustic and the snapshot
    // would look complete: refuse before starting.
    for p in &paths {
        if let Err(e) = std::fs::symlink_metadata(p) {
            return Err(if e.kind() == std::io::ErrorKind::NotFound {
                BackupError::SourceMissing { path: p.clone() }
            } else {
                BackupError::SourceUnreadable {
                    path: p.clone(),
                    reason: e.to_string(),
                }
            });
        }
    }
    let tid = target.id.as_str();
    let opened = repo::open(target, progress.clone())?;
    let guard = opened.guard;
    let repo = opened
        .repo
        .to_indexed_ids()
        .map_err(|e| BackupError::repo(tid, "reading the index", &e))?;

    let source = PlanSource::new(&plan.id, &paths, &excludes, streams, plan.command_timeout)?;
    let snapshot_paths = source.snapshot_paths(&paths);
    let snap = snapshot_template(plan, time)
        .map_err(|e| BackupError::repo(tid, "preparing the snapshot", &e))?;

    guard.hold_snapshots();
    let archived = repo.archive(&BackupOptions::default(), &source, snap, &snapshot_paths);
    let results = source.stream_results();
    let skipped = source.skipped();
    drop(source);
    // A failed command wins over the archive's own error: it is the cause.
    for (filename, r) in &results {
        if let Err(detail) = r {
            return Err(BackupError::Command {
                filename: filename.clone(),
                detail: detail.clone(),
            });
        }
    }
    let mut snap = archived.map_err(|e| BackupError::repo(tid, "backing up", &e))?;
    let mut held = guard.take_held();

    let sizes: HashMap<String, u64> = results
        .into_iter()
        .filter_map(|(name, r)| r.ok().map(|n| (name, n)))
        .collect();
    if sizes.values().any(|&n| n > 0) {
        // The new trees are only in the index files just written: read
        // them through a freshly opened repository.
        let fresh = repo::open(target, progress)?;
        let fresh_guard = fresh.guard;
        let fresh_repo = fresh
            .repo
            .to_indexed_ids()
            .map_err(|e| BackupError::repo(tid, "reading the index", &e))?;
        if crate::treefix::fix_stream_sizes(
            &fresh_repo,
            &fresh_guard,
            tid,
            &mut snap,
            &plan.id,
            &sizes,
        )? {
            fresh_guard.hold_snapshots();
            fresh_repo
                .save_snapshots(vec![snap.clone()])
                .map_err(|e| BackupError::repo(tid, "saving the snapshot", &e))?;
            held = fresh_guard.take_held();
        }
    }
    // Every source succeeded: record the snapshot.
    let Some((id, content)) = held.pop() else {
        return Err(BackupError::Repository {
            target: tid.to_owned(),
            op: "backing up",
            reason: "no snapshot was produced".into(),
        });
    };
    guard
        .write_through(FileType::Snapshot, &id, true, content)
        .map_err(|e| BackupError::repo(tid, "saving the snapshot", &e))?;
    snap.id = id.into();
    Ok(Done {
        snapshot: snap,
        skipped,
    })
}

/// The tag that marks a plan's snapshots.
pub fn plan_tag(plan: &BackupPlan) -> String {
    format!("keepup:{}", plan.id)
}

fn snapshot_template(plan: &BackupPlan, time: &Zoned) -> rustic_core::RusticResult<SnapshotFile> {
    let mut opts = SnapshotOptions::default()
        .time(time.clone())
        .command(format!("keepup backup run {}", plan.id))
        .add_tags(&plan_tag(plan))?;
    for t in &plan.tags {
        opts = opts.add_tags(t)?;
    }
    if let Some(h) = &plan.hostname {
        opts = opts.host(h.clone());
    }
    opts.to_snapshot()
}
