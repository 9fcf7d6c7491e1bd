//! tshark as a wire check of a relayed chat: the SIP signalling (INVITE with the rewritten offer,
//! 2xx with the rewritten answer, BYE) and the MSRP traffic on both legs of the relay must decode
//! with no malformed packet and no error-level expert item.

mod msrp_support;
mod server_support;

use msrp_support::{establish, hang_up, Outgoing, Peer};
use server_support::{registered, start, tcp_addr, udp_addr, Ua};
use simple_im_core::msrp::session::SessionConfig;
use simple_im_tests::peers::scratch_dir;
use simple_im_tests::peers::tshark::Capture;
use simple_im_tokio::server::Options;
use std::time::Duration;

const ALICE: &str = "msrp://127.0.0.1:9/alicetshark1;tcp";
const BOB: &str = "msrp://127.0.0.1:9/bobtshark22;tcp";
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relayed_chat_decodes_cleanly_in_tshark() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), "", Options::default()).await;
    let relay_port = running.msrp.expect("relay").port();
    let sip_ports = [udp_addr(&running).port(), tcp_addr(&running).port()];
    let scratch = scratch_dir("msrp-tshark");
    let capture = tokio::task::spawn_blocking(move || {
        Capture::start_with_msrp(&scratch, &sip_ports, &[relay_port], Duration::from_secs(60))
    })
    .await
    .unwrap();

    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let mut call = establish(&mut alice, &mut bob, ALICE, BOB).await;
    let config = SessionConfig::default();
    let mut alice_msrp = Peer::connect(ALICE, &call.alice_remote, config).await;
    let mut bob_msrp = Peer::connect(BOB, &call.bob_remote, config).await;
    alice_msrp
        .send
        .send(Outgoing::Text(b"hello over the relay".to_vec()))
        .unwrap();
    assert_eq!(bob_msrp.message(WAIT).await.1, b"hello over the relay");
    bob_msrp
        .send
        .send(Outgoing::Text(b"hello back".to_vec()))
        .unwrap();
    assert_eq!(alice_msrp.message(WAIT).await.1, b"hello back");
    // A message of several chunks (2 KiB each), continued with `+` end-lines.
    bob_msrp.send.send(Outgoing::Generated(10_000)).unwrap();
    assert_eq!(alice_msrp.message(WAIT).await.2, 10_000);
    hang_up(&mut alice, &mut bob, &mut call).await;
    assert!(alice_msrp.closed_within(WAIT).await);

    tokio::task::spawn_blocking(move || capture.assert_clean())
        .await
        .unwrap();
}
