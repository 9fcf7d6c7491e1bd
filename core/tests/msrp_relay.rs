//! The relay machine (RFC 4976 §6), row by row of its module tables.

use std::time::Duration;

use simple_im_core::msrp::session::relay::ConnectionId;
use simple_im_core::msrp::session::Relay;
use simple_im_core::msrp::wire::builder::write_response;
use simple_im_core::msrp::wire::{parse_message, Continuation, Method, Parsed};
use simple_im_core::time::Instant;

mod msrp_common;

const RELAY: &str = "msrp://relay.example:2855/rly1;tcp";
const ALICE: &str = "msrp://alice.example:7001/alice1;tcp";
const BOB: &str = "msrp://bob.example:7002/bob2;tcp";
const FROM_ALICE: ConnectionId = ConnectionId(1);
const TO_BOB: ConnectionId = ConnectionId(2);

fn relay(bob_limit: u32) -> Relay {
    let mut r = Relay::new(RELAY).unwrap();
    r.add_connection(FROM_ALICE, "msrp://alice.example:7001;tcp", 4096)
        .unwrap();
    r.add_connection(TO_BOB, "msrp://bob.example:7002;tcp", bob_limit)
        .unwrap();
    r
}

fn request(method: Method<'_>, to: &str, extra: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    msrp_common::request("in1234", method, to, ALICE, extra, body)
}

/// Output per connection after feeding `input` from Alice (draining between partial feeds).
fn run(r: &mut Relay, from: ConnectionId, input: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut to_alice, mut to_bob) = (Vec::new(), Vec::new());
    let mut pos = 0;
    let mut buf = [0u8; 1024];
    loop {
        let used = r.handle_input(Instant::ZERO, from, &input[pos..]).unwrap();
        pos += used;
        let mut moved = false;
        while let Some((c, n)) = r.poll_transmit(Instant::ZERO, &mut buf) {
            moved = true;
            if c == FROM_ALICE {
                to_alice.extend_from_slice(&buf[..n])
            } else {
                to_bob.extend_from_slice(&buf[..n])
            }
        }
        if !moved && (used == 0 || pos == input.len()) {
            break;
        }
    }
    (to_alice, to_bob)
}

struct Seen {
    tid: String,
    method: Option<String>,
    code: Option<u16>,
    to: Option<String>,
    from: Option<String>,
    range: Option<String>,
    status: Option<String>,
    body: Vec<u8>,
    flag: Continuation,
}

fn seen(wire: &[u8]) -> Vec<Seen> {
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let Parsed::Complete(m, used) = parse_message(rest).unwrap() else {
            panic!("partial")
        };
        out.push(Seen {
            tid: m.head.transaction_id.into(),
            method: m.head.method().map(|x| x.as_str().into()),
            code: m.head.status_code(),
            to: m.head.get("To-Path").map(Into::into),
            from: m.head.get("From-Path").map(Into::into),
            range: m.head.get("Byte-Range").map(Into::into),
            status: m.head.get("Status").map(Into::into),
            body: m.body.to_vec(),
            flag: m.continuation,
        });
        rest = &rest[used..];
    }
    out
}

const SEND_HEADERS: [(&str, &str); 3] = [
    ("Message-ID", "msg1"),
    ("Byte-Range", "1-10/10"),
    ("Content-Type", "text/plain"),
];

#[test]
fn send_is_acknowledged_and_forwarded_with_rewritten_paths() {
    let mut r = relay(4096);
    let (back, fwd) = run(
        &mut r,
        FROM_ALICE,
        &request(
            Method::Send,
            &format!("{RELAY} {BOB}"),
            &SEND_HEADERS,
            Some(b"0123456789"),
        ),
    );
    let back = seen(&back);
    assert_eq!(
        (back.len(), back[0].code, back[0].to.as_deref()),
        (1, Some(200), Some(ALICE))
    );
    let fwd = seen(&fwd);
    assert_eq!(fwd.len(), 1);
    assert_eq!(fwd[0].to.as_deref(), Some(BOB));
    assert_eq!(fwd[0].from.clone().unwrap(), format!("{RELAY} {ALICE}"));
    assert_ne!(fwd[0].tid, "in1234", "a new transaction-id per hop");
    assert_eq!(
        (fwd[0].body.as_slice(), fwd[0].flag),
        (&b"0123456789"[..], Continuation::Complete)
    );
}

#[test]
fn smaller_next_hop_limit_rechunks_with_consistent_byte_ranges() {
    let mut r = relay(4);
    let (_, fwd) = run(
        &mut r,
        FROM_ALICE,
        &request(
            Method::Send,
            &format!("{RELAY} {BOB}"),
            &SEND_HEADERS,
            Some(b"0123456789"),
        ),
    );
    let fwd = seen(&fwd);
    let ranges: Vec<_> = fwd.iter().map(|s| s.range.clone().unwrap()).collect();
    assert_eq!(ranges, ["1-*/10", "5-*/10", "9-*/10"]);
    let flags: Vec<_> = fwd.iter().map(|s| s.flag).collect();
    assert_eq!(
        flags,
        [Continuation::More, Continuation::More, Continuation::Complete]
    );
    let body: Vec<u8> = fwd.iter().flat_map(|s| s.body.clone()).collect();
    assert_eq!(body, b"0123456789");
}

