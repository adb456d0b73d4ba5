//! Login attempts per client address: a token bucket each, in memory. A
//! bucket holds as many attempts as are allowed per minute and refills at
//! that rate, so a person who mistypes twice is never slowed while a
//! guesser gets a few tries a minute. Addresses are counted as the
//! listener counts connections (an IPv6 /64 is one address).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept at most; past it, full ones (idle a minute) are dropped
/// first, so that a spray of addresses cannot grow the map without bound.
const MAX_BUCKETS: usize = 100_000;

/// The per-address login limiter.
pub struct LoginLimiter {
    per_minute: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl LoginLimiter {
    /// A limiter allowing `per_minute` attempts per address per minute.
    pub fn new(per_minute: u32) -> Self {
        LoginLimiter {
            per_minute: f64::from(per_minute.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one attempt for `client` at `now`; false when it has none
    /// left.
    pub fn allow(&self, client: IpAddr, now: Instant) -> bool {
        let source = crate::admission::source_of(client);
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&source) {
            let full = Duration::from_secs(60);
            buckets.retain(|_, b| now.saturating_duration_since(b.updated) < full);
            if buckets.len() >= MAX_BUCKETS {
                // Every bucket is in use: a spray from this many addresses
                // is refused rather than let grow the memory.
                return false;
            }
        }
        let bucket = buckets.entry(source).or_insert(Bucket {
            tokens: self.per_minute,
            updated: now,
        });
        let refill = now.saturating_duration_since(bucket.updated).as_secs_f64() / 60.0;
        bucket.tokens = (bucket.tokens + refill * self.per_minute).min(self.per_minute);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
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
}
