//! SLA reports the daemon kept when their contract's period closed, and
//! the e-mails that send them.
//!
//! A report is kept once per contract and period (`UNIQUE (contract,
//! period)`), its HTML, CSV and JSON compressed with zstd. [`Store::keep_report`]
//! writes the report and its outbox entries in one transaction, so a crash
//! either leaves neither (the period is closed again after the restart) or
//! both (the outbox sends each mail at least once, and the report is never
//! built and mailed a second time). `sla_report_mail` says which outbox
//! entry carries which report: the entry's payload stays a small
//! notification and the delivery loop attaches the files when it sends.
//! `sla_contract` remembers when the daemon first saw each contract, so a
//! contract added to a store with years of history does not get a report
//! mailed for every period it never promised anything in.

use crate::StoreError;
use crate::error::Fail;
use crate::outbox::{Outgoing, insert};
use crate::store::Store;
use keepup_model::Timestamp;
use rusqlite::{OptionalExtension, Row, params};

/// zstd's level for kept reports: text compresses ~10× at this level, and
/// a month's report is compressed once.
const LEVEL: i32 = 9;
/// The largest file decompressed from the store (a kept file is bounded
/// when it is kept; this guards against a corrupt row).
const MAX_FILE_BYTES: usize = 512 << 20;

/// The three renderings of one report.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReportFiles {
    /// The self-contained HTML page.
    pub html: Vec<u8>,
    /// `section,row,field,value` lines.
    pub csv: Vec<u8>,
    /// The report as JSON.
    pub json: Vec<u8>,
}

/// One of a kept report's three renderings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// The self-contained HTML page.
    Html,
    /// `section,row,field,value` lines.
    Csv,
    /// The report as JSON.
    Json,
}

impl ReportFormat {
    /// Every format, in the order the report lists them.
    pub const ALL: [ReportFormat; 3] = [ReportFormat::Html, ReportFormat::Csv, ReportFormat::Json];

    /// Its file name extension: `html`, `csv`, `json`.
    pub fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
        }
    }

    /// The format whose extension is `ext`.
    pub fn from_extension(ext: &str) -> Option<ReportFormat> {
        ReportFormat::ALL.into_iter().find(|f| f.extension() == ext)
    }
}

/// A report to keep.
#[derive(Debug, Clone, Copy)]
pub struct NewReport<'a> {
    /// The contract's id.
    pub contract: &'a str,
    /// The period's name (`2026-10`, `2026-Q4`).
    pub period: &'a str,
    /// The period's start.
    pub from: Timestamp,
    /// The period's end (exclusive).
    pub to: Timestamp,
    /// When it was built.
    pub generated_at: Timestamp,
    /// Its files.
    pub files: &'a ReportFiles,
}

/// A kept report, without its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptReport {
    /// Its number.
    pub id: i64,
    /// The contract's id.
    pub contract: String,
    /// The period's name.
    pub period: String,
    /// The period's start.
    pub from: Timestamp,
    /// The period's end (exclusive).
    pub to: Timestamp,
    /// When it was built.
    pub generated_at: Timestamp,
    /// Compressed bytes stored (all three files).
    pub stored_bytes: i64,
}

const COLUMNS: &str = "id, contract, period, from_ms, to_ms, generated_at,
    length(html) + length(csv) + length(json)";

fn from_row(r: &Row<'_>) -> Result<KeptReport, rusqlite::Error> {
    Ok(KeptReport {
        id: r.get(0)?,
        contract: r.get(1)?,
        period: r.get(2)?,
        from: r.get(3)?,
        to: r.get(4)?,
        generated_at: r.get(5)?,
        stored_bytes: r.get(6)?,
    })
}

fn compress(data: &[u8]) -> Result<Vec<u8>, Fail> {
    zstd::bulk::compress(data, LEVEL).map_err(|e| Fail::Corrupt(format!("cannot compress: {e}")))
}

fn decompress(data: &[u8], what: &str) -> Result<Vec<u8>, Fail> {
    zstd::bulk::decompress(data, MAX_FILE_BYTES)
        .map_err(|e| Fail::Corrupt(format!("the kept report's {what}: {e}")))
}

