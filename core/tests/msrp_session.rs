//! The session machine: state-table rows of the module docs, streaming, chunking and reports.

use std::time::Duration;

use simple_im_core::msrp::generate_session_id;
use simple_im_core::msrp::session::{
    AbortReason, BodyRead, BodySink, BodySource, Event, Failure, MessageHandle, Session, SessionConfig, Setup,
};
use simple_im_core::msrp::wire::{
    parse_message, ByteRange, Continuation, Method, Parsed, ReportRequest, Status,
};
use simple_im_core::rng::Rng;
use simple_im_core::time::Instant;

mod msrp_common;
use msrp_common::{Bodies, Received};

struct XorShift(u64);
impl Rng for XorShift {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            *b = self.0 as u8;
        }
    }
}

const ALICE: &str = "msrp://alice.example:7777/alicesession1;tcp";
const BOB: &str = "msrp://bob.example:8888/bobsession22;tcp";
const T0: Instant = Instant::ZERO;

fn request(tid: &str, method: Method<'_>, to: &str, extra: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    msrp_common::request(tid, method, to, ALICE, extra, body)
}

fn pair(alice_cfg: SessionConfig, bob_cfg: SessionConfig) -> (Session, Session) {
    let a = Session::new(alice_cfg, ALICE, BOB, Setup::Active, &mut XorShift(1)).unwrap();
    let b = Session::new(bob_cfg, BOB, ALICE, Setup::Passive, &mut XorShift(2)).unwrap();
    (a, b)
}

