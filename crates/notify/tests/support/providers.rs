//! An in-process stand-in for the providers: one HTTP(S) server that
//! routes by path, validates each request against the provider's documented
//! format (required fields, types, limits, authentication) and answers the
//! way the provider does. A request that breaks the format is answered
//! with 400 and the reason, so the channel's send fails and the test shows
//! why.
//!
//! | path | provider |
//! |---|---|
//! | `/slack/...` | Slack incoming webhook |
//! | `/teams/...` | Teams Workflows webhook |
//! | `/discord/...` | Discord webhook |
//! | `/bot<TOKEN>/sendMessage` | Telegram Bot API |
//! | `/pagerduty/v2/enqueue` | PagerDuty Events API v2 |
//! | `/opsgenie/v2/alerts...` | Opsgenie Alert API |
//! | `/ntfy/` | ntfy JSON publishing |
//! | `/_matrix/client/v3/rooms/...` | Matrix client-server API |
//! | `/hook/...` | generic webhook (expects the notification JSON) |
//! | `/sms/...` | SMS provider (expects `{to, text}`) |

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use keepup_testkit::http::{Request, Response, json, text};
use keepup_testkit::{ServerTls, TestServer};
use serde_json::{Value, json};

pub const TELEGRAM_TOKEN: &str = "123456789:AAH-secret-telegram-token_x";
pub const PD_KEY: &str = "R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY32";
pub const OG_KEY: &str = "0psgenie-api-key-secret-0123456789";
pub const NTFY_TOKEN: &str = "tk_ntfysecrettoken0123456789abcd";
pub const MATRIX_TOKEN: &str = "syt_matrix_secret_access_token";

/// One request that reached the receiver.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
    /// The body as JSON, when it is.
    pub json: Option<Value>,
    /// What the validator objected to, if anything.
    pub problem: Option<String>,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    /// Matrix: txn id → event id, so retries are idempotent.
    matrix_txns: HashMap<String, String>,
}

/// The receiver; stops when dropped.
pub struct Receiver {
    pub server: TestServer,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    /// Plain HTTP on 127.0.0.1.
    pub async fn http() -> Self {
        Self::start(None).await
    }

    /// HTTPS on 127.0.0.1 with `tls`.
    pub async fn https(tls: ServerTls) -> Self {
        Self::start(Some(tls)).await
    }

    async fn start(tls: Option<ServerTls>) -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let s = Arc::clone(&state);
        let handler = move |req: Request| {
            let s = Arc::clone(&s);
            async move { handle(&s, req) }
        };
        let server = match tls {
            Some(tls) => TestServer::builder().tls(tls).start(handler).await,
            None => TestServer::start(handler).await,
        }
        .unwrap();
        Self { server, state }
    }

    /// `http(s)://127.0.0.1:port<path>`.
    pub fn url(&self, path: &str) -> String {
        self.server.url(path)
    }

    /// Everything received, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The single request received; panics unless exactly one came and it
    /// was valid.
    pub fn only(&self) -> Seen {
        let seen = self.seen();
        assert_eq!(seen.len(), 1, "expected one request, got {seen:#?}");
        let s = seen.into_iter().next().unwrap();
        assert!(s.problem.is_none(), "invalid payload: {:?}", s.problem);
        s
    }
}

fn handle(state: &Mutex<State>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut seen = Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        query,
        headers: parts.headers,
        body,
        json: parsed,
        problem: None,
    };
    let mut state = state.lock().unwrap();
    let answer = route(&mut state, &seen);
    let response = match answer {
        Ok(r) => r,
        Err((status, problem)) => {
            seen.problem = Some(problem.clone());
            json(status, json!({"message": problem}).to_string())
        }
    };
    state.seen.push(seen);
    response
}

type Answer = Result<Response, (u16, String)>;

fn bad(why: impl Into<String>) -> (u16, String) {
    (400, why.into())
}

