//! Wire codec behaviour beyond the RFC figures: end-line detection under every split, URIs, the builder.

use simple_im_core::msrp::wire::builder::{write_report, write_response};
use simple_im_core::msrp::wire::{
    parse_message, ByteRange, ChunkEvent, ChunkReader, Continuation, FrameError, Method, Parsed, Status,
    Writer,
};
use simple_im_core::msrp::{MsrpUri, UriError};

/// Feeds `pieces` one after the other, returning every event (body bytes concatenated per message).
fn run<const H: usize>(
    reader: &mut ChunkReader<H>,
    pieces: &[&[u8]],
) -> Result<Vec<(String, Vec<u8>, Continuation)>, FrameError> {
    let mut out = Vec::new();
    let mut pending = Vec::new();
    let (mut tid, mut body) = (String::new(), Vec::new());
    for piece in pieces {
        pending.extend_from_slice(piece);
        let mut pos = 0;
        loop {
            let (used, event) = reader.feed(&pending[pos..])?;
            pos += used;
            match event {
                None => break,
                Some(ChunkEvent::Head) => tid = reader.head().unwrap().transaction_id.to_string(),
                Some(ChunkEvent::Body(b)) => body.extend_from_slice(b),
                Some(ChunkEvent::End(f)) => out.push((tid.clone(), std::mem::take(&mut body), f)),
            }
        }
        pending.drain(..pos);
    }
    Ok(out)
}

const TRICKY: &[u8] = b"MSRP tid42 SEND\r\nTo-Path: msrp://b.example:1/s;tcp\r\nFrom-Path: msrp://a.example:2/t;tcp\r\nMessage-ID: m1\r\nByte-Range: 1-*/*\r\nContent-Type: text/plain\r\n\r\nA\r\n-------tid4 \r\n-------tid42x\r\n-------tid42$X-------tid42\r\n--\r\n-------tid42+\r\nMSRP tid43 SEND\r\nTo-Path: msrp://b.example:1/s;tcp\r\nFrom-Path: msrp://a.example:2/t;tcp\r\n-------tid43$\r\n";
const TRICKY_BODY: &[u8] = b"A\r\n-------tid4 \r\n-------tid42x\r\n-------tid42$X-------tid42\r\n--";

#[test]
fn end_line_look_alikes_in_the_body_are_body_at_every_split() {
    for split in 0..=TRICKY.len() {
        let got = run(
            &mut ChunkReader::<256>::new(),
            &[&TRICKY[..split], &TRICKY[split..]],
        )
        .unwrap();
        assert_eq!(got.len(), 2, "split {split}");
        assert_eq!(
            got[0],
            ("tid42".to_string(), TRICKY_BODY.to_vec(), Continuation::More),
            "split {split}"
        );
        assert_eq!(
            got[1],
            ("tid43".to_string(), Vec::new(), Continuation::Complete),
            "split {split}"
        );
    }
}

#[test]
fn end_line_split_at_every_pair_of_positions() {
    for a in 0..=TRICKY.len() {
        for b in (a..=TRICKY.len()).step_by(7) {
            let got = run(
                &mut ChunkReader::<256>::new(),
                &[&TRICKY[..a], &TRICKY[a..b], &TRICKY[b..]],
            )
            .unwrap();
            assert_eq!(got[0].1, TRICKY_BODY, "splits {a} {b}");
            assert_eq!(got.len(), 2);
        }
    }
}

#[test]
fn byte_at_a_time_matches_whole_slice_parse() {
    let pieces: Vec<&[u8]> = TRICKY.chunks(1).collect();
    let got = run(&mut ChunkReader::<256>::new(), &pieces).unwrap();
    let Parsed::Complete(m, used) = parse_message(TRICKY).unwrap() else {
        panic!()
    };
    assert_eq!(got[0].1, m.body);
    let Parsed::Complete(second, _) = parse_message(&TRICKY[used..]).unwrap() else {
        panic!()
    };
    assert_eq!(second.head.transaction_id, "tid43");
}

