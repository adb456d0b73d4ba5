//! What the database and cache probes (`postgres`, `mysql`, `redis`) share:
//! the shell of a run ([`run_check`]: timed, its failure a finding, its
//! summary line), a byte budget on everything a server sends
//! ([`Bounded`]) and the connections a check keeps between its runs
//! ([`KeptConnections`]). A measure past its threshold is judged by the
//! shared [`keepup_config::threshold::Threshold::finding`].
//!
//! A check keeps its connection between runs, as postgres_exporter and
//! redis_exporter do: a run on a kept connection costs the server one or
//! two queries instead of a login (a process fork and a password hash on
//! PostgreSQL), which is what lets one keepup watch many servers often.
//! A run that fails or is cut by its timeout drops the connection, so the
//! next run starts from a fresh login.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use keepup_model::{Outcome, Status, TimingBreakdown};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::context::ProbeContext;
use crate::util::{Fail, finish, ms};

/// Runs one check of a database or cache server at `target`: `session`
/// fills the outcome and the timings under the run's deadline (the context
/// it is given is budgeted); a session that fails adds its failure as a
/// finding, which is then the summary line, after the findings it made
/// before failing. A healthy run is summed up from the role the session
/// wrote in the evidence detail `key` ("PostgreSQL replica at db:5432 is
/// healthy").
pub(crate) async fn run_check(
    ctx: &ProbeContext,
    product: &str,
    key: &str,
    target: &str,
    session: impl AsyncFnOnce(&ProbeContext, &mut Outcome, &mut TimingBreakdown) -> Result<(), Fail>,
) -> Outcome {
    let started = Instant::now();
    let ctx = ctx.budgeted();
    let mut timing = TimingBreakdown::default();
    let mut outcome = Outcome::new(Status::Up, "");
    let result = session(&ctx, &mut outcome, &mut timing).await;
    timing.total_ms = Some(ms(started.elapsed()));
    outcome.evidence.timing = Some(timing);
    if let Err(fail) = result {
        let finding = fail.into_finding(&ctx);
        outcome.message = finding.text.clone();
        outcome.push(finding);
        return finish(outcome, String::new(), started);
    }
    let role = outcome
        .evidence
        .details
        .get(key)
        .and_then(|d| d["role"].as_str())
        .unwrap_or("server")
        .to_owned();
    finish(
        outcome,
        format!("{product} {role} at {target} is healthy"),
        started,
    )
}

/// What one run may receive from a server, all replies together: the
/// health queries' answers are a few kB; a custom query's are cut here.
pub(crate) const MAX_REPLY_BYTES: u64 = 1 << 20;

/// A kept connection unused for this long is closed (its check was
/// removed or changed).
const IDLE_CLOSE: Duration = Duration::from_secs(15 * 60);

/// A kept connection older than this is closed and the next run logs in
/// afresh, as pgbouncer's `server_lifetime` does: the certificate is
/// judged at login only, so its expiry or its replacement on the server is
/// seen within this time; one login an hour costs the server nothing.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(60 * 60);

/// A stream that refuses to read past a budget: the budget is refilled at
/// the start of each run ([`ReplyBudget::refill`]), and a server sending
/// more fails the connection instead of filling memory.
pub(crate) struct Bounded<S> {
    inner: S,
    budget: ReplyBudget,
}

/// The bytes a connection may still receive in this run (shared between
/// the stream and the run that refills it).
#[derive(Clone, Debug)]
pub(crate) struct ReplyBudget(Arc<AtomicU64>);

impl ReplyBudget {
    /// A full budget of [`MAX_REPLY_BYTES`].
    pub(crate) fn new() -> Self {
        Self(Arc::new(AtomicU64::new(MAX_REPLY_BYTES)))
    }
    /// Gives a new run the full budget.
    pub(crate) fn refill(&self) {
        self.0.store(MAX_REPLY_BYTES, Ordering::Relaxed);
    }
    /// Whether the server sent all it was allowed to.
    pub(crate) fn exhausted(&self) -> bool {
        self.0.load(Ordering::Relaxed) == 0
    }
}

