//! Session mode (OMA IM "IM session", RFC 4975 over an INVITE dialog): chat invitations accepted or
//! declined, invitations sent, text over MSRP, BYE.
//!
//! The device is the **active** MSRP side whenever it can be (it opens the TCP connection): its offers
//! carry `a=setup:active`, and its answers take `active` whenever the offer allows it (`actpass`,
//! `passive`), because a device behind NAT can connect out but rarely accept. A client given an MSRP
//! address ([`Client::set_msrp_address`]) offers `actpass` and takes the role the answer leaves it. The client never opens a socket: it
//! reports [`ClientEvent::ChatConnect`]; the runtime connects to [`Client::chat_peer_address`], then
//! feeds bytes with [`Client::handle_msrp`] and writes what [`Client::poll_msrp_transmit`] returns.
//! Incoming message bodies stream out as [`ClientEvent::ChatBody`] spans into the bytes given to
//! `handle_msrp` (a Large Message is never held whole), closed by [`ClientEvent::ChatMessageEnd`].
//!
//! | state | input | action | next |
//! |---|---|---|---|
//! | - | INVITE with an acceptable MSRP offer | 180, `ChatInvitation` | Invited |
//! | - | INVITE, no free chat slot | 486 Busy Here | - |
//! | - | INVITE, offer unusable (no MSRP, no common type) | 488 Not Acceptable Here | - |
//! | Invited | `accept_chat` | 200 + SDP answer (retransmitted until ACK on UDP), `ChatConnect` | Accepted |
//! | Invited | `decline_chat` | 603 Decline | Closed |
//! | Invited | CANCEL of its INVITE | 200 to the CANCEL, 487 Request Terminated to the INVITE, `ChatClosed{487}` | Closed |
//! | - | CANCEL matching no ringing invitation (answered already, or unknown) | 200 if the chat exists, else 481 | - |
//! | Accepted | ACK | `ChatEstablished` | Active |
//! | Accepted | no ACK within 64*T1 | `ChatClosed{408}` | Closed |
//! | - | `invite_chat` | INVITE with the offer | Inviting |
//! | Inviting | 2xx with a matching answer | ACK, `ChatConnect`, `ChatEstablished` | Active |
//! | Inviting | 2xx with an unusable answer | ACK, BYE, `ChatClosed{488}` | Closed |
//! | Inviting | first 401/407 | ACK, INVITE again with credentials (new branch, CSeq + 1) | Inviting |
//! | Inviting | non-2xx final / timeout | (ACK by the transaction) `ChatClosed{status}` | Closed |
//! | Active | BYE in the dialog | 200, `ChatClosed{200}` | Closed |
//! | Active | `close_chat` | BYE, `ChatClosed{200}` | Closed |
//!
//! IMDN requests in received CPIM lines are answered as the `imdn` module describes.
//!
//! Not done: re-INVITE/UPDATE, CANCEL of our own pending invitation, MSRP over TLS, IMDN requests
//! on the lines the core sends (`send_chat` writes `text/plain`).

mod imdn;
mod incoming;
mod outgoing;
mod session_io;

use core::time::Duration;

use heapless::{Deque, String, Vec};

use super::events::{ChatId, ClientEvent};
use super::{Client, CommandError};
use crate::log::warning;
use crate::msrp::session::{self as msrp, Session as MsrpSession, SessionConfig};
use crate::rng::Rng;
use crate::sdp::{self, Origin};
use crate::sip::dialog::{Dialog, DialogParts, RouteValue, Tag};
use crate::sip::header::NameAddr;
use crate::sip::transaction::{ClientInvite, Output, ServerInvite, ServerRequest, TransactionKey};
use crate::sip::{HeaderName, Message, Method};
use crate::time::Instant;
use crate::write::Decimal;

