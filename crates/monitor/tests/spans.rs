//! The daemon's side of status spans: a real HTTP server on loopback fails
//! and recovers while the monitor runs, stops and starts again; the store's
//! spans show the outage and, as unknown, the time the monitor was stopped.

use keepup_model::{CheckId, Status, SystemClock};
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

mod common;
use common::toggled;

/// Waits until `check` has a result with `status` newer than `after`.
async fn wait_for(store: &Store, check: &CheckId, status: Status, after: i64) -> i64 {
    for _ in 0..200 {
        if let Some(l) = store.latest_for(check).unwrap()
            && l.outcome.status == status
            && l.at > after
        {
            return l.at;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no {status:?} result of {check} after {after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_and_a_stopped_monitor_show_in_the_status_spans() {
    let (web, web_failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n",
        web.url("/")
    );
    let config = Arc::new(keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap());
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let check = CheckId::new("shop", "web");
    let start = || {
        Monitor::start(
            config.clone(),
            store.clone(),
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
    };

    let monitor = start().await.unwrap();
    let first_up = wait_for(&store, &check, Status::Up, 0).await;
    web_failing.store(true, Ordering::SeqCst);
    let down = wait_for(&store, &check, Status::Down, first_up).await;
    web_failing.store(false, Ordering::SeqCst);
    let up_again = wait_for(&store, &check, Status::Up, down).await;
    monitor.shutdown().await;
    let stopped = store.latest_for(&check).unwrap().unwrap().at;

    // Started again at once: well within the allowed gap (1 s + 0.5 s + 1 s)
    // of the last result, yet the stop shows as unknown.
    let monitor = start().await.unwrap();
    let restarted = wait_for(&store, &check, Status::Up, stopped).await;
    monitor.shutdown().await;
    let end = store.latest_for(&check).unwrap().unwrap().at;

    let spans: Vec<_> = store
        .status_spans(std::slice::from_ref(&check), first_up, end + 1)
        .map(|s| s.unwrap())
        .collect();
    let statuses: Vec<_> = spans.iter().map(|s| s.status).collect();
    assert_eq!(
        statuses,
        [
            Some(Status::Up),
            Some(Status::Down),
            Some(Status::Up),
            None,
            Some(Status::Up)
        ],
        "{spans:?}"
    );
    // The outage starts at the first failed run (a retry may confirm it).
    assert!(
        spans[1].from_ms <= down && spans[2].from_ms <= up_again,
        "{spans:?}"
    );
    // The unknown span runs from the stop to the first result after the start.
    assert!(
        spans[3].from_ms > stopped && spans[3].to_ms == restarted,
        "{spans:?}"
    );
}

/// The real clock plus an offset that the test steps, as NTP correcting a
/// clock that ran ahead would.
struct SteppedClock(std::sync::atomic::AtomicI64);

impl keepup_model::Clock for SteppedClock {
    fn now_ms(&self) -> keepup_model::Timestamp {
        keepup_model::Clock::now_ms(&SystemClock) + self.0.load(Ordering::SeqCst)
    }
}

/// The wall clock ran ten minutes ahead, then stepped back while the shop
/// broke: the scheduler's runs after the step are older than what was
/// recorded before it, yet they move the check's state, in the recorder
/// and in the store, batch after batch; the timeline follows the clock
/// (what was dated ahead no longer shows) with no overlap and no hole but
/// unknown time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_clock_steps_back_the_state_follows_the_new_runs() {
    let (web, web_failing) = toggled().await;
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\n\
         [[site]]\nid = \"shop\"\n\
         [[site.check]]\nid = \"web\"\nkind = \"http\"\nurl = \"{}\"\n",
        web.url("/")
    );
    let config = Arc::new(keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap());
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let check = CheckId::new("shop", "web");
    const AHEAD: i64 = 600_000;
    let clock = Arc::new(SteppedClock(std::sync::atomic::AtomicI64::new(AHEAD)));
    let monitor = Monitor::start(config, store.clone(), ProbeContext::new(), clock.clone())
        .await
        .unwrap();
    let first = wait_for(&store, &check, Status::Up, 0).await;
    let ahead = wait_for(&store, &check, Status::Up, first + 2_000).await;

    web_failing.store(true, Ordering::SeqCst);
    clock.0.store(0, Ordering::SeqCst);
    let stepped = keepup_model::Clock::now_ms(&SystemClock);
    // Three results after the step, each older than those before it.
    let mut latest = None;
    for _ in 0..100 {
        if let Some(l) = store.latest_for(&check).unwrap()
            && l.outcome.status == Status::Down
            && l.at < first
            && l.at >= l.since + 2_000
        {
            latest = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let latest = latest.unwrap_or_else(|| {
        panic!(
            "the store's current state did not follow the runs after the step: {:?}",
            store.latest_for(&check).unwrap()
        )
    });
    monitor.flush().await;
    let in_memory = monitor.current().remove(&check).unwrap();
    monitor.shutdown().await;

    // The first run after the step is where the Down run starts.
    let after_step: Vec<_> = store
        .results(&check, stepped - 1_000, first, 1_000)
        .unwrap();
    let first_down = after_step.iter().map(|r| r.at).min().unwrap();
    assert!(after_step.iter().all(|r| r.outcome.status == Status::Down));
    assert_eq!(latest.since, first_down);
    assert!(in_memory.at >= latest.at && in_memory.since <= in_memory.at);
    assert_eq!(in_memory.outcome.status, Status::Down);

    // The timeline: the Down runs from the first after the step, then
    // unknown; the runs dated ahead (up to `ahead`) no longer show.
    let end = store.latest_for(&check).unwrap().unwrap().at;
    let spans: Vec<_> = store
        .status_spans(std::slice::from_ref(&check), first_down - 1, ahead + 10_000)
        .map(|s| s.unwrap())
        .collect();
    for w in spans.windows(2) {
        assert_eq!(w[0].to_ms, w[1].from_ms, "{spans:?}");
        assert_ne!(w[0].status, w[1].status, "{spans:?}");
    }
    let statuses: Vec<_> = spans.iter().map(|s| s.status).collect();
    assert_eq!(statuses, [None, Some(Status::Down), None], "{spans:?}");
    assert_eq!(spans[1].from_ms, first_down, "{spans:?}");
    assert!(spans[1].to_ms > end, "{spans:?}");
}
