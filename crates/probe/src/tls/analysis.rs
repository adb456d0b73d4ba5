//! Certificate chain analysis: a pure function from DER certificates (plus
//! the trust verdict and the time) to findings and a summary per
//! certificate. No I/O, so every rule is unit-tested on generated
//! certificates.

use keepup_config::CertThresholds;
use keepup_model::{Finding, Severity, format_rfc3339};
use keepup_trust::explain::{self, Remedy};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use x509_parser::prelude::{GeneralName, X509Certificate, parse_x509_certificate};
use x509_parser::public_key::PublicKey;

use crate::codes;

const DAY: f64 = 86_400.0;

/// Whether a presented chain leads to a trusted root, judged at a moment
/// when every presented certificate was within its validity (so that expiry
/// and trust are reported separately).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainTrust {
    /// It does.
    Trusted,
    /// The issuer of the top presented certificate is not a trusted root.
    UnknownIssuer,
    /// Another reason (bad signature, unsupported algorithm, ...): the
    /// sentence [`keepup_trust::explain`] makes of webpki's verdict.
    Untrusted(String),
    /// Could not be judged apart from expiry (e.g. the validity windows of
    /// the presented certificates do not overlap).
    Undetermined,
}

/// What the analysis needs besides the certificates.
#[derive(Debug, Clone)]
pub struct AnalysisInput<'a> {
    /// The name the client asked for (DNS name or IP literal).
    pub host: &'a str,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
    /// Expiry thresholds.
    pub thresholds: CertThresholds,
    /// The trust verdict.
    pub trust: ChainTrust,
    /// webpki's own verdict at handshake time, if it failed, as a
    /// sentence: a safety net reported as [`codes::TLS_CHAIN_UNTRUSTED`]
    /// when no other rule explains it.
    pub verifier_error: Option<String>,
}

/// What kind of problem a finding is, which decides how `verify = false`
/// treats it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKind {
    /// Chain trust, completeness, hostname, unparseable certificate: a
    /// verifying client refuses the connection.
    Trust,
    /// Outside the validity window (expired, not yet valid): a verifying
    /// client refuses the connection.
    Validity,
    /// Expiring within the thresholds: still valid.
    Expiry,
    /// Weak keys and signatures.
    Strength,
}

impl FindingKind {
    /// Whether a client that verifies certificates would refuse to talk.
    pub fn blocks(self) -> bool {
        matches!(self, FindingKind::Trust | FindingKind::Validity)
    }
}

/// A finding with its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct CertFinding {
    /// The finding, at its natural severity.
    pub finding: Finding,
    /// Its kind.
    pub kind: FindingKind,
}

/// The result of [`analyse_chain`].
#[derive(Debug, Clone, Default)]
pub struct ChainAnalysis {
    /// Problems found, leaf first.
    pub findings: Vec<CertFinding>,
    /// One summary per parseable presented certificate, in presented order.
    pub certificates: Vec<CertSummary>,
}

impl ChainAnalysis {
    /// Whether any finding would make a verifying client refuse.
    pub fn blocks(&self) -> bool {
        self.findings
            .iter()
            .any(|f| f.kind.blocks() && f.finding.severity == Severity::Critical)
    }
}

/// Where a certificate stands in its validity window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpiryState {
    /// Before `not_before`.
    NotYetValid,
    /// After `not_after`.
    Expired,
    /// Less left than the critical threshold.
    Critical,
    /// Less left than the warning threshold.
    Warning,
    /// Fine.
    Ok,
}

/// Judges remaining validity against the thresholds: warning below
/// `min(warn_days, warn_fraction × lifetime)`, critical below
/// `min(crit_days, crit_fraction × lifetime)`. All times in seconds since
/// the epoch.
pub fn expiry_state(
    not_before: i64,
    not_after: i64,
    now: i64,
    thresholds: &CertThresholds,
) -> ExpiryState {
    if now < not_before {
        return ExpiryState::NotYetValid;
    }
    if now > not_after {
        return ExpiryState::Expired;
    }
    let (warn, crit) = thresholds_days(not_before, not_after, thresholds);
    let remaining = (not_after - now) as f64 / DAY;
    if remaining < crit {
        ExpiryState::Critical
    } else if remaining < warn {
        ExpiryState::Warning
    } else {
        ExpiryState::Ok
    }
}

