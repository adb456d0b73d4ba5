//! Store work off the async runtime, a bounded number at a time.
//!
//! Every page, API answer and ping reads or writes the store on a blocking
//! thread. Tokio's blocking pool grows a thread for each such task waiting
//! (up to 512), yet the store serves only a few at once (four read
//! connections, one writer): under 50 concurrent clients the daemon held
//! about 190 blocking threads, most of them parked on the read pool.
//! Requests past the bound wait here, in async land, for a permit
//! instead (43 to 60 threads under the same load); backups, drills and
//! restores use the runtime's blocking pool directly and are not held back
//! by web load. (The daemon's RSS peaks under that load came from
//! elsewhere: the SLA burn-rate evaluation, see README "Web under load".)

use tokio::sync::Semaphore;
use tokio::task::JoinError;

/// How many web tasks run on blocking threads at once: twice the store's
/// read connections, so a read always finds the next one ready while the
/// others encode their answers, and writes (pings, sessions) still pass.
const AT_ONCE: usize = 8;

static PERMITS: Semaphore = Semaphore::const_new(AT_ONCE);

/// Runs `f` on a blocking thread once fewer than [`AT_ONCE`] web tasks
/// are running there; the drop-in for `tokio::task::spawn_blocking` in
/// this crate.
pub(crate) async fn spawn_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JoinError> {
    // The semaphore is never closed, so acquiring cannot fail; if it ever
    // did, running unbounded is better than refusing the request. The
    // permit goes with the task: a client hanging up does not free it
    // while its read still runs.
    let permit = PERMITS.acquire().await.ok();
    tokio::task::spawn_blocking(move || {
        let answer = f();
        drop(permit);
        answer
    })
    .await
}
