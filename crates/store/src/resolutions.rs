//! Resolution memory: what fixed an outage last time.
//!
//! When someone resolves an incident by hand with a note, the note is kept
//! in `incident_resolution` (see the `incidents` module) and the incident
//! is filed under its check and under each of its finding codes in
//! `resolution_key` (`WITHOUT ROWID`, primary key `(key, resolved_at,
//! incident_id)`, keys `check:<site/check>` and `code:<CODE>`). When the
//! same check or the same code fails again, [`Store::past_resolutions`]
//! reads the newest few of each key from that index (at most
//! [`MAX_MEMORY_KEYS`] keys × [`PAST_RESOLUTIONS`] rows), so the cost does
//! not grow with the history. Only resolutions with a note are filed: one
//! without says nothing to the next person.
//!
//! [`Store::incidents_before`] searches the notes (and the incidents'
//! messages) with `LIKE`, wildcards escaped: a substring match, so `fpm`
//! finds "restarted php-fpm" (FTS5 words would not), case-insensitive for
//! ASCII letters as SQLite's `LIKE` is.

use crate::StoreError;
use crate::content::findings_from_json;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::{CheckId, Timestamp};
use rusqlite::{Transaction, params};

/// Longest resolution note accepted, in characters (CLI, dashboard, API).
pub const MAX_RESOLUTION_NOTE: usize = 2_000;

/// How many earlier resolutions a notification and an incident page show.
pub const PAST_RESOLUTIONS: usize = 3;

/// At most this many keys are looked up (the check and its first codes):
/// an incident with hundreds of findings still costs a few index reads.
pub const MAX_MEMORY_KEYS: usize = 16;

/// Why a resolution note is refused (the field is named by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteRefused {
    /// Empty or blank.
    #[error(
        "is required: say in a few words what fixed it (shown the next time this check or finding fails)"
    )]
    Missing,
    /// Longer than [`MAX_RESOLUTION_NOTE`].
    #[error("at most {MAX_RESOLUTION_NOTE} characters (this one has {0})")]
    TooLong(usize),
    /// A control character other than a line break or tab.
    #[error("control characters are not allowed")]
    Control,
}

/// A resolution note as kept: trimmed, 1 to [`MAX_RESOLUTION_NOTE`]
/// characters, line breaks and tabs allowed, no other control characters.
/// The one rule of the CLI, the dashboard and the API.
pub fn resolution_note(raw: &str) -> Result<String, NoteRefused> {
    let note = raw.trim();
    let n = note.chars().count();
    if n == 0 {
        return Err(NoteRefused::Missing);
    }
    if n > MAX_RESOLUTION_NOTE {
        return Err(NoteRefused::TooLong(n));
    }
    if note
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(NoteRefused::Control);
    }
    Ok(note.to_owned())
}

/// An earlier hand resolution of the same check or of a finding code the
/// incident shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastResolution {
    /// The incident it resolved.
    pub incident: i64,
    /// Its check.
    pub check: CheckId,
    /// Its first failed probe.
    pub opened_at: Timestamp,
    /// When it was resolved.
    pub resolved_at: Timestamp,
    /// Who resolved it.
    pub by: String,
    /// Their note.
    pub note: String,
}

impl PastResolution {
    /// Time to repair: from the first failed probe to the resolution.
    pub fn repair_ms(&self) -> i64 {
        (self.resolved_at - self.opened_at).max(0)
    }
}

/// A check's memory key.
fn check_key(check: &str) -> String {
    format!("check:{check}")
}

/// A finding code's memory key.
fn code_key(code: &str) -> String {
    format!("code:{code}")
}

