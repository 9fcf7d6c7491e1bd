//! SDP for MSRP: the RFC 4975 and RFC 5547 vectors, the offer/answer tables row by row, round trips.

use proptest::prelude::*;
use simple_im_core::sdp::attrs::{FileDate, FileRange, Hash};
use simple_im_core::sdp::offer_answer::write_rejection;
use simple_im_core::sdp::{
    check_answer, negotiate, AnswerError, BuildError, Connection, Direction, FileSelector, FileTransfer,
    LocalCaps, MsrpMediaDesc, NegotiateError, Origin, ParseError, Role, Session, SessionDesc, Setup,
};

fn vector(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/vectors/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// Undoes the RFC's "split in several lines for formatting purposes": a line starting with spaces
/// continues the previous one, joined by one space, or by nothing after a `:` (inside a hash value).
fn unfold(bytes: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with(' ') {
            while out.ends_with("\r\n") {
                out.truncate(out.len() - 2);
            }
            if !out.ends_with(':') {
                out.push(' ');
            }
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
    }
    out.into_bytes()
}

const ORIGIN: Origin<'static> = Origin {
    username: "bob",
    session_id: "2890844612",
    session_version: "2890844612",
    net_type: "IN",
    addr_type: "IP4",
    address: "bob.example.com",
};
const CONN: Connection<'static> = Connection {
    net_type: "IN",
    addr_type: "IP4",
    address: "bob.example.com",
};

