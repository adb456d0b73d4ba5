//! Runbook notes in real notifications: every HTTP channel to the
//! validating in-process provider receiver (the incident page's link and an
//! excerpt cut at the channel's own limit), the generic webhook's template
//! fields, and a real e-mail through aiosmtpd with the notes rendered from
//! their Markdown safely.

mod support;

use keepup_config::{NoteSource, RunbookNote};
use keepup_notify::{HttpClientContext, Notification, PastResolution};
use serde_json::Value;
use support::providers::{MATRIX_TOKEN, NTFY_TOKEN, OG_KEY, PD_KEY, Receiver, TELEGRAM_TOKEN};
use support::{SmtpMode, channel, ctx_trusting, pki, secret_file, smtp_sink, trigger};

const PAGE: &str = "https://keepup.example/incidents/7";

/// A trigger with a long check note (Markdown with raw HTML and a script
/// link) and a code note, and the incident page's link.
fn with_notes() -> Notification {
    let mut n = trigger("7", "shop/checkout#7");
    n.runbook = vec![
        RunbookNote {
            source: NoteSource::Check,
            about: "shop/checkout".into(),
            text: format!(
                "Restart **php-fpm**: `systemctl restart php-fpm` <script>alert(1)</script> [wiki](javascript:alert(2))\n\n{}",
                "The pool runs out when a bot crawls the cart. ".repeat(400)
            ),
        },
        RunbookNote {
            source: NoteSource::Code,
            about: "HTTP_STATUS".into(),
            text: "Look at the **error log**.".into(),
        },
    ];
    n.page_url = Some(PAGE.into());
    n
}

/// Three earlier resolutions with long notes (cut to 300 characters each),
/// the second of another check.
fn long_past_resolutions() -> Vec<PastResolution> {
    let day = 1_759_449_600_000; // 2025-10-03T00:00:00Z
    let note =
        "restarted php-fpm, the pool was exhausted by a crawler, blocked it in the firewall; "
            .repeat(5);
    vec![
        PastResolution::new(9, "shop/checkout", day, day + 12 * 60_000, "alice", &note),
        PastResolution::new(
            8,
            "blog/home",
            day - 86_400_000,
            day - 82_800_000,
            "bob",
            &note,
        ),
        PastResolution::new(
            5,
            "shop/checkout",
            day - 864_000_000,
            day - 863_000_000,
            "carol",
            &note,
        ),
    ]
}

/// The earlier resolutions in a rendered text: from `Resolved before:` to
/// the incident page's line, as the default text shows them.
fn past_block(text: &str) -> &str {
    let from = text
        .find("Resolved before:\n")
        .unwrap_or_else(|| panic!("no earlier resolutions in {text}"));
    let to = text[from..]
        .find("Incident page:")
        .map_or(text.len(), |i| from + i);
    &text[from..to]
}

