//! Session mode between two IM clients: INVITE with an MSRP offer, 200 with the answer, ACK, three
//! messages each way over simulated TCP streams that split writes at random points, then BYE. Rows of
//! the chat table in `client::chat`.

use simple_im_core::client::{ChatId, Client, ClientConfig, ClientEvent, TransportKind};
use simple_im_core::sim::{LinkConfig, SimClock, SimLink, SimRng, SimStream};
use simple_im_core::sip::auth::{
    ha1, Algorithm, Credentials, DigestRequest, DigestServer, ServerConfig, Verification,
};
use simple_im_core::sip::{response_to, Header, HeaderName, Message, Method, ParseConfig};
use simple_im_core::time::Instant;

type Peer = Client<SimRng, u8>;

fn peer(user: &str, local: &str, seed: u64) -> Peer {
    let cfg = ClientConfig::new(
        "127.0.0.1:5060",
        TransportKind::Udp,
        &format!("sip:{user}@example.com"),
        user,
        "pw",
    )
    .unwrap();
    let mut c = Client::new(cfg, Instant::ZERO, SimRng::new(seed));
    c.set_local_address(local).unwrap();
    c
}

#[derive(Default)]
struct Side {
    events: Vec<ClientEvent>,
    /// Reassembled incoming chat messages.
    texts: Vec<String>,
    /// Messages being reassembled, oldest first.
    current: std::collections::VecDeque<Vec<u8>>,
    msrp_in: Vec<u8>,
    chat: Option<ChatId>,
    /// Bytes arrived before `chat` was known.
    pending_msrp: bool,
}

struct Pair {
    clock: SimClock,
    a: Peer,
    b: Peer,
    sa: Side,
    sb: Side,
    ab: SimLink<16, 2048>,
    ba: SimLink<16, 2048>,
    msrp_ab: SimStream<16384>,
    msrp_ba: SimStream<16384>,
    /// A proxy on alice's way out that challenges her INVITEs with 407 (the server does).
    proxy: Option<ChallengingProxy>,
    /// BYE requests each side has sent (alice, bob).
    byes_sent: (usize, usize),
    /// Every SIP datagram each side has sent (alice, bob).
    sent: (Vec<Vec<u8>>, Vec<Vec<u8>>),
}

/// Challenges every INVITE from alice without valid Proxy-Authorization; passes the rest to bob.
struct ChallengingProxy {
    digest: DigestServer,
    /// Per INVITE seen: (CSeq number, had valid credentials).
    invites: Vec<(u32, bool)>,
}

impl ChallengingProxy {
    fn new() -> Self {
        let mut cfg = ServerConfig::default();
        cfg.algorithms.clear();
        cfg.algorithms.push(Algorithm::SHA256).unwrap();
        ChallengingProxy {
            digest: DigestServer::new("example.com", [5; 32], cfg).unwrap(),
            invites: Vec::new(),
        }
    }

    /// `Some(answer)` to send back to alice instead of forwarding `datagram`, or `None` to forward.
    fn intercept(&mut self, now: Instant, datagram: &[u8]) -> Option<Vec<u8>> {
        let mut slots = [Header::EMPTY; 40];
        let msg = Message::parse_datagram(datagram, &mut slots, &ParseConfig::default()).ok()?;
        match msg.method()? {
            // The ACK of our 407 (it carries our To tag) is absorbed here, hop by hop.
            Method::Ack => {
                let to_tag = msg
                    .to()
                    .and_then(Result::ok)
                    .and_then(|to| to.tag().map(str::to_string));
                (to_tag.as_deref() == Some("proxy")).then(Vec::new)
            }
            Method::Invite => {
                let seq = msg.cseq()?.ok()?.seq;
                let valid = msg.header(HeaderName::ProxyAuthorization).is_some_and(|value| {
                    let Ok(Credentials::Digest(c)) = Credentials::parse(value) else {
                        return false;
                    };
                    let stored = ha1(Algorithm::SHA256, "alice", "example.com", "pw");
                    let request = DigestRequest {
                        method: "INVITE",
                        uri: msg.request_uri().unwrap(),
                        body: msg.body(),
                    };
                    self.digest.verify(&c, &request, stored.as_str(), now) == Verification::Ok
                });
                if !self.invites.contains(&(seq, valid)) {
                    self.invites.push((seq, valid));
                }
                if valid {
                    return None;
                }
                let nonce = self.digest.issue_nonce(now);
                let mut value = [0u8; 512];
                let len = self
                    .digest
                    .challenge(&nonce, Algorithm::SHA256, false)
                    .emit(&mut value)
                    .unwrap();
                let value = std::str::from_utf8(&value[..len]).unwrap();
                let mut out = vec![0u8; 2048];
                let mut w = response_to(
                    &msg,
                    407,
                    "Proxy Authentication Required",
                    Some("proxy"),
                    &mut out,
                )
                .unwrap();
                w.header(HeaderName::ProxyAuthenticate, value).unwrap();
                let n = w.finish(b"").unwrap();
                out.truncate(n);
                Some(out)
            }
            _ => None,
        }
    }
}

