//! The Deferred Messaging function in session mode, end to end on loopback: a sender's MSRP session
//! to a user who is offline is accepted and stored by the server; when the user registers, the server
//! invites them and delivers the stored messages in a session of its own. The MSRP peers here are the
//! core's `msrp::session::Session` on real TCP connections.

mod server_support;

use server_support::{registered, store_with_users, Ua};
use simple_im_core::msrp::session::{
    BodyRead, BodySink, BodySource, Event, MessageHandle, Session, SessionConfig, Setup,
};
use simple_im_core::sip::HeaderName;
use simple_im_tokio::server::rng::OsRng;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{reply, Options, Running};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// Bodies in memory, for both directions.
#[derive(Default)]
struct Bodies {
    outgoing: HashMap<MessageHandle, Vec<u8>>,
    incoming: HashMap<String, Vec<u8>>,
}

impl BodySource for Bodies {
    fn read(&mut self, message: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        let body = self.outgoing.get(&message).map_or(&[][..], Vec::as_slice);
        let start = (offset as usize).min(body.len());
        let len = (body.len() - start).min(buf.len());
        buf[..len].copy_from_slice(&body[start..start + len]);
        BodyRead {
            len,
            end: start + len == body.len(),
        }
    }
}

impl BodySink for Bodies {
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]) {
        let body = self.incoming.entry(id.to_owned()).or_default();
        let end = offset as usize + bytes.len();
        if body.len() < end {
            body.resize(end, 0);
        }
        body[offset as usize..end].copy_from_slice(bytes);
    }
}

/// A test MSRP endpoint: a core session on a TCP connection it opened (the active side).
struct Peer {
    stream: TcpStream,
    session: Session,
    bodies: Bodies,
    input: Vec<u8>,
    epoch: std::time::Instant,
}

impl Peer {
    /// The active side: connects to the last URI of `remote_path` and binds the connection.
    async fn connect(local_uri: &str, remote_path: &str, success_report: bool) -> Peer {
        let last = remote_path.split_whitespace().last().unwrap();
        let authority = last.trim_start_matches("msrp://").split('/').next().unwrap();
        let stream = TcpStream::connect(authority).await.expect("MSRP connect");
        let mut peer = Peer::on(stream, local_uri, remote_path, Setup::Active, success_report);
        peer.flush().await;
        peer
    }

    /// The passive side: takes the connection the server opens on `listener`.
    async fn accept(
        listener: &tokio::net::TcpListener,
        local_uri: &str,
        remote_path: &str,
        success_report: bool,
    ) -> Peer {
        let (stream, _) = tokio::time::timeout(WAIT, listener.accept())
            .await
            .expect("the server connects")
            .unwrap();
        Peer::on(stream, local_uri, remote_path, Setup::Passive, success_report)
    }

    fn on(stream: TcpStream, local_uri: &str, remote_path: &str, setup: Setup, success_report: bool) -> Peer {
        let config = SessionConfig {
            success_report,
            chunk_size: 8192,
            ..SessionConfig::default()
        };
        Peer {
            stream,
            session: Session::new(config, local_uri, remote_path, setup, &mut OsRng).unwrap(),
            bodies: Bodies::default(),
            input: Vec::new(),
            epoch: std::time::Instant::now(),
        }
    }

    fn now(&self) -> simple_im_core::time::Instant {
        simple_im_core::time::Instant::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    async fn flush(&mut self) {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            let now = self.now();
            let Some(len) = self.session.poll_transmit(now, &mut buf, &mut self.bodies) else {
                return;
            };
            self.stream.write_all(&buf[..len]).await.expect("MSRP write");
        }
    }

