//! Public updates of incidents: what the people running a shop tell its
//! customers on the status page ("investigating: the payment provider
//! answers slowly"), as opposed to the incident's own message and
//! findings, which stay internal.
//!
//! An update is checked when it is made ([`NewStatusUpdate::new`]: a known
//! status, a text that is neither empty nor longer than
//! [`MAX_UPDATE_TEXT`], an author), so the web form and the command line
//! refuse the same input with the same words. Updates are never edited:
//! a correction is a new update.

use crate::StoreError;
use crate::error::Fail;
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::{Row, params};

/// Longest public text, in characters: a few paragraphs, not a log.
pub const MAX_UPDATE_TEXT: usize = 5_000;
/// Longest author name, in characters.
pub const MAX_UPDATE_AUTHOR: usize = 100;

/// Where an incident stands, as told to the public.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpdateStatus {
    /// The cause is being looked for.
    Investigating,
    /// The cause is known, a fix is under way.
    Identified,
    /// A fix is in place and being watched.
    Monitoring,
    /// Over.
    Resolved,
}

impl UpdateStatus {
    /// Every status, in the order an incident usually goes through them.
    pub const ALL: [UpdateStatus; 4] = [
        UpdateStatus::Investigating,
        UpdateStatus::Identified,
        UpdateStatus::Monitoring,
        UpdateStatus::Resolved,
    ];

    /// Stable lowercase name (stored, in URLs, JSON and the CLI).
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateStatus::Investigating => "investigating",
            UpdateStatus::Identified => "identified",
            UpdateStatus::Monitoring => "monitoring",
            UpdateStatus::Resolved => "resolved",
        }
    }

    /// The status named `name` (as [`UpdateStatus::as_str`] writes it).
    pub fn parse(name: &str) -> Option<UpdateStatus> {
        UpdateStatus::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// Why an update was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidUpdate {
    /// `status` is not one of the four.
    #[error("status: {0:?} is not one of investigating, identified, monitoring, resolved")]
    Status(String),
    /// `text` is empty or blank.
    #[error("text: empty")]
    EmptyText,
    /// `text` is too long.
    #[error("text: {0} characters, at most {MAX_UPDATE_TEXT}")]
    TextTooLong(usize),
    /// `author` is empty or too long.
    #[error("author: must be 1 to {MAX_UPDATE_AUTHOR} characters")]
    Author,
}

/// A checked update, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewStatusUpdate {
    incident: i64,
    at: Timestamp,
    status: UpdateStatus,
    text: String,
    author: String,
}

impl NewStatusUpdate {
    /// Checks an update of `incident` made at `at`; the text is kept as
    /// written apart from surrounding white space.
    pub fn new(
        incident: i64,
        at: Timestamp,
        status: &str,
        text: &str,
        author: &str,
    ) -> Result<NewStatusUpdate, InvalidUpdate> {
        let status = UpdateStatus::parse(status.trim())
            .ok_or_else(|| InvalidUpdate::Status(status.into()))?;
        let text = text.trim();
        if text.is_empty() {
            return Err(InvalidUpdate::EmptyText);
        }
        let chars = text.chars().count();
        if chars > MAX_UPDATE_TEXT {
            return Err(InvalidUpdate::TextTooLong(chars));
        }
        let author = author.trim();
        if author.is_empty() || author.chars().count() > MAX_UPDATE_AUTHOR {
            return Err(InvalidUpdate::Author);
        }
        Ok(NewStatusUpdate {
            incident,
            at,
            status,
            text: text.to_owned(),
            author: author.to_owned(),
        })
    }
}

/// A public update as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// Its number.
    pub id: i64,
    /// The incident it is about.
    pub incident: i64,
    /// When it was posted.
    pub at: Timestamp,
    /// Where the incident stands.
    pub status: UpdateStatus,
    /// What the public is told.
    pub text: String,
    /// Who posted it (shown to operators, not on the public page).
    pub author: String,
}

fn from_row(r: &Row<'_>) -> Result<StatusUpdate, Fail> {
    let status: String = r.get(3)?;
    Ok(StatusUpdate {
        id: r.get(0)?,
        incident: r.get(1)?,
        at: r.get(2)?,
        status: UpdateStatus::parse(&status)
            .ok_or_else(|| Fail::Corrupt(format!("unknown update status {status:?}")))?,
        text: r.get(4)?,
        author: r.get(5)?,
    })
}

