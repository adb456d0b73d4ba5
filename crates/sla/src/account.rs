//! The accounting rules (the README's "SLA" section says them with worked
//! examples):
//!
//! 1. Only service time counts: the period, up to now, within the
//!    contract's service hours.
//! 2. Maintenance excuses what the maintained checks did, nothing else:
//!    while a window covers some of the service's checks, the service is
//!    also evaluated with those checks Up. Time the service was not Up
//!    only because of them is maintenance, excluded in time order up to
//!    the allowance per period and downtime beyond it; otherwise the
//!    service counts as it would have been with them Up (an outage of
//!    another part stays an outage).
//! 3. Outside maintenance the service's state decides: Down is downtime,
//!    Degraded is downtime times the contract's weight, Unknown is excluded
//!    from the measured time (or counted up or down, as the contract says),
//!    Up is up.
//! 4. Availability = (measured − downtime) / measured, where measured is the
//!    service time less excluded maintenance and excluded unknown time. A
//!    period without any data has no availability, never 100 %.
//! 5. Incidents of the service's checks are listed when they overlap the
//!    period, clipped to it; they are counted (MTTD, MTTA, MTTR, repair-time
//!    breaches) in the period they were detected in, once. An incident
//!    caused by another incident of the service is listed under its cause
//!    and not counted again. An incident opened during maintenance of its
//!    check is listed but not counted: the work was planned, so it has
//!    no repair time to keep (its outage time follows rule 2).
//! 6. Repair time runs from detection to resolution (to now while open),
//!    in wall-clock time or, for business limits, in service time. An
//!    incident's resolution is the last one among it and the incidents it
//!    caused ([`crate::input::Consequences::repair_end`]): a consequence that outlives
//!    its cause keeps the cause's repair running.
//! 7. Credit: the percentage of the last tier whose `below` the availability
//!    falls under, of the period's fee, plus the fixed amount per breach,
//!    at most the cap; none over a range that is not one contract period.

use crate::input::{CheckTimeline, Consequences, IncidentRecord, Input, InputError, Span};
use crate::service::{ServiceState, StateSpan, service_states};
use crate::window::{Window, service_time, service_windows};
use keepup_config::contract::{Contract, CreditTier, Period, UnknownPolicy};
use keepup_model::{CheckId, Status, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// How a stretch of service time counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// The service was down.
    Down,
    /// Degraded, counted with the contract's weight.
    Degraded,
    /// No data.
    Unknown,
    /// Maintenance within the allowance: excluded.
    Maintenance,
    /// Maintenance beyond the allowance: downtime.
    MaintenanceOverrun,
}

impl Class {
    /// Lowercase name, as in `--explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Down => "down",
            Class::Degraded => "degraded",
            Class::Unknown => "unknown",
            Class::Maintenance => "maintenance",
            Class::MaintenanceOverrun => "maintenance beyond allowance",
        }
    }
}

/// One stretch of service time that was not plainly up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interval {
    /// Start.
    pub from: Timestamp,
    /// End (exclusive).
    pub to: Timestamp,
    /// How it counted.
    pub class: Class,
    /// The checks that made it so (down ones for Down, ...), or the
    /// maintenance windows for maintenance.
    pub because: Vec<String>,
}

/// The error budget: the downtime the target allows in the measured time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Budget {
    /// Downtime allowed.
    pub allowed_ms: f64,
    /// Downtime so far.
    pub used_ms: f64,
    /// Allowed minus used (negative once exceeded).
    pub remaining_ms: f64,
    /// Used in percent of allowed (None when nothing is allowed).
    pub used_percent: Option<f64>,
}

/// A repair time against its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairFigure {
    /// Measured (wall clock or service time, as the limit says).
    pub measured_ms: i64,
    /// The limit.
    pub limit_ms: i64,
    /// The limit as written.
    pub limit: String,
    /// Measured beyond the limit.
    pub breached: bool,
    /// Still open (measured up to now).
    pub open: bool,
}

