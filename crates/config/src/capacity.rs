//! `[site.capacity]`: the load a shop was designed for, and where its
//! measured load comes from. A site that declares one gets the implicit
//! check `<site>/capacity`, which compares the measured load with the
//! design at each run (the judging is `keepup_probe::capacity`).
//!
//! ```toml
//! [site.capacity]
//! requests_per_second = 200
//! transactions_per_hour = 3000
//! warn_at = "80%"      # Degraded from here (default 80%)
//! crit_at = "100%"     # Down from here (default 100%)
//! source = { url = "http://127.0.0.1:9113/metrics",
//!            requests = 'rate(nginx_http_requests_total)',
//!            transactions = 'rate(shop_orders_total)' }
//! # or: source = { agent = "web1", access_log = "shop" }
//! ```
//!
//! A Prometheus source is scraped like a `kind = "prometheus"` check (every
//! HTTP key applies) and its expressions are that kind's language without
//! the comparison; each expression's samples are summed, and each is a
//! rate per second (transactions are compared per hour, ×3600). An agent
//! source is an access log `keepup agent --access-log NAME=PATH` counts.
//!
//! Like the backup and drill checks, the capacity check is informational:
//! a contract's default service leaves it out of the availability.

use serde::Deserialize;
use std::sync::Arc;
use toml::Spanned;
use toml::de::DeValue;

use crate::http::HttpSpec;
use crate::load::{Defaults, Loader};
use crate::prometheus::{Expr, compile_value};
use crate::raw::Dur;
use crate::spec::{Alerting, Check, CheckSpec, PassiveSpec, ProbeSpec};
use keepup_model::CheckId;

/// The short id of the check a `[site.capacity]` adds.
pub const CAPACITY_CHECK: &str = "capacity";

/// Keys of `[site.capacity]`'s `source` that are not HTTP keys.
const SOURCE_KEYS: &[&str] = &[
    "requests",
    "transactions",
    "sessions",
    "agent",
    "access_log",
];

/// A share of the design may be written up to this (1000 %).
const MAX_SHARE: f64 = 1000.0;

/// One measure of load a site may declare a design for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Measure {
    /// `requests_per_second`
    Requests,
    /// `transactions_per_hour`
    Transactions,
    /// `concurrent_sessions`
    Sessions,
}

impl Measure {
    /// Every measure, in the order they are shown.
    pub const ALL: [Measure; 3] = [Measure::Requests, Measure::Transactions, Measure::Sessions];

    /// The configuration key of its design (also its evidence key).
    pub fn key(self) -> &'static str {
        match self {
            Measure::Requests => "requests_per_second",
            Measure::Transactions => "transactions_per_hour",
            Measure::Sessions => "concurrent_sessions",
        }
    }

    /// Its unit for people.
    pub fn unit(self) -> &'static str {
        match self {
            Measure::Requests => "requests/s",
            Measure::Transactions => "transactions/h",
            Measure::Sessions => "sessions",
        }
    }

    /// The key of its expression in a Prometheus source.
    fn source_key(self) -> &'static str {
        match self {
            Measure::Requests => "requests",
            Measure::Transactions => "transactions",
            Measure::Sessions => "sessions",
        }
    }
}

/// A validated `[site.capacity]`.
#[derive(Debug, Clone)]
pub struct CapacitySpec {
    /// The design capacity per declared measure, in its unit (> 0).
    pub design: Vec<(Measure, f64)>,
    /// Degraded from this share of the design, in percent.
    pub warn_at: f64,
    /// Down from this share of the design, in percent (> `warn_at`).
    pub crit_at: f64,
    /// Where the measured load comes from.
    pub source: LoadSource,
    /// The time zones (name as written, zone) whose days the day's peak
    /// is kept for: those the site's contracts read their periods in, so
    /// a report's month holds exactly its local days' peaks; UTC when no
    /// contract names the site.
    pub peak_zones: Vec<(String, jiff::tz::TimeZone)>,
}

impl CapacitySpec {
    /// The design of `measure`, if the site declares one.
    pub fn design_of(&self, measure: Measure) -> Option<f64> {
        self.design
            .iter()
            .find(|(m, _)| *m == measure)
            .map(|(_, v)| *v)
    }
}

