//! Hardware-in-loop helpers: build the QEMU firmware, boot it, and talk to it over loopback.
//!
//! A run gets its own host ports (the UDP and TCP forwards and the READY listener), so tests can run
//! in parallel. The harness never retries a connect to learn whether the guest is up: QEMU accepts a
//! host connect before the guest listens, so the only readiness signal is the guest's READY datagram.
//! Every wait is bounded, and `Qemu` kills the emulator (and its log decoder) when dropped, so a failing
//! assertion never leaves a QEMU behind.
//!
//! The firmware is the IM client demo (`boards/qemu-mps2-an385/src/demo.rs`): [`Qemu::boot_with`]
//! passes it its settings, [`server::ImServer`] is the real server it registers with, and
//! [`host_user::HostUser`] is a user on the host side. The device reports what happens as `EVENT ...`
//! log lines, which [`Qemu::wait_log`] waits for.

pub mod host_user;
pub mod server;

use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The board targets the firmware builds for, with the QEMU machine each runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Board {
    /// mps2-an385, Cortex-M3 (`thumbv7m-none-eabi`).
    Mps2An385,
    /// mps2-an386, Cortex-M4F (`thumbv7em-none-eabihf`), same memory map and Ethernet.
    Mps2An386,
}

impl Board {
    pub fn target(self) -> &'static str {
        match self {
            Board::Mps2An385 => "thumbv7m-none-eabi",
            Board::Mps2An386 => "thumbv7em-none-eabihf",
        }
    }

    pub fn machine(self) -> &'static str {
        match self {
            Board::Mps2An385 => "mps2-an385",
            Board::Mps2An386 => "mps2-an386",
        }
    }
}

/// The guest's address and the datagram it sends when its sockets are open.
pub const READY_MESSAGE: &str = "READY 10.0.2.15";
/// Flash address of the provisioning blob the firmware reads at boot (`boards/.../memory.x`).
pub const PROVISIONING_ADDRESS: u32 = 0x003F_F000;
/// The blob's first bytes; a little-endian u16 length and the postcard `ClientConfig` follow.
pub const PROVISIONING_MAGIC: &[u8; 4] = b"SIMC";

/// The provisioning blob for `config` (what an OMA DM-1 provisioning step writes into flash).
pub fn provisioning_blob(config: &simple_im_core::client::ClientConfig) -> Result<Vec<u8>, String> {
    let mut encoded = [0u8; 512];
    let bytes = config.to_postcard(&mut encoded).map_err(|e| e.to_string())?;
    let len = u16::try_from(bytes.len()).map_err(|_| "config too long".to_string())?;
    let mut blob = PROVISIONING_MAGIC.to_vec();
    blob.extend_from_slice(&len.to_le_bytes());
    blob.extend_from_slice(bytes);
    Ok(blob)
}

/// Bound on one device event after the input that causes it (a SIP transaction over loopback).
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on one firmware build (a clean release build takes 20-30 s alone; the machine is shared).
pub const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound from QEMU start to the READY datagram (about 10 ms when the machine is idle).
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Bound on one echo round trip.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound from EXIT to QEMU's exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);

const DEFMT_PRINT: &str = "defmt-print";

/// The QEMU binary: `qemu-system-arm` from PATH, or the program named by `SIMPLE_IM_QEMU` (for a
/// QEMU built elsewhere).
pub fn qemu_program() -> String {
    std::env::var("SIMPLE_IM_QEMU").unwrap_or_else(|_| "qemu-system-arm".into())
}

/// The firmware crate's directory.
pub fn board_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../boards/qemu-mps2-an385")
}

/// Fails (never skips) when a tool the HIL tests need is missing, saying how to install it.
pub fn require_tools() -> Result<(), String> {
    for tool in [qemu_program().as_str(), DEFMT_PRINT] {
        let found = Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if found.is_err() {
            return Err(format!(
                "{tool} is not installed: the hardware-in-loop tests need it. Run `cargo xtask setup` \
                 (installs qemu-system-arm from bookworm-backports and defmt-print)"
            ));
        }
    }
    Ok(())
}

/// Builds the release firmware (the pager client) for `board` and returns the path of a copy of its
/// ELF that no later build overwrites.
pub fn build_firmware(board: Board) -> Result<PathBuf, String> {
    build_firmware_with(board, "")
}

