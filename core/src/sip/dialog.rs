//! SIP dialogs (RFC 3261 §12): the peer-to-peer state two user agents keep between the request that
//! creates a dialog and its end.
//!
//! Like the transactions, a [`Dialog`] takes pieces already extracted from messages ([`DialogParts`]:
//! Call-ID, tags, URIs, Contact, Record-Route, CSeq) and needs no parser. It stores what it keeps in
//! bounded strings, whose capacities are the `pub const`s below.
//!
//! ## Rules implemented, each with a test (`dialog::tests`, named after the rule)
//!
//! | § | rule | API |
//! |---|---|---|
//! | 12.1 | only 101-199 with a To tag (early) and 2xx (confirmed) to INVITE create a dialog; SUBSCRIBE creates one with its 2xx (RFC 6665) | [`Dialog::new_uac`], [`Dialog::new_uas`] |
//! | 12.1.1 | UAS: route set = request Record-Route in order; remote target = request Contact; remote seq = request CSeq, local seq empty; local tag = our To tag, remote tag = From tag (may be null); remote URI = From, local URI = To | [`Dialog::new_uas`] |
//! | 12.1.2 | UAC: route set = response Record-Route *reversed*; remote target = response Contact; local seq = request CSeq, remote seq empty; local tag = From tag, remote tag = To tag; local URI = From, remote URI = To | [`Dialog::new_uac`] |
//! | 12.1.1/12.1.2 | secure flag = sent/received over TLS and Request-URI is SIPS | [`secure_flag`] |
//! | 13.2.2.4 | a 2xx for an early dialog confirms it and recomputes route set and remote target | [`Dialog::confirm_uac`] |
//! | 12.2.1.1 | To/From/Call-ID from the dialog; local CSeq + 1 (initial 1 when empty) | [`Dialog::next_local_cseq`] |
//! | 12.2.1.1 | Request-URI and Route: empty route set -> remote target, no Route; loose first hop -> remote target and the whole route set; strict first hop -> first route (stripped) and the rest followed by the remote target | [`Dialog::request_target`] |
//! | 12.2.1.2 | a 2xx to a target refresh replaces the remote target with its Contact; 481 and 408 (timeout) end the dialog | [`Dialog::handle_response`] |
//! | 12.2.2 | remote CSeq: set when empty, lower is out of order (500, no state change), higher updates; a target refresh request replaces the remote target | [`Dialog::handle_request`] |
//! | 12.3 | a non-2xx final response ends an early dialog; BYE ends a dialog | [`Dialog::handle_response`], [`Dialog::terminate`] |
//!
//! Target refresh requests are INVITE (re-INVITE), UPDATE (RFC 3311), SUBSCRIBE and NOTIFY (RFC 6665)
//! and REFER (RFC 3515 as updated by RFC 6665): [`is_target_refresh`]. The route set never changes after
//! the dialog is confirmed.
//!
//! Dialog identifiers compare the Call-ID byte for byte (§20.8: case-sensitive) and tags ignoring ASCII
//! case (tags are tokens, §7.3.1).

use crate::ascii_trim::TrimAsciiWs;
use core::fmt;

use heapless::String;

use crate::rng::{push_hex, Rng};

/// Longest Call-ID kept. Ours are short; 96 leaves room for peers that append a long host name.
pub const MAX_CALL_ID_LEN: usize = 96;
/// Longest tag kept. Ours are [`GENERATED_TAG_LEN`]; 48 covers the usual peer formats.
pub const MAX_TAG_LEN: usize = 48;
/// Longest URI kept (local, remote, remote target): enough for `sips:user@host:port;transport=...;gr=...`.
pub const MAX_URI_LEN: usize = 160;
/// Longest Record-Route value kept (a name-addr with its parameters).
pub const MAX_ROUTE_LEN: usize = 160;
/// Most routes in a route set. Four proxies covers an IMS-style path (P-CSCF, S-CSCF, AS, I-CSCF);
/// a dialog then takes about 1.3 KiB.
pub const MAX_ROUTES: usize = 4;
const _: () = assert!(MAX_ROUTE_LEN <= MAX_URI_LEN, "a route must fit as a Request-URI");
/// Random bytes in a generated tag (64 bits; §19.3 wants at least 32).
pub const TAG_RANDOM_BYTES: usize = 8;
/// Length of a tag made by [`generate_tag`].
pub const GENERATED_TAG_LEN: usize = 2 * TAG_RANDOM_BYTES;
/// The largest CSeq sequence number allowed (§8.1.1.5: less than 2^31).
pub const MAX_CSEQ: u32 = (1 << 31) - 1;

