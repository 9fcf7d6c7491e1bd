//! MSRP over TLS (msrps, RFC 4975 §14): the server's relay accepts a TLS leg on `[msrp] tls_listen`
//! with the committed test certificate (`tests/tls/`), and a client started with `--msrp-tls CA_FILE`
//! chats through it with bob, whose leg stays on TCP. A client trusting an unrelated CA refuses the
//! relay's certificate, so the chat cannot silently fall back to an unchecked connection.

mod client_support;

use client_support::{field, ServerProcess};
use simple_im_tests::peers::free_port;
use std::path::PathBuf;

fn tls_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("tls")
        .join(name);
    path.to_str().unwrap().to_owned()
}

/// A server whose relay also listens for MSRP over TLS. SIP runs over TCP in these tests: over UDP a
/// retransmitted INVITE can replace the relay session (seen on a loaded machine).
fn tls_server() -> ServerProcess {
    let extra = format!(
        "[msrp]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:{}\"\ntls_certificate = \"{}\"\ntls_key = \"{}\"\n",
        free_port(),
        tls_file("msrp-server.pem"),
        tls_file("msrp-server.key"),
    );
    ServerProcess::start_with(&extra)
}

#[test]
fn a_chat_with_one_leg_over_tls_carries_lines_both_ways() {
    let server = tls_server();
    let mut bob = server.online("bob", &["--tcp", "--accept-chats"]);
    let ca = tls_file("test-ca.pem");
    let mut alice = server.online("alice", &["--tcp", "--msrp-tls", &ca, "chat", "bob"]);
    alice.say("hello over tls");

    let invitation = bob.expect(|l| l.starts_with("invitation "));
    let chat = field(&invitation, "chat").unwrap();
    let got = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&got, "text").as_deref(), Some("hello over tls"));
    bob.say(&format!("chat {chat} and back in clear to the relay"));
    let reply = alice.expect(|l| l.starts_with("chat_message "));
    assert_eq!(
        field(&reply, "text").as_deref(),
        Some("and back in clear to the relay")
    );

    let (status, rest) = alice.finish();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("chat_closed ") && l.contains("status=200")),
        "{rest:?}"
    );
}

#[test]
fn a_client_that_does_not_trust_the_relay_certificate_gets_no_chat() {
    let server = tls_server();
    let mut bob = server.online("bob", &["--tcp", "--accept-chats"]);
    let ca = tls_file("other-ca.pem");
    let mut alice = server.online("alice", &["--tcp", "--msrp-tls", &ca, "chat", "bob"]);
    alice.say("must not arrive");
    bob.expect(|l| l.starts_with("invitation "));
    let failed = alice.expect(|l| l.starts_with("chat_failed ") || l.starts_with("chat_closed "));
    assert!(
        failed.contains("certificate") || failed.contains("UnknownIssuer"),
        "{failed} / {:?}",
        alice.seen
    );
    assert!(
        !bob.seen.iter().any(|l| l.starts_with("chat_message ")),
        "{:?}",
        bob.seen
    );
}