/// Everything `from` wants to send, concatenated (buffer of `buf_len`).
fn drain_wire(from: &mut Session, now: Instant, src: &mut Bodies, buf_len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; buf_len];
    while let Some(n) = from.poll_transmit(now, &mut buf, src) {
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn feed(to: &mut Session, now: Instant, bytes: &[u8], sink: &mut Received) {
    let used = to.handle_input(now, bytes, sink).unwrap();
    assert_eq!(used, bytes.len(), "complete messages are consumed entirely");
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

/// (tid, method or empty, response code, Byte-Range, body, flag) of one message on the wire.
type WireMessage = (
    String,
    Vec<u8>,
    Option<u16>,
    Option<String>,
    Vec<u8>,
    Continuation,
);

fn messages(wire: &[u8]) -> Vec<WireMessage> {
    let mut out = Vec::new();
    let mut rest = wire;
    while !rest.is_empty() {
        let Parsed::Complete(m, used) = parse_message(rest).unwrap() else {
            panic!("partial: {:?}", String::from_utf8_lossy(rest))
        };
        out.push((
            m.head.transaction_id.to_string(),
            m.head
                .method()
                .map(|x| x.as_str().as_bytes().to_vec())
                .unwrap_or_default(),
            m.head.status_code(),
            m.head.get("Byte-Range").map(str::to_string),
            m.body.to_vec(),
            m.continuation,
        ));
        rest = &rest[used..];
    }
    out
}

fn simple_exchange(
    alice_cfg: SessionConfig,
    bob_cfg: SessionConfig,
    ct: &str,
    body: &[u8],
) -> (Session, Session, Received, Vec<u8>) {
    let (mut a, mut b) = pair(alice_cfg, bob_cfg);
    let h = a.send(ct, Some(body.len() as u64)).unwrap();
    let mut src = Bodies::default();
    src.0.insert(h.0, body.to_vec());
    let wire = drain_wire(&mut a, T0, &mut src, 4096);
    let mut got = Received::default();
    feed(&mut b, T0, &wire, &mut got);
    let back = drain_wire(&mut b, T0, &mut Bodies::default(), 4096);
    feed(&mut a, T0, &back, &mut Received::default());
    (a, b, got, back)
}

#[test]
fn session_ids_are_100_bit_base32() {
    let a = generate_session_id(&mut XorShift(7));
    let b = generate_session_id(&mut XorShift(8));
    assert_eq!(a.len(), 20);
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
    assert_ne!(a, b);
}

#[test]
fn row_otherwise_200_and_message_delivered() {
    let (mut a, mut b, got, back) = simple_exchange(
        SessionConfig::default(),
        SessionConfig::default(),
        "text/plain",
        b"Hi, I'm Alice!",
    );
    let ev_b = events(&mut b);
    assert_eq!(ev_b[0], Event::Bound);
    assert!(
        matches!(&ev_b[1], Event::IncomingMessage { content_type, total: Some(14), .. } if content_type == "text/plain")
    );
    let Event::MessageReceived { id, len: 14 } = &ev_b[2] else {
        panic!("{ev_b:?}")
    };
    assert_eq!(got.0[id.as_str()], b"Hi, I'm Alice!");
    assert_eq!(messages(&back)[0].2, Some(200));
    let ev_a = events(&mut a);
    assert!(ev_a.contains(&Event::Bound) && ev_a.iter().any(|e| matches!(e, Event::Sent { .. })));
    assert_eq!(a.poll_timeout(), None, "the 200 cleared the transaction timer");
}

#[test]
fn active_side_binds_with_bodiless_send() {
    let (mut a, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let wire = drain_wire(&mut a, T0, &mut Bodies::default(), 4096);
    let m = messages(&wire);
    assert_eq!((m.len(), m[0].1.as_slice(), m[0].4.len()), (1, &b"SEND"[..], 0));
    assert_eq!(events(&mut a), vec![Event::Bound]);
    feed(&mut b, T0, &wire, &mut Received::default());
    assert_eq!(events(&mut b), vec![Event::Bound]);
    assert_eq!(
        messages(&drain_wire(&mut b, T0, &mut Bodies::default(), 4096))[0].2,
        Some(200)
    );
}

#[test]
fn passive_side_does_not_send_before_binding() {
    let (_, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let h = b.send("text/plain", Some(3)).unwrap();
    let mut src = Bodies::default();
    src.0.insert(h.0, b"abc".to_vec());
    assert!(drain_wire(&mut b, T0, &mut src, 4096).is_empty());
}

/// Sends one raw request to a fresh Bob and returns the response codes Bob writes.
fn bob_answers(cfg: SessionConfig, raw: &[u8]) -> Vec<Option<u16>> {
    let (_, mut b) = pair(SessionConfig::default(), cfg);
    feed(&mut b, T0, raw, &mut Received::default());
    messages(&drain_wire(&mut b, T0, &mut Bodies::default(), 4096))
        .into_iter()
        .map(|m| m.2)
        .collect()
}

const TEXT: [(&str, &str); 3] = [
    ("Message-ID", "m1"),
    ("Byte-Range", "1-5/5"),
    ("Content-Type", "text/plain"),
];

#[test]
fn row_report_is_never_answered() {
    let raw = request(
        "rep1",
        Method::Report,
        BOB,
        &[("Message-ID", "unknown"), ("Status", "000 200 OK")],
        None,
    );
    assert_eq!(
        bob_answers(SessionConfig::default(), &raw),
        Vec::<Option<u16>>::new()
    );
    let wrong_session = request(
        "rep2",
        Method::Report,
        "msrp://bob.example:8888/other;tcp",
        &[("Message-ID", "x"), ("Status", "000 200 OK")],
        None,
    );
    assert_eq!(
        bob_answers(SessionConfig::default(), &wrong_session),
        Vec::<Option<u16>>::new(),
        "not even a 481"
    );
}

#[test]
fn row_unknown_session_481() {
    let raw = request(
        "t481",
        Method::Send,
        "msrp://bob.example:8888/nosuchsession;tcp",
        &TEXT,
        Some(b"hello"),
    );
    assert_eq!(bob_answers(SessionConfig::default(), &raw), vec![Some(481)]);
}

#[test]
fn row_wrong_uri_same_session_403_unless_rfc6714() {
    let raw = request(
        "t403",
        Method::Send,
        "msrp://10.1.1.1:9999/bobsession22;tcp",
        &TEXT,
        Some(b"hello"),
    );
    assert_eq!(bob_answers(SessionConfig::default(), &raw), vec![Some(403)]);
    let cema = SessionConfig {
        match_session_id_only: true,
        ..SessionConfig::default()
    };
    assert_eq!(bob_answers(cema, &raw), vec![Some(200)]);
}

#[test]
fn row_unknown_method_501() {
    assert_eq!(
        bob_answers(
            SessionConfig::default(),
            &request("t501", Method::Other("FROB"), BOB, &[], None)
        ),
        vec![Some(501)]
    );
    assert_eq!(
        bob_answers(
            SessionConfig::default(),
            &request("tnick", Method::Nickname, BOB, &[("Use-Nickname", "\"x\"")], None)
        ),
        vec![Some(501)]
    );
}

#[test]
fn row_malformed_400() {
    let raw = request(
        "t400",
        Method::Send,
        BOB,
        &[("Byte-Range", "1-5/5"), ("Content-Type", "text/plain")],
        Some(b"hello"),
    );
    assert_eq!(
        bob_answers(SessionConfig::default(), &raw),
        vec![Some(400)],
        "Message-ID missing"
    );
    let raw = request(
        "t400b",
        Method::Send,
        BOB,
        &[
            ("Message-ID", "m"),
            ("Byte-Range", "x-5/5"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"hello"),
    );
    assert_eq!(bob_answers(SessionConfig::default(), &raw), vec![Some(400)]);
}

#[test]
fn row_too_large_413() {
    let cfg = SessionConfig {
        max_message_size: Some(4),
        ..SessionConfig::default()
    };
    let raw = request("t413", Method::Send, BOB, &TEXT, Some(b"hello"));
    assert_eq!(bob_answers(cfg, &raw), vec![Some(413)]);
    let unknown_total = request(
        "t413b",
        Method::Send,
        BOB,
        &[
            ("Message-ID", "m"),
            ("Byte-Range", "1-*/*"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"hello"),
    );
    assert_eq!(
        bob_answers(cfg, &unknown_total),
        vec![Some(413)],
        "detected while the body streams"
    );
}

#[test]
fn row_unsupported_type_415() {
    let cfg = SessionConfig {
        accept_types: &["text/*", "message/cpim"],
        ..SessionConfig::default()
    };
    assert_eq!(
        bob_answers(
            cfg,
            &request(
                "t415",
                Method::Send,
                BOB,
                &[("Message-ID", "m"), ("Content-Type", "image/png")],
                Some(b"x")
            )
        ),
        vec![Some(415)]
    );
    assert_eq!(
        bob_answers(cfg, &request("t200", Method::Send, BOB, &TEXT, Some(b"hello"))),
        vec![Some(200)]
    );
}

#[test]
fn failure_report_partial_suppresses_200_but_not_errors() {
    let partial = [
        ("Message-ID", "m1"),
        ("Content-Type", "text/plain"),
        ("Failure-Report", "partial"),
    ];
    assert_eq!(
        bob_answers(
            SessionConfig::default(),
            &request("tp1", Method::Send, BOB, &partial, Some(b"x"))
        ),
        vec![]
    );
    assert_eq!(
        bob_answers(
            SessionConfig::default(),
            &request("tp2", Method::Send, "msrp://b:1/zz;tcp", &partial, Some(b"x"))
        ),
        vec![Some(481)]
    );
}

#[test]
fn failure_report_no_suppresses_every_response() {
    let no = [
        ("Message-ID", "m1"),
        ("Content-Type", "text/plain"),
        ("Failure-Report", "no"),
    ];
    assert_eq!(
        bob_answers(
            SessionConfig::default(),
            &request("tn1", Method::Send, BOB, &no, Some(b"x"))
        ),
        vec![]
    );
    assert_eq!(
        bob_answers(
            SessionConfig::default(),
            &request("tn2", Method::Send, "msrp://b:1/zz;tcp", &no, Some(b"x"))
        ),
        vec![]
    );
}

#[test]
fn error_response_4xx_fails_the_message() {
    let bob_cfg = SessionConfig {
        accept_types: &["text/plain"],
        ..SessionConfig::default()
    };
    let (mut a, _, _, back) = simple_exchange(SessionConfig::default(), bob_cfg, "image/png", b"PNG...");
    assert_eq!(messages(&back)[0].2, Some(415));
    let failed: Vec<_> = events(&mut a)
        .into_iter()
        .filter(|e| matches!(e, Event::SendFailed { .. }))
        .collect();
    assert_eq!(
        failed,
        vec![Event::SendFailed {
            message: MessageHandle(1),
            failure: Failure::Response(415),
            start: 1,
            end: Some(6)
        }]
    );
}

/// Alice sent "hi" (one chunk, Failure-Report yes) and nothing came back yet.
fn alice_sent_hi() -> (Session, MessageHandle, Vec<u8>) {
    let (mut a, _) = pair(SessionConfig::default(), SessionConfig::default());
    let h = a.send("text/plain", Some(2)).unwrap();
    let mut src = Bodies::default();
    src.0.insert(h.0, b"hi".to_vec());
    let wire = drain_wire(&mut a, T0, &mut src, 4096);
    (a, h, wire)
}

#[test]
fn sender_timer_30s_fires_timeout() {
    let (mut a, h, _) = alice_sent_hi();
    assert_eq!(a.poll_timeout(), Some(Instant::from_millis(30_000)));
    events(&mut a);
    a.handle_timeout(Instant::from_millis(29_999));
    assert_eq!(events(&mut a), vec![]);
    a.handle_timeout(Instant::from_millis(30_000));
    assert_eq!(
        events(&mut a),
        vec![Event::SendFailed {
            message: h,
            failure: Failure::Timeout,
            start: 1,
            end: Some(2)
        }]
    );
}

#[test]
fn success_report_yes_yields_report_and_delivered() {
    let alice_cfg = SessionConfig {
        success_report: true,
        ..SessionConfig::default()
    };
    let (mut a, _, _, back) = simple_exchange(alice_cfg, SessionConfig::default(), "text/plain", b"12345");
    let m = messages(&back);
    assert_eq!(m.len(), 2, "200 and a success REPORT");
    assert_eq!(
        (m[1].1.as_slice(), m[1].3.as_deref()),
        (&b"REPORT"[..], Some("1-5/5"))
    );
    assert!(events(&mut a).contains(&Event::Delivered {
        message: MessageHandle(1),
        start: 1,
        end: 5
    }));
    // And the REPORT was not answered by Alice.
    assert!(drain_wire(&mut a, T0, &mut Bodies::default(), 4096).is_empty());
}

#[test]
fn failure_report_from_peer_fails_message() {
    let (mut a, h, _) = alice_sent_hi();
    let mid = a.message_id(h).unwrap().to_string();
    let raw = request(
        "r1",
        Method::Report,
        ALICE,
        &[
            ("Message-ID", &mid),
            ("Byte-Range", "1-2/2"),
            ("Status", "000 413 stop"),
        ],
        None,
    );
    events(&mut a);
    feed(&mut a, T0, &raw, &mut Received::default());
    assert_eq!(
        events(&mut a),
        vec![Event::SendFailed {
            message: h,
            failure: Failure::Report(413),
            start: 1,
            end: Some(2)
        }]
    );
    assert!(
        drain_wire(&mut a, T0, &mut Bodies::default(), 4096).is_empty(),
        "REPORTs are never answered"
    );
}

#[test]
fn out_of_order_chunks_reassemble() {
    let (_, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let second = request(
        "c2",
        Method::Send,
        BOB,
        &[
            ("Message-ID", "mo"),
            ("Byte-Range", "5-8/8"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"EFGH"),
    );
    let mut first = request(
        "c1",
        Method::Send,
        BOB,
        &[
            ("Message-ID", "mo"),
            ("Byte-Range", "1-4/8"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"abcd"),
    );
    *first.iter_mut().rev().nth(2).unwrap() = b'+';
    let mut got = Received::default();
    feed(&mut b, T0, &second, &mut got);
    assert!(!events(&mut b)
        .iter()
        .any(|e| matches!(e, Event::MessageReceived { .. })));
    feed(&mut b, T0, &first, &mut got);
    assert!(events(&mut b).contains(&Event::MessageReceived {
        id: "mo".try_into().unwrap(),
        len: 8
    }));
    assert_eq!(got.0["mo"], b"abcdEFGH");
}

#[test]
fn aborted_chunk_aborts_message() {
    let (_, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let mut raw = request(
        "c1",
        Method::Send,
        BOB,
        &[
            ("Message-ID", "ma"),
            ("Byte-Range", "1-*/100"),
            ("Content-Type", "text/plain"),
        ],
        Some(b"abcd"),
    );
    *raw.iter_mut().rev().nth(2).unwrap() = b'#';
    feed(&mut b, T0, &raw, &mut Received::default());
    assert!(events(&mut b).contains(&Event::MessageAborted {
        id: "ma".try_into().unwrap(),
        reason: AbortReason::BySender
    }));
}

#[test]
fn too_fragmented_is_413_and_abort() {
    let (_, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let mut codes = Vec::new();
    for i in 0..10u64 {
        let start = i * 10 + 1;
        let range = format!("{}-{}/1000", start, start);
        let mut raw = request(
            &format!("f{i}x"),
            Method::Send,
            BOB,
            &[
                ("Message-ID", "mf"),
                ("Byte-Range", &range),
                ("Content-Type", "text/plain"),
            ],
            Some(b"z"),
        );
        *raw.iter_mut().rev().nth(2).unwrap() = b'+';
        feed(&mut b, T0, &raw, &mut Received::default());
        codes.extend(
            messages(&drain_wire(&mut b, T0, &mut Bodies::default(), 4096))
                .into_iter()
                .map(|m| m.2.unwrap()),
        );
    }
    assert_eq!(&codes[..8], &[200; 8]);
    assert_eq!(codes[8], 413);
    assert!(events(&mut b).contains(&Event::MessageAborted {
        id: "mf".try_into().unwrap(),
        reason: AbortReason::TooFragmented
    }));
}

#[test]
fn connection_lost_fails_pending_and_partial_messages() {
    let (mut a, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let h = a.send("text/plain", Some(10_000)).unwrap();
    let mut src = Bodies::default();
    src.0.insert(h.0, vec![7u8; 10_000]);
    let mut buf = vec![0u8; 4096];
    let n = a.poll_transmit(T0, &mut buf, &mut src).unwrap();
    feed(&mut b, T0, &buf[..n], &mut Received::default());
    events(&mut a);
    events(&mut b);
    a.connection_lost(T0);
    b.connection_lost(T0);
    let ev_a = events(&mut a);
    assert!(
        ev_a.iter().any(|e| matches!(
            e,
            Event::SendFailed {
                failure: Failure::ConnectionLost,
                start: 1,
                ..
            }
        )),
        "{ev_a:?}"
    );
    assert!(
        ev_a.iter().any(|e| matches!(
            e,
            Event::SendFailed {
                failure: Failure::ConnectionLost,
                start: 2049,
                ..
            }
        )),
        "unsent rest"
    );
    assert!(matches!(
        events(&mut b)[..],
        [Event::MessageAborted {
            reason: AbortReason::ConnectionLost,
            ..
        }]
    ));
    assert!(a.has_failed() && a.send("text/plain", None).is_err());
}

/// A pattern that differs at every offset of a 10 MB message.
fn pattern(i: u64) -> u8 {
    (i.wrapping_mul(2654435761) >> 13) as u8
}

struct Pattern(u64);
impl BodySource for Pattern {
    fn read(&mut self, _: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        let n = (buf.len() as u64).min(self.0 - offset) as usize;
        for (i, b) in buf[..n].iter_mut().enumerate() {
            *b = pattern(offset + i as u64);
        }
        BodyRead {
            len: n,
            end: offset + n as u64 == self.0,
        }
    }
}

/// Checks every byte against the pattern and keeps a Fletcher-style checksum of what arrived.
#[derive(Default)]
struct Verify {
    next: u64,
    sum: (u64, u64),
}
impl BodySink for Verify {
    fn body(&mut self, _: &str, offset: u64, bytes: &[u8]) {
        assert_eq!(offset, self.next, "in-order delivery on a direct connection");
        for (i, b) in bytes.iter().enumerate() {
            assert_eq!(*b, pattern(offset + i as u64), "byte {}", offset + i as u64);
            self.sum.0 = (self.sum.0 + u64::from(*b)) % 65521;
            self.sum.1 = (self.sum.1 + self.sum.0) % 65521;
        }
        self.next += bytes.len() as u64;
    }
}

fn expected_sum(len: u64) -> (u64, u64) {
    let mut s = (0u64, 0u64);
    for i in 0..len {
        s.0 = (s.0 + u64::from(pattern(i))) % 65521;
        s.1 = (s.1 + s.0) % 65521;
    }
    s
}

fn stream_through_4k(alice_cfg: SessionConfig, len: u64) -> (Verify, Vec<Event>, usize) {
    let (mut a, mut b) = pair(alice_cfg, SessionConfig::default());
    a.send("application/octet-stream", Some(len)).unwrap();
    let mut src = Pattern(len);
    let mut out = [0u8; 4096];
    let mut inbox: Vec<u8> = Vec::with_capacity(8192);
    let mut sink = Verify::default();
    let mut writes = 0;
    let mut now = 0;
    while let Some(n) = a.poll_transmit(Instant::from_millis(now), &mut out, &mut src) {
        writes += 1;
        inbox.extend_from_slice(&out[..n]);
        // The receiver reads through its own 4 KiB window.
        while inbox.len() >= 4096 || (!inbox.is_empty() && inbox.len() < 4096) {
            let window = inbox.len().min(4096);
            let used = b
                .handle_input(Instant::from_millis(now), &inbox[..window], &mut sink)
                .unwrap();
            inbox.drain(..used);
            if used == 0 {
                break;
            }
        }
        let mut back = [0u8; 4096];
        while let Some(m) = b.poll_transmit(Instant::from_millis(now), &mut back, &mut Bodies::default()) {
            a.handle_input(Instant::from_millis(now), &back[..m], &mut Received::default())
                .unwrap();
        }
        now += 1;
    }
    (sink, events(&mut b), writes)
}

#[test]
fn ten_megabytes_through_4k_buffers_byte_exact() {
    let len = 10 * 1024 * 1024;
    let (sink, ev, _) = stream_through_4k(SessionConfig::default(), len);
    assert_eq!(sink.next, len);
    assert_eq!(sink.sum, expected_sum(len));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::MessageReceived { len: l, .. } if *l == len)));
}

#[test]
fn long_chunks_span_buffers_with_open_byte_range() {
    let cfg = SessionConfig {
        chunk_size: 100_000,
        ..SessionConfig::default()
    };
    let len = 250_000;
    let (sink, ev, _) = stream_through_4k(cfg, len);
    assert_eq!((sink.next, sink.sum), (len, expected_sum(len)));
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::MessageReceived { len: l, .. } if *l == len)));
}

#[test]
fn long_chunk_is_interrupted_for_another_message_and_resumes() {
    let cfg = SessionConfig {
        chunk_size: 1_000_000,
        ..SessionConfig::default()
    };
    let (mut a, mut b) = pair(cfg, SessionConfig::default());
    let big = a.send("application/octet-stream", Some(20_000)).unwrap();
    let mut src = Bodies::default();
    src.0.insert(big.0, (0..20_000u32).map(|i| i as u8).collect());
    let mut buf = vec![0u8; 4096];
    let mut wire = Vec::new();
    let n = a.poll_transmit(T0, &mut buf, &mut src).unwrap();
    wire.extend_from_slice(&buf[..n]);
    let small = a.send("text/plain", Some(5)).unwrap();
    src.0.insert(small.0, b"hello".to_vec());
    wire.extend(drain_wire(&mut a, T0, &mut src, 4096));
    let m = messages(&wire);
    assert_eq!(m[0].5, Continuation::More, "first chunk interrupted");
    assert!(m[0].3.as_deref().unwrap().starts_with("1-*/20000"));
    let first_len = m[0].4.len();
    assert!(m[1].4 == b"hello", "the small message goes between the chunks");
    assert_eq!(m[2].3.as_deref().unwrap(), format!("{}-*/20000", first_len + 1));
    let mut got = Received::default();
    feed(&mut b, T0, &wire, &mut got);
    let big_id = a.message_id(big).unwrap();
    assert!(got.0[big_id] == src.0[&big.0], "big message reassembled");
    assert_eq!(got.0[a.message_id(small).unwrap()], b"hello");
}

#[test]
fn response_408_counts_as_timeout() {
    let (mut a, h, wire) = alice_sent_hi();
    let tid = messages(&wire)[0].0.clone();
    let mut buf = [0u8; 512];
    let n =
        simple_im_core::msrp::wire::builder::write_response(&mut buf, &tid, 408, None, ALICE, BOB).unwrap();
    events(&mut a);
    feed(&mut a, T0, &buf[..n], &mut Received::default());
    assert_eq!(
        events(&mut a),
        vec![Event::SendFailed {
            message: h,
            failure: Failure::Timeout,
            start: 1,
            end: Some(2)
        }]
    );
    let _ = (
        ByteRange {
            start: 1,
            end: None,
            total: None,
        },
        Status {
            namespace: 0,
            code: 0,
            comment: None,
        },
        ReportRequest::No,
        Duration::ZERO,
    );
}

#[test]
fn unknown_total_is_fixed_by_the_last_chunk() {
    let cfg = SessionConfig {
        chunk_size: 1000,
        ..SessionConfig::default()
    };
    let (mut a, mut b) = pair(cfg, SessionConfig::default());
    let h = a.send("text/plain", None).unwrap();
    let mut src = Bodies::default();
    src.0.insert(h.0, vec![b'x'; 2500]);
    let wire = drain_wire(&mut a, T0, &mut src, 4096);
    let m = messages(&wire);
    let ranges: Vec<_> = m.iter().map(|x| x.3.clone().unwrap()).collect();
    assert_eq!(ranges, ["1-*/*", "1001-*/*", "2001-*/*"]);
    let mut got = Received::default();
    feed(&mut b, T0, &wire, &mut got);
    assert!(events(&mut b)
        .iter()
        .any(|e| matches!(e, Event::MessageReceived { len: 2500, .. })));
}

#[test]
fn sender_with_failure_report_no_keeps_no_transaction() {
    let (mut a, _) = pair(
        SessionConfig {
            failure_report: ReportRequest::No,
            ..SessionConfig::default()
        },
        SessionConfig::default(),
    );
    let h = a.send("text/plain", Some(2)).unwrap();
    let mut src = Bodies::default();
    src.0.insert(h.0, b"hi".to_vec());
    let wire = drain_wire(&mut a, T0, &mut src, 4096);
    assert!(String::from_utf8_lossy(&wire).contains("Failure-Report: no\r\n"));
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn row_already_bound_506_via_claim() {
    use simple_im_core::msrp::session::Claim;
    let (_, mut b) = pair(SessionConfig::default(), SessionConfig::default());
    let raw = request("tb1", Method::Send, BOB, &TEXT, Some(b"hello"));
    let Parsed::Complete(m, _) = parse_message(&raw).unwrap() else {
        panic!()
    };
    assert_eq!(b.claim(&m.head), Claim::Accept);
    feed(&mut b, T0, &raw, &mut Received::default());
    assert_eq!(
        b.claim(&m.head),
        Claim::AlreadyBound,
        "a second connection must get 506"
    );
    let other = request(
        "tb2",
        Method::Send,
        "msrp://bob.example:8888/else;tcp",
        &TEXT,
        Some(b"hello"),
    );
    let Parsed::Complete(o, _) = parse_message(&other).unwrap() else {
        panic!()
    };
    assert_eq!(b.claim(&o.head), Claim::NotThisSession);
}

#[test]
fn session_state_fits_a_small_device() {
    // Everything a session keeps (reader, queues, tables) is inline; on a 64-bit host it stays under
    // 10 KiB, less on a 32-bit device. Raising a capacity past this should be a conscious decision.
    let size = std::mem::size_of::<Session>();
    assert!(size <= 10 * 1024, "Session is {size} bytes");
}
