//! Pager mode (RFC 3428): sending MESSAGE (optionally CPIM-wrapped with an IMDN request, RFC 5438) and
//! receiving it. Every outgoing non-REGISTER request (pager, IMDN, PUBLISH) shares the [`Outgoing`]
//! slots; a 401/407 is answered once with digest credentials in a new transaction (CSeq + 1).
//!
//! | outgoing state | input | action |
//! |---|---|---|
//! | in flight | 1xx | keep waiting |
//! | in flight | 401/407, not yet authenticated | resend with credentials (new branch, CSeq + 1) |
//! | in flight | other final | `PagerSent` (2xx) or `PagerFailed{status}` |
//! | in flight | timer F / transport error | `PagerFailed{408}` |

use crate::ascii_trim::starts_with_ignore_case;
use crate::ascii_trim::TrimAsciiWs;
use heapless::Vec;

use super::events::{ClientEvent, MessageHandle, ReceivedHandle, Span};
use super::wire::{self, RequestHead};
use super::{classify, Client, CommandError, TxOutcome};
use crate::cpim;
use crate::imdn;
use crate::log::{debug, warning};
use crate::rng::Rng;
use crate::sip::builder::BuildError;
use crate::sip::dialog::generate_tag;
use crate::sip::transaction::{generate_branch, Branch, ClientNonInvite, Output};
use crate::sip::{Header, HeaderName, Message, Method, ParseConfig};
use crate::time::Instant;

/// Asks the recipient for notifications (RFC 5438): the IM is CPIM-wrapped with a Message-ID.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImdnRequest<'a> {
    /// The IM's `DateTime` (RFC 3339); the device's wall clock, which the client does not know.
    pub date_time: &'a str,
    /// Ask for a display notification too (delivery is always asked).
    pub display: bool,
}

/// Why an outgoing request exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    Pager(MessageHandle),
    Notification,
    Publish {
        barred: bool,
        kind: super::settings::PublishKind,
    },
    Register,
    Bye,
}

/// One outgoing non-INVITE request and its transaction.
pub(crate) struct Outgoing<const REQ: usize> {
    pub(crate) tx: ClientNonInvite<Vec<u8, REQ>>,
    pub(crate) branch: Branch,
    pub(crate) pending: u8,
    pub(crate) authed: bool,
    pub(crate) purpose: Purpose,
    pub(crate) cseq: u32,
}

impl<const REQ: usize> Outgoing<REQ> {
    /// Drains the transaction: counts transmissions, reports a failure (final responses are handled
    /// where they are parsed).
    pub(crate) fn pump(&mut self) -> Option<TxOutcome> {
        let mut failed = None;
        while let Some(out) = self.tx.poll_output() {
            match out {
                Output::Transmit(_) => self.pending = self.pending.saturating_add(1),
                Output::Event(e) => {
                    if let Some(TxOutcome::Failed) = classify(e) {
                        failed = Some(TxOutcome::Failed);
                    }
                }
                Output::SendAck { .. } => {}
            }
        }
        failed
    }
}

