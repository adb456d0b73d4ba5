//! The journal of disaster-recovery runs (`keepup dr`): one row per run
//! (`dr_run`), one per step of a run (`dr_step`), and the lock that allows
//! one run per plan at a time (`dr_lock`, the plan as primary key).
//!
//! The runbook engine (`keepup_recovery`) writes a step's row before the
//! step starts and again after it ends, so a process killed in between
//! leaves the step `started`, and a resume runs it again. The lock is taken
//! in the transaction that creates the run; it is released when the run
//! completes or is aborted, and stays while a run has failed or its process
//! died, so another run of the plan is refused until someone resumes or
//! aborts that one: a lock is never stolen silently.

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};

/// A step's journaled output is cut to this many bytes (the end is kept:
/// the last lines say why a command failed).
pub const MAX_STEP_OUTPUT: usize = 64 * 1024;

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrRunKind {
    /// Production → standby.
    Activate,
    /// Standby → production.
    Return,
    /// The activate steps against the drill environment.
    Drill,
}

impl DrRunKind {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DrRunKind::Activate => "activate",
            DrRunKind::Return => "return",
            DrRunKind::Drill => "drill",
        }
    }
    fn parse(s: &str) -> Result<Self, Fail> {
        match s {
            "activate" => Ok(DrRunKind::Activate),
            "return" => Ok(DrRunKind::Return),
            "drill" => Ok(DrRunKind::Drill),
            other => Err(Fail::Corrupt(format!("unknown run kind {other:?}"))),
        }
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrRunState {
    /// Steps are running (or its process died: see the lock's holder).
    Running,
    /// A step failed; the run waits for a resume or an abort.
    Failed,
    /// Every step succeeded.
    Completed,
    /// Someone gave it up.
    Aborted,
}

impl DrRunState {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DrRunState::Running => "running",
            DrRunState::Failed => "failed",
            DrRunState::Completed => "completed",
            DrRunState::Aborted => "aborted",
        }
    }
    fn parse(s: &str) -> Result<Self, Fail> {
        match s {
            "running" => Ok(DrRunState::Running),
            "failed" => Ok(DrRunState::Failed),
            "completed" => Ok(DrRunState::Completed),
            "aborted" => Ok(DrRunState::Aborted),
            other => Err(Fail::Corrupt(format!("unknown run state {other:?}"))),
        }
    }
    /// Whether the run is over for good (its lock is released).
    pub fn is_final(self) -> bool {
        matches!(self, DrRunState::Completed | DrRunState::Aborted)
    }
}

/// How a step ended, as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrStepOutcome {
    /// Journaled before it ran; no end yet (running, or its process died).
    Started,
    /// It did what it should.
    Succeeded,
    /// It did not.
    Failed,
}

impl DrStepOutcome {
    /// The name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            DrStepOutcome::Started => "started",
            DrStepOutcome::Succeeded => "succeeded",
            DrStepOutcome::Failed => "failed",
        }
    }
    fn parse(s: &str) -> Result<Self, Fail> {
        match s {
            "started" => Ok(DrStepOutcome::Started),
            "succeeded" => Ok(DrStepOutcome::Succeeded),
            "failed" => Ok(DrStepOutcome::Failed),
            other => Err(Fail::Corrupt(format!("unknown step outcome {other:?}"))),
        }
    }
}

/// One run as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrRun {
    /// Its number (`keepup dr resume RUN`).
    pub id: i64,
    /// The plan's id.
    pub plan: String,
    /// What it does.
    pub kind: DrRunKind,
    /// When it started.
    pub started_at: Timestamp,
    /// When it completed or was aborted.
    pub ended_at: Option<Timestamp>,
    /// Where it is.
    pub state: DrRunState,
    /// Who started it.
    pub started_by: String,
    /// The last word on it (why it stopped, what to do next).
    pub message: String,
    /// Measured recovery time: start to the first all-Up verify.
    pub rto_ms: Option<i64>,
    /// Measured recovery point: the age of the restored data.
    pub rpo_ms: Option<i64>,
    /// The process holding the plan's lock for it, if it holds it.
    pub holder_pid: Option<u32>,
}

