//! CPIM (RFC 3862) against the RFC vectors, and build -> parse round trips.

use proptest::prelude::*;
use simple_im_core::cpim::{unescape, Builder, Message, NameAddr, NsDecl, CPIM_NS, IMDN_NS};

fn vector(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Rebuilds wire bytes (CRLF) from an RFC 3862 tagged listing, keeping only the lines of the given tags.
fn untag(text: &[u8], tags: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in std::str::from_utf8(text).unwrap().lines() {
        let Some((tag, rest)) = line.split_once(':') else {
            continue;
        };
        if tags.contains(&tag) {
            out.extend_from_slice(rest.strip_prefix(' ').unwrap_or(rest).as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

fn assert_rfc3862_example(m: &Message<'_>, to_display: &str) {
    assert_eq!(
        m.from(),
        Some(NameAddr {
            display_name: Some("MR SANDERS"),
            uri: "im:piglet@100akerwood.com"
        })
    );
    let to: Vec<_> = m.to().collect();
    assert_eq!(
        to,
        [NameAddr {
            display_name: Some(to_display),
            uri: "im:eeyore@100akerwood.com"
        }]
    );
    assert_eq!(m.date_time(), Some("2000-12-13T13:40:00-08:00"));
    let subjects: Vec<_> = m.subjects().collect();
    assert_eq!(
        subjects,
        [
            (None, "the weather will be fine today"),
            (Some("fr"), "beau temps prevu pour aujourd'hui")
        ]
    );
    let ns: Vec<_> = m.ns_declarations().collect();
    assert_eq!(
        ns,
        [NsDecl {
            prefix: Some("MyFeatures"),
            uri: "mid:MessageFeatures@id.foo.com"
        }]
    );
    assert_eq!(
        m.required().collect::<Vec<_>>(),
        ["MyFeatures.VitalMessageOption"]
    );
    // The prefix is resolved through NS, so a reader asks by namespace URI, not by prefix.
    let vital = m
        .get("mid:MessageFeatures@id.foo.com", "VitalMessageOption")
        .unwrap();
    assert_eq!(vital.value, "Confirmation-requested");
    assert_eq!(vital.name, "MyFeatures.VitalMessageOption");
    let wacky = m
        .get("mid:MessageFeatures@id.foo.com", "WackyMessageOption")
        .unwrap();
    assert_eq!(wacky.value, "Use-silly-font");
    assert!(m.get(CPIM_NS, "VitalMessageOption").is_none());
    assert!(!m.missing_separator());
    assert_eq!(m.content_type(), Some("text/xml; charset=utf-8"));
    assert_eq!(m.content_header("content-id"), Some("<1234567890@foo.com>"));
    assert_eq!(
        m.body(),
        b"<body>\r\nHere is the text of my message.\r\n</body>\r\n"
    );
}

#[test]
fn rfc3862_s5_1_example_cpim() {
    let bytes = vector("rfc3862/s5.1-example.cpim");
    let m = Message::parse(&bytes).unwrap();
    // The file starts with the empty line that ended the (dropped) outer header block.
    assert!(m.outer_headers().is_empty());
    assert_eq!(m.headers().len(), 9);
    assert_rfc3862_example(&m, "Depressed Donkey");
}

#[test]
fn rfc3862_s5_1_example_tagged_txt() {
    let bytes = untag(&vector("rfc3862/s5.1-example.tagged.txt"), &["m", "s", "h", "e"]);
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.outer_headers().len(), 1);
    assert_eq!(m.outer_headers()[0].name, "Content-type");
    assert_eq!(m.outer_headers()[0].value, "Message/CPIM");
    assert_rfc3862_example(&m, "Depressed Donkey");
    // Without the m: line the listing is exactly the .cpim vector.
    assert_eq!(
        untag(&vector("rfc3862/s5.1-example.tagged.txt"), &["s", "h", "e"]),
        vector("rfc3862/s5.1-example.cpim")
    );
}

#[test]
fn rfc3862_s5_2_multipart_signed_tagged_txt() {
    // The x: lines are the multipart/signed wrapper; the signed part is the message/cpim entity.
    let bytes = untag(
        &vector("rfc3862/s5.2-multipart-signed.tagged.txt"),
        &["m", "s", "h", "e"],
    );
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.outer_headers()[0].value, "Message/CPIM");
    assert_rfc3862_example(&m, "Dopey Donkey");
}

fn imdn_message_id<'a>(m: &Message<'a>) -> Option<&'a str> {
    m.get(IMDN_NS, "Message-ID").map(|h| h.value)
}

#[test]
fn rfc5438_s7_1_1_3_im_request_cpim() {
    let bytes = vector("rfc5438/s7.1.1.3-im-request.cpim");
    let m = Message::parse(&bytes).unwrap();
    assert!(m.outer_headers().is_empty());
    // As published, no empty line separates the CPIM headers from the content headers.
    assert!(m.missing_separator());
    assert_eq!(m.from().unwrap().uri, "im:alice@example.com");
    assert_eq!(imdn_message_id(&m), Some("34jk324j"));
    assert_eq!(m.date_time(), Some("2006-04-04T12:16:49-05:00"));
    assert_eq!(
        m.get(IMDN_NS, "Disposition-Notification").unwrap().value,
        "positive-delivery, negative-delivery"
    );
    assert_eq!(m.content_type(), Some("text/plain"));
    // Content-length says 12 but the body is 13 octets as published; the parser does not trust it.
    assert_eq!(m.content_header("Content-Length"), Some("12"));
    assert_eq!(m.body(), b"Hello World\r\n");
}

fn assert_notification_wrapper(path: &str, message_id: Option<&str>, root: &str) {
    let bytes = vector(path);
    let m = Message::parse(&bytes).unwrap();
    assert!(m.missing_separator());
    assert_eq!(
        m.from().unwrap(),
        NameAddr {
            display_name: Some("Bob"),
            uri: "im:bob@example.com"
        }
    );
    assert_eq!(m.to().next().unwrap().uri, "im:alice@example.com");
    assert_eq!(imdn_message_id(&m), message_id);
    assert_eq!(m.content_header("Content-Disposition"), Some("notification"));
    // RFC 5438 prints a placeholder instead of a length.
    assert_eq!(m.content_header("Content-Length"), Some("..."));
    assert!(m.body().starts_with(root.as_bytes()), "{path}");
}

#[test]
fn rfc5438_s7_2_1_1_delivery_cpim_txt() {
    assert_notification_wrapper(
        "rfc5438/s7.2.1.1-delivery.cpim.txt",
        Some("d834jied93rf"),
        "<?xml",
    );
    let bytes = vector("rfc5438/s7.2.1.1-delivery.cpim.txt");
    assert_eq!(
        Message::parse(&bytes).unwrap().body(),
        vector("rfc5438/s7.2.1.1-delivery.xml")
    );
}

#[test]
fn rfc5438_s7_2_1_2_display_cpim_txt() {
    assert_notification_wrapper(
        "rfc5438/s7.2.1.2-display.cpim.txt",
        Some("dfjkleriou432333"),
        "<?xml",
    );
    let bytes = vector("rfc5438/s7.2.1.2-display.cpim.txt");
    assert_eq!(
        Message::parse(&bytes).unwrap().body(),
        vector("rfc5438/s7.2.1.2-display.xml")
    );
}

#[test]
fn rfc5438_s8_1_processing_cpim_txt() {
    // This one starts with the outer Content-type and has no NS/Message-ID as published.
    assert_notification_wrapper("rfc5438/s8.1-processing.cpim.txt", None, "<?xml");
    let bytes = vector("rfc5438/s8.1-processing.cpim.txt");
    let m = Message::parse(&bytes).unwrap();
    assert_eq!(m.outer_headers()[0].value, "Message/CPIM");
    assert_eq!(m.content_type(), Some("message/imdn+xml"));
    assert_eq!(m.body(), vector("rfc5438/s8.1-processing.xml"));
}

#[test]
fn rfc5438_s8_3_aggregated_cpim_txt() {
    assert_notification_wrapper(
        "rfc5438/s8.3-aggregated.cpim.txt",
        Some("d834jied93rf"),
        "--imdn-boundary",
    );
    let bytes = vector("rfc5438/s8.3-aggregated.cpim.txt");
    let m = Message::parse(&bytes).unwrap();
    // The folded Content-type keeps its line break; parameters are still reachable.
    let ct = m.content_type().unwrap();
    assert!(ct.starts_with("multipart/mixed;"));
    assert!(ct.ends_with("boundary=\"imdn-boundary\""));
}

#[test]
fn escaped_values_decode() {
    let m = Message::parse(b"Subject: tab\\there \\u00e9\r\n\r\nContent-Type: text/plain\r\n\r\n").unwrap();
    let (_, raw) = m.subjects().next().unwrap();
    let mut out = [0u8; 32];
    assert_eq!(unescape(raw, &mut out).unwrap(), "tab\there \u{e9}");
}

#[test]
fn builder_rejects_out_of_order_sections() {
    let mut buf = [0u8; 128];
    let mut b = Builder::new(&mut buf);
    b.content_header("Content-Type", "text/plain").unwrap();
    assert_eq!(
        b.header("Subject", "x").unwrap_err(),
        simple_im_core::cpim::BuildError::OutOfOrder
    );
}

#[test]
fn builder_reports_small_buffer() {
    let mut buf = [0u8; 16];
    let mut b = Builder::new(&mut buf);
    assert_eq!(
        b.from(Some("Alice"), "im:alice@example.com").unwrap_err(),
        simple_im_core::cpim::BuildError::BufferTooSmall
    );
}

fn text() -> impl Strategy<Value = String> {
    // Printable text plus the control characters CPIM must escape.
    proptest::string::string_regex("[a-zA-Z0-9 .,!?'\"\\\\\t\n\r\u{7}é漢]{0,24}").unwrap()
}

fn uri() -> impl Strategy<Value = String> {
    proptest::string::string_regex("im:[a-z]{1,8}@[a-z]{1,8}\\.example").unwrap()
}

proptest! {
    #[test]
    fn build_then_parse_round_trips(
        from in uri(), to in proptest::collection::vec(uri(), 1..4), subject in text(),
        lang in proptest::option::of("[a-z]{2}"), msg_id in "[A-Za-z0-9]{16,32}",
        outer in any::<bool>(), body in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = [0u8; 2048];
        let mut b = Builder::new(&mut buf);
        if outer {
            b.outer_header("Content-Type", "message/cpim").unwrap();
        }
        b.from(Some("Sender"), &from).unwrap();
        for t in &to {
            b.to(None, t).unwrap();
        }
        b.ns(Some("imdn"), IMDN_NS).unwrap();
        b.header("imdn.Message-ID", &msg_id).unwrap();
        b.subject(lang.as_deref(), &subject).unwrap();
        b.content_header("Content-Type", "application/octet-stream").unwrap();
        let n = b.body(&body).unwrap();
        let m = Message::parse(&buf[..n]).unwrap();
        prop_assert_eq!(m.outer_headers().len(), usize::from(outer));
        prop_assert_eq!(m.from().unwrap().uri, from.as_str());
        prop_assert_eq!(m.to().map(|a| a.uri.to_string()).collect::<Vec<_>>(), to);
        prop_assert_eq!(m.get(IMDN_NS, "Message-ID").unwrap().value, msg_id.as_str());
        let (got_lang, raw) = m.subjects().next().unwrap();
        prop_assert_eq!(got_lang, lang.as_deref());
        let mut out = [0u8; 256];
        prop_assert_eq!(unescape(raw, &mut out).unwrap(), subject.trim_matches(' '));
        prop_assert_eq!(m.content_type(), Some("application/octet-stream"));
        prop_assert_eq!(m.body(), &body[..]);
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Message::parse(&bytes);
    }
}
