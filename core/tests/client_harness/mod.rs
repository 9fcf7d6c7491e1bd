//! A deterministic world for the IM client tests: the client, a lossy datagram link each way, and a
//! small in-test registrar/peer written with the core builder (digest challenge, 200s, MESSAGEs to the
//! device in its own non-INVITE client transactions).
#![allow(dead_code)]

use core::time::Duration;
use std::string::String;
use std::vec::Vec;

use simple_im_core::client::{Client, ClientConfig, ClientEvent, Destination, TransportKind};
use simple_im_core::sim::{LinkConfig, SimClock, SimLink, SimRng};
use simple_im_core::sip::auth::{
    ha1, Algorithm, Credentials, DigestRequest, DigestServer, ServerConfig, Verification,
};
use simple_im_core::sip::transaction::{generate_branch, ClientNonInvite, Output, Reliability, TimerConfig};
use simple_im_core::sip::{response_to, Header, HeaderName, Message, MessageWriter, Method, ParseConfig};
use simple_im_core::time::Instant;

pub const REALM: &str = "example.com";
pub const PASSWORD: &str = "secret-pw";
pub const MTU: usize = 2048;

/// An event with its spans resolved to owned text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    Pager {
        from: String,
        content_type: String,
        body: Vec<u8>,
        message_id: Option<String>,
        display_handle: Option<simple_im_core::client::ReceivedHandle>,
    },
    Other(ClientEvent),
}

pub fn config() -> ClientConfig {
    let mut c = ClientConfig::new(
        "127.0.0.1:5060",
        TransportKind::Udp,
        "sip:alice@example.com",
        "alice",
        PASSWORD,
    )
    .unwrap();
    c.registration_expiry_s = 600;
    c
}

pub struct Server {
    pub digest: DigestServer,
    pub granted: u32,
    /// Other devices' bindings of the AoR, listed before ours in a 2xx to REGISTER (with their own
    /// `expires`).
    pub other_bindings: Vec<String>,
    /// Answer credentials with a retired nonce with a plain 401 (no `stale=true`), as a registrar
    /// that forgot the nonce does.
    pub forget_nonces: bool,
    /// Challenge non-REGISTER requests with 407 until they carry valid Proxy-Authorization.
    pub challenge_messages: bool,
    /// (time, authenticated) per REGISTER received (retransmissions included).
    pub registers: Vec<(Instant, bool)>,
    /// Raw requests other than REGISTER received from the client, first copies only.
    pub requests: Vec<Vec<u8>>,
    seen_keys: Vec<String>,
    /// Responses the client sent to the server's requests, by status.
    pub responses: Vec<(u16, Vec<u8>)>,
    outgoing: Vec<(String, ClientNonInvite<Vec<u8>>)>,
    answered: Vec<(String, Vec<u8>)>,
    pub out: Vec<Vec<u8>>,
    rng: SimRng,
    /// RFC 3903 publication of the settings: the live entity tag and when it expires.
    pub publication: Option<(String, Instant)>,
    /// Expires granted to a PUBLISH (the asked value when `None`).
    pub publish_granted: Option<u32>,
    /// (time, SIP-If-Match, has body, status) per PUBLISH answered.
    pub publishes: Vec<(Instant, Option<String>, bool, u16)>,
}

impl Server {
    pub fn new() -> Self {
        let mut cfg = ServerConfig::default();
        cfg.algorithms.clear();
        cfg.algorithms.push(Algorithm::SHA256).unwrap();
        Server {
            digest: DigestServer::new(REALM, [9; 32], cfg).unwrap(),
            granted: 600,
            other_bindings: Vec::new(),
            forget_nonces: false,
            challenge_messages: false,
            registers: Vec::new(),
            requests: Vec::new(),
            seen_keys: Vec::new(),
            responses: Vec::new(),
            outgoing: Vec::new(),
            answered: Vec::new(),
            out: Vec::new(),
            rng: SimRng::new(77),
            publication: None,
            publish_granted: None,
            publishes: Vec::new(),
        }
    }

