//! Runs of `[[action]]`s (version 24): one row per run, whatever became of
//! it (ran, failed, skipped by a guard rail, dry run, waiting for a
//! confirmation). The guard rails' counts are read from these rows, so a
//! restart keeps cooldowns and hourly and daily limits.
//!
//! `action_run`: `id`, `action` (its name), `cause` (`check`, `incident`,
//! `measure`, `schedule`, `manual`) and `cause_detail` (which check or
//! incident, the measured value, who), `started_at`, `finished_at`,
//! `outcome` (see [`RunOutcome`]) and `reason` (why skipped or failed),
//! `exit_code`, `output` (at most [`MAX_RUN_OUTPUT`] bytes, the end of it,
//! secrets scrubbed by the caller), `idempotency_key` (unique: a key given
//! by the caller, e.g. a schedule's occurrence, runs once; otherwise
//! `keepup-action-<id>`), `attempts` (webhook tries), and a confirmation
//! (`answer`, `answered_by`, `answered_at`) answered once, as a recovery
//! run's `dr_confirm` question is: a later answer is refused, so two
//! people cannot flip a decision the engine already acted on.
//!
//! `incident` (version 25) names the incident a run was made for (a
//! remediation of its check's confirmed failure, an incident still open),
//! indexed for the incident's page.
//!
//! `decision` (version 26) keeps what decided a run, as JSON the action
//! engine writes (the measure, its threshold and window and the values
//! seen; a scaling level's step from → to): `keepup actions` shows it.
//!
//! A run the command line files while a daemon holds the store is
//! `queued`: the daemon takes it ([`Store::action_run_start`]) and runs
//! it. The guard rails' decision and the insert are one `IMMEDIATE`
//! transaction ([`Store::action_run_decide`]), so the command line and the
//! daemon cannot both pass a cooldown.
//!
//! The rows are deleted with the audit log's retention (`[store]
//! audit_retention`), except runs still running, queued or waiting.

use keepup_model::Timestamp;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

use crate::error::{Fail, StoreError};
use crate::store::Store;

/// At most this many bytes of a run's output are kept (its end).
pub const MAX_RUN_OUTPUT: usize = 4096;

/// At most this many runs are read for the incidents of one page or one
/// notification (guard rails keep the real number far lower).
pub const MAX_INCIDENT_RUNS: usize = 100;

/// What became of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Started, not finished (or keepup died meanwhile).
    Running,
    /// Done: exit 0, a 2xx answer.
    Ok,
    /// Done and failed: another exit code, an error answer, not started.
    Failed,
    /// Killed at its timeout.
    TimedOut,
    /// Not run: a guard rail (cooldown, limit, maintenance) or a no.
    Skipped,
    /// Not run: `dry_run`, it only says what it would do.
    DryRun,
    /// Not run yet: waiting for `keepup actions confirm`.
    AwaitingConfirmation,
    /// Not run yet: filed by the command line for the daemon to run.
    Queued,
}

impl RunOutcome {
    /// The stored (and shown) word.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::TimedOut => "timed_out",
            RunOutcome::Skipped => "skipped",
            RunOutcome::DryRun => "dry_run",
            RunOutcome::AwaitingConfirmation => "awaiting_confirmation",
            RunOutcome::Queued => "queued",
        }
    }

    /// The outcome stored as `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunOutcome::Running,
            "ok" => RunOutcome::Ok,
            "failed" => RunOutcome::Failed,
            "timed_out" => RunOutcome::TimedOut,
            "skipped" => RunOutcome::Skipped,
            "dry_run" => RunOutcome::DryRun,
            "awaiting_confirmation" => RunOutcome::AwaitingConfirmation,
            "queued" => RunOutcome::Queued,
            _ => return None,
        })
    }

    /// Whether the action did (or is doing) something: what cooldowns and
    /// limits count.
    pub fn acted(self) -> bool {
        matches!(
            self,
            RunOutcome::Running | RunOutcome::Ok | RunOutcome::Failed | RunOutcome::TimedOut
        )
    }
}

