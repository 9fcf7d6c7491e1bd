//! RFC 4475 torture tests: one test per vector in `vectors/rfc4475/`, named `<section dir>_<file>`.
//! Each asserts what the RFC's section says about the message: well-formed ones parse and validate with
//! the values the RFC points out; malformed ones fail validation (or parsing) with the specific error;
//! transaction/application/backward ones parse and show the property the RFC discusses.

use simple_im_core::sip::framer::{frame, FrameError};
use simple_im_core::sip::header::{
    parse_expires, parse_max_forwards, parse_retry_after, Contact, ContentType, HeaderErrorKind, NameAddr,
    Via,
};
use simple_im_core::sip::uri::{unescape, Host, Uri, UriError};
use simple_im_core::sip::validate::{check, check_with, Invalid, InvalidKind, Rules};
use simple_im_core::sip::{Header, HeaderName, Message, Method, ParseConfig, ParseError, StartLine};
use std::net::Ipv4Addr;

macro_rules! vector {
    ($dir:literal, $name:literal) => {
        include_bytes!(concat!("vectors/rfc4475/", $dir, "/", $name, ".dat"))
    };
}

const SLOTS: usize = 64;

fn parse<'h, 'a>(bytes: &'a [u8], slots: &'h mut [Header<'a>]) -> Message<'h, 'a> {
    Message::parse_datagram(bytes, slots, &ParseConfig::default()).expect("vector parses")
}

fn invalid<'a>(m: &Message<'_, 'a>) -> Invalid<'a> {
    check(m).expect_err("vector must fail validation")
}

fn malformed_header<'a>(m: &Message<'_, 'a>) -> (HeaderName<'a>, HeaderErrorKind, usize) {
    match invalid(m) {
        Invalid {
            kind: InvalidKind::MalformedHeader(name, e),
            line,
            ..
        } => (name, e.kind, line),
        other => panic!("expected a malformed header, got {other}"),
    }
}

fn sip_uri<'a>(uri: &Uri<'a>) -> simple_im_core::sip::uri::SipUri<'a> {
    *uri.as_sip().expect("a SIP URI")
}

fn unescaped(s: &str) -> Vec<u8> {
    unescape(s).collect()
}

// ---- 3.1.1 Valid messages -------------------------------------------------------------------------

