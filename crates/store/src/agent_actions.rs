//! Actions requested of agents (version 23): the rendezvous between whoever
//! asks an agent host to run one of the actions it was started with (the
//! action engine, for an `[[action]]` with `agent = "web1"`) and the
//! transport that carries the request to the agent and its outcome back
//! (push mode: the web's `POST /agent/actions`; pull mode: the monitor's
//! pull loop, `POST /action` on the agent's listener). In the store, so a
//! request survives a restart of the central and, with one database for
//! several instances, is delivered by whichever instance the agent talks to.
//!
//! # The API
//!
//! The asking side:
//! * [`Store::request_agent_action`] files a [`NewAgentAction`] (validated
//!   by [`NewAgentAction::new`]); its id is the idempotency key: filing an
//!   id again changes nothing and returns the request as it stands.
//! * [`Store::agent_action`] reads a request's [`AgentAction`]: its
//!   [`AgentActionState`], with the [`ActionOutcome`] once done.
//!
//! The transport:
//! * [`Store::pending_agent_actions`] lists what to send an agent now
//!   (marking each fetched: push mode, where the answer carrying them is
//!   the agent's taking them), oldest first, at most
//!   [`MAX_ACTIONS_PER_EXCHANGE`], each with its `not_after` (its fetch
//!   plus its pickup window: the last moment its run may start).
//! * Pull mode: [`Store::agent_actions_to_send`] lists the same without
//!   marking; [`Store::agent_took_actions`] marks them fetched once the
//!   agent answered and records its outcomes, so a request an agent never
//!   took expires rather than being lost.
//! * [`Store::record_agent_action_outcomes`] takes the outcomes an agent
//!   answered (only for its own requests; the first outcome of an id
//!   stays).
//! * [`Store::agent_actions_pending`] says whether requests wait for an
//!   agent (push mode: the answer to its report says so).
//!
//! # The life of a request
//!
//! `waiting` (filed) → `fetched` (sent to the agent) → `done` (its outcome
//! is in). A request still `waiting` at `requested_at + pickup_ms` is
//! `expired`: the agent never took it (silent, or not running `keepup
//! agent` of a version with actions) and it will never be sent. A fetched
//! request is sent again at each exchange until its outcome is in (the
//! agent runs an id once and answers its outcome again: a lost answer
//! costs nothing); one with no outcome by `fetched_at + timeout_ms +
//! pickup_ms` is `lost` (the agent took it and never answered), but a
//! late outcome is still recorded. Both are decided when a request is read
//! or listed, so no timer is needed.
//!
//! `agent_action`: `WITHOUT ROWID`, primary key `id`; `agent`, `action`,
//! `timeout_ms`, `requested_at`, `pickup_ms`, `fetched_at`, `state` (the
//! words above), `ended_at` (done, expired or lost), `outcome` (JSON of
//! [`ActionOutcome`], bounded by [`ActionOutcome::fit`]). Ended requests
//! are deleted with delivered notifications, by compaction.

use std::time::Duration;

use keepup_model::Timestamp;
use keepup_model::host::{
    ActionOutcome, ActionRequest, MAX_ACTION_ID_BYTES, MAX_ACTIONS_PER_EXCHANGE, valid_action_id,
};
use rusqlite::{Transaction, TransactionBehavior, params};

use crate::error::{Fail, StoreError};
use crate::store::Store;

/// Names (agents, actions) are at most this long.
pub const MAX_AGENT_ACTION_NAME: usize = 64;

/// Why a request cannot be filed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidAgentAction {
    /// The id is not 1 to 128 ASCII letters, digits, `.`, `_`, `:`, `-`.
    #[error("id {0:?}: 1 to {MAX_ACTION_ID_BYTES} ASCII letters, digits, '.', '_', ':' and '-'")]
    Id(String),
    /// The agent or action name is empty or too long.
    #[error("{0}: 1 to {MAX_AGENT_ACTION_NAME} bytes")]
    Name(&'static str),
    /// A zero timeout or pickup window.
    #[error("{0} must be more than zero")]
    Zero(&'static str),
}

/// A request to file, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAgentAction {
    id: String,
    agent: String,
    action: String,
    timeout_ms: u64,
    pickup_ms: u64,
}

