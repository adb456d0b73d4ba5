//! Domain registration checks end to end, against in-process registries
//! that speak the real protocols on loopback: RDAP over HTTP (testkit's
//! `TestServer`, answers shaped like Verisign's and registro.br's) and
//! WHOIS over TCP (testkit's `WhoisResponder`, answers in each ccTLD
//! registry's layout). No test reaches anything but 127.0.0.1: the
//! bootstrap is either not refreshed or refreshed from a loopback server,
//! and the registries are given as `rdap_url` / `whois_server` or listed in
//! that loopback bootstrap. Assertions are on statuses, codes and
//! evidence, never on timing.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use keepup_config::{CheckSpec, DomainSettings, DomainSpec, ProbeSpec, WhoisServer};
use keepup_model::codes as c;
use keepup_model::{Outcome, Severity, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::http::{Request, Response, TestServer, redirect, text};
use keepup_testkit::whois::{Reply, WhoisResponder, samples};
use serde_json::json;
use support::run;
use support::{check, closed_port, codes, has};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TIMEOUT: Duration = Duration::from_secs(5);

// ---- helpers ---------------------------------------------------------------

fn settings() -> DomainSettings {
    DomainSettings {
        // Never used unless a test turns `refresh` on with its own URL.
        bootstrap_url: format!("http://127.0.0.1:{}/dns.json", closed_port())
            .parse()
            .unwrap(),
        refresh: false,
        refresh_interval: Duration::from_secs(86_400),
        cache: Duration::from_secs(12 * 3600),
        query_spacing: Duration::ZERO,
    }
}

fn spec(domain: &str) -> DomainSpec {
    DomainSpec {
        domain: domain.into(),
        warn_days: 30,
        critical_days: 7,
        rdap_url: None,
        whois_server: None,
        cache: Duration::from_secs(12 * 3600),
        settings: settings(),
    }
}

fn rdap_spec(domain: &str, base: &str) -> DomainSpec {
    DomainSpec {
        rdap_url: Some(base.parse().unwrap()),
        ..spec(domain)
    }
}

fn whois_spec(domain: &str, server: &WhoisResponder) -> DomainSpec {
    DomainSpec {
        whois_server: Some(WhoisServer {
            host: "127.0.0.1".into(),
            port: server.port(),
        }),
        ..spec(domain)
    }
}

async fn probe(spec: &DomainSpec, ctx: &ProbeContext) -> Outcome {
    probe_within(spec, ctx, TIMEOUT).await
}

async fn probe_within(spec: &DomainSpec, ctx: &ProbeContext, timeout: Duration) -> Outcome {
    run(
        &check(
            CheckSpec::Probe(ProbeSpec::Domain(Box::new(spec.clone()))),
            timeout,
        ),
        ctx,
    )
    .await
}

fn later(days: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + time::Duration::days(days)
}

/// `now + days` as RDAP writes it.
fn rfc3339(days: i64) -> String {
    later(days)
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap()
}

/// `now + days` as `YYYY<sep>MM<sep>DD`.
fn ymd(days: i64, sep: char) -> String {
    let t = later(days);
    format!(
        "{:04}{sep}{:02}{sep}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    )
}

fn detail<'a>(o: &'a Outcome, key: &str) -> &'a serde_json::Value {
    o.evidence
        .details
        .get(key)
        .unwrap_or_else(|| panic!("no evidence {key:?}: {:?}", o.evidence.details))
}

/// An RDAP answer shaped like Verisign's for .com.
fn verisign(domain: &str, expires: &str, status: &[&str]) -> String {
    json!({
        "objectClassName": "domain",
        "handle": "2138514_DOMAIN_COM-VRSN",
        "ldhName": domain.to_uppercase(),
        "links": [{
            "value": format!("https://rdap.verisign.com/com/v1/domain/{}", domain.to_uppercase()),
            "rel": "self",
            "href": format!("https://rdap.verisign.com/com/v1/domain/{}", domain.to_uppercase()),
            "type": "application/rdap+json"
        }],
        "status": status,
        "entities": [{
            "objectClassName": "entity",
            "handle": "9999",
            "roles": ["registrar"],
            "publicIds": [{"type": "IANA Registrar ID", "identifier": "9999"}],
            "vcardArray": ["vcard", [
                ["version", {}, "text", "4.0"],
                ["fn", {}, "text", "Example Registrar, Inc."]
            ]],
            "entities": [{
                "objectClassName": "entity",
                "roles": ["abuse"],
                "vcardArray": ["vcard", [
                    ["version", {}, "text", "4.0"],
                    ["fn", {}, "text", ""],
                    ["tel", {"type": "voice"}, "uri", "tel:+1.5555551234"],
                    ["email", {}, "text", "abuse@registrar.example"]
                ]]
            }]
        }],
        "events": [
            {"eventAction": "registration", "eventDate": "2003-08-13T16:35:12Z"},
            {"eventAction": "expiration", "eventDate": expires},
            {"eventAction": "last changed", "eventDate": "2025-07-02T09:12:44Z"},
            {"eventAction": "last update of RDAP database", "eventDate": "2026-11-21T19:50:25Z"}
        ],
        "secureDNS": {"delegationSigned": false},
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": "NS1.KEEPUP-HOSTING.COM"},
            {"objectClassName": "nameserver", "ldhName": "NS2.KEEPUP-HOSTING.COM"}
        ],
        "rdapConformance": [
            "rdap_level_0",
            "icann_rdap_technical_implementation_guide_1",
            "icann_rdap_response_profile_1"
        ],
        "notices": [{
            "title": "Terms of Use",
            "description": ["Service subject to Terms of Use."],
            "links": [{"href": "https://www.verisign.com/domain-names/registration-data-access-protocol/terms-service/index.xhtml", "type": "text/html"}]
        }]
    })
    .to_string()
}