fn route(state: &mut State, s: &Seen) -> Answer {
    let p = s.path.as_str();
    if p.starts_with("/slack/") {
        slack(s)
    } else if p.starts_with("/teams/") {
        teams(s)
    } else if p.starts_with("/discord/") {
        discord(s)
    } else if p.starts_with("/bot") && p.ends_with("/sendMessage") {
        telegram(s)
    } else if p == "/pagerduty/v2/enqueue" {
        pagerduty(s)
    } else if p.starts_with("/opsgenie/v2/alerts") {
        opsgenie(s)
    } else if p == "/ntfy/" {
        ntfy(s)
    } else if p.starts_with("/_matrix/client/v3/rooms/") {
        matrix(state, s)
    } else if p.starts_with("/hook/") {
        hook(s)
    } else if p.starts_with("/sms/") {
        sms(s)
    } else {
        Err((404, format!("no such endpoint {p}")))
    }
}

// --- small validators -------------------------------------------------------

fn body(s: &Seen) -> Result<&Value, (u16, String)> {
    let ct = s
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ct.starts_with("application/json") {
        return Err(bad(format!(
            "Content-Type must be application/json, not {ct:?}"
        )));
    }
    s.json
        .as_ref()
        .filter(|v| v.is_object())
        .ok_or_else(|| bad("the body is not a JSON object"))
}

fn method(s: &Seen, want: &str) -> Result<(), (u16, String)> {
    if s.method == want {
        Ok(())
    } else {
        Err((405, format!("method {} not allowed, use {want}", s.method)))
    }
}

fn string<'a>(v: &'a Value, key: &str, max: usize) -> Result<&'a str, (u16, String)> {
    let s = v
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("`{key}` must be a string")))?;
    if s.chars().count() > max {
        return Err(bad(format!("`{key}` is longer than {max} characters")));
    }
    Ok(s)
}

fn opt_string<'a>(v: &'a Value, key: &str, max: usize) -> Result<Option<&'a str>, (u16, String)> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => string(v, key, max).map(Some),
    }
}

fn array<'a>(v: &'a Value, key: &str, max: usize) -> Result<&'a Vec<Value>, (u16, String)> {
    let a = v
        .get(key)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("`{key}` must be an array")))?;
    if a.len() > max {
        return Err(bad(format!("`{key}` has more than {max} items")));
    }
    Ok(a)
}

fn rfc3339(v: &str) -> bool {
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).is_ok()
}

fn header<'a>(s: &'a Seen, name: &str) -> &'a str {
    s.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

// --- providers --------------------------------------------------------------

/// Slack incoming webhook: `text` and/or `blocks` (≤ 50) of known types;
/// header text plain_text ≤ 150, section text ≤ 3000, context 1–10
/// elements. Answers `ok`.
fn slack(s: &Seen) -> Answer {
    method(s, "POST")?;
    let v = body(s)?;
    let text = opt_string(v, "text", 40_000)?;
    let blocks = match v.get("blocks") {
        None => None,
        Some(_) => Some(array(v, "blocks", 50)?),
    };
    if text.is_none() && blocks.is_none() {
        return Err(bad("invalid_payload: no text"));
    }
    for b in blocks.into_iter().flatten() {
        match b.get("type").and_then(Value::as_str) {
            Some("header") => {
                let t = b.get("text").ok_or_else(|| bad("header without text"))?;
                if t.get("type") != Some(&json!("plain_text")) {
                    return Err(bad("invalid_blocks: a header's text must be plain_text"));
                }
                string(t, "text", 150)
                    .map_err(|e| bad(format!("invalid_blocks: header {}", e.1)))?;
            }
            Some("section") => {
                let t = b.get("text").ok_or_else(|| bad("section without text"))?;
                if !matches!(
                    t.get("type").and_then(Value::as_str),
                    Some("mrkdwn" | "plain_text")
                ) {
                    return Err(bad("invalid_blocks: bad text type"));
                }
                string(t, "text", 3000)
                    .map_err(|e| bad(format!("invalid_blocks: section {}", e.1)))?;
            }
            Some("context") => {
                let elements = array(b, "elements", 10)?;
                if elements.is_empty() {
                    return Err(bad("invalid_blocks: empty context"));
                }
                for e in elements {
                    string(e, "text", 3000)?;
                }
            }
            Some("divider" | "actions" | "image" | "rich_text") => {}
            other => return Err(bad(format!("invalid_blocks: unknown block type {other:?}"))),
        }
    }
    Ok(text_ok(200, "ok"))
}

fn text_ok(status: u16, body: &'static str) -> Response {
    text(status, body)
}

