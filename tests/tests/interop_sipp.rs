//! SIPp against the real `simple-im server` (issue 4 acceptance): digest REGISTER, MESSAGE between
//! registered users, deferred delivery to an offline user, 403 for a blocked sender, 413 for an
//! oversized body, and challenges for unauthenticated requests. Each test has its own server, data
//! directory and ports, so they run in parallel; every SIPp run has a deadline.

use simple_im_tests::peers::server::{start_with_users, ServerOptions};

/// SIPp 3.6 answers only the first challenge of a 401/407, and only with MD5.
fn sipp_options(options: &mut ServerOptions) {
    options.digest_algorithms = vec!["MD5".into(), "SHA-256".into()];
}
use simple_im_tests::peers::sipp::flows;
use simple_im_tests::peers::{free_port, scratch_dir};
use std::time::Duration;

const ALICE: (&str, &str) = ("alice", "alice-secret");
const BOB: (&str, &str) = ("bob", "bob-secret");

#[test]
fn register_with_digest_is_challenged_then_accepted() {
    let server = start_with_users("sipp-register", &[ALICE], sipp_options);
    let dir = scratch_dir("sipp-register-run");
    flows::register(&dir, &server.addr(), ALICE.0, ALICE.1, free_port()).assert_success(1);
}

#[test]
fn register_without_credentials_gets_401_with_a_digest_challenge() {
    let server = start_with_users("sipp-register-noauth", &[ALICE], sipp_options);
    let dir = scratch_dir("sipp-register-noauth-run");
    flows::unauthenticated(&dir, &server.addr(), "register_unauthenticated", ALICE.0, ALICE.0)
        .assert_success(1);
}

#[test]
fn message_without_credentials_gets_401_or_407_with_a_digest_challenge() {
    let server = start_with_users("sipp-message-noauth", &[ALICE, BOB], sipp_options);
    let dir = scratch_dir("sipp-message-noauth-run");
    flows::unauthenticated(&dir, &server.addr(), "message_unauthenticated", ALICE.0, BOB.0).assert_success(1);
}

#[test]
fn message_between_registered_users_is_relayed_with_its_body() {
    let server = start_with_users("sipp-message", &[ALICE, BOB], sipp_options);
    let dir = scratch_dir("sipp-message-run");
    let bob_port = free_port();
    let bob = flows::receive_message(
        &dir,
        bob_port,
        ALICE.0,
        "hello bob from alice",
        Duration::from_secs(20),
    );
    flows::register(&dir, &server.addr(), BOB.0, BOB.1, bob_port).assert_success(1);
    let sent = flows::message(&dir, &server.addr(), ALICE, BOB.0, "hello bob from alice", 200);
    // The receiver's report first: when it refuses the relayed MESSAGE, the sender only sees a timeout.
    bob.finish().assert_success(1);
    sent.assert_success(1);
}

#[test]
fn message_to_offline_user_gets_202_and_is_delivered_on_register() {
    let server = start_with_users("sipp-deferred", &[ALICE, BOB], sipp_options);
    let dir = scratch_dir("sipp-deferred-run");
    flows::message(
        &dir,
        &server.addr(),
        ALICE,
        BOB.0,
        "stored for bob while offline",
        202,
    )
    .assert_success(1);
    let bob_port = free_port();
    let bob = flows::receive_message(
        &dir,
        bob_port,
        ALICE.0,
        "stored for bob while offline",
        Duration::from_secs(20),
    );
    flows::register(&dir, &server.addr(), BOB.0, BOB.1, bob_port).assert_success(1);
    bob.finish().assert_success(1);
}

#[test]
fn message_from_blocked_sender_gets_403() {
    let server = start_with_users("sipp-blocked", &[ALICE, BOB], sipp_options);
    // The CLI sets the Participating policy until the XDMS exists (issue 4).
    server.cli(&["user", "policy", BOB.0, "--block", "sip:alice@localhost"]);
    let dir = scratch_dir("sipp-blocked-run");
    flows::message(&dir, &server.addr(), ALICE, BOB.0, "you blocked me", 403).assert_success(1);
}

#[test]
fn oversized_message_gets_413() {
    let max = 200;
    let server = start_with_users("sipp-oversized", &[ALICE, BOB], |o| {
        sipp_options(o);
        o.max_pager_body_bytes = Some(max)
    });
    let dir = scratch_dir("sipp-oversized-run");
    let body = "x".repeat(usize::try_from(max).unwrap_or(200) + 100);
    flows::message(&dir, &server.addr(), ALICE, BOB.0, &body, 413).assert_success(1);
}
