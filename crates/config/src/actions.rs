//! `[[action]]`: a named thing keepup may do by itself (restart a service,
//! call a provider's resize API), when it may do it, and the guard rails
//! around it. Only actions named here can ever run: nothing else, from the
//! API, a webhook or the command line, starts a command.
//!
//! ```toml
//! [[action]]
//! name = "restart-php"
//! command = ["systemctl", "restart", "php8.2-fpm"]  # an argument list, no shell
//! # command = "pg_dump shop | gzip > /var/tmp/x.gz" with shell = true: /bin/sh -c
//! # agent = "web1"                 # run on that agent's host: its --action NAME
//! # agent_action = "php"           # (default: this name)
//! # webhook = { url_env = "RESIZE_URL", method = "POST", headers = {...},
//! #             body_template = "...", retries = 3 }
//! timeout = "60s"
//! env = { TOKEN = { env = "KEEPUP_TOKEN" } }   # secrets, as a nagios check's
//! on = { checks = ["shop/php"], status = ["down"] }   # or sites / tags
//! # after_open = "10m"             # on an incident of those checks still open
//! # measure = { check = "shop/web1", measure = "load", above = 2.0, for = "10m" }
//! # schedule = { cron = "0 23 * * *", timezone = "Europe/Berlin" }
//! # scale = { level = "web-nodes", by = 1 }   # or to = 4: moves a [[scale]] level
//! cooldown = "10m"
//! max_per_hour = 3
//! max_per_day = 10
//! during_maintenance = false
//! dry_run = false
//! confirm = false                  # a run waits for `keepup actions confirm RUN`
//! page = "after"                   # remediation: page after `grace` if it did not help
//! grace = "3m"
//! ```
//!
//!
//! A `[[scale]]` is a named capacity level with bounds, as an autoscaling
//! group's size or an HPA's replicas: `name`, `min`, `max`, `initial`
//! (default `min`). Scaling actions move it (`scale = { level, by }` a
//! step, `scale = { level, to }` a size a schedule sets).
//!
//! Not here: running them, the guard rails' bookkeeping and the audit
//! (`keepup_actions`), acting on failures (the monitor).

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::time::Duration;

use keepup_model::{CheckId, Status};
use serde::Deserialize;
use toml::Spanned;
use toml::de::DeValue;

use crate::Secret;
use crate::channels::{RawWebhook, WebhookSpec};
use crate::cron::Cron;
use crate::forecast::{Measure, measure_named};
use crate::load::{Loader, valid_id};
use crate::raw::Dur;
use crate::spec::{Check, Site};

/// How long a run may take by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a run may be given.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(6 * 3600);
/// The least time between two runs of one action by default.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(300);
/// How long a remediation waits for the check to recover by default.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(180);
/// Webhook retries by default (after the first attempt).
pub const DEFAULT_RETRIES: u32 = 3;
/// At most this many retries.
pub const MAX_RETRIES: u32 = 10;
/// At most this many arguments (the program included).
const MAX_ARGS: usize = 256;
/// At most this many bytes in one argument.
const MAX_ARG_BYTES: usize = 4096;

/// One `[[action]]`.
#[derive(Debug, Clone)]
pub struct Action {
    /// Its unique name (`keepup actions run NAME`).
    pub name: String,
    /// What runs.
    pub run: Runner,
    /// How long a command may run (then its process group is killed), or
    /// one webhook attempt may take.
    pub timeout: Duration,
    /// Secrets added to a command's environment by variable name, and
    /// scrubbed from its output.
    pub env: Vec<(String, Secret)>,
    /// When it runs by itself (none: only by hand).
    pub triggers: Triggers,
    /// What keeps it from running too often or at the wrong time.
    pub guard: Guard,
    /// For remediation: page at once, or only if it did not help.
    pub page: Page,
    /// How long a remediation waits for the check to recover before it
    /// pages (with [`Page::After`]).
    pub grace: Duration,
    /// The `[[scale]]` level it moves, and how.
    pub scale: Option<ScaleStep>,
}

/// One `[[scale]]`: a capacity level with bounds (an autoscaling group's
/// size, an HPA's replicas) that scaling actions move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Its unique name.
    pub name: String,
    /// The least it may be.
    pub min: u32,
    /// The most it may be.
    pub max: u32,
    /// What it is before any action moved it.
    pub initial: u32,
}

impl Level {
    /// `v` within the bounds.
    pub fn clamp(&self, v: i64) -> u32 {
        v.clamp(i64::from(self.min), i64::from(self.max)) as u32
    }
}

/// `scale = { level, by | to }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleStep {
    /// The `[[scale]]` it moves.
    pub level: String,
    /// How.
    pub change: Change,
}

/// How a scaling action moves its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// By this many (negative: down).
    By(i64),
    /// To this size (a schedule's).
    To(u32),
}

