//! Several MSRP media lines in one session, end to end through the running server: a chat line and a
//! file-transfer line each get their own relay leg pair, an audio line passes through untouched (its
//! original address kept), and each line's MSRP stays on its own connections. A line the answer
//! rejects ends its relay session alone.

mod msrp_support;
mod server_support;

use msrp_support::{establish_sdp, hang_up, Outgoing, Peer};
use server_support::{registered, start, tcp_addr, Ua};
use simple_im_core::msrp::session::SessionConfig;
use simple_im_tokio::server::Options;
use std::time::Duration;

const ALICE_CHAT: &str = "msrp://127.0.0.1:9/alicechat1;tcp";
const ALICE_FILE: &str = "msrp://127.0.0.1:9/alicefile1;tcp";
const BOB_CHAT: &str = "msrp://127.0.0.1:9/bobchat1;tcp";
const BOB_FILE: &str = "msrp://127.0.0.1:9/bobfile1;tcp";
const WAIT: Duration = Duration::from_secs(10);

/// An SDP body with a chat line, an audio line (port `audio_port`) and a file line (port
/// `file_port`), at session-level address 192.0.2.7.
fn three_lines(chat: &str, audio_port: u16, file: &str, file_port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n\
m=message 9 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{chat}\r\na=setup:active\r\n\
m=audio {audio_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
m=message {file_port} TCP/MSRP *\r\na=accept-types:application/octet-stream\r\na=path:{file}\r\n\
a=setup:active\r\na=file-selector:name:\"a.bin\" type:application/octet-stream size:300000\r\n"
    )
}

/// Every `a=path` of an SDP body, in order.
fn paths_of(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|l| l.trim_end().strip_prefix("a=path:").map(str::to_owned))
        .collect()
}

