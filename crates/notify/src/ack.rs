//! Signed acknowledgement links.
//!
//! A notification carries `{public_url}/ack/{incident}?e={expiry}&s={mac}`
//! where `mac` is HMAC-SHA256 over `ack:{incident}:{expiry}` with the
//! operator's secret key. Whoever holds the link may acknowledge that one
//! incident until it expires; nobody can forge one for another incident.
//! The link opens a confirmation page and the acknowledgement itself is a
//! POST, so mail scanners that follow links do not acknowledge anything.

use aws_lc_rs::hmac;
use keepup_model::text::{hex, unhex};

/// Signs and checks acknowledgement links.
#[derive(Clone)]
pub struct AckSigner {
    key: hmac::Key,
    base: String,
}

impl std::fmt::Debug for AckSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckSigner")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn message(incident: i64, expiry_s: i64) -> String {
    format!("ack:{incident}:{expiry_s}")
}

impl AckSigner {
    /// A signer for links under `public_url` (e.g. `https://keepup.example`).
    pub fn new(secret: &[u8], public_url: &str) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            base: public_url.trim_end_matches('/').to_owned(),
        }
    }

    /// The link for `incident`, valid until `expiry_s` (Unix seconds).
    pub fn link(&self, incident: i64, expiry_s: i64) -> String {
        let mac = hmac::sign(&self.key, message(incident, expiry_s).as_bytes());
        format!(
            "{}/ack/{incident}?e={expiry_s}&s={}",
            self.base,
            hex(mac.as_ref())
        )
    }

    /// Whether `mac_hex` signs `incident` until `expiry_s` and it has not
    /// expired at `now_s`. Constant-time comparison.
    pub fn verify(&self, incident: i64, expiry_s: i64, mac_hex: &str, now_s: i64) -> bool {
        // An HMAC-SHA256 is 64 hex digits; longer is not worth decoding.
        if mac_hex.len() > 128 {
            return false;
        }
        let Some(mac) = unhex(mac_hex) else {
            return false;
        };
        now_s <= expiry_s
            && hmac::verify(&self.key, message(incident, expiry_s).as_bytes(), &mac).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_only_for_their_incident_and_until_they_expire() {
        let s = AckSigner::new(b"secret key", "https://keepup.example/");
        let link = s.link(42, 2_000);
        assert!(
            link.starts_with("https://keepup.example/ack/42?e=2000&s="),
            "{link}"
        );
        let mac = link.rsplit("s=").next().unwrap();
        assert!(s.verify(42, 2_000, mac, 1_999));
        assert!(!s.verify(42, 2_000, mac, 2_001), "expired");
        assert!(!s.verify(43, 2_000, mac, 1_000), "another incident");
        assert!(!s.verify(42, 9_999, mac, 1_000), "a longer expiry");
        assert!(
            !AckSigner::new(b"other key", "x").verify(42, 2_000, mac, 1_000),
            "another key"
        );
        assert!(!s.verify(42, 2_000, "zz", 1_000));
        assert!(!s.verify(42, 2_000, "", 1_000));
    }
}
