//! The runbook engine: runs a plan's step list in order, journaling each
//! step in the store before it starts and after it ends, and stops at the
//! first failure with a message that names the step and says what to do
//! next. A run holds its plan's lock from start to completion or abort, so
//! a plan has one run at a time; [`resume`] continues a failed or crashed
//! run at its first unfinished step, never repeating a finished one.
//!
//! Synchronous, like the backup crate: the caller decides about threads.

mod describe;
mod drill;
mod status;

pub use describe::describe;
pub use drill::{cleanup_plan, drill};
pub use status::{Estimate, estimate, estimate_ms, render_status, run_rows};

use crate::clock::Clock;
use crate::journal::{Journal, Redactor};
use crate::steps::{self, Confirmation, StepContext};
use keepup_config::recovery::{Environment, Step};
use keepup_config::{Config, RecoveryPlan};
use keepup_store::{DrRun, DrRunKind, DrRunState, DrStepOutcome, Store, StoreError};

/// The environment a run works on, with its name for messages.
#[derive(Clone, Copy)]
pub struct Target<'a> {
    /// `standby`, `production` or `drill`.
    pub name: &'static str,
    /// The environment.
    pub environment: &'a Environment,
}

/// What went wrong around the steps (a step's own failure is a
/// [`RunReport`] with state `Failed`).
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The journal could not be written or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Another run of the plan holds its lock.
    #[error(
        "plan {plan} already has run {run} in progress (process {pid}); see `keepup dr status {run}`, then `keepup dr resume {run}` or `keepup dr abort {run}`"
    )]
    Locked {
        /// The plan.
        plan: String,
        /// The run holding the lock.
        run: i64,
        /// Its process.
        pid: u32,
    },
    /// No such run.
    #[error("no recovery run {0}; `keepup dr status` lists them")]
    NoRun(i64),
    /// The run is not in the configuration's plans any more.
    #[error("run {run} belongs to plan {plan:?}, which the configuration no longer has")]
    NoPlan {
        /// The run.
        run: i64,
        /// Its plan.
        plan: String,
    },
    /// The run cannot be resumed or aborted in its state.
    #[error("run {run} is {state}: {what}")]
    Finished {
        /// The run.
        run: i64,
        /// Its state.
        state: &'static str,
        /// What that means here.
        what: &'static str,
    },
    /// A live process is running it.
    #[error(
        "run {run} is being run by process {pid}, which is still alive; wait for it, or stop it first"
    )]
    Alive {
        /// The run.
        run: i64,
        /// The process.
        pid: u32,
    },
    /// The plan cannot be run as it stands.
    #[error("plan {plan}: {reason}")]
    Refused {
        /// The plan.
        plan: String,
        /// Why.
        reason: String,
    },
}

/// How a run ended this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    /// The run.
    pub run: i64,
    /// `Completed`, or `Failed` (waiting for a resume or an abort).
    pub state: DrRunState,
    /// What happened and, after a failure, what to do next.
    pub message: String,
    /// The steps this invocation ran (skipped finished ones not counted).
    pub steps_run: usize,
}

/// Hears about steps as they run (the CLI prints progress).
pub trait Observer {
    /// Step `index` starts.
    fn started(&self, _index: usize, _step: &Step) {}
    /// Step `index` ended; `ok` and its (redacted) output or reason.
    fn ended(&self, _index: usize, _step: &Step, _ok: bool, _text: &str) {}
    /// Step `index` was finished in an earlier attempt and is skipped.
    fn skipped(&self, _index: usize, _step: &Step) {}
    /// A drill's cleanup step `name` ended; `ok` and its output or reason.
    fn cleaned(&self, _name: &str, _ok: bool, _text: &str) {}
    /// Step `index` waits for `prompt` to be answered on the dashboard;
    /// `link` answers it without logging in (when `[server]` has
    /// `public_url` and an ack key). The link is a credential: show it to
    /// the operator, never log it.
    fn asking(&self, _index: usize, _prompt: &str, _link: Option<&str>) {}
}

/// An observer that hears nothing.
pub struct Quiet;
impl Observer for Quiet {}

/// What a run needs besides the plan.
pub struct Runner<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The journal.
    pub store: &'a Store,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Who answers confirmation gates.
    pub confirm: &'a Confirmation,
    /// Who hears about progress.
    pub observer: &'a dyn Observer,
    /// Who runs it (journaled).
    pub who: &'a str,
}