fn drain(c: &mut Peer, side: &mut Side, input: &[u8]) {
    while let Some(e) = c.poll_event() {
        match e {
            ClientEvent::ChatBody { body, offset, .. } => {
                // One read may hold the bodies of several messages before their ends.
                if offset == 0 || side.current.is_empty() {
                    side.current.push_back(Vec::new());
                }
                let current = side.current.back_mut().unwrap();
                let (bytes, at) = (body.of(input), offset as usize);
                if current.len() < at + bytes.len() {
                    current.resize(at + bytes.len(), 0);
                }
                current[at..at + bytes.len()].copy_from_slice(bytes);
            }
            ClientEvent::ChatMessageEnd { len, .. } => {
                let text = side.current.pop_front().unwrap_or_default();
                assert_eq!(len as usize, text.len());
                side.texts.push(String::from_utf8(text).unwrap());
            }
            ClientEvent::ChatInvitation { chat, .. } | ClientEvent::ChatConnect { chat, .. } => {
                side.chat = Some(chat)
            }
            _ => {}
        }
        side.events.push(e);
    }
}

impl Pair {
    fn new(loss: u32) -> Self {
        let link = LinkConfig::lossy(
            loss,
            core::time::Duration::from_millis(5),
            core::time::Duration::from_millis(30),
        );
        Pair {
            clock: SimClock::default(),
            a: peer("alice", "10.0.0.1:5060", 1),
            b: peer("bob", "10.0.0.2:5060", 2),
            sa: Side::default(),
            sb: Side::default(),
            ab: SimLink::new(link, 11),
            ba: SimLink::new(link, 12),
            msrp_ab: SimStream::new(LinkConfig::PERFECT, 13, 21),
            msrp_ba: SimStream::new(LinkConfig::PERFECT, 17, 22),
            proxy: None,
            byes_sent: (0, 0),
            sent: (Vec::new(), Vec::new()),
        }
    }

