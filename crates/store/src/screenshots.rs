//! Screenshots of failing browser checks (version 20): the bytes a probe
//! hands over in `Outcome::attachments`, kept beside the result they belong
//! to rather than in its content (which is deduplicated text).
//!
//! `screenshot`: `id` (named in the result's evidence as
//! `screenshot.id`), `check_id`, `ts` (the result's time), `mime` and the
//! bytes. Each check keeps its newest [`KEPT_PER_CHECK`], pruned when a new
//! one is written; compaction deletes those older than the raw results it
//! deletes, so a screenshot never outlives its result.

use keepup_model::{Attachment, CheckId, Timestamp};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Fail, StoreError};
use crate::store::Store;

/// Screenshots kept per check, newest first.
pub const KEPT_PER_CHECK: i64 = 20;

/// Largest attachment stored; probes bound theirs well below (a browser
/// check's screenshot at 512 KiB), this guards the store itself.
const MAX_BYTES: usize = 1024 * 1024;

/// One stored screenshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Screenshot {
    /// Its id, as the result's evidence names it.
    pub id: i64,
    /// The check it shows.
    pub check: CheckId,
    /// The time of its result.
    pub at: Timestamp,
    /// Its media type.
    pub mime: String,
    /// The image.
    pub bytes: Vec<u8>,
}

/// Stores `attachment` of `check`'s result at `at` and prunes the check's
/// older screenshots beyond [`KEPT_PER_CHECK`]; `None` for an attachment
/// that is not an image or is too large (not kept, not named).
pub(crate) fn insert(
    tx: &Transaction<'_>,
    check: i64,
    at: Timestamp,
    attachment: &Attachment,
) -> Result<Option<i64>, Fail> {
    if !attachment.mime.starts_with("image/") || attachment.bytes.len() > MAX_BYTES {
        return Ok(None);
    }
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO screenshot (check_id, ts, mime, bytes) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        )?
        .query_row(
            params![check, at, attachment.mime, attachment.bytes],
            |r| r.get(0),
        )?;
    tx.prepare_cached(
        "DELETE FROM screenshot WHERE check_id = ?1 AND id NOT IN
           (SELECT id FROM screenshot WHERE check_id = ?1 ORDER BY ts DESC, id DESC LIMIT ?2)",
    )?
    .execute(params![check, KEPT_PER_CHECK])?;
    Ok(Some(id))
}

/// Deletes the screenshots of `checks` older than `cutoff` (the raw
/// results' cutoff); returns how many.
pub(crate) fn prune(tx: &Transaction<'_>, checks: &[i64], cutoff: Timestamp) -> Result<u64, Fail> {
    let mut delete = tx.prepare_cached("DELETE FROM screenshot WHERE check_id = ?1 AND ts < ?2")?;
    let mut deleted = 0;
    for &check in checks {
        deleted += delete.execute(params![check, cutoff])? as u64;
    }
    Ok(deleted)
}

impl Store {
    /// The screenshot with this id, if it is still kept.
    pub fn screenshot(&self, id: i64) -> Result<Option<Screenshot>, StoreError> {
        self.with_reader("screenshot", |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT c.key, s.ts, s.mime, s.bytes FROM screenshot s
                     JOIN checks c ON c.id = s.check_id WHERE s.id = ?1",
                )?
                .query_row(params![id], |r| {
                    Ok(Screenshot {
                        id,
                        check: CheckId(r.get(0)?),
                        at: r.get(1)?,
                        mime: r.get(2)?,
                        bytes: r.get(3)?,
                    })
                })
                .optional()?)
        })
    }

    /// The id of the screenshot of `check`'s result at `at`, if one is kept.
    pub fn screenshot_of_result(
        &self,
        check: &CheckId,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        self.with_reader("screenshot_of_result", |conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT s.id FROM screenshot s JOIN checks c ON c.id = s.check_id
                     WHERE c.key = ?1 AND s.ts = ?2 ORDER BY s.id DESC LIMIT 1",
                )?
                .query_row(params![check.as_str(), at], |r| r.get(0))
                .optional()?)
        })
    }
}
