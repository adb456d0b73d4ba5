//! `[[channel]]`: a configuration with every kind loads with its defaults;
//! every mistake is reported at its line with a useful message.

mod support;
use support::{at_line, line_of, problems};
support::env_before_main! {
    "KEEPUP_TEST_CHANNELS_TEAMS_URL" => "https://example.webhook.office.com/x",
}

use keepup_config::channels::{ChannelSpec, HeaderValueSpec, ResponderKind, SmtpTls};
use keepup_config::load_str;
use std::path::Path;
use std::time::Duration;

const SECRET: &str = "s3cr3t-Value_that-must-never-show";

#[test]
fn every_kind_loads_with_defaults_applied() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    let token = dir.path().join("bot-token");
    std::fs::write(&token, "123456:ABC-def_ghi\n").unwrap();
    let url = dir.path().join("hook-url");
    std::fs::write(
        &url,
        format!("https://hooks.example.com/services/{SECRET}\n"),
    )
    .unwrap();
    let ca = keepup_testkit_free_ca();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();

    let src = r#"
[[channel]]
id = "mail"
kind = "email"
smtp_host = "mail.example.com"
username = "keepup"
password_file = "secret"
from = "keepup <keepup@example.com>"
to = ["ops@example.com", "Night Shift <night@example.com>"]
ca_file = "ca.pem"
helo_name = "monitor.example.com"
fallback = "slack"
title_template = "[{{ site }}] {{ title }}"

[[channel]]
id = "smtps"
kind = "email"
smtp_host = "127.0.0.1"
tls = "implicit"
from = "keepup@example.com"
to = ["ops@example.com"]

[[channel]]
id = "hook"
kind = "webhook"
url = "https://hooks.example.com/keepup"
method = "put"
headers = { "X-Incident" = "{{ dedup_key }}", "Authorization" = { value_file = "secret" } }
body_template = '{"text": {{ title | tojson }}}'
timeout = "3s"

[[channel]]
id = "slack"
kind = "slack"
webhook_url_file = "hook-url"
template = "{{ text }}"

[[channel]]
id = "teams"
kind = "teams"
webhook_url_env = "KEEPUP_TEST_CHANNELS_TEAMS_URL"

[[channel]]
id = "discord"
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/abc"

[[channel]]
id = "tg"
kind = "telegram"
bot_token_file = "bot-token"
chat_id = -1001234567890

[[channel]]
id = "pd"
kind = "pagerduty"
routing_key_file = "secret"

[[channel]]
id = "genie"
kind = "opsgenie"
api_key_file = "secret"
api_url = "https://api.eu.opsgenie.com"
responders = ["team:ops", "user:alice@example.com"]

[[channel]]
id = "push"
kind = "ntfy"
topic = "shop-alerts"
token_file = "secret"
priority = { critical = "urgent", warning = 3 }

[[channel]]
id = "room"
kind = "matrix"
homeserver_url = "https://matrix.example.org"
room_id = "!AbCdEf:example.org"
access_token_file = "secret"

[[channel]]
id = "sms"
kind = "sms"
url_file = "hook-url"
to = ["+4915112345678"]
headers = { "Content-Type" = "application/json" }
"#;
    let c = load_str(src, &dir.path().join("keepup.toml")).unwrap_or_else(|p| panic!("{p}"));
    let kinds: Vec<&str> = c.channels.iter().map(|c| c.kind()).collect();
    assert_eq!(
        kinds,
        [
            "email",
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
            "sms"
        ]
    );

    let mail = c.channel("mail").unwrap();
    assert_eq!(mail.timeout, Duration::from_secs(10));
    assert_eq!(mail.fallback.as_deref(), Some("slack"));
    assert_eq!(
        mail.title_template.as_ref().unwrap().source,
        "[{{ site }}] {{ title }}"
    );
    let ChannelSpec::Email(e) = &mail.spec else {
        panic!()
    };
    assert_eq!((e.smtp_port, e.tls), (587, SmtpTls::StartTls));
    assert_eq!(e.auth.as_ref().unwrap().password.expose(), SECRET);
    assert_eq!(e.to.len(), 2);
    assert_eq!(
        e.ca_file.as_deref(),
        Some(dir.path().join("ca.pem").as_path())
    );
    assert_eq!(e.helo_name.as_deref(), Some("monitor.example.com"));
    let ChannelSpec::Email(e) = &c.channel("smtps").unwrap().spec else {
        panic!()
    };
    assert_eq!((e.smtp_port, e.tls), (465, SmtpTls::Implicit));
    assert!(e.auth.is_none());

    let hook = c.channel("hook").unwrap();
    assert_eq!(hook.timeout, Duration::from_secs(3));
    let ChannelSpec::Webhook(w) = &hook.spec else {
        panic!()
    };
    assert_eq!(w.method, http::Method::PUT);
    assert_eq!(w.headers.len(), 2);
    assert!(w.headers.iter().any(|h| h.name == "authorization"
        && matches!(&h.value, HeaderValueSpec::Secret(s) if s.expose() == SECRET)));
    assert!(w.body_template.is_some());

    let ChannelSpec::Telegram(t) = &c.channel("tg").unwrap().spec else {
        panic!()
    };
    assert_eq!(t.chat_id, "-1001234567890");
    assert_eq!(t.api_url, "https://api.telegram.org/");
    let ChannelSpec::PagerDuty(p) = &c.channel("pd").unwrap().spec else {
        panic!()
    };
    assert_eq!(p.events_url, "https://events.pagerduty.com/v2/enqueue");
    let ChannelSpec::Opsgenie(o) = &c.channel("genie").unwrap().spec else {
        panic!()
    };
    assert_eq!(o.responders[0].kind, ResponderKind::Team);
    assert_eq!(o.responders[1].name, "alice@example.com");
    let ChannelSpec::Ntfy(n) = &c.channel("push").unwrap().spec else {
        panic!()
    };
    assert_eq!(n.server_url, "https://ntfy.sh/");
    assert_eq!(
        (n.priority.critical, n.priority.warning, n.priority.info),
        (5, 3, 3)
    );
    let ChannelSpec::Sms(s) = &c.channel("sms").unwrap().spec else {
        panic!()
    };
    assert_eq!(s.request.method, http::Method::POST);

    let debug = format!("{:?}", c.channels);
    assert!(!debug.contains(SECRET), "a secret shows in Debug output");
    assert!(
        !debug.contains("ABC-def_ghi"),
        "the bot token shows in Debug output"
    );
}

