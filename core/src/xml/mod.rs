//! A bounded, zero-copy XML 1.0 pull reader (with namespaces), and the buffer writer the builders share.
//!
//! The reader serves the small XML bodies of SIMPLE: IMDN (RFC 5438), conference-info (RFC 4575),
//! resource lists (RFC 4826), PIDF and XCAP documents. It is a pull parser: [`Reader::next_event`]
//! returns one [`Event`] at a time, borrowing names, attribute values and text from the input. Nothing is
//! copied; entity references are decoded only when the caller asks, into the caller's buffer
//! ([`Text::decode`], [`Attribute::decode`]).
//!
//! Bounds: open elements ([`DEFAULT_MAX_DEPTH`]), in-scope namespace declarations
//! ([`DEFAULT_MAX_NAMESPACES`]) and attributes per element ([`MAX_ATTRIBUTES`]) are fixed; exceeding one
//! is an [`ErrorKind`], never a panic. The reader's state is a few hundred bytes.
//!
//! Well-formedness is checked as the reader goes: one root element, matching end tags, unique attribute
//! names, quoted attribute values without `<`, valid references, no `--` in comments, no `]]>` in text,
//! bound prefixes. Each error carries the byte offset where it was found and the reader then stays
//! failed. Documents with a DOCTYPE are refused ([`ErrorKind::DoctypeNotSupported`]): none of the
//! formats needs one, and refusing them rules out entity-expansion attacks.
//!
//! Empty elements (`<a/>`) produce a [`Event::Start`] with [`StartElement::is_empty`] set, followed by an
//! [`Event::End`], so consumers see one shape for both spellings.
//!
//! Text values that outlive the reader (fields of parsed documents, values for the writers) are
//! [`XmlText`]: escaped as read from a document, or plain as given by an application. Writing, decoding
//! and comparing each form is done right without copies.

mod declaration;
mod entity;
mod event;
mod reader;
mod text;

/// The buffer writer, now shared by the whole crate as [`crate::write`]; kept under its old path.
pub use crate::write as writer;
pub use declaration::DeclarationError;
pub use entity::{decode, needs_decoding, DecodeError};
pub use event::{
    Attribute, Attributes, Declaration, EndElement, Error, ErrorKind, Event, QName, StartElement, Text,
};
pub use reader::Reader;
pub use text::XmlText;

/// Default bound on nested open elements. The deepest SIMPLE document (conference-info) nests 6 levels.
pub const DEFAULT_MAX_DEPTH: usize = 16;
/// Default bound on namespace declarations in scope at once (conference-info examples declare 3).
pub const DEFAULT_MAX_NAMESPACES: usize = 16;
/// Bound on the attributes of one element (duplicate detection keeps their names on the stack).
pub const MAX_ATTRIBUTES: usize = 24;
/// A reader with the default bounds (`Reader::new` needs the bounds spelled out, e.g. `Reader<'_>`,
/// because const generic defaults do not take part in inference).
pub fn reader(input: &[u8]) -> Reader<'_> {
    Reader::new(input)
}

/// The namespace bound to the `xml` prefix by definition.
pub const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
