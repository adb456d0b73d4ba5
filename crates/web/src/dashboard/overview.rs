//! The overview at `/`: every configured check with its state, since when,
//! a latency sparkline of the last 24 hours and its availability over 24
//! hours and 30 days; checks with an open incident first.
//!
//! Filters (site, tag, state, text) and the page number are GET query
//! parameters, applied on the server, so the page works without
//! JavaScript and a link shares a view. Only the page shown (at most
//! [`PAGE_SIZE`] checks) needs history: the current states come from the
//! running monitor, so a thousand checks cost a thousand map lookups.
//!
//! The history figures (sparkline, availabilities) are kept per check for
//! the rest of the wall-clock minute they were read in ([`HistoryCache`]):
//! they move by at most a minute's worth in that time, and fifty clients
//! loading the overview together then read the store once, not fifty
//! times (a hundred checks' day of minute rollups and month of spans).
//! The sparkline is kept drawn: writing a hundred SVG polylines was most
//! of what a request cost once the history was kept. A request finding
//! its page's histories kept never leaves the async runtime; only the
//! first of a minute reads the store on a blocking thread (each thread
//! that ran requests kept memory of its own allocator heap).

use super::chart;
use super::{DashboardError, Filters, Now};
use keepup_config::{CheckSpec, Config, PassiveSpec};
use keepup_model::{CheckId, Status, Timestamp};
use keepup_monitor::incidents::OpenIncidents;
use keepup_monitor::recorder::CurrentStates;
use keepup_store::{Resolution, Store};
use maud::{Markup, PreEscaped, Render, html};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Checks on one page of the overview.
pub const PAGE_SIZE: usize = 100;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Points of the 24-hour sparkline: a quarter of an hour each.
const SPARK_POINTS: usize = 96;

/// One check's line.
pub struct Row {
    pub id: CheckId,
    pub name: String,
    pub kind: &'static str,
    pub status: Option<Status>,
    pub since: Option<Timestamp>,
    pub message: String,
    /// Its open incident, if it has one.
    pub incident: Option<i64>,
    /// The contract an SLA check (`sla-<contract>`, `-repair`) is about.
    pub contract: Option<String>,
    pub history: Arc<History>,
}

/// What a row shows of its check's history.
#[derive(Debug, Default, PartialEq)]
pub struct History {
    /// Mean latency per quarter of an hour over 24 hours (`None`: no data).
    pub spark: Vec<Option<f64>>,
    /// `spark` drawn: the row's SVG.
    pub sparkline: String,
    pub availability_24h: Option<f64>,
    pub availability_30d: Option<f64>,
}

/// Each check's [`History`] as read in the current wall-clock minute;
/// a new minute starts afresh. Holds at most one entry per check shown.
#[derive(Default)]
pub struct HistoryCache {
    kept: Mutex<Kept>,
    /// Held while reading the store for rows not kept: requests that
    /// arrive together for one page wait for the first one's read and
    /// take its figures instead of each reading the same rows.
    reading: Mutex<()>,
}

#[derive(Default)]
struct Kept {
    /// The minute (ms since the epoch / 60,000) the entries were read in.
    minute: i64,
    by_check: HashMap<CheckId, Arc<History>>,
}

impl HistoryCache {
    /// The history of each of `ids` at `now`, from the store for those
    /// not read yet in `now`'s minute (blocking).
    pub fn histories(
        &self,
        store: &Store,
        ids: &[CheckId],
        now: Timestamp,
    ) -> Result<Vec<Arc<History>>, DashboardError> {
        let minute = now.div_euclid(MINUTE_MS);
        let mut found = self.lookup(ids, minute);
        if found.iter().all(Option::is_some) {
            return Ok(found.into_iter().flatten().collect());
        }
        let _reading = relock(self.reading.lock());
        // Another request may have read them while this one waited.
        found = self.lookup(ids, minute);
        let missing: Vec<CheckId> = ids
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let mut read = read_histories(store, &missing, now)?.into_iter();
        {
            let mut kept = relock(self.kept.lock());
            for (id, slot) in ids.iter().zip(found.iter_mut()) {
                if slot.is_none() {
                    let history = Arc::new(read.next().unwrap_or_default());
                    // Not into a newer minute's entries (a request that
                    // started later may have begun them meanwhile).
                    if kept.minute == minute {
                        kept.by_check.insert(id.clone(), history.clone());
                    }
                    *slot = Some(history);
                }
            }
        }
        Ok(found.into_iter().flatten().collect())
    }

