//! System messages: MESSAGEs the server itself sends a user, from the configured system URI.
//!
//! Loop safety: a notice is never sent in reply to a message from the system URI, only to users of
//! this domain, and only to a registered contact (never stored for later: a stale notice is noise, and
//! storing it could make notices about notices).

use super::location::Binding;
use super::participating::address_key;
use super::{proxy, rng, Server};
use bytes::Bytes;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::sync::Arc;

/// Tells `sender` that its message to `recipient` was stored for later delivery (fire and forget).
pub fn message_stored(server: &Arc<Server>, sender: &str, recipient: &str) {
    let text = format!(
        "Your message to sip:{recipient}@{} was stored and will be delivered when the recipient is online.",
        server.config.domain
    );
    send(server, sender, text);
}

/// Sends `text` as a system message to the user at `to` (a URI of our domain).
pub fn send(server: &Arc<Server>, to: &str, text: String) {
    if address_key(to) == address_key(&server.config.system_uri) {
        return;
    }
    let key = address_key(to);
    let Some((user, host)) = key.split_once('@') else {
        return;
    };
    if !server.is_local(host) {
        return;
    }
    let Some(binding) = server.location.lookup(user).pop() else {
        return;
    };
    let from = format!("<{}>;tag={}", server.config.system_uri, rng::token(6));
    let Some((branch, bytes)) = originate(
        server,
        &binding,
        &from,
        to,
        "text/plain;charset=UTF-8",
        text.as_bytes(),
    ) else {
        return;
    };
    let server = server.clone();
    tokio::spawn(async move {
        let _ = server
            .transactions
            .request(binding.flow, &branch, "MESSAGE", bytes)
            .await;
    });
}

/// A MESSAGE the server originates toward `binding`: `from` (a whole From value, with tag), `to` (a
/// URI), a fresh Call-ID, and the body as given. Returns the branch and the bytes.
pub fn originate(
    server: &Server,
    binding: &Binding,
    from: &str,
    to: &str,
    content_type: &str,
    body: &[u8],
) -> Option<(String, Bytes)> {
    let branch = proxy::new_branch();
    let local = server.transactions.transports().local_addr(&binding.flow);
    let mut buf = vec![0u8; 2048 + from.len() + to.len() + body.len()];
    let mut w = MessageWriter::request(&mut buf, Method::Message, &binding.uri).ok()?;
    let transport = binding.flow.via_transport();
    w.header_fmt(
        HeaderName::Via,
        format_args!("SIP/2.0/{transport} {local};branch={branch}"),
    )
    .ok()?;
    w.header(HeaderName::MaxForwards, "70").ok()?;
    w.header(HeaderName::From, from).ok()?;
    w.header_fmt(HeaderName::To, format_args!("<{to}>")).ok()?;
    w.header_fmt(
        HeaderName::CallId,
        format_args!("{}@{}", rng::token(12), server.config.domain),
    )
    .ok()?;
    w.header(HeaderName::CSeq, "1 MESSAGE").ok()?;
    w.header(HeaderName::ContentType, content_type).ok()?;
    let len = w.finish(body).ok()?;
    buf.truncate(len);
    Some((branch, Bytes::from(buf)))
}
