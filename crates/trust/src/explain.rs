//! Sentences for why a TLS connection failed: what is wrong and what to do.
//!
//! rustls and webpki describe a refusal with their own types, whose text is
//! often a debug structure (`Other(OtherError(CaUsedAsEndEntity))`, byte
//! arrays of algorithm identifiers). Every keepup TLS client — probes,
//! notification channels, backup targets — turns such an error into words
//! here, so a problem reads the same wherever it shows up. The raw error
//! belongs in evidence for experts, never in the sentence.

use rustls::{AlertDescription, CertificateError, ExtendedKeyPurpose};

/// What the user can change where the failing connection was configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remedy {
    /// A `ca_file` and `verify = false` (checks).
    CaFileOrNoVerify,
    /// A `ca_file` only (e-mail channels, backup targets: they always
    /// verify).
    CaFile,
    /// Only the system's roots are used (HTTP notification channels).
    SystemRoots,
}

impl Remedy {
    fn trust_advice(self) -> &'static str {
        match self {
            Remedy::CaFileOrNoVerify => "add its CA with `ca_file`, or set `verify = false`",
            Remedy::CaFile => "add its CA with `ca_file`",
            Remedy::SystemRoots => "add its CA to this machine's trusted certificates",
        }
    }
}

/// The first rustls error in `error` or its sources, looking inside
/// `std::io::Error`s (where tokio-rustls puts it) too.
pub fn find_tls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    // Source chains are short; the bound only guards against a cycle.
    for _ in 0..16 {
        let e = current?;
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(inner);
        }
        current = e.source();
    }
    None
}

/// Whether retrying cannot help: the peer's certificate was refused.
pub fn is_certificate_refusal(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
    )
}

/// Why the TLS handshake with `host` failed, as a sentence.
pub fn tls_error(error: &rustls::Error, host: &str, remedy: Remedy) -> String {
    match error {
        rustls::Error::InvalidCertificate(e) => certificate_error(e, host, remedy),
        rustls::Error::NoCertificatesPresented => format!("{host} presented no certificate"),
        rustls::Error::AlertReceived(alert) => alert_received(*alert, host),
        rustls::Error::PeerIncompatible(_) => format!(
            "{host} and keepup have no TLS version or cipher suite in common (keepup speaks TLS 1.2 and 1.3 with current cipher suites): update the server's TLS settings"
        ),
        rustls::Error::InvalidMessage(_)
        | rustls::Error::InappropriateMessage { .. }
        | rustls::Error::InappropriateHandshakeMessage { .. } => format!(
            "{host} does not speak TLS on this port (is it a plain-text port, or is TLS started later with STARTTLS?)"
        ),
        rustls::Error::PeerMisbehaved(_) => {
            format!("{host} broke the TLS protocol during the handshake")
        }
        rustls::Error::DecryptError => format!(
            "the TLS handshake with {host} failed to decrypt (does the server's private key match its certificate?)"
        ),
        other => format!("the TLS handshake with {host} failed: {other}"),
    }
}

/// Why the certificate `host` presented was refused, as a sentence.
pub fn certificate_error(error: &CertificateError, host: &str, remedy: Remedy) -> String {
    match error {
        CertificateError::UnknownIssuer => format!(
            "the certificate for {host} is not issued by a certificate authority keepup trusts (self-signed or from a private CA?): {}",
            remedy.trust_advice()
        ),
        CertificateError::BadSignature
        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => format!(
            "a signature in the certificate chain for {host} does not match the key of the certificate it names as its issuer (a trusted certificate of that name was replaced by another?): {}",
            remedy.trust_advice()
        ),
        #[allow(deprecated)]
        CertificateError::UnsupportedSignatureAlgorithm
        | CertificateError::UnsupportedSignatureAlgorithmContext { .. } => format!(
            "the certificate chain for {host} is signed with an algorithm keepup does not accept (SHA-1, MD5 or DSA?): have the certificate reissued with SHA-256 and RSA or ECDSA"
        ),
        CertificateError::NotValidForName => {
            format!("the certificate is not valid for {host}: use a certificate that names it")
        }
        CertificateError::NotValidForNameContext { presented, .. } => {
            let names: Vec<&str> = presented.iter().filter_map(|p| presented_name(p)).collect();
            let shown: Vec<&str> = names.iter().take(10).copied().collect();
            let more = if names.len() > 10 { ", …" } else { "" };
            if shown.is_empty() {
                format!(
                    "the certificate is not valid for {host}: it names no host; use a certificate that names it"
                )
            } else {
                format!(
                    "the certificate is not valid for {host}: it is for {}{more}; use a certificate that names {host}",
                    shown.join(", ")
                )
            }
        }
        CertificateError::Expired => {
            format!("a certificate in the chain for {host} has expired: renew it")
        }
        CertificateError::ExpiredContext { not_after, .. } => format!(
            "a certificate in the chain for {host} expired at {}: renew it",
            date(not_after)
        ),
        CertificateError::NotValidYet => format!(
            "a certificate in the chain for {host} is not valid yet (check the clocks of the server and of this machine)"
        ),
        CertificateError::NotValidYetContext { not_before, .. } => format!(
            "a certificate in the chain for {host} is not valid before {} (check the clocks of the server and of this machine)",
            date(not_before)
        ),
        CertificateError::Revoked => {
            format!("the certificate for {host} was revoked by its CA: install a new one")
        }
        CertificateError::BadEncoding => {
            format!("a certificate {host} presented is malformed (not valid DER)")
        }
        CertificateError::UnhandledCriticalExtension => format!(
            "a certificate in the chain for {host} has a critical extension keepup does not understand"
        ),
        CertificateError::InvalidPurpose => wrong_purpose(host, None),
        CertificateError::InvalidPurposeContext { presented, .. } => {
            wrong_purpose(host, Some(presented))
        }
        CertificateError::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(e) => webpki_error(e, host, remedy),
            None => format!("the certificate for {host} was refused: {other}"),
        },
        _ => format!("the certificate for {host} was refused by the verifier"),
    }
}

