//! The Controlling IM Function for pre-defined groups, pager mode: fan-out to every other member
//! (live or stored), the private-group rule, privacy, the nested-group loop rule, no system messages
//! into groups, and a storm of mutually nested groups that yields an exactly counted number of copies.

mod groups_support;
mod server_support;

use groups_support::{drain, from_system, header, listen, notify_delivered};

use server_support::{registered, udp_addr, Ua};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::groups::CONTROLLING_HEADER;
use simple_im_tokio::server::{Options, Running};
use simple_im_tokio::store::Group;

const USERS: &[&str] = &["alice", "bob", "carol", "dave", "erin"];

/// A group owned by alice.
fn group(name: &str, private: bool, members: &[&str]) -> Group {
    groups_support::group(name, "alice", private, members)
}

async fn start_with_groups(dir: &std::path::Path, extra: &str, groups: &[Group]) -> Running {
    groups_support::start_with_groups(dir, USERS, groups, extra, Options::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_into_group_reaches_every_other_member_once_and_offline_ones_on_register() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with_groups(dir.path(), "", &[group("team", true, &["alice", "bob", "carol"])]).await;
    // A member added while the server runs is seen by the next message.
    assert!(running
        .server
        .store
        .add_group_member("team", "dave")
        .await
        .unwrap());
    let mut alice = registered(&running, "alice").await;
    let bob = listen(registered(&running, "bob").await);
    let carol = listen(registered(&running, "carol").await);

    let answer = alice.message("team", "hello team").await;
    assert_eq!(answer.status(), Some(202), "{}", answer.reason());
    assert_eq!(answer.reason(), "Accepted (delivered 2, stored 1, refused 0)");
    // Stored for dave before the 202.
    assert_eq!(running.server.store.pending("dave", 10).await.unwrap().len(), 1);

    let mut online = Vec::new();
    for member in [bob, carol] {
        let (ua, copies) = member.stop().await;
        assert_eq!(copies.len(), 1, "exactly one copy to {}", ua.name);
        let copy = &copies[0];
        assert_eq!(copy.body(), b"hello team");
        assert!(copy
            .header(HeaderName::From)
            .unwrap()
            .contains("sip:alice@localhost"));
        assert!(copy
            .header(HeaderName::To)
            .unwrap()
            .contains("sip:team@localhost"));
        assert_eq!(header(copy, CONTROLLING_HEADER), Some("<sip:team@localhost>"));
        assert_eq!(
            copy.header(HeaderName::Date),
            Some("Sat, 13 Nov 2010 23:29:00 GMT")
        );
        online.push(ua);
    }
    // The sender gets no copy of its own message, only one notice about the stored copy.
    let to_alice = drain(&mut alice).await;
    assert_eq!(to_alice.len(), 1);
    assert!(from_system(&to_alice[0]));
    assert!(String::from_utf8_lossy(to_alice[0].body()).contains("stored for 1 recipient"));

    let mut dave = registered(&running, "dave").await;
    let copy = dave.incoming().await;
    assert_eq!(copy.body(), b"hello team");
    assert_eq!(header(&copy, CONTROLLING_HEADER), Some("<sip:team@localhost>"));
    assert!(drain(&mut dave).await.is_empty());

    // All members online: 200, nothing stored.
    let carol = listen(online.pop().unwrap());
    let mut bob = online.pop().unwrap();
    let (alice, dave) = (listen(alice), listen(dave));
    let answer = bob.message("team", "second").await;
    assert_eq!(answer.status(), Some(200));
    assert_eq!(answer.reason(), "OK (delivered 3, stored 0, refused 0)");
    for member in [alice, carol, dave] {
        let (ua, copies) = member.stop().await;
        assert_eq!(copies.len(), 1, "copies to {}", ua.name);
        assert_eq!(copies[0].body(), b"second");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_group_refuses_a_non_member_and_public_group_admits_one() {
    let dir = tempfile::tempdir().unwrap();
    let groups = [
        group("club", true, &["alice", "bob"]),
        group("lobby", false, &["alice", "bob"]),
    ];
    let running = start_with_groups(dir.path(), "", &groups).await;
    let bob = listen(registered(&running, "bob").await);
    let mut erin = registered(&running, "erin").await;

    let refused = erin.message("club", "let me in").await;
    assert_eq!(refused.status(), Some(403));
    assert!(refused
        .reason()
        .contains("not a member of the private group club"));

    let accepted = erin.message("lobby", "hi all").await;
    assert_eq!(accepted.status(), Some(202), "{}", accepted.reason());
    let (_, copies) = bob.stop().await;
    // Only the public group's message: nothing for the refused one.
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].body(), b"hi all");
    // alice is offline: her copy waits in the store.
    assert_eq!(running.server.store.pending("alice", 10).await.unwrap().len(), 1);

    // A name that is neither a user nor a group is still 404.
    assert_eq!(erin.message("nobody", "?").await.status(), Some(404));
}

/// A MESSAGE into team asking for privacy (RFC 3323 `Privacy: id`).
async fn send_privately(
    ua: &mut Ua,
    content_type: &str,
    body: &[u8],
) -> simple_im_tokio::server::sip::SipMessage {
    let privacy = [("Privacy", "id".to_owned())];
    let to = "<sip:team@localhost>";
    ua.request(
        "MESSAGE",
        "sip:team@localhost",
        to,
        &privacy,
        Some((content_type, body)),
        true,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn privacy_request_anonymises_the_sender_in_every_copy() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with_groups(dir.path(), "", &[group("team", false, &["alice", "bob"])]).await;
    let mut alice = registered(&running, "alice").await;
    let bob = listen(registered(&running, "bob").await);
    let answer = send_privately(&mut alice, "text/plain", b"guess who").await;
    assert_eq!(answer.status(), Some(200), "{}", answer.reason());
    // A CPIM body names its sender too: anonymised as well, even without notifications asked.
    let cpim =
        "From: <sip:alice@localhost>\r\nTo: <sip:team@localhost>\r\n\r\nContent-Type: text/plain\r\n\r\nhi";
    let answer = send_privately(&mut alice, "message/cpim", cpim.as_bytes()).await;
    assert_eq!(answer.status(), Some(200), "{}", answer.reason());
    let (_, copies) = bob.stop().await;
    let copy = &copies[0];
    assert_eq!(copy.body(), b"guess who");
    let from = copy.header(HeaderName::From).unwrap();
    assert!(!from.contains("alice"), "sender not anonymised: {from}");
    let cpim_copy = String::from_utf8_lossy(copies[1].raw()).into_owned();
    assert!(!cpim_copy.contains("alice"), "{cpim_copy}");
    assert!(
        cpim_copy.contains("From: <sip:anonymous@anonymous.invalid>\r\n"),
        "{cpim_copy}"
    );
}

const CPIM_INTO_TEAM: &str = "From: <sip:alice@localhost>\r\nTo: <sip:team@localhost>\r\n\
NS: imdn <urn:ietf:params:imdn>\r\nimdn.Message-ID: team-0001\r\nDateTime: 2026-11-24T07:00:00Z\r\n\
imdn.Disposition-Notification: positive-delivery\r\n\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nguess who";

/// A CPIM message into a group from a sender who asked for privacy: each copy names neither the
/// sender (SIP or CPIM From) nor any route but the group's, the online member's notification and
/// the stored copy's (sent by the Deferred Messaging function) both reach the sender through the
/// group, and a non-member cannot use the route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_notifications_route_back_through_the_group_keeping_the_sender_private() {
    let dir = tempfile::tempdir().unwrap();
    let team = group("team", true, &["alice", "bob", "carol"]);
    let running = start_with_groups(dir.path(), "", &[team]).await;
    let mut alice = registered(&running, "alice").await;
    let bob = listen(registered(&running, "bob").await);
    let answer = send_privately(&mut alice, "message/cpim", CPIM_INTO_TEAM.as_bytes()).await;
    assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 0)");
    let alice = listen(alice);
    let (mut bob, copies) = bob.stop().await;
    let copy = &copies[0];
    let text = String::from_utf8_lossy(copy.raw()).into_owned();
    assert!(!text.contains("alice"), "the copy names the sender: {text}");
    assert!(String::from_utf8_lossy(copy.body()).contains("imdn.IMDN-Record-Route: <sip:team@localhost>\r\n"));
    let answer = notify_delivered(&mut bob, copy, "sip:team@localhost").await;
    assert_eq!(answer.status(), Some(200), "{}", answer.reason());

    // A non-member replaying the notification cannot reach the sender through the group.
    let mut dave = registered(&running, "dave").await;
    let replayed = notify_delivered(&mut dave, copy, "sip:team@localhost").await;
    assert_eq!(replayed.status(), Some(404), "{}", replayed.reason());

    let mut carol = registered(&running, "carol").await;
    let stored = drain(&mut carol).await;
    assert_eq!(stored.len(), 1);
    assert!(!String::from_utf8_lossy(stored[0].raw()).contains("alice"));
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, to_alice) = alice.stop().await;
    let mut notifiers: Vec<String> = to_alice
        .iter()
        .filter(|m| String::from_utf8_lossy(m.body()).contains("<delivered/>"))
        .map(|m| {
            let body = String::from_utf8_lossy(m.body()).into_owned();
            assert!(body.contains("<message-id>team-0001</message-id>"), "{body}");
            assert!(
                !body.contains("IMDN-Route"),
                "the group removed its route: {body}"
            );
            let from = m.header(HeaderName::From).unwrap();
            ["bob", "carol"]
                .into_iter()
                .find(|n| from.contains(n))
                .unwrap_or(from)
                .to_owned()
        })
        .collect();
    notifiers.sort();
    assert_eq!(
        notifiers,
        ["bob", "carol"],
        "one notification from each member, via the group"
    );
}

