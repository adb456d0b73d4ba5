//! TLS certificate checks.
//!
//! [`probe`] connects to every address behind a name (or the first one),
//! completes a TLS handshake with SNI, captures the presented chain even
//! when it is invalid, and analyses it with [`analysis::analyse_chain`]:
//! expiry relative to the certificate's lifetime, chain trust and
//! completeness, hostname match, intermediate expiry, weak keys and
//! signatures. The outcome is the worst over all addresses; the evidence
//! lists, per address, the protocol, the cipher suite and a summary of each
//! certificate.
//!
//! The HTTP probe reuses the same handshake and analysis for `https` URLs.
//!
//! With `verify = false`, chain and hostname problems are reported at Info
//! level; expiry is still judged, since watching expiry is what a TLS check
//! is for.

pub mod analysis;
mod verifier;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use keepup_config::TlsSpec;
use keepup_model::{Finding, Outcome, Severity, Status, TimingBreakdown, format_rfc3339};
use keepup_trust::explain::{self, Remedy};
use rustls::client::Resumption;
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use self::analysis::{AnalysisInput, ChainAnalysis, FindingKind};
use self::verifier::{Captured, CapturingVerifier};
use crate::codes;
use crate::context::{ProbeContext, normalize_host};
use crate::util::{Fail, connect_first, failed, finish, ms};

/// What a completed handshake tells besides the certificates.
#[derive(Debug, Clone, Default)]
pub(crate) struct HandshakeInfo {
    pub(crate) protocol: Option<String>,
    pub(crate) cipher_suite: Option<String>,
    pub(crate) alpn: Option<String>,
}

impl HandshakeInfo {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "protocol": self.protocol,
            "cipher_suite": self.cipher_suite,
            "alpn": self.alpn,
        })
    }
}

/// A completed handshake.
pub(crate) struct Handshake {
    pub(crate) stream: TlsStream<TcpStream>,
    pub(crate) captured: Captured,
    pub(crate) info: HandshakeInfo,
    pub(crate) elapsed: Duration,
}