#[test]
fn wellformed_wsinv() {
    let bytes = vector!("wellformed", "wsinv");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    assert_eq!(m.method(), Some(Method::Invite));
    let ruri = Uri::parse(m.request_uri().unwrap()).unwrap();
    assert!(sip_uri(&ruri).params.contains("unknownparam"));
    assert_eq!(m.to().unwrap().unwrap().tag(), Some("1918181833n"));
    let from = m.from().unwrap().unwrap();
    assert!(from.display_name.unwrap().chars().eq(r#"J Rosenberg \""#.chars()));
    assert_eq!(from.tag(), Some("98asjd8"));
    assert_eq!(
        parse_max_forwards(m.header(HeaderName::MaxForwards).unwrap()),
        Ok(68)
    );
    let cseq = m.cseq().unwrap().unwrap();
    assert_eq!((cseq.seq, cseq.method), (9, Method::Invite));
    let vias: Vec<Via> = m
        .values(HeaderName::Via)
        .map(|v| Via::parse(v).unwrap())
        .collect();
    assert_eq!(vias.len(), 3);
    assert_eq!((vias[0].transport, vias[0].branch), ("UDP", Some("390skdjuw")));
    assert_eq!(vias[0].host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 2)));
    assert_eq!(
        (vias[1].transport, vias[1].host, vias[1].branch),
        ("TCP", Host::Domain("spindle.example.com"), Some("z9hG4bK9ikj8"))
    );
    assert_eq!(vias[2].branch, Some("z9hG4bK30239"));
    assert_eq!(m.header(HeaderName::Subject), Some(""));
    assert_eq!(
        m.header(HeaderName::Other("NewFangledHeader")),
        Some("newfangled value\r\n continued newfangled value")
    );
    assert_eq!(
        m.header(HeaderName::Other("UnknownHeaderWithUnusualValue")),
        Some(";;,,;;,;")
    );
    let route = NameAddr::parse(m.header(HeaderName::Route).unwrap()).unwrap();
    assert!(sip_uri(&route.uri).params.contains("unknown-no-value"));
    let Contact::Address(contact) = Contact::parse(m.header(HeaderName::Contact).unwrap()).unwrap() else {
        panic!("not a star")
    };
    assert!(contact
        .display_name
        .unwrap()
        .chars()
        .eq(r#"Quoted string """#.chars()));
    assert_eq!(contact.params.get("newparam"), Some(Some("newvalue")));
    assert_eq!(contact.params.get("secondparam"), Some(None));
    assert_eq!(contact.q(), Some("0.33"));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn wellformed_intmeth() {
    let bytes = vector!("wellformed", "intmeth");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let method = "!interesting-Method0123456789_*+`.%indeed'~";
    assert_eq!(m.method(), Some(Method::Other(method)));
    assert_eq!(m.cseq().unwrap().unwrap().method, Method::Other(method));
    let ruri = Uri::parse(m.request_uri().unwrap()).unwrap();
    let ruri = sip_uri(&ruri);
    assert_eq!(
        ruri.user,
        Some("1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*")
    );
    assert_eq!(ruri.password, Some("&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"));
    assert_eq!(ruri.host, Host::Domain("example.com"));
    let to = m.to().unwrap().unwrap();
    assert_eq!(to.display_name.unwrap().raw, "BEL:\\\x07 NUL:\\\0 DEL:\\\x7f");
    let from = m.from().unwrap().unwrap();
    assert_eq!(from.display_name.unwrap().raw, "token1~` token2'+_ token3*%!.-");
    assert_eq!(from.tag(), Some("_token~1'+`*%!-."));
    let quoted = from
        .params
        .find("fromParam''~+*_!.-%")
        .unwrap()
        .unquoted()
        .unwrap();
    assert_eq!(quoted, "работающий");
    assert_eq!(m.call_id(), Some("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
    let ext = m.header(HeaderName::Other("extensionHeader-!.%*+_`'~")).unwrap();
    assert_eq!(
        ext.as_bytes(),
        &[0xEF, 0xBB, 0xBF, 0xE5, 0xA4, 0xA7, 0xE5, 0x81, 0x9C, 0xE9, 0x9B, 0xBB]
    );
}

#[test]
fn wellformed_esc01() {
    let bytes = vector!("wellformed", "esc01");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let ruri = Uri::parse(m.request_uri().unwrap()).unwrap();
    assert_eq!(unescaped(sip_uri(&ruri).user.unwrap()), b"sips:user@example.com");
    let to = m.to().unwrap().unwrap();
    assert!(to.uri.equivalent(&Uri::parse("sip:user@example.com").unwrap()));
    let from = m.from().unwrap().unwrap();
    assert_eq!(unescaped(sip_uri(&from.uri).user.unwrap()), b"I have spaces");
    let Contact::Address(contact) = Contact::parse(m.header(HeaderName::Contact).unwrap()).unwrap() else {
        panic!("not a star")
    };
    let curi = sip_uri(&contact.uri);
    assert_eq!(unescaped(curi.user.unwrap()), b"caller");
    let params: Vec<(Vec<u8>, Option<Vec<u8>>)> = curi
        .params
        .iter()
        .map(|p| (unescaped(p.name), p.value.map(unescaped)))
        .collect();
    assert_eq!(
        params,
        vec![
            (b"lr".to_vec(), None),
            (b"name".to_vec(), Some(b"value%41".to_vec()))
        ]
    );
}

#[test]
fn wellformed_escnull() {
    let bytes = vector!("wellformed", "escnull");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let to = m.to().unwrap().unwrap();
    assert_eq!(unescaped(sip_uri(&to.uri).user.unwrap()), b"null-\0-null");
    let users: Vec<Vec<u8>> = m
        .values(HeaderName::Contact)
        .map(|c| match Contact::parse(c).unwrap() {
            Contact::Address(a) => unescaped(sip_uri(&a.uri).user.unwrap()),
            Contact::Star => panic!("not a star"),
        })
        .collect();
    assert_eq!(users, vec![vec![0u8], vec![0u8, 0u8]]);
}

#[test]
fn wellformed_esc02() {
    let bytes = vector!("wellformed", "esc02");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    // Escapes are not decoded in methods or header names: these are extensions, not REGISTER/Contact.
    assert_eq!(m.method(), Some(Method::Other("RE%47IST%45R")));
    assert_eq!(m.values(HeaderName::Contact).count(), 2);
    assert_eq!(
        m.header(HeaderName::Other("C%6Fntact")),
        Some("<sip:alias2@host2.example.com>")
    );
    assert_eq!(m.to().unwrap().unwrap().display_name.unwrap().raw, "%Z%45");
    assert_eq!(m.top_via().unwrap().unwrap().branch, Some("z9hG4bK209%fzsnel234"));
}

#[test]
fn wellformed_lwsdisp() {
    let bytes = vector!("wellformed", "lwsdisp");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let from = m.from().unwrap().unwrap();
    let display = from.display_name.unwrap();
    assert_eq!((display.raw, display.quoted), ("caller", false));
    assert_eq!(from.tag(), Some("323"));
}

#[test]
fn wellformed_longreq() {
    let bytes = vector!("wellformed", "longreq");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let vias: Vec<Via> = m
        .values(HeaderName::Via)
        .map(|v| Via::parse(v).unwrap())
        .collect();
    assert_eq!(vias.len(), 34, "sip33 .. sip1 plus host.example.com");
    assert_eq!(vias[0].host, Host::Domain("sip33.example.com"));
    let last = vias[33];
    assert_eq!(last.received, Some("192.0.2.5"));
    assert!(last.branch.unwrap().starts_with("verylong") && last.branch.unwrap().ends_with("branchvalue"));
    let to = m.to().unwrap().unwrap();
    assert!(to.display_name.unwrap().raw.contains("extremeextremeextreme"));
    let to_uri = sip_uri(&to.uri);
    assert_eq!(to_uri.port, Some(6000));
    assert!(to_uri
        .params
        .get("unknownparam1")
        .unwrap()
        .unwrap()
        .ends_with("longvalue"));
    assert_eq!(to_uri.params.iter().last().unwrap().value, None);
    let from = m.from().unwrap().unwrap();
    assert!(from.tag().unwrap().len() > 150);
    assert!(m.call_id().unwrap().starts_with("longreq.onereally"));
    assert_eq!(m.body().len(), 150);
}

#[test]
fn wellformed_dblreq() {
    let bytes = vector!("wellformed", "dblreq");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    assert_eq!(m.method(), Some(Method::Register));
    assert_eq!(m.body(), b"");
    let ignored = &bytes[m.wire_len()..];
    assert!(
        ignored.windows(6).any(|w| w == b"INVITE"),
        "the trailing INVITE octets are left unread"
    );
    assert!(m.headers().iter().all(|h| !h.value.contains("joe@example.com")));
}

#[test]
fn wellformed_semiuri() {
    let bytes = vector!("wellformed", "semiuri");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let ruri = Uri::parse(m.request_uri().unwrap()).unwrap();
    let ruri = sip_uri(&ruri);
    assert_eq!(ruri.user, Some("user;par=u%40example.net"));
    assert_eq!(unescaped(ruri.user.unwrap()), b"user;par=u@example.net");
    assert!(ruri.params.is_empty());
    let accepted: Vec<&str> = m.values(HeaderName::Accept).collect();
    assert_eq!(accepted.len(), 6);
    assert_eq!(accepted[5], "message/sipfrag");
}

#[test]
fn wellformed_transports() {
    let bytes = vector!("wellformed", "transports");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let transports: Vec<&str> = m
        .values(HeaderName::Via)
        .map(|v| Via::parse(v).unwrap().transport)
        .collect();
    assert_eq!(transports, ["UDP", "SCTP", "TLS", "UNKNOWN", "TCP"]);
    assert_eq!(m.call_id(), Some("transports.kijh4akdnaqjkwendsasfdj"));
}

#[test]
fn wellformed_mpart01() {
    let bytes = vector!("wellformed", "mpart01");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let ct = m.content_type().unwrap().unwrap();
    assert!(ct.is("multipart", "mixed"));
    let boundary = ct.params.get("boundary").unwrap().unwrap();
    assert_eq!(boundary, "7a9cbec02ceef655");
    assert_eq!(m.body().len(), 553);
    assert!(m.body().starts_with(b"--7a9cbec02ceef655\r\n"));
    assert!(m.body().ends_with(b"--7a9cbec02ceef655--\r\n"));
    assert_eq!(m.top_via().unwrap().unwrap().rport, Some(None));
}

#[test]
fn wellformed_unreason() {
    let bytes = vector!("wellformed", "unreason");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    let StartLine::Response { code, reason, .. } = *m.start_line() else {
        panic!("a response")
    };
    assert_eq!(code, 200);
    assert_eq!(reason, "= 2**3 * 5**2 но сто девяносто девять - простое");
    assert_eq!(m.body().len(), 154);
}

#[test]
fn wellformed_noreason() {
    let bytes = vector!("wellformed", "noreason");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    check(&m).unwrap();
    assert_eq!(
        *m.start_line(),
        StartLine::Response {
            version: "SIP/2.0",
            code: 100,
            reason: ""
        }
    );
}

// ---- 3.1.2 Invalid messages -----------------------------------------------------------------------

#[test]
fn malformed_badinv01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "badinv01"), &mut slots);
    let (name, _, line) = malformed_header(&m);
    assert_eq!((name, line), (HeaderName::Via, 7));
    assert!(
        NameAddr::parse(m.header(HeaderName::Contact).unwrap()).is_err(),
        "Contact's ;;;; is malformed too"
    );
}

#[test]
fn malformed_clerr() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "clerr"), &mut slots);
    let body = m.body().len();
    assert_eq!(
        invalid(&m).kind,
        InvalidKind::ContentLengthExceedsBody {
            declared: 9999,
            available: body
        }
    );
}

