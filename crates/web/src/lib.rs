//! keepup's HTTP listener.
//!
//! Today it serves what the daemon needs to be useful on its own:
//! heartbeat pings (`/ping/<token>`, `/ping/<token>/fail`, GET, POST or
//! HEAD) for cron jobs and backup scripts, reports of `keepup agent`
//! (`/agent/report`, [`agent`]), `/healthz` for whoever watches
//! keepup, the public status pages ([`status`]), and the web's foundation:
//! login and sessions, API tokens and the audit log ([`auth`]), the page
//! layout and embedded assets ([`ui`]), and the security headers on every
//! answer ([`security`]), and the JSON API under `/api/v1` with its
//! OpenAPI document ([`api`]). The dashboard, the operations pages and
//! Prometheus metrics (`/metrics`, loopback or `metrics_allow` clients and
//! its own bearer token rather than a login) join them here, each as one `.merge(...)` in [`router`].
//!
//! The server is hardened for the open Internet (heartbeats arrive from
//! other machines): request heads must arrive within a deadline, bodies are
//! capped, connections are capped per source address and in all
//! ([`admission`]: a flood from one address is refused early, not queued,
//! so everyone else's pings keep working), and a ping is acknowledged only
//! after it is stored.

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use hyper::body::Incoming;
use hyper::service::Service as _;
use keepup_config::ListenerLimits;
use keepup_monitor::Monitor;
use keepup_monitor::heartbeat::PingError;
use keepup_store::PingKind;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

mod admission;
pub mod agent;
pub mod api;
pub mod auth;
mod dashboard;
mod metrics;
mod offload;
mod ops;
pub mod security;
mod sla;
pub mod tls;
pub mod ui;
pub use admission::ClientAddr;
pub mod status;
use admission::{Admission, Refusal};
use maud::html;

/// Largest request body accepted (a ping may carry a short log excerpt).
const MAX_BODY: usize = 64 * 1024;

/// What every handler can reach: the monitor (store, configuration,
/// live state) and the authentication state. Handlers take the part they
/// need (`State<Arc<Monitor>>`, `State<Arc<Auth>>`) or the whole.
#[derive(Clone)]
pub struct AppState {
    /// The running monitor.
    pub monitor: Arc<Monitor>,
    /// Sessions, tokens, login limits.
    pub auth: Arc<auth::Auth>,
    /// SLA figures kept for the SLA pages and API.
    pub(crate) sla: Arc<sla::SlaCache>,
    /// The overview's history figures, kept for the minute.
    pub(crate) overview: Arc<dashboard::overview::HistoryCache>,
    /// The check pages' charts, kept for the minute.
    pub(crate) check_charts: Arc<dashboard::check::ChartCache>,
    /// The last `/metrics` text, served again for a second.
    pub(crate) metrics: Arc<metrics::ScrapeCache>,
}

impl FromRef<AppState> for Arc<metrics::ScrapeCache> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

impl FromRef<AppState> for Arc<dashboard::overview::HistoryCache> {
    fn from_ref(state: &AppState) -> Self {
        state.overview.clone()
    }
}

impl FromRef<AppState> for Arc<dashboard::check::ChartCache> {
    fn from_ref(state: &AppState) -> Self {
        state.check_charts.clone()
    }
}

impl FromRef<AppState> for Arc<sla::SlaCache> {
    fn from_ref(state: &AppState) -> Self {
        state.sla.clone()
    }
}

impl FromRef<AppState> for Arc<Monitor> {
    fn from_ref(state: &AppState) -> Self {
        state.monitor.clone()
    }
}

