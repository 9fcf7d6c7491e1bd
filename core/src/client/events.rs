//! What the client tells the application, and what it asks the runtime to send.
//!
//! Events are small `Copy` values. Text that came in a message (a sender, a body) is not copied: it is
//! a [`Span`] into the bytes the caller passed to the `handle_*` call that produced the event. The caller
//! reads it with [`Span::of`] on that same buffer, so it must drain events before reusing the buffer.

use core::ops::Range;

/// A byte range in the input buffer of the `handle_*` call that produced an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The span of `part`, which must lie inside `whole` (an empty span otherwise).
    #[inline(never)] // eight callers; one copy is smaller on devices
    pub(crate) fn within(whole: &[u8], part: &[u8]) -> Span {
        let base = whole.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        match at.checked_sub(base) {
            Some(start) if start.saturating_add(part.len()) <= whole.len() => Span {
                start: u32::try_from(start).unwrap_or(0),
                end: u32::try_from(start + part.len()).unwrap_or(0),
            },
            _ => Span::default(),
        }
    }

    /// The bytes of this span in `input` (empty when out of range).
    pub fn of<'a>(&self, input: &'a [u8]) -> &'a [u8] {
        input.get(self.range()).unwrap_or(&[])
    }

    /// The text of this span in `input` (empty when out of range or not UTF-8).
    pub fn str_of<'a>(&self, input: &'a [u8]) -> &'a str {
        core::str::from_utf8(self.of(input)).unwrap_or("")
    }

    /// As a `usize` range.
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// Identifies a pager message the user sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MessageHandle(pub u32);

/// Identifies a received pager message that asked for a display notification (see
/// `Client::mark_displayed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReceivedHandle(pub u32);

/// Identifies a chat session (an invitation received or sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChatId(pub u32);

/// Longest IMDN Message-ID a [`ChatMessageId`] holds (ours are 20 characters).
pub const CHAT_MESSAGE_ID_LEN: usize = 32;

/// The `imdn.Message-ID` of a received chat message, copied (a chat body is not held whole, so it
/// cannot be a [`Span`]). Empty when the id was longer than [`CHAT_MESSAGE_ID_LEN`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChatMessageId {
    bytes: [u8; CHAT_MESSAGE_ID_LEN],
    len: u8,
}

impl ChatMessageId {
    pub(crate) fn new(id: &str) -> Self {
        let mut bytes = [0u8; CHAT_MESSAGE_ID_LEN];
        let len = match bytes.get_mut(..id.len()) {
            Some(dst) => {
                dst.copy_from_slice(id.as_bytes());
                id.len()
            }
            None => 0,
        };
        ChatMessageId {
            bytes,
            len: u8::try_from(len).unwrap_or(0),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.bytes.get(..usize::from(self.len)).unwrap_or(&[])).unwrap_or("")
    }
}

/// A disposition reported by a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Disposition {
    /// `<delivered/>` or `<displayed/>`.
    Success,
    /// `<failed/>`.
    Failed,
    /// `<forbidden/>`.
    Forbidden,
    /// `<error/>`.
    Error,
    /// Any other status (`processed`, `stored`, extensions).
    Other,
}

