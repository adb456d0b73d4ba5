//! Templates: every channel renders a one-line title and a plain-text body
//! from the notification with minijinja, using its kind's defaults unless
//! the configuration overrides them (`title_template`, `template`). Richer
//! forms (HTML for e-mail, Telegram and Matrix, Slack mrkdwn) are derived
//! from the rendered text by escaping, so an override is always plain text.
//!
//! The environment is `keepup_config::channels::template_environment`, the
//! same one the configuration was validated with.

use keepup_config::RunbookNote;
use keepup_config::channels::{
    Channel as ChannelConfig, ChannelSpec, describe_template_error, template_environment,
};
use keepup_model::format_rfc3339;
use keepup_model::text::duration_compact;
use minijinja::Environment;

use crate::{Notification, SendError};

/// The default title of every kind but e-mail.
pub(crate) const DEFAULT_TITLE: &str = "{{ title }}";

/// The default e-mail subject.
pub(crate) const EMAIL_TITLE: &str = "[keepup] {{ title }}";

/// The default text of every kind but SMS: the monitor's text, then the
/// checks of a grouped notification, the cause, the outage duration and the
/// acknowledgement link.
pub(crate) const DEFAULT_TEXT: &str = r#"{{ text }}
{% if checks | length > 1 %}
Checks:
{% for c in checks %}
- {{ c.name }} ({{ c.id }}): {{ c.status | upper }}{{ ": " ~ c.message if c.message }}
{% endfor %}
{% endif %}
{% if cause %}
Cause: {{ cause }}
{% endif %}
{% if event == "resolve" and duration %}
Outage duration: {{ duration }}
{% endif %}
{% if ack_url and event in ["trigger", "reminder"] %}
Acknowledge: {{ ack_url }}
{% endif %}
{% if past_resolutions %}
Resolved before:
{% for r in past_resolutions %}
- {{ r.line }}
{% endfor %}
{% endif %}
{% if page_url %}
Incident page: {{ page_url }}
{% endif %}
{% if runbook_excerpt %}
Runbook:
{{ runbook_excerpt }}
{% endif %}
"#;

/// The default SMS text (cut to one segment after rendering, see
/// `webhook::sms_segment`): the newest earlier resolution before the
/// runbook, as in every channel's budget.
pub(crate) const SMS_TEXT: &str = "{{ event_word }}: {{ title }}{{ ' (' ~ cause ~ ')' if cause }}{% if past_resolutions %} Before: {{ past_resolutions[0].line }}{% endif %}{{ ' Runbook: ' ~ runbook_excerpt if runbook_excerpt }}";

/// One SMS segment of GSM characters.
pub(crate) const SMS_MAX_CHARS: usize = 160;

/// How many characters of notes a channel shows in its text: first the
/// earlier resolutions (`past_resolutions`, short and specific: what
/// fixed it last time), then the runbook notes (`runbook_excerpt`) in
/// what they leave (see [`fit_notes`]). Chosen within the provider's own
/// message limit so that the rest of the message still fits; the notes
/// come last, so a cut at the provider's limit takes from them, not from
/// the links.
pub(crate) fn notes_budget(spec: &ChannelSpec) -> usize {
    match spec {
        // No limit worth the name: the notes in full (they are at most
        // 64 KiB each); the HTML part renders them.
        ChannelSpec::Email(_) => 16_000,
        // Templates also see every note in full (`runbook`).
        ChannelSpec::Webhook(_) => WEBHOOK_EXCERPT_CHARS,
        // A section block holds 3,000 characters.
        ChannelSpec::Slack(_) => 1_200,
        // An Adaptive Card must stay under about 28 KB.
        ChannelSpec::Teams(_) => 1_500,
        // An embed's description holds 4,096 characters.
        ChannelSpec::Discord(_) => 1_500,
        // A message holds 4,096 UTF-16 code units, title included.
        ChannelSpec::Telegram(_) => 1_500,
        // An event holds 64 KiB (keepup keeps the content within 32 KiB);
        // a room reads short messages better.
        ChannelSpec::Matrix(_) => 2_000,
        // A message over 4,096 bytes becomes an attachment (keepup cuts
        // the text there).
        ChannelSpec::Ntfy(_) => 1_000,
        // `custom_details` holds the text; the summary (1,024) holds none.
        ChannelSpec::PagerDuty(_) => 1_500,
        // The description holds 15,000 characters.
        ChannelSpec::Opsgenie(_) => 2_000,
        // What the title leaves of one 160-character segment: the
        // rendered text is cut there (70 when not all GSM characters).
        ChannelSpec::Sms(_) => SMS_MAX_CHARS,
    }
}

