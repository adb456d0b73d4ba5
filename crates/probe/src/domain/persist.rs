//! Registry answers and refreshed RDAP bootstraps in the durable memory
//! ([`crate::ProbeMemory`]), so that a restart (or a restart storm) does
//! not ask every registry again: a cached answer is used for the rest of
//! its `cache` time, a bootstrap until its next refresh is due.
//!
//! Only what a registry really said is kept (a registration or "no such
//! domain"); failures, rate limits and refusals are short-lived and asked
//! again. Times are stored as Unix seconds and become ages again when
//! read back, so a reboot (which restarts the monotonic clock) keeps them.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use super::cache::{Found, Lookup};
use super::{Answer, Registration, Source};

/// The memory kind of registry answers (by cache key).
pub(super) const ANSWER: &str = "domain_answer";
/// The memory kind of refreshed bootstraps (by URL).
pub(super) const BOOTSTRAP: &str = "rdap_bootstrap";

/// How long ago `wall` (Unix seconds) was; a time in the future (the
/// clock was set back) counts as now.
pub(super) fn age_of(wall: i64) -> Duration {
    Duration::from_secs(crate::util::unix_now().saturating_sub(wall).max(0) as u64)
}

/// A lookup worth keeping, as text; `None` for what is not.
pub(super) fn lookup_to_text(lookup: &Lookup) -> Option<String> {
    let answer = match &lookup.found {
        Found::Answer(Answer::Registered(r)) => json!({ "registered": registration_to_json(r) }),
        Found::Answer(Answer::NotFound) => json!("not_found"),
        _ => return None,
    };
    let source = match &lookup.source {
        Source::Rdap { url } => json!({ "rdap": url }),
        Source::Whois { server, layout } => {
            json!({ "whois": server, "layout": format!("{layout:?}") })
        }
    };
    Some(json!({ "answer": answer, "source": source, "wall": lookup.wall }).to_string())
}

/// A kept lookup read back, aged by the time since it was made; `None`
/// when the text is not one (it is then asked again).
pub(super) fn lookup_from_text(text: &str) -> Option<Lookup> {
    let v: Value = serde_json::from_str(text).ok()?;
    let answer = match &v["answer"] {
        Value::String(s) if s == "not_found" => Answer::NotFound,
        a => Answer::Registered(registration_from_json(&a["registered"])?),
    };
    let s = &v["source"];
    let source = match (s["rdap"].as_str(), s["whois"].as_str()) {
        (Some(url), _) => Source::Rdap {
            url: url.to_owned(),
        },
        (None, Some(server)) => {
            let name = s["layout"].as_str()?;
            let layout = *super::fuzzing::LAYOUTS
                .iter()
                .find(|l| format!("{l:?}") == name)?;
            Source::Whois {
                server: server.to_owned(),
                layout,
            }
        }
        (None, None) => return None,
    };
    let wall = v["wall"].as_i64()?;
    Some(Lookup {
        found: Found::Answer(answer),
        source,
        at: Instant::now(),
        wall,
        cacheable: true,
        age_before: age_of(wall),
    })
}

fn registration_to_json(r: &Registration) -> Value {
    json!({
        "name": r.name,
        "expires": r.expires,
        "registered": r.registered,
        "changed": r.changed,
        "registrar": r.registrar,
        "statuses": r.statuses,
        "nameservers": r.nameservers,
        "referral": r.referral,
        "bad_date": r.bad_date.as_ref().map(|(f, t)| [f, t]),
    })
}

fn registration_from_json(v: &Value) -> Option<Registration> {
    let text = |k: &str| v[k].as_str().map(str::to_owned);
    let list = |k: &str| -> Option<Vec<String>> {
        v[k].as_array()?
            .iter()
            .map(|x| x.as_str().map(str::to_owned))
            .collect()
    };
    Some(Registration {
        name: text("name"),
        expires: v["expires"].as_i64(),
        registered: v["registered"].as_i64(),
        changed: v["changed"].as_i64(),
        registrar: text("registrar"),
        statuses: list("statuses")?,
        nameservers: list("nameservers")?,
        referral: text("referral"),
        bad_date: match &v["bad_date"] {
            Value::Array(p) => Some((
                p.first()?.as_str()?.to_owned(),
                p.get(1)?.as_str()?.to_owned(),
            )),
            _ => None,
        },
    })
}

/// A fetched bootstrap file and when it was fetched, as text.
pub(super) fn bootstrap_to_text(body: &str, fetched_wall: i64) -> String {
    json!({ "fetched": fetched_wall, "body": body }).to_string()
}

/// A kept bootstrap: its body and how long ago it was fetched.
pub(super) fn bootstrap_from_text(text: &str) -> Option<(String, Duration)> {
    let v: Value = serde_json::from_str(text).ok()?;
    Some((
        v["body"].as_str()?.to_owned(),
        age_of(v["fetched"].as_i64()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_answers_read_back_as_they_were() {
        let registration = Registration {
            name: Some("shop.de".into()),
            expires: Some(1_900_000_000),
            registered: None,
            changed: Some(1_700_000_000),
            registrar: Some("Example GmbH".into()),
            statuses: vec!["connect".into()],
            nameservers: vec!["ns1.shop.de".into()],
            referral: None,
            bad_date: Some(("Expiry".into(), "soon".into())),
        };
        for (found, source) in [
            (
                Found::Answer(Answer::Registered(registration)),
                Source::Whois {
                    server: "whois.denic.de".into(),
                    layout: super::super::Layout::Denic,
                },
            ),
            (
                Found::Answer(Answer::NotFound),
                Source::Rdap {
                    url: "https://rdap.test/domain/x.com".into(),
                },
            ),
        ] {
            let lookup = Lookup {
                found,
                source,
                at: Instant::now(),
                wall: crate::util::unix_now() - 3600,
                cacheable: true,
                age_before: Duration::ZERO,
            };
            let back = lookup_from_text(&lookup_to_text(&lookup).unwrap()).unwrap();
            assert_eq!(back.source, lookup.source);
            assert_eq!(back.wall, lookup.wall);
            assert!(back.age_before >= Duration::from_secs(3600));
            match (&back.found, &lookup.found) {
                (Found::Answer(a), Found::Answer(b)) => assert_eq!(a, b),
                other => panic!("{other:?}"),
            }
        }
        let failed = Lookup {
            found: Found::Failed {
                code: "X",
                text: "x".into(),
            },
            source: Source::Rdap { url: "u".into() },
            at: Instant::now(),
            wall: 0,
            cacheable: true,
            age_before: Duration::ZERO,
        };
        assert!(lookup_to_text(&failed).is_none(), "failures are not kept");
        assert!(lookup_from_text("{\"answer\": 1}").is_none());
        assert!(lookup_from_text("not json").is_none());
    }
}
