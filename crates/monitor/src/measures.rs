//! `[[action]]` measure triggers: `measure = { check, measure, above |
//! below, for }` decided on each result of the check, as an HPA's
//! stabilisation window.
//!
//! Each result of the named check is read for the measure the way the
//! forecasts read it ([`crate::forecast::measure_value`]). A value past
//! the threshold (strictly above, strictly below) opens the action's
//! window, or extends it; a value back inside, a result without the
//! measure (the check Down or Unknown, nothing measured) or a gap of more
//! than [`GAP_INTERVALS`] check intervals since the last value closes it:
//! nothing says the measure stayed past meanwhile. When every value since
//! the window opened was past and the window has lasted `for`, the action
//! runs through the engine (guard rails, level bounds) with the window's
//! inputs recorded on the run, and the window starts afresh: a further
//! step needs another full window (and its cooldown).
//!
//! The windows are kept in the store's memo table (kind [`WINDOW_MEMO`],
//! by action), written as they change, so that a restart keeps "past the
//! threshold since T": the action_run rows exist only once a run is
//! decided, and cannot say since when a measure has been past. A window
//! of a trigger changed since (another check, measure, side or
//! threshold) is dropped.
//!
//! Results recorded as history (an agent's late backlog) are not
//! considered: acting on them would act on the past.
//!
//! Not here: the guard rails, the levels and the running
//! (`keepup_actions`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use keepup_actions::{Cause, Engine, MeasureInputs, Values};
use keepup_config::Config;
use keepup_config::actions::MeasureTrigger;
use keepup_model::{CheckId, Outcome, Timestamp};
use keepup_store::{MemoChange, Store};
use serde::{Deserialize, Serialize};

/// The memo kind of the measure windows (by action name).
pub(crate) const WINDOW_MEMO: &str = "measure_window";

/// A gap of more than this many check intervals between two values
/// closes a window.
pub(crate) const GAP_INTERVALS: i64 = 3;

/// One action's measure trigger.
#[derive(Clone)]
struct Trigger {
    action: String,
    trigger: MeasureTrigger,
    /// The check's interval, ms.
    interval_ms: i64,
}

/// A window as kept: past the threshold since `since`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Window {
    check: String,
    measure: String,
    above: bool,
    threshold: f64,
    since: Timestamp,
    last_at: Timestamp,
    values: Values,
}

impl Window {
    fn of(&self, t: &MeasureTrigger) -> bool {
        self.check == t.check.as_str()
            && self.measure == t.measure.key
            && self.above == t.above
            && self.threshold == t.threshold
    }
}

/// An action whose window decided.
struct Due {
    action: String,
    cause: Cause,
    inputs: MeasureInputs,
}

#[derive(Default)]
struct State {
    by_check: HashMap<CheckId, Vec<Trigger>>,
    windows: HashMap<String, Window>,
    loaded: bool,
}

