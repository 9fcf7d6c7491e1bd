//! SIP: parse one datagram, validate it against RFC 3261, list its typed headers.

use super::{locate, Report};
use simple_im_core::sip::auth::{Challenge, Credentials};
use simple_im_core::sip::header::{
    parse_expires, parse_max_forwards, tokens, CSeq, ContentType, Event, FeatureSet, NameAddr,
    SubscriptionState, Via,
};
use simple_im_core::sip::validate::{check_with, Rules};
use simple_im_core::sip::{check, Header, HeaderName, Message, ParseConfig, ParseError, StartLine};

/// Header slots: generous for a file on a host (RFC 4475's longest message has 47 lines).
const SLOTS: usize = 256;

pub(crate) fn inspect(bytes: &[u8], report: &mut Report) -> Result<(), String> {
    let mut slots = [Header::EMPTY; SLOTS];
    let msg = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default())
        .map_err(|e| parse_error(bytes, e))?;
    if let Err(strict) = check(&msg) {
        // RFC 4475 §3.4.1: requests in RFC 2543 syntax (no Max-Forwards, ...) are to be accepted.
        check_with(&msg, &Rules { rfc2543_compat: true }).map_err(|_| strict.to_string())?;
        report.line(
            "note",
            format!("valid only as RFC 2543 (backward compatibility): {strict}"),
        );
    }

    match msg.start_line() {
        StartLine::Request { method, uri, version } => {
            report.line("request", format!("{} {uri} {version}", method.as_str()));
        }
        StartLine::Response {
            version,
            code,
            reason,
        } => {
            report.line("response", format!("{version} {code} {reason}"));
        }
    }
    for value in msg.values(HeaderName::Via) {
        let via = Via::parse(value).map_err(|e| at(&msg, value, format!("malformed Via: {}", e.kind)))?;
        let mut text = format!("{}/{}/{} {}", via.protocol, via.version, via.transport, via.host);
        if let Some(port) = via.port {
            text.push_str(&format!(":{port}"));
        }
        match via.branch {
            Some(branch) if via.has_magic_cookie() => text.push_str(&format!(" branch={branch}")),
            Some(branch) => text.push_str(&format!(" branch={branch} (RFC 2543 branch: no z9hG4bK cookie)")),
            None => text.push_str(" (no branch)"),
        }
        if let Some(received) = via.received {
            text.push_str(&format!(" received={received}"));
        }
        match via.rport {
            Some(Some(port)) => text.push_str(&format!(" rport={port}")),
            Some(None) => text.push_str(" rport"),
            None => {}
        }
        report.line("via", text);
    }
    for (label, name) in [
        ("from", HeaderName::From),
        ("to", HeaderName::To),
        ("contact", HeaderName::Contact),
        ("route", HeaderName::Route),
        ("record-route", HeaderName::RecordRoute),
        ("p-asserted-identity", HeaderName::PAssertedIdentity),
    ] {
        for value in msg.values(name) {
            if name == HeaderName::Contact && value.trim() == "*" {
                report.line(label, "* (all bindings)");
                continue;
            }
            let addr = NameAddr::parse(value)
                .map_err(|e| at(&msg, value, format!("malformed {}: {}", name.as_str(), e.kind)))?;
            let mut text = String::new();
            if let Some(display) = &addr.display_name {
                let name: String = display.chars().collect();
                text.push_str(&format!(
                    "\"{}\" ",
                    name.replace('\\', "\\\\").replace('"', "\\\"")
                ));
            }
            text.push_str(&format!("<{}>", addr.uri_text));
            if let Some(tag) = addr.tag() {
                text.push_str(&format!(" tag={tag}"));
            }
            if let Some(expires) = addr.expires() {
                text.push_str(&format!(" expires={expires}"));
            }
            report.line(label, text);
        }
    }
    if let Some(call_id) = msg.call_id() {
        report.line("call-id", call_id);
    }
    if let Some(value) = msg.header(HeaderName::CSeq) {
        let cseq = CSeq::parse(value).map_err(|e| at(&msg, value, format!("malformed CSeq: {}", e.kind)))?;
        report.line("cseq", format!("{} {}", cseq.seq, cseq.method.as_str()));
    }
    if let Some(value) = msg.header(HeaderName::MaxForwards) {
        let hops = parse_max_forwards(value)
            .map_err(|e| at(&msg, value, format!("malformed Max-Forwards: {}", e.kind)))?;
        report.line("max-forwards", hops);
    }
    if let Some(value) = msg.header(HeaderName::Expires) {
        let secs =
            parse_expires(value).map_err(|e| at(&msg, value, format!("malformed Expires: {}", e.kind)))?;
        report.line("expires", format!("{secs} s"));
    }
    if let Some(value) = msg.header(HeaderName::Event) {
        let event =
            Event::parse(value).map_err(|e| at(&msg, value, format!("malformed Event: {}", e.kind)))?;
        report.line(
            "event",
            format!(
                "{}{}",
                event.package,
                event.id().map(|id| format!(" id={id}")).unwrap_or_default()
            ),
        );
    }
    if let Some(value) = msg.header(HeaderName::SubscriptionState) {
        SubscriptionState::parse(value)
            .map_err(|e| at(&msg, value, format!("malformed Subscription-State: {}", e.kind)))?;
        report.line("subscription-state", value);
    }
    for (label, name) in [
        ("allow", HeaderName::Allow),
        ("supported", HeaderName::Supported),
        ("require", HeaderName::Require),
        ("proxy-require", HeaderName::ProxyRequire),
    ] {
        if msg.header(name).is_some() {
            let list: Vec<&str> = msg.values(name).flat_map(tokens).collect();
            report.line(label, list.join(", "));
        }
    }
    for value in msg.values(HeaderName::AcceptContact) {
        FeatureSet::parse(value)
            .map_err(|e| at(&msg, value, format!("malformed Accept-Contact: {}", e.kind)))?;
        report.line("accept-contact", value);
    }
    for (label, name) in [
        ("www-authenticate", HeaderName::WwwAuthenticate),
        ("proxy-authenticate", HeaderName::ProxyAuthenticate),
    ] {
        for h in msg.headers_named(name) {
            let text = match Challenge::parse(h.value)
                .map_err(|e| at(&msg, h.value, format!("malformed {label}: {e}")))?
            {
                Challenge::Digest(_) => "Digest challenge".to_string(),
                Challenge::Other(other) => format!("{} (scheme not interpreted)", other.scheme),
            };
            report.line(label, text);
        }
    }
    for (label, name) in [
        ("authorization", HeaderName::Authorization),
        ("proxy-authorization", HeaderName::ProxyAuthorization),
    ] {
        for h in msg.headers_named(name) {
            let text = match Credentials::parse(h.value)
                .map_err(|e| at(&msg, h.value, format!("malformed {label}: {e}")))?
            {
                Credentials::Digest(_) => "Digest credentials".to_string(),
                Credentials::Other(other) => format!("{} (scheme not interpreted)", other.scheme),
            };
            report.line(label, text);
        }
    }
    if let Some(value) = msg.header(HeaderName::ContentType) {
        let ct = ContentType::parse(value)
            .map_err(|e| at(&msg, value, format!("malformed Content-Type: {}", e.kind)))?;
        report.line("content-type", format!("{}/{}", ct.kind, ct.subtype));
    }
    let others: Vec<&str> = msg
        .headers()
        .iter()
        .filter(|h| matches!(h.header_name(), HeaderName::Other(_)))
        .map(|h| h.name)
        .collect();
    if !others.is_empty() {
        report.line("other headers", others.join(", "));
    }
    report.line("headers", format!("{} lines", msg.headers().len()));
    report.line("body", format!("{} bytes", msg.body().len()));
    if msg.wire_len() < bytes.len() {
        report.line(
            "note",
            format!(
                "{} bytes after the body (beyond Content-Length) ignored, as RFC 3261 §18.3 says",
                bytes.len() - msg.wire_len()
            ),
        );
    }
    Ok(())
}

/// The parse error with its place in the file.
fn parse_error(bytes: &[u8], e: ParseError) -> String {
    match e {
        ParseError::NonUtf8 { offset }
        | ParseError::BareLineFeed { offset }
        | ParseError::HeaderWithoutColon { offset }
        | ParseError::BadHeaderName { offset }
        | ParseError::OrphanContinuation { offset } => {
            let text = e.to_string();
            let reason = text.split_once(": ").map_or(text.as_str(), |(_, r)| r);
            format!("{}: {reason}", locate(bytes, offset))
        }
        _ => e.to_string(),
    }
}

/// A header problem, placed at the header value's line and byte.
fn at(msg: &Message<'_, '_>, value: &str, what: String) -> String {
    match msg.offset_of(value) {
        Some(offset) => format!("{}: {what}", locate(msg.raw(), offset)),
        None => what,
    }
}
