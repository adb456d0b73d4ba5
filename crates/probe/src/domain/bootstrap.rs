//! The RDAP bootstrap (RFC 9224): which RDAP server answers for which TLD.
//!
//! A copy of IANA's `dns.json` is built into keepup ([`BUNDLED`]), so that
//! domain checks work without reaching IANA; when `[domain] refresh` is on,
//! the file is fetched again from `bootstrap_url` once per
//! `refresh_interval` (an hour after a failure), with at most a third of
//! the run's time budget, and the bundled copy stays in use while that
//! fails. A fetched copy is kept in the durable memory when there is
//! one, so a restart neither loses it nor fetches it again before due.
//!
//! Lookups take the longest suffix of the domain that the file lists
//! (`shop.com.br` tries `com.br`, then `br`), and prefer an `https` URL.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keepup_config::DomainSettings;
use keepup_model::{Finding, Severity};
use serde_json::Value;
use tokio::time::Instant;

use super::persist;
use crate::codes;
use crate::context::ProbeContext;

/// IANA's `dns.json`, as published on 2026-06-26 (public registry data).
pub const BUNDLED: &str = include_str!("dns.json");

/// A refreshed bootstrap larger than this is refused (IANA's is ~70 KiB).
const MAX_BOOTSTRAP_BYTES: u64 = 4 * 1024 * 1024;
/// After a failed refresh, the next try waits this long.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(3600);
/// A refresh gets at most this long, and at most a third of the run.
const MAX_REFRESH_TIME: Duration = Duration::from_secs(10);

/// A parsed bootstrap file.
#[derive(Debug)]
pub struct Bootstrap {
    /// The file's `publication` timestamp.
    pub publication: Option<String>,
    /// Where it came from: "bundled" or the URL it was fetched from.
    pub origin: String,
    /// Suffix (lowercase, no dots around) → RDAP base URL (ends with `/`).
    services: HashMap<String, String>,
}

impl Bootstrap {
    /// Parses an RFC 9224 file: `{"services": [[[entries], [urls]], ...]}`.
    pub fn parse(body: &[u8], origin: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("it is not valid JSON ({e})"))?;
        let services = value
            .get("services")
            .and_then(Value::as_array)
            .ok_or("it has no \"services\" list")?;
        let mut map = HashMap::new();
        for service in services {
            let (Some(entries), Some(urls)) = (
                service.get(0).and_then(Value::as_array),
                service.get(1).and_then(Value::as_array),
            ) else {
                continue;
            };
            let urls: Vec<&str> = urls
                .iter()
                .filter_map(Value::as_str)
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .collect();
            // RFC 9224 §3: prefer https when both are listed.
            let Some(url) = urls
                .iter()
                .find(|u| u.starts_with("https://"))
                .or(urls.first())
            else {
                continue;
            };
            let base = if url.ends_with('/') {
                (*url).to_owned()
            } else {
                format!("{url}/")
            };
            for entry in entries.iter().filter_map(Value::as_str) {
                let suffix = entry.trim_matches('.').to_ascii_lowercase();
                if !suffix.is_empty() {
                    map.insert(suffix, base.clone());
                }
            }
        }
        if map.is_empty() {
            return Err("it lists no service".into());
        }
        Ok(Self {
            publication: value
                .get("publication")
                .and_then(Value::as_str)
                .map(str::to_owned),
            origin: origin.to_owned(),
            services: map,
        })
    }

    /// The longest listed suffix of `domain` (never the whole name) and its
    /// RDAP base URL.
    pub fn lookup(&self, domain: &str) -> Option<(&str, &str)> {
        let mut rest = domain;
        while let Some((_, suffix)) = rest.split_once('.') {
            if let Some((key, url)) = self.services.get_key_value(suffix) {
                return Some((key.as_str(), url.as_str()));
            }
            rest = suffix;
        }
        None
    }

    /// How many suffixes it lists.
    pub fn suffixes(&self) -> usize {
        self.services.len()
    }
}

/// The bundled copy, parsed once.
pub fn bundled() -> Arc<Bootstrap> {
    static PARSED: OnceLock<Arc<Bootstrap>> = OnceLock::new();
    Arc::clone(PARSED.get_or_init(|| {
        // The file is part of the source and tested; an empty bootstrap
        // (every TLD "unsupported") is the safe fallback all the same.
        Arc::new(
            Bootstrap::parse(BUNDLED.as_bytes(), "bundled").unwrap_or(Bootstrap {
                publication: None,
                origin: "bundled".into(),
                services: HashMap::new(),
            }),
        )
    }))
}

/// What is known about one bootstrap URL.
struct Slot {
    data: Option<Arc<Bootstrap>>,
    next_try: Instant,
    error: Option<String>,
}

/// Refreshed bootstraps by URL, shared by all checks of a context.
#[derive(Default)]
pub(crate) struct BootstrapCache {
    slots: tokio::sync::Mutex<HashMap<String, Slot>>,
}

