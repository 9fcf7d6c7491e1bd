//! Transaction keys and request classification straight from a parsed [`Message`].
//!
//! [`TransactionKey`] is built from pieces; this module extracts those pieces from a received message so
//! a UA, a server and the IM client all match the same way:
//!
//! - [`client_key_for_response`]: a response belongs to the client transaction whose branch equals the
//!   response's top Via branch and whose method equals the CSeq method (RFC 3261 §17.1.3). A response
//!   whose branch is not an RFC 3261 one cannot match anything we sent (we always send the cookie), so it
//!   is reported as [`KeyError::NotRfc3261Branch`]: drop it as stray.
//! - [`server_key_for_request`]: a request belongs to the server transaction with the same top Via
//!   branch, sent-by and method, ACK counting as INVITE (§17.2.3). When the branch lacks the magic cookie
//!   (or is only the cookie, RFC 4475 `badbranch`) the key falls back to the RFC 2543 rule: Request-URI,
//!   From tag, Call-ID, CSeq number, top Via and method.
//! - [`classify_request`]: given a way to ask "is there a transaction with this key?", says whether the
//!   request starts a new server transaction, retransmits the request of an existing one, is an ACK for
//!   an INVITE server transaction, or is an ACK no transaction owns (the ACK for a 2xx, which goes to the
//!   dialog layer, §13.3.1.4 and §17.1.1.3). [`TransactionTable::classify`] asks its own table.
//! - [`cancel_target_key`]: the key of the INVITE server transaction a CANCEL refers to (§9.2): the
//!   CANCEL's own key with INVITE as the method.
//!
//! ## sent-by
//!
//! The sent-by piece of a server key is written canonically from the parsed Via: the host as
//! [`crate::sip::uri::Host`] displays it (addresses normalised, domain names lowercased by
//! [`TransactionKey::server`]) and `:port` when a port was written. A port that is absent and an explicit
//! `5060` therefore differ, as the byte-wise comparison of §17.2.3 has them differ.
//!
//! ## What the owner still checks
//!
//! For an ACK matched by the RFC 2543 fallback, §17.2.3 also requires the To tag to equal the one the
//! server transaction sent in its response; the key cannot know that tag, so the owner compares it after
//! the lookup. Header syntax beyond what the key needs is [`crate::sip::validate`]'s job.

use core::fmt;

use heapless::String;

use super::key::{is_rfc3261_branch, KeyError, Rfc2543Pieces, TransactionKey, MAX_SENT_BY_LEN};
use super::server_invite::ServerRequest;
use super::table::TransactionTable;
use crate::sip::header::{CSeq, HeaderError, HeaderName, Via};
use crate::sip::message::Message;
use crate::sip::method::Method;

/// Why no transaction key could be built from a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MatchError {
    /// A request was given where a response was expected, or the other way round.
    WrongDirection,
    /// The message has no Via header field.
    MissingVia,
    /// The top Via value does not parse.
    MalformedVia(HeaderError),
    /// The message has no CSeq header field.
    MissingCSeq,
    /// The CSeq value does not parse.
    MalformedCSeq(HeaderError),
    /// The RFC 2543 fallback needs a Call-ID and the request has none.
    MissingCallId,
    /// The RFC 2543 fallback needs the From tag and the request has no From.
    MissingFrom,
    /// The RFC 2543 fallback needs the From tag and the From value does not parse.
    MalformedFrom(HeaderError),
    /// The pieces were found but do not make a key (see [`KeyError`]).
    Key(KeyError),
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchError::WrongDirection => f.write_str(
                "a response key needs a response and a request key a request; \
                 check the start line before matching",
            ),
            MatchError::MissingVia => {
                f.write_str("the message has no Via header, so it belongs to no transaction")
            }
            MatchError::MalformedVia(e) => write!(f, "the top Via does not parse: {e}"),
            MatchError::MissingCSeq => {
                f.write_str("the message has no CSeq header, so it belongs to no transaction")
            }
            MatchError::MalformedCSeq(e) => write!(f, "the CSeq does not parse: {e}"),
            MatchError::MissingCallId => {
                f.write_str("the request lacks a Call-ID, which RFC 2543 matching (no z9hG4bK branch) needs")
            }
            MatchError::MissingFrom => {
                f.write_str("the request lacks a From, whose tag RFC 2543 matching (no z9hG4bK branch) needs")
            }
            MatchError::MalformedFrom(e) => write!(
                f,
                "the From does not parse, and RFC 2543 matching needs its tag: {e}"
            ),
            MatchError::Key(e) => write!(f, "{e}"),
        }
    }
}

impl From<KeyError> for MatchError {
    fn from(e: KeyError) -> Self {
        MatchError::Key(e)
    }
}

/// What a received request means for the server transactions (§17.2.3 and §17.2.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceivedRequest {
    /// No transaction has this key: create a server transaction under it and pass the request to the TU.
    New(TransactionKey),
    /// A transaction has this key: hand it [`ServerRequest::Retransmission`]; the TU does not see it.
    Retransmission(TransactionKey),
    /// An ACK matching an INVITE server transaction (the ACK for a non-2xx final response): hand it
    /// [`ServerRequest::Ack`].
    AckForInvite(TransactionKey),
    /// An ACK no transaction owns: the ACK for a 2xx, which the TU (dialog layer) consumes. The key is
    /// the one an INVITE transaction with this branch would have.
    AckWithoutTransaction(TransactionKey),
}

