//! Rewriting the MSRP part of an SDP body so that an endpoint talks MSRP to the relay (OMA media-path
//! option 2), and rebuilding a SIP message around the new body.
//!
//! Only what routes the media changes; every other line passes through as it came:
//!
//! | line | inside the MSRP media section | elsewhere |
//! |---|---|---|
//! | `c=` | relay's advertised address | relay's advertised address (the session-level default) |
//! | `m=message PORT ...` | PORT becomes the relay's port | - |
//! | `a=path:` | the relay's URI for the leg, then the far endpoint's path | - |
//! | `a=setup:` | the relay's role toward the endpoint (added when absent) | dropped (re-stated in the media) |

use super::super::sip::{unfold, SipMessage};
use simple_im_core::sip::{HeaderName, MessageWriter, Method};

/// The MSRP media of an SDP body, as the endpoint wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsrpMedia {
    /// The endpoint's `a=path` (space-separated URIs).
    pub path: String,
    /// The endpoint's `a=setup` value (`active` when absent, RFC 6135 §4.1 for the offerer).
    pub setup: String,
}

impl MsrpMedia {
    /// Whether the endpoint only accepts connections (then the relay connects to it).
    pub fn is_passive(&self) -> bool {
        self.setup.eq_ignore_ascii_case("passive")
    }
}

fn lines(body: &str) -> impl Iterator<Item = &str> {
    body.lines()
        .map(|l| l.trim_end_matches('\r'))
        .filter(|l| !l.is_empty())
}

fn is_msrp_media(line: &str) -> bool {
    let mut fields = line.trim_start_matches("m=").split_whitespace();
    let (media, port, proto) = (fields.next(), fields.next(), fields.next());
    media == Some("message")
        && port.is_some_and(|p| p != "0")
        && proto.is_some_and(|p| p.eq_ignore_ascii_case("TCP/MSRP") || p.eq_ignore_ascii_case("TCP/TLS/MSRP"))
}

/// The first accepted (non-zero port) MSRP media of `body`, when there is one with a path.
pub fn find(body: &[u8]) -> Option<MsrpMedia> {
    let text = std::str::from_utf8(body).ok()?;
    let mut in_msrp = false;
    let mut path = None;
    let mut setup = None;
    let mut session_setup = None;
    for line in lines(text) {
        if line.starts_with("m=") {
            if path.is_some() {
                break;
            }
            in_msrp = is_msrp_media(line);
            continue;
        }
        let value = |name: &str| line.strip_prefix(name).map(|v| v.trim().to_owned());
        match (in_msrp, value("a=path:"), value("a=setup:")) {
            (true, Some(p), _) => path = Some(p),
            (true, _, Some(s)) => setup = Some(s),
            (false, _, Some(s)) => session_setup = Some(s),
            _ => {}
        }
    }
    Some(MsrpMedia {
        path: path.filter(|p| !p.is_empty())?,
        setup: setup.or(session_setup).unwrap_or_else(|| "active".to_owned()),
    })
}

