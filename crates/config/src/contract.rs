//! `[[contract]]`: what a hosting contract promises for one service of a
//! site (availability target, measurement period, service hours, repair
//! times, credits), validated at load so that the SLA accounting
//! (`keepup_sla`) never meets an impossible contract.
//!
//! The service is a boolean over the site's checks, parsed here once:
//!
//! ```text
//! expr := term ( "|" term )*        down when any term is down
//! term := atom ( "&" atom )*        down only when every atom is down
//! atom := CHECK | any(TAG) | all(TAG) | "(" expr ")"
//! ```
//!
//! `CHECK` is a check id of the contract's site, `any(web)` the checks of
//! the site tagged `web` of which one being down is enough, `all(web)`
//! those that are redundant (down only when all are). Without `down_when`
//! the service is every check of the site that is not informational
//! ([`crate::CheckSpec::is_informational`]), down when any of them is.

use crate::channels::{Channel, ChannelSpec};
use crate::load::Loader;
use crate::raw::Dur;
use crate::spec::{Check, Site};
use jiff::civil::{Date, Weekday};
use keepup_model::CheckId;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::fmt;
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;
use toml::de::DeValue;

/// One `[[contract]]`.
#[derive(Debug, Clone)]
pub struct Contract {
    /// Id, unique among contracts.
    pub id: String,
    /// Display name (defaults to the id).
    pub name: String,
    /// The site whose checks make up the service.
    pub site: String,
    /// When the service is down, in terms of its checks.
    pub service: ServiceExpr,
    /// Promised availability in percent, `0 < target <= 100`.
    pub target: f64,
    /// The measurement period.
    pub period: Period,
    /// The zone periods, service hours and holidays are read in.
    pub time_zone: jiff::tz::TimeZone,
    /// Its name as written (`UTC` when not written).
    pub time_zone_name: String,
    /// When the service is promised.
    pub service_hours: ServiceHours,
    /// How much of a Degraded minute counts as down (0 = up, 1 = down).
    pub degraded_weight: f64,
    /// How time without data counts.
    pub unknown: UnknownPolicy,
    /// Maintenance excluded per period; beyond it maintenance counts as
    /// downtime. `None`: all maintenance is excluded.
    pub maintenance_allowance: Option<Duration>,
    /// Maximum repair time (detection to resolution) per severity.
    pub repair_time: Vec<(Severity, RepairLimit)>,
    /// Credits owed when the promise is broken.
    pub credit: Credit,
    /// Error-budget burn-rate alerts of the check `sla-<id>` (empty: no
    /// such check).
    pub burn: Vec<BurnRule>,
    /// How long before an open incident's repair deadline the check
    /// `sla-<id>-repair` warns (default 1 h).
    pub repair_warning: Duration,
    /// The e-mail channels the daemon sends each closed period's report to
    /// (empty: the report is kept, not sent).
    pub report_to: Vec<String>,
    /// How long after its period closed the report is built, so results of
    /// the period's last minutes are in (default 1 h).
    pub report_delay: Duration,
}

/// `[[contract.burn]]`: alert when the error budget burns at `factor` times
/// the sustainable rate over both the `long` and the `short` window (the
/// short one makes the alert stop soon after the burning does).
#[derive(Debug, Clone, PartialEq)]
pub struct BurnRule {
    /// The long window.
    pub long: Duration,
    /// The short window, shorter than `long`.
    pub short: Duration,
    /// The burn rate both windows must reach: 1 spends exactly the
    /// period's budget over the period.
    pub factor: f64,
    /// Down (page) or Degraded (ticket).
    pub severity: BurnSeverity,
}

/// How loud a burn alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurnSeverity {
    /// The burn check goes Down.
    Page,
    /// The burn check goes Degraded.
    Ticket,
}

impl BurnSeverity {
    /// The name as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BurnSeverity::Page => "page",
            BurnSeverity::Ticket => "ticket",
        }
    }
}

impl BurnRule {
    /// The SRE workbook's multi-window, multi-burn-rate alerts for a 30-day
    /// budget: page at 14.4× over 1 h and 5 m or 6× over 6 h and 30 m,
    /// ticket at 3× over 1 d and 2 h or 1× over 3 d and 6 h.
    pub fn defaults() -> Vec<BurnRule> {
        let rule = |long_min: u64, short_min: u64, factor: f64, severity| BurnRule {
            long: Duration::from_secs(long_min * 60),
            short: Duration::from_secs(short_min * 60),
            factor,
            severity,
        };
        vec![
            rule(60, 5, 14.4, BurnSeverity::Page),
            rule(360, 30, 6.0, BurnSeverity::Page),
            rule(1440, 120, 3.0, BurnSeverity::Ticket),
            rule(4320, 360, 1.0, BurnSeverity::Ticket),
        ]
    }
}