/// The notes budget a webhook's templates see.
pub(crate) const WEBHOOK_EXCERPT_CHARS: usize = 2_000;

/// What the default text spends on earlier resolutions besides their
/// lines: the heading once, a bullet and a line break per line.
const PAST_HEADING_CHARS: usize = "Resolved before:\n".len();
const PAST_LINE_EXTRA_CHARS: usize = "- \n".len();

/// A line of notes cut shorter than this says nothing: it is left out.
const MIN_NOTES_CHARS: usize = 40;

/// Spends a channel's notes budget of `budget` characters: the earlier
/// resolutions' `lines` first, newest first, each whole while it fits
/// (with what the default text adds around it), the first that does not
/// cut to the room left, the rest left out; then what remains for the
/// runbook excerpt (0 when less than [`MIN_NOTES_CHARS`] remain).
pub(crate) fn fit_notes(lines: Vec<String>, budget: usize) -> (Vec<String>, usize) {
    let mut left = budget;
    let mut kept = Vec::with_capacity(lines.len());
    for line in lines {
        let extra = PAST_LINE_EXTRA_CHARS
            + if kept.is_empty() {
                PAST_HEADING_CHARS
            } else {
                0
            };
        let room = left.saturating_sub(extra);
        let len = line.chars().count();
        if len <= room {
            kept.push(line);
            left -= len + extra;
            continue;
        }
        if room >= MIN_NOTES_CHARS {
            kept.push(crate::truncate_chars(&line, room));
            left -= room + extra;
        }
        break;
    }
    if left < MIN_NOTES_CHARS {
        left = 0;
    }
    (kept, left)
}