/// `body` with its MSRP media pointing at the relay: `host:port`, `path` and `setup`.
pub fn rewrite(body: &[u8], host: &str, port: u16, path: &str, setup: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let family = if host.contains(':') { "IP6" } else { "IP4" };
    let mut out = String::with_capacity(text.len() + 128);
    let mut in_msrp = false;
    let mut setup_written = false;
    let finish_media = |out: &mut String, in_msrp: bool, setup_written: &mut bool| {
        if in_msrp && !*setup_written {
            out.push_str(&format!("a=setup:{setup}\r\n"));
            *setup_written = true;
        }
    };
    for line in lines(text) {
        if line.starts_with("m=") {
            finish_media(&mut out, in_msrp, &mut setup_written);
            in_msrp = !setup_written && is_msrp_media(line);
            if in_msrp {
                let mut fields: Vec<&str> = line.split_whitespace().collect();
                let port_text = port.to_string();
                if let Some(slot) = fields.get_mut(1) {
                    *slot = &port_text;
                }
                out.push_str(&fields.join(" "));
                out.push_str("\r\n");
                continue;
            }
        } else if line.starts_with("c=") {
            out.push_str(&format!("c=IN {family} {host}\r\n"));
            continue;
        } else if line.starts_with("a=setup:") {
            if in_msrp {
                out.push_str(&format!("a=setup:{setup}\r\n"));
                setup_written = true;
            }
            continue;
        } else if in_msrp && line.starts_with("a=path:") {
            out.push_str(&format!("a=path:{path}\r\n"));
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    finish_media(&mut out, in_msrp, &mut setup_written);
    Some(out.into_bytes())
}

/// `body` with the transport of its MSRP media set: `TCP/TLS/MSRP` when `tls`, else `TCP/MSRP`.
pub fn with_msrp_transport(body: &[u8], tls: bool) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let proto = if tls { "TCP/TLS/MSRP" } else { "TCP/MSRP" };
    let mut out = String::with_capacity(text.len() + 8);
    let mut done = false;
    for line in lines(text) {
        if !done && line.starts_with("m=") && is_msrp_media(line) {
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            if let Some(slot) = fields.get_mut(2) {
                *slot = proto;
            }
            out.push_str(&fields.join(" "));
            done = true;
        } else {
            out.push_str(line);
        }
        out.push_str("\r\n");
    }
    Some(out.into_bytes())
}

/// `msg` (request or response) with `body` in place of its own; Content-Length follows.
pub fn with_body(msg: &SipMessage, body: &[u8]) -> Option<SipMessage> {
    let mut buf = vec![0u8; 1024 + msg.raw().len() + body.len()];
    let mut w = match (msg.method(), msg.request_uri(), msg.status()) {
        (Some(method), Some(uri), _) => {
            MessageWriter::request(&mut buf, Method::from_token(method), uri).ok()?
        }
        (_, _, Some(code)) => MessageWriter::response(&mut buf, code, msg.reason()).ok()?,
        _ => return None,
    };
    for (name, value) in msg.headers() {
        w.header(HeaderName::parse(name), &unfold(value)).ok()?;
    }
    let len = w.finish(body).ok()?;
    buf.truncate(len);
    SipMessage::parse(bytes::Bytes::from(buf), true).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
m=message 7394 TCP/MSRP *\r\na=accept-types:text/plain\r\na=path:msrp://10.0.0.1:7394/abc;tcp\r\n";

    #[test]
    fn finds_the_path_and_defaults_setup_to_active() {
        let media = find(OFFER.as_bytes()).unwrap();
        assert_eq!(media.path, "msrp://10.0.0.1:7394/abc;tcp");
        assert_eq!(media.setup, "active");
        assert!(!media.is_passive());
    }

    #[test]
    fn rewrites_address_port_path_and_adds_setup() {
        let path = "msrp://127.0.0.1:2855/relay;tcp msrp://10.0.0.1:7394/abc;tcp";
        let out = rewrite(OFFER.as_bytes(), "127.0.0.1", 2855, path, "actpass").unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("c=IN IP4 127.0.0.1\r\n"), "{out}");
        assert!(out.contains("m=message 2855 TCP/MSRP *\r\n"), "{out}");
        assert!(out.contains(&format!("a=path:{path}\r\n")), "{out}");
        assert!(out.ends_with("a=setup:actpass\r\n"), "{out}");
        assert!(out.contains("o=alice 1 1 IN IP4 10.0.0.1\r\n"), "o= is kept");
        assert_eq!(find(out.as_bytes()).unwrap().path, path);
    }

    #[test]
    fn sets_the_msrp_transport_both_ways() {
        let tls = with_msrp_transport(OFFER.as_bytes(), true).unwrap();
        let tls = String::from_utf8(tls).unwrap();
        assert!(tls.contains("m=message 7394 TCP/TLS/MSRP *\r\n"), "{tls}");
        let plain = String::from_utf8(with_msrp_transport(tls.as_bytes(), false).unwrap()).unwrap();
        assert_eq!(plain, OFFER);
    }

    #[test]
    fn rejected_or_missing_msrp_media_is_not_found() {
        assert!(find(OFFER.replace("7394 TCP", "0 TCP").as_bytes()).is_none());
        assert!(find(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n").is_none());
    }
}
