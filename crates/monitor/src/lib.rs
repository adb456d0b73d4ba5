//! keepup's monitor: the loop that runs every check on time and remembers
//! what it saw.
//!
//! [`Monitor`] wires the parts: the [`scheduler`] (slots, concurrency,
//! no overlap), the probe executor, the [`recorder`] (current states, batched
//! writes to the store), [`heartbeat`]s (push checks) and periodic
//! compaction of the store (rollups, retention), the [`state`] machine and
//! [`incidents`], [`alerting`], and the SLA [`reports`] kept and mailed
//! when a contract's period closes. It is what `keepup run` and `keepup
//! demo` start.
//!
//! What it learns is kept in the store, so that a restart (`kill -9`, a
//! reboot) carries on rather than starting over: current states and open
//! incidents, since when each heartbeat is watched, escalations and the
//! groups waiting out their window, and (through the probes' durable
//! memory, set once per `ProbeContext` by [`Monitor::start`]) page
//! baselines, registry answers and the RDAP bootstrap.

pub mod alerting;
pub mod backup;
pub mod clock;
pub mod drill;
pub mod forecast;
pub mod heartbeat;
pub mod host;
pub mod incidents;
mod measures;
pub mod peaks;
pub mod recorder;
pub mod remediation;
pub mod reports;
pub mod scheduler;
pub mod sla;
pub mod slots;
pub mod state;

use heartbeat::{HeartbeatBook, PingError};
use incidents::{IncidentEngine, IncidentEvent};
use keepup_config::{Check, CheckSpec, Config, PassiveSpec, ProbeSpec};
use keepup_model::{CheckId, Clock, Outcome, Status, Timestamp};
use keepup_probe::ProbeContext;
use keepup_store::{CheckMeta, PingKind, Retention, Store};
use recorder::{CurrentState, Recorder};
use scheduler::{Executor, SchedulerHandle};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// How often the store is compacted (rollups built, old rows deleted).
const COMPACT_EVERY: Duration = Duration::from_secs(300);
/// How often closed SLA periods are looked for (a report goes out within
/// a minute of its period's end plus `report_delay`).
const CLOSE_PERIODS_EVERY: Duration = Duration::from_secs(60);

/// Failures that prevent the monitor from starting.
#[derive(Debug, thiserror::Error)]
pub enum MonitorError {
    /// The store refused to register the configured checks.
    #[error("cannot register checks in the store: {0}")]
    Store(#[from] keepup_store::StoreError),
    /// A blocking store task panicked or was cancelled.
    #[error("store task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What changed in a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Checks that are new.
    pub added: usize,
    /// Checks whose settings changed (rescheduled, history kept).
    pub changed: usize,
    /// Checks no longer configured (history kept in the store).
    pub removed: usize,
    /// Checks kept as they were, state included.
    pub unchanged: usize,
}

/// The monitor's own health, for `/healthz` and the benchmark.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Health {
    /// Configured checks.
    pub checks: usize,
    /// Runs since start.
    pub runs: u64,
    /// Scheduling lag p50 / p99 / max over recent runs, ms.
    pub lag_ms: Option<(f64, f64, f64)>,
    /// Current error writing to the store, if any.
    pub store_error: Option<String>,
    /// Results dropped because the store failed for too long.
    pub results_dropped: u64,
    /// keepup cannot reach any of its connectivity references.
    pub offline: bool,
    /// How many checks are in each status.
    pub by_status: BTreeMap<String, usize>,
}

/// The running monitor.
pub struct Monitor {
    config: Mutex<Arc<Config>>,
    scheduler: SchedulerHandle,
    recorder: Arc<Recorder>,
    heartbeats: Arc<HeartbeatBook>,
    hosts: Arc<host::HostBook>,
    /// Where agents' reports are judged into results.
    verdicts: host::Verdicts,
    backups: Arc<backup::BackupBook>,
    sla: Arc<sla::SlaBook>,
    drills: Arc<drill::DrillBook>,
    backup_task: tokio::task::JoinHandle<()>,
    drill_task: tokio::task::JoinHandle<()>,
    pull_task: tokio::task::JoinHandle<()>,
    store: Store,
    clock: Arc<dyn Clock>,
    flush: mpsc::UnboundedSender<recorder::FlushRequest>,
    recorder_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    compactor_task: tokio::task::JoinHandle<()>,
    report_task: tokio::task::JoinHandle<()>,
    engine: Arc<Mutex<IncidentEngine>>,
    open_incidents: incidents::OpenIncidentsSlot,
    events: tokio::sync::broadcast::Sender<IncidentEvent>,
    alerter: Arc<alerting::Alerter>,
    alerting_task: tokio::task::JoinHandle<()>,
    /// Runs the `[[action]]`s: remediations (through the alerter) and
    /// scheduled ones (ticked by `actions_task`).
    actions: Arc<keepup_actions::Engine>,
    actions_task: tokio::task::JoinHandle<()>,
    /// Replaced on reload, so a changed URL or period applies at once.
    deadman_task: Mutex<tokio::task::JoinHandle<()>>,
    /// The executor's probe context (its clones share the settings a
    /// reload changes: `[dns] resolve_hosts`).
    probes: ProbeContext,
}