/// When a service is down, as a boolean over checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceExpr {
    /// One check.
    Check(CheckId),
    /// Down when any part is down.
    Any(Vec<ServiceExpr>),
    /// Down only when every part is down (redundant components).
    All(Vec<ServiceExpr>),
}

impl ServiceExpr {
    /// Every check the expression reads, each once, in first-seen order.
    pub fn checks(&self) -> Vec<&CheckId> {
        let mut out: Vec<&CheckId> = Vec::new();
        self.collect_checks(&mut out);
        out
    }

    fn collect_checks<'a>(&'a self, out: &mut Vec<&'a CheckId>) {
        match self {
            ServiceExpr::Check(c) => {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
            ServiceExpr::Any(parts) | ServiceExpr::All(parts) => {
                for p in parts {
                    p.collect_checks(out);
                }
            }
        }
    }
}

impl fmt::Display for ServiceExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (parts, sep) = match self {
            ServiceExpr::Check(c) => return f.write_str(c.as_str()),
            ServiceExpr::Any(p) => (p, " | "),
            ServiceExpr::All(p) => (p, " & "),
        };
        f.write_str("(")?;
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                f.write_str(sep)?;
            }
            write!(f, "{p}")?;
        }
        f.write_str(")")
    }
}

/// The measurement period: calendar months or quarters in the contract's
/// zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// A calendar month.
    Month,
    /// January–March, April–June, July–September, October–December.
    Quarter,
}

impl Period {
    /// Months in one period (the fee of a period is this many monthly fees).
    pub fn months(self) -> u32 {
        match self {
            Period::Month => 1,
            Period::Quarter => 3,
        }
    }
}

/// When the service is promised.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceHours {
    /// Always.
    Always,
    /// Weekly hours in the contract's zone, except on holidays.
    Weekly {
        /// The rules; a moment is service time when one of them covers it.
        rules: Vec<WeeklyHours>,
        /// Whole local days without service.
        holidays: BTreeSet<Date>,
    },
}

/// `mon-fri 08:00-18:00`: the days it applies to and a span of the local
/// day in minutes since midnight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeeklyHours {
    /// Days it applies to, Monday first.
    pub days: [bool; 7],
    /// Start, minutes after local midnight.
    pub start_minute: u16,
    /// End (exclusive), minutes after local midnight, at most 1440.
    pub end_minute: u16,
}

impl WeeklyHours {
    /// Whether it applies on `day`.
    pub fn applies_on(&self, day: Weekday) -> bool {
        self.days[usize::from(day.to_monday_zero_offset().unsigned_abs())]
    }
}

impl ServiceHours {
    /// The longest service day in minutes: the length of a business day.
    pub fn longest_day_minutes(&self) -> u32 {
        match self {
            ServiceHours::Always => 24 * 60,
            ServiceHours::Weekly { rules, .. } => (0..7)
                .map(|d| {
                    // Rules may overlap (`mon-fri 08:00-18:00` and
                    // `mon 12:00-20:00`): a minute covered twice is one
                    // minute of service.
                    let mut spans: Vec<(u16, u16)> = rules
                        .iter()
                        .filter(|r| r.days[d])
                        .map(|r| (r.start_minute, r.end_minute))
                        .collect();
                    spans.sort_unstable();
                    let (mut total, mut covered_to) = (0u32, 0u16);
                    for (start, end) in spans {
                        let start = start.max(covered_to);
                        if end > start {
                            total += u32::from(end - start);
                            covered_to = end;
                        }
                    }
                    total
                })
                .max()
                .unwrap_or(0),
        }
    }
}

/// How time without data (no results, keepup not running, its own network
/// down) counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownPolicy {
    /// Left out of the measured time, shown separately (default).
    Exclude,
    /// Counted as up.
    Up,
    /// Counted as down.
    Down,
}

/// Incident severities that repair times are promised for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The service is down.
    Critical,
    /// The service is impaired.
    Major,
    /// Everything else.
    Minor,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 3] = [Severity::Critical, Severity::Major, Severity::Minor];

    /// The name as written in `repair_time`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Major => "major",
            Severity::Minor => "minor",
        }
    }
}

/// A maximum repair time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairLimit {
    /// The allowed time.
    pub limit: Duration,
    /// Counted only within service hours (`"3 business days"`) instead of
    /// wall-clock time (`"4h"`).
    pub business: bool,
    /// As written, for reports.
    pub written: String,
}