/// [`build_firmware`] with the firmware's cargo `features` (`chat`: one chat over MSRP). Each variant
/// is copied to its own file under the build lock, so a test booting one never reads the other.
pub fn build_firmware_with(board: Board, features: &str) -> Result<PathBuf, String> {
    // Cargo would serialise parallel builds on its lock anyway; this keeps the output readable.
    static BUILD_LOCK: Mutex<()> = Mutex::new(());
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = board_dir();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&dir)
        .args(["build", "--release", "--target", board.target()])
        .args(if features.is_empty() {
            vec![]
        } else {
            vec!["--features", features]
        })
        // The firmware has its own workspace, target directory and profile: drop what the outer
        // cargo exported for the host build.
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    let stderr = drain_in_background(child.stderr.take());
    let status = wait_bounded(&mut child, BUILD_TIMEOUT)?;
    let log = stderr.join().unwrap_or_default();
    match status {
        Some(s) if s.success() => {
            let release = dir.join("target").join(board.target()).join("release");
            let variant = if features.is_empty() { "pager" } else { features };
            let copy = release.join(format!("qemu-mps2-an385-{}", variant.replace(',', "-")));
            std::fs::copy(release.join("qemu-mps2-an385"), &copy)
                .map_err(|e| format!("copying the firmware to {}: {e}", copy.display()))?;
            Ok(copy)
        }
        Some(s) => Err(format!(
            "firmware build for {} failed ({s}):\n{log}",
            board.target()
        )),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!(
                "firmware build for {} took over {BUILD_TIMEOUT:?}:\n{log}",
                board.target()
            ))
        }
    }
}

fn drain_in_background<R: Read + Send + 'static>(stream: Option<R>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stream) = stream {
            let _ = stream.read_to_string(&mut text);
        }
        text
    })
}

