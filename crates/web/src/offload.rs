//! Store work off the async runtime, on a few threads of the web's own.
//!
//! Every page, API answer and ping reads or writes the store on a blocking
//! thread. On tokio's blocking pool, which grows a thread whenever none is
//! idle the moment a task arrives, 50 concurrent clients kept about 47
//! threads busy in turn even with eight tasks allowed at once, and every
//! one of them kept an allocator heap of its own with what it had decoded
//! (results, rollups) and freed on another thread: the daemon's RSS grew
//! by 50 to 100 MB under a check page's load. The web's tasks now run on
//! [`THREADS`] threads started once and reused, so their heaps are few
//! and stay warm; tasks past that wait in a queue. Backups, drills and
//! restores use the runtime's blocking pool directly and are not held back
//! by web load.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

/// How many web tasks run at once: twice the store's read connections, so
/// a read always finds the next one ready while the others encode their
/// answers, and writes (pings, sessions) still pass.
const THREADS: usize = 8;

/// The pool threads' name (seen in `top -H` and `/proc/PID/task/*/comm`).
const THREAD_NAME: &str = "keepup-web";

/// Why a task gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum TaskFailed {
    /// It panicked (the panic message went to stderr).
    #[error("the task panicked")]
    Panicked,
    /// tokio's blocking pool, used when no thread of the pool could be
    /// started, failed to run it.
    #[error(transparent)]
    Join(#[from] tokio::task::JoinError),
}

type Job = Box<dyn FnOnce() + Send>;

/// The queue the pool's threads take tasks from; None when no thread
/// could be started.
fn queue() -> Option<&'static Mutex<Sender<Job>>> {
    static QUEUE: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (sender, receiver) = channel::<Job>();
            let receiver = Arc::new(Mutex::new(receiver));
            let started = (0..THREADS)
                .filter(|_| {
                    let receiver = receiver.clone();
                    std::thread::Builder::new()
                        .name(THREAD_NAME.into())
                        .spawn(move || work(&receiver))
                        .inspect_err(|e| tracing::error!(error = %e, "cannot start a web thread"))
                        .is_ok()
                })
                .count();
            (started > 0).then(|| Mutex::new(sender))
        })
        .as_ref()
}

/// A pool thread: runs tasks until the queue is gone.
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next task.
        let job = receiver
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        match job {
            // A panicking task drops its answer's sender (its caller gets
            // `Panicked`); the thread goes on with the next.
            Ok(job) => drop(catch_unwind(AssertUnwindSafe(job))),
            Err(_) => return,
        }
    }
}

/// Runs `f` on one of the web's threads once one is free; the drop-in for
/// `tokio::task::spawn_blocking` in this crate. A client hanging up does
/// not cancel a task already queued.
pub(crate) async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, TaskFailed> {
    let Some(queue) = queue() else {
        return Ok(tokio::task::spawn_blocking(f).await?);
    };
    let (answer, answered) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller may be gone; its answer is then dropped here.
        let _ = answer.send(f());
    });
    let sent = queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .send(job);
    if let Err(unsent) = sent {
        // Every pool thread has ended (they end only with the queue, so
        // this is not expected): run it on tokio's pool instead.
        tokio::task::spawn_blocking(unsent.0).await?;
    }
    answered.await.map_err(|_| TaskFailed::Panicked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_run_on_the_pools_few_threads_and_a_panic_is_an_error() {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (running, most) = (running.clone(), most.clone());
                tokio::spawn(spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::yield_now();
                    running.fetch_sub(1, Ordering::SeqCst);
                    let me = std::thread::current();
                    (i, me.id(), me.name().map(str::to_owned))
                }))
            })
            .collect();
        let mut threads = HashSet::new();
        for (i, task) in tasks.into_iter().enumerate() {
            let (n, thread, name) = task.await.unwrap().unwrap();
            assert_eq!(n, i, "each task's own answer");
            assert_eq!(name.as_deref(), Some(THREAD_NAME), "on the web's threads");
            threads.insert(thread);
        }
        assert!(threads.len() <= THREADS, "{} threads", threads.len());
        assert!(most.load(Ordering::SeqCst) <= THREADS);

        let panicked = spawn_blocking(|| panic!("a bug in a task")).await;
        assert!(
            matches!(panicked, Err(TaskFailed::Panicked)),
            "{panicked:?}"
        );
        for _ in 0..2 * THREADS {
            assert_eq!(spawn_blocking(|| 7).await.unwrap(), 7, "the pool serves on");
        }
    }
}
