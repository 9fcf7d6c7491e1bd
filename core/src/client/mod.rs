//! The OMA IM Client as one sans-IO machine: registration with digest authentication and refresh,
//! pager-mode IMs in both directions, IMDN delivery and display notifications, and incoming-IM barring
//! published as a service setting.
//!
//! # Run loop (what a runtime does)
//!
//! One UDP socket to the server, one receive buffer, one transmit buffer. The same loop drives the TCP
//! variant with `handle_stream` (which returns how many bytes it consumed) and a chat's MSRP connection
//! with `handle_msrp` / `poll_msrp_transmit`.
//!
//! ```
//! use simple_im_core::client::{Client, ClientConfig, ClientEvent, Destination, TransportKind};
//! use simple_im_core::time::Instant;
//! # struct HwRng; impl simple_im_core::rng::Rng for HwRng { fn fill(&mut self, b: &mut [u8]) { b.fill(7) } }
//! # type Addr = u32;
//! # fn send(_to: Destination<Addr>, _bytes: &[u8]) {}
//! # fn receive(_buf: &mut [u8]) -> Option<(Addr, usize)> { None }
//! # fn clock() -> Instant { Instant::ZERO }
//!
//! let config = ClientConfig::new("im.example.com:5060", TransportKind::Udp, "sip:alice@example.com", "alice", "pw")?;
//! let mut client: Client<HwRng, Addr> = Client::new(config, clock(), HwRng);
//! client.set_local_address("192.0.2.10:5060")?;
//! client.register(clock())?;
//! let (mut rx, mut tx) = ([0u8; 1500], [0u8; 1500]);
//! for _ in 0..3 {
//!     // 1. Drain: bytes to send, then events (their spans index the last input, here `rx`).
//!     while let Some(t) = client.poll_transmit(&mut tx) {
//!         send(t.dest, &tx[..t.len]);
//!     }
//!     while let Some(event) = client.poll_event() {
//!         if let ClientEvent::PagerReceived { from, body, .. } = event {
//!             let (_from, _text) = (from.str_of(&rx), body.of(&rx));
//!         }
//!     }
//!     // 2. Wait for a datagram or for `client.poll_timeout()`, whichever comes first.
//!     match receive(&mut rx) {
//!         Some((from, n)) => client.handle_datagram(clock(), from, &rx[..n]),
//!         None => client.handle_timeout(clock()),
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The machine holds no socket and no clock. Every outgoing request lives in a non-INVITE client
//! transaction (retransmitted on UDP by timer E) whose bytes sit in a `heapless::Vec<u8, REQ>`; every
//! response we send lives in a non-INVITE server transaction, so retransmitted requests get the same
//! answer. Received bodies are never copied: events carry [`Span`]s into the caller's input buffer.
//!
//! # Incoming requests
//!
//! | request | condition | answer | event |
//! |---|---|---|---|
//! | any | fails `sip::check` | 400 with the defect in the reason phrase | `Rejected{400}` |
//! | any | does not parse (no Via/From/...) | none: dropped | `Rejected{0}` |
//! | MESSAGE | incoming IMs barred | 480 Temporarily Unavailable | `IncomingBarred` |
//! | MESSAGE | body > `limits.max_pager_size` | 413 Request Entity Too Large | `Rejected{413}` |
//! | MESSAGE | CPIM with an IMDN payload | 200 | `DeliveryNotification` / `DisplayNotification` |
//! | MESSAGE | otherwise | 200 (+ delivery IMDN when asked) | `PagerReceived` |
//! | OPTIONS | | 200 | |
//! | INVITE, ACK, BYE, CANCEL | session mode (`CHATS > 0`): see the chat table in [`chat`] | | |
//! | INVITE, BYE | no session mode (`CHATS == 0`, e.g. [`PagerClient`]) | 405 + `Allow: MESSAGE, OPTIONS` | |
//! | other | | 405 Method Not Allowed + Allow | |
//!
//! Barring answers 480: RFC 3428 leaves the code to the UA; 480 tells the sender's network the user is
//! not taking IMs now (so a deferred-messaging server may store it), where 403 would suggest a policy.
//!
//! Registration (its state table) is in [`registration`]; pager sending and receiving in [`pager`];
//! IMDN in [`notify`]; the barring setting in [`settings`].

pub mod chat;
pub mod config;
pub mod events;
pub mod notify;
pub mod pager;
pub mod registration;
pub mod settings;
mod wire;

