//! Pager-mode fan-out of the Controlling IM Function (`cargo xtask bench groups`, or
//! `cargo bench -p simple-im-tokio --bench groups [-- --quick]`).
//!
//! Set-up: the server runs on its own thread with the one-thread runtime `simple-im server` uses; a
//! public group holds [`MEMBERS`] users whose contacts are spread over [`SINKS`] loopback UDP sockets
//! (bindings put straight into the location service: registering is not what is measured). Each sink
//! answers every MESSAGE 200 at once and notes when it arrived. The sender is a trusted SIP/IP core
//! (no digest round trip per message), sending to `sip:room@localhost`.
//!
//! Reported:
//! - fan-out latency: for messages sent one at a time, from sending the MESSAGE to the arrival of its
//!   last copy at a member, p50 and p99;
//! - throughput: with [`IN_FLIGHT`] messages outstanding, group messages accepted per second and
//!   copies delivered per second.
//!
//! A plain bench binary (not criterion): the figures wanted are percentiles of a latency distribution
//! and one sustained rate, which it reports directly.

use bytes::Bytes;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use simple_im_tokio::config::Config;
use simple_im_tokio::server::location::Binding;
use simple_im_tokio::server::sip::SipMessage;
use simple_im_tokio::server::transport::Flow;
use simple_im_tokio::server::{self, reply, Options};
use simple_im_tokio::store::{Group, InvitePolicy, NewUser, SqliteStore, Store, UnixMillis};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

/// Members of the room.
const MEMBERS: usize = 1000;
/// UDP sockets the members' contacts share.
const SINKS: usize = 8;
/// Messages outstanding at once in the throughput run.
const IN_FLIGHT: usize = 4;

/// Arrivals of copies per message number: how many, and the last one's time.
type Arrivals = Arc<Mutex<HashMap<u64, (usize, Instant)>>>;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    // Cargo passes `--bench`; anything else is a filter this bench does not use.
    let (latency_messages, throughput_messages) = if quick { (20, 40) } else { (300, 1000) };
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench data dir");
    let (server_addr, server_handle) = start_server(dir.path());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let arrivals: Arrivals = Arc::default();
        let mut sink_addrs = Vec::new();
        for _ in 0..SINKS {
            let socket = sink_socket();
            sink_addrs.push(socket.local_addr().expect("sink addr"));
            tokio::spawn(sink(socket, arrivals.clone()));
        }
        for (i, member) in (0..MEMBERS).map(|i| format!("m{i:04}")).enumerate() {
            let peer = sink_addrs[i % SINKS];
            server_handle.location.update(
                &member,
                Binding {
                    uri: format!("sip:{member}@{peer}"),
                    flow: Flow::Udp { socket: 0, peer },
                    expires_at: Instant::now() + Duration::from_secs(3600),
                    call_id: format!("bench-{member}"),
                    cseq: 1,
                },
                Duration::from_secs(3600),
            );
        }
        let sender = UdpSocket::bind("127.0.0.1:0").await.expect("sender");
        let mut latencies = Vec::new();
        for n in 0..latency_messages {
            let sent = Instant::now();
            send(&sender, server_addr, n).await;
            wait_final(&sender).await;
            let last = wait_all(&arrivals, n).await;
            latencies.push(last.duration_since(sent));
        }
        latencies.sort();
        let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
        println!(
            "groups/fan-out latency, {MEMBERS} members: p50 {:.2} ms, p99 {:.2} ms ({latency_messages} messages, one at a time)",
            pct(50).as_secs_f64() * 1e3,
            pct(99).as_secs_f64() * 1e3
        );

        let started = Instant::now();
        let first = latency_messages;
        let mut outstanding = 0;
        let mut next = first;
        let end = first + throughput_messages;
        let mut answered = 0;
        while answered < throughput_messages {
            while outstanding < IN_FLIGHT && next < end {
                send(&sender, server_addr, next).await;
                next += 1;
                outstanding += 1;
            }
            wait_final(&sender).await;
            outstanding -= 1;
            answered += 1;
        }
        for n in first..end {
            wait_all(&arrivals, n).await;
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "groups/fan-out throughput, {MEMBERS} members, {IN_FLIGHT} in flight: {:.1} group messages/s, {:.0} copies/s",
            throughput_messages as f64 / elapsed,
            (throughput_messages as f64) * ((MEMBERS - 1) as f64) / elapsed
        );
    });
}

