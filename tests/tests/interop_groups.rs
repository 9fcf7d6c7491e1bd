//! Groups through the real `simple-im` binary, on the wire: a group created with `simple-im group`
//! while the server runs, a MESSAGE into it fanned out to the registered member and stored for the
//! offline one (delivered when it registers), a non-member refused, and tshark decoding every packet
//! of it (captured on the server's port) with no malformed packet and no error-level expert item.

use simple_im_tests::peers::scratch_dir;
use simple_im_tests::peers::server::start_with_users;
use simple_im_tests::peers::tshark::Capture;
use simple_im_tests::peers::ua::{Outcome, Ua};
use std::time::Duration;

#[test]
fn group_fan_out_through_the_binary_decodes_cleanly_in_tshark() {
    let users = [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
        ("erin", "erin-pw"),
    ];
    let server = start_with_users("groups-tshark", &users, |_| {});
    // Created while the server runs: the next MESSAGE sees it.
    let added = server.cli(&[
        "group",
        "add",
        "team",
        "--owner",
        "alice",
        "--private",
        "--member",
        "alice",
        "--member",
        "bob",
        "--member",
        "carol",
    ]);
    assert!(added.contains("added group team (sip:team@localhost)"), "{added}");
    let dir = scratch_dir("groups-tshark-run");
    let capture = Capture::start(&dir, &[server.options.port], Duration::from_secs(60));

    let mut bob = Ua::new(&server.addr(), "bob", "bob-pw");
    assert_eq!(bob.register(600), Outcome::Final(200));
    let bob = std::thread::spawn(move || {
        bob.receive_for(Duration::from_secs(10), Duration::from_secs(2));
        bob
    });
    let mut alice = Ua::new(&server.addr(), "alice", "alice-pw");
    assert_eq!(alice.register(600), Outcome::Final(200));
    // bob online, carol offline: 202 once bob has it and carol's copy is stored.
    assert_eq!(alice.message("team", "hello team"), Outcome::Final(202));
    let mut erin = Ua::new(&server.addr(), "erin", "erin-pw");
    assert_eq!(erin.message("team", "let me in"), Outcome::Final(403));

    let bob = bob.join().expect("bob's receiver");
    assert_eq!(bob.inbox.len(), 1, "{:?}", bob.inbox);
    assert_eq!(bob.inbox[0].body, "hello team");
    assert!(bob.inbox[0].from.contains("sip:alice@localhost"));

    let mut carol = Ua::new(&server.addr(), "carol", "carol-pw");
    assert_eq!(carol.register(600), Outcome::Final(200));
    carol.receive_for(Duration::from_secs(5), Duration::from_secs(1));
    assert_eq!(carol.inbox.len(), 1, "{:?}", carol.inbox);
    assert_eq!(carol.inbox[0].body, "hello team");

    capture.assert_clean();
}
