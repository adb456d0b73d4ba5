//! The validated, compiled configuration: what the rest of keepup consumes.
//!
//! Everything here has already passed validation: regexes are compiled, URLs
//! parsed, secrets resolved, defaults applied. A probe never has to fail on a
//! configuration mistake.

use keepup_model::{CheckId, MaintenanceScope};
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
    /// `[[contract]]`: what the hosting contracts promise.
    pub contracts: Vec<crate::contract::Contract>,
    /// `[[recovery]]`: disaster-recovery plans.
    pub recovery: Vec<crate::recovery::RecoveryPlan>,
    /// `[[status_page]]`: public status pages.
    pub status_pages: Vec<crate::status_page::StatusPage>,
    /// `[[agent]]`: hosts reporting through `keepup agent`.
    pub agents: Vec<crate::host::AgentSpec>,
    /// `[[action]]`: what keepup may do by itself, and its guard rails.
    pub actions: Vec<crate::actions::Action>,
    /// `[[scale]]`: capacity levels with bounds that scaling actions move.
    pub levels: Vec<crate::actions::Level>,
    /// Runbook notes of checks, sites and finding codes.
    pub runbooks: crate::runbook::Runbooks,
    /// Advice found at load that does not make the configuration invalid.
    pub warnings: Vec<crate::Problem>,
    /// `site/check` → (site, check) positions, ordered by id: lookups
    /// without a walk, and the checks in id order (API pages) without a
    /// sort per request.
    pub(crate) index: std::collections::BTreeMap<String, (usize, usize)>,
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
    /// The `[[scale]]` level named `name`.
    pub fn level(&self, name: &str) -> Option<&crate::actions::Level> {
        self.levels.iter().find(|l| l.name == name)
    }
    /// The action named `name`.
    pub fn action(&self, name: &str) -> Option<&crate::actions::Action> {
        self.actions.iter().find(|a| a.name == name)
    }
    /// The recovery plan with this id.
    pub fn recovery_plan(&self, id: &str) -> Option<&crate::recovery::RecoveryPlan> {
        self.recovery.iter().find(|p| p.id == id)
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

    /// The checks ordered by id, from the first id after `after` (all of
    /// them without it): a page of a list sorted by id.
    pub fn checks_by_id_after(&self, after: Option<&str>) -> impl Iterator<Item = &Check> {
        use std::ops::Bound;
        let lower = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.index
            .range::<str, _>((lower, Bound::Unbounded))
            .filter_map(|(_, &(s, c))| self.sites.get(s)?.checks.get(c).map(|c| &**c))
    }

    /// Whether a maintenance window started by hand may cover `target`
    /// (read by [`MaintenanceScope::parse`]): `*`, a site's id, a check's
    /// full id (`site/check`), or `tag:NAME` for a tag some check or site
    /// carries.
    pub fn is_maintenance_target(&self, target: &str) -> bool {
        match MaintenanceScope::parse(target) {
            MaintenanceScope::Everything => true,
            MaintenanceScope::Site(site) => self.sites.iter().any(|s| s.id == site),
            MaintenanceScope::Check(id) => self.index.contains_key(id.as_str()),
            MaintenanceScope::Tag(tag) => self.checks().any(|c| c.carries_tag(&tag)),
        }
    }

    /// Whether a window over `scope` covers `check` (false for a check
    /// this configuration does not have, when the scope is a tag).
    pub fn maintenance_covers(&self, scope: &MaintenanceScope, check: &CheckId) -> bool {
        scope.covers(check, |tag| {
            self.check_by_full_id(check.as_str())
                .is_some_and(|c| c.carries_tag(tag))
        })
    }

    /// Every tag a check or site carries, sorted, once each.
    pub fn tags(&self) -> Vec<&str> {
        let tags: std::collections::BTreeSet<&str> = self
            .sites
            .iter()
            .flat_map(|s| s.tags.iter().chain(s.checks.iter().flat_map(|c| &c.tags)))
            .map(String::as_str)
            .collect();
        tags.into_iter().collect()
    }

    /// The check with this full id (`site/check`).
    fn check_by_full_id(&self, id: &str) -> Option<&Check> {
        let &(s, c) = self.index.get(id)?;
        self.sites.get(s)?.checks.get(c).map(|c| &**c)
    }

    /// Finds a check by its full id (`site/check`) or, if unambiguous, by its
    /// short id.
    pub fn find_check(&self, id: &str) -> Option<&Check> {
        if let Some(check) = self.check_by_full_id(id) {
            return Some(check);
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
    /// Bearer token `/metrics` wants (`metrics_token_file`); without one,
    /// the metrics are served to loopback clients and `metrics_allow` only.
    pub metrics_token: Option<Secret>,
    /// Networks besides loopback whose clients may scrape `/metrics`
    /// (`metrics_allow`); when given, a token holder must come from one
    /// of them (or loopback) too.
    pub metrics_allow: Vec<crate::listener::IpNetwork>,
    /// Connection limits, deadlines and trusted proxies.
    pub limits: crate::listener::ListenerLimits,
    /// Sessions, login limits and the optional TLS listener.
    pub web: crate::web::WebSecurity,
}

/// `[store]`
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// SQLite database file; relative paths are relative to the config file.
    pub path: PathBuf,
    /// `url`: the PostgreSQL server holding the store instead of `path`
    /// (refused at load, "not yet supported", until that store is
    /// complete: issue 19).
    pub postgres: Option<crate::store::PostgresStore>,
    /// How long raw results are kept (default 7 days).
    pub raw_retention: Duration,
    /// How long minute rollups are kept (default 2 days).
    pub minute_retention: Duration,
    /// How long hour and day rollups are kept (default 2 years).
    pub rollup_retention: Duration,
    /// How long audit log entries are kept (default 400 days).
    pub audit_retention: Duration,
}

/// `[scheduler]`
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchedulerConfig {
    /// Probes in flight at once, as configured; `None`: derived from the
    /// descriptor limit (see [`SchedulerConfig::in_flight_cap`]).
    pub concurrency: Option<usize>,
    /// Probe steps doing CPU work at once (TLS handshakes, certificate
    /// analysis, page parsing), as configured; `None`: one per core (see
    /// [`SchedulerConfig::cpu_pool_size`]).
    pub cpu_workers: Option<usize>,
}

impl SchedulerConfig {
    /// Probes in flight at once with `descriptors` file descriptors
    /// available: the configured number, or a quarter of them (a probe
    /// waiting on a socket holds one; the listener's default takes half,
    /// the store and backups need the rest), at least 64. Waiting probes
    /// cost almost nothing else, so the cap is large: in a mass outage
    /// thousands wait for their timeout without delaying other checks.
    pub fn in_flight_cap(&self, descriptors: u64) -> usize {
        self.concurrency.unwrap_or_else(|| {
            usize::try_from(descriptors / 4)
                .unwrap_or(usize::MAX)
                .max(64)
        })
    }

    /// Probe steps doing CPU work at once: the configured number, or the
    /// cores this process may use. A small pool apart from the large
    /// in-flight limit: thousands of probes may wait on sockets, but only
    /// as many as there are cores can usefully compute.
    pub fn cpu_pool_size(&self) -> usize {
        self.cpu_workers.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1)
        })
    }
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
    /// Its site's tags, copied here so that the check alone answers
    /// [`Check::carries_tag`] (the incident engine holds checks, not sites).
    pub site_tags: Vec<String>,
    /// Checks this one depends on: while one of them is down, this check's
    /// incidents are attributed to it and not notified.
    pub depends_on: Vec<CheckId>,
    /// How results become incidents.
    pub alerting: Alerting,
    /// Capacity forecasts on its measures (`forecast`).
    pub forecasts: Vec<crate::forecast::Forecast>,
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
    /// Whether the check or its site carries `tag` (what a tag selects in
    /// maintenance windows and the overview's filter).
    pub fn carries_tag(&self, tag: &str) -> bool {
        self.tags.iter().chain(&self.site_tags).any(|t| t == tag)
    }
    /// What a probe runs for this check; None for a passive check.
    pub fn probe(&self) -> Option<&ProbeSpec> {
        match &self.spec {
            CheckSpec::Probe(spec) => Some(spec),
            CheckSpec::Passive(_) => None,
        }
    }

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

