//! Templates: every channel renders a one-line title and a plain-text body
//! from the notification with minijinja, using its kind's defaults unless
//! the configuration overrides them (`title_template`, `template`). Richer
//! forms (HTML for e-mail, Telegram and Matrix, Slack mrkdwn) are derived
//! from the rendered text by escaping, so an override is always plain text.
//!
//! The environment is `keepup_config::channels::template_environment`, the
//! same one the configuration was validated with.

use keepup_config::channels::{
    Channel as ChannelConfig, describe_template_error, template_environment,
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
"#;

/// The default SMS text (cut to [`SMS_MAX_CHARS`] after rendering).
pub(crate) const SMS_TEXT: &str = "{{ event_word }}: {{ title }}{{ ' (' ~ cause ~ ')' if cause }}";

/// One SMS segment of GSM characters.
pub(crate) const SMS_MAX_CHARS: usize = 160;

/// A channel's compiled templates.
pub(crate) struct Templates {
    env: Environment<'static>,
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

    /// The title (one line) and the text (trailing blank lines removed).
    pub(crate) fn title_and_text(&self, n: &Notification) -> Result<Rendered, SendError> {
        let ctx = context_value(template_context(n));
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
/// (RFC 3339), `duration` (`"1h 5m"`), `since_rfc3339` on each check, and
/// `to` / `message` (the number and short text of an SMS request; null
/// elsewhere).
pub fn template_context(n: &Notification) -> serde_json::Value {
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
