//! How the function gets its MSRP connections: a new connection's first request names the session it
//! is for in its To-Path; the connection is handed to that session if one is waiting for it, else
//! answered 481 and closed (a session already bound to a connection is never joined by another).
//!
//! | server | connections come from |
//! |---|---|
//! | with the relay (the default) | the relay's listener, for the session-ids waiting here ([`DeferredLegs`], the relay's `ForeignLegs` hook) |
//! | `media_path = "direct"` (no relay) | the function's own listener, `[msrp] deferred_msrp_listen` ([`serve`]) |

use super::super::msrp::ForeignLegs;
use super::{lock, Handover, Server};
use simple_im_core::msrp::wire::builder::write_response;
use simple_im_core::msrp::MsrpUri;
use std::sync::Arc;
use std::sync::Weak;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The most bytes read while looking for the first request's To-Path.
const FIRST_HEAD_LIMIT: usize = 8192;
/// How long a new connection may take to send its first request's header block.
const FIRST_HEAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) async fn serve(server: Weak<Server>, listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        if server.strong_count() == 0 {
            return;
        }
        tokio::spawn(hand_over(server.clone(), stream));
    }
}

/// Gives a new connection to the session its first request names, or answers it 481.
async fn hand_over(server: Weak<Server>, stream: TcpStream) {
    if let Ok(Some((id, handover))) = tokio::time::timeout(FIRST_HEAD_WAIT, first_head(stream)).await {
        let Some(server) = server.upgrade() else { return };
        let waiting = lock(&server.deferred_sessions.waiting).remove(&id);
        match waiting {
            Some(waiting) => {
                let _ = waiting.send(handover);
            }
            None => no_such_session(handover).await,
        }
    }
}

/// The function as an owner of session-ids on the relay's listener: a connection whose first
/// To-Path names a session waiting for its peer is handed over as from our own listener.
pub(super) struct DeferredLegs(pub(super) Weak<Server>);

impl ForeignLegs for DeferredLegs {
    fn owns(&self, sid: &str) -> bool {
        self.0
            .upgrade()
            .is_some_and(|server| lock(&server.deferred_sessions.waiting).contains_key(sid))
    }

    fn serve(self: Arc<Self>, stream: TcpStream) {
        tokio::spawn(hand_over(self.0.clone(), stream));
    }
}

/// Reads until the first request's To-Path line is complete (a bodiless SEND has no blank line, so
/// the header block's end cannot be waited for); its session-id and the handover.
async fn first_head(mut stream: TcpStream) -> Option<(String, Handover)> {
    let mut read = Vec::with_capacity(1024);
    loop {
        let text = String::from_utf8_lossy(&read);
        if let Some(id) = to_path_session_id(&text) {
            return Some((id, (stream, read)));
        }
        if read.len() >= FIRST_HEAD_LIMIT {
            return None;
        }
        let mut chunk = [0u8; 2048];
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        read.extend_from_slice(chunk.get(..n)?);
    }
}

/// Answers the first request of a connection no session claims with 481 (RFC 4975 §7.3: the session
/// does not exist, or is bound to another connection, which for this connection is the same), then
/// closes it. A REPORT is never answered (§7.1.2).
async fn no_such_session((mut stream, read): Handover) {
    let text = String::from_utf8_lossy(&read);
    let mut lines = text.split("\r\n");
    let mut start = lines.next().unwrap_or("").split(' ');
    let (Some("MSRP"), Some(tid), Some(method)) = (start.next(), start.next(), start.next()) else {
        return;
    };
    if method == "REPORT" {
        return;
    }
    let first_of = |name: &str| {
        lines.clone().find_map(|line| {
            let (n, value) = line.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.split_whitespace().next())
                .flatten()
        })
    };
    let (Some(from), Some(to)) = (first_of("From-Path"), first_of("To-Path")) else {
        return;
    };
    let mut buf = [0u8; 1024];
    let Ok(len) = write_response(&mut buf, tid, 481, Some("Session Does Not Exist"), from, to) else {
        return;
    };
    let _ = stream.write_all(buf.get(..len).unwrap_or(&[])).await;
    let _ = stream.shutdown().await;
}

/// The session-id of the first URI of the To-Path header in an MSRP header block.
fn to_path_session_id(head: &str) -> Option<String> {
    // Only complete lines count: a To-Path cut short by the read would name another session.
    let complete = head.get(..head.rfind("\r\n")?)?;
    let value = complete.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.trim().eq_ignore_ascii_case("To-Path").then_some(value)
    })?;
    let first = value.split_whitespace().next()?;
    let uri = MsrpUri::parse(first).ok()?;
    uri.session_id.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::to_path_session_id;

    #[test]
    fn the_session_id_comes_from_the_first_to_path_uri() {
        let head = "MSRP a1 SEND\r\nTo-Path: msrp://127.0.0.1:9/abc;tcp msrp://h:1/z;tcp\r\nFrom-Path: msrp://x:2/y;tcp";
        assert_eq!(
            to_path_session_id("MSRP a1 SEND\r\nTo-Path: msrp://127.0.0.1:9/ab"),
            None,
            "line incomplete"
        );
        assert_eq!(to_path_session_id(head).as_deref(), Some("abc"));
        assert_eq!(
            to_path_session_id("MSRP a1 SEND\r\nFrom-Path: msrp://x:2/y;tcp"),
            None
        );
    }
}
