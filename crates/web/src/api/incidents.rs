//! Incidents: list, one, acknowledge, resolve with a note.

use super::error::{ApiError, Body, Params};
use super::paging::{self, List};
use super::{FindingView, StatusName, blocking, rfc3339};
use crate::auth::{ApiRead, ApiWrite};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use keepup_model::{CheckId, Clock, SystemClock};
use keepup_monitor::Monitor;
use keepup_store::{HandResolution, Incident, IncidentFilter, IncidentState, MAX_RESOLUTION_NOTE};
use serde::Serialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Longest `search` text accepted, in characters.
const MAX_SEARCH: usize = 200;

/// An incident: one outage of one check.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    /// Its number.
    pub id: i64,
    /// The failing check (`site/check`).
    pub check: String,
    /// The confirmed status that opened it.
    pub status: StatusName,
    /// `open` or `resolved`.
    pub state: String,
    /// The first failed run: outages are timed from here.
    pub opened_at: String,
    /// When the failure was confirmed.
    pub detected_at: String,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<String>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When the check recovered or someone resolved it.
    pub resolved_at: Option<String>,
    /// Who resolved it by hand (absent when the check recovered).
    pub resolved_by: Option<String>,
    /// The note of whoever resolved it by hand.
    pub resolve_note: Option<String>,
    /// Outage duration so far, or in all once resolved, in seconds.
    pub duration_s: i64,
    /// The incident of a check this one depends on that caused it.
    pub cause: Option<i64>,
    /// Not notified (caused by another incident, or flapping).
    pub suppressed: bool,
    /// Opened during a maintenance window.
    pub maintenance: bool,
    /// The first failing run's message.
    pub message: String,
    /// The first failing run's findings.
    pub findings: Vec<FindingView>,
}

impl IncidentView {
    fn of(i: &Incident, by_hand: Option<HandResolution>, now: i64) -> Self {
        let (resolved_by, resolve_note) = by_hand.map(|h| (h.by, h.note)).unzip();
        Self {
            id: i.id,
            check: i.check.to_string(),
            status: i.status.into(),
            state: if i.resolved_at.is_some() {
                "resolved"
            } else {
                "open"
            }
            .to_owned(),
            opened_at: rfc3339(i.opened_at),
            detected_at: rfc3339(i.detected_at),
            acknowledged_at: i.acknowledged_at.map(rfc3339),
            acknowledged_by: i.acknowledged_by.clone(),
            resolved_at: i.resolved_at.map(rfc3339),
            resolved_by,
            resolve_note,
            duration_s: i.duration_ms(now) / 1000,
            cause: i.cause,
            suppressed: i.suppressed,
            maintenance: i.maintenance,
            message: i.message.clone(),
            findings: i.findings.iter().map(FindingView::from).collect(),
        }
    }
}

/// A page of incidents, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentPage {
    /// The incidents.
    pub items: Vec<IncidentView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// What resolving an incident by hand takes.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documents the body; `Body` reads it.
pub struct ResolveRequest {
    /// Why it is over (1 to 2,000 characters), kept on the incident.
    note: String,
}

