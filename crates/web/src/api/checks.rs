//! Sites, checks with their current state, and a check's raw results.

use super::error::{ApiError, Params};
use super::paging::{self, List};
use super::{FindingView, StatusName, blocking, rfc3339};
use crate::auth::ApiRead;
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keepup_config::Config;
use keepup_model::{CheckId, Status};
use keepup_monitor::Monitor;
use keepup_monitor::incidents::OpenIncidents;
use keepup_monitor::recorder::CurrentState;
use serde::Serialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// A site and how its checks are doing.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteView {
    /// Its id (the first part of its checks' ids).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// How many of its checks are in each status.
    pub checks: StatusCounts,
}

/// Checks per status.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct StatusCounts {
    /// Up.
    pub up: usize,
    /// Degraded.
    pub degraded: usize,
    /// Down.
    pub down: usize,
    /// Unknown (including checks that have not run yet).
    pub unknown: usize,
}

/// The sites.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteList {
    /// Every configured site, by id.
    pub items: Vec<SiteView>,
}

/// A check and its current state.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    /// `site/check`; percent-encode the `/` as `%2F` in paths.
    pub id: String,
    /// Its site.
    pub site: String,
    /// Display name.
    pub name: String,
    /// Probe kind (`http`, `dns`, `tls`, ...).
    pub kind: String,
    /// Its tags and its site's.
    pub tags: Vec<String>,
    /// Seconds between runs.
    pub interval_s: u64,
    /// Current status (`unknown` until the first run).
    pub status: StatusName,
    /// Since when the status is what it is.
    pub since: Option<String>,
    /// When the last run started.
    pub last_run: Option<String>,
    /// Latency of the last run, in milliseconds.
    pub latency_ms: Option<f64>,
    /// The last run's message.
    pub message: Option<String>,
    /// The number of its open incident, if any.
    pub open_incident: Option<i64>,
}

/// A page of checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckPage {
    /// The checks, by id.
    pub items: Vec<CheckView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A check with what its last run found.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckDetail {
    /// The check and its current state.
    pub check: CheckView,
    /// The checks it depends on.
    pub depends_on: Vec<String>,
    /// The last run's findings.
    pub findings: Vec<FindingView>,
    /// The last run's evidence (named details, timing breakdown).
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// One run of a check.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultView {
    /// When it ran.
    pub at: String,
    /// How it ended.
    pub status: StatusName,
    /// Wall time of the probe, in milliseconds.
    pub latency_ms: f64,
    /// Its message.
    pub message: String,
    /// Its findings.
    pub findings: Vec<FindingView>,
    /// Its evidence (named details, timing breakdown).
    #[schema(value_type = Object)]
    pub evidence: serde_json::Value,
}

/// A page of results, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResultPage {
    /// The results.
    pub items: Vec<ResultView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters and paging of `GET /checks`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; `Params` reads them.
pub struct CheckQuery {
    /// Only this site's checks.
    site: Option<String>,
    /// Only checks with this tag (their own or their site's).
    tag: Option<String>,
    /// Only checks in this status.
    #[param(value_type = Option<StatusName>)]
    state: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Time range and paging of results (a check's, or a backup plan's runs).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; `Params` reads them.
pub(super) struct ResultQuery {
    /// Results at or after this RFC 3339 time (default: all kept).
    from: Option<String>,
    /// Results before this RFC 3339 time (default: now).
    to: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// Whether the configured check `id` exists.
pub(super) fn find_check(config: &Config, id: &str) -> Result<CheckId, ApiError> {
    config
        .checks()
        .find(|c| c.id.as_str() == id)
        .map(|c| c.id.clone())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no check {id:?} (ids are site/check, with the / sent as %2F)"
            ))
        })
}

fn view(
    config: &Config,
    check: &keepup_config::Check,
    current: Option<&CurrentState>,
    open: &OpenIncidents,
) -> CheckView {
    let site = check.id.as_str().split('/').next().unwrap_or("").to_owned();
    let mut tags = check.tags.clone();
    if let Some(s) = config.sites.iter().find(|s| s.id == site) {
        tags.extend(s.tags.iter().filter(|t| !check.tags.contains(t)).cloned());
    }
    CheckView {
        id: check.id.to_string(),
        site,
        name: check.name.clone(),
        kind: check.spec.kind().to_owned(),
        tags,
        interval_s: check.interval.as_secs(),
        status: StatusName::from(current.map_or(Status::Unknown, |c| c.outcome.status)),
        since: current.map(|c| rfc3339(c.since)),
        last_run: current.map(|c| rfc3339(c.at)),
        latency_ms: current.map(|c| c.outcome.latency_ms),
        message: current.map(|c| c.outcome.message.clone()),
        open_incident: open.get(&check.id).copied(),
    }
}

/// The sites and how many of their checks are in each status.
#[utoipa::path(get, path = "/api/v1/sites", tag = "checks",
    responses((status = 200, description = "Every site", body = SiteList)),
    security(("bearer" = [])))]
