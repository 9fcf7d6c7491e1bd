//! TCP: one reader task and one writer task per connection; the connection table maps connection ids
//! to writers so responses and requests can go back on the connection a peer opened.

use super::{Flow, Inbound, InboundHandler, Transports};
use bytes::{Buf, BytesMut};
use simple_im_core::sip::{frame, Framed};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

static NEXT_CONNECTION: AtomicU64 = AtomicU64::new(1);

/// Accepts connections forever.
pub async fn accept_loop(listener: TcpListener, transports: Arc<Transports>, handler: InboundHandler) {
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        attach(stream, peer, transports.clone(), handler.clone());
    }
}

/// Opens a connection to `peer` from `local_ip` (the server's own address, which the peer checks)
/// and serves it like an accepted one: messages it brings go to `handler`, and
/// [`Transports::send`] writes on the returned flow.
pub async fn connect(
    local_ip: std::net::IpAddr,
    peer: SocketAddr,
    transports: Arc<Transports>,
    handler: InboundHandler,
) -> std::io::Result<Flow> {
    let socket = if local_ip.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.bind(SocketAddr::new(local_ip, 0))?;
    let stream = socket.connect(peer).await?;
    Ok(attach(stream, peer, transports, handler))
}

/// Registers a connected stream in the table and starts its writer and reader tasks.
fn attach(stream: TcpStream, peer: SocketAddr, transports: Arc<Transports>, handler: InboundHandler) -> Flow {
    let _ = stream.set_nodelay(true);
    let conn = NEXT_CONNECTION.fetch_add(1, Ordering::Relaxed);
    let (reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::unbounded_channel::<bytes::Bytes>();
    transports.add_connection(conn, tx);
    tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.write_all(&bytes).await.is_err() {
                break;
            }
        }
    });
    let flow = Flow::Tcp { conn, peer };
    tokio::spawn(async move {
        read_loop(reader, flow, &transports, &handler).await;
        transports.remove_connection(conn);
    });
    flow
}

/// Reads and frames messages until the peer closes or breaks framing (RFC 3261 §18.3: close then).
async fn read_loop(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    flow: Flow,
    transports: &Transports,
    handler: &InboundHandler,
) {
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        loop {
            match frame(&buf) {
                Ok(Framed::Complete(n)) => {
                    let bytes = buf.split_to(n).freeze();
                    handler(Inbound { bytes, flow });
                }
                Ok(Framed::KeepAlive(n)) => {
                    // A double-CRLF ping gets a single-CRLF pong (RFC 5626 §3.5.1).
                    if buf.starts_with(b"\r\n\r\n") {
                        let _ = transports.send(&flow, bytes::Bytes::from_static(b"\r\n"));
                    }
                    buf.advance(n);
                }
                Ok(Framed::Partial) => break,
                Err(_) => return,
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
