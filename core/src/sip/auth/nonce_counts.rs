//! Replay protection: the highest `nc` accepted per nonce, in a fixed number of slots.
//!
//! RFC 7616 §3.4 lets a server detect replays by remembering, per nonce, the `nc` values it has seen;
//! a client increments `nc` for every request it sends with a nonce. This tracker keeps only the highest
//! `nc` accepted per nonce and rejects any `nc` that does not exceed it. Clients that pipeline requests
//! with the same nonce could have them arrive out of order; SIP clients do not reuse a nonce
//! concurrently in practice (REGISTER refreshes are sequential), so a strict "must increase" rule costs
//! nothing and is simple to reason about.
//!
//! # Eviction
//!
//! When every slot is taken, the slot used least recently is reused (LRU). Forgetting a nonce must not
//! reopen it to replays, so the tracker remembers the newest key it ever evicted: a nonce not in the
//! table whose key is not newer than that is reported [`NonceCountRejection::Forgotten`], which the
//! server answers as stale, making the client fetch a fresh nonce without bothering the user. Keys order
//! by issue time then serial, so this floor only ever catches nonces issued before one that was evicted.

use core::fmt;

/// Default slot count: 64 slots of 24 bytes (1.5 KiB), enough for the registrations a small
/// device-hosted registrar sees within one nonce lifetime; a server sizes it to its concurrent clients.
pub const DEFAULT_NONCE_SLOTS: usize = 64;

/// Identifies one issued nonce: when it was issued and the issuer's serial number. Ordered by issue
/// time, then serial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NonceKey {
    /// Issue time, milliseconds since the runtime's epoch.
    pub issued_ms: u64,
    /// Issuer's serial number, distinguishing nonces issued in the same millisecond.
    pub serial: u32,
}

/// Why an `nc` was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NonceCountRejection {
    /// `nc` does not exceed `last`, the highest accepted for this nonce (0: none yet, and `nc` was 0).
    Replay {
        /// The highest `nc` accepted so far for this nonce.
        last: u32,
    },
    /// The nonce was evicted (or predates one that was): its count history is gone.
    Forgotten,
}

impl fmt::Display for NonceCountRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NonceCountRejection::Replay { last } => {
                write!(
                    f,
                    "nonce count not above {:08x}: replayed or reordered request",
                    last
                )
            }
            NonceCountRejection::Forgotten => f.write_str("nonce no longer tracked: issue a fresh nonce"),
        }
    }
}

impl core::error::Error for NonceCountRejection {}

/// One tracked nonce. The key's fields are stored flat so the slot packs into 24 bytes.
#[derive(Clone, Copy, Debug)]
struct Slot {
    issued_ms: u64,
    last_use: u64,
    serial: u32,
    last_nc: u32,
}

impl Slot {
    fn key(&self) -> NonceKey {
        NonceKey {
            issued_ms: self.issued_ms,
            serial: self.serial,
        }
    }
}

/// The highest `nc` accepted per nonce, for up to `N` nonces (LRU eviction, see the module docs).
#[derive(Clone, Debug)]
pub struct NonceCounts<const N: usize = DEFAULT_NONCE_SLOTS> {
    slots: heapless::Vec<Slot, N>,
    /// Counts uses, to order slots by recency.
    clock: u64,
    /// The newest key ever evicted.
    evicted_up_to: Option<NonceKey>,
}

impl<const N: usize> Default for NonceCounts<N> {
    fn default() -> Self {
        NonceCounts::new()
    }
}

impl<const N: usize> NonceCounts<N> {
    /// An empty tracker. `N` must be at least 1 (checked at compile time).
    pub const fn new() -> Self {
        const { assert!(N > 0, "NonceCounts needs at least one slot") };
        NonceCounts {
            slots: heapless::Vec::new(),
            clock: 0,
            evicted_up_to: None,
        }
    }

