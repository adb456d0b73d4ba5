//! The stable finding codes produced by the probes.
//!
//! A code never changes meaning once released: alert rules, reports and the
//! store key on it. Each code is prefixed by the family that produces it.

// ---- PROBE_*: the probe machinery itself --------------------------------

/// The check did not finish within its timeout (Down).
pub const PROBE_TIMEOUT: &str = "PROBE_TIMEOUT";
/// The specification cannot be probed as written, e.g. a URL without a host
/// or a scheme other than http/https (Unknown).
pub const PROBE_INVALID_TARGET: &str = "PROBE_INVALID_TARGET";
/// A part of the probe failed unexpectedly (a bug in keepup, not a problem
/// of the target) (Unknown).
pub const PROBE_INTERNAL_ERROR: &str = "PROBE_INTERNAL_ERROR";

// ---- DNS_*: name resolution as seen by the probes ------------------------

/// The target name does not resolve (Down).
pub const DNS_RESOLUTION_FAILED: &str = "DNS_RESOLUTION_FAILED";

// ---- TCP_* ---------------------------------------------------------------

/// No address of the target accepted a TCP connection (Down).
pub const TCP_CONNECT_FAILED: &str = "TCP_CONNECT_FAILED";
/// Sending the configured text failed (Down).
pub const TCP_SEND_FAILED: &str = "TCP_SEND_FAILED";
/// The first bytes received do not match `expect_banner` (Down).
pub const TCP_BANNER_MISMATCH: &str = "TCP_BANNER_MISMATCH";
/// Nothing was received although a banner was expected (Down).
pub const TCP_NO_BANNER: &str = "TCP_NO_BANNER";

// ---- TLS_* ---------------------------------------------------------------

/// The TLS handshake failed (alert, protocol error, not a TLS server) (Down).
pub const TLS_HANDSHAKE_FAILED: &str = "TLS_HANDSHAKE_FAILED";
/// The certificate's validity has ended (Down).
pub const TLS_CERT_EXPIRED: &str = "TLS_CERT_EXPIRED";
/// The certificate's validity has not started yet (Down).
pub const TLS_CERT_NOT_YET_VALID: &str = "TLS_CERT_NOT_YET_VALID";
/// The certificate expires within the warning (Degraded) or critical (Down)
/// threshold.
pub const TLS_CERT_EXPIRING: &str = "TLS_CERT_EXPIRING";
/// The chain does not lead to a trusted root (Down when verifying).
pub const TLS_CHAIN_UNTRUSTED: &str = "TLS_CHAIN_UNTRUSTED";
/// The issuer of the top presented certificate was not sent and is not a
/// trusted root: typically a missing intermediate (Down when verifying).
pub const TLS_CHAIN_INCOMPLETE: &str = "TLS_CHAIN_INCOMPLETE";
/// The certificate is not valid for the name that was asked for (Down when
/// verifying).
pub const TLS_HOSTNAME_MISMATCH: &str = "TLS_HOSTNAME_MISMATCH";
/// An intermediate certificate expires within the thresholds.
pub const TLS_INTERMEDIATE_EXPIRING: &str = "TLS_INTERMEDIATE_EXPIRING";
/// An intermediate certificate has expired (Down).
pub const TLS_INTERMEDIATE_EXPIRED: &str = "TLS_INTERMEDIATE_EXPIRED";
/// A key in the chain is too small (RSA < 2048 bits, EC < 256 bits)
/// (Degraded).
pub const TLS_WEAK_KEY: &str = "TLS_WEAK_KEY";
/// A certificate in the chain is signed with SHA-1 or MD5 (Degraded).
pub const TLS_WEAK_SIGNATURE: &str = "TLS_WEAK_SIGNATURE";
/// A presented certificate could not be parsed (Down).
pub const TLS_CERT_UNPARSEABLE: &str = "TLS_CERT_UNPARSEABLE";
/// One address behind the name presents a different certificate than the
/// others (Info).
pub const TLS_CERT_DIFFERS: &str = "TLS_CERT_DIFFERS";
/// The configured `ca_file` cannot be read or holds no certificate
/// (Unknown).
pub const TLS_CA_FILE_INVALID: &str = "TLS_CA_FILE_INVALID";
/// The system's trusted roots could not be loaded; only `ca_file` is
/// trusted (Warning, Info when a `ca_file` is configured).
pub const TLS_SYSTEM_ROOTS_UNAVAILABLE: &str = "TLS_SYSTEM_ROOTS_UNAVAILABLE";

// ---- HTTP_* --------------------------------------------------------------

