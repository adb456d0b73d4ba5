//! The daemon's closing of SLA periods (`keepup_monitor::reports::
//! close_periods`, what its report loop calls every minute) over months and
//! quarters in Berlin: nothing before a period's end plus `report_delay`,
//! every period missed while the daemon was down caught up oldest first,
//! each kept once, and nothing for periods before the daemon first saw the
//! contract. And a running monitor closes them by itself.

use keepup_model::ManualClock;
use keepup_monitor::Monitor;
use keepup_monitor::reports::{Closed, PeriodRetries, attach, close_periods};
use keepup_probe::ProbeContext;
use keepup_store::Store;
use std::path::Path;
use std::sync::Arc;

mod common;

fn at(rfc3339: &str) -> i64 {
    rfc3339.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

fn config(dir: &Path, contracts: &[(&str, &str)]) -> keepup_config::Config {
    let mut src = String::from(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n",
    );
    for (id, period) in contracts {
        src.push_str(&format!(
            "[[contract]]\nid = \"{id}\"\nsite = \"shop\"\ntarget = 99.9\nperiod = \"{period}\"\n\
             time_zone = \"Europe/Berlin\"\nreport_delay = \"30m\"\n"
        ));
    }
    keepup_config::load_str(&src, &dir.join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"))
}

fn periods(closed: &[Closed]) -> Vec<(&str, &str)> {
    closed
        .iter()
        .map(|c| (c.contract.as_str(), c.period.as_str()))
        .collect()
}

#[test]
fn missed_periods_are_closed_oldest_first_once_and_none_before_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let one = config(dir.path(), &[("front", "month"), ("quarterly", "quarter")]);
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let mut retries = PeriodRetries::default();
    let checks: Vec<Arc<keepup_config::Check>> = one.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();

    // First seen in mid-January.
    assert_eq!(
        close_periods(&store, &one, at("2026-01-15T12:00:00Z"), &mut retries).unwrap(),
        []
    );
    // January ends in Berlin at 23:00 UTC; due half an hour later.
    assert_eq!(
        close_periods(&store, &one, at("2026-01-31T23:29:00Z"), &mut retries).unwrap(),
        []
    );
    assert_eq!(
        periods(&close_periods(&store, &one, at("2026-01-31T23:30:00Z"), &mut retries).unwrap()),
        [("front", "2026-01")]
    );
    // Down from February to April: March (ending at 22:00 UTC, summer
    // time) and the first quarter are caught up, oldest first.
    assert_eq!(
        periods(&close_periods(&store, &one, at("2026-04-02T08:00:00Z"), &mut retries).unwrap()),
        [
            ("front", "2026-02"),
            ("front", "2026-03"),
            ("quarterly", "2026-Q1")
        ]
    );
    assert_eq!(
        close_periods(&store, &one, at("2026-04-02T08:01:00Z"), &mut retries).unwrap(),
        [],
        "each period once"
    );

    // A contract configured in April gets no report of the months before.
    let two = config(
        dir.path(),
        &[
            ("front", "month"),
            ("quarterly", "quarter"),
            ("checkout", "month"),
        ],
    );
    assert_eq!(
        close_periods(&store, &two, at("2026-04-10T00:00:00Z"), &mut retries).unwrap(),
        []
    );
    assert_eq!(
        periods(&close_periods(&store, &two, at("2026-05-01T00:00:00Z"), &mut retries).unwrap()),
        [("front", "2026-04"), ("checkout", "2026-04")]
    );
    let kept: Vec<(String, String)> = store
        .kept_reports()
        .unwrap()
        .into_iter()
        .map(|k| (k.contract, k.period))
        .collect();
    assert_eq!(kept.len(), 6, "{kept:?}");
    assert_eq!(
        store.outbox(10).unwrap(),
        [],
        "no report_to: kept, not mailed"
    );
    let (_, files) = store.kept_report("front", "2026-03").unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&files.json).unwrap();
    assert_eq!(json["figures"]["period"], "2026-03");
    assert_eq!(
        json["figures"]["to"],
        at("2026-03-31T22:00:00Z"),
        "the period ends at midnight in Berlin"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_monitor_keeps_the_report_of_a_period_that_closed() {
    let dir = tempfile::tempdir().unwrap();
    let config = Arc::new(config(dir.path(), &[("front", "month")]));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    // A daemon saw the contract in January, then stopped.
    let mut retries = PeriodRetries::default();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    assert_eq!(
        close_periods(&store, &config, at("2026-01-15T12:00:00Z"), &mut retries).unwrap(),
        []
    );
    // Started again in February, the monitor's report loop catches up.
    let clock = Arc::new(ManualClock::new(at("2026-02-03T08:00:00Z")));
    let monitor = Monitor::start(config.clone(), store.clone(), ProbeContext::new(), clock)
        .await
        .unwrap();
    common::wait_until("January's report kept", 20, || {
        store
            .kept_report("front", "2026-01")
            .is_ok_and(|k| k.is_some())
    })
    .await;
    monitor.shutdown().await;
    assert_eq!(store.kept_reports().unwrap().len(), 1);
}

#[test]
fn a_failing_period_blocks_no_other_and_is_tried_again_an_hour_later() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &[("front", "month"), ("back", "month")]);
    let db = dir.path().join("keepup.db");
    let store = Store::open(&db).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut retries = PeriodRetries::default();
    assert_eq!(
        close_periods(&store, &config, at("2026-01-15T12:00:00Z"), &mut retries).unwrap(),
        []
    );
    // The store refuses front's report (as a full disk would).
    let other = rusqlite::Connection::open(&db).unwrap();
    other
        .execute_batch(
            "CREATE TRIGGER refuse_front BEFORE INSERT ON sla_report WHEN NEW.contract = 'front'
             BEGIN SELECT RAISE(ABORT, 'injected failure: database or disk is full'); END;",
        )
        .unwrap();
    let due = at("2026-01-31T23:30:00Z");
    assert_eq!(
        periods(&close_periods(&store, &config, due, &mut retries).unwrap()),
        [("back", "2026-01")],
        "front's failure does not hold back"
    );
    assert_eq!(
        retries.retry_at("front", "2026-01"),
        Some(due + 60 * 60 * 1000)
    );
    other.execute_batch("DROP TRIGGER refuse_front;").unwrap();
    // Not built again every minute...
    assert_eq!(
        close_periods(&store, &config, due + 60_000, &mut retries).unwrap(),
        []
    );
    // ...but an hour later.
    assert_eq!(
        periods(&close_periods(&store, &config, due + 60 * 60 * 1000, &mut retries).unwrap()),
        [("front", "2026-01")]
    );
    assert_eq!(retries.retry_at("front", "2026-01"), None);
}

