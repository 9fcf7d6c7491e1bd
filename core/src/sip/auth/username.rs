//! The user named by credentials: `username="..."` (possibly a user hash) or RFC 7616's `username*`.
//!
//! `username*` carries an RFC 8187 ext-value, `charset "'" [ language ] "'" value-chars`, where
//! value-chars percent-encode every byte outside `attr-char`. RFC 7616 §4 allows only UTF-8 here, so
//! decoding accepts the `UTF-8` charset alone and checks the decoded bytes are UTF-8.

use core::fmt;

use super::hex;
use super::quoted::QuotedStr;

/// The user a set of credentials names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Username<'a> {
    /// `username="..."`: the name, or its hash when `userhash=true`.
    Plain(QuotedStr<'a>),
    /// `username*=UTF-8''...`: an RFC 8187 ext-value, kept encoded (RFC 7616 §3.4).
    Extended(QuotedStr<'a>),
}

/// Why a username could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UsernameError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// `username*` is not `charset'language'value`.
    MalformedExtValue,
    /// `username*` uses a charset other than UTF-8 (RFC 7616 §4 allows only UTF-8).
    UnsupportedCharset,
    /// A `%` is not followed by two hex digits, or a byte outside RFC 8187 `attr-char` is unencoded.
    InvalidEncoding,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

impl fmt::Display for UsernameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UsernameError::BufferTooSmall => "username buffer too small",
            UsernameError::MalformedExtValue => "username* is not charset'language'value",
            UsernameError::UnsupportedCharset => "username* charset is not UTF-8",
            UsernameError::InvalidEncoding => "username* has a bad percent-encoding or unencoded byte",
            UsernameError::NotUtf8 => "username* does not decode to UTF-8",
        })
    }
}

impl core::error::Error for UsernameError {}

/// RFC 8187 `attr-char`: the bytes a value may carry without percent-encoding.
fn is_attr_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b)
}

impl Username<'_> {
    /// The username as text in `buf`: unescaped for `username`, percent-decoded for `username*`.
    /// With `userhash=true` the plain form is the hash, which the caller looks up as such.
    pub fn decode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, UsernameError> {
        match self {
            Username::Plain(name) => name.unescape_into(buf).map_err(|_| UsernameError::BufferTooSmall),
            Username::Extended(ext) => {
                let text = ext.as_plain().ok_or(UsernameError::MalformedExtValue)?;
                decode_ext_value(text, buf)
            }
        }
    }
}

/// Decodes an RFC 8187 ext-value whose charset is UTF-8 into `buf`.
fn decode_ext_value<'b>(text: &str, buf: &'b mut [u8]) -> Result<&'b str, UsernameError> {
    let mut parts = text.splitn(3, '\'');
    let (Some(charset), Some(_language), Some(value)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(UsernameError::MalformedExtValue);
    };
    if !charset.eq_ignore_ascii_case("UTF-8") {
        return Err(UsernameError::UnsupportedCharset);
    }
    let bytes = value.as_bytes();
    let (mut read, mut written) = (0usize, 0usize);
    while let Some(&b) = bytes.get(read) {
        let decoded = if b == b'%' {
            let high = bytes.get(read + 1).and_then(|d| hex::digit_value(*d));
            let low = bytes.get(read + 2).and_then(|d| hex::digit_value(*d));
            read += 3;
            match (high, low) {
                (Some(high), Some(low)) => (high << 4) | low,
                _ => return Err(UsernameError::InvalidEncoding),
            }
        } else if is_attr_char(b) {
            read += 1;
            b
        } else {
            return Err(UsernameError::InvalidEncoding);
        };
        *buf.get_mut(written).ok_or(UsernameError::BufferTooSmall)? = decoded;
        written += 1;
    }
    let decoded = buf.get(..written).ok_or(UsernameError::BufferTooSmall)?;
    core::str::from_utf8(decoded).map_err(|_| UsernameError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(ext: &str) -> Result<std::string::String, UsernameError> {
        let mut buf = [0u8; 32];
        Username::Extended(QuotedStr::new(ext))
            .decode_into(&mut buf)
            .map(std::string::String::from)
    }

    #[test]
    fn ext_values_decode_only_from_utf8() {
        assert_eq!(
            decode("UTF-8''J%C3%A4s%C3%B8n%20Doe").as_deref(),
            Ok("J\u{e4}s\u{f8}n Doe")
        );
        assert_eq!(decode("utf-8'en'a.b").as_deref(), Ok("a.b"));
        assert_eq!(decode("ISO-8859-1''J%E4"), Err(UsernameError::UnsupportedCharset));
        assert_eq!(decode("UTF-8''%E4"), Err(UsernameError::NotUtf8));
        assert_eq!(decode("UTF-8''a%2"), Err(UsernameError::InvalidEncoding));
        assert_eq!(decode("UTF-8''a b"), Err(UsernameError::InvalidEncoding));
        assert_eq!(decode("UTF-8-no-quotes"), Err(UsernameError::MalformedExtValue));
        let mut tiny = [0u8; 2];
        let long = Username::Extended(QuotedStr::new("UTF-8''abc"));
        assert_eq!(long.decode_into(&mut tiny), Err(UsernameError::BufferTooSmall));
    }
}
