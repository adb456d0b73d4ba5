//! What a public status page shows, computed from the monitor and the
//! store: each component's state now, its 90 days of uptime, the public
//! incidents with their updates, and maintenance to come.
//!
//! Everything here is for the public: internal names (check ids, hosts),
//! messages and findings are carried only when the page has
//! `show_details = true`.
//!
//! A check's public state is its *confirmed* state: an open incident makes
//! it down or degraded (or under maintenance when the incident opened in a
//! window); a single failed probe that the state machine has not confirmed
//! does not. A component is the worst of its checks, and has no data only
//! when none of its checks has any.

use keepup_config::StatusPage;
use keepup_config::maintenance::Maintenance;
use keepup_config::status_page::PublicIncidents;
use keepup_model::{CheckId, Status, Timestamp};
use keepup_store::{AdhocMaintenance, Incident, StatusSpan, StatusUpdate, Store, UpdateStatus};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One day in milliseconds; days are UTC days, like the day rollups.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// Days of history on a page, today included.
pub(crate) const DAYS: i64 = 90;
/// How far ahead maintenance is announced.
const MAINTENANCE_AHEAD_MS: i64 = 30 * DAY_MS;
/// Most maintenance windows listed.
const MAX_MAINTENANCE: usize = 20;
/// Most resolved incidents read for the pages' 90 days (open ones are
/// always read).
const MAX_INCIDENTS: usize = 5_000;

/// A component's (or a check's) state as the public sees it, from best to
/// worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PublicState {
    /// Working.
    Operational,
    /// In a maintenance window.
    Maintenance,
    /// Working, slowly or partly.
    Degraded,
    /// Not working.
    Down,
    /// Nothing known (never worse than a known state: see [`worst`]).
    NoData,
}

impl PublicState {
    /// Stable name (JSON, CSS classes).
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PublicState::Operational => "operational",
            PublicState::Maintenance => "maintenance",
            PublicState::Degraded => "degraded",
            PublicState::Down => "down",
            PublicState::NoData => "no_data",
        }
    }

    /// What people read.
    pub(crate) fn label(self) -> &'static str {
        match self {
            PublicState::Operational => "Operational",
            PublicState::Maintenance => "Under maintenance",
            PublicState::Degraded => "Degraded performance",
            PublicState::Down => "Outage",
            PublicState::NoData => "No data",
        }
    }
}

/// The worst known state of `states`; no data only when nothing is known.
pub(crate) fn worst(states: impl IntoIterator<Item = PublicState>) -> PublicState {
    states
        .into_iter()
        .filter(|s| *s != PublicState::NoData)
        .max()
        .unwrap_or(PublicState::NoData)
}

/// Time in each state over one UTC day (or the part of today so far).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Day {
    /// Start of the day.
    pub start_ms: Timestamp,
    /// Time known to be up (degraded included).
    pub known_ms: i64,
    /// Time down.
    pub down_ms: i64,
    /// Time degraded.
    pub degraded_ms: i64,
}

impl Day {
    /// Uptime in percent, None when nothing is known about the day.
    pub(crate) fn uptime(&self) -> Option<f64> {
        (self.known_ms > 0)
            .then(|| 100.0 * (self.known_ms - self.down_ms) as f64 / self.known_ms as f64)
    }

    /// The state the day's bar shows.
    pub(crate) fn state(&self) -> PublicState {
        if self.known_ms == 0 {
            PublicState::NoData
        } else if self.down_ms > 0 {
            PublicState::Down
        } else if self.degraded_ms > 0 {
            PublicState::Degraded
        } else {
            PublicState::Operational
        }
    }
}

/// A component as shown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ComponentView {
    /// Its name.
    pub name: String,
    /// Now.
    pub state: PublicState,
    /// The last [`DAYS`] days, oldest first, today last.
    pub days: Vec<Day>,
    /// Its checks, only with `show_details`: (name, state, message).
    pub details: Vec<(String, PublicState, String)>,
}

impl ComponentView {
    /// Uptime over the days shown, None when nothing is known.
    pub(crate) fn uptime(&self) -> Option<f64> {
        let known: i64 = self.days.iter().map(|d| d.known_ms).sum();
        let down: i64 = self.days.iter().map(|d| d.down_ms).sum();
        (known > 0).then(|| 100.0 * (known - down) as f64 / known as f64)
    }
}

