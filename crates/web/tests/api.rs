//! The JSON API on the real listener, a real monitor and its store: the
//! contract test reads `/api/v1/openapi.json`, checks that it documents
//! exactly the routes served, calls every documented operation (path
//! parameters filled from what earlier answers returned) and validates
//! each answer against the document's schema (JSON Schema 2020-12, as
//! OpenAPI 3.1 uses). Focused tests: paging cursors that neither skip nor
//! repeat, check ids sent percent-encoded, and bad input answered 400
//! naming the parameter or field.

use keepup_config::BackupJob;
use keepup_model::SystemClock;
use keepup_monitor::Monitor;
use keepup_store::TokenScope;
use keepup_testkit::http::{TestServer, text};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;

struct Setup {
    monitor: Arc<Monitor>,
    addr: SocketAddr,
    /// A token that may read.
    reader: String,
    /// A token that may act.
    writer: String,
    _target: TestServer,
    _web: support::Web,
}

/// A shop whose `web` check fails (an incident), a healthy `home`, a blog
/// with a heartbeat under maintenance, and a backup plan that has run.
async fn start() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let broken = Arc::new(AtomicBool::new(true));
    let flag = broken.clone();
    let target = TestServer::start(move |req| {
        let fail = flag.load(Ordering::SeqCst) && req.uri().path() == "/web";
        async move {
            if fail {
                text(503, "down")
            } else {
                text(200, "fine")
            }
        }
    })
    .await
    .unwrap();
    std::fs::write(dir.join("repo.pass"), "api test repository\n").unwrap();
    std::fs::create_dir_all(dir.join("files")).unwrap();
    std::fs::write(dir.join("files/orders.csv"), "id;total\n1;9.99\n").unwrap();
    for t in ["primary", "second"] {
        std::fs::create_dir_all(dir.join(t)).unwrap();
    }
    let src = format!(
        r#"
[defaults]
interval = "1s"
timeout = "2s"
failure_threshold = 1

[[site]]
id = "shop"
name = "Shop"
tags = ["prod"]
[[site.check]]
id = "web"
kind = "http"
url = "{web}"
[[site.check]]
id = "home"
kind = "http"
url = "{home}"
tags = ["front"]

[[site]]
id = "blog"
[[site.check]]
id = "job"
kind = "heartbeat"
token = "api-test-heartbeat-1"
period = "1h"

[[contract]]
id = "front"
site = "shop"
down_when = "home"
target = 99.9
burn = []

[[backup]]
id = "files"
site = "shop"
password_file = "{dir}/repo.pass"
[[backup.source]]
kind = "paths"
paths = ["{dir}/files"]
[[backup.target]]
id = "primary"
repository = "{dir}/primary"
[[backup.target]]
id = "second"
repository = "{dir}/second"
offsite = true
"#,
        web = target.url("/web"),
        home = target.url("/home"),
        dir = dir.display(),
    );
    let web = support::start_in(tmp, &src, None).await;
    let (monitor, addr) = (web.monitor.clone(), web.addr);
    for plan in &monitor.config().backups {
        for t in &plan.targets {
            keepup_backup::init(plan, &t.id).unwrap();
        }
    }
    // The outage's incident, a backup run, a maintenance window (as
    // `keepup maintenance start` makes it).
    let store = monitor.store().clone();
    wait_until("an incident", || {
        !store.open_incidents().unwrap().is_empty()
    })
    .await;
    let run = monitor.run_backup_job("files", BackupJob::Run).await;
    assert!(run.is_some_and(|o| o.status == keepup_model::Status::Up));
    let now = keepup_model::Clock::now_ms(&SystemClock);
    store
        .start_maintenance("blog", now, now + 3_600_000, "moving the blog", "alice")
        .unwrap();
    wait_until("results of every check", || monitor.current().len() >= 3).await;
    monitor.flush().await;
    let token = |name: &str, scope: TokenScope| {
        let text = keepup_web::auth::secret::new_token().unwrap();
        let digest = keepup_web::auth::secret::digest(&text);
        assert!(store.create_token(name, &digest, scope, now, None).unwrap());
        text
    };
    Setup {
        reader: token("dashboard-kiosk", TokenScope::Read),
        writer: token("deployer", TokenScope::Write),
        monitor,
        addr,
        _target: target,
        _web: web,
    }
}

