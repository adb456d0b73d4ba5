//! `keepup codes`: the finding-code catalogue of `keepup_model::codes`, as
//! a table, JSON or the README's Markdown; with a code, that code's meaning
//! and its default runbook note (`keepup_model::runbook`).

use anyhow::bail;
use keepup_model::codes::{CATALOGUE, CodeInfo, current, lookup, markdown};
use keepup_model::runbook::default_note;
use std::process::ExitCode;

/// Prints the catalogue in the chosen form, or one code with its note.
pub fn run(code: Option<&str>, json: bool, as_markdown: bool) -> anyhow::Result<ExitCode> {
    if let Some(code) = code {
        return explain(code, json);
    }
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

/// One code: its catalogue line and its default note. A former name
/// (`backup.failed`) and lower case are accepted.
fn explain(asked: &str, json: bool) -> anyhow::Result<ExitCode> {
    let Some(info) = find(asked) else {
        bail!("{asked:?} is not a finding code; `keepup codes` lists them");
    };
    let note = default_note(info.code);
    if json {
        let entry = serde_json::json!({
            "code": info.code,
            "severity": info.severity.as_str(),
            "section": info.section,
            "doc": info.doc(),
            "note": note,
        });
        println!("{}", serde_json::to_string_pretty(&entry)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} ({})  {}",
        info.code,
        info.severity.as_str(),
        info.section
    );
    if info.code != asked {
        println!("(asked as {asked})");
    }
    println!("{}\n", info.doc());
    match note {
        Some(note) => println!("{note}"),
        None => println!("keepup ships no runbook note for this code yet."),
    }
    Ok(ExitCode::SUCCESS)
}

fn find(asked: &str) -> Option<&'static CodeInfo> {
    let trimmed = asked.trim();
    current(trimmed)
        .and_then(lookup)
        .or_else(|| lookup(&trimmed.to_ascii_uppercase()))
}
