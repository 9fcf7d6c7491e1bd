//! One MSRP session endpoint as a sans-IO machine (RFC 4975 §5-7, RFC 6135, RFC 6714), and the relay
//! machine of RFC 4976 ([`relay`]).
//!
//! The session owns the byte stream of one connection: bytes read from the connection go into
//! [`Session::handle_input`], bytes to write come out of [`Session::poll_transmit`]. Message bodies
//! never sit inside the machine: outgoing bodies are pulled from a [`BodySource`] while a chunk is being
//! written, incoming body bytes are pushed into a [`BodySink`] with their offset in the message, so
//! the caller can stream a file of any size through a small buffer. Everything else the application
//! needs comes out of [`Session::poll_event`].
//!
//! ## Connection role (RFC 6135)
//!
//! | `a=setup` | role | first move |
//! |---|---|---|
//! | active | [`Setup::Active`] | connect, then send a SEND at once (bodiless when nothing is queued) to bind the connection |
//! | passive | [`Setup::Passive`] | accept; the first valid request binds the connection ([`Event::Bound`]) |
//!
//! ## Receiving a request (RFC 4975 §7.3, §7.3.1, §10)
//!
//! | condition (checked in this order) | response code |
//! |---|---|
//! | REPORT | none, ever (§7.1.2) |
//! | To-Path session-id is not this session's | 481 |
//! | To-Path session-id matches, URI differs (strict matching, not RFC 6714) | 403 |
//! | method other than SEND and REPORT | 501 |
//! | (new connection, [`Session::claim`]) session already bound to another connection | 506 (written by the demultiplexer) |
//! | Message-ID missing, Byte-Range or report headers malformed | 400 |
//! | total or received bytes beyond `max_message_size`, reassembly table full or too fragmented | 413 |
//! | Content-Type not in `accept_types` | 415 |
//! | otherwise | 200 |
//!
//! Whether the code is sent depends on Failure-Report (§7.1.4, §7.2):
//!
//! | Failure-Report | 200 | error code |
//! |---|---|---|
//! | yes (or absent) | sent | sent |
//! | partial | not sent | sent |
//! | no | not sent | not sent |
//!
//! A success REPORT (`Status: 000 200`) covering the whole message is sent when all its bytes are
//! covered and Success-Report was `yes` (§7.1.3).
//!
//! ## Sending (RFC 4975 §5.1, §7.1.1)
//!
//! | Failure-Report of the message | sender keeps the transaction | timer | on error response | on timeout |
//! |---|---|---|---|---|
//! | yes | yes | `transaction_timeout` (30 s) | [`Event::SendFailed`], message stopped | [`Event::SendFailed`] ([`Failure::Timeout`]) |
//! | partial | yes | none | [`Event::SendFailed`], message stopped | - |
//! | no | no | none | - | - |
//!
//! A 408 response counts as a timeout (§10.4). A failure REPORT is handled like an error response. A
//! success REPORT yields [`Event::Delivered`] for its byte range. A lost connection fails every
//! transaction and message in flight ([`Session::connection_lost`], §5.4).
//!
//! Chunks carry at most `chunk_size` body bytes. A chunk that fits in the caller's buffer gets an exact
//! Byte-Range; a longer one is announced as `start-*/total` and may be interrupted (ended with `+`) when
//! a response, a REPORT or another message is waiting; the message then goes on in a new chunk whose
//! Byte-Range starts where the interrupted one stopped.

mod ranges;
mod receiver;
pub mod relay;
mod sender;

use crate::ascii_trim::TrimAsciiWs;
use core::fmt;
use core::time::Duration;

use heapless::{Deque, String, Vec};

use super::id::fill_base32;
use super::uri::{MsrpUri, Path, UriError};
use super::wire::{ChunkReader, ReportRequest, DEFAULT_MAX_HEAD_LEN, MAX_TRANSACTION_ID_LEN};
use crate::rng::Rng;
use crate::time::Instant;

pub use ranges::{RangeSet, TooFragmented, MAX_RANGES};
pub use receiver::Claim;
pub use relay::{ConnectionId, Relay};

