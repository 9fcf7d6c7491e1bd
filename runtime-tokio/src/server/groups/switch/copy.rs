//! Encoding a message's copies once for every recipient.
//!
//! A copy is three pieces of bytes written back to back:
//!
//! | piece | built | holds |
//! |---|---|---|
//! | head | once per message | `MSRP <tid> SEND` |
//! | paths | once per leg, when it joins | `To-Path` (the recipient's SDP path) and `From-Path` (its leg URI) |
//! | rest | once per message | Message-ID, Failure-Report, Byte-Range, Content-Type, the CPIM body, the end-line |
//!
//! A transaction-id must not collide with another transaction existing at the same time and carries
//! 64 random bits (RFC 4975 §7.1); a Message-ID must be unique where its sender uses it (§7.1.1).
//! Every recipient is its own session on its own connection, so all copies of a message share both
//! (the number of the message plus 64 random bits): a thousand copies cost three reference-counted
//! handles each, no encoding and no allocation.

use bytes::{Bytes, BytesMut};
use simple_im_core::msrp::wire::ReportRequest;
use std::fmt::Write as _;

/// What the copies ask their recipients to answer, chosen from what the sender asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CopyReports {
    /// The sender wants a success REPORT: every copy must be answered (no Failure-Report header,
    /// RFC 4975's default `yes`), and the switch waits for every answer.
    EveryAnswer,
    /// The sender wants failures only: copies carry `Failure-Report: partial`, so a recipient answers
    /// only when it refuses (no 200 per copy comes back; RFC 4975 §7.1.2).
    FailuresOnly,
    /// The sender wants no report: copies carry `Failure-Report: no` and nothing comes back.
    Nothing,
}

impl CopyReports {
    pub(super) fn for_sender(success_report: bool, failure_report: ReportRequest) -> CopyReports {
        match (success_report, failure_report) {
            (true, _) => CopyReports::EveryAnswer,
            (false, ReportRequest::No) => CopyReports::Nothing,
            (false, _) => CopyReports::FailuresOnly,
        }
    }
}

/// The pieces every copy of one message shares.
pub(super) struct Prepared {
    pub head: Bytes,
    pub rest: Bytes,
}

/// A fresh transaction-id for message number `id`'s copies (and for the switch's REPORTs): the
/// number, then 64 random bits.
pub(super) fn transaction_id(id: u64) -> String {
    format!("s{id:x}.{}", crate::server::rng::token(8))
}

/// The number [`transaction_id`] encoded, if `tid` is one of the switch's.
pub(super) fn copy_id(tid: &str) -> Option<u64> {
    let (number, random) = tid.strip_prefix('s')?.split_once('.')?;
    if random.is_empty() {
        return None;
    }
    u64::from_str_radix(number, 16).ok()
}

/// Encodes the shared pieces of message number `id`'s copies; `body` is the CPIM body ([`cpim_copy`]).
pub(super) fn prepare(id: u64, reports: CopyReports, body: &[u8]) -> Prepared {
    let tid = transaction_id(id);
    let head = Bytes::from(format!("MSRP {tid} SEND\r\n"));
    let message_id = tid.replacen('s', "m", 1);
    let len = body.len();
    let mut rest = BytesMut::with_capacity(160 + len);
    let mut headers = format!("Message-ID: {message_id}\r\n");
    match reports {
        CopyReports::EveryAnswer => {}
        CopyReports::FailuresOnly => headers.push_str("Failure-Report: partial\r\n"),
        CopyReports::Nothing => headers.push_str("Failure-Report: no\r\n"),
    }
    let _ = write!(
        headers,
        "Byte-Range: 1-{len}/{len}\r\nContent-Type: message/cpim\r\n\r\n"
    );
    rest.extend_from_slice(headers.as_bytes());
    rest.extend_from_slice(body);
    rest.extend_from_slice(format!("\r\n-------{tid}$\r\n").as_bytes());
    Prepared {
        head,
        rest: rest.freeze(),
    }
}

/// The per-leg piece: the To-Path and From-Path header lines of every copy to that leg.
pub(super) fn paths(endpoint: &str, leg_uri: &str) -> Bytes {
    Bytes::from(format!("To-Path: {endpoint}\r\nFrom-Path: {leg_uri}\r\n"))
}

