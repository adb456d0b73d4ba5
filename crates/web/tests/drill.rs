//! A recovery plan's drills on the web: after a real drill run through
//! the monitor (a command, then a verify step that measures the RTO),
//! `/metrics` has the plan's last drill (time, success, RTO) and its
//! targets, and the `dr-<plan>` check's page shows the drill as a table
//! rather than raw evidence.

use keepup_model::{CheckId, Status};
use keepup_store::{DrRunState, Role};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

mod support;

const PASSWORD: &str = "correct horse battery";

fn scrape(addr: SocketAddr) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of the sample whose name and labels start with `prefix`.
fn sample(body: &str, prefix: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn now_ms() -> i64 {
    keepup_model::Clock::now_ms(&keepup_model::SystemClock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drill_shows_in_metrics_and_on_its_checks_page() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            drop(conn);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let src = format!(
        r#"[[site]]
id = "shop"
[[site.check]]
id = "home"
kind = "tcp"
host = "127.0.0.1"
port = {port}
timeout = "2s"

[[recovery]]
id = "shop-dr"
site = "shop"
rto = "4h"
rpo = "2h"
[recovery.standby]
addresses = ["127.0.0.20"]
[recovery.drill]
addresses = ["127.0.0.1"]

[[recovery.activate]]
kind = "command"
name = "start the shop"
run = ["true"]

[[recovery.activate]]
kind = "verify"
name = "shop answers"
checks = ["shop/home"]
deadline = "1m"
interval = "1s"
"#
    );
    let web = support::start_in(dir, &src, None).await;
    let check = CheckId::new("shop", "dr-shop-dr");
    let before = now_ms();
    let report = web.monitor.run_drill("shop-dr").await.unwrap().unwrap();
    let after = now_ms();
    assert_eq!(report.state, DrRunState::Completed, "{}", report.message);
    web.wait_for(|m| {
        m.current()
            .get(&check)
            .is_some_and(|s| s.outcome.status == Status::Up)
    })
    .await;

    let response = tokio::task::spawn_blocking(move || scrape(web.addr))
        .await
        .unwrap();
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let plan = "{plan=\"shop-dr\",site=\"shop\"} ";
    let metric = |name: &str| sample(body, &format!("{name}{plan}"));
    assert_eq!(metric("keepup_dr_last_drill_success"), Some(1.0), "{body}");
    let ended = metric("keepup_dr_last_drill_timestamp_seconds").unwrap();
    assert!(
        (before / 1000) as f64 <= ended && ended <= (after / 1000 + 1) as f64,
        "{ended} not within {before}..{after} ms"
    );
    assert_eq!(
        metric("keepup_dr_last_successful_drill_timestamp_seconds"),
        Some(ended)
    );
    let rto = metric("keepup_dr_last_successful_drill_rto_seconds").unwrap();
    assert!(
        rto >= 0.0 && rto <= ((after - before) / 1000 + 1) as f64,
        "{rto}"
    );
    assert_eq!(
        metric("keepup_dr_last_successful_drill_rpo_seconds"),
        None,
        "nothing was restored, so no RPO: {body}"
    );
    assert_eq!(metric("keepup_dr_rto_target_seconds"), Some(14_400.0));
    assert_eq!(metric("keepup_dr_rpo_target_seconds"), Some(7_200.0));

    web.add_user("ann", PASSWORD, Role::Viewer);
    let mut browser = web.browser(1);
    let login = browser.login("ann", PASSWORD).await;
    assert_eq!(login.status, 303, "{}", login.body);
    let page = browser.get("/checks/shop/dr-shop-dr").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let doc = page.doc();
    let heads: Vec<String> = doc
        .select(&scraper::Selector::parse("section.evidence h3").unwrap())
        .map(|e| e.text().collect())
        .collect();
    assert!(
        heads.iter().any(|h| h == "Disaster-recovery drills"),
        "{heads:?}"
    );
    let row: Vec<String> = doc
        .select(&scraper::Selector::parse("section.evidence table.records tbody tr td").unwrap())
        .map(|e| e.text().collect::<String>())
        .collect();
    assert_eq!(row[0], report.run.to_string(), "{row:?}");
    assert_eq!(row[2], "completed", "{row:?}");
    assert!(row[3].ends_with("(target 4h)"), "{row:?}");
    assert_eq!(row[4], "not measured (target 2h)", "{row:?}");
}
