//! The operator dashboard over real HTTP: a real monitor runs an `http`
//! check against an in-process target that can be broken, a `tcp` check
//! of a port nobody listens on (Down, with an incident) and a heartbeat,
//! on a store in a temporary directory; a logged-in viewer reads the
//! pages through the listener and the tests look at the parsed HTML.
//!
//! The overview lists open incidents first and filters on the server; bad
//! parameters are a 400 naming them; markup in names is text; the check
//! page shows the timeline, chart, evidence, incidents, dependencies and
//! results; `/events` sends a snapshot and then the change when the target
//! breaks; without a session everything sends to the login page.

mod support;

use keepup_model::Status;
use keepup_store::Role;
use support::{Browser, Reply, Target, Web};

const PASSWORD: &str = "correct horse battery";

/// The listener with the checks above, and a viewer logged in.
async fn start() -> (Web, Target, Browser) {
    let target = Target::start().await;
    let closed = keepup_testkit::ports::free_port(std::net::Ipv4Addr::LOCALHOST).unwrap();
    let web = support::start_config(&format!(
        "[defaults]\ninterval = \"1s\"\ntimeout = \"1s\"\nfailure_threshold = 1\n\
         [[site]]\nid = \"shop\"\ntags = [\"prod\"]\n\
         [[site.check]]\nid = \"web\"\nname = \"Front <script>alert(1)</script> page\"\nkind = \"http\"\nurl = \"{}\"\n\
         [[site.check]]\nid = \"db\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = {closed}\ndepends_on = [\"web\"]\n\
         [[site]]\nid = \"blog\"\n\
         [[site.check]]\nid = \"job\"\nkind = \"heartbeat\"\ntoken = \"job-token-1234\"\nperiod = \"1h\"\n",
        target.url()
    ))
    .await;
    web.add_user("ann", PASSWORD, Role::Viewer);
    let mut browser = web.browser(1);
    let login = browser.login("ann", PASSWORD).await;
    assert_eq!(login.status, 303, "{}", login.body);
    (web, target, browser)
}

/// Texts of the elements matching `selector`, one each.
fn texts(reply: &Reply, selector: &str) -> Vec<String> {
    let doc = reply.doc();
    let sel = scraper::Selector::parse(selector).unwrap();
    doc.select(&sel)
        .map(|e| e.text().collect::<String>().trim().to_owned())
        .collect()
}

