//! The state domain checks share through the [`ProbeContext`]: answers
//! cached per domain and registry server, one lookup at a time per domain
//! (concurrent checks of the same domain wait for it and reuse it), and per
//! server a minimum spacing between queries and a back-off after the
//! registry said "slow down".
//!
//! Registries rate-limit hard (some block an address for a day), so
//! keepup asks each one as little as possible: a registered domain's
//! answer is reused for the check's `cache` duration (12 h by default), a
//! failure for at most [`FAILURE_TTL`], a rate limit until it has passed.
//!
//! [`ProbeContext`]: crate::ProbeContext

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::bootstrap::BootstrapCache;
use super::{Answer, Source};

/// A failed lookup is not repeated for this long (or the check's `cache`,
/// if shorter), so that a registry in trouble is not hammered every
/// interval.
pub const FAILURE_TTL: Duration = Duration::from_secs(15 * 60);
/// An earlier answer is used instead of a failure for this long.
pub const STALE_LIMIT: Duration = Duration::from_secs(7 * 86_400);
/// First back-off after a WHOIS rate-limit text (no `Retry-After` there);
/// doubled for each further one, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(15 * 60);
/// The longest back-off.
const MAX_BACKOFF: Duration = Duration::from_secs(24 * 3600);

/// What a lookup ended with.
#[derive(Debug, Clone)]
pub(crate) enum Found {
    /// The registry answered: [`Answer::Registered`] or
    /// [`Answer::NotFound`].
    Answer(Answer),
    /// The registry (or keepup on its behalf) holds queries back until
    /// `until`.
    RateLimited { text: String, until: Instant },
    /// No usable answer.
    Failed { code: &'static str, text: String },
}

/// One lookup's result, where it came from and when.
#[derive(Debug, Clone)]
pub(crate) struct Lookup {
    pub(crate) found: Found,
    pub(crate) source: Source,
    /// When it was made (monotonic, for freshness).
    pub(crate) at: Instant,
    /// When it was made (Unix seconds, for texts and evidence).
    pub(crate) wall: i64,
    /// Whether it may be reused (a query deferred by keepup's own spacing
    /// is not).
    pub(crate) cacheable: bool,
    /// Its age when it was read back from the durable memory (zero for a
    /// lookup this process made): `at` is then the time it was read.
    pub(crate) age_before: Duration,
}

impl Lookup {
    pub(crate) fn is_answer(&self) -> bool {
        matches!(self.found, Found::Answer(_))
    }

    /// How old it is at `now`.
    fn age(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.at) + self.age_before
    }

    /// Whether it may still be used instead of asking again, for a check
    /// whose answers live for `ttl`.
    fn fresh(&self, ttl: Duration, now: Instant) -> bool {
        let age = self.age(now);
        match &self.found {
            Found::Answer(_) => age < ttl,
            Found::RateLimited { until, .. } => now < *until,
            Found::Failed { .. } => age < ttl.min(FAILURE_TTL),
        }
    }
}

/// The latest lookup of one domain at one source, and the latest answer.
#[derive(Debug, Clone)]
struct Entry {
    latest: Lookup,
    last_answer: Option<Lookup>,
}

/// A registry server's queue and penalty box.
#[derive(Debug, Default)]
struct ServerState {
    /// The earliest time the next query may start.
    next_free: Option<Instant>,
    /// No query before this, and why.
    backoff: Option<(Instant, String)>,
    /// Rate limits in a row without a successful answer since.
    strikes: u32,
}

/// Whether a query to a server may go now.
#[derive(Debug)]
pub(crate) enum Gate {
    /// Yes, at this instant (now, or after the spacing).
    At(Instant),
    /// No: the server is in back-off until `until`.
    Backoff { until: Instant, text: String },
    /// No: the spacing leaves no slot before the run's deadline.
    Busy,
}

/// Shared state of all domain checks of one [`crate::ProbeContext`].
#[derive(Default)]
pub(crate) struct DomainState {
    entries: Mutex<HashMap<String, Entry>>,
    servers: Mutex<HashMap<String, ServerState>>,
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Keys already looked for in the durable memory.
    recalled: Mutex<std::collections::HashSet<String>>,
    pub(crate) bootstrap: BootstrapCache,
}

