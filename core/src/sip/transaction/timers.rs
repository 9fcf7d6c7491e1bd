//! Transaction timers (RFC 3261 §17 and Table 4, RFC 6026 timers L and M).
//!
//! A transaction never has more than two timers running at once: a *retransmission* timer (A, E or G)
//! whose interval grows, and an *expiry* timer (B, D, F, H, I, J, K, L or M) that moves the machine to
//! another state. `Timers` holds exactly those two slots, so a machine's next deadline is the earlier
//! of two instants and firing is "take whichever is due first".

use core::time::Duration;

use crate::time::Instant;

/// The smallest retransmission interval used, whatever the configuration says: a zero T1 would
/// otherwise make a retransmission timer due again at the very instant it fired.
const MIN_RETRANSMIT_INTERVAL: Duration = Duration::from_millis(1);

/// `d * 2`, saturating at `Duration::MAX` (as `d.saturating_mul(2)`, by addition: no 64-bit division).
pub(crate) fn double(d: Duration) -> Duration {
    d.saturating_add(d)
}

/// RFC 3261 Timer D for unreliable transports: "at least 32 seconds" (§17.1.1.2, RFC 6026 §8.4).
pub const TIMER_D_MINIMUM: Duration = Duration::from_secs(32);

/// The SIP timer values a transaction derives all of its timers from (RFC 3261 Table 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimerConfig {
    /// Round-trip time estimate. Default 500 ms.
    pub t1: Duration,
    /// Maximum retransmission interval for non-INVITE requests and INVITE responses. Default 4 s.
    pub t2: Duration,
    /// Maximum time a message stays in the network. Default 5 s.
    pub t4: Duration,
}

impl TimerConfig {
    /// RFC 3261's recommended values: T1 = 500 ms, T2 = 4 s, T4 = 5 s.
    pub const DEFAULT: TimerConfig = TimerConfig {
        t1: Duration::from_millis(500),
        t2: Duration::from_secs(4),
        t4: Duration::from_secs(5),
    };

    /// 64*T1: timers B, F, H, J (unreliable), L and M.
    pub fn transaction_timeout(&self) -> Duration {
        // Six saturating doublings: the same value as `saturating_mul(64)`, without the 64-bit division
        // that `Duration`'s multiplication needs (no division routine on a device).
        (0..6).fold(self.t1, |d, _| double(d))
    }

    /// The first retransmission interval (T1), never zero.
    pub(crate) fn first_interval(&self) -> Duration {
        self.t1.max(MIN_RETRANSMIT_INTERVAL)
    }

    /// The retransmission cap (T2), never below the first interval.
    pub(crate) fn cap(&self) -> Duration {
        self.t2.max(self.first_interval())
    }

    /// Timer D: zero on reliable transports, otherwise at least 32 s and at least 64*T1 (so it also
    /// outlives a peer using our T1 or a larger one).
    pub(crate) fn timer_d(&self, reliability: Reliability) -> Duration {
        match reliability {
            Reliability::Reliable => Duration::ZERO,
            Reliability::Unreliable => TIMER_D_MINIMUM.max(self.transaction_timeout()),
        }
    }

    /// Timers I and K: T4 on unreliable transports, zero on reliable ones.
    pub(crate) fn t4_or_zero(&self, reliability: Reliability) -> Duration {
        match reliability {
            Reliability::Reliable => Duration::ZERO,
            Reliability::Unreliable => self.t4,
        }
    }

    /// Timer J: 64*T1 on unreliable transports, zero on reliable ones.
    pub(crate) fn timeout_or_zero(&self, reliability: Reliability) -> Duration {
        match reliability {
            Reliability::Reliable => Duration::ZERO,
            Reliability::Unreliable => self.transaction_timeout(),
        }
    }
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig::DEFAULT
    }
}

/// Whether the transport a transaction uses delivers reliably (TCP, TLS, SCTP, WebSocket) or not (UDP).
///
/// On a reliable transport the retransmission timers A, E and G are never started and timers D, I, J and
/// K are zero, so the corresponding states are left at once (RFC 3261 §17.1.1.2, §17.1.2.2, §17.2.1,
/// §17.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reliability {
    /// UDP: the transaction retransmits and lingers to absorb retransmissions.
    Unreliable,
    /// TCP, TLS, SCTP, WebSocket: the transport retransmits for us.
    Reliable,
}

