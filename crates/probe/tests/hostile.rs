//! HTTP probe against misbehaving peers: every case ends as a Down (or
//! Degraded) outcome with a code, within the timeout, with bounded memory.
//! The assertions are on status and code, never on timing.

mod support;

use std::time::Duration;

use keepup_config::{CheckSpec, ProbeSpec};
use keepup_model::Status;
use keepup_model::codes as c;
use keepup_probe::http;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use support::run;
use support::{check, closed_port, codes, ctx, http_spec};

const TIMEOUT: Duration = Duration::from_millis(1500);

async fn probe_hostile(behaviour: Behaviour) -> keepup_model::Outcome {
    let server = HostileServer::start(behaviour).await.unwrap();
    let spec = http_spec(&server.url("/"));
    run(
        &check(CheckSpec::Probe(ProbeSpec::Http(Box::new(spec))), TIMEOUT),
        &ctx(),
    )
    .await
}

#[tokio::test]
async fn endless_body_is_capped() {
    let server = HostileServer::start(Behaviour::EndlessBody).await.unwrap();
    let mut spec = http_spec(&server.url("/"));
    spec.max_body_bytes = 100_000;
    spec.assertions = vec![keepup_config::BodyAssertion::Contains("xxx".into())];
    let outcome = run(
        &check(
            CheckSpec::Probe(ProbeSpec::Http(Box::new(spec))),
            Duration::from_secs(20),
        ),
        &ctx(),
    )
    .await;
    assert_eq!(outcome.status, Status::Degraded, "{:?}", outcome.findings);
    assert_eq!(codes(&outcome), vec![c::HTTP_BODY_TOO_LARGE]);
    assert_eq!(outcome.evidence.details["body_bytes"], 100_000);
    assert_eq!(outcome.evidence.details["body_truncated"], true);
}

#[tokio::test]
async fn headers_forever_is_a_protocol_error() {
    let outcome = probe_hostile(Behaviour::EndlessHeaders).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_PROTOCOL_ERROR]);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    let outcome = probe_hostile(Behaviour::Silent).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::PROBE_TIMEOUT]);
    assert!(outcome.message.contains("1.5 s"), "{}", outcome.message);
    assert!(
        outcome.message.contains("response headers"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_byte_by_byte_server_times_out() {
    let outcome = probe_hostile(Behaviour::Trickle {
        interval: Duration::from_millis(20),
    })
    .await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::PROBE_TIMEOUT]);
}

#[tokio::test]
async fn a_huge_content_length_then_silence_times_out() {
    let outcome = probe_hostile(Behaviour::HugeContentLength).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::PROBE_TIMEOUT]);
    assert!(
        outcome.message.contains("reading the body"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn garbage_is_a_protocol_error() {
    let outcome = probe_hostile(Behaviour::Garbage).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_PROTOCOL_ERROR]);
}

#[tokio::test]
async fn immediate_close_is_reported() {
    let outcome = probe_hostile(Behaviour::CloseImmediately).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::HTTP_CONNECTION_CLOSED]);
}

#[tokio::test]
async fn an_invalid_name_does_not_resolve() {
    let spec = http_spec("http://shop.invalid/");
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::DNS_RESOLUTION_FAILED]);
    assert!(
        outcome.message.starts_with("shop.invalid does not resolve"),
        "{}",
        outcome.message
    );
}

#[tokio::test]
async fn a_refused_connection() {
    let spec = http_spec(&format!("http://127.0.0.1:{}/", closed_port()));
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::TCP_CONNECT_FAILED]);
    assert!(outcome.message.contains("refused"), "{}", outcome.message);
}

#[tokio::test]
async fn an_unsupported_scheme_is_unknown() {
    let spec = http_spec("ftp://127.0.0.1/");
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Unknown);
    assert_eq!(codes(&outcome), vec![c::PROBE_INVALID_TARGET]);
}
