//! HTTP and HTTPS checks.
//!
//! Every run opens a fresh connection per hop, so the timing breakdown is
//! real: name resolution (none for an IP literal), TCP connect, TLS
//! handshake, time to the response head, total. A scenario's steps
//! ([`fetch_keeping`]) instead keep one connection per origin open for the
//! next step, as a browser does; a request on a kept connection has no
//! name resolution, connect or TLS time, only the time to its head. The body is read frame by
//! frame and never beyond `max_body_bytes`; response heads are limited by
//! hyper's buffer limits; every phase shares the run's deadline. A peer that
//! trickles bytes, sends headers forever or an endless body therefore costs
//! at most the timeout and a bounded amount of memory.
//!
//! For `https` URLs the certificate analysis of [`crate::tls`] runs on the
//! presented chain and its findings are merged. When `tls.verify` is true
//! and the chain is untrusted or incomplete, the name does not match, or the
//! certificate is outside its validity, the check is Down and **no request
//! is sent** (headers and credentials never reach an impostor). With
//! `verify = false` every certificate finding is Info and the request
//! proceeds.
//!
//! Redirects are followed up to `max_redirects` (each hop a fresh
//! connection); basic-auth credentials and `Authorization`/`Cookie` headers
//! are only sent to the origin of the configured URL.

use std::net::SocketAddr;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use keepup_config::{BodyAssertion, HttpSpec, JsonExpect, StatusRange};
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown};
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use crate::codes;
use crate::context::{ProbeContext, normalize_host};
use crate::tls::{self, Purpose};
use crate::util::{Fail, connect_first, display_url, finish, fmt_bytes, ms};
use keepup_model::text::{base64, duration_words};

/// The response head (status line and headers) may not exceed this.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Nor have more headers than this.
const MAX_HEADERS: usize = 128;
/// hyper's read buffer limit, which also bounds a single body frame.
const MAX_BUF_BYTES: usize = 256 * 1024;
/// Connections a scenario run keeps open at once (one per origin; the
/// oldest is closed to make room).
const MAX_KEPT_CONNECTIONS: usize = 8;
/// Used when the spec has no User-Agent.
const DEFAULT_USER_AGENT: &str = concat!("keepup/", env!("CARGO_PKG_VERSION"));

/// Runs one HTTP(S) check.
pub async fn probe(spec: &HttpSpec, ctx: &ProbeContext) -> Outcome {
    fetch(spec, ctx).await.0
}

/// The final response of [`fetch`], for probes built on HTTP (pages,
/// security.txt, status pages).
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    /// At most `max_body_bytes`.
    pub(crate) body: Vec<u8>,
    /// The URL that answered, after redirects.
    pub(crate) url: Uri,
    /// The `Set-Cookie` headers of the redirects that led to it (a shop
    /// often sets its session cookie on the way to its home page).
    pub(crate) redirect_cookies: Vec<HeaderValue>,
}

/// [`fetch`] for probes that read the answer (Prometheus, Elasticsearch,
/// status pages): the outcome so far and the page, or the outcome alone
/// when there is nothing to read (no answer, or Down or Unknown already; a
/// slow answer, Degraded, is still read).
pub(crate) async fn fetch_answer(
    spec: &HttpSpec,
    ctx: &ProbeContext,
) -> Result<(Outcome, Page), Outcome> {
    match fetch(spec, ctx).await {
        (outcome, Some(page)) if !matches!(outcome.status, Status::Down | Status::Unknown) => {
            Ok((outcome, page))
        }
        (outcome, _) => Err(outcome),
    }
}

/// Runs one HTTP(S) check like [`probe`] and also returns the final
/// response when its body was read completely or up to the limit.
pub(crate) async fn fetch(spec: &HttpSpec, ctx: &ProbeContext) -> (Outcome, Option<Page>) {
    fetch_on(spec, ctx, None).await
}

/// [`fetch`] sending each request on the connection `kept` holds for its
/// origin when there is one still open, and leaving the connection there
/// when its response was read to the end. A kept connection that the
/// server closed meanwhile is replaced by a new one, and so is one that
/// breaks before an answer to a request that was not sent or that is
/// idempotent (what browsers retry).
pub(crate) async fn fetch_keeping(
    spec: &HttpSpec,
    ctx: &ProbeContext,
    kept: &mut KeptConnections,
) -> (Outcome, Option<Page>) {
    fetch_on(spec, ctx, Some(kept)).await
}

/// Open connections kept between the requests of one scenario run, at most
/// one per origin (scheme, host, port) and [`MAX_KEPT_CONNECTIONS`] in all;
/// dropping it closes them.
#[derive(Default)]
pub(crate) struct KeptConnections {
    open: Vec<Connection>,
    /// Connections opened through it so far.
    opened: u32,
}