/// A run to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewActionRun {
    /// The action's name.
    pub action: String,
    /// `check`, `incident`, `measure`, `schedule`, `manual`.
    pub cause: String,
    /// Which check or incident, the value, who asked.
    pub cause_detail: String,
    /// When.
    pub started_at: Timestamp,
    /// How it starts: running, or already decided (skipped, dry run,
    /// awaiting confirmation).
    pub outcome: RunOutcome,
    /// Why, for a run decided at once.
    pub reason: String,
    /// A key that makes the run happen once (a schedule's occurrence);
    /// `None`: `keepup-action-<id>`.
    pub idempotency_key: Option<String>,
    /// The incident it was run for (a remediation, an incident still
    /// open): shown on the incident's timeline (version 25).
    pub incident: Option<i64>,
    /// What decided it, as JSON (version 26): see [`ActionRun::decision`].
    pub decision: Option<serde_json::Value>,
}

/// One recorded run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ActionRun {
    /// Its number.
    pub id: i64,
    /// The action's name.
    pub action: String,
    /// `check`, `incident`, `measure`, `schedule`, `manual`.
    pub cause: String,
    /// Which check or incident, the value, who asked.
    pub cause_detail: String,
    /// When it started (or was decided).
    pub started_at: Timestamp,
    /// When it finished.
    pub finished_at: Option<Timestamp>,
    /// What became of it.
    pub outcome: RunOutcome,
    /// Why skipped or failed, in words.
    pub reason: String,
    /// The command's exit code, the webhook's last HTTP status.
    pub exit_code: Option<i64>,
    /// The end of its output, at most [`MAX_RUN_OUTPUT`] bytes.
    pub output: String,
    /// Sent as `Idempotency-Key` on every webhook attempt.
    pub idempotency_key: String,
    /// Webhook attempts (1 for a command).
    pub attempts: u32,
    /// The confirmation: `Some(true)` go, `Some(false)` no, `None` not
    /// answered (or none asked).
    pub answer: Option<bool>,
    /// Who answered.
    pub answered_by: Option<String>,
    /// When.
    pub answered_at: Option<Timestamp>,
    /// The incident it was run for.
    pub incident: Option<i64>,
    /// What decided it (the action engine's record: the measure, its
    /// threshold, window and the values seen; a level's step from → to),
    /// when something more than its cause did.
    pub decision: Option<serde_json::Value>,
}

/// A run as a site's SLA report lists it (no output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteActionRun {
    /// Its number.
    pub id: i64,
    /// The action's name.
    pub action: String,
    /// `check`, `incident`, `measure`, `schedule`, `manual`.
    pub cause: String,
    /// The cause in words.
    pub cause_detail: String,
    /// When it started (or was decided).
    pub started_at: Timestamp,
    /// Its outcome so far.
    pub outcome: RunOutcome,
    /// Why it was skipped or failed.
    pub reason: String,
    /// The incident it was run for.
    pub incident: Option<i64>,
    /// It concerns the site through its incident (else through its
    /// action).
    pub by_incident: bool,
}

/// How a run ended, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunEnd {
    /// Its outcome.
    pub outcome: RunOutcome,
    /// Why, in words (empty when it went well).
    pub reason: String,
    /// Exit code or HTTP status.
    pub exit_code: Option<i64>,
    /// Its output; only the last [`MAX_RUN_OUTPUT`] bytes are kept.
    pub output: String,
    /// Attempts made.
    pub attempts: u32,
    /// When.
    pub finished_at: Timestamp,
}

/// What the guard rails need to know of an action's past runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ActionUsage {
    /// When it last acted.
    pub last_acted: Option<Timestamp>,
    /// Runs that acted in the hour before now.
    pub last_hour: u32,
    /// Runs that acted in the day before now.
    pub last_day: u32,
}

const COLUMNS: &str = "id, action, cause, cause_detail, started_at, finished_at, outcome, reason,
    exit_code, output, idempotency_key, attempts, answer, answered_by, answered_at, incident, decision";

/// Runs that acted, or wait to: a run waiting for its confirmation counts,
/// so that a check failing again while one waits files no second question,
/// and so does one queued for the daemon.
const ACTED: &str = "('running', 'ok', 'failed', 'timed_out', 'awaiting_confirmation', 'queued')";

