//! The client side of the RFC 4976 AUTH method (§5): before a session through its relay is offered,
//! the client authenticates on the connection it will use for that session and learns the relay's
//! `Use-Path`, which goes in front of its own URI in `a=path`.
//!
//! | step | relay answers | next |
//! |---|---|---|
//! | AUTH (To-Path: relay URI, From-Path: our URI) | 200 with Use-Path | done |
//! | | 401 with a Digest challenge, first time | AUTH again with Authorization (method `AUTH`, uri the relay URI) |
//! | | 401 again, 403, or any other status | error with the status and reason |
//! | | nothing in [`AUTH_TIMEOUT`], or the connection closes | error |

use crate::server::rng::OsRng;
use simple_im_core::sip::auth::{select_challenge, ChallengePreference, DigestClient, DigestRequest, Secret};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the relay may take to answer one AUTH.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest AUTH response read (headers only: it has no body).
const MAX_RESPONSE: usize = 8192;

/// A transaction response: status, reason and headers.
struct Response {
    status: u16,
    reason: String,
    headers: Vec<(String, String)>,
}

impl Response {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Connects `socket` to the relay `relay_uri` and authenticates as `user`; returns the connection and
/// the relay's Use-Path.
pub async fn connect(
    socket: tokio::net::TcpSocket,
    relay_uri: &str,
    local_uri: &str,
    user: &str,
    password: &str,
) -> Result<(TcpStream, String), String> {
    let authority = relay_uri
        .strip_prefix("msrp://")
        .and_then(|r| r.split(['/', ';']).next())
        .ok_or_else(|| format!("--msrp-relay {relay_uri}: not an msrp:// URI"))?;
    let addr = tokio::net::lookup_host(authority)
        .await
        .map_err(|e| format!("--msrp-relay {relay_uri}: {e}"))?
        .next()
        .ok_or_else(|| format!("--msrp-relay {relay_uri}: no address"))?;
    let mut stream = socket
        .connect(addr)
        .await
        .map_err(|e| format!("cannot connect to the MSRP relay {relay_uri}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let use_path = authenticate(&mut stream, relay_uri, local_uri, user, password).await?;
    Ok((stream, use_path))
}

/// Authenticates with the relay `relay_uri` on `stream` as `user`; returns the relay's Use-Path.
pub async fn authenticate(
    stream: &mut TcpStream,
    relay_uri: &str,
    local_uri: &str,
    user: &str,
    password: &str,
) -> Result<String, String> {
    let mut authorization = None;
    for attempt in 0..2 {
        let tid = format!("auth{}{attempt}", crate::server::rng::token(4));
        let mut frame = format!("MSRP {tid} AUTH\r\nTo-Path: {relay_uri}\r\nFrom-Path: {local_uri}\r\n");
        if let Some(value) = &authorization {
            frame.push_str(&format!("Authorization: {value}\r\n"));
        }
        frame.push_str(&format!("-------{tid}$\r\n"));
        stream
            .write_all(frame.as_bytes())
            .await
            .map_err(|e| format!("MSRP relay {relay_uri}: {e}"))?;
        let response = tokio::time::timeout(AUTH_TIMEOUT, read_response(stream, &tid))
            .await
            .map_err(|_| format!("MSRP relay {relay_uri}: no answer to AUTH"))??;
        match response.status {
            200 => {
                let use_path = response.values("Use-Path").next().unwrap_or("").trim().to_owned();
                if use_path.is_empty() {
                    return Err(format!("MSRP relay {relay_uri}: 200 to AUTH without Use-Path"));
                }
                return Ok(use_path);
            }
            401 if authorization.is_none() => {
                let challenge = select_challenge(
                    response.values("WWW-Authenticate"),
                    ChallengePreference::Strongest,
                )
                .ok_or_else(|| format!("MSRP relay {relay_uri}: 401 without a usable Digest challenge"))?;
                let request = DigestRequest {
                    method: "AUTH",
                    uri: relay_uri,
                    body: b"",
                };
                let answer = DigestClient::new()
                    .respond(&challenge, user, Secret::Password(password), &request, &mut OsRng)
                    .map_err(|e| format!("MSRP relay {relay_uri}: cannot answer the challenge: {e:?}"))?;
                let mut buf = [0u8; 1024];
                let len = answer
                    .emit(&mut buf)
                    .map_err(|e| format!("MSRP relay {relay_uri}: credentials: {e:?}"))?;
                authorization = Some(String::from_utf8_lossy(&buf[..len]).into_owned());
            }
            status => {
                return Err(format!(
                    "MSRP relay {relay_uri} refused AUTH: {status} {}",
                    response.reason
                ))
            }
        }
    }
    Err(format!(
        "MSRP relay {relay_uri} refused AUTH: 401 with our credentials"
    ))
}

/// Reads one bodiless response of transaction `tid`.
async fn read_response(stream: &mut TcpStream, tid: &str) -> Result<Response, String> {
    let end = format!("\r\n-------{tid}");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let text = String::from_utf8_lossy(&buf);
        if let Some(at) = text.find(&end) {
            let rest = &text[at + end.len()..];
            if rest.len() >= 3 {
                return parse_response(&text[..at], tid);
            }
        }
        if buf.len() > MAX_RESPONSE {
            return Err("MSRP relay: AUTH response too large".into());
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|e| format!("MSRP relay: {e}"))?;
        if n == 0 {
            return Err("MSRP relay closed the connection during AUTH".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn parse_response(head: &str, tid: &str) -> Result<Response, String> {
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut words = first.splitn(4, ' ');
    let (msrp, got_tid, status, reason) = (words.next(), words.next(), words.next(), words.next());
    let status = status.and_then(|s| s.parse::<u16>().ok());
    match (msrp, got_tid, status) {
        (Some("MSRP"), Some(t), Some(status)) if t == tid => Ok(Response {
            status,
            reason: reason.unwrap_or("").to_owned(),
            headers: lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
                .collect(),
        }),
        _ => Err(format!("MSRP relay: unexpected answer to AUTH: {first}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_challenge_response() {
        let head =
            "MSRP auth1 401 Unauthorized\r\nTo-Path: msrp://c:1/x;tcp\r\nFrom-Path: msrp://r:2;tcp\r\n\
WWW-Authenticate: Digest realm=\"r\", nonce=\"n\"";
        let r = parse_response(head, "auth1").unwrap();
        assert_eq!((r.status, r.reason.as_str()), (401, "Unauthorized"));
        assert_eq!(
            r.values("www-authenticate").next(),
            Some("Digest realm=\"r\", nonce=\"n\"")
        );
        assert!(parse_response(head, "other").is_err());
        assert!(parse_response("garbage", "auth1").is_err());
    }
}
