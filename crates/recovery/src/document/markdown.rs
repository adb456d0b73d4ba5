//! The document as Markdown (CommonMark with GFM tables): text escaped so
//! that a step or a check named with `*`, `_`, `<` or `|` reads as
//! written, commands in fenced blocks longer than any backtick run they
//! hold, operators' notes passed through `keepup_notify::markdown::safe_markdown`
//! (the file is read through other renderers: a Git forge, a wiki).

use super::{Block, Commands, Document, StepDoc, spans};
use std::fmt::Write;

/// The whole document.
pub fn render_markdown(doc: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", text(&doc.title));
    let _ = writeln!(out, "_{}_\n", text(&doc.subtitle));
    for (i, s) in doc.sections.iter().enumerate() {
        let _ = writeln!(out, "## {}. {}\n", i + 1, text(&s.title));
        for b in &s.blocks {
            block(&mut out, b);
        }
    }
    out
}

fn block(out: &mut String, b: &Block) {
    match b {
        Block::Paragraph(p) => {
            let _ = writeln!(out, "{}\n", inline(p));
        }
        Block::List(items) => {
            for i in items {
                let _ = writeln!(out, "- {}", inline(i));
            }
            out.push('\n');
        }
        Block::Table { header, rows } => {
            let cells =
                |row: &[String]| row.iter().map(|c| text(c)).collect::<Vec<_>>().join(" | ");
            let _ = writeln!(out, "| {} |", cells(header));
            let _ = writeln!(out, "|{}|", vec!["---"; header.len()].join("|"));
            for r in rows {
                let _ = writeln!(out, "| {} |", cells(r));
            }
            out.push('\n');
        }
        Block::Commands(c) => commands(out, c),
        Block::Step(s) => step(out, s),
        Block::Note { heading, markdown } => {
            let _ = writeln!(out, "### {}\n", text(heading));
            // Made safe (raw HTML as text, no script or off-site links,
            // no images), as the HTML rendering does, then quoted: the
            // note's own headings stay inside it.
            for line in keepup_notify::markdown::safe_markdown(markdown).lines() {
                if line.is_empty() {
                    out.push_str(">\n");
                } else {
                    let _ = writeln!(out, "> {line}");
                }
            }
            out.push('\n');
        }
    }
}

fn commands(out: &mut String, c: &Commands) {
    let _ = writeln!(out, "**{}**\n", text(&c.caption));
    let fence = "`".repeat(longest_run(&c.text, '`').max(2) + 1);
    let _ = write!(out, "{fence}sh\n{}", c.text);
    if !c.text.ends_with('\n') {
        out.push('\n');
    }
    let _ = writeln!(out, "{fence}\n");
}

fn step(out: &mut String, s: &StepDoc) {
    let _ = writeln!(out, "### [ ] Step {}: {}\n", s.number, text(&s.name));
    let _ = write!(out, "_{}_", text(s.kind));
    if let Some(e) = &s.expected {
        let _ = write!(out, " · took {} last time", text(e));
    }
    out.push_str("\n\n");
    let _ = writeln!(out, "{}\n", inline(&s.summary));
    if !s.notes.is_empty() {
        for n in &s.notes {
            let _ = writeln!(out, "- {}", inline(n));
        }
        out.push('\n');
    }
    for c in &s.commands {
        commands(out, c);
    }
}

/// The longest run of `ch` in `s`.
fn longest_run(s: &str, ch: char) -> usize {
    let (mut best, mut run) = (0, 0);
    for c in s.chars() {
        if c == ch {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Text with its `backquoted` parts as code spans, the rest escaped.
fn inline(s: &str) -> String {
    let mut out = String::new();
    for (code, part) in spans(s) {
        if code {
            let ticks = "`".repeat(longest_run(part, '`') + 1);
            // A space inside the ticks when the code starts or ends with
            // one (CommonMark strips one on each side).
            let pad = if part.starts_with(['`', ' ']) || part.ends_with(['`', ' ']) {
                " "
            } else {
                ""
            };
            let _ = write!(
                out,
                "{ticks}{pad}{}{pad}{ticks}",
                part.replace(['\n', '\r'], " ")
            );
        } else {
            out.push_str(&text(part));
        }
    }
    out
}

/// Text escaped so that Markdown shows it as written (on one line).
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    // A leading `-`, `+` or `=` would start a list or underline a heading.
    if s.starts_with(['-', '+', '=']) {
        out.push('\\');
    }
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '!' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_in_names_is_escaped_and_fences_outgrow_the_text() {
        assert_eq!(text("a *b* <c> | d_e"), r"a \*b\* \<c\> \| d\_e");
        assert_eq!(longest_run("x ``` y `", '`'), 3);
        assert_eq!(inline("run `a*b` *now* `"), r"run `a*b` \*now\* \`");
        let mut out = String::new();
        commands(
            &mut out,
            &Commands {
                caption: "c".into(),
                text: "echo ```\n".into(),
            },
        );
        assert!(out.contains("````sh\necho ```\n````"), "{out}");
    }
}