/// Teams Workflows: `{"type": "message", "attachments": [{contentType:
/// adaptive card, content: {type: AdaptiveCard, version, body}}]}`.
/// Answers 202 with no body.
fn teams(s: &Seen) -> Answer {
    method(s, "POST")?;
    let v = body(s)?;
    if v.get("type") != Some(&json!("message")) {
        return Err(bad("`type` must be \"message\""));
    }
    let attachments = array(v, "attachments", 10)?;
    let a = attachments.first().ok_or_else(|| bad("no attachment"))?;
    if a.get("contentType") != Some(&json!("application/vnd.microsoft.card.adaptive")) {
        return Err(bad(
            "contentType must be application/vnd.microsoft.card.adaptive",
        ));
    }
    let card = a.get("content").ok_or_else(|| bad("no content"))?;
    if card.get("type") != Some(&json!("AdaptiveCard")) {
        return Err(bad("the content must be an AdaptiveCard"));
    }
    string(card, "version", 10)?;
    for element in array(card, "body", 200)? {
        match element.get("type").and_then(Value::as_str) {
            Some("TextBlock") => {
                string(element, "text", 20_000)?;
            }
            Some("FactSet") => {
                for f in array(element, "facts", 50)? {
                    string(f, "title", 500)?;
                    string(f, "value", 5000)?;
                }
            }
            Some("Container" | "ColumnSet" | "Image") => {}
            other => return Err(bad(format!("unknown element type {other:?}"))),
        }
    }
    if let Some(actions) = card.get("actions") {
        for act in actions
            .as_array()
            .ok_or_else(|| bad("actions must be an array"))?
        {
            if act.get("type") != Some(&json!("Action.OpenUrl")) {
                return Err(bad("only Action.OpenUrl is expected"));
            }
            string(act, "title", 200)?;
            string(act, "url", 2000)?;
        }
    }
    Ok(text(202, ""))
}

/// Discord execute webhook with `wait=true`: `content` ≤ 2000 and/or
/// `embeds` ≤ 10 (title ≤ 256, description ≤ 4096, ≤ 25 fields of
/// name ≤ 256 / value ≤ 1024, footer ≤ 2048, color an RGB integer,
/// timestamp ISO 8601; all embeds ≤ 6000 characters). Answers the message
/// object.
fn discord(s: &Seen) -> Answer {
    method(s, "POST")?;
    if !s.query.split('&').any(|kv| kv == "wait=true") {
        return Err(bad("expected ?wait=true to get the message back"));
    }
    let v = body(s)?;
    let content = opt_string(v, "content", 2000)?;
    let embeds = match v.get("embeds") {
        None => Vec::new(),
        Some(_) => array(v, "embeds", 10)?.clone(),
    };
    if content.is_none_or(str::is_empty) && embeds.is_empty() {
        return Err(bad("Cannot send an empty message"));
    }
    let mut total = 0;
    for e in &embeds {
        total += opt_string(e, "title", 256)?.map_or(0, |t| t.chars().count());
        total += opt_string(e, "description", 4096)?.map_or(0, |t| t.chars().count());
        if let Some(c) = e.get("color") {
            let c = c.as_u64().ok_or_else(|| bad("color must be an integer"))?;
            if c > 0xFF_FF_FF {
                return Err(bad("color out of range"));
            }
        }
        if let Some(ts) = opt_string(e, "timestamp", 64)?
            && !rfc3339(ts)
        {
            return Err(bad("timestamp must be ISO 8601"));
        }
        if e.get("fields").is_some() {
            for f in array(e, "fields", 25)? {
                total += string(f, "name", 256)?.chars().count();
                total += string(f, "value", 1024)?.chars().count();
            }
        }
        if let Some(footer) = e.get("footer") {
            total += string(footer, "text", 2048)?.chars().count();
        }
    }
    if total > 6000 {
        return Err(bad("embeds exceed 6000 characters"));
    }
    Ok(json(
        200,
        json!({"id": "1234567890123456789", "channel_id": "42", "type": 0, "content": content.unwrap_or_default()})
            .to_string(),
    ))
}

