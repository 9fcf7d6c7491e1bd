//! Session-mode chats over MSRP (feature `chat`): one embassy-net TCP connection at a time.
//!
//! | state | input | action | next |
//! |---|---|---|---|
//! | idle | `ChatConnect{active}` | connect to `Client::chat_peer_address` | connected |
//! | idle | `ChatConnect{!active}` | accept on [`MSRP_PORT`] | connected |
//! | idle | connect/accept fails or times out | `msrp_connection_lost` | idle |
//! | connected | bytes | `handle_msrp`, keep the unconsumed tail | connected |
//! | connected | the last feed consumed some bytes and left a tail (the session's queues were nearly full) | feed the tail again after the drain, without waiting for the peer | connected |
//! | connected | `poll_msrp_transmit` has bytes | write them all | connected |
//! | connected | peer closed, error, or the tail fills the buffer | `msrp_connection_lost`, abort | idle |
//! | connected | `ChatClosed` | close | idle |
//!
//! A second `ChatConnect` while connected is refused with `msrp_connection_lost` (one socket).
//!
//! Known limit: connecting (or waiting for the peer's connection) is awaited inside the run loop, so
//! SIP input and timers wait too, for up to [`CONNECT_TIMEOUT`] when the peer never comes. UDP
//! datagrams queue in the socket meanwhile; a select over the connect and the loop's other inputs
//! would remove the stall. The hardware-in-loop tests `chat_over_msrp_*` cover the active side (the
//! device connects); the passive side (`accept`) is not exercised by a test yet.

use embassy_net::tcp::TcpSocket;
use embassy_net::{IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::channel::Receiver;
use embassy_time::{with_timeout, Duration};
use simple_im_core::client::{ChatId, Client};
use simple_im_core::rng::Rng;

use crate::chat_link::{ChatLink, LinkNotes, MsrpClient};
use crate::log::warning;
use crate::runner::{drive, server_endpoint, Application, UdpBuffers};
use crate::{Command, RunError};

/// The TCP port a passive device listens on (the port its SDP offers: the core's `MSRP_PORT`).
pub const MSRP_PORT: u16 = 2855;
/// How long connecting or waiting for the peer's connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The MSRP connection's buffers, owned by the application: `RING` bytes of TCP ring per direction,
/// `CHUNK` bytes of receive buffer (a chunk head and part of its body must fit; 2 KiB is plenty) and
/// `CHUNK` bytes of transmit scratch.
pub struct MsrpBuffers<const RING: usize, const CHUNK: usize> {
    rx_ring: [u8; RING],
    tx_ring: [u8; RING],
    input: [u8; CHUNK],
    output: [u8; CHUNK],
}

impl<const RING: usize, const CHUNK: usize> MsrpBuffers<RING, CHUNK> {
    /// Zeroed buffers (usable in a `static` initialiser).
    pub const fn new() -> Self {
        MsrpBuffers {
            rx_ring: [0; RING],
            tx_ring: [0; RING],
            input: [0; CHUNK],
            output: [0; CHUNK],
        }
    }
}

impl<const RING: usize, const CHUNK: usize> Default for MsrpBuffers<RING, CHUNK> {
    fn default() -> Self {
        Self::new()
    }
}

/// [`crate::run`] for a client with chat slots: the same loop, plus the MSRP connection of the chat
/// that asks for one (`ClientEvent::ChatConnect`), in `msrp_buffers`. The stack needs one TCP socket
/// more in its `StackResources`.
#[allow(clippy::too_many_arguments)]
pub async fn run_with_chat<
    R,
    M,
    App,
    const BODY: usize,
    const CMDS: usize,
    const RING: usize,
    const DATAGRAM: usize,
    const META: usize,
    const MSRP_RING: usize,
    const CHUNK: usize,
    const REQ: usize,
    const OUT: usize,
    const SRV: usize,
    const CHATS: usize,
>(
    client: &mut Client<R, IpEndpoint, REQ, OUT, SRV, CHATS>,
    stack: Stack<'_>,
    local_port: u16,
    buffers: &mut UdpBuffers<RING, DATAGRAM, META>,
    msrp_buffers: &mut MsrpBuffers<MSRP_RING, CHUNK>,
    commands: Receiver<'_, M, Command<BODY>, CMDS>,
    app: &mut App,
) -> Result<(), RunError>
where
    R: Rng,
    M: RawMutex,
    App: Application,
{
    let mut link = TcpLink::new(stack, msrp_buffers);
    drive(client, stack, local_port, buffers, commands, app, &mut link).await
}

/// One TCP connection for the chat that has it.
pub(crate) struct TcpLink<'a> {
    socket: TcpSocket<'a>,
    chat: Option<ChatId>,
    input: &'a mut [u8],
    output: &'a mut [u8],
    /// Bytes kept in `input`, and how many of them the client consumed in the last feed.
    kept: usize,
    used: usize,
    /// The last feed consumed some bytes and left whole ones: the session may have stopped early for
    /// back-pressure (its queues nearly full), so the rest is fed again once drained, without waiting
    /// for more bytes from the peer.
    refeed: bool,
    /// The connection failed while reading: report it at the next `apply`.
    lost: bool,
}

