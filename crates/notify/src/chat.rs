//! Chat and push services: Slack, Microsoft Teams and Discord webhooks,
//! Telegram, Matrix and ntfy. Each renders the standard title and text and
//! wraps them in the provider's documented message format; the payload
//! builders are pure functions so that their shape is unit-tested.

use std::time::Duration;

use http::header::AUTHORIZATION;
use http::{Method, Uri};
use keepup_config::channels::{
    Channel as ChannelConfig, ChatWebhookSpec, MatrixSpec, NtfySpec, TelegramSpec,
};
use keepup_model::text::{duration_compact, html_escape};
use keepup_model::{Severity, SystemClock, format_rfc3339};
use serde_json::{Value, json};

use crate::http::{
    HttpClientContext, Request, Response, encode_segment, join_url, redact, redact_error,
};
use crate::render::{DEFAULT_TEXT, DEFAULT_TITLE, Rendered, Templates};
use crate::{
    Channel, Delivered, Event, Notification, SendError, SendFuture, Unit, truncate, truncate_chars,
};

/// What every HTTP channel has.
pub(crate) struct Base {
    pub(crate) id: String,
    pub(crate) timeout: Duration,
    pub(crate) templates: Templates,
    pub(crate) ctx: HttpClientContext,
}

impl Base {
    pub(crate) fn new(cfg: &ChannelConfig, ctx: &HttpClientContext) -> Result<Self, String> {
        Ok(Self {
            id: cfg.id.clone(),
            timeout: cfg.timeout,
            templates: Templates::standard(cfg, DEFAULT_TITLE, DEFAULT_TEXT)?,
            ctx: ctx.clone(),
        })
    }

    /// Sends and classifies: `Ok` only for 2xx. `detail` extracts the
    /// provider's error text (and retry hint) from an error response.
    pub(crate) async fn exchange(
        &self,
        req: Request<'_>,
        secrets: &[&str],
        detail: impl Fn(&Response) -> (Option<String>, Option<Duration>),
    ) -> Result<Response, SendError> {
        let resp = self
            .ctx
            .send(req)
            .await
            .map_err(|e| redact_error(e, secrets))?;
        if !resp.status.is_success() {
            let (text, hint) = detail(&resp);
            if let Err(mut e) = resp.check(text) {
                e.message = redact(&e.message, secrets);
                if e.retryable && e.retry_after.is_none() {
                    e.retry_after = hint;
                }
                return Err(e);
            }
        }
        Ok(resp)
    }
}

/// Provider error texts in JSON bodies: the first of these string fields.
fn json_detail(resp: &Response, fields: &[&str]) -> Option<String> {
    let v = resp.json()?;
    fields
        .iter()
        .find_map(|f| v.get(*f).and_then(Value::as_str).map(str::to_owned))
}

fn seconds(v: Option<&Value>) -> Option<Duration> {
    let s = v?.as_f64()?;
    (s.is_finite() && s >= 0.0).then(|| Duration::from_secs_f64(s.min(86_400.0)))
}

/// Whether the acknowledgement link is worth showing.
fn wants_ack(n: &Notification) -> bool {
    n.ack_url.is_some() && matches!(n.event, Event::Trigger | Event::Reminder)
}

// ---------------------------------------------------------------------------
// Slack, Teams, Discord: a webhook URL that is its own credential
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Slack,
    Teams,
    Discord,
}

pub(crate) struct ChatChannel {
    base: Base,
    kind: Kind,
    url: Uri,
    secret: String,
}

