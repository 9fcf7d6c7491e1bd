//! Deferred Messaging end to end: store-before-202, push on REGISTER exactly once and in order, the
//! system notice to the sender, charging records, pending messages surviving a restart, and negative
//! delivery notifications for messages that expire or are refused for good.

mod server_support;

use server_support::{registered, start, udp_addr, Ua, WAIT};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::Options;
use simple_im_tokio::store::UserPolicy;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_offline_user_is_stored_then_delivered_once_on_register() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = registered(&running, "alice").await;
    let accepted = alice.message("bob", "while you were out").await;
    assert_eq!(accepted.status(), Some(202));
    // Stored before the 202 was sent.
    assert_eq!(running.server.store.pending("bob", 10).await.unwrap().len(), 1);

    // The sender hears from the system URI that the message was stored.
    let notice = alice.incoming().await;
    assert!(notice
        .header(HeaderName::From)
        .unwrap()
        .contains("sip:system@localhost"));
    assert!(String::from_utf8_lossy(notice.body()).contains("stored"));

    let mut bob = registered(&running, "bob").await;
    let delivered = bob.incoming().await;
    assert_eq!(delivered.method(), Some("MESSAGE"));
    assert_eq!(delivered.body(), b"while you were out");
    assert_eq!(
        delivered.header(HeaderName::Date),
        Some("Sat, 13 Nov 2010 23:29:00 GMT")
    );
    assert!(delivered
        .header(HeaderName::From)
        .unwrap()
        .contains("sip:alice@localhost"));

    // Removed after bob's 200; a new registration delivers nothing again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(running.server.store.pending("bob", 10).await.unwrap().is_empty());
    assert_eq!(bob.register(600).await.status(), Some(200));
    assert!(
        bob.incoming_within(Duration::from_millis(500)).await.is_none(),
        "delivered exactly once"
    );

    let log = std::fs::read_to_string(&running.server.config.charging_log).unwrap();
    for event in ["submitted", "deferred", "delivered"] {
        assert!(
            log.lines().any(|l| l.contains(&format!("\"event\":\"{event}\""))),
            "{event} missing in {log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_messages_are_pushed_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    for text in ["first", "second", "third"] {
        assert_eq!(alice.message("bob", text).await.status(), Some(202));
    }
    let mut bob = registered(&running, "bob").await;
    for text in ["first", "second", "third"] {
        assert_eq!(bob.incoming().await.body(), text.as_bytes());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_quota_gets_480_and_is_not_stored() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "[limits]\nquota_messages = 1", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    assert_eq!(alice.message("bob", "one").await.status(), Some(202));
    assert_eq!(alice.message("bob", "two").await.status(), Some(480));
    assert_eq!(running.server.store.pending("bob", 10).await.unwrap().len(), 1);
}

#[test]
fn pending_messages_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    first.block_on(async {
        let running = start(dir.path(), "", Options::default()).await;
        let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
        assert_eq!(
            alice.message("bob", "before the restart").await.status(),
            Some(202)
        );
    });
    // Drops every task of the first server, its sockets and its store.
    first.shutdown_timeout(Duration::from_secs(2));

    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    second.block_on(async {
        let running = start(dir.path(), "", Options::default()).await;
        let mut bob = Ua::udp("bob", "bob-pw", udp_addr(&running)).await;
        assert_eq!(bob.register(600).await.status(), Some(200));
        assert_eq!(bob.incoming().await.body(), b"before the restart");
        assert!(bob.incoming_within(Duration::from_millis(500)).await.is_none());
    });
}

