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
//! The guard rails are read in the store transaction that records the
//! run, so two causes at once, in this process or two (the daemon and
//! `keepup actions run`), cannot both pass a cooldown. Reasons and the
//! audit name the program and its number of arguments, never the
//! arguments (a word may carry a token).
//!
//! [`Engine::tick`] starts the scheduled actions that are due, each on a
//! task of its own (each occurrence once: its idempotency key is the
//! action and the occurrence's time, so a restart or a second tick does
//! not repeat it; an occurrence more than [`SCHEDULE_CATCH_UP`] old is
//! not caught up but recorded as missed), and the runs a person
//! confirmed or queued elsewhere ([`Engine::take_requests`] does only
//! those, for the daemon's one-second beat). It also ends what a stopped
//! keepup left behind: a run still `running` past its action's
//! [`longest_run`] (and no engine here running it) as failed, "keepup stopped
//! during the run; outcome unknown", with an audit entry.
//!
//! [`Engine::request`] and [`Engine::wait`] are the command line's side
//! when a daemon holds the store: the run is queued, the daemon takes
//! it, the command line waits for its outcome.
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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use keepup_config::actions::{Action, Level};
use keepup_config::maintenance::Maintenance;
use keepup_config::{Check, Config};
use keepup_model::{CheckId, Clock, Status, Timestamp, format_rfc3339};
use keepup_notify::HttpClientContext;
use keepup_store::{
    ActionRun, ActionUsage, AuditEntry, Decided, NewActionRun, RunEnd, RunOutcome, Store,
    StoreError,
};
use tokio::sync::watch;

/// A scheduled occurrence is run up to this long after its time (keepup
/// was down, or busy); older ones are skipped, since scaling down at
/// 23:00 is wrong at 09:00.
pub const SCHEDULE_CATCH_UP: Duration = Duration::from_secs(3600);

/// How long a run waits for its confirmation before it ends unconfirmed.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(3600);

/// How long a run queued for the daemon ([`Engine::request`]) waits to
/// be taken; later it ends as skipped (its requester gave up waiting).
pub const QUEUE_PICKUP: Duration = Duration::from_secs(60);

/// Past its action's [`longest_run`] and this, a run still recorded as running
/// by no engine of this process was cut short by a keepup that stopped.
const STALE_MARGIN: Duration = Duration::from_secs(60);

/// How far back a scheduled occurrence is looked for, to record one
/// found past the catch-up as missed (minutes).
const MISSED_LOOK_BACK: u32 = 24 * 60;

/// How often [`Engine::wait`] reads the run it waits for.
const WAIT_POLL: Duration = Duration::from_millis(200);

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
    /// The runs this engine is executing, by number: never taken for
    /// runs a stopped keepup left behind, and what [`Engine::idle`]
    /// waits on.
    executing: watch::Sender<HashSet<i64>>,
    /// Per scheduled action, the last occurrence looked at for being
    /// missed, so that the store is asked once per occurrence.
    missed_seen: Mutex<HashMap<String, Timestamp>>,
}

/// What became of a run decided earlier that an engine tried to start.
enum Begun {
    /// This engine started it (as it is now).
    Started(Box<ActionRun>),
    /// It ended instead (skipped at its start).
    Ended,
    /// Another engine started or ended it meanwhile.
    TakenElsewhere,
}

/// What [`Engine::run_with`] does with a run its guard rails let pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Runs it here.
    Run,
    /// Records it as a dry run.
    DryRun,
    /// Queues it for the daemon (`keepup actions run` beside one).
    Queue,
}

