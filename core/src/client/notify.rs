//! IMDN (RFC 5438) for the client: automatic delivery notifications, display notifications on
//! `mark_displayed`, and notifications received for our own messages.
//!
//! A received IM that asks for `display` is remembered until the user marks it displayed: the client
//! keeps a copy of its CPIM header section (at most [`DISPLAY_RECORD_LEN`] bytes, which holds From, To,
//! NS, Message-ID, DateTime, Disposition-Notification and a couple of IMDN-Record-Routes) in one of
//! [`DISPLAY_SLOTS`] slots, the oldest evicted first. Notifications are sent as pager MESSAGEs with
//! `Content-Type: message/cpim` to the IM's sender (or its top IMDN-Record-Route), as §7.1.2 asks;
//! those of chat messages go inside the chat when the peer takes them there (see `chat::imdn`).

use heapless::Vec;

use super::events::{ClientEvent, Disposition, ReceivedHandle, Span};
use super::pager::Purpose;
use super::{Client, CommandError};
use crate::cpim;
use crate::imdn::{self, Imdn, NotificationKind, Status};
use crate::log::warning;
use crate::rng::Rng;
use crate::sip::Method;
use crate::time::Instant;

/// Received IMs awaiting `mark_displayed` at once.
pub const DISPLAY_SLOTS: usize = 2;
/// Bytes kept per IM awaiting `mark_displayed`.
pub const DISPLAY_RECORD_LEN: usize = 384;
/// Message-IDs of our sent IMs remembered to match incoming notifications to handles.
pub const SENT_ID_SLOTS: usize = 4;
/// Largest notification body (CPIM + IMDN XML).
pub const NOTIFICATION_CAPACITY: usize = 768;

/// A received IM awaiting its display notification.
pub(crate) struct PendingDisplay {
    handle: u32,
    /// The chat the IM came in (its display notification goes there while the chat lasts).
    chat: Option<u32>,
    cpim_head: Vec<u8, DISPLAY_RECORD_LEN>,
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// The user has seen the IM reported with `handle`: sends its display notification.
    pub fn mark_displayed(&mut self, now: Instant, handle: ReceivedHandle) -> Result<(), CommandError> {
        let index = self
            .displays
            .iter()
            .position(|d| d.as_ref().is_some_and(|d| d.handle == handle.0))
            .ok_or(CommandError::UnknownHandle)?;
        let record = self
            .displays
            .get_mut(index)
            .and_then(Option::take)
            .ok_or(CommandError::UnknownHandle)?;
        let im = cpim::Message::parse(&record.cpim_head).map_err(|_| CommandError::UnknownHandle)?;
        let mut received = imdn::Received::from_cpim(&im)
            .ok()
            .flatten()
            .ok_or(CommandError::UnknownHandle)?;
        if let Some((kind, status)) = received.displayed() {
            let chat = record.chat.and_then(|id| self.chat_index(super::ChatId(id)));
            self.send_chat_notification(now, chat, &received, kind, status, &record.cpim_head);
        }
        Ok(())
    }

    pub(crate) fn send_notification(
        &mut self,
        now: Instant,
        received: &imdn::Received<'_>,
        kind: NotificationKind,
        status: Status<'_>,
    ) {
        let mut scratch = [0u8; NOTIFICATION_CAPACITY];
        let Ok(len) = received.build_notification(kind, status, None, &mut self.rng, &mut scratch) else {
            warning!("IMDN notification does not fit {} bytes", NOTIFICATION_CAPACITY);
            return;
        };
        let to = received.destination();
        let body = scratch.get(..len).unwrap_or(&[]);
        if let Err(e) = self.send_request(
            now,
            Method::Message,
            to,
            to,
            "message/cpim",
            &[],
            body,
            Purpose::Notification,
        ) {
            warning!("IMDN notification not sent: {:?}", e);
        }
    }

    /// Keeps the CPIM header section of an IM for a later display notification; returns its handle.
    pub(crate) fn remember_for_display(
        &mut self,
        chat: Option<u32>,
        cpim_body: &[u8],
        body_offset: usize,
    ) -> Option<u32> {
        let head = cpim_body.get(..body_offset)?;
        let cpim_head = Vec::from_slice(head).ok().or_else(|| {
            warning!("IM header section too long to remember for a display notification");
            None
        })?;
        let handle = self.new_handle();
        let index = match self.displays.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                // Evict the oldest (smallest handle, modulo wrapping which takes 4 billion messages).
                let oldest = self.displays.iter().flatten().map(|d| d.handle).min()?;
                self.displays
                    .iter()
                    .position(|d| d.as_ref().is_some_and(|d| d.handle == oldest))?
            }
        };
        *self.displays.get_mut(index)? = Some(PendingDisplay {
            handle,
            chat,
            cpim_head,
        });
        Some(handle)
    }

    /// An IMDN payload arrived for one of our messages.
    pub(crate) fn receive_notification(&mut self, base: &[u8], xml: &[u8]) {
        let Ok(doc) = Imdn::parse(xml) else {
            warning!("received IMDN payload does not parse; ignored");
            return;
        };
        let handle = self
            .sent_ids
            .iter()
            .find(|(_, id)| doc.message_id.eq_plain(id.as_str()))
            .map(|(h, _)| *h);
        let status = match doc.status {
            Status::Delivered | Status::Displayed => Disposition::Success,
            Status::Failed => Disposition::Failed,
            Status::Forbidden => Disposition::Forbidden,
            Status::Error => Disposition::Error,
            _ => Disposition::Other,
        };
        // The span is the text as held in the document (entity references, if any, undecoded).
        let message_id = Span::within(base, doc.message_id.as_held().as_bytes());
        match doc.kind {
            NotificationKind::Delivery => self.push_event(ClientEvent::DeliveryNotification {
                handle,
                message_id,
                status,
            }),
            NotificationKind::Display => self.push_event(ClientEvent::DisplayNotification {
                handle,
                message_id,
                status,
            }),
            _ => {}
        }
    }
}
