//! The recorder: takes finished runs from the scheduler, keeps the current
//! state of every check in memory, and writes results to the store in
//! batches (one transaction per batch, off the async runtime).
//!
//! A store failure is retried with the results kept in memory (bounded),
//! and reported through [`Recorder::store_error`] so that keepup's own
//! health says so.
//!
//! A verdict on an agent's report older than its check's current state (a
//! backlogged report, judged at its collection time after the central
//! judged newer times: [`Completed::origin`]) is history: stored, where
//! it takes its place in the status spans, but it neither moves the
//! current state back nor reaches the state machine. A replacement of a
//! result the central recorded meanwhile is always history. History goes
//! to the store as backfill ([`ResultRecord::backfill`]); a scheduler's
//! run older than the current state (the wall clock stepped back) is not
//! history: it moves the state, here and in the store.

use crate::incidents::{IncidentEngine, IncidentEvent};
use crate::scheduler::{Completed, SchedulerHandle};
use keepup_model::{CheckId, Outcome, Status, Timestamp};
use keepup_store::{ResultRecord, Store};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Most results held in memory while the store is failing; beyond that the
/// oldest are dropped (and counted) rather than exhausting memory.
const MAX_PENDING: usize = 200_000;
const BATCH_EVERY: Duration = Duration::from_millis(200);
const BATCH_MAX: usize = 2_000;

/// Every check's current state as one shared map: a reader takes the map
/// as it is (an `Arc`, nothing copied), and a new result replaces its
/// entry, copying the map of pointers only while a reader still holds the
/// previous one. A page or API list per request used to copy every
/// check's outcome, evidence included.
pub type CurrentStates = HashMap<CheckId, Arc<CurrentState>>;

/// The current state of one check, as the monitor sees it.
#[derive(Debug, Clone)]
pub struct CurrentState {
    /// When the last run started.
    pub at: Timestamp,
    /// Since when the status has been what it is.
    pub since: Timestamp,
    /// The last outcome.
    pub outcome: Outcome,
}

/// A check's status as the recorder just saw it change (or its first
/// result), for live views. Every result is not news: only changes are sent.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    /// The check.
    pub check: CheckId,
    /// Its new status.
    pub status: Status,
    /// Since when it has had it (the run that changed it).
    pub since: Timestamp,
    /// The outcome's message.
    pub message: String,
}

/// Status changes buffered for a listener that has not read them yet;
/// beyond that a slow listener loses the oldest and is told it lagged.
const CHANGES_BUFFERED: usize = 1024;

/// The sending side of the status changes, created with the recorder.
struct Changes(tokio::sync::broadcast::Sender<StatusChange>);

impl Default for Changes {
    fn default() -> Self {
        Self(tokio::sync::broadcast::channel(CHANGES_BUFFERED).0)
    }
}

/// Shared view of the recorder.
#[derive(Default)]
pub struct Recorder {
    current: Mutex<Arc<CurrentStates>>,
    changes: Changes,
    /// Latest raw status of each connectivity reference.
    references: Mutex<HashMap<CheckId, Status>>,
    offline: std::sync::atomic::AtomicBool,
    /// How many connectivity references are configured.
    expected_references: std::sync::atomic::AtomicUsize,
    store_error: Mutex<Option<String>>,
    dropped: std::sync::atomic::AtomicU64,
    /// Capacity forecasts, judged on each result before it is observed.
    pub forecasts: crate::forecast::Forecasts,
    /// `[[action]]` measure triggers, moved by each result observed.
    pub(crate) measures: crate::measures::MeasureTriggers,
}