impl<'a> TcpLink<'a> {
    pub(crate) fn new<const RING: usize, const CHUNK: usize>(
        stack: Stack<'a>,
        buffers: &'a mut MsrpBuffers<RING, CHUNK>,
    ) -> Self {
        let MsrpBuffers {
            rx_ring,
            tx_ring,
            input,
            output,
        } = buffers;
        TcpLink {
            socket: TcpSocket::new(stack, rx_ring, tx_ring),
            chat: None,
            input,
            output,
            kept: 0,
            used: 0,
            refeed: false,
            lost: false,
        }
    }

    fn drop_connection(&mut self, client: &mut impl MsrpClient) {
        self.socket.abort();
        self.kept = 0;
        self.refeed = false;
        self.used = 0;
        self.lost = false;
        if let Some(chat) = self.chat.take() {
            client.msrp_connection_lost(chat);
        }
    }
}

impl ChatLink for TcpLink<'_> {
    async fn apply(&mut self, client: &mut impl MsrpClient, notes: LinkNotes) -> bool {
        let mut reported = false;
        if self.lost {
            self.drop_connection(client);
            reported = true;
        }
        if notes.closed.is_some() && notes.closed == self.chat {
            self.socket.close();
            let _ = with_timeout(Duration::from_millis(200), self.socket.flush()).await;
            self.socket.abort();
            self.chat = None;
            self.kept = 0;
            self.refeed = false;
        }
        let Some((chat, active)) = notes.connect else {
            return reported;
        };
        if self.chat.is_some() {
            warning!("a second chat connection was asked for; one at a time");
            client.msrp_connection_lost(chat);
            return true;
        }
        self.socket.abort();
        let opened = if active {
            match client.chat_peer_address(chat).map(server_endpoint) {
                Some(Ok(peer)) => connect(&mut self.socket, peer).await,
                _ => {
                    warning!("chat peer address is not a.b.c.d:port");
                    false
                }
            }
        } else {
            matches!(
                with_timeout(CONNECT_TIMEOUT, self.socket.accept(MSRP_PORT)).await,
                Ok(Ok(()))
            )
        };
        if opened {
            self.chat = Some(chat);
        } else {
            warning!("MSRP connection not established");
            self.socket.abort();
            client.msrp_connection_lost(chat);
        }
        true
    }

    async fn transmit(&mut self, client: &mut impl MsrpClient) {
        let Some(connected) = self.chat else { return };
        while let Some((chat, len)) = client.poll_msrp_transmit(self.output) {
            if chat != connected {
                continue; // no connection for that chat: MSRP's own timers report the failure
            }
            let mut rest = self.output.get(..len).unwrap_or(&[]);
            while !rest.is_empty() {
                match self.socket.write(rest).await {
                    Ok(n) if n > 0 => rest = rest.get(n..).unwrap_or(&[]),
                    _ => {
                        self.drop_connection(client);
                        return;
                    }
                }
            }
        }
    }

    async fn receive(&mut self) {
        if self.chat.is_none() || self.lost {
            return core::future::pending::<()>().await;
        }
        if core::mem::take(&mut self.refeed) {
            return;
        }
        let free = self.input.get_mut(self.kept..).unwrap_or(&mut []);
        match self.socket.read(free).await {
            // A full buffer the client could not consume, the peer's close, or an error.
            Ok(0) | Err(_) => self.lost = true,
            Ok(n) => self.kept += n,
        }
    }

    fn feed(&mut self, client: &mut impl MsrpClient) {
        self.used = 0;
        let Some(chat) = self.chat.filter(|_| !self.lost) else {
            return;
        };
        let bytes = self.input.get(..self.kept).unwrap_or(&[]);
        match client.handle_msrp(chat, bytes) {
            Ok(used) => self.used = used.min(self.kept),
            Err(e) => {
                warning!("MSRP input refused: {}", e);
                self.lost = true;
            }
        }
    }

    fn input(&self) -> &[u8] {
        self.input.get(..self.kept).unwrap_or(&[])
    }

    fn consumed(&mut self) {
        let (used, kept) = (self.used, self.kept);
        self.input.copy_within(used..kept, 0);
        self.kept = kept - used;
        self.used = 0;
        self.refeed = used > 0 && self.kept > 0;
        if self.kept == self.input.len() {
            self.lost = true; // nothing more fits and the client took nothing: a chunk head too large
        }
    }
}

async fn connect(socket: &mut TcpSocket<'_>, peer: IpEndpoint) -> bool {
    matches!(
        with_timeout(CONNECT_TIMEOUT, socket.connect(peer)).await,
        Ok(Ok(()))
    )
}
