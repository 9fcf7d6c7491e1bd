//! Sessions this runtime starts itself (chats and Large Messages), on the core's primitives: the
//! core's `Client` cannot answer a proxy's 407 to an INVITE and always offers `a=setup:active`, which
//! two such clients cannot agree on without a relay. Here the INVITE is authenticated with the core's
//! `DigestClient`, and the offer says `actpass` with a listening socket in its path, so the answerer
//! picks: a core client answers `active` and connects to us; a relay or passive peer makes us connect.
//!
//! | state | input | action | next |
//! |---|---|---|---|
//! | Inviting | (UDP) no answer after T1, 2T1, ... | resend INVITE | Inviting |
//! | Inviting | 1xx | stop resending | Inviting |
//! | Inviting | 401/407, first time | ACK, INVITE again with credentials (CSeq + 1) | Inviting |
//! | Inviting | other non-2xx | ACK, `chat_closed status reason` | Closed |
//! | Inviting | 2xx with a usable answer | ACK (routes from Record-Route), MSRP connect or accept, `chat_established` | Established |
//! | Inviting | no final answer in 3 min | `chat_closed 408` | Closed |
//! | Inviting | `close` (end of input, Ctrl-C) | CANCEL | Inviting (cancelled) |
//! | Inviting (cancelled) | 487 (or any final), or 4 s without one | `chat_closed 487` | Closed |
//! | Inviting (cancelled) | 2xx that crossed the CANCEL | ACK, BYE | Closing |
//! | Established | 2xx again | ACK again | Established |
//! | Established | BYE from the peer | 200, `chat_closed 200` | Closed |
//! | Established | `close` | BYE (resent on UDP until answered) | Closing |
//! | Closing | any final answer to BYE, or 4 s | `chat_closed 200` | Closed |
//!
//! MSRP bodies come from an [`Outbox`]: queued texts (chat lines, the one Large Message).
//!
//! Through an RFC 4976 relay (`--msrp-relay`) or over TLS (`--msrp-tls`) we always connect, so the
//! offer says `a=setup:active` and no listener is opened; instead a socket is bound first and its port
//! named in our URI. With a relay it connects before the offer and authenticates ([`super::relay_auth`]);
//! the relay's Use-Path goes before our URI in `a=path` and before the answerer's path in the To-Path
//! of what we send. With TLS the socket connects once answered; our URI is `msrps:` and the media
//! `TCP/TLS/MSRP`.

use super::outgoing_msrp::{FileOffer, Outbox, FILE_TYPE};
use super::output::Note;
use super::session::Session;
use crate::server::rng::OsRng;
use crate::server::sip::SipMessage;
use bytes::Bytes;
use simple_im_core::msrp::session::{MessageHandle, Session as MsrpSession};
use simple_im_core::sdp::{self, Connection, MsrpMediaDesc, Origin, SessionDesc};
use simple_im_core::sip::auth::{select_challenge, ChallengePreference, DigestClient, DigestRequest, Secret};
use simple_im_core::sip::{ack_for_non_2xx, response_to, HeaderName, MessageWriter, Method};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Outgoing session ids start here so they never meet the core's chat ids in one table.
pub const FIRST_OUTGOING_ID: u32 = 1 << 20;
/// Media types a chat accepts.
pub(super) const CHAT_TYPES: &[&str] = &["message/cpim", "text/plain"];
/// Media types accepted inside CPIM.
const WRAPPED_TYPES: &[&str] = &["text/plain", "message/imdn+xml"];
/// How long an INVITE may ring.
const INVITE_TIMEOUT: Duration = Duration::from_secs(180);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Inviting,
    Established,
    Closing,
    Closed,
}

