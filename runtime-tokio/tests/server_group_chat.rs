//! Group chat over MSRP: participants join a group URI with an MSRP offer, connect to the leg the
//! focus names in its answer, and the switch replicates every SEND to every other participant with
//! the sender in CPIM From. Test peers are in-process MSRP endpoints on the core framer.

mod groups_support;
mod server_support;

use groups_support::{in_dialog, in_dialog_with};
use server_support::{registered, Ua};
use simple_im_core::msrp::wire::{parse_message, Parsed};
use simple_im_core::sip::{HeaderName, Method};
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{self, Options, Running};
use simple_im_tokio::store::Group;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);

/// A server whose store has `users` (password NAME-pw) and the groups given.
async fn start(dir: &Path, users: &[String], groups: Vec<Group>) -> Running {
    let users: Vec<&str> = users.iter().map(String::as_str).collect();
    groups_support::start_with_groups(dir, &users, &groups, "", Options::default()).await
}

/// [`start`] with the `[sip]` section given and more configuration (`extra`, after it).
async fn start_on(dir: &Path, users: &[&str], room: Group, sip: &str, extra: &str) -> Running {
    let store = server_support::store_with_users(dir, &[("dave", "dave-pw")]).await;
    debug_assert_eq!(users, ["dave"]);
    store.add_group(room).await.unwrap();
    let text = format!(
        "data_dir = \"{}\"\n{sip}[msrp]\nlisten = \"127.0.0.1:0\"\n{extra}\n",
        dir.display()
    );
    let config = simple_im_tokio::config::Config::from_toml(&text, dir).expect("config");
    server::start(config, Options::default(), store)
        .await
        .expect("server A starts")
}

/// A public room `sip:room@localhost` of `count` users named PREFIX0.., each joined and bound; the
/// directory must outlive the server.
async fn open_room(prefix: &str, count: usize) -> (tempfile::TempDir, Running, Vec<String>, Vec<Member>) {
    let dir = tempfile::tempdir().unwrap();
    let users = names(prefix, count);
    let running = start(dir.path(), &users, vec![group("room", false, &users)]).await;
    let members = join_all(&running, &users, "room").await;
    (dir, running, users, members)
}

