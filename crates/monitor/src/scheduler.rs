//! The scheduler: runs every check on its slots, never overlapping itself,
//! within a limit on runs in flight, and hands results to a sink.
//!
//! One driver task owns all schedule state (a min-heap of due times), so
//! 10,000 checks cost one timer, not 10,000. A due run is admitted by the
//! driver when fewer than the limit are in flight, and becomes a
//! short-lived task that runs the executor (which bounds the run by the
//! check's timeout) and reports back. Runs in flight mostly wait on
//! sockets and timers, which cost a file descriptor and a few kilobytes
//! each, so the limit is large
//! (derived from the descriptor limit, see
//! `keepup_config::SchedulerConfig::in_flight_cap`).
//!
//! When the limit is reached anyway (a mass outage: thousands of probes
//! waiting for their timeout), due runs queue in two lanes: slot runs and
//! runs asked for now (a heartbeat ping) go before the quick re-checks of
//! unconfirmed failures ([`SchedulerHandle::run_at`]), so retries of the
//! failing checks never delay the first runs of the others. A retry that
//! has waited its check's `retry_interval` beyond its due time goes first
//! (it is promoted), so a constant stream of first runs cannot starve it:
//! it starts at most one retry interval (plus the wait for a free place)
//! late, and the failure is still confirmed.
//!
//! A run reports back however it ends: a run that panics (a bug in a
//! probe) is delivered as Unknown with `PROBE_INTERNAL_ERROR`, and its
//! place and its check's schedule are given back, so one bug neither stops
//! a check for good nor holds a place (and every shutdown) forever.
//!
//! Lag (start − due) is sampled for the health endpoint and the benchmark,
//! with the checks that waited longest, so `keepup/self` can name them.

use crate::slots::{next_slot_after, offset_ms};
use keepup_config::Check;
use keepup_model::{CheckId, Clock, Finding, Outcome, Severity, Status, Timestamp, codes};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Runs one check once. Implemented by the monitor's dispatch of check
/// kinds in production.
pub trait Executor: Send + Sync + 'static {
    /// Runs `check` and returns its outcome within the check's timeout
    /// (production bounds runs with `keepup_probe::within_timeout`, the
    /// one place a timeout becomes a finding; the scheduler adds none).
    fn execute(&self, check: Arc<Check>) -> Pin<Box<dyn Future<Output = Outcome> + Send>>;
}

/// One finished run.
#[derive(Debug, Clone)]
pub struct Completed {
    /// The check as configured when the run started.
    pub check: Arc<Check>,
    /// When the run was due.
    pub due: Timestamp,
    /// When it actually started (after waiting for its turn); for a
    /// verdict on an agent's report, when the report was collected.
    pub started: Timestamp,
    /// Where it comes from, which says whether it may drive the state.
    pub origin: Origin,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Where a result comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A run of the scheduler: never history, so a wall clock stepped
    /// back does not freeze the states.
    Run,
    /// A verdict on an agent's report, judged after the time it is about:
    /// when older than its check's current state it is history (stored,
    /// never moving the state back).
    Report,
    /// A report's verdict put in place of a result the central recorded
    /// meanwhile (an agent's backlog): always history, never observed, so
    /// a report that is over never drives the state machine (review 31 #1).
    Replacement,
}

/// Counters and lag samples, shared with whoever reports on the scheduler.
#[derive(Debug, Default)]
pub struct SchedulerStats {
    runs: AtomicU64,
    lags: Mutex<LagWindow>,
}

#[derive(Debug, Default)]
struct LagWindow {
    samples: Vec<f64>,
    next: usize,
    /// The runs that started latest (at most [`MOST_DELAYED`], a check at
    /// most once), largest lag first.
    most_delayed: Vec<(CheckId, f64)>,
}

const LAG_WINDOW: usize = 1 << 16;
/// How many of the most-delayed checks are remembered (and named by
/// `keepup/self`).
pub const MOST_DELAYED: usize = 5;

