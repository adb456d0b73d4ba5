//! Slot arithmetic: when each check runs.
//!
//! A check with interval `I` runs at the instants `k·I + offset` (wall time,
//! milliseconds since the epoch), where `offset` is derived from a hash of
//! its id. The offset is deterministic (the same check runs at the same
//! second of the minute after every restart and reload) and uniformly
//! distributed, so thousands of checks with the same interval spread over
//! it instead of firing together.
//!
//! The next run is always the next slot *after* now: a check that missed
//! slots (the process was paused, a run took long) runs once, never in a
//! burst.

use keepup_model::Timestamp;

/// Deterministic 64-bit hash of an id (FNV-1a followed by a SplitMix64
/// finaliser for good avalanche). Hand-written because std's hasher is not
/// guaranteed stable across Rust releases, and slots must be.
pub fn stable_hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The check's offset within its interval, in milliseconds.
pub fn offset_ms(id: &str, interval_ms: i64) -> i64 {
    let interval = interval_ms.max(1) as u64;
    // Scale the hash into [0, interval) without modulo bias.
    ((u128::from(stable_hash(id)) * u128::from(interval)) >> 64) as i64
}

/// The first slot strictly after `t`.
pub fn next_slot_after(t: Timestamp, interval_ms: i64, offset_ms: i64) -> Timestamp {
    let interval = interval_ms.max(1);
    let k = (t - offset_ms).div_euclid(interval);
    (k + 1) * interval + offset_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_slot_is_strictly_after_and_aligned() {
        assert_eq!(next_slot_after(0, 60_000, 5_000), 5_000);
        assert_eq!(next_slot_after(5_000, 60_000, 5_000), 65_000);
        assert_eq!(next_slot_after(64_999, 60_000, 5_000), 65_000);
        // A long pause: the next slot is after now, not the missed ones.
        assert_eq!(
            next_slot_after(10 * 60_000 + 1, 60_000, 5_000),
            10 * 60_000 + 5_000
        );
        assert_eq!(
            next_slot_after(10 * 60_000 + 5_000, 60_000, 5_000),
            11 * 60_000 + 5_000
        );
    }

    #[test]
    fn offsets_are_stable_and_within_the_interval() {
        let a = offset_ms("shop/home", 60_000);
        assert_eq!(a, offset_ms("shop/home", 60_000));
        assert!((0..60_000).contains(&a));
        assert_ne!(a, offset_ms("shop/cart", 60_000));
    }

    #[test]
    fn offsets_spread_evenly() {
        // 10,000 checks over 60 one-second buckets: each bucket should get
        // close to 10000/60 ≈ 167; a clustering hash would fail this.
        let mut buckets = [0u32; 60];
        for i in 0..10_000 {
            let o = offset_ms(&format!("site{}/check{}", i % 97, i), 60_000);
            buckets[(o / 1000) as usize] += 1;
        }
        let (min, max) = (buckets.iter().min().unwrap(), buckets.iter().max().unwrap());
        assert!(
            *min > 110 && *max < 230,
            "uneven spread: min {min}, max {max}"
        );
    }
}