impl KeptConnections {
    /// How many connections requests through it have opened so far.
    pub(crate) fn opened(&self) -> u32 {
        self.opened
    }

    /// The connection kept for `origin`, unless there is none or the
    /// server has closed it.
    fn take(&mut self, origin: &Origin) -> Option<Connection> {
        let at = self.open.iter().position(|c| &c.origin == origin)?;
        let connection = self.open.swap_remove(at);
        (!connection.sender.is_closed()).then_some(connection)
    }

    fn keep(&mut self, connection: Connection) {
        if self.open.len() >= MAX_KEPT_CONNECTIONS {
            self.open.remove(0);
        }
        self.open.push(connection);
    }
}

/// Scheme (https or not), normalized host and port.
type Origin = (bool, String, u16);

/// An open HTTP/1.1 connection: where it goes, how to send on it, and the
/// task driving it, aborted (closing the socket) when dropped.
struct Connection {
    origin: Origin,
    sender: SendRequest<Full<Bytes>>,
    remote: SocketAddr,
    /// The TLS handshake's evidence, on an https connection.
    tls_evidence: Option<TlsEvidence>,
    _driver: AbortOnDrop,
}

/// Handshake info, certificate summaries and verdict of an https hop.
type TlsEvidence = (Value, Value, String);

/// What sending a request on a connection came to.
enum Exchange {
    /// The response head arrived.
    Answered(Box<Fetched>),
    /// The failure is recorded in the outcome.
    Failed,
    /// A kept connection broke before answering a request that can be
    /// sent again on a new one.
    Lost,
}

async fn fetch_on(
    spec: &HttpSpec,
    ctx: &ProbeContext,
    kept: Option<&mut KeptConnections>,
) -> (Outcome, Option<Page>) {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let mut run = Run {
        ctx: &ctx,
        kept,
        spec,
        outcome: Outcome::new(Status::Up, ""),
        timing: TimingBreakdown::default(),
        roots: None,
        tls_evidence: None,
        page: None,
    };
    let origin = Target::parse(&spec.url).ok().map(|t| t.origin());
    let mut url = spec.url.clone();
    let mut method = spec.method.clone();
    let mut body = spec.body.clone();
    let mut chain = Redirects::new(&url, spec.max_redirects);
    let mut redirect_cookies: Vec<HeaderValue> = Vec::new();
    let mut redirects: Vec<Value> = Vec::new();

    let final_response = loop {
        let target = match Target::parse(&url) {
            Ok(t) => t,
            Err(text) => {
                run.outcome.push(Finding::new(
                    codes::PROBE_INVALID_TARGET,
                    Severity::Warning,
                    text,
                ));
                run.outcome.worsen(Status::Unknown);
                break None;
            }
        };
        let trusted_origin = origin.as_ref() == Some(&target.origin());
        let Some(response) = run
            .fetch(&target, &method, body.as_deref(), trusted_origin)
            .await
        else {
            break None;
        };
        let status = response.status;
        if !spec.follow_redirects {
            break Some((target, response));
        }
        let hop = |location: &str| {
            json!({
                "url": display_url(&url),
                "status": status.as_u16(),
                "location": location,
            })
        };
        match chain.follow(&url, &method, status, &response.headers) {
            Hop::Final => break Some((target, response)),
            Hop::Invalid(why) => {
                run.outcome.push(Finding::new(
                    codes::HTTP_REDIRECT_INVALID,
                    Severity::Critical,
                    format!(
                        "{} redirects to an unusable location ({why})",
                        display_url(&url)
                    ),
                ));
                break None;
            }
            Hop::Loop { next, location } => {
                redirects.push(hop(&location));
                run.outcome.push(Finding::new(
                    codes::HTTP_REDIRECT_LOOP,
                    Severity::Critical,
                    format!(
                        "redirect loop: {} leads back to {}",
                        display_url(&url),
                        display_url(&next)
                    ),
                ));
                break None;
            }
            Hop::TooMany { location } => {
                redirects.push(hop(&location));
                run.outcome.push(Finding::new(
                    codes::HTTP_TOO_MANY_REDIRECTS,
                    Severity::Critical,
                    format!(
                        "more than {} redirects starting from {}",
                        spec.max_redirects,
                        display_url(&spec.url)
                    ),
                ));
                break None;
            }
            Hop::Next {
                url: next,
                method: next_method,
                drop_body,
                location,
            } => {
                redirects.push(hop(&location));
                redirect_cookies
                    .extend(response.headers.get_all(header::SET_COOKIE).iter().cloned());
                if drop_body {
                    body = None;
                }
                method = next_method;
                url = next;
            }
        }
    };

    let details = &mut run.outcome.evidence.details;
    details.insert("redirects".into(), Value::Array(redirects));
    details.insert("final_url".into(), Value::String(display_url(&url)));
    if let Some((tls_info, certificates, verification)) = run.tls_evidence.take() {
        details.insert("tls".into(), tls_info);
        details.insert("certificates".into(), certificates);
        details.insert("verification".into(), Value::String(verification));
    }

    let ok_message = match final_response {
        Some((_target, response)) => run.judge(response, started).await,
        None => String::new(),
    };
    run.timing.total_ms = Some(ms(started.elapsed()));
    let mut outcome = run.outcome;
    outcome.evidence.timing = Some(run.timing);
    let page = run.page.map(|(status, headers, body)| Page {
        status,
        headers,
        body,
        url,
        redirect_cookies,
    });
    (finish(outcome, ok_message, started), page)
}

