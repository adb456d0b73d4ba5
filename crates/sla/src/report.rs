//! The monthly report of one contract: the accounting's [`Figures`] plus
//! what the customer reads beside them (days, maintenance performed,
//! latency, root causes, escalations, security events, backups,
//! disaster-recovery drills, automatic actions), and its
//! CSV and JSON forms. The HTML form is in `html.rs`.
//!
//! [`Report::new`] derives what follows from the contract and the
//! accounting (daily availability, maintenance, credit terms); the caller,
//! which reads the store, fills the rest of the public fields. Every
//! renderer writes the same figures: JSON is the report as it is, CSV is
//! one `section,row,field,value` line per figure.

use crate::account::{Class, Figures, Sums, TierFigure, measure};
use crate::input::Input;
use crate::render::csv_field;
use crate::window::service_time;
use keepup_config::contract::Contract;
use keepup_model::Timestamp;
use serde::Serialize;
use std::io::{self, Write};

/// Everything one contract's report of one period shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The accounting.
    pub figures: Figures,
    /// The contract's display name.
    pub contract_name: String,
    /// When the report was made.
    pub generated_at: Timestamp,
    /// The credit terms the credit was computed with.
    pub credit_terms: CreditTerms,
    /// Availability per local day of the period (up to the measured end).
    pub days: Vec<DayFigure>,
    /// Maintenance windows of the service in the period.
    pub maintenance: Vec<MaintenanceDone>,
    /// Latency percentiles of the service's main check, if recorded.
    pub latency: Option<LatencySeries>,
    /// The root cause of incidents caused by another incident.
    pub root_causes: Vec<RootCause>,
    /// Notifications and acknowledgements per incident.
    pub escalations: Vec<Escalation>,
    /// Security-relevant findings of the site's checks in the period.
    pub security: Vec<SecurityEvent>,
    /// The site's backup checks.
    pub backups: Vec<BackupFigure>,
    /// The drills of the site's disaster-recovery plans.
    pub drills: Vec<DrillPlanFigure>,
    /// The `[[action]]` runs of the period that concern the site.
    pub actions: crate::actions::ActionsFigure,
    /// The site's peak load against its design capacity, if it declares
    /// one.
    pub capacity: Option<crate::capacity::CapacityFigure>,
    /// The site's resources that run out within the next quarter at their
    /// current growth (capacity forecasts), soonest first.
    pub forecasts: Vec<ForecastFigure>,
}

/// How far ahead the report lists resources that run out: a quarter.
pub const FORECAST_HORIZON_DAYS: f64 = 92.0;

/// One measure that runs out within [`FORECAST_HORIZON_DAYS`] at the
/// growth its forecast fitted, as of the check's last result of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastFigure {
    /// The check's id.
    pub check: String,
    /// Its display name.
    pub name: String,
    /// The measure's key (`disk:/var`).
    pub measure: String,
    /// What it is, for people ("used space on /var").
    pub what: String,
    /// Where it is full ("100%", "2s").
    pub limit: String,
    /// Days until then at the fitted growth.
    pub days_left: f64,
    /// Days at the upper end of the growth's 95 % interval.
    pub days_left_low: f64,
    /// Days at its lower end; none when that end is no growth.
    pub days_left_high: Option<f64>,
    /// Growth per day, in the measure's unit.
    pub slope_per_day: f64,
    /// The result whose forecast this is.
    pub at: Timestamp,
}

