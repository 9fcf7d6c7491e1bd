//! The run loop's view of a chat's MSRP connection. [`run`](crate::run) drives a pager client with
//! [`NoChat`], whose connection never has bytes; [`run_with_chat`](crate::run_with_chat) (feature
//! `chat`) drives one TCP connection (`crate::msrp`).

use simple_im_core::client::{ChatId, Client, ClientEvent, CommandError};
use simple_im_core::rng::Rng;

use crate::runner::now;

/// What a chat connection asks of the client (every `Client` does it; the clock is the runtime's).
/// Only the `chat` feature's connection calls it; [`NoChat`] never does.
#[cfg_attr(not(feature = "chat"), allow(dead_code))]
pub(crate) trait MsrpClient {
    fn chat_peer_address(&self, chat: ChatId) -> Option<&str>;
    fn handle_msrp(&mut self, chat: ChatId, bytes: &[u8]) -> Result<usize, CommandError>;
    fn poll_msrp_transmit(&mut self, buf: &mut [u8]) -> Option<(ChatId, usize)>;
    fn msrp_connection_lost(&mut self, chat: ChatId);
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize> MsrpClient
    for Client<R, A, REQ, OUT, SRV, CHATS>
{
    fn chat_peer_address(&self, chat: ChatId) -> Option<&str> {
        Client::chat_peer_address(self, chat)
    }

    fn handle_msrp(&mut self, chat: ChatId, bytes: &[u8]) -> Result<usize, CommandError> {
        Client::handle_msrp(self, now(), chat, bytes)
    }

    fn poll_msrp_transmit(&mut self, buf: &mut [u8]) -> Option<(ChatId, usize)> {
        Client::poll_msrp_transmit(self, now(), buf)
    }

    fn msrp_connection_lost(&mut self, chat: ChatId) {
        Client::msrp_connection_lost(self, now(), chat)
    }
}

/// What the events of one turn ask of the connection, noted while the application sees them and
/// acted on after (the events' spans may point into the connection's receive buffer).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct LinkNotes {
    /// `ChatConnect`: the chat and whether this side connects (else it accepts).
    pub connect: Option<(ChatId, bool)>,
    /// `ChatClosed`: close that chat's connection.
    pub closed: Option<ChatId>,
}

impl LinkNotes {
    pub(crate) fn observe(&mut self, event: &ClientEvent) {
        match *event {
            ClientEvent::ChatConnect { chat, active } => self.connect = Some((chat, active)),
            ClientEvent::ChatClosed { chat, .. } => self.closed = Some(chat),
            _ => {}
        }
    }
}

/// One MSRP connection as the run loop uses it; every method is a no-op for [`NoChat`].
pub(crate) trait ChatLink {
    /// Opens or accepts the connection the notes ask for, closes the one they end. Reports a failed
    /// connection to the client (`msrp_connection_lost`). `true` when the client may have something
    /// new to send or report.
    async fn apply(&mut self, client: &mut impl MsrpClient, notes: LinkNotes) -> bool;

    /// Writes what the client has to send on the connection.
    async fn transmit(&mut self, client: &mut impl MsrpClient);

    /// Waits for bytes on the connection (forever when there is none) and keeps them.
    async fn receive(&mut self);

    /// Feeds the kept bytes to the client.
    fn feed(&mut self, client: &mut impl MsrpClient);

    /// The bytes of the last [`ChatLink::feed`] (the events' spans index them).
    fn input(&self) -> &[u8];

    /// Drops the bytes the client consumed in the last [`ChatLink::feed`], once its events are seen.
    fn consumed(&mut self);
}

/// No chat connection: a pager client's run loop.
pub(crate) struct NoChat;

impl ChatLink for NoChat {
    async fn apply(&mut self, _client: &mut impl MsrpClient, _notes: LinkNotes) -> bool {
        false
    }

    async fn transmit(&mut self, _client: &mut impl MsrpClient) {}

    async fn receive(&mut self) {
        core::future::pending::<()>().await
    }

    fn feed(&mut self, _client: &mut impl MsrpClient) {}

    fn input(&self) -> &[u8] {
        &[]
    }

    fn consumed(&mut self) {}
}
