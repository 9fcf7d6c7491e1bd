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

/// Receives datagrams forever, handing each to `handler`.
pub async fn receive_loop(index: usize, socket: Arc<UdpSocket>, handler: InboundHandler) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((len, peer)) => {
                let Some(datagram) = buf.get(..len) else { continue };
                // Stray CRLF keep-alives (RFC 5626 §4.4.1 allows them on UDP as STUN; some clients
                // send bare CRLFs): nothing to parse.
                if datagram.iter().all(|&b| b == b'\r' || b == b'\n') {
                    continue;
                }
                handler(Inbound {
                    bytes: Bytes::copy_from_slice(datagram),
                    flow: Flow::Udp { socket: index, peer },
                });
            }
            // ICMP port unreachable from an earlier send shows up here on some systems: keep going.
            Err(_) => continue,
        }
    }
}