/// Starts the server (on its own thread and runtime) with the users and the room; returns its UDP
/// address and the server.
fn start_server(dir: &std::path::Path) -> (SocketAddr, Arc<server::Server>) {
    let text = format!(
        "data_dir = \"{}\"\ntrusted_cores = [\"127.0.0.1\"]\n[sip]\nudp = [\"127.0.0.1:0\"]\ntcp = []\n[msrp]\nlisten = \"127.0.0.1:0\"\n",
        dir.display()
    );
    let config = Config::from_toml(&text, dir).expect("config");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("server runtime");
        runtime.block_on(async move {
            let store = Arc::new(SqliteStore::open(&config.data_dir).expect("store"));
            let adds: Vec<_> = (0..=MEMBERS)
                .map(|i| {
                    let name = if i == MEMBERS {
                        "owner".to_owned()
                    } else {
                        format!("m{i:04}")
                    };
                    let store = store.clone();
                    tokio::spawn(async move {
                        let user = NewUser {
                            credentials: simple_im_tokio::users::credentials(&name, "localhost", "pw"),
                            name,
                            display_name: String::new(),
                            created: UnixMillis::now(),
                        };
                        store.add_user(user).await.expect("user");
                    })
                })
                .collect();
            for add in adds {
                add.await.expect("add");
            }
            let room = Group {
                name: "room".into(),
                owner: "owner".into(),
                private: false,
                may_invite: InvitePolicy::Owner,
                max_participants: 0,
                members: (0..MEMBERS).map(|i| format!("m{i:04}")).collect(),
                created: UnixMillis::now(),
            };
            store.add_group(room).await.expect("room");
            let running = server::start(config, Options::default(), store)
                .await
                .expect("server");
            tx.send((running.udp[0], running.server.clone())).expect("report");
            std::future::pending::<()>().await;
        });
    });
    rx.recv().expect("server started")
}

/// A loopback UDP socket with a receive buffer large enough for a burst of copies (as the server's
/// own sockets have), so that the measurement is not of retransmission timers.
fn sink_socket() -> UdpSocket {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).expect("socket");
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().expect("addr").into())
        .expect("bind");
    socket.set_nonblocking(true).expect("nonblocking");
    UdpSocket::from_std(socket.into()).expect("tokio socket")
}

/// Answers every request 200 and counts copies per message number (the body is `fan-out N`).
async fn sink(socket: UdpSocket, arrivals: Arrivals) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((len, from)) = socket.recv_from(&mut buf).await else {
            return;
        };
        let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(&buf[..len]), false) else {
            continue;
        };
        if msg.status().is_some() {
            continue;
        }
        if let Some(ok) = reply::build(&msg, None, 200, "OK", &[], None) {
            let _ = socket.send_to(&ok, from).await;
        }
        let n = std::str::from_utf8(msg.body())
            .ok()
            .and_then(|b| b.strip_prefix("fan-out "))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(n) = n {
            let mut table = arrivals.lock().expect("arrivals");
            let entry = table.entry(n).or_insert((0, Instant::now()));
            entry.0 += 1;
            entry.1 = Instant::now();
        }
    }
}

/// Sends message number `n` to the room, as the trusted core, from `m0000` (who gets no copy).
async fn send(socket: &UdpSocket, server: SocketAddr, n: u64) {
    let local = socket.local_addr().expect("local");
    let body = format!("fan-out {n}");
    let mut buf = vec![0u8; 2048];
    let mut w = MessageWriter::request(&mut buf, Method::Message, "sip:room@localhost").expect("line");
    w.header_fmt(
        HeaderName::Via,
        format_args!("SIP/2.0/UDP {local};branch=z9hG4bKbench{n}"),
    )
    .expect("via");
    w.header(HeaderName::MaxForwards, "70").expect("mf");
    w.header(HeaderName::From, "<sip:m0000@localhost>;tag=bench")
        .expect("from");
    w.header(HeaderName::To, "<sip:room@localhost>").expect("to");
    w.header_fmt(HeaderName::CallId, format_args!("bench-{n}"))
        .expect("call-id");
    w.header(HeaderName::CSeq, "1 MESSAGE").expect("cseq");
    w.header(HeaderName::ContentType, "text/plain").expect("ct");
    let len = w.finish(body.as_bytes()).expect("finish");
    socket.send_to(&buf[..len], server).await.expect("send");
}

/// Waits for the next final response on the sender's socket.
async fn wait_final(socket: &UdpSocket) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let (len, _) = tokio::time::timeout(Duration::from_secs(30), socket.recv_from(&mut buf))
            .await
            .expect("a final response within 30 s")
            .expect("recv");
        let Ok(msg) = SipMessage::parse(Bytes::copy_from_slice(&buf[..len]), false) else {
            continue;
        };
        match msg.status() {
            Some(200) => return,
            Some(code) if code >= 300 => panic!("the room answered {code} {}", msg.reason()),
            _ => {}
        }
    }
}

/// Waits until every member except the sender has message `n`; returns the last arrival.
async fn wait_all(arrivals: &Arrivals, n: u64) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(&(count, last)) = arrivals.lock().expect("arrivals").get(&n) {
            if count >= MEMBERS - 1 {
                return last;
            }
        }
        assert!(
            Instant::now() < deadline,
            "message {n} did not reach every member"
        );
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}