pub use config::{ClientConfig, ConfigError, Limits, StoredSecret, TransportKind};
pub use events::{
    ChatId, ChatMessageId, ClientEvent, Destination, Disposition, MessageHandle, ReceivedHandle, Span,
    Transmit,
};
pub use pager::ImdnRequest;
pub use registration::RegistrationState;

use core::fmt;

use heapless::{Deque, String, Vec};

use crate::log::{debug, warning};
use crate::rng::Rng;
use crate::sip::framer::{frame, Framed};
use crate::sip::transaction::{Event as TxEvent, Output, Reliability, ServerNonInvite, TransactionKey};
use crate::sip::{Header, Message, ParseConfig};
use crate::time::Instant;

use notify::PendingDisplay;
use pager::Outgoing;
use registration::Registration;

/// Default bytes of one outgoing request kept for retransmission (a 1 KiB pager body plus headers).
pub const DEFAULT_REQUEST_CAPACITY: usize = 1400;
/// Default number of outgoing non-REGISTER requests in flight (pagers, IMDNs, PUBLISH).
pub const DEFAULT_OUTGOING_SLOTS: usize = 2;
/// Default number of incoming requests whose answers are kept for retransmissions (UDP: 32 s each).
pub const DEFAULT_SERVER_SLOTS: usize = 3;
/// Largest response the client sends (a 200 to a MESSAGE with long Via/From/To values).
pub const RESPONSE_CAPACITY: usize = 512;
/// Events waiting for `poll_event`; a single input produces at most three.
pub const EVENT_QUEUE_CAPACITY: usize = 8;
/// Stateless answers (400s, 488s) waiting for `poll_transmit`.
pub const STATELESS_QUEUE_CAPACITY: usize = 2;
/// Header slots used to parse one received message (on the stack, during the call).
pub const MAX_HEADERS: usize = 40;
/// Longest local `host:port` used in Via and Contact.
pub const MAX_LOCAL_ADDRESS_LEN: usize = 48;

/// Why a user command was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CommandError {
    /// Every outgoing slot is busy: wait for `PagerSent`/`PagerFailed` and retry.
    Busy,
    /// The request does not fit `REQ` bytes (body too large, or URIs too long).
    TooLarge,
    /// A value contains a line break or is otherwise not writable into a SIP header.
    InvalidValue,
    /// The handle is unknown (already used, or evicted).
    UnknownHandle,
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandError::Busy => {
                "all outgoing request slots are busy; retry after a PagerSent/PagerFailed event"
            }
            CommandError::TooLarge => "the request does not fit the client's request buffer (REQ)",
            CommandError::InvalidValue => "a value contains a line break or cannot go into a SIP header",
            CommandError::UnknownHandle => "unknown handle (already used or evicted)",
        })
    }
}

impl core::error::Error for CommandError {}

/// Why stream bytes could not be framed; the runtime should close the connection and reconnect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamError;

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the SIP stream cannot be framed (bad or oversized Content-Length); reconnect")
    }
}

impl core::error::Error for StreamError {}

pub(crate) struct ServerSlot<A> {
    key: TransactionKey,
    tx: ServerNonInvite<Vec<u8, RESPONSE_CAPACITY>>,
    dest: Destination<A>,
    pending: u8,
}

/// The IM Client. `R` supplies random bytes (branches, tags, Call-IDs, cnonces, Message-IDs); `A` is
/// the runtime's peer address type. `REQ`, `OUT` and `SRV` are the capacities described by
/// [`DEFAULT_REQUEST_CAPACITY`], [`DEFAULT_OUTGOING_SLOTS`] and [`DEFAULT_SERVER_SLOTS`]; `CHATS` is
/// [`chat::DEFAULT_CHAT_SLOTS`] (the config's `max_chat_sessions` may lower it further).
pub struct Client<
    R,
    A,
    const REQ: usize = DEFAULT_REQUEST_CAPACITY,
    const OUT: usize = DEFAULT_OUTGOING_SLOTS,
    const SRV: usize = DEFAULT_SERVER_SLOTS,
    const CHATS: usize = { chat::DEFAULT_CHAT_SLOTS },
