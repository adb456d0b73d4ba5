//! `kind = "elasticsearch"` against an in-process server that answers
//! `GET /_cluster/health` as Elasticsearch documents it (the fields and
//! types of its cluster health API; Elasticsearch has no Debian package),
//! and only with the API key or basic-auth password the check reads from
//! a file.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::http::{TestServer, json, text};
use support::codes;

const API_KEY: &str = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==";

/// A cluster health answer with `status`, `nodes` nodes and `unassigned`
/// unassigned shards, every documented field with its documented type.
fn health(status: &str, nodes: u32, unassigned: u32) -> String {
    let active = 10 - unassigned;
    serde_json::json!({
        "cluster_name": "shop-search",
        "status": status,
        "timed_out": false,
        "number_of_nodes": nodes,
        "number_of_data_nodes": nodes,
        "active_primary_shards": 5,
        "active_shards": active,
        "relocating_shards": 0,
        "initializing_shards": 0,
        "unassigned_shards": unassigned,
        "unassigned_primary_shards": if status == "red" { 1 } else { 0 },
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": f64::from(active) * 10.0,
    })
    .to_string()
}

/// A cluster whose health answer can be changed, answering only requests
/// that carry `ApiKey API_KEY` or `Basic probe:secret`.
async fn cluster(answer: Arc<Mutex<String>>) -> TestServer {
    TestServer::start(move |req| {
        let answer = answer.lock().map(|a| a.clone()).unwrap_or_default();
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let allowed = auth == format!("ApiKey {API_KEY}") || auth == "Basic cHJvYmU6c2VjcmV0";
            if !allowed {
                return json(401, r#"{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}"#);
            }
            if req.uri().path() != "/_cluster/health" {
                return text(404, "no such path");
            }
            json(200, answer)
        }
    })
    .await
    .expect("server")
}

async fn run(url: &str, extra: &str, dir: &Path) -> Outcome {
    std::fs::write(dir.join("es-key"), format!("{API_KEY}\n")).expect("key file");
    std::fs::write(dir.join("es-password"), "secret\n").expect("password file");
    let src = format!(
        "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"elasticsearch\"\ntimeout = \"5s\"\nurl = \"{url}\"\n{extra}"
    );
    let config =
        keepup_config::load_str(&src, &dir.join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    support::run(
        config.checks().next().expect("one check"),
        &ProbeContext::new(),
    )
    .await
}

#[tokio::test]
async fn green_yellow_and_red_are_up_degraded_and_down() {
    let answer = Arc::new(Mutex::new(health("green", 3, 0)));
    let server = cluster(Arc::clone(&answer)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let key = "api_key_file = \"es-key\"\nnodes = 3\n";
    let o = run(&server.url("/"), key, dir.path()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "shop-search is green (3 nodes)");
    assert_eq!(o.evidence.details["unassigned_shards"], 0);
    assert_eq!(o.evidence.details["active_shards_percent_as_number"], 100.0);

    *answer.lock().unwrap() = health("yellow", 3, 5);
    let o = run(&server.url("/"), key, dir.path()).await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::ES_CLUSTER_YELLOW]);
    assert_eq!(
        o.message,
        "shop-search is yellow: 5 unassigned shards, every primary assigned"
    );

    *answer.lock().unwrap() = health("red", 2, 6);
    let o = run(&server.url("/"), key, dir.path()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::ES_CLUSTER_RED, c::ES_NODES_MISSING]);
    assert_eq!(o.findings[1].text, "shop-search has 2 nodes, 3 expected");
}

#[tokio::test]
async fn credentials_come_from_files_and_a_wrong_answer_is_down() {
    let answer = Arc::new(Mutex::new(health("green", 1, 0)));
    let server = cluster(Arc::clone(&answer)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    // Basic auth, as for an http check.
    let o = run(
        &server.url("/"),
        "basic_auth = { username = \"probe\", password_file = \"es-password\" }\n",
        dir.path(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "shop-search is green (1 node)");
    // No credentials: the cluster's 401.
    let o = run(&server.url("/"), "", dir.path()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::HTTP_STATUS_UNEXPECTED]);
    assert!(!format!("{o:?}").contains(API_KEY));
    // Something else than a health document.
    *answer.lock().unwrap() = "{\"tagline\":\"You Know, for Search\"}".into();
    let o = run(&server.url("/"), "api_key_file = \"es-key\"\n", dir.path()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::ES_HEALTH_INVALID]);
    // The key is checked at load: a missing file is named there.
    let src = "[[site]]\nid = \"s\"\n[[site.check]]\nid = \"c\"\nkind = \"elasticsearch\"\nurl = \"http://127.0.0.1:9200\"\napi_key_file = \"nowhere\"\nnodes = 0\n";
    let problems = keepup_config::load_str(src, &dir.path().join("keepup.toml"))
        .err()
        .map(|p| p.to_string())
        .unwrap_or_default();
    assert!(problems.contains("api_key_file: cannot read"), "{problems}");
    assert!(problems.contains("nodes: 0 nodes"), "{problems}");
}
