//! Disaster-recovery drills in the daemon.
//!
//! The `dr-<plan>` check ([`DrillBook::evaluate`]) reads the plan's drills
//! from the store's journal and judges them ([`assess`]): Down when the
//! last finished drill failed or was aborted, Degraded when the plan has
//! never completed a drill, when its last successful drill is older than
//! `drill_max_age`, or when that drill's measured RTO or RPO exceeded the
//! plan's targets, Up otherwise. The figures behind the verdict are in the
//! outcome's evidence `drill` ([`DrillEvidence`]), which the dashboard and
//! `/metrics` read.
//!
//! The [`DrillRunner`] wakes every minute and starts the drills whose
//! `drill_schedule` fired since its last look, each on a blocking thread
//! (a drill restores data and waits for checks: minutes, never on the
//! async runtime), one at a time per plan. The store's plan lock refuses a
//! drill while another run of the plan (an activation, a drill started by
//! hand, a failed drill waiting for a resume) holds it: the occurrence is
//! skipped with a log line. When a drill ends, its check is evaluated at
//! once.
//!
//! A drill the daemon was running when it died (a restart, SIGKILL after
//! systemd's stop timeout) stays `running` under a dead process, holding
//! the plan and its scratch data: when the runner starts, it resumes such
//! drills ([`DrillBook::resume_orphaned`]), which runs their remaining steps
//! and the cleanup. A drill running longer than twice the plan's RTO is
//! reported stuck (Degraded).

use crate::scheduler::SchedulerHandle;
use keepup_config::{Config, DrillCheckSpec, RecoveryPlan, drill_check_id};
use keepup_model::text::duration_compact;
use keepup_model::{Clock, Finding, Outcome, Severity, Status, Timestamp, codes, format_rfc3339};
use keepup_recovery::{Confirmation, EngineError, Quiet, RealClock, RunReport, Runner};
use keepup_store::{DrRun, DrRunKind, DrRunState, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who the journal says started a scheduled drill.
pub const SCHEDULED_BY: &str = "keepup run (drill_schedule)";

/// The evidence key holding the [`DrillEvidence`].
const EVIDENCE_KEY: &str = "drill";

/// What the `dr-<plan>` check saw, in its evidence `drill`: written by
/// [`assess`], read by the dashboard's check page and `/metrics` (through
/// [`drill_evidence`]), so the keys are defined once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillEvidence {
    /// The plan's id.
    pub plan: String,
    /// The plan's recovery time objective, in seconds.
    pub rto_target_seconds: u64,
    /// The plan's recovery point objective, in seconds.
    pub rpo_target_seconds: u64,
    /// The age above which the last successful drill is stale, in seconds.
    pub max_age_seconds: u64,
    /// The last finished drill (completed, failed or aborted).
    pub last: Option<DrillRun>,
    /// The last completed drill (the same as `last` when that succeeded).
    pub last_success: Option<DrillRun>,
    /// A drill still running (or whose process died), newer than `last`.
    pub running: Option<i64>,
}

/// One drill as the evidence shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrillRun {
    /// The run's number (`keepup dr status RUN`).
    pub run: i64,
    /// `completed`, `failed`, `aborted`.
    pub state: String,
    /// When it started (RFC 3339).
    pub started_at: String,
    /// The same in milliseconds since the epoch.
    pub started_at_ms: i64,
    /// When it ended (a failed drill waiting for a resume has no end: its
    /// start is its time).
    pub ended_at_ms: Option<i64>,
    /// Measured RTO, seconds.
    pub rto_seconds: Option<f64>,
    /// Measured RPO, seconds.
    pub rpo_seconds: Option<f64>,
    /// The journal's last word on it (why it stopped).
    pub message: String,
}

impl DrillRun {
    fn of(r: &DrRun) -> Self {
        DrillRun {
            run: r.id,
            state: r.state.as_str().to_owned(),
            started_at: format_rfc3339(r.started_at),
            started_at_ms: r.started_at,
            ended_at_ms: r.ended_at,
            rto_seconds: r.rto_ms.map(|ms| ms as f64 / 1000.0),
            rpo_seconds: r.rpo_ms.map(|ms| ms as f64 / 1000.0),
            message: r.message.clone(),
        }
    }

