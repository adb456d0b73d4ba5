//! Every HTTP channel against a receiver that validates the provider's
//! documented format and answers like the provider: what arrives, what
//! comes back, and how failures are classified.

mod support;

use std::time::Duration;

use keepup_notify::{Event, HttpClientContext};
use keepup_testkit::ServerTls;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use serde_json::{Value, json};
use support::providers::{MATRIX_TOKEN, NTFY_TOKEN, OG_KEY, PD_KEY, Receiver, TELEGRAM_TOKEN};
use support::{channel, ctx_trusting, pki, resolve, secret_file, trigger};

/// Writes every provider secret into a fresh directory.
fn secrets() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    secret_file(dir.path(), "telegram", TELEGRAM_TOKEN);
    secret_file(dir.path(), "pagerduty", PD_KEY);
    secret_file(dir.path(), "opsgenie", OG_KEY);
    secret_file(dir.path(), "ntfy", NTFY_TOKEN);
    secret_file(dir.path(), "matrix", MATRIX_TOKEN);
    dir
}

/// A configuration with one channel of every HTTP kind, all pointing at
/// the receiver at `base` (`http://127.0.0.1:port`).
fn every_channel(base: &str) -> String {
    format!(
        r#"
[[channel]]
id = "slack"
kind = "slack"
webhook_url = "{base}/slack/services/T000/B000/XXXXSECRET"

[[channel]]
id = "teams"
kind = "teams"
webhook_url = "{base}/teams/workflows/abc?sig=TEAMSSECRET"

[[channel]]
id = "discord"
kind = "discord"
webhook_url = "{base}/discord/api/webhooks/1/DISCORDSECRET"

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
responders = ["team:ops", "user:alice@example.com"]

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
url = "{base}/sms/send?key=SMSSECRET"
to = ["+4915112345678", "+4915187654321"]
"#
    )
}

const SECRETS: &[&str] = &[
    "XXXXSECRET",
    "TEAMSSECRET",
    "DISCORDSECRET",
    "SMSSECRET",
    TELEGRAM_TOKEN,
    PD_KEY,
    OG_KEY,
    NTFY_TOKEN,
    MATRIX_TOKEN,
];

fn assert_no_secret(text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "a secret leaked into: {text}");
    }
}

