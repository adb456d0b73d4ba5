//! SLA contracts and their figures: `/sla` lists every contract with its
//! running period so far and the previous period, `/sla/{contract}` gives
//! one period in detail. The figures are `keepup sla`'s (read and
//! accounted by the dashboard's SLA pages' [`crate::sla`] functions, which
//! call `keepup_monitor::sla::account_window`); here they are only put
//! into the API's shape: times RFC 3339, durations in seconds.

use super::error::{ApiError, Params};
use super::{StatusName, rfc3339};
use crate::auth::ApiRead;
use crate::sla::{self as pages, SlaCache, SlaPageError};
use axum::Json;
use axum::extract::{Path, RawQuery, State};
use keepup_monitor::Monitor;
use keepup_sla::{CheckFigure, DayFigure, Figures, IncidentFigure};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};

/// Milliseconds as seconds.
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The error budget of a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct BudgetView {
    /// Downtime the target allows in the measured time, in seconds.
    pub allowed_s: f64,
    /// Downtime so far, in seconds.
    pub used_s: f64,
    /// Allowed minus used (negative once overspent), in seconds.
    pub remaining_s: f64,
    /// Used in percent of allowed; absent when nothing is allowed.
    pub used_percent: Option<f64>,
}

/// The credit owed for a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreditView {
    /// The period's fee.
    pub fee: f64,
    /// Its currency.
    pub currency: String,
    /// The availability threshold of the tier reached, if any.
    pub tier_below: Option<f64>,
    /// The share of the fee that tier credits, in percent.
    pub tier_percent: Option<f64>,
    /// Repair-time breaches credited.
    pub breaches: usize,
    /// Owed: the tier and the breaches, at most the cap.
    pub total: f64,
    /// Why no credit is computed, when none is.
    pub not_owed: Option<String>,
}

/// A contract's figures over one period (`keepup sla --json` in the API's
/// units).
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaFigures {
    /// `2026-10` or `2026-Q4`.
    pub period: String,
    /// The period's start.
    pub from: String,
    /// Its end (exclusive).
    pub to: String,
    /// Measured up to: the end, or now within the running period.
    pub measured_to: String,
    /// The target, in percent.
    pub target: f64,
    /// Availability in percent; absent without data.
    pub availability: Option<f64>,
    /// Whether the target is met; absent without data.
    pub met: Option<bool>,
    /// Service time in the measured range, in seconds.
    pub service_s: f64,
    /// Service time that counts (less excluded maintenance and unknown time).
    pub measured_s: f64,
    /// Downtime as the contract counts it.
    pub downtime_s: f64,
    /// Service time down.
    pub down_s: f64,
    /// Service time degraded.
    pub degraded_s: f64,
    /// Service time without data.
    pub unknown_s: f64,
    /// Maintenance excluded (within the allowance).
    pub maintenance_s: f64,
    /// Maintenance beyond the allowance (downtime).
    pub maintenance_overrun_s: f64,
    /// The error budget; absent without data.
    pub budget: Option<BudgetView>,
    /// Incidents counted in the period.
    pub incidents_counted: usize,
    /// Mean time to detect, in seconds.
    pub mttd_s: Option<f64>,
    /// Mean time to acknowledge.
    pub mtta_s: Option<f64>,
    /// Mean time to repair.
    pub mttr_s: Option<f64>,
    /// Repair-time breaches by severity (`critical`, `major`, `minor`).
    pub breaches: BTreeMap<String, usize>,
    /// The credit.
    pub credit: CreditView,
}

impl From<&Figures> for SlaFigures {
    fn from(f: &Figures) -> Self {
        let c = &f.credit;
        SlaFigures {
            period: f.period.clone(),
            from: rfc3339(f.from),
            to: rfc3339(f.to),
            measured_to: rfc3339(f.measured_to),
            target: f.target,
            availability: f.availability,
            met: f.met,
            service_s: seconds(f.service_ms),
            measured_s: seconds(f.measured_ms),
            downtime_s: f.downtime_ms / 1000.0,
            down_s: seconds(f.down_ms),
            degraded_s: seconds(f.degraded_ms),
            unknown_s: seconds(f.unknown_ms),
            maintenance_s: seconds(f.maintenance_ms),
            maintenance_overrun_s: seconds(f.maintenance_overrun_ms),
            budget: f.budget.map(|b| BudgetView {
                allowed_s: b.allowed_ms / 1000.0,
                used_s: b.used_ms / 1000.0,
                remaining_s: b.remaining_ms / 1000.0,
                used_percent: b.used_percent,
            }),
            incidents_counted: f.incident_count,
            mttd_s: f.mttd_ms.map(seconds),
            mtta_s: f.mtta_ms.map(seconds),
            mttr_s: f.mttr_ms.map(seconds),
            breaches: f
                .breaches
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            credit: CreditView {
                fee: c.fee,
                currency: c.currency.clone(),
                tier_below: c.tier.map(|t| t.below),
                tier_percent: c.tier.map(|t| t.percent),
                breaches: c.breaches,
                total: c.total,
                not_owed: c.not_owed.clone(),
            },
        }
    }
}

