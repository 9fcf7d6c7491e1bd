//! Session mode: a room of [`PARTICIPANTS`] on the MSRP switch, each an in-process MSRP endpoint on
//! its own loopback TCP connection to the server's MSRP port.
//!
//! Set-up: the legs are joined straight on the switch (the SIP INVITE of each participant is not what
//! is measured); every endpoint binds its leg with a bodiless SEND, notes when each copy arrived, and
//! answers a copy only as RFC 4975 asks (200 to a copy without Failure-Report, nothing to
//! `partial` or `no`). Participant 0 sends; the switch answers it and its answers are read and
//! dropped.
//!
//! Reported:
//! - latency: for messages sent one at a time, from writing the SEND to the arrival of its last copy,
//!   p50 and p99, first for plain SENDs (copies go out with `Failure-Report: partial`), then for
//!   SENDs asking `Success-Report: yes` (every copy answered 200);
//! - where the time of a plain SEND goes, p50 and p99 of each stage: until the switch has the whole
//!   message, replicating it (every copy queued), writing (the last connection's write done), and
//!   the bench's receivers (from that write to the last copy parsed by its endpoint: the kernel and
//!   the 1,000 receiver tasks sharing the bench's two worker threads, on the same two cores);
//! - throughput: with [`IN_FLIGHT`] messages outstanding, messages the switch replicates per second
//!   and copies per second.

use bytes::BytesMut;
use simple_im_core::msrp::wire::{parse_message, Parsed, ReportRequest};
use simple_im_tokio::server::Server;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Participants in the room.
pub const PARTICIPANTS: usize = 1000;
/// Messages outstanding at once in the throughput run.
const IN_FLIGHT: usize = 8;
/// Issue 6's target for the 1,000-participant room, from send to the last delivery.
const TARGET_P99_MS: f64 = 20.0;

/// The one-minute load average (the bench shares the machine; its figures depend on it).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

/// Arrivals of copies per message number: how many, and the last one's time (nanoseconds since
/// `epoch`). A fixed table of atomics, so that the 1,000 receivers never wait for one another.
struct Arrivals {
    epoch: Instant,
    table: Vec<(AtomicUsize, AtomicU64)>,
    /// Woken when a message's last copy arrives.
    complete: tokio::sync::Notify,
}

impl Arrivals {
    fn new(messages: u64) -> Arrivals {
        Arrivals {
            epoch: Instant::now(),
            table: (0..messages).map(|_| Default::default()).collect(),
            complete: tokio::sync::Notify::new(),
        }
    }

    fn arrived(&self, n: u64) {
        let Some((count, last)) = usize::try_from(n).ok().and_then(|n| self.table.get(n)) else {
            return;
        };
        let now = self.epoch.elapsed().as_nanos() as u64;
        last.fetch_max(now, Ordering::Relaxed);
        if count.fetch_add(1, Ordering::Release) + 1 == PARTICIPANTS - 1 {
            self.complete.notify_one();
        }
    }

    /// Waits until every participant but the sender has message `n`; returns the last arrival.
    async fn wait_all(&self, n: u64) -> Instant {
        let (count, last) = &self.table[n as usize];
        let deadline = Instant::now() + Duration::from_secs(30);
        while count.load(Ordering::Acquire) < PARTICIPANTS - 1 {
            let woken = tokio::time::timeout_at(deadline.into(), self.complete.notified()).await;
            assert!(woken.is_ok(), "message {n} did not reach every participant");
        }
        self.epoch + Duration::from_nanos(last.load(Ordering::Relaxed))
    }
}