/// A self-signed certificate that is not trusted. `replaced` says that a
/// trusted certificate carries its name with another key (the verifier
/// then reports a bad signature rather than an unknown issuer).
pub fn self_signed(host: &str, replaced: bool, remedy: Remedy) -> String {
    let why = if replaced {
        "; a trusted certificate has its name but another key (was it regenerated?)"
    } else {
        ""
    };
    format!(
        "the certificate for {host} is self-signed and not issued by a trusted CA{why} ({})",
        remedy.trust_advice()
    )
}

/// A chain that ends at a self-signed root nobody trusts.
pub fn untrusted_root(host: &str, root: &str, remedy: Remedy) -> String {
    format!(
        "the certificate chain for {host} ends at '{root}', a root certificate keepup does not trust ({})",
        remedy.trust_advice()
    )
}

/// Whether the verifier's complaint about a self-signed certificate means
/// another certificate of the same name is trusted.
pub fn is_signature_mismatch(error: &CertificateError) -> bool {
    matches!(
        error,
        CertificateError::BadSignature
            | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
    )
}

fn webpki_error(error: &webpki::Error, host: &str, remedy: Remedy) -> String {
    use webpki::Error as W;
    match error {
        W::CaUsedAsEndEntity => format!(
            "the certificate for {host} is a CA certificate (basic constraints CA:TRUE, as a bare `openssl req -x509` makes) and may not identify a server: issue a server certificate with CA:FALSE"
        ),
        W::EndEntityUsedAsCa => format!(
            "the certificate chain for {host} has a certificate issued by one that is not a CA: have it issued by a CA certificate"
        ),
        W::NameConstraintViolation => format!(
            "the certificate for {host} is for a name its CA may not issue for (a name constraint on the CA): have it issued by a CA allowed to issue for {host}"
        ),
        W::PathLenConstraintViolated => format!(
            "the certificate chain for {host} is longer than one of its CAs allows (path length constraint)"
        ),
        W::MaximumPathDepthExceeded
        | W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumNameConstraintComparisonsExceeded => format!(
            "the certificate chain for {host} is too long or too tangled to verify: send only the leaf and its intermediates"
        ),
        W::CertDistrusted => format!(
            "the certificate chain for {host} leads to a root that is distrusted: {}",
            remedy.trust_advice()
        ),
        W::UnsupportedCertVersion => {
            format!("a certificate in the chain for {host} is not an X.509 version 3 certificate")
        }
        W::UnsupportedCriticalExtension => format!(
            "a certificate in the chain for {host} has a critical extension keepup does not understand"
        ),
        W::EmptyEkuExtension => wrong_purpose(host, Some(&[])),
        other => {
            // webpki's Display is its variant's name: a word, not a structure.
            format!("the certificate for {host} was refused by the verifier ({other})")
        }
    }
}

/// A name from webpki's list of the names a certificate presents, which
/// holds their debug forms (`DnsName("shop.test")`, `IpAddress(127.0.0.1)`);
/// other kinds of names say nothing about hosts and are left out.
fn presented_name(debug_form: &str) -> Option<&str> {
    debug_form
        .strip_prefix("DnsName(\"")
        .and_then(|rest| rest.strip_suffix("\")"))
        .or_else(|| {
            debug_form
                .strip_prefix("IpAddress(")
                .and_then(|rest| rest.strip_suffix(')'))
        })
}

fn wrong_purpose(host: &str, presented: Option<&[ExtendedKeyPurpose]>) -> String {
    let allowed = match presented {
        Some([]) => " (its extended key usage allows nothing)".to_owned(),
        Some(list) => {
            let names: Vec<&str> = list
                .iter()
                .map(|p| match p {
                    ExtendedKeyPurpose::ClientAuth => "client authentication",
                    ExtendedKeyPurpose::ServerAuth => "server authentication",
                    _ => "other uses",
                })
                .collect();
            format!(" (its extended key usage allows {} only)", names.join(", "))
        }
        None => String::new(),
    };
    format!(
        "the certificate for {host} is not meant for TLS servers{allowed}: issue one with the serverAuth extended key usage"
    )
}

