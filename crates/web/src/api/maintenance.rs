//! Maintenance windows: the configured ones and those started by hand;
//! start one, end one (the paths of `keepup maintenance start|stop`).

use super::error::{ApiError, Body};
use super::{blocking, rfc3339};
use crate::auth::{ApiRead, ApiWrite};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use keepup_model::{Clock, MaintenanceScope, SystemClock};
use keepup_monitor::Monitor;
use keepup_store::AdhocMaintenance;
use serde::Serialize;
use std::sync::Arc;
use utoipa::ToSchema;

/// Longest reason accepted, in characters.
pub const MAX_REASON: usize = 500;
/// Longest window accepted: a year.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 86_400);

/// A window started by hand (API, dashboard or `keepup maintenance start`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowView {
    /// Its number.
    pub id: i64,
    /// What it covers: a check (`site/check`), a site, `tag:NAME` (every
    /// check carrying the tag, itself or through its site), or `*`
    /// (everything).
    pub target: String,
    /// The same in words: "shop/web", "site shop", "checks tagged db",
    /// "everything".
    pub covers: String,
    /// Start.
    pub starts_at: String,
    /// End (exclusive); ending it early moves it.
    pub ends_at: String,
    /// Why.
    pub reason: String,
    /// Who started it.
    pub created_by: String,
    /// Whether it is open now.
    pub active: bool,
}

impl WindowView {
    fn of(w: &AdhocMaintenance, now: i64) -> Self {
        Self {
            id: w.id,
            target: w.target.clone(),
            covers: w.scope().describe(),
            starts_at: rfc3339(w.starts_at),
            ends_at: rfc3339(w.ends_at),
            reason: w.reason.clone(),
            created_by: w.created_by.clone(),
            active: w.open_at(now),
        }
    }
}

/// A window from the configuration (`[[maintenance]]`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfiguredWindowView {
    /// Its id in the configuration.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The checks it covers.
    pub checks: Vec<String>,
    /// Whether it is open now.
    pub active: bool,
    /// Start of the current occurrence, or of the next within a year.
    pub starts_at: Option<String>,
    /// End of that occurrence.
    pub ends_at: Option<String>,
}

/// Maintenance windows open now or to come.
#[derive(Debug, Serialize, ToSchema)]
pub struct MaintenanceList {
    /// Windows started by hand that have not ended, by start.
    pub items: Vec<WindowView>,
    /// The configured windows.
    pub configured: Vec<ConfiguredWindowView>,
}

/// What starting a window takes: `target` or `tag`, not both.
#[derive(Debug, ToSchema)]
#[allow(dead_code)] // Documents the body; `Body` reads it.
pub struct MaintenanceRequest {
    /// A check (`site/check`), a site id, `tag:NAME`, or `*` for everything.
    target: Option<String>,
    /// A tag: the window covers every check carrying it, itself or through
    /// its site (the same as `target` `tag:NAME`).
    tag: Option<String>,
    /// How long from now: `90m`, `2h`, `1h 30m` (at most a year).
    duration: String,
    /// Why (up to 500 characters).
    reason: Option<String>,
}

/// Windows open now or to come: those started by hand and the configured.
#[utoipa::path(get, path = "/api/v1/maintenance", tag = "maintenance",
    responses((status = 200, description = "The windows", body = MaintenanceList)),
    security(("bearer" = [])))]
pub async fn list(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
) -> Result<Json<MaintenanceList>, ApiError> {
    let now = SystemClock.now_ms();
    let adhoc = blocking(&m, "listing maintenance", move |s| s.maintenance_after(now)).await?;
    let config = m.config();
    let configured = config
        .maintenance
        .iter()
        .map(|w| {
            let open = w.open_at(now);
            let window = open.or_else(|| {
                w.occurrences(now, now + 366 * 86_400_000, 1)
                    .into_iter()
                    .next()
            });
            ConfiguredWindowView {
                id: w.id.clone(),
                name: w.name.clone(),
                checks: w.checks.iter().map(|c| c.to_string()).collect(),
                active: open.is_some(),
                starts_at: window.map(|w| rfc3339(w.0)),
                ends_at: window.map(|w| rfc3339(w.1)),
            }
        })
        .collect();
    Ok(Json(MaintenanceList {
        items: adhoc.iter().map(|w| WindowView::of(w, now)).collect(),
        configured,
    }))
}

