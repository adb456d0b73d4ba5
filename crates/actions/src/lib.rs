//! The action engine: runs the `[[action]]`s of the configuration, and
//! nothing else, behind their guard rails, and records every run.
//!
//! [`Engine::run`] takes an action's name and its [`Cause`] (a check's
//! confirmed status, an incident still open, a measure, a schedule, a
//! person) and decides, in this order:
//!
//! 1. a maintenance window covers the cause's check or the action's checks
//!    (unless `during_maintenance = true`): skipped, saying which window;
//! 2. the cooldown since the last run that acted has not passed, or
//!    `max_per_hour` / `max_per_day` runs acted in the hour / day before:
//!    skipped, saying until when;
//! 3. `dry_run` (the action's or the caller's): recorded as a dry run,
//!    saying what it would have run;
//! 4. `confirm = true`: recorded as awaiting confirmation; it runs when a
//!    person answers yes ([`Engine::confirm`], `keepup actions confirm`)
//!    within [`CONFIRM_WITHIN`] (later it ends unconfirmed: the cause it
//!    answered is old news), unless a maintenance window covers it by
//!    then. A waiting run counts for the cooldown and the limits as a run
//!    that acted, so a failing check files one question, not one per
//!    failure;
//! 5. otherwise it runs: a local command through `keepup_process` (an
//!    empty environment plus the allow-list and the action's `env`
//!    secrets, its own process group killed at the timeout, output
//!    bounded), a webhook through the notification channels' HTTP client
//!    (templates as a webhook channel's; retries with exponential backoff
//!    and Retry-After; the run's `Idempotency-Key` on every attempt, so a
//!    retried scale-up is applied once), or a command an agent was started
//!    with (not yet: such a run fails saying so).
//!
//! Every run, whatever became of it, is a row of the store's `action_run`
//! (outcome, reason, exit code, the last 4 KiB of output with the
//! action's secrets replaced by `***`) and an entry of the audit log. The
//! guard rails count those rows, so a restart keeps cooldowns and limits.
//! Runs of one engine are decided one at a time, so two causes at once
//! cannot both pass a cooldown.
//!
//! [`Engine::tick`] runs the scheduled actions that are due (each
//! occurrence once: its idempotency key is the action and the
//! occurrence's time, so a restart or a second tick does not repeat it;
//! an occurrence more than [`SCHEDULE_CATCH_UP`] old is not caught up)
//! and starts the runs a person confirmed elsewhere.
//!
//! Not here: deciding *when* a failure or a measure calls for an action
//! (the monitor), what the incident's timeline shows, paging.
//!
//! ```no_run
//! # async fn demo(config: &keepup_config::Config, store: keepup_store::Store) -> Result<(), keepup_actions::EngineError> {
//! use keepup_actions::{Cause, Engine};
//! let engine = Engine::new(config, store, std::sync::Arc::new(keepup_model::SystemClock),
//!     keepup_notify::HttpClientContext::new());
//! let run = engine.run("restart-php", Cause::Manual { by: "cli:ops".into() }).await?;
//! println!("run {}: {}", run.id, run.outcome.as_str());
//! # Ok(()) }
//! ```

mod exec;
mod scale;

pub use exec::{AGENT_PICKUP, longest_run};
pub use scale::{Decision, LEVEL_MEMO, LevelStep, MeasureInputs, Values, decision_words};

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use keepup_config::actions::{Action, Level};
use keepup_config::maintenance::Maintenance;
use keepup_config::{Check, Config};
use keepup_model::{CheckId, Clock, Status, Timestamp, format_rfc3339};
use keepup_notify::HttpClientContext;
use keepup_store::{ActionRun, AuditEntry, NewActionRun, RunEnd, RunOutcome, Store, StoreError};

/// A scheduled occurrence is run up to this long after its time (keepup
/// was down, or busy); older ones are skipped, since scaling down at
/// 23:00 is wrong at 09:00.
pub const SCHEDULE_CATCH_UP: Duration = Duration::from_secs(3600);

/// How long a run waits for its confirmation before it ends unconfirmed.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(3600);

