//! Chats we start: the INVITE with our offer, its answer, ACK.

use heapless::{String, Vec};

use super::{
    dialog_parts_of, imdn, msrp_path_of, pump_client_invite, sdp_origin, session_config, Chat, ChatMsrp,
    ChatState, ChatTx, SliceRng, CHAT_ACCEPT_TYPES, CHAT_WRAPPED_TYPES, MAX_SDP_LEN,
};
use crate::client::events::{ChatId, ClientEvent};
use crate::client::wire::{self, RequestHead};
use crate::client::{Client, CommandError, RESPONSE_CAPACITY};
use crate::log::warning;
use crate::msrp::session::Setup as MsrpSetup;
use crate::rng::Rng;
use crate::sdp::{self, Connection, MsrpMediaDesc, SessionDesc, Setup};
use crate::sip::dialog::{generate_tag, Dialog, DialogParts, DialogUsage, RouteValue};
use crate::sip::transaction::{generate_branch, ClientInvite};
use crate::sip::{ack_for_non_2xx, Header, HeaderName, Message, MessageWriter, Method, ParseConfig};
use crate::time::Instant;
use crate::write::Decimal;

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Invites `to` to a chat: sends an INVITE with an MSRP offer. `ChatConnect` follows the answer.
    pub fn invite_chat(&mut self, now: Instant, to: &str) -> Result<ChatId, CommandError> {
        if !Self::SESSION_MODE {
            return Err(CommandError::Busy); // no chat slot at all
        }
        let index = self.free_chat_slot().ok_or(CommandError::Busy)?;
        let local_uri = self.new_local_msrp_uri();
        let branch = generate_branch(&mut self.rng);
        let local_tag = generate_tag(&mut self.rng);
        let call_id = wire::new_call_id(&mut self.rng);
        let session_id = wire::new_call_id(&mut self.rng);
        let (msrp_host, msrp_port) = self.msrp_endpoint();
        let host = msrp_host.as_str();
        let path = [local_uri.as_str()];
        let media = [MsrpMediaDesc {
            port: msrp_port,
            tls: false,
            title: None,
            direction: None,
            accept_types: CHAT_ACCEPT_TYPES,
            accept_wrapped_types: CHAT_WRAPPED_TYPES,
            path: &path,
            max_size: None,
            // Reachable at a configured MSRP address: let the answerer choose (RFC 6135 actpass).
            setup: Some(if self.msrp_address.is_some() {
                Setup::ActPass
            } else {
                Setup::Active
            }),
            file: None,
        }];
        let desc = SessionDesc {
            origin: sdp_origin(session_id.as_str(), host),
            session_name: "-",
            connection: Some(Connection {
                net_type: "IN",
                addr_type: "IP4",
                address: host,
            }),
            media: &media,
        };
        let mut offer = [0u8; MAX_SDP_LEN];
        let offer_len = desc.write(&mut offer).map_err(|_| CommandError::InvalidValue)?;
        let head = RequestHead {
            method: Method::Invite,
            uri: to,
            transport: self.transport_token(),
            local: self.local.as_str(),
            branch: branch.as_str(),
            display_name: self.config.display_name.as_str(),
            from_uri: self.config.aor.as_str(),
            from_tag: local_tag.as_str(),
            to,
            call_id: call_id.as_str(),
            cseq: 1,
        };
        let user = wire::aor_user(self.config.aor.as_str());
        let mut bytes: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut bytes, |buf| {
            let mut w = wire::start_request(buf, &head)?;
            w.header_parts(
                HeaderName::Contact,
                &["<sip:", user, "@", self.local.as_str(), ">"],
            )?;
            w.header(HeaderName::ContentType, "application/sdp")?;
            w.finish(offer.get(..offer_len).unwrap_or(&[]))
        })
        .map_err(|_| CommandError::TooLarge)?;
        let tx = ClientInvite::new(now, self.config.timers(), self.reliability(), bytes);
        let id = self.new_handle();
        let mut branch_copy = String::new();
        let _ = branch_copy.push_str(branch.as_str());
        let mut chat = Chat::new(id, ChatState::Inviting, ChatTx::Client(tx), local_tag);
        chat.branch = branch_copy;
        let _ = pump_client_invite(&mut chat);
        if let Some(slot) = self.chats.get_mut(index) {
            *slot = Some(chat);
        }
        Ok(ChatId(id))
    }

    /// A response whose top Via names one of our INVITEs. `true` when handled here.
    pub(crate) fn chat_response(
        &mut self,
        now: Instant,
        branch: &str,
        status: u16,
        msg: &Message<'_, '_>,
    ) -> bool {
        let Some(index) = self
            .chats
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.branch.as_str() == branch))
        else {
            return false;
        };
        // A response matches a client transaction by branch *and* CSeq method (RFC 3261 §17.1.3):
        // the 200 to a CANCEL of our INVITE shares its branch and must not be taken for its 2xx.
        if msg
            .cseq()
            .and_then(Result::ok)
            .is_some_and(|c| c.method != Method::Invite)
        {
            return true;
        }
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return true;
        };
        let Some(tx) = c.client_tx() else { return true };
        tx.handle_response(now, status);
        let wants_ack = pump_client_invite(c);
        let id = ChatId(c.id);
        let state = c.state;
        let previous_ack: Option<Vec<u8, RESPONSE_CAPACITY>> =
            Vec::from_slice(&c.kept).ok().filter(|ack| !ack.is_empty());
        if wants_ack {
            let invite = c.our_invite();
            let mut slots = [Header::EMPTY; crate::client::MAX_HEADERS];
            if let Ok(inv) = Message::parse_datagram(&invite, &mut slots, &ParseConfig::default()) {
                let mut ack: Vec<u8, RESPONSE_CAPACITY> = Vec::new();
                if wire::fill(&mut ack, |buf| ack_for_non_2xx(&inv, msg, buf)).is_ok() {
                    self.queue_stateless(crate::client::Destination::Server, ack);
                }
            }
        }
        let authed = self
            .chats
            .get(index)
            .and_then(|c| c.as_ref())
            .is_some_and(|c| c.authed);
        if matches!(status, 401 | 407)
            && state == ChatState::Inviting
            && !authed
            && self.reinvite_with_credentials(now, index, status, msg).is_ok()
        {
            return true;
        }
        match status {
            200..=299 if state == ChatState::Inviting => self.invite_accepted(now, index, msg),
            // A retransmitted 2xx: our ACK was lost.
            200..=299 => {
                if let Some(ack) = previous_ack {
                    self.queue_stateless(crate::client::Destination::Server, ack);
                }
            }
            300..=699 if state == ChatState::Inviting => {
                if let Some(Some(c)) = self.chats.get_mut(index) {
                    c.state = ChatState::Closed;
                }
                self.push_event(ClientEvent::ChatClosed { chat: id, status });
            }
            _ => {}
        }
        true
    }

    /// Answers the challenge in `challenge_msg` (a 401 or 407 to our INVITE) and sends the INVITE
    /// again in a new transaction: same dialog identifiers and offer, new branch, CSeq + 1.
    fn reinvite_with_credentials(
        &mut self,
        now: Instant,
        index: usize,
        status: u16,
        challenge_msg: &Message<'_, '_>,
    ) -> Result<(), ()> {
        let (challenge_name, answer_name) = if status == 407 {
            (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization)
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        let old = self
            .chats
            .get(index)
            .and_then(|c| c.as_ref())
            .ok_or(())?
            .our_invite();
        let mut slots = [Header::EMPTY; crate::client::MAX_HEADERS];
        let old_msg = Message::parse_datagram(&old, &mut slots, &ParseConfig::default()).map_err(|_| ())?;
        let uri = old_msg.request_uri().ok_or(())?;
        let cseq = old_msg
            .cseq()
            .and_then(Result::ok)
            .ok_or(())?
            .seq
            .saturating_add(1);
        let answer = crate::client::registration::answer_challenge(
            &mut self.registration.digest,
            &mut self.rng,
            &self.config,
            challenge_msg.values(challenge_name),
            "INVITE",
            uri,
            old_msg.body(),
        )
        .ok_or(())?;
        let branch = generate_branch(&mut self.rng);
        let mut bytes: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut bytes, |buf| {
            wire::reissue_with_answer(buf, &old_msg, branch.as_str(), cseq, answer_name, answer.as_str())
        })
        .map_err(|_| ())?;
        let tx = ClientInvite::new(now, self.config.timers(), self.reliability(), bytes);
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return Err(());
        };
        c.tx = Some(ChatTx::Client(tx));
        c.branch.clear();
        let _ = c.branch.push_str(branch.as_str());
        c.authed = true;
        c.kept.clear();
        let _ = pump_client_invite(c);
        Ok(())
    }

    fn invite_accepted(&mut self, now: Instant, index: usize, msg: &Message<'_, '_>) {
        let mut ids = [0u8; 8];
        self.rng.fill(&mut ids);
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return;
        };
        let id = ChatId(c.id);
        let invite = c.our_invite();
        let mut slots = [Header::EMPTY; crate::client::MAX_HEADERS];
        let Ok(inv) = Message::parse_datagram(&invite, &mut slots, &ParseConfig::default()) else {
            return;
        };
        let rr: Vec<&str, 4> = msg.values(HeaderName::RecordRoute).take(4).collect();
        let dialog = dialog_parts_of(msg).and_then(|parts| {
            Dialog::new_uac(
                DialogUsage::Invite,
                200,
                &DialogParts {
                    record_route: &rr,
                    ..parts
                },
                false,
            )
            .ok()
        });
        let Some(dialog) = dialog else {
            warning!("2xx to our INVITE cannot form a dialog (no Contact or tag); dropping the chat");
            c.state = ChatState::Closed;
            self.push_event(ClientEvent::ChatClosed {
                chat: id,
                status: 502,
            });
            return;
        };
        let seq = inv.cseq().and_then(Result::ok).map_or(1, |c| c.seq);
        let mut ack: Vec<u8, RESPONSE_CAPACITY> = Vec::new();
        let built = wire::fill(&mut ack, |buf| {
            let target = dialog
                .request_target()
                .map_err(|_| crate::sip::BuildError::WrongKind)?;
            let mut w = MessageWriter::request(buf, Method::Ack, target.request_uri.as_str())?;
            let branch = generate_branch(&mut self.rng);
            let via = inv.values(HeaderName::Via).next().unwrap_or("");
            let old = crate::sip::header::Via::parse(via)
                .ok()
                .and_then(|v| v.branch)
                .unwrap_or("");
            let (before, after) = crate::substring::split_once_str(via, old).unwrap_or((via, ""));
            w.header_parts(HeaderName::Via, &[before, branch.as_str(), after])?;
            w.header(HeaderName::MaxForwards, "70")?;
            for route in target.routes() {
                match route {
                    RouteValue::Entry(value) => w.header(HeaderName::Route, value)?,
                    RouteValue::RemoteTarget(uri) => w.header_parts(HeaderName::Route, &["<", uri, ">"])?,
                };
            }
            w.header(HeaderName::From, inv.header(HeaderName::From).unwrap_or(""))?;
            w.header(HeaderName::To, msg.header(HeaderName::To).unwrap_or(""))?;
            w.header(HeaderName::CallId, inv.call_id().unwrap_or(""))?;
            w.header_parts(HeaderName::CSeq, &[Decimal::new(u64::from(seq)).as_str(), " ACK"])?;
            w.finish(b"")
        });
        if built.is_ok() {
            c.kept = Vec::from_slice(&ack).unwrap_or_default();
            self.queue_stateless(crate::client::Destination::Server, ack);
        }
        let Some(Some(c)) = self.chats.get_mut(index) else {
            return;
        };
        c.dialog = Some(dialog);
        let agreed = match (sdp::Session::parse(inv.body()), sdp::Session::parse(msg.body())) {
            (Ok(offer), Ok(answer)) => sdp::check_answer(&offer, &answer).ok().map(|agreement| {
                let active = agreement.offerer_role == sdp::Role::Active;
                let imdn = imdn::takes_imdn_in_session(answer.media().nth(agreement.media_index));
                // Our offer's a=path is our own MSRP URI (the slot does not keep a copy).
                let ours = msrp_path_of(&offer, agreement.media_index);
                (ours, msrp_path_of(&answer, agreement.media_index), active, imdn)
            }),
            _ => None,
        };
        c.imdn_in_session = agreed.as_ref().is_some_and(|(_, _, _, imdn)| *imdn);
        let session = agreed.and_then(|(ours, remote, active, _)| {
            let setup = if active {
                MsrpSetup::Active
            } else {
                MsrpSetup::Passive
            };
            ChatMsrp::with_capacities(
                session_config(),
                ours.as_str(),
                remote.as_str(),
                setup,
                &mut SliceRng(&ids),
            )
            .ok()
            .map(|session| (session, active))
        });
        match session {
            Some((session, active)) => {
                c.msrp = Some(session);
                c.state = ChatState::Active;
                self.push_event(ClientEvent::ChatConnect { chat: id, active });
                self.push_event(ClientEvent::ChatEstablished { chat: id });
            }
            None => {
                warning!("the SDP answer is unusable; ending the chat");
                self.end_chat(now, index);
                self.push_event(ClientEvent::ChatClosed {
                    chat: id,
                    status: 488,
                });
            }
        }
    }
}