/// One run's mutable state.
struct Run<'a> {
    ctx: &'a ProbeContext,
    /// The connections a scenario run keeps between its requests.
    kept: Option<&'a mut KeptConnections>,
    spec: &'a HttpSpec,
    outcome: Outcome,
    /// Timing of the latest hop (total covers the whole run).
    timing: TimingBreakdown,
    /// Trusted roots, loaded at the first https hop.
    roots: Option<std::sync::Arc<rustls::RootCertStore>>,
    /// Handshake info, certificate summaries and verdict of the latest
    /// https hop.
    tls_evidence: Option<TlsEvidence>,
    /// The final response's status, headers and body, once read.
    page: Option<(StatusCode, HeaderMap, Vec<u8>)>,
}

/// A response head with its body still to read.
struct Fetched {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: Incoming,
    /// The connection it came on: alive while the body is read, closed
    /// when dropped, or kept for the next request.
    connection: Connection,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Run<'_> {
    fn fail(&mut self, fail: Fail) {
        let finding = fail.into_finding(self.ctx);
        self.outcome.push(finding);
    }

    /// Pushes a finding unless an identical one is already there (several
    /// https hops to the same host see the same certificate).
    fn push_once(&mut self, finding: Finding) {
        if !self.outcome.findings.contains(&finding) {
            self.outcome.push(finding);
        }
    }

    /// One hop: connect, (TLS), send, read the head; or send on the
    /// connection kept for the target's origin. Failures are recorded in
    /// the outcome and give `None`.
    async fn fetch(
        &mut self,
        target: &Target,
        method: &Method,
        body: Option<&str>,
        trusted_origin: bool,
    ) -> Option<Fetched> {
        let ctx = self.ctx;
        self.timing = TimingBreakdown::default();
        let origin = target.origin();
        let kept = self.kept.as_deref_mut().and_then(|k| k.take(&origin));
        if let Some(mut connection) = kept {
            // Ready once the previous response is done, unless the server
            // closed it meanwhile.
            let ready = ctx
                .within("waiting for a kept connection", connection.sender.ready())
                .await;
            if let Ok(Ok(())) = ready {
                self.outcome
                    .evidence
                    .insert("remote_address", connection.remote.to_string());
                self.tls_evidence.clone_from(&connection.tls_evidence);
                match self
                    .exchange(connection, target, method, body, trusted_origin, true)
                    .await
                {
                    Exchange::Answered(fetched) => return Some(*fetched),
                    Exchange::Failed => return None,
                    Exchange::Lost => self.timing = TimingBreakdown::default(),
                }
            }
        }
        let resolution = match ctx.resolve(&target.host, target.port).await {
            Ok(r) => r,
            Err(fail) => return self.fail_none(fail),
        };
        self.timing.dns_ms = resolution.dns.map(ms);
        let connected = match connect_first(ctx, &resolution.addrs).await {
            Ok(c) => c,
            Err(fail) => return self.fail_none(fail),
        };
        self.timing.connect_ms = Some(ms(connected.elapsed));
        let remote: SocketAddr = connected.remote;
        self.outcome
            .evidence
            .insert("remote_address", remote.to_string());

        let io: Box<dyn Io> = if target.https {
            let roots = match &self.roots {
                Some(roots) => std::sync::Arc::clone(roots),
                None => match ctx.trust_roots(self.spec.tls.ca_file.as_deref()).await {
                    Ok(roots) => {
                        for finding in roots.findings {
                            self.push_once(finding);
                        }
                        self.roots = Some(std::sync::Arc::clone(&roots.store));
                        roots.store
                    }
                    Err(finding) => {
                        self.outcome.push(finding);
                        self.outcome.worsen(Status::Unknown);
                        return None;
                    }
                },
            };
            let hs =
                match tls::handshake(ctx, roots, &target.host, connected.stream, &[b"http/1.1"])
                    .await
                {
                    Ok(hs) => hs,
                    Err(fail) => return self.fail_none(fail),
                };
            self.timing.tls_ms = Some(ms(hs.elapsed));
            let judged = tls::judge(
                ctx,
                &hs.captured,
                &target.host,
                &self.spec.tls,
                Purpose::Request,
            )
            .await;
            for finding in judged.findings {
                self.push_once(finding);
            }
            self.tls_evidence = Some((
                hs.info.to_json(),
                Value::Array(
                    judged
                        .analysis
                        .certificates
                        .iter()
                        .map(tls::analysis::CertSummary::to_json)
                        .collect(),
                ),
                judged.verification,
            ));
            if judged.blocked {
                // Verification failed: nothing is sent to this server.
                return None;
            }
            Box::new(hs.stream)
        } else {
            Box::new(connected.stream)
        };

        let handshake = hyper::client::conn::http1::Builder::new()
            .max_buf_size(MAX_BUF_BYTES)
            .max_header_size(MAX_HEAD_BYTES)
            .max_headers(MAX_HEADERS)
            .handshake::<_, Full<Bytes>>(TokioIo::new(io))
            .await;
        let (sender, connection) = match handshake {
            Ok(pair) => pair,
            Err(e) => return self.fail_none(Fail::Finding(hyper_failure(&e))),
        };
        let driver = AbortOnDrop(tokio::spawn(async move {
            // Errors surface through `send_request` and the body.
            let _ = connection.await;
        }));
        if let Some(kept) = self.kept.as_deref_mut() {
            kept.opened += 1;
        }
        let connection = Connection {
            origin,
            sender,
            remote,
            tls_evidence: self.tls_evidence.clone(),
            _driver: driver,
        };
        match self
            .exchange(connection, target, method, body, trusted_origin, false)
            .await
        {
            Exchange::Answered(fetched) => Some(*fetched),
            Exchange::Failed | Exchange::Lost => None,
        }
    }

