//! URI parsing, escaping-aware comparison and header pairs on arbitrary text: a URI is equivalent to
//! itself, and comparison never panics on any pair.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::sip::uri::{unescape, Uri};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let (left, right) = text.split_at(
        text.char_indices()
            .nth(text.chars().count() / 2)
            .map_or(0, |(i, _)| i),
    );
    let _ = unescape(text).count();
    let a = Uri::parse(left);
    let b = Uri::parse(right);
    if let Ok(a) = &a {
        assert!(a.equivalent(a), "a URI is equivalent to itself");
        if let Some(sip) = a.as_sip() {
            let _ = sip.header_pairs().count();
        }
    }
    if let (Ok(a), Ok(b)) = (&a, &b) {
        assert_eq!(a.equivalent(b), b.equivalent(a), "equivalence is symmetric");
    }
});
