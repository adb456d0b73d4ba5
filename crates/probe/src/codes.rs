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

// ---- DOMAIN_*: registration expiry (RDAP, WHOIS) --------------------------

/// The registration expires within `critical_days` (Down) or `warn_days`
/// (Degraded).
pub const DOMAIN_EXPIRING: &str = "DOMAIN_EXPIRING";
/// The registration's expiry date has passed (Down).
pub const DOMAIN_EXPIRED: &str = "DOMAIN_EXPIRED";
/// The registry has no registration for the domain (Down).
pub const DOMAIN_NOT_FOUND: &str = "DOMAIN_NOT_FOUND";
/// The registry put the domain on hold (`clientHold`, `serverHold`, .be
/// "out of service", .se "deactivated"): it is not published in DNS (Down).
pub const DOMAIN_ON_HOLD: &str = "DOMAIN_ON_HOLD";
/// The domain is about to be deleted (`pendingDelete`) (Down).
pub const DOMAIN_PENDING_DELETE: &str = "DOMAIN_PENDING_DELETE";
/// The domain was deleted and can only be restored during the redemption
/// period (`redemptionPeriod`, .be "quarantine") (Down).
pub const DOMAIN_REDEMPTION_PERIOD: &str = "DOMAIN_REDEMPTION_PERIOD";
/// The registry publishes no expiry date (.de, .eu, .at, .ch, .be, some
/// RDAP servers); what it does publish is in the evidence (Unknown).
pub const DOMAIN_NO_EXPIRY: &str = "DOMAIN_NO_EXPIRY";
/// Neither the RDAP bootstrap nor keepup's WHOIS table knows the domain's
/// registry (Unknown).
pub const DOMAIN_UNSUPPORTED: &str = "DOMAIN_UNSUPPORTED";
/// The registry refused to answer because of its rate limit (HTTP 429 or a
/// WHOIS "limit exceeded" text), or keepup holds back to respect it
/// (Unknown; Info while an earlier answer is still used).
pub const DOMAIN_RATE_LIMITED: &str = "DOMAIN_RATE_LIMITED";
/// The registry could not be asked: connection, timeout, TLS, HTTP error
/// status, access refused (Unknown; Info while an earlier answer is still
/// used).
pub const DOMAIN_LOOKUP_FAILED: &str = "DOMAIN_LOOKUP_FAILED";
/// The registry's answer cannot be understood: invalid or oversized JSON,
/// no events, an unknown WHOIS layout, a date that is not a date
/// (Unknown; Info while an earlier answer is still used).
pub const DOMAIN_BAD_RESPONSE: &str = "DOMAIN_BAD_RESPONSE";
/// The RDAP bootstrap could not be refreshed; the copy built into keepup
/// is used (Info).
pub const DOMAIN_BOOTSTRAP_STALE: &str = "DOMAIN_BOOTSTRAP_STALE";

/// Every code of this section, for documentation and tests.
pub const ALL_DOMAIN: &[&str] = &[
    DOMAIN_EXPIRING,
    DOMAIN_EXPIRED,
    DOMAIN_NOT_FOUND,
    DOMAIN_ON_HOLD,
    DOMAIN_PENDING_DELETE,
    DOMAIN_REDEMPTION_PERIOD,
    DOMAIN_NO_EXPIRY,
    DOMAIN_UNSUPPORTED,
    DOMAIN_RATE_LIMITED,
    DOMAIN_LOOKUP_FAILED,
    DOMAIN_BAD_RESPONSE,
    DOMAIN_BOOTSTRAP_STALE,
];

// ---- DNS_* (delegation and records) and DNSBL_* --------------------------
//
// Delegation codes follow Zonemaster's test cases, named in each line;
// Zonemaster's levels map onto ours: what leaves the zone resolvable is
// Warning (or Info for its NOTICE level), what makes it unresolvable is
// Critical.

