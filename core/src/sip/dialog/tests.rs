//! One test per §12 rule in the table of the `dialog` module docs.

use super::*;
use std::vec;

const ALICE: &str = "sip:alice@atlanta.example.com";
const BOB: &str = "sip:bob@biloxi.example.com";

/// The 180/200 Bob sends Alice, as Alice's UA extracts it (RFC 3665-style two-proxy path).
fn response_parts<'a>(record_route: &'a [&'a str]) -> DialogParts<'a> {
    DialogParts {
        call_id: "a84b4c76e66710",
        from_uri: ALICE,
        from_tag: "1928301774",
        to_uri: BOB,
        to_tag: "a6c85cf",
        contact: Some("sip:bob@192.0.2.4"),
        record_route,
        cseq: 314159,
    }
}

const RR: [&str; 2] = [
    "<sip:p2.biloxi.example.com;lr>",
    "<sip:p1.atlanta.example.com;lr>",
];

#[test]
fn s12_1_only_tagged_1xx_and_2xx_to_invite_create_dialogs() {
    let parts = response_parts(&[]);
    let early = Dialog::new_uac(DialogUsage::Invite, 180, &parts, false).unwrap();
    assert_eq!(early.state(), DialogState::Early);
    let confirmed = Dialog::new_uac(DialogUsage::Invite, 200, &parts, false).unwrap();
    assert_eq!(confirmed.state(), DialogState::Confirmed);
    let untagged = DialogParts { to_tag: "", ..parts };
    assert_eq!(
        Dialog::new_uac(DialogUsage::Invite, 180, &untagged, false),
        Err(DialogError::NotDialogCreating(180))
    );
    assert_eq!(
        Dialog::new_uac(DialogUsage::Invite, 100, &parts, false),
        Err(DialogError::NotDialogCreating(100))
    );
    assert_eq!(
        Dialog::new_uac(DialogUsage::Invite, 486, &parts, false),
        Err(DialogError::NotDialogCreating(486))
    );
    // SUBSCRIBE: only the 2xx (RFC 6665).
    assert_eq!(
        Dialog::new_uac(DialogUsage::Subscribe, 180, &parts, false),
        Err(DialogError::NotDialogCreating(180))
    );
    assert_eq!(
        Dialog::new_uac(DialogUsage::Subscribe, 202, &parts, false)
            .unwrap()
            .state(),
        DialogState::Confirmed
    );
    // A 2xx without To tag (RFC 2543 peer) still creates a dialog with a null remote tag.
    let d = Dialog::new_uac(DialogUsage::Invite, 200, &untagged, false).unwrap();
    assert_eq!(d.id().remote_tag(), "");
}

#[test]
fn s12_1_1_uas_state_from_request() {
    let request = DialogParts {
        call_id: "a84b4c76e66710",
        from_uri: ALICE,
        from_tag: "1928301774",
        to_uri: BOB,
        to_tag: "",
        contact: Some("sip:alice@pc33.atlanta.example.com"),
        record_route: &RR,
        cseq: 314159,
    };
    let d = Dialog::new_uas(DialogUsage::Invite, 200, &request, "a6c85cf", false).unwrap();
    assert_eq!(
        d.route_set().collect::<std::vec::Vec<_>>(),
        RR.to_vec(),
        "in request order"
    );
    assert_eq!(d.remote_target(), "sip:alice@pc33.atlanta.example.com");
    assert_eq!((d.remote_seq(), d.local_seq()), (Some(314159), None));
    assert_eq!(
        (d.id().local_tag(), d.id().remote_tag()),
        ("a6c85cf", "1928301774")
    );
    assert_eq!((d.local_uri(), d.remote_uri()), (BOB, ALICE));
    assert_eq!(d.id().call_id(), "a84b4c76e66710");
    // From tag absent: null remote tag is accepted; a missing Contact is not.
    let no_from_tag = DialogParts {
        from_tag: "",
        ..request
    };
    assert_eq!(
        Dialog::new_uas(DialogUsage::Invite, 180, &no_from_tag, "x", false)
            .unwrap()
            .id()
            .remote_tag(),
        ""
    );
    let no_contact = DialogParts {
        contact: None,
        ..request
    };
    assert_eq!(
        Dialog::new_uas(DialogUsage::Invite, 200, &no_contact, "x", false),
        Err(DialogError::Missing(Field::Contact))
    );
}

#[test]
fn s12_1_2_uac_state_from_response_with_reversed_route_set() {
    let d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&RR), false).unwrap();
    assert_eq!(d.route_set().collect::<std::vec::Vec<_>>(), vec![RR[1], RR[0]]);
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.4");
    assert_eq!((d.local_seq(), d.remote_seq()), (Some(314159), None));
    assert_eq!(
        (d.id().local_tag(), d.id().remote_tag()),
        ("1928301774", "a6c85cf")
    );
    assert_eq!((d.local_uri(), d.remote_uri()), (ALICE, BOB));
    assert!(
        d.id().matches("a84b4c76e66710", "1928301774", "A6C85CF"),
        "tags ignore case"
    );
    assert!(
        !d.id().matches("A84B4C76E66710", "1928301774", "a6c85cf"),
        "Call-ID is case-sensitive"
    );
}