impl Monitor {
    /// Registers the configured checks in the store, seeds current states
    /// from it, and starts scheduling. Must be called inside a tokio runtime.
    pub async fn start(
        config: Arc<Config>,
        store: Store,
        probes: ProbeContext,
        clock: Arc<dyn Clock>,
    ) -> Result<Monitor, MonitorError> {
        let checks = arc_checks(&config);
        let s = store.clone();
        let metas = check_metas(&checks);
        let started = clock.now_ms();
        let latest = tokio::task::spawn_blocking(move || {
            s.register_checks(&metas)?;
            // A crash left spans open: the time since is unknown.
            s.end_open_spans(started)?;
            s.latest()
        })
        .await??;
        let backups = Arc::new(backup::BackupBook::default());
        backups.configure(&config);
        for l in &latest {
            if let Some(c) = config.find_check(l.meta.id.as_str())
                && matches!(&c.spec, CheckSpec::Passive(PassiveSpec::Backup(b)) if b.job != keepup_config::BackupJob::Freshness)
            {
                backups.seed(l.meta.id.clone(), l.outcome.clone());
            }
        }
        let recorder = Arc::new(Recorder::default());
        recorder.expect_references(references(&config));
        recorder.seed(latest.into_iter().map(|l| {
            (
                l.meta.id.clone(),
                CurrentState {
                    at: l.at,
                    since: l.since,
                    outcome: l.outcome,
                },
            )
        }));
        let heartbeats = Arc::new(HeartbeatBook::default());
        heartbeats.configure(&checks, &store, clock.now_ms());
        let hosts = Arc::new(host::HostBook::default());
        hosts.configure(&config, &checks, &store, clock.now_ms());
        recorder
            .forecasts
            .configure(&checks, &store, clock.now_ms());
        // Probe steps that compute share a pool sized to the cores, apart
        // from the scheduler's large limit on probes waiting on I/O.
        probes.limit_cpu_work(config.scheduler.cpu_pool_size());
        probes.resolve_hosts_as(&config.dns);
        probes.remember_in(Arc::new(StoreMemory {
            store: store.clone(),
            clock: clock.clone(),
        }));

        let sla = Arc::new(sla::SlaBook::new(store.clone(), config.clone()));
        let drills = Arc::new(drill::DrillBook::new(store.clone(), config.clone()));
        let scheduler_stats = Arc::new(std::sync::OnceLock::new());
        let executor = Arc::new(CheckExecutor {
            probes: probes.clone(),
            heartbeats: heartbeats.clone(),
            hosts: hosts.clone(),
            backups: backups.clone(),
            sla: sla.clone(),
            drills: drills.clone(),
            clock: clock.clone(),
            recorder: recorder.clone(),
            scheduler_stats: scheduler_stats.clone(),
            store: store.clone(),
        });
        let (sink, results) = mpsc::channel(4096);
        let (flush, flush_rx) = mpsc::unbounded_channel();
        let s = store.clone();
        let c = checks.clone();
        let maintenance = config.maintenance.clone();
        let remediated = remediation::remediated_checks(&config);
        let engine = tokio::task::spawn_blocking(move || {
            IncidentEngine::resume(s, &c).map(|mut e| {
                e.configure(&c, maintenance);
                e.set_remediated(remediated);
                e
            })
        })
        .await??;
        let open_incidents = engine.published();
        let engine = Arc::new(Mutex::new(engine));
        let (events, _) = tokio::sync::broadcast::channel(4096);
        // Subscribed before the first check runs, so no event is missed.
        let alerter = alerting::Alerter::new(
            store.clone(),
            clock.clone(),
            config.clone(),
            keepup_notify::HttpClientContext::new(),
        );
        let actions = Arc::new(keepup_actions::Engine::new(
            &config,
            store.clone(),
            clock.clone(),
            keepup_notify::HttpClientContext::new(),
        ));
        alerter.remediate_with(actions.clone());
        {
            let (r, c, a, s) = (
                recorder.clone(),
                config.clone(),
                actions.clone(),
                store.clone(),
            );
            tokio::task::spawn_blocking(move || r.measures.configure(&c, a, &s)).await?;
        }
        let actions_task = tokio::spawn(actions_loop(actions.clone()));
        let alerting_task = tokio::spawn(alerting::run(alerter.clone(), events.subscribe()));
        let verdict_sink = sink.clone();
        let scheduler = scheduler::spawn(
            checks,
            executor,
            sink,
            clock.clone(),
            // The daemon raised the soft limit to the hard one before this.
            config
                .scheduler
                .in_flight_cap(keepup_config::descriptors::soft_limit().unwrap_or(1024)),
        );
        let _ = scheduler_stats.set(scheduler.stats().clone());
        let deadman_task = tokio::spawn(dead_mans_switch(config.clone(), recorder.clone()));
        let backup_task = tokio::spawn(backup::BackupRunner::run(
            backups.clone(),
            scheduler.clone(),
            clock.clone(),
        ));
        let drill_task = tokio::spawn(drill::DrillRunner::run(
            drills.clone(),
            scheduler.clone(),
            clock.clone(),
        ));
        let downstream = recorder::Downstream {
            engine: engine.clone(),
            scheduler: scheduler.clone(),
            events: events.clone(),
        };
        let recorder_task = tokio::spawn(recorder::run(
            recorder.clone(),
            store.clone(),
            results,
            flush_rx,
            downstream,
        ));
        let compactor_task = tokio::spawn(compact_loop(
            store.clone(),
            clock.clone(),
            retention(&config),
        ));
        let report_task = tokio::spawn(report_loop(store.clone(), clock.clone(), sla.clone()));
        let verdicts = host::Verdicts {
            sink: verdict_sink,
            recorder: recorder.clone(),
            store: store.clone(),
            flush: flush.clone(),
            scheduler: scheduler.clone(),
            runs_asked: Default::default(),
        };
        let pull_task = tokio::spawn(host::pull_loop(
            hosts.clone(),
            store.clone(),
            clock.clone(),
            verdicts.clone(),
        ));
        Ok(Monitor {
            config: Mutex::new(config),
            scheduler,
            recorder,
            heartbeats,
            hosts,
            verdicts,
            backups,
            sla,
            drills,
            backup_task,
            drill_task,
            pull_task,
            store,
            clock,
            flush,
            recorder_task: Mutex::new(Some(recorder_task)),
            compactor_task,
            report_task,
            engine,
            open_incidents,
            events,
            alerter,
            alerting_task,
            actions,
            actions_task,
            deadman_task: Mutex::new(deadman_task),
            probes,
        })
    }

