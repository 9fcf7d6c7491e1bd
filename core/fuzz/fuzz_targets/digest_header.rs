//! Digest challenge and credentials headers on arbitrary text: whatever parses emits, and the emitted
//! form parses back equal; a server verifying parsed credentials never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use simple_im_core::sip::auth::{
    AuthParams, Challenge, Credentials, DigestRequest, DigestServer, ServerConfig,
};
use simple_im_core::time::Instant;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = core::str::from_utf8(data) else {
        return;
    };
    let mut buf = [0u8; 8192];
    if let Ok(challenge) = Challenge::parse(text) {
        if let Ok(len) = challenge.emit(&mut buf) {
            let emitted = core::str::from_utf8(&buf[..len]).expect("emitted headers are UTF-8");
            assert_eq!(Challenge::parse(emitted), Ok(challenge));
        }
    }
    if let Ok(credentials) = Credentials::parse(text) {
        if let Ok(len) = credentials.emit(&mut buf) {
            let emitted = core::str::from_utf8(&buf[..len]).expect("emitted headers are UTF-8");
            assert_eq!(Credentials::parse(emitted), Ok(credentials.clone()));
        }
        if let Credentials::Digest(creds) = &credentials {
            let mut server: DigestServer =
                DigestServer::new("example.com", [7; 32], ServerConfig::default()).expect("valid setup");
            let request = DigestRequest {
                method: "REGISTER",
                uri: "sip:example.com",
                body: b"",
            };
            let _ = server.verify(
                creds,
                &request,
                "00112233445566778899aabbccddeeff",
                Instant::from_millis(1),
            );
        }
    }
    for _ in AuthParams::new(text) {}
});
