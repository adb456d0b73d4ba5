//! `[[channel]]`: where notifications can be delivered.
//!
//! A channel is one destination of one kind (an SMTP relay and its
//! recipients, a Slack incoming webhook, a PagerDuty service, ...). This
//! module validates the configuration of channels; delivering to them is the
//! job of the `keepup-notify` crate, and deciding *when* and *to whom* is the
//! monitor's.
//!
//! ```toml
//! [[channel]]
//! id = "ops-mail"
//! kind = "email"
//! smtp_host = "mail.example.com"
//! username = "keepup"
//! password_env = "SMTP_PASSWORD"
//! from = "keepup <keepup@example.com>"
//! to = ["ops@example.com"]
//! fallback = "ops-slack"          # used when this one keeps failing
//! timeout = "10s"
//! title_template = "[{{ site }}] {{ title }}"
//!
//! [[channel]]
//! id = "ops-slack"
//! kind = "slack"
//! webhook_url_env = "SLACK_WEBHOOK_URL"
//! ```
//!
//! Every channel has `id`, `kind`, optional `fallback`, `timeout`
//! (default 10 s), `template` (the message text) and `title_template` (its
//! one-line title). Templates are [minijinja](https://docs.rs/minijinja)
//! templates over the notification; they are compiled, and rendered once
//! against a sample notification, at load time so that a mistake is
//! reported with `file:line:col` rather than at 3 a.m.
//!
//! Credentials (passwords, tokens, routing and API keys) are only read from
//! the environment (`*_env`) or a file (`*_file`), never written inline.
//! Webhook URLs, which often embed a token, may be given inline, by
//! environment or by file; they are kept as [`Secret`]s either way and never
//! appear in messages.

use crate::load::{Inline, Loader, unknown_key, valid_id};
use crate::raw::Dur;
use crate::spec::{Config, Secret};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The keys every channel has, whatever its kind.
const COMMON_CHANNEL_KEYS: &[&str] = &[
    "id",
    "kind",
    "fallback",
    "timeout",
    "template",
    "title_template",
];

/// The channel kinds known to this build.
pub const CHANNEL_KINDS: &[&str] = &[
    "email",
    "webhook",
    "slack",
    "teams",
    "discord",
    "telegram",
    "pagerduty",
    "opsgenie",
    "ntfy",
    "matrix",
    "sms",
];

/// Default time one delivery attempt may take.
pub const DEFAULT_CHANNEL_TIMEOUT: Duration = Duration::from_secs(10);
/// Default Telegram Bot API base.
pub const DEFAULT_TELEGRAM_API: &str = "https://api.telegram.org";
/// Default PagerDuty Events API v2 endpoint.
pub const DEFAULT_PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Default Opsgenie API base (use `https://api.eu.opsgenie.com` for EU accounts).
pub const DEFAULT_OPSGENIE_API: &str = "https://api.opsgenie.com";
/// Default ntfy server.
pub const DEFAULT_NTFY_SERVER: &str = "https://ntfy.sh";

// ---------------------------------------------------------------------------
// The validated configuration
// ---------------------------------------------------------------------------

/// `[[channel]]`: one validated notification destination.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Short stable id, referenced by routing and by `fallback`.
    pub id: String,
    /// What kind of destination, with its kind-specific settings.
    pub spec: ChannelSpec,
    /// The channel to use instead when this one keeps failing; it exists and
    /// the fallback chain has no cycle.
    pub fallback: Option<String>,
    /// Time one delivery attempt may take (default 10 s).
    pub timeout: Duration,
    /// Overrides the kind's default message text template.
    pub template: Option<Template>,
    /// Overrides the kind's default title template.
    pub title_template: Option<Template>,
}

impl Channel {
    /// The `kind` name as written in the configuration.
    pub fn kind(&self) -> &'static str {
        self.spec.kind()
    }
}

impl Config {
    /// The channel with this id.
    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }
}

/// A minijinja template whose syntax was checked at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The template text as written.
    pub source: String,
}

/// The kind-specific part of a channel.
#[derive(Debug, Clone)]
pub enum ChannelSpec {
    /// `kind = "email"`
    Email(EmailSpec),
    /// `kind = "webhook"`
    Webhook(WebhookSpec),
    /// `kind = "slack"`: a Slack incoming webhook.
    Slack(ChatWebhookSpec),
    /// `kind = "teams"`: a Microsoft Teams Workflows webhook.
    Teams(ChatWebhookSpec),
    /// `kind = "discord"`: a Discord channel webhook.
    Discord(ChatWebhookSpec),
    /// `kind = "telegram"`
    Telegram(TelegramSpec),
    /// `kind = "pagerduty"`
    PagerDuty(PagerDutySpec),
    /// `kind = "opsgenie"`
    Opsgenie(OpsgenieSpec),
    /// `kind = "ntfy"`
    Ntfy(NtfySpec),
    /// `kind = "matrix"`
    Matrix(MatrixSpec),
    /// `kind = "sms"`: SMS through a provider's HTTP API.
    Sms(SmsSpec),
}

impl ChannelSpec {
    /// The `kind` name as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelSpec::Email(_) => "email",
            ChannelSpec::Webhook(_) => "webhook",
            ChannelSpec::Slack(_) => "slack",
            ChannelSpec::Teams(_) => "teams",
            ChannelSpec::Discord(_) => "discord",
            ChannelSpec::Telegram(_) => "telegram",
            ChannelSpec::PagerDuty(_) => "pagerduty",
            ChannelSpec::Opsgenie(_) => "opsgenie",
            ChannelSpec::Ntfy(_) => "ntfy",
            ChannelSpec::Matrix(_) => "matrix",
            ChannelSpec::Sms(_) => "sms",
        }
    }
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which is required (default;
    /// port 587).
    #[default]
    StartTls,
    /// TLS from the first byte (SMTPS, port 465).
    Implicit,
    /// No TLS at all (only for a relay on the same host or network).
    None,
}

/// SMTP AUTH credentials.
#[derive(Debug, Clone, PartialEq)]
pub struct SmtpAuth {
    /// User name.
    pub username: String,
    /// Password, from env or file.
    pub password: Secret,
}

