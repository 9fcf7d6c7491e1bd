//! A server on ephemeral loopback ports with a temporary data directory, and a tiny test UA (UDP or
//! TCP) built on the core's message builder and digest client.
#![allow(dead_code)]

use bytes::{Buf, Bytes, BytesMut};
use simple_im_core::sip::auth::{select_challenge, ChallengePreference, DigestClient, DigestRequest, Secret};
use simple_im_core::sip::{frame, Framed, HeaderName, MessageWriter, Method};
use simple_im_tokio::config::Config;
use simple_im_tokio::server::rng::OsRng;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::{self, reply, Options, Running};
use simple_im_tokio::store::{NewUser, SqliteStore, Store, UnixMillis};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long a test waits for any one message.
pub const WAIT: Duration = Duration::from_secs(5);

/// A configuration on 127.0.0.1 with ephemeral ports, data in `dir`.
pub fn config(dir: &Path, extra: &str) -> Config {
    let text = format!(
        "data_dir = \"{}\"\n{extra}\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n",
        dir.display()
    );
    // Ephemeral MSRP relay port unless the test configures [msrp] itself.
    let text = if extra.contains("[msrp]") {
        text
    } else {
        format!("{text}[msrp]\nlisten = \"127.0.0.1:0\"\n")
    };
    Config::from_toml(&text, dir).expect("test config")
}

/// Opens the store in `dir` and adds the users (name, password) that do not exist yet.
pub async fn store_with_users(dir: &Path, users: &[(&str, &str)]) -> Arc<dyn Store> {
    let store = SqliteStore::open(dir).expect("store");
    for (name, password) in users {
        let user = NewUser {
            name: (*name).to_owned(),
            display_name: format!("{name} display"),
            credentials: simple_im_tokio::users::credentials(name, "localhost", password),
            created: UnixMillis::now(),
        };
        let _ = store.add_user(user).await;
    }
    Arc::new(store)
}

/// Starts a server in `dir` with users alice/alice-pw and bob/bob-pw.
pub async fn start(dir: &Path, extra_config: &str, options: Options) -> Running {
    let store = store_with_users(dir, &[("alice", "alice-pw"), ("bob", "bob-pw")]).await;
    server::start(config(dir, extra_config), options, store)
        .await
        .expect("server starts")
}

enum Link {
    Udp(UdpSocket),
    Tcp(TcpStream, BytesMut),
}

/// A test user agent for `name@localhost`.
pub struct Ua {
    pub name: String,
    /// The domain of the UA's AoR (`localhost` unless [`Ua::in_domain`] says otherwise).
    pub domain: String,
    password: String,
    link: Link,
    server: SocketAddr,
    local: SocketAddr,
    cseq: u32,
    inbox: VecDeque<SipMessage>,
    digest: DigestClient,
}

impl Ua {
    /// A UA over UDP.
    pub async fn udp(name: &str, password: &str, server: SocketAddr) -> Ua {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let local = socket.local_addr().expect("local");
        Ua::with(name, password, Link::Udp(socket), server, local)
    }

    /// A UA over one TCP connection.
    pub async fn tcp(name: &str, password: &str, server: SocketAddr) -> Ua {
        let stream = TcpStream::connect(server).await.expect("connect");
        let local = stream.local_addr().expect("local");
        Ua::with(name, password, Link::Tcp(stream, BytesMut::new()), server, local)
    }

    fn with(name: &str, password: &str, link: Link, server: SocketAddr, local: SocketAddr) -> Ua {
        Ua {
            name: name.into(),
            domain: "localhost".into(),
            password: password.into(),
            link,
            server,
            local,
            cseq: 0,
            inbox: VecDeque::new(),
            digest: DigestClient::new(),
        }
    }

    /// The same UA with its AoR in `domain` (a second server's users).
    pub fn in_domain(mut self, domain: &str) -> Ua {
        self.domain = domain.into();
        self
    }

