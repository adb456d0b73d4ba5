//! Login attempts per client address: a token bucket each, in memory. A
//! bucket holds as many attempts as are allowed per minute and refills at
//! that rate, so a person who mistypes twice is never slowed while a
//! guesser gets a few tries a minute. Addresses are counted as the
//! listener counts connections (an IPv6 /64 is one address). One more
//! bucket, [`GlobalLoginRate`], holds every address together: a spray
//! from many addresses cannot keep the cores hashing passwords.
//! [`KnownNetworks`] remembers the networks people logged in from, which
//! skip the global bucket, so that such a spray cannot lock the owner out.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept at most; past it, the least recently used one is dropped,
/// so that a spray of addresses cannot grow the memory, and a newcomer is
/// never refused because the table is full. (Dropping a bucket in use
/// gives that address a fresh one; with this many addresses at once the
/// global login rate is what holds.)
const MAX_BUCKETS: usize = 100_000;

/// The per-address login limiter.
pub struct LoginLimiter {
    per_minute: f64,
    table: Mutex<Table>,
}

/// The buckets and their order of use. `used` holds an entry per use,
/// oldest first; an entry whose stamp is no longer its bucket's is stale
/// and skipped, so finding the least recently used bucket is amortised
/// O(1).
#[derive(Default)]
struct Table {
    buckets: HashMap<IpAddr, Bucket>,
    used: VecDeque<(IpAddr, u64)>,
    next_stamp: u64,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Which entry of `used` is this bucket's latest use.
    stamp: u64,
}

impl Bucket {
    /// A full bucket of `per_minute` attempts at `now`.
    fn full(per_minute: f64, now: Instant, stamp: u64) -> Self {
        Bucket {
            tokens: per_minute,
            updated: now,
            stamp,
        }
    }

    /// Refills for the time since the last take, then takes one attempt;
    /// false when there is none.
    fn take(&mut self, per_minute: f64, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.updated).as_secs_f64() / 60.0;
        self.tokens = (self.tokens + refill * per_minute).min(per_minute);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Logins from all addresses together: a bucket of `per_minute` attempts
/// refilled at that rate.
pub struct GlobalLoginRate {
    per_minute: f64,
    bucket: Mutex<Bucket>,
}

impl GlobalLoginRate {
    /// A rate of `per_minute` logins a minute, in all.
    pub fn new(per_minute: u32) -> Self {
        let per_minute = f64::from(per_minute.max(1));
        GlobalLoginRate {
            per_minute,
            bucket: Mutex::new(Bucket::full(per_minute, Instant::now(), 0)),
        }
    }

    /// Takes one attempt at `now`; false when none is left.
    pub fn allow(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        bucket.take(self.per_minute, now)
    }
}

/// How long a network that logged in stays known.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);

/// Networks remembered at most; past it, the one whose last login is
/// oldest is forgotten. Only successful logins add one, so filling it
/// takes that many logins with a right password.
const MAX_KNOWN: usize = 4096;

/// The source networks (IPv4 /24, IPv6 /64) of successful logins in the
/// last [`KNOWN_FOR`], in memory: their logins skip the global rate and
/// have a password check of their own at the gate.
#[derive(Default)]
pub struct KnownNetworks {
    /// Each network's latest successful login.
    last_login: Mutex<HashMap<IpAddr, Instant>>,
}

impl KnownNetworks {
    /// Remembers `client`'s network as having logged in at `now`.
    pub fn remember(&self, client: IpAddr, now: Instant) {
        let (network, _) = network_of(client);
        let mut table = self
            .last_login
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if !table.contains_key(&network) && table.len() >= MAX_KNOWN {
            // A scan, but only on a successful login with a full table.
            let oldest = table.iter().min_by_key(|(_, at)| **at).map(|(n, _)| *n);
            if let Some(oldest) = oldest {
                table.remove(&oldest);
            }
        }
        table.insert(network, now);
    }

    /// Whether someone logged in from `client`'s network within
    /// [`KNOWN_FOR`] before `now`.
    pub fn knows(&self, client: IpAddr, now: Instant) -> bool {
        let table = self
            .last_login
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        table
            .get(&network_of(client).0)
            .is_some_and(|at| now.saturating_duration_since(*at) < KNOWN_FOR)
    }
}

/// The source network of `client` that logins are judged by (known
/// networks, account locks): its IPv4 /24 or IPv6 /64, with the prefix.
pub(super) fn network_of(client: IpAddr) -> (IpAddr, u8) {
    let client = client.to_canonical();
    let prefix = if client.is_ipv4() { 24 } else { 64 };
    (keepup_config::listener::mask(client, prefix), prefix)
}

impl Table {
    /// Drops the least recently used bucket; false when there is none.
    fn evict_one(&mut self) -> bool {
        while let Some((source, stamp)) = self.used.pop_front() {
            if self.buckets.get(&source).is_some_and(|b| b.stamp == stamp) {
                self.buckets.remove(&source);
                return true;
            }
        }
        false
    }