/// Bytes of a CPIM body built on the stack before it is copied into the request.
pub const CPIM_SCRATCH: usize = 1280;

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Sends a pager-mode IM to `to` (a SIP URI). With `imdn`, the body is wrapped in CPIM with a fresh
    /// Message-ID asking for delivery (and display) notifications, reported as `DeliveryNotification` /
    /// `DisplayNotification` with the returned handle.
    pub fn send_pager(
        &mut self,
        now: Instant,
        to: &str,
        content_type: &str,
        body: &[u8],
        imdn: Option<ImdnRequest<'_>>,
    ) -> Result<MessageHandle, CommandError> {
        let handle = MessageHandle(self.new_handle());
        let purpose = Purpose::Pager(handle);
        match imdn {
            None => {
                self.send_request(now, Method::Message, to, to, content_type, &[], body, purpose)?;
            }
            Some(request) => {
                let id = imdn::new_message_id(&mut self.rng);
                let mut scratch = [0u8; CPIM_SCRATCH];
                let len = {
                    let mut b = cpim::Builder::new(&mut scratch);
                    let ask = imdn::DispositionRequest {
                        positive_delivery: true,
                        display: request.display,
                        ..Default::default()
                    };
                    b.from(None, self.config.aor.as_str())
                        .and_then(|b| b.to(None, to))
                        .map_err(|_| CommandError::InvalidValue)?;
                    imdn::add_request_headers(&mut b, id.as_str(), request.date_time, ask)
                        .map_err(|_| CommandError::TooLarge)?;
                    b.content_header("Content-Type", content_type)
                        .map_err(|_| CommandError::InvalidValue)?;
                    b.body(body).map_err(|_| CommandError::TooLarge)?
                };
                let cpim_body = scratch.get(..len).unwrap_or(&[]);
                self.send_request(
                    now,
                    Method::Message,
                    to,
                    to,
                    "message/cpim",
                    &[],
                    cpim_body,
                    purpose,
                )?;
                if self.sent_ids.is_full() {
                    let _ = self.sent_ids.pop_front();
                }
                let _ = self.sent_ids.push_back((handle, id));
            }
        }
        Ok(handle)
    }

    /// Builds and starts an out-of-dialog request in a free outgoing slot.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        method: Method<'static>,
        uri: &str,
        to: &str,
        content_type: &str,
        extra: &[(HeaderName<'static>, &str)],
        body: &[u8],
        purpose: Purpose,
    ) -> Result<usize, CommandError> {
        let index = self.free_outgoing_slot()?;
        let branch = generate_branch(&mut self.rng);
        let tag = generate_tag(&mut self.rng);
        let call_id = wire::new_call_id(&mut self.rng);
        let cseq = 1;
        let head = RequestHead {
            method,
            uri,
            transport: self.transport_token(),
            local: self.local.as_str(),
            branch: branch.as_str(),
            display_name: self.config.display_name.as_str(),
            from_uri: self.config.aor.as_str(),
            from_tag: tag.as_str(),
            to,
            call_id: call_id.as_str(),
            cseq,
        };
        let mut bytes: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut bytes, |buf| {
            let mut w = wire::start_request(buf, &head)?;
            for (name, value) in extra {
                w.header(*name, value)?;
            }
            if !body.is_empty() {
                w.header(HeaderName::ContentType, content_type)?;
            }
            w.finish(body)
        })
        .map_err(|e| match e {
            BuildError::BufferTooSmall => CommandError::TooLarge,
            _ => CommandError::InvalidValue,
        })?;
        self.start_outgoing(now, index, bytes, branch, cseq, false, purpose);
        Ok(index)
    }

    /// Sends BYE in a dialog (fields from the dialog; `routes` as Route headers).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_in_dialog(
        &mut self,
        now: Instant,
        uri: &str,
        remote_uri: &str,
        remote_tag: &str,
        local_tag: &str,
        call_id: &str,
        cseq: u32,
        routes: &[(HeaderName<'static>, &str)],
    ) -> Result<(), CommandError> {
        let index = self.free_outgoing_slot()?;
        let branch = generate_branch(&mut self.rng);
        let head = RequestHead {
            method: Method::Bye,
            uri,
            transport: self.transport_token(),
            local: self.local.as_str(),
            branch: branch.as_str(),
            display_name: "",
            from_uri: self.config.aor.as_str(),
            from_tag: local_tag,
            to: remote_uri,
            call_id,
            cseq,
        };
        let mut bytes: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut bytes, |buf| {
            let mut w = wire::start_request(buf, &head)?;
            for (name, value) in routes {
                w.header(*name, value)?;
            }
            w.finish(b"")
        })
        .map_err(|_| CommandError::TooLarge)?;
        // The To tag: start_request writes `<to>`; add the tag by rewriting the To line.
        let with_tag = add_to_tag::<REQ>(&bytes, remote_tag).ok_or(CommandError::TooLarge)?;
        self.start_outgoing(now, index, with_tag, branch, cseq, false, Purpose::Bye);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn start_outgoing(
        &mut self,
        now: Instant,
        index: usize,
        bytes: Vec<u8, REQ>,
        branch: Branch,
        cseq: u32,
        authed: bool,
        purpose: Purpose,
    ) {
        let tx = ClientNonInvite::new(now, self.config.timers(), self.reliability(), bytes);
        if let Some(slot) = self.outgoing.get_mut(index) {
            *slot = Some(Outgoing {
                tx,
                branch,
                pending: 0,
                authed,
                purpose,
                cseq,
            });
        }
        self.pump_outgoing(now, index);
    }

    pub(crate) fn outgoing_response(
        &mut self,
        now: Instant,
        index: usize,
        status: u16,
        msg: &Message<'_, '_>,
    ) {
        let Some(Some(o)) = self.outgoing.get_mut(index) else {
            return;
        };
        let was_open = !o.tx.is_terminated()
            && matches!(
                o.tx.state(),
                crate::sip::transaction::ClientNonInviteState::Trying
                    | crate::sip::transaction::ClientNonInviteState::Proceeding
            );
        o.tx.handle_response(now, status);
        let _ = o.pump();
        if !was_open || status < 200 {
            return;
        }
        let (purpose, authed, cseq) = (o.purpose, o.authed, o.cseq);
        if matches!(status, 401 | 407)
            && !authed
            && self
                .reissue_with_credentials(now, index, status, msg, cseq)
                .is_ok()
        {
            return;
        }
        if let Purpose::Publish { barred, kind } = purpose {
            self.publish_done(now, barred, kind, status, Some(msg));
            return;
        }
        self.outgoing_done(purpose, status);
    }

    pub(crate) fn outgoing_failed(&mut self, now: Instant, index: usize, _outcome: TxOutcome) {
        let Some(Some(o)) = self.outgoing.get(index) else {
            return;
        };
        let purpose = o.purpose;
        if let Purpose::Publish { barred, kind } = purpose {
            self.publish_done(now, barred, kind, 408, None);
            return;
        }
        self.outgoing_done(purpose, 408);
    }

    fn outgoing_done(&mut self, purpose: Purpose, status: u16) {
        match purpose {
            Purpose::Pager(handle) if (200..300).contains(&status) => {
                self.push_event(ClientEvent::PagerSent { handle })
            }
            Purpose::Pager(handle) => self.push_event(ClientEvent::PagerFailed { handle, status }),
            Purpose::Notification => debug!("IMDN MESSAGE finished with {}", status),
            Purpose::Publish { .. } => {} // publish_done
            Purpose::Register | Purpose::Bye => {}
        }
    }

    /// Resends the request of slot `index` with an Authorization (401) or Proxy-Authorization (407).
    fn reissue_with_credentials(
        &mut self,
        now: Instant,
        index: usize,
        status: u16,
        challenge_msg: &Message<'_, '_>,
        cseq: u32,
    ) -> Result<(), ()> {
        let (challenge_name, answer_name) = if status == 407 {
            (HeaderName::ProxyAuthenticate, HeaderName::ProxyAuthorization)
        } else {
            (HeaderName::WwwAuthenticate, HeaderName::Authorization)
        };
        let branch = generate_branch(&mut self.rng);
        let Some(Some(o)) = self.outgoing.get(index) else {
            return Err(());
        };
        let purpose = o.purpose;
        let old = o.tx.request().clone();
        let mut slots = [Header::EMPTY; super::MAX_HEADERS];
        let old_msg = Message::parse_datagram(&old, &mut slots, &ParseConfig::default()).map_err(|_| ())?;
        let method = old_msg.method().ok_or(())?;
        let uri = old_msg.request_uri().ok_or(())?;
        let answer = super::registration::answer_challenge(
            &mut self.registration.digest,
            &mut self.rng,
            &self.config,
            challenge_msg.values(challenge_name),
            method.as_str(),
            uri,
            old_msg.body(),
        )
        .ok_or(())?;
        let mut bytes: Vec<u8, REQ> = Vec::new();
        wire::fill(&mut bytes, |buf| {
            let next = cseq.saturating_add(1);
            wire::reissue_with_answer(buf, &old_msg, branch.as_str(), next, answer_name, answer.as_str())
        })
        .map_err(|_| ())?;
        self.start_outgoing(now, index, bytes, branch, cseq.saturating_add(1), true, purpose);
        Ok(())
    }

    /// A MESSAGE arrived that no transaction knows: decides the answer and reports it.
    pub(crate) fn receive_message(
        &mut self,
        now: Instant,
        base: &[u8],
        msg: &Message<'_, '_>,
    ) -> (u16, &'static str) {
        if self.barred {
            self.push_event(ClientEvent::IncomingBarred);
            return (480, "Temporarily Unavailable");
        }
        let body = msg.body();
        if body.len() > usize::from(self.config.limits.max_pager_size) {
            self.push_event(ClientEvent::Rejected { status: 413 });
            return (413, "Request Entity Too Large");
        }
        let content_type = msg.header(HeaderName::ContentType).unwrap_or("text/plain");
        let is_cpim = starts_with_ignore_case(content_type.trim_ws_start(), "message/cpim");
        if !is_cpim {
            let from = msg.header(HeaderName::From).unwrap_or("");
            self.push_event(ClientEvent::PagerReceived {
                from: Span::within(base, from.as_bytes()),
                content_type: Span::within(base, content_type.as_bytes()),
                body: Span::within(base, body),
                message_id: None,
                display_handle: None,
            });
            return (200, "OK");
        }
        let Ok(im) = cpim::Message::parse(body) else {
            self.push_event(ClientEvent::Rejected { status: 400 });
            return (400, "Bad Request (CPIM body does not parse)");
        };
        let inner_type = im.content_type().unwrap_or("text/plain");
        if starts_with_ignore_case(inner_type.trim_ws_start(), "message/imdn+xml") {
            self.receive_notification(base, im.body());
            return (200, "OK");
        }
        if let Some(boundary) = aggregated_notification_boundary(&im) {
            // RFC 5438 §8.3: a URI-list server's aggregated notification, one IMDN document per part,
            // malformed parts skipped. Plain `if let` and `for` rather than `flat_map`: the same parts,
            // without the ~0.4 KB `Flatten` state machine in device code.
            if let Ok(parts) = crate::multipart::parts(im.body(), boundary) {
                for part in parts {
                    let Ok(part) = part else { continue };
                    if part.media_type().eq_ignore_ascii_case("message/imdn+xml") {
                        self.receive_notification(base, part.body);
                    }
                }
            }
            return (200, "OK");
        }
        let from = im.value(cpim::CPIM_NS, "From").unwrap_or("");
        let message_id = im.value(cpim::IMDN_NS, "Message-ID");
        let mut display_handle = None;
        match imdn::Received::from_cpim(&im) {
            Ok(Some(mut received)) => {
                if let Some((kind, status)) = received.delivered() {
                    self.send_notification(now, &received, kind, status);
                }
                if received.requested.display {
                    display_handle = self
                        .remember_for_display(None, body, im.body_offset())
                        .map(ReceivedHandle);
                }
            }
            Ok(None) => {}
            Err(_) => warning!("IM asks for IMDN but lacks a required header; no notification"),
        }
        self.push_event(ClientEvent::PagerReceived {
            from: Span::within(base, from.as_bytes()),
            content_type: Span::within(base, inner_type.as_bytes()),
            body: Span::within(base, im.body()),
            message_id: message_id.map(|id| Span::within(base, id.as_bytes())),
            display_handle,
        });
        (200, "OK")
    }
}