/// Where a site's measured load comes from.
#[derive(Debug, Clone)]
pub enum LoadSource {
    /// A Prometheus exposition, scraped at each run.
    Prometheus {
        /// How it is fetched.
        http: Box<HttpSpec>,
        /// One expression per declared measure, its samples summed.
        exprs: Vec<(Measure, LoadExpr)>,
    },
    /// An access log an agent counts (`keepup agent --access-log`).
    AccessLog {
        /// The `[[agent]]`.
        agent: String,
        /// The log's name in the agent's reports.
        log: String,
    },
}

/// An expression of a measured load.
#[derive(Debug, Clone)]
pub struct LoadExpr {
    /// As written.
    pub text: String,
    /// Compiled.
    pub expr: Expr,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCapacity {
    requests_per_second: Option<Spanned<f64>>,
    transactions_per_hour: Option<Spanned<f64>>,
    concurrent_sessions: Option<Spanned<f64>>,
    warn_at: Option<Spanned<String>>,
    crit_at: Option<Spanned<String>>,
    interval: Option<Spanned<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSourceExtras {
    requests: Option<Spanned<String>>,
    transactions: Option<Spanned<String>>,
    sessions: Option<Spanned<String>>,
    agent: Option<Spanned<String>>,
    access_log: Option<Spanned<String>>,
}

impl RawSourceExtras {
    fn expr(&self, m: Measure) -> Option<&Spanned<String>> {
        match m {
            Measure::Requests => self.requests.as_ref(),
            Measure::Transactions => self.transactions.as_ref(),
            Measure::Sessions => self.sessions.as_ref(),
        }
    }
}

/// `"80%"` as 80.0, or why not.
fn share(text: &str) -> Result<f64, String> {
    let number = text
        .trim()
        .strip_suffix('%')
        .ok_or_else(|| format!("{text:?} is not a share; write a percentage such as \"80%\""))?;
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a percentage; write e.g. \"80%\""))?;
    if !(value > 0.0 && value <= MAX_SHARE) {
        return Err(format!(
            "{text:?} is out of range: a share of the design is above 0% and at most {MAX_SHARE}%"
        ));
    }
    Ok(value)
}