    /// The next event, reading and writing as needed; `None` when the connection ends or after WAIT.
    async fn event(&mut self) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Some(event) = self.session.poll_event() {
                return Some(event);
            }
            let now = self.now();
            let consumed = self
                .session
                .handle_input(now, &self.input, &mut self.bodies)
                .ok()?;
            self.input.drain(..consumed);
            self.flush().await;
            if let Some(event) = self.session.poll_event() {
                return Some(event);
            }
            if consumed == 0 {
                let mut chunk = vec![0u8; 32 * 1024];
                let n = tokio::time::timeout_at(deadline, self.stream.read(&mut chunk))
                    .await
                    .ok()?
                    .ok()?;
                if n == 0 {
                    return None;
                }
                self.input.extend_from_slice(&chunk[..n]);
            }
        }
    }

    /// Sends one message and waits for its success REPORT (the server's word that it is stored).
    async fn send_and_confirm(&mut self, content_type: &str, body: &[u8]) {
        let handle = self.session.send(content_type, Some(body.len() as u64)).unwrap();
        self.bodies.outgoing.insert(handle, body.to_vec());
        self.flush().await;
        loop {
            match self.event().await.expect("a report for the message") {
                Event::Delivered { message, end, .. } if message == handle && end == body.len() as u64 => {
                    return
                }
                Event::SendFailed { message, failure, .. } if message == handle => {
                    panic!("the server refused the message: {failure:?}")
                }
                _ => {}
            }
        }
    }

    /// The next complete incoming message's body.
    async fn receive(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Event::MessageReceived { id, .. } = self.event().await? {
                return self.bodies.incoming.remove(id.as_str());
            }
        }
    }
}

fn sdp(path: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\n\
a=accept-types:message/cpim text/plain\r\na=path:{path}\r\na=setup:{setup}\r\n"
    )
}

/// The `a=path` of an SDP body.
fn path_of(body: &[u8]) -> String {
    let text = std::str::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("an a=path")
        .trim()
        .to_owned()
}

fn cpim(i: usize) -> Vec<u8> {
    let text = format!("message {i}");
    format!(
        "From: <sip:alice@localhost>\r\nTo: <sip:bob@localhost>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
imdn.Message-ID: chat{i}\r\nDateTime: 2026-11-24T04:00:00Z\r\nimdn.Disposition-Notification: positive-delivery\r\n\r\n\
Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    )
    .into_bytes()
}