/// At most this large a level (a sanity bound, not a provider's).
pub const MAX_LEVEL: i64 = 100_000;

impl Action {
    /// The checks its triggers concern (`on`, `measure`): what its
    /// maintenance guard looks at.
    pub fn checks(&self) -> impl Iterator<Item = &CheckId> {
        self.triggers
            .on
            .iter()
            .flat_map(|o| o.checks.iter())
            .chain(self.triggers.measure.iter().map(|m| &m.check))
    }

    /// Whether it scales something (a measure or a schedule triggers it,
    /// or it moves a level).
    pub fn is_scaling(&self) -> bool {
        self.triggers.measure.is_some() || self.triggers.schedule.is_some() || self.scale.is_some()
    }
}

/// What an action runs.
#[derive(Debug, Clone)]
pub enum Runner {
    /// A command run here, as the daemon's user.
    Command {
        /// The argument list, the program first; `/bin/sh -c LINE` for a
        /// command written as one string with `shell = true`.
        argv: Vec<String>,
        /// Whether it is a shell line.
        shell: bool,
    },
    /// A command an agent was started with (`keepup agent --action
    /// NAME=...`), run on its host.
    Agent {
        /// The `[[agent]]`.
        agent: String,
        /// The NAME of its `--action`.
        action: String,
    },
    /// An HTTP request from templates.
    Webhook {
        /// URL, method, headers, body template (as a webhook channel's).
        spec: WebhookSpec,
        /// Further attempts after a retryable failure (429, 5xx,
        /// transport), with exponential backoff; every attempt carries
        /// the run's `Idempotency-Key`.
        retries: u32,
    },
}

impl Runner {
    /// `command`, `agent` or `webhook`.
    pub fn kind(&self) -> &'static str {
        match self {
            Runner::Command { .. } => "command",
            Runner::Agent { .. } => "agent",
            Runner::Webhook { .. } => "webhook",
        }
    }
}

/// When an action runs by itself.
#[derive(Debug, Clone, Default)]
pub struct Triggers {
    /// On a confirmed status of these checks.
    pub on: Option<OnStatus>,
    /// On an incident of the `on` checks still open after this long.
    pub after_open: Option<Duration>,
    /// On a measure past a threshold for a while.
    pub measure: Option<MeasureTrigger>,
    /// On a cron schedule.
    pub schedule: Option<Schedule>,
}

/// `on = { checks, sites, tags, status }`.
#[derive(Debug, Clone)]
pub struct OnStatus {
    /// The checks selected.
    pub checks: HashSet<CheckId>,
    /// The confirmed statuses that trigger (default Down).
    pub status: Vec<Status>,
}

/// `measure = { check, measure, above | below, for }`.
#[derive(Debug, Clone)]
pub struct MeasureTrigger {
    /// The check whose results carry the measure.
    pub check: CheckId,
    /// The measure (the forecasts' catalogue).
    pub measure: Measure,
    /// Which side of the threshold triggers.
    pub above: bool,
    /// The threshold, in the measure's unit.
    pub threshold: f64,
    /// How long it must stay past the threshold (stabilisation window).
    pub for_: Duration,
}

/// `schedule = { cron, timezone }`.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// When.
    pub cron: Cron,
    /// In this time zone (daylight saving as the `cron` module says).
    pub timezone: jiff::tz::TimeZone,
    /// Its name as written.
    pub timezone_name: String,
}

/// The guard rails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The least time between two runs (default 5 min).
    pub cooldown: Duration,
    /// At most this many runs in any hour.
    pub max_per_hour: Option<u32>,
    /// At most this many runs in any day.
    pub max_per_day: Option<u32>,
    /// Whether it runs while a maintenance window covers its checks
    /// (default false).
    pub during_maintenance: bool,
    /// Whether it only says what it would do.
    pub dry_run: bool,
    /// Whether a run waits for a person's confirmation.
    pub confirm: bool,
}

