//! Header field names: the well-known ones with their compact forms (RFC 3261 §7.3.3 and the IANA
//! registry), matched case-insensitively; any other name is kept as [`HeaderName::Other`].

use core::fmt;

macro_rules! header_names {
    ($( $variant:ident = $name:literal, $compact:expr, $list:expr; )*) => {
        /// A header field name. Matching is case-insensitive and accepts the compact form.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum HeaderName<'a> {
            $( #[doc = $name] $variant, )*
            /// Any other header name, as written.
            Other(&'a str),
        }

        /// (name, canonical spelling, compact form, comma-separated list header?)
        const KNOWN: &[(HeaderName<'static>, &str, Option<u8>, bool)] = &[
            $( (HeaderName::$variant, $name, $compact, $list), )*
        ];

        /// The table row of a known name, by a `match` (a jump table, not a search).
        #[inline]
        fn entry(name: &HeaderName<'_>) -> Option<(&'static str, Option<u8>, bool)> {
            match name {
                $( HeaderName::$variant => Some(($name, $compact, $list)), )*
                HeaderName::Other(_) => None,
            }
        }
    };
}

header_names! {
    Accept = "Accept", None, true;
    AcceptContact = "Accept-Contact", Some(b'a'), true;
    AcceptEncoding = "Accept-Encoding", None, true;
    AcceptLanguage = "Accept-Language", None, true;
    AlertInfo = "Alert-Info", None, true;
    Allow = "Allow", None, true;
    AllowEvents = "Allow-Events", Some(b'u'), true;
    AuthenticationInfo = "Authentication-Info", None, false;
    Authorization = "Authorization", None, false;
    CallId = "Call-ID", Some(b'i'), false;
    CallInfo = "Call-Info", None, true;
    Contact = "Contact", Some(b'm'), true;
    ContentDisposition = "Content-Disposition", None, false;
    ContentEncoding = "Content-Encoding", Some(b'e'), true;
    ContentLanguage = "Content-Language", None, true;
    ContentLength = "Content-Length", Some(b'l'), false;
    ContentType = "Content-Type", Some(b'c'), false;
    CSeq = "CSeq", None, false;
    Date = "Date", None, false;
    ErrorInfo = "Error-Info", None, true;
    Event = "Event", Some(b'o'), false;
    Expires = "Expires", None, false;
    From = "From", Some(b'f'), false;
    Identity = "Identity", Some(b'y'), false;
    IdentityInfo = "Identity-Info", Some(b'n'), false;
    InReplyTo = "In-Reply-To", None, true;
    MaxForwards = "Max-Forwards", None, false;
    MimeVersion = "MIME-Version", None, false;
    MinExpires = "Min-Expires", None, false;
    MinSe = "Min-SE", None, false;
    Organization = "Organization", None, false;
    PAssertedIdentity = "P-Asserted-Identity", None, true;
    PPreferredIdentity = "P-Preferred-Identity", None, true;
    Path = "Path", None, true;
    Priority = "Priority", None, false;
    Privacy = "Privacy", None, false;
    ProxyAuthenticate = "Proxy-Authenticate", None, false;
    ProxyAuthorization = "Proxy-Authorization", None, false;
    ProxyRequire = "Proxy-Require", None, true;
    RAck = "RAck", None, false;
    Reason = "Reason", None, true;
    RecordRoute = "Record-Route", None, true;
    ReferTo = "Refer-To", Some(b'r'), false;
    ReferredBy = "Referred-By", Some(b'b'), false;
    RejectContact = "Reject-Contact", Some(b'j'), true;
    ReplyTo = "Reply-To", None, false;
    RequestDisposition = "Request-Disposition", Some(b'd'), true;
    Require = "Require", None, true;
    RetryAfter = "Retry-After", None, false;
    Route = "Route", None, true;
    RSeq = "RSeq", None, false;
    Server = "Server", None, false;
    ServiceRoute = "Service-Route", None, true;
    SessionExpires = "Session-Expires", Some(b'x'), false;
    SipETag = "SIP-ETag", None, false;
    SipIfMatch = "SIP-If-Match", None, false;
    Subject = "Subject", Some(b's'), false;
    SubscriptionState = "Subscription-State", None, false;
    Supported = "Supported", Some(b'k'), true;
    Timestamp = "Timestamp", None, false;
    To = "To", Some(b't'), false;
    Unsupported = "Unsupported", None, true;
    UserAgent = "User-Agent", None, false;
    Via = "Via", Some(b'v'), true;
    Warning = "Warning", None, true;
    WwwAuthenticate = "WWW-Authenticate", None, false;
}

impl<'a> HeaderName<'a> {
    /// Classifies a header name as written on the wire (full or compact form, any case).
    pub fn parse(name: &'a str) -> HeaderName<'a> {
        KNOWN
            .iter()
            .find(|(_, full, compact, _)| matches_spelling(name, full, *compact))
            .map_or(HeaderName::Other(name), |(known, ..)| *known)
    }

    /// The canonical (full) spelling; an [`HeaderName::Other`] name as written.
    pub fn as_str(&self) -> &'a str {
        match self {
            HeaderName::Other(name) => name,
            known => entry(known).map_or("", |(full, ..)| full),
        }
    }

    /// The compact form (RFC 3261 §7.3.3), if the name has one.
    pub fn compact(&self) -> Option<char> {
        entry(self).and_then(|(_, compact, _)| compact.map(char::from))
    }

    /// Whether the header's value is a comma-separated list that may also be spread over several lines
    /// (RFC 3261 §7.3.1). Unknown headers are treated as single values, which is the safe reading.
    pub fn is_list(&self) -> bool {
        entry(self).is_some_and(|(.., list)| list)
    }

    /// Whether a name as written on the wire denotes this header.
    #[inline]
    pub fn matches(&self, wire_name: &str) -> bool {
        match self {
            HeaderName::Other(name) => name.eq_ignore_ascii_case(wire_name),
            known => entry(known)
                .is_some_and(|(full, compact, _)| matches_spelling(wire_name, full, compact)),
        }
    }
}

#[inline]
fn matches_spelling(wire_name: &str, full: &str, compact: Option<u8>) -> bool {
    match (wire_name.as_bytes(), compact) {
        ([single], Some(c)) => single.to_ascii_lowercase() == c,
        _ => wire_name.len() == full.len() && wire_name.eq_ignore_ascii_case(full),
    }
}

impl fmt::Display for HeaderName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_full_forms_match_case_insensitively() {
        assert_eq!(HeaderName::parse("i"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("I"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::parse("x"), HeaderName::SessionExpires);
        assert!(HeaderName::Via.matches("v") && HeaderName::Via.matches("VIA"));
        assert!(!HeaderName::Via.matches("Vias"));
        assert_eq!(
            HeaderName::parse("C%6Fntact"),
            HeaderName::Other("C%6Fntact")
        );
        assert!(HeaderName::Other("X-Foo").matches("x-foo"));
    }

    #[test]
    fn every_known_name_parses_to_itself_from_both_spellings() {
        for (known, full, compact, _) in KNOWN {
            assert_eq!(HeaderName::parse(full), *known);
            assert_eq!(known.as_str(), *full);
            if let Some(c) = compact {
                let lower = [*c];
                assert_eq!(
                    HeaderName::parse(core::str::from_utf8(&lower).unwrap()),
                    *known
                );
            }
        }
        assert!(HeaderName::Contact.is_list() && !HeaderName::CSeq.is_list());
    }
}
