//! `kind = "scenario"`: the engine is being built (issue 16); until it
//! lands a scenario check is Unknown and says so.

use keepup_config::ScenarioSpec;
use keepup_model::{Outcome, Status};

use crate::context::ProbeContext;

/// Runs one scenario.
pub async fn probe(_spec: &ScenarioSpec, _ctx: &ProbeContext) -> Outcome {
    Outcome::new(Status::Unknown, "the scenario engine is not built yet")
}
