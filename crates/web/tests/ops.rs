//! The operations pages against the real listener, a real monitor and
//! store (see `support`): incidents acknowledged and resolved from the
//! dashboard change the incident and stop escalation (during a
//! remediation's grace, the held page is cancelled and the timeline says
//! so); maintenance started
//! and ended there mutes and unmutes the monitor; a channel's test button
//! sends through the channel (in-process webhook receivers); the backups
//! page shows a real repository's snapshot and a failed target. Forms
//! without the session's CSRF token, and viewers, are refused; text typed
//! by people is escaped.

mod support;

use keepup_config::BackupJob;
use keepup_store::Role;
use keepup_testkit::http::{TestServer, text};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Browser, Reply, Web};

const PASSWORD: &str = "correct horse battery";
const SCRIPT: &str = "<script>alert('owned')</script>";

/// An HTTP server that answers 500 while the flag is set, 200 otherwise.
async fn toggled() -> (TestServer, Arc<AtomicBool>) {
    let failing = Arc::new(AtomicBool::new(false));
    let f = failing.clone();
    let server = TestServer::start(move |_req| {
        let f = f.clone();
        async move {
            if f.load(Ordering::SeqCst) {
                text(500, "broken")
            } else {
                text(200, "fine")
            }
        }
    })
    .await
    .unwrap();
    (server, failing)
}

type Got = Arc<Mutex<Vec<serde_json::Value>>>;

/// A webhook receiver that records every JSON body and answers `status`.
async fn receiver(status: u16) -> (TestServer, Got) {
    let got: Got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let server = TestServer::start(move |req| {
        let g = g.clone();
        async move {
            let body = serde_json::from_slice(req.body()).unwrap_or(serde_json::Value::Null);
            g.lock().unwrap().push(body);
            text(status, "")
        }
    })
    .await
    .unwrap();
    (server, got)
}

fn events(got: &Got) -> Vec<String> {
    got.lock()
        .unwrap()
        .iter()
        .map(|v| v["event"].as_str().unwrap_or("?").to_owned())
        .collect()
}

