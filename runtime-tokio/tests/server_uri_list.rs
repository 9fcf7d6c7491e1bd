//! The URI-list service (RFC 5365) for MESSAGE: explosion to every distinct recipient with To and the
//! recipient-list history per copyControl, offline recipients served on register, delivery
//! notifications reaching the sender, the loop rule, and malformed lists refused with the defect named.

mod groups_support;
mod server_support;

use groups_support::{drain, group, header, imdn_documents, listen, notify_delivered, start_with_groups};
use server_support::{registered, Ua};
use simple_im_core::multipart;
use simple_im_core::resource_lists::{entries, CopyControl};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::groups::CONTROLLING_HEADER;
use simple_im_tokio::server::{sip::SipMessage, Options, Running};
use std::time::Duration;

/// The IMDN batch window of these tests' server.
const AGGREGATION_MS: u64 = 500;

async fn start(dir: &std::path::Path, users: &[&str]) -> Running {
    start_with(dir, users, "", Options::default()).await
}

/// [`start`] with more `[limits]` lines and other options. A group `team` (bob) exists.
async fn start_with(dir: &std::path::Path, users: &[&str], limits: &str, options: Options) -> Running {
    let team = group("team", "alice", false, &["bob"]);
    // Lists are larger than RFC 3428's 1300 bytes; the test sends them over UDP on loopback anyway.
    let limits =
        format!("[limits]\nmax_pager_body_bytes = 65000\nimdn_aggregation_ms = {AGGREGATION_MS}\n{limits}");
    start_with_groups(dir, users, &[team], &limits, options).await
}

/// A URI-list body: the message part, then the list of `(uri, copyControl, anonymize)`.
fn list_body(message_type: &str, message: &str, recipients: &[(&str, &str, bool)]) -> Vec<u8> {
    let mut list = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\" \
         xmlns:cp=\"urn:ietf:params:xml:ns:copycontrol\">\r\n<list>\r\n",
    );
    for (uri, cc, anonymize) in recipients {
        list.push_str(&format!(
            "<entry uri=\"{uri}\" cp:copyControl=\"{cc}\" cp:anonymize=\"{anonymize}\"/>\r\n"
        ));
    }
    list.push_str("</list>\r\n</resource-lists>\r\n");
    format!(
        "--b1\r\nContent-Type: {message_type}\r\n\r\n{message}\r\n--b1\r\n\
         Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n{list}--b1--\r\n"
    )
    .into_bytes()
}