impl ForecastFigure {
    /// The figures of a result's forecast evidence (`forecast` entries)
    /// that run out within the horizon.
    pub fn from_evidence(
        check: &str,
        name: &str,
        at: Timestamp,
        forecast: &serde_json::Value,
    ) -> Vec<ForecastFigure> {
        let Some(entries) = forecast.as_array() else {
            return Vec::new();
        };
        entries
            .iter()
            .filter_map(|e| {
                let days_left = e.get("days_left")?.as_f64()?;
                (days_left <= FORECAST_HORIZON_DAYS).then_some(())?;
                let text = |k: &str| {
                    e.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                Some(ForecastFigure {
                    check: check.to_owned(),
                    name: name.to_owned(),
                    measure: text("measure"),
                    what: text("what"),
                    limit: text("limit"),
                    days_left,
                    days_left_low: e
                        .get("days_left_low")
                        .and_then(|v| v.as_f64())
                        .unwrap_or(days_left),
                    days_left_high: e.get("days_left_high").and_then(|v| v.as_f64()),
                    slope_per_day: e
                        .get("slope_per_day")
                        .and_then(|v| v.as_f64())
                        .unwrap_or_default(),
                    at,
                })
            })
            .collect()
    }
}

/// The contract's credit terms.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreditTerms {
    /// Tiers in the contract's order (the last one whose `below` the
    /// availability is under applies).
    pub tiers: Vec<TierFigure>,
    /// Fixed credit per repair-time breach.
    pub per_repair_breach: f64,
    /// Cap, percent of the fee.
    pub cap_percent: f64,
    /// Monthly fee.
    pub monthly_fee: f64,
}

/// One local day of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayFigure {
    /// `2026-10-04`.
    pub date: String,
    /// Start (local midnight, or the period's start).
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// Service time of the day up to the measured end.
    pub service_ms: i64,
    /// Downtime as the contract counts it.
    pub downtime_ms: f64,
    /// Time without data.
    pub unknown_ms: i64,
    /// Maintenance (excluded and beyond the allowance).
    pub maintenance_ms: i64,
    /// Availability; None without data.
    pub availability: Option<f64>,
}

/// A maintenance window of the service, clipped to the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintenanceDone {
    /// The window (`[[maintenance]]` id, or `#n (reason)` when started by
    /// hand).
    pub id: String,
    /// Start.
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
}

/// Latency percentiles over the period, from the store's rollups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LatencySeries {
    /// The check.
    pub check: String,
    /// The rollup width: `hour` or `minute`.
    pub resolution: String,
    /// Buckets in time order.
    pub points: Vec<LatencyPoint>,
}

/// One rollup bucket's percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LatencyPoint {
    /// Bucket start.
    pub at: Timestamp,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
}

/// The first incident of an incident's cause chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootCause {
    /// The incident of the service.
    pub incident: i64,
    /// The incident at the root of its cause chain.
    pub root: i64,
    /// The root's check.
    pub check: String,
    /// The root's message.
    pub message: String,
}

/// What was sent about one incident, and who acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Escalation {
    /// The incident.
    pub incident: i64,
    /// Its notifications, oldest first.
    pub notifications: Vec<NotificationSent>,
    /// Acknowledged at.
    pub acknowledged_at: Option<Timestamp>,
    /// By whom.
    pub acknowledged_by: Option<String>,
}

/// One notification from the outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotificationSent {
    /// The channel.
    pub channel: String,
    /// pending, sending, sent or failed.
    pub state: String,
    /// Queued at.
    pub created_at: Timestamp,
    /// Confirmed by the channel at.
    pub sent_at: Option<Timestamp>,
    /// Attempts made.
    pub attempts: u32,
    /// The last delivery error.
    pub error: Option<String>,
}

/// A security-relevant finding of one of the site's checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityEvent {
    /// The check.
    pub check: String,
    /// The finding code.
    pub code: String,
    /// info, warning or critical.
    pub severity: String,
    /// What it said (the latest wording).
    pub text: String,
    /// First seen.
    pub first: Timestamp,
    /// Last seen.
    pub last: Timestamp,
    /// In how many results (0 when known from an incident only).
    pub results: u64,
}

/// One backup check of the site over the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BackupFigure {
    /// The check.
    pub check: String,
    /// Its name (what it watches: run, freshness, verify, restore test).
    pub name: String,
    /// Its status at the end of the period, if it had one.
    pub status: Option<String>,
    /// When that status was last reported.
    pub last_at: Option<Timestamp>,
    /// The latest message.
    pub message: String,
    /// Time it was down or degraded in the period.
    pub failing_ms: i64,
    /// Time it was up in the period.
    pub up_ms: i64,
}