impl NewAgentAction {
    /// Agent `agent` is to run its action `action` (its `--action NAME`),
    /// at most `timeout` long (the agent's `--action-timeout` caps it), as
    /// request `id` (the idempotency key: a retry files the same id). It
    /// expires unless the agent takes it within `pickup_within`; that is
    /// also how long its outcome may take after the timeout.
    pub fn new(
        id: &str,
        agent: &str,
        action: &str,
        timeout: Duration,
        pickup_within: Duration,
    ) -> Result<Self, InvalidAgentAction> {
        if !valid_action_id(id) {
            return Err(InvalidAgentAction::Id(id.to_owned()));
        }
        for (what, name) in [("agent", agent), ("action", action)] {
            if name.is_empty() || name.len() > MAX_AGENT_ACTION_NAME {
                return Err(InvalidAgentAction::Name(what));
            }
        }
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let (timeout_ms, pickup_ms) = (ms(timeout), ms(pickup_within));
        if timeout_ms == 0 {
            return Err(InvalidAgentAction::Zero("timeout"));
        }
        if pickup_ms == 0 {
            return Err(InvalidAgentAction::Zero("pickup_within"));
        }
        Ok(Self {
            id: id.to_owned(),
            agent: agent.to_owned(),
            action: action.to_owned(),
            timeout_ms,
            pickup_ms,
        })
    }
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentActionState {
    /// Filed, not yet sent to the agent.
    Waiting,
    /// Sent to the agent (at `fetched_at`), no outcome yet.
    Fetched,
    /// The agent's outcome (it may say refused, timed out, failed).
    Done(ActionOutcome),
    /// Not taken by the agent within its pickup window: never sent.
    Expired,
    /// Taken, but no outcome within its timeout and pickup window.
    Lost,
}

impl AgentActionState {
    fn word(&self) -> &'static str {
        match self {
            AgentActionState::Waiting => "waiting",
            AgentActionState::Fetched => "fetched",
            AgentActionState::Done(_) => "done",
            AgentActionState::Expired => "expired",
            AgentActionState::Lost => "lost",
        }
    }
}

/// A request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAction {
    /// The idempotency key.
    pub id: String,
    /// The agent that is to run it.
    pub agent: String,
    /// The action's name on that agent.
    pub action: String,
    /// How long it may run.
    pub timeout_ms: u64,
    /// When it was filed.
    pub requested_at: Timestamp,
    /// How long the agent has to take it (and, after the timeout, to
    /// answer).
    pub pickup_ms: u64,
    /// When it was first sent to the agent.
    pub fetched_at: Option<Timestamp>,
    /// When it ended (done, expired, lost), by the central's clock.
    pub ended_at: Option<Timestamp>,
    /// Where it stands.
    pub state: AgentActionState,
}

const COLUMNS: &str =
    "id, agent, action, timeout_ms, requested_at, pickup_ms, fetched_at, ended_at, state, outcome";

fn row(r: &rusqlite::Row<'_>) -> Result<AgentAction, Fail> {
    let state: String = r.get(8)?;
    let outcome: Option<String> = r.get(9)?;
    let state = match (state.as_str(), outcome) {
        ("waiting", _) => AgentActionState::Waiting,
        ("fetched", _) => AgentActionState::Fetched,
        ("done", Some(json)) => AgentActionState::Done(serde_json::from_str(&json)?),
        ("expired", _) => AgentActionState::Expired,
        ("lost", _) => AgentActionState::Lost,
        (other, _) => {
            return Err(Fail::Corrupt(format!(
                "agent action state {other:?} (or done without an outcome)"
            )));
        }
    };
    Ok(AgentAction {
        id: r.get(0)?,
        agent: r.get(1)?,
        action: r.get(2)?,
        timeout_ms: r.get(3)?,
        requested_at: r.get(4)?,
        pickup_ms: r.get(5)?,
        fetched_at: r.get(6)?,
        ended_at: r.get(7)?,
        state,
    })
}

/// Ends the requests of `agent` (or the one `id`) that `now` is past:
/// waiting past pickup expire, fetched past timeout + pickup are lost.
fn end_overdue(
    tx: &Transaction<'_>,
    agent: Option<&str>,
    id: Option<&str>,
    now: Timestamp,
) -> Result<(), Fail> {
    tx.prepare_cached(
        "UPDATE agent_action SET state = 'expired', ended_at = ?1
         WHERE state = 'waiting' AND requested_at + pickup_ms < ?1
           AND (?2 IS NULL OR agent = ?2) AND (?3 IS NULL OR id = ?3)",
    )?
    .execute(params![now, agent, id])?;
    tx.prepare_cached(
        "UPDATE agent_action SET state = 'lost', ended_at = ?1
         WHERE state = 'fetched' AND fetched_at + timeout_ms + pickup_ms < ?1
           AND (?2 IS NULL OR agent = ?2) AND (?3 IS NULL OR id = ?3)",
    )?
    .execute(params![now, agent, id])?;
    Ok(())
}

