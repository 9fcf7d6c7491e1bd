//! tshark as a wire check of what the client builds itself, SIP and MSRP: every packet of a chat (with
//! its delivery notification inside the session), a Large Message and a file push through the server
//! (its relay in the media path) decodes with no malformed packet and no error-level expert item. SIP
//! is read on the server's SIP port; MSRP on the relay's fixed listen port (`[msrp] listen`), which
//! every client MSRP connection goes to.

mod client_support;

use client_support::ServerProcess;
use simple_im_tests::peers::scratch_dir;
use simple_im_tests::peers::tshark::Capture;
use std::time::Duration;

#[test]
fn sip_and_msrp_of_chats_large_messages_and_files_decode_cleanly() {
    let server = ServerProcess::start();
    let port: u16 = server.address.rsplit(':').next().unwrap().parse().unwrap();
    let capture = Capture::start_with_msrp(
        &scratch_dir("client-wire"),
        &[port],
        &[server.msrp_port],
        Duration::from_secs(60),
    );
    let dir = tempfile::tempdir().unwrap();

    let downloads = dir.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    let mut bob = server.online(
        "bob",
        &["--accept-chats", "--download-dir", downloads.to_str().unwrap()],
    );
    let mut alice = server.online("alice", &["chat", "bob"]);
    alice.say("hello over the wire");
    bob.expect(|l| l.starts_with("chat_message "));
    // Bob's core answers the line's IMDN request inside the chat: that SEND is on the wire too.
    alice.expect(|l| l.starts_with("delivered ") && l.contains(" chat="));
    alice.finish();
    let large = "w".repeat(3000);
    assert!(server.run("alice", &["send", "bob", &large]).status.success());
    let file = dir.path().join("small.bin");
    std::fs::write(&file, vec![7u8; 100_000]).unwrap();
    assert!(server
        .run("alice", &["send-file", "bob", file.to_str().unwrap()])
        .status
        .success());
    bob.expect(|l| l.starts_with("file_received "));
    bob.finish();

    let decoded = capture.finish_with_msrp();
    for method in ["INVITE", "ACK", "BYE", "REGISTER", "200 OK"] {
        assert!(
            decoded.sip.contains(method),
            "no {method} captured:\n{}",
            decoded.sip
        );
    }
    for method in ["SEND", "REPORT", "200 OK"] {
        assert!(
            decoded.msrp.contains(method),
            "no MSRP {method} captured:\n{}",
            decoded.msrp
        );
    }
    assert!(
        decoded.broken.trim().is_empty(),
        "malformed packets:\n{}\nall SIP:\n{}\nall MSRP:\n{}",
        decoded.broken,
        decoded.sip,
        decoded.msrp
    );
}