/// Default number of chat sessions at once.
pub const DEFAULT_CHAT_SLOTS: usize = 1;
/// Bytes of one outgoing chat text kept until MSRP has written it.
pub const CHAT_TEXT_CAPACITY: usize = 256;
/// Outgoing chat texts queued per session.
pub const CHAT_TEXT_QUEUE: usize = 2;
/// Largest SDP body written.
pub const MAX_SDP_LEN: usize = 512;
/// The TCP port put in our SDP (the device never listens: it is always the active side).
pub const MSRP_PORT: u16 = 2855;
/// Media types accepted in a chat.
pub const CHAT_ACCEPT_TYPES: &[&str] = &["message/cpim", "text/plain"];
/// Media types accepted inside CPIM.
pub const CHAT_WRAPPED_TYPES: &[&str] = &["text/plain", "message/imdn+xml"];
pub use imdn::{CHAT_HEADS, CHAT_HEAD_LEN};
/// Longest MSRP header block a chat reads: the bound of the blocks the session writes itself
/// ([`msrp::MIN_TRANSMIT_BUFFER`]: two full paths and the other headers), half the server's.
pub const CHAT_MSRP_HEAD_LEN: usize = msrp::MIN_TRANSMIT_BUFFER;
/// Our MSRP chunks awaiting their responses at once (more wait, nothing is dropped).
pub const CHAT_MSRP_PENDING: usize = 4;
/// MSRP responses and REPORTs queued; `handle_msrp` consumes less input while they wait.
pub const CHAT_MSRP_CONTROL: usize = 4;
/// MSRP events between drains: enough for the worst burst, a lost connection failing every queued
/// message, every pending transaction and every incoming message at once (`handle_msrp` itself
/// consumes less input when the queue is nearly full).
pub const CHAT_MSRP_EVENTS: usize = msrp::MAX_OUTGOING + CHAT_MSRP_PENDING + CHAT_HEADS;
/// Settled messages of ours a late REPORT can still be matched to.
pub const CHAT_MSRP_RECENT: usize = 2;

/// The MSRP session of a chat: the server's machine with a device's capacities (the incoming
/// messages in progress are bounded by [`CHAT_HEADS`], as their IMDN heads are).
pub(crate) type ChatMsrp = MsrpSession<
    CHAT_MSRP_HEAD_LEN,
    CHAT_HEADS,
    CHAT_MSRP_PENDING,
    CHAT_MSRP_CONTROL,
    CHAT_MSRP_EVENTS,
    CHAT_MSRP_RECENT,
>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ChatState {
    Invited,
    Accepted,
    Inviting,
    Active,
    Closed,
}

type Text = Vec<u8, CHAT_TEXT_CAPACITY>;

pub(crate) struct Chat<const REQ: usize> {
    id: u32,
    state: ChatState,
    /// The one SIP message a chat keeps besides its transaction's. Incoming: the peer's INVITE (to
    /// answer it later; CANCELs are matched against it). Outgoing: our ACK to the 2xx once sent (sent
    /// again for each retransmitted 2xx); the transaction holds our INVITE. An incoming chat never
    /// sends an ACK and an outgoing one never holds a peer's INVITE, so one buffer serves both.
    kept: Vec<u8, REQ>,
    server_key: Option<TransactionKey>,
    tx: Option<ChatTx<REQ>>,
    branch: String<32>,
    pending: u8,
    local_tag: Tag,
    dialog: Option<Dialog>,
    retransmit_at: Option<Instant>,
    retransmit_interval: Duration,
    give_up_at: Option<Instant>,
    msrp: Option<ChatMsrp>,
    texts: Deque<(msrp::MessageHandle, Text), CHAT_TEXT_QUEUE>,
    /// Starts of the incoming messages in progress (for their IMDN requests), and the IMs our
    /// notifications being written answer.
    heads: imdn::Heads,
    /// The peer's SDP takes `message/imdn+xml` inside `message/cpim`.
    imdn_in_session: bool,
    /// Our INVITE already carries credentials (a second 401/407 ends the chat).
    authed: bool,
}

/// The INVITE transaction of a chat: ours (we invited) or the peer's (we were invited), never both.
pub(crate) enum ChatTx<const REQ: usize> {
    Server(ServerInvite<Vec<u8, REQ>>),
    Client(ClientInvite<Vec<u8, REQ>>),
}

