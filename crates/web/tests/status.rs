//! Public status pages on the real listener and a real monitor: a
//! component goes down when its check's target breaks and recovers with
//! it, public updates show on the page, the feed and the JSON, nothing
//! internal (hosts, addresses, check names, messages, finding codes)
//! leaks, markup in names and texts is escaped, days without data are not
//! green, a page's own domain is served at `/`, and unchanged content is
//! answered `304 Not Modified`.

use keepup_config::ListenerLimits;
use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_probe::ProbeContext;
use keepup_store::{NewStatusUpdate, Store};
use keepup_testkit::http::{TestServer, html, text};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const EVIL: &str = "<script>alert(1)</script>";

struct Setup {
    monitor: Arc<Monitor>,
    addr: SocketAddr,
    target: TestServer,
    broken: Arc<AtomicBool>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start(dir: &Path) -> Setup {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = broken.clone();
    let target = TestServer::start(move |_req| {
        let broken = flag.load(Ordering::SeqCst);
        async move {
            if broken {
                text(503, "db01.internal refused the connection")
            } else {
                html(200, "<h1>Shop</h1>")
            }
        }
    })
    .await
    .unwrap();
    std::fs::write(
        dir.join("logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1 1\"><script>alert(1)</script></svg>",
    )
    .unwrap();
    let src = format!(
        r#"
[defaults]
interval = "1s"
timeout = "2s"
failure_threshold = 2
[[site]]
id = "shop"
[[site.check]]
id = "origin-db01"
name = "db01.internal origin"
kind = "http"
url = "{url}"
[[site.check]]
id = "checkout"
kind = "http"
url = "{url}"
[[status_page]]
slug = "shop"
title = "Shop {EVIL} status"
logo = "logo.svg"
domain = "status.shop.test"
[[status_page.component]]
name = "Storefront {EVIL}"
checks = ["shop/origin-db01"]
[[status_page.component]]
name = "Checkout"
checks = ["shop/checkout"]
"#,
        url = target.url("/")
    );
    let config = keepup_config::load_str(&src, &dir.join("keepup.toml")).unwrap();
    let store = Store::open(&dir.join("keepup.db")).unwrap();
    let monitor = Arc::new(
        Monitor::start(
            Arc::new(config),
            store,
            ProbeContext::new(),
            Arc::new(SystemClock),
        )
        .await
        .unwrap(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let router = keepup_web::router(monitor.clone());
    tokio::spawn(async move {
        keepup_web::serve(listener, router, &ListenerLimits::default(), async move {
            let _ = stopped.await;
        })
        .await
    });
    Setup {
        monitor,
        addr,
        target,
        broken,
        _stop: stop,
    }
}

/// An answer: status code, headers (lower-case names), body.
struct Answer {
    code: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection (blocking: call from
/// `spawn_blocking`).
fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        req.push_str("Host: 127.0.0.1\r\n");
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let code = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        code,
        headers,
        body: body.to_owned(),
    }
}

async fn fetch(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Answer {
    let path = path.to_owned();
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        get(addr, &path, &h)
    })
    .await
    .unwrap()
}

async fn json(addr: SocketAddr) -> serde_json::Value {
    let a = fetch(addr, "/status/shop.json", &[]).await;
    assert_eq!(a.code, 200, "{}", a.body);
    serde_json::from_str(&a.body).unwrap_or_else(|e| panic!("{e}: {}", a.body))
}

/// Polls the JSON document until `ok` holds (the pages are rendered in the
/// background), within `limit`.
async fn wait_json(
    addr: SocketAddr,
    what: &str,
    limit: Duration,
    ok: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let start = Instant::now();
    loop {
        let doc = json(addr).await;
        if ok(&doc) {
            return doc;
        }
        assert!(start.elapsed() < limit, "{what}: {doc:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn component_state(doc: &serde_json::Value, i: usize) -> String {
    doc["components"][i]["state"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

/// Text that must never appear on a public page with default settings.
fn internal(setup: &Setup) -> Vec<String> {
    vec![
        "127.0.0.1".into(),
        setup.target.port().to_string(),
        "db01".into(),
        "origin".into(),
        "refused".into(),
        "HTTP 503".into(),
        "HTTP_".into(),
    ]
}

fn assert_private(setup: &Setup, what: &str, body: &str) {
    for secret in internal(setup) {
        assert!(
            !body.contains(&secret),
            "{what} shows internal text {secret:?}:\n{body}"
        );
    }
}

/// `<script>` elements and event attributes in an HTML document, parsed.
fn scripts_in(html_text: &str) -> usize {
    let doc = scraper::Html::parse_document(html_text);
    doc.root_element()
        .descendent_elements()
        .filter(|e| {
            e.value().name().eq_ignore_ascii_case("script")
                || e.value()
                    .attrs()
                    .any(|(k, _)| k.to_ascii_lowercase().starts_with("on"))
        })
        .inspect(|e| eprintln!("script: {}", e.html()))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_follows_its_check_and_the_public_sees_nothing_internal() {
    let dir = tempfile::tempdir().unwrap();
    let setup = start(dir.path()).await;
    let addr = setup.addr;

    let doc = wait_json(
        addr,
        "both components operational",
        Duration::from_secs(30),
        |d| component_state(d, 0) == "operational" && component_state(d, 1) == "operational",
    )
    .await;
    assert_eq!(doc["state"], "operational");
    // A fresh store knows nothing of the 89 days before today: never green.
    let days = doc["components"][0]["days"].as_array().unwrap();
    assert_eq!(days.len(), 90);
    assert!(
        days[..89]
            .iter()
            .all(|d| d["state"] == "no_data" && d["uptime_percent"].is_null()),
        "{days:?}"
    );
    assert_eq!(days[89]["state"], "operational");

    setup.broken.store(true, Ordering::SeqCst);
    let doc = wait_json(addr, "both components down", Duration::from_secs(30), |d| {
        component_state(d, 0) == "down" && component_state(d, 1) == "down"
    })
    .await;
    assert_eq!(doc["state"], "down");
    let incidents = doc["incidents"].as_array().unwrap();
    assert!(!incidents.is_empty(), "{doc:#}");
    let id = incidents[0]["id"].as_i64().unwrap();
    assert_eq!(incidents[0]["status"], "investigating");
    assert!(incidents[0]["resolved_at"].is_null());

    // A public update, posted as the CLI posts it; the pages pick it up on
    // their next rendering.
    let update = format!("We are on it {EVIL} & more.");
    let store = setup.monitor.store().clone();
    let now = keepup_model::Clock::now_ms(&SystemClock);
    let u = NewStatusUpdate::new(id, now, "identified", &update, "alice").unwrap();
    // And maintenance announced from the command line, whose reason is
    // internal.
    let hour = 3_600_000;
    let at = now;
    tokio::task::spawn_blocking(move || {
        store.add_status_update(&u).unwrap().unwrap();
        store
            .start_maintenance(
                "shop/checkout",
                at + hour,
                at + 2 * hour,
                "db01 upgrade",
                "alice",
            )
            .unwrap();
    })
    .await
    .unwrap();
    let doc = wait_json(addr, "the update", Duration::from_secs(40), |d| {
        d["incidents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["status"] == "identified"))
    })
    .await;
    let maintenance = doc["maintenance"].as_array().unwrap();
    assert_eq!(maintenance.len(), 1, "{doc:#}");
    assert_eq!(
        maintenance[0]["components"],
        serde_json::json!(["Checkout"])
    );
    assert!(maintenance[0].get("reason").is_none());
    let with_update = doc["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["status"] == "identified")
        .unwrap();
    assert_eq!(with_update["updates"][0]["text"], update.as_str());
    assert!(
        with_update.get("author").is_none() && !doc.to_string().contains("alice"),
        "authors are not public"
    );

    let page = fetch(addr, "/status/shop", &[]).await;
    assert_eq!(page.code, 200);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    // The counter finds what it looks for...
    assert_eq!(
        scripts_in("<p onclick=\"x()\">a</p><svg><script>1</script></svg>"),
        2
    );
    // ... and the page has none.
    assert_eq!(
        scripts_in(&page.body),
        0,
        "markup from names and texts is escaped"
    );
    assert!(
        page.body
            .contains("Storefront &lt;script&gt;alert(1)&lt;/script&gt;")
    );
    assert!(page.body.contains("We are on it &lt;script&gt;"));
    assert!(!page.body.contains("style="), "CSP allows no inline style");
    let no_data_bars = scraper::Html::parse_document(&page.body)
        .select(&scraper::Selector::parse("rect.no_data").unwrap())
        .count();
    assert!(no_data_bars >= 2 * 89, "{no_data_bars} grey bars");
    assert_private(&setup, "the page", &page.body);
    assert_private(&setup, "the JSON", &doc.to_string());

    let feed = fetch(addr, "/status/shop/feed.atom", &[]).await;
    assert_eq!(feed.code, 200);
    assert_private(&setup, "the feed", &feed.body);
    let xml =
        roxmltree::Document::parse(&feed.body).unwrap_or_else(|e| panic!("{e}: {}", feed.body));
    let atom = "http://www.w3.org/2005/Atom";
    let root = xml.root_element();
    assert!(root.has_tag_name((atom, "feed")));
    let child = |n: roxmltree::Node, name: &str| {
        n.children()
            .find(|c| c.has_tag_name((atom, name)))
            .unwrap_or_else(|| panic!("no <{name}>"))
            .text()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(child(root, "id"), "urn:keepup:status:shop");
    assert!(!child(root, "updated").is_empty());
    let entries: Vec<_> = root
        .children()
        .filter(|c| c.has_tag_name((atom, "entry")))
        .collect();
    assert!(!entries.is_empty());
    let identified = entries
        .iter()
        .find(|e| child(**e, "title").contains("identified"))
        .expect("an entry for the updated incident");
    assert!(
        child(*identified, "content").contains(&update),
        "{}",
        feed.body
    );
    assert!(child(*identified, "id").starts_with("urn:keepup:status:shop:incident:"));

    let badge = fetch(addr, "/status/shop/badge/checkout.svg", &[]).await;
    assert_eq!(badge.code, 200, "{}", badge.body);
    assert_eq!(badge.header("content-type"), Some("image/svg+xml"));
    let svg = roxmltree::Document::parse(&badge.body).unwrap();
    let texts: Vec<&str> = svg
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text())
        .collect();
    assert!(texts[1].starts_with("outage"), "{texts:?}");
    assert_private(&setup, "the badge", &badge.body);

    setup.broken.store(false, Ordering::SeqCst);
    let doc = wait_json(addr, "recovery", Duration::from_secs(30), |d| {
        d["state"] == "operational"
    })
    .await;
    let incidents = doc["incidents"].as_array().unwrap();
    assert!(
        incidents
            .iter()
            .all(|i| i["status"] == "resolved" && i["resolved_at"].is_string()),
        "{doc:#}"
    );
    assert!(
        doc["components"][0]["days"][89]["down_seconds"]
            .as_i64()
            .unwrap()
            > 0,
        "today's bar shows the outage"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_is_served_at_its_domain_and_revalidated_with_304() {
    let dir = tempfile::tempdir().unwrap();
    let setup = start(dir.path()).await;
    let addr = setup.addr;

    let page = fetch(addr, "/", &[("Host", "Status.Shop.test:8585")]).await;
    assert_eq!(page.code, 200, "{}", page.body);
    assert!(
        page.body.contains("<h1>Shop &lt;script&gt;"),
        "{}",
        page.body
    );
    let other = fetch(addr, "/", &[("Host", "dashboard.shop.test")]).await;
    assert_ne!(other.code, 200, "{}", other.body);
    // The public domain serves the status pages and nothing of the
    // operators' side.
    let public = [("Host", "status.shop.test")];
    assert_eq!(fetch(addr, "/status/shop.json", &public).await.code, 200);
    for path in ["/login", "/api/v1/checks", "/incidents", "/metrics"] {
        assert_eq!(fetch(addr, path, &public).await.code, 404, "{path}");
        assert_ne!(fetch(addr, path, &[]).await.code, 404, "{path}");
    }
    assert_eq!(fetch(addr, "/status/nope", &[]).await.code, 404);
    assert_eq!(
        fetch(addr, "/status/shop/badge/nope.svg", &[]).await.code,
        404
    );

    let first = fetch(addr, "/status/shop/feed.atom", &[]).await;
    assert_eq!(first.code, 200);
    let etag = first.header("etag").unwrap().to_owned();
    let modified = first.header("last-modified").unwrap().to_owned();
    let again = fetch(addr, "/status/shop/feed.atom", &[("If-None-Match", &etag)]).await;
    assert_eq!(again.code, 304);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let since = fetch(
        addr,
        "/status/shop/feed.atom",
        &[("If-Modified-Since", &modified)],
    )
    .await;
    assert_eq!(since.code, 304);
    let stale = fetch(
        addr,
        "/status/shop/feed.atom",
        &[("If-None-Match", "\"0000\"")],
    )
    .await;
    assert_eq!(stale.code, 200);
    assert_eq!(stale.body, first.body);
    // If-None-Match decides over If-Modified-Since.
    let both = fetch(
        addr,
        "/status/shop/feed.atom",
        &[
            ("If-None-Match", "\"0000\""),
            ("If-Modified-Since", &modified),
        ],
    )
    .await;
    assert_eq!(both.code, 200);

    // The logo is read at load and served with a policy that keeps a
    // script in an SVG from running when the logo is opened on its own.
    assert!(
        page.body.contains("src=\"/status/shop/logo\""),
        "{}",
        page.body
    );
    let logo = fetch(addr, "/status/shop/logo", &[]).await;
    assert_eq!(logo.code, 200);
    assert_eq!(logo.header("content-type"), Some("image/svg+xml"));
    assert!(
        logo.header("content-security-policy")
            .is_some_and(|p| p.contains("sandbox") && p.contains("default-src 'none'")),
        "{:?}",
        logo.headers
    );

    let css = fetch(addr, "/status/assets/status.css", &[]).await;
    assert_eq!(css.code, 200);
    assert!(css.body.contains("prefers-color-scheme: dark"));

    // Pages, logos, badges and the stylesheet come from memory by name:
    // no path reaches the configuration or the logo's file beside it.
    for path in [
        "/status/..%2fkeepup.toml",
        "/status/%2e%2e%2fkeepup.toml",
        "/status/shop/..%2f..%2fkeepup.toml",
        "/status/shop/logo/..%2flogo.svg",
        "/status/shop/badge/..%2f..%2fkeepup.toml",
        "/status/shop/badge/%2e%2e%2flogo.svg",
        "/status/assets/..%2f..%2fkeepup.toml",
        "/status/assets/status.css%00",
        "/status/logo.svg",
    ] {
        let r = fetch(addr, path, &[]).await;
        assert_eq!(r.code, 404, "{path}: {}", r.body);
        assert!(
            !r.body.contains("[[site]]") && !r.body.contains("<svg"),
            "{path}: {}",
            r.body
        );
    }
}

/// When the first rendering fails (here: the store lacks a table the
/// pages read), requests stop waiting for one: the page's domain and its
/// routes answer 503 with Retry-After, and other hosts go on to the
/// dashboard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_rendering_answers_503_and_lets_other_hosts_through() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keepup.db");
    drop(Store::open(&db).unwrap());
    let dropped = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("DROP TABLE status_update;")
        .status()
        .unwrap();
    assert!(dropped.success());
    let setup = start(dir.path()).await;
    let addr = setup.addr;

    let page = fetch(addr, "/", &[("Host", "status.shop.test")]).await;
    assert_eq!(page.code, 503, "{}", page.body);
    assert_eq!(page.header("retry-after"), Some("15"));
    let json = fetch(addr, "/status/shop.json", &[]).await;
    assert_eq!(json.code, 503, "{}", json.body);
    let other = fetch(addr, "/", &[("Host", "dashboard.shop.test")]).await;
    assert!(other.code != 503 && other.code < 500, "{}", other.body);
}
