//! keepup's notification channels: delivering **one** [`Notification`] to
//! **one** destination.
//!
//! Each configured `[[channel]]` (see `keepup_config::channels`) becomes a
//! [`Channel`] through [`build`]; [`Channel::send`] renders the message with
//! the channel's templates, speaks the destination's protocol and reports
//! either [`Delivered`] (with the provider's message id when it returns one)
//! or a [`SendError`] that says whether trying again can help.
//!
//! | kind | protocol |
//! |---|---|
//! | `email` | SMTP (lettre; STARTTLS, implicit TLS or none; optional AUTH), text plus HTML alternative, threaded per incident; attachments (SLA reports) |
//! | `webhook` | any HTTP request; body and headers from minijinja templates, default body the notification as JSON |
//! | `slack` | incoming webhook, `text` plus Block Kit `blocks` |
//! | `teams` | Workflows webhook, an Adaptive Card in a `message` |
//! | `discord` | channel webhook with `?wait=true`, `content` plus one embed |
//! | `telegram` | Bot API `sendMessage`, HTML parse mode |
//! | `pagerduty` | Events API v2: trigger / acknowledge / resolve on the `dedup_key` |
//! | `opsgenie` | Alert API: create, acknowledge and close by alias |
//! | `ntfy` | JSON publish |
//! | `matrix` | client-server API `m.room.message`, idempotent transaction id |
//! | `sms` | a provider's HTTP API, one request per number |
//!
//! What this crate is **not**: it does not decide who is told, when, or how
//! often. Routing, escalation, reminders, grouping, deduplication across
//! time, retries with backoff, fallback channels and the durable outbox live
//! in the monitor, which calls [`Channel::send`] once per attempt and uses
//! [`SendError::retryable`] and [`SendError::retry_after`] to plan the next
//! one.
//!
//! Secrets (webhook URLs, tokens, keys, passwords) are used only to send:
//! they never appear in a [`SendError`], in `Debug` output or in logs.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use keepup_model::{Clock, Severity, Status, SystemClock, Timestamp};
use serde::{Deserialize, Serialize};

pub mod ack;
mod chat;
mod email;
mod http;
pub mod markdown;
mod paging;
mod render;
mod webhook;

pub use http::{HttpClientContext, HttpClientContextBuilder};
pub use render::template_context;
pub use webhook::{WebhookAnswer, WebhookCall};

/// What happened to the incident (or group of incidents) a notification is
/// about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A new problem.
    Trigger,
    /// Someone took it.
    Acknowledge,
    /// It is over.
    Resolve,
    /// Still failing and not acknowledged.
    Reminder,
    /// `keepup notify test`: proves that the channel works.
    Test,
    /// A contract's SLA report of a closed period (with the report's files
    /// as [`Notification::attachments`]).
    Report,
    /// A disaster-recovery run's milestone (the plan's `notify` steps: DR
    /// activated, finalised, returned to production), with its figures.
    Recovery,
}

impl Event {
    /// Stable lowercase name (`trigger`, `acknowledge`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Trigger => "trigger",
            Event::Acknowledge => "acknowledge",
            Event::Resolve => "resolve",
            Event::Reminder => "reminder",
            Event::Test => "test",
            Event::Report => "report",
            Event::Recovery => "recovery",
        }
    }

    /// The word a human sees first (`PROBLEM`, `RESOLVED`, ...).
    pub fn word(self) -> &'static str {
        match self {
            Event::Trigger => "PROBLEM",
            Event::Acknowledge => "ACKNOWLEDGED",
            Event::Resolve => "RESOLVED",
            Event::Reminder => "STILL FAILING",
            Event::Test => "TEST",
            Event::Report => "SLA REPORT",
            Event::Recovery => "DISASTER RECOVERY",
        }
    }
}

/// One check inside a notification (a grouped notification has several).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// `site/check`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its confirmed status.
    pub status: Status,
    /// Why, in one line (the outcome's message).
    pub message: String,
    /// Since when it has had this status.
    pub since: Option<Timestamp>,
}

