//! The check kinds `nginx_status`, `apache_status`, `tomcat_status` and
//! `varnish`: a web server's own status page (nginx `stub_status`, Apache
//! `server-status?auto`, Tomcat's manager `status?XML=true`) read as
//! numbers, or an answer that must have come through Varnish. Each is an
//! `http` check underneath (every `kind = "http"` key applies) with its
//! page's reader and its thresholds, of the shared threshold type:
//! nginx's active connections (`active`), Apache's busy workers as a
//! share of its slots (`busy`), Tomcat's heap used of its maximum
//! (`memory`) and each connector's busy threads of its `maxThreads`
//! (`threads`); Varnish's answer may be required to come from its cache
//! (`cached`).

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::http::HttpSpec;
use crate::load::{Defaults, Loader};
use crate::threshold::{Accepts, Direction, RawThreshold, Threshold, Unit};

/// The kinds of this module.
pub(crate) const KINDS: &[&str] = &["nginx_status", "apache_status", "tomcat_status", "varnish"];

/// Which status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPage {
    /// nginx's `stub_status`.
    Nginx,
    /// Apache's `mod_status` in its machine-readable form (`?auto`).
    Apache,
    /// Tomcat's manager status in XML (`?XML=true`).
    Tomcat,
    /// Any page served through Varnish Cache.
    Varnish,
}

/// `kind = "nginx_status"` or `"apache_status"`
#[derive(Debug, Clone)]
pub struct WebStatusSpec {
    /// The request for the status page.
    pub http: HttpSpec,
    /// Which page it is.
    pub page: StatusPage,
    /// nginx: active connections (a number); Apache: busy workers as a
    /// percentage of the scoreboard's slots; Tomcat: heap used as a
    /// percentage of the JVM's maximum.
    pub limit: Option<Threshold>,
    /// Tomcat: each connector's busy threads as a percentage of its
    /// `maxThreads`.
    pub threads: Option<Threshold>,
    /// Varnish: the answer must come from its cache (a miss is asked
    /// again once; a second miss is Degraded).
    pub cached: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNginxExtras {
    active: Option<Spanned<RawThreshold>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApacheExtras {
    busy: Option<Spanned<RawThreshold>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTomcatExtras {
    memory: Option<Spanned<RawThreshold>>,
    threads: Option<Spanned<RawThreshold>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVarnishExtras {
    #[serde(default)]
    cached: bool,
}

const ABOVE_PERCENT: Accepts<'static> = Accepts {
    units: &[Unit::Percent],
    direction: Direction::Above,
};

impl Loader<'_> {
    pub(crate) fn web_status(
        &mut self,
        kind: &str,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<WebStatusSpec> {
        let (page, keys): (StatusPage, &[&str]) = match kind {
            "nginx_status" => (StatusPage::Nginx, &["active"]),
            "apache_status" => (StatusPage::Apache, &["busy"]),
            "tomcat_status" => (StatusPage::Tomcat, &["memory", "threads"]),
            _ => (StatusPage::Varnish, &["cached"]),
        };
        let (extra, rest) = Self::split_table(specific, keys);
        let http = self.http_part(rest, path, defaults, keys);
        let mut limits: Vec<(&str, Option<Spanned<RawThreshold>>, Accepts<'static>)> = Vec::new();
        let mut cached = false;
        match page {
            StatusPage::Nginx => {
                let e = self.deserialize::<RawNginxExtras>(extra, path, &[])?;
                let accepts = Accepts {
                    units: &[Unit::Number],
                    direction: Direction::Above,
                };
                limits.push(("active", e.active, accepts));
            }
            StatusPage::Apache => {
                let e = self.deserialize::<RawApacheExtras>(extra, path, &[])?;
                limits.push(("busy", e.busy, ABOVE_PERCENT));
            }
            StatusPage::Tomcat => {
                let e = self.deserialize::<RawTomcatExtras>(extra, path, &[])?;
                limits.push(("memory", e.memory, ABOVE_PERCENT));
                limits.push(("threads", e.threads, ABOVE_PERCENT));
            }
            StatusPage::Varnish => {
                cached = self
                    .deserialize::<RawVarnishExtras>(extra, path, &[])?
                    .cached;
            }
        }
        let before = self.rep.count();
        let mut read: Vec<Option<Threshold>> = limits
            .iter()
            .map(|(key, raw, accepts)| {
                raw.as_ref().and_then(|t| {
                    crate::threshold::threshold(
                        &mut self.rep,
                        t,
                        &format!("{path}.{key}"),
                        *accepts,
                    )
                })
            })
            .collect();
        if self.rep.count() > before {
            return None;
        }
        let threads = if page == StatusPage::Tomcat {
            read.pop().flatten()
        } else {
            None
        };
        let limit = read.into_iter().next().flatten();
        let mut http = http?;
        // Apache answers the machine-readable form to `?auto` only, the
        // Tomcat manager to `?XML=true`.
        let query = match page {
            StatusPage::Apache => Some("auto"),
            StatusPage::Tomcat => Some("XML=true"),
            _ => None,
        };
        if let Some(query) = query
            && http.url.query().is_none()
        {
            let path_and_query = format!("{}?{query}", http.url.path());
            let mut parts = http.url.clone().into_parts();
            parts.path_and_query = path_and_query.parse().ok();
            if let Ok(url) = ::http::Uri::from_parts(parts) {
                http.url = url;
            }
        }
        Some(WebStatusSpec {
            http,
            page,
            limit,
            threads,
            cached,
        })
    }
}
