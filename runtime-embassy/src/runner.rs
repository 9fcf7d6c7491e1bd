//! The run loop: one UDP socket to the server, the client's timers on embassy-time, commands from a
//! channel, events to the application.
//!
//! Each turn drains the client (every datagram to send, then every event), then waits for whichever
//! comes first: a datagram, the client's next deadline, or a command. Events are handed to the
//! application right after the input that produced them, while the receive buffer still holds the
//! bytes their spans point into.

use embassy_futures::select::{select4, Either4};
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{IpAddress, IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::channel::Receiver;
use embassy_time::Timer;
use simple_im_core::client::{Client, ClientEvent, CommandError, Destination, ImdnRequest};
use simple_im_core::rng::Rng;
use simple_im_core::time::Instant;

use crate::chat_link::{ChatLink, LinkNotes, NoChat};
use crate::command::{Command, Control};
use crate::log::{debug, warning};
use crate::RunError;

/// The content type of pagers sent by [`Command::SendPager`].
pub const PAGER_CONTENT_TYPE: &str = "text/plain;charset=utf-8";

/// The UDP socket's buffers, owned by the application (put it in a `static` with `StaticCell`, or in
/// the task's future). `RING` bytes of socket ring per direction, datagrams of up to `DATAGRAM` bytes
/// (a SIP MESSAGE with a 1 KiB body needs about 1500), `META` datagrams queued per direction.
pub struct UdpBuffers<const RING: usize, const DATAGRAM: usize, const META: usize> {
    rx_meta: [PacketMetadata; META],
    tx_meta: [PacketMetadata; META],
    rx_ring: [u8; RING],
    tx_ring: [u8; RING],
    datagram: [u8; DATAGRAM],
    transmit: [u8; DATAGRAM],
}

impl<const RING: usize, const DATAGRAM: usize, const META: usize> UdpBuffers<RING, DATAGRAM, META> {
    /// Zeroed buffers (usable in a `static` initialiser).
    pub const fn new() -> Self {
        UdpBuffers {
            rx_meta: [PacketMetadata::EMPTY; META],
            tx_meta: [PacketMetadata::EMPTY; META],
            rx_ring: [0; RING],
            tx_ring: [0; RING],
            datagram: [0; DATAGRAM],
            transmit: [0; DATAGRAM],
        }
    }
}

impl<const RING: usize, const DATAGRAM: usize, const META: usize> Default
    for UdpBuffers<RING, DATAGRAM, META>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Receives what the client reports. A closure `FnMut(&ClientEvent, &[u8]) -> Control` is one.
pub trait Application {
    /// One event. Spans in it index `input` (the datagram that produced it). To act on it (mark a
    /// message displayed, accept a chat), `try_send` a [`Command`] on the runner's channel.
    fn on_event(&mut self, event: &ClientEvent, input: &[u8]) -> Control;

    /// A command was refused by the client (slots busy, text too long, unknown handle).
    fn on_command_error(&mut self, error: CommandError) -> Control {
        let _ = error;
        Control::Continue
    }
}

impl<F: FnMut(&ClientEvent, &[u8]) -> Control> Application for F {
    fn on_event(&mut self, event: &ClientEvent, input: &[u8]) -> Control {
        self(event, input)
    }
}

/// The client's clock: embassy-time's milliseconds since boot.
pub fn now() -> Instant {
    Instant::from_millis(embassy_time::Instant::now().as_millis())
}

/// The server's address from the configuration: an IPv4 literal with a port (`10.0.2.2:5060`).
/// Devices without DNS are provisioned with an address; names are refused. (The core's compact
/// address parser, not `SocketAddrV4`'s, which would link `core::net`'s parser into the firmware.)
pub fn server_endpoint(server: &str) -> Result<IpEndpoint, RunError> {
    let (host, port) = server.rsplit_once(':').ok_or(RunError::ServerNotAnAddress)?;
    let ip = simple_im_core::sip::uri::parse_ipv4(host).ok_or(RunError::ServerNotAnAddress)?;
    let port = decimal_u16(port).ok_or(RunError::ServerNotAnAddress)?;
    Ok(IpEndpoint::new(IpAddress::Ipv4(ip), port))
}

/// A port: one or more ASCII digits (no sign) whose value fits 16 bits. The core's decimal reader,
/// which also takes a leading `+` (as `str::parse` does); a provisioned address has none.
fn decimal_u16(digits: &str) -> Option<u16> {
    if digits.starts_with('+') {
        return None;
    }
    u16::try_from(simple_im_core::write::parse_decimal(digits)?).ok()
}

/// Registers `client` and runs it over UDP from `local_port` until a [`Command::Stop`] or a
/// [`Control::Stop`]. Set the client's local address (`Client::set_local_address`: the `host:port`
/// the server reaches this device at) before calling. Chats get no MSRP connection here: use
/// `run_with_chat` (feature `chat`) for a client with chat slots.
pub async fn run<
    R,
    M,
    App,
    const BODY: usize,
    const CMDS: usize,
    const RING: usize,
    const DATAGRAM: usize,
    const META: usize,
    const REQ: usize,
    const OUT: usize,
    const SRV: usize,
    const CHATS: usize,
>(
    client: &mut Client<R, IpEndpoint, REQ, OUT, SRV, CHATS>,
    stack: Stack<'_>,
    local_port: u16,
    buffers: &mut UdpBuffers<RING, DATAGRAM, META>,
    commands: Receiver<'_, M, Command<BODY>, CMDS>,
    app: &mut App,
) -> Result<(), RunError>
where
    R: Rng,
    M: RawMutex,
    App: Application,
{
    drive(client, stack, local_port, buffers, commands, app, &mut NoChat).await
}

/// Which input the events of a turn index.
#[derive(Clone, Copy)]
enum Input {
    Nothing,
    Datagram(usize),
    Msrp,
}

/// The run loop of [`run`] and `run_with_chat`, with the chat connection `link`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn drive<
    R,
    M,
    App,
    L,
    const BODY: usize,
    const CMDS: usize,
    const RING: usize,
    const DATAGRAM: usize,
    const META: usize,
    const REQ: usize,
    const OUT: usize,
    const SRV: usize,
    const CHATS: usize,
>(
    client: &mut Client<R, IpEndpoint, REQ, OUT, SRV, CHATS>,
    stack: Stack<'_>,
    local_port: u16,
    buffers: &mut UdpBuffers<RING, DATAGRAM, META>,
    commands: Receiver<'_, M, Command<BODY>, CMDS>,
    app: &mut App,
    link: &mut L,
) -> Result<(), RunError>
where
    R: Rng,
    M: RawMutex,
    App: Application,
    L: ChatLink,
{
    let server = server_endpoint(client.config().server.as_str())?;
    let UdpBuffers {
        rx_meta,
        tx_meta,
        rx_ring,
        tx_ring,
        datagram,
        transmit,
    } = buffers;
    let mut socket = UdpSocket::new(stack, rx_meta, rx_ring, tx_meta, tx_ring);
    socket.bind(local_port).map_err(|_| RunError::Bind)?;
    stack.wait_config_up().await;
    client.register(now()).map_err(RunError::Register)?;
    let mut input = Input::Nothing;
    let mut stopping = false;
    loop {
        while let Some(t) = client.poll_transmit(transmit) {
            let to = match t.dest {
                Destination::Server => server,
                Destination::Peer(peer) => peer,
            };
            if let Err(e) = socket.send_to(transmit.get(..t.len).unwrap_or(&[]), to).await {
                warning!("UDP send of {} bytes failed: {}", t.len, e);
            }
        }
        link.transmit(client).await;
        let mut notes = LinkNotes::default();
        {
            let bytes = match input {
                Input::Nothing => &[][..],
                Input::Datagram(len) => datagram.get(..len).unwrap_or(&[]),
                Input::Msrp => link.input(),
            };
            while let Some(event) = client.poll_event() {
                debug!("client event {}", event);
                notes.observe(&event);
                stopping |= app.on_event(&event, bytes) == Control::Stop;
            }
        }
        if let Input::Msrp = input {
            link.consumed();
        }
        input = Input::Nothing;
        if stopping {
            return Ok(());
        }
        if link.apply(client, notes).await {
            continue; // what the new or lost connection made the client say goes out before waiting
        }
        let deadline = client.poll_timeout().map_or(embassy_time::Instant::MAX, |at| {
            embassy_time::Instant::from_millis(at.as_millis())
        });
        match select4(
            socket.recv_from(datagram),
            Timer::at(deadline),
            commands.receive(),
            link.receive(),
        )
        .await
        {
            Either4::First(Ok((len, meta))) => {
                input = Input::Datagram(len);
                let bytes = datagram.get(..len).unwrap_or(&[]);
                client.handle_datagram(now(), meta.endpoint, bytes);
            }
            Either4::First(Err(e)) => warning!("datagram dropped: {}", e),
            Either4::Second(()) => client.handle_timeout(now()),
            Either4::Third(Command::Stop) => stopping = true,
            Either4::Third(command) => {
                if let Err(e) = apply(client, command) {
                    warning!("command refused: {}", e);
                    stopping |= app.on_command_error(e) == Control::Stop;
                }
            }
            Either4::Fourth(()) => {
                input = Input::Msrp;
                link.feed(client);
            }
        }
    }
}

fn apply<
    R: Rng,
    const BODY: usize,
    const REQ: usize,
    const OUT: usize,
    const SRV: usize,
    const CHATS: usize,
>(
    client: &mut Client<R, IpEndpoint, REQ, OUT, SRV, CHATS>,
    command: Command<BODY>,
) -> Result<(), CommandError> {
    let at = now();
    match command {
        Command::SendPager { to, body, imdn } => {
            let imdn = imdn.as_ref().map(|ask| ImdnRequest {
                date_time: ask.date_time.as_str(),
                display: ask.display,
            });
            client
                .send_pager(at, to.as_str(), PAGER_CONTENT_TYPE, body.as_bytes(), imdn)
                .map(|_handle| ())
        }
        Command::MarkDisplayed(handle) => client.mark_displayed(at, handle),
        Command::AcceptChat(chat) => client.accept_chat(at, chat),
        Command::DeclineChat(chat) => client.decline_chat(at, chat),
        Command::SendChat { chat, text } => client.send_chat(at, chat, text.as_str()),
        Command::CloseChat(chat) => client.close_chat(at, chat),
        Command::InviteChat(to) => client.invite_chat(at, to.as_str()).map(|_chat| ()),
        Command::SetBarring(barred) => client.set_barring(at, barred),
        Command::Unregister => client.unregister(at),
        Command::Stop => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_endpoint_takes_an_ipv4_address_with_port() {
        let endpoint = server_endpoint("10.0.2.2:5060").expect("an address");
        assert_eq!(endpoint.port, 5060);
        assert_eq!(endpoint.addr, IpAddress::v4(10, 0, 2, 2));
        // As `SocketAddrV4` reads it: leading zeros in the port are fine.
        assert_eq!(server_endpoint("192.0.2.1:05061").expect("an address").port, 5061);
        assert_eq!(
            server_endpoint("192.0.2.1:65535").expect("an address").port,
            65535
        );
    }

    #[test]
    fn server_endpoint_refuses_names_missing_ports_and_bad_ports() {
        for bad in [
            "+10.0.2.2:5060",
            "10.0.2.2:+5060",
            "10.0.2.2:-1",
            "10.0.2.2:5060:1",
            "010.0.2.2:5060",
            "im.example.com:5060",
            "10.0.2.2",
            "10.0.2.2:",
            "10.0.2.2:70000",
            "",
            ":5060",
        ] {
            assert_eq!(server_endpoint(bad), Err(RunError::ServerNotAnAddress), "{bad:?}");
        }
    }
}
