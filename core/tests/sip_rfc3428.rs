//! The RFC 3428 §10 MESSAGE flow (F1-F4) through the SIP codec. The RFC's text has two typos that the
//! vectors keep (see vectors/index.tsv): `;;branch` in F3's second Via and `;;tag` in F4's From, and
//! the 200 OKs end without the empty line. The tests expect exactly those inconsistencies.

use simple_im_core::sip::builder::{emit, response_to};
use simple_im_core::sip::header::{HeaderErrorKind, Via};
use simple_im_core::sip::validate::{check, InvalidKind};
use simple_im_core::sip::{Header, HeaderName, Message, Method, ParseConfig, ParseError};

const LENIENT: ParseConfig = ParseConfig {
    allow_bare_lf: false,
    datagram_body_to_end: true,
    allow_missing_blank_line: true,
};

#[test]
fn rfc3428_f1_message() {
    let bytes = include_bytes!("vectors/rfc3428/f1-message.sip");
    let mut slots = [Header::EMPTY; 16];
    let m = Message::parse_stream(bytes, &mut slots, &ParseConfig::default()).unwrap();
    check(&m).unwrap();
    assert_eq!(m.method(), Some(Method::Message));
    assert_eq!(m.body(), b"Watson, come here.");
    assert!(m.content_type().unwrap().unwrap().is("text", "plain"));
    // A UAS answers it: the 200 OK copies the transaction and dialog identifiers.
    let mut buf = [0u8; 512];
    let n = response_to(&m, 200, "OK", Some("ab8asdasd9"), &mut buf)
        .unwrap()
        .finish(b"")
        .unwrap();
    let mut slots2 = [Header::EMPTY; 16];
    let ok = Message::parse_stream(&buf[..n], &mut slots2, &ParseConfig::default()).unwrap();
    check(&ok).unwrap();
    assert_eq!(ok.top_via().unwrap().unwrap().branch, Some("z9hG4bK776sgdkse"));
    assert_eq!(ok.to().unwrap().unwrap().tag(), Some("ab8asdasd9"));
}

#[test]
fn rfc3428_f2_message() {
    let bytes = include_bytes!("vectors/rfc3428/f2-message.sip");
    let mut slots = [Header::EMPTY; 16];
    let m = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default()).unwrap();
    check(&m).unwrap();
    let vias: Vec<Via> = m
        .values(HeaderName::Via)
        .map(|v| Via::parse(v).unwrap())
        .collect();
    assert_eq!(vias.len(), 2);
    assert_eq!(vias[1].received, Some("1.2.3.4"), "the folded received parameter");
    // The vector ends with a bare LF after the 18 declared octets: extra octets, ignored.
    assert_eq!(m.body(), b"Watson, come here.");
    let mut out = [0u8; 512];
    let n = emit(&m, &mut out).unwrap();
    assert!(core::str::from_utf8(&out[..n])
        .unwrap()
        .contains("branch=z9hG4bK776sgdkse; received=1.2.3.4\r\n"));
}

#[test]
fn rfc3428_f3_200ok() {
    let bytes = include_bytes!("vectors/rfc3428/f3-200ok.sip");
    let mut slots = [Header::EMPTY; 16];
    let strict = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default());
    assert_eq!(
        strict.unwrap_err(),
        ParseError::Incomplete,
        "no empty line after the headers"
    );
    let m = Message::parse_datagram(bytes, &mut slots, &LENIENT).unwrap();
    assert_eq!(m.status_code(), Some(200));
    let err = check(&m).unwrap_err();
    let InvalidKind::MalformedHeader(HeaderName::Via, e) = err.kind else {
        panic!("{err}")
    };
    assert_eq!(
        e.kind,
        HeaderErrorKind::Expected("a parameter name"),
        "the RFC's ;;branch typo"
    );
    assert_eq!(err.line, 4);
}

#[test]
fn rfc3428_f4_200ok() {
    let bytes = include_bytes!("vectors/rfc3428/f4-200ok.sip");
    let mut slots = [Header::EMPTY; 16];
    let m = Message::parse_datagram(bytes, &mut slots, &LENIENT).unwrap();
    let err = check(&m).unwrap_err();
    assert!(
        matches!(err.kind, InvalidKind::MalformedHeader(HeaderName::From, _)),
        "the RFC's ;;tag typo: {err}"
    );
    assert_eq!(err.line, 4);
    assert_eq!(m.to().unwrap().unwrap().tag(), Some("ab8asdasd9"));
}
