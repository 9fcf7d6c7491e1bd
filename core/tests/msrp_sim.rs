//! Deterministic simulation: two endpoints directly and through a relay, over byte streams that split
//! writes and reads at random places and delay them, with connections lost mid-transfer.
//!
//! The harness is the crate's `sim` module: `SimRng` for every random choice, `SimClock` for time, and
//! one `SimStream` per direction of each connection (aborted when the connection is lost). Invariant checked in every run: each message is either
//! delivered byte-exact, or its sender got the failure RFC 4975 / RFC 4976 prescribe (a failed
//! transaction, a failure REPORT, or the lost connection), never silently lost or corrupted.

use std::collections::HashMap;
use std::time::Duration;

use simple_im_core::msrp::session::{
    ConnectionId, Event, MessageHandle, Relay, Session, SessionConfig, Setup,
};
use simple_im_core::sim::{LinkConfig, SimClock, SimRng, SimStream, WriteError};
use simple_im_core::time::Instant;

mod msrp_common;
use msrp_common::{Bodies, Received};

/// Bytes a stream may hold unread: a TCP window's worth. Writers keep what does not fit in their
/// backlog and retry, so the sessions and the relay see back-pressure as over a real connection.
const STREAM_CAP: usize = 16 * 1024;
/// Segments a stream may hold; bounds its memory (each is a few words) while allowing many small writes.
const STREAM_SEGMENTS: usize = 512;
/// Longest segment a write is cut into.
const MAX_SEGMENT: usize = 4096;

/// One direction of a connection: the shared simulated stream (in order, random segments, delays of
/// 0..=14 ms) and the writer's backlog of bytes the stream had no room for yet.
struct Pipe {
    stream: SimStream<STREAM_CAP, STREAM_SEGMENTS>,
    backlog: Vec<u8>,
}

impl Pipe {
    fn new(rng: &mut SimRng) -> Self {
        let delays = LinkConfig {
            latency_min: Duration::ZERO,
            latency_max: Duration::from_millis(14),
            ..LinkConfig::PERFECT
        };
        Pipe {
            stream: SimStream::new(delays, MAX_SEGMENT, rng.next_u64()),
            backlog: Vec::new(),
        }
    }
    /// Moves the backlog into the stream; `true` when it is empty (the writer may produce more). Bytes
    /// written to a lost connection vanish.
    fn flush(&mut self, now: Instant) -> bool {
        while !self.backlog.is_empty() {
            match self.stream.write(now, &self.backlog) {
                Ok(n) => drop(self.backlog.drain(..n)),
                Err(WriteError::Full) => return false,
                Err(WriteError::Closed) => self.backlog.clear(),
            }
        }
        true
    }
    fn write(&mut self, now: Instant, bytes: &[u8]) {
        self.backlog.extend_from_slice(bytes);
        self.flush(now);
    }
    /// Every byte that has arrived by `now`.
    fn due(&mut self, now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self.stream.read(now, &mut buf);
            if n == 0 {
                return out;
            }
            out.extend_from_slice(&buf[..n]);
        }
    }
    /// The connection is lost: nothing in flight arrives any more and later writes vanish.
    fn lose(&mut self) {
        self.stream.abort();
        self.backlog.clear();
    }
}

fn content(seed: u64, index: usize, len: usize) -> Vec<u8> {
    let mut r = SimRng::new(seed ^ (index as u64).wrapping_mul(0x1234_5678_9abc));
    (0..len).map(|_| r.next_u64() as u8).collect()
}

struct Endpoint {
    session: Session,
    inbox: Vec<u8>,
    source: Bodies,
    sink: Received,
    events: Vec<Event>,
    up: bool,
}

