//! Mail checks end to end: SMTP against a real Postfix, IMAP and POP3
//! against a real Dovecot (Debian packages, private instances on
//! 127.0.0.x), and every kind of bad server behaviour against a scripted
//! fake. `smtp.shop.test` and `imap.shop.test` resolve to the servers
//! through the context's overrides.

mod support;

use std::net::IpAddr;
use std::sync::OnceLock;
use std::time::Duration;

use keepup_config::{
    CheckSpec, MailLogin, MailProtocol, MailSpec, MailTls, ProbeSpec, Secret, SmtpAuthMechanism,
    TlsOptions,
};
use keepup_model::codes as c;
use keepup_model::{Outcome, Severity, Status};
use keepup_probe::{ProbeContext, mail};
use keepup_testkit::http::ServerTls;
use keepup_testkit::mail::{
    Action, Dovecot, DovecotOptions, Postfix, PostfixOptions, PostfixPort, ScriptedMailServer,
    TEST_PASSWORD, TEST_USER, UTF8_PASSWORD, UTF8_USER,
};
use keepup_testkit::pki::{CertAuthority, Issued, TempPem, validity};
use regex::Regex;
use support::run;
use support::{check, codes, has};

/// The real servers, started once for this test binary (their watchdog
/// stops them when the binary exits).
struct Fixture {
    ca_pem: TempPem,
    leaf: Issued,
    dovecot: Dovecot,
    postfix: Postfix,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ca = CertAuthority::new("keepup mail test CA").expect("CA");
        let inter = ca
            .intermediate("keepup mail issuing CA")
            .expect("intermediate");
        let leaf = inter
            .issue(&["smtp.shop.test", "imap.shop.test"], validity::current())
            .expect("leaf");
        let dovecot = Dovecot::start(&leaf, DovecotOptions::default()).expect("Dovecot starts");
        let postfix = Postfix::start(
            &leaf,
            PostfixOptions {
                sasl_socket: Some(dovecot.auth_socket().to_owned()),
            },
        )
        .expect("Postfix starts");
        Fixture {
            ca_pem: ca.root_pem_file().expect("CA file"),
            leaf,
            dovecot,
            postfix,
        }
    })
}

/// Only the test CA is trusted; the server names point at the servers.
fn ctx(f: &Fixture) -> ProbeContext {
    ProbeContext::builder()
        .system_roots(false)
        .resolve_override("smtp.shop.test", [IpAddr::V4(f.postfix.ip())])
        .resolve_override("imap.shop.test", [IpAddr::V4(f.dovecot.ip())])
        .resolve_override(
            "fake.shop.test",
            [IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
        )
        .build()
        .with_timeout(Duration::from_secs(10))
}

fn spec(protocol: MailProtocol, host: &str, port: u16, tls: MailTls) -> MailSpec {
    MailSpec {
        protocol,
        host: host.into(),
        port,
        tls,
        require_starttls: true,
        expect_banner: None,
        ehlo: "monitor.keepup.test".into(),
        login: None,
        auth_mechanism: None,
        certificate: TlsOptions::default(),
    }
}

/// A spec trusting the test CA.
fn trusting(f: &Fixture, protocol: MailProtocol, port: u16, tls: MailTls) -> MailSpec {
    let host = match protocol {
        MailProtocol::Smtp => "smtp.shop.test",
        _ => "imap.shop.test",
    };
    let mut s = spec(protocol, host, port, tls);
    s.certificate.ca_file = Some(f.ca_pem.path().to_owned());
    s
}

fn login(user: &str, password: &str) -> Option<MailLogin> {
    Some(MailLogin {
        username: user.into(),
        password: Secret::new(password.into()),
    })
}

fn transcript(o: &Outcome) -> String {
    o.evidence.details["transcript"].to_string()
}

fn assert_up(o: &Outcome) {
    assert_eq!(o.status, Status::Up, "{:#?}", o);
    assert!(
        o.findings.iter().all(|f| f.severity == Severity::Info),
        "{:?}",
        o.findings
    );
}

/// The password and its base64 forms never appear in the evidence.
fn assert_secret_hidden(o: &Outcome, password: &str) {
    let all = serde_json::to_string(o).unwrap();
    assert!(!all.contains(password), "password in {all}");
    assert!(!all.contains("cGFzcyJ3b3Jk"), "base64 password in {all}");
}

// ---- SMTP against Postfix ------------------------------------------------

#[tokio::test]
async fn smtp_port_25_style_starttls_is_up_with_certificate_and_transcript() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::Smtp);
    let o = mail::probe(
        &trusting(f, MailProtocol::Smtp, port, MailTls::StartTls),
        &ctx(f),
    )
    .await;
    assert_up(&o);
    assert_eq!(
        o.message,
        format!("SMTP smtp.shop.test:{port} ready (STARTTLS)")
    );
    let d = &o.evidence.details;
    assert_eq!(d["verification"], "ok");
    assert_eq!(d["certificates"].as_array().unwrap().len(), 2);
    assert!(d["cert_days_left"].as_f64().unwrap() > 80.0);
    let before: Vec<&str> = d["capabilities_before_tls"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(before.contains(&"STARTTLS"), "{before:?}");
    let after = d["capabilities"].to_string();
    assert!(!after.contains("STARTTLS"), "{after}");
    let t = transcript(&o);
    assert!(t.contains("S: 220 mail.shop.test ESMTP keepup-test"), "{t}");
    assert_eq!(t.matches("C: EHLO monitor.keepup.test").count(), 2, "{t}");
    assert!(t.contains("C: QUIT") && t.contains("S: 221"), "{t}");
    let timing = o.evidence.timing.as_ref().unwrap();
    assert!(timing.connect_ms.is_some() && timing.tls_ms.is_some());
    assert!(timing.first_byte_ms.is_some());
    for phase in ["connect", "banner", "starttls", "tls", "total"] {
        assert!(
            d["phases_ms"].get(phase).is_some(),
            "{phase} in {}",
            d["phases_ms"]
        );
    }
}

