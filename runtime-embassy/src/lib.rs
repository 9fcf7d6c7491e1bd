//! # simple-im-embassy
//!
//! Runs the OMA IM Client of `simple-im-core` on an Embassy device: SIP over one embassy-net UDP
//! socket, timers on embassy-time, commands from an `embassy-sync` channel, events to a callback.
//! No allocator: the socket buffers are a [`UdpBuffers`] whose sizes are const generics, the client's
//! capacities are its own const generics, and the command channel's depth and text size are the
//! application's too.
//!
//! ## Adding the client to an Embassy application
//!
//! ```ignore
//! static COMMANDS: Channel<CriticalSectionRawMutex, Command<256>, 4> = Channel::new();
//!
//! #[embassy_executor::task]
//! async fn im(stack: embassy_net::Stack<'static>, rng: MyTrng /* impl simple_im_core::rng::Rng */) {
//!     let config = ClientConfig::from_postcard(PROVISIONED_CONFIG).unwrap(); // server "a.b.c.d:5060", AoR, secret
//!     let mut client: PagerClient<_, _> = PagerClient::new(config, simple_im_embassy::now(), rng);
//!     client.set_local_address("192.0.2.10:5060").unwrap(); // where the server reaches this device
//!     let mut buffers = UdpBuffers::<3072, 1500, 4>::new(); // socket ring, largest datagram, queue depth
//!     let mut on_event = |event: &ClientEvent, input: &[u8]| {
//!         if let ClientEvent::PagerReceived { body, .. } = event { display(body.str_of(input)); }
//!         Control::Continue
//!     };
//!     let _ = simple_im_embassy::run(&mut client, stack, 5060, &mut buffers, COMMANDS.receiver(), &mut on_event).await;
//! }
//! // Anywhere else: COMMANDS.send(Command::SendPager { to, body, imdn: None }).await;
//! ```
//!
//! [`run`] registers (digest), refreshes the registration, answers incoming MESSAGEs (delivery
//! notifications on its own; [`Command::MarkDisplayed`] once the user has seen one) and returns on
//! [`Command::Stop`] or [`Control::Stop`]. It needs one UDP socket in the stack's `StackResources`.
//! `boards/qemu-mps2-an385/src/demo.rs` is a complete application, tested against the server under
//! QEMU.
//!
//! ## Memory
//!
//! Everything lives where the application puts it: the client (`PagerClient` is about 10.5 KiB on
//! Cortex-M), the [`UdpBuffers`] (`2 * RING + 2 * DATAGRAM` bytes plus the packet metadata) and
//! the future of the task calling [`run`] (the run loop's own state is a few words).
//!
//! The RNG is any `simple_im_core::rng::Rng` (wrap the chip's TRNG): branches, tags and digest
//! cnonces come from it, so it should be unpredictable on a real device.
//!
//! ## Chats (feature `chat`)
//!
//! `run_with_chat` is [`run`] plus one embassy-net TCP connection for the chat that reports
//! `ChatConnect`: it connects to `Client::chat_peer_address` (or accepts on `MSRP_PORT` when the
//! device is the passive side), feeds what arrives to `handle_msrp`, writes what
//! `poll_msrp_transmit` returns, and reports a failed or closed connection with
//! `msrp_connection_lost` (state table in the `msrp` module). One chat connection at a time; its
//! buffers are a `MsrpBuffers`. The feature enables TCP in embassy-net (about 11 KB of code), so a
//! pager-only firmware leaves it off. The QEMU board's `chat` feature uses it; the hardware-in-loop
//! tests `chat_over_msrp_*` chat with a host user through the server, with either side inviting.
//!
//! ## What it does not do (yet)
//!
//! SIP over TCP is not driven (the client supports it; the runner opens only the UDP socket).
#![no_std]
#![forbid(unsafe_code)]

mod chat_link;
mod command;
mod log;
#[cfg(feature = "chat")]
mod msrp;
mod runner;

use core::fmt;

pub use command::{Command, Control, ImdnAsk, MAX_DATE_TIME_LEN};
#[cfg(feature = "chat")]
pub use msrp::{run_with_chat, MsrpBuffers, MSRP_PORT};
pub use runner::{now, run, server_endpoint, Application, UdpBuffers, PAGER_CONTENT_TYPE};

use simple_im_core::client::CommandError;

/// Why [`run`] could not start or went on no longer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RunError {
    /// The configured server is not `a.b.c.d:port` (the runner does no DNS).
    ServerNotAnAddress,
    /// The UDP port could not be bound (in use, or no free socket in the stack's resources).
    Bind,
    /// The first REGISTER could not be built (AoR or local address too long for the request buffer).
    Register(CommandError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::ServerNotAnAddress => f.write_str(
                "the configured server must be an IPv4 address with a port (no DNS on the device)",
            ),
            RunError::Bind => {
                f.write_str("cannot bind the SIP UDP port: in use, or StackResources has no free socket")
            }
            RunError::Register(e) => write!(f, "cannot build the REGISTER: {e}"),
        }
    }
}

impl core::error::Error for RunError {}
