//! Loading: TOML text → validated [`Config`], or every problem found.
//!
//! The document is parsed once into a span-carrying tree. Each section and
//! each check is then deserialised on its own, so that a mistake in one
//! check does not hide the mistakes in the others; within a table, a key
//! that fails is reported, removed, and the table tried again, so that all
//! of its bad keys are reported in one go.

use crate::diag::{Problems, Reporter, closest};
use crate::http::RawHttp;
use crate::raw::*;
use crate::spec::*;
use crate::tcp::RawTcp;
use crate::tls::RawTlsCheck;
use keepup_model::CheckId;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

const TOP_KEYS: &[&str] = &[
    "server",
    "store",
    "scheduler",
    "defaults",
    "site",
    "channel",
    "maintenance",
    "contact",
    "team",
    "policy",
    "connectivity",
    "self_monitoring",
    "domain",
    "dns",
    "backup",
    "contract",
    "status_page",
    "recovery",
    "browser",
    "agent",
    "runbook",
    "action",
    "scale",
];

/// The site that holds keepup's own checks (connectivity references).
pub const SELF_SITE: &str = "keepup";
/// The tag of connectivity reference checks.
pub const CONNECTIVITY_TAG: &str = "keepup:connectivity";
const SITE_KEYS: &[&str] = &["id", "name", "tags", "check", "runbook", "capacity"];
const DEFAULT_LISTEN: &str = "127.0.0.1:8585";

/// Reads and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Config, Problems> {
    match std::fs::read_to_string(path) {
        Ok(src) => load_str(&src, path),
        Err(e) => {
            let mut rep = Reporter::new(path, "");
            rep.report(
                0..0,
                "",
                format!("cannot read the configuration file: {e}"),
                None,
            );
            Err(rep.finish())
        }
    }
}

/// `s` as a TOML basic string, for configuration text written by keepup
/// itself (JSON's string syntax is a subset of TOML's).
pub fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// Validates configuration text; `path` names it in messages and anchors
/// relative paths (store, CA files, secret files).
pub fn load_str(src: &str, path: &Path) -> Result<Config, Problems> {
    let mut rep = Reporter::new(path, src);
    let (root, errors) = DeTable::parse_recoverable(src);
    for e in &errors {
        rep.report(
            e.span().unwrap_or(0..0),
            "",
            format!("TOML syntax: {}", e.message().trim()),
            None,
        );
    }
    if rep.has_problems() {
        return Err(rep.finish());
    }
    let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut loader = Loader {
        rep,
        base_dir,
        pending_deps: Vec::new(),
        dns: crate::dns::DnsSettings::default(),
        browser: crate::browser::BrowserSettings::default(),
        agent_names: HashSet::new(),
        warnings: Vec::new(),
        runbooks: Default::default(),
    };
    let config = loader.config(root.into_inner(), path);
    if loader.rep.has_problems() {
        Err(loader.rep.finish())
    } else {
        Ok(config)
    }
}

/// The defaults a check inherits, after `[defaults]` was applied.
pub(crate) struct Defaults {
    alerting: RawDefaultsAlerting,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    domain: crate::domain::DomainSettings,
    pub(crate) user_agent: String,
    pub(crate) max_body_bytes: u64,
    pub(crate) max_redirects: u32,
    pub(crate) tls: RawTls,
}

/// The alerting keys of `[defaults]`, applied under each check's own.
struct RawDefaultsAlerting {
    failure_threshold: Option<Spanned<u32>>,
    success_threshold: Option<Spanned<u32>>,
    retry_interval: Option<Spanned<Dur>>,
    incident_on_degraded: Option<bool>,
    flap_changes: Option<u32>,
    flap_window: Option<Spanned<Dur>>,
}

pub(crate) struct Loader<'a> {
    pub(crate) rep: Reporter<'a>,
    base_dir: PathBuf,
    /// `depends_on` as written, resolved once every site is known.
    pending_deps: Vec<(CheckId, String, Vec<Spanned<String>>)>,
    /// `[dns]`, read before the sites: the DNS checks carry a copy.
    pub(crate) dns: crate::dns::DnsSettings,
    /// `[browser]`, read before the sites: the browser checks carry a copy.
    pub(crate) browser: crate::browser::BrowserSettings,
    /// `[[agent]]` names, read before the sites: host checks name one.
    pub(crate) agent_names: HashSet<String>,
    /// Advice that does not fail the load (e.g. a backup without an
    /// off-site copy).
    pub(crate) warnings: Vec<crate::Problem>,
    /// Runbook notes of checks and sites as they are read, then of codes.
    pub(crate) runbooks: crate::runbook::RunbooksBuilder,
}