    /// Sends the request on `connection` and waits for the response head.
    async fn exchange(
        &mut self,
        mut connection: Connection,
        target: &Target,
        method: &Method,
        body: Option<&str>,
        trusted_origin: bool,
        reused: bool,
    ) -> Exchange {
        let request = match self.build_request(target, method, body, trusted_origin) {
            Ok(r) => r,
            Err(text) => {
                self.outcome.push(Finding::new(
                    codes::PROBE_INVALID_TARGET,
                    Severity::Warning,
                    text,
                ));
                self.outcome.worsen(Status::Unknown);
                return Exchange::Failed;
            }
        };
        let sent = Instant::now();
        let response = match self
            .ctx
            .within(
                "waiting for the response headers",
                connection.sender.try_send_request(request),
            )
            .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(e))
                if reused
                    && (e.message().is_some()
                        || (is_idempotent(method) && closed_before_answer(e.error()))) =>
            {
                return Exchange::Lost;
            }
            Ok(Err(e)) => {
                self.fail(Fail::Finding(hyper_failure(e.error())));
                return Exchange::Failed;
            }
            Err(fail) => {
                self.fail(fail);
                return Exchange::Failed;
            }
        };
        self.timing.first_byte_ms = Some(ms(sent.elapsed()));
        let (parts, body) = response.into_parts();
        let mut interesting = serde_json::Map::new();
        for name in [header::SERVER, header::CONTENT_TYPE, header::LOCATION] {
            if let Some(value) = parts.headers.get(&name) {
                let text: String = String::from_utf8_lossy(value.as_bytes())
                    .chars()
                    .take(200)
                    .collect();
                interesting.insert(name.as_str().to_owned(), Value::String(text));
            }
        }
        let evidence = &mut self.outcome.evidence;
        evidence.insert("status_code", parts.status.as_u16());
        evidence.insert("http_version", format!("{:?}", parts.version));
        evidence.insert("headers", Value::Object(interesting));
        Exchange::Answered(Box::new(Fetched {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
            connection,
        }))
    }

    fn fail_none<T>(&mut self, fail: Fail) -> Option<T> {
        self.fail(fail);
        None
    }

    fn build_request(
        &self,
        target: &Target,
        method: &Method,
        body: Option<&str>,
        trusted_origin: bool,
    ) -> Result<http::Request<Full<Bytes>>, String> {
        let spec = self.spec;
        let mut headers = HeaderMap::new();
        let host = HeaderValue::from_str(&target.host_header)
            .map_err(|_| format!("{} is not a valid Host header", target.host_header))?;
        headers.insert(header::HOST, host);
        let agent = if spec.user_agent.is_empty() {
            DEFAULT_USER_AGENT
        } else {
            spec.user_agent.as_str()
        };
        let agent =
            HeaderValue::from_str(agent).map_err(|_| "the User-Agent is not a valid header")?;
        headers.insert(header::USER_AGENT, agent);
        headers.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        if self.kept.is_none() {
            // One request per connection, by design: the next run's
            // timing includes its own connect and handshake.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        for (name, value) in &spec.headers {
            if !trusted_origin && is_credential_header(name) {
                continue;
            }
            headers.insert(name.clone(), value.clone());
        }
        if let (Some(auth), true) = (&spec.basic_auth, trusted_origin) {
            let token = base64(format!("{}:{}", auth.username, auth.password.expose()).as_bytes());
            let mut value = HeaderValue::from_str(&format!("Basic {token}"))
                .map_err(|_| "the basic-auth credentials cannot form a header")?;
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
        let mut request = http::Request::builder()
            .method(method.clone())
            .uri(target.path_and_query.as_str())
            .version(Version::HTTP_11)
            .body(Full::new(
                body.map(|b| Bytes::from(b.to_owned())).unwrap_or_default(),
            ))
            .map_err(|e| format!("the request cannot be built: {e}"))?;
        *request.headers_mut() = headers;
        Ok(request)
    }

    /// Reads the final body (bounded) and judges status, assertions and
    /// latency. Returns the message for a healthy outcome.
    async fn judge(&mut self, mut response: Fetched, started: Instant) -> String {
        let spec = self.spec;
        let cap = usize::try_from(spec.max_body_bytes).unwrap_or(usize::MAX);
        let mut body: Vec<u8> = Vec::with_capacity(cap.min(64 * 1024));
        let mut truncated = false;
        loop {
            let frame = match self
                .ctx
                .within("reading the body", response.body.frame())
                .await
            {
                Ok(frame) => frame,
                Err(fail) => {
                    self.outcome.evidence.insert("body_bytes", body.len());
                    self.fail(fail);
                    return String::new();
                }
            };
            match frame {
                None => break,
                Some(Err(e)) => {
                    self.outcome.evidence.insert("body_bytes", body.len());
                    self.outcome.push(Finding::new(
                        codes::HTTP_BODY_INCOMPLETE,
                        Severity::Critical,
                        format!("the body broke off: {}", describe_hyper(&e)),
                    ));
                    return String::new();
                }
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else {
                        continue; // trailers
                    };
                    let room = cap - body.len();
                    if data.len() > room {
                        body.extend_from_slice(&data[..room]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&data);
                }
            }
        }
        // A connection whose response was read to its end can carry the
        // next request; otherwise close it now rather than read the rest.
        drop(response.body);
        let server_closes = response
            .headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        if let (false, false, Some(kept)) = (truncated, server_closes, self.kept.as_deref_mut()) {
            kept.keep(response.connection);
        }
        let status = response.status;
        let evidence = &mut self.outcome.evidence;
        evidence.insert("body_bytes", body.len());
        evidence.insert("body_truncated", truncated);
        evidence.insert("http_version", format!("{:?}", response.version));
        if truncated {
            self.outcome.push(Finding::new(
                codes::HTTP_BODY_TOO_LARGE,
                Severity::Warning,
                format!(
                    "the body is larger than the {} limit; only the first {} were checked",
                    fmt_bytes(spec.max_body_bytes),
                    fmt_bytes(spec.max_body_bytes)
                ),
            ));
        }

        let default_range = [StatusRange {
            low: 200,
            high: 299,
        }];
        let ranges: &[StatusRange] = if spec.expect_status.is_empty() {
            &default_range
        } else {
            &spec.expect_status
        };
        let status_line = format!(
            "HTTP {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        )
        .trim_end()
        .to_owned();
        if !ranges.iter().any(|r| r.contains(status.as_u16())) {
            self.outcome.push(Finding::new(
                codes::HTTP_STATUS_UNEXPECTED,
                Severity::Critical,
                format!("{status_line}, expected {}", describe_ranges(ranges)),
            ));
        }

        // Regexes over and JSON parsing of up to max_body_bytes: CPU work.
        let (findings, json_values) = if spec.assertions.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let _cpu = self.ctx.cpu_permit().await;
            check_assertions(&spec.assertions, &body)
        };
        for finding in findings {
            self.outcome.push(finding);
        }
        if !json_values.is_empty() {
            self.outcome
                .evidence
                .insert("json_mismatches", Value::Array(json_values));
        }
        self.page = Some((status, std::mem::take(&mut response.headers), body));

        let total = started.elapsed();
        if let Some(limit) = spec.down_latency.filter(|limit| total > *limit) {
            self.outcome.push(Finding::new(
                codes::HTTP_LATENCY_CRITICAL,
                Severity::Critical,
                format!(
                    "the response took longer than the {} down threshold",
                    duration_words(limit)
                ),
            ));
        } else if let Some(limit) = spec.degraded_latency.filter(|limit| total > *limit) {
            self.outcome.push(Finding::new(
                codes::HTTP_LATENCY_HIGH,
                Severity::Warning,
                format!(
                    "the response took longer than the {} degraded threshold",
                    duration_words(limit)
                ),
            ));
        }
        status_line
    }
}

