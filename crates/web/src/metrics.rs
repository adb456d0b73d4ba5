//! Prometheus metrics at `/metrics`: every check's state and latency, the
//! certificate and domain expiry the checks saw, incident counts, each
//! backup target's newest snapshot (time and size), each recovery plan's
//! last drill (time, success, RTO, RPO), and keepup's own health
//! (scheduler lag, runs, dropped results, outbox, store size).
//!
//! Collected on each scrape from what the monitor holds in memory (current
//! states with their evidence, scheduler statistics) and three aggregate
//! store queries (open incidents, the incident count, notifications per
//! state), into a fresh registry that is encoded and dropped: no second
//! bookkeeping beside the monitor's, and a scrape costs a pass over the
//! checks, however many, never a query per check or a repository read.
//! The checks' series are written straight into the answer as it is
//! encoded, so a scrape's memory is its text, not a copy of every series,
//! and the text is served again for a second ([`SCRAPE_REUSE_MS`]) to
//! scrapes in the same format (access is checked for each).
//!
//! The ids, backup plans and expiry dates are not for the Internet: a
//! scrape is answered only to a client (the peer the listener accepted, or
//! the client a trusted proxy names) on loopback or in `[server]
//! metrics_allow`, else 403. With `[server] metrics_token_file`, it must
//! also carry `Authorization: Bearer <token>` (compared in constant time),
//! else 401, and then any client may scrape unless `metrics_allow` is
//! given. A status page's own domain never answers `/metrics` (404, see
//! `status::by_host`). The Prometheus text format (0.0.4) is the default;
//! OpenMetrics when the scraper's `Accept` asks for it.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keepup_config::{BackupJob, Check, Config, ServerConfig, backup_check_id};
use keepup_model::{Clock, Status, SystemClock, Timestamp, parse_rfc3339};
use keepup_monitor::Monitor;
use keepup_monitor::backup::freshness_targets;
use keepup_monitor::drill::drill_evidence;
use keepup_monitor::recorder::{CurrentState, CurrentStates};
use keepup_store::OutboxState;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, prometheus_text, text};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::admission::ClientAddr;

/// The OpenMetrics text format's content type.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Labels of a metric: few values each (check id, site, kind; plan and
/// target), never free text.
type Labels = Vec<(&'static str, String)>;
type GaugeFamily = Family<Labels, Gauge<f64, AtomicU64>>;

/// The `/metrics` route, on the listener's router.
pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

async fn scrape(
    State(monitor): State<Arc<Monitor>>,
    State(cache): State<Arc<ScrapeCache>>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    match access(&monitor.config().server, client, &headers) {
        Access::Granted => {}
        Access::NotFromHere => {
            tracing::debug!(client = ?client, "metrics scrape refused: not from an allowed network");
            return (StatusCode::FORBIDDEN, "forbidden\n").into_response();
        }
        Access::NoToken => {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "unauthorized\n",
            )
                .into_response();
        }
    }
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("application/openmetrics-text"));
    let now = SystemClock.now_ms();
    let body = cache
        .get_or_encode(now, openmetrics, || async move {
            // The store queries and the encoding of every check block:
            // off the async workers.
            crate::offload::spawn_blocking(move || encode(&collect(&monitor), openmetrics))
                .await
                .map_err(|e| format!("collecting metrics failed: {e}"))?
        })
        .await;
    match body {
        Ok(body) => {
            let content_type = if openmetrics {
                OPENMETRICS
            } else {
                prometheus_text::CONTENT_TYPE
            };
            (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "metrics scrape failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "metrics unavailable\n").into_response()
        }
    }
}

/// The registry as text, in the OpenMetrics format or Prometheus' 0.0.4.
fn encode(registry: &Registry, openmetrics: bool) -> Result<Bytes, String> {
    let mut body = String::new();
    let encoded = if openmetrics {
        text::encode(&mut body, registry)
    } else {
        prometheus_text::encode(&mut body, registry)
    };
    encoded.map_err(|_| "encoding metrics failed".to_owned())?;
    Ok(Bytes::from(body))
}

/// How long a scrape's text is served again, in ms: scrapes that arrive
/// together (a burst, the two Prometheus servers of a pair) cost one
/// collection, and the figures are at most this old.
pub const SCRAPE_REUSE_MS: i64 = 1_000;

/// The last scrape's text in each format, with when it was collected.
#[derive(Default)]
pub struct ScrapeCache {
    /// Prometheus text, then OpenMetrics. Held while a scrape collects,
    /// so those arriving meanwhile wait for its text.
    kept: tokio::sync::Mutex<[Option<(Timestamp, Bytes)>; 2]>,
}

