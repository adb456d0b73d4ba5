//! RDAP (RFC 9082/9083) domain lookups: `GET {base}domain/{name}` with
//! `Accept: application/rdap+json`, through the HTTP probe's client (fresh
//! connection, TLS verified, redirects followed up to [`MAX_REDIRECTS`],
//! body capped at [`MAX_RDAP_BYTES`], the run's deadline on every phase),
//! and the extraction of what matters from the answer: the `expiration`
//! event, registration and last-changed dates, status, registrar, name
//! servers.

use std::time::Duration;

use http::header;
use keepup_config::{HttpSpec, StatusRange, TlsOptions};
use serde_json::Value;

use super::{Answer, Registration, dates};
use crate::codes;
use crate::context::ProbeContext;

/// RDAP answers are a few KiB; anything beyond this is not one.
pub const MAX_RDAP_BYTES: u64 = 1024 * 1024;
/// Redirects followed (bootstrap services and registry front-ends redirect
/// once, rarely twice).
pub const MAX_REDIRECTS: u32 = 3;
/// Waiting time assumed when a 429 comes without a usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(15 * 60);
/// A `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// What an RDAP server said, or why it could not be asked.
#[derive(Debug)]
pub(crate) enum Reply {
    /// An answer (registered or not found), and the URL that gave it
    /// (after redirects).
    Answer(Answer, String),
    /// HTTP 429: come back after this long.
    RetryAfter(Duration),
    /// No usable answer: `(code, text)`.
    Failed(&'static str, String),
}

/// A GET of `url` with RDAP's media type, as an HTTP spec for the client
/// of [`crate::http`].
pub(crate) fn request(url: http::Uri, accept: &'static str, max_body_bytes: u64) -> HttpSpec {
    HttpSpec {
        url,
        method: http::Method::GET,
        headers: vec![(header::ACCEPT, http::HeaderValue::from_static(accept))],
        body: None,
        basic_auth: None,
        // Every status is judged here, not by the HTTP check.
        expect_status: vec![StatusRange {
            low: 100,
            high: 599,
        }],
        assertions: Vec::new(),
        degraded_latency: None,
        down_latency: None,
        follow_redirects: true,
        max_redirects: MAX_REDIRECTS,
        max_body_bytes,
        tls: TlsOptions::default(),
        user_agent: String::new(),
    }
}

/// Asks the RDAP server at `base` about `domain`.
pub(crate) async fn lookup(ctx: &ProbeContext, base: &http::Uri, domain: &str) -> Reply {
    let url = format!("{base}domain/{domain}");
    let Ok(uri) = url.parse::<http::Uri>() else {
        return Reply::Failed(
            codes::DOMAIN_LOOKUP_FAILED,
            format!("{url} is not a valid RDAP query URL"),
        );
    };
    let spec = request(uri, "application/rdap+json", MAX_RDAP_BYTES);
    let (outcome, page) = crate::http::fetch(&spec, ctx).await;
    let host = base.host().unwrap_or("the RDAP server");
    let Some(page) = page else {
        // The HTTP client's own explanation: refused, timed out, TLS, ...
        let why = outcome
            .worst_finding()
            .map(|f| f.text.clone())
            .unwrap_or_else(|| outcome.message.clone());
        return Reply::Failed(
            codes::DOMAIN_LOOKUP_FAILED,
            format!("the RDAP server {host} could not be asked: {why}"),
        );
    };
    let status = page.status.as_u16();
    match status {
        429 => {
            let wait = page
                .headers
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(retry_after)
                .unwrap_or(DEFAULT_RETRY_AFTER);
            return Reply::RetryAfter(wait.min(MAX_RETRY_AFTER));
        }
        // A registry's "no such domain" is an RDAP error object; a 404
        // page of some other web server means a wrong URL, not a free
        // domain.
        404 if is_rdap_error(&page.body) => {
            return Reply::Answer(Answer::NotFound, page.url.to_string());
        }
        200..=299 => {}
        _ => {
            let reason = page.status.canonical_reason().unwrap_or("");
            return Reply::Failed(
                codes::DOMAIN_LOOKUP_FAILED,
                format!("the RDAP server {host} answered HTTP {status} {reason}")
                    .trim_end()
                    .to_owned(),
            );
        }
    }
    if outcome
        .findings
        .iter()
        .any(|f| f.code == codes::HTTP_BODY_TOO_LARGE)
    {
        return Reply::Failed(
            codes::DOMAIN_BAD_RESPONSE,
            format!(
                "the answer of the RDAP server {host} is larger than {} KiB, which no RDAP answer is",
                MAX_RDAP_BYTES / 1024
            ),
        );
    }
    match parse(&page.body) {
        Ok(reg) => Reply::Answer(Answer::Registered(reg), page.url.to_string()),
        Err(why) => Reply::Failed(
            codes::DOMAIN_BAD_RESPONSE,
            format!("the answer of the RDAP server {host} is unusable: {why}"),
        ),
    }
}

/// Whether `body` is a JSON object (RFC 9083 §6 error responses are; an
/// empty body is accepted too, as some registries send one).
fn is_rdap_error(body: &[u8]) -> bool {
    body.iter().all(u8::is_ascii_whitespace)
        || matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(_)))
}

/// `Retry-After`: delta-seconds or an HTTP date.
pub(crate) fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let now = time::OffsetDateTime::now_utc();
    Some(Duration::try_from(at - now).unwrap_or(Duration::ZERO))
}