async fn wait_until(what: &str, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An answer: status and body as JSON (`Null` when the body is not JSON).
struct Answer {
    code: u16,
    content_type: String,
    body: Value,
    raw: String,
}

/// One request over a fresh connection, with `token` as bearer if any.
async fn call(
    addr: SocketAddr,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Answer {
    let (method, path, body) = (method.to_owned(), path.to_owned(), body.map(str::to_owned));
    let authorization = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let body = body.unwrap_or_default();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{authorization}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let _ = s.write_all(req.as_bytes());
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
        let code = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let content_type = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        Answer {
            code,
            content_type,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            raw: body.to_owned(),
        }
    })
    .await
    .unwrap()
}

async fn get(addr: SocketAddr, token: &str, path: &str) -> Answer {
    call(addr, Some(token), "GET", path, None).await
}

/// Validates `instance` against `schema` (an OpenAPI 3.1 schema object,
/// usually a `$ref` into `#/components/schemas`) of document `doc`.
fn validate(doc: &Value, schema: &Value, instance: &Value, what: &str) {
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
    });
    let schema = schema
        .as_object()
        .unwrap_or_else(|| panic!("{what}: no schema in the document: {schema}"));
    for (k, v) in schema {
        root[k] = v.clone();
    }
    let validator = jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("{what}: the document's schema does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the answer does not match the document: {errors:#?}\n{instance:#}"
    );
}

/// The schema a documented operation gives for `status`'s JSON body.
fn response_schema(op: &Value, status: u16) -> Option<&Value> {
    op["responses"][status.to_string()]["content"]["application/json"].get("schema")
}

/// Every method and path the document lists.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let mut ops = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}

/// The order operations are called in: reads first, then actions, and
/// those that end something last (an incident is acknowledged before it
/// is resolved, a window started before one is ended).
fn order((method, path): &(String, String)) -> (u8, String) {
    let rank = match method.as_str() {
        "GET" => 0,
        _ if path.ends_with("/resolve") || path.ends_with("/end") => 2,
        _ => 1,
    };
    (rank, path.clone())
}

