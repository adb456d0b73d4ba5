//! `kind = "domain"` (registration expiry of a domain, looked up with RDAP
//! or WHOIS) and the global `[domain]` section that every domain check
//! shares (where the RDAP bootstrap comes from, how long answers are
//! cached, how far apart queries to one registry server are).
//!
//! Everything is validated here: the domain name (ASCII, at least two
//! labels), the thresholds, the override URL and server. The global
//! settings are copied into each [`DomainSpec`], so a probe needs nothing
//! but its spec, and a reload that changes them changes the fingerprint.

use crate::load::Loader;
use crate::raw::Dur;
use serde::Deserialize;
use std::time::Duration;
use toml::Spanned;
use toml::de::DeValue;

/// IANA's RDAP bootstrap file for domain names (RFC 9224).
pub const IANA_DNS_BOOTSTRAP: &str = "https://data.iana.org/rdap/dns.json";

/// `[domain]`: settings shared by every `kind = "domain"` check.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainSettings {
    /// Where the RDAP bootstrap file is refreshed from (default IANA's).
    pub bootstrap_url: http::Uri,
    /// Whether to refresh the bundled bootstrap from `bootstrap_url` at all
    /// (default true). With `false` only the copy built into keepup is used.
    pub refresh: bool,
    /// How often the bootstrap is refreshed (default 1 day).
    pub refresh_interval: Duration,
    /// How long a registry's answer is reused (default 12 h).
    pub cache: Duration,
    /// Minimum time between two queries to the same RDAP or WHOIS server
    /// (default 1 s; 0 disables the spacing).
    pub query_spacing: Duration,
}

impl Default for DomainSettings {
    fn default() -> Self {
        Self {
            bootstrap_url: http::Uri::from_static(IANA_DNS_BOOTSTRAP),
            refresh: true,
            refresh_interval: Duration::from_secs(86_400),
            cache: Duration::from_secs(12 * 3600),
            query_spacing: Duration::from_secs(1),
        }
    }
}

/// A WHOIS server as `host` and `port` (default 43).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhoisServer {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
}

/// `kind = "domain"`: when does the registration of `domain` expire?
#[derive(Debug, Clone, PartialEq)]
pub struct DomainSpec {
    /// The registered domain, lowercase ASCII (IDNs in their `xn--` form),
    /// without a trailing dot.
    pub domain: String,
    /// Degraded when fewer days remain (default 30).
    pub warn_days: u32,
    /// Down when fewer days remain (default 7).
    pub critical_days: u32,
    /// RDAP base URL to ask instead of the bootstrap's (ends with `/`; the
    /// query is `{rdap_url}domain/{domain}`).
    pub rdap_url: Option<http::Uri>,
    /// WHOIS server to ask: instead of the bundled table, or, together
    /// with `rdap_url`, when RDAP fails.
    pub whois_server: Option<WhoisServer>,
    /// How long an answer is reused for this check (default `[domain]
    /// cache`).
    pub cache: Duration,
    /// The `[domain]` settings.
    pub settings: DomainSettings,
}

/// `[domain]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDomainSection {
    bootstrap_url: Option<Spanned<String>>,
    refresh: Option<bool>,
    refresh_interval: Option<Spanned<Dur>>,
    cache: Option<Spanned<Dur>>,
    query_spacing: Option<Spanned<Dur>>,
}

/// The kind-specific keys of a domain check, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDomainCheck {
    domain: Spanned<String>,
    warn_days: Option<Spanned<i64>>,
    critical_days: Option<Spanned<i64>>,
    rdap_url: Option<Spanned<String>>,
    whois_server: Option<Spanned<String>>,
    cache: Option<Spanned<Dur>>,
}

/// The largest threshold accepted, in days (registrations run at most ten
/// years).
const MAX_DAYS: i64 = 3650;

