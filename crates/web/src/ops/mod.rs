//! The dashboard's operations pages: what an operator on call reads and
//! does besides the overview.
//!
//! * `/incidents` and `/incidents/<id>`: incidents, open first, with their
//!   timeline and the notifications sent; acknowledge, and resolve with a
//!   note ([`incidents`]).
//! * `/maintenance`: windows open, scheduled (configured, with recurring
//!   ones' next occurrences, and started by hand) and past; start and end
//!   one ([`maintenance`]).
//! * `/backups`: plans, their targets' freshness against the RPO, the last
//!   integrity check and restore test, and the run log ([`backups`]).
//! * `/notifications`: the outbox log, each channel's health, and a test
//!   send per channel ([`notifications`]).
//! * `/dr`: recovery runs, their journals, and the answers to their
//!   `confirm` questions, also through signed links ([`recovery`]).
//!
//! Every page needs a [`Viewer`](crate::auth::Viewer); every action an
//! [`Operator`](crate::auth::Operator), the session's CSRF token, and is
//! written to the audit log. Actions go through the same code as the
//! command line (`keepup ack`, `keepup maintenance start|stop`, `keepup
//! notify test`), and resolving goes through the monitor's incident
//! engine, which holds the open incidents. Text typed into a form is
//! bounded and refused with a 400 naming the field; maud escapes every
//! value on output.

mod backups;
mod incidents;
mod maintenance;
mod notifications;
mod recovery;

use crate::AppState;
use crate::auth::{CsrfRefused, Session};
use crate::ui;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use keepup_model::{Timestamp, format_rfc3339};

use keepup_store::{OutboxEntry, Role, StoreError};
use maud::{Markup, html};

/// The routes of the operations pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/incidents", get(incidents::list))
        .route("/incidents/{id}", get(incidents::detail))
        .route("/incidents/{id}/acknowledge", post(incidents::acknowledge))
        .route("/incidents/{id}/resolve", post(incidents::resolve))
        .route(
            "/maintenance",
            get(maintenance::page).post(maintenance::start),
        )
        .route("/maintenance/{id}/end", post(maintenance::end))
        .route("/backups", get(backups::page))
        .route("/notifications", get(notifications::page))
        .route("/notifications/test/{channel}", post(notifications::test))
        .route("/dr", get(recovery::list))
        .route("/dr/runs/{id}", get(recovery::detail))
        .route("/dr/runs/{id}/confirm/{step}", post(recovery::confirm))
        .route(
            "/dr/confirm/{run}/{step}",
            get(recovery::link_page).post(recovery::link_answer),
        )
}

/// Rows per page of the paged lists.
const PAGE_ROWS: usize = 50;

/// Whether `session` may act (the forms are shown only to them).
fn may_act(session: &Session) -> bool {
    session.role >= Role::Operator
}

/// The fields of a submitted form, as sent (repeated names keep the first).
struct Fields(Vec<(String, String)>);

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Checks the session's CSRF token.
    fn verify_csrf(&self, session: &Session) -> Result<(), Refused> {
        session
            .verify_csrf(self.get("csrf").unwrap_or(""))
            .map_err(Refused::Csrf)
    }

    /// Field `name` trimmed, at most `max` characters, without control
    /// characters other than line breaks and tabs; empty when absent.
    fn text(&self, name: &str, max: usize) -> Result<String, Refused> {
        let value = self.get(name).unwrap_or("").trim();
        if value.chars().count() > max {
            return Err(bad_field(name, &format!("at most {max} characters")));
        }
        if value
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(bad_field(name, "control characters are not allowed"));
        }
        Ok(value.to_owned())
    }
}

/// A request refused before anything happens.
enum Refused {
    /// A form or query field that is not acceptable: 400 naming it.
    Field { name: String, why: String },
    /// A form without the session's CSRF token: 403.
    Csrf(CsrfRefused),
}

impl From<Refused> for Response {
    fn from(refused: Refused) -> Response {
        match refused {
            Refused::Field { name, why } => ui::message_page(
                StatusCode::BAD_REQUEST,
                "Invalid input",
                &format!("{name}: {why}"),
            ),
            Refused::Csrf(c) => c.into_response(),
        }
    }
}

/// Field `name` is not acceptable, because `why`.
fn bad_field(name: &str, why: &str) -> Refused {
    Refused::Field {
        name: name.to_owned(),
        why: why.to_owned(),
    }
}

/// A query parameter that must be a number when present.
fn number_param(name: &str, value: Option<&str>) -> Result<Option<i64>, Refused> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| bad_field(name, "not a whole number")),
    }
}

/// The 503 answer when the store could not be read or written.
fn store_failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "dashboard: the store failed");
    ui::message_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "The store could not be read or written. The error is in keepup's log.",
    )
}

/// Runs a store operation off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, Response> {
    match crate::offload::spawn_blocking(f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(store_failed(&e)),
        Err(e) => Err(store_failed(&e)),
    }
}

/// After an action: back to the page that shows its effect.
fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// A time for people: the date and the time to the minute (UTC) in a
/// `time` element whose `datetime` is exact, with how long ago in its
/// title.
fn when(now: Timestamp, at: Timestamp) -> Markup {
    let stamp = format_rfc3339(at);
    let (date, time) = stamp.split_once('T').unwrap_or((stamp.as_str(), ""));
    html! {
        time datetime=(stamp) title=(keepup_model::text::ago(now, at)) {
            (date) " " (time.get(..5).unwrap_or(time))
        }
    }
}

/// [`when`] or a dash.
fn when_or_dash(now: Timestamp, at: Option<Timestamp>) -> Markup {
    match at {
        Some(at) => when(now, at),
        None => html! { span.muted { "–" } },
    }
}

/// Wall-clock time in ms since the epoch.
fn now_ms() -> Timestamp {
    crate::auth::now()
}

/// Percent-encodes a query value or path segment.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `event` a notification's payload names (opened, reminder, ...).
fn event_of(n: &OutboxEntry) -> String {
    serde_json::from_str::<serde_json::Value>(&n.payload)
        .ok()
        .and_then(|v| v["event"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
