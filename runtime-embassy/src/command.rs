//! What the application asks of a running client, and how it tells the runner to go on or stop.

use heapless::String;
use simple_im_core::client::config::MAX_AOR_LEN;
use simple_im_core::client::{ChatId, ReceivedHandle};

/// Longest `DateTime` value an IMDN request carries (RFC 3339, e.g. `2026-11-24T02:00:00Z`).
pub const MAX_DATE_TIME_LEN: usize = 32;

/// An IMDN request attached to an outgoing pager.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImdnAsk {
    /// The message's RFC 3339 date-time (the device's wall clock; IMDN needs one).
    pub date_time: String<MAX_DATE_TIME_LEN>,
    /// Ask for a display notification too (delivery is always asked).
    pub display: bool,
}

/// A request from the application to the runner, sent through an `embassy_sync` channel. `BODY` is
/// the largest pager or chat text the application sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<const BODY: usize> {
    /// Send a pager-mode IM (`text/plain; charset=utf-8`) to `to` (a SIP URI).
    SendPager {
        /// The recipient, `sip:user@domain`.
        to: String<MAX_AOR_LEN>,
        /// The text.
        body: String<BODY>,
        /// IMDN notifications to ask for, if any.
        imdn: Option<ImdnAsk>,
    },
    /// The user has seen a received message: send its display notification.
    MarkDisplayed(ReceivedHandle),
    /// Accept a chat invitation (`ClientEvent::ChatInvitation`).
    AcceptChat(ChatId),
    /// Decline a chat invitation.
    DeclineChat(ChatId),
    /// Send a line of text in an established chat.
    SendChat {
        /// The chat.
        chat: ChatId,
        /// The text.
        text: String<BODY>,
    },
    /// End a chat (BYE).
    CloseChat(ChatId),
    /// Invite `to` (a SIP URI) to a chat; `ChatConnect`/`ChatEstablished` or `ChatClosed` follow.
    InviteChat(String<MAX_AOR_LEN>),
    /// Bar or allow incoming IMs (published to the server as a service setting).
    SetBarring(bool),
    /// Remove the registration; the runner keeps running (answers still go out).
    Unregister,
    /// Return from [`crate::run`].
    Stop,
}

/// What the event callback tells the runner.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Control {
    /// Keep running.
    Continue,
    /// Return from [`crate::run`] after sending what is already queued.
    Stop,
}
