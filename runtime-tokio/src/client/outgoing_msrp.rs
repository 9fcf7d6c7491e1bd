//! The MSRP half of the sessions this runtime starts ([`super::outgoing`]): the session machine set
//! up from the SDP answer, bodies pulled from an [`Outbox`] (queued texts, or a file read from disk at
//! the offset asked, never held whole) only while the connection's writer keeps up, and the success
//! REPORTs that confirm each message.

use super::chat::MsrpInput;
use super::outgoing::{Outgoing, State, CHAT_TYPES};
use super::output::Note;
use super::session::Session;
use crate::server::rng::OsRng;
use simple_im_core::msrp::session::{
    self as msrp, BodyRead, BodySink, BodySource, MessageHandle, Session as MsrpSession, SessionConfig,
};
use simple_im_core::sdp;
use std::collections::HashMap;

/// Where our MSRP bodies come from: queued texts, or one file read from disk at the offset asked.
#[derive(Default)]
pub struct Outbox {
    texts: HashMap<MessageHandle, Vec<u8>>,
    file: Option<(MessageHandle, std::fs::File, u64)>,
    /// Bytes of the file handed to the MSRP machine so far (the sender's progress).
    pub file_read: u64,
}

impl Outbox {
    /// Queues the body of message `handle`.
    pub fn add_text(&mut self, handle: MessageHandle, text: Vec<u8>) {
        self.texts.insert(handle, text);
    }
}

impl BodySource for Outbox {
    fn read(&mut self, message: MessageHandle, offset: u64, buf: &mut [u8]) -> BodyRead {
        if let Some((handle, file, size)) = self.file.as_mut() {
            if *handle == message {
                use std::io::{Read, Seek, SeekFrom};
                let want = usize::try_from(size.saturating_sub(offset)).unwrap_or(usize::MAX);
                let want = want.min(buf.len());
                let len = file
                    .seek(SeekFrom::Start(offset))
                    .and_then(|_| file.read(&mut buf[..want]))
                    .unwrap_or(0);
                self.file_read = self.file_read.max(offset + len as u64);
                return BodyRead {
                    len,
                    // A short read (the file shrank) ends the message; the receiver's size check
                    // then reports it.
                    end: offset + len as u64 >= *size || len == 0,
                };
            }
        }
        let text = self.texts.get(&message).map_or(&[][..], Vec::as_slice);
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|o| text.get(o..))
            .unwrap_or(&[]);
        let len = rest.len().min(buf.len());
        buf[..len].copy_from_slice(&rest[..len]);
        BodyRead {
            len,
            end: len == rest.len(),
        }
    }
}

/// Collects incoming body bytes per message: one read may carry several messages, whose bodies
/// arrive before their `MessageReceived` events are polled.
struct Collect<'a>(&'a mut HashMap<String, Vec<u8>>);

impl BodySink for Collect<'_> {
    fn body(&mut self, id: &str, offset: u64, bytes: &[u8]) {
        let body = self.0.entry(id.to_owned()).or_default();
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        if at == body.len() {
            body.extend_from_slice(bytes);
        }
    }
}

/// A file to push (RFC 5547).
pub struct FileOffer {
    /// The open file.
    pub file: std::fs::File,
    /// Its name as offered (percent-encoded where the selector needs it).
    pub name: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256 as colon-separated upper-case hex pairs (RFC 4572 style).
    pub sha256: String,
}

impl FileOffer {
    /// Opens `path` and hashes it (streamed: the file is never held whole).
    pub fn open(path: &std::path::Path) -> Result<FileOffer, String> {
        use sha2::{Digest, Sha256};
        use std::io::Read;
        let shown = path.display();
        let mut file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf).map_err(|e| format!("{shown}: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "file".to_owned());
        let mut name = String::new();
        for byte in base.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
                name.push(char::from(byte));
            } else {
                name.push_str(&format!("%{byte:02X}"));
            }
        }
        let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
        Ok(FileOffer {
            file,
            name,
            size,
            sha256,
        })
    }
}

/// The media type files are offered as.
pub(super) const FILE_TYPE: &str = "application/octet-stream";

