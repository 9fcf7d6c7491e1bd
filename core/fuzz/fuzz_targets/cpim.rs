//! CPIM parser, namespace resolution and typed header access on arbitrary bytes; what parses as a
//! received IM must give a consistent IMDN tracker view.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::{cpim, imdn};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = cpim::Message::parse(data) else {
        return;
    };
    for i in 0..msg.headers().len() {
        let _ = msg.namespace_of(i);
    }
    let _ = (
        msg.from(),
        msg.to().count(),
        msg.cc().count(),
        msg.date_time(),
        msg.subjects().count(),
    );
    let _ = (
        msg.ns_declarations().count(),
        msg.required().count(),
        msg.content_type(),
        msg.body().len(),
    );
    let _ = imdn::Received::from_cpim(&msg);
});
