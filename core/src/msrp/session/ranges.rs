//! A bounded set of covered byte ranges, for reassembly and for success-report bookkeeping.

use core::fmt;

/// Disjoint covered ranges one message may have at once. Chunks normally arrive in order and merge
/// into one range; out-of-order delivery through relays leaves a few holes. Eight ranges cost 128 bytes.
pub const MAX_RANGES: usize = 8;

/// Too many disjoint ranges: the message is more fragmented than [`MAX_RANGES`] allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TooFragmented;

impl fmt::Display for TooFragmented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message arrived in more disjoint byte ranges than MAX_RANGES can track")
    }
}

/// Sorted, disjoint, non-adjacent half-open ranges `[start, end)` of 0-based offsets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RangeSet {
    ranges: heapless::Vec<(u64, u64), MAX_RANGES>,
}

impl RangeSet {
    /// An empty set.
    pub const fn new() -> Self {
        RangeSet {
            ranges: heapless::Vec::new(),
        }
    }

    /// Adds `[start, end)`, merging with overlapping or touching ranges.
    pub fn insert(&mut self, start: u64, end: u64) -> Result<(), TooFragmented> {
        if start >= end {
            return Ok(());
        }
        let (mut lo, mut hi) = (start, end);
        let mut merged: heapless::Vec<(u64, u64), MAX_RANGES> = heapless::Vec::new();
        let mut placed = false;
        for &(s, e) in self.ranges.iter() {
            if e < lo {
                merged.push((s, e)).map_err(|_| TooFragmented)?;
            } else if s > hi {
                if !placed {
                    merged.push((lo, hi)).map_err(|_| TooFragmented)?;
                    placed = true;
                }
                merged.push((s, e)).map_err(|_| TooFragmented)?;
            } else {
                lo = lo.min(s);
                hi = hi.max(e);
            }
        }
        if !placed {
            merged.push((lo, hi)).map_err(|_| TooFragmented)?;
        }
        self.ranges = merged;
        Ok(())
    }

    /// Whether `[0, len)` is entirely covered (an empty message always is).
    pub fn covers_prefix(&self, len: u64) -> bool {
        len == 0 || self.ranges.first().is_some_and(|&(s, e)| s == 0 && e >= len)
    }

    /// The covered ranges in order.
    pub fn ranges(&self) -> &[(u64, u64)] {
        &self.ranges
    }

    /// Total covered bytes.
    pub fn covered(&self) -> u64 {
        self.ranges.iter().map(|(s, e)| e - s).sum()
    }
}