impl Endpoint {
    fn new(cfg: SessionConfig, local: &str, remote: &str, setup: Setup, rng: &mut SimRng) -> Self {
        let session = Session::new(cfg, local, remote, setup, rng).unwrap();
        Endpoint {
            session,
            inbox: Vec::new(),
            source: Bodies::default(),
            sink: Received::default(),
            events: Vec::new(),
            up: true,
        }
    }
    fn transmit(&mut self, now: Instant, out: &mut Pipe) {
        let mut buf = vec![0u8; 4096];
        while self.up && out.flush(now) {
            let Some(n) = self.session.poll_transmit(now, &mut buf, &mut self.source) else {
                break;
            };
            out.write(now, &buf[..n]);
        }
        self.drain_events();
    }
    fn receive(&mut self, now: Instant, bytes: Vec<u8>, rng: &mut SimRng) {
        if !self.up {
            return;
        }
        self.inbox.extend(bytes);
        while !self.inbox.is_empty() {
            let window = 1 + rng.below(self.inbox.len() as u64) as usize;
            let used = self
                .session
                .handle_input(now, &self.inbox[..window], &mut self.sink)
                .unwrap();
            self.inbox.drain(..used);
            if used == 0 && window == self.inbox.len() {
                break;
            }
        }
        self.drain_events();
    }
    fn tick(&mut self, now: Instant) {
        if self.session.poll_timeout().is_some_and(|t| t <= now) {
            self.session.handle_timeout(now);
        }
        self.drain_events();
    }
    fn lose_connection(&mut self, now: Instant) {
        self.up = false;
        self.session.connection_lost(now);
        self.drain_events();
    }
    fn drain_events(&mut self) {
        while let Some(e) = self.session.poll_event() {
            self.events.push(e);
        }
    }
}

const ALICE: &str = "msrp://alice.example:7001/aliceaaaa1;tcp";
const BOB: &str = "msrp://bob.example:7002/bobbbbbb2;tcp";
const RELAY: &str = "msrp://relay.example:2855/relayrr3;tcp";

struct Plan {
    messages: Vec<Vec<u8>>,
    handles: Vec<Option<MessageHandle>>,
    ids: Vec<Option<String>>,
}

impl Plan {
    fn new(seed: u64, rng: &mut SimRng) -> Self {
        let n = 3 + rng.below(5) as usize;
        let messages = (0..n)
            .map(|i| {
                let len = match rng.below(4) {
                    0 => rng.below(40) as usize,
                    1 => rng.below(3000) as usize,
                    _ => 1000 + rng.below(60_000) as usize,
                };
                content(seed, i, len)
            })
            .collect();
        Plan {
            messages,
            handles: vec![None; n],
            ids: vec![None; n],
        }
    }
    /// Queues the next messages while the sender has room.
    fn submit(&mut self, alice: &mut Endpoint) {
        for (i, body) in self.messages.iter().enumerate() {
            if self.handles[i].is_some() || !alice.up {
                continue;
            }
            match alice
                .session
                .send("application/octet-stream", Some(body.len() as u64))
            {
                Ok(h) => {
                    alice.source.0.insert(h.0, body.clone());
                    self.handles[i] = Some(h);
                    self.ids[i] = alice.session.message_id(h).map(str::to_string);
                }
                Err(_) => break,
            }
        }
    }
    /// Every message asked for a success report got one (healthy network only).
    fn check_success_reports(&self, alice: &Endpoint, requested: bool) {
        for h in self.handles.iter().flatten().filter(|_| requested) {
            assert!(
                alice
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Delivered { message, .. } if message == h)),
                "success report for {h:?}"
            );
        }
    }

    /// The invariant of the module docs; returns how many messages arrived intact.
    fn check(&self, alice: &Endpoint, bob: &Endpoint, may_fail: bool) -> usize {
        let received: HashMap<&str, u64> = bob
            .events
            .iter()
            .filter_map(|e| match e {
                Event::MessageReceived { id, len } => Some((id.as_str(), *len)),
                _ => None,
            })
            .collect();
        let mut delivered = 0;
        for (i, body) in self.messages.iter().enumerate() {
            let Some(h) = self.handles[i] else {
                assert!(may_fail, "message {i} was never queued");
                continue;
            };
            let failed = alice
                .events
                .iter()
                .any(|e| matches!(e, Event::SendFailed { message, .. } if *message == h));
            let id = &self.ids[i];
            let got = id.as_deref().and_then(|id| received.get(id).map(|len| (id, len)));
            match got {
                Some((id, len)) => {
                    assert_eq!(*len as usize, body.len(), "message {i} length");
                    assert!(
                        bob.sink.0.get(id).map_or(body.is_empty(), |b| b == body),
                        "message {i} bytes differ"
                    );
                    delivered += 1;
                }
                None => assert!(
                    failed,
                    "message {i} ({} bytes) neither delivered nor reported failed; alice: {:?} bob: {:?}",
                    body.len(),
                    alice.events,
                    bob.events
                        .iter()
                        .filter(|e| !matches!(e, Event::MessageReceived { .. }))
                        .collect::<Vec<_>>()
                ),
            }
            if !may_fail {
                let why: Vec<_> = alice
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::SendFailed { message, .. } if *message == h))
                    .collect();
                assert!(
                    !failed,
                    "message {i} ({} bytes) failed on a healthy network: {why:?}",
                    body.len()
                );
            }
        }
        delivered
    }
}