#[test]
fn malformed_ncl() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "ncl"), &mut slots);
    let (name, kind, _) = malformed_header(&m);
    assert_eq!(name, HeaderName::ContentLength);
    assert_eq!(kind, HeaderErrorKind::NotANumber("Content-Length"));
    assert_eq!(
        frame(vector!("malformed", "ncl")),
        Err(FrameError::BadContentLength)
    );
}

#[test]
fn malformed_scalar02() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "scalar02"), &mut slots);
    let (name, kind, line) = malformed_header(&m);
    assert_eq!(
        (name, kind, line),
        (HeaderName::CSeq, HeaderErrorKind::TooLarge("the CSeq number"), 5)
    );
    // The other overlarge scalars are each rejected by their own parser.
    assert!(matches!(
        parse_max_forwards(m.header(HeaderName::MaxForwards).unwrap())
            .unwrap_err()
            .kind,
        HeaderErrorKind::TooLarge(_)
    ));
    assert!(matches!(
        parse_expires(m.header(HeaderName::Expires).unwrap())
            .unwrap_err()
            .kind,
        HeaderErrorKind::TooLarge(_)
    ));
    let Contact::Address(c) = Contact::parse(m.header(HeaderName::Contact).unwrap()).unwrap() else {
        panic!()
    };
    assert_eq!(
        c.expires(),
        Some(u32::MAX),
        "RFC 3261 §10.3: an overlarge expires is taken as the maximum"
    );
}

