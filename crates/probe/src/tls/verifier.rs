//! A certificate verifier that records instead of refusing.
//!
//! [`CapturingVerifier`] asks webpki (rustls's [`WebPkiServerVerifier`]) for
//! its verdict and judges chain trust apart from expiry, records both with
//! the presented chain, and then accepts the certificate so that the
//! handshake completes and the analysis can run. Handshake signatures are
//! still verified, so the peer must hold the private key of the certificate
//! it presented. Whether the connection may then be *used* is decided by
//! the caller from the analysis (an HTTP probe sends nothing over a
//! connection whose certificate failed verification).

use std::sync::{Arc, Mutex};

use keepup_trust::explain::{self, Remedy};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_parser::prelude::parse_x509_certificate;

use super::analysis::ChainTrust;

/// What the verifier saw during one handshake.
#[derive(Debug, Clone)]
pub(crate) struct Captured {
    /// The presented chain, leaf first.
    pub(crate) chain: Vec<CertificateDer<'static>>,
    /// webpki's full verdict (trust, name, time) at handshake time.
    pub(crate) verdict: Result<(), rustls::Error>,
    /// Trust judged at a moment when every presented certificate was valid.
    pub(crate) trust: ChainTrust,
}

#[derive(Debug)]
pub(crate) struct CapturingVerifier {
    roots: Arc<RootCertStore>,
    webpki: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    captured: Mutex<Option<Captured>>,
}

impl CapturingVerifier {
    pub(crate) fn new(roots: Arc<RootCertStore>, provider: Arc<CryptoProvider>) -> Self {
        // Building fails only without any root; then nothing is trusted and
        // the verdict says so.
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(&provider))
                .build()
                .ok();
        Self {
            roots,
            webpki,
            provider,
            captured: Mutex::new(None),
        }
    }

    /// What was recorded, if the server presented a certificate.
    pub(crate) fn take(&self) -> Option<Captured> {
        self.captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    fn chain_trust(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        host: &str,
    ) -> ChainTrust {
        let Ok(parsed) = rustls::server::ParsedCertificate::try_from(end_entity) else {
            return ChainTrust::Untrusted(format!("the certificate for {host} cannot be parsed"));
        };
        let Some(at) = moment_all_valid(end_entity, intermediates) else {
            return ChainTrust::Undetermined;
        };
        let result = rustls::client::verify_server_cert_signed_by_trust_anchor(
            &parsed,
            &self.roots,
            intermediates,
            at,
            self.provider.signature_verification_algorithms.all,
        );
        match result {
            Ok(()) => ChainTrust::Trusted,
            Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => {
                ChainTrust::UnknownIssuer
            }
            Err(rustls::Error::InvalidCertificate(
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. },
            )) => ChainTrust::Undetermined,
            // A trusted certificate carries the self-signed one's name but
            // not its key: webpki calls that a bad signature.
            Err(rustls::Error::InvalidCertificate(c))
                if intermediates.is_empty()
                    && explain::is_signature_mismatch(&c)
                    && is_self_signed(end_entity) =>
            {
                ChainTrust::Untrusted(explain::self_signed(host, true, Remedy::CaFileOrNoVerify))
            }
            Err(e) => ChainTrust::Untrusted(explain::tls_error(&e, host, Remedy::CaFileOrNoVerify)),
        }
    }
}

/// Whether the certificate names itself as its issuer.
fn is_self_signed(der: &CertificateDer<'_>) -> bool {
    parse_x509_certificate(der.as_ref())
        .is_ok_and(|(_, cert)| cert.subject().as_raw() == cert.issuer().as_raw())
}

/// The latest `not_before` of the presented certificates, if every one of
/// them is still valid then (a moment to judge trust apart from expiry).
fn moment_all_valid(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Option<UnixTime> {
    let mut latest_start = i64::MIN;
    let mut earliest_end = i64::MAX;
    for der in std::iter::once(end_entity).chain(intermediates) {
        let (_, cert) = parse_x509_certificate(der.as_ref()).ok()?;
        latest_start = latest_start.max(cert.validity().not_before.timestamp());
        earliest_end = earliest_end.min(cert.validity().not_after.timestamp());
    }
    if latest_start > earliest_end {
        return None;
    }
    let at = latest_start.saturating_add(1).min(earliest_end);
    u64::try_from(at)
        .ok()
        .map(|secs| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)))
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = match &self.webpki {
            Some(webpki) => webpki
                .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
                .map(|_| ()),
            None => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        };
        // A chain webpki accepted is trusted; only a rejected one needs the
        // second look that separates trust from expiry (saves a signature
        // verification per probe on the common path).
        let trust = match &verdict {
            Ok(()) => ChainTrust::Trusted,
            Err(_) => self.chain_trust(end_entity, intermediates, &server_name.to_str()),
        };
        let mut chain = Vec::with_capacity(intermediates.len() + 1);
        chain.push(end_entity.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self
            .captured
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Captured {
            chain,
            verdict,
            trust,
        });
        // Accepted so the analysis can run; the caller decides whether the
        // connection may be used.
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.webpki {
            Some(webpki) => webpki.verify_tls12_signature(message, cert, dss),
            None => rustls::crypto::verify_tls12_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        match &self.webpki {
            Some(webpki) => webpki.verify_tls13_signature(message, cert, dss),
            None => rustls::crypto::verify_tls13_signature(
                message,
                cert,
                dss,
                &self.provider.signature_verification_algorithms,
            ),
        }
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
