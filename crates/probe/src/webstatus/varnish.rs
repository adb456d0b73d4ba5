//! `kind = "varnish"`: an answer that must have come through Varnish
//! Cache, read from its headers (`X-Varnish`, `Age`, `Via`) and, when it
//! failed, from Varnish's own error page.

use http::HeaderMap;
use keepup_config::WebStatusSpec;
use keepup_model::{Finding, Outcome, Severity};
use serde_json::json;
use tokio::time::Instant;

use crate::codes;
use crate::context::ProbeContext;
use crate::http::{Page, fetch};
use crate::util::finish;

/// What Varnish's headers say about one answer.
#[derive(Debug, PartialEq)]
struct Passage {
    /// This request's transaction id.
    xid: u64,
    /// A hit: `X-Varnish` also names the transaction that stored it.
    hit: bool,
    /// Seconds the object has been in a cache.
    age: Option<u64>,
}

/// `X-Varnish: 32770` (a miss or pass) or `X-Varnish: 5 3` (a hit of the
/// object stored by transaction 3); None when Varnish did not answer.
fn passage(headers: &HeaderMap) -> Option<Passage> {
    let xv = headers.get("x-varnish")?.to_str().ok()?;
    let ids: Vec<u64> = xv
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let (&xid, rest) = ids.split_first()?;
    Some(Passage {
        xid,
        hit: !rest.is_empty(),
        age: headers
            .get("age")
            .and_then(|a| a.to_str().ok())
            .and_then(|a| a.trim().parse().ok()),
    })
}

/// The reason Varnish gave on its own error page: `<title>503 Backend
/// fetch failed</title>` over a "Guru Meditation", or a synthetic answer
/// (`Server: Varnish`) of the VCL's.
fn own_error(page: &Page) -> Option<String> {
    if page.status.as_u16() < 500 {
        return None;
    }
    let body = String::from_utf8_lossy(&page.body);
    let by_varnish = page
        .headers
        .get("server")
        .is_some_and(|s| s.as_bytes().eq_ignore_ascii_case(b"varnish"))
        || body.contains("Guru Meditation");
    if !by_varnish {
        return None;
    }
    let title = body
        .split_once("<title>")
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(t, _)| {
            t.trim()
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect::<String>()
        })
        .filter(|t| !t.is_empty());
    Some(title.unwrap_or_else(|| format!("HTTP {}", page.status.as_u16())))
}

/// Fetches the page once, or twice with `cached` when the first was a
/// miss, and judges what Varnish's headers say.
pub(super) async fn probe(spec: &WebStatusSpec, ctx: &ProbeContext, started: Instant) -> Outcome {
    let (mut outcome, page) = fetch(&spec.http, ctx).await;
    let Some(mut page) = page else {
        return outcome;
    };
    // Either of these explains the answer better than its status line.
    let verdict = match passage(&page.headers) {
        None => Some((
            codes::VARNISH_NOT_IN_PATH,
            format!(
                "the answer (HTTP {}) has no X-Varnish header: something else than Varnish answered",
                page.status.as_u16()
            ),
        )),
        Some(seen) => own_error(&page).map(|reason| {
            (
                codes::VARNISH_BACKEND_FAILED,
                format!(
                    "Varnish answered {reason} itself (transaction {}): its backend failed or is sick",
                    seen.xid
                ),
            )
        }),
    };
    if let Some((code, text)) = verdict {
        outcome.push(Finding::new(code, Severity::Critical, text.clone()));
        outcome.message = text;
        return finish(outcome, String::new(), started);
    }
    let Some(mut seen) = passage(&page.headers) else {
        return finish(outcome, String::new(), started);
    };
    let mut asked = 1;
    if spec.cached && !seen.hit {
        // The first request after an object expired is a miss; the next
        // one finds it unless Varnish does not keep the page.
        let (again, second) = fetch(&spec.http, ctx).await;
        if let Some(p) = second
            && let Some(s) = passage(&p.headers)
        {
            outcome = again;
            page = p;
            seen = s;
            asked = 2;
        }
    }
    outcome.evidence.insert(
        "varnish",
        json!({
            "xid": seen.xid, "hit": seen.hit, "age_seconds": seen.age, "requests": asked,
            "via": page.headers.get("via").and_then(|v| v.to_str().ok()),
        }),
    );
    if spec.cached && !seen.hit {
        outcome.push(Finding::new(
            codes::VARNISH_NOT_CACHED,
            Severity::Warning,
            format!(
                "Varnish passed the page to its backend {asked} times in a row instead of serving it from its cache (a Set-Cookie, Cache-Control: private or no-store, or the VCL?)"
            ),
        ));
    }
    outcome.message = String::new();
    finish(
        outcome,
        format!(
            "HTTP {} through Varnish ({})",
            page.status.as_u16(),
            if seen.hit { "a cache hit" } else { "a miss" }
        ),
        started,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_varnish_tells_a_hit_from_a_miss() {
        let mut h = HeaderMap::new();
        assert_eq!(passage(&h), None);
        h.insert("x-varnish", "32770".parse().unwrap());
        h.insert("age", "0".parse().unwrap());
        assert_eq!(
            passage(&h),
            Some(Passage {
                xid: 32770,
                hit: false,
                age: Some(0)
            })
        );
        h.insert("x-varnish", "5 3".parse().unwrap());
        assert!(passage(&h).unwrap().hit);
        h.insert("x-varnish", "garbage".parse().unwrap());
        assert_eq!(passage(&h), None);
    }
}
