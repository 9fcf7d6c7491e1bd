//! Re-INVITEs inside a relayed MSRP session, end to end through the running server: the re-offer and
//! its answer are rewritten like the initial ones, so the relay stays in the media path. A refresh
//! (same paths) keeps the legs and their connections; a new MSRP address moves the chat to new legs;
//! a declined re-INVITE leaves the session as it was. A re-INVITE without SDP gets the offer in its
//! 2xx and the answer in the ACK (RFC 3261 §13.2.1): both are rewritten the same way. Messages are
//! checked both ways after each. An UPDATE with an offer (RFC 3311) is rewritten like a re-INVITE.
//! An answerer that moves while the offerer stays keeps its leg: its new connection takes the leg over
//! and the old one is released without ending the session.

mod msrp_support;
mod server_support;

use msrp_support::{establish, path_of, request, request_with, response_with, sdp, Call, Established};
use msrp_support::{Outgoing, Peer};
use server_support::{start, tcp_addr, Ua};
use simple_im_core::msrp::session::SessionConfig;
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::{reply, Options, Running};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ALICE: &str = "msrp://127.0.0.1:9/alicereinv1;tcp";
const ALICE_MOVED: &str = "msrp://127.0.0.1:9/alicemoved2;tcp";
const BOB: &str = "msrp://127.0.0.1:9/bobreinv1;tcp";
const BOB_MOVED: &str = "msrp://127.0.0.1:9/bobmoved3;tcp";
const WAIT: Duration = Duration::from_secs(10);

/// A TCP UA registered for 600 s (in-dialog requests reach it over its own connection).
async fn registered_tcp(running: &Running, name: &str) -> Ua {
    let mut ua = Ua::tcp(name, &format!("{name}-pw"), tcp_addr(running)).await;
    assert_eq!(ua.register(600).await.status(), Some(200));
    ua
}

async fn chat(alice: &mut Peer, bob: &mut Peer, round: &str) {
    let there = format!("to bob {round}");
    alice
        .send
        .send(Outgoing::Text(there.clone().into_bytes()))
        .unwrap();
    assert_eq!(bob.message(WAIT).await.1, there.as_bytes());
    let back = format!("to alice {round}");
    bob.send.send(Outgoing::Text(back.clone().into_bytes())).unwrap();
    assert_eq!(alice.message(WAIT).await.1, back.as_bytes());
}

/// One side of the dialog, as that side writes its requests.
struct Side<'a> {
    call: Call,
    remote_target: String,
    to: String,
    route: &'a str,
}

/// `offerer` re-INVITEs `answerer` with an offer of `path`; the answerer answers `code` (with its
/// own `answer_path` on a 2xx). Returns the path the answerer was offered and, on a 2xx, the path
/// the offerer got back.
async fn reinvite(
    offerer: &mut Ua,
    side: &mut Side<'_>,
    answerer: &mut Ua,
    path: &str,
    code: u16,
    answer_path: &str,
) -> (String, Option<String>) {
    offer_in_dialog("INVITE", offerer, side, answerer, path, code, answer_path).await
}

/// [`reinvite`] with the offer in a `method` request (INVITE, or UPDATE which has no ACK).
async fn offer_in_dialog(
    method: &str,
    offerer: &mut Ua,
    side: &mut Side<'_>,
    answerer: &mut Ua,
    path: &str,
    code: u16,
    answer_path: &str,
) -> (String, Option<String>) {
    side.call.cseq += 1;
    let route = [("Route", side.route.to_owned())];
    let offer = sdp(path);
    let invite = request(
        offerer,
        &side.call,
        method,
        &side.remote_target,
        &side.to,
        &route,
        Some(&offer),
    );
    offerer.send_raw(&invite).await;
    let got = request_with(answerer, method).await;
    let offered = path_of(got.body());
    let contact = [("Contact", format!("<{}>", answerer.contact()))];
    let answer = sdp(answer_path);
    let body = (code < 300).then_some(("application/sdp", answer.as_bytes()));
    let reason = if code < 300 { "OK" } else { "Not Acceptable Here" };
    let response = reply::build(&got, None, code, reason, &contact, body).unwrap();
    answerer.send_raw(&response).await;
    let final_response = response_with(offerer, code).await;
    assert_eq!(final_response.cseq_method(), Some(method));
    if code >= 300 || method != "INVITE" {
        return (offered, (code < 300).then(|| path_of(final_response.body())));
    }
    let to = final_response.header(HeaderName::To).unwrap().to_owned();
    let ack = request(offerer, &side.call, "ACK", &side.remote_target, &to, &route, None);
    offerer.send_raw(&ack).await;
    (offered, Some(path_of(final_response.body())))
}

