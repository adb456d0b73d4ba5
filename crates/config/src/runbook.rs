//! Runbook notes: what the person who is paged should do, written by the
//! operator in Markdown on a check (`runbook = ...`), on a site, or for every
//! finding with given codes (`[[runbook]] codes = [...]`), optionally only on
//! some sites or tagged checks (`sites = [...]`, `tags = [...]`).
//!
//! A note is inline text (`runbook = "..."`) or a file
//! (`runbook = { file = "runbooks/shop.md" }`, relative to the configuration
//! file's directory); files are read at load, so a reload picks up their
//! changes and a missing or oversized file fails the load where it is named.
//!
//! [`Runbooks::notes_for`] is the one place that decides which notes go with
//! an alert or a page (see its doc); notifications, the dashboard and the
//! Recovery Plan document all ask it. Rendering the Markdown is not done
//! here (see `keepup_notify::markdown`).

use crate::spec::{Check, Site};
use keepup_model::CheckId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use toml::Spanned;

/// The longest note accepted, inline or in a file: a runbook read at night
/// is short; a longer document belongs in a wiki the note links to.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Where a note comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoteSource {
    /// The check's own `runbook`.
    Check,
    /// A `[[runbook]]` for one of the finding codes.
    Code,
    /// The site's `runbook`.
    Site,
    /// keepup's own note for a finding code (no `[[runbook]]` names it).
    Default,
}

/// One note as shown with an alert or on a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunbookNote {
    /// Where it comes from.
    pub source: NoteSource,
    /// What it is about: the check's full id, the site's id, or the
    /// finding code.
    pub about: String,
    /// The note, Markdown.
    pub text: String,
}

impl RunbookNote {
    /// A short heading: `shop/checkout`, `site shop`, `TLS_CERT_EXPIRING`.
    pub fn heading(&self) -> String {
        match self.source {
            NoteSource::Site => format!("site {}", self.about),
            _ => self.about.clone(),
        }
    }
}

/// Every note of the configuration, read and checked at load.
#[derive(Debug, Clone, Default)]
pub struct Runbooks {
    checks: HashMap<CheckId, Arc<str>>,
    sites: HashMap<String, Arc<str>>,
    /// Per code its `[[runbook]]` notes: at most one for every check, and
    /// narrowed ones that cover no check in common.
    codes: BTreeMap<String, Vec<CodeNote>>,
}

/// The checks a narrowed `[[runbook]]` covers; `None`: every check.
type Covers = Option<Arc<HashSet<CheckId>>>;

/// One `[[runbook]]`'s note for one of its codes.
#[derive(Debug, Clone)]
struct CodeNote {
    /// The checks its `sites` and `tags` cover (resolved at load); `None`:
    /// every check.
    covers: Covers,
    text: Arc<str>,
}

impl CodeNote {
    fn covers(&self, check: &CheckId) -> bool {
        self.covers.as_ref().is_none_or(|c| c.contains(check))
    }
}

impl Runbooks {
    /// The note of check `id`, if it has one.
    pub fn check_note(&self, id: &CheckId) -> Option<&str> {
        self.checks.get(id).map(|n| &**n)
    }

    /// The note of site `id`, if it has one.
    pub fn site_note(&self, id: &str) -> Option<&str> {
        self.sites.get(id).map(|n| &**n)
    }

    /// The `[[runbook]]` note for finding code `code` on check `check`, if
    /// one names it: the one narrowed to the check's site or tags (`sites`,
    /// `tags`) before the one for every check.
    pub fn code_note(&self, check: &CheckId, code: &str) -> Option<&str> {
        let notes = self.codes.get(code)?;
        notes
            .iter()
            .find(|n| n.covers.is_some() && n.covers(check))
            .or_else(|| notes.iter().find(|n| n.covers.is_none()))
            .map(|n| &*n.text)
    }

