//! The daemon closes an SLA period: a week of results goes through the
//! daemon's write path (`support::record_round`: the store and the incident
//! engine) over the end of March 2026 in Berlin while the daemon's period
//! closing (`keepup_monitor::reports::close_periods`, what its report loop
//! calls every minute) runs each simulated quarter hour; then the outbox's
//! sender (`Alerter`, as a restarted daemon runs it) mails the report to
//! a real SMTP server. The mail is parsed by Python's e-mail parser: one
//! per recipient, the HTML inline, the HTML, CSV and JSON attached, and the
//! JSON's figures are `keepup sla --json`'s. A daemon restarted after the
//! period closed mails nothing again, `keepup report --list` shows the kept
//! report and `--from-store` writes the files that were mailed.

mod support;

use support::{MINUTE, at, keepup, ok};

use keepup_model::{Outcome, Status, SystemClock};
use keepup_monitor::alerting::Alerter;
use keepup_monitor::incidents::IncidentEngine;
use keepup_monitor::reports::{PeriodRetries, close_periods};
use keepup_store::{OutboxState, Store};
use keepup_testkit::smtp::{SmtpMode, SmtpOptions, SmtpSink};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn config_text(smtp_port: u16) -> String {
    let mut src = String::from(
        r#"[defaults]
interval = "300s"
timeout = "10s"
failure_threshold = 1
flap_changes = 0
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[site.check]]
id = "checkout"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[contract]]
id = "front"
name = "Shop front"
site = "shop"
down_when = "web | checkout"
target = 99.9
time_zone = "Europe/Berlin"
report_to = ["owner-mail", "ops-mail"]
monthly_fee = 1000.0
currency = "EUR"
[[contract.credit]]
below = 99.9
percent = 10
"#,
    );
    for (id, to) in [
        ("owner-mail", "owner@shop.example"),
        ("ops-mail", "ops@shop.example"),
    ] {
        src.push_str(&format!(
            "[[channel]]\nid = \"{id}\"\nkind = \"email\"\nsmtp_host = \"127.0.0.1\"\n\
             smtp_port = {smtp_port}\ntls = \"none\"\nfrom = \"keepup@shop.example\"\n\
             to = [\"{to}\"]\ntimeout = \"5s\"\n"
        ));
    }
    src
}

