//! `kind = "webhook"` and `kind = "sms"`: HTTP requests whose body and
//! headers come from templates.
//!
//! Body and header templates see the notification's variables (see
//! [`crate::template_context`]) plus `message`, the channel's rendered text
//! (for SMS the short text), and for SMS `to`, the number of this request.
//! Without a `body_template` a webhook sends the notification as JSON and
//! an SMS request sends `{"to": "<number>", "text": "<short text>"}`.

use http::header::CONTENT_TYPE;
use http::{HeaderName, HeaderValue, Method, Uri};
use keepup_config::channels::{
    Channel as ChannelConfig, HeaderSpec, HeaderValueSpec, SmsSpec, WebhookSpec,
};
use serde_json::{Value, json};

use crate::chat::Base;
use crate::http::{HttpClientContext, Request, redact};
use crate::render::{
    DEFAULT_TITLE, SMS_MAX_CHARS, SMS_TEXT, Templates, context_value, template_context,
};
use crate::{Channel, Delivered, Notification, SendError, SendFuture, Unit, truncate};

/// What webhook and SMS channels share: URL, method, headers, body.
struct Endpoint {
    url: Uri,
    url_secret: String,
    method: Method,
    headers: Vec<HeaderSpec>,
    has_body_template: bool,
}

impl Endpoint {
    fn new(spec: &WebhookSpec, templates: &mut Templates) -> Result<Self, String> {
        let (method, headers) = (&spec.method, &spec.headers);
        let body_template = spec.body_template.as_ref();
        let url_secret = spec.url.expose().trim().to_owned();
        let parsed = url_secret
            .parse()
            .map_err(|_| "the URL is not a valid URL".to_owned())?;
        if let Some(t) = body_template {
            templates.add("body", &t.source)?;
        }
        for h in headers {
            if let HeaderValueSpec::Template(t) = &h.value {
                templates.add(&format!("header {}", h.name), &t.source)?;
            }
        }
        Ok(Self {
            url: parsed,
            url_secret,
            method: method.clone(),
            headers: headers.to_vec(),
            has_body_template: body_template.is_some(),
        })
    }

    /// Every secret of the endpoint, for redaction.
    fn secrets(&self) -> Vec<&str> {
        let mut s: Vec<&str> = vec![self.url_secret.as_str()];
        for h in &self.headers {
            if let HeaderValueSpec::Secret(v) = &h.value {
                s.push(v.expose());
            }
        }
        // The query alone often is the key.
        if let Some(q) = self.url.query() {
            s.push(q);
        }
        s
    }

    async fn request(
        &self,
        base: &Base,
        what: &str,
        templates: &Templates,
        ctx: &minijinja::Value,
        default_body: impl FnOnce() -> String,
    ) -> Result<Delivered, SendError> {
        let resp = self
            .exchange(base, what, templates, ctx, default_body, Vec::new())
            .await?;
        let secrets = self.secrets();
        let provider_id = resp.json().and_then(|v| {
            ["id", "message_id", "sid"]
                .iter()
                .find_map(|k| match v.get(*k) {
                    Some(Value::String(s)) => Some(redact(s, &secrets)),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                })
        });
        Ok(Delivered { provider_id })
    }

    /// Renders and sends one request with `extra` headers; `Ok` for a 2xx
    /// answer.
    async fn exchange(
        &self,
        base: &Base,
        what: &str,
        templates: &Templates,
        ctx: &minijinja::Value,
        default_body: impl FnOnce() -> String,
        extra: Vec<(HeaderName, HeaderValue)>,
    ) -> Result<crate::http::Response, SendError> {
        let mut headers: Vec<(HeaderName, HeaderValue)> = extra;
        let mut has_content_type = false;
        for h in &self.headers {
            let value = match &h.value {
                HeaderValueSpec::Template(_) => {
                    let v = templates.render(&format!("header {}", h.name), ctx)?;
                    let v = crate::render::one_line(&v);
                    HeaderValue::from_str(&v).map_err(|_| {
                        SendError::permanent(format!(
                            "the {} header template produced a value a header cannot carry",
                            h.name
                        ))
                    })?
                }
                HeaderValueSpec::Secret(s) => {
                    let mut v = HeaderValue::from_str(s.expose()).map_err(|_| {
                        SendError::permanent(format!(
                            "the secret {} header is not a valid header value",
                            h.name
                        ))
                    })?;
                    v.set_sensitive(true);
                    v
                }
            };
            has_content_type |= h.name == CONTENT_TYPE;
            headers.push((h.name.clone(), value));
        }
        let body = if matches!(self.method, Method::GET | Method::HEAD) {
            String::new()
        } else if self.has_body_template {
            templates.render("body", ctx)?
        } else {
            default_body()
        };
        if !has_content_type && !body.is_empty() {
            headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
        }
        let req = Request {
            what,
            method: self.method.clone(),
            url: &self.url,
            headers,
            body: body.into(),
            timeout: base.timeout,
        };
        let secrets = self.secrets();
        base.exchange(req, &secrets, |resp| {
            let text = resp.json().and_then(|v| {
                ["message", "error", "detail", "description"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_owned))
            });
            (text, None)
        })
        .await
    }
}

