//! Properties of the transaction machines and table over random inputs, and end-to-end transactions
//! over the simulated lossy network of `simple_im_core::sim`.
//!
//! Properties (checked after every input followed by a full drain, at the input's time `now`):
//! 1. Nothing is output after the `Terminated` event; `Terminated` occurs at most once.
//! 2. `poll_timeout()` is `None` or strictly after `now` (due timers fired inside the call), and is
//!    `None` once terminated.
//! 3. Retransmissions are bounded: an unreliable client sends its request at most 1 + 6 (INVITE, timer
//!    A doubling until B) or 1 + 10 (non-INVITE, E capped at T2 until F) times; a reliable client once.
//! 4. The table never exceeds its capacity (a typed `Full` error instead), never emits an output for a
//!    key it no longer holds, and a key whose `Terminated` was drained is gone.

use std::collections::HashSet;
use std::time::Duration;
use std::vec::Vec;

use proptest::prelude::*;
use simple_im_core::sim::{LinkConfig, SimClock, SimLink, SimRng};
use simple_im_core::sip::transaction::*;
use simple_im_core::time::Instant;

#[derive(Clone, Debug)]
enum Input {
    Response(u16),
    Retransmission,
    Ack,
    TuResponse(u16),
    Timeout,
    TransportError,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        prop_oneof![
            Just(100u16),
            Just(180),
            Just(200),
            Just(202),
            Just(486),
            Just(603),
            0u16..1000
        ]
        .prop_map(Input::Response),
        Just(Input::Retransmission),
        Just(Input::Ack),
        prop_oneof![Just(100u16), Just(180), Just(200), Just(404), 0u16..1000].prop_map(Input::TuResponse),
        Just(Input::Timeout),
        Just(Input::Timeout),
        Just(Input::Timeout),
        Just(Input::TransportError),
    ]
}

fn steps() -> impl Strategy<Value = Vec<(u64, Input)>> {
    prop::collection::vec((0u64..6000, input()), 0..60)
}

/// Drives any machine through `steps`, checking properties 1 and 2, and returns the number of
/// `Transmit` outputs.
macro_rules! check_machine {
    ($t:expr, $steps:expr, |$m:ident, $now:ident, $inp:ident| $apply:expr) => {{
        let mut now = 0u64;
        let mut terminated = false;
        let mut transmits = 0usize;
        for (delta, $inp) in $steps {
            now += delta;
            let $now = Instant::from_millis(now);
            {
                let $m = &mut $t;
                $apply;
            }
            while let Some(out) = $t.poll_output() {
                prop_assert!(!terminated, "output {:?} after Terminated", out);
                match out {
                    Output::Transmit(_) => transmits += 1,
                    Output::Event(Event::Terminated) => terminated = true,
                    _ => {}
                }
            }
            prop_assert_eq!(terminated, $t.is_terminated());
            if let Some(deadline) = $t.poll_timeout() {
                prop_assert!(
                    deadline > $now,
                    "deadline {:?} not after now {:?}",
                    deadline,
                    $now
                );
            }
            if terminated {
                prop_assert_eq!($t.poll_timeout(), None);
            }
        }
        transmits
    }};
}

fn reliability(reliable: bool) -> Reliability {
    if reliable {
        Reliability::Reliable
    } else {
        Reliability::Unreliable
    }
}

