//! The dashboard's SLA pages, behind a [`Viewer`](crate::auth::Viewer):
//!
//! * `/sla`: every contract's period so far (availability against the
//!   target, the error budget left, repair-time breaches, MTTD/MTTA/MTTR,
//!   the credit tier reached, the `sla-<contract>` burn-rate check's
//!   state) and the previous period's final figure;
//! * `/sla/<contract>?period=2026-10`: one period in detail (each
//!   component's own availability, incidents with their time in the
//!   period and whether they count, repair times against the limits,
//!   availability per day as a chart), a period selector, and the reports
//!   the daemon kept;
//! * `/sla/<contract>/reports/<period>.html|csv|json`: a kept report's
//!   file as the store holds it ([`files`]).
//!
//! Every figure is `keepup sla`'s: the store is read and accounted by
//! `keepup_monitor::sla::account_window` and `keepup_sla`, never by a
//! copy of the rules here, and kept a while by [`SlaCache`]. The JSON
//! API's `/api/v1/sla` reads the same [`summaries`] and [`detail`].

mod cache;
mod files;
mod pages;

pub use cache::SlaCache;

use crate::AppState;
use crate::ui;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use keepup_config::contract::{Contract, Period};
use keepup_config::{Config, SlaJob};
use keepup_model::{CheckId, Status, Timestamp};
use keepup_monitor::recorder::CurrentState;
use keepup_sla::{CheckFigure, Figures, Report, Window};
use keepup_store::{KeptReport, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// Periods offered by the period selector, the running one included.
const PERIODS_OFFERED: usize = 13;
/// Longest contract id or period accepted from a request (ids are short;
/// anything longer is not one).
const MAX_NAME: usize = 100;

/// The SLA pages' routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sla", get(pages::list))
        .route("/sla/{contract}", get(pages::detail))
        .route("/sla/{contract}/reports/{file}", get(files::download))
}