/// The `m=` lines of an SDP body.
fn media_lines(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter(|l| l.starts_with("m="))
        .map(|l| l.trim_end().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_line_and_a_file_line_each_get_their_own_relay_legs() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let relay = running.server.msrp.clone().unwrap();
    let relay_port = running.msrp.unwrap().port();
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let offer = three_lines(ALICE_CHAT, 4000, ALICE_FILE, 9);
    // Bob takes both MSRP lines and declines the audio.
    let answer = three_lines(BOB_CHAT, 0, BOB_FILE, 9);
    let mut call = establish_sdp(&mut alice, &mut bob, &offer, &answer).await;

    // Bob is offered both MSRP lines on the relay, each behind its own leg; the audio is as alice
    // wrote it, with her address now on the line itself (the session-level c= names the relay).
    let bob_paths = paths_of(&call.bob_sdp);
    let offered = String::from_utf8_lossy(&call.bob_sdp).into_owned();
    assert_eq!(
        media_lines(&call.bob_sdp),
        [
            format!("m=message {relay_port} TCP/MSRP *"),
            "m=audio 4000 RTP/AVP 0".to_owned(),
            format!("m=message {relay_port} TCP/MSRP *")
        ]
    );
    assert!(
        offered.contains("m=audio 4000 RTP/AVP 0\r\nc=IN IP4 192.0.2.7\r\n"),
        "{offered}"
    );
    assert!(offered.contains("\r\nc=IN IP4 127.0.0.1\r\n"), "{offered}");
    assert_eq!(bob_paths.len(), 2, "{offered}");
    assert!(bob_paths[0].ends_with(ALICE_CHAT) && bob_paths[1].ends_with(ALICE_FILE));
    let first_hop = |p: &String| p.split_whitespace().next().unwrap().to_owned();
    assert_ne!(
        first_hop(&bob_paths[0]),
        first_hop(&bob_paths[1]),
        "a leg per line"
    );
    // Alice's answer likewise: two relay lines, the declined audio still port 0.
    let alice_paths = paths_of(&call.alice_sdp);
    assert_eq!(alice_paths.len(), 2);
    assert!(alice_paths[0].ends_with(BOB_CHAT) && alice_paths[1].ends_with(BOB_FILE));
    assert_eq!(media_lines(&call.alice_sdp)[1], "m=audio 0 RTP/AVP 0");
    assert_eq!(relay.session_count(), 2, "one relay session per MSRP line");

    let config = SessionConfig::default();
    let mut alice_chat = Peer::connect(ALICE_CHAT, &alice_paths[0], config).await;
    let mut alice_file = Peer::connect(ALICE_FILE, &alice_paths[1], config).await;
    let mut bob_chat = Peer::connect(BOB_CHAT, &bob_paths[0], config).await;
    let mut bob_file = Peer::connect(BOB_FILE, &bob_paths[1], config).await;
    let len = 300_000;
    alice_file.send.send(Outgoing::Generated(len)).unwrap();
    alice_chat
        .send
        .send(Outgoing::Text(b"file coming".to_vec()))
        .unwrap();
    let (content_type, text, ..) = bob_chat.message(WAIT).await;
    assert_eq!(
        (content_type.as_str(), text.as_slice()),
        ("text/plain", &b"file coming"[..])
    );
    let (content_type, _, got, sha) = bob_file.message(WAIT).await;
    assert_eq!(content_type, "application/octet-stream");
    assert_eq!((got, sha), (len, msrp_support::pattern_sha256(len)));
    bob_chat.send.send(Outgoing::Text(b"got it".to_vec())).unwrap();
    assert_eq!(alice_chat.message(WAIT).await.1, b"got it");

    // BYE ends both lines' relay sessions.
    hang_up(&mut alice, &mut bob, &mut call).await;
    for peer in [&mut alice_chat, &mut alice_file, &mut bob_chat, &mut bob_file] {
        assert!(peer.closed_within(WAIT).await);
    }
    assert_eq!(relay.session_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_the_answer_rejects_ends_its_relay_session_alone() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let relay = running.server.msrp.clone().unwrap();
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let offer = three_lines(ALICE_CHAT, 4000, ALICE_FILE, 9);
    // Bob declines the file (port 0 on its line) and the audio.
    let answer = three_lines(BOB_CHAT, 0, BOB_FILE, 0);
    let call = establish_sdp(&mut alice, &mut bob, &offer, &answer).await;
    let alice_paths = paths_of(&call.alice_sdp);
    assert_eq!(media_lines(&call.alice_sdp)[2], "m=message 0 TCP/MSRP *");
    assert_eq!(relay.session_count(), 1, "only the chat line's session is left");
    // The file line's legs are gone: bob's offered file leg answers 481.
    let bob_paths = paths_of(&call.bob_sdp);
    let file_leg = bob_paths[1].split_whitespace().next().unwrap();
    let probe = format!(
        "MSRP f1 SEND\r\nTo-Path: {file_leg} {ALICE_FILE}\r\nFrom-Path: {BOB_FILE}\r\nMessage-ID: f\r\n\
Byte-Range: 1-0/0\r\n-------f1$\r\n"
    );
    let (reply, _) = msrp_support::inject(&running.msrp.unwrap().to_string(), probe.as_bytes()).await;
    assert!(reply.starts_with("MSRP f1 481"), "{reply}");
    // The chat line works.
    let config = SessionConfig::default();
    let mut alice_chat = Peer::connect(ALICE_CHAT, &alice_paths[0], config).await;
    let mut bob_chat = Peer::connect(BOB_CHAT, &bob_paths[0], config).await;
    alice_chat
        .send
        .send(Outgoing::Text(b"just chat".to_vec()))
        .unwrap();
    assert_eq!(bob_chat.message(WAIT).await.1, b"just chat");
    bob_chat.send.send(Outgoing::Text(b"fine".to_vec())).unwrap();
    assert_eq!(alice_chat.message(WAIT).await.1, b"fine");
}
