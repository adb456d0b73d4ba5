//! The day's peak load of a scraped capacity check, kept by a running
//! monitor on its own clock (a manual one here, days away from the wall
//! clock) under the local day of the site's contract's time zone, read
//! back by the monthly report of that zone, and a check's days past the
//! retention dropped when its next day begins.

use keepup_model::{CheckId, Clock, ManualClock, Status};
use keepup_monitor::Monitor;
use keepup_monitor::peaks::{DayPeaks, PEAK_MEMO};
use keepup_probe::ProbeContext;
use keepup_store::Store;
use keepup_testkit::http::{TestServer, text};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

mod common;

fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peak_after_midnight_in_berlin_is_decembers_on_the_monitors_clock() {
    // A counter that grows by 100 requests per scrape: some rate, a peak.
    let scrapes = Arc::new(AtomicU64::new(0));
    let counted = scrapes.clone();
    let server = TestServer::start(move |_req| {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        async move {
            text(
                200,
                format!(
                    "# TYPE http_requests_total counter\nhttp_requests_total {}\n",
                    n * 100
                ),
            )
        }
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        r#"[[site]]
id = "shop"
[[site.check]]
id = "port"
kind = "tcp"
host = "127.0.0.1"
port = 9
interval = "1h"
[site.capacity]
requests_per_second = 200
interval = "1h"
source = {{ url = "{}", requests = 'rate(http_requests_total)' }}

[[contract]]
id = "shop-sla"
site = "shop"
target = 99.9
period = "month"
time_zone = "Europe/Berlin"
"#,
        server.url("/metrics")
    );
    let config = Arc::new(
        keepup_config::load_str(&src, &dir.path().join("keepup.toml"))
            .unwrap_or_else(|p| panic!("{p}")),
    );
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    // Peaks of long ago: this check's go, another check's stay.
    store
        .put_memo(PEAK_MEMO, "shop/capacity@2024-01-01", "{}", 0)
        .unwrap();
    store
        .put_memo(PEAK_MEMO, "shop/capacity@2024-01-01@Europe/Berlin", "{}", 0)
        .unwrap();
    store
        .put_memo(PEAK_MEMO, "other/capacity@2024-01-01", "{}", 0)
        .unwrap();

    // 23:30 UTC on November 30th is 00:30 on December 1st in Berlin.
    let t = at("2026-11-30T23:30:00Z");
    let clock = Arc::new(ManualClock::new(t));
    let monitor = Monitor::start(
        config.clone(),
        store.clone(),
        ProbeContext::new(),
        clock.clone(),
    )
    .await
    .unwrap();
    let id = CheckId::new("shop", "capacity");
    let berlin_key = "shop/capacity@2026-12-01@Europe/Berlin";
    // The first scrape only starts the rate; run until a load is measured.
    common::wait_until("a peak kept", 30, || {
        if store.memo(PEAK_MEMO, berlin_key).is_ok_and(|m| m.is_some()) {
            return true;
        }
        monitor.scheduler().run_now(id.clone());
        false
    })
    .await;
    monitor.flush().await;
    let kept: DayPeaks =
        serde_json::from_str(&store.memo(PEAK_MEMO, berlin_key).unwrap().unwrap()).unwrap();
    let peak = kept.0["requests_per_second"];
    assert_eq!(
        peak.at,
        clock.now_ms(),
        "the run's time on the monitor's clock"
    );
    assert!(peak.value > 0.0, "{peak:?}");
    assert_eq!(
        store.memo(PEAK_MEMO, "shop/capacity@2026-11-30").unwrap(),
        None,
        "kept under the contract's day, not the UTC one"
    );
    let current = monitor.current();
    let state = &current[&id];
    assert_ne!(state.outcome.status, Status::Unknown, "{:?}", state.outcome);
    assert_eq!(
        state.outcome.evidence.details["peak_today"]["requests_per_second"]["at"],
        serde_json::json!(t)
    );
    monitor.shutdown().await;

    let left: Vec<String> = store
        .memos(PEAK_MEMO)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(left, ["other/capacity@2024-01-01", berlin_key], "{left:?}");

    // November's report in Berlin has no peak, December's has it.
    let contract = &config.contracts[0];
    let now = at("2027-01-02T00:00:00Z");
    let report = |month: &str| {
        let window = keepup_sla::Window::for_month(contract, month).unwrap();
        keepup_monitor::reports::build(&store, &config, contract, &window, now)
            .unwrap()
            .capacity
            .expect("a capacity line")
            .measures[0]
            .clone()
    };
    assert_eq!(report("2026-11").peak, None);
    let december = report("2026-12");
    assert_eq!(december.peak, Some(peak.value));
    assert_eq!(december.at, Some(t));
}
