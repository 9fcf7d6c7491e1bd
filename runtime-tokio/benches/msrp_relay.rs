//! The MSRP relay's throughput and idle cost, run by `cargo xtask bench msrp` after the criterion parts.
//!
//! The relay runs in a child process (this binary with `--child`), on a one-thread Tokio runtime like
//! `simple-im server`, with the relay code the server uses (`server::msrp::MsrpRelay`); sessions are
//! opened through the same offer/answer calls the INVITE proxy makes, from synthetic SIP messages.
//! The same child also runs the references: plain Tokio TCP copy-proxies (`tokio::io::copy_buf` each
//! way between the first two connections each accepts), one reading 64 KiB at once (the relay's read
//! size while a body streams) and one 256 KiB.
//!
//! 1. Throughput: one sender writes SEND chunks of 1 MiB (Failure-Report `no`) totalling 1 GiB (256 MiB
//!    with `--quick`) through the relay and through each copy-proxy; one receiver parses the stream
//!    with the core's `ChunkReader` up to the last end-line. Five rounds run over the same
//!    connections, each through all three, in an order that rotates from round to round. Printed:
//!    median [min - max] MB/s of each; the same as MB per CPU-second of the child's runtime thread
//!    (`/proc/PID/schedstat`), which other load on the machine moves much less; the per-round ratios
//!    relay / each proxy; and the verdict against the faster copy-proxy (higher median throughput),
//!    as the median of the per-round ratios (target >= 0.8). All proxies are tasks of the same
//!    one-thread runtime in the same child, with the same socket options (`TCP_NODELAY`).
//!    `--throughput-only` skips part 2.
//! 2. Idle sessions: 10,000 relay sessions (1,000 with `--quick`), both legs connected and bound with a
//!    bodiless SEND, then nothing. Printed: the child's resident memory growth per session (target
//!    < 4 KiB) and, to tell the relay's own allocations from memory the allocator keeps, the growth of
//!    the heap in use (glibc `mallinfo2`). Kernel socket buffers are not in a process's RSS, so this is
//!    the relay's own cost. Every session costs two descriptors on each side: the bench raises the soft
//!    open-file limit to what it needs, or to the hard limit, and runs fewer sessions (saying so) when
//!    the hard limit is lower and cannot be raised (no CAP_SYS_RESOURCE).
//!
//! Both parts run on the bench machine next to the client side; on a loaded 2-core machine the
//! absolute figures move, the ratio less so.

use bytes::Bytes;
use simple_im_core::msrp::wire::{ChunkEvent, ChunkReader};
use simple_im_tokio::server::msrp::MsrpRelay;
use simple_im_tokio::server::sip::SipMessage;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CHUNK: usize = 1 << 20;
/// Throughput runs of each kind (alternating relay and copy-proxy).
const REPETITIONS: usize = 5;
/// Read sizes of the reference copy-proxies.
const PROXY_READS_KIB: [usize; 2] = [64, 256];
/// Descriptors each process needs besides two per session (stdio, pipes, epoll, listeners).
const FD_MARGIN: u64 = 24;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--child") {
        child();
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (bytes, mut sessions) = if quick {
        (256u64 << 20, 1_000)
    } else {
        (1u64 << 30, 10_000)
    };
    if args.iter().any(|a| a == "--throughput-only") {
        sessions = 0;
    }
    let allowed = raise_fd_limit(2 * sessions as u64 + FD_MARGIN);
    // Each side holds two descriptors per session: without the privilege to raise the hard limit,
    // run as many sessions as it allows (and say so).
    let wanted = sessions;
    let sessions = sessions.min((allowed.saturating_sub(FD_MARGIN) / 2) as usize);
    if sessions < wanted {
        println!("open-file limit {allowed} (hard limit, not raisable here): {sessions} idle sessions, not {wanted}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(parent(bytes, sessions));
}

/// Lets this process and the child hold two descriptors per session (root may raise the hard
/// limit); returns the soft limit in force.
fn raise_fd_limit(want: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur >= want {
            return limit.rlim_cur;
        }
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: limit.rlim_max.max(want),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) != 0 {
            let soft = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &soft);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit);
        limit.rlim_cur
    }
}

