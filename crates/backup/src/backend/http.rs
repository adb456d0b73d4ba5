//! The HTTP/1.1 client under the backends that speak HTTP (restic's REST
//! protocol, S3): connections, TLS, timeouts, size limits and retries, so
//! that every HTTP target behaves the same when the network does not.
//!
//! - hyper over TCP, a small pool of kept-alive connections;
//! - TLS by rustls with the aws-lc-rs provider, trusting the system roots
//!   or the target's CA file; certificate errors are never retried;
//! - connecting is bounded by the connect timeout, a request by the I/O
//!   timeout plus one second per `min_throughput` bytes moved, a response
//!   body by a size limit the caller gives;
//! - connection errors, timeouts and the answers the protocol calls
//!   transient (5xx for both) are retried with backoff, anything else is
//!   reported at once.
//!
//! A protocol is a [`Store`] (how files map to requests, how a directory
//! is listed, how a repository is created); [`HttpBackend`] makes any store
//! a rustic_core backend. rustic_core calls a backend from several rayon
//! threads at once, so each one owns an [`IoRuntime`] (two tokio workers)
//! and every call blocks on it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use std::future::Future;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, HOST, RANGE};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use keepup_trust::explain::{self, Remedy};
use rustic_core::{BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend};
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::{BackendError, TargetOptions, bounded, run_blocking, rustic_error};

/// Kept-alive connections kept for reuse.
const POOL_MAX: usize = 8;
/// Largest error body quoted in a message.
pub(crate) const ERROR_BODY_QUOTE: usize = 200;
/// Largest error body read at all.
pub(crate) const ERROR_BODY_LIMIT: usize = 64 << 10;

/// The tokio runtime a synchronous backend blocks on; shut down without
/// blocking when dropped (a plain drop panics inside an async context).
pub struct IoRuntime(Option<Runtime>);

impl IoRuntime {
    /// Two workers named `thread_name`.
    pub(crate) fn new(target: &str, thread_name: &str) -> Result<Self, BackendError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(thread_name)
            .enable_all()
            .build()
            .map(|rt| Self(Some(rt)))
            .map_err(|source| BackendError::Runtime {
                target: target.to_owned(),
                source,
            })
    }

    /// Runs `fut` on the runtime and waits for it (see [`run_blocking`]).
    pub(crate) fn block_on<T: Send + 'static>(
        &self,
        target: &str,
        fut: impl std::future::Future<Output = RusticResult<T>> + Send + 'static,
    ) -> RusticResult<T> {
        run_blocking(self.0.as_ref(), target, fut)
    }
}

impl Drop for IoRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// One attempt's failure: retried or not.
pub(crate) enum Failure {
    /// Connection refused/reset, timeout: worth another attempt.
    Transient(String),
    /// Everything else.
    Permanent(String),
}

impl Failure {
    fn text(self) -> String {
        match self {
            Failure::Transient(s) | Failure::Permanent(s) => s,
        }
    }
}

/// What a protocol makes of an answer the caller did not expect.
pub struct Verdict {
    /// Worth another attempt (a 5xx, S3's `SlowDown`).
    pub(crate) retry: bool,
    /// The status and the server's explanation, one line, bounded.
    pub(crate) text: String,
}

/// Reads an unexpected answer (status and at most [`ERROR_BODY_LIMIT`]
/// bytes of its body; empty for HEAD or when it was not read).
pub type Judge = fn(StatusCode, &[u8]) -> Verdict;

/// A protocol's own headers (authorization, signatures), added to each
/// attempt of a call: a signature may depend on the time.
pub trait Authorize: Send + Sync {
    /// Adds the headers for `call`; an error is a permanent failure.
    fn authorize(&self, call: &Call<'_>, headers: &mut HeaderMap) -> Result<(), String>;
}

/// A request body made of the chunks rustic_core hands over, without
/// copying them into one buffer.
pub(crate) struct ChunkBody {
    chunks: VecDeque<Bytes>,
    len: u64,
}

impl ChunkBody {
    fn new(chunks: &[Bytes]) -> Self {
        let chunks: VecDeque<Bytes> = chunks.iter().filter(|c| !c.is_empty()).cloned().collect();
        let len = chunks.iter().map(|c| c.len() as u64).sum();
        Self { chunks, len }
    }
}

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(
            self.get_mut()
                .chunks
                .pop_front()
                .map(|c| Ok(Frame::data(c))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.len)
    }
}

