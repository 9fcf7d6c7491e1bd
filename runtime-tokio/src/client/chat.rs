//! The MSRP connections of chats. The core client is always the active MSRP side: on `ChatConnect`
//! with `active` the runtime connects to the first hop of the peer's path (the peer, or the server's
//! relay), then moves bytes between that TCP connection and the core (`handle_msrp`,
//! `poll_msrp_transmit`).
//!
//! Each connection is two small tasks: a reader that forwards chunks of bytes to the session over one
//! channel ([`MsrpInput`]), and a writer fed through its own channel, so the session loop never blocks
//! on a slow peer.
//!
//! Not done: the passive side (an offer with `a=setup:active` needs a listening socket whose port the
//! core would have to put in its MSRP URI; the core writes a fixed port today), so such a chat is
//! closed with a `chat_failed` event.

use super::output::Note;
use super::session::Session;
use simple_im_core::client::ChatId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Bytes of the buffer MSRP chunks are written from.
pub const MSRP_CHUNK_BUFFER: usize = 16 * 1024;

/// What the MSRP connection tasks tell the session.
#[derive(Debug)]
pub enum MsrpInput {
    /// Bytes read on the chat's connection.
    Bytes(u32, Vec<u8>),
    /// The connection could not be opened, or it closed.
    Lost(u32, String),
    /// The writer emptied its queue: more can be written.
    Writable(u32),
}

impl MsrpInput {
    /// The session the input belongs to.
    pub fn id(&self) -> u32 {
        match self {
            MsrpInput::Bytes(id, _) | MsrpInput::Lost(id, _) | MsrpInput::Writable(id) => *id,
        }
    }
}

/// Bytes queued for a connection's writer above which the session stops pulling from its MSRP
/// machine (a file is then read from disk as fast as the peer takes it, never held whole).
pub const MAX_IN_FLIGHT: usize = 256 * 1024;

/// One chat's connection.
pub struct ChatLink {
    writer: mpsc::UnboundedSender<Vec<u8>>,
    in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Bytes read but not yet consumed by the session (a partial MSRP frame).
    pub(super) unread: Vec<u8>,
    /// Bodies of the chat messages being received, oldest first: one `handle_msrp` call can report
    /// the bodies of several messages before their ends, so a body at offset 0 starts a new entry
    /// and each end takes the oldest.
    pub incoming: std::collections::VecDeque<Vec<u8>>,
    /// Lines for a core chat waiting for room in the core's small queue of chat texts.
    pub(super) waiting: std::collections::VecDeque<String>,
}

impl ChatLink {
    /// Queues bytes for the connection's writer task.
    pub fn send(&self, bytes: Vec<u8>) {
        self.in_flight
            .fetch_add(bytes.len(), std::sync::atomic::Ordering::Relaxed);
        let _ = self.writer.send(bytes);
    }

    /// Whether the writer's queue is short enough to add more.
    pub fn writable(&self) -> bool {
        self.in_flight.load(std::sync::atomic::Ordering::Relaxed) < MAX_IN_FLIGHT
    }
}

/// How a chat's MSRP connection comes about.
pub enum Connect {
    /// We connect to this `host:port`.
    To(String),
    /// The peer connects to this listener (its first connection is taken).
    Accept(tokio::net::TcpListener),
    /// We connect to this `host:port` from this already bound socket (the port our URI names), with
    /// TLS when a connector is given (an `msrps:` first hop).
    From(tokio::net::TcpSocket, String, Option<tokio_rustls::TlsConnector>),
    /// An already open connection (to an MSRP relay, after AUTH).
    Connected(TcpStream),
}

type BoxedRead = Box<dyn tokio::io::AsyncRead + Unpin + Send>;
type BoxedWrite = Box<dyn tokio::io::AsyncWrite + Unpin + Send>;

/// TLS over `stream`, the certificate checked against the host of `peer`, split in two halves.
async fn tls_halves(
    stream: TcpStream,
    connector: &tokio_rustls::TlsConnector,
    peer: &str,
) -> Result<(BoxedRead, BoxedWrite), String> {
    let name = super::tls::server_name(peer)?;
    let tls = connector
        .connect(name, stream)
        .await
        .map_err(|e| format!("TLS with {peer}: {e}"))?;
    let (read, write) = tokio::io::split(tls);
    Ok((Box::new(read), Box::new(write)))
}