/// The effective (warning, critical) thresholds in days for a certificate.
fn thresholds_days(not_before: i64, not_after: i64, t: &CertThresholds) -> (f64, f64) {
    let lifetime = (not_after - not_before).max(0) as f64 / DAY;
    (
        t.warn_days.min(t.warn_fraction * lifetime),
        t.crit_days.min(t.crit_fraction * lifetime),
    )
}

/// The facts about one certificate that a human wants to see.
#[derive(Debug, Clone, PartialEq)]
pub struct CertSummary {
    /// Subject distinguished name.
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// Subject alternative names (`DNS:…`, `IP:…`).
    pub sans: Vec<String>,
    /// Start of validity, seconds since the epoch.
    pub not_before: i64,
    /// End of validity, seconds since the epoch.
    pub not_after: i64,
    /// Days left at analysis time (negative when expired).
    pub days_left: f64,
    /// Key algorithm: `RSA`, `ECDSA P-256`, `Ed25519`, ...
    pub key_type: String,
    /// Key size in bits (0 when unknown).
    pub key_bits: u32,
    /// Signature algorithm name (or OID when unknown).
    pub signature_algorithm: String,
    /// Serial number, hex.
    pub serial: String,
    /// SHA-256 fingerprint of the DER, uppercase hex with colons.
    pub sha256: String,
    /// Subject equals issuer.
    pub self_signed: bool,
    /// A CA certificate.
    pub is_ca: bool,
}

impl CertSummary {
    /// As JSON for evidence.
    pub fn to_json(&self) -> Value {
        json!({
            "subject": self.subject,
            "issuer": self.issuer,
            "sans": self.sans,
            "not_before": format_rfc3339(self.not_before * 1000),
            "not_after": format_rfc3339(self.not_after * 1000),
            "days_left": (self.days_left * 10.0).round() / 10.0,
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "signature_algorithm": self.signature_algorithm,
            "serial": self.serial,
            "sha256": self.sha256,
            "self_signed": self.self_signed,
            "is_ca": self.is_ca,
        })
    }
}

/// Summarizes one DER certificate.
pub fn summarize(der: &CertificateDer<'_>, now: i64) -> Result<CertSummary, String> {
    let (_, cert) = parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    Ok(summary_of(&cert, der, now))
}

fn summary_of(cert: &X509Certificate<'_>, der: &CertificateDer<'_>, now: i64) -> CertSummary {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let (key_type, key_bits) = key_info(cert);
    CertSummary {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        sans: sans(cert),
        not_before,
        not_after,
        days_left: (not_after - now) as f64 / DAY,
        key_type,
        key_bits,
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        serial: cert.raw_serial_as_string(),
        sha256: fingerprint(der.as_ref()),
        self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
        is_ca: cert.is_ca(),
    }
}

