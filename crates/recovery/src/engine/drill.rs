//! Drills: the plan's `activate` steps run against its `[recovery.drill]`
//! environment as a `drill` run (journaled, holding the plan's lock like
//! any run), then cleaned up, whether the steps succeeded or not.
//!
//! What each step kind does in a drill, so that a drill never touches
//! production or the real standby:
//!
//! - `restore_files`: under the drill's `files_root` (`<files_root>/<to>`),
//!   on the drill environment's host of the same name when the step has a
//!   `host`;
//! - `restore_database`: into the scratch database `<database>_drill` on
//!   the drill's `db_host`/`db_port` (default: the step's server);
//! - `dns`: the drill's `dns_names` point at the drill's addresses;
//! - `verify`: the checks, with the names the `dns` steps switch resolved
//!   to the drill's addresses; the first all-Up round is the drill's RTO;
//! - `command`: on the drill environment's host of that name; a local one
//!   is skipped (journaled, saying why) unless it says `drill = "run"`
//!   (then it runs here, with `KEEPUP_DR_KIND=drill`), and `drill =
//!   "skip"` skips a remote one too;
//! - `maintenance`: skipped (journaled, saying why);
//! - `notify`: sent, marked `DRILL:`;
//! - `confirm`: passes without asking.
//!
//! The cleanup ([`cleanup_plan`]) is journaled as further steps of the run,
//! after the activate steps: the records the drill published at its DNS
//! names deleted (signed RFC 2136 update), the plan's
//! `[[recovery.drill_cleanup]]` commands, the scratch databases dropped,
//! the restored files removed (only under `files_root`: all of
//! `<files_root>/<to>`, never through a symbolic link). Every cleanup step runs even
//! when an earlier one failed; a failed one fails the drill. A drill that
//! failed is over: it ends
//! `failed`, releases the plan's lock (a real activation must never wait
//! for a drill) and is not resumed; a drill whose process died is resumed
//! (`keepup dr resume RUN`) and cleans up as it ends.
//!
//! A drill stopped by an error of its own (the journal failing, a panic)
//! never stays `running` under a live process ([`finish_or_stop`]): it ends
//! `failed` holding the plan's lock, so that `keepup dr resume RUN` cleans
//! up and `keepup dr abort RUN` gives it up. A drill aborted while it runs
//! (`keepup dr abort RUN` from another process) stops before its next step
//! and cleans up.

use super::{EngineError, Ran, RunReport, Runner, Target, context, human_ms, run_steps, steps_of};
use crate::dns::{nsupdate_removal, remove};
use crate::journal::{Journal, Redactor};
use crate::steps::restore::{
    backup_plan, database_params, drill_database, drill_destination, remote_symlink_check,
    scratch_not_ours, symlink_between,
};
use crate::steps::{self, Done, Failed, StepContext};
use keepup_backup::dbrestore;
use keepup_config::RecoveryPlan;
use keepup_config::recovery::{
    CommandStep, DnsStep, DrillCommand, RestoreDatabaseStep, RestoreFilesStep, Step, StepAction,
};
use keepup_store::{DrRunKind, DrRunState, DrStepOutcome};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `kind` a drill's cleanup steps are journaled with.
pub const CLEANUP_KIND: &str = "cleanup";

/// How long removing the drill's files on a host may take.
const REMOTE_REMOVE_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a drill of `plan`: its activate steps against `[recovery.drill]`,
/// then the cleanup, as one `drill` run. The entry point of `keepup dr
/// drill` and of scheduled drills (which pass a [`Runner`] whose
/// confirmation is [`crate::Confirmation::AssumeYes`] or `Nobody`: a drill's
/// `confirm` steps pass without asking either way).
///
/// `Ok` with state `Completed` when every step and the cleanup succeeded,
/// `Failed` otherwise (the plan's lock released, the figures measured so
/// far kept); `Err` when the drill could not start (no drill environment,
/// the plan's lock held by another run) or the journal failed.
pub fn drill(runner: &Runner<'_>, plan: &RecoveryPlan) -> Result<RunReport, EngineError> {
    let (run, now) = super::begin(runner, plan, DrRunKind::Drill)?;
    finish_or_stop(runner, plan, run, now, 0)
}