/// Extracts the registration from an RDAP domain object. Dates that are
/// not RFC 3339 and a missing `events` member are errors; a missing
/// `expiration` event is not (some registries publish none): the
/// registration then has no expiry.
pub fn parse(body: &[u8]) -> Result<Registration, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("it is not valid JSON ({e})"))?;
    let Value::Object(object) = &value else {
        return Err("it is not a JSON object".into());
    };
    if object.contains_key("errorCode") {
        let title = object
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("no title");
        return Err(format!(
            "it is an RDAP error ({}: {})",
            object
                .get("errorCode")
                .map(Value::to_string)
                .unwrap_or_default(),
            shorten(title)
        ));
    }
    match object.get("objectClassName").and_then(Value::as_str) {
        Some("domain") | None => {}
        Some(other) => return Err(format!("it describes a {:?}, not a domain", shorten(other))),
    }
    let mut reg = Registration {
        name: object
            .get("ldhName")
            .and_then(Value::as_str)
            .map(|s| s.to_ascii_lowercase()),
        ..Registration::default()
    };
    let Some(events) = object.get("events") else {
        return Err("it has no events, so no expiration date".into());
    };
    let Value::Array(events) = events else {
        return Err("its events are not a list".into());
    };
    for event in events {
        let action = event.get("eventAction").and_then(Value::as_str);
        let date = event.get("eventDate").and_then(Value::as_str);
        let (Some(action), Some(date)) = (action, date) else {
            continue;
        };
        let slot = match action {
            "expiration" => &mut reg.expires,
            "registration" => &mut reg.registered,
            "last changed" => &mut reg.changed,
            _ => continue,
        };
        match dates::parse(date) {
            Some(t) if slot.is_none() => *slot = Some(t),
            Some(_) => {}
            None if action == "expiration" => {
                return Err(format!(
                    "its expiration date {:?} is not a date",
                    shorten(date)
                ));
            }
            None => {}
        }
    }
    if let Some(Value::Array(statuses)) = object.get("status") {
        for s in statuses.iter().filter_map(Value::as_str).take(32) {
            reg.statuses.push(shorten(s));
        }
    }
    if let Some(Value::Array(servers)) = object.get("nameservers") {
        for ns in servers.iter().take(32) {
            if let Some(name) = ns.get("ldhName").and_then(Value::as_str) {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if !reg.nameservers.contains(&name) {
                    reg.nameservers.push(shorten(&name));
                }
            }
        }
    }
    reg.registrar = registrar(object.get("entities"));
    Ok(reg)
}

/// The name of the entity with the `registrar` role: its vCard `fn`, or
/// its handle.
fn registrar(entities: Option<&Value>) -> Option<String> {
    let Value::Array(entities) = entities? else {
        return None;
    };
    let entity = entities.iter().find(|e| {
        e.get("roles")
            .and_then(Value::as_array)
            .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some("registrar")))
    })?;
    // vcardArray: ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Name"], ...]]
    let from_vcard = entity
        .get("vcardArray")
        .and_then(|v| v.get(1))
        .and_then(Value::as_array)
        .and_then(|props| {
            props.iter().find_map(|p| {
                (p.get(0).and_then(Value::as_str) == Some("fn"))
                    .then(|| p.get(3).and_then(Value::as_str))
                    .flatten()
            })
        });
    from_vcard
        .or_else(|| entity.get("handle").and_then(Value::as_str))
        .filter(|s| !s.trim().is_empty())
        .map(shorten)
}

fn shorten(s: &str) -> String {
    if s.chars().count() <= 120 {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(120).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verisign_style_answer() {
        let body = br#"{"objectClassName":"domain","handle":"1_DOMAIN_COM-VRSN","ldhName":"SHOP.COM",
          "entities":[{"objectClassName":"entity","handle":"292","roles":["registrar"],
            "publicIds":[{"type":"IANA Registrar ID","identifier":"292"}],
            "vcardArray":["vcard",[["version",{},"text","4.0"],["fn",{},"text","MarkMonitor Inc."]]]}],
          "events":[{"eventAction":"registration","eventDate":"1994-06-08T04:00:00Z"},
                    {"eventAction":"expiration","eventDate":"2030-06-07T04:00:00Z"},
                    {"eventAction":"last update of RDAP database","eventDate":"2026-01-01T00:00:00Z"}],
          "status":["client delete prohibited","server transfer prohibited"],
          "nameservers":[{"objectClassName":"nameserver","ldhName":"NS1.SHOP.COM"}]}"#;
        let r = parse(body).unwrap();
        assert_eq!(r.name.as_deref(), Some("shop.com"));
        assert_eq!(r.expires, dates::parse("2030-06-07T04:00:00Z"));
        assert_eq!(r.registered, dates::parse("1994-06-08T04:00:00Z"));
        assert_eq!(r.registrar.as_deref(), Some("MarkMonitor Inc."));
        assert_eq!(r.nameservers, vec!["ns1.shop.com"]);
        assert_eq!(r.statuses.len(), 2);
    }

    #[test]
    fn broken_answers_are_errors_with_reasons() {
        assert!(parse(b"not json").unwrap_err().contains("not valid JSON"));
        assert!(parse(b"[1,2]").unwrap_err().contains("not a JSON object"));
        assert!(
            parse(br#"{"ldhName":"a.com"}"#)
                .unwrap_err()
                .contains("no events")
        );
        assert!(
            parse(br#"{"events":[{"eventAction":"expiration","eventDate":"soon"}]}"#)
                .unwrap_err()
                .contains("not a date")
        );
        assert!(
            parse(br#"{"errorCode":404,"title":"Not Found"}"#)
                .unwrap_err()
                .contains("RDAP error")
        );
        let r = parse(
            br#"{"events":[{"eventAction":"registration","eventDate":"2000-01-01T00:00:00Z"}]}"#,
        )
        .unwrap();
        assert_eq!(r.expires, None);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}
