//! A minimal SIP user agent over UDP for tests that need exact control over each request (the crash
//! test) or a quick liveness probe: REGISTER and MESSAGE with one digest round (RFC 3261 22, RFC 2617
//! MD5 with qop=auth), UDP retransmission at T1 doubling, and a receiver that answers 200 to every
//! MESSAGE and records it once per transaction (Call-ID + CSeq), so retransmissions are not counted
//! as deliveries. Messages are written with the core's `MessageWriter` and read with
//! `Message::parse_datagram`.

use md5::{Digest as _, Md5};
use simple_im_core::sip::{response_to, Header, HeaderName, Message, MessageWriter, Method, ParseConfig};
use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// RFC 3261 T1.
const T1: Duration = Duration::from_millis(500);
/// How many challenges in a row one request answers before giving up (the outcome is then the
/// last 401/407).
const MAX_CHALLENGE_ROUNDS: usize = 3;
/// How long one request waits for its final response (RFC 3261 Timer F is 64*T1; a local test
/// needs far less).
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(4);
/// Header slots per parsed message.
const SLOTS: usize = 64;

/// How a request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The final status code.
    Final(u16),
    /// No final response before the deadline (server down, or response lost).
    NoResponse,
}

/// A MESSAGE received by the UA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The From header's value.
    pub from: String,
    /// The body, as text.
    pub body: String,
}

/// A UDP user agent bound to 127.0.0.1 acting for one user of domain `localhost`.
pub struct Ua {
    socket: UdpSocket,
    server: SocketAddr,
    user: String,
    password: String,
    cseq: u32,
    serial: u64,
    seen: HashSet<(String, String)>,
    asserted_identity: Option<String>,
    transaction_timeout: Duration,
    /// MESSAGEs received (answered 200), each transaction once.
    pub inbox: Vec<Received>,
}

fn addr(text: &str) -> SocketAddr {
    text.parse()
        .unwrap_or_else(|e| panic!("bad socket address {text}: {e}"))
}

/// Sends OPTIONS to `server` every 200 ms until any response comes; returns its status code, or None
/// after `timeout`. Used to wait until a peer serves SIP.
pub fn probe_sip(server: &str, timeout: Duration) -> Option<u16> {
    let mut ua = Ua::new(server, "probe", "");
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Outcome::Final(code) = ua.request(
            Method::Options,
            "sip:localhost",
            None,
            b"",
            Duration::from_millis(200),
        ) {
            return Some(code);
        }
    }
    None
}

impl Ua {
    /// A UA for `user` talking to the server at `server` (`127.0.0.1:PORT`).
    pub fn new(server: &str, user: &str, password: &str) -> Ua {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("binding a UDP socket on 127.0.0.1");
        Ua {
            socket,
            server: addr(server),
            user: user.into(),
            password: password.into(),
            cseq: 0,
            serial: 0,
            seen: HashSet::new(),
            asserted_identity: None,
            transaction_timeout: DEFAULT_TRANSACTION_TIMEOUT,
            inbox: Vec::new(),
        }
    }

    /// Changes how long each request waits for its final response.
    pub fn set_transaction_timeout(&mut self, timeout: Duration) {
        self.transaction_timeout = timeout;
    }

    /// The local address (the Contact).
    pub fn local(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound socket has an address")
    }

    /// REGISTERs this UA's address for `expires` seconds, answering one challenge.
    pub fn register(&mut self, expires: u32) -> Outcome {
        self.with_auth(
            Method::Register,
            "sip:localhost",
            &format!("<sip:{}@localhost>", self.user),
            Some(expires),
            b"",
        )
    }

    /// Sends a text/plain MESSAGE to `to_user`@localhost, answering one challenge.
    pub fn message(&mut self, to_user: &str, body: &str) -> Outcome {
        self.message_with(to_user, body, None)
    }

    /// [`Ua::message`] with a P-Asserted-Identity header (what a trusted core would add; a test
    /// sends it itself to check the server does not believe just anyone).
    pub fn message_with(&mut self, to_user: &str, body: &str, asserted: Option<&str>) -> Outcome {
        self.asserted_identity = asserted.map(str::to_string);
        let uri = format!("sip:{to_user}@localhost");
        let outcome = self.with_auth(
            Method::Message,
            &uri.clone(),
            &format!("<{uri}>"),
            None,
            body.as_bytes(),
        );
        self.asserted_identity = None;
        outcome
    }

    fn with_auth(
        &mut self,
        method: Method<'_>,
        uri: &str,
        to: &str,
        expires: Option<u32>,
        body: &[u8],
    ) -> Outcome {
        let call_id = self.new_id("call");
        let timeout = self.transaction_timeout;
        let mut extra = RequestExtra {
            call_id: call_id.clone(),
            to: to.into(),
            expires,
            auth: None,
        };
        let mut attempt = self.send_transaction(method, uri, &extra, body, timeout);
        // A server restarted between the challenge and the answer no longer knows its nonce and
        // challenges again (stale): answer each fresh challenge, a bounded number of times.
        for _ in 0..MAX_CHALLENGE_ROUNDS {
            let (code, challenge) = match attempt {
                (Outcome::Final(code @ (401 | 407)), Some(challenge)) => (code, challenge),
                (outcome, _) => return outcome,
            };
            let header = if code == 401 {
                HeaderName::Authorization
            } else {
                HeaderName::ProxyAuthorization
            };
            let credentials = self.answer(&challenge, method.as_str(), uri);
            extra.auth = Some((header, credentials));
            attempt = self.send_transaction(method, uri, &extra, body, timeout);
        }
        attempt.0
    }

