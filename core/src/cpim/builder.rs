//! Writing `message/cpim` entities into a caller buffer.
//!
//! The builder enforces the section order of RFC 3862 (outer MIME headers, CPIM headers, content MIME
//! headers, body) and writes the empty lines between sections itself. Header values given as plain text
//! are escaped per §2.3.1; [`Builder::raw_header`] writes a value verbatim for callers that already hold
//! wire text (a value copied from a parsed message). After an error the buffer's content is unspecified:
//! retry with a larger buffer from the start.

use core::fmt;

use super::escape::push_escaped;
use crate::write::{BufferTooSmall, ByteWriter};

/// Why a CPIM entity could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BuildError {
    /// The output buffer is full.
    BufferTooSmall,
    /// A header was added after a later section had started (e.g. a CPIM header after a content header).
    OutOfOrder,
    /// A header name is empty or contains a character not allowed in names (`:`, space, CTL ...).
    InvalidName,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::BufferTooSmall => "CPIM builder: output buffer too small",
            BuildError::OutOfOrder => {
                "CPIM builder: sections must be written in order: outer headers, CPIM headers, content headers, body"
            }
            BuildError::InvalidName => "CPIM builder: header name is empty or contains a separator or control character",
        })
    }
}

impl From<BufferTooSmall> for BuildError {
    fn from(_: BufferTooSmall) -> Self {
        BuildError::BufferTooSmall
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Section {
    Start,
    Outer,
    Cpim,
    Content,
}

/// Writes one `message/cpim` entity. Finish with [`Builder::body`].
#[derive(Debug)]
pub struct Builder<'b> {
    w: ByteWriter<'b>,
    section: Section,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

impl<'b> Builder<'b> {
    /// A builder writing at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Builder {
            w: ByteWriter::new(buf),
            section: Section::Start,
        }
    }

    fn enter(&mut self, section: Section) -> Result<(), BuildError> {
        if section < self.section {
            return Err(BuildError::OutOfOrder);
        }
        // An empty line closes each non-empty section; the outer section is optional and an empty CPIM
        // section still needs its terminator so the content headers are recognised as such.
        while self.section < section {
            match self.section {
                Section::Start => {}
                Section::Outer | Section::Cpim => self.w.push(b"\r\n")?,
                Section::Content => {}
            }
            self.section = match self.section {
                Section::Start if section == Section::Outer => Section::Outer,
                Section::Start | Section::Outer => Section::Cpim,
                _ => Section::Content,
            };
        }
        Ok(())
    }

    fn line(
        &mut self,
        section: Section,
        name: &str,
        params: &str,
        value: &str,
        escape: bool,
    ) -> Result<&mut Self, BuildError> {
        if !valid_name(name) {
            return Err(BuildError::InvalidName);
        }
        self.enter(section)?;
        self.w.push_str(name)?;
        self.w.push_byte(b':')?;
        self.w.push_str(params)?;
        self.w.push_byte(b' ')?;
        if escape {
            push_escaped(&mut self.w, value)?;
        } else {
            self.w.push_str(value)?;
        }
        self.w.push(b"\r\n")?;
        Ok(self)
    }

    /// An outer MIME header (only before any CPIM header), e.g. `Content-Type: message/cpim`.
    pub fn outer_header(&mut self, name: &str, value: &str) -> Result<&mut Self, BuildError> {
        self.line(Section::Outer, name, "", value, false)
    }

    /// A CPIM header; `value` is escaped.
    pub fn header(&mut self, name: &str, value: &str) -> Result<&mut Self, BuildError> {
        self.line(Section::Cpim, name, "", value, true)
    }

    /// A CPIM header with parameters (`params` written as given, e.g. `;lang=fr`); `value` is escaped.
    pub fn header_with_params(
        &mut self,
        name: &str,
        params: &str,
        value: &str,
    ) -> Result<&mut Self, BuildError> {
        self.line(Section::Cpim, name, params, value, true)
    }

    /// A CPIM header whose value is already wire text (not escaped again).
    pub fn raw_header(&mut self, name: &str, value: &str) -> Result<&mut Self, BuildError> {
        self.line(Section::Cpim, name, "", value, false)
    }

    fn name_addr(&mut self, name: &str, display: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        if !valid_name(name) {
            return Err(BuildError::InvalidName);
        }
        self.enter(Section::Cpim)?;
        self.w.push_str(name)?;
        self.w.push(b": ")?;
        if let Some(d) = display {
            push_escaped(&mut self.w, d)?;
            self.w.push_byte(b' ')?;
        }
        self.w.push_byte(b'<')?;
        push_escaped(&mut self.w, uri)?;
        self.w.push(b">\r\n")?;
        Ok(self)
    }

    /// `From: [display] <uri>`.
    pub fn from(&mut self, display: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.name_addr("From", display, uri)
    }

    /// `To: [display] <uri>` (repeatable).
    pub fn to(&mut self, display: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.name_addr("To", display, uri)
    }

    /// `cc: [display] <uri>` (repeatable).
    pub fn cc(&mut self, display: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.name_addr("cc", display, uri)
    }

    /// `NS: [prefix] <uri>`.
    pub fn ns(&mut self, prefix: Option<&str>, uri: &str) -> Result<&mut Self, BuildError> {
        self.name_addr("NS", prefix, uri)
    }

    /// `DateTime: ...` (RFC 3339 text).
    pub fn date_time(&mut self, date_time: &str) -> Result<&mut Self, BuildError> {
        self.header("DateTime", date_time)
    }

    /// `Subject:[;lang=xx] text`.
    pub fn subject(&mut self, lang: Option<&str>, text: &str) -> Result<&mut Self, BuildError> {
        match lang {
            Some(l) => {
                if !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    return Err(BuildError::InvalidName);
                }
                self.enter(Section::Cpim)?;
                self.w.push(b"Subject:;lang=")?;
                self.w.push_str(l)?;
                self.w.push_byte(b' ')?;
                push_escaped(&mut self.w, text)?;
                self.w.push(b"\r\n")?;
                Ok(self)
            }
            None => self.header("Subject", text),
        }
    }

    /// A MIME header of the encapsulated content (written verbatim).
    pub fn content_header(&mut self, name: &str, value: &str) -> Result<&mut Self, BuildError> {
        self.line(Section::Content, name, "", value, false)
    }

    /// Writes the empty line and `body`, and returns the total length written.
    pub fn body(mut self, body: &[u8]) -> Result<usize, BuildError> {
        self.enter(Section::Content)?;
        self.w.push(b"\r\n")?;
        self.w.push(body)?;
        Ok(self.w.len())
    }
}
