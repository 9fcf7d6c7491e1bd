//! No input makes the MSRP parsers or machines panic (the fuzz targets will push further).

use proptest::prelude::*;
use simple_im_core::msrp::session::relay::ConnectionId;
use simple_im_core::msrp::session::{Relay, Session, SessionConfig, Setup};
use simple_im_core::msrp::wire::{parse_message, ChunkEvent, ChunkReader, Parsed};
use simple_im_core::msrp::MsrpUri;
use simple_im_core::rng::Rng;
use simple_im_core::time::Instant;

mod msrp_common;
use msrp_common::{Bodies, Received};

struct Zero;
impl Rng for Zero {
    fn fill(&mut self, buf: &mut [u8]) {
        buf.fill(0);
    }
}

/// Inputs that look like MSRP often enough to reach deep states.
fn msrp_like() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        &b"MSRP abcd SEND\r\n"[..],
        b"MSRP abcd 200 OK\r\n",
        b"MSRP abcd REPORT\r\n",
        b"To-Path: msrp://bob.example:8888/bob22;tcp\r\n",
        b"To-Path: msrp://relay.example:2855/r1;tcp msrp://bob.example:8888/bob22;tcp\r\n",
        b"From-Path: msrp://alice.example:7777/alice1;tcp\r\n",
        b"Message-ID: m1\r\n",
        b"Byte-Range: 1-*/*\r\n",
        b"Byte-Range: 18446744073709551615-3/2\r\n",
        b"Byte-Range: 5-2/9\r\n",
        b"Status: 000 413 x\r\n",
        b"Failure-Report: partial\r\n",
        b"Success-Report: yes\r\n",
        b"Content-Type: text/plain\r\n",
        b"\r\n",
        b"body",
        b"\r\n-------abcd",
        b"$\r\n",
        b"+\r\n",
        b"#\r\n",
        b"-------abcd$\r\n",
        b"\xff\x00",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|v| v.concat())
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![msrp_like(), prop::collection::vec(any::<u8>(), 0..600)]
}

/// What a reader reported: heads (their transaction-ids), body bytes (adjacent pieces merged), ends.
#[derive(Default)]
struct Transcript {
    events: Vec<(u8, Vec<u8>)>,
    failed: bool,
}

impl Transcript {
    fn feed(&mut self, reader: &mut ChunkReader<256>, input: &[u8]) -> usize {
        let mut pos = 0;
        loop {
            match reader.feed(&input[pos..]) {
                Err(_) => {
                    self.failed = true;
                    return pos;
                }
                Ok((used, event)) => {
                    pos += used;
                    match event {
                        None => return pos,
                        Some(ChunkEvent::Head) => self.events.push((b'H', reader.header_block().to_vec())),
                        Some(ChunkEvent::Body(b)) => match self.events.last_mut() {
                            Some((b'B', acc)) => acc.extend_from_slice(b),
                            _ => self.events.push((b'B', b.to_vec())),
                        },
                        Some(ChunkEvent::End(flag)) => self.events.push((b'E', vec![flag.as_byte()])),
                    }
                }
            }
        }
    }
}

proptest! {
    #[test]
    fn parse_message_is_total(input in any_input()) {
        if let Ok(Parsed::Complete(m, used)) = parse_message(&input) {
            prop_assert!(used <= input.len());
            let _ = (m.head.byte_range(), m.head.status(), m.head.to_path().map(|p| p.uris().count()));
        }
    }

    #[test]
    fn chunk_reader_is_total_and_split_independent(input in any_input(), split in any::<prop::sample::Index>()) {
        let at = split.index(input.len() + 1);
        let mut whole = Transcript::default();
        whole.feed(&mut ChunkReader::<256>::new(), &input);
        let mut reader = ChunkReader::<256>::new();
        let mut parts = Transcript::default();
        let used = parts.feed(&mut reader, &input[..at]);
        let mut rest = input[used..at].to_vec();
        rest.extend_from_slice(&input[at..]);
        if !parts.failed {
            parts.feed(&mut reader, &rest);
        }
        prop_assert_eq!(whole.events, parts.events);
        prop_assert_eq!(whole.failed, parts.failed);
    }

    #[test]
    fn uri_parse_is_total(s in "\\PC{0,80}") {
        let _ = MsrpUri::parse(&s).map(|u| u.matches(&u));
    }

    #[test]
    fn session_survives_any_input(input in any_input()) {
        let mut s = Session::new(SessionConfig { max_message_size: Some(100), ..SessionConfig::default() },
            "msrp://bob.example:8888/bob22;tcp", "msrp://alice.example:7777/alice1;tcp", Setup::Passive, &mut Zero).unwrap();
        let mut sink = Received::default();
        let mut pos = 0;
        let mut buf = vec![0u8; 4096];
        for _ in 0..100 {
            match s.handle_input(Instant::ZERO, &input[pos..], &mut sink) {
                Ok(used) => pos += used,
                Err(_) => break,
            }
            let mut moved = false;
            while s.poll_transmit(Instant::ZERO, &mut buf, &mut Bodies::default()).is_some() { moved = true; }
            while s.poll_event().is_some() { moved = true; }
            if !moved { break; }
        }
    }

    #[test]
    fn relay_survives_any_input(input in any_input()) {
        let mut r = Relay::new("msrp://relay.example:2855/r1;tcp").unwrap();
        r.add_connection(ConnectionId(1), "msrp://alice.example:7777;tcp", 3).unwrap();
        r.add_connection(ConnectionId(2), "msrp://bob.example:8888;tcp", 3).unwrap();
        let mut buf = [0u8; 700];
        let mut pos = 0;
        for _ in 0..200 {
            match r.handle_input(Instant::ZERO, ConnectionId(1), &input[pos..]) {
                Ok(used) => pos += used,
                Err(_) => break,
            }
            let mut moved = false;
            while r.poll_transmit(Instant::ZERO, &mut buf).is_some() { moved = true; }
            if !moved { break; }
        }
        r.connection_lost(ConnectionId(2));
        r.handle_timeout(Instant::from_millis(u64::MAX));
        while r.poll_transmit(Instant::ZERO, &mut buf).is_some() {}
    }
}