/// Undoes the escaping of Slack and Telegram (the notes have no quotes).
fn unescaped(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The credential files [`every_channel`] names.
fn secrets(dir: &std::path::Path) {
    for (file, value) in [
        ("telegram", TELEGRAM_TOKEN),
        ("pagerduty", PD_KEY),
        ("opsgenie", OG_KEY),
        ("ntfy", NTFY_TOKEN),
        ("matrix", MATRIX_TOKEN),
    ] {
        secret_file(dir, file, value);
    }
}

fn every_channel(base: &str) -> String {
    format!(
        r#"
[[channel]]
id = "slack"
kind = "slack"
webhook_url = "{base}/slack/services/T000/B000/X"

[[channel]]
id = "teams"
kind = "teams"
webhook_url = "{base}/teams/workflows/abc?sig=S"

[[channel]]
id = "discord"
kind = "discord"
webhook_url = "{base}/discord/api/webhooks/1/D"

[[channel]]
id = "telegram"
kind = "telegram"
bot_token_file = "telegram"
chat_id = -1001234567890
api_url = "{base}"

[[channel]]
id = "pagerduty"
kind = "pagerduty"
routing_key_file = "pagerduty"
events_url = "{base}/pagerduty/v2/enqueue"

[[channel]]
id = "opsgenie"
kind = "opsgenie"
api_key_file = "opsgenie"
api_url = "{base}/opsgenie"

[[channel]]
id = "ntfy"
kind = "ntfy"
server_url = "{base}/ntfy"
topic = "shop-alerts"
token_file = "ntfy"

[[channel]]
id = "matrix"
kind = "matrix"
homeserver_url = "{base}"
room_id = "!AbCdEf:example.org"
access_token_file = "matrix"

[[channel]]
id = "hook"
kind = "webhook"
url = "{base}/hook/keepup"

[[channel]]
id = "sms"
kind = "sms"
url = "{base}/sms/send"
to = ["+4915112345678"]
"#
    )
}

/// The excerpt in a rendered text: what follows `Runbook:`.
fn excerpt(text: &str) -> &str {
    text.split_once("Runbook:\n")
        .unwrap_or_else(|| panic!("no runbook in {text}"))
        .1
}

#[tokio::test]
async fn every_channel_links_the_incident_page_and_cuts_the_notes_at_its_limit() {
    let rx = Receiver::http().await;
    let dir = tempfile::tempdir().unwrap();
    secrets(dir.path());
    let toml = every_channel(&rx.url(""));
    let ctx = HttpClientContext::builder().system_roots(false).build();
    let mut n = with_notes();
    n.past_resolutions = long_past_resolutions();
    for spec in support::channels(dir.path(), &toml) {
        let before = rx.seen().len();
        keepup_notify::build(&spec, &ctx)
            .send(&n)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spec.id));
        // The receiver checks each provider's documented limits.
        for s in &rx.seen()[before..] {
            assert!(s.problem.is_none(), "{}: {:?}", spec.id, s.problem);
        }
    }
    let seen = rx.seen();
    let by = |prefix: &str| -> Value {
        seen.iter()
            .find(|s| s.path.starts_with(prefix))
            .and_then(|s| s.json.clone())
            .unwrap_or_else(|| panic!("nothing at {prefix}"))
    };
    let link = format!("Incident page: {PAGE}");

    // Each text channel: the link, and the earlier resolutions, then the
    // excerpt, together within its own budget.
    let texts = [
        (
            "slack",
            by("/slack/")["blocks"][1]["text"]["text"].clone(),
            1_200,
        ),
        (
            "discord",
            by("/discord/")["embeds"][0]["description"].clone(),
            1_500,
        ),
        ("telegram", by("/bot")["text"].clone(), 1_500),
        (
            "pagerduty",
            by("/pagerduty/")["payload"]["custom_details"]["text"].clone(),
            1_500,
        ),
        ("opsgenie", by("/opsgenie/")["description"].clone(), 2_000),
        ("ntfy", by("/ntfy/")["message"].clone(), 1_000),
        ("matrix", by("/_matrix/")["body"].clone(), 2_000),
    ];
    let newest = "- 2025-10-03, 12m, alice: restarted php-fpm, the pool was exhausted by a crawler";
    for (id, text, budget) in texts {
        let text = text.as_str().unwrap_or_else(|| panic!("{id}: no text"));
        assert!(text.contains(&link), "{id}: {text}");
        // Counted as the channel cut them, before its escaping.
        let past = unescaped(past_block(text));
        assert!(past.contains(newest), "{id}: {past}");
        let past_chars = past.chars().count();
        if budget >= 1_200 {
            // Room for all three, whole, the other check's named.
            assert_eq!(past.lines().count(), 4, "{id}: {past}");
            assert!(
                past.contains("bob (#8 blog/home): restarted"),
                "{id}: {past}"
            );
        }
        if budget < 1_100 {
            // The tightest: the earlier resolutions take it all.
            assert!(!text.contains("Runbook:"), "{id}: {text}");
            assert!(
                past_chars <= budget,
                "{id}: {past_chars} > {budget}: {past}"
            );
            continue;
        }
        let cut = unescaped(excerpt(text));
        // The newline between them belongs to the template, not the notes.
        assert!(
            past_chars + cut.chars().count() <= budget,
            "{id}: {past_chars} + {} > {budget}",
            cut.chars().count()
        );
        assert!(cut.chars().count() >= 40, "{id}: {cut}");
        assert!(cut.ends_with('…'), "{id}");
        // Plain text: the Markdown's words, not its markup; raw HTML as
        // text, escaped where the channel speaks HTML.
        assert!(
            cut.starts_with("shop/checkout: Restart php-fpm: systemctl restart php-fpm "),
            "{id}: {cut}"
        );
        assert!(!cut.contains("javascript"), "{id}: {cut}");
    }
    assert!(
        by("/bot")["text"]
            .as_str()
            .unwrap()
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    let matrix = by("/_matrix/")["formatted_body"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!matrix.contains("<script>"), "{matrix}");

    // Links where the format has them.
    let teams = by("/teams/");
    let actions = &teams["attachments"][0]["content"]["actions"];
    assert_eq!(actions[1]["url"], PAGE, "{actions}");
    let pd = by("/pagerduty/");
    assert_eq!(pd["links"][1]["href"], PAGE, "{pd}");

    // The webhook's default body is the notification: every note in full.
    let hook = by("/hook/");
    assert_eq!(hook["page_url"], PAGE);
    assert_eq!(hook["runbook"][0]["source"], "check");
    assert_eq!(hook["runbook"][1]["about"], "HTTP_STATUS");
    assert_eq!(
        hook["runbook"][0]["text"],
        Value::from(n.runbook[0].text.clone())
    );

    // SMS, the tightest: one segment of GSM characters (so a cut is
    // "...", not "…"), what fixed it last time after the title.
    let sms = by("/sms/")["text"].as_str().unwrap().to_owned();
    assert_eq!(sms.chars().count(), 160, "{sms}");
    assert!(
        sms.starts_with(
            "PROBLEM: shop/checkout is DOWN Before: 2025-10-03, 12m, alice: restarted php-fpm"
        ),
        "{sms}"
    );
    assert!(sms.ends_with("..."), "{sms}");
}

