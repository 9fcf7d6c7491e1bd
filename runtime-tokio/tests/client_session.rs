//! `simple-im client` in session mode end to end: an MSRP chat both ways and Large Message mode
//! between real client processes through a real `simple-im server` (its INVITE proxy and MSRP relay),
//! and its Deferred Messaging function for users who are offline.

mod client_support;

use client_support::{field, stderr, stdout, ServerProcess};

#[test]
fn a_chat_carries_lines_both_ways_and_ends_with_bye() {
    let server = ServerProcess::start();
    let mut bob = server.online("bob", &["--accept-chats"]);
    let mut alice = server.online("alice", &["chat", "bob"]);
    alice.say("hello bob");
    alice.say("second line, with \"quotes\"");

    let invitation = bob.expect(|l| l.starts_with("invitation "));
    assert_eq!(field(&invitation, "from").as_deref(), Some("sip:alice@localhost"));
    let chat = field(&invitation, "chat").unwrap();
    let first = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&first, "text").as_deref(), Some("hello bob"));
    let second = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(
        field(&second, "text").as_deref(),
        Some("second line, with \"quotes\"")
    );
    bob.say(&format!("chat {chat} hi alice"));

    // Alice's side prints bob's line; then the end of her input ends the chat with BYE.
    let reply = alice.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&reply, "text").as_deref(), Some("hi alice"));
    assert!(
        alice.seen.iter().any(|l| l.starts_with("chat_established ")),
        "{:?}",
        alice.seen
    );
    let (status, rest) = alice.finish();
    assert!(status.success());
    assert!(
        rest.iter()
            .any(|l| l.starts_with("chat_closed ") && l.contains("status=200")),
        "{rest:?}"
    );
    let closed = bob.expect(|l| l.starts_with("chat_closed ") || l.starts_with("chat_failed "));
    assert!(
        closed.starts_with(&format!("chat_closed chat={chat} status=200")),
        "{:?}",
        bob.seen
    );
}

#[test]
fn a_message_over_the_pager_limit_goes_in_its_own_msrp_session() {
    let server = ServerProcess::start();
    let mut bob = server.online("bob", &["--accept-chats", "--tcp"]);
    let large: String = (0..6000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let sent = server.run("alice", &["send", "bob", &large]);
    assert!(sent.status.success(), "{sent:?}");
    assert_eq!(stdout(&sent), "sent mode=large bytes=6000 status=200 reason=OK\n");
    let got = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&got, "text").as_deref(), Some(large.as_str()));
    let closed = bob.expect(|l| l.starts_with("chat_closed "));
    assert_eq!(field(&closed, "status").as_deref(), Some("200"), "{:?}", bob.seen);

    // The pager limit is a flag: under a larger limit the same text is one MESSAGE, which bob's
    // client (default limit 1300) refuses with 413, reported with the status and reason.
    let text = &large[..2500];
    let refused = server.run("alice", &["--pager-limit", "3000", "send", "bob", text]);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(stderr(&refused).contains("sip:bob@localhost: 413"), "{refused:?}");
}

#[test]
fn a_large_message_to_an_offline_user_is_delivered_when_they_register() {
    let server = ServerProcess::start();
    // Nobody is online as bob: the Deferred Messaging function answers the INVITE and stores the SEND.
    let large: String = (0..5000).map(|i| char::from(b'A' + (i % 26) as u8)).collect();
    let sent = server.run("alice", &["send", "bob", &large]);
    assert!(sent.status.success(), "{sent:?}");
    assert_eq!(stdout(&sent), "sent mode=large bytes=5000 status=200 reason=OK\n");

    // bob registers: the message comes in a session from alice, once, then the session ends.
    let mut bob = server.online("bob", &["--accept-chats"]);
    let invitation = bob.expect(|l| l.starts_with("invitation "));
    assert_eq!(field(&invitation, "from").as_deref(), Some("sip:alice@localhost"));
    let got = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&got, "text").as_deref(), Some(large.as_str()));
    bob.expect(|l| l.starts_with("chat_closed "));
    let (status, rest) = bob.finish();
    assert!(status.success());
    assert!(!rest.iter().any(|l| l.starts_with("chat_message ")), "{rest:?}");
    registering_again_brings_nothing_before_a_marker(&server);
}

/// bob registers once more: the deferred push (which starts on REGISTER) must bring nothing, which
/// the arrival of a pager marker sent afterwards makes observable without waiting a fixed time.
fn registering_again_brings_nothing_before_a_marker(server: &ServerProcess) {
    let mut again = server.online("bob", &["--accept-chats"]);
    let sent = server.run("alice", &["send", "bob", "marker"]);
    assert!(sent.status.success(), "{sent:?}");
    again.expect(|l| l.starts_with("message ") && l.contains("text=marker"));
    assert!(
        !again
            .seen
            .iter()
            .any(|l| l.starts_with("chat_message ") || l.starts_with("invitation ")),
        "{:?}",
        again.seen
    );
}

