//! Capacity forecasts on measures that probes read, end to end: a real
//! monitor (scheduler, probes, recorder, store) with a manual clock runs
//! the check once per simulated hour while the test grows what it
//! measures by the same amount each hour, and the forecast's days left
//! are the ones that growth implies.
//!
//! - a PostgreSQL database (testkit, Debian's server on loopback) whose
//!   table gains 128 pages (1 MiB) an hour, measured by the postgres
//!   probe's `pg_database_size`;
//! - a Prometheus gauge (an in-process exporter speaking the text format)
//!   that gains 100 an hour, read as a declared measure by the prometheus
//!   probe.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keepup_model::{CheckId, ManualClock, Severity, Status, codes};
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{ResultRecord, Store};
use keepup_testkit::http::{TestServer, text};
use keepup_testkit::postgres::Postgres;

const HOUR: i64 = 3_600_000;
/// 2026-11-02T00:00:00Z.
const START: i64 = 1_793_577_600_000;
const MIB: f64 = 1024.0 * 1024.0;

/// A monitor of `src` (loaded from `dir`) on a manual clock at [`START`].
async fn monitor(dir: &std::path::Path, src: &str) -> (Monitor, Arc<ManualClock>) {
    let config = Arc::new(
        keepup_config::load_str(src, &dir.join("k.toml")).unwrap_or_else(|p| panic!("{p}")),
    );
    let clock = Arc::new(ManualClock::new(START));
    let store = Store::open(&dir.join("k.db")).unwrap();
    let monitor = Monitor::start(config, store, ProbeContext::new(), clock.clone())
        .await
        .unwrap();
    (monitor, clock)
}