/// The bootstrap to use now, refreshed first when due; with an Info
/// finding while the refresh fails.
pub(crate) async fn current(
    ctx: &ProbeContext,
    settings: &DomainSettings,
) -> (Arc<Bootstrap>, Option<Finding>) {
    if !settings.refresh {
        return (bundled(), None);
    }
    let url = settings.bootstrap_url.to_string();
    let state = ctx.kind_state::<super::DomainState>();
    let cache = &state.bootstrap;
    // One refresh at a time; the others wait for it (within their budget).
    let Ok(mut slots) = ctx
        .within("waiting for the RDAP bootstrap", cache.slots.lock())
        .await
    else {
        return (bundled(), None);
    };
    let now = Instant::now();
    if !slots.contains_key(&url) {
        // The copy fetched before a restart, due again when it would have
        // been.
        let kept = ctx
            .recall(persist::BOOTSTRAP, &url)
            .await
            .and_then(|text| persist::bootstrap_from_text(&text))
            .and_then(|(body, age)| Some((Bootstrap::parse(body.as_bytes(), &url).ok()?, age)));
        let slot = match kept {
            Some((data, age)) => Slot {
                data: Some(Arc::new(data)),
                next_try: now + settings.refresh_interval.saturating_sub(age),
                error: None,
            },
            None => Slot {
                data: None,
                next_try: now,
                error: None,
            },
        };
        slots.insert(url.clone(), slot);
    }
    let Some(slot) = slots.get_mut(&url) else {
        return (bundled(), None);
    };
    if now >= slot.next_try {
        let share = (ctx.remaining() / 3).min(MAX_REFRESH_TIME);
        let sub = ctx.with_deadline(ctx.deadline_within(share), share);
        match fetch(&sub, &settings.bootstrap_url).await {
            Ok((data, body)) => {
                slot.data = Some(Arc::new(data));
                slot.error = None;
                slot.next_try = Instant::now() + settings.refresh_interval;
                let kept = persist::bootstrap_to_text(&body, crate::util::unix_now());
                ctx.remember(persist::BOOTSTRAP, &url, kept).await;
            }
            Err(why) => {
                slot.error = Some(why);
                slot.next_try = Instant::now() + RETRY_AFTER_FAILURE.min(settings.refresh_interval);
            }
        }
    }
    let stale = slot.error.as_ref().map(|why| {
        let data = slot.data.clone().unwrap_or_else(bundled);
        Finding::new(
            codes::DOMAIN_BOOTSTRAP_STALE,
            Severity::Info,
            format!(
                "the RDAP bootstrap could not be refreshed from {url}: {why}; the {} copy (published {}) is used",
                if data.origin == "bundled" { "bundled" } else { "last fetched" },
                data.publication.as_deref().unwrap_or("at an unknown date")
            ),
        )
    });
    (slot.data.clone().unwrap_or_else(bundled), stale)
}

/// The parsed file and its text.
async fn fetch(ctx: &ProbeContext, url: &http::Uri) -> Result<(Bootstrap, String), String> {
    let spec = super::rdap::request(url.clone(), "application/json", MAX_BOOTSTRAP_BYTES);
    let (outcome, page) = crate::http::fetch(&spec, ctx).await;
    let Some(page) = page else {
        return Err(outcome
            .worst_finding()
            .map(|f| f.text.clone())
            .unwrap_or(outcome.message));
    };
    if !page.status.is_success() {
        return Err(format!("HTTP {}", page.status.as_u16()));
    }
    if outcome
        .findings
        .iter()
        .any(|f| f.code == codes::HTTP_BODY_TOO_LARGE)
    {
        return Err(format!(
            "it is larger than {} MiB",
            MAX_BOOTSTRAP_BYTES >> 20
        ));
    }
    let parsed = Bootstrap::parse(&page.body, &url.to_string())?;
    Ok((parsed, String::from_utf8_lossy(&page.body).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_copy_knows_the_main_registries() {
        let b = bundled();
        assert!(b.suffixes() > 1000, "{}", b.suffixes());
        assert_eq!(b.publication.as_deref(), Some("2026-06-26T18:00:02Z"));
        assert_eq!(
            b.lookup("shop.com"),
            Some(("com", "https://rdap.verisign.com/com/v1/"))
        );
        assert_eq!(
            b.lookup("loja.com.br"),
            Some(("br", "https://rdap.registro.br/"))
        );
        assert_eq!(
            b.lookup("shop.org"),
            Some(("org", "https://rdap.publicinterestregistry.org/rdap/"))
        );
        assert_eq!(b.lookup("shop.fr").map(|x| x.0), Some("fr"));
        // ccTLDs without RDAP go to WHOIS.
        for tld in ["de", "eu", "it", "es", "ch", "at", "be", "se", "dk", "jp"] {
            assert_eq!(b.lookup(&format!("shop.{tld}")), None, "{tld}");
        }
        assert_eq!(b.lookup("com"), None);
    }

    #[test]
    fn longest_suffix_and_https_win() {
        let b = Bootstrap::parse(
            br#"{"version":"1.0","services":[
                [["br"],["https://rdap.br.test/"]],
                [["com.br"],["http://plain.test/rdap","https://secure.test/rdap"]],
                [["bad"],["ftp://x/"]]]}"#,
            "test",
        )
        .unwrap();
        assert_eq!(
            b.lookup("loja.com.br"),
            Some(("com.br", "https://secure.test/rdap/"))
        );
        assert_eq!(
            b.lookup("loja.net.br"),
            Some(("br", "https://rdap.br.test/"))
        );
        assert_eq!(b.lookup("x.bad"), None);
        assert!(Bootstrap::parse(b"{}", "t").is_err());
        assert!(Bootstrap::parse(br#"{"services":[]}"#, "t").is_err());
        assert!(Bootstrap::parse(b"<html>", "t").is_err());
    }
}
