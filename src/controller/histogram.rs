//! A fixed-size, lock-free histogram of durations in nanoseconds, for figures such as the
//! generator's lateness and client-observed latency: constant memory however many samples, and
//! quantiles within 1/16 (about 6%) of the true value.
//!
//! Buckets are log-linear: values below 16 have a bucket each; above, each power of two is cut
//! into 16 equal buckets.

use std::sync::atomic::{AtomicU64, Ordering};

/// Sub-buckets per power of two.
const SUB: usize = 16;
/// Buckets in all: 16 exact ones, then 16 per power of two from 2^4 to 2^63.
const BUCKETS: usize = SUB + (64 - 4) * SUB;

/// Counts of samples per bucket.
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Histogram({} samples)", self.count())
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let e = 63 - v.leading_zeros() as usize;
    SUB + (e - 4) * SUB + ((v >> (e - 4)) as usize & (SUB - 1))
}

/// The smallest value that falls into bucket `i`.
fn lower_bound(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let (e, sub) = ((i - SUB) / SUB + 4, (i - SUB) % SUB);
    (1u64 << e) + ((sub as u64) << (e - 4))
}

impl Histogram {
    /// Adds one sample.
    pub fn record(&self, v: u64) {
        self.buckets[bucket(v)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
    }

    /// Samples so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// The largest sample.
    pub fn max(&self) -> u64 {
        self.max.load(Ordering::Relaxed)
    }

    /// The value below which a fraction `q` (0..=1) of the samples lie (the lower bound of its
    /// bucket; the maximum for `q = 1`); 0 without samples.
    pub fn quantile(&self, q: f64) -> u64 {
        let n = self.count();
        if n == 0 {
            return 0;
        }
        if q >= 1.0 {
            return self.max();
        }
        let rank = ((q.max(0.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b.load(Ordering::Relaxed);
            if seen >= rank {
                return lower_bound(i).min(self.max());
            }
        }
        self.max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        for v in [0u64, 1, 15, 16, 17, 31, 32, 1000, 123_456_789, u64::MAX] {
            let i = bucket(v);
            assert!(i < BUCKETS, "{v}");
            assert!(lower_bound(i) <= v, "{v}");
            if i + 1 < BUCKETS {
                assert!(lower_bound(i + 1) > v, "{v}");
            }
        }
    }

    #[test]
    fn quantiles_are_within_a_sixteenth() {
        let h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 1000);
        }
        assert_eq!(h.count(), 10_000);
        let p50 = h.quantile(0.5) as f64;
        assert!(
            (p50 - 5_000_000.0).abs() / 5_000_000.0 < 1.0 / 16.0,
            "{p50}"
        );
        let p99 = h.quantile(0.99) as f64;
        assert!(
            (p99 - 9_900_000.0).abs() / 9_900_000.0 < 1.0 / 16.0,
            "{p99}"
        );
        assert_eq!(h.quantile(1.0), 10_000_000);
        assert_eq!(Histogram::default().quantile(0.5), 0);
    }
}