> {
    pub(crate) config: ClientConfig,
    pub(crate) rng: R,
    pub(crate) local: String<MAX_LOCAL_ADDRESS_LEN>,
    pub(crate) barred: bool,
    pub(crate) registration: Registration<REQ>,
    pub(crate) outgoing: [Option<Outgoing<REQ>>; OUT],
    pub(crate) servers: [Option<ServerSlot<A>>; SRV],
    pub(crate) stateless: Deque<(Destination<A>, Vec<u8, RESPONSE_CAPACITY>), STATELESS_QUEUE_CAPACITY>,
    pub(crate) events: Deque<ClientEvent, EVENT_QUEUE_CAPACITY>,
    pub(crate) displays: [Option<PendingDisplay>; notify::DISPLAY_SLOTS],
    pub(crate) sent_ids: Deque<(MessageHandle, crate::imdn::MessageId), { notify::SENT_ID_SLOTS }>,
    pub(crate) next_handle: u32,
    pub(crate) chats: [Option<chat::Chat<REQ>>; CHATS],
    pub(crate) publication: Option<settings::Publication>,
    /// Where peers reach our MSRP (host, port) when it is not the local address's host and
    /// `chat::MSRP_PORT` (see [`Client::set_msrp_address`]).
    pub(crate) msrp_address: Option<(String<MAX_LOCAL_ADDRESS_LEN>, u16)>,
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Whether session mode (chats over MSRP) is compiled in: `CHATS > 0`. With no chat slot the
    /// compiler drops the INVITE, SDP and MSRP code (every chat path starts by testing this constant),
    /// and the client answers INVITE and BYE with 405 like any method it does not implement.
    pub const SESSION_MODE: bool = CHATS > 0;

    /// The methods a 405 lists in its Allow header.
    const ALLOW: &'static str = if Self::SESSION_MODE {
        "INVITE, ACK, BYE, MESSAGE, OPTIONS"
    } else {
        "MESSAGE, OPTIONS"
    };

    /// A client for `config`, not yet registered (call [`Client::register`]).
    pub fn new(config: ClientConfig, now: Instant, rng: R) -> Self {
        let _ = now;
        let mut local = String::new();
        let _ = local.push_str("device.invalid");
        let barred = config.incoming_im_barred;
        let mut client = Client {
            config,
            rng,
            local,
            barred,
            registration: Registration::new(),
            outgoing: core::array::from_fn(|_| None),
            servers: core::array::from_fn(|_| None),
            stateless: Deque::new(),
            events: Deque::new(),
            displays: core::array::from_fn(|_| None),
            sent_ids: Deque::new(),
            next_handle: 1,
            chats: core::array::from_fn(|_| None),
            publication: None,
            msrp_address: None,
        };
        client.registration.init(&mut client.rng);
        client
    }

    /// The configuration in use.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sets the `host:port` this device is reachable at (after DHCP), used in Via and Contact.
    pub fn set_local_address(&mut self, host_port: &str) -> Result<(), CommandError> {
        if host_port.bytes().any(|b| b == b'\r' || b == b'\n' || b == b' ') {
            return Err(CommandError::InvalidValue);
        }
        let mut local = String::new();
        local.push_str(host_port).map_err(|_| CommandError::TooLarge)?;
        self.local = local;
        Ok(())
    }

    /// Whether incoming IMs are currently barred.
    pub fn is_barred(&self) -> bool {
        self.barred
    }

    pub(crate) fn reliability(&self) -> Reliability {
        match self.config.transport {
            TransportKind::Udp => Reliability::Unreliable,
            TransportKind::Tcp => Reliability::Reliable,
        }
    }

    pub(crate) fn transport_token(&self) -> &'static str {
        match self.config.transport {
            TransportKind::Udp => "UDP",
            TransportKind::Tcp => "TCP",
        }
    }

    pub(crate) fn push_event(&mut self, event: ClientEvent) {
        if self.events.is_full() {
            warning!("client events were not drained; dropping the oldest");
            let _ = self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    pub(crate) fn new_handle(&mut self) -> u32 {
        let h = self.next_handle;
        self.next_handle = self.next_handle.wrapping_add(1).max(1);
        h
    }

    /// A SIP datagram arrived from `from` (UDP). Spans in the events it produces index `bytes`.
    // Not inlined: inside a runtime's async run loop the whole receive path would share the future's
    // frame, and the register pressure costs ~750 B of Cortex-M code (pager firmware, measured).
    #[inline(never)]
    pub fn handle_datagram(&mut self, now: Instant, from: A, bytes: &[u8]) {
        self.handle_message(now, bytes, bytes, Destination::Peer(from));
    }

    /// Bytes arrived on the TCP connection to the server. Handles every whole message at the front of
    /// `bytes` and returns how many bytes were consumed: the runtime keeps the rest and calls again with
    /// more appended. Spans in the events index `bytes`.
    pub fn handle_stream(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, StreamError> {
        let mut consumed = 0usize;
        loop {
            let rest = bytes.get(consumed..).unwrap_or(&[]);
            if rest.is_empty() {
                return Ok(consumed);
            }
            match frame(rest) {
                Ok(Framed::Complete(n)) => {
                    let one = rest.get(..n).unwrap_or(&[]);
                    self.handle_message(now, bytes, one, Destination::Server);
                    consumed = consumed.saturating_add(n.max(1));
                }
                Ok(Framed::KeepAlive(n)) => consumed = consumed.saturating_add(n.max(1)),
                Ok(Framed::Partial) => return Ok(consumed),
                Err(_) => {
                    self.push_event(ClientEvent::Rejected { status: 0 });
                    return Err(StreamError);
                }
            }
        }
    }

    fn handle_message(&mut self, now: Instant, base: &[u8], bytes: &[u8], reply_to: Destination<A>) {
        let mut slots = [Header::EMPTY; MAX_HEADERS];
        let config = ParseConfig::default();
        let parsed = match reply_to {
            Destination::Server if self.config.transport == TransportKind::Tcp => {
                Message::parse_stream(bytes, &mut slots, &config)
            }
            _ => Message::parse_datagram(bytes, &mut slots, &config),
        };
        let msg = match parsed {
            Ok(msg) => msg,
            Err(e) => {
                debug!("dropping unparseable SIP input: {:?}", e);
                self.push_event(ClientEvent::Rejected { status: 0 });
                return;
            }
        };
        if msg.is_request() {
            self.handle_request(now, base, &msg, reply_to);
        } else {
            self.handle_response(now, &msg);
        }
    }

    fn handle_response(&mut self, now: Instant, msg: &Message<'_, '_>) {
        let Some(Ok(via)) = msg.top_via() else { return };
        let Some(branch) = via.branch else { return };
        let Some(status) = msg.status_code() else { return };
        if Self::SESSION_MODE && self.chat_response(now, branch, status, msg) {
            return;
        }
        if self.registration.owns(branch) {
            self.registration_response(now, status, msg);
            return;
        }
        let slot = self
            .outgoing
            .iter()
            .position(|s| s.as_ref().is_some_and(|o| o.branch.as_str() == branch));
        match slot {
            Some(index) => self.outgoing_response(now, index, status, msg),
            None => debug!("stray response {} dropped", status),
        }
    }

    // Not inlined into `handle_message`, for the same reason: ~420 B smaller (pager firmware, measured).
    #[inline(never)]
    fn handle_request(&mut self, now: Instant, base: &[u8], msg: &Message<'_, '_>, reply_to: Destination<A>) {
        let method = msg.method();
        let is_ack = matches!(method, Some(crate::sip::Method::Ack));
        if let Err(invalid) = crate::sip::check(msg) {
            if is_ack {
                return; // never answered
            }
            let reason = wire::bad_request_reason(&invalid.kind);
            let reason = wire::header_safe(&reason);
            self.respond_stateless(msg, 400, reason, reply_to);
            self.push_event(ClientEvent::Rejected { status: 400 });
            return;
        }
        let Ok(key) = crate::sip::transaction::server_key_for_request(msg) else {
            if is_ack {
                return;
            }
            self.respond_stateless(msg, 400, "Bad Request (Via branch)", reply_to);
            self.push_event(ClientEvent::Rejected { status: 400 });
            return;
        };
        if Self::SESSION_MODE
            && matches!(
                method,
                Some(
                    crate::sip::Method::Invite
                        | crate::sip::Method::Ack
                        | crate::sip::Method::Bye
                        | crate::sip::Method::Cancel
                )
            )
            && self.chat_request(now, base, msg, &key, reply_to)
        {
            return;
        }
        if is_ack {
            return;
        }
        if let Some(slot) = self.servers.iter_mut().flatten().find(|s| s.key == key) {
            slot.tx.handle_request(now);
            Self::pump_server(slot);
            return;
        }
        let (code, reason) = match method {
            Some(crate::sip::Method::Message) => self.receive_message(now, base, msg),
            Some(crate::sip::Method::Options) => (200, "OK"),
            _ => (405, "Method Not Allowed"),
        };
        self.respond_in_transaction(now, msg, key, code, reason, reply_to);
    }

    pub(crate) fn queue_stateless(&mut self, dest: Destination<A>, bytes: Vec<u8, RESPONSE_CAPACITY>) {
        if self.stateless.is_full() {
            let _ = self.stateless.pop_front();
        }
        let _ = self.stateless.push_back((dest, bytes));
    }

    pub(crate) fn respond_stateless(
        &mut self,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
        dest: Destination<A>,
    ) {
        if let Some(bytes) = self.build_response(msg, code, reason) {
            self.queue_stateless(dest, bytes);
        }
    }

    /// A response to `msg` with a fresh To tag, or `None` (logged) when it cannot be built.
    fn build_response(
        &mut self,
        msg: &Message<'_, '_>,
        code: u16,
        reason: &str,
    ) -> Option<Vec<u8, RESPONSE_CAPACITY>> {
        let tag = crate::sip::dialog::generate_tag(&mut self.rng);
        let mut bytes: Vec<u8, RESPONSE_CAPACITY> = Vec::new();
        if wire::response(msg, code, reason, &tag, Self::ALLOW, &mut bytes).is_err() {
            warning!("cannot answer {}: request lacks headers or is too long", code);
            return None;
        }
        Some(bytes)
    }

    pub(crate) fn respond_in_transaction(
        &mut self,
        now: Instant,
        msg: &Message<'_, '_>,
        key: TransactionKey,
        code: u16,
        reason: &str,
        dest: Destination<A>,
    ) {
        let Some(bytes) = self.build_response(msg, code, reason) else {
            return;
        };
        for slot in self.servers.iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|s| s.tx.is_terminated() && s.pending == 0)
            {
                *slot = None;
            }
        }
        let free = self.servers.iter().position(Option::is_none);
        let Some(index) = free else {
            // No room to absorb retransmissions: answer statelessly (a retransmission is answered anew).
            if self.stateless.is_full() {
                let _ = self.stateless.pop_front();
            }
            let _ = self.stateless.push_back((dest, bytes));
            return;
        };
        let mut tx = ServerNonInvite::new(now, self.config.timers(), self.reliability());
        if tx.send_response(now, code, bytes).is_err() {
            return;
        }
        let mut slot = ServerSlot {
            key,
            tx,
            dest,
            pending: 0,
        };
        Self::pump_server(&mut slot);
        if let Some(place) = self.servers.get_mut(index) {
            *place = Some(slot);
        }
    }

    fn pump_server(slot: &mut ServerSlot<A>) {
        while let Some(out) = slot.tx.poll_output() {
            if let Output::Transmit(_) = out {
                slot.pending = slot.pending.saturating_add(1);
            }
        }
    }

    /// A deadline from [`Client::poll_timeout`] has passed.
    // Not inlined into a runtime's run loop: 64 B smaller on the pager firmware (measured).
    #[inline(never)]
    pub fn handle_timeout(&mut self, now: Instant) {
        for slot in self.servers.iter_mut() {
            if let Some(s) = slot {
                s.tx.handle_timeout(now);
                Self::pump_server(s);
                if s.tx.is_terminated() && s.pending == 0 {
                    *slot = None;
                }
            }
        }
        for index in 0..OUT {
            let finished = match self.outgoing.get_mut(index) {
                Some(Some(o)) => {
                    o.tx.handle_timeout(now);
                    o.pump()
                }
                _ => None,
            };
            if let Some(event) = finished {
                self.outgoing_failed(now, index, event);
            }
        }
        self.registration_timeout(now);
        self.publication_timeout(now);
        if Self::SESSION_MODE {
            self.chat_timeout(now);
        }
    }

    /// The next instant at which to call [`Client::handle_timeout`], after a full drain.
    pub fn poll_timeout(&self) -> Option<Instant> {
        // One running minimum instead of a chain of iterators (a few hundred bytes less on a device).
        let mut next = earliest(self.registration.poll_timeout(), self.publication_deadline());
        for s in self.servers.iter().flatten() {
            next = earliest(next, s.tx.poll_timeout());
        }
        for o in self.outgoing.iter().flatten() {
            next = earliest(next, o.tx.poll_timeout());
        }
        for c in self.chats.iter().flatten() {
            next = earliest(next, c.poll_timeout());
        }
        next
    }

    /// The next event for the application. Spans index the input of the call that produced it.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Copies the next message to send into `buf`. A message longer than `buf` is dropped with a
    /// warning (size `buf` at `REQ` bytes at least).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit<A>> {
        loop {
            let (dest, bytes): (Destination<A>, &[u8]) =
                if let Some((dest, bytes)) = self.stateless.pop_front() {
                    let len = bytes.len();
                    return match buf.get_mut(..len) {
                        Some(out) => {
                            out.copy_from_slice(&bytes);
                            Some(Transmit { dest, len })
                        }
                        None => {
                            warning!("transmit buffer too small ({} bytes needed)", len);
                            continue;
                        }
                    };
                } else if let Some(bytes) = self.registration.take_transmit() {
                    (Destination::Server, bytes)
                } else if let Some(bytes) = Self::SESSION_MODE.then(|| self.chat_transmit()).flatten() {
                    (Destination::Server, bytes)
                } else if let Some(o) = self.outgoing.iter_mut().flatten().find(|o| o.pending > 0) {
                    o.pending -= 1;
                    (Destination::Server, o.tx.request().as_slice())
                } else if let Some(s) = self.servers.iter_mut().flatten().find(|s| s.pending > 0) {
                    s.pending -= 1;
                    (s.dest, s.tx.last_response().map_or(&[][..], |v| v.as_slice()))
                } else {
                    return None;
                };
            let len = bytes.len();
            match buf.get_mut(..len) {
                Some(out) => {
                    out.copy_from_slice(bytes);
                    return Some(Transmit { dest, len });
                }
                None => warning!("transmit buffer too small ({} bytes needed)", len),
            }
        }
    }

    pub(crate) fn pump_outgoing(&mut self, now: Instant, index: usize) {
        let finished = match self.outgoing.get_mut(index) {
            Some(Some(o)) => o.pump(),
            _ => None,
        };
        if let Some(event) = finished {
            self.outgoing_failed(now, index, event);
        }
    }

    /// Frees terminated outgoing slots whose bytes were all sent.
    pub(crate) fn reap_outgoing(&mut self) {
        for slot in self.outgoing.iter_mut() {
            if slot
                .as_ref()
                .is_some_and(|o| o.tx.is_terminated() && o.pending == 0)
            {
                *slot = None;
            }
        }
    }

    pub(crate) fn free_outgoing_slot(&mut self) -> Result<usize, CommandError> {
        self.reap_outgoing();
        self.outgoing
            .iter()
            .position(Option::is_none)
            .ok_or(CommandError::Busy)
    }
}

