//! Writing header values into caller buffers.

use crate::write::ByteWriter;
use core::fmt;

use super::params::{is_bare_value_byte, is_token_byte, OtherParams, ParamValue};
use super::quoted::QuotedStr;

/// Why a header could not be emitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EmitError {
    /// The output buffer is too small; a larger buffer will do.
    BufferTooSmall,
    /// A value holds a character the header syntax cannot carry (CR or LF outside a fold, or a
    /// non-token character in a scheme or parameter name).
    InvalidValue,
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmitError::BufferTooSmall => f.write_str("output buffer too small for the header value"),
            EmitError::InvalidValue => {
                f.write_str("a value contains CR/LF or a scheme/parameter name is not a token")
            }
        }
    }
}

impl From<crate::write::BufferTooSmall> for EmitError {
    fn from(_: crate::write::BufferTooSmall) -> Self {
        EmitError::BufferTooSmall
    }
}

impl core::error::Error for EmitError {}

/// Writes a header value into a caller buffer.
pub(crate) struct Writer<'b> {
    out: ByteWriter<'b>,
    params_written: usize,
}

impl<'b> Writer<'b> {
    pub(crate) fn new(buf: &'b mut [u8]) -> Self {
        Writer {
            out: ByteWriter::new(buf),
            params_written: 0,
        }
    }

    pub(crate) fn finish(self) -> usize {
        self.out.len()
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) -> Result<(), EmitError> {
        Ok(self.out.push(bytes)?)
    }

    /// A scheme or parameter name: must be a non-empty token.
    pub(crate) fn token(&mut self, token: &str) -> Result<(), EmitError> {
        if token.is_empty() || !token.bytes().all(is_token_byte) {
            return Err(EmitError::InvalidValue);
        }
        self.raw(token.as_bytes())
    }

    /// A quoted-string, escaping plain text as needed.
    pub(crate) fn quoted(&mut self, value: QuotedStr<'_>) -> Result<(), EmitError> {
        self.raw(b"\"")?;
        match value.stored() {
            (text, true) => self.raw(text.as_bytes())?,
            (text, false) => {
                for byte in text.bytes() {
                    match byte {
                        b'\r' | b'\n' => return Err(EmitError::InvalidValue),
                        b'"' | b'\\' | 0x00..=0x08 | 0x0b..=0x1f | 0x7f => self.raw(&[b'\\', byte])?,
                        _ => self.raw(&[byte])?,
                    }
                }
            }
        }
        self.raw(b"\"")
    }

    /// A value RFC 3261 writes as a token: unquoted when its content allows, quoted otherwise.
    pub(crate) fn token_or_quoted(&mut self, value: QuotedStr<'_>) -> Result<(), EmitError> {
        match value.as_plain() {
            Some(text) if !text.is_empty() && text.bytes().all(is_bare_value_byte) => {
                self.raw(text.as_bytes())
            }
            _ => self.quoted(value),
        }
    }

    /// Starts the next parameter: the separator (none before the first), the name and `=`.
    pub(crate) fn param_name(&mut self, name: &str) -> Result<(), EmitError> {
        if self.params_written > 0 {
            self.raw(b", ")?;
        }
        self.params_written += 1;
        self.token(name)?;
        self.raw(b"=")
    }

    pub(crate) fn quoted_param(&mut self, name: &str, value: QuotedStr<'_>) -> Result<(), EmitError> {
        self.param_name(name)?;
        self.quoted(value)
    }

    pub(crate) fn token_param(&mut self, name: &str, value: QuotedStr<'_>) -> Result<(), EmitError> {
        self.param_name(name)?;
        self.token_or_quoted(value)
    }

    /// Extra parameters, each in the form it was received.
    pub(crate) fn other_params(&mut self, params: &OtherParams<'_>) -> Result<(), EmitError> {
        for param in params.iter() {
            self.param_name(param.name)?;
            match param.value {
                ParamValue::Bare(text) => self.raw(text.as_bytes())?,
                ParamValue::Quoted(q) => self.quoted(q)?,
            }
        }
        Ok(())
    }
}
