//! Markdown written by operators (runbook notes), made safe to show: HTML
//! for the dashboard, the Recovery Plan document and e-mail, plain text for
//! the channels that show text only. One home for both, so that every place
//! a note appears refuses the same things.
//!
//! [`safe_html`] is not a sanitiser of arbitrary HTML: it writes HTML itself
//! from the Markdown's structure, element by element, from a fixed list.
//! Raw HTML in the note is shown as text (escaped), never passed through;
//! a link or image whose URL has a scheme other than `http`, `https`,
//! `mailto` or `tel` (`javascript:`, `data:`, `vbscript:`, ...) is shown
//! as its text without the link; images become links (a note loads nothing
//! by itself); headings start at `<h3>` so a note does not outrank the page
//! it sits in.
//!
//! [`safe_markdown`] is the same for a note kept as Markdown (the Recovery
//! Plan's `.md`, read through a Git forge's or a wiki's renderer): by the
//! same rules, raw HTML becomes text, a refused link its text, an image a
//! link.

use keepup_model::text::html_escape;
use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

fn parser(md: &str) -> Parser<'_> {
    Parser::new_ext(
        md,
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS,
    )
}

/// Whether a link target may be followed: relative, or with one of the
/// schemes a note has a use for. Tabs and line breaks are ignored first, as
/// browsers ignore them (`java\tscript:`).
pub fn is_safe_url(url: &str) -> bool {
    let cleaned: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let cleaned = cleaned.trim_start_matches(|c: char| c.is_ascii_control() || c == ' ');
    let scheme_end = cleaned.find([':', '/', '?', '#']);
    match scheme_end {
        Some(i) if cleaned[i..].starts_with(':') => {
            let scheme = cleaned[..i].to_ascii_lowercase();
            matches!(scheme.as_str(), "http" | "https" | "mailto" | "tel")
        }
        // No scheme: a relative link, within the page's own site, unless
        // it names another host (`//host/`, and `/\host/` or `\host`,
        // which browsers read as `//host/`).
        _ => {
            !(cleaned.starts_with("//") || cleaned.starts_with("/\\") || cleaned.starts_with('\\'))
        }
    }
}

