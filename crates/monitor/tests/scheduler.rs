//! The scheduler under simulated time: hours of schedule in milliseconds.

use keepup_config::Check;
use keepup_model::{CheckId, Clock, Outcome, Status, Timestamp};
use keepup_monitor::clock::TokioClock;
use keepup_monitor::scheduler::{self, Completed, Executor};
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Builds `n` tcp checks (never probed: the executor below only records).
fn checks(n: usize, interval: &str, timeout: &str) -> Vec<Arc<Check>> {
    let mut src = format!(
        "[defaults]\ninterval = \"{interval}\"\ntimeout = \"{timeout}\"\n[[site]]\nid = \"s\"\n"
    );
    for i in 0..n {
        src.push_str(&format!(
            "[[site.check]]\nid = \"c{i}\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n"
        ));
    }
    let config =
        keepup_config::load_str(&src, Path::new("t.toml")).unwrap_or_else(|p| panic!("{p}"));
    config.checks().cloned().map(Arc::new).collect()
}

/// Records every run; each run takes `work` of (simulated) time.
struct Recording {
    work: Duration,
    clock: Arc<dyn Clock>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    per_check_running: Mutex<HashMap<CheckId, bool>>,
    overlaps: AtomicUsize,
    starts: Mutex<Vec<(CheckId, Timestamp)>>,
}

impl Recording {
    fn new(work: Duration, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self {
            work,
            clock,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            per_check_running: Mutex::new(HashMap::new()),
            overlaps: AtomicUsize::new(0),
            starts: Mutex::new(Vec::new()),
        })
    }
    fn starts_of(&self, id: &str) -> Vec<Timestamp> {
        self.starts
            .lock()
            .unwrap()
            .iter()
            .filter(|(c, _)| c.as_str() == id)
            .map(|(_, t)| *t)
            .collect()
    }
}

struct Exec(Arc<Recording>);

impl Executor for Exec {
    fn execute(&self, check: Arc<Check>) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let r = self.0.clone();
        Box::pin(async move {
            {
                let mut running = r.per_check_running.lock().unwrap();
                if running.insert(check.id.clone(), true) == Some(true) {
                    r.overlaps.fetch_add(1, Ordering::SeqCst);
                }
            }
            let n = r.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            r.max_in_flight.fetch_max(n, Ordering::SeqCst);
            r.starts
                .lock()
                .unwrap()
                .push((check.id.clone(), r.clock.now_ms()));
            tokio::time::sleep(r.work).await;
            r.in_flight.fetch_sub(1, Ordering::SeqCst);
            r.per_check_running
                .lock()
                .unwrap()
                .insert(check.id.clone(), false);
            Outcome::new(Status::Up, "ok")
        })
    }
}

fn drain(mut rx: mpsc::Receiver<Completed>) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut n = 0;
        while rx.recv().await.is_some() {
            n += 1;
        }
        n
    })
}

#[tokio::test(start_paused = true)]
async fn an_hour_of_schedule_runs_every_check_on_its_slots() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(1_700_000_000_000));
    let rec = Recording::new(Duration::from_millis(200), clock.clone());
    let (tx, rx) = mpsc::channel(1024);
    let done = drain(rx);
    let handle = scheduler::spawn(
        checks(50, "10s", "5s"),
        Arc::new(Exec(rec.clone())),
        tx,
        clock.clone(),
        64,
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    handle.shutdown().await;
    drop(handle);
    for i in 0..50 {
        let starts = rec.starts_of(&format!("s/c{i}"));
        // 3600 s / 10 s = 360 slots, give or take the first partial interval.
        assert!(
            (359..=361).contains(&starts.len()),
            "c{i} ran {} times",
            starts.len()
        );
        for w in starts.windows(2) {
            assert_eq!(w[1] - w[0], 10_000, "c{i} runs exactly one interval apart");
        }
        // Slots are deterministic: the same offset within the interval every time.
        let offsets: std::collections::HashSet<i64> =
            starts.iter().map(|t| t.rem_euclid(10_000)).collect();
        assert_eq!(offsets.len(), 1, "c{i} keeps its slot");
    }
    assert_eq!(rec.overlaps.load(Ordering::SeqCst), 0);
    assert!(handle_lag_free(&rec), "a run started off its slot");
    let _ = done.await;
}

fn handle_lag_free(rec: &Recording) -> bool {
    // Under simulated time and no contention every run starts on its slot.
    rec.starts.lock().unwrap().iter().all(|(c, t)| {
        let off = keepup_monitor::slots::offset_ms(c.as_str(), 10_000);
        (t - off).rem_euclid(10_000) == 0
    })
}

