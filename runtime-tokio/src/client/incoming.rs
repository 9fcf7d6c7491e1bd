//! Files pushed to us (RFC 5547): an INVITE whose MSRP stream carries `a=file-selector`. The core
//! client refuses file transfers (it has nowhere to put them), so the runtime takes these INVITEs
//! before the core sees them and writes the file to `--download-dir`, checking only what the selector
//! announced (size, SHA-256).
//!
//! | state | input | action | next |
//! |---|---|---|---|
//! | - | file INVITE, no download directory | 603 Decline, `file_declined` | - |
//! | - | file INVITE, unusable offer | 488 Not Acceptable Here | - |
//! | - | file INVITE | 200 with a `recvonly` answer (`active` whenever allowed), connect MSRP, `file_offered` | Answered |
//! | Answered | (UDP) no ACK after T1, 2T1, ... | resend the 200 | Answered |
//! | Answered | INVITE retransmission | resend the 200 | Answered |
//! | any | body chunk | written at its offset in `DIR/NAME.part` | |
//! | any | message complete | check size and hash, rename to `DIR/NAME`, `file_received` | |
//! | any | BYE | 200, `chat_closed` (a transfer not complete: `file_failed`, the part file removed) | - |

use super::chat::{Connect, MsrpInput};
use super::download::{safe_name, ToFile};
use super::output::Note;
use super::session::Session;
use crate::server::rng::OsRng;
use crate::server::sip::SipMessage;
use bytes::Bytes;
use simple_im_core::msrp::session::{self as msrp, Session as MsrpSession};
use simple_im_core::sdp::{self, Connection, LocalCaps, Origin};
use simple_im_core::sip::{response_to, HeaderName};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Incoming transfer ids start here (apart from core chat ids and our outgoing sessions).
pub const FIRST_INCOMING_ID: u32 = 2 << 20;

/// One file being received.
pub struct Incoming {
    pub(super) id: u32,
    pub(super) call_id: String,
    pub(super) response: Vec<u8>,
    pub(super) acked: bool,
    pub(super) resend_at: Option<Instant>,
    pub(super) resend_interval: Duration,
    pub(super) msrp: Option<MsrpSession>,
    pub(super) part: Option<std::fs::File>,
    pub(super) part_path: PathBuf,
    pub(super) final_path: PathBuf,
    pub(super) expected_size: Option<u64>,
    pub(super) expected_sha256: Option<Vec<u8>>,
    pub(super) received: u64,
    pub(super) done: bool,
    /// A chat we listen for (its offer said `a=setup:active`) rather than a file.
    pub(super) chat: bool,
    /// Our chat lines.
    pub(super) outbox: super::outgoing_msrp::Outbox,
    /// Chat lines waiting for room in the MSRP session's bounded queue.
    pub(super) waiting: std::collections::VecDeque<String>,
    /// The chat message being received.
    pub(super) text: Vec<u8>,
}

impl Incoming {
    /// A session answered with `response` (200), its MSRP machine ready, nothing received yet.
    pub(super) fn answered(id: u32, call_id: &str, response: Vec<u8>, udp: bool, msrp: MsrpSession) -> Self {
        Incoming {
            id,
            call_id: call_id.to_owned(),
            response,
            acked: false,
            resend_at: udp.then(|| Instant::now() + Duration::from_millis(500)),
            resend_interval: Duration::from_millis(500),
            msrp: Some(msrp),
            part: None,
            part_path: PathBuf::new(),
            final_path: PathBuf::new(),
            expected_size: None,
            expected_sha256: None,
            received: 0,
            done: false,
            chat: false,
            outbox: Default::default(),
            waiting: Default::default(),
            text: Vec::new(),
        }
    }
}