#[test]
fn a_contract_changed_from_month_to_quarter_reports_no_month_twice() {
    let dir = tempfile::tempdir().unwrap();
    let monthly = config(dir.path(), &[("front", "month")]);
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = monthly.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut retries = PeriodRetries::default();
    assert_eq!(
        close_periods(&store, &monthly, at("2026-01-15T12:00:00Z"), &mut retries).unwrap(),
        []
    );
    assert_eq!(
        periods(
            &close_periods(&store, &monthly, at("2026-03-01T00:00:00Z"), &mut retries).unwrap()
        ),
        [("front", "2026-01"), ("front", "2026-02")]
    );
    // From March on quarterly: the first quarter's January and February
    // were reported, so it is not; the second quarter is.
    let quarterly = config(dir.path(), &[("front", "quarter")]);
    assert_eq!(
        close_periods(&store, &quarterly, at("2026-04-02T00:00:00Z"), &mut retries).unwrap(),
        []
    );
    assert_eq!(
        periods(
            &close_periods(&store, &quarterly, at("2026-07-01T00:00:00Z"), &mut retries).unwrap()
        ),
        [("front", "2026-Q2")]
    );
    let kept: Vec<String> = store
        .kept_reports()
        .unwrap()
        .into_iter()
        .map(|k| k.period)
        .collect();
    assert_eq!(kept, ["2026-01", "2026-02", "2026-Q2"]);
}