// ---------------------------------------------------------------------------
// An action's webhook (`[[action]]` with `webhook = { ... }`)
// ---------------------------------------------------------------------------

/// A webhook an `[[action]]` calls: a webhook channel's URL, method,
/// headers and body template, rendered with the run's variables instead
/// of a notification's. One attempt per [`WebhookCall::send`]; the caller
/// retries.
pub struct WebhookCall {
    base: Base,
    endpoint: Endpoint,
}

/// What a webhook answered with a 2xx status.
#[derive(Debug, Clone)]
pub struct WebhookAnswer {
    /// The status.
    pub status: u16,
    /// A printable excerpt of the body, secrets replaced.
    pub excerpt: String,
}

impl WebhookCall {
    /// Compiles the templates; Err: one does not compile.
    pub fn new(
        name: &str,
        spec: &WebhookSpec,
        timeout: std::time::Duration,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        let mut templates = Templates::empty();
        let endpoint = Endpoint::new(spec, &mut templates)?;
        Ok(Self {
            base: Base {
                id: name.to_owned(),
                timeout,
                templates,
                ctx: ctx.clone(),
            },
            endpoint,
        })
    }

    /// Sends one request: the body template (or `default_body`) rendered
    /// with `vars`, plus `extra` headers (e.g. `Idempotency-Key`). Errors
    /// say whether a retry may help and carry the provider's Retry-After;
    /// no secret of the endpoint is in them.
    pub async fn send(
        &self,
        vars: serde_json::Value,
        default_body: String,
        extra: &[(&str, &str)],
    ) -> Result<WebhookAnswer, SendError> {
        let mut headers = Vec::new();
        for (name, value) in extra {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| SendError::permanent(format!("{name:?} is not a header name")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| SendError::permanent(format!("the {name} header is not valid")))?;
            headers.push((name, value));
        }
        let ctx = context_value(vars);
        let resp = self
            .endpoint
            .exchange(
                &self.base,
                "action webhook",
                &self.base.templates,
                &ctx,
                || default_body,
                headers,
            )
            .await?;
        let secrets = self.endpoint.secrets();
        Ok(WebhookAnswer {
            status: resp.status.as_u16(),
            excerpt: redact(
                &String::from_utf8_lossy(&resp.body[..resp.body.len().min(1024)]),
                &secrets,
            ),
        })
    }
}

// ---------------------------------------------------------------------------
// Generic webhook
// ---------------------------------------------------------------------------

pub(crate) struct WebhookChannel {
    base: Base,
    endpoint: Endpoint,
}

impl WebhookChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &WebhookSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        let mut base = Base::new(cfg, ctx)?;
        let endpoint = Endpoint::new(spec, &mut base.templates)?;
        Ok(Self { base, endpoint })
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let mut ctx = template_context(n);
        ctx["message"] = json!(r.text);
        let ctx = context_value(ctx);
        self.endpoint
            .request(&self.base, "webhook", &self.base.templates, &ctx, || {
                serde_json::to_string(n).unwrap_or_default()
            })
            .await
    }
}

impl Channel for WebhookChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

// ---------------------------------------------------------------------------
// SMS through a provider webhook
// ---------------------------------------------------------------------------