#[test]
fn s12_1_secure_flag_needs_tls_and_sips() {
    assert!(secure_flag(true, "sips:bob@biloxi.example.com"));
    assert!(secure_flag(true, "SIPS:bob@biloxi.example.com"));
    assert!(!secure_flag(false, "sips:bob@biloxi.example.com"));
    assert!(!secure_flag(true, "sip:bob@biloxi.example.com"));
    assert!(!secure_flag(true, "sip"));
    let d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&[]), true).unwrap();
    assert!(d.is_secure());
}

#[test]
fn s13_2_2_4_2xx_confirms_early_dialog_and_recomputes_routes() {
    let mut d = Dialog::new_uac(DialogUsage::Invite, 183, &response_parts(&RR[..1]), false).unwrap();
    assert_eq!(d.route_set().count(), 1);
    let ok = DialogParts {
        contact: Some("sip:bob@192.0.2.99"),
        ..response_parts(&RR)
    };
    d.confirm_uac(&ok).unwrap();
    assert_eq!(d.state(), DialogState::Confirmed);
    assert_eq!(d.route_set().collect::<std::vec::Vec<_>>(), vec![RR[1], RR[0]]);
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.99");
}

#[test]
fn s12_2_1_1_local_cseq_increments_from_request_or_starts_at_1() {
    let mut uac = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&[]), false).unwrap();
    assert_eq!(uac.next_local_cseq(), Ok(314160));
    assert_eq!(uac.next_local_cseq(), Ok(314161));
    let request = DialogParts {
        to_tag: "",
        ..response_parts(&[])
    };
    let mut uas = Dialog::new_uas(DialogUsage::Invite, 200, &request, "t", false).unwrap();
    assert_eq!(uas.next_local_cseq(), Ok(1));
    let mut last = Dialog::new_uac(
        DialogUsage::Invite,
        200,
        &DialogParts {
            cseq: MAX_CSEQ,
            ..response_parts(&[])
        },
        false,
    )
    .unwrap();
    assert_eq!(last.next_local_cseq(), Err(DialogError::CSeqExhausted));
}

#[test]
fn s12_2_1_1_empty_route_set_targets_remote_target_without_route() {
    let d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&[]), false).unwrap();
    let t = d.request_target().unwrap();
    assert_eq!(t.request_uri.as_str(), "sip:bob@192.0.2.4");
    assert_eq!(t.routes().count(), 0);
}

#[test]
fn s12_2_1_1_loose_router_keeps_request_uri_and_whole_route_set() {
    let d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&RR), false).unwrap();
    let t = d.request_target().unwrap();
    assert_eq!(t.request_uri.as_str(), "sip:bob@192.0.2.4");
    let routes: std::vec::Vec<_> = t.routes().map(|r| std::format!("{r}")).collect();
    assert_eq!(routes, vec![RR[1], RR[0]]);
}

/// The RFC's own example in §12.2.1.1: route set <sip:proxy1>,<sip:proxy2>,<sip:proxy3;lr>,<sip:proxy4>
/// with remote target sip:user@remoteua.
#[test]
fn s12_2_1_1_strict_router_example() {
    let request = DialogParts {
        call_id: "c",
        from_uri: ALICE,
        from_tag: "f",
        to_uri: BOB,
        to_tag: "",
        contact: Some("sip:user@remoteua"),
        record_route: &["<sip:proxy1>", "<sip:proxy2>", "<sip:proxy3;lr>", "<sip:proxy4>"],
        cseq: 1,
    };
    let d = Dialog::new_uas(DialogUsage::Invite, 200, &request, "t", false).unwrap();
    let t = d.request_target().unwrap();
    assert_eq!(t.request_uri.as_str(), "sip:proxy1");
    let routes: std::vec::Vec<_> = t.routes().map(|r| std::format!("{r}")).collect();
    assert_eq!(
        routes,
        vec![
            "<sip:proxy2>",
            "<sip:proxy3;lr>",
            "<sip:proxy4>",
            "<sip:user@remoteua>"
        ]
    );
}

#[test]
fn s12_2_1_1_strict_router_uri_loses_method_param_and_headers() {
    let rr = ["<sip:proxy1;transport=tcp;method=INVITE?subject=x>"];
    let request = DialogParts {
        record_route: &rr,
        ..response_parts(&[])
    };
    let d = Dialog::new_uas(DialogUsage::Invite, 200, &request, "t", false).unwrap();
    assert_eq!(
        d.request_target().unwrap().request_uri.as_str(),
        "sip:proxy1;transport=tcp"
    );
    assert!(is_loose_route("sip:p;LR"));
    assert!(is_loose_route("sip:p;lr=on"));
    assert!(!is_loose_route("sip:lr.example.com"));
    assert!(!is_loose_route("sip:p?x=1;lr"));
}

