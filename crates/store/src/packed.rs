//! The compact encoding of a run of rollup buckets in one blob.
//!
//! Minute rollups are stored one row per check per hour, hour rollups one
//! row per check per day (see the `schema` module): a row per bucket cost
//! about 38 bytes of key, record header and cell overhead for 14 bytes of
//! figures, and hour rollups are kept for two years.
//!
//! A blob is a sequence of buckets in ascending slot order (the slot is the
//! bucket's index within the row's period). Each bucket is:
//!
//! * a flags byte: [`HAS_DEGRADED`], [`HAS_DOWN`], [`HAS_UNKNOWN`] say which
//!   of those counts follow (most buckets have only `up`), [`ONE_LATENCY`]
//!   that all six latency figures are equal (a bucket holding one result,
//!   the usual minute bucket), [`SKIP`] that a count of empty slots since
//!   the previous bucket follows, [`SIGNED`] that the latency numbers below
//!   are zigzag-encoded because one of them is negative;
//! * the skip (LEB128), if flagged;
//! * `up`, then the flagged counts (LEB128);
//! * the latency minimum, then unless [`ONE_LATENCY`] the differences
//!   p50 − min, p95 − p50, p99 − p95, max − p99 and mean − min, LEB128
//!   (differences of sorted figures are small and never negative for
//!   rollups keepup wrote; with [`SIGNED`] any value round-trips).
//!
//! An hour bucket of a 60 s check takes about 12 bytes, a minute bucket 4.

use crate::error::Fail;

const HAS_DEGRADED: u8 = 1;
const HAS_DOWN: u8 = 1 << 1;
const HAS_UNKNOWN: u8 = 1 << 2;
const ONE_LATENCY: u8 = 1 << 3;
const SKIP: u8 = 1 << 4;
const SIGNED: u8 = 1 << 5;
const KNOWN_FLAGS: u8 = HAS_DEGRADED | HAS_DOWN | HAS_UNKNOWN | ONE_LATENCY | SKIP | SIGNED;

/// One rollup bucket as stored: status counts and latency figures in
/// rollup units (`compact::ROLLUP_UNIT_US`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Index of the bucket within its row's period.
    pub slot: u32,
    /// Up, degraded, down, unknown.
    pub counts: [u32; 4],
    /// Min, p50, p95, p99, max, mean.
    pub latency: [i64; 6],
}

/// Encodes `buckets`, which must be in strictly ascending slot order.
pub(crate) fn encode(buckets: &[Bucket]) -> Vec<u8> {
    let mut out = Vec::with_capacity(buckets.len() * 12);
    let mut next_slot = 0u32;
    for b in buckets {
        let [up, degraded, down, unknown] = b.counts;
        let one_latency = b.latency.iter().all(|&l| l == b.latency[0]);
        let [min, p50, p95, p99, max, mean] = b.latency;
        let numbers = [
            min,
            p50.wrapping_sub(min),
            p95.wrapping_sub(p50),
            p99.wrapping_sub(p95),
            max.wrapping_sub(p99),
            mean.wrapping_sub(min),
        ];
        let numbers = if one_latency {
            &numbers[..1]
        } else {
            &numbers[..]
        };
        let signed = numbers.iter().any(|&n| n < 0);
        let skip = b.slot.saturating_sub(next_slot);
        let mut flags = 0;
        for (present, flag) in [
            (degraded != 0, HAS_DEGRADED),
            (down != 0, HAS_DOWN),
            (unknown != 0, HAS_UNKNOWN),
            (one_latency, ONE_LATENCY),
            (skip != 0, SKIP),
            (signed, SIGNED),
        ] {
            if present {
                flags |= flag;
            }
        }
        out.push(flags);
        if skip != 0 {
            put_unsigned(&mut out, u64::from(skip));
        }
        put_unsigned(&mut out, u64::from(up));
        for (count, flag) in [
            (degraded, HAS_DEGRADED),
            (down, HAS_DOWN),
            (unknown, HAS_UNKNOWN),
        ] {
            if flags & flag != 0 {
                put_unsigned(&mut out, u64::from(count));
            }
        }
        for &n in numbers {
            if signed {
                put_signed(&mut out, n);
            } else {
                put_unsigned(&mut out, n as u64);
            }
        }
        next_slot = b.slot.saturating_add(1);
    }
    out
}

