//! Hosts watched through `keepup agent`: the `[[agent]]` section (who may
//! report, with which token, pushed or pulled) and the check kind `host`
//! (which measures of an agent's reports to judge, with which thresholds).
//! Its configuration as written, as validated, and the validation between
//! the two.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::Secret;
use crate::load::{Inline, Loader};
use crate::raw::Dur;
use crate::threshold::{Accepts, Direction, RawThreshold, Threshold, Unit, threshold};

/// How the central keepup gets an agent's reports.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentMode {
    /// The agent POSTs them to `/agent/report` on keepup's listener.
    Push,
    /// keepup fetches them from the agent's own listener.
    Pull {
        /// The agent's report URL, e.g. `https://web1.example:8586/report`.
        url: String,
        /// A CA to trust for the agent's certificate besides the system's.
        ca_file: Option<PathBuf>,
    },
}

/// `[[agent]]`: one host's agent.
#[derive(Debug, Clone)]
pub struct AgentSpec {
    /// Its name; the agent sends it in each report, checks name it.
    pub name: String,
    /// The bearer token it presents (push) or keepup presents (pull).
    pub token: Secret,
    /// Pull mode: the token keepup presents to the agent's `/action`
    /// (the agent's `--action-token-file`), apart from the report token so
    /// that whoever may read reports cannot trigger actions. None: the
    /// report token (an agent without actions).
    pub action_token: Option<Secret>,
    /// Push or pull.
    pub mode: AgentMode,
    /// How often it reports (push) or is fetched (pull).
    pub interval: Duration,
    /// Reports missing for this many intervals make it silent.
    pub silent_after: u32,
}

