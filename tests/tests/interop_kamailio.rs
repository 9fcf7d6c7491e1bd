//! Application-server mode (OMA IM-2): Kamailio is the registrar and proxy, and routes MESSAGE for
//! the domain through simple-im, which trusts Kamailio's address and takes the sender from
//! P-Asserted-Identity. The test starts Kamailio itself and stops it by PID.

use simple_im_tests::peers::kamailio::Kamailio;
use simple_im_tests::peers::server::start_with_users;
use simple_im_tests::peers::ua::{Outcome, Ua};
use simple_im_tests::peers::{free_port, scratch_dir};
use std::time::Duration;

#[test]
fn message_through_kamailio_is_routed_via_simple_im_to_the_registered_user() {
    let server = start_with_users("kamailio-as", &[("alice", "a"), ("bob", "b")], |o| {
        o.trusted_cores = vec!["127.0.0.1".into()];
    });
    let dir = scratch_dir("kamailio-as-run");
    let kamailio = Kamailio::start(&dir, free_port(), server.options.port);
    let core = format!("127.0.0.1:{}", kamailio.port);

    let mut bob = Ua::new(&core, "bob", "");
    assert_eq!(bob.register(300), Outcome::Final(200), "Kamailio did not register bob:\n{}", kamailio.output());
    let mut alice = Ua::new(&core, "alice", "");
    let outcome = alice.message("bob", "hello bob, via the core and the AS");
    bob.receive_for(Duration::from_secs(5), Duration::from_secs(2));
    assert_eq!(
        outcome,
        Outcome::Final(200),
        "MESSAGE via Kamailio and simple-im not accepted\n--- kamailio:\n{}\n--- simple-im:\n{}",
        kamailio.output(),
        server.output()
    );
    let bodies: Vec<&str> = bob.inbox.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["hello bob, via the core and the AS"], "bob's inbox");
    assert!(bob.inbox.iter().all(|m| m.from.contains("sip:alice@localhost")), "sender identity: {:?}", bob.inbox);
}
