//! Building and sending responses: the server's own (through the core's `response_to`) and relayed
//! ones (a downstream response with the proxy's Via removed).

use super::sip::{unfold, via_with_received, SipMessage};
use super::transport::encode;
use super::{Request, Server};
use bytes::Bytes;
use simple_im_core::sip::header::split_list;
use simple_im_core::sip::{response_to, HeaderName, MessageWriter};
use std::sync::Arc;

/// The methods this server handles, for Allow.
pub const ALLOW: &str = "REGISTER, MESSAGE, PUBLISH, OPTIONS, INVITE, ACK, CANCEL, BYE";

/// Room for a response's headers beyond its body.
const HEADROOM: usize = 8192;

/// Builds the server's response to `request`: `code reason`, the extra `headers`, and an optional body
/// with its content type. `None` when the request lacks what a response copies (From, To, ...).
pub fn build(
    request: &SipMessage,
    peer: Option<std::net::SocketAddr>,
    code: u16,
    reason: &str,
    headers: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) -> Option<Bytes> {
    let to_tag = super::rng::token(8);
    let body_len = body.map_or(0, |(_, b)| b.len());
    let extra: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
    let bytes = encode(HEADROOM + body_len + extra + request.raw().len(), |buf| {
        request.with_view(|view| {
            let mut w = response_to(view, code, reason, Some(&to_tag), buf).ok()?;
            for (name, value) in headers {
                w.header(HeaderName::parse(name), value).ok()?;
            }
            match body {
                Some((content_type, bytes)) => {
                    w.header(HeaderName::ContentType, content_type).ok()?;
                    w.finish(bytes).ok()
                }
                None => w.finish(b"").ok(),
            }
        })?
    })?;
    if let (Some(peer), Some(top)) = (peer, request.values(HeaderName::Via).next()) {
        return Some(Bytes::from(with_top_via(
            &bytes,
            top,
            &via_with_received(top, peer),
        )));
    }
    Some(bytes)
}

/// `message` with the first `Via: old` line's value replaced by `new`.
fn with_top_via(message: &[u8], old: &str, new: &str) -> Vec<u8> {
    let needle = format!("Via: {}", unfold(old));
    let Some(at) = message.windows(needle.len()).position(|w| w == needle.as_bytes()) else {
        return message.to_vec();
    };
    let mut out = Vec::with_capacity(message.len() + new.len());
    out.extend_from_slice(message.get(..at).unwrap_or(&[]));
    out.extend_from_slice(b"Via: ");
    out.extend_from_slice(new.as_bytes());
    out.extend_from_slice(message.get(at + needle.len()..).unwrap_or(&[]));
    out
}

/// Sends the server's response to `request` through its transaction.
pub fn send(
    server: &Arc<Server>,
    request: &Request,
    code: u16,
    reason: &str,
    headers: &[(&str, String)],
    body: Option<(&str, &[u8])>,
) {
    if let Some(bytes) = build(
        &request.msg,
        Some(request.flow.peer()),
        code,
        reason,
        headers,
        body,
    ) {
        server
            .transactions
            .respond(request.key.as_ref(), &request.flow, code, bytes);
    }
}

/// A downstream response rewritten for upstream: everything as received except the top Via (ours).
pub fn relayed(response: &SipMessage) -> Option<Bytes> {
    let code = response.status()?;
    encode(HEADROOM + response.raw().len(), |buf| {
        let mut w = MessageWriter::response(buf, code, response.reason()).ok()?;
        let mut dropped_ours = false;
        for (name, value) in response.headers() {
            let header = HeaderName::parse(name);
            let value = unfold(value);
            if header == HeaderName::Via && !dropped_ours {
                dropped_ours = true;
                let rest: Vec<&str> = split_list(&value).skip(1).collect();
                if !rest.is_empty() {
                    w.header(HeaderName::Via, &rest.join(", ")).ok()?;
                }
                continue;
            }
            w.header(header, &value).ok()?;
        }
        w.finish(response.body()).ok()
    })
}