#[tokio::test]
async fn every_channel_posts_a_valid_payload_and_reads_the_answer() {
    let rx = Receiver::http().await;
    let dir = secrets();
    let toml = every_channel(&rx.url(""));
    let ctx = HttpClientContext::builder().system_roots(false).build();
    let all = support::channels(dir.path(), &toml);
    assert_eq!(all.len(), 10);
    let expected: &[(&str, Option<&str>)] = &[
        ("slack", None),
        ("teams", None),
        ("discord", Some("1234567890123456789")),
        ("telegram", Some("4711")),
        ("pagerduty", Some("shop/checkout#1")),
        ("opsgenie", Some("43a29c5c-3dbf-4fa4-9c26-f4f71023e120")),
        ("ntfy", Some("sPs71M8A2T")),
        ("matrix", Some("$event1:example.org")),
        ("hook", None),
        ("sms", Some("sms-+4915112345678,sms-+4915187654321")),
    ];
    for (id, provider_id) in expected {
        let c = keepup_notify::build(all.iter().find(|c| c.id == *id).unwrap(), &ctx);
        assert_eq!(c.id(), *id);
        let before = rx.seen().len();
        let d = c
            .send(&trigger("1", "shop/checkout#1"))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(d.provider_id.as_deref(), *provider_id, "{id}");
        for s in &rx.seen()[before..] {
            assert!(s.problem.is_none(), "{id}: {:?}", s.problem);
        }
    }
    let seen = rx.seen();
    let by = |prefix: &str| -> Value {
        seen.iter()
            .find(|s| s.path.starts_with(prefix))
            .and_then(|s| s.json.clone())
            .unwrap_or_else(|| panic!("nothing at {prefix}"))
    };

    let slack = by("/slack/");
    assert_eq!(slack["blocks"][0]["text"]["text"], "shop/checkout is DOWN");
    assert!(
        slack["blocks"][1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("Acknowledge: https://keepup.example/ack/7?sig=abc")
    );

    let teams = by("/teams/");
    assert_eq!(
        teams["attachments"][0]["content"]["actions"][0]["url"],
        "https://keepup.example/ack/7?sig=abc"
    );

    let discord = by("/discord/");
    assert_eq!(discord["embeds"][0]["title"], "shop/checkout is DOWN");
    assert_eq!(discord["allowed_mentions"], json!({"parse": []}));

    let telegram = by("/bot");
    assert_eq!(telegram["chat_id"], json!(-1001234567890_i64));
    assert!(
        telegram["text"]
            .as_str()
            .unwrap()
            .starts_with("<b>shop/checkout is DOWN</b>\n")
    );

    let pd = by("/pagerduty/");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["dedup_key"], "shop/checkout#1");
    assert_eq!(pd["payload"]["severity"], "critical");
    assert_eq!(pd["payload"]["source"], "shop/checkout");
    assert_eq!(pd["payload"]["timestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(
        pd["payload"]["custom_details"]["checks"][0]["status"],
        "down"
    );

    let og = by("/opsgenie/");
    assert_eq!(og["alias"], "shop/checkout#1");
    assert_eq!(og["priority"], "P1");
    assert_eq!(
        og["responders"],
        json!([{"type": "team", "name": "ops"}, {"type": "user", "username": "alice@example.com"}])
    );

    let ntfy = by("/ntfy/");
    assert_eq!(ntfy["topic"], "shop-alerts");
    assert_eq!(ntfy["priority"], 5);
    assert_eq!(ntfy["click"], "https://keepup.example/ack/7?sig=abc");

    let matrix_req = seen
        .iter()
        .find(|s| s.path.starts_with("/_matrix/"))
        .unwrap();
    assert_eq!(
        matrix_req.path,
        "/_matrix/client/v3/rooms/%21AbCdEf%3Aexample.org/send/m.room.message/keepup-1"
    );

    let hook = by("/hook/");
    assert_eq!(hook["dedup_key"], "shop/checkout#1");
    assert_eq!(hook["event"], "trigger");

    let sms: Vec<Value> = seen
        .iter()
        .filter(|s| s.path.starts_with("/sms/"))
        .map(|s| s.json.clone().unwrap())
        .collect();
    assert_eq!(sms.len(), 2);
    assert_eq!(sms[0]["to"], "+4915112345678");
    assert_eq!(sms[0]["text"], "PROBLEM: shop/checkout is DOWN");
}

#[tokio::test]
async fn paging_services_follow_the_incident_through_ack_and_resolve() {
    let rx = Receiver::http().await;
    let dir = secrets();
    let toml = every_channel(&rx.url(""));
    let ctx = HttpClientContext::builder().system_roots(false).build();
    let pd = channel(dir.path(), &toml, "pagerduty", &ctx);
    let og = channel(dir.path(), &toml, "opsgenie", &ctx);

    let mut ack = trigger("2", "shop/checkout#9");
    ack.event = Event::Acknowledge;
    for n in [
        trigger("1", "shop/checkout#9"),
        ack,
        resolve("3", "shop/checkout#9"),
    ] {
        pd.send(&n)
            .await
            .unwrap_or_else(|e| panic!("pagerduty {:?}: {e}", n.event));
        og.send(&n)
            .await
            .unwrap_or_else(|e| panic!("opsgenie {:?}: {e}", n.event));
    }
    let seen = rx.seen();
    let pd_actions: Vec<(String, String)> = seen
        .iter()
        .filter(|s| s.path.starts_with("/pagerduty/"))
        .map(|s| {
            let j = s.json.as_ref().unwrap();
            (
                j["event_action"].as_str().unwrap().to_owned(),
                j["dedup_key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        pd_actions,
        [
            ("trigger".to_owned(), "shop/checkout#9".to_owned()),
            ("acknowledge".to_owned(), "shop/checkout#9".to_owned()),
            ("resolve".to_owned(), "shop/checkout#9".to_owned()),
        ]
    );
    let og_calls: Vec<String> = seen
        .iter()
        .filter(|s| s.path.starts_with("/opsgenie/"))
        .map(|s| format!("{}?{}", s.path, s.query))
        .collect();
    assert_eq!(
        og_calls,
        [
            "/opsgenie/v2/alerts?",
            "/opsgenie/v2/alerts/shop%2Fcheckout%239/acknowledge?identifierType=alias",
            "/opsgenie/v2/alerts/shop%2Fcheckout%239/close?identifierType=alias",
        ]
    );
}

#[tokio::test]
async fn https_receivers_are_verified_against_the_configured_ca() {
    let (ca, leaf) = pki();
    let rx = Receiver::https(ServerTls::new(&leaf)).await;
    assert!(rx.url("").starts_with("https://"));
    let dir = secrets();
    let toml = every_channel(&rx.url(""));
    for id in ["slack", "pagerduty", "matrix"] {
        let c = channel(dir.path(), &toml, id, &ctx_trusting(&ca));
        c.send(&trigger("5", "k"))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    assert_eq!(rx.seen().len(), 3);

    // A client that does not trust the CA refuses, and will keep refusing.
    let stranger = keepup_testkit::pki::CertAuthority::new("stranger").unwrap();
    let c = channel(dir.path(), &toml, "slack", &ctx_trusting(&stranger));
    let e = c.send(&trigger("6", "k")).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(
        e.message.ends_with(
            ": the certificate for 127.0.0.1 is not issued by a certificate authority keepup trusts (self-signed or from a private CA?): add its CA to this machine's trusted certificates"
        ),
        "{e}"
    );
    assert_no_secret(&e.message);
    assert_eq!(
        rx.seen().len(),
        3,
        "a request was sent over an untrusted connection"
    );

    // A trusted certificate for another name: the names it holds are
    // listed as names, not as webpki's debug forms.
    let elsewhere = ca
        .issue(
            &["other.test", "192.0.2.7"],
            keepup_testkit::pki::validity::current(),
        )
        .unwrap();
    let wrong = Receiver::https(ServerTls::new(&elsewhere)).await;
    let c = channel(
        dir.path(),
        &every_channel(&wrong.url("")),
        "slack",
        &ctx_trusting(&ca),
    );
    let e = c.send(&trigger("7", "k")).await.unwrap_err();
    assert!(!e.retryable, "{e:?}");
    assert!(
        e.message.ends_with(
            ": the certificate is not valid for 127.0.0.1: it is for other.test, 192.0.2.7; use a certificate that names 127.0.0.1"
        ),
        "{e}"
    );
    assert!(wrong.seen().is_empty());
}

#[tokio::test]
async fn matrix_retries_are_idempotent() {
    let rx = Receiver::http().await;
    let dir = secrets();
    let ctx = HttpClientContext::builder().system_roots(false).build();
    let m = channel(dir.path(), &every_channel(&rx.url("")), "matrix", &ctx);
    let n = trigger("77", "k");
    let first = m.send(&n).await.unwrap();
    let again = m.send(&n).await.unwrap();
    assert_eq!(first, again, "a retry must not post a second event");
    let other = m.send(&trigger("78", "k")).await.unwrap();
    assert_ne!(first, other);
}

/// A receiver that answers every request with `status`, `headers` and
/// `body`.
async fn answering(
    status: u16,
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
) -> keepup_testkit::TestServer {
    keepup_testkit::TestServer::start(move |_req| async move {
        let mut r = keepup_testkit::http::json(status, body);
        for (k, v) in headers {
            r.headers_mut()
                .insert(*k, http::HeaderValue::from_static(v));
        }
        r
    })
    .await
    .unwrap()
}

/// A canned provider answer and how it must be classified.
type Case = (
    u16,
    &'static [(&'static str, &'static str)],
    &'static str,
    bool,
    Option<u64>,
    &'static str,
);

#[tokio::test]
async fn provider_errors_are_classified_and_never_show_secrets() {
    let dir = secrets();
    let ctx = HttpClientContext::builder().system_roots(false).build();
    // status, headers, body, retryable, retry-after, what the message says
    let cases: &[Case] = &[
        (
            429,
            &[("retry-after", "7")],
            r#"{"message":"You are being rate limited.","retry_after":7.5}"#,
            true,
            Some(7),
            "429",
        ),
        (500, &[], "internal", true, None, "500"),
        (503, &[("retry-after", "30")], "", true, Some(30), "503"),
        (408, &[], "", true, None, "408"),
        (
            400,
            &[],
            r#"{"message":"Invalid Form Body"}"#,
            false,
            None,
            "Invalid Form Body",
        ),
        (
            401,
            &[],
            r#"{"description":"Unauthorized"}"#,
            false,
            None,
            "401",
        ),
        (404, &[], "no_service", false, None, "no_service"),
        (
            410,
            &[],
            "channel_is_archived",
            false,
            None,
            "channel_is_archived",
        ),
        (
            301,
            &[("location", "https://elsewhere.example/")],
            "",
            false,
            None,
            "redirects are not followed",
        ),
    ];
    for (status, headers, body, retryable, after, says) in cases {
        let server = answering(*status, headers, body).await;
        let toml = every_channel(&server.url(""));
        for id in [
            "discord",
            "telegram",
            "slack",
            "pagerduty",
            "opsgenie",
            "ntfy",
            "matrix",
            "hook",
            "sms",
            "teams",
        ] {
            let c = channel(dir.path(), &toml, id, &ctx);
            let e = c.send(&trigger("1", "k")).await.unwrap_err();
            assert_eq!(e.retryable, *retryable, "{id} on {status}: {e:?}");
            assert!(e.message.contains(says), "{id} on {status}: {e}");
            assert!(e.message.contains("127.0.0.1"), "{id}: {e}");
            assert_no_secret(&e.message);
            assert_no_secret(&format!("{e:?}"));
            if let Some(secs) = after {
                assert_eq!(
                    e.retry_after.map(|d| d.as_secs()),
                    Some(*secs),
                    "{id} on {status}"
                );
            }
        }
    }
    // Provider-specific retry hints in the body.
    let server = answering(
        429,
        &[],
        r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 12","parameters":{"retry_after":12}}"#,
    )
    .await;
    let tg = channel(
        dir.path(),
        &every_channel(&server.url("")),
        "telegram",
        &ctx,
    );
    let e = tg.send(&trigger("1", "k")).await.unwrap_err();
    assert_eq!(e.retry_after, Some(Duration::from_secs(12)), "{e:?}");
    assert!(e.message.contains("Too Many Requests"), "{e}");
    let server = answering(
        429,
        &[],
        r#"{"errcode":"M_LIMIT_EXCEEDED","error":"Too many requests","retry_after_ms":2500}"#,
    )
    .await;
    let m = channel(dir.path(), &every_channel(&server.url("")), "matrix", &ctx);
    let e = m.send(&trigger("1", "k")).await.unwrap_err();
    assert_eq!(e.retry_after, Some(Duration::from_millis(2500)), "{e:?}");
    assert!(e.message.contains("M_LIMIT_EXCEEDED"), "{e}");
}

#[tokio::test]
async fn slow_dead_and_garbage_receivers_fail_retryably_and_in_time() {
    let dir = secrets();
    let ctx = HttpClientContext::builder().system_roots(false).build();

    // Slow: answers after the channel's timeout.
    let slow = keepup_testkit::TestServer::start(|_req| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        keepup_testkit::http::text(200, "ok")
    })
    .await
    .unwrap();
    let toml = every_channel(&slow.url("")).replace(
        "kind = \"slack\"\n",
        "kind = \"slack\"\ntimeout = \"300ms\"\n",
    );
    let c = channel(dir.path(), &toml, "slack", &ctx);
    let started = std::time::Instant::now();
    let e = c.send(&trigger("1", "k")).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(e.retryable, "{e:?}");
    assert!(e.message.contains("no answer within"), "{e}");
    assert_no_secret(&e.message);

    // A silent peer that accepts and never answers.
    let silent = HostileServer::start(Behaviour::Silent).await.unwrap();
    let base = format!("http://{}", silent.addr());
    let toml = every_channel(&base).replace(
        "kind = \"discord\"\n",
        "kind = \"discord\"\ntimeout = \"300ms\"\n",
    );
    let e = channel(dir.path(), &toml, "discord", &ctx)
        .send(&trigger("1", "k"))
        .await
        .unwrap_err();
    assert!(
        e.retryable && e.message.contains("no answer within"),
        "{e:?}"
    );

    // Not HTTP at all, and a peer that hangs up at once.
    for behaviour in [Behaviour::Garbage, Behaviour::CloseImmediately] {
        let peer = HostileServer::start(behaviour.clone()).await.unwrap();
        let toml = every_channel(&format!("http://{}", peer.addr()));
        for id in ["pagerduty", "telegram"] {
            let e = channel(dir.path(), &toml, id, &ctx)
                .send(&trigger("1", "k"))
                .await
                .unwrap_err();
            assert!(e.retryable, "{id} vs {behaviour:?}: {e:?}");
            assert_no_secret(&e.message);
        }
    }

    // Nobody listening.
    let toml = every_channel(&format!("http://127.0.0.1:{}", support::closed_port()));
    let e = channel(dir.path(), &toml, "ntfy", &ctx)
        .send(&trigger("1", "k"))
        .await
        .unwrap_err();
    assert!(e.retryable && e.message.contains("cannot connect"), "{e:?}");

    // A 2xx with a body that is not what the provider sends: delivered,
    // without a message id.
    let odd = answering(200, &[], "<html>surprise</html>").await;
    let d = channel(dir.path(), &every_channel(&odd.url("")), "discord", &ctx)
        .send(&trigger("1", "k"))
        .await
        .unwrap();
    assert_eq!(d.provider_id, None);
}

#[tokio::test]
async fn templates_and_headers_shape_the_generic_webhook_and_sms() {
    let rx = Receiver::http().await;
    let dir = secrets();
    secret_file(dir.path(), "hook-auth", "Bearer HOOKSECRET");
    let base = rx.url("");
    let toml = format!(
        r#"
[[channel]]
id = "hook"
kind = "webhook"
url = "{base}/custom/receiver"
method = "PUT"
headers = {{ "X-Incident" = "{{{{ dedup_key }}}}", "Authorization" = {{ value_file = "hook-auth" }}, "Content-Type" = "text/plain" }}
title_template = "{{{{ site | upper }}}}: {{{{ title }}}}"
template = "{{{{ event_word }}}} {{{{ checks | length }}}} check(s)"
body_template = "{{{{ title }}}} | {{{{ message }}}} | {{{{ severity }}}} | {{{{ duration or 'n/a' }}}}"

[[channel]]
id = "sms"
kind = "sms"
url = "{base}/sms/send"
to = ["+4915112345678"]
template = "{{{{ event_word }}}} {{{{ site }}}} - {{{{ title }}}} - {{{{ text }}}} {{{{ 'x' * 300 }}}}"
"#
    );
    let ctx = HttpClientContext::builder().system_roots(false).build();
    channel(dir.path(), &toml, "hook", &ctx)
        .send(&trigger("1", "shop/checkout#1"))
        .await
        .unwrap_err();
    // The custom path is unknown to the receiver (404): look at what came.
    let s = rx.seen().pop().unwrap();
    assert_eq!(s.method, "PUT");
    assert_eq!(s.headers["x-incident"], "shop/checkout#1");
    assert_eq!(s.headers["authorization"], "Bearer HOOKSECRET");
    assert_eq!(s.headers["content-type"], "text/plain");
    assert_eq!(
        std::str::from_utf8(&s.body).unwrap(),
        "shop/checkout is DOWN | PROBLEM 1 check(s) | critical | n/a"
    );

    channel(dir.path(), &toml, "sms", &ctx)
        .send(&trigger("1", "k"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let s = rx.seen().pop().unwrap();
    assert!(s.problem.is_none(), "{:?}", s.problem);
    let text = s.json.unwrap()["text"].as_str().unwrap().to_owned();
    assert_eq!(text.chars().count(), 160);
    assert!(
        text.starts_with("PROBLEM shop - shop/checkout is DOWN - Checkout answers"),
        "{text}"
    );
}

#[tokio::test]
async fn test_notifications_go_through_every_channel() {
    let rx = Receiver::http().await;
    let dir = secrets();
    let toml = every_channel(&rx.url(""));
    let ctx = HttpClientContext::builder().system_roots(false).build();
    let n = keepup_notify::test_notification("shop");
    for spec in support::channels(dir.path(), &toml) {
        keepup_notify::build(&spec, &ctx)
            .send(&n)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", spec.id));
    }
    for s in rx.seen() {
        assert!(s.problem.is_none(), "{}: {:?}", s.path, s.problem);
    }
    let seen = rx.seen();
    let pd = seen
        .iter()
        .find(|s| s.path.starts_with("/pagerduty/"))
        .unwrap();
    assert_eq!(pd.json.as_ref().unwrap()["payload"]["severity"], "info");
    assert_eq!(pd.json.as_ref().unwrap()["payload"]["source"], "shop");
}