#[tokio::test]
async fn submission_logs_in_with_plain_and_login_and_hides_the_password() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::Submission);
    for mechanism in [None, Some(SmtpAuthMechanism::Login)] {
        let mut s = trusting(f, MailProtocol::Smtp, port, MailTls::StartTls);
        s.login = login(TEST_USER, TEST_PASSWORD);
        s.auth_mechanism = mechanism;
        let o = mail::probe(&s, &ctx(f)).await;
        assert_up(&o);
        assert_eq!(
            o.message,
            format!("SMTP smtp.shop.test:{port} ready (STARTTLS, login ok)")
        );
        // AUTH is advertised only after TLS on a correct submission port.
        let before = o.evidence.details["capabilities_before_tls"].to_string();
        assert!(!before.contains("AUTH"), "{before}");
        let t = transcript(&o);
        match mechanism {
            None => assert!(t.contains("C: AUTH PLAIN ***"), "{t}"),
            Some(_) => assert!(t.contains("C: AUTH LOGIN") && t.contains("C: ***"), "{t}"),
        }
        assert!(t.contains("S: 235"), "{t}");
        assert!(o.evidence.details["phases_ms"].get("auth").is_some());
        assert_secret_hidden(&o, TEST_PASSWORD);
    }
}

#[tokio::test]
async fn a_wrong_password_is_down_with_a_stable_message() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::Submission);
    let mut s = trusting(f, MailProtocol::Smtp, port, MailTls::StartTls);
    s.login = login(TEST_USER, "not the password");
    let first = mail::probe(&s, &ctx(f)).await;
    assert_eq!(first.status, Status::Down);
    assert_eq!(codes(&first), vec![c::MAIL_AUTH_FAILED]);
    assert!(
        first.findings[0].text.contains("535"),
        "{:?}",
        first.findings
    );
    assert_eq!(
        first.message,
        format!("SMTP login of {TEST_USER} at smtp.shop.test:{port} failed")
    );
    assert_secret_hidden(&first, "not the password");
    let second = mail::probe(&s, &ctx(f)).await;
    assert_eq!(first.message, second.message);
    // Polite to the end.
    assert!(transcript(&first).contains("C: QUIT"));
}

