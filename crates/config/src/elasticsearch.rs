//! The check kind `elasticsearch` (Elasticsearch and OpenSearch): the
//! cluster's health as `GET /_cluster/health` tells it. Its configuration
//! as written, as validated, and the validation between the two.
//!
//! `url` is the cluster's address; every `kind = "http"` key applies to
//! the request (TLS, `basic_auth`, headers, limits), and an API key can be
//! given by `api_key_env` or `api_key_file` (sent as
//! `Authorization: ApiKey <key>`, the encoded key Elasticsearch prints).

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::http::HttpSpec;
use crate::load::{Defaults, Inline, Loader};

/// The keys of an `elasticsearch` check besides the HTTP ones.
const ELASTICSEARCH_KEYS: &[&str] = &["nodes", "api_key_env", "api_key_file"];

/// `kind = "elasticsearch"`
#[derive(Debug, Clone)]
pub struct ElasticsearchSpec {
    /// The request for `<url>/_cluster/health`.
    pub http: HttpSpec,
    /// How many nodes the cluster should have; fewer is a finding.
    pub nodes: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawElasticsearchExtras {
    nodes: Option<Spanned<i64>>,
    api_key_env: Option<Spanned<String>>,
    api_key_file: Option<Spanned<String>>,
}

impl Loader<'_> {
    pub(crate) fn elasticsearch(
        &mut self,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<ElasticsearchSpec> {
        let span = specific.span();
        let (extra, rest) = Self::split_table(specific, ELASTICSEARCH_KEYS);
        let http = self.http_part(rest, path, defaults, ELASTICSEARCH_KEYS);
        let extra: RawElasticsearchExtras = self.deserialize(extra, path, &[])?;
        let mut ok = true;
        let nodes = match &extra.nodes {
            None => None,
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(count @ 1..) => Some(count),
                _ => {
                    self.rep.report(
                        n.span(),
                        &format!("{path}.nodes"),
                        format!(
                            "{} nodes: give the count the cluster should have, at least 1",
                            n.get_ref()
                        ),
                        None,
                    );
                    ok = false;
                    None
                }
            },
        };
        let api_key = if extra.api_key_env.is_some() || extra.api_key_file.is_some() {
            let key_span = extra
                .api_key_env
                .as_ref()
                .or(extra.api_key_file.as_ref())
                .map_or(span.clone(), Spanned::span);
            let secret = self.secret(
                Inline::NotAccepted,
                extra.api_key_env.as_ref().map(|v| v.get_ref().as_str()),
                extra.api_key_file.as_ref().map(|v| v.get_ref().as_str()),
                key_span.clone(),
                path,
                "api_key",
            );
            match secret.map(|s| ::http::HeaderValue::from_str(&format!("ApiKey {}", s.expose()))) {
                Some(Ok(mut value)) => {
                    value.set_sensitive(true);
                    Some(value)
                }
                Some(Err(_)) => {
                    self.rep.report(
                        key_span,
                        &format!("{path}.api_key"),
                        "the API key cannot be sent in a header (it holds control characters)",
                        None,
                    );
                    None
                }
                None => None,
            }
        } else {
            None
        };
        let mut http = http?;
        if api_key.is_none() && (extra.api_key_env.is_some() || extra.api_key_file.is_some()) {
            return None;
        }
        if let Some(value) = api_key {
            if http.basic_auth.is_some() {
                self.rep.report(
                    span,
                    &format!("{path}.api_key"),
                    "give an API key or basic_auth, not both",
                    None,
                );
                return None;
            }
            http.headers.push((::http::header::AUTHORIZATION, value));
        }
        // The health endpoint below the cluster's address (which may have
        // a path of its own behind a proxy).
        let base = http.url.path().trim_end_matches('/');
        let health = format!("{base}/_cluster/health");
        let mut parts = http.url.clone().into_parts();
        parts.path_and_query = health.parse().ok();
        match ::http::Uri::from_parts(parts) {
            Ok(url) => http.url = url,
            Err(_) => ok = false,
        }
        ok.then_some(ElasticsearchSpec { http, nodes })
    }
}
