//! Randomness as an input.
//!
//! The core never seeds or owns a random number generator: branch parameters, tags and Call-IDs need
//! unpredictable bytes, and where those come from is the runtime's business (a hardware RNG on a device,
//! the OS on a host, a seeded PRNG in the simulation, [`crate::sim::SimRng`]). This trait is the one
//! place the core asks for them. It has the shape of `rand_core::RngCore::fill_bytes`, so a runtime
//! adapts any `rand_core` generator with a three-line impl.

/// A source of random bytes supplied by the caller.
///
/// Implementations used for anything a peer can observe (branches, tags) should be cryptographically
/// strong: RFC 3261 §8.1.1.7 and §19.3 rely on these values being unguessable.
pub trait Rng {
    /// Fills `buf` entirely with random bytes.
    fn fill(&mut self, buf: &mut [u8]);
}

impl<R: Rng + ?Sized> Rng for &mut R {
    fn fill(&mut self, buf: &mut [u8]) {
        (**self).fill(buf)
    }
}

/// Appends `bytes` to `out` as lowercase hex digits, two per byte. Callers size `N` for the digits they
/// append, so a full string only happens by mistake; the digit pairs that do not fit are dropped.
pub(crate) fn push_hex<const N: usize>(out: &mut heapless::String<N>, bytes: &[u8]) {
    for &byte in bytes {
        let pair = crate::write::hex_pair(byte);
        // The digits are ASCII; pushing them as a `str` spares the UTF-8 encoding of `push(char)`.
        let _ = out.push_str(core::str::from_utf8(&pair).unwrap_or("00"));
    }
}