/// Longest MSRP URI kept (the session's own URI, path entries). Real URIs are 40-80 bytes.
pub const MAX_URI_LEN: usize = 128;
/// Longest path kept (the remote path: up to two relays and the peer).
pub const MAX_PATH_LEN: usize = 3 * MAX_URI_LEN;
/// Longest Message-ID kept (`ident` allows 32 characters).
pub const MAX_MESSAGE_ID_LEN: usize = 32;
/// Longest Content-Type kept.
pub const MAX_CONTENT_TYPE_LEN: usize = 64;
/// Outgoing messages queued or awaiting reports at once.
pub const MAX_OUTGOING: usize = 4;
/// Outgoing transactions awaiting a response at once; new chunks wait while the table is full.
pub const MAX_PENDING: usize = 8;
/// Incoming messages being reassembled at once.
pub const MAX_INCOMING: usize = 4;
/// Settled outgoing messages remembered so that late REPORTs (a relay's failure REPORT arrives after
/// the hop-by-hop 200) can still be matched to them.
pub const MAX_RECENT: usize = 8;
/// Responses and REPORTs queued for sending.
pub const MAX_CONTROL: usize = 8;
/// Events queued for the application between drains.
pub const MAX_EVENTS: usize = 16;
/// Smallest buffer [`Session::poll_transmit`] can work with: a full request header block plus the
/// end-line of a chunk must fit.
pub const MIN_TRANSMIT_BUFFER: usize = 2 * MAX_PATH_LEN + 256;

/// A Message-ID as kept by the session.
pub type MessageId = String<MAX_MESSAGE_ID_LEN>;
/// A Content-Type as kept by the session.
pub type ContentType = String<MAX_CONTENT_TYPE_LEN>;

/// The connection role negotiated with `a=setup` (RFC 6135; `actpass` is resolved by the SDP layer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Setup {
    /// This endpoint opens the connection and must send the first SEND.
    Active,
    /// This endpoint accepts the connection and waits for the first request.
    Passive,
}

/// Tunables of a session.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Largest body of one outgoing chunk (RFC 4975 suggests chunking above 2048 bytes).
    pub chunk_size: u32,
    /// How long to wait for a transaction response when Failure-Report is `yes` (§7.1.1: 30 s).
    pub transaction_timeout: Duration,
    /// Largest incoming message accepted (`a=max-size`), or `None` for no limit.
    pub max_message_size: Option<u64>,
    /// RFC 6714: match incoming requests to the session by session-id only (ALGs rewrite authorities).
    pub match_session_id_only: bool,
    /// Accepted incoming media types (`a=accept-types`, `*` allowed); empty accepts everything.
    pub accept_types: &'static [&'static str],
    /// Success-Report for outgoing messages.
    pub success_report: bool,
    /// Failure-Report for outgoing messages.
    pub failure_report: ReportRequest,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            chunk_size: 2048,
            transaction_timeout: Duration::from_secs(30),
            max_message_size: None,
            match_session_id_only: false,
            accept_types: &[],
            success_report: false,
            failure_report: ReportRequest::Yes,
        }
    }
}

/// Identifies an outgoing message in events and [`BodySource`] calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MessageHandle(pub u32);

/// Why an outgoing message (or part of it) failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Failure {
    /// The next hop answered a chunk with this error code.
    Response(u16),
    /// A failure REPORT with this status code arrived.
    Report(u16),
    /// No response within the transaction timeout (or a 408).
    Timeout,
    /// The connection was lost before the transaction completed.
    ConnectionLost,
    /// The body source ended before the announced total.
    SourceEnded,
}

/// Why an incoming message was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AbortReason {
    /// The sender ended a chunk with `#`.
    BySender,
    /// Larger than `max_message_size` (413 sent).
    TooLarge,
    /// More disjoint byte ranges than [`MAX_RANGES`] (413 sent).
    TooFragmented,
    /// The connection was lost before every byte arrived.
    ConnectionLost,
}