/// A syntactically valid PEM block (the loader only checks that there is one).
fn keepup_testkit_free_ca() -> &'static str {
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
}

#[test]
fn unknown_keys_and_kinds_get_a_hint() {
    let src = r#"
[[channel]]
id = "slack"
kind = "slack"
webhook_url = "https://hooks.slack.com/services/x"
timout = "5s"

[[channel]]
id = "mail"
kind = "email"
smtp_host = "mail.example.com"
smtp_prot = 25
from = "a@example.com"
to = ["b@example.com"]

[[channel]]
id = "pd"
kind = "pagerdutty"
"#;
    let p = problems(src);
    let timout = at_line(&p, line_of(src, "timout"));
    assert!(timout.contains("unknown key `timout`"), "{timout}");
    assert!(timout.contains("did you mean `timeout`?"), "{timout}");
    let prot = at_line(&p, line_of(src, "smtp_prot"));
    assert!(prot.contains("did you mean `smtp_port`?"), "{prot}");
    assert!(
        prot.starts_with(&format!(
            "keepup.toml:{}:1: channel[1]",
            line_of(src, "smtp_prot")
        )),
        "{prot}"
    );
    let kind = at_line(&p, line_of(src, "pagerdutty"));
    assert!(
        kind.contains("unknown channel kind \"pagerdutty\""),
        "{kind}"
    );
    assert!(kind.contains("did you mean \"pagerduty\"?"), "{kind}");
}

#[test]
fn missing_or_inline_secrets_are_reported_at_their_key() {
    let src = r#"
[[channel]]
id = "pd"
kind = "pagerduty"
routing_key_env = "KEEPUP_TEST_SURELY_UNSET_ROUTING_KEY"

[[channel]]
id = "tg"
kind = "telegram"
bot_token = "123456:inline-token"
chat_id = "@ops"

[[channel]]
id = "genie"
kind = "opsgenie"

[[channel]]
id = "mail"
kind = "email"
smtp_host = "mail.example.com"
username = "keepup"
from = "a@example.com"
to = ["b@example.com"]
"#;
    let p = problems(src);
    let env = at_line(&p, line_of(src, "routing_key_env"));
    assert!(
        env.contains("environment variable KEEPUP_TEST_SURELY_UNSET_ROUTING_KEY is not set"),
        "{env}"
    );
    let inline = at_line(&p, line_of(src, "bot_token ="));
    assert!(
        inline.contains("not written in the configuration"),
        "{inline}"
    );
    assert!(inline.contains("bot_token_env"), "{inline}");
    assert!(
        !p.to_string().contains("inline-token"),
        "a secret is echoed:\n{p}"
    );
    let missing = at_line(&p, line_of(src, "id = \"genie\"") - 1);
    assert!(missing.contains("missing api_key"), "{missing}");
    let user = at_line(&p, line_of(src, "username ="));
    assert!(user.contains("no password"), "{user}");
}