    /// The history of each of `ids` at `now` when all were read in `now`'s
    /// minute already; None when the store must be read
    /// ([`HistoryCache::histories`], blocking). Most requests end here,
    /// on the async runtime, without a blocking thread.
    pub fn kept(&self, ids: &[CheckId], now: Timestamp) -> Option<Vec<Arc<History>>> {
        self.lookup(ids, now.div_euclid(MINUTE_MS))
            .into_iter()
            .collect()
    }

    /// The kept history of each of `ids`; entries of an older minute are
    /// dropped first.
    fn lookup(&self, ids: &[CheckId], minute: i64) -> Vec<Option<Arc<History>>> {
        let mut kept = relock(self.kept.lock());
        if kept.minute < minute {
            kept.minute = minute;
            kept.by_check.clear();
        }
        ids.iter()
            .map(|id| kept.by_check.get(id).cloned())
            .collect()
    }
}

/// A lock whose holder panicked: the maps under these locks are never
/// left half changed (single inserts and clears), so go on with them.
fn relock<'a, T>(
    lock: Result<MutexGuard<'a, T>, std::sync::PoisonError<MutexGuard<'a, T>>>,
) -> MutexGuard<'a, T> {
    lock.unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What the overview shows.
pub struct Overview {
    /// How many configured checks are in each state (before filtering).
    pub counts: Vec<(&'static str, usize)>,
    /// Checks that pass the filters.
    pub matching: usize,
    pub rows: Vec<Row>,
    pub sites: Vec<String>,
    pub tags: Vec<String>,
}

/// The state filter's name of a check's status: `pending` before a first
/// result.
pub fn state_name(status: Option<Status>) -> &'static str {
    status.map_or("pending", |s| s.as_str())
}

/// The states the filter accepts.
pub const STATES: [&str; 5] = ["up", "degraded", "down", "unknown", "pending"];