fn read(tx: &Transaction<'_>, id: &str) -> Result<Option<AgentAction>, Fail> {
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {COLUMNS} FROM agent_action WHERE id = ?1"))?;
    let mut rows = stmt.query(params![id])?;
    match rows.next()? {
        Some(r) => Ok(Some(row(r)?)),
        None => Ok(None),
    }
}

impl Store {
    /// Files `request` at `now`, unless its id is known: then nothing
    /// changes. Returns the request as it stands (the caller may compare
    /// its agent and action with what it asked).
    pub fn request_agent_action(
        &self,
        request: &NewAgentAction,
        now: Timestamp,
    ) -> Result<AgentAction, StoreError> {
        self.with_state("request an agent action", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO agent_action
                 (id, agent, action, timeout_ms, requested_at, pickup_ms, state)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'waiting')",
            )?
            .execute(params![
                request.id,
                request.agent,
                request.action,
                request.timeout_ms,
                now,
                request.pickup_ms
            ])?;
            end_overdue(&tx, None, Some(&request.id), now)?;
            let stored = read(&tx, &request.id)?
                .ok_or_else(|| Fail::Corrupt("an agent action vanished as it was filed".into()))?;
            tx.commit()?;
            Ok(stored)
        })
    }

    /// Request `id` as it stands at `now` (expired or lost if overdue);
    /// None if it was never filed (or deleted by compaction).
    pub fn agent_action(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<AgentAction>, StoreError> {
        self.with_state("read an agent action", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            end_overdue(&tx, None, Some(id), now)?;
            let found = read(&tx, id)?;
            tx.commit()?;
            Ok(found)
        })
    }

    /// What to send `agent` now, oldest first, at most
    /// [`MAX_ACTIONS_PER_EXCHANGE`]: requests waiting (now fetched) and
    /// those fetched before with no outcome yet (sent again: the agent
    /// answers an id it ran with its outcome). Overdue ones end first.
    /// Push mode: the answer carrying them is the agent's taking them.
    pub fn pending_agent_actions(
        &self,
        agent: &str,
        now: Timestamp,
    ) -> Result<Vec<ActionRequest>, StoreError> {
        self.with_state("list pending agent actions", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids = pending(&tx, agent, now)?;
            mark_fetched(&tx, agent, &ids, now)?;
            tx.commit()?;
            Ok(ids)
        })
    }

    /// What to send `agent` now, as [`Store::pending_agent_actions`], but
    /// not marked fetched: pull mode marks them with
    /// [`Store::agent_took_actions`] once the agent answered, so a request
    /// an agent never took expires instead of being lost.
    pub fn agent_actions_to_send(
        &self,
        agent: &str,
        now: Timestamp,
    ) -> Result<Vec<ActionRequest>, StoreError> {
        self.with_state("list pending agent actions", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids = pending(&tx, agent, now)?;
            tx.commit()?;
            Ok(ids)
        })
    }

    /// Pull mode: `agent` answered the exchange that carried `sent` (at
    /// `now`): those still waiting are now fetched, then its `outcomes`
    /// are recorded as [`Store::record_agent_action_outcomes`] records
    /// them. Returns the ids recorded (the agent may forget them).
    pub fn agent_took_actions(
        &self,
        agent: &str,
        sent: &[ActionRequest],
        outcomes: &[ActionOutcome],
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        self.with_state("record agent action outcomes", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            mark_fetched(&tx, agent, sent, now)?;
            let recorded = record(&tx, agent, outcomes, now)?;
            tx.commit()?;
            Ok(recorded)
        })
    }

    /// Whether requests wait for `agent` (filed or fetched, no outcome):
    /// what the answer to its report says. A read, cheap enough for every
    /// report; overdue requests may still count until the exchange ends
    /// them.
    pub fn agent_actions_pending(&self, agent: &str) -> Result<bool, StoreError> {
        self.with_reader("look for pending agent actions", |conn| {
            let found: bool = conn
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM agent_action
                     WHERE agent = ?1 AND state IN ('waiting', 'fetched'))",
                )?
                .query_row(params![agent], |r| r.get(0))?;
            Ok(found)
        })
    }

    /// Records the outcomes `agent` answered at `now`: each only for a
    /// request of that agent and action that was sent to it and has no
    /// outcome yet (a lost one still takes its late outcome); others are
    /// ignored. Output and error are cut to their bounds. Returns how
    /// many were recorded.
    pub fn record_agent_action_outcomes(
        &self,
        agent: &str,
        outcomes: &[ActionOutcome],
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        if outcomes.is_empty() {
            return Ok(0);
        }
        self.with_state("record agent action outcomes", |st| {
            let tx = st
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            let recorded = record(&tx, agent, outcomes, now)?;
            tx.commit()?;
            Ok(recorded.len())
        })
    }
}

