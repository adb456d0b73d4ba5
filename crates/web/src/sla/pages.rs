//! `/sla` and `/sla/<contract>`: the figures of [`super::summaries`] and
//! [`super::detail`] as pages. Figures carry `data-figure` names, so what
//! a page says can be read back by a machine as by a person.

use super::{Detail, SlaCache, SlaPageError, Summary, contract_href, find, period_window};
use crate::auth::Viewer;
use crate::dashboard::chart;
use crate::dashboard::overview::check_href;
use crate::ui::{self, Section};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use keepup_config::contract::Contract;
use keepup_model::format_rfc3339;
use keepup_monitor::Monitor;
use keepup_sla::{Figures, IncidentFigure, truncated};
use keepup_store::ReportFormat;
use maud::{Markup, html};
use std::sync::Arc;
use std::time::Duration;

/// `99.904 %`, cut rather than rounded (as `keepup sla` prints it: a
/// figure just under the target never reads as the target), or "no data".
pub(crate) fn percent(a: Option<f64>) -> String {
    match a {
        Some(a) => format!("{}\u{a0}%", truncated(a, 3)),
        None => "no data".into(),
    }
}

/// A duration in ms as `1h 2m 3s`.
pub(crate) fn dur(ms: i64) -> String {
    keepup_model::text::duration_compact(Duration::from_millis(ms.max(0).unsigned_abs()))
}

/// [`dur`] or a dash.
fn dur_or_dash(ms: Option<i64>) -> String {
    ms.map_or_else(|| "–".into(), dur)
}

/// Whether the target was met, as a badge.
fn met_badge(met: Option<bool>) -> Markup {
    match met {
        Some(true) => html! { span.badge.up data-figure="met" { "met" } },
        Some(false) => html! { span.badge.down data-figure="met" { "missed" } },
        None => html! { span.badge.unknown data-figure="met" { "no data" } },
    }
}

/// Availability against the target, large.
fn headline(f: &Figures) -> Markup {
    html! {
        p.headline {
            span.figure data-figure="availability" { (percent(f.availability)) }
            " of " span data-figure="target" { (f.target) } "\u{a0}% " (met_badge(f.met))
        }
    }
}

/// MTTD, MTTA and MTTR as a term and its description.
fn mean_times(f: &Figures) -> Markup {
    html! {
        dt { abbr title="mean time to detect, to acknowledge, to repair" { "MTTD / MTTA / MTTR" } }
        dd {
            span data-figure="mttd" { (dur_or_dash(f.mttd_ms)) } " / "
            span data-figure="mtta" { (dur_or_dash(f.mtta_ms)) } " / "
            span data-figure="mttr" { (dur_or_dash(f.mttr_ms)) }
        }
    }
}

/// The error budget: the bar and what is left of it.
fn budget(f: &Figures) -> Markup {
    let used = f.budget.and_then(|b| b.used_percent);
    let words = match f.budget {
        Some(b) if b.allowed_ms > 0.0 => format!(
            "{} % of the error budget left: {} of {}",
            truncated((100.0 * b.remaining_ms / b.allowed_ms).max(0.0), 1),
            if b.remaining_ms < 0.0 {
                format!("overspent by {}", dur(-b.remaining_ms.round() as i64))
            } else {
                dur(b.remaining_ms.round() as i64)
            },
            dur(b.allowed_ms.round() as i64)
        ),
        Some(_) => "no error budget: the target is 100 %".into(),
        None => "no error budget without data".into(),
    };
    html! {
        div.budget {
            (chart::budget_bar(used, &words))
            span data-figure="budget" { (words) }
        }
    }
}