/// A public update as shown (no author).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub(crate) struct UpdateView {
    /// When.
    pub at: Timestamp,
    /// Where the incident stood.
    pub status: UpdateStatus,
    /// What was said.
    pub text: String,
}

/// An incident as shown: an outage of one or more components.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IncidentView {
    /// The incident's number (of its root cause when several were folded).
    pub id: i64,
    /// Down or degraded.
    pub impact: PublicState,
    /// The components it touched, in page order.
    pub components: Vec<String>,
    /// First failure.
    pub started_at: Timestamp,
    /// Recovery, if over.
    pub resolved_at: Option<Timestamp>,
    /// Public updates, oldest first.
    pub updates: Vec<UpdateView>,
    /// The check and its first message, only with `show_details`.
    pub detail: Option<String>,
}

impl IncidentView {
    /// Its heading: the components and the impact.
    pub(crate) fn title(&self) -> String {
        format!("{}: {}", self.components.join(", "), self.impact.label())
    }

    /// Where it stands: the latest update's status, or resolved when the
    /// checks recovered, else investigating.
    pub(crate) fn status(&self) -> UpdateStatus {
        match (self.resolved_at, self.updates.last()) {
            (Some(_), _) => UpdateStatus::Resolved,
            (None, Some(u)) => u.status,
            (None, None) => UpdateStatus::Investigating,
        }
    }

    /// When it last changed (for feeds).
    pub(crate) fn updated_at(&self) -> Timestamp {
        let last_update = self.updates.iter().map(|u| u.at).max().unwrap_or(0);
        last_update
            .max(self.resolved_at.unwrap_or(0))
            .max(self.started_at)
    }
}

/// Maintenance as shown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MaintenanceView {
    /// The components it covers, in page order.
    pub components: Vec<String>,
    /// Start.
    pub starts_at: Timestamp,
    /// End.
    pub ends_at: Timestamp,
    /// Its name or reason, only with `show_details`.
    pub reason: Option<String>,
}

/// Everything one page shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PageView {
    /// The worst component state.
    pub overall: PublicState,
    /// In configuration order.
    pub components: Vec<ComponentView>,
    /// Open incidents, newest first.
    pub current: Vec<IncidentView>,
    /// Resolved incidents of the last [`DAYS`] days, newest first.
    pub past: Vec<IncidentView>,
    /// Open now or starting within 30 days, by start.
    pub maintenance: Vec<MaintenanceView>,
    /// Start of the first day shown.
    pub first_day: Timestamp,
}

/// What the store and the monitor say now, read once for every page.
pub(crate) struct Facts {
    /// Now.
    pub now: Timestamp,
    /// The pages' checks' open incidents, and those that opened in the
    /// last [`DAYS`] days.
    pub incidents: Vec<Incident>,
    /// Public updates posted in that time.
    pub updates: Vec<StatusUpdate>,
    /// Windows started by hand that end after now, each with the pages'
    /// checks it covers (decided here, where the configuration knows the
    /// checks' tags).
    pub adhoc: Vec<(AdhocMaintenance, HashSet<CheckId>)>,
    /// The configured windows.
    pub windows: Vec<Maintenance>,
    /// Each check's latest status and message.
    pub current: HashMap<CheckId, (Status, String)>,
    /// Check display names.
    pub names: HashMap<CheckId, String>,
}

/// Start of the UTC day holding `at`.
pub(crate) fn day_start(at: Timestamp) -> Timestamp {
    at.div_euclid(DAY_MS) * DAY_MS
}

/// Start of the first of the [`DAYS`] days ending with today.
pub(crate) fn first_day(now: Timestamp) -> Timestamp {
    day_start(now) - (DAYS - 1) * DAY_MS
}