/// Why an SLA page or figure could not be given.
#[derive(Debug, thiserror::Error)]
pub enum SlaPageError {
    /// A query parameter is not acceptable.
    #[error("{field}: {why}")]
    BadParameter {
        /// The parameter's name.
        field: &'static str,
        /// What is wrong with it.
        why: String,
    },
    /// No such contract is configured.
    #[error("no contract {0:?} is configured")]
    NoSuchContract(String),
    /// No such report is kept.
    #[error("no report {0:?} of this contract is kept")]
    NoSuchReport(String),
    /// The store could not be read or accounted.
    #[error(transparent)]
    Sla(#[from] keepup_monitor::sla::SlaError),
    /// The store could not be read.
    #[error("cannot read the store: {0}")]
    Store(#[from] keepup_store::StoreError),
    /// A period cannot be computed.
    #[error(transparent)]
    Window(#[from] keepup_sla::WindowError),
    /// A blocking read failed to finish.
    #[error("store task failed: {0}")]
    Task(#[from] crate::offload::TaskFailed),
}

impl SlaPageError {
    /// The HTTP status it is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            SlaPageError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            SlaPageError::NoSuchContract(_) | SlaPageError::NoSuchReport(_) => {
                StatusCode::NOT_FOUND
            }
            SlaPageError::Sla(_)
            | SlaPageError::Store(_)
            | SlaPageError::Window(_)
            | SlaPageError::Task(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

impl IntoResponse for SlaPageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(error = %self, "SLA page failed");
            return ui::message_page(
                status,
                "Try again",
                "The store could not be read. The error is in keepup's log.",
            );
        }
        let title = match status {
            StatusCode::BAD_REQUEST => "Bad request",
            _ => "Not found",
        };
        ui::message_page(status, title, &self.to_string())
    }
}

/// User-supplied text quoted in an error message, cut to a sane length.
fn bounded(s: &str) -> String {
    let mut out: String = s.chars().take(MAX_NAME).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// The contract `id` names.
pub(crate) fn find<'a>(config: &'a Config, id: &str) -> Result<&'a Contract, SlaPageError> {
    config
        .contracts
        .iter()
        .find(|c| c.id == id)
        .ok_or_else(|| SlaPageError::NoSuchContract(bounded(id)))
}

/// The state of a contract's burn-rate check `sla-<contract>`.
#[derive(Debug, Clone)]
pub(crate) struct BurnState {
    /// The check.
    pub check: CheckId,
    /// Its status; None before its first run.
    pub status: Option<Status>,
    /// What it said.
    pub message: String,
}

/// One contract's period so far, and the one before.
pub(crate) struct Summary {
    /// The contract's display name.
    pub name: String,
    /// The period running now, measured up to now.
    pub current: Figures,
    /// The previous period, whole.
    pub previous: Figures,
    /// The burn-rate check, when the contract has burn rules.
    pub burn: Option<BurnState>,
}

/// The previous period of `window`'s contract.
fn previous(contract: &Contract, window: &Window) -> Result<Window, SlaPageError> {
    Ok(Window::period_at(contract, window.from - 1)?)
}

/// Every contract's running and previous periods at `now`, as `cache`
/// keeps them (blocking: may read the store).
pub(crate) fn summaries(
    cache: &SlaCache,
    store: &Store,
    config: &Arc<Config>,
    current: &HashMap<CheckId, CurrentState>,
    now: Timestamp,
) -> Result<Vec<Summary>, SlaPageError> {
    let mut out = Vec::with_capacity(config.contracts.len());
    for contract in &config.contracts {
        let running = Window::period_at(contract, now)?;
        let before = previous(contract, &running)?;
        let account = |w: &Window| {
            cache
                .account(store, config, contract, w, now)
                .map(|a| a.figures)
        };
        let burn = (!contract.burn.is_empty()).then(|| {
            let check = keepup_config::sla_check_id(contract, SlaJob::Burn);
            let state = current.get(&check);
            BurnState {
                status: state.map(|s| s.outcome.status),
                message: state.map(|s| s.outcome.message.clone()).unwrap_or_default(),
                check,
            }
        });
        out.push(Summary {
            name: contract.name.clone(),
            current: account(&running)?,
            previous: account(&before)?,
            burn,
        });
    }
    Ok(out)
}

/// The period of `contract` a `period` parameter names (`2026-10` for a
/// monthly contract, `2026-Q4` for a quarterly one), or the running one;
/// a period that has not begun yet is refused.
pub(crate) fn period_window(
    contract: &Contract,
    period: Option<&str>,
    now: Timestamp,
) -> Result<Window, SlaPageError> {
    let running = Window::period_at(contract, now)?;
    let Some(text) = period.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(running);
    };
    let example = match contract.period {
        Period::Month => "a month such as 2026-10",
        Period::Quarter => "a quarter such as 2026-Q4",
    };
    let bad = |why: String| SlaPageError::BadParameter {
        field: "period",
        why,
    };
    // A quarter is read as its first month.
    let month = match text.split_once("-Q") {
        Some((year, q)) => match q.parse::<u8>() {
            Ok(q @ 1..=4) => format!("{year}-{:02}", (q - 1) * 3 + 1),
            _ => return Err(bad(format!("{:?} is not {example}", bounded(text)))),
        },
        None => text.to_owned(),
    };
    let window = Window::for_month(contract, &month)
        .map_err(|_| bad(format!("{:?} is not {example}", bounded(text))))?;
    if window.label != text {
        // `2026-1` names 2026-01 of a monthly contract; `2026-Q4` or
        // `2026-10` the wrong kind of period.
        let same_kind = text.contains("-Q") == (contract.period == Period::Quarter);
        return Err(bad(if same_kind {
            format!("write {:?} as {}", bounded(text), window.label)
        } else {
            format!(
                "contract {} is measured by {}: write {example}",
                contract.id,
                match contract.period {
                    Period::Month => "month",
                    Period::Quarter => "quarter",
                }
            )
        }));
    }
    if window.from > running.from {
        return Err(bad(format!("{text} has not begun yet")));
    }
    Ok(window)
}

