//! [`TestServer`]: an in-process HTTP/1.1 server on loopback, with optional
//! TLS, whose responses come from an async closure.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use keepup_testkit::http::{TestServer, text};
//! let server = TestServer::start(|req| async move {
//!     match req.uri().path() {
//!         "/health" => text(200, "ok"),
//!         _ => text(404, "not found"),
//!     }
//! })
//! .await?;
//! let url = server.url("/health"); // http://127.0.0.1:<port>/health
//! # let _ = url; Ok(()) }
//! ```
//!
//! The request body is collected (at most [`MAX_REQUEST_BODY`] bytes) before
//! the handler runs, and the response body is a complete [`Bytes`] value:
//! misbehaving peers that stream forever live in [`crate::hostile`].

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::pki::Issued;
use crate::runner::{self, ConnHandler, Running, Stop};

/// The request a handler sees: head plus the collected body.
pub type Request = http::Request<Bytes>;
/// The response a handler returns.
pub type Response = http::Response<Bytes>;

/// Request bodies larger than this are answered with 413 without calling the
/// handler.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// How many received requests [`TestServer::received`] remembers.
const LOG_CAPACITY: usize = 256;

/// A response with `status` and a `text/plain` body.
pub fn text(status: u16, body: impl Into<Bytes>) -> Response {
    with_type(status, "text/plain; charset=utf-8", body)
}

/// A response with `status` and an `application/json` body (`body` must
/// already be JSON text).
pub fn json(status: u16, body: impl Into<Bytes>) -> Response {
    with_type(status, "application/json", body)
}

/// A response with `status` and a `text/html` body.
pub fn html(status: u16, body: impl Into<Bytes>) -> Response {
    with_type(status, "text/html; charset=utf-8", body)
}

/// A redirect (`status` should be 301, 302, 303, 307 or 308) to `location`,
/// which may be relative.
pub fn redirect(status: u16, location: &str) -> Response {
    let mut response = text(status, "");
    if let Ok(value) = http::HeaderValue::from_str(location) {
        response.headers_mut().insert(http::header::LOCATION, value);
    }
    response
}

fn with_type(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response {
    let mut response = http::Response::new(body.into());
    *response.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(content_type),
    );
    response
}

/// What the server remembers of a request it received (for assertions such
/// as "the credentials were sent" or "the request never arrived").
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    /// Request method.
    pub method: http::Method,
    /// Request target as received.
    pub uri: http::Uri,
    /// Request headers.
    pub headers: http::HeaderMap,
}

/// Which certificates a TLS [`TestServer`] presents.
pub struct ServerTls {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// Presented instead while the flag is set (see [`ServerTls::switchable`]).
    instead: Option<(Box<ServerTls>, Arc<AtomicBool>)>,
}

impl Clone for ServerTls {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            instead: self.instead.clone(),
        }
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Presents the leaf and its intermediates, without the root: what a
    /// correctly configured server sends.
    pub fn new(issued: &Issued) -> Self {
        Self {
            chain: issued.served_chain(),
            key: issued.key_der(),
            instead: None,
        }
    }

    /// Presents `usual` (as [`ServerTls::new`]), or `instead` while the
    /// returned flag is set: a certificate that expires or is replaced
    /// while the server keeps running.
    pub fn switchable(usual: &Issued, instead: &Issued) -> (Self, Arc<AtomicBool>) {
        let flag = Arc::new(AtomicBool::new(false));
        let tls = Self {
            instead: Some((Box::new(Self::new(instead)), flag.clone())),
            ..Self::new(usual)
        };
        (tls, flag)
    }

    /// Presents only the leaf, omitting the intermediates (the classic
    /// "incomplete chain" misconfiguration).
    pub fn leaf_only(issued: &Issued) -> Self {
        Self {
            chain: vec![issued.leaf().clone()],
            key: issued.key_der(),
            instead: None,
        }
    }

    /// Presents the whole chain including the root.
    pub fn with_root(issued: &Issued) -> Self {
        Self {
            chain: issued.chain.clone(),
            key: issued.key_der(),
            instead: None,
        }
    }

    pub(crate) fn acceptor(&self) -> io::Result<TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .with_no_client_auth();
        let mut config = match &self.instead {
            None => builder
                .with_single_cert(self.chain.clone(), self.key.clone_key())
                .map_err(io::Error::other)?,
            Some((instead, flag)) => builder.with_cert_resolver(Arc::new(Switched {
                usual: self.certified(&provider)?,
                instead: instead.certified(&provider)?,
                flag: flag.clone(),
            })),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }
}

