//! The notification outbox: what was sent to whom, and how it went.

use super::error::{ApiError, Params};
use super::paging::{self, List};
use super::{blocking, rfc3339};
use crate::auth::ApiRead;
use axum::Json;
use axum::extract::{RawQuery, State};
use keepup_monitor::Monitor;
use keepup_store::{OutboxQuery, OutboxState};
use serde::Serialize;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// One notification.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Its number.
    pub id: i64,
    /// When it was queued.
    pub created_at: String,
    /// The channel id from the configuration.
    pub channel: String,
    /// The incident it is about.
    pub incident: Option<i64>,
    /// What it announces (`trigger`, `reminder`, `acknowledge`,
    /// `resolve`, ...), when its payload says.
    pub event: Option<String>,
    /// `pending`, `sending`, `sent` or `failed`.
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the channel confirmed it.
    pub sent_at: Option<String>,
    /// The last delivery error.
    pub last_error: Option<String>,
}

/// A page of notifications, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationPage {
    /// The notifications.
    pub items: Vec<NotificationView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Filters and paging of `GET /notifications`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; `Params` reads them.
pub struct NotificationQuery {
    /// Only this channel's notifications.
    channel: Option<String>,
    /// Only those `pending`, `sending`, `sent` or `failed`.
    state: Option<String>,
    /// Page size, 1 to 500 (default 50).
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// The outbox, newest first.
#[utoipa::path(get, path = "/api/v1/notifications", tag = "notifications",
    params(NotificationQuery),
    responses(
        (status = 200, description = "A page of notifications", body = NotificationPage),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<NotificationPage>, ApiError> {
    let mut q = Params::parse(raw.as_deref())?;
    let channel = q.text("channel");
    let state = match q
        .choice("state", &["pending", "sending", "sent", "failed"])?
        .as_deref()
    {
        Some("pending") => Some(OutboxState::Pending),
        Some("sending") => Some(OutboxState::Sending),
        Some("sent") => Some(OutboxState::Sent),
        Some(_) => Some(OutboxState::Failed),
        None => None,
    };
    let limit = q.limit(50, 500)?;
    let before = match q.text("cursor") {
        Some(c) => Some(paging::decode_number(List::Notifications, &c)?),
        None => None,
    };
    q.done()?;
    let query = OutboxQuery {
        channel,
        state,
        before,
        limit: limit + 1,
    };
    let rows = blocking(&m, "listing notifications", move |s| s.outbox_page(&query)).await?;
    let (rows, next_cursor) = paging::page(rows, limit, List::Notifications, |e| e.id.to_string());
    let items = rows
        .into_iter()
        .map(|e| NotificationView {
            event: serde_json::from_str::<serde_json::Value>(&e.payload)
                .ok()
                .and_then(|p| p.get("event")?.as_str().map(str::to_owned)),
            id: e.id,
            created_at: rfc3339(e.created_at),
            channel: e.channel,
            incident: e.incident,
            state: e.state.as_str().to_owned(),
            attempts: e.attempts,
            sent_at: e.sent_at.map(rfc3339),
            last_error: e.last_error,
        })
        .collect();
    Ok(Json(NotificationPage { items, next_cursor }))
}