/// Telegram `sendMessage`: the token in the path, `chat_id` integer or
/// string, `text` 1–4096 characters after entities parsing (Telegram counts
/// UTF-16 code units: an emoji is two), `parse_mode` HTML with only the
/// supported tags. Answers `{"ok": true, "result": Message}`.
fn telegram(s: &Seen) -> Answer {
    let token = s
        .path
        .strip_prefix("/bot")
        .and_then(|p| p.strip_suffix("/sendMessage"))
        .unwrap_or_default();
    if token != TELEGRAM_TOKEN {
        return Err((401, "Unauthorized".into()));
    }
    method(s, "POST")?;
    let v = body(s)?;
    match v.get("chat_id") {
        Some(Value::Number(_)) => {}
        Some(Value::String(c)) if c.starts_with('@') => {}
        _ => return Err(bad("Bad Request: chat_id is empty or invalid")),
    }
    let text = string(v, "text", 40_000)?;
    if text.trim().is_empty() {
        return Err(bad("Bad Request: message text is empty"));
    }
    if v.get("parse_mode").is_some() && telegram_parsed(text).encode_utf16().count() > 4096 {
        return Err(bad("Bad Request: message is too long"));
    }
    if let Some(mode) = opt_string(v, "parse_mode", 20)? {
        if mode != "HTML" {
            return Err(bad("Bad Request: unexpected parse_mode"));
        }
        const ALLOWED: &[&str] = &[
            "b",
            "strong",
            "i",
            "em",
            "u",
            "ins",
            "s",
            "strike",
            "del",
            "a",
            "code",
            "pre",
            "tg-spoiler",
            "span",
            "blockquote",
        ];
        for piece in text.split('<').skip(1) {
            let tag: String = piece
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            if !ALLOWED.contains(&tag.as_str()) {
                return Err(bad(format!(
                    "Bad Request: can't parse entities: Unsupported start tag \"{tag}\""
                )));
            }
        }
    }
    Ok(json(
        200,
        json!({"ok": true, "result": {"message_id": 4711, "date": 1_700_000_000, "chat": {"id": v["chat_id"]}, "text": text}})
            .to_string(),
    ))
}

/// An HTML-mode Telegram text as the user sees it: tags removed, the four
/// entities Telegram supports decoded.
pub fn telegram_parsed(text: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

/// PagerDuty Events API v2: a 32-character `routing_key`, `event_action`
/// trigger/acknowledge/resolve, `dedup_key` ≤ 255 (required unless
/// triggering), and for triggers `payload{summary ≤ 1024, source,
/// severity critical/error/warning/info, timestamp ISO 8601}`.
/// Answers 202 `{"status": "success", ...}`.
fn pagerduty(s: &Seen) -> Answer {
    method(s, "POST")?;
    let v = body(s)?;
    let key = string(v, "routing_key", 32)?;
    if key.len() != 32 {
        return Err(bad("Invalid routing key"));
    }
    if key != PD_KEY {
        return Err(bad("Invalid routing key"));
    }
    let action = string(v, "event_action", 20)?;
    let dedup = opt_string(v, "dedup_key", 255)?;
    match action {
        "trigger" => {
            let payload = v
                .get("payload")
                .ok_or_else(|| bad("'payload' is missing"))?;
            let summary = string(payload, "summary", 1024)?;
            if summary.is_empty() {
                return Err(bad("'payload.summary' is empty"));
            }
            if string(payload, "source", 255)?.is_empty() {
                return Err(bad("'payload.source' is empty"));
            }
            let sev = string(payload, "severity", 20)?;
            if !["critical", "error", "warning", "info"].contains(&sev) {
                return Err(bad("'payload.severity' is invalid"));
            }
            if let Some(ts) = opt_string(payload, "timestamp", 64)?
                && !rfc3339(ts)
            {
                return Err(bad("'payload.timestamp' is invalid"));
            }
            if let Some(d) = payload.get("custom_details")
                && !d.is_object()
            {
                return Err(bad("'payload.custom_details' must be an object"));
            }
            if v.get("links").is_some() {
                for l in array(v, "links", 50)? {
                    string(l, "href", 2000)?;
                }
            }
        }
        "acknowledge" | "resolve" => {
            if dedup.is_none_or(str::is_empty) {
                return Err(bad("'dedup_key' is required"));
            }
        }
        other => return Err(bad(format!("'event_action' is invalid: {other}"))),
    }
    Ok(json(
        202,
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup.unwrap_or("generated")})
            .to_string(),
    ))
}

