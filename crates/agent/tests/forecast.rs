//! Capacity forecasts end to end: the agent's real collector measures a
//! real tmpfs filled by the same amount between reports, each report is
//! pushed to a real central keepup (monitor, store and web listener on
//! loopback) whose clock is set to the report's time (two simulated hours
//! apart: two days in seconds), the host check's forecast fits the
//! samples, and the result carries `CAPACITY_EXHAUSTED_SOON` with the
//! days left the growth implies; the monthly report lists the tmpfs in
//! its capacity section.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use keepup_agent::{Collector, Settings};
use keepup_model::{CheckId, Clock, ManualClock, Severity, Status, codes};
use keepup_monitor::Monitor;
use keepup_notify::HttpClientContext;
use keepup_testkit::disk::Tmpfs;

const TOKEN: &str = "fill-token-0123456789";
const HOUR: i64 = 3_600_000;
/// 2025-11-10T00:00:00Z: two days of reports within one month.
const START: i64 = 1_762_732_800_000;

/// The newest result of `id` at or after `at`, once the recorder wrote it.
async fn result_at(monitor: &Monitor, id: &CheckId, at: i64) -> keepup_store::ResultRecord {
    for _ in 0..300 {
        let got = monitor.store().results(id, at, at + 1, 1).unwrap();
        if let Some(r) = got.into_iter().next() {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no result of {id} at {at} in 15 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filling_tmpfs_is_forecast_full_in_the_days_its_growth_implies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("filling");
    // 16 MiB: each 256 KiB written is 1.5625 % of it.
    let fs = Tmpfs::mount(&path, "16m");
    let mount = path.to_str().unwrap().to_owned();
    std::fs::write(dir.path().join("fill.token"), TOKEN).unwrap();
    let src = format!(
        r#"
[[agent]]
name = "fill"
token_file = "fill.token"
interval = "2h"

[[site]]
id = "s"

[[site.check]]
id = "fill"
kind = "host"
agent = "fill"
interval = "2h"
disk."{mount}" = {{ crit = "99%" }}
forecast = {{ window = "2d" }}

[[contract]]
id = "front"
site = "s"
target = 99.9
down_when = "fill"
"#
    );
    let config = Arc::new(
        keepup_config::load_str(&src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}")),
    );
    let clock = Arc::new(ManualClock::new(START));
    let store = keepup_store::Store::open(&dir.path().join("k.db")).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            config.clone(),
            store,
            keepup_probe::ProbeContext::new(),
            clock.clone(),
        )
        .await
        .unwrap(),
    );
    let port = keepup_testkit::ports::free_port(Ipv4Addr::LOCALHOST).unwrap();
    let listener = keepup_web::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let limits = config.server.limits.clone();
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve(listener, router, &limits, async move {
            let _ = stopped.await;
        })
        .await
    });
    let url = format!("http://127.0.0.1:{port}/agent/report");
    let mut collector = Collector::new(Settings {
        name: "fill".into(),
        ..Settings::default()
    });
    let id = CheckId::new("s", "fill");
    let chunk = vec![7u8; 256 * 1024];
    let mut last = None;
    for k in 0..=24u64 {
        let at = START + k as i64 * 2 * HOUR;
        clock.set(at);
        if k > 0 {
            std::fs::write(path.join(format!("part{k}")), &chunk).unwrap();
        }
        let report = collector.collect(k + 1, at).await;
        let body = serde_json::to_vec(&report).unwrap();
        let (status, _) = keepup_notify::bearer_request(
            &HttpClientContext::new(),
            "test",
            &url,
            TOKEN,
            Some(body.into()),
            Duration::from_secs(10),
            4096,
        )
        .await
        .unwrap();
        assert_eq!(status.as_u16(), 200);
        let r = result_at(&monitor, &id, at).await;
        let entry = r.outcome.evidence.details["forecast"][0].clone();
        if k == 3 {
            // Four samples over six hours: none yet, and it says why.
            let state = entry["state"].as_str().unwrap();
            assert!(
                state.starts_with("no forecast yet: 4 samples over 6h"),
                "{state}"
            );
            assert_eq!(r.outcome.status, Status::Up, "{:?}", r.outcome);
        }
        last = Some(r);
    }
    let r = last.unwrap();
    let entry = &r.outcome.evidence.details["forecast"][0];
    // 1.5625 % every two hours is 18.75 % a day; at 37.5 % after 48 h the
    // 62.5 % left last 3.33 days.
    let per_day = entry["slope_per_day"].as_f64().unwrap();
    let left = entry["days_left"].as_f64().unwrap();
    assert!((per_day - 18.75).abs() < 0.2, "{entry:#}");
    assert!((left - 10.0 / 3.0).abs() < 0.1, "{entry:#}");
    assert_eq!(entry["points"], 25, "{entry:#}");
    assert!(entry["days_left_low"].as_f64().unwrap() <= left);
    assert!(entry["days_left_high"].as_f64().unwrap() >= left);
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
            .starts_with(&format!("used space on {mount} reaches 100% in 3.3 days")),
        "{}",
        found[0].text
    );
    assert_eq!(r.outcome.status, Status::Degraded, "{:?}", r.outcome);
    // The samples are in the store: a restart reads the series back.
    let kept = monitor
        .store()
        .samples(&id, &format!("disk:{mount}"), 0, 1_000)
        .unwrap();
    assert_eq!(kept.len(), 25);
    // /metrics has the seconds left.
    let (status, body) = keepup_notify::bearer_request(
        &HttpClientContext::new(),
        "test",
        &format!("http://127.0.0.1:{port}/metrics"),
        "",
        None,
        Duration::from_secs(10),
        1 << 20,
    )
    .await
    .unwrap();
    assert_eq!(status.as_u16(), 200);
    let metrics = String::from_utf8(body.to_vec()).unwrap();
    let prefix = format!(
        "keepup_forecast_seconds_left{{check=\"s/fill\",site=\"s\",kind=\"host\",measure=\"disk:{mount}\"}} "
    );
    let line = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {prefix} in\n{metrics}"));
    let seconds: f64 = line.parse().unwrap();
    assert!((seconds / 86_400.0 - 10.0 / 3.0).abs() < 0.1, "{line}");

    // The month's report lists the tmpfs as running out this quarter, as
    // of the measured end (now, exclusive), from the samples before it:
    // the first 24, whose line is at 37.5 % at 48 h, 62.5 / 18.75 = 3.33
    // days (the store's samples, not a result: raw results are kept 7
    // days).
    let contract = &config.contracts[0];
    let window = keepup_sla::Window::for_month(contract, "2025-11").unwrap();
    let report =
        keepup_monitor::reports::build(monitor.store(), &config, contract, &window, clock.now_ms())
            .unwrap();
    let files = keepup_monitor::reports::render(&report).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&files.json).unwrap();
    let listed = &json["forecasts"][0];
    assert_eq!(listed["check"], "s/fill", "{json:#}");
    assert_eq!(listed["measure"], format!("disk:{mount}"));
    let days = listed["days_left"].as_f64().unwrap();
    assert!((days - 10.0 / 3.0).abs() < 0.05, "{days}");
    let html = String::from_utf8(files.html).unwrap();
    assert!(html.contains("Capacity forecasts: what runs out within the next quarter"));
    assert!(
        html.contains(&format!(
            "<td>used space on {mount}</td><td>100%</td><td class=\"num\">3.3</td>"
        )),
        "{html}"
    );
    let csv = String::from_utf8(files.csv).unwrap();
    assert!(
        csv.contains(&format!("forecast,s/fill#disk:{mount},days_left,3.33")),
        "{csv}"
    );
    drop(stop);
    monitor.shutdown().await;
    drop(fs);
}