impl Loader<'_> {
    /// `[site.capacity]` of site `site` (at `path`): the check it adds.
    pub(crate) fn capacity(
        &mut self,
        value: Spanned<DeValue<'_>>,
        path: &str,
        site: &str,
        site_tags: &[String],
        defaults: &Defaults,
    ) -> Option<Check> {
        let path = format!("{path}.capacity");
        let span = value.span();
        let DeValue::Table(mut table) = value.into_inner() else {
            self.rep.report(
                span,
                &path,
                "must be a table",
                Some("write [site.capacity] with requests_per_second = ... and a source".into()),
            );
            return None;
        };
        let source = table.remove("source");
        let raw: RawCapacity = self.deserialize(
            Spanned::new(span.clone(), DeValue::Table(table)),
            &path,
            &["source"],
        )?;
        let before = self.rep.count();
        let mut design = Vec::new();
        for (m, v) in [
            (Measure::Requests, &raw.requests_per_second),
            (Measure::Transactions, &raw.transactions_per_hour),
            (Measure::Sessions, &raw.concurrent_sessions),
        ] {
            let Some(v) = v else { continue };
            let n = *v.get_ref();
            if !(n.is_finite() && n > 0.0) {
                self.rep.report(
                    v.span(),
                    &format!("{path}.{}", m.key()),
                    format!("a design capacity must be above zero, not {n}"),
                    Some(format!("the {} the shop was built to take", m.unit())),
                );
                continue;
            }
            design.push((m, n));
        }
        if design.is_empty() && self.rep.count() == before {
            self.rep.report(
                span.clone(),
                &path,
                "declares no design capacity",
                Some(
                    "give requests_per_second, transactions_per_hour or concurrent_sessions".into(),
                ),
            );
        }
        let read_share = |this: &mut Self, key: &str, raw: &Option<Spanned<String>>, default| {
            let Some(raw) = raw else {
                return Some(default);
            };
            match share(raw.get_ref()) {
                Ok(v) => Some(v),
                Err(e) => {
                    this.rep
                        .report(raw.span(), &format!("{path}.{key}"), e, None);
                    None
                }
            }
        };
        let warn_at = read_share(self, "warn_at", &raw.warn_at, 80.0);
        let crit_at = read_share(self, "crit_at", &raw.crit_at, 100.0);
        if let (Some(w), Some(c)) = (warn_at, crit_at)
            && w >= c
        {
            let at = raw
                .warn_at
                .as_ref()
                .or(raw.crit_at.as_ref())
                .map_or(span.clone(), Spanned::span);
            self.rep.report(
                at,
                &format!("{path}.warn_at"),
                format!("warn_at ({w}%) must be below crit_at ({c}%)"),
                Some("e.g. warn_at = \"80%\", crit_at = \"100%\"".into()),
            );
        }
        let interval = raw
            .interval
            .as_ref()
            .map(|d| self.positive(d, &format!("{path}.interval")))
            .unwrap_or(defaults.interval);
        let Some(source) = source else {
            self.rep.report(
                span,
                &format!("{path}.source"),
                "missing key `source`: where the measured load comes from",
                Some("source = { url = \"http://…/metrics\", requests = 'rate(http_requests_total)' } or source = { agent = \"web1\", access_log = \"shop\" }".into()),
            );
            return None;
        };
        let source = self.load_source(source, &path, &design, defaults)?;
        if self.rep.count() != before {
            return None;
        }
        let (warn_at, crit_at) = (warn_at?, crit_at?);
        let spec = Box::new(CapacitySpec {
            design,
            warn_at,
            crit_at,
            source,
            // Set from the contracts once they are read (`peak_zones`).
            peak_zones: vec![("UTC".into(), jiff::tz::TimeZone::UTC)],
        });
        let spec = if matches!(spec.source, LoadSource::AccessLog { .. }) {
            CheckSpec::Passive(PassiveSpec::Capacity(spec))
        } else {
            CheckSpec::Probe(ProbeSpec::Capacity(spec))
        };
        Some(Check {
            id: CheckId::new(site, CAPACITY_CHECK),
            short_id: CAPACITY_CHECK.into(),
            name: "Load against design capacity".into(),
            interval,
            timeout: defaults.timeout.min(interval),
            tags: vec![CAPACITY_CHECK.into()],
            site_tags: site_tags.to_vec(),
            depends_on: Vec::new(),
            alerting: Alerting {
                // Nearing the design is the warning this check exists for.
                incident_on_degraded: true,
                ..Alerting::default()
            },
            forecasts: Vec::new(),
            spec,
        })
    }

    fn load_source(
        &mut self,
        value: Spanned<DeValue<'_>>,
        path: &str,
        design: &[(Measure, f64)],
        defaults: &Defaults,
    ) -> Option<LoadSource> {
        let path = format!("{path}.source");
        let span = value.span();
        if !matches!(value.get_ref(), DeValue::Table(_)) {
            self.rep.report(span, &path, "must be a table", None);
            return None;
        }
        let (extra, rest) = Self::split_table(value, SOURCE_KEYS);
        let rest_empty = matches!(rest.get_ref(), DeValue::Table(t) if t.is_empty());
        let extra: RawSourceExtras = self.deserialize(extra, &path, &[])?;
        if let Some(agent) = &extra.agent {
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
            }
            let mut ok = true;
            if !rest_empty {
                self.rep.report(
                    span.clone(),
                    &path,
                    "an agent source takes agent and access_log only; a url belongs to a Prometheus source",
                    None,
                );
                ok = false;
            }
            for m in Measure::ALL {
                if let Some(e) = extra.expr(m) {
                    self.rep.report(
                        e.span(),
                        &format!("{path}.{}", m.source_key()),
                        "an access log is counted, not queried: expressions belong to a Prometheus source",
                        None,
                    );
                    ok = false;
                }
            }
            if design.iter().any(|(m, _)| *m == Measure::Sessions) {
                self.rep.report(
                    span.clone(),
                    &format!("{path}.agent"),
                    "concurrent sessions cannot be counted from an access log",
                    Some(
                        "measure them with a Prometheus source, or leave concurrent_sessions out"
                            .into(),
                    ),
                );
                ok = false;
            }
            let Some(log) = &extra.access_log else {
                self.rep.report(
                    span,
                    &format!("{path}.access_log"),
                    "missing key `access_log`: the name the agent counts the log under (keepup agent --access-log NAME=PATH)",
                    None,
                );
                return None;
            };
            if log.get_ref().is_empty() {
                self.rep.report(
                    log.span(),
                    &format!("{path}.access_log"),
                    "must not be empty",
                    None,
                );
                ok = false;
            }
            return ok.then(|| LoadSource::AccessLog {
                agent: agent.get_ref().clone(),
                log: log.get_ref().clone(),
            });
        }
        if let Some(log) = &extra.access_log {
            self.rep.report(
                log.span(),
                &format!("{path}.access_log"),
                "an access log is counted by an agent: give agent = \"NAME\" too",
                None,
            );
            return None;
        }
        if rest_empty {
            self.rep.report(
                span,
                &path,
                "names no source: give url (a Prometheus exposition) or agent and access_log",
                None,
            );
            return None;
        }
        let http = self.scrape_http(rest, &path, defaults, SOURCE_KEYS);
        let mut exprs = Vec::new();
        let mut ok = true;
        for m in Measure::ALL {
            let declared = design.iter().any(|(d, _)| *d == m);
            match (extra.expr(m), declared) {
                (Some(text), true) => match compile_value(text.get_ref(), "a load") {
                    Ok(expr) => exprs.push((
                        m,
                        LoadExpr {
                            text: text.get_ref().clone(),
                            expr,
                        },
                    )),
                    Err(e) => {
                        self.expr_error(text, &e, &format!("{path}.{}", m.source_key()));
                        ok = false;
                    }
                },
                (Some(text), false) => {
                    self.rep.report(
                        text.span(),
                        &format!("{path}.{}", m.source_key()),
                        format!(
                            "no design to compare it with: [site.capacity] has no {}",
                            m.key()
                        ),
                        None,
                    );
                    ok = false;
                }
                (None, true) => {
                    self.rep.report(
                        span.clone(),
                        &format!("{path}.{}", m.source_key()),
                        format!(
                            "missing key `{}`: the expression that measures {}",
                            m.source_key(),
                            m.key()
                        ),
                        Some(match m {
                            Measure::Sessions => "e.g. sessions = 'shop_sessions_active'".into(),
                            _ => format!("e.g. {} = 'rate(http_requests_total)' (per second; samples summed)", m.source_key()),
                        }),
                    );
                    ok = false;
                }
                (None, false) => {}
            }
        }
        let http = http?;
        ok.then(|| LoadSource::Prometheus {
            http: Box::new(http),
            exprs,
        })
    }
}

