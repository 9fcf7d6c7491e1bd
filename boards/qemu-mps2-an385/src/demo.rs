//! Network demo that proves the paths a SIP client needs; a later SIP client replaces this module.
//!
//! - At boot, once the interface is up, it sends `READY 10.0.2.15` from UDP port 5060 to the host
//!   (10.0.2.2, which QEMU maps to the host's 127.0.0.1) at the ready port: the host harness waits for
//!   this datagram instead of retrying connects, because QEMU accepts host connects before the guest
//!   listens.
//! - Every UDP datagram to port 5060 is sent back to its sender prefixed with `ECHO `, except `EXIT`,
//!   which ends the run with success, and `PANIC`, which panics (so the harness can check that a
//!   failing firmware ends QEMU with status 1 instead of hanging).
//! - TCP port 5061 is served by `TCP_LISTENERS` tasks, each accepting one connection at a time and
//!   answering each `\n`-terminated line with `ECHO <line>\n`. With more than one, a socket is still
//!   listening while another finishes closing, so a host that reconnects at once is not reset.
//!
//! The ready port is `DEFAULT_READY_PORT` unless the semihosting command line says `ready-port=N`, so
//! parallel test runs can each listen on their own port without rebuilding the firmware.

use crate::semihosting;
use embassy_net::tcp::TcpSocket;
use embassy_net::udp::{PacketMetadata, UdpSocket};
use embassy_net::{IpEndpoint, Ipv4Address, Stack};

/// The firmware's own address (QEMU user networking's default guest address).
pub const DEVICE_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 15);
/// The only peer the firmware talks to: QEMU's gateway, which is the host's loopback.
pub const HOST_IP: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
pub const UDP_PORT: u16 = 5060;
pub const TCP_PORT: u16 = 5061;
/// Host port that receives the READY datagram unless the command line names another.
pub const DEFAULT_READY_PORT: u16 = 15062;
/// Largest datagram or line echoed; longer ones are truncated (UDP) or answered in pieces (TCP).
pub const MAX_MESSAGE: usize = 512;
/// TCP sockets listening on `TCP_PORT` (one task each).
pub const TCP_LISTENERS: usize = 2;
const ECHO_PREFIX: &[u8] = b"ECHO ";
const READY: &[u8] = b"READY 10.0.2.15";
const EXIT: &[u8] = b"EXIT";
const PANIC: &[u8] = b"PANIC";

/// The ready port from a `ready-port=N` word of the semihosting command line, else the default.
pub fn ready_port() -> u16 {
    let mut buf = [0u8; 128];
    semihosting::command_line(&mut buf)
        .and_then(|line| {
            line.split_ascii_whitespace()
                .find_map(|w| w.strip_prefix("ready-port="))
        })
        .and_then(|port| port.parse().ok())
        .unwrap_or(DEFAULT_READY_PORT)
}

#[embassy_executor::task]
pub async fn udp_echo(stack: Stack<'static>, ready_port: u16) {
    let mut rx_meta = [PacketMetadata::EMPTY; 4];
    let mut tx_meta = [PacketMetadata::EMPTY; 4];
    let mut rx_buf = [0u8; 2 * MAX_MESSAGE];
    let mut tx_buf = [0u8; 2 * MAX_MESSAGE];
    let mut socket = UdpSocket::new(stack, &mut rx_meta, &mut rx_buf, &mut tx_meta, &mut tx_buf);
    if let Err(e) = socket.bind(UDP_PORT) {
        defmt::error!("UDP bind {=u16}: {}", UDP_PORT, e);
        semihosting::exit_failure();
    }
    stack.wait_config_up().await;
    let host = IpEndpoint::new(HOST_IP.into(), ready_port);
    if let Err(e) = socket.send_to(READY, host).await {
        defmt::error!("READY to port {=u16} not sent: {}", ready_port, e);
        semihosting::exit_failure();
    }
    defmt::info!("READY sent to host port {=u16}", ready_port);

    let mut datagram = [0u8; MAX_MESSAGE];
    let mut reply = [0u8; MAX_MESSAGE + ECHO_PREFIX.len()];
    loop {
        let (len, meta) = match socket.recv_from(&mut datagram).await {
            Ok(received) => received,
            Err(e) => {
                defmt::warn!("UDP receive: {}", e);
                continue;
            }
        };
        let payload = &datagram[..len];
        if payload == EXIT {
            defmt::info!("EXIT received: success");
            semihosting::exit_success();
        }
        if payload == PANIC {
            panic!("PANIC requested by the host");
        }
        let reply_len = ECHO_PREFIX.len() + len;
        reply[..ECHO_PREFIX.len()].copy_from_slice(ECHO_PREFIX);
        reply[ECHO_PREFIX.len()..reply_len].copy_from_slice(payload);
        if let Err(e) = socket.send_to(&reply[..reply_len], meta.endpoint).await {
            defmt::warn!("UDP echo not sent: {}", e);
        }
    }
}

#[embassy_executor::task(pool_size = TCP_LISTENERS)]
pub async fn tcp_echo(stack: Stack<'static>) {
    let mut rx_buf = [0u8; 2 * MAX_MESSAGE];
    let mut tx_buf = [0u8; 2 * MAX_MESSAGE];
    loop {
        let mut socket = TcpSocket::new(stack, &mut rx_buf, &mut tx_buf);
        if let Err(e) = socket.accept(TCP_PORT).await {
            defmt::warn!("TCP accept: {}", e);
            continue;
        }
        defmt::info!("TCP connection from {}", socket.remote_endpoint());
        if let Err(e) = echo_lines(&mut socket).await {
            defmt::warn!("TCP connection ended: {}", e);
        }
        socket.close();
        // Let the FIN go out before the socket (and its buffers) are reused.
        let _ = socket.flush().await;
    }
}

/// Answers each complete line with `ECHO <line>\n` until the peer closes.
async fn echo_lines(socket: &mut TcpSocket<'_>) -> Result<(), embassy_net::tcp::Error> {
    let mut line = [0u8; MAX_MESSAGE];
    let mut used = 0;
    loop {
        let n = socket.read(&mut line[used..]).await?;
        if n == 0 {
            return Ok(());
        }
        used += n;
        // Answer every complete line; a line longer than the buffer is answered as it stands.
        while let Some(end) = line[..used]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| i + 1)
            .or((used == line.len()).then_some(used))
        {
            write_all(socket, ECHO_PREFIX).await?;
            write_all(socket, &line[..end]).await?;
            if line[end - 1] != b'\n' {
                write_all(socket, b"\n").await?;
            }
            line.copy_within(end..used, 0);
            used -= end;
        }
    }
}

async fn write_all(socket: &mut TcpSocket<'_>, mut bytes: &[u8]) -> Result<(), embassy_net::tcp::Error> {
    while !bytes.is_empty() {
        let n = socket.write(bytes).await?;
        bytes = &bytes[n..];
    }
    Ok(())
}