/// `kind = "email"`
#[derive(Debug, Clone)]
pub struct EmailSpec {
    /// SMTP server host name or IP.
    pub smtp_host: String,
    /// SMTP port (default 587, or 465 with `tls = "implicit"`).
    pub smtp_port: u16,
    /// Connection security (default STARTTLS).
    pub tls: SmtpTls,
    /// Optional AUTH.
    pub auth: Option<SmtpAuth>,
    /// Sender mailbox, `addr@example.com` or `Name <addr@example.com>`.
    pub from: String,
    /// Recipient mailboxes, at least one.
    pub to: Vec<String>,
    /// Extra trusted CA (PEM) for the SMTP server's certificate, on top of
    /// the system roots.
    pub ca_file: Option<PathBuf>,
    /// Name sent in EHLO (default: the local host name).
    pub helo_name: Option<String>,
}

/// The value of one configured HTTP header.
#[derive(Debug, Clone)]
pub enum HeaderValueSpec {
    /// A template rendered per notification (`"X-Incident" = "{{ dedup_key }}"`).
    Template(Template),
    /// A secret sent as is (`"Authorization" = { value_env = "HOOK_AUTH" }`).
    Secret(Secret),
}

/// One configured HTTP header.
#[derive(Debug, Clone)]
pub struct HeaderSpec {
    /// Header name.
    pub name: http::HeaderName,
    /// Its value.
    pub value: HeaderValueSpec,
}

/// `kind = "webhook"`: any HTTP endpoint, body and headers from templates.
#[derive(Debug, Clone)]
pub struct WebhookSpec {
    /// Absolute http(s) URL (kept secret: it often embeds a token).
    pub url: Secret,
    /// Request method (default POST).
    pub method: http::Method,
    /// Extra headers.
    pub headers: Vec<HeaderSpec>,
    /// Request body; default: the notification as a JSON document.
    pub body_template: Option<Template>,
}

/// `kind = "slack" | "teams" | "discord"`: a chat service's incoming webhook.
#[derive(Debug, Clone)]
pub struct ChatWebhookSpec {
    /// The webhook URL, which is itself the credential.
    pub webhook_url: Secret,
}

/// `kind = "telegram"`: a bot posting to one chat.
#[derive(Debug, Clone)]
pub struct TelegramSpec {
    /// Bot token from @BotFather.
    pub bot_token: Secret,
    /// Chat id: a number (`-1001234567890`) or `@channelusername`.
    pub chat_id: String,
    /// Bot API base (default `https://api.telegram.org`).
    pub api_url: http::Uri,
}

/// `kind = "pagerduty"`: PagerDuty Events API v2.
#[derive(Debug, Clone)]
pub struct PagerDutySpec {
    /// Integration (routing) key of the service.
    pub routing_key: Secret,
    /// Events endpoint (default `https://events.pagerduty.com/v2/enqueue`).
    pub events_url: http::Uri,
}

/// The kind of an Opsgenie responder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponderKind {
    /// `team:NAME`
    Team,
    /// `user:USERNAME` (an e-mail address)
    User,
    /// `escalation:NAME`
    Escalation,
    /// `schedule:NAME`
    Schedule,
}

impl ResponderKind {
    /// The `type` value of the Opsgenie API.
    pub fn as_str(self) -> &'static str {
        match self {
            ResponderKind::Team => "team",
            ResponderKind::User => "user",
            ResponderKind::Escalation => "escalation",
            ResponderKind::Schedule => "schedule",
        }
    }
}

/// One Opsgenie responder, written `"team:ops"`, `"user:a@example.com"`,
/// `"escalation:night"` or `"schedule:on-call"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Responder {
    /// What it names.
    pub kind: ResponderKind,
    /// Its name (the username for users).
    pub name: String,
}

/// `kind = "opsgenie"`: Opsgenie Alert API.
#[derive(Debug, Clone)]
pub struct OpsgenieSpec {
    /// API integration key (`Authorization: GenieKey ...`).
    pub api_key: Secret,
    /// API base (default `https://api.opsgenie.com`).
    pub api_url: http::Uri,
    /// Who is notified; empty: the integration's team.
    pub responders: Vec<Responder>,
}

/// ntfy priorities (1 = min … 5 = max) per severity and for resolutions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NtfyPriorities {
    /// Critical problems (default 5, "max").
    pub critical: u8,
    /// Warnings (default 4, "high").
    pub warning: u8,
    /// Informational messages and tests (default 3, "default").
    pub info: u8,
    /// Acknowledgements and resolutions (default 3, "default").
    pub resolve: u8,
}

impl Default for NtfyPriorities {
    fn default() -> Self {
        Self {
            critical: 5,
            warning: 4,
            info: 3,
            resolve: 3,
        }
    }
}

/// `kind = "ntfy"`
#[derive(Debug, Clone)]
pub struct NtfySpec {
    /// Server (default `https://ntfy.sh`).
    pub server_url: http::Uri,
    /// Topic name.
    pub topic: String,
    /// Access token for protected topics.
    pub token: Option<Secret>,
    /// Priority per severity.
    pub priority: NtfyPriorities,
}

/// `kind = "matrix"`: a message in one room through the client-server API.
#[derive(Debug, Clone)]
pub struct MatrixSpec {
    /// Homeserver base URL, e.g. `https://matrix.example.org`.
    pub homeserver_url: http::Uri,
    /// Room id, `!opaque:server`.
    pub room_id: String,
    /// Access token of the posting user.
    pub access_token: Secret,
}

/// `kind = "sms"`: one HTTP request per recipient to an SMS provider.
#[derive(Debug, Clone)]
pub struct SmsSpec {
    /// The provider's request, written with the keys of a webhook (`url`,
    /// `method`, `headers`, `body_template`); the default body is
    /// `{"to": "<number>", "text": "<short text>"}`.
    pub request: WebhookSpec,
    /// Phone numbers, `+` and digits.
    pub to: Vec<String>,
}

// ---------------------------------------------------------------------------
// Templates
// ---------------------------------------------------------------------------

/// The template environment every channel template is compiled and rendered
/// in: minijinja's built-in filters plus `tojson`, `trim_blocks` and
/// `lstrip_blocks` on (block tags on their own lines leave no blank lines),
/// HTML auto-escaping for template names ending in `.html`, and undefined
/// and none values rendering as empty.
pub fn template_environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    // A missing value (`cause`, `ack_url`, ...) renders as nothing, not
    // as Python's "None".
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            minijinja::AutoEscape::Html
        } else {
            minijinja::AutoEscape::None
        }
    });
    env
}

