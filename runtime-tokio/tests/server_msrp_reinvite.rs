//! Re-INVITEs inside a relayed MSRP session, end to end through the running server: the re-offer and
//! its answer are rewritten like the initial ones, so the relay stays in the media path. A refresh
//! (same paths) keeps the legs and their connections; a new MSRP address moves the chat to new legs;
//! a declined re-INVITE leaves the session as it was. A re-INVITE without SDP gets the offer in its
//! 2xx and the answer in the ACK (RFC 3261 §13.2.1): both are rewritten the same way, and an ACK
//! without the answer leaves the session as it was. Messages are
//! checked both ways after each. An UPDATE with an offer (RFC 3311) is rewritten like a re-INVITE.

mod msrp_support;
mod reinvite_support;
mod server_support;

use msrp_support::{sdp, Call};
use reinvite_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_from_the_callee_keeps_the_legs_and_a_declined_move_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();

    // Bob (the callee) refreshes the session with the same SDP: each side is offered/answered the
    // very paths it already uses, so the connections carry on.
    let mut bob_side = Side {
        call: Call {
            call_id: call.call.call_id.clone(),
            from: call.to.clone(),
            cseq: 10,
        },
        remote_target: alice.contact(),
        to: call.call.from.clone(),
        route: &call.route,
    };
    let (offered, answered) = reinvite(&mut bob, &mut bob_side, &mut alice, BOB, 200, ALICE).await;
    assert_eq!(offered, call.alice_remote, "alice is offered her own leg again");
    assert_eq!(answered.as_deref(), Some(call.bob_remote.as_str()));
    chat(&mut alice_msrp, &mut bob_msrp, "after the refresh").await;
    assert_eq!(relay.session_count(), 1);

    // Alice offers a new address but bob declines: the session stays as it was.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite(&mut alice, &mut side, &mut bob, ALICE_MOVED, 488, BOB).await;
    assert!(offered.ends_with(ALICE_MOVED), "{offered}");
    assert_ne!(offered, call.bob_remote, "a new leg for the move");
    assert!(answered.is_none());
    chat(&mut alice_msrp, &mut bob_msrp, "after the declined move").await;
    assert_eq!(relay.session_count(), 1);
    // The declined offer's leg is gone: a connection to it gets 481.
    let new_leg = offered.split_whitespace().next().unwrap();
    let relay_addr = running.msrp.unwrap().to_string();
    let probe = format!(
        "MSRP p1 SEND\r\nTo-Path: {new_leg} {ALICE_MOVED}\r\nFrom-Path: {BOB}\r\nMessage-ID: p\r\n\
Byte-Range: 1-0/0\r\n-------p1$\r\n"
    );
    let (answer, _) = msrp_support::inject(&relay_addr, probe.as_bytes()).await;
    assert!(answer.starts_with("MSRP p1 481"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_with_a_new_msrp_address_moves_the_chat_to_new_legs() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        alice_msrp,
        bob_msrp,
    } = chatting(dir.path()).await;

    let mut side = alice_side(&call);
    let (bob_remote, alice_remote) = reinvite(&mut alice, &mut side, &mut bob, ALICE_MOVED, 200, BOB).await;
    let alice_remote = alice_remote.unwrap();
    let old = (alice_msrp, bob_msrp);
    chat_after_move(
        &running,
        &call,
        old,
        (ALICE_MOVED, &alice_remote),
        (BOB, &bob_remote),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_without_sdp_has_the_offer_in_the_2xx_and_the_answer_in_the_ack_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();

    // Bob offers the paths already in use: each side sees the relay leg it is connected to.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite_without_sdp(&mut alice, &mut side, &mut bob, BOB, Some(ALICE)).await;
    let answered = answered.unwrap();
    assert_eq!(offered, call.alice_remote, "alice is offered her own leg again");
    assert_eq!(answered, call.bob_remote, "bob gets his own leg back in the ACK");
    chat(&mut alice_msrp, &mut bob_msrp, "after the refresh in the 2xx").await;
    assert_eq!(relay.session_count(), 1);

    // Bob moves in the 2xx's offer: new legs for both, announced in the 2xx and the ACK.
    let (offered, answered) =
        reinvite_without_sdp(&mut alice, &mut side, &mut bob, BOB_MOVED, Some(ALICE)).await;
    let answered = answered.unwrap();
    let old = (alice_msrp, bob_msrp);
    chat_after_move(&running, &call, old, (ALICE, &offered), (BOB_MOVED, &answered)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_an_offer_is_rewritten_like_a_reinvite() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();
    let mut side = alice_side(&call);

    // A refresh by UPDATE keeps the legs and their connections.
    let (offered, answered) =
        offer_in_dialog("UPDATE", &mut alice, &mut side, &mut bob, ALICE, 200, &sdp(BOB)).await;
    assert_eq!(offered, call.bob_remote, "bob is offered his own leg again");
    assert_eq!(answered.as_deref(), Some(call.alice_remote.as_str()));
    chat(&mut alice_msrp, &mut bob_msrp, "after the UPDATE refresh").await;

    // A declined move by UPDATE changes nothing.
    let (offered, answered) = offer_in_dialog(
        "UPDATE",
        &mut alice,
        &mut side,
        &mut bob,
        ALICE_MOVED,
        488,
        &sdp(BOB),
    )
    .await;
    assert!(offered.ends_with(ALICE_MOVED), "{offered}");
    assert!(answered.is_none());
    chat(&mut alice_msrp, &mut bob_msrp, "after the declined UPDATE").await;
    assert_eq!(relay.session_count(), 1);

    // A move by UPDATE: new legs for both ends, the old connections closed.
    let (bob_remote, alice_remote) = offer_in_dialog(
        "UPDATE",
        &mut alice,
        &mut side,
        &mut bob,
        ALICE_MOVED,
        200,
        &sdp(BOB),
    )
    .await;
    let alice_remote = alice_remote.unwrap();
    let old = (alice_msrp, bob_msrp);
    chat_after_move(
        &running,
        &call,
        old,
        (ALICE_MOVED, &alice_remote),
        (BOB, &bob_remote),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_without_the_answer_to_an_offer_in_the_2xx_leaves_the_session_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();

    // Bob offers a move in the 2xx, alice's ACK has no answer: the exchange failed (RFC 3261
    // §13.2.1 wants the answer there), so the new legs end and the chat stays on the old ones.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite_without_sdp(&mut alice, &mut side, &mut bob, BOB_MOVED, None).await;
    assert!(offered.ends_with(BOB_MOVED), "{offered}");
    assert!(answered.is_none());
    chat(&mut alice_msrp, &mut bob_msrp, "after the unanswered offer").await;
    assert_eq!(relay.session_count(), 1);
    let new_leg = offered.split_whitespace().next().unwrap();
    let probe = format!(
        "MSRP p2 SEND\r\nTo-Path: {new_leg} {BOB_MOVED}\r\nFrom-Path: {ALICE}\r\nMessage-ID: p\r\n\
Byte-Range: 1-0/0\r\n-------p2$\r\n"
    );
    let relay_addr = running.msrp.unwrap().to_string();
    let (reply, _) = msrp_support::inject(&relay_addr, probe.as_bytes()).await;
    assert!(reply.starts_with("MSRP p2 481"), "{reply}");
}