/// One disaster-recovery plan of the site: its drills in the period and
/// its last successful drill, whenever that was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillPlanFigure {
    /// The plan's id.
    pub plan: String,
    /// Its display name.
    pub name: String,
    /// Its recovery time objective.
    pub rto_target_ms: i64,
    /// Its recovery point objective.
    pub rpo_target_ms: i64,
    /// The drills that started in the period, oldest first.
    pub drills: Vec<DrillFigure>,
    /// The last completed drill that started before the period's end (in
    /// the period or before it); none when the plan never completed one.
    pub last_success: Option<DrillFigure>,
}

/// One drill of a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DrillFigure {
    /// The run's number in the journal.
    pub run: i64,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended (none while running, or for a failed run that waits
    /// for a resume).
    pub ended_at: Option<Timestamp>,
    /// `completed`, `failed`, `aborted` or `running`.
    pub outcome: String,
    /// Measured recovery time.
    pub rto_ms: Option<i64>,
    /// Measured recovery point.
    pub rpo_ms: Option<i64>,
    /// Whether the measured RTO was within the plan's target.
    pub rto_met: Option<bool>,
    /// Whether the measured RPO was within the plan's target.
    pub rpo_met: Option<bool>,
}

impl DrillFigure {
    /// A drill's figure against the plan's targets.
    pub fn new(
        run: i64,
        started_at: Timestamp,
        ended_at: Option<Timestamp>,
        outcome: &str,
        (rto_ms, rpo_ms): (Option<i64>, Option<i64>),
        (rto_target_ms, rpo_target_ms): (i64, i64),
    ) -> Self {
        DrillFigure {
            run,
            started_at,
            ended_at,
            outcome: outcome.to_owned(),
            rto_ms,
            rpo_ms,
            rto_met: rto_ms.map(|m| m <= rto_target_ms),
            rpo_met: rpo_ms.map(|m| m <= rpo_target_ms),
        }
    }
}

/// Whether a finding code matters for security (certificates and TLS,
/// domain registration, DNS delegation and records, blacklists,
/// security.txt), by its section in the catalogue.
pub fn is_security_relevant(code: &str) -> bool {
    let Some(info) = keepup_model::codes::lookup(code) else {
        return false;
    };
    [
        "TLS_",
        "DOMAIN_",
        "DNS_* (delegation",
        "PING_*, PAGE_*, SECURITY_TXT_",
    ]
    .iter()
    .any(|p| info.section.starts_with(p))
        && !info.code.starts_with("PING_")
        && !info.code.starts_with("PAGE_")
        && !info.code.starts_with("CHAIN_")
}

impl Report {
    /// The report of `figures` (the accounting of `contract` over `input`),
    /// with what follows from them; the other fields start empty.
    pub fn new(
        contract: &Contract,
        input: &Input,
        figures: Figures,
        generated_at: Timestamp,
    ) -> Report {
        let service = contract.service.checks();
        let mut maintenance: Vec<MaintenanceDone> = input
            .maintenance
            .iter()
            .filter(|m| m.checks.iter().any(|c| service.contains(&c)))
            .map(|m| MaintenanceDone {
                id: m.id.clone(),
                from: m.from.max(figures.from),
                to: m.to.min(figures.measured_to),
            })
            .filter(|m| m.from < m.to)
            .collect();
        maintenance.sort_by(|a, b| (a.from, &a.id).cmp(&(b.from, &b.id)));
        maintenance.dedup();
        let c = &contract.credit;
        Report {
            days: days(contract, &figures),
            contract_name: contract.name.clone(),
            generated_at,
            credit_terms: CreditTerms {
                tiers: c.tiers.iter().copied().map(TierFigure::from).collect(),
                per_repair_breach: c.per_repair_breach,
                cap_percent: c.cap_percent,
                monthly_fee: c.monthly_fee,
            },
            maintenance,
            latency: None,
            root_causes: Vec::new(),
            escalations: Vec::new(),
            security: Vec::new(),
            backups: Vec::new(),
            drills: Vec::new(),
            actions: Default::default(),
            capacity: None,
            forecasts: Vec::new(),
            figures,
        }
    }
}