/// Adds a site's capacity check unless a configured check holds its id
/// (then the id, for the caller to report).
pub(crate) fn add_capacity_check(checks: &mut Vec<Arc<Check>>, check: Check) -> Option<CheckId> {
    if checks.iter().any(|c| c.id == check.id) {
        return Some(check.id);
    }
    checks.push(Arc::new(check));
    None
}

/// Gives each site's capacity check the time zones of the contracts that
/// name the site (see [`CapacitySpec::peak_zones`]); contracts are read
/// after the sites.
pub(crate) fn peak_zones(sites: &mut [crate::spec::Site], contracts: &[crate::contract::Contract]) {
    for site in sites {
        let mut zones: Vec<(String, jiff::tz::TimeZone)> = Vec::new();
        for c in contracts.iter().filter(|c| c.site == site.id) {
            if !zones.iter().any(|(name, _)| *name == c.time_zone_name) {
                zones.push((c.time_zone_name.clone(), c.time_zone.clone()));
            }
        }
        if zones.is_empty() {
            continue;
        }
        for check in &mut site.checks {
            let is_capacity = matches!(
                check.spec,
                CheckSpec::Probe(ProbeSpec::Capacity(_))
                    | CheckSpec::Passive(PassiveSpec::Capacity(_))
            );
            if !is_capacity {
                continue;
            }
            if let CheckSpec::Probe(ProbeSpec::Capacity(spec))
            | CheckSpec::Passive(PassiveSpec::Capacity(spec)) = &mut Arc::make_mut(check).spec
            {
                spec.peak_zones = zones.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_percentages_above_zero() {
        assert_eq!(share("80%"), Ok(80.0));
        assert_eq!(share(" 120 %"), Ok(120.0));
        assert!(share("80").unwrap_err().contains("percentage"));
        assert!(share("0%").unwrap_err().contains("out of range"));
        assert!(share("-5%").unwrap_err().contains("out of range"));
        assert!(share("x%").is_err());
    }
}