impl SchedulerStats {
    fn record_lag(&self, id: &CheckId, lag_ms: f64) {
        self.runs.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut w) = self.lags.lock() {
            if w.samples.len() < LAG_WINDOW {
                w.samples.push(lag_ms);
            } else {
                let i = w.next;
                w.samples[i] = lag_ms;
                w.next = (i + 1) % LAG_WINDOW;
            }
            note_delay(&mut w.most_delayed, id, lag_ms);
        }
    }

    /// The checks whose runs started latest since the samples were last
    /// reset, with their lag in ms, largest first (only runs that started
    /// late at all).
    pub fn most_delayed(&self) -> Vec<(CheckId, f64)> {
        self.lags
            .lock()
            .map(|w| w.most_delayed.clone())
            .unwrap_or_default()
    }

    /// Runs started since the scheduler began.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// Lag percentiles (p50, p99, max) over the most recent runs, in ms.
    pub fn lag_percentiles(&self) -> Option<(f64, f64, f64)> {
        let w = self.lags.lock().ok()?;
        if w.samples.is_empty() {
            return None;
        }
        let mut s = w.samples.clone();
        s.sort_by(f64::total_cmp);
        let pick = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize];
        Some((pick(0.5), pick(0.99), s[s.len() - 1]))
    }

    /// Forgets the samples (the benchmark does this after warm-up).
    pub fn reset_lags(&self) {
        if let Ok(mut w) = self.lags.lock() {
            w.samples.clear();
            w.next = 0;
            w.most_delayed.clear();
        }
    }
}

/// Keeps `list` the [`MOST_DELAYED`] largest lags, one entry per check.
fn note_delay(list: &mut Vec<(CheckId, f64)>, id: &CheckId, lag_ms: f64) {
    if lag_ms <= 0.0 {
        return;
    }
    if let Some(i) = list.iter().position(|(c, _)| c == id) {
        if list[i].1 >= lag_ms {
            return;
        }
        list.remove(i);
    } else if list.len() >= MOST_DELAYED && list.last().is_some_and(|(_, l)| *l >= lag_ms) {
        return;
    }
    let at = list.partition_point(|(_, l)| *l >= lag_ms);
    list.insert(at, (id.clone(), lag_ms));
    list.truncate(MOST_DELAYED);
}

enum Command {
    Reload(Vec<Arc<Check>>),
    RunNow(CheckId),
    RunAt(CheckId, Timestamp),
    Shutdown(oneshot::Sender<()>),
}

/// Controls a running scheduler.
#[derive(Clone)]
pub struct SchedulerHandle {
    commands: mpsc::UnboundedSender<Command>,
    stats: Arc<SchedulerStats>,
}