/// Credits: a share of the period's fee by availability tier, plus a fixed
/// amount per repair-time breach, capped.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    /// Tiers, highest `below` first; the last one that applies counts.
    pub tiers: Vec<CreditTier>,
    /// Amount credited per repair-time breach.
    pub per_repair_breach: f64,
    /// At most this percentage of the period's fee (default 100).
    pub cap_percent: f64,
    /// The monthly fee.
    pub monthly_fee: f64,
    /// Its currency, e.g. `EUR`.
    pub currency: String,
}

/// `[[contract.credit]]`: availability below `below` % credits `percent` %
/// of the period's fee.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CreditTier {
    /// Availability threshold in percent.
    pub below: f64,
    /// Credit in percent of the period's fee.
    pub percent: f64,
}

/// `degraded = "up" | "down" | 0.5`
#[derive(Debug, Clone, Copy, PartialEq)]
struct Weight(f64);

impl<'de> Deserialize<'de> for Weight {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Weight;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"up\", \"down\" or a weight between 0 and 1 such as 0.5")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Weight, E> {
                match v {
                    "up" => Ok(Weight(0.0)),
                    "down" => Ok(Weight(1.0)),
                    _ => Err(E::custom(format!(
                        "expected \"up\", \"down\" or a weight between 0 and 1, found {v:?}"
                    ))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Weight, E> {
                if (0.0..=1.0).contains(&v) {
                    Ok(Weight(v))
                } else {
                    Err(E::custom(format!(
                        "a weight must be between 0 and 1, found {v}"
                    )))
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Weight, E> {
                self.visit_f64(v as f64)
            }
        }
        d.deserialize_any(V)
    }
}

/// A repair time as written: `"4h"`, `"3 business days"`, or seconds.
#[derive(Debug, Clone, PartialEq)]
struct RawRepair(String);

impl<'de> Deserialize<'de> for RawRepair {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = RawRepair;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration such as \"4h\" or \"3 business days\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawRepair, E> {
                Ok(RawRepair(v.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawRepair, E> {
                Ok(RawRepair(format!("{v}s")))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    id: Spanned<String>,
    name: Option<String>,
    site: Spanned<String>,
    down_when: Option<Spanned<String>>,
    target: Spanned<f64>,
    period: Option<Spanned<String>>,
    time_zone: Option<Spanned<String>>,
    service_hours: Option<Spanned<String>>,
    #[serde(default)]
    holidays: Vec<Spanned<String>>,
    degraded: Option<Weight>,
    unknown: Option<Spanned<String>>,
    maintenance_allowance: Option<Dur>,
    #[serde(default)]
    repair_time: RawRepairTimes,
    #[serde(default)]
    credit: Vec<Spanned<RawTier>>,
    repair_breach_credit: Option<Spanned<f64>>,
    credit_cap: Option<Spanned<f64>>,
    monthly_fee: Option<Spanned<f64>>,
    currency: Option<String>,
    burn: Option<Vec<Spanned<RawBurn>>>,
    repair_warning: Option<Spanned<Dur>>,
    #[serde(default)]
    report_to: Vec<Spanned<String>>,
    report_delay: Option<Spanned<Dur>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBurn {
    long: Dur,
    short: Dur,
    factor: f64,
    severity: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepairTimes {
    critical: Option<Spanned<RawRepair>>,
    major: Option<Spanned<RawRepair>>,
    minor: Option<Spanned<RawRepair>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    below: f64,
    percent: f64,
}

impl Loader<'_> {
    /// Validates `[[contract]]` against the configured sites.
    pub(crate) fn contracts(
        &mut self,
        value: Spanned<DeValue<'_>>,
        sites: &[Site],
        channels: &[Channel],
    ) -> Vec<Contract> {
        let items = self.array_of_tables_with_ids(
            value,
            "contract",
            "write each contract as [[contract]]",
            "contract",
        );
        let mut out = Vec::new();
        for (path, item) in items {
            let span = item.span();
            let Some(raw) = self.deserialize::<RawContract>(item, &path, &[]) else {
                continue;
            };
            if let Some(c) = self.one_contract(raw, &path, span, sites, channels) {
                out.push(c);
            }
        }
        out
    }

    fn one_contract(
        &mut self,
        raw: RawContract,
        path: &str,
        span: Range<usize>,
        sites: &[Site],
        channels: &[Channel],
    ) -> Option<Contract> {
        let mut ok = true;
        let Some(site) = sites.iter().find(|s| &s.id == raw.site.get_ref()) else {
            let hint =
                crate::diag::closest(raw.site.get_ref(), sites.iter().map(|s| s.id.as_str()))
                    .map(|h| format!("did you mean \"{h}\"?"));
            self.rep.report(
                raw.site.span(),
                &format!("{path}.site"),
                format!("no site {:?}", raw.site.get_ref()),
                hint,
            );
            return None;
        };
        let checks: Vec<&Check> = site.checks.iter().map(|c| &**c).collect();
        let service = match &raw.down_when {
            Some(text) => {
                match parse_service(text.get_ref(), &checks) {
                    Ok(e) => Some(e),
                    Err(e) => {
                        // Point at the offending part inside the string
                        // (after its opening quote).
                        let at = text.span().start + 1 + e.offset;
                        self.rep.report(
                            at..at + 1,
                            &format!("{path}.down_when"),
                            e.message,
                            e.hint,
                        );
                        None
                    }
                }
            }
            None => {
                let parts: Vec<ServiceExpr> = checks
                    .iter()
                    .filter(|c| !c.spec.is_informational())
                    .map(|c| ServiceExpr::Check(c.id.clone()))
                    .collect();
                if parts.is_empty() {
                    self.rep.report(
                        span.clone(),
                        path,
                        format!("site {:?} has no check that measures availability (all are informational)", site.id),
                        Some("name the service's checks in `down_when`, e.g. \"home | checkout\"".into()),
                    );
                    None
                } else {
                    Some(ServiceExpr::Any(parts))
                }
            }
        };
        let target = *raw.target.get_ref();
        if !(target > 0.0 && target <= 100.0) {
            self.rep.report(
                raw.target.span(),
                &format!("{path}.target"),
                format!("the availability target must be above 0 and at most 100 (percent), found {target}"),
                Some("e.g. target = 99.9".into()),
            );
            ok = false;
        }
        let period = match raw
            .period
            .as_ref()
            .map(|p| (p.get_ref().as_str(), p.span()))
        {
            None | Some(("month", _)) => Period::Month,
            Some(("quarter", _)) => Period::Quarter,
            Some((other, at)) => {
                self.rep.report(
                    at,
                    &format!("{path}.period"),
                    format!("unknown period {other:?}"),
                    Some("write \"month\" or \"quarter\"".into()),
                );
                ok = false;
                Period::Month
            }
        };
        let (time_zone, time_zone_name) = match &raw.time_zone {
            None => (jiff::tz::TimeZone::UTC, "UTC".to_owned()),
            Some(name) => (
                self.timezone(name, &format!("{path}.time_zone"))?,
                name.get_ref().clone(),
            ),
        };
        let mut holidays = BTreeSet::new();
        for h in &raw.holidays {
            match h.get_ref().parse::<Date>() {
                Ok(d) => {
                    holidays.insert(d);
                }
                Err(_) => {
                    self.rep.report(
                        h.span(),
                        &format!("{path}.holidays"),
                        format!("invalid date {:?}", h.get_ref()),
                        Some("write YYYY-MM-DD, e.g. \"2026-12-25\"".into()),
                    );
                    ok = false;
                }
            }
        }
        let service_hours = match &raw.service_hours {
            None => ServiceHours::Always,
            Some(s) if s.get_ref().trim() == "24x7" => ServiceHours::Always,
            Some(s) => match parse_weekly(s.get_ref()) {
                Ok(rules) => ServiceHours::Weekly {
                    rules,
                    holidays: holidays.clone(),
                },
                Err(message) => {
                    self.rep.report(
                        s.span(),
                        &format!("{path}.service_hours"),
                        message,
                        Some("write \"24x7\" or weekly hours such as \"mon-fri 08:00-18:00, sat 09:00-13:00\"".into()),
                    );
                    return None;
                }
            },
        };
        if service_hours == ServiceHours::Always && !raw.holidays.is_empty() {
            self.rep.report(
                raw.holidays[0].span(),
                &format!("{path}.holidays"),
                "holidays only apply to weekly service hours; this contract's service is 24x7",
                Some("remove `holidays` or write weekly `service_hours`".into()),
            );
            ok = false;
        }
        let unknown = match raw
            .unknown
            .as_ref()
            .map(|u| (u.get_ref().as_str(), u.span()))
        {
            None | Some(("exclude", _)) => UnknownPolicy::Exclude,
            Some(("up", _)) => UnknownPolicy::Up,
            Some(("down", _)) => UnknownPolicy::Down,
            Some((other, at)) => {
                self.rep.report(
                    at,
                    &format!("{path}.unknown"),
                    format!("unknown policy {other:?}"),
                    Some("write \"exclude\" (default), \"up\" or \"down\"".into()),
                );
                ok = false;
                UnknownPolicy::Exclude
            }
        };
        let mut repair_time = Vec::new();
        for (severity, written) in [
            (Severity::Critical, &raw.repair_time.critical),
            (Severity::Major, &raw.repair_time.major),
            (Severity::Minor, &raw.repair_time.minor),
        ] {
            let Some(written) = written else { continue };
            let key = format!("{path}.repair_time.{}", severity.as_str());
            match parse_repair(&written.get_ref().0, &service_hours) {
                Ok(limit) => repair_time.push((severity, limit)),
                Err(message) => {
                    self.rep.report(
                        written.span(),
                        &key,
                        message,
                        Some("e.g. \"4h\", \"8 business hours\" or \"3 business days\"".into()),
                    );
                    ok = false;
                }
            }
        }
        let credit = self.credit(&raw, path, &mut ok);
        let burn = self.burn_rules(&raw, path, &mut ok);
        let repair_warning = match &raw.repair_warning {
            Some(d) => self.positive(d, &format!("{path}.repair_warning")),
            None => Duration::from_secs(3600),
        };
        let report_to = self.report_to(&raw.report_to, channels, path, &mut ok);
        let report_delay = match &raw.report_delay {
            Some(d) => d.get_ref().0,
            None => Duration::from_secs(3600),
        };
        let service = service?;
        let id = raw.id.into_inner();
        ok.then(|| Contract {
            name: raw.name.unwrap_or_else(|| id.clone()),
            id,
            site: site.id.clone(),
            service,
            target,
            period,
            time_zone,
            time_zone_name,
            service_hours,
            degraded_weight: raw.degraded.map_or(1.0, |w| w.0),
            unknown,
            maintenance_allowance: raw.maintenance_allowance.map(|d| d.0),
            repair_time,
            credit,
            burn,
            repair_warning,
            report_to,
            report_delay,
        })
    }

    /// `report_to`: configured e-mail channels, each named once.
    fn report_to(
        &mut self,
        written: &[Spanned<String>],
        channels: &[Channel],
        path: &str,
        ok: &mut bool,
    ) -> Vec<String> {
        let key = format!("{path}.report_to");
        let mut out: Vec<String> = Vec::new();
        for name in written {
            let id = name.get_ref();
            match channels.iter().find(|c| &c.id == id) {
                None => {
                    let hint = crate::diag::closest(id, channels.iter().map(|c| c.id.as_str()))
                        .map(|h| format!("did you mean \"{h}\"?"))
                        .or_else(|| Some("name the id of an e-mail [[channel]]".into()));
                    self.rep
                        .report(name.span(), &key, format!("no channel {id:?}"), hint);
                    *ok = false;
                }
                Some(c) if !matches!(c.spec, ChannelSpec::Email(_)) => {
                    self.rep.report(
                        name.span(),
                        &key,
                        format!(
                            "channel {id:?} is a {} channel; reports are sent by e-mail only",
                            c.kind()
                        ),
                        Some("name an e-mail channel (kind = \"email\")".into()),
                    );
                    *ok = false;
                }
                Some(_) if out.contains(id) => {
                    self.rep.report(
                        name.span(),
                        &key,
                        format!("channel {id:?} is named twice"),
                        None,
                    );
                    *ok = false;
                }
                Some(_) => out.push(id.clone()),
            }
        }
        out
    }

    /// `[[contract.burn]]`, or the defaults when none is written.
    fn burn_rules(&mut self, raw: &RawContract, path: &str, ok: &mut bool) -> Vec<BurnRule> {
        let Some(written) = &raw.burn else {
            return BurnRule::defaults();
        };
        let mut rules = Vec::new();
        for (i, b) in written.iter().enumerate() {
            let r = b.get_ref();
            let severity = match r.severity.as_str() {
                "page" => Some(BurnSeverity::Page),
                "ticket" => Some(BurnSeverity::Ticket),
                _ => None,
            };
            let problem = if r.short.0.is_zero() || r.long.0.is_zero() {
                Some("the windows must be longer than zero".to_owned())
            } else if r.short.0 >= r.long.0 {
                Some(format!(
                    "the short window ({}) must be shorter than the long one ({})",
                    humantime::format_duration(r.short.0),
                    humantime::format_duration(r.long.0)
                ))
            } else if !(r.factor.is_finite() && r.factor > 0.0) {
                Some(format!(
                    "the burn factor must be above 0, found {}",
                    r.factor
                ))
            } else if severity.is_none() {
                Some(format!(
                    "unknown severity {:?}; write \"page\" or \"ticket\"",
                    r.severity
                ))
            } else {
                None
            };
            match (problem, severity) {
                (None, Some(severity)) => rules.push(BurnRule {
                    long: r.long.0,
                    short: r.short.0,
                    factor: r.factor,
                    severity,
                }),
                (problem, _) => {
                    self.rep.report(
                        b.span(),
                        &format!("{path}.burn[{i}]"),
                        problem.unwrap_or_default(),
                        Some("e.g. { long = \"1h\", short = \"5m\", factor = 14.4, severity = \"page\" }".into()),
                    );
                    *ok = false;
                }
            }
        }
        rules
    }

    /// The credit tiers, fee and cap, with the tiers' order checked.
    fn credit(&mut self, raw: &RawContract, path: &str, ok: &mut bool) -> Credit {
        let mut tiers: Vec<CreditTier> = Vec::new();
        for (i, t) in raw.credit.iter().enumerate() {
            let key = format!("{path}.credit[{i}]");
            let tier = t.get_ref();
            let problem = if !(tier.below > 0.0 && tier.below <= 100.0) {
                Some(format!(
                    "`below` must be above 0 and at most 100 (percent), found {}",
                    tier.below
                ))
            } else if !(tier.percent > 0.0 && tier.percent <= 100.0) {
                Some(format!(
                    "`percent` must be above 0 and at most 100, found {}",
                    tier.percent
                ))
            } else if let Some(prev) = tiers.last() {
                (tier.below >= prev.below || tier.percent <= prev.percent).then(|| {
                    format!(
                        "tiers are out of order: below {} → {} % follows below {} → {} %",
                        tier.below, tier.percent, prev.below, prev.percent
                    )
                })
            } else {
                None
            };
            match problem {
                Some(message) => {
                    self.rep.report(
                        t.span(),
                        &key,
                        message,
                        Some("write the tiers from the highest `below` down, each with a larger `percent`".into()),
                    );
                    *ok = false;
                }
                None => tiers.push(CreditTier {
                    below: tier.below,
                    percent: tier.percent,
                }),
            }
        }
        let mut non_negative =
            |v: &Option<Spanned<f64>>, key: &str, max: Option<f64>| -> Option<f64> {
                let v = v.as_ref()?;
                let x = *v.get_ref();
                // TOML has `nan` and `inf`; neither is an amount of money.
                if !x.is_finite() || x < 0.0 || max.is_some_and(|m| x > m) {
                    let range = match max {
                        Some(m) => format!("a number between 0 and {m}"),
                        None => "a finite number, 0 or more".into(),
                    };
                    self.rep.report(
                        v.span(),
                        &format!("{path}.{key}"),
                        format!("must be {range}, found {x}"),
                        None,
                    );
                    *ok = false;
                }
                Some(x)
            };
        let per_repair_breach =
            non_negative(&raw.repair_breach_credit, "repair_breach_credit", None);
        let cap_percent = non_negative(&raw.credit_cap, "credit_cap", Some(100.0));
        let monthly_fee = non_negative(&raw.monthly_fee, "monthly_fee", None);
        if monthly_fee.is_none() && (!tiers.is_empty() || per_repair_breach.is_some()) {
            let at = raw
                .credit
                .first()
                .map(|t| t.span())
                .or(raw.repair_breach_credit.as_ref().map(|c| c.span()))
                .unwrap_or(0..0);
            self.rep.report(
                at,
                &format!("{path}.monthly_fee"),
                "credits need the fee they are a share of",
                Some("add `monthly_fee` and `currency`".into()),
            );
            *ok = false;
        }
        Credit {
            tiers,
            per_repair_breach: per_repair_breach.unwrap_or(0.0),
            cap_percent: cap_percent.unwrap_or(100.0),
            monthly_fee: monthly_fee.unwrap_or(0.0),
            currency: raw.currency.clone().unwrap_or_default(),
        }
    }
}

/// Adds each contract's checks to its site: `sla-<id>` (error-budget burn,
/// when the contract has burn rules) and `sla-<id>-repair` (repair
/// deadlines). They are added after the contracts' services are parsed, so
/// no service can read them: their incidents are not outages. A check id
/// already taken by a configured check is left to it and returned.
pub(crate) fn add_sla_checks(sites: &mut [Site], contracts: &[Contract]) -> Vec<CheckId> {
    let mut clashes = Vec::new();
    for contract in contracts {
        let Some(site) = sites.iter_mut().find(|s| s.id == contract.site) else {
            continue;
        };
        let mut jobs = Vec::new();
        if !contract.burn.is_empty() {
            jobs.push(SlaJob::Burn);
        }
        if !contract.repair_time.is_empty() {
            jobs.push(SlaJob::Repair);
        }
        for job in jobs {
            let id = sla_check_id(contract, job);
            if site.checks.iter().any(|c| c.id == id) {
                clashes.push(id);
                continue;
            }
            let interval = Duration::from_secs(60);
            site.checks.push(std::sync::Arc::new(Check {
                short_id: id
                    .as_str()
                    .split_once('/')
                    .map_or("", |(_, c)| c)
                    .to_owned(),
                id,
                name: format!("SLA {}: {}", contract.name, job.words()),
                interval,
                timeout: Duration::from_secs(30),
                tags: vec!["sla".into()],
                site_tags: site.tags.clone(),
                depends_on: Vec::new(),
                alerting: crate::spec::Alerting {
                    // Computed from recorded history: a second look would
                    // read the same history.
                    failure_threshold: 1,
                    retry_interval: interval,
                    // A ticket (Degraded) is an incident to route, not a
                    // colour.
                    incident_on_degraded: true,
                    ..crate::spec::Alerting::default()
                },
                forecasts: Vec::new(),
                spec: crate::spec::CheckSpec::Passive(crate::spec::PassiveSpec::Sla(
                    SlaCheckSpec {
                        contract: contract.id.clone(),
                        job,
                    },
                )),
            }));
        }
    }
    clashes
}

/// What an SLA check of a contract reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlaJob {
    /// `sla-<id>`: the error budget's burn rate.
    Burn,
    /// `sla-<id>-repair`: open incidents nearing their repair deadline.
    Repair,
}

impl SlaJob {
    fn suffix(self) -> &'static str {
        match self {
            SlaJob::Burn => "",
            SlaJob::Repair => "-repair",
        }
    }

    fn words(self) -> &'static str {
        match self {
            SlaJob::Burn => "error budget burn",
            SlaJob::Repair => "repair deadlines",
        }
    }
}

/// `CheckSpec::Passive(PassiveSpec::Sla)`: a check about contract `contract`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaCheckSpec {
    /// The contract's id.
    pub contract: String,
    /// What is reported.
    pub job: SlaJob,
}

/// The check id that shows `job` of `contract`.
pub fn sla_check_id(contract: &Contract, job: SlaJob) -> CheckId {
    CheckId::new(
        &contract.site,
        &format!("sla-{}{}", contract.id, job.suffix()),
    )
}

/// A mistake in `down_when`, at a byte offset inside the string.
#[derive(Debug)]
struct ExprError {
    offset: usize,
    message: String,
    hint: Option<String>,
}

/// Parses `down_when` against the site's checks (see the module doc).
fn parse_service(text: &str, checks: &[&Check]) -> Result<ServiceExpr, ExprError> {
    let mut p = ExprParser {
        text,
        pos: 0,
        checks,
    };
    let e = p.expr()?;
    p.skip_space();
    if p.pos < text.len() {
        return Err(p.error(format!("unexpected {:?}", &text[p.pos..]), None));
    }
    Ok(e)
}

struct ExprParser<'a> {
    text: &'a str,
    pos: usize,
    checks: &'a [&'a Check],
}