impl Recorder {
    /// Seeds the current states (e.g. from the store at start-up).
    pub fn seed(&self, states: impl IntoIterator<Item = (CheckId, CurrentState)>) {
        if let Ok(mut c) = self.current.lock() {
            Arc::make_mut(&mut c).extend(states.into_iter().map(|(id, s)| (id, Arc::new(s))));
        }
    }
    /// Current state of every check that has run, shared (see
    /// [`CurrentStates`]).
    pub fn current_shared(&self) -> Arc<CurrentStates> {
        self.current.lock().map(|c| c.clone()).unwrap_or_default()
    }
    /// Current state of every check that has run, as a copy of its own.
    pub fn current(&self) -> HashMap<CheckId, CurrentState> {
        self.current_shared()
            .iter()
            .map(|(id, s)| (id.clone(), CurrentState::clone(s)))
            .collect()
    }
    /// Status changes from now on (the first result of a check included).
    pub fn subscribe_changes(&self) -> tokio::sync::broadcast::Receiver<StatusChange> {
        self.changes.0.subscribe()
    }
    /// The last store error, if writing is currently failing.
    pub fn store_error(&self) -> Option<String> {
        self.store_error.lock().ok().and_then(|e| e.clone())
    }
    /// Results dropped because the store failed for too long.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `c` is older than its check's current state (history only).
    fn is_late(&self, c: &Completed) -> bool {
        self.current
            .lock()
            .map(|map| map.get(&c.check.id).is_some_and(|s| c.started < s.at))
            .unwrap_or(false)
    }

    fn observe(&self, c: &Completed) {
        if let Ok(mut map) = self.current.lock() {
            let changed = map
                .get(&c.check.id)
                .is_none_or(|prev| prev.outcome.status != c.outcome.status);
            let since = match map.get(&c.check.id) {
                // Never after the run itself (a clock stepped back).
                Some(prev) if prev.outcome.status == c.outcome.status => prev.since.min(c.started),
                Some(prev) => {
                    tracing::info!(
                        check = %c.check.id,
                        from = prev.outcome.status.as_str(),
                        to = c.outcome.status.as_str(),
                        message = %c.outcome.message,
                        "status changed"
                    );
                    c.started
                }
                // The first result of a check is not news (10,000 of them at start-up).
                None => {
                    tracing::debug!(check = %c.check.id, status = c.outcome.status.as_str(), "first result");
                    c.started
                }
            };
            Arc::make_mut(&mut map).insert(
                c.check.id.clone(),
                Arc::new(CurrentState {
                    at: c.started,
                    since,
                    outcome: Outcome {
                        // A screenshot goes to the store only (pages read
                        // it from there): no half megabyte per failing
                        // browser check held in memory.
                        attachments: Vec::new(),
                        ..c.outcome.clone()
                    },
                }),
            );
            if changed {
                // Nobody listening is not an error.
                let _ = self.changes.0.send(StatusChange {
                    check: c.check.id.clone(),
                    status: c.outcome.status,
                    since,
                    message: c.outcome.message.clone(),
                });
            }
        }
    }

    /// Forgets checks that are no longer configured.
    pub fn retain(&self, keep: impl Fn(&CheckId) -> bool) {
        if let Ok(mut map) = self.current.lock() {
            Arc::make_mut(&mut map).retain(|id, _| keep(id));
        }
        if let Ok(mut map) = self.references.lock() {
            map.retain(|id, _| keep(id));
        }
    }