pub async fn sites(_: ApiRead, State(m): State<Arc<Monitor>>) -> Result<Json<SiteList>, ApiError> {
    let config = m.config();
    let current = m.current_shared();
    let items = config
        .sites
        .iter()
        .map(|site| {
            let mut counts = StatusCounts::default();
            for c in &site.checks {
                match current
                    .get(&c.id)
                    .map_or(Status::Unknown, |s| s.outcome.status)
                {
                    Status::Up => counts.up += 1,
                    Status::Degraded => counts.degraded += 1,
                    Status::Down => counts.down += 1,
                    Status::Unknown => counts.unknown += 1,
                }
            }
            SiteView {
                id: site.id.clone(),
                name: site.name.clone(),
                tags: site.tags.clone(),
                checks: counts,
            }
        })
        .collect();
    Ok(Json(SiteList { items }))
}

/// Checks with their current state, by id; filtered by site, tag and state.
#[utoipa::path(get, path = "/api/v1/checks", tag = "checks", params(CheckQuery),
    responses(
        (status = 200, description = "A page of checks", body = CheckPage),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn checks(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<CheckPage>, ApiError> {
    let mut q = Params::parse(raw.as_deref())?;
    let site = q.text("site");
    let tag = q.text("tag");
    let state = q.choice("state", StatusName::NAMES)?;
    let limit = q.limit(100, 1000)?;
    let after = match q.text("cursor") {
        Some(c) => Some(paging::decode(List::Checks, &c)?),
        None => None,
    };
    q.done()?;
    // Everything from the monitor's memory: no store read per request.
    let config = m.config();
    let current = m.current_shared();
    let open = m.open_incidents();
    let mut items = Vec::new();
    let mut more = false;
    for check in config.checks_by_id_after(after.as_deref()) {
        let v = view(
            &config,
            check,
            current.get(&check.id).map(Arc::as_ref),
            &open,
        );
        if site.as_ref().is_some_and(|s| *s != v.site)
            || tag.as_ref().is_some_and(|t| !v.tags.contains(t))
            || state.as_ref().is_some_and(|s| s != v.status.as_str())
        {
            continue;
        }
        if items.len() == limit {
            more = true;
            break;
        }
        items.push(v);
    }
    let next_cursor = match (more, items.last()) {
        (true, Some(last)) => Some(paging::encode(List::Checks, &last.id)),
        _ => None,
    };
    Ok(Json(CheckPage { items, next_cursor }))
}

/// One check with what its last run found.
#[utoipa::path(get, path = "/api/v1/checks/{id}", tag = "checks",
    params(("id" = String, Path, description = "The check id `site/check`, its `/` sent as `%2F` (`shop%2Fweb`)")),
    responses(
        (status = 200, description = "The check", body = CheckDetail),
        (status = 404, description = "No such check", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn check(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    Path(id): Path<String>,
) -> Result<Json<CheckDetail>, ApiError> {
    let config = m.config();
    let id = find_check(&config, &id)?;
    let Some(check) = config.checks().find(|c| c.id == id) else {
        return Err(ApiError::not_found(format!("no check {id}")));
    };
    let current = m.current_shared();
    let state = current.get(&id).map(Arc::as_ref);
    let open = m.open_incidents();
    Ok(Json(CheckDetail {
        check: view(&config, check, state, &open),
        depends_on: check.depends_on.iter().map(|d| d.to_string()).collect(),
        findings: state
            .map(|s| s.outcome.findings.iter().map(FindingView::from).collect())
            .unwrap_or_default(),
        evidence: state
            .and_then(|s| serde_json::to_value(&s.outcome.evidence).ok())
            .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
    }))
}

/// A check's raw results in a time range, newest first, a page at a time
/// (results are kept a week by default).
#[utoipa::path(get, path = "/api/v1/checks/{id}/results", tag = "checks",
    params(("id" = String, Path, description = "The check id, its `/` sent as `%2F`"), ResultQuery),
    responses(
        (status = 200, description = "A page of results", body = ResultPage),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody),
        (status = 404, description = "No such check", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn results(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<ResultPage>, ApiError> {
    let check = find_check(&m.config(), &id)?;
    result_page(&m, check, raw.as_deref()).await.map(Json)
}

/// A page of `check`'s results as the query asks (shared with a backup
/// plan's runs, which are its run check's results).
pub(super) async fn result_page(
    m: &Monitor,
    check: CheckId,
    raw: Option<&str>,
) -> Result<ResultPage, ApiError> {
    let mut q = Params::parse(raw)?;
    let from = q.time("from")?.unwrap_or(i64::MIN);
    let to = q.time("to")?.unwrap_or(i64::MAX);
    let limit = q.limit(100, 1000)?;
    let before = match q.text("cursor") {
        Some(c) => Some(paging::decode_number(List::Results, &c)?),
        None => None,
    };
    q.done()?;
    if from >= to {
        return Err(ApiError::bad("to", "must be after from"));
    }
    let to = before.map_or(to, |b| b.min(to));
    // One more than the page tells whether another page follows.
    let rows = blocking(m, "reading results", move |s| {
        s.results(&check, from, to, limit + 1)
    })
    .await?;
    let (rows, next_cursor) = paging::page(rows, limit, List::Results, |r| r.at.to_string());
    let items = rows
        .into_iter()
        .map(|r| ResultView {
            at: rfc3339(r.at),
            status: r.outcome.status.into(),
            latency_ms: r.outcome.latency_ms,
            message: r.outcome.message,
            findings: r.outcome.findings.iter().map(FindingView::from).collect(),
            evidence: serde_json::to_value(&r.outcome.evidence)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
        })
        .collect();
    Ok(ResultPage { items, next_cursor })
}