fn alert_received(alert: AlertDescription, host: &str) -> String {
    use AlertDescription as A;
    let name = alert_name(alert);
    match alert {
        A::HandshakeFailure | A::InsufficientSecurity => format!(
            "{host} refused the TLS handshake ({name} alert): it accepts no TLS version, cipher suite or key exchange keepup offers, or it wants a client certificate"
        ),
        A::ProtocolVersion => format!(
            "{host} refused the TLS handshake ({name} alert): it does not accept TLS 1.2 or 1.3"
        ),
        A::UnrecognisedName => format!(
            "{host} refused the TLS handshake ({name} alert): it serves no certificate for the name {host} (check the name, or the server's virtual hosts)"
        ),
        A::CertificateRequired | A::NoCertificate => format!(
            "{host} refused the TLS handshake ({name} alert): it requires a client certificate, which keepup does not send"
        ),
        A::AccessDenied => {
            format!("{host} refused the TLS handshake ({name} alert): access denied")
        }
        A::InternalError => {
            format!("{host} failed inside its TLS stack ({name} alert): look at the server's logs")
        }
        A::NoApplicationProtocol => format!(
            "{host} refused the TLS handshake ({name} alert): it speaks none of the application protocols keepup offered"
        ),
        _ => format!("{host} ended the TLS handshake with a {name} alert"),
    }
}

/// The alert's name as TLS specifications write it (`handshake_failure`).
fn alert_name(alert: AlertDescription) -> String {
    let camel = match alert {
        // The specification spells it the American way.
        AlertDescription::UnrecognisedName => return "unrecognized_name".into(),
        AlertDescription::UnknownCA => return "unknown_ca".into(),
        AlertDescription::UnknownPSKIdentity => return "unknown_psk_identity".into(),
        AlertDescription::Unknown(code) => return format!("unknown ({code})"),
        other => format!("{other:?}"),
    };
    let mut name = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                name.push('_');
            }
            name.push(c.to_ascii_lowercase());
        } else {
            name.push(c);
        }
    }
    name
}

fn date(t: &rustls::pki_types::UnixTime) -> String {
    let secs = i64::try_from(t.as_secs()).unwrap_or(i64::MAX / 1000);
    keepup_model::format_rfc3339(secs.saturating_mul(1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_names_are_the_specifications() {
        assert_eq!(
            alert_name(AlertDescription::HandshakeFailure),
            "handshake_failure"
        );
        assert_eq!(
            alert_name(AlertDescription::UnrecognisedName),
            "unrecognized_name"
        );
        assert_eq!(alert_name(AlertDescription::Unknown(200)), "unknown (200)");
    }

    #[test]
    fn dates_and_names_from_the_verifier_are_written_for_people() {
        use rustls::pki_types::{ServerName, UnixTime};
        use std::time::Duration;
        let at = |secs| UnixTime::since_unix_epoch(Duration::from_secs(secs));
        let expired = CertificateError::ExpiredContext {
            time: at(1_800_000_000),
            not_after: at(1_767_225_600),
        };
        assert_eq!(
            certificate_error(&expired, "shop.test", Remedy::CaFile),
            "a certificate in the chain for shop.test expired at 2026-01-01T00:00:00Z: renew it"
        );
        let early = CertificateError::NotValidYetContext {
            time: at(1_700_000_000),
            not_before: at(1_767_225_600),
        };
        assert_eq!(
            certificate_error(&early, "shop.test", Remedy::CaFile),
            "a certificate in the chain for shop.test is not valid before 2026-01-01T00:00:00Z (check the clocks of the server and of this machine)"
        );
        let wrong_name = CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("shop.test").unwrap(),
            // What webpki puts there: the names' debug forms.
            presented: vec![
                "DnsName(\"other.test\")".into(),
                "IpAddress(192.0.2.7)".into(),
                "UniformResourceIdentifier(\"https://x\")".into(),
            ],
        };
        assert_eq!(
            certificate_error(&wrong_name, "shop.test", Remedy::CaFile),
            "the certificate is not valid for shop.test: it is for other.test, 192.0.2.7; use a certificate that names shop.test"
        );
        let unknown = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert_eq!(
            tls_error(&unknown, "hooks.example", Remedy::SystemRoots),
            "the certificate for hooks.example is not issued by a certificate authority keepup trusts (self-signed or from a private CA?): add its CA to this machine's trusted certificates"
        );
    }

    #[test]
    fn a_rustls_error_is_found_inside_io_errors_and_sources() {
        let tls = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        let io = std::io::Error::other(tls.clone());
        assert_eq!(find_tls_error(&io), Some(&tls));
        #[derive(Debug)]
        struct Wrapper(std::io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("wrapped")
            }
        }
        impl std::error::Error for Wrapper {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        assert_eq!(find_tls_error(&Wrapper(io)), Some(&tls));
        assert_eq!(find_tls_error(&std::io::Error::other("plain")), None);
    }
}