    /// Sets how many connectivity references are configured.
    pub fn expect_references(&self, n: usize) {
        self.expected_references
            .store(n, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether keepup believes its own network is down (every connectivity
    /// reference failed its last run).
    pub fn offline(&self) -> bool {
        self.offline.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Tracks connectivity references, and while keepup is offline turns
    /// the failures of other checks into Unknown: keepup's own outage is
    /// not every shop's outage.
    fn apply_connectivity(&self, c: &mut Completed) {
        use std::sync::atomic::Ordering::Relaxed;
        if c.check
            .tags
            .iter()
            .any(|t| t == keepup_config::CONNECTIVITY_TAG)
        {
            let Ok(mut refs) = self.references.lock() else {
                return;
            };
            refs.insert(c.check.id.clone(), c.outcome.status);
            let offline = refs.values().all(|s| *s == Status::Down);
            if self.offline.swap(offline, Relaxed) != offline {
                if offline {
                    tracing::error!(
                        references = refs.len(),
                        "keepup cannot reach any of its connectivity references: results are Unknown until it can"
                    );
                } else {
                    tracing::info!("connectivity restored");
                }
            }
            return;
        }
        // Before every reference has answered once we cannot tell either.
        let undecided = self.expected_references.load(Relaxed)
            > self.references.lock().map(|r| r.len()).unwrap_or(0);
        if (undecided || self.offline.load(Relaxed))
            && matches!(c.outcome.status, Status::Down | Status::Degraded)
        {
            c.outcome.status = Status::Unknown;
            c.outcome.message = "unknown: keepup's own network is down".into();
            c.outcome.findings.push(keepup_model::Finding::new(
                keepup_model::codes::MONITOR_OFFLINE,
                keepup_model::Severity::Info,
                "keepup could not reach any of its connectivity references, so this failure may be keepup's own; it is recorded as Unknown",
            ));
        }
    }
}

/// Flushes pending results; returns when the batch is committed or failed.
pub(crate) type FlushRequest = oneshot::Sender<()>;

/// What the recorder hands results on to once they are stored.
pub(crate) struct Downstream {
    /// Confirmed states and incidents.
    pub engine: Arc<Mutex<IncidentEngine>>,
    /// For retry hints.
    pub scheduler: SchedulerHandle,
    /// Incident events, for whoever listens (notifications).
    pub events: tokio::sync::broadcast::Sender<IncidentEvent>,
}

/// Runs the recording loop until the scheduler's sink closes.
pub(crate) async fn run(
    recorder: Arc<Recorder>,
    store: Store,
    mut results: mpsc::Receiver<Completed>,
    mut flush: mpsc::UnboundedReceiver<FlushRequest>,
    downstream: Downstream,
) {
    let mut batches = Batches::default();
    let mut tick = tokio::time::interval(BATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut open = true;
    while open {
        let mut waiter = None;
        tokio::select! {
            r = results.recv() => match r {
                Some(c) => {
                    take(&recorder, &mut batches, c).await;
                    if batches.pending.len() + batches.history.len() < BATCH_MAX {
                        continue;
                    }
                }
                None => open = false,
            },
            f = flush.recv() => {
                // A barrier: what was sent before the flush was asked for
                // is in this batch (the select is not biased).
                for _ in 0..results.len() {
                    match results.try_recv() {
                        Ok(c) => take(&recorder, &mut batches, c).await,
                        Err(_) => break,
                    }
                }
                waiter = f;
            }
            _ = tick.tick() => {}
        }
        if !batches.is_empty() {
            write(&recorder, &store, &mut batches, &downstream).await;
        }
        if let Some(w) = waiter {
            let _ = w.send(());
        }
    }
    if !batches.is_empty() {
        write(&recorder, &store, &mut batches, &downstream).await;
    }
}

/// Takes one result into the batches: history, or observed.
async fn take(recorder: &Arc<Recorder>, batches: &mut Batches, mut c: Completed) {
    use crate::scheduler::Origin;
    let history = match c.origin {
        Origin::Run => false,
        Origin::Report => recorder.is_late(&c),
        Origin::Replacement => true,
    };
    if !c.check.forecasts.is_empty() {
        // A new sample means a fit (up to 125,000 slopes): CPU work, kept
        // off the async threads.
        let r = recorder.clone();
        let (check, started) = (c.check.clone(), c.started);
        let mut outcome = std::mem::replace(&mut c.outcome, Outcome::new(Status::Unknown, ""));
        let judged = tokio::task::spawn_blocking(move || {
            let samples = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                r.forecasts.apply(&check, started, &mut outcome, history)
            }));
            (outcome, samples)
        })
        .await;
        match judged {
            Ok((outcome, samples)) => {
                c.outcome = outcome;
                match samples {
                    Ok(samples) => batches.samples.extend(samples),
                    Err(_) => {
                        tracing::error!(check = %c.check.id, "judging the check's forecasts panicked; the result is kept without them")
                    }
                }
            }
            Err(e) => {
                tracing::error!(check = %c.check.id, error = %e, "the check's forecasts could not be judged; the result is lost");
                return;
            }
        }
    }
    if history {
        batches.history.push(c);
    } else {
        recorder.apply_connectivity(&mut c);
        recorder.observe(&c);
        if recorder.measures.watches(&c.check.id) {
            recorder
                .measures
                .observe(&c.check.id, c.started, &c.outcome)
                .await;
        }
        batches.pending.push(c);
    }
}

/// Results waiting for the store.
#[derive(Default)]
struct Batches {
    /// Not yet written.
    pending: Vec<Completed>,
    /// Not yet written, older than their check's current state: stored,
    /// never observed by the incident engine.
    history: Vec<Completed>,
    /// Written, but the incidents they call for could not be: fed to the
    /// incident engine again (it did not move) before newer results.
    unobserved: Vec<Completed>,
    /// Forecast samples, written after the results (a failure loses them:
    /// a gap in a series, not in the history).
    samples: Vec<keepup_store::SampleRecord>,
}

impl Batches {
    fn is_empty(&self) -> bool {
        self.pending.is_empty()
            && self.unobserved.is_empty()
            && self.history.is_empty()
            && self.samples.is_empty()
    }
}

/// How writing a batch ended.
enum Written {
    /// Results and incidents committed.
    Done(Vec<(CheckId, crate::incidents::Observed)>),
    /// Results not written: all of them wait.
    ResultsFailed(String, Batches),
    /// Results written, the incidents of some not: those wait to be
    /// observed again (the others' outputs are done).
    IncidentsFailed(String, Vec<(CheckId, crate::incidents::Observed)>, Batches),
}

/// Splits results into rounds in which each check appears at most once,
/// each check's results in order: the incident engine decides one change
/// per check and call, so a check that went down and up again within one
/// batch is two rounds (its incident opened, then resolved).
fn rounds(results: Vec<Completed>) -> Vec<Vec<Completed>> {
    let mut seen: HashMap<CheckId, usize> = HashMap::new();
    let mut out: Vec<Vec<Completed>> = Vec::new();
    for c in results {
        let n = seen.entry(c.check.id.clone()).or_insert(0);
        if out.len() <= *n {
            out.push(Vec::new());
        }
        out[*n].push(c);
        *n += 1;
    }
    out
}

/// Commits a batch, then feeds it to the incident engine (results first:
/// an incident never refers to a result that was not stored).
async fn write(recorder: &Recorder, store: &Store, batches: &mut Batches, downstream: &Downstream) {
    let mut taken = std::mem::take(batches);
    let s = store.clone();
    let engine = downstream.engine.clone();
    let result = tokio::task::spawn_blocking(move || {
        // History is recorded as backfill: the store puts it in its place
        // in the spans. Every other result moves the check's state, even
        // when older than it (the wall clock stepped back).
        let record = |c: &Completed, backfill| ResultRecord {
            check: c.check.id.clone(),
            at: c.started,
            outcome: c.outcome.clone(),
            backfill,
        };
        let records: Vec<ResultRecord> = taken
            .pending
            .iter()
            .map(|c| record(c, false))
            .chain(taken.history.iter().map(|c| record(c, true)))
            .collect();
        if !records.is_empty()
            && let Err(e) = s.record(&records)
        {
            return Written::ResultsFailed(e.to_string(), taken);
        }
        taken.history.clear();
        if let Err(e) = s.record_samples(&std::mem::take(&mut taken.samples)) {
            tracing::warn!(error = %e, "cannot write forecast samples; their series has a gap");
        }
        let mut observe = std::mem::take(&mut taken.unobserved);
        observe.append(&mut taken.pending);
        let mut engine = engine.lock().unwrap_or_else(|p| p.into_inner());
        let mut outputs = Vec::with_capacity(observe.len());
        let mut rounds = rounds(observe).into_iter();
        while let Some(round) = rounds.next() {
            let items: Vec<(
                &keepup_config::Check,
                keepup_model::Timestamp,
                &keepup_model::Outcome,
            )> = round
                .iter()
                .map(|c| (&*c.check, c.started, &c.outcome))
                .collect();
            match engine.observe_batch(&items) {
                Ok(observed) => {
                    outputs.extend(round.iter().map(|c| c.check.id.clone()).zip(observed));
                }
                Err(e) => {
                    let mut unobserved = round;
                    unobserved.extend(rounds.flatten());
                    return Written::IncidentsFailed(
                        e.to_string(),
                        outputs,
                        Batches {
                            pending: Vec::new(),
                            history: Vec::new(),
                            unobserved,
                            samples: Vec::new(),
                        },
                    );
                }
            }
        }
        Written::Done(outputs)
    })
    .await;
    let emit = |outputs: Vec<(CheckId, crate::incidents::Observed)>| {
        for (id, o) in outputs {
            if let Some(at) = o.retry_at {
                downstream.scheduler.run_at(id, at);
            }
            for parent in o.ask {
                downstream.scheduler.run_now(parent);
            }
            for event in o.events {
                log_event(&event);
                let _ = downstream.events.send(event);
            }
        }
    };
    let failed = match result {
        Ok(Written::Done(outputs)) => {
            emit(outputs);
            if let Ok(mut e) = recorder.store_error.lock()
                && e.take().is_some()
            {
                tracing::info!("store writes recovered");
            }
            return;
        }
        Ok(Written::ResultsFailed(err, kept)) => {
            tracing::error!(error = %err, results = kept.pending.len(), "cannot write results to the store; keeping them for retry");
            (err, kept)
        }
        Ok(Written::IncidentsFailed(err, done, kept)) => {
            emit(done);
            tracing::error!(error = %err, results = kept.unobserved.len(), "cannot record incidents; the results are fed again with the next batch");
            (err, kept)
        }
        Err(join) => {
            tracing::error!(error = %join, "store writer task failed");
            return;
        }
    };
    let (err, kept) = failed;
    if let Ok(mut e) = recorder.store_error.lock() {
        *e = Some(err);
    }
    *batches = kept;
    if batches.samples.len() > MAX_PENDING {
        let excess = batches.samples.len() - MAX_PENDING;
        batches.samples.drain(..excess);
    }
    for queue in [
        &mut batches.unobserved,
        &mut batches.pending,
        &mut batches.history,
    ] {
        if queue.len() > MAX_PENDING {
            let excess = queue.len() - MAX_PENDING;
            queue.drain(..excess);
            recorder
                .dropped
                .fetch_add(excess as u64, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

fn log_event(event: &IncidentEvent) {
    match event {
        IncidentEvent::Opened { incident, notify } => tracing::warn!(
            incident = incident.id, check = %incident.check, status = incident.status.as_str(),
            cause = ?incident.cause, notify, message = %incident.message, "incident opened"
        ),
        IncidentEvent::Resolved { incident, .. } => tracing::info!(
            incident = incident.id, check = %incident.check,
            duration_s = incident.resolved_at.map(|r| (r - incident.opened_at) / 1000), "incident resolved"
        ),
        IncidentEvent::Released { incident } => tracing::warn!(
            incident = incident.id, check = %incident.check, "cause resolved but the check still fails: incident released"
        ),
        IncidentEvent::Flapping { check, started } => {
            tracing::warn!(check = %check, started, "flapping")
        }
    }
}

/// The status a check's state shows to humans: `Unknown` until a first run.
pub fn status_of(state: Option<&CurrentState>) -> Status {
    state.map(|s| s.outcome.status).unwrap_or(Status::Unknown)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_seen_twice_in_a_batch_is_observed_in_two_rounds_in_order() {
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n[[site.check]]\nid = \"b\"\nkind = \"tcp\"\nhost = \"h\"\nport = 2\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml")).unwrap();
        let checks: Vec<Arc<keepup_config::Check>> =
            config.checks().cloned().map(Arc::new).collect();
        let run = |i: usize, at: Timestamp| Completed {
            check: checks[i].clone(),
            due: at,
            started: at,
            outcome: Outcome::new(Status::Up, "ok"),
            origin: crate::scheduler::Origin::Run,
        };
        let got: Vec<Vec<(String, Timestamp)>> =
            rounds(vec![run(0, 1), run(0, 2), run(1, 3), run(0, 4)])
                .into_iter()
                .map(|r| {
                    r.iter()
                        .map(|c| (c.check.id.to_string(), c.started))
                        .collect()
                })
                .collect();
        let s = |id: &str, at| (id.to_owned(), at);
        assert_eq!(
            got,
            [
                vec![s("s/a", 1), s("s/b", 3)],
                vec![s("s/a", 2)],
                vec![s("s/a", 4)]
            ]
        );
    }

    #[test]
    fn only_a_first_result_and_a_change_of_status_are_sent_to_live_views() {
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml")).unwrap();
        let check: Arc<keepup_config::Check> =
            config.checks().cloned().map(Arc::new).next().unwrap();
        let recorder = Recorder::default();
        let mut changes = recorder.subscribe_changes();
        for (at, status) in [
            (1, Status::Up),
            (2, Status::Up),
            (3, Status::Down),
            (4, Status::Down),
        ] {
            recorder.observe(&Completed {
                check: check.clone(),
                due: at,
                started: at,
                outcome: Outcome::new(status, status.as_str()),
                origin: crate::scheduler::Origin::Run,
            });
        }
        let mut got = Vec::new();
        while let Ok(c) = changes.try_recv() {
            got.push((c.check.to_string(), c.status, c.since));
        }
        assert_eq!(
            got,
            [
                ("s/a".to_owned(), Status::Up, 1),
                ("s/a".to_owned(), Status::Down, 3)
            ]
        );
    }

    /// Never asked to run anything (the scheduler has no checks).
    struct Idle;
    impl crate::scheduler::Executor for Idle {
        fn execute(
            &self,
            _: Arc<keepup_config::Check>,
        ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send>> {
            Box::pin(async { Outcome::new(Status::Unknown, "idle") })
        }
    }

    /// A flush is a barrier: the results sent before it are in the store
    /// when it is answered (review 31 #6: an unbiased select served the
    /// flush first, and a backlog's replacements read a stale history).
    #[tokio::test]
    async fn a_flush_answers_once_the_results_sent_before_it_are_stored() {
        let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"a\"\nkind = \"tcp\"\nhost = \"h\"\nport = 1\n";
        let config = keepup_config::load_str(src, std::path::Path::new("k.toml")).unwrap();
        let check: Arc<keepup_config::Check> =
            config.checks().cloned().map(Arc::new).next().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("k.db")).unwrap();
        let engine = IncidentEngine::resume(store.clone(), std::slice::from_ref(&check)).unwrap();
        let (sink, results) = mpsc::channel(1_000);
        let (flush, flushes) = mpsc::unbounded_channel();
        let scheduler = crate::scheduler::spawn(
            Vec::new(),
            Arc::new(Idle),
            sink.clone(),
            Arc::new(keepup_model::SystemClock),
            1,
        );
        for at in 1..=100 {
            sink.send(Completed {
                check: check.clone(),
                due: at,
                started: at,
                outcome: Outcome::new(Status::Up, "ok"),
                origin: crate::scheduler::Origin::Run,
            })
            .await
            .unwrap();
        }
        let (tx, rx) = oneshot::channel();
        flush.send(tx).unwrap();
        let task = tokio::spawn(run(
            Arc::new(Recorder::default()),
            store.clone(),
            results,
            flushes,
            Downstream {
                engine: Arc::new(Mutex::new(engine)),
                scheduler,
                events: tokio::sync::broadcast::channel(16).0,
            },
        ));
        rx.await.unwrap();
        let stored = store.results(&check.id, 0, 1_000, 1_000).unwrap();
        task.abort();
        assert_eq!(stored.len(), 100);
    }
}