    fn new_id(&mut self, what: &str) -> String {
        self.serial += 1;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        format!("{what}-{}-{}-{nanos}", self.local().port(), self.serial)
    }

    fn request(
        &mut self,
        method: Method<'_>,
        uri: &str,
        expires: Option<u32>,
        body: &[u8],
        timeout: Duration,
    ) -> Outcome {
        let extra = RequestExtra {
            call_id: self.new_id("probe"),
            to: "<sip:localhost>".into(),
            expires,
            auth: None,
        };
        self.send_transaction(method, uri, &extra, body, timeout).0
    }

    /// Sends one request and retransmits it until a final response or `timeout`; returns the outcome
    /// and, for 401/407, the challenge header's value.
    fn send_transaction(
        &mut self,
        method: Method<'_>,
        uri: &str,
        extra: &RequestExtra,
        body: &[u8],
        timeout: Duration,
    ) -> (Outcome, Option<String>) {
        self.cseq += 1;
        let cseq = self.cseq;
        let branch = format!("z9hG4bK{}", self.new_id("b"));
        let mut buf = vec![0u8; 65_536];
        let len = self.build(&mut buf, method, uri, extra, &branch, cseq, body);
        let Some(bytes) = buf.get(..len) else {
            return (Outcome::NoResponse, None);
        };
        let bytes = bytes.to_vec();
        let deadline = Instant::now() + timeout;
        let mut interval = T1;
        let mut next_send = Instant::now();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return (Outcome::NoResponse, None);
            }
            if now >= next_send {
                let _ = self.socket.send_to(&bytes, self.server);
                next_send = now + interval;
                interval = (interval * 2).min(4 * T1);
            }
            let wait = next_send
                .min(deadline)
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            if let Some(response) = self.receive_one(wait) {
                if response.call_id == extra.call_id && response.cseq == cseq && response.code >= 200 {
                    return (Outcome::Final(response.code), response.challenge);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        buf: &mut [u8],
        method: Method<'_>,
        uri: &str,
        extra: &RequestExtra,
        branch: &str,
        cseq: u32,
        body: &[u8],
    ) -> usize {
        let local = self.local();
        let mut build = || -> Result<usize, simple_im_core::sip::BuildError> {
            let mut w = MessageWriter::request(buf, method, uri)?;
            w.header_fmt(
                HeaderName::Via,
                format_args!("SIP/2.0/UDP {local};branch={branch};rport"),
            )?;
            w.header(HeaderName::MaxForwards, "70")?;
            w.header_fmt(
                HeaderName::From,
                format_args!("<sip:{}@localhost>;tag={}", self.user, local.port()),
            )?;
            w.header(HeaderName::To, &extra.to)?;
            w.header(HeaderName::CallId, &extra.call_id)?;
            w.header_fmt(HeaderName::CSeq, format_args!("{cseq} {}", method.as_str()))?;
            w.header_fmt(HeaderName::Contact, format_args!("<sip:{}@{local}>", self.user))?;
            if let Some(expires) = extra.expires {
                w.header_fmt(HeaderName::Expires, format_args!("{expires}"))?;
            }
            if let Some(identity) = &self.asserted_identity {
                w.header(HeaderName::PAssertedIdentity, identity)?;
            }
            if let Some((name, value)) = &extra.auth {
                w.header(*name, value)?;
            }
            if !body.is_empty() {
                w.header(HeaderName::ContentType, "text/plain")?;
            }
            w.finish(body)
        };
        build().unwrap_or_else(|e| panic!("building a test {} failed: {e}", method.as_str()))
    }

    /// Receives for up to `duration`, answering MESSAGEs; returns when quiet for `quiet` or after
    /// `duration` in total.
    pub fn receive_for(&mut self, duration: Duration, quiet: Duration) {
        let deadline = Instant::now() + duration;
        let mut last = Instant::now();
        while Instant::now() < deadline && last.elapsed() < quiet {
            let before = self.inbox.len();
            let _ = self.receive_one(Duration::from_millis(100));
            if self.inbox.len() != before {
                last = Instant::now();
            }
        }
    }

    /// Reads one datagram (waiting up to `wait`): a response is returned; a MESSAGE request is answered
    /// 200 and recorded; other requests are answered 200 and ignored.
    fn receive_one(&mut self, wait: Duration) -> Option<Response> {
        let mut buf = vec![0u8; 65_536];
        self.socket.set_read_timeout(Some(wait)).ok()?;
        let (len, from) = self.socket.recv_from(&mut buf).ok()?;
        let datagram = buf.get(..len)?;
        let mut slots = [Header::EMPTY; SLOTS];
        let msg = Message::parse_datagram(datagram, &mut slots, &ParseConfig::default()).ok()?;
        let call_id = msg.call_id().unwrap_or("").to_string();
        let cseq = msg.cseq().and_then(Result::ok);
        if let Some(code) = msg.status_code() {
            // One challenge per algorithm (RFC 8760); this UA answers the MD5 one.
            let challenges = msg
                .values(HeaderName::WwwAuthenticate)
                .chain(msg.values(HeaderName::ProxyAuthenticate));
            let challenge = challenges
                .filter(|c| is_md5_challenge(c))
                .map(str::to_string)
                .next();
            return Some(Response {
                call_id,
                cseq: cseq.map_or(0, |c| c.seq),
                code,
                challenge,
            });
        }
        let mut out = [0u8; 4096];
        if let Ok(w) = response_to(&msg, 200, "OK", Some("testua"), &mut out) {
            if let Ok(n) = w.finish(b"") {
                let _ = self.socket.send_to(out.get(..n).unwrap_or(&[]), from);
            }
        }
        if msg.method() == Some(Method::Message) {
            let key = (call_id, cseq.map(|c| c.seq.to_string()).unwrap_or_default());
            if self.seen.insert(key) {
                let from = msg.header(HeaderName::From).unwrap_or("").to_string();
                self.inbox.push(Received {
                    from,
                    body: String::from_utf8_lossy(msg.body()).into_owned(),
                });
            }
        }
        None
    }

    /// The Authorization value answering `challenge` (a `Digest ...` header value).
    fn answer(&mut self, challenge: &str, method: &str, uri: &str) -> String {
        let params = digest_params(challenge);
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
        };
        let realm = get("realm").unwrap_or("localhost");
        let nonce = get("nonce").unwrap_or("");
        let ha1 = md5_hex(&format!("{}:{realm}:{}", self.user, self.password));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let mut value = format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5",
            self.user
        );
        let qop_auth = get("qop").is_some_and(|q| q.split(',').any(|t| t.trim() == "auth"));
        if qop_auth {
            let cnonce = self.new_id("cn").replace('-', "");
            let response = md5_hex(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"));
            value += &format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\", response=\"{response}\"");
        } else {
            value += &format!(", response=\"{}\"", md5_hex(&format!("{ha1}:{nonce}:{ha2}")));
        }
        if let Some(opaque) = get("opaque") {
            value += &format!(", opaque=\"{opaque}\"");
        }
        value
    }
}