    /// Every `[[runbook]]` note that goes with check `check`, by code
    /// (sorted): for each code, the note [`Runbooks::code_note`] picks.
    pub fn code_notes_for(&self, check: &CheckId) -> Vec<RunbookNote> {
        self.codes
            .keys()
            .filter_map(|code| {
                Some(RunbookNote {
                    source: NoteSource::Code,
                    about: code.clone(),
                    text: self.code_note(check, code)?.to_owned(),
                })
            })
            .collect()
    }

    /// The notes that go with check `check` failing with findings `codes`,
    /// most specific first:
    ///
    /// 1. the check's note;
    /// 2. the `[[runbook]]` note of each code that has one (the one
    ///    narrowed to the check's site or tags first, see
    ///    [`Runbooks::code_note`]);
    /// 3. the site's note;
    /// 4. keepup's default note of each remaining code.
    ///
    /// They stack: the check and site notes are shown together with one
    /// note per finding code, and a `[[runbook]]` replaces keepup's default
    /// for its codes only. Codes are taken once each, in the order given;
    /// codes renamed since they were stored are read under their new name.
    pub fn notes_for<'a>(
        &self,
        check: &CheckId,
        codes: impl IntoIterator<Item = &'a str>,
    ) -> Vec<RunbookNote> {
        let mut seen: Vec<&str> = Vec::new();
        for code in codes {
            let code = keepup_model::codes::current(code).unwrap_or(code);
            if !seen.contains(&code) {
                seen.push(code);
            }
        }
        let note = |source, about: &str, text: &str| RunbookNote {
            source,
            about: about.to_owned(),
            text: text.to_owned(),
        };
        let mut notes = Vec::new();
        if let Some(text) = self.check_note(check) {
            notes.push(note(NoteSource::Check, check.as_str(), text));
        }
        for code in &seen {
            if let Some(text) = self.code_note(check, code) {
                notes.push(note(NoteSource::Code, code, text));
            }
        }
        if let Some(text) = self.site_note(check.site()) {
            notes.push(note(NoteSource::Site, check.site(), text));
        }
        for code in &seen {
            if self.code_note(check, code).is_none()
                && let Some(text) = keepup_model::runbook::default_note(code)
            {
                notes.push(note(NoteSource::Default, code, text));
            }
        }
        notes
    }
}

/// `runbook = "..."` or `runbook = { file = "..." }` as written (its
/// span is the whole value's).
#[derive(Debug, Clone)]
pub(crate) enum RawNote {
    Text(String),
    File(String),
}

impl<'de> Deserialize<'de> for RawNote {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// Inline text, or a table with the one key `file`.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            File(FileOnly),
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FileOnly {
            file: String,
        }
        match Either::deserialize(d) {
            Ok(Either::Text(t)) => Ok(RawNote::Text(t)),
            Ok(Either::File(f)) => Ok(RawNote::File(f.file)),
            Err(_) => Err(serde::de::Error::custom(
                "a runbook note is Markdown text (runbook = \"...\") or a file (runbook = { file = \"runbooks/shop.md\" })",
            )),
        }
    }
}

/// `[[runbook]]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCodeRunbook {
    pub codes: Spanned<Vec<Spanned<String>>>,
    pub text: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    #[serde(default)]
    pub sites: Vec<Spanned<String>>,
    #[serde(default)]
    pub tags: Vec<Spanned<String>>,
}

/// The notes read so far, with where each code was named with which
/// scope (for the message about a second `[[runbook]]` for the same
/// checks).
#[derive(Default)]
pub(crate) struct RunbooksBuilder {
    pub(crate) runbooks: Runbooks,
    code_lines: HashMap<String, Vec<(Covers, usize)>>,
}

