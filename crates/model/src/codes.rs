//! The finding-code catalogue: every code keepup produces, one place.
//!
//! A code never changes meaning once released: alert rules, reports and the
//! store key on it. Codes are upper snake case, prefixed by the family that
//! produces them. Each entry carries its doc line (what happened, and the
//! status it leads to in brackets) and its default severity; `keepup codes`
//! prints this catalogue and the README lists it.
//!
//! Codes renamed since they were first stored are in [`RENAMED`];
//! [`current`] maps them, so that history read back keeps its meaning.

use crate::Severity;

/// One code of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodeInfo {
    /// The code itself, e.g. `TLS_CERT_EXPIRING`.
    pub code: &'static str,
    /// The severity the code is usually reported with; some codes are
    /// reported more or less severely depending on the case (the doc line
    /// says when).
    pub severity: Severity,
    /// The family the code belongs to, as a heading.
    pub section: &'static str,
    doc: &'static str,
}

impl CodeInfo {
    /// What the code means, in one line.
    pub fn doc(&self) -> &'static str {
        self.doc.trim()
    }
}

/// Declares each code as a constant (named like its value, documented by
/// its doc comment) and lists it in [`CATALOGUE`] with the same doc text.
macro_rules! catalogue {
    ($(section $title:literal { $( $(#[doc = $doc:literal])* $name:ident: $severity:ident; )* })*) => {
        $($(
            $(#[doc = $doc])*
            pub const $name: &str = stringify!($name);
        )*)*

        /// Every code, grouped by section, in the order they are documented.
        pub const CATALOGUE: &[CodeInfo] = &[$($(
            CodeInfo {
                code: $name,
                severity: Severity::$severity,
                section: $title,
                doc: concat!($($doc),*),
            },
        )*)*];
    };
}

catalogue! {
    section "PROBE_*: the probe machinery itself" {
        /// The check did not finish within its timeout (Down).
        PROBE_TIMEOUT: Critical;
        /// The specification cannot be probed as written, e.g. a URL without a host
        /// or a scheme other than http/https (Unknown).
        PROBE_INVALID_TARGET: Warning;
        /// A part of the probe failed unexpectedly (a bug in keepup, not a problem
        /// of the target) (Unknown).
        PROBE_INTERNAL_ERROR: Warning;
    }
    section "DNS_*: name resolution as seen by the probes" {
        /// The target name does not resolve (Down).
        DNS_RESOLUTION_FAILED: Critical;
    }
    section "TCP_*: TCP connections" {
        /// No address of the target accepted a TCP connection (Down).
        TCP_CONNECT_FAILED: Critical;
        /// Sending the configured text failed (Down).
        TCP_SEND_FAILED: Critical;
        /// The first bytes received do not match `expect_banner` (Down).
        TCP_BANNER_MISMATCH: Critical;
        /// Nothing was received although a banner was expected (Down).
        TCP_NO_BANNER: Critical;
    }
    section "TLS_*: handshakes and certificates" {
        /// The TLS handshake failed (alert, protocol error, not a TLS server) (Down).
        TLS_HANDSHAKE_FAILED: Critical;
        /// The certificate's validity has ended (Down).
        TLS_CERT_EXPIRED: Critical;
        /// The certificate's validity has not started yet (Down).
        TLS_CERT_NOT_YET_VALID: Critical;
        /// The certificate expires within the warning (Degraded) or critical (Down)
        /// threshold.
        TLS_CERT_EXPIRING: Warning;
        /// The chain does not lead to a trusted root (Down when verifying).
        TLS_CHAIN_UNTRUSTED: Critical;
        /// The issuer of the top presented certificate was not sent and is not a
        /// trusted root: typically a missing intermediate (Down when verifying).
        TLS_CHAIN_INCOMPLETE: Critical;
        /// The certificate is not valid for the name that was asked for (Down when
        /// verifying).
        TLS_HOSTNAME_MISMATCH: Critical;
        /// An intermediate certificate expires within the thresholds.
        TLS_INTERMEDIATE_EXPIRING: Warning;
        /// An intermediate certificate has expired (Down).
        TLS_INTERMEDIATE_EXPIRED: Critical;
        /// A key in the chain is too small (RSA < 2048 bits, EC < 256 bits)
        /// (Degraded).
        TLS_WEAK_KEY: Warning;
        /// A certificate in the chain is signed with SHA-1 or MD5 (Degraded).
        TLS_WEAK_SIGNATURE: Warning;
        /// A presented certificate could not be parsed (Down).
        TLS_CERT_UNPARSEABLE: Critical;
        /// One address behind the name presents a different certificate than the
        /// others (Info).
        TLS_CERT_DIFFERS: Info;
        /// The configured `ca_file` cannot be read or holds no certificate
        /// (Unknown).
        TLS_CA_FILE_INVALID: Warning;
        /// The system's trusted roots could not be loaded; only `ca_file` is
        /// trusted (Warning, Info when a `ca_file` is configured).
        TLS_SYSTEM_ROOTS_UNAVAILABLE: Warning;
    }
    section "HTTP_*: requests, redirects and content" {
        /// The final status code is not in `expect_status` (Down).
        HTTP_STATUS_UNEXPECTED: Critical;
        /// The response is not valid HTTP/1.x (Down).
        HTTP_PROTOCOL_ERROR: Critical;
        /// The server closed the connection before a complete response (Down).
        HTTP_CONNECTION_CLOSED: Critical;
        /// The body is larger than `max_body_bytes`; only the first part was read
        /// and checked (Degraded).
        HTTP_BODY_TOO_LARGE: Warning;
        /// Reading the body failed after the response head (Down).
        HTTP_BODY_INCOMPLETE: Critical;
        /// A redirect leads back to a URL already visited (Down).
        HTTP_REDIRECT_LOOP: Critical;
        /// More redirects than `max_redirects` (Down).
        HTTP_TOO_MANY_REDIRECTS: Critical;
        /// A redirect without a usable `Location` (Down).
        HTTP_REDIRECT_INVALID: Critical;
        /// A `contains` text is missing from the body (Down).
        HTTP_KEYWORD_MISSING: Critical;
        /// A `not_contains` text is present in the body (Down).
        HTTP_KEYWORD_PRESENT: Critical;
        /// A `matches` regex does not match the body (Down).
        HTTP_REGEX_NO_MATCH: Critical;
        /// A `not_matches` regex matches the body (Down).
        HTTP_REGEX_MATCHED: Critical;
        /// A JSON assertion was made but the body is not JSON (Down).
        HTTP_JSON_INVALID: Critical;
        /// A JSON pointer assertion does not hold (Down).
        HTTP_JSON_MISMATCH: Critical;
        /// Slower than `down_latency` (Down).
        HTTP_LATENCY_CRITICAL: Critical;
        /// Slower than `degraded_latency` (Degraded).
        HTTP_LATENCY_HIGH: Warning;
    }
    section "SCENARIO_*, LOGIN_*: synthetic transactions" {
        /// A step of a `scenario` failed; the finding names the step and what
        /// was expected, the steps after it are skipped (Down).
        SCENARIO_STEP_FAILED: Critical;
        /// A step's extraction found nothing (or an empty value), so the
        /// steps that need it were not sent (Down).
        SCENARIO_EXTRACT_FAILED: Critical;
        /// A cleanup step failed after the scenario (Degraded).
        SCENARIO_CLEANUP_FAILED: Warning;
        /// A step's redirects lead back to a URL already visited, or are
        /// more than `max_redirects` (Down).
        SCENARIO_REDIRECT_LOOP: Critical;
        /// A `login` check could not log in: its step names what failed (Down).
        LOGIN_FAILED: Critical;
        /// The token's `expires_in` is outside the accepted range (Degraded).
        LOGIN_TOKEN_EXPIRY: Warning;
    }
    section "BROWSER_*: scenarios in a real headless browser" {
        /// Chromium is not installed or did not start; the check could not run
        /// (Unknown).
        BROWSER_UNAVAILABLE: Warning;
        /// The page wrote errors to its console or threw an uncaught exception,
        /// e.g. the cart's script failing (Degraded).
        BROWSER_CONSOLE_ERROR: Warning;
        /// A request of the page failed or answered 4xx/5xx (Degraded).
        BROWSER_REQUEST_FAILED: Warning;
        /// The page did not finish loading, or stopped answering (a script
        /// running without end), before the step's time ran out (Down).
        BROWSER_PAGE_TIMEOUT: Critical;
    }
    section "DOMAIN_*: registration expiry (RDAP, WHOIS)" {
        /// The registration expires within `critical_days` (Down) or `warn_days`
        /// (Degraded).
        DOMAIN_EXPIRING: Critical;
        /// The registration's expiry date has passed (Down).
        DOMAIN_EXPIRED: Critical;
        /// The registry has no registration for the domain (Down).
        DOMAIN_NOT_FOUND: Critical;
        /// The registry put the domain on hold (`clientHold`, `serverHold`, .be
        /// "out of service", .se "deactivated"): it is not published in DNS (Down).
        DOMAIN_ON_HOLD: Critical;
        /// The domain is about to be deleted (`pendingDelete`) (Down).
        DOMAIN_PENDING_DELETE: Critical;
        /// The domain was deleted and can only be restored during the redemption
        /// period (`redemptionPeriod`, .be "quarantine") (Down).
        DOMAIN_REDEMPTION_PERIOD: Critical;
        /// The registry publishes no expiry date (.de, .eu, .at, .ch, .be, some
        /// RDAP servers); what it does publish is in the evidence (Unknown).
        DOMAIN_NO_EXPIRY: Warning;
        /// Neither the RDAP bootstrap nor keepup's WHOIS table knows the domain's
        /// registry (Unknown).
        DOMAIN_UNSUPPORTED: Warning;
        /// The registry refused to answer because of its rate limit (HTTP 429 or a
        /// WHOIS "limit exceeded" text), or keepup holds back to respect it
        /// (Unknown; Info while an earlier answer is still used).
        DOMAIN_RATE_LIMITED: Warning;
        /// The registry could not be asked: connection, timeout, TLS, HTTP error
        /// status, access refused (Unknown; Info while an earlier answer is still
        /// used).
        DOMAIN_LOOKUP_FAILED: Warning;
        /// The registry's answer cannot be understood: invalid or oversized JSON,
        /// no events, an unknown WHOIS layout, a date that is not a date
        /// (Unknown; Info while an earlier answer is still used).
        DOMAIN_BAD_RESPONSE: Warning;
        /// The RDAP bootstrap could not be refreshed; the copy built into keepup
        /// is used (Info).
        DOMAIN_BOOTSTRAP_STALE: Info;
    }
    section "DNS_* (delegation and records) and DNSBL_*" {
        //
        // Delegation codes follow Zonemaster's test cases, named in each line;
        // Zonemaster's levels map onto ours: what leaves the zone resolvable is
        // Warning (or Info for its NOTICE level), what makes it unresolvable is
        // Critical.
        /// BASIC01: the parent's servers say the zone does not exist (NXDOMAIN),
        /// or the name is not delegated (no NS records at the parent), or is an
        /// alias (Critical).
        DNS_DELEGATION_NOT_FOUND: Critical;
        /// BASIC01: no root hint answered; keepup's own network or `root_hints`
        /// may be at fault (Unknown).
        DNS_ROOT_UNREACHABLE: Warning;
        /// BASIC01/BASIC02: no server of a zone on the way down (the TLD, the
        /// parent) gave a usable answer (Critical).
        DNS_PARENT_UNREACHABLE: Critical;
        /// BASIC01: the walk went in circles or too deep (Critical).
        DNS_WALK_FAILED: Critical;
        /// BASIC01 (B01_INCONSISTENT_DELEGATION): the parent's servers give
        /// different delegations (Warning).
        DNS_PARENT_INCONSISTENT: Warning;
        /// DELEGATION01: fewer than two name servers at the parent or in the zone
        /// (Warning).
        DNS_NS_TOO_FEW: Warning;
        /// DELEGATION02: name servers share an address (Warning).
        DNS_NS_SAME_ADDRESS: Warning;
        /// DELEGATION04: a name server answers, but not authoritatively (lame
        /// delegation) (Warning; Critical when no server is authoritative).
        DNS_NS_LAME: Warning;
        /// DELEGATION05: a name server name is an alias (CNAME) (Warning).
        DNS_NS_IS_CNAME: Warning;
        /// DELEGATION07: the parent and the zone list different name servers
        /// (Warning).
        DNS_NS_SET_MISMATCH: Warning;
        /// CONSISTENCY04: the zone's servers give different NS sets (Warning).
        DNS_NS_CHILD_INCONSISTENT: Warning;
        /// NAMESERVER06: a name server name has no address (Warning; Critical when
        /// no name server has one).
        DNS_NS_NO_ADDRESS: Warning;
        /// CONNECTIVITY01/02: a name server answers neither over UDP nor over TCP
        /// (Warning; Critical when none answers).
        DNS_NS_UNREACHABLE: Warning;
        /// CONNECTIVITY01: a name server answers over TCP but not over UDP
        /// (Warning).
        DNS_NS_UDP_UNREACHABLE: Warning;
        /// CONNECTIVITY02: a name server answers over UDP but not over TCP
        /// (Warning).
        DNS_NS_TCP_UNREACHABLE: Warning;
        /// CONSISTENCY05: the parent's glue differs from the name server's own
        /// A/AAAA records (Warning).
        DNS_GLUE_MISMATCH: Warning;
        /// CONSISTENCY05: a name server inside the zone has no glue at the parent
        /// (Warning).
        DNS_GLUE_MISSING: Warning;
        /// CONSISTENCY01: the zone's servers serve different SOA serials
        /// (Warning).
        DNS_SOA_SERIAL_MISMATCH: Warning;
        /// ZONE02: SOA refresh below 14400 s (Info).
        DNS_SOA_REFRESH_LOW: Info;
        /// ZONE03: SOA retry not below refresh (Warning).
        DNS_SOA_RETRY_NOT_BELOW_REFRESH: Warning;
        /// ZONE04: SOA retry below 3600 s (Info).
        DNS_SOA_RETRY_LOW: Info;
        /// ZONE05: SOA expire below one week (Info).
        DNS_SOA_EXPIRE_LOW: Info;
        /// ZONE05: SOA expire below refresh (Warning).
        DNS_SOA_EXPIRE_BELOW_REFRESH: Warning;
        /// ZONE06: SOA minimum (negative caching TTL) outside 300–86400 s (Info).
        DNS_SOA_MINIMUM_OUT_OF_RANGE: Info;
        /// ZONE09: the zone has no MX record, or it cannot be read (Warning, with
        /// `expect_mx`).
        DNS_MX_MISSING: Warning;
        /// ZONE09: the zone has a null MX (RFC 7505): it accepts no mail (Info).
        DNS_MX_NULL: Info;
        /// ZONE08: a mail exchanger is an alias (CNAME) (Warning).
        DNS_MX_IS_CNAME: Warning;
        /// ZONE09: a mail exchanger has no address (Warning).
        DNS_MX_NO_ADDRESS: Warning;
        /// A record set differs from `equals` (Critical).
        DNS_RECORD_MISMATCH: Critical;
        /// Expected records are missing (`contains`, or no records) (Critical).
        DNS_RECORD_MISSING: Critical;
        /// The name does not exist although records are expected (Critical).
        DNS_RECORD_NXDOMAIN: Critical;
        /// The name exists although `nxdomain = true` (Critical).
        DNS_RECORD_EXISTS: Critical;
        /// The authoritative servers give different answers (Warning).
        DNS_RECORD_INCONSISTENT: Warning;
        /// No server or resolver answered the question (Unknown).
        DNS_QUERY_FAILED: Warning;
        /// An address or domain is on a blacklist (Critical, or Warning for
        /// policy and reputation lists such as Spamhaus PBL).
        DNSBL_LISTED: Critical;
        /// A blacklist zone failed its sanity check (its test entry is not
        /// listed, or 127.0.0.1 is): its answers are not trusted (Unknown).
        DNSBL_ZONE_UNUSABLE: Warning;
        /// A blacklist answered with an error code (e.g. Spamhaus 127.255.255.254:
        /// queries through public resolvers are refused): not a listing (Unknown).
        DNSBL_REFUSED: Warning;
        /// A blacklist lookup got no answer (Unknown).
        DNSBL_LOOKUP_FAILED: Warning;
        /// A blacklist answered outside 127.0.0.0/8 (typically a resolver that
        /// rewrites NXDOMAIN): not a listing (Unknown).
        DNSBL_ANSWER_INVALID: Warning;
        /// There is nothing to look up: `domain` has no MX, A or AAAA address
        /// (Unknown).
        DNSBL_NO_TARGETS: Warning;
    }
    section "PING_*, PAGE_*, SECURITY_TXT_*, CHAIN_*: ICMP ping, policy pages, security.txt and dependency chains" {
        /// No echo request was answered (Down).
        PING_NO_REPLY: Critical;
        /// Packet loss at or above `down_loss` (Down).
        PING_LOSS_CRITICAL: Critical;
        /// Packet loss at or above `degraded_loss` (Degraded).
        PING_LOSS_HIGH: Warning;
        /// Average round trip above `down_rtt` (Down).
        PING_RTT_CRITICAL: Critical;
        /// Average round trip above `degraded_rtt` (Degraded).
        PING_RTT_HIGH: Warning;
        /// Neither an unprivileged ICMP socket (`net.ipv4.ping_group_range`) nor a
        /// raw socket (`CAP_NET_RAW`) may be opened; a TCP check is the way out
        /// (Unknown).
        PING_NOT_PERMITTED: Warning;
        /// An ICMP socket could not be opened for another reason, e.g. IPv6
        /// disabled on this host (Unknown).
        PING_SOCKET_FAILED: Warning;
        /// No echo request could be sent, e.g. no route to the address (Down).
        PING_SEND_FAILED: Critical;
        /// The name has no address of the requested family (Down).
        PING_NO_ADDRESS: Critical;
        /// The page answers like a non-existent page of the same site does: a
        /// "soft 404" (Down).
        PAGE_SOFT_404: Critical;
        /// The site answers 2xx for non-existent paths (with other content), so
        /// only the comparison tells real pages from error pages (Info).
        PAGE_NO_404: Info;
        /// A required phrase is missing from the page's text (Down).
        PAGE_PHRASE_MISSING: Critical;
        /// The page has no visible text (Down).
        PAGE_EMPTY: Critical;
        /// The page's normalised text changed; reported for `change_hold` after
        /// the change was seen (Degraded).
        PAGE_CHANGED: Warning;
        /// No security.txt was found (Down).
        SECURITY_TXT_MISSING: Critical;
        /// The answer is an HTML page or binary data, not a security.txt (Down).
        SECURITY_TXT_NOT_TEXT: Critical;
        /// Served with a Content-Type other than `text/plain; charset=utf-8`
        /// (Degraded).
        SECURITY_TXT_CONTENT_TYPE: Warning;
        /// Served over plain HTTP; RFC 9116 requires HTTPS (Down).
        SECURITY_TXT_NOT_HTTPS: Critical;
        /// Only the legacy location `/security.txt` has the file (Degraded).
        SECURITY_TXT_LEGACY_LOCATION: Warning;
        /// No `Contact` field (Down).
        SECURITY_TXT_NO_CONTACT: Critical;
        /// A `Contact` is not a URI, or a web URI that is not https (Degraded).
        SECURITY_TXT_CONTACT_INVALID: Warning;
        /// No `Expires` field (Down).
        SECURITY_TXT_NO_EXPIRES: Critical;
        /// `Expires` is not an RFC 3339 date-time (Down).
        SECURITY_TXT_EXPIRES_INVALID: Critical;
        /// The file has expired (Down).
        SECURITY_TXT_EXPIRED: Critical;
        /// The file expires within `warn_days` (Degraded).
        SECURITY_TXT_EXPIRING: Warning;
        /// `Expires` is more than a year ahead; RFC 9116 recommends less (Degraded).
        SECURITY_TXT_EXPIRES_TOO_FAR: Warning;
        /// A field that may appear once appears several times (Degraded).
        SECURITY_TXT_FIELD_REPEATED: Warning;
        /// Lines that are neither fields nor comments, invalid UTF-8, or a broken
        /// PGP signature block (Degraded).
        SECURITY_TXT_SYNTAX: Warning;
        /// No `Canonical` URI names the URL the file was fetched from (Degraded).
        SECURITY_TXT_CANONICAL_MISMATCH: Warning;
        /// The chain's first link failed: the endpoint's name does not resolve
        /// (Down).
        CHAIN_DNS_FAILED: Critical;
        /// The chain's TLS link failed: handshake or certificate (Down).
        CHAIN_TLS_FAILED: Critical;
        /// The chain's HTTP link failed: connection, status or body (Down).
        CHAIN_HTTP_FAILED: Critical;
        /// The vendor's status page reports an outage of a watched component (or
        /// overall, without components) (Degraded).
        CHAIN_VENDOR_OUTAGE: Warning;
        /// The vendor's status page reports degraded performance or maintenance of
        /// a watched component (or overall) (Degraded).
        CHAIN_VENDOR_DEGRADED: Warning;
        /// A configured component is not on the vendor's status page (Degraded).
        CHAIN_VENDOR_COMPONENT_MISSING: Warning;
        /// The vendor's status page could not be read or is not a Statuspage
        /// summary; the chain itself is judged without it (Degraded).
        CHAIN_STATUSPAGE_UNREADABLE: Warning;
    }
    section "MAIL_*, SMTP_*, IMAP_*, POP3_*: mail service checks" {
        //
        // The certificate presented after STARTTLS or on an implicit-TLS port is
        // reported with the TLS_* codes above, like HTTPS.
        /// The server closed the connection (or it failed) in the middle of the
        /// dialogue (Down).
        MAIL_CONNECTION_CLOSED: Critical;
        /// The server's reply is not valid for the protocol, or exceeds a limit
        /// (line length, lines per reply, bytes per session) (Down).
        MAIL_PROTOCOL_ERROR: Critical;
        /// The greeting refuses service (SMTP 554/421, IMAP `* BYE`, POP3 `-ERR`)
        /// or is not the ready greeting (Down).
        MAIL_GREETING_REJECTED: Critical;
        /// The greeting does not match `expect_banner` (Down).
        MAIL_BANNER_MISMATCH: Critical;
        /// The server refused a basic command of the dialogue (EHLO, CAPABILITY)
        /// (Down).
        MAIL_COMMAND_FAILED: Critical;
        /// STARTTLS (STLS for POP3) is not offered: Down when required (the
        /// default), Info otherwise.
        MAIL_STARTTLS_MISSING: Critical;
        /// The server refused the STARTTLS command (Down).
        MAIL_STARTTLS_REFUSED: Critical;
        /// The server sent plain-text data after agreeing to STARTTLS and before
        /// the handshake (Down).
        MAIL_STARTTLS_INJECTION: Critical;
        /// The test account was refused (Down).
        MAIL_AUTH_FAILED: Critical;
        /// No usable login method is offered over TLS (no AUTH PLAIN/LOGIN, or
        /// IMAP LOGINDISABLED after STARTTLS) (Down).
        MAIL_AUTH_UNAVAILABLE: Critical;
        /// The login was not attempted, so that the password never travels
        /// unprotected: no TLS (Warning), or a certificate that failed
        /// verification (Info; the certificate finding says why).
        MAIL_AUTH_SKIPPED: Warning;
        /// SMTP AUTH is advertised before STARTTLS: clients may send passwords in
        /// clear text (Degraded).
        SMTP_AUTH_BEFORE_TLS: Warning;
        /// IMAP does not announce LOGINDISABLED before STARTTLS: clients may log in
        /// in clear text (Degraded).
        IMAP_LOGIN_BEFORE_TLS: Warning;
        /// POP3 offers USER or SASL PLAIN/LOGIN before STLS: clients may log in in
        /// clear text (Degraded).
        POP3_LOGIN_BEFORE_TLS: Warning;
    }
    section "NAGIOS_*: Nagios and Monitoring Plugins commands" {
        /// The plugin exited 1, WARNING; the text is its first line (Degraded).
        NAGIOS_WARNING: Warning;
        /// The plugin exited 2, CRITICAL; the text is its first line (Down).
        NAGIOS_CRITICAL: Critical;
        /// The plugin exited 3, UNKNOWN, another code, or was ended by a signal
        /// (Unknown).
        NAGIOS_UNKNOWN: Warning;
        /// The command could not be started: missing, not executable (Unknown).
        NAGIOS_NOT_RUNNABLE: Warning;
        /// The plugin wrote more than keepup reads from a plugin; it was stopped
        /// (Unknown).
        NAGIOS_OUTPUT_TOO_LARGE: Warning;
        /// A performance data item does not follow the plugin guidelines'
        /// `'label'=value[UOM];warn;crit;min;max` and was left out (Info).
        NAGIOS_PERFDATA_INVALID: Info;
    }
    section "PG_*: PostgreSQL checks" {
        //
        // A certificate presented after SSLRequest is reported with the TLS_*
        // codes above; an unreachable server with TCP_* and DNS_*.
        /// The server refused the login (wrong password, unknown user, pg_hba.conf)
        /// (Down).
        PG_AUTH_FAILED: Critical;
        /// The PostgreSQL session failed: closed, not PostgreSQL, or a reply past
        /// the size limit (Down).
        PG_CONNECTION_FAILED: Critical;
        /// The server answered a health query or the login with an error (no such
        /// database, too many connections, starting up) (Down).
        PG_SERVER_ERROR: Critical;
        /// `tls = "require"` and the server does not offer TLS (Down).
        PG_TLS_UNAVAILABLE: Critical;
        /// `role = "primary"` and the server is a replica in recovery (Down).
        PG_IN_RECOVERY: Critical;
        /// `role = "replica"` and the server is not in recovery: promoted, or
        /// never a replica (Down).
        PG_NOT_IN_RECOVERY: Critical;
        /// A replica's WAL receiver does not stream (Down), or the primary sees a
        /// replica in another state than streaming, e.g. catching up (Degraded).
        PG_REPLICA_NOT_STREAMING: Critical;
        /// WAL replay is paused on the replica (Degraded).
        PG_REPLAY_PAUSED: Warning;
        /// The WAL receiver or the WAL senders are listed but their details
        /// are hidden from the check's user, which lacks pg_monitor (or
        /// pg_read_all_stats): streaming cannot be judged (Degraded).
        PG_INSUFFICIENT_PRIVILEGE: Warning;
        /// Replay lag in time or bytes above `lag` / `lag_bytes`: Degraded above
        /// warn, Down above crit.
        PG_REPLICA_LAG: Warning;
        /// The primary has fewer streaming replicas than `replicas` (Down).
        PG_REPLICAS_MISSING: Critical;
        /// Client connections above `connections` (a share of
        /// `max_connections`): Degraded above warn, Down above crit.
        PG_CONNECTIONS_HIGH: Warning;
        /// The configured `query` failed (Down).
        PG_QUERY_FAILED: Critical;
        /// The configured `query` answered something else than `expect` (Down).
        PG_QUERY_UNEXPECTED: Critical;
    }
    section "PROMETHEUS_*: conditions on a scraped Prometheus endpoint" {
        /// A `severity = "crit"` condition is met; the text names the series and
        /// values (Down).
        PROMETHEUS_CONDITION_CRITICAL: Critical;
        /// A `severity = "warn"` condition is met; the text names the series and
        /// values (Degraded).
        PROMETHEUS_CONDITION_WARNING: Warning;
        /// The answer is no exposition in the text format, or larger than
        /// `max_body_bytes`: nothing was evaluated (Down).
        PROMETHEUS_SCRAPE_INVALID: Critical;
        /// A metric a condition selects has no series at all in the scrape, so the
        /// condition cannot be evaluated; or a measure (`[[site.check.measure]]`)
        /// has no sample, so its forecast gets no value (Degraded).
        PROMETHEUS_METRIC_ABSENT: Warning;
    }
    section "CAPACITY_*: load against a site's design capacity ([site.capacity]) and capacity forecasts" {
        /// The load measured over the check's interval (requests per second,
        /// transactions per hour or concurrent sessions) reached `warn_at` of the
        /// design capacity (default 80 %); the evidence has the value, the design,
        /// the share and the day's peak (Degraded).
        CAPACITY_DESIGN_NEAR: Warning;
        /// The measured load reached `crit_at` of the design capacity (default
        /// 100 %): the shop is run past what it was built for (Down).
        CAPACITY_DESIGN_EXCEEDED: Critical;
        /// The load could not be measured: the source has no value for a measure
        /// the site declares (a metric missing from the scrape, an access log the
        /// agent does not count or cannot read) (Degraded).
        CAPACITY_LOAD_UNMEASURED: Warning;
        /// At the growth of its recent samples (a robust linear fit over the
        /// forecast's window), a measure reaches its capacity or limit within
        /// the forecast's warn time (Degraded) or crit time (Down); the
        /// evidence has the fit and the range of days.
        CAPACITY_EXHAUSTED_SOON: Warning;
    }
    section "SSH_*: SSH servers' banners and host keys" {
        /// The server proved a host key other than the pinned `host_key_sha256`:
        /// a reinstalled server, or someone in between (Down).
        SSH_HOST_KEY_CHANGED: Critical;
        /// The server's signature of the key exchange does not verify with the
        /// host key it sent, so the key is not proven (Down).
        SSH_SIGNATURE_INVALID: Critical;
        /// The server's RSA host key is shorter than 2048 bits: too weak to
        /// prove anything, so keepup does not verify with it (Down).
        SSH_HOST_KEY_WEAK: Critical;
        /// The server offers no key exchange or host key algorithm keepup
        /// verifies (Down).
        SSH_NO_COMMON_ALGORITHM: Critical;
        /// Not an SSH server, or it broke the protocol or disconnected before
        /// its signed key exchange reply (Down).
        SSH_PROTOCOL_ERROR: Critical;
    }
    section "MYSQL_*: MySQL and MariaDB checks" {
        //
        // A certificate is reported with the TLS_* codes above; an unreachable
        // server with TCP_* and DNS_*.
        /// The server refused the login (wrong password, unknown user, host not
        /// allowed) or wants an authentication keepup cannot give (Down).
        MYSQL_AUTH_FAILED: Critical;
        /// The session failed: closed, not MySQL, or a packet past the size limit
        /// (Down).
        MYSQL_CONNECTION_FAILED: Critical;
        /// The server answered a health query with an error, e.g. missing the
        /// REPLICATION CLIENT privilege (Down).
        MYSQL_SERVER_ERROR: Critical;
        /// `tls = "require"` and the server does not offer TLS (Down).
        MYSQL_TLS_UNAVAILABLE: Critical;
        /// `role = "replica"` and no replication is configured, or `"primary"`
        /// and the server replicates from another (Down).
        MYSQL_ROLE_UNEXPECTED: Critical;
        /// The replica's IO thread does not run (`Slave_IO_Running` /
        /// `Replica_IO_Running`), with its last error (Down).
        MYSQL_REPLICA_IO_STOPPED: Critical;
        /// The replica's SQL thread does not run, with its last error (Down).
        MYSQL_REPLICA_SQL_STOPPED: Critical;
        /// `Seconds_Behind_Master` / `Seconds_Behind_Source` at `lag`: Degraded at
        /// warn, Down at crit.
        MYSQL_REPLICA_LAG: Warning;
        /// `Threads_connected` at `connections` of `max_connections`: Degraded at
        /// warn, Down at crit.
        MYSQL_CONNECTIONS_HIGH: Warning;
        /// The Galera node's `wsrep_local_state_comment` is not Synced (Down).
        MYSQL_GALERA_NOT_SYNCED: Critical;
        /// `wsrep_cluster_size` below `cluster_size` (Down).
        MYSQL_GALERA_CLUSTER_SMALL: Critical;
    }
    section "REDIS_*: Redis checks" {
        //
        // A certificate (tls = "require") is reported with the TLS_* codes above;
        // an unreachable server with TCP_* and DNS_*.
        /// The server refused the login, or wants a password and none is
        /// configured (Down).
        REDIS_AUTH_FAILED: Critical;
        /// The server answered PING or INFO with an error, e.g. LOADING (Down).
        REDIS_ERROR: Critical;
        /// The session failed: closed, not RESP, or a reply past the size limits
        /// (Down).
        REDIS_PROTOCOL_ERROR: Critical;
        /// The server's role is not the configured `role` (Down).
        REDIS_ROLE_UNEXPECTED: Critical;
        /// The replica's link to its master is down (`master_link_status`) (Down).
        REDIS_MASTER_LINK_DOWN: Critical;
        /// A replica lags beyond `lag` (seconds since the master was heard, or
        /// since a replica acknowledged) or `lag_bytes` (offset behind the
        /// master): Degraded at warn, Down at crit.
        REDIS_REPLICA_LAG: Warning;
        /// The primary has fewer online replicas than `replicas` (Down).
        REDIS_REPLICAS_MISSING: Critical;
        /// `used_memory` reached `memory` of `maxmemory`: Degraded at warn, Down
        /// at crit.
        REDIS_MEMORY_HIGH: Warning;
        /// `rejected_connections` grew since the previous run: clients were
        /// turned away at `maxclients` (Degraded).
        REDIS_REJECTED_CONNECTIONS: Warning;
    }
    section "ES_*: Elasticsearch and OpenSearch clusters" {
        /// The cluster's health is yellow: every primary shard is assigned, some
        /// replica is not (Degraded).
        ES_CLUSTER_YELLOW: Warning;
        /// The cluster's health is red: a primary shard is unassigned, some data
        /// cannot be searched or written (Down).
        ES_CLUSTER_RED: Critical;
        /// The cluster has fewer nodes than `nodes` (Degraded).
        ES_NODES_MISSING: Warning;
        /// The answer is not a cluster health document (Down).
        ES_HEALTH_INVALID: Critical;
    }
    section "WEB_STATUS_*, NGINX_*, APACHE_*, TOMCAT_*, VARNISH_*: web server status pages" {
        /// The answer is not the status page the check reads (nginx
        /// `stub_status`, Apache `server-status?auto`, Tomcat's manager
        /// `status?XML=true`) (Down).
        WEB_STATUS_INVALID: Critical;
        /// nginx accepted connections it did not handle (`accepts` − `handled`
        /// grew since the previous run, or is above 0 at the first):
        /// `worker_connections` or a resource limit was reached (Degraded).
        NGINX_CONNECTIONS_DROPPED: Warning;
        /// nginx's active connections reached `active`'s warn (Degraded) or crit
        /// (Down) limit.
        NGINX_ACTIVE_HIGH: Warning;
        /// Apache's busy workers reached `busy`'s warn (Degraded) or crit (Down)
        /// share of its worker slots.
        APACHE_WORKERS_BUSY: Warning;
        /// Tomcat's JVM uses this share of its maximum heap: `memory`'s warn
        /// (Degraded) or crit (Down) limit.
        TOMCAT_MEMORY_HIGH: Warning;
        /// A Tomcat connector has this share of its `maxThreads` busy:
        /// `threads`' warn (Degraded) or crit (Down) limit; at 100% requests
        /// queue.
        TOMCAT_THREADS_BUSY: Warning;
        /// The answer has no `X-Varnish` header: something else than Varnish
        /// answered (Down).
        VARNISH_NOT_IN_PATH: Critical;
        /// Varnish answered a 5xx of its own ("Backend fetch failed", a
        /// health URL's synthetic 503): its backend failed or is sick (Down).
        VARNISH_BACKEND_FAILED: Critical;
        /// With `cached = true`, the page was a miss twice in a row: Varnish
        /// does not cache it (Degraded).
        VARNISH_NOT_CACHED: Warning;
    }
    section "HEARTBEAT_*: pings from jobs (passive checks)" {
        /// The job's last ping was a `/fail` ping (Down).
        HEARTBEAT_FAILED: Critical;
        /// The last ping is older than the period plus the grace time (Down).
        HEARTBEAT_MISSING: Critical;
        /// No ping arrived since monitoring began, for longer than the period
        /// plus the grace time (Down).
        HEARTBEAT_NEVER_RECEIVED: Critical;
    }
    section "BACKUP_*: backup runs, freshness, repository checks and restore tests" {
        /// A run stored no snapshot at all, or could not start (Down).
        BACKUP_FAILED: Critical;
        /// One target did not get its snapshot (Degraded while another target
        /// got it, Down when none did).
        BACKUP_TARGET_FAILED: Warning;
        /// Files could not be read and are missing from the snapshot
        /// (Degraded).
        BACKUP_SOURCE_INCOMPLETE: Warning;
        /// The last good snapshot is older than the RPO (Down).
        BACKUP_STALE: Critical;
        /// The plan has no snapshot on the target (Down).
        BACKUP_NO_SNAPSHOT: Critical;
        /// The repository cannot be opened: unreachable, wrong password...
        /// (Down).
        BACKUP_UNAVAILABLE: Critical;
        /// The repository check found errors: damaged or missing data (Down).
        BACKUP_CHECK_FAILED: Critical;
        /// The repository check found something odd that does not affect
        /// integrity, e.g. unused data that a prune will remove (Info).
        BACKUP_CHECK_WARNING: Info;
        /// Restored content differs from what the snapshot recorded or from
        /// the unchanged source (Down).
        BACKUP_RESTORE_MISMATCH: Critical;
        /// The restore test could not restore (Down).
        BACKUP_RESTORE_FAILED: Critical;
        /// Forget and prune failed on a target after a run (Degraded).
        BACKUP_RETENTION_FAILED: Warning;
    }
    section "DR_*: disaster-recovery drills (the dr-<plan> check)" {
        /// The last finished drill of the plan failed or was aborted: the plan
        /// is not known to work (Down).
        DR_DRILL_FAILED: Critical;
        /// The last successful drill is older than the plan's `drill_max_age`
        /// (Degraded).
        DR_DRILL_STALE: Warning;
        /// The plan has never completed a drill (Degraded).
        DR_NEVER_DRILLED: Warning;
        /// The last successful drill's measured RTO exceeded the plan's `rto`
        /// (Degraded).
        DR_RTO_EXCEEDED: Warning;
        /// The last successful drill's measured RPO exceeded the plan's `rpo`
        /// (Degraded).
        DR_RPO_EXCEEDED: Warning;
        /// A drill has been running for more than twice the plan's `rto`: its
        /// process is stuck or gone, and it holds the plan (Degraded).
        DR_DRILL_STUCK: Warning;
    }
    section "SELF_*, MONITOR_*: keepup watching itself" {
        /// keepup cannot write results to its store (Down).
        SELF_STORE_FAILING: Critical;
        /// Results were dropped because the store failed for too long (Down).
        SELF_RESULTS_DROPPED: Critical;
        /// Checks start later than the allowed scheduler lag (p99): too many
        /// checks for the machine, or it is overloaded (Degraded). The message
        /// gives p99 and max and names the checks that waited longest (also in
        /// the evidence as `most_delayed`).
        SELF_SCHEDULER_LAG: Warning;
        /// keepup cannot reach any of its connectivity references (Degraded).
        SELF_OFFLINE: Warning;
        /// A failure was recorded as Unknown because keepup could not reach
        /// any of its connectivity references, so it may be keepup's own
        /// (Info).
        MONITOR_OFFLINE: Info;
    }
    section "AGENT_*, HOST_*: servers watched through keepup agent (the host kind)" {
        /// No report from the agent for its `silent_after` intervals, or none
        /// since monitoring began (Down).
        AGENT_SILENT: Critical;
        /// keepup could not fetch a pulled agent's report (the message says
        /// why); the agent turns silent if it lasts (Info).
        AGENT_PULL_FAILED: Info;
        /// A measure the check judges is missing from the agent's report (the
        /// agent could not read it, or the mount, unit or interface does not
        /// exist, or the agent cut that list short on a big host) (Degraded).
        HOST_MEASURE_MISSING: Warning;
        /// Used or free space of a mount point past its threshold (Degraded at
        /// warn, Down at crit).
        HOST_DISK_SPACE: Warning;
        /// Used inodes of a mount point past their threshold (Degraded at warn,
        /// Down at crit).
        HOST_INODES: Warning;
        /// A mount point is read-only: listed in `writable`, or remounted
        /// read-only since an earlier report (Down).
        HOST_MOUNT_READ_ONLY: Critical;
        /// Load average per core past its threshold (Degraded at warn, Down at
        /// crit).
        HOST_LOAD: Warning;
        /// A CPU share (user, system, iowait, steal) past its threshold
        /// (Degraded at warn, Down at crit).
        HOST_CPU: Warning;
        /// Memory used past its threshold (Degraded at warn, Down at crit).
        HOST_MEMORY: Warning;
        /// Swap used or swap-ins per second past their threshold (Degraded at
        /// warn, Down at crit).
        HOST_SWAP: Warning;
        /// The clock's offset against an NTP server past its threshold
        /// (Degraded at warn, Down at crit).
        HOST_CLOCK_OFFSET: Warning;
        /// The kernel says its clock is not synchronised (Degraded).
        HOST_CLOCK_UNSYNCHRONISED: Warning;
        /// The host rebooted (a new boot id, or uptime within the reboot
        /// window) (Degraded).
        HOST_REBOOTED: Warning;
        /// Fewer or more processes of a name than allowed (Down).
        HOST_PROCESS_COUNT: Critical;
        /// The process of a name nearest its limit has this share of its soft
        /// limit of open files (`RLIMIT_NOFILE`) open (Degraded at warn, Down
        /// at crit).
        HOST_PROCESS_FILES: Warning;
        /// The agent may not list the open files of any process of a name
        /// (another user's; it needs that user or `CAP_DAC_READ_SEARCH`)
        /// (Unknown).
        HOST_PROCESS_FILES_UNREADABLE: Warning;
        /// A systemd unit is not active, or not loaded (Down).
        HOST_UNIT_INACTIVE: Critical;
        /// Nothing listens on an expected TCP port (Down).
        HOST_PORT_NOT_LISTENING: Critical;
        /// An expected interface is down or missing (Down).
        HOST_INTERFACE_DOWN: Critical;
        /// Errors and drops per second on an interface past their threshold
        /// (Degraded at warn, Down at crit).
        HOST_INTERFACE_ERRORS: Warning;
        /// The host has no default route (Down).
        HOST_NO_DEFAULT_ROUTE: Critical;
        /// Open file handles past their threshold of the system limit
        /// (Degraded at warn, Down at crit).
        HOST_FILE_HANDLES: Warning;
        /// A disk failed its SMART health self-assessment (Down).
        HOST_SMART_FAILED: Critical;
        /// SMART health could not be read (smartctl not installed or not permitted, or a device it does not know): the check is Unknown, not Up (Info).
        HOST_SMART_UNKNOWN: Info;
        /// An NVMe disk used this share of its rated endurance (Degraded at
        /// warn, Down at crit).
        HOST_DISK_WEAR: Warning;
        /// DRBD, GlusterFS or Ceph says a replicated resource is not healthy
        /// (Down).
        HOST_REPLICATION: Critical;
    }
}

/// Codes stored under an older name, and the code that replaced each.
/// Backups used dotted lower-case codes (`backup.failed`) before every code
/// followed one convention.
pub const RENAMED: &[(&str, &str)] = &[
    ("backup.failed", BACKUP_FAILED),
    ("backup.target_failed", BACKUP_TARGET_FAILED),
    ("backup.source_incomplete", BACKUP_SOURCE_INCOMPLETE),
    ("backup.stale", BACKUP_STALE),
    ("backup.no_snapshot", BACKUP_NO_SNAPSHOT),
    ("backup.unavailable", BACKUP_UNAVAILABLE),
    ("backup.check_failed", BACKUP_CHECK_FAILED),
    ("backup.check_warning", BACKUP_CHECK_WARNING),
    ("backup.restore_mismatch", BACKUP_RESTORE_MISMATCH),
    ("backup.restore_failed", BACKUP_RESTORE_FAILED),
    ("backup.retention_failed", BACKUP_RETENTION_FAILED),
];

/// The current name of a code read back from storage: renamed codes map to
/// their new name, every other code is returned as it is.
pub fn current(code: &str) -> Option<&'static str> {
    RENAMED
        .iter()
        .find(|(old, _)| *old == code)
        .map(|(_, new)| *new)
}

/// The catalogue entry of `code`, if it is a current code.
pub fn lookup(code: &str) -> Option<&'static CodeInfo> {
    CATALOGUE.iter().find(|c| c.code == code)
}

/// The catalogue as a Markdown section body: one table per section, as
/// `keepup codes --markdown` prints it and the README holds it.
pub fn markdown() -> String {
    let mut out = String::new();
    let mut section = "";
    for c in CATALOGUE {
        if c.section != section {
            section = c.section;
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&format!(
                "#### {}\n\n| Code | Severity | Meaning |\n|---|---|---|\n",
                section
            ));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            c.code,
            c.severity.as_str(),
            c.doc().replace('|', "\\|")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_upper_snake_and_carry_their_section_prefix() {
        let mut seen = std::collections::HashSet::new();
        for c in CATALOGUE {
            assert!(seen.insert(c.code), "duplicate {}", c.code);
            assert!(
                c.code
                    .chars()
                    .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_'),
                "{}",
                c.code
            );
            let prefixes: Vec<&str> = c
                .section
                .split(':')
                .next()
                .unwrap_or_default()
                .split([',', ' '])
                .filter_map(|p| p.strip_suffix('*'))
                .collect();
            assert!(
                prefixes.iter().any(|p| c.code.starts_with(p)),
                "{} is not in {}",
                c.code,
                c.section
            );
            assert!(!c.doc().is_empty(), "{} has no doc line", c.code);
        }
    }

    /// One family, one section: `keepup codes`, the README and the runbook
    /// files group by section, and two sections headed `CAPACITY_*` read
    /// as one family split in two.
    #[test]
    fn each_family_heads_one_section_only() {
        let mut heads: Vec<&str> = Vec::new();
        for c in CATALOGUE {
            let head = c.section.split(':').next().unwrap_or_default().trim();
            if heads.last() != Some(&head) {
                assert!(!heads.contains(&head), "two sections are headed {head}");
                heads.push(head);
            }
        }
    }

    #[test]
    fn renamed_codes_map_to_catalogue_codes_and_others_stay() {
        for (old, new) in RENAMED {
            assert!(lookup(old).is_none(), "{old} is still current");
            assert_eq!(current(old), Some(*new));
            assert!(lookup(new).is_some(), "{new} is not in the catalogue");
        }
        assert_eq!(current("TLS_CERT_EXPIRING"), None);
        assert_eq!(
            lookup(TLS_CERT_EXPIRING).map(|c| c.severity),
            Some(Severity::Warning)
        );
    }

    #[test]
    fn the_doc_line_joins_the_comment_lines() {
        let c = lookup(TLS_CHAIN_INCOMPLETE).unwrap();
        assert_eq!(
            c.doc(),
            "The issuer of the top presented certificate was not sent and is not a \
             trusted root: typically a missing intermediate (Down when verifying)."
        );
    }
}