impl Loader<'_> {
    fn config(&mut self, mut root: DeTable<'_>, path: &Path) -> Config {
        self.reject_unknown_keys(&root, "", TOP_KEYS);
        let server: RawServer = self.section(&mut root, "server").unwrap_or_default();
        let store: RawStore = self.section(&mut root, "store").unwrap_or_default();
        let scheduler: RawScheduler = self.section(&mut root, "scheduler").unwrap_or_default();
        let connectivity: RawConnectivity =
            self.section(&mut root, "connectivity").unwrap_or_default();
        let self_monitoring: Option<RawSelfMonitoring> = if root.contains_key("self_monitoring") {
            Some(
                self.section(&mut root, "self_monitoring")
                    .unwrap_or_default(),
            )
        } else {
            None
        };
        let defaults: RawDefaults = self.section(&mut root, "defaults").unwrap_or_default();

        let listen = match &server.listen {
            None => DEFAULT_LISTEN.parse().ok(),
            Some(l) => match l.get_ref().parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(e) => {
                    self.rep.report(
                        l.span(),
                        "server.listen",
                        format!("invalid listen address {:?}: {e}", l.get_ref()),
                        Some(format!("write ip:port, e.g. \"{DEFAULT_LISTEN}\"")),
                    );
                    None
                }
            },
        };
        let public_url = match &server.public_url {
            Some(u)
                if u.get_ref().starts_with("http://") || u.get_ref().starts_with("https://") =>
            {
                Some(u.get_ref().trim_end_matches('/').to_owned())
            }
            Some(u) => {
                self.rep.report(
                    u.span(),
                    "server.public_url",
                    "must start with http:// or https://",
                    None,
                );
                None
            }
            None => None,
        };
        let ack_key = match (&server.ack_key_env, &server.ack_key_file) {
            (None, None) => None,
            (env, file) => {
                let span = env
                    .as_ref()
                    .or(file.as_ref())
                    .map(|s| s.span())
                    .unwrap_or(0..0);
                let key = self.secret(
                    Inline::NotAccepted,
                    env.as_ref().map(|s| s.get_ref().as_str()),
                    file.as_ref().map(|s| s.get_ref().as_str()),
                    span.clone(),
                    "server",
                    "ack_key",
                );
                if key.as_ref().is_some_and(|k| k.expose().len() < 16) {
                    self.rep.report(
                        span.clone(),
                        "server.ack_key",
                        "the acknowledgement key must be at least 16 characters",
                        Some("generate one with `head -c 32 /dev/urandom | base64`".into()),
                    );
                }
                if key.is_some() && public_url.is_none() {
                    self.rep.report(
                        span,
                        "server.ack_key",
                        "acknowledgement links need `public_url` too",
                        None,
                    );
                }
                key
            }
        };
        let metrics_token = server.metrics_token_file.as_ref().and_then(|file| {
            self.secret(
                Inline::NotAccepted,
                None,
                Some(file.get_ref().as_str()),
                file.span(),
                "server",
                "metrics_token",
            )
        });
        let metrics_allow = match &server.metrics_allow {
            Some(list) => self.networks(list, "server.metrics_allow"),
            None => Vec::new(),
        };
        let limits = self.listener_limits(
            crate::listener::RawListenerLimits {
                max_connections: server.max_connections.as_ref(),
                max_connections_per_address: server.max_connections_per_address.as_ref(),
                request_head_timeout: server.request_head_timeout.as_ref(),
                trusted_proxies: server.trusted_proxies.as_ref(),
            },
            crate::descriptors::hard_limit(),
        );
        let web = self.web_security(crate::web::RawWebSecurity {
            session_idle: server.session_idle.as_ref(),
            session_max: server.session_max.as_ref(),
            login_attempts_per_minute: server.login_attempts_per_minute.as_ref(),
            lockout_after: server.lockout_after.as_ref(),
            lockout_for: server.lockout_for.as_ref(),
            tls_cert: server.tls_cert.as_ref(),
            tls_key: server.tls_key.as_ref(),
        });
        let concurrency = scheduler
            .concurrency
            .as_ref()
            .and_then(|c| self.scheduler_concurrency(c, crate::descriptors::hard_limit()));
        let in_flight_cap = crate::descriptors::hard_limit()
            .map(|fds| {
                SchedulerConfig {
                    concurrency,
                    cpu_workers: None,
                }
                .in_flight_cap(fds)
            })
            .or(concurrency);
        let cpu_workers = scheduler
            .cpu_workers
            .as_ref()
            .and_then(|w| self.scheduler_cpu_workers(w, in_flight_cap));
        let mut defaults = self.defaults(defaults);
        defaults.domain = self.domain_section(root.remove("domain"));
        self.dns = self.dns_section(root.remove("dns"));
        self.browser = self.browser_section(root.remove("browser"));
        let agents = root
            .remove("agent")
            .map(|v| self.agents(v))
            .unwrap_or_default();
        self.agent_names = agents.iter().map(|a| a.name.clone()).collect();

        let mut sites = Vec::new();
        if let Some(site_values) = root.remove("site") {
            let items = self.array_of_tables(site_values, "site", "write each shop as [[site]]");
            for (i, (_, item)) in items.into_iter().enumerate() {
                if let Some(site) = self.site(item, i, &defaults) {
                    sites.push(site);
                }
            }
        }
        let mut own = self.connectivity(connectivity);
        if let Some(raw) = self_monitoring
            && let Some(check) = self.self_health(raw)
        {
            own.get_or_insert_with(|| Site {
                id: SELF_SITE.into(),
                name: "keepup itself".into(),
                tags: Vec::new(),
                checks: Vec::new(),
            })
            .checks
            .push(std::sync::Arc::new(check));
        }
        if let Some(site) = own {
            if sites.iter().any(|s| s.id == SELF_SITE) {
                self.rep.report(
                    0..0,
                    "site",
                    format!("the site id {SELF_SITE:?} is reserved for keepup's own checks"),
                    None,
                );
            }
            sites.push(site);
        }
        self.resolve_dependencies(&mut sites);
        crate::implicit::add_implicit_dependencies(&mut sites);
        if let Some(v) = root.remove("runbook") {
            let mut runbooks = std::mem::take(&mut self.runbooks);
            self.code_runbooks(v, &mut runbooks, &sites);
            self.runbooks = runbooks;
        }
        let channels = root
            .remove("channel")
            .map(|v| self.channels(v))
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let maintenance = root
            .remove("maintenance")
            .map(|v| self.maintenance(v, &sites, now))
            .unwrap_or_default();
        let contracts = root
            .remove("contract")
            .map(|v| self.contracts(v, &sites, &channels))
            .unwrap_or_default();
        crate::capacity::peak_zones(&mut sites, &contracts);
        let channel_ids: HashSet<String> = channels.iter().map(|c| c.id.clone()).collect();
        let site_ids: HashSet<String> = sites.iter().map(|s| s.id.clone()).collect();
        let routing = self.routing(
            root.remove("contact"),
            root.remove("team"),
            root.remove("policy"),
            &channel_ids,
            &site_ids,
        );
        let backups = root
            .remove("backup")
            .map(|v| self.backups(v, &site_ids))
            .unwrap_or_default();
        for clash in crate::backup_checks::add_backup_checks(&mut sites, &backups) {
            self.rep.report(
                0..0,
                "backup",
                format!("check id {:?} is taken by a configured check; backup plans add checks of that name", clash.as_str()),
                Some("rename the configured check".into()),
            );
        }
        for clash in crate::contract::add_sla_checks(&mut sites, &contracts) {
            self.rep.report(
                0..0,
                "contract",
                format!("check id {:?} is taken by a configured check; contracts add checks of that name", clash.as_str()),
                Some("rename the configured check".into()),
            );
        }
        // After the backup and SLA checks exist, so a verify step may name them.
        let recovery = root
            .remove("recovery")
            .map(|v| self.recovery_plans(v, &sites, &backups, &channels))
            .unwrap_or_default();
        for clash in crate::recovery_checks::add_drill_checks(&mut sites, &recovery) {
            self.rep.report(
                0..0,
                "recovery",
                format!("check id {:?} is taken by a configured check; recovery plans add checks of that name", clash.as_str()),
                Some("rename the configured check".into()),
            );
        }
        // After the backup and SLA checks exist, so a component may name them.
        let status_pages = root
            .remove("status_page")
            .map(|v| self.status_pages(v, &sites))
            .unwrap_or_default();
        // After every check exists (the implicit ones too), so that an
        // action may name any of them.
        let levels = root
            .remove("scale")
            .map(|v| self.levels(v))
            .unwrap_or_default();
        let actions = root
            .remove("action")
            .map(|v| self.actions(v, &sites, &levels))
            .unwrap_or_default();
        let mut seen = HashSet::new();
        for s in &sites {
            if !seen.insert(s.id.clone()) {
                // The span of a duplicate is reported where the site is built;
                // here only the fact remains, anchored at the file start.
                self.rep.report(
                    0..0,
                    "site",
                    format!("site id {:?} is used twice", s.id),
                    None,
                );
            }
        }

        let rollup_retention = store
            .rollup_retention
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(730 * 86_400));
        let minute_retention = match &store.minute_retention {
            Some(d) => {
                let kept = self.positive(d, "store.minute_retention");
                if kept > rollup_retention {
                    self.rep.report(
                        d.span(),
                        "store.minute_retention",
                        "minute rollups cannot be kept longer than hour and day rollups (rollup_retention)",
                        Some(format!(
                            "at most {}",
                            humantime::format_duration(rollup_retention)
                        )),
                    );
                }
                kept
            }
            None => Duration::from_secs(2 * 86_400),
        };
        let postgres = self.postgres_store(&store);
        let audit_retention = match &store.audit_retention {
            Some(d) => self.positive(d, "store.audit_retention"),
            None => Duration::from_secs(400 * 86_400),
        };
        Config {
            source: path.to_path_buf(),
            server: ServerConfig {
                listen: listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8585))),
                public_url,
                ack_key,
                metrics_token,
                metrics_allow,
                limits,
                web,
            },
            store: StoreConfig {
                path: self.resolve_path(
                    store
                        .path
                        .as_ref()
                        .map_or("keepup.db", |p| p.get_ref().as_str()),
                ),
                postgres,
                raw_retention: store
                    .raw_retention
                    .map(|d| d.0)
                    .unwrap_or(Duration::from_secs(7 * 86_400)),
                minute_retention,
                rollup_retention,
                audit_retention,
            },
            scheduler: SchedulerConfig {
                concurrency,
                cpu_workers,
            },
            sites,
            channels,
            maintenance,
            routing,
            dns: self.dns.clone(),
            backups,
            contracts,
            recovery,
            status_pages,
            agents,
            actions,
            levels,
            runbooks: std::mem::take(&mut self.runbooks).runbooks,
            warnings: std::mem::take(&mut self.warnings),
            index: Default::default(),
        }
        .indexed()
    }

    /// `[connectivity]` becomes the site `keepup` with one check per
    /// reference target, tagged [`CONNECTIVITY_TAG`].
    fn connectivity(&mut self, raw: RawConnectivity) -> Option<Site> {
        if raw.targets.is_empty() {
            return None;
        }
        let interval = raw
            .interval
            .as_ref()
            .map(|i| self.positive(i, "connectivity.interval"))
            .unwrap_or(Duration::from_secs(15));
        let mut src = format!("[[site]]\nid = \"{SELF_SITE}\"\nname = \"keepup itself\"\n");
        for (i, t) in raw.targets.iter().enumerate() {
            let target = t.get_ref();
            let quoted = toml_string(target);
            let body = if target.starts_with("http://") || target.starts_with("https://") {
                format!("kind = \"http\"\nurl = {quoted}\nexpect_status = [\"100-599\"]\n")
            } else if let Some(hp) = target.strip_prefix("tcp://") {
                match hp.rsplit_once(':').map(|(h, p)| {
                    (
                        h.trim_start_matches('[').trim_end_matches(']'),
                        p.parse::<u16>(),
                    )
                }) {
                    Some((h, Ok(p))) if !h.is_empty() => {
                        format!("kind = \"tcp\"\nhost = {}\nport = {p}\n", toml_string(h))
                    }
                    _ => {
                        self.rep.report(
                            t.span(),
                            "connectivity.targets",
                            format!("{target:?} needs a host and a port, e.g. tcp://192.0.2.1:53"),
                            None,
                        );
                        continue;
                    }
                }
            } else {
                self.rep.report(
                    t.span(),
                    "connectivity.targets",
                    format!("{target:?} is not a tcp://HOST:PORT or http(s):// target"),
                    None,
                );
                continue;
            };
            let timeout = interval.min(Duration::from_secs(5)).as_secs_f64();
            src.push_str(&format!(
                "[[site.check]]\nid = \"connectivity-{}\"\nname = \"reference {target}\"\ntags = [\"{CONNECTIVITY_TAG}\"]\ninterval = {}\ntimeout = {timeout}\nfailure_threshold = 1\n{body}",
                i + 1,
                interval.as_secs_f64(),
            ));
        }
        match load_str(&src, Path::new("<connectivity>")) {
            Ok(mut c) => c.sites.pop(),
            Err(problems) => {
                let span = raw.targets.first().map(|t| t.span()).unwrap_or(0..0);
                for p in problems.0 {
                    self.rep
                        .report(span.clone(), "connectivity.targets", p.message, p.hint);
                }
                None
            }
        }
    }

    /// `[self_monitoring]` becomes the check `keepup/self`.
    fn self_health(&mut self, raw: RawSelfMonitoring) -> Option<Check> {
        let max_lag = raw
            .max_lag
            .as_ref()
            .map(|d| self.positive(d, "self_monitoring.max_lag"))
            .unwrap_or(Duration::from_secs(10));
        let interval = raw
            .interval
            .as_ref()
            .map(|d| self.positive(d, "self_monitoring.interval"))
            .unwrap_or(Duration::from_secs(30));
        let heartbeat_every = raw
            .heartbeat_every
            .as_ref()
            .map(|d| self.positive(d, "self_monitoring.heartbeat_every"))
            .unwrap_or(Duration::from_secs(60));
        let span = [
            &raw.heartbeat_url,
            &raw.heartbeat_url_env,
            &raw.heartbeat_url_file,
        ]
        .into_iter()
        .flatten()
        .next()
        .map(|s| s.span())
        .unwrap_or(0..0);
        let heartbeat_url = if raw.heartbeat_url.is_none()
            && raw.heartbeat_url_env.is_none()
            && raw.heartbeat_url_file.is_none()
        {
            None
        } else {
            let secret = self.secret(
                Inline::of(raw.heartbeat_url.as_ref()),
                raw.heartbeat_url_env.as_ref().map(|s| s.get_ref().as_str()),
                raw.heartbeat_url_file
                    .as_ref()
                    .map(|s| s.get_ref().as_str()),
                span.clone(),
                "self_monitoring",
                "heartbeat_url",
            )?;
            if !(secret.expose().starts_with("http://") || secret.expose().starts_with("https://"))
            {
                self.rep.report(
                    span,
                    "self_monitoring.heartbeat_url",
                    "the heartbeat URL must start with http:// or https://",
                    None,
                );
                return None;
            }
            Some(secret)
        };
        Some(Check {
            id: CheckId::new(SELF_SITE, "self"),
            short_id: "self".into(),
            name: "keepup's own health".into(),
            interval,
            timeout: interval.min(Duration::from_secs(10)),
            tags: Vec::new(),
            site_tags: Vec::new(),
            depends_on: Vec::new(),
            alerting: Alerting {
                failure_threshold: 2,
                ..Alerting::default()
            },
            forecasts: Vec::new(),
            spec: CheckSpec::Passive(PassiveSpec::SelfHealth(SelfHealthSpec {
                max_lag,
                heartbeat_url,
                heartbeat_every,
            })),
        })
    }

    fn defaults(&mut self, raw: RawDefaults) -> Defaults {
        let interval = raw.interval.map(|d| self.positive(&d, "defaults.interval"));
        let timeout = raw.timeout.map(|d| self.positive(&d, "defaults.timeout"));
        Defaults {
            alerting: RawDefaultsAlerting {
                failure_threshold: raw.failure_threshold,
                success_threshold: raw.success_threshold,
                retry_interval: raw.retry_interval,
                incident_on_degraded: raw.incident_on_degraded,
                flap_changes: raw.flap_changes,
                flap_window: raw.flap_window,
            },
            interval: interval.unwrap_or(Duration::from_secs(60)),
            timeout: timeout.unwrap_or(Duration::from_secs(10)),
            user_agent: raw
                .user_agent
                .unwrap_or_else(|| concat!("keepup/", env!("CARGO_PKG_VERSION")).to_owned()),
            max_body_bytes: raw.max_body_bytes.unwrap_or(1 << 20),
            max_redirects: raw.max_redirects.unwrap_or(5),
            tls: raw.tls.unwrap_or_default(),
            domain: Default::default(),
        }
    }

    /// `[scheduler] concurrency`: at least 1 and, since every probe in
    /// flight may hold a socket, at most `descriptors` (the hard
    /// descriptor limit; `None`: unlimited).
    fn scheduler_concurrency(
        &mut self,
        value: &Spanned<usize>,
        descriptors: Option<u64>,
    ) -> Option<usize> {
        let n = *value.get_ref();
        let key = "scheduler.concurrency";
        if n == 0 {
            self.rep
                .report(value.span(), key, "must be at least 1", None);
            return None;
        }
        if let Some(fds) = descriptors.filter(|&fds| n as u64 > fds) {
            self.rep.report(
                value.span(),
                key,
                format!("{n} probes in flight cannot each hold a socket: keepup may open at most {fds} file descriptors (the hard limit, `ulimit -Hn`)"),
                Some(format!("write at most {fds}, or leave it out (a quarter of the descriptor limit), or raise the hard limit (LimitNOFILE= in the systemd unit)")),
            );
            return None;
        }
        Some(n)
    }

    /// `[scheduler] cpu_workers`: at least 1 and at most `in_flight` (the
    /// probes that may run at once, when bounded): only a running probe
    /// takes a CPU worker.
    fn scheduler_cpu_workers(
        &mut self,
        value: &Spanned<usize>,
        in_flight: Option<usize>,
    ) -> Option<usize> {
        let n = *value.get_ref();
        let key = "scheduler.cpu_workers";
        if n == 0 {
            self.rep.report(
                value.span(),
                key,
                "must be at least 1",
                Some("leave it out for one per core".to_owned()),
            );
            return None;
        }
        if let Some(cap) = in_flight.filter(|&cap| n > cap) {
            self.rep.report(
                value.span(),
                key,
                format!("{n} CPU workers can never all be busy: at most {cap} probes run at once (scheduler.concurrency)"),
                Some(format!("write at most {cap}, or leave it out for one per core")),
            );
            return None;
        }
        Some(n)
    }

    pub(crate) fn positive(&mut self, d: &Spanned<Dur>, key: &str) -> Duration {
        if d.get_ref().0.is_zero() {
            self.rep
                .report(d.span(), key, "must be longer than zero", None);
        }
        d.get_ref().0
    }

    fn site(
        &mut self,
        item: Spanned<DeValue<'_>>,
        index: usize,
        defaults: &Defaults,
    ) -> Option<Site> {
        let path = format!("site[{index}]");
        let span = item.span();
        let DeValue::Table(mut table) = item.into_inner() else {
            self.rep.report(span, &path, "a site must be a table", None);
            return None;
        };
        self.reject_unknown_keys(&table, &path, SITE_KEYS);
        let id = self.take_id(&mut table, &path, span.clone());
        let name = match table.remove("name").map(Spanned::into_inner) {
            Some(DeValue::String(s)) => Some(s.into_owned()),
            _ => None,
        };
        let tags = self.take_string_list(&mut table, &path, "tags");
        let runbook = self.take_runbook(&mut table, &path);
        let mut checks = Vec::new();
        if let Some(check_values) = table.remove("check") {
            let cspan = check_values.span();
            match check_values.into_inner() {
                DeValue::Array(items) => {
                    let mut seen = HashSet::new();
                    for (i, c) in items.into_iter().enumerate() {
                        let cpath = format!("{path}.check[{i}]");
                        if let Some(mut check) =
                            self.check(c, &cpath, id.as_deref().unwrap_or("?"), defaults)
                        {
                            check.site_tags = tags.clone();
                            if !seen.insert(check.short_id.clone()) {
                                self.rep.report(
                                    cspan.clone(),
                                    &cpath,
                                    format!(
                                        "check id {:?} is used twice in this site",
                                        check.short_id
                                    ),
                                    None,
                                );
                            }
                            checks.push(std::sync::Arc::new(check));
                        }
                    }
                }
                _ => self.rep.report(
                    cspan,
                    &format!("{path}.check"),
                    "must be an array of tables",
                    Some("write each check as [[site.check]]".into()),
                ),
            }
        }
        if let Some(capacity) = table.remove("capacity") {
            let cspan = capacity.span();
            if let Some(check) = self.capacity(
                capacity,
                &path,
                id.as_deref().unwrap_or("?"),
                &tags,
                defaults,
            ) && let Some(clash) = crate::capacity::add_capacity_check(&mut checks, check)
            {
                self.rep.report(
                    cspan,
                    &format!("{path}.capacity"),
                    format!(
                        "check id {:?} is taken by a configured check; [site.capacity] adds a check of that name",
                        clash.as_str()
                    ),
                    Some("rename the configured check".into()),
                );
            }
        }
        let id = id?;
        if let Some(note) = runbook {
            self.runbooks.site(id.clone(), note);
        }
        Some(Site {
            name: name.unwrap_or_else(|| id.clone()),
            id,
            tags,
            checks,
        })
    }

    /// Reads and validates an `id` key: lowercase letters, digits, `-`, `_`.
    fn take_id(
        &mut self,
        table: &mut DeTable<'_>,
        path: &str,
        table_span: Range<usize>,
    ) -> Option<String> {
        let Some(v) = table.remove("id") else {
            self.rep.report(
                table_span,
                path,
                "missing key `id`",
                Some("every site and check needs a short id such as \"shop\"".into()),
            );
            return None;
        };
        let span = v.span();
        match v.into_inner() {
            DeValue::String(s) if valid_id(&s) => Some(s.into_owned()),
            DeValue::String(s) => {
                self.rep.report(span, &format!("{path}.id"), format!("invalid id {s:?}"), Some("use lowercase letters, digits, '-' and '_', starting with a letter or digit".into()));
                None
            }
            other => {
                self.rep.report(
                    span,
                    &format!("{path}.id"),
                    format!("expected a string, found {}", other.type_str()),
                    None,
                );
                None
            }
        }
    }

    fn take_string_list(&mut self, table: &mut DeTable<'_>, path: &str, key: &str) -> Vec<String> {
        let Some(v) = table.remove(key) else {
            return Vec::new();
        };
        let span = v.span();
        let ok: Option<Vec<String>> = match v.into_inner() {
            DeValue::Array(items) => items
                .into_iter()
                .map(|i| match i.into_inner() {
                    DeValue::String(s) => Some(s.into_owned()),
                    _ => None,
                })
                .collect(),
            _ => None,
        };
        ok.unwrap_or_else(|| {
            self.rep.report(
                span,
                &format!("{path}.{key}"),
                "expected an array of strings",
                None,
            );
            Vec::new()
        })
    }

    fn check(
        &mut self,
        item: Spanned<DeValue<'_>>,
        path: &str,
        site: &str,
        defaults: &Defaults,
    ) -> Option<Check> {
        let span = item.span();
        let DeValue::Table(table) = item.into_inner() else {
            self.rep.report(span, path, "a check must be a table", None);
            return None;
        };
        // Split the common keys from the kind-specific ones so that each part
        // is validated against its own schema.
        let mut common = DeTable::new();
        let mut specific = DeTable::new();
        for (k, v) in table {
            if COMMON_CHECK_KEYS.contains(&k.get_ref().as_ref()) {
                common.insert(k, v);
            } else {
                specific.insert(k, v);
            }
        }
        let common: RawCommon = self.deserialize(
            Spanned::new(span.clone(), DeValue::Table(common)),
            path,
            &[],
        )?;
        let id = common.id.get_ref();
        if !valid_id(id) {
            self.rep.report(
                common.id.span(),
                &format!("{path}.id"),
                format!("invalid id {id:?}"),
                Some(
                    "use lowercase letters, digits, '-' and '_', starting with a letter or digit"
                        .into(),
                ),
            );
        }
        let kind = common.kind.get_ref().as_str();
        let interval = common
            .interval
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.interval")))
            .unwrap_or(defaults.interval);
        let timeout = common
            .timeout
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.timeout")))
            .unwrap_or(defaults.timeout);
        if let Some(t) = &common.timeout
            && timeout > interval
            && kind != "heartbeat"
        {
            self.rep.report(t.span(), &format!("{path}.timeout"), format!("timeout ({}) is longer than the interval ({})", humantime::format_duration(timeout), humantime::format_duration(interval)), Some("a run must end before the next one is due; shorten the timeout or lengthen the interval".into()));
        }
        let specific = Spanned::new(span.clone(), DeValue::Table(specific));
        let spec = match kind {
            "http" => self
                .deserialize::<RawHttp>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.http(r, path, defaults))
                .map(|s| CheckSpec::Probe(ProbeSpec::Http(Box::new(s)))),
            "tcp" => self
                .deserialize::<RawTcp>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.tcp(r, path))
                .map(|s| CheckSpec::Probe(ProbeSpec::Tcp(s))),
            "tls" => self
                .deserialize::<RawTlsCheck>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.tls_check(r, path, defaults))
                .map(|s| CheckSpec::Probe(ProbeSpec::Tls(s))),
            "smtp" | "imap" | "pop3" | "ftp" => self
                .mail(kind, specific, path, &defaults.tls)
                .map(|s| CheckSpec::Probe(ProbeSpec::Mail(Box::new(s)))),
            "host" => self
                .deserialize::<crate::host::RawHost>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.host_check(r, path))
                .map(|s| CheckSpec::Passive(PassiveSpec::Host(Box::new(s)))),
            "heartbeat" => self
                .deserialize::<RawHeartbeat>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.heartbeat(r, path))
                .map(|s| CheckSpec::Passive(PassiveSpec::Heartbeat(s))),
            "domain" => self
                .deserialize::<crate::domain::RawDomainCheck>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.domain_check(r, path, &defaults.domain))
                .map(|s| CheckSpec::Probe(ProbeSpec::Domain(Box::new(s)))),
            "delegation" | "dns" | "dnsbl" => self.dns_check(kind, specific, path),
            "scenario" => self
                .scenario_check(specific, path, defaults)
                .map(|s| CheckSpec::Probe(ProbeSpec::Scenario(Box::new(s)))),
            "login" => {
                let span = specific.span();
                self.deserialize::<crate::login::RawLogin>(specific, path, COMMON_CHECK_KEYS)
                    .and_then(|r| self.login(r, path, defaults, span))
                    .map(|s| CheckSpec::Probe(ProbeSpec::Scenario(Box::new(s))))
            }
            "browser" => {
                let settings = self.browser.clone();
                let span = specific.span();
                self.deserialize::<crate::browser::RawBrowserCheck>(
                    specific,
                    path,
                    COMMON_CHECK_KEYS,
                )
                .and_then(|r| self.browser_check(r, path, &settings, span))
                .map(|s| CheckSpec::Probe(ProbeSpec::Browser(Box::new(s))))
            }
            "nagios" => {
                let span = specific.span();
                let before = self.rep.count();
                self.deserialize::<crate::nagios::RawNagios>(specific, path, COMMON_CHECK_KEYS)
                    // A key refused as written (a string for command) is
                    // the problem; its absence would be a second one.
                    .filter(|_| self.rep.count() == before)
                    .and_then(|r| self.nagios_check(r, path, span))
            }
            "postgres" => self
                .deserialize::<crate::postgres::RawPostgres>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.postgres(r, path, defaults))
                .map(|s| CheckSpec::Probe(ProbeSpec::Postgres(Box::new(s)))),
            "prometheus" => self
                .prometheus(specific, path, defaults)
                .map(|s| CheckSpec::Probe(ProbeSpec::Prometheus(Box::new(s)))),
            "ssh" => self
                .deserialize::<crate::ssh::RawSsh>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.ssh(r, path))
                .map(|s| CheckSpec::Probe(ProbeSpec::Ssh(Box::new(s)))),
            "redis" => self
                .deserialize::<crate::redis::RawRedis>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.redis(r, path, defaults))
                .map(|s| CheckSpec::Probe(ProbeSpec::Redis(Box::new(s)))),
            "elasticsearch" => self
                .elasticsearch(specific, path, defaults)
                .map(|s| CheckSpec::Probe(ProbeSpec::Elasticsearch(Box::new(s)))),
            k if crate::webstatus::KINDS.contains(&k) => self
                .web_status(k, specific, path, defaults)
                .map(|s| CheckSpec::Probe(ProbeSpec::WebStatus(Box::new(s)))),
            "mysql" => self
                .deserialize::<crate::mysql::RawMysql>(specific, path, COMMON_CHECK_KEYS)
                .and_then(|r| self.mysql(r, path, defaults))
                .map(|s| CheckSpec::Probe(ProbeSpec::Mysql(Box::new(s)))),
            k if crate::pages::KINDS.contains(&k) => {
                self.pages_check(k, specific, path, defaults, timeout)
            }
            other => {
                let hint = match closest(other, CHECK_KINDS.iter().copied()) {
                    Some(k) => format!(
                        "did you mean \"{k}\"? known kinds: {}",
                        CHECK_KINDS.join(", ")
                    ),
                    None => format!("known kinds: {}", CHECK_KINDS.join(", ")),
                };
                self.rep.report(
                    common.kind.span(),
                    &format!("{path}.kind"),
                    format!("unknown check kind {other:?}"),
                    Some(hint),
                );
                None
            }
        }?;
        let alerting = self.alerting(&common, defaults, interval, path);
        let forecasts = self.forecasts(common.forecast, kind, &spec, interval, path);
        let mut spec = spec;
        if forecasts.iter().any(|f| f.measure.key == "size") {
            match &mut spec {
                CheckSpec::Probe(ProbeSpec::Postgres(p)) => p.measure_size = true,
                CheckSpec::Probe(ProbeSpec::Mysql(m)) => m.measure_size = true,
                _ => {}
            }
        }
        let short_id = common.id.into_inner();
        let id = CheckId::new(site, &short_id);
        if let Some(raw) = &common.runbook
            && let Some(note) = self.runbook_note(raw, &format!("{path}.runbook"))
        {
            self.runbooks.check(id.clone(), note);
        }
        if !common.depends_on.is_empty() {
            self.pending_deps
                .push((id.clone(), format!("{path}.depends_on"), common.depends_on));
        }
        Some(Check {
            id,
            name: common.name.unwrap_or_else(|| short_id.clone()),
            short_id,
            interval,
            timeout,
            tags: common.tags,
            // The site fills these in once its own are read.
            site_tags: Vec::new(),
            depends_on: Vec::new(),
            alerting,
            forecasts,
            spec,
        })
    }

    /// The check's alerting keys over `[defaults]` over built-in defaults.
    fn alerting(
        &mut self,
        c: &RawCommon,
        defaults: &Defaults,
        interval: Duration,
        path: &str,
    ) -> Alerting {
        let d = &defaults.alerting;
        let at_least_one = |v: Option<&Spanned<u32>>, key: &str, this: &mut Self| match v {
            Some(n) if *n.get_ref() == 0 => {
                this.rep.report(
                    n.span(),
                    &format!("{path}.{key}"),
                    "must be at least 1",
                    None,
                );
                1
            }
            Some(n) => *n.get_ref(),
            None => 0,
        };
        let failure = at_least_one(
            c.failure_threshold
                .as_ref()
                .or(d.failure_threshold.as_ref()),
            "failure_threshold",
            self,
        );
        let success = at_least_one(
            c.success_threshold
                .as_ref()
                .or(d.success_threshold.as_ref()),
            "success_threshold",
            self,
        );
        let retry = c.retry_interval.as_ref().or(d.retry_interval.as_ref());
        let retry_interval = match retry {
            Some(r) => self.positive(r, &format!("{path}.retry_interval")),
            None => interval.min(Duration::from_secs(20)),
        };
        let flap_window = match c.flap_window.as_ref().or(d.flap_window.as_ref()) {
            Some(w) => self.positive(w, &format!("{path}.flap_window")),
            None => Duration::from_secs(3600),
        };
        Alerting {
            failure_threshold: if failure == 0 { 2 } else { failure },
            success_threshold: if success == 0 { 1 } else { success },
            retry_interval,
            incident_on_degraded: c
                .incident_on_degraded
                .or(d.incident_on_degraded)
                .unwrap_or(false),
            flap_changes: c.flap_changes.or(d.flap_changes).unwrap_or(6),
            flap_window,
        }
    }

    /// Resolves every `depends_on` (`site/check`, or `check` in the same
    /// site) and rejects unknown targets and cycles.
    fn resolve_dependencies(&mut self, sites: &mut [Site]) {
        let known: HashSet<CheckId> = sites
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| c.id.clone()))
            .collect();
        let mut resolved: HashMap<CheckId, Vec<(CheckId, Range<usize>)>> = HashMap::new();
        for (id, key, deps) in std::mem::take(&mut self.pending_deps) {
            let site = id.as_str().split('/').next().unwrap_or_default().to_owned();
            for d in deps {
                let text = d.get_ref();
                let target = if text.contains('/') {
                    CheckId(text.clone())
                } else {
                    CheckId::new(&site, text)
                };
                if target == id {
                    self.rep
                        .report(d.span(), &key, "a check cannot depend on itself", None);
                } else if known.contains(&target) {
                    resolved
                        .entry(id.clone())
                        .or_default()
                        .push((target, d.span()));
                } else {
                    let hint = closest(target.as_str(), known.iter().map(CheckId::as_str))
                        .map(|c| format!("did you mean \"{c}\"?"));
                    self.rep.report(
                        d.span(),
                        &key,
                        format!("no check {:?} to depend on", target.as_str()),
                        hint,
                    );
                }
            }
        }
        // A cycle is reported once, at the dependency that closes it.
        let mut state: HashMap<&CheckId, u8> = HashMap::new(); // 1 visiting, 2 done
        let mut ids: Vec<&CheckId> = resolved.keys().collect();
        ids.sort();
        for start in ids {
            let mut stack: Vec<(&CheckId, usize)> = vec![(start, 0)];
            if state.contains_key(start) {
                continue;
            }
            state.insert(start, 1);
            while let Some((node, i)) = stack.pop() {
                let edges = resolved.get(node).map(Vec::as_slice).unwrap_or(&[]);
                if let Some((next, span)) = edges.get(i) {
                    stack.push((node, i + 1));
                    match state.get(next) {
                        Some(1) => {
                            let mut cycle: Vec<&str> = stack
                                .iter()
                                .map(|(n, _)| n.as_str())
                                .skip_while(|n| *n != next.as_str())
                                .collect();
                            cycle.push(next.as_str());
                            self.rep.report(
                                span.clone(),
                                &format!("{node}.depends_on"),
                                format!("dependency cycle: {}", cycle.join(" -> ")),
                                Some("dependencies must form a tree: remove one of these".into()),
                            );
                        }
                        Some(_) => {}
                        None => {
                            state.insert(next, 1);
                            stack.push((next, 0));
                        }
                    }
                } else {
                    state.insert(node, 2);
                }
            }
        }
        for site in sites.iter_mut() {
            for check in &mut site.checks {
                if let Some(deps) = resolved.get(&check.id) {
                    std::sync::Arc::make_mut(check).depends_on =
                        deps.iter().map(|(d, _)| d.clone()).collect();
                }
            }
        }
    }

    fn heartbeat(&mut self, raw: RawHeartbeat, path: &str) -> Option<HeartbeatSpec> {
        let period = self.positive(&raw.period, &format!("{path}.period"));
        let span = raw.period.span();
        if raw.token.is_some() && (raw.token_env.is_some() || raw.token_file.is_some()) {
            self.rep.report(
                span.clone(),
                &format!("{path}.token"),
                "give the token one way only: `token`, `token_env` or `token_file`",
                None,
            );
            return None;
        }
        let token = self.secret(
            Inline::of(raw.token.as_ref()),
            raw.token_env.as_ref().map(|t| t.get_ref().as_str()),
            raw.token_file.as_ref().map(|t| t.get_ref().as_str()),
            span.clone(),
            path,
            "token",
        )?;
        let t = token.expose();
        if t.len() < 8
            || !t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            self.rep.report(
                span,
                &format!("{path}.token"),
                "a heartbeat token must be at least 8 characters of letters, digits, '-' or '_'",
                Some(
                    "generate one with e.g. `head -c 18 /dev/urandom | base64 | tr '+/' '-_'`"
                        .into(),
                ),
            );
            return None;
        }
        Some(HeartbeatSpec {
            token,
            period,
            grace: raw.grace.map(|g| g.0).unwrap_or(period / 5),
        })
    }

    /// An IANA time zone; an unknown name is reported at `key`.
    pub(crate) fn timezone(
        &mut self,
        name: &Spanned<String>,
        key: &str,
    ) -> Option<jiff::tz::TimeZone> {
        match jiff::tz::TimeZone::get(name.get_ref()) {
            Ok(z) => Some(z),
            Err(_) => {
                self.rep.report(
                    name.span(),
                    key,
                    format!("unknown time zone {:?}", name.get_ref()),
                    Some("use an IANA name such as \"Europe/Berlin\" or \"UTC\"".into()),
                );
                None
            }
        }
    }

    pub(crate) fn port(&mut self, p: &Spanned<i64>, path: &str) -> Option<u16> {
        match u16::try_from(*p.get_ref()) {
            Ok(port) if port > 0 => Some(port),
            _ => {
                self.rep.report(
                    p.span(),
                    &format!("{path}.port"),
                    format!("invalid port {}", p.get_ref()),
                    Some("a port is between 1 and 65535".into()),
                );
                None
            }
        }
    }

    pub(crate) fn host(&mut self, h: &Spanned<String>, path: &str) -> Option<String> {
        let host = h.get_ref().trim_start_matches('[').trim_end_matches(']');
        let valid = host.parse::<std::net::IpAddr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.len() <= 63
                        && l.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                }));
        if valid {
            Some(host.to_owned())
        } else {
            self.rep.report(
                h.span(),
                &format!("{path}.host"),
                format!("{:?} is neither a host name nor an IP address", h.get_ref()),
                None,
            );
            None
        }
    }

    /// Resolves a secret given inline (where its table has an inline key),
    /// by environment variable or by file.
    pub(crate) fn secret(
        &mut self,
        inline: Inline<'_>,
        env: Option<&str>,
        file: Option<&str>,
        span: Range<usize>,
        path: &str,
        what: &str,
    ) -> Option<Secret> {
        let accepts_inline = !matches!(inline, Inline::NotAccepted);
        let inline = match inline {
            Inline::Given(v) => Some(v),
            Inline::NotGiven | Inline::NotAccepted => None,
        };
        match (inline, env, file) {
            (Some(v), None, None) => Some(Secret::new(v.to_owned())),
            (None, Some(var), None) => match std::env::var(var) {
                Ok(v) if !v.is_empty() => Some(Secret::from_env(var, v)),
                _ => {
                    self.rep.report(
                        span,
                        &format!("{path}.{what}_env"),
                        format!("environment variable {var} is not set or empty"),
                        Some(format!("export {var}=... before starting keepup")),
                    );
                    None
                }
            },
            (None, None, Some(f)) => {
                let p = self.resolve_path(f);
                match std::fs::read_to_string(&p) {
                    Ok(v) if !v.trim().is_empty() => Some(Secret::from_file(
                        p.clone(),
                        v.trim_end_matches(['\n', '\r']).to_owned(),
                    )),
                    Ok(_) => {
                        self.rep.report(
                            span,
                            &format!("{path}.{what}_file"),
                            format!("{} is empty", p.display()),
                            None,
                        );
                        None
                    }
                    Err(e) => {
                        self.rep.report(
                            span,
                            &format!("{path}.{what}_file"),
                            format!("cannot read {}: {e}", p.display()),
                            None,
                        );
                        None
                    }
                }
            }
            (None, None, None) => {
                let hint = if !accepts_inline {
                    format!("give `{what}_env = \"NAME\"` or `{what}_file = \"path\"`")
                } else {
                    format!("give `{what}`, `{what}_env = \"NAME\"` or `{what}_file = \"path\"`")
                };
                self.rep.report(
                    span,
                    &format!("{path}.{what}"),
                    format!("missing {what}"),
                    Some(hint),
                );
                None
            }
            _ => {
                self.rep.report(
                    span,
                    &format!("{path}.{what}"),
                    format!("give the {what} one way only"),
                    Some(format!(
                        "keep exactly one of `{what}_env` and `{what}_file`"
                    )),
                );
                None
            }
        }
    }

    pub(crate) fn resolve_path(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    fn reject_unknown_keys(&mut self, table: &DeTable<'_>, path: &str, allowed: &[&str]) {
        for (k, _) in table.iter() {
            let key = k.get_ref().as_ref();
            if !allowed.contains(&key) {
                let (message, hint) = unknown_key(key, allowed.iter().copied());
                self.rep
                    .report(k.span(), &join(path, key), message, Some(hint));
            }
        }
    }

    /// Removes `[name]` from the root and deserialises it.
    fn section<T: DeserializeOwned + Default>(
        &mut self,
        root: &mut DeTable<'_>,
        name: &str,
    ) -> Option<T> {
        let value = root.remove(name)?;
        self.deserialize(value, name, &[])
    }

    /// Deserialises one table, reporting every failing key: a key that
    /// fails is reported, removed, and the table tried again.
    pub(crate) fn deserialize<T: DeserializeOwned>(
        &mut self,
        value: Spanned<DeValue<'_>>,
        path: &str,
        sibling_keys: &[&str],
    ) -> Option<T> {
        let table_span = value.span();
        let mut value = value;
        let mut failed_keys: Vec<String> = Vec::new();
        for _ in 0..64 {
            let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
                // After removing failed keys the rest is still validated, so
                // that its problems are reported too; the load fails anyway.
                Ok(t) => return Some(t),
                Err(e) => e,
            };
            let message = err.message().trim().to_owned();
            let span = err.span().unwrap_or(table_span.clone());
            if let Some(missing) = message
                .strip_prefix("missing field `")
                .and_then(|m| m.split('`').next())
            {
                if !failed_keys.iter().any(|k| k == missing) {
                    self.rep.report(
                        table_span.clone(),
                        &join(path, missing),
                        format!("missing key `{missing}`"),
                        None,
                    );
                }
                return None;
            }
            let DeValue::Table(table) = value.get_mut() else {
                self.rep
                    .report(span, path, format!("expected a table: {message}"), None);
                return None;
            };
            // The top-level key of this table that holds the error.
            let culprit = table
                .iter()
                .find(|(k, v)| contains(&k.span(), &span) || contains(&v.span(), &span))
                .map(|(k, _)| k.get_ref().to_string());
            let (msg, hint, key) = match unknown_field(&message) {
                Some((unknown, expected)) => {
                    let candidates = expected
                        .iter()
                        .map(String::as_str)
                        .chain(sibling_keys.iter().copied());
                    let (message, hint) = unknown_key(&unknown, candidates);
                    (message, Some(hint), unknown)
                }
                None => (message.clone(), None, culprit.clone().unwrap_or_default()),
            };
            let key_path = match &culprit {
                Some(c) if *c != key && !key.is_empty() => format!("{}.{key}", join(path, c)),
                _ => join(path, &key),
            };
            self.rep.report(span, &key_path, msg, hint);
            match culprit {
                Some(c) => {
                    table.remove(c.as_str());
                    failed_keys.push(c);
                }
                None => return None,
            }
        }
        None
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else if key.is_empty() {
        path.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start
        && inner.end <= outer.end
        && inner.start < outer.end.max(outer.start + 1)
}

/// Parses serde's "unknown field `x`, expected one of `a`, `b`".
fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let mut parts = rest.split('`');
    let unknown = parts.next()?.to_owned();
    let expected = parts.skip(1).step_by(2).map(str::to_owned).collect();
    Some((unknown, expected))
}

