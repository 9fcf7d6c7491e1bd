//! Deterministic simulation harness: virtual time, seeded randomness, lossy datagram links and
//! byte streams that split writes at random boundaries.
//!
//! Everything here is `no_std` without allocation and fully determined by a seed, so a test that found
//! a bug replays it exactly. The pieces are independent and meant to be composed by a test's own event
//! loop:
//!
//! ```text
//! loop {
//!     next = min(machine_a.poll_timeout(), machine_b.poll_timeout(),
//!                link_ab.next_delivery_time(), link_ba.next_delivery_time())
//!     clock.advance_to(next)
//!     deliver due datagrams / stream bytes, fire due timers, drain outputs into the links
//! }
//! ```
//!
//! - [`SimClock`]: the virtual clock; time only moves when the test moves it.
//! - [`SimRng`]: a seeded SplitMix64 generator; also implements the core's [`Rng`] trait, so machines
//!   that need random bytes (branches, tags) draw from the same deterministic source.
//! - [`SimLink`]: one direction of a datagram path (UDP-like) with a loss probability and a latency
//!   range; datagrams can be lost and reordered, never corrupted or duplicated.
//! - [`SimStream`]: one direction of a byte stream (TCP-like): bytes arrive in order, but the writes are
//!   cut into segments of random length that arrive after random delays, so a framer sees every
//!   possible split. Used by the MSRP and SIP stream framing tests.

use core::fmt;
use core::time::Duration;

use heapless::{Deque, Vec};

use crate::rng::Rng;
use crate::time::Instant;

/// The virtual clock of a simulation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimClock {
    now: Instant,
}

impl SimClock {
    /// A clock at `start`.
    pub const fn new(start: Instant) -> Self {
        SimClock { now: start }
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Moves the clock forward to `at`; an instant in the past leaves it unchanged (time never goes
    /// backwards).
    pub fn advance_to(&mut self, at: Instant) -> Instant {
        self.now = self.now.max(at);
        self.now
    }

    /// Moves the clock forward by `by`.
    pub fn advance_by(&mut self, by: Duration) -> Instant {
        self.now = self.now + by;
        self.now
    }
}

/// A small, fast, seeded generator (SplitMix64). Not for cryptography: for reproducible tests only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator whose whole output is determined by `seed`.
    pub const fn new(seed: u64) -> Self {
        SimRng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `low..=high` (returns `low` when `high < low`). The slight modulo bias is irrelevant
    /// for simulation.
    pub fn in_range(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        let span = high - low;
        match span.checked_add(1) {
            Some(n) => low + self.next_u64() % n,
            None => self.next_u64(),
        }
    }

    /// A value in `0..n` (0 when `n` is 0 or 1); the same draw as `in_range(0, n - 1)`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.in_range(0, n.saturating_sub(1))
    }

    /// `true` with probability `per_million` / 1 000 000.
    pub fn chance(&mut self, per_million: u32) -> bool {
        self.next_u64() % 1_000_000 < u64::from(per_million)
    }

    /// A duration uniformly in `low..=high`, at millisecond resolution.
    pub fn duration_in(&mut self, low: Duration, high: Duration) -> Duration {
        let low_ms = u64::try_from(low.as_millis()).unwrap_or(u64::MAX);
        let high_ms = u64::try_from(high.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(self.in_range(low_ms, high_ms))
    }
}

impl Rng for SimRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(bytes.get(..chunk.len()).unwrap_or(&[]));
        }
    }
}

/// How a [`SimLink`] or [`SimStream`] misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkConfig {
    /// Probability that a datagram is lost, in parts per million (ignored by streams, which are
    /// reliable).
    pub loss_per_million: u32,
    /// Smallest one-way delay.
    pub latency_min: Duration,
    /// Largest one-way delay.
    pub latency_max: Duration,
}

impl LinkConfig {
    /// A perfect link: no loss, a fixed 10 ms delay.
    pub const PERFECT: LinkConfig = LinkConfig {
        loss_per_million: 0,
        latency_min: Duration::from_millis(10),
        latency_max: Duration::from_millis(10),
    };

    /// A link that loses `percent` % of datagrams (capped at 100) with delays in `latency_min..=latency_max`.
    pub fn lossy(percent: u32, latency_min: Duration, latency_max: Duration) -> Self {
        LinkConfig {
            loss_per_million: percent.min(100) * 10_000,
            latency_min,
            latency_max,
        }
    }
}

/// Why a [`SimLink`] refused a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LinkError {
    /// The datagram is longer than the link's `MTU`.
    TooLarge,
    /// `CAP` datagrams are already in flight.
    Full,
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkError::TooLarge => {
                f.write_str("datagram exceeds the simulated link's MTU; raise the MTU parameter")
            }
            LinkError::Full => {
                f.write_str("too many datagrams in flight; raise the link's CAP parameter or deliver first")
            }
        }
    }
}

