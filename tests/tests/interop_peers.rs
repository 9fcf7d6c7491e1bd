//! The interop peers themselves, without simple-im: SIPp's committed scenarios against each other
//! (under a tshark capture), Kamailio starting with the committed config and registering a user,
//! pjsua2 creating a headless endpoint. These check the test infrastructure, so that a failure of the
//! server tests means the server.

use simple_im_tests::peers::kamailio::Kamailio;
use simple_im_tests::peers::pjsua::python;
use simple_im_tests::peers::process::run_bounded;
use simple_im_tests::peers::sipp::flows;
use simple_im_tests::peers::tshark::Capture;
use simple_im_tests::peers::ua::{probe_sip, Outcome, Ua};
use simple_im_tests::peers::{free_port, scratch_dir};
use std::process::Command;
use std::time::Duration;

#[test]
fn sipp_message_scenarios_work_against_each_other_and_decode_cleanly() {
    let dir = scratch_dir("peers-sipp");
    let uas_port = free_port();
    let capture = Capture::start(&dir, &[uas_port], Duration::from_secs(30));
    let uas = flows::receive_message(&dir, uas_port, "alice", "sipp to sipp", Duration::from_secs(15));
    // SIPp's UAS answers 200 at once: the message scenario takes its "already final" branch.
    flows::message(
        &dir,
        &format!("127.0.0.1:{uas_port}"),
        ("alice", "pw"),
        "bob",
        "sipp to sipp",
        200,
    )
    .assert_success(1);
    uas.finish().assert_success(1);
    capture.assert_clean();
}

#[test]
fn sipp_receiver_rejects_a_wrong_body() {
    let dir = scratch_dir("peers-sipp-wrong");
    let uas_port = free_port();
    let uas = flows::receive_message(
        &dir,
        uas_port,
        "alice",
        "the expected text",
        Duration::from_secs(8),
    );
    let _ = flows::message(
        &dir,
        &format!("127.0.0.1:{uas_port}"),
        ("alice", "pw"),
        "bob",
        "something else",
        200,
    );
    let result = uas.finish();
    assert_ne!(
        result.code,
        Some(0),
        "the UAS accepted a body that does not match:\n{}",
        result.report
    );
}

/// The wire check can fail: a datagram with a negative Content-Length is one tshark flags.
#[test]
fn tshark_check_flags_a_broken_sip_datagram() {
    let dir = scratch_dir("peers-tshark-broken");
    let port = free_port();
    let capture = Capture::start(&dir, &[port], Duration::from_secs(20));
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a UDP socket");
    let broken = "MESSAGE sip:bob@localhost SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbroken\r\n\
                  CSeq: 1 MESSAGE\r\nContent-Length: -999\r\n\r\n";
    socket
        .send_to(broken.as_bytes(), ("127.0.0.1", port))
        .expect("sending on lo");
    let (_, flagged) = capture.finish();
    assert!(
        flagged.contains("MESSAGE"),
        "tshark did not flag the broken datagram: {flagged:?}"
    );
}

#[test]
fn kamailio_starts_with_the_committed_config_and_registers_a_user() {
    let dir = scratch_dir("peers-kamailio");
    let port = free_port();
    let kamailio = Kamailio::start(&dir, "127.0.0.1", port, free_port());
    let addr = kamailio.addr.clone();
    assert_eq!(
        probe_sip(&addr, Duration::from_secs(5)),
        Some(405),
        "OPTIONS is refused by the config:\n{}",
        kamailio.output()
    );
    let mut bob = Ua::new(&addr, "bob", "");
    assert_eq!(bob.register(60), Outcome::Final(200), "{}", kamailio.output());
}

#[test]
fn pjsua2_creates_a_headless_endpoint() {
    let mut cmd = Command::new(python());
    cmd.args([
        "-c",
        "import pjsua2 as pj\n\
         ep = pj.Endpoint(); ep.libCreate(); cfg = pj.EpConfig()\n\
         cfg.uaConfig.threadCnt = 0; cfg.uaConfig.mainThreadOnly = True; cfg.logConfig.level = 1\n\
         ep.libInit(cfg); t = pj.TransportConfig(); t.boundAddress = '127.0.0.1'\n\
         ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, t); ep.libStart(); ep.audDevManager().setNullDev()\n\
         ep.libHandleEvents(10); print('endpoint ok', flush=True); import os; os._exit(0)",
    ]);
    let done = run_bounded("pjsua2 endpoint", cmd, Duration::from_secs(30));
    assert!(
        done.status.is_some_and(|s| s.success()) && done.output.contains("endpoint ok"),
        "{}",
        done.output
    );
}
