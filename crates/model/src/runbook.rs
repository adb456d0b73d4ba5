//! keepup's default runbook notes for its own finding codes.
//!
//! The notes live as Markdown under `crates/model/runbooks/`, one file per
//! section of the [code catalogue](crate::codes), each a sequence of
//! `## CODE` headings followed by the note: what the code means for the
//! shop, its usual causes, and the first commands an admin woken at night
//! would run. They are built into the binary and parsed once.
//!
//! This module only holds the defaults; a configuration's own notes (a
//! check's or site's `runbook`, `[[runbook]] codes = [...]`) override them
//! where they are resolved, and where they are shown the Markdown is
//! rendered with raw HTML refused.

use crate::codes;
use std::collections::HashMap;
use std::sync::LazyLock;

/// Each note file by name, as built in. The tests check that a file holds
/// the codes of one catalogue section only.
const FILES: &[(&str, &str)] = &[
    ("probe.md", include_str!("../runbooks/probe.md")),
    ("dns.md", include_str!("../runbooks/dns.md")),
    ("tcp.md", include_str!("../runbooks/tcp.md")),
    ("tls.md", include_str!("../runbooks/tls.md")),
    ("http.md", include_str!("../runbooks/http.md")),
    ("scenario.md", include_str!("../runbooks/scenario.md")),
    ("browser.md", include_str!("../runbooks/browser.md")),
    ("domain.md", include_str!("../runbooks/domain.md")),
    ("delegation.md", include_str!("../runbooks/delegation.md")),
    ("ping.md", include_str!("../runbooks/ping.md")),
    ("mail.md", include_str!("../runbooks/mail.md")),
    ("nagios.md", include_str!("../runbooks/nagios.md")),
    ("pg.md", include_str!("../runbooks/pg.md")),
    ("prometheus.md", include_str!("../runbooks/prometheus.md")),
    ("capacity.md", include_str!("../runbooks/capacity.md")),
    ("ssh.md", include_str!("../runbooks/ssh.md")),
    ("mysql.md", include_str!("../runbooks/mysql.md")),
    ("redis.md", include_str!("../runbooks/redis.md")),
    ("es.md", include_str!("../runbooks/es.md")),
    ("webstatus.md", include_str!("../runbooks/webstatus.md")),
    ("heartbeat.md", include_str!("../runbooks/heartbeat.md")),
    ("backup.md", include_str!("../runbooks/backup.md")),
    ("dr.md", include_str!("../runbooks/dr.md")),
    ("self.md", include_str!("../runbooks/self.md")),
    ("host.md", include_str!("../runbooks/host.md")),
];

/// Code → note, parsed on first use. A code with two notes keeps the first
/// (a test refuses that case anyway).
static NOTES: LazyLock<HashMap<&'static str, &'static str>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for (_, text) in FILES {
        for (code, note) in parse(text) {
            map.entry(code).or_insert(note);
        }
    }
    map
});

/// The default note of `code` (Markdown), if keepup ships one. A code
/// stored under a former name (see [`codes::RENAMED`]) gets the note of
/// the code that replaced it.
pub fn default_note(code: &str) -> Option<&'static str> {
    let code = codes::current(code).unwrap_or(code);
    NOTES.get(code).copied()
}