fn pct(sorted: &[Duration], p: usize) -> f64 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// Runs the session-mode room and prints its figures.
pub async fn run(server: Arc<Server>, msrp: SocketAddr, latency_messages: u64, throughput_messages: u64) {
    let switch = server
        .focus
        .switch(&server)
        .expect("the server runs the MSRP relay");
    let arrivals = Arc::new(Arrivals::new(2 * latency_messages + throughput_messages));
    let mut sender = None;
    for i in 0..PARTICIPANTS {
        let path = format!("msrp://127.0.0.1:9/p{i};tcp");
        let user = format!("sip:m{i:04}@localhost");
        let leg = switch.join(
            "room",
            "sip:room@localhost",
            &user,
            false,
            &format!("bench-{i}"),
            &path,
        );
        let mut stream = TcpStream::connect(msrp).await.expect("connect");
        let _ = stream.set_nodelay(true);
        let bind = format!(
            "MSRP b{i} SEND\r\nTo-Path: {leg}\r\nFrom-Path: {path}\r\nMessage-ID: b{i}\r\nByte-Range: 1-0/0\r\n-------b{i}$\r\n"
        );
        stream.write_all(bind.as_bytes()).await.expect("bind");
        if i == 0 {
            sender = Some((stream, leg, path));
        } else {
            tokio::spawn(endpoint(stream, path, arrivals.clone()));
        }
    }
    let (stream, leg, path) = sender.expect("a sender");
    // Wait until every endpoint is bound (its bind answered), so that every message has all copies.
    while switch.bound_count("room") < PARTICIPANTS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (mut read, mut write) = stream.into_split();
    // The switch's answers to the sender (200s, success REPORTs) are read and dropped.
    let drain = tokio::spawn(async move {
        let mut sink = vec![0u8; 64 * 1024];
        while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
    });

    let mut latencies = Vec::new();
    // Per stage: sent -> whole at the switch -> every copy queued -> last write -> last arrival.
    let mut stages: [Vec<Duration>; 4] = Default::default();
    for n in 0..latency_messages {
        let sent = Instant::now();
        write
            .write_all(&send_bytes(n, &leg, &path, ""))
            .await
            .expect("send");
        let last = arrivals.wait_all(n).await;
        latencies.push(last.duration_since(sent));
        if let Some((trace, written)) = switch.last_fanout() {
            let marks = [sent, trace.received, trace.queued, written, last];
            for (stage, pair) in stages.iter_mut().zip(marks.windows(2)) {
                stage.push(pair[1].saturating_duration_since(pair[0]));
            }
        }
    }
    latencies.sort();
    println!(
        "groups/session latency, {PARTICIPANTS} participants: p50 {:.2} ms, p99 {:.2} ms ({latency_messages} messages, one at a time; copies with Failure-Report: partial)",
        pct(&latencies, 50),
        pct(&latencies, 99),
    );
    let p99 = pct(&latencies, 99);
    println!(
        "groups/session verdict: p99 {p99:.2} ms from send to the last delivery, target < {TARGET_P99_MS} ms: {} (load average {})",
        if p99 < TARGET_P99_MS { "met" } else { "NOT met" },
        load_average(),
    );
    let names = ["to the switch", "replicating", "writing", "bench receivers"];
    let split: Vec<String> = stages
        .iter_mut()
        .zip(names)
        .map(|(stage, name)| {
            stage.sort();
            format!("{name} {:.2}/{:.2}", pct(stage, 50), pct(stage, 99))
        })
        .collect();
    println!("groups/session stages, p50/p99 ms: {}", split.join(", "));

    let mut answered = Vec::new();
    for n in latency_messages..2 * latency_messages {
        let sent = Instant::now();
        let success = "Success-Report: yes\r\n";
        write
            .write_all(&send_bytes(n, &leg, &path, success))
            .await
            .expect("send");
        answered.push(arrivals.wait_all(n).await.duration_since(sent));
    }
    answered.sort();
    println!(
        "groups/session latency with Success-Report: yes (every copy answered 200): p50 {:.2} ms, p99 {:.2} ms",
        pct(&answered, 50),
        pct(&answered, 99),
    );

    let started = Instant::now();
    let first = 2 * latency_messages;
    let end = first + throughput_messages;
    for n in first..end {
        if n >= first + IN_FLIGHT as u64 {
            arrivals.wait_all(n - IN_FLIGHT as u64).await;
        }
        write
            .write_all(&send_bytes(n, &leg, &path, ""))
            .await
            .expect("send");
    }
    for n in first..end {
        arrivals.wait_all(n).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "groups/session throughput, {PARTICIPANTS} participants, {IN_FLIGHT} in flight: {:.1} messages/s, {:.0} copies/s",
        throughput_messages as f64 / elapsed,
        throughput_messages as f64 * (PARTICIPANTS - 1) as f64 / elapsed
    );
    drain.abort();
}

/// Message number `n` from the sender, with `headers` (each line ending in CRLF) added.
fn send_bytes(n: u64, leg: &str, path: &str, headers: &str) -> Vec<u8> {
    let text = format!("session {n}");
    format!(
        "MSRP s{n} SEND\r\nTo-Path: {leg}\r\nFrom-Path: {path}\r\nMessage-ID: s{n}\r\n{headers}\
         Byte-Range: 1-{len}/{len}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n-------s{n}$\r\n",
        len = text.len()
    )
    .into_bytes()
}

/// One participant: notes each copy's arrival and answers the copies that ask for it.
async fn endpoint(mut stream: TcpStream, path: String, arrivals: Arc<Arrivals>) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut answers = Vec::new();
    loop {
        answers.clear();
        loop {
            let used = match parse_message(&buf) {
                Ok(Parsed::Complete(message, used)) => {
                    let head = &message.head;
                    let is_send = head.method().is_some_and(|m| m.as_str() == "SEND");
                    let text = std::str::from_utf8(message.body).unwrap_or("");
                    let n = text
                        .rsplit("session ")
                        .next()
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .filter(|_| is_send && text.contains("session "));
                    if let Some(n) = n {
                        arrivals.arrived(n);
                    }
                    let report = head.failure_report().ok().flatten();
                    if is_send && report.unwrap_or(ReportRequest::Yes) == ReportRequest::Yes {
                        let to = head.from_path().and_then(|p| p.texts().next()).unwrap_or("");
                        answers.extend_from_slice(
                            format!(
                                "MSRP {tid} 200 OK\r\nTo-Path: {to}\r\nFrom-Path: {path}\r\n-------{tid}$\r\n",
                                tid = head.transaction_id
                            )
                            .as_bytes(),
                        );
                    }
                    used
                }
                Ok(Parsed::Partial) => break,
                Err(_) => return,
            };
            let _ = buf.split_to(used);
        }
        if !answers.is_empty() && stream.write_all(&answers).await.is_err() {
            return;
        }
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