/// An RDAP answer shaped like registro.br's (registry-direct, no
/// registrar entity, lowercase names).
fn registro_br(domain: &str, expires: &str) -> String {
    json!({
        "objectClassName": "domain",
        "handle": domain,
        "ldhName": domain,
        "status": ["active"],
        "entities": [{
            "objectClassName": "entity",
            "handle": "KEEPUP-LTDA",
            "roles": ["registrant"],
            "publicIds": [{"type": "cnpj", "identifier": "00.000.000/0001-00"}]
        }],
        "nameservers": [
            {"objectClassName": "nameserver", "ldhName": "a.dns.keepup-hosting.com.br"},
            {"objectClassName": "nameserver", "ldhName": "b.dns.keepup-hosting.com.br"}
        ],
        "events": [
            {"eventAction": "registration", "eventDate": "2010-03-15T12:00:00-03:00"},
            {"eventAction": "last changed", "eventDate": "2025-03-10T09:00:00-03:00"},
            {"eventAction": "expiration", "eventDate": expires}
        ],
        "rdapConformance": ["rdap_level_0", "registrobr_v1"],
        "port43": "whois.registro.br",
        "lang": "pt"
    })
    .to_string()
}

fn rdap_json(status: u16, body: String) -> Response {
    let mut r = text(status, body);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/rdap+json"),
    );
    r
}

fn bootstrap_json(services: serde_json::Value) -> String {
    json!({
        "description": "RDAP bootstrap file for Domain Name System registrations",
        "publication": "2026-11-01T18:00:02Z",
        "services": services,
        "version": "1.0"
    })
    .to_string()
}

// ---- RDAP ------------------------------------------------------------------

#[tokio::test]
async fn com_via_a_bootstrap_refreshed_from_loopback() {
    let expires = rfc3339(400);
    let answer = verisign("keepup-shop.com", &expires, &["client transfer prohibited"]);
    let server = Arc::new(std::sync::OnceLock::<String>::new());
    let base = Arc::clone(&server);
    let rdap = TestServer::start(move |req: Request| {
        let answer = answer.clone();
        let base = base.get().cloned().unwrap_or_default();
        async move {
            match req.uri().path() {
                "/dns.json" => text(
                    200,
                    bootstrap_json(json!([[["com", "net"], [format!("{base}/com/v1/")]]])),
                ),
                "/com/v1/domain/keepup-shop.com" => rdap_json(200, answer),
                _ => rdap_json(404, r#"{"errorCode":404,"title":"Not Found"}"#.into()),
            }
        }
    })
    .await
    .unwrap();
    server.set(rdap.url("")).unwrap();

    let mut spec = spec("keepup-shop.com");
    spec.settings.refresh = true;
    spec.settings.bootstrap_url = rdap.url("/dns.json").parse().unwrap();
    let ctx = ProbeContext::new();
    let o = probe(&spec, &ctx).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert!(o.findings.is_empty(), "{:?}", o.findings);
    let day = &expires[..10];
    assert_eq!(
        o.message,
        format!("keepup-shop.com is registered until {day}")
    );
    assert_eq!(detail(&o, "source"), "rdap");
    assert_eq!(detail(&o, "registrar"), "Example Registrar, Inc.");
    assert_eq!(
        detail(&o, "nameservers"),
        &json!(["ns1.keepup-hosting.com", "ns2.keepup-hosting.com"])
    );
    assert_eq!(detail(&o, "status"), &json!(["client transfer prohibited"]));
    assert_eq!(detail(&o, "registry_suffix"), "com");
    assert_eq!(
        detail(&o, "rdap_bootstrap")["origin"],
        rdap.url("/dns.json")
    );
    assert_eq!(detail(&o, "cached"), false);
    let asked: Vec<_> = rdap
        .received()
        .into_iter()
        .filter(|r| r.uri.path().starts_with("/com/"))
        .collect();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].headers["accept"], "application/rdap+json");

    // Within the cache duration, nobody is asked again.
    let again = probe(&spec, &ctx).await;
    assert_eq!(again.status, Status::Up);
    assert_eq!(again.message, o.message, "messages are stable run to run");
    assert_eq!(detail(&again, "cached"), true);
    assert_eq!(
        rdap.requests(),
        2,
        "one bootstrap and one RDAP request in all"
    );
}

