//! Session mode: a room of [`PARTICIPANTS`] on the MSRP switch, each an in-process MSRP endpoint on
//! its own loopback TCP connection to the server's MSRP port.
//!
//! Set-up: the legs are joined straight on the switch (the SIP INVITE of each participant is not what
//! is measured); every endpoint binds its leg with a bodiless SEND, answers each copy 200 and notes
//! when it arrived. Participant 0 sends (with `Failure-Report: no`, so only copies travel).
//!
//! Reported:
//! - latency: for messages sent one at a time, from writing the SEND to the arrival of its last copy,
//!   p50 and p99;
//! - throughput: with [`IN_FLIGHT`] messages outstanding, messages the switch replicates per second
//!   and copies per second.

use bytes::BytesMut;
use simple_im_core::msrp::wire::{parse_message, Parsed};
use simple_im_tokio::server::Server;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Participants in the room.
pub const PARTICIPANTS: usize = 1000;
/// Messages outstanding at once in the throughput run.
const IN_FLIGHT: usize = 8;

type Arrivals = Arc<Mutex<HashMap<u64, (usize, Instant)>>>;

/// Runs the session-mode room and prints its figures.
pub async fn run(server: Arc<Server>, msrp: SocketAddr, latency_messages: u64, throughput_messages: u64) {
    let switch = server
        .focus
        .switch(&server)
        .expect("the server runs the MSRP relay");
    let arrivals: Arrivals = Arc::default();
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
    let (mut stream, leg, path) = sender.expect("a sender");
    // Wait until every endpoint is bound (its bind answered), so that every message has all copies.
    while switch.bound_count("room") < PARTICIPANTS {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (mut read, mut write) = stream.split();
    let mut latencies = Vec::new();
    for n in 0..latency_messages {
        let sent = Instant::now();
        write.write_all(&send_bytes(n, &leg, &path)).await.expect("send");
        latencies.push(wait_all(&arrivals, n).await.duration_since(sent));
    }
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "groups/session latency, {PARTICIPANTS} participants: p50 {:.2} ms, p99 {:.2} ms ({latency_messages} messages, one at a time)",
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3
    );
    let started = Instant::now();
    let (first, end) = (latency_messages, latency_messages + throughput_messages);
    for n in first..end {
        if n >= first + IN_FLIGHT as u64 {
            wait_all(&arrivals, n - IN_FLIGHT as u64).await;
        }
        write.write_all(&send_bytes(n, &leg, &path)).await.expect("send");
    }
    for n in first..end {
        wait_all(&arrivals, n).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "groups/session throughput, {PARTICIPANTS} participants, {IN_FLIGHT} in flight: {:.1} messages/s, {:.0} copies/s",
        throughput_messages as f64 / elapsed,
        throughput_messages as f64 * (PARTICIPANTS - 1) as f64 / elapsed
    );
    // The sender's own connection only ever gets its bind's answer.
    let mut sink = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_millis(1), read.read(&mut sink)).await;
}

fn send_bytes(n: u64, leg: &str, path: &str) -> Vec<u8> {
    let text = format!("session {n}");
    format!(
        "MSRP s{n} SEND\r\nTo-Path: {leg}\r\nFrom-Path: {path}\r\nMessage-ID: s{n}\r\nFailure-Report: no\r\n\
         Byte-Range: 1-{len}/{len}\r\nContent-Type: text/plain\r\n\r\n{text}\r\n-------s{n}$\r\n",
        len = text.len()
    )
    .into_bytes()
}

/// One participant: answers every SEND 200 and counts copies per message number.
async fn endpoint(mut stream: TcpStream, path: String, arrivals: Arrivals) {
    let mut buf = BytesMut::with_capacity(16 * 1024);
    loop {
        let mut answers = Vec::new();
        loop {
            let (used, answer, n) = match parse_message(&buf) {
                Ok(Parsed::Complete(message, used)) => {
                    let head = &message.head;
                    let is_send = head.method().is_some_and(|m| m.as_str() == "SEND");
                    let answer = is_send.then(|| {
                        let to = head.from_path().and_then(|p| p.texts().next()).unwrap_or("");
                        format!(
                            "MSRP {tid} 200 OK\r\nTo-Path: {to}\r\nFrom-Path: {path}\r\n-------{tid}$\r\n",
                            tid = head.transaction_id
                        )
                    });
                    let text = std::str::from_utf8(message.body).unwrap_or("");
                    let n = text
                        .rsplit("session ")
                        .next()
                        .and_then(|n| n.trim().parse::<u64>().ok())
                        .filter(|_| is_send && text.contains("session "));
                    (used, answer, n)
                }
                Ok(Parsed::Partial) => break,
                Err(_) => return,
            };
            if let Some(n) = n {
                let mut table = arrivals.lock().expect("arrivals");
                let entry = table.entry(n).or_insert((0, Instant::now()));
                entry.0 += 1;
                entry.1 = Instant::now();
            }
            if let Some(answer) = answer {
                answers.extend_from_slice(answer.as_bytes());
            }
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

/// Waits until every participant but the sender has message `n`; returns the last arrival.
async fn wait_all(arrivals: &Arrivals, n: u64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(&(count, last)) = arrivals.lock().expect("arrivals").get(&n) {
            if count >= PARTICIPANTS - 1 {
                return last;
            }
        }
        assert!(
            Instant::now() < deadline,
            "message {n} did not reach every participant"
        );
        tokio::time::sleep(Duration::from_micros(100)).await;
    }
}
