//! A test and demo certificate authority built with rcgen: its own crate
//! because the demo shop needs it at run time (the test kit re-exports it as
//! `keepup_testkit::pki`, and the binary must not link the test kit).
//!
//! [`CertAuthority::new`] makes a self-signed root; [`CertAuthority::intermediate`]
//! makes a CA signed by another one, so chains of depth 3 (root →
//! intermediate → leaf) can be built; [`CertAuthority::issue`] makes a server
//! certificate for DNS names (`"shop.test"`, `"localhost"`) and/or IP
//! addresses (`"127.0.0.1"`, `"::1"`) with any validity window, including
//! expired and not-yet-valid ones ([`validity`] has helpers). [`self_signed`]
//! makes a leaf that is its own issuer. [`CertAuthority::issue_misused`]
//! makes the certificates a verifying client must refuse for what they are
//! rather than who issued them ([`Misuse`]), and
//! [`CertAuthority::name_constrained`] a root that may only issue for some
//! DNS names.
//!
//! All keys are ECDSA P-256. Nothing here is meant to protect anything: the
//! keys live in memory and in temporary files.
//!
//! ```no_run
//! use keepup_pki::{CertAuthority, validity};
//! let root = CertAuthority::new("Demo Root CA")?;
//! let inter = root.intermediate("Demo Issuing CA")?;
//! let leaf = inter.issue(&["shop.test", "127.0.0.1"], validity::days_around(-1, 90))?;
//! assert_eq!(leaf.chain.len(), 3); // leaf, intermediate, root
//! # Ok::<(), keepup_pki::PkiError>(())
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, NameConstraints,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::OffsetDateTime;

/// A validity window: `(not_before, not_after)`.
pub type Validity = (OffsetDateTime, OffsetDateTime);

/// Why a certificate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters or the key generation failed.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A name was empty.
    #[error("a certificate needs at least one name")]
    NoNames,
}

/// Validity windows relative to now, for readable tests.
pub mod validity {
    use super::Validity;
    use time::{Duration, OffsetDateTime};

    /// From `start_days` to `end_days` relative to now (negative is in the
    /// past). `days_around(-1, 90)` is a normal 91-day certificate.
    pub fn days_around(start_days: i64, end_days: i64) -> Validity {
        let now = OffsetDateTime::now_utc();
        (
            now + Duration::days(start_days),
            now + Duration::days(end_days),
        )
    }

    /// A certificate of `lifetime_days` with `remaining_days` left.
    pub fn lifetime_with_remaining(lifetime_days: f64, remaining_days: f64) -> Validity {
        let now = OffsetDateTime::now_utc();
        let not_after = now + Duration::seconds_f64(remaining_days * 86_400.0);
        let not_before = not_after - Duration::seconds_f64(lifetime_days * 86_400.0);
        (not_before, not_after)
    }

    /// A 90-day certificate that expired yesterday.
    pub fn expired() -> Validity {
        days_around(-91, -1)
    }

    /// A 90-day certificate that becomes valid tomorrow.
    pub fn not_yet_valid() -> Validity {
        days_around(1, 91)
    }

    /// A normal certificate: valid since yesterday, for 90 more days.
    pub fn current() -> Validity {
        days_around(-1, 90)
    }
}

/// A server certificate that is wrong for what it is, whoever issued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misuse {
    /// Its extended key usage allows client authentication only.
    ClientAuthOnly,
    /// It says it is a CA (basic constraints `CA:TRUE`), as
    /// `openssl req -x509` makes by default.
    MarkedAsCa,
}

/// A certificate authority (root or intermediate) that can issue
/// server certificates and further intermediates.
pub struct CertAuthority {
    name: String,
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
    cert_pem: String,
    /// The certificates above this one, nearest first, ending at the root;
    /// empty for a root.
    parents: Vec<CertificateDer<'static>>,
}

impl std::fmt::Debug for CertAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertAuthority")
            .field("name", &self.name)
            .field("depth", &self.parents.len())
            .finish_non_exhaustive()
    }
}

impl CertAuthority {
    /// A new self-signed root CA called `name`, valid from a day ago for ten
    /// years.
    pub fn new(name: &str) -> Result<Self, PkiError> {
        Self::root_with_validity(name, validity::days_around(-1, 3650))
    }

    /// A new self-signed root CA with an explicit validity window.
    pub fn root_with_validity(name: &str, validity: Validity) -> Result<Self, PkiError> {
        Self::self_signed_root(name, ca_params(name, validity, false))
    }