impl Loader<'_> {
    /// `[domain]`, or the defaults when it is absent.
    pub(crate) fn domain_section(&mut self, value: Option<Spanned<DeValue<'_>>>) -> DomainSettings {
        let mut settings = DomainSettings::default();
        let Some(value) = value else {
            return settings;
        };
        let Some(raw) = self.deserialize::<RawDomainSection>(value, "domain", &[]) else {
            return settings;
        };
        if let Some(url) = &raw.bootstrap_url
            && let Some(uri) = self.http_url(url, "domain.bootstrap_url")
        {
            settings.bootstrap_url = uri;
        }
        if let Some(refresh) = raw.refresh {
            settings.refresh = refresh;
        }
        if let Some(d) = &raw.refresh_interval {
            settings.refresh_interval = self.positive(d, "domain.refresh_interval");
        }
        if let Some(d) = &raw.cache {
            settings.cache = self.positive(d, "domain.cache");
        }
        if let Some(d) = &raw.query_spacing {
            settings.query_spacing = d.get_ref().0;
        }
        settings
    }

    /// Validates the kind-specific part of a domain check.
    pub(crate) fn domain_check(
        &mut self,
        raw: RawDomainCheck,
        path: &str,
        settings: &DomainSettings,
    ) -> Option<DomainSpec> {
        let domain = self.domain_name(&raw.domain, &format!("{path}.domain"));
        let warn_days = self.days(raw.warn_days.as_ref(), 30, &format!("{path}.warn_days"));
        let critical_days = self.days(
            raw.critical_days.as_ref(),
            7,
            &format!("{path}.critical_days"),
        );
        if let (Some(w), Some(c)) = (warn_days, critical_days)
            && c > w
        {
            let span = raw
                .critical_days
                .as_ref()
                .or(raw.warn_days.as_ref())
                .map(|s| s.span())
                .unwrap_or(raw.domain.span());
            self.rep.report(
                span,
                &format!("{path}.critical_days"),
                format!("critical_days ({c}) is larger than warn_days ({w})"),
                Some("the critical threshold is the nearer one: e.g. warn_days = 30, critical_days = 7".into()),
            );
            return None;
        }
        let rdap_url = match &raw.rdap_url {
            None => None,
            Some(u) => {
                let uri = self.http_url(u, &format!("{path}.rdap_url"))?;
                // The query is `{base}domain/{name}`: the base ends with '/'.
                let text = uri.to_string();
                if text.ends_with('/') {
                    Some(uri)
                } else {
                    format!("{text}/").parse().ok()
                }
            }
        };
        let whois_server = match &raw.whois_server {
            None => None,
            Some(s) => Some(self.whois_server(s, &format!("{path}.whois_server"))?),
        };
        let cache = match &raw.cache {
            Some(d) => self.positive(d, &format!("{path}.cache")),
            None => settings.cache,
        };
        Some(DomainSpec {
            domain: domain?,
            warn_days: warn_days?,
            critical_days: critical_days?,
            rdap_url,
            whois_server,
            cache,
            settings: settings.clone(),
        })
    }

    fn days(&mut self, value: Option<&Spanned<i64>>, default: u32, key: &str) -> Option<u32> {
        let Some(v) = value else {
            return Some(default);
        };
        match *v.get_ref() {
            d @ 0..=MAX_DAYS => u32::try_from(d).ok(),
            d => {
                self.rep.report(
                    v.span(),
                    key,
                    format!("{d} days is out of range"),
                    Some(format!("write a whole number of days from 0 to {MAX_DAYS}")),
                );
                None
            }
        }
    }

    /// A registered domain name: ASCII letters, digits and hyphens, at
    /// least two labels, no IP address.
    fn domain_name(&mut self, name: &Spanned<String>, key: &str) -> Option<String> {
        let written = name.get_ref().trim();
        let lower = written
            .strip_suffix('.')
            .unwrap_or(written)
            .to_ascii_lowercase();
        let problem = if lower.is_empty() {
            Some(("the domain is empty".to_owned(), None))
        } else if !lower.is_ascii() {
            Some((
                format!("{written:?} is not ASCII"),
                Some("write an internationalised name in its xn-- (punycode) form".to_owned()),
            ))
        } else if lower.parse::<std::net::IpAddr>().is_ok() {
            Some((format!("{written:?} is an IP address, not a domain"), None))
        } else if !lower.contains('.') {
            Some((
                format!("{written:?} is a top-level domain, not a registered domain"),
                Some("write the domain the shop registered, e.g. \"shop.example\"".to_owned()),
            ))
        } else if lower.len() > 253
            || !lower.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            Some((
                format!("{written:?} is not a valid domain name"),
                Some("labels of letters, digits and '-', separated by dots".to_owned()),
            ))
        } else {
            None
        };
        match problem {
            None => Some(lower),
            Some((message, hint)) => {
                self.rep.report(name.span(), key, message, hint);
                None
            }
        }
    }

    /// An absolute `http://` or `https://` URL with a host and no fragment.
    fn http_url(&mut self, url: &Spanned<String>, key: &str) -> Option<http::Uri> {
        let text = url.get_ref().trim();
        let parsed = text.parse::<http::Uri>();
        let problem = match &parsed {
            Err(e) => Some(format!("{text:?} is not a URL: {e}")),
            Ok(u) if !matches!(u.scheme_str(), Some("http" | "https")) => {
                Some(format!("{text:?} is not an http:// or https:// URL"))
            }
            Ok(u) if u.host().is_none_or(str::is_empty) => Some(format!("{text:?} has no host")),
            Ok(_) if text.contains('#') => Some(format!("{text:?} has a fragment")),
            Ok(_) => None,
        };
        match (problem, parsed) {
            (None, Ok(uri)) => Some(uri),
            (problem, _) => {
                self.rep.report(
                    url.span(),
                    key,
                    problem.unwrap_or_else(|| "invalid URL".into()),
                    None,
                );
                None
            }
        }
    }

    /// `host` or `host:port` (`[v6]:port` for IPv6), port 43 by default.
    fn whois_server(&mut self, s: &Spanned<String>, key: &str) -> Option<WhoisServer> {
        let text = s.get_ref().trim();
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            match rest.split_once(']') {
                Some((h, "")) => (h, Some("43")),
                Some((h, p)) => (h, p.strip_prefix(':')),
                None => (text, None),
            }
        } else if text.matches(':').count() == 1 {
            match text.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (text, None),
            }
        } else {
            (text, Some("43"))
        };
        let port = port.and_then(|p| p.parse::<u16>().ok()).filter(|p| *p > 0);
        let host_ok = host.parse::<std::net::IpAddr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }));
        match (host_ok, port) {
            (true, Some(port)) => Some(WhoisServer {
                host: host.to_ascii_lowercase(),
                port,
            }),
            _ => {
                self.rep.report(
                    s.span(),
                    key,
                    format!("{text:?} is not a WHOIS server"),
                    Some(
                        "write host or host:port, e.g. \"whois.denic.de\" or \"127.0.0.1:4343\""
                            .into(),
                    ),
                );
                None
            }
        }
    }
}
