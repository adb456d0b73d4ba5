//! Elasticsearch and OpenSearch checks: the cluster's health.
//!
//! `GET <url>/_cluster/health` through [`crate::http`] (its timeouts, body
//! limit, TLS, basic auth or the API key header), then the documented
//! fields of the answer: `status` green, yellow or red is Up, Degraded
//! (`ES_CLUSTER_YELLOW`) or Down (`ES_CLUSTER_RED`), `number_of_nodes`
//! against the expected count, and the shard counts and `cluster_name`
//! as evidence.

use keepup_config::ElasticsearchSpec;
use keepup_model::{Finding, Outcome, Severity};
use serde_json::Value;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http;
use crate::util::finish;

/// The numeric fields of the health answer kept in the evidence.
const COUNTS: &[&str] = &[
    "number_of_nodes",
    "number_of_data_nodes",
    "active_primary_shards",
    "active_shards",
    "relocating_shards",
    "initializing_shards",
    "unassigned_shards",
    "unassigned_primary_shards",
    "delayed_unassigned_shards",
    "number_of_pending_tasks",
    "number_of_in_flight_fetch",
    "task_max_waiting_in_queue_millis",
    "active_shards_percent_as_number",
];

/// Runs one Elasticsearch check.
pub async fn probe(spec: &ElasticsearchSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let (mut outcome, page) = match http::fetch_answer(&spec.http, ctx).await {
        Ok(answer) => answer,
        Err(outcome) => return outcome,
    };
    let health: Option<serde_json::Map<String, Value>> = serde_json::from_slice(&page.body)
        .ok()
        .and_then(|v: Value| v.as_object().cloned());
    let status = health
        .as_ref()
        .and_then(|h| h.get("status"))
        .and_then(Value::as_str);
    let (Some(health), Some(status)) = (health.as_ref(), status) else {
        let text = "the answer is not an Elasticsearch cluster health document (no \"status\")";
        outcome.push(Finding::new(
            codes::ES_HEALTH_INVALID,
            Severity::Critical,
            text,
        ));
        outcome.message = text.to_owned();
        return outcome;
    };
    let name = health
        .get("cluster_name")
        .and_then(Value::as_str)
        .unwrap_or("the cluster");
    let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    let evidence = &mut outcome.evidence;
    evidence.insert("cluster_name", name.clone());
    evidence.insert(
        "cluster_status",
        status.chars().take(20).collect::<String>(),
    );
    for key in COUNTS {
        if let Some(n) = health.get(*key).filter(|v| v.is_number()) {
            evidence.insert(key, n.clone());
        }
    }
    let count = |key: &str| health.get(key).and_then(Value::as_u64);
    let unassigned = count("unassigned_shards").unwrap_or(0);
    match status {
        "green" => {}
        "yellow" => outcome.push(Finding::new(
            codes::ES_CLUSTER_YELLOW,
            Severity::Warning,
            format!("{name} is yellow: {unassigned} unassigned shards, every primary assigned"),
        )),
        "red" => outcome.push(Finding::new(
            codes::ES_CLUSTER_RED,
            Severity::Critical,
            format!("{name} is red: {unassigned} unassigned shards, a primary among them"),
        )),
        other => {
            let shown: String = other.chars().filter(|c| !c.is_control()).take(20).collect();
            outcome.push(Finding::new(
                codes::ES_HEALTH_INVALID,
                Severity::Critical,
                format!("{name} reports the status {shown:?}, not green, yellow or red"),
            ));
        }
    }
    if health.get("timed_out").and_then(Value::as_bool) == Some(true) {
        outcome.evidence.insert("timed_out", true);
    }
    let nodes = count("number_of_nodes");
    if let (Some(expected), Some(nodes)) = (spec.nodes, nodes)
        && nodes < u64::from(expected)
    {
        outcome.push(Finding::new(
            codes::ES_NODES_MISSING,
            Severity::Warning,
            format!("{name} has {nodes} nodes, {expected} expected"),
        ));
    }
    outcome.message = String::new();
    let ok = format!(
        "{name} is green ({} node{})",
        nodes.unwrap_or(0),
        if nodes == Some(1) { "" } else { "s" }
    );
    finish(outcome, ok, started)
}