/// A group owned by its first member.
fn group(name: &str, private: bool, members: &[String]) -> Group {
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    groups_support::group(
        name,
        members.first().copied().unwrap_or_default(),
        private,
        &members,
    )
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// Subscribes `ua` to the conference events of `sip:room@localhost` (the full-state NOTIFY follows).
async fn subscribe_to_room(ua: &mut Ua) {
    let headers = [("Event", "conference".to_owned()), ("Expires", "600".to_owned())];
    let subscribed = ua
        .request(
            "SUBSCRIBE",
            "sip:room@localhost",
            "<sip:room@localhost>",
            &headers,
            None,
            true,
        )
        .await;
    assert_eq!(subscribed.status(), Some(200));
}

fn cseq_of(msg: &SipMessage) -> u32 {
    let cseq = msg.header(HeaderName::CSeq).unwrap();
    cseq.split_whitespace().next().unwrap().parse().unwrap()
}

/// The INVITE to `sip:GROUP@localhost` offering MSRP with `path`: its final response.
async fn invite(ua: &mut Ua, group: &str, path: &str) -> SipMessage {
    let uri = format!("sip:{group}@localhost");
    let offer = format!(
        "v=0\r\no={0} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\na=path:{path}\r\na=setup:active\r\n",
        ua.name
    );
    ua.request(
        "INVITE",
        &uri,
        &format!("<{uri}>"),
        &[],
        Some(("application/sdp", offer.as_bytes())),
        true,
    )
    .await
}

/// A participant: its SIP UA, the dialog's 200 and its MSRP connection to the switch.
struct Member {
    ua: Ua,
    ok: SipMessage,
    peer: Peer,
}

/// The MSRP path the 2xx answer names (`a=path`).
fn leg_of(ok: &SipMessage) -> String {
    String::from_utf8_lossy(ok.body())
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=path:").map(str::to_owned))
        .expect("the answer names a leg")
}

/// Joins `group` and binds the MSRP leg the answer names.
async fn join(running: &Running, mut ua: Ua, group: &str, attempt: u32) -> Member {
    let path = format!("msrp://127.0.0.1:9/{}x{attempt};tcp", ua.name);
    let ok = invite(&mut ua, group, &path).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    in_dialog(&mut ua, Method::Ack, &ok, cseq_of(&ok)).await;
    let leg = leg_of(&ok);
    assert!(String::from_utf8_lossy(ok.body()).contains("a=setup:passive"));
    let peer = Peer::bind(running.msrp.unwrap(), path, leg).await;
    Member { ua, ok, peer }
}

/// An in-process MSRP endpoint connected to its switch leg.
struct Peer {
    path: String,
    leg: String,
    stream: TcpStream,
    buf: Vec<u8>,
    sent: u32,
    /// The status this endpoint answers SENDs with.
    answer: u16,
}

/// A SEND the peer received: the CPIM From and the text.
#[derive(Debug, PartialEq, Eq)]
struct Received {
    from: String,
    text: String,
}

impl Peer {
    async fn bind(msrp: SocketAddr, path: String, leg: String) -> Peer {
        let stream = TcpStream::connect(msrp).await.unwrap();
        let mut peer = Peer {
            path,
            leg,
            stream,
            buf: Vec::new(),
            sent: 0,
            answer: 200,
        };
        let bind = format!(
            "MSRP b0 SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: b0\r\nByte-Range: 1-0/0\r\n-------b0$\r\n",
            peer.leg, peer.path
        );
        peer.stream.write_all(bind.as_bytes()).await.unwrap();
        let (status, ..) = peer.next().await.expect("an answer to the bind");
        assert_eq!(status, Some(200));
        peer
    }

    async fn send(&mut self, text: &str) {
        self.send_with(text, "").await;
    }

    /// A SEND of `body` as `content_type`.
    async fn send_typed(&mut self, content_type: &str, body: &str) {
        self.send_with(body, &format!("Content-Type: {content_type}\r\n"))
            .await;
    }

    /// A SEND with extra header lines (each ending in CRLF; a Content-Type among them replaces text/plain).
    async fn send_with(&mut self, text: &str, headers: &str) {
        self.sent += 1;
        let tid = format!("t{}", self.sent);
        let send = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\nByte-Range: 1-{len}/{len}\r\n\
             {headers}{plain}\r\n{text}\r\n-------{tid}$\r\n",
            self.leg,
            self.path,
            len = text.len(),
            plain = if headers.contains("Content-Type:") { "" } else { "Content-Type: text/plain\r\n" },
        );
        self.stream.write_all(send.as_bytes()).await.unwrap();
    }

    /// The next message: (status for responses, method, body, Status header). Answers SENDs with
    /// [`Peer::answer`].
    async fn next(&mut self) -> Option<(Option<u16>, String, String, String)> {
        server_support::read_whole_msrp(&mut self.stream, &mut self.buf, WAIT).await?;
        let Ok(Parsed::Complete(message, used)) = parse_message(&self.buf) else {
            return None;
        };
        let head = &message.head;
        let method = head.method().map(|m| m.as_str().to_owned()).unwrap_or_default();
        let answer = (method == "SEND").then(|| {
            format!(
                "MSRP {tid} {code} Answer\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\n-------{tid}$\r\n",
                code = self.answer,
                tid = head.transaction_id,
                to = head.from_path().unwrap().texts().next().unwrap(),
                from = self.path
            )
        });
        let got = (
            head.status_code(),
            method,
            String::from_utf8_lossy(message.body).into_owned(),
            head.get("Status").unwrap_or("").to_owned(),
        );
        drop(message);
        self.buf.drain(..used);
        if let Some(answer) = answer {
            self.stream.write_all(answer.as_bytes()).await.unwrap();
        }
        Some(got)
    }

    /// The body of the next SEND received (responses and REPORTs skipped).
    async fn next_send(&mut self) -> String {
        self.next_of("SEND").await.1
    }

    /// The Status header of the next REPORT received (other messages skipped).
    async fn next_report(&mut self) -> String {
        self.next_of("REPORT").await.2
    }

    /// The next request of `method`: (method, body, Status header).
    async fn next_of(&mut self, method: &str) -> (String, String, String) {
        loop {
            let (_, got, body, status) = self.next().await.expect("a message");
            if got == method {
                return (got, body, status);
            }
        }
    }

    /// The next SEND received (responses and REPORTs skipped).
    async fn received(&mut self) -> Option<Received> {
        loop {
            let (_, method, body, _) = self.next().await?;
            if method != "SEND" {
                continue;
            }
            let from = body
                .lines()
                .find_map(|l| l.strip_prefix("From: "))
                .unwrap_or("")
                .to_owned();
            let text = body.rsplit("\r\n\r\n").next().unwrap_or("").to_owned();
            return Some(Received { from, text });
        }
    }
}

/// Joins every user to `group`, each bound, in order.
async fn join_all(running: &Running, users: &[String], group: &str) -> Vec<Member> {
    let mut members = Vec::new();
    for user in users {
        let ua = registered(running, user).await;
        members.push(join(running, ua, group, 0).await);
    }
    members
}

