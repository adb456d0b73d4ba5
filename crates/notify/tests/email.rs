//! E-mail delivered to a real SMTP server (Python's aiosmtpd) on loopback,
//! over STARTTLS with AUTH, implicit TLS and plain SMTP; the received
//! message is parsed by Python's standard e-mail parser and checked.

mod support;

use keepup_notify::{Attachment, Event, HttpClientContext};
use support::{
    SmtpMode, channel, closed_port, ctx_trusting, pki, resolve, secret_file, smtp_sink, trigger,
};

const PASSWORD: &str = "correct-horse-battery-staple-42";

fn header<'a>(m: &'a serde_json::Value, name: &str) -> &'a str {
    m["headers"][name.to_ascii_lowercase()][0]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {m:#}"))
}

fn email_toml(port: u16, tls: &str, auth: bool) -> String {
    let auth = if auth {
        "username = \"keepup\"\npassword_file = \"smtp-password\"\n"
    } else {
        ""
    };
    format!(
        r#"
[[channel]]
id = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {port}
tls = "{tls}"
{auth}from = "keepup monitor <keepup@example.com>"
to = ["ops@example.com", "Night Shift <night@example.org>"]
helo_name = "monitor.example.com"
timeout = "5s"
"#
    )
}

#[tokio::test]
async fn starttls_with_auth_delivers_a_threaded_message() {
    let (ca, leaf) = pki();
    let sink = smtp_sink(SmtpMode::StartTls, Some(&leaf), Some(("keepup", PASSWORD)));
    let dir = tempfile::tempdir().unwrap();
    secret_file(dir.path(), "smtp-password", PASSWORD);
    let mail = channel(
        dir.path(),
        &email_toml(sink.port, "starttls", true),
        "mail",
        &ctx_trusting(&ca),
    );

    let t = trigger("101", "shop/checkout#1");
    let d = mail.send(&t).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        d.provider_id
            .as_deref()
            .is_some_and(|id| id.contains("queued as KEEPUP0001")),
        "{d:?}"
    );
    let r = resolve("102", "shop/checkout#1");
    mail.send(&r).await.unwrap_or_else(|e| panic!("{e}"));

    let msgs = sink.wait_for(2);
    assert_eq!(msgs.len(), 2);
    let (m1, m2) = (&msgs[0], &msgs[1]);
    assert_eq!(m1["tls"], true, "STARTTLS was not used");
    assert_eq!(m1["authenticated"], true);
    assert_eq!(m1["auth_user"], "keepup");
    assert_eq!(m1["mail_from"], "keepup@example.com");
    assert_eq!(
        m1["rcpt_tos"],
        serde_json::json!(["ops@example.com", "night@example.org"])
    );
    assert_eq!(header(m1, "From"), "keepup monitor <keepup@example.com>");
    assert!(header(m1, "To").contains("ops@example.com"));
    assert!(header(m1, "To").contains("Night Shift <night@example.org>"));
    assert_eq!(header(m1, "Subject"), "[keepup] shop/checkout is DOWN");
    assert_eq!(header(m2, "Subject"), "[keepup] shop/checkout is UP again");
    assert_eq!(header(m1, "X-Keepup-Dedup-Key"), "shop/checkout#1");
    assert_eq!(header(m1, "X-Keepup-Event"), "trigger");
    assert_eq!(header(m2, "X-Keepup-Event"), "resolve");
    assert_eq!(header(m1, "Auto-Submitted"), "auto-generated");
    assert_eq!(m1["content_type"], "multipart/alternative");

    // Threading: distinct message ids, one shared thread id.
    let (id1, id2) = (header(m1, "Message-ID"), header(m2, "Message-ID"));
    assert!(
        id1.starts_with("<keepup.n101.") && id1.ends_with("@example.com>"),
        "{id1}"
    );
    assert_ne!(id1, id2);
    let thread = header(m1, "In-Reply-To");
    assert!(thread.starts_with("<keepup.incident."), "{thread}");
    assert_eq!(header(m1, "References"), thread);
    assert_eq!(header(m2, "In-Reply-To"), thread);
    assert_eq!(header(m2, "References"), thread);
    assert_ne!(thread, id1);

    let text = m1["text"].as_str().unwrap();
    assert!(
        text.contains("Checkout answers HTTP 500 since 03:12."),
        "{text}"
    );
    assert!(
        text.contains("Acknowledge: https://keepup.example/ack/7?sig=abc"),
        "{text}"
    );
    let html = m1["html"].as_str().unwrap();
    assert!(
        html.contains("<h3>[keepup] shop/checkout is DOWN</h3>"),
        "{html}"
    );
    assert!(
        html.contains("href=\"https://keepup.example/ack/7?sig=abc\""),
        "{html}"
    );
    let text2 = m2["text"].as_str().unwrap();
    assert!(text2.contains("Outage duration: 12m 34s"), "{text2}");
    assert!(!text2.contains("Acknowledge"), "{text2}");

    // A retry of the same notification is the same message.
    mail.send(&t).await.unwrap();
    let msgs = sink.wait_for(3);
    assert_eq!(header(&msgs[2], "Message-ID"), id1);
}

