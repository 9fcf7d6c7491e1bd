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
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// Socket buffer size asked for on every UDP socket (see `shared/notes/peers.md`: bursts overflow the
/// kernel default of ~208 KiB from a few thousand messages per second).
pub const UDP_BUFFER_BYTES: usize = 4 * 1024 * 1024;

thread_local! {
    /// The buffer outgoing messages are written into before being copied out at their exact size.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes one outgoing message with `write` (given at least `capacity` bytes, returning the length
/// it wrote) and returns exactly those bytes.
///
/// The writing happens in a buffer kept per thread: a fresh zeroed buffer of a few KiB per message
/// cost more than the message itself (the allocator hands large blocks back to the kernel and takes
/// them again, one page fault per 4 KiB), while copying out the few hundred bytes written is cheap.
pub fn encode(capacity: usize, write: impl FnOnce(&mut [u8]) -> Option<usize>) -> Option<Bytes> {
    let mut write = Some(write);
    let mut run = |buf: &mut Vec<u8>| -> Option<Bytes> {
        if buf.len() < capacity {
            buf.resize(capacity, 0);
        }
        let len = (write.take()?)(buf.as_mut_slice())?;
        buf.get(..len).map(Bytes::copy_from_slice)
    };
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => run(&mut buf),
        // Only when `write` itself encodes another message: that one gets a buffer of its own.
        Err(_) => run(&mut Vec::new()),
    })
}

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
    /// What received messages go to (for connections the server opens itself).
    handler: std::sync::OnceLock<InboundHandler>,
    /// Connections the server opened, by peer address, reused while open.
    outbound: tokio::sync::Mutex<HashMap<SocketAddr, Flow>>,
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

    /// An open TCP flow to `peer`: the one opened before while it stays open, else a new connection.
    pub async fn tcp_to(self: &Arc<Self>, peer: SocketAddr) -> std::io::Result<Flow> {
        let mut outbound = self.outbound.lock().await;
        if let Some(flow) = outbound.get(&peer).filter(|f| self.is_open(f)) {
            return Ok(*flow);
        }
        let handler = self
            .handler
            .get()
            .cloned()
            .ok_or_else(|| std::io::Error::other("transports not started"))?;
        let local_ip = self.local_addr(&Flow::Tcp { conn: 0, peer }).ip();
        let flow = tcp::connect(local_ip, peer, self.clone(), handler).await?;
        outbound.insert(peer, flow);
        Ok(flow)
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

/// Attempts at finding a port free for both UDP and TCP.
const PAIR_ATTEMPTS: usize = 32;

/// A UDP socket on an ephemeral port of `addr`'s IP and a TCP listener on the same port. The port
/// the kernel picks for UDP may be taken for TCP (another process's connection uses it as its local
/// port): then both are closed and another port is tried.
async fn bind_pair(addr: SocketAddr) -> std::io::Result<(UdpSocket, tokio::net::TcpListener)> {
    let mut last_error = None;
    for _ in 0..PAIR_ATTEMPTS {
        let socket = udp::bind(addr)?;
        let port = socket.local_addr()?.port();
        match tokio::net::TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(listener) => return Ok((socket, listener)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last_error = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::AddrInUse)))
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
    let _ = transports.handler.set(handler.clone());
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
    let mut listeners = Vec::new();
    let mut paired = Vec::new();
    for addr in udp_addrs {
        // Port 0 for TCP next to a UDP socket of port 0 means "one port for both", as a SIP server
        // normally has (a test's ephemeral configuration relies on it).
        let pair = addr.port() == 0
            && !paired.contains(&addr.ip())
            && tcp_addrs.iter().any(|t| t.port() == 0 && t.ip() == addr.ip());
        let (socket, listener) = if pair {
            let (socket, listener) = bind_pair(*addr).await?;
            paired.push(addr.ip());
            (socket, Some(listener))
        } else {
            (udp::bind(*addr)?, None)
        };
        let socket = Arc::new(socket);
        let local = socket.local_addr()?;
        udp_sockets.push(socket.clone());
        transports.udp.push((socket, local));
        if let Some(listener) = listener {
            transports.tcp_listen.push(listener.local_addr()?);
            listeners.push(listener);
        }
    }
    for addr in tcp_addrs {
        if addr.port() == 0 && paired.contains(&addr.ip()) {
            continue;
        }
        // Port 0 next to a UDP socket of a fixed port: that port.
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