/// Runs not over: running, queued for the daemon, waiting for a yes.
const OPEN: &str = "('running', 'queued', 'awaiting_confirmation')";

fn from_row(r: &rusqlite::Row<'_>) -> Result<ActionRun, Fail> {
    let outcome: String = r.get(6)?;
    Ok(ActionRun {
        id: r.get(0)?,
        action: r.get(1)?,
        cause: r.get(2)?,
        cause_detail: r.get(3)?,
        started_at: r.get(4)?,
        finished_at: r.get(5)?,
        outcome: RunOutcome::parse(&outcome)
            .ok_or_else(|| Fail::Corrupt(format!("action_run: outcome {outcome:?}")))?,
        reason: r.get(7)?,
        exit_code: r.get(8)?,
        output: r.get(9)?,
        idempotency_key: r.get(10)?,
        attempts: u32::try_from(r.get::<_, i64>(11)?).unwrap_or(0),
        answer: r.get(12)?,
        answered_by: r.get(13)?,
        answered_at: r.get(14)?,
        incident: r.get(15)?,
        decision: r
            .get::<_, Option<String>>(16)?
            .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
    })
}

/// The last `MAX_RUN_OUTPUT` bytes of `text`, cut at a character boundary.
pub fn output_tail(text: &str) -> &str {
    if text.len() <= MAX_RUN_OUTPUT {
        return text;
    }
    let mut start = text.len() - MAX_RUN_OUTPUT;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// A run [`Store::action_run_decide`] recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// Its number.
    pub id: i64,
    /// The outcome the decision gave it.
    pub outcome: RunOutcome,
    /// Why.
    pub reason: String,
}

impl Store {
    /// Records a run whose outcome and reason `decide` gives from the
    /// action's usage, read in the same `IMMEDIATE` transaction as the
    /// insert: two processes (the daemon, `keepup actions run`) deciding
    /// at once see each other's runs, so only one passes a cooldown.
    /// `None` when `run.idempotency_key` was recorded already (`decide`
    /// is not called) or `decide` says to record nothing; `run.outcome`
    /// and `run.reason` are replaced, and `run.decision` too when `decide`
    /// gives one.
    pub fn action_run_decide(
        &self,
        run: &NewActionRun,
        decide: impl FnOnce(&ActionUsage) -> Option<(RunOutcome, String, Option<serde_json::Value>)>,
    ) -> Result<Option<Decided>, StoreError> {
        self.action_run_decide_keyed(run, None, decide)
    }

