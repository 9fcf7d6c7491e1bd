//! The server end to end on loopback: registrar with digest, pager mode both ways, authentication,
//! Participating policy, TCP, and malformed requests.

mod server_support;

use server_support::{registered, start, tcp_addr, udp_addr, Ua};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::Options;
use simple_im_tokio::store::UserPolicy;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_is_challenged_then_accepted_and_lists_the_contact() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let (bytes, _) = alice.build("REGISTER", "sip:localhost", "<sip:alice@localhost>", &[], None);
    alice.send_raw(&bytes).await;
    let challenge = alice.receive().await.expect("a response");
    assert_eq!(challenge.status(), Some(401));
    // RFC 3581: the empty rport is filled with the source port, and received is added.
    let via = challenge.header(HeaderName::Via).unwrap();
    let port = alice.contact().rsplit(':').next().unwrap().to_owned();
    assert!(
        via.contains(&format!(";rport={port}")) && via.contains(";received=127.0.0.1"),
        "{via}"
    );
    let offered: Vec<&str> = challenge.values(HeaderName::WwwAuthenticate).collect();
    assert!(offered.iter().any(|c| c.contains("SHA-256")), "{offered:?}");
    assert!(offered.iter().any(|c| c.contains("MD5")), "{offered:?}");

    let ok = alice.register(600).await;
    assert_eq!(ok.status(), Some(200));
    let contact = ok.header(HeaderName::Contact).expect("Contact in 200");
    assert!(contact.contains(&alice.contact()), "{contact}");
    assert!(
        contact.contains("expires=600") || contact.contains("expires=599"),
        "{contact}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_with_a_wrong_password_is_forbidden() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "not-the-password", udp_addr(&running)).await;
    assert_eq!(alice.register(600).await.status(), Some(403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_below_the_minimum_gets_423_and_star_removes_all() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let brief = alice.register(10).await;
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header(HeaderName::MinExpires), Some("60"));
    assert_eq!(alice.register(120).await.status(), Some(200));
    assert_eq!(running.server.location.lookup("alice").len(), 1);
    let response = alice
        .request(
            "REGISTER",
            "sip:localhost",
            "<sip:alice@localhost>",
            &[("Contact", "*".into()), ("Expires", "0".into())],
            None,
            true,
        )
        .await;
    assert_eq!(response.status(), Some(200));
    assert!(running.server.location.lookup("alice").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_between_two_registered_users_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut bob = Ua::udp("bob", "bob-pw", udp_addr(&running)).await;
    assert_eq!(alice.register(600).await.status(), Some(200));
    assert_eq!(bob.register(600).await.status(), Some(200));

    let send = tokio::spawn(async move {
        let response = alice.message("bob", "hello bob").await;
        (alice, response)
    });
    let received = bob.incoming().await;
    assert_eq!(received.method(), Some("MESSAGE"));
    assert_eq!(received.body(), b"hello bob");
    assert_eq!(
        received.header(HeaderName::Date),
        Some("Sat, 13 Nov 2010 23:29:00 GMT")
    );
    assert_eq!(received.request_uri(), Some(bob.contact().as_str()));
    assert!(
        received.header(HeaderName::ProxyAuthorization).is_none(),
        "credentials consumed by the proxy"
    );
    let (mut alice, response) = send.await.unwrap();
    assert_eq!(response.status(), Some(200));

    let send = tokio::spawn(async move {
        let response = bob.message("alice", "hi alice").await;
        response
    });
    let received = alice.incoming().await;
    assert_eq!(received.body(), b"hi alice");
    assert_eq!(send.await.unwrap().status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_without_credentials_from_a_local_user_gets_407() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let response = alice
        .request(
            "MESSAGE",
            "sip:bob@localhost",
            "<sip:bob@localhost>",
            &[],
            Some(("text/plain", b"x")),
            false,
        )
        .await;
    assert_eq!(response.status(), Some(407));
    assert!(response
        .header(HeaderName::ProxyAuthenticate)
        .is_some_and(|c| c.starts_with("Digest ")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_an_unknown_user_gets_404() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    assert_eq!(alice.message("nobody", "hello?").await.status(), Some(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_sender_gets_403_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let policy = UserPolicy {
        blocked: vec!["sip:alice@localhost".into()],
        ..UserPolicy::default()
    };
    running.server.store.set_policy("bob", policy).await.unwrap();
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let response = alice.message("bob", "let me in").await;
    assert_eq!(response.status(), Some(403));
    assert!(response.reason().contains("Blocked"), "{}", response.reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incoming_barring_gets_403() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let policy = UserPolicy {
        incoming_barred: true,
        ..UserPolicy::default()
    };
    running.server.store.set_policy("bob", policy).await.unwrap();
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let response = alice.message("bob", "anyone?").await;
    assert_eq!(response.status(), Some(403));
    assert!(response.reason().contains("barred"), "{}", response.reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_gets_413_telling_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(
        dir.path(),
        "[limits]\nmax_pager_body_bytes = 100",
        Options::default(),
    )
    .await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let response = alice.message("bob", &"x".repeat(101)).await;
    assert_eq!(response.status(), Some(413));
    let warning = response
        .header(HeaderName::Warning)
        .expect("Warning with the maximum");
    assert!(warning.contains("100 bytes"), "{warning}");
    // Exactly the maximum passes the size check (bob is offline: stored).
    assert_eq!(alice.message("bob", &"x".repeat(100)).await.status(), Some(202));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disallowed_content_type_gets_415_with_accept() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        allowed_content_types: Some(vec!["text/plain".into()]),
        ..Options::default()
    };
    let running = start(dir.path(), "", options).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let uri = "sip:bob@localhost";
    let response = alice
        .request(
            "MESSAGE",
            uri,
            "<sip:bob@localhost>",
            &[],
            Some(("text/html", b"<b>x</b>")),
            true,
        )
        .await;
    assert_eq!(response.status(), Some(415));
    assert_eq!(response.header(HeaderName::Accept), Some("text/plain"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_id_anonymises_the_sender_toward_the_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut bob = registered(&running, "bob").await;
    let send = tokio::spawn(async move {
        let headers = [
            ("Privacy", "id".to_owned()),
            ("P-Asserted-Identity", "<sip:alice@localhost>".to_owned()),
        ];
        alice
            .request(
                "MESSAGE",
                "sip:bob@localhost",
                "<sip:bob@localhost>",
                &headers,
                Some(("text/plain", b"guess")),
                true,
            )
            .await
    });
    let received = bob.incoming().await;
    let from = received.header(HeaderName::From).unwrap();
    assert!(from.contains("sip:anonymous@anonymous.invalid"), "{from}");
    assert!(!from.contains("alice"), "{from}");
    assert!(received.header(HeaderName::PAssertedIdentity).is_none());
    assert_eq!(send.await.unwrap().status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_responses_and_requests_use_the_clients_connection() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let mut bob = Ua::tcp("bob", "bob-pw", tcp_addr(&running)).await;
    // CRLF keep-alives between messages are absorbed.
    alice.send_raw(b"\r\n\r\n").await;
    assert_eq!(alice.register(600).await.status(), Some(200));
    assert_eq!(bob.register(600).await.status(), Some(200));
    let send = tokio::spawn(async move { alice.message("bob", "over tcp").await });
    let received = bob.incoming().await;
    assert_eq!(received.body(), b"over tcp");
    assert!(received
        .header(HeaderName::Via)
        .is_some_and(|v| v.starts_with("SIP/2.0/TCP")));
    assert_eq!(send.await.unwrap().status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_request_gets_400_naming_the_problem_and_invalid_ack_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut ua = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    // A MESSAGE with a body but no Content-Type (RFC 3261 §20.15).
    let bad = b"MESSAGE sip:bob@localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad1\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@localhost>;tag=1\r\nTo: <sip:bob@localhost>\r\nCall-ID: bad1\r\n\
CSeq: 1 MESSAGE\r\nContent-Length: 2\r\n\r\nhi";
    ua.send_raw(bad).await;
    let response = ua.receive().await.expect("a 400");
    assert_eq!(response.status(), Some(400));
    assert!(
        response.reason().contains("Content-Type"),
        "{}",
        response.reason()
    );
    let bad_ack = b"ACK sip:bob@localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad2\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@localhost>;tag=1\r\nTo: <sip:bob@localhost>\r\nCall-ID: bad2\r\n\
CSeq: 1 ACK\r\nContent-Length: 2\r\n\r\nhi";
    ua.send_raw(bad_ack).await;
    assert!(ua.receive_within(Duration::from_millis(300)).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retransmitted_request_is_answered_from_the_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut ua = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let (bytes, _) = ua.build("OPTIONS", "sip:localhost", "<sip:localhost>", &[], None);
    ua.send_raw(&bytes).await;
    let first = ua.receive().await.expect("200");
    ua.send_raw(&bytes).await;
    let again = ua.receive().await.expect("the same 200 again");
    assert_eq!(first.status(), Some(200));
    assert_eq!(
        first.raw(),
        again.raw(),
        "a retransmission gets the stored response, byte for byte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exhausted_max_forwards_gets_483_and_our_own_via_gets_482() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let body = Some(("text/plain", &b"hop"[..]));
    let to = "<sip:bob@localhost>";
    let hops = [("Max-Forwards", "0".to_owned())];
    let response = alice
        .request("MESSAGE", "sip:bob@localhost", to, &hops, body, true)
        .await;
    assert_eq!(response.status(), Some(483));
    let ours = format!("SIP/2.0/UDP {};branch=z9hG4bKsimlooped", udp_addr(&running));
    let looped = [("Via", ours)];
    let response = alice
        .request("MESSAGE", "sip:bob@localhost", to, &looped, body, true)
        .await;
    assert_eq!(response.status(), Some(482));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_core_the_asserted_identity_counts_and_delivery_goes_back_through_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "trusted_cores = [\"127.0.0.1\"]", Options::default()).await;
    let policy = UserPolicy {
        blocked: vec!["alice@localhost".into()],
        ..UserPolicy::default()
    };
    running.server.store.set_policy("bob", policy).await.unwrap();
    // The fake core: no credentials (the core authenticated its user); the identity is asserted.
    let mut core = Ua::udp("mallory", "unused", udp_addr(&running)).await;
    let asserted = [("P-Asserted-Identity", "<sip:alice@localhost>".to_owned())];
    let body = Some(("text/plain", &b"via the core"[..]));
    let to = "<sip:bob@localhost>";
    let response = core
        .request("MESSAGE", "sip:bob@localhost", to, &asserted, body, false)
        .await;
    assert_eq!(
        response.status(),
        Some(403),
        "alice is blocked, so the sender was taken as alice"
    );

    // Without an assertion the From (mallory, not blocked) counts; bob is not registered here, so
    // the MESSAGE goes back to the core for terminating delivery, and the core's 200 is relayed.
    let (bytes, _) = core.build(
        "MESSAGE",
        "sip:bob@localhost",
        to,
        &[],
        Some(("text/plain", b"hello bob")),
    );
    core.send_raw(&bytes).await;
    let forwarded = core.incoming().await;
    assert_eq!(forwarded.request_uri(), Some("sip:bob@localhost"));
    assert_eq!(forwarded.body(), b"hello bob");
    assert_eq!(core.receive().await.map(|r| r.status()), Some(Some(200)));

    // The core cannot reach bob (404): the message is stored instead, and the sender gets 202.
    let (bytes, _) = core.build(
        "MESSAGE",
        "sip:bob@localhost",
        to,
        &[],
        Some(("text/plain", b"later")),
    );
    core.send_raw(&bytes).await;
    let forwarded = core.receive().await.expect("the MESSAGE back through the core");
    let not_found =
        simple_im_tokio::server::reply::build(&forwarded, None, 404, "Not Found", &[], None).unwrap();
    core.send_raw(&not_found).await;
    assert_eq!(core.receive().await.map(|r| r.status()), Some(Some(202)));
    assert_eq!(running.server.store.pending("bob", 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_can_be_addressed_by_display_name() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let mut bob = registered(&running, "bob").await;
    let send = tokio::spawn(async move { alice.message("bob%20display", "by name").await });
    assert_eq!(bob.incoming().await.body(), b"by name");
    assert_eq!(send.await.unwrap().status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn digest_algorithms_are_challenged_in_the_configured_order() {
    use simple_im_core::sip::auth::Algorithm;
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        digest_algorithms: vec![Algorithm::MD5, Algorithm::SHA256],
        ..Options::default()
    };
    let running = start(dir.path(), "", options).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let (bytes, _) = alice.build("REGISTER", "sip:localhost", "<sip:alice@localhost>", &[], None);
    alice.send_raw(&bytes).await;
    let challenge = alice.receive().await.expect("a 401");
    let offered: Vec<&str> = challenge.values(HeaderName::WwwAuthenticate).collect();
    assert_eq!(offered.len(), 2);
    assert!(
        offered[0].contains("algorithm=MD5") && offered[1].contains("algorithm=SHA-256"),
        "{offered:?}"
    );
    assert_eq!(alice.register(600).await.status(), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_requests_go_to_the_registered_contact_address_not_the_register_source() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    // As SIPp does: one socket registers, another (the contact) receives.
    let mut receiver = Ua::udp("bob", "bob-pw", udp_addr(&running)).await;
    let mut registrar_client = Ua::udp("bob", "bob-pw", udp_addr(&running)).await;
    let contact = [("Contact", format!("<{}>", receiver.contact()))];
    let to = "<sip:bob@localhost>";
    let response = registrar_client
        .request("REGISTER", "sip:localhost", to, &contact, None, true)
        .await;
    assert_eq!(response.status(), Some(200));
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let send = tokio::spawn(async move { alice.message("bob", "to the contact").await });
    let received = receiver.incoming().await;
    assert_eq!(received.body(), b"to the contact");
    let vias: Vec<&str> = received.values(HeaderName::Via).collect();
    let max_forwards_line = received.headers().position(|(n, _)| n == "Max-Forwards").unwrap();
    assert!(
        max_forwards_line > 1,
        "our Via and the sender's stay adjacent: {vias:?}"
    );
    assert_eq!(received.header(HeaderName::MaxForwards), Some("69"));
    assert_eq!(send.await.unwrap().status(), Some(200));
}
