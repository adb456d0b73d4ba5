//! How an [`Outcome`] is split into compact columns and a content-addressed
//! text part, and put back together.

use std::collections::HashMap;

use keepup_model::{Evidence, Finding, Outcome, Status, Timestamp, TimingBreakdown, codes};
use rusqlite::{Connection, params};

use crate::error::Fail;

/// `content.last_used` is moved forward only when it is this much older
/// than the result using it, so a stable content costs one update an hour,
/// not one per result. Compaction keeps this much slack when deleting.
pub(crate) const LAST_USED_GRANULARITY_MS: i64 = 3_600_000;

/// Status as stored: `Up` is 0 so the common case has no payload byte.
pub(crate) fn status_code(s: Status) -> i64 {
    match s {
        Status::Up => 0,
        Status::Degraded => 1,
        Status::Down => 2,
        Status::Unknown => 3,
    }
}

pub(crate) fn status_from_code(code: i64) -> Result<Status, Fail> {
    Ok(match code {
        0 => Status::Up,
        1 => Status::Degraded,
        2 => Status::Down,
        3 => Status::Unknown,
        other => return Err(Fail::Corrupt(format!("status code {other}"))),
    })
}

/// Milliseconds (as measured) to whole microseconds (as stored). NaN reads
/// as 0 and infinities saturate: a broken clock must not fail a write.
pub(crate) fn ms_to_us(ms: f64) -> i64 {
    (ms * 1000.0).round() as i64
}

pub(crate) fn us_to_ms(us: i64) -> f64 {
    us as f64 / 1000.0
}

/// The five timing phases in column order, in microseconds.
pub(crate) fn timing_columns(t: Option<&TimingBreakdown>) -> [Option<i64>; 5] {
    match t {
        None => [None; 5],
        Some(t) => [
            t.dns_ms,
            t.connect_ms,
            t.tls_ms,
            t.first_byte_ms,
            t.total_ms,
        ]
        .map(|v| v.map(ms_to_us)),
    }
}

fn timing_from_columns(cols: [Option<i64>; 5]) -> Option<TimingBreakdown> {
    if cols.iter().all(Option::is_none) {
        return None;
    }
    let [dns, connect, tls, first_byte, total] = cols.map(|v| v.map(us_to_ms));
    Some(TimingBreakdown {
        dns_ms: dns,
        connect_ms: connect,
        tls_ms: tls,
        first_byte_ms: first_byte,
        total_ms: total,
    })
}

/// The text part of an outcome, as stored in `content`. Empty findings and
/// details are NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Content {
    pub message: String,
    pub findings: Option<String>,
    pub details: Option<String>,
}

impl Content {
    pub(crate) fn of(outcome: &Outcome) -> Result<Self, Fail> {
        Self::with_details(outcome, &outcome.evidence.details)
    }

    /// [`Content::of`] with `details` in place of the outcome's own (the
    /// recorder adds what it stored beside the result, a screenshot's id).
    pub(crate) fn with_details(
        outcome: &Outcome,
        details: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Self, Fail> {
        let findings = if outcome.findings.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&outcome.findings)?)
        };
        let details = if details.is_empty() {
            None
        } else {
            Some(serde_json::to_string(details)?)
        };
        Ok(Self {
            message: outcome.message.clone(),
            findings,
            details,
        })
    }

    /// A 64-bit FNV-1a hash over the three fields, each preceded by a tag
    /// and its length so that moving text between fields changes the hash.
    /// Stable across builds and platforms (unlike `std`'s hashers), which
    /// matters because it is stored.
    pub(crate) fn hash(&self) -> i64 {
        let mut h = Fnv1a::new();
        let fields = [
            Some(self.message.as_str()),
            self.findings.as_deref(),
            self.details.as_deref(),
        ];
        for field in fields {
            match field {
                None => h.write(&[0]),
                Some(s) => {
                    h.write(&[1]);
                    h.write(&(s.len() as u64).to_le_bytes());
                    h.write(s.as_bytes());
                }
            }
        }
        h.0 as i64
    }
}

/// 64-bit FNV-1a: tiny, no dependency, and good enough for addressing
/// (collisions are resolved by comparing the text).
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// A content id remembered per check, so that a check repeating itself
/// costs no lookup at all.
#[derive(Debug)]
pub(crate) struct Cached {
    pub hash: i64,
    pub id: i64,
    pub last_used: Timestamp,
    pub content: Content,
}