#[tokio::test]
async fn auth_advertised_before_tls_is_a_finding() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::AuthBeforeTls);
    let mut s = trusting(f, MailProtocol::Smtp, port, MailTls::StartTls);
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_eq!(o.status, Status::Degraded, "{:?}", o.findings);
    assert_eq!(codes(&o), vec![c::SMTP_AUTH_BEFORE_TLS]);
    // The login itself still works, over TLS.
    assert!(transcript(&o).contains("S: 235"));
}

#[tokio::test]
async fn missing_starttls_is_down_when_required_and_noted_otherwise() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::NoTls);
    let s = trusting(f, MailProtocol::Smtp, port, MailTls::StartTls);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_STARTTLS_MISSING]);
    assert_eq!(
        o.message,
        format!("SMTP smtp.shop.test:{port} does not offer STARTTLS")
    );

    let mut lax = s.clone();
    lax.require_starttls = false;
    let o = mail::probe(&lax, &ctx(f)).await;
    assert_up(&o);
    assert_eq!(codes(&o), vec![c::MAIL_STARTTLS_MISSING]);
    assert!(o.message.ends_with("ready (without TLS)"), "{}", o.message);

    // With a test account, the password is not sent in clear text.
    lax.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&lax, &ctx(f)).await;
    assert_eq!(o.status, Status::Degraded);
    assert!(has(&o, c::MAIL_AUTH_SKIPPED));
    assert!(!transcript(&o).contains("AUTH"));

    let o = mail::probe(
        &trusting(f, MailProtocol::Smtp, port, MailTls::None),
        &ctx(f),
    )
    .await;
    assert_up(&o);
    assert!(o.message.ends_with("ready (no TLS)"), "{}", o.message);
    assert!(o.evidence.details.get("certificates").is_none());
}

#[tokio::test]
async fn submissions_with_implicit_tls_logs_in() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::Submissions);
    let mut s = trusting(f, MailProtocol::Smtp, port, MailTls::Implicit);
    s.login = login(TEST_USER, TEST_PASSWORD);
    s.expect_banner = Some(Regex::new("^220 mail\\.shop\\.test ESMTP").unwrap());
    let o = mail::probe(&s, &ctx(f)).await;
    assert_up(&o);
    assert_eq!(
        o.message,
        format!("SMTP smtp.shop.test:{port} ready (implicit TLS, login ok)")
    );
    assert_eq!(o.evidence.details["verification"], "ok");
    assert!(o.evidence.details.get("capabilities_before_tls").is_none());
}

#[tokio::test]
async fn certificate_problems_use_the_tls_codes_and_stop_the_login() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::Submission);
    // Nothing trusted: the chain is untrusted; the password is kept.
    let mut s = spec(
        MailProtocol::Smtp,
        "smtp.shop.test",
        port,
        MailTls::StartTls,
    );
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_eq!(o.status, Status::Down);
    // The issuing CA's issuer is neither sent nor trusted.
    assert!(has(&o, c::TLS_CHAIN_INCOMPLETE), "{:?}", o.findings);
    assert!(has(&o, c::MAIL_AUTH_SKIPPED));
    assert!(!transcript(&o).contains("C: AUTH"));
    assert!(transcript(&o).contains("C: QUIT"));

    // The certificate is not for the name asked for.
    let mut s = trusting(f, MailProtocol::Smtp, port, MailTls::StartTls);
    s.host = f.postfix.ip().to_string();
    let o = mail::probe(&s, &ctx(f)).await;
    assert_eq!(o.status, Status::Down);
    assert!(has(&o, c::TLS_HOSTNAME_MISMATCH), "{:?}", o.findings);

    // verify = false: trust problems are informational, the login goes on.
    let mut s = spec(
        MailProtocol::Smtp,
        "smtp.shop.test",
        port,
        MailTls::StartTls,
    );
    s.certificate.verify = false;
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_up(&o);
    assert!(has(&o, c::TLS_CHAIN_INCOMPLETE));
    assert!(o.message.ends_with("login ok)"), "{}", o.message);
}