#[tokio::test]
async fn implicit_tls_and_plain_smtp_deliver() {
    let (ca, leaf) = pki();
    let ctx = ctx_trusting(&ca);
    let dir = tempfile::tempdir().unwrap();

    let smtps = smtp_sink(SmtpMode::Implicit, Some(&leaf), None);
    let mail = channel(
        dir.path(),
        &email_toml(smtps.port, "implicit", false),
        "mail",
        &ctx,
    );
    let mut n = keepup_notify::test_notification("shop");
    n.id = "7".into();
    mail.send(&n).await.unwrap_or_else(|e| panic!("{e}"));
    let m = smtps.wait_for(1);
    assert_eq!(m[0]["tls"], true);
    assert_eq!(header(&m[0], "X-Keepup-Event"), Event::Test.as_str());
    assert!(header(&m[0], "Subject").contains("keepup test notification for shop"));

    let plain = smtp_sink(SmtpMode::None, None, None);
    let mail = channel(
        dir.path(),
        &email_toml(plain.port, "none", false),
        "mail",
        &ctx,
    );
    mail.send(&trigger("8", "k"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let m = plain.wait_for(1);
    assert_eq!(m[0]["tls"], false);
    assert_eq!(m[0]["authenticated"], false);
}

#[tokio::test]
async fn attachments_make_a_mixed_message_with_the_html_inline() {
    let sink = smtp_sink(SmtpMode::None, None, None);
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = pki();
    let mail = channel(
        dir.path(),
        &email_toml(sink.port, "none", false),
        "mail",
        &ctx_trusting(&ca),
    );
    let mut n = keepup_notify::test_notification("shop");
    n.id = "9".into();
    n.event = Event::Report;
    n.text = "Availability 99.95 %".into();
    let page = "<!DOCTYPE html><html><body><h1>Shop front, 2026-03</h1></body></html>";
    let json = "{\"figures\":{\"availability\":99.95}}";
    // Short lines ending in LF only, more than SMTP's 1,000 bytes in all.
    let csv = "section,row,field,value\nday,2026-03-01,availability,100\n".repeat(40);
    for (filename, content_type, data) in [
        ("front-2026-03.html", "text/html; charset=utf-8", page),
        ("front-2026-03.csv", "text/csv; charset=utf-8", csv.as_str()),
        ("front-2026-03.json", "application/json", json),
    ] {
        n.attachments.push(Attachment {
            filename: filename.into(),
            content_type: content_type.into(),
            data: data.as_bytes().to_vec(),
        });
    }
    mail.send(&n).await.unwrap_or_else(|e| panic!("{e}"));
    let m = &sink.wait_for(1)[0];
    assert_eq!(m["content_type"], "multipart/mixed");
    assert_eq!(header(m, "X-Keepup-Event"), "report");
    assert_eq!(
        m["text"].as_str().map(str::trim_end),
        Some("Availability 99.95 %")
    );
    assert_eq!(
        m["html"].as_str().map(str::trim_end),
        Some(page),
        "the page reads inline"
    );
    // (content type, disposition, file name, content) of each leaf part.
    type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let parts: Vec<Part<'_>> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["content_type"].as_str().unwrap(),
                p["disposition"].as_str(),
                p["filename"].as_str(),
                p["content"].as_str(),
            )
        })
        .collect();
    assert_eq!(parts.len(), 5, "{parts:?}");
    assert_eq!(&parts[0].0, &"text/plain");
    assert_eq!(&parts[1].0, &"text/html");
    assert_eq!(parts[1].1, None, "the inline HTML is not an attachment");
    assert_eq!(
        parts[2..]
            .iter()
            .map(|p| (p.0, p.1.unwrap_or_default(), p.2.unwrap_or_default()))
            .collect::<Vec<_>>(),
        [
            ("text/html", "attachment", "front-2026-03.html"),
            ("text/csv", "attachment", "front-2026-03.csv"),
            ("application/json", "attachment", "front-2026-03.json"),
        ]
    );
    assert_eq!(parts[2].3, Some(page));
    assert_eq!(
        parts[3].3,
        Some(csv.as_str()),
        "line endings arrive unchanged"
    );
    assert_eq!(parts[4].3, Some(json), "bytes arrive unchanged");
}