const CPIM_ASKING_FOR_DELIVERY: &str = "From: <sip:alice@localhost>\r\nTo: <sip:bob@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: 34jk324j\r\nDateTime: 2006-04-04T12:16:49-05:00\r\n\
imdn.Disposition-Notification: positive-delivery\r\n\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_notification_for_an_offline_sender_is_itself_deferred() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    let body = Some(("message/cpim", CPIM_ASKING_FOR_DELIVERY.as_bytes()));
    let accepted = alice
        .request(
            "MESSAGE",
            "sip:bob@localhost",
            "<sip:bob@localhost>",
            &[],
            body,
            true,
        )
        .await;
    assert_eq!(accepted.status(), Some(202));

    let mut bob = registered(&running, "bob").await;
    let delivered = bob.incoming().await;
    assert_eq!(
        delivered.body(),
        CPIM_ASKING_FOR_DELIVERY.as_bytes(),
        "CPIM body unaltered"
    );

    // alice is offline: the notification waits for her.
    let mut pending = Vec::new();
    for _ in 0..50 {
        pending = running.server.store.pending("alice", 10).await.unwrap();
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        pending.len(),
        1,
        "the delivery notification is stored for the offline sender"
    );

    assert_eq!(alice.register(600).await.status(), Some(200));
    let notification = alice.incoming().await;
    assert_eq!(notification.header(HeaderName::ContentType), Some("message/cpim"));
    let text = String::from_utf8_lossy(notification.body()).into_owned();
    assert!(text.contains("<message-id>34jk324j</message-id>"), "{text}");
    assert!(text.contains("<delivered/>"), "{text}");
    assert!(text.contains("Content-Disposition: notification"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discard_command_to_the_system_uri_deletes_pending_messages() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    assert_eq!(alice.message("bob", "never mind").await.status(), Some(202));
    let mut bob = registered_bob_storing_pager_messages(&running).await;
    // Even with store_pager_messages, a registration pushes what waits.
    let pushed = bob.incoming_within(Duration::from_millis(500)).await;
    assert!(pushed.is_some_and(|m| m.body() == b"never mind"));
    assert_eq!(alice.message("bob", "second thoughts").await.status(), Some(202));
    assert_eq!(bob.message("system", "discard").await.status(), Some(200));
    assert!(running.server.store.pending("bob", 10).await.unwrap().is_empty());
    let notice = bob.incoming().await;
    assert!(String::from_utf8_lossy(notice.body()).contains("1 pending message(s) discarded"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_command_pushes_pending_messages_now() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = registered_bob_storing_pager_messages(&running).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    assert_eq!(alice.message("bob", "kept for you").await.status(), Some(202));
    assert!(
        bob.incoming_within(Duration::from_millis(300)).await.is_none(),
        "stored, not pushed"
    );
    assert_eq!(bob.message("system", "fetch").await.status(), Some(200));
    assert_eq!(bob.incoming().await.body(), b"kept for you");
}

/// bob, registered, with "store pager messages" set.
async fn registered_bob_storing_pager_messages(running: &simple_im_tokio::server::Running) -> Ua {
    let mut bob = Ua::udp("bob", "bob-pw", udp_addr(running)).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    let policy = UserPolicy {
        store_pager_messages: true,
        ..UserPolicy::default()
    };
    running.server.store.set_policy("bob", policy).await.unwrap();
    bob
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_to_a_contact_whose_tcp_connection_closed_is_deferred() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut bob = Ua::tcp("bob", "bob-pw", server_support::tcp_addr(&running)).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    drop(bob);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    assert_eq!(alice.message("bob", "are you there").await.status(), Some(202));
    assert!(
        running.server.location.lookup("bob").is_empty(),
        "the dead flow's binding is gone"
    );
    assert_eq!(running.server.store.pending("bob", 10).await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_messages_are_removed_and_charged() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        expiry_interval: Duration::from_millis(100),
        ..Options::default()
    };
    let running = start(dir.path(), "[limits]\ndeferred_expiry_seconds = 1", options).await;
    let mut alice = Ua::udp("alice", "alice-pw", udp_addr(&running)).await;
    assert_eq!(alice.message("bob", "too late").await.status(), Some(202));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(running.server.store.pending("bob", 10).await.unwrap().is_empty());
    let log = std::fs::read_to_string(&running.server.config.charging_log).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"event\":\"expired\"") && l.contains("\"size\":8")),
        "{log}"
    );
}

const CPIM_ASKING_FOR_FAILURE: &str = "From: <sip:alice@localhost>\r\nTo: <sip:bob@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: neg-77\r\nDateTime: 2006-04-04T12:16:49-05:00\r\n\
imdn.Disposition-Notification: negative-delivery\r\n\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