struct RequestExtra {
    call_id: String,
    to: String,
    expires: Option<u32>,
    auth: Option<(HeaderName<'static>, String)>,
}

struct Response {
    call_id: String,
    cseq: u32,
    code: u16,
    challenge: Option<String>,
}

/// A Digest challenge whose algorithm is MD5 (stated, or absent, which means MD5).
fn is_md5_challenge(challenge: &str) -> bool {
    let params = digest_params(challenge);
    let algorithm = params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("algorithm"))
        .map(|(_, v)| v.as_str());
    algorithm.is_none_or(|a| a.eq_ignore_ascii_case("MD5"))
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `name=value` pairs of a `Digest a=1, b="x, y"` challenge (quoted values may hold commas).
fn digest_params(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge.trim_start().strip_prefix("Digest").unwrap_or(challenge);
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ',' || c.is_whitespace()).is_some() {}
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        if chars.next().is_none() {
            break;
        }
        let value: String = if chars.next_if_eq(&'"').is_some() {
            let v = std::iter::from_fn(|| chars.next_if(|c| *c != '"')).collect();
            chars.next();
            v
        } else {
            std::iter::from_fn(|| chars.next_if(|c| *c != ','))
                .collect::<String>()
                .trim()
                .to_string()
        };
        params.push((name.trim().to_string(), value));
    }
    params
}

#[cfg(test)]
mod tests {
    use super::{digest_params, is_md5_challenge, md5_hex};

    #[test]
    fn only_md5_or_unstated_algorithm_challenges_are_answered() {
        assert!(is_md5_challenge(
            "Digest realm=\"x\", nonce=\"n\", algorithm=MD5, qop=\"auth\""
        ));
        assert!(is_md5_challenge("Digest realm=\"x\", nonce=\"n\""));
        assert!(!is_md5_challenge(
            "Digest realm=\"x\", nonce=\"n\", algorithm=SHA-256"
        ));
    }

    #[test]
    fn digest_params_keep_quoted_commas() {
        let p =
            digest_params("Digest realm=\"localhost\", nonce=\"a,b\", qop=\"auth,auth-int\", algorithm=MD5");
        let want = [
            ("realm", "localhost"),
            ("nonce", "a,b"),
            ("qop", "auth,auth-int"),
            ("algorithm", "MD5"),
        ];
        let got: Vec<(&str, &str)> = p.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        assert_eq!(got, want);
    }

    /// RFC 2617 section 3.5's example: HA1 of Mufasa in testrealm@host.com.
    #[test]
    fn md5_matches_rfc2617_example_ha1() {
        assert_eq!(
            md5_hex("Mufasa:testrealm@host.com:Circle Of Life"),
            "939e7578ed9e3c518a452acee763bce9"
        );
    }
}
