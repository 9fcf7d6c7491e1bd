//! Identifiers drawn from the caller's randomness.
//!
//! The core has no random source of its own: the caller passes one through the crate-wide
//! [`Rng`]. Session-ids carry 100
//! bits (RFC 4975 §14.1 asks for at least 80 bits of randomness), written in lowercase base-32, which is
//! valid in a URI path and in an `ident`.

use crate::rng::Rng;

/// Characters in a session-id: 20 base-32 characters carry 100 random bits.
pub const SESSION_ID_LEN: usize = 20;

/// A generated session-id.
pub type SessionId = heapless::String<SESSION_ID_LEN>;

const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Writes `out.len()` base-32 characters of fresh randomness into `out` (5 random bits each).
pub fn fill_base32(source: &mut impl Rng, out: &mut [u8]) {
    let mut random = [0u8; 64];
    for piece in out.chunks_mut(random.len()) {
        let r = random.get_mut(..piece.len()).unwrap_or(&mut []);
        source.fill(r);
        for (dst, byte) in piece.iter_mut().zip(r.iter()) {
            *dst = BASE32[usize::from(*byte & 31)];
        }
    }
}

/// A fresh session-id of [`SESSION_ID_LEN`] characters.
pub fn generate_session_id(source: &mut impl Rng) -> SessionId {
    let mut chars = [0u8; SESSION_ID_LEN];
    fill_base32(source, &mut chars);
    let mut id = SessionId::new();
    for c in chars {
        // Capacity equals the character count, so pushing cannot fail.
        let _ = id.push(char::from(c));
    }
    id
}