/// What became of [`Engine::run_once_for_incident`].
#[derive(Debug)]
pub enum OnceForIncident {
    /// It ran (or waits for its confirmation, or was a dry run): final.
    Run(ActionRun),
    /// A guard rail skipped it: try again later. The skip, when this was
    /// the first (later ones are not recorded).
    Skipped(Option<ActionRun>),
    /// Run already for this incident (an earlier tick, another instance,
    /// before a restart).
    Done,
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
                executing: watch::Sender::new(HashSet::new()),
                missed_seen: Mutex::new(HashMap::new()),
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
        self.run_with(name, cause, Mode::Run, None, None, None)
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
        self.run_with(name, cause, Mode::Run, None, None, Some(inputs))
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
        self.run_with(name, cause, Mode::Run, None, Some(incident), None)
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// Runs action `name` once for incident `incident` of `check` (an
    /// `after_open` trigger). The run's idempotency key is the action and
    /// the incident, taken only by a run that acted, waits for its
    /// confirmation or was a dry run: a second call, a second tick or a
    /// restart then runs nothing more ([`OnceForIncident::Done`]). A run a
    /// guard rail skipped (cooldown, limits, maintenance) does not take it,
    /// so the caller tries again later; the skip is recorded the first time
    /// only (under a key of its own), not at every try.
    pub async fn run_once_for_incident(
        &self,
        name: &str,
        incident: i64,
        check: CheckId,
    ) -> Result<OnceForIncident, EngineError> {
        let action = self
            .action(name)
            .ok_or_else(|| EngineError::UnknownAction(name.to_owned()))?;
        // Also a valid agent request id (letters, digits, `.:_-`).
        let key = format!("{name}:incident:{incident}");
        let skip_key = format!("{key}:skipped");
        // Taken already (before a restart, by another instance): done, and
        // no skip is recorded for the cooldown that run started.
        let taken = key.clone();
        if self.db(move |s| s.action_run_key_taken(&taken)).await? {
            return Ok(OnceForIncident::Done);
        }
        let cause = Cause::Incident { incident, check };
        let actor = cause.actor();
        let keys = (Some(key), Some(skip_key));
        match self
            .record(&action, cause, Mode::Run, keys, Some(incident), None)
            .await?
        {
            // Skipped again (its skip is recorded) or, in a race, run by
            // another instance: the next try tells.
            None => Ok(OnceForIncident::Skipped(None)),
            Some(run) if run.outcome == RunOutcome::Skipped => {
                Ok(OnceForIncident::Skipped(Some(run)))
            }
            Some(run) if run.outcome == RunOutcome::Running => self
                .execute(&action, run, &actor)
                .await
                .map(OnceForIncident::Run),
            Some(run) => Ok(OnceForIncident::Run(run)),
        }
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
        self.run_with(name, cause, Mode::DryRun, None, None, None)
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// [`Engine::run`] for a process that is not the daemon while one
    /// holds the store (`keepup actions run`): through the same guard
    /// rails, but a run they let pass is queued for the daemon, which
    /// runs it as its own user ([`Engine::take_requests`]). Follow it
    /// with [`Engine::wait`].
    pub async fn request(&self, name: &str, cause: Cause) -> Result<ActionRun, EngineError> {
        self.run_with(name, cause, Mode::Queue, None, None, None)
            .await
            .map(|r| r.expect("a run without an idempotency key is always recorded"))
    }

    /// Waits for run `id` (queued, or confirmed, for the daemon) to end,
    /// for at most the daemon's pickup ([`QUEUE_PICKUP`]) and its
    /// action's [`longest_run`]; the run as it stands then. A request the
    /// daemon did not take within the pickup is withdrawn (skipped,
    /// saying so), so that it does not run after the caller gave up.
    pub async fn wait(&self, id: i64) -> Result<ActionRun, EngineError> {
        let started = tokio::time::Instant::now();
        let mut run = self
            .db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))?;
        let limit = self
            .action(&run.action)
            .map_or(keepup_config::actions::MAX_TIMEOUT, |a| longest_run(&a));
        loop {
            let taken = match run.outcome {
                RunOutcome::Queued => false,
                RunOutcome::AwaitingConfirmation if run.answer == Some(true) => false,
                RunOutcome::Running => true,
                _ => return Ok(run),
            };
            let waited = started.elapsed();
            if !taken && waited >= QUEUE_PICKUP {
                if run.outcome == RunOutcome::Queued {
                    let end = RunEnd {
                        outcome: RunOutcome::Skipped,
                        reason: format!(
                            "the daemon did not take the request within {} (is `keepup run` stuck?); not run",
                            keepup_model::text::duration_compact(QUEUE_PICKUP)
                        ),
                        exit_code: None,
                        output: String::new(),
                        attempts: 0,
                        finished_at: self.inner.clock.now_ms(),
                    };
                    self.db(move |s| s.action_run_end_if(id, RunOutcome::Queued, &end))
                        .await?;
                }
                return self
                    .db(move |s| s.action_run(id))
                    .await?
                    .ok_or(EngineError::UnknownRun(id));
            }
            if waited >= QUEUE_PICKUP + limit + STALE_MARGIN {
                return Ok(run);
            }
            tokio::time::sleep(WAIT_POLL).await;
            run = self
                .db(move |s| s.action_run(id))
                .await?
                .ok_or(EngineError::UnknownRun(id))?;
        }
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

