//! `kind = "email"`: one message over SMTP (lettre, tokio, rustls with
//! aws-lc-rs).
//!
//! The message has a plain-text body and a minimal HTML alternative; its
//! `Message-ID` is derived from the notification id (a retry of the same
//! notification is the same message), and `In-Reply-To` / `References`
//! point at a per-incident id derived from the dedup key, so mail clients
//! thread the trigger, reminders, acknowledgement and resolution of one
//! incident together. `X-Keepup-Dedup-Key` and `X-Keepup-Event` carry the
//! machine-readable facts; `Auto-Submitted: auto-generated` keeps
//! vacation responders quiet.
//!
//! A notification with attachments (an SLA report) is `multipart/mixed`:
//! first the text and HTML alternative, the HTML being the attached HTML
//! page when there is one of at most [`crate::MAX_INLINE_HTML_BYTES`] (the
//! report reads inline), then each file as an attachment.
//!
//! The channel's `timeout` bounds a small message; a larger one gets one
//! more second per [`MIN_SEND_BYTES_PER_SEC`] of its size
//! ([`send_timeout`]), so a report of megabytes is not cut off on a slow
//! link after the server may have taken it (a retry would mail it twice).

use std::path::Path;
use std::time::Duration;

use keepup_config::channels::{Channel as ChannelConfig, EmailSpec, SmtpTls};
use keepup_model::text::{duration_compact, html_escape};
use keepup_trust::explain::{self, Remedy};
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rustls_pki_types::CertificateDer;
use tokio::sync::OnceCell;

use crate::http::{HttpClientContext, redact};
use crate::render::{DEFAULT_TEXT, EMAIL_TITLE, Rendered, Templates};
use crate::{Channel, Delivered, Notification, SendError, SendFuture};

/// The slowest upload a message's send timeout allows for (128 KiB/s).
pub(crate) const MIN_SEND_BYTES_PER_SEC: u64 = 128 << 10;

/// How long sending a message of `message_bytes` may take: the channel's
/// `timeout` plus the time to upload it at [`MIN_SEND_BYTES_PER_SEC`].
pub(crate) fn send_timeout(timeout: Duration, message_bytes: usize) -> Duration {
    let bytes = u64::try_from(message_bytes).unwrap_or(u64::MAX);
    timeout.saturating_add(Duration::from_secs(bytes / MIN_SEND_BYTES_PER_SEC))
}

pub(crate) struct EmailChannel {
    id: String,
    spec: EmailSpec,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// The domain of the sender, for message ids.
    domain: String,
    timeout: Duration,
    templates: Templates,
    ctx: HttpClientContext,
    /// Built on first use (it needs the system roots).
    tls: OnceCell<Result<TlsParameters, String>>,
}

