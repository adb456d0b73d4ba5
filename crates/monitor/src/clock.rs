//! A [`Clock`] that follows tokio's time, so tests that pause tokio's clock
//! (`#[tokio::test(start_paused = true)]`) drive the scheduler through
//! hours of simulated time in milliseconds.

use keepup_model::{Clock, Timestamp};

/// Wall time = a fixed epoch plus tokio's monotonic elapsed time.
#[derive(Debug, Clone)]
pub struct TokioClock {
    epoch_ms: Timestamp,
    start: tokio::time::Instant,
}

impl TokioClock {
    /// A clock reading `epoch_ms` now and advancing with tokio's time.
    pub fn starting_at(epoch_ms: Timestamp) -> Self {
        Self {
            epoch_ms,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> Timestamp {
        self.epoch_ms + self.start.elapsed().as_millis() as i64
    }
}
