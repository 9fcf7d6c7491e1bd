//! RFC 5365 URI-list bodies: the multipart splitter over arbitrary bytes and boundaries, and the
//! resource-lists reader with the history writer, whose output must read back as a valid list with no
//! more visible entries than the input had.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::multipart;
use simple_im_core::resource_lists::{entries, write_history, CopyControl};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a boundary length so that delimiters are found in fuzzed bodies.
    if let Some((&n, rest)) = data.split_first() {
        let n = usize::from(n % 8).min(rest.len());
        if let Ok(boundary) = core::str::from_utf8(&rest[..n]) {
            if let Ok(parts) = multipart::parts(&rest[n..], boundary) {
                for part in parts.take(64) {
                    let Ok(part) = part else { break };
                    let _ = (part.media_type(), part.disposition());
                }
            }
        }
    }
    let visible = entries(data)
        .take(4096)
        .map_while(Result::ok)
        .filter(|e| e.copy_control != CopyControl::Bcc)
        .count();
    let mut out = [0u8; 8192];
    // `Ok(0)`: nothing to show (no visible recipient), so no history document at all.
    if let Ok(len @ 1..) = write_history(data, &mut out) {
        let written: Vec<_> = entries(&out[..len]).collect();
        assert!(written.iter().all(Result::is_ok), "a written history reads back");
        assert!(
            written.len() <= visible,
            "a history never shows more than the list"
        );
    }
});
