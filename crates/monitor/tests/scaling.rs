//! Capacity scaling end to end: a real monitor (scheduler, the real
//! prometheus probe, recorder, store, action engine) on a manual clock
//! reads a gauge from an in-process exporter speaking the Prometheus text
//! format, once a simulated minute; `[[action]]`s with measure triggers
//! move a `[[scale]]` level through a webhook to an in-process receiver
//! standing in for a provider's resize API (which the test can make
//! fail).
//!
//! Proven on one timeline: the scale-up runs once its window (5 min) was
//! past the threshold throughout and not before, a dip resets the window,
//! a step at the maximum is skipped and recorded, the scale-down runs only
//! after its longer window (15 min), a failed run leaves the level, a
//! restart keeps both the level and a window half-way, a step at the
//! minimum is skipped; each run keeps the measure, threshold, window,
//! values seen and the level's step, and the provider is told the size.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keepup_model::{CheckId, ManualClock};
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{ActionRun, RunOutcome, Store};
use keepup_testkit::http::{TestServer, text};

const MIN: i64 = 60_000;
/// 2026-11-02T00:00:00Z.
const START: i64 = 1_793_577_600_000;

async fn start(
    src: &str,
    dir: &std::path::Path,
    store: &Store,
    clock: &Arc<ManualClock>,
) -> Monitor {
    let config = Arc::new(
        keepup_config::load_str(src, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}")),
    );
    Monitor::start(config, store.clone(), ProbeContext::new(), clock.clone())
        .await
        .unwrap()
}