/// What happened to a datagram handed to [`SimLink::send`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// In flight; it arrives at the given instant.
    InFlight(Instant),
    /// Dropped by the simulated loss.
    Lost,
}

/// Counters of a [`SimLink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams accepted by `send` (lost ones included).
    pub sent: u32,
    /// Datagrams dropped by the simulated loss.
    pub lost: u32,
    /// Datagrams handed out by `receive`.
    pub delivered: u32,
}

struct InFlight<const MTU: usize> {
    arrival: Instant,
    order: u64,
    bytes: Vec<u8, MTU>,
}

/// One direction of a lossy datagram path holding up to `CAP` datagrams of at most `MTU` bytes.
pub struct SimLink<const CAP: usize, const MTU: usize> {
    config: LinkConfig,
    rng: SimRng,
    in_flight: Vec<InFlight<MTU>, CAP>,
    next_order: u64,
    stats: LinkStats,
}

impl<const CAP: usize, const MTU: usize> SimLink<CAP, MTU> {
    /// A link behaving per `config`, with its own random stream seeded by `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        SimLink {
            config,
            rng: SimRng::new(seed),
            in_flight: Vec::new(),
            next_order: 0,
            stats: LinkStats::default(),
        }
    }

    /// Sends a datagram at `now`: it is lost, or arrives after a random delay.
    pub fn send(&mut self, now: Instant, datagram: &[u8]) -> Result<Sent, LinkError> {
        let bytes = Vec::from_slice(datagram).map_err(|_| LinkError::TooLarge)?;
        if self.in_flight.is_full() {
            return Err(LinkError::Full);
        }
        self.stats.sent = self.stats.sent.saturating_add(1);
        if self.rng.chance(self.config.loss_per_million) {
            self.stats.lost = self.stats.lost.saturating_add(1);
            return Ok(Sent::Lost);
        }
        let arrival = now
            + self
                .rng
                .duration_in(self.config.latency_min, self.config.latency_max);
        let order = self.next_order;
        self.next_order = self.next_order.wrapping_add(1);
        self.in_flight
            .push(InFlight {
                arrival,
                order,
                bytes,
            })
            .map_err(|_| LinkError::Full)?;
        Ok(Sent::InFlight(arrival))
    }

    /// When the next datagram arrives, if any is in flight.
    pub fn next_delivery_time(&self) -> Option<Instant> {
        self.in_flight.iter().map(|d| d.arrival).min()
    }

    /// The earliest datagram that has arrived by `now` (ties in sending order), if any.
    pub fn receive(&mut self, now: Instant) -> Option<Vec<u8, MTU>> {
        let index = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, d)| d.arrival <= now)
            .min_by_key(|(_, d)| (d.arrival, d.order))
            .map(|(i, _)| i)?;
        self.stats.delivered = self.stats.delivered.saturating_add(1);
        Some(self.in_flight.swap_remove(index).bytes)
    }

    /// The link's counters.
    pub fn stats(&self) -> LinkStats {
        self.stats
    }
}

/// Why a [`SimStream`] refused a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WriteError {
    /// No room at all: `CAP` bytes are unread. Read from the other end first.
    Full,
    /// The stream was closed with [`SimStream::close`].
    Closed,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Full => {
                f.write_str("the simulated stream holds CAP unread bytes; read before writing more")
            }
            WriteError::Closed => f.write_str("the simulated stream was closed; no more writes"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    arrival: Instant,
    len: usize,
}

/// One direction of a reliable byte stream holding up to `CAP` unread bytes in at most `SEGMENTS`
/// segments (by default as many as bytes, so only `CAP` limits; a smaller `SEGMENTS` keeps a large
/// stream small in memory, and a write then also stops when the segments run out).
///
/// `write` cuts the bytes into segments of 1..=`max_segment` bytes; each segment arrives after a random
/// delay, never before the segment written ahead of it (the stream stays in order). `read` returns the
/// bytes that have arrived, so readers see arbitrary splits, including one byte at a time.
///
/// API summary: [`SimStream::write`]`(now, bytes) -> Result<usize, WriteError>` (accepts as many bytes as
/// fit), [`SimStream::read`]`(now, buf) -> usize` (0 when nothing has arrived yet),
/// [`SimStream::next_event_time`] (when more bytes arrive), [`SimStream::close`] and
/// [`SimStream::is_finished`] (closed and fully read: end of stream), [`SimStream::abort`] (the
/// connection is lost: unread bytes vanish).
pub struct SimStream<const CAP: usize, const SEGMENTS: usize = CAP> {
    rng: SimRng,
    latency_min: Duration,
    latency_max: Duration,
    max_segment: usize,
    bytes: Deque<u8, CAP>,
    segments: Deque<Segment, SEGMENTS>,
    last_arrival: Instant,
    closed: bool,
}

