//! The SLA pages on the real listener: a month with a known outage goes
//! into the store through the daemon's write path (results into the store
//! and through the incident engine, the month's report built and kept as
//! the daemon keeps it), then a real monitor serves `/sla`,
//! `/sla/<contract>` and the kept report's files. The pages must show
//! what `keepup sla` computes (`keepup_monitor::sla::account_window`) and
//! what the scenario gives worked out by hand, escape the contract's
//! name, and serve the kept files byte for byte.

mod support;

use keepup_config::Config;
use keepup_model::{Clock, Outcome, Status, SystemClock, Timestamp};
use keepup_monitor::incidents::IncidentEngine;
use keepup_sla::Window;
use keepup_store::{NewReport, ResultRecord, Role, Store};
use std::path::Path;
use support::Reply;

const MINUTE: i64 = 60_000;
const DAY: i64 = 1440 * MINUTE;
/// The outage: 43 minutes from 10:00 on the month's 10th day.
const OUTAGE_MIN: i64 = 43;

/// The configuration: `web` and `api` on a live target, a contract over
/// both whose name is markup.
fn config_source(target: &str) -> String {
    format!(
        r#"[defaults]
interval = "300s"
timeout = "10s"
failure_threshold = 1
flap_changes = 0
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "http"
url = "{target}"
[[site.check]]
id = "api"
kind = "http"
url = "{target}"
[[contract]]
id = "front"
name = "Shop <script>alert(1)</script> & front"
site = "shop"
down_when = "web | api"
target = 99.9
repair_time = {{ critical = "30m" }}
repair_breach_credit = 50.0
monthly_fee = 1000.0
currency = "EUR"
[[contract.credit]]
below = 99.95
percent = 10
"#
    )
}

/// The latest month of 30 days that ended before the running one.
fn thirty_day_month(config: &Config, now: Timestamp) -> Window {
    let contract = &config.contracts[0];
    let mut w = Window::period_at(contract, now).unwrap();
    loop {
        w = Window::period_at(contract, w.from - 1).unwrap();
        if w.to - w.from == 30 * DAY {
            return w;
        }
    }
}

/// Records `month` every 5 minutes as the daemon does (store and incident
/// engine), `web` down for [`OUTAGE_MIN`] minutes from 10:00 on the 10th,
/// then keeps the month's report as the daemon keeps a closed period's.
fn fill(dir: &Path, config: &Config, month: &Window) -> keepup_store::ReportFiles {
    let store = Store::open(&dir.join("k.db")).unwrap();
    let checks: Vec<_> = config.shared_checks().cloned().collect();
    store
        .register_checks(&keepup_monitor::check_metas(&checks))
        .unwrap();
    let probed: Vec<_> = checks.iter().filter(|c| c.probe().is_some()).collect();
    let mut engine = IncidentEngine::resume(store.clone(), &checks).unwrap();
    let outage = (month.from + 9 * DAY + 600 * MINUTE, 0);
    let outage = (outage.0, outage.0 + OUTAGE_MIN * MINUTE);
    let up = Outcome::new(Status::Up, "HTTP 200");
    let down = Outcome::new(Status::Down, "HTTP 500 <b>broken</b>");
    let mut times: Vec<Timestamp> = (0..)
        .map(|i| month.from + i * 5 * MINUTE)
        .take_while(|t| *t < month.to)
        .collect();
    // The recovery is seen at the minute it happened.
    times.push(outage.1);
    times.sort_unstable();
    for at in times {
        let web = if (outage.0..outage.1).contains(&at) {
            &down
        } else {
            &up
        };
        let outcomes = [web, &up];
        let records: Vec<ResultRecord> = probed
            .iter()
            .zip(outcomes)
            .map(|(c, o)| ResultRecord {
                check: c.id.clone(),
                at,
                outcome: o.clone(),
                backfill: false,
            })
            .collect();
        store.record(&records).unwrap();
        let items: Vec<_> = probed
            .iter()
            .zip(outcomes)
            .map(|(c, o)| (&***c, at, o))
            .collect();
        engine.observe_batch(&items).unwrap();
    }
    drop(engine);
    let contract = &config.contracts[0];
    let now = SystemClock.now_ms();
    let report = keepup_monitor::reports::build(&store, config, contract, month, now).unwrap();
    let files = keepup_monitor::reports::render(&report).unwrap();
    store
        .keep_report(
            &NewReport {
                contract: &contract.id,
                period: &month.label,
                from: month.from,
                to: month.to,
                generated_at: now,
                files: &files,
            },
            &[],
        )
        .unwrap()
        .expect("kept");
    files
}

