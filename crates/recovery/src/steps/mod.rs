//! The steps a plan is made of, behind one dispatch ([`run`]): each kind is
//! a module with a function from its configuration and the run's context to
//! a [`Done`] or a [`Failed`]. Every step is written to be idempotent: a
//! resume after a crash runs the interrupted step again.

pub mod command;
pub mod confirm;
pub mod dns;
pub mod maintenance;
pub mod notify;
pub mod restore;
pub mod verify;

use crate::clock::Clock;
use crate::engine::Target;
use keepup_config::recovery::{DrillCommand, Environment, Step, StepAction};
use keepup_config::{Config, RecoveryPlan};
use keepup_model::Timestamp;
use keepup_store::{DrRunKind, Store};

pub use confirm::{Confirm, Confirmation};

/// What a step works with.
pub struct StepContext<'a> {
    /// The whole configuration (checks, channels, backup plans).
    pub config: &'a Config,
    /// The plan.
    pub plan: &'a RecoveryPlan,
    /// The environment the run works on.
    pub target: Target<'a>,
    /// The run's kind.
    pub kind: DrRunKind,
    /// The run's number.
    pub run: i64,
    /// When the run started (the RTO is measured from here).
    pub run_started_at: Timestamp,
    /// The journal's store.
    pub store: &'a Store,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Who answers `confirm` steps.
    pub confirm: &'a Confirmation,
    /// Who hears of a question waiting on the dashboard.
    pub observer: &'a dyn crate::engine::Observer,
}

impl StepContext<'_> {
    /// The environment the run works on.
    pub fn environment(&self) -> &Environment {
        self.target.environment
    }
}

/// A step that did its work.
#[derive(Debug, Default)]
pub struct Done {
    /// What it said (journaled, redacted).
    pub output: String,
}

/// A step that did not.
#[derive(Debug)]
pub struct Failed {
    /// Why, in one line.
    pub reason: String,
    /// What it said.
    pub output: String,
    /// How a person does the step without keepup, when that can be said.
    pub by_hand: Option<String>,
}

impl Failed {
    /// A failure with no output and no manual command.
    pub fn because(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            output: String::new(),
            by_hand: None,
        }
    }
}

/// Why a step cannot run in this build; checked for every step before a run
/// starts, so a run never stops halfway at a step it could never do.
pub fn unavailable(action: &StepAction) -> Option<&'static str> {
    match action {
        StepAction::Dns(_)
        | StepAction::RestoreFiles(_)
        | StepAction::RestoreDatabase(_)
        | StepAction::Command(_)
        | StepAction::Maintenance(_)
        | StepAction::Verify(_)
        | StepAction::Notify(_)
        | StepAction::Confirm(_) => None,
    }
}

/// Runs one step.
pub fn run(step: &Step, index: usize, ctx: &StepContext<'_>) -> Result<Done, Failed> {
    match &step.action {
        StepAction::Command(c) if ctx.kind == DrRunKind::Drill && c.drill == DrillCommand::Skip => {
            Ok(command::skipped_in_drill(c))
        }
        StepAction::Command(c) => command::run(c, ctx),
        StepAction::Maintenance(m) => maintenance::run(m, ctx),
        StepAction::Verify(v) => verify::run(v, ctx),
        StepAction::Notify(n) => notify::run(n, index, ctx),
        StepAction::Confirm(c) => confirm::run(c, index, ctx),
        StepAction::RestoreFiles(r) => restore::files(r, ctx),
        StepAction::RestoreDatabase(d) => restore::database(d, index, ctx),
        StepAction::Dns(d) => dns::run(d, ctx),
    }
}