/// One period of one contract in detail.
pub(crate) struct Detail {
    /// The figures, the days and the maintenance done (the report's
    /// first part, as `keepup report` starts it).
    pub report: Report,
    /// Each of the service's checks on its own.
    pub checks: Vec<CheckFigure>,
    /// The periods the selector offers, newest first (the running one
    /// first).
    pub periods: Vec<String>,
    /// The contract's kept reports, newest first.
    pub kept: Vec<KeptReport>,
}

/// `contract` over `window`, measured up to `now` or as `cache` kept it
/// (blocking: may read the store).
pub(crate) fn detail(
    cache: &SlaCache,
    store: &Store,
    config: &Arc<Config>,
    contract: &Contract,
    window: &Window,
    now: Timestamp,
) -> Result<Detail, SlaPageError> {
    let accounted = cache.account(store, config, contract, window, now)?;
    // The kept figures end when they were measured: so do the rest.
    let measured_at = accounted.measured_at;
    let checks = keepup_sla::check_figures(contract, window, measured_at, &accounted.input);
    let report = Report::new(contract, &accounted.input, accounted.figures, measured_at);
    let mut periods = Vec::with_capacity(PERIODS_OFFERED);
    let mut w = Window::period_at(contract, now)?;
    for _ in 0..PERIODS_OFFERED {
        let before = previous(contract, &w)?;
        periods.push(std::mem::replace(&mut w, before).label);
    }
    let mut kept: Vec<KeptReport> = store
        .kept_reports()?
        .into_iter()
        .filter(|k| k.contract == contract.id)
        .collect();
    kept.reverse();
    Ok(Detail {
        report,
        checks,
        periods,
        kept,
    })
}

/// The link to a contract's page, for one period or the running one.
pub(crate) fn contract_href(contract: &str, period: Option<&str>) -> String {
    match period {
        Some(p) => format!("/sla/{contract}?period={p}"),
        None => format!("/sla/{contract}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contract(period: &str) -> Contract {
        let src = format!(
            "[[site]]\nid = \"shop\"\n[[site.check]]\nid = \"web\"\nkind = \"tcp\"\nhost = \"127.0.0.1\"\nport = 9\n\
             [[contract]]\nid = \"front\"\nsite = \"shop\"\ntarget = 99.9\nperiod = \"{period}\"\n"
        );
        keepup_config::load_str(&src, std::path::Path::new("k.toml"))
            .unwrap_or_else(|p| panic!("{p}"))
            .contracts
            .remove(0)
    }

    fn refusal(c: &Contract, period: &str, now: Timestamp) -> String {
        match period_window(c, Some(period), now) {
            Err(SlaPageError::BadParameter { field, why }) => format!("{field}: {why}"),
            other => panic!("{period}: {:?}", other.map(|w| w.label)),
        }
    }

    #[test]
    fn a_period_is_named_as_the_contract_measures_it_and_has_begun() {
        // 2026-12-05T12:00:00Z.
        let now = 1_796_472_000_000;
        let month = contract("month");
        assert_eq!(period_window(&month, None, now).unwrap().label, "2026-12");
        assert_eq!(
            period_window(&month, Some("2026-10"), now).unwrap().label,
            "2026-10"
        );
        assert_eq!(
            refusal(&month, "2026-1", now),
            "period: write \"2026-1\" as 2026-01"
        );
        assert_eq!(
            refusal(&month, "2026-Q4", now),
            "period: contract front is measured by month: write a month such as 2026-10"
        );
        assert_eq!(
            refusal(&month, "2027-01", now),
            "period: 2027-01 has not begun yet"
        );
        assert!(refusal(&month, "<b>", now).starts_with("period: \"<b>\" is not a month"));
        let quarter = contract("quarter");
        assert_eq!(period_window(&quarter, None, now).unwrap().label, "2026-Q4");
        assert_eq!(
            period_window(&quarter, Some("2026-Q1"), now).unwrap().label,
            "2026-Q1"
        );
        assert_eq!(
            refusal(&quarter, "2026-10", now),
            "period: contract front is measured by quarter: write a quarter such as 2026-Q4"
        );
        assert!(refusal(&quarter, "2026-Q5", now).contains("is not a quarter"));
    }
}