/// One logical request of [`HttpClient::call`]; built by [`Call::new`]
/// and its setters.
pub struct Call<'a> {
    /// What we were doing, for messages ("reading", "listing", ...).
    pub(crate) op: &'a str,
    pub(crate) method: Method,
    /// Path and query, exactly as sent.
    pub(crate) path: &'a str,
    /// A ranged read: `(offset, length)`, length > 0.
    pub(crate) range: Option<(u32, u32)>,
    pub(crate) body: Vec<Bytes>,
    /// Largest response body accepted.
    pub(crate) limit: usize,
    /// Statuses the caller handles itself; others are errors.
    pub(crate) ok: &'a [StatusCode],
    /// The protocol's headers for each attempt.
    pub(crate) auth: &'a dyn Authorize,
}

impl<'a> Call<'a> {
    /// A request without body expecting `200 OK` and a small answer.
    pub(crate) fn new(op: &'a str, method: Method, path: &'a str, auth: &'a dyn Authorize) -> Self {
        Self {
            op,
            method,
            path,
            range: None,
            body: Vec::new(),
            limit: ERROR_BODY_LIMIT,
            ok: &[StatusCode::OK],
            auth,
        }
    }

    /// Reads `length` (> 0) bytes at `offset`.
    pub(crate) fn range(mut self, offset: u32, length: u32) -> Self {
        self.range = Some((offset, length));
        self
    }

    /// Sends `body`.
    pub(crate) fn body(mut self, body: Vec<Bytes>) -> Self {
        self.body = body;
        self
    }

    /// Accepts a response body of up to `limit` bytes.
    pub(crate) fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// The statuses the caller handles.
    pub(crate) fn ok(mut self, ok: &'a [StatusCode]) -> Self {
        self.ok = ok;
        self
    }
}

/// A response the caller accepted.
pub struct Response {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// The connections to one HTTP(S) server, for one target.
pub struct HttpClient {
    /// The location as restic writes it, for messages.
    pub(crate) target: String,
    host: String,
    port: u16,
    tls: Option<Arc<rustls::ClientConfig>>,
    host_header: HeaderValue,
    pub(crate) opts: TargetOptions,
    judge: Judge,
    pool: Mutex<Vec<SendRequest<ChunkBody>>>,
}

impl HttpClient {
    /// A client for `host:port` sending `Host: host_header`; with `tls` the
    /// rustls configuration is built now (CA file read). Nothing is
    /// contacted.
    pub(crate) fn new(
        target: String,
        host: &str,
        port: u16,
        host_header: &str,
        tls: bool,
        opts: &TargetOptions,
        judge: Judge,
    ) -> Result<Self, BackendError> {
        let tls = if tls {
            Some(client_config(&target, opts)?)
        } else {
            None
        };
        let host_header =
            HeaderValue::from_str(host_header).map_err(|_| BackendError::Options {
                target: target.clone(),
                reason: "host name not usable in HTTP".into(),
            })?;
        Ok(Self {
            target,
            host: host.to_owned(),
            port,
            tls,
            host_header,
            opts: opts.clone(),
            judge,
            pool: Mutex::new(Vec::new()),
        })
    }

    /// A connection ready for a request: a pooled one or a new one.
    async fn sender(&self) -> Result<SendRequest<ChunkBody>, Failure> {
        loop {
            let pooled = match self.pool.lock() {
                Ok(mut p) => p.pop(),
                Err(_) => None,
            };
            let Some(mut s) = pooled else { break };
            if s.is_closed() {
                continue;
            }
            if s.ready().await.is_ok() {
                return Ok(s);
            }
        }
        tokio::time::timeout(self.opts.connect_timeout, self.connect())
            .await
            .map_err(|_| {
                Failure::Transient(format!(
                    "connecting to {}:{} timed out after {:?}",
                    self.host, self.port, self.opts.connect_timeout
                ))
            })?
    }