proptest! {
    #[test]
    fn client_invite_properties(reliable: bool, steps in steps()) {
        let rel = reliability(reliable);
        let mut t = ClientInvite::new(Instant::ZERO, TimerConfig::default(), rel, &b"INVITE"[..]);
        let sent = check_machine!(t, steps, |m, now, inp| match inp {
            Input::Response(c) => m.handle_response(now, c),
            Input::TransportError => m.handle_transport_error(now),
            _ => m.handle_timeout(now),
        });
        prop_assert!(sent <= if reliable { 1 } else { 7 }, "sent {} times", sent);
    }

    #[test]
    fn client_non_invite_properties(reliable: bool, steps in steps()) {
        let rel = reliability(reliable);
        let mut t = ClientNonInvite::new(Instant::ZERO, TimerConfig::default(), rel, &b"MESSAGE"[..]);
        let sent = check_machine!(t, steps, |m, now, inp| match inp {
            Input::Response(c) => m.handle_response(now, c),
            Input::TransportError => m.handle_transport_error(now),
            _ => m.handle_timeout(now),
        });
        prop_assert!(sent <= if reliable { 1 } else { 11 }, "sent {} times", sent);
    }

    #[test]
    fn server_invite_properties(reliable: bool, steps in steps()) {
        let mut t = ServerInvite::new(Instant::ZERO, TimerConfig::default(), reliability(reliable));
        check_machine!(t, steps, |m, now, inp| match inp {
            Input::TuResponse(c) => { let _ = m.send_response(now, c, &b"resp"[..]); }
            Input::Retransmission => m.handle_request(now, ServerRequest::Retransmission),
            Input::Ack => m.handle_request(now, ServerRequest::Ack),
            Input::TransportError => m.handle_transport_error(now),
            _ => m.handle_timeout(now),
        });
    }

    #[test]
    fn server_non_invite_properties(reliable: bool, steps in steps()) {
        let mut t = ServerNonInvite::new(Instant::ZERO, TimerConfig::default(), reliability(reliable));
        check_machine!(t, steps, |m, now, inp| match inp {
            Input::TuResponse(c) => { let _ = m.send_response(now, c, &b"resp"[..]); }
            Input::Retransmission | Input::Ack => m.handle_request(now),
            Input::TransportError => m.handle_transport_error(now),
            _ => m.handle_timeout(now),
        });
    }
}

// ---------------------------------------------------------------- table properties

const TABLE_CAP: usize = 4;

#[derive(Clone, Debug)]
enum TableOp {
    Insert { id: u8, kind: u8 },
    Input { id: u8, input: Input },
    Remove { id: u8 },
    Timeout,
}

fn table_op() -> impl Strategy<Value = TableOp> {
    prop_oneof![
        (0u8..8, 0u8..4).prop_map(|(id, kind)| TableOp::Insert { id, kind }),
        (0u8..8, input()).prop_map(|(id, input)| TableOp::Input { id, input }),
        (0u8..8).prop_map(|id| TableOp::Remove { id }),
        Just(TableOp::Timeout),
        Just(TableOp::Timeout),
    ]
}

fn table_key(id: u8) -> TransactionKey {
    TransactionKey::server(&format!("z9hG4bK{id}"), "host", "X").unwrap()
}

proptest! {
    #[test]
    fn table_properties(reliable: bool, ops in prop::collection::vec((0u64..8000, table_op()), 0..80)) {
        let rel = reliability(reliable);
        let cfg = TimerConfig::default();
        let mut table: TransactionTable<&'static [u8], TABLE_CAP> = TransactionTable::new();
        let mut live: HashSet<u8> = HashSet::new();
        let mut now = 0u64;
        for (delta, op) in ops {
            now += delta;
            let at = Instant::from_millis(now);
            let takes_now = !matches!(op, TableOp::Remove { .. });
            match op {
                TableOp::Insert { id, kind } => {
                    let t = match kind {
                        0 => Transaction::ClientInvite(ClientInvite::new(at, cfg, rel, &b"I"[..])),
                        1 => Transaction::ClientNonInvite(ClientNonInvite::new(at, cfg, rel, &b"M"[..])),
                        2 => Transaction::ServerInvite(ServerInvite::new(at, cfg, rel)),
                        _ => Transaction::ServerNonInvite(ServerNonInvite::new(at, cfg, rel)),
                    };
                    let result = table.insert(at, table_key(id), t);
                    if live.contains(&id) {
                        prop_assert_eq!(result, Err(TableError::DuplicateKey));
                    } else if live.len() == TABLE_CAP {
                        prop_assert_eq!(result, Err(TableError::Full));
                    } else {
                        prop_assert_eq!(result, Ok(()));
                        live.insert(id);
                    }
                }
                TableOp::Input { id, input } => {
                    let key = table_key(id);
                    let result = match input {
                        Input::Response(c) => table.handle_response(at, &key, c),
                        Input::Retransmission => table.handle_request(at, &key, ServerRequest::Retransmission),
                        Input::Ack => table.handle_request(at, &key, ServerRequest::Ack),
                        Input::TuResponse(c) => table.send_response(at, &key, c, &b"R"[..]),
                        Input::TransportError => table.handle_transport_error(at, &key),
                        Input::Timeout => {
                            table.handle_timeout(at);
                            Ok(())
                        }
                    };
                    if !live.contains(&id) && !matches!(input, Input::Timeout) {
                        prop_assert_eq!(result, Err(DispatchError::NoMatch));
                    }
                }
                TableOp::Remove { id } => {
                    prop_assert_eq!(table.remove(&table_key(id)).is_some(), live.remove(&id));
                }
                TableOp::Timeout => table.handle_timeout(at),
            }
            let mut ended = Vec::new();
            while let Some((key, out)) = table.poll_output() {
                let id = key.branch().unwrap()[7..].parse::<u8>().unwrap();
                prop_assert!(live.contains(&id), "output {:?} for removed transaction {}", out, id);
                if out == Output::Event(Event::Terminated) {
                    ended.push(id);
                }
            }
            for id in ended {
                live.remove(&id);
                prop_assert!(table.get(&table_key(id)).is_none());
            }
            prop_assert!(table.len() <= TABLE_CAP);
            prop_assert_eq!(table.len(), live.len());
            if let (true, Some(deadline)) = (takes_now, table.poll_timeout()) {
                prop_assert!(deadline > at);
            }
        }
    }
}