/// The notes as plain text, each after its heading, cut at `max_chars`
/// characters (on a character boundary, with `…`); `None` without notes.
pub(crate) fn runbook_excerpt(notes: &[RunbookNote], max_chars: usize) -> Option<String> {
    if notes.is_empty() || max_chars == 0 {
        return None;
    }
    let mut text = String::new();
    for note in notes {
        if text.chars().count() > max_chars {
            break;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(&note.heading());
        text.push_str(": ");
        text.push_str(&crate::markdown::plain_text(&note.text));
    }
    Some(crate::truncate_chars(&text, max_chars))
}

/// A channel's compiled templates.
pub(crate) struct Templates {
    env: Environment<'static>,
    /// See [`notes_budget`].
    notes_budget: usize,
}

impl Templates {
    /// `title` and `text` from the channel's overrides or these defaults.
    pub(crate) fn standard(
        spec: &ChannelConfig,
        default_title: &str,
        default_text: &str,
    ) -> Result<Self, String> {
        let mut t = Self {
            env: template_environment(),
            notes_budget: notes_budget(&spec.spec),
        };
        let title = spec
            .title_template
            .as_ref()
            .map_or(default_title, |t| t.source.as_str());
        let text = spec
            .template
            .as_ref()
            .map_or(default_text, |t| t.source.as_str());
        t.add("title", title)?;
        t.add("text", text)?;
        Ok(t)
    }

    /// No templates yet (an action's webhook adds its own).
    pub(crate) fn empty() -> Self {
        Self {
            env: template_environment(),
            notes_budget: 0,
        }
    }

    /// Adds (or replaces) a named template.
    pub(crate) fn add(&mut self, name: &str, source: &str) -> Result<(), String> {
        self.env
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|e| format!("template {name}: {}", describe_template_error(&e)))
    }

    /// Renders a named template; a failure is not retryable (the same
    /// notification would fail the same way).
    pub(crate) fn render(&self, name: &str, ctx: &minijinja::Value) -> Result<String, SendError> {
        self.env
            .get_template(name)
            .and_then(|t| t.render(ctx))
            .map_err(|e| {
                SendError::permanent(format!(
                    "the {name} template cannot be rendered: {}",
                    describe_template_error(&e)
                ))
            })
    }

    /// The title (one line) and the text (trailing blank lines removed),
    /// with the notes within the channel's budget.
    pub(crate) fn title_and_text(&self, n: &Notification) -> Result<Rendered, SendError> {
        self.title_and_text_with(n, true)
    }

    /// [`title_and_text`](Self::title_and_text) without the runbook
    /// excerpt, for a form that shows the notes otherwise (e-mail's HTML).
    pub(crate) fn title_and_text_without_excerpt(
        &self,
        n: &Notification,
    ) -> Result<Rendered, SendError> {
        self.title_and_text_with(n, false)
    }

    fn title_and_text_with(&self, n: &Notification, excerpt: bool) -> Result<Rendered, SendError> {
        let ctx = context_value(context(n, self.notes_budget, excerpt));
        let title = self.render("title", &ctx)?;
        let text = self.render("text", &ctx)?;
        Ok(Rendered {
            title: one_line(&title),
            text: text.trim_end().to_owned(),
        })
    }
}

/// A rendered message.
pub(crate) struct Rendered {
    /// One line.
    pub(crate) title: String,
    /// Plain text, several lines.
    pub(crate) text: String,
}

/// Collapses whitespace (including newlines) into single spaces.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The variables of every channel template: the notification's fields plus
/// `event_word` (`PROBLEM`, `RESOLVED`, ...), `started` / `resolved`
/// (RFC 3339), `duration` (`"1h 5m"`), `since_rfc3339` on each check,
/// `resolved` and `line` on each of `past_resolutions`, and
/// `to` / `message` (the number and short text of an SMS request; null
/// elsewhere), and `runbook_excerpt` (the notes in `runbook` as plain text);
/// the lines of `past_resolutions` and the excerpt share a budget of 2,000
/// characters (see [`fit_notes`]).
pub fn template_context(n: &Notification) -> serde_json::Value {
    context(n, WEBHOOK_EXCERPT_CHARS, true)
}

/// [`template_context`] with a notes budget of `budget` characters, and
/// without the runbook excerpt unless `excerpt`.
fn context(n: &Notification, budget: usize, excerpt: bool) -> serde_json::Value {
    use serde_json::{Value, json};
    let mut v = serde_json::to_value(n).unwrap_or_default();
    if let Value::Object(map) = &mut v {
        map.insert("event_word".into(), json!(n.event.word()));
        map.insert("started".into(), json!(n.started_at.map(format_rfc3339)));
        map.insert("resolved".into(), json!(n.resolved_at.map(format_rfc3339)));
        map.insert(
            "duration".into(),
            json!(
                n.duration_s
                    .map(|s| duration_compact(std::time::Duration::from_secs(s)))
            ),
        );
        let left = past_resolution_lines(map, &n.past_resolutions, budget);
        let excerpt_chars = if excerpt { left } else { 0 };
        map.insert(
            "runbook_excerpt".into(),
            json!(runbook_excerpt(&n.runbook, excerpt_chars)),
        );
        map.insert("to".into(), Value::Null);
        map.insert("message".into(), Value::Null);
        if let Some(Value::Array(checks)) = map.get_mut("checks") {
            for (c, summary) in checks.iter_mut().zip(&n.checks) {
                if let Value::Object(c) = c {
                    c.insert(
                        "since_rfc3339".into(),
                        json!(summary.since.map(format_rfc3339)),
                    );
                }
            }
        }
    }
    v
}

