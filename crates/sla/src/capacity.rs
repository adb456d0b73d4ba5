//! The monthly report's line on load: the site's peak load of the period
//! against its design capacity (`[site.capacity]`), per declared measure,
//! with its share of the design and when it was reached. The caller reads
//! the peaks (the capacity check's daily peaks, kept by the monitor);
//! here they are a figure and its CSV rows and HTML section.

use crate::render::csv_field;
use keepup_model::Timestamp;
use keepup_model::text::html_escape as h;
use serde::Serialize;
use std::io::{self, Write};

/// The site's peak load of the period against its design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityFigure {
    /// The capacity check.
    pub check: String,
    /// Degraded from this share of the design (percent).
    pub warn_at_percent: f64,
    /// Down from this share of the design (percent).
    pub crit_at_percent: f64,
    /// One per declared measure, in the configuration's order.
    pub measures: Vec<CapacityPeak>,
}

/// One measure's peak of the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CapacityPeak {
    /// `requests_per_second`, `transactions_per_hour` or
    /// `concurrent_sessions`.
    pub measure: String,
    /// Its unit for people (`requests/s`).
    pub unit: String,
    /// The design capacity.
    pub design: f64,
    /// The highest value measured in the period (None: never measured).
    pub peak: Option<f64>,
    /// Its share of the design, in percent.
    pub share_percent: Option<f64>,
    /// When it was measured.
    pub at: Option<Timestamp>,
}

/// A number for people: up to two decimals.
fn number(v: f64) -> String {
    let text = format!("{v:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The figure's CSV rows (`capacity,<measure>,<field>,<value>`).
pub(crate) fn csv_rows(c: &CapacityFigure, w: &mut impl Write) -> io::Result<()> {
    let opt = |v: Option<f64>| v.map(number).unwrap_or_default();
    for m in &c.measures {
        let at = m.at.map(keepup_model::format_rfc3339).unwrap_or_default();
        for (field, value) in [
            ("design", number(m.design)),
            ("peak", opt(m.peak)),
            ("share_percent", opt(m.share_percent)),
            ("peak_at", at),
            ("warn_at_percent", number(c.warn_at_percent)),
        ] {
            writeln!(
                w,
                "capacity,{},{},{}",
                csv_field(&m.measure),
                field,
                csv_field(&value)
            )?;
        }
    }
    Ok(())
}

/// The figure's HTML section; `local` writes a time in the contract's zone.
pub(crate) fn html(
    c: Option<&CapacityFigure>,
    local: impl Fn(Timestamp) -> String,
    w: &mut impl Write,
) -> io::Result<()> {
    let Some(c) = c else {
        return Ok(());
    };
    writeln!(w, "<section><h2>Load against design capacity</h2>")?;
    writeln!(
        w,
        "<p class=\"sub\">The highest load measured in the period against what the shop was designed for; a share at {}% or more warns, at {}% or more the shop runs past its design.</p>",
        h(&number(c.warn_at_percent)),
        h(&number(c.crit_at_percent))
    )?;
    writeln!(
        w,
        "<table><thead><tr><th>Measure</th><th class=\"num\">Design</th><th class=\"num\">Peak</th><th class=\"num\">Share</th><th>When</th></tr></thead><tbody>"
    )?;
    for m in &c.measures {
        let share = match m.share_percent {
            Some(s) => {
                let class = if s >= c.warn_at_percent {
                    "missed"
                } else {
                    "met"
                };
                format!("<span class=\"{class}\">{}%</span>", h(&number(s)))
            }
            None => "<span class=\"muted\">not measured</span>".to_owned(),
        };
        writeln!(
            w,
            "<tr><td>{}</td><td class=\"num\">{} {}</td><td class=\"num\">{}</td><td class=\"num\">{share}</td><td>{}</td></tr>",
            h(&m.measure),
            h(&number(m.design)),
            h(&m.unit),
            h(&m.peak.map(number).unwrap_or_else(|| "-".into())),
            h(&m.at.map(&local).unwrap_or_else(|| "-".into())),
        )?;
    }
    writeln!(w, "</tbody></table></section>")
}
