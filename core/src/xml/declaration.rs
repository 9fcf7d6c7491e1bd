//! The XML declaration (`<?xml version="1.0" encoding="UTF-8" standalone="no"?>`), checked strictly.
//!
//! XML 1.0 §2.8 fixes its shape: `version` first, then optionally `encoding`, then optionally
//! `standalone`, each preceded by whitespace, `=` with optional whitespace around it, and a value in
//! matching single or double quotes. `version` is `1.` and digits; an encoding name starts with a letter
//! and continues with letters, digits, `.`, `_` or `-`; `standalone` is `yes` or `no`. Anything else is
//! refused, so that a declaration cannot swallow markup inside a long quoted value.

use core::fmt;

use super::event::Declaration;

/// What is wrong with an XML declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DeclarationError {
    /// The `version` pseudo-attribute is missing.
    MissingVersion,
    /// The version is not `1.` followed by digits.
    InvalidVersion,
    /// A name other than `version`, `encoding` and `standalone`.
    UnknownPseudoAttribute,
    /// A pseudo-attribute repeated, or out of the order version, encoding, standalone.
    OutOfOrder,
    /// No whitespace before a pseudo-attribute.
    MissingSpace,
    /// A pseudo-attribute without `=` or without a value in matching quotes.
    MalformedValue,
    /// An encoding name that is not a letter followed by letters, digits, `.`, `_` or `-`.
    InvalidEncoding,
    /// `standalone` is neither `yes` nor `no`.
    InvalidStandalone,
}

impl fmt::Display for DeclarationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeclarationError::MissingVersion => "XML declaration needs version=\"1.0\" first",
            DeclarationError::InvalidVersion => "XML declaration version must be 1. followed by digits",
            DeclarationError::UnknownPseudoAttribute => {
                "XML declaration allows only version, encoding and standalone"
            }
            DeclarationError::OutOfOrder => {
                "XML declaration pseudo-attributes must appear once each, in the order version, encoding, standalone"
            }
            DeclarationError::MissingSpace => "XML declaration pseudo-attributes must be separated by whitespace",
            DeclarationError::MalformedValue => "XML declaration needs name=\"value\" with matching quotes",
            DeclarationError::InvalidEncoding => "XML declaration encoding name is malformed (e.g. UTF-8)",
            DeclarationError::InvalidStandalone => "XML declaration standalone must be \"yes\" or \"no\"",
        })
    }
}

fn is_version(v: &str) -> bool {
    v.strip_prefix("1.")
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

fn is_encoding_name(v: &str) -> bool {
    let mut bytes = v.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn skip_spaces(s: &str, at: usize) -> usize {
    let rest = s.get(at..).unwrap_or("");
    at + (rest.len() - crate::ascii_trim::trim_start(rest, crate::ascii_trim::is_xml_space).len())
}

/// Reads the pseudo-attributes in `data` (everything between `<?xml` and `?>`). On error, returns the
/// byte offset in `data` of the offending part.
pub(crate) fn parse(data: &str) -> Result<Declaration<'_>, (DeclarationError, usize)> {
    let mut decl = Declaration {
        version: "",
        encoding: None,
        standalone: None,
    };
    let mut seen_version = false;
    let mut pos = 0;
    loop {
        let name_at = skip_spaces(data, pos);
        if name_at >= data.len() {
            break;
        }
        if name_at == pos {
            return Err((DeclarationError::MissingSpace, pos));
        }
        let rest = data.get(name_at..).unwrap_or("");
        let name_len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
        let name = rest.get(..name_len).unwrap_or("");
        let order_ok = match name {
            "version" => !seen_version,
            "encoding" => seen_version && decl.encoding.is_none() && decl.standalone.is_none(),
            "standalone" => seen_version && decl.standalone.is_none(),
            _ => return Err((DeclarationError::UnknownPseudoAttribute, name_at)),
        };
        if !order_ok {
            let error = if seen_version {
                DeclarationError::OutOfOrder
            } else {
                DeclarationError::MissingVersion
            };
            return Err((error, name_at));
        }
        let eq_at = skip_spaces(data, name_at + name_len);
        if data.as_bytes().get(eq_at) != Some(&b'=') {
            return Err((DeclarationError::MalformedValue, eq_at));
        }
        let quote_at = skip_spaces(data, eq_at + 1);
        let quote = match data.as_bytes().get(quote_at) {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => return Err((DeclarationError::MalformedValue, quote_at)),
        };
        let value_at = quote_at + 1;
        let value_area = data.as_bytes().get(value_at..).unwrap_or(&[]);
        let len = crate::substring::memchr(quote, value_area)
            .ok_or((DeclarationError::MalformedValue, quote_at))?;
        let value = data.get(value_at..value_at + len).unwrap_or("");
        match name {
            "version" if is_version(value) => {
                decl.version = value;
                seen_version = true;
            }
            "version" => return Err((DeclarationError::InvalidVersion, value_at)),
            "encoding" if is_encoding_name(value) => decl.encoding = Some(value),
            "encoding" => return Err((DeclarationError::InvalidEncoding, value_at)),
            _ if matches!(value, "yes" | "no") => decl.standalone = Some(value),
            _ => return Err((DeclarationError::InvalidStandalone, value_at)),
        }
        pos = value_at + len + 1;
    }
    if !seen_version {
        return Err((DeclarationError::MissingVersion, 0));
    }
    Ok(decl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_three_pseudo_attributes_in_order() {
        let d = parse(" version = '1.0' encoding=\"UTF-8\"\tstandalone='yes' ").unwrap();
        assert_eq!(
            d,
            Declaration {
                version: "1.0",
                encoding: Some("UTF-8"),
                standalone: Some("yes")
            }
        );
        assert_eq!(parse(" version=\"1.10\"").unwrap().version, "1.10");
    }

    #[test]
    fn each_malformation_has_its_error_and_offset() {
        let cases: &[(&str, DeclarationError, usize)] = &[
            ("", DeclarationError::MissingVersion, 0),
            (" encoding='UTF-8'", DeclarationError::MissingVersion, 1),
            (
                " version='1.0ecipient-uri>' encoding='UTF-8'",
                DeclarationError::InvalidVersion,
                10,
            ),
            (" version='2.0'", DeclarationError::InvalidVersion, 10),
            (" version='1.'", DeclarationError::InvalidVersion, 10),
            (
                " version='1.0' foo='x'",
                DeclarationError::UnknownPseudoAttribute,
                15,
            ),
            (
                " version='1.0' standalone='no' encoding='UTF-8'",
                DeclarationError::OutOfOrder,
                31,
            ),
            (" version='1.0' version='1.0'", DeclarationError::OutOfOrder, 15),
            (
                " version='1.0'encoding='UTF-8'",
                DeclarationError::MissingSpace,
                14,
            ),
            (" version '1.0'", DeclarationError::MalformedValue, 9),
            (" version='1.0\"", DeclarationError::MalformedValue, 9),
            (" version=1.0", DeclarationError::MalformedValue, 9),
            (
                " version='1.0' encoding='8bit'",
                DeclarationError::InvalidEncoding,
                25,
            ),
            (
                " version='1.0' standalone='maybe'",
                DeclarationError::InvalidStandalone,
                27,
            ),
        ];
        for &(data, error, offset) in cases {
            assert_eq!(parse(data), Err((error, offset)), "{data:?}");
        }
    }
}