/// The kind-specific part of a check: a probe keepup runs, or a passive
/// check the monitor evaluates from what it is told or already knows. The
/// split is in the type so that each side dispatches only its own kinds.
#[derive(Debug, Clone)]
pub enum CheckSpec {
    /// keepup goes and looks (`keepup_probe::run`).
    Probe(ProbeSpec),
    /// Nothing goes out: the monitor evaluates it.
    Passive(PassiveSpec),
}

/// The kinds a probe runs. The large specs are boxed so that a check of a
/// small kind does not carry the size of the largest.
#[derive(Debug, Clone)]
pub enum ProbeSpec {
    /// `kind = "http"`
    Http(Box<crate::http::HttpSpec>),
    /// `kind = "tcp"`
    Tcp(crate::tcp::TcpSpec),
    /// `kind = "tls"`
    Tls(crate::tls::TlsSpec),
    /// `kind = "domain"`
    Domain(Box<crate::domain::DomainSpec>),
    /// `kind = "delegation"`
    Delegation(Box<crate::dns::DelegationSpec>),
    /// `kind = "dns"`
    Dns(Box<crate::dns::DnsSpec>),
    /// `kind = "dnsbl"`
    Dnsbl(Box<crate::dns::DnsblSpec>),
    /// `kind = "ping"`
    Ping(crate::pages::PingSpec),
    /// `kind = "page"`
    Page(Box<crate::pages::PageSpec>),
    /// `kind = "security_txt"`
    SecurityTxt(Box<crate::pages::SecurityTxtSpec>),
    /// `kind = "chain"`
    Chain(Box<crate::pages::ChainSpec>),
    /// `kind = "smtp"`, `"imap"` or `"pop3"`
    Mail(Box<crate::mail::MailSpec>),
    /// `kind = "scenario"`, and `kind = "login"` compiled into one
    Scenario(Box<crate::scenario::ScenarioSpec>),
    /// `kind = "browser"`
    Browser(Box<crate::browser::BrowserSpec>),
    /// `kind = "nagios"`
    Nagios(Box<crate::nagios::NagiosSpec>),
    /// `kind = "postgres"`
    Postgres(Box<crate::postgres::PostgresSpec>),
    /// `kind = "prometheus"`
    Prometheus(Box<crate::prometheus::PrometheusSpec>),
    /// `kind = "ssh"`
    Ssh(Box<crate::ssh::SshSpec>),
    /// `kind = "elasticsearch"`
    Elasticsearch(Box<crate::elasticsearch::ElasticsearchSpec>),
    /// `kind = "nginx_status"`, `"apache_status"`, `"tomcat_status"` or
    /// `"varnish"`
    WebStatus(Box<crate::webstatus::WebStatusSpec>),
    /// `kind = "redis"`
    Redis(Box<crate::redis::RedisSpec>),
    /// `kind = "mysql"` (MySQL and MariaDB)
    Mysql(Box<crate::mysql::MysqlSpec>),
    /// A site's `[site.capacity]` measured through a Prometheus endpoint.
    Capacity(Box<crate::capacity::CapacitySpec>),
}