/// The state of a contract's burn-rate check `sla-<contract>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct BurnView {
    /// The check (`site/sla-<contract>`).
    pub check: String,
    /// Its status (`unknown` until its first run).
    pub status: StatusName,
    /// What it said.
    pub message: String,
}

/// A contract with its running period so far and the previous period.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaContractView {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The site whose checks make up the service.
    pub site: String,
    /// The running period, measured up to now.
    pub current: SlaFigures,
    /// The previous period, whole.
    pub previous: SlaFigures,
    /// The burn-rate check, when the contract has burn rules.
    pub burn: Option<BurnView>,
}

/// The contracts.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaList {
    /// Every configured contract, in the configuration's order.
    pub items: Vec<SlaContractView>,
}

/// One check of the service on its own over the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaCheckView {
    /// `site/check`.
    pub check: String,
    /// Availability in percent (service hours, the contract's weights, no
    /// maintenance excused); absent without data.
    pub availability: Option<f64>,
    /// Service time down, in seconds.
    pub down_s: f64,
    /// Service time degraded.
    pub degraded_s: f64,
    /// Service time without data.
    pub unknown_s: f64,
}

impl From<&CheckFigure> for SlaCheckView {
    fn from(c: &CheckFigure) -> Self {
        SlaCheckView {
            check: c.check.clone(),
            availability: c.availability,
            down_s: seconds(c.down_ms),
            degraded_s: seconds(c.degraded_ms),
            unknown_s: seconds(c.unknown_ms),
        }
    }
}

/// A repair time against the contract's limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct RepairView {
    /// Measured (wall clock, or service time for business limits), in seconds.
    pub measured_s: f64,
    /// The limit, in seconds.
    pub limit_s: f64,
    /// The limit as the contract writes it.
    pub limit: String,
    /// Measured beyond the limit.
    pub breached: bool,
    /// Still open (measured up to now).
    pub open: bool,
}

/// An incident of the service overlapping the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaIncidentView {
    /// Its number.
    pub id: i64,
    /// The check.
    pub check: String,
    /// `critical`, `major` or `minor`.
    pub severity: String,
    /// What failed.
    pub message: String,
    /// First failure.
    pub opened_at: String,
    /// Confirmed.
    pub detected_at: String,
    /// Acknowledged.
    pub acknowledged_at: Option<String>,
    /// Resolved.
    pub resolved_at: Option<String>,
    /// Its time within the period, in seconds.
    pub in_period_s: f64,
    /// Counted in this period (detected in it, not caused by another of
    /// the service's incidents, not opened in maintenance).
    pub counted: bool,
    /// The incident of the service that caused it.
    pub caused_by: Option<i64>,
    /// Opened during maintenance of its check.
    pub maintenance: bool,
    /// Its repair time against the limit of its severity, when limited.
    pub repair: Option<RepairView>,
}

impl From<&IncidentFigure> for SlaIncidentView {
    fn from(i: &IncidentFigure) -> Self {
        SlaIncidentView {
            id: i.id,
            check: i.check.clone(),
            severity: i.severity.to_owned(),
            message: i.message.clone(),
            opened_at: rfc3339(i.opened_at),
            detected_at: rfc3339(i.detected_at),
            acknowledged_at: i.acknowledged_at.map(rfc3339),
            resolved_at: i.resolved_at.map(rfc3339),
            in_period_s: seconds(i.in_period.1 - i.in_period.0),
            counted: i.counted && i.caused_by.is_none() && !i.maintenance,
            caused_by: i.caused_by,
            maintenance: i.maintenance,
            repair: i.repair.as_ref().map(|r| RepairView {
                measured_s: seconds(r.measured_ms),
                limit_s: seconds(r.limit_ms),
                limit: r.limit.clone(),
                breached: r.breached,
                open: r.open,
            }),
        }
    }
}

/// One local day of the period.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaDayView {
    /// `2026-10-04`, in the contract's zone.
    pub date: String,
    /// Availability in percent; absent without data.
    pub availability: Option<f64>,
    /// Downtime as the contract counts it, in seconds.
    pub downtime_s: f64,
    /// Time without data.
    pub unknown_s: f64,
    /// Maintenance (excluded and beyond the allowance).
    pub maintenance_s: f64,
}

