//! Progress reporting: a small trait the CLI implements (with indicatif
//! bars), adapted to rustic_core's `ProgressBars`.
//!
//! Only byte-counting work is forwarded (backing up, restoring, reading
//! pack data in a check): that is what takes long and has a meaningful
//! throughput and ETA. rustic's counters and spinners (reading the index,
//! listing snapshots) stay hidden.

use std::sync::Arc;

use rustic_core::{ProgressBars, ProgressType, RusticProgress};

/// Receives progress of long-running work. Calls come from worker threads.
pub trait Progress: Send + Sync {
    /// A piece of work starts (`what`: e.g. "backing up to offsite"); its
    /// size in bytes when known.
    fn begin(&self, what: &str, total_bytes: Option<u64>);
    /// The size became known (or changed) after `begin`.
    fn set_total(&self, total_bytes: u64) {
        let _ = total_bytes;
    }
    /// `bytes` more were processed.
    fn advance(&self, bytes: u64);
    /// The piece of work ended.
    fn finish(&self);
    /// Whether anyone looks: when not, rustic skips the extra walk of the
    /// source tree that only serves to estimate the total.
    fn is_shown(&self) -> bool {
        true
    }
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&self, _what: &str, _total_bytes: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
    fn is_shown(&self) -> bool {
        false
    }
}

/// rustic_core's progress bars, forwarding byte progress to a [`Progress`].
#[derive(Clone)]
pub(crate) struct Bars {
    sink: Arc<dyn Progress>,
    /// Prefix for titles: which target the work is about.
    context: String,
}

impl Bars {
    pub(crate) fn new(sink: Arc<dyn Progress>, context: String) -> Self {
        Self { sink, context }
    }
}

impl std::fmt::Debug for Bars {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bars({})", self.context)
    }
}

impl ProgressBars for Bars {
    fn progress(&self, progress_type: ProgressType, prefix: &str) -> rustic_core::Progress {
        match progress_type {
            ProgressType::Bytes if self.sink.is_shown() => {
                let what = format!("{}: {}", self.context, prefix.trim_end_matches("..."));
                self.sink.begin(&what, None);
                rustic_core::Progress::new(Bar {
                    sink: self.sink.clone(),
                })
            }
            _ => rustic_core::Progress::hidden(),
        }
    }
}

struct Bar {
    sink: Arc<dyn Progress>,
}

impl std::fmt::Debug for Bar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Bar")
    }
}

impl RusticProgress for Bar {
    fn is_hidden(&self) -> bool {
        false
    }
    fn set_length(&self, len: u64) {
        self.sink.set_total(len);
    }
    fn set_title(&self, _title: &str) {}
    fn inc(&self, inc: u64) {
        self.sink.advance(inc);
    }
    fn finish(&self) {
        self.sink.finish();
    }
}