impl ExprParser<'_> {
    fn error(&self, message: String, hint: Option<String>) -> ExprError {
        ExprError {
            offset: self.pos,
            message,
            hint,
        }
    }

    fn skip_space(&mut self) {
        while self.text[self.pos..].starts_with([' ', '\t']) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_space();
        if self.text[self.pos..].starts_with(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expr(&mut self) -> Result<ServiceExpr, ExprError> {
        let mut parts = vec![self.term()?];
        while self.eat('|') {
            parts.push(self.term()?);
        }
        Ok(flatten(parts, ServiceExpr::Any))
    }

    fn term(&mut self) -> Result<ServiceExpr, ExprError> {
        let mut parts = vec![self.atom()?];
        while self.eat('&') {
            parts.push(self.atom()?);
        }
        Ok(flatten(parts, ServiceExpr::All))
    }

    fn name(&mut self) -> &str {
        let start = self.pos;
        while self.text[self.pos..].starts_with(|c: char| {
            c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' || c == ':'
        }) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }

    fn atom(&mut self) -> Result<ServiceExpr, ExprError> {
        if self.eat('(') {
            let e = self.expr()?;
            if !self.eat(')') {
                return Err(self.error("missing `)`".into(), None));
            }
            return Ok(e);
        }
        self.skip_space();
        let start = self.pos;
        let name = self.name().to_owned();
        if name.is_empty() {
            let found = self.text[self.pos..].chars().next();
            return Err(self.error(
                match found {
                    Some(c) => {
                        format!("expected a check id, any(TAG), all(TAG) or `(`, found {c:?}")
                    }
                    None => "expected a check id, any(TAG), all(TAG) or `(` at the end".into(),
                },
                None,
            ));
        }
        if (name == "any" || name == "all") && self.eat('(') {
            self.skip_space();
            let tag_at = self.pos;
            let tag = self.name().to_owned();
            if !self.eat(')') {
                return Err(self.error(format!("expected `)` after {name}({tag}"), None));
            }
            let tagged: Vec<ServiceExpr> = self
                .checks
                .iter()
                .filter(|c| c.tags.contains(&tag))
                .map(|c| ServiceExpr::Check(c.id.clone()))
                .collect();
            if tagged.is_empty() {
                self.pos = tag_at;
                return Err(self.error(format!("no check of the site is tagged {tag:?}"), None));
            }
            return Ok(if name == "any" {
                flatten(tagged, ServiceExpr::Any)
            } else {
                flatten(tagged, ServiceExpr::All)
            });
        }
        match self.checks.iter().find(|c| c.short_id == name) {
            Some(c) => Ok(ServiceExpr::Check(c.id.clone())),
            None => {
                self.pos = start;
                let hint =
                    crate::diag::closest(&name, self.checks.iter().map(|c| c.short_id.as_str()))
                        .map(|h| format!("did you mean \"{h}\"?"));
                Err(self.error(format!("the site has no check {name:?}"), hint))
            }
        }
    }
}

/// One part stays itself; more become `combine(parts)`.
fn flatten(
    mut parts: Vec<ServiceExpr>,
    combine: fn(Vec<ServiceExpr>) -> ServiceExpr,
) -> ServiceExpr {
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        combine(parts)
    }
}