/// The routes, bound to a running monitor.
pub fn router(monitor: Arc<Monitor>) -> Router {
    let status_pages = status::StatusPages::start(&monitor);
    let config = monitor.config();
    let auth = Arc::new(auth::Auth::new(
        monitor.store().clone(),
        config.server.web.clone(),
        config.server.public_url.as_deref(),
    ));
    let public_https = security::PublicHttps::of(config.server.public_url.as_deref());
    let state = AppState {
        monitor,
        auth,
        sla: Arc::default(),
        overview: Arc::default(),
        check_charts: Arc::default(),
        metrics: Arc::default(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/ping/{token}", any(ping_ok))
        .route("/ping/{token}/fail", any(ping_fail))
        .route("/ack/{incident}", get(ack_page).post(ack_submit))
        .merge(status::routes(status_pages.clone()))
        .merge(auth::routes())
        .merge(ui::routes())
        .merge(api::routes())
        .merge(dashboard::routes())
        .merge(ops::routes())
        .merge(metrics::routes())
        .merge(sla::routes())
        .merge(agent::routes())
        // Each part of the web adds its routes above this line.
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // After the routes, so that a status page's own domain is served
        // at `/` whatever else `/` is.
        .layer(axum::middleware::from_fn_with_state(
            status_pages,
            status::by_host,
        ))
        // Outermost: every answer gets the headers.
        .layer(axum::middleware::from_fn_with_state(
            public_https,
            security::headers,
        ))
        .with_state(state)
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

/// Query of an acknowledgement link.
#[derive(serde::Deserialize)]
struct AckQuery {
    e: i64,
    s: String,
}

fn ack_verified(monitor: &Monitor, incident: i64, q: &AckQuery) -> bool {
    let config = monitor.config();
    let (Some(url), Some(key)) = (&config.server.public_url, &config.server.ack_key) else {
        return false;
    };
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    keepup_notify::ack::AckSigner::new(key.expose().as_bytes(), url)
        .verify(incident, q.e, &q.s, now_s)
}

/// The link from a notification: shows the incident and a button. A GET
/// never acknowledges (mail scanners follow links).
async fn ack_page(
    State(m): State<Arc<Monitor>>,
    Path(incident): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<AckQuery>,
) -> Response {
    if !ack_verified(&m, incident, &q) {
        return ui::bare_page(
            StatusCode::FORBIDDEN,
            "Link not valid",
            html! { h1 { "Link not valid" } p { "This acknowledgement link is invalid or has expired. Use " code { "keepup ack" } " instead." } },
        );
    }
    let store = m.store().clone();
    let found = crate::offload::spawn_blocking(move || store.incident(incident)).await;
    let Ok(Ok(Some(i))) = found else {
        return ui::message_page(
            StatusCode::NOT_FOUND,
            "No such incident",
            "The incident is not in the store.",
        );
    };
    let title = format!("Incident #{incident}: {}", i.check.as_str());
    let action = format!(
        "/ack/{incident}?e={}&s={}",
        q.e,
        keepup_model::text::percent_encode(&q.s)
    );
    let body = html! {
        h1 { (title) }
        p { (i.message) }
        @if i.resolved_at.is_some() {
            p { "It is already resolved." }
        } @else if let Some(by) = &i.acknowledged_by {
            p { "Already acknowledged by " (by) "." }
        } @else {
            form method="post" action=(action) {
                p { "Taking it stops escalation and reminders." }
                button type="submit" { "Acknowledge" }
            }
        }
    };
    ui::bare_page(StatusCode::OK, &title, body)
}

async fn ack_submit(
    State(m): State<Arc<Monitor>>,
    Path(incident): Path<i64>,
    axum::extract::Query(q): axum::extract::Query<AckQuery>,
) -> Response {
    if !ack_verified(&m, incident, &q) {
        return ui::message_page(
            StatusCode::FORBIDDEN,
            "Link not valid",
            "This acknowledgement link is invalid or has expired.",
        );
    }
    let store = m.store().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    match crate::offload::spawn_blocking(move || {
        let acked = store.acknowledge_incident(incident, now, "link");
        if matches!(acked, Ok(true)) {
            auth::audit(
                &store,
                "link",
                "incident.ack",
                &format!("#{incident}"),
                "signed link from a notification",
            );
        }
        acked
    })
    .await
    {
        Ok(Ok(true)) => ui::message_page(
            StatusCode::OK,
            "Acknowledged",
            &format!("Incident #{incident} is yours. Escalation and reminders stop."),
        ),
        Ok(Ok(false)) => ui::message_page(
            StatusCode::CONFLICT,
            "Nothing to do",
            "The incident is resolved or was already acknowledged.",
        ),
        _ => ui::message_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Try again",
            "The acknowledgement could not be stored.",
        ),
    }
}

/// Connections the kernel queues for `accept` (capped by
/// `net.core.somaxconn`, 4096 by default): a flood reconnecting in bursts
/// overflows a short queue, and an overflow drops everyone's connection
/// attempts alike (a client retries after a second).
const ACCEPT_QUEUE: u32 = 4096;

/// Binds the listener's socket at `addr` with a long accept queue.
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_QUEUE)
}

