//! `[[maintenance]]`: windows during which checks keep running but alerts
//! are muted and incidents are marked so that SLA accounting can exclude
//! them. One-off (`start`/`end`) or recurring (`cron` + `duration` in a
//! `timezone`); scoped to sites, checks and tags (none = everything).
//! Overlapping windows on the same checks are rejected at load: two
//! windows that overlap make "which one ended?" ambiguous at night.

use crate::cron::Cron;
use crate::load::Loader;
use crate::raw::Dur;
use crate::spec::{Check, Site};
use keepup_model::{CheckId, MaintenanceScope, Timestamp};
use serde::Deserialize;
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;
use toml::Spanned;
use toml::de::DeValue;

/// A maintenance window.
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The checks it covers.
    pub checks: HashSet<CheckId>,
    /// When.
    pub when: Window,
}

/// When a window is open.
#[derive(Debug, Clone)]
pub enum Window {
    /// From `start` to `end` (ms since the epoch).
    Once {
        /// Start.
        start: Timestamp,
        /// End (exclusive).
        end: Timestamp,
    },
    /// Every time `cron` fires in `timezone` (across daylight saving
    /// changes as the `cron` module says: a start that does not exist opens
    /// at the jump, one that repeats opens once), for `duration` of real
    /// time.
    Recurring {
        /// Schedule.
        cron: Cron,
        /// Length of each window.
        duration: Duration,
        /// Time zone of the schedule.
        timezone: jiff::tz::TimeZone,
        /// Its name as written.
        timezone_name: String,
    },
}

impl Maintenance {
    /// The window containing `at`, as `(start, end)`, if open then.
    pub fn open_at(&self, at: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match &self.when {
            Window::Once { start, end } => (*start <= at && at < *end).then_some((*start, *end)),
            Window::Recurring {
                cron,
                duration,
                timezone,
                ..
            } => {
                let minutes = (duration.as_secs() / 60).min(u32::MAX as u64) as u32;
                let start = cron.last_at_or_before(at, timezone, minutes)?;
                let end = start + duration.as_millis() as i64;
                (at < end).then_some((start, end))
            }
        }
    }

    /// Whether it covers `check`.
    pub fn covers(&self, check: &CheckId) -> bool {
        self.checks.contains(check)
    }