/// The steps and environment of a run of `kind`.
pub fn steps_of(plan: &RecoveryPlan, kind: DrRunKind) -> Result<(&[Step], Target<'_>), String> {
    match kind {
        DrRunKind::Activate => Ok((
            &plan.activate,
            Target {
                name: "standby",
                environment: &plan.standby,
            },
        )),
        DrRunKind::Return => Ok((
            &plan.return_steps,
            Target {
                name: "production",
                environment: &plan.production,
            },
        )),
        DrRunKind::Drill => match &plan.drill {
            Some(env) => Ok((
                &plan.activate,
                Target {
                    name: "drill",
                    environment: env,
                },
            )),
            None => Err("it declares no [recovery.drill] environment".into()),
        },
    }
}

/// Refuses a step list this build cannot run to the end, before anything
/// changes.
fn preflight(plan: &RecoveryPlan, steps: &[Step], kind: DrRunKind) -> Result<(), EngineError> {
    if steps.is_empty() {
        return Err(EngineError::Refused {
            plan: plan.id.clone(),
            reason: format!("it has no {} steps", kind.as_str()),
        });
    }
    for (i, s) in steps.iter().enumerate() {
        if let Some(why) = steps::unavailable(&s.action) {
            return Err(EngineError::Refused {
                plan: plan.id.clone(),
                reason: format!(
                    "step {} {:?} ({}): {why}; `keepup dr plan {}` shows what it does, to do by hand",
                    i + 1,
                    s.name,
                    s.action.kind(),
                    plan.id
                ),
            });
        }
    }
    Ok(())
}

/// Starts a run of `kind` of `plan`: takes the plan's lock and runs every
/// step (a drill also cleans up after itself: see [`drill`]).
pub fn start(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    kind: DrRunKind,
) -> Result<RunReport, EngineError> {
    if kind == DrRunKind::Drill {
        return drill(runner, plan);
    }
    let (run, now) = begin(runner, plan, kind)?;
    execute(runner, plan, kind, run, now, 0)
}

/// Checks that `plan` can run `kind`, then journals a new run holding the
/// plan's lock; its number and start.
fn begin(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    kind: DrRunKind,
) -> Result<(i64, i64), EngineError> {
    let (steps, _) = steps_of(plan, kind).map_err(|reason| EngineError::Refused {
        plan: plan.id.clone(),
        reason,
    })?;
    preflight(plan, steps, kind)?;
    let now = runner.clock.now_ms();
    let run = match runner
        .store
        .dr_begin(&plan.id, kind, now, runner.who, std::process::id())?
    {
        Ok(run) => run,
        Err(held) => {
            return Err(EngineError::Locked {
                plan: plan.id.clone(),
                run: held.run,
                pid: held.holder_pid,
            });
        }
    };
    tracing::info!(plan = %plan.id, run, kind = kind.as_str(), "recovery run started");
    Ok((run, now))
}

/// Whether process `pid` exists (another keepup still running a run).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    if unsafe { libc::kill(pid, 0) } == 0 {
        return true;
    }
    // EPERM: it exists, owned by another user (the daemon under its own
    // account) that this process may not signal.
    std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The run, its plan, and a check that no live process runs it.
fn claimable<'c>(
    config: &'c Config,
    store: &Store,
    run: i64,
    what: &'static str,
) -> Result<(DrRun, &'c RecoveryPlan), EngineError> {
    let r = store.dr_run(run)?.ok_or(EngineError::NoRun(run))?;
    if r.kind == DrRunKind::Drill && r.state == DrRunState::Failed && r.ended_at.is_some() {
        return Err(EngineError::Finished {
            run,
            state: "a failed drill, cleaned up",
            what: "start a new one with `keepup dr drill PLAN`",
        });
    }
    if r.state.is_final() {
        return Err(EngineError::Finished {
            run,
            state: r.state.as_str(),
            what,
        });
    }
    if let Some(pid) = r.holder_pid
        && pid != std::process::id()
        && r.state == DrRunState::Running
        && alive(pid)
    {
        return Err(EngineError::Alive { run, pid });
    }
    let plan = config
        .recovery_plan(&r.plan)
        .ok_or_else(|| EngineError::NoPlan {
            run,
            plan: r.plan.clone(),
        })?;
    Ok((r, plan))
}