/// What a client transaction reported while pumped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxOutcome {
    /// A final response (already handled by the response path).
    Final(u16),
    /// No answer or a transport error.
    Failed,
}

/// The earlier of two optional deadlines (`None` is "no deadline").
fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

pub(crate) fn classify(event: TxEvent) -> Option<TxOutcome> {
    match event {
        TxEvent::FinalReceived(code) => Some(TxOutcome::Final(code)),
        TxEvent::TimedOut | TxEvent::TransportError => Some(TxOutcome::Failed),
        _ => None,
    }
}

/// The static-RAM budget of the client part on a 64 KiB device (issue 7), met by [`PagerClient`]
/// (registration, pager, IMDN, barring; no session mode). Checked at compile time on every target.
pub const CLIENT_RAM_BUDGET: usize = 16 * 1024;

/// The bound for the default client with one chat session. The chat slot holds an INVITE-sized copy
/// (the peer's INVITE or our ACK), its INVITE transaction, the dialog and an MSRP session with a
/// device's capacities ([`chat::CHAT_MSRP_HEAD_LEN`] and the other `CHAT_MSRP_*` consts), so session
/// mode does not fit [`CLIENT_RAM_BUDGET`]; measured: 21 752 bytes on thumbv7m-none-eabi (10 600
/// without the chat slot), 22 816 bytes on a 64-bit host.
pub const CHAT_CLIENT_RAM_BUDGET: usize = 23 * 1024;

/// The client without session mode: the configuration that meets [`CLIENT_RAM_BUDGET`].
pub type PagerClient<R, A> =
    Client<R, A, DEFAULT_REQUEST_CAPACITY, DEFAULT_OUTGOING_SLOTS, DEFAULT_SERVER_SLOTS, 0>;

struct BudgetRng;
impl Rng for BudgetRng {
    fn fill(&mut self, buf: &mut [u8]) {
        buf.fill(0);
    }
}
// 20 bytes stands for a runtime's socket address type (embassy-net's IpEndpoint is smaller).
const _: () = assert!(core::mem::size_of::<PagerClient<BudgetRng, [u8; 20]>>() <= CLIENT_RAM_BUDGET);
const _: () = assert!(core::mem::size_of::<Client<BudgetRng, [u8; 20]>>() <= CHAT_CLIENT_RAM_BUDGET);