fn caps<'x>(types: &'x [&'x str], path: &'x [&'x str]) -> LocalCaps<'x> {
    LocalCaps {
        accept_types: types,
        accept_wrapped_types: &[],
        path,
        port: 8493,
        max_size: None,
        prefer_passive: false,
        accept_file_transfer: false,
    }
}

#[test]
fn rfc4975_fig9_sdp_a_sdp() {
    let bytes = vector("rfc4975/fig9-sdp-a.sdp");
    let offer = Session::parse(&bytes).unwrap();
    assert_eq!(offer.origin().unwrap().username, "usera");
    assert_eq!(offer.name(), Some(" -"));
    assert_eq!(offer.connection().unwrap().address, "alice.example.com");
    assert_eq!(offer.timing(), Some(("0", "0")));
    let m = offer.msrp_media().unwrap();
    assert_eq!(
        (m.port(), m.proto(), m.formats().collect::<Vec<_>>()),
        (Some(7394), Some("TCP/MSRP"), vec!["*"])
    );
    assert_eq!(
        m.accept_types().collect::<Vec<_>>(),
        ["message/cpim", "text/plain", "text/html"]
    );
    assert_eq!(
        m.path().collect::<Vec<_>>(),
        ["msrp://alice.example.com:7394/2s93i93idj;tcp"]
    );
    // Bob (Figure 10) accepts message/cpim and text/plain only.
    let local_path = ["msrp://bob.example.com:8493/si438dsaodes;tcp"];
    let local = caps(&["message/cpim", "text/plain"], &local_path);
    let neg = negotiate(&offer, &local).unwrap();
    assert_eq!(neg.accept_types.as_slice(), ["message/cpim", "text/plain"]);
    assert_eq!((neg.setup, neg.role), (None, Role::Passive));
    let mut buf = [0u8; 512];
    let n = neg
        .write_answer(&offer, &local, &ORIGIN, Some(&CONN), &mut buf)
        .unwrap();
    let answer = Session::parse(&buf[..n]).unwrap();
    let am = answer.msrp_media().unwrap();
    assert_eq!(
        am.accept_types().collect::<Vec<_>>(),
        ["message/cpim", "text/plain"]
    );
    assert_eq!(am.path().collect::<Vec<_>>(), local_path);
    assert_eq!(check_answer(&offer, &answer).unwrap().offerer_role, Role::Active);
}

#[test]
fn rfc4975_fig10_sdp_b_sdp() {
    let offer_bytes = vector("rfc4975/fig9-sdp-a.sdp");
    let bytes = vector("rfc4975/fig10-sdp-b.sdp");
    let answer = Session::parse(&bytes).unwrap();
    let m = answer.msrp_media().unwrap();
    assert_eq!(m.port(), Some(8493));
    assert_eq!(
        m.accept_types().collect::<Vec<_>>(),
        ["message/cpim", "text/plain"]
    );
    let agreement = check_answer(&Session::parse(&offer_bytes).unwrap(), &answer).unwrap();
    // No a=setup anywhere: the offerer connects (RFC 4975 §8.5).
    assert_eq!(agreement.offerer_role, Role::Active);
    assert_eq!(agreement.direction, Direction::SendRecv);
}

#[test]
fn rfc4975_s11_1_step1_invite_sdp() {
    let bytes = vector("rfc4975/s11.1-step1-invite.sdp");
    let offer = Session::parse(&bytes).unwrap();
    let m = offer.msrp_media().unwrap();
    assert_eq!(m.port(), Some(7777));
    assert_eq!(
        m.path().next(),
        Some("msrp://alicepc.example.com:7777/iau39soe2843z;tcp")
    );
    // A peer accepting only text/* answers with the offered text/plain.
    let path = ["msrp://bob.example.com:8888/9di4eae923wzd;tcp"];
    let neg = negotiate(&offer, &caps(&["text/*"], &path)).unwrap();
    assert_eq!(neg.accept_types.as_slice(), ["text/plain"]);
    assert_eq!(
        negotiate(&offer, &caps(&["message/cpim"], &path)).unwrap_err(),
        NegotiateError::NoCommonAcceptType
    );
}

#[test]
fn rfc4975_s11_1_step2_200ok_sdp() {
    let offer_bytes = vector("rfc4975/s11.1-step1-invite.sdp");
    let bytes = vector("rfc4975/s11.1-step2-200ok.sdp");
    let answer = Session::parse(&bytes).unwrap();
    assert_eq!(answer.origin().unwrap().session_version, "2890844616");
    let agreement = check_answer(&Session::parse(&offer_bytes).unwrap(), &answer).unwrap();
    assert_eq!(agreement.media_index, 0);
    assert_eq!(agreement.offerer_role, Role::Active);
}

/// Parses a RFC 5547 vector: as published the folded file-selector is a malformed SDP line at
/// `folded_line`; unfolded, it parses.
fn rfc5547(path: &str, folded_line: Option<usize>) -> Vec<u8> {
    let bytes = vector(path);
    match folded_line {
        Some(line) => {
            assert_eq!(
                Session::parse(&bytes),
                Err(ParseError::MalformedLine { line }),
                "{path}"
            );
            unfold(&bytes)
        }
        None => bytes,
    }
}

const HASH_1: &str = "72:24:5F:E8:65:3D:DA:F3:71:36:2F:86:D4:71:91:3E:E4:A2:CE:2E";

#[test]
fn rfc5547_fig2_file_selector_sdp() {
    let bytes = rfc5547("rfc5547/fig2-file-selector.sdp", Some(13));
    let s = Session::parse(&bytes).unwrap();
    assert_eq!(s.name(), Some(""));
    let m = s.msrp_media().unwrap();
    assert_eq!(m.title(), Some("This is my latest picture"));
    assert_eq!(m.direction(), Some(Direction::SendOnly));
    assert_eq!(m.accept_wrapped_types().collect::<Vec<_>>(), ["*"]);
    let sel = m.file_selector().unwrap();
    assert_eq!(sel.name, Some("My cool picture.jpg"));
    assert_eq!(sel.media_type, Some("image/jpeg"));
    assert_eq!(sel.size, Some(32349));
    assert_eq!(
        sel.hash,
        Some(Hash {
            algorithm: "sha-1",
            value: HASH_1
        })
    );
    let mut digest = [0u8; 20];
    assert_eq!(sel.hash.unwrap().bytes(&mut digest).unwrap().len(), 20);
    assert_eq!(m.file_transfer_id(), Some("vBnG916bdberum2fFEABR1FR3ExZMUrd"));
    assert_eq!(m.file_disposition(), Some("attachment"));
    assert_eq!(
        m.file_date().unwrap().creation,
        Some("Mon, 15 May 2006 15:01:31 +0300")
    );
    assert_eq!(m.file_icon(), Some("cid:id2@alicepc.example.com"));
    assert_eq!(
        m.file_range(),
        Some(FileRange {
            start: 1,
            stop: Some(32349)
        })
    );
}

fn file_caps<'x>(path: &'x [&'x str]) -> LocalCaps<'x> {
    LocalCaps {
        accept_file_transfer: true,
        accept_wrapped_types: &["*"],
        ..caps(&["message/cpim"], path)
    }
}

#[test]
fn rfc5547_fig8_offer_sdp() {
    let bytes = rfc5547("rfc5547/fig8-offer.sdp", Some(13));
    let offer = Session::parse(&bytes).unwrap();
    let m = offer.msrp_media().unwrap();
    assert_eq!(m.file_selector().unwrap().size, Some(4092));
    assert_eq!(m.file_disposition(), Some("render"));
    // Declined when file transfer is off; answered recvonly with the same selector and id when on.
    let path = ["msrp://bobpc.example.com:8888/9di4ea;tcp"];
    assert_eq!(
        negotiate(&offer, &caps(&["message/cpim"], &path)).unwrap_err(),
        NegotiateError::FileTransferDeclined
    );
    let local = file_caps(&path);
    let neg = negotiate(&offer, &local).unwrap();
    assert_eq!(neg.direction, Some(Direction::RecvOnly));
    let mut buf = [0u8; 1024];
    let n = neg
        .write_answer(&offer, &local, &ORIGIN, Some(&CONN), &mut buf)
        .unwrap();
    let answer = Session::parse(&buf[..n]).unwrap();
    let am = answer.msrp_media().unwrap();
    assert_eq!(am.file_selector(), m.file_selector());
    assert_eq!(am.file_transfer_id(), Some("Q6LMoGymJdh0IKIgD6wD0jkcfgva4xvE"));
    assert_eq!(am.accept_wrapped_types().collect::<Vec<_>>(), ["*"]);
    assert_eq!(
        check_answer(&offer, &answer).unwrap().direction,
        Direction::RecvOnly
    );
}

#[test]
fn rfc5547_fig9_answer_sdp() {
    let offer = rfc5547("rfc5547/fig8-offer.sdp", Some(13));
    let bytes = rfc5547("rfc5547/fig9-answer.sdp", Some(12));
    let answer = Session::parse(&bytes).unwrap();
    assert_eq!(
        answer.msrp_media().unwrap().direction(),
        Some(Direction::RecvOnly)
    );
    let agreement = check_answer(&Session::parse(&offer).unwrap(), &answer).unwrap();
    assert_eq!(agreement.direction, Direction::RecvOnly);
}

#[test]
fn rfc5547_fig15_offer_sdp() {
    let bytes = rfc5547("rfc5547/fig15-offer.sdp", Some(12));
    let offer = Session::parse(&bytes).unwrap();
    let m = offer.msrp_media().unwrap();
    // The requester knows only the hash of the file it wants.
    let sel = m.file_selector().unwrap();
    assert_eq!(
        sel,
        FileSelector {
            hash: Some(Hash {
                algorithm: "sha-1",
                value: HASH_1
            }),
            ..Default::default()
        }
    );
    assert_eq!(m.direction(), Some(Direction::RecvOnly));
    let path = ["msrp://bobpc.example.com:8888/9di4ea;tcp"];
    assert_eq!(
        negotiate(&offer, &file_caps(&path)).unwrap().direction,
        Some(Direction::SendOnly)
    );
}

#[test]
fn rfc5547_fig16_answer_sdp() {
    let offer = rfc5547("rfc5547/fig15-offer.sdp", Some(12));
    let bytes = rfc5547("rfc5547/fig16-answer.sdp", Some(12));
    let answer = Session::parse(&bytes).unwrap();
    let m = answer.msrp_media().unwrap();
    assert_eq!(m.file_selector().unwrap().media_type, Some("image/jpeg"));
    assert_eq!(
        check_answer(&Session::parse(&offer).unwrap(), &answer)
            .unwrap()
            .direction,
        Direction::SendOnly
    );
}

#[test]
fn rfc5547_fig19_offer_sdp() {
    let bytes = rfc5547("rfc5547/fig19-offer.sdp", Some(13));
    let offer = Session::parse(&bytes).unwrap();
    let m = offer.msrp_media().unwrap();
    assert_eq!(m.file_selector().unwrap().name, Some("sunset.jpg"));
    assert_eq!(m.file_transfer_id(), Some("ZVE8MfI9mhAdZ8GyiNMzNN5dpqgzQlCO"));
    assert_eq!(offer.origin().unwrap().session_version, "2890844527");
}

#[test]
fn rfc5547_fig20_answer_sdp() {
    let offer = rfc5547("rfc5547/fig19-offer.sdp", Some(13));
    let bytes = rfc5547("rfc5547/fig20-answer.sdp", Some(12));
    let answer = Session::parse(&bytes).unwrap();
    assert_eq!(answer.msrp_media().unwrap().file_disposition(), Some("render"));
    assert!(check_answer(&Session::parse(&offer).unwrap(), &answer).is_ok());
    // Against the first transfer's offer (another file-transfer-id) the same answer does not fit.
    let first = rfc5547("rfc5547/fig8-offer.sdp", Some(13));
    assert_eq!(
        check_answer(&Session::parse(&first).unwrap(), &answer),
        Err(AnswerError::FileTransferIdMismatch)
    );
}

#[test]
fn rfc5547_fig24_options_200ok_sdp() {
    let bytes = rfc5547("rfc5547/fig24-options-200ok.sdp", None);
    let s = Session::parse(&bytes).unwrap();
    let m = s.msrp_media().unwrap();
    assert_eq!(m.port(), Some(0));
    assert_eq!(m.max_size(), Some(20000));
    // The bare attribute signals support for file transfer.
    assert!(m.file_selector().unwrap().is_empty());
    // A port-0 media line is not an offer to answer.
    assert_eq!(
        negotiate(&s, &file_caps(&["msrp://x:1/y;tcp"])).unwrap_err(),
        NegotiateError::NoMsrpMedia
    );
}

#[test]
fn too_many_lines_is_typed() {
    let mut text = String::from("v=0\r\n");
    for _ in 0..simple_im_core::sdp::MAX_LINES {
        text.push_str("a=x\r\n");
    }
    assert_eq!(Session::parse(text.as_bytes()), Err(ParseError::TooManyLines));
}

// ---- offer/answer tables, row by row ----

fn offer_with(setup: Option<&str>, extra: &str) -> Vec<u8> {
    let mut s = String::from("v=0\r\no=a 1 1 IN IP4 a.example\r\ns=-\r\nc=IN IP4 a.example\r\nt=0 0\r\nm=message 7 TCP/MSRP *\r\na=accept-types:message/cpim text/*\r\na=path:msrp://a.example:7/x;tcp\r\n");
    if let Some(v) = setup {
        s.push_str(&format!("a=setup:{v}\r\n"));
    }
    s.push_str(extra);
    s.into_bytes()
}

fn answer_with(setup: Option<&str>, extra: &str) -> Vec<u8> {
    let mut s = String::from("v=0\r\no=b 1 1 IN IP4 b.example\r\ns=-\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://b.example:9/y;tcp\r\n");
    if let Some(v) = setup {
        s.push_str(&format!("a=setup:{v}\r\n"));
    }
    s.push_str(extra);
    s.into_bytes()
}

const PATH: [&str; 1] = ["msrp://b.example:9/y;tcp"];

fn negotiated_setup(offer_setup: Option<&str>, prefer_passive: bool) -> (Option<Setup>, Role) {
    let bytes = offer_with(offer_setup, "");
    let offer = Session::parse(&bytes).unwrap();
    let local = LocalCaps {
        prefer_passive,
        ..caps(&["text/plain"], &PATH)
    };
    let n = negotiate(&offer, &local).unwrap();
    (n.setup, n.role)
}

#[test]
fn answer_row_actpass_offer_answers_active() {
    assert_eq!(
        negotiated_setup(Some("actpass"), false),
        (Some(Setup::Active), Role::Active)
    );
}

#[test]
fn answer_row_actpass_offer_answers_passive_when_preferred() {
    assert_eq!(
        negotiated_setup(Some("actpass"), true),
        (Some(Setup::Passive), Role::Passive)
    );
}

#[test]
fn answer_row_active_offer_answers_passive() {
    assert_eq!(
        negotiated_setup(Some("active"), false),
        (Some(Setup::Passive), Role::Passive)
    );
}

#[test]
fn answer_row_passive_offer_answers_active() {
    assert_eq!(
        negotiated_setup(Some("passive"), false),
        (Some(Setup::Active), Role::Active)
    );
}

#[test]
fn answer_row_no_setup_holdconn_or_unknown_means_offerer_connects() {
    for setup in [None, Some("holdconn"), Some("bogus")] {
        assert_eq!(negotiated_setup(setup, true), (None, Role::Passive), "{setup:?}");
    }
}

#[test]
fn answer_row_sendonly_and_recvonly_are_reversed() {
    for (offered, answered) in [
        ("sendonly", Direction::RecvOnly),
        ("recvonly", Direction::SendOnly),
        ("inactive", Direction::Inactive),
    ] {
        let bytes = offer_with(None, &format!("a={offered}\r\n"));
        let n = negotiate(&Session::parse(&bytes).unwrap(), &caps(&["*"], &PATH)).unwrap();
        assert_eq!(n.direction, Some(answered));
    }
}

#[test]
fn answer_row_wildcards_intersect_to_the_narrower_entry() {
    let bytes = offer_with(None, "");
    let offer = Session::parse(&bytes).unwrap();
    let n = negotiate(&offer, &caps(&["*"], &PATH)).unwrap();
    assert_eq!(n.accept_types.as_slice(), ["message/cpim", "text/*"]);
    let n = negotiate(&offer, &caps(&["text/plain", "text/html", "image/png"], &PATH)).unwrap();
    assert_eq!(n.accept_types.as_slice(), ["text/plain", "text/html"]);
}

#[test]
fn answer_row_other_media_lines_are_rejected_in_place() {
    let bytes = String::from_utf8(offer_with(None, ""))
        .unwrap()
        .replace("m=message", "m=audio 49170 RTP/AVP 0\r\nm=message");
    let offer = Session::parse(bytes.as_bytes()).unwrap();
    let local = caps(&["text/plain"], &PATH);
    let n = negotiate(&offer, &local).unwrap();
    assert_eq!(n.media_index, 1);
    let mut buf = [0u8; 512];
    let len = n.write_answer(&offer, &local, &ORIGIN, None, &mut buf).unwrap();
    let answer = Session::parse(&buf[..len]).unwrap();
    let media: Vec<_> = answer.media().map(|m| (m.media_type(), m.port())).collect();
    assert_eq!(media, [(Some("audio"), Some(0)), (Some("message"), Some(8493))]);
    assert_eq!(check_answer(&offer, &answer).unwrap().media_index, 1);
}

#[test]
fn answer_row_no_msrp_media_is_rejected_with_port_zero() {
    let offer =
        Session::parse(b"v=0\r\no=a 1 1 IN IP4 a\r\ns=-\r\nt=0 0\r\nm=audio 4 RTP/AVP 0\r\n").unwrap();
    assert_eq!(
        negotiate(&offer, &caps(&["*"], &PATH)).unwrap_err(),
        NegotiateError::NoMsrpMedia
    );
    let mut buf = [0u8; 256];
    let n = write_rejection(&offer, &ORIGIN, None, &mut buf).unwrap();
    let answer = Session::parse(&buf[..n]).unwrap();
    assert_eq!(answer.media().next().unwrap().port(), Some(0));
}

fn check(offer_setup: Option<&str>, answer_setup: Option<&str>) -> Result<Role, AnswerError> {
    let o = offer_with(offer_setup, "");
    let a = answer_with(answer_setup, "");
    let (offer, answer) = (Session::parse(&o).unwrap(), Session::parse(&a).unwrap());
    check_answer(&offer, &answer).map(|g| g.offerer_role)
}

#[test]
fn check_row_actpass_active_offerer_passive() {
    assert_eq!(check(Some("actpass"), Some("active")), Ok(Role::Passive));
}

#[test]
fn check_row_actpass_passive_or_none_offerer_active() {
    assert_eq!(check(Some("actpass"), Some("passive")), Ok(Role::Active));
    assert_eq!(check(Some("actpass"), None), Ok(Role::Active));
}

#[test]
fn check_row_active_passive_or_none_offerer_active() {
    assert_eq!(check(Some("active"), Some("passive")), Ok(Role::Active));
    assert_eq!(check(Some("active"), None), Ok(Role::Active));
}

#[test]
fn check_row_passive_active_offerer_passive() {
    assert_eq!(check(Some("passive"), Some("active")), Ok(Role::Passive));
}

#[test]
fn check_row_none_passive_or_none_offerer_active() {
    assert_eq!(check(None, Some("passive")), Ok(Role::Active));
    assert_eq!(check(None, None), Ok(Role::Active));
}

#[test]
fn check_row_other_setup_combinations_conflict() {
    for (o, a) in [
        (Some("actpass"), Some("actpass")),
        (Some("active"), Some("active")),
        (Some("passive"), Some("passive")),
        (Some("passive"), None),
        (None, Some("active")),
    ] {
        assert_eq!(check(o, a), Err(AnswerError::SetupConflict), "{o:?} {a:?}");
    }
}

#[test]
fn check_rows_rejections_and_mismatches() {
    let offer = offer_with(
        None,
        "a=sendonly\r\na=file-selector:size:1\r\na=file-transfer-id:abc\r\n",
    );
    let offer = Session::parse(&offer).unwrap();
    let cases: Vec<(String, AnswerError)> = vec![
        (
            String::from_utf8(answer_with(None, ""))
                .unwrap()
                .replace("message 9", "message 0"),
            AnswerError::Rejected,
        ),
        (
            String::from_utf8(answer_with(None, ""))
                .unwrap()
                .replace("TCP/MSRP", "TCP/TLS/MSRP"),
            AnswerError::ProtocolMismatch,
        ),
        (
            String::from_utf8(answer_with(None, ""))
                .unwrap()
                .replace("text/plain", "image/png"),
            AnswerError::NoCommonAcceptType,
        ),
        (
            String::from_utf8(answer_with(None, ""))
                .unwrap()
                .replace("a=accept-types:text/plain\r\n", ""),
            AnswerError::MissingAcceptTypes,
        ),
        (
            String::from_utf8(answer_with(None, ""))
                .unwrap()
                .replace("a=path:msrp://b.example:9/y;tcp\r\n", ""),
            AnswerError::MissingPath,
        ),
        (
            String::from_utf8(answer_with(None, "a=sendonly\r\na=file-transfer-id:abc\r\n")).unwrap(),
            AnswerError::DirectionMismatch,
        ),
        (
            String::from_utf8(answer_with(None, "a=recvonly\r\na=file-transfer-id:xyz\r\n")).unwrap(),
            AnswerError::FileTransferIdMismatch,
        ),
        (
            String::from_utf8(answer_with(None, "a=recvonly\r\n")).unwrap(),
            AnswerError::FileTransferIdMismatch,
        ),
        ("v=0\r\ns=-\r\n".to_string(), AnswerError::MediaCountMismatch),
    ];
    for (answer, want) in cases {
        assert_eq!(
            check_answer(&offer, &Session::parse(answer.as_bytes()).unwrap()),
            Err(want),
            "{answer}"
        );
    }
    let good = answer_with(None, "a=recvonly\r\na=file-transfer-id:abc\r\n");
    assert!(check_answer(&offer, &Session::parse(&good).unwrap()).is_ok());
}

#[test]
fn builder_errors_are_typed() {
    let media = MsrpMediaDesc {
        port: 7,
        tls: false,
        title: None,
        direction: None,
        accept_types: &["text/plain"],
        accept_wrapped_types: &[],
        path: &["msrp://a:7/x;tcp"],
        max_size: None,
        setup: Some(Setup::ActPass),
        file: None,
    };
    let desc = |m: &'static [MsrpMediaDesc<'static>]| SessionDesc {
        origin: ORIGIN,
        session_name: "-",
        connection: None,
        media: m,
    };
    let mut small = [0u8; 40];
    assert_eq!(
        desc(std::slice::from_ref(Box::leak(Box::new(media)))).write(&mut small),
        Err(BuildError::BufferTooSmall)
    );
    let mut buf = [0u8; 512];
    let no_types = MsrpMediaDesc {
        accept_types: &[],
        ..media
    };
    assert_eq!(
        desc(Box::leak(Box::new([no_types]))).write(&mut buf),
        Err(BuildError::EmptyAcceptTypes)
    );
    let no_path = MsrpMediaDesc { path: &[], ..media };
    assert_eq!(
        desc(Box::leak(Box::new([no_path]))).write(&mut buf),
        Err(BuildError::EmptyPath)
    );
    let hold = MsrpMediaDesc {
        setup: Some(Setup::HoldConn),
        ..media
    };
    assert_eq!(
        desc(Box::leak(Box::new([hold]))).write(&mut buf),
        Err(BuildError::HoldConnNotAllowed)
    );
    let bad = MsrpMediaDesc {
        title: Some("a\r\nb=evil"),
        ..media
    };
    assert_eq!(
        desc(Box::leak(Box::new([bad]))).write(&mut buf),
        Err(BuildError::InvalidValue)
    );
}

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,12}"
}

