//! `POST /agent/report`: reports pushed by `keepup agent`, with the
//! agent's bearer token. 401 for a missing or unknown token, answered
//! before any of the body is read; 403 for a report naming another agent
//! than the token's, 400 for a body that is not a report, 413 past
//! [`MAX_HOST_REPORT_BYTES`] (read no further); nothing is stored in any
//! of these cases. 200 once stored (or already had: the agent may send a
//! report again after a lost answer).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use keepup_model::host::MAX_HOST_REPORT_BYTES;
use keepup_monitor::Monitor;
use keepup_monitor::host::{Accepted, ReportError};

use crate::AppState;

/// How long an agent may take to send its report once its token is
/// known (the listener bounds only the request head).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The agent routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/agent/report", post(report))
}

/// The bearer token of `Authorization`, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn report(
    State(monitor): State<Arc<Monitor>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let unauthorized = |text: &'static str| {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            text,
        )
            .into_response()
    };
    let Some(token) = bearer(&headers) else {
        return unauthorized("an agent token is needed: Authorization: Bearer <token>\n");
    };
    // Who it is first: a stranger's body is never read.
    let Some(agent) = monitor.hosts().agent_of_token(token) else {
        return unauthorized("unknown agent token\n");
    };
    let read = axum::body::to_bytes(body, MAX_HOST_REPORT_BYTES);
    let body = match tokio::time::timeout(BODY_TIMEOUT, read).await {
        Ok(Ok(body)) => body,
        Err(_) => {
            return (
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the report was not sent within {} s\n",
                    BODY_TIMEOUT.as_secs()
                ),
            )
                .into_response();
        }
        Ok(Err(e)) => {
            let e = e.into_inner();
            return if e.is::<http_body_util::LengthLimitError>() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a report is at most {MAX_HOST_REPORT_BYTES} bytes\n"),
                )
                    .into_response()
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the report could not be read: {e}\n"),
                )
                    .into_response()
            };
        }
    };
    match monitor.agent_report(&agent, body).await {
        Ok(Accepted::New(_)) => (StatusCode::OK, "stored\n").into_response(),
        Ok(Accepted::Duplicate) => (StatusCode::OK, "duplicate\n").into_response(),
        // The token is never logged or echoed.
        Err(ReportError::UnknownToken) => unauthorized("unknown agent token\n"),
        Err(e @ ReportError::NotYourHost { .. }) => {
            tracing::warn!(error = %e, "an agent reported for another host");
            (StatusCode::FORBIDDEN, format!("{e}\n")).into_response()
        }
        Err(e @ ReportError::Malformed(_)) => {
            (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response()
        }
        Err(e @ ReportError::Store(_)) => {
            tracing::error!(error = %e, "agent report not stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "report not stored, retry\n",
            )
                .into_response()
        }
    }
}

/// The latest report a pulled agent serves (JSON), shared with its
/// collection loop.
pub type LatestReport = Arc<std::sync::RwLock<Option<axum::body::Bytes>>>;

/// The pull-mode agent's own listener: `GET /report` answers the latest
/// report to a client presenting `token` (compared in constant time),
/// 401 to anyone else, 503 before the first collection.
pub fn pull_router(latest: LatestReport, token: keepup_config::Secret) -> Router {
    let token = Arc::new(token);
    Router::new().route(
        "/report",
        axum::routing::get(move |headers: HeaderMap| {
            let (latest, token) = (latest.clone(), token.clone());
            async move {
                use subtle::ConstantTimeEq;
                let presented = bearer(&headers).unwrap_or("");
                let allowed: bool = presented.as_bytes().ct_eq(token.expose().as_bytes()).into();
                if !allowed {
                    return (
                        StatusCode::UNAUTHORIZED,
                        [(header::WWW_AUTHENTICATE, "Bearer")],
                        "the central keepup's agent token is needed\n",
                    )
                        .into_response();
                }
                let body = latest.read().ok().and_then(|l| l.clone());
                match body {
                    Some(b) => (
                        StatusCode::OK,
                        [(header::CONTENT_TYPE, "application/json")],
                        b,
                    )
                        .into_response(),
                    None => (StatusCode::SERVICE_UNAVAILABLE, "no report yet\n").into_response(),
                }
            }
        }),
    )
}
