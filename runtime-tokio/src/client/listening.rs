//! Chats whose offer says `a=setup:active` (the offerer connects, so we must listen): the core client
//! would answer `passive` with a port it never listens on, so the runtime takes these INVITEs before
//! the core, binds an ephemeral TCP port, puts it in its MSRP URI and accepts the offerer's
//! connection. The dialog and MSRP handling are those of [`super::incoming`] (200 retransmitted until
//! ACK, BYE answered); the messages are chat lines both ways.
//!
//! Without `--accept-chats` the invitation is declined with 603 (the core would leave it ringing,
//! but nobody could accept it from here).

use super::chat::Connect;
use super::incoming::{Incoming, FIRST_INCOMING_ID};
use super::output::Note;
use super::session::Session;
use crate::server::rng::OsRng;
use crate::server::sip::SipMessage;
use simple_im_core::msrp::session::{self as msrp, Session as MsrpSession, SessionConfig};
use simple_im_core::sdp::{self, LocalCaps};

/// Media types a chat accepts.
const CHAT_TYPES: &[&str] = &["message/cpim", "text/plain"];
/// Media types accepted inside CPIM.
const WRAPPED_TYPES: &[&str] = &["text/plain", "message/imdn+xml"];

impl Session {
    /// A chat INVITE whose offer makes us the passive side.
    pub(super) fn listening_chat_invite(&mut self, msg: &SipMessage) {
        let from = msg.from().map(|f| f.uri_text.to_owned()).unwrap_or_default();
        self.next_incoming += 1;
        let id = FIRST_INCOMING_ID + self.next_incoming;
        self.notes.push_back(
            Note::new("invitation")
                .with("chat", id)
                .with("from", from.as_str()),
        );
        if !self.accept_chats {
            self.respond(msg, 603, "Decline (not accepting chats)", None, &[]);
            return;
        }
        let local = self.local_address();
        let listener = std::net::TcpListener::bind((local.ip(), 0))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std);
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                self.respond(
                    msg,
                    500,
                    "Server Internal Error (cannot listen for MSRP)",
                    None,
                    &[],
                );
                self.notes.push_back(
                    Note::new("chat_failed")
                        .with("chat", id)
                        .with("reason", e.to_string()),
                );
                return;
            }
        };
        let port = listener.local_addr().map_or(0, |a| a.port());
        let local_uri = format!(
            "msrp://{}:{port}/{};tcp",
            local.ip(),
            crate::server::rng::token(8)
        );
        let Ok(offer) = sdp::Session::parse(msg.body()) else {
            self.respond(msg, 488, "Not Acceptable Here (unreadable SDP)", None, &[]);
            return;
        };
        let path = [local_uri.as_str()];
        let caps = LocalCaps {
            accept_types: CHAT_TYPES,
            accept_wrapped_types: WRAPPED_TYPES,
            path: &path,
            port,
            max_size: None,
            prefer_passive: true,
            accept_file_transfer: false,
        };
        let Some((negotiated, answer, remote_path)) = self.answer(msg, &offer, &caps) else {
            return;
        };
        let config = SessionConfig {
            accept_types: CHAT_TYPES,
            ..SessionConfig::default()
        };
        let session = MsrpSession::new(config, &local_uri, &remote_path, msrp::Setup::Passive, &mut OsRng);
        let (Ok(session), sdp::Role::Passive) = (session, negotiated.role) else {
            self.respond(msg, 488, "Not Acceptable Here (MSRP path or setup)", None, &[]);
            return;
        };
        let tag = crate::server::rng::token(6);
        let response = self.respond(msg, 200, "OK", Some(&tag), &answer);
        let udp = !self.is_tcp();
        let mut chat = Incoming::answered(id, msg.call_id(), response, udp, session);
        chat.chat = true;
        self.incoming.insert(id, chat);
        self.open_msrp(id, Connect::Accept(listener));
        self.notes
            .push_back(Note::new("chat_established").with("chat", id));
    }

    /// Sends `text` in a chat we listen for.
    pub fn say_incoming(&mut self, id: u32, text: &str) -> Result<(), String> {
        let chat = self
            .incoming
            .get_mut(&id)
            .filter(|i| i.chat)
            .ok_or_else(|| format!("no chat {id}"))?;
        if chat.msrp.is_none() {
            return Err("the chat's connection is gone".into());
        }
        chat.waiting.push_back(text.to_owned());
        send_waiting(chat);
        Ok(())
    }
}

/// Hands the lines waiting in `chat` to its MSRP session, in order, while its bounded queue has room
/// (a message leaves it once sent and reported): lines typed faster wait instead of failing.
pub(super) fn send_waiting(chat: &mut Incoming) {
    let Some(session) = chat.msrp.as_mut() else {
        return;
    };
    while let Some(text) = chat.waiting.front() {
        match session.send("text/plain;charset=utf-8", Some(text.len() as u64)) {
            Ok(handle) => {
                let text = chat.waiting.pop_front().unwrap_or_default();
                chat.outbox.add_text(handle, text.into_bytes());
            }
            Err(msrp::SendError::QueueFull) => break,
            // The session failed: its end is reported by the connection; the lines are dropped.
            Err(_) => {
                chat.waiting.clear();
                break;
            }
        }
    }
}
