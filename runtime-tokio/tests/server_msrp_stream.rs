//! A 50 MB message through the MSRP relay of a separate server process: it arrives whole (SHA-256
//! checked) while the server's resident memory grows by less than 10 MB (forwarded chunk by chunk
//! with bounded buffers; the sender is held back by TCP when the receiver is slower).

mod msrp_support;
mod server_support;

use msrp_support::{establish, Outgoing, Peer};
use server_support::{store_with_users, Ua};
use simple_im_core::msrp::session::SessionConfig;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const ALICE: &str = "msrp://127.0.0.1:9/alicestream1;tcp";
const BOB: &str = "msrp://127.0.0.1:9/bobstream22;tcp";
const LEN: u64 = 50 * 1024 * 1024;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The resident set of process `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Starts `simple-im server` on ephemeral ports; returns it with its UDP, TCP and MSRP addresses.
fn spawn_server(dir: &std::path::Path) -> (Server, SocketAddr, SocketAddr, SocketAddr) {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        "[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = [\"127.0.0.1:0\"]\n[msrp]\nlisten = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_simple-im"))
        .arg("--data")
        .arg(dir)
        .arg("--config")
        .arg(&config)
        .arg("server")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    let (mut udp, mut tcp, mut msrp) = (None, None, None);
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let addr = |prefix: &str| line.strip_prefix(prefix).and_then(|a| a.parse().ok());
        udp = udp.or(addr("simple-im: listening on udp "));
        tcp = tcp.or(addr("simple-im: listening on tcp "));
        msrp = msrp.or(addr("simple-im: msrp on tcp "));
        if line == "simple-im: ready" {
            break;
        }
    }
    (server, udp.unwrap(), tcp.unwrap(), msrp.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_megabytes_stream_through_the_relay_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    drop(store_with_users(dir.path(), &[("alice", "alice-pw"), ("bob", "bob-pw")]).await);
    let (server, udp, tcp, msrp) = spawn_server(dir.path());
    let mut bob = Ua::udp("bob", "bob-pw", udp).await;
    assert_eq!(bob.register(600).await.status(), Some(200));
    let mut alice = Ua::tcp("alice", "alice-pw", tcp).await;
    let call = establish(&mut alice, &mut bob, ALICE, BOB).await;
    assert!(
        call.alice_remote.contains(&msrp.to_string()),
        "{}",
        call.alice_remote
    );

    let sender = SessionConfig {
        chunk_size: 64 * 1024,
        ..SessionConfig::default()
    };
    let alice_msrp = Peer::connect(ALICE, &call.alice_remote, sender).await;
    let mut bob_msrp = Peer::connect(BOB, &call.bob_remote, SessionConfig::default()).await;
    // A small message first: both legs are bound and the relay's buffers have been used once.
    alice_msrp.send.send(Outgoing::Text(b"warm-up".to_vec())).unwrap();
    assert_eq!(bob_msrp.message(Duration::from_secs(10)).await.1, b"warm-up");

    let pid = server.0.id();
    let baseline = rss_kib(pid);
    // The peak is sampled all through the transfer, not just at its end.
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampled = peak.clone();
    let sampler = tokio::spawn(async move {
        loop {
            sampled.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    alice_msrp.send.send(Outgoing::Generated(LEN)).unwrap();
    let (content_type, _, len, sha) = bob_msrp.message(Duration::from_secs(300)).await;
    sampler.abort();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed).max(rss_kib(pid));
    assert_eq!(content_type, "application/octet-stream");
    assert_eq!(len, LEN);
    assert_eq!(sha, msrp_support::pattern_sha256(LEN), "SHA-256 end to end");
    let grown = peak.saturating_sub(baseline);
    eprintln!("server RSS: baseline {baseline} KiB, peak during 50 MB {peak} KiB, growth {grown} KiB");
    assert!(
        grown < 10 * 1024,
        "server RSS grew by {grown} KiB (baseline {baseline} KiB)"
    );
}
