//! The check kind `http`: its configuration as written (serde structs), as
//! validated (the public spec) and the validation between the two. `page`,
//! `security_txt` and `chain` checks reuse it for their HTTP part
//! ([`crate::pages`]).

use regex::Regex;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;

use crate::load::{Defaults, Inline, Loader, first_line};
use crate::raw::{Dur, RawTls};
use crate::spec::Secret;
use crate::tls::TlsOptions;

/// An accepted range of HTTP status codes, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub low: u16,
    /// Highest accepted code.
    pub high: u16,
}

impl StatusRange {
    /// Whether `code` is in range.
    pub fn contains(&self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }
}

/// One assertion on a response body.
#[derive(Debug, Clone)]
pub enum BodyAssertion {
    /// The text appears (`contains`).
    Contains(String),
    /// The text does not appear (`not_contains`).
    NotContains(String),
    /// The regex matches (`matches`).
    Matches(Regex),
    /// The regex does not match (`not_matches`).
    NotMatches(Regex),
    /// A JSON pointer (RFC 6901) into the body (`[[site.check.json]]`).
    Json(JsonAssertion),
}

/// `[[site.check.json]]`: `pointer` plus one of `equals`, `present`, `absent`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAssertion {
    /// RFC 6901 pointer, validated at load.
    pub pointer: String,
    /// What must hold there.
    pub expect: JsonExpect,
}

/// What a JSON assertion expects at its pointer.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonExpect {
    /// A value exists.
    Present,
    /// No value exists.
    Absent,
    /// The value equals this JSON value (a TOML string also matches a JSON
    /// number or bool with the same text, since shop APIs are inconsistent).
    Equals(serde_json::Value),
}

/// Basic authentication for an HTTP check.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password, from env or file.
    pub password: Secret,
}

/// `kind = "http"`
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// The URL as written.
    pub url: ::http::Uri,
    /// Request method (default GET).
    pub method: ::http::Method,
    /// Extra request headers.
    pub headers: Vec<(::http::HeaderName, ::http::HeaderValue)>,
    /// Request body.
    pub body: Option<String>,
    /// Optional basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// Accepted final status codes (default 200–299).
    pub expect_status: Vec<StatusRange>,
    /// Body assertions, all must hold.
    pub assertions: Vec<BodyAssertion>,
    /// Slower than this is Degraded.
    pub degraded_latency: Option<Duration>,
    /// Slower than this is Down.
    pub down_latency: Option<Duration>,
    /// Follow redirects (default true).
    pub follow_redirects: bool,
    /// Maximum redirects followed (default 5).
    pub max_redirects: u32,
    /// Body bytes read at most (default 1 MiB); more is a finding, not a hang.
    pub max_body_bytes: u64,
    /// TLS verification and certificate thresholds for https URLs.
    pub tls: TlsOptions,
    /// User-Agent header.
    pub user_agent: String,
}

// ---------------------------------------------------------------------------
// As written
// ---------------------------------------------------------------------------

