//! The validated, compiled configuration: what the rest of keepup consumes.
//!
//! Everything here has already passed validation: regexes are compiled, URLs
//! parsed, secrets resolved, defaults applied. A probe never has to fail on a
//! configuration mistake.

use keepup_model::CheckId;
use regex::Regex;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The whole configuration after validation.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was loaded from (for reload and messages).
    pub source: PathBuf,
    /// The daemon's HTTP listener (heartbeats, health, later the dashboard).
    pub server: ServerConfig,
    /// Where and how long results are kept.
    pub store: StoreConfig,
    /// Scheduler limits.
    pub scheduler: SchedulerConfig,
    /// The shops, each with its checks.
    pub sites: Vec<Site>,
    /// `[[channel]]`: where notifications can be delivered.
    pub channels: Vec<crate::channels::Channel>,
    /// Maintenance windows.
    pub maintenance: Vec<crate::maintenance::Maintenance>,
    /// Contacts, teams and escalation policies.
    pub routing: crate::routing::Routing,
    /// `[dns]`: root hints, resolvers and timeouts of the DNS checks.
    pub dns: crate::dns::DnsSettings,
    /// `[[backup]]`: backup plans.
    pub backups: Vec<crate::backup::BackupPlan>,
    /// Advice found at load that does not make the configuration invalid.
    pub warnings: Vec<crate::Problem>,
    /// `site/check` → (site, check) positions, for constant-time lookups.
    pub(crate) index: std::collections::HashMap<String, (usize, usize)>,
}

impl Config {
    /// All checks of all sites, in configuration order.
    pub fn checks(&self) -> impl Iterator<Item = &Check> {
        self.sites
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| &**c))
    }
    /// All checks of all sites, in configuration order, as the shared
    /// handles the monitor keeps.
    pub fn shared_checks(&self) -> impl Iterator<Item = &std::sync::Arc<Check>> {
        self.sites.iter().flat_map(|s| s.checks.iter())
    }
    /// Builds the id index (after the sites are final).
    pub(crate) fn indexed(mut self) -> Self {
        self.index = self
            .sites
            .iter()
            .enumerate()
            .flat_map(|(s, site)| {
                site.checks
                    .iter()
                    .enumerate()
                    .map(move |(c, check)| (check.id.as_str().to_owned(), (s, c)))
            })
            .collect();
        self
    }

    /// Finds a check by its full id (`site/check`) or, if unambiguous, by its
    /// short id.
    pub fn find_check(&self, id: &str) -> Option<&Check> {
        if let Some(&(s, c)) = self.index.get(id) {
            return self
                .sites
                .get(s)
                .and_then(|site| site.checks.get(c))
                .map(|c| &**c);
        }
        let mut short = self.checks().filter(|c| c.short_id == id);
        match (short.next(), short.next()) {
            (Some(c), None) => Some(c),
            _ => None,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Listen address, default `127.0.0.1:8585`.
    pub listen: SocketAddr,
    /// The address people reach this listener at (for links in messages).
    pub public_url: Option<String>,
    /// Key that signs acknowledgement links (with `public_url`).
    pub ack_key: Option<Secret>,
    /// Connection limits, deadlines and trusted proxies.
    pub limits: crate::listener::ListenerLimits,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// SQLite database file; relative paths are relative to the config file.
    pub path: PathBuf,
    /// How long raw results are kept (default 7 days).
    pub raw_retention: Duration,
    /// How long minute rollups are kept (default 2 days).
    pub minute_retention: Duration,
    /// How long hour and day rollups are kept (default 2 years).
    pub rollup_retention: Duration,
}

/// `[scheduler]`
#[derive(Debug, Clone, PartialEq)]
pub struct SchedulerConfig {
    /// Maximum probes in flight at once (default 256).
    pub concurrency: usize,
}

/// `[[site]]`: one shop and what it depends on.
#[derive(Debug, Clone)]
pub struct Site {
    /// Short stable id (used in check ids).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free tags for routing and selection.
    pub tags: Vec<String>,
    /// Its checks, shared (not copied) with the monitor and scheduler that
    /// run them: 10,000 checks held twice cost about 10 MB.
    pub checks: Vec<std::sync::Arc<Check>>,
}

/// `[[site.check]]`: one thing to watch.
#[derive(Debug, Clone)]
pub struct Check {
    /// `site/check`.
    pub id: CheckId,
    /// The `id` as written inside the site.
    pub short_id: String,
    /// Display name (defaults to the id).
    pub name: String,
    /// Time between runs.
    pub interval: Duration,
    /// Time a run may take before it is abandoned as Down.
    pub timeout: Duration,
    /// Free tags.
    pub tags: Vec<String>,
    /// Checks this one depends on: while one of them is down, this check's
    /// incidents are attributed to it and not notified.
    pub depends_on: Vec<CheckId>,
    /// How results become incidents.
    pub alerting: Alerting,
    /// What to do.
    pub spec: CheckSpec,
}

/// How a check's results become confirmed states and incidents.
#[derive(Debug, Clone, PartialEq)]
pub struct Alerting {
    /// Consecutive non-Up results before a failure is confirmed (default 2).
    pub failure_threshold: u32,
    /// Consecutive Up results before recovery is confirmed (default 1).
    pub success_threshold: u32,
    /// Interval between runs while a failure is unconfirmed (default the
    /// interval, at most 20 s).
    pub retry_interval: Duration,
    /// Whether a confirmed Degraded state opens an incident (default false).
    pub incident_on_degraded: bool,
    /// Confirmed changes within `flap_window` that mark the check flapping
    /// (default 6; 0 disables).
    pub flap_changes: u32,
    /// Window for flap detection (default 1 h).
    pub flap_window: Duration,
}

impl Default for Alerting {
    fn default() -> Self {
        Self {
            failure_threshold: 2,
            success_threshold: 1,
            retry_interval: Duration::from_secs(20),
            incident_on_degraded: false,
            flap_changes: 6,
            flap_window: Duration::from_secs(3600),
        }
    }
}

impl Check {
    /// A fingerprint of everything that affects probing; a reload keeps the
    /// running state of a check whose fingerprint did not change.
    ///
    /// A 64-bit hash of the settings' debug text rather than the text: the
    /// scheduler keeps one per check, and the text of an HTTP check is
    /// about 500 bytes (5 MB for 10,000 checks).
    pub fn fingerprint(&self) -> u64 {
        use std::fmt::Write as _;
        use std::hash::Hasher as _;
        /// Feeds formatted text straight into the hasher.
        struct HashWriter(std::collections::hash_map::DefaultHasher);
        impl std::fmt::Write for HashWriter {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                self.0.write(s.as_bytes());
                Ok(())
            }
        }
        let mut h = HashWriter(std::collections::hash_map::DefaultHasher::new());
        // Writing into a hasher cannot fail.
        let _ = write!(h, "{:?}|{:?}|{:?}", self.interval, self.timeout, self.spec);
        h.0.finish()
    }
}