impl<const REQ: usize> Chat<REQ> {
    fn server_tx(&mut self) -> Option<&mut ServerInvite<Vec<u8, REQ>>> {
        match self.tx.as_mut() {
            Some(ChatTx::Server(t)) => Some(t),
            _ => None,
        }
    }

    fn client_tx(&mut self) -> Option<&mut ClientInvite<Vec<u8, REQ>>> {
        match self.tx.as_mut() {
            Some(ChatTx::Client(t)) => Some(t),
            _ => None,
        }
    }

    /// Whether the INVITE transaction no longer needs the slot (so a retransmitted INVITE is not taken
    /// for a new invitation).
    fn tx_finished(&self) -> bool {
        match self.tx.as_ref() {
            Some(ChatTx::Client(t)) => t.is_terminated(),
            Some(ChatTx::Server(t)) => t.is_terminated(),
            None => true,
        }
    }

    /// The bytes the transaction sends: our INVITE, or the latest response to theirs.
    fn tx_bytes(&self) -> Option<&Vec<u8, REQ>> {
        match self.tx.as_ref()? {
            ChatTx::Client(t) => Some(t.request()),
            ChatTx::Server(t) => t.last_response(),
        }
    }

    /// A copy of our INVITE (to build ACKs and read our offer).
    fn our_invite(&self) -> Vec<u8, REQ> {
        match self.tx.as_ref() {
            Some(ChatTx::Client(t)) => t.request().clone(),
            _ => Vec::new(),
        }
    }

    fn new(id: u32, state: ChatState, tx: ChatTx<REQ>, local_tag: Tag) -> Self {
        Chat {
            id,
            state,
            kept: Vec::new(),
            server_key: None,
            tx: Some(tx),
            branch: String::new(),
            pending: 0,
            local_tag,
            dialog: None,
            retransmit_at: None,
            retransmit_interval: Duration::ZERO,
            give_up_at: None,
            msrp: None,
            texts: Deque::new(),
            heads: Deque::new(),
            imdn_in_session: false,
            authed: false,
        }
    }

    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        let tx = match self.tx.as_ref() {
            Some(ChatTx::Client(t)) => t.poll_timeout(),
            Some(ChatTx::Server(t)) => t.poll_timeout(),
            None => None,
        };
        let m = self.msrp.as_ref().and_then(|m| m.poll_timeout());
        [tx, m, self.retransmit_at, self.give_up_at]
            .into_iter()
            .flatten()
            .min()
    }

    fn matches_dialog(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> bool {
        self.dialog
            .as_ref()
            .is_some_and(|d| d.id().matches(call_id, local_tag, remote_tag))
    }
}

fn sdp_origin<'x>(session_id: &'x str, local: &'x str) -> Origin<'x> {
    Origin {
        username: "-",
        session_id,
        session_version: "1",
        net_type: "IN",
        addr_type: "IP4",
        address: local,
    }
}

/// Appends `pieces` to `out` (text without `core::fmt`); whether all fitted (`out` keeps what did).
fn push_pieces<const N: usize>(out: &mut String<N>, pieces: &[&str]) -> bool {
    pieces.iter().all(|piece| out.push_str(piece).is_ok())
}