#[test]
fn malformed_scalarlg() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "scalarlg"), &mut slots);
    assert_eq!(m.status_code(), Some(503));
    let (name, kind, _) = malformed_header(&m);
    assert_eq!(
        (name, kind),
        (HeaderName::CSeq, HeaderErrorKind::TooLarge("the CSeq number"))
    );
    let retry = m.header(HeaderName::RetryAfter).unwrap();
    assert!(matches!(
        parse_retry_after(retry).unwrap_err().kind,
        HeaderErrorKind::TooLarge(_)
    ));
}

#[test]
fn malformed_quotbal() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "quotbal"), &mut slots);
    assert_eq!(
        malformed_header(&m),
        (HeaderName::To, HeaderErrorKind::UnterminatedQuote, 2)
    );
}

#[test]
fn malformed_ltgtruri() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "ltgtruri"), &mut slots);
    let err = invalid(&m);
    assert_eq!(
        (err.kind, err.line, err.offset),
        (InvalidKind::RequestUriInBrackets, 1, 7)
    );
}

#[test]
fn malformed_lwsruri() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "lwsruri"), &mut slots);
    assert_eq!(
        invalid(&m).kind,
        InvalidKind::MalformedRequestUri(UriError::ForbiddenChar)
    );
}

#[test]
fn malformed_lwsstart() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "lwsstart"), &mut slots);
    assert_eq!(
        m.request_uri(),
        Some("sip:user@example.com"),
        "the view still finds the parts"
    );
    assert_eq!(invalid(&m).kind, InvalidKind::StartLineSpacing);
}

