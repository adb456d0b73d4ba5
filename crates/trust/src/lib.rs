//! The certificates keepup's TLS clients trust: the system's roots and the
//! CA files a configuration names (`ca_file`). Probes, notification
//! channels and backup targets all load them here, so a CA file means the
//! same thing, with the same limits and messages, wherever it is used.
//!
//! What this crate is not: a TLS client. Callers put the certificates in
//! their own `rustls::RootCertStore`, which says which ones it accepts.
//! When a peer is refused, [`explain`] says why in a sentence.

pub mod explain;

use std::path::Path;

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A CA file larger than this is refused: a bundle of every public root is
/// about 200 KiB.
pub const MAX_CA_FILE_BYTES: u64 = 4 * 1024 * 1024;

/// Why a CA file cannot be used. The messages do not name the file; the
/// caller says which one it was.
#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    /// The file cannot be read.
    #[error("{0}")]
    Read(#[from] std::io::Error),
    /// The file is larger than [`MAX_CA_FILE_BYTES`].
    #[error("it is larger than {MAX_CA_FILE_BYTES} bytes")]
    TooLarge,
    /// The text holds no PEM certificate.
    #[error("no certificate in the file")]
    NoCertificate,
}

/// The certificates of a PEM text; sections that are not certificates (or
/// do not parse) are skipped, but there must be at least one.
pub fn certs_from_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect();
    if certs.is_empty() {
        return Err(CaFileError::NoCertificate);
    }
    Ok(certs)
}

/// The certificates of a PEM file, at most [`MAX_CA_FILE_BYTES`] of it.
/// Blocking: async callers run it with `spawn_blocking`.
pub fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut pem = Vec::new();
    file.take(MAX_CA_FILE_BYTES + 1).read_to_end(&mut pem)?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(CaFileError::TooLarge);
    }
    certs_from_pem(&pem)
}

/// The system's trusted roots, as far as they could be loaded.
#[derive(Debug, Clone, Default)]
pub struct SystemRoots {
    /// The root certificates found.
    pub certs: Vec<CertificateDer<'static>>,
    /// Why there are none, when there are none.
    pub unavailable: Option<String>,
}

/// Loads the system's trusted roots (the OpenSSL locations, `SSL_CERT_FILE`
/// and `SSL_CERT_DIR`). Blocking, and slow enough (tens of milliseconds) to
/// do once per client context. Problems are logged; no roots at all is
/// reported in [`SystemRoots::unavailable`].
pub fn load_system_roots() -> SystemRoots {
    let loaded = rustls_native_certs::load_native_certs();
    if !loaded.errors.is_empty() {
        tracing::warn!(
            errors = loaded.errors.len(),
            first = %loaded.errors[0],
            found = loaded.certs.len(),
            "some system root certificates could not be loaded"
        );
    }
    let unavailable = if !loaded.certs.is_empty() {
        None
    } else if let Some(first) = loaded.errors.first() {
        Some(first.to_string())
    } else {
        Some("no root certificates found".to_owned())
    };
    SystemRoots {
        certs: loaded.certs,
        unavailable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_file_gives_its_certificates_or_says_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let ca = keepup_testkit::pki::CertAuthority::new("Test Root").unwrap();
        let good = ca.root_pem_file().unwrap();
        assert_eq!(read_ca_file(good.path()).unwrap().len(), 1);

        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "this is no certificate").unwrap();
        let err = read_ca_file(&junk).unwrap_err();
        assert!(matches!(err, CaFileError::NoCertificate), "{err}");
        assert_eq!(err.to_string(), "no certificate in the file");

        let missing = read_ca_file(&dir.path().join("missing.pem")).unwrap_err();
        assert!(missing.to_string().contains("No such file"), "{missing}");

        let huge = dir.path().join("huge.pem");
        let file = std::fs::File::create(&huge).unwrap();
        file.set_len(MAX_CA_FILE_BYTES + 1).unwrap();
        assert!(matches!(read_ca_file(&huge), Err(CaFileError::TooLarge)));
    }

    #[test]
    fn system_roots_are_found_or_their_absence_is_explained() {
        let roots = load_system_roots();
        assert_eq!(roots.certs.is_empty(), roots.unavailable.is_some());
    }
}
