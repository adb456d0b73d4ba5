//! The agent's on-disk queue: every report is written here (fsynced)
//! before it is sent, and removed once the central keepup has it, so a
//! central outage or an agent restart loses nothing up to the bound; past
//! it the oldest reports are dropped and counted.
//!
//! Also the home of the sequence number: kept in the same directory and
//! written before a number is used, so numbers only grow across restarts.
//! A lost directory starts again from the clock in milliseconds, which is
//! above any number handed out before (one report per interval).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use keepup_model::host::HostReport;

/// Why the backlog could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum BacklogError {
    /// A file operation failed.
    #[error("backlog {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A report could not be encoded.
    #[error("cannot encode a report: {0}")]
    Encode(#[from] serde_json::Error),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BacklogError + '_ {
    move |source| BacklogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A directory of reports waiting for the central keepup.
#[derive(Debug)]
pub struct Backlog {
    dir: PathBuf,
    max_reports: usize,
    dropped: u64,
}

const SEQ_FILE: &str = "seq";
const PREFIX: &str = "report-";
const SUFFIX: &str = ".json";

impl Backlog {
    /// Opens (creating, private to the agent's user) the backlog in `dir`,
    /// keeping at most `max_reports` reports.
    pub fn open(dir: &Path, max_reports: usize) -> Result<Self, BacklogError> {
        use std::os::unix::fs::DirBuilderExt;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io(dir))?;
        Ok(Backlog {
            dir: dir.to_path_buf(),
            max_reports: max_reports.max(1),
            dropped: 0,
        })
    }

    /// Reports dropped because the backlog was full, since it was opened.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The next sequence number, persisted before it is returned.
    pub fn next_seq(&mut self, now_ms: i64) -> Result<u64, BacklogError> {
        let path = self.dir.join(SEQ_FILE);
        let last = fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok());
        let next = match last {
            Some(n) => n + 1,
            None => u64::try_from(now_ms).unwrap_or(1).max(1),
        };
        write_durably(&path, next.to_string().as_bytes())?;
        Ok(next)
    }

    /// Queues `report` (written and synced), dropping the oldest beyond
    /// the bound; returns how many were dropped now.
    pub fn push(&mut self, report: &HostReport) -> Result<usize, BacklogError> {
        let body = serde_json::to_vec(report)?;
        let path = self.dir.join(format!("{PREFIX}{:020}{SUFFIX}", report.seq));
        write_durably(&path, &body)?;
        let pending = self.pending()?;
        let excess = pending.len().saturating_sub(self.max_reports);
        for seq in pending.iter().take(excess) {
            self.remove(*seq)?;
        }
        self.dropped += excess as u64;
        Ok(excess)
    }

    /// The queued sequence numbers, oldest first.
    pub fn pending(&self) -> Result<Vec<u64>, BacklogError> {
        let mut seqs: Vec<u64> = fs::read_dir(&self.dir)
            .map_err(io(&self.dir))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let name = e.file_name();
                let name = name.to_str()?;
                name.strip_prefix(PREFIX)?
                    .strip_suffix(SUFFIX)?
                    .parse()
                    .ok()
            })
            .collect();
        seqs.sort_unstable();
        Ok(seqs)
    }

    /// The queued report `seq` as it will be sent (JSON).
    pub fn read(&self, seq: u64) -> Result<Vec<u8>, BacklogError> {
        let path = self.path(seq);
        fs::read(&path).map_err(io(&path))
    }

    /// Removes report `seq` (delivered, or refused for good).
    pub fn remove(&mut self, seq: u64) -> Result<(), BacklogError> {
        let path = self.path(seq);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{PREFIX}{seq:020}{SUFFIX}"))
    }
}

/// Writes `path` through a temporary file, synced, renamed, and the
/// directory synced, so a crash leaves the old file or the new one.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), BacklogError> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(bytes).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(seq: u64) -> HostReport {
        HostReport {
            seq,
            agent: "web1".into(),
            ..HostReport::default()
        }
    }

    #[test]
    fn reports_wait_in_order_and_the_oldest_go_when_full() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(&dir.path().join("q"), 3).unwrap();
        let first = b.next_seq(1_000).unwrap();
        assert_eq!(first, 1_000, "a new backlog starts from the clock");
        for seq in first..first + 5 {
            b.push(&report(seq)).unwrap();
        }
        assert_eq!(b.pending().unwrap(), [1_002, 1_003, 1_004]);
        assert_eq!(b.dropped(), 2);
        let body: HostReport = serde_json::from_slice(&b.read(1_002).unwrap()).unwrap();
        assert_eq!(body.seq, 1_002);
        b.remove(1_002).unwrap();
        b.remove(1_002).unwrap();
        assert_eq!(b.pending().unwrap(), [1_003, 1_004]);
    }

    #[test]
    fn sequence_numbers_grow_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = Backlog::open(dir.path(), 10).unwrap();
        assert_eq!(b.next_seq(50).unwrap(), 50);
        assert_eq!(b.next_seq(50).unwrap(), 51);
        b.push(&report(51)).unwrap();
        drop(b);
        let mut again = Backlog::open(dir.path(), 10).unwrap();
        assert_eq!(
            again.next_seq(10).unwrap(),
            52,
            "the clock going back does not matter"
        );
        assert_eq!(again.pending().unwrap(), [51], "the queue survives");
    }
}