impl Reliability {
    /// `true` for [`Reliability::Reliable`].
    pub fn is_reliable(self) -> bool {
        self == Reliability::Reliable
    }
}

/// The names RFC 3261 (and RFC 6026 for L and M) give the transaction timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimerName {
    /// INVITE client: request retransmission.
    A,
    /// INVITE client: transaction timeout in Calling.
    B,
    /// INVITE client: wait time for response retransmissions in Completed.
    D,
    /// Non-INVITE client: request retransmission.
    E,
    /// Non-INVITE client: transaction timeout.
    F,
    /// INVITE server: final response retransmission.
    G,
    /// INVITE server: wait time for ACK receipt.
    H,
    /// INVITE server: wait time for ACK retransmissions in Confirmed.
    I,
    /// Non-INVITE server: wait time for request retransmissions in Completed.
    J,
    /// Non-INVITE client: wait time for response retransmissions in Completed.
    K,
    /// INVITE server (RFC 6026): wait time in Accepted.
    L,
    /// INVITE client (RFC 6026): wait time in Accepted.
    M,
}

/// The two timer slots of a transaction.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Timers {
    retransmit: Option<(TimerName, Instant)>,
    interval: Duration,
    expiry: Option<(TimerName, Instant)>,
}

impl Timers {
    /// The timers a client transaction starts with at `now`: `retransmit` (A or E) on an unreliable
    /// transport, and `expiry` (B or F) after the transaction timeout.
    pub(crate) fn for_client(
        now: Instant,
        config: &TimerConfig,
        reliability: Reliability,
        retransmit: TimerName,
        expiry: TimerName,
    ) -> Self {
        let mut timers = Timers::default();
        if !reliability.is_reliable() {
            timers.start_retransmit(retransmit, now, config.first_interval());
        }
        timers.start_expiry(expiry, now, config.transaction_timeout());
        timers
    }

    /// Starts (or restarts) the retransmission timer `name` to fire `interval` after `now`.
    pub(crate) fn start_retransmit(&mut self, name: TimerName, now: Instant, interval: Duration) {
        let interval = interval.max(MIN_RETRANSMIT_INTERVAL);
        self.interval = interval;
        self.retransmit = Some((name, now + interval));
    }

    /// The interval the retransmission timer was last started with.
    pub(crate) fn interval(&self) -> Duration {
        self.interval
    }

    /// Starts the expiry timer `name` to fire `after` from `now` (replacing any other expiry timer).
    pub(crate) fn start_expiry(&mut self, name: TimerName, now: Instant, after: Duration) {
        self.expiry = Some((name, now + after));
    }

    /// Stops both timers.
    pub(crate) fn stop_all(&mut self) {
        self.retransmit = None;
        self.expiry = None;
    }

    /// When timer `name` fires, if it is running.
    pub(crate) fn deadline_of(&self, name: TimerName) -> Option<Instant> {
        [self.expiry, self.retransmit]
            .into_iter()
            .flatten()
            .find(|(running, _)| *running == name)
            .map(|(_, at)| at)
    }

    /// The earlier of the two deadlines.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        match (self.retransmit, self.expiry) {
            (Some((_, a)), Some((_, b))) => Some(a.min(b)),
            (Some((_, a)), None) | (None, Some((_, a))) => Some(a),
            (None, None) => None,
        }
    }

    /// Takes the timer due first at `now`, if any. On a tie the expiry timer wins, so a transaction
    /// never retransmits at the very instant it times out.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<TimerName> {
        let expiry_due = self.expiry.filter(|(_, at)| *at <= now);
        let retransmit_due = self.retransmit.filter(|(_, at)| *at <= now);
        match (expiry_due, retransmit_due) {
            (Some((e, e_at)), Some((_, r_at))) if e_at <= r_at => {
                self.expiry = None;
                Some(e)
            }
            (_, Some((r, _))) => {
                self.retransmit = None;
                Some(r)
            }
            (Some((e, _)), None) => {
                self.expiry = None;
                Some(e)
            }
            (None, None) => None,
        }
    }
}