impl EmailChannel {
    pub(crate) fn new(
        cfg: &ChannelConfig,
        spec: &EmailSpec,
        ctx: &HttpClientContext,
    ) -> Result<Self, String> {
        let from: Mailbox = spec
            .from
            .parse()
            .map_err(|e| format!("the sender {:?} is not a valid mailbox: {e}", spec.from))?;
        let to = spec
            .to
            .iter()
            .map(|t| {
                t.parse::<Mailbox>()
                    .map_err(|e| format!("the recipient {t:?} is not a valid mailbox: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let domain = from.email.domain().to_owned();
        Ok(Self {
            id: cfg.id.clone(),
            spec: spec.clone(),
            from,
            to,
            domain,
            timeout: cfg.timeout,
            templates: Templates::standard(cfg, EMAIL_TITLE, DEFAULT_TEXT)?,
            ctx: ctx.clone(),
            tls: OnceCell::new(),
        })
    }

    fn server(&self) -> String {
        format!(
            "SMTP server {}:{}",
            self.spec.smtp_host, self.spec.smtp_port
        )
    }

    async fn tls_parameters(&self) -> Result<TlsParameters, SendError> {
        let built = self
            .tls
            .get_or_init(|| async {
                let roots = self.ctx.roots().await;
                let mut extra: Vec<CertificateDer<'static>> = Vec::new();
                if let Some(path) = &self.spec.ca_file {
                    extra = read_ca_file(path).await?;
                }
                let mut builder = TlsParameters::builder(self.spec.smtp_host.clone())
                    .certificate_store(CertificateStore::None);
                for der in roots.ders.iter().chain(extra.iter()) {
                    let cert = Certificate::from_der(der.to_vec())
                        .map_err(|e| format!("a trusted certificate is unusable: {e}"))?;
                    builder = builder.add_root_certificate(cert);
                }
                builder
                    .build_rustls()
                    .map_err(|e| format!("TLS setup failed: {e}"))
            })
            .await;
        built
            .clone()
            .map_err(|why| SendError::permanent(format!("{}: {why}", self.server())))
    }

    fn message(&self, n: &Notification, r: &Rendered) -> Result<Message, SendError> {
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(r.title.clone())
            .message_id(Some(message_id(n, &self.domain)))
            .in_reply_to(thread_id(&n.dedup_key, &self.domain))
            .references(thread_id(&n.dedup_key, &self.domain));
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        // An attached HTML page (an SLA report) of a size to send twice is
        // also the HTML the mail client shows; otherwise a minimal
        // rendering of the text.
        let html = n
            .attachments
            .iter()
            .find(|a| a.content_type.starts_with("text/html"))
            .filter(|a| a.data.len() <= crate::MAX_INLINE_HTML_BYTES)
            .map(|a| String::from_utf8_lossy(&a.data).into_owned());
        let html = match html {
            Some(html) => html,
            // The notes rendered from their Markdown, not as the text's excerpt.
            None if !n.runbook.is_empty() => {
                let without_excerpt = self.templates.title_and_text_without_excerpt(n)?;
                html_body(&without_excerpt, n)
            }
            None => html_body(r, n),
        };
        let alternative = MultiPart::alternative_plain_html(r.text.clone() + "\n", html);
        let body = if n.attachments.is_empty() {
            alternative
        } else {
            let mut mixed = MultiPart::mixed().multipart(alternative);
            for a in &n.attachments {
                let content_type = ContentType::parse(&a.content_type).map_err(|e| {
                    SendError::permanent(format!(
                        "the attachment {} has an invalid content type {:?}: {e}",
                        a.filename, a.content_type
                    ))
                })?;
                // Base64 whatever the bytes: they arrive unchanged (no line
                // ending rewritten), and a file of short LF-ended lines is
                // never sent as 7bit, where SMTP would read it as one line.
                let body = Body::new_with_encoding(a.data.clone(), ContentTransferEncoding::Base64)
                    .map_err(|_| {
                        SendError::permanent(format!(
                            "the attachment {} cannot be encoded",
                            a.filename
                        ))
                    })?;
                mixed = mixed.singlepart(
                    lettre::message::Attachment::new(a.filename.clone()).body(body, content_type),
                );
            }
            mixed
        };
        let mut message = builder
            .multipart(body)
            .map_err(|e| SendError::permanent(format!("the message cannot be built: {e}")))?;
        let headers = message.headers_mut();
        for (name, value) in [
            ("X-Keepup-Dedup-Key", one_header_line(&n.dedup_key)),
            ("X-Keepup-Event", n.event.as_str().to_owned()),
            ("Auto-Submitted", "auto-generated".to_owned()),
        ] {
            headers.insert_raw(HeaderValue::new(
                HeaderName::new_from_ascii_str(name),
                value,
            ));
        }
        Ok(message)
    }

    async fn deliver(&self, n: &Notification) -> Result<Delivered, SendError> {
        let rendered = self.templates.title_and_text(n)?;
        let message = self.message(n, &rendered)?;
        let timeout = send_timeout(self.timeout, message.formatted().len());
        let tls = match self.spec.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::StartTls => Tls::Required(self.tls_parameters().await?),
            SmtpTls::Implicit => Tls::Wrapper(self.tls_parameters().await?),
        };
        let mut transport =
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.spec.smtp_host.clone())
                .port(self.spec.smtp_port)
                .tls(tls)
                .timeout(Some(timeout));
        if let Some(auth) = &self.spec.auth {
            transport = transport.credentials(Credentials::new(
                auth.username.clone(),
                auth.password.expose().to_owned(),
            ));
        }
        if let Some(helo) = &self.spec.helo_name {
            transport = transport.hello_name(ClientId::Domain(helo.clone()));
        }
        let transport = transport.build();
        let sent = tokio::time::timeout(timeout, transport.send(message)).await;
        match sent {
            Err(_) => Err(SendError::retryable(format!(
                "{}: no answer within {}",
                self.server(),
                duration_compact(timeout)
            ))),
            Ok(Ok(response)) => {
                let reply = response.message().collect::<Vec<_>>().join(" ");
                Ok(Delivered {
                    provider_id: Some(format!("{} {reply}", response.code()).trim().to_owned()),
                })
            }
            Ok(Err(e)) => Err(self.classify(&e)),
        }
    }

    fn classify(&self, e: &lettre::transport::smtp::Error) -> SendError {
        let secrets: Vec<&str> = self
            .spec
            .auth
            .as_ref()
            .map(|a| vec![a.password.expose()])
            .unwrap_or_default();
        if let Some(tls) = explain::find_tls_error(e) {
            let sentence = explain::tls_error(tls, &self.spec.smtp_host, Remedy::CaFile);
            let message = redact(
                &format!("{} TLS failed: {sentence}", self.server()),
                &secrets,
            );
            // A refused certificate stays refused until someone changes it.
            return if explain::is_certificate_refusal(tls) {
                SendError::permanent(message)
            } else {
                SendError::retryable(message)
            };
        }
        if let Some(code) = e.status().filter(|_| e.is_permanent()) {
            let reply = std::error::Error::source(e)
                .map(|s| crate::render::one_line(&s.to_string()))
                .unwrap_or_default();
            let message = format!(
                "{} {}: the server said {code} {reply}",
                self.server(),
                smtp_refusal(&code.to_string())
            );
            return SendError::permanent(redact(message.trim_end(), &secrets));
        }
        // lettre's Display includes the direct source; add the deeper ones
        // (the I/O reason) unless already said.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        for depth in 0..6 {
            let Some(s) = source else { break };
            let said = s.to_string();
            if depth > 0 && !text.contains(&said) {
                text.push_str(": ");
                text.push_str(&said);
            }
            source = s.source();
        }
        // "Connection error: Connection error: x" reads badly.
        let mut parts: Vec<&str> = Vec::new();
        for p in text.split(": ") {
            if parts
                .last()
                .is_none_or(|last| !last.eq_ignore_ascii_case(p))
            {
                parts.push(p);
            }
        }
        let text = parts.join(": ");
        let text = redact(&crate::render::one_line(&text), &secrets);
        let (retryable, what) = if e.is_transient() {
            (true, "deferred the message")
        } else if e.is_timeout() {
            (true, "timed out")
        } else if e.is_tls() {
            (false, "TLS failed")
        } else if e.is_client() {
            (false, "cannot be used as configured")
        } else {
            (true, "cannot be reached")
        };
        let message = format!("{} {what}: {text}", self.server());
        if retryable {
            SendError::retryable(message)
        } else {
            SendError::permanent(message)
        }
    }
}

/// What a permanent (5xx) SMTP reply means for the channel's settings.
fn smtp_refusal(code: &str) -> &'static str {
    match code {
        "530" => "requires a login (set `username` and `password_env` or `password_file`)",
        "534" | "535" | "538" => {
            "refused the login (check `username` and the password in `password_env` or `password_file`)"
        }
        "550" | "551" | "553" => "refused an address (check `from` and `to`)",
        "552" => "refused the message as too large",
        "554" => "refused the message (by policy, or as spam)",
        _ => "refused the message",
    }
}