/// Serves `router` on `listener` until `shutdown` completes, within
/// `limits`: each source address holds at most its share of the
/// connection cap (more are refused at once, 429), the cap itself is
/// answered 503, and a request head must be complete within the deadline,
/// which also closes idle keep-alive connections.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: &ListenerLimits,
    shutdown: impl Future<Output = ()>,
) {
    serve_with(listener, router, limits, None, shutdown).await
}

/// [`serve`], speaking HTTPS only when `tls` is given: the handshake must
/// be done within the request-head deadline, and requests carry
/// [`auth::OverTls`] (for `Secure` cookies and HSTS).
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    limits: &ListenerLimits,
    tls: Option<Arc<tls::ListenerTls>>,
    shutdown: impl Future<Output = ()>,
) {
    let descriptors = keepup_config::descriptors::soft_limit().unwrap_or(1024);
    let admission = Admission::new(limits, descriptors);
    let head_timeout = limits.request_head_timeout;
    tokio::pin!(shutdown);
    loop {
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
        let peer_ip = peer.ip().to_canonical();
        let proxy = admission.is_trusted_proxy(peer_ip);
        let slot = match admission.admit_connection(peer_ip, proxy) {
            Ok(slot) => slot,
            Err(why) => {
                refuse(&stream, why);
                admission.note_refusal(peer_ip, why);
                continue;
            }
        };
        let app = hyper_util::service::TowerToHyperService::new(router.clone());
        let admission = admission.clone();
        let over_tls = tls.is_some();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            let admission = admission.clone();
            let app = app.clone();
            async move {
                let client = if proxy {
                    admission::forwarded_client(request.headers(), peer_ip, &admission)
                } else {
                    peer_ip
                };
                let _forwarded = if proxy {
                    match admission.admit_forwarded(client) {
                        Ok(slot) => Some(slot),
                        Err(why) => {
                            admission.note_refusal(client, why);
                            return Ok(too_many_from(client));
                        }
                    }
                } else {
                    None
                };
                request.extensions_mut().insert(ClientAddr(client));
                if over_tls {
                    request.extensions_mut().insert(auth::OverTls);
                }
                app.call(request).await
            }
        });
        let acceptor = tls.as_ref().map(|t| t.acceptor());
        tokio::spawn(async move {
            let _slot = slot;
            let Some(acceptor) = acceptor else {
                return serve_connection(stream, service, head_timeout, peer).await;
            };
            match tokio::time::timeout(head_timeout, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => serve_connection(stream, service, head_timeout, peer).await,
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake not done within the deadline"),
            }
        });
    }
}

/// Serves HTTP/1.1 on one accepted (and maybe TLS) connection.
async fn serve_connection<I, S>(
    io: I,
    service: S,
    head_timeout: Duration,
    peer: std::net::SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<Incoming> + Send,
    S::Future: Send + 'static,
    S::ResBody: 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(head_timeout)
        .max_buf_size(64 * 1024);
    let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(io), service);
    if let Err(e) = conn.await {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers a refused connection and closes it, without waiting: what the
/// client sent so far is read and discarded first, so that closing ends
/// the connection cleanly rather than resetting it over the answer.
fn refuse(stream: &TcpStream, why: Refusal) {
    let mut discard = [0u8; 2048];
    let _ = stream.try_read(&mut discard);
    let _ = stream.try_write(why.answer());
}

/// The answer to a forwarded request whose client is over its share.
fn too_many_from(client: IpAddr) -> Response {
    tracing::debug!(%client, "forwarded request refused: the client is over its share");
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        "too many connections from your address\n",
    )
        .into_response();
    security::apply(response.headers_mut(), false);
    response
}