    /// Starts a request to the device in a non-INVITE client transaction (retransmitted over UDP).
    pub fn send_request(&mut self, now: Instant, method: &str, content_type: &str, body: &[u8]) -> String {
        let branch = generate_branch(&mut self.rng);
        let mut buf = vec![0u8; 4096];
        let mut w = MessageWriter::request(
            &mut buf,
            Method::parse(method).unwrap(),
            "sip:alice@device.invalid",
        )
        .unwrap();
        w.header_fmt(
            HeaderName::Via,
            format_args!("SIP/2.0/UDP 127.0.0.1:5060;branch={}", branch.as_str()),
        )
        .unwrap();
        w.header(HeaderName::MaxForwards, "70").unwrap();
        w.header(HeaderName::From, "\"Bob\" <sip:bob@example.com>;tag=b0b")
            .unwrap();
        w.header(HeaderName::To, "<sip:alice@example.com>").unwrap();
        w.header_fmt(HeaderName::CallId, format_args!("call-{}", branch.as_str()))
            .unwrap();
        w.header_fmt(HeaderName::CSeq, format_args!("1 {}", method))
            .unwrap();
        if !body.is_empty() {
            w.header(HeaderName::ContentType, content_type).unwrap();
        }
        let len = w.finish(body).unwrap();
        buf.truncate(len);
        let tx = ClientNonInvite::new(now, TimerConfig::DEFAULT, Reliability::Unreliable, buf);
        self.outgoing.push((branch.as_str().into(), tx));
        self.pump();
        branch.as_str().into()
    }

    fn pump(&mut self) {
        for (_, tx) in &mut self.outgoing {
            while let Some(o) = tx.poll_output() {
                if let Output::Transmit(b) = o {
                    self.out.push(b.to_vec());
                }
            }
        }
        self.outgoing.retain(|(_, tx)| !tx.is_terminated());
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.outgoing.iter().filter_map(|(_, t)| t.poll_timeout()).min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for (_, tx) in &mut self.outgoing {
            tx.handle_timeout(now);
        }
        self.pump();
    }