#[tokio::test(start_paused = true)]
async fn the_concurrency_limit_holds_and_slow_checks_never_overlap_or_burst() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(0));
    // Each run takes 25 s although the interval is 10 s (timeout 30 s is
    // allowed here by building the checks with a long interval first).
    let rec = Recording::new(Duration::from_secs(25), clock.clone());
    let mut cs = checks(20, "30s", "30s");
    for c in &mut cs {
        Arc::get_mut(c).unwrap().interval = Duration::from_secs(10);
    }
    let (tx, rx) = mpsc::channel(1024);
    let done = drain(rx);
    let handle = scheduler::spawn(cs, Arc::new(Exec(rec.clone())), tx, clock.clone(), 4);
    tokio::time::sleep(Duration::from_secs(600)).await;
    handle.shutdown().await;
    assert!(
        rec.max_in_flight.load(Ordering::SeqCst) <= 4,
        "limit exceeded: {}",
        rec.max_in_flight.load(Ordering::SeqCst)
    );
    assert_eq!(
        rec.overlaps.load(Ordering::SeqCst),
        0,
        "a check overlapped itself"
    );
    for i in 0..20 {
        let starts = rec.starts_of(&format!("s/c{i}"));
        for w in starts.windows(2) {
            assert!(
                w[1] - w[0] >= 25_000,
                "c{i} started again before its previous run ended: {w:?}"
            );
        }
    }
    let _ = done.await;
}

/// A clock that can be stepped, as NTP or a suspended VM would.
struct SteppedClock {
    inner: TokioClock,
    step: AtomicI64,
}

