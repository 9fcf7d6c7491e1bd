//! The demo's random bytes: xorshift64* seeded from the SysTick counter at boot and the MAC address.
//!
//! NOT cryptographic. QEMU's mps2 boards have no entropy source, and the SysTick count at boot
//! varies only with host timing, so the SIP branches, tags and digest cnonces this produces are
//! guessable. It is enough for a demo and for tests (values differ between runs, so two boots do not
//! reuse a Call-ID); a real device must wrap its hardware TRNG in `simple_im_core::rng::Rng` instead.

use simple_im_core::rng::Rng;

/// xorshift64* (Vigna), one 64-bit state word.
pub struct DemoRng(u64);

impl DemoRng {
    /// Mixes the boot-time SysTick value and the MAC into the state (never zero).
    pub fn seeded(systick: u32, mac: [u8; 6]) -> Self {
        let mut mac_word = [0u8; 8];
        mac_word[..6].copy_from_slice(&mac);
        let mixed = (u64::from(systick) << 32 | u64::from(systick)) ^ u64::from_le_bytes(mac_word);
        let mut rng = DemoRng(mixed | 1);
        // Spread the few varying bits over the whole state.
        for _ in 0..8 {
            rng.next();
        }
        rng
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

impl Rng for DemoRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