    /// Records a use of `source`'s bucket (already stamped `stamp`); stale
    /// entries are dropped once they outnumber the live ones, so `used`
    /// stays within about twice the table and each sweep is paid for by
    /// the uses that made it.
    fn record_use(&mut self, source: IpAddr, stamp: u64) {
        self.used.push_back((source, stamp));
        if self.used.len() > 2 * self.buckets.len() + 64 {
            let buckets = &self.buckets;
            self.used
                .retain(|(s, st)| buckets.get(s).is_some_and(|b| b.stamp == *st));
        }
    }
}

impl LoginLimiter {
    /// A limiter allowing `per_minute` attempts per address per minute.
    pub fn new(per_minute: u32) -> Self {
        LoginLimiter {
            per_minute: f64::from(per_minute.max(1)),
            table: Mutex::new(Table::default()),
        }
    }

    /// Takes one attempt for `client` at `now`; false when it has none
    /// left.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let source = crate::admission::source_of(client);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if !table.buckets.contains_key(&source) {
            while table.buckets.len() >= MAX_BUCKETS && table.evict_one() {}
        }
        let stamp = table.next_stamp;
        table.next_stamp += 1;
        let per_minute = self.per_minute;
        let bucket = table
            .buckets
            .entry(source)
            .or_insert(Bucket::full(per_minute, now, stamp));
        bucket.stamp = stamp;
        let allowed = bucket.take(per_minute, now);
        table.record_use(source, stamp);
        allowed
    }

    /// Gives back the attempt `client` took at [`Self::allow`], for a
    /// login turned away before its password was checked (the server was
    /// busy: not the address's doing).
    pub fn give_back(&self, client: IpAddr) {
        let source = crate::admission::source_of(client);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let per_minute = self.per_minute;
        if let Some(bucket) = table.buckets.get_mut(&source) {
            bucket.tokens = (bucket.tokens + 1.0).min(per_minute);
        }
    }

    /// Buckets held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        let table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        table.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_burst_then_the_refill_rate() {
        let limiter = LoginLimiter::new(3);
        let t0 = Instant::now();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(a, t0)));
        assert!(!limiter.allow(a, t0));
        assert!(limiter.allow(b, t0), "another address has its own bucket");
        // One attempt comes back every 20 s at 3 a minute.
        assert!(!limiter.allow(a, t0 + Duration::from_secs(19)));
        let later = t0 + Duration::from_secs(41);
        assert!(limiter.allow(a, later) && limiter.allow(a, later));
        assert!(!limiter.allow(a, later));
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        assert!((0..3).all(|_| limiter.allow(v6a, t0)));
        assert!(!limiter.allow(v6b, t0), "one /64 is one address");
    }

    #[test]
    fn a_full_table_drops_the_least_recently_used_address_not_the_newcomer() {
        let limiter = LoginLimiter::new(2);
        let t0 = Instant::now();
        let address = |i: usize| IpAddr::from([10, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        let first = address(0);
        // The first address spends its attempts, then the table fills
        // with others, all within the same second.
        assert!(limiter.allow(first, t0) && limiter.allow(first, t0));
        assert!(!limiter.allow(first, t0));
        for i in 1..MAX_BUCKETS {
            assert!(limiter.allow(address(i), t0), "address {i}");
        }
        // A bucket used again is the newest: not the one dropped.
        assert!(limiter.allow(address(1), t0));
        assert_eq!(limiter.len(), MAX_BUCKETS);
        // A newcomer to the full table gets its attempts at once; the
        // least recently used (the first) was dropped for it.
        let newcomer = IpAddr::from([192, 0, 2, 7]);
        assert!(limiter.allow(newcomer, t0));
        assert_eq!(limiter.len(), MAX_BUCKETS);
        assert!(
            !limiter.allow(address(1), t0),
            "address 1 kept its bucket (spent)"
        );
        assert!(
            limiter.allow(first, t0),
            "the first address was dropped, so it starts afresh"
        );
    }

    #[test]
    fn the_global_rate_holds_all_addresses_together() {
        let rate = GlobalLoginRate::new(4);
        let t0 = Instant::now();
        assert!((0..4).all(|_| rate.allow(t0)));
        assert!(!rate.allow(t0));
        assert!(!rate.allow(t0 + Duration::from_secs(14)));
        assert!(
            rate.allow(t0 + Duration::from_secs(16)),
            "one back every 15 s"
        );
    }

    #[test]
    fn a_network_that_logged_in_is_known_for_a_while() {
        let known = KnownNetworks::default();
        let t0 = Instant::now();
        known.remember("192.0.2.10".parse().unwrap(), t0);
        known.remember("2001:db8:1:2::5".parse().unwrap(), t0);
        assert!(known.knows("192.0.2.200".parse().unwrap(), t0));
        assert!(known.knows("2001:db8:1:2::9".parse().unwrap(), t0));
        assert!(!known.knows("192.0.3.10".parse().unwrap(), t0));
        assert!(!known.knows("2001:db8:1:3::5".parse().unwrap(), t0));
        assert!(!known.knows("192.0.2.10".parse().unwrap(), t0 + KNOWN_FOR));
        // A full table forgets the oldest login, not the newcomer.
        for i in 0..MAX_KNOWN {
            let network = IpAddr::from([10, (i >> 8) as u8, i as u8, 1]);
            known.remember(network, t0 + Duration::from_secs(1 + i as u64));
        }
        assert!(!known.knows("192.0.2.10".parse().unwrap(), t0));
        assert!(known.knows(IpAddr::from([10, 0, 0, 1]), t0));
        assert!(known.knows(IpAddr::from([10, 15, 255, 1]), t0));
    }
}