impl ServerTls {
    fn certified(
        &self,
        provider: &rustls::crypto::CryptoProvider,
    ) -> io::Result<Arc<rustls::sign::CertifiedKey>> {
        let key = provider
            .key_provider
            .load_private_key(self.key.clone_key())
            .map_err(io::Error::other)?;
        Ok(Arc::new(rustls::sign::CertifiedKey::new(
            self.chain.clone(),
            key,
        )))
    }
}

/// The certificate of a [`ServerTls::switchable`] server, chosen per
/// handshake.
#[derive(Debug)]
struct Switched {
    usual: Arc<rustls::sign::CertifiedKey>,
    instead: Arc<rustls::sign::CertifiedKey>,
    flag: Arc<AtomicBool>,
}

impl rustls::server::ResolvesServerCert for Switched {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(if self.flag.load(Ordering::SeqCst) {
            self.instead.clone()
        } else {
            self.usual.clone()
        })
    }
}

type BoxedHandler =
    Arc<dyn Fn(Request) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync>;

/// Configures a [`TestServer`] before starting it.
#[derive(Debug, Clone)]
pub struct TestServerBuilder {
    bind: SocketAddr,
    tls: Option<ServerTls>,
}

impl Default for TestServerBuilder {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            tls: None,
        }
    }
}

impl TestServerBuilder {
    /// Listens on `addr` instead of `127.0.0.1:0` (e.g. `[::1]:0`, or a
    /// fixed port for the demo). Only loopback addresses are accepted.
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }

    /// Serves HTTPS with these certificates.
    pub fn tls(mut self, tls: ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Starts serving on the current tokio runtime.
    pub async fn start<F, Fut>(self, handler: F) -> io::Result<TestServer>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let (conn, shared) = self.prepare(handler)?;
        let running = runner::start_here(self.bind, conn)?;
        Ok(TestServer::new(running, shared))
    }

    /// Starts serving on a dedicated thread with its own runtime; for
    /// callers without a tokio runtime (the demo, benchmarks).
    pub fn start_background<F, Fut>(self, handler: F) -> io::Result<TestServer>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let (conn, shared) = self.prepare(handler)?;
        let running = runner::start_on_thread(self.bind, conn)?;
        Ok(TestServer::new(running, shared))
    }

    fn prepare<F, Fut>(&self, handler: F) -> io::Result<(ConnHandler, Arc<Shared>)>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        let acceptor = self.tls.as_ref().map(ServerTls::acceptor).transpose()?;
        let shared = Arc::new(Shared {
            tls: acceptor.is_some(),
            connections: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        });
        let handler: BoxedHandler = Arc::new(move |req| Box::pin(handler(req)));
        let conn_shared = Arc::clone(&shared);
        let conn: ConnHandler = Arc::new(move |stream, _peer, stop| {
            Box::pin(serve_connection(
                stream,
                acceptor.clone(),
                Arc::clone(&handler),
                Arc::clone(&conn_shared),
                stop,
            ))
        });
        Ok((conn, shared))
    }
}

struct Shared {
    tls: bool,
    connections: AtomicU64,
    requests: AtomicU64,
    log: Mutex<Vec<ReceivedRequest>>,
}

/// An HTTP/1.1 (optionally HTTPS) server on loopback. Stops when dropped.
pub struct TestServer {
    running: Running,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("addr", &self.addr())
            .field("tls", &self.shared.tls)
            .finish_non_exhaustive()
    }
}

impl TestServer {
    /// A builder, for TLS or another bind address.
    pub fn builder() -> TestServerBuilder {
        TestServerBuilder::default()
    }