#[test]
fn malformed_trws() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "trws"), &mut slots);
    assert_eq!(m.start_line().version(), "SIP/2.0");
    assert_eq!(invalid(&m).kind, InvalidKind::StartLineSpacing);
}

#[test]
fn malformed_escruri() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "escruri"), &mut slots);
    assert_eq!(invalid(&m).kind, InvalidKind::RequestUriHeaders);
}

#[test]
fn malformed_baddate() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "baddate"), &mut slots);
    let (name, kind, line) = malformed_header(&m);
    assert_eq!(
        (name, kind, line),
        (
            HeaderName::Date,
            HeaderErrorKind::Expected("an RFC 1123 date in GMT"),
            8
        )
    );
}

#[test]
fn malformed_regbadct() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "regbadct"), &mut slots);
    assert_eq!(
        malformed_header(&m),
        (HeaderName::Contact, HeaderErrorKind::UnbracketedUri, 8)
    );
}

#[test]
fn malformed_badaspec() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "badaspec"), &mut slots);
    assert_eq!(
        malformed_header(&m),
        (HeaderName::To, HeaderErrorKind::Uri(UriError::ForbiddenChar), 5)
    );
}

#[test]
fn malformed_baddn() {
    let bytes = vector!("malformed", "baddn");
    let mut slots = [Header::EMPTY; SLOTS];
    // The archive's copy ends after `l: 0` CRLF without the empty line the RFC's text shows.
    let strict = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default());
    assert_eq!(strict.unwrap_err(), ParseError::Incomplete);
    let lenient = ParseConfig {
        allow_missing_blank_line: true,
        ..ParseConfig::default()
    };
    let m = Message::parse_datagram(bytes, &mut slots, &lenient).unwrap();
    let (name, _, line) = malformed_header(&m);
    assert_eq!((name, line), (HeaderName::From, 4));
}

#[test]
fn malformed_badvers() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "badvers"), &mut slots);
    assert_eq!(invalid(&m).kind, InvalidKind::UnsupportedVersion("SIP/7.0"));
}

#[test]
fn malformed_mismatch01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "mismatch01"), &mut slots);
    let err = invalid(&m);
    assert_eq!(
        err.kind,
        InvalidKind::CseqMethodMismatch {
            cseq: Method::Invite,
            request: Method::Options
        }
    );
    assert_eq!(err.line, 6);
}