async fn send_list(ua: &mut Ua, uri: &str, body: &[u8]) -> SipMessage {
    ua.request(
        "MESSAGE",
        uri,
        &format!("<{uri}>"),
        &[("Require", "recipient-list-message".to_owned())],
        Some(("multipart/mixed;boundary=\"b1\"", body)),
        true,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_message_is_exploded_with_to_and_history_per_copy_control() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), &["alice", "bob", "carol", "dave", "erin"]).await;
    let mut alice = registered(&running, "alice").await;
    let bob = listen(registered(&running, "bob").await);
    let carol = listen(registered(&running, "carol").await);
    let body = list_body(
        "text/plain",
        "Hello World!",
        &[
            ("sip:bob@localhost", "to", false),
            ("sip:carol@localhost", "cc", true),
            ("sip:dave@localhost", "to", false),
            ("sip:erin@localhost", "bcc", false),
            ("sip:zed@example.org", "to", false),
            ("sip:team@localhost", "to", false),
            ("sip:BOB@localhost", "to", false),
        ],
    );
    let answer = send_list(&mut alice, "sip:localhost", &body).await;
    // bob and carol online; dave and erin stored; the foreign URI and the group refused; bob once.
    assert_eq!(answer.status(), Some(202), "{}", answer.reason());
    assert_eq!(answer.reason(), "Accepted (delivered 2, stored 2, refused 2)");

    for (member, name) in [(bob, "bob"), (carol, "carol")] {
        let (_, copies) = member.stop().await;
        assert_eq!(copies.len(), 1, "one copy to {name}");
        let copy = &copies[0];
        assert_eq!(
            copy.header(HeaderName::To),
            Some(format!("<sip:{name}@localhost>").as_str())
        );
        assert!(copy
            .header(HeaderName::From)
            .unwrap()
            .contains("sip:alice@localhost"));
        assert_eq!(header(copy, CONTROLLING_HEADER), Some("<sip:localhost>"));
        let content_type = copy.header(HeaderName::ContentType).unwrap();
        let boundary = content_type.split("boundary=").nth(1).unwrap().trim_matches('"');
        let mut parts = multipart::parts(copy.body(), boundary).unwrap();
        let message = parts.next().unwrap().unwrap();
        assert_eq!(message.media_type(), "text/plain");
        assert_eq!(message.body, b"Hello World!");
        let history = parts.next().unwrap().unwrap();
        assert_eq!(history.disposition(), Some("recipient-list-history"));
        let shown: Vec<(String, CopyControl, Option<u32>)> = entries(history.body)
            .map(|e| e.unwrap())
            .map(|e| (e.uri.to_string(), e.copy_control, e.count))
            .collect();
        // Visible to and cc entries as listed; carol anonymised into a count; erin (bcc) absent.
        let to = |uri: &str| (uri.to_owned(), CopyControl::To, None);
        assert_eq!(
            shown,
            [
                to("sip:bob@localhost"),
                to("sip:dave@localhost"),
                to("sip:zed@example.org"),
                to("sip:team@localhost"),
                to("sip:BOB@localhost"),
                (
                    "sip:anonymous@anonymous.invalid".to_owned(),
                    CopyControl::Cc,
                    Some(1)
                ),
            ]
        );
    }
    for offline in ["dave", "erin"] {
        let mut ua = registered(&running, offline).await;
        let copies = drain(&mut ua).await;
        assert_eq!(copies.len(), 1, "stored copy delivered once to {offline}");
        assert_eq!(
            copies[0].header(HeaderName::To),
            Some(format!("<sip:{offline}@localhost>").as_str())
        );
    }
    drop(alice);
}

const CPIM_LIST_MESSAGE: &str = "From: <sip:alice@localhost>\r\nTo: <sip:exploder@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: list-0001\r\nDateTime: 2026-11-24T04:00:00Z\r\n\
imdn.Disposition-Notification: positive-delivery, negative-delivery\r\n\r\n\
Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

/// The copy the exploder sends: the CPIM message with the exploder as its top IMDN-Record-Route.
fn routed_copy() -> String {
    CPIM_LIST_MESSAGE.replace(
        "\r\n\r\nContent-Type",
        "\r\nimdn.IMDN-Record-Route: <sip:exploder@localhost>\r\n\r\nContent-Type",
    )
}

/// The `(recipient-uri, status)` of every IMDN document an aggregated (or single) notification holds.
fn documents(notification: &SipMessage) -> Vec<(Option<String>, String)> {
    imdn_documents(notification)
        .into_iter()
        .map(|(message_id, recipient, status)| {
            assert_eq!(message_id, "list-0001");
            (recipient, status)
        })
        .collect()
}