/// Why an action runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// A check's confirmed status (`on`).
    Check {
        /// The check.
        check: CheckId,
        /// Its confirmed status.
        status: Status,
    },
    /// An incident still open (`after_open`).
    Incident {
        /// The incident's number.
        incident: i64,
        /// Its check.
        check: CheckId,
    },
    /// A measure past its threshold for its window (`measure`).
    Measure {
        /// The check.
        check: CheckId,
        /// The measure's key.
        measure: String,
        /// The value that decided.
        value: f64,
    },
    /// A cron occurrence (`schedule`), at this time.
    Schedule {
        /// The occurrence.
        at: Timestamp,
    },
    /// A person (`keepup actions run`).
    Manual {
        /// Who: `cli:<user>`, a web user.
        by: String,
    },
}

impl Cause {
    /// `check`, `incident`, `measure`, `schedule`, `manual`.
    pub fn kind(&self) -> &'static str {
        match self {
            Cause::Check { .. } => "check",
            Cause::Incident { .. } => "incident",
            Cause::Measure { .. } => "measure",
            Cause::Schedule { .. } => "schedule",
            Cause::Manual { .. } => "manual",
        }
    }

    /// The cause in words: `shop/php down`, `incident 12 of shop/php`.
    pub fn detail(&self) -> String {
        match self {
            Cause::Check { check, status } => {
                format!("{} {}", check.as_str(), status_word(*status))
            }
            Cause::Incident { incident, check } => {
                format!("incident {incident} of {} still open", check.as_str())
            }
            Cause::Measure {
                check,
                measure,
                value,
            } => format!("{} {measure} = {value}", check.as_str()),
            Cause::Schedule { at } => format!("schedule at {}", format_rfc3339(*at)),
            Cause::Manual { by } => format!("by {by}"),
        }
    }

    /// The check it concerns, if one.
    pub fn check(&self) -> Option<&CheckId> {
        match self {
            Cause::Check { check, .. }
            | Cause::Incident { check, .. }
            | Cause::Measure { check, .. } => Some(check),
            Cause::Schedule { .. } | Cause::Manual { .. } => None,
        }
    }

    /// Who the audit log names.
    fn actor(&self) -> String {
        match self {
            Cause::Manual { by } => by.clone(),
            _ => "keepup".into(),
        }
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Up => "up",
        Status::Degraded => "degraded",
        Status::Down => "down",
        Status::Unknown => "unknown",
    }
}

/// What the engine could not do (a run that failed is a [`RunOutcome`],
/// not an error).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// No `[[action]]` has this name.
    #[error("no [[action]] is named {0:?} in the configuration")]
    UnknownAction(String),
    /// No run has this number.
    #[error("no action run {0}")]
    UnknownRun(i64),
    /// The run is not waiting for a confirmation (or was answered).
    #[error(
        "action run {0} is not waiting for a confirmation (answered already, or it never asked)"
    )]
    NotAwaiting(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking task died.
    #[error("an action's store task failed: {0}")]
    Task(String),
}

/// What the engine knows of the configuration.
struct Catalog {
    actions: HashMap<String, Arc<Action>>,
    levels: HashMap<String, Level>,
    maintenance: Vec<Maintenance>,
    checks: HashMap<CheckId, Arc<Check>>,
}

impl Catalog {
    fn of(config: &Config) -> Self {
        Self {
            actions: config
                .actions
                .iter()
                .map(|a| (a.name.clone(), Arc::new(a.clone())))
                .collect(),
            levels: config
                .levels
                .iter()
                .map(|l| (l.name.clone(), l.clone()))
                .collect(),
            maintenance: config.maintenance.clone(),
            checks: config
                .shared_checks()
                .map(|c| (c.id.clone(), Arc::clone(c)))
                .collect(),
        }
    }
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    http: HttpClientContext,
    catalog: RwLock<Arc<Catalog>>,
    /// Guard decisions one at a time (read usage, then record).
    deciding: tokio::sync::Mutex<()>,
    /// Levels a run is moving now, and that run: another step waits for
    /// its end, or it would step from a value about to change.
    moving: std::sync::Mutex<HashMap<String, i64>>,
}