// ---------------------------------------------------------------- over the simulated lossy network

type Link = SimLink<16, 32>;
type Txn = Transaction<&'static [u8]>;

/// What the two transaction users saw.
struct Exchange {
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    client_final_at: Option<u64>,
    lost: u32,
}

/// Runs a client transaction at A against a server side at B over two links with 30 % loss and
/// 5-150 ms latency, until nothing is left to do. `at_server` handles a datagram arriving at B (it
/// creates the server transaction on the first request); `at_client` one arriving at A. An
/// `Output::SendAck` is answered by sending `ACK`.
fn run_exchange(
    seed: u64,
    mut client: Txn,
    mut at_server: impl FnMut(Instant, &[u8], &mut Option<Txn>),
    mut at_client: impl FnMut(Instant, &[u8], &mut Txn),
) -> Exchange {
    let config = LinkConfig::lossy(30, Duration::from_millis(5), Duration::from_millis(150));
    let mut ab = Link::new(config, seed);
    let mut ba = Link::new(config, seed.wrapping_mul(31).wrapping_add(7));
    let mut clock = SimClock::new(Instant::ZERO);
    let mut server: Option<Txn> = None;
    let mut ex = Exchange {
        client_events: vec![],
        server_events: vec![],
        client_final_at: None,
        lost: 0,
    };
    loop {
        let now = clock.now();
        while let Some(out) = client.poll_output() {
            match out {
                Output::Transmit(bytes) => drop(ab.send(now, bytes).unwrap()),
                Output::SendAck { .. } => drop(ab.send(now, b"ACK").unwrap()),
                Output::Event(e) => {
                    if matches!(e, Event::FinalReceived(_)) && ex.client_final_at.is_none() {
                        ex.client_final_at = Some(now.as_millis());
                    }
                    ex.client_events.push(e);
                }
            }
        }
        while let Some(out) = server.as_mut().and_then(|s| s.poll_output()) {
            match out {
                Output::Transmit(bytes) => drop(ba.send(now, bytes).unwrap()),
                Output::Event(e) => ex.server_events.push(e),
                Output::SendAck { .. } => unreachable!("only INVITE clients ACK"),
            }
        }
        let deadlines = [
            client.poll_timeout(),
            server.as_ref().and_then(|s| s.poll_timeout()),
            ab.next_delivery_time(),
            ba.next_delivery_time(),
        ];
        let Some(next) = deadlines.into_iter().flatten().min() else {
            break;
        };
        let now = clock.advance_to(next);
        assert!(now.as_millis() < 200_000, "the simulation must end");
        while let Some(datagram) = ab.receive(now) {
            at_server(now, &datagram, &mut server);
        }
        while let Some(datagram) = ba.receive(now) {
            at_client(now, &datagram, &mut client);
        }
        client.handle_timeout(now);
        if let Some(s) = server.as_mut() {
            s.handle_timeout(now);
        }
    }
    ex.lost = ab.stats().lost + ba.stats().lost;
    ex
}

