//! How many password checks run at once. Each argon2 check takes 19 MiB
//! and a core for tens of milliseconds, so a spray of logins from many
//! addresses would otherwise take the memory (500 at once ≈ 9.5 GB).
//! A few checks run at a time (one per core, at least two), a bounded
//! number wait their turn, and a login beyond both is answered 503 at
//! once rather than queued. Logins from a network someone logged in from
//! before ([`super::limiter::KnownNetworks`]) have a lane of their own, one
//! check with a few waiting, so a spray filling the gate does not keep the
//! owner out.

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Logins waiting per check that may run: past them, 503 at once.
const WAITING_PER_RUNNING: usize = 8;

/// The longest a login waits for its turn before it is answered 503.
const LONGEST_WAIT: Duration = Duration::from_secs(10);

/// Logins from known networks that may wait for their own lane's check.
const KNOWN_WAITING: usize = 4;

/// The gate every password check passes.
pub struct PasswordGate {
    /// Checks running plus waiting.
    admitted: Arc<Semaphore>,
    /// Checks running.
    running: Arc<Semaphore>,
    /// The known networks' lane: its check running plus waiting.
    known_admitted: Arc<Semaphore>,
    /// The known networks' lane: its one check running.
    known_running: Arc<Semaphore>,
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
            known_admitted: Arc::new(Semaphore::new(1 + KNOWN_WAITING)),
            known_running: Arc::new(Semaphore::new(1)),
        }
    }

    /// Waits for a turn, in the known networks' lane when `known`; `None`
    /// when too many logins are already waiting there or the turn did not
    /// come within [`LONGEST_WAIT`].
    pub async fn turn(&self, known: bool) -> Option<Turn> {
        let (admitted, running) = if known {
            (&self.known_admitted, &self.known_running)
        } else {
            (&self.admitted, &self.running)
        };
        let admitted = admitted.clone().try_acquire_owned().ok()?;
        let running = tokio::time::timeout(LONGEST_WAIT, running.clone().acquire_owned())
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
        let first = gate.turn(false).await.expect("a free gate gives a turn");
        // Eight wait for the one running...
        let mut waiting = Vec::new();
        for _ in 0..WAITING_PER_RUNNING {
            let gate = gate.clone();
            waiting.push(tokio::spawn(
                async move { gate.turn(false).await.is_some() },
            ));
        }
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        // ... and the next is refused without waiting.
        assert!(gate.turn(false).await.is_none());
        // A login from a known network has its own lane.
        assert!(gate.turn(true).await.is_some());
        drop(first);
        for w in waiting {
            assert!(w.await.unwrap(), "each waiting login gets its turn");
        }
        assert!(gate.turn(false).await.is_some());
    }
}
