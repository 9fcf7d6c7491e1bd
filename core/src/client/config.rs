//! The device configuration: what OMA DM-1 provisioning writes into flash and the client reads at boot.
//!
//! [`ClientConfig`] is plain data with bounded strings, serialised with `postcard` (a compact,
//! varint-based format: a typical configuration takes about 150 bytes). Capacities are the `MAX_*`
//! constants below; a value too long for its field is refused when the configuration is built
//! ([`ConfigError::TooLong`]) and when it is decoded (postcard reports the overflow).

use core::fmt;
use core::time::Duration;

use heapless::String;
use serde::{Deserialize, Serialize};

use crate::sip::transaction::TimerConfig;

/// Longest server address (`host:port`): a 63-character DNS label plus port.
pub const MAX_SERVER_LEN: usize = 64;
/// Longest address-of-record (`sip:user@domain`).
pub const MAX_AOR_LEN: usize = 64;
/// Longest display name.
pub const MAX_DISPLAY_NAME_LEN: usize = 32;
/// Longest authentication user name.
pub const MAX_USERNAME_LEN: usize = 32;
/// Longest password or HA1 (a SHA-256 HA1 is 64 hex digits).
pub const MAX_SECRET_LEN: usize = 64;

/// How the client reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TransportKind {
    /// SIP over UDP: transactions retransmit (timers E, A, G).
    Udp,
    /// SIP over one TCP connection to the server: no retransmissions.
    Tcp,
}

/// The user's secret as provisioned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredSecret {
    /// The clear password.
    Password(String<MAX_SECRET_LEN>),
    /// The precomputed HA1 (hex) for the server's realm and algorithm: the password never sits in flash.
    Ha1(String<MAX_SECRET_LEN>),
}

/// Limits the client enforces on what it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Limits {
    /// Largest pager-mode body accepted (bytes); larger MESSAGEs get 413.
    pub max_pager_size: u16,
    /// Most chat sessions at once (reserved for session mode, see the module docs of `client`).
    pub max_chat_sessions: u8,
}

/// Everything the device needs to act as an OMA IM Client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientConfig {
    /// The SIP server (outbound proxy and registrar) as `host:port`.
    pub server: String<MAX_SERVER_LEN>,
    /// Transport to the server.
    pub transport: TransportKind,
    /// The user's public identity, `sip:user@domain`.
    pub aor: String<MAX_AOR_LEN>,
    /// Display name put in From (may be empty).
    pub display_name: String<MAX_DISPLAY_NAME_LEN>,
    /// Digest user name.
    pub username: String<MAX_USERNAME_LEN>,
    /// Digest secret.
    pub secret: StoredSecret,
    /// Registration lifetime asked for, in seconds.
    pub registration_expiry_s: u32,
    /// SIP timer T1 in milliseconds.
    pub t1_ms: u32,
    /// SIP timer T2 in milliseconds.
    pub t2_ms: u32,
    /// SIP timer T4 in milliseconds.
    pub t4_ms: u32,
    /// Acceptance limits.
    pub limits: Limits,
    /// Incoming IM barring at boot (see `Client::set_barring`).
    pub incoming_im_barred: bool,
}

/// Why a configuration could not be built, encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// A text field is longer than its capacity (named).
    TooLong(&'static str),
    /// The output buffer is too small for the encoded configuration.
    BufferTooSmall,
    /// The bytes are not a postcard-encoded configuration (corrupt flash, or another version).
    Corrupt,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::TooLong(field) => write!(f, "config field {field} exceeds its capacity"),
            ConfigError::BufferTooSmall => f.write_str("buffer too small for the encoded config"),
            ConfigError::Corrupt => {
                f.write_str("stored config is corrupt or from another version; re-provision")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

fn bounded<const N: usize>(field: &'static str, value: &str) -> Result<String<N>, ConfigError> {
    let mut s = String::new();
    s.push_str(value).map_err(|_| ConfigError::TooLong(field))?;
    Ok(s)
}

impl ClientConfig {
    /// A configuration with RFC 3261 timers, one-hour registrations, 1 KiB pagers, barring off.
    pub fn new(
        server: &str,
        transport: TransportKind,
        aor: &str,
        username: &str,
        password: &str,
    ) -> Result<Self, ConfigError> {
        Ok(ClientConfig {
            server: bounded("server", server)?,
            transport,
            aor: bounded("aor", aor)?,
            display_name: String::new(),
            username: bounded("username", username)?,
            secret: StoredSecret::Password(bounded("password", password)?),
            registration_expiry_s: 3600,
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            limits: Limits {
                max_pager_size: 1024,
                max_chat_sessions: 1,
            },
            incoming_im_barred: false,
        })
    }

    /// Sets the display name.
    pub fn with_display_name(mut self, name: &str) -> Result<Self, ConfigError> {
        self.display_name = bounded("display_name", name)?;
        Ok(self)
    }

    /// Replaces the password by a precomputed HA1.
    pub fn with_ha1(mut self, ha1: &str) -> Result<Self, ConfigError> {
        self.secret = StoredSecret::Ha1(bounded("ha1", ha1)?);
        Ok(self)
    }

    /// The SIP timers.
    pub fn timers(&self) -> TimerConfig {
        TimerConfig {
            t1: Duration::from_millis(u64::from(self.t1_ms)),
            t2: Duration::from_millis(u64::from(self.t2_ms)),
            t4: Duration::from_millis(u64::from(self.t4_ms)),
        }
    }

    /// Encodes into `buf` (for flash); returns the used prefix.
    pub fn to_postcard<'b>(&self, buf: &'b mut [u8]) -> Result<&'b mut [u8], ConfigError> {
        postcard::to_slice(self, buf).map_err(|_| ConfigError::BufferTooSmall)
    }

    /// Decodes a configuration written by [`ClientConfig::to_postcard`].
    pub fn from_postcard(bytes: &[u8]) -> Result<Self, ConfigError> {
        postcard::from_bytes(bytes).map_err(|_| ConfigError::Corrupt)
    }
}
