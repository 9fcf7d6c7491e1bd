//! The IM client demo: a device that registers, reports every event, "shows" every message it gets
//! (delivery and display notifications), greets a peer, and ends its run on a pager saying `EXIT`.
//!
//! Settings come from the semihosting command line as `key=value` words, so the host harness can
//! point each run at its own server and ports without rebuilding. When a client configuration was
//! provisioned into flash (`provisioning.rs`), it replaces `server`, `aor`, `user` and `password`:
//!
//! | key | meaning | default |
//! |---|---|---|
//! | `ready-port` | host UDP port that gets the READY datagram | 15062 |
//! | `server` | SIP server, an IPv4 address with port | `10.0.2.2:5060` |
//! | `contact` | `host:port` the server reaches the device at (Via and Contact) | `127.0.0.1:15060` (`run-qemu.sh`'s forward) |
//! | `aor`, `user`, `password` | identity and digest credentials | `sip:device@localhost`, `device`, `device` |
//! | `peer` | who gets "hello from device" after the first registration | none |
//!
//! Under QEMU user networking the host reaches the guest only through a host forward, so the harness
//! passes `contact=127.0.0.1:<forwarded port>`: the server then sends its requests (a MESSAGE to the
//! device) to that forward, whatever NAT binding the device's own datagrams got.
//!
//! Event lines (`info` level, parsed by the harness `tests/src/hil.rs`): `EVENT registered
//! expires=N`, `EVENT registration-failed status=N`, `EVENT pager-received from=F body=B`, `EVENT
//! pager-sent`, `EVENT pager-failed status=N`, `EVENT delivery-notification`, `EVENT
//! display-notification`, `EVENT rejected status=N`, `EVENT other`.
//!
//! A pager `EXIT` ends the run with success, `PANIC` panics (the harness checks that a failing
//! firmware ends QEMU with status 1).
//!
//! With the `chat` feature the client has one chat slot and `simple-im-embassy::run_with_chat` drives
//! its MSRP connection: the demo accepts every invitation, a pager `CHAT` makes it invite the sender,
//! every chat message gets the reply `chat received`, and chat events are logged as `EVENT chat-invitation`, `EVENT chat-established`, `EVENT chat-body
//! text=T`, `EVENT chat-closed status=N`. The hardware-in-loop tests `chat_over_msrp_*` run this variant.

use crate::rng::DemoRng;
use crate::semihosting;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{IpEndpoint, Ipv4Address, Stack};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use heapless::String;
use simple_im_core::client::{ClientConfig, ClientEvent, TransportKind};
use simple_im_embassy::{Command, Control, UdpBuffers};
use static_cell::StaticCell;

/// The firmware's own address (QEMU user networking's default guest address).
pub const DEVICE_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
/// The only peer the firmware talks to: QEMU's gateway, which is the host's loopback.
pub const HOST_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
/// The SIP port the device listens on (forwarded from the host by QEMU).
pub const SIP_PORT: u16 = 5060;
/// Host port that receives the READY datagram unless the command line names another.
pub const DEFAULT_READY_PORT: u16 = 15062;
/// Sockets the demo opens: READY's UDP socket (closed before the client's opens), the client's, and
/// with the `chat` feature the MSRP connection's TCP socket.
pub const DEMO_SOCKETS: usize = 1 + cfg!(feature = "chat") as usize;
/// Largest pager text the demo sends (the greeting).
const BODY: usize = 64;
const READY: &[u8] = b"READY 10.0.2.15";
const GREETING: &str = "hello from device";
/// What the demo answers to every chat message (feature `chat`).
const CHAT_REPLY: &str = "chat received";

type Settings = String<64>;

/// The demo's settings, read once at boot from the semihosting command line.
pub struct DemoConfig {
    pub ready_port: u16,
    pub client: ClientConfig,
    pub contact: Settings,
    pub peer: Option<Settings>,
}