#[test]
fn a_report_mail_counts_the_inline_copy_of_its_html_page() {
    let kept = keepup_store::KeptReport {
        id: 1,
        contract: "front".into(),
        period: "2026-01".into(),
        from: at("2025-12-31T23:00:00Z"),
        to: at("2026-01-31T23:00:00Z"),
        generated_at: at("2026-02-01T00:00:00Z"),
        stored_bytes: 0,
    };
    // A page sent inline and attached (1 MB twice) leaves 13 of the 15 MB.
    let files = keepup_store::ReportFiles {
        html: vec![b'h'; keepup_notify::MAX_INLINE_HTML_BYTES],
        csv: vec![b'c'; 13 << 20 | 1],
        json: vec![b'j'; 1000],
    };
    let mut n = keepup_notify::test_notification("shop");
    attach(&mut n, &kept, files);
    let names: Vec<&str> = n.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, ["front-2026-01.html", "front-2026-01.json"]);
    assert!(
        n.text.contains("front-2026-01.csv did not fit"),
        "{}",
        n.text
    );
}

#[test]
fn a_report_of_a_month_whose_results_are_gone_lists_what_runs_out_from_the_samples() {
    let dir = tempfile::tempdir().unwrap();
    let src = "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"api\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n\
               forecast = { measure = \"latency\", window = \"7d\", limit = \"2s\" }\n\
               [[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.9\nperiod = \"month\"\ntime_zone = \"Europe/Berlin\"\n";
    let config = keepup_config::load_str(src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    // January's last week in samples only (no raw result is left): the
    // latency grows 0.02 s a day and is 1.14 s at the month's end in
    // Berlin, 43 days from 2 s. A sample after the month is not its.
    let until = at("2026-01-31T23:00:00Z");
    let id = checks[0].id.clone();
    let day = 86_400_000;
    let samples: Vec<keepup_store::SampleRecord> = (0..=7 * 48 + 10)
        .map(|k| {
            let ts = until - 7 * day + k * 1_800_000;
            keepup_store::SampleRecord {
                check: id.clone(),
                measure: "latency".into(),
                at: ts,
                value: if ts < until {
                    1.0 + 0.02 * (ts - (until - 7 * day)) as f64 / day as f64
                } else {
                    1.9
                },
                keep_from: 0,
            }
        })
        .collect();
    store.record_samples(&samples).unwrap();
    let contract = &config.contracts[0];
    let window = keepup_sla::Window::for_month(contract, "2026-01").unwrap();
    let report = keepup_monitor::reports::build(
        &store,
        &config,
        contract,
        &window,
        at("2026-04-15T00:00:00Z"),
    )
    .unwrap();
    assert_eq!(report.forecasts.len(), 1, "{:?}", report.forecasts);
    let listed = &report.forecasts[0];
    assert_eq!(listed.check, "shop/api");
    assert_eq!(listed.measure, "latency");
    assert!((listed.days_left - 43.0).abs() < 0.01, "{listed:?}");
    assert!((listed.slope_per_day - 0.02).abs() < 1e-9, "{listed:?}");
    assert_eq!(listed.at, until);
}

/// The runs of a month, made by the real action engine, listed in the
/// kept report (HTML, CSV and JSON) of the site they concern: a run for
/// an incident by its check's site, a run by hand by the action's checks,
/// a run of an action that names no check in every site's report; times
/// in the contract's zone, counts by outcome, the incident linked; a
/// month without runs says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_month_lists_the_actions_taken_for_its_site() {
    use keepup_actions::{Cause, Engine};
    use keepup_model::{CheckId, Status};
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[site]]
id = "other"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[action]]
name = "restart-web"
command = ["/bin/true"]
on = { checks = ["shop/web"] }
[[action]]
name = "restart-other"
command = ["/bin/true"]
on = { checks = ["other/web"] }
[[action]]
name = "nightly"
command = ["/bin/echo", "scaled down"]