pub(crate) struct SmsChannel {
    base: Base,
    endpoint: Endpoint,
    to: Vec<String>,
}

impl SmsChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &SmsSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        let mut base = Base::new(cfg, ctx)?;
        base.templates = Templates::standard(cfg, DEFAULT_TITLE, SMS_TEXT)?;
        let endpoint = Endpoint::new(&spec.request, &mut base.templates)?;
        Ok(Self {
            base,
            endpoint,
            to: spec.to.clone(),
        })
    }

    /// One request per number, in order. When a later number fails, the
    /// earlier ones were delivered: the error says so, and a retry sends
    /// to all of them again (a duplicate SMS beats a missing one).
    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let r = self.base.templates.title_and_text(n)?;
        let text = sms_segment(&crate::render::one_line(&r.text));
        let mut ids = Vec::new();
        for (i, number) in self.to.iter().enumerate() {
            let mut ctx = template_context(n);
            ctx["to"] = json!(number);
            ctx["message"] = json!(text);
            let ctx = context_value(ctx);
            let default = || json!({"to": number, "text": text}).to_string();
            match self
                .endpoint
                .request(
                    &self.base,
                    "SMS provider",
                    &self.base.templates,
                    &ctx,
                    default,
                )
                .await
            {
                Ok(d) => ids.extend(d.provider_id),
                Err(mut e) => {
                    if i > 0 {
                        e.message = format!(
                            "{} (delivered to {i} of {} numbers before)",
                            e.message,
                            self.to.len()
                        );
                    }
                    return Err(e);
                }
            }
        }
        Ok(Delivered {
            provider_id: (!ids.is_empty()).then(|| ids.join(",")),
        })
    }
}

impl Channel for SmsChannel {
    fn id(&self) -> &str {
        &self.base.id
    }
    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

/// The GSM 03.38 basic character set: an SMS of these (and of
/// [`GSM_EXTENSION`]) is sent in 7-bit septets, 160 to a segment.
const GSM_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";

/// The GSM 03.38 extension table: two septets each (an escape and the
/// character).
const GSM_EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// One segment of a UCS-2 SMS, in UTF-16 code units: any character
/// outside the GSM alphabet (an emoji, "…", a typographic quote) sends the
/// whole message so.
const UCS2_SEGMENT_UNITS: usize = 70;

fn septets(c: char) -> Option<usize> {
    if GSM_BASIC.contains(c) {
        Some(1)
    } else if GSM_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// `text` cut to one SMS segment, as the network counts it: 160 septets
/// when every character it keeps is in the GSM alphabet (the cut marked
/// with `...`, since `…` is not in it and would make the message UCS-2),
/// else 70 UTF-16 code units.
pub(crate) fn sms_segment(text: &str) -> String {
    let whole: Option<usize> = text.chars().map(septets).sum();
    if whole.is_some_and(|n| n <= SMS_MAX_CHARS) {
        return text.to_owned();
    }
    let (mut used, mut end) = (0, 0);
    for (i, c) in text.char_indices() {
        let Some(n) = septets(c) else {
            return truncate(text, UCS2_SEGMENT_UNITS, Unit::Utf16);
        };
        used += n;
        if used > SMS_MAX_CHARS - 3 {
            break;
        }
        end = i + c.len_utf8();
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sms_is_one_segment_as_the_network_counts_it() {
        // GSM: 160 septets, "é" is one, "€" two; the cut is "...".
        let gsm = "é".repeat(200);
        let cut = sms_segment(&gsm);
        assert_eq!(cut, format!("{}...", "é".repeat(157)));
        assert_eq!(sms_segment(&"é".repeat(160)), "é".repeat(160));
        // What is cut off does not count ("…" of an earlier cut).
        assert_eq!(sms_segment(&format!("{gsm}…")), cut);
        let euros = sms_segment(&"€".repeat(100));
        assert_eq!(euros, format!("{}...", "€".repeat(78)));
        // Anything else is UCS-2: 70 UTF-16 code units, an emoji two.
        let emoji = sms_segment(&format!("a🙂{}", "b".repeat(100)));
        assert_eq!(emoji.encode_utf16().count(), 70, "{emoji}");
        assert!(emoji.ends_with('…'));
        assert_eq!(sms_segment("down…"), "down…");
    }
}
