//! HTTPS: certificate analysis merged into the HTTP outcome, and no request
//! sent to a server whose certificate fails verification.

mod support;

use keepup_model::Status;
use keepup_model::codes as c;
use keepup_probe::http;
use keepup_testkit::hostile::{BadCert, bad_tls_server};
use keepup_testkit::http::{ServerTls, TestServer, text};
use keepup_testkit::pki::{CertAuthority, TempPem, validity};
use support::{codes, ctx, has, http_spec, only_info};

struct Pki {
    root: CertAuthority,
    ca_file: TempPem,
}

fn pki() -> Pki {
    let root = CertAuthority::new("keepup test root").unwrap();
    let ca_file = root.root_pem_file().unwrap();
    Pki { root, ca_file }
}

async fn https_server(tls: ServerTls) -> TestServer {
    TestServer::builder()
        .tls(tls)
        .start(|_req| async { text(200, "secure shop") })
        .await
        .unwrap()
}

fn spec_for(server: &TestServer, pki: &Pki) -> keepup_config::HttpSpec {
    let mut spec = http_spec(&server.url_with_host("shop.test", "/"));
    spec.tls.ca_file = Some(pki.ca_file.path().to_owned());
    spec
}

#[tokio::test]
async fn trusted_through_a_custom_ca_with_certificate_evidence() {
    let pki = pki();
    let leaf = pki
        .root
        .issue(&["shop.test", "127.0.0.1"], validity::current())
        .unwrap();
    let server = https_server(ServerTls::new(&leaf)).await;
    let outcome = http::probe(&spec_for(&server, &pki), &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert!(only_info(&outcome), "{:?}", outcome.findings);
    assert_eq!(outcome.message, "HTTP 200 OK");
    let details = &outcome.evidence.details;
    assert_eq!(details["verification"], "ok");
    assert_eq!(details["tls"]["alpn"], "http/1.1");
    assert!(
        details["tls"]["protocol"]
            .as_str()
            .unwrap()
            .starts_with("TLS 1.")
    );
    let certs = details["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert!(certs[0]["subject"].as_str().unwrap().contains("shop.test"));
    assert_eq!(certs[0]["sans"][0], "DNS:shop.test");
    assert!(certs[0]["days_left"].as_f64().unwrap() > 89.0);
    assert_eq!(certs[0]["key_type"], "ECDSA P-256");
    let timing = outcome.evidence.timing.as_ref().unwrap();
    assert!(timing.tls_ms.is_some() && timing.dns_ms.is_some());
    assert_eq!(server.requests(), 1);

    // The IP SAN makes the IP-literal URL valid too.
    let mut spec = spec_for(&server, &pki);
    spec.url = server.url("/").parse().unwrap();
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
}

async fn refused(kind: BadCert, code: &str) {
    let pki = pki();
    let server = bad_tls_server(kind, &pki.root, "shop.test").await.unwrap();
    let outcome = http::probe(&spec_for(&server, &pki), &ctx()).await;
    assert_eq!(
        outcome.status,
        Status::Down,
        "{kind:?}: {:?}",
        outcome.findings
    );
    assert!(has(&outcome, code), "{kind:?}: {:?}", outcome.findings);
    assert_eq!(
        server.requests(),
        0,
        "{kind:?}: a request reached a server that failed verification"
    );
    assert!(outcome.evidence.details["certificates"].is_array());
    assert_ne!(outcome.evidence.details["verification"], "ok");
}

#[tokio::test]
async fn expired_certificate_blocks_the_request() {
    refused(BadCert::Expired, c::TLS_CERT_EXPIRED).await;
}

#[tokio::test]
async fn not_yet_valid_certificate_blocks_the_request() {
    refused(BadCert::NotYetValid, c::TLS_CERT_NOT_YET_VALID).await;
}

#[tokio::test]
async fn wrong_hostname_blocks_the_request() {
    refused(BadCert::WrongHost, c::TLS_HOSTNAME_MISMATCH).await;
}

#[tokio::test]
async fn self_signed_blocks_the_request() {
    refused(BadCert::SelfSigned, c::TLS_CHAIN_UNTRUSTED).await;
}

#[tokio::test]
async fn missing_intermediate_is_incomplete() {
    refused(BadCert::MissingIntermediate, c::TLS_CHAIN_INCOMPLETE).await;
}

#[tokio::test]
async fn depth_three_chain_with_intermediate_is_up() {
    let pki = pki();
    let inter = pki.root.intermediate("keepup test issuing CA").unwrap();
    let leaf = inter.issue(&["shop.test"], validity::current()).unwrap();
    let server = https_server(ServerTls::new(&leaf)).await;
    let outcome = http::probe(&spec_for(&server, &pki), &ctx()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    let certs = outcome.evidence.details["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    assert!(certs[1]["subject"].as_str().unwrap().contains("issuing CA"));
    assert_eq!(certs[1]["is_ca"], true);
}

#[tokio::test]
async fn verify_false_reports_info_and_proceeds() {
    let pki = pki();
    for kind in [BadCert::Expired, BadCert::SelfSigned, BadCert::WrongHost] {
        let server = bad_tls_server(kind, &pki.root, "shop.test").await.unwrap();
        let mut spec = spec_for(&server, &pki);
        spec.tls.verify = false;
        let outcome = http::probe(&spec, &ctx()).await;
        assert_eq!(
            outcome.status,
            Status::Up,
            "{kind:?}: {:?}",
            outcome.findings
        );
        assert!(!outcome.findings.is_empty(), "{kind:?}");
        assert!(only_info(&outcome), "{kind:?}: {:?}", outcome.findings);
        assert_eq!(server.requests(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn expiring_certificate_degrades_but_the_request_is_sent() {
    let pki = pki();
    let leaf = pki
        .root
        .issue(
            &["shop.test"],
            validity::lifetime_with_remaining(398.0, 20.0),
        )
        .unwrap();
    let server = https_server(ServerTls::new(&leaf)).await;
    let outcome = http::probe(&spec_for(&server, &pki), &ctx()).await;
    assert_eq!(outcome.status, Status::Degraded, "{:?}", outcome.findings);
    assert!(has(&outcome, c::TLS_CERT_EXPIRING));
    assert_eq!(server.requests(), 1);
}

#[tokio::test]
async fn https_to_a_plain_http_server_fails_the_handshake() {
    let server = TestServer::start(|_req| async { text(200, "plain") })
        .await
        .unwrap();
    let spec = http_spec(&format!("https://127.0.0.1:{}/", server.port()));
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::TLS_HANDSHAKE_FAILED]);
}

#[tokio::test]
async fn an_unreadable_ca_file_is_unknown() {
    let pki = pki();
    let leaf = pki.root.issue(&["shop.test"], validity::current()).unwrap();
    let server = https_server(ServerTls::new(&leaf)).await;
    let mut spec = spec_for(&server, &pki);
    spec.tls.ca_file = Some("/nonexistent/keepup/ca.pem".into());
    let outcome = http::probe(&spec, &ctx()).await;
    assert_eq!(outcome.status, Status::Unknown);
    assert!(has(&outcome, c::TLS_CA_FILE_INVALID));
    assert_eq!(server.requests(), 0);
}