/// The action engine; cheap to clone, all clones share one state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl Engine {
    /// An engine for `config`'s actions, recording in `store`.
    pub fn new(
        config: &Config,
        store: Store,
        clock: Arc<dyn Clock>,
        http: HttpClientContext,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                http,
                catalog: RwLock::new(Arc::new(Catalog::of(config))),
                deciding: tokio::sync::Mutex::new(()),
                moving: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Takes a reloaded configuration's actions and windows.
    pub fn reconfigure(&self, config: &Config) {
        *self
            .inner
            .catalog
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(Catalog::of(config));
    }

    fn catalog(&self) -> Arc<Catalog> {
        Arc::clone(&self.inner.catalog.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The action named `name`.
    pub fn action(&self, name: &str) -> Option<Arc<Action>> {
        self.catalog().actions.get(name).cloned()
    }

    /// Runs action `name` for `cause`, through its guard rails; the
    /// recorded run, whatever became of it.
    pub async fn run(&self, name: &str, cause: Cause) -> Result<ActionRun, EngineError> {
        self.run_with(name, cause, false, None, None, None)
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// [`Engine::run`] for a measure trigger whose window decided: the run
    /// keeps `inputs` (the measure, threshold, window and values seen).
    pub async fn run_measured(
        &self,
        name: &str,
        cause: Cause,
        inputs: MeasureInputs,
    ) -> Result<ActionRun, EngineError> {
        self.run_with(name, cause, false, None, None, Some(inputs))
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// The current value of level `name` (`None`: no such `[[scale]]`).
    pub async fn level(&self, name: &str) -> Result<Option<u32>, EngineError> {
        let Some(level) = self.catalog().levels.get(name).cloned() else {
            return Ok(None);
        };
        let key = name.to_owned();
        let saved = self.db(move |s| s.memo(LEVEL_MEMO, &key)).await?;
        Ok(Some(scale::current(&level, saved.as_deref())))
    }

    /// [`Engine::run`] for incident `incident` (a remediation of its
    /// check's confirmed failure): the run names it, so the incident's
    /// page and notifications tell it.
    pub async fn run_for_incident(
        &self,
        name: &str,
        cause: Cause,
        incident: i64,
    ) -> Result<ActionRun, EngineError> {
        self.run_with(name, cause, false, None, Some(incident), None)
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// Runs action `name` once for incident `incident` of `check` (an
    /// `after_open` trigger): the run's idempotency key is the action and
    /// the incident, so a second call, a second tick or a restart runs
    /// nothing more (`None`), whatever became of the first run.
    pub async fn run_once_for_incident(
        &self,
        name: &str,
        incident: i64,
        check: CheckId,
    ) -> Result<Option<ActionRun>, EngineError> {
        // Also a valid agent request id (letters, digits, `.:_-`).
        let key = format!("{name}:incident:{incident}");
        let cause = Cause::Incident { incident, check };
        self.run_with(name, cause, false, Some(key), Some(incident), None)
            .await
    }

    /// Records that the caller did not run action `name` for incident
    /// `incident`, and why (the monitor's own rule: the check is
    /// flapping), as a skipped run with its audit entry.
    pub async fn skip_for_incident(
        &self,
        name: &str,
        cause: Cause,
        incident: i64,
        reason: String,
    ) -> Result<ActionRun, EngineError> {
        if self.action(name).is_none() {
            return Err(EngineError::UnknownAction(name.to_owned()));
        }
        let new = NewActionRun {
            action: name.to_owned(),
            cause: cause.kind().into(),
            cause_detail: cause.detail(),
            started_at: self.inner.clock.now_ms(),
            outcome: RunOutcome::Skipped,
            reason: reason.clone(),
            idempotency_key: None,
            incident: Some(incident),
            decision: None,
        };
        let id = self
            .db(move |s| s.action_run_insert(&new))
            .await?
            .ok_or(EngineError::UnknownRun(0))?;
        self.audit(
            &cause.actor(),
            "action.skip",
            name,
            format!("run {id} ({}): {reason}", cause.detail()),
        )
        .await;
        self.db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))
    }

    /// [`Engine::run`] that only says what it would do (`keepup actions
    /// run --dry-run`): the guard rails are applied, nothing runs.
    pub async fn dry_run(&self, name: &str, cause: Cause) -> Result<ActionRun, EngineError> {
        self.run_with(name, cause, true, None, None, None)
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// The runs, newest first: started at or after `since`, at most
    /// `limit`.
    pub async fn runs(
        &self,
        since: Timestamp,
        limit: usize,
    ) -> Result<Vec<ActionRun>, EngineError> {
        self.db(move |s| s.action_runs(since, None, limit)).await
    }

    /// Runs the scheduled actions due at the clock's now, and the runs a
    /// person confirmed that have not started; the runs it recorded.
    pub async fn tick(&self) -> Result<Vec<ActionRun>, EngineError> {
        let now = self.inner.clock.now_ms();
        let catch_up = SCHEDULE_CATCH_UP.as_secs() as u32 / 60;
        let mut out = Vec::new();
        let mut scheduled: Vec<(String, Timestamp)> = Vec::new();
        for (name, action) in &self.catalog().actions {
            let Some(s) = &action.triggers.schedule else {
                continue;
            };
            if let Some(at) = s.cron.last_at_or_before(now, &s.timezone, catch_up) {
                scheduled.push((name.clone(), at));
            }
        }
        scheduled.sort();
        for (name, at) in scheduled {
            // Also a valid agent request id (letters, digits, `.:_-`).
            let key = format!("{name}:{}", format_rfc3339(at));
            if let Some(run) = self
                .run_with(&name, Cause::Schedule { at }, false, Some(key), None, None)
                .await?
            {
                out.push(run);
            }
        }
        for run in self.db(|s| s.action_runs_awaiting()).await? {
            if run.answer.is_none() && unconfirmed_too_long(&run, now) {
                out.push(self.end_unconfirmed(run.id, now).await?);
            } else if run.answer == Some(true) {
                out.push(self.start_confirmed(run).await?);
            }
        }
        Ok(out)
    }

    /// Ends run `id`, left unanswered past [`CONFIRM_WITHIN`], as skipped.
    async fn end_unconfirmed(&self, id: i64, now: Timestamp) -> Result<ActionRun, EngineError> {
        let end = RunEnd {
            outcome: RunOutcome::Skipped,
            reason: format!(
                "not confirmed within {}",
                keepup_model::text::duration_compact(CONFIRM_WITHIN)
            ),
            exit_code: None,
            output: String::new(),
            attempts: 0,
            finished_at: now,
        };
        self.db(move |s| s.action_run_finish(id, &end)).await?;
        self.db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))
    }

    /// Answers the confirmation of run `id`: yes runs it now (the run as
    /// it ends), no ends it as skipped.
    pub async fn confirm(&self, id: i64, yes: bool, by: &str) -> Result<ActionRun, EngineError> {
        let now = self.inner.clock.now_ms();
        if let Some(run) = self.db(move |s| s.action_run(id)).await?
            && run.outcome == RunOutcome::AwaitingConfirmation
            && run.answer.is_none()
            && unconfirmed_too_long(&run, now)
        {
            self.end_unconfirmed(id, now).await?;
            return Err(EngineError::NotAwaiting(id));
        }
        let who = by.to_owned();
        let answered = self
            .db(move |s| s.action_run_answer(id, yes, &who, now))
            .await?;
        let run = self
            .db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))?;
        if !answered {
            return Err(EngineError::NotAwaiting(id));
        }
        self.audit(
            by,
            if yes {
                "action.confirm"
            } else {
                "action.decline"
            },
            &run.action,
            format!("run {id}"),
        )
        .await;
        if yes {
            self.start_confirmed(run).await
        } else {
            Ok(run)
        }
    }

    async fn start_confirmed(&self, run: ActionRun) -> Result<ActionRun, EngineError> {
        let id = run.id;
        let now = self.inner.clock.now_ms();
        let Some(action) = self.action(&run.action) else {
            // Removed from the configuration since: it never runs.
            let end = RunEnd {
                outcome: RunOutcome::Skipped,
                reason: "the action is no longer in the configuration".into(),
                exit_code: None,
                output: String::new(),
                attempts: 0,
                finished_at: now,
            };
            self.db(move |s| s.action_run_finish(id, &end)).await?;
            return self
                .db(move |s| s.action_run(id))
                .await?
                .ok_or(EngineError::UnknownRun(id));
        };
        if !action.guard.during_maintenance {
            // A window opened while the question waited.
            let cause = Cause::Manual {
                by: run.answered_by.clone().unwrap_or_default(),
            };
            if let Some(why) = self
                .in_maintenance(&self.catalog(), &action, &cause, now)
                .await?
            {
                let end = RunEnd {
                    outcome: RunOutcome::Skipped,
                    reason: format!("confirmed, but {why}"),
                    exit_code: None,
                    output: String::new(),
                    attempts: 0,
                    finished_at: now,
                };
                self.db(move |s| s.action_run_finish(id, &end)).await?;
                return self
                    .db(move |s| s.action_run(id))
                    .await?
                    .ok_or(EngineError::UnknownRun(id));
            }
        }
        if !self.db(move |s| s.action_run_start(id, now)).await? {
            // Another engine started it.
            return self
                .db(move |s| s.action_run(id))
                .await?
                .ok_or(EngineError::UnknownRun(id));
        }
        let mut run = run;
        run.started_at = now;
        let actor = run.answered_by.clone().unwrap_or_else(|| "keepup".into());
        self.execute(&action, run, &actor).await
    }

    /// The guard rails, the record, the run. `None`: `key` was recorded
    /// already (that occurrence happened).
    async fn run_with(
        &self,
        name: &str,
        cause: Cause,
        dry_run: bool,
        key: Option<String>,
        incident: Option<i64>,
        inputs: Option<MeasureInputs>,
    ) -> Result<Option<ActionRun>, EngineError> {
        let catalog = self.catalog();
        let action = catalog
            .actions
            .get(name)
            .cloned()
            .ok_or_else(|| EngineError::UnknownAction(name.to_owned()))?;
        let decided = {
            let _one_at_a_time = self.inner.deciding.lock().await;
            let now = self.inner.clock.now_ms();
            let (mut outcome, mut reason) =
                self.decide(&catalog, &action, &cause, dry_run, now).await?;
            let mut decision = Decision {
                measure: inputs,
                level: None,
            };
            if outcome != RunOutcome::Skipped
                && let Some(step) = &action.scale
            {
                match self.plan_level(&catalog, step).await? {
                    Ok(planned) => {
                        if outcome != RunOutcome::Running {
                            reason = format!(
                                "{reason} ({} {} → {})",
                                planned.name, planned.from, planned.to
                            );
                        }
                        decision.level = Some(planned);
                    }
                    Err(why) => {
                        outcome = RunOutcome::Skipped;
                        reason = why;
                    }
                }
            }
            let new = NewActionRun {
                action: action.name.clone(),
                cause: cause.kind().into(),
                cause_detail: cause.detail(),
                started_at: now,
                outcome,
                reason: reason.clone(),
                idempotency_key: key,
                incident: incident.or(match &cause {
                    Cause::Incident { incident, .. } => Some(*incident),
                    _ => None,
                }),
                decision: decision.to_json(),
            };
            let Some(id) = self.db(move |s| s.action_run_insert(&new)).await? else {
                return Ok(None);
            };
            if outcome == RunOutcome::Running
                && let Some(l) = &decision.level
            {
                self.moving_lock().insert(l.name.clone(), id);
            }
            (id, outcome, reason)
        };
        let (id, outcome, reason) = decided;
        let run = self
            .db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))?;
        let actor = cause.actor();
        match outcome {
            RunOutcome::Running => self.execute(&action, run, &actor).await.map(Some),
            RunOutcome::AwaitingConfirmation => {
                self.audit(
                    &actor,
                    "action.ask",
                    &action.name,
                    format!("run {id} ({}) waits for a confirmation", cause.detail()),
                )
                .await;
                Ok(Some(run))
            }
            other => {
                let word = if other == RunOutcome::DryRun {
                    "action.dry_run"
                } else {
                    "action.skip"
                };
                self.audit(
                    &actor,
                    word,
                    &action.name,
                    format!("run {id} ({}): {reason}", cause.detail()),
                )
                .await;
                tracing::info!(action = %action.name, run = id, outcome = other.as_str(), %reason, "action not run");
                Ok(Some(run))
            }
        }
    }

    fn moving_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        self.inner.moving.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The step of a scaling action from its level's current value, or why
    /// it is skipped (at a bound, at the size already, another run moving
    /// the level now).
    async fn plan_level(
        &self,
        catalog: &Catalog,
        step: &keepup_config::actions::ScaleStep,
    ) -> Result<Result<LevelStep, String>, EngineError> {
        let Some(level) = catalog.levels.get(&step.level).cloned() else {
            return Ok(Err(format!(
                "the level {:?} is no longer in the configuration",
                step.level
            )));
        };
        if let Some(run) = self.moving_lock().get(&level.name) {
            return Ok(Err(format!(
                "run {run} is moving {} now; a step waits for its end",
                level.name
            )));
        }
        let key = level.name.clone();
        let saved = self.db(move |s| s.memo(LEVEL_MEMO, &key)).await?;
        let from = scale::current(&level, saved.as_deref());
        Ok(scale::plan(&level, from, step.change))
    }

    /// Whether `action` may run now for `cause`: the outcome it starts
    /// with and why.
    async fn decide(
        &self,
        catalog: &Catalog,
        action: &Action,
        cause: &Cause,
        dry_run: bool,
        now: Timestamp,
    ) -> Result<(RunOutcome, String), EngineError> {
        let guard = &action.guard;
        if !guard.during_maintenance
            && let Some(why) = self.in_maintenance(catalog, action, cause, now).await?
        {
            return Ok((RunOutcome::Skipped, why));
        }
        let name = action.name.clone();
        let usage = self.db(move |s| s.action_usage(&name, now)).await?;
        if let Some(last) = usage.last_acted {
            let until = last.saturating_add(guard.cooldown.as_millis() as i64);
            if now < until {
                return Ok((
                    RunOutcome::Skipped,
                    format!(
                        "cooldown: it last ran at {}, not again before {}",
                        format_rfc3339(last),
                        format_rfc3339(until)
                    ),
                ));
            }
        }
        if let Some(max) = guard.max_per_hour
            && usage.last_hour >= max
        {
            return Ok((
                RunOutcome::Skipped,
                format!(
                    "max_per_hour: it ran {} times in the last hour",
                    usage.last_hour
                ),
            ));
        }
        if let Some(max) = guard.max_per_day
            && usage.last_day >= max
        {
            return Ok((
                RunOutcome::Skipped,
                format!(
                    "max_per_day: it ran {} times in the last day",
                    usage.last_day
                ),
            ));
        }
        if dry_run || guard.dry_run {
            return Ok((
                RunOutcome::DryRun,
                format!("dry run: would run {}", exec::describe(action)),
            ));
        }
        if guard.confirm {
            return Ok((
                RunOutcome::AwaitingConfirmation,
                format!(
                    "waiting for a confirmation (keepup actions confirm RUN) before it runs {}",
                    exec::describe(action)
                ),
            ));
        }
        Ok((RunOutcome::Running, String::new()))
    }

    /// The maintenance window covering the cause's check or one of the
    /// action's checks now, in words.
    async fn in_maintenance(
        &self,
        catalog: &Catalog,
        action: &Action,
        cause: &Cause,
        now: Timestamp,
    ) -> Result<Option<String>, EngineError> {
        let checks: Vec<&CheckId> = cause.check().into_iter().chain(action.checks()).collect();
        if checks.is_empty() {
            return Ok(None);
        }
        for m in &catalog.maintenance {
            if let Some(check) = checks.iter().find(|c| m.covers(c))
                && m.open_at(now).is_some()
            {
                return Ok(Some(format!(
                    "maintenance window {:?} covers {}",
                    m.id,
                    check.as_str()
                )));
            }
        }
        let adhoc = self
            .db(move |s| s.maintenance_after(now.saturating_sub(86_400_000)))
            .await?;
        for m in adhoc.iter().filter(|m| m.open_at(now)) {
            let covered = checks.iter().find(|c| {
                m.covers(c, |tag| {
                    catalog.checks.get(**c).is_some_and(|k| k.carries_tag(tag))
                })
            });
            if let Some(check) = covered {
                return Ok(Some(format!(
                    "maintenance {} ({}) covers {}",
                    m.id,
                    m.reason,
                    check.as_str()
                )));
            }
        }
        Ok(None)
    }

    /// Runs a recorded run and records how it ended.
    async fn execute(
        &self,
        action: &Action,
        run: ActionRun,
        actor: &str,
    ) -> Result<ActionRun, EngineError> {
        let id = run.id;
        tracing::info!(action = %action.name, run = id, kind = action.run.kind(), cause = %run.cause_detail, "running an action");
        let target = scale::target_of(run.decision.as_ref());
        let mut ended = exec::run(
            action,
            &run,
            &self.inner.http,
            &self.inner.store,
            self.inner.clock.as_ref(),
        )
        .await;
        if let Some((name, from, to)) = &target {
            let _done = MovingDone {
                engine: self,
                level: name,
                run: id,
            };
            // The level follows only what was done.
            if ended.outcome == RunOutcome::Ok {
                let saved = serde_json::json!({ "level": to, "run": id }).to_string();
                let (key, at) = (name.clone(), self.inner.clock.now_ms());
                if let Err(e) = self
                    .db(move |s| s.put_memo(LEVEL_MEMO, &key, &saved, at))
                    .await
                {
                    tracing::error!(action = %action.name, run = id, level = %name, error = %e, "the run ended ok but its level could not be kept");
                    ended.reason = format!("ran, but {name} could not be kept at {to}: {e}");
                } else {
                    tracing::info!(action = %action.name, run = id, level = %name, from, to, "level moved");
                }
            } else {
                ended.reason = format!("{}; {name} stays at {from}", ended.reason);
            }
        }
        let end = RunEnd {
            outcome: ended.outcome,
            reason: ended.reason.clone(),
            exit_code: ended.exit_code,
            output: ended.output,
            attempts: ended.attempts,
            finished_at: self.inner.clock.now_ms(),
        };
        self.db(move |s| s.action_run_finish(id, &end)).await?;
        let code = ended
            .exit_code
            .map(|c| format!(", exit {c}"))
            .unwrap_or_default();
        let why = if ended.reason.is_empty() {
            String::new()
        } else {
            format!(": {}", ended.reason)
        };
        self.audit(
            actor,
            "action.run",
            &action.name,
            format!(
                "run {id} ({}): {}{code}{why}",
                run.cause_detail,
                ended.outcome.as_str()
            ),
        )
        .await;
        tracing::info!(action = %action.name, run = id, outcome = ended.outcome.as_str(), "action ran");
        self.db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))
    }

    /// An audit entry; a store failure is logged, not fatal (the run is
    /// recorded already).
    async fn audit(&self, actor: &str, what: &str, target: &str, detail: String) {
        let entry = AuditEntry::new(self.inner.clock.now_ms(), actor, what, target, &detail);
        if let Err(e) = self.db(move |s| s.audit(&entry)).await {
            tracing::warn!(error = %e, "an action's audit entry could not be written");
        }
    }

    async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| EngineError::Task(e.to_string()))?
            .map_err(EngineError::Store)
    }
}

/// Frees a level a run was moving when the run is over (or its task was
/// dropped mid-way), so that the next step may start.
struct MovingDone<'a> {
    engine: &'a Engine,
    level: &'a str,
    run: i64,
}

impl Drop for MovingDone<'_> {
    fn drop(&mut self) {
        let mut moving = self.engine.moving_lock();
        if moving.get(self.level) == Some(&self.run) {
            moving.remove(self.level);
        }
    }
}

/// Whether `run`, still waiting, has waited longer than [`CONFIRM_WITHIN`].
fn unconfirmed_too_long(run: &ActionRun, now: Timestamp) -> bool {
    now.saturating_sub(run.started_at) > CONFIRM_WITHIN.as_millis() as i64
}
