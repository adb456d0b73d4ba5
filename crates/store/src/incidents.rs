//! Incidents: one row per outage of one check, from its first failed probe
//! to its recovery, with detection, acknowledgement and root cause.
//!
//! Incidents are the single source for alerting and, later, SLA
//! accounting, so they are written as they happen (each change is its own
//! committed transaction) and never rewritten except to acknowledge,
//! resolve or attribute them to a cause.

use crate::StoreError;
use crate::content::{findings_from_json, status_code, status_from_code};
use crate::error::Fail;
use crate::store::{Store, check_id};
use keepup_model::{CheckId, Finding, Status, Timestamp};
use rusqlite::{Row, params};

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Its number.
    pub id: i64,
    /// The failing check.
    pub check: CheckId,
    /// The confirmed status that opened it (Down, Degraded or Unknown).
    pub status: Status,
    /// The first failed probe: outages are timed from here.
    pub opened_at: Timestamp,
    /// When the failure was confirmed (after the failure threshold).
    pub detected_at: Timestamp,
    /// When someone acknowledged it.
    pub acknowledged_at: Option<Timestamp>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// When the check recovered.
    pub resolved_at: Option<Timestamp>,
    /// The incident of a parent check that caused this one.
    pub cause: Option<i64>,
    /// Notifications are suppressed (caused by a parent, or flapping).
    pub suppressed: bool,
    /// Opened during a maintenance window.
    pub maintenance: bool,
    /// The first failing outcome's message.
    pub message: String,
    /// The first failing outcome's findings.
    pub findings: Vec<Finding>,
}

impl Incident {
    /// Outage duration so far (or in total, once resolved).
    pub fn duration_ms(&self, now: Timestamp) -> i64 {
        self.resolved_at.unwrap_or(now) - self.opened_at
    }
}

/// What is known when an incident opens.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIncident {
    /// The failing check.
    pub check: CheckId,
    /// Its confirmed status.
    pub status: Status,
    /// First failed probe.
    pub opened_at: Timestamp,
    /// Confirmation time.
    pub detected_at: Timestamp,
    /// Parent incident that caused it, if known.
    pub cause: Option<i64>,
    /// Suppress notifications.
    pub suppressed: bool,
    /// During maintenance.
    pub maintenance: bool,
    /// First failing outcome's message.
    pub message: String,
    /// First failing outcome's findings.
    pub findings: Vec<Finding>,
}

/// An incident named in [`IncidentChanges`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentRef {
    /// One already in the store.
    Stored(i64),
    /// The one opened by `IncidentChanges::open[i]`.
    New(usize),
}

/// Everything one batch of results does to incidents, written as one
/// transaction by [`Store::apply_incident_changes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IncidentChanges {
    /// Incidents to resolve, and when.
    pub resolve: Vec<(i64, Timestamp)>,
    /// Incidents to open (a check with an open incident keeps that one).
    pub open: Vec<NewIncident>,
    /// Root causes to record: (incident, its cause, suppressed).
    pub causes: Vec<(IncidentRef, Option<IncidentRef>, bool)>,
}

impl IncidentChanges {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.resolve.is_empty() && self.open.is_empty() && self.causes.is_empty()
    }
}

/// Opens one incident inside the caller's transaction; a check that has
/// an open incident already gets that one back.
fn insert_open(
    tx: &rusqlite::Transaction<'_>,
    check_ids: &mut std::collections::HashMap<String, i64>,
    new: NewIncident,
) -> Result<Incident, Fail> {
    let cid = check_id(tx, check_ids, &new.check)?;
    let findings = if new.findings.is_empty() {
        None
    } else {
        Some(serde_json::to_string(&new.findings)?)
    };
    // The unique partial index keeps one open incident per check; a
    // conflict means one is open already.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO incident (check_id, status, opened_at, detected_at, cause_incident, suppressed, maintenance, message, findings)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (check_id) WHERE resolved_at IS NULL DO NOTHING",
        )?
        .execute(params![
            cid,
            status_code(new.status),
            new.opened_at,
            new.detected_at,
            new.cause,
            new.suppressed as i64,
            new.maintenance as i64,
            new.message,
            findings
        ])?;
    if inserted == 0 {
        let mut stmt = tx.prepare_cached(&format!(
            "{SELECT} WHERE i.check_id = ?1 AND i.resolved_at IS NULL"
        ))?;
        let mut rows = stmt.query(params![cid])?;
        return match rows.next()? {
            Some(r) => from_row(r),
            None => Err(Fail::Corrupt(
                "an open incident conflicts but cannot be read".into(),
            )),
        };
    }
    // The row is written: its fields move into the result.
    Ok(new.opened_as(tx.last_insert_rowid()))
}

