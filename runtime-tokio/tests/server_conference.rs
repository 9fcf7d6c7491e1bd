//! The focus and the conference event package (RFC 4575) for a group: SUBSCRIBE gets full state,
//! INVITE joins and BYE leaves with partial NOTIFYs, every body valid against the RFC 4575 schema
//! (checked with xmllint), private groups closed to non-members, and the maximum enforced.

mod groups_support;
mod server_support;

use groups_support::{group, in_dialog, in_dialog_with, start_with_groups};
use server_support::{registered, Ua};
use simple_im_core::sip::{HeaderName, Method};
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{Options, Running};
use simple_im_tokio::store::Group;
use std::path::Path;

const OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=message 7654 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\na=path:msrp://127.0.0.1:7654/s1;tcp\r\n";

/// The private group `team` (alice, bob, carol) and the public `lobby` (alice; at most 1 participant).
async fn start(dir: &Path) -> Running {
    let team = group("team", "alice", true, &["alice", "bob", "carol"]);
    let lobby = Group {
        max_participants: 1,
        ..group("lobby", "alice", false, &["alice"])
    };
    let users = ["alice", "bob", "carol", "erin"];
    start_with_groups(dir, &users, &[team, lobby], "", Options::default()).await
}

fn assert_schema_valid(body: &[u8], dir: &Path) {
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/vectors/rfc4575/conference-info.xsd"
    );
    let file = dir.join(format!("notify-{}.xml", std::process::id()));
    std::fs::write(&file, body).unwrap();
    let out = std::process::Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", schema])
        .arg(&file)
        .output()
        .expect("xmllint (Debian libxml2-utils, installed by `cargo xtask setup`)");
    assert!(
        out.status.success(),
        "conference-info body invalid:\n{}\n{}",
        String::from_utf8_lossy(body),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The next NOTIFY `ua` receives (answered 200), its body validated.
async fn notify(ua: &mut Ua, dir: &Path) -> String {
    let msg = ua.incoming().await;
    assert_eq!(msg.method(), Some("NOTIFY"));
    assert_eq!(msg.header(HeaderName::Event), Some("conference"));
    assert_eq!(
        msg.header(HeaderName::ContentType),
        Some("application/conference-info+xml")
    );
    assert_schema_valid(msg.body(), dir);
    String::from_utf8_lossy(msg.body()).into_owned()
}

async fn join(ua: &mut Ua) -> SipMessage {
    join_group(ua, "team").await
}

async fn join_group(ua: &mut Ua, group: &str) -> SipMessage {
    let uri = format!("sip:{group}@localhost");
    let ok = ua
        .request(
            "INVITE",
            &uri,
            &format!("<{uri}>"),
            &[],
            Some(("application/sdp", OFFER.as_bytes())),
            true,
        )
        .await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    let cseq: u32 = ok
        .header(HeaderName::CSeq)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    in_dialog(ua, Method::Ack, &ok, cseq).await;
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriber_sees_full_state_then_joins_and_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut bob = registered(&running, "bob").await;
    let subscribed = bob
        .request(
            "SUBSCRIBE",
            "sip:team@localhost",
            "<sip:team@localhost>",
            &[
                ("Event", "conference".to_owned()),
                ("Expires", "600".to_owned()),
                ("Accept", "application/conference-info+xml".to_owned()),
            ],
            None,
            true,
        )
        .await;
    assert_eq!(subscribed.status(), Some(200));
    assert_eq!(subscribed.header(HeaderName::Expires), Some("600"));
    let full = notify(&mut bob, dir.path()).await;
    assert!(full.contains("state=\"full\" version=\"1\""), "{full}");
    assert!(full.contains("<user-count>0</user-count>"), "{full}");

    let mut alice = registered(&running, "alice").await;
    let ok = join(&mut alice).await;
    // The focus answers with alice's leg on the MSRP switch (tests/server_group_chat.rs uses it).
    assert!(String::from_utf8_lossy(ok.body()).contains("a=setup:passive"));
    let joined = notify(&mut bob, dir.path()).await;
    assert!(joined.contains("state=\"partial\" version=\"2\""), "{joined}");
    assert!(
        joined.contains("<user entity=\"sip:alice@localhost\" state=\"full\">"),
        "{joined}"
    );
    assert!(joined.contains("<status>connected</status>"), "{joined}");
    assert!(joined.contains("<user-count>1</user-count>"), "{joined}");

    let mut carol = registered(&running, "carol").await;
    join(&mut carol).await;
    let joined = notify(&mut bob, dir.path()).await;
    assert!(joined.contains("version=\"3\""), "{joined}");
    assert!(joined.contains("sip:carol@localhost"), "{joined}");
    assert!(joined.contains("<user-count>2</user-count>"), "{joined}");

    let cseq = 10;
    in_dialog(&mut alice, Method::Bye, &ok, cseq).await;
    let bye_answer = loop {
        let msg = alice.receive().await.expect("BYE answered");
        if msg.status().is_some() && msg.header(HeaderName::CSeq) == Some("10 BYE") {
            break msg;
        }
    };
    assert_eq!(bye_answer.status(), Some(200));
    let left = notify(&mut bob, dir.path()).await;
    assert!(left.contains("version=\"4\""), "{left}");
    assert!(
        left.contains("<user entity=\"sip:alice@localhost\" state=\"deleted\">"),
        "{left}"
    );
    assert!(left.contains("<user-count>1</user-count>"), "{left}");

    // Ending the subscription in its dialog: 200, then a last full-state NOTIFY (carol only), terminated.
    let ended = [("Event", "conference"), ("Expires", "0")];
    in_dialog_with(&mut bob, Method::Subscribe, &subscribed, 20, &ended).await;
    let last = bob.incoming().await;
    let last = if last.method() == Some("NOTIFY") {
        last
    } else {
        bob.incoming().await
    };
    assert_eq!(
        last.header(HeaderName::SubscriptionState),
        Some("terminated;reason=timeout")
    );
    assert_schema_valid(last.body(), dir.path());
    let text = String::from_utf8_lossy(last.body());
    assert!(text.contains("state=\"full\" version=\"5\""), "{text}");
    assert!(
        text.contains("sip:carol@localhost") && !text.contains("sip:alice@localhost"),
        "{text}"
    );
    // carol leaving now notifies nobody.
    assert!(bob
        .incoming_within(std::time::Duration::from_millis(300))
        .await
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_room_refuses_non_members_and_a_full_room_refuses_joiners() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut erin = registered(&running, "erin").await;
    let refused = erin
        .request(
            "SUBSCRIBE",
            "sip:team@localhost",
            "<sip:team@localhost>",
            &[("Event", "conference".to_owned())],
            None,
            true,
        )
        .await;
    assert_eq!(refused.status(), Some(403));
    let refused = erin
        .request(
            "INVITE",
            "sip:team@localhost",
            "<sip:team@localhost>",
            &[],
            Some(("application/sdp", OFFER.as_bytes())),
            true,
        )
        .await;
    assert_eq!(refused.status(), Some(403));
    assert!(refused.reason().contains("not a member"), "{}", refused.reason());

    let mut alice = registered(&running, "alice").await;
    join_group(&mut alice, "lobby").await;
    // The lobby is public, so bob may join, but it holds one participant at most.
    let mut bob = registered(&running, "bob").await;
    let full = bob
        .request(
            "INVITE",
            "sip:lobby@localhost",
            "<sip:lobby@localhost>",
            &[],
            Some(("application/sdp", OFFER.as_bytes())),
            true,
        )
        .await;
    assert_eq!(full.status(), Some(403));
    assert!(full.reason().contains("maximum of 1"), "{}", full.reason());

    let bad_event = bob
        .request(
            "SUBSCRIBE",
            "sip:team@localhost",
            "<sip:team@localhost>",
            &[("Event", "presence".to_owned())],
            None,
            true,
        )
        .await;
    assert_eq!(bad_event.status(), Some(489));
}
