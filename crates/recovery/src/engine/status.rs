//! `keepup dr status [RUN]`: runs and their progress from the journal, with
//! elapsed times and, for a run in progress, an estimate from the last
//! completed run of the same plan and kind, or for an activation the last
//! completed drill when it is newer (its steps, without the cleanup).

use super::human_ms;
use keepup_model::{Timestamp, format_rfc3339};
use keepup_store::{DrRun, DrRunKind, DrRunState, DrStepOutcome, Store, StoreError};
use std::fmt::Write;

/// What a run in progress is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The completed run it comes from.
    pub run: i64,
    /// Its kind: the same as the run's, or a drill for an activation.
    pub kind: DrRunKind,
    /// How long it took (a drill's steps without its cleanup, when it
    /// stands for an activation).
    pub ms: i64,
}

/// The newest completed run of `run`'s plan and kind, or for an
/// activation also the newest completed drill (the same steps, rehearsed):
/// how long `run` should take.
pub fn estimate(store: &Store, run: &DrRun) -> Result<Option<Estimate>, StoreError> {
    let Some(done) = store.dr_runs(Some(&run.plan), 200)?.into_iter().find(|r| {
        r.id != run.id
            && r.state == DrRunState::Completed
            && (r.kind == run.kind
                || (run.kind == DrRunKind::Activate && r.kind == DrRunKind::Drill))
    }) else {
        return Ok(None);
    };
    let ended = if done.kind == run.kind {
        done.ended_at
    } else {
        // The drill's activate steps: its cleanup is no part of an activation.
        store
            .dr_steps(done.id)?
            .iter()
            .filter(|s| s.kind != super::drill::CLEANUP_KIND)
            .filter_map(|s| s.ended_at)
            .max()
    };
    Ok(ended.map(|e| Estimate {
        run: done.id,
        kind: done.kind,
        ms: e - done.started_at,
    }))
}

/// The duration of [`estimate`].
pub fn estimate_ms(store: &Store, run: &DrRun) -> Result<Option<i64>, StoreError> {
    Ok(estimate(store, run)?.map(|e| e.ms))
}

/// The rows of a table of runs (a header first), newest first.
pub fn run_rows(runs: &[DrRun], now: Timestamp) -> Vec<Vec<String>> {
    let mut rows = vec![
        [
            "RUN", "PLAN", "KIND", "STATE", "STARTED", "ELAPSED", "RTO", "RPO",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for r in runs {
        rows.push(vec![
            r.id.to_string(),
            r.plan.clone(),
            r.kind.as_str().into(),
            r.state.as_str().into(),
            format_rfc3339(r.started_at),
            human_ms(r.ended_at.unwrap_or(now) - r.started_at),
            r.rto_ms.map(human_ms).unwrap_or_else(|| "-".into()),
            r.rpo_ms.map(human_ms).unwrap_or_else(|| "-".into()),
        ]);
    }
    rows
}

/// One run with its steps.
pub fn render_status(store: &Store, run: &DrRun, now: Timestamp) -> Result<String, StoreError> {
    let mut out = String::new();
    let elapsed = run.ended_at.unwrap_or(now) - run.started_at;
    let _ = writeln!(
        out,
        "Run {} of plan {}: {}, {} (started {} by {}, {} elapsed)",
        run.id,
        run.plan,
        run.kind.as_str(),
        run.state.as_str(),
        format_rfc3339(run.started_at),
        run.started_by,
        human_ms(elapsed)
    );
    if !run.state.is_final()
        && let Some(est) = estimate(store, run)?
    {
        let _ = writeln!(
            out,
            "The last completed {} (run {}) took {}{}; about {} to go.",
            est.kind.as_str(),
            est.run,
            human_ms(est.ms),
            if est.kind == run.kind {
                ""
            } else {
                " without its cleanup"
            },
            human_ms((est.ms - elapsed).max(0))
        );
    }
    if let Some(rto) = run.rto_ms {
        let _ = writeln!(out, "Measured RTO: {}", human_ms(rto));
    }
    if let Some(rpo) = run.rpo_ms {
        let _ = writeln!(out, "Measured RPO: {}", human_ms(rpo));
    }
    if let (Some(pid), DrRunState::Running) = (run.holder_pid, run.state) {
        let _ = writeln!(out, "Held by process {pid}.");
    }
    if !run.state.is_final() {
        for q in store.dr_confirmations(Some(run.id))? {
            if q.answer.is_none() {
                let _ = writeln!(
                    out,
                    "Step {} waits for an answer on the dashboard (/dr/runs/{}): {}",
                    q.step + 1,
                    run.id,
                    q.prompt
                );
            }
        }
    }
    for s in store.dr_steps(run.id)? {
        let took = s
            .ended_at
            .map(|e| human_ms(e - s.started_at))
            .unwrap_or_else(|| format!("{} so far", human_ms(now - s.started_at)));
        let mark = match s.outcome {
            DrStepOutcome::Succeeded => "done",
            DrStepOutcome::Failed => "FAILED",
            DrStepOutcome::Started => "started",
        };
        let _ = writeln!(
            out,
            "{:>2}. {} ({}): {mark}, {took}{}",
            s.index + 1,
            s.name,
            s.kind,
            if s.attempts > 1 {
                format!(", attempt {}", s.attempts)
            } else {
                String::new()
            }
        );
        if s.outcome == DrStepOutcome::Failed {
            for line in s.output.lines().take(20) {
                let _ = writeln!(out, "      {line}");
            }
        }
    }
    if !run.message.is_empty() {
        let _ = writeln!(out, "{}", run.message);
    }
    Ok(out)
}