/// The measure triggers of the configuration and their windows.
#[derive(Default)]
pub(crate) struct MeasureTriggers {
    state: Mutex<State>,
    engine: Mutex<Option<(Arc<Engine>, Store)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MeasureTriggers {
    /// Takes the configuration's measure triggers, running them through
    /// `engine`; the first call reads the kept windows from `store`.
    /// Windows of triggers gone or changed are dropped (here and in the
    /// store).
    pub(crate) fn configure(&self, config: &Config, engine: Arc<Engine>, store: &Store) {
        let mut by_check: HashMap<CheckId, Vec<Trigger>> = HashMap::new();
        for a in &config.actions {
            let Some(t) = &a.triggers.measure else {
                continue;
            };
            let interval_ms = config
                .find_check(t.check.as_str())
                .map(|c| c.interval.as_millis() as i64)
                .unwrap_or(60_000);
            by_check.entry(t.check.clone()).or_default().push(Trigger {
                action: a.name.clone(),
                trigger: t.clone(),
                interval_ms,
            });
        }
        let kept = {
            let st = lock(&self.state);
            if st.loaded {
                None
            } else {
                drop(st);
                Some(store.memos(WINDOW_MEMO).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the measure triggers' windows; they start afresh");
                    Vec::new()
                }))
            }
        };
        let mut gone = Vec::new();
        {
            let mut st = lock(&self.state);
            if let Some(kept) = kept {
                for (action, json) in kept {
                    match serde_json::from_str::<Window>(&json) {
                        Ok(w) => {
                            st.windows.insert(action, w);
                        }
                        Err(_) => gone.push(action),
                    }
                }
                st.loaded = true;
            }
            let triggers: HashMap<&str, &MeasureTrigger> = by_check
                .values()
                .flatten()
                .map(|t| (t.action.as_str(), &t.trigger))
                .collect();
            st.windows.retain(|action, w| {
                let keep = triggers.get(action.as_str()).is_some_and(|t| w.of(t));
                if !keep {
                    gone.push(action.clone());
                }
                keep
            });
            st.by_check = by_check;
        }
        if !gone.is_empty() {
            let changes: Vec<MemoChange> = gone
                .into_iter()
                .map(|a| MemoChange::delete(WINDOW_MEMO, a))
                .collect();
            if let Err(e) = store.write_memos(0, &changes) {
                tracing::warn!(error = %e, "cannot drop the windows of measure triggers gone");
            }
        }
        *lock(&self.engine) = Some((engine, store.clone()));
    }

    /// Whether some action's measure trigger reads `check`.
    pub(crate) fn watches(&self, check: &CheckId) -> bool {
        lock(&self.state).by_check.contains_key(check)
    }

    /// Takes result `outcome` of `check` at `at`: moves the windows of the
    /// measure triggers on it, keeps them in the store, and starts the
    /// runs they decided (on the runtime, not awaited: a run may take its
    /// timeout).
    pub(crate) async fn observe(&self, check: &CheckId, at: Timestamp, outcome: &Outcome) {
        let (changes, due) = self.step(check, at, outcome);
        if changes.is_empty() && due.is_empty() {
            return;
        }
        let Some((engine, store)) = lock(&self.engine).clone() else {
            return;
        };
        if !changes.is_empty() {
            let s = store.clone();
            let written = tokio::task::spawn_blocking(move || s.write_memos(at, &changes)).await;
            match written {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(check = %check, error = %e, "cannot keep a measure trigger's window; a restart would start it afresh")
                }
                Err(e) => {
                    tracing::warn!(check = %check, error = %e, "keeping a measure window failed")
                }
            }
        }
        if due.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for d in due {
                match engine.run_measured(&d.action, d.cause, d.inputs).await {
                    Ok(run) => {
                        tracing::info!(action = %d.action, run = run.id, outcome = run.outcome.as_str(), "measure trigger")
                    }
                    Err(e) => {
                        tracing::error!(action = %d.action, error = %e, "a measure trigger's action could not run")
                    }
                }
            }
        });
    }

    /// The windows' moves for one result: the memo changes and the runs
    /// due.
    fn step(
        &self,
        check: &CheckId,
        at: Timestamp,
        outcome: &Outcome,
    ) -> (Vec<MemoChange>, Vec<Due>) {
        let mut changes = Vec::new();
        let mut due = Vec::new();
        let mut st = lock(&self.state);
        let Some(triggers) = st.by_check.get(check).cloned() else {
            return (changes, due);
        };
        for t in triggers {
            let m = &t.trigger;
            let value = crate::forecast::measure_value(&m.measure, outcome);
            let measured = value.and_then(|(_, when)| when).unwrap_or(at);
            let past = value.map(|(v, _)| v).filter(|v| {
                if m.above {
                    *v > m.threshold
                } else {
                    *v < m.threshold
                }
            });
            let open = st.windows.get(&t.action).cloned();
            if open.as_ref().is_some_and(|w| measured <= w.last_at) && value.is_some() {
                // The same report judged again, or an older value.
                continue;
            }
            let Some(v) = past else {
                if st.windows.remove(&t.action).is_some() {
                    changes.push(MemoChange::delete(WINDOW_MEMO, t.action.clone()));
                }
                continue;
            };
            let gap = t.interval_ms.saturating_mul(GAP_INTERVALS);
            let w = match open {
                Some(mut w) if measured.saturating_sub(w.last_at) <= gap => {
                    w.values.add(v);
                    w.last_at = measured;
                    w
                }
                _ => Window {
                    check: m.check.as_str().to_owned(),
                    measure: m.measure.key.clone(),
                    above: m.above,
                    threshold: m.threshold,
                    since: measured,
                    last_at: measured,
                    values: Values::one(v),
                },
            };
            let for_ms = i64::try_from(m.for_.as_millis()).unwrap_or(i64::MAX);
            if measured.saturating_sub(w.since) >= for_ms {
                due.push(Due {
                    action: t.action.clone(),
                    cause: Cause::Measure {
                        check: m.check.clone(),
                        measure: m.measure.key.clone(),
                        value: v,
                    },
                    inputs: MeasureInputs::new(m, w.since, w.values),
                });
                // A further step needs a window of its own.
                st.windows.remove(&t.action);
                changes.push(MemoChange::delete(WINDOW_MEMO, t.action.clone()));
                continue;
            }
            match serde_json::to_string(&w) {
                Ok(json) => changes.push(MemoChange::put(WINDOW_MEMO, t.action.clone(), json)),
                Err(e) => {
                    tracing::warn!(action = %t.action, error = %e, "cannot keep a measure window")
                }
            }
            st.windows.insert(t.action.clone(), w);
        }
        (changes, due)
    }
}
