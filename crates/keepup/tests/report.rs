//! `keepup report` end to end: a month of results goes through the
//! daemon's write path (Store::record, the incident engine, compaction,
//! the outbox) on a simulated clock, then the report of that month is
//! written and read back: its figures are `keepup sla`'s, the HTML lists
//! the incidents and credit steps and loads nothing from anywhere, the CSV
//! says what the JSON says, and a month without data says so.

mod support;

use support::{MINUTE, at, keepup, ok};

use keepup_model::codes::TLS_CERT_EXPIRED;
use keepup_model::{Finding, Outcome, Severity, Status};
use keepup_monitor::incidents::IncidentEngine;
use keepup_store::{Outgoing, Retention, Store};
use std::collections::BTreeMap;
use std::path::Path;

/// March 2026 (UTC) every 5 minutes: `web` down 20 min on the 3rd and
/// 90 min on the 20th; `cert` (a TLS check outside the service) down with
/// an expired certificate on the 10th 09:00-11:00, and `checkout`, which
/// depends on it, down 09:30-10:30 with a message that is markup. One
/// notification sent and one acknowledgement for the first incident, a
/// maintenance window on the 15th.
fn fill(dir: &Path) -> std::path::PathBuf {
    let cfg = dir.join("keepup.toml");
    std::fs::write(
        &cfg,
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
id = "cert"
kind = "tls"
host = "127.0.0.1"
port = 9
[[site.check]]
id = "checkout"
kind = "tcp"
host = "127.0.0.1"
port = 9
depends_on = ["cert"]
[[maintenance]]
id = "patching"
start = "2026-03-15T02:00:00Z"
end = "2026-03-15T03:00:00Z"
sites = ["shop"]
[[contract]]
id = "front"
name = "Shop front"
site = "shop"
down_when = "web | checkout"
target = 99.9
repair_time = { critical = "30m" }
repair_breach_credit = 50.0
credit_cap = 50
monthly_fee = 1000.0
currency = "EUR"
[[contract.credit]]
below = 99.9
percent = 10
[[contract.credit]]
below = 99.5
percent = 25
"#,
    )
    .unwrap();
    let config = keepup_config::load(&cfg).unwrap_or_else(|p| panic!("{p}"));
    let checks: Vec<_> = config.shared_checks().cloned().collect();
    let store = Store::open(&config.store.path).unwrap();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let outages: [&[(i64, i64)]; 3] = [
        &[
            (at("2026-03-03T10:00:00Z"), at("2026-03-03T10:20:00Z")),
            (at("2026-03-20T14:00:00Z"), at("2026-03-20T15:30:00Z")),
        ],
        &[(at("2026-03-10T09:00:00Z"), at("2026-03-10T11:00:00Z"))],
        &[(at("2026-03-10T09:30:00Z"), at("2026-03-10T10:30:00Z"))],
    ];
    let mut expired = Outcome::new(Status::Down, "certificate expired");
    expired.findings.push(Finding::new(
        TLS_CERT_EXPIRED,
        Severity::Critical,
        "The certificate of 127.0.0.1 expired on 2026-03-09.",
    ));
    let down = [
        Outcome::new(Status::Down, "connection refused"),
        expired,
        Outcome::new(Status::Down, "<script>alert(1)</script> HTTP 500"),
    ];
    let up = Outcome::new(Status::Up, "connected");
    let (from, to) = (at("2026-03-01T00:00:00Z"), at("2026-04-01T00:00:00Z"));
    let mut t = from;
    while t < to {
        let outcomes: Vec<&Outcome> = (0..3)
            .map(|n| {
                if outages[n].iter().any(|&(a, b)| a <= t && t < b) {
                    &down[n]
                } else {
                    &up
                }
            })
            .collect();
        support::record_round(&store, &mut engine, &checks, &outcomes, t);
        if t == at("2026-03-03T10:05:00Z") {
            // The first incident is notified and acknowledged while open.
            let open = store.open_incidents().unwrap();
            let first = &open[0];
            let sent = store
                .enqueue(
                    first.detected_at,
                    &[Outgoing {
                        dedup_key: format!("incident-{}", first.id),
                        channel: "ops-mail".into(),
                        incident: Some(first.id),
                        payload: "{}".into(),
                        not_before: first.detected_at,
                    }],
                )
                .unwrap();
            store
                .mark_sent(sent[0], first.detected_at + 2_000, None)
                .unwrap();
            store.acknowledge_incident(first.id, t, "alice").unwrap();
        }
        t += 5 * MINUTE;
    }
    drop(engine);
    store.compact(to, &Retention::default()).unwrap();
    cfg
}