/// The note as HTML that cannot run script or load anything (see the
/// module doc).
pub fn safe_html(md: &str) -> String {
    let mut out = String::with_capacity(md.len() + md.len() / 4);
    // The closing tag of each open link or image (`</a>` or nothing when
    // its URL was refused).
    let mut links: Vec<&'static str> = Vec::new();
    let mut in_table_head = false;
    for event in parser(md) {
        match event {
            Event::Start(tag) => match tag {
                Tag::Paragraph => out.push_str("<p>"),
                Tag::Heading { level, .. } => {
                    out.push_str(&format!("<h{}>", heading(level)));
                }
                Tag::BlockQuote(_) => out.push_str("<blockquote>"),
                Tag::CodeBlock(_) => out.push_str("<pre><code>"),
                Tag::HtmlBlock => out.push_str("<p>"),
                Tag::List(Some(start)) if start != 1 => {
                    out.push_str(&format!("<ol start=\"{start}\">"));
                }
                Tag::List(Some(_)) => out.push_str("<ol>"),
                Tag::List(None) => out.push_str("<ul>"),
                Tag::Item => out.push_str("<li>"),
                Tag::Emphasis => out.push_str("<em>"),
                Tag::Strong => out.push_str("<strong>"),
                Tag::Strikethrough => out.push_str("<del>"),
                Tag::Table(_) => out.push_str("<table>"),
                Tag::TableHead => {
                    in_table_head = true;
                    out.push_str("<thead><tr>");
                }
                Tag::TableRow => out.push_str("<tr>"),
                Tag::TableCell => out.push_str(if in_table_head { "<th>" } else { "<td>" }),
                Tag::Link {
                    dest_url, title, ..
                }
                | Tag::Image {
                    dest_url, title, ..
                } => {
                    if is_safe_url(&dest_url) {
                        out.push_str(&format!(
                            "<a href=\"{}\" rel=\"nofollow noopener noreferrer\"",
                            html_escape(&dest_url)
                        ));
                        if !title.is_empty() {
                            out.push_str(&format!(" title=\"{}\"", html_escape(&title)));
                        }
                        out.push('>');
                        links.push("</a>");
                    } else {
                        links.push("");
                    }
                }
                // Footnotes, definition lists, metadata: their text only.
                _ => {}
            },
            Event::End(tag) => match tag {
                TagEnd::Paragraph | TagEnd::HtmlBlock => out.push_str("</p>\n"),
                TagEnd::Heading(level) => out.push_str(&format!("</h{}>\n", heading(level))),
                TagEnd::BlockQuote(_) => out.push_str("</blockquote>\n"),
                TagEnd::CodeBlock => out.push_str("</code></pre>\n"),
                TagEnd::List(true) => out.push_str("</ol>\n"),
                TagEnd::List(false) => out.push_str("</ul>\n"),
                TagEnd::Item => out.push_str("</li>\n"),
                TagEnd::Emphasis => out.push_str("</em>"),
                TagEnd::Strong => out.push_str("</strong>"),
                TagEnd::Strikethrough => out.push_str("</del>"),
                TagEnd::Table => out.push_str("</tbody></table>\n"),
                TagEnd::TableHead => {
                    in_table_head = false;
                    out.push_str("</tr></thead><tbody>");
                }
                TagEnd::TableRow => out.push_str("</tr>"),
                TagEnd::TableCell => out.push_str(if in_table_head { "</th>" } else { "</td>" }),
                TagEnd::Link | TagEnd::Image => out.push_str(links.pop().unwrap_or_default()),
                _ => {}
            },
            Event::Text(t) => out.push_str(&html_escape(&t)),
            Event::Code(c) => {
                out.push_str("<code>");
                out.push_str(&html_escape(&c));
                out.push_str("</code>");
            }
            // Shown as written, never interpreted.
            Event::Html(h) | Event::InlineHtml(h) => out.push_str(&html_escape(&h)),
            Event::InlineMath(m) | Event::DisplayMath(m) => out.push_str(&html_escape(&m)),
            Event::FootnoteReference(r) => out.push_str(&format!("[{}]", html_escape(&r))),
            Event::SoftBreak => out.push('\n'),
            Event::HardBreak => out.push_str("<br>\n"),
            Event::Rule => out.push_str("<hr>\n"),
            Event::TaskListMarker(done) => out.push_str(if done { "☑ " } else { "☐ " }),
        }
    }
    out
}

/// The note as Markdown that another renderer shows without running or
/// loading anything, by [`safe_html`]'s rules: raw HTML escaped (`<` as
/// `&lt;`, so it shows as written), a link or image whose URL
/// [`is_safe_url`] refuses replaced by its text (escaped), an image made a
/// link, and a link reference definition with a refused URL shown as text
/// (it then defines nothing). The rest is the note as written: each change
/// is an edit of the source at the place the parser found it.
pub fn safe_markdown(md: &str) -> String {
    let mut edits: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    // A refused link or image being read: its range, its text so far,
    // and how many links or images it holds open.
    let mut refused: Option<(std::ops::Range<usize>, String, usize)> = None;
    let mut events = parser(md).into_offset_iter();
    for (event, range) in events.by_ref() {
        if let Some((whole, text, depth)) = &mut refused {
            match event {
                Event::Start(Tag::Link { .. } | Tag::Image { .. }) => *depth += 1,
                Event::End(TagEnd::Link | TagEnd::Image) if *depth > 0 => *depth -= 1,
                Event::End(TagEnd::Link | TagEnd::Image) => {
                    edits.push((whole.clone(), escape_markdown(text)));
                    refused = None;
                }
                Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                    text.push_str(&t);
                }
                Event::SoftBreak | Event::HardBreak => text.push(' '),
                _ => {}
            }
            continue;
        }
        match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. })
                if !is_safe_url(&dest_url) =>
            {
                refused = Some((range, String::new(), 0));
            }
            Event::Start(Tag::Image { .. })
                if md.get(range.clone()).is_some_and(|i| i.starts_with('!')) =>
            {
                edits.push((range.start..range.start + 1, String::new()));
            }
            Event::Html(h) | Event::InlineHtml(h) => {
                let written = md.get(range.clone()).unwrap_or(&h);
                edits.push((range, written.replace('<', "&lt;")));
            }
            _ => {}
        }
    }
    for (_, def) in events.reference_definitions().iter() {
        if !is_safe_url(&def.dest) && md.get(def.span.clone()).is_some_and(|d| d.starts_with('[')) {
            edits.push((def.span.start..def.span.start, "\\".into()));
        }
    }
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(md.len() + md.len() / 8);
    let mut at = 0;
    for (range, text) in edits {
        // Edits never overlap (a refused link's inside is not looked at),
        // but a stray one is skipped rather than cut a character.
        let Some(before) = md.get(at..range.start) else {
            continue;
        };
        out.push_str(before);
        out.push_str(&text);
        at = range.end;
    }
    out.push_str(md.get(at..).unwrap_or_default());
    out
}

