//! tshark as a wire check of simple-im's traffic with real peers (issue 4 acceptance): SIPp
//! REGISTER + MESSAGE and the pjsua2 exchange, captured on `lo` for the test's ports only, must
//! decode with no malformed packet and no error-level expert item.

use simple_im_tests::peers::pjsua::run_exchange;
use simple_im_tests::peers::server::start_with_users;
use simple_im_tests::peers::sipp::flows;
use simple_im_tests::peers::tshark::Capture;
use simple_im_tests::peers::{free_port, scratch_dir};
use std::time::Duration;

#[test]
fn sipp_and_pjsua2_traffic_with_the_server_decodes_cleanly() {
    let server = start_with_users("tshark", &[("alice", "alice-pw"), ("bob", "bob-pw")], |_| {});
    let dir = scratch_dir("tshark-run");
    let bob_port = free_port();
    let capture = Capture::start(&dir, &[server.options.port, bob_port], Duration::from_secs(60));

    let bob = flows::receive_message(&dir, bob_port, "alice", "captured hello", Duration::from_secs(20));
    flows::register(&dir, &server.addr(), "bob", "bob-pw", bob_port).assert_success(1);
    flows::message(&dir, &server.addr(), ("alice", "alice-pw"), "bob", "captured hello", 200).assert_success(1);
    bob.finish().assert_success(1);
    let args = ["--server".to_string(), server.addr(), "--alice".into(), "alice:alice-pw".into(), "--bob".into(), "bob:bob-pw".into()];
    let (code, output) = run_exchange(&args, Duration::from_secs(20));
    assert_eq!(code, Some(0), "pjsua2 exchange failed:\n{output}");

    capture.assert_clean();
}