/// Finds or stores `content` and returns its id, moving `last_used`
/// forward to `at` when it lags by more than [`LAST_USED_GRANULARITY_MS`].
/// `cache` remembers, per check, the content of its previous result.
pub(crate) fn content_id(
    conn: &Connection,
    cache: &mut HashMap<i64, Cached>,
    check: i64,
    content: Content,
    at: Timestamp,
) -> Result<i64, Fail> {
    let hash = content.hash();
    if let Some(c) = cache.get_mut(&check)
        && c.hash == hash
        && c.content == content
    {
        if at - c.last_used <= LAST_USED_GRANULARITY_MS {
            return Ok(c.id);
        }
        let mut bump =
            conn.prepare_cached("UPDATE content SET last_used = max(last_used, ?2) WHERE id = ?1")?;
        // Zero rows means another handle's compaction deleted it: fall
        // through and store it again.
        if bump.execute(params![c.id, at])? == 1 {
            c.last_used = c.last_used.max(at);
            return Ok(c.id);
        }
    }
    let found = {
        let mut lookup = conn.prepare_cached(
            "SELECT id, message, findings, details, last_used FROM content WHERE hash = ?1",
        )?;
        let mut rows = lookup.query(params![hash])?;
        let mut found = None;
        while let Some(row) = rows.next()? {
            let same = row.get_ref(1)?.as_str_or_null()? == Some(content.message.as_str())
                && row.get_ref(2)?.as_str_or_null()? == content.findings.as_deref()
                && row.get_ref(3)?.as_str_or_null()? == content.details.as_deref();
            if same {
                found = Some((row.get::<_, i64>(0)?, row.get::<_, i64>(4)?));
                break;
            }
        }
        found
    };
    let (id, last_used) = match found {
        Some((id, last_used)) if at - last_used > LAST_USED_GRANULARITY_MS => {
            conn.prepare_cached("UPDATE content SET last_used = ?2 WHERE id = ?1")?
                .execute(params![id, at])?;
            (id, at)
        }
        Some(found) => found,
        None => {
            conn.prepare_cached(
                "INSERT INTO content (hash, message, findings, details, last_used) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![hash, content.message, content.findings, content.details, at])?;
            (conn.last_insert_rowid(), at)
        }
    };
    cache.insert(
        check,
        Cached {
            hash,
            id,
            last_used,
            content,
        },
    );
    Ok(id)
}

/// The compact columns of a stored outcome (from `result` or `current`).
pub(crate) struct Columns {
    pub status: i64,
    pub latency_us: i64,
    pub timing: [Option<i64>; 5],
}

/// Puts an outcome back together. `content` is `None` when the referenced
/// content row is missing, which only a damaged database can produce.
pub(crate) fn decode(
    cols: Columns,
    content: Option<(String, Option<String>, Option<String>)>,
) -> Result<Outcome, Fail> {
    let Some((message, findings, details)) = content else {
        return Err(Fail::Corrupt(
            "result refers to a missing content row".to_owned(),
        ));
    };
    let findings = match findings {
        Some(json) => findings_from_json(&json)?,
        None => Vec::new(),
    };
    let details = match details {
        Some(json) => serde_json::from_str(&json)?,
        None => serde_json::Map::new(),
    };
    Ok(Outcome {
        status: status_from_code(cols.status)?,
        latency_ms: us_to_ms(cols.latency_us),
        message,
        findings,
        evidence: Evidence {
            timing: timing_from_columns(cols.timing),
            details,
        },
        attachments: Vec::new(),
    })
}

/// Stored findings, with codes stored under an older name mapped to their
/// current name, so that history keeps its meaning after a rename.
pub(crate) fn findings_from_json(json: &str) -> Result<Vec<Finding>, Fail> {
    let mut findings: Vec<Finding> = serde_json::from_str(json)?;
    for f in &mut findings {
        if let Some(current) = codes::current(&f.code) {
            f.code = current.to_owned();
        }
    }
    Ok(findings)
}

/// Content ids referenced from `current` are never garbage: a check that
/// stopped reporting keeps its latest outcome forever. Neither are those
/// of `finding_day`, which outlive the raw results.
pub(crate) fn delete_unused(conn: &Connection, older_than: Timestamp) -> Result<u64, Fail> {
    let n = conn.execute(
        "DELETE FROM content WHERE last_used < ?1 AND id NOT IN (SELECT content_id FROM current)
           AND id NOT IN (SELECT content_id FROM finding_day)",
        params![older_than],
    )?;
    Ok(n as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepup_model::{Finding, Severity};

    #[test]
    fn hash_separates_fields() {
        let a = Content {
            message: "ab".into(),
            findings: None,
            details: Some("c".into()),
        };
        let b = Content {
            message: "a".into(),
            findings: Some("b".into()),
            details: Some("c".into()),
        };
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.hash(), a.clone().hash());
    }

    #[test]
    fn fnv1a_matches_published_vectors() {
        // The hash is stored, so it must never change: pin it to the
        // reference test vectors of FNV-1a 64.
        for (input, want) in [
            ("", 0xcbf2_9ce4_8422_2325_u64),
            ("a", 0xaf63_dc4c_8601_ec8c),
            ("foobar", 0x8594_4171_f739_67e8),
        ] {
            let mut h = Fnv1a::new();
            h.write(input.as_bytes());
            assert_eq!(h.0, want, "FNV-1a of {input:?}");
        }
    }

    #[test]
    fn outcome_columns_round_trip() {
        let mut o = Outcome::new(Status::Degraded, "slow");
        o.latency_ms = 1234.567;
        o.push(Finding::new("HTTP_SLOW", Severity::Warning, "took long"));
        o.evidence.insert("status_code", 200);
        o.evidence.timing = Some(TimingBreakdown {
            dns_ms: Some(1.5),
            connect_ms: None,
            tls_ms: Some(20.001),
            first_byte_ms: Some(100.0),
            total_ms: Some(1234.567),
        });
        let content = Content::of(&o).unwrap();
        let cols = Columns {
            status: status_code(o.status),
            latency_us: ms_to_us(o.latency_ms),
            timing: timing_columns(o.evidence.timing.as_ref()),
        };
        let back = decode(
            cols,
            Some((content.message, content.findings, content.details)),
        )
        .unwrap();
        assert_eq!(back, o);
    }

    #[test]
    fn unknown_status_code_is_corrupt_not_panic() {
        assert!(matches!(status_from_code(9), Err(Fail::Corrupt(_))));
    }
}