/// Text that Markdown shows as written: every ASCII punctuation character
/// escaped (CommonMark allows a backslash before any), line breaks as
/// spaces.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            c if c.is_ascii_punctuation() => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// `#` is `<h3>`, `##` `<h4>`, and so on down to `<h6>`.
fn heading(level: HeadingLevel) -> u8 {
    (level as u8 + 2).min(6)
}

/// The note as plain text: the words, code as written, list items on their
/// own lines with a dash, a followable link's address after its text.
pub fn plain_text(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut links: Vec<Option<String>> = Vec::new();
    let mut lists: Vec<Option<u64>> = Vec::new();
    for event in parser(md) {
        match event {
            Event::Start(Tag::List(start)) => lists.push(start),
            Event::End(TagEnd::List(_)) => {
                lists.pop();
                newline(&mut out);
            }
            Event::Start(Tag::Item) => {
                newline(&mut out);
                out.push_str(&"  ".repeat(lists.len().saturating_sub(1)));
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.push_str("- "),
                }
            }
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                let shown = dest_url.contains(':') && is_safe_url(&dest_url);
                links.push(shown.then(|| dest_url.to_string()));
            }
            Event::End(TagEnd::Link | TagEnd::Image) => {
                if let Some(Some(url)) = links.pop() {
                    out.push_str(&format!(" <{url}>"));
                }
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::HtmlBlock
                | TagEnd::TableRow
                | TagEnd::TableHead,
            ) => newline(&mut out),
            Event::End(TagEnd::TableCell) => out.push_str(" | "),
            Event::Text(t) | Event::Code(t) | Event::Html(t) | Event::InlineHtml(t) => {
                out.push_str(&t);
            }
            Event::InlineMath(t) | Event::DisplayMath(t) => out.push_str(&t),
            Event::SoftBreak => out.push(' '),
            Event::HardBreak => out.push('\n'),
            Event::Rule => newline(&mut out),
            Event::TaskListMarker(done) => out.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    out.trim().to_owned()
}

