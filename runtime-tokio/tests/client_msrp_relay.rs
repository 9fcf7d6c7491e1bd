//! Interop with a third-party MSRP implementation: Kamailio's `msrp` module as an RFC 4976 relay
//! between a `simple-im client` (started with `--msrp-relay`) and the real `simple-im server`, which
//! relays MSRP itself (media-path option 2) on to the other client. The client first authenticates
//! with the relay (RFC 4976 AUTH, HTTP Digest) and puts the Use-Path it gets in its path. A chat both
//! ways and a file transfer pass through it; a user the relay does not know gets a clear error. The sender never listens in this mode, so every MSRP byte to and from it
//! crosses Kamailio, whose log must show the forwarded SENDs and REPORTs.
//!
//! Skips, saying so on stderr, only when `kamailio` is not installed (CI installs it).

mod client_support;

use client_support::{field, stderr, stdout, ServerProcess};
use sha2::{Digest, Sha256};
use simple_im_tests::peers::kamailio::{is_installed, MsrpRelay};
use simple_im_tests::peers::{free_port, scratch_dir};

/// The server's own relay on an ephemeral port, so tests run in parallel. SIP runs over TCP in these
/// tests: over UDP a retransmitted INVITE can replace the relay session (seen on a loaded machine).
const RELAY_ON_ANY_PORT: &str = "[msrp]\nlisten = \"127.0.0.1:0\"\n";

fn kamailio_relay(test: &str) -> Option<MsrpRelay> {
    if !is_installed() {
        eprintln!("SKIPPED {test}: kamailio is not installed (`cargo xtask setup` installs it)");
        return None;
    }
    Some(MsrpRelay::start(
        &scratch_dir(test),
        free_port(),
        "alice",
        "alice-pw",
    ))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_chat_through_kamailio_as_msrp_relay_carries_lines_both_ways() {
    let Some(relay) = kamailio_relay("kamailio-msrp-chat") else {
        return;
    };
    let server = ServerProcess::start_with(RELAY_ON_ANY_PORT);
    let mut bob = server.online("bob", &["--tcp", "--accept-chats"]);
    let mut alice = server.online("alice", &["--tcp", "--msrp-relay", &relay.uri, "chat", "bob"]);
    alice.say("hello through kamailio");

    let invitation = bob.expect(|l| l.starts_with("invitation "));
    let chat = field(&invitation, "chat").unwrap();
    let got = bob.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&got, "text").as_deref(), Some("hello through kamailio"));
    bob.say(&format!("chat {chat} and back again"));
    let reply = alice.expect(|l| l.starts_with("chat_message "));
    assert_eq!(field(&reply, "text").as_deref(), Some("and back again"));

    let (status, rest) = alice.finish();
    assert!(status.success(), "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l.starts_with("chat_closed ") && l.contains("status=200")),
        "{rest:?}"
    );
    let log = relay.output();
    assert!(
        log.contains("msrp relay: forwarded SEND"),
        "kamailio relayed no SEND:\n{log}"
    );
    assert!(
        !log.contains("not forwarded"),
        "kamailio dropped a REPORT:\n{log}"
    );
    assert!(
        log.contains("msrp relay: AUTH of alice accepted"),
        "no AUTH:\n{log}"
    );
}

#[test]
fn a_user_the_relay_does_not_authorise_gets_a_clear_error() {
    let Some(relay) = kamailio_relay("kamailio-msrp-auth") else {
        return;
    };
    let server = ServerProcess::start_with(RELAY_ON_ANY_PORT);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("note.txt");
    std::fs::write(&file, b"not through this relay").unwrap();
    // The relay knows only alice: bob's digest answer is checked against alice's password and fails.
    let sent = server.run(
        "bob",
        &[
            "--tcp",
            "--msrp-relay",
            &relay.uri,
            "send-file",
            "alice",
            file.to_str().unwrap(),
        ],
    );
    assert_eq!(sent.status.code(), Some(1), "{sent:?}");
    let error = stderr(&sent);
    assert!(
        error.contains(&format!("MSRP relay {} refused AUTH: 401", relay.uri)),
        "{error}"
    );
}

#[test]
fn a_file_transfer_through_kamailio_as_msrp_relay_arrives_intact() {
    let Some(relay) = kamailio_relay("kamailio-msrp-file") else {
        return;
    };
    let server = ServerProcess::start_with(RELAY_ON_ANY_PORT);
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut bob = server.online("bob", &["--tcp", "--download-dir", downloads.to_str().unwrap()]);

    // 1 MB of varied bytes, in chunks small enough for the module's 10 KiB frame buffer.
    let content: Vec<u8> = (0u32..1024 * 1024)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let file = dir.path().join("relayed.bin");
    std::fs::write(&file, &content).unwrap();
    let sent = server.run(
        "alice",
        &[
            "--tcp",
            "--msrp-relay",
            &relay.uri,
            "send-file",
            "bob",
            file.to_str().unwrap(),
        ],
    );
    assert!(sent.status.success(), "{sent:?}\nkamailio:\n{}", relay.output());
    assert!(stdout(&sent).starts_with("file_sent chat="), "{}", stdout(&sent));
    assert!(
        stderr(&sent).contains("100% 1048576/1048576 bytes delivered"),
        "{}",
        stderr(&sent)
    );

    let received = bob.expect(|l| l.starts_with("file_received ") || l.starts_with("file_failed "));
    assert!(received.starts_with("file_received "), "{:?}", bob.seen);
    assert_eq!(field(&received, "sha256"), Some(sha256_hex(&content)));
    let saved = std::fs::read(downloads.join("relayed.bin")).unwrap();
    assert_eq!(sha256_hex(&saved), sha256_hex(&content));
    let log = relay.output();
    assert!(
        log.contains("msrp relay: forwarded SEND"),
        "kamailio relayed no SEND:\n{log}"
    );
    // The success REPORTs that made the sender's progress reach 100% came back through Kamailio.
    assert!(
        log.contains("msrp relay: forwarded REPORT"),
        "kamailio relayed no REPORT:\n{log}"
    );
}
