//! Time for the runbook engine: "now" for the journal and the figures, and
//! waiting between verify rounds. Tests use [`SimulatedClock`], whose waits
//! move its time forward at once, so a ten-minute verify deadline passes in
//! microseconds.

use keepup_model::{Clock as _, ManualClock, SystemClock, Timestamp};
use std::time::Duration;

/// The engine's view of time.
pub trait Clock: Send + Sync {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> Timestamp;
    /// Waits `d`.
    fn sleep(&self, d: Duration);
}

/// The wall clock; waits sleep the thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealClock;

impl Clock for RealClock {
    fn now_ms(&self) -> Timestamp {
        SystemClock.now_ms()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}

/// Simulated time: waiting advances the clock instead of sleeping.
#[derive(Debug, Clone, Default)]
pub struct SimulatedClock(pub ManualClock);

impl SimulatedClock {
    /// A clock standing at `start_ms`.
    pub fn new(start_ms: Timestamp) -> Self {
        Self(ManualClock::new(start_ms))
    }
}

impl Clock for SimulatedClock {
    fn now_ms(&self) -> Timestamp {
        self.0.now_ms()
    }
    fn sleep(&self, d: Duration) {
        self.0.advance(d);
    }
}