impl AgentSpec {
    /// How long without a report before the agent is silent.
    pub fn silence(&self) -> Duration {
        self.interval * self.silent_after
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAgent {
    name: Spanned<String>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<String>>,
    action_token_env: Option<Spanned<String>>,
    action_token_file: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    url: Option<Spanned<String>>,
    ca_file: Option<Spanned<String>>,
    interval: Option<Spanned<Dur>>,
    silent_after: Option<Spanned<u32>>,
}

/// A count's bounds and the open files allowed
/// (`processes.nginx = { min = 1, max = 8, fds = { warn = "80%" } }`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountRange {
    /// At least this many (Down below).
    pub min: Option<u32>,
    /// At most this many (Down above).
    pub max: Option<u32>,
    /// Open file descriptors of the process nearest its limit, in % of
    /// its soft limit.
    pub fds: Option<Threshold>,
}

/// `kind = "host"`: measures of one agent's reports, judged on each report.
#[derive(Debug, Clone, Default)]
pub struct HostSpec {
    /// The `[[agent]]` whose reports are judged.
    pub agent: String,
    /// Used space per mount point (% or size).
    pub disk: BTreeMap<String, Threshold>,
    /// Free space per mount point (% or size; alerts below).
    pub disk_free: BTreeMap<String, Threshold>,
    /// Used inodes per mount point (% or a count).
    pub inodes: BTreeMap<String, Threshold>,
    /// Mount points that must not be read-only (a remount after errors).
    pub writable: Vec<String>,
    /// Load averages per core: 1, 5 (`load`) and 15 minutes.
    pub load1: Option<Threshold>,
    /// 5-minute load average per core.
    pub load: Option<Threshold>,
    /// 15-minute load average per core.
    pub load15: Option<Threshold>,
    /// CPU shares (`user`, `system`, `iowait`, `steal`) in %.
    pub cpu: BTreeMap<String, Threshold>,
    /// Memory used (% of total: what is not `MemAvailable`).
    pub memory: Option<Threshold>,
    /// Swap used (% of swap, or size).
    pub swap: Option<Threshold>,
    /// Pages swapped in per second.
    pub swap_in: Option<Threshold>,
    /// Clock offset against the agent's NTP servers (absolute, seconds).
    pub clock_offset: Option<Threshold>,
    /// The kernel must say its clock is synchronised.
    pub clock_synchronised: bool,
    /// Process counts by name (the agent's `comm` or its watch names).
    pub processes: BTreeMap<String, CountRange>,
    /// systemd units that must be active.
    pub units: Vec<String>,
    /// TCP ports something must listen on.
    pub ports: Vec<u16>,
    /// Interfaces that must be up.
    pub interfaces: Vec<String>,
    /// Errors and drops per second on any interface.
    pub interface_errors: Option<Threshold>,
    /// A default route must exist.
    pub default_route: bool,
    /// Open file handles (% of the limit).
    pub files: Option<Threshold>,
    /// Every disk smartctl can read must pass its health self-assessment.
    pub smart: bool,
    /// NVMe "percentage used" of rated endurance.
    pub smart_wear: Option<Threshold>,
    /// DRBD, GlusterFS and Ceph must say healthy.
    pub replication: bool,
    /// A reboot stays a finding (Degraded) this long after it.
    pub reboot_window: Duration,
}

/// The CPU shares a host check can judge.
const CPU_SHARES: &[&str] = &["user", "system", "iowait", "steal"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCount {
    min: Option<u32>,
    max: Option<u32>,
    fds: Option<Spanned<RawThreshold>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHost {
    agent: Spanned<String>,
    #[serde(default)]
    disk: BTreeMap<String, Spanned<RawThreshold>>,
    #[serde(default)]
    disk_free: BTreeMap<String, Spanned<RawThreshold>>,
    #[serde(default)]
    inodes: BTreeMap<String, Spanned<RawThreshold>>,
    #[serde(default)]
    writable: Vec<String>,
    load1: Option<Spanned<RawThreshold>>,
    load: Option<Spanned<RawThreshold>>,
    load15: Option<Spanned<RawThreshold>>,
    #[serde(default)]
    cpu: BTreeMap<String, Spanned<RawThreshold>>,
    memory: Option<Spanned<RawThreshold>>,
    swap: Option<Spanned<RawThreshold>>,
    swap_in: Option<Spanned<RawThreshold>>,
    clock_offset: Option<Spanned<RawThreshold>>,
    #[serde(default)]
    clock_synchronised: bool,
    #[serde(default)]
    processes: BTreeMap<String, Spanned<RawCount>>,
    #[serde(default)]
    units: Vec<String>,
    #[serde(default)]
    ports: Vec<Spanned<i64>>,
    #[serde(default)]
    interfaces: Vec<String>,
    interface_errors: Option<Spanned<RawThreshold>>,
    #[serde(default)]
    default_route: bool,
    files: Option<Spanned<RawThreshold>>,
    #[serde(default)]
    smart: bool,
    smart_wear: Option<Spanned<RawThreshold>>,
    #[serde(default)]
    replication: bool,
    reboot_window: Option<Dur>,
}

const PERCENT: &[Unit] = &[Unit::Percent];
const PERCENT_OR_SIZE: &[Unit] = &[Unit::Percent, Unit::Bytes];
const PERCENT_OR_COUNT: &[Unit] = &[Unit::Percent, Unit::Number];
const NUMBER: &[Unit] = &[Unit::Number];
const SECONDS: &[Unit] = &[Unit::Seconds];

fn above(units: &'static [Unit]) -> Accepts<'static> {
    Accepts {
        units,
        direction: Direction::Above,
    }
}

impl Loader<'_> {
    /// `[[agent]]`: each agent once, its token from the environment or a
    /// file (never written in the configuration).
    pub(crate) fn agents(&mut self, value: Spanned<DeValue<'_>>) -> Vec<AgentSpec> {
        let items = self.array_of_tables(value, "agent", "write each agent as [[agent]]");
        let mut agents = Vec::new();
        let mut names = HashSet::new();
        for (path, item) in items {
            let span = item.span();
            let Some(raw) = self.deserialize::<RawAgent>(item, &path, &[]) else {
                continue;
            };
            let name = raw.name.get_ref();
            if !crate::load::valid_id(name) {
                self.rep.report(
                    raw.name.span(),
                    &format!("{path}.name"),
                    format!("invalid agent name {name:?}"),
                    Some("use lowercase letters, digits, '-' and '_'".into()),
                );
                continue;
            }
            if !names.insert(name.clone()) {
                self.rep.report(
                    raw.name.span(),
                    &format!("{path}.name"),
                    format!("agent {name:?} is declared twice"),
                    None,
                );
                continue;
            }
            let token_span = raw
                .token_env
                .as_ref()
                .or(raw.token_file.as_ref())
                .map(|t| t.span())
                .unwrap_or(span.clone());
            if raw.token_env.is_none() && raw.token_file.is_none() {
                self.rep.report(
                    span,
                    &format!("{path}.token"),
                    "an agent needs token_env or token_file",
                    Some("generate one with `head -c 24 /dev/urandom | base64 | tr '+/' '-_'`; the agent reads the same token from its --token-file".into()),
                );
                continue;
            }
            let Some(token) = self.secret(
                Inline::NotAccepted,
                raw.token_env.as_ref().map(|t| t.get_ref().as_str()),
                raw.token_file.as_ref().map(|t| t.get_ref().as_str()),
                token_span.clone(),
                &path,
                "token",
            ) else {
                continue;
            };
            if token.expose().len() < 16 {
                self.rep.report(
                    token_span,
                    &format!("{path}.token"),
                    "an agent token must be at least 16 characters",
                    None,
                );
                continue;
            }
            let mode = match raw.mode.as_ref().map(|m| m.get_ref().as_str()) {
                None | Some("push") => {
                    if let Some(u) = raw.url.as_ref().or(raw.ca_file.as_ref()) {
                        self.rep.report(
                            u.span(),
                            &path,
                            "url and ca_file are for mode = \"pull\"",
                            None,
                        );
                        continue;
                    }
                    AgentMode::Push
                }
                Some("pull") => {
                    let Some(url) = &raw.url else {
                        self.rep.report(
                            span,
                            &format!("{path}.url"),
                            "mode = \"pull\" needs the agent's url",
                            Some("e.g. url = \"https://web1.example:8586/report\"".into()),
                        );
                        continue;
                    };
                    let u = url.get_ref();
                    if !(u.starts_with("https://") || u.starts_with("http://"))
                        || u.parse::<http::Uri>().is_err()
                    {
                        self.rep.report(
                            url.span(),
                            &format!("{path}.url"),
                            format!("invalid agent URL {u:?}"),
                            Some("write https://host:port/report".into()),
                        );
                        continue;
                    }
                    AgentMode::Pull {
                        url: u.clone(),
                        ca_file: raw.ca_file.as_ref().map(|f| self.resolve_path(f.get_ref())),
                    }
                }
                Some(other) => {
                    let span = raw.mode.as_ref().map(|m| m.span()).unwrap_or(span);
                    self.rep.report(
                        span,
                        &format!("{path}.mode"),
                        format!("unknown mode {other:?}"),
                        Some("\"push\" (the agent sends) or \"pull\" (keepup fetches)".into()),
                    );
                    continue;
                }
            };
            let interval = raw
                .interval
                .as_ref()
                .map(|d| self.positive(d, &format!("{path}.interval")))
                .unwrap_or(Duration::from_secs(10));
            let silent_after = match raw.silent_after {
                Some(n) if *n.get_ref() == 0 => {
                    self.rep.report(
                        n.span(),
                        &format!("{path}.silent_after"),
                        "silent_after counts intervals: at least 1",
                        None,
                    );
                    continue;
                }
                Some(n) => n.into_inner(),
                None => 3,
            };
            let action_span = raw
                .action_token_env
                .as_ref()
                .or(raw.action_token_file.as_ref())
                .map(|t| t.span());
            let action_token = match action_span {
                None => None,
                Some(span) if mode == AgentMode::Push => {
                    self.rep.report(
                        span,
                        &format!("{path}.action_token"),
                        "action_token_env and action_token_file are for mode = \"pull\"",
                        Some("a pushing agent takes its requests from keepup's answers; only a pulled agent's /action needs its own token".into()),
                    );
                    continue;
                }
                Some(span) => {
                    let Some(t) = self.secret(
                        Inline::NotAccepted,
                        raw.action_token_env.as_ref().map(|t| t.get_ref().as_str()),
                        raw.action_token_file.as_ref().map(|t| t.get_ref().as_str()),
                        span.clone(),
                        &path,
                        "action_token",
                    ) else {
                        continue;
                    };
                    if t.expose().len() < 16 {
                        self.rep.report(
                            span,
                            &format!("{path}.action_token"),
                            "an agent's action token must be at least 16 characters",
                            None,
                        );
                        continue;
                    }
                    if t.expose() == token.expose() {
                        self.rep.report(
                            span,
                            &format!("{path}.action_token"),
                            "the action token is the report token",
                            Some("give the agent's --action-token-file another token than its --token-file, so that reading reports does not allow running actions".into()),
                        );
                        continue;
                    }
                    Some(t)
                }
            };
            agents.push(AgentSpec {
                name: name.clone(),
                token,
                action_token,
                mode,
                interval,
                silent_after,
            });
        }
        agents
    }

    /// `kind = "host"`: the agent must be declared; each measure's
    /// threshold is checked for its units at its own position.
    pub(crate) fn host_check(&mut self, raw: RawHost, path: &str) -> Option<HostSpec> {
        let before = self.rep.count();
        if !self.agent_names.contains(raw.agent.get_ref()) {
            let hint = crate::diag::closest(
                raw.agent.get_ref(),
                self.agent_names.iter().map(String::as_str),
            )
            .map(|n| format!("did you mean {n:?}?"))
            .unwrap_or_else(|| "declare it in an [[agent]] section".into());
            self.rep.report(
                raw.agent.span(),
                &format!("{path}.agent"),
                format!("no [[agent]] is named {:?}", raw.agent.get_ref()),
                Some(hint),
            );
        }
        let one = |this: &mut Self, key: &str, raw: &Option<Spanned<RawThreshold>>, accepts| {
            raw.as_ref()
                .and_then(|t| threshold(&mut this.rep, t, &format!("{path}.{key}"), accepts))
        };
        let load1 = one(self, "load1", &raw.load1, above(NUMBER));
        let load = one(self, "load", &raw.load, above(NUMBER));
        let load15 = one(self, "load15", &raw.load15, above(NUMBER));
        let memory = one(self, "memory", &raw.memory, above(PERCENT));
        let swap = one(self, "swap", &raw.swap, above(PERCENT_OR_SIZE));
        let swap_in = one(self, "swap_in", &raw.swap_in, above(NUMBER));
        let clock_offset = one(self, "clock_offset", &raw.clock_offset, above(SECONDS));
        let interface_errors = one(
            self,
            "interface_errors",
            &raw.interface_errors,
            above(NUMBER),
        );
        let files = one(self, "files", &raw.files, above(PERCENT));
        let smart_wear = one(self, "smart_wear", &raw.smart_wear, above(PERCENT));
        let per_mount = |this: &mut Self,
                         key: &str,
                         table: &BTreeMap<String, Spanned<RawThreshold>>,
                         accepts: Accepts<'static>| {
            let mut out = BTreeMap::new();
            for (mount, t) in table {
                if !mount.starts_with('/') {
                    this.rep.report(
                        t.span(),
                        &format!("{path}.{key}.{mount:?}"),
                        format!("{mount:?} is not a mount point"),
                        Some(format!("write {key}.\"/var\" = {{ ... }}")),
                    );
                    continue;
                }
                let key = format!("{path}.{key}.{mount:?}");
                if let Some(th) = threshold(&mut this.rep, t, &key, accepts) {
                    out.insert(mount.clone(), th);
                }
            }
            out
        };
        let disk = per_mount(self, "disk", &raw.disk, above(PERCENT_OR_SIZE));
        let disk_free = per_mount(
            self,
            "disk_free",
            &raw.disk_free,
            Accepts {
                units: PERCENT_OR_SIZE,
                direction: Direction::Below,
            },
        );
        let inodes = per_mount(self, "inodes", &raw.inodes, above(PERCENT_OR_COUNT));
        let mut cpu = BTreeMap::new();
        for (share, t) in &raw.cpu {
            if !CPU_SHARES.contains(&share.as_str()) {
                let hint = crate::diag::closest(share, CPU_SHARES.iter().copied())
                    .map(|c| format!("did you mean {c:?}? "))
                    .unwrap_or_default();
                self.rep.report(
                    t.span(),
                    &format!("{path}.cpu.{share}"),
                    format!("unknown CPU share {share:?}"),
                    Some(format!("{hint}the shares are {}", CPU_SHARES.join(", "))),
                );
                continue;
            }
            if let Some(th) = one(
                self,
                &format!("cpu.{share}"),
                &Some(t.clone()),
                above(PERCENT),
            ) {
                cpu.insert(share.clone(), th);
            }
        }
        let mut processes = BTreeMap::new();
        for (name, count) in raw.processes {
            let c = count.get_ref();
            let wrong = match (c.min, c.max) {
                (None, None) if c.fds.is_none() => Some("give min, max, fds or several"),
                (Some(lo), Some(hi)) if lo > hi => Some("min is more than max"),
                _ => None,
            };
            if let Some(why) = wrong {
                self.rep.report(
                    count.span(),
                    &format!("{path}.processes.{name:?}"),
                    why,
                    Some(format!("e.g. processes.{name} = {{ min = 1 }}")),
                );
                continue;
            }
            let fds = match &c.fds {
                Some(t) => {
                    let key = format!("{path}.processes.{name:?}.fds");
                    let Some(th) = threshold(&mut self.rep, t, &key, above(PERCENT)) else {
                        continue;
                    };
                    Some(th)
                }
                None => None,
            };
            processes.insert(
                name,
                CountRange {
                    min: c.min,
                    max: c.max,
                    fds,
                },
            );
        }
        let ports = raw
            .ports
            .iter()
            .filter_map(|p| self.port(p, path))
            .collect();
        if self.rep.count() > before {
            return None;
        }
        Some(HostSpec {
            agent: raw.agent.into_inner(),
            disk,
            disk_free,
            inodes,
            writable: raw.writable,
            load1,
            load,
            load15,
            cpu,
            memory,
            swap,
            swap_in,
            clock_offset,
            clock_synchronised: raw.clock_synchronised,
            processes,
            units: raw.units,
            ports,
            interfaces: raw.interfaces,
            interface_errors,
            default_route: raw.default_route,
            files,
            smart: raw.smart,
            smart_wear,
            replication: raw.replication,
            reboot_window: raw
                .reboot_window
                .map(|d| d.0)
                .unwrap_or(Duration::from_secs(900)),
        })
    }
}