/// RFC 4180 lines of `section,row,field,value` into a map.
fn csv_rows(csv: &str) -> BTreeMap<(String, String, String), String> {
    let mut out = BTreeMap::new();
    for line in csv.lines().skip(1) {
        let mut fields = Vec::new();
        let (mut cur, mut quoted, mut chars) = (String::new(), false, line.chars().peekable());
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    cur.push('"');
                }
                ('"', _) => quoted = !quoted,
                (',', false) => fields.push(std::mem::take(&mut cur)),
                (c, _) => cur.push(c),
            }
        }
        fields.push(cur);
        assert_eq!(fields.len(), 4, "{line}");
        let value = fields.pop().unwrap();
        let field = fields.pop().unwrap();
        let row = fields.pop().unwrap();
        out.insert((fields.pop().unwrap(), row, field), value);
    }
    out
}

#[test]
fn the_report_of_a_recorded_month_has_the_accounting_figures_in_html_csv_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fill(dir.path());
    let c = cfg.to_str().unwrap();
    let out = dir.path().join("reports");
    let printed = ok(&keepup(&[
        "report",
        "-c",
        c,
        "--month",
        "2026-03",
        "--out",
        out.to_str().unwrap(),
    ]));
    assert_eq!(printed.lines().count(), 3, "{printed}");
    let read =
        |ext: &str| std::fs::read_to_string(out.join(format!("front-2026-03.{ext}"))).unwrap();
    let (html, csv) = (read("html"), read("csv"));
    let json: serde_json::Value = serde_json::from_str(&read("json")).unwrap();

    // The figures are the accounting's, as `keepup sla` prints them.
    let sla: serde_json::Value = serde_json::from_str(&ok(&keepup(&[
        "sla", "-c", c, "--month", "2026-03", "--json",
    ])))
    .unwrap();
    let f = &json["figures"];
    assert_eq!(f, &sla[0]);
    assert_eq!(f["down_ms"], 170 * MINUTE, "{f}");
    assert_eq!(f["incident_count"], 3, "{f}");
    assert_eq!(f["breaches"]["critical"], 2, "{f}");
    assert_eq!(f["credit"]["total"], 200.0, "10 % of 1000 and 2 × 50: {f}");
    assert_eq!(json["days"].as_array().unwrap().len(), 31);
    let day3 = &json["days"][2];
    assert_eq!(
        (day3["date"].as_str(), day3["downtime_ms"].as_f64()),
        (Some("2026-03-03"), Some((20 * MINUTE) as f64))
    );
    let checkout = f["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["check"] == "shop/checkout")
        .expect("the checkout incident");
    let root = json["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["incident"] == checkout["id"])
        .expect("its root cause");
    assert_eq!(root["check"], "shop/cert", "{root}");
    assert_eq!(json["maintenance"][0]["id"], "patching");
    let escalated = &json["escalations"][0];
    assert_eq!(escalated["acknowledged_by"], "alice", "{escalated}");
    assert_eq!(escalated["notifications"][0]["state"], "sent");
    let security = json["security"].as_array().unwrap();
    // The month was compacted at its end, so its raw results before the
    // last week are gone: the 24 results of the two hours the certificate
    // was expired are counted from the findings recorded per day.
    let expired = security
        .iter()
        .find(|s| s["code"] == TLS_CERT_EXPIRED && s["check"] == "shop/cert")
        .unwrap_or_else(|| panic!("{security:?}"));
    assert_eq!(expired["results"], 24, "{expired}");
    assert_eq!(expired["first"], at("2026-03-10T09:00:00Z"), "{expired}");
    let latency = &json["latency"];
    assert_eq!(latency["check"], "shop/web");
    assert_eq!(latency["resolution"], "hour");
    assert_eq!(latency["points"].as_array().unwrap().len(), 31 * 24);

    // The HTML: one row per incident, the credit steps, nothing loaded
    // from anywhere, markup from the store escaped, tags balanced.
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert_eq!(html.matches("<tr id=\"incident-").count(), 3);
    assert_eq!(html.matches("class=\"incident breach\"").count(), 2);
    assert_eq!(html.matches("<li class=\"step\">").count(), 5);
    assert!(html.contains("Credit owed: 200.00 EUR"), "{html}");
    assert!(html.contains("10 % of 1000.00 = 100.00 EUR"));
    for external in [
        "http://", "https://", "src=", "url(", "@import", "<link", "<script", "<img",
    ] {
        assert!(!html.contains(external), "{external} in the page");
    }
    // Links only within the page (an action run's incident row).
    assert_eq!(
        html.matches("href=").count(),
        html.matches("href=\"#").count(),
        "a link out of the page"
    );
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; HTTP 500"));
    for tag in ["html", "body", "section", "table", "tr", "svg", "ol"] {
        assert_eq!(
            html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count(),
            html.matches(&format!("</{tag}>")).count(),
            "<{tag}> balanced"
        );
    }
    assert!(html.contains("@page") && html.contains("break-inside: avoid"));

    // The CSV says what the JSON says.
    let rows = csv_rows(&csv);
    let summary = |field: &str| rows[&("summary".into(), String::new(), field.into())].clone();
    let availability = summary("availability").parse::<f64>().unwrap();
    assert!((availability - f["availability"].as_f64().unwrap()).abs() < 1e-9);
    for field in [
        "down_ms",
        "unknown_ms",
        "incident_count",
        "measured_ms",
        "service_ms",
    ] {
        assert_eq!(summary(field), f[field].to_string(), "{field}");
    }
    assert_eq!(
        rows[&("credit".into(), String::new(), "total".into())]
            .parse::<f64>()
            .unwrap(),
        f["credit"]["total"].as_f64().unwrap()
    );
    let csv_incidents: Vec<&String> = rows
        .keys()
        .filter(|(s, _, field)| s == "incident" && field == "check")
        .map(|(_, row, _)| row)
        .collect();
    let json_incidents: Vec<String> = f["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].to_string())
        .collect();
    let mut csv_sorted: Vec<String> = csv_incidents.into_iter().cloned().collect();
    let mut json_sorted = json_incidents.clone();
    csv_sorted.sort();
    json_sorted.sort();
    assert_eq!(csv_sorted, json_sorted);
    assert_eq!(
        rows[&(
            "incident".into(),
            checkout["id"].to_string(),
            "root_cause".into()
        )],
        root["root"].to_string()
    );
    for (n, d) in json["days"].as_array().unwrap().iter().enumerate() {
        let date = d["date"].as_str().unwrap().to_owned();
        let csv_a = &rows[&("day".into(), date, "availability".into())];
        // serde_json reads floats to within an ulp or two.
        match (csv_a.parse::<f64>().ok(), d["availability"].as_f64()) {
            (Some(a), Some(b)) => assert!((a - b).abs() < 1e-9, "day {n}: {a} vs {b}"),
            (a, b) => assert_eq!(a, b, "day {n}"),
        }
    }
}

#[test]
fn a_month_without_data_says_so_and_never_100_percent() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fill(dir.path());
    let out = dir.path().join("reports");
    ok(&keepup(&[
        "report",
        "-c",
        cfg.to_str().unwrap(),
        "--month",
        "2026-05",
        "--contract",
        "front",
        "--out",
        out.to_str().unwrap(),
    ]));
    let html = std::fs::read_to_string(out.join("front-2026-05.html")).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("front-2026-05.json")).unwrap())
            .unwrap();
    assert!(json["figures"]["availability"].is_null(), "{json}");
    assert!(
        html.contains("No data: keepup recorded no status"),
        "{html}"
    );
    assert!(!html.contains("100.000 %"), "{html}");
    let csv = std::fs::read_to_string(out.join("front-2026-05.csv")).unwrap();
    assert!(csv.contains("summary,,availability,\n"), "{csv}");
}
