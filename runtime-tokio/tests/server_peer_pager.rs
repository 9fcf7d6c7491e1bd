//! Pager mode across domains: two servers on loopback, `localhost` (A, 127.0.0.1) serving alice and
//! `b.test` (B, 127.0.0.2) serving carol, each naming the other in `[[peers]]`. A MESSAGE from a
//! user of one to a user of the other goes through both servers, the recipient's server answering
//! (delivered, or stored while the recipient is offline); a request claiming a peer domain's user
//! that does not come from that peer is refused. A URI list naming users of both domains gets each
//! its copy, and their delivery notifications aggregated back to the sender.

mod groups_support;
mod server_support;

use groups_support::{imdn_documents, listen, notify_delivered};
use server_support::{registered, store_with_users, Ua};
use simple_im_tokio::config::Config;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{self, Options, Running};

struct TwoDomains {
    a: Running,
    b: Running,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// The IMDN batch window of server A.
const AGGREGATION_MS: u64 = 500;

async fn two_domains() -> TwoDomains {
    two_domains_over(false).await
}

/// The two servers; with `tcp`, each reaches the other over TCP only (`transport = "tcp"`, and
/// the peer addresses are TCP listeners on ports where no UDP socket listens).
async fn two_domains_over(tcp: bool) -> TwoDomains {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // A's SIP port is needed in B's configuration before A starts: reserved, then released for A.
    let port_a = groups_support::reserve_port();
    let (b, tcp_a, b_address, peer_lines) = if tcp {
        let (tcp_a, tcp_b) = (
            groups_support::reserve_tcp_port("127.0.0.1"),
            groups_support::reserve_tcp_port("127.0.0.2"),
        );
        let b = groups_support::start_b_test_with(
            dir_b.path(),
            &format!("127.0.0.1:{tcp_a}"),
            &format!("tcp = [\"127.0.0.2:{tcp_b}\"]"),
            "transport = \"tcp\"",
        )
        .await;
        let b_address = b.tcp[0];
        (
            b,
            format!("[\"127.0.0.1:{tcp_a}\"]"),
            b_address,
            "transport = \"tcp\"\n",
        )
    } else {
        let b = groups_support::start_b_test(dir_b.path(), &format!("127.0.0.1:{port_a}")).await;
        let b_address = b.udp[0];
        (b, "[]".to_owned(), b_address, "")
    };
    let store_a = store_with_users(dir_a.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]).await;
    let text_a = format!(
        "data_dir = \"{}\"\n[limits]\nimdn_aggregation_ms = {AGGREGATION_MS}\nmax_pager_body_bytes = 65000\n\
         [sip]\nudp = [\"127.0.0.1:{port_a}\"]\ntcp = {tcp_a}\n[msrp]\nlisten = \"127.0.0.1:0\"\n\
         [[peers]]\ndomain = \"b.test\"\naddress = \"{b_address}\"\n{peer_lines}",
        dir_a.path().display(),
    );
    let config_a = Config::from_toml(&text_a, dir_a.path()).unwrap();
    let a = server::start(config_a, Options::default(), store_a)
        .await
        .expect("server A starts");
    TwoDomains {
        a,
        b,
        _dirs: (dir_a, dir_b),
    }
}

/// carol's UA, registered at B.
async fn carol_at_b(servers: &TwoDomains) -> Ua {
    let mut carol = Ua::udp("carol", "carol-pw", servers.b.udp[0])
        .await
        .in_domain("b.test");
    assert_eq!(carol.register(600).await.status(), Some(200));
    carol
}