    fn transport(&self) -> &'static str {
        match self.link {
            Link::Udp(_) => "UDP",
            Link::Tcp(..) => "TCP",
        }
    }

    /// The contact URI.
    pub fn contact(&self) -> String {
        match self.link {
            Link::Udp(_) => format!("sip:{}@{}", self.name, self.local),
            Link::Tcp(..) => format!("sip:{}@{};transport=tcp", self.name, self.local),
        }
    }

    /// Sends raw bytes to the server.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Udp(socket) => {
                socket.send_to(bytes, self.server).await.expect("send");
            }
            Link::Tcp(stream, _) => stream.write_all(bytes).await.expect("send"),
        }
    }

    /// The next message received, or `None` after [`WAIT`].
    pub async fn receive(&mut self) -> Option<SipMessage> {
        self.receive_within(WAIT).await
    }

    /// The next message received within `wait`.
    pub async fn receive_within(&mut self, wait: Duration) -> Option<SipMessage> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match &mut self.link {
                Link::Udp(socket) => {
                    let mut buf = vec![0u8; 65_535];
                    let (len, _) = tokio::time::timeout_at(deadline, socket.recv_from(&mut buf))
                        .await
                        .ok()?
                        .ok()?;
                    buf.truncate(len);
                    return SipMessage::parse(Bytes::from(buf), false).ok();
                }
                Link::Tcp(stream, buf) => {
                    match frame(buf) {
                        Ok(Framed::Complete(n)) => {
                            let bytes = buf.split_to(n).freeze();
                            return SipMessage::parse(bytes, true).ok();
                        }
                        Ok(Framed::KeepAlive(n)) => {
                            buf.advance(n);
                            continue;
                        }
                        Ok(Framed::Partial) => {}
                        Err(_) => return None,
                    }
                    let read = tokio::time::timeout_at(deadline, stream.read_buf(buf))
                        .await
                        .ok()?
                        .ok()?;
                    if read == 0 {
                        return None;
                    }
                }
            }
        }
    }

    /// Waits for the final response with this CSeq number, keeping requests that arrive meanwhile.
    async fn final_response(&mut self, cseq: u32) -> Option<SipMessage> {
        loop {
            let msg = self.receive().await?;
            match msg.status() {
                None => self.inbox.push_back(msg),
                Some(code) if code >= 200 && cseq_number(&msg) == cseq => return Some(msg),
                Some(_) => {}
            }
        }
    }

    /// Builds a request from this UA.
    pub fn build(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) -> (Vec<u8>, u32) {
        self.cseq += 1;
        let mut buf = vec![0u8; 8192 + body.map_or(0, |(_, b)| b.len())];
        let mut w = MessageWriter::request(&mut buf, Method::from_token(method), uri).expect("request line");
        let branch = format!("z9hG4bKua{}{}", self.cseq, std::process::id());
        w.header_fmt(
            HeaderName::Via,
            format_args!(
                "SIP/2.0/{} {};branch={branch};rport",
                self.transport(),
                self.local
            ),
        )
        .unwrap();
        let given = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        if !given("Max-Forwards") {
            w.header(HeaderName::MaxForwards, "70").unwrap();
        }
        w.header_fmt(
            HeaderName::From,
            format_args!("<sip:{}@{}>;tag=t{}", self.name, self.domain, self.local.port()),
        )
        .unwrap();
        w.header(HeaderName::To, to).unwrap();
        w.header_fmt(
            HeaderName::CallId,
            format_args!("{}-{}-{}", method, self.name, self.local.port()),
        )
        .unwrap();
        w.header_fmt(HeaderName::CSeq, format_args!("{} {method}", self.cseq))
            .unwrap();
        if !given("Contact") {
            w.header_fmt(HeaderName::Contact, format_args!("<{}>", self.contact()))
                .unwrap();
        }
        for (name, value) in headers {
            w.header(HeaderName::parse(name), value).unwrap();
        }
        let len = match body {
            Some((ct, bytes)) => {
                w.header(HeaderName::ContentType, ct).unwrap();
                w.finish(bytes).unwrap()
            }
            None => w.finish(b"").unwrap(),
        };
        buf.truncate(len);
        (buf, self.cseq)
    }

    /// Sends a request and returns its final response, answering one 401/407 challenge when
    /// `authenticate` is set.
    pub async fn request(
        &mut self,
        method: &str,
        uri: &str,
        to: &str,
        headers: &[(&str, String)],
        body: Option<(&str, &[u8])>,
        authenticate: bool,
    ) -> SipMessage {
        let (bytes, cseq) = self.build(method, uri, to, headers, body);
        self.send_raw(&bytes).await;
        let response = self.final_response(cseq).await.expect("a final response");
        let code = response.status().unwrap_or(0);
        if !authenticate || !(code == 401 || code == 407) {
            return response;
        }
        let body_bytes = body.map_or(&b""[..], |(_, b)| b);
        let (answer_name, credentials) = self.authorization(&response, method, uri, body_bytes);
        let mut with_auth: Vec<(&str, String)> = headers.to_vec();
        with_auth.push((answer_name, credentials));
        let (bytes, cseq) = self.build(method, uri, to, &with_auth, body);
        self.send_raw(&bytes).await;
        self.final_response(cseq)
            .await
            .expect("a final response after authenticating")
    }

    /// The (Proxy-)Authorization header answering the 401/407 `challenge` for `method uri` with `body`.
    pub fn authorization(
        &mut self,
        challenge: &SipMessage,
        method: &str,
        uri: &str,
        body: &[u8],
    ) -> (&'static str, String) {
        let (challenge_name, answer_name) = if challenge.status() == Some(401) {
            ("WWW-Authenticate", "Authorization")
        } else {
            ("Proxy-Authenticate", "Proxy-Authorization")
        };
        let values: Vec<String> = challenge
            .headers()
            .filter(|(n, _)| n.eq_ignore_ascii_case(challenge_name))
            .map(|(_, v)| v.to_owned())
            .collect();
        let challenge = select_challenge(values.iter().map(String::as_str), ChallengePreference::Strongest)
            .expect("a digest challenge");
        let request = DigestRequest { method, uri, body };
        let name = self.name.clone();
        let password = self.password.clone();
        let answer = self
            .digest
            .respond(
                &challenge,
                &name,
                Secret::Password(&password),
                &request,
                &mut OsRng,
            )
            .expect("answer");
        let mut out = [0u8; 1024];
        let len = answer.emit(&mut out).expect("emit");
        (answer_name, String::from_utf8_lossy(&out[..len]).into_owned())
    }

    /// The local address of the UA's socket.
    pub fn local(&self) -> SocketAddr {
        self.local
    }

    /// Registers (with digest) for `expires` seconds; returns the final status.
    pub async fn register(&mut self, expires: u32) -> SipMessage {
        let to = format!("<sip:{}@{}>", self.name, self.domain);
        self.request(
            "REGISTER",
            &format!("sip:{}", self.domain),
            &to,
            &[("Expires", expires.to_string())],
            None,
            true,
        )
        .await
    }

    /// Sends a text MESSAGE to `user` (authenticating); returns the final response.
    pub async fn message(&mut self, user: &str, text: &str) -> SipMessage {
        let uri = format!("sip:{user}@localhost");
        let to = format!("<{uri}>");
        let date = ("Date", "Sat, 13 Nov 2010 23:29:00 GMT".to_owned());
        self.request(
            "MESSAGE",
            &uri,
            &to,
            &[date],
            Some(("text/plain", text.as_bytes())),
            true,
        )
        .await
    }

    /// The next request received (answering it 200 OK), or `None` within `wait`.
    pub async fn incoming_within(&mut self, wait: Duration) -> Option<SipMessage> {
        self.incoming_answered_within(wait, 200, "OK").await
    }

    /// The next request received, answered `code reason`, or `None` within `wait`.
    pub async fn incoming_answered_within(
        &mut self,
        wait: Duration,
        code: u16,
        reason: &str,
    ) -> Option<SipMessage> {
        let msg = match self.inbox.pop_front() {
            Some(msg) => msg,
            None => loop {
                let msg = self.receive_within(wait).await?;
                if msg.status().is_none() {
                    break msg;
                }
            },
        };
        let answer = reply::build(&msg, None, code, reason, &[], None).expect("a response");
        self.send_raw(&answer).await;
        Some(msg)
    }

    /// The next request received (answered 200 OK); panics after [`WAIT`].
    pub async fn incoming(&mut self) -> SipMessage {
        self.incoming_within(WAIT).await.expect("an incoming request")
    }
}

fn cseq_number(msg: &SipMessage) -> u32 {
    msg.header(HeaderName::CSeq)
        .and_then(|c| c.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The server's UDP address.
pub fn udp_addr(running: &Running) -> SocketAddr {
    running.udp[0]
}

/// The server's TCP address.
pub fn tcp_addr(running: &Running) -> SocketAddr {
    running.tcp[0]
}

/// A UDP UA for `name` (password `NAME-pw`), registered for 600 s.
pub async fn registered(running: &Running, name: &str) -> Ua {
    let mut ua = Ua::udp(name, &format!("{name}-pw"), udp_addr(running)).await;
    assert_eq!(ua.register(600).await.status(), Some(200));
    ua
}

/// Reads from `stream` into `buf` until `buf` starts with one whole MSRP message; `None` when the
/// connection closes or nothing completes it within `within`. The caller parses it from `buf`.
pub async fn read_whole_msrp(stream: &mut TcpStream, buf: &mut Vec<u8>, within: Duration) -> Option<()> {
    use simple_im_core::msrp::wire::{parse_message, Parsed};
    loop {
        if let Ok(Parsed::Complete(..)) = parse_message(buf) {
            return Some(());
        }
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(within, stream.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(chunk.get(..n)?);
    }
}