/// The credit reached: tier and amount, or why none is owed.
fn credit(f: &Figures) -> Markup {
    let c = &f.credit;
    html! {
        span data-figure="credit" {
            @if let Some(why) = &c.not_owed {
                (why)
            } @else {
                @match c.tier {
                    Some(t) => { "tier " (t.percent) " % (below " (t.below) " %)" },
                    None => "no tier reached",
                }
                @if c.breaches == 1 { ", 1 repair-time breach" }
                @if c.breaches > 1 { ", " (c.breaches) " repair-time breaches" }
                @if c.fee > 0.0 {
                    ": " strong { (format!("{:.2}", c.total)) " " (c.currency) } " owed"
                }
            }
        }
    }
}

/// Repair-time breaches, per severity.
fn breaches(f: &Figures) -> Markup {
    let total: usize = f.breaches.values().sum();
    html! {
        span data-figure="breaches" { (total) }
        @if total > 0 {
            " ("
            @for (i, (severity, n)) in f.breaches.iter().enumerate() {
                @if i > 0 { ", " }
                (n) " " (severity)
            }
            ")"
        }
    }
}

/// A time in the contract's zone, exact in `datetime`.
fn local_time(f: &Figures, at: i64) -> Markup {
    html! { time datetime=(format_rfc3339(at)) { (f.local(at)) } }
}

/// `GET /sla`
pub(super) async fn list(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    State(cache): State<Arc<SlaCache>>,
) -> Result<Response, SlaPageError> {
    let now = crate::auth::now();
    let (config, current, store) = (monitor.config(), monitor.current(), monitor.store().clone());
    let read = config.clone();
    let all = crate::offload::spawn_blocking(move || {
        super::summaries(&cache, &store, &read, &current, now)
    })
    .await??;
    let body = html! {
        h1 { "SLA" }
        @if all.is_empty() {
            p.muted { "No contracts are configured: see the README's SLA section for " code { "[[contract]]" } "." }
        }
        div.sla-cards {
            @for (contract, s) in config.contracts.iter().zip(&all) {
                (card(contract, s))
            }
        }
    };
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Sla, "SLA", body),
    ))
}

/// One contract's period so far.
fn card(contract: &Contract, s: &Summary) -> Markup {
    let f = &s.current;
    let p = &s.previous;
    let heading = format!("sla-{}", contract.id);
    html! {
        section.sla-card #(format!("contract-{}", contract.id)) aria-labelledby=(heading) {
            h2 #(heading) {
                a href=(contract_href(&contract.id, None)) { (s.name) }
                @if s.name != contract.id { " " span.muted { "(" (contract.id) ")" } }
            }
            p.muted {
                "Site " (f.site) " · " span data-figure="period" { (f.period) } " so far, up to "
                (local_time(f, f.measured_to))
            }
            (headline(f))
            (budget(f))
            dl.facts {
                dt { "Downtime" } dd data-figure="downtime" { (dur(f.downtime_ms.round() as i64)) }
                dt { "Incidents" } dd data-figure="incidents" { (f.incident_count) }
                dt { "Repair-time breaches" } dd { (breaches(f)) }
                (mean_times(f))
                dt { "Credit" } dd { (credit(f)) }
                @if let Some(burn) = &s.burn {
                    dt { "Burn rate" }
                    dd data-figure="burn" {
                        @let status = burn.status.map_or("pending", |s| s.as_str());
                        span class=(format!("badge {}", chart::status_class(burn.status))) data-check=(burn.check.as_str()) data-field="state" {
                            (status.to_uppercase())
                        }
                        " " a href=(check_href(&burn.check)) { (burn.check.as_str()) }
                        @if !burn.message.is_empty() { br; span.muted { (burn.message) } }
                    }
                }
                dt { "Previous period" }
                dd data-figure="previous" {
                    a href=(contract_href(&contract.id, Some(&p.period))) { (p.period) } ": "
                    span data-figure="previous-availability" { (percent(p.availability)) } " "
                    (met_badge(p.met))
                }
            }
        }
    }
}

/// The detail page's query.
#[derive(Debug, Default, serde::Deserialize)]
pub(super) struct DetailQuery {
    period: Option<String>,
}

