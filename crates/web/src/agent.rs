//! `POST /agent/report`: reports pushed by `keepup agent`, with the
//! agent's bearer token. 401 for a missing or unknown token, answered
//! before any of the body is read; 403 for a report naming another agent
//! than the token's, 400 for a body that is not a report, 413 past
//! [`MAX_HOST_REPORT_BYTES`] (read no further); nothing is stored in any
//! of these cases. 200 once stored (or already had: the agent may send a
//! report again after a lost answer); the answer's body is `stored` or
//! `duplicate`, and a line `actions pending` when action requests wait
//! for the agent.
//!
//! `POST /agent/actions`: the agent's action exchange (push mode), with
//! the same token and the same refusals: its body is the outcomes the
//! agent has ([`ActionOutcomes`]), recorded for the agent's own requests;
//! the answer is the requests still pending for it ([`ActionRequests`]).
//! See `keepup_store`'s `agent_actions` module for a request's life.
//!
//! The pull-mode agent's own listener ([`pull_router`]) serves `GET
//! /report`, and `POST /action` where the central sends it the pending
//! requests and gets the outcomes the agent has; an agent with actions
//! takes `/action` only with its action token, never the report token
//! (reading reports must not allow running actions).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use keepup_model::host::{
    ACTIONS_PENDING, AGENT_ACTION_VERSION, ActionOutcomes, ActionRequests,
    MAX_ACTION_EXCHANGE_BYTES, MAX_ACTIONS_PER_EXCHANGE, MAX_HOST_REPORT_BYTES,
};
use keepup_monitor::Monitor;
use keepup_monitor::host::{Accepted, ReportError};

use crate::AppState;

/// How long an agent may take to send its report once its token is
/// known (the listener bounds only the request head).
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The agent routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/agent/report", post(report))
        .route("/agent/actions", post(actions))
}

/// 401 with the bearer challenge.
fn unauthorized(text: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        text,
    )
        .into_response()
}

/// An action exchange's JSON body (`what` in the size and time messages,
/// `kind` in the parse one), at most [`MAX_ACTION_EXCHANGE_BYTES`]; else
/// the answer that says why.
async fn read_exchange<T: serde::de::DeserializeOwned>(
    body: axum::body::Body,
    what: &str,
    kind: &str,
) -> Result<T, Response> {
    let body = read_body(body, MAX_ACTION_EXCHANGE_BYTES, what).await?;
    serde_json::from_slice(&body)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("not {kind}: {e}\n")).into_response())
}

/// The answer to an action exchange of another version than
/// [`AGENT_ACTION_VERSION`], read by `reader` ("keepup", "agent").
fn wrong_version(version: u32, kind: &str, reader: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!(
            "{kind} of version {version} (this {reader} reads version {AGENT_ACTION_VERSION})\n"
        ),
    )
        .into_response()
}

/// The body, at most `max` bytes, sent within [`BODY_TIMEOUT`]; else the
/// answer that says why (`what`: "report", "exchange").
async fn read_body(
    body: axum::body::Body,
    max: usize,
    what: &str,
) -> Result<axum::body::Bytes, Response> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, max)).await {
        Ok(Ok(body)) => Ok(body),
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the {what} was not sent within {} s\n",
                BODY_TIMEOUT.as_secs()
            ),
        )
            .into_response()),
        Ok(Err(e)) => {
            let e = e.into_inner();
            Err(if e.is::<http_body_util::LengthLimitError>() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("a {what} is at most {max} bytes\n"),
                )
                    .into_response()
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the {what} could not be read: {e}\n"),
                )
                    .into_response()
            })
        }
    }
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
    let Some(token) = bearer(&headers) else {
        return unauthorized("an agent token is needed: Authorization: Bearer <token>\n");
    };
    // Who it is first: a stranger's body is never read.
    let Some(agent) = monitor.hosts().agent_of_token(token) else {
        return unauthorized("unknown agent token\n");
    };
    let body = match read_body(body, MAX_HOST_REPORT_BYTES, "report").await {
        Ok(b) => b,
        Err(answer) => return answer,
    };
    let stored = |text: &str, pending: bool| {
        if pending {
            (StatusCode::OK, format!("{text}\n{ACTIONS_PENDING}\n")).into_response()
        } else {
            (StatusCode::OK, format!("{text}\n")).into_response()
        }
    };
    match monitor.agent_report(&agent, body).await {
        Ok(Accepted::New(_)) => stored("stored", monitor.agent_actions_pending(&agent.name).await),
        Ok(Accepted::Duplicate) => stored(
            "duplicate",
            monitor.agent_actions_pending(&agent.name).await,
        ),
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

async fn actions(
    State(monitor): State<Arc<Monitor>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(token) = bearer(&headers) else {
        return unauthorized("an agent token is needed: Authorization: Bearer <token>\n");
    };
    let Some(agent) = monitor.hosts().agent_of_token(token) else {
        return unauthorized("unknown agent token\n");
    };
    let sent: ActionOutcomes =
        match read_exchange(body, "action exchange", "an action exchange").await {
            Ok(s) => s,
            Err(answer) => return answer,
        };
    if sent.version != AGENT_ACTION_VERSION {
        return wrong_version(sent.version, "an action exchange", "keepup");
    }
    if sent.agent != agent.name {
        tracing::warn!(token_of = %agent.name, claimed = %sent.agent, "an agent sent action outcomes for another host");
        return (
            StatusCode::FORBIDDEN,
            format!(
                "this token belongs to agent {:?}, not to {:?}\n",
                agent.name, sent.agent
            ),
        )
            .into_response();
    }
    if sent.outcomes.len() > MAX_ACTIONS_PER_EXCHANGE {
        return (
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_ACTIONS_PER_EXCHANGE} outcomes in one exchange\n"),
        )
            .into_response();
    }
    match monitor
        .exchange_agent_actions(&agent.name, sent.outcomes)
        .await
    {
        // The outcomes sent are recorded: this answer acknowledges them.
        Ok((requests, sent_at)) => axum::Json(ActionRequests {
            version: AGENT_ACTION_VERSION,
            requests,
            acked: Vec::new(),
            sent_at: Some(sent_at),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, agent = %agent.name, "agent action exchange failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "actions not exchanged, retry\n",
            )
                .into_response()
        }
    }
}