impl ScrapeCache {
    /// The text kept for `openmetrics` if collected less than
    /// [`SCRAPE_REUSE_MS`] before `now`, else what `collect` gives (kept
    /// if it succeeded).
    pub async fn get_or_encode<F>(
        &self,
        now: Timestamp,
        openmetrics: bool,
        collect: impl FnOnce() -> F,
    ) -> Result<Bytes, String>
    where
        F: std::future::Future<Output = Result<Bytes, String>>,
    {
        let mut kept = self.kept.lock().await;
        let slot = &mut kept[usize::from(openmetrics)];
        if let Some((at, body)) = slot.as_ref()
            && (*at..at.saturating_add(SCRAPE_REUSE_MS)).contains(&now)
        {
            return Ok(body.clone());
        }
        let body = collect().await?;
        *slot = Some((now, body.clone()));
        Ok(body)
    }
}

/// Whether a scrape is answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// Yes.
    Granted,
    /// The client is neither on loopback nor in `metrics_allow` (403).
    NotFromHere,
    /// A token is configured and the request lacks it (401).
    NoToken,
}

/// Whether `client` (the listener's [`ClientAddr`]; `None` when the router
/// runs without the listener, which is refused) may read the metrics.
pub(crate) fn access(server: &ServerConfig, client: Option<IpAddr>, headers: &HeaderMap) -> Access {
    let Some(client) = client.map(|ip| ip.to_canonical()) else {
        return Access::NotFromHere;
    };
    let listed = server.metrics_allow.iter().any(|n| n.contains(client));
    let from_here = client.is_loopback()
        || listed
        // A token holder may scrape from anywhere unless a list is given.
        || (server.metrics_token.is_some() && server.metrics_allow.is_empty());
    if !from_here {
        return Access::NotFromHere;
    }
    let Some(token) = &server.metrics_token else {
        return Access::Granted;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match given {
        Some(given) if bool::from(given.ct_eq(token.expose().as_bytes())) => Access::Granted,
        _ => Access::NoToken,
    }
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

/// Everything, read now: the checks' series are written check by check
/// while the registry is encoded ([`CheckSeries`]), the rest are a few
/// single values.
fn collect(monitor: &Monitor) -> Registry {
    let mut registry = Registry::default();
    let config = monitor.config();
    let current = monitor.current_shared();
    registry.register_collector(Box::new(CheckSeries {
        config: config.clone(),
        current: current.clone(),
    }));
    backups(&mut registry, &config, &current);
    drills(&mut registry, &config, &current);

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
            // Summed as integers: an empty f64 sum is -0, which reads oddly.
            let count = |wanted: &[OutboxState]| -> f64 {
                states
                    .iter()
                    .filter(|(s, _)| wanted.contains(s))
                    .map(|(_, n)| *n)
                    .sum::<u64>() as f64
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

/// Every check's state, latency and expiry dates, from the monitor's
/// current states, encoded family by family and within a family check by
/// check: a scrape holds the encoded text and one check's labels at a
/// time, never a series per check in memory (a registry of families
/// would hold them all, and every concurrent scrape its own copy).
struct CheckSeries {
    config: Arc<Config>,
    current: Arc<CurrentStates>,
}

impl std::fmt::Debug for CheckSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSeries")
            .field("checks", &self.current.len())
            .finish()
    }
}

/// The labels every check series carries: check id, site and kind.
type CheckLabels<'a> = [(&'static str, &'a str); 3];

impl CheckSeries {
    /// One gauge family with a sample for each check `value` gives one.
    fn family(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        value: impl Fn(&Check, &CurrentState) -> Option<f64>,
    ) -> std::fmt::Result {
        let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for check in self.config.checks() {
            let Some(state) = self.current.get(&check.id) else {
                continue;
            };
            if let Some(v) = value(check, state) {
                family
                    .encode_family(&check_labels(check))?
                    .encode_gauge(&v)?;
            }
        }
        Ok(())
    }
}

fn check_labels(check: &Check) -> CheckLabels<'_> {
    [
        ("check", check.id.as_str()),
        ("site", site_of(check.id.as_str())),
        ("kind", check.spec.kind()),
    ]
}

impl Collector for CheckSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        self.family(
            &mut encoder,
            "keepup_check_up",
            "1 when the check's last run was Up or Degraded, 0 when Down; absent while Unknown",
            |_, state| match state.outcome.status {
                Status::Up | Status::Degraded => Some(1.0),
                Status::Down => Some(0.0),
                Status::Unknown => None,
            },
        )?;
        {
            // Every configured check, run or not (not run yet: Unknown).
            let mut family = encoder.encode_descriptor(
                "keepup_check_status",
                "The check's current status: 1 for the status it is in, 0 for the others",
                None,
                MetricType::Gauge,
            )?;
            for check in self.config.checks() {
                let now = self
                    .current
                    .get(&check.id)
                    .map_or(Status::Unknown, |s| s.outcome.status);
                let [c, site, kind] = check_labels(check);
                for s in [Status::Up, Status::Degraded, Status::Down, Status::Unknown] {
                    family
                        .encode_family(&[c, site, kind, ("status", s.as_str())])?
                        .encode_gauge(&f64::from(u8::from(s == now)))?;
                }
            }
        }
        {
            // Each forecast measure's seconds left, as its check's last
            // result fitted them.
            let mut family = encoder.encode_descriptor(
                "keepup_forecast_seconds_left",
                "Seconds until a forecast measure reaches its capacity or limit at its fitted growth; absent while it is flat, falling or has too few samples",
                None,
                MetricType::Gauge,
            )?;
            for check in self.config.checks().filter(|c| !c.forecasts.is_empty()) {
                let Some(entries) = self
                    .current
                    .get(&check.id)
                    .and_then(|s| {
                        s.outcome
                            .evidence
                            .details
                            .get(keepup_monitor::forecast::EVIDENCE_KEY)
                    })
                    .and_then(Value::as_array)
                else {
                    continue;
                };
                let [c, site, kind] = check_labels(check);
                for e in entries {
                    let (Some(measure), Some(left)) =
                        (e["measure"].as_str(), e["seconds_left"].as_f64())
                    else {
                        continue;
                    };
                    family
                        .encode_family(&[c, site, kind, ("measure", measure)])?
                        .encode_gauge(&left)?;
                }
            }
        }
        self.family(
            &mut encoder,
            "keepup_check_latency_seconds",
            "How long the check's last run took",
            |_, state| Some(state.outcome.latency_ms / 1000.0),
        )?;
        self.family(
            &mut encoder,
            "keepup_certificate_expiry_timestamp_seconds",
            "When the earliest-expiring leaf certificate the check saw expires",
            |_, state| certificate_expiry(&state.outcome.evidence.details).map(seconds),
        )?;
        self.family(
            &mut encoder,
            "keepup_domain_expiry_timestamp_seconds",
            "When the domain's registration expires",
            |check, state| {
                if check.spec.kind() != "domain" {
                    return None;
                }
                state
                    .outcome
                    .evidence
                    .details
                    .get("expires")
                    .and_then(Value::as_str)
                    .and_then(parse_rfc3339)
                    .map(seconds)
            },
        )
    }
}