/// Analyses a presented chain (leaf first) for `input.host`.
pub fn analyse_chain(chain: &[CertificateDer<'_>], input: &AnalysisInput<'_>) -> ChainAnalysis {
    let mut out = ChainAnalysis::default();
    let mut parsed = Vec::with_capacity(chain.len());
    for (i, der) in chain.iter().enumerate() {
        match parse_x509_certificate(der.as_ref()) {
            Ok((_, cert)) => {
                out.certificates.push(summary_of(&cert, der, input.now));
                parsed.push(cert);
            }
            Err(e) => {
                let which = if i == 0 {
                    "the server certificate".to_owned()
                } else {
                    format!("certificate #{} of the chain", i + 1)
                };
                push(
                    &mut out,
                    codes::TLS_CERT_UNPARSEABLE,
                    Severity::Critical,
                    FindingKind::Trust,
                    format!(
                        "{which} for {} cannot be parsed: it is not valid X.509 ({})",
                        input.host,
                        x509_parse_reason(&e)
                    ),
                );
                if i == 0 {
                    return out;
                }
            }
        }
    }
    let Some(leaf) = parsed.first() else {
        push(
            &mut out,
            codes::TLS_CHAIN_UNTRUSTED,
            Severity::Critical,
            FindingKind::Trust,
            format!("the server for {} presented no certificate", input.host),
        );
        return out;
    };

    check_leaf_validity(&mut out, leaf, input);
    check_hostname(&mut out, chain, leaf, input);
    check_trust(&mut out, &parsed, input);
    for cert in parsed.iter().skip(1) {
        // A self-signed certificate at the top is a root the server sent
        // needlessly; clients take roots from their own store.
        if cert.subject().as_raw() != cert.issuer().as_raw() {
            check_intermediate_validity(&mut out, cert, input);
        }
    }
    for (i, cert) in parsed.iter().enumerate() {
        let sent_root = i > 0 && cert.subject().as_raw() == cert.issuer().as_raw();
        check_strength(&mut out, cert, sent_root);
    }
    if let Some(reason) = &input.verifier_error
        && !out.blocks()
    {
        push(
            &mut out,
            codes::TLS_CHAIN_UNTRUSTED,
            Severity::Critical,
            FindingKind::Trust,
            reason.clone(),
        );
    }
    out
}

/// x509-parser's complaint in words; its Display shows DER structures.
fn x509_parse_reason(e: &x509_parser::nom::Err<x509_parser::error::X509Error>) -> &'static str {
    use x509_parser::error::X509Error;
    match e {
        x509_parser::nom::Err::Incomplete(_) => "the data ends early",
        x509_parser::nom::Err::Error(X509Error::Der(_))
        | x509_parser::nom::Err::Failure(X509Error::Der(_)) => "malformed DER encoding",
        _ => "a field holds an invalid value",
    }
}

fn push(out: &mut ChainAnalysis, code: &str, severity: Severity, kind: FindingKind, text: String) {
    out.findings.push(CertFinding {
        finding: Finding::new(code, severity, text),
        kind,
    });
}

fn date(secs: i64) -> String {
    format_rfc3339(secs * 1000)
}

fn days(d: f64) -> String {
    if (d - d.round()).abs() < 0.05 {
        format!("{}-day", d.round())
    } else {
        format!("{d:.1}-day")
    }
}

fn check_leaf_validity(
    out: &mut ChainAnalysis,
    leaf: &X509Certificate<'_>,
    input: &AnalysisInput<'_>,
) {
    let host = input.host;
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    let (warn, crit) = thresholds_days(not_before, not_after, &input.thresholds);
    match expiry_state(not_before, not_after, input.now, &input.thresholds) {
        ExpiryState::NotYetValid => push(
            out,
            codes::TLS_CERT_NOT_YET_VALID,
            Severity::Critical,
            FindingKind::Validity,
            format!(
                "the certificate for {host} is not valid before {}",
                date(not_before)
            ),
        ),
        ExpiryState::Expired => push(
            out,
            codes::TLS_CERT_EXPIRED,
            Severity::Critical,
            FindingKind::Validity,
            format!("the certificate for {host} expired on {}", date(not_after)),
        ),
        ExpiryState::Critical => push(
            out,
            codes::TLS_CERT_EXPIRING,
            Severity::Critical,
            FindingKind::Expiry,
            format!(
                "the certificate for {host} expires on {}, within the {} critical threshold",
                date(not_after),
                days(crit)
            ),
        ),
        ExpiryState::Warning => push(
            out,
            codes::TLS_CERT_EXPIRING,
            Severity::Warning,
            FindingKind::Expiry,
            format!(
                "the certificate for {host} expires on {}, within the {} warning threshold",
                date(not_after),
                days(warn)
            ),
        ),
        ExpiryState::Ok => {}
    }
}