proptest! {
    #[test]
    fn build_then_parse_round_trips(
        port in 1u16.., tls in any::<bool>(),
        types in proptest::collection::vec("(\\*|[a-z]{1,6}/(\\*|[a-z0-9.+-]{1,8}))", 1..5),
        paths in proptest::collection::vec("msrp://[a-z]{1,8}\\.example:[0-9]{1,5}/[a-z0-9]{1,10};tcp", 1..3),
        max_size in proptest::option::of(any::<u64>()),
        setup in proptest::option::of(prop_oneof![Just(Setup::Active), Just(Setup::Passive), Just(Setup::ActPass)]),
        direction in proptest::option::of(prop_oneof![Just(Direction::SendOnly), Just(Direction::RecvOnly), Just(Direction::SendRecv), Just(Direction::Inactive)]),
        file in proptest::option::of((token(), "[a-zA-Z0-9 ._-]{1,16}", any::<u64>(), 1u64..1000, proptest::option::of(1000u64..2000))),
        user in token(),
    ) {
        let type_refs: Vec<&str> = types.iter().map(String::as_str).collect();
        let path_refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let file = file.as_ref().map(|(id, name, size, start, stop)| FileTransfer {
            selector: FileSelector { name: Some(name.as_str()), media_type: Some("image/jpeg"), size: Some(*size), hash: Some(Hash { algorithm: "sha-1", value: "0A:FF" }) },
            transfer_id: id.as_str(),
            disposition: Some("attachment"),
            date: Some(FileDate { creation: Some("Mon, 15 May 2006 15:01:31 +0300"), modification: None, read: Some("x") }),
            icon: Some("cid:i@x"),
            range: Some(FileRange { start: *start, stop: *stop }),
        });
        let media = [MsrpMediaDesc { port, tls, title: Some("a title"), direction, accept_types: &type_refs, accept_wrapped_types: &["*"], path: &path_refs, max_size, setup, file }];
        let origin = Origin { username: &user, ..ORIGIN };
        let desc = SessionDesc { origin, session_name: "-", connection: Some(CONN), media: &media };
        let mut buf = [0u8; 2048];
        let n = desc.write(&mut buf).unwrap();
        let s = Session::parse(&buf[..n]).unwrap();
        prop_assert_eq!(s.origin(), Some(origin));
        prop_assert_eq!(s.connection(), Some(CONN));
        let m = s.msrp_media().unwrap();
        prop_assert_eq!(m.port(), Some(port));
        prop_assert_eq!(m.is_tls(), tls);
        prop_assert_eq!(m.title(), Some("a title"));
        prop_assert_eq!(m.accept_types().collect::<Vec<_>>(), type_refs.clone());
        prop_assert_eq!(m.path().collect::<Vec<_>>(), path_refs.clone());
        prop_assert_eq!(m.max_size(), max_size);
        prop_assert_eq!(m.setup(), setup);
        prop_assert_eq!(m.direction(), direction);
        if let Some(f) = file {
            prop_assert_eq!(m.file_selector(), Some(f.selector));
            prop_assert_eq!(m.file_transfer_id(), Some(f.transfer_id));
            prop_assert_eq!(m.file_disposition(), f.disposition);
            prop_assert_eq!(m.file_date(), f.date);
            prop_assert_eq!(m.file_icon(), f.icon);
            prop_assert_eq!(m.file_range(), f.range);
        } else {
            prop_assert_eq!(m.file_selector(), None);
        }
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(s) = Session::parse(&bytes) {
            for m in s.media() {
                let _ = (m.port(), m.setup(), m.direction(), m.file_selector(), m.file_range(), m.file_date(), m.max_size());
            }
        }
    }
}
