//! The stream framer on arbitrary bytes: a complete frame lies within the input, and feeding the same
//! bytes one prefix at a time never reports a frame the whole input does not also report.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::sip::{frame, Framed};

fuzz_target!(|data: &[u8]| {
    let whole = frame(data);
    if let Ok(Framed::Complete(n) | Framed::KeepAlive(n)) = whole {
        assert!(n <= data.len() && n > 0);
    }
    for cut in 0..data.len().min(256) {
        if let Ok(Framed::Complete(n)) = frame(&data[..cut]) {
            assert_eq!(
                whole,
                Ok(Framed::Complete(n)),
                "a frame found in a prefix is found in the whole"
            );
        }
    }
});