/// Each backup target's newest snapshot, as the plan's freshness check
/// last read it from the repository (its evidence `targets`): keepup
/// records a snapshot only when every source succeeded, so the newest is
/// the last successful backup. Targets without a snapshot, and plans whose
/// freshness check has not run yet, have no samples.
fn backups(registry: &mut Registry, config: &Config, current: &CurrentStates) {
    let last_success = gauge_family(
        registry,
        "keepup_backup_last_success_timestamp_seconds",
        "When the newest snapshot on the backup target was taken",
    );
    let size = gauge_family(
        registry,
        "keepup_backup_last_snapshot_size_bytes",
        "Bytes of source data in the newest snapshot on the backup target (before deduplication and compression)",
    );
    let max_age = gauge_family(
        registry,
        "keepup_backup_max_age_seconds",
        "The age above which the target's newest snapshot is stale (the plan's RPO, times the targets of an alternating plan)",
    );
    let fresh_target = gauge_family(
        registry,
        "keepup_backup_fresh",
        "1 when the backup target's newest snapshot is younger than its maximum age, 0 when it is older, missing or the repository cannot be read",
    );
    for plan in &config.backups {
        let fresh = backup_check_id(plan, BackupJob::Freshness);
        let Some(state) = current.get(&fresh) else {
            continue;
        };
        for t in freshness_targets(&state.outcome) {
            // Only targets the plan still has: the evidence may predate a reload.
            if !plan.targets.iter().any(|pt| pt.id == t.target) {
                continue;
            }
            let labels: Labels = vec![("plan", plan.id.clone()), ("target", t.target)];
            let fresh = t.status == Status::Up;
            fresh_target
                .get_or_create(&labels)
                .set(f64::from(u8::from(fresh)));
            max_age.get_or_create(&labels).set(t.limit_seconds as f64);
            if let Some(at) = t.snapshot_time_ms {
                last_success.get_or_create(&labels).set(seconds(at));
            }
            if let Some(bytes) = t.snapshot_bytes {
                size.get_or_create(&labels).set(bytes as f64);
            }
        }
    }
}

