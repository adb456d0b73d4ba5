//! `keepup codes`: the finding-code catalogue of `keepup_model::codes`, as
//! a table, JSON or the README's Markdown.

use keepup_model::codes::{CATALOGUE, markdown};
use std::process::ExitCode;

/// Prints the catalogue in the chosen form.
pub fn run(json: bool, as_markdown: bool) -> anyhow::Result<ExitCode> {
    if json {
        let entries: Vec<serde_json::Value> = CATALOGUE
            .iter()
            .map(|c| {
                serde_json::json!({
                    "code": c.code,
                    "severity": c.severity.as_str(),
                    "section": c.section,
                    "doc": c.doc(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&entries)?);
    } else if as_markdown {
        print!("{}", markdown());
    } else {
        let mut rows = vec![vec!["CODE".into(), "SEVERITY".into(), "MEANING".into()]];
        rows.extend(
            CATALOGUE
                .iter()
                .map(|c| vec![c.code.into(), c.severity.as_str().into(), c.doc().into()]),
        );
        print!("{}", super::status::render(&rows));
    }
    Ok(ExitCode::SUCCESS)
}
