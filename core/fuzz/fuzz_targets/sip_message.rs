//! The SIP message view, validation, every typed header accessor, and canonical emission: whatever
//! parses must emit, and the emitted form must re-parse to the same start line, headers and body.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::sip::header::{CSeq, ContentType, NameAddr, Via};
use simple_im_core::sip::{check, emit, Header, HeaderName, Message, ParseConfig};

fuzz_target!(|data: &[u8]| {
    let lenient = ParseConfig {
        allow_bare_lf: true,
        allow_missing_blank_line: true,
        ..ParseConfig::default()
    };
    for config in [ParseConfig::default(), lenient] {
        let mut slots = [Header::EMPTY; 64];
        let Ok(msg) = Message::parse_datagram(data, &mut slots, &config) else {
            continue;
        };
        let _ = check(&msg);
        for value in msg.values(HeaderName::Via) {
            let _ = Via::parse(value);
        }
        for name in [
            HeaderName::From,
            HeaderName::To,
            HeaderName::Contact,
            HeaderName::Route,
        ] {
            for value in msg.values(name) {
                let _ = NameAddr::parse(value);
            }
        }
        for value in msg.values(HeaderName::CSeq) {
            let _ = CSeq::parse(value);
        }
        for value in msg.values(HeaderName::ContentType) {
            let _ = ContentType::parse(value);
        }
        let mut out = [0u8; 8192];
        if let Ok(n) = emit(&msg, &mut out) {
            // One slot more: emission adds a Content-Length when the input had none.
            let mut again_slots = [Header::EMPTY; 65];
            let again = Message::parse_datagram(&out[..n], &mut again_slots, &ParseConfig::default())
                .expect("the canonical form of a parsed message parses");
            assert_eq!(again.body(), msg.body());
            assert_eq!(again.start_line(), msg.start_line());
        }
    }
});