impl SchedulerHandle {
    /// Replaces the set of checks. Unchanged checks (same fingerprint) keep
    /// their slot and state; changed ones are rescheduled; removed ones stop.
    pub fn reload(&self, checks: Vec<Arc<Check>>) {
        let _ = self.commands.send(Command::Reload(checks));
    }
    /// Runs a check as soon as possible (e.g. a heartbeat ping arrived),
    /// unless it is already running.
    pub fn run_now(&self, id: CheckId) {
        let _ = self.commands.send(Command::RunNow(id));
    }
    /// Runs a check again at `at` if that is before its next slot (an
    /// unconfirmed failure is re-checked at the retry interval).
    pub fn run_at(&self, id: CheckId, at: Timestamp) {
        let _ = self.commands.send(Command::RunAt(id, at));
    }
    /// Statistics.
    pub fn stats(&self) -> &Arc<SchedulerStats> {
        &self.stats
    }
    /// Stops scheduling new runs; runs in flight finish and are delivered.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

/// How long a shutdown waits for runs in flight to report back.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

struct Entry {
    check: Arc<Check>,
    fingerprint: u64,
    offset: i64,
    next_due: Timestamp,
    /// Its next run is a re-check asked for by [`SchedulerHandle::run_at`]
    /// rather than a slot: it queues behind slot runs.
    retry: bool,
    /// Due and queued for admission, or in flight: not scheduled again
    /// until it is done.
    running: bool,
    generation: u64,
}

struct Done {
    id: CheckId,
    generation: u64,
    due: Timestamp,
}

/// A due run waiting for room under the in-flight limit.
struct Queued {
    id: CheckId,
    generation: u64,
    due: Timestamp,
}

/// A due retry waiting for room: behind first runs until `promoted_at`
/// (its due time plus its check's retry interval), ahead of them after.
struct WaitingRetry {
    promoted_at: Timestamp,
    /// Arrival order, so retries promoted at the same time keep it.
    seq: u64,
    run: Queued,
}

impl WaitingRetry {
    fn key(&self) -> (Timestamp, u64) {
        (self.promoted_at, self.seq)
    }
}

impl PartialEq for WaitingRetry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for WaitingRetry {}
impl PartialOrd for WaitingRetry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for WaitingRetry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

/// Starts the scheduler on the current tokio runtime.
pub fn spawn(
    checks: Vec<Arc<Check>>,
    executor: Arc<dyn Executor>,
    sink: mpsc::Sender<Completed>,
    clock: Arc<dyn Clock>,
    max_in_flight: usize,
) -> SchedulerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let stats = Arc::new(SchedulerStats::default());
    let driver = Driver {
        entries: HashMap::new(),
        heap: BinaryHeap::new(),
        executor,
        sink,
        clock,
        max_in_flight: max_in_flight.max(1),
        in_flight: 0,
        first_runs: VecDeque::new(),
        retries: BinaryHeap::new(),
        retry_seq: 0,
        stats: stats.clone(),
        generation: 0,
    };
    tokio::spawn(driver.run(checks, rx));
    SchedulerHandle {
        commands: tx,
        stats,
    }
}

struct Driver {
    entries: HashMap<CheckId, Entry>,
    heap: BinaryHeap<Reverse<(Timestamp, CheckId)>>,
    executor: Arc<dyn Executor>,
    sink: mpsc::Sender<Completed>,
    clock: Arc<dyn Clock>,
    max_in_flight: usize,
    in_flight: usize,
    /// Due slot runs (and runs asked for now) waiting for room.
    first_runs: VecDeque<Queued>,
    /// Due re-checks of unconfirmed failures waiting for room, earliest
    /// promotion first: admitted when no first run waits, or before them
    /// once promoted.
    retries: BinaryHeap<Reverse<WaitingRetry>>,
    retry_seq: u64,
    stats: Arc<SchedulerStats>,
    generation: u64,
}

/// Longest single sleep, so that a wall clock stepped backwards is noticed
/// within a second rather than after the step.
const MAX_SLEEP: Duration = Duration::from_secs(1);

