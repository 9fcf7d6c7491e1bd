//! The text parsers trim only protocol white space (SP, HTAB, CR, LF: RFC 3261 LWS, RFC 4975, RFC 3862).
//! A Unicode space such as U+00A0 (no-break space) or U+3000 (ideographic space) next to a value is
//! part of the value, so a header that would only match after Unicode trimming does not match.

use simple_im_core::cpim::{self, NameAddr};
use simple_im_core::imdn::{notify_reqs, NotifyReq, Received};
use simple_im_core::msrp::wire::{Head, ReportRequest};
use simple_im_core::multipart::Part;

const NBSP: &str = "\u{a0}";
const IDEOGRAPHIC_SPACE: &str = "\u{3000}";

#[test]
fn cpim_name_addr_and_params_keep_unicode_spaces() {
    let plain = NameAddr::parse(" \t\"Ann\" <im:ann@example.com>\t ");
    assert_eq!(plain.uri, "im:ann@example.com");
    assert_eq!(plain.display_name, Some("\"Ann\""));

    let value = format!("{NBSP}<im:ann@example.com>{IDEOGRAPHIC_SPACE}");
    let padded = NameAddr::parse(&value);
    assert_eq!(padded.display_name, None);
    assert_eq!(
        padded.uri,
        value.as_str(),
        "no angle brackets at the ends: the whole value"
    );

    let params = format!(";lang = fr{NBSP}\t; x=\t1 ");
    let subject = cpim::Header {
        name: "Subject",
        params: &params,
        value: "hi",
    };
    assert_eq!(subject.lang(), Some(format!("fr{NBSP}").as_str()));
    assert_eq!(subject.param("x"), Some("1"));
}

#[test]
fn cpim_require_list_keeps_unicode_spaces() {
    let text = format!("Require: a ,\tb{IDEOGRAPHIC_SPACE}\r\n\r\n\r\n");
    let msg = cpim::Message::parse(text.as_bytes()).unwrap();
    let required: Vec<&str> = msg.required().collect();
    assert_eq!(required, ["a", format!("b{IDEOGRAPHIC_SPACE}").as_str()]);
}

#[test]
fn disposition_tokens_keep_unicode_spaces() {
    let value = format!(" display\t, {NBSP}positive-delivery ;x=1");
    let items: Vec<_> = notify_reqs(&value).collect();
    assert_eq!(items[0], (NotifyReq::Display, ""));
    let padded = format!("{NBSP}positive-delivery");
    assert_eq!(items[1], (NotifyReq::Other(&padded), ";x=1"));
}

/// An IM whose Content-Disposition is `notification` (with the given padding) and that asks for a
/// delivery notification.
fn cpim_with_disposition(padding: &str) -> String {
    format!(
        "From: <im:a@example.com>\r\nDateTime: 2026-11-24T08:00:00Z\r\nNS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: m1\r\n\
         imdn.Disposition-Notification: positive-delivery\r\n\r\n\
         Content-Type: text/plain\r\nContent-Disposition:{padding}notification{padding}\r\n\r\nhi"
    )
}

#[test]
fn tracker_sees_a_notification_only_with_ascii_padding() {
    let ascii = cpim_with_disposition(" \t");
    let msg = cpim::Message::parse(ascii.as_bytes()).unwrap();
    assert!(
        Received::from_cpim(&msg).unwrap().is_none(),
        "a notification is never notified"
    );

    let unicode = cpim_with_disposition(NBSP);
    let msg = cpim::Message::parse(unicode.as_bytes()).unwrap();
    let received = Received::from_cpim(&msg)
        .unwrap()
        .expect("not a notification: an IM to notify");
    assert!(received.requested.positive_delivery);
}

#[test]
fn multipart_part_headers_keep_unicode_spaces() {
    let headers = format!("Content-Type:\tapplication/resource-lists+xml \r\nContent-Disposition: {IDEOGRAPHIC_SPACE}recipient-list");
    let part = Part {
        headers: &headers,
        body: b"",
    };
    assert_eq!(part.media_type(), "application/resource-lists+xml");
    assert_eq!(
        part.disposition(),
        Some(format!("{IDEOGRAPHIC_SPACE}recipient-list").as_str())
    );
}

#[test]
fn msrp_head_values_keep_unicode_spaces() {
    let block = format!("MSRP t1 SEND\r\nMessage-ID: \t m1 \r\nContent-Type: text/plain{NBSP}\r\n");
    let head = Head::parse(block.as_bytes()).unwrap();
    assert_eq!(head.message_id(), Some("m1"));
    assert_eq!(head.content_type(), Some(format!("text/plain{NBSP}").as_str()));

    assert_eq!(ReportRequest::parse(" yes\t"), Ok(ReportRequest::Yes));
    assert!(ReportRequest::parse(&format!("yes{NBSP}")).is_err());
}

#[test]
fn cpim_notification_disposition_is_the_first_token_only() {
    let parse = |disposition: &str| {
        let text = format!("From: <im:a@b>\r\n\r\nContent-Disposition: {disposition}\r\n\r\n");
        let notification = cpim::Message::parse(text.as_bytes()).unwrap().is_notification();
        notification
    };
    assert!(parse("Notification ;handling=required"));
    assert!(parse("\tnotification\t"));
    assert!(!parse("notifications"));
    assert!(!parse("render; notification"));
    assert!(!parse(&format!("notification{IDEOGRAPHIC_SPACE}")));
}
