//! Delivery and display notifications (RFC 5438) for chat messages.
//!
//! A chat line this runtime sends (in the sessions it starts, [`super::outgoing`]) is a `message/cpim`
//! SEND when the peer's `a=accept-types` allows CPIM: From, To, `imdn.Message-ID`, `DateTime` and
//! `imdn.Disposition-Notification: positive-delivery, display`, around the `text/plain` line. Its id is
//! printed in the `chat_sent` line, and the notifications come back as `delivered` / `displayed` lines
//! with that id, like a pager's.
//!
//! A received chat message asking for notifications is answered like a pager IM: the delivery
//! notification at once, the display notification on `display ID` or with `--auto-display`.
//!
//! ## Where the notifications go
//!
//! RFC 5438 defines IMDN for page mode only and leaves session mode to MSRP's own REPORTs (§13); OMA
//! SIMPLE IM allows either the session or a SIP MESSAGE.
//!
//! In the chats the **core** holds (the invitations `--accept-chats` accepts), the core answers: inside
//! the session, as `message/cpim` wrapping `message/imdn+xml`, when the peer's `a=accept-wrapped-types`
//! lists it (the OMA way), else by pager; a display notification goes in the session while it lasts.
//!
//! In the runtime's own sessions (the ones it starts, Large Message and deferred pushes) they are
//! sent as pager MESSAGEs to the IM's sender (or its `IMDN-Route`), because:
//! - the session is often gone when a notification is due (a display notification minutes later, a
//!   Large Message session closed right after its SEND, a deferred chat pushed after its sender left),
//!   and a MESSAGE to an offline sender is stored by the server's Deferred Messaging function and
//!   delivered when they register;
//! - the server's Deferred Messaging function already sends its delivery notifications that way.
//!
//! A notification that does arrive inside a session (`message/cpim` wrapping `message/imdn+xml`, which
//! our offers list in `a=accept-wrapped-types`) is printed as `delivered` / `displayed` all the same.

use super::output::Note;
use super::session::{rfc3339_now, Session};
use crate::server::rng::OsRng;
use simple_im_core::cpim;
use simple_im_core::imdn::{self, Imdn, NotificationKind, Status};

/// Room for one notification (CPIM headers plus the IMDN XML document).
const NOTIFICATION_CAPACITY: usize = 4096;
/// Room for the CPIM headers around one outgoing chat line.
const CPIM_OVERHEAD: usize = 1024;

