//! The standalone TLS probe (every address behind a name) and the TCP probe.

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use keepup_config::{CheckSpec, ProbeSpec};
use keepup_model::codes as c;
use keepup_model::{Severity, Status};
use keepup_probe::{ProbeContext, tcp, tls};
use keepup_testkit::hostile::{Behaviour, HostileServer};
use keepup_testkit::http::{ServerTls, TestServer, text};
use keepup_testkit::pki::{self, CertAuthority, Issued, TempPem, validity};
use regex::Regex;
use support::run;
use support::{check, closed_port, codes, has, only_info, tcp_spec, tls_spec};

async fn tls_server(issued: &Issued, bind: SocketAddr) -> std::io::Result<TestServer> {
    TestServer::builder()
        .bind(bind)
        .tls(ServerTls::new(issued))
        .start(|_req| async { text(200, "ok") })
        .await
}

fn ctx_v4() -> ProbeContext {
    ProbeContext::builder()
        .resolve_override("shop.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .build()
}

fn spec(port: u16, ca_file: &TempPem) -> keepup_config::TlsSpec {
    let mut spec = tls_spec("shop.test", port);
    spec.tls.ca_file = Some(ca_file.path().to_owned());
    spec
}

#[tokio::test]
async fn a_valid_certificate_is_up_with_chain_evidence() {
    let root = CertAuthority::new("Root").unwrap();
    let inter = root.intermediate("Issuing CA").unwrap();
    let leaf = inter.issue(&["shop.test"], validity::current()).unwrap();
    let server = tls_server(&leaf, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ca = root.root_pem_file().unwrap();
    let outcome = tls::probe(&spec(server.port(), &ca), &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert!(only_info(&outcome));
    assert!(
        outcome
            .message
            .starts_with("certificate for shop.test valid until "),
        "{}",
        outcome.message
    );
    let addresses = outcome.evidence.details["addresses"].as_array().unwrap();
    assert_eq!(addresses.len(), 1);
    assert_eq!(addresses[0]["verification"], "ok");
    let certs = addresses[0]["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 2);
    for key in [
        "subject",
        "issuer",
        "sans",
        "not_before",
        "not_after",
        "days_left",
        "key_type",
        "key_bits",
        "signature_algorithm",
        "serial",
        "sha256",
    ] {
        assert!(!certs[0][key].is_null(), "missing {key}");
    }
    assert!(addresses[0]["tls"]["cipher_suite"].is_string());
    // Nothing was sent after the handshake.
    assert_eq!(server.requests(), 0);
}

#[tokio::test]
async fn expiry_warning_is_relative_to_the_lifetime() {
    let root = CertAuthority::new("Root").unwrap();
    let ca = root.root_pem_file().unwrap();
    let short = root
        .issue(
            &["shop.test"],
            validity::lifetime_with_remaining(47.0, 20.0),
        )
        .unwrap();
    let server = tls_server(&short, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let outcome = tls::probe(&spec(server.port(), &ca), &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);

    let long = root
        .issue(
            &["shop.test"],
            validity::lifetime_with_remaining(398.0, 20.0),
        )
        .unwrap();
    let server = tls_server(&long, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let outcome = tls::probe(&spec(server.port(), &ca), &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Degraded);
    assert_eq!(codes(&outcome), vec![c::TLS_CERT_EXPIRING]);
}

#[tokio::test]
async fn verify_false_forgives_trust_but_not_expiry() {
    let selfie = pki::self_signed(&["shop.test"], validity::current()).unwrap();
    let server = tls_server(&selfie, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let mut spec = tls_spec("shop.test", server.port());
    let outcome = tls::probe(&spec, &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Down);
    assert!(has(&outcome, c::TLS_CHAIN_UNTRUSTED));
    spec.tls.verify = false;
    let outcome = tls::probe(&spec, &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert!(has(&outcome, c::TLS_CHAIN_UNTRUSTED));

    let expired = pki::self_signed(&["shop.test"], validity::expired()).unwrap();
    let server = tls_server(&expired, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    spec.port = server.port();
    let outcome = tls::probe(&spec, &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Down);
    let expiry = outcome
        .findings
        .iter()
        .find(|f| f.code == c::TLS_CERT_EXPIRED)
        .unwrap();
    assert_eq!(expiry.severity, Severity::Critical);
}

/// Binds a TLS server on 127.0.0.1 and one on [::1] with the same port.
async fn dual_stack(v4: &Issued, v6: &Issued) -> Result<(TestServer, TestServer), String> {
    let mut last_error = String::new();
    for _ in 0..10 {
        let server4 = tls_server(v4, "127.0.0.1:0".parse().unwrap())
            .await
            .map_err(|e| e.to_string())?;
        let bind6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), server4.port());
        match tls_server(v6, bind6).await {
            Ok(server6) => return Ok((server4, server6)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = e.to_string(),
            Err(e) => return Err(e.to_string()),
        }
    }
    Err(last_error)
}

#[tokio::test]
async fn every_address_behind_the_name_is_checked() {
    let root = CertAuthority::new("Root").unwrap();
    let ca = root.root_pem_file().unwrap();
    let good = root.issue(&["shop.test"], validity::current()).unwrap();
    let (server4, server6) = match dual_stack(&good, &good).await {
        Ok(pair) => pair,
        Err(why) => {
            eprintln!("skipping: cannot listen on [::1] ({why}); IPv6 loopback unavailable");
            return;
        }
    };
    let ctx = ProbeContext::builder()
        .resolve_override(
            "shop.test",
            [
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ],
        )
        .build();
    let port = server4.port();
    let outcome = tls::probe(&spec(port, &ca), &ctx).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert_eq!(
        outcome.evidence.details["addresses"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Only the first address when all_addresses is off.
    let mut first_only = spec(port, &ca);
    first_only.all_addresses = false;
    let outcome = tls::probe(&first_only, &ctx).await;
    assert_eq!(
        outcome.evidence.details["addresses"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    drop((server4, server6));

    // One address serves an expired certificate: Down, and the finding says
    // where; the odd certificate is noted.
    let stale = root.issue(&["shop.test"], validity::expired()).unwrap();
    let (server4, _server6) = match dual_stack(&good, &stale).await {
        Ok(pair) => pair,
        Err(why) => {
            eprintln!("skipping the second half: {why}");
            return;
        }
    };
    let outcome = tls::probe(&spec(server4.port(), &ca), &ctx).await;
    assert_eq!(outcome.status, Status::Down);
    let expired = outcome
        .findings
        .iter()
        .find(|f| f.code == c::TLS_CERT_EXPIRED)
        .unwrap();
    let where_ = format!("(at [::1]:{})", server4.port());
    assert!(expired.text.ends_with(&where_), "{}", expired.text);
    assert!(has(&outcome, c::TLS_CERT_DIFFERS));
}

#[tokio::test]
async fn tls_probe_through_the_dispatcher_and_a_refused_port() {
    let mut spec = tls_spec("127.0.0.1", closed_port());
    spec.all_addresses = false;
    let outcome = run(
        &check(
            CheckSpec::Probe(ProbeSpec::Tls(spec)),
            Duration::from_secs(5),
        ),
        &ctx_v4(),
    )
    .await;
    assert_eq!(outcome.status, Status::Down);
    assert!(
        has(&outcome, c::TCP_CONNECT_FAILED),
        "{:?}",
        outcome.findings
    );
}

#[tokio::test]
async fn tcp_banner_match_and_mismatch() {
    let mail = HostileServer::start(Behaviour::Banner(
        "220 mail.shop.test ESMTP ready\r\n".into(),
    ))
    .await
    .unwrap();
    let mut spec = tcp_spec("127.0.0.1", mail.port());
    spec.expect_banner = Some(Regex::new(r"^220 ").unwrap());
    spec.send = Some("QUIT\r\n".into());
    let outcome = tcp::probe(&spec, &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert_eq!(
        outcome.message,
        format!(
            "127.0.0.1:{} answered with the expected banner",
            mail.port()
        )
    );
    assert_eq!(
        outcome.evidence.details["banner"],
        "220 mail.shop.test ESMTP ready\\r\\n"
    );
    let timing = outcome.evidence.timing.as_ref().unwrap();
    assert!(timing.connect_ms.is_some() && timing.first_byte_ms.is_some());

    let ssh = HostileServer::start(Behaviour::Banner("SSH-2.0-OpenSSH_9.6\r\n".into()))
        .await
        .unwrap();
    spec.port = ssh.port();
    spec.send = None;
    let outcome = tcp::probe(&spec, &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::TCP_BANNER_MISMATCH]);
    assert_eq!(
        outcome.message,
        format!(
            "127.0.0.1:{} did not answer with the expected banner",
            ssh.port()
        )
    );
    assert!(
        outcome.findings[0]
            .text
            .contains("SSH-2.0-OpenSSH_9.6\\r\\n"),
        "{}",
        outcome.findings[0].text
    );
}

#[tokio::test]
async fn tcp_connect_only_refused_and_silent() {
    let server = HostileServer::start(Behaviour::Silent).await.unwrap();
    let outcome = tcp::probe(&tcp_spec("shop.test", server.port()), &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Up);
    assert_eq!(
        outcome.message,
        format!("connected to shop.test:{}", server.port())
    );

    let outcome = tcp::probe(&tcp_spec("127.0.0.1", closed_port()), &ctx_v4()).await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::TCP_CONNECT_FAILED]);

    let mut spec = tcp_spec("127.0.0.1", server.port());
    spec.expect_banner = Some(Regex::new("^220").unwrap());
    let outcome = run(
        &check(
            CheckSpec::Probe(ProbeSpec::Tcp(spec)),
            Duration::from_millis(800),
        ),
        &ctx_v4(),
    )
    .await;
    assert_eq!(outcome.status, Status::Down);
    assert_eq!(codes(&outcome), vec![c::TCP_NO_BANNER]);

    let outcome = tcp::probe(&tcp_spec("mail.shop.invalid", 25), &ctx_v4()).await;
    assert_eq!(codes(&outcome), vec![c::DNS_RESOLUTION_FAILED]);
}

#[tokio::test]
async fn handshakes_waiting_on_a_silent_server_leave_the_only_cpu_worker_free() {
    let ctx = ProbeContext::builder()
        .resolve_override("shop.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .cpu_workers(1)
        .build();
    let root = CertAuthority::new("Root").unwrap();
    let leaf = root.issue(&["shop.test"], validity::current()).unwrap();
    let answering = tls_server(&leaf, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let ca = root.root_pem_file().unwrap();
    // Accepts and reads the ClientHello, never answers: the handshakes
    // wait on their sockets until their (long) timeout.
    let silent = HostileServer::start(Behaviour::Silent).await.unwrap();
    let waiting: Vec<_> = (0..3)
        .map(|_| {
            let ctx = ctx.with_timeout(Duration::from_secs(120));
            let spec = spec(silent.port(), &ca);
            tokio::spawn(async move { tls::probe(&spec, &ctx).await })
        })
        .collect();
    while silent.connections() < 3 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Let each handshake send its ClientHello and start waiting.
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // On this single-threaded runtime no handshake is being computed now:
    // all three wait on the network, holding no worker.
    assert_eq!(ctx.idle_cpu_workers(), 1);
    assert!(waiting.iter().all(|w| !w.is_finished()));

    // A probe of a server that answers gets the worker, computes its
    // handshake and analysis, and finishes while the three still wait.
    let outcome = tls::probe(
        &spec(answering.port(), &ca),
        &ctx.with_timeout(Duration::from_secs(30)),
    )
    .await;
    assert_eq!(outcome.status, Status::Up, "{:?}", outcome.findings);
    assert!(
        waiting.iter().all(|w| !w.is_finished()),
        "the silent server's handshakes ended first"
    );
    assert_eq!(ctx.idle_cpu_workers(), 1);
    for w in waiting {
        w.abort();
    }
}
