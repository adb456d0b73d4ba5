//! restic's content-defined chunking hash (a Rabin fingerprint over a
//! 64-byte window), as a drop-in replacement for the `rustic_cdc` crate
//! that `rustic_core` chunks files with.
//!
//! Why it exists: `rustic_core` builds a new [`Rabin64`] for every file it
//! backs up, and `rustic_cdc` computes the two 256-entry lookup tables
//! again each time, which is some 16 000 polynomial reductions. On a tree
//! of 20 000 small files that was a tenth of keepup's whole backup CPU
//! time. Here the tables depend only on the polynomial and the window
//! size, so they are computed once and shared; creating a [`Rabin64`] is
//! then an allocation of the window.
//!
//! The root `Cargo.toml` puts this crate in place of crates.io's
//! `rustic_cdc` with `[patch.crates-io]`, so it offers exactly the part of
//! that crate's API that `rustic_core` uses: [`Polynom`], [`Polynom64`],
//! [`Rabin64`] (with its public `hash`) and [`RollingHash64`]. The hash
//! values must be bit for bit those of restic's chunker, or chunk
//! boundaries (and so deduplication against restic's snapshots) would
//! differ: the unit tests check the rolling hash against the definition,
//! and `crates/backup/tests/targets.rs` checks that restic adds no new data
//! when it backs up a file that keepup already chunked.
//!
//! Not for anything else: keepup does not chunk data itself.

use std::sync::{Arc, Mutex};

/// A polynomial over GF(2) of degree < 64, one bit per coefficient.
pub type Polynom64 = u64;

/// Arithmetic on polynomials over GF(2).
pub trait Polynom {
    /// The degree (the index of the highest set bit); -1 for zero.
    fn degree(&self) -> i32;

    /// The remainder of the division by `m`.
    #[must_use]
    fn modulo(&self, m: &Self) -> Self;
}

impl Polynom for Polynom64 {
    fn degree(&self) -> i32 {
        63 - self.leading_zeros() as i32
    }

    fn modulo(&self, m: &Self) -> Self {
        let divisor_degree = m.degree();
        if divisor_degree < 0 {
            // Division by zero has no remainder to give; keep the value
            // rather than loop for ever.
            return *self;
        }
        let mut rest = *self;
        while rest.degree() >= divisor_degree {
            rest ^= m << (rest.degree() - divisor_degree);
        }
        rest
    }
}

/// A rolling hash over a window of the last bytes seen.
pub trait RollingHash64 {
    /// Forgets every byte seen.
    fn reset(&mut self);

    /// Slides in up to window size − 1 bytes from `iter`; returns how many.
    fn prefill_window<I>(&mut self, iter: &mut I) -> usize
    where
        I: Iterator<Item = u8>;

    /// [`RollingHash64::reset`] then [`RollingHash64::prefill_window`].
    fn reset_and_prefill_window<I>(&mut self, iter: &mut I) -> usize
    where
        I: Iterator<Item = u8>;

    /// Adds `byte` to the window, dropping the oldest byte once the window
    /// is full.
    fn slide(&mut self, byte: u8);

    /// The hash of the bytes in the window.
    fn get_hash(&self) -> &Polynom64;
}

/// The two lookup tables of one polynomial and window size.
#[derive(Debug)]
struct Tables {
    /// The polynomial and the window size the tables were built for.
    polynom: Polynom64,
    window_size: usize,
    /// `shift` such that `hash >> shift` is the byte that the next
    /// multiplication by x⁸ pushes to degree ≥ deg(P).
    shift: u32,
    /// `out[b]` = b·x^(8·(window−1)) mod P: the share of a byte about to
    /// leave the window.
    out: [Polynom64; 256],
    /// `reduce[b]` = (b·x^deg(P) mod P) | b·x^deg(P): XOR-ing it both
    /// clears the overflowing byte and adds its remainder.
    reduce: [Polynom64; 256],
}