/// One incident of the service in the period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentFigure {
    /// Its number.
    pub id: i64,
    /// The check.
    pub check: String,
    /// critical, major or minor.
    pub severity: &'static str,
    /// What failed.
    pub message: String,
    /// First failure.
    pub opened_at: Timestamp,
    /// Confirmed.
    pub detected_at: Timestamp,
    /// Acknowledged.
    pub acknowledged_at: Option<Timestamp>,
    /// Resolved.
    pub resolved_at: Option<Timestamp>,
    /// Repaired: the last resolution among it and the incidents it caused
    /// (None while one of them is open).
    pub repaired_at: Option<Timestamp>,
    /// Its part within the period.
    pub in_period: (Timestamp, Timestamp),
    /// Detected in this period (counted here) rather than carried over.
    pub counted: bool,
    /// The incident of the service that caused it.
    pub caused_by: Option<i64>,
    /// Opened during maintenance: listed, not counted (rule 5).
    pub maintenance: bool,
    /// Repair time against the contract, when the contract limits this
    /// severity and the incident counts here.
    pub repair: Option<RepairFigure>,
}

/// The credit owed, step by step.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CreditFigure {
    /// The fee of the period (monthly fee × months).
    pub fee: f64,
    /// Currency.
    pub currency: String,
    /// The tier that applied.
    pub tier: Option<TierFigure>,
    /// Its share of the fee.
    pub tier_amount: f64,
    /// Repair-time breaches.
    pub breaches: usize,
    /// Their fixed amounts.
    pub breach_amount: f64,
    /// The cap (share of the fee).
    pub cap: f64,
    /// Owed: tier and breaches, at most the cap.
    pub total: f64,
    /// Why no credit was computed (a range that is not one contract
    /// period: the fee, tiers and allowance are per period).
    pub not_owed: Option<String>,
}

/// A credit tier, for output.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct TierFigure {
    /// Availability threshold.
    pub below: f64,
    /// Share of the fee.
    pub percent: f64,
}

impl From<CreditTier> for TierFigure {
    fn from(t: CreditTier) -> Self {
        TierFigure {
            below: t.below,
            percent: t.percent,
        }
    }
}

/// The figures of one contract over one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    /// Contract id.
    pub contract: String,
    /// Its site.
    pub site: String,
    /// The service expression.
    pub service: String,
    /// `2026-10`, ...
    pub period: String,
    /// Period start.
    pub from: Timestamp,
    /// Period end (exclusive).
    pub to: Timestamp,
    /// Measured up to (the end, or now within a running period).
    pub measured_to: Timestamp,
    /// The contract's zone.
    pub time_zone: String,
    /// Target in percent.
    pub target: f64,
    /// Service time in the measured range.
    pub service_ms: i64,
    /// Service time that counts: less excluded maintenance and unknown.
    pub measured_ms: i64,
    /// Service time down (outside maintenance).
    pub down_ms: i64,
    /// Service time degraded.
    pub degraded_ms: i64,
    /// Service time without data.
    pub unknown_ms: i64,
    /// Maintenance excluded (within the allowance).
    pub maintenance_ms: i64,
    /// Maintenance beyond the allowance (counted as downtime).
    pub maintenance_overrun_ms: i64,
    /// Downtime: down + overrun + weighted degraded (+ unknown if counted
    /// down).
    pub downtime_ms: f64,
    /// Availability in percent; None when there was no data at all or
    /// nothing to measure.
    pub availability: Option<f64>,
    /// Whether the target was met.
    pub met: Option<bool>,
    /// Error budget.
    pub budget: Option<Budget>,
    /// Incidents overlapping the period.
    pub incidents: Vec<IncidentFigure>,
    /// Incidents counted in this period.
    pub incident_count: usize,
    /// Mean time to detect (first failure → detected).
    pub mttd_ms: Option<i64>,
    /// Mean time to acknowledge (detected → acknowledged).
    pub mtta_ms: Option<i64>,
    /// Mean time to repair (detected → resolved).
    pub mttr_ms: Option<i64>,
    /// Repair-time breaches per severity.
    pub breaches: BTreeMap<&'static str, usize>,
    /// Credit.
    pub credit: CreditFigure,
    /// The stretches that were not plainly up, in time order.
    pub intervals: Vec<Interval>,
}

