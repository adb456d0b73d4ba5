//! Helpers shared by the end-to-end probe tests. Every server they talk to
//! is a testkit server on loopback; `shop.test` resolves to 127.0.0.1
//! through the context's override, never through DNS.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use keepup_config::{Check, CheckSpec, HttpSpec, StatusRange, TcpSpec, TlsOptions, TlsSpec};
use keepup_model::{CheckId, Outcome, Severity};
use keepup_probe::ProbeContext;

/// A context where `shop.test` is 127.0.0.1.
pub fn ctx() -> ProbeContext {
    ProbeContext::builder()
        .resolve_override("shop.test", [IpAddr::V4(Ipv4Addr::LOCALHOST)])
        .build()
}

/// An HTTP spec with the configuration defaults.
pub fn http_spec(url: &str) -> HttpSpec {
    HttpSpec {
        url: url.parse().expect("test URL"),
        method: http::Method::GET,
        headers: Vec::new(),
        body: None,
        basic_auth: None,
        expect_status: vec![StatusRange {
            low: 200,
            high: 299,
        }],
        assertions: Vec::new(),
        degraded_latency: None,
        down_latency: None,
        follow_redirects: true,
        max_redirects: 5,
        max_body_bytes: 1024 * 1024,
        tls: TlsOptions::default(),
        user_agent: "keepup-test/1".into(),
    }
}

/// A TLS spec with the configuration defaults.
pub fn tls_spec(host: &str, port: u16) -> TlsSpec {
    TlsSpec {
        host: host.into(),
        port,
        all_addresses: true,
        tls: TlsOptions::default(),
    }
}

/// A TCP spec without send or banner.
pub fn tcp_spec(host: &str, port: u16) -> TcpSpec {
    TcpSpec {
        host: host.into(),
        port,
        send: None,
        expect_banner: None,
    }
}

/// A check around `spec` with `timeout`.
pub fn check(spec: CheckSpec, timeout: Duration) -> Check {
    Check {
        id: CheckId::new("shop", "test"),
        short_id: "test".into(),
        name: "test".into(),
        interval: Duration::from_secs(60),
        timeout,
        tags: Vec::new(),
        site_tags: Vec::new(),
        depends_on: Vec::new(),
        alerting: keepup_config::Alerting::default(),
        forecasts: Vec::new(),
        spec,
    }
}

/// Runs a configured probe check the way the monitor does: its probe
/// under its timeout, on the context of its id.
pub async fn run(check: &Check, ctx: &ProbeContext) -> Outcome {
    let probe = check.probe().expect("a probe check");
    keepup_probe::run(probe, check.timeout, &ctx.for_check(&check.id)).await
}

/// Runs the one check of `config` as [`run`] does.
pub async fn run_only(config: &keepup_config::Config, ctx: &ProbeContext) -> Outcome {
    run(config.checks().next().expect("one check"), ctx).await
}

/// Loads `src` as the file `keepup.toml` in `dir` (where the password
/// and CA files it names are), as the daemon loads it.
pub fn load(dir: &std::path::Path, src: &str) -> keepup_config::Config {
    keepup_config::load_str(src, &dir.join("keepup.toml")).unwrap_or_else(|p| panic!("{p}\n{src}"))
}

/// Polls `ready` every 100 ms, for at most 30 s: servers settling (a
/// replica catching up, a thread restarting).
pub fn wait_for(mut ready: impl FnMut() -> bool) {
    for _ in 0..300 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("the servers did not reach the expected state in 30 s");
}

/// The finding codes of an outcome.
pub fn codes(outcome: &Outcome) -> Vec<&str> {
    outcome.findings.iter().map(|f| f.code.as_str()).collect()
}

/// Whether the outcome has a finding with `code`.
pub fn has(outcome: &Outcome, code: &str) -> bool {
    outcome.findings.iter().any(|f| f.code == code)
}

/// Whether every finding is Info.
pub fn only_info(outcome: &Outcome) -> bool {
    outcome
        .findings
        .iter()
        .all(|f| f.severity == Severity::Info)
}

/// A port on 127.0.0.1 that nobody listens on (bound, then released).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    port
}
