//! HTTP probe against well-behaved testkit servers: assertions, status,
//! latency, redirects, credentials.

mod support;

use std::time::Duration;

use keepup_config::{BasicAuth, BodyAssertion, JsonAssertion, JsonExpect, Secret, StatusRange};
use keepup_model::codes as c;
use keepup_model::{Severity, Status};
use keepup_probe::http;
use keepup_testkit::http::{TestServer, json, redirect, text};
use regex::Regex;
use serde_json::json as j;
use support::{codes, ctx, has, http_spec};

const SHOP_JSON: &str = r#"{"status":"ok","stock":3,"open":true,"items":[{"sku":"A-1"}]}"#;

async fn shop() -> TestServer {
    TestServer::start(|req| async move {
        match req.uri().path() {
            "/api" => json(200, SHOP_JSON),
            "/html" => text(200, "<h1>Welcome to the shop</h1>"),
            "/gone" => text(404, "no such product"),
            "/broken" => text(500, "stack trace"),
            "/binary" => {
                let mut body = vec![0xff, 0xfe, 0x00, 0x80];
                body.extend_from_slice(b" needle \xc3");
                text(200, body)
            }
            "/echo" => text(
                200,
                format!("{} {}", req.method(), String::from_utf8_lossy(req.body())),
            ),
            _ => text(404, ""),
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn passing_keyword_regex_and_json_assertions() {
    let server = shop().await;
    let mut spec = http_spec(&server.url("/api"));
    spec.assertions = vec![
        BodyAssertion::Contains("\"status\"".into()),
        BodyAssertion::NotContains("error".into()),
        BodyAssertion::Matches(Regex::new(r#""stock":\s*\d+"#).unwrap()),
        BodyAssertion::NotMatches(Regex::new("maintenance|outage").unwrap()),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/status".into(),
            expect: JsonExpect::Equals(j!("ok")),
        }),
        // A string in the spec equals a JSON number or bool with that text.
        BodyAssertion::Json(JsonAssertion {
            pointer: "/stock".into(),
            expect: JsonExpect::Equals(j!("3")),
        }),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/open".into(),
            expect: JsonExpect::Equals(j!("true")),
        }),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/items/0/sku".into(),
            expect: JsonExpect::Present,
        }),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/error".into(),
            expect: JsonExpect::Absent,
        }),
    ];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{outcome:#?}");
    assert!(outcome.findings.is_empty(), "{:?}", outcome.findings);
    assert_eq!(outcome.message, "HTTP 200 OK");
    let details = &outcome.evidence.details;
    assert_eq!(details["status_code"], 200);
    assert_eq!(details["http_version"], "HTTP/1.1");
    assert_eq!(details["headers"]["content-type"], "application/json");
    assert_eq!(details["body_bytes"], SHOP_JSON.len());
    assert_eq!(details["remote_address"], server.addr().to_string());
    assert_eq!(details["final_url"], server.url("/api"));
    let timing = outcome.evidence.timing.as_ref().unwrap();
    assert!(timing.dns_ms.is_none(), "an IP literal needs no DNS");
    assert!(timing.connect_ms.is_some() && timing.first_byte_ms.is_some());
    assert!(timing.tls_ms.is_none());
    assert!(timing.total_ms.is_some());
    assert!(outcome.latency_ms > 0.0);
}

#[tokio::test]
async fn failing_assertions_each_have_their_code() {
    let server = shop().await;
    let mut spec = http_spec(&server.url("/api"));
    spec.assertions = vec![
        BodyAssertion::Contains("in stock".into()),
        BodyAssertion::NotContains("status".into()),
        BodyAssertion::Matches(Regex::new(r"price: \d+").unwrap()),
        BodyAssertion::NotMatches(Regex::new(r#""open":\s*true"#).unwrap()),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/stock".into(),
            expect: JsonExpect::Equals(j!(4)),
        }),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/status".into(),
            expect: JsonExpect::Absent,
        }),
    ];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(
        codes(&outcome),
        vec![
            c::HTTP_KEYWORD_MISSING,
            c::HTTP_KEYWORD_PRESENT,
            c::HTTP_REGEX_NO_MATCH,
            c::HTTP_REGEX_MATCHED,
            c::HTTP_JSON_MISMATCH,
            c::HTTP_JSON_MISMATCH,
        ]
    );
    assert_eq!(outcome.message, "the body does not contain \"in stock\"");
    assert_eq!(outcome.findings[4].text, "JSON pointer /stock is not 4");
    // The value found is evidence, not part of the (deduplicated) text.
    let found = &outcome.evidence.details["json_mismatches"];
    assert_eq!(found[0]["pointer"], "/stock");
    assert_eq!(found[0]["found"], "3");
}