impl ChatChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        kind: Kind,
        spec: &ChatWebhookSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        let secret = spec.webhook_url.expose().trim().to_owned();
        let mut url = secret.clone();
        if kind == Kind::Discord && !url.contains("wait=") {
            // Without it Discord answers 204 and no message id.
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("wait=true");
        }
        let url = url
            .parse()
            .map_err(|_| "the webhook URL is not a valid URL".to_owned())?;
        Ok(Self {
            base: Base::new(cfg, ctx)?,
            kind,
            url,
            secret,
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let (what, payload) = match self.kind {
            Kind::Slack => ("Slack webhook", slack_payload(n, &r)),
            Kind::Teams => ("Teams webhook", teams_payload(n, &r)),
            Kind::Discord => ("Discord webhook", discord_payload(n, &r)),
        };
        let req = Request::json(what, &self.url, &payload, self.base.timeout);
        let resp = self
            .base
            .exchange(req, &[&self.secret], |resp| {
                let v = resp.json();
                let text = json_detail(resp, &["message", "error"]);
                let hint = v.as_ref().and_then(|v| seconds(v.get("retry_after")));
                (text, hint)
            })
            .await?;
        let provider_id = match self.kind {
            Kind::Discord => resp
                .json()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned)),
            _ => None,
        };
        Ok(Delivered { provider_id })
    }
}

impl Channel for ChatChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// Slack's three escapes for `text` and mrkdwn.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack incoming webhook: `text` (the notification fallback) plus Block
/// Kit `blocks` (header ≤ 150 characters, section ≤ 3000, context).
pub(crate) fn slack_payload(n: &Notification, r: &Rendered) -> Value {
    let mut blocks = vec![json!({
        "type": "header",
        "text": {"type": "plain_text", "text": truncate_chars(&r.title, 150), "emoji": true},
    })];
    if !r.text.is_empty() {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": truncate_chars(&slack_escape(&r.text), 3000)},
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{
            "type": "mrkdwn",
            "text": slack_escape(&format!(
                "{} · {} · site {}",
                n.event.word(),
                severity_name(n.severity),
                n.site
            )),
        }],
    }));
    json!({
        "text": truncate_chars(&slack_escape(&format!("{}: {}", n.event.word(), r.title)), 3000),
        "blocks": blocks,
    })
}

fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