/// `asker` re-INVITEs `offerer` without SDP; the offerer offers `offer_path` in its 200 and the asker
/// answers `answer_path` in the ACK. Returns the path the asker was offered in the 200 and the path
/// the offerer got in the ACK.
async fn reinvite_without_sdp(
    asker: &mut Ua,
    side: &mut Side<'_>,
    offerer: &mut Ua,
    offer_path: &str,
    answer_path: &str,
) -> (String, String) {
    side.call.cseq += 1;
    let route = [("Route", side.route.to_owned())];
    let invite = request(
        asker,
        &side.call,
        "INVITE",
        &side.remote_target,
        &side.to,
        &route,
        None,
    );
    asker.send_raw(&invite).await;
    let got = request_with(offerer, "INVITE").await;
    assert!(got.body().is_empty(), "the re-INVITE is relayed without SDP");
    let contact = [("Contact", format!("<{}>", offerer.contact()))];
    let offer = sdp(offer_path);
    let ok = reply::build(
        &got,
        None,
        200,
        "OK",
        &contact,
        Some(("application/sdp", offer.as_bytes())),
    );
    offerer.send_raw(&ok.unwrap()).await;
    let ok = response_with(asker, 200).await;
    assert_eq!(ok.cseq_method(), Some("INVITE"));
    let to = ok.header(HeaderName::To).unwrap().to_owned();
    let answer = sdp(answer_path);
    let ack = request(
        asker,
        &side.call,
        "ACK",
        &side.remote_target,
        &to,
        &route,
        Some(&answer),
    );
    asker.send_raw(&ack).await;
    let ack = request_with(offerer, "ACK").await;
    (path_of(ok.body()), path_of(ack.body()))
}

/// After a move: each end was given a new relay leg (`alice` and `bob` are (own path, path to the
/// relay)) with the far end's path behind it, the new relay session replaced the old one, the old
/// connections close, and a chat over new connections to the new legs works.
async fn chat_after_move(
    running: &Running,
    call: &Established,
    old: (Peer, Peer),
    alice: (&str, &str),
    bob: (&str, &str),
) {
    let ((alice_path, alice_remote), (bob_path, bob_remote)) = (alice, bob);
    assert!(alice_remote.ends_with(bob_path), "{alice_remote}");
    assert!(bob_remote.ends_with(alice_path), "{bob_remote}");
    assert_ne!(alice_remote, call.alice_remote);
    assert_ne!(bob_remote, call.bob_remote);
    let relay = running.server.msrp.clone().unwrap();
    assert_eq!(relay.session_count(), 1, "the new session replaced the old one");
    let (mut old_alice, mut old_bob) = old;
    assert!(old_alice.closed_within(WAIT).await);
    assert!(old_bob.closed_within(WAIT).await);
    let config = SessionConfig::default();
    let mut alice_msrp = Peer::connect(alice_path, alice_remote, config).await;
    let mut bob_msrp = Peer::connect(bob_path, bob_remote, config).await;
    chat(&mut alice_msrp, &mut bob_msrp, "after the move").await;
}

fn alice_side(call: &Established) -> Side<'_> {
    Side {
        call: Call {
            call_id: call.call.call_id.clone(),
            from: call.call.from.clone(),
            cseq: call.call.cseq,
        },
        remote_target: call.bob_contact.clone(),
        to: call.to.clone(),
        route: &call.route,
    }
}

/// A call between two registered TCP UAs with a chat through the relay already flowing.
struct Chatting {
    running: Running,
    alice: Ua,
    bob: Ua,
    call: Established,
    alice_msrp: Peer,
    bob_msrp: Peer,
}

