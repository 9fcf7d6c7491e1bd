//! The MSRP relay in the media path, end to end: two SIP UAs set up a session through the running
//! server, then talk MSRP (the core's session machine) through the relay: chat both ways, a message
//! forwarded in many chunks, injection from an unauthorised connection, and teardown on BYE.

mod msrp_support;
mod server_support;

use msrp_support::{establish, hang_up, inject, Outgoing, Peer};
use server_support::{registered, start, tcp_addr, Ua};
use simple_im_core::msrp::session::SessionConfig;
use simple_im_tokio::server::Options;
use std::time::Duration;

const ALICE: &str = "msrp://127.0.0.1:9/alicesession1;tcp";
const BOB: &str = "msrp://127.0.0.1:9/bobsession22;tcp";
const WAIT: Duration = Duration::from_secs(10);

/// The relay authority (host:port) of a path whose first hop is the relay.
fn relay_of(path: &str) -> String {
    let first = path.split_whitespace().next().unwrap();
    first
        .trim_start_matches("msrp://")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_through_the_relay_both_ways_rejects_injection_and_ends_on_bye() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let relay_addr = running.msrp.expect("the relay listens").to_string();
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let mut call = establish(&mut alice, &mut bob, ALICE, BOB).await;

    // Each side is told to talk to the relay, on its own leg URI, with the far endpoint behind it.
    assert_eq!(relay_of(&call.alice_remote), relay_addr);
    assert_eq!(relay_of(&call.bob_remote), relay_addr);
    assert!(call.alice_remote.ends_with(BOB), "{}", call.alice_remote);
    assert!(call.bob_remote.ends_with(ALICE), "{}", call.bob_remote);
    let alice_leg = call.alice_remote.split_whitespace().next().unwrap().to_owned();
    let bob_leg = call.bob_remote.split_whitespace().next().unwrap().to_owned();
    assert_ne!(alice_leg, bob_leg, "every leg has its own session-id");
    assert_eq!(running.server.msrp.as_ref().unwrap().session_count(), 1);

    let config = SessionConfig::default();
    let mut alice_msrp = Peer::connect(ALICE, &call.alice_remote, config).await;
    let mut bob_msrp = Peer::connect(BOB, &call.bob_remote, config).await;

    alice_msrp
        .send
        .send(Outgoing::Text(b"hello bob".to_vec()))
        .unwrap();
    let (content_type, body, ..) = bob_msrp.message(WAIT).await;
    assert_eq!(
        (content_type.as_str(), body.as_slice()),
        ("text/plain", &b"hello bob"[..])
    );
    bob_msrp.send.send(Outgoing::Text(b"hi alice".to_vec())).unwrap();
    assert_eq!(alice_msrp.message(WAIT).await.1, b"hi alice");

    // 300 KB in 2 KB chunks: every chunk is forwarded and the message arrives whole.
    let len = 300_000;
    bob_msrp.send.send(Outgoing::Generated(len)).unwrap();
    let (_, _, got_len, sha) = alice_msrp.message(WAIT).await;
    assert_eq!((got_len, sha), (len, msrp_support::pattern_sha256(len)));

    // An outsider names bob's leg URI but is not bob's SDP path: 403, closed.
    let forged = format!(
        "MSRP evil1 SEND\r\nTo-Path: {bob_leg} {ALICE}\r\nFrom-Path: msrp://127.0.0.1:9/mallory;tcp\r\n\
Message-ID: m1\r\nByte-Range: 1-4/4\r\nContent-Type: text/plain\r\n\r\nevil\r\n-------evil1$\r\n"
    );
    let (answer, closed) = inject(&relay_addr, forged.as_bytes()).await;
    assert!(answer.starts_with("MSRP evil1 403"), "{answer}");
    assert!(closed, "the unauthorised connection is closed");
    // Even with bob's own path copied, a second connection to a bound leg is refused (506).
    let copied = forged.replace("msrp://127.0.0.1:9/mallory;tcp", BOB);
    let (answer, closed) = inject(&relay_addr, copied.as_bytes()).await;
    assert!(answer.starts_with("MSRP evil1 506"), "{answer}");
    assert!(closed);
    // An unknown session-id: 481.
    let unknown = forged.replace(&bob_leg, "msrp://127.0.0.1:1/nosuchsession;tcp");
    let (answer, closed) = inject(&relay_addr, unknown.as_bytes()).await;
    assert!(answer.starts_with("MSRP evil1 481"), "{answer}");
    assert!(closed);
    // The peers saw none of it: the next message alice gets is bob's real one.
    bob_msrp.send.send(Outgoing::Text(b"still me".to_vec())).unwrap();
    assert_eq!(alice_msrp.message(WAIT).await.1, b"still me");

    // BYE ends the relay session: both MSRP connections close, the leg URIs are gone.
    hang_up(&mut alice, &mut bob, &mut call).await;
    assert!(
        alice_msrp.closed_within(WAIT).await,
        "alice's MSRP connection closes"
    );
    assert!(bob_msrp.closed_within(WAIT).await, "bob's MSRP connection closes");
    assert_eq!(running.server.msrp.as_ref().unwrap().session_count(), 0);
    let late = forged.replace("msrp://127.0.0.1:9/mallory;tcp", BOB);
    let (answer, _) = inject(&relay_addr, late.as_bytes()).await;
    assert!(answer.starts_with("MSRP evil1 481"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_call_ends_its_relay_session() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let relay = running.server.msrp.clone().expect("relay");
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let (_call, invite) = msrp_support::offer(&mut alice, &mut bob, ALICE).await;
    let bob_leg = msrp_support::path_of(invite.body());
    let bob_leg = bob_leg.split_whitespace().next().unwrap().to_owned();
    assert_eq!(relay.session_count(), 1, "the offer opened a relay session");
    let busy = simple_im_tokio::server::reply::build(&invite, None, 486, "Busy Here", &[], None).unwrap();
    bob.send_raw(&busy).await;
    msrp_support::response_with(&mut alice, 486).await;
    assert_eq!(relay.session_count(), 0, "the failed call ended it");
    let late = format!(
        "MSRP late1 SEND\r\nTo-Path: {bob_leg} {ALICE}\r\nFrom-Path: {BOB}\r\nMessage-ID: m1\r\n\
Byte-Range: 1-2/2\r\nContent-Type: text/plain\r\n\r\nhi\r\n-------late1$\r\n"
    );
    let (answer, closed) = inject(&relay_of(&bob_leg), late.as_bytes()).await;
    assert!(answer.starts_with("MSRP late1 481"), "{answer}");
    assert!(closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_media_path_leaves_the_sdp_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[msrp]\nlisten = \"127.0.0.1:0\"\nmedia_path = \"direct\"\n";
    let running = start(dir.path(), extra, Options::default()).await;
    assert!(
        running.msrp.is_none() && running.server.msrp.is_none(),
        "no relay in option 1"
    );
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let (_call, invite) = msrp_support::offer(&mut alice, &mut bob, ALICE).await;
    assert_eq!(msrp_support::path_of(invite.body()), ALICE);
    assert_eq!(invite.body(), msrp_support::sdp(ALICE).as_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_connects_to_a_passive_callee() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bob_path = format!("msrp://{}/bobpassive1;tcp", listener.local_addr().unwrap());
    let call = msrp_support::establish_with(&mut alice, &mut bob, ALICE, &bob_path, "passive").await;
    let config = SessionConfig::default();
    let mut bob_msrp = Peer::accept(listener, &bob_path, &call.bob_remote, config).await;
    let mut alice_msrp = Peer::connect(ALICE, &call.alice_remote, config).await;
    alice_msrp
        .send
        .send(Outgoing::Text(b"are you there".to_vec()))
        .unwrap();
    assert_eq!(bob_msrp.message(WAIT).await.1, b"are you there");
    bob_msrp.send.send(Outgoing::Text(b"yes".to_vec())).unwrap();
    assert_eq!(alice_msrp.message(WAIT).await.1, b"yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_from_the_next_hop_becomes_a_failure_report_to_the_sender() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let call = establish(&mut alice, &mut bob, ALICE, BOB).await;
    let bob_leg = call.bob_remote.split_whitespace().next().unwrap().to_owned();

    // Bob's side is a raw connection: bind with a bodiless SEND, then read what the relay forwards.
    let mut raw = tokio::net::TcpStream::connect(relay_of(&call.bob_remote))
        .await
        .unwrap();
    let bind = format!(
        "MSRP bind1 SEND\r\nTo-Path: {}\r\nFrom-Path: {BOB}\r\nMessage-ID: b1\r\nByte-Range: 1-0/0\r\n-------bind1$\r\n",
        call.bob_remote
    );
    raw.write_all(bind.as_bytes()).await.unwrap();
    let mut got = String::new();
    let mut buf = [0u8; 4096];
    while !got.contains("-------bind1$") {
        let n = raw.read(&mut buf).await.unwrap();
        assert!(n > 0, "relay closed the connection: {got}");
        got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    assert!(got.starts_with("MSRP bind1 200 OK"), "{got}");

    let mut alice_msrp = Peer::connect(ALICE, &call.alice_remote, SessionConfig::default()).await;
    alice_msrp
        .send
        .send(Outgoing::Text(b"<b>rich</b>".to_vec()))
        .unwrap();
    let mut forwarded = String::new();
    while !forwarded.contains("$\r\n") {
        let n = raw.read(&mut buf).await.unwrap();
        assert!(n > 0);
        forwarded.push_str(std::str::from_utf8(&buf[..n]).unwrap());
    }
    // RFC 4976 §6.4.1: our leg URI leaves To-Path and the far leg's URI heads From-Path.
    assert!(forwarded.contains(&format!("To-Path: {BOB}\r\n")), "{forwarded}");
    assert!(
        forwarded.contains(&format!("From-Path: {bob_leg} {ALICE}\r\n")),
        "{forwarded}"
    );
    let tid = forwarded
        .strip_prefix("MSRP ")
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let refuse = format!(
        "MSRP {tid} 415 Unsupported Media Type\r\nTo-Path: {bob_leg}\r\nFrom-Path: {BOB}\r\n-------{tid}$\r\n"
    );
    raw.write_all(refuse.as_bytes()).await.unwrap();
    let failure = alice_msrp
        .event(WAIT, |e| match e {
            simple_im_core::msrp::session::Event::SendFailed { failure, .. } => Some(*failure),
            _ => None,
        })
        .await;
    assert_eq!(failure, simple_im_core::msrp::session::Failure::Report(415));
}
