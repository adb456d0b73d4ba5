//! Access logs the agent counts (`--access-log`), on real files being
//! appended, rotated (renamed away, a new file created) and truncated in
//! place; and end to end: the agent's report taken by the central, whose
//! `[site.capacity]` check judges the counted load against the design,
//! keeps the day's peak, and the monthly SLA report shows it.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use keepup_agent::access_log::{AccessLog, Counters, from_args};
use keepup_agent::{Collector, Settings};
use keepup_model::{Status, codes};
use keepup_monitor::host::{Accepted, HostBook};

const GET: &str =
    "127.0.0.1 - - [06/Dec/2026:10:00:00 +0000] \"GET /product/1 HTTP/1.1\" 200 512\n";
const ORDER: &str =
    "127.0.0.1 - - [06/Dec/2026:10:00:00 +0000] \"POST /checkout/complete HTTP/1.1\" 302 0\n";

fn append(path: &Path, text: &str, times: usize) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for _ in 0..times {
        f.write_all(text.as_bytes()).unwrap();
    }
}

fn shop_log(path: &Path) -> Vec<AccessLog> {
    from_args(
        &[format!("shop={}", path.display())],
        &["shop=POST /checkout/complete".to_owned()],
    )
    .unwrap()
}

#[test]
fn lines_are_counted_across_rotation_and_truncation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("access.log");
    // History before the agent starts is not counted.
    append(&path, GET, 500);
    let mut counters = Counters::new(&shop_log(&path));
    let first = &counters.count()["shop"];
    assert_eq!(first.over_s, None);
    assert_eq!(first.lines, 0);

    append(&path, GET, 30);
    append(&path, ORDER, 4);
    let c = &counters.count()["shop"];
    assert!(c.over_s.is_some_and(|s| s > 0.0), "{c:?}");
    assert_eq!((c.lines, c.transactions), (34, Some(4)));
    assert_eq!(c.problem, None);

    // A line written in two parts is one line, matched whole.
    append(&path, "127.0.0.1 - - \"POST /checkout/", 1);
    let c = &counters.count()["shop"];
    assert_eq!((c.lines, c.transactions), (0, Some(0)));
    append(&path, "complete HTTP/1.1\" 302 0\n", 1);
    let c = &counters.count()["shop"];
    assert_eq!((c.lines, c.transactions), (1, Some(1)));

    // logrotate: lines written to the old file after the rename still
    // count (the handle is kept), then the new file from its start.
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&path, &rotated).unwrap();
    append(&rotated, GET, 7);
    let c = &counters.count()["shop"];
    assert_eq!((c.lines, c.problem.as_deref()), (7, None), "{c:?}");
    append(&rotated, ORDER, 2);
    append(&path, GET, 5);
    append(&path, ORDER, 1);
    let c = &counters.count()["shop"];
    assert_eq!((c.lines, c.transactions), (8, Some(3)), "{c:?}");
    append(&path, GET, 3);
    assert_eq!(counters.count()["shop"].lines, 3);

    // copytruncate: the file is emptied in place and written again.
    std::fs::write(&path, "").unwrap();
    append(&path, GET, 2);
    let c = &counters.count()["shop"];
    assert_eq!(c.lines, 2, "{c:?}");

    // A line longer than the kept part counts once; gone, the log is a
    // problem named in the report, not a crash.
    append(
        &path,
        &format!("{}POST /checkout/complete\n", "x".repeat(100_000)),
        1,
    );
    let c = &counters.count()["shop"];
    assert_eq!((c.lines, c.transactions), (1, Some(0)));
    drop(counters);
    let mut missing = Counters::new(&shop_log(&dir.path().join("absent.log")));
    let c = &missing.count()["shop"];
    assert!(
        c.problem
            .as_deref()
            .is_some_and(|p| p.contains("absent.log")),
        "{c:?}"
    );
}

