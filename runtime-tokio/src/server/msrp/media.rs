//! The relay's part in a call's offer/answer exchanges: which relay sessions an INVITE or re-INVITE
//! opens or keeps, and how its SDP and the 2xx's are rewritten ([`super::sdp`]).
//!
//! Every accepted MSRP media line of an offer (a chat and a file transfer, say; at most
//! [`sdp::MAX_MSRP_LINES`]) gets its own relay session, that is its own pair of legs, found again by
//! its `m=` position in the answer (RFC 3264 §6 keeps the order). A line the answer rejects (port 0)
//! ends its session; other media pass through (see [`super::sdp`]).
//!
//! | exchange | offerer's paths | relay sessions | on 2xx | on failure |
//! |---|---|---|---|---|
//! | initial INVITE | - | new, one per line (older ones of the Call-ID end: a fork or retransmission) | answer rewritten, passive endpoints dialed | ended |
//! | re-INVITE | every line's path is one a leg is bound to (a refresh, a change of other media) | kept, connections reused | answer rewritten; lines no longer offered end; an answerer whose path changed gets its leg re-bound to its new connection | unchanged (RFC 3261 §14.1) |
//! | re-INVITE | some path is new (the endpoint moved) | new ones, one per line | they replace the call's old ones, whose connections close (RFC 4975 §5.4: a new To-Path, a new connection) | the new ones end |
//!
//! In a re-INVITE either end may be the offerer: each kept line remembers which of its legs offered.
//! An UPDATE with an offer (RFC 3311) is the same exchange as a re-INVITE's (`invite::route`).
//!
//! ## Offers in a 2xx (a re-INVITE without SDP, RFC 3261 §13.2.1, RFC 3264)
//!
//! A re-INVITE of a relayed call that carries no SDP asks the far end for an offer: it comes in the
//! 2xx and its answer in the ACK. The re-INVITE's [`Media`] is then a *late offer*: the first 2xx's
//! offer goes through [`MsrpRelay::reoffer`] exactly like an offer in a request (kept or new legs, the
//! table above), its rewritten body is remembered for retransmissions of the 2xx, and the exchange
//! waits in [`MsrpRelay`]'s ACK table for the answer. The ACK's SDP is then rewritten by
//! [`Media::answer`] as a 2xx's would be; an ACK without SDP, or none within [`ACK_WAIT`], fails the
//! exchange (kept legs stay, new ones end).

use super::{leg, lock, sdp, Leg, MsrpRelay, RelaySession};
use crate::server::rng::OsRng;
use crate::server::sip::SipMessage;
use simple_im_core::msrp::generate_session_id;
use simple_im_core::sip::HeaderName;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::Notify;

/// The key in `MsrpRelay::calls` of the relay session of MSRP line number `line` (in offer order) of
/// the call `call_id`: the Call-ID itself for the first line, so that a one-line call costs no more
/// than before; a line feed and the number after it otherwise (a Call-ID never holds a line feed).
pub(super) fn line_key(call_id: &str, line: usize) -> String {
    if line == 0 {
        call_id.to_owned()
    } else {
        format!("{call_id}\n{line}")
    }
}

/// One MSRP line of an exchange.
struct Line {
    /// Its position among the `m=` lines of the offer (and answer).
    index: usize,
    session: Arc<RelaySession>,
    /// The leg of the endpoint that made the offer (0 for an initial INVITE and a new session).
    offerer: usize,
}

/// What kind of exchange a [`Media`] is part of (the table in the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exchange {
    Initial,
    Kept,
    Replacing,
    /// A re-INVITE without SDP: the offer comes in the 2xx, the answer in the ACK.
    LateOffer,
}

/// How long an offer made in a 2xx waits for the ACK that answers it (64·T1, RFC 3261 Timer H).
pub const ACK_WAIT: std::time::Duration = std::time::Duration::from_secs(32);

/// The relay's part in one offer/answer exchange of a call, held by the INVITE proxy.
pub struct Media {
    relay: Arc<MsrpRelay>,
    call_id: String,
    lines: Vec<Line>,
    kind: Exchange,
    /// The first 2xx was handled (later ones are retransmissions or forks).
    answered: AtomicBool,
    /// A late offer's 2xx body as rewritten the first time (a retransmission gets the same legs).
    late_offer_body: Mutex<Option<Vec<u8>>>,
}