#[test]
fn s12_2_1_2_2xx_to_target_refresh_replaces_remote_target() {
    let mut d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&RR), false).unwrap();
    d.handle_response("MESSAGE", 200, Some("sip:bob@192.0.2.50"))
        .unwrap();
    assert_eq!(
        d.remote_target(),
        "sip:bob@192.0.2.4",
        "MESSAGE is no target refresh"
    );
    d.handle_response("INVITE", 200, Some("sip:bob@192.0.2.50"))
        .unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.50");
    d.handle_response("UPDATE", 200, None).unwrap();
    assert_eq!(
        d.remote_target(),
        "sip:bob@192.0.2.50",
        "kept when the 2xx has no Contact"
    );
    assert_eq!(d.route_set().count(), 2, "the route set never changes");
}

#[test]
fn s12_2_1_2_481_and_408_terminate() {
    for code in [481, 408] {
        let mut d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&[]), false).unwrap();
        d.handle_response("INFO", 404, None).unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        d.handle_response("INFO", code, None).unwrap();
        assert_eq!(d.state(), DialogState::Terminated);
        assert_eq!(d.next_local_cseq(), Err(DialogError::Terminated));
        assert_eq!(d.handle_request("BYE", 9, None).unwrap_err().status_code(), 481);
    }
}

#[test]
fn s12_2_2_remote_cseq_monotonic_out_of_order_is_500() {
    let mut d = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&[]), false).unwrap();
    d.handle_request("INFO", 10, None).unwrap();
    assert_eq!(d.remote_seq(), Some(10));
    d.handle_request("INFO", 15, None).unwrap();
    assert_eq!(d.remote_seq(), Some(15), "gaps are fine");
    let err = d
        .handle_request("INVITE", 12, Some("sip:bob@elsewhere"))
        .unwrap_err();
    assert_eq!(
        err,
        DialogError::CSeqOutOfOrder {
            remote: 15,
            received: 12
        }
    );
    assert_eq!(err.status_code(), 500);
    assert_eq!(
        (d.remote_seq(), d.remote_target()),
        (Some(15), "sip:bob@192.0.2.4"),
        "no state change"
    );
}

#[test]
fn s12_2_2_target_refresh_request_replaces_remote_target() {
    let mut d = Dialog::new_uac(DialogUsage::Subscribe, 200, &response_parts(&[]), false).unwrap();
    d.handle_request("MESSAGE", 1, Some("sip:bob@ignored")).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.4");
    d.handle_request("NOTIFY", 2, Some("sip:bob@192.0.2.77")).unwrap();
    assert_eq!(d.remote_target(), "sip:bob@192.0.2.77");
    d.handle_request("ACK", 2, Some("sip:bob@not-a-refresh")).unwrap();
    assert_eq!(
        d.remote_target(),
        "sip:bob@192.0.2.77",
        "ACK is not a target refresh"
    );
}

#[test]
fn s12_3_non_2xx_final_ends_early_dialog_and_bye_ends_confirmed() {
    let mut early = Dialog::new_uac(DialogUsage::Invite, 180, &response_parts(&[]), false).unwrap();
    early.handle_response("INVITE", 486, None).unwrap();
    assert_eq!(early.state(), DialogState::Terminated);
    let mut confirmed = Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&[]), false).unwrap();
    confirmed.handle_response("INVITE", 488, None).unwrap();
    assert_eq!(
        confirmed.state(),
        DialogState::Confirmed,
        "a failed re-INVITE keeps the dialog"
    );
    confirmed.terminate();
    assert_eq!(confirmed.state(), DialogState::Terminated);
}

#[test]
fn capacities_are_typed_errors() {
    let five = ["<sip:a;lr>"; 5];
    assert_eq!(
        Dialog::new_uac(DialogUsage::Invite, 200, &response_parts(&five), false),
        Err(DialogError::TooManyRoutes)
    );
    let long = "x".repeat(MAX_CALL_ID_LEN + 1);
    let parts = DialogParts {
        call_id: &long,
        ..response_parts(&[])
    };
    assert_eq!(
        Dialog::new_uac(DialogUsage::Invite, 200, &parts, false),
        Err(DialogError::TooLong(Field::CallId))
    );
}

#[test]
fn generated_tags_are_distinct_hex() {
    let mut rng = crate::sim::SimRng::new(1);
    let (a, b) = (generate_tag(&mut rng), generate_tag(&mut rng));
    assert_ne!(a, b);
    assert_eq!(a.len(), GENERATED_TAG_LEN);
    assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
}