impl Tables {
    fn build(polynom: Polynom64, window_size: usize) -> Self {
        let degree = polynom.degree().max(8);
        let mut out = [0; 256];
        for (byte, entry) in (0u64..).zip(out.iter_mut()) {
            let mut value = byte.modulo(&polynom);
            for _ in 1..window_size {
                value = (value << 8).modulo(&polynom);
            }
            *entry = value;
        }
        let mut reduce = [0; 256];
        for (byte, entry) in (0u64..).zip(reduce.iter_mut()) {
            let overflow = byte << degree;
            *entry = overflow.modulo(&polynom) | overflow;
        }
        Self {
            polynom,
            window_size,
            shift: (degree - 8) as u32,
            out,
            reduce,
        }
    }

    /// The tables for `polynom` and `window_size`, built at most once per
    /// process for each pair (a repository has one polynomial).
    fn shared(polynom: Polynom64, window_size: usize) -> Arc<Self> {
        /// Beyond this many different polynomials, tables are built and
        /// not kept: memory stays bounded whatever a caller does.
        const KEEP: usize = 16;
        static BUILT: Mutex<Vec<Arc<Tables>>> = Mutex::new(Vec::new());

        // A poisoned lock only means another thread panicked while
        // holding it; the list itself is always valid.
        let mut built = BUILT.lock().unwrap_or_else(|poison| poison.into_inner());
        if let Some(tables) = built
            .iter()
            .find(|t| t.polynom == polynom && t.window_size == window_size)
        {
            return Arc::clone(tables);
        }
        let tables = Arc::new(Self::build(polynom, window_size));
        if built.len() < KEEP {
            built.push(Arc::clone(&tables));
        }
        tables
    }
}

/// Rabin fingerprint of the last `window_size` bytes, modulo a polynomial,
/// updated one byte at a time.
#[derive(Debug, Clone)]
pub struct Rabin64 {
    tables: Arc<Tables>,
    window: Box<[u8]>,
    /// window size − 1 (the size is a power of two).
    window_mask: usize,
    /// Where the next byte goes (and the oldest byte is).
    position: usize,
    /// The fingerprint of the window: Σ byteᵢ·x^(8·age) mod P.
    pub hash: Polynom64,
}

impl Rabin64 {
    /// A hash over a window of 2^`window_size_nb_bits` bytes modulo
    /// `mod_polynom` (of degree ≥ 8, as restic's are; restic uses a window
    /// of 64 bytes).
    #[must_use]
    pub fn new_with_polynom(window_size_nb_bits: u32, mod_polynom: &Polynom64) -> Self {
        let window_size = 1usize << window_size_nb_bits.min(16);
        Self {
            tables: Tables::shared(*mod_polynom, window_size),
            window: vec![0; window_size].into_boxed_slice(),
            window_mask: window_size - 1,
            position: 0,
            hash: 0,
        }
    }

    /// Appends `byte` to the hash (multiply by x⁸, add, reduce) without
    /// removing anything.
    #[inline]
    fn append(&mut self, byte: u8) {
        let overflow = (self.hash >> self.tables.shift) as u8;
        self.hash =
            ((self.hash << 8) | Polynom64::from(byte)) ^ self.tables.reduce[usize::from(overflow)];
    }
}

impl RollingHash64 for Rabin64 {
    fn reset(&mut self) {
        self.window.fill(0);
        self.position = 0;
        self.hash = 0;
    }

    fn prefill_window<I>(&mut self, iter: &mut I) -> usize
    where
        I: Iterator<Item = u8>,
    {
        let mut taken = 0;
        for byte in iter.take(self.window_mask) {
            self.slide(byte);
            taken += 1;
        }
        taken
    }

