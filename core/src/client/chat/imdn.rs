//! Delivery and display notifications (RFC 5438) for chat messages received in the core's chats.
//!
//! A chat body is never held whole (it streams out as `ChatBody` spans), so the client keeps only the
//! start of each incoming message: at most [`CHAT_HEAD_LEN`] bytes, enough for the CPIM header section
//! and the inner MIME headers, for at most [`CHAT_HEADS`] messages in progress per chat (a read may hold
//! the end of one message and the start of the next). When the message completes and its MSRP
//! Content-Type was `message/cpim` with an `imdn.Disposition-Notification`, the client answers it:
//!
//! | asked | peer's SDP takes `message/imdn+xml` in CPIM | action |
//! |---|---|---|
//! | `positive-delivery` | yes, and the chat's notification slot is free | delivery notification as an MSRP SEND in the chat |
//! | `positive-delivery` | no (or slot busy, or chat gone) | delivery notification as a pager MESSAGE to the sender |
//! | `display` | - | header section kept ([`super::super::notify`]); `mark_displayed` sends it, in the chat while it lasts as above, else by pager |
//!
//! A notification in the chat takes the slot of the IM's header section until it is written, so no
//! more RAM than the [`CHAT_HEADS`] slots is used; if its SEND fails (connection lost, error
//! response) or the chat ends before it is written, it is sent by pager instead, never dropped. Either way the application gets `ChatNotificationsRequested` (Message-ID, whether delivery was
//! sent, the display handle) just before the message's `ChatMessageEnd`. A header section longer than
//! [`CHAT_HEAD_LEN`] does not parse: that message gets no notification (a warning is logged). The
//! notification in the session is the OMA way (message/imdn+xml listed in `a=accept-wrapped-types`);
//! the pager fallback keeps a notification from being lost when the peer cannot take it in the session.

use crate::ascii_trim::TrimAsciiWs;
use heapless::{Deque, Vec};

use super::session_io::read_from;
use super::{Chat, SliceRng};
use crate::client::events::{ChatId, ChatMessageId, ClientEvent, ReceivedHandle};
use crate::client::notify::NOTIFICATION_CAPACITY;
use crate::client::Client;
use crate::cpim;
use crate::imdn::{self, NotificationKind, Status};
use crate::log::warning;
use crate::msrp::session::{self as msrp, BodyRead};
use crate::rng::Rng;
use crate::sdp;
use crate::time::Instant;

/// Bytes kept from the start of an incoming chat message (its CPIM and MIME header sections).
pub const CHAT_HEAD_LEN: usize = 352;
/// Incoming messages per chat whose start is kept at once.
pub const CHAT_HEADS: usize = 2;

/// What a kept header section is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeadKind {
    /// Incoming; body bytes came before the message's `IncomingMessage` event was drained.
    Unknown,
    /// Incoming `message/cpim`.
    Cpim,
    /// The IM a notification of ours answers, while MSRP writes it: the notification is rebuilt from
    /// the IM's header section on each read (the same bytes: its own Message-ID comes from `seed`), so
    /// no second buffer is needed.
    Notice {
        message: msrp::MessageHandle,
        kind: NotificationKind,
        seed: [u8; 4],
    },
}

/// The start of one incoming chat message, or of an IM a notification in the chat answers.
pub(crate) struct InboundHead {
    /// A hash of its MSRP Message-ID (4 bytes instead of 32).
    key: u32,
    kind: HeadKind,
    bytes: Vec<u8, CHAT_HEAD_LEN>,
}

pub(crate) type Heads = Deque<InboundHead, CHAT_HEADS>;