    /// A new root CA that may only issue for DNS names under
    /// `permitted_dns` (an X.509 name constraint), valid for ten years.
    pub fn name_constrained(name: &str, permitted_dns: &[&str]) -> Result<Self, PkiError> {
        let mut params = ca_params(name, validity::days_around(-1, 3650), false);
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted_dns
                .iter()
                .map(|d| GeneralSubtree::DnsName((*d).to_owned()))
                .collect(),
            excluded_subtrees: Vec::new(),
        });
        Self::self_signed_root(name, params)
    }

    /// A root signed with its own new key.
    fn self_signed_root(name: &str, params: CertificateParams) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            name: name.to_owned(),
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            parents: Vec::new(),
        })
    }

    /// An intermediate CA called `name`, signed by this CA, valid from a day
    /// ago for five years.
    pub fn intermediate(&self, name: &str) -> Result<Self, PkiError> {
        self.intermediate_with_validity(name, validity::days_around(-1, 1825))
    }

    /// An intermediate CA with an explicit validity window (e.g. an expired
    /// intermediate).
    pub fn intermediate_with_validity(
        &self,
        name: &str,
        validity: Validity,
    ) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let params = ca_params(name, validity, true);
        let cert = params.signed_by(&key, &self.issuer)?;
        let mut parents = Vec::with_capacity(self.parents.len() + 1);
        parents.push(self.cert.clone());
        parents.extend(self.parents.iter().cloned());
        Ok(Self {
            name: name.to_owned(),
            cert_pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
            parents,
        })
    }

    /// A server certificate for `names` (DNS names or IP addresses; the first
    /// is also the common name), signed by this CA.
    pub fn issue(&self, names: &[&str], validity: Validity) -> Result<Issued, PkiError> {
        self.sign_leaf(leaf_params(names, validity, true)?)
    }

    /// A current certificate for `names`, signed by this CA, with the
    /// mistake `misuse`.
    pub fn issue_misused(&self, names: &[&str], misuse: Misuse) -> Result<Issued, PkiError> {
        let mut params = leaf_params(names, validity::current(), true)?;
        match misuse {
            Misuse::ClientAuthOnly => {
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
            }
            Misuse::MarkedAsCa => {
                params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                params.key_usages.push(KeyUsagePurpose::KeyCertSign);
            }
        }
        self.sign_leaf(params)
    }

    /// Signs a leaf with a new key; the chain is the leaf, this CA and the
    /// CAs above it.
    fn sign_leaf(&self, params: CertificateParams) -> Result<Issued, PkiError> {
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        let mut chain = Vec::with_capacity(self.parents.len() + 2);
        chain.push(cert.der().clone());
        chain.push(self.cert.clone());
        chain.extend(self.parents.iter().cloned());
        Ok(Issued::new(cert.pem(), key, chain))
    }

    /// This CA's name (its common name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This CA's own certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.cert_pem
    }

    /// This CA's own certificate, DER.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.cert
    }

    /// The root at the top of this CA's chain, PEM (this CA itself for a
    /// root): what a client must trust.
    pub fn root_pem(&self) -> String {
        match self.parents.last() {
            Some(root) => der_to_pem(root),
            None => self.cert_pem.clone(),
        }
    }

    /// Writes [`root_pem`](Self::root_pem) into a new temporary directory;
    /// the file disappears when the returned value is dropped. Use its path
    /// as a probe's `ca_file`.
    pub fn root_pem_file(&self) -> io::Result<TempPem> {
        TempPem::write("ca.pem", &self.root_pem())
    }
}

/// A self-signed server certificate for `names` (its own issuer, not a CA).
pub fn self_signed(names: &[&str], validity: Validity) -> Result<Issued, PkiError> {
    let key = KeyPair::generate()?;
    let params = leaf_params(names, validity, false)?;
    let cert = params.self_signed(&key)?;
    let chain = vec![cert.der().clone()];
    Ok(Issued::new(cert.pem(), key, chain))
}

/// A certificate and its private key, with the chain that issued it.
#[derive(Clone)]
pub struct Issued {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The leaf's private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The leaf first, then each issuer up to and including the root
    /// (just the leaf for a self-signed certificate).
    pub chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl Issued {
    fn new(cert_pem: String, key: KeyPair, chain: Vec<CertificateDer<'static>>) -> Self {
        Self {
            cert_pem,
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
            chain,
        }
    }

    /// The leaf certificate, DER.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `chain` always starts with the leaf (constructors guarantee it).
        &self.chain[0]
    }

