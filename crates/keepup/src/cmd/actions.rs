//! `keepup actions [--since 7d] [--json]`: the runs of `[[action]]`s,
//! newest first, with what decided each (a measure's window and values, a
//! level's step); `keepup actions run NAME [--dry-run]` runs one by hand
//! (recorded as manual, through the same guard rails; only a name the
//! configuration has); `keepup actions confirm RUN [--no]` answers a run
//! that waits for a confirmation (yes runs it).
//!
//! While a daemon (`keepup run`) holds the store, the run is the
//! daemon's: this command files the request (or the answer) in the store,
//! the daemon takes it within a second and runs it as its own user, and
//! this command waits for the outcome and prints it. Without a daemon it
//! runs here. Either way the guard rails are decided in the store's
//! transaction that records the run, so the two cannot both pass a
//! cooldown.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use keepup_actions::{Cause, Engine, EngineError};
use keepup_model::{Clock, SystemClock, format_rfc3339};
use keepup_store::{ActionRun, RunOutcome};

/// Runs listed at most (the newest).
const LIMIT: usize = 10_000;

/// `keepup actions`
pub fn list(path: &Path, since: Duration, json: bool) -> anyhow::Result<ExitCode> {
    let store = match super::incidents::open_store(path)? {
        Ok(s) => s,
        Err(code) => return Ok(code),
    };
    let from = SystemClock
        .now_ms()
        .saturating_sub(i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
    let runs = store.action_runs(from, None, LIMIT)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![
        [
            "RUN", "STARTED", "ACTION", "CAUSE", "OUTCOME", "EXIT", "DECIDED", "DETAIL",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in runs {
        rows.push(vec![
            r.id.to_string(),
            format_rfc3339(r.started_at),
            r.action.clone(),
            format!("{}: {}", r.cause, r.cause_detail),
            r.outcome.as_str().to_owned(),
            r.exit_code.map(|c| c.to_string()).unwrap_or_default(),
            keepup_actions::decision_words(&r),
            detail(&r),
        ]);
    }
    print!("{}", super::status::render(&rows));
    Ok(ExitCode::SUCCESS)
}

/// The reason, or the last line of output.
fn detail(r: &ActionRun) -> String {
    let text = if r.reason.is_empty() {
        r.output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
    } else {
        r.reason.as_str()
    };
    text.chars().take(120).collect()
}

/// The engine, and whether a daemon holds the store (and runs what this
/// command asks for).
fn engine(path: &Path) -> anyhow::Result<Result<(Engine, bool), ExitCode>> {
    let config = match super::load_config(path) {
        Ok(c) => c,
        Err(code) => return Ok(Err(code)),
    };
    // Creating the store here lets an action run before the daemon ever did.
    let store = keepup_store::Store::open(&config.store.path)?;
    let daemon = super::reload::daemon_holds(&config.store.path);
    let engine = Engine::new(
        &config,
        store,
        Arc::new(SystemClock),
        keepup_notify::HttpClientContext::new(),
    );
    Ok(Ok((engine, daemon)))
}

/// `keepup actions run NAME [--dry-run]`
pub fn run(path: &Path, name: &str, dry_run: bool) -> anyhow::Result<ExitCode> {
    let (engine, daemon) = match engine(path)? {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let cause = Cause::Manual {
        by: super::users::cli_actor(),
    };
    let ran = super::runtime()?.block_on(async {
        if dry_run {
            engine.dry_run(name, cause).await
        } else if daemon {
            let filed = engine.request(name, cause).await?;
            engine.wait(filed.id).await
        } else {
            engine.run(name, cause).await
        }
    });
    finish(ran)
}

/// `keepup actions confirm RUN [--no]`
pub fn confirm(path: &Path, id: i64, no: bool) -> anyhow::Result<ExitCode> {
    let (engine, daemon) = match engine(path)? {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let by = super::users::cli_actor();
    let ran = super::runtime()?.block_on(async {
        if daemon {
            let answered = engine.answer(id, !no, &by).await?;
            if no {
                return Ok(answered);
            }
            engine.wait(id).await
        } else {
            engine.confirm(id, !no, &by).await
        }
    });
    finish(ran)
}

fn finish(ran: Result<ActionRun, EngineError>) -> anyhow::Result<ExitCode> {
    let run = match ran {
        Ok(r) => r,
        Err(
            e @ (EngineError::UnknownAction(_)
            | EngineError::UnknownRun(_)
            | EngineError::NotAwaiting(_)),
        ) => {
            eprintln!("keepup: {e}");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let code = run
        .exit_code
        .map(|c| format!(", exit {c}"))
        .unwrap_or_default();
    println!(
        "run {}: {} {}{code}",
        run.id,
        run.action,
        run.outcome.as_str()
    );
    if !run.reason.is_empty() {
        println!("{}", run.reason);
    }
    if matches!(run.outcome, RunOutcome::Running | RunOutcome::Queued)
        || (run.outcome == RunOutcome::AwaitingConfirmation && run.answer == Some(true))
    {
        eprintln!(
            "keepup: the daemon has not finished run {} yet; `keepup actions` shows how it ends",
            run.id
        );
    }
    if !run.output.is_empty() {
        print!("{}", run.output);
        if !run.output.ends_with('\n') {
            println!();
        }
    }
    Ok(match run.outcome {
        RunOutcome::Ok | RunOutcome::DryRun | RunOutcome::AwaitingConfirmation => ExitCode::SUCCESS,
        // Not run: 2, so scripts tell "refused by a guard rail" from "failed".
        RunOutcome::Skipped => ExitCode::from(2),
        // Still running or queued: the wait ended first (the daemon's
        // budget for it passed); `keepup actions` shows how it ends.
        RunOutcome::Failed | RunOutcome::TimedOut | RunOutcome::Running | RunOutcome::Queued => {
            ExitCode::from(1)
        }
    })
}