/// Everything a channel needs to tell one thing to one destination; also
/// the context of every template (see [`template_context`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique per notification (the outbox row id as text); retries of the
    /// same notification keep it, so providers that support idempotency
    /// (Matrix transaction ids, e-mail Message-ID) see one message.
    pub id: String,
    /// Stable per incident (or per group): providers deduplicate and resolve
    /// on it (PagerDuty `dedup_key`, Opsgenie alias, e-mail threading).
    pub dedup_key: String,
    /// What happened.
    pub event: Event,
    /// How bad it is.
    pub severity: Severity,
    /// One line, e.g. `shop/checkout is DOWN`.
    pub title: String,
    /// Plain-text body, several lines allowed. The default templates add the
    /// check list (when there are several), the cause, the duration and the
    /// acknowledgement link, so `text` need not repeat them.
    pub text: String,
    /// The site (shop) id.
    pub site: String,
    /// The checks concerned, at least one for incidents.
    pub checks: Vec<CheckSummary>,
    /// When the incident started.
    pub started_at: Option<Timestamp>,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// How long it lasted, in seconds (resolve notices).
    pub duration_s: Option<u64>,
    /// A signed acknowledgement link, when available.
    pub ack_url: Option<String>,
    /// Root cause text, e.g. `caused by shop/dns`.
    pub cause: Option<String>,
    /// Runbook notes that go with a failure, most specific first (see
    /// `keepup_config::Runbooks::notes_for`); each channel shows an excerpt
    /// within its own notes budget. Empty for other events. In the
    /// monitor's outbox a note is kept by key (`text` empty) and its text
    /// read from the configuration when it is sent.
    #[serde(default)]
    pub runbook: Vec<keepup_config::RunbookNote>,
    /// The incident's page on the dashboard (with the notes in full), when
    /// `server.public_url` is set.
    #[serde(default)]
    pub page_url: Option<String>,
    /// What fixed the same check or the same finding codes before: the
    /// newest hand resolutions with a note, at most three, notes cut to
    /// [`MAX_PAST_NOTE_CHARS`] (triggers and reminders; empty otherwise).
    /// A channel's text shows them first within its notes budget.
    #[serde(default)]
    pub past_resolutions: Vec<PastResolution>,
    /// Files sent along (an SLA report's HTML, CSV and JSON). Never part
    /// of the serialised notification (the outbox payload, templates): the
    /// sender attaches them from where they are kept when it sends. Only
    /// e-mail carries them; the other channels send the text alone.
    #[serde(skip)]
    pub attachments: Vec<Attachment>,
}

/// A notification carries at most this much of an earlier resolution's
/// note (the incident page shows it whole).
pub const MAX_PAST_NOTE_CHARS: usize = 300;

/// An earlier hand resolution of the same check or finding code, as a
/// notification tells it ("2026-10-03, 12m, alice: restarted php-fpm").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastResolution {
    /// The incident it resolved.
    pub incident: i64,
    /// Its check (`site/check`).
    pub check: String,
    /// When it was resolved.
    pub resolved_at: Timestamp,
    /// Time to repair, in seconds (first failed probe to resolution).
    pub repair_s: u64,
    /// Who resolved it.
    pub by: String,
    /// Their note, at most [`MAX_PAST_NOTE_CHARS`] characters.
    pub note: String,
}

impl PastResolution {
    /// One, with its note on one line and cut to [`MAX_PAST_NOTE_CHARS`]
    /// (an ellipsis marks the cut), its author cut to 100 characters.
    pub fn new(
        incident: i64,
        check: &str,
        opened_at: Timestamp,
        resolved_at: Timestamp,
        by: &str,
        note: &str,
    ) -> Self {
        Self {
            incident,
            check: check.to_owned(),
            resolved_at,
            repair_s: ((resolved_at - opened_at).max(0) / 1000) as u64,
            by: truncate_chars(by, 100),
            // One line: a notification lists them one per line.
            note: truncate_chars(
                &note.split_whitespace().collect::<Vec<_>>().join(" "),
                MAX_PAST_NOTE_CHARS,
            ),
        }
    }
}

/// An attached HTML page larger than this is not also the mail's inline
/// HTML (a short rendering of the text is): the inline copy doubles the
/// page in the message, and whoever sizes the attachments counts it.
pub const MAX_INLINE_HTML_BYTES: usize = 1 << 20;