impl Session {
    /// A chat message received whole in chat `chat`: its `chat_message` line (or the `delivered` /
    /// `displayed` line of a notification carried in the session), after sending the delivery
    /// notification it asks for and remembering it for a display notification.
    /// In the core's chats (`by_core`) the core has answered the request already
    /// (`ChatNotificationsRequested`, which put the display handle in `displays`).
    pub(super) fn received_chat_message(&mut self, chat: u32, body: &[u8], by_core: bool) -> Note {
        let Ok(im) = cpim::Message::parse(body) else {
            return Note::new("chat_message")
                .with("chat", chat)
                .with("text", String::from_utf8_lossy(body).into_owned());
        };
        if im
            .content_type()
            .is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("message/imdn+xml"))
        {
            if let Some(note) = notification_note(chat, im.body()) {
                return note;
            }
        }
        let mut note = Note::new("chat_message")
            .with("chat", chat)
            .with("text", String::from_utf8_lossy(im.body()).into_owned());
        let id = im
            .get(cpim::IMDN_NS, "Message-ID")
            .map(|h| h.value.trim().to_owned());
        if let Some(id) = &id {
            note = note.with("id", id.as_str());
        }
        if by_core {
            if id.as_ref().is_some_and(|id| self.displays.contains_key(id)) {
                note = note.with("display", "requested");
            }
            return note;
        }
        if let Ok(Some(mut received)) = imdn::Received::from_cpim(&im) {
            if let Some((kind, status)) = received.delivered() {
                self.send_chat_notification(&received, kind, status);
            }
            if received.requested.display {
                if let Some(id) = id {
                    let head = body.get(..im.body_offset()).unwrap_or(body).to_vec();
                    self.chat_displays.insert(id, head);
                    note = note.with("display", "requested");
                }
            }
        }
        note
    }

    /// Sends the display notification of a chat message printed with `id`, if one is awaited
    /// (`Ok(false)`: no chat message has that id).
    pub(super) fn mark_chat_displayed(&mut self, id: &str) -> Result<bool, String> {
        let Some(head) = self.chat_displays.remove(id) else {
            return Ok(false);
        };
        let im = cpim::Message::parse(&head).map_err(|e| format!("display {id}: {e:?}"))?;
        let mut received = imdn::Received::from_cpim(&im)
            .ok()
            .flatten()
            .ok_or_else(|| format!("display {id}: no notification asked"))?;
        if let Some((kind, status)) = received.displayed() {
            self.send_chat_notification(&received, kind, status);
        }
        Ok(true)
    }

    fn send_chat_notification(
        &mut self,
        received: &imdn::Received<'_>,
        kind: NotificationKind,
        status: Status<'_>,
    ) {
        let mut buf = vec![0u8; NOTIFICATION_CAPACITY];
        let date_time = rfc3339_now();
        let built = received.build_notification(kind, status, Some(&date_time), &mut OsRng, &mut buf);
        let sent = match built {
            Ok(len) => {
                let now = self.now();
                let to = received.destination();
                let body = buf.get(..len).unwrap_or(&[]);
                self.client
                    .send_pager(now, to, "message/cpim", body, None)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("{e:?}")),
        };
        if let Err(why) = sent {
            self.notes
                .push_back(Note::new("error").with("reason", format!("chat notification not sent: {why}")));
        }
    }
}

/// The `delivered` / `displayed` line of an IMDN document received inside chat `chat`.
fn notification_note(chat: u32, xml: &[u8]) -> Option<Note> {
    let doc = Imdn::parse(xml).ok()?;
    let (event, success) = match doc.kind {
        NotificationKind::Delivery => ("delivered", "delivered"),
        NotificationKind::Display => ("displayed", "displayed"),
        _ => return None,
    };
    let status = match doc.status {
        Status::Delivered | Status::Displayed => success,
        Status::Failed => "failed",
        Status::Forbidden => "forbidden",
        Status::Error => "error",
        _ => "other",
    };
    Some(
        Note::new(event)
            .with("id", doc.message_id.as_held())
            .with("status", status)
            .with("chat", chat),
    )
}

/// The `message/cpim` body of a chat line from `from` to `to` asking for delivery and display
/// notifications, and its `imdn.Message-ID`.
pub(super) fn chat_line_cpim(from: &str, to: &str, text: &str) -> Result<(Vec<u8>, String), String> {
    let id = imdn::new_message_id(&mut OsRng);
    let mut buf = vec![0u8; text.len() + CPIM_OVERHEAD];
    let date_time = rfc3339_now();
    let ask = imdn::DispositionRequest {
        positive_delivery: true,
        display: true,
        ..Default::default()
    };
    let len = {
        let mut b = cpim::Builder::new(&mut buf);
        b.from(None, from)
            .and_then(|b| b.to(None, to))
            .map_err(|e| format!("CPIM: {e:?}"))?;
        imdn::add_request_headers(&mut b, id.as_str(), &date_time, ask)
            .map_err(|e| format!("CPIM: {e:?}"))?;
        b.content_header("Content-Type", "text/plain;charset=utf-8")
            .map_err(|e| format!("CPIM: {e:?}"))?;
        b.body(text.as_bytes()).map_err(|e| format!("CPIM: {e:?}"))?
    };
    buf.truncate(len);
    Ok((buf, id.as_str().to_owned()))
}
