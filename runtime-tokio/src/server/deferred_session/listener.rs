//! The function's own MSRP listener: a new connection's first request names the session it is for
//! in its To-Path; the connection is handed to that session if one is waiting for it, else closed
//! (there is no session to answer 481 from, and no other session may be joined).

use super::{lock, Handover, Server};
use simple_im_core::msrp::MsrpUri;
use std::sync::Weak;
use tokio::io::AsyncReadExt;
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
        let server = server.clone();
        tokio::spawn(async move {
            if let Ok(Some((id, handover))) = tokio::time::timeout(FIRST_HEAD_WAIT, first_head(stream)).await
            {
                let Some(server) = server.upgrade() else { return };
                let waiting = lock(&server.deferred_sessions.waiting).remove(&id);
                if let Some(waiting) = waiting {
                    let _ = waiting.send(handover);
                }
            }
        });
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