/// How long every run lasts in virtual time.
const END: Instant = Instant::from_millis(200_000);

fn direct(seed: u64, lose_at: Option<u64>) -> (usize, usize) {
    let mut rng = SimRng::new(seed);
    let chunk = 200 + rng.below(5000) as u32;
    let cfg = SessionConfig {
        chunk_size: chunk,
        success_report: rng.below(2) == 0,
        ..SessionConfig::default()
    };
    let mut alice = Endpoint::new(cfg, ALICE, BOB, Setup::Active, &mut rng);
    let mut bob = Endpoint::new(SessionConfig::default(), BOB, ALICE, Setup::Passive, &mut rng);
    let mut plan = Plan::new(seed, &mut rng);
    let (mut a2b, mut b2a) = (Pipe::new(&mut rng), Pipe::new(&mut rng));
    let mut clock = SimClock::new(Instant::ZERO);
    while clock.now() < END {
        let now = clock.now();
        plan.submit(&mut alice);
        alice.transmit(now, &mut a2b);
        bob.transmit(now, &mut b2a);
        let to_bob = a2b.due(now);
        bob.receive(now, to_bob, &mut rng);
        let to_alice = b2a.due(now);
        alice.receive(now, to_alice, &mut rng);
        alice.tick(now);
        bob.tick(now);
        if lose_at.is_some_and(|t| now >= Instant::from_millis(t)) && alice.up {
            alice.lose_connection(now);
            bob.lose_connection(now);
            a2b.lose();
            b2a.lose();
        }
        clock.advance_by(Duration::from_millis(1 + rng.below(5)));
    }
    let delivered = plan.check(&alice, &bob, lose_at.is_some());
    if lose_at.is_none() {
        assert_eq!(delivered, plan.messages.len());
        plan.check_success_reports(&alice, cfg.success_report);
    }
    (delivered, plan.messages.len())
}

/// Over a series of lossy runs, some messages got through and some failed: the break really happened
/// mid-transfer rather than before or after everything.
fn assert_mixed(results: &[(usize, usize)]) {
    let delivered: usize = results.iter().map(|r| r.0).sum();
    let total: usize = results.iter().map(|r| r.1).sum();
    assert!(
        delivered > 0 && delivered < total,
        "delivered {delivered} of {total}"
    );
}

#[test]
fn sim_direct_random_splits_and_delays() {
    for seed in 1..=12 {
        direct(seed, None);
    }
}

#[test]
fn sim_direct_connection_lost_mid_transfer() {
    let results: Vec<_> = (100..=115)
        .map(|seed| direct(seed, Some(SimRng::new(seed).below(60) + 5)))
        .collect();
    assert_mixed(&results);
}

struct RelayNode {
    relay: Relay,
    inbox: HashMap<u32, Vec<u8>>,
    up: HashMap<u32, bool>,
}

impl RelayNode {
    fn transmit(&mut self, now: Instant, to_alice: &mut Pipe, to_bob: &mut Pipe) {
        let mut buf = vec![0u8; 1500];
        // The relay cannot be asked for one connection's output only, so it waits for both backlogs.
        while to_alice.flush(now) && to_bob.flush(now) {
            let Some((conn, n)) = self.relay.poll_transmit(now, &mut buf) else {
                break;
            };
            match conn.0 {
                1 => to_alice.write(now, &buf[..n]),
                _ => to_bob.write(now, &buf[..n]),
            }
        }
    }
    fn receive(
        &mut self,
        now: Instant,
        conn: u32,
        bytes: Vec<u8>,
        streams: (&mut Pipe, &mut Pipe),
        rng: &mut SimRng,
    ) {
        if !self.up[&conn] {
            return;
        }
        let (to_alice, to_bob) = streams;
        let inbox = self.inbox.entry(conn).or_default();
        inbox.extend(bytes);
        let mut stalled = 0;
        loop {
            let inbox = self.inbox.get_mut(&conn).unwrap();
            if inbox.is_empty() {
                break;
            }
            let window = 1 + rng.below(inbox.len() as u64) as usize;
            let used = self
                .relay
                .handle_input(now, ConnectionId(conn), &inbox[..window])
                .unwrap();
            inbox.drain(..used);
            if used == 0 {
                // Back-pressure: drain the relay's outputs, then try the whole inbox once more.
                self.transmit(now, to_alice, to_bob);
                stalled += 1;
                if stalled > 3 {
                    break;
                }
            } else {
                stalled = 0;
            }
        }
    }
}