impl crate::load::Loader<'_> {
    /// Reads a note: the text checked, or the file read (bounded); `None`
    /// after reporting what is wrong at `key`.
    pub(crate) fn runbook_note(&mut self, raw: &Spanned<RawNote>, key: &str) -> Option<Arc<str>> {
        let span = raw.span();
        let text = match raw.get_ref() {
            RawNote::Text(t) => t.clone(),
            RawNote::File(f) => {
                let path = self.resolve_path(f);
                match read_bounded(&path) {
                    Ok(text) => text,
                    Err(why) => {
                        self.rep.report(
                            span,
                            key,
                            format!("runbook file {}: {why}", path.display()),
                            None,
                        );
                        return None;
                    }
                }
            }
        };
        if text.trim().is_empty() {
            self.rep.report(
                span,
                key,
                "the runbook note is empty",
                Some("write what to do when this fails, or leave `runbook` out".into()),
            );
            return None;
        }
        if text.len() > MAX_NOTE_BYTES {
            self.rep.report(
                span,
                key,
                format!(
                    "the runbook note is {} bytes; at most {MAX_NOTE_BYTES} are accepted",
                    text.len()
                ),
                Some("keep the note short and link to the longer document".into()),
            );
            return None;
        }
        Some(Arc::from(text.trim_end()))
    }

    /// `[[runbook]]`: notes for finding codes, on every check or on those
    /// of some `sites` and `tags`; a code has at most one note for any
    /// check, but a narrowed note goes before one for every check.
    pub(crate) fn code_runbooks(
        &mut self,
        value: Spanned<toml::de::DeValue<'_>>,
        builder: &mut RunbooksBuilder,
        sites: &[Site],
    ) {
        let all: Vec<&Check> = sites
            .iter()
            .flat_map(|s| s.checks.iter().map(|c| &**c))
            .collect();
        let items = self.array_of_tables(value, "runbook", "write each note as [[runbook]]");
        for (path, item) in items {
            let span = item.span();
            let Some(raw) = self.deserialize::<RawCodeRunbook>(item, &path, &[]) else {
                continue;
            };
            let scope = self.note_scope(&raw, &path, sites, &all);
            let note = match (&raw.text, &raw.file) {
                (Some(t), None) => self.runbook_note(
                    &Spanned::new(t.span(), RawNote::Text(t.get_ref().clone())),
                    &format!("{path}.text"),
                ),
                (None, Some(f)) => self.runbook_note(
                    &Spanned::new(f.span(), RawNote::File(f.get_ref().clone())),
                    &format!("{path}.file"),
                ),
                (Some(_), Some(f)) => {
                    self.rep.report(
                        f.span(),
                        &path,
                        "give the note as `text` or as `file`, not both",
                        None,
                    );
                    None
                }
                (None, None) => {
                    self.rep.report(
                        span.clone(),
                        &path,
                        "missing key `text` or `file`",
                        Some("text = \"...\" (Markdown) or file = \"runbooks/tls.md\"".into()),
                    );
                    None
                }
            };
            if raw.codes.get_ref().is_empty() {
                self.rep.report(
                    raw.codes.span(),
                    &format!("{path}.codes"),
                    "name at least one finding code",
                    Some("e.g. codes = [\"TLS_CERT_EXPIRING\"]; `keepup codes` lists them".into()),
                );
            }
            for code in raw.codes.get_ref() {
                let key = format!("{path}.codes");
                let name = code.get_ref();
                if keepup_model::codes::lookup(name).is_none() {
                    let hint = match keepup_model::codes::current(name) {
                        Some(new) => format!("renamed: write \"{new}\""),
                        None => match crate::diag::closest(
                            name,
                            keepup_model::codes::CATALOGUE.iter().map(|c| c.code),
                        ) {
                            Some(c) => format!("did you mean \"{c}\"? `keepup codes` lists them"),
                            None => "`keepup codes` lists them".into(),
                        },
                    };
                    self.rep.report(
                        code.span(),
                        &key,
                        format!("unknown finding code {name:?}"),
                        Some(hint),
                    );
                    continue;
                }
                // A scope in error was reported; its codes are still checked.
                let Some(covers) = &scope else {
                    continue;
                };
                let line = crate::diag::line_col(self.rep.source(), code.span().start).0;
                let named = builder.code_lines.entry(name.clone()).or_default();
                if let Some((first, clash)) = named
                    .iter()
                    .find_map(|(other, l)| Some((*l, overlap(covers, other)?)))
                {
                    let (message, hint) = match clash {
                        None => (
                            format!("{name} already has a runbook note (line {first})"),
                            "merge the two notes into one [[runbook]], or narrow one with sites or tags",
                        ),
                        Some(check) => (
                            format!("{name} already has a runbook note for {check} (line {first})"),
                            "narrow the two with sites or tags that share no check",
                        ),
                    };
                    self.rep
                        .report(code.span(), &key, message, Some(hint.into()));
                    continue;
                }
                named.push((covers.clone(), line));
                if let Some(note) = &note {
                    builder
                        .runbooks
                        .codes
                        .entry(name.clone())
                        .or_default()
                        .push(CodeNote {
                            covers: covers.clone(),
                            text: note.clone(),
                        });
                }
            }
        }
    }
}

