//! Time as an input.
//!
//! Nothing in the core reads a clock. The runtime (tokio, embassy, or the simulation harness) passes an
//! [`Instant`] into every call that may start or fire a timer, and machines report their next deadline as
//! an [`Instant`]. Millisecond resolution covers every SIP and MSRP timer (the smallest, T1, is 500 ms by
//! default) and a `u64` of milliseconds lasts far beyond any device's uptime.

use core::time::Duration;

/// A point in time, in milliseconds since an epoch chosen by the runtime (boot, or process start).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant {
    millis: u64,
}

impl Instant {
    /// The runtime's epoch.
    pub const ZERO: Instant = Instant { millis: 0 };

    /// An instant `millis` milliseconds after the runtime's epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant { millis }
    }

    /// Milliseconds since the runtime's epoch.
    pub const fn as_millis(self) -> u64 {
        self.millis
    }

    /// `self + d`, saturating at the end of time rather than wrapping (a timer that far out never fires).
    // Not inlined, and in u64 rather than `Duration::as_millis`'s u128: every timer start calls it, and
    // each inlined u128 copy cost ~55 bytes of Cortex-M code. Same value: both saturate at u64::MAX.
    #[inline(never)]
    pub fn saturating_add(self, d: Duration) -> Self {
        let add = d
            .as_secs()
            .saturating_mul(1000)
            .saturating_add(u64::from(d.subsec_millis()));
        Instant {
            millis: self.millis.saturating_add(add),
        }
    }

    /// The time from `earlier` to `self`, or zero when `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.millis.saturating_sub(earlier.millis))
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saturates_instead_of_wrapping() {
        let late = Instant::from_millis(u64::MAX - 1);
        assert_eq!(late + Duration::from_secs(10), Instant::from_millis(u64::MAX));
        assert_eq!(Instant::ZERO.saturating_duration_since(late), Duration::ZERO);
        assert_eq!(
            Instant::from_millis(1500).saturating_duration_since(Instant::from_millis(500)),
            Duration::from_secs(1)
        );
    }
}