impl<const CAP: usize, const SEGMENTS: usize> SimStream<CAP, SEGMENTS> {
    /// A stream with delays from `config` (its loss is ignored: streams are reliable), cutting writes
    /// into segments of at most `max_segment` bytes (at least 1), seeded by `seed`.
    pub fn new(config: LinkConfig, max_segment: usize, seed: u64) -> Self {
        SimStream {
            rng: SimRng::new(seed),
            latency_min: config.latency_min,
            latency_max: config.latency_max,
            max_segment: max_segment.max(1),
            bytes: Deque::new(),
            segments: Deque::new(),
            last_arrival: Instant::ZERO,
            closed: false,
        }
    }

    /// Writes at `now` as many bytes of `data` as fit; returns how many were taken.
    pub fn write(&mut self, now: Instant, data: &[u8]) -> Result<usize, WriteError> {
        if self.closed {
            return Err(WriteError::Closed);
        }
        let room = CAP - self.bytes.len();
        if (room == 0 || self.segments.is_full()) && !data.is_empty() {
            return Err(WriteError::Full);
        }
        let taken = data.get(..room.min(data.len())).unwrap_or(&[]);
        let mut rest = taken;
        while !rest.is_empty() && !self.segments.is_full() {
            let max = u64::try_from(self.max_segment.min(rest.len())).unwrap_or(1);
            let len = usize::try_from(self.rng.in_range(1, max)).unwrap_or(1);
            let delay = self.rng.duration_in(self.latency_min, self.latency_max);
            let arrival = (now + delay).max(self.last_arrival);
            self.last_arrival = arrival;
            let (segment, tail) = rest.split_at(len.min(rest.len()));
            for &b in segment {
                // Room was checked above and segments never outnumber bytes, so neither push fails.
                let _ = self.bytes.push_back(b);
            }
            let _ = self.segments.push_back(Segment {
                arrival,
                len: segment.len(),
            });
            rest = tail;
        }
        Ok(taken.len() - rest.len())
    }

    /// Reads into `buf` the bytes that have arrived by `now`; returns how many (0 if none yet).
    pub fn read(&mut self, now: Instant, buf: &mut [u8]) -> usize {
        let mut copied = 0;
        while let Some(segment) = self.segments.front_mut() {
            if segment.arrival > now || copied == buf.len() {
                break;
            }
            let n = segment.len.min(buf.len() - copied);
            for slot in buf.iter_mut().skip(copied).take(n) {
                *slot = self.bytes.pop_front().unwrap_or(0);
            }
            copied += n;
            segment.len -= n;
            if segment.len == 0 {
                let _ = self.segments.pop_front();
            }
        }
        copied
    }

    /// When the next unread bytes arrive (possibly already in the past), or `None` when nothing is
    /// unread.
    pub fn next_event_time(&self) -> Option<Instant> {
        self.segments.front().map(|s| s.arrival)
    }

    /// Bytes written and not yet read.
    pub fn unread(&self) -> usize {
        self.bytes.len()
    }

    /// Closes the writing side; bytes already written still arrive.
    pub fn close(&mut self) {
        self.closed = true;
    }

    /// The connection is lost: bytes not yet read vanish and the stream is closed, so later writes
    /// fail with [`WriteError::Closed`] and the reader sees the end of the stream.
    pub fn abort(&mut self) {
        self.bytes.clear();
        self.segments.clear();
        self.closed = true;
    }

    /// `true` once closed and every byte has been read (the reader's end of stream).
    pub fn is_finished(&self) -> bool {
        self.closed && self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn same_seed_same_sequence() {
        let (mut a, mut b) = (SimRng::new(7), SimRng::new(7));
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SimRng::new(7).next_u64(), SimRng::new(8).next_u64());
        let mut r = SimRng::new(1);
        assert!((0..1000).all(|_| (3..=9).contains(&r.in_range(3, 9))));
    }

    #[test]
    fn link_loses_about_the_configured_share() {
        let mut link: SimLink<1, 8> = SimLink::new(LinkConfig::lossy(30, ms(1), ms(1)), 42);
        for i in 0..10_000u64 {
            let _ = link.send(Instant::from_millis(i), b"x");
            let _ = link.receive(Instant::from_millis(i + 1));
        }
        let stats = link.stats();
        assert_eq!(stats.sent, 10_000);
        assert!((2_700..3_300).contains(&stats.lost), "lost {}", stats.lost);
        assert_eq!(stats.delivered + stats.lost, stats.sent);
    }