/// The checks of the overview's rows, in order.
fn rows(reply: &Reply) -> Vec<String> {
    texts(reply, "table.checks tbody th > a:first-child")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overview_lists_open_incidents_first_and_filters_on_the_server() {
    let (web, _target, mut b) = start().await;
    web.wait_for_status("shop/db", Status::Down).await;
    web.wait_for_status("shop/web", Status::Up).await;
    web.wait_for_incident("shop/db").await;

    let page = b.get("/").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        rows(&page),
        ["shop/db", "shop/web", "blog/job"],
        "the check with an open incident comes first, then the configuration's order"
    );
    assert_eq!(
        texts(&page, "span[data-field=state]"),
        ["DOWN", "UP", "UNKNOWN"]
    );
    // The name's markup is text: the only script is the page's own file.
    let doc = page.doc();
    let scripts: Vec<_> = doc
        .select(&scraper::Selector::parse("script").unwrap())
        .map(|s| s.value().attr("src").unwrap_or("inline").to_owned())
        .collect();
    assert!(
        scripts.len() == 1 && scripts[0].starts_with("/assets/keepup.js"),
        "{scripts:?}"
    );
    assert!(
        texts(&page, "span.name").contains(&"Front <script>alert(1)</script> page".to_owned()),
        "{}",
        page.body
    );

    for (query, expected) in [
        ("/?state=down", vec!["shop/db"]),
        ("/?state=up", vec!["shop/web"]),
        ("/?site=blog", vec!["blog/job"]),
        ("/?tag=prod", vec!["shop/db", "shop/web"]),
        ("/?q=FRONT", vec!["shop/web"]),
        ("/?q=nothing-matches-this", vec![]),
    ] {
        let page = b.get(query).await;
        assert_eq!(page.status, 200, "{query}: {}", page.body);
        assert_eq!(rows(&page), expected, "{query}");
    }

    let long = format!("/?q={}", "a".repeat(201));
    for (query, error) in [
        (
            "/?state=sideways",
            "state: one of up, degraded, down, unknown, pending",
        ),
        ("/?page=0", "page: a page number from 1"),
        ("/?page=x", "page: a page number from 1"),
        (long.as_str(), "q: at most 200 characters"),
    ] {
        let page = b.get(query).await;
        assert_eq!(page.status, 400, "{query}: {}", page.body);
        assert_eq!(texts(&page, "main p"), [error], "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checks_page_shows_its_history_evidence_incidents_and_dependencies() {
    let (web, _target, mut b) = start().await;
    web.wait_for_incident("shop/db").await;
    web.wait_for_status("shop/web", Status::Up).await;
    web.monitor.flush().await;

    let page = b.get("/checks/shop/web").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let h3 = texts(&page, "h3");
    assert!(h3.iter().any(|h| h == "Timing"), "{h3:?}");
    assert!(h3.iter().any(|h| h == "Details"), "{h3:?}");
    assert!(!texts(&page, "svg.band rect").is_empty(), "a status band");
    assert_eq!(texts(&page, "svg.percentiles").len(), 1, "a latency chart");
    assert!(
        texts(&page, "table.results td")
            .iter()
            .any(|t| t.starts_with("HTTP 200")),
        "{}",
        page.body
    );
    // The dependency both ways: db depends on web.
    assert_eq!(texts(&page, "ul.related a"), ["shop/db"]);
    let db = b.get("/checks/shop/db?range=7d").await;
    assert_eq!(texts(&db, "ul.related a"), ["shop/web"]);
    let doc = db.doc();
    let incidents: Vec<String> = doc
        .select(&scraper::Selector::parse("table.incidents a").unwrap())
        .filter_map(|a| a.value().attr("href").map(str::to_owned))
        .collect();
    assert!(
        incidents.iter().any(|h| h.starts_with("/incidents/")),
        "{incidents:?}"
    );
    assert_eq!(texts(&db, "nav.ranges a[aria-current=page]"), ["7 days"]);

    assert_eq!(b.get("/checks/shop/nope").await.status, 404);
    for (query, error) in [
        ("/checks/shop/web?range=1y", "range: one of 24h, 7d, 90d"),
        (
            "/checks/shop/web?before=soon",
            "before: a time in milliseconds since the epoch",
        ),
    ] {
        let page = b.get(query).await;
        assert_eq!(page.status, 400, "{query}: {}", page.body);
        assert_eq!(texts(&page, "main p"), [error], "{query}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_send_a_snapshot_then_the_change_when_a_target_breaks() {
    let (web, target, mut b) = start().await;
    web.wait_for_status("shop/web", Status::Up).await;
    let mut events = b.events("/events").await;
    let (name, data) = events.next().await;
    assert_eq!(name, "snapshot");
    let snapshot: Vec<serde_json::Value> = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot.len(), 3, "every configured check: {data}");
    let web_state = snapshot.iter().find(|s| s["check"] == "shop/web").unwrap();
    assert_eq!(web_state["state"], "up");

    target.break_down();
    let down = loop {
        let (name, data) = events.next().await;
        let v: serde_json::Value = serde_json::from_str(&data).unwrap();
        if name == "status" && v["check"] == "shop/web" {
            break v;
        }
    };
    assert_eq!(down["state"], "down", "{down}");
    assert!(down["message"].as_str().unwrap().contains("500"), "{down}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_session_every_dashboard_page_sends_to_the_login() {
    let (web, _target, _) = start().await;
    let mut stranger = web.browser(2);
    for path in ["/", "/?state=down", "/checks/shop/web", "/events"] {
        let reply = stranger.get(path).await;
        assert_eq!(reply.status, 303, "{path}: {}", reply.body);
        assert!(
            reply
                .header("location")
                .is_some_and(|l| l.starts_with("/login?next=")),
            "{path}: {:?}",
            reply.header("location")
        );
    }
}