    /// Accepts `nc` for `key` if it exceeds every `nc` accepted before for that nonce, and records it.
    pub fn accept(&mut self, key: NonceKey, nc: u32) -> Result<(), NonceCountRejection> {
        self.clock = self.clock.saturating_add(1);
        let clock = self.clock;
        if let Some(slot) = self.slots.iter_mut().find(|slot| slot.key() == key) {
            if nc <= slot.last_nc {
                return Err(NonceCountRejection::Replay { last: slot.last_nc });
            }
            slot.last_nc = nc;
            slot.last_use = clock;
            return Ok(());
        }
        if self.evicted_up_to.is_some_and(|floor| key <= floor) {
            return Err(NonceCountRejection::Forgotten);
        }
        if nc == 0 {
            return Err(NonceCountRejection::Replay { last: 0 });
        }
        let slot = Slot {
            issued_ms: key.issued_ms,
            last_use: clock,
            serial: key.serial,
            last_nc: nc,
        };
        if let Err(slot) = self.slots.push(slot) {
            let lru = self.slots.iter_mut().min_by_key(|s| s.last_use);
            if let Some(victim) = lru {
                let evicted = victim.key();
                *victim = slot;
                self.evicted_up_to = self.evicted_up_to.max(Some(evicted));
            }
        }
        Ok(())
    }

    /// The highest `nc` accepted for `key`, if it is tracked.
    pub fn last(&self, key: NonceKey) -> Option<u32> {
        self.slots
            .iter()
            .find(|slot| slot.key() == key)
            .map(|slot| slot.last_nc)
    }

    /// Drops the nonces issued before `issued_ms`, which the server rejects as stale anyway, to make
    /// room without evicting live ones.
    pub fn forget_issued_before(&mut self, issued_ms: u64) {
        let mut newest_dropped = None;
        self.slots.retain(|slot| {
            let keep = slot.issued_ms >= issued_ms;
            if !keep {
                newest_dropped = newest_dropped.max(Some(slot.key()));
            }
            keep
        });
        self.evicted_up_to = self.evicted_up_to.max(newest_dropped);
    }

    /// How many nonces are tracked.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// `true` when no nonce is tracked.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(issued_ms: u64) -> NonceKey {
        NonceKey { issued_ms, serial: 0 }
    }

    #[test]
    fn counts_must_increase_per_nonce() {
        let mut counts = NonceCounts::<4>::new();
        assert_eq!(counts.accept(key(1), 1), Ok(()));
        assert_eq!(
            counts.accept(key(1), 1),
            Err(NonceCountRejection::Replay { last: 1 })
        );
        assert_eq!(counts.accept(key(1), 3), Ok(()));
        assert_eq!(
            counts.accept(key(1), 2),
            Err(NonceCountRejection::Replay { last: 3 })
        );
        assert_eq!(
            counts.accept(key(2), 1),
            Ok(()),
            "another nonce counts on its own"
        );
        assert_eq!(
            counts.accept(key(3), 0),
            Err(NonceCountRejection::Replay { last: 0 })
        );
        assert_eq!(counts.last(key(1)), Some(3));
    }

    #[test]
    fn eviction_takes_the_least_recently_used_and_never_reopens_it() {
        let mut counts = NonceCounts::<2>::new();
        counts.accept(key(1), 1).unwrap();
        counts.accept(key(2), 1).unwrap();
        counts.accept(key(1), 2).unwrap(); // key 1 is now the most recently used
        counts.accept(key(3), 1).unwrap(); // evicts key 2
        assert_eq!(counts.last(key(2)), None);
        assert_eq!(counts.last(key(1)), Some(2));
        assert_eq!(counts.accept(key(2), 1), Err(NonceCountRejection::Forgotten));
        assert_eq!(counts.accept(key(4), 1), Ok(()), "newer nonces are still welcome");
    }

    #[test]
    fn forgetting_expired_nonces_frees_slots_and_raises_the_floor() {
        let mut counts = NonceCounts::<2>::new();
        counts.accept(key(10), 1).unwrap();
        counts.accept(key(20), 1).unwrap();
        counts.forget_issued_before(15);
        assert_eq!(counts.len(), 1);
        assert_eq!(counts.accept(key(10), 2), Err(NonceCountRejection::Forgotten));
        assert_eq!(counts.accept(key(30), 1), Ok(()));
        assert_eq!(counts.last(key(20)), Some(1), "the live nonce was not evicted");
    }
}
