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
//!
//! An SDP body may carry several MSRP media lines (a chat and a file transfer, say): [`find_all`]
//! lists them by their `m=` index and [`rewrite_media`] rewrites each with its own leg pair. Other
//! media (`m=audio`, ...) pass through untouched: the relay is not in their path, so a section that
//! relied on the session-level `c=` is given the original address as its own `c=` line (the
//! session-level one now names the relay). An accepted MSRP line the relay does not carry (beyond
//! [`MAX_MSRP_LINES`], or without `a=path`) gets port 0, as an offerer removing a stream does
//! (RFC 3264 §8.2), and loses its `a=path` and `c=`: MSRP never bypasses the relay.

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
    find_all(body).into_iter().next().map(|line| line.media)
}

/// The most MSRP media lines of one SDP body the relay carries.
pub const MAX_MSRP_LINES: usize = 8;

/// One accepted MSRP media line of an SDP body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsrpLine {
    /// Its position among the body's `m=` lines (offer and answer keep the order, RFC 3264 §6).
    pub index: usize,
    pub media: MsrpMedia,
}

/// The body's media sections: (the `m=` line, the section's other lines), after the session part.
fn sections(text: &str) -> (Vec<&str>, Vec<(&str, Vec<&str>)>) {
    let mut session = Vec::new();
    let mut media: Vec<(&str, Vec<&str>)> = Vec::new();
    for line in lines(text) {
        if line.starts_with("m=") {
            media.push((line, Vec::new()));
        } else if let Some((_, rest)) = media.last_mut() {
            rest.push(line);
        } else {
            session.push(line);
        }
    }
    (session, media)
}

/// The accepted (non-zero port) MSRP media lines of `body` that have a path, first
/// [`MAX_MSRP_LINES`] only.
pub fn find_all(body: &[u8]) -> Vec<MsrpLine> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Vec::new();
    };
    let (session, media) = sections(text);
    let attribute = |lines: &[&str], name: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
    };
    let session_setup = attribute(&session, "a=setup:");
    media
        .iter()
        .enumerate()
        .filter(|(_, (m, _))| is_msrp_media(m))
        .filter_map(|(index, (_, rest))| {
            let path = attribute(rest, "a=path:").filter(|p| !p.is_empty())?;
            let setup = attribute(rest, "a=setup:")
                .or_else(|| session_setup.clone())
                .unwrap_or_else(|| "active".to_owned());
            Some(MsrpLine {
                index,
                media: MsrpMedia { path, setup },
            })
        })
        .take(MAX_MSRP_LINES)
        .collect()
}

/// How one MSRP media line is rewritten by [`rewrite_media`].
#[derive(Clone, Debug)]
pub struct LineRewrite {
    /// The line's position among the `m=` lines.
    pub index: usize,
    pub port: u16,
    pub path: String,
    pub setup: &'static str,
    /// `TCP/TLS/MSRP` rather than `TCP/MSRP`.
    pub tls: bool,
}

