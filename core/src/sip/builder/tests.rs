use super::*;
use crate::sip::header::Header;
use crate::sip::message::ParseConfig;

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.com SIP/2.0\r\n\
v: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds ,\r\n SIP/2.0/UDP h2;branch=z9hG4bK2\r\n\
Via: SIP/2.0/UDP h3;branch=z9hG4bK3\r\n\
Max-Forwards: 70\r\n\
Route: <sip:p1.example.com;lr>\r\n\
To: Bob <sip:bob@biloxi.com>\r\n\
f: Alice <sip:alice@atlanta.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.com\r\n\
CSeq: 314159 INVITE\r\n\
Content-Length: 4\r\n\r\nv=0\n";

fn parse<'h, 'a>(bytes: &'a [u8], slots: &'h mut [Header<'a>]) -> Message<'h, 'a> {
    Message::parse_datagram(bytes, slots, &ParseConfig::default()).unwrap()
}

#[test]
fn writer_adds_content_length_and_body() {
    let mut buf = [0u8; 128];
    let mut w = MessageWriter::request(&mut buf, Method::Message, "sip:bob@example.com").unwrap();
    w.header(HeaderName::CallId, "abc")
        .unwrap()
        .header(HeaderName::ContentLength, "999")
        .unwrap();
    w.header_fmt(HeaderName::CSeq, format_args!("{} MESSAGE", 7))
        .unwrap();
    let n = w.finish(b"hello").unwrap();
    assert_eq!(
        &buf[..n],
        b"MESSAGE sip:bob@example.com SIP/2.0\r\nCall-ID: abc\r\nCSeq: 7 MESSAGE\r\nContent-Length: 5\r\n\r\nhello"
    );
}

#[test]
fn writer_reports_small_buffers_and_injection() {
    for size in 0..60 {
        let mut buf = [0u8; 60];
        let result = MessageWriter::response(&mut buf[..size], 200, "OK")
            .and_then(|mut w| w.header(HeaderName::CallId, "x").map(|_| ()).and(Ok(w)))
            .and_then(|w| w.finish(b""));
        let needed = "SIP/2.0 200 OK\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n".len();
        assert_eq!(result.is_ok(), size >= needed, "size {size}");
        if size < needed {
            assert_eq!(result, Err(BuildError::BufferTooSmall));
        }
    }
    let mut buf = [0u8; 64];
    let mut w = MessageWriter::response(&mut buf, 200, "OK").unwrap();
    assert_eq!(
        w.header(HeaderName::Subject, "a\r\nVia: evil").unwrap_err(),
        BuildError::LineBreakInValue
    );
}

#[test]
fn emit_is_canonical_and_stable() {
    let mut slots = [Header::EMPTY; 16];
    let m = parse(INVITE, &mut slots);
    let mut out = [0u8; 512];
    let n = emit(&m, &mut out).unwrap();
    let text = core::str::from_utf8(&out[..n]).unwrap();
    assert!(text.starts_with("INVITE sip:bob@biloxi.com SIP/2.0\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds , SIP/2.0/UDP h2;branch=z9hG4bK2\r\n"));
    assert!(text.contains("\r\nFrom: Alice"));
    assert!(text.ends_with("Content-Length: 4\r\n\r\nv=0\n"));
    let mut slots2 = [Header::EMPTY; 16];
    let again = parse(&out[..n], &mut slots2);
    let mut out2 = [0u8; 512];
    let n2 = emit(&again, &mut out2).unwrap();
    assert_eq!(&out[..n], &out2[..n2]);
}

#[test]
fn response_copies_the_dialog_headers_and_adds_a_to_tag() {
    let mut slots = [Header::EMPTY; 16];
    let req = parse(INVITE, &mut slots);
    let mut buf = [0u8; 512];
    let n = response_to(&req, 486, "Busy Here", Some("a6c85cf"), &mut buf)
        .unwrap()
        .finish(b"")
        .unwrap();
    let mut slots2 = [Header::EMPTY; 16];
    let resp = parse(&buf[..n], &mut slots2);
    assert_eq!(resp.status_code(), Some(486));
    assert_eq!(resp.values(HeaderName::Via).count(), 3);
    assert_eq!(resp.to().unwrap().unwrap().tag(), Some("a6c85cf"));
    assert_eq!(resp.from().unwrap().unwrap().tag(), Some("1928301774"));
    assert_eq!(resp.call_id(), req.call_id());
    assert_eq!(resp.cseq(), req.cseq());
    assert_eq!(resp.count(HeaderName::Route), 0);
    // 100 Trying carries no To tag.
    let mut buf100 = [0u8; 512];
    let n = response_to(&req, 100, "Trying", Some("x"), &mut buf100)
        .unwrap()
        .finish(b"")
        .unwrap();
    let mut slots3 = [Header::EMPTY; 16];
    let trying = parse(&buf100[..n], &mut slots3);
    assert_eq!(trying.to().unwrap().unwrap().tag(), None);
}

#[test]
fn ack_for_a_non_2xx_response_follows_17_1_1_3() {
    let mut slots = [Header::EMPTY; 16];
    let invite = parse(INVITE, &mut slots);
    let mut resp_buf = [0u8; 512];
    let n = response_to(&invite, 404, "Not Found", Some("t1"), &mut resp_buf)
        .unwrap()
        .finish(b"")
        .unwrap();
    let mut slots2 = [Header::EMPTY; 16];
    let resp = parse(&resp_buf[..n], &mut slots2);
    let mut buf = [0u8; 512];
    let n = ack_for_non_2xx(&invite, &resp, &mut buf).unwrap();
    let mut slots3 = [Header::EMPTY; 16];
    let ack = parse(&buf[..n], &mut slots3);
    assert_eq!(ack.method(), Some(Method::Ack));
    assert_eq!(ack.request_uri(), invite.request_uri());
    assert!(ack
        .values(HeaderName::Via)
        .eq(["SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds"]));
    assert_eq!(
        ack.cseq().unwrap().unwrap(),
        CSeq {
            seq: 314159,
            method: Method::Ack
        }
    );
    assert_eq!(ack.to().unwrap().unwrap().tag(), Some("t1"));
    assert_eq!(ack.header(HeaderName::Route), Some("<sip:p1.example.com;lr>"));
    assert_eq!(ack.header(HeaderName::From), invite.header(HeaderName::From));
    assert_eq!(ack.body(), b"");
    assert_eq!(
        ack_for_non_2xx(&resp, &resp, &mut buf),
        Err(BuildError::WrongKind)
    );
}