/// A notification-shaped context with every variable a channel template can
/// use, for the trial render at load time. `keepup-notify` builds the real
/// one; its tests check that both have the same variables.
pub fn sample_template_context() -> serde_json::Value {
    serde_json::json!({
        "id": "1",
        "dedup_key": "shop/checkout",
        "event": "trigger",
        "event_word": "PROBLEM",
        "severity": "critical",
        "title": "shop/checkout is DOWN",
        "text": "Checkout answers 500",
        "site": "shop",
        "checks": [{
            "id": "shop/checkout",
            "name": "Checkout",
            "status": "down",
            "message": "HTTP 500",
            "since": 1_700_000_000_000_i64,
            "since_rfc3339": "2023-11-14T22:13:20Z",
        }],
        "started_at": 1_700_000_000_000_i64,
        "resolved_at": null,
        "duration_s": null,
        "started": "2023-11-14T22:13:20Z",
        "resolved": null,
        "duration": null,
        "ack_url": "https://keepup.example/ack/abc",
        "cause": null,
        "runbook": [{
            "source": "check",
            "about": "shop/checkout",
            "text": "Restart php-fpm: `systemctl restart php-fpm`",
        }],
        "runbook_excerpt": "shop/checkout: Restart php-fpm: systemctl restart php-fpm",
        "page_url": "https://keepup.example/incidents/1",
        "past_resolutions": [{
            "incident": 41,
            "check": "shop/checkout",
            "resolved_at": 1_699_000_000_000_i64,
            "resolved": "2023-11-03T08:26:40Z",
            "repair_s": 720,
            "by": "alice",
            "note": "restarted php-fpm, pool exhausted by a bot",
            "line": "2023-11-03, 12m, alice: restarted php-fpm, pool exhausted by a bot",
        }],
        "to": "+4915100000000",
        "message": "PROBLEM shop/checkout is DOWN",
    })
}

/// Checks a template: syntax, then one render against
/// [`sample_template_context`] (unknown filters, bad operations).
fn check_template(source: &str, html: bool) -> Result<(), String> {
    let env = template_environment();
    let name = if html { "template.html" } else { "template" };
    let tmpl = env
        .template_from_named_str(name, source)
        .map_err(|e| describe_template_error(&e))?;
    tmpl.render(minijinja::Value::from(minijinja::value::Serde(
        sample_template_context(),
    )))
    .map(|_| ())
    .map_err(|e| describe_template_error(&e))
}

/// A one-line description of a template error, with the line inside the
/// template when known.
pub fn describe_template_error(e: &minijinja::Error) -> String {
    let what = match e.kind() {
        minijinja::ErrorKind::SyntaxError => "template syntax error".to_owned(),
        kind => format!("template error ({kind})"),
    };
    let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
    match e.line() {
        Some(line) => format!("{what} on line {line} of the template{detail}"),
        None => format!("{what}{detail}"),
    }
}

