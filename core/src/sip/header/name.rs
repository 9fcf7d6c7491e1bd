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
        #[cfg(not(feature = "small-code"))]
        #[inline]
        fn entry(name: &HeaderName<'_>) -> Option<(&'static str, Option<u8>, bool)> {
            match name {
                $( HeaderName::$variant => Some(($name, $compact, $list)), )*
                HeaderName::Other(_) => None,
            }
        }

        /// The table row of a known name, by a search of `KNOWN` (devices: the `match` above costs
        /// about 1 KB of Cortex-M code, one arm per name; the search a few dozen bytes).
        #[cfg(feature = "small-code")]
        fn entry(name: &HeaderName<'_>) -> Option<(&'static str, Option<u8>, bool)> {
            KNOWN
                .iter()
                .find(|(known, ..)| known == name)
                .map(|&(_, full, compact, list)| (full, compact, list))
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

// Classification without a search: every known name is one bit (its index in `KNOWN`) in a mask per
// length and a mask per first letter; the candidates for a wire name are the AND of its two masks,
// almost always a single name, which one case-insensitive comparison confirms. Compact forms index a
// table by letter. All three tables are computed at compile time from `KNOWN`.
const _: () = assert!(KNOWN.len() <= 128, "a u128 mask holds one bit per known name");

/// Longest known full name.
const LONGEST_KNOWN: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < KNOWN.len() {
        if KNOWN[i].1.len() > longest {
            longest = KNOWN[i].1.len();
        }
        i += 1;
    }
    longest
};

/// Bit `i` of `BY_LENGTH[n]` is set when `KNOWN[i]`'s full name has `n` bytes.
const BY_LENGTH: [u128; LONGEST_KNOWN + 1] = {
    let mut masks = [0u128; LONGEST_KNOWN + 1];
    let mut i = 0;
    while i < KNOWN.len() {
        masks[KNOWN[i].1.len()] |= 1 << i;
        i += 1;
    }
    masks
};

/// Bit `i` of `BY_FIRST_LETTER[l]` is set when `KNOWN[i]`'s full name starts with letter `l` (0 = a).
const BY_FIRST_LETTER: [u128; 26] = {
    let mut masks = [0u128; 26];
    let mut i = 0;
    while i < KNOWN.len() {
        let first = KNOWN[i].1.as_bytes()[0].to_ascii_lowercase();
        masks[(first - b'a') as usize] |= 1 << i;
        i += 1;
    }
    masks
};

/// `BY_COMPACT[l]` is 1 + the index in `KNOWN` of the name whose compact form is letter `l`, or 0.
const BY_COMPACT: [u8; 26] = {
    let mut table = [0u8; 26];
    let mut i = 0;
    while i < KNOWN.len() {
        if let Some(c) = KNOWN[i].2 {
            table[(c - b'a') as usize] = (i + 1) as u8;
        }
        i += 1;
    }
    table
};

/// Index of `b` in the alphabet when it is an ASCII letter.
#[inline]
fn letter_index(b: u8) -> Option<usize> {
    b.is_ascii_alphabetic()
        .then(|| usize::from(b.to_ascii_lowercase() - b'a'))
}

impl<'a> HeaderName<'a> {
    /// Classifies a header name as written on the wire (full or compact form, any case).
    pub fn parse(name: &'a str) -> HeaderName<'a> {
        let known = match name.as_bytes() {
            [single] => letter_index(*single)
                .and_then(|l| BY_COMPACT.get(l))
                .and_then(|&slot| usize::from(slot).checked_sub(1))
                .and_then(|i| KNOWN.get(i)),
            [first, ..] => {
                let by_first = letter_index(*first).and_then(|l| BY_FIRST_LETTER.get(l));
                let by_length = BY_LENGTH.get(name.len());
                let mut candidates = by_first.zip(by_length).map_or(0, |(a, b)| a & b);
                let mut found = None;
                while candidates != 0 {
                    let i = candidates.trailing_zeros() as usize;
                    if let Some(entry) = KNOWN.get(i).filter(|e| eq_known_name(name, e.1)) {
                        found = Some(entry);
                        break;
                    }
                    candidates &= candidates - 1;
                }
                found
            }
            [] => None,
        };
        known.map_or(HeaderName::Other(name), |(known, ..)| *known)
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
            known => {
                entry(known).is_some_and(|(full, compact, _)| matches_spelling(wire_name, full, compact))
            }
        }
    }
}

#[inline]
fn matches_spelling(wire_name: &str, full: &str, compact: Option<u8>) -> bool {
    match (wire_name.as_bytes(), compact) {
        ([single], Some(c)) => single.to_ascii_lowercase() == c,
        _ => eq_known_name(wire_name, full),
    }
}

/// `wire.eq_ignore_ascii_case(known)`, faster for the usual case of a name written in its canonical
/// spelling: equal bytes are accepted at once, and only letters are compared ignoring case.
#[inline]
fn eq_known_name(wire: &str, known: &str) -> bool {
    wire.len() == known.len()
        && wire
            .bytes()
            .zip(known.bytes())
            .all(|(w, k)| w == k || (w ^ 0x20 == k && k.is_ascii_alphabetic()))
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
        assert_eq!(HeaderName::parse("C%6Fntact"), HeaderName::Other("C%6Fntact"));
        assert!(HeaderName::Other("X-Foo").matches("x-foo"));
    }

    #[test]
    fn every_known_name_parses_to_itself_from_both_spellings() {
        for (known, full, compact, _) in KNOWN {
            assert_eq!(HeaderName::parse(full), *known);
            assert_eq!(known.as_str(), *full);
            if let Some(c) = compact {
                let lower = [*c];
                assert_eq!(HeaderName::parse(core::str::from_utf8(&lower).unwrap()), *known);
            }
        }
        assert!(HeaderName::Contact.is_list() && !HeaderName::CSeq.is_list());
    }

    #[test]
    fn classification_agrees_with_spelling_matches() {
        // The compile-time tables must give what a plain search of KNOWN gives, for known names in
        // other cases, near misses of every length and first letter, and non-letters.
        fn search(name: &str) -> HeaderName<'_> {
            KNOWN
                .iter()
                .find(|(_, full, compact, _)| matches_spelling(name, full, *compact))
                .map_or(HeaderName::Other(name), |(known, ..)| *known)
        }
        let mut probes: std::vec::Vec<std::string::String> = std::vec::Vec::new();
        for (_, full, ..) in KNOWN {
            probes.push(full.to_ascii_uppercase());
            probes.push(full.to_ascii_lowercase());
            probes.push(std::format!("{full}x"));
            probes.push(full[..full.len() - 1].into());
            probes.push(std::format!("X{}", &full[1..]));
        }
        for b in 0u8..=127 {
            probes.push(char::from(b).into());
        }
        probes.push(std::string::String::new());
        probes.push("é".into());
        for probe in &probes {
            assert_eq!(HeaderName::parse(probe), search(probe), "{probe:?}");
        }
    }
}