async fn wait_until(what: &str, secs: u64, f: impl Fn() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A shop page checked every second, a webhook for level 1 (ops) and one
/// for level 2 after `escalate_after` (boss), and a channel that refuses.
fn shop_config(
    shop: &TestServer,
    ops: &TestServer,
    boss: &TestServer,
    refusing: &TestServer,
) -> String {
    format!(
        r#"[defaults]
interval = "1s"
timeout = "1s"
failure_threshold = 1

[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "http"
url = "{shop}"

[[channel]]
id = "ops-hook"
kind = "webhook"
url = "{ops}"
[[channel]]
id = "boss-hook"
kind = "webhook"
url = "{boss}"
[[channel]]
id = "refusing"
kind = "webhook"
url = "{refusing}"

[[contact]]
id = "ops"
channels = ["ops-hook"]
[[contact]]
id = "boss"
channels = ["boss-hook"]

[[policy]]
id = "default"
group_window = "0s"
[[policy.level]]
notify = ["ops"]
[[policy.level]]
after = "4s"
notify = ["boss"]
"#,
        shop = shop.url("/"),
        ops = ops.url("/hook"),
        boss = boss.url("/hook"),
        refusing = refusing.url("/hook"),
    )
}

/// Logs `name` in with `role` from 127.0.0.`host`.
async fn logged_in(web: &Web, name: &str, role: Role, host: u8) -> Browser {
    web.add_user(name, PASSWORD, role);
    let mut b = web.browser(host);
    let r = b.login(name, PASSWORD).await;
    assert_eq!(r.status, 303, "{}", r.body);
    b
}

/// POSTs the form `fields` to `/maintenance`.
async fn post_form(b: &mut Browser, fields: Vec<(String, String)>) -> Reply {
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    b.post("/maintenance", &pairs).await
}

/// The CSRF token of the first form on `page`.
fn csrf_of(page: &Reply) -> String {
    page.attr("form input[name=csrf]", "value")
        .unwrap_or_else(|| panic!("no form with a CSRF token: {}", page.body))
}

/// No script element of the page holds `needle`, and its text shows it.
fn shown_not_run(page: &Reply, needle: &str) {
    let doc = page.doc();
    let scripts = scraper::Selector::parse("script").unwrap();
    for s in doc.select(&scripts) {
        assert!(
            s.value().attr("src").is_some() && s.text().next().is_none(),
            "a script that is not an asset: {}",
            s.html()
        );
    }
    assert!(page.text("main").contains(needle), "{}", page.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_from_the_dashboard_stops_escalation_and_resolving_keeps_the_note() {
    let (shop, failing) = toggled().await;
    let (ops, ops_got) = receiver(200).await;
    let (boss, boss_got) = receiver(200).await;
    let (refusing, _) = receiver(400).await;
    let web = support::start_config(&shop_config(&shop, &ops, &boss, &refusing)).await;
    let mut operator = logged_in(&web, "olga", Role::Operator, 2).await;
    let mut viewer = logged_in(&web, "vic", Role::Viewer, 3).await;

    failing.store(true, Ordering::SeqCst);
    wait_until("the page to ops", 20, || {
        events(&ops_got).contains(&"trigger".into())
    })
    .await;
    let incident = web.monitor.store().open_incidents().unwrap().remove(0);
    let path = format!("/incidents/{}", incident.id);

    let list = viewer.get("/incidents?state=open").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.attr("tbody a", "href").as_deref(), Some(path.as_str()));
    let page = viewer.get(&path).await;
    assert_eq!(page.status, 200);
    assert!(
        page.attr("form[action$=acknowledge]", "action").is_none(),
        "a viewer sees no actions"
    );
    assert!(
        page.text("ol.timeline").contains("Notified"),
        "{}",
        page.body
    );
    assert!(
        page.text("table").contains("ops-hook"),
        "the notification sent: {}",
        page.body
    );

    // A viewer may not act, even with a valid token of their own.
    let token = viewer.csrf().await;
    let refused = viewer
        .post(&format!("{path}/acknowledge"), &[("csrf", &token)])
        .await;
    assert_eq!(refused.status, 403);
    // Nor may an operator without the session's token.
    let refused = operator.post(&format!("{path}/acknowledge"), &[]).await;
    assert_eq!(refused.status, 403);
    let refused = operator
        .post(&format!("{path}/acknowledge"), &[("csrf", &"0".repeat(64))])
        .await;
    assert_eq!(refused.status, 403);
    assert!(
        web.monitor
            .store()
            .incident(incident.id)
            .unwrap()
            .unwrap()
            .acknowledged_at
            .is_none()
    );

    let page = operator.get(&path).await;
    let ack = operator
        .post(&format!("{path}/acknowledge"), &[("csrf", &csrf_of(&page))])
        .await;
    assert_eq!(ack.status, 303, "{}", ack.body);
    assert_eq!(ack.header("location"), Some(path.as_str()));
    let stored = web.monitor.store().incident(incident.id).unwrap().unwrap();
    assert_eq!(stored.acknowledged_by.as_deref(), Some("olga"));
    wait_until("the acknowledge notice", 10, || {
        events(&ops_got).contains(&"acknowledge".into())
    })
    .await;
    // Level 2 was due 4 s after detection: acknowledged, it never comes.
    let due =
        Duration::from_millis((stored.detected_at + 6_000 - keepup_web::auth::now()).max(0) as u64);
    tokio::time::sleep(due).await;
    assert!(
        events(&boss_got).is_empty(),
        "escalated after the acknowledgement: {:?}",
        events(&boss_got)
    );

    // Resolved by hand with a note that tries to run a script.
    let page = operator.get(&path).await;
    assert!(
        page.text("ol.timeline").contains("by olga"),
        "{}",
        page.body
    );
    let long = "x".repeat(2_001);
    let refused = operator
        .post(
            &format!("{path}/resolve"),
            &[("csrf", &csrf_of(&page)), ("note", &long)],
        )
        .await;
    assert_eq!(refused.status, 400);
    assert!(
        refused.text("main").contains("note:"),
        "names the field: {}",
        refused.body
    );
    // A note is required: resolving asks what fixed it.
    let blank = operator
        .post(
            &format!("{path}/resolve"),
            &[("csrf", &csrf_of(&page)), ("note", "  ")],
        )
        .await;
    assert_eq!(blank.status, 400);
    assert!(
        blank.text("main").contains("note: is required"),
        "{}",
        blank.body
    );
    let note = format!("restarted php-fpm {SCRIPT}");
    let done = operator
        .post(
            &format!("{path}/resolve"),
            &[("csrf", &csrf_of(&page)), ("note", &note)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let stored = web.monitor.store().incident(incident.id).unwrap().unwrap();
    assert!(stored.resolved_at.is_some());
    assert_eq!(
        web.monitor
            .store()
            .incident_resolution(incident.id)
            .unwrap()
            .map(|r| (r.by, r.note)),
        Some(("olga".to_owned(), note.clone()))
    );
    wait_until("the resolved notice", 10, || {
        events(&ops_got).contains(&"resolve".into())
    })
    .await;
    let page = operator.get(&path).await;
    shown_not_run(&page, &note);
    assert!(
        page.attr("form[action$=resolve]", "action").is_none(),
        "nothing left to do"
    );
    let token = operator.csrf().await;
    let again = operator
        .post(
            &format!("{path}/resolve"),
            &[("csrf", &token), ("note", "again")],
        )
        .await;
    assert_eq!(again.status, 409);

    // The shop still fails: a new incident opens instead of silence.
    wait_until("a new incident", 20, || {
        web.monitor
            .store()
            .open_incidents()
            .unwrap()
            .iter()
            .any(|i| i.id != incident.id)
    })
    .await;
    // Its page to ops carries what fixed the check last time, and so does
    // its incident page (escaped).
    let second = web.monitor.store().open_incidents().unwrap().remove(0);
    wait_until("the second page to ops, with the note", 20, || {
        ops_got.lock().unwrap().iter().any(|n| {
            n["event"] == "trigger"
                && n["past_resolutions"][0]["note"] == note.as_str()
                && n["past_resolutions"][0]["incident"] == incident.id
                && n["past_resolutions"][0]["by"] == "olga"
        })
    })
    .await;
    let page = viewer.get(&format!("/incidents/{}", second.id)).await;
    assert!(page.text("section.past").contains(&note), "{}", page.body);
    assert_eq!(
        page.attr("section.past a", "href"),
        Some(path.clone()),
        "links the earlier incident"
    );
    shown_not_run(&page, &note);
    let list = operator.get("/incidents").await;
    assert!(
        list.text("tbody tr:first-child").contains("open"),
        "open first: {}",
        list.body
    );

    let actions = web.audit_actions();
    for wanted in ["incident.acknowledge", "incident.resolve"] {
        assert!(actions.iter().any(|a| a == wanted), "{actions:?}");
    }
    assert_eq!(viewer.get("/incidents?state=sideways").await.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_during_a_remediation_cancels_its_page_and_the_timeline_says_so() {
    let (shop, failing) = toggled().await;
    let (ops, ops_got) = receiver(200).await;
    let (boss, boss_got) = receiver(200).await;
    let (refusing, _) = receiver(400).await;
    let src = format!(
        "{}\n[[action]]\nname = \"restart-php\"\ncommand = [\"/bin/echo\", \"restarted\"]\non = {{ checks = [\"shop/web\"] }}\ngrace = \"6s\"\n",
        shop_config(&shop, &ops, &boss, &refusing)
    );
    let web = support::start_config(&src).await;
    let mut operator = logged_in(&web, "olga", Role::Operator, 2).await;
    failing.store(true, Ordering::SeqCst);
    let store = web.monitor.store().clone();
    wait_until("the remediation ran", 20, || {
        store.open_incidents().unwrap().first().is_some_and(|i| {
            store
                .action_runs_of_incidents(&[i.id])
                .unwrap()
                .iter()
                .any(|r| r.finished_at.is_some())
        })
    })
    .await;
    let incident = store.open_incidents().unwrap().remove(0);
    let path = format!("/incidents/{}", incident.id);
    let page = operator.get(&path).await;
    let ack = operator
        .post(&format!("{path}/acknowledge"), &[("csrf", &csrf_of(&page))])
        .await;
    assert_eq!(ack.status, 303, "{}", ack.body);
    // Past the grace, the check still failing: nobody paged.
    let ran = store.action_runs_of_incidents(&[incident.id]).unwrap()[0]
        .finished_at
        .unwrap();
    let due = Duration::from_millis((ran + 8_000 - keepup_web::auth::now()).max(0) as u64);
    tokio::time::sleep(due).await;
    assert!(events(&ops_got).is_empty(), "{:?}", events(&ops_got));
    assert!(events(&boss_got).is_empty(), "{:?}", events(&boss_got));
    let page = operator.get(&path).await;
    let timeline = page.text("ol.timeline");
    assert!(
        timeline.contains("by olga; the page held for the automatic action is cancelled"),
        "{timeline}"
    );
    assert!(timeline.contains("restart-php: ok"), "{timeline}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_started_on_the_dashboard_mutes_the_monitor_until_it_is_ended() {
    let (shop, failing) = toggled().await;
    let (ops, ops_got) = receiver(200).await;
    let (boss, _) = receiver(200).await;
    let (refusing, _) = receiver(400).await;
    let web = support::start_config(&shop_config(&shop, &ops, &boss, &refusing)).await;
    let mut operator = logged_in(&web, "olga", Role::Operator, 2).await;
    let mut viewer = logged_in(&web, "vic", Role::Viewer, 3).await;

    let page = viewer.get("/maintenance").await;
    assert_eq!(page.status, 200);
    assert!(page.attr("form[action='/maintenance']", "action").is_none());
    let token = viewer.csrf().await;
    let form = |csrf: &str, reason: &str| {
        vec![
            ("csrf".to_owned(), csrf.to_owned()),
            ("target".to_owned(), "shop".to_owned()),
            ("duration".to_owned(), "2h".to_owned()),
            ("reason".to_owned(), reason.to_owned()),
        ]
    };
    assert_eq!(post_form(&mut viewer, form(&token, "x")).await.status, 403);
    assert_eq!(post_form(&mut operator, form("", "x")).await.status, 403);
    let page = operator.get("/maintenance").await;
    let csrf = csrf_of(&page);
    let mut bad = form(&csrf, "x");
    bad[1].1 = "nowhere".into();
    let refused = post_form(&mut operator, bad).await;
    assert_eq!(refused.status, 400);
    assert!(refused.text("main").contains("target:"), "{}", refused.body);
    let mut bad = form(&csrf, "x");
    bad[2].1 = "soon".into();
    assert!(
        post_form(&mut operator, bad)
            .await
            .text("main")
            .contains("duration:")
    );
    assert_eq!(web.monitor.store().maintenance_after(0).unwrap().len(), 0);

    let reason = format!("database upgrade {SCRIPT}");
    let started = post_form(&mut operator, form(&csrf, &reason)).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let window = web
        .monitor
        .store()
        .maintenance_after(keepup_web::auth::now())
        .unwrap()
        .remove(0);
    assert_eq!(
        (window.target.as_str(), window.created_by.as_str()),
        ("shop", "olga")
    );
    let page = operator.get("/maintenance").await;
    shown_not_run(&page, &reason);

    // The monitor sees the window: the outage is recorded, nobody paged.
    failing.store(true, Ordering::SeqCst);
    wait_until("the muted incident", 20, || {
        !web.monitor.store().open_incidents().unwrap().is_empty()
    })
    .await;
    let muted = web.monitor.store().open_incidents().unwrap().remove(0);
    assert!(muted.maintenance && muted.suppressed, "{muted:?}");
    assert!(events(&ops_got).is_empty(), "{:?}", events(&ops_got));

    let end = operator
        .post(
            &format!("/maintenance/{}/end", window.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(end.status, 303, "{}", end.body);
    assert!(
        web.monitor
            .store()
            .maintenance_after(keepup_web::auth::now())
            .unwrap()
            .is_empty()
    );
    let page = operator.get("/maintenance").await;
    assert!(page.text("main").contains("Past"));
    assert!(
        page.attr(
            &format!("form[action='/maintenance/{}/end']", window.id),
            "action"
        )
        .is_none()
    );
    let again = operator
        .post(
            &format!("/maintenance/{}/end", window.id),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, 409);
    let actions = web.audit_actions();
    for wanted in ["maintenance.start", "maintenance.end"] {
        assert!(actions.iter().any(|a| a == wanted), "{actions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_window_from_the_dashboard_mutes_the_tagged_checks_only() {
    let (shop, failing) = toggled().await;
    let (ops, _) = receiver(200).await;
    let (boss, _) = receiver(200).await;
    let (refusing, _) = receiver(200).await;
    // Three checks of the same failing server: one tagged db, one on a
    // site tagged db, one with no tag.
    let config = shop_config(&shop, &ops, &boss, &refusing).replace(
        "[[channel]]\nid = \"ops-hook\"",
        &format!(
            "[[site.check]]\nid = \"db\"\nkind = \"http\"\nurl = \"{url}\"\ntags = [\"db\", \"{SCRIPT}\"]\n\
             [[site]]\nid = \"pg\"\ntags = [\"db\"]\n\
             [[site.check]]\nid = \"primary\"\nkind = \"http\"\nurl = \"{url}\"\n\n\
             [[channel]]\nid = \"ops-hook\"",
            url = shop.url("/")
        ),
    );
    let web = support::start_config(&config).await;
    let mut operator = logged_in(&web, "olga", Role::Operator, 2).await;

    // The form offers each tag in use once, escaped.
    let page = operator.get("/maintenance").await;
    let doc = page.doc();
    let options = scraper::Selector::parse("select#target option").unwrap();
    let tag_values: Vec<String> = doc
        .select(&options)
        .filter_map(|o| o.value().attr("value"))
        .filter(|v| v.starts_with("tag:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(
        tag_values,
        [&format!("tag:{SCRIPT}"), "tag:db"],
        "sorted: {}",
        page.body
    );
    shown_not_run(&page, &format!("tagged {SCRIPT}"));
    let csrf = csrf_of(&page);
    let form = |target: &str| {
        vec![
            ("csrf".to_owned(), csrf.clone()),
            ("target".to_owned(), target.to_owned()),
            ("duration".to_owned(), "2h".to_owned()),
            ("reason".to_owned(), "db upgrade".to_owned()),
        ]
    };
    let refused = post_form(&mut operator, form("tag:nobody")).await;
    assert_eq!(refused.status, 400);
    assert!(refused.text("main").contains("target:"), "{}", refused.body);
    let started = post_form(&mut operator, form("tag:db")).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let windows = web
        .monitor
        .store()
        .maintenance_after(keepup_web::auth::now())
        .unwrap();
    assert_eq!(
        windows
            .iter()
            .map(|w| w.target.as_str())
            .collect::<Vec<_>>(),
        ["tag:db"]
    );
    let page = operator.get("/maintenance").await;
    assert!(
        page.text("main").contains("checks tagged db"),
        "{}",
        page.body
    );

    // The monitor mutes the tagged checks' incidents, not the other's.
    failing.store(true, Ordering::SeqCst);
    wait_until("three incidents", 20, || {
        web.monitor.store().open_incidents().unwrap().len() == 3
    })
    .await;
    let muted: std::collections::BTreeMap<String, bool> = web
        .monitor
        .store()
        .open_incidents()
        .unwrap()
        .into_iter()
        .map(|i| (i.check.to_string(), i.maintenance && i.suppressed))
        .collect();
    assert_eq!(
        muted,
        [
            ("pg/primary".to_owned(), true),
            ("shop/db".to_owned(), true),
            ("shop/web".to_owned(), false),
        ]
        .into(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_test_from_the_dashboard_goes_through_the_channel() {
    let (shop, _) = toggled().await;
    let (ops, ops_got) = receiver(200).await;
    let (boss, _) = receiver(200).await;
    let (refusing, refused_got) = receiver(400).await;
    let web = support::start_config(&shop_config(&shop, &ops, &boss, &refusing)).await;
    let mut operator = logged_in(&web, "olga", Role::Operator, 2).await;
    let mut viewer = logged_in(&web, "vic", Role::Viewer, 3).await;

    let page = viewer.get("/notifications").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.text("tbody th").contains("ops-hook"), "{}", page.body);
    let token = viewer.csrf().await;
    assert_eq!(
        viewer
            .post("/notifications/test/ops-hook", &[("csrf", &token)])
            .await
            .status,
        403
    );
    assert_eq!(
        operator
            .post("/notifications/test/ops-hook", &[])
            .await
            .status,
        403
    );
    assert!(ops_got.lock().unwrap().is_empty());

    let page = operator.get("/notifications").await;
    let csrf = page
        .attr(
            "form[action='/notifications/test/ops-hook'] input[name=csrf]",
            "value",
        )
        .unwrap();
    let sent = operator
        .post("/notifications/test/ops-hook", &[("csrf", &csrf)])
        .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    assert!(
        sent.text("[role=status]").contains("delivered"),
        "{}",
        sent.body
    );
    assert_eq!(events(&ops_got), ["test"]);

    let failed = operator
        .post("/notifications/test/refusing", &[("csrf", &csrf)])
        .await;
    assert_eq!(failed.status, 502);
    assert!(
        failed.text("[role=alert]").contains("failed"),
        "{}",
        failed.body
    );
    assert_eq!(events(&refused_got), ["test"]);
    assert_eq!(
        operator
            .post("/notifications/test/nope", &[("csrf", &csrf)])
            .await
            .status,
        400
    );
    assert_eq!(viewer.get("/notifications?state=lost").await.status, 400);
    assert_eq!(
        web.audit_actions()
            .iter()
            .filter(|a| *a == "notify.test")
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backups_page_shows_snapshots_freshness_and_the_run_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = |rel: &str| dir.path().join(rel);
    std::fs::create_dir_all(path("shop")).unwrap();
    std::fs::write(path("shop/index.html"), "hello").unwrap();
    std::fs::write(path("repo.pass"), "a repository password").unwrap();
    std::fs::create_dir_all(path("primary")).unwrap();
    let src = format!(
        r#"[[site]]
id = "shop"

[[backup]]
id = "files"
site = "shop"
password_file = "{pass}"
rpo = "1d"

[[backup.source]]
kind = "paths"
paths = ["{src}"]

[[backup.target]]
id = "primary"
repository = "{primary}"

[[backup.target]]
id = "away"
repository = "{away}"
offsite = true
"#,
        pass = path("repo.pass").display(),
        src = path("shop").display(),
        primary = path("primary").display(),
        away = path("away-never-created").display(),
    );
    let web = support::start_config(&src).await;
    keepup_backup::init(&web.monitor.config().backups[0], "primary").unwrap();
    let run = web
        .monitor
        .run_backup_job("files", BackupJob::Run)
        .await
        .unwrap();
    assert_eq!(run.status, keepup_model::Status::Degraded, "{run:?}");
    web.monitor.flush().await;
    let fresh =
        keepup_config::backup_check_id(&web.monitor.config().backups[0], BackupJob::Freshness);
    wait_until("the freshness check", 20, || {
        web.monitor
            .current()
            .get(&fresh)
            .is_some_and(|s| s.outcome.evidence.details.contains_key("targets"))
    })
    .await;

    let mut viewer = logged_in(&web, "vic", Role::Viewer, 3).await;
    let page = viewer.get("/backups").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let targets = page.text("section.plan table:first-of-type tbody");
    assert!(
        targets.contains("primary") && targets.contains("off-site"),
        "{targets}"
    );
    let rows = page.doc();
    let sel = scraper::Selector::parse("section.plan tbody tr").unwrap();
    let row_of = |name: &str| {
        rows.select(&sel)
            .map(|r| r.text().collect::<String>())
            .find(|t| t.contains(name))
            .unwrap_or_default()
    };
    assert!(
        row_of("primary").contains("up"),
        "a fresh snapshot: {}",
        row_of("primary")
    );
    assert!(
        row_of("away").contains("down"),
        "no repository: {}",
        row_of("away")
    );
    assert!(
        page.text("main").contains("stored on 1 of 2 targets"),
        "the run log: {}",
        page.body
    );
    assert!(
        !page.body.contains(&path("primary").display().to_string()),
        "no repository locations"
    );
}