async fn send(ua: &mut Ua, to: &str, text: &str) -> SipMessage {
    ua.request(
        "MESSAGE",
        to,
        &format!("<{to}>"),
        &[],
        Some(("text/plain", text.as_bytes())),
        true,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_to_a_peer_domain_user_goes_through_her_server_both_ways() {
    both_ways(&two_domains().await).await;
}

/// The same with `transport = "tcp"` on both sides, where UDP toward the peer addresses would reach
/// nobody.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_over_tcp_carry_messages_both_ways() {
    both_ways(&two_domains_over(true).await).await;
}

async fn both_ways(servers: &TwoDomains) {
    let mut alice = registered(&servers.a, "alice").await;

    // carol is offline: B stores it and says so; the 202 comes back through A.
    let stored = send(&mut alice, "sip:carol@b.test", "while you were away").await;
    assert_eq!(stored.status(), Some(202), "{}", stored.reason());

    let mut carol = carol_at_b(servers).await;
    let first = carol.incoming().await;
    assert_eq!(first.body(), b"while you were away");
    assert!(first
        .header(simple_im_core::sip::HeaderName::From)
        .unwrap()
        .contains("sip:alice@localhost"));

    // The recipient's client answers while the sender waits for the relayed answer.
    let (live, got) = tokio::join!(
        send(&mut alice, "sip:carol@b.test", "hello carol"),
        carol.incoming()
    );
    assert_eq!(live.status(), Some(200), "{}", live.reason());
    assert_eq!(got.body(), b"hello carol");

    let (reply, got) = tokio::join!(
        send(&mut carol, "sip:alice@localhost", "hello alice"),
        alice.incoming()
    );
    assert_eq!(reply.status(), Some(200), "{}", reply.reason());
    assert_eq!(got.body(), b"hello alice");
    assert!(got
        .header(simple_im_core::sip::HeaderName::From)
        .unwrap()
        .contains("sip:carol@b.test"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_domain_user_is_believed_only_from_her_server() {
    let servers = two_domains().await;
    // Straight to A, from 127.0.0.1 rather than B's 127.0.0.2.
    let mut impostor = Ua::udp("carol", "carol-pw", servers.a.udp[0])
        .await
        .in_domain("b.test");
    let refused = send(&mut impostor, "sip:alice@localhost", "it is me, carol").await;
    assert_eq!(refused.status(), Some(403), "{}", refused.reason());
    assert!(
        refused.reason().contains("come through its server"),
        "{}",
        refused.reason()
    );
}

/// Sends alice's CPIM list message (asking for delivery notifications) to `recipients`.
async fn send_list(alice: &mut Ua, recipients: &[&str]) -> SipMessage {
    let entries: String = recipients
        .iter()
        .map(|uri| format!("<entry uri=\"{uri}\"/>"))
        .collect();
    let list = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>\r\n\
         {entries}\r\n</list></resource-lists>\r\n"
    );
    let body = format!(
        "--b1\r\nContent-Type: message/cpim\r\n\r\n{CPIM_LIST_MESSAGE}\r\n--b1\r\n\
         Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n\
         {list}--b1--\r\n"
    );
    alice
        .request(
            "MESSAGE",
            "sip:exploder@localhost",
            "<sip:exploder@localhost>",
            &[("Require", "recipient-list-message".to_owned())],
            Some(("multipart/mixed;boundary=\"b1\"", body.as_bytes())),
            true,
        )
        .await
}

/// The sorted `(recipient, status)` of the notification documents among `received`.
fn reported(received: &[SipMessage]) -> Vec<(Option<String>, String)> {
    let mut reported: Vec<(Option<String>, String)> = received
        .iter()
        .filter(|m| String::from_utf8_lossy(m.body()).contains("Content-Disposition: notification"))
        .flat_map(imdn_documents)
        .map(|(message_id, recipient, status)| {
            assert_eq!(message_id, "peer-list-1");
            (recipient, status)
        })
        .collect();
    reported.sort();
    reported
}

const CPIM_LIST_MESSAGE: &str = "From: <sip:alice@localhost>\r\nTo: <sip:exploder@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: peer-list-1\r\nDateTime: 2026-11-24T09:00:00Z\r\n\
imdn.Disposition-Notification: positive-delivery, negative-delivery\r\n\r\n\
Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

/// alice lists bob (her domain), carol (b.test, a peer) and someone of a domain nobody serves:
/// bob and carol get one copy each (carol's through B), the third entry is refused, and the
/// sender gets the two delivery notifications (carol's back through B) and the failure, each once,
/// from the exploder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_naming_a_peer_domain_user_reaches_her_and_her_notification_is_aggregated() {
    let servers = two_domains().await;
    let mut alice = registered(&servers.a, "alice").await;
    let bob = registered(&servers.a, "bob").await;
    let carol = carol_at_b(&servers).await;
    let (bob, carol) = (listen(bob), listen(carol));

    let answer = send_list(
        &mut alice,
        &["sip:bob@localhost", "sip:carol@b.test", "sip:zed@nowhere.test"],
    )
    .await;
    assert_eq!(answer.reason(), "OK (delivered 2, stored 0, refused 1)");
    let alice = listen(alice);

    let ((mut bob, to_bob), (mut carol, to_carol)) = tokio::join!(bob.stop(), carol.stop());
    assert_eq!((to_bob.len(), to_carol.len()), (1, 1), "one copy each");
    let carol_to = to_carol[0].header(simple_im_core::sip::HeaderName::To).unwrap();
    assert!(carol_to.contains("sip:carol@b.test"), "{carol_to}");
    let (from_bob, from_carol) = tokio::join!(
        notify_delivered(&mut bob, &to_bob[0], "sip:exploder@localhost"),
        notify_delivered(&mut carol, &to_carol[0], "sip:exploder@localhost")
    );
    assert_eq!(from_bob.status(), Some(200), "{}", from_bob.reason());
    assert_eq!(from_carol.status(), Some(200), "{}", from_carol.reason());

    tokio::time::sleep(std::time::Duration::from_millis(3 * AGGREGATION_MS)).await;
    let (_, to_alice) = alice.stop().await;
    assert_eq!(
        reported(&to_alice),
        [
            (Some("sip:bob@localhost".to_owned()), "delivered".to_owned()),
            (Some("sip:carol@b.test".to_owned()), "delivered".to_owned()),
            (Some("sip:zed@nowhere.test".to_owned()), "failed".to_owned()),
        ]
    );
}

/// carol (b.test) is offline when alice's list arrives: her server stores the copy (202 counted as
/// stored), and when carol registers, B's Deferred Messaging function sends its notification to
/// A's exploder, where it joins bob's in the aggregation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_stored_by_the_peer_is_notified_back_into_the_aggregation() {
    let servers = two_domains().await;
    let mut alice = registered(&servers.a, "alice").await;
    let bob = registered(&servers.a, "bob").await;
    let bob = listen(bob);
    let answer = send_list(&mut alice, &["sip:bob@localhost", "sip:carol@b.test"]).await;
    assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 0)");
    let alice = listen(alice);
    let (mut bob, to_bob) = bob.stop().await;
    let from_bob = notify_delivered(&mut bob, &to_bob[0], "sip:exploder@localhost").await;
    assert_eq!(from_bob.status(), Some(200), "{}", from_bob.reason());

    let mut carol = carol_at_b(&servers).await;
    assert_eq!(
        groups_support::drain(&mut carol).await.len(),
        1,
        "carol's stored copy"
    );
    tokio::time::sleep(std::time::Duration::from_millis(3 * AGGREGATION_MS)).await;
    let (_, to_alice) = alice.stop().await;
    assert_eq!(
        reported(&to_alice),
        [
            (Some("sip:bob@localhost".to_owned()), "delivered".to_owned()),
            (Some("sip:carol@b.test".to_owned()), "delivered".to_owned()),
        ]
    );
}