fn check_intermediate_validity(
    out: &mut ChainAnalysis,
    cert: &X509Certificate<'_>,
    input: &AnalysisInput<'_>,
) {
    let name = short_name(cert);
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let (warn, crit) = thresholds_days(not_before, not_after, &input.thresholds);
    let (code, severity, kind, text) = match expiry_state(
        not_before,
        not_after,
        input.now,
        &input.thresholds,
    ) {
        ExpiryState::NotYetValid => (
            codes::TLS_CERT_NOT_YET_VALID,
            Severity::Critical,
            FindingKind::Validity,
            format!(
                "the intermediate certificate '{name}' is not valid before {}",
                date(not_before)
            ),
        ),
        ExpiryState::Expired => (
            codes::TLS_INTERMEDIATE_EXPIRED,
            Severity::Critical,
            FindingKind::Validity,
            format!(
                "the intermediate certificate '{name}' expired on {}",
                date(not_after)
            ),
        ),
        ExpiryState::Critical => (
            codes::TLS_INTERMEDIATE_EXPIRING,
            Severity::Critical,
            FindingKind::Expiry,
            format!(
                "the intermediate certificate '{name}' expires on {}, within the {} critical threshold",
                date(not_after),
                days(crit)
            ),
        ),
        ExpiryState::Warning => (
            codes::TLS_INTERMEDIATE_EXPIRING,
            Severity::Warning,
            FindingKind::Expiry,
            format!(
                "the intermediate certificate '{name}' expires on {}, within the {} warning threshold",
                date(not_after),
                days(warn)
            ),
        ),
        ExpiryState::Ok => return,
    };
    push(out, code, severity, kind, text);
}

fn check_hostname(
    out: &mut ChainAnalysis,
    chain: &[CertificateDer<'_>],
    leaf: &X509Certificate<'_>,
    input: &AnalysisInput<'_>,
) {
    let host = crate::context::normalize_host(input.host);
    let problem = match ServerName::try_from(host.as_str()) {
        Err(_) => Some(format!("{host} is not a valid host name")),
        Ok(name) => match rustls::server::ParsedCertificate::try_from(&chain[0]) {
            Err(e) => Some(format!("the certificate cannot be checked: {e}")),
            Ok(parsed) => rustls::client::verify_server_name(&parsed, &name)
                .err()
                .map(|_| {
                    let sans = sans(leaf);
                    if sans.is_empty() {
                        "it names no host (no subject alternative names)".to_owned()
                    } else {
                        let shown: Vec<&str> = sans.iter().take(10).map(String::as_str).collect();
                        let more = if sans.len() > 10 { ", …" } else { "" };
                        format!("it is valid for {}{more}", shown.join(", "))
                    }
                }),
        },
    };
    if let Some(why) = problem {
        push(
            out,
            codes::TLS_HOSTNAME_MISMATCH,
            Severity::Critical,
            FindingKind::Trust,
            format!("the certificate is not valid for {host}: {why}"),
        );
    }
}

fn check_trust(out: &mut ChainAnalysis, parsed: &[X509Certificate<'_>], input: &AnalysisInput<'_>) {
    let host = input.host;
    let (code, text) = match &input.trust {
        ChainTrust::Trusted | ChainTrust::Undetermined => return,
        ChainTrust::Untrusted(sentence) => (codes::TLS_CHAIN_UNTRUSTED, sentence.clone()),
        ChainTrust::UnknownIssuer => {
            let top = chain_top(parsed);
            if top.subject().as_raw() == top.issuer().as_raw() {
                let text = if parsed.len() == 1 {
                    explain::self_signed(host, false, Remedy::CaFileOrNoVerify)
                } else {
                    explain::untrusted_root(host, &short_name(top), Remedy::CaFileOrNoVerify)
                };
                (codes::TLS_CHAIN_UNTRUSTED, text)
            } else {
                (
                    codes::TLS_CHAIN_INCOMPLETE,
                    format!(
                        "the certificate chain for {host} is incomplete or untrusted: the issuer '{}' of '{}' was not sent by the server and is not a trusted root (if it is an intermediate, make the server send it; if it is a private CA, add it with `ca_file`)",
                        issuer_short_name(top),
                        short_name(top)
                    ),
                )
            }
        }
    };
    push(out, code, Severity::Critical, FindingKind::Trust, text);
}

/// Follows issuer links from the leaf through the presented certificates
/// and returns the last one reached.
fn chain_top<'a, 'b>(parsed: &'a [X509Certificate<'b>]) -> &'a X509Certificate<'b> {
    let mut current = &parsed[0];
    // At most one step per certificate: a loop in the presented chain ends
    // the walk.
    for _ in 0..parsed.len() {
        if current.subject().as_raw() == current.issuer().as_raw() {
            break;
        }
        match parsed
            .iter()
            .find(|c| c.subject().as_raw() == current.issuer().as_raw())
        {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

fn check_strength(out: &mut ChainAnalysis, cert: &X509Certificate<'_>, is_root: bool) {
    let name = short_name(cert);
    let (key_type, bits) = key_info(cert);
    let weak_key = match key_type.as_str() {
        "RSA" | "DSA" => bits > 0 && bits < 2048,
        t if t.starts_with("ECDSA") => bits > 0 && bits < 256,
        _ => false,
    };
    if weak_key {
        push(
            out,
            codes::TLS_WEAK_KEY,
            Severity::Warning,
            FindingKind::Strength,
            format!("'{name}' has a weak {bits}-bit {key_type} key"),
        );
    }
    // The signature on a root is never checked by clients, so it cannot be
    // weak in any way that matters.
    if !is_root {
        let oid = cert.signature_algorithm.algorithm.to_id_string();
        if is_weak_signature(&oid) {
            push(
                out,
                codes::TLS_WEAK_SIGNATURE,
                Severity::Warning,
                FindingKind::Strength,
                format!(
                    "'{name}' is signed with {}, a broken hash",
                    signature_name(&oid)
                ),
            );
        }
    }
}

fn short_name(cert: &X509Certificate<'_>) -> String {
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| cert.subject().to_string())
}

fn issuer_short_name(cert: &X509Certificate<'_>) -> String {
    cert.issuer()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| cert.issuer().to_string())
}

fn sans(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(ext)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    ext.value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some(format!("DNS:{dns}")),
            GeneralName::IPAddress(bytes) => ip_from_bytes(bytes).map(|ip| format!("IP:{ip}")),
            _ => None,
        })
        .collect()
}

fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// Key algorithm and size in bits.
fn key_info(cert: &X509Certificate<'_>) -> (String, u32) {
    let spki = cert.public_key();
    let alg = spki.algorithm.algorithm.to_id_string();
    match alg.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::RSA(rsa)) => unsigned_bits(rsa.modulus),
                _ => 0,
            };
            ("RSA".to_owned(), bits)
        }
        "1.2.840.10045.2.1" => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|oid| oid.to_id_string());
            let (name, bits) = match curve.as_deref() {
                Some("1.2.840.10045.3.1.7") => ("P-256", 256),
                Some("1.3.132.0.34") => ("P-384", 384),
                Some("1.3.132.0.35") => ("P-521", 521),
                Some("1.2.840.10045.3.1.1") => ("P-192", 192),
                Some("1.3.132.0.33") => ("P-224", 224),
                _ => {
                    let bits = match spki.parsed() {
                        Ok(PublicKey::EC(point)) => point.key_size() as u32,
                        _ => 0,
                    };
                    return ("ECDSA".to_owned(), bits);
                }
            };
            (format!("ECDSA {name}"), bits)
        }
        "1.3.101.112" => ("Ed25519".to_owned(), 256),
        "1.3.101.113" => ("Ed448".to_owned(), 456),
        "1.2.840.10040.4.1" => {
            let bits = match spki.parsed() {
                Ok(PublicKey::DSA(y)) => unsigned_bits(y),
                _ => 0,
            };
            ("DSA".to_owned(), bits)
        }
        other => (other.to_owned(), 0),
    }
}

/// Bits of a big-endian unsigned integer, ignoring leading zero bytes and
/// bits.
fn unsigned_bits(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|b| *b != 0) {
        Some(i) => &bytes[i..],
        None => return 0,
    };
    (trimmed.len() as u32) * 8 - trimmed[0].leading_zeros()
}

fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "RSASSA-PSS",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        other => return other.to_owned(),
    }
    .to_owned()
}

fn is_weak_signature(oid: &str) -> bool {
    matches!(
        oid,
        "1.2.840.113549.1.1.2"
            | "1.2.840.113549.1.1.4"
            | "1.2.840.113549.1.1.5"
            | "1.2.840.10045.4.1"
            | "1.2.840.10040.4.3"
            // sha1WithRSA as registered by OIW
            | "1.3.14.3.2.29"
    )
}

