//! Hex encoding and decoding into caller buffers.
//!
//! Digest values travel as lowercase hex (RFC 8760 §2.2); decoding accepts either case because some
//! peers send uppercase, and comparing decoded bytes makes case irrelevant.

use core::fmt;

/// Why hex could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HexError {
    /// The output buffer is smaller than the result (`needed` bytes).
    BufferTooSmall {
        /// Bytes the result needs.
        needed: usize,
    },
    /// The input has an odd number of hex digits.
    OddLength,
    /// The byte at this offset of the input is not a hex digit.
    InvalidDigit {
        /// Offset of the offending byte.
        offset: usize,
    },
}

impl fmt::Display for HexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HexError::BufferTooSmall { needed } => {
                write!(f, "hex output buffer too small: {} bytes needed", needed)
            }
            HexError::OddLength => f.write_str("hex text has an odd number of digits"),
            HexError::InvalidDigit { offset } => write!(f, "not a hex digit at offset {}", offset),
        }
    }
}

impl core::error::Error for HexError {}

/// Writes `bytes` as lowercase hex into `out` and returns the text written.
pub fn encode<'o>(bytes: &[u8], out: &'o mut [u8]) -> Result<&'o str, HexError> {
    let needed = bytes.len().saturating_mul(2);
    let out = out.get_mut(..needed).ok_or(HexError::BufferTooSmall { needed })?;
    for (pair, &byte) in out.chunks_exact_mut(2).zip(bytes) {
        pair.copy_from_slice(&crate::write::hex_pair(byte));
    }
    // Every byte written is an ASCII hex digit, so this never fails; the fallback keeps it total.
    Ok(core::str::from_utf8(out).unwrap_or(""))
}

/// Decodes hex text (either case) into `out` and returns the bytes written.
pub fn decode<'o>(hex: &str, out: &'o mut [u8]) -> Result<&'o [u8], HexError> {
    let hex = hex.as_bytes();
    if hex.len() % 2 != 0 {
        return Err(HexError::OddLength);
    }
    let needed = hex.len() / 2;
    let out = out.get_mut(..needed).ok_or(HexError::BufferTooSmall { needed })?;
    for (index, (byte, pair)) in out.iter_mut().zip(hex.chunks_exact(2)).enumerate() {
        let high = digit_value(pair[0]).ok_or(HexError::InvalidDigit { offset: 2 * index })?;
        let low = digit_value(pair[1]).ok_or(HexError::InvalidDigit {
            offset: 2 * index + 1,
        })?;
        *byte = (high << 4) | low;
    }
    Ok(out)
}

/// The value of one hex digit, either case.
pub const fn digit_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

/// Parses exactly `digits` hex digits (either case) as a big-endian number, as used for `nc` and the fields
/// of server nonces. `None` unless `text` is exactly `digits` long and all hex.
pub fn parse_fixed_u64(text: &str, digits: usize) -> Option<u64> {
    if text.len() != digits || digits > 16 {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, digit| {
        Some((acc << 4) | u64::from(digit_value(digit)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reports_errors() {
        let mut text = [0u8; 8];
        assert_eq!(encode(&[0x00, 0xab, 0x7f], &mut text), Ok("00ab7f"));
        let mut bytes = [0u8; 3];
        assert_eq!(decode("00AB7f", &mut bytes), Ok(&[0x00, 0xab, 0x7f][..]));
        assert_eq!(decode("0", &mut bytes), Err(HexError::OddLength));
        assert_eq!(
            decode("0g", &mut bytes),
            Err(HexError::InvalidDigit { offset: 1 })
        );
        assert_eq!(
            decode("00112233", &mut bytes),
            Err(HexError::BufferTooSmall { needed: 4 })
        );
        assert_eq!(
            encode(&[1, 2, 3, 4, 5], &mut text),
            Err(HexError::BufferTooSmall { needed: 10 })
        );
        assert_eq!(parse_fixed_u64("0000000A", 8), Some(10));
        assert_eq!(parse_fixed_u64("000000A", 8), None);
        assert_eq!(parse_fixed_u64("0000000x", 8), None);
    }
}