/// Inserts `;tag=<tag>` after the To header's `>` (the client's own requests write `To: <uri>`).
fn add_to_tag<const REQ: usize>(bytes: &[u8], tag: &str) -> Option<Vec<u8, REQ>> {
    let at = bytes.windows(6).position(|w| w == b"\r\nTo: ")?;
    let close = at + bytes.get(at..)?.iter().position(|&b| b == b'>')? + 1;
    let mut out: Vec<u8, REQ> = Vec::new();
    out.extend_from_slice(bytes.get(..close)?).ok()?;
    out.extend_from_slice(b";tag=").ok()?;
    out.extend_from_slice(tag.as_bytes()).ok()?;
    out.extend_from_slice(bytes.get(close..)?).ok()?;
    Some(out)
}

/// The boundary of an aggregated notification (RFC 5438 §8.3): `Content-Disposition: notification`
/// over `multipart/mixed` content.
fn aggregated_notification_boundary<'a>(im: &cpim::Message<'a>) -> Option<&'a str> {
    if !im.is_notification() {
        return None;
    }
    let content_type = crate::sip::header::ContentType::parse(im.content_type()?).ok()?;
    let multipart = content_type.kind.eq_ignore_ascii_case("multipart")
        && content_type.subtype.eq_ignore_ascii_case("mixed");
    if !multipart {
        return None;
    }
    let boundary = content_type.params.get("boundary").flatten()?;
    Some(crate::ascii_trim::trim(boundary, |b| b == b'"'))
}