/// BASIC01: the parent's servers say the zone does not exist (NXDOMAIN),
/// or the name is not delegated (no NS records at the parent), or is an
/// alias (Critical).
pub const DNS_DELEGATION_NOT_FOUND: &str = "DNS_DELEGATION_NOT_FOUND";
/// BASIC01: no root hint answered; keepup's own network or `root_hints`
/// may be at fault (Unknown).
pub const DNS_ROOT_UNREACHABLE: &str = "DNS_ROOT_UNREACHABLE";
/// BASIC01/BASIC02: no server of a zone on the way down (the TLD, the
/// parent) gave a usable answer (Critical).
pub const DNS_PARENT_UNREACHABLE: &str = "DNS_PARENT_UNREACHABLE";
/// BASIC01: the walk went in circles or too deep (Critical).
pub const DNS_WALK_FAILED: &str = "DNS_WALK_FAILED";
/// BASIC01 (B01_INCONSISTENT_DELEGATION): the parent's servers give
/// different delegations (Warning).
pub const DNS_PARENT_INCONSISTENT: &str = "DNS_PARENT_INCONSISTENT";
/// DELEGATION01: fewer than two name servers at the parent or in the zone
/// (Warning).
pub const DNS_NS_TOO_FEW: &str = "DNS_NS_TOO_FEW";
/// DELEGATION02: name servers share an address (Warning).
pub const DNS_NS_SAME_ADDRESS: &str = "DNS_NS_SAME_ADDRESS";
/// DELEGATION04: a name server answers, but not authoritatively (lame
/// delegation) (Warning; Critical when no server is authoritative).
pub const DNS_NS_LAME: &str = "DNS_NS_LAME";
/// DELEGATION05: a name server name is an alias (CNAME) (Warning).
pub const DNS_NS_IS_CNAME: &str = "DNS_NS_IS_CNAME";
/// DELEGATION07: the parent and the zone list different name servers
/// (Warning).
pub const DNS_NS_SET_MISMATCH: &str = "DNS_NS_SET_MISMATCH";
/// CONSISTENCY04: the zone's servers give different NS sets (Warning).
pub const DNS_NS_CHILD_INCONSISTENT: &str = "DNS_NS_CHILD_INCONSISTENT";
/// NAMESERVER06: a name server name has no address (Warning; Critical when
/// no name server has one).
pub const DNS_NS_NO_ADDRESS: &str = "DNS_NS_NO_ADDRESS";
/// CONNECTIVITY01/02: a name server answers neither over UDP nor over TCP
/// (Warning; Critical when none answers).
pub const DNS_NS_UNREACHABLE: &str = "DNS_NS_UNREACHABLE";
/// CONNECTIVITY01: a name server answers over TCP but not over UDP
/// (Warning).
pub const DNS_NS_UDP_UNREACHABLE: &str = "DNS_NS_UDP_UNREACHABLE";
/// CONNECTIVITY02: a name server answers over UDP but not over TCP
/// (Warning).
pub const DNS_NS_TCP_UNREACHABLE: &str = "DNS_NS_TCP_UNREACHABLE";
/// CONSISTENCY05: the parent's glue differs from the name server's own
/// A/AAAA records (Warning).
pub const DNS_GLUE_MISMATCH: &str = "DNS_GLUE_MISMATCH";
/// CONSISTENCY05: a name server inside the zone has no glue at the parent
/// (Warning).
pub const DNS_GLUE_MISSING: &str = "DNS_GLUE_MISSING";
/// CONSISTENCY01: the zone's servers serve different SOA serials
/// (Warning).
pub const DNS_SOA_SERIAL_MISMATCH: &str = "DNS_SOA_SERIAL_MISMATCH";
/// ZONE02: SOA refresh below 14400 s (Info).
pub const DNS_SOA_REFRESH_LOW: &str = "DNS_SOA_REFRESH_LOW";
/// ZONE03: SOA retry not below refresh (Warning).
pub const DNS_SOA_RETRY_NOT_BELOW_REFRESH: &str = "DNS_SOA_RETRY_NOT_BELOW_REFRESH";
/// ZONE04: SOA retry below 3600 s (Info).
pub const DNS_SOA_RETRY_LOW: &str = "DNS_SOA_RETRY_LOW";
/// ZONE05: SOA expire below one week (Info).
pub const DNS_SOA_EXPIRE_LOW: &str = "DNS_SOA_EXPIRE_LOW";
/// ZONE05: SOA expire below refresh (Warning).
pub const DNS_SOA_EXPIRE_BELOW_REFRESH: &str = "DNS_SOA_EXPIRE_BELOW_REFRESH";
/// ZONE06: SOA minimum (negative caching TTL) outside 300–86400 s (Info).
pub const DNS_SOA_MINIMUM_OUT_OF_RANGE: &str = "DNS_SOA_MINIMUM_OUT_OF_RANGE";
/// ZONE09: the zone has no MX record, or it cannot be read (Warning, with
/// `expect_mx`).
pub const DNS_MX_MISSING: &str = "DNS_MX_MISSING";
/// ZONE09: the zone has a null MX (RFC 7505): it accepts no mail (Info).
pub const DNS_MX_NULL: &str = "DNS_MX_NULL";
/// ZONE08: a mail exchanger is an alias (CNAME) (Warning).
pub const DNS_MX_IS_CNAME: &str = "DNS_MX_IS_CNAME";
/// ZONE09: a mail exchanger has no address (Warning).
pub const DNS_MX_NO_ADDRESS: &str = "DNS_MX_NO_ADDRESS";
/// A record set differs from `equals` (Critical).
pub const DNS_RECORD_MISMATCH: &str = "DNS_RECORD_MISMATCH";
/// Expected records are missing (`contains`, or no records) (Critical).
pub const DNS_RECORD_MISSING: &str = "DNS_RECORD_MISSING";
/// The name does not exist although records are expected (Critical).
pub const DNS_RECORD_NXDOMAIN: &str = "DNS_RECORD_NXDOMAIN";
/// The name exists although `nxdomain = true` (Critical).
pub const DNS_RECORD_EXISTS: &str = "DNS_RECORD_EXISTS";
/// The authoritative servers give different answers (Warning).
pub const DNS_RECORD_INCONSISTENT: &str = "DNS_RECORD_INCONSISTENT";
/// No server or resolver answered the question (Unknown).
pub const DNS_QUERY_FAILED: &str = "DNS_QUERY_FAILED";
/// An address or domain is on a blacklist (Critical, or Warning for
/// policy and reputation lists such as Spamhaus PBL).
pub const DNSBL_LISTED: &str = "DNSBL_LISTED";
/// A blacklist zone failed its sanity check (its test entry is not
/// listed, or 127.0.0.1 is): its answers are not trusted (Unknown).
pub const DNSBL_ZONE_UNUSABLE: &str = "DNSBL_ZONE_UNUSABLE";
/// A blacklist answered with an error code (e.g. Spamhaus 127.255.255.254:
/// queries through public resolvers are refused): not a listing (Unknown).
pub const DNSBL_REFUSED: &str = "DNSBL_REFUSED";
/// A blacklist lookup got no answer (Unknown).
pub const DNSBL_LOOKUP_FAILED: &str = "DNSBL_LOOKUP_FAILED";
/// A blacklist answered outside 127.0.0.0/8 (typically a resolver that
/// rewrites NXDOMAIN): not a listing (Unknown).
pub const DNSBL_ANSWER_INVALID: &str = "DNSBL_ANSWER_INVALID";
/// There is nothing to look up: `domain` has no MX, A or AAAA address
/// (Unknown).
pub const DNSBL_NO_TARGETS: &str = "DNSBL_NO_TARGETS";