/// FNV-1a of an MSRP Message-ID.
pub(crate) fn id_key(id: &str) -> u32 {
    id.bytes().fold(0x811c_9dc5u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn is_notice(h: &InboundHead) -> bool {
    matches!(h.kind, HeadKind::Notice { .. })
}

/// Removes the oldest incoming head (never a notice being written); whether there is room now.
fn make_room(heads: &mut Heads) -> bool {
    if !heads.is_full() {
        return true;
    }
    let Some(oldest) = heads.iter().position(|h| !is_notice(h)) else {
        return false;
    };
    warning!("chat message start dropped: more messages in progress than CHAT_HEADS");
    for i in 0..heads.len() {
        if let Some(head) = heads.pop_front().filter(|_| i != oldest) {
            let _ = heads.push_back(head);
        }
    }
    true
}

/// The head of message `key`, created when `create` and there is room.
fn head_of(heads: &mut Heads, key: u32, create: bool) -> Option<&mut InboundHead> {
    if create && !heads.iter().any(|h| h.key == key && !is_notice(h)) && make_room(heads) {
        let _ = heads.push_back(InboundHead {
            key,
            kind: HeadKind::Unknown,
            bytes: Vec::new(),
        });
    }
    heads.iter_mut().find(|h| h.key == key && !is_notice(h))
}

/// Body bytes of message `id` at `offset`: kept while they continue the head and fit.
pub(crate) fn keep_body(heads: &mut Heads, id: &str, offset: u64, bytes: &[u8]) {
    let Some(head) = head_of(heads, id_key(id), offset == 0) else {
        return;
    };
    if offset != head.bytes.len() as u64 {
        return;
    }
    let room = CHAT_HEAD_LEN - head.bytes.len();
    let _ = head
        .bytes
        .extend_from_slice(bytes.get(..room.min(bytes.len())).unwrap_or(&[]));
}

/// The message `id` started with this MSRP Content-Type.
pub(crate) fn note_content_type(heads: &mut Heads, id: &str, content_type: &str) {
    let cpim = content_type
        .trim_ws_start()
        .get(..12)
        .is_some_and(|t| t.eq_ignore_ascii_case("message/cpim"));
    if !cpim {
        let _ = take_cpim_head(heads, id);
    } else if let Some(head) = head_of(heads, id_key(id), true) {
        head.kind = HeadKind::Cpim;
    }
}

/// Takes the head of message `id` out (it completed, was aborted, or is not CPIM); `Some` only for a
/// CPIM message (a head still `Unknown` at the end was not: `IncomingMessage` is always drained first).
pub(crate) fn take_cpim_head(heads: &mut Heads, id: &str) -> Option<Vec<u8, CHAT_HEAD_LEN>> {
    let key = id_key(id);
    let mut found = None;
    for _ in 0..heads.len() {
        let Some(head) = heads.pop_front() else { break };
        if head.key == key && !is_notice(&head) {
            found = Some(head);
        } else {
            let _ = heads.push_back(head);
        }
    }
    found.filter(|h| h.kind == HeadKind::Cpim).map(|h| h.bytes)
}

/// Whether the peer's MSRP media line takes IMDN documents wrapped in CPIM.
pub(crate) fn takes_imdn_in_session(media: Option<sdp::Media<'_, '_>>) -> bool {
    media.is_some_and(|m| {
        m.accept_types()
            .any(|t| sdp::media_type_matches(t, "message/cpim"))
            && m.accept_wrapped_types()
                .any(|t| sdp::media_type_matches(t, "message/imdn+xml"))
    })
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// A CPIM chat message completed in the chat at `index`: sends what it asks for and reports it.
    pub(super) fn answer_chat_message(&mut self, now: Instant, index: usize, chat: ChatId, head: &[u8]) {
        let Ok(im) = cpim::Message::parse(head) else {
            warning!("chat CPIM header section does not parse (or exceeds CHAT_HEAD_LEN); no IMDN");
            return;
        };
        let mut received = match imdn::Received::from_cpim(&im) {
            Ok(Some(received)) => received,
            Ok(None) => return,
            Err(_) => {
                warning!("chat message asks for IMDN but lacks a required header; no notification");
                return;
            }
        };
        let mut delivery_sent = false;
        if let Some((kind, status)) = received.delivered() {
            self.send_chat_notification(now, Some(index), &received, kind, status, head);
            delivery_sent = true;
        }
        let display_handle = if received.requested.display {
            self.remember_for_display(Some(chat.0), head, im.body_offset())
                .map(ReceivedHandle)
        } else {
            None
        };
        self.push_event(ClientEvent::ChatNotificationsRequested {
            chat,
            message_id: ChatMessageId::new(received.message_id),
            delivery_sent,
            display_handle,
        });
    }

    /// Sends a notification in the chat at `index` when its peer takes it there and a slot is free,
    /// else as a pager MESSAGE. `head` is the IM's CPIM header section `received` was read from.
    pub(crate) fn send_chat_notification(
        &mut self,
        now: Instant,
        index: Option<usize>,
        received: &imdn::Received<'_>,
        kind: NotificationKind,
        status: Status<'_>,
        head: &[u8],
    ) {
        if !index.is_some_and(|i| self.queue_chat_notice(i, received, kind, status, head)) {
            self.send_notification(now, received, kind, status);
        }
    }

    fn queue_chat_notice(
        &mut self,
        index: usize,
        received: &imdn::Received<'_>,
        kind: NotificationKind,
        status: Status<'_>,
        head: &[u8],
    ) -> bool {
        let mut seed = [0u8; 4];
        self.rng.fill(&mut seed);
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return false;
        };
        let Ok(bytes) = Vec::from_slice(head) else {
            return false;
        };
        if !c.imdn_in_session || !make_room(&mut c.heads) {
            return false;
        }
        let Some(session) = c.msrp.as_mut() else {
            return false;
        };
        let mut scratch = [0u8; NOTIFICATION_CAPACITY];
        let Ok(len) = received.build_notification(kind, status, None, &mut SliceRng(&seed), &mut scratch)
        else {
            return false;
        };
        let Ok(message) = session.send("message/cpim", Some(len as u64)) else {
            return false;
        };
        let kind = HeadKind::Notice { message, kind, seed };
        c.heads.push_back(InboundHead { key: 0, kind, bytes }).is_ok()
    }
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// A notification the chat could not carry (failed, or the chat ended first) goes by pager.
    pub(super) fn notice_by_pager(&mut self, now: Instant, kind: NotificationKind, head: &[u8]) {
        let Some(im) = cpim::Message::parse(head).ok() else {
            return;
        };
        let Some(received) = imdn::Received::from_cpim(&im).ok().flatten() else {
            return;
        };
        self.send_notification(now, &received, kind, success(kind));
    }
}

/// The status a notification of `kind` reports (the client sends only positive ones).
fn success(kind: NotificationKind) -> Status<'static> {
    match kind {
        NotificationKind::Display => Status::Displayed,
        _ => Status::Delivered,
    }
}

