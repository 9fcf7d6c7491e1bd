//! The STM32 hardware RNG as the core's source of random bytes.
//!
//! The core asks for randomness through `simple_im_core::rng::Rng` (branch parameters, tags, Call-IDs,
//! digest cnonces), synchronously. The RNG peripheral delivers a 32-bit word about every 40 cycles of
//! its 48 MHz clock, so the blocking read the HAL offers is the right fit: filling a 16-byte tag waits
//! well under a microsecond. The HAL's blocking read also resets the peripheral after a seed or clock
//! error instead of handing out suspect words.

use embassy_stm32::peripherals::RNG;
use embassy_stm32::rng::Rng;

/// The RNG peripheral, lent to the core.
pub struct HardwareRng(pub Rng<'static, RNG>);

impl simple_im_core::rng::Rng for HardwareRng {
    fn fill(&mut self, buf: &mut [u8]) {
        self.0.fill_bytes(buf);
    }
}

impl HardwareRng {
    /// 64 random bits, for the network stack's seed (TCP initial sequence numbers, ephemeral ports).
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
}