impl ReceivedRequest {
    /// The key the request was classified under.
    pub fn key(&self) -> &TransactionKey {
        match self {
            ReceivedRequest::New(k)
            | ReceivedRequest::Retransmission(k)
            | ReceivedRequest::AckForInvite(k)
            | ReceivedRequest::AckWithoutTransaction(k) => k,
        }
    }

    /// The input for the existing server transaction, when there is one.
    pub fn server_request(&self) -> Option<ServerRequest> {
        match self {
            ReceivedRequest::Retransmission(_) => Some(ServerRequest::Retransmission),
            ReceivedRequest::AckForInvite(_) => Some(ServerRequest::Ack),
            ReceivedRequest::New(_) | ReceivedRequest::AckWithoutTransaction(_) => None,
        }
    }
}

/// The client transaction key a received response matches (§17.1.3): top Via branch and CSeq method.
pub fn client_key_for_response(response: &Message<'_, '_>) -> Result<TransactionKey, MatchError> {
    if response.is_request() {
        return Err(MatchError::WrongDirection);
    }
    let via = top_via(response)?;
    let cseq = cseq(response)?;
    let branch = via.branch.ok_or(KeyError::NotRfc3261Branch)?;
    Ok(TransactionKey::client(branch, cseq.method.as_str())?)
}

/// The server transaction key a received request matches (§17.2.3), with the RFC 2543 fallback when
/// the top Via branch is not an RFC 3261 one.
pub fn server_key_for_request(request: &Message<'_, '_>) -> Result<TransactionKey, MatchError> {
    let method = request.method().ok_or(MatchError::WrongDirection)?;
    server_key_with_method(request, method.as_str())
}

/// The key of the INVITE server transaction a CANCEL request refers to (RFC 3261 §9.2): the CANCEL's
/// key with INVITE as its method. Gives [`MatchError::WrongDirection`] for anything but a CANCEL.
pub fn cancel_target_key(cancel: &Message<'_, '_>) -> Result<TransactionKey, MatchError> {
    match cancel.method() {
        Some(Method::Cancel) => server_key_with_method(cancel, Method::Invite.as_str()),
        _ => Err(MatchError::WrongDirection),
    }
}

/// Classifies a received request against the existing server transactions; `has_transaction` answers
/// whether a transaction with the given key exists (a [`TransactionTable`], a `HashMap`, ...).
pub fn classify_request(
    request: &Message<'_, '_>,
    has_transaction: impl FnOnce(&TransactionKey) -> bool,
) -> Result<ReceivedRequest, MatchError> {
    let key = server_key_for_request(request)?;
    let known = has_transaction(&key);
    let is_ack = request.method() == Some(Method::Ack);
    Ok(match (is_ack, known) {
        (true, true) => ReceivedRequest::AckForInvite(key),
        (true, false) => ReceivedRequest::AckWithoutTransaction(key),
        (false, true) => ReceivedRequest::Retransmission(key),
        (false, false) => ReceivedRequest::New(key),
    })
}

impl<B: AsRef<[u8]>, const N: usize> TransactionTable<B, N> {
    /// [`classify_request`] against this table's transactions.
    pub fn classify(&self, request: &Message<'_, '_>) -> Result<ReceivedRequest, MatchError> {
        classify_request(request, |key| self.get(key).is_some())
    }
}

fn server_key_with_method(request: &Message<'_, '_>, method: &str) -> Result<TransactionKey, MatchError> {
    let top_via_text = request
        .values(HeaderName::Via)
        .next()
        .ok_or(MatchError::MissingVia)?;
    let via = Via::parse(top_via_text).map_err(MatchError::MalformedVia)?;
    match via.branch {
        Some(branch) if is_rfc3261_branch(branch) => {
            let sent_by = sent_by_text(&via)?;
            Ok(TransactionKey::server(branch, &sent_by, method)?)
        }
        _ => {
            let from = request
                .from()
                .ok_or(MatchError::MissingFrom)?
                .map_err(MatchError::MalformedFrom)?;
            let pieces = Rfc2543Pieces {
                request_uri: request.request_uri().ok_or(MatchError::WrongDirection)?,
                from_tag: from.tag().unwrap_or(""),
                call_id: request.call_id().ok_or(MatchError::MissingCallId)?,
                cseq_number: cseq(request)?.seq,
                method,
                top_via: top_via_text,
            };
            Ok(TransactionKey::server_rfc2543(&pieces)?)
        }
    }
}

fn top_via<'a>(message: &Message<'_, 'a>) -> Result<Via<'a>, MatchError> {
    message
        .top_via()
        .ok_or(MatchError::MissingVia)?
        .map_err(MatchError::MalformedVia)
}

fn cseq<'a>(message: &Message<'_, 'a>) -> Result<CSeq<'a>, MatchError> {
    message
        .cseq()
        .ok_or(MatchError::MissingCSeq)?
        .map_err(MatchError::MalformedCSeq)
}

fn sent_by_text(via: &Via<'_>) -> Result<String<MAX_SENT_BY_LEN>, MatchError> {
    let mut text = String::new();
    let mut fits = true;
    let mut push = |piece: &str| fits &= text.push_str(piece).is_ok();
    via.host.describe(&mut push);
    if let Some(port) = via.port {
        push(":");
        push(crate::write::Decimal::new(port.into()).as_str());
    }
    if !fits {
        return Err(MatchError::Key(KeyError::SentByTooLong));
    }
    Ok(text)
}