/// The figures of `contract` over `window`, measured up to `now`.
pub fn account(
    contract: &Contract,
    window: &Window,
    now: Timestamp,
    input: &Input,
) -> Result<Figures, InputError> {
    input.validate()?;
    let until = window.to.min(now).max(window.from);
    let service_checks: HashSet<&CheckId> = contract.service.checks().into_iter().collect();
    let f = tally(contract, input, &[window.from], until, true)
        .pop()
        .unwrap_or_default();
    let Measure {
        measured_ms,
        downtime_ms,
        availability,
    } = measure(contract, &f.sums());
    let budget = budget(contract, measured_ms, downtime_ms, availability);

    let incidents = incidents(
        contract,
        window,
        until,
        now,
        &input.incidents,
        &service_checks,
    );
    let counted: Vec<&IncidentFigure> = incidents
        .iter()
        .filter(|i| i.counted && i.caused_by.is_none() && !i.maintenance)
        .collect();
    let mean = |values: Vec<i64>| {
        (!values.is_empty()).then(|| values.iter().sum::<i64>() / values.len() as i64)
    };
    let mttd_ms = mean(
        counted
            .iter()
            .map(|i| i.detected_at - i.opened_at)
            .collect(),
    );
    let mtta_ms = mean(
        counted
            .iter()
            .filter_map(|i| i.acknowledged_at.map(|a| a - i.detected_at))
            .collect(),
    );
    let mttr_ms = mean(
        counted
            .iter()
            .filter_map(|i| i.repaired_at.map(|r| r - i.detected_at))
            .collect(),
    );
    let mut breaches: BTreeMap<&'static str, usize> = BTreeMap::new();
    for i in &counted {
        if i.repair.as_ref().is_some_and(|r| r.breached) {
            *breaches.entry(i.severity).or_default() += 1;
        }
    }
    let breach_count: usize = breaches.values().sum();
    let whole_period = Window::period_at(contract, window.from)
        .is_ok_and(|p| p.from == window.from && p.to == window.to);
    let credit = if whole_period {
        credit(contract, availability, breach_count)
    } else {
        CreditFigure {
            not_owed: Some(format!(
                "no credit: the range is not one contract period (a calendar {}), and the fee, credit tiers and maintenance allowance are per period",
                match contract.period {
                    Period::Month => "month",
                    Period::Quarter => "quarter",
                }
            )),
            ..credit(contract, None, 0)
        }
    };

    Ok(Figures {
        contract: contract.id.clone(),
        site: contract.site.clone(),
        service: contract.service.to_string(),
        period: window.label.clone(),
        from: window.from,
        to: window.to,
        measured_to: until,
        time_zone: contract.time_zone_name.clone(),
        target: contract.target,
        service_ms: f.service_ms,
        measured_ms,
        down_ms: f.down_ms,
        degraded_ms: f.degraded_ms,
        unknown_ms: f.unknown_ms,
        maintenance_ms: f.maintenance_ms,
        maintenance_overrun_ms: f.maintenance_overrun_ms,
        downtime_ms,
        met: availability.map(|a| a >= contract.target),
        availability,
        budget,
        incident_count: counted.len(),
        incidents,
        mttd_ms,
        mtta_ms,
        mttr_ms,
        breaches,
        credit,
        intervals: f.intervals,
    })
}

/// The error budget of `measured_ms` and `downtime_ms` (None without
/// availability: no data).
pub(crate) fn budget(
    contract: &Contract,
    measured_ms: i64,
    downtime_ms: f64,
    availability: Option<f64>,
) -> Option<Budget> {
    availability.map(|_| {
        let allowed_ms = (100.0 - contract.target) / 100.0 * measured_ms as f64;
        Budget {
            allowed_ms,
            used_ms: downtime_ms,
            remaining_ms: allowed_ms - downtime_ms,
            used_percent: (allowed_ms > 0.0).then(|| 100.0 * downtime_ms / allowed_ms),
        }
    })
}

/// How one piece of service time counts before the allowance is applied.
enum Piece<'a> {
    /// Not Up only because of maintained checks: maintenance up to the
    /// allowance, downtime beyond it.
    Maintained,
    /// The service state that counts (rule 3), with its checks.
    State(&'a StateSpan),
}

