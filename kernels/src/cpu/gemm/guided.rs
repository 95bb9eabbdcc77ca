//! Guided self-scheduling: workers claim shrinking ranges of work units from one shared
//! counter instead of each taking a fixed share.
//!
//! Why: with fixed halves, a two-thread GEMM at one headline ends with one core idle for
//! about 15 µs on average (measured: the second worker starts some µs late, and the two
//! halves do not run at exactly the same speed). With claimed ranges a worker that starts
//! late simply takes less, and the last ranges are small, so both finish within about one
//! small range of each other. Ranges start large (few claims, one atomic each). The
//! row-major driver claims its column blocks the same way (fixed blocks left a core idle
//! ≈ 5 % of a batched forward, half a 5-10 ms block per GEMM).

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

/// Calls `run` on ranges that together cover `0..units` once: claimed from a [`Guided`]
/// counter (ranges whole multiples of `grain` while many units are left) by `workers`
/// rayon tasks when there is more than one, else once with everything.
pub(crate) fn for_each_claimed(
    units: usize,
    workers: usize,
    grain: usize,
    run: impl Fn(Range<usize>) + Sync,
) {
    if workers > 1 {
        let ranges = Guided::new(units, workers, grain);
        (0..workers).into_par_iter().for_each(|_| {
            while let Some(range) = ranges.claim() {
                run(range);
            }
        });
    } else if units > 0 {
        run(0..units);
    }
}

/// Hands out `0..units` in contiguous ranges to `workers` claimants.
pub(crate) struct Guided {
    next: AtomicUsize,
    units: usize,
    workers: usize,
    /// Ranges are whole multiples of this while many units are left.
    grain: usize,
}

impl Guided {
    /// `units` work units for `workers` claimants; ranges are whole multiples of `grain`
    /// until fewer than `grain * workers` units are left, then single units.
    pub(crate) fn new(units: usize, workers: usize, grain: usize) -> Self {
        Guided {
            next: AtomicUsize::new(0),
            units,
            workers: workers.max(1),
            grain: grain.max(1),
        }
    }

    /// The next range of units, or `None` when all are handed out. A range is about
    /// `1 / (2 * workers)` of what is left, rounded down to whole grains (at least one).
    pub(crate) fn claim(&self) -> Option<Range<usize>> {
        let mut start = self.next.load(Ordering::Relaxed);
        loop {
            let left = self.units.checked_sub(start).filter(|&l| l > 0)?;
            let size = if left >= self.grain * self.workers {
                let share = left / (2 * self.workers);
                (share / self.grain).max(1) * self.grain
            } else {
                1
            };
            match self.next.compare_exchange_weak(
                start,
                start + size,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(start..start + size),
                Err(now) => start = now,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Guided;

    #[test]
    fn ranges_cover_every_unit_once_in_order() {
        for (units, workers, grain) in [(110, 2, 2), (1, 2, 2), (0, 2, 2), (441, 3, 2), (7, 1, 4)] {
            let g = Guided::new(units, workers, grain);
            let mut seen = 0;
            while let Some(r) = g.claim() {
                assert_eq!(r.start, seen, "contiguous ({units} units)");
                assert!(!r.is_empty());
                // Whole grains while many units are left.
                if units - r.start >= grain * workers {
                    assert_eq!(r.len() % grain, 0, "{r:?} of {units}");
                }
                seen = r.end;
            }
            assert_eq!(seen, units);
        }
    }

    #[test]
    fn threads_claim_disjoint_ranges() {
        use std::sync::atomic::{AtomicU8, Ordering};
        let g = Guided::new(10_000, 2, 2);
        let hits: Vec<AtomicU8> = (0..10_000).map(|_| AtomicU8::new(0)).collect();
        rayon::scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    while let Some(r) = g.claim() {
                        for u in r {
                            hits[u].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1));
    }
}
