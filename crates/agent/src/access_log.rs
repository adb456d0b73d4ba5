//! Access logs the agent counts (`keepup agent --access-log NAME=PATH`,
//! optionally `--access-log-transactions NAME=REGEX`): the lines each log
//! gained since the previous collection, and of those the lines matching
//! the regex (a checkout URL: transactions). The central's
//! `[site.capacity]` with `source = { agent, access_log = NAME }` turns
//! them into requests per second and transactions per hour against the
//! site's design.
//!
//! The log is followed as `tail -F` does: the first collection only finds
//! its end (its history is not load of now); a log renamed away
//! (logrotate) is read to its end through the handle still open, then the
//! new file at the path from its start; a log truncated in place
//! (`copytruncate`) is read again from its start. Memory is bounded: one
//! read buffer, and at most [`MAX_LINE_BYTES`] of a line kept for the
//! regex (a longer line counts, matched on its start). At most
//! [`MAX_READ_BYTES`] are read per log and collection; a log written
//! faster is read on at the next collection (its count lags, it is not
//! lost).
//!
//! Not here: judging the counts (the central's capacity check).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Instant;

use keepup_model::host::AccessLogCount;
use regex::bytes::Regex;

/// At most this many access logs per agent.
pub const MAX_ACCESS_LOGS: usize = 16;

/// At most this much of one line is kept to match the transactions regex.
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// At most this much of one log is read per collection.
pub const MAX_READ_BYTES: u64 = 64 << 20;

/// One access log to count.
#[derive(Debug, Clone)]
pub struct AccessLog {
    /// The name the central's `access_log = "..."` asks for.
    pub name: String,
    /// Its path.
    pub path: PathBuf,
    /// Lines matching it are transactions.
    pub transactions: Option<Regex>,
}

impl AccessLog {
    /// `NAME=PATH`, the path absolute.
    pub fn parse(text: &str) -> Result<AccessLog, String> {
        let (name, path) = crate::plugins::named_option("--access-log", text, "PATH")?;
        if !path.starts_with('/') {
            return Err(format!("--access-log {text:?}: the path must be absolute"));
        }
        Ok(AccessLog {
            name: name.to_owned(),
            path: PathBuf::from(path),
            transactions: None,
        })
    }
}

/// The logs of `--access-log NAME=PATH` options with the regexes of
/// `--access-log-transactions NAME=REGEX` options.
pub fn from_args(logs: &[String], transactions: &[String]) -> Result<Vec<AccessLog>, String> {
    let mut out: Vec<AccessLog> = Vec::new();
    for text in logs {
        let log = AccessLog::parse(text)?;
        if out.iter().any(|l| l.name == log.name) {
            return Err(format!("--access-log {:?} is given twice", log.name));
        }
        out.push(log);
    }
    if out.len() > MAX_ACCESS_LOGS {
        return Err(format!(
            "{} --access-log options; at most {MAX_ACCESS_LOGS}",
            out.len()
        ));
    }
    for text in transactions {
        let (name, pattern) = text
            .split_once('=')
            .ok_or_else(|| format!("--access-log-transactions {text:?}: write NAME=REGEX"))?;
        let log = out.iter_mut().find(|l| l.name == name).ok_or_else(|| {
            format!("--access-log-transactions {text:?}: no --access-log is named {name:?}")
        })?;
        let re = regex::bytes::RegexBuilder::new(pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| format!("--access-log-transactions {text:?}: invalid regex: {e}"))?;
        log.transactions = Some(re);
    }
    Ok(out)
}

/// The counters of every configured log.
pub struct Counters {
    tails: Vec<Tail>,
}

/// Where one log was read to.
struct Tail {
    log: AccessLog,
    /// The file being read and its (device, inode).
    open: Option<(File, (u64, u64))>,
    /// The offset read to in `open`.
    offset: u64,
    /// The start of a line not ended yet (for the regex), at most
    /// [`MAX_LINE_BYTES`].
    partial: Vec<u8>,
    /// When the previous count was taken; None before the first.
    last: Option<Instant>,
}

impl Counters {
    /// Counters of `logs`; nothing is read before [`Counters::count`].
    pub fn new(logs: &[AccessLog]) -> Self {
        Counters {
            tails: logs
                .iter()
                .map(|log| Tail {
                    log: log.clone(),
                    open: None,
                    offset: 0,
                    partial: Vec::new(),
                    last: None,
                })
                .collect(),
        }
    }