/// A tag made by [`generate_tag`].
pub type Tag = String<GENERATED_TAG_LEN>;

/// Makes a fresh From/To tag: [`TAG_RANDOM_BYTES`] random bytes in lowercase hex.
pub fn generate_tag<R: Rng + ?Sized>(rng: &mut R) -> Tag {
    let mut random = [0u8; TAG_RANDOM_BYTES];
    rng.fill(&mut random);
    let mut tag = Tag::new();
    push_hex(&mut tag, &random);
    tag
}

/// `true` for methods whose requests (and 2xx responses) replace a dialog's remote target.
pub fn is_target_refresh(method: &str) -> bool {
    matches!(method, "INVITE" | "UPDATE" | "SUBSCRIBE" | "NOTIFY" | "REFER")
}

/// The dialog's secure flag (§12.1.1, §12.1.2): the request went over TLS and its Request-URI is SIPS.
pub fn secure_flag(over_tls: bool, request_uri: &str) -> bool {
    over_tls
        && request_uri
            .get(..5)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("sips:"))
}

/// The pieces of a message a dialog is built or updated from, as the message carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialogParts<'a> {
    /// The Call-ID.
    pub call_id: &'a str,
    /// The URI of the From header (without display name or parameters).
    pub from_uri: &'a str,
    /// The From tag; empty when absent (RFC 2543 peers: a null tag).
    pub from_tag: &'a str,
    /// The URI of the To header.
    pub to_uri: &'a str,
    /// The To tag; empty when absent.
    pub to_tag: &'a str,
    /// The URI of the Contact header, if there is one.
    pub contact: Option<&'a str>,
    /// The Record-Route values in message order, one route per entry, each as a name-addr
    /// (`<sip:p1.example.com;lr>`) or bare URI, with all parameters.
    pub record_route: &'a [&'a str],
    /// The CSeq sequence number.
    pub cseq: u32,
}

/// Which request created the dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DialogUsage {
    /// An INVITE (session).
    Invite,
    /// A SUBSCRIBE (RFC 6665 subscription).
    Subscribe,
}

/// The states of a dialog (§12).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DialogState {
    /// Created by a provisional response with a To tag.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Ended (BYE, non-2xx final for an early dialog, 481/408 to an in-dialog request).
    Terminated,
}

/// Which piece of a message did not fit or was missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// The Call-ID.
    CallId,
    /// A From or To tag.
    Tag,
    /// The From or To URI.
    Uri,
    /// The Contact URI.
    Contact,
    /// A Record-Route value.
    Route,
}

/// Why a dialog operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DialogError {
    /// The response does not create a dialog (100, a final non-2xx, a 1xx without To tag, a 1xx to
    /// SUBSCRIBE).
    NotDialogCreating(u16),
    /// A required piece is missing (the Contact of a dialog-creating message, our own tag).
    Missing(Field),
    /// A piece exceeds its capacity (see the `MAX_*` constants).
    TooLong(Field),
    /// More than [`MAX_ROUTES`] Record-Route values.
    TooManyRoutes,
    /// §12.2.2: the request's CSeq is lower than the remote sequence number; answer 500.
    CSeqOutOfOrder {
        /// The highest CSeq received so far.
        remote: u32,
        /// The CSeq of the rejected request.
        received: u32,
    },
    /// The local CSeq reached 2^31 - 1; end the dialog and start a new one.
    CSeqExhausted,
    /// The dialog has terminated.
    Terminated,
}

impl DialogError {
    /// The status code a UAS answers an in-dialog request with when this error rejects it:
    /// 500 for an out-of-order CSeq (§12.2.2) and for capacity limits, 481 once terminated.
    pub fn status_code(&self) -> u16 {
        match self {
            DialogError::Terminated => 481,
            _ => 500,
        }
    }
}

impl fmt::Display for DialogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogError::NotDialogCreating(code) => write!(
                f,
                "a {code} response does not create a dialog (needs 101-199 with a To tag or 2xx, 2xx only for SUBSCRIBE)"
            ),
            DialogError::Missing(field) => write!(f, "the message lacks its {field:?}, which a dialog needs"),
            DialogError::TooLong(field) => write!(f, "the {field:?} exceeds the dialog's capacity for it (MAX_* constants)"),
            DialogError::TooManyRoutes => write!(f, "more than {MAX_ROUTES} Record-Route values; raise MAX_ROUTES"),
            DialogError::CSeqOutOfOrder { remote, received } => write!(
                f,
                "CSeq {received} is lower than the last one received ({remote}); reject with 500 (RFC 3261 §12.2.2)"
            ),
            DialogError::CSeqExhausted => f.write_str("the local CSeq reached 2^31-1; end this dialog and start a new one"),
            DialogError::Terminated => f.write_str("the dialog has terminated; answer 481 to requests in it"),
        }
    }
}

