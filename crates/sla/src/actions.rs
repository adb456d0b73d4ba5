//! The monthly report's automatic actions: the `[[action]]` runs of the
//! period that concern the site, with their counts by outcome. The caller
//! reads the runs and decides which concern the site (see the README's
//! "The monthly report"); here they are a figure and its CSV rows and
//! HTML section.

use crate::render::csv_field;
use keepup_model::Timestamp;
use keepup_model::text::html_escape as h;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

/// At most this many runs are listed in one report (guard rails keep a
/// real month far below; a misconfigured schedule must not make the
/// report unbounded).
pub const MAX_REPORTED_RUNS: usize = 2000;

/// The period's runs that concern the site.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ActionsFigure {
    /// The runs, oldest first.
    pub runs: Vec<ActionRunFigure>,
    /// How many of the listed runs ended in each outcome (`ok`, `failed`,
    /// `skipped`, …): when `truncated`, of the first [`MAX_REPORTED_RUNS`].
    pub by_outcome: BTreeMap<String, usize>,
    /// More runs started in the period than [`MAX_REPORTED_RUNS`]: the
    /// first are listed and counted.
    pub truncated: bool,
}

impl ActionsFigure {
    /// The figure of `runs` (oldest first), counted by outcome.
    pub fn new(runs: Vec<ActionRunFigure>, truncated: bool) -> Self {
        let mut by_outcome = BTreeMap::new();
        for r in &runs {
            *by_outcome.entry(r.outcome.clone()).or_insert(0) += 1;
        }
        ActionsFigure {
            runs,
            by_outcome,
            truncated,
        }
    }
}

/// One run of an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActionRunFigure {
    /// The run's number (`keepup actions`).
    pub run: i64,
    /// The action's name.
    pub action: String,
    /// `check`, `incident`, `measure`, `schedule`, `manual`.
    pub cause: String,
    /// The cause in words (`shop/php down`, `by cli:ops`).
    pub cause_detail: String,
    /// When it started (or was decided).
    pub started_at: Timestamp,
    /// `ok`, `failed`, `timed_out`, `skipped`, `dry_run`,
    /// `awaiting_confirmation`, `running`.
    pub outcome: String,
    /// Why it was skipped or failed.
    pub reason: String,
    /// The incident it was run for.
    pub incident: Option<i64>,
    /// The action names no check, so it concerns no site in particular:
    /// it is listed in every site's report.
    pub shared: bool,
}

/// The figure's CSV rows: `action,<run>,<field>,<value>` per run and
/// `action_outcome,<outcome>,runs,<n>` per outcome.
pub(crate) fn csv_rows(a: &ActionsFigure, w: &mut impl Write) -> io::Result<()> {
    for r in &a.runs {
        let row = r.run.to_string();
        for (field, value) in [
            ("action", r.action.clone()),
            ("cause", r.cause.clone()),
            ("cause_detail", r.cause_detail.clone()),
            ("started_at", keepup_model::format_rfc3339(r.started_at)),
            ("outcome", r.outcome.clone()),
            ("reason", r.reason.clone()),
            (
                "incident",
                r.incident.map(|i| i.to_string()).unwrap_or_default(),
            ),
            ("shared", r.shared.to_string()),
        ] {
            writeln!(w, "action,{row},{field},{}", csv_field(&value))?;
        }
    }
    for (outcome, n) in &a.by_outcome {
        writeln!(w, "action_outcome,{},runs,{n}", csv_field(outcome))?;
    }
    if a.truncated {
        writeln!(w, "action_outcome,,truncated,true")?;
    }
    Ok(())
}

/// What the counts by outcome count: "3 runs", or, past the cap, "More
/// than 2000 runs in the period; of the first 2000" (the counts are of
/// the listed runs only).
fn runs_counted(a: &ActionsFigure) -> String {
    let n = a.runs.len();
    if a.truncated {
        format!("More than {MAX_REPORTED_RUNS} runs in the period; of the first {n}")
    } else {
        format!("{n} run{}", if n == 1 { "" } else { "s" })
    }
}

/// The figure's HTML section; `local` writes a time in the contract's
/// zone; `listed` are the incidents the report lists (a run's incident
/// links to its row there).
pub(crate) fn html(
    a: &ActionsFigure,
    local: impl Fn(Timestamp) -> String,
    listed: &HashSet<i64>,
    w: &mut impl Write,
) -> io::Result<()> {
    writeln!(w, "<section><h2>Automatic actions</h2>")?;
    if a.runs.is_empty() {
        return writeln!(
            w,
            "<p class=\"muted\">No automatic action ran for this site in this period.</p></section>"
        );
    }
    let counts: Vec<String> = a
        .by_outcome
        .iter()
        .map(|(o, n)| format!("{n} {}", o.replace('_', " ")))
        .collect();
    writeln!(
        w,
        "<p class=\"sub\">{}: {}. Each run is recorded with its cause and outcome; a run that did not act (a guard rail, a dry run, a question unanswered) is listed too.</p>",
        runs_counted(a),
        h(&counts.join(", "))
    )?;
    writeln!(
        w,
        "<table class=\"actions\"><thead><tr><th class=\"num\">Run</th><th>Time</th><th>Action</th><th>Cause</th><th>Outcome</th><th>Incident</th></tr></thead><tbody>"
    )?;
    for r in &a.runs {
        let failed = r.outcome == "failed" || r.outcome == "timed_out";
        let incident = match r.incident {
            Some(i) if listed.contains(&i) => format!("<a href=\"#incident-{i}\">#{i}</a>"),
            Some(i) => format!("#{i}"),
            None => String::new(),
        };
        let outcome = if r.reason.is_empty() {
            h(&r.outcome).to_string()
        } else {
            format!("{}: {}", h(&r.outcome), h(&r.reason))
        };
        writeln!(
            w,
            "<tr{}><td class=\"num\">{}</td><td class=\"time\">{}</td><td>{}{}</td><td>{}</td><td>{outcome}</td><td>{incident}</td></tr>",
            if failed { " class=\"breach\"" } else { "" },
            r.run,
            h(&local(r.started_at)),
            h(&r.action),
            if r.shared {
                " <span class=\"muted\">(every site)</span>"
            } else {
                ""
            },
            h(&r.cause_detail),
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}