/// Status codes: `200`, `"2xx"` or `"200-299"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawStatus {
    Code(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub username: String,
    pub password_env: Option<String>,
    pub password_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJson {
    pub pointer: Spanned<String>,
    pub equals: Option<toml::Value>,
    /// `exists = true` is read as `present = true`, as issue 16 wrote it.
    #[serde(alias = "exists")]
    pub present: Option<bool>,
    pub absent: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub url: Spanned<String>,
    pub method: Option<Spanned<String>>,
    pub headers: Option<Spanned<toml::Table>>,
    pub body: Option<String>,
    pub basic_auth: Option<Spanned<RawBasicAuth>>,
    pub expect_status: Option<Spanned<Vec<RawStatus>>>,
    #[serde(default)]
    pub contains: Vec<String>,
    #[serde(default)]
    pub not_contains: Vec<String>,
    #[serde(default)]
    pub matches: Vec<Spanned<String>>,
    #[serde(default)]
    pub not_matches: Vec<Spanned<String>>,
    #[serde(default)]
    pub json: Vec<Spanned<RawJson>>,
    pub degraded_latency: Option<Dur>,
    pub down_latency: Option<Dur>,
    pub follow_redirects: Option<bool>,
    pub max_redirects: Option<u32>,
    pub max_body_bytes: Option<u64>,
    pub user_agent: Option<String>,
    pub tls: Option<RawTls>,
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

impl Loader<'_> {
    pub(crate) fn http(
        &mut self,
        raw: RawHttp,
        path: &str,
        defaults: &Defaults,
    ) -> Option<HttpSpec> {
        let mut ok = true;
        let url = match raw.url.get_ref().parse::<::http::Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("http" | "https"))
                    && u.host().is_some_and(|h| !h.is_empty()) =>
            {
                Some(u)
            }
            Ok(_) => {
                self.rep.report(
                    raw.url.span(),
                    &format!("{path}.url"),
                    format!(
                        "{:?} is not an absolute http:// or https:// URL",
                        raw.url.get_ref()
                    ),
                    Some("write e.g. \"https://shop.example/\"".into()),
                );
                None
            }
            Err(e) => {
                self.rep.report(
                    raw.url.span(),
                    &format!("{path}.url"),
                    format!("invalid URL {:?}: {e}", raw.url.get_ref()),
                    None,
                );
                None
            }
        };
        let method = match &raw.method {
            None => ::http::Method::GET,
            Some(m) => {
                match ::http::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
                    Ok(m) => m,
                    Err(_) => {
                        self.rep.report(
                            m.span(),
                            &format!("{path}.method"),
                            format!("invalid HTTP method {:?}", m.get_ref()),
                            None,
                        );
                        ok = false;
                        ::http::Method::GET
                    }
                }
            }
        };
        let mut headers = Vec::new();
        let header_table = raw
            .headers
            .unwrap_or_else(|| Spanned::new(0..0, toml::Table::new()));
        for (name, value) in header_table.get_ref() {
            let parsed_name = ::http::HeaderName::from_bytes(name.as_bytes());
            let parsed_value = value.as_str().map(::http::HeaderValue::from_str);
            match (parsed_name, parsed_value) {
                (Ok(n), Some(Ok(v))) => headers.push((n, v)),
                _ => {
                    self.rep.report(
                        header_table.span(),
                        &format!("{path}.headers.{name}"),
                        "invalid header: names are tokens and values printable strings",
                        None,
                    );
                    ok = false;
                }
            }
        }
        let basic_auth = match raw.basic_auth {
            None => None,
            Some(b) => {
                let span = b.span();
                let b = b.into_inner();
                let secret = self.secret(
                    Inline::NotAccepted,
                    b.password_env.as_deref(),
                    b.password_file.as_deref(),
                    span,
                    &format!("{path}.basic_auth"),
                    "password",
                );
                match secret {
                    Some(password) => Some(BasicAuth {
                        username: b.username,
                        password,
                    }),
                    None => {
                        ok = false;
                        None
                    }
                }
            }
        };
        let expect_status = self.expect_status(
            raw.expect_status.as_ref(),
            path,
            StatusRange {
                low: 200,
                high: 299,
            },
            &mut ok,
        );
        let assertions = self.body_assertions(
            RawBodyAssertions {
                contains: raw.contains,
                not_contains: raw.not_contains,
                matches: raw.matches,
                not_matches: raw.not_matches,
                json: raw.json,
            },
            path,
            &mut ok,
        );
        let tls = self.tls_options(raw.tls.as_ref(), &defaults.tls, &format!("{path}.tls"))?;
        if let (Some(d), Some(c)) = (raw.degraded_latency, raw.down_latency)
            && d.0 > c.0
        {
            self.rep.report(
                raw.url.span(),
                &format!("{path}.degraded_latency"),
                "degraded_latency is above down_latency",
                None,
            );
            ok = false;
        }
        let url = url?;
        ok.then_some(HttpSpec {
            url,
            method,
            headers,
            body: raw.body,
            basic_auth,
            expect_status,
            assertions,
            degraded_latency: raw.degraded_latency.map(|d| d.0),
            down_latency: raw.down_latency.map(|d| d.0),
            follow_redirects: raw.follow_redirects.unwrap_or(true),
            max_redirects: raw.max_redirects.unwrap_or(defaults.max_redirects),
            max_body_bytes: raw.max_body_bytes.unwrap_or(defaults.max_body_bytes),
            tls,
            user_agent: raw
                .user_agent
                .unwrap_or_else(|| defaults.user_agent.clone()),
        })
    }
}

/// The body assertion keys shared by `http` checks and scenario steps.
pub(crate) struct RawBodyAssertions {
    pub contains: Vec<String>,
    pub not_contains: Vec<String>,
    pub matches: Vec<Spanned<String>>,
    pub not_matches: Vec<Spanned<String>>,
    pub json: Vec<Spanned<RawJson>>,
}

