//! The MSRP side of a chat: texts (and our notifications) out through a [`BodySource`], bodies in
//! through a [`BodySink`] that turns every slice into a [`ClientEvent::ChatBody`] span (no copy, any
//! message size) and keeps the first bytes of each message for its IMDN request (see [`super::imdn`]).

use heapless::Deque;

use super::imdn::{self, Heads};
use super::{Text, CHAT_TEXT_QUEUE};
use crate::client::events::{ChatId, ClientEvent, Span};
use crate::client::{Client, CommandError, EVENT_QUEUE_CAPACITY};
use crate::log::{debug, warning};
use crate::msrp::session::{self as msrp, BodyRead, BodySink, BodySource};
use crate::rng::Rng;
use crate::time::Instant;

struct Outbox<'q> {
    texts: &'q Deque<(msrp::MessageHandle, Text), CHAT_TEXT_QUEUE>,
    heads: &'q Heads,
}

impl BodySource for Outbox<'_> {
    fn read(&mut self, message: msrp::MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        match self.texts.iter().find(|(h, _)| *h == message) {
            Some((_, text)) => read_from(text, offset, buf),
            None => {
                imdn::read_notice(self.heads, message, offset, buf).unwrap_or(BodyRead { len: 0, end: true })
            }
        }
    }
}

/// Copies what fits of `body` from `offset` into `buf`.
pub(super) fn read_from(body: &[u8], offset: u64, buf: &mut [u8]) -> BodyRead {
    let rest = usize::try_from(offset)
        .ok()
        .and_then(|o| body.get(o..))
        .unwrap_or(&[]);
    let len = rest.len().min(buf.len());
    if let (Some(dst), Some(src)) = (buf.get_mut(..len), rest.get(..len)) {
        dst.copy_from_slice(src);
    }
    BodyRead {
        len,
        end: len == rest.len(),
    }
}

struct Bodies<'e> {
    chat: ChatId,
    base: &'e [u8],
    events: &'e mut Deque<ClientEvent, { EVENT_QUEUE_CAPACITY }>,
    heads: &'e mut Heads,
}