impl Store {
    /// Keeps `report` and, in the same transaction, enqueues `mail` (one
    /// entry per recipient channel) as the notifications that send it.
    /// Returns the report's number, or `None` when a report of this
    /// contract and period was kept already (nothing is written then, so
    /// it is never mailed twice).
    pub fn keep_report(
        &self,
        report: &NewReport<'_>,
        mail: &[Outgoing],
    ) -> Result<Option<i64>, StoreError> {
        let html = compress(&report.files.html);
        let csv = compress(&report.files.csv);
        let json = compress(&report.files.json);
        self.with_state("keep an SLA report", |st| {
            let (html, csv, json) = (html?, csv?, json?);
            let tx = st.conn.transaction()?;
            let inserted = tx
                .prepare_cached(
                    "INSERT INTO sla_report (contract, period, from_ms, to_ms, generated_at, html, csv, json)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (contract, period) DO NOTHING",
                )?
                .execute(params![
                    report.contract,
                    report.period,
                    report.from,
                    report.to,
                    report.generated_at,
                    html,
                    csv,
                    json
                ])?;
            if inserted == 0 {
                return Ok(None);
            }
            let id = tx.last_insert_rowid();
            for outbox in insert(&tx, report.generated_at, mail)? {
                tx.prepare_cached(
                    "INSERT INTO sla_report_mail (outbox_id, report_id) VALUES (?1, ?2)",
                )?
                .execute(params![outbox, id])?;
            }
            tx.commit()?;
            Ok(Some(id))
        })
    }

    /// Enqueues `copy`, the fallback of outbox entry `of`, in one
    /// transaction with what `of` carries: a copy of a report's mail
    /// mails the same report.
    pub fn enqueue_fallback(
        &self,
        now: Timestamp,
        of: i64,
        copy: &Outgoing,
    ) -> Result<i64, StoreError> {
        self.with_state("enqueue a fallback notification", |st| {
            let tx = st.conn.transaction()?;
            let ids = insert(&tx, now, std::slice::from_ref(copy))?;
            let id = ids
                .first()
                .copied()
                .ok_or_else(|| Fail::Corrupt("no outbox id for the fallback".into()))?;
            tx.prepare_cached(
                "INSERT INTO sla_report_mail (outbox_id, report_id)
                 SELECT ?2, report_id FROM sla_report_mail WHERE outbox_id = ?1",
            )?
            .execute(params![of, id])?;
            tx.commit()?;
            Ok(id)
        })
    }