/// `GET /sla/<contract>`
pub(super) async fn detail(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    State(cache): State<Arc<SlaCache>>,
    Path(id): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, SlaPageError> {
    let now = crate::auth::now();
    let config = monitor.config();
    let contract = find(&config, &id)?;
    let window = period_window(contract, q.period.as_deref(), now)?;
    let store = monitor.store().clone();
    let (read, contract_id) = (config.clone(), contract.id.clone());
    let d = crate::offload::spawn_blocking(move || {
        let contract = find(&read, &contract_id)?;
        super::detail(&cache, &store, &read, contract, &window, now)
    })
    .await??;
    let title = format!("SLA: {}", contract.name);
    Ok(ui::html_response(
        StatusCode::OK,
        ui::page(&session, Section::Sla, &title, detail_body(contract, &d)),
    ))
}

fn detail_body(contract: &Contract, d: &Detail) -> Markup {
    let f = &d.report.figures;
    let running = d.periods.first().is_some_and(|p| *p == f.period);
    let days: Vec<(String, Option<f64>)> = d
        .report
        .days
        .iter()
        .map(|day| (day.date.clone(), day.availability))
        .collect();
    html! {
        h1 { "SLA: " (contract.name) }
        p.muted {
            "Contract " code { (contract.id) } " · site " (f.site) " · down when " code { (f.service) }
            " · periods by " (match contract.period { keepup_config::contract::Period::Month => "month", keepup_config::contract::Period::Quarter => "quarter" })
            " in " (f.time_zone)
        }
        nav.ranges aria-label="Periods" {
            @for p in &d.periods {
                @if *p == f.period {
                    a href=(contract_href(&contract.id, Some(p))) aria-current="page" { (p) }
                } @else {
                    a href=(contract_href(&contract.id, Some(p))) { (p) }
                }
            }
        }
        h2 { span data-figure="period" { (f.period) } @if running { " so far" } }
        p.muted {
            (local_time(f, f.from)) " to " (local_time(f, f.to))
            @if running { ", measured up to " (local_time(f, f.measured_to)) }
        }
        (headline(f))
        (budget(f))
        dl.facts {
            dt { "Service time" } dd data-figure="service" { (dur(f.service_ms)) }
            dt { "Measured" } dd data-figure="measured" { (dur(f.measured_ms)) }
            dt { "Downtime" } dd data-figure="downtime" { (dur(f.downtime_ms.round() as i64)) }
            dt { "Down / degraded" } dd { (dur(f.down_ms)) " / " (dur(f.degraded_ms)) }
            dt { "No data" } dd data-figure="unknown" { (dur(f.unknown_ms)) }
            dt { "Maintenance" } dd data-figure="maintenance" {
                (dur(f.maintenance_ms)) " excluded"
                @if f.maintenance_overrun_ms > 0 { ", " (dur(f.maintenance_overrun_ms)) " beyond the allowance (downtime)" }
            }
            dt { "Incidents counted" } dd data-figure="incidents" { (f.incident_count) }
            dt { "Repair-time breaches" } dd { (breaches(f)) }
            (mean_times(f))
            dt { "Credit" } dd { (credit(f)) }
        }
        h2 { "Availability per day" }
        (chart::day_bars(&days, f.target, &format!("Availability per day of {} against the target of {} %", f.period, f.target), percent))
        h2 { "Components" }
        p.muted { "Each check of the service on its own, in service hours; maintenance excuses the service, not a check." }
        div.table-wrap { table.sla-checks {
            thead { tr {
                th scope="col" { "Check" } th scope="col" .num { "Availability" }
                th scope="col" .num { "Down" } th scope="col" .num { "Degraded" } th scope="col" .num { "No data" }
            } }
            tbody { @for c in &d.checks {
                tr data-check=(c.check) {
                    th scope="row" { a href=(format!("/checks/{}", c.check)) { (c.check) } }
                    td.num data-figure="availability" { (percent(c.availability)) }
                    td.num { (dur(c.down_ms)) } td.num { (dur(c.degraded_ms)) } td.num { (dur(c.unknown_ms)) }
                }
            } }
        } }
        h2 { "Incidents" }
        @if f.incidents.is_empty() {
            p.muted { "No incident of the service's checks overlaps the period." }
        } @else {
            div.table-wrap { table.sla-incidents {
                thead { tr {
                    th scope="col" { "Incident" } th scope="col" { "Severity" } th scope="col" { "Detected" }
                    th scope="col" { "Resolved" } th scope="col" .num { "In period" } th scope="col" { "Counts" }
                    th scope="col" { "Repair time" }
                } }
                tbody { @for i in &f.incidents { (incident_row(f, i)) } }
            } }
        }
        h2 { "Repair-time limits" }
        @if contract.repair_time.is_empty() {
            p.muted { "The contract sets no repair time." }
        } @else {
            div.table-wrap { table {
                thead { tr { th scope="col" { "Severity" } th scope="col" { "Limit" } th scope="col" .num { "Breaches" } } }
                tbody { @for (severity, limit) in &contract.repair_time {
                    tr {
                        th scope="row" { (severity.as_str()) }
                        td { (limit.written) }
                        td.num { (f.breaches.get(severity.as_str()).copied().unwrap_or(0)) }
                    }
                } }
            } }
        }
        @if !d.report.maintenance.is_empty() {
            h2 { "Maintenance" }
            ul { @for m in &d.report.maintenance {
                li { (m.id) ": " (local_time(f, m.from)) " to " (local_time(f, m.to)) }
            } }
        }
        h2 { "Reports" }
        @if d.kept.is_empty() {
            p.muted { "No report is kept yet: the daemon keeps each period's report when it closes (plus " code { "report_delay" } ")." }
        } @else {
            div.table-wrap { table.reports {
                thead { tr { th scope="col" { "Period" } th scope="col" { "Built" } th scope="col" { "Files" } } }
                tbody { @for k in &d.kept {
                    tr {
                        th scope="row" { a href=(contract_href(&contract.id, Some(&k.period))) { (k.period) } }
                        td { time datetime=(format_rfc3339(k.generated_at)) { (f.local(k.generated_at)) } }
                        td { @for (n, format) in ReportFormat::ALL.into_iter().enumerate() {
                            @if n > 0 { " · " }
                            @let ext = format.extension();
                            a href=(format!("/sla/{}/reports/{}.{ext}", contract.id, k.period))
                                download[format != ReportFormat::Html] { (ext.to_uppercase()) }
                        } }
                    }
                } }
            } }
        }
    }
}

/// One incident of the period: its times, whether it counts here, its
/// repair time against the limit.
fn incident_row(f: &Figures, i: &IncidentFigure) -> Markup {
    html! {
        tr data-incident=(i.id) {
            th scope="row" {
                a href=(format!("/incidents/{}", i.id)) { "#" (i.id) } " " (i.check)
                br; span.muted { (i.message) }
            }
            td { span class=(format!("sev {}", match i.severity { "critical" => "critical", "major" => "warning", _ => "info" })) { (i.severity) } }
            td { (local_time(f, i.detected_at)) }
            td { @match i.resolved_at { Some(at) => (local_time(f, at)), None => span.problem { "open" } } }
            td.num data-figure="in-period" { (dur(i.in_period.1 - i.in_period.0)) }
            td data-figure="counts" {
                @if i.maintenance { "no: opened in maintenance" }
                @else if let Some(cause) = i.caused_by { "no: caused by " a href=(format!("/incidents/{cause}")) { "#" (cause) } }
                @else if !i.counted { "no: detected in an earlier period" }
                @else { "yes" }
            }
            td {
                @match &i.repair {
                    Some(r) => {
                        (dur(r.measured_ms)) " of " (r.limit)
                        @if r.open { " (open)" }
                        @if r.breached { " " span.badge.down { "breach" } }
                    },
                    None => span.muted { "–" },
                }
            }
        }
    }
}
