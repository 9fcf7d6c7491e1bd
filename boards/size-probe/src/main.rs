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

/// An MSRP SEND carrying a CPIM message that asks for a delivery notification.
#[allow(dead_code)]
static CHAT_INPUT: &[u8] = b"MSRP a786hjs2 SEND\r\n\
To-Path: msrp://10.0.2.15:7777/iau39soe2843z;tcp\r\n\
From-Path: msrp://10.0.2.2:8888/9di4eae923wzd;tcp\r\n\
Message-ID: 87652491\r\nByte-Range: 1-*/*\r\nContent-Type: message/cpim\r\n\r\n\
From: <sip:bob@example.com>\r\nTo: <sip:dev@example.com>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
imdn.Message-ID: 34jk324j\r\nDateTime: 2026-11-24T10:00:00Z\r\n\
imdn.Disposition-Notification: positive-delivery\r\n\r\n\
Content-Type: text/plain\r\n\r\nhello\r\n-------a786hjs2$\r\n";

#[entry]
fn main() -> ! {
    loop {
        #[allow(unused_mut)]
        let mut sink = 0usize;
        #[allow(unused_mut, unused_variables)]
        let mut rng = CounterRng(black_box(7));
        #[cfg(feature = "sip")]
        {
            sink ^= sip::exercise(black_box(SIP_INPUT), &mut rng);
        }
        #[cfg(feature = "messaging")]
        {
            sink ^= messaging::exercise(black_box(CHAT_INPUT), &mut rng);
        }
        black_box(sink);
    }
}

#[cfg(feature = "sip")]
mod sip {
    use simple_im_core::rng::Rng;
    use simple_im_core::sip::auth::{
        select_challenge, ChallengePreference, DigestClient, DigestRequest, Secret,
    };
    use simple_im_core::sip::transaction::{ClientNonInvite, Output, Reliability, TimerConfig};
    use simple_im_core::sip::{check, response_to, Header, Message, ParseConfig};
    use simple_im_core::time::Instant;

    /// What a device's SIP layer does: parse and validate a request, answer it, run a client
    /// transaction to completion, and answer a digest challenge.
    pub fn exercise(input: &[u8], rng: &mut impl Rng) -> usize {
        let mut slots = [Header::EMPTY; 24];
        let Ok(msg) = Message::parse_datagram(input, &mut slots, &ParseConfig::default()) else {
            return 1;
        };
        if check(&msg).is_err() {
            return 2;
        }
        let mut out = [0u8; 512];
        let Ok(writer) = response_to(&msg, 200, "OK", Some("a6c85cf"), &mut out) else {
            return 3;
        };
        let Ok(len) = writer.finish(b"") else { return 4 };

        let mut tx = ClientNonInvite::new(
            Instant::ZERO,
            TimerConfig::default(),
            Reliability::Unreliable,
            &out[..len],
        );
        tx.handle_response(Instant::from_millis(10), 200);
        let mut sent = 0;
        while let Some(output) = tx.poll_output() {
            if let Output::Transmit(bytes) = output {
                sent += bytes.len();
            }
        }

        let challenge = "Digest realm=\"example.com\", nonce=\"abc\", qop=\"auth\", algorithm=SHA-256";
        let Some(challenge) =
            select_challenge([core::hint::black_box(challenge)], ChallengePreference::Strongest)
        else {
            return 5;
        };
        let request = DigestRequest {
            method: "REGISTER",
            uri: "sip:example.com",
            body: b"",
        };
        let mut client = DigestClient::new();
        let Ok(answer) = client.respond(&challenge, "dev", Secret::Password("pw"), &request, rng) else {
            return 6;
        };
        let mut auth = [0u8; 384];
        sent + answer.emit(&mut auth).unwrap_or(0)
    }
}

#[cfg(feature = "messaging")]
mod messaging {
    use simple_im_core::cpim;
    use simple_im_core::imdn::{NotificationKind, Received, Status};
    use simple_im_core::msrp::wire::{ChunkEvent, ChunkReader};
    use simple_im_core::rng::Rng;

    /// What a device's messaging layer does with a chat message: read an MSRP chunk as a stream,
    /// parse the CPIM inside, and build the delivery notification it asks for.
    pub fn exercise(input: &[u8], rng: &mut impl Rng) -> usize {
        let mut reader: ChunkReader<512> = ChunkReader::new();
        let mut body = [0u8; 1024];
        let (mut pos, mut body_len) = (0, 0);
        while pos < input.len() {
            let Ok((used, event)) = reader.feed(&input[pos..]) else {
                return 1;
            };
            pos += used;
            match event {
                Some(ChunkEvent::Body(bytes)) => {
                    let Some(dst) = body.get_mut(body_len..body_len + bytes.len()) else {
                        return 2;
                    };
                    dst.copy_from_slice(bytes);
                    body_len += bytes.len();
                }
                Some(ChunkEvent::End(_)) | None => break,
                Some(ChunkEvent::Head) => {}
            }
        }
        let Ok(msg) = cpim::Message::parse(&body[..body_len]) else {
            return 3;
        };
        let Ok(Some(received)) = Received::from_cpim(&msg) else {
            return 4;
        };
        let mut out = [0u8; 1024];
        received
            .build_notification(NotificationKind::Delivery, Status::Delivered, None, rng, &mut out)
            .unwrap_or(5)
    }
}

/// The firmware's randomness: a counter is enough to link the code being measured.
#[allow(dead_code)]
struct CounterRng(u8);

impl simple_im_core::rng::Rng for CounterRng {
    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            self.0 = self.0.wrapping_add(1);
            *b = self.0;
        }
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::udf();
    }
}