/// Rules 1 to 3 over `[start, until)` for every start of `starts` (each
/// tally in their order), in one walk over the service's states from the
/// earliest start: every window ending at `until` is the same pieces
/// counted from its own start, with the maintenance allowance consumed from
/// there. With `explain`, the tallies keep the intervals and the checks
/// behind them (the period's figures); without, sums only (burn windows),
/// which spares a list of checks per stretch.
pub(crate) fn tally(
    contract: &Contract,
    input: &Input,
    starts: &[Timestamp],
    until: Timestamp,
    explain: bool,
) -> Vec<Tally> {
    let mut tallies: Vec<Tally> = starts.iter().map(|_| Tally::default()).collect();
    let Some(from) = starts.iter().copied().min().filter(|f| *f < until) else {
        return tallies;
    };
    let service_checks: HashSet<&CheckId> = contract.service.checks().into_iter().collect();
    let hours = service_windows(&contract.service_hours, &contract.time_zone, from, until);
    let states = service_states(&contract.service, &input.timelines, from, until, explain);
    let mut maintenance: Vec<(Timestamp, Timestamp, &str)> = input
        .maintenance
        .iter()
        .filter(|m| m.checks.iter().any(|c| service_checks.contains(c)))
        .map(|m| (m.from.max(from), m.to.min(until), m.id.as_str()))
        .filter(|(a, b, _)| a < b)
        .collect();
    maintenance.sort_unstable();
    // The service as it would have been with the maintained checks Up.
    let excused = maintained_up(input, &service_checks, from, until);
    let states_excused = service_states(&contract.service, &excused, from, until, explain);

    // Cut the range at every start and every boundary of hours, states and
    // maintenance; each piece then lies in one window set, has one state,
    // is in or out of service hours, and in or out of maintenance.
    let mut points: Vec<Timestamp> = starts.to_vec();
    points.extend(hours.iter().flat_map(|(a, b)| [*a, *b]));
    points.extend(states.iter().flat_map(|s| [s.from, s.to]));
    points.extend(states_excused.iter().flat_map(|s| [s.from, s.to]));
    points.extend(maintenance.iter().flat_map(|(a, b, _)| [*a, *b]));
    points.retain(|p| *p >= from && *p <= until);
    points.sort_unstable();
    points.dedup();

    let allowance = contract.maintenance_allowance.map_or(i64::MAX, |d| {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    });
    let (mut h, mut s, mut e) = (0usize, 0usize, 0usize);
    for pair in points.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        while h < hours.len() && hours[h].1 <= a {
            h += 1;
        }
        if hours.get(h).is_none_or(|w| w.0 > a) {
            continue;
        }
        while s < states.len() && states[s].to <= a {
            s += 1;
        }
        while e < states_excused.len() && states_excused[e].to <= a {
            e += 1;
        }
        let Some(state) = states.get(s) else {
            continue;
        };
        let maintained = maintenance.iter().any(|(ma, mb, _)| *ma <= a && b <= *mb);
        let piece = if maintained && state.state != ServiceState::Up {
            match states_excused.get(e) {
                Some(excused) if excused.state == ServiceState::Up => Piece::Maintained,
                Some(excused) => Piece::State(excused),
                None => Piece::State(state),
            }
        } else {
            Piece::State(state)
        };
        let because: Vec<String> = if !explain {
            Vec::new()
        } else if let Piece::State(state) = piece {
            state.checks.iter().map(|c| c.to_string()).collect()
        } else {
            maintenance
                .iter()
                .filter(|(ma, mb, _)| *ma <= a && b <= *mb)
                .map(|(_, _, id)| (*id).to_owned())
                .collect()
        };
        for (f, start) in tallies.iter_mut().zip(starts) {
            if a < *start {
                continue;
            }
            f.service_ms += b - a;
            match piece {
                Piece::Maintained => {
                    let excluded = (allowance - f.maintenance_ms).clamp(0, b - a);
                    f.maintenance_ms += excluded;
                    f.maintenance_overrun_ms += b - a - excluded;
                    f.add(a, a + excluded, Class::Maintenance, &because, explain);
                    f.add(
                        a + excluded,
                        b,
                        Class::MaintenanceOverrun,
                        &because,
                        explain,
                    );
                }
                Piece::State(state) => match state.state {
                    ServiceState::Up => f.up_ms += b - a,
                    ServiceState::Down => {
                        f.down_ms += b - a;
                        f.add(a, b, Class::Down, &because, explain);
                    }
                    ServiceState::Degraded => {
                        f.degraded_ms += b - a;
                        f.add(a, b, Class::Degraded, &because, explain);
                    }
                    ServiceState::Unknown => {
                        f.unknown_ms += b - a;
                        f.add(a, b, Class::Unknown, &because, explain);
                    }
                },
            }
        }
    }
    tallies
}