/// The child: answers one command per stdin line.
///
/// | command | answer |
/// |---|---|
/// | `relay` | `ADDR` of the relay |
/// | `proxy` | `ADDR` of the copy-proxy |
/// | `sessions N` | N lines `CALLER-REMOTE-PATH|CALLEE-REMOTE-PATH` |
fn child() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let relay = MsrpRelay::start("127.0.0.1:0".parse().unwrap(), None)
            .await
            .expect("relay");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut calls = 0u64;
        while let Some(line) = rx.recv().await {
            let mut out = std::io::stdout().lock();
            match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["relay"] => {
                    let _ = writeln!(out, "{}", relay.local_addr());
                }
                ["proxy", kib] => {
                    let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy");
                    let _ = writeln!(out, "{}", listener.local_addr().unwrap());
                    tokio::spawn(copy_proxy(listener, kib.parse::<usize>().unwrap_or(64) * 1024));
                }
                ["heap"] => {
                    let (in_use, free) = heap();
                    let _ = writeln!(out, "{in_use} {free}");
                }
                ["sessions", n] => {
                    for _ in 0..n.parse::<u64>().unwrap_or(0) {
                        calls += 1;
                        let (caller, callee) = open_session(&relay, calls);
                        let _ = writeln!(out, "{caller}|{callee}");
                    }
                }
                _ => {}
            }
            let _ = out.flush();
        }
    });
}

/// Bytes the allocator has handed out and not got back, and freed bytes it keeps in its heap (both
/// count in RSS once touched).
fn heap() -> (usize, usize) {
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let info = unsafe { libc::mallinfo2() };
    (info.uordblks, info.fordblks)
}

async fn copy_proxy(listener: TcpListener, read_size: usize) {
    let (a, _) = listener.accept().await.expect("first connection");
    let (b, _) = listener.accept().await.expect("second connection");
    let _ = a.set_nodelay(true);
    let _ = b.set_nodelay(true);
    let (ar, mut aw) = a.into_split();
    let (br, mut bw) = b.into_split();
    // Plain `tokio::io::copy` reads 8 KiB at a time; the relay's reads are its FIRST_READ and READ_BUFFER.
    let mut ar = tokio::io::BufReader::with_capacity(read_size, ar);
    let mut br = tokio::io::BufReader::with_capacity(read_size, br);
    let one = tokio::spawn(async move { tokio::io::copy_buf(&mut ar, &mut bw).await });
    let _ = tokio::io::copy_buf(&mut br, &mut aw).await;
    let _ = one.await;
}

fn endpoint(kind: &str, call: u64) -> String {
    format!("msrp://127.0.0.1:9/{kind}{call};tcp")
}

fn sdp(path: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=message 9 TCP/MSRP *\r\n\
a=accept-types:*\r\na=path:{path}\r\na=setup:active\r\n"
    )
}

