//! Answers and requests in the dialogs of the sessions we start: the rows of the state table in
//! [`super`] driven by a response to our INVITE (resend with credentials, ACK, MSRP set-up) or by a
//! request from the peer (BYE).

use super::{token, Outgoing, State};
use crate::client::output::Note;
use crate::client::session::Session;
use crate::server::rng::OsRng;
use crate::server::sip::SipMessage;
use bytes::Bytes;
use simple_im_core::sip::auth::{select_challenge, ChallengePreference, DigestClient, DigestRequest, Secret};
use simple_im_core::sip::{ack_for_non_2xx, response_to, HeaderName, MessageWriter, Method};

impl Session {
    /// Whether `bytes` (one SIP message) belongs to a session we started; handles it if so.
    pub(in crate::client) fn outgoing_sip(&mut self, bytes: &[u8], stream: bool) -> bool {
        if self.outgoing.is_empty() {
            return false;
        }
        let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(bytes), stream) else {
            return false;
        };
        let id = self
            .outgoing
            .values()
            .find(|o| o.call_id == msg.call_id())
            .map(|o| o.id);
        let Some(mut out) = id.and_then(|id| self.outgoing.remove(&id)) else {
            return false;
        };
        if msg.status().is_some() {
            self.outgoing_response(&mut out, &msg);
        } else {
            self.outgoing_request(&mut out, &msg);
        }
        if out.state != State::Closed {
            self.outgoing.insert(out.id, out);
        } else {
            self.chats.remove(&out.id);
        }
        true
    }

    pub(super) fn outgoing_response(&mut self, out: &mut Outgoing, msg: &SipMessage) {
        let status = msg.status().unwrap_or(0);
        if msg.cseq_method() == Some("CANCEL") {
            // The CANCEL's own answer; the INVITE's final response is what ends the session.
            return;
        }
        if msg.cseq_method() == Some("BYE") {
            if status >= 200 && out.state == State::Closing {
                self.closed(out, status, msg.reason());
            }
            return;
        }
        out.resend_at = None;
        if status < 200 {
            return;
        }
        if status >= 300 {
            let invite = SipMessage::parse(out.invite.clone(), self.is_tcp()).ok();
            if let Some(invite) = invite {
                let mut buf = vec![0u8; 2048];
                let ack = invite
                    .with_view(|inv| msg.with_view(|resp| ack_for_non_2xx(inv, resp, &mut buf).ok()))
                    .flatten()
                    .flatten();
                if let Some(len) = ack {
                    self.sip_out.push(buf[..len].to_vec());
                }
            }
            if out.state != State::Inviting {
                return;
            }
            if matches!(status, 401 | 407) && !out.authenticated && !out.cancelled {
                out.authenticated = true;
                match self.credentials(msg, "INVITE", &out.to.clone(), &out.offer.clone()) {
                    Some(credentials) => {
                        if let Err(e) = self.send_invite(out, Some(credentials)) {
                            self.notes.push_back(Note::new("error").with("reason", e));
                            self.closed(out, status, msg.reason());
                        }
                    }
                    None => self.closed(out, status, msg.reason()),
                }
                return;
            }
            self.closed(out, status, msg.reason());
            return;
        }
        // 2xx
        if out.state != State::Inviting {
            if let Some(ack) = out.ack.clone() {
                self.sip_out.push(ack);
            }
            return;
        }
        out.remote_tag = msg
            .to()
            .and_then(|t| t.tag().map(str::to_owned))
            .unwrap_or_default();
        out.remote_target = msg
            .header(HeaderName::Contact)
            .map(|c| {
                let c = c.trim();
                c.find('<')
                    .and_then(|s| c[s + 1..].find('>').map(|e| c[s + 1..s + 1 + e].to_owned()))
                    .unwrap_or_else(|| c.split(';').next().unwrap_or(c).to_owned())
            })
            .unwrap_or_else(|| out.to.clone());
        let mut routes: Vec<String> = msg
            .values(HeaderName::RecordRoute)
            .flat_map(|v| v.split(','))
            .map(|r| r.trim().to_owned())
            .collect();
        // The server Record-Routes every INVITE it proxies and the answerer copies the Record-Route
        // into its 2xx, so the route set comes from the answer alone (RFC 3261 §12.1.2).
        routes.reverse();
        out.routes = routes;
        let ack = self.in_dialog(out, "ACK", out.cseq);
        out.ack = Some(ack.clone());
        self.sip_out.push(ack);
        if out.cancelled {
            out.state = State::Established;
            self.close(out);
            return;
        }
        match self.start_msrp(out, msg.body()) {
            Ok(()) => {
                out.state = State::Established;
                self.notes
                    .push_back(Note::new("chat_established").with("chat", out.id));
            }
            Err(reason) => {
                self.notes.push_back(
                    Note::new("chat_failed")
                        .with("chat", out.id)
                        .with("reason", reason),
                );
                self.close(out);
            }
        }
    }

    pub(super) fn outgoing_request(&mut self, out: &mut Outgoing, msg: &SipMessage) {
        let method = msg.method().unwrap_or("");
        if method == "ACK" {
            return;
        }
        let (code, reason) = if method == "BYE" {
            (200, "OK")
        } else {
            (405, "Method Not Allowed")
        };
        let mut buf = vec![0u8; 2048];
        let built = msg
            .with_view(|m| {
                response_to(m, code, reason, None, &mut buf)
                    .and_then(|w| w.finish(b""))
                    .ok()
            })
            .flatten();
        if let Some(len) = built {
            self.sip_out.push(buf[..len].to_vec());
        }
        if method == "BYE" {
            self.closed(out, 200, "OK");
        }
    }

    /// The (Proxy-)Authorization header answering the challenge in `msg`.
    pub(super) fn credentials(
        &mut self,
        msg: &SipMessage,
        method: &str,
        uri: &str,
        body: &[u8],
    ) -> Option<(&'static str, String)> {
        let (challenge_name, answer_name) = if msg.status() == Some(401) {
            (HeaderName::WwwAuthenticate, "Authorization")
        } else {
            (HeaderName::ProxyAuthenticate, "Proxy-Authorization")
        };
        let values: Vec<&str> = msg.values(challenge_name).collect();
        let challenge = select_challenge(values.iter().copied(), ChallengePreference::Strongest)?;
        let request = DigestRequest { method, uri, body };
        let (user, password) = self.secret();
        let answer = DigestClient::new()
            .respond(
                &challenge,
                &user,
                Secret::Password(&password),
                &request,
                &mut OsRng,
            )
            .ok()?;
        let mut buf = [0u8; 1024];
        let len = answer.emit(&mut buf).ok()?;
        Some((answer_name, String::from_utf8_lossy(&buf[..len]).into_owned()))
    }

    /// An in-dialog request (ACK, BYE) with our dialog's routes.
    pub(super) fn in_dialog(&self, out: &Outgoing, method: &str, cseq: u32) -> Vec<u8> {
        let local = self.local_address();
        let transport = if self.is_tcp() { "TCP" } else { "UDP" };
        let strict = out.routes.first().is_some_and(|r| !r.contains(";lr"));
        let uri = if strict {
            out.routes.first().map_or(out.remote_target.clone(), |r| {
                r.trim_start_matches('<')
                    .split('>')
                    .next()
                    .unwrap_or(r)
                    .to_owned()
            })
        } else {
            out.remote_target.clone()
        };
        let mut buf = vec![0u8; 4096];
        let built = (|| -> Result<usize, simple_im_core::sip::BuildError> {
            let mut w = MessageWriter::request(&mut buf, Method::from_token(method), &uri)?;
            w.header_fmt(
                HeaderName::Via,
                format_args!("SIP/2.0/{transport} {local};branch=z9hG4bK{};rport", token(8)),
            )?;
            w.header(HeaderName::MaxForwards, "70")?;
            for route in &out.routes {
                w.header(HeaderName::Route, route)?;
            }
            w.header_fmt(
                HeaderName::From,
                format_args!("<{}>;tag={}", self.aor(), out.local_tag),
            )?;
            w.header_fmt(
                HeaderName::To,
                format_args!("<{}>;tag={}", out.to, out.remote_tag),
            )?;
            w.header(HeaderName::CallId, &out.call_id)?;
            w.header_fmt(HeaderName::CSeq, format_args!("{cseq} {method}"))?;
            w.finish(b"")
        })();
        match built {
            Ok(len) => {
                buf.truncate(len);
                buf
            }
            Err(_) => Vec::new(),
        }
    }
}