/// What the overview shows, its rows' histories still empty (see
/// [`Overview::ids`]). Reads no store: the states and incidents are the
/// monitor's, so it runs on the async runtime. Rows are made only for the
/// page shown.
pub fn read(
    config: &Config,
    current: &CurrentStates,
    open: &OpenIncidents,
    filters: &Filters,
) -> Overview {
    let mut counts: Vec<(&'static str, usize)> = STATES.iter().map(|s| (*s, 0)).collect();
    let mut sites = Vec::new();
    let needle = filters.q.as_deref().map(str::to_lowercase);
    // Sized once: grown by doubling it was copied ten times per request.
    let mut matching = Vec::with_capacity(config.sites.iter().map(|s| s.checks.len()).sum());
    for (order, (site, check)) in config
        .sites
        .iter()
        .flat_map(|s| s.checks.iter().map(move |c| (s, c)))
        .enumerate()
    {
        if sites.last() != Some(&site.id) {
            sites.push(site.id.clone());
        }
        let state = current.get(&check.id);
        let status = state.map(|s| s.outcome.status);
        if let Some(c) = counts.iter_mut().find(|(s, _)| *s == state_name(status)) {
            c.1 += 1;
        }
        let keep = filters.site.as_ref().is_none_or(|s| *s == site.id)
            && filters.tag.as_ref().is_none_or(|t| check.carries_tag(t))
            && filters
                .state
                .as_deref()
                .is_none_or(|s| s == state_name(status))
            && needle.as_ref().is_none_or(|n| {
                check.id.as_str().to_lowercase().contains(n)
                    || check.name.to_lowercase().contains(n)
                    || state.is_some_and(|s| s.outcome.message.to_lowercase().contains(n))
            });
        if keep {
            let incident = open.get(&check.id).copied();
            matching.push((incident.is_none(), order, check, state, incident));
        }
    }
    // Open incidents first, then the configuration's order.
    matching.sort_by_key(|(calm, order, ..)| (*calm, *order));
    let total = matching.len();
    let rows: Vec<Row> = matching
        .into_iter()
        .skip(filters.page.saturating_sub(1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|(_, _, check, state, incident)| Row {
            id: check.id.clone(),
            name: check.name.clone(),
            kind: check.spec.kind(),
            status: state.map(|s| s.outcome.status),
            since: state.map(|s| s.since),
            message: state.map(|s| s.outcome.message.clone()).unwrap_or_default(),
            incident,
            contract: match &check.spec {
                CheckSpec::Passive(PassiveSpec::Sla(sla)) => Some(sla.contract.clone()),
                _ => None,
            },
            history: Arc::default(),
        })
        .collect();
    // Sorted, once each: what the maintenance form offers too.
    let tags: Vec<String> = config.tags().into_iter().map(str::to_owned).collect();
    Overview {
        counts,
        matching: total,
        rows,
        sites,
        tags,
    }
}

impl Overview {
    /// The checks of the rows shown, whose histories [`HistoryCache`]
    /// gives.
    pub fn ids(&self) -> Vec<CheckId> {
        self.rows.iter().map(|r| r.id.clone()).collect()
    }

    /// Gives the rows their histories, in the order of [`Overview::ids`].
    pub fn set_histories(&mut self, histories: Vec<Arc<History>>) {
        for (row, history) in self.rows.iter_mut().zip(histories) {
            row.history = history;
        }
    }
}

/// The sparklines and availabilities of `ids` at `now`, in their order.
fn read_histories(
    store: &Store,
    ids: &[CheckId],
    now: Timestamp,
) -> Result<Vec<History>, DashboardError> {
    let day_ago = now - DAY_MS;
    let step = DAY_MS / SPARK_POINTS as i64;
    let mut histories = Vec::with_capacity(ids.len());
    for id in ids {
        let mut sums = vec![(0.0, 0u32); SPARK_POINTS];
        for r in store.rollups(id, Resolution::Minute, day_ago, now)? {
            let i = ((r.bucket_start - day_ago) / step) as usize;
            if let Some(slot) = sums.get_mut(i) {
                slot.0 += r.latency_mean_ms * r.total() as f64;
                slot.1 += r.total();
            }
        }
        let spark: Vec<Option<f64>> = sums
            .into_iter()
            .map(|(sum, n)| (n > 0).then(|| sum / n as f64))
            .collect();
        let label = format!("Mean latency of {} over 24 hours", id.as_str());
        histories.push(History {
            sparkline: chart::sparkline(&spark, &label).into_string(),
            spark,
            availability_24h: None,
            availability_30d: None,
        });
    }
    let month_ago = now - 30 * DAY_MS;
    let mut month: Vec<Vec<(Option<Status>, i64)>> = vec![Vec::new(); ids.len()];
    let mut day: Vec<Vec<(Option<Status>, i64)>> = vec![Vec::new(); ids.len()];
    for span in store.status_spans(ids, month_ago, now) {
        let span = span?;
        month[span.check].push((span.status, span.duration_ms()));
        let in_day = span.to_ms.min(now) - span.from_ms.max(day_ago);
        if in_day > 0 {
            day[span.check].push((span.status, in_day));
        }
    }
    for (i, history) in histories.iter_mut().enumerate() {
        history.availability_30d = keepup_sla::check_availability(std::mem::take(&mut month[i]));
        history.availability_24h = keepup_sla::check_availability(std::mem::take(&mut day[i]));
    }
    Ok(histories)
}

/// `99.95 %` (a no-break space before the sign), or a dash without data;
/// never rounded up to 100 % while anything was down.
pub fn percent(a: Option<f64>) -> String {
    match a {
        Some(a) if (99.995..100.0).contains(&a) => "99.99\u{a0}%".into(),
        Some(a) => format!("{a:.2}\u{a0}%"),
        None => "–".into(),
    }
}

/// The overview's HTML body, written into the page's buffer part by part
/// (see [`crate::ui::page_response`]): each row is rendered on its own, so
/// no string of the whole table is grown beside the page.
pub struct Body<'a> {
    pub overview: &'a Overview,
    pub filters: &'a Filters,
    pub now: Now,
}

impl Render for Body<'_> {
    fn render_to(&self, out: &mut String) {
        let (o, filters) = (self.overview, self.filters);
        let pages = o.matching.div_ceil(PAGE_SIZE).max(1);
        html! {
            h1 { "Overview" }
            ul.counts aria-label="Checks by state" {
                @for (state, n) in &o.counts {
                    @if *n > 0 {
                        li { a class=(format!("badge {}", state_class(state))) href=(filters.with_state(state).query()) { (state.to_uppercase()) " " (n) } }
                    }
                }
            }
            form.filters method="get" action="/" role="search" {
                label { "Text " input #search type="search" name="q" value=[filters.q.as_deref()] maxlength="200" placeholder="check, name or message"; }
                label { "Site "
                    select name="site" {
                        option value="" { "all" }
                        @for s in &o.sites { option value=(s) selected[filters.site.as_deref() == Some(s)] { (s) } }
                    }
                }
                label { "Tag "
                    select name="tag" {
                        option value="" { "all" }
                        @for t in &o.tags { option value=(t) selected[filters.tag.as_deref() == Some(t)] { (t) } }
                    }
                }
                label { "State "
                    select name="state" {
                        option value="" { "all" }
                        @for s in STATES { option value=(s) selected[filters.state.as_deref() == Some(s)] { (s) } }
                    }
                }
                button type="submit" { "Filter" }
                @if !filters.is_empty() { " " a href="/" { "Clear" } }
            }
            p.summary { (o.matching) " checks" @if pages > 1 { ", page " (filters.page) " of " (pages) } }
        }
        .render_to(out);
        // The table's elements are opened and closed by hand around the
        // rows, each written by itself.
        out.push_str("<div class=\"table-wrap\"><table class=\"checks\">");
        html! {
            thead { tr {
                th scope="col" { "State" }
                th scope="col" { "Check" }
                th scope="col" .wide { "Since" }
                th scope="col" .wide { "Latency 24 h" }
                th scope="col" { "24 h" }
                th scope="col" .wide { "30 d" }
                th scope="col" .wide { "Message" }
            } }
        }
        .render_to(out);
        out.push_str("<tbody>");
        for r in &o.rows {
            row(r, self.now).render_to(out);
        }
        out.push_str("</tbody></table></div>");
        html! {
            @if pages > 1 {
                nav.pages aria-label="Pages" {
                    @if filters.page > 1 { a rel="prev" href=(filters.with_page(filters.page - 1).query()) { "← previous" } " " }
                    @if filters.page < pages { a rel="next" href=(filters.with_page(filters.page + 1).query()) { "next →" } }
                }
            }
        }
        .render_to(out);
    }
}

/// One check's line of the table.
fn row(r: &Row, now: Now) -> Markup {
    html! {
        tr {
            td { (state_badge(&r.id, r.status)) }
            th scope="row" {
                a href=(check_href(&r.id)) { (r.id.as_str()) }
                @if r.name != r.id.as_str() && !r.name.is_empty() { br; span.name { (r.name) } }
                " " span.kind { "· " (r.kind) }
                @if let Some(i) = r.incident { " " a.incident href=(format!("/incidents/{i}")) { "incident #" (i) } }
                @if let Some(c) = &r.contract { " " a.contract href=(format!("/sla/{c}")) { "SLA " (c) } }
            }
            td.wide { (since_cell(&r.id, r.since, now)) }
            td.wide { (PreEscaped(&r.history.sparkline)) }
            td.num { (percent(r.history.availability_24h)) }
            td.num.wide { (percent(r.history.availability_30d)) }
            td.wide.message data-check=(r.id.as_str()) data-field="message" { (r.message) }
        }
    }
}

/// The link to a check's page.
pub fn check_href(id: &CheckId) -> String {
    format!("/checks/{}", id.as_str())
}

fn state_class(state: &str) -> &'static str {
    match state {
        "up" => "up",
        "degraded" => "degraded",
        "down" => "down",
        "unknown" => "unknown",
        _ => "nodata",
    }
}

