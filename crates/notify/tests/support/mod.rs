//! Shared pieces of the channel tests: channels built from real
//! configuration text, a certificate authority, a real SMTP server
//! (testkit's aiosmtpd sink) and an HTTP receiver that validates provider payloads.

#![allow(dead_code)]

pub mod providers;

use std::path::Path;

use keepup_model::{Severity, Status};
use keepup_notify::{CheckSummary, Event, HttpClientContext, Notification};
use keepup_testkit::pki::{CertAuthority, Issued, validity};
pub use keepup_testkit::smtp::{SmtpMode, SmtpOptions, SmtpSink};

/// Loads `toml` (relative `*_file` paths resolve in `dir`) and returns its
/// channels, panicking with every problem when it does not load.
pub fn channels(dir: &Path, toml: &str) -> Vec<keepup_config::channels::Channel> {
    match keepup_config::load_str(toml, &dir.join("keepup.toml")) {
        Ok(c) => c.channels,
        Err(p) => panic!("the test configuration does not load:\n{p}\n{toml}"),
    }
}

/// Builds the channel with this id from `toml`.
pub fn channel(
    dir: &Path,
    toml: &str,
    id: &str,
    ctx: &HttpClientContext,
) -> Box<dyn keepup_notify::Channel> {
    let all = channels(dir, toml);
    let spec = all
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no channel {id}"));
    keepup_notify::build(spec, ctx)
}

/// Writes a secret file `name` into `dir`.
pub fn secret_file(dir: &Path, name: &str, value: &str) {
    std::fs::write(dir.join(name), format!("{value}\n")).unwrap();
}

/// A CA and a server certificate for 127.0.0.1 and localhost.
pub fn pki() -> (CertAuthority, Issued) {
    let ca = CertAuthority::new("keepup-notify test root").unwrap();
    let leaf = ca
        .issue(&["localhost", "127.0.0.1"], validity::current())
        .unwrap();
    (ca, leaf)
}

/// A client context that trusts only `ca`.
pub fn ctx_trusting(ca: &CertAuthority) -> HttpClientContext {
    HttpClientContext::builder()
        .system_roots(false)
        .ca_pem(ca.root_pem().as_bytes())
        .unwrap()
        .build()
}

/// A grouped-capable trigger for `dedup_key`.
pub fn trigger(id: &str, dedup_key: &str) -> Notification {
    Notification {
        id: id.into(),
        dedup_key: dedup_key.into(),
        event: Event::Trigger,
        severity: Severity::Critical,
        title: "shop/checkout is DOWN".into(),
        text: "Checkout answers HTTP 500 since 03:12.".into(),
        site: "shop".into(),
        checks: vec![CheckSummary {
            id: "shop/checkout".into(),
            name: "Checkout".into(),
            status: Status::Down,
            message: "HTTP 500 Internal Server Error".into(),
            since: Some(1_700_000_000_000),
        }],
        started_at: Some(1_700_000_000_000),
        resolved_at: None,
        duration_s: None,
        ack_url: Some("https://keepup.example/ack/7?sig=abc".into()),
        cause: None,
        runbook: Vec::new(),
        page_url: None,
        past_resolutions: Vec::new(),
        attachments: Vec::new(),
    }
}

/// The resolution of [`trigger`].
pub fn resolve(id: &str, dedup_key: &str) -> Notification {
    let mut n = trigger(id, dedup_key);
    n.event = Event::Resolve;
    n.severity = Severity::Info;
    n.title = "shop/checkout is UP again".into();
    n.text = "Checkout works again.".into();
    n.checks[0].status = Status::Up;
    n.resolved_at = Some(1_700_000_754_000);
    n.duration_s = Some(754);
    n
}

/// A real SMTP server (testkit's aiosmtpd sink) in `mode`, with `cert`
/// and, when given, requiring AUTH.
pub fn smtp_sink(mode: SmtpMode, cert: Option<&Issued>, auth: Option<(&str, &str)>) -> SmtpSink {
    SmtpSink::start(
        mode,
        SmtpOptions {
            cert,
            auth,
            port: None,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A loopback port nothing listens on (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}