/// The kinds the monitor evaluates without probing.
#[derive(Debug, Clone)]
pub enum PassiveSpec {
    /// `kind = "heartbeat"`: pings to `/ping/<token>`.
    Heartbeat(HeartbeatSpec),
    /// keepup's own health (added by `[self_monitoring]`).
    SelfHealth(SelfHealthSpec),
    /// A backup plan's run, freshness, integrity check or restore test
    /// (added by `[[backup]]`).
    Backup(crate::backup_checks::BackupCheckSpec),
    /// A contract's error-budget burn or repair deadlines (added by
    /// `[[contract]]`).
    Sla(crate::contract::SlaCheckSpec),
    /// A disaster-recovery plan's drills (added by `[[recovery]]`).
    Drill(crate::recovery_checks::DrillCheckSpec),
    /// `kind = "host"`: an agent's reports against thresholds.
    Host(Box<crate::host::HostSpec>),
    /// `kind = "nagios"` with `agent` and `plugin`: a plugin an agent runs.
    AgentPlugin(crate::nagios::AgentPluginSpec),
    /// A site's `[site.capacity]` measured through an agent's access log.
    Capacity(Box<crate::capacity::CapacitySpec>),
}

impl CheckSpec {
    /// The `kind` name as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            CheckSpec::Probe(p) => p.kind(),
            CheckSpec::Passive(PassiveSpec::Heartbeat(_)) => "heartbeat",
            CheckSpec::Passive(PassiveSpec::SelfHealth(_)) => "self",
            CheckSpec::Passive(PassiveSpec::Backup(_)) => "backup",
            CheckSpec::Passive(PassiveSpec::Sla(_)) => "sla",
            CheckSpec::Passive(PassiveSpec::Drill(_)) => "drill",
            CheckSpec::Passive(PassiveSpec::Host(_)) => "host",
            CheckSpec::Passive(PassiveSpec::AgentPlugin(_)) => "nagios",
            CheckSpec::Passive(PassiveSpec::Capacity(_)) => "capacity",
        }
    }

    /// Whether the check reports a risk or a finding rather than whether
    /// the service answers (domain expiry, blacklists, DNS delegation
    /// quality, policy pages, security.txt, heartbeats of jobs, backups,
    /// disaster-recovery drills, keepup's own health): a contract's default
    /// service leaves these out.
    pub fn is_informational(&self) -> bool {
        match self {
            CheckSpec::Probe(p) => matches!(
                p,
                ProbeSpec::Domain(_)
                    | ProbeSpec::Delegation(_)
                    | ProbeSpec::Dnsbl(_)
                    | ProbeSpec::Page(_)
                    | ProbeSpec::SecurityTxt(_)
                    | ProbeSpec::Capacity(_)
            ),
            CheckSpec::Passive(_) => true,
        }
    }

    /// The host name or address this check is aimed at, if it is aimed at
    /// one (implicit dependencies on the host's ping and on the zone's
    /// delegation are found through it).
    pub fn target_host(&self) -> Option<&str> {
        match self {
            CheckSpec::Probe(p) => p.target_host(),
            CheckSpec::Passive(_) => None,
        }
    }

    /// The DNS zone a zone check (delegation, domain registration) is
    /// about: it is an implicit parent of the site's checks of names in it.
    pub fn zone(&self) -> Option<&str> {
        match self {
            CheckSpec::Probe(p) => p.zone(),
            CheckSpec::Passive(_) => None,
        }
    }

    /// The host and port this check makes a TLS handshake with, if it makes
    /// one (a site's `tls` check of the same host and port is its implicit
    /// parent).
    pub fn tls_endpoint(&self) -> Option<(&str, u16)> {
        match self {
            CheckSpec::Probe(p) => p.tls_endpoint(),
            CheckSpec::Passive(_) => None,
        }
    }
}