/// Opsgenie Alert API: `Authorization: GenieKey <key>`; create
/// `POST /v2/alerts` with `message` 1–130, `alias` ≤ 512, `description`
/// ≤ 15000, responders `{type, id|name|username}`, ≤ 20 tags, string
/// details, priority P1–P5; acknowledge / close
/// `POST /v2/alerts/{id}/{action}?identifierType=alias` with optional
/// `user`, `source` ≤ 100 and `note` ≤ 25000. Answers 202 with a request id.
fn opsgenie(s: &Seen) -> Answer {
    if header(s, "authorization") != format!("GenieKey {OG_KEY}") {
        return Err((401, "Key format is not valid!".into()));
    }
    method(s, "POST")?;
    let v = body(s)?;
    let rest = s
        .path
        .strip_prefix("/opsgenie/v2/alerts")
        .unwrap_or_default();
    if rest.is_empty() {
        let message = string(v, "message", 130)?;
        if message.is_empty() {
            return Err((422, "Message can not be empty.".into()));
        }
        opt_string(v, "alias", 512)?;
        opt_string(v, "description", 15_000)?;
        if v.get("responders").is_some() {
            for r in array(v, "responders", 50)? {
                let t = string(r, "type", 20)?;
                if !["team", "user", "escalation", "schedule"].contains(&t) {
                    return Err((422, format!("Responder type {t} is invalid")));
                }
                let named = ["id", "name", "username"]
                    .iter()
                    .any(|k| r.get(*k).is_some_and(Value::is_string));
                if !named || (t == "user" && r.get("name").is_some()) {
                    return Err((
                        422,
                        "Responder must have an id, name (teams) or username (users)".into(),
                    ));
                }
            }
        }
        if v.get("tags").is_some() {
            for t in array(v, "tags", 20)? {
                if !t.is_string() {
                    return Err((422, "tags must be strings".into()));
                }
            }
        }
        if let Some(d) = v.get("details") {
            let ok = d
                .as_object()
                .is_some_and(|m| m.values().all(Value::is_string));
            if !ok {
                return Err((422, "details must be a map of strings".into()));
            }
        }
        if let Some(p) = opt_string(v, "priority", 2)?
            && !["P1", "P2", "P3", "P4", "P5"].contains(&p)
        {
            return Err((422, "Priority should be one of P1..P5".into()));
        }
    } else {
        let (id, action) = rest
            .trim_start_matches('/')
            .rsplit_once('/')
            .ok_or_else(|| (404, "unknown endpoint".to_owned()))?;
        if id.is_empty() || !["acknowledge", "close"].contains(&action) {
            return Err((404, "unknown endpoint".into()));
        }
        if !s.query.split('&').any(|kv| kv == "identifierType=alias") {
            return Err((404, "Alert does not exist (identifierType missing)".into()));
        }
        opt_string(v, "user", 100)?;
        opt_string(v, "source", 100)?;
        opt_string(v, "note", 25_000)?;
    }
    Ok(json(
        202,
        json!({"result": "Request will be processed", "took": 0.011, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"})
            .to_string(),
    ))
}

/// ntfy JSON publishing: `topic` required, `message` (at most 4,096
/// bytes: `message-size-limit`; a longer one becomes an attachment), `title`, `priority`
/// 1–5, `tags` strings, `click` URL, ≤ 3 `actions` of view/http/broadcast;
/// `Authorization: Bearer` when the topic is protected. Answers the
/// message.
fn ntfy(s: &Seen) -> Answer {
    if header(s, "authorization") != format!("Bearer {NTFY_TOKEN}") {
        return Err((403, "forbidden".into()));
    }
    method(s, "POST")?;
    let v = body(s)?;
    let topic = string(v, "topic", 64)?;
    if topic.is_empty() {
        return Err(bad("invalid topic"));
    }
    if opt_string(v, "message", 40_000)?.is_some_and(|m| m.len() > 4096) {
        return Err(bad(
            "`message` is longer than 4096 bytes (it would be an attachment)",
        ));
    }
    opt_string(v, "title", 250)?;
    if let Some(p) = v.get("priority") {
        let p = p.as_u64().ok_or_else(|| bad("invalid priority"))?;
        if !(1..=5).contains(&p) {
            return Err(bad("invalid priority"));
        }
    }
    if v.get("tags").is_some() {
        for t in array(v, "tags", 20)? {
            if !t.is_string() {
                return Err(bad("tags must be strings"));
            }
        }
    }
    if v.get("actions").is_some() {
        for a in array(v, "actions", 3)? {
            let kind = string(a, "action", 20)?;
            if !["view", "http", "broadcast"].contains(&kind) {
                return Err(bad("invalid action"));
            }
            string(a, "label", 100)?;
        }
    }
    Ok(json(
        200,
        json!({"id": "sPs71M8A2T", "time": 1_700_000_000, "event": "message", "topic": topic})
            .to_string(),
    ))
}

/// Matrix `PUT /_matrix/client/v3/rooms/{roomId}/send/m.room.message/{txnId}`
/// with `Authorization: Bearer`; `msgtype` and `body` strings,
/// `formatted_body` with `format`, the content within an event's 65,536
/// bytes. The same txnId returns the same event id (idempotent retries).
fn matrix(state: &mut State, s: &Seen) -> Answer {
    if header(s, "authorization") != format!("Bearer {MATRIX_TOKEN}") {
        return Err((401, "M_UNKNOWN_TOKEN".into()));
    }
    method(s, "PUT")?;
    let rest = s
        .path
        .strip_prefix("/_matrix/client/v3/rooms/")
        .unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').collect();
    let [room, "send", "m.room.message", txn] = parts.as_slice() else {
        return Err((404, "M_UNRECOGNIZED".into()));
    };
    if !room.starts_with("%21") || !room.contains("%3A") {
        return Err(bad("M_INVALID_PARAM: room id must be percent-encoded"));
    }
    if s.body.len() > 65_536 {
        return Err((413, "M_TOO_LARGE: event too large".into()));
    }
    let v = body(s)?;
    string(v, "msgtype", 32)?;
    string(v, "body", 65_536)?;
    if v.get("format").is_some() {
        if v.get("format") != Some(&json!("org.matrix.custom.html")) {
            return Err(bad("M_BAD_JSON: unknown format"));
        }
        string(v, "formatted_body", 65_536)?;
    }
    let next = format!("$event{}:example.org", state.matrix_txns.len() + 1);
    let event = state
        .matrix_txns
        .entry((*txn).to_owned())
        .or_insert(next)
        .clone();
    Ok(json(200, json!({"event_id": event}).to_string()))
}

/// The generic webhook without a body template: a notification as JSON.
fn hook(s: &Seen) -> Answer {
    let v = body(s)?;
    serde_json::from_value::<keepup_notify::Notification>(v.clone())
        .map_err(|e| bad(format!("not a notification: {e}")))?;
    Ok(text(204, ""))
}

/// The default SMS body: `{to, text}`, the text one segment: 160
/// septets of the GSM 03.38 alphabet (its extension table's characters two
/// each), or else 70 UTF-16 code units (UCS-2).
fn sms(s: &Seen) -> Answer {
    method(s, "POST")?;
    let v = body(s)?;
    let to = string(v, "to", 16)?;
    if !to.starts_with('+') {
        return Err(bad("`to` must be an international number"));
    }
    let text = string(v, "text", 160)?;
    if sms_segments(text) > 1 {
        return Err(bad("`text` is more than one segment"));
    }
    Ok(json(200, json!({"id": format!("sms-{to}")}).to_string()))
}

/// How many segments an SMS of `text` takes (a single one: 160 septets or
/// 70 UCS-2 units; more: 153 or 67 each).
pub fn sms_segments(text: &str) -> usize {
    const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
    const EXTENSION: &str = "\u{c}^{}\\[~]|€";
    let septets: Option<usize> = text
        .chars()
        .map(|c| {
            if BASIC.contains(c) {
                Some(1)
            } else if EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (len, single, multi) = match septets {
        Some(n) => (n, 160, 153),
        None => (text.encode_utf16().count(), 70, 67),
    };
    if len <= single {
        1
    } else {
        len.div_ceil(multi)
    }
}