/// The body the contract sends to an action, checked against the
/// document's request schema before it is sent.
fn request_body(method: &str, path: &str) -> Option<Value> {
    match (method, path) {
        ("POST", "/api/v1/maintenance") => Some(json!({
            "tag": "front", "duration": "30m", "reason": "contract test <b>window</b>"
        })),
        ("POST", "/api/v1/incidents/{id}/resolve") => {
            Some(json!({"note": "fixed by the contract test"}))
        }
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_answers_what_the_document_says() {
    let setup = start().await;
    let addr = setup.addr;

    let doc_answer = call(addr, None, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(doc_answer.code, 200, "{}", doc_answer.raw);
    let doc = doc_answer.body;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "the bearer scheme is documented"
    );

    // The validation below can fail: a wrong answer does not pass.
    let page = json!({"$ref": "#/components/schemas/CheckPage"});
    let root = json!({"components": doc["components"], "$ref": page["$ref"]});
    let validator = jsonschema::draft202012::new(&root).unwrap();
    assert!(validator.is_valid(&json!({"items": [], "next_cursor": null})));
    assert!(!validator.is_valid(&json!({"items": [{"id": 5}], "next_cursor": null})));
    assert!(!validator.is_valid(&json!({"items": "none"})));

    // The document and the router agree, both ways.
    let served: BTreeSet<(String, String)> = keepup_web::api::served()
        .into_iter()
        .map(|(m, p)| (m.to_string(), p))
        .collect();
    let ops = documented(&doc);
    assert_eq!(
        served, ops,
        "served routes and documented operations differ"
    );

    // Call each operation, parameters filled from earlier answers.
    let mut known: HashMap<&str, String> = HashMap::new();
    let mut ops: Vec<(String, String)> = ops.into_iter().collect();
    ops.sort_by_key(order);
    let mut called = 0;
    for (method, template) in &ops {
        let op = &doc["paths"][template][method.to_lowercase()];
        let mut path = template.clone();
        for (param, prefix) in [
            ("{id}", "/api/v1/checks/"),
            ("{id}", "/api/v1/incidents/"),
            ("{id}", "/api/v1/maintenance/"),
            ("{plan}", "/api/v1/backups/"),
            ("{contract}", "/api/v1/sla/"),
        ] {
            if template.starts_with(prefix) && template.contains(param) {
                let value = known
                    .get(prefix)
                    .unwrap_or_else(|| panic!("nothing returned a value for {template}"));
                path = path.replace(param, value);
            }
        }
        let body = request_body(method, template);
        if let Some(b) = &body {
            let schema = &op["requestBody"]["content"]["application/json"]["schema"];
            validate(&doc, schema, b, &format!("request of {method} {template}"));
        }
        let body_text = body.map(|b| b.to_string());
        let answer = call(
            addr,
            Some(&setup.writer),
            method,
            &path,
            body_text.as_deref(),
        )
        .await;
        assert!(
            (200..300).contains(&answer.code),
            "{method} {path}: {} {}",
            answer.code,
            answer.raw
        );
        assert!(
            answer.content_type.starts_with("application/json"),
            "{method} {path}: {}",
            answer.content_type
        );
        let schema = response_schema(op, answer.code)
            .unwrap_or_else(|| panic!("{method} {template}: {} is not documented", answer.code));
        validate(&doc, schema, &answer.body, &format!("{method} {path}"));
        called += 1;

        // What later operations need.
        let first = &answer.body["items"][0];
        match (method.as_str(), template.as_str()) {
            ("GET", "/api/v1/checks") => {
                let id = answer.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|c| c["id"] == "shop/web")
                    .map(|c| c["id"].as_str().unwrap().replace('/', "%2F"))
                    .unwrap();
                known.insert("/api/v1/checks/", id);
            }
            ("GET", "/api/v1/incidents") => {
                // The outage that lasts: its check's target stays broken.
                let web = answer.body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|i| i["check"] == "shop/web" && i["state"] == "open")
                    .map(|i| i["id"].to_string())
                    .unwrap();
                known.insert("/api/v1/incidents/", web);
            }
            ("GET", "/api/v1/sla") => {
                known.insert("/api/v1/sla/", first["id"].as_str().unwrap().to_owned());
            }
            ("GET", "/api/v1/backups") => {
                known.insert("/api/v1/backups/", first["id"].as_str().unwrap().to_owned());
            }
            ("POST", "/api/v1/maintenance") => {
                assert_eq!(
                    (&answer.body["target"], &answer.body["covers"]),
                    (&json!("tag:front"), &json!("checks tagged front"))
                );
                known.insert("/api/v1/maintenance/", answer.body["id"].to_string());
            }
            _ => {}
        }

        // A list's next page validates too.
        let takes_limit = op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == "limit"));
        if method == "GET" && takes_limit {
            let sep = if path.contains('?') { '&' } else { '?' };
            let page = get(addr, &setup.reader, &format!("{path}{sep}limit=1")).await;
            assert_eq!(page.code, 200, "{path} limit=1: {}", page.raw);
            validate(&doc, schema, &page.body, &format!("{path} limit=1"));
            if let Some(cursor) = page.body["next_cursor"].as_str() {
                let next = get(
                    addr,
                    &setup.reader,
                    &format!("{path}{sep}limit=1&cursor={cursor}"),
                )
                .await;
                assert_eq!(next.code, 200, "{path} next page: {}", next.raw);
                validate(&doc, schema, &next.body, &format!("{path} next page"));
            }
        }
    }
    assert_eq!(called, ops.len(), "every documented operation was called");

    // The actions did what they say, through the monitor's paths.
    let store = setup.monitor.store().clone();
    let incident: i64 = known["/api/v1/incidents/"].parse().unwrap();
    let stored = store.incident(incident).unwrap().unwrap();
    assert!(stored.acknowledged_at.is_some() && stored.resolved_at.is_some());
    assert_eq!(
        store.incident_resolution(incident).unwrap().map(|r| r.note),
        Some("fixed by the contract test".to_owned())
    );
    // The list searches the notes, case-insensitively, wildcards literal.
    let ids = |body: &serde_json::Value| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let found = get(
        addr,
        &setup.reader,
        "/api/v1/incidents?search=BY%20THE%20Contract",
    )
    .await;
    assert_eq!(
        (found.code, ids(&found.body)),
        (200, vec![incident]),
        "{}",
        found.raw
    );
    let none = get(
        addr,
        &setup.reader,
        "/api/v1/incidents?search=by_the%25contract",
    )
    .await;
    assert_eq!((none.code, ids(&none.body)), (200, vec![]), "{}", none.raw);
    let window: i64 = known["/api/v1/maintenance/"].parse().unwrap();
    let w = store.maintenance_window(window).unwrap().unwrap();
    assert_eq!(w.target, "tag:front");
    assert!(
        w.ends_at <= keepup_model::Clock::now_ms(&SystemClock),
        "ended"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_neither_skip_nor_repeat_and_ids_travel_percent_encoded() {
    let setup = start().await;
    let addr = setup.addr;

    // Checks a page at a time add up to the whole list, in id order.
    let all = get(addr, &setup.reader, "/api/v1/checks?limit=1000")
        .await
        .body;
    let all: Vec<String> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(all.len() >= 5, "{all:?}");
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/checks?limit=2&cursor={c}"),
            None => "/api/v1/checks?limit=2".to_owned(),
        };
        let page = get(addr, &setup.reader, &path).await.body;
        walked.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(walked, all);

    let store = setup.monitor.store().clone();
    let web = keepup_model::CheckId::new("shop", "web");
    wait_until("a few results", || {
        store.results(&web, 0, i64::MAX, 10).unwrap().len() >= 5
    })
    .await;

    // Results keep arriving while a client pages back from a fixed end:
    // the pages are the list as it was, newest first.
    let first = get(
        addr,
        &setup.reader,
        "/api/v1/checks/shop%2Fweb/results?limit=1000",
    )
    .await;
    assert_eq!(first.code, 200, "{}", first.raw);
    let times: Vec<String> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_str().unwrap().to_owned())
        .collect();
    assert!(times.len() >= 3, "{times:?}");
    let end = &times[0];
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/api/v1/checks/shop%2Fweb/results?limit=2&to={end}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = get(addr, &setup.reader, &path).await;
        assert_eq!(page.code, 200, "{path}: {}", page.raw);
        walked.extend(
            page.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["at"].as_str().unwrap().to_owned()),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(walked, times[1..], "older than the fixed end, none twice");

    // Incidents: one opening between two pages does not shift the next.
    let ids_of = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    };
    let before = ids_of(
        &get(addr, &setup.reader, "/api/v1/incidents?limit=500")
            .await
            .body,
    );
    let first = get(addr, &setup.reader, "/api/v1/incidents?limit=1")
        .await
        .body;
    let mut walked = ids_of(&first);
    let mut cursor = first["next_cursor"].as_str().map(str::to_owned);
    let at = keepup_model::Clock::now_ms(&SystemClock);
    let later = store
        .open_incident(&keepup_store::NewIncident {
            check: keepup_model::CheckId::new("shop", "home"),
            status: keepup_model::Status::Down,
            opened_at: at,
            detected_at: at,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "later".into(),
            findings: vec![],
        })
        .unwrap();
    while let Some(c) = cursor {
        let page = get(
            addr,
            &setup.reader,
            &format!("/api/v1/incidents?limit=1&cursor={c}"),
        )
        .await
        .body;
        walked.extend(ids_of(&page));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(walked, before);
    let now_first = get(addr, &setup.reader, "/api/v1/incidents?limit=1")
        .await
        .body;
    assert_eq!(ids_of(&now_first), [later], "newest first");
    let open_shop = ids_of(
        &get(
            addr,
            &setup.reader,
            "/api/v1/incidents?site=shop&state=open",
        )
        .await
        .body,
    );
    let mut expected: Vec<i64> = store
        .open_incidents()
        .unwrap()
        .iter()
        .filter(|i| i.check.as_str().starts_with("shop/"))
        .map(|i| i.id)
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    let mut got = open_shop.clone();
    got.sort_by(|a, b| b.cmp(a));
    assert_eq!(got, expected);
    assert!(open_shop.contains(&later));

    // A check id's `/` travels as %2F; unencoded, it is no operation.
    let one = get(addr, &setup.reader, "/api/v1/checks/shop%2Fweb").await;
    assert_eq!(
        (one.code, one.body["check"]["id"].as_str()),
        (200, Some("shop/web"))
    );
    assert_eq!(
        one.body["check"]["tags"],
        json!(["prod"]),
        "the site's tags"
    );
    let lower = get(addr, &setup.reader, "/api/v1/checks/shop%2fhome").await;
    assert_eq!(lower.body["check"]["id"], "shop/home", "lower-case hex too");
    for missing in ["/api/v1/checks/shop/web", "/api/v1/checks/shop%2Fnope"] {
        let a = get(addr, &setup.reader, missing).await;
        assert_eq!(a.code, 404, "{missing}: {}", a.raw);
        assert_eq!(a.body["error"]["code"], "not_found", "{missing}: {}", a.raw);
    }
    let filtered = get(addr, &setup.reader, "/api/v1/checks?site=shop&tag=front")
        .await
        .body;
    let ids: Vec<&str> = filtered["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["shop/home"]);
    let down = get(addr, &setup.reader, "/api/v1/checks?state=down")
        .await
        .body;
    assert!(
        down["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "down")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_answered_400_naming_the_parameter_or_field() {
    let setup = start().await;
    let addr = setup.addr;
    let incident = setup
        .monitor
        .store()
        .open_incidents()
        .unwrap()
        .iter()
        .find(|i| i.check.as_str() == "shop/web")
        .unwrap()
        .id;

    for (path, field) in [
        ("/api/v1/checks?limit=0", "limit"),
        ("/api/v1/checks?limit=many", "limit"),
        ("/api/v1/checks?state=sideways", "state"),
        ("/api/v1/checks?cursor=zz", "cursor"),
        ("/api/v1/checks?colour=red", "colour"),
        ("/api/v1/checks?site=a&site=b", "site"),
        ("/api/v1/incidents?state=closed", "state"),
        ("/api/v1/checks/shop%2Fweb/results?from=monday", "from"),
        (
            "/api/v1/checks/shop%2Fweb/results?from=2026-12-05T10:00:00Z&to=2026-12-05T09:00:00Z",
            "to",
        ),
        ("/api/v1/notifications?state=lost", "state"),
    ] {
        let a = get(addr, &setup.reader, path).await;
        assert_eq!(a.code, 400, "{path}: {}", a.raw);
        assert_eq!(a.body["error"]["code"], "bad_request", "{path}");
        assert_eq!(a.body["error"]["field"], field, "{path}: {}", a.raw);
    }
    // A cursor of one list is refused by another.
    let page = get(addr, &setup.reader, "/api/v1/checks?limit=1")
        .await
        .body;
    let cursor = page["next_cursor"].as_str().unwrap();
    let a = get(
        addr,
        &setup.reader,
        &format!("/api/v1/incidents?cursor={cursor}"),
    )
    .await;
    assert_eq!(
        (a.code, a.body["error"]["field"].as_str()),
        (400, Some("cursor"))
    );

    let resolve = format!("/api/v1/incidents/{incident}/resolve");
    let long_note = json!({"note": "x".repeat(2_001)}).to_string();
    for (path, body, field) in [
        (resolve.as_str(), "{}", "note"),
        (resolve.as_str(), r#"{"note": ""}"#, "note"),
        (resolve.as_str(), r#"{"note": "  \n "}"#, "note"),
        (resolve.as_str(), r#"{"note": 5}"#, "note"),
        (resolve.as_str(), long_note.as_str(), "note"),
        (resolve.as_str(), r#"{"note": "ok", "by": "mallory"}"#, "by"),
        (resolve.as_str(), "{\"note\": ", "body"),
        (resolve.as_str(), "[]", "body"),
        (
            "/api/v1/maintenance",
            r#"{"target": "shop", "duration": "soon"}"#,
            "duration",
        ),
        (
            "/api/v1/maintenance",
            r#"{"target": "shop", "duration": "0s"}"#,
            "duration",
        ),
        (
            "/api/v1/maintenance",
            r#"{"target": "nowhere", "duration": "1h"}"#,
            "target",
        ),
        ("/api/v1/maintenance", r#"{"duration": "1h"}"#, "target"),
        (
            "/api/v1/maintenance",
            r#"{"tag": "nobody", "duration": "1h"}"#,
            "tag",
        ),
        (
            "/api/v1/maintenance",
            r#"{"target": "shop", "tag": "prod", "duration": "1h"}"#,
            "tag",
        ),
    ] {
        let a = call(addr, Some(&setup.writer), "POST", path, Some(body)).await;
        assert_eq!(a.code, 400, "{path} {body}: {}", a.raw);
        assert_eq!(a.body["error"]["field"], field, "{path} {body}: {}", a.raw);
    }
    // Nothing was resolved by the refused requests.
    let i = setup.monitor.store().incident(incident).unwrap().unwrap();
    assert!(i.resolved_at.is_none());

    // Over the listener's body limit: 413 in the same shape.
    let huge = json!({"note": "x".repeat(100_000)}).to_string();
    let a = call(addr, Some(&setup.writer), "POST", &resolve, Some(&huge)).await;
    assert_eq!(a.code, 413, "{}", &a.raw[..a.raw.len().min(200)]);
    assert_eq!(a.body["error"]["code"], "payload_too_large");

    // Unknown things are 404 and conflicts 409, in the same shape.
    let a = get(addr, &setup.reader, "/api/v1/incidents/999999").await;
    assert_eq!(
        (a.code, a.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let a = get(addr, &setup.reader, "/api/v1/nothing-here").await;
    assert_eq!(
        (a.code, a.body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let a = call(
        addr,
        Some(&setup.writer),
        "POST",
        "/api/v1/maintenance/999999/end",
        None,
    )
    .await;
    assert_eq!(a.code, 404, "{}", a.raw);
    let ack = format!("/api/v1/incidents/{incident}/acknowledge");
    assert_eq!(
        call(addr, Some(&setup.writer), "POST", &ack, None)
            .await
            .code,
        200
    );
    let again = call(addr, Some(&setup.writer), "POST", &ack, None).await;
    assert_eq!(
        (again.code, again.body["error"]["code"].as_str()),
        (409, Some("conflict"))
    );
    let a = get(addr, &setup.reader, "/api/v1/backups/nope/runs").await;
    assert_eq!(a.code, 404, "{}", a.raw);

    // Markup in a reason is data: kept as sent, answered as a JSON string.
    let evil = "<script>alert(1)</script>";
    let body = json!({"target": "blog", "duration": "1h", "reason": evil}).to_string();
    let a = call(
        addr,
        Some(&setup.writer),
        "POST",
        "/api/v1/maintenance",
        Some(&body),
    )
    .await;
    assert_eq!((a.code, a.body["reason"].as_str()), (201, Some(evil)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_reads_or_acts_as_its_scope_says_and_actions_are_audited() {
    let setup = start().await;
    let addr = setup.addr;
    let store = setup.monitor.store().clone();
    let incident = store
        .open_incidents()
        .unwrap()
        .iter()
        .find(|i| i.check.as_str() == "shop/web")
        .unwrap()
        .id;
    let ack = format!("/api/v1/incidents/{incident}/acknowledge");

    // No token, a made-up one: 401 with nothing said; the document is open.
    for token in [None, Some("kp_0000"), Some("Basic abc")] {
        let a = call(addr, token, "GET", "/api/v1/checks", None).await;
        assert_eq!((a.code, a.raw.as_str()), (401, ""), "{token:?}");
        let a = call(addr, token, "POST", &ack, None).await;
        assert_eq!(a.code, 401, "{token:?}");
    }
    let doc = call(addr, None, "GET", "/api/v1/openapi.json", None).await;
    assert_eq!(doc.code, 200);

    // A read token reads but cannot act.
    assert_eq!(get(addr, &setup.reader, "/api/v1/checks").await.code, 200);
    for (path, body) in [
        (ack.as_str(), None),
        (
            &format!("/api/v1/incidents/{incident}/resolve") as &str,
            Some(r#"{"note": "x"}"#),
        ),
        (
            "/api/v1/maintenance",
            Some(r#"{"target": "shop", "duration": "1h"}"#),
        ),
    ] {
        let a = call(addr, Some(&setup.reader), "POST", path, body).await;
        assert_eq!((a.code, a.raw.as_str()), (403, ""), "{path}");
    }
    let i = store.incident(incident).unwrap().unwrap();
    assert!(i.acknowledged_at.is_none() && i.resolved_at.is_none());
    assert!(
        store
            .maintenance_after(0)
            .unwrap()
            .iter()
            .all(|w| w.target != "shop")
    );

    // A write token acts, in its name, and the audit log says so.
    let a = call(addr, Some(&setup.writer), "POST", &ack, None).await;
    assert_eq!(a.code, 200, "{}", a.raw);
    assert_eq!(a.body["acknowledged_by"], "token:deployer");
    let body = r#"{"target": "shop", "duration": "1h", "reason": "deploy"}"#;
    let a = call(
        addr,
        Some(&setup.writer),
        "POST",
        "/api/v1/maintenance",
        Some(body),
    )
    .await;
    assert_eq!(
        (a.code, a.body["created_by"].as_str()),
        (201, Some("token:deployer"))
    );
    let audit = store.audit_since(0, 100).unwrap();
    let actions: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.actor.as_str(), e.action.as_str()))
        .collect();
    assert!(
        actions.contains(&("token:deployer", "incident.acknowledge")),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("token:deployer", "maintenance.start")),
        "{actions:?}"
    );

    // A revoked token is refused at once.
    assert!(store.revoke_token("dashboard-kiosk").unwrap());
    assert_eq!(get(addr, &setup.reader, "/api/v1/checks").await.code, 401);
}