#[tokio::test]
async fn banner_mismatch_is_down() {
    let f = fixture();
    let port = f.postfix.port(PostfixPort::Smtp);
    let mut s = trusting(f, MailProtocol::Smtp, port, MailTls::StartTls);
    s.expect_banner = Some(Regex::new("Exchange").unwrap());
    let o = mail::probe(&s, &ctx(f)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_BANNER_MISMATCH]);
    assert_eq!(
        o.message,
        format!("SMTP smtp.shop.test:{port} did not greet with the expected banner")
    );
}

#[tokio::test]
async fn configured_checks_run_through_the_dispatcher() {
    let f = fixture();
    let mut s = trusting(
        f,
        MailProtocol::Imap,
        f.dovecot.imap_port(),
        MailTls::StartTls,
    );
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = run(
        &check(
            CheckSpec::Probe(ProbeSpec::Mail(Box::new(s))),
            Duration::from_secs(10),
        ),
        &ctx(f),
    )
    .await;
    assert_up(&o);
    assert!(
        o.message.starts_with("IMAP imap.shop.test:"),
        "{}",
        o.message
    );
}

// ---- IMAP and POP3 against Dovecot ----------------------------------------

#[tokio::test]
async fn imap_starttls_sees_logindisabled_and_logs_in() {
    let f = fixture();
    let port = f.dovecot.imap_port();
    let mut s = trusting(f, MailProtocol::Imap, port, MailTls::StartTls);
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_up(&o);
    assert_eq!(
        o.message,
        format!("IMAP imap.shop.test:{port} ready (STARTTLS, login ok)")
    );
    let before = o.evidence.details["capabilities_before_tls"].to_string();
    assert!(
        before.contains("LOGINDISABLED") && before.contains("STARTTLS"),
        "{before}"
    );
    let after = o.evidence.details["capabilities"].to_string();
    assert!(!after.contains("LOGINDISABLED"), "{after}");
    let t = transcript(&o);
    assert!(t.contains("LOGIN ***"), "{t}");
    assert!(t.contains("Logged in"), "{t}");
    assert!(t.contains("LOGOUT"), "{t}");
    assert_secret_hidden(&o, TEST_PASSWORD);
}