/// [`finish`], but a drill that stops with an error or a panic after it
/// began is ended `failed` with the reason, keeping the plan's lock with
/// nobody running it: otherwise it would stay `running` under a live
/// process (the daemon) that `keepup dr resume`/`abort` must not take it
/// from, holding the plan against a real activation. A panic goes on
/// unwinding once the run is ended.
pub(super) fn finish_or_stop(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    run: i64,
    started_at: i64,
    from: usize,
) -> Result<RunReport, EngineError> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        finish(runner, plan, run, started_at, from)
    }));
    match outcome {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(e)) => {
            end_stopped(runner, plan, run, &e.to_string());
            Err(e)
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            end_stopped(runner, plan, run, &format!("keepup panicked: {what}"));
            std::panic::resume_unwind(panic)
        }
    }
}

/// Ends a drill stopped by `why` `failed`, waiting for a resume or an abort.
fn end_stopped(runner: &Runner<'_>, plan: &RecoveryPlan, run: i64, why: &str) {
    let message = Redactor::for_plan(runner.config, plan).redact(&format!(
        "drill stopped: {why}. Its cleanup may not have run: `keepup dr resume {run}` runs the rest and cleans up, `keepup dr abort {run}` gives it up"
    ));
    let at = runner.clock.now_ms();
    match runner
        .store
        .dr_run_ended(run, at, DrRunState::Failed, &message)
    {
        Ok(_) => tracing::error!(plan = %plan.id, run, %message, "drill stopped"),
        Err(e) => tracing::error!(
            plan = %plan.id, run, error = %e, %message,
            "drill stopped and could not be ended in the journal"
        ),
    }
}

/// Runs a drill's steps from `from`, cleans up, and ends the run.
pub(super) fn finish(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    run: i64,
    started_at: i64,
    from: usize,
) -> Result<RunReport, EngineError> {
    let ran: Ran = run_steps(runner, plan, DrRunKind::Drill, run, started_at, from)?;
    let cleanup_failures = clean_up(runner, plan, run, started_at, ran.steps_total)?;
    let redactor = Redactor::for_plan(runner.config, plan);
    let at = runner.clock.now_ms();
    let figures = runner
        .store
        .dr_run(run)?
        .map(|r| {
            format!(
                "RTO {}, RPO {}",
                r.rto_ms.map_or_else(|| "not measured".into(), human_ms),
                r.rpo_ms.map_or_else(|| "not measured".into(), human_ms)
            )
        })
        .unwrap_or_default();
    let cleaned = if cleanup_failures.is_empty() {
        "cleaned up".to_string()
    } else {
        format!(
            "the cleanup failed: {}; remove what is left by hand (`keepup dr status {run}` shows each step's output)",
            cleanup_failures.join("; ")
        )
    };
    let (state, message) = match &ran.failure {
        None if cleanup_failures.is_empty() => (
            DrRunState::Completed,
            format!(
                "drill of all {} steps done in {} ({figures}); {cleaned}",
                ran.steps_total,
                human_ms(at.saturating_sub(started_at).max(0))
            ),
        ),
        None => (
            DrRunState::Failed,
            format!(
                "drill failed: every step succeeded ({figures}), but {cleaned}; then run `keepup dr drill {}` again",
                plan.id
            ),
        ),
        Some(f) => {
            let mut m = format!(
                "drill failed: {}; {cleaned}. Fix the cause and run `keepup dr drill {}` again",
                f.what, plan.id
            );
            if let Some(cmd) = &f.by_hand {
                m.push_str(&format!("; the step by hand: {cmd}"));
            }
            (DrRunState::Failed, m)
        }
    };
    let message = redactor.redact(&message);
    match state {
        DrRunState::Completed => {
            runner.store.dr_run_ended(run, at, state, &message)?;
            tracing::info!(plan = %plan.id, run, "drill completed");
        }
        _ => {
            runner.store.dr_run_failed_for_good(run, at, &message)?;
            tracing::warn!(plan = %plan.id, run, "drill failed");
        }
    }
    Ok(RunReport {
        run,
        state,
        message,
        steps_run: ran.steps_run,
    })
}

