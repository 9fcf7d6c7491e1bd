//! The SIP transport of the client: one UDP socket, or one TCP connection to the server.
//!
//! UDP datagrams are handed to the core one by one (`handle_datagram`); TCP bytes accumulate in a
//! buffer the core frames (`handle_stream`), which keeps any partial message for the next read.

use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, UdpSocket};

/// Largest UDP datagram read.
const DATAGRAM_MAX: usize = 65_535;

/// What one read brought.
pub enum Arrival {
    /// A datagram of this length from this address, at the start of the buffer.
    Datagram(SocketAddr, usize),
    /// More stream bytes were appended to the buffer.
    Stream,
}

/// The client's connection to its server.
pub enum Link {
    /// One UDP socket; requests go to `server`.
    Udp {
        /// The socket.
        socket: UdpSocket,
        /// The server's address.
        server: SocketAddr,
    },
    /// One TCP connection.
    Tcp {
        /// Reading half.
        read: OwnedReadHalf,
        /// Writing half.
        write: OwnedWriteHalf,
    },
}

impl Link {
    /// Binds a UDP socket or connects over TCP to `server`.
    pub async fn open(server: SocketAddr, tcp: bool) -> io::Result<Link> {
        if tcp {
            let stream = TcpStream::connect(server).await?;
            stream.set_nodelay(true)?;
            let (read, write) = stream.into_split();
            Ok(Link::Tcp { read, write })
        } else {
            let any: SocketAddr = if server.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(any).await?;
            // Connecting picks the source address the server will see (for Via and Contact).
            socket.connect(server).await?;
            Ok(Link::Udp { socket, server })
        }
    }

    /// Our `host:port` as the server sees it.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Link::Udp { socket, .. } => socket.local_addr(),
            Link::Tcp { read, .. } => read.local_addr(),
        }
    }

    /// Sends `bytes` to the server, or over UDP to `peer` when given.
    pub async fn send(&mut self, peer: Option<SocketAddr>, bytes: &[u8]) -> io::Result<()> {
        match self {
            Link::Udp { socket, server } => {
                let to = peer.unwrap_or(*server);
                if to == *server {
                    socket.send(bytes).await.map(|_| ())
                } else {
                    socket.send_to(bytes, to).await.map(|_| ())
                }
            }
            Link::Tcp { write, .. } => write.write_all(bytes).await,
        }
    }

    /// Waits for input: a datagram into `buf` (replacing it), or stream bytes appended to `buf`.
    pub async fn receive(&mut self, buf: &mut Vec<u8>) -> io::Result<Arrival> {
        match self {
            Link::Udp { socket, .. } => {
                buf.resize(DATAGRAM_MAX, 0);
                let (n, from) = socket.recv_from(buf).await?;
                buf.truncate(n);
                Ok(Arrival::Datagram(from, n))
            }
            Link::Tcp { read, .. } => {
                let n = read.read_buf(buf).await?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the TCP connection",
                    ));
                }
                Ok(Arrival::Stream)
            }
        }
    }
}
