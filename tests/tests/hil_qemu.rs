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

/// A panicking firmware ends QEMU with status 1 (the panic handler logs and exits) instead of hanging.
#[test]
fn firmware_panic_ends_qemu_with_failure_status() {
    let mut qemu = boot(Board::Mps2An385);
    let socket = host_udp_socket();
    let status = qemu
        .send_and_wait_exit(&socket, b"PANIC")
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    assert_eq!(
        status.code(),
        Some(1),
        "QEMU exit status after PANIC\n{}",
        qemu.log_text()
    );
}

/// Code (text + rodata + vectors), initialised data and zeroed data of an ELF, from its section flags.
fn footprint(elf: &[u8]) -> (u64, u64, u64) {
    use object::{Object, ObjectSection, SectionFlags, SectionKind};
    let file = object::File::parse(elf).expect("the firmware is an ELF file");
    let (mut code, mut data, mut bss) = (0, 0, 0);
    for section in file.sections() {
        let SectionFlags::Elf { sh_flags } = section.flags() else {
            continue;
        };
        let allocated = sh_flags & u64::from(object::elf::SHF_ALLOC) != 0;
        let writable = sh_flags & u64::from(object::elf::SHF_WRITE) != 0;
        match (allocated, writable, section.kind()) {
            (false, _, _) => {}
            (true, true, SectionKind::UninitializedData) => bss += section.size(),
            (true, true, _) => data += section.size(),
            (true, false, _) => code += section.size(),
        }
    }
    (code, data, bss)
}

/// The budget for the whole QEMU firmware (<= 128 KiB code, <= 64 KiB RAM), and no allocator.
#[test]
fn firmware_fits_the_budget_and_links_no_allocator() {
    use object::{Object, ObjectSymbol};
    for board in [Board::Mps2An385, Board::Mps2An386] {
        let elf = hil::build_firmware(board).unwrap_or_else(|e| panic!("{e}"));
        let bytes = std::fs::read(&elf).expect("the firmware ELF is readable");
        let (code, data, bss) = footprint(&bytes);
        eprintln!("{}: code {code} B, data {data} B, bss {bss} B", board.machine());
        assert!(
            code + data <= 128 * 1024,
            "{}: {code} B code + {data} B data over 128 KiB",
            board.machine()
        );
        assert!(
            data + bss <= 64 * 1024,
            "{}: {data} B data + {bss} B bss over 64 KiB RAM",
            board.machine()
        );
        let file = object::File::parse(&*bytes).expect("the firmware is an ELF file");
        let allocator: Vec<String> = file
            .symbols()
            .filter_map(|s| s.name().ok().map(str::to_string))
            .filter(|name| {
                name.contains("__rust_alloc") || name.contains("__rg_alloc") || name.contains("__rdl_alloc")
            })
            .collect();
        assert!(
            allocator.is_empty(),
            "{}: allocator symbols linked: {allocator:?}",
            board.machine()
        );
    }
}