/// The kind-specific part of a check.
// Built once per load and never moved in hot paths: boxing would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum CheckSpec {
    /// `kind = "http"`
    Http(HttpSpec),
    /// `kind = "tcp"`
    Tcp(TcpSpec),
    /// `kind = "tls"`
    Tls(TlsSpec),
    /// `kind = "heartbeat"`
    Heartbeat(HeartbeatSpec),
    /// `kind = "domain"`
    Domain(crate::domain::DomainSpec),
    /// `kind = "delegation"`
    Delegation(crate::dns::DelegationSpec),
    /// `kind = "dns"`
    Dns(crate::dns::DnsSpec),
    /// `kind = "dnsbl"`
    Dnsbl(crate::dns::DnsblSpec),
    /// `kind = "ping"`
    Ping(crate::pages::PingSpec),
    /// `kind = "page"`
    Page(crate::pages::PageSpec),
    /// `kind = "security_txt"`
    SecurityTxt(crate::pages::SecurityTxtSpec),
    /// `kind = "chain"`
    Chain(crate::pages::ChainSpec),
    /// `kind = "smtp"`, `"imap"` or `"pop3"`
    Mail(crate::mail::MailSpec),
    /// keepup's own health (added by `[self_monitoring]`).
    SelfHealth(SelfHealthSpec),
    /// A backup plan's run, freshness, integrity check or restore test
    /// (added by `[[backup]]`).
    Backup(crate::backup_checks::BackupCheckSpec),
}