/// The CPIM body of a copy: the sender's identity in `From`, the group in `To`.
pub(super) fn cpim_copy(shown: &str, group_uri: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("From: {shown}\r\nTo: <{group_uri}>\r\n").into_bytes();
    let is_cpim = content_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("message/cpim"));
    if is_cpim {
        // Keep the sender's CPIM headers but its From and To, then its content as it came.
        let split = body.windows(4).position(|w| w == b"\r\n\r\n");
        // `rest` starts with the CRLF ending the last header line, which the loop below writes itself.
        let (headers, rest) = match split {
            Some(at) => (body.get(..at).unwrap_or(&[]), body.get(at + 2..).unwrap_or(&[])),
            None => (&[][..], body),
        };
        for line in headers.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let name = line.split(|b| *b == b':').next().unwrap_or(&[]);
            if line.is_empty() || name.eq_ignore_ascii_case(b"From") || name.eq_ignore_ascii_case(b"To") {
                continue;
            }
            out.extend_from_slice(line);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(rest);
    } else {
        out.extend_from_slice(format!("\r\nContent-Type: {content_type}\r\n\r\n").as_bytes());
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_im_core::msrp::wire::{parse_message, Parsed};

    #[test]
    fn plain_text_is_wrapped_with_the_sender_and_the_group() {
        let body = cpim_copy("<sip:a@d>", "sip:g@d", "text/plain", b"hi");
        assert_eq!(
            body,
            b"From: <sip:a@d>\r\nTo: <sip:g@d>\r\n\r\nContent-Type: text/plain\r\n\r\nhi"
        );
    }

    #[test]
    fn a_cpim_body_gets_the_switch_identity_in_place_of_its_own() {
        let sent = b"From: <sip:mallory@d>\r\nTo: <sip:x@d>\r\nDateTime: 2026-01-01T00:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
        let body = cpim_copy("<sip:a@d>", "sip:g@d", "message/cpim", sent);
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with("From: <sip:a@d>\r\nTo: <sip:g@d>\r\nDateTime: 2026"),
            "{text}"
        );
        assert!(!text.contains("mallory"), "{text}");
        assert!(
            text.ends_with("T00:00:00Z\r\n\r\nContent-Type: text/plain\r\n\r\nhi"),
            "one blank line between the message and content headers: {text}"
        );
    }

    /// The three pieces of a copy, as one recipient gets them.
    fn copy_to(prepared: &Prepared, endpoint: &str, leg: &str) -> Vec<u8> {
        [&prepared.head[..], &paths(endpoint, leg)[..], &prepared.rest[..]].concat()
    }

    #[test]
    fn the_pieces_make_a_well_formed_send_for_each_recipient() {
        let prepared = prepare(0x2a, CopyReports::FailuresOnly, b"From: <sip:a@d>\r\n\r\nhi");
        for (endpoint, leg) in [
            ("msrp://h:1/a;tcp", "msrp://s:2/x;tcp"),
            ("msrp://h:3/b;tcp", "msrp://s:2/y;tcp"),
        ] {
            let bytes = copy_to(&prepared, endpoint, leg);
            let Ok(Parsed::Complete(message, used)) = parse_message(&bytes) else {
                panic!("not one whole message: {}", String::from_utf8_lossy(&bytes));
            };
            assert_eq!(used, bytes.len());
            let head = &message.head;
            assert!(head.transaction_id.starts_with("s2a."), "{}", head.transaction_id);
            assert_eq!(head.transaction_id.len(), "s2a.".len() + 16);
            assert_eq!(copy_id(head.transaction_id), Some(0x2a));
            assert!(head.message_id().is_some_and(|m| m.starts_with("m2a.")));
            assert_eq!(head.to_path().and_then(|p| p.texts().next()), Some(endpoint));
            assert_eq!(head.from_path().and_then(|p| p.texts().next()), Some(leg));
            assert_eq!(head.failure_report().ok().flatten(), Some(ReportRequest::Partial));
            assert_eq!(message.body, b"From: <sip:a@d>\r\n\r\nhi");
        }
    }

    #[test]
    fn copies_ask_for_the_answers_the_sender_needs() {
        let asked = |success, failure| {
            let prepared = prepare(1, CopyReports::for_sender(success, failure), b"x");
            let bytes = copy_to(&prepared, "msrp://h:1/a;tcp", "msrp://s:2/x;tcp");
            let Ok(Parsed::Complete(message, _)) = parse_message(&bytes) else {
                panic!("not a message");
            };
            message.head.failure_report().ok().flatten()
        };
        // A success REPORT needs every answer: the default (`yes`), no header.
        assert_eq!(asked(true, ReportRequest::Partial), None);
        assert_eq!(asked(false, ReportRequest::Yes), Some(ReportRequest::Partial));
        assert_eq!(asked(false, ReportRequest::Partial), Some(ReportRequest::Partial));
        assert_eq!(asked(false, ReportRequest::No), Some(ReportRequest::No));
    }

    #[test]
    fn only_the_switch_transaction_ids_name_a_copy() {
        assert_eq!(copy_id(&transaction_id(0xdead_beef)), Some(0xdead_beef));
        assert_ne!(transaction_id(1), transaction_id(1));
        assert_eq!(copy_id("t1.00"), None);
        assert_eq!(copy_id("s1"), None);
        assert_eq!(copy_id("s1."), None);
        assert_eq!(copy_id("szz.00"), None);
    }
}
