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

// ---- PING_*, PAGE_*, SECURITY_TXT_*, CHAIN_* ------------------------------
// ICMP ping, policy pages, security.txt and dependency chains.

/// No echo request was answered (Down).
pub const PING_NO_REPLY: &str = "PING_NO_REPLY";
/// Packet loss at or above `down_loss` (Down).
pub const PING_LOSS_CRITICAL: &str = "PING_LOSS_CRITICAL";
/// Packet loss at or above `degraded_loss` (Degraded).
pub const PING_LOSS_HIGH: &str = "PING_LOSS_HIGH";
/// Average round trip above `down_rtt` (Down).
pub const PING_RTT_CRITICAL: &str = "PING_RTT_CRITICAL";
/// Average round trip above `degraded_rtt` (Degraded).
pub const PING_RTT_HIGH: &str = "PING_RTT_HIGH";
/// Neither an unprivileged ICMP socket (`net.ipv4.ping_group_range`) nor a
/// raw socket (`CAP_NET_RAW`) may be opened; a TCP check is the way out
/// (Unknown).
pub const PING_NOT_PERMITTED: &str = "PING_NOT_PERMITTED";
/// An ICMP socket could not be opened for another reason, e.g. IPv6
/// disabled on this host (Unknown).
pub const PING_SOCKET_FAILED: &str = "PING_SOCKET_FAILED";
/// No echo request could be sent, e.g. no route to the address (Down).
pub const PING_SEND_FAILED: &str = "PING_SEND_FAILED";
/// The name has no address of the requested family (Down).
pub const PING_NO_ADDRESS: &str = "PING_NO_ADDRESS";

/// The page answers like a non-existent page of the same site does: a
/// "soft 404" (Down).
pub const PAGE_SOFT_404: &str = "PAGE_SOFT_404";
/// The site answers 2xx for non-existent paths (with other content), so
/// only the comparison tells real pages from error pages (Info).
pub const PAGE_NO_404: &str = "PAGE_NO_404";
/// A required phrase is missing from the page's text (Down).
pub const PAGE_PHRASE_MISSING: &str = "PAGE_PHRASE_MISSING";
/// The page has no visible text (Down).
pub const PAGE_EMPTY: &str = "PAGE_EMPTY";
/// The page's normalised text changed; reported for `change_hold` after
/// the change was seen (Degraded).
pub const PAGE_CHANGED: &str = "PAGE_CHANGED";

/// No security.txt was found (Down).
pub const SECURITY_TXT_MISSING: &str = "SECURITY_TXT_MISSING";
/// The answer is an HTML page or binary data, not a security.txt (Down).
pub const SECURITY_TXT_NOT_TEXT: &str = "SECURITY_TXT_NOT_TEXT";
/// Served with a Content-Type other than `text/plain; charset=utf-8`
/// (Degraded).
pub const SECURITY_TXT_CONTENT_TYPE: &str = "SECURITY_TXT_CONTENT_TYPE";
/// Served over plain HTTP; RFC 9116 requires HTTPS (Down).
pub const SECURITY_TXT_NOT_HTTPS: &str = "SECURITY_TXT_NOT_HTTPS";
/// Only the legacy location `/security.txt` has the file (Degraded).
pub const SECURITY_TXT_LEGACY_LOCATION: &str = "SECURITY_TXT_LEGACY_LOCATION";
/// No `Contact` field (Down).
pub const SECURITY_TXT_NO_CONTACT: &str = "SECURITY_TXT_NO_CONTACT";
/// A `Contact` is not a URI, or a web URI that is not https (Degraded).
pub const SECURITY_TXT_CONTACT_INVALID: &str = "SECURITY_TXT_CONTACT_INVALID";
/// No `Expires` field (Down).
pub const SECURITY_TXT_NO_EXPIRES: &str = "SECURITY_TXT_NO_EXPIRES";
/// `Expires` is not an RFC 3339 date-time (Down).
pub const SECURITY_TXT_EXPIRES_INVALID: &str = "SECURITY_TXT_EXPIRES_INVALID";
/// The file has expired (Down).
pub const SECURITY_TXT_EXPIRED: &str = "SECURITY_TXT_EXPIRED";
/// The file expires within `warn_days` (Degraded).
pub const SECURITY_TXT_EXPIRING: &str = "SECURITY_TXT_EXPIRING";
/// `Expires` is more than a year ahead; RFC 9116 recommends less (Degraded).
pub const SECURITY_TXT_EXPIRES_TOO_FAR: &str = "SECURITY_TXT_EXPIRES_TOO_FAR";
/// A field that may appear once appears several times (Degraded).
pub const SECURITY_TXT_FIELD_REPEATED: &str = "SECURITY_TXT_FIELD_REPEATED";
/// Lines that are neither fields nor comments, invalid UTF-8, or a broken
/// PGP signature block (Degraded).
pub const SECURITY_TXT_SYNTAX: &str = "SECURITY_TXT_SYNTAX";
/// No `Canonical` URI names the URL the file was fetched from (Degraded).
pub const SECURITY_TXT_CANONICAL_MISMATCH: &str = "SECURITY_TXT_CANONICAL_MISMATCH";

