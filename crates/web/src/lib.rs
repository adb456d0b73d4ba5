//! keepup's HTTP listener.
//!
//! Today it serves what the daemon needs to be useful on its own:
//! heartbeat pings (`/ping/<token>`, `/ping/<token>/fail`, GET, POST or
//! HEAD) for cron jobs and backup scripts, and `/healthz` for whoever
//! watches keepup. The dashboard, status page, JSON API and Prometheus
//! metrics will join them here.
//!
//! The server is hardened for the open Internet (heartbeats arrive from
//! other machines): request heads must arrive within a deadline, bodies are
//! capped, connections are capped, and a ping is acknowledged only after it
//! is stored.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use keepup_monitor::Monitor;
use keepup_monitor::heartbeat::PingError;
use keepup_store::PingKind;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Largest request body accepted (a ping may carry a short log excerpt).
const MAX_BODY: usize = 64 * 1024;
/// A client must send its request head within this time.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more wait in the accept queue.
const MAX_CONNECTIONS: usize = 1024;

/// The routes, bound to a running monitor.
pub fn router(monitor: Arc<Monitor>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ping/{token}", any(ping_ok))
        .route("/ping/{token}/fail", any(ping_fail))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(monitor)
}

async fn healthz(State(monitor): State<Arc<Monitor>>) -> Response {
    let health = monitor.health();
    let code = if health.store_error.is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, axum::Json(health)).into_response()
}

// The body (a job may post a log excerpt) is read within MAX_BODY, so an
// oversized one is answered 413; its content is not kept yet.
async fn ping_ok(
    State(m): State<Arc<Monitor>>,
    Path(token): Path<String>,
    method: axum::http::Method,
    _body: axum::body::Bytes,
) -> Response {
    ping(m, &token, PingKind::Success, method).await
}

async fn ping_fail(
    State(m): State<Arc<Monitor>>,
    Path(token): Path<String>,
    method: axum::http::Method,
    _body: axum::body::Bytes,
) -> Response {
    ping(m, &token, PingKind::Fail, method).await
}

async fn ping(
    monitor: Arc<Monitor>,
    token: &str,
    kind: PingKind,
    method: axum::http::Method,
) -> Response {
    if !matches!(method.as_str(), "GET" | "POST" | "HEAD" | "PUT") {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD, POST, PUT")],
            "use GET or POST\n",
        )
            .into_response();
    }
    match monitor.ping(token, kind).await {
        Ok(id) => {
            tracing::debug!(check = %id, kind = kind.as_str(), "heartbeat ping");
            (StatusCode::OK, "OK\n").into_response()
        }
        // The token is not logged: it is the check's secret.
        Err(PingError::UnknownToken) => {
            (StatusCode::NOT_FOUND, "unknown heartbeat token\n").into_response()
        }
        Err(e @ PingError::Store(_)) => {
            tracing::error!(error = %e, "heartbeat ping not stored");
            (StatusCode::SERVICE_UNAVAILABLE, "ping not stored, retry\n").into_response()
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(listener: TcpListener, router: Router, shutdown: impl Future<Output = ()>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = hyper_util::service::TowerToHyperService::new(router.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .max_buf_size(64 * 1024);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}