/// One thing a drill's cleanup undoes.
#[derive(Debug, Clone, Copy)]
pub enum Undo<'p> {
    /// Delete the drill's names a `dns` step published.
    Dns(&'p DnsStep),
    /// A `[[recovery.drill_cleanup]]` command.
    Command(&'p CommandStep),
    /// Drop the scratch database a `restore_database` step imported into.
    Database(&'p RestoreDatabaseStep),
    /// Remove the files a `restore_files` step restored.
    Files(&'p RestoreFilesStep),
}

/// The cleanup of a drill of `plan`, in order, each with its journal name:
/// the drill's DNS names first (nothing points at the drill any more),
/// then the plan's cleanup commands (stop what uses the data), then the
/// scratch databases and the restored files.
pub fn cleanup_plan(plan: &RecoveryPlan) -> Vec<(String, Undo<'_>)> {
    let mut out = Vec::new();
    let of_kind = |pick: fn(&Step) -> Option<(String, Undo<'_>)>| {
        plan.activate.iter().filter_map(pick).collect::<Vec<_>>()
    };
    out.extend(of_kind(|s| match &s.action {
        StepAction::Dns(d) => Some((
            format!("cleanup: delete the DNS names of {:?}", s.name),
            Undo::Dns(d),
        )),
        _ => None,
    }));
    for s in &plan.drill_cleanup {
        if let StepAction::Command(c) = &s.action {
            out.push((format!("cleanup: {}", s.name), Undo::Command(c)));
        }
    }
    out.extend(of_kind(|s| match &s.action {
        StepAction::RestoreDatabase(d) => Some((
            format!("cleanup: drop database {}", drill_database(&d.database)),
            Undo::Database(d),
        )),
        _ => None,
    }));
    out.extend(of_kind(|s| match &s.action {
        StepAction::RestoreFiles(f) => Some((
            format!("cleanup: remove the files of {:?}", s.name),
            Undo::Files(f),
        )),
        _ => None,
    }));
    out
}

/// Runs every cleanup step, journaled at `first_index..`; the names and
/// reasons of those that failed.
fn clean_up(
    runner: &Runner<'_>,
    plan: &RecoveryPlan,
    run: i64,
    started_at: i64,
    first_index: usize,
) -> Result<Vec<String>, EngineError> {
    let (_, target) = steps_of(plan, DrRunKind::Drill).map_err(|reason| EngineError::Refused {
        plan: plan.id.clone(),
        reason,
    })?;
    let ctx = context(runner, plan, DrRunKind::Drill, target, run, started_at);
    let redactor = Redactor::for_plan(runner.config, plan);
    let journal = Journal {
        store: runner.store,
        run,
        redactor: &redactor,
    };
    let mut failures = Vec::new();
    for (k, (name, undo)) in cleanup_plan(plan).into_iter().enumerate() {
        let index = first_index + k;
        journal.started(index, &name, CLEANUP_KIND, runner.clock.now_ms())?;
        let result = undo_one(undo, &ctx, target);
        let at = runner.clock.now_ms();
        match result {
            Ok(done) => {
                journal.ended(index, at, DrStepOutcome::Succeeded, &done.output)?;
                runner
                    .observer
                    .cleaned(&name, true, &redactor.redact(&done.output));
            }
            Err(failed) => {
                let mut output = failed.reason.clone();
                if !failed.output.is_empty() {
                    output.push('\n');
                    output.push_str(&failed.output);
                }
                if let Some(cmd) = &failed.by_hand {
                    output.push_str(&format!("\nby hand: {cmd}"));
                }
                journal.ended(index, at, DrStepOutcome::Failed, &output)?;
                runner
                    .observer
                    .cleaned(&name, false, &redactor.redact(&output));
                tracing::warn!(plan = %plan.id, run, step = %name, reason = %redactor.redact(&failed.reason), "drill cleanup step failed");
                failures.push(format!("{name}: {}", failed.reason));
            }
        }
    }
    Ok(failures)
}

fn undo_one(undo: Undo<'_>, ctx: &StepContext<'_>, target: Target<'_>) -> Result<Done, Failed> {
    match undo {
        Undo::Dns(d) => {
            // Never the shop's own names: the drill's, and only the
            // records the drill published there.
            let params = steps::dns::drill_switch_of(d, ctx)?;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failed::because(format!("cannot start the DNS runtime: {e}")))?;
            match runtime.block_on(remove(&params)) {
                Ok(()) => Ok(Done {
                    output: format!(
                        "deleted the drill's records of {} in {}",
                        params.hosts.join(", "),
                        params.zone
                    ),
                }),
                Err(e) => Err(Failed {
                    reason: e.to_string(),
                    output: String::new(),
                    by_hand: Some(nsupdate_removal(&params, steps::dns::KEY_FILE_PLACEHOLDER)),
                }),
            }
        }
        Undo::Command(c) => steps::command::run(c, ctx),
        Undo::Database(d) => {
            let plan = backup_plan(ctx, &d.backup)?;
            let params = database_params(d, plan, ctx);
            let index = ctx.plan.activate.iter().position(
                |s| matches!(&s.action, StepAction::RestoreDatabase(x) if std::ptr::eq(x, d)),
            );
            if let Some(i) = index
                && scratch_not_ours(ctx, i)?
            {
                return Ok(Done {
                    output: format!(
                        "left {} alone: this drill did not create it",
                        params.database
                    ),
                });
            }
            dbrestore::drop_database(&params.server, &params.database, plan.command_timeout)
                .map(|()| Done {
                    output: format!(
                        "dropped database {} on {}",
                        params.database,
                        params.server.describe()
                    ),
                })
                .map_err(|e| Failed::because(e.to_string()))
        }
        Undo::Files(f) => remove_files(f, ctx, target),
    }
}

/// Where a drill restored step `f`: `<files_root>/<to>` (everything under
/// it came from the drill: the root is the drill's alone); with the root.
fn restored_dir(f: &RestoreFilesStep, target: Target<'_>) -> Result<(PathBuf, PathBuf), Failed> {
    let no_root = || Failed::because("the drill environment has no files_root");
    let root = target.environment.files_root.clone().ok_or_else(no_root)?;
    let dest = drill_destination(&f.to, target.environment).ok_or_else(no_root)?;
    // Only what lies under the root is ever removed.
    if !dest.starts_with(&root) {
        return Err(Failed::because(format!(
            "{} is not under the drill's files_root {}",
            dest.display(),
            root.display()
        )));
    }
    Ok((root, dest))
}

/// Removes what a drill restored for `f`: the whole `<files_root>/<to>`,
/// and the directories above it up to the root when they are empty. The
/// root itself stays: it may be a mount point.
fn remove_files(
    f: &RestoreFilesStep,
    ctx: &StepContext<'_>,
    target: Target<'_>,
) -> Result<Done, Failed> {
    let (root, dest) = restored_dir(f, target)?;
    let shown = dest.display().to_string();
    if let Some(host) = &f.host {
        // Neither `find -P` (the default) nor `rm -rf` follows a link
        // below the path; the check refuses one on the way to it.
        // Then, as here, the directories the restore made above it,
        // while empty.
        let remove = if dest == root {
            r#"find -P "$2" -mindepth 1 -delete"#
        } else {
            r#"rm -rf -- "$2" || exit; p=$(dirname -- "$2"); while [ "$p" != "$1" ] && rmdir -- "$p" 2>/dev/null; do p=$(dirname -- "$p"); done; exit 0"#
        };
        let step = CommandStep {
            run: vec![
                "sh".into(),
                "-c".into(),
                remote_symlink_check(remove),
                "sh".into(),
                root.display().to_string(),
                shown.clone(),
            ],
            host: Some(host.clone()),
            timeout: REMOTE_REMOVE_TIMEOUT,
            expect_exit: 0,
            drill: DrillCommand::Run,
        };
        return steps::command::run(&step, ctx).map(|mut done| {
            done.output = format!("removed {shown} on host {host}\n{}", done.output);
            done
        });
    }
    match symlink_between(&root, &dest) {
        Ok(None) => {}
        Ok(Some(link)) => {
            return Err(Failed::because(format!(
                "not removing {shown}: {} is a symbolic link under the drill's files_root (it could lead outside it); remove the link, then what is left by hand",
                link.display()
            )));
        }
        Err(e) => return Err(Failed::because(format!("removing {shown}: {e}"))),
    }
    remove_local(&dest, &root).map_err(|e| Failed::because(format!("removing {shown}: {e}")))?;
    // The directories the restore made above it, when now empty.
    for dir in dest.ancestors().skip(1) {
        if dir == root || !dir.starts_with(&root) || std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
    Ok(Done {
        output: format!("removed {shown}"),
    })
}

/// Removes `path`, or only the contents when it is `root` (which may be a
/// mount point); a path already gone is fine.
fn remove_local(path: &Path, root: &Path) -> std::io::Result<()> {
    if path != root {
        return remove_entry(path);
    }
    match std::fs::read_dir(root) {
        Ok(entries) => {
            for entry in entries {
                remove_entry(&entry?.path())?;
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a file, a link (never followed) or a directory tree.
fn remove_entry(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}