    /// [`Store::action_run_decide`] where a skipped run is recorded under
    /// `skip_key` (when given) instead of the run's key, which it leaves
    /// free for a later try; `None` when `skip_key` was recorded already.
    pub fn action_run_decide_keyed(
        &self,
        run: &NewActionRun,
        skip_key: Option<&str>,
        decide: impl FnOnce(&ActionUsage) -> Option<(RunOutcome, String, Option<serde_json::Value>)>,
    ) -> Result<Option<Decided>, StoreError> {
        self.with_state("decide and record an action run", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(key) = &run.idempotency_key {
                let seen = tx
                    .prepare_cached("SELECT 1 FROM action_run WHERE idempotency_key = ?1")?
                    .exists(params![key])?;
                if seen {
                    return Ok(None);
                }
            }
            let Some((outcome, reason, decision)) =
                decide(&usage(&tx, &run.action, run.started_at)?)
            else {
                return Ok(None);
            };
            let idempotency_key = match skip_key {
                Some(skip) if outcome == RunOutcome::Skipped => Some(skip.to_owned()),
                _ => run.idempotency_key.clone(),
            };
            let decided = NewActionRun {
                outcome,
                idempotency_key,
                reason: reason.clone(),
                decision: decision.or_else(|| run.decision.clone()),
                ..run.clone()
            };
            let Some(id) = insert(&tx, &decided)? else {
                return Ok(None);
            };
            tx.commit()?;
            Ok(Some(Decided {
                id,
                outcome,
                reason,
            }))
        })
    }

    /// Records a run; `None` when its `idempotency_key` was recorded
    /// already (that run happened, or is happening). Its number otherwise.
    pub fn action_run_insert(&self, run: &NewActionRun) -> Result<Option<i64>, StoreError> {
        self.with_state("record an action run", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id = insert(&tx, run)?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// Records how run `id` ended; its output is cut to its last
    /// [`MAX_RUN_OUTPUT`] bytes.
    pub fn action_run_finish(&self, id: i64, end: &RunEnd) -> Result<(), StoreError> {
        self.with_state("record the end of an action run", |st| {
            st.conn
                .prepare_cached(
                    "UPDATE action_run SET outcome = ?2, reason = ?3, exit_code = ?4, output = ?5,
                        attempts = ?6, finished_at = ?7 WHERE id = ?1",
                )?
                .execute(params![
                    id,
                    end.outcome.as_str(),
                    end.reason,
                    end.exit_code,
                    output_tail(&end.output),
                    end.attempts,
                    end.finished_at
                ])?;
            Ok(())
        })
    }

    /// Marks run `id`, decided earlier (confirmed, or queued for the
    /// daemon), as running from `at`; false when another engine took it
    /// or it is not waiting any more.
    /// `decision`, when given, replaces what decided it (a scaling step
    /// planned again from the level as it is at the start).
    pub fn action_run_start(
        &self,
        id: i64,
        at: Timestamp,
        decision: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        let decision = decision.map(serde_json::Value::to_string);
        self.with_state("start an action run", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "UPDATE action_run SET outcome = 'running', started_at = ?2,
                        decision = coalesce(?3, decision)
                     WHERE id = ?1 AND (outcome = 'queued'
                        OR (outcome = 'awaiting_confirmation' AND answer = 1))",
                )?
                .execute(params![id, at, decision])?;
            Ok(n == 1)
        })
    }

    /// Records how run `id` ended if its outcome is still `from` (a run
    /// left running by a stopped keepup, a request the daemon never took,
    /// a question never answered); false when something else ended or
    /// took it meanwhile.
    pub fn action_run_end_if(
        &self,
        id: i64,
        from: RunOutcome,
        end: &RunEnd,
    ) -> Result<bool, StoreError> {
        self.with_state("end an action run", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "UPDATE action_run SET outcome = ?3, reason = ?4, exit_code = ?5, output = ?6,
                        attempts = ?7, finished_at = ?8 WHERE id = ?1 AND outcome = ?2",
                )?
                .execute(params![
                    id,
                    from.as_str(),
                    end.outcome.as_str(),
                    end.reason,
                    end.exit_code,
                    output_tail(&end.output),
                    end.attempts,
                    end.finished_at
                ])?;
            Ok(n == 1)
        })
    }

    /// Whether a run was recorded under idempotency key `key`.
    pub fn action_run_key_taken(&self, key: &str) -> Result<bool, StoreError> {
        self.with_reader("look for an action run's key", |conn| {
            Ok(conn
                .prepare_cached("SELECT 1 FROM action_run WHERE idempotency_key = ?1")?
                .query_row(params![key], |_| Ok(()))
                .optional()?
                .is_some())
        })
    }

    /// One run.
    pub fn action_run(&self, id: i64) -> Result<Option<ActionRun>, StoreError> {
        self.with_state("read an action run", |st| {
            let sql = format!("SELECT {COLUMNS} FROM action_run WHERE id = ?1");
            let mut stmt = st.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![id])?;
            match rows.next()? {
                Some(r) => Ok(Some(from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    /// Runs started at or after `since` (all actions, or one), newest
    /// first, at most `limit`.
    pub fn action_runs(
        &self,
        since: Timestamp,
        action: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ActionRun>, StoreError> {
        self.with_state("read action runs", |st| {
            let sql = format!(
                "SELECT {COLUMNS} FROM action_run WHERE started_at >= ?1 AND (?2 IS NULL OR action = ?2)
                 ORDER BY started_at DESC, id DESC LIMIT ?3"
            );
            let mut stmt = st.conn.prepare_cached(&sql)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut rows = stmt.query(params![since, action, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// The runs started in `[from, until)` that concern `site`, oldest
    /// first, at most `limit`, without their output: what a period's SLA
    /// report lists. A run made for an incident concerns its check's
    /// site; any other (or one whose incident is gone) concerns the sites
    /// of its action, so the caller names the actions that concern
    /// `site` (`actions`). The site is chosen here, before the limit, so
    /// that one site's many runs do not hide another's.
    pub fn site_action_runs(
        &self,
        site: &str,
        actions: &[String],
        from: Timestamp,
        until: Timestamp,
        limit: usize,
    ) -> Result<Vec<SiteActionRun>, StoreError> {
        self.with_reader("read the action runs of a site's period", |conn| {
            // `?5` onwards: the names, one placeholder each (portable,
            // unlike binding an array); `1 = 0` when there are none.
            let names = if actions.is_empty() {
                "1 = 0".to_owned()
            } else {
                let marks: Vec<String> = (0..actions.len()).map(|n| format!("?{}", n + 5)).collect();
                format!("r.action IN ({})", marks.join(", "))
            };
            let sql = format!(
                "SELECT r.id, r.action, r.cause, r.cause_detail, r.started_at, r.outcome, r.reason, r.incident,
                        CASE WHEN i.id IS NULL THEN 0 ELSE 1 END
                 FROM action_run r
                 LEFT JOIN incident i ON i.id = r.incident
                 LEFT JOIN checks c ON c.id = i.check_id
                 WHERE r.started_at >= ?1 AND r.started_at < ?2
                   AND (c.site = ?3 OR (i.id IS NULL AND {names}))
                 ORDER BY r.started_at, r.id LIMIT ?4"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let mut values: Vec<&dyn rusqlite::ToSql> = vec![&from, &until, &site, &limit];
            values.extend(actions.iter().map(|a| a as &dyn rusqlite::ToSql));
            let mut rows = stmt.query(values.as_slice())?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let outcome: String = r.get(5)?;
                out.push(SiteActionRun {
                    id: r.get(0)?,
                    action: r.get(1)?,
                    cause: r.get(2)?,
                    cause_detail: r.get(3)?,
                    started_at: r.get(4)?,
                    outcome: RunOutcome::parse(&outcome)
                        .ok_or_else(|| Fail::Corrupt(format!("action_run: outcome {outcome:?}")))?,
                    reason: r.get(6)?,
                    incident: r.get(7)?,
                    by_incident: r.get::<_, i64>(8)? != 0,
                });
            }
            Ok(out)
        })
    }

    /// The runs made for these incidents (remediations, incidents still
    /// open), oldest first, at most [`MAX_INCIDENT_RUNS`] per call: what
    /// an incident's page and its notifications tell.
    pub fn action_runs_of_incidents(&self, ids: &[i64]) -> Result<Vec<ActionRun>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.with_state("read the action runs of incidents", |st| {
            let mut out = Vec::new();
            let sql = format!(
                "SELECT {COLUMNS} FROM action_run WHERE incident = ?1 ORDER BY started_at, id LIMIT ?2"
            );
            let mut stmt = st.conn.prepare_cached(&sql)?;
            for id in ids {
                let room = MAX_INCIDENT_RUNS.saturating_sub(out.len());
                if room == 0 {
                    break;
                }
                let mut rows = stmt.query(params![id, room as i64])?;
                while let Some(r) = rows.next()? {
                    out.push(from_row(r)?);
                }
            }
            out.sort_by_key(|r: &ActionRun| (r.started_at, r.id));
            Ok(out)
        })
    }

    /// Runs not over, oldest first: running (here, elsewhere, or left so
    /// by a keepup that stopped), queued for the daemon, waiting for a
    /// confirmation (answered yes, to start, or not answered yet).
    pub fn action_runs_open(&self) -> Result<Vec<ActionRun>, StoreError> {
        self.with_state("read the action runs not over", |st| {
            let sql = format!(
                "SELECT {COLUMNS} FROM action_run WHERE outcome IN {OPEN} ORDER BY started_at, id"
            );
            let mut stmt = st.conn.prepare_cached(&sql)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// Runs to start now, oldest first: queued for the daemon, or
    /// confirmed, decided at or after `since` (the time index keeps this
    /// cheap enough to ask every second).
    pub fn action_runs_to_start(&self, since: Timestamp) -> Result<Vec<ActionRun>, StoreError> {
        self.with_reader("read the action runs to start", |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM action_run WHERE started_at >= ?1
                   AND (outcome = 'queued' OR (outcome = 'awaiting_confirmation' AND answer = 1))
                 ORDER BY started_at, id LIMIT 64"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![since])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }

    /// The guard rails' view of `action` at `now`: when it last acted,
    /// and how often in the last hour and day.
    pub fn action_usage(&self, action: &str, now: Timestamp) -> Result<ActionUsage, StoreError> {
        self.with_state("read action usage", |st| usage(&st.conn, action, now))
    }

    /// Answers the confirmation of run `id`; false when it is not waiting
    /// for one or was answered already. A no also ends the run (skipped).
    pub fn action_run_answer(
        &self,
        id: i64,
        yes: bool,
        by: &str,
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        self.with_state("answer an action run's confirmation", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "UPDATE action_run SET answer = ?2, answered_by = ?3, answered_at = ?4,
                        outcome = CASE WHEN ?2 THEN outcome ELSE 'skipped' END,
                        reason = CASE WHEN ?2 THEN reason ELSE 'declined by ' || ?3 END,
                        finished_at = CASE WHEN ?2 THEN finished_at ELSE ?4 END
                     WHERE id = ?1 AND outcome = 'awaiting_confirmation' AND answer IS NULL",
                )?
                .execute(params![id, yes, by, at])?;
            Ok(n == 1)
        })
    }
}

/// Inserts `run` (its key made `keepup-action-<id>` when it has none);
/// `None` when its key was recorded already.
fn insert(tx: &rusqlite::Transaction<'_>, run: &NewActionRun) -> Result<Option<i64>, Fail> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO action_run (action, cause, cause_detail, started_at, outcome, reason, idempotency_key, finished_at, incident, decision)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, CASE WHEN ?5 IN ('skipped', 'dry_run') THEN ?4 END, ?8, ?9)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )?
        .execute(params![
            run.action,
            run.cause,
            run.cause_detail,
            run.started_at,
            run.outcome.as_str(),
            run.reason,
            run.idempotency_key,
            run.incident,
            run.decision.as_ref().map(serde_json::Value::to_string)
        ])?;
    if inserted == 0 {
        return Ok(None);
    }
    let id = tx.last_insert_rowid();
    tx.prepare_cached(
        "UPDATE action_run SET idempotency_key = 'keepup-action-' || id
         WHERE id = ?1 AND idempotency_key IS NULL",
    )?
    .execute(params![id])?;
    Ok(Some(id))
}

/// The guard rails' view of `action` at `now` (see [`Store::action_usage`]).
fn usage(conn: &rusqlite::Connection, action: &str, now: Timestamp) -> Result<ActionUsage, Fail> {
    let sql = format!(
        "SELECT max(started_at),
                coalesce(sum(started_at > ?2 - 3600000), 0),
                count(*)
         FROM action_run WHERE action = ?1 AND outcome IN {ACTED} AND started_at > ?2 - 86400000"
    );
    let (last, hour, day): (Option<i64>, i64, i64) = conn
        .prepare_cached(&sql)?
        .query_row(params![action, now], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    // A cooldown may be longer than a day.
    let last = match last {
        Some(l) => Some(l),
        None => conn
            .prepare_cached(&format!(
                "SELECT max(started_at) FROM action_run WHERE action = ?1 AND outcome IN {ACTED}"
            ))?
            .query_row(params![action], |r| r.get(0))
            .optional()?
            .flatten(),
    };
    Ok(ActionUsage {
        last_acted: last,
        last_hour: u32::try_from(hour).unwrap_or(u32::MAX),
        last_day: u32::try_from(day).unwrap_or(u32::MAX),
    })
}