impl Session {
    pub(super) fn start_msrp(&mut self, out: &mut Outgoing, answer: &[u8]) -> Result<(), String> {
        let offer_bytes = out.offer.clone();
        let offer = sdp::Session::parse(&offer_bytes).map_err(|e| format!("our offer: {e:?}"))?;
        let answer = sdp::Session::parse(answer).map_err(|e| format!("SDP answer: {e:?}"))?;
        let agreement = sdp::check_answer(&offer, &answer).map_err(|e| format!("SDP answer: {e:?}"))?;
        let media = answer
            .media()
            .nth(agreement.media_index)
            .ok_or("SDP answer without the MSRP stream")?;
        // Our relay, if any, is the first hop of everything we send (RFC 4976 §5.2).
        let remote_path = out
            .relay
            .iter()
            .map(String::as_str)
            .chain(media.path())
            .collect::<Vec<_>>()
            .join(" ");
        out.cpim = out.file.is_none()
            && media
                .accept_types()
                .any(|t| t.eq_ignore_ascii_case("message/cpim") || t == "*");
        // The answerer chose: `active` connects to us, anything else (passive) waits for us.
        let we_listen =
            out.listener.is_some() && !self.offer_active() && media.setup() == Some(sdp::Setup::Active);
        drop(answer);
        drop(offer);
        let setup = if we_listen {
            msrp::Setup::Passive
        } else {
            msrp::Setup::Active
        };
        let config = SessionConfig {
            accept_types: CHAT_TYPES,
            success_report: true,
            chunk_size: if out.file.is_some() { 8192 } else { 2048 },
            ..SessionConfig::default()
        };
        let session = MsrpSession::new(config, &out.local_uri, &remote_path, setup, &mut OsRng)
            .map_err(|e| format!("MSRP session: {e:?}"))?;
        out.msrp = Some(session);
        let connect = if we_listen {
            super::chat::Connect::Accept(out.listener.take().ok_or("listener already used")?)
        } else {
            out.listener = None;
            let first = remote_path.split(' ').next().unwrap_or("");
            let authority = first
                .strip_prefix("msrp://")
                .or_else(|| first.strip_prefix("msrps://"))
                .and_then(|r| r.split('/').next())
                .ok_or_else(|| format!("unusable MSRP path {first}"))?;
            if let Some(stream) = out.dial_stream.take() {
                super::chat::Connect::Connected(stream)
            } else {
                match out.dial_socket.take() {
                    Some(socket) => {
                        let tls = self.msrp_tls().filter(|_| first.starts_with("msrps:"));
                        super::chat::Connect::From(socket, authority.to_owned(), tls)
                    }
                    None => super::chat::Connect::To(authority.to_owned()),
                }
            }
        };
        self.open_msrp(out.id, connect);
        Self::send_queued(out, self.aor())?;
        if let Some(offer) = out.file.take() {
            let session = out.msrp.as_mut().ok_or("the session is not established")?;
            let handle = session
                .send(FILE_TYPE, Some(offer.size))
                .map_err(|e| format!("cannot send the file: {e:?}"))?;
            out.outbox.file = Some((handle, offer.file, offer.size));
            out.unconfirmed.push((handle, offer.size));
        }
        Ok(())
    }

    /// Hands the lines waiting in `out.queued` to the MSRP session, in order, while it has room: its
    /// queue of outgoing messages is bounded, and a message leaves it once sent and reported, so
    /// lines typed (or piped) faster than that wait here instead of failing.
    fn send_queued(out: &mut Outgoing, from: &str) -> Result<(), String> {
        let Some(session) = out.msrp.as_mut() else {
            return Ok(());
        };
        while let Some(text) = out.queued.first() {
            let (content_type, body, id) = if out.cpim {
                let (body, id) = super::chat_imdn::chat_line_cpim(from, &out.to, text)?;
                ("message/cpim", body, Some(id))
            } else {
                ("text/plain;charset=utf-8", text.as_bytes().to_vec(), None)
            };
            let handle = match session.send(content_type, Some(body.len() as u64)) {
                Ok(handle) => handle,
                Err(msrp::SendError::QueueFull) => break,
                Err(e) => return Err(format!("cannot send now: {e:?}")),
            };
            out.queued.remove(0);
            out.unconfirmed.push((handle, body.len() as u64));
            out.outbox.texts.insert(handle, body);
            if let Some(id) = id {
                out.message_ids.insert(handle, id);
            }
        }
        Ok(())
    }

    /// Sends `text` in outgoing session `id` (queued until it is established and has room).
    pub fn say(&mut self, id: u32, text: &str) -> Result<(), String> {
        let from = self.aor().to_owned();
        let out = self
            .outgoing
            .get_mut(&id)
            .ok_or_else(|| format!("no session {id}"))?;
        out.queued.push(text.to_owned());
        Self::send_queued(out, &from)
    }

    /// Whether every message sent in session `id` was confirmed by a success REPORT.
    pub fn all_confirmed(&self, id: u32) -> bool {
        self.outgoing
            .get(&id)
            .is_some_and(|o| o.unconfirmed.is_empty() && o.queued.is_empty() && o.file.is_none())
    }