/// Continues a failed or crashed run at its first unfinished step.
pub fn resume(runner: &Runner<'_>, run: i64) -> Result<RunReport, EngineError> {
    let (r, plan) = claimable(runner.config, runner.store, run, "nothing to resume")?;
    let (steps, _) = steps_of(plan, r.kind).map_err(|reason| EngineError::Refused {
        plan: plan.id.clone(),
        reason,
    })?;
    preflight(plan, steps, r.kind)?;
    let journaled = runner.store.dr_steps(run)?;
    // The journal's steps must still be the plan's, name and kind at each
    // place: resuming a changed plan could skip a step that was never run.
    // A drill's cleanup steps, journaled after them, all run again; one
    // where a step of the plan now is means the plan gained steps.
    let changed = |what: String| EngineError::Refused {
        plan: plan.id.clone(),
        reason: format!(
            "its steps changed since run {run} started ({what}); abort the run (`keepup dr abort {run}`) and start a new one"
        ),
    };
    for j in &journaled {
        let now = steps.get(j.index);
        if j.kind == drill::CLEANUP_KIND {
            if let Some(s) = now {
                return Err(changed(format!(
                    "step {} was the cleanup {:?}, is now {:?}",
                    j.index + 1,
                    j.name,
                    s.name
                )));
            }
            continue;
        }
        if now.is_none_or(|s| s.name != j.name || s.action.kind() != j.kind) {
            return Err(changed(format!(
                "step {} was {:?} ({}), is now {}",
                j.index + 1,
                j.name,
                j.kind,
                now.map_or("gone".to_string(), |s| format!(
                    "{:?} ({})",
                    s.name,
                    s.action.kind()
                ))
            )));
        }
    }
    let first = (0..steps.len())
        .find(|i| {
            !journaled.iter().any(|j| {
                j.index == *i
                    && j.kind != drill::CLEANUP_KIND
                    && j.outcome == DrStepOutcome::Succeeded
            })
        })
        .unwrap_or(steps.len());
    let now = runner.clock.now_ms();
    if !runner.store.dr_take_over(run, std::process::id(), now)? {
        return Err(EngineError::Finished {
            run,
            state: "without its plan's lock",
            what: "it cannot be resumed",
        });
    }
    tracing::info!(plan = %plan.id, run, from_step = first + 1, "recovery run resumed");
    if r.kind == DrRunKind::Drill {
        return drill::finish_or_stop(runner, plan, run, r.started_at, first);
    }
    execute(runner, plan, r.kind, run, r.started_at, first)
}

/// Gives a run up and releases its plan's lock. Steps already done are not
/// undone.
pub fn abort(
    config: &Config,
    store: &Store,
    run: i64,
    at: i64,
    who: &str,
) -> Result<(), EngineError> {
    let r = store.dr_run(run)?.ok_or(EngineError::NoRun(run))?;
    // A drill running in a live process (the daemon's schedule) must not
    // keep the plan from a real activation: it is aborted in the journal,
    // which releases the plan, and its process stops before its next step
    // and cleans up (run_steps).
    let live_drill = r.kind == DrRunKind::Drill
        && r.state == DrRunState::Running
        && r.holder_pid
            .is_some_and(|pid| pid != std::process::id() && alive(pid));
    let message = if live_drill {
        format!("aborted by {who}; the drill stops before its next step and cleans up")
    } else {
        claimable(config, store, run, "nothing to abort")?;
        format!("aborted by {who}")
    };
    store.dr_run_ended(run, at, DrRunState::Aborted, &message)?;
    tracing::warn!(plan = %r.plan, run, by = who, "recovery run aborted");
    Ok(())
}

/// Runs steps `from..` of a run and ends it: completed, or failed and
/// waiting for a resume or an abort.
fn execute(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    kind: DrRunKind,
    run: i64,
    run_started_at: i64,
    from: usize,
) -> Result<RunReport, EngineError> {
    let ran = run_steps(runner, plan, kind, run, run_started_at, from)?;
    let redactor = Redactor::for_plan(runner.config, plan);
    let at = runner.clock.now_ms();
    if let Some(failure) = ran.failure {
        let mut message = format!(
            "{}. The run stopped; nothing after it ran. Next: fix the cause, then `keepup dr resume {run}` (it runs this step again), or `keepup dr abort {run}`",
            failure.what
        );
        if let Some(cmd) = &failure.by_hand {
            message.push_str(&format!("; to do this step by hand: {cmd}"));
        }
        let message = redactor.redact(&message);
        runner
            .store
            .dr_run_ended(run, at, DrRunState::Failed, &message)?;
        return Ok(RunReport {
            run,
            state: DrRunState::Failed,
            message,
            steps_run: ran.steps_run,
        });
    }
    let mut message = format!(
        "all {} steps done in {}",
        ran.steps_total,
        human_ms(at.saturating_sub(run_started_at).max(0))
    );
    // The figures the run measured, where the operator looks first.
    if let Ok(Some(figures)) = runner.store.dr_run(run) {
        if let Some(rto) = figures.rto_ms {
            message.push_str(&format!("; RTO {}", human_ms(rto)));
        }
        if let Some(rpo) = figures.rpo_ms {
            message.push_str(&format!("; RPO {}", human_ms(rpo)));
        }
    }
    runner
        .store
        .dr_run_ended(run, at, DrRunState::Completed, &message)?;
    tracing::info!(plan = %plan.id, run, "recovery run completed");
    Ok(RunReport {
        run,
        state: DrRunState::Completed,
        message,
        steps_run: ran.steps_run,
    })
}