/// The dialog identifier: Call-ID, local tag, remote tag (§12).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DialogId {
    call_id: String<MAX_CALL_ID_LEN>,
    local_tag: String<MAX_TAG_LEN>,
    remote_tag: String<MAX_TAG_LEN>,
}

impl DialogId {
    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }
    /// Our tag (empty means null).
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }
    /// The peer's tag (empty means null, an RFC 2543 peer).
    pub fn remote_tag(&self) -> &str {
        &self.remote_tag
    }
    /// `true` when a message with these pieces belongs to this dialog (from our point of view: for a
    /// request we receive, local = To tag and remote = From tag; for a response, the reverse).
    pub fn matches(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> bool {
        self.call_id.as_str() == call_id
            && self.local_tag.eq_ignore_ascii_case(local_tag)
            && self.remote_tag.eq_ignore_ascii_case(remote_tag)
    }
}

/// One Route header field value of an in-dialog request, from [`RequestTarget::routes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteValue<'a> {
    /// A route set entry, verbatim (name-addr or bare URI with its parameters).
    Entry(&'a str),
    /// The remote target appended after a strict router; written `<uri>`.
    RemoteTarget(&'a str),
}

impl fmt::Display for RouteValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteValue::Entry(value) => f.write_str(value),
            RouteValue::RemoteTarget(uri) => write!(f, "<{uri}>"),
        }
    }
}

/// Where an in-dialog request goes (§12.2.1.1): its Request-URI and Route values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTarget<'a> {
    /// The Request-URI (a copy: after a strict router it is the first route, stripped of the
    /// parameters a Request-URI may not carry).
    pub request_uri: String<MAX_URI_LEN>,
    routes: &'a [String<MAX_ROUTE_LEN>],
    remote_target_last: Option<&'a str>,
}

impl<'a> RequestTarget<'a> {
    /// The Route header field values in order (none when the route set is empty).
    pub fn routes(&self) -> impl Iterator<Item = RouteValue<'a>> + 'a {
        self.routes
            .iter()
            .map(|r| RouteValue::Entry(r.as_str()))
            .chain(self.remote_target_last.map(RouteValue::RemoteTarget))
    }
}

/// The URI inside a route value: between `<` and `>` for a name-addr, else the whole value.
pub fn route_uri(value: &str) -> &str {
    let value = value.trim_ws();
    match (value.find('<'), crate::substring::memrchr(b'>', value.as_bytes())) {
        (Some(open), Some(close)) if open < close => value.get(open + 1..close).unwrap_or(value),
        _ => value,
    }
    .trim_ws()
}

/// `true` when a route URI carries the `lr` parameter (a loose router, §19.1.1).
pub fn is_loose_route(uri: &str) -> bool {
    let without_headers = uri.split('?').next().unwrap_or(uri);
    without_headers.split(';').skip(1).any(|param| {
        param
            .split('=')
            .next()
            .unwrap_or("")
            .trim_ws()
            .eq_ignore_ascii_case("lr")
    })
}

/// The first route as a Request-URI (§12.2.1.1, strict router): without the `method` parameter and
/// without headers, which §19.1.1 does not allow in a Request-URI.
fn strict_request_uri(route: &str) -> Result<String<MAX_URI_LEN>, DialogError> {
    let uri = route_uri(route);
    let without_headers = uri.split('?').next().unwrap_or(uri);
    let mut out = String::new();
    for (i, part) in without_headers.split(';').enumerate() {
        let name = part.split('=').next().unwrap_or("").trim_ws();
        if i > 0 && name.eq_ignore_ascii_case("method") {
            continue;
        }
        if i > 0 {
            out.push(';').map_err(|_| DialogError::TooLong(Field::Route))?;
        }
        out.push_str(part)
            .map_err(|_| DialogError::TooLong(Field::Route))?;
    }
    Ok(out)
}

fn copy<const N: usize>(value: &str, field: Field) -> Result<String<N>, DialogError> {
    String::try_from(value).map_err(|_| DialogError::TooLong(field))
}

mod state;

pub use state::Dialog;

#[cfg(test)]
mod tests;