impl NewIncident {
    /// The incident it becomes once opened as number `id`.
    pub fn opened_as(self, id: i64) -> Incident {
        Incident {
            id,
            check: self.check,
            status: self.status,
            opened_at: self.opened_at,
            detected_at: self.detected_at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            cause: self.cause,
            suppressed: self.suppressed,
            maintenance: self.maintenance,
            message: self.message,
            findings: self.findings,
        }
    }
}

const SELECT: &str = "SELECT i.id, c.key, i.status, i.opened_at, i.detected_at, i.acknowledged_at,
    i.acknowledged_by, i.resolved_at, i.cause_incident, i.suppressed, i.maintenance, i.message, i.findings
    FROM incident i JOIN checks c ON c.id = i.check_id";

/// The condition "the incident's check is one of the JSON array of keys in
/// the parameter `param`" (see [`check_keys`]).
fn in_checks(param: &str) -> String {
    format!("c.key IN (SELECT value FROM json_each({param}))")
}

/// `checks` as one parameter, whatever their number: a JSON array of keys.
fn check_keys(checks: &[CheckId]) -> String {
    serde_json::Value::from(checks.iter().map(|c| c.as_str()).collect::<Vec<_>>()).to_string()
}

fn from_row(row: &Row<'_>) -> Result<Incident, Fail> {
    let findings: Option<String> = row.get(12)?;
    Ok(Incident {
        id: row.get(0)?,
        check: CheckId(row.get(1)?),
        status: status_from_code(row.get(2)?)?,
        opened_at: row.get(3)?,
        detected_at: row.get(4)?,
        acknowledged_at: row.get(5)?,
        acknowledged_by: row.get(6)?,
        resolved_at: row.get(7)?,
        cause: row.get(8)?,
        suppressed: row.get::<_, i64>(9)? != 0,
        maintenance: row.get::<_, i64>(10)? != 0,
        message: row.get(11)?,
        findings: match findings {
            Some(f) => findings_from_json(&f)?,
            None => Vec::new(),
        },
    })
}

/// Who resolved an incident by hand, and the note they left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandResolution {
    /// The person (a dashboard user).
    pub by: String,
    /// What they wrote (may be empty).
    pub note: String,
}

/// Which incidents [`Store::incidents_before`] lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncidentFilter {
    /// Only this site's checks.
    pub site: Option<String>,
    /// Only this check.
    pub check: Option<CheckId>,
    /// Only open or only resolved ones.
    pub state: IncidentState,
    /// Only those whose resolution note or message contains this text
    /// (case-insensitive for ASCII letters; `%` and `_` are literal).
    pub search: Option<String>,
}

/// Which incidents a list shows, by state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncidentState {
    /// Open and resolved.
    #[default]
    Any,
    /// Not resolved yet.
    Open,
    /// Resolved.
    Resolved,
}

/// A page of incidents: open ones first, then newest first.
#[derive(Debug, Clone, Default)]
pub struct IncidentQuery {
    /// Only this site's checks.
    pub site: Option<String>,
    /// Only open or only resolved ones.
    pub state: IncidentState,
    /// Incidents to skip (earlier pages).
    pub offset: usize,
    /// At most this many.
    pub limit: usize,
}

impl Store {
    /// Opens an incident and returns its number. A check has at most one
    /// open incident: if one is open already, its number is returned.
    pub fn open_incident(&self, new: &NewIncident) -> Result<i64, StoreError> {
        let opened = self.open_incidents_batch(vec![new.clone()])?;
        opened
            .first()
            .map(|i| i.id)
            .ok_or_else(|| StoreError::Corrupt {
                path: self.path().to_owned(),
                op: "open incident",
                detail: "an open incident conflicts but cannot be read".into(),
            })
    }