impl Facts {
    /// Reads what every page needs (blocking: the store).
    pub(crate) fn read(
        store: &Store,
        config: &keepup_config::Config,
        current: HashMap<CheckId, (Status, String)>,
        now: Timestamp,
    ) -> Result<Facts, keepup_store::StoreError> {
        let from = first_day(now);
        let checks: Vec<CheckId> = config
            .status_pages
            .iter()
            .flat_map(|p| p.checks())
            .cloned()
            .collect::<HashSet<CheckId>>()
            .into_iter()
            .collect();
        Ok(Facts {
            now,
            incidents: store.incidents_of_checks(&checks, from, now + 1, MAX_INCIDENTS)?,
            updates: store.status_updates_since(from)?,
            adhoc: store
                .maintenance_after(now)?
                .into_iter()
                .map(|w| {
                    let scope = w.scope();
                    let covered = checks
                        .iter()
                        .filter(|c| config.maintenance_covers(&scope, c))
                        .cloned()
                        .collect();
                    (w, covered)
                })
                .collect(),
            windows: config.maintenance.clone(),
            current,
            names: config
                .checks()
                .map(|c| (c.id.clone(), c.name.clone()))
                .collect(),
        })
    }

    fn in_maintenance(&self, check: &CheckId) -> bool {
        self.windows
            .iter()
            .any(|w| w.covers(check) && w.open_at(self.now).is_some())
            || self
                .adhoc
                .iter()
                .any(|(w, covered)| covered.contains(check) && w.open_at(self.now))
    }

    /// A check's public state now.
    fn check_state(&self, check: &CheckId, open: &HashMap<&CheckId, &Incident>) -> PublicState {
        if let Some(i) = open.get(check) {
            return match (i.maintenance, i.status) {
                (true, _) => PublicState::Maintenance,
                (false, Status::Down) => PublicState::Down,
                (false, Status::Degraded) => PublicState::Degraded,
                (false, Status::Up | Status::Unknown) => PublicState::NoData,
            };
        }
        if self.in_maintenance(check) {
            return PublicState::Maintenance;
        }
        match self.current.get(check).map(|(s, _)| *s) {
            None | Some(Status::Unknown) => PublicState::NoData,
            Some(Status::Degraded) => PublicState::Degraded,
            // Down without an open incident is not confirmed yet.
            Some(Status::Up | Status::Down) => PublicState::Operational,
        }
    }
}