#[tokio::test]
async fn imap_sends_non_ascii_credentials_as_literals() {
    let f = fixture();
    let mut s = trusting(
        f,
        MailProtocol::Imap,
        f.dovecot.imaps_port(),
        MailTls::Implicit,
    );
    s.login = login(UTF8_USER, UTF8_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    if o.status != Status::Up {
        eprintln!("{}", f.dovecot.log());
    }
    assert_up(&o);
    let t = transcript(&o);
    assert!(t.contains("*** (continued)"), "{t}");
    assert!(
        o.message.ends_with("(implicit TLS, login ok)"),
        "{}",
        o.message
    );
    assert!(!serde_json::to_string(&o).unwrap().contains(UTF8_PASSWORD));
}

#[tokio::test]
async fn imap_and_pop3_refuse_a_wrong_password() {
    let f = fixture();
    for (protocol, port) in [
        (MailProtocol::Imap, f.dovecot.imap_port()),
        (MailProtocol::Pop3, f.dovecot.pop3_port()),
    ] {
        let mut s = trusting(f, protocol, port, MailTls::StartTls);
        s.login = login(TEST_USER, "wrong");
        let o = mail::probe(&s, &ctx(f)).await;
        assert_eq!(o.status, Status::Down, "{:?}", o.findings);
        assert_eq!(codes(&o), vec![c::MAIL_AUTH_FAILED]);
        assert_eq!(
            o.message,
            format!(
                "{} login of {TEST_USER} at imap.shop.test:{port} failed",
                protocol.name()
            )
        );
        assert_secret_hidden(&o, "wrong\"");
    }
}

#[tokio::test]
async fn pop3_stls_and_pop3s_log_in() {
    let f = fixture();
    let port = f.dovecot.pop3_port();
    let mut s = trusting(f, MailProtocol::Pop3, port, MailTls::StartTls);
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_up(&o);
    assert_eq!(
        o.message,
        format!("POP3 imap.shop.test:{port} ready (STLS, login ok)")
    );
    let before = o.evidence.details["capabilities_before_tls"].to_string();
    assert!(
        before.contains("STLS") && !before.contains("USER"),
        "{before}"
    );
    let t = transcript(&o);
    assert!(
        t.contains("C: PASS ***") && t.contains(&format!("C: USER {TEST_USER}")),
        "{t}"
    );
    assert_secret_hidden(&o, TEST_PASSWORD);

    let mut s = trusting(
        f,
        MailProtocol::Pop3,
        f.dovecot.pop3s_port(),
        MailTls::Implicit,
    );
    s.login = login(TEST_USER, TEST_PASSWORD);
    let o = mail::probe(&s, &ctx(f)).await;
    assert_up(&o);
}

#[tokio::test]
async fn plaintext_logins_before_tls_are_findings() {
    let f = fixture();
    let lax = Dovecot::start(
        &f.leaf,
        DovecotOptions {
            plaintext_auth: true,
        },
    )
    .expect("lax Dovecot");
    let ctx = ProbeContext::builder()
        .system_roots(false)
        .resolve_override("imap.shop.test", [IpAddr::V4(lax.ip())])
        .build()
        .with_timeout(Duration::from_secs(10));
    for (protocol, port, code) in [
        (
            MailProtocol::Imap,
            lax.imap_port(),
            c::IMAP_LOGIN_BEFORE_TLS,
        ),
        (
            MailProtocol::Pop3,
            lax.pop3_port(),
            c::POP3_LOGIN_BEFORE_TLS,
        ),
    ] {
        let mut s = trusting(f, protocol, port, MailTls::StartTls);
        s.login = login(TEST_USER, TEST_PASSWORD);
        let o = mail::probe(&s, &ctx).await;
        assert_eq!(o.status, Status::Degraded, "{:?}", o.findings);
        assert_eq!(codes(&o), vec![code]);
        assert!(transcript(&o).contains("login") || o.message.contains("clear text"));
    }
}

// ---- bad servers -----------------------------------------------------------

fn fake_spec(protocol: MailProtocol, port: u16, tls: MailTls) -> MailSpec {
    spec(protocol, "fake.shop.test", port, tls)
}

async fn fake_probe(s: &MailSpec, timeout: Duration) -> Outcome {
    let ctx = ProbeContext::builder()
        .system_roots(false)
        .resolve_override(
            "fake.shop.test",
            [IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)],
        )
        .build();
    run(
        &check(
            CheckSpec::Probe(ProbeSpec::Mail(Box::new(s.clone()))),
            timeout,
        ),
        &ctx,
    )
    .await
}

fn smtp_ehlo(starttls: Action) -> impl Fn(&str) -> Action + Send + Sync + 'static {
    let starttls = std::sync::Mutex::new(Some(starttls));
    move |line: &str| {
        if line.starts_with("EHLO") {
            Action::reply("250-fake.shop.test\r\n250 STARTTLS\r\n")
        } else if line == "STARTTLS" {
            starttls
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .unwrap_or(Action::Close)
        } else if line == "QUIT" {
            Action::reply("221 bye\r\n")
        } else {
            Action::reply("502 what\r\n")
        }
    }
}

#[tokio::test]
async fn a_server_that_stalls_mid_dialogue_times_out_with_the_phase() {
    let server = ScriptedMailServer::start(Action::reply("220 fake ESMTP\r\n"), None, |line| {
        if line.starts_with("EHLO") {
            Action::Stall
        } else {
            Action::Close
        }
    })
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(1)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
    assert!(
        o.message.contains("while waiting for the EHLO reply"),
        "{}",
        o.message
    );
    assert!(o.latency_ms < 5000.0);
}