impl Session {
    /// Whether `bytes` (one SIP message) is a file transfer for us, or part of one; handles it if so.
    pub(super) fn incoming_sip(&mut self, bytes: &[u8], stream: bool) -> bool {
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        let looks_like_file = has(b"a=file-selector");
        // A chat offer that makes us the passive side: the core would answer with a port it does
        // not listen on, so the runtime listens instead.
        let wants_listener = !looks_like_file && has(b"m=message") && has(b"a=setup:active");
        if self.incoming.is_empty() && !looks_like_file && !wants_listener {
            return false;
        }
        let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(bytes), stream) else {
            return false;
        };
        let Some(method) = msg.method().map(str::to_owned) else {
            return false;
        };
        let existing = self
            .incoming
            .values()
            .find(|i| i.call_id == msg.call_id())
            .map(|i| i.id);
        match (method.as_str(), existing) {
            ("INVITE", Some(id)) => {
                if let Some(response) = self.incoming.get(&id).map(|i| i.response.clone()) {
                    self.sip_out.push(response);
                }
                true
            }
            ("ACK", Some(id)) => {
                if let Some(i) = self.incoming.get_mut(&id) {
                    i.acked = true;
                    i.resend_at = None;
                }
                true
            }
            ("BYE", Some(id)) => {
                self.respond(&msg, 200, "OK", None, &[]);
                if let Some(mut i) = self.incoming.remove(&id) {
                    self.chats.remove(&id);
                    if !i.done && !i.chat {
                        i.part = None;
                        let _ = std::fs::remove_file(&i.part_path);
                        self.notes.push_back(
                            Note::new("file_failed")
                                .with("chat", id)
                                .with("reason", format!("ended after {} bytes", i.received)),
                        );
                    }
                    self.notes
                        .push_back(Note::new("chat_closed").with("chat", id).with("status", 200u16));
                }
                true
            }
            ("INVITE", None) if looks_like_file && msg.to().is_some_and(|t| t.tag().is_none()) => {
                self.file_invite(&msg);
                true
            }
            ("INVITE", None) if wants_listener && msg.to().is_some_and(|t| t.tag().is_none()) => {
                self.listening_chat_invite(&msg);
                true
            }
            _ => false,
        }
    }

    /// Answers `msg` statelessly (a 2xx to INVITE is kept by the caller for retransmissions).
    pub(super) fn respond(
        &mut self,
        msg: &SipMessage,
        code: u16,
        reason: &str,
        tag: Option<&str>,
        extra: &[u8],
    ) -> Vec<u8> {
        let mut buf = vec![0u8; 4096 + extra.len()];
        let local = self.local_address();
        let user = self
            .aor()
            .trim_start_matches("sip:")
            .split('@')
            .next()
            .unwrap_or("")
            .to_owned();
        let record_routes: Vec<String> = msg.values(HeaderName::RecordRoute).map(str::to_owned).collect();
        let built = msg
            .with_view(|m| {
                let mut w = response_to(m, code, reason, tag, &mut buf)?;
                if code == 200 && !extra.is_empty() {
                    for rr in &record_routes {
                        w.header(HeaderName::RecordRoute, rr)?;
                    }
                    w.header_fmt(HeaderName::Contact, format_args!("<sip:{user}@{local}>"))?;
                    w.header(HeaderName::ContentType, "application/sdp")?;
                }
                w.finish(extra)
            })
            .and_then(Result::ok);
        match built {
            Some(len) => {
                buf.truncate(len);
                self.sip_out.push(buf.clone());
                buf
            }
            None => Vec::new(),
        }
    }

    /// Our SDP answer to `offer` and the offerer's MSRP path (having answered `msg` with the error
    /// when there is none).
    pub(super) fn answer<'o>(
        &mut self,
        msg: &SipMessage,
        offer: &sdp::Session<'o>,
        caps: &LocalCaps<'o>,
    ) -> Option<(sdp::Negotiated<'o>, Vec<u8>, String)> {
        let host = self.local_address().ip().to_string();
        let negotiated = match sdp::negotiate(offer, caps) {
            Ok(n) => n,
            Err(e) => {
                self.respond(msg, 488, &format!("Not Acceptable Here ({e:?})"), None, &[]);
                return None;
            }
        };
        let session_id = crate::server::rng::token(6);
        let mut answer = vec![0u8; 2048];
        let origin = Origin {
            username: "-",
            session_id: &session_id,
            session_version: "1",
            net_type: "IN",
            addr_type: "IP4",
            address: &host,
        };
        let connection = Connection {
            net_type: "IN",
            addr_type: "IP4",
            address: &host,
        };
        let Ok(len) = negotiated.write_answer(offer, caps, &origin, Some(&connection), &mut answer) else {
            self.respond(msg, 500, "Server Internal Error (SDP answer)", None, &[]);
            return None;
        };
        answer.truncate(len);
        let remote_path = offer
            .media()
            .nth(negotiated.media_index)
            .map(|m| m.path().collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        Some((negotiated, answer, remote_path))
    }

    fn file_invite(&mut self, msg: &SipMessage) {
        let from = msg.from().map(|f| f.uri_text.to_owned()).unwrap_or_default();
        let Ok(offer) = sdp::Session::parse(msg.body()) else {
            self.respond(msg, 488, "Not Acceptable Here (unreadable SDP)", None, &[]);
            return;
        };
        let selector = offer
            .msrp_media()
            .and_then(|m| m.file_selector())
            .unwrap_or_default();
        let name = safe_name(selector.name.unwrap_or("file"));
        self.next_incoming += 1;
        let id = FIRST_INCOMING_ID + self.next_incoming;
        let offered = Note::new("file_offered")
            .with("chat", id)
            .with("from", from.as_str())
            .with("name", name.as_str())
            .with("bytes", selector.size.unwrap_or(0));
        let Some(dir) = self.download_dir.clone() else {
            self.notes.push_back(offered);
            self.respond(msg, 603, "Decline (no download directory)", None, &[]);
            self.notes.push_back(
                Note::new("file_declined")
                    .with("chat", id)
                    .with("reason", "no --download-dir"),
            );
            return;
        };
        let local = self.local_address();
        let local_uri = format!("msrp://{}:9/{};tcp", local.ip(), crate::server::rng::token(8));
        let path = [local_uri.as_str()];
        let caps = LocalCaps {
            accept_types: &["*"],
            accept_wrapped_types: &[],
            path: &path,
            port: 9,
            max_size: None,
            prefer_passive: false,
            accept_file_transfer: true,
        };
        let Some((negotiated, answer, remote_path)) = self.answer(msg, &offer, &caps) else {
            return;
        };
        let active = negotiated.role == sdp::Role::Active;
        let setup = if active {
            msrp::Setup::Active
        } else {
            msrp::Setup::Passive
        };
        let Ok(session) = MsrpSession::new(
            msrp::SessionConfig::default(),
            &local_uri,
            &remote_path,
            setup,
            &mut OsRng,
        ) else {
            self.respond(msg, 488, "Not Acceptable Here (MSRP path)", None, &[]);
            return;
        };
        let first = remote_path.split(' ').next().unwrap_or("");
        let authority = first.strip_prefix("msrp://").and_then(|r| r.split('/').next());
        let (Some(authority), true) = (authority, active) else {
            self.respond(msg, 488, "Not Acceptable Here (we only connect out)", None, &[]);
            return;
        };
        let final_path = dir.join(&name);
        let part_path = dir.join(format!("{name}.part"));
        let part = match std::fs::File::create(&part_path) {
            Ok(f) => f,
            Err(e) => {
                self.respond(msg, 603, "Decline (cannot write the file)", None, &[]);
                self.notes.push_back(
                    Note::new("file_declined")
                        .with("chat", id)
                        .with("reason", format!("{}: {e}", part_path.display())),
                );
                return;
            }
        };
        let expected_sha256 = selector
            .hash
            .filter(|h| h.algorithm.eq_ignore_ascii_case("sha-256"))
            .and_then(|h| {
                let mut out = [0u8; 32];
                h.bytes(&mut out).map(<[u8]>::to_vec)
            });
        let tag = crate::server::rng::token(6);
        let response = self.respond(msg, 200, "OK", Some(&tag), &answer);
        self.notes.push_back(offered);
        let udp = !self.is_tcp();
        let mut transfer = Incoming::answered(id, msg.call_id(), response, udp, session);
        transfer.part = Some(part);
        transfer.part_path = part_path;
        transfer.final_path = final_path;
        transfer.expected_size = selector.size;
        transfer.expected_sha256 = expected_sha256;
        self.incoming.insert(id, transfer);
        self.open_msrp(id, Connect::To(authority.to_owned()));
    }

    /// MSRP input of an incoming transfer (`Some` gives it back when it is not ours).
    pub(super) fn incoming_msrp(&mut self, input: MsrpInput) -> Option<MsrpInput> {
        let id = input.id();
        let Some(mut transfer) = self.incoming.remove(&id) else {
            return Some(input);
        };
        let now = self.now();
        match input {
            MsrpInput::Bytes(_, bytes) => {
                let unread = self.unread_with(id, &bytes);
                let mut used = 0;
                let mut error = None;
                if let Some(session) = transfer.msrp.as_mut() {
                    let mut sink = ToFile {
                        file: transfer.part.as_mut(),
                        text: transfer.chat.then_some(&mut transfer.text),
                        received: &mut transfer.received,
                        error: &mut error,
                    };
                    match session.handle_input(now, &unread, &mut sink) {
                        Ok(n) => used = n,
                        Err(e) => error = Some(format!("MSRP: {e:?}")),
                    }
                }
                self.keep_unread(id, unread, used);
                if let Some(reason) = error {
                    self.notes
                        .push_back(Note::new("file_failed").with("chat", id).with("reason", reason));
                    transfer.msrp = None;
                }
            }
            MsrpInput::Lost(_, why) if transfer.chat => {
                if transfer.msrp.is_some() {
                    self.notes
                        .push_back(Note::new("chat_failed").with("chat", id).with("reason", why));
                }
                transfer.msrp = None;
            }
            MsrpInput::Lost(_, why) if !transfer.done => {
                self.notes
                    .push_back(Note::new("file_failed").with("chat", id).with("reason", why));
                transfer.msrp = None;
                transfer.part = None;
                let _ = std::fs::remove_file(&transfer.part_path);
            }
            _ => {}
        }
        self.incoming_events(&mut transfer);
        self.incoming.insert(id, transfer);
        None
    }

    fn incoming_events(&mut self, transfer: &mut Incoming) {
        let Some(session) = transfer.msrp.as_mut() else {
            return;
        };
        let mut complete = false;
        while let Some(event) = session.poll_event() {
            match event {
                msrp::Event::MessageReceived { .. } if transfer.chat => {
                    let body = std::mem::take(&mut transfer.text);
                    let note = self.received_chat_message(transfer.id, &body, false);
                    self.notes.push_back(note);
                }
                msrp::Event::Sent { .. } if transfer.chat => {
                    self.notes
                        .push_back(Note::new("chat_sent").with("chat", transfer.id));
                }
                msrp::Event::MessageReceived { len, .. } if len > 0 => complete = true,
                msrp::Event::MessageAborted { reason, .. } => self.notes.push_back(
                    Note::new("file_failed")
                        .with("chat", transfer.id)
                        .with("reason", format!("aborted by the sender: {reason:?}")),
                ),
                _ => {}
            }
        }
        if complete && !transfer.done {
            transfer.done = true;
            let note = self.finish_file(transfer);
            self.notes.push_back(note);
        }
    }

    /// Writes MSRP bytes of incoming transfers (REPORTs, responses, the binding SEND).
    pub(super) fn flush_incoming_msrp(&mut self, buf: &mut [u8]) {
        let now = self.now();
        for (id, transfer) in self.incoming.iter_mut() {
            super::listening::send_waiting(transfer);
            let (Some(session), Some(link)) = (transfer.msrp.as_mut(), self.chats.get(id)) else {
                continue;
            };
            while let Some(n) = session.poll_transmit(now, buf, &mut transfer.outbox) {
                link.send(buf.get(..n).unwrap_or(&[]).to_vec());
            }
        }
    }

    /// Retransmits unacknowledged 200s (UDP) and runs the transfers' MSRP timers.
    pub(super) fn incoming_timeout(&mut self) {
        let now = Instant::now();
        let core_now = self.now();
        let mut resend = Vec::new();
        for transfer in self.incoming.values_mut() {
            if let Some(m) = transfer.msrp.as_mut() {
                m.handle_timeout(core_now);
            }
            if transfer.resend_at.is_some_and(|t| t <= now) && !transfer.acked {
                resend.push(transfer.response.clone());
                transfer.resend_interval = (transfer.resend_interval * 2).min(Duration::from_secs(4));
                transfer.resend_at = Some(now + transfer.resend_interval);
            }
        }
        self.sip_out.extend(resend);
    }

    /// The earliest deadline of incoming transfers.
    pub(super) fn incoming_deadline(&self) -> Option<Instant> {
        self.incoming
            .values()
            .flat_map(|t| {
                let msrp = t
                    .msrp
                    .as_ref()
                    .and_then(MsrpSession::poll_timeout)
                    .map(|at| self.instant_of(at));
                [t.resend_at, msrp]
            })
            .flatten()
            .min()
    }
}
