//! The values the reader produces: events, names, attributes, and its error type.

use core::fmt;

use super::declaration::DeclarationError;
use super::entity::{decode, DecodeError};

/// What went wrong, see [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorKind {
    /// The input is not UTF-8.
    NotUtf8,
    /// The input ended inside markup or with elements still open.
    UnexpectedEof,
    /// The document has no root element.
    NoRootElement,
    /// A second top-level element, or text outside the root element.
    ContentOutsideRoot,
    /// A name is missing or starts with a character names cannot start with.
    InvalidName,
    /// Markup that is not a tag, comment, CDATA section or processing instruction.
    MalformedMarkup,
    /// An attribute lacks `=` or quotes, or its value contains `<`.
    MalformedAttribute,
    /// The same attribute appears twice on one element.
    DuplicateAttribute,
    /// An end tag does not match the open element.
    MismatchedEndTag,
    /// An end tag with no open element.
    UnexpectedEndTag,
    /// An `&` that does not start a valid reference.
    InvalidReference,
    /// A character XML does not allow (e.g. a control character), or `]]>` in text.
    InvalidCharacter,
    /// `--` inside a comment.
    DoubleHyphenInComment,
    /// An XML declaration that is not at the very start of the document (or spelled other than `xml`).
    MisplacedDeclaration,
    /// An XML declaration whose pseudo-attributes break XML 1.0 §2.8; the offset points at the fault.
    MalformedDeclaration(DeclarationError),
    /// A DOCTYPE: not supported by this reader.
    DoctypeNotSupported,
    /// A prefix used without a declaration in scope.
    UnboundPrefix,
    /// More nested elements than the reader's depth bound.
    TooDeep,
    /// More namespace declarations in scope than the reader's bound.
    TooManyNamespaces,
    /// More attributes on one element than [`MAX_ATTRIBUTES`](super::MAX_ATTRIBUTES).
    TooManyAttributes,
}

/// A well-formedness or capacity error, with the byte offset where it was detected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset in the input.
    pub offset: usize,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::NotUtf8 => "input is not UTF-8",
            ErrorKind::UnexpectedEof => "document ends inside markup or with open elements",
            ErrorKind::NoRootElement => "document has no root element",
            ErrorKind::ContentOutsideRoot => "text or a second element outside the root element",
            ErrorKind::InvalidName => "missing or invalid element or attribute name",
            ErrorKind::MalformedMarkup => {
                "`<` does not start a tag, comment, CDATA section or processing instruction"
            }
            ErrorKind::MalformedAttribute => "attribute needs name=\"value\" with no `<` in the value",
            ErrorKind::DuplicateAttribute => "attribute appears twice on the same element",
            ErrorKind::MismatchedEndTag => "end tag does not match the open element",
            ErrorKind::UnexpectedEndTag => "end tag without an open element",
            ErrorKind::InvalidReference => {
                "`&` must start &lt; &gt; &amp; &quot; &apos; or a character reference"
            }
            ErrorKind::InvalidCharacter => "character not allowed in XML here",
            ErrorKind::DoubleHyphenInComment => "`--` is not allowed inside a comment",
            ErrorKind::MisplacedDeclaration => "XML declaration must come first and be spelled <?xml",
            ErrorKind::MalformedDeclaration(e) => return fmt::Display::fmt(e, f),
            ErrorKind::DoctypeNotSupported => "DOCTYPE declarations are not supported",
            ErrorKind::UnboundPrefix => "namespace prefix used without a declaration",
            ErrorKind::TooDeep => "elements nest deeper than the reader's bound",
            ErrorKind::TooManyNamespaces => "more namespace declarations in scope than the reader's bound",
            ErrorKind::TooManyAttributes => "more attributes on one element than MAX_ATTRIBUTES",
        })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XML error at byte {}: {}", self.offset, self.kind)
    }
}

/// A qualified name split at its colon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct QName<'a> {
    /// The prefix before the colon, if any.
    pub prefix: Option<&'a str>,
    /// The local part.
    pub local: &'a str,
}

