//! Edits of a CPIM message's header block (RFC 3862) that the Controlling function makes to the
//! copies and notifications it forwards, as text: the content stays byte for byte. Each edit
//! returns `None` (or the body unchanged) when the body does not have the shape it expects, and
//! never panics on any input.
//!
//! | edit | where |
//! |---|---|
//! | [`with_record_route`] | a new top `IMDN-Record-Route` (RFC 5438 §6.5), before any existing one, else at the end of the message headers |
//! | [`without_own_route`] | the first `IMDN-Route` naming us removed (§8: an intermediary pops its own route) |
//! | [`with_anonymous_from`] | the CPIM `From` replaced by the anonymous URI (RFC 3323 privacy) |

use crate::server::participating::address_key;
use simple_im_core::cpim;

/// The CPIM From a copy shows when its sender asked for privacy.
pub const ANONYMOUS_CPIM_FROM: &str = "<sip:anonymous@anonymous.invalid>";

/// The CPIM body `body` with `IMDN-Record-Route: <uri>` as its top route, written with the prefix
/// `prefix` the IM gave the IMDN namespace. `None` when the body is not CPIM as expected.
pub fn with_record_route(body: &[u8], prefix: &str, uri: &str) -> Option<Vec<u8>> {
    let parsed = cpim::Message::parse(body).ok()?;
    // Skip MIME headers wrapping the CPIM message, when the sender included them.
    let start = if parsed.outer_headers().is_empty() {
        0
    } else {
        find(body, b"\r\n\r\n", 0)? + 4
    };
    let block_end = find(body, b"\r\n\r\n", start)? + 2;
    let mut at = block_end;
    let mut line_start = start;
    while line_start < block_end {
        let line_end = find(body, b"\r\n", line_start)?;
        let name = body.get(line_start..line_end)?.split(|b| *b == b':').next()?;
        let is_route =
            std::str::from_utf8(name).is_ok_and(|n| n.trim().rsplit('.').next() == Some("IMDN-Record-Route"));
        if is_route {
            at = line_start;
            break;
        }
        line_start = line_end + 2;
    }
    let line = format!("{prefix}.IMDN-Record-Route: <{uri}>\r\n");
    let mut out = Vec::with_capacity(body.len() + line.len());
    out.extend_from_slice(body.get(..at)?);
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(body.get(at..)?);
    Some(out)
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// `body` (CPIM) with its `From` header's value replaced by the anonymous URI.
pub fn with_anonymous_from(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::with_capacity(text.len());
    let mut replaced = false;
    let mut rest = text;
    while let Some(end) = rest.find("\r\n") {
        let (line, after) = rest.split_at(end);
        if line.is_empty() {
            break;
        }
        match line.split_once(':') {
            Some((name, _)) if !replaced && name.trim() == "From" => {
                out.push_str("From: ");
                out.push_str(ANONYMOUS_CPIM_FROM);
                replaced = true;
            }
            _ => out.push_str(line),
        }
        out.push_str("\r\n");
        rest = after.get(2..)?;
    }
    out.push_str(rest);
    replaced.then(|| out.into_bytes())
}

/// `body` without the first `IMDN-Route` line naming `uri`.
pub fn without_own_route(body: &[u8], uri: &str) -> Vec<u8> {
    let mut start = 0;
    while let Some(end) = find(body, b"\r\n", start) {
        if end == start {
            break;
        }
        let line = String::from_utf8_lossy(body.get(start..end).unwrap_or_default());
        let is_ours = line.split_once(':').is_some_and(|(name, value)| {
            name.trim().rsplit('.').next() == Some("IMDN-Route") && address_key(value) == address_key(uri)
        });
        if is_ours {
            let mut out = body.get(..start).unwrap_or_default().to_vec();
            out.extend_from_slice(body.get(end + 2..).unwrap_or_default());
            return out;
        }
        start = end + 2;
    }
    body.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const IM: &str = "From: <sip:a@d>\r\nTo: <sip:x@d>\r\nNS: imdn <urn:ietf:params:imdn>\r\n\
imdn.Message-ID: m1\r\n\r\nContent-Type: text/plain\r\n\r\nFrom: not a header";

    #[test]
    fn the_route_goes_at_the_end_of_the_message_headers_or_above_an_existing_one() {
        let routed = with_record_route(IM.as_bytes(), "imdn", "sip:g@d").unwrap();
        let text = String::from_utf8(routed).unwrap();
        assert!(text.contains("imdn.Message-ID: m1\r\nimdn.IMDN-Record-Route: <sip:g@d>\r\n\r\nContent-Type"));
        let again = with_record_route(text.as_bytes(), "imdn", "sip:e@d").unwrap();
        let again = String::from_utf8(again).unwrap();
        assert!(again.contains("imdn.IMDN-Record-Route: <sip:e@d>\r\nimdn.IMDN-Record-Route: <sip:g@d>\r\n"));
        assert!(with_record_route(b"not cpim", "imdn", "sip:g@d").is_none());
    }

    #[test]
    fn only_the_message_headers_from_is_anonymised() {
        let text = String::from_utf8(with_anonymous_from(IM.as_bytes()).unwrap()).unwrap();
        assert!(text.starts_with("From: <sip:anonymous@anonymous.invalid>\r\nTo: <sip:x@d>"));
        assert!(
            text.ends_with("\r\n\r\nFrom: not a header"),
            "content untouched: {text}"
        );
        assert!(with_anonymous_from(b"To: <sip:x@d>\r\n\r\nhi").is_none());
    }

    #[test]
    fn our_own_route_is_removed_and_nothing_else() {
        let notification =
            "From: <sip:b@d>\r\nimdn.IMDN-Route: <sip:g@d>\r\nimdn.IMDN-Route: <sip:h@d>\r\n\r\nx";
        let popped = without_own_route(notification.as_bytes(), "sip:g@d");
        assert_eq!(popped, b"From: <sip:b@d>\r\nimdn.IMDN-Route: <sip:h@d>\r\n\r\nx");
        assert_eq!(without_own_route(b"\r\n", "sip:g@d"), b"\r\n");
        assert_eq!(without_own_route(b"", "sip:g@d"), b"");
    }
}