/// A secret's inline `KEY`: URLs and the heartbeat token may be written
/// in the file, credentials may not (the loader refuses their inline key as
/// an unknown key, see [`unknown_key`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Inline<'a> {
    /// The table has no inline key for this secret.
    NotAccepted,
    /// The table has one, and it is not written.
    NotGiven,
    /// The table has one, and this is its value.
    Given(&'a str),
}

impl<'a> Inline<'a> {
    /// The inline key of a table that has one.
    pub(crate) fn of(value: Option<&'a Spanned<String>>) -> Self {
        value.map_or(Self::NotGiven, |v| Self::Given(v.get_ref()))
    }
}

/// The problem and hint for `key`, which the table does not have. A key
/// the table takes only as `key_env` / `key_file` is a secret written in
/// the file: keepup reads secrets only from the environment or a file, and
/// the message says so without echoing the value.
pub(crate) fn unknown_key<'c>(
    key: &str,
    candidates: impl IntoIterator<Item = &'c str> + Clone,
) -> (String, String) {
    let env = format!("{key}_env");
    let file = format!("{key}_file");
    let takes = |k: &str| candidates.clone().into_iter().any(|c| c == k);
    if takes(&env) && takes(&file) {
        (
            format!("`{key}` is a secret and is not written in the configuration file"),
            format!(
                "put it in the environment (`{env} = \"NAME\"`) or in a file (`{file} = \"path\"`)"
            ),
        )
    } else {
        (format!("unknown key `{key}`"), key_hint(key, candidates))
    }
}

pub(crate) fn key_hint<'c>(
    wrong: &str,
    candidates: impl IntoIterator<Item = &'c str> + Clone,
) -> String {
    match closest(wrong, candidates.clone()) {
        Some(c) => format!("did you mean `{c}`?"),
        None => {
            let mut all: Vec<&str> = candidates.into_iter().collect();
            all.sort_unstable();
            all.dedup();
            format!("valid keys here: {}", all.join(", "))
        }
    }
}

pub(crate) fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(crate) fn first_line(s: &str) -> &str {
    s.lines().last().unwrap_or(s).trim()
}