#[test]
fn aborted_flag_and_empty_body_without_crlf() {
    let msg = b"MSRP abcd SEND\r\nMessage-ID: x\r\nContent-Type: text/plain\r\n\r\n-------abcd#\r\n";
    let Parsed::Complete(m, used) = parse_message(msg).unwrap() else {
        panic!()
    };
    assert_eq!(
        (m.body, m.continuation, used),
        (&b""[..], Continuation::Aborted, msg.len())
    );
}

#[test]
fn header_block_larger_than_buffer_is_a_typed_error() {
    let mut msg = b"MSRP abcd SEND\r\nX-Long: ".to_vec();
    msg.extend(std::iter::repeat_n(b'x', 300));
    msg.extend_from_slice(b"\r\n\r\nbody\r\n-------abcd$\r\n");
    assert_eq!(
        run(&mut ChunkReader::<128>::new(), &[&msg]).unwrap_err(),
        FrameError::HeadTooLarge
    );
    assert_eq!(
        run(&mut ChunkReader::<512>::new(), &[&msg]).unwrap()[0].1,
        b"body"
    );
}

#[test]
fn garbage_start_line_is_rejected() {
    assert_eq!(
        run(&mut ChunkReader::<128>::new(), &[b"HTTP/1.1 200 OK\r\n"]).unwrap_err(),
        FrameError::BadStartLine
    );
    assert!(parse_message(b"MSRP waytoolongtransactionidentifier0123456789 SEND\r\n").is_err());
}

#[test]
fn unknown_method_and_response_comment_are_kept() {
    let Parsed::Complete(m, _) = parse_message(b"MSRP abcd FROB\r\nX-Thing: 1\r\n-------abcd$\r\n").unwrap()
    else {
        panic!()
    };
    assert_eq!(m.head.method(), Some(Method::Other("FROB")));
    assert_eq!(m.head.get("x-thing"), Some("1"));
    let Parsed::Complete(r, _) =
        parse_message(b"MSRP abcd 415 Unsupported media type\r\n-------abcd$\r\n").unwrap()
    else {
        panic!()
    };
    assert_eq!(r.head.status_code(), Some(415));
    assert_eq!(
        format!("{:?}", r.head.start),
        "Response { code: 415, comment: Some(\"Unsupported media type\") }"
    );
}

#[test]
fn byte_range_forms() {
    assert_eq!(
        ByteRange::parse("1-*/*").unwrap(),
        ByteRange {
            start: 1,
            end: None,
            total: None
        }
    );
    assert_eq!(ByteRange::parse("10-20/*").unwrap().to_string(), "10-20/*");
    assert!(ByteRange::parse("a-1/2").is_err());
    assert!(ByteRange::parse("99999999999999999999999-1/2").is_err());
}

#[test]
fn uri_parts() {
    let u = MsrpUri::parse("msrps://bob@[2001:db8::1]:9000/a+b=c/d;tcp;foo=bar").unwrap();
    assert!(u.secure);
    assert_eq!(
        (u.userinfo, u.host, u.port, u.session_id, u.transport, u.params),
        (
            Some("bob"),
            "[2001:db8::1]",
            Some(9000),
            Some("a+b=c/d"),
            "tcp",
            "foo=bar"
        )
    );
    assert_eq!(MsrpUri::parse("sip:x").unwrap_err(), UriError::BadScheme);
    assert_eq!(
        MsrpUri::parse("msrp://h:99999/s;tcp").unwrap_err(),
        UriError::BadPort
    );
    assert_eq!(
        MsrpUri::parse("msrp://h:9/s").unwrap_err(),
        UriError::MissingTransport
    );
}

