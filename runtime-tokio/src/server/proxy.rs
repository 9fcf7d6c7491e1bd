//! The stateful proxy for the server's domain (RFC 3261 §16): forwarding a request to every registered
//! contact of the target user in parallel, and choosing the response to send upstream.
//!
//! Forwarding (§16.6): the Request-URI becomes the contact, our Via goes on top with a fresh branch,
//! Max-Forwards is decremented, the Proxy-Authorization for our realm is consumed (removed), a Route
//! naming us is removed, everything else (body included) is copied unaltered, except what privacy
//! asks to withhold ([`super::participating::anonymise`]).
//!
//! Response choice (§16.7): the first 2xx wins at once; otherwise, when every branch has ended, a 6xx
//! if any, else the lowest final status. Branches that timed out or could not be sent count as
//! unreachable; when all are, the caller decides (the pager defers the message).

use super::participating::anonymise;
use super::sip::{unfold, SipMessage};
use super::transaction::ClientFailure;
use super::transport::Flow;
use super::{rng, Server};
use bytes::Bytes;
use simple_im_core::sip::header::MAGIC_COOKIE;
use simple_im_core::sip::{HeaderName, MessageWriter, Method};
use std::sync::Arc;
use tokio::task::JoinSet;

/// The prefix of every branch this server generates, so it can recognise its own Via in a looping
/// request (§16.3 step 4).
pub const BRANCH_PREFIX: &str = "z9hG4bKsim";

/// The Max-Forwards of a request without one (§16.6 step 3).
pub const DEFAULT_MAX_FORWARDS: u32 = 70;

/// Where to send one branch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The new Request-URI (the contact).
    pub uri: String,
    /// The flow to the contact.
    pub flow: Flow,
}

/// How forking ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forked {
    /// A final response to relay upstream (a 2xx when any branch accepted).
    Answered(SipMessage),
    /// No branch produced a final response (timeouts, closed connections).
    Unreachable,
}

/// A fresh branch of ours.
pub fn new_branch() -> String {
    let random = rng::branch();
    format!("{BRANCH_PREFIX}{}", random.trim_start_matches(MAGIC_COOKIE))
}

/// Whether the request already went through this server: a Via with our sent-by and one of our
/// branches (a spiral through our own domain would carry a different Request-URI, which a single-domain
/// server never produces, so this is a loop).
pub fn is_loop(server: &Server, msg: &SipMessage, flow: &Flow) -> bool {
    let local = server.transactions.transports().local_addr(flow);
    msg.values(HeaderName::Via)
        .filter_map(|v| simple_im_core::sip::header::Via::parse(v).ok())
        // Our branch prefix first: it is rare on arrival, and cheaper to test than the sent-by.
        .filter(|via| via.branch.is_some_and(|b| b.starts_with(BRANCH_PREFIX)))
        .any(|via| {
            let sent_by = match via.port {
                Some(port) => format!("{}:{port}", via.host),
                None => via.host.to_string(),
            };
            sent_by == local.to_string()
        })
}

/// The Max-Forwards value to forward with, `None` when it is exhausted (483).
pub fn next_max_forwards(msg: &SipMessage) -> Option<u32> {
    match msg.header(HeaderName::MaxForwards) {
        None => Some(DEFAULT_MAX_FORWARDS),
        Some(value) => value.trim().parse::<u32>().ok().and_then(|n| n.checked_sub(1)),
    }
}

/// Builds the request for one branch.
pub fn build_branch(
    server: &Server,
    msg: &SipMessage,
    source: &Flow,
    target: &Target,
    branch: &str,
    max_forwards: u32,
    privacy: bool,
) -> Option<Bytes> {
    let method = Method::from_token(msg.method()?);
    let local = server.transactions.transports().local_addr(&target.flow);
    super::transport::encode(4096 + msg.raw().len(), |buf| {
        let mut w = MessageWriter::request(buf, method, &target.uri).ok()?;
        w.header_fmt(
            HeaderName::Via,
            format_args!("SIP/2.0/{} {local};branch={branch}", target.flow.via_transport()),
        )
        .ok()?;
        // Max-Forwards is rewritten in place (appended when absent) so the Via lines stay together.
        let had_max_forwards = msg.header(HeaderName::MaxForwards).is_some();
        let mut top_route_checked = false;
        let mut top_via_done = false;
        for (name, value) in msg.headers() {
            let header = HeaderName::parse(name);
            if header == HeaderName::MaxForwards {
                w.header_fmt(HeaderName::MaxForwards, format_args!("{max_forwards}"))
                    .ok()?;
                continue;
            }
            if header == HeaderName::ProxyAuthorization {
                continue;
            }
            if header == HeaderName::Route && !top_route_checked {
                top_route_checked = true;
                if names_us(server, value) {
                    continue;
                }
            }
            let value = if header == HeaderName::Via && !top_via_done {
                top_via_done = true;
                std::borrow::Cow::Owned(super::sip::via_with_received(value, source.peer()))
            } else {
                unfold(value)
            };
            if !privacy {
                w.header(header, &value).ok()?;
            } else if let Some(value) = anonymise(header, &value) {
                w.header(header, &value).ok()?;
            }
        }
        if !had_max_forwards {
            w.header_fmt(HeaderName::MaxForwards, format_args!("{max_forwards}"))
                .ok()?;
        }
        w.finish(msg.body()).ok()
    })
}

/// Whether a Route value names this server (its domain or one of its addresses).
pub fn names_us(server: &Server, route: &str) -> bool {
    let Ok(addr) = simple_im_core::sip::header::NameAddr::parse(route) else {
        return false;
    };
    let Some(sip) = addr.uri.as_sip() else {
        return false;
    };
    let host = sip.host.to_string();
    server.is_local(&host)
        || server
            .transactions
            .transports()
            .udp_addrs()
            .iter()
            .chain(&server.transactions.transports().tcp_addrs())
            .any(|a| {
                a.ip().to_string() == host.trim_matches(['[', ']']) && sip.port.unwrap_or(5060) == a.port()
            })
}

/// Sends `msg` to every target in parallel and returns the response to relay.
pub async fn fork(
    server: &Arc<Server>,
    msg: &SipMessage,
    source: &Flow,
    targets: &[Target],
    max_forwards: u32,
    privacy: bool,
) -> Forked {
    let method = msg.method().unwrap_or("").to_owned();
    let mut branches = JoinSet::new();
    for target in targets {
        let branch = new_branch();
        let Some(bytes) = build_branch(server, msg, source, target, &branch, max_forwards, privacy) else {
            continue;
        };
        let server = server.clone();
        let flow = target.flow;
        let method = method.clone();
        branches.spawn(async move {
            let outcome = server.transactions.request(flow, &branch, &method, bytes).await;
            if outcome == Err(ClientFailure::Transport) {
                // A closed connection: its registrations cannot be reached any more.
                server.location.remove_flow(&flow);
            }
            outcome
        });
    }
    let mut best: Option<SipMessage> = None;
    while let Some(done) = branches.join_next().await {
        let Ok(Ok(response)) = done else { continue };
        let code = response.status().unwrap_or(500);
        if (200..300).contains(&code) {
            // The other branches finish on their own; for MESSAGE there is nothing to cancel.
            branches.detach_all();
            return Forked::Answered(response);
        }
        let better = match &best {
            None => true,
            Some(current) => {
                let old = current.status().unwrap_or(500);
                old < 600 && (code >= 600 || code < old)
            }
        };
        if better {
            best = Some(response);
        }
    }
    best.map_or(Forked::Unreachable, Forked::Answered)
}
