//! The check a disaster-recovery plan brings with it: each `[[recovery]]`
//! plan adds `dr-<plan>` to its site, which reports what the plan's drills
//! say (the monitor reads them from the store's journal): Down when the
//! last finished drill failed, Degraded when the plan was never drilled,
//! when its last successful drill is older than `drill_max_age`, or when
//! that drill's measured RTO or RPO exceeded the plan's targets, Up
//! otherwise.
//!
//! Like the backup checks it is passive and informational: it goes through
//! the state machine, incidents and notifications like any check, and a
//! contract's default service leaves it out of the site's availability.

use crate::recovery::RecoveryPlan;
use crate::spec::{Alerting, Check, CheckSpec, PassiveSpec, Site};
use keepup_model::CheckId;
use std::sync::Arc;
use std::time::Duration;

/// `CheckSpec::Passive(PassiveSpec::Drill)`: the drills of plan `plan`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillCheckSpec {
    /// The recovery plan's id.
    pub plan: String,
}

/// How often the journal is read (one indexed query per plan); a drill's
/// end also has the check evaluated at once.
const DRILL_CHECK_INTERVAL: Duration = Duration::from_secs(60);

/// The check id that shows the drills of `plan`: `<site>/dr-<plan>`.
pub fn drill_check_id(plan: &RecoveryPlan) -> CheckId {
    CheckId::new(&plan.site, &format!("dr-{}", plan.id))
}

/// Adds the check of every plan to its site (which exists: the plan was
/// validated against the sites). A check id already taken by a configured
/// check is left to that check: the caller reports it.
pub(crate) fn add_drill_checks(sites: &mut [Site], plans: &[RecoveryPlan]) -> Vec<CheckId> {
    let mut clashes = Vec::new();
    for plan in plans {
        let Some(site) = sites.iter_mut().find(|s| s.id == plan.site) else {
            continue;
        };
        let id = drill_check_id(plan);
        if site.checks.iter().any(|c| c.id == id) {
            clashes.push(id);
            continue;
        }
        site.checks.push(Arc::new(Check {
            short_id: format!("dr-{}", plan.id),
            id,
            name: format!("Disaster recovery {}: drills", plan.name),
            interval: DRILL_CHECK_INTERVAL,
            timeout: Duration::from_secs(10),
            tags: vec!["dr".into()],
            site_tags: site.tags.clone(),
            depends_on: Vec::new(),
            alerting: Alerting {
                // A drill's result is already final; waiting for a second
                // look would only delay the notice.
                failure_threshold: 1,
                retry_interval: DRILL_CHECK_INTERVAL,
                ..Alerting::default()
            },
            forecasts: Vec::new(),
            spec: CheckSpec::Passive(PassiveSpec::Drill(DrillCheckSpec {
                plan: plan.id.clone(),
            })),
        }));
    }
    clashes
}