/// Reads `key=value` words from the semihosting command line (defaults in the module docs); the
/// client configuration (server, identity, secret) comes from flash when one was provisioned there.
pub fn config() -> Option<DemoConfig> {
    let mut buf = [0u8; 384];
    let line = semihosting::command_line(&mut buf).unwrap_or("");
    let word = |key: &str| {
        line.split_ascii_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
    };
    let ready_port = word("ready-port")
        .and_then(|p| p.parse().ok())
        .unwrap_or(DEFAULT_READY_PORT);
    let server = word("server").unwrap_or("10.0.2.2:5060");
    let aor = word("aor").unwrap_or("sip:device@localhost");
    let user = word("user").unwrap_or("device");
    let password = word("password").unwrap_or("device");
    let client = match crate::provisioning::read() {
        Some(Ok(config)) => {
            defmt::info!(
                "client configuration provisioned in flash: {=str}",
                config.aor.as_str()
            );
            Ok(config)
        }
        Some(Err(e)) => Err(e),
        None => ClientConfig::new(server, TransportKind::Udp, aor, user, password),
    };
    let client = match client {
        Ok(config) => config,
        Err(e) => {
            defmt::error!("bad client configuration: {}", e);
            return None;
        }
    };
    let setting = |value: &str| {
        let mut s = Settings::new();
        s.push_str(value).ok().map(|()| s)
    };
    Some(DemoConfig {
        ready_port,
        client,
        contact: setting(word("contact").unwrap_or("127.0.0.1:15060"))?,
        peer: word("peer").and_then(setting),
    })
}

/// Commands to the running client: the event callback posts display notifications here.
static COMMANDS: Channel<CriticalSectionRawMutex, Command<BODY>, 4> = Channel::new();

/// Socket ring of 3 KiB per direction, datagrams up to 1500 bytes, 4 queued each way.
type Buffers = UdpBuffers<3072, 1500, 4>;

/// The pager client, or with the `chat` feature the client with one chat slot.
#[cfg(not(feature = "chat"))]
type ImClient = simple_im_core::client::PagerClient<DemoRng, IpEndpoint>;
#[cfg(feature = "chat")]
type ImClient = simple_im_core::client::Client<DemoRng, IpEndpoint>;

/// The MSRP connection's buffers: 2 KiB TCP rings, 2 KiB chunk buffers.
#[cfg(feature = "chat")]
static IM_MSRP_BUFFERS: StaticCell<simple_im_embassy::MsrpBuffers<2048, 2048>> = StaticCell::new();

/// The client and its socket buffers live in statics of their own (not in the task's future), so
/// `cargo xtask size` can charge their RAM to simple-im by name (`IM_CLIENT`, `IM_BUFFERS`).
static IM_CLIENT: StaticCell<ImClient> = StaticCell::new();
static IM_BUFFERS: StaticCell<Buffers> = StaticCell::new();

#[embassy_executor::task]
pub async fn im_client(stack: Stack<'static>, demo: DemoConfig, rng: DemoRng) {
    stack.wait_config_up().await;
    send_ready(stack, demo.ready_port).await;

    let client = IM_CLIENT.init(ImClient::new(demo.client, simple_im_embassy::now(), rng));
    if let Err(e) = client.set_local_address(demo.contact.as_str()) {
        defmt::error!("contact {=str} unusable: {}", demo.contact.as_str(), e);
        semihosting::exit_failure();
    }
    let mut greeted = demo.peer.is_none();
    let peer = demo.peer.unwrap_or_default();
    let mut on_event = |event: &ClientEvent, input: &[u8]| {
        report(event, input);
        match *event {
            ClientEvent::Registered { .. } if !greeted => {
                greeted = true;
                let mut to = String::new();
                let mut body = String::new();
                if to.push_str(&peer).is_ok() && body.push_str(GREETING).is_ok() {
                    let _ = COMMANDS.try_send(Command::SendPager { to, body, imdn: None });
                }
            }
            // A demo device takes every chat it is invited to, and invites whoever pages it `CHAT`.
            ClientEvent::ChatInvitation { chat, .. } => {
                let _ = COMMANDS.try_send(Command::AcceptChat(chat));
            }
            // ... and answers every chat message it receives.
            ClientEvent::ChatMessageEnd { chat, len } if len > 0 => {
                let mut text = String::new();
                if text.push_str(CHAT_REPLY).is_ok() {
                    let _ = COMMANDS.try_send(Command::SendChat { chat, text });
                }
            }
            ClientEvent::PagerReceived {
                from,
                body,
                display_handle,
                ..
            } => {
                match body.of(input) {
                    b"EXIT" => return Control::Stop,
                    b"PANIC" => panic!("PANIC requested by a pager"),
                    b"CHAT" => {
                        let mut to = String::new();
                        let uri = from.str_of(input).trim_start_matches('<');
                        let uri = uri.split(['>', ';']).next().unwrap_or("");
                        if to.push_str(uri).is_ok() {
                            let _ = COMMANDS.try_send(Command::InviteChat(to));
                        }
                    }
                    _ => {}
                }
                // A demo device "shows" every message at once.
                if let Some(handle) = display_handle {
                    if COMMANDS.try_send(Command::MarkDisplayed(handle)).is_err() {
                        defmt::warn!("command queue full: display notification not sent");
                    }
                }
            }
            _ => {}
        }
        Control::Continue
    };
    let buffers = IM_BUFFERS.init(Buffers::new());
    #[cfg(not(feature = "chat"))]
    let result = simple_im_embassy::run(
        client,
        stack,
        SIP_PORT,
        buffers,
        COMMANDS.receiver(),
        &mut on_event,
    )
    .await;
    #[cfg(feature = "chat")]
    let result = simple_im_embassy::run_with_chat(
        client,
        stack,
        SIP_PORT,
        buffers,
        IM_MSRP_BUFFERS.init(simple_im_embassy::MsrpBuffers::new()),
        COMMANDS.receiver(),
        &mut on_event,
    )
    .await;
    match result {
        Ok(()) => {
            defmt::info!("EXIT received: success");
            // Let the 200 to the EXIT pager leave before QEMU ends.
            embassy_time::Timer::after_millis(50).await;
            semihosting::exit_success();
        }
        Err(e) => {
            defmt::error!("client stopped: {}", e);
            semihosting::exit_failure();
        }
    }
}

