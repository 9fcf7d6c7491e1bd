use super::*;
use crate::sip::header::HeaderName;
use crate::sip::method::Method;

const WS_FOLDED: &[u8] = b"\r\nINVITE sip:a@b SIP/2.0\r\nTO :\r\n sip:a@b ;tag=1\r\ncseq: 0009\r\n  INVITE\r\nv: SIP/2.0/UDP h1;branch=z9hG4bK1 , SIP/2.0/UDP h2\r\nVia: SIP/2.0/UDP h3\r\nX-Folded:   one\r\n two  \r\nl: 4\r\n\r\nbodyEXTRA";

#[test]
fn indexes_start_line_headers_and_body() {
    let mut slots = [Header::EMPTY; 8];
    let m = Message::parse_datagram(WS_FOLDED, &mut slots, &ParseConfig::default()).unwrap();
    assert_eq!(
        m.start_line(),
        &StartLine::Request {
            method: Method::Invite,
            uri: "sip:a@b",
            version: "SIP/2.0"
        }
    );
    assert_eq!(m.headers().len(), 6);
    assert_eq!(m.header(HeaderName::To), Some("sip:a@b ;tag=1"));
    assert_eq!(m.header(HeaderName::CSeq), Some("0009\r\n  INVITE"));
    assert_eq!(m.header(HeaderName::Other("x-folded")), Some("one\r\n two"));
    assert_eq!(m.body(), b"body");
    assert_eq!(m.wire_len(), WS_FOLDED.len() - "EXTRA".len());
    assert!(m.values(HeaderName::Via).eq([
        "SIP/2.0/UDP h1;branch=z9hG4bK1",
        "SIP/2.0/UDP h2",
        "SIP/2.0/UDP h3"
    ]));
    assert_eq!(m.count(HeaderName::Via), 2);
    assert_eq!(m.cseq().unwrap().unwrap().seq, 9);
    let to = m.header(HeaderName::To).unwrap();
    assert_eq!(m.offset_of(to), Some(33));
    assert_eq!(m.line_of(33), 4);
}

#[test]
fn slot_overflow_is_typed() {
    let mut slots = [Header::EMPTY; 3];
    assert_eq!(
        Message::parse_datagram(WS_FOLDED, &mut slots, &ParseConfig::default()).unwrap_err(),
        ParseError::TooManyHeaders { capacity: 3 }
    );
}

#[test]
fn non_utf8_header_bytes_report_their_offset() {
    let mut slots = [Header::EMPTY; 4];
    let msg = b"OPTIONS sip:a@b SIP/2.0\r\nSubject: caf\xe9\r\n\r\n";
    assert_eq!(
        Message::parse_datagram(msg, &mut slots, &ParseConfig::default()).unwrap_err(),
        ParseError::NonUtf8 { offset: 37 }
    );
}

#[test]
fn bare_lf_needs_the_leniency_switch() {
    let msg = b"OPTIONS sip:a@b SIP/2.0\nCall-ID: x\n\nhi";
    let mut slots = [Header::EMPTY; 4];
    assert_eq!(
        Message::parse_datagram(msg, &mut slots, &ParseConfig::default()).unwrap_err(),
        ParseError::Incomplete
    );
    let lenient = ParseConfig {
        allow_bare_lf: true,
        ..ParseConfig::default()
    };
    let m = Message::parse_datagram(msg, &mut slots, &lenient).unwrap();
    assert_eq!((m.call_id(), m.body()), (Some("x"), &b"hi"[..]));
    let mixed = b"OPTIONS sip:a@b SIP/2.0\nCall-ID: x\r\n\r\n";
    assert_eq!(
        Message::parse_datagram(mixed, &mut slots, &ParseConfig::default()).unwrap_err(),
        ParseError::BareLineFeed { offset: 23 }
    );
}

