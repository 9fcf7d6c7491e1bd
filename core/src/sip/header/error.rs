//! The error every typed header parser returns.

use core::fmt;

/// Why a header value did not parse, and where: `at` is a byte offset into the value that was given to
/// the parser (add the value's own offset in the message to locate it there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HeaderError {
    /// What is wrong.
    pub kind: HeaderErrorKind,
    /// Byte offset into the parsed value.
    pub at: usize,
}

/// What is wrong with a header value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HeaderErrorKind {
    /// The value is empty.
    Empty,
    /// Something specific was expected here (the text names it).
    Expected(&'static str),
    /// A quoted string starting here has no closing quote.
    UnterminatedQuote,
    /// A `<` has no matching `>`.
    UnterminatedAngle,
    /// A number is larger than its field allows (the text names the field).
    TooLarge(&'static str),
    /// A field that takes a non-negative decimal number holds something else, such as `-999` (the
    /// text names the field).
    NotANumber(&'static str),
    /// Unexpected text after a complete value.
    Trailing,
    /// A URI is malformed (see [`crate::sip::uri::UriError`]).
    Uri(crate::sip::uri::UriError),
    /// A URI written without `<>` contains `,`, `?` or `;` characters that would then belong to the
    /// header (RFC 3261 §20.10).
    UnbracketedUri,
}

impl HeaderError {
    pub(crate) fn new(kind: HeaderErrorKind, at: usize) -> Self {
        HeaderError { kind, at }
    }
}

impl fmt::Display for HeaderErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::write::display_pieces(f, |out| self.describe(out))
    }
}

impl HeaderErrorKind {
    /// Hands the `Display` text to `out` piece by piece, without `core::fmt` (see [`crate::write`]).
    #[inline(never)]
    pub fn describe(&self, out: crate::write::TextSink<'_>) {
        match self {
            HeaderErrorKind::Empty => out("the value is empty"),
            HeaderErrorKind::Expected(what) => {
                out("expected ");
                out(what);
            }
            HeaderErrorKind::UnterminatedQuote => out("quoted string is not terminated"),
            HeaderErrorKind::UnterminatedAngle => out("'<' has no matching '>'"),
            HeaderErrorKind::TooLarge(what) => {
                out(what);
                out(" is too large");
            }
            HeaderErrorKind::NotANumber(what) => {
                out(what);
                out(" must be a non-negative decimal number");
            }
            HeaderErrorKind::Trailing => out("unexpected text after the value"),
            HeaderErrorKind::Uri(e) => {
                out("malformed URI: ");
                out(e.as_str());
            }
            HeaderErrorKind::UnbracketedUri => {
                out("a URI containing ',', '?' or ';' must be enclosed in '<' '>'")
            }
        }
    }
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at byte {} of the value)", self.kind, self.at)
    }
}
