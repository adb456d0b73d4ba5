//! Dependency chains against real HTTPS servers on loopback (testkit, with
//! its own CA), and vendor status pages in Atlassian Statuspage's format,
//! including status pages that misbehave.

mod support;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

use keepup_config::Check;
use keepup_model::codes as c;
use keepup_model::{Outcome, Severity, Status};
use keepup_probe::ProbeContext;
use keepup_testkit::hostile::{BadCert, Behaviour, HostileServer, bad_tls_server};
use keepup_testkit::http::{ServerTls, TestServer, json, text};
use keepup_testkit::pki::{CertAuthority, TempPem, validity};
use support::run;
use support::{closed_port, codes, has};

fn ctx() -> ProbeContext {
    ProbeContext::builder()
        .resolve_override("api.vendor.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .resolve_override("status.vendor.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .build()
}

struct Pki {
    root: CertAuthority,
    ca_file: TempPem,
}

fn pki() -> Pki {
    let root = CertAuthority::new("keepup chain test root").unwrap();
    Pki {
        ca_file: root.root_pem_file().unwrap(),
        root,
    }
}

/// The vendor's API: `/v1/health` answers `status` with `{"ok":true}`.
async fn api(pki: &Pki, status: u16) -> TestServer {
    let leaf = pki
        .root
        .issue(
            &["api.vendor.test", "status.vendor.test"],
            validity::current(),
        )
        .unwrap();
    TestServer::builder()
        .tls(ServerTls::new(&leaf))
        .start(move |req| async move {
            match req.uri().path() {
                "/v1/health" => json(status, r#"{"ok":true}"#),
                _ => text(404, "no such endpoint"),
            }
        })
        .await
        .unwrap()
}

/// A chain check from configuration text, through the real loader.
fn configured(keys: &str, timeout: &str) -> Check {
    let src = format!(
        "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"gateway\"\nkind = \"chain\"\ntimeout = \"{timeout}\"\n{keys}\n"
    );
    let mut config = keepup_config::load_str(&src, Path::new("test.toml"))
        .unwrap_or_else(|p| panic!("{p}\n{src}"));
    std::sync::Arc::unwrap_or_clone(config.sites.remove(0).checks.remove(0))
}

fn chain_keys(url: &str, pki: &Pki) -> String {
    format!(
        "url = \"{url}\"\ntls = {{ ca_file = \"{}\" }}",
        pki.ca_file.path().display()
    )
}

fn links(o: &Outcome) -> Vec<(String, String)> {
    o.evidence.details["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["link"].as_str().unwrap().to_owned(),
                l["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_working_chain_is_up_with_evidence_per_link() {
    let pki = pki();
    let server = api(&pki, 200).await;
    let url = server.url_with_host("api.vendor.test", "/v1/health");
    let check = configured(&chain_keys(&url, &pki), "5s");
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert!(
        o.findings.iter().all(|f| f.severity == Severity::Info),
        "{:?}",
        o.findings
    );
    assert_eq!(
        o.message,
        "the chain to api.vendor.test works: DNS, TLS and HTTP"
    );
    assert_eq!(
        links(&o),
        pairs(&[("dns", "up"), ("tls", "up"), ("http", "up")])
    );
    for l in o.evidence.details["links"].as_array().unwrap() {
        assert!(l["ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{l}");
    }
    assert_eq!(o.evidence.details["links"][0]["detail"][0], "127.0.0.1");
    assert_eq!(o.evidence.details["status_code"], 200);
    assert_eq!(o.evidence.details["tls"]["verification"], "ok");
    assert!(o.evidence.timing.as_ref().unwrap().tls_ms.is_some());
}

#[tokio::test]
async fn plain_http_and_ip_literals_skip_what_does_not_apply() {
    let server = TestServer::start(|_req| async { json(200, "{}") })
        .await
        .unwrap();
    let check = configured(&format!("url = \"{}\"", server.url("/ping")), "5s");
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    assert_eq!(o.message, "the chain to 127.0.0.1 works: DNS and HTTP");
    assert_eq!(
        links(&o),
        pairs(&[("dns", "skipped"), ("tls", "skipped"), ("http", "up")])
    );
}

#[tokio::test]
async fn a_name_that_does_not_resolve_breaks_at_dns() {
    let pki = pki();
    let check = configured(
        &chain_keys("https://api.nowhere.invalid/v1/health", &pki),
        "5s",
    );
    let o = run(&check, &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(
        codes(&o),
        vec![c::CHAIN_DNS_FAILED, c::DNS_RESOLUTION_FAILED]
    );
    assert!(o.message.starts_with("the chain to https://api.nowhere.invalid/v1/health breaks at DNS: api.nowhere.invalid does not resolve"), "{}", o.message);
    assert_eq!(
        links(&o),
        pairs(&[("dns", "down"), ("tls", "skipped"), ("http", "skipped")])
    );
}

#[tokio::test]
async fn a_bad_certificate_breaks_at_tls_and_nothing_is_sent() {
    let pki = pki();
    let server = bad_tls_server(BadCert::Expired, &pki.root, "api.vendor.test")
        .await
        .unwrap();
    let url = server.url_with_host("api.vendor.test", "/v1/health");
    let o = run(&configured(&chain_keys(&url, &pki), "5s"), &ctx()).await;
    assert_eq!(o.status, Status::Down, "{o:?}");
    assert_eq!(codes(&o), vec![c::CHAIN_TLS_FAILED, c::TLS_CERT_EXPIRED]);
    assert!(o.message.contains("breaks at TLS"), "{}", o.message);
    assert_eq!(
        links(&o),
        pairs(&[("dns", "up"), ("tls", "down"), ("http", "skipped")])
    );
    assert_eq!(server.requests(), 0);

    // A closed port: the TLS link cannot even connect.
    let url = format!("https://api.vendor.test:{}/v1/health", closed_port());
    let o = run(&configured(&chain_keys(&url, &pki), "5s"), &ctx()).await;
    assert_eq!(codes(&o), vec![c::CHAIN_TLS_FAILED, c::TCP_CONNECT_FAILED]);
}

#[tokio::test]
async fn an_error_answer_breaks_at_http() {
    let pki = pki();
    let server = api(&pki, 503).await;
    let url = server.url_with_host("api.vendor.test", "/v1/health");
    let o = run(&configured(&chain_keys(&url, &pki), "5s"), &ctx()).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(
        codes(&o),
        vec![c::CHAIN_HTTP_FAILED, c::HTTP_STATUS_UNEXPECTED]
    );
    assert!(
        o.message
            .ends_with("breaks at HTTP: HTTP 503 Service Unavailable, expected 200-299"),
        "{}",
        o.message
    );
    assert_eq!(
        links(&o),
        pairs(&[("dns", "up"), ("tls", "up"), ("http", "down")])
    );
    // The HTTP options of the check apply: 503 accepted.
    let keys = format!("{}\nexpect_status = [503]", chain_keys(&url, &pki));
    let o = run(&configured(&keys, "5s"), &ctx()).await;
    assert_eq!(o.status, Status::Up, "{o:?}");
}

// ---- vendor status pages ------------------------------------------------------

/// A summary in Atlassian Statuspage's documented `/api/v2/summary.json`
/// shape, with the given component statuses, incidents and indicator.
fn summary(components: &[(&str, &str)], incidents: &[&str], indicator: &str) -> String {
    let components: Vec<serde_json::Value> = components
        .iter()
        .enumerate()
        .map(|(i, (name, status))| {
            serde_json::json!({
                "id": format!("cmp{i:09}"),
                "name": name,
                "status": status,
                "created_at": "2025-01-10T09:00:00.000Z",
                "updated_at": "2026-06-01T11:58:11.000Z",
                "position": i + 1,
                "description": null,
                "showcase": true,
                "start_date": "2025-01-10",
                "group_id": null,
                "page_id": "vnd0page0001",
                "group": false,
                "only_show_if_degraded": false
            })
        })
        .collect();
    let incidents: Vec<serde_json::Value> = incidents
        .iter()
        .enumerate()
        .map(|(i, name)| {
            serde_json::json!({
                "id": format!("inc{i:09}"),
                "name": name,
                "status": "investigating",
                "impact": "major",
                "created_at": "2026-06-01T11:50:00.000Z",
                "updated_at": "2026-06-01T11:58:00.000Z",
                "monitoring_at": null,
                "resolved_at": null,
                "shortlink": "https://stspg.io/x1y2z3",
                "page_id": "vnd0page0001",
                "incident_updates": [{
                    "id": "upd000000001",
                    "incident_id": format!("inc{i:09}"),
                    "status": "investigating",
                    "body": "We are looking into elevated error rates.",
                    "created_at": "2026-06-01T11:50:00.000Z",
                    "display_at": "2026-06-01T11:50:00.000Z",
                    "updated_at": "2026-06-01T11:50:00.000Z"
                }]
            })
        })
        .collect();
    let description = match indicator {
        "none" => "All Systems Operational",
        "minor" => "Minor Service Outage",
        "major" => "Partial System Outage",
        _ => "Major System Outage",
    };
    serde_json::json!({
        "page": {
            "id": "vnd0page0001",
            "name": "Vendor Payments",
            "url": "https://status.vendor.test",
            "time_zone": "Etc/UTC",
            "updated_at": "2026-06-01T11:58:11.000Z"
        },
        "components": components,
        "incidents": incidents,
        "scheduled_maintenances": [],
        "status": { "indicator": indicator, "description": description }
    })
    .to_string()
}

/// A status page server answering `/api/v2/summary.json` with `body`.
async fn status_page(pki: &Pki, status: u16, body: String) -> TestServer {
    let leaf = pki
        .root
        .issue(&["status.vendor.test"], validity::current())
        .unwrap();
    let body = Arc::new(body);
    TestServer::builder()
        .tls(ServerTls::new(&leaf))
        .start(move |req| {
            let body = Arc::clone(&body);
            async move {
                match req.uri().path() {
                    "/api/v2/summary.json" => json(status, (*body).clone()),
                    _ => text(404, "not found"),
                }
            }
        })
        .await
        .unwrap()
}

/// Runs a working chain (or one answering `api_status`) with a status page
/// at `status_url` watching `components`.
async fn with_vendor(
    pki: &Pki,
    api_status: u16,
    status_url: &str,
    components: &str,
    timeout: &str,
) -> Outcome {
    let server = api(pki, api_status).await;
    let url = server.url_with_host("api.vendor.test", "/v1/health");
    let keys = format!(
        "{}\nstatus_page = \"{status_url}\"\n{components}",
        chain_keys(&url, pki)
    );
    run(&configured(&keys, timeout), &ctx()).await
}

#[tokio::test]
async fn an_operational_vendor_changes_nothing() {
    let pki = pki();
    let page = status_page(
        &pki,
        200,
        summary(
            &[("API", "operational"), ("Checkout", "operational")],
            &[],
            "none",
        ),
    )
    .await;
    let o = with_vendor(
        &pki,
        200,
        &page.url_with_host("status.vendor.test", ""),
        "components = [\"API\", \"checkout\"]",
        "5s",
    )
    .await;
    assert_eq!(o.status, Status::Up, "{o:?}");
    let vendor = &o.evidence.details["vendor"];
    assert_eq!(vendor["indicator"], "none");
    assert_eq!(vendor["status"], "up");
    assert_eq!(vendor["components"].as_array().unwrap().len(), 2);
    assert!(
        vendor["url"]
            .as_str()
            .unwrap()
            .ends_with("/api/v2/summary.json"),
        "{vendor}"
    );
}

#[tokio::test]
async fn a_vendor_outage_while_our_chain_works_is_degraded() {
    let pki = pki();
    let page = status_page(
        &pki,
        200,
        summary(
            &[
                ("API", "major_outage"),
                ("Checkout", "operational"),
                ("Dashboard", "partial_outage"),
            ],
            &["Elevated API error rates"],
            "major",
        ),
    )
    .await;
    let url = page.url_with_host("status.vendor.test", "");
    let o = with_vendor(
        &pki,
        200,
        &url,
        "components = [\"API\", \"Checkout\"]",
        "5s",
    )
    .await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::CHAIN_VENDOR_OUTAGE]);
    assert_eq!(
        o.message,
        "the vendor's status page reports an outage (API: major outage)"
    );
    assert_eq!(
        links(&o),
        pairs(&[("dns", "up"), ("tls", "up"), ("http", "up")])
    );
    let vendor = &o.evidence.details["vendor"];
    assert_eq!(vendor["incidents"][0]["name"], "Elevated API error rates");
    assert_eq!(vendor["status"], "down");

    // Degradation of a watched component, a component the page lacks.
    let page = status_page(
        &pki,
        200,
        summary(&[("API", "degraded_performance")], &[], "minor"),
    )
    .await;
    let url = page.url_with_host("status.vendor.test", "/api/v2/summary.json");
    let o = with_vendor(&pki, 200, &url, "components = [\"API\", \"Refunds\"]", "5s").await;
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(
        codes(&o),
        vec![c::CHAIN_VENDOR_DEGRADED, c::CHAIN_VENDOR_COMPONENT_MISSING]
    );

    // Without components the overall indicator counts.
    let page = status_page(
        &pki,
        200,
        summary(&[("API", "operational")], &[], "critical"),
    )
    .await;
    let o = with_vendor(
        &pki,
        200,
        &page.url_with_host("status.vendor.test", ""),
        "",
        "5s",
    )
    .await;
    assert_eq!(codes(&o), vec![c::CHAIN_VENDOR_OUTAGE]);

    // Our chain down and the vendor down: Down, with both.
    let page = status_page(&pki, 200, summary(&[("API", "major_outage")], &[], "major")).await;
    let url = page.url_with_host("status.vendor.test", "");
    let o = with_vendor(&pki, 502, &url, "components = [\"API\"]", "5s").await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(
        codes(&o),
        vec![
            c::CHAIN_HTTP_FAILED,
            c::HTTP_STATUS_UNEXPECTED,
            c::CHAIN_VENDOR_OUTAGE
        ]
    );
}

#[tokio::test]
async fn an_unreadable_status_page_is_a_finding_not_a_broken_chain() {
    let pki = pki();
    let cases: Vec<(u16, String, &str)> = vec![
        (
            200,
            "{\"status\": {\"indicator\": ".into(),
            "not valid JSON",
        ),
        (200, "[1, 2, 3]".into(), "not a Statuspage summary"),
        (
            200,
            "<html><body>Status</body></html>".into(),
            "not valid JSON",
        ),
        (500, summary(&[], &[], "none"), "HTTP 500"),
    ];
    for (status, body, why) in cases {
        let page = status_page(&pki, status, body).await;
        let url = page.url_with_host("status.vendor.test", "");
        let o = with_vendor(&pki, 200, &url, "components = [\"API\"]", "5s").await;
        assert_eq!(o.status, Status::Degraded, "{why}: {o:?}");
        assert_eq!(codes(&o), vec![c::CHAIN_STATUSPAGE_UNREADABLE], "{why}");
        assert!(o.message.contains(why), "{}", o.message);
        assert_eq!(
            links(&o),
            pairs(&[("dns", "up"), ("tls", "up"), ("http", "up")])
        );
    }
}

#[tokio::test]
async fn hostile_status_pages_cannot_break_the_chain() {
    let pki = pki();
    // An endless body: cut at the body limit, then unreadable.
    let endless = HostileServer::start(Behaviour::EndlessBody).await.unwrap();
    let o = with_vendor(&pki, 200, &endless.url("/status.json"), "", "5s").await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::CHAIN_STATUSPAGE_UNREADABLE]);
    assert!(o.message.contains("larger than"), "{}", o.message);

    // A status page that never answers: the chain's verdict still arrives
    // within the check's timeout, without a timeout of its own.
    let silent = HostileServer::start(Behaviour::Silent).await.unwrap();
    let o = with_vendor(&pki, 200, &silent.url("/status.json"), "", "2s").await;
    assert_eq!(o.status, Status::Degraded, "{o:?}");
    assert_eq!(codes(&o), vec![c::CHAIN_STATUSPAGE_UNREADABLE]);
    assert!(o.message.contains("no result within"), "{}", o.message);
    assert!(!has(&o, c::PROBE_TIMEOUT));
    assert_eq!(
        links(&o),
        pairs(&[("dns", "up"), ("tls", "up"), ("http", "up")])
    );

    let garbage = HostileServer::start(Behaviour::Garbage).await.unwrap();
    let o = with_vendor(&pki, 200, &garbage.url("/status.json"), "", "5s").await;
    assert_eq!(o.status, Status::Degraded);
    assert_eq!(codes(&o), vec![c::CHAIN_STATUSPAGE_UNREADABLE]);
}

#[tokio::test]
async fn huge_but_valid_summaries_are_read() {
    // 2,000 components (a large vendor): well under the body limit.
    let pki = pki();
    let many: Vec<(String, &str)> = (0..2000)
        .map(|i| (format!("Region {i}"), "operational"))
        .collect();
    let mut refs: Vec<(&str, &str)> = many.iter().map(|(n, s)| (n.as_str(), *s)).collect();
    refs.push(("API", "partial_outage"));
    let page = status_page(&pki, 200, summary(&refs, &[], "minor")).await;
    let url = page.url_with_host("status.vendor.test", "");
    let o = with_vendor(&pki, 200, &url, "components = [\"API\"]", "5s").await;
    assert_eq!(codes(&o), vec![c::CHAIN_VENDOR_DEGRADED], "{o:?}");
}