impl Clock for SteppedClock {
    fn now_ms(&self) -> Timestamp {
        self.inner.now_ms() + self.step.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn a_clock_jump_gives_one_run_per_check_not_a_burst() {
    let stepped = Arc::new(SteppedClock {
        inner: TokioClock::starting_at(0),
        step: AtomicI64::new(0),
    });
    let clock: Arc<dyn Clock> = stepped.clone();
    let rec = Recording::new(Duration::from_millis(10), clock.clone());
    let (tx, rx) = mpsc::channel(1024);
    let done = drain(rx);
    let handle = scheduler::spawn(
        checks(10, "10s", "5s"),
        Arc::new(Exec(rec.clone())),
        tx,
        clock.clone(),
        64,
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    let before = rec.starts.lock().unwrap().len();
    // The machine was suspended for an hour: 360 missed slots per check.
    stepped.step.store(3_600_000, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after_jump = rec.starts.lock().unwrap().len() - before;
    // Each check runs once for the missed slots, and at most once more if
    // its next slot falls within these 5 s: never 360 times.
    assert!(
        (10..=20).contains(&after_jump),
        "{after_jump} runs right after the jump"
    );
    // And a clock stepped backwards must not stall the schedule.
    stepped.step.store(-3_600_000, Ordering::SeqCst);
    let mark = rec.starts.lock().unwrap().len();
    tokio::time::sleep(Duration::from_secs(30)).await;
    let after_back = rec.starts.lock().unwrap().len() - mark;
    assert!(
        after_back >= 20,
        "only {after_back} runs in 30 s after a backward step"
    );
    handle.shutdown().await;
    let _ = done.await;
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_unchanged_checks_and_reschedules_changed_ones() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(0));
    let rec = Recording::new(Duration::from_millis(10), clock.clone());
    let (tx, rx) = mpsc::channel(1024);
    let done = drain(rx);
    let first = checks(3, "10s", "5s");
    let handle = scheduler::spawn(
        first.clone(),
        Arc::new(Exec(rec.clone())),
        tx,
        clock.clone(),
        64,
    );
    tokio::time::sleep(Duration::from_secs(60)).await;
    // c0 unchanged, c1 now every 20 s, c2 removed.
    let mut c1 = (*first[1]).clone();
    c1.interval = Duration::from_secs(20);
    handle.reload(vec![first[0].clone(), Arc::new(c1)]);
    let mark = clock.now_ms();
    tokio::time::sleep(Duration::from_secs(120)).await;
    handle.shutdown().await;
    let after = |id: &str| {
        rec.starts_of(id)
            .into_iter()
            .filter(|t| *t > mark)
            .collect::<Vec<_>>()
    };
    let c0 = after("s/c0");
    assert!((11..=13).contains(&c0.len()), "c0 ran {} times", c0.len());
    let c1 = after("s/c1");
    assert!((5..=7).contains(&c1.len()), "c1 ran {} times", c1.len());
    for w in c1.windows(2) {
        assert_eq!(w[1] - w[0], 20_000);
    }
    assert!(after("s/c2").is_empty(), "a removed check kept running");
    let _ = done.await;
}

/// Healthy checks answer at once; `stalled/…` ones wait for their whole
/// timeout, as against a target that accepts and never answers.
struct StallOrAnswer {
    clock: Arc<dyn Clock>,
    stall: Duration,
    starts: Arc<Mutex<Vec<(CheckId, Timestamp)>>>,
}

impl Executor for StallOrAnswer {
    fn execute(&self, check: Arc<Check>) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let (clock, stall, starts) = (self.clock.clone(), self.stall, self.starts.clone());
        Box::pin(async move {
            starts
                .lock()
                .unwrap()
                .push((check.id.clone(), clock.now_ms()));
            if check.id.as_str().starts_with("stalled/") {
                tokio::time::sleep(stall).await;
                Outcome::new(Status::Down, "no answer")
            } else {
                Outcome::new(Status::Up, "ok")
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn retries_of_stalled_checks_never_start_before_a_due_first_run() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(0));
    let starts = Arc::new(Mutex::new(Vec::new()));
    let exec = StallOrAnswer {
        clock: clock.clone(),
        stall: Duration::from_secs(5),
        starts: starts.clone(),
    };
    let mut all = checks(4, "10s", "5s");
    let mut stalled = checks(8, "60s", "5s");
    for (i, c) in stalled.iter_mut().enumerate() {
        Arc::get_mut(c).unwrap().id = CheckId::new("stalled", &format!("c{i}"));
    }
    all.extend(stalled);
    let (tx, mut rx) = mpsc::channel::<Completed>(1024);
    // Four places for eight stalled checks that are re-checked as soon as
    // they fail: retries always wait, as in a mass outage.
    let handle = scheduler::spawn(all, Arc::new(exec), tx, clock.clone(), 4);
    let retrier = {
        let handle = handle.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            while let Some(done) = rx.recv().await {
                if done.outcome.status == Status::Down {
                    // After the driver has taken the run back, as the
                    // recorder does.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    handle.run_at(done.check.id.clone(), clock.now_ms());
                }
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(600)).await;
    handle.shutdown().await;
    let lags = handle.stats().most_delayed();
    drop(handle);
    retrier.abort();

    let starts = starts.lock().unwrap().clone();
    let retry_starts: Vec<Timestamp> = starts
        .iter()
        .filter(|(c, _)| c.as_str().starts_with("stalled/"))
        .map(|(_, t)| *t)
        .collect();
    assert!(
        retry_starts.len() > 8 * 10 * 2,
        "the stalled checks were re-checked again and again: {} runs",
        retry_starts.len()
    );
    let mut waited = 0;
    for (id, started) in starts.iter().filter(|(c, _)| c.as_str().starts_with("s/")) {
        let offset = keepup_monitor::slots::offset_ms(id.as_str(), 10_000);
        let due = started - (started - offset).rem_euclid(10_000);
        if *started == due {
            continue;
        }
        waited += 1;
        let overtaken = retry_starts
            .iter()
            .filter(|t| (due..*started).contains(t))
            .count();
        assert_eq!(
            overtaken, 0,
            "{id} was due at {due} and started at {started}; {overtaken} retries started in between"
        );
    }
    assert!(
        waited > 0,
        "no first run ever had to wait: the test proves nothing"
    );
    // keepup/self names the checks that waited longest, largest lag first.
    assert!(!lags.is_empty() && lags.len() <= scheduler::MOST_DELAYED);
    assert!(lags.windows(2).all(|w| w[0].1 >= w[1].1), "{lags:?}");
}

/// Every run takes `work`; `flaky/…` checks fail, the others succeed.
struct BusyOrFailing {
    work: Duration,
}

impl Executor for BusyOrFailing {
    fn execute(&self, check: Arc<Check>) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let work = self.work;
        Box::pin(async move {
            tokio::time::sleep(work).await;
            if check.id.as_str().starts_with("flaky/") {
                Outcome::new(Status::Down, "refused")
            } else {
                Outcome::new(Status::Up, "ok")
            }
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_retry_waits_behind_first_runs_at_most_its_retry_interval() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(0));
    let work = Duration::from_secs(1);
    // 40 runs of 1 s every 10 s on 2 places: first runs always wait.
    let mut all = checks(40, "10s", "5s");
    let mut flaky = checks(1, "60s", "5s");
    let retry_interval = Duration::from_secs(15);
    for c in &mut flaky {
        let c = Arc::get_mut(c).unwrap();
        c.id = CheckId::new("flaky", "c0");
        c.alerting.retry_interval = retry_interval;
    }
    all.extend(flaky);
    let (tx, mut rx) = mpsc::channel::<Completed>(1024);
    let handle = scheduler::spawn(all, Arc::new(BusyOrFailing { work }), tx, clock.clone(), 2);
    let collector = {
        let handle = handle.clone();
        tokio::spawn(async move {
            let (mut runs, mut asked) = (Vec::new(), HashSet::new());
            while let Some(done) = rx.recv().await {
                if done.outcome.status == Status::Down {
                    // Re-checked one retry interval after the failure, as
                    // the recorder asks (after the driver took the run back).
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let at = done.started + work.as_millis() as i64 + 15_000;
                    handle.run_at(done.check.id.clone(), at);
                    asked.insert(at);
                }
                runs.push((done.check.id.clone(), done.due, done.started));
            }
            (runs, asked)
        })
    };
    tokio::time::sleep(Duration::from_secs(600)).await;
    handle.shutdown().await;
    drop(handle);
    let (runs, asked) = collector.await.unwrap();

    let retry_ms = retry_interval.as_millis() as i64;
    let work_ms = work.as_millis() as i64;
    let first_runs: Vec<(Timestamp, Timestamp)> = runs
        .iter()
        .filter(|(c, _, _)| c.as_str().starts_with("s/"))
        .map(|(_, due, started)| (*due, *started))
        .collect();
    let waited = first_runs
        .iter()
        .filter(|(due, started)| started > due)
        .count();
    assert!(
        waited * 10 > first_runs.len() * 9,
        "only {waited} of {} first runs waited: the pressure was not constant",
        first_runs.len()
    );
    let retries: Vec<(Timestamp, Timestamp)> = runs
        .iter()
        .filter(|(c, due, _)| c.as_str().starts_with("flaky/") && asked.contains(due))
        .map(|(_, due, started)| (*due, *started))
        .collect();
    assert!(
        retries.len() >= 5,
        "the failing check was re-checked {} times in 10 minutes: its retries starved",
        retries.len()
    );
    for (due, started) in &retries {
        // Admitted within its bound: one retry interval, plus the wait
        // for a place to free up (one run's work).
        assert!(
            started - due <= retry_ms + work_ms,
            "a retry due at {due} started at {started}"
        );
        // And it went before a first run that was already due only once
        // it had waited its whole retry interval.
        let overtaken = first_runs
            .iter()
            .filter(|(d, s)| d <= started && s > started)
            .count();
        assert!(
            overtaken == 0 || started - due >= retry_ms,
            "a retry due at {due} started at {started}, {} ms late, ahead of {overtaken} first runs already due",
            started - due
        );
    }
}

/// Panics on the first run of every check, answers afterwards.
struct PanicsOnce {
    ran: Mutex<HashSet<CheckId>>,
}

impl Executor for PanicsOnce {
    fn execute(&self, check: Arc<Check>) -> Pin<Box<dyn Future<Output = Outcome> + Send>> {
        let first = self.ran.lock().unwrap().insert(check.id.clone());
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if first {
                panic!("a bug in a probe (expected by this test)");
            }
            Outcome::new(Status::Up, "ok")
        })
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_that_panics_is_reported_and_its_check_keeps_its_schedule() {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(0));
    let exec = PanicsOnce {
        ran: Mutex::new(HashSet::new()),
    };
    let (tx, mut rx) = mpsc::channel::<Completed>(1024);
    // One place: a run that never reported back would also block the
    // other check.
    let handle = scheduler::spawn(checks(2, "10s", "5s"), Arc::new(exec), tx, clock, 1);
    let collector = tokio::spawn(async move {
        let mut runs = Vec::new();
        while let Some(done) = rx.recv().await {
            runs.push((done.check.id.to_string(), done.outcome));
        }
        runs
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    handle.shutdown().await;
    drop(handle);
    let runs = collector.await.unwrap();
    for id in ["s/c0", "s/c1"] {
        let of: Vec<&Outcome> = runs
            .iter()
            .filter(|(c, _)| c == id)
            .map(|(_, o)| o)
            .collect();
        assert!(of.len() >= 5, "{id} ran {} times in 60 s", of.len());
        assert_eq!(of[0].status, Status::Unknown, "{id}: {:?}", of[0]);
        assert_eq!(of[0].findings[0].code, "PROBE_INTERNAL_ERROR");
        assert!(of[1..].iter().all(|o| o.status == Status::Up));
    }
}