    pub fn handle(&mut self, now: Instant, bytes: &[u8]) {
        let mut slots = [Header::EMPTY; 64];
        let msg = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default())
            .expect("client sent unparseable SIP");
        simple_im_core::sip::check(&msg).expect("client sent invalid SIP");
        if !msg.is_request() {
            let status = msg.status_code().unwrap();
            let branch = msg.top_via().unwrap().unwrap().branch.unwrap_or("").to_string();
            if let Some((_, tx)) = self.outgoing.iter_mut().find(|(b, _)| *b == branch) {
                if !tx.is_terminated()
                    && tx.state() != simple_im_core::sip::transaction::ClientNonInviteState::Completed
                {
                    self.responses.push((status, bytes.to_vec()));
                }
                tx.handle_response(now, status);
            }
            self.pump();
            return;
        }
        let method = msg.method().unwrap();
        // A server transaction's job: a retransmitted request gets the response already sent.
        let branch = msg.top_via().unwrap().unwrap().branch.unwrap_or("").to_string();
        if let Some((_, answer)) = self.answered.iter().find(|(b, _)| *b == branch) {
            self.out.push(answer.clone());
            return;
        }
        let before = self.out.len();
        self.handle_new_request(now, &msg, bytes, method);
        if self.out.len() > before {
            let answer = self.out[self.out.len() - 1].clone();
            self.answered.push((branch, answer));
        }
    }

    fn handle_new_request(&mut self, now: Instant, msg: &Message<'_, '_>, bytes: &[u8], method: Method<'_>) {
        if method == Method::Register {
            self.registrar(now, msg);
            return;
        }
        if self.challenge_messages && !self.proxy_authorized(now, msg) {
            let value = self.challenge(now, false);
            self.reply(
                msg,
                407,
                "Proxy Authentication Required",
                &[(HeaderName::ProxyAuthenticate, &value)],
            );
            return;
        }
        let key = format!(
            "{} {}",
            msg.call_id().unwrap(),
            msg.header(HeaderName::CSeq).unwrap()
        );
        if !self.seen_keys.contains(&key) {
            self.seen_keys.push(key);
            self.requests.push(bytes.to_vec());
        }
        if method == Method::Publish {
            self.publish(now, msg);
            return;
        }
        self.reply(msg, 200, "OK", &[]);
    }

    /// An event state compositor's view of a PUBLISH (RFC 3903 §6): an expired publication is gone,
    /// `SIP-If-Match` must name the live one (else 412), a new one gets a fresh entity tag.
    fn publish(&mut self, now: Instant, msg: &Message<'_, '_>) {
        if self.publication.as_ref().is_some_and(|(_, until)| *until <= now) {
            self.publication = None;
        }
        let if_match = msg.header(HeaderName::SipIfMatch).map(str::to_string);
        let has_body = !msg.body().is_empty();
        let live = self.publication.as_ref().map(|(etag, _)| etag.clone());
        let status = match (&if_match, live) {
            (Some(asked), Some(live)) if *asked == live => 200,
            (Some(_), _) => 412,
            (None, _) if has_body => 200,
            (None, _) => 400,
        };
        self.publishes.push((now, if_match, has_body, status));
        if status != 200 {
            let reason = if status == 412 {
                "Conditional Request Failed"
            } else {
                "Bad Request"
            };
            self.reply(msg, status, reason, &[]);
            return;
        }
        let asked: u32 = msg.header(HeaderName::Expires).unwrap().trim().parse().unwrap();
        let granted = self.publish_granted.unwrap_or(asked);
        let etag = format!("e{}", self.publishes.len());
        self.publication = Some((etag.clone(), now + Duration::from_secs(u64::from(granted))));
        let expires = granted.to_string();
        self.reply(
            msg,
            200,
            "OK",
            &[(HeaderName::SipETag, &etag), (HeaderName::Expires, &expires)],
        );
    }

    /// A fresh SHA-256 challenge (a WWW-Authenticate / Proxy-Authenticate value).
    fn challenge(&mut self, now: Instant, stale: bool) -> String {
        let nonce = self.digest.issue_nonce(now);
        let mut buf = [0u8; 512];
        let challenge = self.digest.challenge(&nonce, Algorithm::SHA256, stale);
        let len = challenge.emit(&mut buf).unwrap();
        std::str::from_utf8(&buf[..len]).unwrap().to_string()
    }

    fn proxy_authorized(&mut self, now: Instant, msg: &Message<'_, '_>) -> bool {
        let Some(value) = msg.header(HeaderName::ProxyAuthorization) else {
            return false;
        };
        let Ok(Credentials::Digest(c)) = Credentials::parse(value) else {
            return false;
        };
        let stored = ha1(Algorithm::SHA256, "alice", REALM, PASSWORD);
        let method = msg.method().unwrap();
        let request = DigestRequest {
            method: method.as_str(),
            uri: msg.request_uri().unwrap(),
            body: msg.body(),
        };
        self.digest.verify(&c, &request, stored.as_str(), now) == Verification::Ok
    }

    fn registrar(&mut self, now: Instant, msg: &Message<'_, '_>) {
        let uri = msg.request_uri().unwrap();
        let verdict = msg.header(HeaderName::Authorization).map(|value| {
            let Ok(Credentials::Digest(c)) = Credentials::parse(value) else {
                panic!("bad Authorization")
            };
            let stored = ha1(Algorithm::SHA256, "alice", REALM, PASSWORD);
            let request = DigestRequest {
                method: "REGISTER",
                uri,
                body: b"",
            };
            self.digest.verify(&c, &request, stored.as_str(), now)
        });
        self.registers.push((now, verdict == Some(Verification::Ok)));
        match verdict {
            Some(Verification::Ok) => {
                let contact = msg.header(HeaderName::Contact).unwrap().to_string();
                let expires = format!("{};expires={}", contact, self.granted);
                let others = self.other_bindings.clone();
                let mut contacts: Vec<(HeaderName<'_>, &str)> =
                    others.iter().map(|b| (HeaderName::Contact, b.as_str())).collect();
                contacts.push((HeaderName::Contact, &expires));
                self.reply(msg, 200, "OK", &contacts);
            }
            other => {
                let stale = matches!(other, Some(Verification::Stale)) && !self.forget_nonces;
                let value = self.challenge(now, stale);
                self.reply(msg, 401, "Unauthorized", &[(HeaderName::WwwAuthenticate, &value)]);
            }
        }
    }

    pub fn reply(
        &mut self,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
        extra: &[(HeaderName<'_>, &str)],
    ) {
        let mut buf = vec![0u8; 2048];
        let mut w = response_to(msg, code, reason, Some("srv"), &mut buf).unwrap();
        for (name, value) in extra {
            w.header(*name, value).unwrap();
        }
        let len = w.finish(b"").unwrap();
        buf.truncate(len);
        self.out.push(buf);
    }
}

pub struct World {
    pub clock: SimClock,
    pub client: Client<SimRng, u8>,
    pub up: SimLink<64, MTU>,
    pub down: SimLink<64, MTU>,
    pub server: Server,
    pub seen: Vec<(Instant, Seen)>,
    /// Datagrams the test injects directly to the client, delivered at the next step.
    pub raw_to_client: Vec<Vec<u8>>,
}

impl World {
    pub fn new(config: ClientConfig, link: LinkConfig, seed: u64) -> Self {
        let clock = SimClock::default();
        let client = Client::new(config, clock.now(), SimRng::new(seed));
        World {
            clock,
            client,
            up: SimLink::new(link, seed ^ 1),
            down: SimLink::new(link, seed ^ 2),
            server: Server::new(),
            seen: Vec::new(),
            raw_to_client: Vec::new(),
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    fn drain_events(&mut self, input: &[u8]) {
        while let Some(e) = self.client.poll_event() {
            let seen = match e {
                ClientEvent::PagerReceived {
                    from,
                    content_type,
                    body,
                    message_id,
                    display_handle,
                } => Seen::Pager {
                    from: from.str_of(input).into(),
                    content_type: content_type.str_of(input).into(),
                    body: body.of(input).to_vec(),
                    message_id: message_id.map(|m| m.str_of(input).into()),
                    display_handle,
                },
                other => Seen::Other(other),
            };
            self.seen.push((self.clock.now(), seen));
        }
    }

    fn flush(&mut self) {
        let now = self.clock.now();
        let mut buf = [0u8; MTU];
        while let Some(t) = self.client.poll_transmit(&mut buf) {
            self.up.send(now, &buf[..t.len]).unwrap();
        }
        self.drain_events(&[]);
        for d in std::mem::take(&mut self.server.out) {
            self.down.send(now, &d).unwrap();
        }
    }

    /// Delivers a datagram from peer 9 straight to the client now (no loss), drains its events, and
    /// returns what it transmitted in answer (not forwarded to the server).
    pub fn inject(&mut self, bytes: &[u8]) -> Vec<(Destination<u8>, Vec<u8>)> {
        let now = self.clock.now();
        self.client.handle_datagram(now, 9, bytes);
        self.drain_events(bytes);
        let mut out = Vec::new();
        let mut buf = [0u8; MTU];
        while let Some(t) = self.client.poll_transmit(&mut buf) {
            out.push((t.dest, buf[..t.len].to_vec()));
        }
        out
    }

    /// Runs the world until virtual time `until`.
    pub fn run_until(&mut self, until: Instant) {
        loop {
            self.flush();
            let next = [
                self.client.poll_timeout(),
                self.server.poll_timeout(),
                self.up.next_delivery_time(),
                self.down.next_delivery_time(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= until) else {
                self.clock.advance_to(until);
                return;
            };
            let now = self.clock.advance_to(next.max(self.clock.now()));
            while let Some(d) = self.up.receive(now) {
                self.server.handle(now, &d);
            }
            while let Some(d) = self.down.receive(now) {
                self.client.handle_datagram(now, 0, &d);
                self.drain_events(&d);
            }
            if self.client.poll_timeout().is_some_and(|t| t <= now) {
                self.client.handle_timeout(now);
            }
            if self.server.poll_timeout().is_some_and(|t| t <= now) {
                self.server.handle_timeout(now);
            }
        }
    }

    pub fn run_for_secs(&mut self, secs: u64) {
        let until = Instant::from_millis(self.clock.now().as_millis() + secs * 1000);
        self.run_until(until);
    }

    pub fn events(&self) -> Vec<ClientEvent> {
        self.seen
            .iter()
            .filter_map(|(_, s)| if let Seen::Other(e) = s { Some(*e) } else { None })
            .collect()
    }

    pub fn pagers(&self) -> Vec<Seen> {
        self.seen
            .iter()
            .filter(|(_, s)| matches!(s, Seen::Pager { .. }))
            .map(|(_, s)| s.clone())
            .collect()
    }
}

/// The body of a request the server received.
pub fn body_of(raw: &[u8]) -> Vec<u8> {
    let mut slots = [Header::EMPTY; 64];
    let msg = Message::parse_datagram(raw, &mut slots, &ParseConfig::default()).unwrap();
    msg.body().to_vec()
}

pub fn header_of(raw: &[u8], name: HeaderName<'_>) -> Option<String> {
    let mut slots = [Header::EMPTY; 64];
    let msg = Message::parse_datagram(raw, &mut slots, &ParseConfig::default()).unwrap();
    msg.header(name).map(|s| s.to_string())
}