#[tokio::test]
async fn json_assertion_on_a_non_json_body() {
    let server = shop().await;
    let mut spec = http_spec(&server.url("/html"));
    spec.assertions = vec![
        BodyAssertion::Contains("Welcome".into()),
        BodyAssertion::Json(JsonAssertion {
            pointer: "/status".into(),
            expect: JsonExpect::Present,
        }),
    ];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_JSON_INVALID]);
}

#[tokio::test]
async fn non_utf8_body_is_searched_lossily() {
    let server = shop().await;
    let mut spec = http_spec(&server.url("/binary"));
    spec.assertions = vec![
        BodyAssertion::Contains("needle".into()),
        BodyAssertion::Matches(Regex::new(r"\bneedle\b").unwrap()),
    ];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
}

#[tokio::test]
async fn status_is_judged_against_expect_status() {
    let server = shop().await;
    let outcome = http::probe(&http_spec(&server.url("/broken")), &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_STATUS_UNEXPECTED]);
    assert_eq!(
        outcome.message,
        "HTTP 500 Internal Server Error, expected 200-299"
    );

    let mut spec = http_spec(&server.url("/gone"));
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    spec.expect_status = vec![
        StatusRange {
            low: 200,
            high: 204,
        },
        StatusRange {
            low: 404,
            high: 404,
        },
    ];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert_eq!(outcome.message, "HTTP 404 Not Found");
}

#[tokio::test]
async fn latency_thresholds() {
    let server = TestServer::start(|_req| async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        text(200, "slow but fine")
    })
    .await
    .unwrap();
    let mut spec = http_spec(&server.url("/"));
    spec.degraded_latency = Some(Duration::from_millis(100));
    spec.down_latency = Some(Duration::from_secs(20));
    let first = http::probe(&spec, &ctx()).await;
    assert_eq!(first.status, Status::Degraded);
    assert_eq!(codes(&first), vec![c::HTTP_LATENCY_HIGH]);
    let second = http::probe(&spec, &ctx()).await;
    // The message names the threshold, not the measurement, so it repeats.
    assert_eq!(first.message, second.message);
    assert_eq!(
        first.message,
        "the response took longer than the 100 ms degraded threshold"
    );

    spec.down_latency = Some(Duration::from_millis(150));
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_LATENCY_CRITICAL]);

    spec.degraded_latency = Some(Duration::from_secs(10));
    spec.down_latency = Some(Duration::from_secs(20));
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up);
}