/// The final status code is not in `expect_status` (Down).
pub const HTTP_STATUS_UNEXPECTED: &str = "HTTP_STATUS_UNEXPECTED";
/// The response is not valid HTTP/1.x (Down).
pub const HTTP_PROTOCOL_ERROR: &str = "HTTP_PROTOCOL_ERROR";
/// The server closed the connection before a complete response (Down).
pub const HTTP_CONNECTION_CLOSED: &str = "HTTP_CONNECTION_CLOSED";
/// The body is larger than `max_body_bytes`; only the first part was read
/// and checked (Degraded).
pub const HTTP_BODY_TOO_LARGE: &str = "HTTP_BODY_TOO_LARGE";
/// Reading the body failed after the response head (Down).
pub const HTTP_BODY_INCOMPLETE: &str = "HTTP_BODY_INCOMPLETE";
/// A redirect leads back to a URL already visited (Down).
pub const HTTP_REDIRECT_LOOP: &str = "HTTP_REDIRECT_LOOP";
/// More redirects than `max_redirects` (Down).
pub const HTTP_TOO_MANY_REDIRECTS: &str = "HTTP_TOO_MANY_REDIRECTS";
/// A redirect without a usable `Location` (Down).
pub const HTTP_REDIRECT_INVALID: &str = "HTTP_REDIRECT_INVALID";
/// A `contains` text is missing from the body (Down).
pub const HTTP_KEYWORD_MISSING: &str = "HTTP_KEYWORD_MISSING";
/// A `not_contains` text is present in the body (Down).
pub const HTTP_KEYWORD_PRESENT: &str = "HTTP_KEYWORD_PRESENT";
/// A `matches` regex does not match the body (Down).
pub const HTTP_REGEX_NO_MATCH: &str = "HTTP_REGEX_NO_MATCH";
/// A `not_matches` regex matches the body (Down).
pub const HTTP_REGEX_MATCHED: &str = "HTTP_REGEX_MATCHED";
/// A JSON assertion was made but the body is not JSON (Down).
pub const HTTP_JSON_INVALID: &str = "HTTP_JSON_INVALID";
/// A JSON pointer assertion does not hold (Down).
pub const HTTP_JSON_MISMATCH: &str = "HTTP_JSON_MISMATCH";
/// Slower than `down_latency` (Down).
pub const HTTP_LATENCY_CRITICAL: &str = "HTTP_LATENCY_CRITICAL";
/// Slower than `degraded_latency` (Degraded).
pub const HTTP_LATENCY_HIGH: &str = "HTTP_LATENCY_HIGH";

/// Every code above, for documentation and tests.
pub const ALL: &[&str] = &[
    PROBE_TIMEOUT,
    PROBE_INVALID_TARGET,
    PROBE_INTERNAL_ERROR,
    DNS_RESOLUTION_FAILED,
    TCP_CONNECT_FAILED,
    TCP_SEND_FAILED,
    TCP_BANNER_MISMATCH,
    TCP_NO_BANNER,
    TLS_HANDSHAKE_FAILED,
    TLS_CERT_EXPIRED,
    TLS_CERT_NOT_YET_VALID,
    TLS_CERT_EXPIRING,
    TLS_CHAIN_UNTRUSTED,
    TLS_CHAIN_INCOMPLETE,
    TLS_HOSTNAME_MISMATCH,
    TLS_INTERMEDIATE_EXPIRING,
    TLS_INTERMEDIATE_EXPIRED,
    TLS_WEAK_KEY,
    TLS_WEAK_SIGNATURE,
    TLS_CERT_UNPARSEABLE,
    TLS_CERT_DIFFERS,
    TLS_CA_FILE_INVALID,
    TLS_SYSTEM_ROOTS_UNAVAILABLE,
    HTTP_STATUS_UNEXPECTED,
    HTTP_PROTOCOL_ERROR,
    HTTP_CONNECTION_CLOSED,
    HTTP_BODY_TOO_LARGE,
    HTTP_BODY_INCOMPLETE,
    HTTP_REDIRECT_LOOP,
    HTTP_TOO_MANY_REDIRECTS,
    HTTP_REDIRECT_INVALID,
    HTTP_KEYWORD_MISSING,
    HTTP_KEYWORD_PRESENT,
    HTTP_REGEX_NO_MATCH,
    HTTP_REGEX_MATCHED,
    HTTP_JSON_INVALID,
    HTTP_JSON_MISMATCH,
    HTTP_LATENCY_CRITICAL,
    HTTP_LATENCY_HIGH,
];

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn codes_are_unique_upper_snake_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for code in ALL {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            );
            assert!(
                ["PROBE_", "DNS_", "TCP_", "TLS_", "HTTP_"]
                    .iter()
                    .any(|p| code.starts_with(p)),
                "{code}"
            );
        }
    }
}