#[tokio::test]
async fn a_banner_without_line_end_is_explained() {
    // The server stalls after a partial banner: a timeout that says what
    // arrived.
    let server =
        ScriptedMailServer::start(Action::reply("220 no line end"), None, |_| Action::Stall)
            .await
            .unwrap();
    let s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(1)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
    assert!(
        o.findings[0]
            .text
            .contains("\"220 no line end\" without ending the line"),
        "{:?}",
        o.findings
    );
    assert!(!o.message.contains("220"), "{}", o.message);

    // The server closes after a partial banner: a protocol error.
    let server =
        ScriptedMailServer::start(Action::Last(b"+OK hello".to_vec()), None, |_| Action::Close)
            .await
            .unwrap();
    let s = fake_spec(MailProtocol::Pop3, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(2)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_PROTOCOL_ERROR]);
    assert!(
        o.findings[0]
            .text
            .contains("\"+OK hello\" without ending the line")
    );
    assert!(
        o.message.contains("while waiting for the greeting"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn endless_ehlo_and_capability_lines_hit_the_limits() {
    let server = ScriptedMailServer::start(Action::reply("220 fake\r\n"), None, |_| {
        Action::Flood(b"250-FILLER an extension that never ends\r\n".to_vec())
    })
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(5)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_PROTOCOL_ERROR]);
    assert!(o.message.contains("more than 200 lines"), "{}", o.message);
    assert!(o.evidence.details["transcript"].as_array().unwrap().len() <= 201);

    // One endless CAPABILITY line.
    let server = ScriptedMailServer::start(Action::reply("* OK fake\r\n"), None, |_| {
        Action::Flood(b"* CAPABILITY IMAP4rev1 X-ENDLESS X-ENDLESS X-ENDLESS ".to_vec())
    })
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Imap, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(5)).await;
    assert_eq!(codes(&o), vec![c::MAIL_PROTOCOL_ERROR]);
    assert!(o.message.contains("longer than 8 KiB"), "{}", o.message);

    // Endless CAPABILITY lines.
    let server = ScriptedMailServer::start(Action::reply("* OK fake\r\n"), None, |_| {
        Action::Flood(b"* CAPABILITY IMAP4rev1 STARTTLS\r\n".to_vec())
    })
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Imap, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(5)).await;
    assert_eq!(codes(&o), vec![c::MAIL_PROTOCOL_ERROR]);
    assert!(o.message.contains("more than 200 lines"), "{}", o.message);

    // Endless CAPA.
    let server = ScriptedMailServer::start(Action::reply("+OK fake\r\n"), None, |line| {
        if line == "CAPA" {
            Action::Flood(b"+OK\r\nX-CAPA\r\n".to_vec())
        } else {
            Action::Close
        }
    })
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Pop3, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(5)).await;
    assert_eq!(codes(&o), vec![c::MAIL_PROTOCOL_ERROR]);
}

#[tokio::test]
async fn garbage_is_a_protocol_error_for_every_protocol() {
    let garbage = b"\x00\xff\x1b[31mnot mail at all\r\n".to_vec();
    for (protocol, code) in [
        (MailProtocol::Smtp, c::MAIL_PROTOCOL_ERROR),
        (MailProtocol::Imap, c::MAIL_GREETING_REJECTED),
        (MailProtocol::Pop3, c::MAIL_GREETING_REJECTED),
    ] {
        let server =
            ScriptedMailServer::start(Action::Reply(garbage.clone()), None, |_| Action::Close)
                .await
                .unwrap();
        let s = fake_spec(protocol, server.port(), MailTls::StartTls);
        let first = fake_probe(&s, Duration::from_secs(2)).await;
        assert_eq!(first.status, Status::Down, "{protocol:?}");
        assert_eq!(codes(&first), vec![code], "{protocol:?}");
        assert!(first.findings[0].text.contains("not mail at all"));
        // The message does not quote the server, so it is stable.
        assert!(!first.message.contains("not mail"), "{}", first.message);
        let second = fake_probe(&s, Duration::from_secs(2)).await;
        assert_eq!(first.message, second.message);
    }
}

#[tokio::test]
async fn a_refusing_greeting_is_down_and_quit_politely() {
    let server = ScriptedMailServer::start(
        Action::reply("554 5.3.2 fake.shop.test no service for you\r\n"),
        None,
        |line| {
            if line == "QUIT" {
                Action::reply("221 bye\r\n")
            } else {
                Action::reply("503 no\r\n")
            }
        },
    )
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(2)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_GREETING_REJECTED]);
    assert!(o.findings[0].text.contains("554 5.3.2"), "{:?}", o.findings);
    assert_eq!(
        o.message,
        format!("SMTP fake.shop.test:{} refused the session", server.port())
    );
    let t = transcript(&o);
    assert!(t.contains("C: QUIT") && !t.contains("EHLO"), "{t}");

    let server =
        ScriptedMailServer::start(Action::reply("* BYE too busy\r\n"), None, |_| Action::Close)
            .await
            .unwrap();
    let s = fake_spec(MailProtocol::Imap, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(2)).await;
    assert_eq!(codes(&o), vec![c::MAIL_GREETING_REJECTED]);
}