impl Report {
    /// Root causes by incident: a month of a thousand checks has thousands
    /// of incidents, too many to search the list for each.
    pub(crate) fn root_causes_by_incident(&self) -> std::collections::HashMap<i64, &RootCause> {
        self.root_causes.iter().map(|r| (r.incident, r)).collect()
    }
}

/// Each local day's figures, from the accounting's intervals (so the
/// maintenance allowance is spent as it was over the whole period).
fn days(contract: &Contract, f: &Figures) -> Vec<DayFigure> {
    let tz = &contract.time_zone;
    let mut out = Vec::new();
    let Ok(start) = jiff::Timestamp::from_millisecond(f.from) else {
        return out;
    };
    let Ok(mut day) = start.to_zoned(tz.clone()).start_of_day() else {
        return out;
    };
    let mut first_interval = 0usize;
    while day.timestamp().as_millisecond() < f.to {
        let Ok(next) = day.tomorrow().and_then(|d| d.start_of_day()) else {
            break;
        };
        let a = day.timestamp().as_millisecond().max(f.from);
        let b = next.timestamp().as_millisecond().min(f.to);
        let measured_end = b.min(f.measured_to);
        let mut sums = Sums {
            service_ms: if a < measured_end {
                service_time(&contract.service_hours, tz, a, measured_end)
            } else {
                0
            },
            ..Sums::default()
        };
        while f.intervals.get(first_interval).is_some_and(|i| i.to <= a) {
            first_interval += 1;
        }
        for i in f.intervals[first_interval..]
            .iter()
            .take_while(|i| i.from < b)
        {
            let ms = i.to.min(b) - i.from.max(a);
            match i.class {
                Class::Down => sums.down_ms += ms,
                Class::Degraded => sums.degraded_ms += ms,
                Class::Unknown => sums.unknown_ms += ms,
                Class::Maintenance => sums.maintenance_ms += ms,
                Class::MaintenanceOverrun => sums.maintenance_overrun_ms += ms,
            }
        }
        sums.up_ms = sums.service_ms
            - sums.down_ms
            - sums.degraded_ms
            - sums.unknown_ms
            - sums.maintenance_ms
            - sums.maintenance_overrun_ms;
        let m = measure(contract, &sums);
        out.push(DayFigure {
            date: day.date().to_string(),
            from: a,
            to: b,
            service_ms: sums.service_ms,
            downtime_ms: m.downtime_ms,
            unknown_ms: sums.unknown_ms,
            maintenance_ms: sums.maintenance_ms + sums.maintenance_overrun_ms,
            availability: m.availability,
        });
        day = next;
    }
    out
}

/// The report as JSON (pretty-printed): every field of [`Report`], times
/// in ms since the epoch.
pub fn render_json(report: &Report, w: &mut impl Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, report).map_err(io::Error::other)?;
    writeln!(w)
}