/// `"mon-fri 08:00-18:00, sat 09:00-13:00"`.
fn parse_weekly(text: &str) -> Result<Vec<WeeklyHours>, String> {
    let mut rules = Vec::new();
    for rule in text.split(',') {
        let rule = rule.trim();
        let (days, hours) = rule.split_once(' ').ok_or_else(|| {
            format!("{rule:?} needs days and hours, e.g. \"mon-fri 08:00-18:00\"")
        })?;
        let days = parse_days(days.trim())?;
        let (start, end) = hours
            .trim()
            .split_once('-')
            .ok_or_else(|| format!("{hours:?} is not a span of hours such as 08:00-18:00"))?;
        let start_minute = parse_clock(start)?;
        let end_minute = parse_clock(end)?;
        if start_minute >= end_minute {
            return Err(format!(
                "{rule:?} never occurs: the hours end before they start (write a span across midnight as two rules)"
            ));
        }
        rules.push(WeeklyHours {
            days,
            start_minute,
            end_minute,
        });
    }
    Ok(rules)
}

fn parse_days(text: &str) -> Result<[bool; 7], String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let index = |d: &str| {
        NAMES
            .iter()
            .position(|n| *n == d.to_ascii_lowercase())
            .ok_or_else(|| format!("unknown day {d:?}; write mon, tue, wed, thu, fri, sat or sun"))
    };
    let mut days = [false; 7];
    let (first, last) = match text.split_once('-') {
        Some((a, b)) => (index(a)?, index(b)?),
        None => {
            let d = index(text)?;
            (d, d)
        }
    };
    if first > last {
        return Err(format!(
            "{text:?}: days run from Monday to Sunday; write e.g. \"sat-sun\""
        ));
    }
    for d in &mut days[first..=last] {
        *d = true;
    }
    Ok(days)
}

