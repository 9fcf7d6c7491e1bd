use super::*;
use crate::sip::header::{Header, HeaderErrorKind};
use crate::sip::message::ParseConfig;

fn validate(bytes: &[u8], rules: Rules) -> Result<(), std::string::String> {
    let mut slots = [Header::EMPTY; 16];
    let m = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default()).unwrap();
    check_with(&m, &rules).map_err(|e| std::format!("{e}"))
}

const GOOD: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nMax-Forwards: 70\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x@y\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

#[test]
fn a_conforming_request_passes() {
    assert_eq!(validate(GOOD.as_bytes(), Rules::default()), Ok(()));
}

#[test]
fn errors_say_line_byte_and_what() {
    let bad = GOOD.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE");
    let err = validate(bad.as_bytes(), Rules::default()).unwrap_err();
    assert_eq!(
        err.as_str(),
        "line 7, byte 137: CSeq method INVITE differs from request method OPTIONS"
    );
}

#[test]
fn max_forwards_is_optional_only_in_2543_mode() {
    let old = GOOD.replace("Max-Forwards: 70\r\n", "");
    assert!(validate(old.as_bytes(), Rules::default())
        .unwrap_err()
        .contains("Max-Forwards is missing"));
    assert_eq!(validate(old.as_bytes(), Rules { rfc2543_compat: true }), Ok(()));
}

#[test]
fn typed_errors_carry_the_offset_inside_the_message() {
    let bad = GOOD.replace("Max-Forwards: 70", "Max-Forwards: 256");
    let mut slots = [Header::EMPTY; 16];
    let m = Message::parse_datagram(bad.as_bytes(), &mut slots, &ParseConfig::default()).unwrap();
    let err = check(&m).unwrap_err();
    assert_eq!(
        err.kind,
        InvalidKind::MalformedHeader(
            HeaderName::MaxForwards,
            HeaderError {
                kind: HeaderErrorKind::TooLarge("Max-Forwards"),
                at: 0
            }
        )
    );
    assert_eq!((err.line, err.offset), (3, bad.find("256").unwrap()));
}

#[test]
fn status_codes_outside_100_to_699_are_rejected() {
    let resp = "SIP/2.0 700 Odd\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 BYE\r\n\r\n";
    assert!(validate(resp.as_bytes(), Rules::default())
        .unwrap_err()
        .contains("status code 700"));
    assert_eq!(
        validate(resp.replace("700", "699").as_bytes(), Rules::default()),
        Ok(())
    );
}

#[test]
fn a_body_needs_a_content_type() {
    let with_body = GOOD.replace("Content-Length: 0\r\n\r\n", "Content-Length: 2\r\n\r\nhi");
    let err = validate(with_body.as_bytes(), Rules::default()).unwrap_err();
    assert!(err.contains("mandatory header Content-Type is missing"), "{err}");
    let typed = with_body.replace(
        "Content-Length: 2",
        "Content-Type: text/plain\r\nContent-Length: 2",
    );
    assert_eq!(validate(typed.as_bytes(), Rules::default()), Ok(()));
}