#[test]
fn content_length_rules_differ_by_transport() {
    let mut slots = [Header::EMPTY; 4];
    let no_cl = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\nrest";
    let cfg = ParseConfig::default();
    assert_eq!(
        Message::parse_datagram(no_cl, &mut slots, &cfg).unwrap().body(),
        b"rest"
    );
    assert_eq!(
        Message::parse_stream(no_cl, &mut slots, &cfg).unwrap_err(),
        ParseError::MissingContentLength
    );
    let strict = ParseConfig {
        datagram_body_to_end: false,
        ..cfg
    };
    assert_eq!(
        Message::parse_datagram(no_cl, &mut slots, &strict).unwrap_err(),
        ParseError::MissingContentLength
    );
    let short = b"OPTIONS sip:a@b SIP/2.0\r\nl: 10\r\n\r\nabc";
    assert_eq!(
        Message::parse_datagram(short, &mut slots, &cfg).unwrap().body(),
        b"abc"
    );
    assert_eq!(
        Message::parse_stream(short, &mut slots, &cfg).unwrap_err(),
        ParseError::Incomplete
    );
    let bad = b"OPTIONS sip:a@b SIP/2.0\r\nl: -1\r\n\r\nabc";
    assert_eq!(
        Message::parse_stream(bad, &mut slots, &cfg).unwrap_err(),
        ParseError::BadContentLength
    );
}

#[test]
fn malformed_header_lines() {
    let mut slots = [Header::EMPTY; 4];
    let cfg = ParseConfig::default();
    let no_colon = b"OPTIONS sip:a@b SIP/2.0\r\nFoobar roobar\r\n\r\n";
    assert_eq!(
        Message::parse_datagram(no_colon, &mut slots, &cfg).unwrap_err(),
        ParseError::HeaderWithoutColon { offset: 25 }
    );
    let orphan = b"OPTIONS sip:a@b SIP/2.0\r\n x: y\r\n\r\n";
    assert_eq!(
        Message::parse_datagram(orphan, &mut slots, &cfg).unwrap_err(),
        ParseError::OrphanContinuation { offset: 25 }
    );
    let bad_name = b"OPTIONS sip:a@b SIP/2.0\r\nA B: y\r\n\r\n";
    assert_eq!(
        Message::parse_datagram(bad_name, &mut slots, &cfg).unwrap_err(),
        ParseError::BadHeaderName { offset: 25 }
    );
    assert_eq!(
        Message::parse_datagram(b"", &mut slots, &cfg).unwrap_err(),
        ParseError::Incomplete
    );
}

#[test]
fn responses_parse() {
    let mut slots = [Header::EMPTY; 4];
    let msg = b"SIP/2.0 180 Ringing\r\nContent-Length: 0\r\n\r\n";
    let m = Message::parse_stream(msg, &mut slots, &ParseConfig::default()).unwrap();
    assert_eq!(m.status_code(), Some(180));
    assert_eq!(
        m.start_line(),
        &StartLine::Response {
            version: "SIP/2.0",
            code: 180,
            reason: "Ringing"
        }
    );
    assert!(!m.is_request() && m.method().is_none());
}

/// Every RFC 4475 vector and corpus message, whole, truncated at every length and with a byte flipped
/// to non-UTF-8 at every 7th position: wherever the one-pass path answers, it gives exactly what the
/// two-pass path gives (body start, start line, headers), and it answers for the well-formed corpus.
#[test]
fn one_pass_indexing_agrees_with_two_passes() {
    extern crate std;
    use std::vec::Vec;
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for dir in [
        "../tests/corpus/sip",
        "tests/vectors/rfc4475/wellformed",
        "tests/vectors/rfc4475/malformed",
    ] {
        let path = std::format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
        for entry in std::fs::read_dir(path).unwrap() {
            inputs.push(std::fs::read(entry.unwrap().path()).unwrap());
        }
    }
    inputs.push(WS_FOLDED.to_vec());
    let config = ParseConfig::default();
    let mut answered = 0;
    for whole in &inputs {
        let mut variants: Vec<Vec<u8>> = (0..=whole.len()).map(|n| whole[..n].to_vec()).collect();
        for at in (0..whole.len()).step_by(7) {
            let mut flipped = whole.clone();
            flipped[at] = 0xff;
            variants.push(flipped);
        }
        for bytes in &variants {
            let (mut fast_slots, mut slow_slots) = ([Header::EMPTY; 64], [Header::EMPTY; 64]);
            let Some(fast) = index_in_one_pass(bytes, 0, &mut fast_slots, &config) else {
                continue;
            };
            answered += 1;
            let slow = index_in_two_passes(bytes, 0, &mut slow_slots, &config, Transport::Datagram)
                .expect("the two-pass path accepts what the one-pass path accepts");
            assert_eq!(fast, slow, "{:?}", std::string::String::from_utf8_lossy(bytes));
            assert_eq!(fast_slots[..fast.3], slow_slots[..slow.3]);
        }
    }
    assert!(
        answered >= inputs.len(),
        "the one-pass path takes the well-formed messages"
    );
}