/// The group remembers a private sender's message in the store: after a restart, the online
/// member's late notification and the offline member's stored copy's notification (from the
/// Deferred Messaging function) still reach the sender through the group, once each.
#[test]
fn group_notifications_reach_a_private_sender_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let copy = first.block_on(async {
        let team = group("team", true, &["alice", "bob", "carol"]);
        let running = start_with_groups(dir.path(), "", &[team]).await;
        let mut alice = registered(&running, "alice").await;
        let bob = listen(registered(&running, "bob").await);
        let answer = send_privately(&mut alice, "message/cpim", CPIM_INTO_TEAM.as_bytes()).await;
        assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 0)");
        let (_, copies) = bob.stop().await;
        assert_eq!(copies.len(), 1);
        copies.into_iter().next().unwrap()
    });
    // Drops every task of the first server, its sockets and its store: only the store remains.
    first.shutdown_timeout(std::time::Duration::from_secs(2));

    let second = runtime();
    second.block_on(async {
        let running = start_with_groups(dir.path(), "", &[]).await;
        let alice = listen(registered(&running, "alice").await);
        let mut bob = registered(&running, "bob").await;
        let answer = notify_delivered(&mut bob, &copy, "sip:team@localhost").await;
        assert_eq!(answer.status(), Some(200), "{}", answer.reason());
        let mut carol = registered(&running, "carol").await;
        assert_eq!(drain(&mut carol).await.len(), 1, "carol's stored copy");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (_, to_alice) = alice.stop().await;
        let mut notifiers: Vec<&str> = to_alice
            .iter()
            .filter(|m| String::from_utf8_lossy(m.body()).contains("<delivered/>"))
            .map(|m| {
                let from = m.header(HeaderName::From).unwrap();
                ["bob", "carol"]
                    .into_iter()
                    .find(|n| from.contains(n))
                    .unwrap_or(from)
            })
            .collect();
        notifiers.sort_unstable();
        assert_eq!(notifiers, ["bob", "carol"], "one notification from each member");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_that_passed_a_controlling_function_is_refused_by_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with_groups(dir.path(), "", &[group("team", false, &["alice", "bob"])]).await;
    let mut alice = registered(&running, "alice").await;
    let mut bob = registered(&running, "bob").await;
    let answer = alice
        .request(
            "MESSAGE",
            "sip:team@localhost",
            "<sip:team@localhost>",
            &[(CONTROLLING_HEADER, "<sip:other@example.com>".to_owned())],
            Some(("text/plain", b"looping")),
            true,
        )
        .await;
    assert_eq!(answer.status(), Some(403));
    assert!(answer.reason().contains("nested group"), "{}", answer.reason());
    assert!(drain(&mut bob).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_messages_never_go_into_a_group() {
    let dir = tempfile::tempdir().unwrap();
    // Behind a trusted core the sender is the P-Asserted-Identity, which can be the system URI.
    let running = start_with_groups(
        dir.path(),
        "trusted_cores = [\"127.0.0.1\"]",
        &[group("team", false, &["alice", "bob"])],
    )
    .await;
    let mut bob = registered(&running, "bob").await;
    let mut core = Ua::udp("core", "unused", udp_addr(&running)).await;
    let answer = core
        .request(
            "MESSAGE",
            "sip:team@localhost",
            "<sip:team@localhost>",
            &[("P-Asserted-Identity", "<sip:system@localhost>".to_owned())],
            Some(("text/plain", b"notice")),
            false,
        )
        .await;
    assert_eq!(answer.status(), Some(403));
    assert!(answer.reason().contains("system messages"), "{}", answer.reason());
    assert!(drain(&mut bob).await.is_empty());
}

/// Groups that contain each other, an offline member with deferral, the sender's system notice on:
/// one message yields exactly the copies the member lists say, never more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storm_of_nested_groups_yields_an_exactly_counted_number_of_copies() {
    let dir = tempfile::tempdir().unwrap();
    let groups = [
        group("red", false, &["alice", "bob", "carol", "dave"]),
        group("blue", false, &["bob", "carol", "erin"]),
    ];
    let running = start_with_groups(dir.path(), "", &groups).await;
    // Each group contains the other (and itself): every nesting the CLI allows.
    for (outer, inner) in [("red", "blue"), ("blue", "red"), ("red", "red")] {
        running.server.store.add_group_member(outer, inner).await.unwrap();
    }
    let mut alice = registered(&running, "alice").await;
    let bob = listen(registered(&running, "bob").await);
    let carol = listen(registered(&running, "carol").await);
    let dave = listen(registered(&running, "dave").await);
    // erin is offline, so her copies are stored (deferral) and the sender gets a notice.

    let answer = alice.message("red", "storm").await;
    // bob, carol, dave delivered; blue and red refused by the loop rule; alice is the sender.
    assert_eq!(answer.status(), Some(200), "{}", answer.reason());
    assert_eq!(answer.reason(), "OK (delivered 3, stored 0, refused 2)");

    let (mut bob, bob_copies) = bob.stop().await;
    let alice = listen(alice);
    let answer = bob.message("blue", "storm 2").await;
    // carol delivered, erin stored, red refused; bob is the sender.
    assert_eq!(answer.status(), Some(202), "{}", answer.reason());
    assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 1)");

    // An exploder list naming both groups, dave, and erin again (offline, deferral on).
    let list = "--b1\r\nContent-Type: text/plain\r\n\r\nstorm 3\r\n--b1\r\n\
        Content-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n\
        <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>\
        <entry uri=\"sip:red@localhost\"/><entry uri=\"sip:blue@localhost\"/>\
        <entry uri=\"sip:dave@localhost\"/><entry uri=\"sip:erin@localhost\"/></list></resource-lists>\r\n--b1--\r\n";
    let answer = bob
        .request(
            "MESSAGE",
            "sip:exploder@localhost",
            "<sip:exploder@localhost>",
            &[],
            Some(("multipart/mixed;boundary=b1", list.as_bytes())),
            true,
        )
        .await;
    assert_eq!(answer.status(), Some(202), "{}", answer.reason());
    assert_eq!(answer.reason(), "Accepted (delivered 1, stored 1, refused 2)");

    let mut received = bob_copies.len();
    assert_eq!(bob_copies.len(), 1);
    for (member, expected) in [(alice, 0), (carol, 2), (dave, 2)] {
        let (ua, copies) = member.stop().await;
        assert_eq!(copies.len(), expected, "copies to {}", ua.name);
        received += copies.len();
    }
    assert_eq!(received, 5);
    // Exactly one notice per message that had stored copies, never one per copy.
    let to_bob = drain(&mut bob).await;
    assert!(to_bob.iter().all(from_system), "bob gets only notices");
    assert_eq!(to_bob.len(), 2);
    assert_eq!(running.server.store.pending("erin", 10).await.unwrap().len(), 2);
    let mut erin = registered(&running, "erin").await;
    let got = drain(&mut erin).await;
    assert_eq!(got.len(), 2, "erin's two stored copies, once each");
    assert_eq!(got[0].body(), b"storm 2");
}
