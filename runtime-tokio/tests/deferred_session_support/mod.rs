//! Helpers of the deferred session tests: an MSRP peer on the core's `msrp::session::Session`, the
//! SIP steps of the sender and the recipient, a server on loopback (SIP over UDP only), a server
//! process to kill, and a tshark capture.
#![allow(dead_code)]

use crate::server_support::{store_with_users, Ua};
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

pub const WAIT: Duration = Duration::from_secs(20);

/// Bodies in memory, for both directions.
#[derive(Default)]
pub struct Bodies {
    pub outgoing: HashMap<MessageHandle, Vec<u8>>,
    pub incoming: HashMap<String, Vec<u8>>,
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
pub struct Peer {
    stream: TcpStream,
    pub session: Session,
    pub bodies: Bodies,
    input: Vec<u8>,
    epoch: std::time::Instant,
}

impl Peer {
    /// The active side: connects to the last URI of `remote_path` and binds the connection.
    pub async fn connect(local_uri: &str, remote_path: &str, success_report: bool) -> Peer {
        let last = remote_path.split_whitespace().last().unwrap();
        let authority = last.trim_start_matches("msrp://").split('/').next().unwrap();
        let stream = TcpStream::connect(authority).await.expect("MSRP connect");
        let mut peer = Peer::on(stream, local_uri, remote_path, Setup::Active, success_report);
        peer.flush().await;
        peer
    }

    /// The passive side: takes the connection the server opens on `listener`.
    pub async fn accept(
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

    pub fn on(
        stream: TcpStream,
        local_uri: &str,
        remote_path: &str,
        setup: Setup,
        success_report: bool,
    ) -> Peer {
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

    pub fn now(&self) -> simple_im_core::time::Instant {
        simple_im_core::time::Instant::from_millis(self.epoch.elapsed().as_millis() as u64)
    }

    pub async fn flush(&mut self) {
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
    pub async fn event(&mut self) -> Option<Event> {
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
    pub async fn send_and_confirm(&mut self, content_type: &str, body: &[u8]) {
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
    pub async fn receive(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Event::MessageReceived { id, .. } = self.event().await? {
                return self.bodies.incoming.remove(id.as_str());
            }
        }
    }
}

pub fn sdp(path: &str, setup: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\n\
a=accept-types:message/cpim text/plain\r\na=path:{path}\r\na=setup:{setup}\r\n"
    )
}

/// The `a=path` of an SDP body.
pub fn path_of(body: &[u8]) -> String {
    let text = std::str::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("a=path:"))
        .expect("an a=path")
        .trim()
        .to_owned()
}

pub fn cpim(i: usize) -> Vec<u8> {
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
pub async fn sender_session(alice: &mut Ua, user: &str) -> (Peer, SipMessage) {
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
pub async fn sender_bye(alice: &mut Ua, ok: &SipMessage) {
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
pub fn in_dialog(ua: &Ua, ok: &SipMessage, method: &str, cseq: u32) -> Vec<u8> {
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
pub async fn request_with(ua: &mut Ua, method: &str) -> SipMessage {
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

pub async fn answer(ua: &mut Ua, req: &SipMessage, code: u16, body: Option<&str>) {
    let headers = [("Contact", format!("<{}>", ua.contact()))];
    let body = body.map(|b| ("application/sdp", b.as_bytes()));
    let bytes = reply::build(req, None, code, "Answer", &headers, body).unwrap();
    ua.send_raw(&bytes).await;
}

/// Bob accepts the server's INVITE, which must come from `sender`, and opens the MSRP connection it
/// offered; returns the peer and the server's MSRP path.
pub async fn bob_accepts(bob: &mut Ua, sender: &str) -> (Peer, String) {
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
pub async fn invite_with(ua: &mut Ua, user: &str, offer: &str) -> SipMessage {
    let uri = format!("sip:{user}@localhost");
    let body = Some(("application/sdp", offer.as_bytes()));
    ua.request("INVITE", &uri, &format!("<{uri}>"), &[], body, true)
        .await
}

/// SIP over UDP only: these tests use no SIP over TCP, and a TCP listener on the UDP socket's
/// ephemeral port can collide with loopback ports left in TIME-WAIT by other programs.
pub const SIP_UDP_ONLY: &str = "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = []\n";

/// A server in `dir` with users alice and bob, SIP over UDP and TCP (on a port of its own: see
/// [`SIP_UDP_ONLY`]).
pub async fn start_with_tcp(dir: &std::path::Path) -> Running {
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sip = format!("[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"{free}\"]\n");
    start_configured(dir, "", &sip, &[("alice", "alice-pw"), ("bob", "bob-pw")]).await
}

/// A server in `dir` with `extra` configuration and the given users (name, password).
pub async fn start_with(dir: &std::path::Path, extra: &str, users: &[(&str, &str)]) -> Running {
    start_configured(dir, extra, SIP_UDP_ONLY, users).await
}

async fn start_configured(dir: &std::path::Path, extra: &str, sip: &str, users: &[(&str, &str)]) -> Running {
    let store = store_with_users(dir, users).await;
    // The MSRP relay on a free port, unless the test configures `[msrp]` itself.
    let msrp = if extra.contains("[msrp]") {
        ""
    } else {
        "[msrp]\nlisten = \"127.0.0.1:0\"\n"
    };
    let text = format!("data_dir = \"{}\"\n{extra}\n{sip}{msrp}", dir.display());
    let config = simple_im_tokio::config::Config::from_toml(&text, dir).expect("config");
    simple_im_tokio::server::start(config, Options::default(), store)
        .await
        .expect("server starts")
}

/// A server in `dir` with users alice and bob.
pub async fn start(dir: &std::path::Path, extra: &str) -> Running {
    start_with(dir, extra, &[("alice", "alice-pw"), ("bob", "bob-pw")]).await
}

pub async fn pending(running: &Running, user: &str) -> usize {
    running
        .server
        .store
        .pending_session(user, 1000)
        .await
        .unwrap()
        .len()
}

/// A `simple-im server` process on `data` (users already added), and its UDP address.
pub fn server_process(dir: &std::path::Path, data: &std::path::Path) -> (std::process::Child, SocketAddr) {
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

/// What became of a message the server did not acknowledge.
pub async fn refused(peer: &mut Peer, body: &[u8]) -> Option<simple_im_core::msrp::session::Failure> {
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

/// The next 200 that reaches `ua` within `wait`, skipping other messages.
pub async fn next_200(ua: &mut Ua, wait: Duration) -> Option<SipMessage> {
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
pub struct Capture {
    child: std::process::Child,
    file: std::path::PathBuf,
}

impl Capture {
    pub fn start(dir: &std::path::Path, ports: &[u16]) -> Capture {
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
    pub fn decode(&mut self, decode_as: &[String], filter: &str) -> String {
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

    pub fn stop(&mut self) {
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