async fn chatting(dir: &std::path::Path) -> Chatting {
    let running = start(dir, "", Options::default()).await;
    let mut alice = registered_tcp(&running, "alice").await;
    let mut bob = registered_tcp(&running, "bob").await;
    let call = establish(&mut alice, &mut bob, ALICE, BOB).await;
    let config = SessionConfig::default();
    let mut alice_msrp = Peer::connect(ALICE, &call.alice_remote, config).await;
    let mut bob_msrp = Peer::connect(BOB, &call.bob_remote, config).await;
    chat(&mut alice_msrp, &mut bob_msrp, "before").await;
    Chatting {
        running,
        alice,
        bob,
        call,
        alice_msrp,
        bob_msrp,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_from_the_callee_keeps_the_legs_and_a_declined_move_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();

    // Bob (the callee) refreshes the session with the same SDP: each side is offered/answered the
    // very paths it already uses, so the connections carry on.
    let mut bob_side = Side {
        call: Call {
            call_id: call.call.call_id.clone(),
            from: call.to.clone(),
            cseq: 10,
        },
        remote_target: alice.contact(),
        to: call.call.from.clone(),
        route: &call.route,
    };
    let (offered, answered) = reinvite(&mut bob, &mut bob_side, &mut alice, BOB, 200, ALICE).await;
    assert_eq!(offered, call.alice_remote, "alice is offered her own leg again");
    assert_eq!(answered.as_deref(), Some(call.bob_remote.as_str()));
    chat(&mut alice_msrp, &mut bob_msrp, "after the refresh").await;
    assert_eq!(relay.session_count(), 1);

    // Alice offers a new address but bob declines: the session stays as it was.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite(&mut alice, &mut side, &mut bob, ALICE_MOVED, 488, BOB).await;
    assert!(offered.ends_with(ALICE_MOVED), "{offered}");
    assert_ne!(offered, call.bob_remote, "a new leg for the move");
    assert!(answered.is_none());
    chat(&mut alice_msrp, &mut bob_msrp, "after the declined move").await;
    assert_eq!(relay.session_count(), 1);
    // The declined offer's leg is gone: a connection to it gets 481.
    let new_leg = offered.split_whitespace().next().unwrap();
    let relay_addr = running.msrp.unwrap().to_string();
    let probe = format!(
        "MSRP p1 SEND\r\nTo-Path: {new_leg} {ALICE_MOVED}\r\nFrom-Path: {BOB}\r\nMessage-ID: p\r\n\
Byte-Range: 1-0/0\r\n-------p1$\r\n"
    );
    let (answer, _) = msrp_support::inject(&relay_addr, probe.as_bytes()).await;
    assert!(answer.starts_with("MSRP p1 481"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_with_a_new_msrp_address_moves_the_chat_to_new_legs() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        alice_msrp,
        bob_msrp,
    } = chatting(dir.path()).await;

    let mut side = alice_side(&call);
    let (bob_remote, alice_remote) = reinvite(&mut alice, &mut side, &mut bob, ALICE_MOVED, 200, BOB).await;
    let alice_remote = alice_remote.unwrap();
    let old = (alice_msrp, bob_msrp);
    chat_after_move(
        &running,
        &call,
        old,
        (ALICE_MOVED, &alice_remote),
        (BOB, &bob_remote),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reinvite_without_sdp_has_the_offer_in_the_2xx_and_the_answer_in_the_ack_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();

    // Bob offers the paths already in use: each side sees the relay leg it is connected to.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite_without_sdp(&mut alice, &mut side, &mut bob, BOB, ALICE).await;
    assert_eq!(offered, call.alice_remote, "alice is offered her own leg again");
    assert_eq!(answered, call.bob_remote, "bob gets his own leg back in the ACK");
    chat(&mut alice_msrp, &mut bob_msrp, "after the refresh in the 2xx").await;
    assert_eq!(relay.session_count(), 1);

    // Bob moves in the 2xx's offer: new legs for both, announced in the 2xx and the ACK.
    let (offered, answered) = reinvite_without_sdp(&mut alice, &mut side, &mut bob, BOB_MOVED, ALICE).await;
    let old = (alice_msrp, bob_msrp);
    chat_after_move(&running, &call, old, (ALICE, &offered), (BOB_MOVED, &answered)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_with_an_offer_is_rewritten_like_a_reinvite() {
    let dir = tempfile::tempdir().unwrap();
    let Chatting {
        running,
        mut alice,
        mut bob,
        call,
        mut alice_msrp,
        mut bob_msrp,
    } = chatting(dir.path()).await;
    let relay = running.server.msrp.clone().unwrap();
    let mut side = alice_side(&call);

    // A refresh by UPDATE keeps the legs and their connections.
    let (offered, answered) =
        offer_in_dialog("UPDATE", &mut alice, &mut side, &mut bob, ALICE, 200, BOB).await;
    assert_eq!(offered, call.bob_remote, "bob is offered his own leg again");
    assert_eq!(answered.as_deref(), Some(call.alice_remote.as_str()));
    chat(&mut alice_msrp, &mut bob_msrp, "after the UPDATE refresh").await;

    // A declined move by UPDATE changes nothing.
    let (offered, answered) =
        offer_in_dialog("UPDATE", &mut alice, &mut side, &mut bob, ALICE_MOVED, 488, BOB).await;
    assert!(offered.ends_with(ALICE_MOVED), "{offered}");
    assert!(answered.is_none());
    chat(&mut alice_msrp, &mut bob_msrp, "after the declined UPDATE").await;
    assert_eq!(relay.session_count(), 1);

    // A move by UPDATE: new legs for both ends, the old connections closed.
    let (bob_remote, alice_remote) =
        offer_in_dialog("UPDATE", &mut alice, &mut side, &mut bob, ALICE_MOVED, 200, BOB).await;
    let alice_remote = alice_remote.unwrap();
    let old = (alice_msrp, bob_msrp);
    chat_after_move(
        &running,
        &call,
        old,
        (ALICE_MOVED, &alice_remote),
        (BOB, &bob_remote),
    )
    .await;
}

/// An MSRP endpoint written by hand, for an end whose To-Path changes mid-session on the same
/// connection (the core's session keeps the path it was made with).
struct RawEndpoint {
    stream: TcpStream,
    seen: String,
    sent: u32,
}

impl RawEndpoint {
    async fn connect(to_path: &str) -> RawEndpoint {
        let first = to_path.split_whitespace().next().unwrap();
        let authority = first.trim_start_matches("msrp://").split('/').next().unwrap();
        let stream = TcpStream::connect(authority).await.unwrap();
        RawEndpoint {
            stream,
            seen: String::new(),
            sent: 0,
        }
    }

    /// Sends `text` in one SEND from `from` along `to_path` and waits for its 200.
    async fn send(&mut self, to_path: &str, from: &str, text: &str) {
        self.sent += 1;
        let tid = format!("raw{}", self.sent);
        let len = text.len();
        let send = format!(
            "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from}\r\nMessage-ID: {tid}\r\n\
Byte-Range: 1-{len}/{len}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n-------{tid}$\r\n"
        );
        self.stream.write_all(send.as_bytes()).await.unwrap();
        self.read_until(&format!("MSRP {tid} 200")).await;
    }

    /// Reads until `needle` has arrived (everything read is kept).
    async fn read_until(&mut self, needle: &str) {
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.seen.contains(needle) {
            let read = tokio::time::timeout_at(deadline, self.stream.read(&mut buf)).await;
            let n = read
                .unwrap_or_else(|_| panic!("{needle:?} did not arrive: {}", self.seen))
                .unwrap();
            assert!(n > 0, "closed before {needle:?}: {}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answerer_that_moves_keeps_its_leg_on_a_new_connection_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let relay = running.server.msrp.clone().unwrap();
    let mut alice = registered_tcp(&running, "alice").await;
    let mut bob = registered_tcp(&running, "bob").await;
    let call = establish(&mut alice, &mut bob, ALICE, BOB).await;
    let mut alice_msrp = RawEndpoint::connect(&call.alice_remote).await;
    let mut bob_msrp = Peer::connect(BOB, &call.bob_remote, SessionConfig::default()).await;
    alice_msrp.send(&call.alice_remote, ALICE, "hello bob").await;
    assert_eq!(bob_msrp.message(WAIT).await.1, b"hello bob");

    // Alice re-offers her own path; bob answers from a new address.
    let mut side = alice_side(&call);
    let (offered, answered) = reinvite(&mut alice, &mut side, &mut bob, ALICE, 200, BOB_MOVED).await;
    let answered = answered.unwrap();
    assert_eq!(offered, call.bob_remote, "bob keeps his leg");
    let alice_leg = call.alice_remote.split_whitespace().next().unwrap();
    assert_eq!(
        answered,
        format!("{alice_leg} {BOB_MOVED}"),
        "alice keeps hers, bob's new path behind"
    );

    // Bob's new connection takes his leg over (its first SEND binds it); the old one is released and
    // the session is not ended.
    let mut moved_msrp = Peer::connect(BOB_MOVED, &offered, SessionConfig::default()).await;
    moved_msrp
        .send
        .send(Outgoing::Text(b"hello from the new place".to_vec()))
        .unwrap();
    alice_msrp.read_until("hello from the new place").await;
    assert!(
        bob_msrp.closed_within(WAIT).await,
        "the old connection is released"
    );
    assert_eq!(relay.session_count(), 1);
    alice_msrp.send(&answered, ALICE, "hello moved bob").await;
    assert_eq!(moved_msrp.message(WAIT).await.1, b"hello moved bob");
}
