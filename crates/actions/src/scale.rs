//! Capacity levels (`[[scale]]`) and what decided a run.
//!
//! A level is a number with bounds (an autoscaling group's desired size,
//! an HPA's replicas) that scaling actions move: `by` a step or `to` a
//! size. The engine plans the step when it decides a run ([`plan`]): a
//! step past a bound is clamped to it, one that would move nothing (at
//! the bound already, at the size already) skips the run saying so. The
//! run is told the target (`{{ level }}`/`{{ from }}` in a webhook's
//! template, `KEEPUP_LEVEL`/`KEEPUP_LEVEL_FROM` in a command's
//! environment) and the level becomes the target only when the run ended
//! ok: a failed run leaves it. The level lives in the store's memo table
//! (kind [`LEVEL_MEMO`], keyed by the level's name), so it survives a
//! restart and is shared by every engine on one store.
//!
//! [`Decision`] is what the run keeps of why it ran (`action_run.decision`):
//! the measure's window and values ([`MeasureInputs`], from the monitor)
//! and the level's step ([`LevelStep`]).

use keepup_config::actions::{Change, Level};
use keepup_model::{Timestamp, format_rfc3339};
use serde::{Deserialize, Serialize};

/// The memo kind the levels are kept under.
pub const LEVEL_MEMO: &str = "scale_level";

/// A level as kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SavedLevel {
    pub(crate) level: u32,
    /// The run that set it.
    pub(crate) run: i64,
}

/// What a measure trigger saw when it decided (the monitor's window).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeasureInputs {
    /// The check whose results carry the measure.
    pub check: String,
    /// The measure's key.
    pub measure: String,
    /// `above` or `below`.
    pub side: &'static str,
    /// The threshold, in the measure's unit.
    pub threshold: f64,
    /// The stabilisation window (`for`), seconds.
    pub for_s: u64,
    /// Since when every value was past the threshold (RFC 3339).
    pub since: String,
    /// The values seen in the window.
    pub values: Values,
}

/// A summary of the values a window saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Values {
    /// How many.
    pub count: u32,
    /// The least.
    pub min: f64,
    /// The greatest.
    pub max: f64,
    /// The newest.
    pub last: f64,
}

impl Values {
    /// The summary of one value.
    pub fn one(v: f64) -> Self {
        Self {
            count: 1,
            min: v,
            max: v,
            last: v,
        }
    }

    /// Adds `v` as the newest.
    pub fn add(&mut self, v: f64) {
        self.count = self.count.saturating_add(1);
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.last = v;
    }
}

impl MeasureInputs {
    /// The inputs of a window past `threshold` since `since`.
    pub fn new(
        trigger: &keepup_config::actions::MeasureTrigger,
        since: Timestamp,
        values: Values,
    ) -> Self {
        Self {
            check: trigger.check.as_str().to_owned(),
            measure: trigger.measure.key.clone(),
            side: if trigger.above { "above" } else { "below" },
            threshold: trigger.threshold,
            for_s: trigger.for_.as_secs(),
            since: format_rfc3339(since),
            values,
        }
    }
}

/// A level's step as decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LevelStep {
    /// The level's name.
    pub name: String,
    /// Its value when the run was decided.
    pub from: u32,
    /// The value the run sets (it becomes the level if the run ends ok).
    pub to: u32,
    /// Its bounds then.
    pub min: u32,
    /// Its bounds then.
    pub max: u32,
    /// Said when the step was clamped to a bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What decided a run, kept with it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decision {
    /// The measure trigger's inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measure: Option<MeasureInputs>,
    /// The level's step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<LevelStep>,
}

impl Decision {
    pub(crate) fn to_json(&self) -> Option<serde_json::Value> {
        (self.measure.is_some() || self.level.is_some())
            .then(|| serde_json::to_value(self).ok())
            .flatten()
    }
}

