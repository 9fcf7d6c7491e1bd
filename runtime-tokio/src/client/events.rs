//! The core's events as [`Note`]s: text copied out of the input the spans index, senders reduced to
//! their URI, chat bodies gathered per message, and the IMs awaiting a display notification
//! remembered by the id printed with them.

use super::output::Note;
use super::session::Session;
use simple_im_core::client::{ClientEvent, Disposition, MessageHandle};

impl Session {
    /// Converts the core's events, whose spans index `input`.
    pub(super) fn drain_events(&mut self, input: &[u8]) {
        while let Some(event) = self.client.poll_event() {
            if let Some(note) = self.convert(&event, input) {
                self.notes.push_back(note);
            }
        }
    }

    fn convert(&mut self, event: &ClientEvent, input: &[u8]) -> Option<Note> {
        let note = match *event {
            ClientEvent::Registered { expires } => Note::new("registered").with("expires", expires),
            ClientEvent::RegistrationFailed { status } => {
                let reason = self.reason_of(status);
                Note::new("registration_failed")
                    .with("status", status)
                    .with("reason", reason)
            }
            ClientEvent::Unregistered => Note::new("unregistered"),
            ClientEvent::PagerReceived {
                from,
                content_type,
                body,
                message_id,
                display_handle,
            } => {
                let mut note = Note::new("message")
                    .with("from", uri_only(from.str_of(input)))
                    .with("content_type", content_type.str_of(input))
                    .with("text", String::from_utf8_lossy(body.of(input)).into_owned());
                let id = message_id.map(|m| m.str_of(input).to_owned());
                if let Some(id) = &id {
                    note = note.with("id", id.as_str());
                }
                if let Some(handle) = display_handle {
                    let key = id.unwrap_or_else(|| handle.0.to_string());
                    self.displays.insert(key, handle);
                    note = note.with("display", "requested");
                }
                note
            }
            ClientEvent::PagerSent { handle } => Note::new("sent").with("handle", handle.0),
            ClientEvent::PagerFailed { handle, status } => {
                let reason = self.reason_of(status);
                Note::new("send_failed")
                    .with("handle", handle.0)
                    .with("status", status)
                    .with("reason", reason)
            }
            ClientEvent::DeliveryNotification {
                handle,
                message_id,
                status,
            } => notification("delivered", "delivered", handle, message_id.str_of(input), status),
            ClientEvent::DisplayNotification {
                handle,
                message_id,
                status,
            } => notification("displayed", "displayed", handle, message_id.str_of(input), status),
            ClientEvent::BarringPublished { barred, status } => Note::new("barring_published")
                .with("barred", if barred { "yes" } else { "no" })
                .with("status", status),
            ClientEvent::IncomingBarred => Note::new("incoming_barred"),
            ClientEvent::Rejected { status } => Note::new("rejected").with("status", status),
            ClientEvent::ChatInvitation { chat, from } => Note::new("invitation")
                .with("chat", chat.0)
                .with("from", uri_only(from.str_of(input))),
            ClientEvent::ChatConnect { chat, active } => {
                self.chat_connect(chat, active);
                return None;
            }
            ClientEvent::ChatEstablished { chat } => Note::new("chat_established").with("chat", chat.0),
            ClientEvent::ChatBody { chat, body, offset } => {
                if let Some(link) = self.chats.get_mut(&chat.0) {
                    if offset == 0 || link.incoming.is_empty() {
                        link.incoming.push_back(Vec::new());
                    }
                    if let Some(last) = link.incoming.back_mut() {
                        last.extend_from_slice(body.of(input));
                    }
                }
                return None;
            }
            ClientEvent::ChatMessageEnd { chat, len } => {
                let text = self
                    .chats
                    .get_mut(&chat.0)
                    .and_then(|l| l.incoming.pop_front())
                    .unwrap_or_default();
                if len == 0 {
                    Note::new("chat_aborted").with("chat", chat.0)
                } else {
                    self.received_chat_message(chat.0, &text, true)
                }
            }
            ClientEvent::ChatNotificationsRequested {
                message_id,
                display_handle,
                ..
            } => {
                if let Some(handle) = display_handle {
                    self.displays.insert(message_id.as_str().to_owned(), handle);
                }
                return None;
            }
            ClientEvent::ChatSent { chat } => Note::new("chat_sent").with("chat", chat.0),
            ClientEvent::ChatSendFailed { chat } => Note::new("chat_send_failed").with("chat", chat.0),
            ClientEvent::ChatClosed { chat, status } => {
                self.chats.remove(&chat.0);
                Note::new("chat_closed")
                    .with("chat", chat.0)
                    .with("status", status)
            }
        };
        Some(note)
    }

    /// The reason phrase of the latest final response with `status` (empty when not seen).
    fn reason_of(&self, status: u16) -> String {
        self.last_final
            .as_ref()
            .filter(|f| f.status == status)
            .map(|f| f.reason.clone())
            .unwrap_or_else(|| {
                if status == 408 {
                    "Request Timeout (no answer)".into()
                } else {
                    String::new()
                }
            })
    }
}

/// The URI of a From value (`"Name" <sip:a@b>;tag=x` gives `sip:a@b`).
fn uri_only(name_addr: &str) -> &str {
    match (name_addr.find('<'), name_addr.rfind('>')) {
        (Some(open), Some(close)) if open < close => name_addr.get(open + 1..close).unwrap_or(name_addr),
        _ => name_addr.split(';').next().unwrap_or(name_addr).trim(),
    }
}

fn notification(
    event: &'static str,
    success: &'static str,
    handle: Option<MessageHandle>,
    message_id: &str,
    status: Disposition,
) -> Note {
    let status = match status {
        Disposition::Success => success,
        Disposition::Failed => "failed",
        Disposition::Forbidden => "forbidden",
        Disposition::Error => "error",
        Disposition::Other => "other",
    };
    let mut note = Note::new(event).with("id", message_id).with("status", status);
    if let Some(h) = handle {
        note = note.with("handle", h.0);
    }
    note
}