    async fn connect(&self) -> Result<SendRequest<ChunkBody>, Failure> {
        let addrs = tokio::net::lookup_host((self.host.as_str(), self.port))
            .await
            .map_err(|e| Failure::Transient(format!("cannot resolve {}: {e}", self.host)))?;
        let mut last = format!("{} resolves to no address", self.host);
        let mut tcp = None;
        for addr in addrs {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        let Some(tcp) = tcp else {
            return Err(Failure::Transient(last));
        };
        let _ = tcp.set_nodelay(true);
        let mut builder = hyper::client::conn::http1::Builder::new();
        builder.max_buf_size(256 << 10);
        let handshake_err =
            |e: hyper::Error| Failure::Transient(format!("HTTP handshake failed: {e}"));
        match &self.tls {
            None => {
                let (sender, conn) = builder
                    .handshake(TokioIo::new(tcp))
                    .await
                    .map_err(handshake_err)?;
                tokio::spawn(conn);
                Ok(sender)
            }
            Some(cfg) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| Failure::Permanent(format!("invalid TLS name: {e}")))?;
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(cfg))
                    .connect(name, tcp)
                    .await
                    .map_err(|e| match explain::find_tls_error(&e) {
                        // A certificate problem will not go away by retrying.
                        Some(tls) => Failure::Permanent(format!(
                            "TLS handshake with {} failed: {}",
                            self.host,
                            explain::tls_error(tls, &self.host, Remedy::CaFile)
                        )),
                        None => Failure::Transient(format!(
                            "TLS handshake with {} failed: {e}",
                            self.host
                        )),
                    })?;
                let (sender, conn) = builder
                    .handshake(TokioIo::new(tls))
                    .await
                    .map_err(handshake_err)?;
                tokio::spawn(conn);
                Ok(sender)
            }
        }
    }

    /// One request and its whole response body (at most `limit` bytes).
    async fn once(&self, call: &Call<'_>) -> Result<Response, Failure> {
        let mut sender = self.sender().await?;
        let mut req = Request::builder()
            .method(call.method.clone())
            .uri(call.path)
            .header(HOST, self.host_header.clone());
        if let Some((offset, length)) = call.range {
            let end = u64::from(offset) + u64::from(length.max(1)) - 1;
            req = req.header(RANGE, format!("bytes={offset}-{end}"));
        }
        let body = ChunkBody::new(&call.body);
        let upload = body.len;
        if matches!(call.method, Method::POST | Method::PUT) {
            req = req.header(CONTENT_LENGTH, body.len);
        }
        if let Some(h) = req.headers_mut() {
            call.auth.authorize(call, h).map_err(Failure::Permanent)?;
        }
        let req = req
            .body(body)
            .map_err(|e| Failure::Permanent(format!("invalid request: {e}")))?;
        let head_timeout = self.opts.request_timeout(upload);
        let resp = tokio::time::timeout(head_timeout, sender.send_request(req))
            .await
            .map_err(|_| Failure::Transient(format!("no answer within {head_timeout:?}")))?
            .map_err(|e| Failure::Transient(format!("request failed: {e}")))?;
        let status = resp.status();
        let (parts, incoming) = resp.into_parts();
        // Error bodies are only quoted: read little of them. A partial
        // answer is exactly what was asked for (a server ignoring the
        // range answers 200 with the whole file, up to `limit`).
        let limit = match (status, call.range) {
            (StatusCode::PARTIAL_CONTENT, Some((_, length))) => length as usize,
            (s, _) if s.is_success() => call.limit,
            _ => ERROR_BODY_LIMIT,
        };
        // A body announced too large is refused before it is waited for.
        let announced = parts
            .headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if status.is_success()
            && call.method != Method::HEAD
            && announced.is_some_and(|n| n > limit as u64)
        {
            return Err(Failure::Permanent(format!(
                "response larger than {limit} bytes (Content-Length {})",
                announced.unwrap_or_default()
            )));
        }
        let body = match self.read_body(incoming, limit).await {
            Ok(b) => b,
            // The connection is not reusable (body not drained): dropped.
            Err(_) if !status.is_success() => {
                return Ok(Response {
                    status,
                    headers: parts.headers,
                    body: Bytes::new(),
                });
            }
            Err(e) => return Err(e),
        };
        if !sender.is_closed()
            && let Ok(mut p) = self.pool.lock()
            && p.len() < POOL_MAX
        {
            p.push(sender);
        }
        Ok(Response {
            status,
            headers: parts.headers,
            body,
        })
    }

    /// A response body, at most `limit` bytes, arriving at no less than
    /// the target's minimum throughput (after the I/O timeout's grace).
    async fn read_body(
        &self,
        mut incoming: hyper::body::Incoming,
        limit: usize,
    ) -> Result<Bytes, Failure> {
        let start = tokio::time::Instant::now();
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut len = 0usize;
        loop {
            let allowed = self.opts.request_timeout(len as u64);
            let left = allowed.saturating_sub(start.elapsed());
            let frame = match tokio::time::timeout(left, incoming.frame()).await {
                Err(_) => {
                    return Err(Failure::Transient(format!(
                        "response body too slow ({len} bytes in {:?})",
                        start.elapsed()
                    )));
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(Failure::Transient(format!("reading the response: {e}")));
                }
                Ok(Some(Ok(f))) => f,
            };
            if let Ok(data) = frame.into_data() {
                len += data.len();
                if len > limit {
                    return Err(Failure::Permanent(format!(
                        "response larger than {limit} bytes"
                    )));
                }
                chunks.push(data);
            }
        }
        Ok(match chunks.len() {
            0 => Bytes::new(),
            1 => chunks.swap_remove(0),
            _ => {
                let mut all = Vec::with_capacity(len);
                for c in &chunks {
                    all.extend_from_slice(c);
                }
                Bytes::from(all)
            }
        })
    }

    /// A request with retries: statuses in `call.ok` are the caller's,
    /// transport failures and answers the protocol's [`Judge`] calls
    /// transient are retried, anything else is the error.
    pub(crate) async fn call(&self, call: Call<'_>) -> RusticResult<Response> {
        let attempts = self.opts.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(TargetOptions::backoff(attempt)).await;
            }
            match self.once(&call).await {
                Ok(r) if call.ok.contains(&r.status) => return Ok(r),
                Ok(r) => {
                    let verdict = (self.judge)(r.status, &r.body);
                    if !verdict.retry {
                        return Err(self.error(&call, &verdict.text));
                    }
                    last = verdict.text;
                }
                Err(Failure::Transient(t)) => last = t,
                Err(f @ Failure::Permanent(_)) => return Err(self.error(&call, &f.text())),
            }
            tracing::debug!(target = %self.target, op = call.op, path = call.path, attempt, error = %last, "HTTP request failed");
        }
        Err(self.error(&call, &format!("{last} (after {attempts} attempts)")))
    }

    fn error(&self, call: &Call<'_>, what: &str) -> Box<rustic_core::RusticError> {
        self.failed(call.op, call.path, what)
    }

    /// `TARGET: OP PATH: WHAT`.
    pub(crate) fn failed(&self, op: &str, path: &str, what: &str) -> Box<rustic_core::RusticError> {
        rustic_error(format!("{}: {op} {path}: {what}", self.target))
    }
}