#[tokio::test]
async fn a_large_html_page_is_attached_but_not_sent_inline_again() {
    let sink = smtp_sink(SmtpMode::None, None, None);
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = pki();
    let mail = channel(
        dir.path(),
        &email_toml(sink.port, "none", false),
        "mail",
        &ctx_trusting(&ca),
    );
    let mut n = keepup_notify::test_notification("shop");
    n.event = Event::Report;
    n.text = "Availability 99.95 %".into();
    // Just over the inline limit: sent once, as the attachment.
    let row = "<tr><td>2026-03-01</td><td>100 %</td></tr>\n";
    let page = format!(
        "<!DOCTYPE html><html><body><table>{}</table></body></html>",
        row.repeat(keepup_notify::MAX_INLINE_HTML_BYTES / row.len() + 1)
    );
    n.attachments.push(Attachment {
        filename: "front-2026-03.html".into(),
        content_type: "text/html; charset=utf-8".into(),
        data: page.as_bytes().to_vec(),
    });
    mail.send(&n).await.unwrap_or_else(|e| panic!("{e}"));
    let m = &sink.wait_for(1)[0];
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("Availability 99.95 %") && !html.contains("<table>"),
        "the short rendering of the text is inline: {}",
        &html[..html.len().min(300)]
    );
    let attached: Vec<&str> = m["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["disposition"] == "attachment")
        .filter_map(|p| p["content"].as_str())
        .collect();
    assert_eq!(attached, [page.as_str()]);
}

#[tokio::test]
async fn a_wrong_password_is_not_retryable_and_never_shown() {
    let (ca, leaf) = pki();
    let sink = smtp_sink(SmtpMode::StartTls, Some(&leaf), Some(("keepup", PASSWORD)));
    let dir = tempfile::tempdir().unwrap();
    let wrong = "wrong-password-that-must-not-leak";
    secret_file(dir.path(), "smtp-password", wrong);
    let mail = channel(
        dir.path(),
        &email_toml(sink.port, "starttls", true),
        "mail",
        &ctx_trusting(&ca),
    );
    let e = mail.send(&trigger("1", "k")).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(
        e.message.contains(
            "refused the login (check `username` and the password in `password_env` or `password_file`): the server said 535 "
        ),
        "{e}"
    );
    assert!(!e.message.contains(wrong), "the password leaked: {e}");
    assert!(!format!("{e:?}").contains(wrong));
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_server_that_is_down_is_retryable() {
    let dir = tempfile::tempdir().unwrap();
    secret_file(dir.path(), "smtp-password", PASSWORD);
    let mail = channel(
        dir.path(),
        &email_toml(closed_port(), "starttls", true),
        "mail",
        &HttpClientContext::builder().system_roots(false).build(),
    );
    let e = mail.send(&trigger("1", "k")).await.unwrap_err();
    assert!(e.retryable, "{e:?}");
    assert!(e.message.contains("127.0.0.1"), "{e}");
    assert!(!e.message.contains(PASSWORD), "{e}");
}

#[tokio::test]
async fn an_untrusted_server_certificate_is_not_retryable() {
    let (_ca, leaf) = pki();
    let sink = smtp_sink(SmtpMode::StartTls, Some(&leaf), Some(("keepup", PASSWORD)));
    let dir = tempfile::tempdir().unwrap();
    secret_file(dir.path(), "smtp-password", PASSWORD);
    let other = keepup_testkit::pki::CertAuthority::new("someone else").unwrap();
    let mail = channel(
        dir.path(),
        &email_toml(sink.port, "starttls", true),
        "mail",
        &ctx_trusting(&other),
    );
    let e = mail.send(&trigger("1", "k")).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert_eq!(
        e.message,
        format!(
            "SMTP server 127.0.0.1:{} TLS failed: the certificate for 127.0.0.1 is not issued by a certificate authority keepup trusts (self-signed or from a private CA?): add its CA with `ca_file`",
            sink.port
        )
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn a_refused_recipient_says_to_check_the_addresses_with_the_server_reply() {
    let (ca, leaf) = pki();
    let sink = smtp_sink(SmtpMode::StartTls, Some(&leaf), None);
    let dir = tempfile::tempdir().unwrap();
    let toml = email_toml(sink.port, "starttls", false).replace(
        r#"to = ["ops@example.com", "Night Shift <night@example.org>"]"#,
        r#"to = ["nobody@example.com"]"#,
    );
    let mail = channel(dir.path(), &toml, "mail", &ctx_trusting(&ca));
    let e = mail.send(&trigger("1", "k")).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert_eq!(
        e.message,
        format!(
            "SMTP server 127.0.0.1:{} refused an address (check `from` and `to`): the server said 550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown",
            sink.port
        )
    );
    assert!(sink.messages().is_empty());
}

#[tokio::test]
async fn the_channel_ca_file_is_trusted_on_top_of_the_context() {
    let (ca, leaf) = pki();
    let sink = smtp_sink(SmtpMode::StartTls, Some(&leaf), None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("smtp-ca.pem"), ca.root_pem()).unwrap();
    let toml = email_toml(sink.port, "starttls", false) + "ca_file = \"smtp-ca.pem\"\n";
    let mail = channel(
        dir.path(),
        &toml,
        "mail",
        &HttpClientContext::builder().system_roots(false).build(),
    );
    mail.send(&trigger("1", "k"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sink.wait_for(1).len(), 1);
}
