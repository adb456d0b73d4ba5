//! restic's blob format with a repository's master key, for the blobs keepup
//! handles itself rather than through rustic_core: the tree blobs it writes
//! (`treefix.rs`) and the data blobs its restorer reads (`restore/`); and
//! the key file of a new repository (see [`key_file`]).
//!
//! A stored blob is `IV ‖ AES-256-CTR(data) ‖ Poly1305-AES MAC`; the data is
//! zstd-compressed when the index records an uncompressed length, and the
//! blob's id is the SHA-256 of the plain data. Opening checks all three, so
//! a damaged or substituted blob is an error, never wrong bytes in a
//! restored file.

use std::num::NonZeroU32;

use aes256ctr_poly1305aes::Aes256CtrPoly1305Aes;
use aes256ctr_poly1305aes::aead::AeadInPlace;
use rand::Rng;
use rustic_core::Id;
use rustic_core::repofile::MasterKey;
use sha2::{Digest, Sha256};

/// The largest plain blob accepted (restic's chunker stops at 8 MiB; tree
/// blobs of huge directories are read by rustic_core, not here).
const MAX_BLOB: u32 = 64 << 20;

/// Bytes of the IV in front of and of the MAC behind the ciphertext.
const IV_LEN: usize = 16;
const MAC_LEN: usize = 16;

/// Why a blob could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BlobError {
    /// Shorter than an IV and a MAC.
    #[error("a stored blob of {0} bytes is too short to be one")]
    TooShort(usize),
    /// The MAC does not match: damaged, or written with another key.
    #[error("its authentication code does not match (damaged data, or another repository's)")]
    Mac,
    /// The zstd stream is damaged.
    #[error("its compressed data is damaged: {0}")]
    Decompress(std::io::Error),
    /// Decompressed to another size than the index records.
    #[error("it decompressed to {actual} bytes, the index records {expected}")]
    Length {
        /// From the index.
        expected: u32,
        /// Decompressed.
        actual: usize,
    },
    /// The plain data is not what the blob's id promises.
    #[error("its content does not match its id (SHA-256)")]
    Hash,
}

/// restic's authenticated encryption with a repository's master key.
pub(crate) struct Cipher(Aes256CtrPoly1305Aes);

impl Cipher {
    pub(crate) fn new(master: &MasterKey) -> Self {
        // The 64-byte key: AES-256 key, then Poly1305's k and r.
        let mut key = [0u8; 64];
        key[..32].copy_from_slice(&master.encrypt[..32.min(master.encrypt.len())]);
        key[32..48].copy_from_slice(&master.mac.k[..16.min(master.mac.k.len())]);
        key[48..].copy_from_slice(&master.mac.r[..16.min(master.mac.r.len())]);
        Self::from_bytes(key)
    }

    /// From the 64 bytes in restic's order (a key derived from a password).
    fn from_bytes(key: [u8; 64]) -> Self {
        Self(Aes256CtrPoly1305Aes::new(&key.into()))
    }

    /// `IV ‖ ciphertext ‖ MAC`.
    pub(crate) fn seal(&self, plain: &[u8]) -> Result<Vec<u8>, Box<rustic_core::RusticError>> {
        let mut iv = [0u8; IV_LEN];
        rand::rng().fill_bytes(&mut iv);
        let mut out = Vec::with_capacity(plain.len() + IV_LEN + MAC_LEN);
        out.extend_from_slice(&iv);
        out.extend_from_slice(plain);
        let tag = self
            .0
            .encrypt_in_place_detached(&iv.into(), &[], &mut out[IV_LEN..])
            .map_err(|_| {
                rustic_core::RusticError::new(
                    rustic_core::ErrorKind::Cryptography,
                    "encryption failed",
                )
            })?;
        out.extend_from_slice(&tag);
        Ok(out)
    }

    /// Checks the MAC of `sealed` and decrypts it in place; the plain
    /// bytes are the returned part of it.
    fn unseal<'b>(&self, sealed: &'b mut [u8]) -> Result<&'b mut [u8], BlobError> {
        let len = sealed.len();
        if len < IV_LEN + MAC_LEN {
            return Err(BlobError::TooShort(len));
        }
        let (iv, rest) = sealed.split_at_mut(IV_LEN);
        let (ciphertext, mac) = rest.split_at_mut(len - IV_LEN - MAC_LEN);
        let iv: [u8; IV_LEN] = (&*iv).try_into().map_err(|_| BlobError::Mac)?;
        let mac: [u8; MAC_LEN] = (&*mac).try_into().map_err(|_| BlobError::Mac)?;
        self.0
            .decrypt_in_place_detached(&iv.into(), &[], ciphertext, &mac.into())
            .map_err(|_| BlobError::Mac)?;
        Ok(ciphertext)
    }
}