fn host_of(local: &str) -> &str {
    local.rsplit_once(':').map_or(local, |(h, _)| h)
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    pub(super) fn chat_index(&self, chat: ChatId) -> Option<usize> {
        self.chats
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.id == chat.0))
    }

    /// Sets the `host:port` peers reach this client's MSRP at, put in its MSRP URIs and SDP (default:
    /// the local address's host and [`MSRP_PORT`]). For a client whose SIP and MSRP are reached at
    /// different addresses, e.g. a test peer behind QEMU's user network. A client with an MSRP address
    /// can take connections, so its offers say `a=setup:actpass` (the answerer picks) instead of
    /// `active`.
    pub fn set_msrp_address(&mut self, host_port: &str) -> Result<(), CommandError> {
        let (host, port) = host_port.rsplit_once(':').ok_or(CommandError::InvalidValue)?;
        let port: u16 = port.parse().map_err(|_| CommandError::InvalidValue)?;
        if host.is_empty() || host.bytes().any(|b| matches!(b, b'\r' | b'\n' | b' ' | b'/')) {
            return Err(CommandError::InvalidValue);
        }
        let mut owned = String::new();
        owned.push_str(host).map_err(|_| CommandError::TooLarge)?;
        self.msrp_address = Some((owned, port));
        Ok(())
    }

    /// Our MSRP host and port (see [`Client::set_msrp_address`]).
    pub(super) fn msrp_endpoint(&self) -> (String<{ crate::client::MAX_LOCAL_ADDRESS_LEN }>, u16) {
        match &self.msrp_address {
            Some((host, port)) => (host.clone(), *port),
            None => {
                let mut host = String::new();
                let _ = host.push_str(host_of(self.local.as_str()));
                (host, MSRP_PORT)
            }
        }
    }

    pub(super) fn new_local_msrp_uri(&mut self) -> String<{ msrp::MAX_URI_LEN }> {
        let mut id = [0u8; 12];
        crate::msrp::id::fill_base32(&mut self.rng, &mut id);
        let (host, port) = self.msrp_endpoint();
        let port = Decimal::new(u64::from(port));
        let id = core::str::from_utf8(&id).unwrap_or("s");
        let mut uri = String::new();
        let _ = push_pieces(
            &mut uri,
            &["msrp://", host.as_str(), ":", port.as_str(), "/", id, ";tcp"],
        );
        uri
    }

    pub(super) fn free_chat_slot(&mut self) -> Option<usize> {
        for slot in self.chats.iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|c| c.state == ChatState::Closed && c.pending == 0 && c.tx_finished())
            {
                *slot = None;
            }
        }
        let limit = usize::from(self.config.limits.max_chat_sessions);
        if self.chats.iter().flatten().count() >= limit {
            return None;
        }
        self.chats.iter().position(Option::is_none)
    }

    /// An INVITE or a retransmission of one, or an ACK/BYE in a chat dialog. `true` when handled here.
    pub(crate) fn chat_request(
        &mut self,
        now: Instant,
        base: &[u8],
        msg: &Message<'_, '_>,
        key: &TransactionKey,
        reply_to: super::Destination<A>,
    ) -> bool {
        let method = msg.method();
        if let Some(chat) = self
            .chats
            .iter_mut()
            .flatten()
            .find(|c| c.server_key.as_ref() == Some(key))
        {
            // The key counts ACK as INVITE: an ACK here acknowledges our non-2xx final response.
            let request = if matches!(method, Some(Method::Ack)) {
                ServerRequest::Ack
            } else {
                ServerRequest::Retransmission
            };
            if let Some(tx) = chat.server_tx() {
                tx.handle_request(now, request);
                pump_server_invite(chat);
            }
            return true;
        }
        let (Some(call_id), Some(Ok(from)), Some(Ok(to))) = (msg.call_id(), msg.from(), msg.to()) else {
            return false;
        };
        let (from_tag, to_tag) = (from.tag().unwrap_or(""), to.tag().unwrap_or(""));
        let dialog_index = self.chats.iter().position(|c| {
            c.as_ref()
                .is_some_and(|c| c.matches_dialog(call_id, to_tag, from_tag))
        });
        match (method, dialog_index) {
            (Some(Method::Ack), Some(i)) => {
                if let Some(Some(chat)) = self.chats.get_mut(i) {
                    if chat.state == ChatState::Accepted {
                        chat.state = ChatState::Active;
                        chat.retransmit_at = None;
                        chat.give_up_at = None;
                        if let Some(tx) = chat.server_tx() {
                            tx.handle_request(now, ServerRequest::Ack);
                        }
                        let id = ChatId(chat.id);
                        self.push_event(ClientEvent::ChatEstablished { chat: id });
                    }
                }
                true
            }
            (Some(Method::Bye), Some(i)) => {
                let mut id = 0;
                if let Some(Some(chat)) = self.chats.get_mut(i) {
                    id = chat.id;
                    // The peer ended the dialog: `end_chat` must not send a BYE of ours.
                    chat.state = ChatState::Closed;
                }
                self.end_chat(now, i);
                self.respond_in_transaction(now, msg, key.clone(), 200, "OK", reply_to);
                self.push_event(ClientEvent::ChatClosed {
                    chat: ChatId(id),
                    status: 200,
                });
                true
            }
            (Some(Method::Bye), None) => {
                self.respond_in_transaction(
                    now,
                    msg,
                    key.clone(),
                    481,
                    "Call/Transaction Does Not Exist",
                    reply_to,
                );
                true
            }
            (Some(Method::Invite), _) => {
                self.incoming_invite(now, base, msg, key, reply_to);
                true
            }
            (Some(Method::Cancel), _) => {
                self.incoming_cancel(now, msg, key, reply_to);
                true
            }
            _ => false,
        }
    }

    /// Ends the chat with BYE.
    pub fn close_chat(&mut self, now: Instant, chat: ChatId) -> Result<(), CommandError> {
        if !Self::SESSION_MODE {
            return Err(CommandError::UnknownHandle);
        }
        let index = self.chat_index(chat).ok_or(CommandError::UnknownHandle)?;
        self.end_chat(now, index);
        self.push_event(ClientEvent::ChatClosed { chat, status: 200 });
        Ok(())
    }

    /// Sends BYE if a dialog exists and marks the chat closed.
    pub(super) fn end_chat(&mut self, now: Instant, index: usize) {
        while let Some((kind, head)) = self
            .chats
            .get_mut(index)
            .and_then(Option::as_mut)
            .and_then(Chat::take_any_notice)
        {
            self.notice_by_pager(now, kind, &head);
        }
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return;
        };
        let was_remote_bye = c.state == ChatState::Closed;
        c.state = ChatState::Closed;
        c.msrp = None;
        c.texts.clear();
        c.heads.clear();
        c.retransmit_at = None;
        c.give_up_at = None;
        let Some(mut dialog) = c.dialog.take() else { return };
        if was_remote_bye {
            return;
        }
        let Ok(cseq) = dialog.next_local_cseq() else {
            return;
        };
        let Ok(target) = dialog.request_target() else {
            return;
        };
        // The dialog was taken out of the slot, so its strings are passed as they are (no copies).
        let mut bracketed: String<{ crate::sip::dialog::MAX_URI_LEN + 2 }> = String::new();
        for route in target.routes() {
            if let RouteValue::RemoteTarget(uri) = route {
                let _ = push_pieces(&mut bracketed, &["<", uri, ">"]);
            }
        }
        let route_refs: Vec<(HeaderName<'static>, &str), 4> = target
            .routes()
            .take(4)
            .map(|route| match route {
                RouteValue::Entry(value) => (HeaderName::Route, value),
                RouteValue::RemoteTarget(_) => (HeaderName::Route, bracketed.as_str()),
            })
            .collect();
        let id = dialog.id();
        if let Err(e) = self.send_in_dialog(
            now,
            target.request_uri.as_str(),
            dialog.remote_uri(),
            id.remote_tag(),
            id.local_tag(),
            id.call_id(),
            cseq,
            &route_refs,
        ) {
            warning!("BYE not sent: {:?}", e);
        }
    }

    /// Chat timers: the INVITE transactions, 2xx retransmission, MSRP.
    pub(crate) fn chat_timeout(&mut self, now: Instant) {
        let t2 = self.config.timers().t2;
        for index in 0..self.chats.len() {
            let mut expired = None;
            let mut resend_ok = false;
            if let Some(Some(c)) = self.chats.get_mut(index) {
                if let Some(tx) = c.server_tx() {
                    tx.handle_timeout(now);
                }
                pump_server_invite(c);
                let mut failed = false;
                if let Some(tx) = c.client_tx() {
                    tx.handle_timeout(now);
                    failed = c.state == ChatState::Inviting && pump_client_invite_failed(c);
                }
                if failed {
                    c.state = ChatState::Closed;
                    expired = Some((c.id, 408));
                }
                if let Some(m) = c.msrp.as_mut() {
                    m.handle_timeout(now);
                }
                if c.retransmit_at.is_some_and(|t| t <= now) {
                    c.retransmit_interval = (c.retransmit_interval * 2).min(t2);
                    c.retransmit_at = Some(now + c.retransmit_interval);
                    resend_ok = true;
                }
                if c.give_up_at.is_some_and(|t| t <= now) && c.state == ChatState::Accepted {
                    expired = Some((c.id, 408));
                }
                if resend_ok {
                    if let Some(tx) = c.server_tx() {
                        if let Some(last) = tx.last_response().cloned() {
                            let _ = tx.send_response(now, 200, last);
                        }
                    }
                    pump_server_invite(c);
                }
            }
            self.drain_msrp_events(now, index);
            if let Some((id, status)) = expired {
                self.end_chat(now, index);
                self.push_event(ClientEvent::ChatClosed {
                    chat: ChatId(id),
                    status,
                });
            }
        }
    }

    pub(crate) fn chat_transmit(&mut self) -> Option<&[u8]> {
        let c = self.chats.iter_mut().flatten().find(|c| c.pending > 0)?;
        c.pending -= 1;
        c.tx_bytes().map(|v| v.as_slice())
    }
}