impl MsrpRelay {
    /// Puts the relay in the media path of the INVITE `msg` when it offers MSRP: returns the INVITE
    /// with its offer rewritten for the callee, and the call's [`Media`].
    pub fn offer(self: &Arc<Self>, msg: &SipMessage) -> Option<(SipMessage, Media)> {
        let (rewritten, lines) = self.new_lines(msg)?;
        // A retransmitted or forked INVITE with the same Call-ID replaces the older sessions.
        self.end_call(msg.call_id());
        self.register_calls(&lines);
        Some((rewritten, self.media(msg, lines, Exchange::Initial)))
    }

    /// Keeps the relay in the media path of a re-INVITE `msg` of a relayed call when it offers MSRP:
    /// returns the re-INVITE with its offer rewritten for the far endpoint, and the exchange's
    /// [`Media`]; `None` when the call has no relay session or the re-INVITE no MSRP offer.
    pub fn reoffer(self: &Arc<Self>, msg: &SipMessage) -> Option<(SipMessage, Media)> {
        let offered = sdp::find_all(msg.body());
        let current = self.call_sessions(msg.call_id());
        if offered.is_empty() || current.is_empty() {
            return None;
        }
        let bound_to = |path: &str| {
            current.iter().find_map(|session| {
                let offerer = session.legs.iter().position(|leg| {
                    lock(&leg.endpoint)
                        .as_deref()
                        .is_some_and(|bound| super::same_path(bound, path))
                })?;
                Some((session.clone(), offerer))
            })
        };
        let kept: Option<Vec<_>> = offered
            .iter()
            .map(|line| Some((line, bound_to(&line.media.path)?)))
            .collect();
        let Some(kept) = kept else {
            let (rewritten, lines) = self.new_lines(msg)?;
            return Some((rewritten, self.media(msg, lines, Exchange::Replacing)));
        };
        let mut rewrites = Vec::with_capacity(kept.len());
        let mut lines = Vec::with_capacity(kept.len());
        for (line, (session, offerer)) in kept {
            let far = session.leg(1 - offerer)?;
            // The far endpoint's connection stays as it is: the relay keeps its role toward it.
            let setup = if far.dialing.load(Ordering::Relaxed) {
                "active"
            } else {
                "passive"
            };
            rewrites.push(self.line_rewrite(line.index, far, &line.media.path, setup));
            lines.push(Line {
                index: line.index,
                session,
                offerer,
            });
        }
        let body = sdp::rewrite_media(msg.body(), &self.host, &rewrites)?;
        let rewritten = sdp::with_body(msg, &body)?;
        Some((rewritten, self.media(msg, lines, Exchange::Kept)))
    }

    /// The relay's part in a re-INVITE `msg` without SDP in a relayed call: the offer will come in
    /// the 2xx (see the module docs); `None` when `msg` has a body or the call has no relay session.
    pub fn late_offer(self: &Arc<Self>, msg: &SipMessage) -> Option<Media> {
        if !msg.body().is_empty() || self.call_sessions(msg.call_id()).is_empty() {
            return None;
        }
        Some(self.media(msg, Vec::new(), Exchange::LateOffer))
    }

    /// Rewrites the answer an ACK carries to an offer made in a 2xx ([`MsrpRelay::late_offer`]);
    /// `None` when no such exchange waits for this ACK or its answer has no MSRP media (then it is
    /// forwarded as it is). An ACK without SDP fails the exchange.
    pub fn answer_in_ack(&self, ack: &SipMessage) -> Option<SipMessage> {
        let exchange = lock(&self.awaiting_ack).remove(&ack_key(ack)?)?.1;
        if ack.body().is_empty() {
            exchange.end();
            return None;
        }
        exchange.answer(ack)
    }

    /// Fails the late-offer exchanges whose ACK did not come within [`ACK_WAIT`].
    pub(super) fn expire_awaiting_ack(&self, now: Instant) {
        let expired: Vec<Media> = {
            let mut table = lock(&self.awaiting_ack);
            let keys: Vec<String> = table
                .iter()
                .filter(|(_, (since, _))| now.duration_since(*since) > ACK_WAIT)
                .map(|(key, _)| key.clone())
                .collect();
            keys.iter()
                .filter_map(|key| table.remove(key))
                .map(|(_, m)| m)
                .collect()
        };
        for exchange in expired {
            exchange.end();
        }
    }

    fn media(self: &Arc<Self>, msg: &SipMessage, lines: Vec<Line>, kind: Exchange) -> Media {
        Media {
            relay: self.clone(),
            call_id: msg.call_id().to_owned(),
            lines,
            kind,
            answered: AtomicBool::new(false),
            late_offer_body: Mutex::new(None),
        }
    }