// ---------------------------------------------------------------------------
// The configuration as written
// ---------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannelCommon {
    id: Spanned<String>,
    kind: Spanned<String>,
    fallback: Option<Spanned<String>>,
    timeout: Option<Spanned<Dur>>,
    template: Option<Spanned<String>>,
    title_template: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmail {
    smtp_host: Spanned<String>,
    smtp_port: Option<Spanned<i64>>,
    tls: Option<Spanned<String>>,
    username: Option<Spanned<String>>,
    password_env: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    from: Spanned<String>,
    to: Spanned<Vec<Spanned<String>>>,
    ca_file: Option<Spanned<String>>,
    helo_name: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWebhook {
    url: Option<Spanned<String>>,
    url_env: Option<Spanned<String>>,
    url_file: Option<Spanned<String>>,
    method: Option<Spanned<String>>,
    headers: Option<Spanned<toml::Table>>,
    body_template: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChatWebhook {
    webhook_url: Option<Spanned<String>>,
    webhook_url_env: Option<Spanned<String>>,
    webhook_url_file: Option<Spanned<String>>,
}

/// A Telegram chat id: a number or `@channelusername`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawChatId {
    Number(i64),
    Text(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelegram {
    bot_token_env: Option<Spanned<String>>,
    bot_token_file: Option<Spanned<String>>,
    chat_id: Spanned<RawChatId>,
    api_url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPagerDuty {
    routing_key_env: Option<Spanned<String>>,
    routing_key_file: Option<Spanned<String>>,
    events_url: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOpsgenie {
    api_key_env: Option<Spanned<String>>,
    api_key_file: Option<Spanned<String>>,
    api_url: Option<Spanned<String>>,
    #[serde(default)]
    responders: Vec<Spanned<String>>,
}

/// An ntfy priority: 1–5 or min/low/default/high/max/urgent.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawPriority {
    Number(i64),
    Name(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNtfyPriorities {
    critical: Option<Spanned<RawPriority>>,
    warning: Option<Spanned<RawPriority>>,
    info: Option<Spanned<RawPriority>>,
    resolve: Option<Spanned<RawPriority>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNtfy {
    server_url: Option<Spanned<String>>,
    topic: Spanned<String>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    priority: Option<RawNtfyPriorities>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMatrix {
    homeserver_url: Spanned<String>,
    room_id: Spanned<String>,
    access_token_env: Option<Spanned<String>>,
    access_token_file: Option<Spanned<String>>,
}

/// An SMS channel's own key; the rest of its table is a [`RawWebhook`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSmsRecipients {
    to: Spanned<Vec<Spanned<String>>>,
}

/// The keys an SMS channel has beside those of a webhook.
const SMS_KEYS: &[&str] = &["to"];

/// A secret given as `KEY_env` or `KEY_file` (or `KEY`, for URLs).
struct SecretKeys<'r> {
    what: &'static str,
    /// Whether the table has the inline key (URLs do, credentials do not).
    accepts_inline: bool,
    inline: Option<&'r Spanned<String>>,
    env: Option<&'r Spanned<String>>,
    file: Option<&'r Spanned<String>>,
}

impl<'r> SecretKeys<'r> {
    /// The keys `what`, `what_env` and `what_file` of one table.
    fn new(
        what: &'static str,
        inline: &'r Option<Spanned<String>>,
        env: &'r Option<Spanned<String>>,
        file: &'r Option<Spanned<String>>,
    ) -> Self {
        Self {
            what,
            accepts_inline: true,
            inline: inline.as_ref(),
            env: env.as_ref(),
            file: file.as_ref(),
        }
    }

    /// The keys `what_env` and `what_file` of a credential, which has no
    /// inline key.
    fn env_or_file(
        what: &'static str,
        env: &'r Option<Spanned<String>>,
        file: &'r Option<Spanned<String>>,
    ) -> Self {
        Self {
            what,
            accepts_inline: false,
            inline: None,
            env: env.as_ref(),
            file: file.as_ref(),
        }
    }
}

/// What a channel looked like before the fallback references were checked.
struct Pending {
    channel: Channel,
    path: String,
    id_span: Range<usize>,
    fallback_span: Option<Range<usize>>,
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

impl Loader<'_> {
    /// Validates `[[channel]]` (the value of the root key `channel`).
    pub(crate) fn channels(&mut self, value: Spanned<DeValue<'_>>) -> Vec<Channel> {
        let items = self.array_of_tables_with_ids(
            value,
            "channel",
            "write each channel as [[channel]]",
            "channel",
        );
        let mut pending: Vec<Pending> = Vec::new();
        for (path, item) in items {
            if let Some(p) = self.channel(item, &path) {
                pending.push(p);
            }
        }
        self.check_fallbacks(&pending);
        pending.into_iter().map(|p| p.channel).collect()
    }

    /// Every `fallback` names a channel, not itself, and following the
    /// chain never comes back.
    fn check_fallbacks(&mut self, pending: &[Pending]) {
        let index: HashMap<&str, usize> = pending
            .iter()
            .enumerate()
            .map(|(i, p)| (p.channel.id.as_str(), i))
            .collect();
        let ids: Vec<&str> = pending.iter().map(|p| p.channel.id.as_str()).collect();
        let mut next: Vec<Option<usize>> = vec![None; pending.len()];
        for (i, p) in pending.iter().enumerate() {
            let (Some(target), Some(span)) = (&p.channel.fallback, &p.fallback_span) else {
                continue;
            };
            let key = format!("{}.fallback", p.path);
            if *target == p.channel.id {
                self.rep.report(
                    span.clone(),
                    &key,
                    "a channel cannot fall back to itself",
                    None,
                );
            } else if let Some(&j) = index.get(target.as_str()) {
                next[i] = Some(j);
            } else {
                let hint = match crate::diag::closest(target, ids.iter().copied()) {
                    Some(c) => format!("did you mean \"{c}\"?"),
                    None if ids.is_empty() => "no channel is configured".to_owned(),
                    None => format!("configured channels: {}", ids.join(", ")),
                };
                self.rep.report(
                    span.clone(),
                    &key,
                    format!("no channel {target:?} to fall back to"),
                    Some(hint),
                );
            }
        }
        // Each channel has at most one fallback, so the chains are paths
        // that either end or run into a loop. Report each loop once, at the
        // first of its channels in file order.
        let mut reported: HashSet<usize> = HashSet::new();
        for start in 0..pending.len() {
            let mut order: Vec<usize> = vec![start];
            let mut at = start;
            while let Some(n) = next[at] {
                if let Some(pos) = order.iter().position(|&x| x == n) {
                    let cycle = &order[pos..];
                    let first = cycle.iter().copied().min().unwrap_or(n);
                    if reported.insert(first) {
                        let at_first = cycle.iter().position(|&x| x == first).unwrap_or(0);
                        let mut names: Vec<&str> = cycle[at_first..]
                            .iter()
                            .chain(&cycle[..at_first])
                            .map(|&x| ids[x])
                            .collect();
                        names.push(ids[first]);
                        let p = &pending[first];
                        self.rep.report(
                            p.fallback_span.clone().unwrap_or(p.id_span.clone()),
                            &format!("{}.fallback", p.path),
                            format!("fallback chain loops: {}", names.join(" -> ")),
                            Some(
                                "a fallback chain must end at a channel without `fallback`".into(),
                            ),
                        );
                    }
                    break;
                }
                order.push(n);
                at = n;
            }
        }
    }

    fn channel(&mut self, item: Spanned<DeValue<'_>>, path: &str) -> Option<Pending> {
        let span = item.span();
        let DeValue::Table(table) = item.into_inner() else {
            self.rep
                .report(span, path, "a channel must be a table", None);
            return None;
        };
        let mut common = DeTable::new();
        let mut specific = DeTable::new();
        for (k, v) in table {
            if COMMON_CHANNEL_KEYS.contains(&k.get_ref().as_ref()) {
                common.insert(k, v);
            } else {
                specific.insert(k, v);
            }
        }
        let common: RawChannelCommon = self.deserialize(
            Spanned::new(span.clone(), DeValue::Table(common)),
            path,
            &[],
        )?;
        let mut ok = true;
        let id = common.id.get_ref();
        if !valid_id(id) {
            self.rep.report(
                common.id.span(),
                &format!("{path}.id"),
                format!("invalid id {id:?}"),
                Some(
                    "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
                        .into(),
                ),
            );
            ok = false;
        }
        let timeout = match &common.timeout {
            Some(t) => self.positive(t, &format!("{path}.timeout")),
            None => DEFAULT_CHANNEL_TIMEOUT,
        };
        let template = self.template(common.template.as_ref(), path, "template", false);
        let title_template = self.template(
            common.title_template.as_ref(),
            path,
            "title_template",
            false,
        );
        ok &= template.is_ok() && title_template.is_ok();

        let specific = Spanned::new(span.clone(), DeValue::Table(specific));
        let siblings = COMMON_CHANNEL_KEYS;
        let spec = match common.kind.get_ref().as_str() {
            "email" => self
                .deserialize::<RawEmail>(specific, path, siblings)
                .and_then(|r| self.email(r, path, span.clone()))
                .map(ChannelSpec::Email),
            "webhook" => self
                .deserialize::<RawWebhook>(specific, path, siblings)
                .and_then(|r| self.webhook(r, path, span.clone()))
                .map(ChannelSpec::Webhook),
            kind @ ("slack" | "teams" | "discord") => self
                .deserialize::<RawChatWebhook>(specific, path, siblings)
                .and_then(|r| {
                    let keys = SecretKeys::new(
                        "webhook_url",
                        &r.webhook_url,
                        &r.webhook_url_env,
                        &r.webhook_url_file,
                    );
                    self.secret_url(&keys, path, span.clone())
                })
                .map(|webhook_url| {
                    let spec = ChatWebhookSpec { webhook_url };
                    match kind {
                        "slack" => ChannelSpec::Slack(spec),
                        "teams" => ChannelSpec::Teams(spec),
                        _ => ChannelSpec::Discord(spec),
                    }
                }),
            "telegram" => self
                .deserialize::<RawTelegram>(specific, path, siblings)
                .and_then(|r| self.telegram(r, path, span.clone()))
                .map(ChannelSpec::Telegram),
            "pagerduty" => self
                .deserialize::<RawPagerDuty>(specific, path, siblings)
                .and_then(|r| self.pagerduty(r, path, span.clone()))
                .map(ChannelSpec::PagerDuty),
            "opsgenie" => self
                .deserialize::<RawOpsgenie>(specific, path, siblings)
                .and_then(|r| self.opsgenie(r, path, span.clone()))
                .map(ChannelSpec::Opsgenie),
            "ntfy" => self
                .deserialize::<RawNtfy>(specific, path, siblings)
                .and_then(|r| self.ntfy(r, path))
                .map(ChannelSpec::Ntfy),
            "matrix" => self
                .deserialize::<RawMatrix>(specific, path, siblings)
                .and_then(|r| self.matrix(r, path, span.clone()))
                .map(ChannelSpec::Matrix),
            "sms" => self.sms(specific, path, span.clone()).map(ChannelSpec::Sms),
            other => {
                let hint = match crate::diag::closest(other, CHANNEL_KINDS.iter().copied()) {
                    Some(k) => format!(
                        "did you mean \"{k}\"? known kinds: {}",
                        CHANNEL_KINDS.join(", ")
                    ),
                    None => format!("known kinds: {}", CHANNEL_KINDS.join(", ")),
                };
                self.rep.report(
                    common.kind.span(),
                    &format!("{path}.kind"),
                    format!("unknown channel kind {other:?}"),
                    Some(hint),
                );
                None
            }
        };
        let spec = spec?;
        if !ok {
            return None;
        }
        Some(Pending {
            id_span: common.id.span(),
            fallback_span: common.fallback.as_ref().map(Spanned::span),
            path: path.to_owned(),
            channel: Channel {
                id: common.id.into_inner(),
                spec,
                fallback: common.fallback.map(Spanned::into_inner),
                timeout,
                template: template.ok().flatten(),
                title_template: title_template.ok().flatten(),
            },
        })
    }

    /// Compiles an optional template; `Err` when it was reported.
    fn template(
        &mut self,
        source: Option<&Spanned<String>>,
        path: &str,
        key: &str,
        html: bool,
    ) -> Result<Option<Template>, ()> {
        let Some(s) = source else {
            return Ok(None);
        };
        match check_template(s.get_ref(), html) {
            Ok(()) => Ok(Some(Template {
                source: s.get_ref().clone(),
            })),
            Err(msg) => {
                self.rep
                    .report(s.span(), &format!("{path}.{key}"), msg, None);
                Err(())
            }
        }
    }

    /// A secret from its keys; only URLs have an inline key (credentials
    /// are [`SecretKeys::env_or_file`], and their inline key is refused by
    /// the loader as a secret written in the file).
    fn any_secret(
        &mut self,
        keys: &SecretKeys<'_>,
        path: &str,
        table_span: Range<usize>,
    ) -> Option<Secret> {
        let span = keys
            .env
            .or(keys.file)
            .or(keys.inline)
            .map(Spanned::span)
            .unwrap_or(table_span);
        self.secret(
            if keys.accepts_inline {
                Inline::of(keys.inline)
            } else {
                Inline::NotAccepted
            },
            keys.env.map(|s| s.get_ref().as_str()),
            keys.file.map(|s| s.get_ref().as_str()),
            span,
            path,
            keys.what,
        )
    }

    /// A URL that may hold a token: validated without ever echoing it.
    fn secret_url(
        &mut self,
        keys: &SecretKeys<'_>,
        path: &str,
        table_span: Range<usize>,
    ) -> Option<Secret> {
        let secret = self.any_secret(keys, path, table_span.clone())?;
        let span = keys
            .env
            .or(keys.file)
            .or(keys.inline)
            .map(Spanned::span)
            .unwrap_or(table_span);
        let source = if keys.env.is_some() {
            format!("the URL in the environment variable of `{}_env`", keys.what)
        } else if keys.file.is_some() {
            format!("the URL in the file of `{}_file`", keys.what)
        } else {
            format!("`{}`", keys.what)
        };
        match check_http_url(secret.expose()) {
            Ok(_) => Some(secret),
            Err(why) => {
                self.rep.report(
                    span,
                    &format!("{path}.{}", keys.what),
                    format!("{source} is not usable: {why}"),
                    Some("write an absolute URL such as \"https://hooks.example.com/...\"".into()),
                );
                None
            }
        }
    }

    /// A public URL (API bases): validated and echoed in messages.
    fn plain_url(
        &mut self,
        value: Option<&Spanned<String>>,
        default: &str,
        path: &str,
        key: &str,
    ) -> Option<http::Uri> {
        let Some(v) = value else {
            return default.parse().ok();
        };
        match check_http_url(v.get_ref()) {
            Ok(uri) => Some(uri),
            Err(why) => {
                self.rep.report(
                    v.span(),
                    &format!("{path}.{key}"),
                    format!("invalid URL {:?}: {why}", v.get_ref()),
                    Some(format!("write an absolute URL such as \"{default}\"")),
                );
                None
            }
        }
    }

    fn method(&mut self, m: Option<&Spanned<String>>, path: &str) -> Option<http::Method> {
        let Some(m) = m else {
            return Some(http::Method::POST);
        };
        match http::Method::from_bytes(m.get_ref().to_ascii_uppercase().as_bytes()) {
            Ok(method) => Some(method),
            Err(_) => {
                self.rep.report(
                    m.span(),
                    &format!("{path}.method"),
                    format!("invalid HTTP method {:?}", m.get_ref()),
                    Some("e.g. \"POST\" or \"PUT\"".into()),
                );
                None
            }
        }
    }

    /// `headers = { Name = "template", Other = { value_env = "VAR" } }`
    fn headers(
        &mut self,
        table: Option<&Spanned<toml::Table>>,
        path: &str,
    ) -> Option<Vec<HeaderSpec>> {
        let Some(table) = table else {
            return Some(Vec::new());
        };
        let span = table.span();
        let mut ok = true;
        let mut out = Vec::new();
        for (name, value) in table.get_ref() {
            let key = format!("{path}.headers.{name}");
            let Ok(header) = http::HeaderName::from_bytes(name.as_bytes()) else {
                self.rep.report(
                    span.clone(),
                    &key,
                    format!("invalid header name {name:?}"),
                    None,
                );
                ok = false;
                continue;
            };
            let value = match value {
                toml::Value::String(s) => match check_template(s, false) {
                    Ok(()) => Some(HeaderValueSpec::Template(Template { source: s.clone() })),
                    Err(msg) => {
                        self.rep.report(span.clone(), &key, msg, None);
                        None
                    }
                },
                toml::Value::Table(t) => {
                    let get = |k: &str| t.get(k).and_then(toml::Value::as_str);
                    let unknown: Vec<&str> = t
                        .keys()
                        .map(String::as_str)
                        .filter(|k| !matches!(*k, "value_env" | "value_file"))
                        .collect();
                    if let Some(u) = unknown.first() {
                        let (message, hint) = unknown_key(u, ["value_env", "value_file"]);
                        self.rep
                            .report(span.clone(), &format!("{key}.{u}"), message, Some(hint));
                        None
                    } else {
                        let secret = self.secret(
                            Inline::NotAccepted,
                            get("value_env"),
                            get("value_file"),
                            span.clone(),
                            &key,
                            "value",
                        );
                        secret.and_then(|s| match http::HeaderValue::from_str(s.expose()) {
                            Ok(_) => Some(HeaderValueSpec::Secret(s)),
                            Err(_) => {
                                self.rep.report(
                                    span.clone(),
                                    &key,
                                    "the secret header value holds characters a header cannot carry",
                                    None,
                                );
                                None
                            }
                        })
                    }
                }
                _ => {
                    self.rep.report(
                        span.clone(),
                        &key,
                        "a header value is a template string or { value_env = \"VAR\" } / { value_file = \"path\" }",
                        None,
                    );
                    None
                }
            };
            match value {
                Some(value) => out.push(HeaderSpec {
                    name: header,
                    value,
                }),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn email(&mut self, raw: RawEmail, path: &str, span: Range<usize>) -> Option<EmailSpec> {
        let mut ok = true;
        let smtp_host = self.host(&raw.smtp_host, path);
        let tls = match raw.tls.as_ref().map(|t| t.get_ref().as_str()) {
            None | Some("starttls") => Some(SmtpTls::StartTls),
            Some("implicit") => Some(SmtpTls::Implicit),
            Some("none") => Some(SmtpTls::None),
            Some(other) => {
                let t = raw.tls.as_ref().map(Spanned::span).unwrap_or(span.clone());
                self.rep.report(
                    t,
                    &format!("{path}.tls"),
                    format!("unknown TLS mode {other:?}"),
                    Some("use \"starttls\" (port 587), \"implicit\" (port 465) or \"none\"".into()),
                );
                None
            }
        };
        let smtp_port = match &raw.smtp_port {
            Some(p) => self.port(p, path),
            None if tls == Some(SmtpTls::Implicit) => Some(crate::mail::ports::SUBMISSIONS),
            None => Some(crate::mail::ports::SUBMISSION),
        };
        let password_given = raw.password_env.is_some() || raw.password_file.is_some();
        let auth = match (&raw.username, password_given) {
            (None, false) => None,
            (Some(user), true) => {
                let keys =
                    SecretKeys::env_or_file("password", &raw.password_env, &raw.password_file);
                match self.any_secret(&keys, path, span.clone()) {
                    Some(password) => Some(SmtpAuth {
                        username: user.get_ref().clone(),
                        password,
                    }),
                    None => {
                        ok = false;
                        None
                    }
                }
            }
            (Some(user), false) => {
                self.rep.report(
                    user.span(),
                    &format!("{path}.password"),
                    "`username` is given but no password",
                    Some("add `password_env = \"NAME\"` or `password_file = \"path\"`".into()),
                );
                ok = false;
                None
            }
            (None, true) => {
                let at = raw
                    .password_env
                    .as_ref()
                    .or(raw.password_file.as_ref())
                    .map(Spanned::span)
                    .unwrap_or(span.clone());
                self.rep.report(
                    at,
                    &format!("{path}.username"),
                    "a password is given but no `username`",
                    None,
                );
                ok = false;
                None
            }
        };
        if !valid_mailbox(raw.from.get_ref()) {
            self.rep.report(
                raw.from.span(),
                &format!("{path}.from"),
                format!("{:?} is not an e-mail address", raw.from.get_ref()),
                Some("write \"keepup@example.com\" or \"keepup <keepup@example.com>\"".into()),
            );
            ok = false;
        }
        if raw.to.get_ref().is_empty() {
            self.rep.report(
                raw.to.span(),
                &format!("{path}.to"),
                "no recipient",
                Some("list at least one address: to = [\"ops@example.com\"]".into()),
            );
            ok = false;
        }
        for t in raw.to.get_ref() {
            if !valid_mailbox(t.get_ref()) {
                self.rep.report(
                    t.span(),
                    &format!("{path}.to"),
                    format!("{:?} is not an e-mail address", t.get_ref()),
                    None,
                );
                ok = false;
            }
        }
        let ca_file = match &raw.ca_file {
            None => None,
            Some(f) => {
                let p = self.ca_file(f, &format!("{path}.ca_file"));
                ok &= p.is_some();
                p
            }
        };
        let helo_name = match &raw.helo_name {
            None => None,
            Some(h) => {
                let checked = self.host(h, &format!("{path}.helo_name"));
                ok &= checked.is_some();
                checked
            }
        };
        let (smtp_host, tls, smtp_port) = (smtp_host?, tls?, smtp_port?);
        ok.then(|| EmailSpec {
            smtp_host,
            smtp_port,
            tls,
            auth,
            from: raw.from.into_inner(),
            to: raw
                .to
                .into_inner()
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            ca_file,
            helo_name,
        })
    }

    pub(crate) fn webhook(
        &mut self,
        raw: RawWebhook,
        path: &str,
        span: Range<usize>,
    ) -> Option<WebhookSpec> {
        let keys = SecretKeys::new("url", &raw.url, &raw.url_env, &raw.url_file);
        let url = self.secret_url(&keys, path, span);
        let method = self.method(raw.method.as_ref(), path);
        let headers = self.headers(raw.headers.as_ref(), path);
        let body_template = self
            .template(raw.body_template.as_ref(), path, "body_template", false)
            .ok();
        Some(WebhookSpec {
            url: url?,
            method: method?,
            headers: headers?,
            body_template: body_template?,
        })
    }

    fn telegram(
        &mut self,
        raw: RawTelegram,
        path: &str,
        span: Range<usize>,
    ) -> Option<TelegramSpec> {
        let keys = SecretKeys::env_or_file("bot_token", &raw.bot_token_env, &raw.bot_token_file);
        let bot_token = self.any_secret(&keys, path, span.clone());
        let bot_token = bot_token.and_then(|t| {
            let valid = !t.expose().is_empty()
                && t.expose()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'-'));
            if valid {
                Some(t)
            } else {
                let at = raw
                    .bot_token_env
                    .as_ref()
                    .or(raw.bot_token_file.as_ref())
                    .map(Spanned::span)
                    .unwrap_or(span.clone());
                self.rep.report(
                    at,
                    &format!("{path}.bot_token"),
                    "the bot token does not look like one (digits, ':' and letters)",
                    None,
                );
                None
            }
        });
        let chat_id = match raw.chat_id.get_ref() {
            RawChatId::Number(n) => Some(n.to_string()),
            RawChatId::Text(t)
                if t.parse::<i64>().is_ok()
                    || (t.starts_with('@')
                        && t.len() > 1
                        && t[1..]
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_')) =>
            {
                Some(t.clone())
            }
            RawChatId::Text(t) => {
                self.rep.report(
                    raw.chat_id.span(),
                    &format!("{path}.chat_id"),
                    format!("invalid chat id {t:?}"),
                    Some("a chat id is a number such as -1001234567890 or \"@channelname\"".into()),
                );
                None
            }
        };
        let api_url = self.plain_url(raw.api_url.as_ref(), DEFAULT_TELEGRAM_API, path, "api_url");
        Some(TelegramSpec {
            bot_token: bot_token?,
            chat_id: chat_id?,
            api_url: api_url?,
        })
    }

    fn pagerduty(
        &mut self,
        raw: RawPagerDuty,
        path: &str,
        span: Range<usize>,
    ) -> Option<PagerDutySpec> {
        let keys =
            SecretKeys::env_or_file("routing_key", &raw.routing_key_env, &raw.routing_key_file);
        let routing_key = self.any_secret(&keys, path, span);
        let events_url = self.plain_url(
            raw.events_url.as_ref(),
            DEFAULT_PAGERDUTY_EVENTS_URL,
            path,
            "events_url",
        );
        Some(PagerDutySpec {
            routing_key: routing_key?,
            events_url: events_url?,
        })
    }

    fn opsgenie(
        &mut self,
        raw: RawOpsgenie,
        path: &str,
        span: Range<usize>,
    ) -> Option<OpsgenieSpec> {
        let keys = SecretKeys::env_or_file("api_key", &raw.api_key_env, &raw.api_key_file);
        let api_key = self.any_secret(&keys, path, span);
        let api_url = self.plain_url(raw.api_url.as_ref(), DEFAULT_OPSGENIE_API, path, "api_url");
        let mut ok = true;
        let mut responders = Vec::new();
        for r in &raw.responders {
            let parsed = r.get_ref().split_once(':').and_then(|(kind, name)| {
                let kind = match kind.trim() {
                    "team" => ResponderKind::Team,
                    "user" => ResponderKind::User,
                    "escalation" => ResponderKind::Escalation,
                    "schedule" => ResponderKind::Schedule,
                    _ => return None,
                };
                let name = name.trim();
                (!name.is_empty()).then(|| Responder {
                    kind,
                    name: name.to_owned(),
                })
            });
            match parsed {
                Some(p) => responders.push(p),
                None => {
                    self.rep.report(
                        r.span(),
                        &format!("{path}.responders"),
                        format!("invalid responder {:?}", r.get_ref()),
                        Some("write \"team:NAME\", \"user:EMAIL\", \"escalation:NAME\" or \"schedule:NAME\"".into()),
                    );
                    ok = false;
                }
            }
        }
        let (api_key, api_url) = (api_key?, api_url?);
        ok.then_some(OpsgenieSpec {
            api_key,
            api_url,
            responders,
        })
    }

    fn ntfy(&mut self, raw: RawNtfy, path: &str) -> Option<NtfySpec> {
        let server_url = self.plain_url(
            raw.server_url.as_ref(),
            DEFAULT_NTFY_SERVER,
            path,
            "server_url",
        );
        let topic = raw.topic.get_ref();
        let topic_ok = !topic.is_empty()
            && topic.len() <= 64
            && topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !topic_ok {
            self.rep.report(
                raw.topic.span(),
                &format!("{path}.topic"),
                format!("invalid topic {topic:?}"),
                Some("a topic is 1 to 64 letters, digits, '-' or '_'".into()),
            );
        }
        let token = if raw.token_env.is_some() || raw.token_file.is_some() {
            let keys = SecretKeys::env_or_file("token", &raw.token_env, &raw.token_file);
            Some(self.any_secret(&keys, path, raw.topic.span())?)
        } else {
            None
        };
        let mut ok = topic_ok;
        let mut priority = NtfyPriorities::default();
        if let Some(p) = &raw.priority {
            for (value, slot, key) in [
                (&p.critical, &mut priority.critical, "critical"),
                (&p.warning, &mut priority.warning, "warning"),
                (&p.info, &mut priority.info, "info"),
                (&p.resolve, &mut priority.resolve, "resolve"),
            ] {
                let Some(v) = value else { continue };
                let parsed = match v.get_ref() {
                    RawPriority::Number(n) => u8::try_from(*n).ok().filter(|n| (1..=5).contains(n)),
                    RawPriority::Name(name) => match name.to_ascii_lowercase().as_str() {
                        "min" => Some(1),
                        "low" => Some(2),
                        "default" => Some(3),
                        "high" => Some(4),
                        "max" | "urgent" => Some(5),
                        _ => None,
                    },
                };
                match parsed {
                    Some(n) => *slot = n,
                    None => {
                        self.rep.report(
                            v.span(),
                            &format!("{path}.priority.{key}"),
                            "invalid ntfy priority",
                            Some(
                                "use 1 to 5 or \"min\", \"low\", \"default\", \"high\", \"max\""
                                    .into(),
                            ),
                        );
                        ok = false;
                    }
                }
            }
        }
        let server_url = server_url?;
        ok.then(|| NtfySpec {
            server_url,
            topic: raw.topic.into_inner(),
            token,
            priority,
        })
    }

    fn matrix(&mut self, raw: RawMatrix, path: &str, span: Range<usize>) -> Option<MatrixSpec> {
        let homeserver_url = self.plain_url(
            Some(&raw.homeserver_url),
            "https://matrix.example.org",
            path,
            "homeserver_url",
        );
        let room = raw.room_id.get_ref();
        let room_ok = room.starts_with('!')
            && room.len() > 3
            && room
                .split_once(':')
                .is_some_and(|(local, server)| local.len() > 1 && !server.is_empty())
            && !room.chars().any(char::is_whitespace);
        if !room_ok {
            self.rep.report(
                raw.room_id.span(),
                &format!("{path}.room_id"),
                format!("{room:?} is not a room id"),
                Some("a room id looks like \"!AbCdEf:matrix.example.org\" (Room settings → Advanced); aliases (#room:server) are not accepted".into()),
            );
        }
        let keys = SecretKeys::env_or_file(
            "access_token",
            &raw.access_token_env,
            &raw.access_token_file,
        );
        let access_token = self.any_secret(&keys, path, span);
        let (homeserver_url, access_token) = (homeserver_url?, access_token?);
        room_ok.then(|| MatrixSpec {
            homeserver_url,
            room_id: raw.room_id.into_inner(),
            access_token,
        })
    }

    /// An SMS channel: a webhook request (the same keys, checked the same
    /// way) plus its recipients.
    fn sms(
        &mut self,
        table: Spanned<DeValue<'_>>,
        path: &str,
        span: Range<usize>,
    ) -> Option<SmsSpec> {
        let table_span = table.span();
        let DeValue::Table(table) = table.into_inner() else {
            return None;
        };
        let (own, request): (DeTable<'_>, DeTable<'_>) = table
            .into_iter()
            .partition(|(k, _)| SMS_KEYS.contains(&k.get_ref().as_ref()));
        let request_keys: Vec<&str> = COMMON_CHANNEL_KEYS
            .iter()
            .chain(SMS_KEYS)
            .copied()
            .collect();
        let request = self
            .deserialize::<RawWebhook>(
                Spanned::new(table_span.clone(), DeValue::Table(request)),
                path,
                &request_keys,
            )
            .and_then(|r| self.webhook(r, path, span));
        let raw = self.deserialize::<RawSmsRecipients>(
            Spanned::new(table_span, DeValue::Table(own)),
            path,
            COMMON_CHANNEL_KEYS,
        )?;
        let mut ok = true;
        if raw.to.get_ref().is_empty() {
            self.rep.report(
                raw.to.span(),
                &format!("{path}.to"),
                "no recipient",
                Some("list at least one number: to = [\"+4915112345678\"]".into()),
            );
            ok = false;
        }
        for n in raw.to.get_ref() {
            if !valid_phone(n.get_ref()) {
                self.rep.report(
                    n.span(),
                    &format!("{path}.to"),
                    format!("{:?} is not a phone number", n.get_ref()),
                    Some("write international numbers: '+' then 6 to 15 digits".into()),
                );
                ok = false;
            }
        }
        let request = request?;
        ok.then(|| SmsSpec {
            request,
            to: raw
                .to
                .into_inner()
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
        })
    }
}

/// An absolute `http://` or `https://` URL with a host. The reason never
/// contains the URL itself.
fn check_http_url(s: &str) -> Result<http::Uri, &'static str> {
    let uri: http::Uri = s.trim().parse().map_err(|_| "it is not a valid URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err("only http:// and https:// URLs are supported"),
        None => return Err("it is not an absolute URL"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("it has no host");
    }
    Ok(uri)
}

/// `local@domain` or `Display Name <local@domain>`; a light check, the
/// mailer parses it properly.
fn valid_mailbox(s: &str) -> bool {
    let s = s.trim();
    let addr = match (s.rfind('<'), s.ends_with('>')) {
        (Some(i), true) => &s[i + 1..s.len() - 1],
        (None, false) => s,
        _ => return false,
    };
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && (domain.contains('.') || domain == "localhost")
                && !addr
                    .chars()
                    .any(|c| c.is_whitespace() || c == '<' || c == '>')
        }
        None => false,
    }
}

/// `+` (optional) followed by 6 to 15 digits.
fn valid_phone(s: &str) -> bool {
    let digits = s.strip_prefix('+').unwrap_or(s);
    (6..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes() {
        assert!(valid_mailbox("ops@example.com"));
        assert!(valid_mailbox("keepup <keepup@example.com>"));
        assert!(valid_mailbox("root@localhost"));
        assert!(!valid_mailbox("ops"));
        assert!(!valid_mailbox("ops@"));
        assert!(!valid_mailbox("a b@example.com"));
        assert!(!valid_mailbox("x <a@example.com"));
    }

    #[test]
    fn phones() {
        assert!(valid_phone("+4915112345678"));
        assert!(valid_phone("4915112345678"));
        assert!(!valid_phone("+49 151"));
        assert!(!valid_phone("+1234"));
    }

    #[test]
    fn templates_are_checked_by_syntax_and_by_a_trial_render() {
        assert!(check_template("{{ title }} ({{ severity }})", false).is_ok());
        let syntax = check_template("line one\n{{ title ", false).unwrap_err();
        assert!(syntax.contains("syntax error on line 2"), "{syntax}");
        let filter = check_template("{{ title | nosuchfilter }}", false).unwrap_err();
        assert!(filter.contains("nosuchfilter"), "{filter}");
    }

    #[test]
    fn urls_are_checked_without_echoing_them() {
        assert!(check_http_url("https://hooks.slack.com/services/T/B/secret").is_ok());
        let e = check_http_url("ftp://x/secret").unwrap_err();
        assert!(!e.contains("secret"));
        assert!(check_http_url("hooks.slack.com/secret").is_err());
    }
}
