//! The MSRP switch's copies and what their recipients are asked to answer (RFC 4975 §7.1.2, the
//! table in `server/groups/switch`): legs are joined on the switch directly (the SIP side is tested
//! in `server_group_chat`), each test peer an in-process MSRP endpoint on the core framer.

mod server_support;

use simple_im_core::msrp::wire::{parse_message, Parsed};
use simple_im_tokio::server::{Options, Running};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(10);
/// How long a peer listens for messages that must not come.
const QUIET: Duration = Duration::from_millis(400);

async fn start(dir: &Path) -> Running {
    // The legs join the switch directly: no SIP user is involved.
    server_support::start(dir, "", Options::default()).await
}

/// One message a peer received.
#[derive(Debug)]
struct Got {
    status: Option<u16>,
    method: String,
    tid: String,
    failure_report: Option<String>,
    status_header: String,
    body: String,
}

struct Peer {
    path: String,
    leg: String,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    /// Joins `user` to room `g` on the switch and binds its leg.
    async fn join(running: &Running, i: usize) -> Peer {
        let switch = running.server.focus.switch(&running.server).expect("a switch");
        let path = format!("msrp://127.0.0.1:9/peer{i};tcp");
        let leg = switch.join(
            "g",
            "sip:g@localhost",
            &format!("sip:u{i}@localhost"),
            false,
            &format!("call-{i}"),
            &path,
        );
        let msrp: SocketAddr = running.msrp.expect("the MSRP listener");
        let stream = TcpStream::connect(msrp).await.unwrap();
        let mut peer = Peer {
            path,
            leg,
            stream,
            buf: Vec::new(),
        };
        peer.send("b0", "", "").await;
        let answer = peer.next(WAIT).await.expect("an answer to the bind");
        assert_eq!(answer.status, Some(200), "{answer:?}");
        peer
    }

    /// A SEND with `headers` (lines ending in CRLF); a bodiless one when `text` is empty.
    async fn send(&mut self, tid: &str, text: &str, headers: &str) {
        let content = if text.is_empty() {
            String::new()
        } else {
            format!("Content-Type: text/plain\r\n\r\n{text}\r\n")
        };
        let send = format!(
            "MSRP {tid} SEND\r\nTo-Path: {}\r\nFrom-Path: {}\r\nMessage-ID: {tid}\r\n{headers}\
             Byte-Range: 1-{len}/{len}\r\n{content}-------{tid}$\r\n",
            self.leg,
            self.path,
            len = text.len()
        );
        self.stream.write_all(send.as_bytes()).await.unwrap();
    }

    /// Answers the copy `got` with `code`.
    async fn answer(&mut self, got: &Got, code: u16) {
        let answer = format!(
            "MSRP {tid} {code} Answer\r\nTo-Path: {}\r\nFrom-Path: {}\r\n-------{tid}$\r\n",
            self.leg,
            self.path,
            tid = got.tid
        );
        self.stream.write_all(answer.as_bytes()).await.unwrap();
    }

    async fn next(&mut self, within: Duration) -> Option<Got> {
        server_support::read_whole_msrp(&mut self.stream, &mut self.buf, within).await?;
        let Ok(Parsed::Complete(message, used)) = parse_message(&self.buf) else {
            return None;
        };
        let head = &message.head;
        let got = Got {
            status: head.status_code(),
            method: head.method().map(|m| m.as_str().to_owned()).unwrap_or_default(),
            tid: head.transaction_id.to_owned(),
            failure_report: head.get("Failure-Report").map(str::to_owned),
            status_header: head.get("Status").unwrap_or("").to_owned(),
            body: String::from_utf8_lossy(message.body).into_owned(),
        };
        drop(message);
        self.buf.drain(..used);
        Some(got)
    }

    /// Everything that arrives within [`QUIET`].
    async fn rest(&mut self) -> Vec<Got> {
        let mut all = Vec::new();
        while let Some(got) = self.next(QUIET).await {
            all.push(got);
        }
        all
    }
}