/// The requests to send `agent` at `now` (overdue ones ended first),
/// each with the last moment its run may start: its fetch (now, for one
/// still waiting) plus its pickup window, past which the central stops
/// waiting for an outcome.
fn pending(tx: &Transaction<'_>, agent: &str, now: Timestamp) -> Result<Vec<ActionRequest>, Fail> {
    end_overdue(tx, Some(agent), None, now)?;
    let mut stmt = tx.prepare_cached(
        "SELECT id, action, timeout_ms, COALESCE(fetched_at, ?3) + pickup_ms FROM agent_action
         WHERE agent = ?1 AND state IN ('waiting', 'fetched')
         ORDER BY requested_at, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![agent, MAX_ACTIONS_PER_EXCHANGE as i64, now], |r| {
        Ok(ActionRequest {
            id: r.get(0)?,
            action: r.get(1)?,
            timeout_ms: r.get(2)?,
            not_after: Some(r.get(3)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// `sent` requests of `agent` still waiting are fetched at `now`.
fn mark_fetched(
    tx: &Transaction<'_>,
    agent: &str,
    sent: &[ActionRequest],
    now: Timestamp,
) -> Result<(), Fail> {
    for r in sent {
        tx.prepare_cached(
            "UPDATE agent_action SET state = 'fetched', fetched_at = ?3
             WHERE id = ?1 AND agent = ?2 AND state = 'waiting'",
        )?
        .execute(params![r.id, agent, now])?;
    }
    Ok(())
}

/// Records `outcomes` of `agent`'s requests that were sent and have none
/// yet; returns the ids recorded.
fn record(
    tx: &Transaction<'_>,
    agent: &str,
    outcomes: &[ActionOutcome],
    now: Timestamp,
) -> Result<Vec<String>, Fail> {
    let mut recorded = Vec::new();
    for o in outcomes {
        let mut o = o.clone();
        o.fit();
        let json = serde_json::to_string(&o)?;
        let n = tx
            .prepare_cached(
                "UPDATE agent_action SET state = 'done', ended_at = ?4, outcome = ?5
                 WHERE id = ?1 AND agent = ?2 AND action = ?3
                   AND state IN ('fetched', 'lost')",
            )?
            .execute(params![o.id, agent, o.action, now, json])?;
        if n > 0 {
            recorded.push(o.id);
        }
    }
    Ok(recorded)
}

/// Deletes the requests that ended before `cutoff` (compaction).
pub(crate) fn prune(tx: &Transaction<'_>, cutoff: Timestamp) -> Result<u64, Fail> {
    let n = tx
        .prepare_cached(
            "DELETE FROM agent_action WHERE state IN ('done', 'expired', 'lost') AND ended_at < ?1",
        )?
        .execute(params![cutoff])?;
    Ok(n as u64)
}

/// The state's word, for messages (`waiting`, `fetched`, ...).
impl std::fmt::Display for AgentActionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    fn new(id: &str, agent: &str, action: &str) -> NewAgentAction {
        NewAgentAction::new(id, agent, action, MIN, MIN).unwrap()
    }

    fn outcome(id: &str, action: &str, output: &str) -> ActionOutcome {
        ActionOutcome {
            id: id.into(),
            action: action.into(),
            exit_code: Some(0),
            output: output.into(),
            ..ActionOutcome::default()
        }
    }

    fn state(s: &Store, id: &str, now: Timestamp) -> AgentActionState {
        s.agent_action(id, now).unwrap().expect("filed").state
    }

    #[test]
    fn a_request_is_sent_until_its_outcome_is_in_and_an_id_is_filed_once() {
        let s = Store::open_in_memory().unwrap();
        let filed = s
            .request_agent_action(&new("r1", "web1", "restart-php"), 1_000)
            .unwrap();
        assert_eq!(
            (filed.state.clone(), filed.requested_at, filed.timeout_ms),
            (AgentActionState::Waiting, 1_000, 60_000)
        );
        // Filed again (a retry of the engine): nothing changes.
        let again = s
            .request_agent_action(&new("r1", "web2", "other"), 2_000)
            .unwrap();
        assert_eq!(again, filed);
        s.request_agent_action(&new("r2", "web1", "rotate"), 1_500)
            .unwrap();
        s.request_agent_action(&new("r3", "web2", "rotate"), 1_500)
            .unwrap();
        assert_eq!(s.agent_action("nope", 2_000).unwrap(), None);

        assert!(s.agent_actions_pending("web1").unwrap());
        assert!(!s.agent_actions_pending("db1").unwrap());
        let sent = s.pending_agent_actions("web1", 3_000).unwrap();
        let ids: Vec<&str> = sent.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["r1", "r2"], "the agent's own, oldest first");
        assert_eq!(sent[0].action, "restart-php");
        let r1 = s.agent_action("r1", 3_000).unwrap().unwrap();
        assert_eq!(
            (r1.state, r1.fetched_at),
            (AgentActionState::Fetched, Some(3_000))
        );
        // No outcome yet: sent again, first fetch time kept.
        assert_eq!(s.pending_agent_actions("web1", 4_000).unwrap().len(), 2);
        assert_eq!(
            s.agent_action("r1", 4_000).unwrap().unwrap().fetched_at,
            Some(3_000)
        );

        // Another agent's id, a wrong action name, an unknown id: ignored.
        let recorded = s
            .record_agent_action_outcomes(
                "web1",
                &[
                    outcome("r3", "rotate", "not yours"),
                    outcome("r2", "restart-php", "wrong action"),
                    outcome("zz", "rotate", "unknown"),
                    outcome("r1", "restart-php", &"é".repeat(10_000)),
                ],
                5_000,
            )
            .unwrap();
        assert_eq!(recorded, 1);
        let done = s.agent_action("r1", 5_000).unwrap().unwrap();
        assert_eq!(done.ended_at, Some(5_000));
        let AgentActionState::Done(o) = done.state else {
            panic!("{:?}", done.state)
        };
        assert_eq!(
            o.output.len(),
            keepup_model::host::MAX_ACTION_OUTPUT_BYTES,
            "cut"
        );
        // The first outcome stays.
        let later = s
            .record_agent_action_outcomes("web1", &[outcome("r1", "restart-php", "second")], 6_000)
            .unwrap();
        assert_eq!(later, 0);
        assert!(
            matches!(state(&s, "r1", 6_000), AgentActionState::Done(o) if o.output.starts_with('é'))
        );
        let ids: Vec<String> = s
            .pending_agent_actions("web1", 6_000)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["r2"]);
        // An outcome for a request never sent is not taken.
        assert_eq!(
            s.record_agent_action_outcomes("web2", &[outcome("r3", "rotate", "x")], 6_000)
                .unwrap(),
            0
        );
        assert_eq!(state(&s, "r3", 6_000), AgentActionState::Waiting);
        s.record_agent_action_outcomes("web1", &[outcome("r2", "rotate", "")], 7_000)
            .unwrap();
        assert!(!s.agent_actions_pending("web1").unwrap(), "all answered");
    }

    #[test]
    fn a_request_not_taken_expires_and_one_not_answered_is_lost_but_takes_a_late_outcome() {
        let s = Store::open_in_memory().unwrap();
        // Pickup within 1 min, run at most 1 min.
        s.request_agent_action(&new("taken", "web1", "a"), 0)
            .unwrap();
        assert_eq!(state(&s, "taken", 20_000), AgentActionState::Waiting);
        // The agent calls in once, and is heard from no more.
        s.pending_agent_actions("web1", 30_000).unwrap();
        s.request_agent_action(&new("late", "web1", "a"), 40_000)
            .unwrap();
        assert_eq!(state(&s, "late", 100_001), AgentActionState::Expired);
        let late = s.agent_action("late", 100_001).unwrap().unwrap();
        assert_eq!(late.ended_at, Some(100_001));
        assert!(
            s.pending_agent_actions("web1", 100_002)
                .unwrap()
                .iter()
                .all(|r| r.id != "late"),
            "an expired request is never sent"
        );
        // Fetched at 30 s: lost after 30 + 60 + 60 s.
        assert_eq!(state(&s, "taken", 150_000), AgentActionState::Fetched);
        assert_eq!(state(&s, "taken", 150_001), AgentActionState::Lost);
        assert!(s.pending_agent_actions("web1", 150_002).unwrap().is_empty());
        let n = s
            .record_agent_action_outcomes("web1", &[outcome("taken", "a", "at last")], 200_000)
            .unwrap();
        assert_eq!(n, 1);
        assert!(matches!(
            state(&s, "taken", 200_000),
            AgentActionState::Done(_)
        ));
        // An expired request takes no outcome: it was never sent.
        let n = s
            .record_agent_action_outcomes("web1", &[outcome("late", "a", "?")], 200_000)
            .unwrap();
        assert_eq!(n, 0);
    }

    /// Pull mode marks a request fetched only once the agent answered the
    /// exchange that carried it: one never taken expires (it is not lost);
    /// each request says until when its run may start.
    #[test]
    fn pull_mode_marks_fetched_only_what_the_agent_took() {
        let s = Store::open_in_memory().unwrap();
        s.request_agent_action(&new("r1", "web1", "a"), 0).unwrap();
        let sent = s.agent_actions_to_send("web1", 1_000).unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].not_after, Some(61_000), "now plus the pickup");
        // The agent did not answer: still waiting, then expired.
        assert_eq!(state(&s, "r1", 2_000), AgentActionState::Waiting);
        assert_eq!(state(&s, "r1", 60_001), AgentActionState::Expired);

        s.request_agent_action(&new("r2", "web1", "a"), 100_000)
            .unwrap();
        let sent = s.agent_actions_to_send("web1", 101_000).unwrap();
        assert_eq!(
            s.agent_took_actions("web1", &sent, &[], 102_000).unwrap(),
            Vec::<String>::new()
        );
        let r2 = s.agent_action("r2", 102_000).unwrap().unwrap();
        assert_eq!(
            (r2.state, r2.fetched_at),
            (AgentActionState::Fetched, Some(102_000))
        );
        let again = s.agent_actions_to_send("web1", 103_000).unwrap();
        assert_eq!(
            again[0].not_after,
            Some(162_000),
            "its fetch plus the pickup"
        );
        let recorded = s
            .agent_took_actions("web1", &again, &[outcome("r2", "a", "ok")], 104_000)
            .unwrap();
        assert_eq!(recorded, ["r2"]);
        assert!(matches!(
            state(&s, "r2", 104_000),
            AgentActionState::Done(_)
        ));
        // Push mode's listing marks at once, with the same deadline.
        s.request_agent_action(&new("r3", "web1", "a"), 200_000)
            .unwrap();
        let pushed = s.pending_agent_actions("web1", 201_000).unwrap();
        assert_eq!(pushed[0].not_after, Some(261_000));
        assert_eq!(state(&s, "r3", 201_000), AgentActionState::Fetched);
    }

    #[test]
    fn bad_requests_are_refused_before_the_store() {
        assert!(matches!(
            NewAgentAction::new("a b", "web1", "x", MIN, MIN),
            Err(InvalidAgentAction::Id(_))
        ));
        assert_eq!(
            NewAgentAction::new("a", "", "x", MIN, MIN),
            Err(InvalidAgentAction::Name("agent"))
        );
        assert_eq!(
            NewAgentAction::new("a", "web1", &"x".repeat(65), MIN, MIN),
            Err(InvalidAgentAction::Name("action"))
        );
        assert_eq!(
            NewAgentAction::new("a", "web1", "x", Duration::ZERO, MIN),
            Err(InvalidAgentAction::Zero("timeout"))
        );
    }

    #[test]
    fn ended_requests_go_with_compaction_and_open_ones_stay() {
        let s = Store::open_in_memory().unwrap();
        s.request_agent_action(&new("old", "web1", "a"), 0).unwrap();
        s.request_agent_action(&new("open", "web1", "a"), 0)
            .unwrap();
        s.pending_agent_actions("web1", 1_000).unwrap();
        s.record_agent_action_outcomes("web1", &[outcome("old", "a", "")], 2_000)
            .unwrap();
        let removed = s
            .with_state("test prune", |st| {
                let tx = st.conn.transaction()?;
                let n = prune(&tx, 3_000)?;
                tx.commit()?;
                Ok(n)
            })
            .unwrap();
        assert_eq!(removed, 1);
        assert_eq!(s.agent_action("old", 3_000).unwrap(), None);
        assert!(s.agent_action("open", 3_000).unwrap().is_some());
    }
}
