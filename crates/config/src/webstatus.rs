//! The check kinds `nginx_status` and `apache_status`: a web server's own
//! status page (nginx `stub_status`, Apache `server-status?auto`) read as
//! numbers. Each is an `http` check underneath (every `kind = "http"` key
//! applies) with its page's parser and one threshold: nginx's active
//! connections (`active`), Apache's busy workers as a share of its slots
//! (`busy`), both with the shared threshold type.

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::http::HttpSpec;
use crate::load::{Defaults, Loader};
use crate::threshold::{Accepts, Direction, RawThreshold, Threshold, Unit};

/// The kinds of this module.
pub(crate) const KINDS: &[&str] = &["nginx_status", "apache_status"];

/// Which status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusPage {
    /// nginx's `stub_status`.
    Nginx,
    /// Apache's `mod_status` in its machine-readable form (`?auto`).
    Apache,
}

/// `kind = "nginx_status"` or `"apache_status"`
#[derive(Debug, Clone)]
pub struct WebStatusSpec {
    /// The request for the status page.
    pub http: HttpSpec,
    /// Which page it is.
    pub page: StatusPage,
    /// nginx: active connections (a number); Apache: busy workers as a
    /// percentage of the scoreboard's slots.
    pub limit: Option<Threshold>,
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

impl Loader<'_> {
    pub(crate) fn web_status(
        &mut self,
        kind: &str,
        specific: Spanned<DeValue<'_>>,
        path: &str,
        defaults: &Defaults,
    ) -> Option<WebStatusSpec> {
        let (page, key, accepts) = if kind == "nginx_status" {
            (
                StatusPage::Nginx,
                "active",
                Accepts {
                    units: &[Unit::Number],
                    direction: Direction::Above,
                },
            )
        } else {
            (
                StatusPage::Apache,
                "busy",
                Accepts {
                    units: &[Unit::Percent],
                    direction: Direction::Above,
                },
            )
        };
        let keys = [key];
        let (extra, rest) = Self::split_table(specific, &keys);
        let http = self.http_part(rest, path, defaults, &keys);
        let raw = match page {
            StatusPage::Nginx => self
                .deserialize::<RawNginxExtras>(extra, path, &[])
                .map(|e| e.active),
            StatusPage::Apache => self
                .deserialize::<RawApacheExtras>(extra, path, &[])
                .map(|e| e.busy),
        }?;
        let limit = match &raw {
            None => None,
            Some(t) => Some(crate::threshold::threshold(
                &mut self.rep,
                t,
                &format!("{path}.{key}"),
                accepts,
            )?),
        };
        let mut http = http?;
        // Apache answers the machine-readable form to `?auto` only.
        if page == StatusPage::Apache && http.url.query().is_none() {
            let path_and_query = format!("{}?auto", http.url.path());
            let mut parts = http.url.clone().into_parts();
            parts.path_and_query = path_and_query.parse().ok();
            if let Ok(url) = ::http::Uri::from_parts(parts) {
                http.url = url;
            }
        }
        Some(WebStatusSpec { http, page, limit })
    }
}