/// One step of a run as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrStep {
    /// Its position in the plan's list (from 0).
    pub index: usize,
    /// Its name.
    pub name: String,
    /// Its kind (`command`, `verify`, ...).
    pub kind: String,
    /// When its latest attempt started.
    pub started_at: Timestamp,
    /// When that attempt ended.
    pub ended_at: Option<Timestamp>,
    /// How it ended.
    pub outcome: DrStepOutcome,
    /// What it said (bounded, secrets already redacted by the engine).
    pub output: String,
    /// How many times it was started.
    pub attempts: u32,
}

/// The plan already has a run holding its lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrLockHeld {
    /// That run.
    pub run: i64,
    /// The process that took the lock.
    pub holder_pid: u32,
}

const RUN_SELECT: &str = "SELECT r.id, r.plan, r.kind, r.started_at, r.ended_at, r.state, r.started_by, r.message, r.rto_ms, r.rpo_ms, l.holder_pid
     FROM dr_run r LEFT JOIN dr_lock l ON l.run_id = r.id";

fn run_from_row(r: &Row<'_>) -> Result<DrRun, Fail> {
    let kind: String = r.get(2)?;
    let state: String = r.get(5)?;
    let pid: Option<i64> = r.get(10)?;
    Ok(DrRun {
        id: r.get(0)?,
        plan: r.get(1)?,
        kind: DrRunKind::parse(&kind)?,
        started_at: r.get(3)?,
        ended_at: r.get(4)?,
        state: DrRunState::parse(&state)?,
        started_by: r.get(6)?,
        message: r.get(7)?,
        rto_ms: r.get(8)?,
        rpo_ms: r.get(9)?,
        holder_pid: pid.and_then(|p| u32::try_from(p).ok()),
    })
}

/// `text` cut to at most [`MAX_STEP_OUTPUT`] bytes, keeping its end, on a
/// character boundary.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_STEP_OUTPUT {
        return text.to_owned();
    }
    const MARK: &str = "[...]\n";
    let mut from = text.len() - (MAX_STEP_OUTPUT - MARK.len());
    while !text.is_char_boundary(from) {
        from += 1;
    }
    format!("{MARK}{}", &text[from..])
}

