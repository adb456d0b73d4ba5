//! Remediation: a confirmed failure of a check that an `[[action]]`
//! triggers on (`on = { checks, status }`) runs the action before anyone
//! is paged.
//!
//! The alerter asks [`actions_for`] when an incident is to be told. With
//! `page = "after"` (the default) it holds the page ([`Held`], kept in the
//! store as a memo with the escalations, so a restart during the grace
//! period keeps waiting rather than paging or forgetting) and the action
//! runs through the engine (`keepup_actions`, guard rails included), its
//! run recorded against the incident. When the run is over the page waits
//! `grace` more: a check that recovers meanwhile resolves the incident
//! unannounced (its page shows the run); one that does not is paged, the
//! page saying what was tried and its output ([`notification_text`]). A run
//! that did not act (cooldown, limits, maintenance, dry run, waiting for a
//! confirmation) pages at once. With `page = "at_once"` the page goes out
//! at once and the action runs beside it.
//!
//! A flapping check does not run its remediation: automatic runs stop
//! (each recorded as skipped, saying so), and the incident engine does not
//! mute a remediated check's incidents while it flaps, so a person hears
//! that the repair is not holding.
//!
//! Not here: the guard rails and the running itself (`keepup_actions`),
//! the escalation (`alerting`).

use keepup_config::Config;
use keepup_config::actions::{Action, Page};
use keepup_model::{CheckId, Status, Timestamp, format_rfc3339};
use keepup_store::{ActionRun, Incident, RunOutcome};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The memo kind of pages held for a remediation (by incident id).
pub(crate) const HELD: &str = "remediation_hold";

/// At most this much of a run's output goes into a notification (its
/// end; the incident's page shows the 4 KiB the store keeps).
pub const NOTIFIED_OUTPUT_BYTES: usize = 1000;
/// At most this many runs are listed in one notification (the newest).
const NOTIFIED_RUNS: usize = 5;

/// The actions that remediate `check` confirmed in `status`, in the
/// configuration's order.
pub fn actions_for<'a>(config: &'a Config, check: &CheckId, status: Status) -> Vec<&'a Action> {
    config
        .actions
        .iter()
        .filter(|a| {
            a.triggers
                .on
                .as_ref()
                .is_some_and(|on| on.checks.contains(check) && on.status.contains(&status))
        })
        .collect()
}

/// Every check some action remediates.
pub fn remediated_checks(config: &Config) -> HashSet<CheckId> {
    config
        .actions
        .iter()
        .filter_map(|a| a.triggers.on.as_ref())
        .flat_map(|on| on.checks.iter().cloned())
        .collect()
}

/// How a remediation pages: `None` at once (an action asks for it, or
/// none runs first), else the longest the page may wait before the runs
/// end (their timeouts) and the grace after them.
pub(crate) fn hold_for(actions: &[&Action]) -> Option<(Duration, Duration)> {
    if actions.is_empty() || actions.iter().any(|a| a.page == Page::AtOnce) {
        return None;
    }
    let runs: Duration = actions.iter().map(|a| a.timeout).sum();
    let grace = actions.iter().map(|a| a.grace).max().unwrap_or_default();
    Some((runs, grace))
}

/// When a held page is due from its incident's recorded runs: `now` when
/// they all ended and none acted, the last end plus the longest grace
/// when they all ended, `None` while one has not ended (or none exists).
pub(crate) fn deadline_after(
    runs: &[ActionRun],
    actions: &[&Action],
    now: Timestamp,
) -> Option<Timestamp> {
    if runs.is_empty() || runs.iter().any(|r| r.finished_at.is_none()) {
        return None;
    }
    let acted: Vec<&ActionRun> = runs.iter().filter(|r| r.outcome.acted()).collect();
    let Some(end) = acted.iter().filter_map(|r| r.finished_at).max() else {
        return Some(now);
    };
    let grace = actions.iter().map(|a| a.grace).max().unwrap_or_default();
    Some(end + grace.as_millis() as i64)
}

/// A page held while the remediation runs and the check gets its grace.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The incident (as it opened).
    pub(crate) incident: Incident,
    /// When it is paged if it is still open.
    pub(crate) deadline: Timestamp,
}

/// [`Held`] as stored.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SavedHeld {
    pub(crate) deadline: Timestamp,
}

