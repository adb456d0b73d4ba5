//! The one small HTTP/1.1 client every HTTP-speaking channel uses.
//!
//! One request per connection (notifications are rare; a pool would only
//! keep sockets open for nothing), rustls with aws-lc-rs passed explicitly
//! (never the process default), the system roots plus optional extra CAs,
//! one deadline for the whole exchange (resolving, connecting, TLS, sending,
//! the response head), a response body read of at most
//! [`MAX_RESPONSE_BODY`] bytes, redirects never followed.
//!
//! Errors name the destination by host only: the path and query of a
//! webhook URL are its credential and never appear in a message.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use keepup_trust::explain::{self, Remedy};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;

use crate::SendError;
use keepup_model::text::{base64, duration_compact, percent_decode};

/// Response bodies are read up to this many bytes, never more.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// A longer `Retry-After` than this is taken as this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Shared, cheap-to-clone state for the HTTP channels (and the TLS roots of
/// the e-mail channel): the trusted roots, loaded once on first use, and the
/// `User-Agent`.
#[derive(Clone)]
pub struct HttpClientContext {
    inner: Arc<Inner>,
}

struct Inner {
    use_system_roots: bool,
    extra: Vec<CertificateDer<'static>>,
    roots: OnceCell<Roots>,
    provider: Arc<CryptoProvider>,
    user_agent: String,
}

/// The roots every TLS connection trusts.
pub(crate) struct Roots {
    pub(crate) store: Arc<RootCertStore>,
    /// The same certificates as DER, for lettre's builder.
    pub(crate) ders: Arc<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for HttpClientContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpClientContext")
            .field("use_system_roots", &self.inner.use_system_roots)
            .field("extra_roots", &self.inner.extra.len())
            .field("user_agent", &self.inner.user_agent)
            .finish()
    }
}

impl Default for HttpClientContext {
    fn default() -> Self {
        Self::new()
    }
}

/// A CA file problem as the I/O error the builder returns.
fn ca_error(e: keepup_trust::CaFileError) -> std::io::Error {
    match e {
        keepup_trust::CaFileError::Read(io) => io,
        other => std::io::Error::new(std::io::ErrorKind::InvalidData, other.to_string()),
    }
}

/// Builds an [`HttpClientContext`].
#[derive(Debug, Clone)]
pub struct HttpClientContextBuilder {
    use_system_roots: bool,
    extra: Vec<CertificateDer<'static>>,
    user_agent: String,
}

impl HttpClientContextBuilder {
    /// Whether the system's roots are trusted (default true).
    pub fn system_roots(mut self, enabled: bool) -> Self {
        self.use_system_roots = enabled;
        self
    }

    /// Also trusts the CA certificates in this PEM text.
    pub fn ca_pem(mut self, pem: &[u8]) -> std::io::Result<Self> {
        let certs = keepup_trust::certs_from_pem(pem).map_err(ca_error)?;
        self.extra.extend(certs);
        Ok(self)
    }

    /// Also trusts the CA certificates in this PEM file.
    pub fn ca_file(mut self, path: &Path) -> std::io::Result<Self> {
        let certs = keepup_trust::read_ca_file(path).map_err(ca_error)?;
        self.extra.extend(certs);
        Ok(self)
    }

    /// The `User-Agent` sent (default `keepup/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The context.
    pub fn build(self) -> HttpClientContext {
        HttpClientContext {
            inner: Arc::new(Inner {
                use_system_roots: self.use_system_roots,
                extra: self.extra,
                roots: OnceCell::new(),
                provider: Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
                user_agent: self.user_agent,
            }),
        }
    }
}

