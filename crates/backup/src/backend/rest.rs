//! A repository on a restic REST server (protocol v2): `rest-server`,
//! `rclone serve restic`, or anything speaking the same HTTP API.
//!
//! - `POST {base}?create=true` creates the repository;
//! - `HEAD/GET/POST/DELETE {base}{type}/{name}` (and `{base}config`) read,
//!   write and remove one file; a partial read is a `Range` request;
//! - `GET {base}{type}/` with `Accept: application/vnd.x.restic.rest.v2`
//!   lists `[{"name": .., "size": ..}]`.
//!
//! HTTP/1.1 over hyper, with a small pool of kept-alive connections; TLS by
//! rustls with the aws-lc-rs provider, trusting the system roots or the
//! target's CA file. rustic_core calls the backend from several rayon
//! threads at once, so the backend owns a two-thread tokio runtime and each
//! call blocks on it. Every request is bounded by the target's timeouts,
//! every response body by a size limit; connection errors, timeouts and
//! 5xx answers are retried with backoff, 4xx answers never.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH, HOST, RANGE};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustic_core::{BytesList, FileType, Id, ReadBackend, RusticResult, WriteBackend};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio::runtime::Runtime;

use super::{BackendError, Location, TargetOptions, bounded, run_blocking, rustic_error};

/// The listing format we ask for.
const V2: &str = "application/vnd.x.restic.rest.v2";
/// Kept-alive connections kept for reuse.
const POOL_MAX: usize = 8;
/// Largest listing accepted (a repository with a million packs lists in
/// about 100 MB).
const LIST_LIMIT: usize = 256 << 20;
/// Largest error body quoted in a message.
const ERROR_BODY_QUOTE: usize = 200;
/// Largest error body read at all.
const ERROR_BODY_LIMIT: usize = 64 << 10;

/// A restic REST server target.
pub struct RestBackend {
    inner: Arc<Inner>,
    /// `Option` only so that `Drop` can shut it down without blocking.
    rt: Option<Runtime>,
}

struct Inner {
    /// The location as restic writes it, for messages.
    target: String,
    host: String,
    port: u16,
    /// Starts and ends with `/`.
    base: String,
    tls: Option<Arc<rustls::ClientConfig>>,
    host_header: HeaderValue,
    authorization: Option<HeaderValue>,
    opts: TargetOptions,
    pool: Mutex<Vec<SendRequest<ChunkBody>>>,
}

impl std::fmt::Debug for RestBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestBackend")
            .field("target", &self.inner.target)
            .finish_non_exhaustive()
    }
}

