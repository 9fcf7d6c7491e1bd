//! PUBLISH of service settings (incoming-IM barring): the core IM client's own PUBLISH over UDP, and
//! the RFC 3903 rows (authentication, own AoR, event package, body, entity tags, expiry) with a test UA.

mod server_support;

use server_support::{registered, start, udp_addr, Ua};
use simple_im_core::client::{Client, ClientConfig, ClientEvent, Destination, TransportKind};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::publish::{SETTINGS_CONTENT_TYPE, SETTINGS_EVENT_PACKAGE};
use simple_im_tokio::server::rng::OsRng;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{Options, Running};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const BARRED: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<im-settings xmlns=\"urn:simple-im:params:xml:ns:im-settings\"><incoming-im-barring>true</incoming-im-barring></im-settings>\r\n";

/// The core IM client for alice, driven over a real UDP socket in a task: commands in, events out.
fn spawn_client(socket: UdpSocket, server: SocketAddr) -> (mpsc::Sender<bool>, mpsc::Receiver<ClientEvent>) {
    let (command_tx, mut commands) = mpsc::channel::<bool>(4);
    let (event_tx, events) = mpsc::channel(16);
    tokio::spawn(async move {
        let epoch = std::time::Instant::now();
        let now = || {
            let ms = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            simple_im_core::time::Instant::from_millis(ms)
        };
        let config = ClientConfig::new(
            &server.to_string(),
            TransportKind::Udp,
            "sip:alice@localhost",
            "alice",
            "alice-pw",
        )
        .unwrap();
        let mut client: Client<OsRng, SocketAddr> = Client::new(config, now(), OsRng);
        client
            .set_local_address(&socket.local_addr().unwrap().to_string())
            .unwrap();
        client.register(now()).unwrap();
        let (mut rx, mut tx) = (vec![0u8; 65_535], vec![0u8; 4096]);
        loop {
            while let Some(t) = client.poll_transmit(&mut tx) {
                let to = match t.dest {
                    Destination::Server => server,
                    Destination::Peer(peer) => peer,
                };
                socket.send_to(&tx[..t.len], to).await.unwrap();
            }
            while let Some(event) = client.poll_event() {
                if event_tx.send(event).await.is_err() {
                    return;
                }
            }
            let wait = client.poll_timeout().map_or(Duration::from_secs(1), |at| {
                Duration::from_millis(at.as_millis().saturating_sub(now().as_millis()))
            });
            tokio::select! {
                received = socket.recv_from(&mut rx) => {
                    let (len, from) = received.unwrap();
                    client.handle_datagram(now(), from, &rx[..len]);
                }
                command = commands.recv() => match command {
                    Some(barred) => client.set_barring(now(), barred).unwrap(),
                    None => return,
                },
                _ = tokio::time::sleep(wait) => client.handle_timeout(now()),
            }
        }
    });
    (command_tx, events)
}

async fn next_event(
    events: &mut mpsc::Receiver<ClientEvent>,
    want: impl Fn(&ClientEvent) -> bool,
) -> ClientEvent {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("a client event in time")
            .expect("the client runs");
        if want(&event) {
            return event;
        }
    }
}

async fn barred(running: &Running, user: &str) -> bool {
    running.server.store.policy(user).await.unwrap().incoming_barred
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clients_barring_publish_refuses_messages_until_it_publishes_unbarred() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let (commands, mut events) = spawn_client(socket, udp_addr(&running));
    let registered_event = next_event(&mut events, |e| {
        matches!(
            e,
            ClientEvent::Registered { .. } | ClientEvent::RegistrationFailed { .. }
        )
    })
    .await;
    assert!(
        matches!(registered_event, ClientEvent::Registered { .. }),
        "{registered_event:?}"
    );
    let mut bob = registered(&running, "bob").await;

    commands.send(true).await.unwrap();
    let published = next_event(&mut events, |e| matches!(e, ClientEvent::BarringPublished { .. })).await;
    assert_eq!(
        published,
        ClientEvent::BarringPublished {
            barred: true,
            status: 200
        }
    );
    assert!(barred(&running, "alice").await);
    let refused = bob.message("alice", "are you there?").await;
    assert_eq!(refused.status(), Some(403));
    assert!(refused.reason().contains("barred"), "{}", refused.reason());

    commands.send(false).await.unwrap();
    let published = next_event(&mut events, |e| matches!(e, ClientEvent::BarringPublished { .. })).await;
    assert_eq!(
        published,
        ClientEvent::BarringPublished {
            barred: false,
            status: 200
        }
    );
    assert!(!barred(&running, "alice").await);
    assert_eq!(bob.message("alice", "now?").await.status(), Some(200));
    next_event(&mut events, |e| matches!(e, ClientEvent::PagerReceived { .. })).await;
}

