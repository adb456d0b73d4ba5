//! A check's page at `/checks/<site>/<check>`: its state, the status
//! timeline and latency percentiles over a range (24 h from minute
//! rollups, 7 d from hour rollups, 90 d from day rollups), the last run's
//! findings and evidence, its incidents, its dependencies and its recent
//! results, paged back in time with `before`.
//!
//! The charts (the status band, the availability and the latency
//! percentiles) are kept drawn per check and range for the rest of the
//! wall-clock minute they were drawn in ([`ChartCache`]), as the overview's
//! histories are: fifty clients on one check's page then read its day of
//! minute rollups and draw its 360-point lines once a minute, not once
//! each (they were most of the page's cost). A change of state shows in
//! them from the next minute; the state, the last run, incidents and
//! results are read for every request.

use super::overview::{check_href, percent, since_cell, state_badge};
use super::{DashboardError, Now, chart, evidence, layout};
use crate::auth::Viewer;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use keepup_config::{Check, Config};
use keepup_model::{CheckId, Status, Timestamp, format_rfc3339};
use keepup_monitor::Monitor;
use keepup_monitor::recorder::{CurrentState, CurrentStates};
use keepup_store::{Incident, Resolution, ResultRecord, Rollup, StatusSpan, Store};
use maud::{Markup, PreEscaped, html};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Results on one page of the recent results.
const RESULTS_PAGE: usize = 50;
/// Incidents listed (newest first).
const INCIDENTS_SHOWN: usize = 50;
const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;
/// Checks' charts kept at most within a minute; pages past these are
/// drawn for each request.
const CHARTS_KEPT: usize = 128;

/// The range the charts cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Range {
    Day,
    Week,
    Quarter,
}

impl Range {
    const ALL: [Range; 3] = [Range::Day, Range::Week, Range::Quarter];

    fn parse(s: Option<&str>) -> Result<Range, DashboardError> {
        match s.map(str::trim) {
            None | Some("") | Some("24h") => Ok(Range::Day),
            Some("7d") => Ok(Range::Week),
            Some("90d") => Ok(Range::Quarter),
            Some(_) => Err(DashboardError::BadParameter {
                field: "range",
                why: "one of 24h, 7d, 90d".into(),
            }),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
            Range::Quarter => "90d",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Range::Day => "24 hours",
            Range::Week => "7 days",
            Range::Quarter => "90 days",
        }
    }

    fn ms(self) -> i64 {
        match self {
            Range::Day => DAY_MS,
            Range::Week => 7 * DAY_MS,
            Range::Quarter => 90 * DAY_MS,
        }
    }

    /// The rollups that give a chart of this range a few hundred points.
    fn resolution(self) -> Resolution {
        match self {
            Range::Day => Resolution::Minute,
            Range::Week => Resolution::Hour,
            Range::Quarter => Resolution::Day,
        }
    }
}

/// The check page's query as it arrives.
#[derive(Debug, Default, serde::Deserialize)]
pub struct RawQuery {
    range: Option<String>,
    before: Option<String>,
}

/// A check this one depends on, or one that depends on it.
struct Related {
    id: CheckId,
    status: Option<Status>,
}

/// What a check's page shows.
struct CheckView {
    check: Check,
    site: String,
    state: Option<CurrentState>,
    range: Range,
    charts: Arc<Charts>,
    results: Vec<ResultRecord>,
    /// Where the next (older) page of results starts, if there is one.
    older: Option<Timestamp>,
    incidents: Vec<Incident>,
    parents: Vec<Related>,
    children: Vec<Related>,
    /// The last run's screenshot when the evidence kept in memory does
    /// not name it (the store numbers it when recording the result).
    screenshot: Option<i64>,
    /// The runbook notes of the check and its current findings' codes.
    runbook: Vec<keepup_config::RunbookNote>,
}

/// A check's charts over a range, drawn.
#[derive(Debug, PartialEq)]
pub struct Charts {
    /// Over the range; Degraded counts as down, time without data is left
    /// out.
    availability: Option<f64>,
    /// The status band's SVG.
    band: String,
    /// The latency percentiles' SVG.
    latency: String,
}

/// Each check's [`Charts`] per range as drawn in the current wall-clock
/// minute; a new minute starts afresh. At most [`CHARTS_KEPT`] are kept.
#[derive(Default)]
pub struct ChartCache {
    kept: Mutex<KeptCharts>,
}

#[derive(Default)]
struct KeptCharts {
    /// The minute (ms since the epoch / 60,000) the charts were drawn in.
    minute: i64,
    by_check: HashMap<(CheckId, Range), Arc<Charts>>,
}