    /// Applies a new configuration without losing the state or history of
    /// unchanged checks.
    pub async fn reload(&self, new: Arc<Config>) -> Result<ReloadSummary, MonitorError> {
        let old = self.config();
        let old_fp: HashMap<&CheckId, u64> =
            old.checks().map(|c| (&c.id, c.fingerprint())).collect();
        let mut summary = ReloadSummary::default();
        for c in new.checks() {
            match old_fp.get(&c.id) {
                None => summary.added += 1,
                Some(fp) if *fp == c.fingerprint() => summary.unchanged += 1,
                Some(_) => summary.changed += 1,
            }
        }
        summary.removed = old
            .checks()
            .filter(|c| new.find_check(c.id.as_str()).is_none())
            .count();
        let checks = arc_checks(&new);
        let s = self.store.clone();
        let metas = check_metas(&checks);
        tokio::task::spawn_blocking(move || s.register_checks(&metas)).await??;
        self.heartbeats
            .configure(&checks, &self.store, self.clock.now_ms());
        self.hosts
            .configure(&new, &checks, &self.store, self.clock.now_ms());
        self.recorder
            .forecasts
            .configure(&checks, &self.store, self.clock.now_ms());
        self.backups.configure(&new);
        self.sla.configure(new.clone());
        self.drills.configure(new.clone());
        if let Ok(mut e) = self.engine.lock() {
            e.configure(&checks, new.maintenance.clone());
            e.set_remediated(remediation::remediated_checks(&new));
        }
        self.actions.reconfigure(&new);
        {
            let (r, c, a, s) = (
                self.recorder.clone(),
                new.clone(),
                self.actions.clone(),
                self.store.clone(),
            );
            tokio::task::spawn_blocking(move || r.measures.configure(&c, a, &s)).await?;
        }
        self.alerter.configure(new.clone());
        self.probes.resolve_hosts_as(&new.dns);
        {
            let mut deadman = self.deadman_task.lock().unwrap_or_else(|p| p.into_inner());
            deadman.abort();
            *deadman = tokio::spawn(dead_mans_switch(new.clone(), self.recorder.clone()));
        }
        let ids: std::collections::HashSet<CheckId> = checks.iter().map(|c| c.id.clone()).collect();
        self.recorder.retain(|id| ids.contains(id));
        self.recorder.expect_references(references(&new));
        self.scheduler.reload(checks);
        if let Ok(mut c) = self.config.lock() {
            *c = new;
        }
        Ok(summary)
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Records a heartbeat ping (persisted before returning) and re-evaluates
    /// its check at once.
    pub async fn ping(&self, token: &str, kind: PingKind) -> Result<CheckId, PingError> {
        let book = self.heartbeats.clone();
        let store = self.store.clone();
        let token = token.to_owned();
        let now = self.clock.now_ms();
        let id = tokio::task::spawn_blocking(move || book.ping(&token, kind, &store, now))
            .await
            .map_err(|e| PingError::Store(e.to_string()))??;
        self.scheduler.run_now(id.clone());
        Ok(id)
    }

    /// Takes a report pushed by `agent` (`body`, JSON; the caller matched
    /// the agent's token first), stored before returning; the agent's host
    /// checks' verdicts on it are queued as results at its collection time.
    pub async fn agent_report(
        &self,
        agent: &keepup_config::AgentSpec,
        body: bytes::Bytes,
    ) -> Result<host::Accepted, host::ReportError> {
        let book = self.hosts.clone();
        let store = self.store.clone();
        let agent = agent.clone();
        let now = self.clock.now_ms();
        self.take_report(move || book.receive(&agent, &body, &store, now))
            .await
    }

    /// Takes a report fetched from a pulled agent.
    pub async fn pulled_report(
        &self,
        agent: &keepup_config::AgentSpec,
        report: keepup_model::host::HostReport,
    ) -> Result<host::Accepted, host::ReportError> {
        let book = self.hosts.clone();
        let store = self.store.clone();
        let agent = agent.clone();
        let now = self.clock.now_ms();
        self.take_report(move || book.accept(&agent, report, &store, now))
            .await
    }

    /// Whether action requests wait for `agent` (the answer to its
    /// report says so); a store error is logged and reads as none.
    pub async fn agent_actions_pending(&self, agent: &str) -> bool {
        let (store, name) = (self.store.clone(), agent.to_owned());
        match tokio::task::spawn_blocking(move || store.agent_actions_pending(&name)).await {
            Ok(Ok(pending)) => pending,
            Ok(Err(e)) => {
                tracing::warn!(agent, error = %e, "cannot look for pending agent actions");
                false
            }
            Err(e) => {
                tracing::warn!(agent, error = %e, "cannot look for pending agent actions");
                false
            }
        }
    }

    /// A pushing agent's action exchange: records the `outcomes` it sent,
    /// then returns the requests still pending for it, and when (by the
    /// monitor's clock: their `not_after` is on it).
    pub async fn exchange_agent_actions(
        &self,
        agent: &str,
        outcomes: Vec<keepup_model::host::ActionOutcome>,
    ) -> Result<(Vec<keepup_model::host::ActionRequest>, Timestamp), keepup_store::StoreError> {
        let (store, name) = (self.store.clone(), agent.to_owned());
        let now = self.clock.now_ms();
        tokio::task::spawn_blocking(move || host::exchange_actions(&store, &name, &outcomes, now))
            .await
            .map_err(|e| keepup_store::StoreError::Task(e.to_string()))?
            .map(|requests| (requests, now))
    }

    /// Notes a failed pull of `agent` on its checks.
    pub fn agent_pull_failed(&self, agent: &str, why: String) {
        for id in self.hosts.pull_failed(agent, why) {
            self.scheduler.run_now(id);
        }
    }

    /// The agents' book (latest reports), for the pull loop and the web.
    pub fn hosts(&self) -> Arc<host::HostBook> {
        self.hosts.clone()
    }

    /// Takes a report (`accept`, blocking) and queues its verdicts, in a
    /// task of its own: once its sequence number is stored, cancelling
    /// the caller (a request timed out, a client gone) must not lose its
    /// verdicts, since a re-send is a duplicate (review 31 #4).
    async fn take_report(
        &self,
        accept: impl FnOnce() -> Result<host::Accepted, host::ReportError> + Send + 'static,
    ) -> Result<host::Accepted, host::ReportError> {
        let verdicts = self.verdicts.clone();
        tokio::spawn(async move {
            let accepted = tokio::task::spawn_blocking(accept)
                .await
                .map_err(|e| host::ReportError::Store(e.to_string()))??;
            if let host::Accepted::New(judged) = &accepted {
                verdicts.record(judged.clone()).await;
            }
            Ok(accepted)
        })
        .await
        .map_err(|e| host::ReportError::Store(e.to_string()))?
    }

    /// Runs a backup job of `plan` now (as its schedule would), records
    /// the result and has its check evaluated. None if there is no such
    /// plan.
    pub async fn run_backup_job(
        &self,
        plan: &str,
        job: keepup_config::BackupJob,
    ) -> Option<Outcome> {
        let plan = self.backups.plans().iter().find(|p| p.id == plan)?.clone();
        let fresh = keepup_config::backup_check_id(&plan, keepup_config::BackupJob::Freshness);
        let (id, outcome) = tokio::task::spawn_blocking(move || backup::run_job(&plan, job))
            .await
            .ok()?;
        let outcome = self.backups.record_job(job, id.clone(), outcome);
        self.scheduler.run_now(id);
        if job == keepup_config::BackupJob::Run {
            self.scheduler.run_now(fresh);
        }
        Some(outcome)
    }

    /// Runs a drill of recovery plan `plan` now, as its `drill_schedule`
    /// would (on a blocking thread), and has its `dr-<plan>` check
    /// evaluated when it ends. `None` when there is no such plan or this
    /// daemon is drilling it already.
    pub async fn run_drill(
        &self,
        plan: &str,
    ) -> Option<Result<keepup_recovery::RunReport, keepup_recovery::EngineError>> {
        let config = self.drills.config();
        let check = keepup_config::drill_check_id(config.recovery_plan(plan)?);
        let (book, id) = (self.drills.clone(), plan.to_owned());
        let result = tokio::task::spawn_blocking(move || book.run_drill(&id))
            .await
            .ok()
            .flatten();
        self.scheduler.run_now(check);
        result
    }

    /// Acknowledges open incident `id` for `by`, as `keepup ack` does: the
    /// escalation clock reads acknowledgements from the store, so the next
    /// level and reminders stop. False when it is unknown, resolved or
    /// acknowledged already.
    pub async fn acknowledge_incident(&self, id: i64, by: &str) -> Result<bool, MonitorError> {
        let store = self.store.clone();
        let (now, by) = (self.clock.now_ms(), by.to_owned());
        Ok(tokio::task::spawn_blocking(move || store.acknowledge_incident(id, now, &by)).await??)
    }

    /// Resolves open incident `id` by hand for `by`, with a note, through
    /// the incident engine (which holds the open incidents): the resolution
    /// is announced like a recovery (escalation stops, the channels told
    /// get the resolved notice) and the incidents it caused are run again
    /// to see whether they are outages of their own. False when there is
    /// no such open incident.
    pub async fn resolve_incident(
        &self,
        id: i64,
        by: &str,
        note: &str,
    ) -> Result<bool, MonitorError> {
        let engine = self.engine.clone();
        let (now, by, note) = (self.clock.now_ms(), by.to_owned(), note.to_owned());
        let resolved = tokio::task::spawn_blocking(move || {
            let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            engine.resolve_by_hand(id, now, &by, &note)
        })
        .await??;
        let Some((event, children)) = resolved else {
            return Ok(false);
        };
        tracing::info!(incident = id, "incident resolved by hand");
        let _ = self.events.send(event);
        for child in children {
            self.scheduler.run_now(child);
        }
        Ok(true)
    }

    /// Adopts the hand resolutions `keepup resolve` wrote to the store
    /// beside this daemon (it signals the daemon afterwards): each is
    /// announced and its consequences run again as when resolved here.
    /// Returns how many were adopted.
    pub async fn adopt_store_resolutions(&self) -> Result<usize, MonitorError> {
        let engine = self.engine.clone();
        let (events, children) = tokio::task::spawn_blocking(move || {
            let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
            engine.adopt_store_resolutions()
        })
        .await??;
        let n = events.len();
        for event in events {
            if let IncidentEvent::Resolved { incident, .. } = &event {
                tracing::info!(
                    incident = incident.id,
                    "incident resolved by hand from the command line"
                );
            }
            let _ = self.events.send(event);
        }
        for child in children {
            self.scheduler.run_now(child);
        }
        Ok(n)
    }

    /// Current state of every check that has run, as a copy of its own.
    pub fn current(&self) -> HashMap<CheckId, CurrentState> {
        self.recorder.current()
    }

    /// Current state of every check that has run, shared with the
    /// recorder: what pages and API answers read on every request.
    pub fn current_shared(&self) -> Arc<recorder::CurrentStates> {
        self.recorder.current_shared()
    }

    /// The number of each check's open incident, as the incident engine
    /// last committed them (no store read).
    pub fn open_incidents(&self) -> Arc<incidents::OpenIncidents> {
        self.open_incidents
            .lock()
            .map(|o| o.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The monitor's own health.
    pub fn health(&self) -> Health {
        let current = self.recorder.current_shared();
        let config = self.config();
        let mut by_status = BTreeMap::new();
        for c in config.checks() {
            let s = recorder::status_of(current.get(&c.id).map(|s| &**s));
            *by_status.entry(s.as_str().to_owned()).or_insert(0) += 1;
        }
        Health {
            checks: config.checks().count(),
            runs: self.scheduler.stats().runs(),
            lag_ms: self.scheduler.stats().lag_percentiles(),
            store_error: self.recorder.store_error(),
            results_dropped: self.recorder.dropped(),
            offline: self.recorder.offline(),
            by_status,
        }
    }

    /// Incident events as they happen (opened, resolved, released,
    /// flapping), for the notification pipeline and tests.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<IncidentEvent> {
        self.events.subscribe()
    }

    /// Checks' status changes as the recorder sees them (before they are
    /// stored or confirmed), for live views: a receiver that falls more
    /// than a thousand changes behind is told it lagged.
    pub fn subscribe_status(&self) -> tokio::sync::broadcast::Receiver<recorder::StatusChange> {
        self.recorder.subscribe_changes()
    }

    /// The scheduler (for statistics).
    pub fn scheduler(&self) -> &SchedulerHandle {
        &self.scheduler
    }

    /// The action engine (`[[action]]`s run by hand go through it too, so
    /// that their guard rails count every run).
    pub fn actions(&self) -> &Arc<keepup_actions::Engine> {
        &self.actions
    }

    /// The alerter (which incidents wait for their remediation).
    pub fn alerter(&self) -> &Arc<alerting::Alerter> {
        &self.alerter
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Waits until every result delivered so far is committed to the store.
    pub async fn flush(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.flush.send(tx).is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops scheduling, lets runs in flight finish, and commits everything.
    pub async fn shutdown(&self) {
        self.scheduler.shutdown().await;
        self.compactor_task.abort();
        self.report_task.abort();
        self.alerting_task.abort();
        self.actions_task.abort();
        self.deadman_task
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .abort();
        // A backup job or a drill already running finishes on its blocking
        // thread (a drill cut short is resumed with `keepup dr resume`).
        self.backup_task.abort();
        self.drill_task.abort();
        self.pull_task.abort();
        // Bounded like the scheduler's drain: a stuck recorder must not hold
        // the shutdown forever.
        if tokio::time::timeout(std::time::Duration::from_secs(30), self.flush())
            .await
            .is_err()
        {
            tracing::warn!("the recorder did not confirm its last write at shutdown");
        }
        // From now until the next start, no result vouches for any check.
        let (store, stopped) = (self.store.clone(), self.clock.now_ms());
        match tokio::task::spawn_blocking(move || store.end_open_spans(stopped)).await {
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot end the status spans at shutdown"),
            Err(e) => tracing::warn!(error = %e, "cannot end the status spans at shutdown"),
            Ok(Ok(())) => {}
        }
        let task = self.recorder_task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            t.abort();
        }
    }
}

/// The probes' durable memory (page baselines, registry answers, the
/// RDAP bootstrap): memos in the store.
struct StoreMemory {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl keepup_probe::ProbeMemory for StoreMemory {
    fn recall(&self, kind: &'static str, key: &str) -> Option<String> {
        self.store
            .memo(kind, key)
            .inspect_err(
                |e| tracing::warn!(kind, error = %e, "cannot read what a probe remembered"),
            )
            .ok()
            .flatten()
    }

    fn remember(&self, kind: &'static str, key: &str, value: String) {
        if let Err(e) = self.store.put_memo(kind, key, &value, self.clock.now_ms()) {
            tracing::warn!(kind, error = %e, "cannot store what a probe learned; a restart forgets it");
        }
    }
}

/// Runs probes and evaluates passive checks (cheap to clone: each run
/// holds a copy).
#[derive(Clone)]
struct CheckExecutor {
    probes: ProbeContext,
    heartbeats: Arc<HeartbeatBook>,
    hosts: Arc<host::HostBook>,
    backups: Arc<backup::BackupBook>,
    sla: Arc<sla::SlaBook>,
    drills: Arc<drill::DrillBook>,
    clock: Arc<dyn Clock>,
    recorder: Arc<Recorder>,
    scheduler_stats: Arc<std::sync::OnceLock<Arc<scheduler::SchedulerStats>>>,
    /// Where a scraped capacity check's day peaks are kept.
    store: Store,
}

impl CheckExecutor {
    /// keepup's own health as an outcome.
    fn self_health(&self, spec: &keepup_config::SelfHealthSpec) -> Outcome {
        use keepup_model::{Finding, Severity};
        let mut o = Outcome::new(Status::Up, "keepup is healthy");
        if let Some(err) = self.recorder.store_error() {
            o.message = "keepup cannot write to its store".into();
            o.push(Finding::new(
                keepup_model::codes::SELF_STORE_FAILING,
                Severity::Critical,
                format!("writing results fails: {err}"),
            ));
        }
        let dropped = self.recorder.dropped();
        if dropped > 0 {
            o.push(Finding::new(
                keepup_model::codes::SELF_RESULTS_DROPPED,
                Severity::Critical,
                format!("{dropped} results were dropped because the store failed for too long"),
            ));
        }
        if let Some(stats) = self.scheduler_stats.get() {
            o.evidence.insert("runs", stats.runs());
            if let Some((p50, p99, max)) = stats.lag_percentiles() {
                o.evidence.insert("lag_ms_p50", p50);
                o.evidence.insert("lag_ms_p99", p99);
                o.evidence.insert("lag_ms_max", max);
                if p99 > spec.max_lag.as_secs_f64() * 1000.0 {
                    if o.status == Status::Up {
                        o.message = "keepup's scheduler is late".into();
                    }
                    // Name the checks that waited longest, so the operator
                    // sees which runs were late and by how much.
                    let waited: Vec<String> = stats
                        .most_delayed()
                        .iter()
                        .map(|(id, lag)| format!("{id} ({:.1} s)", lag / 1000.0))
                        .collect();
                    if !waited.is_empty() {
                        o.evidence.insert("most_delayed", waited.join(", "));
                    }
                    let longest = if waited.is_empty() {
                        String::new()
                    } else {
                        format!("; waited longest: {}", waited.join(", "))
                    };
                    o.push(Finding::new(
                        keepup_model::codes::SELF_SCHEDULER_LAG,
                        Severity::Warning,
                        format!("checks start {:.0} ms late (p99, up to {:.0} ms), more than the allowed {} ms: too many checks for this machine, or it is overloaded{longest}", p99, max, spec.max_lag.as_millis()),
                    ));
                }
            }
        }
        if self.recorder.offline() {
            o.push(Finding::new(
                keepup_model::codes::SELF_OFFLINE,
                Severity::Warning,
                "keepup cannot reach any of its connectivity references",
            ));
        }
        o
    }
}

impl Executor for CheckExecutor {
    /// The one dispatch of check kinds: probes to `keepup_probe::run`,
    /// passive kinds to what evaluates them. Each run is bounded by the
    /// check's timeout (`run` bounds probes; of the passive kinds only a
    /// backup's freshness and the SLA and drill checks, which read the
    /// store, do work that can take time).
    fn execute(&self, check: Arc<Check>) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let this = self.clone();
        Box::pin(async move {
            match &check.spec {
                CheckSpec::Probe(spec @ ProbeSpec::Capacity(capacity)) => {
                    // The peak's time is the run's on the monitor's clock.
                    let at = this.clock.now_ms();
                    let o =
                        keepup_probe::run(spec, check.timeout, &this.probes.for_check(&check.id))
                            .await;
                    let (store, capacity, id) =
                        (this.store.clone(), capacity.clone(), check.id.clone());
                    let measured = o.clone();
                    tokio::task::spawn_blocking(move || {
                        let mut o = o;
                        peaks::keep(&mut o, &id, &capacity, at, &store);
                        o
                    })
                    .await
                    .unwrap_or(measured)
                }
                CheckSpec::Probe(spec) => {
                    keepup_probe::run(spec, check.timeout, &this.probes.for_check(&check.id)).await
                }
                CheckSpec::Passive(PassiveSpec::Heartbeat(spec)) => {
                    this.heartbeats
                        .evaluate(&check.id, spec, this.clock.now_ms())
                }
                CheckSpec::Passive(PassiveSpec::SelfHealth(spec)) => this.self_health(spec),
                CheckSpec::Passive(PassiveSpec::Host(spec)) => {
                    this.hosts.evaluate_check(&check, spec, this.clock.now_ms())
                }
                CheckSpec::Passive(PassiveSpec::AgentPlugin(spec)) => {
                    this.hosts.evaluate_plugin(spec, this.clock.now_ms())
                }
                CheckSpec::Passive(PassiveSpec::Capacity(spec)) => {
                    this.hosts.evaluate_capacity(spec, this.clock.now_ms())
                }
                CheckSpec::Passive(PassiveSpec::Backup(spec)) => {
                    let evaluation = this.backups.clone().evaluate(check.clone(), spec.clone());
                    keepup_probe::within_timeout(check.timeout, evaluation).await
                }
                CheckSpec::Passive(PassiveSpec::Sla(spec)) => {
                    let (book, spec, now) = (this.sla.clone(), spec.clone(), this.clock.now_ms());
                    let evaluation = tokio::task::spawn_blocking(move || book.evaluate(&spec, now));
                    // A slow store is not a burning budget: Unknown, not
                    // the Down a probe's timeout means.
                    match tokio::time::timeout(check.timeout, evaluation).await {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(e)) => {
                            Outcome::new(Status::Unknown, format!("the SLA evaluation failed: {e}"))
                        }
                        Err(_) => Outcome::new(
                            Status::Unknown,
                            "reading the store for the SLA took too long",
                        ),
                    }
                }
                CheckSpec::Passive(PassiveSpec::Drill(spec)) => {
                    let (book, spec, now) =
                        (this.drills.clone(), spec.clone(), this.clock.now_ms());
                    let evaluation = tokio::task::spawn_blocking(move || book.evaluate(&spec, now));
                    match tokio::time::timeout(check.timeout, evaluation).await {
                        Ok(Ok(outcome)) => outcome,
                        Ok(Err(e)) => Outcome::new(
                            Status::Unknown,
                            format!("reading the drills stopped: {e}"),
                        ),
                        Err(_) => Outcome::new(Status::Unknown, "reading the drills took too long"),
                    }
                }
            }
        })
    }
}

/// Calls the configured dead man's switch while keepup is healthy, so that
/// its death (or sickness) is noticed by someone else.
async fn dead_mans_switch(config: Arc<Config>, recorder: Arc<Recorder>) {
    let Some((id, spec)) = config.checks().find_map(|c| match &c.spec {
        CheckSpec::Passive(PassiveSpec::SelfHealth(s)) => Some((c.id.clone(), s.clone())),
        _ => None,
    }) else {
        return;
    };
    let Some(url) = spec.heartbeat_url.clone() else {
        return;
    };
    let http = keepup_notify::HttpClientContext::new();
    let mut tick = tokio::time::interval(spec.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let healthy = recorder
            .current()
            .get(&id)
            .is_none_or(|s| s.outcome.status == Status::Up);
        if !healthy {
            tracing::warn!("keepup is not healthy: the dead man's switch is not called");
            continue;
        }
        if let Err(e) =
            keepup_notify::ping_url(&http, url.expose(), std::time::Duration::from_secs(10)).await
        {
            tracing::warn!(error = %e, "the dead man's switch could not be called");
        }
    }
}

fn references(config: &Config) -> usize {
    config
        .checks()
        .filter(|c| c.tags.iter().any(|t| t == keepup_config::CONNECTIVITY_TAG))
        .count()
}

fn arc_checks(config: &Config) -> Vec<Arc<Check>> {
    config.shared_checks().cloned().collect()
}

/// The store's metadata of `checks`, as registered when the monitor starts.
pub fn check_metas(checks: &[Arc<Check>]) -> Vec<CheckMeta> {
    checks
        .iter()
        .map(|c| CheckMeta {
            id: c.id.clone(),
            site: c
                .id
                .as_str()
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            name: c.name.clone(),
            kind: c.spec.kind().to_owned(),
            max_gap: Some(max_gap(c)),
        })
        .collect()
}

/// How long a result of `check` vouches for its status in the store's
/// status spans: a run may start up to half an interval late (scheduler
/// lag, a retry's timing) and take its timeout before the next result is
/// overdue; beyond that the time is unknown.
pub fn max_gap(check: &Check) -> std::time::Duration {
    check.interval + check.interval / 2 + check.timeout
}

fn retention(config: &Config) -> Retention {
    Retention {
        raw: config.store.raw_retention,
        minute: config.store.minute_retention,
        hour: config.store.rollup_retention,
        day: config.store.rollup_retention,
        audit: config.store.audit_retention,
        session_idle: config.server.web.session_idle,
        ..Retention::default()
    }
}

/// Keeps and queues the reports of SLA periods that closed
/// ([`reports::close_periods`]), with the configuration in force.
async fn report_loop(store: Store, clock: Arc<dyn Clock>, sla: Arc<sla::SlaBook>) {
    let mut tick = tokio::time::interval(CLOSE_PERIODS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let retries = Arc::new(Mutex::new(reports::PeriodRetries::default()));
    loop {
        tick.tick().await;
        let config = sla.config();
        if config.contracts.is_empty() {
            continue;
        }
        let s = store.clone();
        let now: Timestamp = clock.now_ms();
        let retries = retries.clone();
        let close = move || {
            // Only this loop takes the lock, one tick at a time; a panic
            // in an earlier tick leaves usable retry times behind.
            let mut retries = retries.lock().unwrap_or_else(|p| p.into_inner());
            reports::close_periods(&s, &config, now, &mut retries)
        };
        match tokio::task::spawn_blocking(close).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "cannot close the SLA periods"),
            Err(e) => tracing::error!(error = %e, "the SLA report task failed"),
        }
    }
}

/// How often the action engine looks for scheduled runs that are due,
/// questions left unanswered and runs a stopped keepup left running (a
/// cron minute is the finest schedule).
const ACTIONS_TICK_EVERY: Duration = Duration::from_secs(15);

/// How often it looks for runs the command line queued or confirmed
/// (`keepup actions run` and `confirm` wait for the outcome): one indexed
/// read of the last hours' runs.
const ACTIONS_REQUESTS_EVERY: Duration = Duration::from_secs(1);

/// Ticks the action engine: its full pass ([`keepup_actions::Engine::tick`],
/// the first at once, which also ends the runs a stopped keepup left
/// running) and, between, the requests of the command line.
async fn actions_loop(engine: Arc<keepup_actions::Engine>) {
    let mut tick = tokio::time::interval(ACTIONS_TICK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut requests = tokio::time::interval(ACTIONS_REQUESTS_EVERY);
    requests.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = engine.tick().await {
                    tracing::error!(error = %e, "the action engine's pass failed");
                }
            }
            _ = requests.tick() => {
                if let Err(e) = engine.take_requests().await {
                    tracing::error!(error = %e, "the action engine could not take the command line's requests");
                }
            }
        }
    }
}

async fn compact_loop(store: Store, clock: Arc<dyn Clock>, retention: Retention) {
    let mut tick = tokio::time::interval(COMPACT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let s = store.clone();
        let r = retention.clone();
        let now: Timestamp = clock.now_ms();
        match tokio::task::spawn_blocking(move || s.compact(now, &r)).await {
            Ok(Ok(report)) => tracing::debug!(?report, "store compacted"),
            Ok(Err(e)) => tracing::error!(error = %e, "store compaction failed"),
            Err(e) => tracing::error!(error = %e, "store compaction task failed"),
        }
    }
}