    /// When it happened: its end, or its start when it has none.
    pub fn at_ms(&self) -> i64 {
        self.ended_at_ms.unwrap_or(self.started_at_ms)
    }

    /// Whether it completed.
    pub fn succeeded(&self) -> bool {
        self.state == DrRunState::Completed.as_str()
    }
}

/// The [`DrillEvidence`] of a `dr-<plan>` check's outcome; none when it
/// has none or it does not read (evidence recorded by an older keepup).
pub fn drill_evidence(outcome: &Outcome) -> Option<DrillEvidence> {
    let value = outcome.evidence.details.get(EVIDENCE_KEY)?;
    serde_json::from_value(value.clone())
        .inspect_err(|e| tracing::debug!(error = %e, "drill evidence does not read"))
        .ok()
}

/// The drills of a plan the check judges, as read from the journal.
#[derive(Debug, Clone, Default)]
pub struct Drills {
    /// The newest finished drill (completed, failed or aborted).
    pub last: Option<DrRun>,
    /// The newest completed drill.
    pub last_success: Option<DrRun>,
    /// The newest drill still `running`.
    pub running: Option<DrRun>,
}

impl Drills {
    /// The drills of `plan` that started before `until`.
    pub fn read(store: &Store, plan: &str, until: Timestamp) -> Result<Drills, StoreError> {
        use DrRunState::*;
        let last =
            store.dr_last_run(plan, DrRunKind::Drill, &[Completed, Failed, Aborted], until)?;
        let last_success = match &last {
            Some(r) if r.state == Completed => Some(r.clone()),
            _ => store.dr_last_run(plan, DrRunKind::Drill, &[Completed], until)?,
        };
        let running = store.dr_last_run(plan, DrRunKind::Drill, &[Running], until)?;
        Ok(Drills {
            last,
            last_success,
            running,
        })
    }
}

