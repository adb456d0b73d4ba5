//! A repository on S3-compatible storage (AWS S3, MinIO, Ceph RGW, Wasabi,
//! ...), laid out exactly as restic's `s3:` backend lays it out, so that
//! `restic -r s3:...` reads what keepup wrote and the other way round:
//!
//! - `<prefix>/config`, `<prefix>/keys/<id>`, `<prefix>/snapshots/<id>`,
//!   `<prefix>/index/<id>`, `<prefix>/locks/<id>` and
//!   `<prefix>/data/<first two hex digits>/<id>`;
//! - path-style addressing (`https://host/bucket/key`), what MinIO and the
//!   other self-hosted servers want and AWS still serves;
//! - requests signed with AWS Signature Version 4 (HMAC-SHA256 and SHA-256
//!   from aws-lc-rs), the payload hash being the real SHA-256 of the body;
//! - `GET ?list-type=2` (ListObjectsV2) pages through a listing by
//!   continuation tokens, parsed by a small bounded XML reader; `GET` with
//!   `Range` reads part of a pack; `PUT` writes, `DELETE` removes;
//!   initialising creates the bucket when it is missing, as restic does.
//!
//! Connections, TLS, timeouts, size limits and retries are the shared HTTP
//! client's ([`super::http`]). S3's answers: `SlowDown`, `InternalError`,
//! `RequestTimeout` and 5xx are retried; a bad key or signature, a denied
//! access or a missing bucket is reported at once, naming the target and
//! never the secret.
//!
//! Credentials come from the target's options (resolved from env or files
//! by the configuration) or, when it gives none, from the standard
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` and
//! `AWS_DEFAULT_REGION` variables, as restic reads them.

use std::fmt::Write as _;

use aws_lc_rs::{digest, hmac};
use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use keepup_config::backup::{check_s3_key, check_s3_session_token};
use keepup_model::text::hex;
use rustic_core::{FileType, Id, RusticResult};

use super::http::{
    Authorize, Call, ERROR_BODY_QUOTE, HttpBackend, HttpClient, IoRuntime, Store, Verdict,
    read_limit, status_line,
};
use super::{BackendError, Location, Secret, TargetOptions, bounded};

/// Keys asked for per listing page (S3's maximum).
const PAGE_KEYS: u32 = 1000;
/// Largest listing page accepted (a page of 1000 keys is about 300 kB).
const PAGE_LIMIT: usize = 16 << 20;
/// Largest listing accepted over all its pages (as the REST backend's).
const LIST_LIMIT: usize = 256 << 20;
/// Truncated pages without a key tolerated in a row.
const EMPTY_PAGES_MAX: u32 = 16;
/// The region signed for when neither the options nor the environment
/// name one.
pub const DEFAULT_REGION: &str = "us-east-1";
/// SHA-256 of nothing, the payload hash of a request without body.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// An S3 target.
pub type S3Backend = HttpBackend<S3>;

/// The S3 protocol of one target: its bucket, prefix and signer.
pub struct S3 {
    http: HttpClient,
    bucket: String,
    /// Without leading or trailing `/`; empty = the bucket's root.
    prefix: String,
    signer: Signer,
}

/// Where credentials and the region came from, and what they are.
struct Resolved {
    access_key_id: Secret,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    region: String,
}

/// The credentials of the options, else of the environment (`env` reads
/// a variable; a parameter so that tests need not touch the process's).
fn resolve(
    target: &str,
    opts: &TargetOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Resolved, BackendError> {
    let var = |name: &str| env(name).filter(|v| !v.is_empty());
    let (access_key_id, secret_access_key, session_token) = match (
        &opts.access.s3_access_key_id,
        &opts.access.s3_secret_access_key,
    ) {
        (Some(id), Some(secret)) => (
            id.clone(),
            secret.clone(),
            opts.access.s3_session_token.clone(),
        ),
        (None, None) => match (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY")) {
            (Some(id), Some(secret)) => (
                Secret::new(id),
                Secret::new(secret),
                opts.access
                    .s3_session_token
                    .clone()
                    .or_else(|| var("AWS_SESSION_TOKEN").map(Secret::new)),
            ),
            _ => {
                return Err(BackendError::Options {
                        target: target.to_owned(),
                        reason: "no S3 credentials: give s3_access_key_id_env (or _file) and s3_secret_access_key_env (or _file) in the target, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in keepup's environment".into(),
                    });
            }
        },
        _ => {
            return Err(BackendError::Options {
                target: target.to_owned(),
                reason: "an S3 access key id needs its secret access key and the other way round"
                    .into(),
            });
        }
    };
    check_s3_key(access_key_id.expose())
        .and_then(|()| check_s3_key(secret_access_key.expose()))
        .and_then(|()| {
            session_token
                .as_ref()
                .map_or(Ok(()), |t| check_s3_session_token(t.expose()))
        })
        .map_err(|e| BackendError::Options {
            target: target.to_owned(),
            reason: e.to_string(),
        })?;
    let region = opts
        .access
        .s3_region
        .clone()
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| DEFAULT_REGION.to_owned());
    if region.is_empty()
        || !region
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(BackendError::Options {
            target: target.to_owned(),
            reason: format!("invalid S3 region {region:?}"),
        });
    }
    Ok(Resolved {
        access_key_id,
        secret_access_key,
        session_token,
        region,
    })
}

impl HttpBackend<S3> {
    /// The backend for an `s3:` location: credentials resolved (options,
    /// else the `AWS_*` environment), TLS configuration built; nothing is
    /// contacted.
    pub fn new(loc: &Location, opts: &TargetOptions) -> Result<Self, BackendError> {
        Self::with_env(loc, opts, &|name| std::env::var(name).ok())
    }

    fn with_env(
        loc: &Location,
        opts: &TargetOptions,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, BackendError> {
        let Location::S3 {
            tls,
            host,
            port,
            bucket,
            prefix,
        } = loc
        else {
            return Err(BackendError::Options {
                target: loc.to_string(),
                reason: "not an s3: location".into(),
            });
        };
        let target = loc.to_string();
        let creds = resolve(&target, opts, env)?;
        let default_port = if *tls { 443 } else { 80 };
        let port_num = port.unwrap_or(default_port);
        // As the SDKs: the default port is not part of the Host header
        // (which is signed).
        let bracketed = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        let host_header = if port_num == default_port {
            bracketed
        } else {
            format!("{bracketed}:{port_num}")
        };
        let rt = IoRuntime::new(&target, "keepup-s3")?;
        let http = HttpClient::new(target, host, port_num, &host_header, *tls, opts, judge)?;
        let signer = Signer {
            access_key_id: creds.access_key_id,
            secret_access_key: creds.secret_access_key,
            session_token: creds.session_token,
            region: creds.region,
            host: host_header,
        };
        Ok(Self::from_store(
            S3 {
                http,
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                signer,
            },
            rt,
        ))
    }
}

// ---------------------------------------------------------------- signing

/// AWS Signature Version 4 for one endpoint and region.
struct Signer {
    access_key_id: Secret,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    region: String,
    /// The Host header sent, which is signed.
    host: String,
}

impl Signer {
    /// The `Authorization` value for a request. `path_and_query` is the
    /// request target as sent, which is already canonical: every path
    /// segment and query value percent-encoded the way SigV4 wants it and
    /// the query sorted (see [`object_path`] and [`query`]). `headers` are
    /// the headers to sign besides `host` (lowercase names).
    fn authorization(
        &self,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        payload_hash: &str,
        amz_date: &str,
    ) -> String {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        all.push(("host", self.host.as_str()));
        all.sort_unstable();
        let mut canonical = format!("{method}\n{path}\n{query}\n");
        let mut signed = String::new();
        for (name, value) in &all {
            let _ = writeln!(canonical, "{name}:{}", value.trim());
            if !signed.is_empty() {
                signed.push(';');
            }
            signed.push_str(name);
        }
        let _ = write!(canonical, "\n{signed}\n{payload_hash}");
        let date = amz_date.get(..8).unwrap_or(amz_date);
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
        );
        let mut key = format!("AWS4{}", self.secret_access_key.expose()).into_bytes();
        for part in [date, self.region.as_str(), "s3", "aws4_request"] {
            key = hmac_sha256(&key, part.as_bytes());
        }
        let signature = hex(&hmac_sha256(&key, string_to_sign.as_bytes()));
        format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed}, Signature={signature}",
            self.access_key_id.expose()
        )
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

/// The SHA-256 of a body given in chunks, in hex.
fn payload_sha256(body: &[Bytes]) -> String {
    if body.iter().all(|c| c.is_empty()) {
        return EMPTY_SHA256.to_owned();
    }
    let mut ctx = digest::Context::new(&digest::SHA256);
    for c in body {
        ctx.update(c);
    }
    hex(ctx.finish().as_ref())
}

/// SigV4's URI encoding: everything but `A-Z a-z 0-9 - . _ ~` as `%XX`
/// (and `/` too unless `keep_slash`).
fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// `/bucket/key` with the key encoded for the request line and the
/// signature alike.
fn object_path(bucket: &str, key: &str) -> String {
    format!("/{}/{}", uri_encode(bucket, false), uri_encode(key, true))
}

/// A canonical query string: sorted by name, names and values encoded.
fn query(params: &mut [(&str, &str)]) -> String {
    params.sort_unstable();
    params
        .iter()
        .map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Authorize for S3 {
    fn authorize(&self, call: &Call<'_>, h: &mut HeaderMap) -> Result<(), String> {
        let payload = payload_sha256(&call.body);
        let amz_date = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let token = self.signer.session_token.as_ref().map(|t| t.expose());
        let mut signed = vec![
            ("x-amz-content-sha256", payload.as_str()),
            ("x-amz-date", amz_date.as_str()),
        ];
        if let Some(t) = token {
            signed.push(("x-amz-security-token", t));
        }
        let auth = self.signer.authorization(
            call.method.as_str(),
            call.path,
            &signed,
            &payload,
            &amz_date,
        );
        for (name, value) in signed {
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| format!("header {name} cannot be sent"))?;
            v.set_sensitive(name == "x-amz-security-token");
            h.insert(HeaderName::from_static(name), v);
        }
        let mut auth = HeaderValue::from_str(&auth)
            .map_err(|_| "the S3 credentials contain characters HTTP cannot carry".to_owned())?;
        auth.set_sensitive(true);
        h.insert(AUTHORIZATION, auth);
        Ok(())
    }
}

// ---------------------------------------------------------------- answers

/// S3 answers: the error document's code decides what is retried, and
/// what the operator is told.
fn judge(status: StatusCode, body: &[u8]) -> Verdict {
    let (code, message) = xml::error(body).unwrap_or_default();
    let retry = status.is_server_error()
        || status == StatusCode::TOO_MANY_REQUESTS
        || matches!(
            code.as_str(),
            "SlowDown" | "InternalError" | "RequestTimeout" | "ServiceUnavailable"
        );
    let hint = match (status, code.as_str()) {
        (_, "SignatureDoesNotMatch") => {
            " (authentication failed: the server signs the request differently, so the secret access key is wrong; check s3_secret_access_key_env or s3_secret_access_key_file)"
        }
        (_, "InvalidAccessKeyId") => {
            " (authentication failed: the server does not know this access key id; check s3_access_key_id_env or s3_access_key_id_file)"
        }
        (_, "NoSuchBucket") => " (the bucket does not exist: `keepup backup init` creates it)",
        (_, "RequestTimeTooSkewed") => " (this machine's clock is off)",
        (_, "PermanentRedirect" | "AuthorizationHeaderMalformed") => {
            " (wrong endpoint or region for this bucket: check s3_region and the host)"
        }
        (StatusCode::FORBIDDEN, _) => {
            " (access denied: check the S3 credentials and what their policy allows)"
        }
        (StatusCode::UNAUTHORIZED, _) => " (authentication failed)",
        _ => "",
    };
    let text = match (code.is_empty(), message.is_empty()) {
        (true, _) => String::from_utf8_lossy(body).into_owned(),
        (false, true) => code,
        (false, false) => format!("{code}: {message}"),
    };
    Verdict {
        retry,
        text: status_line(status, hint, &text),
    }
}

impl S3 {
    fn call<'a>(&'a self, op: &'a str, method: Method, path: &'a str) -> Call<'a> {
        Call::new(op, method, path, self)
    }

    /// The object key of a file, restic's layout.
    fn key(&self, tpe: FileType, id: &Id) -> String {
        let name = match tpe {
            FileType::Config => "config".to_owned(),
            FileType::Pack => {
                let hex = id.to_hex();
                let hex = hex.as_str();
                format!("data/{}/{hex}", &hex[..2])
            }
            _ => format!("{}/{}", tpe.dirname(), id.to_hex().as_str()),
        };
        self.prefixed(&name)
    }

    fn prefixed(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{}/{name}", self.prefix)
        }
    }

    fn bucket_path(&self) -> String {
        format!("/{}", uri_encode(&self.bucket, false))
    }

    fn failed(&self, op: &str, path: &str, what: &str) -> Box<rustic_core::RusticError> {
        self.http.failed(op, path, what)
    }

    /// The config file's size, if there is one; a missing bucket is an
    /// error, not an empty repository.
    async fn config_size(&self) -> RusticResult<Vec<(Id, u32)>> {
        let path = self.file_path(FileType::Config, &Id::default());
        let r = self
            .http
            .call(
                self.call("reading", Method::GET, &path)
                    .limit(read_limit(FileType::Config))
                    .ok(&[StatusCode::OK, StatusCode::NOT_FOUND]),
            )
            .await?;
        if r.status == StatusCode::NOT_FOUND {
            let (code, _) = xml::error(&r.body).unwrap_or_default();
            if code == "NoSuchBucket" {
                return Err(self.failed(
                    "reading",
                    &path,
                    &format!(
                        "the bucket {:?} does not exist (NoSuchBucket; `keepup backup init` creates it)",
                        self.bucket
                    ),
                ));
            }
            return Ok(Vec::new());
        }
        let size = u32::try_from(r.body.len()).unwrap_or(u32::MAX);
        Ok(vec![(Id::default(), size)])
    }

    /// Every object under `<prefix>/<dir>/`, page by page.
    async fn list_objects(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            return self.config_size().await;
        }
        let list_prefix = self.prefixed(&format!("{}/", tpe.dirname()));
        let max_keys = PAGE_KEYS.to_string();
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        let mut total = 0usize;
        let mut empty_pages = 0u32;
        loop {
            let mut params = vec![
                ("list-type", "2"),
                ("max-keys", max_keys.as_str()),
                ("prefix", list_prefix.as_str()),
            ];
            if let Some(t) = &token {
                params.push(("continuation-token", t.as_str()));
            }
            let path = format!("{}?{}", self.bucket_path(), query(&mut params));
            let r = self
                .http
                .call(self.call("listing", Method::GET, &path).limit(PAGE_LIMIT))
                .await?;
            total += r.body.len();
            if total > LIST_LIMIT {
                return Err(self.failed(
                    "listing",
                    &path,
                    &format!("listing larger than {LIST_LIMIT} bytes"),
                ));
            }
            let page = xml::list_page(&r.body).map_err(|e| {
                self.failed(
                    "listing",
                    &path,
                    &format!(
                        "not an S3 ListObjectsV2 answer ({e}): {}",
                        bounded(&String::from_utf8_lossy(&r.body), ERROR_BODY_QUOTE)
                    ),
                )
            })?;
            empty_pages = if page.objects.is_empty() {
                empty_pages + 1
            } else {
                0
            };
            for (key, size) in page.objects {
                let Some(name) = key.strip_prefix(list_prefix.as_str()) else {
                    continue;
                };
                // data/ has the two-digit subdirectories; the name is last.
                let name = name.rsplit('/').next().unwrap_or(name);
                let Some(id) = Id::parse_some(name, tpe) else {
                    continue;
                };
                match u32::try_from(size) {
                    Ok(size) => out.push((id, size)),
                    Err(_) => {
                        tracing::warn!(target = %self.http.target, key = %key, size, "file too large for the repository format, ignored");
                    }
                }
            }
            if !page.truncated {
                return Ok(out);
            }
            let next = match page.next_token {
                Some(t) if !t.is_empty() => t,
                _ => {
                    return Err(self.failed(
                        "listing",
                        &path,
                        "the listing is truncated but gives no continuation token",
                    ));
                }
            };
            if token.as_deref() == Some(next.as_str()) || empty_pages > EMPTY_PAGES_MAX {
                return Err(self.failed(
                    "listing",
                    &path,
                    "the server pages without progress (same continuation token or empty pages)",
                ));
            }
            token = Some(next);
        }
    }

    /// Creates the bucket unless it exists (and is ours).
    async fn create_bucket(&self) -> RusticResult<()> {
        let path = self.bucket_path();
        let r = self
            .http
            .call(
                self.call("checking the bucket", Method::HEAD, &path)
                    .limit(0)
                    .ok(&[StatusCode::OK, StatusCode::NOT_FOUND]),
            )
            .await?;
        if r.status == StatusCode::OK {
            return Ok(());
        }
        // Outside us-east-1 the region is part of the request.
        let body = if self.signer.region == DEFAULT_REGION {
            Vec::new()
        } else {
            vec![Bytes::from(format!(
                "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
                self.signer.region
            ))]
        };
        let r = self
            .http
            .call(
                self.call("creating the bucket", Method::PUT, &path)
                    .body(body)
                    .ok(&[StatusCode::OK, StatusCode::CONFLICT]),
            )
            .await?;
        if r.status == StatusCode::CONFLICT {
            let (code, message) = xml::error(&r.body).unwrap_or_default();
            if code != "BucketAlreadyOwnedByYou" {
                return Err(self.failed(
                    "creating the bucket",
                    &path,
                    &status_line(r.status, "", &format!("{code}: {message}")),
                ));
            }
        }
        Ok(())
    }
}

impl Store for S3 {
    fn http(&self) -> &HttpClient {
        &self.http
    }

    fn file_path(&self, tpe: FileType, id: &Id) -> String {
        object_path(&self.bucket, &self.key(tpe, id))
    }

    fn write_method(&self) -> (Method, &'static [StatusCode]) {
        (Method::PUT, &[StatusCode::OK])
    }

    async fn list(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        self.list_objects(tpe).await
    }

    async fn create(&self) -> RusticResult<()> {
        self.create_bucket().await
    }
}

// ---------------------------------------------------------------- XML

/// The few S3 XML documents we read (a ListObjectsV2 page, an error),
/// by a small reader: no DTDs, no entities but the five predefined and
/// character references, nesting and text sizes bounded; anything else is
/// an error, never a panic.
pub(crate) mod xml {
    use std::borrow::Cow;

    /// Deepest nesting accepted.
    const DEPTH_MAX: usize = 16;
    /// Longest text kept for one element (S3 keys are at most 1024 bytes).
    const TEXT_MAX: usize = 4096;

    /// One ListObjectsV2 page.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub struct Page {
        /// `(key, size)` of each `<Contents>`.
        pub objects: Vec<(String, u64)>,
        /// `<IsTruncated>true</IsTruncated>`: more pages follow.
        pub truncated: bool,
        /// `<NextContinuationToken>`.
        pub next_token: Option<String>,
    }

    enum Event<'a> {
        Open(&'a str),
        Close(&'a str),
        /// Text still to be unescaped.
        Text(&'a str),
        /// CDATA, verbatim.
        Raw(&'a str),
    }

    /// The events of a document, in order.
    struct Reader<'a> {
        rest: &'a str,
        /// A self-closing tag's close, due next.
        pending_close: Option<&'a str>,
    }

    /// `s3:Key` → `Key`.
    fn local(name: &str) -> &str {
        name.rsplit(':').next().unwrap_or(name)
    }

    impl<'a> Reader<'a> {
        fn skip_past(&mut self, end: &str) -> Result<&'a str, String> {
            match self.rest.find(end) {
                Some(i) => {
                    let inside = &self.rest[..i];
                    self.rest = &self.rest[i + end.len()..];
                    Ok(inside)
                }
                None => Err(format!("unterminated markup (no {end:?})")),
            }
        }

        fn next_event(&mut self) -> Result<Option<Event<'a>>, String> {
            if let Some(name) = self.pending_close.take() {
                return Ok(Some(Event::Close(name)));
            }
            loop {
                if self.rest.is_empty() {
                    return Ok(None);
                }
                if !self.rest.starts_with('<') {
                    let end = self.rest.find('<').unwrap_or(self.rest.len());
                    let text = &self.rest[..end];
                    self.rest = &self.rest[end..];
                    return Ok(Some(Event::Text(text)));
                }
                if self.rest.starts_with("<?") {
                    self.skip_past("?>")?;
                } else if self.rest.starts_with("<!--") {
                    self.skip_past("-->")?;
                } else if let Some(r) = self.rest.strip_prefix("<![CDATA[") {
                    self.rest = r;
                    return self.skip_past("]]>").map(|t| Some(Event::Raw(t)));
                } else if self.rest.starts_with("<!") {
                    return Err("DTDs are not accepted".into());
                } else {
                    self.rest = &self.rest[1..];
                    let tag = self.skip_past(">")?;
                    if let Some(name) = tag.strip_prefix('/') {
                        return Ok(Some(Event::Close(local(name.trim()))));
                    }
                    let (tag, closed) = match tag.strip_suffix('/') {
                        Some(t) => (t, true),
                        None => (tag, false),
                    };
                    let name = tag.split(|c: char| c.is_whitespace()).next().unwrap_or("");
                    if name.is_empty() {
                        return Err("a tag without a name".into());
                    }
                    let name = local(name);
                    if closed {
                        self.pending_close = Some(name);
                    }
                    return Ok(Some(Event::Open(name)));
                }
            }
        }
    }

    /// Text with the predefined entities and character references
    /// replaced.
    fn unescape(text: &str) -> Result<Cow<'_, str>, String> {
        if !text.contains('&') {
            return Ok(Cow::Borrowed(text));
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(i) = rest.find('&') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let Some(end) = after.find(';').filter(|&e| e <= 10) else {
                return Err("a '&' without an entity".into());
            };
            let entity = &after[..end];
            let c = match entity {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => {
                    let code = if let Some(h) = entity.strip_prefix("#x") {
                        u32::from_str_radix(h, 16).ok()
                    } else if let Some(d) = entity.strip_prefix('#') {
                        d.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                        .ok_or_else(|| format!("unknown entity &{entity};"))?
                }
            };
            out.push(c);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    /// Called with an element's path (below the root) and kept text.
    type OnClose<'a> = dyn FnMut(&[&str], &str) -> Result<(), String> + 'a;

    /// Walks a document whose root is `root`, handing every element's
    /// path (names from below the root) and its text to `on_close`. Only
    /// the text of elements `wanted` says are interesting is kept.
    fn walk(
        body: &[u8],
        root: &str,
        wanted: &dyn Fn(&[&str]) -> bool,
        on_close: &mut OnClose<'_>,
    ) -> Result<(), String> {
        let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_owned())?;
        let mut reader = Reader {
            rest: text,
            pending_close: None,
        };
        let mut stack: Vec<&str> = Vec::new();
        let mut seen_root = false;
        let mut buf = String::new();
        while let Some(ev) = reader.next_event()? {
            match ev {
                Event::Open(name) => {
                    if stack.is_empty() {
                        if seen_root || name != root {
                            return Err(format!("unexpected element <{name}>"));
                        }
                        seen_root = true;
                    }
                    if stack.len() >= DEPTH_MAX {
                        return Err("nested too deeply".into());
                    }
                    stack.push(name);
                    buf.clear();
                }
                Event::Text(t) | Event::Raw(t) if stack.len() > 1 && wanted(&stack[1..]) => {
                    let t = match ev {
                        Event::Text(_) => unescape(t)?,
                        _ => Cow::Borrowed(t),
                    };
                    if buf.len() + t.len() > TEXT_MAX {
                        return Err("an element's text is too long".into());
                    }
                    buf.push_str(&t);
                }
                Event::Text(t) if stack.is_empty() && !t.trim().is_empty() => {
                    return Err("text outside the root element".into());
                }
                Event::Text(_) | Event::Raw(_) => {}
                Event::Close(name) => {
                    if stack.last() != Some(&name) {
                        return Err(format!("mismatched </{name}>"));
                    }
                    if stack.len() > 1 {
                        on_close(&stack[1..], &buf)?;
                    }
                    stack.pop();
                    buf.clear();
                }
            }
        }
        if !seen_root {
            return Err(format!("no <{root}> element"));
        }
        if !stack.is_empty() {
            return Err("the document ends inside an element".into());
        }
        Ok(())
    }

    /// A ListObjectsV2 answer.
    pub fn list_page(body: &[u8]) -> Result<Page, String> {
        let mut page = Page::default();
        let mut key: Option<String> = None;
        let mut size: Option<u64> = None;
        walk(
            body,
            "ListBucketResult",
            &|path| {
                matches!(
                    path,
                    ["IsTruncated"] | ["NextContinuationToken"] | ["Contents", "Key" | "Size"]
                )
            },
            &mut |path, text| {
                match path {
                    ["IsTruncated"] => page.truncated = text.trim() == "true",
                    ["NextContinuationToken"] => page.next_token = Some(text.to_owned()),
                    ["Contents", "Key"] => key = Some(text.to_owned()),
                    ["Contents", "Size"] => {
                        size = Some(
                            text.trim()
                                .parse()
                                .map_err(|_| format!("invalid size {:?}", text.trim()))?,
                        );
                    }
                    ["Contents"] => match (key.take(), size.take()) {
                        (Some(k), Some(s)) => page.objects.push((k, s)),
                        _ => return Err("an object without key or size".into()),
                    },
                    _ => {}
                }
                Ok(())
            },
        )?;
        Ok(page)
    }

    /// The `(Code, Message)` of an S3 error document.
    pub fn error(body: &[u8]) -> Option<(String, String)> {
        let mut code = String::new();
        let mut message = String::new();
        walk(
            body,
            "Error",
            &|path| matches!(path, ["Code"] | ["Message"]),
            &mut |path, text| {
                match path {
                    ["Code"] => code = text.trim().to_owned(),
                    ["Message"] => message = text.trim().to_owned(),
                    _ => {}
                }
                Ok(())
            },
        )
        .ok()?;
        Some((code, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TargetAccess;

    fn signer(region: &str, host: &str) -> Signer {
        Signer {
            access_key_id: Secret::new("AKIAIOSFODNN7EXAMPLE".into()),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into()),
            session_token: None,
            region: region.into(),
            host: host.into(),
        }
    }

    /// The examples of AWS's SigV4 documentation for S3 (header-based
    /// authentication), which botocore reproduces too.
    #[test]
    fn signature_matches_the_aws_list_objects_example() {
        // "GET Bucket (List Objects)": GET /?max-keys=2&prefix=J on
        // examplebucket.s3.amazonaws.com, 20130524T000000Z.
        let s = signer("us-east-1", "examplebucket.s3.amazonaws.com");
        let auth = s.authorization(
            "GET",
            "/?max-keys=2&prefix=J",
            &[
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            EMPTY_SHA256,
            "20130524T000000Z",
        );
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
        );
    }

    #[test]
    fn signature_matches_the_aws_get_object_example() {
        // "GET Object" signs `range` too (we do not, but the order of the
        // canonical headers is checked by it).
        let s = signer("us-east-1", "examplebucket.s3.amazonaws.com");
        let auth = s.authorization(
            "GET",
            "/test.txt",
            &[
                ("range", "bytes=0-9"),
                ("x-amz-content-sha256", EMPTY_SHA256),
                ("x-amz-date", "20130524T000000Z"),
            ],
            EMPTY_SHA256,
            "20130524T000000Z",
        );
        assert!(
            auth.ends_with("SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
            "{auth}"
        );
    }

    #[test]
    fn signature_matches_the_aws_put_object_example() {
        // "PUT Object": body "Welcome to Amazon S3.", with date and
        // storage-class headers signed.
        let s = signer("us-east-1", "examplebucket.s3.amazonaws.com");
        let body = [Bytes::from_static(b"Welcome to Amazon S3.")];
        let hash = payload_sha256(&body);
        assert_eq!(
            hash,
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
        );
        let auth = s.authorization(
            "PUT",
            "/test%24file.text",
            &[
                ("date", "Fri, 24 May 2013 00:00:00 GMT"),
                ("x-amz-content-sha256", &hash),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ],
            &hash,
            "20130524T000000Z",
        );
        assert!(
            auth.ends_with(
                "Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
            ),
            "{auth}"
        );
    }

    #[test]
    fn paths_and_queries_are_canonical() {
        assert_eq!(
            object_path("bucket", "shop db/data/ab/ab12"),
            "/bucket/shop%20db/data/ab/ab12"
        );
        assert_eq!(
            query(&mut [
                ("prefix", "pre/keys/"),
                ("list-type", "2"),
                ("continuation-token", "a+b/c="),
            ]),
            "continuation-token=a%2Bb%2Fc%3D&list-type=2&prefix=pre%2Fkeys%2F"
        );
    }

    #[test]
    fn keys_follow_restics_layout() {
        let id = Id::from_str("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
            .unwrap();
        let loc = Location::parse("s3:http://127.0.0.1:9000/b/shop/db").unwrap();
        let opts = TargetOptions {
            access: TargetAccess {
                s3_access_key_id: Some(Secret::new("id".into())),
                s3_secret_access_key: Some(Secret::new("secret".into())),
                ..TargetAccess::default()
            },
            ..TargetOptions::default()
        };
        let be = S3Backend::new(&loc, &opts).unwrap();
        let i = be.store();
        assert_eq!(i.key(FileType::Config, &Id::default()), "shop/db/config");
        assert_eq!(
            i.key(FileType::Pack, &id),
            format!("shop/db/data/01/{}", id.to_hex().as_str())
        );
        assert_eq!(
            i.key(FileType::Snapshot, &id),
            format!("shop/db/snapshots/{}", id.to_hex().as_str())
        );
        assert_eq!(i.signer.host, "127.0.0.1:9000");
        let root = S3Backend::new(&Location::parse("s3:https://h/b").unwrap(), &opts).unwrap();
        assert_eq!(
            root.store().key(FileType::Key, &id),
            format!("keys/{}", id.to_hex().as_str())
        );
        assert_eq!(root.store().signer.host, "h");
    }

    use std::str::FromStr;

    #[test]
    fn credentials_come_from_options_then_environment() {
        let loc = Location::parse("s3:http://127.0.0.1:9000/b").unwrap();
        let env = |name: &str| match name {
            "AWS_ACCESS_KEY_ID" => Some("ENVID".to_owned()),
            "AWS_SECRET_ACCESS_KEY" => Some("env-secret".to_owned()),
            "AWS_SESSION_TOKEN" => Some("env-token".to_owned()),
            "AWS_DEFAULT_REGION" => Some("eu-central-1".to_owned()),
            _ => None,
        };
        let be = S3Backend::with_env(&loc, &TargetOptions::default(), &env).unwrap();
        let s = &be.store().signer;
        assert_eq!(s.access_key_id.expose(), "ENVID");
        assert_eq!(s.secret_access_key.expose(), "env-secret");
        assert_eq!(s.session_token.as_ref().unwrap().expose(), "env-token");
        assert_eq!(s.region, "eu-central-1");

        let opts = TargetOptions {
            access: TargetAccess {
                s3_access_key_id: Some(Secret::new("CFGID".into())),
                s3_secret_access_key: Some(Secret::new("cfg-secret".into())),
                s3_region: Some("us-west-2".into()),
                ..TargetAccess::default()
            },
            ..TargetOptions::default()
        };
        let be = S3Backend::with_env(&loc, &opts, &env).unwrap();
        let s = &be.store().signer;
        assert_eq!(s.access_key_id.expose(), "CFGID");
        assert!(s.session_token.is_none(), "no token mixed in from env");
        assert_eq!(s.region, "us-west-2");

        let be = S3Backend::with_env(&loc, &opts, &|_| None).unwrap();
        assert_eq!(be.store().signer.region, "us-west-2");
        let none = TargetOptions::default();
        let be = S3Backend::with_env(
            &loc,
            &TargetOptions {
                access: TargetAccess {
                    s3_region: None,
                    ..opts.access
                },
                ..opts
            },
            &|_| None,
        )
        .unwrap();
        assert_eq!(be.store().signer.region, DEFAULT_REGION);

        let err = S3Backend::with_env(&loc, &none, &|_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no S3 credentials"), "{err}");
        assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        assert!(err.contains("s3:http://127.0.0.1:9000/b"), "{err}");
        let half = TargetOptions {
            access: TargetAccess {
                s3_access_key_id: Some(Secret::new("CFGID".into())),
                ..TargetAccess::default()
            },
            ..TargetOptions::default()
        };
        assert!(S3Backend::with_env(&loc, &half, &env).is_err());
    }

    #[test]
    fn debug_output_has_no_secret() {
        let loc = Location::parse("s3:http://127.0.0.1:9000/b").unwrap();
        let opts = TargetOptions {
            access: TargetAccess {
                s3_access_key_id: Some(Secret::new("AKIAVISIBLE".into())),
                s3_secret_access_key: Some(Secret::new("very-secret-key".into())),
                s3_session_token: Some(Secret::new("very-secret-token".into())),
                ..TargetAccess::default()
            },
            ..TargetOptions::default()
        };
        let be = S3Backend::new(&loc, &opts).unwrap();
        let text = format!("{be:?} {opts:?}");
        assert!(!text.contains("very-secret"), "{text}");
    }

    #[test]
    fn list_pages_are_read() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>b</Name><Prefix>p/keys/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>p/keys/a&amp;b</Key><LastModified>2024-01-01T00:00:00.000Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>439</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key><![CDATA[p/keys/<c>]]></Key><Size>0</Size><Owner><ID>x</ID></Owner></Contents>
  <!-- a comment -->
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>"#;
        let page = xml::list_page(body).unwrap();
        assert_eq!(
            page,
            xml::Page {
                objects: vec![("p/keys/a&b".into(), 439), ("p/keys/<c>".into(), 0)],
                truncated: true,
                next_token: Some("1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=".into()),
            }
        );
        let last = xml::list_page(
            b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>",
        )
        .unwrap();
        assert!(!last.truncated && last.objects.is_empty());
        let empty = xml::list_page(b"<ListBucketResult/>").unwrap();
        assert!(!empty.truncated);
    }

    #[test]
    fn bad_list_pages_are_errors() {
        for bad in [
            &b""[..],
            b"<html>surprise</html>",
            b"<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents></ListBucketResult>",
            b"<ListBucketResult>",
            b"<ListBucketResult></ListBucketResult><ListBucketResult/>",
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><ListBucketResult/>",
            b"<ListBucketResult><Contents><Key>&bogus;</Key><Size>1</Size></Contents></ListBucketResult>",
            b"<ListBucketResult><Contents><Key>\xff</Key></Contents></ListBucketResult>",
            b"<ListBucketResult><",
            b"<ListBucketResult><Contents><Key><![CDATA[x</Key>",
        ] {
            assert!(
                xml::list_page(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let deep = format!("<ListBucketResult>{}", "<a>".repeat(100));
        assert!(
            xml::list_page(deep.as_bytes())
                .unwrap_err()
                .contains("deeply")
        );
        let long = format!(
            "<ListBucketResult><Contents><Key>{}</Key><Size>1</Size></Contents></ListBucketResult>",
            "k".repeat(10_000)
        );
        assert!(
            xml::list_page(long.as_bytes())
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn errors_are_judged_by_their_code() {
        let doc = |code: &str| {
            format!(
                "<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>the message</Message><RequestId>1</RequestId></Error>"
            )
        };
        let v = judge(StatusCode::SERVICE_UNAVAILABLE, doc("SlowDown").as_bytes());
        assert!(v.retry);
        assert_eq!(
            v.text,
            "HTTP 503 Service Unavailable: SlowDown: the message"
        );
        let v = judge(StatusCode::BAD_REQUEST, doc("RequestTimeout").as_bytes());
        assert!(v.retry);
        let v = judge(
            StatusCode::FORBIDDEN,
            doc("SignatureDoesNotMatch").as_bytes(),
        );
        assert!(!v.retry);
        assert!(v.text.contains("authentication failed"), "{}", v.text);
        let v = judge(StatusCode::NOT_FOUND, doc("NoSuchBucket").as_bytes());
        assert!(v.text.contains("the bucket does not exist"), "{}", v.text);
        let v = judge(StatusCode::FORBIDDEN, b"");
        assert!(v.text.contains("access denied"), "{}", v.text);
        let v = judge(StatusCode::BAD_GATEWAY, b"<html>proxy\x1b[31m</html>");
        assert!(v.retry && !v.text.contains('\x1b'), "{}", v.text);
    }
}
