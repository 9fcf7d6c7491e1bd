//! Header lookup on a message view: by name (full or compact, any case), across lines and comma lists,
//! plus typed shortcuts for the headers every layer needs.

use super::{Message, StartLine};
use crate::sip::header::{
    parse_content_length, split_list, CSeq, ContentType, Header, HeaderError, HeaderName, NameAddr,
    SplitList, Via,
};
use crate::sip::method::Method;

/// Iterator over every value of a header: one per line for single-value headers, one per comma-list
/// item for list headers ([`HeaderName::is_list`]), in message order.
#[derive(Clone, Debug)]
pub struct Values<'h, 'a, 'n> {
    headers: core::slice::Iter<'h, Header<'a>>,
    name: HeaderName<'n>,
    items: Option<SplitList<'a>>,
}

impl<'a> Iterator for Values<'_, 'a, '_> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if let Some(item) = self.items.as_mut().and_then(Iterator::next) {
                return Some(item);
            }
            let header = self.headers.find(|h| self.name.matches(h.name))?;
            if self.name.is_list() {
                self.items = Some(split_list(header.value));
            } else {
                return Some(header.value);
            }
        }
    }
}

impl<'h, 'a> Message<'h, 'a> {
    /// Whether this is a request.
    pub fn is_request(&self) -> bool {
        matches!(self.start_line, StartLine::Request { .. })
    }

    /// The request method, for a request.
    pub fn method(&self) -> Option<Method<'a>> {
        match self.start_line {
            StartLine::Request { method, .. } => Some(method),
            StartLine::Response { .. } => None,
        }
    }

    /// The Request-URI text, for a request.
    pub fn request_uri(&self) -> Option<&'a str> {
        match self.start_line {
            StartLine::Request { uri, .. } => Some(uri),
            StartLine::Response { .. } => None,
        }
    }

    /// The status code, for a response.
    pub fn status_code(&self) -> Option<u16> {
        match self.start_line {
            StartLine::Response { code, .. } => Some(code),
            StartLine::Request { .. } => None,
        }
    }

    /// The header lines called `name`, in order.
    pub fn headers_named<'n>(&self, name: HeaderName<'n>) -> impl Iterator<Item = &'h Header<'a>> + 'n
    where
        'h: 'n,
    {
        self.headers.iter().filter(move |h| name.matches(h.name))
    }

    /// The value of the first line called `name`.
    pub fn header(&self, name: HeaderName<'_>) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| name.matches(h.name))
            .map(|h| h.value)
    }

    /// All values of `name` across lines and comma lists (see [`Values`]).
    pub fn values<'n>(&self, name: HeaderName<'n>) -> Values<'h, 'a, 'n> {
        Values {
            headers: self.headers.iter(),
            name,
            items: None,
        }
    }

    /// How many lines are called `name`.
    pub fn count(&self, name: HeaderName<'_>) -> usize {
        self.headers.iter().filter(|h| name.matches(h.name)).count()
    }

    /// Call-ID.
    pub fn call_id(&self) -> Option<&'a str> {
        self.header(HeaderName::CallId)
    }

    /// CSeq, typed.
    pub fn cseq(&self) -> Option<Result<CSeq<'a>, HeaderError>> {
        self.header(HeaderName::CSeq).map(CSeq::parse)
    }

    /// The topmost Via value, typed.
    pub fn top_via(&self) -> Option<Result<Via<'a>, HeaderError>> {
        self.values(HeaderName::Via).next().map(Via::parse)
    }

    /// From, typed.
    pub fn from(&self) -> Option<Result<NameAddr<'a>, HeaderError>> {
        self.header(HeaderName::From).map(NameAddr::parse)
    }

    /// To, typed.
    pub fn to(&self) -> Option<Result<NameAddr<'a>, HeaderError>> {
        self.header(HeaderName::To).map(NameAddr::parse)
    }

    /// Content-Type, typed.
    pub fn content_type(&self) -> Option<Result<ContentType<'a>, HeaderError>> {
        self.header(HeaderName::ContentType).map(ContentType::parse)
    }

    /// Content-Length, typed.
    pub fn content_length(&self) -> Option<Result<u32, HeaderError>> {
        self.header(HeaderName::ContentLength).map(parse_content_length)
    }
}