/// Reads a notification in the chat: rebuilt from the IM's header section (see [`HeadKind::Notice`]).
pub(crate) fn read_notice(
    heads: &Heads,
    message: msrp::MessageHandle,
    offset: u64,
    buf: &mut [u8],
) -> Option<BodyRead> {
    let (head, kind, seed) = heads.iter().find_map(|h| match h.kind {
        HeadKind::Notice {
            message: m,
            kind,
            seed,
        } if m == message => Some((h, kind, seed)),
        _ => None,
    })?;
    let im = cpim::Message::parse(&head.bytes).ok()?;
    let received = imdn::Received::from_cpim(&im).ok().flatten()?;
    let status = success(kind);
    let mut scratch = [0u8; NOTIFICATION_CAPACITY];
    let len = received
        .build_notification(kind, status, None, &mut SliceRng(&seed), &mut scratch)
        .ok()?;
    Some(read_from(scratch.get(..len)?, offset, buf))
}

impl<const REQ: usize> Chat<REQ> {
    /// Takes out our notification written as `message` (its end is not a user's `ChatSent`): what it
    /// notifies and the IM's header section, to send it by pager if it failed.
    pub(super) fn take_notice(
        &mut self,
        message: msrp::MessageHandle,
    ) -> Option<(NotificationKind, Vec<u8, CHAT_HEAD_LEN>)> {
        let mut found = None;
        for _ in 0..self.heads.len() {
            let Some(head) = self.heads.pop_front() else { break };
            match head.kind {
                HeadKind::Notice { message: m, kind, .. } if m == message => found = Some((kind, head.bytes)),
                _ => {
                    let _ = self.heads.push_back(head);
                }
            }
        }
        found
    }

    /// Takes out any notification not yet written (the chat is ending).
    pub(super) fn take_any_notice(&mut self) -> Option<(NotificationKind, Vec<u8, CHAT_HEAD_LEN>)> {
        let message = self.heads.iter().find_map(|h| match h.kind {
            HeadKind::Notice { message, .. } => Some(message),
            _ => None,
        })?;
        self.take_notice(message)
    }
}