fn ms_of(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn human(ms: i64) -> String {
    duration_compact(Duration::from_millis(ms.max(0).unsigned_abs()))
}

/// The verdict on `plan`'s drills at `now`, with the figures in the
/// evidence `drill`.
pub fn assess(plan: &RecoveryPlan, drills: &Drills, now: Timestamp) -> Outcome {
    let last = drills.last.as_ref().map(DrillRun::of);
    let last_success = drills.last_success.as_ref().map(DrillRun::of);
    let running = drills
        .running
        .as_ref()
        .filter(|r| last.as_ref().is_none_or(|l| r.started_at > l.started_at_ms))
        .map(|r| r.id);
    let mut out = Outcome::new(Status::Up, String::new());
    match (&last, &last_success) {
        (Some(l), _) if !l.succeeded() => {
            let why = l.message.lines().next().unwrap_or("").trim();
            out.push(Finding::new(
                codes::DR_DRILL_FAILED,
                Severity::Critical,
                format!(
                    "drill run {} of {} {}{}{}",
                    l.run,
                    l.started_at,
                    l.state,
                    if why.is_empty() { "" } else { ": " },
                    why
                ),
            ));
        }
        (_, None) => out.push(Finding::new(
            codes::DR_NEVER_DRILLED,
            Severity::Warning,
            format!(
                "plan {} has never completed a drill: `keepup dr drill {}` runs one{}",
                plan.id,
                plan.id,
                if plan.drill_schedule.is_none() {
                    ", `drill_schedule` runs them regularly"
                } else {
                    ""
                }
            ),
        )),
        (_, Some(ok)) => {
            let age = now - ok.at_ms();
            if age > ms_of(plan.drill_max_age) {
                out.push(Finding::new(
                    codes::DR_DRILL_STALE,
                    Severity::Warning,
                    format!(
                        "the last successful drill (run {}) is {} old, more than the plan's drill_max_age {}",
                        ok.run,
                        human(age),
                        human(ms_of(plan.drill_max_age))
                    ),
                ));
            }
        }
    }
    // The figures of the drill the plan stands on: the last successful one
    // (when the last one failed, Down says more than its figures would).
    if let Some(ok) = last_success.as_ref().filter(|_| out.status != Status::Down) {
        if let Some(rto) = drills.last_success.as_ref().and_then(|r| r.rto_ms)
            && rto > ms_of(plan.rto)
        {
            out.push(Finding::new(
                codes::DR_RTO_EXCEEDED,
                Severity::Warning,
                format!(
                    "drill run {} measured an RTO of {}, more than the plan's {}",
                    ok.run,
                    human(rto),
                    human(ms_of(plan.rto))
                ),
            ));
        }
        if let Some(rpo) = drills.last_success.as_ref().and_then(|r| r.rpo_ms)
            && rpo > ms_of(plan.rpo)
        {
            out.push(Finding::new(
                codes::DR_RPO_EXCEEDED,
                Severity::Warning,
                format!(
                    "drill run {} measured an RPO of {}, more than the plan's {}",
                    ok.run,
                    human(rpo),
                    human(ms_of(plan.rpo))
                ),
            ));
        }
    }
    // The first of the most severe findings says it (the failure before
    // the figures, the RTO before the RPO).
    let worst = out
        .findings
        .iter()
        .rev()
        .max_by_key(|f| f.severity)
        .cloned();
    out.message = match (worst.as_ref(), &last_success) {
        (Some(f), _) => f.text.clone(),
        (None, Some(ok)) => format!(
            "drill run {} of {} succeeded: RTO {} (target {}), RPO {} (target {})",
            ok.run,
            ok.started_at,
            drills
                .last_success
                .as_ref()
                .and_then(|r| r.rto_ms)
                .map_or("not measured".into(), human),
            human(ms_of(plan.rto)),
            drills
                .last_success
                .as_ref()
                .and_then(|r| r.rpo_ms)
                .map_or("not measured".into(), human),
            human(ms_of(plan.rpo)),
        ),
        (None, None) => format!("plan {} has no drill", plan.id),
    };
    if let Some(r) = drills.running.as_ref().filter(|r| Some(r.id) == running)
        && now - r.started_at > ms_of(plan.rto).saturating_mul(2)
    {
        let stuck = Finding::new(
            codes::DR_DRILL_STUCK,
            Severity::Warning,
            format!(
                "drill run {} has been running for {}, more than twice the plan's RTO {}: its process is stuck or gone and it holds the plan; `keepup dr status {}`, then `keepup dr abort {}` (a drill still running stops before its next step and cleans up) or `keepup dr resume {}`",
                r.id,
                human(now - r.started_at),
                human(ms_of(plan.rto)),
                r.id,
                r.id,
                r.id
            ),
        );
        if out.status != Status::Down {
            out.message = stuck.text.clone();
        }
        out.push(stuck);
    } else if let Some(run) = running {
        out.message
            .push_str(&format!("; drill run {run} is in progress"));
    }
    let evidence = DrillEvidence {
        plan: plan.id.clone(),
        rto_target_seconds: plan.rto.as_secs(),
        rpo_target_seconds: plan.rpo.as_secs(),
        max_age_seconds: plan.drill_max_age.as_secs(),
        last,
        last_success,
        running,
    };
    match serde_json::to_value(&evidence) {
        Ok(v) => out.evidence.insert(EVIDENCE_KEY, v),
        // Strings and numbers only: cannot fail, but never panic on it.
        Err(e) => tracing::error!(plan = %plan.id, error = %e, "drill evidence not written"),
    }
    out
}

/// The plans in force and the store, for the `dr-<plan>` checks and the
/// drill runner.
pub struct DrillBook {
    store: Store,
    config: Mutex<Arc<Config>>,
    /// Plans whose drill this daemon is running now.
    running: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl DrillBook {
    /// A book over `store` with the plans of `config`.
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        Self {
            store,
            config: Mutex::new(config),
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Takes the plans of a (re)loaded configuration.
    pub fn configure(&self, config: Arc<Config>) {
        *lock(&self.config) = config;
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        lock(&self.config).clone()
    }

    /// The `dr-<plan>` check's outcome at `now` (blocking: reads the store).
    pub fn evaluate(&self, spec: &DrillCheckSpec, now: Timestamp) -> Outcome {
        let config = self.config();
        let Some(plan) = config.recovery_plan(&spec.plan) else {
            return Outcome::new(
                Status::Unknown,
                format!("recovery plan {} is not configured", spec.plan),
            );
        };
        match Drills::read(&self.store, &plan.id, now.saturating_add(1)) {
            Ok(drills) => assess(plan, &drills, now),
            Err(e) => Outcome::new(
                Status::Unknown,
                format!("cannot read the drills of plan {}: {e}", plan.id),
            ),
        }
    }

    /// Runs a drill of plan `id` now (blocking), as the schedule does:
    /// [`keepup_recovery::drill`], the activate steps against the drill
    /// environment and the cleanup, journaled as a `drill` run;
    /// confirmation gates pass, since the plan's own `drill_schedule` (or
    /// the caller) decided beforehand. `None` when the plan is not
    /// configured or this daemon is drilling it already.
    pub fn run_drill(&self, id: &str) -> Option<Result<RunReport, EngineError>> {
        let config = self.config();
        let plan = config.recovery_plan(id)?;
        let _drilling = self.drilling(&plan.id)?;
        let runner = Runner {
            config: &config,
            store: &self.store,
            clock: &RealClock,
            confirm: &Confirmation::AssumeYes,
            observer: &Quiet,
            who: SCHEDULED_BY,
        };
        let result = keepup_recovery::drill(&runner, plan);
        self.write_document(&config, plan);
        Some(result)
    }

    /// Writes the plan's Recovery Plan document again: it quotes the last
    /// drill and the steps' durations.
    fn write_document(&self, config: &Config, plan: &RecoveryPlan) {
        let now = keepup_recovery::Clock::now_ms(&RealClock);
        match keepup_recovery::document::write_plan(config, plan, Some(&self.store), now) {
            Some(Ok(w)) => {
                tracing::info!(plan = %plan.id, html = %w.html.display(), "recovery plan document written")
            }
            Some(Err(e)) => {
                tracing::error!(plan = %plan.id, error = %e, "recovery plan document not written")
            }
            None => {}
        }
    }

    /// Marks plan `id` as being drilled by this daemon until the guard is
    /// dropped (a panic in the drill included); `None` when it is already.
    fn drilling(&self, id: &str) -> Option<Drilling<'_>> {
        if !lock(&self.running).insert(id.to_owned()) {
            tracing::info!(plan = %id, "drill skipped: this daemon is drilling the plan already");
            return None;
        }
        Some(Drilling {
            running: &self.running,
            plan: id.to_owned(),
        })
    }

    /// Resumes (blocking) the drills of the configured plans left `running`
    /// by a process that died, so that they finish and clean up instead of
    /// holding their plans and scratch data; the plans whose drill ran.
    pub fn resume_orphaned(&self) -> Vec<String> {
        let config = self.config();
        let mut resumed = Vec::new();
        for plan in &config.recovery {
            let left = match self.store.dr_last_run(
                &plan.id,
                DrRunKind::Drill,
                &[DrRunState::Running],
                i64::MAX,
            ) {
                Ok(Some(r)) if r.holder_pid.is_some() => r,
                Ok(_) => continue,
                Err(e) => {
                    tracing::warn!(plan = %plan.id, error = %e, "cannot look for a drill left running");
                    continue;
                }
            };
            let Some(_drilling) = self.drilling(&plan.id) else {
                continue;
            };
            let runner = Runner {
                config: &config,
                store: &self.store,
                clock: &RealClock,
                confirm: &Confirmation::AssumeYes,
                observer: &Quiet,
                who: SCHEDULED_BY,
            };
            match keepup_recovery::resume(&runner, left.id) {
                Ok(r) => {
                    tracing::warn!(plan = %plan.id, run = r.run, state = r.state.as_str(), message = %r.message, "drill left running by a dead process resumed");
                    self.write_document(&config, plan);
                    resumed.push(plan.id.clone());
                }
                // Its process lives (another keepup runs it): not ours.
                Err(EngineError::Alive { run, pid }) => {
                    tracing::info!(plan = %plan.id, run, pid, "drill running in another process left alone")
                }
                Err(e) => {
                    tracing::warn!(plan = %plan.id, run = left.id, error = %e, "drill left running could not be resumed")
                }
            }
        }
        resumed
    }
}

/// This daemon drilling a plan; dropping it (a panic included) frees the
/// plan for the next drill.
struct Drilling<'a> {
    running: &'a Mutex<HashSet<String>>,
    plan: String,
}

impl Drop for Drilling<'_> {
    fn drop(&mut self) {
        lock(self.running).remove(&self.plan);
    }
}