/// The first address `host:port` resolves to.
async fn resolve_one(peer: &str) -> Result<std::net::SocketAddr, String> {
    tokio::net::lookup_host(peer)
        .await
        .map_err(|e| format!("cannot resolve {peer}: {e}"))?
        .next()
        .ok_or_else(|| format!("{peer} resolves to no address"))
}

impl Session {
    /// The core asked for the MSRP connection of `chat`.
    pub(super) fn chat_connect(&mut self, chat: ChatId, active: bool) {
        let peer = self.core().chat_peer_address(chat).map(str::to_owned);
        match peer.filter(|_| active) {
            Some(peer) => self.open_msrp(chat.0, Connect::To(peer)),
            None => {
                self.open_msrp(chat.0, Connect::To(String::new()));
                let why = "passive MSRP (the offer asked us to listen) is not supported".to_owned();
                let _ = self.msrp_sender.send(MsrpInput::Lost(chat.0, why));
            }
        }
    }

    /// Opens (or accepts) the MSRP connection of session `id`; its bytes come back as [`MsrpInput`].
    pub(super) fn open_msrp(&mut self, id: u32, connect: Connect) {
        let (writer, mut queue) = mpsc::unbounded_channel::<Vec<u8>>();
        let in_flight = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let written = in_flight.clone();
        self.chats.insert(
            id,
            ChatLink {
                writer,
                in_flight,
                unread: Vec::new(),
                incoming: std::collections::VecDeque::new(),
                waiting: std::collections::VecDeque::new(),
            },
        );
        let report = self.msrp_sender.clone();
        if matches!(&connect, Connect::To(peer) if peer.is_empty()) {
            return;
        }
        tokio::spawn(async move {
            let opened = match connect {
                Connect::To(peer) => TcpStream::connect(peer.as_str())
                    .await
                    .map_err(|e| format!("cannot connect to {peer}: {e}"))
                    .map(|s| (s, None)),
                Connect::From(socket, peer, tls) => match resolve_one(&peer).await {
                    Ok(addr) => socket
                        .connect(addr)
                        .await
                        .map_err(|e| format!("cannot connect to {peer}: {e}"))
                        .map(|s| (s, tls.map(|connector| (connector, peer)))),
                    Err(e) => Err(e),
                },
                Connect::Connected(stream) => Ok((stream, None)),
                Connect::Accept(listener) => listener
                    .accept()
                    .await
                    .map(|(s, _)| (s, None))
                    .map_err(|e| format!("cannot accept the MSRP connection: {e}")),
            };
            let opened = match opened {
                Ok((stream, Some((connector, peer)))) => {
                    let _ = stream.set_nodelay(true);
                    tls_halves(stream, &connector, &peer).await
                }
                Ok((stream, None)) => {
                    let _ = stream.set_nodelay(true);
                    let (read, write) = stream.into_split();
                    Ok((Box::new(read) as BoxedRead, Box::new(write) as BoxedWrite))
                }
                Err(e) => Err(e),
            };
            let (mut read, mut write) = match opened {
                Ok(halves) => halves,
                Err(e) => {
                    let _ = report.send(MsrpInput::Lost(id, e));
                    return;
                }
            };
            let wake = report.clone();
            tokio::spawn(async move {
                while let Some(bytes) = queue.recv().await {
                    if write.write_all(&bytes).await.is_err() {
                        break;
                    }
                    let before = written.fetch_sub(bytes.len(), std::sync::atomic::Ordering::Relaxed);
                    if before == bytes.len() && wake.send(MsrpInput::Writable(id)).is_err() {
                        break;
                    }
                }
            });
            let mut buf = vec![0u8; MSRP_CHUNK_BUFFER];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) => {
                        let _ = report.send(MsrpInput::Lost(id, "connection closed".into()));
                        return;
                    }
                    Ok(n) => {
                        if report.send(MsrpInput::Bytes(id, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = report.send(MsrpInput::Lost(id, e.to_string()));
                        return;
                    }
                }
            }
        });
    }

    /// The bytes of session `id` not consumed yet, with `bytes` appended: what to feed next.
    pub(super) fn unread_with(&mut self, id: u32, bytes: &[u8]) -> Vec<u8> {
        let mut unread = self
            .chats
            .get_mut(&id)
            .map(|l| std::mem::take(&mut l.unread))
            .unwrap_or_default();
        unread.extend_from_slice(bytes);
        unread
    }

    /// Keeps what the session did not consume (`used` bytes were) for the next read.
    pub(super) fn keep_unread(&mut self, id: u32, mut unread: Vec<u8>, used: usize) {
        unread.drain(..used.min(unread.len()));
        if let Some(link) = self.chats.get_mut(&id) {
            link.unread = unread;
        }
    }

    /// Feeds what a connection task reported.
    pub(super) fn feed_msrp(&mut self, input: MsrpInput) {
        let now = self.now();
        match input {
            MsrpInput::Bytes(chat, bytes) => {
                if !self.chats.contains_key(&chat) {
                    return;
                }
                let mut unread = self.unread_with(chat, &bytes);
                loop {
                    let used = self.core().handle_msrp(now, ChatId(chat), &unread);
                    self.drain_events(&unread);
                    match used {
                        Ok(used) if used > 0 && used < unread.len() => {
                            // The session stopped early because its queues were nearly full (a
                            // chat slot is sized for a device): send what it queued, then feed the
                            // rest now instead of waiting for the peer's next bytes.
                            unread.drain(..used);
                            self.write_core_msrp();
                        }
                        Ok(used) => {
                            self.keep_unread(chat, unread, used);
                            break;
                        }
                        Err(e) => {
                            self.notes.push_back(
                                Note::new("chat_failed")
                                    .with("chat", chat)
                                    .with("reason", e.to_string()),
                            );
                            self.core().msrp_connection_lost(now, ChatId(chat));
                            let _ = self.core().close_chat(now, ChatId(chat));
                            self.drain_events(&[]);
                            break;
                        }
                    }
                }
            }
            MsrpInput::Writable(_) => {}
            MsrpInput::Lost(chat, why) => {
                if self.chats.contains_key(&chat) && chat < super::outgoing::FIRST_OUTGOING_ID {
                    self.notes
                        .push_back(Note::new("chat_failed").with("chat", chat).with("reason", why));
                    self.core().msrp_connection_lost(now, ChatId(chat));
                    let _ = self.core().close_chat(now, ChatId(chat));
                    self.drain_events(&[]);
                }
            }
        }
    }

    /// Sends `text` in core chat `chat`, after the lines already waiting: the core queues only a
    /// couple of texts per chat (a device's memory), so lines typed faster wait here.
    pub fn say_core_chat(&mut self, chat: u32, text: &str) -> Result<(), String> {
        let link = self
            .chats
            .get_mut(&chat)
            .ok_or_else(|| format!("chat {chat}: no such chat"))?;
        link.waiting.push_back(text.to_owned());
        self.send_core_waiting();
        Ok(())
    }

    /// Hands waiting lines to their core chats while the core takes them.
    fn send_core_waiting(&mut self) {
        let now = self.now();
        let ids: Vec<u32> = self
            .chats
            .iter()
            .filter(|(_, l)| !l.waiting.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            while let Some(text) = self.chats.get(&id).and_then(|l| l.waiting.front().cloned()) {
                match self.client.send_chat(now, ChatId(id), &text) {
                    Ok(()) => {}
                    Err(simple_im_core::client::CommandError::Busy) => break,
                    Err(e) => {
                        self.notes
                            .push_back(Note::new("error").with("reason", format!("chat {id}: {e}")));
                    }
                }
                if let Some(link) = self.chats.get_mut(&id) {
                    link.waiting.pop_front();
                }
            }
        }
    }

    /// Writes the MSRP bytes the core has queued to their connections.
    pub(super) async fn flush_msrp(&mut self) {
        self.send_core_waiting();
        let mut buf = self.write_core_msrp();
        self.flush_outgoing_msrp(&mut buf);
        self.flush_incoming_msrp(&mut buf);
    }

    /// Hands the MSRP bytes the core's chats have queued to their connections, then drains the events
    /// that produced; returns the scratch buffer for the other MSRP writers.
    fn write_core_msrp(&mut self) -> Vec<u8> {
        let mut buf = vec![0u8; MSRP_CHUNK_BUFFER];
        loop {
            let now = self.now();
            let Some((chat, n)) = self.core().poll_msrp_transmit(now, &mut buf) else {
                break;
            };
            if let Some(link) = self.chats.get(&chat.0) {
                link.send(buf.get(..n).unwrap_or(&[]).to_vec());
            }
        }
        self.drain_events(&[]);
        buf
    }

    /// Ends every chat with BYE (on shutdown).
    pub(super) fn close_chats(&mut self) {
        let now = self.now();
        for chat in self.chat_ids() {
            if chat.0 >= super::outgoing::FIRST_OUTGOING_ID {
                self.hang_up(chat.0);
            } else {
                let _ = self.core().close_chat(now, chat);
            }
        }
        self.drain_events(&[]);
    }
}