impl HttpClientContext {
    /// Trusts the system roots, no extra CA.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, for extra CAs (tests, private servers) or without the
    /// system roots.
    pub fn builder() -> HttpClientContextBuilder {
        HttpClientContextBuilder {
            use_system_roots: true,
            extra: Vec::new(),
            user_agent: concat!("keepup/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// The crypto provider every TLS connection uses (aws-lc-rs).
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        Arc::clone(&self.inner.provider)
    }

    /// The `User-Agent`.
    pub(crate) fn user_agent(&self) -> &str {
        &self.inner.user_agent
    }

    /// The trusted roots, loaded (off the async threads) on first use.
    pub(crate) async fn roots(&self) -> &Roots {
        let use_system = self.inner.use_system_roots;
        let extra = self.inner.extra.clone();
        self.inner
            .roots
            .get_or_init(|| async move {
                let mut candidates = extra;
                if use_system {
                    match tokio::task::spawn_blocking(keepup_trust::load_system_roots).await {
                        Ok(loaded) => {
                            if let Some(why) = &loaded.unavailable {
                                tracing::warn!(why, "no system root certificates could be loaded");
                            }
                            candidates.extend(loaded.certs);
                        }
                        Err(e) => tracing::warn!(error = %e, "loading the system roots failed"),
                    }
                }
                let mut store = RootCertStore::empty();
                let mut ders = Vec::with_capacity(candidates.len());
                for cert in candidates {
                    if store.add(cert.clone()).is_ok() {
                        ders.push(cert);
                    }
                }
                Roots {
                    store: Arc::new(store),
                    ders: Arc::new(ders),
                }
            })
            .await
    }

    /// Sends one request and reads the response (status, headers, at most
    /// [`MAX_RESPONSE_BODY`] bytes of body). Any status is a response; only
    /// transport failures are errors.
    pub(crate) async fn send(&self, req: Request<'_>) -> Result<Response, SendError> {
        self.send_reading(req, MAX_RESPONSE_BODY).await
    }

    /// [`HttpClientContext::send`] reading up to `max_body` bytes of the
    /// response body.
    pub(crate) async fn send_reading(
        &self,
        req: Request<'_>,
        max_body: usize,
    ) -> Result<Response, SendError> {
        let deadline = Instant::now() + req.timeout;
        let target = Target::parse(req.url)
            .map_err(|why| SendError::permanent(format!("{}: {why}", req.what)))?;
        let label = format!("{} at {}", req.what, target.display);
        let timed_out = |phase: &str| {
            SendError::retryable(format!(
                "{label}: no answer within {} ({phase})",
                duration_compact(req.timeout)
            ))
        };

        let addrs: Vec<SocketAddr> = match target.host.parse::<std::net::IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, target.port)],
            Err(_) => timeout_at(
                deadline,
                tokio::net::lookup_host((target.host.as_str(), target.port)),
            )
            .await
            .map_err(|_| timed_out("resolving the name"))?
            .map_err(|e| {
                SendError::retryable(format!(
                    "{label}: the name does not resolve: {}",
                    io_reason(&e)
                ))
            })?
            .collect(),
        };
        let mut last_error = "the name has no address".to_owned();
        let mut connected = None;
        for addr in addrs {
            match timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    connected = Some(stream);
                    break;
                }
                Ok(Err(e)) => last_error = io_reason(&e),
                Err(_) => return Err(timed_out("connecting")),
            }
        }
        let Some(stream) = connected else {
            return Err(SendError::retryable(format!(
                "{label}: cannot connect: {last_error}"
            )));
        };
        let _ = stream.set_nodelay(true);

        let io: Box<dyn Io> = if target.tls {
            let roots = self.roots().await;
            let mut config = rustls::ClientConfig::builder_with_provider(self.provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| SendError::permanent(format!("{label}: TLS setup failed: {e}")))?
                .with_root_certificates(Arc::clone(&roots.store))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = ServerName::try_from(target.host.clone()).map_err(|_| {
                SendError::permanent(format!("{label}: not a valid TLS server name"))
            })?;
            let tls = timeout_at(
                deadline,
                TlsConnector::from(Arc::new(config)).connect(name, stream),
            )
            .await
            .map_err(|_| timed_out("in the TLS handshake"))?
            .map_err(|e| tls_error(&label, &target.host, &e))?;
            Box::new(tls)
        } else {
            Box::new(stream)
        };

        let (mut sender, connection) = timeout_at(
            deadline,
            hyper::client::conn::http1::handshake(TokioIo::new(io)),
        )
        .await
        .map_err(|_| timed_out("starting HTTP"))?
        .map_err(|e| SendError::retryable(format!("{label}: {e}")))?;
        let _driver = AbortOnDrop(tokio::spawn(async move {
            let _ = connection.await;
        }));

        let mut request = http::Request::new(Full::new(req.body));
        *request.method_mut() = req.method;
        *request.uri_mut() = target
            .path_and_query
            .parse()
            .map_err(|_| SendError::permanent(format!("{label}: invalid request path")))?;
        let headers = request.headers_mut();
        if let Ok(host) = HeaderValue::from_str(&target.host_header) {
            headers.insert(HOST, host);
        }
        if let Ok(ua) = HeaderValue::from_str(self.user_agent()) {
            headers.insert(USER_AGENT, ua);
        }
        if let Some(auth) = &target.basic_auth {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        for (name, value) in req.headers {
            headers.insert(name, value);
        }

        let response = timeout_at(deadline, sender.send_request(request))
            .await
            .map_err(|_| timed_out("waiting for the response"))?
            .map_err(|e| hyper_error(&label, &e))?;
        let (parts, mut body) = response.into_parts();
        // The status decides; a body that breaks off or dawdles after it is
        // kept as far as it came.
        let mut collected = Vec::new();
        while collected.len() < max_body {
            match timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let room = max_body - collected.len();
                        collected.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                _ => break,
            }
        }
        Ok(Response {
            label,
            status: parts.status,
            headers: parts.headers,
            body: Bytes::from(collected),
        })
    }
}