#[tokio::test]
async fn nested_suffixes_take_the_longest_match_then_the_tld() {
    let expires = "2031-03-15T12:00:00-03:00".to_owned();
    let rdap = TestServer::start(move |req: Request| {
        let expires = expires.clone();
        async move {
            let path = req.uri().path().to_owned();
            match path.as_str() {
                "/combr/domain/loja-keepup.com.br" | "/br/domain/loja-keepup.net.br" => {
                    let domain = path.rsplit('/').next().unwrap_or_default();
                    rdap_json(200, registro_br(domain, &expires))
                }
                _ => rdap_json(404, "{}".into()),
            }
        }
    })
    .await
    .unwrap();
    let boot = rdap.url("");
    let bootstrap = TestServer::start(move |_req: Request| {
        let body = bootstrap_json(json!([
            [["br"], [format!("{boot}/br/")]],
            [["com.br"], [format!("{boot}/combr")]]
        ]));
        async move { text(200, body) }
    })
    .await
    .unwrap();
    let ctx = ProbeContext::new();
    for (domain, suffix) in [
        ("loja-keepup.com.br", "com.br"),
        ("loja-keepup.net.br", "br"),
    ] {
        let mut spec = spec(domain);
        spec.settings.refresh = true;
        spec.settings.bootstrap_url = bootstrap.url("/dns.json").parse().unwrap();
        let o = probe(&spec, &ctx).await;
        assert_eq!(o.status, Status::Up, "{domain}: {:?}", o.findings);
        assert_eq!(
            o.message,
            format!("{domain} is registered until 2031-03-15")
        );
        assert_eq!(detail(&o, "registry_suffix"), suffix);
        assert_eq!(detail(&o, "registrar"), &serde_json::Value::Null);
        assert_eq!(detail(&o, "status"), &json!(["active"]));
    }
    assert_eq!(
        bootstrap.requests(),
        1,
        "the bootstrap is fetched once per interval"
    );
    assert_eq!(rdap.requests(), 2);
}

