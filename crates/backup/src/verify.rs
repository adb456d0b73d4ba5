//! Verification: rustic's check of a target's repository (indexes, packs
//! listed, trees of every snapshot), reading a share of the pack data and
//! checking it against its hashes.

use std::sync::Arc;

use jiff::Zoned;
use keepup_config::BackupPlan;
use keepup_config::backup::ReadData;
use keepup_model::{Finding, Outcome, Severity, Status};
use rustic_core::{CheckOptions, ReadSubsetOption};
use serde::Serialize;

use crate::error::BackupError;
use crate::progress::Progress;
use keepup_model::codes;

/// What a check found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The plan.
    pub plan: String,
    /// The target.
    pub target: String,
    /// What was read, e.g. "5% of the pack data" or "part 3 of 30".
    pub read: String,
    /// Damage: missing or corrupt data, broken trees.
    pub errors: Vec<String>,
    /// Oddities that do not affect integrity.
    pub warnings: Vec<String>,
}

/// Checks the repository of `target`, reading `read_data` of its packs
/// (the plan's `[backup.verify]` setting, or an explicit one from the CLI).
/// `now` picks the part of a rotating subset (`*/m`).
pub fn check(
    plan: &BackupPlan,
    target: &str,
    read_data: ReadData,
    now: &Zoned,
    progress: Arc<dyn Progress>,
) -> Result<CheckReport, BackupError> {
    let t = crate::target(plan, target)?;
    let repo = crate::repo::open(t, progress)?.repo;
    let (read, subset, read_text) = match read_data {
        ReadData::None => (false, ReadSubsetOption::All, "no pack data".to_owned()),
        ReadData::All => (true, ReadSubsetOption::All, "all pack data".to_owned()),
        ReadData::Percent(p) => (
            true,
            ReadSubsetOption::Percentage(p),
            format!("{p}% of the pack data"),
        ),
        ReadData::Part { n, m } => (
            true,
            ReadSubsetOption::IdSubSet((n, m)),
            format!("part {n} of {m} of the pack data"),
        ),
        ReadData::Rotating { m } => {
            let day = crate::plan::day_number(now, &plan.timezone.tz);
            let n = u32::try_from(day.rem_euclid(i64::from(m))).unwrap_or(0) + 1;
            (
                true,
                ReadSubsetOption::IdSubSet((n, m)),
                format!("part {n} of {m} of the pack data"),
            )
        }
    };
    let opts = CheckOptions::default()
        .read_data(read)
        .read_data_subset(subset);
    let results = repo
        .check(opts)
        .map_err(|e| BackupError::repo(target, "checking", &e))?;
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (level, err) in &results.0 {
        // rustic does not export the level type; its Debug name is stable.
        let text = check_error_text(err);
        if format!("{level:?}") == "Error" {
            errors.push(text);
        } else {
            warnings.push(text);
        }
    }
    Ok(CheckReport {
        plan: plan.id.clone(),
        target: target.to_owned(),
        read: read_text,
        errors,
        warnings,
    })
}

/// One problem the check found, as one line: its own words, then the
/// rustic error under it the way [`crate::error::one_line`] writes it
/// (the multi-line report, with its context values and backtrace, would
/// otherwise end up in the finding).
fn check_error_text(err: &(dyn std::error::Error + 'static)) -> String {
    let text = err.to_string();
    let inner = std::error::Error::source(err).and_then(|s| {
        s.downcast_ref::<rustic_core::RusticError>().or_else(|| {
            s.downcast_ref::<Box<rustic_core::RusticError>>()
                .map(|b| &**b)
        })
    });
    let Some(inner) = inner else {
        return text.replace('\n', " ");
    };
    let full = inner.to_string();
    let head = text
        .strip_suffix(full.as_str())
        .unwrap_or(&text)
        .trim_end()
        .trim_end_matches(':')
        .trim_end();
    format!("{head}: {}", crate::error::one_line(inner))
}

impl CheckReport {
    /// Down when damage was found; warnings are informational.
    pub fn outcome(&self) -> Outcome {
        let mut o = if self.errors.is_empty() {
            Outcome::new(
                Status::Up,
                format!(
                    "backup {} on {}: repository check passed",
                    self.plan, self.target
                ),
            )
        } else {
            Outcome::new(
                Status::Down,
                format!(
                    "backup {} on {}: repository check found damage",
                    self.plan, self.target
                ),
            )
        };
        for e in self.errors.iter().take(20) {
            o.push(Finding::new(
                codes::BACKUP_CHECK_FAILED,
                Severity::Critical,
                e.clone(),
            ));
        }
        if self.errors.len() > 20 {
            o.push(Finding::new(
                codes::BACKUP_CHECK_FAILED,
                Severity::Critical,
                format!("... and {} more errors", self.errors.len() - 20),
            ));
        }
        for w in self.warnings.iter().take(5) {
            o.push(Finding::new(
                codes::BACKUP_CHECK_WARNING,
                Severity::Info,
                w.clone(),
            ));
        }
        o.evidence.insert("read", self.read.clone());
        o.evidence.insert("errors", self.errors.len());
        o
    }
}