impl Store {
    /// Stores a public update; its number, or None when there is no such
    /// incident.
    pub fn add_status_update(&self, update: &NewStatusUpdate) -> Result<Option<i64>, StoreError> {
        self.with_state("add status update", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "INSERT INTO status_update (incident_id, at, status, text, author)
                     SELECT id, ?2, ?3, ?4, ?5 FROM incident WHERE id = ?1",
                )?
                .execute(params![
                    update.incident,
                    update.at,
                    update.status.as_str(),
                    update.text,
                    update.author
                ])?;
            Ok((n == 1).then(|| st.conn.last_insert_rowid()))
        })
    }

    /// The public updates posted at or after `since`, oldest first (a
    /// status page reads its window of history in one query).
    pub fn status_updates_since(&self, since: Timestamp) -> Result<Vec<StatusUpdate>, StoreError> {
        self.query_updates("list status updates", "at >= ?1", since)
    }

    /// The public updates of one incident, oldest first.
    pub fn status_updates_of(&self, incident: i64) -> Result<Vec<StatusUpdate>, StoreError> {
        self.query_updates(
            "list an incident's status updates",
            "incident_id = ?1",
            incident,
        )
    }

    fn query_updates(
        &self,
        op: &'static str,
        condition: &str,
        arg: i64,
    ) -> Result<Vec<StatusUpdate>, StoreError> {
        self.with_state(op, |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "SELECT id, incident_id, at, status, text, author FROM status_update
                 WHERE {condition} ORDER BY at, id"
            ))?;
            let mut rows = stmt.query(params![arg])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(from_row(r)?);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewIncident;
    use keepup_model::{CheckId, Status};

    fn incident(s: &Store) -> i64 {
        s.open_incident(&NewIncident {
            check: CheckId::new("shop", "web"),
            status: Status::Down,
            opened_at: 1_000,
            detected_at: 2_000,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "connection refused".into(),
            findings: Vec::new(),
        })
        .unwrap()
    }

    #[test]
    fn updates_are_stored_per_incident_in_order() {
        let s = Store::open_in_memory().unwrap();
        let id = incident(&s);
        let first =
            NewStatusUpdate::new(id, 5_000, "investigating", " Looking. ", "alice").unwrap();
        let second = NewStatusUpdate::new(id, 9_000, "resolved", "Fixed.", "bob").unwrap();
        assert!(s.add_status_update(&second).unwrap().is_some());
        assert!(s.add_status_update(&first).unwrap().is_some());
        let got = s.status_updates_of(id).unwrap();
        assert_eq!(
            got.iter()
                .map(|u| (u.at, u.status, u.text.as_str(), u.author.as_str()))
                .collect::<Vec<_>>(),
            [
                (5_000, UpdateStatus::Investigating, "Looking.", "alice"),
                (9_000, UpdateStatus::Resolved, "Fixed.", "bob")
            ]
        );
        assert_eq!(s.status_updates_since(6_000).unwrap().len(), 1);
        assert!(s.status_updates_of(id + 1).unwrap().is_empty());
    }

    #[test]
    fn an_update_of_a_missing_incident_is_not_stored() {
        let s = Store::open_in_memory().unwrap();
        let u = NewStatusUpdate::new(42, 5_000, "identified", "x", "alice").unwrap();
        assert_eq!(s.add_status_update(&u).unwrap(), None);
        assert!(s.status_updates_since(0).unwrap().is_empty());
    }

    #[test]
    fn bad_updates_are_refused_naming_the_field() {
        let e = |status: &str, text: &str, author: &str| {
            NewStatusUpdate::new(1, 0, status, text, author)
                .unwrap_err()
                .to_string()
        };
        assert!(e("fixed", "x", "a").starts_with("status:"));
        assert!(e("resolved", "  ", "a").starts_with("text:"));
        assert!(e("resolved", &"é".repeat(MAX_UPDATE_TEXT + 1), "a").starts_with("text:"));
        assert!(e("resolved", "x", "").starts_with("author:"));
        assert!(NewStatusUpdate::new(1, 0, "resolved", &"é".repeat(MAX_UPDATE_TEXT), "a").is_ok());
    }
}
