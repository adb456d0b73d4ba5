//! The check kinds `ping`, `page`, `security_txt` and `chain`: their
//! configuration as written (serde structs), as validated (the public specs)
//! and the validation between the two.
//!
//! `page` and `chain` are HTTP checks with extra keys: their table is split
//! into the extra keys and the rest, and the rest is validated exactly like
//! a `kind = "http"` check, so that every HTTP option (headers, basic auth,
//! expected statuses, TLS options, body limit) means the same everywhere.

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::http::{HttpSpec, RawHttp, StatusRange};
use crate::load::{Defaults, Loader};
use crate::raw::{COMMON_CHECK_KEYS, Dur, RawTls};
use crate::spec::{CheckSpec, ProbeSpec};
use crate::tls::TlsOptions;

/// The kinds defined in this module.
pub(crate) const KINDS: &[&str] = &["ping", "page", "security_txt", "chain"];

/// RFC 9116's location of the file.
pub const SECURITY_TXT_PATH: &str = "/.well-known/security.txt";

/// A security.txt larger than this is not read further (real files are a
/// few hundred bytes; a signed one a few KiB).
pub const SECURITY_TXT_MAX_BYTES: u64 = 64 * 1024;

/// Which addresses of a name a ping uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressFamily {
    /// The first address the resolver returns.
    #[default]
    Any,
    /// The first IPv4 address.
    Ipv4,
    /// The first IPv6 address.
    Ipv6,
}

/// `kind = "ping"`: ICMP echo requests to one address.
#[derive(Debug, Clone, PartialEq)]
pub struct PingSpec {
    /// Host name or IP literal.
    pub host: String,
    /// Which address family to ping (default: whichever resolves first).
    pub family: AddressFamily,
    /// Echo requests per run (default 5).
    pub count: u32,
    /// Time between two echo requests (`ping_interval`, default 200 ms).
    pub spacing: Duration,
    /// How long a reply may take; a later one counts as lost (default 1 s).
    pub reply_timeout: Duration,
    /// Loss (percent) at or above which the check is Degraded (default 20).
    pub degraded_loss: f64,
    /// Loss (percent) at or above which the check is Down (default 100).
    pub down_loss: f64,
    /// Average round trip above which the check is Degraded.
    pub degraded_rtt: Option<Duration>,
    /// Average round trip above which the check is Down.
    pub down_rtt: Option<Duration>,
}

/// `kind = "page"`: a page that must exist and say certain things, such as
/// a privacy policy or the legal notice.
#[derive(Debug, Clone)]
pub struct PageSpec {
    /// How the page is fetched (every `kind = "http"` key applies).
    pub http: HttpSpec,
    /// Texts that must appear in the page's visible text (case-insensitive,
    /// whitespace-insensitive).
    pub phrases: Vec<String>,
    /// Compare against a random non-existent sibling path to catch "soft
    /// 404s" (default true).
    pub soft_404: bool,
    /// Report changes of the normalised text (default true).
    pub detect_changes: bool,
    /// How long a detected change keeps being reported (default 1 day), so
    /// that it is seen and can be confirmed like any other problem.
    pub change_hold: Duration,
    /// Extra noise: text matching these is removed before comparing.
    pub ignore: Vec<Regex>,
}

/// `kind = "security_txt"`: RFC 9116's `/.well-known/security.txt`.
#[derive(Debug, Clone)]
pub struct SecurityTxtSpec {
    /// How the file is fetched (GET, every status accepted: the probe judges
    /// it, at most [`SECURITY_TXT_MAX_BYTES`]).
    pub http: HttpSpec,
    /// Whether the URL was derived from a domain or a site root, in which
    /// case the legacy location `/security.txt` is tried when the
    /// well-known one is missing.
    pub derived: bool,
    /// Warn when the file expires within this many days (default 30).
    pub warn_days: u32,
}

/// `kind = "chain"`: an external dependency (payment gateway, partner API)
/// checked link by link: DNS, TLS, HTTP.
#[derive(Debug, Clone)]
pub struct ChainSpec {
    /// The endpoint and what its answer must look like (every
    /// `kind = "http"` key applies).
    pub http: HttpSpec,
    /// The vendor's status page, if any.
    pub status_page: Option<StatusPageSpec>,
}