/// alice (registered) sends bob (offline) a CPIM message asking for negative delivery notifications.
async fn alice_asks_for_negative_delivery(running: &simple_im_tokio::server::Running) -> Ua {
    let mut alice = registered(running, "alice").await;
    let body = Some(("message/cpim", CPIM_ASKING_FOR_FAILURE.as_bytes()));
    let accepted = alice
        .request(
            "MESSAGE",
            "sip:bob@localhost",
            "<sip:bob@localhost>",
            &[],
            body,
            true,
        )
        .await;
    assert_eq!(accepted.status(), Some(202));
    alice
}

/// The next IMDN alice receives (skipping system messages), as text.
async fn next_notification(alice: &mut Ua) -> String {
    for _ in 0..5 {
        let Some(msg) = alice.incoming_within(Duration::from_secs(5)).await else {
            break;
        };
        let text = String::from_utf8_lossy(msg.body()).into_owned();
        if text.contains("Content-Disposition: notification") {
            return text;
        }
    }
    panic!("no delivery notification reached alice");
}

/// Whether a line of the charging log satisfies `wanted` within a few seconds (the log is written in
/// batches by its own thread); panics with the log otherwise.
async fn charged(running: &simple_im_tokio::server::Running, wanted: impl Fn(&str) -> bool) {
    let mut log = String::new();
    for _ in 0..50 {
        log = std::fs::read_to_string(&running.server.config.charging_log).unwrap_or_default();
        if log.lines().any(&wanted) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no such charging record in:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_message_gets_a_negative_delivery_notification() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        expiry_interval: Duration::from_millis(100),
        ..Options::default()
    };
    let running = start(dir.path(), "[limits]\ndeferred_expiry_seconds = 1", options).await;
    let mut alice = alice_asks_for_negative_delivery(&running).await;
    let text = next_notification(&mut alice).await;
    assert!(text.contains("<message-id>neg-77</message-id>"), "{text}");
    assert!(text.contains("<delivery-notification>"), "{text}");
    assert!(text.contains("<failed/>"), "{text}");
    assert!(running.server.store.pending("bob", 10).await.unwrap().is_empty());
    charged(&running, |l| {
        l.contains("\"event\":\"expired\"") && l.contains("neg-77")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_for_good_is_dropped_with_a_negative_delivery_notification() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = alice_asks_for_negative_delivery(&running).await;
    let mut bob = registered(&running, "bob").await;
    let pushed = bob
        .incoming_answered_within(WAIT, 415, "Unsupported Media Type")
        .await
        .expect("the stored message is pushed");
    assert_eq!(pushed.body(), CPIM_ASKING_FOR_FAILURE.as_bytes());
    let text = next_notification(&mut alice).await;
    assert!(text.contains("<message-id>neg-77</message-id>"), "{text}");
    assert!(text.contains("<failed/>"), "{text}");
    assert!(running.server.store.pending("bob", 10).await.unwrap().is_empty());
    charged(&running, |l| {
        l.contains("\"event\":\"rejected\"") && l.contains("neg-77") && l.contains("\"status\":415")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_refused_for_now_stays_stored_without_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = alice_asks_for_negative_delivery(&running).await;
    let mut bob = registered(&running, "bob").await;
    bob.incoming_answered_within(WAIT, 480, "Temporarily Unavailable")
        .await
        .expect("the stored message is pushed");
    assert_eq!(running.server.store.pending("bob", 10).await.unwrap().len(), 1);
    for _ in 0..3 {
        if let Some(msg) = alice.incoming_within(Duration::from_millis(500)).await {
            let text = String::from_utf8_lossy(msg.body()).into_owned();
            assert!(!text.contains("Content-Disposition: notification"), "{text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_recipient_with_pending_messages_tells_their_senders_at_next_registration() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let mut alice = alice_asks_for_negative_delivery(&running).await;
    let said = simple_im_tokio::users::cli_remove(&running.server.config, "bob").unwrap();
    assert!(
        said.contains("1 pending message(s); 1 negative delivery notification(s) stored"),
        "{said}"
    );
    // Stored for alice by the CLI; the server pushes it when alice registers again (a refresh).
    assert_eq!(alice.register(600).await.status(), Some(200));
    let text = next_notification(&mut alice).await;
    assert!(text.contains("<message-id>neg-77</message-id>"), "{text}");
    assert!(text.contains("<failed/>"), "{text}");
    charged(&running, |l| {
        l.contains("\"event\":\"rejected\"") && l.contains("neg-77") && l.contains("\"status\":404")
    })
    .await;
}