/// Decodes a blob written by [`encode`]; a blob that does not parse, or
/// names a slot at or beyond `slots`, is corrupt.
pub(crate) fn decode(mut blob: &[u8], slots: u32) -> Result<Vec<Bucket>, Fail> {
    let mut out = Vec::new();
    let mut next_slot = 0u32;
    while let Some((&flags, rest)) = blob.split_first() {
        blob = rest;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(corrupt(format!("unknown flags {flags:#04x}")));
        }
        let skip = if flags & SKIP != 0 {
            take_u32(&mut blob)?
        } else {
            0
        };
        let slot = next_slot
            .checked_add(skip)
            .filter(|&s| s < slots)
            .ok_or_else(|| corrupt(format!("slot beyond the {slots} of the row")))?;
        let up = take_u32(&mut blob)?;
        let mut optional = |flag: u8| -> Result<u32, Fail> {
            if flags & flag != 0 {
                take_u32(&mut blob)
            } else {
                Ok(0)
            }
        };
        let counts = [
            up,
            optional(HAS_DEGRADED)?,
            optional(HAS_DOWN)?,
            optional(HAS_UNKNOWN)?,
        ];
        let mut number = || {
            if flags & SIGNED != 0 {
                take_signed(&mut blob)
            } else {
                take_unsigned(&mut blob).map(|n| n as i64)
            }
        };
        let min = number()?;
        let latency = if flags & ONE_LATENCY != 0 {
            [min; 6]
        } else {
            let mut diff = [0i64; 5];
            for d in &mut diff {
                *d = number()?;
            }
            let p50 = min.wrapping_add(diff[0]);
            let p95 = p50.wrapping_add(diff[1]);
            let p99 = p95.wrapping_add(diff[2]);
            let max = p99.wrapping_add(diff[3]);
            [min, p50, p95, p99, max, min.wrapping_add(diff[4])]
        };
        out.push(Bucket {
            slot,
            counts,
            latency,
        });
        next_slot = slot + 1;
    }
    Ok(out)
}

/// Replaces or inserts `new` buckets (ascending) into `old` (ascending):
/// a bucket rolled up again replaces the stored one.
pub(crate) fn merge(old: Vec<Bucket>, new: &[Bucket]) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let mut old = old.into_iter().peekable();
    for n in new {
        while let Some(o) = old.next_if(|o| o.slot < n.slot) {
            out.push(o);
        }
        old.next_if(|o| o.slot == n.slot);
        out.push(*n);
    }
    out.extend(old);
    out
}

fn corrupt(what: String) -> Fail {
    Fail::Corrupt(format!("packed rollups: {what}"))
}

fn put_unsigned(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_signed(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn take_unsigned(blob: &mut &[u8]) -> Result<u64, Fail> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = blob
            .split_first()
            .ok_or_else(|| corrupt("blob ends inside a number".to_owned()))?;
        *blob = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(corrupt("number longer than 64 bits".to_owned()))
}

fn take_u32(blob: &mut &[u8]) -> Result<u32, Fail> {
    let v = take_unsigned(blob)?;
    u32::try_from(v).map_err(|_| corrupt(format!("count {v} out of range")))
}

fn take_signed(blob: &mut &[u8]) -> Result<i64, Fail> {
    let v = take_unsigned(blob)?;
    Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(slot: u32, counts: [u32; 4], latency: [i64; 6]) -> Bucket {
        Bucket {
            slot,
            counts,
            latency,
        }
    }

    #[test]
    fn buckets_round_trip_with_gaps_extremes_and_unsorted_figures() {
        let buckets = [
            bucket(0, [60, 0, 0, 0], [2000, 2400, 2900, 3000, 3100, 2450]),
            bucket(1, [1, 0, 0, 0], [7; 6]),
            bucket(5, [0, 3, 4, 5], [0; 6]),
            bucket(23, [u32::MAX, 1, 0, 1], [i64::MAX, i64::MIN, -1, 0, 1, 5]),
        ];
        let blob = encode(&buckets);
        assert_eq!(decode(&blob, 24).unwrap(), buckets);
        assert_eq!(decode(&[], 24).unwrap(), []);
        // The common cases are as small as documented.
        assert_eq!(encode(&buckets[..1]).len(), 12);
        assert_eq!(encode(&[bucket(0, [1, 0, 0, 0], [2000; 6])]).len(), 4);
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let blob = encode(&[bucket(
            3,
            [60, 1, 0, 0],
            [2000, 2400, 2900, 3000, 3100, 2450],
        )]);
        for cut in 1..blob.len() {
            assert!(decode(&blob[..cut], 24).is_err(), "cut at {cut}");
        }
        assert!(decode(&blob, 3).is_err(), "slot 3 of 3");
        assert!(decode(&[0x80], 24).is_err(), "unknown flag");
        assert!(
            decode(
                &[
                    0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
                ],
                24
            )
            .is_err()
        );
    }

    #[test]
    fn merge_replaces_equal_slots_and_keeps_order() {
        let b = |slot, up| bucket(slot, [up, 0, 0, 0], [1; 6]);
        let merged = merge(
            vec![b(1, 1), b(3, 1), b(5, 1)],
            &[b(0, 2), b(3, 2), b(6, 2)],
        );
        assert_eq!(merged, [b(0, 2), b(1, 1), b(3, 2), b(5, 1), b(6, 2)]);
    }
}