/// Filters and paging of `GET /incidents`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; `Params` reads them.
pub struct IncidentQuery {
    /// Only incidents of this site's checks.
    site: Option<String>,
    /// Only incidents of this check (`site/check`).
    check: Option<String>,
    /// `open` or `resolved`.
    state: Option<String>,
    /// Only incidents whose resolution note or message contains this text
    /// (case-insensitive for ASCII letters; `%` and `_` are literal).
    search: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

fn now() -> i64 {
    SystemClock.now_ms()
}

/// Incident `id` as the API shows it.
async fn read(m: &Monitor, id: i64) -> Result<(Incident, IncidentView), ApiError> {
    let read = blocking(m, "reading an incident", move |s| {
        let Some(incident) = s.incident(id)? else {
            return Ok(None);
        };
        let by_hand = s.incident_resolution(id)?;
        Ok(Some((incident, by_hand)))
    })
    .await?;
    let (incident, by_hand) =
        read.ok_or_else(|| ApiError::not_found(format!("no incident #{id}")))?;
    let view = IncidentView::of(&incident, by_hand, now());
    Ok((incident, view))
}

/// Incidents, newest first; filtered by site, check and state.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses(
        (status = 200, description = "A page of incidents", body = IncidentPage),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<IncidentPage>, ApiError> {
    let mut q = Params::parse(raw.as_deref())?;
    let filter = IncidentFilter {
        site: q.text("site"),
        check: q.text("check").map(CheckId),
        state: match q.choice("state", &["open", "resolved"])?.as_deref() {
            Some("open") => IncidentState::Open,
            Some(_) => IncidentState::Resolved,
            None => IncidentState::Any,
        },
        search: match q.text("search") {
            Some(t) if t.chars().count() > MAX_SEARCH => {
                return Err(ApiError::bad(
                    "search",
                    format!("at most {MAX_SEARCH} characters"),
                ));
            }
            t => t.filter(|t| !t.trim().is_empty()),
        },
    };
    let limit = q.limit(50, 500)?;
    let after = match q.text("cursor") {
        Some(c) => Some(paging::decode_pair(List::Incidents, &c)?),
        None => None,
    };
    q.done()?;
    let rows = blocking(&m, "listing incidents", move |s| {
        s.incidents_before(&filter, after, limit + 1)
    })
    .await?;
    let (rows, next_cursor) = paging::page(rows, limit, List::Incidents, |(last, _)| {
        format!("{}:{}", last.opened_at, last.id)
    });
    let now = now();
    Ok(Json(IncidentPage {
        items: rows
            .into_iter()
            .map(|(i, by_hand)| IncidentView::of(&i, by_hand, now))
            .collect(),
        next_cursor,
    }))
}

/// One incident.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = i64, Path, description = "The incident number")),
    responses(
        (status = 200, description = "The incident", body = IncidentView),
        (status = 404, description = "No such incident", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn one(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    Path(id): Path<i64>,
) -> Result<Json<IncidentView>, ApiError> {
    Ok(Json(read(&m, id).await?.1))
}

/// Acknowledges an open incident in the token's name (as `keepup ack`
/// does): escalation and reminders stop.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents",
    params(("id" = i64, Path, description = "The incident number")),
    responses(
        (status = 200, description = "Acknowledged", body = IncidentView),
        (status = 404, description = "No such incident", body = super::error::ErrorBody),
        (status = 409, description = "Resolved or acknowledged already", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn acknowledge(
    ApiWrite(client): ApiWrite,
    State(m): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<IncidentView>, ApiError> {
    Body::parse(&super::body_bytes(body)?)?.done()?;
    let who = client.actor();
    let done = m
        .acknowledge_incident(id, &who)
        .await
        .map_err(|e| ApiError::unavailable("acknowledging an incident", &e))?;
    let (incident, view) = read(&m, id).await?;
    if !done {
        return Err(if incident.resolved_at.is_some() {
            ApiError::conflict(format!("incident #{id} is resolved"))
        } else {
            ApiError::conflict(format!(
                "incident #{id} was acknowledged already by {}",
                incident.acknowledged_by.as_deref().unwrap_or("someone")
            ))
        });
    }
    super::audit(
        &m,
        &client,
        "incident.acknowledge",
        &format!("incident #{id}"),
        "",
    )
    .await;
    Ok(Json(view))
}

/// Resolves an open incident by hand with a note, in the token's name:
/// escalation stops and whoever was told hears it is over. A check still
/// failing opens a new incident only after it has recovered.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents",
    params(("id" = i64, Path, description = "The incident number")),
    request_body = ResolveRequest,
    responses(
        (status = 200, description = "Resolved", body = IncidentView),
        (status = 400, description = "The body is invalid", body = super::error::ErrorBody),
        (status = 404, description = "No such incident", body = super::error::ErrorBody),
        (status = 409, description = "Resolved already", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn resolve(
    ApiWrite(client): ApiWrite,
    State(m): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<IncidentView>, ApiError> {
    let mut body = Body::parse(&super::body_bytes(body)?)?;
    let note = body.required_text("note", MAX_RESOLUTION_NOTE)?;
    let note =
        keepup_store::resolution_note(&note).map_err(|e| ApiError::bad("note", e.to_string()))?;
    body.done()?;
    let who = client.actor();
    let resolved = m
        .resolve_incident(id, &who, &note)
        .await
        .map_err(|e| ApiError::unavailable("resolving an incident", &e))?;
    let (_, view) = read(&m, id).await?;
    if !resolved {
        return Err(ApiError::conflict(format!(
            "incident #{id} is resolved already"
        )));
    }
    super::audit(
        &m,
        &client,
        "incident.resolve",
        &format!("incident #{id}"),
        &note,
    )
    .await;
    Ok(Json(view))
}