    /// Opens many incidents in one transaction (a whole batch of results);
    /// returns them as stored, in the same order. A check that already has
    /// an open incident gets that one back.
    pub fn open_incidents_batch(
        &self,
        news: Vec<NewIncident>,
    ) -> Result<Vec<Incident>, StoreError> {
        self.with_state("open incidents", |st| {
            let tx = st.conn.transaction()?;
            let mut out = Vec::with_capacity(news.len());
            for new in news {
                out.push(insert_open(&tx, &mut st.check_ids, new)?);
            }
            tx.commit()?;
            Ok(out)
        })
    }

    /// Applies what one batch of results did to incidents in one
    /// transaction: resolutions, openings, then causes (which may name an
    /// incident this batch opens). Either all of it is stored or none, so
    /// a failing store never leaves half a batch behind. Returns the
    /// opened incidents as stored, in order, causes included.
    pub fn apply_incident_changes(
        &self,
        changes: IncidentChanges,
    ) -> Result<Vec<Incident>, StoreError> {
        self.with_state("record incident changes", |st| {
            let tx = st.conn.transaction()?;
            for (id, at) in &changes.resolve {
                tx.prepare_cached(
                    "UPDATE incident SET resolved_at = ?2 WHERE id = ?1 AND resolved_at IS NULL",
                )?
                .execute(params![id, at])?;
            }
            let mut opened = Vec::with_capacity(changes.open.len());
            for new in changes.open {
                opened.push(insert_open(&tx, &mut st.check_ids, new)?);
            }
            let resolve = |r: &IncidentRef| -> Result<i64, Fail> {
                match r {
                    IncidentRef::Stored(id) => Ok(*id),
                    IncidentRef::New(i) => opened.get(*i).map(|inc| inc.id).ok_or_else(|| {
                        Fail::Corrupt(format!(
                            "cause refers to new incident {i} of {}",
                            opened.len()
                        ))
                    }),
                }
            };
            let mut set = Vec::with_capacity(changes.causes.len());
            for (target, cause, suppressed) in &changes.causes {
                let cause = cause.as_ref().map(&resolve).transpose()?;
                set.push((resolve(target)?, cause, *suppressed));
            }
            for (id, cause, suppressed) in &set {
                tx.prepare_cached(
                    "UPDATE incident SET cause_incident = ?2, suppressed = ?3 WHERE id = ?1",
                )?
                .execute(params![id, cause, *suppressed as i64])?;
            }
            tx.commit()?;
            for (id, cause, suppressed) in set {
                if let Some(inc) = opened.iter_mut().find(|i| i.id == id) {
                    inc.cause = cause;
                    inc.suppressed = suppressed;
                }
            }
            Ok(opened)
        })
    }