/// The keys incident `check` with `codes` is remembered under: the check,
/// then each distinct code, at most [`MAX_MEMORY_KEYS`] in all.
fn keys<'a>(check: &str, codes: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = vec![check_key(check)];
    for code in codes {
        let key = code_key(code);
        if out.len() >= MAX_MEMORY_KEYS {
            break;
        }
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// Files resolved incident `id` under its check and codes, inside the
/// caller's transaction, when its hand resolution has a note.
pub(crate) fn file(tx: &Transaction<'_>, id: i64) -> Result<(), Fail> {
    let row: Option<(String, Option<String>, Option<Timestamp>, String)> = tx
        .prepare_cached(
            "SELECT c.key, i.findings, i.resolved_at, r.note
             FROM incident i JOIN checks c ON c.id = i.check_id
             JOIN incident_resolution r ON r.incident_id = i.id
             WHERE i.id = ?1",
        )?
        .query_map(params![id], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?
        .next()
        .transpose()?;
    let Some((check, findings, Some(resolved_at), note)) = row else {
        return Ok(());
    };
    if note.trim().is_empty() {
        return Ok(());
    }
    let findings = match findings {
        Some(f) => findings_from_json(&f)?,
        None => Vec::new(),
    };
    let mut insert = tx.prepare_cached(
        "INSERT OR IGNORE INTO resolution_key (key, resolved_at, incident_id) VALUES (?1, ?2, ?3)",
    )?;
    for key in keys(&check, findings.iter().map(|f| f.code.as_str())) {
        insert.execute(params![key, resolved_at, id])?;
    }
    Ok(())
}

/// Schema version 21: files the hand resolutions kept before it.
pub(crate) fn backfill(tx: &Transaction<'_>) -> Result<(), Fail> {
    let ids: Vec<i64> = tx
        .prepare("SELECT incident_id FROM incident_resolution ORDER BY incident_id")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for id in ids {
        file(tx, id)?;
    }
    Ok(())
}

impl Store {
    /// The newest [`PAST_RESOLUTIONS`] hand resolutions with a note of
    /// `check` or of an incident sharing one of `codes`, newest first,
    /// resolved before `until` when given (a resolved incident's page
    /// shows what came before it, not after), leaving out incident
    /// `except` (the one being shown or notified).
    pub fn past_resolutions(
        &self,
        check: &CheckId,
        codes: &[&str],
        except: Option<i64>,
        until: Option<Timestamp>,
    ) -> Result<Vec<PastResolution>, StoreError> {
        let keys = keys(check.as_str(), codes.iter().copied());
        let except = except.unwrap_or(i64::MIN);
        let until = until.unwrap_or(i64::MAX);
        self.with_reader("read past resolutions", |conn| {
            // Per key through the primary key, newest first: each read
            // stops after a few rows whatever the history.
            let mut found: Vec<(Timestamp, i64)> = Vec::new();
            {
                let mut stmt = conn.prepare_cached(
                    "SELECT resolved_at, incident_id FROM resolution_key
                     WHERE key = ?1 AND resolved_at < ?4 AND incident_id <> ?2
                     ORDER BY resolved_at DESC, incident_id DESC LIMIT ?3",
                )?;
                for key in &keys {
                    let rows = stmt
                        .query_map(params![key, except, PAST_RESOLUTIONS as i64, until], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?;
                    for row in rows {
                        found.push(row?);
                    }
                }
            }
            found.sort_unstable_by(|a, b| b.cmp(a));
            found.dedup_by_key(|(_, id)| *id);
            found.truncate(PAST_RESOLUTIONS);
            let mut stmt = conn.prepare_cached(
                "SELECT c.key, i.opened_at, i.resolved_at, r.resolved_by, r.note
                 FROM incident i JOIN checks c ON c.id = i.check_id
                 JOIN incident_resolution r ON r.incident_id = i.id
                 WHERE i.id = ?1",
            )?;
            let mut out = Vec::with_capacity(found.len());
            for (_, id) in found {
                let row = stmt
                    .query_map(params![id], |r| {
                        Ok(PastResolution {
                            incident: id,
                            check: CheckId(r.get(0)?),
                            opened_at: r.get(1)?,
                            resolved_at: r.get::<_, Option<Timestamp>>(2)?.unwrap_or_default(),
                            by: r.get(3)?,
                            note: r.get(4)?,
                        })
                    })?
                    .next()
                    .transpose()?;
                out.extend(row);
            }
            Ok(out)
        })
    }
}

impl Store {
    /// Which of incidents `ids` are resolved, and when: a daemon adopts
    /// the resolutions `keepup resolve` wrote beside it.
    pub fn resolved_among(&self, ids: &[i64]) -> Result<Vec<(i64, Timestamp)>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = serde_json::Value::from(ids.to_vec()).to_string();
        self.with_reader("read resolved incidents", |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT id, resolved_at FROM incident
                 WHERE id IN (SELECT value FROM json_each(?1)) AND resolved_at IS NOT NULL
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![ids], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }
}

/// `text` as a `LIKE` pattern matching it anywhere, its own `%`, `_` and
/// `\` taken literally (with `ESCAPE '\'`).
pub(crate) fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{IncidentFilter, NewIncident};
    use keepup_model::{Finding, Severity, Status};

    fn open(s: &Store, check: &str, at: Timestamp, codes: &[&str]) -> i64 {
        s.open_incident(&NewIncident {
            check: CheckId(check.into()),
            status: Status::Down,
            opened_at: at,
            detected_at: at,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "down".into(),
            findings: codes
                .iter()
                .map(|c| Finding::new(*c, Severity::Critical, "x"))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn the_newest_three_noted_resolutions_of_the_check_or_its_codes_come_back() {
        let s = Store::open_in_memory().unwrap();
        let min = 60_000;
        let mut notes = Vec::new();
        // Five of the same check, resolved 12 minutes after opening.
        for n in 0..5 {
            let at = n * 100 * min;
            let id = open(&s, "shop/web", at, &[]);
            let note = format!("fix {n}");
            assert!(
                s.resolve_incident_by_hand(id, at + 12 * min, "alice", &note)
                    .unwrap()
            );
            notes.push(id);
        }
        // A resolution without a note is not remembered; nor one by recovery.
        let silent = open(&s, "shop/web", 600 * min, &[]);
        s.resolve_incident_by_hand(silent, 601 * min, "bob", "  ")
            .unwrap();
        let recovered = open(&s, "shop/web", 700 * min, &[]);
        s.resolve_incident(recovered, 701 * min).unwrap();
        // Another check sharing a code, newer than all.
        let other = open(&s, "blog/web", 800 * min, &["TLS_CERT_EXPIRED"]);
        s.resolve_incident_by_hand(other, 805 * min, "carol", "renewed the cert")
            .unwrap();
        let now = open(&s, "shop/web", 900 * min, &["TLS_CERT_EXPIRED"]);

        let past = s
            .past_resolutions(
                &CheckId("shop/web".into()),
                &["TLS_CERT_EXPIRED"],
                Some(now),
                None,
            )
            .unwrap();
        let got: Vec<_> = past.iter().map(|p| (p.incident, p.note.as_str())).collect();
        assert_eq!(
            got,
            [
                (other, "renewed the cert"),
                (notes[4], "fix 4"),
                (notes[3], "fix 3")
            ]
        );
        assert_eq!(past[1].repair_ms(), 12 * min);
        assert_eq!(past[0].by, "carol");
        assert_eq!(past[0].check.as_str(), "blog/web");
        // Without the code only the check's own.
        let past = s
            .past_resolutions(&CheckId("shop/web".into()), &[], Some(now), None)
            .unwrap();
        assert_eq!(
            past.iter().map(|p| p.incident).collect::<Vec<_>>(),
            [notes[4], notes[3], notes[2]]
        );
        // A resolved incident's page: only those resolved before it.
        let until = Some(3 * 100 * min + 12 * min);
        let past = s
            .past_resolutions(&CheckId("shop/web".into()), &[], Some(notes[3]), until)
            .unwrap();
        assert_eq!(
            past.iter().map(|p| p.incident).collect::<Vec<_>>(),
            [notes[2], notes[1], notes[0]]
        );
        // An unrelated check with an unrelated code remembers nothing.
        assert!(
            s.past_resolutions(&CheckId("x/y".into()), &["DNS_NS_LAME"], None, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn notes_are_required_bounded_and_plain() {
        assert_eq!(
            resolution_note("  restarted php-fpm\n"),
            Ok("restarted php-fpm".into())
        );
        assert_eq!(resolution_note(" \t "), Err(NoteRefused::Missing));
        let long = "é".repeat(MAX_RESOLUTION_NOTE + 1);
        assert_eq!(
            resolution_note(&long),
            Err(NoteRefused::TooLong(MAX_RESOLUTION_NOTE + 1))
        );
        assert!(resolution_note(&"é".repeat(MAX_RESOLUTION_NOTE)).is_ok());
        assert_eq!(resolution_note("a\u{1b}[31m"), Err(NoteRefused::Control));
        assert_eq!(
            NoteRefused::TooLong(2001).to_string(),
            "at most 2000 characters (this one has 2001)"
        );
    }

    #[test]
    fn search_finds_notes_and_messages_case_insensitively_wildcards_literal() {
        let s = Store::open_in_memory().unwrap();
        let a = open(&s, "shop/web", 1_000, &[]);
        s.resolve_incident_by_hand(a, 2_000, "alice", "Restarted PHP-FPM, pool 100% used")
            .unwrap();
        let b = open(&s, "shop/db", 3_000, &[]);
        s.resolve_incident_by_hand(b, 4_000, "bob", "vacuumed the disk")
            .unwrap();
        let search = |text: &str| {
            let filter = IncidentFilter {
                search: Some(text.into()),
                ..Default::default()
            };
            s.incidents_before(&filter, None, 10)
                .unwrap()
                .iter()
                .map(|(i, _)| i.id)
                .collect::<Vec<_>>()
        };
        assert_eq!(search("php-fpm"), [a]);
        assert_eq!(search("100%"), [a]);
        // `%` and `_` are literal: "0%u" is not in any note.
        assert_eq!(search("0%u"), Vec::<i64>::new());
        assert_eq!(search("_"), Vec::<i64>::new());
        // The incidents' messages too.
        assert_eq!(search("DOWN"), [b, a]);
    }

    #[test]
    fn a_store_of_version_20_files_its_noted_resolutions_when_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keepup.db");
        let (noted, later) = {
            let s = Store::open(&path).unwrap();
            let noted = open(&s, "shop/web", 1_000, &["HTTP_STATUS"]);
            s.resolve_incident_by_hand(noted, 2_000, "alice", "restarted php-fpm")
                .unwrap();
            (noted, open(&s, "shop/api", 3_000, &["HTTP_STATUS"]))
        };
        {
            // As version 20 left it: no memory table (nor what later
            // versions add).
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch(
                "DROP TABLE resolution_key; DROP TABLE sample; DROP TABLE agent_action;
                 DROP TABLE action_run; PRAGMA user_version = 20;",
            )
            .unwrap();
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), crate::SCHEMA_VERSION);
        let past = s
            .past_resolutions(
                &CheckId("shop/api".into()),
                &["HTTP_STATUS"],
                Some(later),
                None,
            )
            .unwrap();
        assert_eq!(
            past.iter()
                .map(|p| (p.incident, p.note.as_str()))
                .collect::<Vec<_>>(),
            [(noted, "restarted php-fpm")]
        );
    }
}