/// Starts a window now, as `keepup maintenance start` does: alerts on what
/// it covers are muted (checks keep running) until it ends.
#[utoipa::path(post, path = "/api/v1/maintenance", tag = "maintenance",
    request_body = MaintenanceRequest,
    responses(
        (status = 201, description = "Started", body = WindowView),
        (status = 400, description = "The body is invalid", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn start(
    ApiWrite(client): ApiWrite,
    State(m): State<Arc<Monitor>>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<WindowView>), ApiError> {
    let mut body = Body::parse(&super::body_bytes(body)?)?;
    let target = body.text("target", 256)?;
    let tag = body.text("tag", 256)?;
    let duration = body.required_text("duration", 64)?;
    let reason = body.text("reason", MAX_REASON)?.unwrap_or_default();
    body.done()?;
    let config = m.config();
    let (field, target) = match (target, tag) {
        (Some(target), None) => ("target", target),
        (None, Some(tag)) => ("tag", MaintenanceScope::Tag(tag).to_string()),
        (Some(_), Some(_)) => return Err(ApiError::bad("tag", "give target or tag, not both")),
        (None, None) => {
            return Err(ApiError::bad(
                "target",
                "is required (or give tag): a check (site/check), a site, or *",
            ));
        }
    };
    if !config.is_maintenance_target(&target) {
        return Err(ApiError::bad(
            field,
            if field == "tag" {
                "no check or site carries this tag"
            } else {
                "neither a check (site/check), a site, tag:NAME of a tag in use, nor *"
            },
        ));
    }
    let duration = humantime::parse_duration(&duration)
        .ok()
        .filter(|d| !d.is_zero() && *d <= MAX_DURATION)
        .ok_or_else(|| {
            ApiError::bad(
                "duration",
                "must be a duration such as 90m or 2h, longer than zero and at most a year",
            )
        })?;
    let who = client.actor();
    let now = SystemClock.now_ms();
    let end = now + duration.as_millis() as i64;
    let (t, r, by) = (target.clone(), reason.clone(), who.clone());
    let id = blocking(&m, "starting maintenance", move |s| {
        s.start_maintenance(&t, now, end, &r, &by)
    })
    .await?;
    super::audit(
        &m,
        &client,
        "maintenance.start",
        &format!("maintenance #{id} on {target}"),
        &reason,
    )
    .await;
    let window = AdhocMaintenance {
        id,
        target,
        starts_at: now,
        ends_at: end,
        reason,
        created_by: who,
    };
    Ok((StatusCode::CREATED, Json(WindowView::of(&window, now))))
}

/// Ends a window now (or cancels one to come), as `keepup maintenance stop`.
#[utoipa::path(post, path = "/api/v1/maintenance/{id}/end", tag = "maintenance",
    params(("id" = i64, Path, description = "The window's number")),
    responses(
        (status = 200, description = "Ended", body = WindowView),
        (status = 404, description = "No open or upcoming window with this number", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn end(
    ApiWrite(client): ApiWrite,
    State(m): State<Arc<Monitor>>,
    Path(id): Path<i64>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<WindowView>, ApiError> {
    Body::parse(&super::body_bytes(body)?)?.done()?;
    let now = SystemClock.now_ms();
    let ended = blocking(&m, "ending maintenance", move |s| {
        if !s.stop_maintenance(id, now)? {
            return Ok(None);
        }
        s.maintenance_window(id)
    })
    .await?;
    let Some(window) = ended else {
        return Err(ApiError::not_found(format!(
            "no open or upcoming maintenance #{id}"
        )));
    };
    super::audit(
        &m,
        &client,
        "maintenance.end",
        &format!("maintenance #{id}"),
        "",
    )
    .await;
    Ok(Json(WindowView::of(&window, now)))
}
