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
//! The page waits at most for the runs' longest duration under the
//! engine's policy (`keepup_actions::longest_run`: a webhook's retries
//! and backoffs included) plus the grace; a run that ends sooner moves
//! the deadline to its end plus the grace. Right before each action the
//! incident is read again: resolved (the check recovered) or acknowledged
//! (someone is on it) since the remediation was queued, the action is
//! recorded as skipped, saying so. An acknowledgement while the page is
//! held cancels the page.
//!
//! `after_open`: an action whose `on` names a check and that has
//! `after_open` is no remediation; it runs once for each incident of
//! those checks still open (acknowledged or not: the fault persists) that
//! long after its first failure, the alerter's tick looking for them
//! every second ([`after_open_due`]); the engine's idempotency key
//! (action and incident) keeps it once across ticks and restarts.
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
use keepup_store::{ActionRun, Incident, RunOutcome, Store};
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
/// configuration's order. An action with `after_open` is not one: its
/// `on` only names the checks whose incidents it waits on.
pub fn actions_for<'a>(config: &'a Config, check: &CheckId, status: Status) -> Vec<&'a Action> {
    config
        .actions
        .iter()
        .filter(|a| {
            a.triggers.after_open.is_none()
                && a.triggers
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
        .filter(|a| a.triggers.after_open.is_none())
        .filter_map(|a| a.triggers.on.as_ref())
        .flat_map(|on| on.checks.iter().cloned())
        .collect()
}

/// How a remediation pages: `None` at once (an action asks for it, or
/// none runs first), else the longest the page may wait before the runs
/// end (one after the other, each as long as the engine's policy lets it
/// take: a webhook's retries and backoffs included) and the grace after
/// them.
pub(crate) fn hold_for(actions: &[&Action]) -> Option<(Duration, Duration)> {
    if actions.is_empty() || actions.iter().any(|a| a.page == Page::AtOnce) {
        return None;
    }
    let runs: Duration = actions.iter().map(|a| keepup_actions::longest_run(a)).sum();
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

/// Why a remediation of `now` (its incident as the store has it right
/// before a run) must not start: the check recovered (or a person
/// resolved it), or a person acknowledged it (someone is on it, and a
/// restart under their hands is not wanted). `None`: it runs.
pub(crate) fn not_to_remediate(now: &Incident) -> Option<String> {
    if now.resolved_at.is_some() {
        return Some("the check recovered before the run".into());
    }
    now.acknowledged_at.map(|_| {
        format!(
            "acknowledged{} before the run: someone is on it",
            now.acknowledged_by
                .as_deref()
                .map(|by| format!(" by {by}"))
                .unwrap_or_default()
        )
    })
}

/// Reads incident `id` as the store has it now (`None`: unreadable,
/// logged; the caller goes on as if it were still open).
async fn current(store: &Store, id: i64) -> Option<Incident> {
    let s = store.clone();
    match tokio::task::spawn_blocking(move || s.incident(id)).await {
        Ok(Ok(i)) => i,
        Ok(Err(e)) => {
            tracing::warn!(incident = id, error = %e, "cannot re-read the incident before its action");
            None
        }
        Err(e) => {
            tracing::warn!(incident = id, error = %e, "cannot re-read the incident before its action");
            None
        }
    }
}

/// Runs `remedy`'s actions one after the other through `engine`; the
/// grace the page waits from their end, or `None` when none acted (the
/// page is due at once). Right before each action the incident is read
/// again: one resolved or acknowledged since the remediation was queued
/// records the run as skipped, saying why ([`not_to_remediate`]).
pub(crate) async fn run(
    engine: &keepup_actions::Engine,
    store: &Store,
    remedy: &Remedy,
) -> Option<Duration> {
    let i = &remedy.incident;
    let cause = keepup_actions::Cause::Check {
        check: i.check.clone(),
        status: i.status,
    };
    let mut grace: Option<Duration> = None;
    for name in &remedy.actions {
        let stop = if remedy.flapping {
            Some(format!(
                "{} is flapping: automatic runs are suspended until it settles",
                i.check
            ))
        } else {
            current(store, i.id)
                .await
                .as_ref()
                .and_then(not_to_remediate)
        };
        let ran = match stop {
            Some(why) => {
                engine
                    .skip_for_incident(name, cause.clone(), i.id, why)
                    .await
            }
            None => engine.run_for_incident(name, cause.clone(), i.id).await,
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

/// An `after_open` run to start: `action` for `incident`, still open.
#[derive(Debug, Clone)]
pub(crate) struct AfterOpen {
    pub(crate) action: String,
    pub(crate) incident: Incident,
}

/// Whether some action has an `after_open` trigger (else no pass reads
/// the open incidents).
pub(crate) fn has_after_open(config: &Config) -> bool {
    config
        .actions
        .iter()
        .any(|a| a.triggers.after_open.is_some())
}

/// The `after_open` runs due at `now` among the `open` incidents: an
/// action whose `on` names the incident's check and status, the incident
/// open (acknowledged or not: the fault persists) at least `after_open`
/// since its first failure, and not a consequence of another incident
/// (its cause is acted on, as remediation is). Each is run once per
/// incident; the engine's idempotency key keeps it so (a run a guard
/// rail skipped is tried again: see `run_after_open`).
pub(crate) fn after_open_due(config: &Config, open: &[Incident], now: Timestamp) -> Vec<AfterOpen> {
    let mut due = Vec::new();
    for a in &config.actions {
        let (Some(after), Some(on)) = (a.triggers.after_open, &a.triggers.on) else {
            continue;
        };
        let after = i64::try_from(after.as_millis()).unwrap_or(i64::MAX);
        for i in open {
            if i.resolved_at.is_none()
                && i.cause.is_none()
                && on.checks.contains(&i.check)
                && on.status.contains(&i.status)
                && now.saturating_sub(i.opened_at) >= after
            {
                due.push(AfterOpen {
                    action: a.name.clone(),
                    incident: i.clone(),
                });
            }
        }
    }
    due
}

/// Runs `due` through `engine` once for its incident, unless the incident
/// resolved meanwhile (read again right before). Whether to try again
/// later: a guard rail skipped it (the incident stays due).
pub(crate) async fn run_after_open(
    engine: &keepup_actions::Engine,
    store: &Store,
    due: &AfterOpen,
) -> bool {
    use keepup_actions::OnceForIncident;
    let i = &due.incident;
    if current(store, i.id)
        .await
        .is_some_and(|now| now.resolved_at.is_some())
    {
        return false;
    }
    match engine
        .run_once_for_incident(&due.action, i.id, i.check.clone())
        .await
    {
        Ok(OnceForIncident::Run(run)) => {
            tracing::info!(incident = i.id, check = %i.check, action = %due.action, run = run.id, outcome = run.outcome.as_str(), "incident still open: action run");
            false
        }
        Ok(OnceForIncident::Skipped(_)) => true,
        Ok(OnceForIncident::Done) => false,
        Err(e) => {
            tracing::error!(incident = i.id, action = %due.action, error = %e, "an after_open action could not run");
            false
        }
    }
}

/// Shared handle type of the engine the alerter runs remediations with.
pub(crate) type EngineSlot = std::sync::Mutex<Option<Arc<keepup_actions::Engine>>>;