/// A check's state as a badge the live updates can find and change.
pub fn state_badge(id: &CheckId, status: Option<Status>) -> Markup {
    html! {
        span class=(format!("badge {}", chart::status_class(status))) data-check=(id.as_str()) data-field="state" {
            (state_name(status).to_uppercase())
        }
    }
}

/// Since when, as a `time` element the live updates can change.
pub fn since_cell(id: &CheckId, since: Option<Timestamp>, now: Now) -> Markup {
    html! {
        @match since {
            Some(at) => time data-check=(id.as_str()) data-field="since" datetime=(keepup_model::format_rfc3339(at)) {
                (keepup_model::text::ago(now.0, at))
            },
            None => time data-check=(id.as_str()) data-field="since" { "–" },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::Outcome;
    use keepup_store::{CheckMeta, ResultRecord, Retention};

    /// 2025-01-01T00:00:00Z, a minute boundary.
    const T0: Timestamp = 1_735_689_600_000;
    const SECOND_MS: i64 = 1_000;

    fn results(
        check: &CheckId,
        status: Status,
        times: impl Iterator<Item = i64>,
    ) -> Vec<ResultRecord> {
        times
            .map(|at| ResultRecord {
                check: check.clone(),
                at,
                outcome: Outcome::new(status, status.as_str()),
                backfill: false,
            })
            .collect()
    }

    #[test]
    fn history_is_kept_for_its_minute_and_read_again_in_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("keepup.db")).unwrap();
        let (a, b) = (CheckId::new("shop", "a"), CheckId::new("shop", "b"));
        let meta = |id: &CheckId| CheckMeta {
            id: id.clone(),
            site: "shop".into(),
            name: id.as_str().into(),
            kind: "http".into(),
            max_gap: Some(std::time::Duration::from_secs(30)),
        };
        store.register_checks(&[meta(&a), meta(&b)]).unwrap();
        // Ten minutes of Up every 10 s, rolled up as the daemon does.
        let up = (0..60).map(|i| T0 + i * 10 * SECOND_MS);
        store.record(&results(&a, Status::Up, up.clone())).unwrap();
        store.record(&results(&b, Status::Up, up)).unwrap();
        store
            .compact(T0 + 10 * MINUTE_MS, &Retention::default())
            .unwrap();
        let cache = HistoryCache::default();
        let at = T0 + 10 * MINUTE_MS + SECOND_MS;
        assert!(
            cache.kept(std::slice::from_ref(&a), at).is_none(),
            "nothing read yet"
        );

        let first = cache
            .histories(
                &store,
                std::slice::from_ref(&a),
                T0 + 10 * MINUTE_MS + SECOND_MS,
            )
            .unwrap();
        assert_eq!(first[0].availability_24h, Some(100.0));
        assert_eq!(
            first[0].spark.iter().flatten().count(),
            1,
            "one quarter hour with data"
        );
        assert!(
            first[0].sparkline.starts_with("<svg class=\"spark\"")
                && first[0]
                    .sparkline
                    .contains("<title>Mean latency of shop/a over 24 hours</title>"),
            "the sparkline is kept drawn: {}",
            first[0].sparkline
        );
        let kept = cache.kept(std::slice::from_ref(&a), at).unwrap();
        assert!(Arc::ptr_eq(&kept[0], &first[0]), "kept without the store");
        assert!(
            cache.kept(&[a.clone(), b.clone()], at).is_none(),
            "b is not read yet"
        );

        // Both go down within the same minute.
        let down = || (1..=3).map(|i| T0 + 10 * MINUTE_MS + i * 5 * SECOND_MS);
        store.record(&results(&a, Status::Down, down())).unwrap();
        store.record(&results(&b, Status::Down, down())).unwrap();
        let same_minute = T0 + 10 * MINUTE_MS + 30 * SECOND_MS;
        let kept = cache
            .histories(&store, &[a.clone(), b.clone()], same_minute)
            .unwrap();
        assert!(
            Arc::ptr_eq(&kept[0], &first[0]),
            "a's figures are kept for the minute"
        );
        assert_eq!(kept[0].availability_24h, Some(100.0));
        let b_fresh = kept[1].availability_24h.unwrap();
        assert!(
            b_fresh < 100.0,
            "b was not kept yet, so it is read now: {b_fresh}"
        );

        let next_minute = T0 + 11 * MINUTE_MS + SECOND_MS;
        let again = cache
            .histories(&store, std::slice::from_ref(&a), next_minute)
            .unwrap();
        let a_now = again[0].availability_24h.unwrap();
        assert!(a_now < 100.0, "the next minute reads the outage: {a_now}");
        // Reading the same minute again keeps what the first read found.
        let b_later = cache.histories(&store, &[b], next_minute).unwrap();
        assert_eq!(
            b_later[0].availability_24h,
            Some(a_now),
            "a and b had the same history"
        );
    }
}
