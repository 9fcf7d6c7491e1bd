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
//! Here: the offer and the INVITE. [`dialog`]: the answers and in-dialog requests; [`teardown`]:
//! closing and timers; [`super::outgoing_msrp`]: the MSRP side (chat lines, Large Message, file).
//!
//! Through an RFC 4976 relay (`--msrp-relay`) or over TLS (`--msrp-tls`) we always connect, so the
//! offer says `a=setup:active` and no listener is opened; instead a socket is bound first and its port
//! named in our URI. With a relay it connects before the offer and authenticates ([`super::relay_auth`]);
//! the relay's Use-Path goes before our URI in `a=path` and before the answerer's path in the To-Path
//! of what we send. With TLS the socket connects once answered; our URI is `msrps:` and the media
//! `TCP/TLS/MSRP`.

mod dialog;
mod teardown;

use super::outgoing_msrp::{FileOffer, Outbox, FILE_TYPE};
use super::session::Session;
use bytes::Bytes;
use simple_im_core::msrp::session::{MessageHandle, Session as MsrpSession};
use simple_im_core::sdp::{self, Connection, MsrpMediaDesc, Origin, SessionDesc};
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
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

pub(super) fn token(bytes: usize) -> String {
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

    pub(super) fn t1(&self) -> Duration {
        if self.is_tcp() {
            Duration::ZERO
        } else {
            Duration::from_millis(500)
        }
    }

    pub(super) fn send_invite(
        &mut self,
        out: &mut Outgoing,
        credentials: Option<(&str, String)>,
    ) -> Result<(), String> {
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
}