/// What the session reports to the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The connection is bound to the session (passive side: first valid request; active side: first
    /// SEND written).
    Bound,
    /// The first chunk of a new incoming message arrived; body bytes follow through the [`BodySink`].
    IncomingMessage {
        /// Its Message-ID.
        id: MessageId,
        /// Its Content-Type (truncated if longer than [`MAX_CONTENT_TYPE_LEN`]).
        content_type: ContentType,
        /// Its total length, when announced.
        total: Option<u64>,
    },
    /// Every byte of an incoming message has been delivered to the sink.
    MessageReceived {
        /// Its Message-ID.
        id: MessageId,
        /// Its length.
        len: u64,
    },
    /// An incoming message will not complete.
    MessageAborted {
        /// Its Message-ID.
        id: MessageId,
        /// Why.
        reason: AbortReason,
    },
    /// The last byte of an outgoing message was handed to the transport.
    Sent {
        /// The message.
        message: MessageHandle,
    },
    /// A success REPORT covered these bytes (1-based, inclusive) of an outgoing message.
    Delivered {
        /// The message.
        message: MessageHandle,
        /// First byte reported.
        start: u64,
        /// Last byte reported.
        end: u64,
    },
    /// Part of an outgoing message failed; no further chunks of it are sent.
    SendFailed {
        /// The message.
        message: MessageHandle,
        /// Why.
        failure: Failure,
        /// First byte of the failed range (1-based).
        start: u64,
        /// Last byte of the failed range, when known.
        end: Option<u64>,
    },
}

/// Where outgoing body bytes come from.
pub trait BodySource {
    /// Copies bytes of `message` starting at the 0-based `offset` into `buf`. Fewer bytes than asked
    /// (even none) are fine; `end` says the message has no bytes after these.
    fn read(&mut self, message: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead;
}

/// The outcome of [`BodySource::read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyRead {
    /// Bytes copied.
    pub len: usize,
    /// Whether the message ends after them.
    pub end: bool,
}

/// Where incoming body bytes go.
pub trait BodySink {
    /// `bytes` belong at the 0-based `offset` of message `id`. A later chunk may overwrite a range
    /// (RFC 4975 §7.3.1: the last chunk received takes precedence).
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]);
}

/// Why a session cannot be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionError {
    /// The local URI or a remote path URI does not parse.
    BadUri(UriError),
    /// The local URI has no session-id, so requests cannot be matched to the session.
    LocalUriWithoutSessionId,
    /// A URI or path is longer than [`MAX_URI_LEN`] / [`MAX_PATH_LEN`].
    TooLong,
    /// The remote path is empty.
    EmptyRemotePath,
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::BadUri(e) => write!(f, "session path holds an invalid MSRP URI: {}", e),
            SessionError::LocalUriWithoutSessionId => f.write_str("the local MSRP URI needs a session-id"),
            SessionError::TooLong => f.write_str("an MSRP URI or path exceeds MAX_URI_LEN / MAX_PATH_LEN"),
            SessionError::EmptyRemotePath => f.write_str("the remote a=path is empty"),
        }
    }
}

/// Why a message cannot be queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// [`MAX_OUTGOING`] messages are already queued or awaiting reports.
    QueueFull,
    /// The Content-Type is empty or longer than [`MAX_CONTENT_TYPE_LEN`].
    BadContentType,
    /// The session failed (connection lost or 481); negotiate a new one.
    SessionFailed,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::QueueFull => {
                "MSRP outgoing queue is full (MAX_OUTGOING); wait for Sent/Delivered events"
            }
            SendError::BadContentType => "Content-Type must be 1 to MAX_CONTENT_TYPE_LEN characters",
            SendError::SessionFailed => "MSRP session has failed; set up a new session",
        })
    }
}

/// A reply waiting to be written.
#[derive(Clone, Debug)]
enum Control {
    Response {
        tid: String<MAX_TRANSACTION_ID_LEN>,
        code: u16,
    },
    Report {
        message_id: MessageId,
        start: u64,
        end: u64,
        total: u64,
        code: u16,
    },
}

