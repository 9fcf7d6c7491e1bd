//! Header fields: the raw name/value pairs of the message view, the well-known names, and typed values
//! parsed on demand from a value `&str`.
//!
//! Typed parsers take one value (one item of a comma list: split with [`split_list`] or
//! [`crate::sip::message::Message::values`]) and return a zero-copy struct or a [`HeaderError`] whose
//! offset is relative to the value. They accept LWS wherever RFC 3261's grammar does (around `/`, `:`,
//! `;`, `=`), including the folded `CRLF SP` continuations the view leaves inside values.

mod error;
mod lex;
mod misc;
mod name;
mod name_addr;
mod params;
mod scalar;
mod via;

pub use error::{HeaderError, HeaderErrorKind};
pub(crate) use lex::is_lws as is_lws_byte;
pub use lex::{split_list, trim_lws, SplitList};
pub use misc::{check_tokens, tokens, ContentType, Event, FeatureSet, SubState, SubscriptionState};
pub use name::HeaderName;
pub use name_addr::{Contact, DisplayName, NameAddr};
pub use params::{Param, ParamIter, Params};
pub use scalar::{
    parse_content_length, parse_expires, parse_max_forwards, parse_number, parse_retry_after, CSeq, MAX_CSEQ,
};
pub use via::{Via, MAGIC_COOKIE};

/// One header line of a message view: the name as written and the value with surrounding LWS trimmed
/// (folded continuation lines stay inside the value; typed parsers treat them as LWS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header<'a> {
    /// Name as written (`v`, `VIA`, `X-Custom`).
    pub name: &'a str,
    /// Value, trimmed.
    pub value: &'a str,
}

impl<'a> Header<'a> {
    /// An empty slot, to initialise the array passed to the parser: `[Header::EMPTY; 64]`.
    pub const EMPTY: Header<'static> = Header { name: "", value: "" };

    /// The name classified ([`HeaderName::parse`]).
    pub fn header_name(&self) -> HeaderName<'a> {
        HeaderName::parse(self.name)
    }
}