/// One request.
pub(crate) struct Request<'a> {
    /// What is being talked to, for messages ("Slack webhook").
    pub(crate) what: &'a str,
    pub(crate) method: Method,
    /// The full URL; may hold credentials, never shown.
    pub(crate) url: &'a Uri,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
    pub(crate) timeout: Duration,
}

impl<'a> Request<'a> {
    /// A JSON POST.
    pub(crate) fn json(
        what: &'a str,
        url: &'a Uri,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Self {
        Self {
            what,
            method: Method::POST,
            url,
            headers: vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body: Bytes::from(body.to_string()),
            timeout,
        }
    }

    /// Adds a header; a value that is not a valid header value is dropped.
    pub(crate) fn header(mut self, name: HeaderName, value: &str) -> Self {
        if let Ok(mut v) = HeaderValue::from_str(value) {
            v.set_sensitive(true);
            self.headers.push((name, v));
        }
        self
    }
}

/// A response, whatever its status.
#[derive(Debug)]
pub(crate) struct Response {
    /// `"<what> at <host:port>"`, for messages.
    pub(crate) label: String,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// At most [`MAX_RESPONSE_BODY`] bytes.
    pub(crate) body: Bytes,
}

impl Response {
    /// The body as JSON, if it is JSON.
    pub(crate) fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// `Retry-After` in seconds (HTTP dates are not worth a parser here).
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        let v = self.headers.get(http::header::RETRY_AFTER)?.to_str().ok()?;
        let secs: f64 = v.trim().parse().ok()?;
        (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_secs_f64(secs).min(MAX_RETRY_AFTER))
    }

    /// `Ok` for 2xx; otherwise the error the status calls for: 408, 429
    /// and 5xx are worth retrying, other 4xx and anything else are not.
    /// `detail` is the provider's own explanation when it sent one
    /// (already extracted from its error format); otherwise a cleaned-up
    /// excerpt of the body is used.
    pub(crate) fn check(&self, detail: Option<String>) -> Result<(), SendError> {
        let code = self.status.as_u16();
        if self.status.is_success() {
            return Ok(());
        }
        let detail = detail
            .filter(|d| !d.trim().is_empty())
            .or_else(|| Some(excerpt(&self.body)).filter(|e| !e.is_empty()));
        let mut message = format!("{} answered HTTP {}", self.label, status_text(self.status));
        if let Some(d) = detail {
            message.push_str(": ");
            message.push_str(&crate::truncate_chars(&d, 300));
        }
        let retryable = code == 408 || code == 429 || self.status.is_server_error();
        if self.status.is_redirection() {
            message.push_str(" (redirects are not followed: configure the final URL)");
        }
        Err(SendError {
            retryable,
            message,
            retry_after: if retryable { self.retry_after() } else { None },
        })
    }
}

fn status_text(s: StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("{} {r}", s.as_u16()),
        None => s.as_u16().to_string(),
    }
}

/// A printable one-line excerpt of a response body.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(1024)]);
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let squeezed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::truncate_chars(&squeezed, 200)
}

/// Replaces every occurrence of each secret in `text` with `***`.
pub(crate) fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 3 {
            out = out.replace(s, "***");
        }
    }
    out
}

/// [`redact`] applied to an error's message.
pub(crate) fn redact_error(mut e: SendError, secrets: &[&str]) -> SendError {
    e.message = redact(&e.message, secrets);
    e
}

/// Where a URL points, parsed for connecting.
struct Target {
    tls: bool,
    /// Without brackets for IPv6.
    host: String,
    port: u16,
    /// `host[:port]` as the Host header wants it.
    host_header: String,
    path_and_query: String,
    /// From `user:password@` in the URL.
    basic_auth: Option<HeaderValue>,
    /// `host:port`, safe to show.
    display: String,
}

