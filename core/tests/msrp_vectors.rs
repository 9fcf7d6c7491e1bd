//! RFC 4975 examples (core/tests/vectors/rfc4975/*.msrp), one test per file, named after it.
//! Byte-Range totals in several figures count the CRLF before the end-line (see index.tsv): the parser
//! accepts them and the tests assert the published values next to the real body length.

use simple_im_core::msrp::wire::{
    parse_message, ByteRange, ChunkEvent, ChunkReader, Continuation, Message, Method, Parsed, ReportRequest,
    StartLine,
};
use simple_im_core::msrp::MsrpUri;

fn vector(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/vectors/rfc4975/{}.msrp",
        env!("CARGO_MANIFEST_DIR"),
        name
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse(bytes: &[u8]) -> Message<'_> {
    match parse_message(bytes).expect("vector parses") {
        Parsed::Complete(m, used) => {
            assert_eq!(used, bytes.len(), "the end-line ends the file");
            m
        }
        Parsed::Partial => panic!("vector is incomplete"),
    }
}

/// Streams the vector through a ChunkReader split at `split` and returns (tid, body, flag).
fn stream(bytes: &[u8], split: usize) -> (String, Vec<u8>, Continuation) {
    let mut reader: ChunkReader = ChunkReader::new();
    let mut pending: Vec<u8> = Vec::new();
    let (mut tid, mut body, mut flag) = (String::new(), Vec::new(), None);
    for piece in [&bytes[..split], &bytes[split..]] {
        pending.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            let (used, event) = reader.feed(&pending[pos..]).expect("stream parses");
            pos += used;
            match event {
                None => break,
                Some(ChunkEvent::Head) => tid = reader.head().unwrap().transaction_id.to_string(),
                Some(ChunkEvent::Body(b)) => body.extend_from_slice(b),
                Some(ChunkEvent::End(f)) => flag = Some(f),
            }
        }
        pending.drain(..pos);
    }
    assert!(
        pending.is_empty(),
        "all bytes consumed at split {split}: {:?}",
        String::from_utf8_lossy(&pending)
    );
    (tid, body, flag.expect("end-line seen"))
}

/// Asserts that streaming with any split yields what the whole-slice parser found.
fn assert_streams_identically(bytes: &[u8]) {
    let whole = parse(bytes);
    for split in 0..=bytes.len() {
        let (tid, body, flag) = stream(bytes, split);
        assert_eq!(tid, whole.head.transaction_id, "split {split}");
        assert_eq!(body, whole.body, "split {split}");
        assert_eq!(flag, whole.continuation, "split {split}");
    }
}

fn uri_session(path: &str) -> &str {
    MsrpUri::parse(path).unwrap().session_id.unwrap()
}

#[test]
fn fig2_send() {
    let bytes = vector("fig2-send");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "a786hjs2");
    assert_eq!(m.head.method(), Some(Method::Send));
    assert_eq!(
        m.head.to_path().unwrap().0,
        "msrp://biloxi.example.com:12763/kjhd37s2s20w2a;tcp"
    );
    assert_eq!(
        m.head.from_path().unwrap().0,
        "msrp://atlanta.example.com:7654/jshA7weztas;tcp"
    );
    assert_eq!(m.head.message_id(), Some("87652491"));
    // Published 1-25/25 counts the CRLF before the end-line; the body itself is 23 octets.
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(25),
            total: Some(25)
        })
    );
    assert_eq!(m.body, b"Hey Bob, are you there?");
    assert_eq!(m.body.len(), 23);
    assert_eq!(m.head.content_type(), Some("text/plain"));
    assert_eq!(m.continuation, Continuation::Complete);
    assert_streams_identically(&bytes);
}

#[test]
fn fig2_200ok() {
    let bytes = vector("fig2-200ok");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "a786hjs2");
    assert_eq!(
        m.head.start,
        StartLine::Response {
            code: 200,
            comment: Some("OK")
        }
    );
    assert_eq!(uri_session(m.head.to_path().unwrap().0), "jshA7weztas");
    assert_eq!(uri_session(m.head.from_path().unwrap().0), "kjhd37s2s20w2a");
    assert!(m.body.is_empty());
    assert_streams_identically(&bytes);
}

#[test]
fn fig3_chunk1() {
    let bytes = vector("fig3-chunk1");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "dkei38sd");
    assert_eq!(m.head.to_path(), None, "the RFC figure has no To-Path");
    assert_eq!(m.head.message_id(), Some("4564dpWd"));
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: None,
            total: Some(8)
        })
    );
    assert_eq!(m.body, b"abcd");
    assert_eq!(m.continuation, Continuation::More);
    assert_streams_identically(&bytes);
}

#[test]
fn fig3_chunk2() {
    let bytes = vector("fig3-chunk2");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "dkei38ia");
    assert_eq!(m.head.message_id(), Some("4564dpWd"));
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 5,
            end: Some(8),
            total: Some(8)
        })
    );
    assert_eq!(m.body, b"EFGH");
    assert_eq!(m.continuation, Continuation::Complete);
    assert_streams_identically(&bytes);
}