/// The service checks' timelines with every stretch a maintenance window
/// covers them (within `[from, to)`) replaced by Up.
fn maintained_up(
    input: &Input,
    service_checks: &HashSet<&CheckId>,
    from: Timestamp,
    to: Timestamp,
) -> Vec<CheckTimeline> {
    let mut out = Vec::new();
    for check in service_checks {
        let mut covered: Vec<(Timestamp, Timestamp)> = input
            .maintenance
            .iter()
            .filter(|m| m.checks.contains(check))
            .map(|m| (m.from.max(from), m.to.min(to)))
            .filter(|(a, b)| a < b)
            .collect();
        covered.sort_unstable();
        let mut merged: Vec<(Timestamp, Timestamp)> = Vec::new();
        for (a, b) in covered {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        let original: &[Span] = input
            .timelines
            .iter()
            .find(|t| &t.check == *check)
            .map_or(&[], |t| t.spans.as_slice());
        // Cut each span around the covered stretches, then add those as Up.
        let mut spans: Vec<Span> = Vec::new();
        for span in original {
            let mut start = span.from;
            for &(a, b) in merged
                .iter()
                .filter(|(a, b)| *a < span.to && *b > span.from)
            {
                if start < a {
                    spans.push(Span {
                        from: start,
                        to: a,
                        status: span.status,
                    });
                }
                start = start.max(b);
            }
            if start < span.to {
                spans.push(Span {
                    from: start,
                    ..*span
                });
            }
        }
        spans.extend(merged.iter().map(|&(a, b)| Span {
            from: a,
            to: b,
            status: Some(Status::Up),
        }));
        spans.sort_unstable_by_key(|s| s.from);
        out.push(CheckTimeline {
            check: (*check).clone(),
            spans,
        });
    }
    out
}

/// Service time by how it counted: what availability is made of, for a
/// period or (in the report) one of its days.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Sums {
    pub service_ms: i64,
    pub up_ms: i64,
    pub down_ms: i64,
    pub degraded_ms: i64,
    pub unknown_ms: i64,
    pub maintenance_ms: i64,
    pub maintenance_overrun_ms: i64,
}

/// Measured time, downtime and availability from [`Sums`] (rule 4).
pub(crate) struct Measure {
    pub measured_ms: i64,
    pub downtime_ms: f64,
    pub availability: Option<f64>,
}

/// Applies the contract's unknown policy and degraded weight to `s`.
pub(crate) fn measure(contract: &Contract, s: &Sums) -> Measure {
    measure_by(contract.unknown, contract.degraded_weight, s)
}

/// The availability of one check on its own over its status spans
/// (status and length in ms; `None` is unknown time): rule 4 with a
/// contract's defaults, Degraded counted as down and unknown time
/// excluded, every moment service time. What the dashboard shows beside a
/// check; `None` without any known time.
pub fn check_availability(spans: impl IntoIterator<Item = (Option<Status>, i64)>) -> Option<f64> {
    let mut s = Sums::default();
    for (status, ms) in spans {
        s.service_ms += ms;
        match status {
            Some(Status::Up) => s.up_ms += ms,
            Some(Status::Degraded) => s.degraded_ms += ms,
            Some(Status::Down) => s.down_ms += ms,
            Some(Status::Unknown) | None => s.unknown_ms += ms,
        }
    }
    measure_by(UnknownPolicy::Exclude, 1.0, &s).availability
}