    /// Resolves an incident; returns false if it was already resolved.
    pub fn resolve_incident(&self, id: i64, at: Timestamp) -> Result<bool, StoreError> {
        self.with_state("resolve incident", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "UPDATE incident SET resolved_at = ?2 WHERE id = ?1 AND resolved_at IS NULL",
                )?
                .execute(params![id, at])?;
            Ok(n == 1)
        })
    }

    /// Resolves an open incident by hand, recording who did and their
    /// note in the same transaction; returns false when it is unknown or
    /// already resolved (nothing is written then).
    pub fn resolve_incident_by_hand(
        &self,
        id: i64,
        at: Timestamp,
        by: &str,
        note: &str,
    ) -> Result<bool, StoreError> {
        self.with_state("resolve incident by hand", |st| {
            let tx = st.conn.transaction()?;
            let n = tx
                .prepare_cached(
                    "UPDATE incident SET resolved_at = ?2 WHERE id = ?1 AND resolved_at IS NULL",
                )?
                .execute(params![id, at])?;
            if n == 1 {
                tx.prepare_cached(
                    "INSERT INTO incident_resolution (incident_id, resolved_by, note) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![id, by, note])?;
                crate::resolutions::file(&tx, id)?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    /// Who resolved incident `id` by hand and their note; None when its
    /// check's recovery resolved it (or it is open).
    pub fn incident_resolution(&self, id: i64) -> Result<Option<HandResolution>, StoreError> {
        self.with_state("read incident resolution", |st| {
            let mut stmt = st.conn.prepare_cached(
                "SELECT resolved_by, note FROM incident_resolution WHERE incident_id = ?1",
            )?;
            let mut rows = stmt.query(params![id])?;
            match rows.next()? {
                Some(r) => Ok(Some(HandResolution {
                    by: r.get(0)?,
                    note: r.get(1)?,
                })),
                None => Ok(None),
            }
        })
    }

    /// A page of incidents as `query` says: open ones first, then by
    /// opening time, newest first.
    pub fn incident_page(&self, query: &IncidentQuery) -> Result<Vec<Incident>, StoreError> {
        let state = match query.state {
            IncidentState::Any => "",
            IncidentState::Open => " AND i.resolved_at IS NULL",
            IncidentState::Resolved => " AND i.resolved_at IS NOT NULL",
        };
        self.query_incidents(
            "list a page of incidents",
            &format!(
                "{SELECT} WHERE (?1 IS NULL OR c.site = ?1){state}
                 ORDER BY i.resolved_at IS NULL DESC, i.opened_at DESC, i.id DESC LIMIT ?2 OFFSET ?3"
            ),
            params![
                query.site,
                query.limit.min(10_000) as i64,
                query.offset.min(i64::MAX as usize) as i64
            ],
        )
    }

    /// Incidents as `filter` says, newest first (by opening time, then
    /// number), at most `limit`, older than `before` (the opening time and
    /// number of the last incident of the previous page), each with who
    /// resolved it by hand, if someone did (read in the same query, not
    /// one more per row). Unlike [`Store::incident_page`]'s offsets, such a
    /// position does not move when incidents open between two pages, so a
    /// client walking the list (the JSON API) neither skips nor repeats one.
    pub fn incidents_before(
        &self,
        filter: &IncidentFilter,
        before: Option<(Timestamp, i64)>,
        limit: usize,
    ) -> Result<Vec<(Incident, Option<HandResolution>)>, StoreError> {
        let (before_at, before_id) = before.unwrap_or((i64::MAX, i64::MAX));
        let state = match filter.state {
            IncidentState::Any => "",
            IncidentState::Open => " AND i.resolved_at IS NULL",
            IncidentState::Resolved => " AND i.resolved_at IS NOT NULL",
        };
        // The page first, then its resolutions joined to it: the columns
        // of `from_row` stay in place and the hand resolution follows them.
        let sql = format!(
            "SELECT p.*, r.resolved_by, r.note FROM (
               {SELECT} WHERE (i.opened_at < ?1 OR (i.opened_at = ?1 AND i.id < ?2))
                 AND (?3 IS NULL OR c.site = ?3) AND (?4 IS NULL OR c.key = ?4){state}
                 AND (?6 IS NULL OR i.message LIKE ?6 ESCAPE '\\'
                   OR EXISTS (SELECT 1 FROM incident_resolution s
                              WHERE s.incident_id = i.id AND s.note LIKE ?6 ESCAPE '\\'))
               ORDER BY i.opened_at DESC, i.id DESC LIMIT ?5) p
             LEFT JOIN incident_resolution r ON r.incident_id = p.id
             ORDER BY p.opened_at DESC, p.id DESC"
        );
        self.with_reader("list incidents before a position", |conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let mut rows = stmt.query(params![
                before_at,
                before_id,
                filter.site,
                filter.check.as_ref().map(|c| c.as_str()),
                limit.min(10_000) as i64,
                filter
                    .search
                    .as_deref()
                    .map(crate::resolutions::like_pattern)
            ])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let by: Option<String> = r.get(13)?;
                let by_hand = match by {
                    Some(by) => Some(HandResolution {
                        by,
                        note: r.get(14)?,
                    }),
                    None => None,
                };
                out.push((from_row(r)?, by_hand));
            }
            Ok(out)
        })
    }

    /// The incidents recorded as caused by incident `id`, oldest first.
    pub fn incidents_caused_by(&self, id: i64) -> Result<Vec<Incident>, StoreError> {
        self.query_incidents(
            "list caused incidents",
            &format!("{SELECT} WHERE i.cause_incident = ?1 ORDER BY i.opened_at, i.id"),
            params![id],
        )
    }

    /// Acknowledges an open, unacknowledged incident; returns false when it
    /// is unknown, resolved or already acknowledged.
    pub fn acknowledge_incident(
        &self,
        id: i64,
        at: Timestamp,
        by: &str,
    ) -> Result<bool, StoreError> {
        self.with_state("acknowledge incident", |st| {
            let n = st
                .conn
                .prepare_cached(
                    "UPDATE incident SET acknowledged_at = ?2, acknowledged_by = ?3
                     WHERE id = ?1 AND resolved_at IS NULL AND acknowledged_at IS NULL",
                )?
                .execute(params![id, at, by])?;
            Ok(n == 1)
        })
    }

    /// Records (or clears) the root cause of an incident and whether its
    /// notifications are suppressed.
    pub fn set_incident_cause(
        &self,
        id: i64,
        cause: Option<i64>,
        suppressed: bool,
    ) -> Result<(), StoreError> {
        self.with_state("set incident cause", |st| {
            st.conn
                .prepare_cached(
                    "UPDATE incident SET cause_incident = ?2, suppressed = ?3 WHERE id = ?1",
                )?
                .execute(params![id, cause, suppressed as i64])?;
            Ok(())
        })
    }

    /// One incident.
    pub fn incident(&self, id: i64) -> Result<Option<Incident>, StoreError> {
        self.with_state("read incident", |st| {
            let mut stmt = st
                .conn
                .prepare_cached(&format!("{SELECT} WHERE i.id = ?1"))?;
            let mut rows = stmt.query(params![id])?;
            match rows.next()? {
                Some(r) => Ok(Some(from_row(r)?)),
                None => Ok(None),
            }
        })
    }

    /// The ids of open incidents that someone acknowledged (one query, for
    /// the escalation clock).
    pub fn open_acknowledged(&self) -> Result<std::collections::HashSet<i64>, StoreError> {
        self.id_set(
            "list acknowledged incidents",
            "SELECT id FROM incident WHERE resolved_at IS NULL AND acknowledged_at IS NOT NULL",
        )
    }

    /// How many incidents were ever opened (incidents are never deleted).
    pub fn incident_count(&self) -> Result<u64, StoreError> {
        self.with_state("count incidents", |st| {
            let n: i64 = st
                .conn
                .prepare_cached("SELECT count(*) FROM incident")?
                .query_row([], |r| r.get(0))?;
            Ok(n.max(0) as u64)
        })
    }

    /// Every open incident, oldest first.
    pub fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
        self.query_incidents(
            "list open incidents",
            &format!("{SELECT} WHERE i.resolved_at IS NULL ORDER BY i.opened_at, i.id"),
            params![],
        )
    }

    /// Incidents that overlap `[from, to)`, newest first, at most `limit`.
    pub fn incidents(
        &self,
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.query_incidents(
            "list incidents",
            &format!(
                "{SELECT} WHERE i.opened_at < ?2 AND (i.resolved_at IS NULL OR i.resolved_at >= ?1)
                 ORDER BY i.opened_at DESC, i.id DESC LIMIT ?3"
            ),
            params![from, to, limit.min(i64::MAX as usize) as i64],
        )
    }

    /// The incidents of `checks` for a status page: every open one,
    /// however old, and the `limit` newest of those that opened in `[from,
    /// to)` and are resolved, newest first. Both reads use an index of the
    /// named checks, so neither other checks' incidents nor older history
    /// are walked, and a flood of recent incidents never hides an open one.
    pub fn incidents_of_checks(
        &self,
        checks: &[CheckId],
        from: Timestamp,
        to: Timestamp,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let keys = check_keys(checks);
        let in_checks = in_checks("?1");
        let mut out = self.query_incidents(
            "list open incidents of checks",
            &format!("{SELECT} WHERE {in_checks} AND i.resolved_at IS NULL"),
            params![keys],
        )?;
        out.extend(self.query_incidents(
            "list recent incidents of checks",
            &format!(
                "{SELECT} WHERE {in_checks} AND i.opened_at >= ?2 AND i.opened_at < ?3
                   AND i.resolved_at IS NOT NULL
                 ORDER BY i.opened_at DESC, i.id DESC LIMIT ?4"
            ),
            params![keys, from, to, limit.min(i64::MAX as usize) as i64],
        )?);
        out.sort_by_key(|i| std::cmp::Reverse((i.opened_at, i.id)));
        Ok(out)
    }

    /// The incidents of `checks` that overlap `[from, to)` (opened before
    /// `to`, and still open or resolved after `from`), oldest first, for SLA
    /// accounting. Times are as stored: the caller clips them to its period.
    pub fn incidents_overlapping(
        &self,
        checks: &[CheckId],
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Incident>, StoreError> {
        // The named checks' incidents through `incident_by_check`, not
        // every incident opened before `to` filtered afterwards: a check
        // page or a contract reads its own few among thousands.
        self.query_incidents(
            "incidents overlapping",
            &format!(
                "{SELECT} WHERE {} AND i.opened_at < ?2
                   AND (i.resolved_at IS NULL OR i.resolved_at > ?1)
                 ORDER BY i.opened_at, i.id",
                in_checks("?3")
            ),
            params![from, to, check_keys(checks)],
        )
    }

    fn query_incidents(
        &self,
        op: &'static str,
        sql: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<Incident>, StoreError> {
        self.with_reader(op, |conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let mut rows = stmt.query(args)?;
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
    use keepup_model::Severity;

    fn new(check: &str, at: Timestamp) -> NewIncident {
        NewIncident {
            check: CheckId(check.into()),
            status: Status::Down,
            opened_at: at,
            detected_at: at + 60_000,
            cause: None,
            suppressed: false,
            maintenance: false,
            message: "connection refused".into(),
            findings: vec![Finding::new(
                "TCP_CONNECT_FAILED",
                Severity::Critical,
                "refused",
            )],
        }
    }

    #[test]
    fn a_hand_resolution_keeps_who_and_the_note_and_pages_list_open_first() {
        let s = Store::open_in_memory().unwrap();
        let old = s.open_incident(&new("shop/web", 1_000)).unwrap();
        let other = s.open_incident(&new("blog/web", 2_000)).unwrap();
        let open = s.open_incident(&new("shop/db", 500)).unwrap();
        assert!(s.resolve_incident(old, 3_000).unwrap());
        assert!(
            s.resolve_incident_by_hand(other, 4_000, "alice", "rebooted")
                .unwrap()
        );
        assert!(
            !s.resolve_incident_by_hand(other, 5_000, "bob", "again")
                .unwrap(),
            "resolved once"
        );
        assert_eq!(
            s.incident_resolution(other).unwrap(),
            Some(HandResolution {
                by: "alice".into(),
                note: "rebooted".into()
            })
        );
        assert_eq!(s.incident_resolution(old).unwrap(), None);
        assert_eq!(s.incident(other).unwrap().unwrap().resolved_at, Some(4_000));
        let page = |site: Option<&str>, state, offset, limit| {
            s.incident_page(&IncidentQuery {
                site: site.map(str::to_owned),
                state,
                offset,
                limit,
            })
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>()
        };
        // The open one first although it is the oldest, then newest first.
        assert_eq!(page(None, IncidentState::Any, 0, 10), [open, other, old]);
        assert_eq!(page(None, IncidentState::Any, 1, 1), [other]);
        assert_eq!(page(Some("shop"), IncidentState::Any, 0, 10), [open, old]);
        assert_eq!(page(None, IncidentState::Resolved, 0, 10), [other, old]);
        assert_eq!(
            page(Some("blog"), IncidentState::Open, 0, 10),
            Vec::<i64>::new()
        );
        s.set_incident_cause(other, Some(open), true).unwrap();
        assert_eq!(
            s.incidents_caused_by(open)
                .unwrap()
                .iter()
                .map(|i| i.id)
                .collect::<Vec<_>>(),
            [other]
        );
    }

    #[test]
    fn an_incident_lives_from_open_to_ack_to_resolve() {
        let s = Store::open_in_memory().unwrap();
        let id = s.open_incident(&new("shop/web", 1_000)).unwrap();
        assert_eq!(
            s.open_incident(&new("shop/web", 2_000)).unwrap(),
            id,
            "one open incident per check"
        );
        assert!(s.open_acknowledged().unwrap().is_empty());
        assert!(s.acknowledge_incident(id, 5_000, "alice").unwrap());
        assert_eq!(s.open_acknowledged().unwrap(), [id].into());
        assert!(
            !s.acknowledge_incident(id, 6_000, "bob").unwrap(),
            "acknowledged once"
        );
        let open = s.open_incidents().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!(open[0].acknowledged_by.as_deref(), Some("alice"));
        assert_eq!(open[0].findings[0].code, "TCP_CONNECT_FAILED");
        assert!(s.resolve_incident(id, 601_000).unwrap());
        assert!(!s.resolve_incident(id, 700_000).unwrap());
        let i = s.incident(id).unwrap().unwrap();
        assert_eq!(i.duration_ms(0), 600_000);
        assert!(s.open_incidents().unwrap().is_empty());
        assert!(
            !s.acknowledge_incident(id, 800_000, "carol").unwrap(),
            "resolved incidents are not acknowledged"
        );
        let next = s.open_incident(&new("shop/web", 900_000)).unwrap();
        assert_ne!(next, id, "a new outage is a new incident");
    }

    #[test]
    fn causes_and_ranges() {
        let s = Store::open_in_memory().unwrap();
        let parent = s.open_incident(&new("shop/dns", 1_000)).unwrap();
        let child = s
            .open_incident(&NewIncident {
                cause: Some(parent),
                suppressed: true,
                ..new("shop/web", 2_000)
            })
            .unwrap();
        let c = s.incident(child).unwrap().unwrap();
        assert_eq!((c.cause, c.suppressed), (Some(parent), true));
        s.set_incident_cause(child, None, false).unwrap();
        let c = s.incident(child).unwrap().unwrap();
        assert_eq!((c.cause, c.suppressed), (None, false));
        s.resolve_incident(parent, 10_000).unwrap();
        assert_eq!(s.incidents(0, 5_000, 10).unwrap().len(), 2);
        assert_eq!(
            s.incidents(20_000, 30_000, 10).unwrap().len(),
            1,
            "the open child overlaps any later range"
        );
        assert!(s.incident(999).unwrap().is_none());
    }

    #[test]
    fn incidents_before_a_position_follow_the_filter_and_do_not_shift() {
        let s = Store::open_in_memory().unwrap();
        // Two incidents open at the same millisecond: the number breaks the tie.
        let a = s.open_incident(&new("shop/web", 1_000)).unwrap();
        let b = s.open_incident(&new("shop/db", 1_000)).unwrap();
        let c = s.open_incident(&new("blog/web", 2_000)).unwrap();
        assert!(
            s.resolve_incident_by_hand(a, 3_000, "alice", "fixed")
                .unwrap()
        );
        let ids = |v: Vec<(Incident, Option<HandResolution>)>| {
            v.iter().map(|(i, _)| i.id).collect::<Vec<_>>()
        };
        let all = IncidentFilter::default();
        let first = s.incidents_before(&all, None, 2).unwrap();
        let last = first.last().map(|(i, _)| (i.opened_at, i.id));
        assert_eq!(ids(first), [c, b]);
        // An incident opening between two pages does not shift the next one.
        s.open_incident(&new("blog/db", 4_000)).unwrap();
        assert_eq!(ids(s.incidents_before(&all, last, 2).unwrap()), [a]);
        let shop = IncidentFilter {
            site: Some("shop".into()),
            ..IncidentFilter::default()
        };
        assert_eq!(ids(s.incidents_before(&shop, None, 10).unwrap()), [b, a]);
        let open_shop = IncidentFilter {
            state: IncidentState::Open,
            ..shop
        };
        assert_eq!(ids(s.incidents_before(&open_shop, None, 10).unwrap()), [b]);
        let resolved_web = IncidentFilter {
            check: Some(CheckId("shop/web".into())),
            state: IncidentState::Resolved,
            ..IncidentFilter::default()
        };
        let resolved = s.incidents_before(&resolved_web, None, 10).unwrap();
        assert_eq!(
            resolved[0].1,
            Some(HandResolution {
                by: "alice".into(),
                note: "fixed".into()
            }),
            "each row carries who resolved it by hand"
        );
        assert_eq!(ids(resolved), [a]);
        let open_first = s.incidents_before(&all, None, 1).unwrap();
        assert_eq!(open_first[0].1, None, "an open incident has no resolution");
    }
}