/// How the steps of one invocation went.
struct Ran {
    /// Steps run this time.
    steps_run: usize,
    /// Steps in the list.
    steps_total: usize,
    /// The step that failed, if one did.
    failure: Option<StepFailure>,
}

/// A failed step, for the run's message.
struct StepFailure {
    /// `step 2 of 5 "name" (kind) failed: reason`.
    what: String,
    /// How a person does the step by hand.
    by_hand: Option<String>,
}

/// What the steps of a run work with.
fn context<'a>(
    runner: &'a Runner<'_>,
    plan: &'a RecoveryPlan,
    kind: DrRunKind,
    target: Target<'a>,
    run: i64,
    run_started_at: i64,
) -> StepContext<'a> {
    StepContext {
        config: runner.config,
        plan,
        target,
        kind,
        run,
        run_started_at,
        store: runner.store,
        clock: runner.clock,
        confirm: runner.confirm,
        observer: runner.observer,
    }
}

/// Runs steps `from..` of a run, journaled, until one fails; the run itself
/// is left for the caller to end.
fn run_steps(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    kind: DrRunKind,
    run: i64,
    run_started_at: i64,
    from: usize,
) -> Result<Ran, EngineError> {
    let (steps, target) = steps_of(plan, kind).map_err(|reason| EngineError::Refused {
        plan: plan.id.clone(),
        reason,
    })?;
    let redactor = Redactor::for_plan(runner.config, plan);
    let journal = Journal {
        store: runner.store,
        run,
        redactor: &redactor,
    };
    let ctx = context(runner, plan, kind, target, run, run_started_at);
    for (i, step) in steps.iter().enumerate().take(from) {
        runner.observer.skipped(i, step);
    }
    let mut steps_run = 0;
    for (i, step) in steps.iter().enumerate().skip(from) {
        if kind == DrRunKind::Drill
            && let Some(r) = runner.store.dr_run(run)?
            && r.state == DrRunState::Aborted
        {
            tracing::warn!(plan = %plan.id, run, step = %step.name, "drill aborted; its remaining steps are skipped");
            return Ok(Ran {
                steps_run,
                steps_total: steps.len(),
                failure: Some(StepFailure {
                    what: format!(
                        "{} before step {} of {} {:?}",
                        r.message.lines().next().unwrap_or("aborted"),
                        i + 1,
                        steps.len(),
                        step.name
                    ),
                    by_hand: None,
                }),
            });
        }
        journal.started(i, &step.name, step.action.kind(), runner.clock.now_ms())?;
        runner.observer.started(i, step);
        tracing::info!(plan = %plan.id, run, step = %step.name, kind = step.action.kind(), "recovery step started");
        let result = steps::run(step, i, &ctx);
        steps_run += 1;
        let at = runner.clock.now_ms();
        match result {
            Ok(done) => {
                journal.ended(i, at, DrStepOutcome::Succeeded, &done.output)?;
                runner
                    .observer
                    .ended(i, step, true, &redactor.redact(&done.output));
                tracing::info!(plan = %plan.id, run, step = %step.name, "recovery step succeeded");
            }
            Err(failed) => {
                let output = if failed.output.is_empty() {
                    failed.reason.clone()
                } else {
                    format!("{}\n{}", failed.reason, failed.output)
                };
                journal.ended(i, at, DrStepOutcome::Failed, &output)?;
                runner
                    .observer
                    .ended(i, step, false, &redactor.redact(&output));
                tracing::warn!(plan = %plan.id, run, step = %step.name, reason = %redactor.redact(&failed.reason), "recovery step failed; run stopped");
                return Ok(Ran {
                    steps_run,
                    steps_total: steps.len(),
                    failure: Some(StepFailure {
                        what: format!(
                            "step {} of {} {:?} ({}) failed: {}",
                            i + 1,
                            steps.len(),
                            step.name,
                            step.action.kind(),
                            failed.reason
                        ),
                        by_hand: failed.by_hand,
                    }),
                });
            }
        }
    }
    Ok(Ran {
        steps_run,
        steps_total: steps.len(),
        failure: None,
    })
}

/// Milliseconds as a short human duration (`1m 30s`).
pub fn human_ms(ms: i64) -> String {
    let secs = u64::try_from(ms.max(0) / 1000).unwrap_or(0);
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string()
}