/// One session we started.
pub struct Outgoing {
    pub(super) id: u32,
    pub(super) state: State,
    pub(super) to: String,
    pub(super) call_id: String,
    pub(super) local_tag: String,
    pub(super) cseq: u32,
    pub(super) invite: Bytes,
    pub(super) offer: Vec<u8>,
    pub(super) authenticated: bool,
    pub(super) resend_at: Option<Instant>,
    pub(super) resend_interval: Duration,
    pub(super) give_up_at: Instant,
    pub(super) remote_tag: String,
    pub(super) remote_target: String,
    pub(super) routes: Vec<String>,
    pub(super) ack: Option<Vec<u8>>,
    pub(super) bye: Option<Vec<u8>>,
    pub(super) local_uri: String,
    pub(super) listener: Option<tokio::net::TcpListener>,
    /// Through a relay or over TLS: the socket bound to our URI's port, connected to the first hop of
    /// the path once answered.
    pub(super) dial_socket: Option<tokio::net::TcpSocket>,
    /// Through a relay: the connection authenticated with AUTH, used for the session.
    pub(super) dial_stream: Option<tokio::net::TcpStream>,
    /// The RFC 4976 relay path (its Use-Path) first in our path, if any.
    pub(super) relay: Option<String>,
    pub(super) msrp: Option<MsrpSession>,
    pub(super) outbox: Outbox,
    /// Bodies of the messages being received, by Message-ID.
    pub(super) incoming: std::collections::HashMap<String, Vec<u8>>,
    /// Texts given before the session was up.
    pub(super) queued: Vec<String>,
    /// Messages sent whose success REPORT has not covered every byte yet: (handle, length).
    pub(super) unconfirmed: Vec<(MessageHandle, u64)>,
    /// We gave up while inviting and sent CANCEL.
    pub(super) cancelled: bool,
    /// The file offered, sent once the session is up.
    pub(super) file: Option<FileOffer>,
    /// Lines go as `message/cpim` asking for IMDNs (the answer accepts CPIM; see [`super::chat_imdn`]).
    pub(super) cpim: bool,
    /// The `imdn.Message-ID` of each CPIM line sent, printed in its `chat_sent` line.
    pub(super) message_ids: std::collections::HashMap<MessageHandle, String>,
}

/// A TCP socket bound to `addr` (port 0: an ephemeral one), not yet connected.
fn bound_socket(addr: SocketAddr) -> Result<tokio::net::TcpSocket, String> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    };
    let socket = socket.map_err(|e| format!("cannot open an MSRP socket: {e}"))?;
    socket
        .bind(addr)
        .map_err(|e| format!("cannot bind an MSRP socket to {addr}: {e}"))?;
    Ok(socket)
}

fn token(bytes: usize) -> String {
    crate::server::rng::token(bytes)
}

impl Session {
    /// Invites `to` to an MSRP session (a chat, or one Large Message when `texts` is given and the
    /// caller closes after it is confirmed). Returns the session id printed as `chat=`.
    pub async fn invite(&mut self, to: &str) -> Result<u32, String> {
        self.invite_with(to, None).await
    }

    /// Offers `file` to `to` (RFC 5547 push: `sendonly`, a file-selector with name, type, size and
    /// SHA-256). The file is streamed from disk once the receiver accepts.
    pub async fn invite_file(&mut self, to: &str, file: FileOffer) -> Result<u32, String> {
        self.invite_with(to, Some(file)).await
    }

