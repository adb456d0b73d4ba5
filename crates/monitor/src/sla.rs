//! The daemon's SLA checks: `sla-<contract>` reports the error budget's
//! burn rates (Down for a page, Degraded for a ticket) and
//! `sla-<contract>-repair` open incidents about to breach their repair
//! time (Degraded). Both read the store's status spans and incidents
//! through [`read_input`], the same adapter `keepup sla` uses, and leave
//! the arithmetic to `keepup_sla`, so an alert and the period's figures
//! never disagree. Their results then go through the one incident engine,
//! routing and escalation like any check's.

use keepup_config::contract::{BurnSeverity, Contract};
use keepup_config::{Config, SlaCheckSpec, SlaJob};
use keepup_model::{CheckId, Outcome, Status, Timestamp};
use keepup_sla::{CheckTimeline, IncidentRecord, Input, MaintenanceSpan, Span};
use keepup_store::{Store, StoreError};
use std::sync::{Arc, Mutex};

/// Why an SLA check cannot say anything.
#[derive(Debug, thiserror::Error)]
pub enum SlaError {
    /// The store failed.
    #[error("cannot read the store: {0}")]
    Store(#[from] StoreError),
    /// The accounting refused its input.
    #[error(transparent)]
    Input(#[from] keepup_sla::InputError),
}

/// The store's spans, incidents and hand-started maintenance, and the
/// configured maintenance windows, of `contract`'s service checks over
/// `[from, until)`: `keepup_sla`'s input.
pub fn read_input(
    store: &Store,
    config: &Config,
    contract: &Contract,
    from: Timestamp,
    until: Timestamp,
) -> Result<Input, SlaError> {
    let checks: Vec<CheckId> = contract.service.checks().into_iter().cloned().collect();
    let mut timelines: Vec<CheckTimeline> = checks
        .iter()
        .map(|c| CheckTimeline {
            check: c.clone(),
            spans: Vec::new(),
        })
        .collect();
    for span in store.status_spans(&checks, from, until) {
        let span = span?;
        if let Some(t) = timelines.get_mut(span.check) {
            t.spans.push(Span {
                from: span.from_ms,
                to: span.to_ms,
                status: span.status,
            });
        }
    }
    let incidents = store
        .incidents_overlapping(&checks, from, until)?
        .into_iter()
        .map(record)
        .collect();
    let mut maintenance = Vec::new();
    for m in &config.maintenance {
        let covered: Vec<CheckId> = checks.iter().filter(|c| m.covers(c)).cloned().collect();
        if covered.is_empty() {
            continue;
        }
        // A recurring window that opened before the range may reach into it.
        let reach = match &m.when {
            keepup_config::maintenance::Window::Recurring { duration, .. } => {
                i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
            }
            keepup_config::maintenance::Window::Once { .. } => 0,
        };
        for (a, b) in m.occurrences(from.saturating_sub(reach), until, 100_000) {
            maintenance.push(MaintenanceSpan {
                id: m.id.clone(),
                from: a,
                to: b,
                checks: covered.clone(),
            });
        }
    }
    for m in store.maintenance_overlapping(from, until)? {
        let scope = m.scope();
        let covered: Vec<CheckId> = checks
            .iter()
            .filter(|c| config.maintenance_covers(&scope, c))
            .cloned()
            .collect();
        if !covered.is_empty() {
            maintenance.push(MaintenanceSpan {
                id: format!("#{} ({})", m.id, m.reason),
                from: m.starts_at,
                to: m.ends_at,
                checks: covered,
            });
        }
    }
    Ok(Input {
        timelines,
        incidents,
        maintenance,
    })
}

/// [`read_input`] over `window`, up to `now` (a period still running is
/// read up to now): what `keepup sla` and the reports account.
pub fn read_window(
    store: &Store,
    config: &Config,
    contract: &Contract,
    window: &keepup_sla::Window,
    now: Timestamp,
) -> Result<Input, SlaError> {
    let until = window.to.min(now).max(window.from);
    read_input(store, config, contract, window.from, until)
}

/// The figures of `contract` over `window`, measured up to `now`, and the
/// input they were accounted from: what `keepup sla`, the reports and the
/// dashboard's SLA pages show, read and computed one way.
pub fn account_window(
    store: &Store,
    config: &Config,
    contract: &Contract,
    window: &keepup_sla::Window,
    now: Timestamp,
) -> Result<(Input, keepup_sla::Figures), SlaError> {
    let input = read_window(store, config, contract, window, now)?;
    let figures = keepup_sla::account(contract, window, now, &input)?;
    Ok((input, figures))
}

/// The accounting's view of a stored incident (the store records no
/// severity: it follows from the status).
fn record(i: keepup_store::Incident) -> IncidentRecord {
    IncidentRecord {
        id: i.id,
        check: i.check,
        status: i.status,
        opened_at: i.opened_at,
        detected_at: i.detected_at,
        acknowledged_at: i.acknowledged_at,
        resolved_at: i.resolved_at,
        cause: i.cause,
        severity: None,
        message: i.message,
        maintenance: i.maintenance,
    }
}

/// The configuration the SLA checks read their contracts from (replaced
/// on reload) and the store.
pub struct SlaBook {
    store: Store,
    config: Mutex<Arc<Config>>,
}

impl SlaBook {
    /// A book reading `store` with `config`'s contracts.
    pub fn new(store: Store, config: Arc<Config>) -> Self {
        SlaBook {
            store,
            config: Mutex::new(config),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Takes a reloaded configuration.
    pub fn configure(&self, config: Arc<Config>) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    /// The check's outcome at `now` (blocking: reads the store).
    pub fn evaluate(&self, spec: &SlaCheckSpec, now: Timestamp) -> Outcome {
        evaluate(&self.store, &self.config(), spec, now)
    }
}

/// What the SLA check `spec` reports at `now`.
pub fn evaluate(store: &Store, config: &Config, spec: &SlaCheckSpec, now: Timestamp) -> Outcome {
    let Some(contract) = config.contracts.iter().find(|c| c.id == spec.contract) else {
        return Outcome::new(
            Status::Unknown,
            format!("no contract {:?} is configured", spec.contract),
        );
    };
    let result = match spec.job {
        SlaJob::Burn => burn_outcome(store, config, contract, now),
        SlaJob::Repair => repair_outcome(store, contract, now),
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(contract = %contract.id, error = %e, "cannot evaluate the SLA check");
        Outcome::new(
            Status::Unknown,
            format!("cannot evaluate the contract: {e}"),
        )
    })
}

fn burn_outcome(
    store: &Store,
    config: &Config,
    contract: &Contract,
    now: Timestamp,
) -> Result<Outcome, SlaError> {
    let from = keepup_sla::burn_reach(contract, now)?;
    let input = read_input(store, config, contract, from, now)?;
    let burn = keepup_sla::burn(contract, &input, now)?;
    let left = burn.budget.map(|b| {
        let share = if b.allowed_ms > 0.0 {
            (100.0 * b.remaining_ms / b.allowed_ms).max(0.0)
        } else {
            0.0
        };
        format!(
            "{} % of the {} error budget left",
            keepup_sla::truncated(share, 0),
            burn.period
        )
    });
    let left = left.unwrap_or_else(|| format!("no data yet for the {} budget", burn.period));
    let firing: Vec<String> = burn
        .rules
        .iter()
        .filter(|r| r.firing)
        .map(|r| {
            format!(
                "{} over {} and {} over {} ({} at {}×)",
                rate(r.long.rate),
                window(r.long.window_ms),
                rate(r.short.rate),
                window(r.short.window_ms),
                r.severity,
                r.factor
            )
        })
        .collect();
    let mut o = match burn.alert {
        None => Outcome::new(
            Status::Up,
            format!("the error budget is not burning too fast; {left}"),
        ),
        Some(severity) => Outcome::new(
            match severity {
                BurnSeverity::Page => Status::Down,
                BurnSeverity::Ticket => Status::Degraded,
            },
            format!("the error budget burns at {}; {left}", firing.join(", ")),
        ),
    };
    for r in &burn.rules {
        for w in [&r.long, &r.short] {
            if let Some(x) = w.rate {
                o.evidence
                    .insert(&format!("burn_rate_{}", window(w.window_ms)), round(x));
            }
        }
    }
    if let Some(b) = burn.budget {
        o.evidence
            .insert("budget_allowed_ms", b.allowed_ms.round() as i64);
        o.evidence
            .insert("budget_used_ms", b.used_ms.round() as i64);
        o.evidence
            .insert("budget_remaining_ms", b.remaining_ms.round() as i64);
    }
    o.evidence.insert("period", burn.period);
    Ok(o)
}

fn repair_outcome(store: &Store, contract: &Contract, now: Timestamp) -> Result<Outcome, SlaError> {
    let checks: Vec<CheckId> = contract.service.checks().into_iter().cloned().collect();
    let mut incidents: Vec<IncidentRecord> = store
        .incidents_overlapping(&checks, now, now.saturating_add(1))?
        .into_iter()
        .filter(|i| i.resolved_at.is_none())
        .map(record)
        .collect();
    // An open consequence keeps its resolved cause's repair running, so the
    // causes come along (a chain is short; the bound stops a cycle).
    let mut wanted: Vec<i64> = incidents.iter().filter_map(|i| i.cause).collect();
    for _ in 0..64 {
        let Some(id) = wanted.pop() else { break };
        if incidents.iter().any(|i| i.id == id) {
            continue;
        }
        if let Some(cause) = store.incident(id)?
            && checks.contains(&cause.check)
        {
            wanted.extend(cause.cause);
            incidents.push(record(cause));
        }
    }
    let lead = i64::try_from(contract.repair_warning.as_millis()).unwrap_or(i64::MAX);
    let deadlines = keepup_sla::repair_deadlines(contract, &incidents);
    let near: Vec<&keepup_sla::Deadline> = deadlines
        .iter()
        .filter(|d| d.deadline.saturating_sub(now) <= lead)
        .collect();
    let mut o = if near.is_empty() {
        Outcome::new(
            Status::Up,
            format!(
                "no open incident is within {} of its repair deadline",
                window(lead)
            ),
        )
    } else {
        let named: Vec<String> = near
            .iter()
            .map(|d| {
                let when = if d.deadline > now {
                    "breaches"
                } else {
                    "breached"
                };
                format!(
                    "incident #{} of {} ({}, {}) {when} its repair time of {} at {}",
                    d.incident,
                    d.check,
                    d.severity,
                    d.message,
                    d.limit,
                    keepup_model::format_rfc3339(d.deadline)
                )
            })
            .collect();
        Outcome::new(Status::Degraded, named.join("; "))
    };
    o.evidence.insert("open_incidents", deadlines.len());
    if let Some(first) = deadlines.first() {
        o.evidence.insert("next_deadline", first.deadline);
        o.evidence.insert("next_deadline_incident", first.incident);
    }
    Ok(o)
}

/// `14.4×`, one decimal cut, not rounded (a page names the rate, not its
/// noise, and 14.36× must not read as the 14.4× it did not reach).
fn rate(x: Option<f64>) -> String {
    match x {
        Some(x) if x.is_infinite() => "∞×".into(),
        Some(x) => format!("{}×", keepup_sla::truncated(x, 1)),
        None => "no data".into(),
    }
}

fn round(x: f64) -> f64 {
    if x.is_finite() {
        (x * 100.0).round() / 100.0
    } else {
        f64::MAX
    }
}

/// `5m`, `1h`, `3d`, `90m`.
fn window(ms: i64) -> String {
    let minutes = ms / 60_000;
    if minutes % 1440 == 0 && minutes > 0 {
        format!("{}d", minutes / 1440)
    } else if minutes % 60 == 0 && minutes > 0 {
        format!("{}h", minutes / 60)
    } else if ms % 60_000 == 0 {
        format!("{minutes}m")
    } else {
        format!("{}s", ms / 1000)
    }
}