#[test]
fn malformed_mismatch02() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("malformed", "mismatch02"), &mut slots);
    assert_eq!(
        invalid(&m).kind,
        InvalidKind::CseqMethodMismatch {
            cseq: Method::Invite,
            request: Method::Other("NEWMETHOD")
        }
    );
}

#[test]
fn malformed_bigcode() {
    let mut slots = [Header::EMPTY; SLOTS];
    let err = Message::parse_datagram(
        vector!("malformed", "bigcode"),
        &mut slots,
        &ParseConfig::default(),
    );
    assert_eq!(err.unwrap_err(), ParseError::BadStatusCode);
}

// ---- 3.2 Transaction layer ------------------------------------------------------------------------

#[test]
fn transaction_badbranch() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("transaction", "badbranch"), &mut slots);
    check(&m).unwrap();
    let via = m.top_via().unwrap().unwrap();
    assert!(via.has_magic_cookie());
    assert_eq!(
        via.rfc3261_branch_id(),
        None,
        "the bare cookie identifies no transaction"
    );
}

// ---- 3.3 Application layer ------------------------------------------------------------------------

#[test]
fn application_insuf() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "insuf"), &mut slots);
    assert_eq!(invalid(&m).kind, InvalidKind::MissingHeader(HeaderName::To));
    for missing in [HeaderName::From, HeaderName::CallId, HeaderName::MaxForwards] {
        assert_eq!(m.header(missing), None);
    }
}

#[test]
fn application_unkscm() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "unkscm"), &mut slots);
    check(&m).unwrap();
    assert_eq!(
        Uri::parse(m.request_uri().unwrap()),
        Ok(Uri::Other {
            scheme: "nobodyKnowsThisScheme",
            rest: "totallyopaquecontent"
        })
    );
}

#[test]
fn application_novelsc() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "novelsc"), &mut slots);
    check(&m).unwrap();
    let uri = Uri::parse(m.request_uri().unwrap()).unwrap();
    assert_eq!(uri.scheme(), "soap.beep");
    assert!(uri.as_sip().is_none());
}

#[test]
fn application_unksm2() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "unksm2"), &mut slots);
    check(&m).unwrap();
    assert_eq!(
        m.to().unwrap().unwrap().uri,
        Uri::Other {
            scheme: "isbn",
            rest: "2983792873"
        }
    );
    assert_eq!(m.from().unwrap().unwrap().uri.scheme(), "http");
    assert_eq!(
        NameAddr::parse(m.header(HeaderName::Contact).unwrap())
            .unwrap()
            .uri
            .scheme(),
        "name"
    );
}

#[test]
fn application_bext01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "bext01"), &mut slots);
    check(&m).unwrap();
    assert!(m
        .values(HeaderName::Require)
        .eq(["nothingSupportsThis", "nothingSupportsThisEither"]));
    assert!(m
        .values(HeaderName::ProxyRequire)
        .eq(["noProxiesSupportThis", "norDoAnyProxiesSupportThis"]));
}

#[test]
fn application_invut() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "invut"), &mut slots);
    check(&m).unwrap();
    assert!(m
        .content_type()
        .unwrap()
        .unwrap()
        .is("application", "unknownformat"));
    assert_eq!(m.body().len(), 40);
}

#[test]
fn application_regaut01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "regaut01"), &mut slots);
    check(&m).unwrap();
    let auth = m.header(HeaderName::Authorization).unwrap();
    assert_eq!(
        auth.split_once(' '),
        Some(("NoOneKnowsThisScheme", "opaque-data=here"))
    );
}

#[test]
fn application_multi01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "multi01"), &mut slots);
    let err = invalid(&m);
    assert_eq!(
        (err.kind, err.line),
        (InvalidKind::MultipleValues(HeaderName::CSeq), 7)
    );
    for single in [
        HeaderName::CallId,
        HeaderName::To,
        HeaderName::From,
        HeaderName::MaxForwards,
    ] {
        assert_eq!(m.count(single), 2);
    }
}