/// When a remediation pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// Act first; page after the grace period if the check is still down.
    After,
    /// Page at once and act in parallel.
    AtOnce,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: Spanned<String>,
    command: Option<Spanned<toml::Value>>,
    shell: Option<bool>,
    agent: Option<Spanned<String>>,
    agent_action: Option<Spanned<String>>,
    timeout: Option<Spanned<Dur>>,
    env: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    on: Option<Spanned<RawOn>>,
    after_open: Option<Spanned<Dur>>,
    measure: Option<Spanned<RawMeasure>>,
    schedule: Option<Spanned<RawSchedule>>,
    cooldown: Option<Spanned<Dur>>,
    max_per_hour: Option<Spanned<u32>>,
    max_per_day: Option<Spanned<u32>>,
    #[serde(default)]
    during_maintenance: bool,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    confirm: bool,
    page: Option<Spanned<String>>,
    grace: Option<Spanned<Dur>>,
    scale: Option<Spanned<RawScale>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScale {
    level: Option<Spanned<String>>,
    by: Option<Spanned<i64>>,
    to: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLevel {
    name: Spanned<String>,
    min: Spanned<i64>,
    max: Spanned<i64>,
    initial: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOn {
    #[serde(default)]
    checks: Vec<Spanned<String>>,
    #[serde(default)]
    sites: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    status: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMeasure {
    check: Spanned<String>,
    measure: Spanned<String>,
    above: Option<Spanned<f64>>,
    below: Option<Spanned<f64>>,
    #[serde(rename = "for")]
    for_: Option<Spanned<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    cron: Spanned<String>,
    timezone: Option<Spanned<String>>,
}

impl Loader<'_> {
    /// Validates `[[scale]]`: unique names, `min` ≤ `initial` ≤ `max`.
    pub(crate) fn levels(&mut self, value: Spanned<DeValue<'_>>) -> Vec<Level> {
        let items = self.array_of_tables(value, "scale", "write each level as [[scale]]");
        let mut out: Vec<Level> = Vec::new();
        for (path, item) in items {
            let Some(raw) = self.deserialize::<RawLevel>(item, &path, &[]) else {
                continue;
            };
            let name = raw.name.get_ref().clone();
            if !valid_id(&name) {
                self.rep.report(
                    raw.name.span(),
                    &format!("{path}.name"),
                    format!("invalid level name {name:?}"),
                    Some("lowercase letters, digits, '-' and '_', e.g. \"web-nodes\"".into()),
                );
                continue;
            }
            if out.iter().any(|l| l.name == name) {
                self.rep.report(
                    raw.name.span(),
                    &format!("{path}.name"),
                    format!("level name {name:?} is used twice"),
                    None,
                );
                continue;
            }
            let bound = |v: &Spanned<i64>, key: &str, this: &mut Self| {
                let n = *v.get_ref();
                if (0..=MAX_LEVEL).contains(&n) {
                    Some(n as u32)
                } else {
                    this.rep.report(
                        v.span(),
                        &format!("{path}.{key}"),
                        format!("{n} is not a level from 0 to {MAX_LEVEL}"),
                        None,
                    );
                    None
                }
            };
            let (Some(min), Some(max)) =
                (bound(&raw.min, "min", self), bound(&raw.max, "max", self))
            else {
                continue;
            };
            if min > max {
                self.rep.report(
                    raw.max.span(),
                    &format!("{path}.max"),
                    format!("max ({max}) is below min ({min})"),
                    None,
                );
                continue;
            }
            let initial = match &raw.initial {
                None => min,
                Some(i) => {
                    let Some(v) = bound(i, "initial", self) else {
                        continue;
                    };
                    if !(min..=max).contains(&v) {
                        self.rep.report(
                            i.span(),
                            &format!("{path}.initial"),
                            format!("initial ({v}) is outside min {min} .. max {max}"),
                            None,
                        );
                        continue;
                    }
                    v
                }
            };
            out.push(Level {
                name,
                min,
                max,
                initial,
            });
        }
        out
    }

    /// Validates `[[action]]` against the sites (checks, tags, measures),
    /// the `[[agent]]`s and the `[[scale]]` levels.
    pub(crate) fn actions(
        &mut self,
        value: Spanned<DeValue<'_>>,
        sites: &[Site],
        levels: &[Level],
    ) -> Vec<Action> {
        let items = self.array_of_tables(value, "action", "write each action as [[action]]");
        let all: Vec<&Check> = sites
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| &**c))
            .collect();
        let mut out: Vec<(Action, Option<Range<usize>>)> = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for (path, mut item) in items {
            // Read apart: a webhook channel's keys plus `retries`.
            let webhook = match item.get_mut() {
                DeValue::Table(t) => t.remove("webhook"),
                _ => None,
            };
            let webhook = webhook.map(|w| self.action_webhook(w, &path));
            let Some(raw) = self.deserialize::<RawAction>(item, &path, &["webhook"]) else {
                continue;
            };
            let name_span = raw.name.span();
            if !names.insert(raw.name.get_ref().clone()) {
                self.rep.report(
                    name_span,
                    &format!("{path}.name"),
                    format!("action name {:?} is used twice", raw.name.get_ref()),
                    None,
                );
                continue;
            }
            let measure_span = raw.measure.as_ref().map(Spanned::span);
            if let Some(a) = self.action(raw, webhook, &path, sites, &all, levels) {
                out.push((a, measure_span));
            }
        }
        self.hysteresis(&out);
        out.into_iter().map(|(a, _)| a).collect()
    }

    fn action(
        &mut self,
        raw: RawAction,
        webhook: Option<Option<Runner>>,
        path: &str,
        sites: &[Site],
        all: &[&Check],
        levels: &[Level],
    ) -> Option<Action> {
        let mut ok = true;
        let name = raw.name.get_ref().clone();
        if !valid_id(&name) {
            self.rep.report(
                raw.name.span(),
                &format!("{path}.name"),
                format!("invalid action name {name:?}"),
                Some("lowercase letters, digits, '-' and '_', e.g. \"restart-php\"".into()),
            );
            ok = false;
        }
        let run = self.runner(&raw, webhook, path, &name);
        let timeout = match &raw.timeout {
            Some(t) => {
                let d = self.positive(t, &format!("{path}.timeout"));
                if d > MAX_TIMEOUT {
                    self.rep.report(
                        t.span(),
                        &format!("{path}.timeout"),
                        format!("at most {}", humantime::format_duration(MAX_TIMEOUT)),
                        None,
                    );
                    ok = false;
                }
                d
            }
            None => DEFAULT_TIMEOUT,
        };
        let env = match raw.env {
            Some(env) if !env.is_empty() => {
                if let Some(Runner::Agent { .. } | Runner::Webhook { .. }) = &run {
                    let at = env.keys().next().map(Spanned::span).unwrap_or(0..0);
                    self.rep.report(
                        at,
                        &format!("{path}.env"),
                        "env is for a command run here (an agent's action gets its environment on the agent; a webhook's secrets are its url and headers)",
                        None,
                    );
                    ok = false;
                    Vec::new()
                } else {
                    match self.nagios_env(env, path) {
                        Some(e) => e,
                        None => {
                            ok = false;
                            Vec::new()
                        }
                    }
                }
            }
            _ => Vec::new(),
        };
        let on = match raw.on {
            Some(on) => {
                let span = on.span();
                let on = on.into_inner();
                if on.checks.is_empty() && on.sites.is_empty() && on.tags.is_empty() {
                    self.rep.report(
                        span,
                        &format!("{path}.on"),
                        "`on` names no checks",
                        Some(
                            "give checks = [\"site/check\"], sites = [...] or tags = [...]".into(),
                        ),
                    );
                    ok = false;
                    None
                } else {
                    let (checks, fine) = self.scoped_checks(
                        &on.sites,
                        &on.checks,
                        &on.tags,
                        &format!("{path}.on"),
                        sites,
                        all,
                    );
                    ok &= fine;
                    let mut status = Vec::new();
                    for s in on.status.unwrap_or_default() {
                        match s.get_ref().as_str() {
                            "down" => status.push(Status::Down),
                            "degraded" => status.push(Status::Degraded),
                            other => {
                                self.rep.report(
                                    s.span(),
                                    &format!("{path}.on.status"),
                                    format!("unknown status {other:?}"),
                                    Some("\"down\" or \"degraded\"".into()),
                                );
                                ok = false;
                            }
                        }
                    }
                    if status.is_empty() {
                        status.push(Status::Down);
                    }
                    status.dedup();
                    Some(OnStatus { checks, status })
                }
            }
            None => None,
        };
        let after_open = match &raw.after_open {
            Some(d) => {
                if on.is_none() {
                    self.rep.report(
                        d.span(),
                        &format!("{path}.after_open"),
                        "after_open needs `on`: the checks whose incidents it waits on",
                        None,
                    );
                    ok = false;
                }
                Some(self.positive(d, &format!("{path}.after_open")))
            }
            None => None,
        };
        let measure = match raw.measure {
            Some(m) => {
                let r = self.measure_trigger(m, path, all);
                ok &= r.is_some();
                r
            }
            None => None,
        };
        let schedule = match raw.schedule {
            Some(s) => {
                let s = s.into_inner();
                let cron = match Cron::parse(s.cron.get_ref()) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        self.rep.report(
                            s.cron.span(),
                            &format!("{path}.schedule.cron"),
                            format!("invalid cron expression: {e}"),
                            Some("e.g. \"0 23 * * *\" for every day at 23:00".into()),
                        );
                        None
                    }
                };
                let tz = match &s.timezone {
                    None => Some((jiff::tz::TimeZone::UTC, "UTC".to_owned())),
                    Some(name) => self
                        .timezone(name, &format!("{path}.schedule.timezone"))
                        .map(|z| (z, name.get_ref().clone())),
                };
                match (cron, tz) {
                    (Some(cron), Some((timezone, timezone_name))) => Some(Schedule {
                        cron,
                        timezone,
                        timezone_name,
                    }),
                    _ => {
                        ok = false;
                        None
                    }
                }
            }
            None => None,
        };
        let scale = match &raw.scale {
            Some(s) => {
                let r = self.scale_step(s, path, levels, run.as_ref());
                ok &= r.is_some();
                r
            }
            None => None,
        };
        let scaling = measure.is_some() || schedule.is_some() || raw.scale.is_some();
        let cooldown = match &raw.cooldown {
            Some(c) => {
                if scaling && c.get_ref().0.is_zero() {
                    self.rep.report(
                        c.span(),
                        &format!("{path}.cooldown"),
                        "a scaling action (measure, schedule or scale) needs a cooldown longer than zero",
                        Some("without one, each new value past the threshold scales again before the last step took effect; e.g. cooldown = \"10m\"".into()),
                    );
                    ok = false;
                }
                c.get_ref().0
            }
            None => DEFAULT_COOLDOWN,
        };
        let mut limit = |v: &Option<Spanned<u32>>, key: &str, this: &mut Self| match v {
            Some(n) if *n.get_ref() == 0 => {
                this.rep.report(
                    n.span(),
                    &format!("{path}.{key}"),
                    "must be at least 1 (leave it out for no limit; dry_run = true to never act)",
                    None,
                );
                ok = false;
                None
            }
            Some(n) => Some(*n.get_ref()),
            None => None,
        };
        let max_per_hour = limit(&raw.max_per_hour, "max_per_hour", self);
        let max_per_day = limit(&raw.max_per_day, "max_per_day", self);
        if let (Some(h), Some(d), Some(span)) = (
            max_per_hour,
            max_per_day,
            raw.max_per_day.as_ref().map(Spanned::span),
        ) && d < h
        {
            self.rep.report(
                span,
                &format!("{path}.max_per_day"),
                format!("max_per_day ({d}) is below max_per_hour ({h})"),
                None,
            );
            ok = false;
        }
        let page = match &raw.page {
            None => Page::After,
            Some(p) => match p.get_ref().as_str() {
                "after" => Page::After,
                "at_once" => Page::AtOnce,
                other => {
                    self.rep.report(
                        p.span(),
                        &format!("{path}.page"),
                        format!("unknown page mode {other:?}"),
                        Some(
                            "\"after\" (act first, page if it did not help) or \"at_once\"".into(),
                        ),
                    );
                    ok = false;
                    Page::After
                }
            },
        };
        let grace = match &raw.grace {
            Some(g) => self.positive(g, &format!("{path}.grace")),
            None => DEFAULT_GRACE,
        };
        let run = run?;
        ok.then_some(Action {
            name,
            run,
            timeout,
            env,
            triggers: Triggers {
                on,
                after_open,
                measure,
                schedule,
            },
            guard: Guard {
                cooldown,
                max_per_hour,
                max_per_day,
                during_maintenance: raw.during_maintenance,
                dry_run: raw.dry_run,
                confirm: raw.confirm,
            },
            page,
            grace,
            scale,
        })
    }

    /// `scale = { level, by | to }`: a declared level, a step other than
    /// zero or a size within its bounds, on an action that can be told
    /// the size (a command or a webhook; an agent's fixed command cannot).
    fn scale_step(
        &mut self,
        raw: &Spanned<RawScale>,
        path: &str,
        levels: &[Level],
        run: Option<&Runner>,
    ) -> Option<ScaleStep> {
        let key = format!("{path}.scale");
        let span = raw.span();
        let raw = raw.get_ref();
        let Some(name) = &raw.level else {
            self.rep.report(
                span,
                &key,
                "a scale step needs the level it moves",
                Some("e.g. scale = { level = \"web-nodes\", by = 1 }, with a [[scale]] named web-nodes".into()),
            );
            return None;
        };
        let Some(level) = levels.iter().find(|l| &l.name == name.get_ref()) else {
            let hint = crate::diag::closest(name.get_ref(), levels.iter().map(|l| l.name.as_str()))
                .map(|n| format!("did you mean {n:?}?"))
                .unwrap_or_else(|| "declare it: [[scale]] name = ..., min = ..., max = ...".into());
            self.rep.report(
                name.span(),
                &format!("{key}.level"),
                format!("no [[scale]] is named {:?}", name.get_ref()),
                Some(hint),
            );
            return None;
        };
        if let Some(Runner::Agent { .. }) = run {
            self.rep.report(
                span,
                &key,
                "an agent's action cannot be told the level it scales to",
                Some("scale with a command (KEEPUP_LEVEL in its environment) or a webhook ({{ level }} in its template)".into()),
            );
            return None;
        }
        let change = match (&raw.by, &raw.to) {
            (Some(by), None) => {
                let n = *by.get_ref();
                if n == 0 || n.abs() > MAX_LEVEL {
                    self.rep.report(
                        by.span(),
                        &format!("{key}.by"),
                        format!("a step of {n} moves nothing sensible"),
                        Some("by = 1 scales up one, by = -1 down one".into()),
                    );
                    return None;
                }
                Change::By(n)
            }
            (None, Some(to)) => {
                let n = *to.get_ref();
                if n < i64::from(level.min) || n > i64::from(level.max) {
                    self.rep.report(
                        to.span(),
                        &format!("{key}.to"),
                        format!(
                            "{n} is outside the bounds of {:?} (min {}, max {})",
                            level.name, level.min, level.max
                        ),
                        None,
                    );
                    return None;
                }
                Change::To(n as u32)
            }
            _ => {
                self.rep.report(
                    span,
                    &key,
                    "a scale step needs exactly one of by and to",
                    Some("by = 1 / by = -1 moves it a step, to = 4 sets it (a schedule)".into()),
                );
                return None;
            }
        };
        Some(ScaleStep {
            level: level.name.clone(),
            change,
        })
    }

    /// `command`, `agent` or `webhook`: exactly one.
    fn runner(
        &mut self,
        raw: &RawAction,
        webhook: Option<Option<Runner>>,
        path: &str,
        name: &str,
    ) -> Option<Runner> {
        let given: Vec<&str> = [
            ("command", raw.command.is_some()),
            ("agent", raw.agent.is_some()),
            ("webhook", webhook.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| *k)
        .collect();
        if given.len() != 1 {
            let span = raw
                .command
                .as_ref()
                .map(Spanned::span)
                .or(raw.agent.as_ref().map(Spanned::span))
                .unwrap_or(raw.name.span());
            self.rep.report(
                span,
                path,
                if given.is_empty() {
                    "an action needs what it runs: command, agent or webhook".to_owned()
                } else {
                    format!("give one of {} only", given.join(" and "))
                },
                Some("e.g. command = [\"systemctl\", \"restart\", \"php8.2-fpm\"]".into()),
            );
            return None;
        }
        if raw.shell.is_some() && raw.command.is_none() {
            self.rep.report(
                raw.name.span(),
                &format!("{path}.shell"),
                "shell is for a command run here",
                None,
            );
            return None;
        }
        if let Some(a) = &raw.agent_action
            && raw.agent.is_none()
        {
            self.rep.report(
                a.span(),
                &format!("{path}.agent_action"),
                "agent_action needs agent",
                None,
            );
            return None;
        }
        if let Some(command) = &raw.command {
            return self.action_command(command, raw.shell.unwrap_or(false), path);
        }
        if let Some(agent) = &raw.agent {
            if !self.agent_names.contains(agent.get_ref()) {
                let hint = crate::diag::closest(
                    agent.get_ref(),
                    self.agent_names.iter().map(String::as_str),
                )
                .map(|n| format!("did you mean {n:?}?"))
                .unwrap_or_else(|| "declare it in an [[agent]] section".into());
                self.rep.report(
                    agent.span(),
                    &format!("{path}.agent"),
                    format!("no [[agent]] is named {:?}", agent.get_ref()),
                    Some(hint),
                );
                return None;
            }
            let action = raw
                .agent_action
                .as_ref()
                .map(|a| (a.get_ref().clone(), a.span()))
                .unwrap_or((name.to_owned(), raw.name.span()));
            if !agent_action_name(&action.0) {
                self.rep.report(
                    action.1,
                    &format!("{path}.agent_action"),
                    format!("invalid agent action name {:?}", action.0),
                    Some("the NAME of the agent's --action NAME=COMMAND: lowercase letters, digits, '-' and '_'".into()),
                );
                return None;
            }
            return Some(Runner::Agent {
                agent: agent.get_ref().clone(),
                action: action.0,
            });
        }
        webhook.flatten()
    }

    fn action_command(
        &mut self,
        command: &Spanned<toml::Value>,
        shell: bool,
        path: &str,
    ) -> Option<Runner> {
        let key = format!("{path}.command");
        let span = command.span();
        match command.get_ref() {
            toml::Value::String(line) if shell => {
                if line.trim().is_empty() || line.contains('\0') || line.len() > MAX_ARG_BYTES {
                    self.rep.report(
                        span,
                        &key,
                        "the shell line is empty, too long or holds a NUL",
                        None,
                    );
                    return None;
                }
                if !self.no_credential(line, span.clone(), &key) {
                    return None;
                }
                Some(Runner::Command {
                    argv: vec!["/bin/sh".into(), "-c".into(), line.clone()],
                    shell: true,
                })
            }
            toml::Value::String(line) => {
                let words: Vec<String> =
                    line.split_whitespace().map(|w| format!("{w:?}")).collect();
                self.rep.report(
                    span,
                    &key,
                    "a command written as one string would need a shell to split it",
                    Some(format!(
                        "write the argument list, command = [{}], or add shell = true to run it with /bin/sh -c",
                        words.join(", ")
                    )),
                );
                None
            }
            toml::Value::Array(items) => {
                if shell {
                    self.rep.report(
                        span,
                        &key,
                        "shell = true takes the command as one string",
                        Some("drop shell, or write command = \"...\"".into()),
                    );
                    return None;
                }
                if items.is_empty() {
                    self.rep.report(
                        span,
                        &key,
                        "the command is empty",
                        Some("e.g. command = [\"systemctl\", \"restart\", \"php8.2-fpm\"]".into()),
                    );
                    return None;
                }
                if items.len() > MAX_ARGS {
                    self.rep.report(
                        span,
                        &key,
                        format!("{} arguments; at most {MAX_ARGS}", items.len()),
                        None,
                    );
                    return None;
                }
                let mut argv = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let problem = match item {
                        toml::Value::String(s) if s.contains('\0') => {
                            Some("contains a NUL character".to_owned())
                        }
                        toml::Value::String(s) if s.len() > MAX_ARG_BYTES => {
                            Some(format!("is {} bytes; at most {MAX_ARG_BYTES}", s.len()))
                        }
                        toml::Value::String(s) if i == 0 && s.trim().is_empty() => {
                            Some("the program is empty".to_owned())
                        }
                        toml::Value::String(s) => {
                            if !self.no_credential(s, span.clone(), &format!("{key}[{i}]")) {
                                return None;
                            }
                            argv.push(s.clone());
                            None
                        }
                        _ => Some("is not a string".to_owned()),
                    };
                    if let Some(problem) = problem {
                        self.rep
                            .report(span.clone(), &format!("{key}[{i}]"), problem, None);
                        return None;
                    }
                }
                // A program with a directory is the configuration's, as
                // every path; a bare name is looked up in the child's PATH.
                if argv[0].contains('/') {
                    argv[0] = self.resolve_path(&argv[0]).display().to_string();
                }
                Some(Runner::Command { argv, shell: false })
            }
            _ => {
                self.rep.report(
                    span,
                    &key,
                    "expected an argument list such as [\"systemctl\", \"restart\", \"php8.2-fpm\"]",
                    None,
                );
                None
            }
        }
    }

    /// Refuses a command word or shell line carrying a credential written
    /// inline (it would be in the process list, and a file people copy):
    /// false when it does, reported at the keyword in `span`.
    fn no_credential(&mut self, text: &str, span: Range<usize>, key: &str) -> bool {
        let Some(found) = inline_credential(text) else {
            return true;
        };
        // Point at the keyword where it is written, else at the command.
        let at = self
            .rep
            .source()
            .get(span.clone())
            .and_then(|written| written.to_ascii_lowercase().find(found))
            .map(|i| span.start + i)
            .unwrap_or(span.start);
        self.rep.report(
            at..at,
            key,
            format!("a credential is written into the command ({found:?} and a value)"),
            Some("give it through env = { TOKEN = { env = \"SHOP_TOKEN\" } } (or { file = \"...\" }) and let the command read it from its environment ($TOKEN in a shell = true line, or a wrapper script)".into()),
        );
        false
    }

    /// `webhook = { url | url_env | url_file, method, headers,
    /// body_template, retries }`: a webhook channel's keys plus `retries`.
    fn action_webhook(&mut self, mut value: Spanned<DeValue<'_>>, path: &str) -> Option<Runner> {
        let key = format!("{path}.webhook");
        let span = value.span();
        let retries = match value.get_mut() {
            DeValue::Table(t) => t.remove("retries"),
            _ => None,
        };
        let retries = match retries {
            None => Some(DEFAULT_RETRIES),
            Some(r) => match r.get_ref() {
                DeValue::Integer(n) => n
                    .to_string()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n <= MAX_RETRIES),
                _ => None,
            }
            .or_else(|| {
                self.rep.report(
                    r.span(),
                    &format!("{key}.retries"),
                    format!("retries is a whole number from 0 to {MAX_RETRIES}"),
                    None,
                );
                None
            }),
        };
        let raw = self.deserialize::<RawWebhook>(value, &key, &["retries"])?;
        let spec = self.webhook(raw, &key, span)?;
        Some(Runner::Webhook {
            spec,
            retries: retries?,
        })
    }

    fn measure_trigger(
        &mut self,
        raw: Spanned<RawMeasure>,
        path: &str,
        all: &[&Check],
    ) -> Option<MeasureTrigger> {
        let span = raw.span();
        let raw = raw.into_inner();
        let key = format!("{path}.measure");
        let id = CheckId(raw.check.get_ref().clone());
        let Some(check) = all.iter().find(|c| c.id == id) else {
            let hint = crate::diag::closest(raw.check.get_ref(), all.iter().map(|k| k.id.as_str()))
                .map(|h| format!("did you mean \"{h}\"? (write site/check)"));
            self.rep.report(
                raw.check.span(),
                &format!("{key}.check"),
                format!("no check {:?}", raw.check.get_ref()),
                hint,
            );
            return None;
        };
        let measure = match measure_named(&check.spec, raw.measure.get_ref()) {
            Ok(m) => m,
            Err(known) => {
                let hint =
                    crate::diag::closest(raw.measure.get_ref(), known.iter().map(String::as_str))
                        .map(|n| format!("did you mean {n:?}? "))
                        .unwrap_or_default();
                self.rep.report(
                    raw.measure.span(),
                    &format!("{key}.measure"),
                    format!(
                        "a {} check has no measure {:?}",
                        check.spec.kind(),
                        raw.measure.get_ref()
                    ),
                    Some(format!("{hint}it has: {}", known.join(", "))),
                );
                return None;
            }
        };
        let (above, threshold) = match (&raw.above, &raw.below) {
            (Some(a), None) => (true, a),
            (None, Some(b)) => (false, b),
            _ => {
                self.rep.report(
                    span,
                    &key,
                    "a measure trigger needs exactly one of above and below",
                    Some("scale up and scale down are two actions: one above, one below (lower) threshold".into()),
                );
                return None;
            }
        };
        if !threshold.get_ref().is_finite() {
            self.rep.report(
                threshold.span(),
                &key,
                "the threshold is not a number",
                None,
            );
            return None;
        }
        let for_ = match &raw.for_ {
            Some(d) => self.positive(d, &format!("{key}.for")),
            None => Duration::ZERO,
        };
        Some(MeasureTrigger {
            check: id,
            measure,
            above,
            threshold: *threshold.get_ref(),
            for_,
        })
    }

    /// Scale-up and scale-down actions on the same measure need a gap
    /// between their thresholds (up above down), or every value between
    /// would scale one way and then the other.
    fn hysteresis(&mut self, actions: &[(Action, Option<Range<usize>>)]) {
        for (up, _) in actions {
            let Some(u) = up.triggers.measure.as_ref().filter(|m| m.above) else {
                continue;
            };
            for (down, span) in actions {
                let Some(d) = down.triggers.measure.as_ref().filter(|m| !m.above) else {
                    continue;
                };
                if d.check == u.check
                    && d.measure.key == u.measure.key
                    && u.threshold <= d.threshold
                {
                    self.rep.report(
                        span.clone().unwrap_or(0..0),
                        &format!("action {:?}.measure.below", down.name),
                        format!(
                            "{:?} scales down below {} but {:?} scales up above {}: up must be above down, or the two would take turns",
                            down.name, d.threshold, up.name, u.threshold
                        ),
                        Some("leave a gap between them (hysteresis), e.g. up above 0.8, down below 0.3".into()),
                    );
                }
            }
        }
    }
}