/// A repository protocol over HTTP: where each file is, how a directory is
/// listed and a repository created. [`HttpBackend`] does the rest.
pub trait Store: Authorize + 'static {
    /// The connections.
    fn http(&self) -> &HttpClient;

    /// The request path of a file.
    fn file_path(&self, tpe: FileType, id: &Id) -> String;

    /// How a file is written: the method and the statuses of success.
    fn write_method(&self) -> (Method, &'static [StatusCode]);

    /// The files of a type with their sizes.
    fn list(&self, tpe: FileType) -> impl Future<Output = RusticResult<Vec<(Id, u32)>>> + Send;

    /// Prepares a new repository (REST: `?create=true`, S3: the bucket).
    fn create(&self) -> impl Future<Output = RusticResult<()>> + Send;
}

/// A repository reached over HTTP by the protocol `S`, for rustic_core.
pub struct HttpBackend<S> {
    store: Arc<S>,
    rt: IoRuntime,
}

impl<S: Store> HttpBackend<S> {
    pub(crate) fn from_store(store: S, rt: IoRuntime) -> Self {
        Self {
            store: Arc::new(store),
            rt,
        }
    }

    #[cfg(test)]
    pub(crate) fn store(&self) -> &S {
        &self.store
    }

    /// Runs `f` with the store on the runtime and waits for it.
    fn run<T, F, Fut>(&self, f: F) -> RusticResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Arc<S>) -> Fut,
        Fut: Future<Output = RusticResult<T>> + Send + 'static,
    {
        let fut = f(Arc::clone(&self.store));
        self.rt.block_on(&self.store.http().target, fut)
    }
}

impl<S: Store> std::fmt::Debug for HttpBackend<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpBackend")
            .field("target", &self.store.http().target)
            .finish_non_exhaustive()
    }
}