async fn room(running: &Running, n: usize) -> Vec<Peer> {
    let mut peers = Vec::new();
    for i in 0..n {
        peers.push(Peer::join(running, i).await);
    }
    peers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_send_gets_partial_copies_and_only_a_refusal_comes_back_as_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut peers = room(&running, 3).await;
    peers[0].send("t1", "hello", "").await;
    let quiet = peers[1].next(WAIT).await.expect("a copy");
    let refusing = peers[2].next(WAIT).await.expect("a copy");
    for copy in [&quiet, &refusing] {
        assert_eq!(copy.method, "SEND", "{copy:?}");
        assert_eq!(copy.failure_report.as_deref(), Some("partial"), "{copy:?}");
        assert!(copy.body.ends_with("\r\n\r\nhello"), "{copy:?}");
    }
    // As RFC 4975 asks: no 200 to a partial copy; one refusal.
    peers[2].answer(&refusing, 415).await;
    let to_sender = peers[0].rest().await;
    assert_eq!(
        to_sender.first().and_then(|g| g.status),
        Some(200),
        "{to_sender:?}"
    );
    let reports: Vec<_> = to_sender.iter().filter(|g| g.method == "REPORT").collect();
    assert_eq!(reports.len(), 1, "{to_sender:?}");
    assert!(reports[0].status_header.starts_with("000 415"), "{reports:?}");
    assert!(
        reports[0].status_header.contains("sip:u2@localhost"),
        "{reports:?}"
    );
    // The refusal counts once: the same answer again, or one for a copy never sent, reports nothing.
    peers[2].answer(&refusing, 415).await;
    let forged = Got {
        tid: "s7fffffff.0123456789abcdef".into(),
        ..refusing
    };
    peers[2].answer(&forged, 415).await;
    let later = peers[0].rest().await;
    assert!(later.iter().all(|g| g.method != "REPORT"), "{later:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_report_needs_every_copy_answered() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut peers = room(&running, 3).await;
    peers[0].send("t1", "count me", "Success-Report: yes\r\n").await;
    let first = peers[1].next(WAIT).await.expect("a copy");
    let second = peers[2].next(WAIT).await.expect("a copy");
    // Every copy must be answered: RFC 4975's default (no Failure-Report header).
    assert_eq!(first.failure_report, None, "{first:?}");
    assert_eq!(second.failure_report, None, "{second:?}");
    peers[1].answer(&first, 200).await;
    let so_far = peers[0].rest().await;
    assert!(so_far.iter().all(|g| g.method != "REPORT"), "{so_far:?}");
    peers[2].answer(&second, 200).await;
    let reports: Vec<_> = peers[0]
        .rest()
        .await
        .into_iter()
        .filter(|g| g.method == "REPORT")
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].status_header.starts_with("000 200"), "{reports:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_wanting_no_report_gets_copies_asking_for_none() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut peers = room(&running, 2).await;
    peers[0]
        .send("t1", "fire and forget", "Failure-Report: no\r\n")
        .await;
    let copy = peers[1].next(WAIT).await.expect("a copy");
    assert_eq!(copy.failure_report.as_deref(), Some("no"), "{copy:?}");
    // Even a refusal (which the recipient should not send) reaches nobody.
    peers[1].answer(&copy, 486).await;
    let to_sender = peers[0].rest().await;
    assert!(to_sender.is_empty(), "{to_sender:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_arrives_whole_and_in_order_at_every_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path()).await;
    let mut peers = room(&running, 4).await;
    // Many copies queue at once and leave in batched writes: none may be cut or reordered.
    const BURST: usize = 500;
    let text = "y".repeat(300);
    for i in 0..BURST {
        peers[0].send(&format!("t{i}"), &format!("{i} {text}"), "").await;
    }
    for peer in &mut peers[1..] {
        for i in 0..BURST {
            let got = peer.next(WAIT).await.expect("every message");
            assert!(got.body.ends_with(&format!("\r\n\r\n{i} {text}")), "{i}: {got:?}");
        }
    }
}
