//! `keepup dr status [RUN]`: runs and their progress from the journal, with
//! elapsed times and, for a run in progress, an estimate from the last
//! completed run of the same plan and kind.

use super::human_ms;
use keepup_model::{Timestamp, format_rfc3339};
use keepup_store::{DrRun, DrRunState, DrStepOutcome, Store, StoreError};
use std::fmt::Write;

/// The duration of the last completed run of `run`'s plan and kind.
pub fn estimate_ms(store: &Store, run: &DrRun) -> Result<Option<i64>, StoreError> {
    Ok(store
        .dr_runs(Some(&run.plan), 200)?
        .into_iter()
        .filter(|r| r.id != run.id && r.kind == run.kind && r.state == DrRunState::Completed)
        .find_map(|r| r.ended_at.map(|e| e - r.started_at)))
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
        && let Some(est) = estimate_ms(store, run)?
    {
        let _ = writeln!(
            out,
            "The last completed {} took {}; about {} to go.",
            run.kind.as_str(),
            human_ms(est),
            human_ms((est - elapsed).max(0))
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
