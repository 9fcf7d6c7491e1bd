//! Pager mode across domains: two servers on loopback, `localhost` (A, 127.0.0.1) serving alice and
//! `b.test` (B, 127.0.0.2) serving carol, each naming the other in `[[peers]]`. A MESSAGE from a
//! user of one to a user of the other goes through both servers, the recipient's server answering
//! (delivered, or stored while the recipient is offline); a request claiming a peer domain's user
//! that does not come from that peer is refused.

mod server_support;

use server_support::{store_with_users, Ua};
use simple_im_tokio::config::Config;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{self, Options, Running};
use simple_im_tokio::store::{NewUser, SqliteStore, Store, UnixMillis};
use std::sync::Arc;

struct TwoDomains {
    a: Running,
    b: Running,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn two_domains() -> TwoDomains {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // A's SIP port is needed in B's configuration before A starts: reserved, then released for A.
    let port_a = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let store_b = SqliteStore::open(dir_b.path()).unwrap();
    let carol = NewUser {
        name: "carol".into(),
        display_name: "Carol".into(),
        credentials: simple_im_tokio::users::credentials("carol", "b.test", "carol-pw"),
        created: UnixMillis::now(),
    };
    store_b.add_user(carol).await.unwrap();
    let text_b = format!(
        "domain = \"b.test\"\ndata_dir = \"{}\"\n[sip]\nudp = [\"127.0.0.2:0\"]\ntcp = []\n\
         [msrp]\nlisten = \"127.0.0.2:0\"\n[[peers]]\ndomain = \"localhost\"\naddress = \"127.0.0.1:{port_a}\"\n",
        dir_b.path().display()
    );
    let config_b = Config::from_toml(&text_b, dir_b.path()).unwrap();
    let b = server::start(config_b, Options::default(), Arc::new(store_b))
        .await
        .expect("server B starts");
    let store_a = store_with_users(dir_a.path(), &[("alice", "alice-pw")]).await;
    let text_a = format!(
        "data_dir = \"{}\"\n[sip]\nudp = [\"127.0.0.1:{port_a}\"]\ntcp = []\n[msrp]\nlisten = \"127.0.0.1:0\"\n\
         [[peers]]\ndomain = \"b.test\"\naddress = \"{}\"\n",
        dir_a.path().display(),
        b.udp[0]
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
    let servers = two_domains().await;
    let mut alice = Ua::udp("alice", "alice-pw", servers.a.udp[0]).await;
    assert_eq!(alice.register(600).await.status(), Some(200));

    // carol is offline: B stores it and says so; the 202 comes back through A.
    let stored = send(&mut alice, "sip:carol@b.test", "while you were away").await;
    assert_eq!(stored.status(), Some(202), "{}", stored.reason());

    let mut carol = Ua::udp("carol", "carol-pw", servers.b.udp[0])
        .await
        .in_domain("b.test");
    assert_eq!(carol.register(600).await.status(), Some(200));
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