[[contract]]
id = "front"
site = "shop"
target = 99.9
period = "month"
time_zone = "Europe/Berlin"
report_delay = "30m"
[[contract]]
id = "back"
site = "other"
target = 99.9
period = "month"
time_zone = "Europe/Berlin"
report_delay = "30m"
"#;
    let config = keepup_config::load_str(src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut retries = PeriodRetries::default();
    close_periods(&store, &config, at("2026-01-01T12:00:00Z"), &mut retries).unwrap();
    let clock = Arc::new(ManualClock::new(at("2025-12-31T22:59:00Z")));
    let engine = Engine::new(
        &config,
        store.clone(),
        clock.clone(),
        keepup_notify::HttpClientContext::new(),
    );
    let web = CheckId::new("shop", "web");
    let manual = || Cause::Manual {
        by: "cli:ops".into(),
    };
    // December in Berlin: in no January report.
    engine.run("restart-web", manual()).await.unwrap();
    // An incident of shop/web, remediated; a second run inside the
    // cooldown is skipped.
    clock.set(at("2026-01-10T12:00:00Z"));
    let incident = store
        .open_incident(&keepup_store::NewIncident {
            check: web.clone(),
            status: Status::Down,
            opened_at: at("2026-01-10T11:59:00Z"),
            detected_at: at("2026-01-10T12:00:00Z"),
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "connection refused".into(),
            findings: Vec::new(),
        })
        .unwrap();
    let cause = Cause::Check {
        check: web.clone(),
        status: Status::Down,
    };
    let fixed = engine
        .run_for_incident("restart-web", cause.clone(), incident)
        .await
        .unwrap();
    clock.set(at("2026-01-10T12:01:00Z"));
    let skipped = engine
        .run_for_incident("restart-web", cause, incident)
        .await
        .unwrap();
    assert_eq!(skipped.outcome.as_str(), "skipped");
    clock.set(at("2026-01-12T08:00:00Z"));
    let other = engine.run("restart-other", manual()).await.unwrap();
    clock.set(at("2026-01-20T22:00:00Z"));
    let nightly = engine.run("nightly", manual()).await.unwrap();

    let closed = close_periods(&store, &config, at("2026-02-01T00:00:00Z"), &mut retries).unwrap();
    assert_eq!(
        periods(&closed),
        [("front", "2026-01"), ("back", "2026-01")]
    );
    let (_, front) = store.kept_report("front", "2026-01").unwrap().unwrap();
    let html = String::from_utf8(front.html).unwrap();
    let csv = String::from_utf8(front.csv).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&front.json).unwrap();

    let section = html
        .split("<h2>Automatic actions</h2>")
        .nth(1)
        .and_then(|s| s.split("</section>").next())
        .unwrap_or_else(|| panic!("no actions section: {html}"));
    assert!(section.contains("3 runs: 2 ok, 1 skipped"), "{section}");
    assert!(
        section.contains("2026-01-10 13:00:00 CET"),
        "time in Berlin: {section}"
    );
    assert!(
        section.contains(&format!("<a href=\"#incident-{incident}\">#{incident}</a>")),
        "{section}"
    );
    assert!(
        html.contains(&format!("<tr id=\"incident-{incident}\"")),
        "the link's target"
    );
    assert!(section.contains("cooldown"), "the skip says why: {section}");
    assert!(
        section.contains("nightly <span class=\"muted\">(every site)</span>"),
        "{section}"
    );
    assert!(
        !section.contains("restart-other"),
        "another site's run: {section}"
    );

    for line in [
        format!("action,{},action,restart-web", fixed.id),
        format!("action,{},incident,{incident}", fixed.id),
        format!("action,{},outcome,skipped", skipped.id),
        format!("action,{},shared,true", nightly.id),
        format!("action,{},started_at,2026-01-20T22:00:00Z", nightly.id),
        "action_outcome,ok,runs,2".to_owned(),
        "action_outcome,skipped,runs,1".to_owned(),
    ] {
        assert!(csv.lines().any(|l| l == line), "{line} in\n{csv}");
    }
    assert!(!csv.contains(&format!("action,{},", other.id)), "{csv}");

    let runs = json["actions"]["runs"].as_array().unwrap();
    let listed: Vec<i64> = runs.iter().map(|r| r["run"].as_i64().unwrap()).collect();
    assert_eq!(listed, [fixed.id, skipped.id, nightly.id]);
    assert_eq!(json["actions"]["by_outcome"]["ok"], 2);
    assert_eq!(runs[0]["incident"], incident);
    assert_eq!(runs[0]["cause"], "check");

    // The other site's report: its own run and the shared one.
    let (_, back) = store.kept_report("back", "2026-01").unwrap().unwrap();
    let back: serde_json::Value = serde_json::from_slice(&back.json).unwrap();
    let names: Vec<&str> = back["actions"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["restart-other", "nightly"]);

    // February: no run.
    close_periods(&store, &config, at("2026-03-01T00:00:00Z"), &mut retries).unwrap();
    let (_, feb) = store.kept_report("front", "2026-02").unwrap().unwrap();
    let html = String::from_utf8(feb.html).unwrap();
    assert!(
        html.contains("No automatic action ran for this site in this period."),
        "{html}"
    );
    let csv = String::from_utf8(feb.csv).unwrap();
    assert!(!csv.contains("\naction"), "{csv}");
}