/// Checks the body assertions: one finding per failed assertion, and for
/// failed JSON assertions the values found (for evidence: the finding texts
/// leave them out so that they stay the same from run to run).
pub(crate) fn check_assertions<'a>(
    assertions: impl IntoIterator<Item = &'a BodyAssertion>,
    body: &[u8],
) -> (Vec<Finding>, Vec<Value>) {
    let text = String::from_utf8_lossy(body);
    let mut json: Option<Result<Value, String>> = None;
    let mut findings = Vec::new();
    let mut json_values = Vec::new();
    let fail = |code: &str, text: String| Finding::new(code, Severity::Critical, text);
    for assertion in assertions {
        match assertion {
            BodyAssertion::Contains(needle) if !text.contains(needle.as_str()) => {
                findings.push(fail(
                    codes::HTTP_KEYWORD_MISSING,
                    format!("the body does not contain {needle:?}"),
                ))
            }
            BodyAssertion::NotContains(needle) if text.contains(needle.as_str()) => {
                findings.push(fail(
                    codes::HTTP_KEYWORD_PRESENT,
                    format!("the body contains {needle:?}, which must not appear"),
                ))
            }
            BodyAssertion::Matches(re) if !re.is_match(&text) => findings.push(fail(
                codes::HTTP_REGEX_NO_MATCH,
                format!("the body does not match /{}/", re.as_str()),
            )),
            BodyAssertion::NotMatches(re) if re.is_match(&text) => findings.push(fail(
                codes::HTTP_REGEX_MATCHED,
                format!("the body matches /{}/, which it must not", re.as_str()),
            )),
            BodyAssertion::Json(a) => {
                let parsed = json.get_or_insert_with(|| {
                    serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
                });
                let value = match parsed {
                    Ok(value) => value,
                    Err(why) => {
                        let finding = fail(
                            codes::HTTP_JSON_INVALID,
                            format!("the body is not valid JSON: {why}"),
                        );
                        if !findings.contains(&finding) {
                            findings.push(finding);
                        }
                        continue;
                    }
                };
                let found = value.pointer(&a.pointer);
                let problem = match (&a.expect, found) {
                    (JsonExpect::Present, None) => {
                        Some(format!("nothing at JSON pointer {}", a.pointer))
                    }
                    (JsonExpect::Absent, Some(_)) => Some(format!(
                        "JSON pointer {} is present but must be absent",
                        a.pointer
                    )),
                    (JsonExpect::Equals(expected), None) => Some(format!(
                        "nothing at JSON pointer {}, expected {}",
                        a.pointer,
                        short_json(expected)
                    )),
                    (JsonExpect::Equals(expected), Some(actual))
                        if !json_equals(expected, actual) =>
                    {
                        Some(format!(
                            "JSON pointer {} is not {}",
                            a.pointer,
                            short_json(expected)
                        ))
                    }
                    _ => None,
                };
                if let Some(text) = problem {
                    findings.push(fail(codes::HTTP_JSON_MISMATCH, text));
                    json_values.push(json!({
                        "pointer": a.pointer,
                        "found": found.map(short_json),
                    }));
                }
            }
            _ => {}
        }
    }
    (findings, json_values)
}