impl From<&DayFigure> for SlaDayView {
    fn from(d: &DayFigure) -> Self {
        SlaDayView {
            date: d.date.clone(),
            availability: d.availability,
            downtime_s: d.downtime_ms / 1000.0,
            unknown_s: seconds(d.unknown_ms),
            maintenance_s: seconds(d.maintenance_ms),
        }
    }
}

/// A contract's period in detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaPeriodView {
    /// The contract's id.
    pub contract: String,
    /// Its display name.
    pub name: String,
    /// The figures.
    pub figures: SlaFigures,
    /// Each check of the service on its own.
    pub checks: Vec<SlaCheckView>,
    /// Incidents of the service's checks overlapping the period.
    pub incidents: Vec<SlaIncidentView>,
    /// Availability per local day, up to the measured end.
    pub days: Vec<SlaDayView>,
    /// Periods whose report the daemon kept (newest first; the files are
    /// on the dashboard at `/sla/{contract}/reports/{period}.html|csv|json`).
    pub kept_reports: Vec<String>,
}

/// The period of `GET /sla/{contract}`.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameter; `Params` reads it.
pub struct PeriodQuery {
    /// `2026-10` for a monthly contract, `2026-Q4` for a quarterly one;
    /// default the running period.
    period: Option<String>,
}

impl From<SlaPageError> for ApiError {
    fn from(e: SlaPageError) -> Self {
        match e {
            SlaPageError::BadParameter { field, why } => ApiError::bad(field, why),
            SlaPageError::NoSuchContract(_) | SlaPageError::NoSuchReport(_) => {
                ApiError::not_found(e.to_string())
            }
            other => ApiError::unavailable("SLA figures", &other),
        }
    }
}

/// Every contract with its running period so far and the previous one.
#[utoipa::path(get, path = "/api/v1/sla", tag = "sla",
    responses((status = 200, description = "The contracts", body = SlaList)),
    security(("bearer" = [])))]
pub async fn list(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    State(cache): State<Arc<SlaCache>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SlaList>, ApiError> {
    Params::parse(raw.as_deref())?.done()?;
    let now = crate::auth::now();
    let (config, current, store) = (m.config(), m.current(), m.store().clone());
    let read = config.clone();
    let all = crate::offload::spawn_blocking(move || {
        pages::summaries(&cache, &store, &read, &current, now)
    })
    .await
    .map_err(|e| ApiError::unavailable("SLA figures", &e))??;
    let items = config
        .contracts
        .iter()
        .zip(&all)
        .map(|(c, s)| SlaContractView {
            id: c.id.clone(),
            name: s.name.clone(),
            site: c.site.clone(),
            current: (&s.current).into(),
            previous: (&s.previous).into(),
            burn: s.burn.as_ref().map(|b| BurnView {
                check: b.check.to_string(),
                status: b.status.unwrap_or(keepup_model::Status::Unknown).into(),
                message: b.message.clone(),
            }),
        })
        .collect();
    Ok(Json(SlaList { items }))
}

/// One period of a contract in detail.
#[utoipa::path(get, path = "/api/v1/sla/{contract}", tag = "sla",
    params(("contract" = String, Path, description = "The contract id"), PeriodQuery),
    responses(
        (status = 200, description = "The period's figures", body = SlaPeriodView),
        (status = 400, description = "A parameter is invalid", body = super::error::ErrorBody),
        (status = 404, description = "No such contract", body = super::error::ErrorBody)),
    security(("bearer" = [])))]
pub async fn period(
    _: ApiRead,
    State(m): State<Arc<Monitor>>,
    State(cache): State<Arc<SlaCache>>,
    Path(contract): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<SlaPeriodView>, ApiError> {
    let mut q = Params::parse(raw.as_deref())?;
    let period = q.text("period");
    q.done()?;
    let now = crate::auth::now();
    let config = m.config();
    let c = pages::find(&config, &contract)?;
    let window = pages::period_window(c, period.as_deref(), now)?;
    let (store, read, id) = (m.store().clone(), config.clone(), c.id.clone());
    let d = crate::offload::spawn_blocking(move || {
        let c = pages::find(&read, &id)?;
        pages::detail(&cache, &store, &read, c, &window, now)
    })
    .await
    .map_err(|e| ApiError::unavailable("SLA figures", &e))??;
    let f = &d.report.figures;
    Ok(Json(SlaPeriodView {
        contract: c.id.clone(),
        name: c.name.clone(),
        figures: f.into(),
        checks: d.checks.iter().map(SlaCheckView::from).collect(),
        incidents: f.incidents.iter().map(SlaIncidentView::from).collect(),
        days: d.report.days.iter().map(SlaDayView::from).collect(),
        kept_reports: d.kept.into_iter().map(|k| k.period).collect(),
    }))
}