    fn run_for_ms(&mut self, ms: u64) {
        let until = Instant::from_millis(self.clock.now().as_millis() + ms);
        loop {
            let now = self.clock.now();
            let mut buf = [0u8; 2048];
            while let Some(t) = self.a.poll_transmit(&mut buf) {
                self.byes_sent.0 += usize::from(buf[..t.len].starts_with(b"BYE "));
                self.sent.0.push(buf[..t.len].to_vec());
                self.ab.send(now, &buf[..t.len]).unwrap();
            }
            while let Some(t) = self.b.poll_transmit(&mut buf) {
                self.byes_sent.1 += usize::from(buf[..t.len].starts_with(b"BYE "));
                self.sent.1.push(buf[..t.len].to_vec());
                self.ba.send(now, &buf[..t.len]).unwrap();
            }
            let mut mbuf = [0u8; 4096];
            while let Some((_, n)) = self.a.poll_msrp_transmit(now, &mut mbuf) {
                self.msrp_ab.write(now, &mbuf[..n]).unwrap();
            }
            while let Some((_, n)) = self.b.poll_msrp_transmit(now, &mut mbuf) {
                self.msrp_ba.write(now, &mbuf[..n]).unwrap();
            }
            drain(&mut self.a, &mut self.sa, &[]);
            drain(&mut self.b, &mut self.sb, &[]);
            let next = [
                self.a.poll_timeout(),
                self.b.poll_timeout(),
                self.ab.next_delivery_time(),
                self.ba.next_delivery_time(),
                self.msrp_ab.next_event_time(),
                self.msrp_ba.next_event_time(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= until) else {
                self.clock.advance_to(until);
                return;
            };
            let now = self.clock.advance_to(next.max(now));
            while let Some(d) = self.ab.receive(now) {
                if let Some(answer) = self.proxy.as_mut().and_then(|p| p.intercept(now, &d)) {
                    if !answer.is_empty() {
                        self.ba.send(now, &answer).unwrap();
                    }
                    continue;
                }
                self.b.handle_datagram(now, 1, &d);
                drain(&mut self.b, &mut self.sb, &d);
            }
            while let Some(d) = self.ba.receive(now) {
                self.a.handle_datagram(now, 2, &d);
                drain(&mut self.a, &mut self.sa, &d);
            }
            for (stream, client, side) in [
                (&mut self.msrp_ab, &mut self.b, &mut self.sb),
                (&mut self.msrp_ba, &mut self.a, &mut self.sa),
            ] {
                let mut chunk = [0u8; 512];
                let n = stream.read(now, &mut chunk);
                side.msrp_in.extend_from_slice(&chunk[..n]);
                // A passive side may get the active side's first bytes before its own ChatConnect
                // (as a runtime would hold an accepted connection's bytes): keep them until then.
                if let (Some(chat), true) = (side.chat, n > 0 || side.pending_msrp) {
                    let input = std::mem::take(&mut side.msrp_in);
                    let used = client.handle_msrp(now, chat, &input).unwrap();
                    drain(client, side, &input);
                    side.msrp_in = input[used..].to_vec();
                    side.pending_msrp = false;
                } else if n > 0 {
                    side.pending_msrp = true;
                }
            }
            if self.a.poll_timeout().is_some_and(|t| t <= now) {
                self.a.handle_timeout(now);
            }
            if self.b.poll_timeout().is_some_and(|t| t <= now) {
                self.b.handle_timeout(now);
            }
        }
    }
}

/// The chat of the invitation `side` received first.
fn invitation_of(side: &Side) -> ChatId {
    match side.events.first() {
        Some(ClientEvent::ChatInvitation { chat, .. }) => *chat,
        other => panic!("expected an invitation, got {other:?}"),
    }
}

fn established(loss: u32) -> (Pair, ChatId, ChatId) {
    established_from(Pair::new(loss))
}

/// Alice invites Bob and Bob accepts, on a pair the caller prepared.
fn established_from(mut p: Pair) -> (Pair, ChatId, ChatId) {
    let now = p.clock.now();
    let chat_a = p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    p.run_for_ms(5_000);
    let chat_b = invitation_of(&p.sb);
    let now = p.clock.now();
    p.b.accept_chat(now, chat_b).unwrap();
    p.run_for_ms(10_000);
    (p, chat_a, chat_b)
}

/// An established chat and alice's MSRP paths in it (her URI, bob's path), to write SENDs to her.
fn established_with_alices_paths() -> (Pair, ChatId, String, String) {
    let (p, chat_a, _) = established(0);
    let (local, remote) =
        p.a.chat_paths(chat_a)
            .map(|(l, r)| (l.to_string(), r.to_string()))
            .unwrap();
    (p, chat_a, local, remote)
}

#[test]
fn inviting_2xx_with_matching_answer_acks_connects_and_carries_three_messages_each_way() {
    on_big_stack(inviting_2xx_with_matching_answer_acks_connects_and_carries_three_messages_each_way_body);
}

fn inviting_2xx_with_matching_answer_acks_connects_and_carries_three_messages_each_way_body() {
    let (mut p, chat_a, chat_b) = established(0);
    assert!(
        p.sa.events.contains(&ClientEvent::ChatConnect {
            chat: chat_a,
            active: true
        }),
        "{:?}",
        p.sa.events
    );
    assert!(p
        .sa
        .events
        .contains(&ClientEvent::ChatEstablished { chat: chat_a }));
    assert!(
        p.sb.events.contains(&ClientEvent::ChatConnect {
            chat: chat_b,
            active: false
        }),
        "{:?}",
        p.sb.events
    );
    assert!(
        p.sb.events
            .contains(&ClientEvent::ChatEstablished { chat: chat_b }),
        "accepted + ACK row"
    );
    assert_eq!(p.a.chat_peer_address(chat_a), Some("10.0.0.2:2855"));
    for i in 0..3 {
        let now = p.clock.now();
        p.a.send_chat(now, chat_a, &format!("alice says {i}")).unwrap();
        p.b.send_chat(now, chat_b, &format!("bob says {i}")).unwrap();
        p.run_for_ms(2_000);
    }
    assert_eq!(p.sb.texts, vec!["alice says 0", "alice says 1", "alice says 2"]);
    assert_eq!(p.sa.texts, vec!["bob says 0", "bob says 1", "bob says 2"]);
    let now = p.clock.now();
    p.a.close_chat(now, chat_a).unwrap();
    p.run_for_ms(5_000);
    assert!(p.sa.events.contains(&ClientEvent::ChatClosed {
        chat: chat_a,
        status: 200
    }));
    assert!(
        p.sb.events.contains(&ClientEvent::ChatClosed {
            chat: chat_b,
            status: 200
        }),
        "BYE in the dialog row"
    );
    // The BYE ends the dialog for both: bob answers it with 200 and sends no BYE of his own.
    assert_eq!(p.byes_sent, (1, 0), "a received BYE is answered, not returned");
}

#[test]
fn invited_decline_chat_answers_603_and_the_inviter_sees_it() {
    on_big_stack(invited_decline_chat_answers_603_and_the_inviter_sees_it_body);
}

fn invited_decline_chat_answers_603_and_the_inviter_sees_it_body() {
    let mut p = Pair::new(0);
    let now = p.clock.now();
    let chat_a = p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    p.run_for_ms(2_000);
    let chat_b = p.sb.chat.unwrap();
    let now = p.clock.now();
    p.b.decline_chat(now, chat_b).unwrap();
    p.run_for_ms(10_000);
    // 180 and 603 once each: the ACK for the 603 reached Bob's INVITE transaction and stopped timer G.
    assert_eq!(p.ba.stats().sent, 2, "{:?}", p.ba.stats());
    assert!(
        p.sa.events.contains(&ClientEvent::ChatClosed {
            chat: chat_a,
            status: 603
        }),
        "{:?}",
        p.sa.events
    );
}

#[test]
fn invite_no_free_chat_slot_answers_486() {
    on_big_stack(invite_no_free_chat_slot_answers_486_body);
}

fn invite_no_free_chat_slot_answers_486_body() {
    let mut p = Pair::new(0);
    let now = p.clock.now();
    p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    p.run_for_ms(2_000);
    // Bob's only slot holds the pending invitation; a second INVITE is busy.
    let mut c = peer("carol", "10.0.0.3:5060", 9);
    let chat_c = c.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    let mut buf = [0u8; 2048];
    let t = c.poll_transmit(&mut buf).unwrap();
    let now = p.clock.now();
    p.b.handle_datagram(now, 3, &buf[..t.len]);
    let t = p.b.poll_transmit(&mut buf).unwrap();
    assert!(buf[..t.len].starts_with(b"SIP/2.0 486 Busy Here\r\n"));
    c.handle_datagram(now, 2, &buf[..t.len]);
    assert!(std::iter::from_fn(|| c.poll_event()).any(|e| e
        == ClientEvent::ChatClosed {
            chat: chat_c,
            status: 486
        }));
}

#[test]
fn lossy_signalling_still_establishes_the_chat() {
    on_big_stack(lossy_signalling_still_establishes_the_chat_body);
}

fn lossy_signalling_still_establishes_the_chat_body() {
    let (mut p, chat_a, chat_b) = established(30);
    assert!(
        p.sb.events
            .contains(&ClientEvent::ChatEstablished { chat: chat_b }),
        "{:?}",
        p.sb.events
    );
    let now = p.clock.now();
    p.a.send_chat(now, chat_a, "through loss").unwrap();
    p.run_for_ms(2_000);
    assert_eq!(p.sb.texts, vec!["through loss"]);
}

/// Two clients, four simulated links and debug-build frames exceed the default 2 MiB test stack.
fn on_big_stack(f: fn()) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn large_message_streams_through_chat_body_events() {
    on_big_stack(large_message_streams_through_chat_body_events_body);
}

fn large_message_streams_through_chat_body_events_body() {
    let (mut p, chat_a, local, remote) = established_with_alices_paths();
    let body: Vec<u8> = (0..6000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let mut wire = Vec::new();
    for (n, (range, flag)) in [((1usize, 3000usize), '+'), ((3001, 6000), '$')]
        .into_iter()
        .enumerate()
    {
        wire.extend_from_slice(
            format!(
                "MSRP big{n} SEND\r\nTo-Path: {local}\r\nFrom-Path: {remote}\r\nMessage-ID: large1\r\n\
                 Byte-Range: {}-{}/6000\r\nContent-Type: text/plain\r\n\r\n",
                range.0, range.1
            )
            .as_bytes(),
        );
        wire.extend_from_slice(&body[range.0 - 1..range.1]);
        wire.extend_from_slice(format!("\r\n-------big{n}{flag}\r\n").as_bytes());
    }
    // Feed 700-byte pieces, as a small device socket buffer would.
    let mut pending: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let now = p.clock.now();
    for piece in wire.chunks(700) {
        pending.extend_from_slice(piece);
        let used = p.a.handle_msrp(now, chat_a, &pending).unwrap();
        let mut side = Side::default();
        drain(&mut p.a, &mut side, &pending);
        events.extend(side.events.into_iter().map(|e| (e, pending.clone())));
        pending.drain(..used);
    }
    let mut received = vec![0u8; 6000];
    let mut pieces = 0;
    let mut ended = None;
    for (e, input) in &events {
        match e {
            ClientEvent::ChatBody { body, offset, .. } => {
                let bytes = body.of(input);
                received[*offset as usize..*offset as usize + bytes.len()].copy_from_slice(bytes);
                pieces += 1;
            }
            ClientEvent::ChatMessageEnd { len, .. } => ended = Some(*len),
            _ => {}
        }
    }
    assert_eq!(ended, Some(6000));
    assert_eq!(received, body);
    assert!(
        pieces >= 8,
        "a 6000-byte message in 700-byte reads comes out in pieces: {pieces}"
    );
}

#[test]
fn inviting_first_407_is_answered_with_credentials_and_the_chat_is_established() {
    on_big_stack(inviting_first_407_is_answered_with_credentials_and_the_chat_is_established_body);
}

fn inviting_first_407_is_answered_with_credentials_and_the_chat_is_established_body() {
    let mut p = Pair::new(0);
    p.proxy = Some(ChallengingProxy::new());
    let now = p.clock.now();
    let chat_a = p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    p.run_for_ms(5_000);
    let invites = &p.proxy.as_ref().unwrap().invites;
    assert_eq!(
        invites,
        &vec![(1, false), (2, true)],
        "challenged once, then CSeq + 1 with credentials"
    );
    let chat_b = match p.sb.events.first() {
        Some(ClientEvent::ChatInvitation { chat, .. }) => *chat,
        other => panic!("bob expected the authenticated invitation, got {other:?}"),
    };
    assert!(!p
        .sa
        .events
        .iter()
        .any(|e| matches!(e, ClientEvent::ChatClosed { .. })));
    let now = p.clock.now();
    p.b.accept_chat(now, chat_b).unwrap();
    p.run_for_ms(10_000);
    assert!(
        p.sa.events
            .contains(&ClientEvent::ChatEstablished { chat: chat_a }),
        "{:?}",
        p.sa.events
    );
}

#[test]
fn inviting_a_second_407_ends_the_chat_with_that_status() {
    on_big_stack(inviting_a_second_407_ends_the_chat_with_that_status_body);
}

fn inviting_a_second_407_ends_the_chat_with_that_status_body() {
    let mut p = Pair::new(0);
    let mut proxy = ChallengingProxy::new();
    // Credentials for another password: every INVITE stays unauthenticated.
    proxy.digest = DigestServer::new("elsewhere.example", [6; 32], {
        let mut cfg = ServerConfig::default();
        cfg.algorithms.clear();
        cfg.algorithms.push(Algorithm::SHA256).unwrap();
        cfg
    })
    .unwrap();
    p.proxy = Some(proxy);
    let now = p.clock.now();
    let chat_a = p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    p.run_for_ms(5_000);
    assert_eq!(p.proxy.as_ref().unwrap().invites, vec![(1, false), (2, false)]);
    assert!(
        p.sa.events.contains(&ClientEvent::ChatClosed {
            chat: chat_a,
            status: 407
        }),
        "{:?}",
        p.sa.events
    );
    assert!(p.sb.events.is_empty());
}

#[test]
fn set_msrp_address_puts_that_host_and_port_in_the_path_the_peer_connects_to() {
    on_big_stack(set_msrp_address_puts_that_host_and_port_in_the_path_the_peer_connects_to_body);
}

fn set_msrp_address_puts_that_host_and_port_in_the_path_the_peer_connects_to_body() {
    let mut p = Pair::new(0);
    assert!(p.a.set_msrp_address("no-port").is_err());
    p.a.set_msrp_address("192.0.2.50:40000").unwrap();
    let (mut p, chat_a, chat_b) = established_from(p);
    assert!(p
        .sa
        .events
        .contains(&ClientEvent::ChatEstablished { chat: chat_a }));
    let (a_local, _) = p.a.chat_paths(chat_a).unwrap();
    assert!(a_local.starts_with("msrp://192.0.2.50:40000/"), "{a_local}");
    assert_eq!(p.b.chat_peer_address(chat_b), Some("192.0.2.50:40000"));
    // Bob's own path keeps the default: his local host and the MSRP port.
    assert_eq!(p.a.chat_peer_address(chat_a), Some("10.0.0.2:2855"));
    // Alice offered actpass, Bob (a device: active whenever allowed) connects, Alice listens.
    assert!(p.sa.events.contains(&ClientEvent::ChatConnect {
        chat: chat_a,
        active: false
    }));
    assert!(p.sb.events.contains(&ClientEvent::ChatConnect {
        chat: chat_b,
        active: true
    }));
    for (i, text) in ["one", "two"].into_iter().enumerate() {
        let now = p.clock.now();
        p.a.send_chat(now, chat_a, text).unwrap();
        p.b.send_chat(now, chat_b, &text.to_uppercase()).unwrap();
        p.run_for_ms(2_000);
        assert_eq!(p.sb.texts.get(i).map(String::as_str), Some(text));
        assert_eq!(p.sa.texts.get(i), Some(&text.to_uppercase()));
    }
}

#[test]
fn invited_cancel_of_the_invite_answers_200_and_487_and_closes_the_chat() {
    on_big_stack(invited_cancel_of_the_invite_answers_200_and_487_and_closes_the_chat_body);
}

/// The CANCEL a proxy would send for `invite` (RFC 3261 §9.1: same Request-URI, Via, From, To,
/// Call-ID and CSeq number; no body).
fn cancel_for(invite: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(invite);
    let head = text.split("\r\n\r\n").next().unwrap();
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let lower = line.to_ascii_lowercase();
        if i == 0 {
            out.push_str(&line.replacen("INVITE", "CANCEL", 1));
        } else if lower.starts_with("cseq:") {
            out.push_str(&line.replace("INVITE", "CANCEL"));
        } else if lower.starts_with("content-") || lower.starts_with("contact:") {
            continue;
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out.into_bytes()
}

fn invited_cancel_of_the_invite_answers_200_and_487_and_closes_the_chat_body() {
    let mut p = Pair::new(0);
    let now = p.clock.now();
    let chat_a = p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    p.run_for_ms(2_000);
    let chat_b = invitation_of(&p.sb);
    let invite = p
        .sent
        .0
        .iter()
        .find(|d| d.starts_with(b"INVITE "))
        .unwrap()
        .clone();
    let cancel = cancel_for(&invite);
    let now = p.clock.now();
    p.b.handle_datagram(now, 1, &cancel);
    drain(&mut p.b, &mut p.sb, &cancel);
    p.run_for_ms(2_000);
    let answers: Vec<String> = p
        .sent
        .1
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .filter(|d| d.starts_with("SIP/2.0 "))
        .collect();
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("SIP/2.0 200") && a.contains(" CANCEL\r\n")),
        "{answers:#?}"
    );
    assert!(
        answers
            .iter()
            .any(|a| a.starts_with("SIP/2.0 487") && a.contains(" INVITE\r\n")),
        "{answers:#?}"
    );
    assert!(p.sb.events.contains(&ClientEvent::ChatClosed {
        chat: chat_b,
        status: 487
    }));
    assert!(
        p.sa.events.contains(&ClientEvent::ChatClosed {
            chat: chat_a,
            status: 487
        }),
        "{:?}",
        p.sa.events
    );
    // A CANCEL matching nothing any more is answered 200 (the chat slot still holds the INVITE's
    // transaction) or 481, never 405.
    p.b.handle_datagram(p.clock.now(), 1, &cancel);
    let mut buf = [0u8; 2048];
    while let Some(t) = p.b.poll_transmit(&mut buf) {
        assert!(!buf[..t.len].starts_with(b"SIP/2.0 405"));
    }
}

#[test]
fn invited_180_and_200_copy_the_invites_record_route() {
    on_big_stack(invited_180_and_200_copy_the_invites_record_route_body);
}

fn invited_180_and_200_copy_the_invites_record_route_body() {
    let mut p = Pair::new(0);
    let now = p.clock.now();
    p.a.invite_chat(now, "sip:bob@10.0.0.2:5060").unwrap();
    let mut buf = [0u8; 2048];
    let t = p.a.poll_transmit(&mut buf).unwrap();
    // As two record-routing proxies would have left it.
    let invite = String::from_utf8_lossy(&buf[..t.len]).replacen(
        "\r\n",
        "\r\nRecord-Route: <sip:p2.example;lr>\r\nRecord-Route: <sip:p1.example;lr>\r\n",
        1,
    );
    p.b.handle_datagram(now, 1, invite.as_bytes());
    drain(&mut p.b, &mut p.sb, invite.as_bytes());
    let chat_b = invitation_of(&p.sb);
    let mut answers = Vec::new();
    while let Some(t) = p.b.poll_transmit(&mut buf) {
        answers.push(String::from_utf8_lossy(&buf[..t.len]).into_owned());
    }
    p.b.accept_chat(now, chat_b).unwrap();
    while let Some(t) = p.b.poll_transmit(&mut buf) {
        answers.push(String::from_utf8_lossy(&buf[..t.len]).into_owned());
    }
    for code in ["180", "200"] {
        let answer = answers
            .iter()
            .find(|a| a.starts_with(&format!("SIP/2.0 {code} ")))
            .unwrap_or_else(|| panic!("no {code}: {answers:#?}"));
        let first = answer.find("Record-Route: <sip:p2.example;lr>");
        let second = answer.find("Record-Route: <sip:p1.example;lr>");
        assert!(
            first.is_some() && second.is_some() && first < second,
            "{code} lacks the Record-Route values in order:\n{answer}"
        );
    }
}

/// A CPIM chat line from `from_path` asking for delivery and display notifications (RFC 5438).
fn cpim_send(tid: &str, to_path: &str, from_path: &str, message_id: &str, text: &str) -> Vec<u8> {
    let cpim = format!(
        "From: <sip:bob@example.com>\r\nTo: <sip:alice@example.com>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
         imdn.Message-ID: {message_id}\r\nDateTime: 2026-11-24T08:00:00Z\r\n\
         imdn.Disposition-Notification: positive-delivery, display\r\n\r\n\
         Content-Type: text/plain;charset=utf-8\r\n\r\n{text}"
    );
    format!(
        "MSRP {tid} SEND\r\nTo-Path: {to_path}\r\nFrom-Path: {from_path}\r\nMessage-ID: {tid}-m\r\n\
         Byte-Range: 1-{len}/{len}\r\nContent-Type: message/cpim\r\n\r\n{cpim}\r\n-------{tid}$\r\n",
        len = cpim.len()
    )
    .into_bytes()
}

/// The notifications bob's side received as chat messages: (Message-ID asked about, disposition).
fn notifications_in(texts: &[String]) -> Vec<(String, &'static str)> {
    texts
        .iter()
        .filter(|t| t.contains("Content-Type: message/imdn+xml"))
        .map(|t| {
            let id = t.split("<message-id>").nth(1).unwrap().split('<').next().unwrap();
            let what = if t.contains("<delivered/>") {
                "delivered"
            } else if t.contains("<displayed/>") {
                "displayed"
            } else {
                "other"
            };
            (id.to_string(), what)
        })
        .collect()
}

#[test]
fn cpim_lines_asking_for_imdn_are_answered_inside_the_chat() {
    on_big_stack(cpim_lines_asking_for_imdn_are_answered_inside_the_chat_body);
}

fn cpim_lines_asking_for_imdn_are_answered_inside_the_chat_body() {
    let (mut p, chat_a, local, remote) = established_with_alices_paths();
    // Two lines in one read: the end of the first and the start of the second reach the client
    // together, so both header sections must be held at once.
    let mut wire = cpim_send("t1", &local, &remote, "Line0001", "first");
    wire.extend(cpim_send("t2", &local, &remote, "Line0002", "second"));
    let now = p.clock.now();
    let used = p.a.handle_msrp(now, chat_a, &wire).unwrap();
    assert_eq!(used, wire.len());
    // Both bodies come before both ends here, so the harness's one-message `drain` cannot be used.
    let mut events = Vec::new();
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    while let Some(e) = p.a.poll_event() {
        if let ClientEvent::ChatBody { body, offset, .. } = e {
            if offset == 0 {
                bodies.push(Vec::new());
            }
            bodies.last_mut().unwrap().extend_from_slice(body.of(&wire));
        }
        events.push(e);
    }
    let asked: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ChatNotificationsRequested {
                chat,
                message_id,
                delivery_sent,
                display_handle,
            } => Some((
                *chat,
                message_id.as_str().to_string(),
                *delivery_sent,
                *display_handle,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 2, "{events:?}");
    assert!(asked
        .iter()
        .all(|(c, _, delivered, display)| *c == chat_a && *delivered && display.is_some()));
    assert_eq!(asked[0].1, "Line0001");
    assert_eq!(asked[1].1, "Line0002");
    // Each request comes just before its message's end, and the text is still the whole CPIM body.
    let order: Vec<bool> = events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::ChatNotificationsRequested { .. } => Some(true),
            ClientEvent::ChatMessageEnd { .. } => Some(false),
            _ => None,
        })
        .collect();
    assert_eq!(order, [true, false, true, false]);
    assert!(bodies[1].ends_with(b"\r\n\r\nsecond"), "{bodies:?}");