/// Copies bytes it was seeded with (so one draw from the client's RNG can feed several consumers).
struct SliceRng<'s>(&'s [u8]);
impl Rng for SliceRng<'_> {
    fn fill(&mut self, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.0.get(i % self.0.len().max(1)).copied().unwrap_or(0) ^ (i as u8);
        }
    }
}

fn session_config() -> SessionConfig {
    SessionConfig {
        accept_types: CHAT_ACCEPT_TYPES,
        ..SessionConfig::default()
    }
}

fn msrp_path_of(desc: &sdp::Session<'_>, media_index: usize) -> String<{ msrp::MAX_PATH_LEN }> {
    let mut path = String::new();
    if let Some(m) = desc.media().nth(media_index) {
        for (i, uri) in m.path().enumerate() {
            if i > 0 {
                let _ = path.push(' ');
            }
            let _ = path.push_str(uri);
        }
    }
    path
}

fn dialog_parts_of<'a>(msg: &Message<'_, 'a>) -> Option<DialogParts<'a>> {
    let from = msg.from()?.ok()?;
    let to = msg.to()?.ok()?;
    let contact = msg
        .header(HeaderName::Contact)
        .and_then(|c| NameAddr::parse(c).ok())
        .map(|c| c.uri_text);
    Some(DialogParts {
        call_id: msg.call_id()?,
        from_uri: from.uri_text,
        from_tag: from.tag().unwrap_or(""),
        to_uri: to.uri_text,
        to_tag: to.tag().unwrap_or(""),
        contact,
        record_route: &[],
        cseq: msg.cseq()?.ok()?.seq,
    })
}