#[tokio::test]
async fn without_earlier_resolutions_the_runbook_has_the_whole_budget() {
    let rx = Receiver::http().await;
    let dir = tempfile::tempdir().unwrap();
    secrets(dir.path());
    let toml = every_channel(&rx.url(""));
    let ctx = HttpClientContext::builder().system_roots(false).build();
    for id in ["slack", "ntfy", "sms"] {
        let _ = channel(dir.path(), &toml, id, &ctx)
            .send(&with_notes())
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    let seen = rx.seen();
    for s in &seen {
        assert!(s.problem.is_none(), "{}: {:?}", s.path, s.problem);
    }
    let slack = seen[0].json.as_ref().unwrap()["blocks"][1]["text"]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(unescaped(excerpt(&slack)).chars().count(), 1_200);
    let ntfy = seen[1].json.as_ref().unwrap()["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(excerpt(&ntfy).chars().count(), 1_000);
    let sms = seen[2].json.as_ref().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sms.starts_with("PROBLEM: shop/checkout is DOWN Runbook: shop/checkout: Restart php-fpm"),
        "{sms}"
    );
}

#[tokio::test]
async fn webhook_templates_see_the_notes_and_the_page() {
    let rx = Receiver::http().await;
    let dir = tempfile::tempdir().unwrap();
    let base = rx.url("");
    let toml = format!(
        r#"
[[channel]]
id = "hook"
kind = "webhook"
url = "{base}/custom/receiver"
body_template = "{{% for r in runbook %}}{{{{ r.source }}}}:{{{{ r.about }}}};{{% endfor %}} {{{{ page_url }}}} {{{{ runbook_excerpt | length }}}}"
"#
    );
    let ctx = HttpClientContext::builder().system_roots(false).build();
    // The receiver answers 404 on an unknown path: look at what came.
    let _ = channel(dir.path(), &toml, "hook", &ctx)
        .send(&with_notes())
        .await;
    let s = rx.seen().pop().unwrap();
    assert_eq!(
        std::str::from_utf8(&s.body).unwrap(),
        format!("check:shop/checkout;code:HTTP_STATUS; {PAGE} 2000")
    );
}

fn header<'a>(m: &'a Value, name: &str) -> &'a str {
    m["headers"][name.to_ascii_lowercase()][0]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {m:#}"))
}

