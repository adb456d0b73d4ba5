//! What the engine writes to the store's journal about a run, and how:
//! every step's start before it runs and its end after, its output bounded
//! and with the plan's secrets replaced by `***` before it is stored,
//! printed or sent.

use keepup_config::RecoveryPlan;
use keepup_config::Secret;
use keepup_config::recovery::StepAction;
use keepup_model::Timestamp;
use keepup_store::{DrStepOutcome, MAX_STEP_OUTPUT, Store, StoreError};

/// Replaces the plan's secrets in text that leaves a step.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<Secret>,
}

impl Redactor {
    /// Knows every secret the plan's steps use: TSIG keys, database
    /// passwords, and the passwords of the backup plans they restore.
    pub fn for_plan(config: &keepup_config::Config, plan: &RecoveryPlan) -> Self {
        let mut secrets: Vec<Secret> = plan.tsig_keys.iter().map(|k| k.secret.clone()).collect();
        for step in plan.activate.iter().chain(&plan.return_steps) {
            let backup = match &step.action {
                StepAction::RestoreDatabase(d) => {
                    secrets.extend(d.password.clone());
                    Some(&d.backup)
                }
                StepAction::RestoreFiles(f) => Some(&f.backup),
                _ => None,
            };
            if let Some(b) = backup.and_then(|id| config.backups.iter().find(|p| &p.id == id)) {
                for t in &b.targets {
                    secrets.push(t.password.clone());
                }
            }
        }
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.expose().len()));
        Self { secrets }
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| s.scrub(&t))
    }
}

/// The tail of `bytes` as text, at most [`MAX_STEP_OUTPUT`] bytes.
pub fn output_tail(bytes: &[u8]) -> String {
    let from = bytes.len().saturating_sub(MAX_STEP_OUTPUT);
    String::from_utf8_lossy(&bytes[from..]).into_owned()
}

/// One run's journal.
pub struct Journal<'a> {
    /// The store.
    pub store: &'a Store,
    /// The run.
    pub run: i64,
    /// Applied to every output before it is stored.
    pub redactor: &'a Redactor,
}

impl Journal<'_> {
    /// Before step `index` runs.
    pub fn started(
        &self,
        index: usize,
        name: &str,
        kind: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.store.dr_step_started(self.run, index, name, kind, at)
    }

    /// After it ended.
    pub fn ended(
        &self,
        index: usize,
        at: Timestamp,
        outcome: DrStepOutcome,
        output: &str,
    ) -> Result<(), StoreError> {
        self.store
            .dr_step_ended(self.run, index, at, outcome, &self.redactor.redact(output))
    }
}