    async fn invite_with(&mut self, to: &str, file: Option<FileOffer>) -> Result<u32, String> {
        let local = self.local_address();
        // Through a relay we connect to it, from a port bound now and named in our URI (the relay
        // finds our connection by that address); otherwise we listen in case the answerer connects.
        let relay = self.msrp_relay().map(str::to_owned);
        // With TLS we always connect (we have no certificate to accept with).
        let tls = self.msrp_tls().is_some();
        let (listener, dial_socket, port) = if relay.is_some() || tls {
            let socket = bound_socket(SocketAddr::new(local.ip(), 0))?;
            let port = socket.local_addr().map_err(|e| e.to_string())?.port();
            (None, Some(socket), port)
        } else {
            let listener = tokio::net::TcpListener::bind(SocketAddr::new(local.ip(), 0))
                .await
                .map_err(|e| format!("cannot listen for MSRP: {e}"))?;
            let port = listener.local_addr().map_err(|e| e.to_string())?.port();
            (Some(listener), None, port)
        };
        let scheme = if tls { "msrps" } else { "msrp" };
        let local_uri = format!("{scheme}://{}:{port}/{};tcp", local.ip(), token(8));
        // Through a relay: connect now and AUTH (RFC 4976 §5); its Use-Path replaces the configured URI.
        let (dial_socket, dial_stream, relay) = match (relay, dial_socket) {
            (Some(relay_uri), Some(socket)) => {
                let (user, password) = self.secret();
                let (stream, use_path) =
                    super::relay_auth::connect(socket, &relay_uri, &local_uri, &user, &password).await?;
                (None, Some(stream), Some(use_path))
            }
            (relay, socket) => (socket, None, relay),
        };
        let host = local.ip().to_string();
        let session_id = token(6);
        let path: Vec<&str> = relay
            .iter()
            .map(String::as_str)
            .chain([local_uri.as_str()])
            .collect();
        let transfer_id = token(8);
        let file_types = [FILE_TYPE];
        let media = [MsrpMediaDesc {
            port,
            tls,
            title: None,
            direction: file.as_ref().map(|_| sdp::Direction::SendOnly),
            accept_types: if file.is_some() { &file_types } else { CHAT_TYPES },
            accept_wrapped_types: if file.is_some() { &[] } else { WRAPPED_TYPES },
            path: &path,
            max_size: None,
            setup: Some(if self.offer_active() || relay.is_some() || tls {
                sdp::Setup::Active
            } else {
                sdp::Setup::ActPass
            }),
            file: file.as_ref().map(|f| sdp::FileTransfer {
                selector: sdp::FileSelector {
                    name: Some(&f.name),
                    media_type: Some(FILE_TYPE),
                    size: Some(f.size),
                    hash: Some(sdp::Hash {
                        algorithm: "sha-256",
                        value: &f.sha256,
                    }),
                },
                transfer_id: &transfer_id,
                disposition: Some("attachment"),
                date: None,
                icon: None,
                range: None,
            }),
        }];
        let desc = SessionDesc {
            origin: Origin {
                username: "-",
                session_id: &session_id,
                session_version: "1",
                net_type: "IN",
                addr_type: "IP4",
                address: &host,
            },
            session_name: "-",
            connection: Some(Connection {
                net_type: "IN",
                addr_type: "IP4",
                address: &host,
            }),
            media: &media,
        };
        let mut offer = vec![0u8; 2048];
        let len = desc.write(&mut offer).map_err(|e| format!("SDP offer: {e:?}"))?;
        offer.truncate(len);
        self.next_outgoing += 1;
        let id = FIRST_OUTGOING_ID + self.next_outgoing;
        let mut out = Outgoing {
            id,
            state: State::Inviting,
            to: to.to_owned(),
            call_id: token(12),
            local_tag: token(6),
            cseq: 0,
            invite: Bytes::new(),
            offer,
            authenticated: false,
            resend_at: None,
            resend_interval: self.t1(),
            give_up_at: Instant::now() + INVITE_TIMEOUT,
            remote_tag: String::new(),
            remote_target: String::new(),
            routes: Vec::new(),
            ack: None,
            bye: None,
            local_uri,
            listener,
            dial_socket,
            dial_stream,
            relay,
            msrp: None,
            outbox: Outbox::default(),
            incoming: std::collections::HashMap::new(),
            queued: Vec::new(),
            unconfirmed: Vec::new(),
            cancelled: false,
            file,
            cpim: false,
            message_ids: std::collections::HashMap::new(),
        };
        self.send_invite(&mut out, None)?;
        self.outgoing.insert(id, out);
        Ok(id)
    }

