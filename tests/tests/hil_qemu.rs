//! Hardware-in-loop tests: the IM client firmware (`boards/qemu-mps2-an385`) booted under QEMU,
//! registered with the real `simple-im server` on loopback, and exercised by host users. Each test
//! gets its own server (fresh data directory, OS-chosen ports) and its own QEMU host ports, so they
//! run in parallel. A missing QEMU or defmt-print fails the tests with the command that installs
//! them (`cargo xtask setup`).
//!
//! How the server reaches the device: QEMU's user network maps the guest's 10.0.2.2 to the host's
//! 127.0.0.1, so the device sends to the server's loopback port. The other way, the host reaches the
//! guest only through a host forward: the device registers `Contact: <sip:device@127.0.0.1:F>` where
//! F is the forwarded host port, so the server's MESSAGEs to the device go through that forward.

use simple_im_core::client::{ClientConfig, TransportKind};
use simple_im_tests::hil::host_user::{HostEvent, HostUser};
use simple_im_tests::hil::server::ImServer;
use simple_im_tests::hil::{self, Board, Qemu, EVENT_TIMEOUT};
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

const DEVICE: (&str, &str) = ("device", "device-pw");
const ALICE: (&str, &str) = ("alice", "alice-pw");
const DEVICE_AOR: &str = "sip:device@localhost";
const ALICE_AOR: &str = "sip:alice@localhost";

fn start_server() -> ImServer {
    ImServer::start(&[DEVICE, ALICE]).unwrap_or_else(|e| panic!("{e}"))
}

/// Boots the client firmware against `server`; `peer` gets the device's greeting after it registers.
fn boot_device(board: Board, server: &ImServer, peer: Option<&str>) -> Qemu {
    boot_device_variant(board, server, peer, "")
}