/// A sender INVITEs `user` (who is offline) and connects to the MSRP URI of the server's answer;
/// returns the MSRP peer and the 200 (the dialog).
async fn sender_session(alice: &mut Ua, user: &str) -> (Peer, SipMessage) {
    let local_uri = format!("msrp://127.0.0.1:{}/alice{};tcp", alice.local().port(), user);
    let ok = invite_with(alice, user, &sdp(&local_uri, "active")).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    let cseq = ok
        .header(HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap();
    alice.send_raw(&in_dialog(alice, &ok, "ACK", cseq)).await;
    let answer = std::str::from_utf8(ok.body()).unwrap().to_owned();
    assert!(answer.contains("a=setup:passive"), "{answer}");
    let peer = Peer::connect(&local_uri, &path_of(ok.body()), true).await;
    (peer, ok)
}

/// Ends the sender's call: BYE in the dialog of the server's 200, which must answer 200.
async fn sender_bye(alice: &mut Ua, ok: &SipMessage) {
    alice.send_raw(&in_dialog(alice, ok, "BYE", 9)).await;
    loop {
        let msg = alice.receive_within(WAIT).await.expect("the answer to BYE");
        if msg.cseq_method() == Some("BYE") {
            assert_eq!(msg.status(), Some(200), "{}", msg.reason());
            return;
        }
    }
}

/// A request of the dialog the server's 200 `ok` (to an INVITE from `ua`) set up.
fn in_dialog(ua: &Ua, ok: &SipMessage, method: &str, cseq: u32) -> Vec<u8> {
    let contact = ok.header(HeaderName::Contact).expect("Contact in the 200");
    let target = contact.trim().trim_start_matches('<').trim_end_matches('>');
    format!(
        "{method} {target} SIP/2.0\r\nVia: SIP/2.0/UDP {};branch=z9hG4bK{method}{cseq}{}\r\nMax-Forwards: 70\r\n\
From: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n",
        ua.local(),
        ua.local().port(),
        ok.header(HeaderName::From).unwrap(),
        ok.header(HeaderName::To).unwrap(),
        ok.call_id()
    )
    .into_bytes()
}

/// The next request with `method` that reaches `ua`, skipping others.
async fn request_with(ua: &mut Ua, method: &str) -> SipMessage {
    loop {
        let msg = ua
            .receive_within(WAIT)
            .await
            .unwrap_or_else(|| panic!("no {method}"));
        if msg.method() == Some(method) {
            return msg;
        }
    }
}

async fn answer(ua: &mut Ua, req: &SipMessage, code: u16, body: Option<&str>) {
    let headers = [("Contact", format!("<{}>", ua.contact()))];
    let body = body.map(|b| ("application/sdp", b.as_bytes()));
    let bytes = reply::build(req, None, code, "Answer", &headers, body).unwrap();
    ua.send_raw(&bytes).await;
}

/// Bob accepts the server's INVITE, which must come from `sender`, and opens the MSRP connection it
/// offered; returns the peer and the server's MSRP path.
async fn bob_accepts(bob: &mut Ua, sender: &str) -> (Peer, String) {
    let invite = request_with(bob, "INVITE").await;
    assert_eq!(
        invite.from().map(|f| f.uri_text.to_owned()),
        Some(format!("sip:{sender}@localhost")),
        "the push comes from the original sender's identity"
    );
    let offer = std::str::from_utf8(invite.body()).unwrap().to_owned();
    assert!(offer.contains("a=setup:actpass"), "{offer}");
    let server_path = path_of(invite.body());
    let local_uri = format!("msrp://127.0.0.1:{}/bob{sender};tcp", bob.local().port());
    answer(bob, &invite, 200, Some(&sdp(&local_uri, "active"))).await;
    (Peer::connect(&local_uri, &server_path, false).await, server_path)
}

/// `ua` INVITEs `user` with the SDP `offer` (authenticating); the final response.
async fn invite_with(ua: &mut Ua, user: &str, offer: &str) -> SipMessage {
    let uri = format!("sip:{user}@localhost");
    let body = Some(("application/sdp", offer.as_bytes()));
    ua.request("INVITE", &uri, &format!("<{uri}>"), &[], body, true)
        .await
}

/// SIP over UDP only: these tests use no SIP over TCP, and a TCP listener on the UDP socket's
/// ephemeral port can collide with loopback ports left in TIME-WAIT by other programs.
const SIP_UDP_ONLY: &str = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = []\n";

/// A server in `dir` with `extra` configuration and the given users (name, password).
async fn start_with(dir: &std::path::Path, extra: &str, users: &[(&str, &str)]) -> Running {
    let store = store_with_users(dir, users).await;
    let text = format!("data_dir = \"{}\"\n{extra}\n{SIP_UDP_ONLY}", dir.display());
    let config = simple_im_tokio::config::Config::from_toml(&text, dir).expect("config");
    simple_im_tokio::server::start(config, Options::default(), store)
        .await
        .expect("server starts")
}

/// A server in `dir` with users alice and bob.
async fn start(dir: &std::path::Path, extra: &str) -> Running {
    start_with(dir, extra, &[("alice", "alice-pw"), ("bob", "bob-pw")]).await
}

async fn pending(running: &Running, user: &str) -> usize {
    running
        .server
        .store
        .pending_session(user, 1000)
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_to_an_offline_user_arrives_in_order_exactly_once_after_they_register() {
    const N: usize = 12;
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = registered(&running, "alice").await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    for i in 0..N {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    // A re-sent message (same imdn.Message-ID) is acknowledged but stored once.
    chat.send_and_confirm("message/cpim", &cpim(0)).await;
    sender_bye(&mut alice, &ok).await;
    assert_eq!(pending(&running, "bob").await, N);

    let mut bob = registered(&running, "bob").await;
    let (mut push, server_path) = bob_accepts(&mut bob, "alice").await;
    let msrp_addr = running.server.deferred_sessions.msrp_addr;
    assert!(server_path.contains(&msrp_addr.to_string()), "{server_path}");
    for i in 0..N {
        let body = push.receive().await.unwrap_or_else(|| panic!("message {i}"));
        assert_eq!(body, cpim(i), "message {i} in order and unaltered");
    }
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert!(
        push.receive().await.is_none(),
        "nothing after the last stored message"
    );
    assert_eq!(pending(&running, "bob").await, 0);

    // Alice asked for positive-delivery: one notification per message, sent as she is online.
    // (Retransmissions of a notification she was slow to answer may arrive twice.)
    let mut notified = std::collections::BTreeSet::new();
    while notified.len() < N {
        let msg = alice
            .incoming_within(WAIT)
            .await
            .expect("a delivery notification");
        let body = String::from_utf8_lossy(msg.body()).into_owned();
        if body.contains("was stored and will be delivered") {
            continue; // the system notice of the stored session (retransmitted while unanswered)
        }
        assert!(body.contains("<delivered/>"), "{body}");
        let id = (0..N).find(|i| body.contains(&format!("<message-id>chat{i}</message-id>")));
        notified.insert(id.expect("a notification for one of the messages"));
    }

    // Registering again pushes nothing: each message went exactly once.
    assert_eq!(bob.register(600).await.status(), Some(200));
    let again = bob.receive_within(Duration::from_secs(1)).await;
    assert!(
        again.is_none_or(|m| m.method() != Some("INVITE")),
        "no second push"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_message_to_an_offline_user_is_delivered_in_a_session_on_register() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let large: Vec<u8> = (0..1_048_576u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (mut session, ok) = sender_session(&mut alice, "bob").await;
    session.send_and_confirm("text/plain", &large).await;
    sender_bye(&mut alice, &ok).await;
    assert_eq!(pending(&running, "bob").await, 1);

    let mut bob = registered(&running, "bob").await;
    let (mut push, server_path) = bob_accepts(&mut bob, "alice").await;
    let msrp_addr = running.server.deferred_sessions.msrp_addr;
    assert!(server_path.contains(&msrp_addr.to_string()), "{server_path}");
    let body = push.receive().await.expect("the large message");
    assert_eq!(body.len(), large.len());
    assert!(body == large, "the 1 MB body arrives byte for byte");
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);

    // Charged whole, though most of it never sat in memory: stored once, delivered once.
    let charged = |event: &str| {
        let log = std::fs::read_to_string(dir.path().join("charging.jsonl")).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains(&format!("\"event\":\"{event}\"")) && l.contains("\"size\":1048576"))
            .count()
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while charged("delivered") == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((charged("deferred"), charged("delivered")), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_push_leaves_the_messages_stored_for_the_next_registration() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    for i in 0..3 {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    sender_bye(&mut alice, &ok).await;

    let mut bob = registered(&running, "bob").await;
    let invite = request_with(&mut bob, "INVITE").await;
    answer(&mut bob, &invite, 486, None).await;
    request_with(&mut bob, "ACK").await;
    assert_eq!(
        pending(&running, "bob").await,
        3,
        "nothing removed after a decline"
    );

    assert_eq!(bob.register(600).await.status(), Some(200));
    let (mut push, server_path) = bob_accepts(&mut bob, "alice").await;
    let msrp_addr = running.server.deferred_sessions.msrp_addr;
    assert!(server_path.contains(&msrp_addr.to_string()), "{server_path}");
    for i in 0..3 {
        assert_eq!(push.receive().await.expect("message"), cpim(i));
    }
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_user_is_unavailable_for_audio_and_not_acceptable_for_a_file_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let audio =
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";
    let response = invite_with(&mut alice, "bob", audio).await;
    assert_eq!(response.status(), Some(480), "{}", response.reason());
    assert_eq!(response.header(HeaderName::ContentType), None);

    let file = format!(
        "{}a=file-selector:name:\"a.bin\" type:application/octet-stream size:10\r\na=file-transfer-id:f1\r\n",
        sdp("msrp://127.0.0.1:9/file;tcp", "active")
    );
    let response = invite_with(&mut alice, "bob", &file).await;
    assert_eq!(response.status(), Some(488), "{}", response.reason());
    assert!(
        response.reason().contains("file transfer"),
        "{}",
        response.reason()
    );
    assert_eq!(pending(&running, "bob").await, 0);
}

/// A `simple-im server` process on `data` (users already added), and its UDP address.
fn server_process(dir: &std::path::Path, data: &std::path::Path) -> (std::process::Child, SocketAddr) {
    use std::io::BufRead;
    let config = dir.join("server.toml");
    std::fs::write(&config, SIP_UDP_ONLY).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_simple-im"))
        .arg("--data")
        .arg(data)
        .arg("--config")
        .arg(&config)
        .arg("server")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("server process");
    let mut udp = None;
    for line in std::io::BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("simple-im: listening on udp ") {
            udp = Some(addr.parse().unwrap());
        }
        if line == "simple-im: ready" {
            break;
        }
    }
    (child, udp.expect("a udp line"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_acknowledged_before_a_kill_9_are_delivered_after_the_restart_exactly_once() {
    const CONFIRMED: usize = 20;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    drop(store_with_users(&data, &[("alice", "alice-pw"), ("bob", "bob-pw")]).await);
    let (mut first, addr) = server_process(dir.path(), &data);
    let mut alice = Ua::udp("alice", "alice-pw", addr).await;
    let (mut chat, _) = sender_session(&mut alice, "bob").await;
    for i in 0..CONFIRMED {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    // One more goes out, unconfirmed, as the server dies: it may or may not have been stored.
    let handle = chat
        .session
        .send("message/cpim", Some(cpim(CONFIRMED).len() as u64))
        .unwrap();
    chat.bodies.outgoing.insert(handle, cpim(CONFIRMED));
    chat.flush().await;
    first.kill().expect("SIGKILL");
    first.wait().unwrap();

    let (mut second, addr) = server_process(dir.path(), &data);
    let mut bob = Ua::udp("bob", "bob-pw", addr).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    let (mut push, _) = bob_accepts(&mut bob, "alice").await;
    let mut received = Vec::new();
    loop {
        tokio::select! {
            body = push.receive() => match body {
                Some(body) => received.push(body),
                None => break,
            },
            bye = request_with(&mut bob, "BYE") => {
                answer(&mut bob, &bye, 200, None).await;
                break;
            }
        }
    }
    // A message whose event was still queued when the BYE won the race.
    while let Some(event) = push.session.poll_event() {
        if let Event::MessageReceived { id, .. } = event {
            received.extend(push.bodies.incoming.remove(id.as_str()));
        }
    }
    second.kill().unwrap();
    second.wait().unwrap();
    assert!(
        received.len() == CONFIRMED || received.len() == CONFIRMED + 1,
        "{} messages",
        received.len()
    );
    for (i, body) in received.iter().enumerate() {
        assert_eq!(body, &cpim(i), "message {i}: in order, once");
    }
}

/// What became of a message the server did not acknowledge.
async fn refused(peer: &mut Peer, body: &[u8]) -> Option<simple_im_core::msrp::session::Failure> {
    let handle = peer.session.send("text/plain", Some(body.len() as u64)).unwrap();
    peer.bodies.outgoing.insert(handle, body.to_vec());
    peer.flush().await;
    loop {
        match peer.event().await {
            None => return None,
            Some(Event::Delivered { message, .. }) if message == handle => panic!("acknowledged"),
            Some(Event::SendFailed { message, failure, .. }) if message == handle => return Some(failure),
            Some(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_quota_nothing_is_acknowledged_and_too_large_is_413() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "[limits]\nquota_bytes = 2000\n").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;

    let (mut session, _) = sender_session(&mut alice, "bob").await;
    let too_large = refused(&mut session, &[b'x'; 3000]).await;
    assert_eq!(
        too_large,
        Some(simple_im_core::msrp::session::Failure::Response(413))
    );
    session.send_and_confirm("text/plain", &[b'a'; 1500]).await;
    // Fits the session's max-size but not what is left of bob's quota: the store refuses it, and the
    // server closes the connection rather than acknowledge it.
    let over_quota = refused(&mut session, &[b'b'; 1500]).await;
    assert!(
        matches!(
            over_quota,
            None | Some(simple_im_core::msrp::session::Failure::ConnectionLost)
        ),
        "{over_quota:?}"
    );
    assert_eq!(pending(&running, "bob").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_from_two_senders_come_in_one_session_per_sender_from_each_sender() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_with(
        dir.path(),
        "",
        &[("alice", "alice-pw"), ("bob", "bob-pw"), ("carol", "carol-pw")],
    )
    .await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let mut carol = Ua::udp("carol", "carol-pw", server_support::udp_addr(&running)).await;
    let (mut from_alice, ok) = sender_session(&mut alice, "bob").await;
    from_alice.send_and_confirm("text/plain", b"alice 1").await;
    let (mut from_carol, carol_ok) = sender_session(&mut carol, "bob").await;
    from_carol.send_and_confirm("text/plain", b"carol 1").await;
    from_alice.send_and_confirm("text/plain", b"alice 2").await;
    sender_bye(&mut alice, &ok).await;
    sender_bye(&mut carol, &carol_ok).await;

    let mut bob = registered(&running, "bob").await;
    for (sender, bodies) in [
        ("alice", ["alice 1", "alice 2"].as_slice()),
        ("carol", ["carol 1"].as_slice()),
    ] {
        let (mut push, _) = bob_accepts(&mut bob, sender).await;
        for body in bodies {
            assert_eq!(push.receive().await.expect("a message"), body.as_bytes());
        }
        let bye = request_with(&mut bob, "BYE").await;
        answer(&mut bob, &bye, 200, None).await;
    }
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_200_is_retransmitted_over_udp_until_the_ack() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let ok = invite_with(
        &mut alice,
        "bob",
        &sdp("msrp://127.0.0.1:9/unacked;tcp", "active"),
    )
    .await;
    assert_eq!(ok.status(), Some(200));
    // Not ACKed: the same 200 comes again after T1 (500 ms). (The 407 of the first attempt, which
    // this UA does not ACK, is retransmitted too: skipped.)
    let again = next_200(&mut alice, Duration::from_secs(2))
        .await
        .expect("a retransmitted 200");
    assert_eq!(again.raw(), ok.raw(), "the same response");
    let cseq = ok
        .header(HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap();
    alice.send_raw(&in_dialog(&alice, &ok, "ACK", cseq)).await;
    // Once ACKed, no more (the next retransmission would have come after 1 s).
    assert!(next_200(&mut alice, Duration::from_millis(2500)).await.is_none());
}

/// The next 200 that reaches `ua` within `wait`, skipping other messages.
async fn next_200(ua: &mut Ua, wait: Duration) -> Option<SipMessage> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let msg = ua.receive_within(left).await?;
        if msg.status() == Some(200) {
            return Some(msg);
        }
    }
}

/// A tshark capture on `lo` limited to some ports (tshark is a Debian package the interop tests need).
struct Capture {
    child: std::process::Child,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(dir: &std::path::Path, ports: &[u16]) -> Capture {
        use std::io::BufRead;
        let file = dir.join("deferred-session.pcapng");
        let filter = ports
            .iter()
            .map(|p| format!("port {p}"))
            .collect::<Vec<_>>()
            .join(" or ");
        let mut child = std::process::Command::new("tshark")
            .args(["-i", "lo", "-q", "-f", &filter, "-a", "duration:120", "-w"])
            .arg(&file)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("tshark (Debian package tshark) runs");
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        loop {
            let line = lines.next().expect("tshark starts capturing").unwrap();
            if line.contains("Capturing on") {
                break;
            }
        }
        // Keep draining tshark's notices so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        std::thread::sleep(Duration::from_millis(300));
        Capture { child, file }
    }

    /// Stops the capture and decodes it with `decode_as` (`-d` rules) and the display `filter`.
    fn decode(&mut self, decode_as: &[String], filter: &str) -> String {
        let output = std::process::Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(decode_as.iter().flat_map(|d| ["-d", d.as_str()]))
            .args(["-Y", filter])
            .output()
            .expect("tshark decodes");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn stop(&mut self) {
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tshark_decodes_the_stored_and_the_pushed_session_with_no_malformed_packet() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let sip_port = server_support::udp_addr(&running).port();
    let msrp_port = running.server.deferred_sessions.msrp_addr.port();
    let mut capture = Capture::start(dir.path(), &[sip_port, msrp_port]);

    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    for i in 0..3 {
        chat.send_and_confirm("message/cpim", &cpim(i)).await;
    }
    let large: Vec<u8> = (0..100_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    chat.send_and_confirm("text/plain", &large).await;
    sender_bye(&mut alice, &ok).await;
    let mut bob = registered(&running, "bob").await;
    let (mut push, _) = bob_accepts(&mut bob, "alice").await;
    for _ in 0..4 {
        push.receive().await.expect("a pushed message");
    }
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    capture.stop();

    let decode_as = [
        format!("udp.port=={sip_port},sip"),
        format!("tcp.port=={msrp_port},msrp"),
    ];
    let sip = capture.decode(&decode_as, "sip");
    let msrp = capture.decode(&decode_as, "msrp");
    let broken = capture.decode(&decode_as, "_ws.malformed || _ws.expert.severity >= error");
    assert!(
        sip.contains("INVITE") && sip.contains("BYE"),
        "SIP decoded:\n{sip}"
    );
    assert!(
        msrp.contains("SEND") && msrp.contains("REPORT"),
        "MSRP decoded:\n{msrp}"
    );
    assert!(broken.trim().is_empty(), "malformed packets:\n{broken}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_the_recipient_blocked_is_refused_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let policy = simple_im_tokio::store::UserPolicy {
        blocked: vec!["sip:alice@localhost".into()],
        ..Default::default()
    };
    running.server.store.set_policy("bob", policy).await.unwrap();
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let refused = invite_with(
        &mut alice,
        "bob",
        &sdp("msrp://127.0.0.1:9/blocked;tcp", "active"),
    )
    .await;
    assert_eq!(refused.status(), Some(403), "{}", refused.reason());
    assert!(refused.reason().contains("Blocked"), "{}", refused.reason());
    assert_eq!(pending(&running, "bob").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_msrp_connection_that_did_not_negotiate_the_session_cannot_inject_into_it() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let (mut chat, ok) = sender_session(&mut alice, "bob").await;
    chat.send_and_confirm("text/plain", b"from alice").await;
    // Someone who read the URI off the wire connects and SENDs with the same To-Path: the session is
    // bound to alice's connection, so the intruder gets 481 and the connection is closed.
    let server_uri = path_of(ok.body());
    let mut intruder = TcpStream::connect(running.server.deferred_sessions.msrp_addr)
        .await
        .unwrap();
    let send = format!(
        "MSRP x1 SEND\r\nTo-Path: {server_uri}\r\nFrom-Path: msrp://127.0.0.1:9/evil;tcp\r\nMessage-ID: e1\r\n\
Byte-Range: 1-8/8\r\nContent-Type: text/plain\r\n\r\ninjected\r\n-------x1$\r\n"
    );
    intruder.write_all(send.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, intruder.read_to_end(&mut answer))
        .await
        .expect("answered and closed")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("MSRP x1 481 "), "{answer}");
    assert!(
        answer.contains("To-Path: msrp://127.0.0.1:9/evil;tcp\r\n"),
        "{answer}"
    );
    chat.send_and_confirm("text/plain", b"still alice").await;
    sender_bye(&mut alice, &ok).await;
    let stored = running.server.store.pending_session("bob", 10).await.unwrap();
    let bodies: Vec<&[u8]> = stored.iter().map(|m| m.message.body.as_slice()).collect();
    assert_eq!(bodies, [&b"from alice"[..], &b"still alice"[..]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_connects_to_peers_that_answer_or_offer_passive() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "").await;
    let mut alice = Ua::udp("alice", "alice-pw", server_support::udp_addr(&running)).await;
    let alice_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let alice_uri = format!("msrp://{}/alicepassive;tcp", alice_listener.local_addr().unwrap());
    let ok = invite_with(&mut alice, "bob", &sdp(&alice_uri, "passive")).await;
    assert_eq!(ok.status(), Some(200), "{}", ok.reason());
    assert!(String::from_utf8_lossy(ok.body()).contains("a=setup:active"));
    let mut chat = Peer::accept(&alice_listener, &alice_uri, &path_of(ok.body()), true).await;
    chat.send_and_confirm("text/plain", b"one").await;
    chat.send_and_confirm("text/plain", b"two").await;
    sender_bye(&mut alice, &ok).await;

    let mut bob = registered(&running, "bob").await;
    let invite = request_with(&mut bob, "INVITE").await;
    let bob_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bob_uri = format!("msrp://{}/bobpassive;tcp", bob_listener.local_addr().unwrap());
    answer(&mut bob, &invite, 200, Some(&sdp(&bob_uri, "passive"))).await;
    let mut push = Peer::accept(&bob_listener, &bob_uri, &path_of(invite.body()), false).await;
    assert_eq!(push.receive().await.expect("one"), b"one");
    assert_eq!(push.receive().await.expect("two"), b"two");
    let bye = request_with(&mut bob, "BYE").await;
    answer(&mut bob, &bye, 200, None).await;
    assert_eq!(pending(&running, "bob").await, 0);
}