#[test]
fn a_chat_to_an_offline_user_arrives_in_order_exactly_once_after_they_register() {
    let server = ServerProcess::start();
    let mut alice = server.online("alice", &["chat", "bob"]);
    let lines: Vec<String> = (1..=5).map(|i| format!("line {i} of the chat")).collect();
    alice.expect(|l| l.starts_with("chat_established "));
    for line in &lines {
        alice.say(line);
    }
    for _ in &lines {
        alice.expect(|l| l.starts_with("chat_sent "));
    }
    let (status, rest) = alice.finish();
    assert!(status.success(), "{rest:?}");

    let mut bob = server.online("bob", &["--accept-chats"]);
    let invitation = bob.expect(|l| l.starts_with("invitation "));
    assert_eq!(field(&invitation, "from").as_deref(), Some("sip:alice@localhost"));
    let mut got = Vec::new();
    for _ in &lines {
        let line = bob.expect(|l| l.starts_with("chat_message "));
        got.push(field(&line, "text").unwrap());
    }
    assert_eq!(got, lines);
    bob.expect(|l| l.starts_with("chat_closed "));
    let (status, rest) = bob.finish();
    assert!(status.success());
    assert!(!rest.iter().any(|l| l.starts_with("chat_message ")), "{rest:?}");

    registering_again_brings_nothing_before_a_marker(&server);
}

#[test]
fn an_offer_with_setup_active_is_answered_by_a_listening_client() {
    let server = ServerProcess::start();
    let mut bob = server.online("bob", &["--accept-chats", "--tcp"]);
    // alice offers a=setup:active and never listens. Through the relay (the default media path) bob is
    // offered `actpass` by the relay, which alice connects to; on the direct path bob would listen.
    let mut alice = server.online("alice", &["--msrp-active", "chat", "bob"]);
    alice.say("are you listening?");
    let invitation = bob.expect(|l| l.starts_with("invitation "));
    let chat = field(&invitation, "chat").unwrap();
    let got = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&got, "text").as_deref(), Some("are you listening?"));
    // Lines typed faster than the MSRP session confirms them wait their turn, in order.
    let replies: Vec<String> = (1..=6).map(|i| format!("yes {i}")).collect();
    for reply in &replies {
        bob.say(&format!("chat {chat} {reply}"));
    }
    for reply in &replies {
        let got = alice.expect(|l| l.starts_with("chat_message "));
        assert_eq!(field(&got, "text").as_deref(), Some(reply.as_str()));
    }
    assert!(
        !bob.seen.iter().any(|l| l.starts_with("error ")),
        "{:?}",
        bob.seen
    );
    let (status, _) = alice.finish();
    assert!(status.success());
    let closed = bob.expect(|l| l.starts_with("chat_closed ") || l.starts_with("chat_failed "));
    assert!(
        closed.starts_with(&format!("chat_closed chat={chat} status=200")),
        "{:?}",
        bob.seen
    );
}

#[test]
fn ending_a_chat_that_still_rings_cancels_the_invitation() {
    let server = ServerProcess::start();
    // bob does not accept chats: the invitation rings until alice gives up. The server answers the
    // CANCEL and forwards it; bob's core answers it 200 and the INVITE 487, which reaches alice.
    let mut bob = server.online("bob", &[]);
    let alice = server.online("alice", &["chat", "bob"]);
    bob.expect(|l| l.starts_with("invitation "));
    let started = std::time::Instant::now();
    let (status, rest) = alice.finish();
    assert_eq!(status.code(), Some(1));
    assert!(
        rest.iter()
            .any(|l| l.starts_with("chat_closed ") && l.contains("status=487")),
        "{rest:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    let closed = bob.expect(|l| l.starts_with("chat_closed "));
    assert_eq!(field(&closed, "status").as_deref(), Some("487"), "{:?}", bob.seen);
}

/// One chat from `from` (who started it) to `to` (online, accepting): the line's id printed on
/// sending is the id the receiver prints, and the delivery then the display notification come back
/// with it inside the chat (the display one on `display ID`, or at once with `--auto-display`).
fn chat_line_is_delivered_and_displayed(server: &ServerProcess, from: &str, to: &str, auto_display: bool) {
    let mut args = vec!["--accept-chats"];
    if auto_display {
        args.push("--auto-display");
    }
    let mut receiver = server.online(to, &args);
    let mut sender = server.online(from, &["chat", to]);
    sender.say("did you read this?");
    let sent = sender.expect(|l| l.starts_with("chat_sent "));
    let id = field(&sent, "id").expect("a CPIM line has an id");
    let got = receiver.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&got, "text").as_deref(), Some("did you read this?"));
    assert_eq!(field(&got, "id").as_deref(), Some(id.as_str()));
    assert_eq!(field(&got, "display").as_deref(), Some("requested"));
    if !auto_display {
        receiver.say(&format!("display {id}"));
    }
    // The receiver's core accepted the chat and answers inside it (message/imdn+xml wrapped in CPIM,
    // listed in both sides' accept-wrapped-types): the lines name the chat, which a pager
    // notification's do not. Delivery is sent first, on the same connection.
    let chat = field(&sent, "chat").expect("chat_sent names the chat");
    let notifications = [
        sender.expect(|l| l.starts_with("delivered ") || l.starts_with("displayed ")),
        sender.expect(|l| l.starts_with("delivered ") || l.starts_with("displayed ")),
    ];
    assert_eq!(
        notifications,
        [
            format!("delivered id={id} status=delivered chat={chat}"),
            format!("displayed id={id} status=displayed chat={chat}")
        ]
    );
    let (status, _) = sender.finish();
    assert!(status.success());
    receiver.expect(|l| l.starts_with("chat_closed "));
    let (status, _) = receiver.finish();
    assert!(status.success());
}

#[test]
fn chats_both_ways_carry_delivery_and_display_notifications() {
    let server = ServerProcess::start();
    chat_line_is_delivered_and_displayed(&server, "alice", "bob", false);
    chat_line_is_delivered_and_displayed(&server, "bob", "alice", true);
}
