//! Single-number and number-plus-token headers: CSeq, Max-Forwards, Expires, Content-Length,
//! Retry-After, Min-Expires (RFC 3261 §20).
//!
//! Each parser enforces the range its field allows, so an overlarge value (RFC 4475 scalar02, scalarlg)
//! is a [`HeaderErrorKind::TooLarge`] rather than a wrapped number.

use super::error::{HeaderError, HeaderErrorKind};
use super::lex::Cursor;
use crate::sip::method::Method;
use core::fmt;

/// Largest CSeq number RFC 3261 §8.1.1.5 allows (it must be below 2^31).
pub const MAX_CSEQ: u32 = (1 << 31) - 1;

/// `CSeq: <number> <method>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CSeq<'a> {
    /// Sequence number (at most [`MAX_CSEQ`]).
    pub seq: u32,
    /// Method.
    pub method: Method<'a>,
}

impl<'a> CSeq<'a> {
    /// Parses a CSeq value; LWS (including a folded line) separates number and method.
    pub fn parse(value: &'a str) -> Result<CSeq<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        let seq = c.number(u64::from(MAX_CSEQ), "the CSeq number")?;
        if !c.skip_lws() {
            return Err(c.err(HeaderErrorKind::Expected("whitespace after the CSeq number")));
        }
        let method = Method::from_token(c.token("the CSeq method")?);
        c.finish()?;
        Ok(CSeq {
            seq: u32::try_from(seq).unwrap_or(MAX_CSEQ),
            method,
        })
    }
}

impl fmt::Display for CSeq<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// Parses a header that is a bare decimal number no larger than `max`; `what` names it in errors.
pub fn parse_number(value: &str, max: u64, what: &'static str) -> Result<u64, HeaderError> {
    let mut c = Cursor::new(value);
    c.skip_lws();
    let n = c.number(max, what)?;
    c.finish()?;
    Ok(n)
}

/// `Max-Forwards` (0..=255, RFC 3261 §20.22).
pub fn parse_max_forwards(value: &str) -> Result<u8, HeaderError> {
    parse_number(value, 255, "Max-Forwards").map(|n| u8::try_from(n).unwrap_or(u8::MAX))
}

/// `Expires` / `Min-Expires` delta-seconds (0..=2^32-1, RFC 3261 §20.19).
pub fn parse_expires(value: &str) -> Result<u32, HeaderError> {
    parse_number(value, u64::from(u32::MAX), "Expires").map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `Content-Length` (0..=2^32-1).
pub fn parse_content_length(value: &str) -> Result<u32, HeaderError> {
    parse_number(value, u64::from(u32::MAX), "Content-Length").map(|n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// `Retry-After`: delta-seconds, an optional comment and parameters (RFC 3261 §20.33); returns the
/// seconds.
pub fn parse_retry_after(value: &str) -> Result<u32, HeaderError> {
    let mut c = Cursor::new(value);
    c.skip_lws();
    // The comment and parameters after the number are not interpreted.
    let n = c.number(u64::from(u32::MAX), "Retry-After")?;
    Ok(u32::try_from(n).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_with_folding_and_unknown_method() {
        assert_eq!(
            CSeq::parse("0009\r\n  INVITE"),
            Ok(CSeq {
                seq: 9,
                method: Method::Invite
            })
        );
        let c = CSeq::parse("139122385 !interesting-Method0123456789_*+`.%indeed'~").unwrap();
        assert_eq!(
            c.method,
            Method::Other("!interesting-Method0123456789_*+`.%indeed'~")
        );
    }

    #[test]
    fn overlarge_scalars_are_errors() {
        let too_large =
            |r: Result<CSeq, HeaderError>| matches!(r.unwrap_err().kind, HeaderErrorKind::TooLarge(_));
        assert!(too_large(CSeq::parse("36893488147419103232 REGISTER")));
        assert!(too_large(CSeq::parse("2147483648 INVITE")));
        assert_eq!(CSeq::parse("2147483647 INVITE").unwrap().seq, MAX_CSEQ);
        assert_eq!(parse_max_forwards("0068"), Ok(68));
        assert!(parse_max_forwards("300").is_err());
        assert!(parse_expires("10000000000000000000000").is_err());
        assert!(parse_content_length("-999").is_err());
        assert!(parse_content_length("12 3").is_err());
        assert_eq!(parse_retry_after("120 (in a meeting);duration=60"), Ok(120));
        assert!(parse_retry_after("949302838503028349304023988").is_err());
        assert!(CSeq::parse("8").is_err());
    }
}
