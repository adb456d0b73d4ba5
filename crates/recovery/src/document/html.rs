//! The document as one self-contained HTML page: no script, no external
//! file, styles inline; on paper each section starts a page and a step is
//! never split. Every text goes through maud's escaping.

use super::{Block, Commands, Document, Section, StepDoc, spans};
use maud::{DOCTYPE, Markup, PreEscaped, html};

/// Screen and print styles. Large type and plain black on white on paper;
/// commands in boxes that wrap rather than run off the page.
const STYLE: &str = r#"
:root { color-scheme: light dark; }
body { font: 16px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.8rem; margin: 0 0 .3rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid currentColor; padding-bottom: .2rem; margin-top: 2.5rem; }
h3 { font-size: 1.1rem; margin: 0 0 .4rem; }
.subtitle { color: GrayText; margin: 0 0 1rem; }
nav ol { columns: 2; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0; }
th, td { border: 1px solid #999; padding: .3rem .5rem; text-align: left; vertical-align: top; overflow-wrap: break-word; }
code { font-size: .9em; background: rgba(127,127,127,.12); padding: 0 .2em; }
pre code { font-size: inherit; background: none; padding: 0; }
th { background: rgba(127,127,127,.15); }
table.facts th:empty { display: none; }
pre { background: rgba(127,127,127,.12); border: 1px solid #999; padding: .6rem; white-space: pre-wrap; overflow-wrap: anywhere; font-size: .9rem; }
.caption { font-weight: 600; margin: .6rem 0 .2rem; font-size: .95rem; }
.step { border: 2px solid #666; border-radius: 6px; padding: .8rem 1rem; margin: 1rem 0; }
.step .meta { color: GrayText; font-size: .9rem; margin-bottom: .4rem; }
.check { display: inline-block; width: 1.1rem; height: 1.1rem; border: 2px solid currentColor; vertical-align: middle; margin-right: .4rem; }
@media print {
  :root { color-scheme: light; }
  body { font-size: 11pt; max-width: none; padding: 0; color: #000; background: #fff; }
  nav { break-after: page; }
  section { break-before: page; }
  .step, table, pre { break-inside: avoid; }
  h2, h3, .caption { break-after: avoid; }
  pre, th { background: none; }
  .subtitle, .step .meta { color: #333; }
}
"#;

/// The whole page.
pub fn render_html(doc: &Document) -> String {
    let page: Markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (doc.title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    h1 { (doc.title) }
                    p.subtitle { (doc.subtitle) }
                }
                nav {
                    h2 { "Contents" }
                    ol {
                        @for (i, s) in doc.sections.iter().enumerate() {
                            li { a href={ "#s" (i + 1) } { (s.title) } }
                        }
                    }
                }
                @for (i, s) in doc.sections.iter().enumerate() {
                    (section(i + 1, s))
                }
            }
        }
    };
    page.into_string()
}

fn section(n: usize, s: &Section) -> Markup {
    html! {
        section id={ "s" (n) } {
            h2 { (n) ". " (s.title) }
            @for b in &s.blocks {
                (block(b))
            }
        }
    }
}

fn block(b: &Block) -> Markup {
    match b {
        Block::Paragraph(text) => html! { p { (inline(text)) } },
        Block::List(items) => html! {
            ul { @for i in items { li { (inline(i)) } } }
        },
        Block::Table { header, rows } => {
            let facts = header.iter().all(String::is_empty);
            html! {
                table class=[facts.then_some("facts")] {
                    @if !facts {
                        thead { tr { @for h in header { th { (h) } } } }
                    }
                    tbody {
                        @for row in rows {
                            tr {
                                @for (i, cell) in row.iter().enumerate() {
                                    @if facts && i == 0 { th scope="row" { (cell) } } @else { td { (cell) } }
                                }
                            }
                        }
                    }
                }
            }
        }
        Block::Commands(c) => commands(c),
        Block::Step(s) => step(s),
        Block::Note { heading, markdown } => html! {
            div.note {
                h3 { (heading) }
                (PreEscaped(keepup_notify::markdown::safe_html(markdown)))
            }
        },
    }
}

fn commands(c: &Commands) -> Markup {
    html! {
        div.commands {
            p.caption { (c.caption) }
            pre { code { (c.text) } }
        }
    }
}

fn step(s: &StepDoc) -> Markup {
    html! {
        div.step {
            h3 { span.check {} "Step " (s.number) ": " (s.name) }
            p.meta {
                (s.kind)
                @if let Some(e) = &s.expected { " · took " (e) " last time" }
            }
            p { (inline(&s.summary)) }
            @if !s.notes.is_empty() {
                ul { @for n in &s.notes { li { (inline(n)) } } }
            }
            @for c in &s.commands { (commands(c)) }
        }
    }
}

/// Text with its `backquoted` parts as code.
fn inline(text: &str) -> Markup {
    html! {
        @for (code, part) in spans(text) {
            @if code { code { (part) } } @else { (part) }
        }
    }
}