/// A remediation to start (taken by the alerting loop, which runs it on
/// the runtime).
#[derive(Debug, Clone)]
pub(crate) struct Remedy {
    pub(crate) incident: Incident,
    /// The actions' names, in order.
    pub(crate) actions: Vec<String>,
    /// The check is flapping: record the runs as skipped.
    pub(crate) flapping: bool,
    /// The page waits for the runs (`page = "after"`).
    pub(crate) held: bool,
}

/// Runs `remedy`'s actions one after the other through `engine`; the
/// grace the page waits from their end, or `None` when none acted (the
/// page is due at once).
pub(crate) async fn run(engine: &keepup_actions::Engine, remedy: &Remedy) -> Option<Duration> {
    let i = &remedy.incident;
    let cause = keepup_actions::Cause::Check {
        check: i.check.clone(),
        status: i.status,
    };
    let mut grace: Option<Duration> = None;
    for name in &remedy.actions {
        let ran = if remedy.flapping {
            engine
                .skip_for_incident(
                    name,
                    cause.clone(),
                    i.id,
                    format!(
                        "{} is flapping: automatic runs are suspended until it settles",
                        i.check
                    ),
                )
                .await
        } else {
            engine.run_for_incident(name, cause.clone(), i.id).await
        };
        match ran {
            Ok(run) => {
                tracing::info!(incident = i.id, check = %i.check, action = %name, run = run.id, outcome = run.outcome.as_str(), "remediation");
                if run.outcome.acted()
                    && let Some(a) = engine.action(name)
                {
                    grace = Some(grace.unwrap_or_default().max(a.grace));
                }
            }
            Err(e) => {
                tracing::error!(incident = i.id, action = %name, error = %e, "a remediation could not run")
            }
        }
    }
    grace
}

/// One run as a notification tells it: `restart-php at …: failed (exit
/// 1): reason`, then the end of its output, indented.
fn run_lines(run: &ActionRun) -> String {
    let mut line = format!(
        "- {} at {}: {}",
        run.action,
        format_rfc3339(run.started_at),
        run.outcome.as_str()
    );
    if let Some(code) = run.exit_code {
        line.push_str(&format!(" (exit {code})"));
    }
    if !run.reason.is_empty() {
        line.push_str(&format!(": {}", run.reason));
    }
    let output = run.output.trim_end();
    if !output.is_empty() {
        let mut start = output.len().saturating_sub(NOTIFIED_OUTPUT_BYTES);
        while !output.is_char_boundary(start) {
            start += 1;
        }
        let cut = if start > 0 { "…" } else { "" };
        line.push_str("\n  output: ");
        line.push_str(cut);
        line.push_str(&output[start..].replace('\n', "\n  "));
    }
    line
}

/// What a trigger or reminder says of the remediation of `members`: the
/// runs made for them (newest [`NOTIFIED_RUNS`]) and, for a member whose
/// check has remediations but no run yet, that it is suspended (flapping)
/// or starting (`page = "at_once"`). Empty when no action concerns them.
pub(crate) fn notification_text(
    config: &Config,
    members: &[Incident],
    runs: &[ActionRun],
    flapping: &HashSet<CheckId>,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    let shown = runs.len().saturating_sub(NOTIFIED_RUNS);
    for run in &runs[shown..] {
        lines.push(run_lines(run));
    }
    let mut finished_acted = false;
    for m in members {
        let names: Vec<&str> = actions_for(config, &m.check, m.status)
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        let mine: Vec<&ActionRun> = runs.iter().filter(|r| r.incident == Some(m.id)).collect();
        finished_acted |= mine
            .iter()
            .any(|r| r.outcome.acted() && r.outcome != RunOutcome::Running);
        if names.is_empty() || !mine.is_empty() {
            continue;
        }
        if flapping.contains(&m.check) {
            lines.push(format!(
                "- {}: not run, {} is flapping: automatic runs are suspended until it settles",
                names.join(", "),
                m.check
            ));
        } else {
            lines.push(format!(
                "- {}: starting now, beside this page",
                names.join(", ")
            ));
        }
    }
    if lines.is_empty() {
        return String::new();
    }
    let head = if finished_acted {
        "Automatic remediation was tried and did not help (the check still fails):"
    } else {
        "Automatic remediation:"
    };
    format!("\n\n{head}\n{}", lines.join("\n"))
}

/// The actions' names.
pub(crate) fn names(actions: &[&Action]) -> Vec<String> {
    actions.iter().map(|a| a.name.clone()).collect()
}

/// Shared handle type of the engine the alerter runs remediations with.
pub(crate) type EngineSlot = std::sync::Mutex<Option<Arc<keepup_actions::Engine>>>;