/// The report as CSV (RFC 4180): a `section,row,field,value` line per
/// figure, the same figures as [`render_json`] less the intervals; times as
/// RFC 3339, durations in ms.
pub fn render_csv(report: &Report, w: &mut impl Write) -> io::Result<()> {
    let f = &report.figures;
    let t = keepup_model::format_rfc3339;
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    let opt_t = |v: Option<Timestamp>| v.map(t).unwrap_or_default();
    let mut line = |section: &str, row: &str, field: &str, value: &str| -> io::Result<()> {
        writeln!(
            w,
            "{},{},{},{}",
            csv_field(section),
            csv_field(row),
            csv_field(field),
            csv_field(value)
        )
    };
    line("section", "row", "field", "value")?;
    let summary = [
        ("contract", f.contract.clone()),
        ("contract_name", report.contract_name.clone()),
        ("site", f.site.clone()),
        ("service", f.service.clone()),
        ("period", f.period.clone()),
        ("from", t(f.from)),
        ("to", t(f.to)),
        ("measured_to", t(f.measured_to)),
        ("time_zone", f.time_zone.clone()),
        ("generated_at", t(report.generated_at)),
        ("target", f.target.to_string()),
        (
            "availability",
            f.availability.map(|a| a.to_string()).unwrap_or_default(),
        ),
        ("met", f.met.map(|m| m.to_string()).unwrap_or_default()),
        ("service_ms", f.service_ms.to_string()),
        ("measured_ms", f.measured_ms.to_string()),
        ("downtime_ms", f.downtime_ms.to_string()),
        ("down_ms", f.down_ms.to_string()),
        ("degraded_ms", f.degraded_ms.to_string()),
        ("unknown_ms", f.unknown_ms.to_string()),
        ("maintenance_ms", f.maintenance_ms.to_string()),
        (
            "maintenance_overrun_ms",
            f.maintenance_overrun_ms.to_string(),
        ),
        (
            "budget_allowed_ms",
            f.budget
                .map(|b| b.allowed_ms.to_string())
                .unwrap_or_default(),
        ),
        (
            "budget_remaining_ms",
            f.budget
                .map(|b| b.remaining_ms.to_string())
                .unwrap_or_default(),
        ),
        ("incident_count", f.incident_count.to_string()),
        ("mttd_ms", opt(f.mttd_ms)),
        ("mtta_ms", opt(f.mtta_ms)),
        ("mttr_ms", opt(f.mttr_ms)),
        ("breaches", f.credit.breaches.to_string()),
    ];
    for (field, value) in summary {
        line("summary", "", field, &value)?;
    }
    let c = &f.credit;
    let credit = [
        ("fee", c.fee.to_string()),
        ("currency", c.currency.clone()),
        (
            "tier_below",
            c.tier.map(|t| t.below.to_string()).unwrap_or_default(),
        ),
        (
            "tier_percent",
            c.tier.map(|t| t.percent.to_string()).unwrap_or_default(),
        ),
        ("tier_amount", c.tier_amount.to_string()),
        ("breaches", c.breaches.to_string()),
        ("breach_amount", c.breach_amount.to_string()),
        ("cap", c.cap.to_string()),
        ("total", c.total.to_string()),
    ];
    for (field, value) in credit {
        line("credit", "", field, &value)?;
    }
    for d in &report.days {
        let row = &d.date;
        line("day", row, "service_ms", &d.service_ms.to_string())?;
        line("day", row, "downtime_ms", &d.downtime_ms.to_string())?;
        line("day", row, "unknown_ms", &d.unknown_ms.to_string())?;
        line("day", row, "maintenance_ms", &d.maintenance_ms.to_string())?;
        let a = d.availability.map(|a| a.to_string()).unwrap_or_default();
        line("day", row, "availability", &a)?;
    }
    let roots = report.root_causes_by_incident();
    for i in &f.incidents {
        let row = i.id.to_string();
        let root = roots.get(&i.id);
        let fields = [
            ("check", i.check.clone()),
            ("severity", i.severity.to_owned()),
            ("message", i.message.clone()),
            ("opened_at", t(i.opened_at)),
            ("detected_at", t(i.detected_at)),
            ("acknowledged_at", opt_t(i.acknowledged_at)),
            ("resolved_at", opt_t(i.resolved_at)),
            ("counted", i.counted.to_string()),
            ("caused_by", opt(i.caused_by)),
            ("root_cause", opt(root.map(|r| r.root))),
            ("repair_ms", opt(i.repair.as_ref().map(|r| r.measured_ms))),
            (
                "repair_limit_ms",
                opt(i.repair.as_ref().map(|r| r.limit_ms)),
            ),
            (
                "breached",
                i.repair
                    .as_ref()
                    .map(|r| r.breached.to_string())
                    .unwrap_or_default(),
            ),
        ];
        for (field, value) in fields {
            line("incident", &row, field, &value)?;
        }
    }
    for (n, m) in report.maintenance.iter().enumerate() {
        let row = (n + 1).to_string();
        line("maintenance", &row, "id", &m.id)?;
        line("maintenance", &row, "from", &t(m.from))?;
        line("maintenance", &row, "to", &t(m.to))?;
    }
    for e in &report.escalations {
        let row = e.incident.to_string();
        line(
            "escalation",
            &row,
            "acknowledged_at",
            &opt_t(e.acknowledged_at),
        )?;
        let by = e.acknowledged_by.clone().unwrap_or_default();
        line("escalation", &row, "acknowledged_by", &by)?;
        for n in &e.notifications {
            let what = format!("{} {} at {}", n.channel, n.state, t(n.created_at));
            line("escalation", &row, "notification", &what)?;
        }
    }
    for (n, s) in report.security.iter().enumerate() {
        let row = (n + 1).to_string();
        line("security", &row, "check", &s.check)?;
        line("security", &row, "code", &s.code)?;
        line("security", &row, "severity", &s.severity)?;
        line("security", &row, "text", &s.text)?;
        line("security", &row, "first", &t(s.first))?;
        line("security", &row, "last", &t(s.last))?;
    }
    for b in &report.backups {
        let row = &b.check;
        line("backup", row, "status", b.status.as_deref().unwrap_or(""))?;
        line("backup", row, "last_at", &opt_t(b.last_at))?;
        line("backup", row, "message", &b.message)?;
        line("backup", row, "failing_ms", &b.failing_ms.to_string())?;
    }
    let met = |m: Option<bool>| m.map(|m| m.to_string()).unwrap_or_default();
    for p in &report.drills {
        let row = &p.plan;
        line("drill_plan", row, "name", &p.name)?;
        line(
            "drill_plan",
            row,
            "rto_target_ms",
            &p.rto_target_ms.to_string(),
        )?;
        line(
            "drill_plan",
            row,
            "rpo_target_ms",
            &p.rpo_target_ms.to_string(),
        )?;
        let last = p.last_success.as_ref();
        line(
            "drill_plan",
            row,
            "last_success_run",
            &opt(last.map(|d| d.run)),
        )?;
        let last_at = last.map(|d| d.ended_at.unwrap_or(d.started_at));
        line("drill_plan", row, "last_success_at", &opt_t(last_at))?;
        for d in &p.drills {
            let row = format!("{}#{}", p.plan, d.run);
            line("drill", &row, "started_at", &t(d.started_at))?;
            line("drill", &row, "ended_at", &opt_t(d.ended_at))?;
            line("drill", &row, "outcome", &d.outcome)?;
            line("drill", &row, "rto_ms", &opt(d.rto_ms))?;
            line("drill", &row, "rto_met", &met(d.rto_met))?;
            line("drill", &row, "rpo_ms", &opt(d.rpo_ms))?;
            line("drill", &row, "rpo_met", &met(d.rpo_met))?;
        }
    }
    for c in &report.forecasts {
        let row = format!("{}#{}", c.check, c.measure);
        line("forecast", &row, "what", &c.what)?;
        line("forecast", &row, "limit", &c.limit)?;
        line("forecast", &row, "days_left", &c.days_left.to_string())?;
        line(
            "forecast",
            &row,
            "days_left_low",
            &c.days_left_low.to_string(),
        )?;
        line(
            "forecast",
            &row,
            "days_left_high",
            &c.days_left_high.map(|d| d.to_string()).unwrap_or_default(),
        )?;
        line(
            "forecast",
            &row,
            "slope_per_day",
            &c.slope_per_day.to_string(),
        )?;
        line("forecast", &row, "at", &t(c.at))?;
    }
    crate::actions::csv_rows(&report.actions, w)?;
    if let Some(c) = &report.capacity {
        crate::capacity::csv_rows(c, w)?;
    }
    Ok(())
}