impl Loader<'_> {
    /// `expect_status` of the table at `path`, or `default` when absent;
    /// clears `ok` on a bad code.
    pub(crate) fn expect_status(
        &mut self,
        raw: Option<&Spanned<Vec<RawStatus>>>,
        path: &str,
        default: StatusRange,
        ok: &mut bool,
    ) -> Vec<StatusRange> {
        let Some(list) = raw else {
            return vec![default];
        };
        let mut ranges = Vec::new();
        for s in list.get_ref() {
            match parse_status(s) {
                Some(r) => ranges.push(r),
                None => {
                    self.rep.report(
                        list.span(),
                        &format!("{path}.expect_status"),
                        format!("invalid status {s:?}"),
                        Some("write codes like 200, \"2xx\" or \"200-204\"".into()),
                    );
                    *ok = false;
                }
            }
        }
        ranges
    }

    /// The compiled body assertions of the table at `path` (regexes built,
    /// JSON pointers checked); clears `ok` on a bad one.
    pub(crate) fn body_assertions(
        &mut self,
        raw: RawBodyAssertions,
        path: &str,
        ok: &mut bool,
    ) -> Vec<BodyAssertion> {
        let mut assertions = Vec::new();
        assertions.extend(raw.contains.into_iter().map(BodyAssertion::Contains));
        assertions.extend(raw.not_contains.into_iter().map(BodyAssertion::NotContains));
        for (key, list, negate) in [
            ("matches", raw.matches, false),
            ("not_matches", raw.not_matches, true),
        ] {
            for r in list {
                if let Some(re) = self.regex(&r, &format!("{path}.{key}")) {
                    assertions.push(if negate {
                        BodyAssertion::NotMatches(re)
                    } else {
                        BodyAssertion::Matches(re)
                    });
                } else {
                    *ok = false;
                }
            }
        }
        for j in raw.json {
            let span = j.span();
            let j = j.into_inner();
            let Some(pointer) = self.json_pointer(&j.pointer, &format!("{path}.json.pointer"))
            else {
                *ok = false;
                continue;
            };
            let expect = match (j.equals, j.present, j.absent) {
                (Some(v), None, None) => JsonExpect::Equals(toml_to_json(v)),
                (None, Some(true), None) => JsonExpect::Present,
                (None, None, Some(true)) => JsonExpect::Absent,
                _ => {
                    self.rep.report(span, &format!("{path}.json"), "a JSON assertion needs exactly one of `equals = ...`, `present = true` or `absent = true`", None);
                    *ok = false;
                    continue;
                }
            };
            assertions.push(BodyAssertion::Json(JsonAssertion { pointer, expect }));
        }
        assertions
    }

    /// A regex as written at `key`, compiled with a bounded size.
    pub(crate) fn regex(&mut self, r: &Spanned<String>, key: &str) -> Option<Regex> {
        match regex::RegexBuilder::new(r.get_ref())
            .size_limit(1 << 20)
            .build()
        {
            Ok(re) => Some(re),
            Err(e) => {
                self.rep.report(
                    r.span(),
                    key,
                    format!("invalid regex: {}", first_line(&e.to_string())),
                    None,
                );
                None
            }
        }
    }

    /// An RFC 6901 JSON pointer as written at `key`, checked.
    pub(crate) fn json_pointer(&mut self, p: &Spanned<String>, key: &str) -> Option<String> {
        let pointer = p.get_ref();
        if valid_json_pointer(pointer) {
            return Some(pointer.clone());
        }
        self.rep.report(p.span(), key, format!("invalid JSON pointer {pointer:?}"), Some("an RFC 6901 pointer starts with '/', e.g. \"/status\" or \"/items/0/id\"; escape '~' as ~0 and '/' as ~1".into()));
        None
    }
}

fn parse_status(s: &RawStatus) -> Option<StatusRange> {
    let range = match s {
        RawStatus::Code(c) => {
            let c = u16::try_from(*c).ok()?;
            StatusRange { low: c, high: c }
        }
        RawStatus::Text(t) => {
            let t = t.trim();
            if let Some(class) = t.strip_suffix("xx").or_else(|| t.strip_suffix("XX")) {
                let d: u16 = class.parse().ok()?;
                StatusRange {
                    low: d * 100,
                    high: d * 100 + 99,
                }
            } else if let Some((a, b)) = t.split_once('-') {
                StatusRange {
                    low: a.trim().parse().ok()?,
                    high: b.trim().parse().ok()?,
                }
            } else {
                let c = t.parse().ok()?;
                StatusRange { low: c, high: c }
            }
        }
    };
    ((100..=599).contains(&range.low)
        && (100..=599).contains(&range.high)
        && range.low <= range.high)
        .then_some(range)
}

/// RFC 6901: empty (whole document) or `/`-separated tokens where `~` is
/// only followed by `0` or `1`.
fn valid_json_pointer(p: &str) -> bool {
    if p.is_empty() {
        return true;
    }
    if !p.starts_with('/') {
        return false;
    }
    let b = p.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, &c)| c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

fn toml_to_json(v: toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s),
        toml::Value::Integer(i) => serde_json::Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        toml::Value::Boolean(b) => serde_json::Value::Bool(b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(toml_to_json).collect())
        }
        toml::Value::Table(t) => {
            serde_json::Value::Object(t.into_iter().map(|(k, v)| (k, toml_to_json(v))).collect())
        }
    }
}