impl<'a> QName<'a> {
    pub(crate) fn split(name: &'a str) -> QName<'a> {
        match name.split_once(':') {
            Some((p, l)) => QName {
                prefix: Some(p),
                local: l,
            },
            None => QName {
                prefix: None,
                local: name,
            },
        }
    }
}

/// `<?xml version=... encoding=... standalone=...?>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Declaration<'a> {
    /// The `version` pseudo-attribute.
    pub version: &'a str,
    /// The `encoding` pseudo-attribute.
    pub encoding: Option<&'a str>,
    /// The `standalone` pseudo-attribute.
    pub standalone: Option<&'a str>,
}

/// One attribute of a start tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Attribute<'a> {
    /// The attribute's name.
    pub name: QName<'a>,
    /// The value between the quotes, references not decoded.
    pub raw_value: &'a str,
}

impl Attribute<'_> {
    /// The value with references decoded into `out`.
    pub fn decode<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, DecodeError> {
        decode(self.raw_value, out)
    }

    /// True for `xmlns` and `xmlns:*` declarations.
    pub fn is_namespace_declaration(&self) -> bool {
        self.name.prefix == Some("xmlns") || (self.name.prefix.is_none() && self.name.local == "xmlns")
    }
}

/// The attributes of a start tag, in document order (already checked when the tag was read).
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    pub(crate) rest: &'a str,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;
    fn next(&mut self) -> Option<Attribute<'a>> {
        let s = crate::ascii_trim::trim_start(self.rest, crate::ascii_trim::is_xml_space);
        let (name, after) = s.split_once('=')?;
        let after = crate::ascii_trim::trim_start(after, crate::ascii_trim::is_xml_space);
        // The reader accepted the tag, so the value opens with an ASCII quote.
        let quote = *after.as_bytes().first()?;
        let body = after.get(1..)?;
        let close = crate::substring::memchr(quote, body.as_bytes())?;
        self.rest = body.get(close + 1..)?;
        Some(Attribute {
            name: QName::split(crate::ascii_trim::trim_end(name, crate::ascii_trim::is_xml_space)),
            raw_value: body.get(..close)?,
        })
    }
}

/// A start tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StartElement<'a> {
    /// The element's name.
    pub name: QName<'a>,
    /// The namespace the name resolves to (`None`: no namespace).
    pub namespace: Option<&'a str>,
    pub(crate) attrs: &'a str,
    pub(crate) empty: bool,
    pub(crate) offset: usize,
}

impl<'a> StartElement<'a> {
    /// The attributes, namespace declarations included.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes { rest: self.attrs }
    }

    /// The raw value of the unprefixed attribute `local`.
    pub fn attribute(&self, local: &str) -> Option<&'a str> {
        self.attributes()
            .find(|a| a.name.prefix.is_none() && a.name.local == local)
            .map(|a| a.raw_value)
    }

    /// True for `<a/>`: the matching [`Event::End`] follows immediately.
    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Byte offset of the `<`.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// True when the element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.namespace == Some(ns) && self.name.local == local
    }
}

/// An end tag (also produced after an empty element).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EndElement<'a> {
    /// The element's name.
    pub name: QName<'a>,
    /// The namespace the name resolves to.
    pub namespace: Option<&'a str>,
}

/// Character data between markup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Text<'a> {
    /// The text as written, references not decoded.
    pub raw: &'a str,
}

impl<'a> Text<'a> {
    /// The text with references decoded into `out`.
    pub fn decode<'o>(&self, out: &'o mut [u8]) -> Result<&'o str, DecodeError> {
        decode(self.raw, out)
    }

    /// True when the text is only XML whitespace.
    pub fn is_whitespace(&self) -> bool {
        self.raw
            .bytes()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    }
}

/// One step of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event<'a> {
    /// The XML declaration.
    Declaration(Declaration<'a>),
    /// A start tag or empty element.
    Start(StartElement<'a>),
    /// An end tag.
    End(EndElement<'a>),
    /// Character data inside the root element (whitespace between elements included).
    Text(Text<'a>),
    /// The content of a CDATA section, literal.
    CData(&'a str),
    /// The content of a comment.
    Comment(&'a str),
    /// A processing instruction.
    ProcessingInstruction {
        /// The target name.
        target: &'a str,
        /// Everything after the target, trimmed.
        data: &'a str,
    },
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}