impl CheckSpec {
    /// The `kind` name as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Http(_) => "http",
            CheckSpec::Tcp(_) => "tcp",
            CheckSpec::Tls(_) => "tls",
            CheckSpec::Heartbeat(_) => "heartbeat",
            CheckSpec::Domain(_) => "domain",
            CheckSpec::Delegation(_) => "delegation",
            CheckSpec::Dns(_) => "dns",
            CheckSpec::Dnsbl(_) => "dnsbl",
            CheckSpec::Ping(_) => "ping",
            CheckSpec::Page(_) => "page",
            CheckSpec::SecurityTxt(_) => "security_txt",
            CheckSpec::Chain(_) => "chain",
            CheckSpec::Mail(m) => m.protocol.kind(),
            CheckSpec::SelfHealth(_) => "self",
            CheckSpec::Backup(_) => "backup",
        }
    }

    /// The host name or address this check is aimed at, if it is aimed at
    /// one (implicit dependencies on the host's ping and on the zone's
    /// delegation are found through it).
    pub fn target_host(&self) -> Option<&str> {
        match self {
            CheckSpec::Http(h) => h.url.host(),
            CheckSpec::Tcp(t) => Some(&t.host),
            CheckSpec::Tls(t) => Some(&t.host),
            CheckSpec::Dns(d) => Some(&d.expectation.name),
            CheckSpec::Ping(p) => Some(&p.host),
            CheckSpec::Page(p) => p.http.url.host(),
            CheckSpec::SecurityTxt(s) => s.http.url.host(),
            CheckSpec::Chain(c) => c.http.url.host(),
            CheckSpec::Mail(m) => Some(&m.host),
            CheckSpec::Domain(_)
            | CheckSpec::Delegation(_)
            | CheckSpec::Dnsbl(_)
            | CheckSpec::Heartbeat(_)
            | CheckSpec::SelfHealth(_)
            | CheckSpec::Backup(_) => None,
        }
    }

    /// The DNS zone a zone check (delegation, domain registration) is
    /// about: it is an implicit parent of the site's checks of names in it.
    pub fn zone(&self) -> Option<&str> {
        match self {
            CheckSpec::Domain(d) => Some(&d.domain),
            CheckSpec::Delegation(d) => Some(&d.zone),
            CheckSpec::Http(_)
            | CheckSpec::Tcp(_)
            | CheckSpec::Tls(_)
            | CheckSpec::Dns(_)
            | CheckSpec::Dnsbl(_)
            | CheckSpec::Ping(_)
            | CheckSpec::Page(_)
            | CheckSpec::SecurityTxt(_)
            | CheckSpec::Chain(_)
            | CheckSpec::Mail(_)
            | CheckSpec::Heartbeat(_)
            | CheckSpec::SelfHealth(_)
            | CheckSpec::Backup(_) => None,
        }
    }
}

/// A secret value resolved from the environment or a file. Its `Debug` and
/// `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value (from env or file).
    pub fn new(value: String) -> Self {
        Self(value)
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// `text` (a child's stderr, a server's answer) with every occurrence
    /// of the secret replaced by `***`, before it goes into a message.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.0, "***")
        }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Certificate expiry thresholds. A certificate warns when its remaining
/// validity is below `min(warn_days, warn_fraction × lifetime)`, and is
/// critical below `min(crit_days, crit_fraction × lifetime)`: whichever is
/// stricter, so a 47-day certificate does not warn for most of its life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CertThresholds {
    /// Warn when fewer days remain (default 30).
    pub warn_days: f64,
    /// Critical when fewer days remain (default 7).
    pub crit_days: f64,
    /// Warn when less than this fraction of the lifetime remains (default 1/3).
    pub warn_fraction: f64,
    /// Critical when less than this fraction remains (default 0.1).
    pub crit_fraction: f64,
}

impl Default for CertThresholds {
    fn default() -> Self {
        Self {
            warn_days: 30.0,
            crit_days: 7.0,
            warn_fraction: 1.0 / 3.0,
            crit_fraction: 0.1,
        }
    }
}

/// How a TLS peer is verified.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    /// Extra trusted CA certificates (PEM), in addition to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Whether chain/hostname problems fail the check (default true).
    pub verify: bool,
    /// Expiry thresholds.
    pub thresholds: CertThresholds,
}

impl Default for TlsOptions {
    fn default() -> Self {
        Self {
            ca_file: None,
            verify: true,
            thresholds: CertThresholds::default(),
        }
    }
}