/// SHA-256 of `bytes`, as uppercase hex pairs joined by colons. The hash
/// comes from the aws-lc-rs provider (the one crypto library in use).
fn fingerprint(bytes: &[u8]) -> String {
    let Some(suite) = rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()
    else {
        return String::new();
    };
    let digest = suite.common.hash_provider.hash(bytes);
    digest
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_testkit::pki::{self, CertAuthority, validity};
    use rustls::pki_types::pem::PemObject;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }

    fn input(host: &str, trust: ChainTrust) -> AnalysisInput<'_> {
        AnalysisInput {
            host,
            now: now(),
            thresholds: CertThresholds::default(),
            trust,
            verifier_error: None,
        }
    }

    fn codes_of(a: &ChainAnalysis) -> Vec<&str> {
        a.findings.iter().map(|f| f.finding.code.as_str()).collect()
    }

    #[test]
    fn warning_is_relative_to_lifetime() {
        let t = CertThresholds::default();
        let day = DAY as i64;
        let now = 1_000_000_000;
        // 47-day certificate with 20 days left: threshold min(30, 15.7) = 15.7.
        let state = expiry_state(now - 27 * day, now + 20 * day, now, &t);
        assert_eq!(state, ExpiryState::Ok);
        // 398-day certificate with 20 days left: threshold min(30, 132.7) = 30.
        let state = expiry_state(now - 378 * day, now + 20 * day, now, &t);
        assert_eq!(state, ExpiryState::Warning);
        // Critical below min(7, 0.1 × lifetime).
        let state = expiry_state(now - 391 * day, now + 6 * day, now, &t);
        assert_eq!(state, ExpiryState::Critical);
        // 47-day certificate: critical below 4.7 days, so 5 days is a warning.
        let state = expiry_state(now - 42 * day, now + 5 * day, now, &t);
        assert_eq!(state, ExpiryState::Warning);
        assert_eq!(
            expiry_state(now + day, now + 2 * day, now, &t),
            ExpiryState::NotYetValid
        );
        assert_eq!(
            expiry_state(now - 2 * day, now - day, now, &t),
            ExpiryState::Expired
        );
    }

    #[test]
    fn generated_47_and_398_day_certificates_with_20_days_left() {
        let ca = CertAuthority::new("Root").unwrap();
        let short = ca
            .issue(
                &["shop.test"],
                validity::lifetime_with_remaining(47.0, 20.0),
            )
            .unwrap();
        let a = analyse_chain(
            &short.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert!(a.findings.is_empty(), "{:?}", a.findings);

        let long = ca
            .issue(
                &["shop.test"],
                validity::lifetime_with_remaining(398.0, 20.0),
            )
            .unwrap();
        let a = analyse_chain(
            &long.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_CERT_EXPIRING]);
        assert_eq!(a.findings[0].finding.severity, Severity::Warning);
        assert!(
            a.findings[0]
                .finding
                .text
                .contains("30-day warning threshold")
        );
        assert!(!a.blocks());
    }

    #[test]
    fn expired_not_yet_valid_and_wrong_host() {
        let ca = CertAuthority::new("Root").unwrap();
        let expired = ca.issue(&["shop.test"], validity::expired()).unwrap();
        let a = analyse_chain(
            &expired.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_CERT_EXPIRED]);
        assert!(a.blocks());

        let future = ca.issue(&["shop.test"], validity::not_yet_valid()).unwrap();
        let a = analyse_chain(
            &future.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_CERT_NOT_YET_VALID]);

        let other = ca
            .issue(&["other.test", "127.0.0.1"], validity::current())
            .unwrap();
        let a = analyse_chain(
            &other.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_HOSTNAME_MISMATCH]);
        let text = &a.findings[0].finding.text;
        assert!(
            text.contains("DNS:other.test") && text.contains("IP:127.0.0.1"),
            "{text}"
        );
        // The IP SAN matches an IP literal host.
        let a = analyse_chain(
            &other.served_chain(),
            &input("127.0.0.1", ChainTrust::Trusted),
        );
        assert!(a.findings.is_empty(), "{:?}", a.findings);
    }

    #[test]
    fn self_signed_versus_missing_intermediate() {
        let selfie = pki::self_signed(&["shop.test"], validity::current()).unwrap();
        let a = analyse_chain(
            &selfie.chain,
            &input("shop.test", ChainTrust::UnknownIssuer),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_CHAIN_UNTRUSTED]);
        assert!(a.findings[0].finding.text.contains("self-signed"));

        let root = CertAuthority::new("Root").unwrap();
        let inter = root.intermediate("Issuing CA").unwrap();
        let leaf = inter.issue(&["shop.test"], validity::current()).unwrap();
        let a = analyse_chain(
            &leaf.chain[..1],
            &input("shop.test", ChainTrust::UnknownIssuer),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_CHAIN_INCOMPLETE]);
        assert!(a.findings[0].finding.text.contains("'Issuing CA'"));

        // With the intermediate, an unknown root is "untrusted", not incomplete.
        let a = analyse_chain(&leaf.chain, &input("shop.test", ChainTrust::UnknownIssuer));
        assert_eq!(codes_of(&a), vec![codes::TLS_CHAIN_UNTRUSTED]);
        assert!(a.findings[0].finding.text.contains("'Root'"));
    }

    #[test]
    fn intermediate_expiry_and_summaries() {
        let root = CertAuthority::new("Root").unwrap();
        let inter = root
            .intermediate_with_validity("Old CA", validity::days_around(-400, -2))
            .unwrap();
        let leaf = inter
            .issue(&["shop.test"], validity::days_around(-500, 60))
            .unwrap();
        let a = analyse_chain(
            &leaf.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_INTERMEDIATE_EXPIRED]);
        assert_eq!(a.certificates.len(), 2);
        let s = &a.certificates[0];
        assert_eq!(s.key_type, "ECDSA P-256");
        assert_eq!(s.key_bits, 256);
        assert_eq!(s.signature_algorithm, "ecdsa-with-SHA256");
        assert_eq!(s.sans, vec!["DNS:shop.test"]);
        assert_eq!(s.sha256.len(), 32 * 3 - 1);
        assert!(!s.is_ca && a.certificates[1].is_ca);
        let j = s.to_json();
        assert!(j["not_after"].as_str().unwrap().ends_with('Z'));

        let expiring = root
            .intermediate_with_validity("Ageing CA", validity::days_around(-1000, 10))
            .unwrap();
        let leaf = expiring.issue(&["shop.test"], validity::current()).unwrap();
        let a = analyse_chain(
            &leaf.served_chain(),
            &input("shop.test", ChainTrust::Trusted),
        );
        assert_eq!(codes_of(&a), vec![codes::TLS_INTERMEDIATE_EXPIRING]);
    }

    #[test]
    fn weak_key_and_sha1_signature() {
        let pem = include_str!("weak-rsa1024-sha1.pem");
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let mut i = input("weak.test", ChainTrust::Trusted);
        // The fixture was made on 2026-11-21 for ten years; judge it then.
        i.now = 1_795_300_000;
        let a = analyse_chain(std::slice::from_ref(&der), &i);
        let found = codes_of(&a);
        assert!(found.contains(&codes::TLS_WEAK_KEY), "{found:?}");
        assert!(found.contains(&codes::TLS_WEAK_SIGNATURE), "{found:?}");
        assert_eq!(a.certificates[0].key_bits, 1024);
        assert_eq!(a.certificates[0].key_type, "RSA");
    }

    #[test]
    fn garbage_and_verifier_safety_net() {
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x01, 0x01, 0xff]);
        let a = analyse_chain(&[junk], &input("shop.test", ChainTrust::Trusted));
        assert_eq!(codes_of(&a), vec![codes::TLS_CERT_UNPARSEABLE]);
        let a = analyse_chain(&[], &input("shop.test", ChainTrust::Trusted));
        assert_eq!(codes_of(&a), vec![codes::TLS_CHAIN_UNTRUSTED]);

        let ca = CertAuthority::new("Root").unwrap();
        let ok = ca.issue(&["shop.test"], validity::current()).unwrap();
        let mut i = input("shop.test", ChainTrust::Trusted);
        i.verifier_error = Some("the certificate for shop.test was refused by the verifier".into());
        let a = analyse_chain(&ok.served_chain(), &i);
        assert_eq!(codes_of(&a), vec![codes::TLS_CHAIN_UNTRUSTED]);
    }

    #[test]
    fn unsigned_bits_counts_significant_bits() {
        assert_eq!(unsigned_bits(&[0x00, 0x80, 0x00]), 16);
        assert_eq!(unsigned_bits(&[0x01, 0x00]), 9);
        assert_eq!(unsigned_bits(&[0x00]), 0);
    }
}
