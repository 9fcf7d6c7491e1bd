//! The bounded XML reader to the end of arbitrary input (with entity decoding of every text and
//! attribute), and the IMDN document parser, whose accepted documents must re-emit and re-parse equal.
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
            assert_eq!(again.message_id, doc.message_id);
        }
    }
});