    fn t1(&self) -> Duration {
        if self.is_tcp() {
            Duration::ZERO
        } else {
            Duration::from_millis(500)
        }
    }

    fn send_invite(&mut self, out: &mut Outgoing, credentials: Option<(&str, String)>) -> Result<(), String> {
        out.cseq += 1;
        let local = self.local_address();
        let aor = self.aor().to_owned();
        let user = aor
            .trim_start_matches("sip:")
            .split('@')
            .next()
            .unwrap_or("")
            .to_owned();
        let transport = if self.is_tcp() { "TCP" } else { "UDP" };
        let mut buf = vec![0u8; 4096 + out.offer.len()];
        let mut w =
            MessageWriter::request(&mut buf, Method::Invite, &out.to).map_err(|e| format!("{e:?}"))?;
        let fill = |w: &mut MessageWriter<'_>| -> Result<(), simple_im_core::sip::BuildError> {
            w.header_fmt(
                HeaderName::Via,
                format_args!("SIP/2.0/{transport} {local};branch=z9hG4bK{};rport", token(8)),
            )?;
            w.header(HeaderName::MaxForwards, "70")?;
            w.header_fmt(HeaderName::From, format_args!("<{aor}>;tag={}", out.local_tag))?;
            w.header_fmt(HeaderName::To, format_args!("<{}>", out.to))?;
            w.header(HeaderName::CallId, &out.call_id)?;
            w.header_fmt(HeaderName::CSeq, format_args!("{} INVITE", out.cseq))?;
            w.header_fmt(
                HeaderName::Contact,
                format_args!(
                    "<sip:{user}@{local};transport={}>",
                    transport.to_ascii_lowercase()
                ),
            )?;
            if let Some((name, value)) = &credentials {
                w.header(HeaderName::parse(name), value)?;
            }
            w.header(HeaderName::ContentType, "application/sdp")?;
            Ok(())
        };
        fill(&mut w).map_err(|e| format!("INVITE: {e:?}"))?;
        let len = w.finish(&out.offer).map_err(|e| format!("INVITE: {e:?}"))?;
        buf.truncate(len);
        out.invite = Bytes::from(buf);
        out.resend_interval = self.t1();
        out.resend_at = (!self.is_tcp()).then(|| Instant::now() + out.resend_interval);
        self.sip_out.push(out.invite.to_vec());
        Ok(())
    }

    /// Whether `bytes` (one SIP message) belongs to a session we started; handles it if so.
    pub(super) fn outgoing_sip(&mut self, bytes: &[u8], stream: bool) -> bool {
        if self.outgoing.is_empty() {
            return false;
        }
        let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(bytes), stream) else {
            return false;
        };
        let id = self
            .outgoing
            .values()
            .find(|o| o.call_id == msg.call_id())
            .map(|o| o.id);
        let Some(mut out) = id.and_then(|id| self.outgoing.remove(&id)) else {
            return false;
        };
        if msg.status().is_some() {
            self.outgoing_response(&mut out, &msg);
        } else {
            self.outgoing_request(&mut out, &msg);
        }
        if out.state != State::Closed {
            self.outgoing.insert(out.id, out);
        } else {
            self.chats.remove(&out.id);
        }
        true
    }

    fn outgoing_response(&mut self, out: &mut Outgoing, msg: &SipMessage) {
        let status = msg.status().unwrap_or(0);
        if msg.cseq_method() == Some("CANCEL") {
            // The CANCEL's own answer; the INVITE's final response is what ends the session.
            return;
        }
        if msg.cseq_method() == Some("BYE") {
            if status >= 200 && out.state == State::Closing {
                self.closed(out, status, msg.reason());
            }
            return;
        }
        out.resend_at = None;
        if status < 200 {
            return;
        }
        if status >= 300 {
            let invite = SipMessage::parse(out.invite.clone(), self.is_tcp()).ok();
            if let Some(invite) = invite {
                let mut buf = vec![0u8; 2048];
                let ack = invite
                    .with_view(|inv| msg.with_view(|resp| ack_for_non_2xx(inv, resp, &mut buf).ok()))
                    .flatten()
                    .flatten();
                if let Some(len) = ack {
                    self.sip_out.push(buf[..len].to_vec());
                }
            }
            if out.state != State::Inviting {
                return;
            }
            if matches!(status, 401 | 407) && !out.authenticated && !out.cancelled {
                out.authenticated = true;
                match self.credentials(msg, "INVITE", &out.to.clone(), &out.offer.clone()) {
                    Some(credentials) => {
                        if let Err(e) = self.send_invite(out, Some(credentials)) {
                            self.notes.push_back(Note::new("error").with("reason", e));
                            self.closed(out, status, msg.reason());
                        }
                    }
                    None => self.closed(out, status, msg.reason()),
                }
                return;
            }
            self.closed(out, status, msg.reason());
            return;
        }
        // 2xx
        if out.state != State::Inviting {
            if let Some(ack) = out.ack.clone() {
                self.sip_out.push(ack);
            }
            return;
        }
        out.remote_tag = msg
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default();
        out.remote_target = msg
            .header(HeaderName::Contact)
            .map(|c| {
                let c = c.trim();
                c.find('<')
                    .and_then(|s| c[s + 1..].find('>').map(|e| c[s + 1..s + 1 + e].to_owned()))
                    .unwrap_or_else(|| c.split(';').next().unwrap_or(c).to_owned())
            })
            .unwrap_or_else(|| out.to.clone());
        let mut routes: Vec<String> = msg
            .values(HeaderName::RecordRoute)
            .flat_map(|v| v.split(','))
            .map(|r| r.trim().to_owned())
            .collect();
        routes.reverse();
        if routes.is_empty() {
            // A 2xx without Record-Route (the core client's answers carry none): the server proxied
            // the INVITE, and routes in-dialog requests only when a Route names it, so use it as a
            // preloaded outbound-proxy route (RFC 3261 §8.1.2).
            routes.push(format!("<sip:{};lr>", self.server_address()));
        }
        out.routes = routes;
        let ack = self.in_dialog(out, "ACK", out.cseq);
        out.ack = Some(ack.clone());
        self.sip_out.push(ack);
        if out.cancelled {
            out.state = State::Established;
            self.close(out);
            return;
        }
        match self.start_msrp(out, msg.body()) {
            Ok(()) => {
                out.state = State::Established;
                self.notes
                    .push_back(Note::new("chat_established").with("chat", out.id));
            }
            Err(reason) => {
                self.notes.push_back(
                    Note::new("chat_failed")
                        .with("chat", out.id)
                        .with("reason", reason),
                );
                self.close(out);
            }
        }
    }

    fn outgoing_request(&mut self, out: &mut Outgoing, msg: &SipMessage) {
        let method = msg.method().unwrap_or("");
        if method == "ACK" {
            return;
        }
        let (code, reason) = if method == "BYE" {
            (200, "OK")
        } else {
            (405, "Method Not Allowed")
        };
        let mut buf = vec![0u8; 2048];
        let built = msg
            .with_view(|m| {
                response_to(m, code, reason, None, &mut buf)
                    .and_then(|w| w.finish(b""))
                    .ok()
            })
            .flatten();
        if let Some(len) = built {
            self.sip_out.push(buf[..len].to_vec());
        }
        if method == "BYE" {
            self.closed(out, 200, "OK");
        }
    }

    /// The (Proxy-)Authorization header answering the challenge in `msg`.
    fn credentials(
        &mut self,
        msg: &SipMessage,
        method: &str,
        uri: &str,
        body: &[u8],
    ) -> Option<(&'static str, String)> {
        let (challenge_name, answer_name) = if msg.status() == Some(401) {
            (HeaderName::WwwAuthenticate, "Authorization")
        } else {
            (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
        };
        let values: Vec<&str> = msg.values(challenge_name).collect();
        let challenge = select_challenge(values.iter().copied(), ChallengePreference::Strongest)?;
        let request = DigestRequest { method, uri, body };
        let (user, password) = self.secret();
        let answer = DigestClient::new()
            .respond(
                &challenge,
                &user,
                Secret::Password(&password),
                &request,
                &mut OsRng,
            )
            .ok()?;
        let mut buf = [0u8; 1024];
        let len = answer.emit(&mut buf).ok()?;
        Some((answer_name, String::from_utf8_lossy(&buf[..len]).into_owned()))
    }

    /// An in-dialog request (ACK, BYE) with our dialog's routes.
    fn in_dialog(&self, out: &Outgoing, method: &str, cseq: u32) -> Vec<u8> {
        let local = self.local_address();
        let transport = if self.is_tcp() { "TCP" } else { "UDP" };
        let strict = out.routes.first().is_some_and(|r| !r.contains(";lr"));
        let uri = if strict {
            out.routes.first().map_or(out.remote_target.clone(), |r| {
                r.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or(r)
                    .to_owned()
            })
        } else {
            out.remote_target.clone()
        };
        let mut buf = vec![0u8; 4096];
        let built = (|| -> Result<usize, simple_im_core::sip::BuildError> {
            let mut w = MessageWriter::request(&mut buf, Method::from_token(method), &uri)?;
            w.header_fmt(
                HeaderName::Via,
                format_args!("SIP/2.0/{transport} {local};branch=z9hG4bK{};rport", token(8)),
            )?;
            w.header(HeaderName::MaxForwards, "70")?;
            for route in &out.routes {
                w.header(HeaderName::Route, route)?;
            }
            w.header_fmt(
                HeaderName::From,
                format_args!("<{}>;tag={}", self.aor(), out.local_tag),
            )?;
            w.header_fmt(
                HeaderName::To,
                format_args!("<{}>;tag={}", out.to, out.remote_tag),
            )?;
            w.header(HeaderName::CallId, &out.call_id)?;
            w.header_fmt(HeaderName::CSeq, format_args!("{cseq} {method}"))?;
            w.finish(b"")
        })();
        match built {
            Ok(len) => {
                buf.truncate(len);
                buf
            }
            Err(_) => Vec::new(),
        }
    }

    /// Whether outgoing session `id` still exists (not closed).
    pub fn outgoing_is_open(&self, id: u32) -> bool {
        self.outgoing.contains_key(&id)
    }

    /// Ends outgoing session `id` with BYE (or CANCEL-free give-up while inviting).
    pub fn hang_up(&mut self, id: u32) {
        if let Some(mut out) = self.outgoing.remove(&id) {
            self.close(&mut out);
            if out.state != State::Closed {
                self.outgoing.insert(id, out);
            }
        }
    }

    pub(super) fn close(&mut self, out: &mut Outgoing) {
        match out.state {
            State::Established => {
                out.cseq += 1;
                let bye = self.in_dialog(out, "BYE", out.cseq);
                self.sip_out.push(bye.clone());
                out.bye = Some(bye);
                out.state = State::Closing;
                out.resend_interval = self.t1();
                out.resend_at = Some(Instant::now() + out.resend_interval.max(Duration::from_millis(500)));
                out.give_up_at = Instant::now() + Duration::from_secs(4);
                out.msrp = None;
            }
            State::Inviting if !out.cancelled => {
                // CANCEL; the INVITE's final answer (487, or a 2xx that crossed it and is then
                // ended with BYE) closes the session, or the give-up timer does.
                out.cancelled = true;
                if let Some(cancel) = cancel_for(&out.invite, self.is_tcp()) {
                    self.sip_out.push(cancel);
                }
                out.give_up_at = Instant::now() + Duration::from_secs(4);
            }
            State::Inviting | State::Closing | State::Closed => {}
        }
    }

    fn closed(&mut self, out: &mut Outgoing, status: u16, reason: &str) {
        out.state = State::Closed;
        out.msrp = None;
        self.chats.remove(&out.id);
        self.notes.push_back(
            Note::new("chat_closed")
                .with("chat", out.id)
                .with("status", status)
                .with("reason", reason),
        );
    }

    /// The earliest deadline of the sessions we started.
    pub(super) fn outgoing_deadline(&self) -> Option<Instant> {
        self.outgoing
            .values()
            .flat_map(|o| {
                let msrp = o
                    .msrp
                    .as_ref()
                    .and_then(MsrpSession::poll_timeout)
                    .map(|at| self.instant_of(at));
                [
                    o.resend_at,
                    Some(o.give_up_at).filter(|_| o.state != State::Established),
                    msrp,
                ]
            })
            .flatten()
            .min()
    }

    /// Retransmissions, give-ups and MSRP timers of the sessions we started.
    pub(super) fn outgoing_timeout(&mut self) {
        let now = Instant::now();
        let core_now = self.now();
        let ids: Vec<u32> = self.outgoing.keys().copied().collect();
        for id in ids {
            let Some(mut out) = self.outgoing.remove(&id) else {
                continue;
            };
            if let Some(m) = out.msrp.as_mut() {
                m.handle_timeout(core_now);
            }
            if out.resend_at.is_some_and(|t| t <= now) {
                let again = match out.state {
                    State::Inviting => Some(out.invite.to_vec()),
                    State::Closing => out.bye.clone(),
                    _ => None,
                };
                if let Some(bytes) = again {
                    self.sip_out.push(bytes);
                }
                out.resend_interval = (out.resend_interval * 2).min(Duration::from_secs(4));
                out.resend_at = Some(now + out.resend_interval);
            }
            if out.give_up_at <= now {
                match out.state {
                    State::Inviting if out.cancelled => {
                        self.closed(&mut out, 487, "Request Terminated (cancelled)")
                    }
                    State::Inviting => self.closed(&mut out, 408, "Request Timeout (no answer)"),
                    State::Closing => self.closed(&mut out, 200, "OK (BYE unanswered)"),
                    _ => {}
                }
            }
            self.outgoing_msrp_events(&mut out);
            if out.state == State::Closed {
                self.chats.remove(&id);
            } else {
                self.outgoing.insert(id, out);
            }
        }
    }
}

