//! Random secrets (session ids, CSRF tokens, API tokens) and their
//! digests: 256 bits from the system's generator through aws-lc-rs, shown
//! as hex, and kept in the store only as SHA-256.

use keepup_model::text::hex;

/// Prefix of API tokens, so that a leaked one is recognisable (secret
/// scanners, logs) and never mistaken for a session id.
pub const TOKEN_PREFIX: &str = "kp_";

/// 32 random bytes as 64 hex digits; `None` when the system has no
/// randomness to give (nothing secure can be made then).
pub fn random_hex() -> Option<String> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).ok()?;
    Some(hex(&bytes))
}

/// A new API token's text.
pub fn new_token() -> Option<String> {
    random_hex().map(|r| format!("{TOKEN_PREFIX}{r}"))
}

/// SHA-256 of a secret's text: what the store keeps and looks up by.
pub fn digest(secret: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes())
        .as_ref()
        .to_vec()
}

/// Compares two secrets in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_fresh_and_digests_fixed_length() {
        let (a, b) = (random_hex().unwrap(), random_hex().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(new_token().unwrap().starts_with("kp_"));
        assert_eq!(digest(&a).len(), 32);
        assert!(same(&a, &a.clone()) && !same(&a, &b) && !same(&a, ""));
    }
}