/// Gives each earlier resolution its `resolved` time (RFC 3339) and its
/// `line`: "2026-10-03, 12m, alice (#41 shop/web): restarted php-fpm", the
/// date in UTC, the incident named when it was another check's; keeps
/// those that fit in `budget` (see [`fit_notes`]) and answers what they
/// leave of it.
fn past_resolution_lines(
    map: &mut serde_json::Map<String, serde_json::Value>,
    past: &[crate::PastResolution],
    budget: usize,
) -> usize {
    use serde_json::{Value, json};
    let own = match map.get("checks") {
        Some(Value::Array(c)) if c.len() == 1 => c[0]["id"].as_str().map(str::to_owned),
        _ => None,
    };
    let lines = past
        .iter()
        .map(|r| {
            let date = keepup_model::format_date(r.resolved_at);
            let repair = duration_compact(std::time::Duration::from_secs(r.repair_s));
            let whose = if own.as_deref() == Some(r.check.as_str()) {
                String::new()
            } else {
                format!(" (#{} {})", r.incident, r.check)
            };
            format!("{date}, {repair}, {}{whose}: {}", r.by, r.note)
        })
        .collect();
    let (lines, left) = fit_notes(lines, budget);
    let Some(Value::Array(items)) = map.get_mut("past_resolutions") else {
        return left;
    };
    items.truncate(lines.len());
    for ((v, r), line) in items.iter_mut().zip(past).zip(lines) {
        let Value::Object(v) = v else { continue };
        v.insert("resolved".into(), json!(format_rfc3339(r.resolved_at)));
        v.insert("line".into(), json!(line));
    }
    left
}