/// Whether two `[[runbook]]` scopes would give a check two notes for one
/// code: `Some(None)` when both are for every check, `Some(Some(check))`
/// naming the first check (in id order) both narrowed scopes cover. A
/// narrowed scope beside one for every check is no clash: it goes first.
fn overlap(a: &Covers, b: &Covers) -> Option<Option<CheckId>> {
    match (a, b) {
        (None, None) => Some(None),
        (Some(a), Some(b)) => a.intersection(b).min().cloned().map(Some),
        _ => None,
    }
}

impl crate::load::Loader<'_> {
    /// The checks a `[[runbook]]`'s `sites` and `tags` cover, read as a
    /// maintenance window's (`scoped_checks`: either covers a check; a tag
    /// covers a check carrying it or whose site does): `Some(None)` when
    /// it names neither, `None` after reporting a site or tag that does
    /// not exist.
    fn note_scope(
        &mut self,
        raw: &RawCodeRunbook,
        path: &str,
        sites: &[Site],
        all: &[&Check],
    ) -> Option<Covers> {
        if raw.sites.is_empty() && raw.tags.is_empty() {
            return Some(None);
        }
        let (covers, ok) = self.scoped_checks(&raw.sites, &[], &raw.tags, path, sites, all);
        ok.then(|| Some(Arc::new(covers)))
    }

    /// Takes and reads a site's `runbook` key.
    pub(crate) fn take_runbook(
        &mut self,
        table: &mut toml::de::DeTable<'_>,
        path: &str,
    ) -> Option<Arc<str>> {
        let value = table.remove("runbook")?;
        let span = value.span();
        let key = format!("{path}.runbook");
        match Spanned::<RawNote>::deserialize(toml::de::ValueDeserializer::from(value)) {
            Ok(raw) => self.runbook_note(&raw, &key),
            Err(e) => {
                self.rep
                    .report(span, &key, e.message().trim().to_owned(), None);
                None
            }
        }
    }
}

impl RunbooksBuilder {
    pub(crate) fn check(&mut self, id: CheckId, note: Arc<str>) {
        self.runbooks.checks.insert(id, note);
    }
    pub(crate) fn site(&mut self, id: String, note: Arc<str>) {
        self.runbooks.sites.insert(id, note);
    }
}

/// The file's text, read no further than [`MAX_NOTE_BYTES`] + 1 (so a huge
/// file is refused without being read whole); errors say why in words.
fn read_bounded(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let file = std::fs::File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        _ => format!("cannot be opened: {e}"),
    })?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err("is a directory, not a file".into());
    }
    let mut bytes = Vec::new();
    file.take(MAX_NOTE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() > MAX_NOTE_BYTES {
        return Err(format!(
            "larger than {MAX_NOTE_BYTES} bytes; keep the note short and link to the longer document"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "is not UTF-8 text (byte {} is not valid)",
            e.utf8_error().valid_up_to()
        )
    })
}