/// 50 recipients, 10 of them offline, and one listed address with no account: everyone gets the CPIM
/// message once (the offline ones when they register), routed for notifications through the
/// exploder; the sender gets the 50 delivery notifications and one `<failed/>` aggregated into a
/// few notifications from the exploder, each recipient named once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_of_fifty_with_offline_recipients_and_aggregated_delivery_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..50).map(|i| format!("user{i:02}")).collect();
    let mut all: Vec<&str> = names.iter().map(String::as_str).collect();
    all.push("alice");
    let running = start(dir.path(), &all).await;
    let mut online = Vec::new();
    for name in &names[..40] {
        online.push(listen(registered(&running, name).await));
    }
    let alice = registered(&running, "alice").await;
    let mut recipients: Vec<String> = names.iter().map(|n| format!("sip:{n}@localhost")).collect();
    recipients.push("sip:ghost@localhost".to_owned());
    let recipients: Vec<(&str, &str, bool)> = recipients.iter().map(|u| (u.as_str(), "to", false)).collect();
    let body = list_body("message/cpim", CPIM_LIST_MESSAGE, &recipients);
    let alice_listening = {
        let mut alice = alice;
        let answer = send_list(&mut alice, "sip:exploder@localhost", &body).await;
        assert_eq!(answer.status(), Some(202), "{}", answer.reason());
        assert_eq!(answer.reason(), "Accepted (delivered 40, stored 10, refused 1)");
        listen(alice)
    };
    // The online recipients notify at the same time, as their clients would on receipt.
    let mut notifying = tokio::task::JoinSet::new();
    for member in online {
        notifying.spawn(async move {
            let (mut ua, copies) = member.stop().await;
            assert_eq!(copies.len(), 1, "copies to {}", ua.name);
            assert_eq!(copies[0].header(HeaderName::ContentType), Some("message/cpim"));
            assert_eq!(String::from_utf8_lossy(copies[0].body()), routed_copy());
            let answer = notify_delivered(&mut ua, &copies[0], "sip:exploder@localhost").await;
            assert_eq!(answer.status(), Some(200), "{}", answer.reason());
        });
    }
    while let Some(done) = notifying.join_next().await {
        done.unwrap();
    }
    for name in &names[40..] {
        let mut ua = registered(&running, name).await;
        let copies = drain(&mut ua).await;
        assert_eq!(copies.len(), 1, "stored copy to {name}");
        assert_eq!(String::from_utf8_lossy(copies[0].body()), routed_copy());
    }
    // The last batch leaves one window after the last stored copy's notification.
    tokio::time::sleep(Duration::from_millis(3 * AGGREGATION_MS)).await;
    let (_, to_alice) = alice_listening.stop().await;
    let notifications: Vec<&SipMessage> = to_alice
        .iter()
        .filter(|m| String::from_utf8_lossy(m.body()).contains("Content-Disposition: notification"))
        .collect();
    assert!(
        (2..=12).contains(&notifications.len()),
        "aggregated into a few notifications, got {}",
        notifications.len()
    );
    let mut reported: Vec<(Option<String>, String)> = Vec::new();
    for n in &notifications {
        assert!(n
            .header(HeaderName::From)
            .unwrap()
            .contains("sip:exploder@localhost"));
        reported.extend(documents(n));
    }
    reported.sort();
    let mut expected: Vec<(Option<String>, String)> = names
        .iter()
        .map(|n| (Some(format!("sip:{n}@localhost")), "delivered".to_owned()))
        .collect();
    expected.push((Some("sip:ghost@localhost".to_owned()), "failed".to_owned()));
    expected.sort();
    assert_eq!(reported, expected, "each recipient reported exactly once");
    // The stored copies' notifications were held in alice's queue until their batch went.
    let held = running.server.store.pending("alice", 100).await.unwrap();
    assert!(held.is_empty(), "{} held notifications left", held.len());
}