/// One MSRP session endpoint. See the module docs for the behaviour tables.
///
/// The capacities are const generics whose defaults are the `MAX_*` consts above (the server and the
/// host client use those). A small device with one chat picks smaller ones through
/// [`Session::with_capacities`]; every bound still behaves as its `MAX_*` const documents:
///
/// | parameter | default | bounds |
/// |---|---|---|
/// | `HEAD` | [`DEFAULT_MAX_HEAD_LEN`] | header block of one incoming request or response (longer: [`FrameError`](super::wire::FrameError)) |
/// | `INCOMING` | [`MAX_INCOMING`] | incoming messages reassembled at once (more: 413) |
/// | `PENDING` | [`MAX_PENDING`] | outgoing transactions awaiting a response (more: new chunks wait) |
/// | `CONTROL` | [`MAX_CONTROL`] | responses and REPORTs queued (nearly full: `handle_input` stops early) |
/// | `EVENTS` | [`MAX_EVENTS`] | events between drains (nearly full: `handle_input` stops early) |
/// | `RECENT` | [`MAX_RECENT`] | settled messages late REPORTs are matched to |
///
/// `CONTROL` must be at least 2 and `EVENTS` at least 3, the room one request may need.
pub struct Session<
    const HEAD: usize = DEFAULT_MAX_HEAD_LEN,
    const INCOMING: usize = MAX_INCOMING,
    const PENDING: usize = MAX_PENDING,
    const CONTROL: usize = MAX_CONTROL,
    const EVENTS: usize = MAX_EVENTS,
    const RECENT: usize = MAX_RECENT,
> {
    config: SessionConfig,
    local_uri: String<MAX_URI_LEN>,
    remote_path: String<MAX_PATH_LEN>,
    setup: Setup,
    bound: bool,
    bind_pending: bool,
    failed: bool,
    reader: ChunkReader<HEAD>,
    inbound: receiver::Inbound,
    incoming: Vec<receiver::Incoming, INCOMING>,
    outgoing: Vec<sender::Outgoing, MAX_OUTGOING>,
    current: Option<sender::ChunkOut>,
    pending: Vec<sender::PendingTransaction, PENDING>,
    control: Deque<Control, CONTROL>,
    events: Deque<Event, EVENTS>,
    id_prefix: [u8; 6],
    counter: u32,
    last_served: Option<MessageHandle>,
    recent: Deque<(MessageHandle, MessageId), RECENT>,
    next_handle: u32,
}

fn copy_str<const N: usize>(s: &str) -> Result<String<N>, SessionError> {
    let mut out = String::new();
    out.push_str(s).map_err(|_| SessionError::TooLong)?;
    Ok(out)
}

/// Copies as much of `s` as fits (for values that are informative only).
fn truncated<const N: usize>(s: &str) -> String<N> {
    let mut out = String::new();
    for c in s.chars() {
        if out.push(c).is_err() {
            break;
        }
    }
    out
}

impl Session {
    /// A session whose own URI is `local_uri` (as put in `a=path`) and whose peer's `a=path` is
    /// `remote_path` (space-separated URIs: relays first, the peer last). `ids` seeds the
    /// transaction-id and Message-ID prefixes.
    pub fn new(
        config: SessionConfig,
        local_uri: &str,
        remote_path: &str,
        setup: Setup,
        ids: &mut impl Rng,
    ) -> Result<Self, SessionError> {
        Self::with_capacities(config, local_uri, remote_path, setup, ids)
    }
}