async fn redirecting_server() -> TestServer {
    TestServer::start(|req| async move {
        let path = req.uri().path().to_owned();
        match path.as_str() {
            "/start" => redirect(302, "/shop/list"),
            "/shop/list" => redirect(301, "../landing?from=list"),
            "/landing" => text(200, format!("landed {}", req.uri().query().unwrap_or(""))),
            "/loop/a" => redirect(307, "/loop/b"),
            "/loop/b" => redirect(307, "a"),
            "/post" => redirect(303, "/echo"),
            "/echo" => text(200, format!("{} {}", req.method(), req.body().len())),
            _ => match path
                .strip_prefix("/hop/")
                .and_then(|n| n.parse::<u32>().ok())
            {
                Some(n) => redirect(302, &format!("/hop/{}", n + 1)),
                None => text(404, ""),
            },
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn redirects_are_followed_including_relative_ones() {
    let server = redirecting_server().await;
    let mut spec = http_spec(&server.url("/start"));
    spec.assertions = vec![BodyAssertion::Contains("landed from=list".into())];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    let details = &outcome.evidence.details;
    assert_eq!(details["final_url"], server.url("/landing?from=list"));
    let redirects = details["redirects"].as_array().unwrap();
    assert_eq!(redirects.len(), 2);
    assert_eq!(redirects[0]["status"], 302);
    assert_eq!(redirects[1]["location"], "../landing?from=list");
    assert_eq!(server.requests(), 3);
}

#[tokio::test]
async fn redirects_not_followed_are_judged_as_status() {
    let server = redirecting_server().await;
    let mut spec = http_spec(&server.url("/start"));
    spec.follow_redirects = false;
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_STATUS_UNEXPECTED]);
    spec.expect_status = vec![StatusRange {
        low: 300,
        high: 399,
    }];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up);
    assert_eq!(
        outcome.evidence.details["headers"]["location"],
        "/shop/list"
    );
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn redirect_loop_and_too_many_redirects() {
    let server = redirecting_server().await;
    let outcome = http::probe(&http_spec(&server.url("/loop/a")), &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_REDIRECT_LOOP]);

    let before = server.requests();
    let mut spec = http_spec(&server.url("/hop/0"));
    spec.max_redirects = 3;
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_TOO_MANY_REDIRECTS]);
    assert_eq!(
        outcome.message,
        format!("more than 3 redirects starting from {}", spec.url)
    );
    // The start, three followed hops, and the fourth redirect that was refused.
    assert_eq!(server.requests() - before, 4);
}

#[tokio::test]
async fn post_body_and_303_becomes_get() {
    let server = redirecting_server().await;
    let mut spec = http_spec(&server.url("/echo"));
    spec.method = ::http::Method::POST;
    spec.body = Some("{\"q\":1}".into());
    spec.assertions = vec![BodyAssertion::Contains("POST 7".into())];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);

    spec.url = server.url("/post").parse().unwrap();
    spec.assertions = vec![BodyAssertion::Contains("GET 0".into())];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
}

#[tokio::test]
async fn credentials_go_to_the_origin_only_and_never_into_the_outcome() {
    let elsewhere = TestServer::start(|_req| async { text(200, "other origin") })
        .await
        .unwrap();
    let target = elsewhere.url("/landing");
    let origin = TestServer::start(move |req| {
        let target = target.clone();
        async move {
            match req.uri().path() {
                "/away" => redirect(302, &target),
                _ => text(200, "home"),
            }
        }
    })
    .await
    .unwrap();

    let mut spec = http_spec(&origin.url("/"));
    spec.basic_auth = Some(BasicAuth {
        username: "user".into(),
        password: Secret::new("s3cret".into()),
    });
    spec.headers = vec![
        (
            ::http::header::HeaderName::from_static("x-shop"),
            ::http::HeaderValue::from_static("demo"),
        ),
        (
            ::http::header::COOKIE,
            ::http::HeaderValue::from_static("session=abc"),
        ),
    ];
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up);
    let seen = &origin.received()[0].headers;
    // base64("user:s3cret")
    assert_eq!(seen["authorization"], "Basic dXNlcjpzM2NyZXQ=");
    assert_eq!(seen["user-agent"], "keepup-test/1");
    assert_eq!(seen["x-shop"], "demo");
    assert_eq!(seen["cookie"], "session=abc");
    let serialized = serde_json::to_string(&outcome).unwrap();
    assert!(!serialized.contains("s3cret") && !serialized.contains("dXNlcjpzM2NyZXQ"));

    spec.url = origin.url("/away").parse().unwrap();
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    let seen = &elsewhere.received()[0].headers;
    assert!(seen.get("authorization").is_none());
    assert!(seen.get("cookie").is_none());
    assert_eq!(seen["x-shop"], "demo");
}

#[tokio::test]
async fn names_resolve_through_the_context_override() {
    let server = shop().await;
    let spec = http_spec(&server.url_with_host("shop.test", "/html"));
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert!(outcome.evidence.timing.as_ref().unwrap().dns_ms.is_some());
    let seen = &server.received()[0].headers;
    assert_eq!(seen["host"], format!("shop.test:{}", server.port()));
    // No finding at all means no Info noise either.
    assert!(
        outcome
            .findings
            .iter()
            .all(|f| f.severity != Severity::Info)
    );
    assert!(!has(&outcome, c::DNS_RESOLUTION_FAILED));
}