/// What happened, for the application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClientEvent {
    /// The registrar accepted the registration for `expires` seconds.
    Registered {
        /// Granted lifetime in seconds.
        expires: u32,
    },
    /// Registration failed with this status (408 when no answer came); the client retries with backoff.
    RegistrationFailed {
        /// Final status code.
        status: u16,
    },
    /// The registration was removed (`unregister`).
    Unregistered,
    /// A pager-mode IM arrived (RFC 3428, possibly CPIM-wrapped). Spans point into the input buffer.
    PagerReceived {
        /// The sender: the CPIM `From` when wrapped, else the SIP From header value.
        from: Span,
        /// The content type of `body` (the inner one when CPIM-wrapped).
        content_type: Span,
        /// The message body.
        body: Span,
        /// The IMDN Message-ID when the IM was CPIM-wrapped with one.
        message_id: Option<Span>,
        /// `Some` when the sender asked for a display notification: pass it to `mark_displayed`.
        display_handle: Option<ReceivedHandle>,
    },
    /// A pager message was accepted by the network (2xx).
    PagerSent {
        /// Which message.
        handle: MessageHandle,
    },
    /// A pager message failed (final status, or 408 on timeout).
    PagerFailed {
        /// Which message.
        handle: MessageHandle,
        /// Final status code.
        status: u16,
    },
    /// A delivery notification arrived for a message we sent.
    DeliveryNotification {
        /// Our message, when its Message-ID is still remembered.
        handle: Option<MessageHandle>,
        /// The notified Message-ID (a span into the input).
        message_id: Span,
        /// Delivered or not.
        status: Disposition,
    },
    /// A display notification arrived for a message we sent.
    DisplayNotification {
        /// Our message, when its Message-ID is still remembered.
        handle: Option<MessageHandle>,
        /// The notified Message-ID (a span into the input).
        message_id: Span,
        /// Displayed or not.
        status: Disposition,
    },
    /// The service setting PUBLISH (incoming-IM barring) completed with this status.
    BarringPublished {
        /// The barring value published.
        barred: bool,
        /// Final status code.
        status: u16,
    },
    /// An incoming IM was refused because incoming IMs are barred.
    IncomingBarred,
    /// Someone invites the user to a chat: answer with `accept_chat` or `decline_chat`.
    ChatInvitation {
        /// The chat.
        chat: ChatId,
        /// The inviter's From header value (a span into the input).
        from: Span,
    },
    /// Open the MSRP TCP connection of `chat` to `Client::chat_peer_address` (`active`), or accept the
    /// peer's connection (`!active`); then feed bytes with `handle_msrp`.
    ChatConnect {
        /// The chat.
        chat: ChatId,
        /// Whether this side connects.
        active: bool,
    },
    /// The chat's SIP dialog is confirmed (ACK received or sent).
    ChatEstablished {
        /// The chat.
        chat: ChatId,
    },
    /// Body bytes of an incoming chat message at `offset` (a span into the `handle_msrp` input). Large
    /// messages arrive as many of these.
    ChatBody {
        /// The chat.
        chat: ChatId,
        /// Offset of these bytes in the message.
        offset: u64,
        /// The bytes.
        body: Span,
    },
    /// An incoming chat message is complete (`len` bytes; 0 when it was aborted).
    ChatMessageEnd {
        /// The chat.
        chat: ChatId,
        /// Its length.
        len: u64,
    },
    /// A chat message being received asked for notifications (RFC 5438, `message/cpim` with
    /// `imdn.Disposition-Notification`); it comes just before the message's `ChatMessageEnd`. The
    /// delivery notification, when asked, is already on its way: inside the session when the peer's
    /// `a=accept-wrapped-types` takes `message/imdn+xml`, else as a pager MESSAGE. Pass
    /// `display_handle` to `Client::mark_displayed` once the user has seen the message.
    ChatNotificationsRequested {
        /// The chat.
        chat: ChatId,
        /// The message's `imdn.Message-ID`.
        message_id: ChatMessageId,
        /// Whether a delivery notification was sent.
        delivery_sent: bool,
        /// `Some` when the sender asked for a display notification.
        display_handle: Option<ReceivedHandle>,
    },
    /// Our chat message was written to the connection.
    ChatSent {
        /// The chat.
        chat: ChatId,
    },
    /// Our chat message failed (error response, timeout, lost connection).
    ChatSendFailed {
        /// The chat.
        chat: ChatId,
    },
    /// The chat ended: 200 after BYE, the final status of a refused invitation, 408 on timeout.
    ChatClosed {
        /// The chat.
        chat: ChatId,
        /// Why.
        status: u16,
    },
    /// A received message was refused as malformed (400) or oversized (413), or dropped.
    Rejected {
        /// The status answered (0 when it could not be answered at all).
        status: u16,
    },
}

/// Where a [`Transmit`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Destination<A> {
    /// The configured server (UDP: its address; TCP: the one connection to it).
    Server,
    /// The address a request came from (responses to requests that did not come from the server).
    Peer(A),
}

/// Bytes to send: the first `len` bytes of the buffer passed to `poll_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit<A> {
    /// Where to.
    pub dest: Destination<A>,
    /// Length written.
    pub len: usize,
}