impl<
        const HEAD: usize,
        const INCOMING: usize,
        const PENDING: usize,
        const CONTROL: usize,
        const EVENTS: usize,
        const RECENT: usize,
    > Session<HEAD, INCOMING, PENDING, CONTROL, EVENTS, RECENT>
{
    const ROOM_CHECK: () = assert!(
        CONTROL >= 2 && EVENTS >= 3,
        "a request needs 2 control and 3 event slots"
    );

    /// [`Session::new`] for a session with the capacities of its type (see [`Session`]).
    pub fn with_capacities(
        config: SessionConfig,
        local_uri: &str,
        remote_path: &str,
        setup: Setup,
        ids: &mut impl Rng,
    ) -> Result<Self, SessionError> {
        #[allow(clippy::let_unit_value)]
        let () = Self::ROOM_CHECK;
        let local = MsrpUri::parse(local_uri).map_err(SessionError::BadUri)?;
        if local.session_id.is_none() {
            return Err(SessionError::LocalUriWithoutSessionId);
        }
        let path = Path(remote_path);
        if path.is_empty() {
            return Err(SessionError::EmptyRemotePath);
        }
        for uri in path.uris() {
            uri.map_err(SessionError::BadUri)?;
        }
        let mut id_prefix = [0u8; 6];
        fill_base32(ids, &mut id_prefix);
        Ok(Session {
            config,
            local_uri: copy_str(local_uri)?,
            remote_path: copy_str(remote_path.trim_ws())?,
            setup,
            bound: false,
            bind_pending: setup == Setup::Active,
            failed: false,
            reader: ChunkReader::new(),
            inbound: receiver::Inbound::Idle,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            current: None,
            pending: Vec::new(),
            control: Deque::new(),
            events: Deque::new(),
            id_prefix,
            counter: 0,
            last_served: None,
            recent: Deque::new(),
            next_handle: 1,
        })
    }

    /// The session's own URI.
    pub fn local_uri(&self) -> &str {
        &self.local_uri
    }

    /// The peer's path.
    pub fn remote_path(&self) -> &str {
        &self.remote_path
    }

    /// Whether the connection is bound to the session.
    pub fn is_bound(&self) -> bool {
        self.bound
    }

    /// Whether the session failed (connection lost or 481 from the peer).
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next deadline (a transaction timer), meaningful after a full drain.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.iter().filter_map(|p| p.deadline).min()
    }

    /// Fires the transaction timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(i) = self
            .pending
            .iter()
            .position(|p| p.deadline.is_some_and(|d| d <= now))
        {
            let txn = self.pending.swap_remove(i);
            self.fail_message(txn.message, Failure::Timeout, txn.start, Some(txn.end));
        }
    }

    /// The connection broke: every transaction and unfinished message fails (RFC 4975 §5.4). The
    /// session cannot be used again.
    pub fn connection_lost(&mut self, _now: Instant) {
        self.fail_all(Failure::ConnectionLost);
        while let Some(incoming) = self.incoming.pop() {
            self.push_event(Event::MessageAborted {
                id: incoming.id,
                reason: AbortReason::ConnectionLost,
            });
        }
    }

    /// The session is over: every byte not yet acknowledged fails with `failure`.
    fn fail_all(&mut self, failure: Failure) {
        // The unsent rest of each message, including the chunk being written when the session ended.
        let current = self.current.take();
        for i in 0..self.outgoing.len() {
            let Some(out) = self.outgoing.get(i) else { break };
            if out.finished() || out.failure_report == ReportRequest::No {
                continue;
            }
            let start = match &current {
                Some(c) if c.handle() == out.handle => c.start_offset() + 1,
                _ => out.next_offset + 1,
            };
            let event = Event::SendFailed {
                message: out.handle,
                failure,
                start,
                end: out.total,
            };
            self.push_event(event);
        }
        while let Some(txn) = self.pending.pop() {
            self.fail_message(txn.message, failure, txn.start, Some(txn.end));
        }
        self.outgoing.clear();
        self.control.clear();
        self.failed = true;
    }

    fn push_event(&mut self, event: Event) {
        if self.events.push_back(event).is_err() {
            crate::log::warning!("MSRP event queue full; an event was dropped");
        }
    }

    fn push_control(&mut self, control: Control) {
        if self.control.push_back(control).is_err() {
            crate::log::warning!("MSRP control queue full; a response or REPORT was dropped");
        }
    }

    /// A fresh identifier: the random prefix, a tag letter and a counter.
    fn fresh_id<const N: usize>(&mut self, tag: char) -> String<N> {
        self.counter = self.counter.wrapping_add(1);
        let mut id = String::new();
        for b in self.id_prefix {
            let _ = id.push(char::from(b));
        }
        let _ = id.push(tag);
        let mut n = self.counter;
        let mut digits = [b'0'; 7];
        for d in digits.iter_mut().rev() {
            *d = b"0123456789abcdefghijklmnopqrstuv"[(n % 32) as usize];
            n /= 32;
        }
        for d in digits {
            let _ = id.push(char::from(d));
        }
        id
    }
}