/// The plans whose `drill_schedule` has an occurrence in `(after, now]`, in
/// plan order (each once, however many occurrences passed).
pub fn due_drills(plans: &[RecoveryPlan], after: Timestamp, now: Timestamp) -> Vec<String> {
    plans
        .iter()
        .filter(|p| {
            p.drill_schedule
                .as_ref()
                .is_some_and(|s| s.cron.fired_between(after, now, &p.timezone.tz))
        })
        .map(|p| p.id.clone())
        .collect()
}

/// Starts the plans' scheduled drills.
pub struct DrillRunner;

impl DrillRunner {
    /// The runner's loop: every minute, the drills whose schedule fired
    /// since the last look, each on its own blocking thread.
    pub async fn run(book: Arc<DrillBook>, scheduler: SchedulerHandle, clock: Arc<dyn Clock>) {
        let mut looked_at = clock.now_ms();
        {
            let (book, scheduler) = (book.clone(), scheduler.clone());
            tokio::spawn(async move {
                let b = book.clone();
                match tokio::task::spawn_blocking(move || b.resume_orphaned()).await {
                    Ok(plans) => {
                        let config = book.config();
                        for plan in plans.iter().filter_map(|id| config.recovery_plan(id)) {
                            scheduler.run_now(drill_check_id(plan));
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "resuming drills left running stopped"),
                }
            });
        }
        loop {
            let now = clock.now_ms();
            let next_minute = (now.div_euclid(60_000) + 1) * 60_000;
            tokio::time::sleep(Duration::from_millis(
                (next_minute - now).max(0) as u64 + 50,
            ))
            .await;
            let now = clock.now_ms();
            let config = book.config();
            for id in due_drills(&config.recovery, looked_at, now) {
                let Some(plan) = config.recovery_plan(&id) else {
                    continue;
                };
                let check = drill_check_id(plan);
                let (book, scheduler) = (book.clone(), scheduler.clone());
                tokio::spawn(async move {
                    tracing::info!(plan = %id, "scheduled drill starts");
                    let b = book.clone();
                    let plan_id = id.clone();
                    match tokio::task::spawn_blocking(move || b.run_drill(&plan_id)).await {
                        Ok(Some(result)) => log_drill(&id, &result),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::error!(plan = %id, error = %e, "scheduled drill stopped")
                        }
                    }
                    scheduler.run_now(check);
                });
            }
            looked_at = now;
        }
    }
}

/// One log line on how a drill went.
fn log_drill(plan: &str, result: &Result<RunReport, EngineError>) {
    match result {
        Ok(r) if r.state == DrRunState::Completed => {
            tracing::info!(plan, run = r.run, message = %r.message, "scheduled drill completed")
        }
        Ok(r) => {
            tracing::warn!(plan, run = r.run, message = %r.message, "scheduled drill failed")
        }
        Err(EngineError::Locked { run, pid, .. }) => tracing::warn!(
            plan,
            holding_run = run,
            pid,
            "scheduled drill skipped: another run holds the plan (`keepup dr status` shows it)"
        ),
        Err(e) => tracing::warn!(plan, error = %e, "scheduled drill not started"),
    }
}