impl ChartCache {
    /// `check`'s charts over `range` ending at `now`: the ones drawn in
    /// `now`'s minute, else read from the store and drawn (blocking).
    pub fn charts(
        &self,
        store: &Store,
        check: &CheckId,
        range: Range,
        now: Timestamp,
    ) -> Result<Arc<Charts>, DashboardError> {
        let minute = now.div_euclid(MINUTE_MS);
        let key = (check.clone(), range);
        {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if kept.minute < minute {
                kept.minute = minute;
                kept.by_check.clear();
            }
            if let Some(charts) = kept.by_check.get(&key) {
                return Ok(charts.clone());
            }
        }
        let charts = Arc::new(draw(store, check, range, now)?);
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        // Not into a newer minute's charts (a request that started later
        // may have begun them meanwhile).
        if kept.minute == minute && kept.by_check.len() < CHARTS_KEPT {
            kept.by_check.insert(key, charts.clone());
        }
        Ok(charts)
    }
}

/// Reads `check`'s spans and rollups over `range` up to `now` and draws
/// its charts.
fn draw(
    store: &Store,
    check: &CheckId,
    range: Range,
    now: Timestamp,
) -> Result<Charts, DashboardError> {
    let (from, to) = (now - range.ms(), now);
    let spans = store
        .status_spans(std::slice::from_ref(check), from, to)
        .collect::<Result<Vec<StatusSpan>, _>>()?;
    let rollups: Vec<Rollup> = store.rollups(check, range.resolution(), from, to)?;
    let label = format!("Status of {} over {}", check.as_str(), range.label());
    Ok(Charts {
        availability: keepup_sla::check_availability(
            spans.iter().map(|s| (s.status, s.duration_ms())),
        ),
        band: chart::status_band(&spans, from, to, &label).into_string(),
        latency: chart::percentiles(&rollups, from, to, range.resolution().width_ms())
            .into_string(),
    })
}

pub async fn page(
    Viewer(session): Viewer,
    State(monitor): State<Arc<Monitor>>,
    State(charts): State<Arc<ChartCache>>,
    Path(id): Path<String>,
    Query(q): Query<RawQuery>,
) -> Result<Response, DashboardError> {
    let range = Range::parse(q.range.as_deref())?;
    let before = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(
            b.parse::<Timestamp>()
                .map_err(|_| DashboardError::BadParameter {
                    field: "before",
                    why: "a time in milliseconds since the epoch".into(),
                })?,
        ),
    };
    let now = Now::wall();
    let config = monitor.config();
    let Some(check) = config.find_check(&id).cloned() else {
        return Err(DashboardError::NoSuchCheck(super::bounded_for_message(&id)));
    };
    let current = monitor.current_shared();
    let store = monitor.store().clone();
    let view = crate::offload::spawn_blocking(move || {
        let charts = charts.charts(&store, &check.id, range, now.0)?;
        read(
            &config, &current, &store, check, range, charts, before, now.0,
        )
    })
    .await??;
    Ok(layout(
        &session,
        view.check.id.as_str(),
        &render(&view, now),
    ))
}

#[allow(clippy::too_many_arguments)]
fn read(
    config: &Config,
    current: &CurrentStates,
    store: &Store,
    check: Check,
    range: Range,
    charts: Arc<Charts>,
    before: Option<Timestamp>,
    now: Timestamp,
) -> Result<CheckView, DashboardError> {
    let ids = [check.id.clone()];
    let mut results = store.results(&check.id, 0, before.unwrap_or(now + 1), RESULTS_PAGE + 1)?;
    let older = (results.len() > RESULTS_PAGE).then(|| {
        results.truncate(RESULTS_PAGE);
        results.last().map_or(0, |r| r.at)
    });
    let mut incidents = store.incidents_overlapping(&ids, now - 90 * DAY_MS, now + 1)?;
    incidents.reverse();
    incidents.truncate(INCIDENTS_SHOWN);
    let status = |id: &CheckId| current.get(id).map(|s| s.outcome.status);
    let parents = check
        .depends_on
        .iter()
        .map(|id| Related {
            id: id.clone(),
            status: status(id),
        })
        .collect();
    let children = config
        .checks()
        .filter(|c| c.depends_on.contains(&check.id))
        .map(|c| Related {
            id: c.id.clone(),
            status: status(&c.id),
        })
        .collect();
    let site = config
        .sites
        .iter()
        .find(|s| s.checks.iter().any(|c| c.id == check.id))
        .map(|s| s.name.clone())
        .unwrap_or_default();
    let state = current.get(&check.id).map(|s| CurrentState::clone(s));
    let screenshot = match &state {
        Some(s)
            if s.outcome.status != Status::Up
                && !s.outcome.evidence.details.contains_key("screenshot") =>
        {
            store.screenshot_of_result(&check.id, s.at)?
        }
        _ => None,
    };
    let runbook = {
        let codes = state
            .iter()
            .flat_map(|s| s.outcome.findings.iter().map(|f| f.code.as_str()));
        config.runbooks.notes_for(&check.id, codes)
    };
    Ok(CheckView {
        runbook,
        state,
        screenshot,
        check,
        site,
        range,
        charts,
        results,
        older,
        incidents,
        parents,
        children,
    })
}