impl Store {
    /// Creates a run of `plan` and takes the plan's lock for it, in one
    /// transaction; `Err(DrLockHeld)` when another run holds the lock.
    pub fn dr_begin(
        &self,
        plan: &str,
        kind: DrRunKind,
        at: Timestamp,
        by: &str,
        pid: u32,
    ) -> Result<Result<i64, DrLockHeld>, StoreError> {
        self.with_state("begin a recovery run", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let held = tx
                .query_row(
                    "SELECT run_id, holder_pid FROM dr_lock WHERE plan = ?1",
                    params![plan],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                )
                .optional()?;
            if let Some((run, pid)) = held {
                return Ok(Err(DrLockHeld {
                    run,
                    holder_pid: u32::try_from(pid).unwrap_or(0),
                }));
            }
            tx.execute(
                "INSERT INTO dr_run (plan, kind, started_at, state, started_by) VALUES (?1, ?2, ?3, 'running', ?4)",
                params![plan, kind.as_str(), at, by],
            )?;
            let run = tx.last_insert_rowid();
            // The primary key makes a second lock of the plan impossible
            // even if two processes got past the check at once.
            tx.execute(
                "INSERT INTO dr_lock (plan, run_id, holder_pid, taken_at) VALUES (?1, ?2, ?3, ?4)",
                params![plan, run, pid, at],
            )?;
            tx.commit()?;
            Ok(Ok(run))
        })
    }

    /// Takes over a run that failed or whose process died, for `pid`: the
    /// run is `running` again and its lock names `pid`. False when the run
    /// is unknown, over for good, or does not hold its plan's lock.
    pub fn dr_take_over(&self, run: i64, pid: u32, at: Timestamp) -> Result<bool, StoreError> {
        self.with_state("take over a recovery run", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE dr_lock SET holder_pid = ?2, taken_at = ?3 WHERE run_id = ?1",
                params![run, pid, at],
            )?;
            if n != 1 {
                return Ok(false);
            }
            tx.execute(
                "UPDATE dr_run SET state = 'running', message = '' WHERE id = ?1 AND state IN ('running', 'failed')",
                params![run],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    /// Journals that step `index` of `run` starts (again).
    pub fn dr_step_started(
        &self,
        run: i64,
        index: usize,
        name: &str,
        kind: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let idx = i64::try_from(index).unwrap_or(i64::MAX);
        self.with_state("journal a recovery step's start", |st| {
            st.conn
                .prepare_cached(
                    "INSERT INTO dr_step (run_id, idx, name, kind, started_at, outcome) VALUES (?1, ?2, ?3, ?4, ?5, 'started')
                     ON CONFLICT (run_id, idx) DO UPDATE SET name = excluded.name, kind = excluded.kind,
                        started_at = excluded.started_at, ended_at = NULL, outcome = 'started', attempts = attempts + 1",
                )?
                .execute(params![run, idx, name, kind, at])?;
            Ok(())
        })
    }

    /// Journals how step `index` of `run` ended; `output` is cut to
    /// [`MAX_STEP_OUTPUT`] bytes (the caller has redacted secrets).
    pub fn dr_step_ended(
        &self,
        run: i64,
        index: usize,
        at: Timestamp,
        outcome: DrStepOutcome,
        output: &str,
    ) -> Result<(), StoreError> {
        let idx = i64::try_from(index).unwrap_or(i64::MAX);
        let output = bounded(output);
        self.with_state("journal a recovery step's end", |st| {
            st.conn
                .prepare_cached(
                    "UPDATE dr_step SET ended_at = ?3, outcome = ?4, output = ?5 WHERE run_id = ?1 AND idx = ?2",
                )?
                .execute(params![run, idx, at, outcome.as_str(), output])?;
            Ok(())
        })
    }

    /// Records a run's measured figures (each left as it was when `None`).
    pub fn dr_figures(
        &self,
        run: i64,
        rto_ms: Option<i64>,
        rpo_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.with_state("record a recovery run's figures", |st| {
            st.conn
                .prepare_cached(
                    "UPDATE dr_run SET rto_ms = coalesce(?2, rto_ms), rpo_ms = coalesce(?3, rpo_ms) WHERE id = ?1",
                )?
                .execute(params![run, rto_ms, rpo_ms])?;
            Ok(())
        })
    }

    /// Ends a run: `Failed` keeps the plan's lock (the run waits for a
    /// resume or an abort), `Completed` and `Aborted` release it. False when
    /// the run is unknown or already over for good.
    pub fn dr_run_ended(
        &self,
        run: i64,
        at: Timestamp,
        state: DrRunState,
        message: &str,
    ) -> Result<bool, StoreError> {
        let over = state.is_final();
        self.end_run(run, over.then_some(at), state, message, over)
    }

    /// Ends a run `Failed` for good and releases its plan's lock: a drill
    /// that failed and was cleaned up is over (a new drill starts afresh),
    /// and must not keep the plan from a real activation. False when the
    /// run is unknown or already over.
    pub fn dr_run_failed_for_good(
        &self,
        run: i64,
        at: Timestamp,
        message: &str,
    ) -> Result<bool, StoreError> {
        self.end_run(run, Some(at), DrRunState::Failed, message, true)
    }

    /// Sets a running or failed run's state, end and message, and releases
    /// its lock when `release`, in one transaction.
    fn end_run(
        &self,
        run: i64,
        ended_at: Option<Timestamp>,
        state: DrRunState,
        message: &str,
        release: bool,
    ) -> Result<bool, StoreError> {
        self.with_state("end a recovery run", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE dr_run SET state = ?2, ended_at = ?3, message = ?4 WHERE id = ?1 AND state IN ('running', 'failed')",
                params![run, state.as_str(), ended_at, message],
            )?;
            if n == 1 && release {
                tx.execute("DELETE FROM dr_lock WHERE run_id = ?1", params![run])?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    /// One run.
    pub fn dr_run(&self, run: i64) -> Result<Option<DrRun>, StoreError> {
        self.with_state("read a recovery run", |st| {
            let mut stmt = st
                .conn
                .prepare_cached(&format!("{RUN_SELECT} WHERE r.id = ?1"))?;
            let mut rows = stmt.query(params![run])?;
            match rows.next()? {
                Some(r) => Ok(Some(run_from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    /// The newest runs, of one plan or all, newest first.
    pub fn dr_runs(&self, plan: Option<&str>, limit: usize) -> Result<Vec<DrRun>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_state("list recovery runs", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "{RUN_SELECT} WHERE ?1 IS NULL OR r.plan = ?1 ORDER BY r.id DESC LIMIT ?2"
            ))?;
            let mut rows = stmt.query(params![plan, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(run_from_row(r)?);
            }
            Ok(out)
        })
    }

    /// The runs of `plan` of `kind` that started in `[from, until)`, newest
    /// first, at most `limit` (the drills a report lists).
    pub fn dr_runs_between(
        &self,
        plan: &str,
        kind: DrRunKind,
        from: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<DrRun>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with_state("list recovery runs of a period", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "{RUN_SELECT} WHERE r.plan = ?1 AND r.kind = ?2 AND r.started_at >= ?3 AND r.started_at < ?4
                 ORDER BY r.started_at DESC, r.id DESC LIMIT ?5"
            ))?;
            let mut rows = stmt.query(params![plan, kind.as_str(), from, until, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(run_from_row(r)?);
            }
            Ok(out)
        })
    }

    /// The newest run of `plan` of `kind` that started before `until` and
    /// is in one of `states` (the last finished drill, the last successful
    /// one).
    pub fn dr_last_run(
        &self,
        plan: &str,
        kind: DrRunKind,
        states: &[DrRunState],
        until: Timestamp,
    ) -> Result<Option<DrRun>, StoreError> {
        let wanted: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        // Four states at most: as many slots, unused ones never match.
        let slot = |i: usize| wanted.get(i).copied().unwrap_or("");
        self.with_state("read the last recovery run of a kind", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "{RUN_SELECT} WHERE r.plan = ?1 AND r.kind = ?2 AND r.started_at < ?3
                   AND r.state IN (?4, ?5, ?6, ?7)
                 ORDER BY r.started_at DESC, r.id DESC LIMIT 1"
            ))?;
            let mut rows = stmt.query(params![
                plan,
                kind.as_str(),
                until,
                slot(0),
                slot(1),
                slot(2),
                slot(3)
            ])?;
            match rows.next()? {
                Some(r) => Ok(Some(run_from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    /// The channels the outbox holds a notification with this dedup key
    /// for, whatever its state (a recovery step run again queues none twice).
    pub fn notified_channels(&self, dedup_key: &str) -> Result<Vec<String>, StoreError> {
        self.with_state("list a notification's channels", |st| {
            let mut stmt = st
                .conn
                .prepare_cached("SELECT DISTINCT channel FROM outbox WHERE dedup_key = ?1")?;
            let mut rows = stmt.query(params![dedup_key])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(r.get(0)?);
            }
            Ok(out)
        })
    }

    /// The steps of a run journaled so far, in plan order.
    pub fn dr_steps(&self, run: i64) -> Result<Vec<DrStep>, StoreError> {
        self.with_state("read a recovery run's steps", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT idx, name, kind, started_at, ended_at, outcome, output, attempts FROM dr_step WHERE run_id = ?1 ORDER BY idx",
            )?;
            let mut rows = stmt.query(params![run])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let idx: i64 = r.get(0)?;
                let outcome: String = r.get(5)?;
                out.push(DrStep {
                    index: usize::try_from(idx)
                        .map_err(|_| Fail::Corrupt(format!("step index {idx}")))?,
                    name: r.get(1)?,
                    kind: r.get(2)?,
                    started_at: r.get(3)?,
                    ended_at: r.get(4)?,
                    outcome: DrStepOutcome::parse(&outcome)?,
                    output: r.get(6)?,
                    attempts: r.get(7)?,
                });
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_run_per_plan_until_it_completes_or_is_aborted() {
        let s = Store::open_in_memory().unwrap();
        let first = s
            .dr_begin("shop-dr", DrRunKind::Activate, 1_000, "ops", 11)
            .unwrap()
            .unwrap();
        let refused = s
            .dr_begin("shop-dr", DrRunKind::Return, 2_000, "ops", 12)
            .unwrap();
        assert_eq!(
            refused,
            Err(DrLockHeld {
                run: first,
                holder_pid: 11
            })
        );
        // Another plan is not held up.
        assert!(
            s.dr_begin("other", DrRunKind::Drill, 2_000, "ops", 12)
                .unwrap()
                .is_ok()
        );
        // A failed run keeps the lock; a take-over moves it.
        assert!(
            s.dr_run_ended(first, 3_000, DrRunState::Failed, "step 2 failed")
                .unwrap()
        );
        assert!(
            s.dr_begin("shop-dr", DrRunKind::Activate, 3_500, "ops", 13)
                .unwrap()
                .is_err()
        );
        assert!(s.dr_take_over(first, 14, 4_000).unwrap());
        let run = s.dr_run(first).unwrap().unwrap();
        assert_eq!((run.state, run.holder_pid), (DrRunState::Running, Some(14)));
        // Abort releases it.
        assert!(
            s.dr_run_ended(first, 5_000, DrRunState::Aborted, "aborted by ops")
                .unwrap()
        );
        let run = s.dr_run(first).unwrap().unwrap();
        assert_eq!(
            (run.state, run.ended_at, run.holder_pid),
            (DrRunState::Aborted, Some(5_000), None)
        );
        assert!(
            !s.dr_take_over(first, 15, 6_000).unwrap(),
            "an aborted run cannot be resumed"
        );
        assert!(
            !s.dr_run_ended(first, 6_000, DrRunState::Completed, "")
                .unwrap()
        );
        assert!(
            s.dr_begin("shop-dr", DrRunKind::Activate, 6_000, "ops", 15)
                .unwrap()
                .is_ok()
        );
    }

    #[test]
    fn a_step_is_journaled_before_and_after_and_its_output_is_bounded() {
        let s = Store::open_in_memory().unwrap();
        let run = s
            .dr_begin("shop-dr", DrRunKind::Activate, 1_000, "ops", 1)
            .unwrap()
            .unwrap();
        s.dr_step_started(run, 0, "start", "command", 1_100)
            .unwrap();
        let steps = s.dr_steps(run).unwrap();
        assert_eq!(
            (steps[0].outcome, steps[0].ended_at, steps[0].attempts),
            (DrStepOutcome::Started, None, 1)
        );
        let long = format!("{}é the end", "x".repeat(MAX_STEP_OUTPUT));
        s.dr_step_ended(run, 0, 1_200, DrStepOutcome::Failed, &long)
            .unwrap();
        s.dr_step_started(run, 0, "start", "command", 1_300)
            .unwrap();
        s.dr_step_ended(run, 0, 1_400, DrStepOutcome::Succeeded, &long)
            .unwrap();
        let steps = s.dr_steps(run).unwrap();
        assert_eq!(steps.len(), 1);
        let step = &steps[0];
        assert_eq!(
            (step.outcome, step.started_at, step.ended_at, step.attempts),
            (DrStepOutcome::Succeeded, 1_300, Some(1_400), 2)
        );
        assert!(
            step.output.len() <= MAX_STEP_OUTPUT,
            "{}",
            step.output.len()
        );
        assert!(step.output.ends_with("é the end") && step.output.starts_with("[...]"));
        s.dr_figures(run, Some(90_000), None).unwrap();
        s.dr_figures(run, None, Some(3_600_000)).unwrap();
        let r = s.dr_run(run).unwrap().unwrap();
        assert_eq!((r.rto_ms, r.rpo_ms), (Some(90_000), Some(3_600_000)));
        assert_eq!(s.dr_runs(Some("shop-dr"), 10).unwrap().len(), 1);
        assert!(s.dr_runs(Some("other"), 10).unwrap().is_empty());
    }

    #[test]
    fn drills_are_found_by_period_and_by_state() {
        let s = Store::open_in_memory().unwrap();
        let drill = |at: i64, state: DrRunState| {
            let run = s
                .dr_begin("shop-dr", DrRunKind::Drill, at, "cron", 1)
                .unwrap()
                .unwrap();
            s.dr_run_ended(run, at + 100, state, "").unwrap();
            if !state.is_final() {
                // A failed drill keeps the lock; the next one needs it.
                s.dr_run_ended(run, at + 200, DrRunState::Aborted, "")
                    .unwrap();
            }
            run
        };
        let ok = drill(1_000, DrRunState::Completed);
        let failed = drill(2_000, DrRunState::Failed);
        let later = drill(5_000, DrRunState::Completed);
        // Other plans and kinds are not drills of this plan.
        let activation = s
            .dr_begin("shop-dr", DrRunKind::Activate, 3_000, "ops", 1)
            .unwrap()
            .unwrap();
        s.dr_run_ended(activation, 3_100, DrRunState::Completed, "")
            .unwrap();
        let ids = |runs: Vec<DrRun>| runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s
                .dr_runs_between("shop-dr", DrRunKind::Drill, 0, 10_000, 10)
                .unwrap()),
            vec![later, failed, ok]
        );
        assert_eq!(
            ids(s
                .dr_runs_between("shop-dr", DrRunKind::Drill, 1_500, 5_000, 10)
                .unwrap()),
            vec![failed]
        );
        let done = [DrRunState::Completed];
        let last = |until| {
            s.dr_last_run("shop-dr", DrRunKind::Drill, &done, until)
                .unwrap()
                .map(|r| r.id)
        };
        assert_eq!(last(10_000), Some(later));
        assert_eq!(last(4_000), Some(ok));
        assert_eq!(last(1_000), None);
        let over = [DrRunState::Aborted, DrRunState::Failed];
        assert_eq!(
            s.dr_last_run("shop-dr", DrRunKind::Drill, &over, 10_000)
                .unwrap()
                .map(|r| r.id),
            Some(failed)
        );
    }
}

/// A `confirm` question waiting for (or given) an answer from the web.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrConfirmation {
    /// The run.
    pub run: i64,
    /// The step's index in the run.
    pub step: usize,
    /// The question.
    pub prompt: String,
    /// When it was asked.
    pub asked_at: Timestamp,
    /// When it was answered.
    pub answered_at: Option<Timestamp>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// The answer: `Some(true)` go, `Some(false)` stop, `None` not yet.
    pub answer: Option<bool>,
}

// `dr_confirm`: the question of a `confirm` step that had no terminal to
// ask on, one row per run and step. The engine writes it and polls it; the
// web answers it once (a later answer is refused, so two people clicking
// cannot flip a decision the run already acted on).
impl Store {
    /// Records that step `index` of `run` asks `prompt`. Asking again (a
    /// resumed step) keeps a yes, so a run that crashed after it does not
    /// ask twice, and asks anew after a no (the step's journal and the
    /// audit log keep who said no).
    pub fn dr_confirm_ask(
        &self,
        run: i64,
        index: usize,
        prompt: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let idx = i64::try_from(index).unwrap_or(i64::MAX);
        self.with_state("record a recovery confirmation question", |st| {
            st.conn
                .prepare_cached(
                    "INSERT INTO dr_confirm (run_id, idx, prompt, asked_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (run_id, idx) DO UPDATE SET prompt = excluded.prompt,
                        asked_at = CASE WHEN answer = 0 THEN excluded.asked_at ELSE asked_at END,
                        answered_at = CASE WHEN answer = 0 THEN NULL ELSE answered_at END,
                        answered_by = CASE WHEN answer = 0 THEN NULL ELSE answered_by END,
                        answer = CASE WHEN answer = 0 THEN NULL ELSE answer END",
                )?
                .execute(params![run, idx, prompt, at])?;
            Ok(())
        })
    }

    /// Answers the question of step `index` of `run`; false when there is
    /// no such question or it was answered already.
    pub fn dr_confirm_answer(
        &self,
        run: i64,
        index: usize,
        yes: bool,
        by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        let idx = i64::try_from(index).unwrap_or(i64::MAX);
        self.with_state("answer a recovery confirmation question", |st| {
            let changed = st
                .conn
                .prepare_cached(
                    "UPDATE dr_confirm SET answer = ?3, answered_by = ?4, answered_at = ?5
                     WHERE run_id = ?1 AND idx = ?2 AND answer IS NULL",
                )?
                .execute(params![run, idx, yes, by, at])?;
            Ok(changed == 1)
        })
    }

    /// The questions of `run`, or those still unanswered of every run when
    /// `run` is `None`; oldest first.
    pub fn dr_confirmations(&self, run: Option<i64>) -> Result<Vec<DrConfirmation>, StoreError> {
        self.with_state("read recovery confirmation questions", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT run_id, idx, prompt, asked_at, answered_at, answered_by, answer FROM dr_confirm
                 WHERE (?1 IS NULL AND answer IS NULL) OR run_id = ?1 ORDER BY asked_at, run_id, idx",
            )?;
            let mut rows = stmt.query(params![run])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let idx: i64 = r.get(1)?;
                out.push(DrConfirmation {
                    run: r.get(0)?,
                    step: usize::try_from(idx)
                        .map_err(|_| Fail::Corrupt(format!("dr_confirm: step index {idx}")))?,
                    prompt: r.get(2)?,
                    asked_at: r.get(3)?,
                    answered_at: r.get(4)?,
                    answered_by: r.get(5)?,
                    answer: r.get(6)?,
                });
            }
            Ok(out)
        })
    }
}