/// Keywords that introduce a credential in a command word or shell line
/// (lowercase; matched without regard to case).
const CREDENTIAL_KEYWORDS: &[&str] = &[
    "authorization:",
    "bearer ",
    "password=",
    "passwd=",
    "token=",
    "secret=",
    "apikey=",
    "api_key=",
    "api-key=",
    "x-api-key:",
    "private-token:",
];

/// The keyword of an obvious credential written inline in `text`: one
/// followed by a value that is not a shell variable (`$TOKEN`, `"$TOKEN"`,
/// `${TOKEN}` come from `env`, which is the point), or a URL with a
/// password (`://user:pass@`).
fn inline_credential(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    for keyword in CREDENTIAL_KEYWORDS {
        for (at, _) in lower.match_indices(keyword) {
            let rest = lower[at + keyword.len()..].trim_start();
            // `Authorization: Bearer x`: the value follows the scheme.
            let rest = match keyword.ends_with(':') {
                true => match rest.split_once(' ') {
                    Some((scheme, value))
                        if scheme.bytes().all(|b| b.is_ascii_alphabetic())
                            && !scheme.is_empty() =>
                    {
                        value.trim_start()
                    }
                    _ => rest,
                },
                false => rest,
            };
            let value = rest.trim_start_matches(['"', '\'']);
            if !value.is_empty() && !value.starts_with('$') {
                return Some(keyword);
            }
        }
    }
    let userinfo = lower.split("://").skip(1).any(|after| {
        let authority = after
            .split(['/', '?', '#', ' ', '"', '\''])
            .next()
            .unwrap_or("");
        authority.rsplit_once('@').is_some_and(|(user, _)| {
            user.split_once(':')
                .is_some_and(|(_, pass)| !pass.is_empty() && !pass.starts_with('$'))
        })
    });
    userinfo.then_some("://user:password@")
}

/// The NAME of an agent's `--action NAME=COMMAND`.
fn agent_action_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}
