//! Helpers of the re-INVITE tests: the in-dialog offer/answer steps (re-INVITE, UPDATE, a re-INVITE
//! without SDP), a call with a chat already flowing through the relay, checks after a move, and a
//! hand-written MSRP endpoint for an end whose To-Path changes on the same connection.
#![allow(dead_code)]

use crate::msrp_support::{establish, Outgoing, Peer};
use crate::msrp_support::{path_of, request, request_with, response_with, sdp, Call, Established};
use crate::server_support::{start, tcp_addr, Ua};
use simple_im_core::msrp::session::SessionConfig;
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::{reply, Options, Running};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const ALICE: &str = "msrp://127.0.0.1:9/alicereinv1;tcp";
pub const ALICE_MOVED: &str = "msrp://127.0.0.1:9/alicemoved2;tcp";
pub const BOB: &str = "msrp://127.0.0.1:9/bobreinv1;tcp";
pub const BOB_MOVED: &str = "msrp://127.0.0.1:9/bobmoved3;tcp";
pub const WAIT: Duration = Duration::from_secs(10);

/// A TCP UA registered for 600 s (in-dialog requests reach it over its own connection).
pub async fn registered_tcp(running: &Running, name: &str) -> Ua {
    let mut ua = Ua::tcp(name, &format!("{name}-pw"), tcp_addr(running)).await;
    assert_eq!(ua.register(600).await.status(), Some(200));
    ua
}

pub async fn chat(alice: &mut Peer, bob: &mut Peer, round: &str) {
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
pub struct Side<'a> {
    pub call: Call,
    pub remote_target: String,
    pub to: String,
    pub route: &'a str,
}

/// `offerer` re-INVITEs `answerer` with an offer of `path`; the answerer answers `code` (with its
/// own `answer_path` on a 2xx). Returns the path the answerer was offered and, on a 2xx, the path
/// the offerer got back.
pub async fn reinvite(
    offerer: &mut Ua,
    side: &mut Side<'_>,
    answerer: &mut Ua,
    path: &str,
    code: u16,
    answer_path: &str,
) -> (String, Option<String>) {
    let answer = sdp(answer_path);
    offer_in_dialog("INVITE", offerer, side, answerer, path, code, &answer).await
}

/// [`reinvite`] with the offer in a `method` request (INVITE, or UPDATE which has no ACK) and the
/// whole SDP `answer` given.
pub async fn offer_in_dialog(
    method: &str,
    offerer: &mut Ua,
    side: &mut Side<'_>,
    answerer: &mut Ua,
    path: &str,
    code: u16,
    answer: &str,
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
/// answers `answer_path` in the ACK (an ACK without SDP when `None`). Returns the path the asker was
/// offered in the 200 and the path the offerer got in the ACK, if any.
pub async fn reinvite_without_sdp(
    asker: &mut Ua,
    side: &mut Side<'_>,
    offerer: &mut Ua,
    offer_path: &str,
    answer_path: Option<&str>,
) -> (String, Option<String>) {
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
    let answer = answer_path.map(sdp);
    let ack = request(
        asker,
        &side.call,
        "ACK",
        &side.remote_target,
        &to,
        &route,
        answer.as_deref(),
    );
    asker.send_raw(&ack).await;
    let ack = request_with(offerer, "ACK").await;
    let answered = (!ack.body().is_empty()).then(|| path_of(ack.body()));
    (path_of(ok.body()), answered)
}

/// After a move: each end was given a new relay leg (`alice` and `bob` are (own path, path to the
/// relay)) with the far end's path behind it, the new relay session replaced the old one, the old
/// connections close, and a chat over new connections to the new legs works.
pub async fn chat_after_move(
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

pub fn alice_side(call: &Established) -> Side<'_> {
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
pub struct Chatting {
    pub running: Running,
    pub alice: Ua,
    pub bob: Ua,
    pub call: Established,
    pub alice_msrp: Peer,
    pub bob_msrp: Peer,
}

/// A server on loopback with alice and bob registered over TCP.
pub async fn server_with_alice_and_bob(dir: &std::path::Path) -> (Running, Ua, Ua) {
    let running = start(dir, "", Options::default()).await;
    let alice = registered_tcp(&running, "alice").await;
    let bob = registered_tcp(&running, "bob").await;
    (running, alice, bob)
}

pub async fn chatting(dir: &std::path::Path) -> Chatting {
    let (running, mut alice, mut bob) = server_with_alice_and_bob(dir).await;
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

/// An MSRP endpoint written by hand, for an end whose To-Path changes mid-session on the same
/// connection (the core's session keeps the path it was made with).
pub struct RawEndpoint {
    stream: TcpStream,
    seen: String,
    sent: u32,
}

impl RawEndpoint {
    pub async fn connect(to_path: &str) -> RawEndpoint {
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
    pub async fn send(&mut self, to_path: &str, from: &str, text: &str) {
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
    pub async fn read_until(&mut self, needle: &str) {
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

/// A passive endpoint's listener and its `msrp:` path.
pub async fn passive_endpoint(name: &str) -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let path = format!("msrp://{}/{name};tcp", listener.local_addr().unwrap());
    (listener, path)
}