#[test]
fn application_mcl01() {
    let bytes = vector!("application", "mcl01");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    let err = invalid(&m);
    assert_eq!(
        (err.kind, err.line),
        (InvalidKind::MultipleValues(HeaderName::ContentLength), 9)
    );
    assert_eq!(frame(bytes), Err(FrameError::ConflictingContentLength));
}

#[test]
fn application_bcast() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "bcast"), &mut slots);
    check(&m).unwrap();
    let second = Via::parse(m.values(HeaderName::Via).nth(1).unwrap()).unwrap();
    match second.host {
        Host::Ipv4(addr) => assert!(addr.is_broadcast()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn application_zeromf() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "zeromf"), &mut slots);
    check(&m).unwrap();
    assert_eq!(
        parse_max_forwards(m.header(HeaderName::MaxForwards).unwrap()),
        Ok(0)
    );
}

#[test]
fn application_cparam01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "cparam01"), &mut slots);
    check(&m).unwrap();
    let contact = NameAddr::parse(m.header(HeaderName::Contact).unwrap()).unwrap();
    assert!(
        contact.params.contains("unknownparam"),
        "a bare URI's parameters belong to the header"
    );
    assert!(sip_uri(&contact.uri).params.is_empty());
}

#[test]
fn application_cparam02() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "cparam02"), &mut slots);
    check(&m).unwrap();
    let contact = NameAddr::parse(m.header(HeaderName::Contact).unwrap()).unwrap();
    assert!(contact.params.is_empty());
    assert!(sip_uri(&contact.uri).params.contains("unknownparam"));
}

#[test]
fn application_regescrt() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "regescrt"), &mut slots);
    check(&m).unwrap();
    let contact = NameAddr::parse(m.header(HeaderName::Contact).unwrap()).unwrap();
    let headers: Vec<(&str, Vec<u8>)> = sip_uri(&contact.uri)
        .header_pairs()
        .map(|(n, v)| (n, unescaped(v)))
        .collect();
    assert_eq!(headers, vec![("Route", b"<sip:sip.example.com>".to_vec())]);
}

#[test]
fn application_sdp01() {
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(vector!("application", "sdp01"), &mut slots);
    check(&m).unwrap();
    let accepted: Vec<ContentType> = m
        .values(HeaderName::Accept)
        .map(|a| ContentType::parse(a).unwrap())
        .collect();
    assert_eq!(accepted.len(), 1);
    assert!(accepted[0].is("text", "nobodyKnowsThis"));
    assert!(
        !accepted.iter().any(|a| a.is("application", "sdp")),
        "SDP may not be sent back: 406"
    );
}

// ---- 3.4 Backward compatibility -------------------------------------------------------------------

#[test]
fn backward_inv2543() {
    let bytes = vector!("backward", "inv2543");
    let mut slots = [Header::EMPTY; SLOTS];
    let m = parse(bytes, &mut slots);
    assert_eq!(
        invalid(&m).kind,
        InvalidKind::MissingHeader(HeaderName::MaxForwards)
    );
    check_with(&m, &Rules { rfc2543_compat: true }).unwrap();
    assert_eq!(m.top_via().unwrap().unwrap().branch, None);
    assert_eq!(m.from().unwrap().unwrap().tag(), None);
    assert_eq!(m.content_length(), None);
    let head_end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        m.body(),
        &bytes[head_end..],
        "the body runs to the end of the datagram"
    );
    let to = m.to().unwrap().unwrap();
    assert_eq!(
        to.params.get("user"),
        Some(Some("phone")),
        "user=phone belongs to the To header here"
    );
}

// ---- In the archive only --------------------------------------------------------------------------

#[test]
fn archive_extra_test() {
    let mut slots = [Header::EMPTY; SLOTS];
    let err = Message::parse_datagram(
        vector!("archive-extra", "test"),
        &mut slots,
        &ParseConfig::default(),
    );
    assert_eq!(
        err.unwrap_err(),
        ParseError::MalformedStartLine,
        "the request line has no SIP version"
    );
}