/// A file sent with a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name the recipient sees (`front-2026-10.html`).
    pub filename: String,
    /// Its MIME type (`text/html; charset=utf-8`).
    pub content_type: String,
    /// Its bytes.
    pub data: Vec<u8>,
}

/// A successful delivery.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivered {
    /// The provider's id for the message when it returns one (Discord and
    /// Telegram message ids, Matrix event ids, Opsgenie request ids, the
    /// SMTP server's queue reply, ...).
    pub provider_id: Option<String>,
}

/// A failed delivery.
///
/// `retryable` follows the usual rules: HTTP 408 and 429, 5xx, timeouts,
/// connection and protocol errors, SMTP 4xx replies → `true`; other HTTP
/// 4xx, SMTP 5xx replies (e.g. wrong password), invalid certificates and
/// configuration problems → `false`. The message never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendError {
    /// Whether the same request may succeed later.
    pub retryable: bool,
    /// What went wrong, for the outbox and `keepup notifications`.
    pub message: String,
    /// The provider's hint (Retry-After header, `retry_after` fields).
    pub retry_after: Option<Duration>,
}

impl SendError {
    /// A failure that may go away (outage, rate limit, timeout).
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            message: message.into(),
            retry_after: None,
        }
    }

    /// A failure that will not go away by itself (rejected request, bad
    /// credentials, invalid certificate).
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds the provider's retry hint.
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(after) = self.retry_after {
            write!(f, " (retry after {} s)", after.as_secs())?;
        }
        Ok(())
    }
}

impl std::error::Error for SendError {}

/// The future [`Channel::send`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Result<Delivered, SendError>> + Send + 'a>>;

/// One configured destination. One implementation per kind, built by
/// [`build`].
pub trait Channel: Send + Sync {
    /// The channel's configured id.
    fn id(&self) -> &str;
    /// Delivers `n` once: no retries here, the caller decides.
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a>;
}

/// Builds the channel for a validated configuration entry. Never fails:
/// problems that only show at send time (a template that cannot render, an
/// unparsable address) make every send fail with a non-retryable error.
pub fn build(spec: &keepup_config::channels::Channel, ctx: &HttpClientContext) -> Box<dyn Channel> {
    use keepup_config::channels::ChannelSpec as S;
    let built: Result<Box<dyn Channel>, String> = match &spec.spec {
        S::Email(e) => email::EmailChannel::new(spec, e, ctx).map(|c| Box::new(c) as _),
        S::Webhook(w) => webhook::WebhookChannel::new(spec, w, ctx).map(|c| Box::new(c) as _),
        S::Sms(s) => webhook::SmsChannel::new(spec, s, ctx).map(|c| Box::new(c) as _),
        S::Slack(c) => {
            chat::ChatChannel::new(spec, chat::Kind::Slack, c, ctx).map(|c| Box::new(c) as _)
        }
        S::Teams(c) => {
            chat::ChatChannel::new(spec, chat::Kind::Teams, c, ctx).map(|c| Box::new(c) as _)
        }
        S::Discord(c) => {
            chat::ChatChannel::new(spec, chat::Kind::Discord, c, ctx).map(|c| Box::new(c) as _)
        }
        S::Telegram(t) => chat::TelegramChannel::new(spec, t, ctx).map(|c| Box::new(c) as _),
        S::Matrix(m) => chat::MatrixChannel::new(spec, m, ctx).map(|c| Box::new(c) as _),
        S::Ntfy(n) => chat::NtfyChannel::new(spec, n, ctx).map(|c| Box::new(c) as _),
        S::PagerDuty(p) => paging::PagerDutyChannel::new(spec, p, ctx).map(|c| Box::new(c) as _),
        S::Opsgenie(o) => paging::OpsgenieChannel::new(spec, o, ctx).map(|c| Box::new(c) as _),
    };
    built.unwrap_or_else(|why| {
        Box::new(Broken {
            id: spec.id.clone(),
            why,
        })
    })
}

/// A channel whose configuration cannot work; every send says why.
struct Broken {
    id: String,
    why: String,
}

impl Channel for Broken {
    fn id(&self) -> &str {
        &self.id
    }
    fn send<'a>(&'a self, _n: &'a Notification) -> SendFuture<'a> {
        let err = SendError::permanent(format!("channel {} cannot send: {}", self.id, self.why));
        Box::pin(async move { Err(err) })
    }
}

