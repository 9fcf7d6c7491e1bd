//! What this device talks to, as compile-time constants. Edit them before flashing.
//!
//! ## Provisioning instead of constants
//!
//! A product does not rebuild its firmware per user. The IM client's configuration is
//! `simple_im_core::client::ClientConfig` (server `host:port`, transport, AoR, credentials, timers,
//! limits), which serialises with `postcard` to about 150 bytes. A provisioning step (the OMA DM-1
//! role: a factory tool, a serial console command, a management server) writes
//! `ClientConfig::to_postcard` into a reserved flash sector; at boot the firmware reads that sector
//! with `embassy_stm32::flash::Flash::blocking_read` and decodes it with
//! `ClientConfig::from_postcard(bytes)`. A blank or corrupt sector decodes to
//! `ConfigError::Corrupt`, and the firmware then falls back to the constants below (or refuses to
//! start, if shipping without a provisioned identity is unacceptable). The STM32F767's last 256 KiB
//! sector (0x081C_0000) is a natural home: nothing else in this firmware gets near it.

/// How the board gets its IPv4 address.
pub enum Addressing {
    /// Ask the network's DHCP server (the usual office or lab LAN).
    Dhcp,
    /// A fixed address, for a bench network without DHCP.
    #[allow(dead_code, reason = "selected by editing ADDRESSING")]
    Static {
        /// The board's address.
        address: [u8; 4],
        /// Network prefix length (24 for a 255.255.255.0 mask).
        prefix_len: u8,
        /// The router, if the SIP server is on another subnet.
        gateway: Option<[u8; 4]>,
    },
}

/// DHCP by default; replace with `Addressing::Static { .. }` on a network without a DHCP server.
pub const ADDRESSING: Addressing = Addressing::Dhcp;

/// The SIP server: an IPv4 address and UDP port (no DNS on the device).
pub const SERVER: &str = "192.168.1.10:5060";
/// The device's public identity (address-of-record).
pub const AOR: &str = "sip:device@example.com";
/// The digest user name (a product provisions the credentials, see above).
pub const USER: &str = "device";
/// The digest password.
pub const PASSWORD: &str = "device";
/// Local UDP port for SIP.
pub const LOCAL_SIP_PORT: u16 = 5060;
/// Who gets [`GREETING`] after the first registration (`None`: nobody).
pub const PEER: Option<&str> = None;
/// The pager sent to [`PEER`].
pub const GREETING: &str = "hello from a Nucleo-F767ZI";