#[test]
fn row_not_this_relay_403() {
    let mut r = relay(4096);
    let (back, fwd) = run(
        &mut r,
        FROM_ALICE,
        &request(
            Method::Send,
            &format!("msrp://other.example:1/x;tcp {BOB}"),
            &SEND_HEADERS,
            Some(b"0123456789"),
        ),
    );
    assert_eq!(seen(&back)[0].code, Some(403));
    assert!(fwd.is_empty());
}

#[test]
fn row_no_route_481() {
    let mut r = relay(4096);
    let (back, fwd) = run(
        &mut r,
        FROM_ALICE,
        &request(
            Method::Send,
            &format!("{RELAY} msrp://carol.example:9/c;tcp"),
            &SEND_HEADERS,
            Some(b"0123456789"),
        ),
    );
    assert_eq!(seen(&back)[0].code, Some(481));
    assert!(fwd.is_empty());
}

#[test]
fn row_report_forwarded_never_answered() {
    let mut r = relay(4096);
    let raw = request(
        Method::Report,
        &format!("{RELAY} {BOB}"),
        &[
            ("Message-ID", "m"),
            ("Byte-Range", "1-10/10"),
            ("Status", "000 200 OK"),
        ],
        None,
    );
    let (back, fwd) = run(&mut r, FROM_ALICE, &raw);
    assert!(back.is_empty(), "no response to a REPORT");
    let fwd = seen(&fwd);
    assert_eq!(
        (
            fwd[0].method.as_deref(),
            fwd[0].range.as_deref(),
            fwd[0].status.as_deref()
        ),
        (Some("REPORT"), Some("1-10/10"), Some("000 200 OK"))
    );
}

fn forwarded_tid(r: &mut Relay, extra: &[(&str, &str)]) -> String {
    let (_, fwd) = run(
        r,
        FROM_ALICE,
        &request(
            Method::Send,
            &format!("{RELAY} {BOB}"),
            extra,
            Some(b"0123456789"),
        ),
    );
    seen(&fwd)[0].tid.clone()
}

#[test]
fn next_hop_error_becomes_failure_report_upstream() {
    let mut r = relay(4096);
    let tid = forwarded_tid(&mut r, &SEND_HEADERS);
    let mut buf = [0u8; 512];
    let n = write_response(&mut buf, &tid, 415, Some("no"), RELAY, BOB).unwrap();
    let (back, _) = run(&mut r, TO_BOB, &buf[..n]);
    let back = seen(&back);
    assert_eq!(back.len(), 1);
    assert_eq!(
        (
            back[0].method.as_deref(),
            back[0].to.as_deref(),
            back[0].range.as_deref()
        ),
        (Some("REPORT"), Some(ALICE), Some("1-10/10"))
    );
    assert!(back[0].status.as_deref().unwrap().starts_with("000 415"));
}

#[test]
fn next_hop_silence_is_408_report_after_timeout_only_for_failure_report_yes() {
    let mut r = relay(4096);
    r.set_transaction_timeout(Duration::from_secs(30));
    forwarded_tid(&mut r, &SEND_HEADERS);
    assert_eq!(r.poll_timeout(), Some(Instant::from_millis(30_000)));
    r.handle_timeout(Instant::from_millis(30_000));
    let mut buf = [0u8; 1024];
    let (c, n) = r.poll_transmit(Instant::from_millis(30_000), &mut buf).unwrap();
    assert_eq!(c, FROM_ALICE);
    assert!(seen(&buf[..n])[0]
        .status
        .as_deref()
        .unwrap()
        .starts_with("000 408"));

    let mut r = relay(4096);
    let partial = [
        SEND_HEADERS[0],
        SEND_HEADERS[1],
        SEND_HEADERS[2],
        ("Failure-Report", "partial"),
    ];
    forwarded_tid(&mut r, &partial);
    assert_eq!(r.poll_timeout(), None, "no timer for Failure-Report: partial");
}

#[test]
fn next_hop_connection_lost_reports_408() {
    let mut r = relay(4096);
    forwarded_tid(&mut r, &SEND_HEADERS);
    r.connection_lost(TO_BOB);
    let mut buf = [0u8; 1024];
    let (c, n) = r.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(c, FROM_ALICE);
    assert!(seen(&buf[..n])[0]
        .status
        .as_deref()
        .unwrap()
        .starts_with("000 408"));
}

#[test]
fn every_rechunked_piece_is_timed_and_reported() {
    let mut r = relay(4);
    forwarded_tid(&mut r, &SEND_HEADERS);
    assert_eq!(r.poll_timeout(), Some(Instant::from_millis(30_000)));
    r.handle_timeout(Instant::from_millis(30_000));
    let mut reports = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some((c, n)) = r.poll_transmit(Instant::from_millis(30_000), &mut buf) {
        assert_eq!(c, FROM_ALICE);
        reports.extend_from_slice(&buf[..n]);
    }
    let mut ranges: Vec<_> = seen(&reports).into_iter().map(|s| s.range.unwrap()).collect();
    ranges.sort();
    assert_eq!(ranges, ["1-4/10", "5-8/10", "9-10/10"]);
}