/// The notification `keepup notify test CHANNEL` sends: an informational
/// [`Event::Test`] with a dedup key of its own (so that a paging service
/// opens a separate, recognisable alert).
pub fn test_notification(site: &str) -> Notification {
    let now = SystemClock.now_ms();
    Notification {
        id: format!("test-{now}"),
        dedup_key: format!("keepup-test/{site}/{now}"),
        event: Event::Test,
        severity: Severity::Info,
        title: format!("keepup test notification for {site}"),
        text: "This is a test message sent by keepup (`keepup notify test` or the \
               dashboard's test button). If you can read it, this channel works."
            .to_owned(),
        site: site.to_owned(),
        checks: Vec::new(),
        started_at: Some(now),
        resolved_at: None,
        duration_s: None,
        ack_url: None,
        cause: None,
        runbook: Vec::new(),
        page_url: None,
        past_resolutions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// Why a test notification did not arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestFailure {
    /// The configuration has no channel of that id.
    NoSuchChannel {
        /// The channels it has.
        known: Vec<String>,
    },
    /// The channel refused or failed.
    Refused(SendError),
    /// No answer within the channel's timeout (and a second).
    NoAnswer(Duration),
}

impl std::fmt::Display for TestFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TestFailure::NoSuchChannel { known } if known.is_empty() => {
                f.write_str("no such channel (none are configured)")
            }
            TestFailure::NoSuchChannel { known } => {
                write!(f, "no such channel (channels: {})", known.join(", "))
            }
            TestFailure::Refused(e) if e.retryable => write!(f, "{e} (temporary; try again)"),
            TestFailure::Refused(e) => write!(f, "{e}"),
            TestFailure::NoAnswer(after) => write!(f, "no answer within {} s", after.as_secs()),
        }
    }
}

impl std::error::Error for TestFailure {}

/// Sends [`test_notification`] (for the configuration's first site)
/// through channel `id` once, within the channel's timeout and a second:
/// what `keepup notify test` and the dashboard's test button do.
pub async fn send_test(
    config: &keepup_config::Config,
    id: &str,
    ctx: &HttpClientContext,
) -> Result<Delivered, TestFailure> {
    let Some(spec) = config.channels.iter().find(|c| c.id == id) else {
        return Err(TestFailure::NoSuchChannel {
            known: config.channels.iter().map(|c| c.id.clone()).collect(),
        });
    };
    let site = config
        .sites
        .first()
        .map(|s| s.id.clone())
        .unwrap_or_else(|| "keepup".into());
    let timeout = spec.timeout + Duration::from_secs(1);
    let channel = build(spec, ctx);
    match tokio::time::timeout(timeout, channel.send(&test_notification(&site))).await {
        Ok(Ok(delivered)) => Ok(delivered),
        Ok(Err(e)) => Err(TestFailure::Refused(e)),
        Err(_) => Err(TestFailure::NoAnswer(timeout)),
    }
}

/// How a provider counts a message's length: characters (Slack,
/// Discord, ...), UTF-8 bytes (ntfy, Matrix) or UTF-16 code units
/// (Telegram, an SMS in UCS-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    Chars,
    Bytes,
    Utf16,
}

impl Unit {
    /// What `c` counts.
    pub(crate) fn of(self, c: char) -> usize {
        match self {
            Unit::Chars => 1,
            Unit::Bytes => c.len_utf8(),
            Unit::Utf16 => c.len_utf16(),
        }
    }

    /// What `s` counts.
    pub(crate) fn len(self, s: &str) -> usize {
        match self {
            Unit::Chars => s.chars().count(),
            Unit::Bytes => s.len(),
            Unit::Utf16 => s.encode_utf16().count(),
        }
    }
}

/// At most `max` units of `s`, cut on a character boundary; `ellipsis`
/// (counted) marks a cut when it fits.
pub(crate) fn truncate_with(s: &str, max: usize, unit: Unit, ellipsis: &str) -> String {
    if unit.len(s) <= max {
        return s.to_owned();
    }
    let mark = unit.len(ellipsis);
    let room = max.saturating_sub(mark);
    let (mut used, mut end) = (0, 0);
    for (i, c) in s.char_indices() {
        used += unit.of(c);
        if used > room {
            break;
        }
        end = i + c.len_utf8();
    }
    let mut out = s[..end].to_owned();
    if mark <= max {
        out.push_str(ellipsis);
    }
    out
}

