//! Hardware-in-loop tests: the QEMU firmware (`boards/qemu-mps2-an385`) booted under QEMU and driven
//! over loopback. Each test gets its own host ports, so they run in parallel. A missing QEMU or
//! defmt-print fails the tests with the command that installs them (`cargo xtask setup`).

use simple_im_tests::hil::{self, Board, Qemu, ECHO_PREFIX};
use std::io::{BufReader, Write};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::{Duration, Instant};

fn boot(board: Board) -> Qemu {
    if let Err(e) = hil::require_tools() {
        panic!("{e}");
    }
    let elf = hil::build_firmware(board).unwrap_or_else(|e| panic!("{e}"));
    let qemu = Qemu::boot(board, &elf).unwrap_or_else(|e| panic!("{e}"));
    let to_ready = qemu.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{}: boot to READY in {} ms",
        board.machine(),
        to_ready.as_millis()
    );
    qemu
}

fn host_udp_socket() -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback UDP socket")
}

fn assert_udp_echo(qemu: &Qemu, socket: &UdpSocket, payload: &str) {
    let answer = qemu
        .udp_round_trip(socket, payload.as_bytes())
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    assert_eq!(
        String::from_utf8_lossy(&answer),
        format!("{ECHO_PREFIX}{payload}")
    );
}

fn assert_exits_zero(qemu: &mut Qemu, socket: &UdpSocket) {
    let status = qemu
        .request_exit(socket)
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    assert_eq!(
        status.code(),
        Some(0),
        "QEMU exit status after EXIT\n{}",
        qemu.log_text()
    );
}

/// UDP and TCP both ways on one board, then EXIT ends QEMU with status 0.
fn echoes_both_protocols_then_exits_zero(board: Board) {
    let started = Instant::now();
    let mut qemu = boot(board);
    let first = host_udp_socket();
    let second = host_udp_socket();
    assert_udp_echo(&qemu, &first, "hello over udp");
    // The echo goes to whichever host socket sent the datagram.
    assert_udp_echo(&qemu, &second, "from another port");
    assert_udp_echo(&qemu, &first, "INVITE sip:bob@example.com SIP/2.0");

    let mut stream = qemu
        .tcp_connect()
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    let mut reader = BufReader::new(stream.try_clone().expect("clone of the TCP stream"));
    let answer = hil::tcp_line_round_trip(&mut stream, &mut reader, "hello over tcp")
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    assert_eq!(answer, format!("{ECHO_PREFIX}hello over tcp"));
    // Two lines in one segment are answered separately and in order.
    stream.write_all(b"line one\nline two\n").expect("TCP write");
    assert_eq!(
        hil::read_line(&mut reader).unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text())),
        format!("{ECHO_PREFIX}line one")
    );
    assert_eq!(
        hil::read_line(&mut reader).unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text())),
        format!("{ECHO_PREFIX}line two")
    );
    drop(reader);
    drop(stream);

    // After the first connection closes, the device accepts a new one.
    let mut again = qemu
        .tcp_connect()
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    let mut reader = BufReader::new(again.try_clone().expect("clone of the TCP stream"));
    let answer = hil::tcp_line_round_trip(&mut again, &mut reader, "second connection")
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    assert_eq!(answer, format!("{ECHO_PREFIX}second connection"));

    assert_exits_zero(&mut qemu, &first);
    eprintln!(
        "{}: whole run {} ms",
        board.machine(),
        started.elapsed().as_millis()
    );
}

#[test]
fn mps2_an385_echoes_udp_and_tcp_and_exits_zero_on_exit() {
    echoes_both_protocols_then_exits_zero(Board::Mps2An385);
}

#[test]
fn mps2_an386_runs_the_same_firmware() {
    echoes_both_protocols_then_exits_zero(Board::Mps2An386);
}

/// The executor sleeps with WFI: an idle guest must not keep a host core busy (with WFE it would use
/// the whole idle window).
#[test]
fn idle_firmware_leaves_the_host_core_mostly_idle() {
    const IDLE: Duration = Duration::from_secs(2);
    let mut qemu = boot(Board::Mps2An385);
    let before = qemu
        .cpu_time()
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    std::thread::sleep(IDLE);
    let used = qemu
        .cpu_time()
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()))
        .saturating_sub(before);
    eprintln!(
        "mps2-an385: QEMU used {} ms of CPU in {} ms idle",
        used.as_millis(),
        IDLE.as_millis()
    );
    assert!(
        used < IDLE / 4,
        "idle QEMU used {used:?} of CPU in {IDLE:?}: is the executor spinning?"
    );
    let socket = host_udp_socket();
    assert_exits_zero(&mut qemu, &socket);
}