impl<S: Store> ReadBackend for HttpBackend<S> {
    fn location(&self) -> String {
        self.store.http().target.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.run(|s| async move { s.list(tpe).await })
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let path = self.store.file_path(tpe, id);
        self.run(|s| async move {
            let call = Call::new("reading", Method::GET, &path, &*s).limit(read_limit(tpe));
            Ok(s.http().call(call).await?.body)
        })
    }

    fn read_partial(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        offset: u32,
        length: u32,
    ) -> RusticResult<Bytes> {
        if length == 0 {
            return Ok(Bytes::new());
        }
        let path = self.store.file_path(tpe, id);
        self.run(|s| async move {
            let call = Call::new("reading", Method::GET, &path, &*s)
                .range(offset, length)
                .limit(read_limit(tpe))
                .ok(&[StatusCode::PARTIAL_CONTENT, StatusCode::OK]);
            let r = s.http().call(call).await?;
            ranged(r.status, r.body, offset, length)
                .map_err(|e| s.http().failed("reading", &path, &e))
        })
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.store.file_path(tpe, id)
    }
}

impl<S: Store> WriteBackend for HttpBackend<S> {
    fn create(&self) -> RusticResult<()> {
        self.run(|s| async move { s.create().await })
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let path = self.store.file_path(tpe, id);
        self.run(|s| async move {
            let (method, ok) = s.write_method();
            let call = Call::new("writing", method, &path, &*s)
                .body(content.into_vec())
                .ok(ok);
            s.http().call(call).await?;
            Ok(())
        })
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let path = self.store.file_path(tpe, id);
        self.run(|s| async move {
            let call = Call::new("removing", Method::DELETE, &path, &*s)
                .ok(&[StatusCode::OK, StatusCode::NO_CONTENT]);
            s.http().call(call).await?;
            Ok(())
        })
    }
}

/// The rustls configuration for an https target: the CA file's
/// certificates, or the system roots.
fn client_config(
    target: &str,
    opts: &TargetOptions,
) -> Result<Arc<rustls::ClientConfig>, BackendError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &opts.access.ca_file {
        let ca_err = |reason: String| BackendError::CaFile {
            target: target.to_owned(),
            path: path.clone(),
            reason,
        };
        let certs = keepup_trust::read_ca_file(path).map_err(|e| ca_err(e.to_string()))?;
        for c in certs {
            roots
                .add(c)
                .map_err(|e| ca_err(format!("unusable certificate: {e}")))?;
        }
    } else {
        roots.add_parsable_certificates(keepup_trust::load_system_roots().certs);
        if roots.is_empty() {
            return Err(BackendError::Options {
                target: target.to_owned(),
                reason: "no system CA certificates found; set ca_file".into(),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| BackendError::Options {
            target: target.to_owned(),
            reason: format!("TLS setup: {e}"),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// `HTTP <status>` and, when `body` has any, `: <text>` (control characters
/// dropped, at most [`ERROR_BODY_QUOTE`] bytes).
pub(crate) fn status_line(status: StatusCode, hint: &str, body: &str) -> String {
    let mut s = format!("HTTP {status}{hint}");
    let text: String = body.chars().filter(|c| !c.is_control()).collect();
    let text = bounded(&text, ERROR_BODY_QUOTE);
    if !text.is_empty() {
        s.push_str(": ");
        s.push_str(&text);
    }
    s
}

/// The largest file of a type we read whole.
pub(crate) fn read_limit(tpe: FileType) -> usize {
    match tpe {
        FileType::Config | FileType::Key => 1 << 20,
        FileType::Snapshot => 64 << 20,
        FileType::Index => 1 << 30,
        FileType::Pack => u32::MAX as usize,
    }
}

/// The exact `length` bytes at `offset` of a ranged read's answer: a 206
/// body as it is, or the slice of a whole file from a server that ignored
/// the range (200); anything shorter is an error text.
fn ranged(status: StatusCode, body: Bytes, offset: u32, length: u32) -> Result<Bytes, String> {
    let want = length as usize;
    let body = if status == StatusCode::OK {
        let start = offset as usize;
        if body.len() >= start + want {
            body.slice(start..start + want)
        } else {
            body.slice(0..0)
        }
    } else {
        body
    };
    if body.len() != want {
        return Err(format!(
            "asked for {want} bytes at offset {offset}, got {}",
            body.len()
        ));
    }
    Ok(body)
}