    p.run_for_ms(2_000);
    assert_eq!(
        notifications_in(&p.sb.texts),
        [
            ("Line0001".to_string(), "delivered"),
            ("Line0002".to_string(), "delivered")
        ],
        "delivery notifications arrive inside the chat: {:?}",
        p.sb.texts
    );
    let now = p.clock.now();
    p.a.mark_displayed(now, asked[0].3.unwrap()).unwrap();
    p.run_for_ms(2_000);
    assert_eq!(
        notifications_in(&p.sb.texts).get(2),
        Some(&("Line0001".to_string(), "displayed"))
    );
    assert!(
        !p.sent.0.iter().any(|d| d.starts_with(b"MESSAGE ")),
        "no pager notification while the chat takes them"
    );

    // Once the chat is over, the display notification goes by pager instead of being lost.
    let now = p.clock.now();
    p.a.close_chat(now, chat_a).unwrap();
    p.run_for_ms(1_000);
    let now = p.clock.now();
    p.a.mark_displayed(now, asked[1].3.unwrap()).unwrap();
    p.run_for_ms(1_000);
    let pager: Vec<String> = p
        .sent
        .0
        .iter()
        .filter(|d| d.starts_with(b"MESSAGE "))
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    assert_eq!(pager.len(), 1, "{pager:?}");
    assert!(pager[0].contains("<message-id>Line0002</message-id>") && pager[0].contains("<displayed/>"));
    assert!(
        pager[0].starts_with("MESSAGE sip:bob@example.com "),
        "to the IM's sender: {}",
        pager[0]
    );
}

#[test]
fn a_notification_the_chat_cannot_carry_goes_by_pager() {
    on_big_stack(a_notification_the_chat_cannot_carry_goes_by_pager_body);
}

fn a_notification_the_chat_cannot_carry_goes_by_pager_body() {
    let (mut p, chat_a, local, remote) = established_with_alices_paths();
    let wire = cpim_send("t9", &local, &remote, "Line0009", "just before the drop");
    let now = p.clock.now();
    p.a.handle_msrp(now, chat_a, &wire).unwrap();
    while p.a.poll_event().is_some() {}
    // The connection drops before the delivery notification queued in the chat is written.
    p.a.msrp_connection_lost(now, chat_a);
    p.run_for_ms(1_000);
    assert!(notifications_in(&p.sb.texts).is_empty(), "{:?}", p.sb.texts);
    let pager: Vec<String> = p
        .sent
        .0
        .iter()
        .filter(|d| d.starts_with(b"MESSAGE "))
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    assert_eq!(pager.len(), 1, "{pager:?}");
    assert!(pager[0].contains("<message-id>Line0009</message-id>") && pager[0].contains("<delivered/>"));
}