fn sip(start: &str, call: u64, body: &str) -> SipMessage {
    let text = format!(
        "{start}\r\nVia: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKbench{call}\r\nMax-Forwards: 70\r\n\
From: <sip:alice@localhost>;tag=a{call}\r\nTo: <sip:bob@localhost>\r\nCall-ID: bench-{call}\r\n\
CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    SipMessage::parse(Bytes::from(text), true).expect("synthetic SIP message")
}

fn path_of(msg: &SipMessage) -> String {
    let body = std::str::from_utf8(msg.body()).unwrap_or("");
    body.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=path:"))
        .unwrap_or("")
        .to_owned()
}

/// Opens a relay session as the INVITE proxy does; returns the paths the caller and callee are given.
fn open_session(relay: &std::sync::Arc<MsrpRelay>, call: u64) -> (String, String) {
    let invite = sip(
        "INVITE sip:bob@localhost SIP/2.0",
        call,
        &sdp(&endpoint("a", call)),
    );
    let (offer, media) = relay.offer(&invite).expect("offer");
    let ok = sip("SIP/2.0 200 OK", call, &sdp(&endpoint("b", call)));
    let answer = media.answer(&ok).expect("answer");
    (path_of(&answer), path_of(&offer))
}

struct Relay {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Relay {
    fn spawn() -> Relay {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .arg("--child")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("child");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Relay { child, stdin, stdout }
    }

    fn ask(&mut self, command: &str, lines: usize) -> Vec<String> {
        writeln!(self.stdin, "{command}").expect("child alive");
        self.stdin.flush().unwrap();
        (0..lines)
            .map(|_| {
                let mut line = String::new();
                self.stdout.read_line(&mut line).expect("child answers");
                line.trim_end().to_owned()
            })
            .collect()
    }

    /// The child allocator's (in use, free) heap bytes.
    fn heap(&mut self) -> (usize, usize) {
        let line = self.ask("heap", 1).remove(0);
        let mut numbers = line.split_whitespace().map(|n| n.parse().unwrap_or(0));
        (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
    }

    /// CPU time the child's main thread (its runtime) has used, in nanoseconds.
    fn cpu_ns(&self) -> u64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/schedstat", self.child.id())).unwrap_or_default();
        stat.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn authority(path: &str) -> String {
    let first = path.split_whitespace().next().unwrap_or("");
    first
        .trim_start_matches("msrp://")
        .split('/')
        .next()
        .unwrap_or("")
        .to_owned()
}

/// Connects an endpoint whose remote path is `remote` and binds it with a bodiless SEND.
async fn bind(local: &str, remote: &str) -> TcpStream {
    let mut stream = TcpStream::connect(authority(remote))
        .await
        .expect("connect to the relay");
    let _ = stream.set_nodelay(true);
    let send = format!(
        "MSRP bind SEND\r\nTo-Path: {remote}\r\nFrom-Path: {local}\r\nMessage-ID: bind\r\nByte-Range: 1-0/0\r\n-------bind$\r\n"
    );
    stream.write_all(send.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while !got.ends_with(b"-------bind$\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the relay closed a binding connection");
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        got.starts_with(b"MSRP bind 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    stream
}

fn body() -> Vec<u8> {
    simple_im_tests::bench_data::file_like(CHUNK)
}

/// Sends `total` body bytes from `tx` and returns when `rx` has parsed the last one: MB/s, and `rx`
/// back for the next repetition.
async fn transfer(
    tx: &mut TcpStream,
    mut rx: TcpStream,
    to: &str,
    from: &str,
    total: u64,
    body: &[u8],
) -> (f64, TcpStream) {
    let receiver = tokio::spawn(async move {
        let mut reader: Box<ChunkReader> = Box::default();
        let mut buf = vec![0u8; 256 * 1024];
        let (mut filled, mut received) = (0usize, 0u64);
        // Up to the last chunk's end-line, so that the next run starts on a clean stream.
        let mut last_end_seen = false;
        while !last_end_seen {
            let n = rx.read(&mut buf[filled..]).await.expect("receiver reads");
            assert!(n > 0, "connection closed after {received} bytes");
            filled += n;
            let mut pos = 0;
            loop {
                let (used, event) = reader.feed(&buf[pos..filled]).expect("MSRP framing");
                match event {
                    None => {
                        pos += used;
                        break;
                    }
                    Some(ChunkEvent::Body(bytes)) => {
                        received += bytes.len() as u64;
                        pos += bytes.len();
                    }
                    Some(ChunkEvent::End(_)) if received >= total => {
                        pos += used;
                        last_end_seen = true;
                    }
                    Some(_) => pos += used,
                }
            }
            buf.copy_within(pos..filled, 0);
            filled -= pos;
        }
        rx
    });
    let started = Instant::now();
    let mut offset = 0u64;
    let mut n = 0;
    while offset < total {
        let len = (total - offset).min(CHUNK as u64);
        let last = offset + len == total;
        n += 1;
        let head = format!(
            "MSRP c{n} SEND\r\nTo-Path: {to}\r\nFrom-Path: {from}\r\nMessage-ID: big\r\nByte-Range: {}-{}/{total}\r\n\
Failure-Report: no\r\nContent-Type: application/octet-stream\r\n\r\n",
            offset + 1,
            offset + len
        );
        tx.write_all(head.as_bytes()).await.unwrap();
        tx.write_all(&body[..len as usize]).await.unwrap();
        let end = format!("\r\n-------c{n}{}\r\n", if last { '$' } else { '+' });
        tx.write_all(end.as_bytes()).await.unwrap();
        offset += len;
    }
    let rx = receiver.await.expect("receiver");
    (total as f64 / started.elapsed().as_secs_f64() / 1e6, rx)
}

/// `median [min - max]` of `values`, with `decimals` decimals.
fn spread(values: &mut [f64], decimals: usize) -> String {
    values.sort_by(f64::total_cmp);
    let (first, last) = (values.first().copied(), values.last().copied());
    let median = values.get(values.len() / 2).copied().unwrap_or(0.0);
    format!(
        "{median:>10.decimals$} [{:.decimals$} - {:.decimals$}]",
        first.unwrap_or(0.0),
        last.unwrap_or(0.0)
    )
}

/// One way through the child: the relay or a copy-proxy, with its own connections and speeds.
struct Contender {
    name: String,
    tx: TcpStream,
    rx: Option<TcpStream>,
    /// To-Path and From-Path of the chunks the sender writes.
    to: String,
    from: String,
    speeds: Vec<f64>,
    /// MB per second of the child's CPU time (its one runtime thread): what it would carry with a
    /// core to itself, a figure that other load on the machine moves much less than `speeds`.
    per_cpu: Vec<f64>,
}

/// Throughput: rounds in which the relay and every copy-proxy carry `bytes` each, in an order that
/// rotates from round to round (none always runs first, right after the previous round's load).
/// Prints the spreads and the verdict against the faster copy-proxy.
async fn throughput(relay: &mut Relay, bytes: u64) {
    let legs = relay.ask("sessions 1", 1).remove(0);
    let (caller_remote, callee_remote) = legs.split_once('|').expect("two paths");
    let caller = endpoint("a", 1);
    let callee = endpoint("b", 1);
    let mut contenders = vec![Contender {
        name: "msrp relay/throughput".into(),
        tx: bind(&caller, caller_remote).await,
        rx: Some(bind(&callee, callee_remote).await),
        to: caller_remote.to_owned(),
        from: caller.clone(),
        speeds: Vec::new(),
        per_cpu: Vec::new(),
    }];
    for kib in PROXY_READS_KIB {
        let addr = relay.ask(&format!("proxy {kib}"), 1).remove(0);
        let tx = TcpStream::connect(&addr).await.unwrap();
        let rx = TcpStream::connect(&addr).await.unwrap();
        let _ = (tx.set_nodelay(true), rx.set_nodelay(true));
        contenders.push(Contender {
            name: format!("copy-proxy/{kib:<3} KiB reads"),
            tx,
            rx: Some(rx),
            to: callee.clone(),
            from: caller.clone(),
            speeds: Vec::new(),
            per_cpu: Vec::new(),
        });
    }
    let body = body();
    let count = contenders.len();
    for round in 0..REPETITIONS {
        for turn in 0..count {
            let Some(c) = contenders.get_mut((round + turn) % count) else {
                continue;
            };
            let Some(receiver) = c.rx.take() else { continue };
            let cpu_before = relay.cpu_ns();
            let (speed, receiver) = transfer(&mut c.tx, receiver, &c.to, &c.from, bytes, &body).await;
            let cpu = relay.cpu_ns().saturating_sub(cpu_before).max(1);
            c.rx = Some(receiver);
            c.speeds.push(speed);
            c.per_cpu.push(bytes as f64 / (cpu as f64 / 1e9) / 1e6);
        }
    }
    let mib = bytes >> 20;
    println!(
        "throughput: {REPETITIONS} rounds of {mib} MiB each through every proxy (order rotating), 1 MiB chunks; \
median [min - max]"
    );
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
    };
    for c in &contenders {
        let note = if c.name.starts_with("copy") {
            "  (tokio::io::copy_buf)"
        } else {
            ""
        };
        println!("{:<26} {} MB/s{note}", c.name, spread(&mut c.speeds.clone(), 1));
    }
    println!("the same, in MB per CPU-second of the child's runtime thread:");
    for c in &contenders {
        println!("{:<26} {} MB/cpu-s", c.name, spread(&mut c.per_cpu.clone(), 1));
    }
    // The faster copy-proxy is the one with the higher median; the relay is compared with it round by
    // round (paired: both ran within seconds of each other). Taking the faster proxy anew in each
    // round would compare the relay with the larger of two noisy figures, a bias against it.
    let (relay_path, proxies) = contenders.split_first().expect("the relay is first");
    let faster = proxies
        .iter()
        .max_by(|a, b| median(&a.speeds).total_cmp(&median(&b.speeds)))
        .expect("a copy-proxy");
    let paired = |proxy: &Contender, of: fn(&Contender) -> &Vec<f64>| -> Vec<f64> {
        of(relay_path).iter().zip(of(proxy)).map(|(r, p)| r / p).collect()
    };
    for proxy in proxies {
        println!(
            "ratio relay / {:<20} {}   by CPU time: {}",
            proxy.name.trim_start_matches("copy-proxy/"),
            spread(&mut paired(proxy, |c| &c.speeds), 2),
            spread(&mut paired(proxy, |c| &c.per_cpu), 2)
        );
    }
    let ratio = median(&paired(faster, |c| &c.speeds));
    let cpu_ratio = median(&paired(faster, |c| &c.per_cpu));
    let verdict = if ratio >= 0.8 { "met" } else { "NOT met" };
    println!(
        "verdict: relay / faster copy-proxy ({}) = {ratio:.2} (median of per-round throughput ratios; \
{cpu_ratio:.2} by CPU time per byte), target >= 0.8: {verdict}",
        faster.name.trim_start_matches("copy-proxy/").trim_end()
    );
}

async fn parent(bytes: u64, sessions: usize) {
    let mut relay = Relay::spawn();
    let relay_addr = relay.ask("relay", 1).remove(0);
    println!(
        "msrp relay bench (relay child pid {}, at {relay_addr})",
        relay.child.id()
    );
    throughput(&mut relay, bytes).await;
    // Lets the child end those connections (and free their buffers) before the idle baseline.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    if sessions == 0 {
        return;
    }

    // 2. Idle sessions: both legs bound, then quiet.
    let baseline = relay.rss_kib();
    let heap_before = relay.heap();
    let mut held = Vec::with_capacity(2 * sessions);
    let started = Instant::now();
    let mut opened = 0;
    while opened < sessions {
        let batch = (sessions - opened).min(500);
        for line in relay.ask(&format!("sessions {batch}"), batch) {
            let call = 2 + opened as u64;
            let (caller_remote, callee_remote) = line.split_once('|').expect("two paths");
            held.push(bind(&endpoint("a", call), caller_remote).await);
            held.push(bind(&endpoint("b", call), callee_remote).await);
            opened += 1;
        }
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let loaded = relay.rss_kib();
    let heap_after = relay.heap();
    let per_session = (loaded.saturating_sub(baseline)) as f64 * 1024.0 / sessions as f64;
    println!(
        "idle sessions              {sessions:>10}      (bound in {:.1} s)",
        started.elapsed().as_secs_f64()
    );
    println!("relay RSS                  {baseline:>10} -> {loaded} KiB");
    println!("relay RSS per idle session {per_session:>10.0} B    (target < 4096)");
    let per = |after: usize, before: usize| after.saturating_sub(before) as f64 / sessions as f64;
    println!(
        "  of which heap in use      {:>9.0} B    (allocated and not freed)",
        per(heap_after.0, heap_before.0)
    );
    println!(
        "  and freed heap kept       {:>9.0} B    (fragmentation the allocator cannot return)",
        per(heap_after.1, heap_before.1)
    );
    drop(held);
}
