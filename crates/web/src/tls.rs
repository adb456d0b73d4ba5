//! The listener's optional TLS (`[server] tls_cert`, `tls_key`): the
//! certificate chain and key are read from PEM files at start and again on
//! SIGHUP. A new pair that cannot be used (unreadable, no certificate, no
//! key, a key that is not the certificate's) is refused and the pair in
//! use stays, so a renewal gone wrong never takes the listener down.
//! Connections take the pair in use when they start; rustls with the
//! aws-lc-rs provider, as everywhere in keepup.

use keepup_config::TlsFiles;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_rustls::TlsAcceptor;

/// A PEM file larger than this is refused (a chain is a few kilobytes).
const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// Why a certificate and key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file is larger than [`MAX_PEM_BYTES`].
    #[error("{} is larger than {MAX_PEM_BYTES} bytes", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The certificate file holds no PEM certificate.
    #[error("no PEM certificate in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no PEM private key.
    #[error("no PEM private key in {}", path.display())]
    NoKey {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the pair (a key that is not the certificate's, an
    /// unsupported key type).
    #[error("the certificate and key cannot be used together: {0}")]
    Refused(String),
}

/// The listener's certificate and key, replaceable while it runs.
pub struct ListenerTls {
    files: TlsFiles,
    current: RwLock<TlsAcceptor>,
}

impl ListenerTls {
    /// Reads the pair named by `files`.
    pub fn load(files: &TlsFiles) -> Result<ListenerTls, TlsError> {
        let acceptor = acceptor(files)?;
        Ok(ListenerTls {
            files: files.clone(),
            current: RwLock::new(acceptor),
        })
    }

    /// Reads the files again; on an error the pair in use stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = acceptor(&self.files)?;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    /// The acceptor for a new connection.
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    use std::io::Read;
    let read = |source| TlsError::Read {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read)?;
    let mut pem = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut pem)
        .map_err(read)?;
    if pem.len() as u64 > MAX_PEM_BYTES {
        return Err(TlsError::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(pem)
}

fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&read_pem(&files.cert)?)
            .filter_map(Result::ok)
            .collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: files.cert.clone(),
        });
    }
    let key =
        PrivateKeyDer::from_pem_slice(&read_pem(&files.key)?).map_err(|_| TlsError::NoKey {
            path: files.key.clone(),
        })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    // rustls lets a pair pass whose match it cannot tell; a listener should
    // not serve a key that may not be its certificate's.
    rustls::sign::CertifiedKey::from_der(certs.clone(), key.clone_key(), &provider)
        .and_then(|certified| certified.keys_match())
        .map_err(|e| TlsError::Refused(e.to_string()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Refused(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Refused(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