    /// Waits until no run this engine started is executing (a test with
    /// a manual clock, a shutdown that lets runs finish).
    pub async fn idle(&self) {
        let mut executing = self.inner.executing.subscribe();
        let _ = executing.wait_for(|runs| runs.is_empty()).await;
    }

    /// One pass: starts the scheduled occurrences that are due (each on
    /// a task of its own, so a long run holds up no other) and records
    /// the one found past [`SCHEDULE_CATCH_UP`] as missed; ends the
    /// questions left unanswered, the requests the daemon never took and
    /// the runs a stopped keepup left running; starts the confirmed and
    /// queued runs. The runs it recorded or started, as they were then.
    pub async fn tick(&self) -> Result<Vec<ActionRun>, EngineError> {
        let now = self.inner.clock.now_ms();
        let catalog = self.catalog();
        let mut out = Vec::new();
        let mut scheduled: Vec<(Arc<Action>, Timestamp)> = Vec::new();
        for action in catalog.actions.values() {
            let Some(s) = &action.triggers.schedule else {
                continue;
            };
            if let Some(at) = s.cron.last_at_or_before(now, &s.timezone, MISSED_LOOK_BACK) {
                scheduled.push((Arc::clone(action), at));
            }
        }
        scheduled.sort_by(|a, b| (&a.0.name, a.1).cmp(&(&b.0.name, b.1)));
        for (action, at) in scheduled {
            // Also a valid agent request id (letters, digits, `.:_-`).
            let key = format!("{}:{}", action.name, format_rfc3339(at));
            if now.saturating_sub(at) <= SCHEDULE_CATCH_UP.as_millis() as i64 {
                let recorded = self
                    .record(
                        &action,
                        Cause::Schedule { at },
                        Mode::Run,
                        (Some(key), None),
                        None,
                        None,
                    )
                    .await?;
                if let Some(run) = recorded {
                    if run.outcome == RunOutcome::Running {
                        self.spawn_execute(Arc::clone(&action), run.clone());
                    }
                    out.push(run);
                }
            } else if let Some(run) = self.record_missed(&action, at, key, now).await? {
                out.push(run);
            }
        }
        for run in self.db(|s| s.action_runs_open()).await? {
            if let Some(r) = self.sweep(run, now).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Starts the runs queued or confirmed since the last pass, each on
    /// a task of its own (the daemon asks every second, so `keepup
    /// actions run` and `confirm` are answered promptly); the runs it
    /// started.
    pub async fn take_requests(&self) -> Result<Vec<ActionRun>, EngineError> {
        let now = self.inner.clock.now_ms();
        let since = now.saturating_sub((CONFIRM_WITHIN + QUEUE_PICKUP).as_millis() as i64);
        let mut out = Vec::new();
        for run in self.db(move |s| s.action_runs_to_start(since)).await? {
            if let Some(r) = self.sweep(run, now).await? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// What becomes of `run`, not over, at `now`: `Some` when this pass
    /// ended or started it.
    async fn sweep(
        &self,
        run: ActionRun,
        now: Timestamp,
    ) -> Result<Option<ActionRun>, EngineError> {
        let age = now.saturating_sub(run.started_at);
        match run.outcome {
            RunOutcome::AwaitingConfirmation
                if run.answer.is_none() && unconfirmed_too_long(&run, now) =>
            {
                self.end_unconfirmed(run.id, now).await.map(Some)
            }
            RunOutcome::AwaitingConfirmation if run.answer == Some(true) => self.take(run).await,
            RunOutcome::Queued if age > QUEUE_PICKUP.as_millis() as i64 => {
                // Nobody took it while its requester waited: it is old
                // news (a daemon that was down, a request that outlived
                // its command line).
                let reason = format!(
                    "the daemon did not take the request within {}; not run",
                    keepup_model::text::duration_compact(QUEUE_PICKUP)
                );
                self.end_stale(&run, RunOutcome::Queued, RunOutcome::Skipped, reason, now)
                    .await
            }
            RunOutcome::Queued => self.take(run).await,
            RunOutcome::Running if !self.executing(run.id) => {
                let limit = self
                    .action(&run.action)
                    .map_or(keepup_config::actions::MAX_TIMEOUT, |a| longest_run(&a));
                if age <= (limit + STALE_MARGIN).as_millis() as i64 {
                    return Ok(None);
                }
                let reason = "keepup stopped during the run; outcome unknown".to_owned();
                self.end_stale(&run, RunOutcome::Running, RunOutcome::Failed, reason, now)
                    .await
            }
            _ => Ok(None),
        }
    }

    /// Ends `run` as `to`, if it is still `from`, with its audit entry.
    async fn end_stale(
        &self,
        run: &ActionRun,
        from: RunOutcome,
        to: RunOutcome,
        reason: String,
        now: Timestamp,
    ) -> Result<Option<ActionRun>, EngineError> {
        let id = run.id;
        let end = RunEnd {
            outcome: to,
            reason: reason.clone(),
            exit_code: None,
            output: String::new(),
            attempts: 0,
            finished_at: now,
        };
        if !self
            .db(move |s| s.action_run_end_if(id, from, &end))
            .await?
        {
            return Ok(None);
        }
        tracing::warn!(action = %run.action, run = id, %reason, "action run ended");
        self.audit(
            "keepup",
            if from == RunOutcome::Running {
                "action.interrupted"
            } else {
                "action.skip"
            },
            &run.action,
            format!("run {id} ({}): {reason}", run.cause_detail),
        )
        .await;
        self.db(move |s| s.action_run(id)).await
    }

    /// Records occurrence `at` of `action`, found past the catch-up and
    /// never run, as a skipped run (once: its key is the occurrence's).
    /// An action that never acted has no occurrence to miss (it was just
    /// configured).
    async fn record_missed(
        &self,
        action: &Action,
        at: Timestamp,
        key: String,
        now: Timestamp,
    ) -> Result<Option<ActionRun>, EngineError> {
        {
            let mut seen = self
                .inner
                .missed_seen
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if seen.get(&action.name) == Some(&at) {
                return Ok(None);
            }
            seen.insert(action.name.clone(), at);
        }
        let Some(schedule) = &action.triggers.schedule else {
            return Ok(None);
        };
        let local = jiff::Timestamp::from_millisecond(at)
            .map(|t| {
                t.to_zoned(schedule.timezone.clone())
                    .strftime("%H:%M")
                    .to_string()
            })
            .unwrap_or_else(|_| format_rfc3339(at));
        let reason = format!(
            "missed: keepup was not running or was busy at {local} {}; an occurrence is run up to {} late",
            schedule.timezone_name,
            keepup_model::text::duration_compact(SCHEDULE_CATCH_UP)
        );
        let cause = Cause::Schedule { at };
        let new = NewActionRun {
            action: action.name.clone(),
            cause: cause.kind().into(),
            cause_detail: cause.detail(),
            started_at: now,
            outcome: RunOutcome::Skipped,
            reason: String::new(),
            idempotency_key: Some(key),
            incident: None,
            decision: None,
        };
        let decided = self
            .db(move |s| {
                s.action_run_decide(&new, |usage| {
                    usage
                        .last_acted
                        .map(|_| (RunOutcome::Skipped, reason, None))
                })
            })
            .await?;
        let Some(d) = decided else {
            return Ok(None);
        };
        self.audit(
            "keepup",
            "action.skip",
            &action.name,
            format!("run {} ({}): {}", d.id, cause.detail(), d.reason),
        )
        .await;
        let id = d.id;
        self.db(move |s| s.action_run(id)).await
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
        self.db(move |s| s.action_run_end_if(id, RunOutcome::AwaitingConfirmation, &end))
            .await?;
        self.db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))
    }

    /// Answers the confirmation of run `id`: yes runs it now (the run as
    /// it ends), no ends it as skipped.
    pub async fn confirm(&self, id: i64, yes: bool, by: &str) -> Result<ActionRun, EngineError> {
        let run = self.answer(id, yes, by).await?;
        if yes {
            self.start_confirmed(run).await
        } else {
            Ok(run)
        }
    }

    /// Records the answer to run `id`'s confirmation without running it
    /// (`keepup actions confirm` beside a daemon, which starts it: follow
    /// with [`Engine::wait`]); a no ends it as skipped.
    pub async fn answer(&self, id: i64, yes: bool, by: &str) -> Result<ActionRun, EngineError> {
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
        Ok(run)
    }

    /// Takes `run` (confirmed, or queued) and runs it on a task of its
    /// own; `Some` (as it started) when this engine took it.
    async fn take(&self, run: ActionRun) -> Result<Option<ActionRun>, EngineError> {
        let Some(action) = self.startable(&run).await? else {
            return self.db(move |s| s.action_run(run.id)).await;
        };
        let id = run.id;
        match self.begin(&action, run).await? {
            Begun::Started(run) => {
                self.spawn_execute(action, (*run).clone());
                Ok(Some(*run))
            }
            Begun::Ended => self.db(move |s| s.action_run(id)).await,
            Begun::TakenElsewhere => Ok(None),
        }
    }

    /// Marks `run` (confirmed, or queued) as running. A scaling step is
    /// planned again first, from the level as it is now: the one planned
    /// when the run was decided may be an hour old, and the size sent is
    /// absolute. A step no longer possible (at a bound, another run moving
    /// the level) ends the run as skipped, saying why.
    async fn begin(&self, action: &Action, mut run: ActionRun) -> Result<Begun, EngineError> {
        let (id, from) = (run.id, run.outcome);
        let one_at_a_time = self.inner.deciding.lock().await;
        if let Some(step) = &action.scale {
            match self.plan_level(&self.catalog(), step).await? {
                Ok(planned) => {
                    let mut decision = match run.decision.take() {
                        Some(serde_json::Value::Object(map)) => map,
                        _ => serde_json::Map::new(),
                    };
                    match serde_json::to_value(&planned) {
                        Ok(v) => {
                            decision.insert("level".into(), v);
                        }
                        Err(e) => return Err(EngineError::Task(e.to_string())),
                    }
                    run.decision = Some(serde_json::Value::Object(decision));
                }
                Err(why) => {
                    let end = RunEnd {
                        outcome: RunOutcome::Skipped,
                        reason: format!("at its start: {why}"),
                        exit_code: None,
                        output: String::new(),
                        attempts: 0,
                        finished_at: self.inner.clock.now_ms(),
                    };
                    self.db(move |s| s.action_run_end_if(id, from, &end))
                        .await?;
                    return Ok(Begun::Ended);
                }
            }
        }
        let now = self.inner.clock.now_ms();
        let decision = run.decision.clone().filter(|_| action.scale.is_some());
        if !self
            .db(move |s| s.action_run_start(id, now, decision.as_ref()))
            .await?
        {
            return Ok(Begun::TakenElsewhere);
        }
        if let Some((level, _, _)) = scale::target_of(run.decision.as_ref()) {
            self.moving_lock().insert(level, id);
        }
        drop(one_at_a_time);
        run.started_at = now;
        run.outcome = RunOutcome::Running;
        Ok(Begun::Started(Box::new(run)))
    }

    async fn start_confirmed(&self, run: ActionRun) -> Result<ActionRun, EngineError> {
        let id = run.id;
        let Some(action) = self.startable(&run).await? else {
            return self
                .db(move |s| s.action_run(id))
                .await?
                .ok_or(EngineError::UnknownRun(id));
        };
        match self.begin(&action, run).await? {
            Begun::Started(run) => {
                let actor = actor_of(&run);
                self.execute(&action, *run, &actor).await
            }
            // Skipped at its start, or another engine started it.
            Begun::Ended | Begun::TakenElsewhere => self
                .db(move |s| s.action_run(id))
                .await?
                .ok_or(EngineError::UnknownRun(id)),
        }
    }

    /// The action of `run`, decided earlier, if it may still start: not
    /// removed from the configuration since, and (for a confirmed run)
    /// no maintenance window opened while the question waited. `None`
    /// when it was ended as skipped instead.
    async fn startable(&self, run: &ActionRun) -> Result<Option<Arc<Action>>, EngineError> {
        let id = run.id;
        let now = self.inner.clock.now_ms();
        let from = run.outcome;
        let skip = |reason: String| RunEnd {
            outcome: RunOutcome::Skipped,
            reason,
            exit_code: None,
            output: String::new(),
            attempts: 0,
            finished_at: now,
        };
        let Some(action) = self.action(&run.action) else {
            let end = skip("the action is no longer in the configuration".into());
            self.db(move |s| s.action_run_end_if(id, from, &end))
                .await?;
            return Ok(None);
        };
        if from == RunOutcome::AwaitingConfirmation && !action.guard.during_maintenance {
            let cause = Cause::Manual {
                by: run.answered_by.clone().unwrap_or_default(),
            };
            if let Some(why) = self
                .in_maintenance(&self.catalog(), &action, &cause, now)
                .await?
            {
                let end = skip(format!("confirmed, but {why}"));
                self.db(move |s| s.action_run_end_if(id, from, &end))
                    .await?;
                return Ok(None);
            }
        }
        Ok(Some(action))
    }

    /// The guard rails, the record, the run. `None`: `key` was recorded
    /// already (that occurrence happened).
    async fn run_with(
        &self,
        name: &str,
        cause: Cause,
        mode: Mode,
        key: Option<String>,
        incident: Option<i64>,
        inputs: Option<MeasureInputs>,
    ) -> Result<Option<ActionRun>, EngineError> {
        let action = self
            .action(name)
            .ok_or_else(|| EngineError::UnknownAction(name.to_owned()))?;
        let actor = cause.actor();
        let Some(run) = self
            .record(&action, cause, mode, (key, None), incident, inputs)
            .await?
        else {
            return Ok(None);
        };
        if run.outcome == RunOutcome::Running {
            return self.execute(&action, run, &actor).await.map(Some);
        }
        Ok(Some(run))
    }

    /// The guard rails and the record (with the audit entry of a run
    /// that does not run here); the run as recorded, `None` when `key`
    /// was recorded already. A skipped run is recorded under `skip_key`
    /// instead, when given (`None` when that was recorded already).
    async fn record(
        &self,
        action: &Arc<Action>,
        cause: Cause,
        mode: Mode,
        (key, skip_key): (Option<String>, Option<String>),
        incident: Option<i64>,
        inputs: Option<MeasureInputs>,
    ) -> Result<Option<ActionRun>, EngineError> {
        let catalog = self.catalog();
        let now = self.inner.clock.now_ms();
        // A window is not something two runs race for: read before the
        // transaction that decides the rest.
        let maintenance = if action.guard.during_maintenance {
            None
        } else {
            self.in_maintenance(&catalog, action, &cause, now).await?
        };
        // One decision at a time in this engine: a scaling step is planned
        // from the level before the transaction, and the level is marked
        // as moving right after it.
        let one_at_a_time = self.inner.deciding.lock().await;
        let planned = match &action.scale {
            Some(step) => Some(self.plan_level(&catalog, step).await?),
            None => None,
        };
        let level = planned
            .as_ref()
            .and_then(|p| p.as_ref().ok())
            .map(|step| step.name.clone());
        let new = NewActionRun {
            action: action.name.clone(),
            cause: cause.kind().into(),
            cause_detail: cause.detail(),
            started_at: now,
            outcome: RunOutcome::Running,
            reason: String::new(),
            idempotency_key: key,
            incident: incident.or(match &cause {
                Cause::Incident { incident, .. } => Some(*incident),
                _ => None,
            }),
            decision: None,
        };
        let a = Arc::clone(action);
        let decided = self
            .db(move |s| {
                s.action_run_decide_keyed(&new, skip_key.as_deref(), |usage| {
                    let (mut outcome, mut reason) = match maintenance {
                        Some(why) => (RunOutcome::Skipped, why),
                        None => decide(&a, usage, mode, now),
                    };
                    let mut decision = Decision {
                        measure: inputs,
                        level: None,
                    };
                    if outcome != RunOutcome::Skipped {
                        match planned {
                            Some(Ok(step)) => {
                                if outcome != RunOutcome::Running {
                                    reason = format!(
                                        "{reason} ({} {} → {})",
                                        step.name, step.from, step.to
                                    );
                                }
                                decision.level = Some(step);
                            }
                            Some(Err(why)) => {
                                outcome = RunOutcome::Skipped;
                                reason = why;
                            }
                            None => {}
                        }
                    }
                    Some((outcome, reason, decision.to_json()))
                })
            })
            .await?;
        let Some(Decided {
            id,
            outcome,
            reason,
        }) = decided
        else {
            return Ok(None);
        };
        if outcome == RunOutcome::Running
            && let Some(level) = level
        {
            self.moving_lock().insert(level, id);
        }
        drop(one_at_a_time);
        let run = self
            .db(move |s| s.action_run(id))
            .await?
            .ok_or(EngineError::UnknownRun(id))?;
        let actor = cause.actor();
        let (word, said) = match outcome {
            RunOutcome::Running => return Ok(Some(run)),
            RunOutcome::AwaitingConfirmation => (
                "action.ask",
                format!("run {id} ({}) waits for a confirmation", cause.detail()),
            ),
            RunOutcome::Queued => (
                "action.request",
                format!("run {id} ({}) is queued for the daemon", cause.detail()),
            ),
            RunOutcome::DryRun => (
                "action.dry_run",
                format!("run {id} ({}): {reason}", cause.detail()),
            ),
            other => {
                tracing::info!(action = %action.name, run = id, outcome = other.as_str(), %reason, "action not run");
                (
                    "action.skip",
                    format!("run {id} ({}): {reason}", cause.detail()),
                )
            }
        };
        self.audit(&actor, word, &action.name, said).await;
        Ok(Some(run))
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

    /// Whether this engine is executing run `id`.
    fn executing(&self, id: i64) -> bool {
        self.inner.executing.borrow().contains(&id)
    }

    /// [`Engine::execute`] on a task of its own.
    fn spawn_execute(&self, action: Arc<Action>, run: ActionRun) {
        // Marked before the task starts, so a pass right after sees it.
        let mark = Executing::mark(self, run.id);
        let engine = self.clone();
        tokio::spawn(async move {
            let id = run.id;
            if let Err(e) = engine.execute_marked(&action, run).await {
                tracing::error!(action = %action.name, run = id, error = %e, "an action run could not be recorded");
            }
            drop(mark);
        });
    }

    /// Runs a recorded run and records how it ended.
    async fn execute(
        &self,
        action: &Action,
        run: ActionRun,
        actor: &str,
    ) -> Result<ActionRun, EngineError> {
        let _mark = Executing::mark(self, run.id);
        self.execute_as(action, run, actor).await
    }

    async fn execute_marked(
        &self,
        action: &Action,
        run: ActionRun,
    ) -> Result<ActionRun, EngineError> {
        let actor = actor_of(&run);
        self.execute_as(action, run, &actor).await
    }

    async fn execute_as(
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

/// Run `id` marked as executing in its engine while this lives (also
/// when the task running it is cancelled).
struct Executing {
    inner: Arc<Inner>,
    id: i64,
}

impl Executing {
    fn mark(engine: &Engine, id: i64) -> Self {
        engine.inner.executing.send_modify(|s| {
            s.insert(id);
        });
        Self {
            inner: Arc::clone(&engine.inner),
            id,
        }
    }
}

impl Drop for Executing {
    fn drop(&mut self) {
        self.inner.executing.send_modify(|s| {
            s.remove(&self.id);
        });
    }
}

/// Whether `action` may run now for `mode`, given its `usage`: the
/// outcome it starts with and why. Read in the transaction that records
/// it ([`Store::action_run_decide`]).
fn decide(
    action: &Action,
    usage: &ActionUsage,
    mode: Mode,
    now: Timestamp,
) -> (RunOutcome, String) {
    let guard = &action.guard;
    if let Some(last) = usage.last_acted {
        let until = last.saturating_add(guard.cooldown.as_millis() as i64);
        if now < until {
            return (
                RunOutcome::Skipped,
                format!(
                    "cooldown: it last ran at {}, not again before {}",
                    format_rfc3339(last),
                    format_rfc3339(until)
                ),
            );
        }
    }
    if let Some(max) = guard.max_per_hour
        && usage.last_hour >= max
    {
        return (
            RunOutcome::Skipped,
            format!(
                "max_per_hour: it ran {} times in the last hour",
                usage.last_hour
            ),
        );
    }
    if let Some(max) = guard.max_per_day
        && usage.last_day >= max
    {
        return (
            RunOutcome::Skipped,
            format!(
                "max_per_day: it ran {} times in the last day",
                usage.last_day
            ),
        );
    }
    if mode == Mode::DryRun || guard.dry_run {
        return (
            RunOutcome::DryRun,
            format!("dry run: would run {}", exec::describe(action)),
        );
    }
    if guard.confirm {
        return (
            RunOutcome::AwaitingConfirmation,
            format!(
                "waiting for a confirmation (keepup actions confirm RUN) before it runs {}",
                exec::describe(action)
            ),
        );
    }
    if mode == Mode::Queue {
        return (RunOutcome::Queued, String::new());
    }
    (RunOutcome::Running, String::new())
}

/// Who the audit names for `run`, decided earlier: who confirmed it, who
/// asked for it by hand (`by cli:ops`), else keepup.
fn actor_of(run: &ActionRun) -> String {
    if let Some(by) = &run.answered_by {
        return by.clone();
    }
    match run.cause_detail.strip_prefix("by ") {
        Some(by) if run.cause == "manual" => by.to_owned(),
        _ => "keepup".into(),
    }
}

/// Whether `run`, still waiting, has waited longer than [`CONFIRM_WITHIN`].
fn unconfirmed_too_long(run: &ActionRun, now: Timestamp) -> bool {
    now.saturating_sub(run.started_at) > CONFIRM_WITHIN.as_millis() as i64
}