    /// Each log's lines since the previous call, by name.
    pub fn count(&mut self) -> std::collections::BTreeMap<String, AccessLogCount> {
        let now = Instant::now();
        self.tails
            .iter_mut()
            .map(|t| (t.log.name.clone(), t.count(now)))
            .collect()
    }
}

/// Lines and transactions read.
#[derive(Default)]
struct Tally {
    lines: u64,
    transactions: u64,
}

impl Tail {
    fn count(&mut self, now: Instant) -> AccessLogCount {
        let first = self.last.is_none();
        let over_s = self.last.map(|l| now.duration_since(l).as_secs_f64());
        self.last = Some(now);
        let mut tally = Tally::default();
        let mut budget = MAX_READ_BYTES;
        let mut problem = None;
        // What the handle still open holds (up to a rotation's end).
        if !first && let Err(e) = self.read_on(&mut tally, &mut budget) {
            problem = Some(format!("cannot read {}: {e}", self.log.path.display()));
        }
        match std::fs::metadata(&self.log.path) {
            Ok(meta) => {
                let id = (meta.dev(), meta.ino());
                let same = self.open.as_ref().is_some_and(|(_, held)| *held == id);
                if !same || meta.len() < self.offset {
                    // A new file at the path (rotated), truncated, or the
                    // first look: the first look starts at its end.
                    match File::open(&self.log.path) {
                        Ok(file) => {
                            self.offset = if first { meta.len() } else { 0 };
                            self.open = Some((file, id));
                            self.partial.clear();
                            if !first && let Err(e) = self.read_on(&mut tally, &mut budget) {
                                problem =
                                    Some(format!("cannot read {}: {e}", self.log.path.display()));
                            }
                        }
                        Err(e) => {
                            problem = Some(format!("cannot open {}: {e}", self.log.path.display()));
                        }
                    }
                }
            }
            // Between a rotation's rename and the new file: the old
            // handle was read above; the new file is found next time.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.open.is_some() => {}
            Err(e) => {
                problem = Some(format!("cannot read {}: {e}", self.log.path.display()));
            }
        }
        AccessLogCount {
            over_s: if first { None } else { over_s },
            lines: tally.lines,
            transactions: self.log.transactions.as_ref().map(|_| tally.transactions),
            problem,
        }
    }

    /// Reads the open file from `offset` to its end (within `budget`),
    /// counting lines and transactions.
    fn read_on(&mut self, tally: &mut Tally, budget: &mut u64) -> std::io::Result<()> {
        let Some((file, _)) = self.open.as_mut() else {
            return Ok(());
        };
        file.seek(SeekFrom::Start(self.offset))?;
        let mut buf = vec![0u8; 64 * 1024];
        while *budget > 0 {
            let want = buf
                .len()
                .min(usize::try_from(*budget).unwrap_or(usize::MAX));
            let n = file.read(&mut buf[..want])?;
            if n == 0 {
                break;
            }
            *budget -= n as u64;
            self.offset += n as u64;
            let mut chunk = &buf[..n];
            while let Some(end) = chunk.iter().position(|&b| b == b'\n') {
                tally.lines += 1;
                if let Some(re) = &self.log.transactions {
                    let matched = if self.partial.is_empty() {
                        re.is_match(&chunk[..end.min(MAX_LINE_BYTES)])
                    } else {
                        let room = MAX_LINE_BYTES.saturating_sub(self.partial.len());
                        self.partial.extend_from_slice(&chunk[..end.min(room)]);
                        let m = re.is_match(&self.partial);
                        self.partial.clear();
                        m
                    };
                    if matched {
                        tally.transactions += 1;
                    }
                }
                chunk = &chunk[end + 1..];
            }
            if self.log.transactions.is_some() {
                let room = MAX_LINE_BYTES.saturating_sub(self.partial.len());
                self.partial
                    .extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_paths_are_checked() {
        let log = AccessLog::parse("shop=/var/log/nginx/access.log").unwrap();
        assert_eq!(log.name, "shop");
        assert!(AccessLog::parse("shop").is_err());
        assert!(AccessLog::parse("Shop=/x").is_err());
        assert!(AccessLog::parse("shop=relative.log").is_err());
    }
}