impl Driver {
    async fn run(
        mut self,
        checks: Vec<Arc<Check>>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Done>();
        self.reload(checks);
        loop {
            let now = self.clock.now_ms();
            self.detect_clock_step(now);
            let sleep_for = match self.heap.peek() {
                Some(Reverse((due, _))) => {
                    Duration::from_millis((*due - now).max(0) as u64).min(MAX_SLEEP)
                }
                None => MAX_SLEEP,
            };
            tokio::select! {
                biased;
                cmd = commands.recv() => match cmd {
                    Some(Command::Reload(checks)) => self.reload(checks),
                    Some(Command::RunNow(id)) => {
                        let now = self.clock.now_ms();
                        if let Some(e) = self.entries.get_mut(&id) && !e.running {
                            e.next_due = now;
                            e.retry = false;
                            self.heap.push(Reverse((now, id)));
                        }
                    }
                    Some(Command::RunAt(id, at)) => {
                        if let Some(e) = self.entries.get_mut(&id) && !e.running && at < e.next_due {
                            e.next_due = at;
                            e.retry = true;
                            self.heap.push(Reverse((at, id)));
                        }
                    }
                    Some(Command::Shutdown(ack)) => {
                        // Runs still queued never start; runs in flight
                        // finish so their results are delivered.
                        self.first_runs.clear();
                        self.retries.clear();
                        // Bounded: a run that never reports back (its
                        // result stuck behind a stopped recorder, a panicked
                        // task) must not hold the shutdown forever.
                        let drain = async {
                            while self.in_flight > 0 {
                                match done_rx.recv().await {
                                    Some(d) => {
                                        self.in_flight -= 1;
                                        self.finished(d);
                                    }
                                    None => break,
                                }
                            }
                        };
                        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
                            tracing::warn!(in_flight = self.in_flight, "runs still in flight at shutdown were abandoned");
                        }
                        let _ = ack.send(());
                        return;
                    }
                    None => return,
                },
                Some(done) = done_rx.recv() => {
                    self.in_flight -= 1;
                    self.finished(done);
                    // Runs due by now join their lanes first, so a freed
                    // place goes to a due first run rather than a retry.
                    self.queue_due();
                    self.admit(&done_tx);
                }
                _ = tokio::time::sleep(sleep_for) => {
                    self.queue_due();
                    self.admit(&done_tx);
                }
            }
        }
    }

    fn reload(&mut self, checks: Vec<Arc<Check>>) {
        let now = self.clock.now_ms();
        let mut next = HashMap::with_capacity(checks.len());
        for check in checks {
            let fingerprint = check.fingerprint();
            let interval = interval_ms(&check);
            let entry = match self.entries.remove(&check.id) {
                Some(mut old) if old.fingerprint == fingerprint => {
                    old.check = check;
                    old
                }
                old => {
                    self.generation += 1;
                    let offset = offset_ms(check.id.as_str(), interval);
                    let next_due = next_slot_after(now, interval, offset);
                    self.heap.push(Reverse((next_due, check.id.clone())));
                    Entry {
                        check,
                        fingerprint,
                        offset,
                        next_due,
                        retry: false,
                        // A changed check that is mid-run keeps its "running" mark so
                        // the new version does not overlap the old one.
                        running: old.is_some_and(|o| o.running),
                        generation: self.generation,
                    }
                }
            };
            next.insert(entry.check.id.clone(), entry);
        }
        self.entries = next;
        // Drop heap entries of removed checks lazily: they are skipped when popped.
    }

    /// A wall clock stepped backwards would leave every due time far in the
    /// future; realign all checks to the next slot after now.
    fn detect_clock_step(&mut self, now: Timestamp) {
        let Some(Reverse((due, id))) = self.heap.peek() else {
            return;
        };
        let Some(e) = self.entries.get(id) else {
            return;
        };
        if *due - now <= interval_ms(&e.check) + 1_000 {
            return;
        }
        self.heap.clear();
        for (id, e) in &mut self.entries {
            e.next_due = next_slot_after(now, interval_ms(&e.check), e.offset);
            e.retry = false;
            if !e.running {
                self.heap.push(Reverse((e.next_due, id.clone())));
            }
        }
    }

    /// Moves the runs that are due into their admission lane.
    fn queue_due(&mut self) {
        let now = self.clock.now_ms();
        while let Some(Reverse((due, _))) = self.heap.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((due, id))) = self.heap.pop() else {
                break;
            };
            let Some(e) = self.entries.get_mut(&id) else {
                continue;
            };
            if e.running || e.next_due != due {
                continue; // stale heap entry (rescheduled, or already running)
            }
            e.running = true;
            let queued = Queued {
                id,
                generation: e.generation,
                due,
            };
            if e.retry {
                let promoted_at = due.saturating_add(
                    i64::try_from(e.check.alerting.retry_interval.as_millis()).unwrap_or(i64::MAX),
                );
                self.retry_seq += 1;
                self.retries.push(Reverse(WaitingRetry {
                    promoted_at,
                    seq: self.retry_seq,
                    run: queued,
                }));
            } else {
                self.first_runs.push_back(queued);
            }
        }
    }

    /// The next run to start: a promoted retry, else the first run that
    /// waited longest, else the retry promoted soonest.
    fn next_queued(&mut self, now: Timestamp) -> Option<Queued> {
        let promoted = self
            .retries
            .peek()
            .is_some_and(|Reverse(r)| r.promoted_at <= now);
        if !promoted && let Some(q) = self.first_runs.pop_front() {
            return Some(q);
        }
        self.retries.pop().map(|Reverse(r)| r.run)
    }

    /// Starts queued runs while there is room (order: [`Self::next_queued`]).
    fn admit(&mut self, done_tx: &mpsc::UnboundedSender<Done>) {
        let now = self.clock.now_ms();
        while self.in_flight < self.max_in_flight {
            let Some(q) = self.next_queued(now) else {
                return;
            };
            let Some(e) = self.entries.get(&q.id) else {
                continue; // removed while it waited
            };
            if e.generation != q.generation {
                // Changed while it waited: the new version takes its own slot.
                self.finished(Done {
                    id: q.id,
                    generation: q.generation,
                    due: q.due,
                });
                continue;
            }
            self.in_flight += 1;
            let check = e.check.clone();
            let Queued {
                id,
                generation,
                due,
            } = q;
            let executor = self.executor.clone();
            let clock = self.clock.clone();
            let sink = self.sink.clone();
            let stats = self.stats.clone();
            // Reports back however the run ends (a panic, its task dropped),
            // so the count of runs in flight stays true and the check is
            // scheduled again.
            let report = ReportDone {
                tx: done_tx.clone(),
                done: Some(Done {
                    id: id.clone(),
                    generation,
                    due,
                }),
            };
            tokio::spawn(async move {
                let _report = report;
                let started = clock.now_ms();
                stats.record_lag(&id, (started - due).max(0) as f64);
                let outcome = match CatchPanic(executor.execute(check.clone())).await {
                    Ok(outcome) => outcome,
                    Err(()) => {
                        tracing::error!(check = %id, "a run of the check panicked");
                        panicked()
                    }
                };
                let _ = sink
                    .send(Completed {
                        check,
                        due,
                        started,
                        outcome,
                        origin: Origin::Run,
                    })
                    .await;
            });
        }
    }

    fn finished(&mut self, done: Done) {
        let now = self.clock.now_ms();
        let Some(e) = self.entries.get_mut(&done.id) else {
            return;
        };
        e.running = false;
        e.retry = false;
        let interval = interval_ms(&e.check);
        if e.generation != done.generation {
            // The check changed while running; it already has its new slot.
            if e.next_due < now {
                e.next_due = next_slot_after(now, interval, e.offset);
            }
            self.heap.push(Reverse((e.next_due, done.id)));
            return;
        }
        // The next slot after both the due time and now: a long run or a
        // pause skips missed slots instead of bursting.
        e.next_due = next_slot_after(now.max(done.due), interval, e.offset);
        self.heap.push(Reverse((e.next_due, done.id)));
    }
}

/// Sends its [`Done`] when dropped: at the end of a run, or when the run's
/// task is dropped or unwinds.
struct ReportDone {
    tx: mpsc::UnboundedSender<Done>,
    done: Option<Done>,
}

impl Drop for ReportDone {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = self.tx.send(done);
        }
    }
}

/// A run's future with panics caught: `Err(())` when it panicked.
struct CatchPanic(Pin<Box<dyn Future<Output = Outcome> + Send>>);

impl Future for CatchPanic {
    type Output = Result<Outcome, ()>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        // The future is not polled again after a panic: it is dropped with
        // this wrapper, so no broken state is observed.
        let run = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run.as_mut().poll(cx))) {
            Ok(polled) => polled.map(Ok),
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
}

/// The outcome of a run that panicked: a bug in keepup, not the target's.
fn panicked() -> Outcome {
    let mut outcome = Outcome::new(Status::Unknown, "the check failed unexpectedly");
    outcome.push(Finding::new(
        codes::PROBE_INTERNAL_ERROR,
        Severity::Warning,
        "the run stopped on an internal error (a bug in keepup)",
    ));
    outcome
}

fn interval_ms(check: &Check) -> i64 {
    check.interval.as_millis().clamp(1, i64::MAX as u128) as i64
}