/// Opens data blobs one at a time, decrypting in the buffer they were read
/// into and decompressing into one buffer it reuses: a worker holds what it
/// read and at most one blob's plain bytes however many it opens.
pub(crate) struct Opener<'k> {
    cipher: &'k Cipher,
    decompressor: zstd::bulk::Decompressor<'static>,
    plain: Vec<u8>,
}

impl<'k> Opener<'k> {
    pub(crate) fn new(cipher: &'k Cipher) -> Result<Self, BlobError> {
        Ok(Self {
            cipher,
            decompressor: zstd::bulk::Decompressor::new().map_err(BlobError::Decompress)?,
            plain: Vec::new(),
        })
    }

    /// The plain data of the stored blob `sealed` (decrypted in place, so
    /// its bytes are spent), checked against `id`. `uncompressed`: the
    /// length the index records for a compressed blob.
    pub(crate) fn open<'a>(
        &'a mut self,
        sealed: &'a mut [u8],
        uncompressed: Option<NonZeroU32>,
        id: &Id,
    ) -> Result<&'a [u8], BlobError> {
        let decrypted = self.cipher.unseal(sealed)?;
        let plain: &[u8] = match uncompressed {
            // restic and rustic cut data into chunks of at most 8 MiB: a
            // larger size is a damaged index, not a reason to reserve GBs.
            Some(expected) if expected.get() > MAX_BLOB => {
                return Err(BlobError::Length {
                    expected: expected.get(),
                    actual: 0,
                });
            }
            Some(expected) => {
                self.plain.clear();
                // Sized up front: zstd writes into the reserved capacity
                // and the buffer never grows while a blob decompresses.
                self.plain.reserve(expected.get() as usize);
                let n = self
                    .decompressor
                    .decompress_to_buffer(&*decrypted, &mut self.plain)
                    .map_err(BlobError::Decompress)?;
                if n != expected.get() as usize {
                    return Err(BlobError::Length {
                        expected: expected.get(),
                        actual: n,
                    });
                }
                &self.plain
            }
            None => decrypted,
        };
        if id_of(plain) != *id {
            return Err(BlobError::Hash);
        }
        Ok(plain)
    }
}

/// A blob's or a repository file's id: the SHA-256 of its bytes.
pub(crate) fn id_of(data: &[u8]) -> Id {
    Id::new(Sha256::digest(data).into())
}

/// scrypt's cost for the key files of new repositories: N = 2^16, r = 8,
/// p = 1, i.e. 64 MiB and about a quarter of a second. rustic_core's
/// default (2^17, 128 MiB) made every `keepup backup` command, a restore
/// on a small standby server included, peak at 128 MiB before it read a
/// byte of data; restic calibrates its own to at most 60 MiB.
pub(crate) const KDF_LOG_N: u8 = 16;
const KDF_R: u32 = 8;
const KDF_P: u32 = 1;

/// A restic key file (JSON) that opens `master` with `password`, with
/// scrypt at [`KDF_LOG_N`].
pub(crate) fn key_file(
    master: &MasterKey,
    password: &str,
) -> Result<Vec<u8>, Box<rustic_core::RusticError>> {
    let failed =
        |what: &'static str| rustic_core::RusticError::new(rustic_core::ErrorKind::Key, what);
    let params = scrypt::Params::new(KDF_LOG_N, KDF_R, KDF_P)
        .map_err(|_| failed("invalid scrypt parameters"))?;
    let mut salt = vec![0u8; 64];
    rand::rng().fill_bytes(&mut salt);
    let mut derived = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut derived)
        .map_err(|_| failed("scrypt failed"))?;
    let plain =
        serde_json::to_vec(master).map_err(|_| failed("the master key does not serialise"))?;
    let data = Cipher::from_bytes(derived).seal(&plain)?;
    let file = rustic_core::repofile::KeyFile {
        hostname: None,
        username: None,
        created: Some(jiff::Zoned::now()),
        kdf: "scrypt".to_owned(),
        n: 1 << KDF_LOG_N,
        r: KDF_R,
        p: KDF_P,
        data,
        salt,
    };
    serde_json::to_vec(&file).map_err(|_| failed("the key file does not serialise"))
}