/// `"08:00"` → 480; `"24:00"` is the end of the day.
fn parse_clock(text: &str) -> Result<u16, String> {
    let bad = || format!("{:?} is not a time of day such as 08:00", text.trim());
    let (h, m) = text.trim().split_once(':').ok_or_else(bad)?;
    let (h, m): (u16, u16) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h > 24 || (h == 24 && m > 0) {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// `"4h"` (wall clock), `"8 business hours"`, `"3 business days"`
/// (counted in service hours; a business day is the longest service day).
fn parse_repair(text: &str, hours: &ServiceHours) -> Result<RepairLimit, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let limit = match words.as_slice() {
        [n, "business", unit] => {
            let n: u32 = n
                .parse()
                .map_err(|_| format!("{n:?} is not a whole number of business {unit}"))?;
            let minutes = match *unit {
                "day" | "days" => n.saturating_mul(hours.longest_day_minutes()),
                "hour" | "hours" => n.saturating_mul(60),
                _ => {
                    return Err(format!(
                        "unknown unit {unit:?}; write business hours or business days"
                    ));
                }
            };
            RepairLimit {
                limit: Duration::from_secs(u64::from(minutes) * 60),
                business: true,
                written: text.to_owned(),
            }
        }
        _ => RepairLimit {
            limit: humantime::parse_duration(text)
                .map_err(|e| format!("invalid repair time {text:?}: {e}"))?,
            business: false,
            written: text.to_owned(),
        },
    };
    if limit.limit.is_zero() {
        return Err("a repair time must be longer than zero".into());
    }
    Ok(limit)
}