/// An RDAP server at `/rdap/` answering every domain with `answer(domain)`.
async fn rdap_server<F>(answer: F) -> TestServer
where
    F: Fn(&str) -> Response + Send + Sync + 'static,
{
    let answer = Arc::new(answer);
    TestServer::start(move |req: Request| {
        let answer = Arc::clone(&answer);
        async move {
            match req.uri().path().strip_prefix("/rdap/domain/") {
                Some(domain) => answer(domain),
                None => rdap_json(400, "{}".into()),
            }
        }
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn thresholds_warning_critical_expired() {
    let server = rdap_server(|domain| {
        let days = match domain {
            "warn.com" => 20,
            "crit.com" => 3,
            "gone.com" => -2,
            _ => 365,
        };
        rdap_json(200, verisign(domain, &rfc3339(days), &["active"]))
    })
    .await;
    let base = server.url("/rdap/");
    let ctx = ProbeContext::new();

    let o = probe(&rdap_spec("warn.com", &base), &ctx).await;
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(codes(&o), vec![c::DOMAIN_EXPIRING]);
    assert_eq!(o.findings[0].severity, Severity::Warning);
    assert!(
        o.message.contains("within the 30-day warning threshold"),
        "{}",
        o.message
    );
    assert!(o.message.contains(&ymd(20, '-')), "{}", o.message);

    let o = probe(&rdap_spec("crit.com", &base), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DOMAIN_EXPIRING]);
    assert!(
        o.message.contains("within the 7-day critical threshold"),
        "{}",
        o.message
    );

    let o = probe(&rdap_spec("gone.com", &base), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DOMAIN_EXPIRED]);
    assert!(detail(&o, "days_left").as_f64().unwrap() < 0.0);

    let mut lenient = rdap_spec("warn.com", &base);
    lenient.warn_days = 10;
    lenient.critical_days = 1;
    let o = probe(&lenient, &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
}

#[tokio::test]
async fn hold_delete_and_redemption_statuses_are_findings() {
    let server = rdap_server(|domain| {
        let status: &[&str] = match domain {
            "held.com" => &["client hold", "server hold"],
            "deleting.com" => &["pending delete", "redemption period"],
            _ => &["active"],
        };
        rdap_json(200, verisign(domain, &rfc3339(200), status))
    })
    .await;
    let ctx = ProbeContext::new();
    let base = server.url("/rdap/");
    let o = probe(&rdap_spec("held.com", &base), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DOMAIN_ON_HOLD]);
    let o = probe(&rdap_spec("deleting.com", &base), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(
        codes(&o),
        vec![c::DOMAIN_PENDING_DELETE, c::DOMAIN_REDEMPTION_PERIOD]
    );
}

#[tokio::test]
async fn an_unregistered_domain_is_down() {
    let server = rdap_server(|_| {
        rdap_json(
            404,
            r#"{"errorCode":404,"title":"Not Found","description":["The requested object was not found."]}"#.into(),
        )
    })
    .await;
    let o = probe(
        &rdap_spec("nobody-registered-this.com", &server.url("/rdap/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DOMAIN_NOT_FOUND]);
}

#[tokio::test]
async fn a_404_page_that_is_not_rdap_is_not_a_free_domain() {
    // A wrong rdap_url: the web server's own 404 page.
    let server = TestServer::start(|_req: Request| async {
        keepup_testkit::http::html(404, "<html><body><h1>Not Found</h1></body></html>")
    })
    .await
    .unwrap();
    let o = probe(
        &rdap_spec("keepup-shop.com", &server.url("/wrong/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("HTTP 404"), "{}", o.message);
}

#[tokio::test]
async fn invalid_json_is_a_bad_response() {
    let server =
        rdap_server(|_| rdap_json(200, r#"{"objectClassName":"domain","events":["#.into())).await;
    let o = probe(
        &rdap_spec("keepup-shop.com", &server.url("/rdap/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_BAD_RESPONSE]);
    assert!(o.message.contains("not valid JSON"), "{}", o.message);
}

#[tokio::test]
async fn json_without_events_is_a_bad_response() {
    let server = rdap_server(|domain| {
        rdap_json(
            200,
            json!({"objectClassName": "domain", "ldhName": domain, "status": ["active"]})
                .to_string(),
        )
    })
    .await;
    let o = probe(
        &rdap_spec("keepup-shop.com", &server.url("/rdap/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_BAD_RESPONSE]);
    assert!(o.message.contains("no events"), "{}", o.message);
}

#[tokio::test]
async fn events_without_expiration_mean_no_expiry_published() {
    // Some registries (e.g. .nl) publish registration and changes only.
    let server = rdap_server(|domain| {
        rdap_json(
            200,
            json!({
                "objectClassName": "domain",
                "ldhName": domain,
                "status": ["active"],
                "events": [
                    {"eventAction": "registration", "eventDate": "2012-05-01T10:00:00Z"},
                    {"eventAction": "last changed", "eventDate": "2025-02-01T10:00:00Z"}
                ]
            })
            .to_string(),
        )
    })
    .await;
    let o = probe(
        &rdap_spec("keepup-shop.nl", &server.url("/rdap/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_NO_EXPIRY]);
    assert!(o.message.contains("registered 2012-05-01"), "{}", o.message);
    assert!(o.message.contains("status active"), "{}", o.message);
}

#[tokio::test]
async fn http_429_is_honoured_without_hammering() {
    let server = rdap_server(|_| {
        let mut r = rdap_json(
            429,
            r#"{"errorCode":429,"title":"Too Many Requests"}"#.into(),
        );
        r.headers_mut().insert(
            http::header::RETRY_AFTER,
            http::HeaderValue::from_static("3600"),
        );
        r
    })
    .await;
    let base = server.url("/rdap/");
    let ctx = ProbeContext::new();
    let o = probe(&rdap_spec("keepup-shop.com", &base), &ctx).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_RATE_LIMITED]);
    assert!(o.message.contains("429"), "{}", o.message);
    assert_eq!(server.requests(), 1);

    // The same domain again, and another domain of the same registry:
    // still rate-limited, and the server is not asked.
    let again = probe(&rdap_spec("keepup-shop.com", &base), &ctx).await;
    assert_eq!(codes(&again), vec![c::DOMAIN_RATE_LIMITED]);
    assert_eq!(again.message, o.message);
    let other = probe(&rdap_spec("other-shop.com", &base), &ctx).await;
    assert_eq!(other.status, Status::Unknown);
    assert_eq!(codes(&other), vec![c::DOMAIN_RATE_LIMITED]);
    assert_eq!(
        server.requests(),
        1,
        "no request while the Retry-After runs"
    );
}

#[tokio::test]
async fn a_slow_registry_is_unknown_not_down() {
    let server = TestServer::start(|_req: Request| async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        text(200, "{}")
    })
    .await
    .unwrap();
    let o = probe_within(
        &rdap_spec("keepup-shop.com", &server.url("/rdap/")),
        &ProbeContext::new(),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!(o.status, Status::Unknown, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("timeout"), "{}", o.message);
}

#[tokio::test]
async fn a_huge_body_is_refused_after_the_cap() {
    let server = rdap_server(|domain| {
        let padding = "x".repeat(3 * 1024 * 1024);
        rdap_json(
            200,
            json!({"objectClassName": "domain", "ldhName": domain, "remarks": [{"description": [padding]}]})
                .to_string(),
        )
    })
    .await;
    let o = probe(
        &rdap_spec("keepup-shop.com", &server.url("/rdap/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_BAD_RESPONSE]);
    assert!(o.message.contains("larger than 1024 KiB"), "{}", o.message);
}

#[tokio::test]
async fn an_endless_body_is_capped() {
    let hostile = keepup_testkit::hostile::HostileServer::start(
        keepup_testkit::hostile::Behaviour::EndlessBody,
    )
    .await
    .unwrap();
    let o = probe_within(
        &rdap_spec("keepup-shop.com", &hostile.url("/rdap/")),
        &ProbeContext::new(),
        Duration::from_secs(20),
    )
    .await;
    assert_eq!(o.status, Status::Unknown, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::DOMAIN_BAD_RESPONSE]);
}

#[tokio::test]
async fn server_errors_and_refused_connections_are_lookup_failures() {
    let server = rdap_server(|_| rdap_json(503, "{}".into())).await;
    let o = probe(
        &rdap_spec("keepup-shop.com", &server.url("/rdap/")),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("HTTP 503"), "{}", o.message);

    let closed = format!("http://127.0.0.1:{}/rdap/", closed_port());
    let o = probe(&rdap_spec("keepup-shop.com", &closed), &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("could not be asked"), "{}", o.message);
}

#[tokio::test]
async fn redirects_are_followed_and_bounded() {
    let expires = rfc3339(300);
    let server = TestServer::start(move |req: Request| {
        let expires = expires.clone();
        async move {
            let path = req.uri().path().to_owned();
            if let Some(domain) = path.strip_prefix("/front/domain/") {
                redirect(302, &format!("/registry/domain/{domain}"))
            } else if let Some(domain) = path.strip_prefix("/registry/domain/") {
                rdap_json(200, verisign(domain, &expires, &["active"]))
            } else if path.starts_with("/loop/") {
                redirect(302, &path)
            } else {
                rdap_json(404, "{}".into())
            }
        }
    })
    .await
    .unwrap();
    let ctx = ProbeContext::new();
    let o = probe(&rdap_spec("keepup-shop.com", &server.url("/front/")), &ctx).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert_eq!(
        detail(&o, "server"),
        &server.url("/registry/domain/keepup-shop.com")
    );
    let o = probe(&rdap_spec("keepup-shop.com", &server.url("/loop/")), &ctx).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("redirect"), "{}", o.message);
}

#[tokio::test]
async fn a_renewal_moves_the_date_forward_once_the_cache_expires() {
    let renewed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&renewed);
    let before = rfc3339(5);
    let after = rfc3339(370);
    let (b, a) = (before.clone(), after.clone());
    let server = rdap_server(move |domain| {
        let expires = if flag.load(Ordering::SeqCst) { &a } else { &b };
        rdap_json(200, verisign(domain, expires, &["active"]))
    })
    .await;
    let mut spec = rdap_spec("keepup-shop.com", &server.url("/rdap/"));
    spec.cache = Duration::from_millis(800);
    let ctx = ProbeContext::new();

    let o = probe(&spec, &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DOMAIN_EXPIRING]);

    // The shop renews; within the cache duration keepup still reports the
    // answer it has, without asking.
    renewed.store(true, Ordering::SeqCst);
    let o = probe(&spec, &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(server.requests(), 1);

    // Once the cache has expired, the next run sees the new date.
    tokio::time::sleep(Duration::from_millis(900)).await;
    let o = probe(&spec, &ctx).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert_eq!(
        o.message,
        format!("keepup-shop.com is registered until {}", &after[..10])
    );
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn an_earlier_answer_is_used_while_the_registry_fails() {
    let broken = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&broken);
    let expires = rfc3339(200);
    let server = rdap_server(move |domain| {
        if flag.load(Ordering::SeqCst) {
            rdap_json(503, "{}".into())
        } else {
            rdap_json(200, verisign(domain, &expires, &["active"]))
        }
    })
    .await;
    let mut spec = rdap_spec("keepup-shop.com", &server.url("/rdap/"));
    spec.cache = Duration::from_millis(500);
    let ctx = ProbeContext::new();
    let good = probe(&spec, &ctx).await;
    assert_eq!(good.status, Status::Up);

    broken.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let o = probe(&spec, &ctx).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert_eq!(o.findings[0].severity, Severity::Info);
    assert_eq!(o.message, good.message);
    assert_eq!(detail(&o, "stale"), true);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn concurrent_checks_of_one_domain_ask_once() {
    let server =
        rdap_server(|domain| rdap_json(200, verisign(domain, &rfc3339(200), &["active"]))).await;
    let spec = rdap_spec("keepup-shop.com", &server.url("/rdap/"));
    let ctx = ProbeContext::new();
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let (spec, ctx) = (spec.clone(), ctx.clone());
            tokio::spawn(async move { probe(&spec, &ctx).await })
        })
        .collect();
    for r in runs {
        assert_eq!(r.await.unwrap().status, Status::Up);
    }
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn rdap_failure_falls_back_to_the_configured_whois_server() {
    let rdap = rdap_server(|_| rdap_json(503, "{}".into())).await;
    let expires = ymd(200, '-');
    let whois = WhoisResponder::start(move |q| Reply::Text(samples::nic_it(q, &expires)))
        .await
        .unwrap();
    let mut spec = whois_spec("keepup-shop.it", &whois);
    spec.rdap_url = Some(rdap.url("/rdap/").parse().unwrap());
    let o = probe(&spec, &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert_eq!(detail(&o, "source"), "whois");
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert_eq!(o.findings[0].severity, Severity::Info);
    assert!(
        o.findings[0].text.contains("asking the WHOIS server"),
        "{}",
        o.findings[0].text
    );
    assert_eq!(rdap.requests(), 1);
    assert_eq!(whois.queries(), vec!["keepup-shop.it"]);
}

// ---- bootstrap and unsupported TLDs ----------------------------------------

#[tokio::test]
async fn a_tld_without_rdap_or_whois_parser_is_unsupported() {
    let o = probe(&spec("keepup-shop.zz"), &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_UNSUPPORTED]);
    assert!(o.message.contains(".zz"), "{}", o.message);
    assert_eq!(detail(&o, "rdap_bootstrap")["origin"], "bundled");
}

#[tokio::test]
async fn a_failed_bootstrap_refresh_falls_back_to_the_bundled_copy() {
    let bad = TestServer::start(|_req: Request| async { text(200, "<html>maintenance</html>") })
        .await
        .unwrap();
    for url in [
        bad.url("/dns.json"),
        format!("http://127.0.0.1:{}/dns.json", closed_port()),
    ] {
        let mut spec = spec("keepup-shop.zz");
        spec.settings.refresh = true;
        spec.settings.bootstrap_url = url.parse().unwrap();
        let o = probe(&spec, &ProbeContext::new()).await;
        assert_eq!(o.status, Status::Unknown);
        assert_eq!(
            codes(&o),
            vec![c::DOMAIN_BOOTSTRAP_STALE, c::DOMAIN_UNSUPPORTED],
            "{url}"
        );
        assert_eq!(o.findings[0].severity, Severity::Info);
        assert!(
            o.findings[0].text.contains("bundled copy"),
            "{}",
            o.findings[0].text
        );
    }
}

// ---- WHOIS per ccTLD ---------------------------------------------------------

/// One WHOIS responder answering like each registry, by the query's TLD.
async fn cctld_registry(expires_days: i64) -> WhoisResponder {
    let dash = ymd(expires_days, '-');
    let slash = ymd(expires_days, '/');
    WhoisResponder::start(move |query| {
        let domain = query
            .trim_start_matches("-T dn,ace ")
            .trim_end_matches("/e")
            .to_owned();
        let text = match domain.as_str() {
            "keepup-shop.de" => samples::denic(&domain),
            "free-shop.de" => samples::denic_free(&domain),
            "keepup-shop.eu" => samples::eurid(&domain),
            "free-shop.eu" => samples::eurid_available(&domain),
            "keepup-shop.it" => samples::nic_it(&domain, &dash),
            "held-shop.it" => samples::nic_it_with_status(&domain, &dash, "clientHold"),
            "dying-shop.it" => {
                samples::nic_it_with_status(&domain, &dash, "pendingDelete / redemptionPeriod")
            }
            "free-shop.it" => samples::nic_it_available(&domain),
            "keepup-shop.es" => samples::nic_es(&domain, &dash),
            "refused-shop.es" => samples::NIC_ES_REFUSED.to_owned(),
            "keepup-shop.ch" | "keepup-shop.li" => samples::switch(&domain),
            "free-shop.ch" => samples::SWITCH_NOT_FOUND.to_owned(),
            "keepup-shop.at" => samples::nic_at(&domain),
            "free-shop.at" => samples::NIC_AT_NOT_FOUND.to_owned(),
            "keepup-shop.be" => samples::dns_belgium(&domain),
            "quarantined-shop.be" => samples::dns_belgium_with_status(&domain, "QUARANTINE"),
            "keepup-shop.se" | "keepup-shop.nu" => samples::iis(&domain, &dash),
            "free-shop.se" => samples::iis_not_found(&domain),
            "keepup-shop.dk" => samples::punktum(&domain, &dash),
            "keepup-shop.jp" => samples::jprs(&domain, &slash),
            "japanese-shop.jp" => samples::jprs_japanese(&domain, &slash),
            "keepup-shop.co.jp" => samples::jprs_co_jp(&domain, &slash),
            "free-shop.jp" => samples::JPRS_NO_MATCH.to_owned(),
            _ => samples::no_match(&domain),
        };
        Reply::Text(text)
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn cctlds_that_publish_an_expiry_date() {
    let registry = cctld_registry(200).await;
    let ctx = ProbeContext::new();
    let day = ymd(200, '-');
    for domain in [
        "keepup-shop.it",
        "keepup-shop.es",
        "keepup-shop.se",
        "keepup-shop.nu",
        "keepup-shop.dk",
        "keepup-shop.jp",
        "japanese-shop.jp",
        "keepup-shop.co.jp",
    ] {
        let o = probe(&whois_spec(domain, &registry), &ctx).await;
        assert_eq!(o.status, Status::Up, "{domain}: {:?}", o.findings);
        assert_eq!(o.message, format!("{domain} is registered until {day}"));
        assert_eq!(detail(&o, "source"), "whois");
        let ns = detail(&o, "nameservers").as_array().unwrap();
        assert!(!ns.is_empty(), "{domain}: no name servers");
    }
    let o = probe(&whois_spec("keepup-shop.it", &registry), &ctx).await;
    assert_eq!(detail(&o, "registrar"), "Example Registrar S.p.A.");
    assert_eq!(detail(&o, "status"), &json!(["ok"]));
    let queries = registry.queries();
    assert!(
        queries.contains(&"keepup-shop.jp/e".to_owned()),
        "{queries:?}"
    );
    assert!(
        queries.contains(&"keepup-shop.dk".to_owned()),
        "{queries:?}"
    );
}

#[tokio::test]
async fn cctlds_that_publish_no_expiry_are_unknown_with_what_they_publish() {
    let registry = cctld_registry(200).await;
    let ctx = ProbeContext::new();
    for (domain, published) in [
        ("keepup-shop.de", "status connect"),
        ("keepup-shop.eu", "registrar Example Registrar GmbH"),
        ("keepup-shop.ch", "registered 2009-11-24"),
        ("keepup-shop.li", "registrar Example Registrar AG"),
        ("keepup-shop.at", "last changed 2024-01-15"),
        ("keepup-shop.be", "registered 2009-03-03"),
    ] {
        let o = probe(&whois_spec(domain, &registry), &ctx).await;
        assert_eq!(o.status, Status::Unknown, "{domain}: {:?}", o.findings);
        assert_eq!(codes(&o), vec![c::DOMAIN_NO_EXPIRY], "{domain}");
        assert!(
            o.message.contains("publishes no expiry date"),
            "{domain}: {}",
            o.message
        );
        assert!(o.message.contains(published), "{domain}: {}", o.message);
    }
    assert!(
        registry
            .queries()
            .contains(&"-T dn,ace keepup-shop.de".to_owned())
    );
}

#[tokio::test]
async fn cctld_not_found_answers_are_down() {
    let registry = cctld_registry(200).await;
    let ctx = ProbeContext::new();
    for domain in [
        "free-shop.de",
        "free-shop.eu",
        "free-shop.it",
        "free-shop.ch",
        "free-shop.at",
        "free-shop.se",
        "free-shop.jp",
    ] {
        let o = probe(&whois_spec(domain, &registry), &ctx).await;
        assert_eq!(o.status, Status::Down, "{domain}: {:?}", o.findings);
        assert_eq!(codes(&o), vec![c::DOMAIN_NOT_FOUND], "{domain}");
    }
}

#[tokio::test]
async fn cctld_statuses_and_refusals() {
    let registry = cctld_registry(200).await;
    let ctx = ProbeContext::new();
    let o = probe(&whois_spec("held-shop.it", &registry), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::DOMAIN_ON_HOLD]);
    let o = probe(&whois_spec("dying-shop.it", &registry), &ctx).await;
    assert_eq!(
        codes(&o),
        vec![c::DOMAIN_PENDING_DELETE, c::DOMAIN_REDEMPTION_PERIOD]
    );
    let o = probe(&whois_spec("quarantined-shop.be", &registry), &ctx).await;
    assert_eq!(o.status, Status::Down);
    assert!(has(&o, c::DOMAIN_REDEMPTION_PERIOD), "{:?}", o.findings);
    let o = probe(&whois_spec("refused-shop.es", &registry), &ctx).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(
        o.message.contains("authorised IP addresses"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn cctld_expiry_thresholds() {
    let registry = cctld_registry(12).await;
    let o = probe(
        &whois_spec("keepup-shop.se", &registry),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::DOMAIN_EXPIRING]);
}

// ---- WHOIS misbehaviour ------------------------------------------------------

#[tokio::test]
async fn whois_rate_limit_texts_back_off_per_server() {
    for (limit, domain, other) in [
        (samples::DENIC_LIMIT, "keepup-shop.de", "other-shop.de"),
        (samples::SWITCH_LIMIT, "keepup-shop.ch", "other-shop.ch"),
        (samples::NIC_AT_LIMIT, "keepup-shop.at", "other-shop.at"),
        (samples::PUNKTUM_LIMIT, "keepup-shop.dk", "other-shop.dk"),
        (samples::PIR_LIMIT, "keepup-shop.org", "other-shop.org"),
    ] {
        let server = WhoisResponder::start(move |_| Reply::Text(limit.to_owned()))
            .await
            .unwrap();
        let ctx = ProbeContext::new();
        let o = probe(&whois_spec(domain, &server), &ctx).await;
        assert_eq!(o.status, Status::Unknown, "{domain}: {:?}", o.findings);
        assert_eq!(codes(&o), vec![c::DOMAIN_RATE_LIMITED], "{domain}");
        assert!(o.message.contains("rate limit"), "{}", o.message);
        let o = probe(&whois_spec(other, &server), &ctx).await;
        assert_eq!(codes(&o), vec![c::DOMAIN_RATE_LIMITED], "{other}");
        assert_eq!(server.queries().len(), 1, "{domain}: backed off");
    }
}

#[tokio::test]
async fn a_silent_whois_server_times_out_as_unknown() {
    let server = WhoisResponder::start(|_| Reply::Silent).await.unwrap();
    let o = probe_within(
        &whois_spec("keepup-shop.it", &server),
        &ProbeContext::new(),
        Duration::from_millis(1500),
    )
    .await;
    assert_eq!(o.status, Status::Unknown, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("timeout"), "{}", o.message);
}

#[tokio::test]
async fn an_endless_whois_answer_is_cut_at_the_cap() {
    let server = WhoisResponder::start(|_| Reply::Endless).await.unwrap();
    let o = probe(&whois_spec("keepup-shop.it", &server), &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Unknown, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::DOMAIN_BAD_RESPONSE]);
    assert!(o.message.contains("64 KiB"), "{}", o.message);
}

#[tokio::test]
async fn a_whois_server_that_closes_at_once_is_a_lookup_failure() {
    let server = WhoisResponder::start(|_| Reply::Close).await.unwrap();
    let o = probe(&whois_spec("keepup-shop.es", &server), &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_LOOKUP_FAILED]);
    assert!(o.message.contains("without an answer"), "{}", o.message);
}

#[tokio::test]
async fn garbage_is_a_bad_response_not_a_healthy_domain() {
    let server = WhoisResponder::start(|_| {
        Reply::Text("<html><body>Service unavailable</body></html>\n".into())
    })
    .await
    .unwrap();
    let o = probe(&whois_spec("keepup-shop.it", &server), &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_BAD_RESPONSE]);
}

#[tokio::test]
async fn thin_registries_refer_to_the_registrar() {
    let expires = rfc3339(250);
    let registrar =
        WhoisResponder::start(move |q| Reply::Text(samples::registrar_record(q, &expires)))
            .await
            .unwrap();
    let referral = registrar.server();
    let registry = WhoisResponder::start(move |q| Reply::Text(samples::icann_thin(q, &referral)))
        .await
        .unwrap();
    let o = probe(
        &whois_spec("keepup-shop.com", &registry),
        &ProbeContext::new(),
    )
    .await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert_eq!(
        o.message,
        format!("keepup-shop.com is registered until {}", ymd(250, '-'))
    );
    assert_eq!(registry.queries(), vec!["keepup-shop.com"]);
    assert_eq!(registrar.queries(), vec!["keepup-shop.com"]);

    // A thick answer with its own expiry needs no referral.
    let thick_expires = rfc3339(300);
    let unused = WhoisResponder::start(|_| Reply::Close).await.unwrap();
    let unused_name = unused.server();
    let thick = WhoisResponder::start(move |q| {
        Reply::Text(samples::icann(q, &thick_expires, &unused_name))
    })
    .await
    .unwrap();
    let o = probe(&whois_spec("keepup-shop.com", &thick), &ProbeContext::new()).await;
    assert_eq!(o.status, Status::Up, "{:?}", o.findings);
    assert_eq!(detail(&o, "registrar"), "Example Registrar, Inc.");
    assert!(unused.queries().is_empty());
}

#[tokio::test]
async fn queries_to_one_server_are_spaced() {
    let asked = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&asked);
    let expires = ymd(200, '-');
    let server = WhoisResponder::start(move |q| {
        count.fetch_add(1, Ordering::SeqCst);
        Reply::Text(samples::iis(q, &expires))
    })
    .await
    .unwrap();
    let ctx = ProbeContext::new();
    let mut a = whois_spec("first-shop.se", &server);
    a.settings.query_spacing = Duration::from_millis(300);
    let mut b = whois_spec("second-shop.se", &server);
    b.settings.query_spacing = Duration::from_millis(300);
    assert_eq!(probe(&a, &ctx).await.status, Status::Up);
    assert_eq!(probe(&b, &ctx).await.status, Status::Up);
    assert_eq!(asked.load(Ordering::SeqCst), 2);

    // A spacing longer than the run leaves no slot: Unknown, not cached.
    let mut c = whois_spec("third-shop.se", &server);
    c.settings.query_spacing = Duration::from_secs(3600);
    assert_eq!(probe(&c, &ctx).await.status, Status::Up);
    let mut d = whois_spec("fourth-shop.se", &server);
    d.settings.query_spacing = Duration::from_secs(3600);
    let o = probe_within(&d, &ctx, Duration::from_secs(1)).await;
    assert_eq!(o.status, Status::Unknown);
    assert_eq!(codes(&o), vec![c::DOMAIN_RATE_LIMITED]);
    assert!(o.message.contains("no free slot"), "{}", o.message);
    assert_eq!(asked.load(Ordering::SeqCst), 3);
}
