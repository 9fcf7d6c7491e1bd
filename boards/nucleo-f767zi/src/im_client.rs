//! The IM client on the board: registers with digest authentication, keeps the registration fresh,
//! answers every incoming MESSAGE (delivery notification on its own, display notification once the
//! message is "shown", here at once: the board logs it), and greets [`PEER`](crate::config::PEER)
//! after the first registration. All of it is `simple-im-embassy`; this module only builds the
//! configuration, learns the board's address, and logs events.
//!
//! The same application runs under QEMU (`boards/qemu-mps2-an385/src/demo.rs`), where the
//! hardware-in-loop tests check it against the server; this one differs only in where its settings
//! and randomness come from (compile-time constants, the RNG peripheral).

use core::fmt::Write as _;

use embassy_net::{IpEndpoint, Stack};
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_sync::channel::Channel;
use heapless::String;
use simple_im_core::client::{ClientConfig, ClientEvent, PagerClient, TransportKind};
use simple_im_embassy::{Command, Control, UdpBuffers};
use static_cell::StaticCell;

use crate::config::{AOR, GREETING, LOCAL_SIP_PORT, PASSWORD, PEER, SERVER, USER};
use crate::hw_rng::HardwareRng;

/// Longest pager text a command carries (the greeting).
const BODY: usize = 64;

/// Commands to the running client: display notifications, the greeting.
static COMMANDS: Channel<CriticalSectionRawMutex, Command<BODY>, 4> = Channel::new();

/// Socket ring of 3 KiB per direction, datagrams up to 1500 bytes, 4 queued each way.
type Buffers = UdpBuffers<3072, 1500, 4>;

/// The client and its buffers in named statics (`cargo xtask size` charges them to simple-im).
static IM_CLIENT: StaticCell<PagerClient<HardwareRng, IpEndpoint>> = StaticCell::new();
static IM_BUFFERS: StaticCell<Buffers> = StaticCell::new();

#[embassy_executor::task]
pub async fn im_client(stack: Stack<'static>, rng: HardwareRng) {
    let config = match ClientConfig::new(SERVER, TransportKind::Udp, AOR, USER, PASSWORD) {
        Ok(config) => config,
        Err(e) => return defmt::error!("client configuration refused: {}", e),
    };
    // The server sends its requests to the address in Contact: the one DHCP gave us.
    stack.wait_config_up().await;
    let Some(v4) = stack.config_v4() else {
        return defmt::error!("no IPv4 configuration");
    };
    let mut local: String<24> = String::new();
    let _ = write!(local, "{}:{}", v4.address.address(), LOCAL_SIP_PORT);
    defmt::info!("network up: {=str}", local.as_str());

    let client = IM_CLIENT.init(PagerClient::new(config, simple_im_embassy::now(), rng));
    if let Err(e) = client.set_local_address(local.as_str()) {
        return defmt::error!("local address {=str} unusable: {}", local.as_str(), e);
    }
    let mut greeted = PEER.is_none();
    let mut on_event = |event: &ClientEvent, input: &[u8]| {
        match *event {
            ClientEvent::Registered { expires } => {
                defmt::info!("registered for {=u32} s", expires);
                if let (false, Some(peer)) = (greeted, PEER) {
                    greeted = true;
                    let (mut to, mut body) = (String::new(), String::new());
                    if to.push_str(peer).is_ok() && body.push_str(GREETING).is_ok() {
                        let _ = COMMANDS.try_send(Command::SendPager { to, body, imdn: None });
                    }
                }
            }
            ClientEvent::PagerReceived {
                from,
                body,
                display_handle,
                ..
            } => {
                defmt::info!(
                    "message from {=str}: {=str}",
                    from.str_of(input),
                    body.str_of(input)
                );
                // Logged is shown: tell the sender it was displayed, when they asked.
                if let Some(handle) = display_handle {
                    if COMMANDS.try_send(Command::MarkDisplayed(handle)).is_err() {
                        defmt::warn!("command queue full: display notification not sent");
                    }
                }
            }
            ref other => defmt::info!("client event {}", other),
        }
        Control::Continue
    };
    let buffers = IM_BUFFERS.init(Buffers::new());
    let result = simple_im_embassy::run(
        client,
        stack,
        LOCAL_SIP_PORT,
        buffers,
        COMMANDS.receiver(),
        &mut on_event,
    )
    .await;
    if let Err(e) = result {
        defmt::error!("IM client stopped: {}", e);
    }
}
