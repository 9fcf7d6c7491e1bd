//! A session with a device's capacities (`Session<HEAD, INCOMING, PENDING, CONTROL, EVENTS, RECENT>`):
//! small queues slow the input down instead of losing responses or events, and the header bound is
//! the type's.

use simple_im_core::msrp::session::{Event, Session, SessionConfig, Setup};
use simple_im_core::msrp::wire::{parse_message, Method, Parsed};
use simple_im_core::rng::Rng;
use simple_im_core::time::Instant;

mod msrp_common;
use msrp_common::{Bodies, Received};

struct Fixed;
impl Rng for Fixed {
    fn fill(&mut self, buf: &mut [u8]) {
        buf.fill(7);
    }
}

const ALICE: &str = "msrp://alice.example:7777/alicesession1;tcp";
const BOB: &str = "msrp://bob.example:8888/bobsession22;tcp";

/// The smallest queues a session accepts (2 control slots, 3 event slots), a 1 KiB header bound.
type Tiny = Session<1024, 2, 2, 2, 3, 1>;

fn bob() -> Tiny {
    Tiny::with_capacities(SessionConfig::default(), BOB, ALICE, Setup::Passive, &mut Fixed).unwrap()
}

fn send(n: usize) -> Vec<u8> {
    let tid = format!("tid{n}");
    let id = format!("msg{n}");
    let extra = [("Message-ID", id.as_str()), ("Content-Type", "text/plain")];
    let body = format!("line {n}");
    msrp_common::request(&tid, Method::Send, BOB, ALICE, &extra, Some(body.as_bytes()))
}

fn response_codes(wire: &[u8]) -> Vec<u16> {
    let mut codes = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let Parsed::Complete(m, used) = parse_message(rest).unwrap() else {
            panic!("partial response")
        };
        codes.extend(m.head.status_code());
        rest = &rest[used..];
    }
    codes
}

#[test]
fn a_burst_larger_than_the_queues_is_consumed_in_rounds_without_loss() {
    let mut bob = bob();
    let burst: Vec<u8> = (0..6).flat_map(send).collect();
    let (mut pos, mut rounds, mut events, mut wire) = (0, 0, Vec::new(), Vec::new());
    let mut sink = Received::default();
    while pos < burst.len() {
        let used = bob.handle_input(Instant::ZERO, &burst[pos..], &mut sink).unwrap();
        assert!(used > 0, "after a drain there is room for the next request");
        pos += used;
        rounds += 1;
        events.extend(std::iter::from_fn(|| bob.poll_event()));
        let mut buf = [0u8; 1024];
        while let Some(n) = bob.poll_transmit(Instant::ZERO, &mut buf, &mut Bodies::default()) {
            wire.extend_from_slice(&buf[..n]);
        }
    }
    assert!(rounds > 1, "three event slots cannot take six messages at once");
    assert_eq!(response_codes(&wire), vec![200; 6], "every SEND got its 200");
    let received = events
        .iter()
        .filter(|e| matches!(e, Event::MessageReceived { .. }))
        .count();
    assert_eq!(received, 6, "{events:?}");
    assert_eq!(sink.0["msg5"], b"line 5");
}

#[test]
fn a_header_block_beyond_the_type_bound_is_a_frame_error() {
    let mut bob = bob();
    let long = "x".repeat(1100);
    let extra = [
        ("Message-ID", "m1"),
        ("Content-Type", "text/plain"),
        ("X-Long", long.as_str()),
    ];
    let request = msrp_common::request("t1", Method::Send, BOB, ALICE, &extra, Some(b"hi"));
    assert!(bob
        .handle_input(Instant::ZERO, &request, &mut Received::default())
        .is_err());

    // The same request fits the default 2 KiB bound.
    let mut default = Session::new(SessionConfig::default(), BOB, ALICE, Setup::Passive, &mut Fixed).unwrap();
    let used = default
        .handle_input(Instant::ZERO, &request, &mut Received::default())
        .unwrap();
    assert_eq!(used, request.len());
}
