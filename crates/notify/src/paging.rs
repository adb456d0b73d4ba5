//! Paging services that keep their own alert state, keyed by our dedup
//! key: PagerDuty (Events API v2) and Opsgenie (Alert API). A trigger (or
//! reminder, or test) opens or re-triggers the alert, an acknowledgement
//! acknowledges it, a resolution resolves (closes) it.

use std::time::Duration;

use http::Uri;
use keepup_config::channels::{Channel as ChannelConfig, OpsgenieSpec, PagerDutySpec};
use keepup_model::{Clock, Severity, SystemClock, format_rfc3339};
use serde_json::{Map, Value, json};

use crate::chat::Base;
use crate::http::{HttpClientContext, Request, encode_segment, join_url};
use crate::render::Rendered;
use crate::{Channel, Delivered, Event, Notification, SendError, SendFuture, truncate_chars};

// ---------------------------------------------------------------------------
// PagerDuty
// ---------------------------------------------------------------------------

pub(crate) struct PagerDutyChannel {
    base: Base,
    url: Uri,
    key: String,
}

impl PagerDutyChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &PagerDutySpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        Ok(Self {
            base: Base::new(cfg, ctx)?,
            url: spec.events_url.clone(),
            key: spec.routing_key.expose().to_owned(),
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let payload = pagerduty_payload(&self.key, n, &r);
        let req = Request::json(
            "PagerDuty Events API",
            &self.url,
            &payload,
            self.base.timeout,
        );
        let resp = self
            .base
            .exchange(req, &[&self.key], |resp| {
                let text = resp.json().map(|v| {
                    let mut parts: Vec<String> = Vec::new();
                    if let Some(m) = v.get("message").and_then(Value::as_str) {
                        parts.push(m.to_owned());
                    }
                    if let Some(errors) = v.get("errors").and_then(Value::as_array) {
                        parts.extend(errors.iter().filter_map(Value::as_str).map(str::to_owned));
                    }
                    parts.join("; ")
                });
                (text, None)
            })
            .await?;
        Ok(Delivered {
            provider_id: resp.json().and_then(|v| {
                v.get("dedup_key")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
        })
    }
}

impl Channel for PagerDutyChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// A PagerDuty dedup key: at most 255 characters (longer keys are
/// shortened to a prefix and a stable hash).
fn pd_dedup_key(key: &str) -> String {
    if key.chars().count() <= 255 {
        return key.to_owned();
    }
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let prefix: String = key.chars().take(200).collect();
    format!("{prefix}#{hash:016x}")
}

/// Events API v2: `routing_key`, `event_action`, `dedup_key`, and for
/// triggers `payload{summary, source, severity, timestamp, component,
/// group, class, custom_details}`, `client`, and the acknowledgement link.
pub(crate) fn pagerduty_payload(key: &str, n: &Notification, r: &Rendered) -> Value {
    let action = match n.event {
        Event::Acknowledge => "acknowledge",
        Event::Resolve => "resolve",
        Event::Trigger | Event::Reminder | Event::Test | Event::Report | Event::Recovery => {
            "trigger"
        }
    };
    let mut v = json!({
        "routing_key": key,
        "event_action": action,
        "dedup_key": pd_dedup_key(&n.dedup_key),
    });
    if action != "trigger" {
        return v;
    }
    let severity = match n.severity {
        Severity::Critical => "critical",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    let mut details = Map::new();
    details.insert("text".into(), json!(r.text));
    details.insert("event".into(), json!(n.event.as_str()));
    details.insert(
        "checks".into(),
        json!(n
            .checks
            .iter()
            .map(|c| json!({"id": c.id, "name": c.name, "status": c.status, "message": c.message}))
            .collect::<Vec<_>>()),
    );
    if let Some(cause) = &n.cause {
        details.insert("cause".into(), json!(cause));
    }
    if let Some(url) = &n.ack_url {
        details.insert("ack_url".into(), json!(url));
    }
    let timestamp = n.started_at.unwrap_or_else(|| SystemClock.now_ms());
    let mut payload = json!({
        "summary": truncate_chars(&r.title, 1024),
        "source": n.checks.first().map(|c| c.id.as_str()).unwrap_or(&n.site),
        "severity": severity,
        "timestamp": format_rfc3339(timestamp),
        "group": n.site,
        "class": "keepup",
        "custom_details": details,
    });
    if n.checks.len() == 1 {
        payload["component"] = json!(n.checks.first().map(|c| c.name.as_str()));
    }
    v["payload"] = payload;
    v["client"] = json!("keepup");
    let mut links = Vec::new();
    if let Some(url) = &n.ack_url {
        v["client_url"] = json!(url);
        links.push(json!({"href": url, "text": "Acknowledge in keepup"}));
    }
    if let Some(url) = &n.page_url {
        links.push(json!({"href": url, "text": "Incident page and runbook"}));
    }
    if !links.is_empty() {
        v["links"] = json!(links);
    }
    v
}

// ---------------------------------------------------------------------------
// Opsgenie
// ---------------------------------------------------------------------------

pub(crate) struct OpsgenieChannel {
    base: Base,
    spec: OpsgenieSpec,
    key: String,
}

impl OpsgenieChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &OpsgenieSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        Ok(Self {
            base: Base::new(cfg, ctx)?,
            key: spec.api_key.expose().to_owned(),
            spec: spec.clone(),
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let alias = og_alias(&n.dedup_key);
        let (url, body) = match n.event {
            Event::Trigger | Event::Reminder | Event::Test | Event::Report | Event::Recovery => (
                join_url(&self.spec.api_url, "/v2/alerts", None),
                opsgenie_create(&self.spec, n, &r),
            ),
            Event::Acknowledge | Event::Resolve => {
                let action = if n.event == Event::Resolve {
                    "close"
                } else {
                    "acknowledge"
                };
                let path = format!("/v2/alerts/{}/{action}", encode_segment(&alias));
                (
                    join_url(&self.spec.api_url, &path, Some("identifierType=alias")),
                    json!({"source": "keepup", "user": "keepup", "note": truncate_chars(&r.text, 25_000)}),
                )
            }
        };
        let url = url.map_err(SendError::permanent)?;
        let req = Request::json("Opsgenie API", &url, &body, self.base.timeout).header(
            http::header::AUTHORIZATION,
            &format!("GenieKey {}", self.key),
        );
        let resp = self
            .base
            .exchange(req, &[&self.key], |resp| {
                let text = resp
                    .json()
                    .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned));
                (text, None::<Duration>)
            })
            .await?;
        Ok(Delivered {
            provider_id: resp.json().and_then(|v| {
                v.get("requestId")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            }),
        })
    }
}

impl Channel for OpsgenieChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// An Opsgenie alias: at most 512 characters.
fn og_alias(key: &str) -> String {
    truncate_chars(key, 512)
}

/// Create alert: `message` (≤ 130), `alias` (the dedup key), `description`
/// (≤ 15000), `responders`, `tags`, `details` (string map), `entity`,
/// `source`, `priority` (P1 critical, P3 warning, P5 info).
pub(crate) fn opsgenie_create(spec: &OpsgenieSpec, n: &Notification, r: &Rendered) -> Value {
    let priority = match (n.event, n.severity) {
        (Event::Test | Event::Report, _) => "P5",
        (Event::Recovery, _) => "P3",
        (_, Severity::Critical) => "P1",
        (_, Severity::Warning) => "P3",
        (_, Severity::Info) => "P5",
    };
    let responders: Vec<Value> = spec
        .responders
        .iter()
        .map(|r| {
            let key = if r.kind == keepup_config::channels::ResponderKind::User {
                "username"
            } else {
                "name"
            };
            json!({"type": r.kind.as_str(), key: r.name})
        })
        .collect();
    let mut details = Map::new();
    details.insert("site".into(), json!(n.site));
    details.insert("event".into(), json!(n.event.as_str()));
    details.insert("dedup_key".into(), json!(n.dedup_key));
    if !n.checks.is_empty() {
        let ids: Vec<&str> = n.checks.iter().map(|c| c.id.as_str()).collect();
        details.insert("checks".into(), json!(ids.join(", ")));
    }
    if let Some(cause) = &n.cause {
        details.insert("cause".into(), json!(cause));
    }
    if let Some(url) = &n.ack_url {
        details.insert("ack_url".into(), json!(url));
    }
    let mut v = json!({
        "message": truncate_chars(&r.title, 130),
        "alias": og_alias(&n.dedup_key),
        "description": truncate_chars(&r.text, 15_000),
        "tags": ["keepup", n.site, n.event.as_str()],
        "details": details,
        "entity": n.site,
        "source": "keepup",
        "priority": priority,
    });
    if !responders.is_empty() {
        v["responders"] = json!(responders);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CheckSummary;
    use keepup_model::Status;

    fn trigger() -> Notification {
        let mut n = crate::test_notification("shop");
        n.event = Event::Trigger;
        n.severity = Severity::Warning;
        n.checks.push(CheckSummary {
            id: "shop/home".into(),
            name: "Home".into(),
            status: Status::Degraded,
            message: "slow".into(),
            since: Some(1),
        });
        n
    }

    fn rendered() -> Rendered {
        Rendered {
            title: "t".repeat(2000),
            text: "body".into(),
        }
    }

    #[test]
    fn pagerduty_triggers_carry_a_payload_and_resolves_do_not() {
        let n = trigger();
        let v = pagerduty_payload("key", &n, &rendered());
        assert_eq!(v["event_action"], "trigger");
        assert_eq!(v["payload"]["severity"], "warning");
        assert_eq!(v["payload"]["source"], "shop/home");
        assert_eq!(
            v["payload"]["summary"].as_str().unwrap().chars().count(),
            1024
        );
        let mut resolved = n.clone();
        resolved.event = Event::Resolve;
        let v = pagerduty_payload("key", &resolved, &rendered());
        assert_eq!(
            v,
            json!({"routing_key": "key", "event_action": "resolve", "dedup_key": n.dedup_key})
        );
        let long = "k".repeat(300);
        assert!(pd_dedup_key(&long).chars().count() <= 255);
        assert_eq!(pd_dedup_key(&long), pd_dedup_key(&long));
    }

    #[test]
    fn opsgenie_alerts_are_limited_and_routed() {
        let spec = OpsgenieSpec {
            api_key: keepup_config::Secret::new("k".into()),
            api_url: "https://api.opsgenie.com".parse().unwrap(),
            responders: vec![
                keepup_config::channels::Responder {
                    kind: keepup_config::channels::ResponderKind::Team,
                    name: "ops".into(),
                },
                keepup_config::channels::Responder {
                    kind: keepup_config::channels::ResponderKind::User,
                    name: "a@example.com".into(),
                },
            ],
        };
        let v = opsgenie_create(&spec, &trigger(), &rendered());
        assert_eq!(v["message"].as_str().unwrap().chars().count(), 130);
        assert_eq!(v["priority"], "P3");
        assert_eq!(v["responders"][0], json!({"type": "team", "name": "ops"}));
        assert_eq!(
            v["responders"][1],
            json!({"type": "user", "username": "a@example.com"})
        );
    }
}