impl Drop for RestBackend {
    fn drop(&mut self) {
        // A plain drop blocks and panics inside an async context.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// One request's failure: retried or not.
enum Failure {
    /// Connection refused/reset, timeout, 5xx: worth another attempt.
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

/// A request body made of the chunks rustic_core hands over, without
/// copying them into one buffer.
struct ChunkBody {
    chunks: VecDeque<Bytes>,
    len: u64,
}

impl ChunkBody {
    fn new(chunks: Vec<Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
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

/// One logical request of [`Inner::call`].
struct Call<'a> {
    /// What we were doing, for messages ("reading", "listing", ...).
    op: &'a str,
    method: Method,
    path: &'a str,
    /// A ranged read: `(offset, length)`, length > 0.
    range: Option<(u32, u32)>,
    body: Vec<Bytes>,
    /// Largest response body accepted.
    limit: usize,
    /// Statuses the caller handles itself; others are errors.
    ok: &'a [StatusCode],
}

#[derive(Deserialize)]
struct ListEntry {
    name: String,
    size: u64,
}

impl RestBackend {
    /// The backend for a `rest:` location; the TLS configuration is built
    /// now (CA file read), nothing is contacted.
    pub fn new(loc: &Location, opts: &TargetOptions) -> Result<Self, BackendError> {
        let Location::Rest {
            tls,
            user,
            host,
            port,
            path,
        } = loc
        else {
            return Err(BackendError::Options {
                target: loc.to_string(),
                reason: "not a rest: location".into(),
            });
        };
        let target = loc.to_string();
        let authorization = match (user, &opts.rest_password) {
            (Some(u), p) => {
                let pw = p.as_ref().map(|p| p.expose()).unwrap_or("");
                let mut v = HeaderValue::from_str(&format!(
                    "Basic {}",
                    base64(format!("{u}:{pw}").as_bytes())
                ))
                .map_err(|_| BackendError::Options {
                    target: target.clone(),
                    reason: "the REST user or password contains characters HTTP cannot carry"
                        .into(),
                })?;
                v.set_sensitive(true);
                Some(v)
            }
            (None, Some(_)) => {
                return Err(BackendError::Options {
                    target,
                    reason: "a REST password is set but the location names no user (write rest:https://USER@host/...)".into(),
                });
            }
            (None, None) => None,
        };
        let tls = if *tls {
            Some(client_config(&target, opts)?)
        } else {
            None
        };
        let host_text = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let host_header = HeaderValue::from_str(&host_text).map_err(|_| BackendError::Options {
            target: target.clone(),
            reason: "host name not usable in HTTP".into(),
        })?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("keepup-rest")
            .enable_all()
            .build()
            .map_err(|source| BackendError::Runtime {
                target: target.clone(),
                source,
            })?;
        Ok(Self {
            inner: Arc::new(Inner {
                target,
                host: host.clone(),
                port: *port,
                base: path.clone(),
                tls,
                host_header,
                authorization,
                opts: opts.clone(),
                pool: Mutex::new(Vec::new()),
            }),
            rt: Some(rt),
        })
    }

    fn block_on<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = RusticResult<T>> + Send + 'static,
    ) -> RusticResult<T> {
        run_blocking(self.rt.as_ref(), &self.inner.target, fut)
    }
}

/// The rustls configuration for an https target: the CA file's
/// certificates, or the system roots.
fn client_config(
    target: &str,
    opts: &TargetOptions,
) -> Result<Arc<rustls::ClientConfig>, BackendError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &opts.ca_file {
        let ca_err = |reason: String| BackendError::CaFile {
            target: target.to_owned(),
            path: path.clone(),
            reason,
        };
        let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .map_err(|e| ca_err(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ca_err("no certificate in the file".into()));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| ca_err(format!("unusable certificate: {e}")))?;
        }
    } else {
        let loaded = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(loaded.certs);
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

/// Standard base64 with padding, for the basic-auth header.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The largest file of a type we read whole.
fn read_limit(tpe: FileType) -> usize {
    match tpe {
        FileType::Config | FileType::Key => 1 << 20,
        FileType::Snapshot => 64 << 20,
        FileType::Index => 1 << 30,
        FileType::Pack => u32::MAX as usize,
    }
}

/// What a status means, for the error text.
fn status_text(status: StatusCode, body: &[u8]) -> String {
    let mut s = format!("HTTP {status}");
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            s.push_str(
                " (authentication failed: check the user in the location and the REST password)",
            );
        }
        _ => {}
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    let text = bounded(&text, ERROR_BODY_QUOTE);
    if !text.is_empty() {
        let _ = write!(s, ": {text}");
    }
    s
}

impl Inner {
    fn file_path(&self, tpe: FileType, id: &Id) -> String {
        match tpe {
            FileType::Config => format!("{}config", self.base),
            _ => format!("{}{}/{}", self.base, tpe.dirname(), id.to_hex().as_str()),
        }
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
                    .map_err(|e| {
                        // A certificate problem will not go away by retrying.
                        let text = format!("TLS handshake with {} failed: {e}", self.host);
                        if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) {
                            Failure::Permanent(text)
                        } else {
                            Failure::Transient(text)
                        }
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
    async fn once(
        &self,
        method: &Method,
        path: &str,
        range: Option<(u32, u32)>,
        body: &[Bytes],
        limit: usize,
    ) -> Result<(StatusCode, http::HeaderMap, Bytes), Failure> {
        let mut sender = self.sender().await?;
        let mut req = Request::builder()
            .method(method.clone())
            .uri(path)
            .header(HOST, self.host_header.clone())
            .header(ACCEPT, V2);
        if let Some(auth) = &self.authorization {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if let Some((offset, length)) = range {
            let end = u64::from(offset) + u64::from(length.max(1)) - 1;
            req = req.header(RANGE, format!("bytes={offset}-{end}"));
        }
        let body = ChunkBody::new(body.to_vec());
        let upload = body.len;
        if *method == Method::POST {
            req = req.header(CONTENT_LENGTH, body.len);
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
        let limit = match (status, range) {
            (StatusCode::PARTIAL_CONTENT, Some((_, length))) => length as usize,
            (s, _) if s.is_success() => limit,
            _ => ERROR_BODY_LIMIT,
        };
        let bytes = match self.read_body(incoming, limit).await {
            Ok(b) => b,
            // The connection is not reusable (body not drained): dropped.
            Err(_) if !status.is_success() => return Ok((status, parts.headers, Bytes::new())),
            Err(e) => return Err(e),
        };
        if !sender.is_closed()
            && let Ok(mut p) = self.pool.lock()
            && p.len() < POOL_MAX
        {
            p.push(sender);
        }
        Ok((status, parts.headers, bytes))
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

    /// A request with retries; `ok` lists the statuses the caller handles
    /// itself (anything else is an error). 5xx and transport failures are
    /// retried, 4xx never.
    async fn call(&self, call: Call<'_>) -> RusticResult<(StatusCode, http::HeaderMap, Bytes)> {
        let Call {
            op,
            method,
            path,
            range,
            body,
            limit,
            ok,
        } = call;
        let attempts = self.opts.attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                tokio::time::sleep(TargetOptions::backoff(attempt)).await;
            }
            match self.once(&method, path, range, &body, limit).await {
                Ok((status, headers, bytes)) if ok.contains(&status) => {
                    return Ok((status, headers, bytes));
                }
                Ok((status, _, bytes)) if status.is_server_error() => {
                    last = status_text(status, &bytes);
                }
                Ok((status, _, bytes)) => {
                    return Err(rustic_error(format!(
                        "{}: {op} {path}: {}",
                        self.target,
                        status_text(status, &bytes)
                    )));
                }
                Err(Failure::Transient(t)) => last = t,
                Err(f @ Failure::Permanent(_)) => {
                    return Err(rustic_error(format!(
                        "{}: {op} {path}: {}",
                        self.target,
                        f.text()
                    )));
                }
            }
            tracing::debug!(target = %self.target, op, path, attempt, error = %last, "REST request failed");
        }
        Err(rustic_error(format!(
            "{}: {op} {path}: {last} (after {attempts} attempts)",
            self.target
        )))
    }

    async fn list(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            let path = self.file_path(tpe, &Id::default());
            let (status, headers, _) = self
                .call(Call {
                    op: "checking",
                    method: Method::HEAD,
                    path: &path,
                    range: None,
                    body: Vec::new(),
                    limit: 0,
                    ok: &[StatusCode::OK, StatusCode::NOT_FOUND],
                })
                .await?;
            if status == StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            let size = headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0);
            return Ok(vec![(Id::default(), size)]);
        }
        let path = format!("{}{}/", self.base, tpe.dirname());
        let (status, _, body) = self
            .call(Call {
                op: "listing",
                method: Method::GET,
                path: &path,
                range: None,
                body: Vec::new(),
                limit: LIST_LIMIT,
                ok: &[StatusCode::OK, StatusCode::NOT_FOUND],
            })
            .await?;
        if status == StatusCode::NOT_FOUND {
            // A directory that was never written to (as restic).
            return Ok(Vec::new());
        }
        let entries: Vec<ListEntry> = serde_json::from_slice(&body).map_err(|e| {
            rustic_error(format!(
                "{}: listing {path}: not a restic REST v2 listing ({e}): {}",
                self.target,
                bounded(&String::from_utf8_lossy(&body), ERROR_BODY_QUOTE)
            ))
        })?;
        Ok(entries
            .into_iter()
            .filter_map(|e| {
                let id = Id::parse_some(&e.name, tpe)?;
                match u32::try_from(e.size) {
                    Ok(size) => Some((id, size)),
                    Err(_) => {
                        tracing::warn!(target = %self.target, name = %e.name, size = e.size, "file too large for the repository format, ignored");
                        None
                    }
                }
            })
            .collect())
    }
}

impl ReadBackend for RestBackend {
    fn location(&self) -> String {
        self.inner.target.clone()
    }

    fn list_with_size(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        let inner = Arc::clone(&self.inner);
        self.block_on(async move { inner.list(tpe).await })
    }

    fn read_full(&self, tpe: FileType, id: &Id) -> RusticResult<Bytes> {
        let inner = Arc::clone(&self.inner);
        let path = inner.file_path(tpe, id);
        self.block_on(async move {
            let (_, _, body) = inner
                .call(Call {
                    op: "reading",
                    method: Method::GET,
                    path: &path,
                    range: None,
                    body: Vec::new(),
                    limit: read_limit(tpe),
                    ok: &[StatusCode::OK],
                })
                .await?;
            Ok(body)
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
        let inner = Arc::clone(&self.inner);
        let path = inner.file_path(tpe, id);
        self.block_on(async move {
            let want = length as usize;
            let (status, _, body) = inner
                .call(Call {
                    op: "reading",
                    method: Method::GET,
                    path: &path,
                    range: Some((offset, length)),
                    body: Vec::new(),
                    limit: read_limit(tpe),
                    ok: &[StatusCode::PARTIAL_CONTENT, StatusCode::OK],
                })
                .await?;
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
                return Err(rustic_error(format!(
                    "{}: reading {path}: asked for {want} bytes at offset {offset}, got {}",
                    inner.target,
                    body.len()
                )));
            }
            Ok(body)
        })
    }

    fn warmup_path(&self, tpe: FileType, id: &Id) -> String {
        self.inner.file_path(tpe, id)
    }
}

impl WriteBackend for RestBackend {
    fn create(&self) -> RusticResult<()> {
        let inner = Arc::clone(&self.inner);
        self.block_on(async move {
            let path = format!("{}?create=true", inner.base);
            inner
                .call(Call {
                    op: "creating the repository",
                    method: Method::POST,
                    path: &path,
                    range: None,
                    body: Vec::new(),
                    limit: ERROR_BODY_LIMIT,
                    ok: &[StatusCode::OK, StatusCode::CREATED],
                })
                .await?;
            Ok(())
        })
    }

    fn write_bytes(
        &self,
        tpe: FileType,
        id: &Id,
        _cacheable: bool,
        content: BytesList,
    ) -> RusticResult<()> {
        let inner = Arc::clone(&self.inner);
        let path = inner.file_path(tpe, id);
        self.block_on(async move {
            inner
                .call(Call {
                    op: "writing",
                    method: Method::POST,
                    path: &path,
                    range: None,
                    body: content.into_vec(),
                    limit: ERROR_BODY_LIMIT,
                    ok: &[StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT],
                })
                .await?;
            Ok(())
        })
    }

    fn remove(&self, tpe: FileType, id: &Id, _cacheable: bool) -> RusticResult<()> {
        let inner = Arc::clone(&self.inner);
        let path = inner.file_path(tpe, id);
        self.block_on(async move {
            inner
                .call(Call {
                    op: "removing",
                    method: Method::DELETE,
                    path: &path,
                    range: None,
                    body: Vec::new(),
                    limit: ERROR_BODY_LIMIT,
                    ok: &[StatusCode::OK, StatusCode::NO_CONTENT],
                })
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn base64_matches_rfc4648() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn timeouts_grow_with_size() {
        let o = TargetOptions::default();
        assert_eq!(o.request_timeout(0), o.io_timeout);
        assert!(o.request_timeout(100 << 20) > o.io_timeout + Duration::from_secs(1000));
    }
}