/// An Atlassian Statuspage (`/api/v2/summary.json`) to read alongside a
/// chain.
#[derive(Debug, Clone)]
pub struct StatusPageSpec {
    /// The summary document's URL.
    pub http: HttpSpec,
    /// The vendor's component names that matter to us (case-insensitive);
    /// empty: the page's overall indicator is used.
    pub components: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPing {
    host: Spanned<String>,
    family: Option<Spanned<String>>,
    count: Option<Spanned<i64>>,
    ping_interval: Option<Spanned<Dur>>,
    reply_timeout: Option<Spanned<Dur>>,
    degraded_loss: Option<Spanned<f64>>,
    down_loss: Option<Spanned<f64>>,
    degraded_rtt: Option<Spanned<Dur>>,
    down_rtt: Option<Spanned<Dur>>,
}

/// The keys a page has on top of an HTTP check's.
const PAGE_KEYS: &[&str] = &[
    "phrases",
    "soft_404",
    "detect_changes",
    "change_hold",
    "ignore",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPageExtras {
    #[serde(default)]
    phrases: Vec<Spanned<String>>,
    soft_404: Option<bool>,
    detect_changes: Option<bool>,
    change_hold: Option<Spanned<Dur>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
}

/// The keys a chain has on top of an HTTP check's.
const CHAIN_KEYS: &[&str] = &["status_page", "components"];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChainExtras {
    status_page: Option<Spanned<String>>,
    components: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSecurityTxt {
    url: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    warn_days: Option<Spanned<i64>>,
    user_agent: Option<String>,
    tls: Option<RawTls>,
}

impl Loader<'_> {
    /// Validates the kind-specific keys of a check of one of [`KINDS`].
    pub(crate) fn pages_check(
        &mut self,
        kind: &str,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
        timeout: Duration,
    ) -> Option<CheckSpec> {
        match kind {
            "ping" => self
                .deserialize::<RawPing>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|raw| self.ping(raw, path, timeout))
                .map(|s| CheckSpec::Probe(ProbeSpec::Ping(s))),
            "page" => self
                .page(specific, path, defaults)
                .map(|s| CheckSpec::Probe(ProbeSpec::Page(Box::new(s)))),
            "security_txt" => {
                let span = specific.span();
                self.deserialize::<RawSecurityTxt>(specific, path, COMMON_CHECK_KEYS)
                    .and_then(|raw| self.security_txt(raw, path, defaults, span))
                    .map(|s| CheckSpec::Probe(ProbeSpec::SecurityTxt(Box::new(s))))
            }
            _ => self
                .chain(specific, path, defaults)
                .map(|s| CheckSpec::Probe(ProbeSpec::Chain(Box::new(s)))),
        }
    }

    fn ping(&mut self, raw: RawPing, path: &str, timeout: Duration) -> Option<PingSpec> {
        let mut ok = true;
        let host = self.host(&raw.host, path);
        let family = match &raw.family {
            None => AddressFamily::Any,
            Some(f) => match f.get_ref().as_str() {
                "any" => AddressFamily::Any,
                "ipv4" => AddressFamily::Ipv4,
                "ipv6" => AddressFamily::Ipv6,
                other => {
                    self.rep.report(
                        f.span(),
                        &format!("{path}.family"),
                        format!("unknown address family {other:?}"),
                        Some("write \"any\", \"ipv4\" or \"ipv6\"".into()),
                    );
                    ok = false;
                    AddressFamily::Any
                }
            },
        };
        let count = match &raw.count {
            None => 5,
            Some(c) => match u32::try_from(*c.get_ref()) {
                Ok(n @ 1..=100) => n,
                _ => {
                    self.rep.report(
                        c.span(),
                        &format!("{path}.count"),
                        format!("invalid count {}", c.get_ref()),
                        Some("send between 1 and 100 echo requests per run".into()),
                    );
                    ok = false;
                    5
                }
            },
        };
        let spacing = match &raw.ping_interval {
            None => Duration::from_millis(200),
            Some(d) => {
                let v = d.get_ref().0;
                if v < Duration::from_millis(10) || v > Duration::from_secs(10) {
                    self.rep.report(
                        d.span(),
                        &format!("{path}.ping_interval"),
                        "must be between 10ms and 10s",
                        None,
                    );
                    ok = false;
                }
                v
            }
        };
        let reply_timeout = match &raw.reply_timeout {
            None => Duration::from_secs(1),
            Some(d) => self.positive(d, &format!("{path}.reply_timeout")),
        };
        let mut percent =
            |v: &Option<Spanned<f64>>, key: &str, default: f64, this: &mut Self| match v {
                None => default,
                Some(p) if *p.get_ref() > 0.0 && *p.get_ref() <= 100.0 => *p.get_ref(),
                Some(p) => {
                    this.rep.report(
                        p.span(),
                        &format!("{path}.{key}"),
                        format!("invalid loss {}", p.get_ref()),
                        Some("a loss threshold is a percentage above 0 and at most 100".into()),
                    );
                    ok = false;
                    default
                }
            };
        let degraded_loss = percent(&raw.degraded_loss, "degraded_loss", 20.0, self);
        let down_loss = percent(&raw.down_loss, "down_loss", 100.0, self);
        if degraded_loss > down_loss {
            let span = raw
                .degraded_loss
                .as_ref()
                .or(raw.down_loss.as_ref())
                .map(|s| s.span())
                .unwrap_or(raw.host.span());
            self.rep.report(
                span,
                &format!("{path}.degraded_loss"),
                format!("degraded_loss ({degraded_loss}) is above down_loss ({down_loss})"),
                None,
            );
            ok = false;
        }
        let degraded_rtt = raw
            .degraded_rtt
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.degraded_rtt")));
        let down_rtt = raw
            .down_rtt
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.down_rtt")));
        if let (Some(d), Some(c), Some(span)) = (
            degraded_rtt,
            down_rtt,
            raw.degraded_rtt.as_ref().map(|s| s.span()),
        ) && d > c
        {
            self.rep.report(
                span,
                &format!("{path}.degraded_rtt"),
                "degraded_rtt is above down_rtt",
                None,
            );
            ok = false;
        }
        // The last request is sent (count - 1) intervals after the first and
        // its reply awaited for reply_timeout: all of it must fit the run.
        let needed = spacing.saturating_mul(count.saturating_sub(1)) + reply_timeout;
        if ok && needed > timeout {
            let span = raw
                .ping_interval
                .as_ref()
                .map(|s| s.span())
                .or(raw.count.as_ref().map(|s| s.span()))
                .or(raw.reply_timeout.as_ref().map(|s| s.span()))
                .unwrap_or(raw.host.span());
            self.rep.report(
                span,
                path,
                format!(
                    "{count} echo requests {} apart plus {} for the last reply take {}, longer than the timeout ({})",
                    humantime::format_duration(spacing),
                    humantime::format_duration(reply_timeout),
                    humantime::format_duration(needed),
                    humantime::format_duration(timeout)
                ),
                Some("lower count, ping_interval or reply_timeout, or raise timeout".into()),
            );
            ok = false;
        }
        let host = host?;
        ok.then_some(PingSpec {
            host,
            family,
            count,
            spacing,
            reply_timeout,
            degraded_loss,
            down_loss,
            degraded_rtt,
            down_rtt,
        })
    }

    /// Splits `extra_keys` off a check table: (the extra keys, the rest).
    pub(crate) fn split_table<'de>(
        specific: Spanned<DeValue<'de>>,
        extra_keys: &[&str],
    ) -> (Spanned<DeValue<'de>>, Spanned<DeValue<'de>>) {
        let span = specific.span();
        let mut extra = DeTable::new();
        let mut rest = DeTable::new();
        if let DeValue::Table(table) = specific.into_inner() {
            for (k, v) in table {
                if extra_keys.contains(&k.get_ref().as_ref()) {
                    extra.insert(k, v);
                } else {
                    rest.insert(k, v);
                }
            }
        }
        (
            Spanned::new(span.clone(), DeValue::Table(extra)),
            Spanned::new(span, DeValue::Table(rest)),
        )
    }

