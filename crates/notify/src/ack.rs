//! Signed acknowledgement links.
//!
//! A notification carries `{public_url}/ack/{incident}?e={expiry}&s={mac}`
//! where `mac` is HMAC-SHA256 over `ack:{incident}:{expiry}` with the
//! operator's secret key. Whoever holds the link may acknowledge that one
//! incident until it expires; nobody can forge one for another incident.
//! The link opens a confirmation page and the acknowledgement itself is a
//! POST, so mail scanners that follow links do not acknowledge anything.
//!
//! The same key signs the links that answer a disaster-recovery run's
//! `confirm` question, `{public_url}/dr/confirm/{run}/{step}?e=…&s=…`, over
//! `dr-confirm:{run}:{step}:{expiry}`: the distinct prefix keeps one kind
//! of link from ever verifying as the other.

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
        let mac = self.sign(&message(incident, expiry_s));
        format!("{}/ack/{incident}?e={expiry_s}&s={mac}", self.base)
    }

    /// Whether `mac_hex` signs `incident` until `expiry_s` and it has not
    /// expired at `now_s`. Constant-time comparison.
    pub fn verify(&self, incident: i64, expiry_s: i64, mac_hex: &str, now_s: i64) -> bool {
        self.verify_message(&message(incident, expiry_s), expiry_s, mac_hex, now_s)
    }

    /// The link that answers step `step` of recovery run `run`, valid
    /// until `expiry_s`.
    pub fn dr_confirm_link(&self, run: i64, step: usize, expiry_s: i64) -> String {
        let mac = self.sign(&dr_confirm_message(run, step, expiry_s));
        format!("{}/dr/confirm/{run}/{step}?e={expiry_s}&s={mac}", self.base)
    }

    /// Whether `mac_hex` signs the answer to step `step` of run `run`
    /// until `expiry_s` and it has not expired at `now_s`.
    pub fn verify_dr_confirm(
        &self,
        run: i64,
        step: usize,
        expiry_s: i64,
        mac_hex: &str,
        now_s: i64,
    ) -> bool {
        self.verify_message(
            &dr_confirm_message(run, step, expiry_s),
            expiry_s,
            mac_hex,
            now_s,
        )
    }

    fn sign(&self, message: &str) -> String {
        hex(hmac::sign(&self.key, message.as_bytes()).as_ref())
    }

    fn verify_message(&self, message: &str, expiry_s: i64, mac_hex: &str, now_s: i64) -> bool {
        // An HMAC-SHA256 is 64 hex digits; longer is not worth decoding.
        if mac_hex.len() > 128 {
            return false;
        }
        let Some(mac) = unhex(mac_hex) else {
            return false;
        };
        now_s <= expiry_s && hmac::verify(&self.key, message.as_bytes(), &mac).is_ok()
    }
}

fn dr_confirm_message(run: i64, step: usize, expiry_s: i64) -> String {
    format!("dr-confirm:{run}:{step}:{expiry_s}")
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

    #[test]
    fn recovery_confirmation_links_verify_only_for_their_step() {
        let s = AckSigner::new(b"secret key", "https://keepup.example");
        let link = s.dr_confirm_link(7, 2, 2_000);
        assert!(
            link.starts_with("https://keepup.example/dr/confirm/7/2?e=2000&s="),
            "{link}"
        );
        let mac = link.rsplit("s=").next().unwrap();
        assert!(s.verify_dr_confirm(7, 2, 2_000, mac, 1_000));
        assert!(
            !s.verify_dr_confirm(7, 3, 2_000, mac, 1_000),
            "another step"
        );
        assert!(!s.verify_dr_confirm(7, 2, 2_000, mac, 2_001), "expired");
        assert!(!s.verify(7, 2_000, mac, 1_000), "not an ack link");
        let ack = s.link(7, 2_000);
        let ack_mac = ack.rsplit("s=").next().unwrap();
        assert!(!s.verify_dr_confirm(7, 0, 2_000, ack_mac, 1_000));
    }
}