    /// Bytes of the file of session `id` handed to the connection so far.
    pub fn file_progress(&self, id: u32) -> Option<u64> {
        self.outgoing.get(&id).map(|o| o.outbox.file_read)
    }

    /// Bytes on the MSRP connection of an outgoing session.
    pub(super) fn outgoing_msrp(&mut self, input: MsrpInput) -> Option<MsrpInput> {
        let id = input.id();
        let Some(mut out) = self.outgoing.remove(&id) else {
            return Some(input);
        };
        let now = self.now();
        match input {
            MsrpInput::Bytes(_, bytes) => {
                let unread = self.unread_with(id, &bytes);
                let mut used = 0;
                if let Some(session) = out.msrp.as_mut() {
                    match session.handle_input(now, &unread, &mut Collect(&mut out.incoming)) {
                        Ok(n) => used = n,
                        Err(e) => {
                            self.notes.push_back(
                                Note::new("chat_failed")
                                    .with("chat", id)
                                    .with("reason", format!("MSRP: {e:?}")),
                            );
                            self.close(&mut out);
                        }
                    }
                }
                self.keep_unread(id, unread, used);
            }
            MsrpInput::Writable(_) => {}
            MsrpInput::Lost(_, why) => {
                if out.state == State::Established {
                    self.notes
                        .push_back(Note::new("chat_failed").with("chat", id).with("reason", why));
                    if let Some(m) = out.msrp.as_mut() {
                        m.connection_lost(now);
                    }
                    self.outgoing_msrp_events(&mut out);
                    self.close(&mut out);
                }
            }
        }
        self.outgoing_msrp_events(&mut out);
        if out.state == State::Closed {
            self.chats.remove(&id);
        } else {
            self.outgoing.insert(id, out);
        }
        None
    }

    pub(super) fn outgoing_msrp_events(&mut self, out: &mut Outgoing) {
        let id = out.id;
        let Some(session) = out.msrp.as_mut() else { return };
        while let Some(event) = session.poll_event() {
            match event {
                msrp::Event::MessageReceived { id: message, .. } => {
                    let body = out.incoming.remove(message.as_str()).unwrap_or_default();
                    let note = self.received_chat_message(id, &body, false);
                    self.notes.push_back(note);
                }
                msrp::Event::MessageAborted { id: message, .. } => {
                    out.incoming.remove(message.as_str());
                    self.notes.push_back(Note::new("chat_aborted").with("chat", id));
                }
                msrp::Event::Sent { message, .. } => {
                    let mut note = Note::new("chat_sent").with("chat", id);
                    if let Some(message_id) = out.message_ids.remove(&message) {
                        note = note.with("id", message_id);
                    }
                    self.notes.push_back(note);
                }
                msrp::Event::Delivered { message, end, .. } => {
                    let done = out
                        .unconfirmed
                        .iter()
                        .any(|(h, len)| *h == message && end >= *len);
                    if done {
                        out.unconfirmed.retain(|(h, _)| *h != message);
                        out.outbox.texts.remove(&message);
                        if out.outbox.file.as_ref().is_some_and(|(h, _, _)| *h == message) {
                            out.outbox.file = None;
                        }
                        self.notes.push_back(Note::new("chat_delivered").with("chat", id));
                    }
                }
                msrp::Event::SendFailed { message, failure, .. } => {
                    out.unconfirmed.retain(|(h, _)| *h != message);
                    self.notes.push_back(
                        Note::new("chat_send_failed")
                            .with("chat", id)
                            .with("reason", format!("{failure:?}")),
                    );
                }
                _ => {}
            }
        }
    }

    /// Writes the MSRP bytes of the sessions we started.
    pub(super) fn flush_outgoing_msrp(&mut self, buf: &mut [u8]) {
        let now = self.now();
        let ids: Vec<u32> = self.outgoing.keys().copied().collect();
        for id in ids {
            let Some(mut out) = self.outgoing.remove(&id) else {
                continue;
            };
            if let Err(why) = Self::send_queued(&mut out, self.aor()) {
                self.notes
                    .push_back(Note::new("error").with("chat", id).with("reason", why));
                out.queued.clear();
            }
            if let (Some(session), Some(link)) = (out.msrp.as_mut(), self.chats.get(&id)) {
                while link.writable() {
                    let Some(n) = session.poll_transmit(now, buf, &mut out.outbox) else {
                        break;
                    };
                    link.send(buf.get(..n).unwrap_or(&[]).to_vec());
                }
            }
            self.outgoing_msrp_events(&mut out);
            self.outgoing.insert(id, out);
        }
    }
}
