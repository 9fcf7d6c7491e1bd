//! Application-server mode (OMA IM-2): Kamailio is the SIP/IP core (registrar and proxy) and routes
//! MESSAGE for the domain through simple-im, which trusts the core's address and takes the sender
//! from P-Asserted-Identity. The core listens on 127.0.0.2 and only that address is trusted, so the
//! same test shows that a P-Asserted-Identity from anywhere else is not believed. The test starts
//! Kamailio itself and stops it by PID.
//!
//! In the first test the recipient registers with simple-im directly. In the second every user
//! registers with the core only: a MESSAGE to an offline user is stored by simple-im (the core
//! answered 404 for the AoR), and the core's third-party REGISTER when the user comes online makes
//! simple-im push it back through the core.

use simple_im_tests::peers::kamailio::Kamailio;
use simple_im_tests::peers::server::start_with_users;
use simple_im_tests::peers::ua::{Outcome, Ua};
use simple_im_tests::peers::{free_port, scratch_dir};
use std::time::Duration;

const CORE_IP: &str = "127.0.0.2";

#[test]
fn message_through_kamailio_takes_the_sender_from_p_asserted_identity() {
    let server = start_with_users("kamailio-as", &[("alice", "alice-pw"), ("bob", "bob-pw")], |o| {
        o.trusted_cores = vec![CORE_IP.into()];
    });
    let dir = scratch_dir("kamailio-as-run");
    let kamailio = Kamailio::start(&dir, CORE_IP, free_port(), server.options.port);
    let logs = |server: &simple_im_tests::peers::server::Server| {
        format!(
            "--- kamailio:\n{}\n--- simple-im:\n{}",
            kamailio.output(),
            server.output()
        )
    };

    let mut bob = Ua::new(&server.addr(), "bob", "bob-pw");
    assert_eq!(
        bob.register(300),
        Outcome::Final(200),
        "bob could not register with simple-im\n{}",
        logs(&server)
    );
    // alice is a user of the core: registered there, no credentials ever sent to simple-im.
    let mut alice = Ua::new(&kamailio.addr, "alice", "");
    assert_eq!(
        alice.register(300),
        Outcome::Final(200),
        "Kamailio did not register alice\n{}",
        logs(&server)
    );
    // bob answers on its own thread while alice waits for her final response.
    let receiver = std::thread::spawn(move || {
        bob.receive_for(Duration::from_secs(8), Duration::from_secs(3));
        bob
    });
    let outcome = alice.message("bob", "hello bob, via the core and the AS");
    let mut bob = receiver
        .join()
        .unwrap_or_else(|_| panic!("bob's receiver thread panicked"));
    assert_eq!(
        outcome,
        Outcome::Final(200),
        "MESSAGE via Kamailio and simple-im not delivered\n{}",
        logs(&server)
    );
    let bodies: Vec<&str> = bob.inbox.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["hello bob, via the core and the AS"],
        "bob's inbox\n{}",
        logs(&server)
    );
    assert!(
        bob.inbox.iter().all(|m| m.from.contains("sip:alice@localhost")),
        "sender identity: {:?}",
        bob.inbox
    );

    // The same assertion straight from 127.0.0.1 (not a trusted core) must not be believed.
    let mut forger = Ua::new(&server.addr(), "mallory", "wrong");
    let forged = forger.message_with("bob", "forged as alice", Some("<sip:alice@localhost>"));
    bob.receive_for(Duration::from_secs(2), Duration::from_secs(1));
    assert!(
        matches!(forged, Outcome::Final(401 | 403 | 407)),
        "a forged P-Asserted-Identity got {forged:?}\n{}",
        logs(&server)
    );
    assert!(
        bob.inbox.iter().all(|m| m.body != "forged as alice"),
        "forged message delivered: {:?}",
        bob.inbox
    );
}

#[test]
fn a_message_stored_via_kamailio_is_pushed_through_it_when_the_user_registers_there() {
    let server = start_with_users(
        "kamailio-as-push",
        &[("alice", "alice-pw"), ("bob", "bob-pw")],
        |o| {
            o.trusted_cores = vec![CORE_IP.into()];
        },
    );
    let dir = scratch_dir("kamailio-as-push-run");
    let kamailio = Kamailio::start(&dir, CORE_IP, free_port(), server.options.port);
    let logs = |server: &simple_im_tests::peers::server::Server| {
        format!(
            "--- kamailio:\n{}\n--- simple-im:\n{}",
            kamailio.output(),
            server.output()
        )
    };
    let mut alice = Ua::new(&kamailio.addr, "alice", "");
    assert_eq!(alice.register(300), Outcome::Final(200), "{}", logs(&server));
    // bob is offline: the core cannot reach him, so simple-im stores the message (202).
    let stored = alice.message("bob", "stored while bob was away");
    assert_eq!(
        stored,
        Outcome::Final(202),
        "MESSAGE to offline bob via Kamailio\n{}",
        logs(&server)
    );
    let mut bob = Ua::new(&kamailio.addr, "bob", "");
    assert_eq!(bob.register(300), Outcome::Final(200), "{}", logs(&server));
    bob.receive_for(Duration::from_secs(8), Duration::from_secs(2));
    let bodies: Vec<&str> = bob.inbox.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(
        bodies,
        ["stored while bob was away"],
        "bob's inbox after registering with the core\n{}",
        logs(&server)
    );
    assert!(
        bob.inbox.iter().all(|m| m.from.contains("sip:alice@localhost")),
        "sender identity: {:?}",
        bob.inbox
    );
    assert!(
        kamailio
            .output()
            .contains("third-party REGISTER of sip:bob@localhost"),
        "the push must follow the core's third-party registration\n{}",
        logs(&server)
    );
}