    /// The windows that start within `[from, to)`, for overlap checks and
    /// for listing upcoming windows.
    pub fn occurrences(
        &self,
        from: Timestamp,
        to: Timestamp,
        max: usize,
    ) -> Vec<(Timestamp, Timestamp)> {
        match &self.when {
            Window::Once { start, end } => {
                if *start < to && *end > from {
                    vec![(*start, *end)]
                } else {
                    Vec::new()
                }
            }
            Window::Recurring {
                cron,
                duration,
                timezone,
                ..
            } => {
                let mut out = Vec::new();
                let mut t = from - 60_000;
                let horizon = ((to - from) / 60_000).clamp(0, u32::MAX as i64) as u32;
                while out.len() < max {
                    match cron.next_after(t, timezone, horizon) {
                        Some(s) if s < to => {
                            out.push((s, s + duration.as_millis() as i64));
                            t = s;
                        }
                        _ => break,
                    }
                }
                out
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMaintenance {
    id: Spanned<String>,
    name: Option<String>,
    #[serde(default)]
    sites: Vec<Spanned<String>>,
    #[serde(default)]
    checks: Vec<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    start: Option<Spanned<String>>,
    end: Option<Spanned<String>>,
    cron: Option<Spanned<String>>,
    duration: Option<Spanned<Dur>>,
    timezone: Option<Spanned<String>>,
}

/// How far ahead recurring windows are compared for overlaps.
const OVERLAP_HORIZON_MS: i64 = 35 * 86_400_000;

impl Loader<'_> {
    /// Validates `[[maintenance]]` against the configured sites.
    pub(crate) fn maintenance(
        &mut self,
        value: Spanned<DeValue<'_>>,
        sites: &[Site],
        now: Timestamp,
    ) -> Vec<Maintenance> {
        let items =
            self.array_of_tables(value, "maintenance", "write each window as [[maintenance]]");
        let all: Vec<&Check> = sites
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| &**c))
            .collect();
        let mut out: Vec<(Maintenance, std::ops::Range<usize>)> = Vec::new();
        for (path, item) in items {
            let item_span = item.span();
            let Some(raw) = self.deserialize::<RawMaintenance>(item, &path, &[]) else {
                continue;
            };
            if let Some(m) = self.one_maintenance(raw, &path, item_span.clone(), sites, &all) {
                out.push((m, item_span));
            }
        }
        // Overlaps between windows that cover a common check.
        for a in 0..out.len() {
            for b in a + 1..out.len() {
                let (ma, _) = &out[a];
                let (mb, span_b) = &out[b];
                if ma.checks.is_disjoint(&mb.checks) {
                    continue;
                }
                let horizon = now + OVERLAP_HORIZON_MS;
                let oa = ma.occurrences(now - OVERLAP_HORIZON_MS, horizon, 10_000);
                let ob = mb.occurrences(now - OVERLAP_HORIZON_MS, horizon, 10_000);
                if let Some(((s, _), _)) = oa
                    .iter()
                    .flat_map(|x| ob.iter().map(move |y| (*x, *y)))
                    .find(|(x, y)| x.0 < y.1 && y.0 < x.1)
                {
                    let when = keepup_model::format_rfc3339(s);
                    self.rep.report(
                        span_b.clone(),
                        &format!("maintenance[{b}]"),
                        format!("maintenance window {:?} overlaps {:?} (e.g. around {when}) on the same checks", mb.id, ma.id),
                        Some("merge them into one window or make their times or checks disjoint".into()),
                    );
                }
            }
        }
        out.into_iter().map(|(m, _)| m).collect()
    }

    fn one_maintenance(
        &mut self,
        raw: RawMaintenance,
        path: &str,
        span: std::ops::Range<usize>,
        sites: &[Site],
        all: &[&Check],
    ) -> Option<Maintenance> {
        let (checks, ok) = self.scoped_checks(&raw.sites, &raw.checks, &raw.tags, path, sites, all);
        let when = match (raw.start, raw.end, raw.cron, raw.duration, raw.timezone) {
            (Some(s), Some(e), None, None, None) => {
                let start = self.instant(&s, &format!("{path}.start"));
                let end = self.instant(&e, &format!("{path}.end"));
                match (start, end) {
                    (Some(a), Some(b)) if a < b => Window::Once { start: a, end: b },
                    (Some(_), Some(_)) => {
                        self.rep.report(
                            e.span(),
                            &format!("{path}.end"),
                            "the window ends before it starts",
                            None,
                        );
                        return None;
                    }
                    _ => return None,
                }
            }
            (None, None, Some(c), Some(d), tz) => {
                let cron = match Cron::parse(c.get_ref()) {
                    Ok(cron) => cron,
                    Err(e) => {
                        self.rep.report(
                            c.span(),
                            &format!("{path}.cron"),
                            format!("invalid cron expression: {e}"),
                            Some("e.g. \"0 2 * * sun\" for Sundays at 02:00".into()),
                        );
                        return None;
                    }
                };
                let duration = self.positive(&d, &format!("{path}.duration"));
                let (timezone, timezone_name) = match &tz {
                    None => (jiff::tz::TimeZone::UTC, "UTC".to_owned()),
                    Some(name) => (
                        self.timezone(name, &format!("{path}.timezone"))?,
                        name.get_ref().clone(),
                    ),
                };
                Window::Recurring {
                    cron,
                    duration,
                    timezone,
                    timezone_name,
                }
            }
            _ => {
                self.rep.report(span, path, "a maintenance window needs either `start` and `end`, or `cron` and `duration` (and optionally `timezone`)", None);
                return None;
            }
        };
        let id = raw.id.into_inner();
        ok.then_some(Maintenance {
            name: raw.name.unwrap_or_else(|| id.clone()),
            id,
            checks,
            when,
        })
    }

    /// The checks that `sites`, `checks` and `tags` select (none of the
    /// three: every check), each unknown name reported at `path.<key>`;
    /// false when one was unknown. Maintenance windows and actions select
    /// their checks this way.
    pub(crate) fn scoped_checks(
        &mut self,
        raw_sites: &[Spanned<String>],
        raw_checks: &[Spanned<String>],
        raw_tags: &[Spanned<String>],
        path: &str,
        sites: &[Site],
        all: &[&Check],
    ) -> (HashSet<CheckId>, bool) {
        let mut ok = true;
        let mut scopes = Vec::new();
        for s in raw_sites {
            if sites.iter().any(|site| site.id == *s.get_ref()) {
                scopes.push(MaintenanceScope::Site(s.get_ref().clone()));
            } else {
                self.rep.report(
                    s.span(),
                    &format!("{path}.sites"),
                    format!("no site {:?}", s.get_ref()),
                    None,
                );
                ok = false;
            }
        }
        for c in raw_checks {
            let id = CheckId(c.get_ref().clone());
            if all.iter().any(|k| k.id == id) {
                scopes.push(MaintenanceScope::Check(id));
            } else {
                let hint = crate::diag::closest(c.get_ref(), all.iter().map(|k| k.id.as_str()))
                    .map(|h| format!("did you mean \"{h}\"? (write site/check)"));
                self.rep.report(
                    c.span(),
                    &format!("{path}.checks"),
                    format!("no check {:?}", c.get_ref()),
                    hint,
                );
                ok = false;
            }
        }
        for t in raw_tags {
            if all.iter().any(|k| k.carries_tag(t.get_ref())) {
                scopes.push(MaintenanceScope::Tag(t.get_ref().clone()));
            } else {
                // Every tag is in the configuration, so a tag no check or
                // site carries is a typo, not a tag yet to come.
                let known: BTreeSet<&str> = all
                    .iter()
                    .flat_map(|k| k.tags.iter().chain(&k.site_tags))
                    .map(String::as_str)
                    .collect();
                let hint = crate::diag::closest(t.get_ref(), known.iter().copied())
                    .map(|h| format!("did you mean \"{h}\"?"))
                    .or_else(|| {
                        Some(format!(
                            "tags on checks and sites: {}",
                            known.iter().copied().collect::<Vec<_>>().join(", ")
                        ))
                        .filter(|_| !known.is_empty())
                    });
                self.rep.report(
                    t.span(),
                    &format!("{path}.tags"),
                    format!("no check or site carries the tag {:?}", t.get_ref()),
                    hint,
                );
                ok = false;
            }
        }
        if scopes.is_empty() {
            scopes.push(MaintenanceScope::Everything);
        }
        let checks: HashSet<CheckId> = all
            .iter()
            .filter(|c| {
                scopes
                    .iter()
                    .any(|s| s.covers(&c.id, |tag| c.carries_tag(tag)))
            })
            .map(|c| c.id.clone())
            .collect();
        (checks, ok)
    }

    /// An RFC 3339 instant with an offset, e.g. `2026-12-01T22:00:00+01:00`.
    fn instant(&mut self, s: &Spanned<String>, key: &str) -> Option<Timestamp> {
        match s.get_ref().parse::<jiff::Timestamp>() {
            Ok(t) => Some(t.as_millisecond()),
            Err(e) => {
                self.rep.report(
                    s.span(),
                    key,
                    format!("invalid time {:?}: {e}", s.get_ref()),
                    Some(
                        "write RFC 3339 with an offset, e.g. \"2026-12-01T22:00:00+01:00\"".into(),
                    ),
                );
                None
            }
        }
    }
}