    fn reset_and_prefill_window<I>(&mut self, iter: &mut I) -> usize
    where
        I: Iterator<Item = u8>,
    {
        // As reset + prefill, but the window is not cleared first: each of
        // its slots is overwritten before it is read again, except the one
        // the next slide removes, which is zeroed here.
        self.hash = 0;
        let mut taken = 0;
        for byte in iter.take(self.window_mask) {
            self.window[self.position] = byte;
            self.append(byte);
            self.position = (self.position + 1) & self.window_mask;
            taken += 1;
        }
        self.window[self.position] = 0;
        taken
    }

    #[inline]
    fn slide(&mut self, byte: u8) {
        let leaving = std::mem::replace(&mut self.window[self.position], byte);
        self.hash ^= self.tables.out[usize::from(leaving)];
        self.position = (self.position + 1) & self.window_mask;
        self.append(byte);
    }

    fn get_hash(&self) -> &Polynom64 {
        &self.hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// restic's default test polynomial (irreducible, degree 53).
    const POLYNOM: Polynom64 = 0x003D_A335_8B4D_C173;

    /// The fingerprint by its definition: the bytes as one polynomial,
    /// reduced modulo P.
    fn by_definition(bytes: &[u8]) -> Polynom64 {
        bytes.iter().fold(0, |hash: Polynom64, &byte| {
            // hash < x^53, so the shift cannot lose bits.
            ((hash << 8) | Polynom64::from(byte)).modulo(&POLYNOM)
        })
    }

    fn pseudo_random(len: usize, mut seed: u64) -> Vec<u8> {
        (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn rolling_hash_is_the_fingerprint_of_the_last_window() {
        let data = pseudo_random(3000, 0x9E37_79B9_7F4A_7C15);
        let mut rabin = Rabin64::new_with_polynom(6, &POLYNOM);
        for (end, &byte) in data.iter().enumerate() {
            rabin.slide(byte);
            let start = (end + 1).saturating_sub(64);
            assert_eq!(
                rabin.hash,
                by_definition(&data[start..=end]),
                "after byte {end}"
            );
        }
    }

    #[test]
    fn prefill_after_use_starts_from_scratch() {
        let data = pseudo_random(500, 42);
        let mut rabin = Rabin64::new_with_polynom(6, &POLYNOM);
        data[..200].iter().for_each(|&b| rabin.slide(b));
        let taken = rabin.reset_and_prefill_window(&mut data[200..].iter().copied());
        assert_eq!(taken, 63);
        assert_eq!(rabin.hash, by_definition(&data[200..263]));
        for end in 263..data.len() {
            rabin.slide(data[end]);
            assert_eq!(
                rabin.hash,
                by_definition(&data[end - 63..=end]),
                "after byte {end}"
            );
        }

        let mut other = Rabin64::new_with_polynom(6, &POLYNOM);
        data[..100].iter().for_each(|&b| other.slide(b));
        other.reset();
        assert_eq!(other.prefill_window(&mut data[..10].iter().copied()), 10);
        assert_eq!(other.hash, by_definition(&data[..10]));
    }

    #[test]
    fn tables_are_shared_per_polynomial() {
        let a = Rabin64::new_with_polynom(6, &POLYNOM);
        let b = Rabin64::new_with_polynom(6, &POLYNOM);
        assert!(Arc::ptr_eq(&a.tables, &b.tables));
        let other = Rabin64::new_with_polynom(6, &0x003B_0BD2_A0AC_669D);
        assert!(!Arc::ptr_eq(&a.tables, &other.tables));
        assert_ne!(a.tables.out, other.tables.out);
    }

    #[test]
    fn polynomial_arithmetic() {
        assert_eq!(0u64.degree(), -1);
        assert_eq!(1u64.degree(), 0);
        assert_eq!(POLYNOM.degree(), 53);
        // (x² + 1) = (x + 1)² over GF(2): divisible by x + 1.
        assert_eq!(0b101u64.modulo(&0b11), 0);
        assert_eq!(0b111u64.modulo(&0b11), 1);
        assert_eq!(5u64.modulo(&0), 5);
    }
}