impl Target {
    fn parse(url: &Uri) -> Result<Self, &'static str> {
        let tls = match url.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("only http:// and https:// URLs are supported"),
        };
        let authority = url.authority().ok_or("the URL has no host")?;
        let raw_host = authority.host();
        let host = raw_host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(raw_host)
            .to_owned();
        if host.is_empty() {
            return Err("the URL has no host");
        }
        let default_port = if tls { 443 } else { 80 };
        let port = authority.port_u16().unwrap_or(default_port);
        let host_header = if port == default_port {
            raw_host.to_owned()
        } else {
            format!("{raw_host}:{port}")
        };
        let basic_auth = authority
            .as_str()
            .rsplit_once('@')
            .map(|(userinfo, _)| {
                let decoded =
                    percent_decode(userinfo).map_err(|_| "invalid credentials in the URL")?;
                let mut v = HeaderValue::from_str(&format!("Basic {}", base64(decoded.as_bytes())))
                    .map_err(|_| "invalid credentials in the URL")?;
                v.set_sensitive(true);
                Ok::<_, &'static str>(v)
            })
            .transpose()?;
        let path_and_query = url
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".to_owned());
        Ok(Self {
            display: format!("{raw_host}:{port}"),
            tls,
            host,
            port,
            host_header,
            path_and_query,
            basic_auth,
        })
    }
}

/// Percent-encodes one URL path segment (everything but RFC 3986
/// unreserved characters).
pub(crate) fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `base` (an API root such as `https://api.example.com` or
/// `https://host/prefix/`) joined with `path` (starting with `/`) and an
/// optional query.
pub(crate) fn join_url(base: &Uri, path: &str, query: Option<&str>) -> Result<Uri, String> {
    let scheme = base.scheme_str().unwrap_or("https");
    let authority = base.authority().map(|a| a.as_str()).unwrap_or_default();
    let prefix = base.path().trim_end_matches('/');
    let mut url = format!("{scheme}://{authority}{prefix}{path}");
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url.parse()
        .map_err(|_| "cannot build the request URL".to_owned())
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Aborts the connection driver when the exchange is over.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An I/O error without the OS error number.
pub(crate) fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

fn tls_error(label: &str, host: &str, e: &std::io::Error) -> SendError {
    match explain::find_tls_error(e) {
        Some(tls) => {
            let sentence = explain::tls_error(tls, host, Remedy::SystemRoots);
            // A refused certificate stays refused until someone changes it.
            if explain::is_certificate_refusal(tls) {
                SendError::permanent(format!("{label}: {sentence}"))
            } else {
                SendError::retryable(format!("{label}: {sentence}"))
            }
        }
        None => SendError::retryable(format!("{label}: TLS handshake failed: {}", io_reason(e))),
    }
}

fn hyper_error(label: &str, e: &hyper::Error) -> SendError {
    let what = if e.is_parse() {
        "the answer is not valid HTTP"
    } else if e.is_incomplete_message() {
        "the connection closed before a complete answer"
    } else if e.is_canceled() || e.is_closed() {
        "the connection closed"
    } else {
        "the exchange failed"
    };
    SendError::retryable(format!("{label}: {what} ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_hide_paths_and_carry_userinfo_as_basic_auth() {
        let url: Uri = "https://u%40x:p@hooks.example.com/services/T/B/SECRET?x=1"
            .parse()
            .unwrap();
        let t = Target::parse(&url).unwrap();
        assert_eq!(t.display, "hooks.example.com:443");
        assert_eq!(t.host_header, "hooks.example.com");
        assert_eq!(t.path_and_query, "/services/T/B/SECRET?x=1");
        assert_eq!(
            t.basic_auth.unwrap().to_str().unwrap(),
            format!("Basic {}", base64(b"u@x:p"))
        );
        let t = Target::parse(&"http://[::1]:8080".parse().unwrap()).unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 8080));
        assert_eq!(t.host_header, "[::1]:8080");
        assert_eq!(t.path_and_query, "/");
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_segment("!room:example.org"), "%21room%3Aexample.org");
        assert_eq!(encode_segment("shop/checkout"), "shop%2Fcheckout");
    }

    #[test]
    fn urls_join_under_a_prefix() {
        let base: Uri = "https://ntfy.example.com/push/".parse().unwrap();
        assert_eq!(
            join_url(&base, "/v2/alerts", Some("a=b")).unwrap(),
            "https://ntfy.example.com/push/v2/alerts?a=b"
        );
        let base: Uri = "https://api.opsgenie.com".parse().unwrap();
        assert_eq!(
            join_url(&base, "/v2/alerts", None).unwrap(),
            "https://api.opsgenie.com/v2/alerts"
        );
    }

    #[test]
    fn secrets_are_redacted() {
        assert_eq!(
            redact("token abc123 seen", &["abc123", ""]),
            "token *** seen"
        );
    }
}