/// The `## CODE` sections of one file in order, each with its trimmed
/// body. Text before the first heading (the file's `#` title) belongs to
/// no code; a `##` line inside a fenced code block is not a heading.
fn parse(text: &'static str) -> Vec<(&'static str, &'static str)> {
    let mut notes = Vec::new();
    // The current heading and the byte offset where its body starts.
    let mut open: Option<(&'static str, usize)> = None;
    let mut in_fence = false;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if let Some(code) = trimmed.strip_prefix("## ") {
            if let Some((prev, body)) = open.take() {
                notes.push((prev, text[body..start].trim()));
            }
            open = Some((code.trim(), offset));
        }
    }
    if let Some((prev, body)) = open {
        notes.push((prev, text[body..].trim()));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A note stays short enough to read at night and to excerpt in a
    /// notification.
    const MAX_NOTE_CHARS: usize = 2_000;

    fn all_notes() -> Vec<(&'static str, &'static str, &'static str)> {
        FILES
            .iter()
            .flat_map(|(file, text)| {
                parse(text)
                    .into_iter()
                    .map(move |(code, note)| (*file, code, note))
            })
            .collect()
    }

    /// The first thing that looks like an HTML tag outside code, if any.
    fn raw_html(note: &str) -> Option<String> {
        let mut in_fence = false;
        for line in note.lines() {
            if line.trim_start().starts_with("```") {
                in_fence = !in_fence;
                continue;
            }
            if in_fence {
                continue;
            }
            // Outside code spans: the even pieces between backticks.
            for text in line.split('`').step_by(2) {
                let bytes = text.as_bytes();
                if let Some(at) = bytes.windows(2).position(|w| {
                    w[0] == b'<'
                        && (w[1].is_ascii_alphabetic() || matches!(w[1], b'/' | b'!' | b'?'))
                }) {
                    return Some(text[at..].chars().take(20).collect());
                }
            }
        }
        None
    }

    #[test]
    fn every_catalogue_code_has_a_note() {
        let missing: Vec<&str> = codes::CATALOGUE
            .iter()
            .map(|c| c.code)
            .filter(|code| default_note(code).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "add a `## CODE` note to the section's file in crates/model/runbooks/ for {missing:?}"
        );
    }

    #[test]
    fn every_heading_is_a_catalogue_code_with_one_note() {
        let mut seen = HashSet::new();
        for (file, code, _) in all_notes() {
            assert!(
                codes::lookup(code).is_some(),
                "{file}: `## {code}` is not a code of the catalogue"
            );
            assert!(seen.insert(code), "{file}: {code} has a second note");
        }
        assert!(!seen.is_empty());
    }

    #[test]
    fn each_file_holds_one_section_and_each_section_one_file() {
        let mut sections = HashMap::new();
        for (file, text) in FILES {
            let found: HashSet<&str> = parse(text)
                .iter()
                .filter_map(|(code, _)| codes::lookup(code))
                .map(|c| c.section)
                .collect();
            assert_eq!(found.len(), 1, "{file} mixes sections: {found:?}");
            for section in found {
                if let Some(other) = sections.insert(section, *file) {
                    panic!("{section} is split over {other} and {file}");
                }
            }
        }
    }

    #[test]
    fn notes_are_bounded_markdown_without_raw_html() {
        for (file, code, note) in all_notes() {
            let chars = note.chars().count();
            assert!(chars > 0, "{file}: {code} has an empty note");
            assert!(
                chars <= MAX_NOTE_CHARS,
                "{file}: {code}'s note has {chars} characters, more than {MAX_NOTE_CHARS}"
            );
            // A tag or an autolink in the text would be raw HTML to a
            // renderer (placeholders are written HOST, not <host>); code
            // blocks and spans are shown as they are, so `</dev/null` is fine.
            if let Some(tag) = raw_html(note) {
                panic!("{file}: {code}'s note has raw HTML: {tag:?}");
            }
            assert!(
                note.matches("```").count() % 2 == 0,
                "{file}: {code}'s note leaves a code block open"
            );
            assert!(
                note.contains("**Usual causes**") && note.contains("**First steps**"),
                "{file}: {code}'s note lacks **Usual causes** or **First steps**"
            );
        }
    }

    #[test]
    fn notes_are_found_by_code_and_by_former_name() {
        let note = default_note(codes::TLS_CERT_EXPIRING).expect("TLS_CERT_EXPIRING has a note");
        assert!(note.contains("openssl s_client"), "{note}");
        assert!(
            !note.contains("## "),
            "the note ends before the next heading"
        );
        assert_eq!(default_note("NO_SUCH_CODE"), None);
        for (old, new) in codes::RENAMED {
            assert_eq!(default_note(old), default_note(new), "{old}");
        }
        assert!(default_note("backup.failed").is_some_and(|n| n.contains("keepup backup run")));
    }

    #[test]
    fn raw_html_is_found_outside_code_only() {
        assert_eq!(raw_html("see <b>this</b>"), Some("<b>this</b>".into()));
        assert_eq!(
            raw_html("<https://x.test/>"),
            Some("<https://x.test/>".into())
        );
        assert_eq!(raw_html("run `cmd </dev/null` and a < b"), None);
        assert_eq!(raw_html("```sh\nopenssl s_client </dev/null\n```"), None);
    }

    #[test]
    fn the_parser_splits_at_headings_outside_code_blocks() {
        let text = "# Title\n\nintro\n\n## A\n\none\n```\n## not a heading\n```\n\n## B\ntwo\n";
        assert_eq!(
            parse(text),
            vec![("A", "one\n```\n## not a heading\n```"), ("B", "two")]
        );
    }
}