/// Equality with the documented leniency: a string in the spec equals a
/// JSON number or bool with the same text, and numbers compare by value
/// (`1` equals `1.0`).
fn json_equals(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), Value::Number(n)) => {
            s == &n.to_string()
                || matches!((s.parse::<f64>(), n.as_f64()), (Ok(a), Some(b)) if a == b)
        }
        (Value::String(s), Value::Bool(b)) => s == &b.to_string(),
        (Value::Number(a), Value::Number(b)) => a == b || a.as_f64() == b.as_f64(),
        _ => expected == actual,
    }
}

fn short_json(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 80 {
        let cut: String = text.chars().take(80).collect();
        format!("{cut}…")
    } else {
        text
    }
}

pub(crate) fn describe_ranges(ranges: &[StatusRange]) -> String {
    ranges
        .iter()
        .map(|r| {
            if r.low == r.high {
                r.low.to_string()
            } else {
                format!("{}-{}", r.low, r.high)
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Methods a client may send again after a connection broke (RFC 9110
/// §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    [
        Method::GET,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::PUT,
        Method::DELETE,
    ]
    .contains(method)
}

/// Whether `e` is the connection closing or breaking rather than a bad
/// answer.
fn closed_before_answer(e: &hyper::Error) -> bool {
    e.is_incomplete_message() || e.is_canceled() || e.is_closed() || io_source(e).is_some()
}

fn is_credential_header(name: &HeaderName) -> bool {
    name == header::AUTHORIZATION || name == header::COOKIE || name == header::PROXY_AUTHORIZATION
}

/// A hyper error as a finding.
fn hyper_failure(e: &hyper::Error) -> Finding {
    let (code, text) = if e.is_parse_too_large() {
        (
            codes::HTTP_PROTOCOL_ERROR,
            format!(
                "the response head is larger than {MAX_HEAD_BYTES} bytes or has more than {MAX_HEADERS} headers"
            ),
        )
    } else if e.is_parse() || e.is_parse_status() {
        (
            codes::HTTP_PROTOCOL_ERROR,
            format!(
                "the server's answer is not valid HTTP: {}",
                describe_hyper(e)
            ),
        )
    } else if closed_before_answer(e) {
        (
            codes::HTTP_CONNECTION_CLOSED,
            "the server closed the connection without a complete response".to_owned(),
        )
    } else {
        (
            codes::HTTP_PROTOCOL_ERROR,
            format!("the HTTP exchange failed: {}", describe_hyper(e)),
        )
    };
    Finding::new(code, Severity::Critical, text)
}

fn io_source(e: &hyper::Error) -> Option<&std::io::Error> {
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = err.source();
    }
    None
}

fn describe_hyper(e: &hyper::Error) -> String {
    match io_source(e) {
        Some(io) => format!("{e}: {}", crate::util::io_reason(io)),
        None => e.to_string(),
    }
}

/// A parsed http(s) URL.
struct Target {
    https: bool,
    host: String,
    port: u16,
    host_header: String,
    path_and_query: String,
}

impl Target {
    fn parse(url: &Uri) -> Result<Self, String> {
        let shown = crate::util::display_url(url);
        let https = match url.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            Some(other) => {
                return Err(format!("{shown}: unsupported scheme {other:?}"));
            }
            None => return Err(format!("{shown}: not an absolute URL")),
        };
        let authority = url.authority().ok_or_else(|| format!("{shown}: no host"))?;
        // Never send credentials written into the URL itself.
        let host_port = authority
            .as_str()
            .rsplit_once('@')
            .map(|(_, h)| h)
            .unwrap_or(authority.as_str());
        let host = url.host().ok_or_else(|| format!("{shown}: no host"))?;
        if host.is_empty() {
            return Err(format!("{shown}: no host"));
        }
        let port = url.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Self {
            https,
            host: host.to_owned(),
            port,
            host_header: host_port.to_owned(),
            path_and_query: url
                .path_and_query()
                .map(|p| p.as_str())
                .filter(|p| !p.is_empty())
                .unwrap_or("/")
                .to_owned(),
        })
    }

    fn origin(&self) -> Origin {
        (self.https, normalize_host(&self.host), self.port)
    }
}

