//! UDP: one socket per configured address with 4 MiB buffers, one receive task per socket.

use super::{Flow, Inbound, InboundHandler, UDP_BUFFER_BYTES};
use bytes::Bytes;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

/// Largest datagram received: the largest UDP payload.
const MAX_DATAGRAM: usize = 65_535;

/// Binds a non-blocking UDP socket with large buffers (best effort: the kernel caps them at
/// `rmem_max`/`wmem_max`).
pub fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Datagrams taken per wake-up at most, before letting the tasks they started run.
const DATAGRAMS_PER_WAKEUP: usize = 64;

/// Receives datagrams forever, handing each to `handler`.
///
/// One wake-up takes every datagram already queued (up to [`DATAGRAMS_PER_WAKEUP`]) with plain
/// non-blocking reads, rather than going back through the runtime's readiness machinery for each:
/// under load most wake-ups find several waiting.
pub async fn receive_loop(index: usize, socket: Arc<UdpSocket>, handler: InboundHandler) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        if socket.readable().await.is_err() {
            tokio::task::yield_now().await;
            continue;
        }
        for _ in 0..DATAGRAMS_PER_WAKEUP {
            match socket.try_recv_from(&mut buf) {
                Ok((len, peer)) => {
                    let Some(datagram) = buf.get(..len) else { continue };
                    // Stray CRLF keep-alives (RFC 5626 §4.4.1 allows them on UDP as STUN; some
                    // clients send bare CRLFs): nothing to parse.
                    if datagram.iter().all(|&b| b == b'\r' || b == b'\n') {
                        continue;
                    }
                    handler(Inbound {
                        bytes: Bytes::copy_from_slice(datagram),
                        flow: Flow::Udp { socket: index, peer },
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                // ICMP port unreachable from an earlier send shows up here on some systems: keep going.
                Err(_) => continue,
            }
        }
        // Let the requests just received run before taking more.
        tokio::task::yield_now().await;
    }
}