/// [`boot_device`] for the firmware built with cargo `features` (`chat`).
fn boot_device_variant(board: Board, server: &ImServer, peer: Option<&str>, features: &str) -> Qemu {
    if let Err(e) = hil::require_tools() {
        panic!("{e}");
    }
    let elf = hil::build_firmware_with(board, features).unwrap_or_else(|e| panic!("{e}"));
    let server_port = server.udp.port();
    let qemu = Qemu::boot_with(board, &elf, |forwarded| {
        let mut words = vec![
            format!("server=10.0.2.2:{server_port}"),
            format!("contact=127.0.0.1:{forwarded}"),
            format!("aor={DEVICE_AOR}"),
            format!("user={}", DEVICE.0),
            format!("password={}", DEVICE.1),
        ];
        words.extend(peer.map(|p| format!("peer={p}")));
        words
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let to_ready = qemu.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{}: boot to READY in {} ms",
        board.machine(),
        to_ready.as_millis()
    );
    qemu
}

fn wait_device_event(qemu: &Qemu, pattern: &str, count: usize) -> String {
    qemu.wait_log(pattern, count, EVENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn host_user(server: &ImServer, (name, password): (&str, &str)) -> HostUser {
    HostUser::register(name, password, server.udp).unwrap_or_else(|e| panic!("{e}"))
}

/// A pager `EXIT` from a host user ends the firmware's run with status 0.
fn stop_device(qemu: &mut Qemu, alice: &mut HostUser) {
    alice
        .send_pager(DEVICE_AOR, "EXIT", false)
        .unwrap_or_else(|e| panic!("{e}"));
    // The device answers 200 before it exits; the host user's transaction sees it or times out.
    let _ = alice.wait_for(Duration::from_secs(3), |e| {
        matches!(e, HostEvent::PagerSent | HostEvent::PagerFailed(_))
    });
    let status = qemu.wait_exit().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status.code(),
        Some(0),
        "QEMU exit status after EXIT\n{}",
        qemu.log_text()
    );
}

fn registers_and_exits(board: Board) {
    let server = start_server();
    let mut qemu = boot_device(board, &server, None);
    let line = wait_device_event(&qemu, "EVENT registered", 1);
    assert!(line.contains("expires="), "{line}");
    assert!(
        qemu.log_text().matches("EVENT registration-failed").count() == 0,
        "{}",
        qemu.log_text()
    );
    let mut alice = host_user(&server, ALICE);
    stop_device(&mut qemu, &mut alice);
}

/// The server challenges every REGISTER (digest): `registered` means the device answered it.
#[test]
fn mps2_an385_device_registers_with_digest() {
    registers_and_exits(Board::Mps2An385);
}

#[test]
fn mps2_an386_runs_the_same_firmware() {
    registers_and_exits(Board::Mps2An386);
}

#[test]
fn host_message_reaches_device_which_returns_delivery_and_display_notifications() {
    let server = start_server();
    let mut qemu = boot_device(Board::Mps2An385, &server, None);
    wait_device_event(&qemu, "EVENT registered", 1);
    let mut alice = host_user(&server, ALICE);
    alice
        .send_pager_accepted(DEVICE_AOR, "hi device", true)
        .unwrap_or_else(|e| panic!("{e}"));
    let line = wait_device_event(&qemu, "EVENT pager-received", 1);
    assert!(line.contains("body=hi device"), "{line}");
    assert!(line.contains("alice@localhost"), "{line}");
    alice
        .wait_for(EVENT_TIMEOUT, |e| *e == HostEvent::Delivered)
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    alice
        .wait_for(EVENT_TIMEOUT, |e| *e == HostEvent::Displayed)
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    stop_device(&mut qemu, &mut alice);
}

#[test]
fn device_message_reaches_host_user() {
    let server = start_server();
    let mut alice = host_user(&server, ALICE);
    let mut qemu = boot_device(Board::Mps2An385, &server, Some(ALICE_AOR));
    let received = alice
        .wait_for(Duration::from_secs(20), |e| {
            matches!(e, HostEvent::PagerReceived { .. })
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    match received {
        HostEvent::PagerReceived { from, body } => {
            assert_eq!(body, "hello from device");
            assert!(from.contains("device@localhost"), "{from}");
        }
        other => panic!("{other:?}"),
    }
    wait_device_event(&qemu, "EVENT pager-sent", 1);
    stop_device(&mut qemu, &mut alice);
}

#[test]
fn message_to_an_offline_device_is_deferred_until_it_registers() {
    let server = start_server();
    let mut alice = host_user(&server, ALICE);
    // No device has ever registered: the server stores the message (2xx to the sender).
    alice
        .send_pager_accepted(DEVICE_AOR, "stored for later", false)
        .unwrap_or_else(|e| panic!("the server should accept and defer the message: {e}"));
    let mut qemu = boot_device(Board::Mps2An385, &server, None);
    wait_device_event(&qemu, "EVENT registered", 1);
    let line = wait_device_event(&qemu, "EVENT pager-received", 1);
    assert!(line.contains("body=stored for later"), "{line}");
    stop_device(&mut qemu, &mut alice);
}

/// A MESSAGE as a host peer would send it straight to the device's forwarded port.
fn raw_message(cseq_method: &str, body: &str) -> Vec<u8> {
    format!(
        "MESSAGE sip:device@127.0.0.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-hil-{cseq_method}-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:mallory@localhost>;tag=hil1\r\n\
         To: <sip:device@localhost>\r\n\
         Call-ID: hil-raw-{}@127.0.0.1\r\n\
         CSeq: 1 {cseq_method}\r\n\
         Content-Type: text/plain\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len(),
        body.len(),
        body.len()
    )
    .into_bytes()
}

fn status_of(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[test]
fn malformed_and_oversized_messages_are_refused_and_device_keeps_working() {
    let server = start_server();
    let mut qemu = boot_device(Board::Mps2An385, &server, None);
    wait_device_event(&qemu, "EVENT registered", 1);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("a loopback UDP socket");

    // CSeq names another method than the request line: RFC 3261 §8.2 makes that a 400.
    let answer = qemu
        .udp_round_trip(&socket, &raw_message("INVITE", "bad"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status_of(&answer).starts_with("SIP/2.0 400"),
        "{}",
        status_of(&answer)
    );
    wait_device_event(&qemu, "EVENT rejected status=400", 1);

    // A body over the device's 1024-byte pager limit gets 413. The datagram stays under the
    // Ethernet MTU: the device's IP stack does not reassemble fragments.
    let big = "x".repeat(1100);
    let answer = qemu
        .udp_round_trip(&socket, &raw_message("MESSAGE", &big))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status_of(&answer).starts_with("SIP/2.0 413"),
        "{}",
        status_of(&answer)
    );
    wait_device_event(&qemu, "EVENT rejected status=413", 1);

    // Still registered and receiving.
    let mut alice = host_user(&server, ALICE);
    alice
        .send_pager_accepted(DEVICE_AOR, "still there?", false)
        .unwrap_or_else(|e| panic!("{e}"));
    let line = wait_device_event(&qemu, "EVENT pager-received", 1);
    assert!(line.contains("body=still there?"), "{line}");
    stop_device(&mut qemu, &mut alice);
}

/// The executor sleeps with WFI: an idle registered device must not keep a host core busy.
#[test]
fn idle_firmware_leaves_the_host_core_mostly_idle() {
    const IDLE: Duration = Duration::from_secs(2);
    let server = start_server();
    let mut qemu = boot_device(Board::Mps2An385, &server, None);
    wait_device_event(&qemu, "EVENT registered", 1);
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
    let mut alice = host_user(&server, ALICE);
    stop_device(&mut qemu, &mut alice);
}

/// A panicking firmware ends QEMU with status 1 (the panic handler logs and exits) instead of hanging.
#[test]
fn firmware_panic_ends_qemu_with_failure_status() {
    let server = start_server();
    let mut qemu = boot_device(Board::Mps2An385, &server, None);
    wait_device_event(&qemu, "EVENT registered", 1);
    let mut alice = host_user(&server, ALICE);
    alice
        .send_pager(DEVICE_AOR, "PANIC", false)
        .unwrap_or_else(|e| panic!("{e}"));
    // Runs the host user through the server's challenge; the device never answers (it panics).
    let _ = alice.wait_for(Duration::from_secs(3), |e| matches!(e, HostEvent::PagerSent));
    let status = qemu.wait_exit().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        status.code(),
        Some(1),
        "QEMU exit status after PANIC\n{}",
        qemu.log_text()
    );
}

/// OMA DM-1 provisioning: the server address and credentials come only from a postcard blob in flash
/// (the command line names neither, and the firmware's default password is not the device's), so a
/// registration proves the firmware read the blob.
#[test]
fn device_registers_with_the_configuration_provisioned_in_flash() {
    let server = start_server();
    let config = ClientConfig::new(
        &format!("10.0.2.2:{}", server.udp.port()),
        TransportKind::Udp,
        DEVICE_AOR,
        DEVICE.0,
        DEVICE.1,
    )
    .expect("a valid configuration");
    let blob = hil::provisioning_blob(&config).unwrap_or_else(|e| panic!("{e}"));
    let path = std::env::temp_dir().join(format!("simple-im-hil-provisioning-{}.bin", std::process::id()));
    std::fs::write(&path, &blob).expect("the blob is written");
    if let Err(e) = hil::require_tools() {
        panic!("{e}");
    }
    let elf = hil::build_firmware(Board::Mps2An385).unwrap_or_else(|e| panic!("{e}"));
    let loader = format!(
        "loader,file={},addr={:#x},force-raw=on",
        path.display(),
        hil::PROVISIONING_ADDRESS
    );
    let mut qemu = Qemu::boot_with_qemu_args(
        Board::Mps2An385,
        &elf,
        |forwarded| vec![format!("contact=127.0.0.1:{forwarded}")],
        &["-device".to_string(), loader],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    qemu.wait_ready().unwrap_or_else(|e| panic!("{e}"));
    wait_device_event(&qemu, "configuration provisioned in flash", 1);
    wait_device_event(&qemu, "EVENT registered", 1);
    let _ = std::fs::remove_file(&path);
    let mut alice = host_user(&server, ALICE);
    stop_device(&mut qemu, &mut alice);
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

/// Session mode over MSRP through the server: the host user pages the chat-capable firmware `CHAT`,
/// the device INVITEs her (the server challenges the INVITE: digest), she accepts, the device
/// connects out to her MSRP port (advertised as 10.0.2.2:port, the host's loopback seen from QEMU),
/// and a chat message goes each way over that connection.
#[test]
fn chat_over_msrp_between_the_device_and_a_host_user() {
    let server = start_server();
    let mut qemu = boot_device_variant(Board::Mps2An385, &server, None, "chat");
    wait_device_event(&qemu, "EVENT registered", 1);
    let mut alice = host_user(&server, ALICE);
    alice.listen_for_chats().unwrap_or_else(|e| panic!("{e}"));
    alice
        .send_pager_accepted(DEVICE_AOR, "CHAT", false)
        .unwrap_or_else(|e| panic!("{e}"));
    let chat = match alice.wait_for(EVENT_TIMEOUT, |e| matches!(e, HostEvent::ChatInvitation(_))) {
        Ok(HostEvent::ChatInvitation(chat)) => chat,
        other => panic!("no invitation from the device: {other:?}\n{}", qemu.log_text()),
    };
    alice.accept_chat(chat).unwrap_or_else(|e| panic!("{e}"));
    // The device's side of the dialog is confirmed by the 2xx. (The host user's side waits for the
    // device's ACK, which today's server does not route back: its 2xx carries no Record-Route, so the
    // ACK reaches the server without a Route naming it. MSRP does not depend on it.)
    alice
        .run_for(Duration::from_millis(200))
        .unwrap_or_else(|e| panic!("{e}"));
    wait_device_event(&qemu, "EVENT chat-established", 1);
    chat_both_ways(&qemu, &mut alice, "hello device", 1);
    stop_device(&mut qemu, &mut alice);
}

/// A message from the host user to the device and the device's reply, over the chat's MSRP
/// connection; `nth` counts the device's `chat-body` lines so far.
fn chat_both_ways(qemu: &Qemu, alice: &mut HostUser, text: &str, nth: usize) {
    alice.send_chat(text).unwrap_or_else(|e| panic!("{e}"));
    let reply = alice.wait_for(EVENT_TIMEOUT, |e| matches!(e, HostEvent::ChatText(_)));
    let line = wait_device_event(qemu, "EVENT chat-body", nth);
    assert!(line.contains(&format!("text={text}")), "{line}");
    assert_eq!(
        reply,
        Ok(HostEvent::ChatText("chat received".into())),
        "the device's reply over MSRP\n{}",
        qemu.log_text()
    );
}

/// The other way round: the host user INVITEs the device (offering `actpass`), the device accepts
/// at once (the demo takes every invitation), answers `active` and connects to her, and a message
/// goes each way.
#[test]
fn chat_over_msrp_when_the_host_user_invites_the_device() {
    let server = start_server();
    let mut qemu = boot_device_variant(Board::Mps2An385, &server, None, "chat");
    wait_device_event(&qemu, "EVENT registered", 1);
    let mut alice = host_user(&server, ALICE);
    alice.listen_for_chats().unwrap_or_else(|e| panic!("{e}"));
    alice.invite_chat(DEVICE_AOR).unwrap_or_else(|e| panic!("{e}"));
    alice
        .wait_for(EVENT_TIMEOUT, |e| *e == HostEvent::ChatEstablished)
        .unwrap_or_else(|e| panic!("{e}\n{}", qemu.log_text()));
    wait_device_event(&qemu, "EVENT chat-invitation", 1);
    chat_both_ways(&qemu, &mut alice, "hello from the host", 1);
    stop_device(&mut qemu, &mut alice);
}