/// Each recovery plan's last finished drill and last successful one, as
/// its `dr-<plan>` check last read them from the journal (its evidence
/// `drill`). Plans never drilled have no samples but the targets.
fn drills(registry: &mut Registry, config: &Config, current: &CurrentStates) {
    let last_at = gauge_family(
        registry,
        "keepup_dr_last_drill_timestamp_seconds",
        "When the plan's last finished drill ended (or started, for a failed one without an end)",
    );
    let success = gauge_family(
        registry,
        "keepup_dr_last_drill_success",
        "1 when the plan's last finished drill completed, 0 when it failed or was aborted",
    );
    let last_success_at = gauge_family(
        registry,
        "keepup_dr_last_successful_drill_timestamp_seconds",
        "When the plan's last successful drill ended",
    );
    let rto = gauge_family(
        registry,
        "keepup_dr_last_successful_drill_rto_seconds",
        "The recovery time the plan's last successful drill measured",
    );
    let rpo = gauge_family(
        registry,
        "keepup_dr_last_successful_drill_rpo_seconds",
        "The recovery point (age of the restored data) the plan's last successful drill measured",
    );
    let rto_target = gauge_family(
        registry,
        "keepup_dr_rto_target_seconds",
        "The plan's recovery time objective",
    );
    let rpo_target = gauge_family(
        registry,
        "keepup_dr_rpo_target_seconds",
        "The plan's recovery point objective",
    );
    for plan in &config.recovery {
        let labels: Labels = vec![("plan", plan.id.clone()), ("site", plan.site.clone())];
        rto_target
            .get_or_create(&labels)
            .set(plan.rto.as_secs_f64());
        rpo_target
            .get_or_create(&labels)
            .set(plan.rpo.as_secs_f64());
        let check = keepup_config::drill_check_id(plan);
        let Some(evidence) = current.get(&check).and_then(|s| drill_evidence(&s.outcome)) else {
            continue;
        };
        if let Some(last) = &evidence.last {
            last_at.get_or_create(&labels).set(seconds(last.at_ms()));
            success
                .get_or_create(&labels)
                .set(f64::from(u8::from(last.succeeded())));
        }
        if let Some(ok) = &evidence.last_success {
            last_success_at
                .get_or_create(&labels)
                .set(seconds(ok.at_ms()));
            if let Some(s) = ok.rto_seconds {
                rto.get_or_create(&labels).set(s);
            }
            if let Some(s) = ok.rpo_seconds {
                rpo.get_or_create(&labels).set(s);
            }
        }
    }
}

/// When the earliest-expiring leaf certificate in a check's evidence
/// expires: the first of `certificates` (HTTPS and mail checks) or of each
/// address's `certificates` (TLS checks), by its `not_after`.
fn certificate_expiry(evidence: &serde_json::Map<String, Value>) -> Option<Timestamp> {
    let per_address = evidence
        .get("addresses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.get("certificates"));
    evidence
        .get("certificates")
        .into_iter()
        .chain(per_address)
        .filter_map(|certs| certs.get(0)?.get("not_after")?.as_str())
        .filter_map(parse_rfc3339)
        .min()
}

/// Milliseconds since the epoch as Prometheus' seconds.
fn seconds(ms: Timestamp) -> f64 {
    ms as f64 / 1000.0
}

/// The site part of a `site/check` id.
fn site_of(id: &str) -> &str {
    id.split_once('/').map_or(id, |(site, _)| site)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn a_scrape_text_is_reused_for_a_second_per_format_and_then_collected_again() {
        let cache = ScrapeCache::default();
        let collected = AtomicUsize::new(0);
        let scrape = |now: Timestamp, openmetrics: bool| {
            let collected = &collected;
            let cache = &cache;
            async move {
                cache
                    .get_or_encode(now, openmetrics, || async move {
                        let n = collected.fetch_add(1, Ordering::SeqCst);
                        Ok(Bytes::from(format!("collection {n}")))
                    })
                    .await
                    .unwrap()
            }
        };
        let t0 = 1_735_689_600_000;
        assert_eq!(scrape(t0, false).await, "collection 0");
        assert_eq!(scrape(t0 + 999, false).await, "collection 0");
        assert_eq!(
            scrape(t0 + 10, true).await,
            "collection 1",
            "each format its own"
        );
        assert_eq!(scrape(t0 + SCRAPE_REUSE_MS, false).await, "collection 2");
        // A clock set back does not serve text from its future.
        assert_eq!(scrape(t0, false).await, "collection 3");
        // A failed collection is not kept.
        let failed = cache
            .get_or_encode(t0 + 5_000, false, || async { Err("store gone".to_owned()) })
            .await;
        assert_eq!(failed, Err("store gone".to_owned()));
        assert_eq!(scrape(t0 + 5_000, false).await, "collection 4");
    }
}
