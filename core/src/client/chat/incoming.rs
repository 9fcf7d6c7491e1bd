//! Chats we are invited to: the INVITE, the user's answer (200 with our SDP answer, or 603).

use heapless::Vec;

use super::{
    dialog_parts_of, imdn, msrp_path_of, pump_server_invite, sdp_origin, session_config, Chat, ChatMsrp,
    ChatState, ChatTx, SliceRng, CHAT_ACCEPT_TYPES, CHAT_WRAPPED_TYPES, MAX_SDP_LEN, MSRP_PORT,
};
use crate::client::events::{ChatId, ClientEvent, Span};
use crate::client::{wire, Client, CommandError};
use crate::msrp::session::Setup as MsrpSetup;
use crate::rng::Rng;
use crate::sdp::{self, Connection, LocalCaps};
use crate::sip::builder::response_to;
use crate::sip::dialog::{generate_tag, Dialog, DialogParts, DialogUsage};
use crate::sip::transaction::{ServerInvite, TransactionKey};
use crate::sip::{Header, HeaderName, Message, ParseConfig};
use crate::time::Instant;

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    pub(super) fn incoming_invite(
        &mut self,
        now: Instant,
        base: &[u8],
        msg: &Message<'_, '_>,
        key: &TransactionKey,
        reply_to: crate::client::Destination<A>,
    ) {
        if self.barred {
            self.push_event(ClientEvent::IncomingBarred);
            self.respond_stateless(msg, 480, "Temporarily Unavailable", reply_to);
            return;
        }
        let usable = sdp::Session::parse(msg.body()).ok().is_some_and(|offer| {
            let caps = LocalCaps {
                accept_types: CHAT_ACCEPT_TYPES,
                accept_wrapped_types: CHAT_WRAPPED_TYPES,
                path: &["msrp://x.invalid:1/probe;tcp"],
                port: MSRP_PORT,
                max_size: None,
                prefer_passive: false,
                accept_file_transfer: false,
            };
            sdp::negotiate(&offer, &caps).is_ok()
        });
        if !usable {
            self.respond_stateless(msg, 488, "Not Acceptable Here", reply_to);
            return;
        }
        let Some(index) = self.free_chat_slot() else {
            self.respond_stateless(msg, 486, "Busy Here", reply_to);
            return;
        };
        let Ok(invite) = Vec::from_slice(msg.raw().get(..msg.wire_len()).unwrap_or(msg.raw())) else {
            self.respond_stateless(msg, 513, "Message Too Large", reply_to);
            return;
        };
        let local_tag = generate_tag(&mut self.rng);
        let mut ringing: Vec<u8, REQ> = Vec::new();
        if wire::fill(&mut ringing, |buf| {
            let mut w = response_to(msg, 180, "Ringing", Some(local_tag.as_str()), buf)?;
            copy_record_route(msg, &mut w)?;
            w.finish(b"")
        })
        .is_err()
        {
            return;
        }
        let mut tx = ServerInvite::new(now, self.config.timers(), self.reliability());
        let _ = tx.send_response(now, 180, ringing);
        let id = self.new_handle();
        let mut chat = Chat::new(id, ChatState::Invited, ChatTx::Server(tx), local_tag);
        chat.kept = invite;
        chat.server_key = Some(key.clone());
        pump_server_invite(&mut chat);
        if let Some(slot) = self.chats.get_mut(index) {
            *slot = Some(chat);
        }
        let from = msg.header(HeaderName::From).unwrap_or("");
        self.push_event(ClientEvent::ChatInvitation {
            chat: ChatId(id),
            from: Span::within(base, from.as_bytes()),
        });
    }

    /// Accepts the invitation `chat`: answers 200 with our SDP and asks the runtime to connect MSRP.
    pub fn accept_chat(&mut self, now: Instant, chat: ChatId) -> Result<(), CommandError> {
        if !Self::SESSION_MODE {
            return Err(CommandError::UnknownHandle);
        }
        let index = self.chat_index(chat).ok_or(CommandError::UnknownHandle)?;
        let local = self.local.clone();
        let (msrp_host, msrp_port) = self.msrp_endpoint();
        // Our MSRP URI is made when we answer (the invitation itself needs none).
        let local_uri = self.new_local_msrp_uri();
        let timers = self.config.timers();
        let mut ids = [0u8; 8];
        self.rng.fill(&mut ids);
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return Err(CommandError::UnknownHandle);
        };
        if c.state != ChatState::Invited {
            return Err(CommandError::UnknownHandle);
        }
        let invite = c.kept.clone();
        let mut slots = [Header::EMPTY; crate::client::MAX_HEADERS];
        let msg = Message::parse_datagram(&invite, &mut slots, &ParseConfig::default())
            .map_err(|_| CommandError::InvalidValue)?;
        let offer = sdp::Session::parse(msg.body()).map_err(|_| CommandError::InvalidValue)?;
        let path = [local_uri.as_str()];
        let caps = LocalCaps {
            accept_types: CHAT_ACCEPT_TYPES,
            accept_wrapped_types: CHAT_WRAPPED_TYPES,
            path: &path,
            port: msrp_port,
            max_size: None,
            prefer_passive: false,
            accept_file_transfer: false,
        };
        let negotiated = sdp::negotiate(&offer, &caps).map_err(|_| CommandError::InvalidValue)?;
        let host = msrp_host.as_str();
        let session_id = wire::new_call_id(&mut SliceRng(&ids));
        let mut answer = [0u8; MAX_SDP_LEN];
        let answer_len = negotiated
            .write_answer(
                &offer,
                &caps,
                &sdp_origin(session_id.as_str(), host),
                Some(&Connection {
                    net_type: "IN",
                    addr_type: "IP4",
                    address: host,
                }),
                &mut answer,
            )
            .map_err(|_| CommandError::TooLarge)?;
        let remote_path = msrp_path_of(&offer, negotiated.media_index);
        let imdn_in_session = imdn::takes_imdn_in_session(offer.media().nth(negotiated.media_index));
        let setup = match negotiated.role {
            sdp::Role::Active => MsrpSetup::Active,
            sdp::Role::Passive => MsrpSetup::Passive,
        };
        let session = ChatMsrp::with_capacities(
            session_config(),
            local_uri.as_str(),
            remote_path.as_str(),
            setup,
            &mut SliceRng(&ids),
        )
        .map_err(|_| CommandError::InvalidValue)?;
        let user = wire::aor_user(self.config.aor.as_str());
        let mut ok: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut ok, |buf| {
            let mut w = response_to(&msg, 200, "OK", Some(c.local_tag.as_str()), buf)?;
            copy_record_route(&msg, &mut w)?;
            w.header_parts(HeaderName::Contact, &["<sip:", user, "@", local.as_str(), ">"])?;
            w.header(HeaderName::ContentType, "application/sdp")?;
            w.finish(answer.get(..answer_len).unwrap_or(&[]))
        })
        .map_err(|_| CommandError::TooLarge)?;
        let parts = dialog_parts_of(&msg).ok_or(CommandError::InvalidValue)?;
        let rr: Vec<&str, 4> = msg.values(HeaderName::RecordRoute).take(4).collect();
        let dialog = Dialog::new_uas(
            DialogUsage::Invite,
            200,
            &DialogParts {
                record_route: &rr,
                ..parts
            },
            c.local_tag.as_str(),
            false,
        )
        .map_err(|_| CommandError::InvalidValue)?;
        if let Some(tx) = c.server_tx() {
            tx.send_response(now, 200, ok)
                .map_err(|_| CommandError::UnknownHandle)?;
        }
        pump_server_invite(c);
        c.dialog = Some(dialog);
        c.msrp = Some(session);
        c.imdn_in_session = imdn_in_session;
        c.state = ChatState::Accepted;
        if self.config.transport == crate::client::TransportKind::Udp {
            c.retransmit_interval = timers.t1;
            c.retransmit_at = Some(now + timers.t1);
        }
        c.give_up_at = Some(now + timers.transaction_timeout());
        let active = setup == MsrpSetup::Active;
        self.push_event(ClientEvent::ChatConnect { chat, active });
        Ok(())
    }

    /// Declines the invitation `chat` (603 Decline).
    pub fn decline_chat(&mut self, now: Instant, chat: ChatId) -> Result<(), CommandError> {
        if !Self::SESSION_MODE {
            return Err(CommandError::UnknownHandle);
        }
        let index = self.chat_index(chat).ok_or(CommandError::UnknownHandle)?;
        self.refuse_invitation(now, index, 603, "Decline")
    }

    /// A CANCEL (RFC 3261 §9.2): it matches the ringing invitation whose INVITE had the same Call-ID
    /// and top Via branch. The CANCEL gets 200 and the INVITE 487; a CANCEL for a chat already
    /// answered gets 200 and changes nothing; one matching no chat gets 481.
    pub(crate) fn incoming_cancel(
        &mut self,
        now: Instant,
        msg: &Message<'_, '_>,
        key: &TransactionKey,
        reply_to: super::super::Destination<A>,
    ) {
        let call_id = msg.call_id().unwrap_or("");
        let branch = msg
            .top_via()
            .and_then(Result::ok)
            .and_then(|v| v.branch)
            .unwrap_or("");
        let found = self.chats.iter().position(|c| {
            // Only invitations keep the peer's INVITE (an outgoing chat keeps its ACK there).
            c.as_ref().filter(|c| c.server_key.is_some()).is_some_and(|c| {
                let mut slots = [Header::EMPTY; crate::client::MAX_HEADERS];
                Message::parse_datagram(&c.kept, &mut slots, &ParseConfig::default()).is_ok_and(|invite| {
                    invite.call_id() == Some(call_id)
                        && invite.top_via().and_then(Result::ok).and_then(|v| v.branch) == Some(branch)
                })
            })
        });
        let Some(index) = found else {
            self.respond_in_transaction(
                now,
                msg,
                key.clone(),
                481,
                "Call/Transaction Does Not Exist",
                reply_to,
            );
            return;
        };
        self.respond_in_transaction(now, msg, key.clone(), 200, "OK", reply_to);
        let ringing = self
            .chats
            .get(index)
            .and_then(Option::as_ref)
            .filter(|c| c.state == ChatState::Invited)
            .map(|c| c.id);
        if let Some(id) = ringing {
            if self
                .refuse_invitation(now, index, 487, "Request Terminated")
                .is_ok()
            {
                self.push_event(ClientEvent::ChatClosed {
                    chat: ChatId(id),
                    status: 487,
                });
            }
        }
    }

    /// Answers the ringing invitation in slot `index` with the final `code` and closes the chat.
    fn refuse_invitation(
        &mut self,
        now: Instant,
        index: usize,
        code: u16,
        reason: &str,
    ) -> Result<(), CommandError> {
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return Err(CommandError::UnknownHandle);
        };
        if c.state != ChatState::Invited {
            return Err(CommandError::UnknownHandle);
        }
        let invite = c.kept.clone();
        let mut slots = [Header::EMPTY; crate::client::MAX_HEADERS];
        let msg = Message::parse_datagram(&invite, &mut slots, &ParseConfig::default())
            .map_err(|_| CommandError::InvalidValue)?;
        let mut answer: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut answer, |buf| {
            response_to(&msg, code, reason, Some(c.local_tag.as_str()), buf)?.finish(b"")
        })
        .map_err(|_| CommandError::TooLarge)?;
        if let Some(tx) = c.server_tx() {
            tx.send_response(now, code, answer)
                .map_err(|_| CommandError::UnknownHandle)?;
        }
        pump_server_invite(c);
        c.state = ChatState::Closed;
        Ok(())
    }
}

/// Copies the INVITE's Record-Route values, in order, into a dialog-creating response (RFC 3261
/// §12.1.1): the proxies that asked to stay in the path see the dialog's later requests, and the
/// inviter builds its route set from them.
fn copy_record_route(
    invite: &Message<'_, '_>,
    w: &mut crate::sip::builder::MessageWriter<'_>,
) -> Result<(), crate::sip::BuildError> {
    for value in invite.values(HeaderName::RecordRoute) {
        w.header(HeaderName::RecordRoute, value)?;
    }
    Ok(())
}
