//! The SIP transports: UDP sockets and TCP connections, behind one [`Transports`] handle.
//!
//! Every received message arrives at one callback as [`Inbound`]: the bytes of exactly one message (a
//! datagram, or one framed message of a stream) and its [`Flow`], the way back to the sender. Responses
//! always go back on the request's flow: the same UDP socket to the packet's source address and port
//! (the RFC 3581 `rport` behaviour, so NATs and clients that ignore their own Via are served), or the
//! same TCP connection (RFC 3261 §18.2.2). Requests to a registered contact use the flow its REGISTER
//! came on, for the same reason.

pub mod tcp;
pub mod udp;

use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Socket buffer size asked for on every UDP socket (see `shared/notes/peers.md`: bursts overflow the
/// kernel default of ~208 KiB from a few thousand messages per second).
pub const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

/// The way back to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// Datagrams on the server's UDP socket number `socket`, to and from `peer`.
    Udp { socket: usize, peer: SocketAddr },
    /// TCP connection number `conn` with `peer`.
    Tcp { conn: u64, peer: SocketAddr },
}

impl Flow {
    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        match *self {
            Flow::Udp { peer, .. } | Flow::Tcp { peer, .. } => peer,
        }
    }

    /// Whether the transport is reliable (no retransmissions).
    pub fn is_reliable(&self) -> bool {
        matches!(self, Flow::Tcp { .. })
    }

    /// The Via transport token.
    pub fn via_transport(&self) -> &'static str {
        match self {
            Flow::Udp { .. } => "UDP",
            Flow::Tcp { .. } => "TCP",
        }
    }
}

/// One received message.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// Exactly one message's bytes.
    pub bytes: Bytes,
    /// Where it came from.
    pub flow: Flow,
}

/// What the transports call for every received message.
pub type InboundHandler = Arc<dyn Fn(Inbound) + Send + Sync>;

/// Why a message could not be sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The TCP connection is closed.
    ConnectionGone,
    /// The socket refused the datagram.
    Socket,
}

/// The server's sockets and open connections.
#[derive(Default)]
pub struct Transports {
    udp: Vec<(Arc<UdpSocket>, SocketAddr)>,
    tcp_listen: Vec<SocketAddr>,
    connections: Mutex<HashMap<u64, mpsc::UnboundedSender<Bytes>>>,
}

impl Transports {
    /// The bound UDP addresses, in configuration order.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.udp.iter().map(|(_, a)| *a).collect()
    }

    /// The bound TCP listen addresses.
    pub fn tcp_addrs(&self) -> Vec<SocketAddr> {
        self.tcp_listen.clone()
    }

    /// The local address to put in a Via or Record-Route for messages sent on `flow`.
    pub fn local_addr(&self, flow: &Flow) -> SocketAddr {
        match flow {
            Flow::Udp { socket, .. } => self.udp.get(*socket).map(|(_, a)| *a),
            Flow::Tcp { .. } => self.tcp_listen.first().copied(),
        }
        .or_else(|| self.udp.first().map(|(_, a)| *a))
        .or_else(|| self.tcp_listen.first().copied())
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)))
    }

    /// Sends one message on `flow`.
    pub fn send(&self, flow: &Flow, bytes: Bytes) -> Result<(), SendError> {
        match *flow {
            Flow::Udp { socket, peer } => {
                let (sock, _) = self.udp.get(socket).ok_or(SendError::Socket)?;
                match sock.try_send_to(&bytes, peer) {
                    Ok(_) => Ok(()),
                    // A full send buffer: hand it to a task rather than drop it (UDP is lossy anyway,
                    // but the transaction layer's retransmissions are not needed for our own burst).
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        let sock = sock.clone();
                        tokio::spawn(async move {
                            let _ = sock.send_to(&bytes, peer).await;
                        });
                        Ok(())
                    }
                    Err(_) => Err(SendError::Socket),
                }
            }
            Flow::Tcp { conn, .. } => {
                let table = self.connections.lock().unwrap_or_else(|e| e.into_inner());
                let writer = table.get(&conn).ok_or(SendError::ConnectionGone)?;
                writer.send(bytes).map_err(|_| SendError::ConnectionGone)
            }
        }
    }

    /// Whether TCP connection `conn` is still open.
    pub fn is_open(&self, flow: &Flow) -> bool {
        match flow {
            Flow::Udp { .. } => true,
            Flow::Tcp { conn, .. } => self
                .connections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(conn),
        }
    }

    fn add_connection(&self, conn: u64, writer: mpsc::UnboundedSender<Bytes>) {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(conn, writer);
    }

    fn remove_connection(&self, conn: u64) {
        self.connections
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&conn);
    }
}

/// Binds every configured address and starts the receive tasks, which call `handler`.
pub async fn start(
    udp_addrs: &[SocketAddr],
    tcp_addrs: &[SocketAddr],
    handler: InboundHandler,
) -> std::io::Result<Arc<Transports>> {
    // With port 0 the TCP listener takes the UDP socket's port, which some other TCP socket (another
    // server's ephemeral MSRP listener, a client connection) may hold already: then pick again.
    let ephemeral = udp_addrs.iter().chain(tcp_addrs).any(|a| a.port() == 0);
    let mut attempts = 0;
    let (transports, udp_sockets, listeners) = loop {
        match bind(udp_addrs, tcp_addrs).await {
            Err(e) if ephemeral && e.kind() == std::io::ErrorKind::AddrInUse && attempts < 16 => {
                attempts += 1
            }
            other => break other?,
        }
    };
    let transports = Arc::new(transports);
    for (index, socket) in udp_sockets.into_iter().enumerate() {
        tokio::spawn(udp::receive_loop(index, socket, handler.clone()));
    }
    for listener in listeners {
        tokio::spawn(tcp::accept_loop(listener, transports.clone(), handler.clone()));
    }
    Ok(transports)
}

/// The sockets [`start`] binds, not yet serving.
type Bound = (
    Transports,
    Vec<Arc<tokio::net::UdpSocket>>,
    Vec<tokio::net::TcpListener>,
);

async fn bind(udp_addrs: &[SocketAddr], tcp_addrs: &[SocketAddr]) -> std::io::Result<Bound> {
    let mut transports = Transports::default();
    let mut udp_sockets = Vec::new();
    for addr in udp_addrs {
        let socket = Arc::new(udp::bind(*addr)?);
        let local = socket.local_addr()?;
        udp_sockets.push(socket.clone());
        transports.udp.push((socket, local));
    }
    let mut listeners = Vec::new();
    for addr in tcp_addrs {
        // Port 0 for TCP next to a UDP socket means "the same port as UDP" when one is bound, so a
        // test's ephemeral configuration gets one port for both, as a SIP server normally has.
        let addr = match (
            addr.port(),
            transports.udp.iter().find(|(_, a)| a.ip() == addr.ip()),
        ) {
            (0, Some((_, udp))) => *udp,
            _ => *addr,
        };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        transports.tcp_listen.push(listener.local_addr()?);
        listeners.push(listener);
    }
    Ok((transports, udp_sockets, listeners))
}