/// Every DNS and DNSBL code above.
pub const DNS_ALL: &[&str] = &[
    DNS_DELEGATION_NOT_FOUND,
    DNS_ROOT_UNREACHABLE,
    DNS_PARENT_UNREACHABLE,
    DNS_WALK_FAILED,
    DNS_PARENT_INCONSISTENT,
    DNS_NS_TOO_FEW,
    DNS_NS_SAME_ADDRESS,
    DNS_NS_LAME,
    DNS_NS_IS_CNAME,
    DNS_NS_SET_MISMATCH,
    DNS_NS_CHILD_INCONSISTENT,
    DNS_NS_NO_ADDRESS,
    DNS_NS_UNREACHABLE,
    DNS_NS_UDP_UNREACHABLE,
    DNS_NS_TCP_UNREACHABLE,
    DNS_GLUE_MISMATCH,
    DNS_GLUE_MISSING,
    DNS_SOA_SERIAL_MISMATCH,
    DNS_SOA_REFRESH_LOW,
    DNS_SOA_RETRY_NOT_BELOW_REFRESH,
    DNS_SOA_RETRY_LOW,
    DNS_SOA_EXPIRE_LOW,
    DNS_SOA_EXPIRE_BELOW_REFRESH,
    DNS_SOA_MINIMUM_OUT_OF_RANGE,
    DNS_MX_MISSING,
    DNS_MX_NULL,
    DNS_MX_IS_CNAME,
    DNS_MX_NO_ADDRESS,
    DNS_RECORD_MISMATCH,
    DNS_RECORD_MISSING,
    DNS_RECORD_NXDOMAIN,
    DNS_RECORD_EXISTS,
    DNS_RECORD_INCONSISTENT,
    DNS_QUERY_FAILED,
    DNSBL_LISTED,
    DNSBL_ZONE_UNUSABLE,
    DNSBL_REFUSED,
    DNSBL_LOOKUP_FAILED,
    DNSBL_ANSWER_INVALID,
    DNSBL_NO_TARGETS,
];

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
mod section_tests {
    use super::{ALL, ALL_DOMAIN, ALL_PING_PAGES_CHAIN, DNS_ALL, MAIL_ALL};

    /// Every section's codes are unique across all sections, upper snake
    /// case and carry their section's prefix.
    #[test]
    fn section_codes_are_unique_upper_snake_and_prefixed() {
        let mut seen: std::collections::HashSet<&str> = ALL.iter().copied().collect();
        let sections: [(&[&str], &[&str]); 4] = [
            (ALL_DOMAIN, &["DOMAIN_"]),
            (DNS_ALL, &["DNS_", "DNSBL_"]),
            (
                ALL_PING_PAGES_CHAIN,
                &["PING_", "PAGE_", "SECURITY_TXT_", "CHAIN_"],
            ),
            (MAIL_ALL, &["MAIL_", "SMTP_", "IMAP_", "POP3_"]),
        ];
        for (codes, prefixes) in sections {
            for code in codes {
                assert!(seen.insert(code), "duplicate {code}");
                assert!(
                    code.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
                );
                assert!(prefixes.iter().any(|p| code.starts_with(p)), "{code}");
            }
        }
    }
}