    /// The kept reports, by contract, oldest period first.
    pub fn kept_reports(&self) -> Result<Vec<KeptReport>, StoreError> {
        self.with_state("list SLA reports", |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM sla_report ORDER BY contract, from_ms"
            ))?;
            let rows = stmt.query_map([], from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The kept report of `contract` for `period`, with its files.
    pub fn kept_report(
        &self,
        contract: &str,
        period: &str,
    ) -> Result<Option<(KeptReport, ReportFiles)>, StoreError> {
        self.report_where(
            "read an SLA report",
            "WHERE contract = ?1 AND period = ?2",
            params![contract, period],
        )
    }

    /// One rendering of the kept report of `contract` for `period`: only
    /// that file is read and decompressed (a download needs no other).
    pub fn kept_report_file(
        &self,
        contract: &str,
        period: &str,
        format: ReportFormat,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        // The column is one of three fixed names, never input.
        let column = format.extension();
        self.with_state("read an SLA report file", |st| {
            let found = st
                .conn
                .prepare_cached(&format!(
                    "SELECT {column} FROM sla_report WHERE contract = ?1 AND period = ?2"
                ))?
                .query_row(params![contract, period], |r| r.get::<_, Vec<u8>>(0))
                .optional()?;
            Ok(match found {
                Some(data) => Some(decompress(&data, column)?),
                None => None,
            })
        })
    }

    /// The report the outbox entry `outbox_id` mails, if it mails one.
    pub fn report_of_notification(
        &self,
        outbox_id: i64,
    ) -> Result<Option<(KeptReport, ReportFiles)>, StoreError> {
        self.report_where(
            "read the SLA report of a notification",
            "WHERE id = (SELECT report_id FROM sla_report_mail WHERE outbox_id = ?1)",
            params![outbox_id],
        )
    }

    fn report_where(
        &self,
        op: &'static str,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Option<(KeptReport, ReportFiles)>, StoreError> {
        self.with_state(op, |st| {
            let mut stmt = st.conn.prepare_cached(&format!(
                "SELECT {COLUMNS}, html, csv, json FROM sla_report {filter}"
            ))?;
            let found = stmt
                .query_row(args, |r| {
                    Ok((
                        from_row(r)?,
                        r.get::<_, Vec<u8>>(7)?,
                        r.get::<_, Vec<u8>>(8)?,
                        r.get::<_, Vec<u8>>(9)?,
                    ))
                })
                .optional()?;
            let Some((kept, html, csv, json)) = found else {
                return Ok(None);
            };
            let files = ReportFiles {
                html: decompress(&html, "HTML")?,
                csv: decompress(&csv, "CSV")?,
                json: decompress(&json, "JSON")?,
            };
            Ok(Some((kept, files)))
        })
    }

    /// Since when the daemon has known `contract`: the first call's `now`,
    /// remembered.
    pub fn contract_known_since(
        &self,
        contract: &str,
        now: Timestamp,
    ) -> Result<Timestamp, StoreError> {
        self.with_state("remember a contract", |st| {
            st.conn
                .prepare_cached(
                    "INSERT INTO sla_contract (contract, first_seen) VALUES (?1, ?2)
                     ON CONFLICT (contract) DO NOTHING",
                )?
                .execute(params![contract, now])?;
            Ok(st
                .conn
                .prepare_cached("SELECT first_seen FROM sla_contract WHERE contract = ?1")?
                .query_row(params![contract], |r| r.get(0))?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(tag: &str) -> ReportFiles {
        ReportFiles {
            html: format!("<html>{tag}</html>").repeat(100).into_bytes(),
            csv: format!("summary,,availability,{tag}\n").into_bytes(),
            json: format!("{{\"period\":\"{tag}\"}}").into_bytes(),
        }
    }

    fn mail(channel: &str) -> Outgoing {
        Outgoing {
            dedup_key: "sla-report/front/2026-03".into(),
            channel: channel.into(),
            incident: None,
            payload: "{}".into(),
            not_before: 0,
        }
    }

    #[test]
    fn a_report_and_its_mails_are_kept_once_and_read_back() {
        let s = Store::open_in_memory().unwrap();
        let march = files("2026-03");
        let new = NewReport {
            contract: "front",
            period: "2026-03",
            from: 1_000,
            to: 2_000,
            generated_at: 5_000,
            files: &march,
        };
        let id = s
            .keep_report(&new, &[mail("ops-mail"), mail("owner-mail")])
            .unwrap()
            .expect("kept");
        assert_eq!(
            s.keep_report(&new, &[mail("ops-mail")]).unwrap(),
            None,
            "a second report of the period is refused"
        );
        let due = s.claim_due(5_000, 10, 60_000).unwrap();
        assert_eq!(due.len(), 2, "one mail per recipient, not one more");
        for e in &due {
            let (kept, read) = s.report_of_notification(e.id).unwrap().expect("linked");
            assert_eq!((kept.id, kept.period.as_str()), (id, "2026-03"));
            assert_eq!(read, march);
        }
        assert_eq!(s.report_of_notification(due[1].id + 1).unwrap(), None);
        let copy = s
            .enqueue_fallback(6_000, due[0].id, &mail("other-mail"))
            .unwrap();
        assert_eq!(
            s.report_of_notification(copy).unwrap().map(|(k, _)| k.id),
            Some(id),
            "a fallback copy mails the same report"
        );
        let incident_copy = s.enqueue(6_000, &[mail("ops-mail")]).unwrap()[0];
        let plain = s
            .enqueue_fallback(6_000, incident_copy, &mail("hook"))
            .unwrap();
        assert_eq!(s.report_of_notification(plain).unwrap(), None);

        // Sent mails leave with the outbox's retention, the report stays.
        for e in s.outbox(10).unwrap() {
            s.mark_sent(e.id, 10_000, None).unwrap();
        }
        let later = 10_000 + 400 * 86_400_000;
        s.compact(later, &crate::Retention::default()).unwrap();
        assert!(s.outbox(10).unwrap().is_empty());
        let links: i64 = s
            .with_state("count links", |st| {
                Ok(st
                    .conn
                    .query_row("SELECT count(*) FROM sla_report_mail", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(links, 0, "no link outlives its mail");
        let list = s.kept_reports().unwrap();
        assert_eq!(list.len(), 1);
        assert!(
            list[0].stored_bytes < march.html.len() as i64,
            "kept compressed: {} bytes",
            list[0].stored_bytes
        );
        assert_eq!(s.kept_report("front", "2026-03").unwrap().unwrap().1, march);
        for (format, file) in
            ReportFormat::ALL
                .into_iter()
                .zip([&march.html, &march.csv, &march.json])
        {
            assert_eq!(
                s.kept_report_file("front", "2026-03", format)
                    .unwrap()
                    .as_ref(),
                Some(file),
                "{format:?} read alone"
            );
        }
        assert_eq!(
            s.kept_report_file("front", "2026-04", ReportFormat::Csv)
                .unwrap(),
            None
        );
        assert_eq!(s.kept_report("front", "2026-04").unwrap(), None);
    }

    #[test]
    fn a_contract_is_known_since_it_was_first_seen() {
        let s = Store::open_in_memory().unwrap();
        assert_eq!(s.contract_known_since("front", 7).unwrap(), 7);
        assert_eq!(s.contract_known_since("front", 9).unwrap(), 7);
        assert_eq!(s.contract_known_since("back", 9).unwrap(), 9);
    }
}