/// A JSON context as a template value.
pub(crate) fn context_value(v: serde_json::Value) -> minijinja::Value {
    minijinja::Value::from(minijinja::value::Serde(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CheckSummary, Event};
    use keepup_model::{Severity, Status};

    pub(crate) fn grouped() -> Notification {
        Notification {
            id: "42".into(),
            dedup_key: "shop".into(),
            event: Event::Trigger,
            severity: Severity::Critical,
            title: "shop: 2 checks DOWN".into(),
            text: "Two checks of shop failed.".into(),
            site: "shop".into(),
            checks: vec![
                CheckSummary {
                    id: "shop/home".into(),
                    name: "Home".into(),
                    status: Status::Down,
                    message: "HTTP 500".into(),
                    since: Some(0),
                },
                CheckSummary {
                    id: "shop/api".into(),
                    name: "API".into(),
                    status: Status::Down,
                    message: String::new(),
                    since: None,
                },
            ],
            started_at: Some(0),
            resolved_at: None,
            duration_s: None,
            ack_url: Some("https://keepup.example/ack/x".into()),
            attachments: Vec::new(),
            cause: Some("caused by shop/dns".into()),
            runbook: Vec::new(),
            page_url: None,
            past_resolutions: Vec::new(),
        }
    }

    fn spec() -> ChannelConfig {
        ChannelConfig {
            id: "c".into(),
            spec: keepup_config::channels::ChannelSpec::Slack(
                keepup_config::channels::ChatWebhookSpec {
                    webhook_url: keepup_config::Secret::new("https://x/".into()),
                },
            ),
            fallback: None,
            timeout: std::time::Duration::from_secs(1),
            template: None,
            title_template: None,
        }
    }

    #[test]
    fn the_default_text_lists_checks_cause_and_ack_link() {
        let t = Templates::standard(&spec(), DEFAULT_TITLE, DEFAULT_TEXT).unwrap();
        let r = t.title_and_text(&grouped()).unwrap();
        assert_eq!(r.title, "shop: 2 checks DOWN");
        assert_eq!(
            r.text,
            "Two checks of shop failed.\nChecks:\n- Home (shop/home): DOWN: HTTP 500\n- API (shop/api): DOWN\nCause: caused by shop/dns\nAcknowledge: https://keepup.example/ack/x"
        );
        let mut resolved = grouped();
        resolved.event = Event::Resolve;
        resolved.checks.truncate(1);
        resolved.cause = None;
        resolved.duration_s = Some(3725);
        let r = t.title_and_text(&resolved).unwrap();
        assert_eq!(
            r.text,
            "Two checks of shop failed.\nOutage duration: 1h 2m 5s"
        );
    }

    #[test]
    fn earlier_resolutions_are_listed_one_line_each_cut_and_named_when_another_checks() {
        let t = Templates::standard(&spec(), DEFAULT_TITLE, DEFAULT_TEXT).unwrap();
        let mut n = grouped();
        n.checks.truncate(1);
        n.cause = None;
        n.ack_url = None;
        let day = 1_759_449_600_000; // 2025-10-03T00:00:00Z
        let long = "x".repeat(crate::MAX_PAST_NOTE_CHARS + 50);
        n.past_resolutions = vec![
            crate::PastResolution::new(
                7,
                "shop/home",
                day,
                day + 12 * 60_000,
                "alice",
                "restarted php-fpm,\n pool exhausted by a bot",
            ),
            crate::PastResolution::new(
                5,
                "blog/home",
                day - 86_400_000,
                day - 86_400_000 + 3_600_000,
                "bob",
                &long,
            ),
        ];
        let r = t.title_and_text(&n).unwrap();
        let cut = format!("{}…", "x".repeat(crate::MAX_PAST_NOTE_CHARS - 1));
        assert_eq!(
            r.text,
            format!(
                "Two checks of shop failed.\nResolved before:\n- 2025-10-03, 12m, alice: restarted php-fpm, pool exhausted by a bot\n- 2025-10-02, 1h, bob (#5 blog/home): {cut}"
            )
        );
    }

    #[test]
    fn earlier_resolutions_take_the_notes_budget_first() {
        let lines = vec!["a".repeat(50), "b".repeat(50), "c".repeat(50)];
        // The heading and the first line take 70, the second 53; the
        // 27 left are too few for the third and for an excerpt.
        let (kept, left) = fit_notes(lines.clone(), 150);
        assert_eq!(kept, vec!["a".repeat(50), "b".repeat(50)]);
        assert_eq!(left, 0);
        let (kept, left) = fit_notes(lines.clone(), 300);
        assert_eq!(kept.len(), 3);
        assert_eq!(left, 300 - 70 - 53 - 53);
        // The first cut to the room there is.
        let (kept, left) = fit_notes(lines, 60);
        assert_eq!(kept, vec![format!("{}…", "a".repeat(39))]);
        assert_eq!(left, 0);
        assert_eq!(fit_notes(Vec::new(), 160), (Vec::new(), 160));
    }

    #[test]
    fn overrides_replace_the_defaults() {
        let mut s = spec();
        s.title_template = Some(keepup_config::channels::Template {
            source: "{{ event_word }}\n{{ site }}".into(),
        });
        s.template = Some(keepup_config::channels::Template {
            source: "{% for c in checks %}{{ c.since_rfc3339 }};{% endfor %}".into(),
        });
        let t = Templates::standard(&s, DEFAULT_TITLE, DEFAULT_TEXT).unwrap();
        let r = t.title_and_text(&grouped()).unwrap();
        assert_eq!(r.title, "PROBLEM shop");
        assert_eq!(r.text, "1970-01-01T00:00:00Z;;");
    }

    #[test]
    fn the_context_has_exactly_the_variables_the_configuration_validates_against() {
        let ours = template_context(&grouped());
        let sample = keepup_config::channels::sample_template_context();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&ours), keys(&sample));
        assert_eq!(keys(&ours["checks"][0]), keys(&sample["checks"][0]));
    }
}
