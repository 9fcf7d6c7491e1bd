//! The Deferred Messaging function in session mode, end to end on loopback: a sender's MSRP session
//! to a user who is offline is accepted and stored by the server; when the user registers, the server
//! invites them and delivers the stored messages in a session of its own. The MSRP peers here are the
//! core's `msrp::session::Session` on real TCP connections.

mod deferred_session_support;
mod server_support;

use deferred_session_support::*;
use server_support::{registered, store_with_users, Ua};
use simple_im_core::msrp::session::Event;
use simple_im_core::sip::HeaderName;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_to_an_offline_user_arrives_in_order_exactly_once_after_they_register() {
    const N: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = registered(&running, "alice").await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    for i in 0..N {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    // A re-sent message (same imdn.Message-ID) is acknowledged but stored once.
    chat.send_and_confirm("message/cpim", &cpim(0)).await;
    sender_bye(&mut alice, &ok).await;
    assert_eq!(pending(&running, "bob").await, N);

    let mut bob = registered(&running, "bob").await;
    let (mut push, server_path) = bob_accepts(&mut bob, "alice").await;
    let msrp_addr = running.server.deferred_sessions.msrp_addr;
    assert!(server_path.contains(&msrp_addr.to_string()), "{server_path}");
    for i in 0..N {
        let body = push.receive().await.unwrap_or_else(|| panic!("message {i}"));
        assert_eq!(body, cpim(i), "message {i} in order and unaltered");
    }
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert!(
        push.receive().await.is_none(),
        "nothing after the last stored message"
    );
    assert_eq!(pending(&running, "bob").await, 0);

    // Alice asked for positive-delivery: one notification per message, sent as she is online.
    // (Retransmissions of a notification she was slow to answer may arrive twice.)
    let mut notified = std::collections::BTreeSet::new();
    while notified.len() < N {
        let msg = alice
            .incoming_within(WAIT)
            .await
            .expect("a delivery notification");
        let body = String::from_utf8_lossy(msg.body()).into_owned();
        if body.contains("was stored and will be delivered") {
            continue; // the system notice of the stored session (retransmitted while unanswered)
        }
        assert!(body.contains("<delivered/>"), "{body}");
        let id = (0..N).find(|i| body.contains(&format!("<message-id>chat{i}</message-id>")));
        notified.insert(id.expect("a notification for one of the messages"));
    }

    // Registering again pushes nothing: each message went exactly once.
    assert_eq!(bob.register(600).await.status(), Some(200));
    let again = bob.receive_within(Duration::from_secs(1)).await;
    assert!(
        again.is_none_or(|m| m.method() != Some("INVITE")),
        "no second push"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_to_an_offline_user_is_delivered_in_a_session_on_register() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let large: Vec<u8> = (0..1_048_576u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (mut session, ok) = sender_session(&mut alice, "bob").await;
    session.send_and_confirm("text/plain", &large).await;
    sender_bye(&mut alice, &ok).await;
    assert_eq!(pending(&running, "bob").await, 1);

    let mut bob = registered(&running, "bob").await;
    let (mut push, server_path) = bob_accepts(&mut bob, "alice").await;
    let msrp_addr = running.server.deferred_sessions.msrp_addr;
    assert!(server_path.contains(&msrp_addr.to_string()), "{server_path}");
    let body = push.receive().await.expect("the large message");
    assert_eq!(body.len(), large.len());
    assert!(body == large, "the 1 MB body arrives byte for byte");
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);

    // Charged whole, though most of it never sat in memory: stored once, delivered once.
    let charged = |event: &str| {
        let log = std::fs::read_to_string(dir.path().join("charging.jsonl")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("\"event\":\"{event}\"")) && l.contains("\"size\":1048576"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while charged("delivered") == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((charged("deferred"), charged("delivered")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_push_leaves_the_messages_stored_for_the_next_registration() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    for i in 0..3 {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    sender_bye(&mut alice, &ok).await;

    let mut bob = registered(&running, "bob").await;
    let invite = request_with(&mut bob, "INVITE").await;
    answer(&mut bob, &invite, 486, None).await;
    request_with(&mut bob, "ACK").await;
    assert_eq!(
        pending(&running, "bob").await,
        3,
        "nothing removed after a decline"
    );

    assert_eq!(bob.register(600).await.status(), Some(200));
    let (mut push, server_path) = bob_accepts(&mut bob, "alice").await;
    let msrp_addr = running.server.deferred_sessions.msrp_addr;
    assert!(server_path.contains(&msrp_addr.to_string()), "{server_path}");
    for i in 0..3 {
        assert_eq!(push.receive().await.expect("message"), cpim(i));
    }
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_user_is_unavailable_for_audio_and_not_acceptable_for_a_file_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let audio =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let response = invite_with(&mut alice, "bob", audio).await;
    assert_eq!(response.status(), Some(480), "{}", response.reason());
    assert_eq!(response.header(HeaderName::ContentType), None);

    let file = format!(
        "{}a=file-selector:name:\"a.bin\" type:application/octet-stream size:10\r\na=file-transfer-id:f1\r\n",
        sdp("msrp://127.0.0.1:9/file;tcp", "active")
    );
    let response = invite_with(&mut alice, "bob", &file).await;
    assert_eq!(response.status(), Some(488), "{}", response.reason());
    assert!(
        response.reason().contains("file transfer"),
        "{}",
        response.reason()
    );
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_acknowledged_before_a_kill_9_are_delivered_after_the_restart_exactly_once() {
    const CONFIRMED: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(store_with_users(&data, &[("alice", "alice-pw"), ("bob", "bob-pw")]).await);
    let (mut first, addr) = server_process(dir.path(), &data);
    let mut alice = Ua::udp("alice", "alice-pw", addr).await;
    let (mut chat, _) = sender_session(&mut alice, "bob").await;
    for i in 0..CONFIRMED {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    // One more goes out, unconfirmed, as the server dies: it may or may not have been stored.
    let handle = chat
        .session
        .send("message/cpim", Some(cpim(CONFIRMED).len() as u64))
        .unwrap();
    chat.bodies.outgoing.insert(handle, cpim(CONFIRMED));
    chat.flush().await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    let (mut second, addr) = server_process(dir.path(), &data);
    let mut bob = Ua::udp("bob", "bob-pw", addr).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    let (mut push, _) = bob_accepts(&mut bob, "alice").await;
    let mut received = Vec::new();
    loop {
        tokio::select! {
            body = push.receive() => match body {
                Some(body) => received.push(body),
                None => break,
            },
            bye = request_with(&mut bob, "BYE") => {
                answer(&mut bob, &bye, 200, None).await;
                break;
            }
        }
    }
    // A message whose event was still queued when the BYE won the race.
    while let Some(event) = push.session.poll_event() {
        if let Event::MessageReceived { id, .. } = event {
            received.extend(push.bodies.incoming.remove(id.as_str()));
        }
    }
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(
        received.len() == CONFIRMED || received.len() == CONFIRMED + 1,
        "{} messages",
        received.len()
    );
    for (i, body) in received.iter().enumerate() {
        assert_eq!(body, &cpim(i), "message {i}: in order, once");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_quota_nothing_is_acknowledged_and_too_large_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "[limits]\nquota_bytes = 2000\n").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;

    let (mut session, ok) = sender_session(&mut alice, "bob").await;
    let too_large = refused(&mut session, &[b'x'; 3000]).await;
    assert_eq!(
        too_large,
        Some(simple_im_core::msrp::session::Failure::Response(413))
    );
    session.send_and_confirm("text/plain", &[b'a'; 1500]).await;
    // Fits the session's max-size but not what is left of bob's quota: the store refuses it, and the
    // server closes the connection rather than acknowledge it.
    let over_quota = refused(&mut session, &[b'b'; 1500]).await;
    assert!(
        matches!(
            over_quota,
            None | Some(simple_im_core::msrp::session::Failure::ConnectionLost)
        ),
        "{over_quota:?}"
    );
    assert_eq!(pending(&running, "bob").await, 1);
    // The server closed the connection; the dialog still ends properly.
    sender_bye(&mut alice, &ok).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_two_senders_come_in_one_session_per_sender_from_each_sender() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with(
        dir.path(),
        "",
        &[("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw")],
    )
    .await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let mut carol = Ua::udp("carol", "carol-pw", server_support::udp_addr(&running)).await;
    let (mut from_alice, ok) = sender_session(&mut alice, "bob").await;
    from_alice.send_and_confirm("text/plain", b"alice 1").await;
    let (mut from_carol, carol_ok) = sender_session(&mut carol, "bob").await;
    from_carol.send_and_confirm("text/plain", b"carol 1").await;
    from_alice.send_and_confirm("text/plain", b"alice 2").await;
    sender_bye(&mut alice, &ok).await;
    sender_bye(&mut carol, &carol_ok).await;

    let mut bob = registered(&running, "bob").await;
    for (sender, bodies) in [
        ("alice", ["alice 1", "alice 2"].as_slice()),
        ("carol", ["carol 1"].as_slice()),
    ] {
        let (mut push, _) = bob_accepts(&mut bob, sender).await;
        for body in bodies {
            assert_eq!(push.receive().await.expect("a message"), body.as_bytes());
        }
        let bye = request_with(&mut bob, "BYE").await;
        answer(&mut bob, &bye, 200, None).await;
    }
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_200_is_retransmitted_over_udp_until_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let ok = invite_with(
        &mut alice,
        "bob",
        &sdp("msrp://127.0.0.1:9/unacked;tcp", "active"),
    )
    .await;
    assert_eq!(ok.status(), Some(200));
    // Not ACKed: the same 200 comes again after T1 (500 ms). (The 407 of the first attempt, which
    // this UA does not ACK, is retransmitted too: skipped.)
    let again = next_200(&mut alice, Duration::from_secs(2))
        .await
        .expect("a retransmitted 200");
    assert_eq!(again.raw(), ok.raw(), "the same response");
    let cseq = ok
        .header(HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap();
    alice.send_raw(&in_dialog(&alice, &ok, "ACK", cseq)).await;
    // Once ACKed, no more (the next retransmission would have come after 1 s).
    assert!(next_200(&mut alice, Duration::from_millis(2500)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_decodes_the_stored_and_the_pushed_session_with_no_malformed_packet() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let sip_port = server_support::udp_addr(&running).port();
    let msrp_port = running.server.deferred_sessions.msrp_addr.port();
    let mut capture = Capture::start(dir.path(), &[sip_port, msrp_port]);

    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    for i in 0..3 {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    let large: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    chat.send_and_confirm("text/plain", &large).await;
    sender_bye(&mut alice, &ok).await;
    let mut bob = registered(&running, "bob").await;
    let (mut push, _) = bob_accepts(&mut bob, "alice").await;
    for _ in 0..4 {
        push.receive().await.expect("a pushed message");
    }
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    capture.stop();

    let decode_as = [
        format!("udp.port=={sip_port},sip"),
        format!("tcp.port=={msrp_port},msrp"),
    ];
    let sip = capture.decode(&decode_as, "sip");
    let msrp = capture.decode(&decode_as, "msrp");
    let broken = capture.decode(&decode_as, "_ws.malformed || _ws.expert.severity >= error");
    assert!(
        sip.contains("INVITE") && sip.contains("BYE"),
        "SIP decoded:\n{sip}"
    );
    assert!(
        msrp.contains("SEND") && msrp.contains("REPORT"),
        "MSRP decoded:\n{msrp}"
    );
    assert!(broken.trim().is_empty(), "malformed packets:\n{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_the_recipient_blocked_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let policy = simple_im_tokio::store::UserPolicy {
        blocked: vec!["sip:alice@localhost".into()],
        ..Default::default()
    };
    running.server.store.set_policy("bob", policy).await.unwrap();
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let refused = invite_with(
        &mut alice,
        "bob",
        &sdp("msrp://127.0.0.1:9/blocked;tcp", "active"),
    )
    .await;
    assert_eq!(refused.status(), Some(403), "{}", refused.reason());
    assert!(refused.reason().contains("Blocked"), "{}", refused.reason());
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_msrp_connection_that_did_not_negotiate_the_session_cannot_inject_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    chat.send_and_confirm("text/plain", b"from alice").await;
    // Someone who read the URI off the wire connects and SENDs with the same To-Path: the session is
    // bound to alice's connection, so the intruder gets 481 and the connection is closed.
    let server_uri = path_of(ok.body());
    let mut intruder = TcpStream::connect(running.server.deferred_sessions.msrp_addr)
        .await
        .unwrap();
    let send = format!(
        "MSRP x1 SEND\r\nTo-Path: {server_uri}\r\nFrom-Path: msrp://127.0.0.1:9/evil;tcp\r\nMessage-ID: e1\r\n\
Byte-Range: 1-8/8\r\nContent-Type: text/plain\r\n\r\ninjected\r\n-------x1$\r\n"
    );
    intruder.write_all(send.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, intruder.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("MSRP x1 481 "), "{answer}");
    assert!(
        answer.contains("To-Path: msrp://127.0.0.1:9/evil;tcp\r\n"),
        "{answer}"
    );
    chat.send_and_confirm("text/plain", b"still alice").await;
    sender_bye(&mut alice, &ok).await;
    let stored = running.server.store.pending_session("bob", 10).await.unwrap();
    let bodies: Vec<&[u8]> = stored.iter().map(|m| m.message.body.as_slice()).collect();
    assert_eq!(bodies, [&b"from alice"[..], &b"still alice"[..]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_connects_to_peers_that_answer_or_offer_passive() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let alice_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let alice_uri = format!("msrp://{}/alicepassive;tcp", alice_listener.local_addr().unwrap());
    let ok = invite_with(&mut alice, "bob", &sdp(&alice_uri, "passive")).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    assert!(String::from_utf8_lossy(ok.body()).contains("a=setup:active"));
    let mut chat = Peer::accept(&alice_listener, &alice_uri, &path_of(ok.body()), true).await;
    chat.send_and_confirm("text/plain", b"one").await;
    chat.send_and_confirm("text/plain", b"two").await;
    sender_bye(&mut alice, &ok).await;

    let mut bob = registered(&running, "bob").await;
    let invite = request_with(&mut bob, "INVITE").await;
    let bob_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bob_uri = format!("msrp://{}/bobpassive;tcp", bob_listener.local_addr().unwrap());
    answer(&mut bob, &invite, 200, Some(&sdp(&bob_uri, "passive"))).await;
    let mut push = Peer::accept(&bob_listener, &bob_uri, &path_of(invite.body()), false).await;
    assert_eq!(push.receive().await.expect("one"), b"one");
    assert_eq!(push.receive().await.expect("two"), b"two");
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_registered_over_a_tcp_connection_that_is_gone_is_offline_and_gets_the_session_later() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with_tcp(dir.path()).await;
    let tcp = running.tcp[0];
    let mut gone = Ua::tcp("bob", "bob-pw", tcp).await;
    assert_eq!(gone.register(600).await.status(), Some(200));
    drop(gone);
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    // The registration stands, but nothing reaches bob: the server stores the session. (It notices
    // the closed connection when it reads its end: retry until it has.)
    let deadline = tokio::time::Instant::now() + WAIT;
    let local_uri = format!("msrp://127.0.0.1:{}/alicetcp;tcp", alice.local().port());
    let ok = loop {
        let answer = invite_with(&mut alice, "bob", &sdp(&local_uri, "active")).await;
        if answer.status() == Some(200) {
            break answer;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", answer.status());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut chat = Peer::connect(&local_uri, &path_of(ok.body()), true).await;
    chat.send_and_confirm("text/plain", b"while you were away").await;
    sender_bye(&mut alice, &ok).await;

    let mut bob = Ua::tcp("bob", "bob-pw", tcp).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    let (mut push, _) = bob_accepts(&mut bob, "alice").await;
    assert_eq!(push.receive().await.expect("the message"), b"while you were away");
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_function_shares_the_relays_port_and_has_its_own_only_without_a_relay() {
    // With the relay (the default), the stored session's MSRP goes to the relay's port.
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    assert_eq!(
        running.server.deferred_sessions.msrp_addr,
        running.msrp.expect("the relay listens"),
        "one MSRP port for the server"
    );
    let mut alice = registered(&running, "alice").await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    chat.send_and_confirm("message/cpim", &cpim(0)).await;
    sender_bye(&mut alice, &ok).await;
    assert_eq!(pending(&running, "bob").await, 1);

    // Direct media path: no relay, so the function listens on `deferred_msrp_listen`.
    let dir = tempfile::tempdir().unwrap();
    let direct = "[msrp]\nlisten = \"127.0.0.1:0\"\nmedia_path = \"direct\"\n";
    let running = start(dir.path(), direct).await;
    assert!(running.msrp.is_none());
    let mut alice = registered(&running, "alice").await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    chat.send_and_confirm("message/cpim", &cpim(0)).await;
    sender_bye(&mut alice, &ok).await;
    assert_eq!(pending(&running, "bob").await, 1);
}