/// At most `max` units of `s`, with `…` when cut.
pub(crate) fn truncate(s: &str, max: usize, unit: Unit) -> String {
    truncate_with(s, max, unit, "…")
}

/// At most `max` characters of `s`, with `…` when cut.
pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    truncate(s, max, Unit::Chars)
}

/// Calls a dead man's switch URL (a Healthchecks-style ping): GET, success
/// on any 2xx. The URL carries a token, so errors never show it.
pub async fn ping_url(
    ctx: &HttpClientContext,
    url: &str,
    timeout: Duration,
) -> Result<(), SendError> {
    let uri: ::http::Uri = url
        .parse()
        .map_err(|_| SendError::permanent("the heartbeat URL is not a valid URL"))?;
    let req = http::Request {
        what: "dead man's switch",
        method: ::http::Method::GET,
        url: &uri,
        headers: Vec::new(),
        body: bytes::Bytes::new(),
        timeout,
    };
    let response = ctx
        .send(req)
        .await
        .map_err(|e| http::redact_error(e, &[url]))?;
    response
        .check(None)
        .map_err(|e| http::redact_error(e, &[url]))
}

/// A request carrying `Authorization: Bearer <token>` (an agent pushing
/// its report, keepup pulling one): `body` is sent as JSON when given
/// (POST), else a GET; the answer's status and at most `max_body` bytes of
/// its body. Only transport failures are errors; the token never appears
/// in one.
pub async fn bearer_request(
    ctx: &HttpClientContext,
    what: &str,
    url: &str,
    token: &str,
    body: Option<bytes::Bytes>,
    timeout: Duration,
    max_body: usize,
) -> Result<(::http::StatusCode, bytes::Bytes), SendError> {
    let uri: ::http::Uri = url
        .parse()
        .map_err(|_| SendError::permanent(format!("{what}: {url:?} is not a valid URL")))?;
    let mut headers = Vec::new();
    let method = match body {
        Some(_) => {
            headers.push((
                ::http::header::CONTENT_TYPE,
                ::http::HeaderValue::from_static("application/json"),
            ));
            ::http::Method::POST
        }
        None => ::http::Method::GET,
    };
    let req = http::Request {
        what,
        method,
        url: &uri,
        headers,
        body: body.unwrap_or_default(),
        timeout,
    }
    .header(::http::header::AUTHORIZATION, &format!("Bearer {token}"));
    let response = ctx
        .send_reading(req, max_body)
        .await
        .map_err(|e| http::redact_error(e, &[token]))?;
    Ok((response.status, response.body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate_chars("äöü", 3), "äöü");
        assert_eq!(truncate_chars("äöüß", 3), "äö…");
    }

    #[test]
    fn cuts_count_what_the_provider_counts_and_never_split_a_character() {
        // "é" is 2 bytes, "🙂" 4 bytes and 2 UTF-16 units; "…" 3 bytes.
        let s = "é🙂é🙂";
        assert_eq!(truncate(s, 12, Unit::Bytes), s);
        assert_eq!(truncate(s, 11, Unit::Bytes), "é🙂é…");
        assert_eq!(truncate(s, 8, Unit::Bytes), "é…");
        assert_eq!(truncate(s, 6, Unit::Utf16), s);
        assert_eq!(truncate(s, 5, Unit::Utf16), "é🙂é…");
        assert_eq!(truncate(s, 4, Unit::Utf16), "é🙂…");
        assert_eq!(truncate_with(s, 5, Unit::Bytes, "..."), "é...");
        assert_eq!(truncate(s, 0, Unit::Bytes), "");
    }

    #[test]
    fn notifications_serialize_with_lowercase_enums() {
        let n = test_notification("shop");
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["event"], "test");
        assert_eq!(v["severity"], "info");
        let back: Notification = serde_json::from_value(v).unwrap();
        assert_eq!(back, n);
    }
}