impl<S> Bounded<S> {
    pub(crate) fn new(inner: S, budget: ReplyBudget) -> Self {
        Self { inner, budget }
    }
    /// The stream, to wrap it in TLS (and bound it again).
    pub(crate) fn into_parts(self) -> (S, ReplyBudget) {
        (self.inner, self.budget)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Bounded<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let left = self.budget.0.load(Ordering::Relaxed);
        if left == 0 {
            return Poll::Ready(Err(io::Error::other(format!(
                "the server sent more than {} in one run",
                crate::util::fmt_bytes(MAX_REPLY_BYTES)
            ))));
        }
        let room = usize::try_from(left).unwrap_or(usize::MAX);
        let before = buf.filled().len();
        let poll = if room >= buf.remaining() {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        } else {
            // Only `room` bytes may be read: offer the inner stream that
            // much of the buffer.
            let mut limited = ReadBuf::new(buf.initialize_unfilled_to(room));
            let poll = Pin::new(&mut self.inner).poll_read(cx, &mut limited);
            let n = limited.filled().len();
            buf.advance(n);
            poll
        };
        if let Poll::Ready(Ok(())) = &poll {
            let n = buf.filled().len() - before;
            self.budget.0.fetch_sub(n as u64, Ordering::Relaxed);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Bounded<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The connections kept between runs, by what they were opened with
/// (hashed with a per-process key: the password is part of it).
pub(crate) struct KeptConnections<C> {
    hasher: RandomState,
    by_key: Mutex<HashMap<u64, Kept<C>>>,
}

impl<C> Default for KeptConnections<C> {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            by_key: Mutex::new(HashMap::new()),
        }
    }
}

struct Kept<C> {
    conn: Arc<C>,
    opened: Instant,
    last_used: Instant,
}

impl<C> KeptConnections<C> {
    /// The key of a connection opened with `settings`.
    pub(crate) fn key(&self, settings: impl Hash) -> u64 {
        self.hasher.hash_one(settings)
    }

    /// The kept connection for `key`, if it is still `usable`; closes the
    /// connections nobody used for a while and those past [`MAX_AGE`].
    pub(crate) fn take_usable(&self, key: u64, usable: impl Fn(&C) -> bool) -> Option<Arc<C>> {
        let mut map = self.lock();
        let now = Instant::now();
        map.retain(|_, k| {
            now.duration_since(k.last_used) < IDLE_CLOSE && now.duration_since(k.opened) < MAX_AGE
        });
        match map.get_mut(&key) {
            Some(kept) if usable(&kept.conn) => {
                kept.last_used = now;
                Some(Arc::clone(&kept.conn))
            }
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keeps `conn` for the next runs under `key`.
    pub(crate) fn keep(&self, key: u64, conn: Arc<C>) {
        let now = Instant::now();
        self.lock().insert(
            key,
            Kept {
                conn,
                opened: now,
                last_used: now,
            },
        );
    }

    /// Forgets `conn` (if it is still the one kept under `key`).
    pub(crate) fn discard(&self, key: u64, conn: &Arc<C>) {
        let mut map = self.lock();
        if map.get(&key).is_some_and(|k| Arc::ptr_eq(&k.conn, conn)) {
            map.remove(&key);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Kept<C>>> {
        // Entries are inserted and removed whole: a poisoned map is usable.
        self.by_key
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Discards a kept connection when dropped, unless [`disarm`]ed: a run
/// that fails, or is cut by the check's timeout, leaves no half-used
/// connection behind for the next one.
///
/// [`disarm`]: DiscardUnlessDone::disarm
pub(crate) struct DiscardUnlessDone<'a, C> {
    kept: &'a KeptConnections<C>,
    key: u64,
    conn: Arc<C>,
    armed: bool,
}

impl<'a, C> DiscardUnlessDone<'a, C> {
    pub(crate) fn new(kept: &'a KeptConnections<C>, key: u64, conn: Arc<C>) -> Self {
        Self {
            kept,
            key,
            conn,
            armed: true,
        }
    }
    /// The run went well: the connection stays.
    pub(crate) fn disarm(mut self) {
        self.armed = false;
    }
}

impl<C> Drop for DiscardUnlessDone<'_, C> {
    fn drop(&mut self) {
        if self.armed {
            self.kept.discard(self.key, &self.conn);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[tokio::test]
    async fn a_stream_past_its_budget_fails_and_a_refill_lets_it_read_again() {
        let data = vec![7u8; (MAX_REPLY_BYTES + 10) as usize];
        let budget = ReplyBudget::new();
        let mut bounded = Bounded::new(&data[..], budget.clone());
        let mut got = Vec::new();
        let err = bounded.read_to_end(&mut got).await.unwrap_err();
        assert_eq!(got.len() as u64, MAX_REPLY_BYTES);
        assert!(err.to_string().contains("more than 1 MiB"), "{err}");
        assert!(budget.exhausted());
        budget.refill();
        let mut rest = Vec::new();
        bounded.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_kept_connection_in_steady_use_is_closed_at_its_maximum_age() {
        let kept = KeptConnections::<&str>::default();
        let key = kept.key("db");
        kept.keep(key, Arc::new("session"));
        let every = Duration::from_secs(60);
        let mut used = Duration::ZERO;
        while used + every < MAX_AGE {
            tokio::time::advance(every).await;
            used += every;
            assert!(
                kept.take_usable(key, |_| true).is_some(),
                "closed after {used:?}"
            );
        }
        tokio::time::advance(every).await;
        assert!(kept.take_usable(key, |_| true).is_none());
    }
}
