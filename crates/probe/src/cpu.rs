//! The pool of CPU work: a small number of workers (one per core by
//! default, `[scheduler] cpu_workers`), apart from the scheduler's large
//! limit on probes in flight.
//!
//! Thousands of probes may wait on sockets at once (a mass outage), which
//! costs descriptors, not CPU. What does cost CPU — a TLS handshake's key
//! exchange and certificate verification, the analysis of a chain, parsing
//! and hashing a page, checking a body's assertions — takes a worker, so
//! that a burst of such steps queues here instead of starving the runtime's
//! threads. A worker is never held while waiting on the network:
//! [`OnCpu`] holds one only while its future is being polled (the
//! computation after bytes arrived), and [`CpuPool::permit`] is taken
//! around steps that only compute.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// The workers; resizable (the monitor sizes it from the configuration),
/// permits taken before a resize go back to the pool they came from.
pub(crate) struct CpuPool {
    workers: RwLock<Arc<Semaphore>>,
}

/// One worker, released when dropped. `None` inside only if the pool was
/// closed, which it never is: the work then runs unlimited rather than not
/// at all.
pub(crate) struct CpuPermit {
    _held: Option<OwnedSemaphorePermit>,
}

impl CpuPool {
    /// A pool of `workers` (at least 1).
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            workers: RwLock::new(Arc::new(Semaphore::new(workers.max(1)))),
        }
    }

    /// One worker per core this process may use.
    pub(crate) fn per_core() -> Self {
        Self::new(
            std::thread::available_parallelism()
                .map(std::num::NonZeroUsize::get)
                .unwrap_or(1),
        )
    }

    fn semaphore(&self) -> Arc<Semaphore> {
        // Only ever replaced whole, so a poisoned lock is usable.
        Arc::clone(&self.workers.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Replaces the pool with one of `workers` (at least 1).
    pub(crate) fn resize(&self, workers: usize) {
        *self.workers.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Semaphore::new(workers.max(1)));
    }

    /// Workers not taken right now.
    pub(crate) fn idle(&self) -> usize {
        self.semaphore().available_permits()
    }

    /// Waits for a worker, for a step that only computes.
    pub(crate) async fn permit(&self) -> CpuPermit {
        CpuPermit {
            _held: self.semaphore().acquire_owned().await.ok(),
        }
    }

    /// `work`, polled only while it holds a worker: for a future that
    /// computes whenever it is woken (a TLS handshake processing the
    /// server's flight) and otherwise waits on the network without one.
    pub(crate) fn on_cpu<F: Future>(&self, work: F) -> OnCpu<F> {
        OnCpu {
            pool: self.semaphore(),
            work: Box::pin(work),
            waiting: None,
        }
    }
}

type Acquire = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// See [`CpuPool::on_cpu`]: takes a worker before each poll of the inner
/// future and gives it back as soon as that poll returns.
pub(crate) struct OnCpu<F> {
    pool: Arc<Semaphore>,
    work: Pin<Box<F>>,
    /// Waiting for a worker (woken by the pool, not by the network).
    waiting: Option<Acquire>,
}

impl<F: Future> Future for OnCpu<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let permit = match this.waiting.as_mut() {
            Some(acquire) => match acquire.as_mut().poll(cx) {
                Poll::Ready(permit) => permit.ok(),
                Poll::Pending => return Poll::Pending,
            },
            None => match Arc::clone(&this.pool).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    let mut acquire: Acquire = Box::pin(Arc::clone(&this.pool).acquire_owned());
                    match acquire.as_mut().poll(cx) {
                        Poll::Ready(permit) => permit.ok(),
                        Poll::Pending => {
                            this.waiting = Some(acquire);
                            return Poll::Pending;
                        }
                    }
                }
            },
        };
        this.waiting = None;
        let polled = this.work.as_mut().poll(cx);
        // Given back before the inner future waits for the network again.
        drop(permit);
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_worker_is_held_only_while_the_work_is_polled() {
        let pool = CpuPool::new(1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut work = tokio::spawn(pool.on_cpu(async move {
            let _ = rx.await;
            7
        }));
        // Waiting on its channel, the work holds no worker: a step that
        // only computes gets the only one.
        tokio::task::yield_now().await;
        let permit = pool.permit().await;
        assert_eq!(pool.idle(), 0);
        // Woken while the pool is busy, the work waits for the worker.
        let _ = tx.send(());
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), &mut work)
                .await
                .is_err()
        );
        drop(permit);
        assert_eq!(work.await.ok(), Some(7));
        assert_eq!(pool.idle(), 1);
    }
}
