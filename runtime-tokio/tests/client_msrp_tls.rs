//! MSRP over TLS (msrps, RFC 4975 §14): the server's relay accepts a TLS leg on `[msrp] tls_listen`
//! with the committed test certificate (`tests/tls/`), and a client started with `--msrp-tls CA_FILE`
//! chats through it with bob, whose leg stays on TCP, and sends him a 2 MB file (SHA-256 checked). A
//! client trusting an unrelated CA refuses the relay's certificate, so the chat cannot silently fall
//! back to an unchecked connection.

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

#[test]
fn a_file_sent_over_a_tls_leg_arrives_with_its_sha256() {
    use sha2::{Digest, Sha256};
    let server = tls_server();
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut bob = server.online("bob", &["--tcp", "--download-dir", downloads.to_str().unwrap()]);
    let content: Vec<u8> = (0u32..2 * 1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 9) as u8)
        .collect();
    let file = dir.path().join("secret.bin");
    std::fs::write(&file, &content).unwrap();
    let ca = tls_file("test-ca.pem");
    let sent = server.run(
        "alice",
        &[
            "--tcp",
            "--msrp-tls",
            &ca,
            "send-file",
            "bob",
            file.to_str().unwrap(),
        ],
    );
    assert!(sent.status.success(), "{sent:?}");
    let received = bob.expect(|l| l.starts_with("file_received ") || l.starts_with("file_failed "));
    assert!(received.starts_with("file_received "), "{:?}", bob.seen);
    let hex = |bytes: &[u8]| -> String { Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect() };
    assert_eq!(field(&received, "sha256"), Some(hex(&content)));
    assert_eq!(
        hex(&std::fs::read(downloads.join("secret.bin")).unwrap()),
        hex(&content)
    );
}