    /// The private key, DER, as rustls wants it.
    pub fn key_der(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()))
    }

    /// The certificates a well-configured server sends: the leaf and the
    /// intermediates, without the root (a client has the root already).
    pub fn served_chain(&self) -> Vec<CertificateDer<'static>> {
        let n = if self.chain.len() > 1 {
            self.chain.len() - 1
        } else {
            1
        };
        self.chain[..n].to_vec()
    }

    /// The whole chain (leaf first, root last) as concatenated PEM.
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(der_to_pem).collect()
    }

    /// Writes `cert.pem` (leaf), `key.pem` and `chain.pem` (leaf and
    /// intermediates, as a server would send them) into `dir`.
    pub fn write_to_dir(&self, dir: &Path) -> io::Result<PemPaths> {
        let paths = PemPaths {
            cert: dir.join("cert.pem"),
            key: dir.join("key.pem"),
            chain: dir.join("chain.pem"),
        };
        fs::write(&paths.cert, &self.cert_pem)?;
        fs::write(&paths.key, &self.key_pem)?;
        let served: String = self.served_chain().iter().map(der_to_pem).collect();
        fs::write(&paths.chain, served)?;
        Ok(paths)
    }

    /// Like [`write_to_dir`](Self::write_to_dir) into a new temporary
    /// directory that is removed when the returned value is dropped.
    pub fn write_to_temp_dir(&self) -> io::Result<(tempfile::TempDir, PemPaths)> {
        let dir = tempfile::Builder::new().prefix("keepup-pki-").tempdir()?;
        let paths = self.write_to_dir(dir.path())?;
        Ok((dir, paths))
    }
}

/// Where [`Issued::write_to_dir`] put the files.
#[derive(Debug, Clone)]
pub struct PemPaths {
    /// The leaf certificate.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
    /// Leaf and intermediates.
    pub chain: PathBuf,
}

/// One PEM file in its own temporary directory, removed on drop.
#[derive(Debug)]
pub struct TempPem {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl TempPem {
    /// Writes `contents` to `file_name` in a new temporary directory.
    pub fn write(file_name: &str, contents: &str) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("keepup-pki-").tempdir()?;
        let path = dir.path().join(file_name);
        fs::write(&path, contents)?;
        Ok(Self { _dir: dir, path })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn ca_params(name: &str, validity: Validity, with_aki: bool) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "keepup testkit");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = validity.0;
    params.not_after = validity.1;
    params.use_authority_key_identifier_extension = with_aki;
    params
}

fn leaf_params(
    names: &[&str],
    validity: Validity,
    with_aki: bool,
) -> Result<CertificateParams, PkiError> {
    let first = names.first().ok_or(PkiError::NoNames)?;
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, *first);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.not_before = validity.0;
    params.not_after = validity.1;
    params.use_authority_key_identifier_extension = with_aki;
    Ok(params)
}

/// Encodes one DER certificate as PEM.
pub fn der_to_pem(der: &CertificateDer<'_>) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = der.as_ref();
    let mut b64 = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = match chunk.len() {
            3 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]),
            2 => (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8),
            _ => u32::from(chunk[0]) << 16,
        };
        let idx = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for (i, &ix) in idx.iter().enumerate() {
            if i <= chunk.len() {
                b64.push(ALPHABET[ix as usize] as char);
            } else {
                b64.push('=');
            }
        }
    }
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls_pki_types::pem::PemObject;

    #[test]
    fn depth_three_chain_is_leaf_intermediate_root() {
        let root = CertAuthority::new("Root").unwrap();
        let inter = root.intermediate("Inter").unwrap();
        let leaf = inter
            .issue(&["shop.test", "127.0.0.1"], validity::current())
            .unwrap();
        assert_eq!(leaf.chain.len(), 3);
        assert_eq!(&leaf.chain[1], inter.ca_der());
        assert_eq!(&leaf.chain[2], root.ca_der());
        assert_eq!(leaf.served_chain().len(), 2);
        assert_eq!(inter.root_pem(), root.ca_pem());
    }

    #[test]
    fn pem_encoding_round_trips() {
        let root = CertAuthority::new("Root").unwrap();
        let ours = der_to_pem(root.ca_der());
        assert_eq!(ours, root.ca_pem());
        let back = CertificateDer::from_pem_slice(ours.as_bytes()).unwrap();
        assert_eq!(&back, root.ca_der());
    }

    #[test]
    fn self_signed_has_chain_of_one_and_files_are_written() {
        let leaf = self_signed(&["localhost"], validity::expired()).unwrap();
        assert_eq!(leaf.chain.len(), 1);
        assert_eq!(leaf.served_chain().len(), 1);
        let (_dir, paths) = leaf.write_to_temp_dir().unwrap();
        assert!(
            fs::read_to_string(paths.key)
                .unwrap()
                .contains("PRIVATE KEY")
        );
        assert!(self_signed(&[], validity::current()).is_err());
    }
}