/// `body` with each MSRP line of `rewrites` pointing at the relay (`host`, and the line's port, path,
/// setup and transport); other MSRP lines rejected with port 0; other media untouched (see the
/// module docs).
pub fn rewrite_media(body: &[u8], host: &str, rewrites: &[LineRewrite]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let family = if host.contains(':') { "IP6" } else { "IP4" };
    let relay_c = format!("c=IN {family} {host}");
    let (session, media) = sections(text);
    let original_c = session.iter().find(|l| l.starts_with("c=")).copied();
    let mut out = String::with_capacity(text.len() + 128 * rewrites.len().max(1));
    let mut push = |line: &str| {
        out.push_str(line);
        out.push_str("\r\n");
    };
    for line in &session {
        match line {
            l if l.starts_with("c=") => push(&relay_c),
            l if l.starts_with("a=setup:") => {}
            l => push(l),
        }
    }
    for (index, (m, rest)) in media.iter().enumerate() {
        let mut fields: Vec<&str> = m.split_whitespace().collect();
        match rewrites.iter().find(|r| r.index == index) {
            Some(r) => {
                let port = r.port.to_string();
                if let Some(slot) = fields.get_mut(1) {
                    *slot = &port;
                }
                if let Some(slot) = fields.get_mut(2) {
                    *slot = if r.tls { "TCP/TLS/MSRP" } else { "TCP/MSRP" };
                }
                push(&fields.join(" "));
                let mut setup_written = false;
                for line in rest {
                    if line.starts_with("c=") {
                        push(&relay_c);
                    } else if line.starts_with("a=path:") {
                        push(&format!("a=path:{}", r.path));
                    } else if line.starts_with("a=setup:") {
                        push(&format!("a=setup:{}", r.setup));
                        setup_written = true;
                    } else {
                        push(line);
                    }
                }
                if !setup_written {
                    push(&format!("a=setup:{}", r.setup));
                }
            }
            None if is_msrp_media(m) => {
                if let Some(slot) = fields.get_mut(1) {
                    *slot = "0";
                }
                push(&fields.join(" "));
                // The endpoint's own address stays out: nobody may be sent around the relay.
                rest.iter()
                    .filter(|l| !l.starts_with("a=path:") && !l.starts_with("c="))
                    .for_each(|l| push(l));
            }
            None => {
                push(m);
                let own_c = rest.iter().any(|l| l.starts_with("c="));
                if let (false, Some(c)) = (own_c, original_c) {
                    push(c);
                }
                rest.iter().for_each(|l| push(l));
            }
        }
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
        let line = LineRewrite {
            index: 0,
            port: 2855,
            path: path.to_owned(),
            setup: "actpass",
            tls: false,
        };
        let out = rewrite_media(OFFER.as_bytes(), "127.0.0.1", std::slice::from_ref(&line)).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("c=IN IP4 127.0.0.1\r\n"), "{out}");
        assert!(out.contains("m=message 2855 TCP/MSRP *\r\n"), "{out}");
        assert!(out.contains(&format!("a=path:{path}\r\n")), "{out}");
        assert!(out.ends_with("a=setup:actpass\r\n"), "{out}");
        assert!(out.contains("o=alice 1 1 IN IP4 10.0.0.1\r\n"), "o= is kept");
        assert_eq!(find(out.as_bytes()).unwrap().path, path);
        // The transport follows the leg: TLS on request.
        let tls = LineRewrite { tls: true, ..line };
        let out = rewrite_media(OFFER.as_bytes(), "127.0.0.1", &[tls]).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("m=message 2855 TCP/TLS/MSRP *\r\n"), "{out}");
    }

    const TWO_LINES_AND_AUDIO: &str = "v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\n\
t=0 0\r\nm=message 7394 TCP/MSRP *\r\na=path:msrp://10.0.0.1:7394/chat;tcp\r\n\
m=audio 4000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n\
m=message 7394 TCP/TLS/MSRP *\r\na=path:msrps://10.0.0.1:7394/file;tcp\r\na=setup:passive\r\n\
a=sendonly\r\n";

    #[test]
    fn finds_every_msrp_line_by_its_m_index() {
        let found = find_all(TWO_LINES_AND_AUDIO.as_bytes());
        let summary: Vec<_> = found
            .iter()
            .map(|l| (l.index, l.media.path.as_str(), l.media.setup.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (0, "msrp://10.0.0.1:7394/chat;tcp", "active"),
                (2, "msrps://10.0.0.1:7394/file;tcp", "passive")
            ]
        );
    }

    #[test]
    fn rewrites_each_msrp_line_and_leaves_audio_where_it_was() {
        let rewrite = |index, path: &str, tls| LineRewrite {
            index,
            port: 2855,
            path: path.to_owned(),
            setup: "actpass",
            tls,
        };
        let rewrites = [
            rewrite(0, "msrp://r/a;tcp x", false),
            rewrite(2, "msrp://r/b;tcp y", false),
        ];
        let out = rewrite_media(TWO_LINES_AND_AUDIO.as_bytes(), "127.0.0.1", &rewrites).unwrap();
        let out = String::from_utf8(out).unwrap();
        let expected = "v=0\r\no=alice 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=message 2855 TCP/MSRP *\r\na=path:msrp://r/a;tcp x\r\na=setup:actpass\r\n\
m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.1\r\na=rtpmap:0 PCMU/8000\r\n\
m=message 2855 TCP/MSRP *\r\na=path:msrp://r/b;tcp y\r\na=setup:actpass\r\na=sendonly\r\n";
        assert_eq!(out, expected);
        // A line the relay does not carry is removed (port 0), never passed around the relay.
        let out = rewrite_media(TWO_LINES_AND_AUDIO.as_bytes(), "127.0.0.1", &rewrites[..1]).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("m=message 0 TCP/TLS/MSRP *\r\n"), "{out}");
        assert_eq!(find_all(out.as_bytes()).len(), 1);
    }

    #[test]
    fn rejected_or_missing_msrp_media_is_not_found() {
        assert!(find(OFFER.replace("7394 TCP", "0 TCP").as_bytes()).is_none());
        assert!(find(b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n").is_none());
    }
}
