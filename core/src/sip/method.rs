//! SIP request methods (RFC 3261 §7.1 and the extensions SIMPLE uses).
//!
//! Method names are case-sensitive tokens (RFC 3261 §7.1): `invite` is an unknown extension method, not
//! INVITE. Unknown methods are kept as [`Method::Other`], never rejected, so a proxy can forward them and a
//! UAS can answer 405/501 itself.

use core::fmt;

/// A SIP request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Method<'a> {
    /// INVITE (RFC 3261).
    Invite,
    /// ACK (RFC 3261).
    Ack,
    /// BYE (RFC 3261).
    Bye,
    /// CANCEL (RFC 3261).
    Cancel,
    /// REGISTER (RFC 3261).
    Register,
    /// OPTIONS (RFC 3261).
    Options,
    /// MESSAGE (RFC 3428).
    Message,
    /// SUBSCRIBE (RFC 6665).
    Subscribe,
    /// NOTIFY (RFC 6665).
    Notify,
    /// PUBLISH (RFC 3903).
    Publish,
    /// INFO (RFC 6086).
    Info,
    /// PRACK (RFC 3262).
    Prack,
    /// UPDATE (RFC 3311).
    Update,
    /// REFER (RFC 3515).
    Refer,
    /// Any other method token, kept verbatim.
    Other(&'a str),
}

const KNOWN: [(Method<'static>, &str); 14] = [
    (Method::Invite, "INVITE"),
    (Method::Ack, "ACK"),
    (Method::Bye, "BYE"),
    (Method::Cancel, "CANCEL"),
    (Method::Register, "REGISTER"),
    (Method::Options, "OPTIONS"),
    (Method::Message, "MESSAGE"),
    (Method::Subscribe, "SUBSCRIBE"),
    (Method::Notify, "NOTIFY"),
    (Method::Publish, "PUBLISH"),
    (Method::Info, "INFO"),
    (Method::Prack, "PRACK"),
    (Method::Update, "UPDATE"),
    (Method::Refer, "REFER"),
];

impl<'a> Method<'a> {
    /// Classifies a method token (case-sensitive). Does not check that `s` is a valid token; see
    /// [`Method::parse`] for that.
    pub fn from_token(s: &'a str) -> Method<'a> {
        KNOWN
            .iter()
            .find(|(_, name)| *name == s)
            .map_or(Method::Other(s), |(m, _)| *m)
    }

    /// Parses a method token: non-empty and made only of RFC 3261 token characters.
    pub fn parse(s: &'a str) -> Option<Method<'a>> {
        if !s.is_empty() && s.bytes().all(is_token_byte) {
            Some(Method::from_token(s))
        } else {
            None
        }
    }

    /// The method's wire name.
    pub fn as_str(&self) -> &'a str {
        match self {
            Method::Other(s) => s,
            known => KNOWN
                .iter()
                .find(|(m, _)| m == known)
                .map_or("", |(_, name)| name),
        }
    }
}

impl fmt::Display for Method<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// RFC 3261 `token` characters: alphanumerics and `-.!%*_+`'~`.
///
/// With `small-code` this is the comparison itself, called out of line: the 256-byte table (and a copy
/// of the scan at every call site) costs more flash than a device saves in time.
#[cfg_attr(not(feature = "small-code"), inline)]
#[cfg_attr(feature = "small-code", inline(never))]
pub fn is_token_byte(b: u8) -> bool {
    #[cfg(not(feature = "small-code"))]
    {
        TOKEN_BYTES[usize::from(b)]
    }
    #[cfg(feature = "small-code")]
    {
        is_token_char(b)
    }
}

/// The rule behind [`is_token_byte`], usable in const context.
const fn is_token_char(c: u8) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// Lookup table for [`is_token_byte`]: header names and values are scanned byte by byte on the hot path.
#[cfg(not(feature = "small-code"))]
static TOKEN_BYTES: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = is_token_char(b as u8);
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bytes_are_rfc3261_token_characters() {
        let listed: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~";
        for b in 0..=u8::MAX {
            assert_eq!(is_token_byte(b), listed.contains(&b), "byte {b:#04x}");
        }
    }

    #[test]
    fn known_methods_round_trip_through_their_names() {
        for (method, name) in KNOWN {
            assert_eq!(Method::from_token(name), method);
            assert_eq!(method.as_str(), name);
        }
    }

    #[test]
    fn methods_are_case_sensitive_and_unknown_ones_are_kept() {
        assert_eq!(Method::from_token("invite"), Method::Other("invite"));
        assert_eq!(Method::parse("RE%47IST%45R"), Some(Method::Other("RE%47IST%45R")));
        assert_eq!(Method::parse("IN VITE"), None);
        assert_eq!(Method::parse(""), None);
    }
}
