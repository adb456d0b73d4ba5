//! Password hashes: argon2id with the argon2 crate's default cost (19 MiB,
//! two passes), in the PHC string format, so that the parameters travel
//! with each hash and can be raised later without breaking old ones.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use std::sync::OnceLock;

/// Shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// Longest password accepted (hashing cost grows with it).
pub const MAX_LENGTH: usize = 1024;

/// Why a password or hash was refused.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Too short or too long.
    #[error("a password must be {MIN_LENGTH} to {MAX_LENGTH} characters long")]
    Length,
    /// The system gave no randomness for the salt.
    #[error("no randomness available for the salt")]
    NoRandomness,
    /// The hash could not be computed.
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Checks the length rules.
pub fn acceptable(password: &str) -> Result<(), PasswordError> {
    let n = password.chars().count();
    if (MIN_LENGTH..=MAX_LENGTH).contains(&n) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

/// The argon2id hash of `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    acceptable(password)?;
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::NoRandomness)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `stored` (false for a malformed hash too).
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LENGTH * 4 {
        return false;
    }
    PasswordHash::new(stored).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash no password is known for: verified against when the user is
/// unknown, so that an unknown name takes as long to refuse as a wrong
/// password (the time would otherwise tell which names exist).
pub fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let throwaway = super::secret::random_hex().unwrap_or_else(|| "x".repeat(64));
        hash(&throwaway).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_their_password_only() {
        let h = hash("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("correct horse battery", "not a hash"));
        assert_ne!(h, hash("correct horse battery").unwrap(), "salted");
        assert!(matches!(hash("short"), Err(PasswordError::Length)));
        assert!(!verify("anything at all", decoy()));
    }
}