/// An accepted range of HTTP status codes, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    /// Lowest accepted code.
    pub low: u16,
    /// Highest accepted code.
    pub high: u16,
}

impl StatusRange {
    /// Whether `code` is in range.
    pub fn contains(&self, code: u16) -> bool {
        (self.low..=self.high).contains(&code)
    }
}

/// One assertion on a response body.
#[derive(Debug, Clone)]
pub enum BodyAssertion {
    /// The text appears (`contains`).
    Contains(String),
    /// The text does not appear (`not_contains`).
    NotContains(String),
    /// The regex matches (`matches`).
    Matches(Regex),
    /// The regex does not match (`not_matches`).
    NotMatches(Regex),
    /// A JSON pointer (RFC 6901) into the body (`[[site.check.json]]`).
    Json(JsonAssertion),
}

/// `[[site.check.json]]`: `pointer` plus one of `equals`, `present`, `absent`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonAssertion {
    /// RFC 6901 pointer, validated at load.
    pub pointer: String,
    /// What must hold there.
    pub expect: JsonExpect,
}

/// What a JSON assertion expects at its pointer.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonExpect {
    /// A value exists.
    Present,
    /// No value exists.
    Absent,
    /// The value equals this JSON value (a TOML string also matches a JSON
    /// number or bool with the same text, since shop APIs are inconsistent).
    Equals(serde_json::Value),
}

/// Basic authentication for an HTTP check.
#[derive(Debug, Clone, PartialEq)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password, from env or file.
    pub password: Secret,
}

/// `kind = "http"`
#[derive(Debug, Clone)]
pub struct HttpSpec {
    /// The URL as written.
    pub url: http::Uri,
    /// Request method (default GET).
    pub method: http::Method,
    /// Extra request headers.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Request body.
    pub body: Option<String>,
    /// Optional basic auth.
    pub basic_auth: Option<BasicAuth>,
    /// Accepted final status codes (default 200–299).
    pub expect_status: Vec<StatusRange>,
    /// Body assertions, all must hold.
    pub assertions: Vec<BodyAssertion>,
    /// Slower than this is Degraded.
    pub degraded_latency: Option<Duration>,
    /// Slower than this is Down.
    pub down_latency: Option<Duration>,
    /// Follow redirects (default true).
    pub follow_redirects: bool,
    /// Maximum redirects followed (default 5).
    pub max_redirects: u32,
    /// Body bytes read at most (default 1 MiB); more is a finding, not a hang.
    pub max_body_bytes: u64,
    /// TLS verification and certificate thresholds for https URLs.
    pub tls: TlsOptions,
    /// User-Agent header.
    pub user_agent: String,
}

/// `kind = "tcp"`
#[derive(Debug, Clone)]
pub struct TcpSpec {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Text sent after connecting (e.g. `"QUIT\r\n"`), optional.
    pub send: Option<String>,
    /// Regex the first bytes from the server must match, optional.
    pub expect_banner: Option<Regex>,
}

/// `kind = "tls"`
#[derive(Debug, Clone)]
pub struct TlsSpec {
    /// Host name (also the SNI and the name the certificate must match).
    pub host: String,
    /// Port (default 443).
    pub port: u16,
    /// Check every A/AAAA address behind the name (default true).
    pub all_addresses: bool,
    /// Verification options and thresholds.
    pub tls: TlsOptions,
}

/// keepup's own health: Down when the store fails or results are dropped,
/// Degraded when the scheduler lags by more than `max_lag`.
#[derive(Debug, Clone, PartialEq)]
pub struct SelfHealthSpec {
    /// Scheduling lag (p99) above which keepup is Degraded.
    pub max_lag: Duration,
    /// Dead man's switch: a URL keepup calls while healthy (its token is
    /// in the URL, so it is a secret).
    pub heartbeat_url: Option<Secret>,
    /// How often it calls it.
    pub heartbeat_every: Duration,
}

/// `kind = "heartbeat"`: keepup waits for `/ping/<token>`.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatSpec {
    /// The URL token; unguessable, from config, env or file.
    pub token: Secret,
    /// Expected time between pings.
    pub period: Duration,
    /// Extra time allowed before the heartbeat counts as missing.
    pub grace: Duration,
}