/// Microsoft Teams Workflows webhook: a `message` with one Adaptive Card
/// attachment (title, one text block per line, facts, an acknowledge
/// action).
pub(crate) fn teams_payload(n: &Notification, r: &Rendered) -> Value {
    let color = match (n.event, n.severity) {
        (Event::Resolve, _) => "Good",
        (Event::Trigger | Event::Reminder, Severity::Critical) => "Attention",
        (Event::Trigger | Event::Reminder, Severity::Warning) => "Warning",
        _ => "Default",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": r.title,
        "weight": "Bolder",
        "size": "Medium",
        "color": color,
        "wrap": true,
    })];
    for line in r.text.lines().take(60) {
        body.push(json!({
            "type": "TextBlock",
            "text": if line.is_empty() { " " } else { line },
            "wrap": true,
            "spacing": "None",
        }));
    }
    let mut facts = vec![
        json!({"title": "Site", "value": n.site}),
        json!({"title": "Event", "value": n.event.word()}),
        json!({"title": "Severity", "value": severity_name(n.severity)}),
    ];
    if let Some(started) = n.started_at {
        facts.push(json!({"title": "Started", "value": format_rfc3339(started)}));
    }
    if let Some(d) = n.duration_s {
        facts.push(json!({"title": "Duration", "value": duration_compact(Duration::from_secs(d))}));
    }
    body.push(json!({"type": "FactSet", "facts": facts}));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    });
    let mut actions = Vec::new();
    if wants_ack(n)
        && let Some(url) = &n.ack_url
    {
        actions.push(json!({"type": "Action.OpenUrl", "title": "Acknowledge", "url": url}));
    }
    if let Some(url) = &n.page_url {
        actions.push(
            json!({"type": "Action.OpenUrl", "title": "Incident page and runbook", "url": url}),
        );
    }
    if !actions.is_empty() {
        card["actions"] = json!(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

/// Discord webhook: `content` (the push line) and one embed; mentions are
/// disabled so that a check message can never ping `@everyone`.
pub(crate) fn discord_payload(n: &Notification, r: &Rendered) -> Value {
    let color = match (n.event, n.severity) {
        (Event::Resolve, _) => 0x2E_B6_7D,
        (Event::Trigger | Event::Reminder, Severity::Critical) => 0xE0_1E_5A,
        (Event::Trigger | Event::Reminder, Severity::Warning) => 0xEC_B2_2E,
        _ => 0x3B_88_C3,
    };
    let mut fields =
        vec![json!({"name": "Site", "value": truncate_chars(&n.site, 1024), "inline": true})];
    fields.push(json!({"name": "Severity", "value": severity_name(n.severity), "inline": true}));
    let mut embed = json!({
        "title": truncate_chars(&r.title, 256),
        "description": truncate_chars(&r.text, 4096),
        "color": color,
        "timestamp": format_rfc3339(n.resolved_at.or(n.started_at).unwrap_or_else(|| {
            use keepup_model::Clock;
            SystemClock.now_ms()
        })),
        "fields": fields,
        "footer": {"text": truncate_chars(&format!("keepup · {}", n.dedup_key), 2048)},
    });
    if wants_ack(n)
        && let Some(url) = &n.ack_url
    {
        embed["url"] = json!(url);
    }
    json!({
        "content": truncate_chars(&format!("**{}**: {}", n.event.word(), r.title), 2000),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

// ---------------------------------------------------------------------------
// Telegram
// ---------------------------------------------------------------------------

pub(crate) struct TelegramChannel {
    base: Base,
    url: Uri,
    token: String,
    chat_id: String,
}

impl TelegramChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &TelegramSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        let token = spec.bot_token.expose().to_owned();
        let url = join_url(&spec.api_url, &format!("/bot{token}/sendMessage"), None)?;
        Ok(Self {
            base: Base::new(cfg, ctx)?,
            url,
            token,
            chat_id: spec.chat_id.clone(),
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let payload = telegram_payload(&self.chat_id, &r);
        let req = Request::json("Telegram Bot API", &self.url, &payload, self.base.timeout);
        let resp = self
            .base
            .exchange(req, &[&self.token], |resp| {
                let v = resp.json();
                let text = json_detail(resp, &["description"]);
                let hint = v
                    .as_ref()
                    .and_then(|v| seconds(v.pointer("/parameters/retry_after")));
                (text, hint)
            })
            .await?;
        let id = resp.json().and_then(|v| {
            v.pointer("/result/message_id").map(|id| match id {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
        });
        Ok(Delivered { provider_id: id })
    }
}

impl Channel for TelegramChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// What a Telegram message's text holds once its HTML entities are
/// parsed: 4,096 characters as Telegram counts them, in UTF-16 code units
/// (an emoji counts two).
pub(crate) const TELEGRAM_MAX_UTF16: usize = 4096;

/// Bot API `sendMessage` with `parse_mode = "HTML"`: the title in bold,
/// the escaped text (at most [`TELEGRAM_MAX_UTF16`] in all, counted before
/// escaping, as Telegram counts after parsing), no link previews.
pub(crate) fn telegram_payload(chat_id: &str, r: &Rendered) -> Value {
    let title = truncate_chars(&r.title, 200);
    // The title, a line break, then what is left for the text.
    let room = TELEGRAM_MAX_UTF16 - Unit::Utf16.len(&title) - 1;
    let text = html_escape(&truncate(&r.text, room, Unit::Utf16));
    let title = html_escape(&title);
    let mut html = format!("<b>{title}</b>");
    if !text.is_empty() {
        html.push('\n');
        html.push_str(&text);
    }
    let chat: Value = match chat_id.parse::<i64>() {
        Ok(num) => json!(num),
        Err(_) => json!(chat_id),
    };
    json!({
        "chat_id": chat,
        "text": html,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    })
}

// ---------------------------------------------------------------------------
// Matrix
// ---------------------------------------------------------------------------

pub(crate) struct MatrixChannel {
    base: Base,
    homeserver: Uri,
    room: String,
    token: String,
}

impl MatrixChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &MatrixSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        Ok(Self {
            base: Base::new(cfg, ctx)?,
            homeserver: spec.homeserver_url.clone(),
            room: spec.room_id.clone(),
            token: spec.access_token.expose().to_owned(),
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        // The transaction id makes a retry of the same notification
        // idempotent: the homeserver answers with the first event's id.
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/m.room.message/{}",
            encode_segment(&self.room),
            encode_segment(&format!("keepup-{}", n.id))
        );
        let url = join_url(&self.homeserver, &path, None).map_err(SendError::permanent)?;
        let mut req = Request::json(
            "Matrix homeserver",
            &url,
            &matrix_payload(&r),
            self.base.timeout,
        )
        .header(AUTHORIZATION, &format!("Bearer {}", self.token));
        req.method = Method::PUT;
        let resp = self
            .base
            .exchange(req, &[&self.token], |resp| {
                let v = resp.json();
                let text = v.as_ref().map(|v| {
                    format!(
                        "{} {}",
                        v.get("errcode").and_then(Value::as_str).unwrap_or_default(),
                        v.get("error").and_then(Value::as_str).unwrap_or_default()
                    )
                });
                let hint = v
                    .as_ref()
                    .and_then(|v| v.get("retry_after_ms").and_then(Value::as_u64))
                    .map(Duration::from_millis);
                (text, hint)
            })
            .await?;
        Ok(Delivered {
            provider_id: resp
                .json()
                .and_then(|v| v.get("event_id").and_then(Value::as_str).map(str::to_owned)),
        })
    }
}

impl Channel for MatrixChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// The most a Matrix message's content takes as JSON, in bytes. An event
/// may have 65,536 bytes as the homeserver signs and sends it (with ids,
/// hashes, signatures and `unsigned` around the content); half of that
/// leaves room for all of it.
pub(crate) const MATRIX_MAX_CONTENT_BYTES: usize = 32 * 1024;

/// `m.room.message` / `m.text` with a plain `body` and an HTML
/// `formatted_body`, both from the same text, cut (on a character boundary,
/// with `…`) until the content has at most [`MATRIX_MAX_CONTENT_BYTES`]:
/// the HTML form escapes, so the text's own length does not tell.
pub(crate) fn matrix_payload(r: &Rendered) -> Value {
    let title = truncate_chars(&r.title, 250);
    let mut text = r.text.clone();
    loop {
        let content = matrix_content(&title, &text);
        let size = serde_json::to_vec(&content).map_or(usize::MAX, |b| b.len());
        if size <= MATRIX_MAX_CONTENT_BYTES || text.is_empty() {
            return content;
        }
        // In proportion to the excess, and by at least an eighth, so that
        // a few rounds do (each shorter than the last).
        let proportional = text.len() * (MATRIX_MAX_CONTENT_BYTES / 64) / (size / 64 + 1);
        let keep = proportional.min(text.len().saturating_sub(text.len() / 8 + 4));
        text = truncate(&text, keep, Unit::Bytes);
    }
}

fn matrix_content(title: &str, text: &str) -> Value {
    let mut body = title.to_owned();
    let mut html = format!("<b>{}</b>", html_escape(title));
    if !text.is_empty() {
        body.push_str("\n\n");
        body.push_str(text);
        html.push_str("<br>");
        html.push_str(&html_escape(text).replace('\n', "<br>"));
    }
    json!({
        "msgtype": "m.text",
        "body": body,
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    })
}

// ---------------------------------------------------------------------------
// ntfy
// ---------------------------------------------------------------------------

pub(crate) struct NtfyChannel {
    base: Base,
    url: Uri,
    spec: NtfySpec,
}

impl NtfyChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &NtfySpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        Ok(Self {
            base: Base::new(cfg, ctx)?,
            url: join_url(&spec.server_url, "/", None)?,
            spec: spec.clone(),
        })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let payload = ntfy_payload(&self.spec, n, &r);
        let mut req = Request::json("ntfy server", &self.url, &payload, self.base.timeout);
        let token = self
            .spec
            .token
            .as_ref()
            .map(|t| t.expose())
            .unwrap_or_default();
        if !token.is_empty() {
            req = req.header(AUTHORIZATION, &format!("Bearer {token}"));
        }
        let resp = self
            .base
            .exchange(req, &[token], |resp| (json_detail(resp, &["error"]), None))
            .await?;
        Ok(Delivered {
            provider_id: resp
                .json()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned)),
        })
    }
}

impl Channel for NtfyChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// ntfy's message size limit (`message-size-limit`, default 4 KiB).
pub(crate) const NTFY_MAX_MESSAGE_BYTES: usize = 4096;

/// ntfy JSON publishing: topic, title, message, priority (1–5), emoji
/// tags, and the acknowledgement link as click action and view button.
pub(crate) fn ntfy_payload(spec: &NtfySpec, n: &Notification, r: &Rendered) -> Value {
    let p = spec.priority;
    let (priority, tag) = match (n.event, n.severity) {
        (Event::Resolve, _) => (p.resolve, "white_check_mark"),
        (Event::Acknowledge, _) => (p.resolve, "eyes"),
        (Event::Test, _) => (p.info, "test_tube"),
        (Event::Report, _) => (p.info, "bar_chart"),
        (Event::Recovery, _) => (p.warning, "rotating_light"),
        (_, Severity::Critical) => (p.critical, "rotating_light"),
        (_, Severity::Warning) => (p.warning, "warning"),
        (_, Severity::Info) => (p.info, "information_source"),
    };
    let mut v = json!({
        "topic": spec.topic,
        "title": truncate_chars(&r.title, 250),
        // ntfy keeps 4,096 bytes (a longer message becomes an attachment).
        "message": truncate(
            if r.text.is_empty() { &r.title } else { &r.text },
            NTFY_MAX_MESSAGE_BYTES,
            Unit::Bytes,
        ),
        "priority": priority,
        "tags": [tag, n.site],
    });
    if wants_ack(n)
        && let Some(url) = &n.ack_url
    {
        v["click"] = json!(url);
        v["actions"] =
            json!([{"action": "view", "label": "Acknowledge", "url": url, "clear": true}]);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(n: &Notification) -> Rendered {
        Rendered {
            title: n.title.clone(),
            text: "line <1> & more\nline 2".into(),
        }
    }

    fn trigger() -> Notification {
        let mut n = crate::test_notification("shop");
        n.event = Event::Trigger;
        n.severity = Severity::Critical;
        n.ack_url = Some("https://keepup.example/ack/1".into());
        n
    }

    #[test]
    fn slack_escapes_and_limits() {
        let mut n = trigger();
        n.title = "x".repeat(400);
        let v = slack_payload(&n, &rendered(&n));
        assert_eq!(v["blocks"][0]["type"], "header");
        assert_eq!(
            v["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .chars()
                .count(),
            150
        );
        assert_eq!(
            v["blocks"][1]["text"]["text"],
            "line &lt;1&gt; &amp; more\nline 2"
        );
        assert!(v["text"].as_str().unwrap().starts_with("PROBLEM: "));
    }

    #[test]
    fn teams_is_an_adaptive_card_message() {
        let n = trigger();
        let v = teams_payload(&n, &rendered(&n));
        assert_eq!(v["type"], "message");
        let a = &v["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(a["content"]["body"][0]["color"], "Attention");
        assert_eq!(
            a["content"]["actions"][0]["url"],
            "https://keepup.example/ack/1"
        );
    }

    #[test]
    fn discord_disables_mentions() {
        let n = trigger();
        let v = discord_payload(&n, &rendered(&n));
        assert_eq!(v["allowed_mentions"]["parse"], json!([]));
        assert_eq!(v["embeds"][0]["color"], 0xE0_1E_5A);
    }

    #[test]
    fn telegram_chat_ids_are_numbers_when_numeric() {
        let n = trigger();
        assert_eq!(
            telegram_payload("-100123", &rendered(&n))["chat_id"],
            json!(-100123)
        );
        let v = telegram_payload("@ops", &rendered(&n));
        assert_eq!(v["chat_id"], "@ops");
        assert!(
            v["text"]
                .as_str()
                .unwrap()
                .contains("line &lt;1&gt; &amp; more")
        );
    }

    #[test]
    fn matrix_has_plain_and_html_bodies() {
        let n = trigger();
        let v = matrix_payload(&rendered(&n));
        assert_eq!(v["msgtype"], "m.text");
        assert!(
            v["formatted_body"]
                .as_str()
                .unwrap()
                .contains("line &lt;1&gt; &amp; more<br>line 2")
        );
    }
}
