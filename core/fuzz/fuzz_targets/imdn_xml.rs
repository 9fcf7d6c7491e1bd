//! The bounded XML reader to the end of arbitrary input (with entity decoding of every text and
//! attribute), and the IMDN document parser, whose accepted documents must re-emit and re-parse to the
//! same decoded text.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::imdn::Imdn;
use simple_im_core::xml::{self, Event};

fuzz_target!(|data: &[u8]| {
    let mut reader = xml::reader(data);
    let mut scratch = [0u8; 512];
    while let Ok(Some(event)) = reader.next_event() {
        match event {
            Event::Start(start) => {
                for attr in start.attributes() {
                    let _ = attr.decode(&mut scratch);
                }
            }
            Event::Text(text) => {
                let _ = text.decode(&mut scratch);
            }
            _ => {}
        }
    }
    if let Ok(doc) = Imdn::parse(data) {
        let mut out = [0u8; 4096];
        if let Ok(n) = doc.write(&mut out) {
            let again = Imdn::parse(&out[..n]).expect("an emitted IMDN document parses");
            // Decoded values must survive the round trip: escaped text is written verbatim, plain text
            // (CDATA) escaped once.
            let (mut before, mut after) = ([0u8; 4096], [0u8; 4096]);
            assert_eq!(
                again.message_id.decode_into(&mut after),
                doc.message_id.decode_into(&mut before)
            );
            assert_eq!(again, doc);
        }
    }
});