#[test]
fn bad_template_syntax_is_reported_where_the_template_is() {
    let src = r#"
[[channel]]
id = "slack"
kind = "slack"
webhook_url = "https://hooks.slack.com/services/x"
title_template = "{{ title"

[[channel]]
id = "hook"
kind = "webhook"
url = "https://example.com/hook"
body_template = """
{"text": "{{ title }}",
 {% if cause %}"cause": "{{ cause }}"{% endfi %}}
"""

[[channel]]
id = "sms"
kind = "sms"
url = "https://sms.example.com/send"
to = ["+4915112345678"]
template = "{{ title | no_such_filter }}"
headers = { "X-Key" = "{{ site" }
"#;
    let p = problems(src);
    let title = at_line(&p, line_of(src, "title_template"));
    assert!(title.contains("channel[0].title_template"), "{title}");
    assert!(title.contains("template syntax error on line 1"), "{title}");
    let body = at_line(&p, line_of(src, "body_template"));
    assert!(body.contains("template syntax error on line 2"), "{body}");
    assert!(body.contains("endfi"), "{body}");
    let filter = at_line(&p, line_of(src, "no_such_filter"));
    assert!(filter.contains("no_such_filter"), "{filter}");
    let header = at_line(&p, line_of(src, "X-Key"));
    assert!(header.contains("channel[2].headers.X-Key"), "{header}");
}

#[test]
fn unknown_fallbacks_and_fallback_cycles_are_rejected() {
    let src = r#"
[[channel]]
id = "a"
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/a"
fallback = "b"

[[channel]]
id = "b"
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/b"
fallback = "c"

[[channel]]
id = "c"
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/c"
fallback = "a"

[[channel]]
id = "d"
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/d"
fallback = "slak"

[[channel]]
id = "e"
kind = "discord"
webhook_url = "https://discord.com/api/webhooks/1/e"
fallback = "e"
"#;
    let p = problems(src);
    let cycle = at_line(&p, line_of(src, "fallback = \"b\""));
    assert!(
        cycle.contains("fallback chain loops: a -> b -> c -> a"),
        "{cycle}"
    );
    // One loop, one report.
    assert_eq!(
        p.0.iter().filter(|x| x.message.contains("loops")).count(),
        1,
        "{p}"
    );
    let unknown = at_line(&p, line_of(src, "fallback = \"slak\""));
    assert!(
        unknown.contains("no channel \"slak\" to fall back to"),
        "{unknown}"
    );
    let own = at_line(&p, line_of(src, "fallback = \"e\""));
    assert!(own.contains("cannot fall back to itself"), "{own}");
}

#[test]
fn kind_specific_values_are_checked() {
    let src = r##"
[[channel]]
id = "Bad Id"
kind = "slack"
webhook_url = "hooks.slack.com/services/T000/B000/secretpart"

[[channel]]
id = "mail"
kind = "email"
smtp_host = "mail.example.com"
tls = "ssl"
from = "nobody"
to = []

[[channel]]
id = "room"
kind = "matrix"
homeserver_url = "matrix.example.org"
room_id = "#ops:example.org"
access_token_env = "KEEPUP_TEST_SURELY_UNSET_MATRIX"

[[channel]]
id = "push"
kind = "ntfy"
topic = "bad topic"
priority = { critical = 9 }

[[channel]]
id = "sms"
kind = "sms"
url = "https://sms.example.com/"
to = ["0151 123"]

[[channel]]
id = "mail"
kind = "teams"
webhook_url = "https://example.webhook.office.com/x"
"##;
    let p = problems(src);
    assert!(at_line(&p, line_of(src, "Bad Id")).contains("invalid id"));
    let url = at_line(&p, line_of(src, "secretpart"));
    assert!(url.contains("is not usable"), "{url}");
    assert!(
        !p.to_string().contains("secretpart"),
        "a webhook URL is echoed:\n{p}"
    );
    assert!(at_line(&p, line_of(src, "\"ssl\"")).contains("unknown TLS mode"));
    assert!(at_line(&p, line_of(src, "\"nobody\"")).contains("not an e-mail address"));
    assert!(at_line(&p, line_of(src, "to = []")).contains("no recipient"));
    assert!(at_line(&p, line_of(src, "matrix.example.org\"")).contains("invalid URL"));
    assert!(at_line(&p, line_of(src, "#ops")).contains("not a room id"));
    assert!(at_line(&p, line_of(src, "bad topic")).contains("invalid topic"));
    assert!(at_line(&p, line_of(src, "critical = 9")).contains("invalid ntfy priority"));
    assert!(at_line(&p, line_of(src, "0151 123")).contains("not a phone number"));
    let twice =
        p.0.iter()
            .find(|x| x.message.contains("used twice"))
            .unwrap_or_else(|| panic!("duplicate id not reported:\n{p}"));
    assert_eq!(
        twice.line,
        src.lines()
            .collect::<Vec<_>>()
            .iter()
            .rposition(|l| *l == "id = \"mail\"")
            .unwrap()
            + 1
    );
}

#[test]
fn a_config_without_channels_has_none() {
    let c = load_str("", Path::new("keepup.toml")).unwrap();
    assert!(c.channels.is_empty());
    let p = problems("channel = \"slack\"\n");
    assert!(p.to_string().contains("array of tables"), "{p}");
}