    /// How an MSRP line is rewritten for the endpoint that talks to the relay's leg `toward`: that
    /// leg's URI (and its transport) in front of `far_path`, the far endpoint's path.
    fn line_rewrite(
        &self,
        index: usize,
        toward: &Leg,
        far_path: &str,
        setup: &'static str,
    ) -> sdp::LineRewrite {
        let tls_port = self.tls_port().filter(|_| toward.uri.starts_with("msrps:"));
        sdp::LineRewrite {
            index,
            port: tls_port.unwrap_or(self.local.port()),
            path: format!("{} {far_path}", toward.uri),
            setup,
            tls: tls_port.is_some(),
        }
    }

    /// New relay sessions for the MSRP lines offered in `msg` (leg 0 toward the offerer), registered
    /// by their legs' session-ids but not yet as the call's; the offer rewritten for the far endpoint.
    fn new_lines(self: &Arc<Self>, msg: &SipMessage) -> Option<(SipMessage, Vec<Line>)> {
        let offered = sdp::find_all(msg.body());
        if offered.is_empty() {
            return None;
        }
        let mut rewrites = Vec::with_capacity(offered.len());
        let mut lines = Vec::with_capacity(offered.len());
        for (number, line) in offered.iter().enumerate() {
            let key = line_key(msg.call_id(), number);
            let session = self.new_session(&key, &line.media);
            // The callee is offered TLS when the offerer asked for it and `tls_to_callee` is on, TCP
            // otherwise (see `tls`).
            let callee_leg = session.leg(1)?;
            rewrites.push(self.line_rewrite(line.index, callee_leg, &line.media.path, "actpass"));
            lines.push(Line {
                index: line.index,
                session,
                offerer: 0,
            });
        }
        let body = sdp::rewrite_media(msg.body(), &self.host, &rewrites)?;
        let rewritten = sdp::with_body(msg, &body)?;
        let mut sessions = lock(&self.sessions);
        for line in &lines {
            for leg in &line.session.legs {
                sessions.insert(leg.sid.clone(), line.session.clone());
            }
        }
        Some((rewritten, lines))
    }

    /// A relay session for one MSRP line offered with `offerer`'s media; `key` as in [`line_key`].
    fn new_session(&self, key: &str, offerer: &sdp::MsrpMedia) -> Arc<RelaySession> {
        // TLS toward the offerer when it asked for msrps (it connects to our TLS port, or we dial it
        // over TLS when it is passive).
        let offerer_tls = offerer.path.starts_with("msrps:");
        let new_leg = |tls: bool| {
            let sid = generate_session_id(&mut OsRng).as_str().to_owned();
            Leg {
                uri: self.leg_uri(&sid, tls).into_boxed_str(),
                sid: sid.into(),
                endpoint: Mutex::new(None),
                io: Mutex::new(None),
                dialing: AtomicBool::new(false),
                rebind: AtomicBool::new(false),
            }
        };
        // With `tls_to_callee`, msrps stays msrps on both hops (without a TLS listener `leg_uri`
        // gives plain URIs).
        let callee_tls = offerer_tls && self.tls_to_callee.load(Ordering::Relaxed);
        let legs = [new_leg(offerer_tls), new_leg(callee_tls)];
        *lock(&legs[0].endpoint) = Some(offerer.path.clone().into_boxed_str());
        legs[0].dialing.store(offerer.is_passive(), Ordering::Relaxed);
        Arc::new(RelaySession {
            call_id: key.into(),
            legs,
            ended: AtomicBool::new(false),
            end: Notify::new(),
            bound: Notify::new(),
            ever_bound: AtomicBool::new(false),
            created: Instant::now(),
            counter: AtomicU64::new(1),
            pending: Mutex::new(Vec::new()),
        })
    }

    /// Makes `lines`' sessions the call's (the ones BYE and the sweeper find).
    fn register_calls(&self, lines: &[Line]) {
        let mut calls = lock(&self.calls);
        for line in lines.iter().filter(|l| !l.session.is_ended()) {
            calls.insert(line.session.call_id.clone(), line.session.clone());
        }
    }
}

/// Where an offer made in a 2xx waits for its ACK: the Call-ID and the CSeq number, which the ACK
/// shares with the re-INVITE (RFC 3261 §13.2.2.4), so a late ACK of an earlier exchange is not
/// taken for it.
fn ack_key(msg: &SipMessage) -> Option<String> {
    let number = msg.header(HeaderName::CSeq)?.split_whitespace().next()?;
    Some(format!("{}\n{number}", msg.call_id()))
}

