//! The end of the sessions we start: `close` (CANCEL or BYE), the final `chat_closed` line, and the
//! timers (INVITE and BYE retransmission, give-ups, MSRP).

use super::{Outgoing, State};
use crate::client::output::Note;
use crate::client::session::Session;
use crate::server::sip::SipMessage;
use bytes::Bytes;
use simple_im_core::msrp::session::Session as MsrpSession;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::time::{Duration, Instant};

impl Session {
    /// Whether outgoing session `id` still exists (not closed).
    pub fn outgoing_is_open(&self, id: u32) -> bool {
        self.outgoing.contains_key(&id)
    }

    /// Ends outgoing session `id` with BYE (or CANCEL-free give-up while inviting).
    pub fn hang_up(&mut self, id: u32) {
        if let Some(mut out) = self.outgoing.remove(&id) {
            self.close(&mut out);
            if out.state != State::Closed {
                self.outgoing.insert(id, out);
            }
        }
    }

    pub(in crate::client) fn close(&mut self, out: &mut Outgoing) {
        match out.state {
            State::Established => {
                out.cseq += 1;
                let bye = self.in_dialog(out, "BYE", out.cseq);
                self.sip_out.push(bye.clone());
                out.bye = Some(bye);
                out.state = State::Closing;
                out.resend_interval = self.t1();
                out.resend_at = Some(Instant::now() + out.resend_interval.max(Duration::from_millis(500)));
                out.give_up_at = Instant::now() + Duration::from_secs(4);
                out.msrp = None;
            }
            State::Inviting if !out.cancelled => {
                // CANCEL; the INVITE's final answer (487, or a 2xx that crossed it and is then
                // ended with BYE) closes the session, or the give-up timer does.
                out.cancelled = true;
                if let Some(cancel) = cancel_for(&out.invite, self.is_tcp()) {
                    self.sip_out.push(cancel);
                }
                out.give_up_at = Instant::now() + Duration::from_secs(4);
            }
            State::Inviting | State::Closing | State::Closed => {}
        }
    }

    pub(super) fn closed(&mut self, out: &mut Outgoing, status: u16, reason: &str) {
        out.state = State::Closed;
        out.msrp = None;
        self.chats.remove(&out.id);
        self.notes.push_back(
            Note::new("chat_closed")
                .with("chat", out.id)
                .with("status", status)
                .with("reason", reason),
        );
    }

    /// The earliest deadline of the sessions we started.
    pub(in crate::client) fn outgoing_deadline(&self) -> Option<Instant> {
        self.outgoing
            .values()
            .flat_map(|o| {
                let msrp = o
                    .msrp
                    .as_ref()
                    .and_then(MsrpSession::poll_timeout)
                    .map(|at| self.instant_of(at));
                [
                    o.resend_at,
                    Some(o.give_up_at).filter(|_| o.state != State::Established),
                    msrp,
                ]
            })
            .flatten()
            .min()
    }

    /// Retransmissions, give-ups and MSRP timers of the sessions we started.
    pub(in crate::client) fn outgoing_timeout(&mut self) {
        let now = Instant::now();
        let core_now = self.now();
        let ids: Vec<u32> = self.outgoing.keys().copied().collect();
        for id in ids {
            let Some(mut out) = self.outgoing.remove(&id) else {
                continue;
            };
            if let Some(m) = out.msrp.as_mut() {
                m.handle_timeout(core_now);
            }
            if out.resend_at.is_some_and(|t| t <= now) {
                let again = match out.state {
                    State::Inviting => Some(out.invite.to_vec()),
                    State::Closing => out.bye.clone(),
                    _ => None,
                };
                if let Some(bytes) = again {
                    self.sip_out.push(bytes);
                }
                out.resend_interval = (out.resend_interval * 2).min(Duration::from_secs(4));
                out.resend_at = Some(now + out.resend_interval);
            }
            if out.give_up_at <= now {
                match out.state {
                    State::Inviting if out.cancelled => {
                        self.closed(&mut out, 487, "Request Terminated (cancelled)")
                    }
                    State::Inviting => self.closed(&mut out, 408, "Request Timeout (no answer)"),
                    State::Closing => self.closed(&mut out, 200, "OK (BYE unanswered)"),
                    _ => {}
                }
            }
            self.outgoing_msrp_events(&mut out);
            if out.state == State::Closed {
                self.chats.remove(&id);
            } else {
                self.outgoing.insert(id, out);
            }
        }
    }
}

/// The CANCEL of `invite` (RFC 3261 §9.1): its Request-URI, top Via, From, To, Call-ID and Route,
/// CSeq number with method CANCEL.
fn cancel_for(invite: &Bytes, stream: bool) -> Option<Vec<u8>> {
    let msg = SipMessage::parse(invite.clone(), stream).ok()?;
    let uri = msg.request_uri()?;
    let cseq = msg
        .header(HeaderName::CSeq)?
        .split_whitespace()
        .next()?
        .to_owned();
    let mut buf = vec![0u8; 2048];
    let mut w = MessageWriter::request(&mut buf, Method::Cancel, uri).ok()?;
    w.header(HeaderName::Via, msg.values(HeaderName::Via).next()?)
        .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    for route in msg.values(HeaderName::Route) {
        w.header(HeaderName::Route, route).ok()?;
    }
    w.header(HeaderName::From, msg.header(HeaderName::From)?).ok()?;
    w.header(HeaderName::To, msg.header(HeaderName::To)?).ok()?;
    w.header(HeaderName::CallId, msg.call_id()).ok()?;
    w.header_fmt(HeaderName::CSeq, format_args!("{cseq} CANCEL"))
        .ok()?;
    let len = w.finish(b"").ok()?;
    buf.truncate(len);
    Some(buf)
}