fn render(v: &CheckView, now: Now) -> Markup {
    let id = &v.check.id;
    let status = v.state.as_ref().map(|s| s.outcome.status);
    let href = check_href(id);
    html! {
        h1 { (id.as_str()) " " (state_badge(id, status)) }
        p.lead {
            @if v.check.name != id.as_str() { (v.check.name) " · " }
            (v.check.spec.kind()) " check of " (v.site) ", every " (humantime_secs(v.check.interval.as_secs()))
            @if !v.check.tags.is_empty() { " · tags: " (v.check.tags.join(", ")) }
        }
        p {
            "Since " (since_cell(id, v.state.as_ref().map(|s| s.since), now)) ": "
            span data-check=(id.as_str()) data-field="message" { @if let Some(s) = &v.state { (s.outcome.message) } @else { "no result yet" } }
        }
        (crate::ui::runbook::section(&v.runbook))
        nav.ranges aria-label="Range" {
            @for r in Range::ALL {
                @if r == v.range {
                    a aria-current="page" href=(format!("{href}?range={}", r.as_str())) { (r.label()) }
                } @else {
                    a href=(format!("{href}?range={}", r.as_str())) { (r.label()) }
                }
                " "
            }
        }
        section {
            h2 { "Status over " (v.range.label()) }
            p { "Availability " strong { (percent(v.charts.availability)) } " (Degraded counts as down; time without data is left out)." }
            (PreEscaped(&v.charts.band))
            p.legend {
                @for (class, name) in [("up", "up"), ("degraded", "degraded"), ("down", "down"), ("nodata", "no data")] {
                    span class=(format!("key {class}")) { (name) } " "
                }
            }
        }
        section {
            h2 { "Latency over " (v.range.label()) }
            (PreEscaped(&v.charts.latency))
        }
        section {
            h2 { "Last run" }
            @match &v.state {
                None => p { "The check has not run yet." },
                Some(s) => {
                    p { (format_rfc3339(s.at)) ", " (format!("{:.1} ms", s.outcome.latency_ms)) ": " (s.outcome.message) }
                    @if !s.outcome.findings.is_empty() {
                        ul.findings {
                            @for f in &s.outcome.findings {
                                li {
                                    span class=(format!("sev {}", f.severity.as_str())) { (f.severity.as_str()) } " "
                                    code { (f.code) } ": " (f.text)
                                }
                            }
                        }
                    }
                    (evidence::render(&s.outcome.evidence))
                    @if let Some(id) = v.screenshot {
                        section.evidence {
                            h3 { "Screenshot of the failing step" }
                            (evidence::screenshot(id))
                        }
                    }
                }
            }
        }
        section {
            h2 { "Incidents" }
            @if v.incidents.is_empty() { p { "None in the last 90 days." } } @else {
                div.table-wrap { table.incidents {
                    thead { tr {
                        th scope="col" { "Incident" } th scope="col" { "Status" } th scope="col" { "Opened" }
                        th scope="col" { "Acknowledged" } th scope="col" { "Resolved" } th scope="col" { "Duration" } th scope="col" { "Message" }
                    } }
                    tbody {
                        @for i in &v.incidents {
                            tr {
                                th scope="row" { a href=(format!("/incidents/{}", i.id)) { "#" (i.id) } }
                                td { span class=(format!("badge {}", chart::status_class(Some(i.status)))) { (i.status.as_str().to_uppercase()) } }
                                td { (format_rfc3339(i.opened_at)) }
                                td { @if let Some(by) = &i.acknowledged_by { (by) } @else { "–" } }
                                td { @if let Some(r) = i.resolved_at { (format_rfc3339(r)) } @else { strong { "open" } } }
                                td.num { (keepup_model::text::duration_table(i.duration_ms(now.0))) }
                                td { (i.message) }
                            }
                        }
                    }
                } }
            }
        }
        section {
            h2 { "Dependencies" }
            (related("Depends on", &v.parents))
            (related("Depended on by", &v.children))
        }
        section {
            h2 { "Recent results" }
            @if v.results.is_empty() { p { "No raw results kept (they are kept 7 days)." } } @else {
                div.table-wrap { table.results {
                    thead { tr { th scope="col" { "Time" } th scope="col" { "Status" } th scope="col" { "Latency" } th scope="col" { "Message" } } }
                    tbody {
                        @for r in &v.results {
                            tr {
                                td { (format_rfc3339(r.at)) }
                                td { span class=(format!("badge {}", chart::status_class(Some(r.outcome.status)))) { (r.outcome.status.as_str().to_uppercase()) } }
                                td.num { (format!("{:.1} ms", r.outcome.latency_ms)) }
                                td {
                                    (r.outcome.message)
                                    // A failed browser run's screenshot stays
                                    // viewable after the check recovers.
                                    @if let Some(id) = r.outcome.evidence.details.get("screenshot").and_then(|s| s["id"].as_i64()) {
                                        " · " a.screenshot href=(format!("/screenshots/{id}")) { "screenshot" }
                                    }
                                }
                            }
                        }
                    }
                } }
                nav.pages aria-label="Results pages" {
                    @if let Some(older) = v.older {
                        a rel="next" href=(format!("{href}?range={}&before={older}", v.range.as_str())) { "older results →" }
                    }
                }
            }
        }
    }
}

