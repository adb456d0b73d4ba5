//! The runbook notes that go with a check or an incident (see
//! `keepup_config::Runbooks::notes_for`), shown on the check page and the
//! incident page: each under its heading, its Markdown rendered by
//! `keepup_notify::markdown::safe_html` (raw HTML escaped, script links
//! refused), the one renderer every place a note appears uses.

use keepup_config::{NoteSource, RunbookNote};
use maud::{Markup, PreEscaped, html};

/// A "Runbook" section with every note, or nothing without notes.
pub fn section(notes: &[RunbookNote]) -> Markup {
    html! {
        @if !notes.is_empty() {
            section.runbook aria-labelledby="runbook" {
                h2 #runbook { "Runbook" }
                @for note in notes {
                    article.note {
                        h3 {
                            (note.heading())
                            " " span.muted { "(" (origin(note.source)) ")" }
                        }
                        (PreEscaped(keepup_notify::markdown::safe_html(&note.text)))
                    }
                }
            }
        }
    }
}

/// Where a note was written, in words.
fn origin(source: NoteSource) -> &'static str {
    match source {
        NoteSource::Check => "the check's note",
        NoteSource::Code => "configured for this finding code",
        NoteSource::Site => "the site's note",
        NoteSource::Default => "keepup's note for this finding code",
    }
}