/// The chain's first link failed: the endpoint's name does not resolve
/// (Down).
pub const CHAIN_DNS_FAILED: &str = "CHAIN_DNS_FAILED";
/// The chain's TLS link failed: handshake or certificate (Down).
pub const CHAIN_TLS_FAILED: &str = "CHAIN_TLS_FAILED";
/// The chain's HTTP link failed: connection, status or body (Down).
pub const CHAIN_HTTP_FAILED: &str = "CHAIN_HTTP_FAILED";
/// The vendor's status page reports an outage of a watched component (or
/// overall, without components) (Degraded).
pub const CHAIN_VENDOR_OUTAGE: &str = "CHAIN_VENDOR_OUTAGE";
/// The vendor's status page reports degraded performance or maintenance of
/// a watched component (or overall) (Degraded).
pub const CHAIN_VENDOR_DEGRADED: &str = "CHAIN_VENDOR_DEGRADED";
/// A configured component is not on the vendor's status page (Degraded).
pub const CHAIN_VENDOR_COMPONENT_MISSING: &str = "CHAIN_VENDOR_COMPONENT_MISSING";
/// The vendor's status page could not be read or is not a Statuspage
/// summary; the chain itself is judged without it (Degraded).
pub const CHAIN_STATUSPAGE_UNREADABLE: &str = "CHAIN_STATUSPAGE_UNREADABLE";

/// Every code of this section, for documentation and tests.
pub const ALL_PING_PAGES_CHAIN: &[&str] = &[
    PING_NO_REPLY,
    PING_LOSS_CRITICAL,
    PING_LOSS_HIGH,
    PING_RTT_CRITICAL,
    PING_RTT_HIGH,
    PING_NOT_PERMITTED,
    PING_SOCKET_FAILED,
    PING_SEND_FAILED,
    PING_NO_ADDRESS,
    PAGE_SOFT_404,
    PAGE_NO_404,
    PAGE_PHRASE_MISSING,
    PAGE_EMPTY,
    PAGE_CHANGED,
    SECURITY_TXT_MISSING,
    SECURITY_TXT_NOT_TEXT,
    SECURITY_TXT_CONTENT_TYPE,
    SECURITY_TXT_NOT_HTTPS,
    SECURITY_TXT_LEGACY_LOCATION,
    SECURITY_TXT_NO_CONTACT,
    SECURITY_TXT_CONTACT_INVALID,
    SECURITY_TXT_NO_EXPIRES,
    SECURITY_TXT_EXPIRES_INVALID,
    SECURITY_TXT_EXPIRED,
    SECURITY_TXT_EXPIRING,
    SECURITY_TXT_EXPIRES_TOO_FAR,
    SECURITY_TXT_FIELD_REPEATED,
    SECURITY_TXT_SYNTAX,
    SECURITY_TXT_CANONICAL_MISMATCH,
    CHAIN_DNS_FAILED,
    CHAIN_TLS_FAILED,
    CHAIN_HTTP_FAILED,
    CHAIN_VENDOR_OUTAGE,
    CHAIN_VENDOR_DEGRADED,
    CHAIN_VENDOR_COMPONENT_MISSING,
    CHAIN_STATUSPAGE_UNREADABLE,
];

#[cfg(test)]
mod ping_pages_chain_tests {
    use super::{ALL, ALL_PING_PAGES_CHAIN};

    #[test]
    fn codes_are_unique_upper_snake_and_prefixed() {
        let mut seen: std::collections::HashSet<&str> = ALL.iter().copied().collect();
        for code in ALL_PING_PAGES_CHAIN {
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                code.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            );
            assert!(
                ["PING_", "PAGE_", "SECURITY_TXT_", "CHAIN_"]
                    .iter()
                    .any(|p| code.starts_with(p)),
                "{code}"
            );
        }
    }
}
