//! Error-budget burn rates and repair deadlines: what the daemon's SLA
//! checks (`sla-<contract>`, `sla-<contract>-repair`) report.
//!
//! A burn rate is the share of measured service time that was downtime in
//! a window, divided by the share the target allows (1 − target): at 1×
//! the budget lasts exactly the period, at 14.4× a 30-day budget is spent
//! in about two days. Each window is accounted by [`crate::account`] over
//! the same input, so the rules (service hours, maintenance, Degraded
//! weight, unknown time excluded) are the ones the period's figures use;
//! a window's maintenance is excluded up to the whole allowance, since a
//! window does not know what the rest of the period used.

use crate::account::{Budget, Measure, budget, measure, tally};
use crate::input::{Consequences, IncidentRecord, Input, InputError};
use crate::window::{Window, service_windows};
use keepup_config::contract::{BurnSeverity, Contract, Severity};
use keepup_model::{CheckId, Timestamp};
use serde::Serialize;
use std::collections::HashSet;

/// The burn of one window ending now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowBurn {
    /// The window's length.
    pub window_ms: i64,
    /// Downtime in it (Degraded weighted).
    pub downtime_ms: f64,
    /// Service time that counted.
    pub measured_ms: i64,
    /// Burn rate; None when nothing was measured (no data, outside
    /// service hours).
    pub rate: Option<f64>,
}

/// One rule against its two windows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleBurn {
    /// Long window.
    pub long: WindowBurn,
    /// Short window.
    pub short: WindowBurn,
    /// The factor both must reach.
    pub factor: f64,
    /// `page` or `ticket`.
    pub severity: &'static str,
    /// Both windows reach the factor.
    pub firing: bool,
}

/// The burn of a contract's error budget now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Burn {
    /// Each configured rule.
    pub rules: Vec<RuleBurn>,
    /// The loudest firing rule's severity.
    #[serde(skip)]
    pub alert: Option<BurnSeverity>,
    /// The running period (`2026-10`).
    pub period: String,
    /// The running period's budget so far (None without data).
    pub budget: Option<Budget>,
}

/// The earliest instant [`burn`] reads: the start of the running period or
/// of the longest window, whichever is earlier.
pub fn burn_reach(contract: &Contract, now: Timestamp) -> Result<Timestamp, InputError> {
    let period = Window::period_at(contract, now)?;
    let longest = contract
        .burn
        .iter()
        .map(|r| duration_ms(r.long))
        .max()
        .unwrap_or(0);
    Ok(period.from.min(now.saturating_sub(longest)))
}

/// The burn rates of `contract`'s rules at `now`, from `input` covering at
/// least [`burn_reach`] to `now`.
///
/// Every window and the running period end at `now`, so one walk over the
/// service's states from the earliest start counts them all
/// ([`crate::account`]'s rules, each window from its own start); the
/// daemon does this every minute over all of a contract's checks, and
/// accounting each window on its own, with its explanations, took seconds
/// and a gigabyte at 1,000 checks.
pub fn burn(contract: &Contract, input: &Input, now: Timestamp) -> Result<Burn, InputError> {
    input.validate()?;
    let allowed = (100.0 - contract.target) / 100.0;
    let period = Window::period_at(contract, now)?;
    let mut lengths: Vec<i64> = Vec::new();
    for r in &contract.burn {
        lengths.extend([duration_ms(r.long), duration_ms(r.short)]);
    }
    let mut starts: Vec<Timestamp> = Vec::with_capacity(lengths.len() + 1);
    for &ms in &lengths {
        starts.push(Window::between(now.saturating_sub(ms), now, String::new())?.from);
    }
    // The period holds `now`, so it too is measured up to `now`.
    starts.push(period.from);
    let tallies = tally(contract, input, &starts, now, false);
    let measured: Vec<Measure> = tallies
        .iter()
        .map(|t| measure(contract, &t.sums()))
        .collect();
    let window = |k: usize| -> WindowBurn {
        let m = &measured[k];
        let rate = (m.measured_ms > 0).then(|| {
            let share = m.downtime_ms / m.measured_ms as f64;
            if allowed > 0.0 {
                share / allowed
            } else if share > 0.0 {
                f64::INFINITY
            } else {
                0.0
            }
        });
        WindowBurn {
            window_ms: lengths[k],
            downtime_ms: m.downtime_ms,
            measured_ms: m.measured_ms,
            rate,
        }
    };
    let mut rules = Vec::new();
    let mut alert: Option<BurnSeverity> = None;
    for (i, r) in contract.burn.iter().enumerate() {
        let long = window(2 * i);
        let short = window(2 * i + 1);
        let reaches = |w: &WindowBurn| w.rate.is_some_and(|x| x >= r.factor);
        let firing = reaches(&long) && reaches(&short);
        if firing {
            alert = Some(match (alert, r.severity) {
                (Some(BurnSeverity::Page), _) | (_, BurnSeverity::Page) => BurnSeverity::Page,
                _ => BurnSeverity::Ticket,
            });
        }
        rules.push(RuleBurn {
            long,
            short,
            factor: r.factor,
            severity: r.severity.as_str(),
            firing,
        });
    }
    let p = &measured[lengths.len()];
    Ok(Burn {
        rules,
        alert,
        period: period.label,
        budget: budget(contract, p.measured_ms, p.downtime_ms, p.availability),
    })
}

