//! MSRP over TLS on every leg of the relay, end to end through the running server. Both endpoints
//! put `msrps:` paths and `TCP/TLS/MSRP` in their SDP. A passive one is dialed by the relay over TLS,
//! its certificate checked against `[msrp] tls_ca`; an active caller connects to the relay's TLS
//! listener; with `tls_to_callee` so does an active callee, which is offered TLS as soon as the caller
//! asks for it, and a callee answering clear text to that offer gets no clear-text hop. The peers are test endpoints on the core's MSRP session machine with the committed test
//! certificate (`tests/tls/`), so each side really speaks TLS and nothing else.

mod msrp_support;
mod server_support;

use msrp_support::{establish_sdp, path_of, sdp_tls, sdp_with_setup, Outgoing, Peer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use server_support::{registered, start, tcp_addr, Ua};
use simple_im_core::msrp::session::SessionConfig;
use simple_im_tokio::server::{reply, Options, Running};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

const WAIT: Duration = Duration::from_secs(10);

fn tls_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("tls")
        .join(name)
}

/// A server whose relay listens for TLS and dials `msrps:` endpoints trusting the CA file `ca`.
async fn tls_server(dir: &std::path::Path, ca: &str) -> Running {
    tls_server_with(dir, ca, "").await
}

/// [`tls_server`] with more `[msrp]` settings (`extra_msrp`, whole lines).
async fn tls_server_with(dir: &std::path::Path, ca: &str, extra_msrp: &str) -> Running {
    let extra = format!(
        "[msrp]\nlisten = \"127.0.0.1:0\"\ntls_listen = \"127.0.0.1:0\"\ntls_certificate = \"{}\"\n\
tls_key = \"{}\"\ntls_ca = \"{}\"\n{extra_msrp}",
        tls_file("msrp-server.pem").display(),
        tls_file("msrp-server.key").display(),
        tls_file(ca).display(),
    );
    start(dir, &extra, Options::default()).await
}