/// Locks a map that is always left consistent, so a poisoned lock (a
/// panic elsewhere while holding it) is still usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl DomainState {
    /// The cached lookup for `key`, if still fresh for `ttl`.
    pub(crate) fn fresh(&self, key: &str, ttl: Duration) -> Option<Lookup> {
        let now = Instant::now();
        lock(&self.entries)
            .get(key)
            .filter(|e| e.latest.fresh(ttl, now))
            .map(|e| e.latest.clone())
    }

    /// The latest answer for `key` not older than [`STALE_LIMIT`], for use
    /// while the registry cannot be asked.
    pub(crate) fn last_answer(&self, key: &str) -> Option<Lookup> {
        let now = Instant::now();
        lock(&self.entries)
            .get(key)
            .and_then(|e| e.last_answer.clone())
            .filter(|l| l.age(now) < STALE_LIMIT)
    }

    /// Remembers a lookup (if it may be reused).
    pub(crate) fn store(&self, key: &str, lookup: &Lookup) {
        if !lookup.cacheable {
            return;
        }
        let mut entries = lock(&self.entries);
        let last_answer = if lookup.is_answer() {
            Some(lookup.clone())
        } else {
            entries.get(key).and_then(|e| e.last_answer.clone())
        };
        entries.insert(
            key.to_owned(),
            Entry {
                latest: lookup.clone(),
                last_answer,
            },
        );
    }

    /// Whether `key` is to be looked for in the durable memory: once per
    /// key and process.
    pub(crate) fn first_recall(&self, key: &str) -> bool {
        lock(&self.recalled).insert(key.to_owned())
    }

    /// The lock that makes concurrent lookups of `key` wait for each
    /// other.
    pub(crate) fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(lock(&self.flights).entry(key.to_owned()).or_default())
    }

    /// Reserves the next query slot of `server`, `spacing` after the
    /// previous one, if it starts before `deadline`.
    pub(crate) fn reserve(&self, server: &str, spacing: Duration, deadline: Instant) -> Gate {
        let now = Instant::now();
        let mut servers = lock(&self.servers);
        let state = servers.entry(server.to_owned()).or_default();
        if let Some((until, text)) = &state.backoff {
            if *until > now {
                return Gate::Backoff {
                    until: *until,
                    text: text.clone(),
                };
            }
            state.backoff = None;
        }
        let at = state.next_free.map_or(now, |next| next.max(now));
        // Leave the query itself some time: a slot at the deadline is none.
        if at > now && at + Duration::from_millis(200) >= deadline {
            return Gate::Busy;
        }
        state.next_free = Some(at + spacing);
        Gate::At(at)
    }

    /// Puts `server` in back-off: until `retry_after` from now when the
    /// server said so, otherwise for an interval that doubles with each
    /// rate limit in a row. Returns the end of the back-off.
    pub(crate) fn penalise(
        &self,
        server: &str,
        retry_after: Option<Duration>,
        text: &str,
    ) -> Instant {
        let mut servers = lock(&self.servers);
        let state = servers.entry(server.to_owned()).or_default();
        state.strikes = state.strikes.saturating_add(1);
        let wait = retry_after.unwrap_or_else(|| {
            let doubled =
                FIRST_BACKOFF.saturating_mul(1 << state.strikes.saturating_sub(1).min(10));
            doubled.min(MAX_BACKOFF)
        });
        let until = Instant::now() + wait;
        state.backoff = Some((until, text.to_owned()));
        until
    }

    /// A successful answer from `server`: the back-off starts over.
    pub(crate) fn absolve(&self, server: &str) {
        if let Some(state) = lock(&self.servers).get_mut(server) {
            state.strikes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(found: Found) -> Lookup {
        Lookup {
            found,
            source: Source::Rdap {
                url: "http://127.0.0.1/".into(),
            },
            at: Instant::now(),
            wall: 0,
            cacheable: true,
            age_before: Duration::ZERO,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn answers_failures_and_rate_limits_live_differently() {
        let state = DomainState::default();
        let ttl = Duration::from_secs(3600);
        state.store("a", &lookup(Found::Answer(Answer::NotFound)));
        state.store(
            "b",
            &lookup(Found::Failed {
                code: "X",
                text: "x".into(),
            }),
        );
        state.store(
            "c",
            &lookup(Found::RateLimited {
                text: "slow".into(),
                until: Instant::now() + Duration::from_secs(1800),
            }),
        );
        tokio::time::advance(FAILURE_TTL + Duration::from_secs(1)).await;
        assert!(state.fresh("a", ttl).is_some());
        assert!(state.fresh("b", ttl).is_none());
        assert!(state.fresh("c", ttl).is_some());
        tokio::time::advance(ttl).await;
        assert!(state.fresh("a", ttl).is_none());
        assert!(state.fresh("c", ttl).is_none());
        // The last answer outlives the cache, for a while.
        state.store(
            "a",
            &lookup(Found::Failed {
                code: "X",
                text: "x".into(),
            }),
        );
        assert!(state.last_answer("a").is_some());
        tokio::time::advance(STALE_LIMIT).await;
        assert!(state.last_answer("a").is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn spacing_and_backoff() {
        let state = DomainState::default();
        let spacing = Duration::from_secs(2);
        let deadline = Instant::now() + Duration::from_secs(3);
        let Gate::At(first) = state.reserve("s", spacing, deadline) else {
            panic!()
        };
        let Gate::At(second) = state.reserve("s", spacing, deadline) else {
            panic!()
        };
        assert_eq!(second - first, spacing);
        assert!(matches!(state.reserve("s", spacing, deadline), Gate::Busy));
        assert!(matches!(
            state.reserve("other", spacing, deadline),
            Gate::At(_)
        ));

        let until = state.penalise("s", None, "limit exceeded");
        assert_eq!(until - Instant::now(), FIRST_BACKOFF);
        assert!(matches!(
            state.reserve("s", spacing, deadline),
            Gate::Backoff { .. }
        ));
        let until = state.penalise("s", None, "limit exceeded");
        assert_eq!(until - Instant::now(), FIRST_BACKOFF * 2);
        state.absolve("s");
        let until = state.penalise("s", Some(Duration::from_secs(5)), "429");
        assert_eq!(until - Instant::now(), Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(matches!(
            state.reserve("s", spacing, Instant::now() + Duration::from_secs(10)),
            Gate::At(_)
        ));
    }
}