#[test]
fn s11_1_step4_send() {
    let bytes = vector("s11.1-step4-send");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "d93kswow");
    assert_eq!(m.head.message_id(), Some("12339sdqwer"));
    // Published 1-16/16; the body is 14 octets (16 with the CRLF).
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(16),
            total: Some(16)
        })
    );
    assert_eq!(m.body, b"Hi, I'm Alice!");
    assert_eq!(m.body.len(), 14);
    assert_streams_identically(&bytes);
}

#[test]
fn s11_1_step5_200ok() {
    let bytes = vector("s11.1-step5-200ok");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "d93kswow");
    assert_eq!(m.head.status_code(), Some(200));
    assert_eq!(
        m.head.to_path().unwrap().0,
        "msrp://alicepc.example.com:7777/iau39soe2843z;tcp"
    );
    assert_streams_identically(&bytes);
}

#[test]
fn s11_1_step6_send() {
    let bytes = vector("s11.1-step6-send");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "dkei38sd");
    assert_eq!(m.head.message_id(), Some("456s9wlk3"));
    // Published 1-21/21; the body is 20 octets (22 with the CRLF): the RFC is off either way.
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(21),
            total: Some(21)
        })
    );
    assert_eq!(m.body, b"Hi, Alice!  I'm Bob!");
    assert_eq!(m.body.len(), 20);
    assert_streams_identically(&bytes);
}

#[test]
fn s11_1_step7_200ok() {
    let bytes = vector("s11.1-step7-200ok");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "dkei38sd");
    assert_eq!(m.head.status_code(), Some(200));
    assert_eq!(uri_session(m.head.to_path().unwrap().0), "9di4eae923wzd");
    assert_streams_identically(&bytes);
}

#[test]
fn fig13_xhtml_send() {
    let bytes = vector("fig13-xhtml-send");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "dsdfoe38sd");
    assert_eq!(m.head.content_type(), Some("application/xhtml+xml"));
    // Published 1-374/374; the body is 384 octets.
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(374),
            total: Some(374)
        })
    );
    assert_eq!(m.body.len(), 384);
    assert!(m
        .body
        .starts_with(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"));
    assert!(m.body.ends_with(b"</html>"));
    assert_streams_identically(&bytes);
}

#[test]
fn fig14_cpim_chunk1() {
    let bytes = vector("fig14-cpim-chunk1");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "d93kswow");
    assert_eq!(m.head.content_type(), Some("message/cpim"));
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(137),
            total: Some(148)
        })
    );
    assert_eq!(m.body.len(), 137);
    assert!(m.body.starts_with(b"To: Bob <sip:bob@example.com>\r\n"));
    assert!(m.body.ends_with(b"\r\n\r\nABCD"));
    assert_eq!(m.continuation, Continuation::More);
    assert_streams_identically(&bytes);
}

#[test]
fn fig15_cpim_chunk2() {
    let bytes = vector("fig15-cpim-chunk2");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "op2nc9a");
    assert_eq!(m.head.message_id(), Some("12339sdqwer"));
    // Published 138-148/148 (11 octets); the body is 10 octets.
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 138,
            end: Some(148),
            total: Some(148)
        })
    );
    assert_eq!(m.body, b"1234567890");
    assert_eq!(m.continuation, Continuation::Complete);
    assert_streams_identically(&bytes);
}

#[test]
fn s11_5_system_message() {
    let bytes = vector("s11.5-system-message");
    let m = parse(&bytes);
    assert_eq!(m.head.failure_report().unwrap(), Some(ReportRequest::No));
    assert_eq!(m.head.success_report().unwrap(), Some(ReportRequest::No));
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(38),
            total: Some(38)
        })
    );
    assert_eq!(m.body, b"This conference will end in 5 minutes");
    assert_eq!(m.body.len(), 37);
    assert_eq!(
        MsrpUri::parse(m.head.from_path().unwrap().0).unwrap().host,
        "example.com"
    );
    assert_streams_identically(&bytes);
}

#[test]
fn fig16_send_success_report_yes() {
    let bytes = vector("fig16-send-success-report-yes");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "d93kswow");
    assert_eq!(m.head.success_report().unwrap(), Some(ReportRequest::Yes));
    assert_eq!(m.head.failure_report().unwrap(), Some(ReportRequest::No));
    assert_eq!(m.head.content_type(), Some("text/html"));
    // Published 1-106/106; the body is 121 octets.
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(106),
            total: Some(106)
        })
    );
    assert_eq!(m.body.len(), 121);
    assert!(m.body.starts_with(b"<html><body>\r\n"));
    assert!(m.body.ends_with(b"</body></html>"));
    assert_streams_identically(&bytes);
}

#[test]
fn fig17_report() {
    let bytes = vector("fig17-report");
    let m = parse(&bytes);
    assert_eq!(m.head.transaction_id, "dkei38sd");
    assert_eq!(m.head.method(), Some(Method::Report));
    assert_eq!(m.head.message_id(), Some("12339sdqwer"));
    assert_eq!(
        m.head.byte_range().unwrap(),
        Some(ByteRange {
            start: 1,
            end: Some(106),
            total: Some(106)
        })
    );
    let status = m.head.status().unwrap().unwrap();
    assert_eq!(
        (status.namespace, status.code, status.comment),
        (0, 200, Some("OK"))
    );
    assert!(m.body.is_empty());
    assert_streams_identically(&bytes);
}