/// What decided `run`, in words: `load above 0.8 for 10m: 11 values
/// 0.82..0.97, last 0.9; web-nodes 2 → 3` (the step not taken when the
/// run did not end ok). Empty when only its cause did.
pub fn decision_words(run: &keepup_store::ActionRun) -> String {
    let Some(d) = &run.decision else {
        return String::new();
    };
    let mut parts = Vec::new();
    if let Some(m) = d.get("measure") {
        let num = |v: &serde_json::Value| v.as_f64().map(|f| format!("{f}")).unwrap_or_default();
        let values = &m["values"];
        parts.push(format!(
            "{} {} {} for {}: {} values {}..{}, last {} (past since {})",
            m["measure"].as_str().unwrap_or("?"),
            m["side"].as_str().unwrap_or("?"),
            num(&m["threshold"]),
            keepup_model::text::duration_compact(std::time::Duration::from_secs(
                m["for_s"].as_u64().unwrap_or(0)
            )),
            values["count"].as_u64().unwrap_or(0),
            num(&values["min"]),
            num(&values["max"]),
            num(&values["last"]),
            m["since"].as_str().unwrap_or("?"),
        ));
    }
    if let Some((name, from, to)) = target_of(Some(d)) {
        let note = d["level"]["note"]
            .as_str()
            .map(|n| format!(", {n}"))
            .unwrap_or_default();
        parts.push(match run.outcome {
            keepup_store::RunOutcome::Ok => format!("{name} {from} → {to}{note}"),
            keepup_store::RunOutcome::Running | keepup_store::RunOutcome::AwaitingConfirmation => {
                format!("{name} {from} → {to} (not yet){note}")
            }
            keepup_store::RunOutcome::DryRun => format!("{name} {from} → {to} (dry run){note}"),
            _ => format!("{name} stays at {from} (not → {to})"),
        });
    }
    parts.join("; ")
}

/// The current value of `level` from its memo (`None`: never moved, so
/// its `initial`), within its bounds as configured now.
pub(crate) fn current(level: &Level, saved: Option<&str>) -> u32 {
    match saved.and_then(|s| serde_json::from_str::<SavedLevel>(s).ok()) {
        Some(s) => level.clamp(i64::from(s.level)),
        None => level.initial,
    }
}

/// The step `change` makes from `from` within `level`'s bounds, or why
/// the run is skipped (it would move nothing).
pub(crate) fn plan(level: &Level, from: u32, change: Change) -> Result<LevelStep, String> {
    let step = |to: u32, note: Option<String>| LevelStep {
        name: level.name.clone(),
        from,
        to,
        min: level.min,
        max: level.max,
        note,
    };
    match change {
        Change::By(n) => {
            let want = i64::from(from).saturating_add(n);
            let to = level.clamp(want);
            if to == from {
                let bound = if n > 0 { "max" } else { "min" };
                return Err(format!("{} is at {bound} {from}", level.name));
            }
            let note = (i64::from(to) != want).then(|| {
                let bound = if n > 0 { "max" } else { "min" };
                format!("clamped to {bound} {to}")
            });
            Ok(step(to, note))
        }
        Change::To(n) => {
            let to = level.clamp(i64::from(n));
            if to == from {
                return Err(format!("{} is at {from} already", level.name));
            }
            let note = (to != n).then(|| format!("clamped to {to}"));
            Ok(step(to, note))
        }
    }
}

/// The level a run's decision sets: (name, from, to).
pub(crate) fn target_of(decision: Option<&serde_json::Value>) -> Option<(String, u32, u32)> {
    let l = decision?.get("level")?;
    Some((
        l.get("name")?.as_str()?.to_owned(),
        u32::try_from(l.get("from")?.as_u64()?).ok()?,
        u32::try_from(l.get("to")?.as_u64()?).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web() -> Level {
        Level {
            name: "web".into(),
            min: 2,
            max: 8,
            initial: 2,
        }
    }

    #[test]
    fn a_step_is_clamped_to_its_bounds_or_skipped_at_them() {
        assert_eq!(plan(&web(), 2, Change::By(1)).unwrap().to, 3);
        let s = plan(&web(), 7, Change::By(3)).unwrap();
        assert_eq!((s.to, s.note.as_deref()), (8, Some("clamped to max 8")));
        assert_eq!(
            plan(&web(), 8, Change::By(1)).unwrap_err(),
            "web is at max 8"
        );
        assert_eq!(
            plan(&web(), 2, Change::By(-1)).unwrap_err(),
            "web is at min 2"
        );
        assert_eq!(
            plan(&web(), 4, Change::To(4)).unwrap_err(),
            "web is at 4 already"
        );
        assert_eq!(plan(&web(), 8, Change::To(4)).unwrap().to, 4);
    }

    #[test]
    fn a_kept_level_is_read_within_the_bounds_of_now() {
        assert_eq!(current(&web(), None), 2);
        assert_eq!(current(&web(), Some(r#"{"level":5,"run":1}"#)), 5);
        // The bounds were lowered since.
        assert_eq!(current(&web(), Some(r#"{"level":12,"run":1}"#)), 8);
        assert_eq!(current(&web(), Some("garbage")), 2);
    }
}
