use super::*;
use core::net::Ipv4Addr;

fn sip(s: &str) -> SipUri<'_> {
    match Uri::parse(s) {
        Ok(Uri::Sip(u)) => u,
        other => panic!("{s}: {other:?}"),
    }
}

#[test]
fn sip_uri_components() {
    let u = sip("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?Subject=hi&Priority=urgent");
    assert!(u.secure);
    assert_eq!(
        (u.user, u.password, u.port),
        (Some("alice"), Some("secret"), Some(5061))
    );
    assert_eq!(u.params.get("transport"), Some(Some("tcp")));
    assert_eq!(u.params.get("lr"), Some(None));
    let headers: heapless::Vec<(&str, &str), 4> = u.header_pairs().collect();
    assert_eq!(&headers[..], &[("Subject", "hi"), ("Priority", "urgent")]);
    let u = sip("SIP:example.com");
    assert_eq!(
        (u.user, u.host, u.port),
        (None, Host::Domain("example.com"), None)
    );
    assert_eq!(sip("sip:192.0.2.1").host, Host::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
}

#[test]
fn user_part_may_hold_semicolons_and_question_marks() {
    let u = sip("sip:user;par=u%40example.net@example.com");
    assert_eq!(u.user, Some("user;par=u%40example.net"));
    assert!(u.params.is_empty());
}

#[test]
fn rejects_what_cannot_be_in_a_uri() {
    assert_eq!(
        Uri::parse("sip:user@example.com; lr"),
        Err(UriError::ForbiddenChar)
    );
    assert_eq!(Uri::parse("<sip:a@b>"), Err(UriError::ForbiddenChar));
    assert_eq!(Uri::parse("1sip:a@b"), Err(UriError::BadScheme));
    assert_eq!(Uri::parse("sip:a@b:70000"), Err(UriError::BadPort));
    assert_eq!(Uri::parse("sip:a@"), Err(UriError::BadHost));
    assert_eq!(Uri::parse("sip:%zz@b"), Err(UriError::BadEscape));
    assert_eq!(Uri::parse("sip:a@b;=x"), Err(UriError::BadParam));
    assert_eq!(Uri::parse("sip:a@b!x"), Err(UriError::Trailing));
    assert_eq!(Uri::parse("noscheme"), Err(UriError::BadScheme));
}

#[test]
fn other_schemes_are_kept() {
    assert_eq!(
        Uri::parse("isbn:2983792873"),
        Ok(Uri::Other {
            scheme: "isbn",
            rest: "2983792873"
        })
    );
    assert_eq!(
        Uri::parse("soap.beep://192.0.2.103:3002"),
        Ok(Uri::Other {
            scheme: "soap.beep",
            rest: "//192.0.2.103:3002"
        })
    );
    match Uri::parse("tel:+1-201-555-0123;phone-context=example.com") {
        Ok(Uri::Tel(t)) => {
            assert_eq!(t.number, "+1-201-555-0123");
            assert_eq!(t.params.get("phone-context"), Some(Some("example.com")));
        }
        other => panic!("{other:?}"),
    }
    match Uri::parse("im:fred@example.com") {
        Ok(Uri::Im(m)) => assert_eq!((m.user, m.host), (Some("fred"), Host::Domain("example.com"))),
        other => panic!("{other:?}"),
    }
    assert!(matches!(Uri::parse("pres:fred@example.com"), Ok(Uri::Pres(_))));
}

#[test]
fn rfc3261_equivalence_examples() {
    let eq = |a: &str, b: &str| Uri::parse(a).unwrap().equivalent(&Uri::parse(b).unwrap());
    // §19.1.4 equal pairs.
    assert!(eq(
        "sip:%61lice@atlanta.com;transport=TCP",
        "sip:alice@AtLanTa.CoM;Transport=tcp"
    ));
    assert!(eq("sip:carol@chicago.com", "sip:carol@chicago.com;newparam=5"));
    assert!(eq(
        "sip:carol@chicago.com;security=on",
        "sip:carol@chicago.com;newparam=5"
    ));
    assert!(eq(
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com"
    ));
    assert!(eq(
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x"
    ));
    // §19.1.4 unequal pairs.
    assert!(!eq(
        "SIP:ALICE@AtLanTa.CoM;Transport=udp",
        "sip:alice@AtLanTa.CoM;Transport=UDP"
    ));
    assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"));
    assert!(!eq("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"));
    assert!(!eq(
        "sip:carol@chicago.com",
        "sip:carol@chicago.com?Subject=next%20meeting"
    ));
    assert!(!eq(
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;newparam=6"
    ));
    assert!(!eq("sip:a@b", "sips:a@b"));
    assert!(eq("tel:+1-201-555-0123", "tel:+12015550123"));
}

#[test]
fn display_writes_the_parsed_form() {
    use core::fmt::Write;
    for text in [
        "sips:alice:pw@[2001:db8::1]:5061;lr?h=v",
        "sip:example.com",
        "tel:+123;x=y",
        "im:a@b.c",
        "x-y:opaque",
    ] {
        let mut out = heapless::String::<64>::new();
        write!(out, "{}", Uri::parse(text).unwrap()).unwrap();
        assert_eq!(out.as_str(), text);
    }
}
