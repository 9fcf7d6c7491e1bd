//! Small helpers that write the client's requests and responses with the SIP builder.

use heapless::{String, Vec};

use crate::rng::Rng;
use crate::sip::builder::{response_to, BuildError, MessageWriter};
use crate::sip::{HeaderName, Message, Method};
use crate::write::Decimal;

/// Random bytes in a generated Call-ID.
pub(crate) const CALL_ID_RANDOM_BYTES: usize = 12;
/// A generated Call-ID (hex).
pub(crate) type CallId = String<{ 2 * CALL_ID_RANDOM_BYTES }>;

pub(crate) fn new_call_id(rng: &mut impl Rng) -> CallId {
    let mut random = [0u8; CALL_ID_RANDOM_BYTES];
    rng.fill(&mut random);
    let mut id = CallId::new();
    crate::rng::push_hex(&mut id, &random);
    id
}

/// The value is already free of line breaks (built from Display impls that write none); kept as a
/// function so the call site says why it is safe.
pub(crate) fn header_safe(value: &str) -> &str {
    value
}

/// The reason phrase of the 400 answering an invalid request: `Bad Request (what is wrong)`, cut
/// after the last piece that fits in 96 bytes (a piece that does not fit ends the text, as `write!`
/// into a full string would).
pub(crate) fn bad_request_reason(kind: &crate::sip::InvalidKind<'_>) -> String<96> {
    let mut reason = String::new();
    let mut full = reason.push_str("Bad Request (").is_err();
    let mut push = |piece: &str| {
        if !full {
            full = reason.push_str(piece).is_err();
        }
    };
    kind.describe(&mut push);
    push(")");
    reason
}

/// The server-transaction key of a request (RFC 3261 §17.2.3), when its top Via has an RFC 3261 branch.
/// Writes a response to `msg` into `out` (replacing its contents).
pub(crate) fn response<const N: usize>(
    msg: &Message<'_, '_>,
    code: u16,
    reason: &str,
    tag: &str,
    allow: &str,
    out: &mut Vec<u8, N>,
) -> Result<(), BuildError> {
    fill(out, |buf| {
        let mut w = response_to(msg, code, reason, Some(tag), buf)?;
        if code == 405 {
            w.header(HeaderName::Allow, allow)?;
        }
        w.finish(b"")
    })
}

/// The parts every out-of-dialog request of the client shares.
pub(crate) struct RequestHead<'s> {
    pub method: Method<'s>,
    pub uri: &'s str,
    pub transport: &'s str,
    pub local: &'s str,
    pub branch: &'s str,
    pub display_name: &'s str,
    pub from_uri: &'s str,
    pub from_tag: &'s str,
    pub to: &'s str,
    pub call_id: &'s str,
    pub cseq: u32,
}

/// Starts a request with Via (with `rport`, RFC 3581, so NATed devices get answers), Max-Forwards,
/// From, To, Call-ID and CSeq. The caller adds its own headers and finishes.
pub(crate) fn start_request<'b>(
    buf: &'b mut [u8],
    head: &RequestHead<'_>,
) -> Result<MessageWriter<'b>, BuildError> {
    let mut w = MessageWriter::request(buf, head.method, head.uri)?;
    w.header_parts(
        HeaderName::Via,
        &[
            "SIP/2.0/",
            head.transport,
            " ",
            head.local,
            ";branch=",
            head.branch,
            ";rport",
        ],
    )?;
    w.header(HeaderName::MaxForwards, "70")?;
    check_value(head.display_name)?;
    check_value(head.from_uri)?;
    check_value(head.to)?;
    if head.display_name.is_empty() {
        w.header_parts(HeaderName::From, &["<", head.from_uri, ">;tag=", head.from_tag])?;
    } else {
        w.header_parts(
            HeaderName::From,
            &[
                "\"",
                head.display_name,
                "\" <",
                head.from_uri,
                ">;tag=",
                head.from_tag,
            ],
        )?;
    }
    w.header_parts(HeaderName::To, &["<", head.to, ">"])?;
    w.header(HeaderName::CallId, head.call_id)?;
    let cseq = Decimal::new(head.cseq.into());
    w.header_parts(HeaderName::CSeq, &[cseq.as_str(), " ", head.method.as_str()])?;
    Ok(w)
}

fn check_value(value: &str) -> Result<(), BuildError> {
    if value
        .bytes()
        .any(|b| matches!(b, b'\r' | b'\n' | b'"' | b'<' | b'>'))
    {
        Err(BuildError::LineBreakInValue)
    } else {
        Ok(())
    }
}

/// Runs `write` over the whole capacity of `out` and keeps the length it returns.
pub(crate) fn fill<const N: usize, E>(
    out: &mut Vec<u8, N>,
    write: impl FnOnce(&mut [u8]) -> Result<usize, E>,
) -> Result<(), E> {
    out.clear();
    let _ = out.resize(N, 0);
    match write(out.as_mut_slice()) {
        Ok(len) => {
            out.truncate(len);
            Ok(())
        }
        Err(e) => {
            out.clear();
            Err(e)
        }
    }
}

/// The registrar URI for an AoR: `sip:` and the AoR's host part.
pub(crate) fn registrar_uri(aor: &str) -> String<72> {
    let host = crate::substring::rsplit_once_ascii(aor, b'@').map_or(aor, |(_, h)| h);
    let host = host.split([';', '>', '?']).next().unwrap_or(host);
    let host = host.strip_prefix("sip:").unwrap_or(host);
    let mut uri = String::new();
    let _ = uri.push_str("sip:");
    let _ = uri.push_str(host);
    uri
}

/// The `user` part of an AoR (`sip:alice@example.com` -> `alice`).
pub(crate) fn aor_user(aor: &str) -> &str {
    let s = aor
        .strip_prefix("sips:")
        .or_else(|| aor.strip_prefix("sip:"))
        .unwrap_or(aor);
    s.split_once('@').map_or("", |(u, _)| u)
}

/// Writes `old` again as a new transaction with credentials (RFC 3261 §22.2): the top Via's branch
/// replaced by `branch`, CSeq `cseq`, earlier Authorization/Proxy-Authorization dropped, `answer` added
/// under `answer_name`; every other header and the body unchanged.
pub(crate) fn reissue_with_answer(
    out: &mut [u8],
    old: &Message<'_, '_>,
    branch: &str,
    cseq: u32,
    answer_name: HeaderName<'_>,
    answer: &str,
) -> Result<usize, BuildError> {
    let method = old.method().ok_or(BuildError::MissingHeader("CSeq"))?;
    let uri = old
        .request_uri()
        .ok_or(BuildError::MissingHeader("Request-URI"))?;
    let mut w = MessageWriter::request(out, method, uri)?;
    for h in old.headers() {
        match HeaderName::parse(h.name) {
            HeaderName::Via => {
                let old_branch = crate::sip::header::Via::parse(h.value)
                    .ok()
                    .and_then(|v| v.branch)
                    .unwrap_or("");
                let (before, after) =
                    crate::substring::split_once_str(h.value, old_branch).unwrap_or((h.value, ""));
                w.header_parts(HeaderName::Via, &[before, branch, after])?;
            }
            HeaderName::CSeq => {
                let cseq = Decimal::new(cseq.into());
                w.header_parts(HeaderName::CSeq, &[cseq.as_str(), " ", method.as_str()])?;
            }
            HeaderName::Authorization | HeaderName::ProxyAuthorization => {}
            name => {
                w.header(name, h.value)?;
            }
        }
    }
    w.header(answer_name, answer)?;
    w.finish(old.body())
}