impl BodySink for Bodies<'_> {
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]) {
        imdn::keep_body(self.heads, id, offset, bytes);
        let event = ClientEvent::ChatBody {
            chat: self.chat,
            offset,
            body: Span::within(self.base, bytes),
        };
        if self.events.push_back(event).is_err() {
            warning!("chat body event dropped: drain events after every handle_msrp call");
        }
    }
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Sends `text` (text/plain) in the chat.
    pub fn send_chat(&mut self, now: Instant, chat: ChatId, text: &str) -> Result<(), CommandError> {
        if !Self::SESSION_MODE {
            return Err(CommandError::UnknownHandle);
        }
        let _ = now;
        let index = self.chat_index(chat).ok_or(CommandError::UnknownHandle)?;
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return Err(CommandError::UnknownHandle);
        };
        let body = Text::from_slice(text.as_bytes()).map_err(|_| CommandError::TooLarge)?;
        if c.texts.is_full() {
            return Err(CommandError::Busy);
        }
        let session = c.msrp.as_mut().ok_or(CommandError::UnknownHandle)?;
        let handle = session
            .send("text/plain", Some(body.len() as u64))
            .map_err(|_| CommandError::Busy)?;
        let _ = c.texts.push_back((handle, body));
        Ok(())
    }
    /// Bytes from the MSRP connection of `chat`. Returns how many were consumed (keep the rest).
    pub fn handle_msrp(&mut self, now: Instant, chat: ChatId, bytes: &[u8]) -> Result<usize, CommandError> {
        if !Self::SESSION_MODE {
            return Err(CommandError::UnknownHandle);
        }
        let index = self.chat_index(chat).ok_or(CommandError::UnknownHandle)?;
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return Err(CommandError::UnknownHandle);
        };
        let session = c.msrp.as_mut().ok_or(CommandError::UnknownHandle)?;
        let mut sink = Bodies {
            chat,
            base: bytes,
            events: &mut self.events,
            heads: &mut c.heads,
        };
        let used = session
            .handle_input(now, bytes, &mut sink)
            .map_err(|_| CommandError::InvalidValue)?;
        self.drain_msrp_events(now, index);
        Ok(used)
    }

    /// The MSRP connection of `chat` was closed or failed.
    pub fn msrp_connection_lost(&mut self, now: Instant, chat: ChatId) {
        if !Self::SESSION_MODE {
            return;
        }
        if let Some(index) = self.chat_index(chat) {
            if let Some(Some(c)) = self.chats.get_mut(index) {
                if let Some(m) = c.msrp.as_mut() {
                    m.connection_lost(now);
                }
            }
            self.drain_msrp_events(now, index);
        }
    }

    /// The next MSRP bytes to write, for the connection of the returned chat.
    pub fn poll_msrp_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(ChatId, usize)> {
        if !Self::SESSION_MODE {
            return None;
        }
        for index in 0..self.chats.len() {
            let Some(Some(c)) = self.chats.get_mut(index) else {
                continue;
            };
            let id = ChatId(c.id);
            let Some(session) = c.msrp.as_mut() else { continue };
            let mut outbox = Outbox {
                texts: &c.texts,
                heads: &c.heads,
            };
            let written = session.poll_transmit(now, buf, &mut outbox);
            self.drain_msrp_events(now, index);
            if let Some(n) = written {
                return Some((id, n));
            }
        }
        None
    }

    /// The chat's MSRP paths: (our URI, the peer's path), for diagnostics and tests.
    pub fn chat_paths(&self, chat: ChatId) -> Option<(&str, &str)> {
        let c = self.chats.get(self.chat_index(chat)?)?.as_ref()?;
        let session = c.msrp.as_ref()?;
        Some((session.local_uri(), session.remote_path()))
    }

    /// `host:port` of the MSRP peer of `chat` (the first URI of its path), to connect to.
    pub fn chat_peer_address(&self, chat: ChatId) -> Option<&str> {
        let c = self.chats.get(self.chat_index(chat)?)?.as_ref()?;
        let first = c.msrp.as_ref()?.remote_path().split(' ').next()?;
        let rest = first
            .strip_prefix("msrps://")
            .or_else(|| first.strip_prefix("msrp://"))?;
        rest.split('/').next()
    }

    pub(super) fn drain_msrp_events(&mut self, now: Instant, index: usize) {
        loop {
            let Some(Some(c)) = self.chats.get_mut(index) else {
                return;
            };
            let chat = ChatId(c.id);
            let Some(e) = c.msrp.as_mut().and_then(|s| s.poll_event()) else {
                return;
            };
            let event = match e {
                msrp::Event::IncomingMessage { id, content_type, .. } => {
                    imdn::note_content_type(&mut c.heads, &id, &content_type);
                    None
                }
                msrp::Event::MessageReceived { id, len } => {
                    if let Some(head) = imdn::take_cpim_head(&mut c.heads, &id) {
                        self.answer_chat_message(now, index, chat, &head);
                    }
                    Some(ClientEvent::ChatMessageEnd { chat, len })
                }
                msrp::Event::Sent { message } if c.take_notice(message).is_some() => None,
                msrp::Event::Sent { message } => {
                    if let Some(i) = c.texts.iter().position(|(h, _)| *h == message) {
                        // Keep the queue order: texts finish in order on one connection.
                        for _ in 0..=i {
                            let _ = c.texts.pop_front();
                        }
                    }
                    Some(ClientEvent::ChatSent { chat })
                }
                msrp::Event::SendFailed { message, .. } => match c.take_notice(message) {
                    Some((kind, head)) => {
                        self.notice_by_pager(now, kind, &head);
                        None
                    }
                    None => Some(ClientEvent::ChatSendFailed { chat }),
                },
                msrp::Event::MessageAborted { id, .. } => {
                    let _ = imdn::take_cpim_head(&mut c.heads, &id);
                    Some(ClientEvent::ChatMessageEnd { chat, len: 0 })
                }
                other => {
                    let _ = other;
                    debug!("msrp event without a client event");
                    None
                }
            };
            if let Some(event) = event {
                self.push_event(event);
            }
        }
    }
}
