//! IMDN (RFC 5438): every vector of `vectors/rfc5438/`, validation, the recipient tracker and round trips.

use proptest::prelude::*;
use simple_im_core::cpim::{self, Message, IMDN_NS};
use simple_im_core::imdn::{
    add_request_headers, new_message_id, DispositionRequest, Imdn, ImdnError, NotificationKind, Received,
    Status, Subject, MESSAGE_ID_LEN,
};
use simple_im_core::sim::SimRng;
use simple_im_core::xml::{DeclarationError, ErrorKind, Event, Reader, XmlText};

fn vector(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn assert_rfc_payload(doc: &Imdn<'_>, kind: NotificationKind, status: Status<'_>) {
    assert_eq!(doc.message_id, "34jk324j");
    assert_eq!(doc.datetime, "2008-04-04T12:16:49-05:00");
    assert_eq!(doc.recipient_uri, Some(XmlText::Plain("im:bob@example.com")));
    // The element's text follows a line break inside the start tag as published.
    assert_eq!(
        doc.original_recipient_uri,
        Some(XmlText::Plain("im:bob@example.com"))
    );
    assert_eq!(doc.subject, None);
    assert_eq!(doc.kind, kind);
    assert_eq!(doc.status, status);
}

#[test]
fn rfc5438_imdn_rng() {
    // Every element the schema defines is one this module reads, and vice versa.
    let rng = vector("rfc5438/imdn.rng");
    let mut r: Reader<'_> = Reader::new(&rng);
    let mut names = std::collections::BTreeSet::new();
    while let Some(ev) = r.next_event().unwrap() {
        if let Event::Start(s) = ev {
            if s.name.local == "element" {
                if let Some(n) = s.attribute("name") {
                    names.insert(n.to_string());
                }
            }
        }
    }
    let known = [
        "imdn",
        "message-id",
        "datetime",
        "recipient-uri",
        "original-recipient-uri",
        "subject",
        "delivery-notification",
        "display-notification",
        "processing-notification",
        "status",
        "delivered",
        "failed",
        "forbidden",
        "error",
        "displayed",
        "processed",
        "stored",
    ];
    assert_eq!(names, known.iter().map(|s| s.to_string()).collect());
    for status in [
        Status::Delivered,
        Status::Failed,
        Status::Forbidden,
        Status::Error,
        Status::Displayed,
        Status::Processed,
        Status::Stored,
    ] {
        assert!(names.contains(status.element()));
    }
    for kind in [
        NotificationKind::Delivery,
        NotificationKind::Display,
        NotificationKind::Processing,
    ] {
        assert!(names.contains(kind.element()));
    }
}

#[test]
fn rfc5438_s7_2_1_1_delivery_xml() {
    let bytes = vector("rfc5438/s7.2.1.1-delivery.xml");
    assert_rfc_payload(
        &Imdn::parse(&bytes).unwrap(),
        NotificationKind::Delivery,
        Status::Delivered,
    );
}

#[test]
fn rfc5438_s7_2_1_2_display_xml() {
    let bytes = vector("rfc5438/s7.2.1.2-display.xml");
    assert_rfc_payload(
        &Imdn::parse(&bytes).unwrap(),
        NotificationKind::Display,
        Status::Displayed,
    );
}

#[test]
fn rfc5438_s8_1_processing_xml() {
    let bytes = vector("rfc5438/s8.1-processing.xml");
    assert_rfc_payload(
        &Imdn::parse(&bytes).unwrap(),
        NotificationKind::Processing,
        Status::Processed,
    );
}

#[test]
fn rfc5438_s8_3_aggregated_part1_xml() {
    let bytes = vector("rfc5438/s8.3-aggregated-part1.xml");
    assert_rfc_payload(
        &Imdn::parse(&bytes).unwrap(),
        NotificationKind::Delivery,
        Status::Delivered,
    );
}

#[test]
fn rfc5438_s8_3_aggregated_part2_xml() {
    let bytes = vector("rfc5438/s8.3-aggregated-part2.xml");
    assert_rfc_payload(
        &Imdn::parse(&bytes).unwrap(),
        NotificationKind::Display,
        Status::Displayed,
    );
}

fn notification_in(path: &str) -> (Vec<u8>, usize) {
    let bytes = vector(path);
    let offset = Message::parse(&bytes).unwrap().body_offset();
    (bytes, offset)
}

#[test]
fn rfc5438_s7_2_1_1_delivery_cpim_txt() {
    let (bytes, body) = notification_in("rfc5438/s7.2.1.1-delivery.cpim.txt");
    let wrapper = Message::parse(&bytes).unwrap();
    assert_eq!(wrapper.content_type(), Some("message/imdn+xml"));
    // A notification never asks for, nor gets, a notification.
    assert_eq!(Received::from_cpim(&wrapper), Ok(None));
    assert_rfc_payload(
        &Imdn::parse(&bytes[body..]).unwrap(),
        NotificationKind::Delivery,
        Status::Delivered,
    );
}

#[test]
fn rfc5438_s7_2_1_2_display_cpim_txt() {
    let (bytes, body) = notification_in("rfc5438/s7.2.1.2-display.cpim.txt");
    assert_eq!(Received::from_cpim(&Message::parse(&bytes).unwrap()), Ok(None));
    assert_rfc_payload(
        &Imdn::parse(&bytes[body..]).unwrap(),
        NotificationKind::Display,
        Status::Displayed,
    );
}

#[test]
fn rfc5438_s8_1_processing_cpim_txt() {
    let (bytes, body) = notification_in("rfc5438/s8.1-processing.cpim.txt");
    let wrapper = Message::parse(&bytes).unwrap();
    // As published this intermediary's notification has neither NS nor imdn.Message-ID.
    assert!(wrapper.get(IMDN_NS, "Message-ID").is_none());
    assert_rfc_payload(
        &Imdn::parse(&bytes[body..]).unwrap(),
        NotificationKind::Processing,
        Status::Processed,
    );
}

#[test]
fn rfc5438_s8_3_aggregated_cpim_txt() {
    let bytes = vector("rfc5438/s8.3-aggregated.cpim.txt");
    let wrapper = Message::parse(&bytes).unwrap();
    assert!(wrapper
        .content_type()
        .unwrap()
        .contains("boundary=\"imdn-boundary\""));
    // The vector stops at the first boundary line; the parts are the two part*.xml vectors, both about
    // the same IM.
    assert_eq!(wrapper.body(), b"--imdn-boundary\n");
    let p1 = vector("rfc5438/s8.3-aggregated-part1.xml");
    let p2 = vector("rfc5438/s8.3-aggregated-part2.xml");
    let (a, b) = (Imdn::parse(&p1).unwrap(), Imdn::parse(&p2).unwrap());
    assert_eq!(a.message_id, b.message_id);
    assert_eq!(
        (a.kind, b.kind),
        (NotificationKind::Delivery, NotificationKind::Display)
    );
}

#[test]
fn rfc5438_s7_1_1_3_im_request_cpim() {
    let bytes = vector("rfc5438/s7.1.1.3-im-request.cpim");
    let msg = Message::parse(&bytes).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert_eq!(rx.message_id, "34jk324j");
    assert_eq!(
        rx.requested,
        DispositionRequest {
            positive_delivery: true,
            negative_delivery: true,
            ..Default::default()
        }
    );
    assert_eq!(rx.destination(), "im:alice@example.com");
    // Display was not requested; one delivery notification at most.
    assert_eq!(rx.displayed(), None);
    let (kind, status) = rx.delivered().unwrap();
    assert_eq!((kind, status), (NotificationKind::Delivery, Status::Delivered));
    assert_eq!(rx.delivered(), None);
    assert_eq!(rx.delivery_failed(), None);

    let mut buf = [0u8; 1024];
    let n = rx
        .build_notification(kind, status, None, &mut SimRng::new(7), &mut buf)
        .unwrap();
    let out = Message::parse(&buf[..n]).unwrap();
    assert_eq!(out.from().unwrap().uri, "im:bob@example.com");
    assert_eq!(out.from().unwrap().display_name, Some("Bob"));
    assert_eq!(out.to().next().unwrap().uri, "im:alice@example.com");
    assert_eq!(
        out.get(IMDN_NS, "Message-ID").unwrap().value.len(),
        MESSAGE_ID_LEN
    );
    assert!(out.get(IMDN_NS, "Disposition-Notification").is_none());
    assert_eq!(out.content_header("Content-Disposition"), Some("notification"));
    assert_eq!(
        out.content_header("Content-Length"),
        Some(out.body().len().to_string().as_str())
    );
    let doc = Imdn::parse(out.body()).unwrap();
    assert_eq!(doc.message_id, "34jk324j");
    assert_eq!(doc.datetime, "2006-04-04T12:16:49-05:00");
    assert_eq!(doc.recipient_uri, Some(XmlText::Plain("im:bob@example.com")));
    assert_eq!(doc.status, Status::Delivered);
}

/// Sender side: an IM asking for delivery and display notifications.
fn build_im(buf: &mut [u8], request: DispositionRequest, routes: &[&str]) -> usize {
    let mut b = cpim::Builder::new(buf);
    b.from(Some("Alice"), "im:alice@example.com").unwrap();
    b.to(Some("Bob"), "im:bob@example.com").unwrap();
    let id = new_message_id(&mut SimRng::new(1));
    add_request_headers(&mut b, id.as_str(), "2024-01-02T03:04:05Z", request).unwrap();
    for r in routes {
        b.raw_header("imdn.IMDN-Record-Route", r).unwrap();
    }
    b.subject(Some("en"), "lunch & <fun>").unwrap();
    b.content_header("Content-Type", "text/plain").unwrap();
    b.body(b"Hi Bob").unwrap()
}

#[test]
fn imdn_round_trip_delivered_and_displayed_notifications_carry_the_message_id() {
    let mut im = [0u8; 1024];
    let request = DispositionRequest::parse("positive-delivery, display");
    let n = build_im(&mut im, request, &[]);
    let msg = Message::parse(&im[..n]).unwrap();
    assert_eq!(
        msg.get(IMDN_NS, "Disposition-Notification").unwrap().value,
        "positive-delivery, display"
    );
    let sent_id = msg.get(IMDN_NS, "Message-ID").unwrap().value;
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();

    let mut ids = SimRng::new(99);
    let mut notification_ids = Vec::new();
    for (kind, status) in [rx.delivered().unwrap(), rx.displayed().unwrap()] {
        let mut buf = [0u8; 1024];
        let len = rx
            .build_notification(kind, status, Some("2024-01-02T03:04:06Z"), &mut ids, &mut buf)
            .unwrap();
        let wrapper = Message::parse(&buf[..len]).unwrap();
        assert_eq!(wrapper.date_time(), Some("2024-01-02T03:04:06Z"));
        let doc = Imdn::parse(wrapper.body()).unwrap();
        assert_eq!(doc.message_id, sent_id);
        assert_eq!((doc.kind, doc.status), (kind, status));
        assert_eq!(doc.subject.unwrap().lang, Some(XmlText::Plain("en")));
        // Escaped once on the way out, held escaped when parsed, equal to the IM's plain subject.
        assert!(matches!(
            doc.subject.unwrap().text,
            XmlText::Escaped("lunch &amp; &lt;fun&gt;")
        ));
        assert!(doc.subject.unwrap().text.eq_plain("lunch & <fun>"));
        let id = wrapper.get(IMDN_NS, "Message-ID").unwrap().value.to_string();
        assert_ne!(id, sent_id);
        notification_ids.push(id);
    }
    assert_eq!(notification_ids.len(), 2);
    assert_ne!(notification_ids[0], notification_ids[1]);
    assert_eq!(rx.displayed(), None);
}

#[test]
fn record_routes_become_imdn_routes_in_order() {
    let routes = ["<im:proxy1@example.net>", "Exploder <im:list@example.org>"];
    let mut im = [0u8; 1024];
    let n = build_im(&mut im, DispositionRequest::parse("positive-delivery"), &routes);
    let msg = Message::parse(&im[..n]).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert_eq!(rx.routes(), routes);
    assert_eq!(rx.destination(), "im:proxy1@example.net");
    let (kind, status) = rx.delivered().unwrap();
    let mut buf = [0u8; 1024];
    let len = rx
        .build_notification(kind, status, None, &mut SimRng::new(3), &mut buf)
        .unwrap();
    let wrapper = Message::parse(&buf[..len]).unwrap();
    let got: Vec<_> = wrapper.get_all(IMDN_NS, "IMDN-Route").map(|h| h.value).collect();
    assert_eq!(got, routes);
    assert_eq!(wrapper.get_all(IMDN_NS, "IMDN-Record-Route").count(), 0);
}

#[test]
fn negative_delivery_only_sends_nothing_on_success_and_failed_on_failure() {
    let mut im = [0u8; 1024];
    let n = build_im(&mut im, DispositionRequest::parse("negative-delivery"), &[]);
    let msg = Message::parse(&im[..n]).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert_eq!(rx.delivered(), None);
    let mut rx2 = rx.clone();
    assert_eq!(
        rx2.delivery_failed(),
        Some((NotificationKind::Delivery, Status::Failed))
    );
    assert_eq!(rx.displayed(), None);
}

#[test]
fn im_without_request_or_with_only_unknown_values_needs_nothing() {
    let msg = Message::parse(b"From: <im:a@x>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Disposition-Notification: frob\r\n\r\nContent-Type: text/plain\r\n\r\nx").unwrap();
    assert_eq!(Received::from_cpim(&msg), Ok(None));
}

#[test]
fn request_without_message_id_is_an_error() {
    let msg = Message::parse(b"From: <im:a@x>\r\nDateTime: 2024-01-01T00:00:00Z\r\nNS: i <urn:ietf:params:imdn>\r\ni.Disposition-Notification: display\r\n\r\n\r\n").unwrap();
    assert_eq!(
        Received::from_cpim(&msg),
        Err(simple_im_core::imdn::ReceiveError::MissingMessageId)
    );
}

#[test]
fn wrong_status_for_kind_is_refused_when_building_and_parsing() {
    let mut im = [0u8; 1024];
    let n = build_im(&mut im, DispositionRequest::parse("display"), &[]);
    let msg = Message::parse(&im[..n]).unwrap();
    let rx = Received::from_cpim(&msg).unwrap().unwrap();
    let mut buf = [0u8; 1024];
    assert_eq!(
        rx.build_notification(
            NotificationKind::Display,
            Status::Delivered,
            None,
            &mut SimRng::new(5),
            &mut buf
        ),
        Err(simple_im_core::imdn::NotifyError::StatusNotAllowed)
    );
    let doc = br#"<imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>a</message-id><datetime>d</datetime><display-notification><status><delivered/></status></display-notification></imdn>"#;
    assert_eq!(Imdn::parse(doc), Err(ImdnError::StatusNotAllowed));
}

#[test]
fn small_buffer_is_a_typed_error() {
    let bytes = vector("rfc5438/s7.1.1.3-im-request.cpim");
    let msg = Message::parse(&bytes).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    let (kind, status) = rx.delivered().unwrap();
    for size in [0, 10, 200, 300] {
        let mut buf = vec![0u8; size];
        assert_eq!(
            rx.build_notification(kind, status, None, &mut SimRng::new(5), &mut buf),
            Err(simple_im_core::imdn::NotifyError::BufferTooSmall),
            "{size}"
        );
    }
}

#[test]
fn validation_errors() {
    let cases: &[(&[u8], ImdnError)] = &[
        (b"<x xmlns='urn:ietf:params:xml:ns:imdn'/>", ImdnError::WrongRoot),
        (b"<imdn/>", ImdnError::WrongRoot),
        (b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><datetime>d</datetime><delivery-notification><status><delivered/></status></delivery-notification></imdn>", ImdnError::MissingMessageId),
        (b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>m</message-id><delivery-notification><status><delivered/></status></delivery-notification></imdn>", ImdnError::MissingDatetime),
        (b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>m</message-id><datetime>d</datetime></imdn>", ImdnError::MissingNotification),
        (b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>m</message-id><datetime>d</datetime><delivery-notification/></imdn>", ImdnError::MissingStatus),
        (b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'><message-id>m</message-id><message-id>n</message-id></imdn>", ImdnError::DuplicateElement),
    ];
    for (doc, want) in cases {
        assert_eq!(Imdn::parse(doc), Err(*want), "{}", String::from_utf8_lossy(doc));
    }
    assert!(matches!(
        Imdn::parse(b"<imdn xmlns='urn:ietf:params:xml:ns:imdn'>"),
        Err(ImdnError::Xml(_))
    ));
}

#[test]
fn extension_elements_are_ignored_and_extension_status_kept() {
    let doc = br#"<imdn xmlns="urn:ietf:params:xml:ns:imdn" xmlns:x="urn:example:x">
        <x:priority level="high"><x:nested/></x:priority>
        <message-id>m1</message-id><datetime>d</datetime>
        <unknown-imdn-element>ignored</unknown-imdn-element>
        <delivery-notification><x:hint/><status><x:queued/></status></delivery-notification>
    </imdn>"#;
    let parsed = Imdn::parse(doc).unwrap();
    assert_eq!(parsed.message_id, "m1");
    assert_eq!(parsed.status, Status::Extension("queued"));
}

#[test]
fn written_documents_parse_back() {
    let doc = Imdn {
        message_id: XmlText::Plain("abc"),
        datetime: XmlText::Plain("2024-01-01T00:00:00Z"),
        recipient_uri: Some(XmlText::Plain("im:b@x")),
        original_recipient_uri: None,
        subject: None,
        kind: NotificationKind::Processing,
        status: Status::Stored,
    };
    let mut buf = [0u8; 512];
    let n = doc.write(&mut buf).unwrap();
    assert_eq!(Imdn::parse(&buf[..n]).unwrap(), doc);
    assert!(doc.write(&mut buf[..n - 1]).is_err());
}

#[test]
fn message_ids_are_long_unique_and_token_safe() {
    let mut ids = SimRng::new(42);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..1000 {
        let id = new_message_id(&mut ids);
        assert!(id.as_str().len() >= 16);
        assert!(id
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert!(seen.insert(id.as_str().to_string()));
    }
}

// ---- the tracker table of `imdn::tracker`, row by row ----

fn received_with(request: &str) -> (Vec<u8>, usize) {
    let mut im = vec![0u8; 1024];
    let n = build_im(&mut im, DispositionRequest::parse(request), &[]);
    (im, n)
}

#[test]
fn tracker_row_delivered_with_positive_delivery() {
    let (im, n) = received_with("positive-delivery");
    let msg = Message::parse(&im[..n]).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert_eq!(
        rx.delivered(),
        Some((NotificationKind::Delivery, Status::Delivered))
    );
}

#[test]
fn tracker_row_delivered_without_positive_delivery() {
    let (im, n) = received_with("negative-delivery, display");
    let msg = Message::parse(&im[..n]).unwrap();
    assert_eq!(Received::from_cpim(&msg).unwrap().unwrap().delivered(), None);
}

#[test]
fn tracker_row_delivery_failed_with_negative_delivery() {
    let (im, n) = received_with("negative-delivery");
    let msg = Message::parse(&im[..n]).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert_eq!(
        rx.delivery_failed(),
        Some((NotificationKind::Delivery, Status::Failed))
    );
}

#[test]
fn tracker_row_delivery_failed_without_negative_delivery() {
    let (im, n) = received_with("positive-delivery");
    let msg = Message::parse(&im[..n]).unwrap();
    assert_eq!(
        Received::from_cpim(&msg).unwrap().unwrap().delivery_failed(),
        None
    );
}

#[test]
fn tracker_row_displayed_with_display() {
    let (im, n) = received_with("display");
    let msg = Message::parse(&im[..n]).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert_eq!(
        rx.displayed(),
        Some((NotificationKind::Display, Status::Displayed))
    );
}

#[test]
fn tracker_row_displayed_without_display() {
    let (im, n) = received_with("positive-delivery, processing");
    let msg = Message::parse(&im[..n]).unwrap();
    assert_eq!(Received::from_cpim(&msg).unwrap().unwrap().displayed(), None);
}

#[test]
fn tracker_row_any_second_time_for_a_type() {
    let (im, n) = received_with("positive-delivery, negative-delivery, display");
    let msg = Message::parse(&im[..n]).unwrap();
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    assert!(rx.delivered().is_some());
    assert_eq!(rx.delivered(), None);
    assert_eq!(rx.delivery_failed(), None);
    assert!(rx.displayed().is_some());
    assert_eq!(rx.displayed(), None);
}

#[test]
fn tracker_row_im_is_itself_an_imdn() {
    // A Disposition-Notification inside an IMDN is ignored (§7.2.1).
    let text = b"From: <im:b@x>\r\nTo: <im:a@x>\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: n1\r\nDateTime: 2024-01-01T00:00:00Z\r\nimdn.Disposition-Notification: positive-delivery\r\n\r\nContent-Type: message/imdn+xml\r\nContent-Disposition: notification\r\n\r\n<imdn/>";
    assert_eq!(Received::from_cpim(&Message::parse(text).unwrap()), Ok(None));
}

// ---- text fields: escaped as parsed, plain as built, never escaped twice ----

const IMDN_OPEN: &str = "<imdn xmlns='urn:ietf:params:xml:ns:imdn'>";
const IMDN_REST: &str = "<datetime>d</datetime><delivery-notification><status><delivered/></status></delivery-notification></imdn>";

fn doc_with_message_id(content: &str) -> Vec<u8> {
    format!("{IMDN_OPEN}<message-id>{content}</message-id>{IMDN_REST}").into_bytes()
}

fn written(doc: &Imdn<'_>) -> Vec<u8> {
    let mut buf = [0u8; 2048];
    let n = doc.write(&mut buf).unwrap();
    buf[..n].to_vec()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn parsed_references_are_written_back_once_escaped() {
    let input = doc_with_message_id("a&amp;b &gt; &#x41;");
    let parsed = Imdn::parse(&input).unwrap();
    assert!(parsed.message_id.eq_plain("a&b > A"));
    assert_eq!(parsed.message_id.to_string(), "a&b > A");
    let out = written(&parsed);
    assert!(
        contains(&out, "<message-id>a&amp;b &gt; &#x41;</message-id>"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(!contains(&out, "&amp;amp;"));
    let again = Imdn::parse(&out).unwrap();
    assert_eq!(again, parsed);
    assert_eq!(again.message_id.as_held(), parsed.message_id.as_held());
}

#[test]
fn cdata_content_is_plain_text_and_escaped_when_written() {
    let input = doc_with_message_id("\n  <![CDATA[a&amp;<b>]]>\n");
    let parsed = Imdn::parse(&input).unwrap();
    assert!(matches!(parsed.message_id, XmlText::Plain("a&amp;<b>")));
    let out = written(&parsed);
    assert!(
        contains(&out, "<message-id>a&amp;amp;&lt;b&gt;</message-id>"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    let again = Imdn::parse(&out).unwrap();
    assert!(again.message_id.eq_plain("a&amp;<b>"));
    assert_eq!(again, parsed);
}

#[test]
fn text_elements_with_more_than_one_piece_are_refused() {
    for content in [
        "a<![CDATA[b]]>",
        "<![CDATA[a]]>b",
        "<![CDATA[a]]><![CDATA[b]]>",
        "a<!-- c -->b",
        "a<x/>b",
        "a<?pi x?>b",
    ] {
        assert_eq!(
            Imdn::parse(&doc_with_message_id(content)),
            Err(ImdnError::MixedContent),
            "{content}"
        );
    }
    // Whitespace, comments and child elements beside one piece are fine.
    for content in [
        " <!-- c --> a <!-- d --> ",
        "<x/>a",
        "<![CDATA[]]>a",
        "a<![CDATA[]]>",
    ] {
        assert!(
            Imdn::parse(&doc_with_message_id(content))
                .unwrap()
                .message_id
                .eq_plain("a"),
            "{content}"
        );
    }
}

#[test]
fn parsed_message_id_with_references_matches_the_plain_cpim_value() {
    let mut im = [0u8; 1024];
    let mut b = cpim::Builder::new(&mut im);
    b.from(None, "im:alice@example.com").unwrap();
    b.to(None, "im:bob@example.com").unwrap();
    add_request_headers(
        &mut b,
        "id&<1>'\"é",
        "2024-01-02T03:04:05Z",
        DispositionRequest::parse("display"),
    )
    .unwrap();
    b.content_header("Content-Type", "text/plain").unwrap();
    let n = b.body(b"hi").unwrap();
    let msg = Message::parse(&im[..n]).unwrap();
    let cpim_id = msg.get(IMDN_NS, "Message-ID").unwrap().value;
    let mut rx = Received::from_cpim(&msg).unwrap().unwrap();
    let (kind, status) = rx.displayed().unwrap();
    let mut buf = [0u8; 1024];
    let len = rx
        .build_notification(kind, status, None, &mut SimRng::new(1), &mut buf)
        .unwrap();
    let wrapper = Message::parse(&buf[..len]).unwrap();
    let doc = Imdn::parse(wrapper.body()).unwrap();
    assert!(
        matches!(doc.message_id, XmlText::Escaped("id&amp;&lt;1&gt;&apos;&quot;é")),
        "{:?}",
        doc.message_id
    );
    assert!(doc.message_id.eq_plain(cpim_id));
    let mut decoded = [0u8; 64];
    assert_eq!(doc.message_id.decode_into(&mut decoded), Ok(cpim_id));
}

#[test]
fn declaration_that_swallows_markup_is_refused() {
    let crash = std::fs::read(format!(
        "{}/fuzz/regressions/imdn_xml/crash-fd0bdf1bf4d469cfaf9db2d1db2579e0c3e77a9f",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    match Imdn::parse(&crash) {
        Err(ImdnError::Xml(e)) => {
            assert_eq!(
                e.kind,
                ErrorKind::MalformedDeclaration(DeclarationError::InvalidVersion)
            );
            assert_eq!(e.offset, "<?xml version=\"".len());
        }
        other => panic!("accepted or wrong error: {other:?}"),
    }
    // The same document with a proper declaration is a valid IMDN.
    let fixed =
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{IMDN_OPEN}<message-id>m</message-id>{IMDN_REST}");
    assert!(Imdn::parse(fixed.as_bytes()).is_ok());
}

fn imdn_text() -> impl Strategy<Value = String> {
    // No XML whitespace at the ends: the parser trims it, as the schema's whitespace facet allows.
    proptest::string::string_regex(
        "[a-zA-Z0-9&<>\"'é漢;#@.:-]([a-zA-Z0-9 &<>\"'é漢;#@.:-]{0,30}[a-zA-Z0-9&<>\"'é漢;#@.:-])?",
    )
    .unwrap()
}

proptest! {
    #[test]
    fn imdn_round_trip_keeps_text_with_special_characters(
        id in imdn_text(), datetime in imdn_text(), uri in proptest::option::of(imdn_text()),
        subject in proptest::option::of(imdn_text()), lang in proptest::option::of(imdn_text()),
    ) {
        let doc = Imdn {
            message_id: XmlText::Plain(&id),
            datetime: XmlText::Plain(&datetime),
            recipient_uri: uri.as_deref().map(XmlText::Plain),
            original_recipient_uri: None,
            subject: subject.as_deref().map(|s| Subject { text: XmlText::Plain(s), lang: lang.as_deref().map(XmlText::Plain) }),
            kind: NotificationKind::Display,
            status: Status::Displayed,
        };
        let out = written(&doc);
        let parsed = Imdn::parse(&out).unwrap();
        prop_assert!(parsed.message_id.eq_plain(&id));
        prop_assert_eq!(parsed.message_id.to_string(), id.clone());
        prop_assert!(parsed.datetime.eq_plain(&datetime));
        prop_assert_eq!(parsed, doc);
        // Writing what was parsed reproduces the same escaped text, not a second layer of escaping.
        let again_bytes = written(&parsed);
        let again = Imdn::parse(&again_bytes).unwrap();
        prop_assert_eq!(again.message_id.as_held(), parsed.message_id.as_held());
        prop_assert_eq!(again, parsed);
    }
}
