//! tshark as a wire check of simple-im's traffic with real peers (issue 4 acceptance): SIPp's
//! unauthenticated REGISTER and MESSAGE, and the pjsua2 exchange (digest REGISTER, MESSAGE both
//! ways), captured on `lo` for the server's port only, must decode with no malformed packet and no
//! error-level expert item.

use simple_im_tests::peers::pjsua::run_exchange;
use simple_im_tests::peers::scratch_dir;
use simple_im_tests::peers::server::start_with_users;
use simple_im_tests::peers::sipp::flows;
use simple_im_tests::peers::tshark::Capture;
use std::time::Duration;

#[test]
fn sipp_and_pjsua2_traffic_with_the_server_decodes_cleanly() {
    let server = start_with_users("tshark", &[("alice", "alice-pw"), ("bob", "bob-pw")], |_| {});
    let dir = scratch_dir("tshark-run");
    let capture = Capture::start(&dir, &[server.options.port], Duration::from_secs(60));

    flows::unauthenticated(&dir, &server.addr(), "register_unauthenticated", "alice", "alice")
        .assert_success(1);
    flows::unauthenticated(&dir, &server.addr(), "message_unauthenticated", "alice", "bob").assert_success(1);
    let args = [
        "--server".to_string(),
        server.addr(),
        "--alice".into(),
        "alice:alice-pw".into(),
        "--bob".into(),
        "bob:bob-pw".into(),
    ];
    let (code, output) = run_exchange(&args, Duration::from_secs(20));
    assert_eq!(code, Some(0), "pjsua2 exchange failed:\n{output}");

    capture.assert_clean();
}
