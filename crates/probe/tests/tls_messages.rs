//! What a person reads when a TLS check fails: one sentence per known
//! refusal (keepup_trust::explain), never rustls's debug structures, with
//! the verifier's raw words kept in the evidence. Every server is a real
//! rustls server (or a raw peer sending a real TLS alert) on loopback,
//! presenting certificates from the test PKI.

mod support;

use keepup_model::codes as c;
use keepup_model::{Outcome, Status};
use keepup_probe::tls;
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::http::{ServerTls, TestServer, text};
use keepup_testkit::pki::{self, CertAuthority, Issued, Misuse, TempPem, validity};
use support::{ctx, tls_spec};

/// Probes `shop.test` served with `issued`, trusting `trusted` (PEM).
async fn probe_serving(issued: &Issued, trusted: &str) -> Outcome {
    let server = TestServer::builder()
        .tls(ServerTls::new(issued))
        .start(|_req| async { text(200, "ok") })
        .await
        .unwrap();
    let ca_file = TempPem::write("ca.pem", trusted).unwrap();
    let mut spec = tls_spec("shop.test", server.port());
    spec.tls.ca_file = Some(ca_file.path().to_owned());
    tls::probe(&spec, &ctx()).await
}

/// The one finding's text, after checking its code and that the check is
/// down.
fn only_finding(outcome: &Outcome, code: &str) -> String {
    assert_eq!(outcome.status, Status::Down, "{:?}", outcome.findings);
    assert_eq!(outcome.findings.len(), 1, "{:?}", outcome.findings);
    assert_eq!(outcome.findings[0].code, code);
    outcome.findings[0].text.clone()
}

/// What the verifier said, as kept in the first address's evidence.
fn verification(outcome: &Outcome) -> String {
    outcome.evidence.details["addresses"][0]["verification"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_self_signed_certificate_is_called_self_signed_with_what_to_do() {
    let selfie = pki::self_signed(&["shop.test"], validity::current()).unwrap();
    let unrelated = CertAuthority::new("Some CA").unwrap();
    let outcome = probe_serving(&selfie, &unrelated.root_pem()).await;
    assert_eq!(
        only_finding(&outcome, c::TLS_CHAIN_UNTRUSTED),
        "the certificate for shop.test is self-signed and not issued by a trusted CA (add its CA with `ca_file`, or set `verify = false`)"
    );
}

#[tokio::test]
async fn a_regenerated_self_signed_certificate_is_not_a_signature_algorithm_structure() {
    // The case from the field: the trusted file holds an older self-signed
    // certificate of the same name, so webpki reports a signature that
    // does not verify instead of an unknown issuer.
    let old = pki::self_signed(&["shop.test"], validity::current()).unwrap();
    let new = pki::self_signed(&["shop.test"], validity::current()).unwrap();
    let outcome = probe_serving(&new, &old.cert_pem).await;
    assert_eq!(
        only_finding(&outcome, c::TLS_CHAIN_UNTRUSTED),
        "the certificate for shop.test is self-signed and not issued by a trusted CA; a trusted certificate has its name but another key (was it regenerated?) (add its CA with `ca_file`, or set `verify = false`)"
    );
    assert!(verification(&outcome).contains("invalid peer certificate"));
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_says_to_send_the_intermediate_or_add_the_ca() {
    let unknown = CertAuthority::new("Unknown CA").unwrap();
    let trusted = CertAuthority::new("Trusted CA").unwrap();
    let leaf = unknown.issue(&["shop.test"], validity::current()).unwrap();
    let outcome = probe_serving(&leaf, &trusted.root_pem()).await;
    assert_eq!(
        only_finding(&outcome, c::TLS_CHAIN_INCOMPLETE),
        "the certificate chain for shop.test is incomplete or untrusted: the issuer 'Unknown CA' of 'shop.test' was not sent by the server and is not a trusted root (if it is an intermediate, make the server send it; if it is a private CA, add it with `ca_file`)"
    );
}

#[tokio::test]
async fn a_client_authentication_certificate_is_not_meant_for_servers() {
    let ca = CertAuthority::new("Test CA").unwrap();
    let leaf = ca
        .issue_misused(&["shop.test"], Misuse::ClientAuthOnly)
        .unwrap();
    let outcome = probe_serving(&leaf, &ca.root_pem()).await;
    assert_eq!(
        only_finding(&outcome, c::TLS_CHAIN_UNTRUSTED),
        "the certificate for shop.test is not meant for TLS servers (its extended key usage allows client authentication only): issue one with the serverAuth extended key usage"
    );
}

#[tokio::test]
async fn a_ca_certificate_serving_as_a_server_certificate_is_named_as_such() {
    let ca = CertAuthority::new("Test CA").unwrap();
    let leaf = ca
        .issue_misused(&["shop.test"], Misuse::MarkedAsCa)
        .unwrap();
    let outcome = probe_serving(&leaf, &ca.root_pem()).await;
    assert_eq!(
        only_finding(&outcome, c::TLS_CHAIN_UNTRUSTED),
        "the certificate for shop.test is a CA certificate (basic constraints CA:TRUE, as a bare `openssl req -x509` makes) and may not identify a server: issue a server certificate with CA:FALSE"
    );
    assert!(verification(&outcome).contains("CaUsedAsEndEntity"));
}

#[tokio::test]
async fn a_name_outside_the_ca_name_constraint_is_explained() {
    let ca = CertAuthority::name_constrained("Constrained CA", &["example.com"]).unwrap();
    let leaf = ca.issue(&["shop.test"], validity::current()).unwrap();
    let outcome = probe_serving(&leaf, &ca.root_pem()).await;
    assert_eq!(
        only_finding(&outcome, c::TLS_CHAIN_UNTRUSTED),
        "the certificate for shop.test is for a name its CA may not issue for (a name constraint on the CA): have it issued by a CA allowed to issue for shop.test"
    );
    assert!(verification(&outcome).contains("NameConstraintViolation"));
}

#[tokio::test]
async fn an_alert_from_the_server_is_named_and_explained() {
    let cases = [
        (
            112,
            "shop.test refused the TLS handshake (unrecognized_name alert): it serves no certificate for the name shop.test (check the name, or the server's virtual hosts)",
        ),
        (
            40,
            "shop.test refused the TLS handshake (handshake_failure alert): it accepts no TLS version, cipher suite or key exchange keepup offers, or it wants a client certificate",
        ),
        (
            70,
            "shop.test refused the TLS handshake (protocol_version alert): it does not accept TLS 1.2 or 1.3",
        ),
    ];
    for (alert, sentence) in cases {
        let server = HostileServer::start(Behaviour::TlsAlert(alert))
            .await
            .unwrap();
        let outcome = tls::probe(&tls_spec("shop.test", server.port()), &ctx()).await;
        assert_eq!(
            only_finding(&outcome, c::TLS_HANDSHAKE_FAILED),
            sentence,
            "alert {alert}"
        );
    }
}
