//! An answerer that moves in a re-INVITE while the offerer stays, end to end through the running
//! server: the legs are kept (the offerer's connection and first hop do not change), the answerer's new
//! connection takes its leg over (or the relay dials a passive answerer at its new address), and the
//! old connection is released without ending the session. The offerer is a hand-written MSRP endpoint,
//! since its To-Path changes on the same connection.

mod msrp_support;
mod reinvite_support;
mod server_support;

use msrp_support::{establish, establish_with, sdp_with_setup, Outgoing, Peer};
use reinvite_support::*;
use simple_im_core::msrp::session::SessionConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answerer_that_moves_keeps_its_leg_on_a_new_connection_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (running, mut alice, mut bob) = server_with_alice_and_bob(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();
    let call = establish(&mut alice, &mut bob, ALICE, BOB).await;
    let mut alice_msrp = RawEndpoint::connect(&call.alice_remote).await;
    let mut bob_msrp = Peer::connect(BOB, &call.bob_remote, SessionConfig::default()).await;
    alice_msrp.send(&call.alice_remote, ALICE, "hello bob").await;
    assert_eq!(bob_msrp.message(WAIT).await.1, b"hello bob");

    // Alice re-offers her own path; bob answers from a new address.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite(&mut alice, &mut side, &mut bob, ALICE, 200, BOB_MOVED).await;
    let answered = answered.unwrap();
    assert_eq!(offered, call.bob_remote, "bob keeps his leg");
    let alice_leg = call.alice_remote.split_whitespace().next().unwrap();
    assert_eq!(
        answered,
        format!("{alice_leg} {BOB_MOVED}"),
        "alice keeps hers, bob's new path behind"
    );

    // Bob's new connection takes his leg over (its first SEND binds it); the old one is released and
    // the session is not ended.
    let mut moved_msrp = Peer::connect(BOB_MOVED, &offered, SessionConfig::default()).await;
    moved_msrp
        .send
        .send(Outgoing::Text(b"hello from the new place".to_vec()))
        .unwrap();
    alice_msrp.read_until("hello from the new place").await;
    assert!(
        bob_msrp.closed_within(WAIT).await,
        "the old connection is released"
    );
    assert_eq!(relay.session_count(), 1);
    alice_msrp.send(&answered, ALICE, "hello moved bob").await;
    assert_eq!(moved_msrp.message(WAIT).await.1, b"hello moved bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passive_answerer_that_moves_is_dialed_at_its_new_address() {
    let dir = tempfile::tempdir().unwrap();
    let (running, mut alice, mut bob) = server_with_alice_and_bob(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();
    let config = SessionConfig::default();
    let (listener, bob_path) = passive_endpoint("bobpassive1").await;
    let call = establish_with(&mut alice, &mut bob, ALICE, &bob_path, "passive").await;
    let mut bob_msrp = Peer::accept(listener, &bob_path, &call.bob_remote, config).await;
    let mut alice_msrp = RawEndpoint::connect(&call.alice_remote).await;
    alice_msrp.send(&call.alice_remote, ALICE, "hello bob").await;
    assert_eq!(bob_msrp.message(WAIT).await.1, b"hello bob");

    // Bob answers alice's refresh from a new passive address: the relay dials it there.
    let (listener, moved_path) = passive_endpoint("bobpassive2").await;
    let answer = sdp_with_setup(&moved_path, "passive");
    let mut side = alice_side(&call);
    let (offered, answered) =
        offer_in_dialog("INVITE", &mut alice, &mut side, &mut bob, ALICE, 200, &answer).await;
    let answered = answered.unwrap();
    assert_eq!(offered, call.bob_remote, "bob keeps his leg");
    let mut moved_msrp = Peer::accept(listener, &moved_path, &offered, config).await;
    assert!(
        bob_msrp.closed_within(WAIT).await,
        "the old connection is released"
    );
    assert_eq!(relay.session_count(), 1);
    alice_msrp.send(&answered, ALICE, "hello moved bob").await;
    assert_eq!(moved_msrp.message(WAIT).await.1, b"hello moved bob");
    moved_msrp
        .send
        .send(Outgoing::Text(b"dialed at the new place".to_vec()))
        .unwrap();
    alice_msrp.read_until("dialed at the new place").await;
}