fn related(title: &str, checks: &[Related]) -> Markup {
    html! {
        h3 { (title) }
        @if checks.is_empty() { p { "none" } } @else {
            ul.related {
                @for r in checks {
                    li { (state_badge(&r.id, r.status)) " " a href=(check_href(&r.id)) { (r.id.as_str()) } }
                }
            }
        }
    }
}

/// `60 s`, `5 min`, `2 h`.
fn humantime_secs(s: u64) -> String {
    keepup_model::text::duration_words(std::time::Duration::from_secs(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::Outcome;
    use keepup_store::{CheckMeta, Retention};

    /// 2025-01-01T00:00:00Z, a minute boundary.
    const T0: Timestamp = 1_735_689_600_000;
    const SECOND_MS: i64 = 1_000;

    fn record(store: &Store, check: &CheckId, status: Status, times: impl Iterator<Item = i64>) {
        let results: Vec<ResultRecord> = times
            .map(|at| ResultRecord {
                check: check.clone(),
                at,
                outcome: Outcome::new(status, status.as_str()),
                backfill: false,
            })
            .collect();
        store.record(&results).unwrap();
    }

    #[test]
    fn charts_are_kept_for_their_minute_and_a_change_shows_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("keepup.db")).unwrap();
        let web = CheckId::new("shop", "web");
        store
            .register_checks(&[CheckMeta {
                id: web.clone(),
                site: "shop".into(),
                name: "web".into(),
                kind: "http".into(),
                max_gap: Some(std::time::Duration::from_secs(30)),
            }])
            .unwrap();
        record(
            &store,
            &web,
            Status::Up,
            (0..60).map(|i| T0 + i * 10 * SECOND_MS),
        );
        store
            .compact(T0 + 10 * MINUTE_MS, &Retention::default())
            .unwrap();
        let cache = ChartCache::default();
        let at = T0 + 10 * MINUTE_MS + SECOND_MS;
        let first = cache.charts(&store, &web, Range::Day, at).unwrap();
        assert_eq!(first.availability, Some(100.0));
        assert!(first.band.contains("class=\"up\"") && !first.band.contains("class=\"down\""));
        assert!(
            first.latency.contains("<svg class=\"percentiles\""),
            "{}",
            first.latency
        );
        assert_eq!(
            *first,
            draw(&store, &web, Range::Day, at).unwrap(),
            "as drawn"
        );

        record(
            &store,
            &web,
            Status::Down,
            (1..=3).map(|i| at + i * 5 * SECOND_MS),
        );
        let same_minute = T0 + 10 * MINUTE_MS + 30 * SECOND_MS;
        let kept = cache.charts(&store, &web, Range::Day, same_minute).unwrap();
        assert!(Arc::ptr_eq(&kept, &first), "kept for the minute");
        let week = cache
            .charts(&store, &web, Range::Week, same_minute)
            .unwrap();
        assert!(!Arc::ptr_eq(&week, &first), "each range its own");

        let next_minute = T0 + 11 * MINUTE_MS + SECOND_MS;
        let again = cache.charts(&store, &web, Range::Day, next_minute).unwrap();
        let now = again.availability.unwrap();
        assert!(now < 100.0, "the next minute shows the outage: {now}");
        assert!(again.band.contains("class=\"down\""), "{}", again.band);
    }
}