#[test]
fn uri_comparison_rfc4975_6_1() {
    let eq = |a: &str, b: &str| MsrpUri::parse(a).unwrap().matches(&MsrpUri::parse(b).unwrap());
    assert!(
        eq("MSRP://Host.Example:7/abc;TCP", "msrp://host.example:7/abc;tcp"),
        "scheme, host, transport ignore case"
    );
    assert!(
        eq("msrp://user@h%2Dx:7/abc;tcp", "msrp://h-x:7/abc;tcp"),
        "userinfo ignored, unreserved escapes decoded"
    );
    assert!(
        !eq("msrp://h:7/abc;tcp", "msrp://h/abc;tcp"),
        "explicit port never equals none"
    );
    assert!(
        !eq("msrp://h:7/abc;tcp", "msrp://h:7/ABC;tcp"),
        "session-id is case-sensitive"
    );
    assert!(
        !eq("msrp://h:7/abc;tcp", "msrp://h:7;tcp"),
        "absent session-id never equals present"
    );
    assert!(
        !eq("msrp://h:7/abc;tcp", "msrp://h:7/abc;sctp"),
        "transport differs"
    );
    assert!(!eq("msrps://h:7/abc;tcp", "msrp://h:7/abc;tcp"), "scheme differs");
    assert!(
        eq("msrp://h:7/abc;tcp;x=1", "msrp://h:7/abc;tcp"),
        "other parameters ignored"
    );
    let a = MsrpUri::parse("msrp://10.0.0.1:7/abc;tcp").unwrap();
    assert!(
        a.matches_session_id(&MsrpUri::parse("msrp://192.0.2.9:9/abc;tcp").unwrap()),
        "RFC 6714 by session-id"
    );
}

#[test]
fn builder_round_trips_and_reports_small_buffers() {
    let mut buf = [0u8; 512];
    let mut w = Writer::new(&mut buf);
    w.request_line("t1234", Method::Send).unwrap();
    w.header("To-Path", "msrp://b:1/s;tcp").unwrap();
    w.header("From-Path", "msrp://a:2/t;tcp").unwrap();
    w.header("Message-ID", "m9").unwrap();
    w.byte_range(&ByteRange {
        start: 1,
        end: Some(5),
        total: Some(5),
    })
    .unwrap();
    w.header("Content-Type", "text/plain").unwrap();
    w.blank_line().unwrap();
    w.bytes(b"hello").unwrap();
    w.end_line("t1234", Continuation::Complete, true).unwrap();
    let n = w.len();
    let Parsed::Complete(m, used) = parse_message(&buf[..n]).unwrap() else {
        panic!()
    };
    assert_eq!((m.body, used), (&b"hello"[..], n));
    assert_eq!(m.head.byte_range().unwrap().unwrap().end, Some(5));
    drop(m);

    let n = write_response(
        &mut buf,
        "t1234",
        200,
        Some("OK"),
        "msrp://a:2/t;tcp",
        "msrp://b:1/s;tcp",
    )
    .unwrap();
    let Parsed::Complete(r, _) = parse_message(&buf[..n]).unwrap() else {
        panic!()
    };
    assert_eq!(r.head.status_code(), Some(200));
    drop(r);
    let status = Status {
        namespace: 0,
        code: 413,
        comment: Some("too big"),
    };
    let range = ByteRange {
        start: 1,
        end: Some(9),
        total: Some(20),
    };
    let n = write_report(
        &mut buf,
        "rep1",
        "msrp://a:2/t;tcp",
        "msrp://b:1/s;tcp",
        "m9",
        Some(&range),
        &status,
    )
    .unwrap();
    let Parsed::Complete(rep, _) = parse_message(&buf[..n]).unwrap() else {
        panic!()
    };
    assert_eq!(rep.head.status().unwrap(), Some(status));
    assert_eq!(rep.head.byte_range().unwrap(), Some(range));
    let mut tiny = [0u8; 20];
    assert!(write_response(
        &mut tiny,
        "t1234",
        200,
        None,
        "msrp://a:2/t;tcp",
        "msrp://b:1/s;tcp"
    )
    .is_err());
}