impl Media {
    /// Rewrites a 2xx answer for the offerer (the answerer's paths learnt, the relay put in their
    /// place); `None` when the answer carries no MSRP media (then it is relayed as it is).
    pub fn answer(&self, response: &SipMessage) -> Option<SipMessage> {
        if self.kind == Exchange::LateOffer {
            return self.offer_in_2xx(response);
        }
        let answered = sdp::find_all(response.body());
        let mut rewrites = Vec::with_capacity(self.lines.len());
        for line in &self.lines {
            match answered.iter().find(|a| a.index == line.index) {
                Some(answer) => rewrites.extend(self.answer_line(line, &answer.media)),
                // Rejected (port 0) or missing: nothing will use this line's legs.
                None => self.relay.end_session(&line.session),
            }
        }
        if !self.answered.swap(true, Ordering::AcqRel) {
            match self.kind {
                Exchange::Initial | Exchange::LateOffer => {}
                Exchange::Replacing => {
                    // The endpoints now talk to the new legs: the call's sessions are the new ones.
                    self.relay.end_call(&self.call_id);
                    self.relay.register_calls(&self.lines);
                }
                Exchange::Kept => {
                    // A line the re-offer no longer carries is over.
                    for session in self.relay.call_sessions(&self.call_id) {
                        if !self.lines.iter().any(|l| Arc::ptr_eq(&l.session, &session)) {
                            self.relay.end_session(&session);
                        }
                    }
                }
            }
        }
        if answered.is_empty() {
            return None;
        }
        // Lines without a rewrite (refused below) get port 0: their answer never reaches the offerer.
        let body = sdp::rewrite_media(response.body(), &self.relay.host, &rewrites)?;
        sdp::with_body(response, &body)
    }

    /// A late offer's 2xx: its offer rewritten like a re-offer the first time (the exchange then waits
    /// for the ACK), the same body again for a retransmission.
    fn offer_in_2xx(&self, response: &SipMessage) -> Option<SipMessage> {
        let mut cached = lock(&self.late_offer_body);
        if let Some(body) = cached.as_deref() {
            return sdp::with_body(response, body);
        }
        let (rewritten, exchange) = self.relay.reoffer(response)?;
        *cached = Some(rewritten.body().to_vec());
        let waiting = (Instant::now(), exchange);
        let key = ack_key(response)?;
        lock(&self.relay.awaiting_ack).insert(key, waiting);
        Some(rewritten)
    }

    /// One answered line: the answerer's path learnt (and its passive endpoints dialed the first
    /// time), the line rewritten for the offerer.
    fn answer_line(&self, line: &Line, answer: &sdp::MsrpMedia) -> Option<sdp::LineRewrite> {
        let session = &line.session;
        let offerer_leg = session.leg(line.offerer)?;
        let answerer_leg = session.leg(1 - line.offerer)?;
        if answerer_leg.uri.starts_with("msrps:") && !answer.path.starts_with("msrps:") {
            // Offered TLS, answered clear text: never a fall-back to an unencrypted hop (see `tls`).
            self.relay.end_session(session);
            return None;
        }
        let setup = if offerer_leg.dialing.load(Ordering::Relaxed) {
            "active"
        } else {
            "passive"
        };
        let rewrite = self
            .relay
            .line_rewrite(line.index, offerer_leg, &answer.path, setup);
        let previous = lock(&answerer_leg.endpoint).replace(answer.path.clone().into_boxed_str());
        let moved = self.kind == Exchange::Kept
            && previous
                .as_deref()
                .is_some_and(|old| !super::same_path(old, &answer.path));
        if moved {
            // The answerer moved while the offerer stayed: same legs, a new connection for the
            // answerer's (RFC 4975 §5.4), which takes the leg over from the old one (see `leg`).
            let index = 1 - line.offerer;
            answerer_leg.rebind.store(true, Ordering::Release);
            answerer_leg.dialing.store(answer.is_passive(), Ordering::Relaxed);
            if answer.is_passive() {
                leg::dial(self.relay.clone(), session.clone(), index);
            }
        }
        if previous.is_none() {
            // An answerer that connects as soon as it has answered may be waiting in its binding
            // for this path (see `leg::learnt_endpoint`).
            session.bound.notify_waiters();
            answerer_leg.dialing.store(answer.is_passive(), Ordering::Relaxed);
            for (index, leg) in session.legs.iter().enumerate() {
                if leg.dialing.load(Ordering::Relaxed) {
                    leg::dial(self.relay.clone(), session.clone(), index);
                }
            }
        }
        Some(rewrite)
    }

    /// The INVITE failed or was cancelled: an initial INVITE's relay sessions end, a re-INVITE's new
    /// ones too, while a re-INVITE that kept the legs leaves them as they were.
    pub fn end(&self) {
        if self.kind != Exchange::Kept {
            for line in &self.lines {
                self.relay.end_session(&line.session);
            }
        }
    }
}