fn non_invite_over_lossy_link(seed: u64) -> Exchange {
    let cfg = TimerConfig::default();
    let client = ClientNonInvite::new(Instant::ZERO, cfg, Reliability::Unreliable, &b"MESSAGE"[..]);
    run_exchange(
        seed,
        Transaction::ClientNonInvite(client),
        |now, datagram, server| {
            assert_eq!(datagram, b"MESSAGE");
            match server {
                Some(Transaction::ServerNonInvite(s)) => s.handle_request(now),
                Some(_) => unreachable!(),
                None => {
                    let mut s = ServerNonInvite::new(now, cfg, Reliability::Unreliable);
                    s.send_response(now, 200, &b"200"[..]).unwrap();
                    *server = Some(Transaction::ServerNonInvite(s));
                }
            }
        },
        |now, datagram, client| match client {
            Transaction::ClientNonInvite(c) => c.handle_response(now, datagram_status(datagram)),
            _ => unreachable!(),
        },
    )
}

fn datagram_status(datagram: &[u8]) -> u16 {
    std::str::from_utf8(datagram).unwrap().parse().unwrap()
}

#[test]
fn non_invite_completes_over_30_percent_loss() {
    let mut total_lost = 0;
    for seed in 1..=20 {
        let ex = non_invite_over_lossy_link(seed);
        assert_eq!(
            ex.client_events,
            vec![Event::FinalReceived(200), Event::Terminated],
            "seed {seed}"
        );
        assert_eq!(ex.server_events, vec![Event::Terminated], "seed {seed}");
        assert!(
            ex.client_final_at.unwrap() < 64 * 500,
            "seed {seed}: completed before timer F"
        );
        total_lost += ex.lost;
    }
    assert!(total_lost > 0, "the links did lose datagrams");
    // Determinism: the same seed replays the same run.
    let (a, b) = (non_invite_over_lossy_link(5), non_invite_over_lossy_link(5));
    assert_eq!((a.client_final_at, a.lost), (b.client_final_at, b.lost));
}

/// INVITE answered 486 over the lossy links: the client ACKs every copy of the 486 it receives, the
/// server retransmits the 486 (timer G) until an ACK gets through, and neither side times out.
#[test]
fn invite_486_completes_over_30_percent_loss() {
    let cfg = TimerConfig::default();
    let mut total_lost = 0;
    for seed in 1..=20 {
        let mut server_states_at_ack = Vec::new();
        let client = ClientInvite::new(Instant::ZERO, cfg, Reliability::Unreliable, &b"INVITE"[..]);
        let ex = run_exchange(
            seed,
            Transaction::ClientInvite(client),
            |now, datagram, server| match (datagram, server.as_mut()) {
                (b"INVITE", Some(Transaction::ServerInvite(s))) => {
                    s.handle_request(now, ServerRequest::Retransmission)
                }
                (b"ACK", Some(Transaction::ServerInvite(s))) => {
                    server_states_at_ack.push(s.state());
                    s.handle_request(now, ServerRequest::Ack)
                }
                (b"INVITE", None) => {
                    let mut s = ServerInvite::new(now, cfg, Reliability::Unreliable);
                    s.send_response(now, 486, &b"486"[..]).unwrap();
                    *server = Some(Transaction::ServerInvite(s));
                }
                (other, _) => panic!("unexpected {other:?}"),
            },
            |now, datagram, client| match client {
                Transaction::ClientInvite(c) => c.handle_response(now, datagram_status(datagram)),
                _ => unreachable!(),
            },
        );
        assert_eq!(
            ex.client_events,
            vec![Event::FinalReceived(486), Event::Terminated],
            "seed {seed}"
        );
        assert_eq!(
            ex.server_events,
            vec![Event::Terminated],
            "seed {seed}: no TimedOut, an ACK got through"
        );
        assert_eq!(
            server_states_at_ack.first(),
            Some(&ServerInviteState::Completed),
            "seed {seed}"
        );
        total_lost += ex.lost;
    }
    assert!(total_lost > 0);
}

#[test]
fn sim_rng_drives_branch_generation_deterministically() {
    let (mut a, mut b) = (SimRng::new(99), SimRng::new(99));
    assert_eq!(generate_branch(&mut a), generate_branch(&mut b));
    assert_ne!(generate_branch(&mut a), generate_branch(&mut SimRng::new(100)));
}