/// The cap on a report's runs applies to the site's runs, not to the
/// period's: a site with more runs than the cap does not hide another
/// site's later run, and its own report says its counts are of the first
/// `MAX_REPORTED_RUNS`.
#[test]
fn a_site_with_many_runs_hides_no_other_sites_run_and_says_its_counts_are_of_the_first() {
    use keepup_sla::MAX_REPORTED_RUNS;
    use keepup_store::{NewActionRun, RunOutcome};
    let dir = tempfile::tempdir().unwrap();
    let src = r#"
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[site]]
id = "other"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9

[[action]]
name = "restart-web"
command = ["/bin/true"]
on = { checks = ["shop/web"] }
[[action]]
name = "restart-other"
command = ["/bin/true"]
on = { checks = ["other/web"] }

[[contract]]
id = "front"
site = "shop"
target = 99.9
period = "month"
time_zone = "Europe/Berlin"
report_delay = "30m"
[[contract]]
id = "back"
site = "other"
target = 99.9
period = "month"
time_zone = "Europe/Berlin"
report_delay = "30m"
"#;
    let config = keepup_config::load_str(src, &dir.path().join("keepup.toml"))
        .unwrap_or_else(|p| panic!("{p}"));
    let store = Store::open(&dir.path().join("keepup.db")).unwrap();
    let checks: Vec<Arc<keepup_config::Check>> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut retries = PeriodRetries::default();
    close_periods(&store, &config, at("2026-01-01T12:00:00Z"), &mut retries).unwrap();
    let run = |action: &str, started_at: i64| NewActionRun {
        action: action.into(),
        cause: "manual".into(),
        cause_detail: "by cli:ops".into(),
        started_at,
        outcome: RunOutcome::Skipped,
        reason: "cooldown".into(),
        idempotency_key: None,
        incident: None,
        decision: None,
    };
    let start = at("2026-01-02T00:00:00Z");
    for n in 0..=MAX_REPORTED_RUNS as i64 {
        store
            .action_run_insert(&run("restart-web", start + n * 1000))
            .unwrap();
    }
    let late = store
        .action_run_insert(&run("restart-other", at("2026-01-20T12:00:00Z")))
        .unwrap()
        .unwrap();

    close_periods(&store, &config, at("2026-02-01T00:00:00Z"), &mut retries).unwrap();
    let (_, back) = store.kept_report("back", "2026-01").unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&back.json).unwrap();
    let runs = json["actions"]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{}", json["actions"]);
    assert_eq!(runs[0]["run"], late);
    assert_eq!(json["actions"]["truncated"], false);

    let (_, front) = store.kept_report("front", "2026-01").unwrap().unwrap();
    let json: serde_json::Value = serde_json::from_slice(&front.json).unwrap();
    assert_eq!(
        json["actions"]["runs"].as_array().unwrap().len(),
        MAX_REPORTED_RUNS
    );
    assert_eq!(json["actions"]["truncated"], true);
    let html = String::from_utf8(front.html).unwrap();
    assert!(
        html.contains(&format!(
            "More than {MAX_REPORTED_RUNS} runs in the period; of the first {MAX_REPORTED_RUNS}: {MAX_REPORTED_RUNS} skipped"
        )),
        "{}",
        html.split("<h2>Automatic actions</h2>").nth(1).unwrap_or(&html).chars().take(600).collect::<String>()
    );
}