    /// A plain HTTP server on `127.0.0.1:<free port>`, on the current runtime.
    pub async fn start<F, Fut>(handler: F) -> io::Result<Self>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        Self::builder().start(handler).await
    }

    /// A plain HTTP server on `127.0.0.1:<free port>`, on its own thread.
    pub fn start_background<F, Fut>(handler: F) -> io::Result<Self>
    where
        F: Fn(Request) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Response> + Send + 'static,
    {
        Self::builder().start_background(handler)
    }

    fn new(running: Running, shared: Arc<Shared>) -> Self {
        Self { running, shared }
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.running.addr()
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr().port()
    }

    /// `http(s)://<ip>:<port><path>`; `path` should start with `/`.
    pub fn url(&self, path: &str) -> String {
        let addr = self.addr();
        let host = match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        self.url_with_host(&host, path)
    }

    /// `http(s)://<host>:<port><path>`, for names that a resolver override
    /// maps to this server (e.g. `shop.test`).
    pub fn url_with_host(&self, host: &str, path: &str) -> String {
        let scheme = if self.shared.tls { "https" } else { "http" };
        format!("{scheme}://{host}:{}{path}", self.port())
    }

    /// How many connections were accepted (a client keeping its
    /// connection open sends several requests on one).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many requests reached the handler (after TLS, after parsing).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(Ordering::SeqCst)
    }

    /// The most recent requests received (at most 256), oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        match self.shared.log.lock() {
            Ok(log) => log.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    acceptor: Option<TlsAcceptor>,
    handler: BoxedHandler,
    shared: Arc<Shared>,
    mut stop: Stop,
) {
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let _ = stream.set_nodelay(true);
    match acceptor {
        None => serve_http(TokioIo::new(stream), handler, shared, stop).await,
        Some(acceptor) => {
            // A client that never finishes its handshake must not pin the task.
            let handshake = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream));
            let tls = tokio::select! {
                _ = stop.requested() => return,
                result = handshake => match result {
                    Ok(Ok(tls)) => tls,
                    // A rejected certificate or a timeout: nothing to serve.
                    _ => return,
                },
            };
            serve_http(TokioIo::new(tls), handler, shared, stop).await;
        }
    }
}

async fn serve_http<I>(io: I, handler: BoxedHandler, shared: Arc<Shared>, mut stop: Stop)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
        let handler = Arc::clone(&handler);
        let shared = Arc::clone(&shared);
        async move {
            shared.requests.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = req.into_parts();
            if let Ok(mut log) = shared.log.lock() {
                if log.len() >= LOG_CAPACITY {
                    log.remove(0);
                }
                log.push(ReceivedRequest {
                    method: parts.method.clone(),
                    uri: parts.uri.clone(),
                    headers: parts.headers.clone(),
                });
            }
            let response = match Limited::new(body, MAX_REQUEST_BODY).collect().await {
                Ok(collected) => {
                    handler(http::Request::from_parts(parts, collected.to_bytes())).await
                }
                Err(_) => text(413, "request body too large or broken"),
            };
            Ok::<_, Infallible>(response.map(Full::new))
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10))
        .serve_connection(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.requested() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn raw_get(addr: SocketAddr, path: &str) -> String {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn serves_and_counts_requests() {
        let server = TestServer::start(|req| async move {
            text(200, format!("you asked for {}", req.uri().path()))
        })
        .await
        .unwrap();
        let answer = raw_get(server.addr(), "/hello").await;
        assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
        assert!(answer.ends_with("you asked for /hello"), "{answer}");
        assert_eq!(server.requests(), 1);
        assert_eq!(server.received()[0].uri.path(), "/hello");
        assert!(server.url("/x").starts_with("http://127.0.0.1:"));
    }

    #[test]
    fn background_server_works_without_a_runtime() {
        let server = TestServer::start_background(|_req| async { text(204, "") }).unwrap();
        let addr = server.addr();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = runtime.block_on(raw_get(addr, "/"));
        assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
        drop(server);
        // The listener is gone once drop returns.
        assert!(std::net::TcpStream::connect(addr).is_err());
    }

    #[tokio::test]
    async fn refuses_non_loopback_addresses() {
        let err = TestServer::builder()
            .bind(SocketAddr::from(([0, 0, 0, 0], 0)))
            .start(|_req| async { text(200, "") })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