    /// The rest of a split table as an HTTP check; `extra_keys` are named
    /// in hints for unknown keys.
    pub(crate) fn http_part(
        &mut self,
        rest: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
        extra_keys: &[&str],
    ) -> Option<HttpSpec> {
        let siblings: Vec<&str> = COMMON_CHECK_KEYS
            .iter()
            .chain(extra_keys.iter())
            .copied()
            .collect();
        self.deserialize::<RawHttp>(rest, path, &siblings)
            .and_then(|raw| self.http(raw, path, defaults))
    }

    fn page(
        &mut self,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<PageSpec> {
        let (extra, rest) = Self::split_table(specific, PAGE_KEYS);
        let http = self.http_part(rest, path, defaults, PAGE_KEYS);
        let extra: RawPageExtras = self.deserialize(extra, path, &[])?;
        let mut ok = true;
        let mut phrases = Vec::new();
        for p in &extra.phrases {
            let normalised = p.get_ref().split_whitespace().collect::<Vec<_>>().join(" ");
            if normalised.is_empty() {
                self.rep.report(
                    p.span(),
                    &format!("{path}.phrases"),
                    "a phrase must not be empty",
                    None,
                );
                ok = false;
            } else {
                phrases.push(normalised);
            }
        }
        let mut ignore = Vec::new();
        for r in &extra.ignore {
            match regex::RegexBuilder::new(r.get_ref())
                .size_limit(1 << 20)
                .build()
            {
                Ok(re) => ignore.push(re),
                Err(e) => {
                    self.rep.report(
                        r.span(),
                        &format!("{path}.ignore"),
                        format!(
                            "invalid regex: {}",
                            e.to_string().lines().next().unwrap_or_default()
                        ),
                        None,
                    );
                    ok = false;
                }
            }
        }
        let change_hold = extra
            .change_hold
            .map(|d| d.get_ref().0)
            .unwrap_or(Duration::from_secs(86_400));
        let http = http?;
        ok.then_some(PageSpec {
            http,
            phrases,
            soft_404: extra.soft_404.unwrap_or(true),
            detect_changes: extra.detect_changes.unwrap_or(true),
            change_hold,
            ignore,
        })
    }

    fn chain(
        &mut self,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<ChainSpec> {
        let (extra, rest) = Self::split_table(specific, CHAIN_KEYS);
        let http = self.http_part(rest, path, defaults, CHAIN_KEYS);
        let extra: RawChainExtras = self.deserialize(extra, path, &[])?;
        let http = http?;
        let components: Vec<Spanned<String>> = extra
            .components
            .as_ref()
            .map(|c| c.get_ref().clone())
            .unwrap_or_default();
        let mut ok = true;
        for c in &components {
            if c.get_ref().trim().is_empty() {
                self.rep.report(
                    c.span(),
                    &format!("{path}.components"),
                    "a component name must not be empty",
                    None,
                );
                ok = false;
            }
        }
        let status_page = match (&extra.status_page, &extra.components) {
            (None, None) => None,
            (None, Some(c)) => {
                self.rep.report(
                    c.span(),
                    &format!("{path}.components"),
                    "components are read from a status page, but there is no `status_page`",
                    Some("add status_page = \"https://status.vendor.example\"".into()),
                );
                return None;
            }
            (Some(url), _) => {
                let uri = self.web_url(url, &format!("{path}.status_page"))?;
                let uri = if uri.path().ends_with(".json") {
                    uri
                } else {
                    with_path(&uri, "/api/v2/summary.json")?
                };
                Some(StatusPageSpec {
                    http: plain_get(uri, http.tls.clone(), defaults, defaults.max_body_bytes),
                    components: components
                        .iter()
                        .map(|c| c.get_ref().trim().to_owned())
                        .collect(),
                })
            }
        };
        ok.then_some(ChainSpec { http, status_page })
    }

    fn security_txt(
        &mut self,
        raw: RawSecurityTxt,
        path: &str,
        defaults: &Defaults,
        table: std::ops::Range<usize>,
    ) -> Option<SecurityTxtSpec> {
        let (uri, derived) = match (&raw.url, &raw.domain) {
            (Some(url), None) => {
                let uri = self.web_url(url, &format!("{path}.url"))?;
                if matches!(uri.path(), "" | "/") && uri.query().is_none() {
                    (with_path(&uri, SECURITY_TXT_PATH)?, true)
                } else {
                    (uri, false)
                }
            }
            (None, Some(domain)) => {
                let name = domain.get_ref().trim_end_matches('.');
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name.split('.').all(|l| {
                        !l.is_empty()
                            && l.len() <= 63
                            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    });
                let uri = valid
                    .then(|| {
                        format!("https://{name}{SECURITY_TXT_PATH}")
                            .parse::<http::Uri>()
                            .ok()
                    })
                    .flatten();
                match uri {
                    Some(uri) => (uri, true),
                    None => {
                        self.rep.report(
                            domain.span(),
                            &format!("{path}.domain"),
                            format!("{:?} is not a domain name", domain.get_ref()),
                            Some("write the shop's domain, e.g. \"shop.example\"".into()),
                        );
                        return None;
                    }
                }
            }
            (Some(url), Some(_)) => {
                self.rep.report(
                    url.span(),
                    &format!("{path}.url"),
                    "give either `url` or `domain`, not both",
                    None,
                );
                return None;
            }
            (None, None) => {
                self.rep.report(
                    table,
                    path,
                    "missing key `url` or `domain`",
                    Some(
                        "write domain = \"shop.example\" or url = \"https://shop.example/\"".into(),
                    ),
                );
                return None;
            }
        };
        let warn_days = match &raw.warn_days {
            None => 30,
            Some(w) => match u32::try_from(*w.get_ref()) {
                Ok(d @ 0..=3650) => d,
                _ => {
                    self.rep.report(
                        w.span(),
                        &format!("{path}.warn_days"),
                        format!("invalid number of days {}", w.get_ref()),
                        Some("between 0 and 3650".into()),
                    );
                    return None;
                }
            },
        };
        let tls = self.tls_options(raw.tls.as_ref(), &defaults.tls, path)?;
        let mut http = plain_get(uri, tls, defaults, SECURITY_TXT_MAX_BYTES);
        if let Some(agent) = raw.user_agent {
            http.user_agent = agent;
        }
        Some(SecurityTxtSpec {
            http,
            derived,
            warn_days,
        })
    }

    /// An absolute http(s) URL with a host.
    fn web_url(&mut self, url: &Spanned<String>, key: &str) -> Option<http::Uri> {
        match url.get_ref().parse::<http::Uri>() {
            Ok(u)
                if matches!(u.scheme_str(), Some("http" | "https"))
                    && u.host().is_some_and(|h| !h.is_empty()) =>
            {
                Some(u)
            }
            _ => {
                self.rep.report(
                    url.span(),
                    key,
                    format!(
                        "{:?} is not an absolute http:// or https:// URL",
                        url.get_ref()
                    ),
                    Some("write e.g. \"https://shop.example/\"".into()),
                );
                None
            }
        }
    }
}

/// `uri` with its path (and query) replaced by `path`, which may extend a
/// base path (`https://status.example/vendor` + `/api/v2/summary.json`).
fn with_path(uri: &http::Uri, path: &str) -> Option<http::Uri> {
    let base = uri.path().trim_end_matches('/');
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = format!("{base}{path}").parse().ok();
    http::Uri::from_parts(parts).ok()
}

/// A plain GET of `url` that accepts every status (the probe judges it).
fn plain_get(url: http::Uri, tls: TlsOptions, defaults: &Defaults, max_body: u64) -> HttpSpec {
    HttpSpec {
        url,
        method: http::Method::GET,
        headers: Vec::new(),
        body: None,
        basic_auth: None,
        expect_status: vec![StatusRange {
            low: 100,
            high: 599,
        }],
        assertions: Vec::new(),
        degraded_latency: None,
        down_latency: None,
        follow_redirects: true,
        max_redirects: defaults.max_redirects,
        max_body_bytes: max_body,
        tls,
        user_agent: defaults.user_agent.clone(),
    }
}