/// Runs a TLS handshake over `tcp` for `host`, capturing the chain.
pub(crate) async fn handshake(
    ctx: &ProbeContext,
    roots: Arc<RootCertStore>,
    host: &str,
    tcp: TcpStream,
    alpn: &[&[u8]],
) -> Result<Handshake, Fail> {
    let started = Instant::now();
    let name = ServerName::try_from(normalize_host(host)).map_err(|_| {
        Fail::Finding(Finding::new(
            codes::PROBE_INVALID_TARGET,
            Severity::Warning,
            format!("{host} is not a valid TLS server name"),
        ))
    })?;
    let verifier = Arc::new(CapturingVerifier::new(roots, ctx.provider()));
    let mut config = ClientConfig::builder_with_provider(ctx.provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| handshake_failed(format!("TLS is not configurable: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as _)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // Every run is a full handshake: the chain is always presented and the
    // handshake time is real.
    config.resumption = Resumption::disabled();
    let connector = TlsConnector::from(Arc::new(config));
    // The handshake computes (key exchange, the verifier's chain checks)
    // each time the server's bytes arrive, and waits on the socket in
    // between: it holds a CPU worker only for the former.
    let stream = ctx
        .within(
            "in the TLS handshake",
            ctx.on_cpu(connector.connect(name, tcp)),
        )
        .await?
        .map_err(|e| handshake_failed(handshake_error(&e, host)))?;
    let captured = verifier
        .take()
        .ok_or_else(|| handshake_failed("the server presented no certificate".into()))?;
    let (_, conn) = stream.get_ref();
    let info = HandshakeInfo {
        protocol: conn.protocol_version().map(|v| match v {
            rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2".to_owned(),
            rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3".to_owned(),
            other => format!("{other:?}"),
        }),
        cipher_suite: conn
            .negotiated_cipher_suite()
            .map(|s| format!("{:?}", s.suite())),
        alpn: conn
            .alpn_protocol()
            .map(|p| String::from_utf8_lossy(p).into_owned()),
    };
    Ok(Handshake {
        stream,
        captured,
        info,
        elapsed: started.elapsed(),
    })
}

fn handshake_failed(text: String) -> Fail {
    Fail::Finding(Finding::new(
        codes::TLS_HANDSHAKE_FAILED,
        Severity::Critical,
        text,
    ))
}

fn handshake_error(e: &std::io::Error, host: &str) -> String {
    if let Some(tls) = explain::find_tls_error(e) {
        return explain::tls_error(tls, host, Remedy::CaFileOrNoVerify);
    }
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => {
            format!("{host} closed the connection during the TLS handshake")
        }
        _ => format!(
            "the TLS handshake with {host} failed: {}",
            crate::util::io_reason(e)
        ),
    }
}

/// Who is looking at the certificate, which decides what `verify = false`
/// forgives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A TLS check: expiry still counts without verification.
    Certificate,
    /// An HTTPS request: without verification the certificate does not
    /// affect the status at all.
    Request,
}

/// The analysis of a captured handshake with the `verify` policy applied.
pub(crate) struct Judged {
    pub(crate) findings: Vec<Finding>,
    /// A verifying client must not use this connection.
    pub(crate) blocked: bool,
    pub(crate) analysis: ChainAnalysis,
    pub(crate) verification: String,
}

/// Analyses `captured` on a CPU worker (parsing every certificate of the
/// chain) and applies the `verify` policy.
pub(crate) async fn judge(
    ctx: &ProbeContext,
    captured: &Captured,
    host: &str,
    options: &keepup_config::TlsOptions,
    purpose: Purpose,
) -> Judged {
    let _cpu = ctx.cpu_permit().await;
    let input = AnalysisInput {
        host,
        now: crate::util::unix_now(),
        thresholds: options.thresholds,
        trust: captured.trust.clone(),
        verifier_error: captured
            .verdict
            .as_ref()
            .err()
            .map(|e| explain::tls_error(e, host, Remedy::CaFileOrNoVerify)),
    };
    let analysis = analysis::analyse_chain(&captured.chain, &input);
    let blocked = options.verify && analysis.blocks();
    let findings = analysis
        .findings
        .iter()
        .map(|f| {
            let forgiven = !options.verify
                && match purpose {
                    Purpose::Request => true,
                    Purpose::Certificate => f.kind == FindingKind::Trust,
                };
            let mut finding = f.finding.clone();
            if forgiven {
                finding.severity = Severity::Info;
            }
            finding
        })
        .collect();
    // The verifier's own words, for experts reading the evidence.
    let verification = match &captured.verdict {
        Ok(()) => "ok".to_owned(),
        Err(e) => e.to_string(),
    };
    Judged {
        findings,
        blocked,
        analysis,
        verification,
    }
}

/// The result of checking one address.
struct AddressReport {
    addr: SocketAddr,
    result: Result<AddressOk, Finding>,
}

struct AddressOk {
    connect: Duration,
    handshake: Duration,
    info: HandshakeInfo,
    judged: Judged,
}

/// Checks the certificate(s) served for `spec.host:spec.port`.
pub async fn probe(spec: &TlsSpec, ctx: &ProbeContext) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let roots = match ctx.trust_roots(spec.tls.ca_file.as_deref()).await {
        Ok(roots) => roots,
        Err(finding) => {
            let mut outcome = failed(&ctx, Fail::Finding(finding), started);
            outcome.worsen(Status::Unknown);
            return outcome;
        }
    };
    let resolution = match ctx.resolve(&spec.host, spec.port).await {
        Ok(r) => r,
        Err(fail) => return failed(&ctx, fail, started),
    };
    let targets: Vec<SocketAddr> = if spec.all_addresses {
        resolution.addrs.clone()
    } else {
        resolution.addrs.iter().take(1).copied().collect()
    };

    let mut tasks = JoinSet::new();
    for (index, addr) in targets.iter().copied().enumerate() {
        let ctx = ctx.clone();
        let store = Arc::clone(&roots.store);
        let host = spec.host.clone();
        let options = spec.tls.clone();
        tasks.spawn(async move {
            let result = check_address(&ctx, store, &host, addr, &options).await;
            (index, AddressReport { addr, result })
        });
    }
    let mut reports: Vec<Option<AddressReport>> = (0..targets.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((index, report)) = joined {
            reports[index] = Some(report);
        }
    }
    // A slot is empty only if its task panicked: say so rather than drop
    // the address silently.
    let reports: Vec<AddressReport> = reports
        .into_iter()
        .zip(&targets)
        .map(|(report, addr)| {
            report.unwrap_or_else(|| AddressReport {
                addr: *addr,
                result: Err(Finding::new(
                    codes::PROBE_INTERNAL_ERROR,
                    Severity::Warning,
                    "the check of this address failed unexpectedly".to_owned(),
                )),
            })
        })
        .collect();

    let mut outcome = Outcome::new(Status::Up, "");
    for finding in roots.findings {
        outcome.push(finding);
    }
    let several = targets.len() > 1;
    for finding in grouped_findings(&reports, several) {
        outcome.push(finding);
    }
    if let Some(finding) = differing_certificates(&reports) {
        outcome.push(finding);
    }
    if outcome
        .findings
        .iter()
        .any(|f| f.code == codes::PROBE_INTERNAL_ERROR)
    {
        outcome.worsen(Status::Unknown);
    }

    let first_ok = reports.iter().find_map(|r| r.result.as_ref().ok());
    outcome.evidence.timing = Some(TimingBreakdown {
        dns_ms: resolution.dns.map(ms),
        connect_ms: first_ok.map(|r| ms(r.connect)),
        tls_ms: first_ok.map(|r| ms(r.handshake)),
        first_byte_ms: None,
        total_ms: Some(ms(started.elapsed())),
    });
    outcome.evidence.insert("host", spec.host.clone());
    outcome.evidence.insert("port", spec.port);
    outcome.evidence.insert(
        "addresses",
        Value::Array(reports.iter().map(address_json).collect()),
    );
    let earliest_end = reports
        .iter()
        .filter_map(|r| r.result.as_ref().ok())
        .filter_map(|r| r.judged.analysis.certificates.first())
        .map(|leaf| leaf.not_after)
        .min();
    let ok_message = match earliest_end {
        Some(end) => format!(
            "certificate for {} valid until {}",
            spec.host,
            format_rfc3339(end * 1000)
        ),
        None => format!("certificate for {} checked", spec.host),
    };
    finish(outcome, ok_message, started)
}