impl ProbeSpec {
    /// The `kind` name as written in the configuration.
    pub fn kind(&self) -> &'static str {
        match self {
            ProbeSpec::Http(_) => "http",
            ProbeSpec::Tcp(_) => "tcp",
            ProbeSpec::Tls(_) => "tls",
            ProbeSpec::Domain(_) => "domain",
            ProbeSpec::Delegation(_) => "delegation",
            ProbeSpec::Dns(_) => "dns",
            ProbeSpec::Dnsbl(_) => "dnsbl",
            ProbeSpec::Ping(_) => "ping",
            ProbeSpec::Page(_) => "page",
            ProbeSpec::SecurityTxt(_) => "security_txt",
            ProbeSpec::Chain(_) => "chain",
            ProbeSpec::Mail(m) => m.protocol.kind(),
            ProbeSpec::Scenario(s) => s.kind(),
            ProbeSpec::Browser(_) => "browser",
            ProbeSpec::Nagios(_) => "nagios",
            ProbeSpec::Postgres(_) => "postgres",
            ProbeSpec::Prometheus(_) => "prometheus",
            ProbeSpec::Ssh(_) => "ssh",
            ProbeSpec::Elasticsearch(_) => "elasticsearch",
            ProbeSpec::WebStatus(w) => match w.page {
                crate::webstatus::StatusPage::Nginx => "nginx_status",
                crate::webstatus::StatusPage::Apache => "apache_status",
                crate::webstatus::StatusPage::Tomcat => "tomcat_status",
                crate::webstatus::StatusPage::Varnish => "varnish",
            },
            ProbeSpec::Redis(_) => "redis",
            ProbeSpec::Mysql(_) => "mysql",
            ProbeSpec::Capacity(_) => "capacity",
        }
    }

    /// See [`CheckSpec::target_host`].
    pub fn target_host(&self) -> Option<&str> {
        match self {
            ProbeSpec::Http(h) => h.url.host(),
            ProbeSpec::Tcp(t) => Some(&t.host),
            ProbeSpec::Tls(t) => Some(&t.host),
            ProbeSpec::Dns(d) => Some(&d.expectation.name),
            ProbeSpec::Ping(p) => Some(&p.host),
            ProbeSpec::Page(p) => p.http.url.host(),
            ProbeSpec::SecurityTxt(s) => s.http.url.host(),
            ProbeSpec::Chain(c) => c.http.url.host(),
            ProbeSpec::Prometheus(p) => p.http.url.host(),
            ProbeSpec::Elasticsearch(e) => e.http.url.host(),
            ProbeSpec::WebStatus(w) => w.http.url.host(),
            ProbeSpec::Ssh(s) => Some(&s.host),
            ProbeSpec::Mail(m) => Some(&m.host),
            ProbeSpec::Scenario(s) => s.inputs.base_url.as_ref().and_then(|u| u.host()),
            ProbeSpec::Browser(b) => b.inputs.base_url.as_ref().and_then(::http::Uri::host),
            ProbeSpec::Domain(_)
            | ProbeSpec::Delegation(_)
            | ProbeSpec::Dnsbl(_)
            | ProbeSpec::Nagios(_) => None,
            ProbeSpec::Postgres(p) => Some(&p.server.host),
            ProbeSpec::Redis(r) => Some(&r.server.host),
            ProbeSpec::Mysql(m) => Some(&m.server.host),
            ProbeSpec::Capacity(c) => match &c.source {
                crate::capacity::LoadSource::Prometheus { http, .. } => http.url.host(),
                crate::capacity::LoadSource::AccessLog { .. } => None,
            },
        }
    }

    /// See [`CheckSpec::tls_endpoint`]: https URLs (port 443 unless the
    /// URL says otherwise; a redirect's target is not followed here), mail
    /// checks with STARTTLS or implicit TLS, and the `tls` check itself.
    pub fn tls_endpoint(&self) -> Option<(&str, u16)> {
        fn https(url: &::http::Uri) -> Option<(&str, u16)> {
            match (url.scheme_str(), url.host()) {
                (Some(scheme), Some(host)) if scheme.eq_ignore_ascii_case("https") => {
                    Some((host, url.port_u16().unwrap_or(443)))
                }
                _ => None,
            }
        }
        match self {
            ProbeSpec::Http(h) => https(&h.url),
            ProbeSpec::Page(p) => https(&p.http.url),
            ProbeSpec::SecurityTxt(s) => https(&s.http.url),
            ProbeSpec::Chain(c) => https(&c.http.url),
            ProbeSpec::Prometheus(p) => https(&p.http.url),
            ProbeSpec::Elasticsearch(e) => https(&e.http.url),
            ProbeSpec::WebStatus(w) => https(&w.http.url),
            ProbeSpec::Browser(b) => b.inputs.base_url.as_ref().and_then(https),
            ProbeSpec::Tls(t) => Some((&t.host, t.port)),
            ProbeSpec::Scenario(s) => s.inputs.base_url.as_ref().and_then(https),
            ProbeSpec::Mail(m) => (m.tls != crate::MailTls::None).then_some((&*m.host, m.port)),
            ProbeSpec::Capacity(c) => match &c.source {
                crate::capacity::LoadSource::Prometheus { http, .. } => https(&http.url),
                crate::capacity::LoadSource::AccessLog { .. } => None,
            },
            ProbeSpec::Tcp(_)
            | ProbeSpec::Postgres(_)
            | ProbeSpec::Redis(_)
            | ProbeSpec::Mysql(_)
            | ProbeSpec::Dns(_)
            | ProbeSpec::Ping(_)
            | ProbeSpec::Domain(_)
            | ProbeSpec::Delegation(_)
            | ProbeSpec::Dnsbl(_)
            | ProbeSpec::Nagios(_)
            | ProbeSpec::Ssh(_) => None,
        }
    }

    /// See [`CheckSpec::zone`].
    pub fn zone(&self) -> Option<&str> {
        match self {
            ProbeSpec::Domain(d) => Some(&d.domain),
            ProbeSpec::Delegation(d) => Some(&d.zone),
            ProbeSpec::Http(_)
            | ProbeSpec::Tcp(_)
            | ProbeSpec::Tls(_)
            | ProbeSpec::Dns(_)
            | ProbeSpec::Dnsbl(_)
            | ProbeSpec::Ping(_)
            | ProbeSpec::Page(_)
            | ProbeSpec::SecurityTxt(_)
            | ProbeSpec::Chain(_)
            | ProbeSpec::Mail(_)
            | ProbeSpec::Scenario(_)
            | ProbeSpec::Browser(_)
            | ProbeSpec::Nagios(_)
            | ProbeSpec::Postgres(_)
            | ProbeSpec::Prometheus(_)
            | ProbeSpec::Ssh(_)
            | ProbeSpec::Redis(_)
            | ProbeSpec::Elasticsearch(_)
            | ProbeSpec::WebStatus(_)
            | ProbeSpec::Capacity(_)
            | ProbeSpec::Mysql(_) => None,
        }
    }
}

