//! A repository on a restic REST server (protocol v2): `rest-server`,
//! `rclone serve restic`, or anything speaking the same HTTP API.
//!
//! - `POST {base}?create=true` creates the repository;
//! - `HEAD/GET/POST/DELETE {base}{type}/{name}` (and `{base}config`) read,
//!   write and remove one file; a partial read is a `Range` request;
//! - `GET {base}{type}/` with `Accept: application/vnd.x.restic.rest.v2`
//!   lists `[{"name": .., "size": ..}]`.
//!
//! HTTP/1.1 through the shared client of [`super::http`] (connection pool,
//! TLS by rustls with aws-lc-rs, timeouts, size limits, retries of
//! connection errors, timeouts and 5xx answers; 4xx answers never).

use http::header::{ACCEPT, AUTHORIZATION, CONTENT_LENGTH};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use keepup_config::backup::REST_PASSWORD_WITHOUT_USER;
use keepup_model::text::base64;
use rustic_core::{FileType, Id, RusticResult};
use serde::Deserialize;

use super::http::{
    Authorize, Call, ERROR_BODY_QUOTE, HttpBackend, HttpClient, IoRuntime, Store, Verdict,
    status_line,
};
use super::{BackendError, Location, TargetOptions, bounded, rustic_error};

/// The listing format we ask for.
const V2: &str = "application/vnd.x.restic.rest.v2";
/// Largest listing accepted (a repository with a million packs lists in
/// about 100 MB).
const LIST_LIMIT: usize = 256 << 20;

/// A restic REST server target.
pub type RestBackend = HttpBackend<Rest>;

/// The REST protocol of one target.
pub struct Rest {
    http: HttpClient,
    /// Starts and ends with `/`.
    base: String,
    authorization: Option<HeaderValue>,
}

#[derive(Deserialize)]
struct ListEntry {
    name: String,
    size: u64,
}

impl HttpBackend<Rest> {
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
        let authorization = match (user, &opts.access.rest_password) {
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
                    reason: REST_PASSWORD_WITHOUT_USER.into(),
                });
            }
            (None, None) => None,
        };
        let host_header = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let rt = IoRuntime::new(&target, "keepup-rest")?;
        let http = HttpClient::new(target, host, *port, &host_header, *tls, opts, judge)?;
        Ok(Self::from_store(
            Rest {
                http,
                base: path.clone(),
                authorization,
            },
            rt,
        ))
    }
}

/// REST answers: 5xx is retried, anything else reported with the body.
fn judge(status: StatusCode, body: &[u8]) -> Verdict {
    let hint = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
            " (authentication failed: check the user in the location and the REST password)"
        }
        _ => "",
    };
    Verdict {
        retry: status.is_server_error(),
        text: status_line(status, hint, &String::from_utf8_lossy(body)),
    }
}

impl Authorize for Rest {
    /// restic's listing format, basic auth.
    fn authorize(&self, _call: &Call<'_>, h: &mut HeaderMap) -> Result<(), String> {
        h.insert(ACCEPT, HeaderValue::from_static(V2));
        if let Some(auth) = &self.authorization {
            h.insert(AUTHORIZATION, auth.clone());
        }
        Ok(())
    }
}

impl Rest {
    fn call<'a>(&'a self, op: &'a str, method: Method, path: &'a str) -> Call<'a> {
        Call::new(op, method, path, self)
    }
}

impl Store for Rest {
    fn http(&self) -> &HttpClient {
        &self.http
    }

    fn file_path(&self, tpe: FileType, id: &Id) -> String {
        match tpe {
            FileType::Config => format!("{}config", self.base),
            _ => format!("{}{}/{}", self.base, tpe.dirname(), id.to_hex().as_str()),
        }
    }

    fn write_method(&self) -> (Method, &'static [StatusCode]) {
        const OK: &[StatusCode] = &[StatusCode::OK, StatusCode::CREATED, StatusCode::NO_CONTENT];
        (Method::POST, OK)
    }

    async fn create(&self) -> RusticResult<()> {
        let path = format!("{}?create=true", self.base);
        let call = self
            .call("creating the repository", Method::POST, &path)
            .ok(&[StatusCode::OK, StatusCode::CREATED]);
        self.http.call(call).await?;
        Ok(())
    }

    async fn list(&self, tpe: FileType) -> RusticResult<Vec<(Id, u32)>> {
        if tpe == FileType::Config {
            let path = self.file_path(tpe, &Id::default());
            let r = self
                .http
                .call(
                    self.call("checking", Method::HEAD, &path)
                        .limit(0)
                        .ok(&[StatusCode::OK, StatusCode::NOT_FOUND]),
                )
                .await?;
            if r.status == StatusCode::NOT_FOUND {
                return Ok(Vec::new());
            }
            let size = r
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0);
            return Ok(vec![(Id::default(), size)]);
        }
        let path = format!("{}{}/", self.base, tpe.dirname());
        let r = self
            .http
            .call(
                self.call("listing", Method::GET, &path)
                    .limit(LIST_LIMIT)
                    .ok(&[StatusCode::OK, StatusCode::NOT_FOUND]),
            )
            .await?;
        if r.status == StatusCode::NOT_FOUND {
            // A directory that was never written to (as restic).
            return Ok(Vec::new());
        }
        let body = r.body;
        let entries: Vec<ListEntry> = serde_json::from_slice(&body).map_err(|e| {
            rustic_error(format!(
                "{}: listing {path}: not a restic REST v2 listing ({e}): {}",
                self.http.target,
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
                        tracing::warn!(target = %self.http.target, name = %e.name, size = e.size, "file too large for the repository format, ignored");
                        None
                    }
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timeouts_grow_with_size() {
        let o = TargetOptions::default();
        assert_eq!(o.request_timeout(0), o.io_timeout);
        assert!(o.request_timeout(100 << 20) > o.io_timeout + Duration::from_secs(1000));
    }
}
