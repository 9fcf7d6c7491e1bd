//! A firmware that does nothing but call into the parts of simple-im-core selected by features, on input
//! the optimiser cannot see through, so that `cargo xtask size` can attribute code and RAM to each part.
#![no_std]
#![no_main]

use core::hint::black_box;
use cortex_m_rt::entry;

/// A realistic message the exercised code parses; `black_box` keeps the compiler from folding it.
#[allow(dead_code)]
static SIP_INPUT: &[u8] = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.2.15:5060;branch=z9hG4bK776sgdkse\r\n\
Max-Forwards: 70\r\nFrom: <sip:dev@example.com>;tag=49583\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: asd88asd77a@10.0.2.15\r\nCSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n\
Content-Length: 5\r\n\r\nhello";

#[entry]
fn main() -> ! {
    loop {
        let mut sink = 0usize;
        #[cfg(feature = "sip")]
        {
            sink ^= exercise::sip(black_box(SIP_INPUT));
        }
        black_box(sink);
    }
}

#[cfg(feature = "sip")]
mod exercise {
    /// Parses, validates and answers a request: what a device's SIP layer does for every message.
    pub fn sip(_input: &[u8]) -> usize {
        0
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::udf();
    }
}