/// A secret value resolved from the environment or a file. Its `Debug` and
/// `Display` never show the value; [`Secret::origin`] says where it is kept
/// (what the Recovery Plan document tells a person to look for). Two
/// secrets are equal when their values are, wherever each was read.
#[derive(Clone)]
pub struct Secret {
    value: String,
    origin: SecretOrigin,
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for Secret {}

/// Where a secret's value is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretOrigin {
    /// Written in the configuration file itself (or given by code).
    Written,
    /// This environment variable of keepup's process.
    Env(String),
    /// This file.
    File(PathBuf),
}

impl fmt::Display for SecretOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretOrigin::Written => f.write_str("the configuration file"),
            SecretOrigin::Env(var) => {
                write!(f, "the environment variable {var} of keepup's service")
            }
            SecretOrigin::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

impl Secret {
    /// Wraps a value written in the configuration (or given by code).
    pub fn new(value: String) -> Self {
        Self {
            value,
            origin: SecretOrigin::Written,
        }
    }
    /// Wraps a value read from the environment variable `var`.
    pub fn from_env(var: &str, value: String) -> Self {
        Self {
            value,
            origin: SecretOrigin::Env(var.to_owned()),
        }
    }
    /// Wraps a value read from the file `path`.
    pub fn from_file(path: PathBuf, value: String) -> Self {
        Self {
            value,
            origin: SecretOrigin::File(path),
        }
    }
    /// Where the value is kept.
    pub fn origin(&self) -> &SecretOrigin {
        &self.origin
    }
    /// The value, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.value
    }
    /// `text` (a child's stderr, a server's answer) with every occurrence
    /// of the secret replaced by `***`, before it goes into a message.
    pub fn scrub(&self, text: &str) -> String {
        if self.value.is_empty() {
            text.to_owned()
        } else {
            text.replace(&self.value, "***")
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