/// Ends the current line unless it is already ended.
fn newline(out: &mut String) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_html_is_shown_as_text_and_script_links_are_refused() {
        let html = safe_html(
            "Run <script>alert(1)</script> **now**\n\n<img src=x onerror=alert(2)>\n\n[click](javascript:alert(3)) [ok](https://wiki.example/x \"T\") [rel](/checks/a/b) [v](JaVa\tScRiPt:alert(4)) ![img](data:text/html,x)",
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("<strong>now</strong>"), "{html}");
        assert!(!html.to_ascii_lowercase().contains("javascript"), "{html}");
        assert!(!html.contains("data:"), "{html}");
        assert!(html.contains("click"), "{html}");
        assert!(
            html.contains(
                "<a href=\"https://wiki.example/x\" rel=\"nofollow noopener noreferrer\" title=\"T\">ok</a>"
            ),
            "{html}"
        );
        assert!(html.contains("<a href=\"/checks/a/b\""), "{html}");
    }

    #[test]
    fn structure_is_kept_and_headings_sit_below_the_page() {
        let html = safe_html(
            "# Fix\n\n1. one\n2. `two`\n\n```\nsystemctl restart \"php\"\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(html.starts_with("<h3>Fix</h3>"), "{html}");
        assert!(html.contains("<ol><li>one</li>"), "{html}");
        assert!(html.contains("<code>two</code>"), "{html}");
        assert!(
            html.contains("<pre><code>systemctl restart &quot;php&quot;\n</code></pre>"),
            "{html}"
        );
        assert!(
            html.contains("<table><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>1</td><td>2</td></tr></tbody></table>"),
            "{html}"
        );
    }

    #[test]
    fn plain_text_keeps_words_lists_and_followable_addresses() {
        let text = plain_text(
            "# Disk full\n\nFree space:\n\n- `du -sh /var/*`\n- see [the wiki](https://wiki.example/disk) or [this](javascript:x)\n\n<b>raw</b>",
        );
        assert_eq!(
            text,
            "Disk full\nFree space:\n- du -sh /var/*\n- see the wiki <https://wiki.example/disk> or this\n<b>raw</b>"
        );
    }

    /// What a renderer makes of `md`: no raw HTML, no image, and only links
    /// [`is_safe_url`] follows.
    fn assert_harmless(md: &str) {
        for event in parser(md) {
            match event {
                Event::Html(h) | Event::InlineHtml(h) => panic!("raw HTML {h:?} in {md:?}"),
                Event::Start(Tag::Image { dest_url, .. }) => {
                    panic!("an image of {dest_url:?} in {md:?}")
                }
                Event::Start(Tag::Link { dest_url, .. }) => {
                    assert!(is_safe_url(&dest_url), "a link to {dest_url:?} in {md:?}");
                }
                _ => {}
            }
        }
    }

    #[test]
    fn markdown_keeps_what_is_safe_and_defuses_the_rest() {
        let md = "# Fix\n\nRun <script>alert(1)</script> **now**: `a <b> c`\n\n<img src=x onerror=alert(2)>\n\n[click *me*](javascript:alert(3)) [ok](https://wiki.example/x \"T\") ![logo](https://img.example/l.png) [far](//evil.example/x) <javascript:alert(4)> [ref][r]\n\n[r]: JavaScript:alert(5)\n\n```\n<kept> in code\n```\n";
        let safe = safe_markdown(md);
        assert_harmless(&safe);
        assert!(
            safe.starts_with("# Fix\n\nRun &lt;script>alert(1)&lt;/script> **now**: `a <b> c`"),
            "{safe}"
        );
        assert!(
            safe.contains("\n&lt;img src=x onerror=alert(2)>\n"),
            "{safe}"
        );
        assert!(safe.contains("click me [ok](https://wiki.example/x \"T\") [logo](https://img.example/l.png) far javascript\\:alert\\(4\\) ref\n"), "{safe}");
        assert!(safe.contains("\\[r]: JavaScript:alert(5)"), "{safe}");
        assert!(safe.contains("```\n<kept> in code\n```"), "{safe}");
        assert!(!safe.contains("](javascript"), "{safe}");
        // What was already safe is left as written.
        let plain = "# A\n\n- `x < y`\n- [w](https://w.example/)\n\n> quoted **b**\n";
        assert_eq!(safe_markdown(plain), plain);
    }

    #[test]
    fn only_known_schemes_are_followed() {
        for ok in [
            "https://x",
            "http://x",
            "mailto:a@b",
            "tel:+41",
            "/a",
            "#x",
            "a/b:c",
        ] {
            assert!(is_safe_url(ok), "{ok}");
        }
        for bad in [
            "javascript:x",
            " JAVASCRIPT:x",
            "java\nscript:x",
            "data:text/html,x",
            "vbscript:x",
            "file:///etc/passwd",
            "//evil.example/x",
            "/\\evil.example/x",
            "\\\\evil.example/x",
        ] {
            assert!(!is_safe_url(bad), "{bad}");
        }
    }
}
