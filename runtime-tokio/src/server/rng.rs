//! The operating system's random generator behind the core's [`Rng`] trait (branches, tags, nonce
//! secrets, IMDN message ids).

use simple_im_core::rng::Rng;

/// Reads from the OS generator (`getrandom`).
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRng;

impl Rng for OsRng {
    fn fill(&mut self, buf: &mut [u8]) {
        // getrandom fails only on exotic platforms without an entropy source; fall back to a
        // time-seeded mix there rather than panic (these values are identifiers, not keys, except
        // the nonce secret, for which the platform always has a source on supported targets).
        if getrandom::getrandom(buf).is_err() {
            let mut seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0x9e37_79b9_7f4a_7c15);
            for byte in buf.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *byte = seed as u8;
            }
        }
    }
}

/// A fresh random token of `bytes` random bytes in lowercase hex (tags, Call-IDs, message ids).
pub fn token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    OsRng.fill(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh RFC 3261 branch.
pub fn branch() -> String {
    simple_im_core::sip::transaction::generate_branch(&mut OsRng)
        .as_str()
        .to_owned()
}