async fn check_address(
    ctx: &ProbeContext,
    roots: Arc<RootCertStore>,
    host: &str,
    addr: SocketAddr,
    options: &keepup_config::TlsOptions,
) -> Result<AddressOk, Finding> {
    let connected = connect_first(ctx, &[addr])
        .await
        .map_err(|f| f.into_finding(ctx))?;
    let hs = handshake(ctx, roots, host, connected.stream, &[b"http/1.1"])
        .await
        .map_err(|f| f.into_finding(ctx))?;
    let judged = judge(ctx, &hs.captured, host, options, Purpose::Certificate).await;
    // Nothing is sent over the connection; dropping it closes it.
    drop(hs.stream);
    Ok(AddressOk {
        connect: connected.elapsed,
        handshake: hs.elapsed,
        info: hs.info,
        judged,
    })
}

/// Findings of all addresses; identical findings are merged and, when
/// several addresses were checked, say which addresses they concern.
fn grouped_findings(reports: &[AddressReport], several: bool) -> Vec<Finding> {
    let mut order: Vec<(String, Severity, String)> = Vec::new();
    let mut where_: BTreeMap<(String, String), Vec<SocketAddr>> = BTreeMap::new();
    for report in reports {
        let findings: Vec<Finding> = match &report.result {
            Ok(ok) => ok.judged.findings.clone(),
            Err(finding) => vec![finding.clone()],
        };
        for f in findings {
            let key = (f.code.clone(), f.text.clone());
            let addrs = where_.entry(key).or_default();
            if addrs.is_empty() {
                order.push((f.code.clone(), f.severity, f.text.clone()));
            }
            addrs.push(report.addr);
        }
    }
    order
        .into_iter()
        .map(|(code, severity, text)| {
            let text = if several {
                let mut addrs = where_
                    .get(&(code.clone(), text.clone()))
                    .cloned()
                    .unwrap_or_default();
                addrs.sort();
                let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                format!("{text} (at {})", list.join(", "))
            } else {
                text
            };
            Finding::new(code, severity, text)
        })
        .collect()
}

/// An Info finding when the addresses do not all present the same leaf.
fn differing_certificates(reports: &[AddressReport]) -> Option<Finding> {
    let mut leaves: Vec<(SocketAddr, &analysis::CertSummary)> = reports
        .iter()
        .filter_map(|r| {
            let ok = r.result.as_ref().ok()?;
            Some((r.addr, ok.judged.analysis.certificates.first()?))
        })
        .collect();
    leaves.sort_by_key(|(addr, _)| *addr);
    let (first_addr, first) = *leaves.first()?;
    let odd: Vec<String> = leaves
        .iter()
        .filter(|(_, leaf)| leaf.sha256 != first.sha256)
        .map(|(addr, _)| addr.to_string())
        .collect();
    if odd.is_empty() {
        return None;
    }
    Some(Finding::new(
        codes::TLS_CERT_DIFFERS,
        Severity::Info,
        format!(
            "{} present(s) a different certificate than {first_addr}",
            odd.join(", ")
        ),
    ))
}

fn address_json(report: &AddressReport) -> Value {
    match &report.result {
        Ok(ok) => json!({
            "address": report.addr.to_string(),
            "connect_ms": ms(ok.connect),
            "tls_ms": ms(ok.handshake),
            "tls": ok.info.to_json(),
            "verification": ok.judged.verification,
            "certificates": ok
                .judged
                .analysis
                .certificates
                .iter()
                .map(analysis::CertSummary::to_json)
                .collect::<Vec<_>>(),
        }),
        Err(finding) => json!({
            "address": report.addr.to_string(),
            "error": finding.text,
            "code": finding.code,
        }),
    }
}