/// Builds a page's view; `days` are each component's days before today
/// (from [`history`]), `today` its day so far.
pub(crate) fn page_view(
    page: &StatusPage,
    facts: &Facts,
    history: &[Vec<Day>],
    today: &[Day],
) -> PageView {
    let open: HashMap<&CheckId, &Incident> = facts
        .incidents
        .iter()
        .filter(|i| i.resolved_at.is_none())
        .map(|i| (&i.check, i))
        .collect();
    let components: Vec<ComponentView> = page
        .components
        .iter()
        .enumerate()
        .map(|(n, c)| {
            let states: Vec<PublicState> = c
                .checks
                .iter()
                .map(|id| facts.check_state(id, &open))
                .collect();
            let mut days = history.get(n).cloned().unwrap_or_default();
            days.extend(today.get(n).copied());
            let details = if page.show_details {
                c.checks
                    .iter()
                    .zip(&states)
                    .map(|(id, s)| {
                        let name = facts
                            .names
                            .get(id)
                            .cloned()
                            .unwrap_or_else(|| id.to_string());
                        let message = facts
                            .current
                            .get(id)
                            .map(|(_, m)| m.clone())
                            .unwrap_or_default();
                        (name, *s, message)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            ComponentView {
                name: c.name.clone(),
                state: worst(states.iter().copied()),
                days,
                details,
            }
        })
        .collect();
    let (current, past) = incidents(page, facts);
    PageView {
        overall: worst(components.iter().map(|c| c.state)),
        components,
        current,
        past,
        maintenance: maintenance(page, facts),
        first_day: first_day(facts.now),
    }
}

/// The page's public incidents: (open, resolved), newest first. An
/// incident caused by another one on the page is folded into its cause.
fn incidents(page: &StatusPage, facts: &Facts) -> (Vec<IncidentView>, Vec<IncidentView>) {
    if page.public_incidents == PublicIncidents::None {
        return (Vec::new(), Vec::new());
    }
    let component_of = |check: &CheckId| -> Vec<usize> {
        page.components
            .iter()
            .enumerate()
            .filter(|(_, c)| c.checks.contains(check))
            .map(|(i, _)| i)
            .collect()
    };
    let on_page: Vec<&Incident> = facts
        .incidents
        .iter()
        .filter(|i| !i.maintenance && !component_of(&i.check).is_empty())
        .collect();
    let ids: HashSet<i64> = on_page.iter().map(|i| i.id).collect();
    let mut updates: HashMap<i64, Vec<UpdateView>> = HashMap::new();
    for u in &facts.updates {
        updates.entry(u.incident).or_default().push(UpdateView {
            at: u.at,
            status: u.status,
            text: u.text.clone(),
        });
    }
    // Root incidents by id; consequences add their components.
    let mut roots: BTreeMap<i64, (IncidentView, Vec<usize>)> = BTreeMap::new();
    let root_of = |i: &Incident| match i.cause {
        Some(c) if ids.contains(&c) => c,
        _ => i.id,
    };
    for i in on_page.iter().filter(|i| root_of(i) == i.id) {
        let detail = page.show_details.then(|| {
            let name = facts
                .names
                .get(&i.check)
                .cloned()
                .unwrap_or_else(|| i.check.to_string());
            format!("{name}: {}", i.message)
        });
        let view = IncidentView {
            id: i.id,
            impact: if i.status == Status::Degraded {
                PublicState::Degraded
            } else {
                PublicState::Down
            },
            components: Vec::new(),
            started_at: i.opened_at,
            resolved_at: i.resolved_at,
            updates: updates.remove(&i.id).unwrap_or_default(),
            detail,
        };
        roots.insert(i.id, (view, component_of(&i.check)));
    }
    for i in on_page.iter().filter(|i| root_of(i) != i.id) {
        if let Some((view, comps)) = roots.get_mut(&root_of(i)) {
            comps.extend(component_of(&i.check));
            if i.status == Status::Down {
                view.impact = PublicState::Down;
            }
            // An update posted on a consequence belongs to the outage.
            view.updates
                .extend(updates.remove(&i.id).unwrap_or_default());
        }
    }
    let mut open = Vec::new();
    let mut resolved = Vec::new();
    for (_, (mut view, mut comps)) in roots.into_iter().rev() {
        if page.public_incidents == PublicIncidents::Components && view.updates.is_empty() {
            continue;
        }
        comps.sort_unstable();
        comps.dedup();
        view.components = comps
            .into_iter()
            .map(|c| page.components[c].name.clone())
            .collect();
        view.updates.sort_by_key(|u| u.at);
        if view.resolved_at.is_some() {
            resolved.push(view);
        } else {
            open.push(view);
        }
    }
    open.sort_by_key(|v| std::cmp::Reverse(v.started_at));
    resolved.sort_by_key(|v| std::cmp::Reverse(v.started_at));
    (open, resolved)
}

/// Maintenance open now or starting within 30 days that covers one of the
/// page's checks.
fn maintenance(page: &StatusPage, facts: &Facts) -> Vec<MaintenanceView> {
    let covered = |covers: &dyn Fn(&CheckId) -> bool| -> Vec<String> {
        page.components
            .iter()
            .filter(|c| c.checks.iter().any(covers))
            .map(|c| c.name.clone())
            .collect()
    };
    let mut out = Vec::new();
    let horizon = facts.now + MAINTENANCE_AHEAD_MS;
    for w in &facts.windows {
        let components = covered(&|c| w.covers(c));
        if components.is_empty() {
            continue;
        }
        let mut times: Vec<(Timestamp, Timestamp)> = w.open_at(facts.now).into_iter().collect();
        times.extend(w.occurrences(facts.now, horizon, 3));
        times.sort_unstable();
        times.dedup();
        for (starts_at, ends_at) in times.into_iter().filter(|(_, end)| *end > facts.now) {
            out.push(MaintenanceView {
                components: components.clone(),
                starts_at,
                ends_at,
                reason: page.show_details.then(|| w.name.clone()),
            });
        }
    }
    for (w, checks) in facts.adhoc.iter().filter(|(w, _)| w.starts_at < horizon) {
        let components = covered(&|c| checks.contains(c));
        if components.is_empty() {
            continue;
        }
        out.push(MaintenanceView {
            components,
            starts_at: w.starts_at,
            ends_at: w.ends_at,
            reason: page.show_details.then(|| w.reason.clone()),
        });
    }
    out.sort_by_key(|m| (m.starts_at, m.ends_at));
    out.truncate(MAX_MAINTENANCE);
    out
}

/// Each component's days in `[from, to)` (whole UTC days, the last one
/// possibly partial), from the status spans of its checks: at each moment
/// the component is the worst of its checks whose status is known.
pub(crate) fn history(
    store: &Store,
    page: &StatusPage,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<Vec<Day>>, keepup_store::StoreError> {
    let checks: Vec<CheckId> = page.checks().into_iter().cloned().collect();
    let position: HashMap<&CheckId, usize> =
        checks.iter().enumerate().map(|(i, c)| (c, i)).collect();
    let mut spans: Vec<Vec<StatusSpan>> = vec![Vec::new(); checks.len()];
    for span in store.status_spans(&checks, from, to) {
        let span = span?;
        spans[span.check].push(span);
    }
    let day_count = ((to - from + DAY_MS - 1) / DAY_MS).max(0) as usize;
    Ok(page
        .components
        .iter()
        .map(|c| {
            let mine: Vec<&[StatusSpan]> = c
                .checks
                .iter()
                .filter_map(|id| position.get(id).map(|&i| spans[i].as_slice()))
                .collect();
            component_days(&mine, from, to, day_count)
        })
        .collect())
}

/// Sweeps the checks' spans (each covering `[from, to)` without holes, in
/// order) and adds each stretch of one combined state to its days.
fn component_days(checks: &[&[StatusSpan]], from: Timestamp, to: Timestamp, n: usize) -> Vec<Day> {
    let mut days: Vec<Day> = (0..n)
        .map(|d| Day {
            start_ms: from + d as i64 * DAY_MS,
            ..Day::default()
        })
        .collect();
    let mut cuts: Vec<Timestamp> = checks
        .iter()
        .flat_map(|s| s.iter().map(|span| span.from_ms))
        .chain([from, to])
        .chain((1..n as i64).map(|d| from + d * DAY_MS))
        .filter(|t| (from..=to).contains(t))
        .collect();
    cuts.sort_unstable();
    cuts.dedup();
    let mut next = vec![0usize; checks.len()];
    for pair in cuts.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let mut state = None::<Status>;
        for (k, spans) in checks.iter().enumerate() {
            while next[k] < spans.len() && spans[next[k]].to_ms <= a {
                next[k] += 1;
            }
            let status = spans
                .get(next[k])
                .filter(|s| s.from_ms <= a)
                .and_then(|s| s.status);
            state = match (state, status) {
                (None, s) | (s, None) => s,
                (Some(x), Some(y)) => Some(worse(x, y)),
            };
        }
        let Some(day) = days.get_mut(((a - from) / DAY_MS) as usize) else {
            continue;
        };
        let len = b - a;
        match state {
            None | Some(Status::Unknown) => {}
            Some(s) => {
                day.known_ms += len;
                match s {
                    Status::Down => day.down_ms += len,
                    Status::Degraded => day.degraded_ms += len,
                    _ => {}
                }
            }
        }
    }
    days
}

fn worse(a: Status, b: Status) -> Status {
    let rank = |s: Status| match s {
        Status::Up | Status::Unknown => 0,
        Status::Degraded => 1,
        Status::Down => 2,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(check: usize, from_ms: i64, to_ms: i64, status: Option<Status>) -> StatusSpan {
        StatusSpan {
            check,
            from_ms,
            to_ms,
            status,
        }
    }

    #[test]
    fn a_component_is_down_when_one_check_is_and_unknown_only_when_all_are() {
        let h = 3_600_000;
        let web = [
            span(0, 0, 2 * h, Some(Status::Up)),
            span(0, 2 * h, 3 * h, Some(Status::Down)),
            span(0, 3 * h, DAY_MS + 12 * h, None),
        ];
        let pay = [
            span(1, 0, h, None),
            span(1, h, 10 * h, Some(Status::Degraded)),
            span(1, 10 * h, DAY_MS + 12 * h, None),
        ];
        let days = component_days(&[&web, &pay], 0, DAY_MS + 12 * h, 2);
        assert_eq!(
            days[0],
            Day {
                start_ms: 0,
                known_ms: 10 * h,
                down_ms: h,
                degraded_ms: 8 * h,
            }
        );
        assert_eq!(days[0].state(), PublicState::Down);
        assert_eq!(days[1].known_ms, 0);
        assert_eq!(
            days[1].state(),
            PublicState::NoData,
            "no data is never green"
        );
        assert_eq!(days[1].uptime(), None);
    }

    /// A flood of newer incidents (other checks, or the page's own older
    /// ones) must not hide a check's open incident: the page would say
    /// "Operational" during a confirmed outage.
    #[test]
    fn an_old_open_incident_stays_an_outage_behind_a_flood_of_newer_ones() {
        use keepup_store::NewIncident;
        let dir = tempfile::tempdir().unwrap();
        let config = keepup_config::load_str(
            r#"
[[site]]
id = "shop"
[[site.check]]
id = "db"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[status_page]]
slug = "shop"
title = "Shop"
[[status_page.component]]
name = "Database"
checks = ["shop/db"]
"#,
            &dir.path().join("keepup.toml"),
        )
        .unwrap();
        let store = Store::open(&dir.path().join("keepup.db")).unwrap();
        let now = 200 * DAY_MS;
        let incident = |check: String, opened_at: Timestamp| NewIncident {
            check: CheckId(check),
            status: Status::Down,
            opened_at,
            detected_at: opened_at,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "connection refused".into(),
            findings: Vec::new(),
        };
        let db = CheckId("shop/db".into());
        store
            .open_incident(&incident(db.to_string(), now - 10 * DAY_MS))
            .unwrap();
        let flood = (0..MAX_INCIDENTS)
            .map(|n| incident(format!("other/c{n}"), now - DAY_MS + n as i64))
            .collect();
        store.open_incidents_batch(flood).unwrap();
        let current = HashMap::from([(db.clone(), (Status::Down, "refused".to_owned()))]);
        let facts = Facts::read(&store, &config, current, now).unwrap();
        assert!(
            facts.incidents.iter().all(|i| i.check == db),
            "only the page's checks are read"
        );
        let page = &config.status_pages[0];
        let view = page_view(page, &facts, &[], &[]);
        assert_eq!(view.components[0].state, PublicState::Down);
    }

    /// A window started by hand for a tag is announced for the components
    /// whose checks carry the tag (themselves or through their site), and
    /// puts a covered check in maintenance.
    #[test]
    fn a_tag_window_is_announced_for_the_components_it_covers() {
        let dir = tempfile::tempdir().unwrap();
        let config = keepup_config::load_str(
            r#"
[[site]]
id = "shop"
[[site.check]]
id = "web"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[site.check]]
id = "db"
kind = "tcp"
host = "127.0.0.1"
port = 9
tags = ["db"]
[[site]]
id = "pg"
tags = ["db"]
[[site.check]]
id = "primary"
kind = "tcp"
host = "127.0.0.1"
port = 9
[[status_page]]
slug = "shop"
title = "Shop"
[[status_page.component]]
name = "Storefront"
checks = ["shop/web"]
[[status_page.component]]
name = "Database"
checks = ["shop/db"]
[[status_page.component]]
name = "Replica"
checks = ["pg/primary"]
"#,
            &dir.path().join("keepup.toml"),
        )
        .unwrap_or_else(|p| panic!("{p}"));
        let store = Store::open(&dir.path().join("keepup.db")).unwrap();
        let now = 200 * DAY_MS;
        store
            .start_maintenance("tag:db", now - 1_000, now + 3_600_000, "upgrade", "alice")
            .unwrap();
        let facts = Facts::read(&store, &config, HashMap::new(), now).unwrap();
        let view = page_view(&config.status_pages[0], &facts, &[], &[]);
        assert_eq!(view.maintenance.len(), 1, "{:?}", view.maintenance);
        assert_eq!(view.maintenance[0].components, ["Database", "Replica"]);
        let states: Vec<PublicState> = view.components.iter().map(|c| c.state).collect();
        assert_eq!(
            states,
            [
                PublicState::NoData,
                PublicState::Maintenance,
                PublicState::Maintenance
            ]
        );
    }

    #[test]
    fn no_data_is_never_worse_than_a_known_state() {
        use PublicState::*;
        assert_eq!(worst([NoData, Operational]), Operational);
        assert_eq!(worst([Maintenance, Degraded, NoData]), Degraded);
        assert_eq!(worst([NoData, NoData]), NoData);
        assert_eq!(worst([]), NoData);
    }
}