// ---- MAIL_*, SMTP_*, IMAP_*, POP3_*: mail service checks -----------------
//
// The certificate presented after STARTTLS or on an implicit-TLS port is
// reported with the TLS_* codes above, like HTTPS.

/// The server closed the connection (or it failed) in the middle of the
/// dialogue (Down).
pub const MAIL_CONNECTION_CLOSED: &str = "MAIL_CONNECTION_CLOSED";
/// The server's reply is not valid for the protocol, or exceeds a limit
/// (line length, lines per reply, bytes per session) (Down).
pub const MAIL_PROTOCOL_ERROR: &str = "MAIL_PROTOCOL_ERROR";
/// The greeting refuses service (SMTP 554/421, IMAP `* BYE`, POP3 `-ERR`)
/// or is not the ready greeting (Down).
pub const MAIL_GREETING_REJECTED: &str = "MAIL_GREETING_REJECTED";
/// The greeting does not match `expect_banner` (Down).
pub const MAIL_BANNER_MISMATCH: &str = "MAIL_BANNER_MISMATCH";
/// The server refused a basic command of the dialogue (EHLO, CAPABILITY)
/// (Down).
pub const MAIL_COMMAND_FAILED: &str = "MAIL_COMMAND_FAILED";
/// STARTTLS (STLS for POP3) is not offered: Down when required (the
/// default), Info otherwise.
pub const MAIL_STARTTLS_MISSING: &str = "MAIL_STARTTLS_MISSING";
/// The server refused the STARTTLS command (Down).
pub const MAIL_STARTTLS_REFUSED: &str = "MAIL_STARTTLS_REFUSED";
/// The server sent plain-text data after agreeing to STARTTLS and before
/// the handshake (Down).
pub const MAIL_STARTTLS_INJECTION: &str = "MAIL_STARTTLS_INJECTION";
/// The test account was refused (Down).
pub const MAIL_AUTH_FAILED: &str = "MAIL_AUTH_FAILED";
/// No usable login method is offered over TLS (no AUTH PLAIN/LOGIN, or
/// IMAP LOGINDISABLED after STARTTLS) (Down).
pub const MAIL_AUTH_UNAVAILABLE: &str = "MAIL_AUTH_UNAVAILABLE";
/// The login was not attempted, so that the password never travels
/// unprotected: no TLS (Warning), or a certificate that failed
/// verification (Info; the certificate finding says why).
pub const MAIL_AUTH_SKIPPED: &str = "MAIL_AUTH_SKIPPED";
/// SMTP AUTH is advertised before STARTTLS: clients may send passwords in
/// clear text (Degraded).
pub const SMTP_AUTH_BEFORE_TLS: &str = "SMTP_AUTH_BEFORE_TLS";
/// IMAP does not announce LOGINDISABLED before STARTTLS: clients may log in
/// in clear text (Degraded).
pub const IMAP_LOGIN_BEFORE_TLS: &str = "IMAP_LOGIN_BEFORE_TLS";
/// POP3 offers USER or SASL PLAIN/LOGIN before STLS: clients may log in in
/// clear text (Degraded).
pub const POP3_LOGIN_BEFORE_TLS: &str = "POP3_LOGIN_BEFORE_TLS";

/// Every mail code, for documentation and tests.
pub const MAIL_ALL: &[&str] = &[
    MAIL_CONNECTION_CLOSED,
    MAIL_PROTOCOL_ERROR,
    MAIL_GREETING_REJECTED,
    MAIL_BANNER_MISMATCH,
    MAIL_COMMAND_FAILED,
    MAIL_STARTTLS_MISSING,
    MAIL_STARTTLS_REFUSED,
    MAIL_STARTTLS_INJECTION,
    MAIL_AUTH_FAILED,
    MAIL_AUTH_UNAVAILABLE,
    MAIL_AUTH_SKIPPED,
    SMTP_AUTH_BEFORE_TLS,
    IMAP_LOGIN_BEFORE_TLS,
    POP3_LOGIN_BEFORE_TLS,
];

#[cfg(test)]
mod mail_tests {
    use super::{ALL, MAIL_ALL};

    #[test]
    fn mail_codes_are_unique_upper_snake_and_prefixed() {
        let mut seen: std::collections::HashSet<&str> = ALL.iter().copied().collect();
        for code in MAIL_ALL {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            );
            assert!(
                ["MAIL_", "SMTP_", "IMAP_", "POP3_"]
                    .iter()
                    .any(|p| code.starts_with(p)),
                "{code}"
            );
        }
    }
}