/// Waits for `child` until `timeout`; Ok(None) when it is still running then.
fn wait_bounded(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>, String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("waiting for a child process: {e}"))?
        {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A free loopback port for the given protocol (the OS picks it; QEMU binds it right after).
fn free_port(udp: bool) -> Result<u16, String> {
    let any = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let port = if udp {
        UdpSocket::bind(any).and_then(|s| s.local_addr())
    } else {
        TcpListener::bind(any).and_then(|s| s.local_addr())
    };
    port.map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

/// A running firmware under QEMU, with its host-side ports. Dropping it kills QEMU.
pub struct Qemu {
    qemu: Child,
    decoder: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    /// Receives the guest's READY datagram.
    ready_socket: UdpSocket,
    /// Host end of the forward to the guest's UDP 5060.
    pub udp_addr: SocketAddr,
    /// Host end of the forward to the guest's TCP 5061.
    pub tcp_addr: SocketAddr,
    started: Instant,
}

impl Qemu {
    /// Boots `elf` on `board`'s machine with fresh host ports and the firmware's default settings.
    pub fn boot(board: Board, elf: &Path) -> Result<Self, String> {
        Self::boot_with(board, elf, |_| Vec::new())
    }

    /// Boots `elf` with fresh host ports; `settings` gets the host UDP port forwarded to the guest's
    /// SIP port and returns `key=value` words for the firmware's command line (no commas). The defmt
    /// log is decoded and kept.
    pub fn boot_with(
        board: Board,
        elf: &Path,
        settings: impl FnOnce(u16) -> Vec<String>,
    ) -> Result<Self, String> {
        Self::boot_with_qemu_args(board, elf, settings, &[])
    }

    /// [`Qemu::boot_with`] with more QEMU arguments (for example a `-device loader` that writes a
    /// provisioning blob into flash).
    pub fn boot_with_qemu_args(
        board: Board,
        elf: &Path,
        settings: impl FnOnce(u16) -> Vec<String>,
        qemu_args: &[String],
    ) -> Result<Self, String> {
        let ready_socket =
            UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("READY socket: {e}"))?;
        let ready_port = ready_socket.local_addr().map_err(|e| e.to_string())?.port();
        let udp_port = free_port(true)?;
        let tcp_port = free_port(false)?;
        let nic = format!(
            "user,id=n0,model=lan9118,restrict=off,hostfwd=udp:127.0.0.1:{udp_port}-:5060,\
             hostfwd=tcp:127.0.0.1:{tcp_port}-:5061"
        );
        let mut semihosting = format!("enable=on,target=native,arg=firmware,arg=ready-port={ready_port}");
        for word in settings(udp_port) {
            if word.contains(',') {
                return Err(format!("firmware setting {word:?} contains a comma"));
            }
            semihosting.push_str(",arg=");
            semihosting.push_str(&word);
        }
        let started = Instant::now();
        let qemu_program = qemu_program();
        let mut qemu = Command::new(&qemu_program)
            .args([
                "-machine",
                board.machine(),
                "-display",
                "none",
                "-serial",
                "none",
                "-monitor",
                "none",
            ])
            .args(qemu_args)
            .args(["-semihosting-config", &semihosting, "-nic", &nic, "-kernel"])
            .arg(elf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {qemu_program}: {e}; run `cargo xtask setup`"))?;
        let frames = qemu.stdout.take();
        let mut decoder = match Command::new(DEFMT_PRINT)
            .arg("-e")
            .arg(elf)
            .stdin(frames.map(Stdio::from).unwrap_or_else(Stdio::null))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
        {
            Ok(decoder) => decoder,
            Err(e) => {
                let _ = qemu.kill();
                let _ = qemu.wait();
                return Err(format!(
                    "cannot start {DEFMT_PRINT}: {e}; run `cargo xtask setup`"
                ));
            }
        };
        let log = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = decoder.stdout.take() {
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let localhost = |port| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        Ok(Self {
            qemu,
            decoder: Some(decoder),
            log,
            ready_socket,
            udp_addr: localhost(udp_port),
            tcp_addr: localhost(tcp_port),
            started,
        })
    }

    /// Waits (bounded) for the guest's READY datagram; returns the time since QEMU was started.
    pub fn wait_ready(&self) -> Result<Duration, String> {
        let deadline = self.started + READY_TIMEOUT;
        let mut buf = [0u8; 256];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!(
                    "no READY datagram within {READY_TIMEOUT:?}\n{}",
                    self.log_text()
                ));
            }
            self.ready_socket
                .set_read_timeout(Some(left))
                .map_err(|e| e.to_string())?;
            match self.ready_socket.recv_from(&mut buf) {
                Ok((len, _)) if &buf[..len] == READY_MESSAGE.as_bytes() => return Ok(self.started.elapsed()),
                Ok((len, from)) => {
                    return Err(format!(
                        "unexpected datagram from {from} before READY: {:?}",
                        String::from_utf8_lossy(&buf[..len])
                    ))
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(format!("READY socket: {e}")),
            }
        }
    }

    /// Sends one datagram to the guest's SIP port and returns its answer, read within `REPLY_TIMEOUT`.
    pub fn udp_round_trip(&self, socket: &UdpSocket, payload: &[u8]) -> Result<Vec<u8>, String> {
        socket
            .send_to(payload, self.udp_addr)
            .map_err(|e| format!("UDP send: {e}"))?;
        socket
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 2048];
        let (len, from) = socket
            .recv_from(&mut buf)
            .map_err(|e| format!("no UDP answer within {REPLY_TIMEOUT:?}: {e}\n{}", self.log_text()))?;
        if from != self.udp_addr {
            return Err(format!("UDP answer came from {from}, expected {}", self.udp_addr));
        }
        Ok(buf[..len].to_vec())
    }

    /// Waits (bounded) until the log has `count` lines containing `pattern`; returns the last one.
    pub fn wait_log(&self, pattern: &str, count: usize, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let lines = self.log.lock().unwrap_or_else(|p| p.into_inner());
                let matching: Vec<&String> = lines.iter().filter(|l| l.contains(pattern)).collect();
                if matching.len() >= count {
                    return Ok(matching[count - 1].clone());
                }
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "no {count} log line(s) with {pattern:?} within {timeout:?}\n{}",
                    self.log_text()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded by `EXIT_TIMEOUT`) for QEMU to end, after the firmware was told to stop.
    pub fn wait_exit(&mut self) -> Result<ExitStatus, String> {
        match wait_bounded(&mut self.qemu, EXIT_TIMEOUT)? {
            Some(status) => Ok(status),
            None => Err(format!(
                "QEMU still running {EXIT_TIMEOUT:?} after the stop request\n{}",
                self.log_text()
            )),
        }
    }

    /// CPU time (user + system) QEMU has used so far, from /proc (Linux only).
    pub fn cpu_time(&self) -> Result<Duration, String> {
        let path = format!("/proc/{}/stat", self.qemu.id());
        let stat = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .ok_or(format!("{path}: bad format"))
        };
        // Fields are numbered from 3 after ')'; the kernel's clock tick is 100 Hz on Linux.
        let total = ticks(14 - 3)? + ticks(15 - 3)?;
        Ok(Duration::from_millis(total * 10))
    }

    /// The decoded defmt log so far, one line per message.
    pub fn log_text(&self) -> String {
        let lines = self.log.lock().unwrap_or_else(|p| p.into_inner());
        format!("firmware log:\n{}", lines.join("\n"))
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        if matches!(self.qemu.try_wait(), Ok(None)) {
            let _ = self.qemu.kill();
        }
        let _ = self.qemu.wait();
        // The decoder ends at end of input once QEMU is gone; kill it anyway in case it hangs.
        if let Some(mut decoder) = self.decoder.take() {
            if !matches!(wait_bounded(&mut decoder, Duration::from_secs(2)), Ok(Some(_))) {
                let _ = decoder.kill();
                let _ = decoder.wait();
            }
        }
    }
}