/// A stored copy that expires is reported `<failed/>` through the exploder, after the online
/// recipient's `<delivered/>` (which went when its batch window closed); the list then has every
/// recipient finished, so that last batch goes without waiting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_copy_is_reported_failed_in_the_aggregated_notification() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        expiry_interval: Duration::from_millis(200),
        ..Options::default()
    };
    let running = start_with(
        dir.path(),
        &["alice", "bob", "carol"],
        "deferred_expiry_seconds = 1",
        options,
    )
    .await;
    let bob = listen(registered(&running, "bob").await);
    let mut alice = registered(&running, "alice").await;
    let body = list_body(
        "message/cpim",
        CPIM_LIST_MESSAGE,
        &[
            ("sip:bob@localhost", "to", false),
            ("sip:carol@localhost", "bcc", false),
        ],
    );
    let answer = send_list(&mut alice, "sip:exploder@localhost", &body).await;
    assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 0)");
    let alice = listen(alice);
    let (mut bob, copies) = bob.stop().await;
    assert_eq!(
        notify_delivered(&mut bob, &copies[0], "sip:exploder@localhost")
            .await
            .status(),
        Some(200)
    );
    // carol never registers: her copy expires after a second and the expiry loop reports it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, to_alice) = alice.stop().await;
    let reported: Vec<(Option<String>, String)> = to_alice
        .iter()
        .filter(|m| String::from_utf8_lossy(m.body()).contains("Content-Disposition: notification"))
        .flat_map(documents)
        .collect();
    // carol was a bcc recipient: her failure is reported without naming her.
    assert_eq!(
        reported,
        [
            (Some("sip:bob@localhost".to_owned()), "delivered".to_owned()),
            (None, "failed".to_owned())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_or_looping_list_requests_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), &["alice", "bob"]).await;
    let mut alice = registered(&running, "alice").await;

    let plain = alice
        .request(
            "MESSAGE",
            "sip:exploder@localhost",
            "<sip:exploder@localhost>",
            &[],
            Some(("text/plain", b"no list")),
            true,
        )
        .await;
    assert_eq!(plain.status(), Some(415));
    assert_eq!(plain.header(HeaderName::Accept), Some("multipart/mixed"));

    let no_list = b"--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b1--\r\n";
    let answer = send_list(&mut alice, "sip:localhost", no_list).await;
    assert_eq!(answer.status(), Some(400));
    assert!(answer.reason().contains("recipient-list"), "{}", answer.reason());

    let bad_entry = list_body("text/plain", "hi", &[("sip:bob@localhost", "from", false)]);
    let answer = send_list(&mut alice, "sip:localhost", &bad_entry).await;
    assert_eq!(answer.status(), Some(400));
    assert!(answer.reason().contains("copyControl"), "{}", answer.reason());

    let body = list_body("text/plain", "hi", &[("sip:bob@localhost", "to", false)]);
    let looping = alice
        .request(
            "MESSAGE",
            "sip:localhost",
            "<sip:localhost>",
            &[(CONTROLLING_HEADER, "<sip:team@localhost>".to_owned())],
            Some(("multipart/mixed;boundary=b1", &body)),
            true,
        )
        .await;
    assert_eq!(looping.status(), Some(403));
    assert!(looping.reason().contains("nested group"), "{}", looping.reason());
}

/// The sender registers a second contact while a stored copy's notification waits in its batch: the
/// registration pushes the held notification to that contact, and the batch then leaves it out, so
/// carol's delivery is reported once in all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_notification_pushed_at_a_registration_is_not_sent_again_by_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let limits = "[limits]\nmax_pager_body_bytes = 65000\nimdn_aggregation_ms = 3000\n";
    let running = start_with_groups(
        dir.path(),
        &["alice", "bob", "carol"],
        &[],
        limits,
        Options::default(),
    )
    .await;
    let bob = listen(registered(&running, "bob").await);
    let mut alice = registered(&running, "alice").await;
    let body = list_body(
        "message/cpim",
        CPIM_LIST_MESSAGE,
        &[
            ("sip:bob@localhost", "to", false),
            ("sip:carol@localhost", "to", false),
        ],
    );
    let answer = send_list(&mut alice, "sip:exploder@localhost", &body).await;
    assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 0)");
    let alice = listen(alice);
    let mut carol = registered(&running, "carol").await;
    assert_eq!(drain(&mut carol).await.len(), 1, "carol's stored copy");
    // bob never notifies, so the list is not finished: carol's notification waits for the window.
    // The newest contact gets both the push and, later, the batch: it listens throughout.
    let second = listen(registered(&running, "alice").await);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let (_, pushed) = second.stop().await;
    let (_, to_alice) = alice.stop().await;
    let _ = bob.stop().await;
    let reported: Vec<(Option<String>, String)> = pushed
        .iter()
        .chain(&to_alice)
        .filter(|m| String::from_utf8_lossy(m.body()).contains("Content-Disposition: notification"))
        .flat_map(documents)
        .collect();
    assert_eq!(
        reported,
        [(Some("sip:carol@localhost".to_owned()), "delivered".to_owned())],
        "pushed {} to the new contact, {} to the first",
        pushed.len(),
        to_alice.len()
    );
}