#[tokio::test]
async fn an_email_carries_the_notes_in_full_and_renders_them_safely() {
    let sink = smtp_sink(SmtpMode::None, None, None);
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = pki();
    let toml = format!(
        r#"
[[channel]]
id = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {}
tls = "none"
from = "keepup@example.com"
to = ["ops@example.com"]
timeout = "5s"
"#,
        sink.port
    );
    let mail = channel(dir.path(), &toml, "mail", &ctx_trusting(&ca));
    let mut n = with_notes();
    // Short enough to arrive whole (the e-mail budget is 16,000).
    n.runbook[0].text = "Restart **php-fpm**: `systemctl restart php-fpm` <script>alert(1)</script> [wiki](javascript:alert(2)) [log](https://logs.example/shop)".into();
    mail.send(&n).await.unwrap_or_else(|e| panic!("{e}"));
    let m = &sink.wait_for(1)[0];
    assert_eq!(header(m, "Subject"), "[keepup] shop/checkout is DOWN");

    let text = m["text"].as_str().unwrap().replace("\r\n", "\n");
    assert!(text.contains(&format!("Incident page: {PAGE}")), "{text}");
    assert!(
        text.contains(
            "Runbook:\nshop/checkout: Restart php-fpm: systemctl restart php-fpm <script>alert(1)</script> wiki log <https://logs.example/shop>\nHTTP_STATUS: Look at the error log."
        ),
        "{text:?}"
    );

    let html = m["html"].as_str().unwrap();
    assert!(html.contains("<h3>Runbook</h3>"), "{html}");
    assert!(
        html.contains(&format!("<a href=\"{PAGE}\">Incident page</a>")),
        "{html}"
    );
    assert!(html.contains("<h4>shop/checkout</h4>"), "{html}");
    assert!(
        html.contains("Restart <strong>php-fpm</strong>: <code>systemctl restart php-fpm</code>"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("javascript"), "{html}");
    assert!(
        html.contains(
            "<a href=\"https://logs.example/shop\" rel=\"nofollow noopener noreferrer\">log</a>"
        ),
        "{html}"
    );
    // The notes are rendered once, not also as the text's excerpt.
    assert_eq!(html.matches("Look at the").count(), 1, "{html}");
}

#[tokio::test]
async fn multibyte_text_is_cut_where_each_provider_counts_it() {
    let rx = Receiver::http().await;
    let dir = tempfile::tempdir().unwrap();
    secrets(dir.path());
    let base = rx.url("");
    // A Matrix room that gets every note whole through its template.
    let toml = format!(
        r#"{}
[[channel]]
id = "matrix-full"
kind = "matrix"
homeserver_url = "{base}"
room_id = "!AbCdEf:example.org"
access_token_file = "matrix"
template = "{{{{ text }}}}{{% for r in runbook %}} {{{{ r.text }}}}{{% endfor %}}"
"#,
        every_channel(&base)
    );
    let ctx = HttpClientContext::builder().system_roots(false).build();
    // "🙂" is 4 bytes and 2 UTF-16 units, "é" 2 bytes; "<" and "&" grow
    // fourfold in HTML.
    let mut n = with_notes();
    n.text = "🙂".repeat(1_500);
    n.runbook[0].text = "Redémarrer <php-fpm> & 🙂🙂é ".repeat(2_000);
    let day = 1_759_449_600_000;
    n.past_resolutions = (0..3)
        .map(|i| {
            PastResolution::new(
                i,
                "shop/checkout",
                day,
                day + 60_000,
                "zoé",
                &"🙂🙂é".repeat(200),
            )
        })
        .collect();
    let mut sent = Vec::new();
    for id in ["ntfy", "telegram", "matrix", "matrix-full", "sms"] {
        let before = rx.seen().len();
        channel(dir.path(), &toml, id, &ctx)
            .send(&n)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let s = rx.seen()[before].clone();
        assert!(s.problem.is_none(), "{id}: {:?}", s.problem);
        sent.push((id, s.body.clone(), s.json.clone().unwrap()));
    }
    let field = |i: usize, k: &str| sent[i].2[k].as_str().unwrap().to_owned();

    // ntfy: 4,096 bytes, cut there on a character boundary.
    let ntfy = field(0, "message");
    assert!(
        ntfy.len() <= 4_096 && ntfy.len() > 4_096 - 4 - 3,
        "{}",
        ntfy.len()
    );
    assert!(ntfy.ends_with('…'));

    // Telegram: 4,096 UTF-16 code units once its entities are parsed.
    let telegram = support::providers::telegram_parsed(&field(1, "text"));
    let units = telegram.encode_utf16().count();
    assert!((4_096 - 2..=4_096).contains(&units), "{units}");
    assert!(telegram.ends_with('…'));

    // Matrix: the content within 32 KiB (an event holds 64 KiB), the
    // plain and the HTML body cut alike.
    for i in [2, 3] {
        assert!(
            sent[i].1.len() <= 32 * 1024,
            "{}: {}",
            sent[i].0,
            sent[i].1.len()
        );
        let body = field(i, "body");
        let html = field(i, "formatted_body").replace("<br>", "\n");
        assert_eq!(
            support::providers::telegram_parsed(&html),
            body.replacen("\n\n", "\n", 1),
            "{}",
            sent[i].0
        );
    }
    let full = field(3, "body");
    assert!(
        sent[3].1.len() > 24 * 1024,
        "the room gets what fits: {}",
        sent[3].1.len()
    );
    assert!(full.ends_with('…'));

    // SMS: not GSM, so one UCS-2 segment of 70 units.
    let sms = field(4, "text");
    assert_eq!(sms.encode_utf16().count(), 70, "{sms}");
    assert_eq!(support::providers::sms_segments(&sms), 1);
}

#[tokio::test]
async fn an_email_with_its_own_template_still_has_the_notes_in_its_html() {
    let sink = smtp_sink(SmtpMode::None, None, None);
    let dir = tempfile::tempdir().unwrap();
    let (ca, _) = pki();
    // E-mail has no HTML template: the HTML part is keepup's own, the
    // channel's `template` only its text.
    let toml = format!(
        r#"
[[channel]]
id = "mail"
kind = "email"
smtp_host = "127.0.0.1"
smtp_port = {}
tls = "none"
from = "keepup@example.com"
to = ["ops@example.com"]
timeout = "5s"
template = "{{{{ title }}}}: {{{{ checks[0].message }}}}"
"#,
        sink.port
    );
    let mail = channel(dir.path(), &toml, "mail", &ctx_trusting(&ca));
    let mut n = with_notes();
    n.runbook[0].text = "Restart **php-fpm** <script>alert(1)</script>".into();
    mail.send(&n).await.unwrap_or_else(|e| panic!("{e}"));
    let m = &sink.wait_for(1)[0];
    let text = m["text"].as_str().unwrap().replace("\r\n", "\n");
    assert_eq!(
        text.trim_end(),
        "shop/checkout is DOWN: HTTP 500 Internal Server Error"
    );
    let html = m["html"].as_str().unwrap();
    assert!(html.contains("HTTP 500 Internal Server Error"), "{html}");
    assert!(
        html.contains(&format!("<a href=\"{PAGE}\">Incident page</a>")),
        "{html}"
    );
    assert!(html.contains("Restart <strong>php-fpm</strong>"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}