/// The CANCEL of `invite` (RFC 3261 §9.1): its Request-URI, top Via, From, To, Call-ID and Route,
/// CSeq number with method CANCEL.
fn cancel_for(invite: &Bytes, stream: bool) -> Option<Vec<u8>> {
    let msg = SipMessage::parse(invite.clone(), stream).ok()?;
    let uri = msg.request_uri()?;
    let cseq = msg
        .header(HeaderName::CSeq)?
        .split_whitespace()
        .next()?
        .to_owned();
    let mut buf = vec![0u8; 2048];
    let mut w = MessageWriter::request(&mut buf, Method::Cancel, uri).ok()?;
    w.header(HeaderName::Via, msg.values(HeaderName::Via).next()?)
        .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    for route in msg.values(HeaderName::Route) {
        w.header(HeaderName::Route, route).ok()?;
    }
    w.header(HeaderName::From, msg.header(HeaderName::From)?).ok()?;
    w.header(HeaderName::To, msg.header(HeaderName::To)?).ok()?;
    w.header(HeaderName::CallId, msg.call_id()).ok()?;
    w.header_fmt(HeaderName::CSeq, format_args!("{cseq} CANCEL"))
        .ok()?;
    let len = w.finish(b"").ok()?;
    buf.truncate(len);
    Some(buf)
}