    #[test]
    fn link_delivers_within_latency_and_reports_capacity() {
        let mut link: SimLink<2, 4> = SimLink::new(
            LinkConfig {
                latency_min: ms(5),
                latency_max: ms(50),
                ..LinkConfig::PERFECT
            },
            3,
        );
        assert_eq!(link.send(Instant::ZERO, b"toolong"), Err(LinkError::TooLarge));
        let Ok(Sent::InFlight(t1)) = link.send(Instant::ZERO, b"a") else {
            panic!()
        };
        let _ = link.send(Instant::ZERO, b"b");
        assert_eq!(link.send(Instant::ZERO, b"c"), Err(LinkError::Full));
        assert!(t1 >= Instant::from_millis(5) && t1 <= Instant::from_millis(50));
        assert!(link.receive(Instant::from_millis(4)).is_none());
        let mut got = 0;
        while let Some(d) = link.receive(Instant::from_millis(50)) {
            assert_eq!(d.len(), 1);
            got += 1;
        }
        assert_eq!(got, 2);
        assert_eq!(link.next_delivery_time(), None);
    }

    #[test]
    fn stream_keeps_order_and_splits() {
        let mut s: SimStream<64> = SimStream::new(
            LinkConfig {
                latency_min: ms(1),
                latency_max: ms(30),
                ..LinkConfig::PERFECT
            },
            5,
            9,
        );
        let msg = b"MSRP a786hjs2 SEND\r\nhello world\r\n-------a786hjs2$\r\n";
        assert_eq!(s.write(Instant::ZERO, msg), Ok(msg.len()));
        let mut out = [0u8; 64];
        let mut len = 0;
        let mut reads = 0;
        while let Some(at) = s.next_event_time() {
            let n = s.read(at, &mut out[len..]);
            assert!(n > 0);
            len += n;
            reads += 1;
        }
        assert_eq!(&out[..len], &msg[..]);
        assert!(reads > 1, "the write was split");
        s.close();
        assert!(s.is_finished());
        assert_eq!(s.write(Instant::ZERO, b"x"), Err(WriteError::Closed));
    }

    #[test]
    fn stream_reports_full_and_partial_writes() {
        let mut s: SimStream<4> = SimStream::new(LinkConfig::PERFECT, 4, 1);
        assert_eq!(s.write(Instant::ZERO, b"abcdef"), Ok(4));
        assert_eq!(s.write(Instant::ZERO, b"g"), Err(WriteError::Full));
        assert_eq!(
            s.read(Instant::from_millis(9), &mut [0u8; 4]),
            0,
            "nothing arrives before the latency"
        );
        let mut buf = [0u8; 2];
        assert_eq!(s.read(Instant::from_millis(10), &mut buf), 2);
        assert_eq!(&buf, b"ab");
        assert_eq!(s.unread(), 2);
    }

    #[test]
    fn stream_with_few_segments_takes_what_they_hold() {
        // One byte per segment at most, two segments: a write takes two bytes, then the stream is full.
        let mut s: SimStream<16, 2> = SimStream::new(LinkConfig::PERFECT, 1, 5);
        assert_eq!(s.write(Instant::ZERO, b"abcdef"), Ok(2));
        assert_eq!(s.write(Instant::ZERO, b"c"), Err(WriteError::Full));
        let mut buf = [0u8; 4];
        assert_eq!(s.read(Instant::from_millis(10), &mut buf), 2);
        assert_eq!(&buf[..2], b"ab");
        assert_eq!(s.write(Instant::from_millis(10), b"cd"), Ok(2));
    }

    #[test]
    fn aborted_stream_drops_unread_bytes_and_refuses_writes() {
        let mut s: SimStream<16> = SimStream::new(LinkConfig::PERFECT, 4, 2);
        assert_eq!(s.write(Instant::ZERO, b"abcdef"), Ok(6));
        s.abort();
        assert_eq!(s.unread(), 0);
        assert_eq!(s.next_event_time(), None);
        assert_eq!(s.read(Instant::from_millis(100), &mut [0u8; 8]), 0);
        assert!(s.is_finished());
        assert_eq!(s.write(Instant::ZERO, b"x"), Err(WriteError::Closed));
    }

    #[test]
    fn below_matches_in_range() {
        let (mut a, mut b) = (SimRng::new(3), SimRng::new(3));
        for n in [1u64, 2, 15, 1000] {
            let x = a.below(n);
            assert!(x < n);
            assert_eq!(x, b.in_range(0, n - 1));
        }
        assert_eq!(SimRng::new(3).below(0), 0);
    }
}