/// A PUBLISH from `ua` to `aor` (authenticating when asked).
async fn publish(
    ua: &mut Ua,
    aor: &str,
    headers: &[(&str, String)],
    body: Option<(&str, &[u8])>,
    authenticate: bool,
) -> SipMessage {
    let mut all = vec![("Event", SETTINGS_EVENT_PACKAGE.to_owned())];
    all.extend(headers.iter().cloned());
    ua.request("PUBLISH", aor, &format!("<{aor}>"), &all, body, authenticate)
        .await
}

fn settings(doc: &str) -> Option<(&'static str, &[u8])> {
    Some((SETTINGS_CONTENT_TYPE, doc.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unauthenticated_is_407_and_another_users_aor_is_403() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let challenge = publish(&mut alice, "sip:alice@localhost", &[], settings(BARRED), false).await;
    assert_eq!(challenge.status(), Some(407));
    assert!(challenge.header(HeaderName::ProxyAuthenticate).is_some());
    let foreign = publish(&mut alice, "sip:bob@localhost", &[], settings(BARRED), true).await;
    assert_eq!(foreign.status(), Some(403));
    assert!(!barred(&running, "bob").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_event_packages_are_489_with_allow_events_and_bad_bodies_400() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let aor = "sip:alice@localhost";
    let presence = alice
        .request(
            "PUBLISH",
            aor,
            &format!("<{aor}>"),
            &[("Event", "presence".into())],
            Some(("application/pidf+xml", b"<presence/>")),
            true,
        )
        .await;
    assert_eq!(presence.status(), Some(489));
    assert_eq!(
        presence.header(HeaderName::AllowEvents),
        Some(SETTINGS_EVENT_PACKAGE)
    );
    let bad = BARRED.replace(">true<", ">maybe<");
    let refused = publish(&mut alice, aor, &[], settings(&bad), true).await;
    assert_eq!(refused.status(), Some(400));
    assert!(
        refused.reason().contains("incoming-im-barring"),
        "{}",
        refused.reason()
    );
    let wrong_type = publish(&mut alice, aor, &[], Some(("text/plain", b"bar me")), true).await;
    assert_eq!(wrong_type.status(), Some(415));
    let no_body = publish(&mut alice, aor, &[], None, true).await;
    assert_eq!(no_body.status(), Some(400));
    let brief = publish(
        &mut alice,
        aor,
        &[("Expires", "5".into())],
        settings(BARRED),
        true,
    )
    .await;
    assert_eq!(brief.status(), Some(423));
    assert_eq!(brief.header(HeaderName::MinExpires), Some("60"));
    assert!(!barred(&running, "alice").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etag_refresh_unknown_tag_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let aor = "sip:alice@localhost";
    let created = publish(
        &mut alice,
        aor,
        &[("Expires", "99999".into())],
        settings(BARRED),
        true,
    )
    .await;
    assert_eq!(created.status(), Some(200));
    assert_eq!(
        created.header(HeaderName::Expires),
        Some("3600"),
        "capped at max_expires"
    );
    let etag = created
        .header(HeaderName::parse("SIP-ETag"))
        .expect("SIP-ETag")
        .to_owned();
    assert!(barred(&running, "alice").await);

    let refreshed = publish(
        &mut alice,
        aor,
        &[("SIP-If-Match", etag.clone()), ("Expires", "600".into())],
        None,
        true,
    )
    .await;
    assert_eq!(refreshed.status(), Some(200));
    assert_eq!(refreshed.header(HeaderName::Expires), Some("600"));
    let new_etag = refreshed
        .header(HeaderName::parse("SIP-ETag"))
        .expect("SIP-ETag")
        .to_owned();
    assert_ne!(new_etag, etag, "a refresh gets a new entity tag (RFC 3903 §6)");
    assert!(barred(&running, "alice").await, "a refresh keeps the setting");

    let stale = publish(&mut alice, aor, &[("SIP-If-Match", etag)], None, true).await;
    assert_eq!(stale.status(), Some(412));

    let removed = publish(
        &mut alice,
        aor,
        &[("SIP-If-Match", new_etag), ("Expires", "0".into())],
        None,
        true,
    )
    .await;
    assert_eq!(removed.status(), Some(200));
    assert_eq!(removed.header(HeaderName::Expires), Some("0"));
    assert!(
        !barred(&running, "alice").await,
        "removing the publication clears the barring"
    );
    assert_eq!(running.server.publications.etag("alice"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unrefreshed_publication_expires_and_clears_the_barring() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        min_expires: 1,
        ..Options::default()
    };
    let running = start(dir.path(), "", options).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let created = publish(
        &mut alice,
        "sip:alice@localhost",
        &[("Expires", "1".into())],
        settings(BARRED),
        true,
    )
    .await;
    assert_eq!(created.status(), Some(200));
    assert!(barred(&running, "alice").await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(!barred(&running, "alice").await);
    assert_eq!(running.server.publications.etag("alice"), None);
}