/// What a TLS endpoint presents: the test certificate, as the relay's own.
fn endpoint_acceptor() -> tokio_rustls::TlsAcceptor {
    let chain = CertificateDer::pem_file_iter(tls_file("msrp-server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(tls_file("msrp-server.key")).unwrap();
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

fn trusting_test_ca() -> tokio_rustls::TlsConnector {
    let config = simple_im_tokio::client::tls::client_config(&tls_file("test-ca.pem")).unwrap();
    tokio_rustls::TlsConnector::from(config)
}

/// A listener for a passive TLS endpoint and its `msrps:` path.
async fn passive_endpoint(name: &str) -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let path = format!("msrps://{}/{name};tcp", listener.local_addr().unwrap());
    (listener, path)
}

async fn chat_both_ways(alice: &mut Peer, bob: &mut Peer) {
    alice.send.send(Outgoing::Text(b"secret hello".to_vec())).unwrap();
    assert_eq!(bob.message(WAIT).await.1, b"secret hello");
    bob.send.send(Outgoing::Text(b"secret reply".to_vec())).unwrap();
    assert_eq!(alice.message(WAIT).await.1, b"secret reply");
    // A message of many chunks crosses both TLS legs whole.
    let len = 200_000;
    bob.send.send(Outgoing::Generated(len)).unwrap();
    let (_, _, got, sha) = alice.message(WAIT).await;
    assert_eq!((got, sha), (len, msrp_support::pattern_sha256(len)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_tls_caller_chats_with_a_passive_tls_callee_the_relay_dials() {
    let dir = tempfile::tempdir().unwrap();
    let running = tls_server(dir.path(), "test-ca.pem").await;
    let tls_port = running.msrp_tls.expect("TLS listener").port();
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let alice_path = "msrps://127.0.0.1:9/alicetls1;tcp";
    let (listener, bob_path) = passive_endpoint("bobtls1").await;
    let offer = sdp_tls(alice_path, "active");
    let call = establish_sdp(&mut alice, &mut bob, &offer, &sdp_tls(&bob_path, "passive")).await;
    // Alice is sent to the relay's TLS port with an msrps leg URI.
    let alice_leg = call.alice_remote.split_whitespace().next().unwrap();
    assert!(
        alice_leg.starts_with(&format!("msrps://127.0.0.1:{tls_port}/")),
        "{}",
        call.alice_remote
    );
    assert!(call.alice_remote.ends_with(&bob_path), "{}", call.alice_remote);

    let config = SessionConfig::default();
    let mut bob_msrp =
        Peer::accept_tls(listener, endpoint_acceptor(), &bob_path, &call.bob_remote, config).await;
    let mut alice_msrp = Peer::connect_tls(trusting_test_ca(), alice_path, &call.alice_remote, config).await;
    chat_both_ways(&mut alice_msrp, &mut bob_msrp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_dials_a_passive_tls_caller_and_a_passive_tls_callee() {
    let dir = tempfile::tempdir().unwrap();
    let running = tls_server(dir.path(), "test-ca.pem").await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let (alice_listener, alice_path) = passive_endpoint("alicetls2").await;
    let (bob_listener, bob_path) = passive_endpoint("bobtls2").await;
    let offer = sdp_tls(&alice_path, "passive");
    let call = establish_sdp(&mut alice, &mut bob, &offer, &sdp_tls(&bob_path, "passive")).await;
    assert!(call.alice_remote.starts_with("msrps://"), "{}", call.alice_remote);

    let config = SessionConfig::default();
    let acceptor = endpoint_acceptor();
    let mut bob_msrp = Peer::accept_tls(
        bob_listener,
        acceptor.clone(),
        &bob_path,
        &call.bob_remote,
        config,
    )
    .await;
    let mut alice_msrp =
        Peer::accept_tls(alice_listener, acceptor, &alice_path, &call.alice_remote, config).await;
    chat_both_ways(&mut alice_msrp, &mut bob_msrp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_a_tls_endpoint_whose_certificate_it_cannot_check() {
    let dir = tempfile::tempdir().unwrap();
    // The relay trusts an unrelated CA: bob's certificate must not be accepted.
    let running = tls_server(dir.path(), "other-ca.pem").await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let alice_path = "msrps://127.0.0.1:9/alicetls3;tcp";
    let (listener, bob_path) = passive_endpoint("bobtls3").await;
    let offer = sdp_tls(alice_path, "active");
    let call = establish_sdp(&mut alice, &mut bob, &offer, &sdp_tls(&bob_path, "passive")).await;
    let config = SessionConfig::default();
    let mut bob_msrp =
        Peer::accept_tls(listener, endpoint_acceptor(), &bob_path, &call.bob_remote, config).await;
    assert!(
        bob_msrp.closed_within(WAIT).await,
        "the relay gives up the handshake, so bob's TLS session never opens"
    );
}

/// The `m=message` line of an SDP body.
fn message_line(body: &[u8]) -> String {
    let text = std::str::from_utf8(body).unwrap();
    text.lines()
        .find(|l| l.starts_with("m=message"))
        .unwrap()
        .trim_end()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_caller_gets_the_callee_offered_tls_up_front_and_both_connect_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let running = tls_server_with(dir.path(), "test-ca.pem", "tls_to_callee = true\n").await;
    let tls_port = running.msrp_tls.expect("TLS listener").port();
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let alice_path = "msrps://127.0.0.1:9/alicetls4;tcp";
    let bob_path = "msrps://127.0.0.1:9/bobtls4;tcp";
    let offer = sdp_tls(alice_path, "active");
    let call = establish_sdp(&mut alice, &mut bob, &offer, &sdp_tls(bob_path, "active")).await;
    // Bob is offered an msrps leg on the TLS port over TCP/TLS/MSRP, never clear text.
    assert!(
        call.bob_remote
            .starts_with(&format!("msrps://127.0.0.1:{tls_port}/")),
        "{}",
        call.bob_remote
    );
    assert_eq!(
        message_line(&call.bob_sdp),
        format!("m=message {tls_port} TCP/TLS/MSRP *")
    );
    assert!(call.alice_remote.starts_with("msrps://"), "{}", call.alice_remote);

    let config = SessionConfig::default();
    let connector = trusting_test_ca();
    let mut bob_msrp = Peer::connect_tls(connector.clone(), bob_path, &call.bob_remote, config).await;
    let mut alice_msrp = Peer::connect_tls(connector, alice_path, &call.alice_remote, config).await;
    chat_both_ways(&mut alice_msrp, &mut bob_msrp).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clear_text_answer_to_a_tls_offer_is_refused_not_fallen_back_to() {
    let dir = tempfile::tempdir().unwrap();
    let running = tls_server_with(dir.path(), "test-ca.pem", "tls_to_callee = true\n").await;
    let relay = running.server.msrp.clone().unwrap();
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let offer = sdp_tls("msrps://127.0.0.1:9/alicetls5;tcp", "active");
    let bob_plain = "msrp://127.0.0.1:9/bobplain5;tcp";
    let answer = sdp_with_setup(bob_plain, "active");
    let (_, invite) = msrp_support::offer_sdp(&mut alice, &mut bob, &offer).await;
    let bob_remote = path_of(invite.body());
    assert!(bob_remote.starts_with("msrps://"), "{bob_remote}");
    let contact = [("Contact", format!("<{}>", bob.contact()))];
    let body = Some(("application/sdp", answer.as_bytes()));
    bob.send_raw(&reply::build(&invite, None, 200, "OK", &contact, body).unwrap())
        .await;
    let ok = msrp_support::response_with(&mut alice, 200).await;
    // Alice sees the line rejected, and bob's clear-text path is not handed to her.
    assert!(
        message_line(ok.body()).starts_with("m=message 0 "),
        "{:?}",
        ok.body()
    );
    assert!(!String::from_utf8_lossy(ok.body()).contains(bob_plain));
    assert_eq!(relay.session_count(), 0, "the line's relay session ended");
    // Bob's leg is gone: a connection to it gets 481.
    let leg = bob_remote.split_whitespace().next().unwrap();
    let probe = format!(
        "MSRP p5 SEND\r\nTo-Path: {leg} msrps://127.0.0.1:9/alicetls5;tcp\r\nFrom-Path: {bob_plain}\r\n\
Message-ID: p\r\nByte-Range: 1-0/0\r\n-------p5$\r\n"
    );
    let relay_addr = running.msrp.unwrap().to_string();
    let (reply, _) = msrp_support::inject(&relay_addr, probe.as_bytes()).await;
    assert!(reply.starts_with("MSRP p5 481"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_tls_to_callee_the_callee_of_a_tls_caller_is_offered_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let running = tls_server(dir.path(), "test-ca.pem").await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let offer = sdp_tls("msrps://127.0.0.1:9/alicetls6;tcp", "active");
    let (_, invite) = msrp_support::offer_sdp(&mut alice, &mut bob, &offer).await;
    assert!(
        path_of(invite.body()).starts_with("msrp://"),
        "{:?}",
        invite.body()
    );
    assert!(
        message_line(invite.body()).contains(" TCP/MSRP "),
        "{:?}",
        invite.body()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_leg_cannot_be_bound_over_clear_text() {
    let dir = tempfile::tempdir().unwrap();
    let running = tls_server(dir.path(), "test-ca.pem").await;
    let mut bob = registered(&running, "bob").await;
    let mut alice = Ua::tcp("alice", "alice-pw", tcp_addr(&running)).await;
    let alice_path = "msrps://127.0.0.1:9/alicetls7;tcp";
    let offer = sdp_tls(alice_path, "active");
    let bob_path = "msrp://127.0.0.1:9/bobtls7;tcp";
    let call = establish_sdp(&mut alice, &mut bob, &offer, &sdp_with_setup(bob_path, "active")).await;
    // Alice's TLS leg, reached on the relay's clear-text port with her own From-Path: refused.
    let probe = format!(
        "MSRP p7 SEND\r\nTo-Path: {}\r\nFrom-Path: {alice_path}\r\nMessage-ID: p\r\n\
Byte-Range: 1-0/0\r\n-------p7$\r\n",
        call.alice_remote
    );
    let relay_addr = running.msrp.unwrap().to_string();
    let (reply, _) = msrp_support::inject(&relay_addr, probe.as_bytes()).await;
    assert!(reply.starts_with("MSRP p7 403"), "{reply}");
    // Over TLS the same leg binds, and the chat works.
    let config = SessionConfig::default();
    let mut alice_msrp = Peer::connect_tls(trusting_test_ca(), alice_path, &call.alice_remote, config).await;
    let mut bob_msrp = Peer::connect(bob_path, &call.bob_remote, config).await;
    chat_both_ways(&mut alice_msrp, &mut bob_msrp).await;
}