/// Runs the sender's passes until every entry of the outbox is sent.
async fn deliver_all(alerter: &Arc<Alerter>, store: &Store) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        alerter.deliver_due().await.unwrap();
        let entries = store.outbox(100).unwrap();
        if entries.iter().all(|e| e.state == OutboxState::Sent) {
            return;
        }
        assert!(Instant::now() < until, "not delivered: {entries:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_period_is_reported_once_by_mail_with_its_files_attached() {
    let sink = SmtpSink::start(SmtpMode::None, SmtpOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("keepup.toml");
    std::fs::write(&cfg, config_text(sink.port)).unwrap();
    let config = Arc::new(keepup_config::load(&cfg).unwrap_or_else(|p| panic!("{p}")));
    let checks: Vec<_> = config.shared_checks().cloned().collect();
    let store = Store::open(&config.store.path).unwrap();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let mut retries = PeriodRetries::default();

    // March ends in Berlin at 2026-03-31T22:00Z (CEST since the 29th); the
    // report is due an hour later (report_delay's default).
    let (from, to) = (at("2026-03-25T00:00:00Z"), at("2026-04-01T02:00:00Z"));
    let closes = at("2026-03-31T23:00:00Z");
    let outage = (at("2026-03-30T10:00:00Z"), at("2026-03-30T10:45:00Z"));
    let (up, down) = (
        Outcome::new(Status::Up, "connected"),
        Outcome::new(Status::Down, "connection refused"),
    );
    let mut t = from;
    while t < to {
        let web = if outage.0 <= t && t < outage.1 {
            &down
        } else {
            &up
        };
        support::record_round(&store, &mut engine, &checks, &[web, &up], t);
        if t % (15 * MINUTE) == 0 {
            let closed = close_periods(&store, &config, t, &mut retries).unwrap();
            match t.cmp(&closes) {
                std::cmp::Ordering::Less => assert_eq!(closed, [], "at {t}"),
                std::cmp::Ordering::Equal => {
                    assert_eq!(closed.len(), 1, "{closed:?}");
                    assert_eq!(
                        (closed[0].contract.as_str(), closed[0].period.as_str()),
                        ("front", "2026-03")
                    );
                    assert_eq!(closed[0].mails, 2, "one mail per recipient");
                }
                std::cmp::Ordering::Greater => assert_eq!(closed, [], "closed once, at {t}"),
            }
        }
        t += 5 * MINUTE;
    }
    drop(engine);
    // The daemon stopped here, after the period's transaction, before its
    // sender ran: the mails wait in the outbox.
    assert_eq!(store.outbox(10).unwrap().len(), 2);
    assert_eq!(sink.messages().len(), 0);

    // Restarted (a new sender on the same store, as `alerting::run` starts
    // it): each recipient gets the report once.
    let alerter = Alerter::new(
        store.clone(),
        Arc::new(SystemClock),
        config.clone(),
        keepup_notify::HttpClientContext::new(),
    );
    alerter.resume().unwrap();
    deliver_all(&alerter, &store).await;
    let mails = sink.wait_for(2);
    assert_eq!(mails.len(), 2);
    let mut recipients: Vec<&str> = mails
        .iter()
        .map(|m| m["rcpt_tos"][0].as_str().unwrap())
        .collect();
    recipients.sort();
    assert_eq!(recipients, ["ops@shop.example", "owner@shop.example"]);

    let figures = ok(&keepup(&[
        "sla",
        "-c",
        cfg.to_str().unwrap(),
        "--month",
        "2026-03",
        "--json",
    ]));
    let figures: serde_json::Value = serde_json::from_str(&figures).unwrap();
    assert_eq!(figures[0]["downtime_ms"], 45.0 * MINUTE as f64);
    for m in &mails {
        assert_eq!(m["content_type"], "multipart/mixed");
        assert_eq!(m["headers"]["x-keepup-event"][0], "report");
        let subject = m["headers"]["subject"][0].as_str().unwrap();
        assert!(
            subject.contains("SLA report Shop front 2026-03"),
            "{subject}"
        );
        let text = m["text"].as_str().unwrap();
        assert!(text.contains("2026-03"), "{text}");
        let parts = m["parts"].as_array().unwrap();
        let described: Vec<(&str, Option<&str>, Option<&str>)> = parts
            .iter()
            .map(|p| {
                (
                    p["content_type"].as_str().unwrap(),
                    p["disposition"].as_str(),
                    p["filename"].as_str(),
                )
            })
            .collect();
        assert_eq!(
            described,
            [
                ("text/plain", None, None),
                ("text/html", None, None),
                ("text/html", Some("attachment"), Some("front-2026-03.html")),
                ("text/csv", Some("attachment"), Some("front-2026-03.csv")),
                (
                    "application/json",
                    Some("attachment"),
                    Some("front-2026-03.json")
                ),
            ]
        );
        // The inline copy is text the mail may carry with CRLF line ends.
        let inline = m["html"].as_str().unwrap().replace("\r\n", "\n");
        assert_eq!(
            Some(inline.trim_end()),
            parts[2]["content"].as_str().map(str::trim_end),
            "the report reads inline"
        );
        let report: serde_json::Value =
            serde_json::from_str(parts[4]["content"].as_str().unwrap()).unwrap();
        assert_eq!(
            report["figures"], figures[0],
            "the mailed figures are keepup sla's"
        );
    }

    // Restarted again after the period closed: nothing is built or mailed
    // again.
    assert_eq!(
        close_periods(&store, &config, to + 60 * MINUTE, &mut retries).unwrap(),
        []
    );
    let again = Alerter::new(
        store.clone(),
        Arc::new(SystemClock),
        config.clone(),
        keepup_notify::HttpClientContext::new(),
    );
    again.resume().unwrap();
    assert_eq!(again.deliver_due().await.unwrap(), 0);
    assert_eq!(store.outbox(10).unwrap().len(), 2);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.messages().len(), 2, "mailed once");

    // The kept report, listed and written back out: the files mailed.
    let c = cfg.to_str().unwrap();
    let listed = ok(&keepup(&["report", "-c", c, "--list"]));
    assert!(
        listed.contains("front\t2026-03\t2026-02-28T23:00:00Z\t2026-03-31T22:00:00Z\t"),
        "{listed}"
    );
    let out = dir.path().join("kept");
    ok(&keepup(&[
        "report",
        "-c",
        c,
        "--month",
        "2026-03",
        "--from-store",
        "--out",
        out.to_str().unwrap(),
    ]));
    let parts = mails[0]["parts"].as_array().unwrap();
    for (i, ext) in [(2, "html"), (3, "csv"), (4, "json")] {
        let written = std::fs::read_to_string(out.join(format!("front-2026-03.{ext}"))).unwrap();
        assert_eq!(
            Some(written.as_str()),
            parts[i]["content"].as_str(),
            "{ext}"
        );
    }
    let missing = keepup(&[
        "report",
        "-c",
        c,
        "--month",
        "2026-02",
        "--from-store",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr)
            .contains("no report of contract front for 2026-02 is kept"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
}