/// One of the service's checks on its own over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckFigure {
    /// The check.
    pub check: String,
    /// Service time it was Down.
    pub down_ms: i64,
    /// Service time it was Degraded.
    pub degraded_ms: i64,
    /// Service time without its data.
    pub unknown_ms: i64,
    /// Downtime as the contract weighs it (rule 3).
    pub downtime_ms: f64,
    /// Availability (rule 4); None without data.
    pub availability: Option<f64>,
}

/// Each of the service's checks on its own over `window`, measured up to
/// `now`: its status within service hours, Degraded and unknown time
/// weighed as the contract says (rules 1, 3 and 4). Maintenance is not
/// taken off: it excuses the service (rule 2), and a check's own figure
/// shows what the check did. What the dashboard lists per component.
pub fn check_figures(
    contract: &Contract,
    window: &Window,
    now: Timestamp,
    input: &Input,
) -> Vec<CheckFigure> {
    let until = window.to.min(now).max(window.from);
    let hours = service_windows(
        &contract.service_hours,
        &contract.time_zone,
        window.from,
        until,
    );
    let service_ms: i64 = hours.iter().map(|(a, b)| b - a).sum();
    input
        .timelines
        .iter()
        .map(|timeline| {
            let mut s = Sums {
                service_ms,
                ..Sums::default()
            };
            // Both are ordered: each span meets the service hours from the
            // first one that ends after its start.
            let mut first = 0usize;
            for span in &timeline.spans {
                while hours.get(first).is_some_and(|h| h.1 <= span.from) {
                    first += 1;
                }
                for (a, b) in hours[first..].iter().take_while(|h| h.0 < span.to) {
                    let ms = (*b).min(span.to) - (*a).max(span.from);
                    if ms <= 0 {
                        continue;
                    }
                    match span.status {
                        Some(Status::Up) => s.up_ms += ms,
                        Some(Status::Degraded) => s.degraded_ms += ms,
                        Some(Status::Down) => s.down_ms += ms,
                        Some(Status::Unknown) | None => {}
                    }
                }
            }
            // Service time no known status covered, spans of unknown time
            // included.
            s.unknown_ms = s.service_ms - s.up_ms - s.degraded_ms - s.down_ms;
            let m = measure(contract, &s);
            CheckFigure {
                check: timeline.check.to_string(),
                down_ms: s.down_ms,
                degraded_ms: s.degraded_ms,
                unknown_ms: s.unknown_ms,
                downtime_ms: m.downtime_ms,
                availability: m.availability,
            }
        })
        .collect()
}

fn measure_by(unknown: UnknownPolicy, degraded_weight: f64, s: &Sums) -> Measure {
    let unknown_excluded = match unknown {
        UnknownPolicy::Exclude => s.unknown_ms,
        UnknownPolicy::Up | UnknownPolicy::Down => 0,
    };
    let unknown_down = if unknown == UnknownPolicy::Down {
        s.unknown_ms
    } else {
        0
    };
    let measured_ms = s.service_ms - s.maintenance_ms - unknown_excluded;
    let downtime_ms = (s.down_ms + s.maintenance_overrun_ms + unknown_down) as f64
        + degraded_weight * s.degraded_ms as f64;
    let had_data = s.up_ms + s.down_ms + s.degraded_ms > 0;
    let availability = (had_data && measured_ms > 0)
        .then(|| 100.0 * (measured_ms as f64 - downtime_ms) / measured_ms as f64);
    Measure {
        measured_ms,
        downtime_ms,
        availability,
    }
}

/// Running sums and the intervals behind them.
#[derive(Default)]
pub(crate) struct Tally {
    service_ms: i64,
    up_ms: i64,
    down_ms: i64,
    degraded_ms: i64,
    unknown_ms: i64,
    maintenance_ms: i64,
    maintenance_overrun_ms: i64,
    intervals: Vec<Interval>,
}