impl Channel for EmailChannel {
    fn id(&self) -> &str {
        &self.id
    }

    fn send<'a>(&'a self, n: &'a Notification) -> SendFuture<'a> {
        Box::pin(self.deliver(n))
    }
}

async fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let owned = path.to_path_buf();
    tokio::task::spawn_blocking(move || keepup_trust::read_ca_file(&owned))
        .await
        .map_err(|e| format!("reading the CA file {} failed: {e}", path.display()))?
        .map_err(|e| format!("the CA file {} cannot be used: {e}", path.display()))
}

/// `<keepup.n<id>.<hash of dedup key>@domain>`: stable per notification.
pub(crate) fn message_id(n: &Notification, domain: &str) -> String {
    format!(
        "<keepup.n{}.{:016x}@{domain}>",
        id_atoms(&n.id),
        fnv1a(n.dedup_key.as_bytes())
    )
}

/// `<keepup.incident.<hash>@domain>`: the same for every message of one
/// incident, the thread every message replies to.
pub(crate) fn thread_id(dedup_key: &str, domain: &str) -> String {
    format!(
        "<keepup.incident.{:016x}@{domain}>",
        fnv1a(dedup_key.as_bytes())
    )
}

/// Only characters that are safe in a message id's left part.
fn id_atoms(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// 64-bit FNV-1a: stable across versions and platforms (unlike `Hash`).
fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn one_header_line(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

/// A minimal HTML alternative of the rendered text, with the runbook notes
/// rendered safely (see [`runbook_html`]).
fn html_body(r: &Rendered, n: &Notification) -> String {
    let ack_url = n.ack_url.as_deref();
    let mut html =
        String::from("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head><body>\n");
    html.push_str(&format!("<h3>{}</h3>\n", html_escape(&r.title)));
    html.push_str(&format!(
        "<pre style=\"font-family: inherit; white-space: pre-wrap\">{}</pre>\n",
        html_escape(&r.text)
    ));
    if let Some(url) = ack_url {
        html.push_str(&format!(
            "<p><a href=\"{}\">Acknowledge</a></p>\n",
            html_escape(url)
        ));
    }
    html.push_str(&runbook_html(n));
    html.push_str("</body></html>\n");
    html
}

/// The notification's runbook notes as HTML (raw HTML in them escaped,
/// script links refused; see `crate::markdown`), each under its heading,
/// and the incident page's link; empty without notes.
fn runbook_html(n: &Notification) -> String {
    if n.runbook.is_empty() {
        return String::new();
    }
    let mut html = String::from("<h3>Runbook</h3>\n");
    if let Some(url) = &n.page_url {
        html.push_str(&format!(
            "<p><a href=\"{}\">Incident page</a></p>\n",
            html_escape(url)
        ));
    }
    for note in &n.runbook {
        html.push_str(&format!(
            "<h4>{}</h4>\n<div>{}</div>\n",
            html_escape(&note.heading()),
            crate::markdown::safe_html(&note.text)
        ));
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_safe() {
        let mut n = crate::test_notification("shop");
        n.id = "17".into();
        n.dedup_key = "shop/checkout".into();
        let a = message_id(&n, "example.com");
        assert_eq!(a, message_id(&n, "example.com"));
        assert!(
            a.starts_with("<keepup.n17.") && a.ends_with("@example.com>"),
            "{a}"
        );
        n.id = "18".into();
        assert_ne!(a, message_id(&n, "example.com"));
        assert_eq!(
            thread_id("shop/checkout", "example.com"),
            thread_id("shop/checkout", "example.com")
        );
        assert_ne!(thread_id("a", "x"), thread_id("b", "x"));
        assert_eq!(id_atoms("a/b c"), "a_b_c");
    }

    #[test]
    fn a_large_message_has_time_to_be_uploaded() {
        let base = Duration::from_secs(10);
        assert_eq!(send_timeout(base, 2_000), base, "a short alert");
        // A 15 MB report, base64-encoded: 20 MB at 128 KiB/s.
        assert_eq!(send_timeout(base, 20 << 20), Duration::from_secs(10 + 160));
        assert_eq!(send_timeout(Duration::MAX, 1 << 30), Duration::MAX);
    }
}