#[test]
fn options_are_checked() {
    assert!(from_args(&["shop=/a".into(), "shop=/b".into()], &[]).is_err());
    let e = from_args(&["shop=/a".into()], &["web=GET".into()]).unwrap_err();
    assert!(e.contains("no --access-log is named \"web\""), "{e}");
    let e = from_args(&["shop=/a".into()], &["shop=(".into()]).unwrap_err();
    assert!(e.contains("invalid regex"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_central_judges_the_counted_load_and_the_report_shows_its_peak() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    append(&log, GET, 10);
    std::fs::write(dir.path().join("token"), "capacity-token-0123456789").unwrap();
    let src = r#"
[[agent]]
name = "web1"
token_file = "token"
interval = "10s"

[[site]]
id = "shop"
[[site.check]]
id = "port"
kind = "tcp"
host = "127.0.0.1"
port = 9
[site.capacity]
requests_per_second = 2
transactions_per_hour = 360
source = { agent = "web1", access_log = "shop" }

[[contract]]
id = "shop-sla"
site = "shop"
target = 99.9
period = "month"
time_zone = "UTC"
"#;
    let config =
        keepup_config::load_str(src, &dir.path().join("k.toml")).unwrap_or_else(|p| panic!("{p}"));
    let store = keepup_store::Store::open(&dir.path().join("k.db")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    // Mid-November 2026, on the central's clock.
    let t0: i64 = 1_794_744_000_000;
    let book = HostBook::default();
    book.configure(&config, &checks, &store, t0);
    let agent = config.agents[0].clone();
    let mut collector = Collector::new(Settings {
        name: "web1".into(),
        access_logs: shop_log(&log),
        ..Settings::default()
    });
    let spec = match &config.find_check("shop/capacity").unwrap().spec {
        keepup_config::CheckSpec::Passive(keepup_config::PassiveSpec::Capacity(c)) => (**c).clone(),
        other => panic!("{other:?}"),
    };
    let mut seq = 0;
    let mut take = async |at: i64| {
        seq += 1;
        let report = collector.collect(seq, at).await;
        let Ok(Accepted::New(judged)) = book.accept(&agent, report, &store, at) else {
            panic!("report not taken")
        };
        let (check, o) = judged
            .verdicts
            .into_iter()
            .find(|(c, _)| c.id.as_str() == "shop/capacity")
            .expect("a capacity verdict");
        assert_eq!(check.id.as_str(), "shop/capacity");
        o
    };

    // The first report only finds the log's end.
    let o = take(t0).await;
    assert_eq!(o.status, Status::Unknown, "{o:?}");
    assert!(o.message.contains("from its next report on"), "{o:?}");

    // Requests far past the design of 2/s and orders past 360/h, whatever
    // the seconds between the two collections: the values are the counts
    // over the time the agent measured.
    append(&log, GET, 3_000);
    append(&log, ORDER, 40);
    let o = take(t0 + 10_000).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    let found: Vec<&str> = o.findings.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(
        found,
        [
            codes::CAPACITY_DESIGN_EXCEEDED,
            codes::CAPACITY_DESIGN_EXCEEDED
        ]
    );
    let over = o.evidence.details["measured_over_s"].as_f64().unwrap();
    let rps = o.evidence.details["load"]["requests_per_second"]["value"]
        .as_f64()
        .unwrap();
    assert!((rps - 3_040.0 / over).abs() < 1e-6, "{rps} over {over}");
    let tph = o.evidence.details["load"]["transactions_per_hour"]["value"]
        .as_f64()
        .unwrap();
    assert!((tph - 40.0 / over * 3600.0).abs() < 1e-6, "{tph}");
    // The scheduled run judges the same report.
    let scheduled = book.evaluate_capacity(&spec, t0 + 11_000);
    assert_eq!(scheduled.status, Status::Down, "{scheduled:?}");

    // Nothing written: no load, Up; the day's peak stays in the evidence.
    let o = take(t0 + 20_000).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    // Read back from the store's JSON: equal to the last bit or two.
    let close = |v: Option<f64>| v.is_some_and(|v| (v - rps).abs() < 1e-9);
    assert!(close(
        o.evidence.details["peak_today"]["requests_per_second"]["value"].as_f64()
    ));

    // The monthly report's line: November's peak against the design.
    let contract = &config.contracts[0];
    let window = keepup_sla::Window::for_month(contract, "2026-11").unwrap();
    let now = 1_796_083_200_000 + 3_600_000;
    let report = keepup_monitor::reports::build(&store, &config, contract, &window, now).unwrap();
    let capacity = report.capacity.as_ref().expect("a capacity line");
    assert_eq!(capacity.check, "shop/capacity");
    let requests = &capacity.measures[0];
    assert_eq!(requests.measure, "requests_per_second");
    assert_eq!(requests.design, 2.0);
    assert!(close(requests.peak), "{requests:?}");
    assert_eq!(requests.at, Some(t0 + 10_000));
    assert!(
        requests
            .share_percent
            .is_some_and(|s| (s - rps * 50.0).abs() < 1e-6)
    );
    let files = keepup_monitor::reports::render(&report).unwrap();
    let html = String::from_utf8(files.html).unwrap();
    assert!(
        html.contains("<h2>Load against design capacity</h2>"),
        "no section"
    );
    let csv = String::from_utf8(files.csv).unwrap();
    assert!(
        csv.contains("capacity,requests_per_second,design,2\n")
            && csv.contains("capacity,transactions_per_hour,peak_at,2026-11-15T12:00:10Z"),
        "{csv}"
    );
    let json = String::from_utf8(files.json).unwrap();
    assert!(json.contains("\"capacity\": {"), "{json}");

    // December's report has the line without a peak: nothing measured.
    let december = keepup_sla::Window::for_month(contract, "2026-12").unwrap();
    let report = keepup_monitor::reports::build(&store, &config, contract, &december, now).unwrap();
    let capacity = report.capacity.expect("a capacity line");
    assert_eq!(capacity.measures[0].peak, None);
}
