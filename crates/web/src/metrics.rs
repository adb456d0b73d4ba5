//! Prometheus metrics at `/metrics`: every check's state and latency, the
//! certificate and domain expiry the checks saw, incident counts, and
//! keepup's own health (scheduler lag, runs, dropped results, outbox,
//! store size).
//!
//! Collected on each scrape from what the monitor holds in memory (current
//! states, scheduler statistics) and three small store queries (open
//! incidents, the incident count, notifications per state), into a fresh
//! registry that is encoded and dropped: no second bookkeeping beside the
//! monitor's, and a scrape costs a pass over the checks, however many.
//!
//! With `[server] metrics_token_file`, a scrape must carry
//! `Authorization: Bearer <token>` (compared in constant time); otherwise
//! it is answered 401 with no detail. The Prometheus text format (0.0.4)
//! is the default; OpenMetrics when the scraper's `Accept` asks for it.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keepup_model::Status;
use keepup_monitor::Monitor;
use keepup_store::OutboxState;
use prometheus_client::encoding::{prometheus_text, text};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::AppState;

/// The OpenMetrics text format's content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a per-check metric: few values each (check id, site, kind).
type Labels = Vec<(&'static str, String)>;
type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;

/// The `/metrics` route, on the listener's router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(State(monitor): State<Arc<Monitor>>, headers: HeaderMap) -> Response {
    if !authorized(&monitor, &headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "unauthorized\n",
        )
            .into_response();
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    // The store queries block: off the async workers.
    let collected = tokio::task::spawn_blocking(move || collect(&monitor)).await;
    let registry = match collected {
        Ok(registry) => registry,
        Err(e) => {
            tracing::error!(error = %e, "collecting metrics failed");
            return (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response();
        }
    };
    let mut body = String::new();
    let (encoded, content_type) = if openmetrics {
        (text::encode(&mut body, &registry), OPENMETRICS)
    } else {
        (
            prometheus_text::encode(&mut body, &registry),
            prometheus_text::CONTENT_TYPE,
        )
    };
    if encoded.is_err() {
        tracing::error!("encoding metrics failed");
        return (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response();
    }
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

/// Whether the request may read the metrics: always without a configured
/// token, otherwise only with that bearer token.
fn authorized(monitor: &Monitor, headers: &HeaderMap) -> bool {
    let config = monitor.config();
    let Some(token) = &config.server.metrics_token else {
        return true;
    };
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
    else {
        return false;
    };
    given.ct_eq(token.expose().as_bytes()).into()
}

fn gauge_family(registry: &mut Registry, name: &str, help: &str) -> GaugeFamily {
    let family = GaugeFamily::default();
    registry.register(name, help, family.clone());
    family
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: f64) {
    let g = Gauge::<f64, AtomicU64>::default();
    g.set(value);
    registry.register(name, help, g);
}

/// A counter's `help` and value; the `_total` suffix is the encoder's.
fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c = Counter::<u64>::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

/// Everything, read now.
fn collect(monitor: &Monitor) -> Registry {
    let mut registry = Registry::default();
    let config = monitor.config();
    let current = monitor.current();

    let up = gauge_family(
        &mut registry,
        "keepup_check_up",
        "1 when the check's last run was Up or Degraded, 0 when Down; absent while Unknown",
    );
    let status = gauge_family(
        &mut registry,
        "keepup_check_status",
        "The check's current status: 1 for the status it is in, 0 for the others",
    );
    let latency = gauge_family(
        &mut registry,
        "keepup_check_latency_seconds",
        "How long the check's last run took",
    );
    let cert_days = gauge_family(
        &mut registry,
        "keepup_certificate_expiry_days",
        "Days until the earliest certificate the check saw expires",
    );
    let domain_days = gauge_family(
        &mut registry,
        "keepup_domain_expiry_days",
        "Days until the domain's registration expires",
    );
    for check in config.checks() {
        let labels: Labels = vec![
            ("check", check.id.to_string()),
            ("site", site_of(check.id.as_str()).to_owned()),
            ("kind", check.spec.kind().to_owned()),
        ];
        let state = current.get(&check.id);
        let now = state.map_or(Status::Unknown, |s| s.outcome.status);
        for s in [Status::Up, Status::Degraded, Status::Down, Status::Unknown] {
            let mut l = labels.clone();
            l.push(("status", s.as_str().to_owned()));
            status.get_or_create(&l).set(f64::from(u8::from(s == now)));
        }
        let Some(state) = state else { continue };
        match now {
            Status::Up | Status::Degraded => {
                up.get_or_create(&labels).set(1.0);
            }
            Status::Down => {
                up.get_or_create(&labels).set(0.0);
            }
            Status::Unknown => {}
        }
        latency
            .get_or_create(&labels)
            .set(state.outcome.latency_ms / 1000.0);
        let evidence = &state.outcome.evidence.details;
        if let Some(days) = certificate_days_left(evidence) {
            cert_days.get_or_create(&labels).set(days);
        }
        if check.spec.kind() == "domain"
            && let Some(days) = evidence.get("days_left").and_then(Value::as_f64)
        {
            domain_days.get_or_create(&labels).set(days);
        }
    }

    let store = monitor.store();
    match store.open_incidents() {
        Ok(open) => gauge(
            &mut registry,
            "keepup_incidents_open",
            "Incidents open now",
            open.len() as f64,
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count open incidents"),
    }
    match store.incident_count() {
        Ok(n) => counter(
            &mut registry,
            "keepup_incidents",
            "Incidents opened since the store was created",
            n,
        ),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count incidents"),
    }

    let health = monitor.health();
    counter(
        &mut registry,
        "keepup_check_runs",
        "Check runs since keepup started",
        health.runs,
    );
    counter(
        &mut registry,
        "keepup_results_dropped",
        "Results dropped because the store failed for too long",
        health.results_dropped,
    );
    if let Some((p50, p99, max)) = health.lag_ms {
        let lag = gauge_family(
            &mut registry,
            "keepup_scheduler_lag_seconds",
            "How late recent check runs started: median, 99th percentile and largest",
        );
        // Not `quantile`: that label belongs to summaries, and these are
        // the scheduler's own percentiles over its recent runs.
        for (stat, ms) in [("p50", p50), ("p99", p99), ("max", max)] {
            lag.get_or_create(&vec![("stat", stat.to_owned())])
                .set(ms / 1000.0);
        }
    }
    gauge(
        &mut registry,
        "keepup_store_healthy",
        "1 while results are written to the store, 0 while writing fails",
        f64::from(u8::from(health.store_error.is_none())),
    );
    match store.outbox_states() {
        Ok(states) => {
            let count = |wanted: &[OutboxState]| -> f64 {
                states
                    .iter()
                    .filter(|(s, _)| wanted.contains(s))
                    .map(|(_, n)| *n as f64)
                    .sum()
            };
            gauge(
                &mut registry,
                "keepup_outbox_depth",
                "Notifications waiting to be sent or being sent",
                count(&[OutboxState::Pending, OutboxState::Sending]),
            );
            gauge(
                &mut registry,
                "keepup_outbox_failed",
                "Notifications given up on, within the outbox's retention",
                count(&[OutboxState::Failed]),
            );
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot count notifications"),
    }
    // The database and its write-ahead log: what the store takes on disk.
    // The file the store has open (the configured path may have changed
    // on reload); an in-memory store has none and weighs 0 here.
    let db = store.path();
    let size: u64 = [db.to_owned(), format!("{db}-wal")]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    gauge(
        &mut registry,
        "keepup_store_size_bytes",
        "Size of the store's database file and its write-ahead log",
        size as f64,
    );
    registry
}

/// The days left of the earliest-expiring certificate in a check's
/// evidence: a TLS check's `addresses[].certificates[0]` (the leaf of each
/// address) or a mail check's `cert_days_left`.
fn certificate_days_left(evidence: &serde_json::Map<String, Value>) -> Option<f64> {
    let leaves = evidence
        .get("addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("certificates")?.get(0)?.get("days_left")?.as_f64());
    let mail = evidence.get("cert_days_left").and_then(Value::as_f64);
    leaves.chain(mail).reduce(f64::min)
}

/// The site part of a `site/check` id.
fn site_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(site, _)| site)
}