/// Which link of the relayed path breaks, and when.
#[derive(Clone, Copy, PartialEq)]
enum Break {
    Never,
    RelayToBob(u64),
    AliceToRelay(u64),
}

fn via_relay(seed: u64, fault: Break) -> (usize, usize) {
    let mut rng = SimRng::new(seed);
    let chunk = 500 + rng.below(8000) as u32;
    let cfg = SessionConfig {
        chunk_size: chunk,
        success_report: rng.below(2) == 0,
        ..SessionConfig::default()
    };
    let mut alice = Endpoint::new(cfg, ALICE, &format!("{RELAY} {BOB}"), Setup::Active, &mut rng);
    let mut bob = Endpoint::new(
        SessionConfig::default(),
        BOB,
        &format!("{RELAY} {ALICE}"),
        Setup::Passive,
        &mut rng,
    );
    let mut relay = Relay::new(RELAY).unwrap();
    relay.set_transaction_timeout(Duration::from_secs(30));
    relay
        .add_connection(ConnectionId(1), "msrp://alice.example:7001;tcp", 4096)
        .unwrap();
    // A next hop that takes smaller chunks than Alice sends: the relay re-chunks.
    let bob_limit = 300 + rng.below(1500) as u32;
    relay
        .add_connection(ConnectionId(2), "msrp://bob.example:7002;tcp", bob_limit)
        .unwrap();
    let mut node = RelayNode {
        relay,
        inbox: HashMap::new(),
        up: HashMap::from([(1, true), (2, true)]),
    };
    let mut plan = Plan::new(seed, &mut rng);
    let (mut a2r, mut r2a) = (Pipe::new(&mut rng), Pipe::new(&mut rng));
    let (mut r2b, mut b2r) = (Pipe::new(&mut rng), Pipe::new(&mut rng));
    let mut clock = SimClock::new(Instant::ZERO);
    while clock.now() < END {
        let now = clock.now();
        plan.submit(&mut alice);
        alice.transmit(now, &mut a2r);
        bob.transmit(now, &mut b2r);
        node.transmit(now, &mut r2a, &mut r2b);
        let bytes = a2r.due(now);
        node.receive(now, 1, bytes, (&mut r2a, &mut r2b), &mut rng);
        let bytes = b2r.due(now);
        node.receive(now, 2, bytes, (&mut r2a, &mut r2b), &mut rng);
        node.transmit(now, &mut r2a, &mut r2b);
        let bytes = r2b.due(now);
        bob.receive(now, bytes, &mut rng);
        let bytes = r2a.due(now);
        alice.receive(now, bytes, &mut rng);
        alice.tick(now);
        bob.tick(now);
        if node.relay.poll_timeout().is_some_and(|t| t <= now) {
            node.relay.handle_timeout(now);
        }
        match fault {
            Break::RelayToBob(t) if now >= Instant::from_millis(t) && bob.up => {
                node.relay.connection_lost(ConnectionId(2));
                node.up.insert(2, false);
                bob.lose_connection(now);
                r2b.lose();
                b2r.lose();
            }
            Break::AliceToRelay(t) if now >= Instant::from_millis(t) && alice.up => {
                node.relay.connection_lost(ConnectionId(1));
                node.up.insert(1, false);
                alice.lose_connection(now);
                a2r.lose();
                r2a.lose();
            }
            _ => {}
        }
        clock.advance_by(Duration::from_millis(1 + rng.below(5)));
    }
    let delivered = plan.check(&alice, &bob, fault != Break::Never);
    if fault == Break::Never {
        assert_eq!(delivered, plan.messages.len(), "seed {seed}");
        plan.check_success_reports(&alice, cfg.success_report);
    }
    (delivered, plan.messages.len())
}

#[test]
fn sim_through_relay_with_rechunking() {
    for seed in 200..=211 {
        via_relay(seed, Break::Never);
    }
}

#[test]
fn sim_relay_next_hop_lost_yields_failure_reports() {
    let results: Vec<_> = (300..=315)
        .map(|seed| via_relay(seed, Break::RelayToBob(SimRng::new(seed).below(80) + 5)))
        .collect();
    assert_mixed(&results);
}

#[test]
fn sim_relay_previous_hop_lost_mid_transfer() {
    let results: Vec<_> = (400..=415)
        .map(|seed| via_relay(seed, Break::AliceToRelay(SimRng::new(seed).below(80) + 5)))
        .collect();
    assert_mixed(&results);
}