impl Tally {
    pub(crate) fn sums(&self) -> Sums {
        Sums {
            service_ms: self.service_ms,
            up_ms: self.up_ms,
            down_ms: self.down_ms,
            degraded_ms: self.degraded_ms,
            unknown_ms: self.unknown_ms,
            maintenance_ms: self.maintenance_ms,
            maintenance_overrun_ms: self.maintenance_overrun_ms,
        }
    }

    /// Records `[a, b)` as `class`, joined to the previous interval when
    /// it continues it (only when explaining).
    fn add(&mut self, a: Timestamp, b: Timestamp, class: Class, because: &[String], explain: bool) {
        if a >= b || !explain {
            return;
        }
        match self.intervals.last_mut() {
            Some(last) if last.to == a && last.class == class && last.because == because => {
                last.to = b
            }
            _ => self.intervals.push(Interval {
                from: a,
                to: b,
                class,
                because: because.to_vec(),
            }),
        }
    }
}

/// The service's incidents overlapping the period, with repair times.
fn incidents(
    contract: &Contract,
    window: &Window,
    until: Timestamp,
    now: Timestamp,
    records: &[IncidentRecord],
    service_checks: &HashSet<&CheckId>,
) -> Vec<IncidentFigure> {
    let ours: Vec<&IncidentRecord> = records
        .iter()
        .filter(|i| service_checks.contains(&i.check))
        .filter(|i| i.opened_at < until && i.resolved_at.is_none_or(|r| r > window.from))
        .collect();
    let ids: HashSet<i64> = ours.iter().map(|i| i.id).collect();
    let consequences = Consequences::of(&ours);
    let mut out: Vec<IncidentFigure> = ours
        .iter()
        .map(|&i| {
            let severity = i.severity();
            let counted = window.from <= i.detected_at && i.detected_at < until;
            let caused_by = i.cause.filter(|c| ids.contains(c) && *c != i.id);
            let repaired_at = consequences.repair_end(i);
            let repair = contract
                .repair_time
                .iter()
                .find(|(s, _)| *s == severity)
                .filter(|_| counted && !i.maintenance)
                .map(|(_, limit)| {
                    let end = repaired_at.unwrap_or(now).max(i.detected_at);
                    let measured_ms = if limit.business {
                        service_time(
                            &contract.service_hours,
                            &contract.time_zone,
                            i.detected_at,
                            end,
                        )
                    } else {
                        end - i.detected_at
                    };
                    let limit_ms = i64::try_from(limit.limit.as_millis()).unwrap_or(i64::MAX);
                    RepairFigure {
                        measured_ms,
                        limit_ms,
                        limit: limit.written.clone(),
                        breached: measured_ms > limit_ms,
                        open: repaired_at.is_none(),
                    }
                });
            IncidentFigure {
                id: i.id,
                check: i.check.to_string(),
                severity: severity.as_str(),
                message: i.message.clone(),
                opened_at: i.opened_at,
                detected_at: i.detected_at,
                acknowledged_at: i.acknowledged_at,
                resolved_at: i.resolved_at,
                repaired_at,
                in_period: (
                    i.opened_at.max(window.from),
                    i.resolved_at.unwrap_or(until).min(until),
                ),
                counted,
                caused_by,
                maintenance: i.maintenance,
                repair,
            }
        })
        .collect();
    out.sort_by_key(|i| (i.opened_at, i.id));
    out
}

/// The credit for `availability` and `breaches`.
fn credit(contract: &Contract, availability: Option<f64>, breaches: usize) -> CreditFigure {
    let c = &contract.credit;
    let fee = c.monthly_fee * f64::from(contract.period.months());
    let tier = availability.and_then(|a| c.tiers.iter().rev().find(|t| a < t.below).copied());
    let tier_amount = tier.map_or(0.0, |t| fee * t.percent / 100.0);
    let breach_amount = breaches as f64 * c.per_repair_breach;
    let cap = fee * c.cap_percent / 100.0;
    CreditFigure {
        fee,
        currency: c.currency.clone(),
        tier: tier.map(TierFigure::from),
        tier_amount,
        breaches,
        breach_amount,
        cap,
        total: (tier_amount + breach_amount).min(cap),
        not_owed: None,
    }
}
