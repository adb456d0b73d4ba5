//! How many password checks run at once. Each argon2 check takes 19 MiB
//! and a core for tens of milliseconds, so a spray of logins from many
//! addresses would otherwise take the memory (500 at once ≈ 9.5 GB).
//! A few checks run at a time (one per core, at least two), a bounded
//! number wait their turn, and a login beyond both is answered 503 at
//! once rather than queued.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Logins waiting per check that may run: past them, 503 at once.
const WAITING_PER_RUNNING: usize = 8;

/// The longest a login waits for its turn before it is answered 503.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// The gate every password check passes.
pub struct PasswordGate {
    /// Checks running plus waiting.
    admitted: Arc<Semaphore>,
    /// Checks running.
    running: Arc<Semaphore>,
}

/// A turn to check a password; hold it while argon2 runs.
pub struct Turn {
    _admitted: OwnedSemaphorePermit,
    _running: OwnedSemaphorePermit,
}

impl PasswordGate {
    /// A gate running as many checks at once as the machine has cores (at
    /// least two).
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self::new(cores.max(2))
    }

    /// A gate running `running` checks at once, with eight times as many
    /// waiting.
    pub fn new(running: usize) -> Self {
        let running = running.max(1);
        PasswordGate {
            admitted: Arc::new(Semaphore::new(running * (1 + WAITING_PER_RUNNING))),
            running: Arc::new(Semaphore::new(running)),
        }
    }

    /// Waits for a turn; `None` when too many logins are already waiting
    /// or the turn did not come within [`LONGEST_WAIT`].
    pub async fn turn(&self) -> Option<Turn> {
        let admitted = self.admitted.clone().try_acquire_owned().ok()?;
        let running = tokio::time::timeout(LONGEST_WAIT, self.running.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        Some(Turn {
            _admitted: admitted,
            _running: running,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_running_and_waiting_checks_a_login_is_turned_away_at_once() {
        let gate = Arc::new(PasswordGate::new(1));
        let first = gate.turn().await.expect("a free gate gives a turn");
        // Eight wait for the one running...
        let mut waiting = Vec::new();
        for _ in 0..WAITING_PER_RUNNING {
            let gate = gate.clone();
            waiting.push(tokio::spawn(async move { gate.turn().await.is_some() }));
        }
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // ... and the next is refused without waiting.
        assert!(gate.turn().await.is_none());
        drop(first);
        for w in waiting {
            assert!(w.await.unwrap(), "each waiting login gets its turn");
        }
        assert!(gate.turn().await.is_some());
    }
}