/// Tells the host harness the device is up (from the SIP port, as a SIP device's first datagram
/// would be); the socket is closed again before the client binds the port.
async fn send_ready(stack: Stack<'static>, ready_port: u16) {
    let (mut rx_meta, mut tx_meta) = ([PacketMetadata::EMPTY; 1], [PacketMetadata::EMPTY; 1]);
    let (mut rx_buf, mut tx_buf) = ([0u8; 16], [0u8; 32]);
    let mut socket = UdpSocket::new(stack, &mut rx_meta, &mut rx_buf, &mut tx_meta, &mut tx_buf);
    if let Err(e) = socket.bind(SIP_PORT) {
        defmt::error!("UDP bind {=u16}: {}", SIP_PORT, e);
        semihosting::exit_failure();
    }
    let host = IpEndpoint::new(HOST_IP.into(), ready_port);
    if let Err(e) = socket.send_to(READY, host).await {
        defmt::error!("READY to port {=u16} not sent: {}", ready_port, e);
        semihosting::exit_failure();
    }
    socket.flush().await;
    defmt::info!("READY sent to host port {=u16}", ready_port);
}

/// One `EVENT ...` line per client event, in the format the harness parses.
fn report(event: &ClientEvent, input: &[u8]) {
    match *event {
        ClientEvent::Registered { expires } => defmt::info!("EVENT registered expires={=u32}", expires),
        ClientEvent::RegistrationFailed { status } => {
            defmt::info!("EVENT registration-failed status={=u16}", status)
        }
        ClientEvent::PagerReceived { from, body, .. } => defmt::info!(
            "EVENT pager-received from={=str} body={=str}",
            from.str_of(input),
            body.str_of(input)
        ),
        ClientEvent::PagerSent { .. } => defmt::info!("EVENT pager-sent"),
        ClientEvent::PagerFailed { status, .. } => defmt::info!("EVENT pager-failed status={=u16}", status),
        ClientEvent::DeliveryNotification { .. } => defmt::info!("EVENT delivery-notification"),
        ClientEvent::DisplayNotification { .. } => defmt::info!("EVENT display-notification"),
        ClientEvent::Rejected { status } => defmt::info!("EVENT rejected status={=u16}", status),
        ClientEvent::ChatInvitation { .. } => defmt::info!("EVENT chat-invitation"),
        ClientEvent::ChatEstablished { .. } => defmt::info!("EVENT chat-established"),
        ClientEvent::ChatBody { body, .. } => defmt::info!("EVENT chat-body text={=str}", body.str_of(input)),
        ClientEvent::ChatClosed { status, .. } => defmt::info!("EVENT chat-closed status={=u16}", status),
        _ => defmt::info!("EVENT other"),
    }
}