#[tokio::test]
async fn a_failed_tls_handshake_after_starttls_is_down() {
    let server = ScriptedMailServer::start(
        Action::reply("220 fake ESMTP\r\n"),
        None,
        smtp_ehlo(Action::NotTls(b"220 go ahead\r\n".to_vec())),
    )
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(3)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::TLS_HANDSHAKE_FAILED], "{:?}", o.findings);
}

#[tokio::test]
async fn plain_text_after_the_starttls_go_ahead_is_refused() {
    let server = ScriptedMailServer::start(
        Action::reply("220 fake ESMTP\r\n"),
        None,
        smtp_ehlo(Action::reply(
            "220 go ahead\r\n250-injected\r\n250 AUTH PLAIN\r\n",
        )),
    )
    .await
    .unwrap();
    let s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(3)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_STARTTLS_INJECTION]);
}

#[tokio::test]
async fn an_expired_certificate_after_starttls_is_tls_cert_expired() {
    let ca = CertAuthority::new("fake CA").unwrap();
    let expired = ca.issue(&["fake.shop.test"], validity::expired()).unwrap();
    let ca_pem = ca.root_pem_file().unwrap();
    let server = ScriptedMailServer::start(
        Action::reply("220 fake ESMTP\r\n"),
        Some(ServerTls::new(&expired)),
        smtp_ehlo(Action::StartTls(b"220 go ahead\r\n".to_vec())),
    )
    .await
    .unwrap();
    let mut s = fake_spec(MailProtocol::Smtp, server.port(), MailTls::StartTls);
    s.certificate.ca_file = Some(ca_pem.path().to_owned());
    let o = fake_probe(&s, Duration::from_secs(3)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::TLS_CERT_EXPIRED], "{:?}", o.findings);
    // The dialogue went on over TLS (EHLO again, QUIT).
    assert_eq!(transcript(&o).matches("C: EHLO").count(), 2);
}

#[tokio::test]
async fn a_server_closing_mid_dialogue_is_connection_closed() {
    let server = ScriptedMailServer::start(Action::reply("+OK fake\r\n"), None, |_| Action::Close)
        .await
        .unwrap();
    let s = fake_spec(MailProtocol::Pop3, server.port(), MailTls::StartTls);
    let o = fake_probe(&s, Duration::from_secs(2)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::MAIL_CONNECTION_CLOSED]);
    assert!(
        o.message.contains("while waiting for the CAPA reply"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn a_wrong_tls_mode_says_which_one_to_use() {
    let f = fixture();
    // Implicit TLS against a port that greets in plain text.
    let s = trusting(
        f,
        MailProtocol::Smtp,
        f.postfix.port(PostfixPort::Smtp),
        MailTls::Implicit,
    );
    let o = mail::probe(&s, &ctx(f)).await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::TLS_HANDSHAKE_FAILED]);
    assert!(
        o.findings[0].text.contains("set tls = \"starttls\""),
        "{:?}",
        o.findings
    );
    // Plain text against a port that waits for a TLS handshake.
    let s = trusting(
        f,
        MailProtocol::Imap,
        f.dovecot.imaps_port(),
        MailTls::StartTls,
    );
    let o = run(
        &check(
            CheckSpec::Probe(ProbeSpec::Mail(Box::new(s))),
            Duration::from_secs(1),
        ),
        &ctx(f),
    )
    .await;
    assert_eq!(o.status, Status::Down);
    assert_eq!(codes(&o), vec![c::PROBE_TIMEOUT]);
    assert!(
        o.findings[0].text.contains("set tls = \"implicit\""),
        "{:?}",
        o.findings
    );
}
