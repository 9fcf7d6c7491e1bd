//! The client configuration provisioned into flash (the OMA DM-1 provisioning role): a 4 KiB region
//! at the end of code memory (`memory.x`), written by the provisioning step, read once at boot.
//!
//! Layout: the magic `SIMC`, the length of what follows as a little-endian u16, then the
//! `ClientConfig` encoded with postcard (`ClientConfig::to_postcard`). Erased flash (all 0xFF) or
//! QEMU's untouched memory (all zero) has no magic, and the firmware falls back to its command-line
//! settings. A blob with the magic that does not decode is an error (corrupt or from another
//! version): the device should be re-provisioned rather than run with defaults.

use simple_im_core::client::{ClientConfig, ConfigError};

/// Where the blob starts (`PROVISIONING` in `memory.x`).
pub const ADDRESS: usize = 0x003F_F000;
/// The region's size.
pub const SIZE: usize = 4096;
/// The blob's first bytes.
pub const MAGIC: &[u8; 4] = b"SIMC";

/// The provisioned configuration: None when the region holds no blob.
pub fn read() -> Option<Result<ClientConfig, ConfigError>> {
    // SAFETY: ADDRESS..ADDRESS+SIZE is code memory on mps2-an385/an386 reserved for this blob by
    // memory.x (nothing else is linked there); it is always mapped and readable, and only read here.
    let region: &'static [u8] = unsafe { core::slice::from_raw_parts(ADDRESS as *const u8, SIZE) };
    let rest = region.strip_prefix(MAGIC)?;
    let (len, body) = rest.split_at_checked(2)?;
    let len = usize::from(u16::from_le_bytes([len[0], len[1]]));
    Some(match body.get(..len) {
        Some(encoded) => ClientConfig::from_postcard(encoded),
        None => Err(ConfigError::Corrupt),
    })
}