/// Drains the chat's INVITE transaction: counts transmissions; reports whether it asks for an ACK to a
/// non-2xx and whether it failed (timeout, transport error).
fn pump_invite<const REQ: usize>(c: &mut Chat<REQ>) -> (bool, bool) {
    let (mut sends, mut ack, mut failed) = (0u8, false, false);
    let mut note = |out: Output<'_>| match out {
        Output::Transmit(_) => sends = sends.saturating_add(1),
        Output::SendAck { .. } => ack = true,
        Output::Event(
            crate::sip::transaction::Event::TimedOut | crate::sip::transaction::Event::TransportError,
        ) => failed = true,
        Output::Event(_) => {}
    };
    match c.tx.as_mut() {
        Some(ChatTx::Server(tx)) => {
            while let Some(out) = tx.poll_output() {
                note(out);
            }
        }
        Some(ChatTx::Client(tx)) => {
            while let Some(out) = tx.poll_output() {
                note(out);
            }
        }
        None => {}
    }
    c.pending = c.pending.saturating_add(sends);
    (ack, failed)
}

fn pump_server_invite<const REQ: usize>(c: &mut Chat<REQ>) {
    let _ = pump_invite(c);
}

fn pump_client_invite<const REQ: usize>(c: &mut Chat<REQ>) -> bool {
    pump_invite(c).0
}

fn pump_client_invite_failed<const REQ: usize>(c: &mut Chat<REQ>) -> bool {
    pump_invite(c).1
}