/// Runs the check at minute `k` with the gauge at `value`.
async fn minute(monitor: &Monitor, clock: &ManualClock, gauge: &AtomicU64, k: i64, value: u64) {
    let id = CheckId::new("s", "queues");
    let at = START + k * MIN;
    gauge.store(value, Ordering::SeqCst);
    clock.set(at);
    monitor.scheduler().run_now(id.clone());
    for _ in 0..300 {
        monitor.flush().await;
        if !monitor
            .store()
            .results(&id, at, at + 1, 1)
            .unwrap()
            .is_empty()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no result of {id} at minute {k} in 15 s");
}

fn runs(store: &Store) -> Vec<ActionRun> {
    let mut r = store.action_runs(0, None, 100).unwrap();
    r.reverse();
    r
}

/// Waits until `n` runs are recorded and none is still running.
async fn wait_runs(store: &Store, n: usize) -> Vec<ActionRun> {
    common::wait_until(&format!("{n} action runs"), 15, || {
        let r = runs(store);
        r.len() >= n && r.iter().all(|r| r.outcome != RunOutcome::Running)
    })
    .await;
    let r = runs(store);
    assert_eq!(r.len(), n, "{r:#?}");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measure_triggers_scale_a_level_within_its_bounds_across_a_restart() {
    let gauge = Arc::new(AtomicU64::new(0));
    let served = gauge.clone();
    let exporter = TestServer::start(move |_req| {
        let n = served.load(Ordering::SeqCst);
        async move {
            text(
                200,
                format!("# TYPE queue_length gauge\nqueue_length {n}\n"),
            )
        }
    })
    .await
    .unwrap();
    // The provider's resize API: records each request, fails while told to.
    let failing = Arc::new(AtomicBool::new(false));
    let got: Arc<Mutex<Vec<(serde_json::Value, String)>>> = Arc::default();
    let (f, g) = (failing.clone(), got.clone());
    let provider = TestServer::start(move |req| {
        let (f, g) = (f.clone(), g.clone());
        async move {
            let body: serde_json::Value =
                serde_json::from_slice(req.body()).unwrap_or(serde_json::Value::Null);
            let key = req
                .headers()
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            g.lock().unwrap().push((body, key));
            if f.load(Ordering::SeqCst) {
                text(503, "resize failed")
            } else {
                text(200, "resized")
            }
        }
    })
    .await
    .unwrap();
    let hook = r#"{ url = "PROVIDER", method = "PUT", body_template = '{"size": {{ level }}, "from": {{ from }}, "group": "{{ level_name }}"}', retries = 0 }"#
        .replace("PROVIDER", &provider.url("/resize"));
    let src = r#"
[[site]]
id = "s"

[[site.check]]
id = "queues"
kind = "prometheus"
url = "EXPORTER"
interval = "1m"
[[site.check.measure]]
name = "orders"
expr = 'queue_length'

[[scale]]
name = "workers"
min = 2
max = 3

[[action]]
name = "up"
webhook = HOOK
measure = { check = "s/queues", measure = "orders", above = 100, for = "5m" }
scale = { level = "workers", by = 1 }
cooldown = "1m"

[[action]]
name = "down"
webhook = HOOK
measure = { check = "s/queues", measure = "orders", below = 20, for = "15m" }
scale = { level = "workers", by = -1 }
cooldown = "1m"
"#
    .replace("EXPORTER", &exporter.url("/metrics"))
    .replace("HOOK", &hook);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("k.db")).unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let monitor = start(&src, dir.path(), &store, &clock).await;

    // Past 100 for minutes 0..2, a dip at 3 resets the window; past again
    // from 4: the window is 5 minutes at minute 9, and not before.
    for k in 0..=2 {
        minute(&monitor, &clock, &gauge, k, 150).await;
    }
    minute(&monitor, &clock, &gauge, 3, 50).await;
    for k in 4..=8 {
        minute(&monitor, &clock, &gauge, k, 150 + 10 * (k as u64 - 4)).await;
    }
    assert!(runs(&store).is_empty(), "{:#?}", runs(&store));
    minute(&monitor, &clock, &gauge, 9, 200).await;
    let r = wait_runs(&store, 1).await;
    assert_eq!(
        (r[0].action.as_str(), r[0].outcome),
        ("up", RunOutcome::Ok),
        "{r:#?}"
    );
    assert_eq!(
        r[0].started_at,
        START + 9 * MIN,
        "after the window, not before"
    );
    assert_eq!(r[0].cause, "measure");
    let d = r[0].decision.as_ref().expect("the run keeps its inputs");
    assert_eq!(d["measure"]["check"], "s/queues");
    assert_eq!(d["measure"]["measure"], "orders");
    assert_eq!(d["measure"]["side"], "above");
    assert_eq!(d["measure"]["threshold"], 100.0);
    assert_eq!(d["measure"]["for_s"], 300);
    assert_eq!(
        d["measure"]["since"],
        keepup_model::format_rfc3339(START + 4 * MIN)
    );
    assert_eq!(d["measure"]["values"]["count"], 6, "{d:#}");
    assert_eq!(d["measure"]["values"]["min"], 150.0);
    assert_eq!(d["measure"]["values"]["max"], 200.0);
    assert_eq!(d["measure"]["values"]["last"], 200.0);
    assert_eq!(d["level"]["name"], "workers");
    assert_eq!(
        (d["level"]["from"].as_u64(), d["level"]["to"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(
        keepup_actions::decision_words(&r[0]),
        format!(
            "orders above 100 for 5m: 6 values 150..200, last 200 (past since {}); workers 2 → 3",
            keepup_model::format_rfc3339(START + 4 * MIN)
        )
    );
    assert_eq!(monitor.actions().level("workers").await.unwrap(), Some(3));

    // Still past: a new window from minute 10 decides at 15, at the
    // maximum: skipped, recorded, the provider not called.
    for k in 10..=15 {
        minute(&monitor, &clock, &gauge, k, 180).await;
    }
    let r = wait_runs(&store, 2).await;
    assert_eq!(
        (r[1].action.as_str(), r[1].outcome),
        ("up", RunOutcome::Skipped)
    );
    assert_eq!(r[1].started_at, START + 15 * MIN);
    assert_eq!(r[1].reason, "workers is at max 3");
    assert_eq!(
        r[1].decision.as_ref().unwrap()["measure"]["values"]["count"],
        6
    );

    // Below 20 from minute 16: the down window (15 min) decides at 31;
    // the provider fails, the level stays.
    failing.store(true, Ordering::SeqCst);
    for k in 16..=30 {
        minute(&monitor, &clock, &gauge, k, 10).await;
    }
    assert_eq!(runs(&store).len(), 2, "not before the longer window");
    minute(&monitor, &clock, &gauge, 31, 10).await;
    let r = wait_runs(&store, 3).await;
    assert_eq!(
        (r[2].action.as_str(), r[2].outcome),
        ("down", RunOutcome::Failed),
        "{r:#?}"
    );
    assert_eq!(r[2].started_at, START + 31 * MIN);
    assert!(
        r[2].reason.ends_with("; workers stays at 3"),
        "{}",
        r[2].reason
    );
    assert_eq!(monitor.actions().level("workers").await.unwrap(), Some(3));
    failing.store(false, Ordering::SeqCst);

    // A new window from 32; keepup restarts at 38, half-way: the level
    // and the window survive, so it decides at 47 (32 + 15), 3 → 2.
    for k in 32..=38 {
        minute(&monitor, &clock, &gauge, k, 12).await;
    }
    monitor.shutdown().await;
    let monitor = start(&src, dir.path(), &store, &clock).await;
    assert_eq!(monitor.actions().level("workers").await.unwrap(), Some(3));
    for k in 39..=46 {
        minute(&monitor, &clock, &gauge, k, 12).await;
    }
    assert_eq!(runs(&store).len(), 3);
    minute(&monitor, &clock, &gauge, 47, 12).await;
    let r = wait_runs(&store, 4).await;
    assert_eq!(
        (r[3].action.as_str(), r[3].outcome),
        ("down", RunOutcome::Ok),
        "{r:#?}"
    );
    assert_eq!(r[3].started_at, START + 47 * MIN);
    let d = r[3].decision.as_ref().unwrap();
    assert_eq!(
        d["measure"]["since"],
        keepup_model::format_rfc3339(START + 32 * MIN)
    );
    assert_eq!(d["measure"]["values"]["count"], 16, "{d:#}");
    assert_eq!(
        (d["level"]["from"].as_u64(), d["level"]["to"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(monitor.actions().level("workers").await.unwrap(), Some(2));

    // The next window at the minimum: skipped, recorded.
    for k in 48..=63 {
        minute(&monitor, &clock, &gauge, k, 12).await;
    }
    let r = wait_runs(&store, 5).await;
    assert_eq!(
        (r[4].action.as_str(), r[4].outcome),
        ("down", RunOutcome::Skipped)
    );
    assert_eq!(r[4].reason, "workers is at min 2");
    assert_eq!(monitor.actions().level("workers").await.unwrap(), Some(2));

    // The provider was told absolute sizes, once per run that acted, each
    // under its own idempotency key.
    let calls = got.lock().unwrap().clone();
    let sizes: Vec<(u64, u64)> = calls
        .iter()
        .map(|(b, _)| (b["size"].as_u64().unwrap(), b["from"].as_u64().unwrap()))
        .collect();
    assert_eq!(sizes, [(3, 2), (2, 3), (2, 3)], "{calls:#?}");
    assert!(calls.iter().all(|(b, _)| b["group"] == "workers"));
    let keys: std::collections::HashSet<&str> = calls.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(keys.len(), 3, "{calls:#?}");
    monitor.shutdown().await;
}