/// An open incident's repair deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deadline {
    /// The incident's number.
    pub incident: i64,
    /// Its check.
    pub check: CheckId,
    /// Its severity.
    pub severity: &'static str,
    /// What failed.
    pub message: String,
    /// When it was detected (the repair time starts there).
    pub detected_at: Timestamp,
    /// The repair time as the contract writes it.
    pub limit: String,
    /// The instant it is breached (later it is).
    pub deadline: Timestamp,
}

/// The deadlines of the service's unrepaired incidents that the contract
/// limits, earliest first. `incidents` are the open ones and their causes.
/// An incident caused by another of the service is that one's repair, not
/// a second clock, and keeps it running while open (the accounting's rule,
/// [`crate::input::Consequences::repair_end`]); one opened during maintenance has no
/// deadline (the accounting does not count it).
pub fn repair_deadlines(contract: &Contract, incidents: &[IncidentRecord]) -> Vec<Deadline> {
    let service: HashSet<&CheckId> = contract.service.checks().into_iter().collect();
    let ours: Vec<&IncidentRecord> = incidents
        .iter()
        .filter(|i| service.contains(&i.check))
        .collect();
    let ids: HashSet<i64> = ours.iter().map(|i| i.id).collect();
    let consequences = Consequences::of(&ours);
    let mut out: Vec<Deadline> = ours
        .iter()
        .filter(|i| !i.maintenance)
        .filter(|i| i.cause.is_none_or(|c| c == i.id || !ids.contains(&c)))
        .filter(|i| consequences.repair_end(i).is_none())
        .filter_map(|i| {
            let severity = i.severity();
            let (limit, deadline) = repair_deadline(contract, severity, i.detected_at)?;
            Some(Deadline {
                incident: i.id,
                check: i.check.clone(),
                severity: severity.as_str(),
                message: i.message.clone(),
                detected_at: i.detected_at,
                limit,
                deadline,
            })
        })
        .collect();
    out.sort_by_key(|d| (d.deadline, d.incident));
    out
}

/// The repair limit of `severity` as written and the instant an incident
/// detected at `detected` breaches it: the limit later in wall-clock time,
/// or, for business limits, once that much service time has passed. None
/// when the contract does not limit the severity, or the service hours
/// give no such time within ten years.
pub fn repair_deadline(
    contract: &Contract,
    severity: Severity,
    detected: Timestamp,
) -> Option<(String, Timestamp)> {
    let (_, limit) = contract.repair_time.iter().find(|(s, _)| *s == severity)?;
    let mut left = duration_ms(limit.limit);
    if !limit.business {
        return Some((limit.written.clone(), detected.saturating_add(left)));
    }
    const CHUNK: i64 = 31 * 86_400_000;
    let mut from = detected;
    for _ in 0..120 {
        let to = from.saturating_add(CHUNK);
        for (a, b) in service_windows(&contract.service_hours, &contract.time_zone, from, to) {
            if b - a >= left {
                return Some((limit.written.clone(), a + left));
            }
            left -= b - a;
        }
        from = to;
    }
    None
}

fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