/// Sets the clock to `at`, runs `id` and returns its result at `at`.
async fn run_at(monitor: &Monitor, clock: &ManualClock, id: &CheckId, at: i64) -> ResultRecord {
    clock.set(at);
    monitor.scheduler().run_now(id.clone());
    for _ in 0..300 {
        monitor.flush().await;
        if let Some(r) = monitor.store().results(id, at, at + 1, 1).unwrap().pop() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no result of {id} at {at} in 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_postgres_database_is_forecast_full_in_the_days_its_growth_implies() {
    let pg = Postgres::start().expect("PostgreSQL starts");
    // One row per 8 KiB page: 5,000 bytes stored as written (no TOAST, no
    // compression), and no autovacuum to add its maps at random.
    pg.psql(
        "CREATE TABLE grow (pad text) WITH (autovacuum_enabled = false); \
         ALTER TABLE grow ALTER pad SET STORAGE PLAIN;",
    )
    .unwrap();
    let initial: f64 = pg
        .psql("SELECT pg_database_size('postgres');")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.pass"), pg.password()).unwrap();
    // 24 hours of 1 MiB, then 72 MiB to go at 24 MiB a day: 3 days.
    let limit = (initial / MIB).ceil() + 24.0 + 72.0;
    let src = format!(
        r#"
[[site]]
id = "s"

[[site.check]]
id = "db"
kind = "postgres"
host = "127.0.0.1"
port = {port}
user = "{user}"
password_file = "pg.pass"
tls = "disable"
interval = "1h"
forecast = {{ measure = "size", limit = "{limit}MiB", window = "1d" }}
"#,
        port = pg.port(),
        user = pg.user(),
    );
    let (monitor, clock) = monitor(dir.path(), &src).await;
    let id = CheckId::new("s", "db");
    let mut last = None;
    for k in 0..=24 {
        if k > 0 {
            pg.psql("INSERT INTO grow SELECT repeat('x', 5000) FROM generate_series(1, 128);")
                .unwrap();
        }
        last = Some(run_at(&monitor, &clock, &id, START + k * HOUR).await);
    }
    let r = last.unwrap();
    let size = r.outcome.evidence.details["postgres"]["database_size_bytes"]
        .as_f64()
        .unwrap_or_else(|| panic!("{:#?}", r.outcome));
    let now: f64 = pg
        .psql("SELECT pg_database_size('postgres');")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(size, now, "the probe's size is PostgreSQL's");
    let entry = &r.outcome.evidence.details["forecast"][0];
    assert_eq!(entry["measure"], "size", "{entry:#}");
    assert_eq!(entry["points"], 25, "{entry:#}");
    // 128 pages an hour are 24 MiB a day (the relation grows in bulk
    // extensions, so single hours step unevenly: the line goes through).
    let per_day = entry["slope_per_day"].as_f64().unwrap() / MIB;
    assert!((per_day - 24.0).abs() < 24.0 * 0.05, "{entry:#}");
    let left = entry["days_left"].as_f64().unwrap();
    let expected = (limit * MIB - size) / (24.0 * MIB);
    assert!(
        (left - expected).abs() < 0.15,
        "{left} vs {expected}: {entry:#}"
    );
    assert!((expected - 3.0).abs() < 0.1, "{expected}");
    let found: Vec<_> = r
        .outcome
        .findings
        .iter()
        .filter(|f| f.code == codes::CAPACITY_EXHAUSTED_SOON)
        .collect();
    assert_eq!(found.len(), 1, "{:?}", r.outcome.findings);
    assert_eq!(found[0].severity, Severity::Warning);
    assert!(
        found[0]
            .text
            .starts_with(&format!("the database's size reaches {limit} MiB in ")),
        "{}",
        found[0].text
    );
    assert_eq!(r.outcome.status, Status::Degraded, "{:?}", r.outcome);
    assert_eq!(
        monitor
            .store()
            .samples(&id, "size", 0, 1_000)
            .unwrap()
            .len(),
        25
    );
    monitor.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_growing_prometheus_gauge_is_forecast_through_the_real_probe() {
    let length = Arc::new(AtomicU64::new(0));
    let served = Arc::clone(&length);
    let exporter = TestServer::start(move |_req| {
        let n = served.load(Ordering::SeqCst);
        async move {
            text(
                200,
                format!(
                    "# TYPE queue_length gauge\nqueue_length{{queue=\"orders\"}} {n}\nqueue_length{{queue=\"refunds\"}} 3\n"
                ),
            )
        }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        r#"
[[site]]
id = "s"

[[site.check]]
id = "queues"
kind = "prometheus"
url = "{}"
interval = "1h"
forecast = {{ measure = "orders_queue", limit = 10000, window = "1d" }}
[[site.check.measure]]
name = "orders_queue"
expr = 'queue_length{{queue="orders"}}'
"#,
        exporter.url("/metrics")
    );
    let (monitor, clock) = monitor(dir.path(), &src).await;
    let id = CheckId::new("s", "queues");
    let mut last = None;
    for k in 0..=24u64 {
        length.store(100 * k, Ordering::SeqCst);
        let r = run_at(&monitor, &clock, &id, START + k as i64 * HOUR).await;
        assert_eq!(
            r.outcome.evidence.details["measures"]["orders_queue"]["value"],
            (100 * k) as f64,
            "{:#?}",
            r.outcome
        );
        last = Some(r);
    }
    let r = last.unwrap();
    let entry = &r.outcome.evidence.details["forecast"][0];
    // 2,400 a day; at 2,400 the 7,600 left last 3.17 days.
    let per_day = entry["slope_per_day"].as_f64().unwrap();
    assert!((per_day - 2400.0).abs() < 1e-6, "{entry:#}");
    let left = entry["days_left"].as_f64().unwrap();
    assert!((left - 7600.0 / 2400.0).abs() < 1e-3, "{entry:#}");
    assert_eq!(r.outcome.status, Status::Degraded, "{:?}", r.outcome);
    let finding = r
        .outcome
        .findings
        .iter()
        .find(|f| f.code == codes::CAPACITY_EXHAUSTED_SOON)
        .unwrap_or_else(|| panic!("{:?}", r.outcome.findings));
    assert!(
        finding
            .text
            .starts_with("orders_queue reaches 10000 in 3.2 days"),
        "{}",
        finding.text
    );
    monitor.shutdown().await;
}