/// The text of the first element with `data-figure="name"` inside
/// `scope`.
fn figure(page: &Reply, scope: &str, name: &str) -> String {
    let doc = page.doc();
    let selector = scraper::Selector::parse(&format!("{scope} [data-figure=\"{name}\"]")).unwrap();
    doc.select(&selector)
        .next()
        .map(|e| e.text().collect::<String>())
        .unwrap_or_else(|| panic!("no figure {name} in {scope}: {}", page.body))
}

/// A shown percentage (`99.900 %`) as a number.
fn shown_percent(text: &str) -> f64 {
    text.trim_end_matches('%')
        .trim()
        .trim_end_matches('\u{a0}')
        .parse()
        .unwrap_or_else(|_| panic!("not a percentage: {text:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sla_pages_show_keepup_slas_figures_and_serve_the_kept_report() {
    let target = support::Target::start().await;
    let src = config_source(&target.url());
    let tmp = tempfile::tempdir().unwrap();
    let config = keepup_config::load_str(&src, &tmp.path().join("k.toml")).unwrap();
    let month = thirty_day_month(&config, SystemClock.now_ms());
    let kept = fill(tmp.path(), &config, &month);
    let web = support::start_in(tmp, &src, None).await;
    web.add_user("vera", "viewer password 1", Role::Viewer);
    let mut browser = web.browser(2);

    // Login required.
    let anonymous = browser.get("/sla").await;
    assert_eq!(anonymous.status, 303, "{}", anonymous.body);
    assert!(browser.login("vera", "viewer password 1").await.status < 400);

    let store = web.monitor.store().clone();
    let config = web.monitor.config();
    let contract = &config.contracts[0];

    // The month in detail: what keepup sla computes, and what 43 minutes
    // down in 30 days is by hand.
    let page = browser
        .get(&format!("/sla/front?period={}", month.label))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, figures) = keepup_monitor::sla::account_window(
        &store,
        &config,
        contract,
        &month,
        SystemClock.now_ms(),
    )
    .unwrap();
    let by_hand = 100.0 * (30.0 * 1440.0 - OUTAGE_MIN as f64) / (30.0 * 1440.0);
    assert_eq!(figure(&page, "main", "availability"), "99.900\u{a0}%");
    assert!((figures.availability.unwrap() - by_hand).abs() < 1e-9);
    assert!((shown_percent(&figure(&page, "main", "availability")) - by_hand).abs() < 0.001);
    assert_eq!(figures.downtime_ms, (OUTAGE_MIN * MINUTE) as f64);
    assert_eq!(page.text("main [data-figure=downtime]"), "43m");
    // Within the 99.9 % target (43m of 43m 12s allowed), under the 99.95 % tier.
    assert_eq!(page.text("main p.headline [data-figure=met]"), "met");
    // The budget: 0.1 % of 30 days is 43m 12s, 12 s of it left.
    assert_eq!(
        page.text("main [data-figure=budget]"),
        "0.4 % of the error budget left: 12s of 43m 12s"
    );
    // One incident, detected at once, repaired in 43 minutes: a breach of
    // the 30 minutes; credit 10 % of 1,000 EUR and 50 EUR for the breach.
    assert_eq!(figures.incident_count, 1);
    assert_eq!(page.text("main [data-figure=incidents]"), "1");
    assert_eq!(page.text("main [data-figure=breaches]"), "1");
    assert_eq!(page.text("main [data-figure=mttd]"), "0s");
    assert_eq!(page.text("main [data-figure=mttr]"), "43m");
    assert_eq!(figures.credit.total, 150.0);
    assert_eq!(
        page.text("main [data-figure=credit]"),
        "tier 10 % (below 99.95 %), 1 repair-time breach: 150.00 EUR owed"
    );
    // Components: web on its own is the service's figure, api is whole.
    let components = keepup_sla::check_figures(
        contract,
        &month,
        SystemClock.now_ms(),
        &keepup_monitor::sla::read_window(&store, &config, contract, &month, SystemClock.now_ms())
            .unwrap(),
    );
    assert_eq!(components[0].check, "shop/web");
    assert_eq!(
        page.text("tr[data-check=\"shop/web\"] [data-figure=availability]"),
        "99.900\u{a0}%"
    );
    assert_eq!(components[1].availability, Some(100.0));
    assert_eq!(
        page.text("tr[data-check=\"shop/api\"] [data-figure=availability]"),
        "100.000\u{a0}%"
    );
    // The incident: 43 minutes in the period, counted, a breach.
    let incident = &figures.incidents[0];
    let row = format!("tr[data-incident=\"{}\"]", incident.id);
    assert_eq!(page.text(&format!("{row} [data-figure=in-period]")), "43m");
    assert_eq!(page.text(&format!("{row} [data-figure=counts]")), "yes");
    assert!(
        page.text(&row).contains("43m of 30m"),
        "{}",
        page.text(&row)
    );
    assert!(page.text(&row).contains("breach"));
    // A bar per day, the 10th below the target.
    let doc = page.doc();
    let bars: Vec<_> = doc
        .select(&scraper::Selector::parse("svg.days rect").unwrap())
        .map(|r| r.value().attr("class").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bars.len(), 30, "{bars:?}");
    assert_eq!(bars.iter().filter(|c| *c == "down").count(), 1);
    assert_eq!(bars[9], "down");
    // The period selector offers it, marked as the one shown.
    assert_eq!(page.text("nav.ranges a[aria-current=page]"), month.label);

    // The contract's name is text, not markup, on every page.
    for p in [&page, &browser.get("/sla").await] {
        assert!(!p.body.contains("<script>alert"), "{}", p.body);
        assert!(
            p.text("h1, h2")
                .contains("Shop <script>alert(1)</script> & front")
        );
    }
    assert!(
        !page.body.contains("<b>broken"),
        "the incident's message is escaped"
    );

    // The list: the running period so far and the previous one, as keepup
    // sla computes them at the time the page was measured.
    let list = browser.get("/sla").await;
    assert_eq!(list.status, 200);
    let card = "#contract-front";
    let measured_to = keepup_model::parse_rfc3339(
        &list
            .attr(&format!("{card} p.muted time"), "datetime")
            .unwrap(),
    )
    .unwrap();
    let running = Window::period_at(contract, measured_to).unwrap();
    let (_, now_figures) =
        keepup_monitor::sla::account_window(&store, &config, contract, &running, measured_to)
            .unwrap();
    assert_eq!(now_figures.measured_to, measured_to);
    assert_eq!(figure(&list, card, "period"), running.label);
    match now_figures.availability {
        Some(a) => assert!((shown_percent(&figure(&list, card, "availability")) - a).abs() < 0.001),
        None => assert_eq!(
            list.text(&format!("{card} p.headline [data-figure=availability]")),
            "no data"
        ),
    }
    let before = Window::period_at(contract, running.from - 1).unwrap();
    let (_, before_figures) =
        keepup_monitor::sla::account_window(&store, &config, contract, &before, measured_to)
            .unwrap();
    assert!(
        list.text(&format!("{card} [data-figure=previous]"))
            .starts_with(&before.label)
    );
    match before_figures.availability {
        Some(a) => assert!(
            (shown_percent(&list.text(&format!("{card} [data-figure=previous-availability]"))) - a)
                .abs()
                < 0.001
        ),
        None => assert_eq!(
            list.text(&format!("{card} [data-figure=previous-availability]")),
            "no data"
        ),
    }
    // The burn-rate check's state is shown, linking to its page.
    assert!(
        list.attr(&format!("{card} [data-figure=burn] a"), "href")
            .is_some_and(|h| h == "/checks/shop/sla-front"),
        "{}",
        list.body
    );
    // The navigation has the SLA entry, and the overview links the SLA
    // check to its contract.
    assert_eq!(list.text("nav a[aria-current=page]"), "SLA");
    let overview = browser.get("/").await;
    assert!(
        overview
            .attr("a.contract", "href")
            .is_some_and(|h| h == "/sla/front"),
        "{}",
        overview.body
    );

    // The kept report, byte for byte, with its type and name; the HTML
    // under a policy of its own that lets its inline styles apply.
    for (ext, data, content_type, disposition) in [
        ("html", &kept.html, "text/html; charset=utf-8", "inline"),
        ("csv", &kept.csv, "text/csv; charset=utf-8", "attachment"),
        ("json", &kept.json, "application/json", "attachment"),
    ] {
        let file = browser
            .get(&format!("/sla/front/reports/{}.{ext}", month.label))
            .await;
        assert_eq!(file.status, 200, "{ext}: {}", file.body);
        assert_eq!(file.body.as_bytes(), data.as_slice(), "{ext}");
        assert_eq!(file.header("content-type"), Some(content_type));
        assert_eq!(
            file.header("content-disposition"),
            Some(format!("{disposition}; filename=\"front-{}.{ext}\"", month.label).as_str())
        );
        let csp = file.header("content-security-policy").unwrap();
        if ext == "html" {
            assert!(
                csp.contains("style-src 'unsafe-inline'") && csp.contains("sandbox"),
                "{csp}"
            );
            assert!(!csp.contains("script-src"), "{csp}");
        } else {
            assert_eq!(csp, keepup_web::security::CSP);
        }
    }
    // The page links each file.
    assert_eq!(
        page.attr("table.reports a[href$='.csv']", "href"),
        Some(format!("/sla/front/reports/{}.csv", month.label))
    );
    for missing in [
        "/sla/front/reports/1999-01.html".to_owned(),
        format!("/sla/front/reports/{}.exe", month.label),
        format!("/sla/front/reports/{}", month.label),
        "/sla/nope/reports/2026-01.csv".to_owned(),
    ] {
        assert_eq!(browser.get(&missing).await.status, 404, "{missing}");
    }

    // The API gives the same figures (a read token; seconds and RFC 3339).
    let token = keepup_web::auth::secret::new_token().unwrap();
    assert!(
        store
            .create_token(
                "sla-reader",
                &keepup_web::auth::secret::digest(&token),
                keepup_store::TokenScope::Read,
                SystemClock.now_ms(),
                None
            )
            .unwrap()
    );
    let bearer = format!("Bearer {token}");
    let mut api = web.browser(3);
    let mut call = async |path: &str| {
        let r = api
            .send("GET", path, &[("authorization", &bearer)], String::new())
            .await;
        (
            r.status,
            serde_json::from_str::<serde_json::Value>(&r.body).unwrap_or_default(),
        )
    };
    let (code, detail) = call(&format!("/api/v1/sla/front?period={}", month.label)).await;
    assert_eq!(code, 200, "{detail}");
    let f = &detail["figures"];
    assert_eq!(f["period"], month.label.as_str());
    assert_eq!(f["availability"].as_f64(), figures.availability);
    assert_eq!(f["downtime_s"].as_f64(), Some(43.0 * 60.0));
    assert!(
        (f["budget"]["remaining_s"].as_f64().unwrap() - 12.0).abs() < 1e-6,
        "{f}"
    );
    assert_eq!(f["credit"]["total"].as_f64(), Some(150.0));
    assert_eq!(f["breaches"]["critical"], 1);
    assert_eq!(
        detail["incidents"][0]["in_period_s"].as_f64(),
        Some(43.0 * 60.0)
    );
    assert_eq!(detail["incidents"][0]["counted"], true);
    assert_eq!(detail["days"].as_array().map(Vec::len), Some(30));
    assert_eq!(
        detail["checks"][0]["availability"].as_f64(),
        components[0].availability
    );
    assert_eq!(detail["kept_reports"][0], month.label.as_str());
    let (code, all) = call("/api/v1/sla").await;
    assert_eq!(code, 200, "{all}");
    assert_eq!(all["items"][0]["id"], "front");
    assert_eq!(all["items"][0]["previous"]["period"], before.label.as_str());
    assert_eq!(all["items"][0]["burn"]["check"], "shop/sla-front");
    let (code, bad) = call("/api/v1/sla/front?period=2026-13").await;
    assert_eq!(
        (code, &bad["error"]["field"]),
        (400, &serde_json::json!("period"))
    );
    let (code, _) = call("/api/v1/sla/nope").await;
    assert_eq!(code, 404);

    // Bad input: a 400 naming the parameter, a 404 quoting the name as
    // text.
    for bad in ["2026-13", "2026-Q1", "%3Cb%3Ex%3C%2Fb%3E", "9999-01"] {
        let r = browser.get(&format!("/sla/front?period={bad}")).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
        assert!(
            r.text("main p").starts_with("period: "),
            "{bad}: {}",
            r.body
        );
        assert!(!r.body.contains("<b>x"), "{}", r.body);
    }
    let unknown = browser.get("/sla/%3Cscript%3Ex").await;
    assert_eq!(unknown.status, 404);
    assert!(!unknown.body.contains("<script>x"), "{}", unknown.body);
    assert!(unknown.text("main p").contains("<script>x"));
}