/// The redirects of one request, followed the way browsers do: where the
/// next hop goes and with which method, or why the chain stops. Shared by
/// the `http` probe and the scenario's steps.
pub(crate) struct Redirects {
    /// Every URL requested so far, the first included.
    visited: Vec<String>,
    max: u32,
}

/// What [`Redirects::follow`] decided about a response.
pub(crate) enum Hop {
    /// Not a redirect to follow: this response is the final one.
    Final,
    /// Request `url` next with `method`; the body is dropped when the
    /// method became GET.
    Next {
        url: Uri,
        method: Method,
        drop_body: bool,
        /// The `Location` as sent.
        location: String,
    },
    /// The `Location` cannot be followed, and why.
    Invalid(String),
    /// `url` leads back to `next`, already requested.
    Loop { next: Uri, location: String },
    /// More than `max` redirects.
    TooMany { location: String },
}

impl Redirects {
    /// The chain starting at `start`, at most `max` redirects long.
    pub(crate) fn new(start: &Uri, max: u32) -> Self {
        Self {
            visited: vec![start.to_string()],
            max,
        }
    }

    /// What to do after a response of `status` and `headers` to `method`
    /// `url`, when redirects are followed at all.
    pub(crate) fn follow(
        &mut self,
        url: &Uri,
        method: &Method,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Hop {
        let is_redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
        let location = headers
            .get(header::LOCATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let (true, Some(location)) = (is_redirect, location) else {
            return Hop::Final;
        };
        let next = match resolve_location(url, &location) {
            Ok(next) => next,
            Err(why) => return Hop::Invalid(why),
        };
        let next_text = next.to_string();
        if self.visited.contains(&next_text) {
            return Hop::Loop { next, location };
        }
        if self.visited.len() > self.max as usize {
            return Hop::TooMany { location };
        }
        self.visited.push(next_text);
        // What browsers do: 303 always, and 301/302 after a POST, become a GET.
        let to_get = status == StatusCode::SEE_OTHER && method != Method::HEAD
            || matches!(status.as_u16(), 301 | 302) && method == Method::POST;
        Hop::Next {
            url: next,
            method: if to_get { Method::GET } else { method.clone() },
            drop_body: to_get,
            location,
        }
    }
}

/// Resolves a `Location` header against the URL that sent it (RFC 3986
/// §5.2, without fragments).
pub(crate) fn resolve_location(base: &Uri, location: &str) -> Result<Uri, String> {
    let location = percent_encode_unsafe(location.trim());
    let location = location.split('#').next().unwrap_or_default();
    if location.is_empty() {
        return Err("empty Location".into());
    }
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base
        .authority()
        .map(|a| a.as_str())
        .ok_or("the base URL has no host")?;
    let absolute = if has_scheme(location) {
        location.to_owned()
    } else if let Some(rest) = location.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if location.starts_with('/') {
        let (path, query) = split_query(location);
        format!("{scheme}://{authority}{}{query}", remove_dot_segments(path))
    } else if location.starts_with('?') {
        format!("{scheme}://{authority}{}{location}", base.path())
    } else {
        let base_path = base.path();
        let dir = match base_path.rfind('/') {
            Some(i) => &base_path[..=i],
            None => "/",
        };
        let (path, query) = split_query(location);
        format!(
            "{scheme}://{authority}{}{query}",
            remove_dot_segments(&format!("{dir}{path}"))
        )
    };
    let uri: Uri = absolute
        .parse()
        .map_err(|e| format!("{absolute:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.host().is_some() => Ok(uri),
        _ => Err(format!("{absolute:?} is not an http(s) URL")),
    }
}

fn has_scheme(s: &str) -> bool {
    match s.find(':') {
        Some(i) if i > 0 => {
            let scheme = &s[..i];
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        _ => false,
    }
}

fn split_query(s: &str) -> (&str, &str) {
    match s.find('?') {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, ""),
    }
}

/// RFC 3986 §5.2.4 for an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    let mut out: Vec<&str> = Vec::new();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate().skip(1) {
        match *segment {
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Percent-encodes bytes that may not appear in a URI (non-ASCII, space,
/// controls), as browsers do with sloppy `Location` headers.
pub(crate) fn percent_encode_unsafe(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_config::JsonAssertion;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn locations_resolve_like_rfc_3986() {
        let base = uri("http://shop.test:8080/a/b/c?x=1");
        let cases = [
            ("http://other.test/z", "http://other.test/z"),
            ("//cdn.test/img", "http://cdn.test/img"),
            ("/root", "http://shop.test:8080/root"),
            ("d", "http://shop.test:8080/a/b/d"),
            ("../d?q=2", "http://shop.test:8080/a/d?q=2"),
            ("./", "http://shop.test:8080/a/b/"),
            ("?y=2", "http://shop.test:8080/a/b/c?y=2"),
            ("/x#frag", "http://shop.test:8080/x"),
            ("/caf\u{e9}", "http://shop.test:8080/caf%C3%A9"),
            ("../../../..", "http://shop.test:8080/"),
        ];
        for (location, expected) in cases {
            let got = resolve_location(&base, location).unwrap();
            assert_eq!(got.to_string(), expected, "{location}");
        }
        assert!(resolve_location(&base, "").is_err());
        assert!(resolve_location(&base, "ftp://files.test/").is_err());
    }

    #[test]
    fn json_leniency() {
        assert!(json_equals(&json!("3"), &json!(3)));
        assert!(json_equals(&json!("true"), &json!(true)));
        assert!(json_equals(&json!(1), &json!(1.0)));
        assert!(json_equals(&json!("1.5"), &json!(1.5)));
        assert!(!json_equals(&json!("3"), &json!("4")));
        assert!(!json_equals(&json!(3), &json!("3")));
    }

    #[test]
    fn assertions_on_non_utf8_and_non_json_bodies() {
        let body = b"price: \xff\xfe 12 EUR";
        let (findings, _) = check_assertions(
            &[
                BodyAssertion::Contains("12 EUR".into()),
                BodyAssertion::NotContains("error".into()),
                BodyAssertion::Json(JsonAssertion {
                    pointer: "/a".into(),
                    expect: JsonExpect::Present,
                }),
                BodyAssertion::Json(JsonAssertion {
                    pointer: "/b".into(),
                    expect: JsonExpect::Absent,
                }),
            ],
            body,
        );
        let codes: Vec<&str> = findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, vec![codes::HTTP_JSON_INVALID]);
    }

    #[test]
    fn targets_and_origins() {
        let t = Target::parse(&uri("https://user:pw@Shop.Test/p?q")).unwrap();
        assert!(t.https);
        assert_eq!(t.port, 443);
        assert_eq!(t.host_header, "Shop.Test");
        assert_eq!(t.path_and_query, "/p?q");
        assert_eq!(t.origin(), (true, "shop.test".to_owned(), 443));
        let t = Target::parse(&uri("http://[::1]:8080")).unwrap();
        assert_eq!(t.host, "[::1]");
        assert_eq!(t.path_and_query, "/");
        assert!(Target::parse(&uri("ftp://x/")).is_err());
        assert!(Target::parse(&uri("/relative")).is_err());
    }
}