/// The latest report a pulled agent serves (JSON), shared with its
/// collection loop.
pub type LatestReport = Arc<std::sync::RwLock<Option<axum::body::Bytes>>>;

/// What a pull-mode agent does with the exchange the central POSTs to
/// its `/action`: the outcomes it has for the requests (the agent's action
/// runner; it must answer at once, runs go on in the background).
pub type ActionHandler = Arc<dyn Fn(&ActionRequests) -> ActionOutcomes + Send + Sync>;

/// Whether `headers` present `token` (compared in constant time).
fn presents(headers: &HeaderMap, token: &keepup_config::Secret) -> bool {
    use subtle::ConstantTimeEq;
    let presented = bearer(headers).unwrap_or("");
    presented.as_bytes().ct_eq(token.expose().as_bytes()).into()
}

/// The pull-mode agent's own listener: `GET /report` answers the latest
/// report to a client presenting `token`, 401 to anyone else, 503 before
/// the first collection. `POST /action` takes [`ActionRequests`] (at most
/// [`MAX_ACTIONS_PER_EXCHANGE`], [`MAX_ACTION_EXCHANGE_BYTES`]) and
/// answers what `actions` says, to a client presenting `action_token`
/// (the report token is refused there), or `token` when there is none
/// (an agent without actions, which refuses every request).
pub fn pull_router(
    latest: LatestReport,
    token: keepup_config::Secret,
    action_token: Option<keepup_config::Secret>,
    actions: ActionHandler,
) -> Router {
    let token = Arc::new(token);
    let action_token = Arc::new(action_token);
    let report_token = token.clone();
    Router::new()
        .route(
            "/report",
            axum::routing::get(move |headers: HeaderMap| {
                let (latest, token) = (latest.clone(), report_token.clone());
                async move {
                    if !presents(&headers, &token) {
                        return unauthorized("the central keepup's agent token is needed\n");
                    }
                    let body = latest.read().ok().and_then(|l| l.clone());
                    match body {
                        Some(b) => (
                            StatusCode::OK,
                            [(header::CONTENT_TYPE, "application/json")],
                            b,
                        )
                            .into_response(),
                        None => {
                            (StatusCode::SERVICE_UNAVAILABLE, "no report yet\n").into_response()
                        }
                    }
                }
            }),
        )
        .route(
            "/action",
            post(move |headers: HeaderMap, body: axum::body::Body| {
                let (actions, token, action_token) =
                    (actions.clone(), token.clone(), action_token.clone());
                async move {
                    // Who it is first: a stranger's body is never read.
                    match action_token.as_ref() {
                        Some(a) if !presents(&headers, a) => {
                            return unauthorized(if presents(&headers, &token) {
                                "this agent takes action requests only with its action token (its --action-token-file; the central's [[agent]] action_token_file or action_token_env), not the report token\n"
                            } else {
                                "the central keepup's action token is needed\n"
                            });
                        }
                        None if !presents(&headers, &token) => {
                            return unauthorized("the central keepup's agent token is needed\n");
                        }
                        _ => {}
                    }
                    let asked: ActionRequests =
                        match read_exchange(body, "request", "action requests").await {
                            Ok(a) => a,
                            Err(answer) => return answer,
                        };
                    if asked.version != AGENT_ACTION_VERSION {
                        return wrong_version(asked.version, "action requests", "agent");
                    }
                    if asked.requests.len() > MAX_ACTIONS_PER_EXCHANGE
                        || asked.acked.len() > MAX_ACTIONS_PER_EXCHANGE
                    {
                        return (
                            StatusCode::BAD_REQUEST,
                            format!("at most {MAX_ACTIONS_PER_EXCHANGE} requests and acknowledgements at once\n"),
                        )
                            .into_response();
                    }
                    axum::Json(actions(&asked)).into_response()
                }
            }),
        )
}