/// Every member sends `per_sender` messages; every member must receive each other member's messages
/// exactly once and in order per sender.
async fn every_message_reaches_every_other_member(members: Vec<Member>, per_sender: usize) {
    let n = members.len();
    let mut tasks = Vec::new();
    for (index, mut member) in members.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for k in 0..per_sender {
                member.peer.send(&format!("{index}:{k}")).await;
            }
            let mut next_from = vec![0usize; n];
            for _ in 0..(n - 1) * per_sender {
                let got = member.peer.received().await.expect("a replicated message");
                let (sender, k) = got.text.split_once(':').unwrap();
                let (sender, k): (usize, usize) = (sender.parse().unwrap(), k.parse().unwrap());
                assert_ne!(sender, index, "a member got its own message back");
                assert_eq!(
                    k, next_from[sender],
                    "messages from {sender} out of order or twice"
                );
                next_from[sender] += 1;
                let name = member.ua.name.clone();
                assert!(got.from.contains("@localhost>"), "{got:?}");
                assert!(!got.from.contains(&format!("<sip:{name}@")), "{got:?}");
            }
            member
        }));
    }
    let mut members = Vec::new();
    for task in tasks {
        members.push(task.await.unwrap());
    }
    // Every copy is in; nothing more arrives at anyone (exactly once), checked side by side.
    let checks: Vec<_> = members
        .into_iter()
        .map(|mut member| {
            tokio::spawn(async move {
                let extra = tokio::time::timeout(Duration::from_millis(300), member.peer.received()).await;
                assert!(matches!(extra, Err(_) | Ok(None)), "{extra:?}");
            })
        })
        .collect();
    for check in checks {
        check.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_member_chat_delivers_every_message_exactly_once_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("m", 10);
    let running = start(dir.path(), &users, vec![group("ten", false, &users)]).await;
    let members = join_all(&running, &users, "ten").await;
    every_message_reaches_every_other_member(members, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_member_room_delivers_everything() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("u", 200);
    let running = start(dir.path(), &users, vec![group("big", false, &users)]).await;
    let members = join_all(&running, &users, "big").await;
    every_message_reaches_every_other_member(members, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_is_named_in_cpim_or_anonymised() {
    let (_dir, running, _, mut members) = open_room("p", 2).await;
    members[0].peer.send("hello").await;
    let got = members[1].peer.received().await.unwrap();
    assert_eq!(got.from, "<sip:p0@localhost>");
    assert_eq!(got.text, "hello");

    // p1 re-joins asking for privacy: the others see the anonymous identity.
    let mut ua = registered(&running, "p1").await;
    let path = "msrp://127.0.0.1:9/anon;tcp";
    let offer = format!(
        "v=0\r\no=p1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:{path}\r\n"
    );
    let ok = ua
        .request(
            "INVITE",
            "sip:room@localhost",
            "<sip:room@localhost>",
            &[("Privacy", "id".to_owned())],
            Some(("application/sdp", offer.as_bytes())),
            true,
        )
        .await;
    assert_eq!(ok.status(), Some(200));
    let leg = String::from_utf8_lossy(ok.body())
        .lines()
        .find_map(|l| l.strip_prefix("a=path:").map(str::to_owned))
        .unwrap();
    // The old leg was replaced: its connection closes.
    assert!(members[1].peer.received().await.is_none());
    let mut anon = Peer::bind(running.msrp.unwrap(), path.to_owned(), leg).await;
    anon.send("secret").await;
    let got = members[0].peer.received().await.unwrap();
    assert_eq!(got.from, "\"Anonymous\" <sip:anonymous@anonymous.invalid>");
    assert_eq!(got.text, "secret");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_negotiated_endpoint_binds_its_leg() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("b", 2);
    let running = start(dir.path(), &users, vec![group("room", false, &users)]).await;
    let mut ua = registered(&running, "b0").await;
    let ok = invite(&mut ua, "room", "msrp://127.0.0.1:9/real;tcp").await;
    let leg = String::from_utf8_lossy(ok.body())
        .lines()
        .find_map(|l| l.strip_prefix("a=path:").map(str::to_owned))
        .unwrap();
    let mut intruder = TcpStream::connect(running.msrp.unwrap()).await.unwrap();
    let bind = format!(
        "MSRP x1 SEND\r\nTo-Path: {leg}\r\nFrom-Path: msrp://127.0.0.1:9/fake;tcp\r\nMessage-ID: x\r\n\
         Byte-Range: 1-0/0\r\n-------x1$\r\n"
    );
    intruder.write_all(bind.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(WAIT, intruder.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("MSRP x1 403"), "{answer}");
    // The real endpoint still binds.
    Peer::bind(running.msrp.unwrap(), "msrp://127.0.0.1:9/real;tcp".into(), leg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_room_refuses_a_non_member_invite() {
    let dir = tempfile::tempdir().unwrap();
    let mut users = names("v", 2);
    users.push("outsider".into());
    let running = start(dir.path(), &users, vec![group("club", true, &users[..2])]).await;
    let mut ua = registered(&running, "outsider").await;
    let refused = invite(&mut ua, "club", "msrp://127.0.0.1:9/o;tcp").await;
    assert_eq!(refused.status(), Some(403), "{}", refused.reason());
    assert!(refused.reason().contains("not a member"), "{}", refused.reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_and_rejoining_follow_the_participant_list() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("l", 3);
    let running = start(dir.path(), &users, vec![group("room", false, &users)]).await;
    let mut watcher = registered(&running, "l2").await;
    subscribe_to_room(&mut watcher).await;
    let full = watcher.incoming().await;
    assert!(String::from_utf8_lossy(full.body()).contains("<user-count>0</user-count>"));

    let mut members = join_all(&running, &users[..2], "room").await;
    for user in &users[..2] {
        let notify = String::from_utf8_lossy(watcher.incoming().await.body()).into_owned();
        assert!(
            notify.contains(&format!("<user entity=\"sip:{user}@localhost\" state=\"full\">")),
            "{notify}"
        );
    }
    members[0].peer.send("before").await;
    assert_eq!(members[1].peer.received().await.unwrap().text, "before");

    // l1 leaves with BYE: the watcher sees it deleted, its leg closes, l0's messages go nowhere.
    let mut leaver = members.pop().unwrap();
    // A CSeq far above the UA's own counter, so its next INVITE is not matched to this BYE's 200.
    in_dialog(&mut leaver.ua, Method::Bye, &leaver.ok, cseq_of(&leaver.ok) + 100).await;
    let notify = String::from_utf8_lossy(watcher.incoming().await.body()).into_owned();
    assert!(
        notify.contains("<user entity=\"sip:l1@localhost\" state=\"deleted\">"),
        "{notify}"
    );
    assert!(notify.contains("<user-count>1</user-count>"), "{notify}");
    assert!(leaver.peer.received().await.is_none(), "the leg closes on BYE");

    // Re-join: a new leg, and messages flow again.
    let mut back = join(&running, leaver.ua, "room", 1).await;
    let notify = String::from_utf8_lossy(watcher.incoming().await.body()).into_owned();
    assert!(notify.contains("<user-count>2</user-count>"), "{notify}");
    members[0].peer.send("after").await;
    assert_eq!(back.peer.received().await.unwrap().text, "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_expels_a_participant_with_refer_method_bye() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("e", 3);
    let running = start(dir.path(), &users, vec![group("room", false, &users)]).await;
    let mut members = join_all(&running, &users[..2], "room").await;
    let mut outsider = registered(&running, "e2").await;
    let refused = expel(&mut outsider, "e1").await;
    assert_eq!(refused.status(), Some(403), "{}", refused.reason());

    let mut owner = members.remove(0);
    let accepted = expel(&mut owner.ua, "e1").await;
    assert_eq!(accepted.status(), Some(202), "{}", accepted.reason());
    let mut expelled = members.remove(0);
    let bye = expelled.ua.incoming().await;
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(bye.call_id(), expelled.ok.call_id());
    assert!(
        expelled.peer.received().await.is_none(),
        "the expelled leg closes"
    );
    owner.peer.send("after").await;
    // The owner is alone now: its message reaches nobody, and the second REFER finds no participant.
    let again = expel(&mut owner.ua, "e1").await;
    assert_eq!(again.status(), Some(404), "{}", again.reason());
}

/// The owner's expulsion request: REFER to the room with Refer-To `USER;method=BYE`.
async fn expel(ua: &mut Ua, user: &str) -> SipMessage {
    let headers = [
        ("Refer-To", format!("<sip:{user}@localhost;method=BYE>")),
        ("Refer-Sub", "false".to_owned()),
    ];
    ua.request(
        "REFER",
        "sip:room@localhost",
        "<sip:room@localhost>",
        &headers,
        None,
        true,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recipient_that_stops_reading_is_dropped_with_bye_and_notify() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("q", 4);
    let running = start(dir.path(), &users, vec![group("room", false, &users)]).await;
    let mut watcher = registered(&running, "q3").await;
    subscribe_to_room(&mut watcher).await;
    watcher.incoming().await;
    let mut members = join_all(&running, &users[..3], "room").await;
    for _ in 0..3 {
        watcher.incoming().await;
    }
    let mut slow = members.pop().unwrap();
    let mut fast = members.pop().unwrap();
    let mut sender = members.pop().unwrap();
    // Copies of this many messages outgrow the slow reader's socket buffers and then its queue.
    const MESSAGES: usize = 6000;
    let text = "x".repeat(4000);
    for i in 0..MESSAGES {
        sender.peer.sent += 1;
        let tid = format!("t{i}");
        let send = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\nFailure-Report: no\r\n\
             Byte-Range: 1-{len}/{len}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n-------{tid}$\r\n",
            sender.peer.leg,
            sender.peer.path,
            len = text.len()
        );
        sender.peer.stream.write_all(send.as_bytes()).await.unwrap();
        // In step with the fast reader (a reader that keeps up is never dropped).
        let got = fast
            .peer
            .received()
            .await
            .expect("the fast reader gets every message");
        assert_eq!(got.text.len(), text.len());
    }
    let bye = slow.ua.incoming().await;
    assert_eq!(bye.method(), Some("BYE"));
    assert_eq!(bye.call_id(), slow.ok.call_id());
    let notify = String::from_utf8_lossy(watcher.incoming().await.body()).into_owned();
    assert!(
        notify.contains("<user entity=\"sip:q2@localhost\" state=\"deleted\">"),
        "{notify}"
    );
    // The fast reader is still in the room: the next message reaches it.
    sender.peer.send("still here").await;
    assert_eq!(fast.peer.received().await.unwrap().text, "still here");
}

/// The multipart body of an ad-hoc chat INVITE (RFC 5366): the SDP offer and the recipient list.
fn adhoc_body(name: &str, path: &str, invitees: &[String]) -> String {
    let entries: String = invitees
        .iter()
        .map(|u| format!("<entry uri=\"sip:{u}@localhost\"/>"))
        .collect();
    format!(
        "--b1\r\nContent-Type: application/sdp\r\n\r\n\
         v=0\r\no={name} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\na=path:{path}\r\na=setup:active\r\n\
         \r\n--b1\r\nContent-Type: application/resource-lists+xml\r\nContent-Disposition: recipient-list\r\n\r\n\
         <?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
         <resource-lists xmlns=\"urn:ietf:params:xml:ns:resource-lists\"><list>{entries}</list></resource-lists>\r\n\
         --b1--\r\n"
    )
}

/// An invited user answers the focus's INVITE with its own MSRP path and binds the leg offered.
async fn accept_invitation(msrp: SocketAddr, mut ua: Ua) -> Member {
    let invite = loop {
        let msg = ua.receive_within(WAIT).await.expect("the focus's INVITE");
        if msg.method() == Some("INVITE") {
            break msg;
        }
    };
    assert!(
        invite.header(HeaderName::From).unwrap().contains("sip:chat-"),
        "{:?}",
        invite.header(HeaderName::From)
    );
    let offer = String::from_utf8_lossy(invite.body()).into_owned();
    let leg = offer
        .lines()
        .find_map(|l| l.trim().strip_prefix("a=path:"))
        .expect("the offer names a leg")
        .to_owned();
    let path = format!("msrp://127.0.0.1:9/{}inv;tcp", ua.name);
    let answer = format!(
        "v=0\r\no={} 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
         m=message 9 TCP/MSRP *\r\na=accept-types:message/cpim text/plain\r\na=path:{path}\r\na=setup:active\r\n",
        ua.name
    );
    let contact = ("Contact", format!("<{}>", ua.contact()));
    let ok = simple_im_tokio::server::reply::build(
        &invite,
        None,
        200,
        "OK",
        &[contact],
        Some(("application/sdp", answer.as_bytes())),
    )
    .unwrap();
    ua.send_raw(&ok).await;
    let ok = SipMessage::parse(ok, false).unwrap();
    let peer = Peer::bind(msrp, path, leg).await;
    Member { ua, ok, peer }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_member_adhoc_chat_from_a_recipient_list() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("a", 10);
    let running = start(dir.path(), &users, Vec::new()).await;
    let mut creator = registered(&running, "a0").await;
    let mut invitees = Vec::new();
    for user in &users[1..] {
        invitees.push(registered(&running, user).await);
    }
    let path = "msrp://127.0.0.1:9/a0adhoc;tcp";
    let body = adhoc_body("a0", path, &users[1..]);
    let ok = creator
        .request(
            "INVITE",
            "sip:exploder@localhost",
            "<sip:exploder@localhost>",
            &[],
            Some(("multipart/mixed;boundary=b1", body.as_bytes())),
            true,
        )
        .await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    let conference = ok.header(HeaderName::Contact).unwrap().to_owned();
    assert!(conference.starts_with("<sip:chat-"), "{conference}");
    in_dialog(&mut creator, Method::Ack, &ok, cseq_of(&ok)).await;
    let leg = String::from_utf8_lossy(ok.body())
        .lines()
        .find_map(|l| l.strip_prefix("a=path:").map(str::to_owned))
        .unwrap();
    let peer = Peer::bind(running.msrp.unwrap(), path.to_owned(), leg).await;
    let mut members = vec![Member {
        ua: creator,
        ok,
        peer,
    }];
    let accepting: Vec<_> = invitees
        .into_iter()
        .map(|ua| tokio::spawn(accept_invitation(running.msrp.unwrap(), ua)))
        .collect();
    for task in accepting {
        members.push(task.await.unwrap());
    }
    every_message_reaches_every_other_member(members, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adhoc_chat_closes_when_its_last_participant_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("c", 2);
    let running = start(dir.path(), &users, Vec::new()).await;
    let mut creator = registered(&running, "c0").await;
    // c1 is not registered: nobody is invited, the creator is alone.
    let body = adhoc_body("c0", "msrp://127.0.0.1:9/c0;tcp", &users[1..]);
    let ok = creator
        .request(
            "INVITE",
            "sip:exploder@localhost",
            "<sip:exploder@localhost>",
            &[],
            Some(("multipart/mixed;boundary=b1", body.as_bytes())),
            true,
        )
        .await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    in_dialog(&mut creator, Method::Ack, &ok, cseq_of(&ok)).await;
    let contact = ok.header(HeaderName::Contact).unwrap();
    let name = contact
        .trim_start_matches("<sip:")
        .split('@')
        .next()
        .unwrap()
        .to_owned();
    assert!(running.server.store.group(&name).await.unwrap().is_some());
    // Once the creator leaves, the room and its group are gone.
    in_dialog(&mut creator, Method::Bye, &ok, cseq_of(&ok) + 100).await;
    let bye_ok = creator.receive_within(WAIT).await.expect("the BYE's answer");
    assert_eq!(bye_ok.status(), Some(200), "{}", bye_ok.reason());
    let mut gone = 0;
    // Up to 5 s: the store's writer commits the removal (slow on a loaded machine).
    for _ in 0..250 {
        if running.server.store.group(&name).await.unwrap().is_none() {
            gone += 1;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(gone, 1, "the ad-hoc group {name} is removed when empty");
    let again = invite(&mut creator, &name, "msrp://127.0.0.1:9/c0b;tcp").await;
    assert_eq!(again.status(), Some(404), "{}", again.reason());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_are_per_recipient() {
    let (_dir, _running, _, mut members) = open_room("r", 3).await;
    members[2].peer.answer = 486;
    members[0].peer.send_with("one", "Success-Report: yes\r\n").await;
    // r1 gets it although r2 refuses its copy.
    assert_eq!(members[1].peer.received().await.unwrap().text, "one");
    let refused = members[2].peer.received().await.unwrap();
    assert_eq!(refused.text, "one");
    // The sender: its SEND answered 200, then one failure REPORT naming r2, and no success REPORT.
    let mut reports = Vec::new();
    while let Ok(Some((status, method, _, status_header))) =
        tokio::time::timeout(Duration::from_millis(500), members[0].peer.next()).await
    {
        reports.push((status, method, status_header));
    }
    assert_eq!(reports.first().map(|r| r.0), Some(Some(200)), "{reports:?}");
    let failures: Vec<_> = reports.iter().filter(|r| r.1 == "REPORT").collect();
    assert_eq!(failures.len(), 1, "{reports:?}");
    assert!(failures[0].2.starts_with("000 486"), "{reports:?}");
    assert!(failures[0].2.contains("sip:r2@localhost"), "{reports:?}");

    // When every copy is answered 2xx, the success REPORT comes.
    members[2].peer.answer = 200;
    members[0].peer.send_with("two", "Success-Report: yes\r\n").await;
    assert_eq!(members[1].peer.received().await.unwrap().text, "two");
    assert_eq!(members[2].peer.received().await.unwrap().text, "two");
    let mut success = None;
    while let Ok(Some((_, method, _, status_header))) =
        tokio::time::timeout(Duration::from_millis(500), members[0].peer.next()).await
    {
        if method == "REPORT" {
            success = Some(status_header);
        }
    }
    assert!(
        success.as_deref().is_some_and(|s| s.starts_with("000 200")),
        "{success:?}"
    );
}

/// A CPIM message from `user` to the room asking for a positive delivery notification.
fn cpim_asking_delivery(user: &str, message_id: &str, text: &str) -> String {
    format!(
        "From: <sip:{user}@localhost>\r\nTo: <sip:room@localhost>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
         imdn.Message-ID: {message_id}\r\nDateTime: 2026-11-24T08:00:00Z\r\n\
         imdn.Disposition-Notification: positive-delivery\r\n\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    )
}

/// In a room, a message asking for delivery notifications carries the group as its top
/// IMDN-Record-Route; a participant's notification reaches only the message's sender (not the rest
/// of the room), and one about an unknown message reaches nobody and gets a 404 REPORT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_notifications_go_only_to_the_sender_through_the_group() {
    let (_dir, _running, _, mut members) = open_room("n", 3).await;
    let im = cpim_asking_delivery("n0", "chat-0001", "hi");
    members[0].peer.send_typed("message/cpim", &im).await;
    let mut copies = Vec::new();
    for member in &mut members[1..] {
        let (_, method, body, _) = member.peer.next().await.unwrap();
        assert_eq!(method, "SEND");
        assert!(
            body.contains("imdn.IMDN-Record-Route: <sip:room@localhost>\r\n"),
            "{body}"
        );
        copies.push(body);
    }
    // n1's client notifies in its session, as RFC 5438 over MSRP does.
    let copy = simple_im_core::cpim::Message::parse(copies[0].as_bytes()).unwrap();
    let mut received = simple_im_core::imdn::Received::from_cpim(&copy).unwrap().unwrap();
    assert_eq!(received.destination(), "sip:room@localhost");
    let (kind, status) = received.delivered().unwrap();
    let mut buf = vec![0u8; 4096];
    let len = received
        .build_notification(
            kind,
            status,
            None,
            &mut simple_im_tokio::server::rng::OsRng,
            &mut buf,
        )
        .unwrap();
    let notification = String::from_utf8(buf[..len].to_vec()).unwrap();
    members[1].peer.send_typed("message/cpim", &notification).await;
    let got = members[0].peer.next_send().await;
    assert!(
        got.contains("<delivered/>") && got.contains("<message-id>chat-0001</message-id>"),
        "{got}"
    );
    assert!(got.contains("From: <sip:n1@localhost>"), "{got}");
    let to_n2 = tokio::time::timeout(Duration::from_millis(600), members[2].peer.received()).await;
    assert!(
        to_n2.is_err(),
        "the notification went to another participant: {to_n2:?}"
    );

    // A notification about a message nobody in the room sent: n1 gets a 404 failure REPORT.
    let unknown = notification.replace("chat-0001", "chat-9999");
    members[1].peer.send_typed("message/cpim", &unknown).await;
    let report = members[1].peer.next_report().await;
    assert!(report.starts_with("000 404"), "{report}");
    let to_n0 = tokio::time::timeout(Duration::from_millis(600), members[0].peer.received()).await;
    assert!(
        to_n0.is_err(),
        "the unknown notification reached someone: {to_n0:?}"
    );
}

/// tshark decodes a room's traffic (the SIP of joining, messaging and leaving, and the MSRP on the
/// switch's port: binds, copies with CPIM bodies, responses and REPORTs) with no malformed packet
/// and no error-level expert item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_decodes_cleanly_in_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let users = names("w", 3);
    let running = start(dir.path(), &users, vec![group("room", false, &users)]).await;
    let sip_port = running.udp[0].port();
    let msrp_port = running.msrp.unwrap().port();
    let scratch = simple_im_tests::peers::scratch_dir("group-chat-tshark");
    let capture = tokio::task::spawn_blocking(move || {
        simple_im_tests::peers::tshark::Capture::start_with_msrp(
            &scratch,
            &[sip_port],
            &[msrp_port],
            Duration::from_secs(60),
        )
    })
    .await
    .unwrap();
    // On a loaded machine dumpcap applies its filter a while after it says it is capturing.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut members = join_all(&running, &users, "room").await;
    members[0]
        .peer
        .send_with("hello room", "Success-Report: yes\r\n")
        .await;
    for member in &mut members[1..] {
        assert_eq!(member.peer.received().await.unwrap().text, "hello room");
    }
    // The success REPORT for w0's message.
    let report = members[0].peer.next_report().await;
    assert!(report.starts_with("000 200"), "{report}");
    let im = cpim_asking_delivery("w1", "tshark-1", "cpim");
    members[1].peer.send_typed("message/cpim", &im).await;
    for i in [0, 2] {
        assert_eq!(members[i].peer.received().await.unwrap().text, "cpim");
    }
    // One more message after the SIP and MSRP above, so the capture has MSRP even if it started late.
    members[2].peer.send("last").await;
    for i in [0, 1] {
        assert_eq!(members[i].peer.received().await.unwrap().text, "last");
    }
    for member in &mut members {
        let cseq = cseq_of(&member.ok) + 1;
        in_dialog(&mut member.ua, Method::Bye, &member.ok.clone(), cseq).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::task::spawn_blocking(move || capture.assert_clean())
        .await
        .unwrap();
}

/// Two servers on loopback: `localhost` (A, 127.0.0.1) hosts the room, `b.test` (B, 127.0.0.2)
/// serves carol. Each names the other in `[[peers]]`; A refuses a request claiming to be from a
/// b.test user that does not come from B. carol joins `sip:room@localhost` through B (her Participating function,
/// B's relay in the media path), and she and dave (a user of A in the room) each receive the other's
/// message with the sender named in CPIM From.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_of_another_domain_joins_a_room_through_her_own_server() {
    let dir_a = tempfile::tempdir().unwrap();
    let dir_b = tempfile::tempdir().unwrap();
    // A's SIP port is needed in B's configuration before A starts: reserved, then released for A.
    let port_a = groups_support::reserve_port();
    let b = groups_support::start_b_test(dir_b.path(), &format!("127.0.0.1:{port_a}")).await;
    let users = vec!["dave".to_owned()];
    let extra_a = format!("[[peers]]\ndomain = \"b.test\"\naddress = \"{}\"", b.udp[0]);
    let room = group("room", false, &users);
    let a = {
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        let sip = format!("[sip]\nudp = [\"127.0.0.1:{port_a}\"]\ntcp = []\n");
        start_on(dir_a.path(), &users, room, &sip, &extra_a).await
    };
    let mut members = join_all(&a, &users, "room").await;

    let mut impostor = Ua::udp("carol", "carol-pw", a.udp[0]).await.in_domain("b.test");
    let refused = invite(&mut impostor, "room", "msrp://127.0.0.1:9/fake;tcp").await;
    assert_eq!(refused.status(), Some(403), "{}", refused.reason());
    assert!(
        refused.reason().contains("come through its server"),
        "{}",
        refused.reason()
    );

    let mut carol = Ua::udp("carol", "carol-pw", b.udp[0]).await.in_domain("b.test");
    assert_eq!(carol.register(600).await.status(), Some(200));
    let path = "msrp://127.0.0.1:9/carolb1;tcp";
    let ok = invite(&mut carol, "room", path).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    let route: Vec<String> = ok
        .headers()
        .filter(|(n, _)| n.eq_ignore_ascii_case("Record-Route"))
        .map(|(_, v)| v.to_owned())
        .collect();
    assert!(!route.is_empty(), "the focus's 200 keeps B's Record-Route");
    let route = route.into_iter().rev().collect::<Vec<_>>().join(", ");
    in_dialog_with(
        &mut carol,
        Method::Ack,
        &ok,
        cseq_of(&ok),
        &[("Route", route.as_str())],
    )
    .await;
    let leg = leg_of(&ok);
    let relay_b = b.msrp.unwrap();
    assert!(
        leg.contains(&format!(":{}/", relay_b.port())),
        "B's relay is in the media path: {leg}"
    );
    let mut carol_msrp = Peer::bind(relay_b, path.to_owned(), leg).await;

    members[0].peer.send("hello from A").await;
    let got = carol_msrp.received().await.expect("dave's message reaches carol");
    assert_eq!(
        (got.from.as_str(), got.text.as_str()),
        ("<sip:dave@localhost>", "hello from A")
    );
    carol_msrp.send("hello from B").await;
    let got = members[0]
        .peer
        .received()
        .await
        .expect("carol's message reaches dave");
    assert_eq!(
        (got.from.as_str(), got.text.as_str()),
        ("<sip:carol@b.test>", "hello from B")
    );

    // carol leaves through B: the BYE reaches the focus, and the room has dave alone again.
    let bye = [("Route", route.as_str())];
    in_dialog_with(&mut carol, Method::Bye, &ok, cseq_of(&ok) + 1, &bye).await;
    let bye_ok = carol.receive_within(WAIT).await.expect("the BYE's answer");
    assert_eq!(bye_ok.status(), Some(200), "{}", bye_ok.reason());
    for _ in 0..100 {
        if a.server.focus.with_room("room", |r| r.participants.len()) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        a.server.focus.with_room("room", |r| r.participants.len()),
        1,
        "carol left the room on A"
    );
}
