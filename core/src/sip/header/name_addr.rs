//! `name-addr / addr-spec` values: From, To, Contact, Route, Record-Route, Refer-To, Reply-To,
//! P-Asserted-Identity (RFC 3261 §20.10, §25.1).
//!
//! The RFC 3261 §20.10 rule matters here: in a URI written without `<>`, everything after the first `;`
//! is a header parameter, not a URI parameter (RFC 4475 cparam01 vs cparam02), and such a URI may not
//! contain `,` or `?` (RFC 4475 regbadct).

use super::error::{HeaderError, HeaderErrorKind};
use super::lex::{is_lws, Cursor};
use super::params::Params;
use crate::sip::method::is_token_byte;
use crate::sip::uri::Uri;
use core::fmt;

/// A display name, as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DisplayName<'a> {
    /// The text: inside the quotes for a quoted name (escapes kept), the token run otherwise.
    pub raw: &'a str,
    /// Whether it was a quoted string.
    pub quoted: bool,
}

impl<'a> DisplayName<'a> {
    /// The display name's characters with quoted-pair escapes (`\"`, `\\`) resolved.
    pub fn chars(&self) -> impl Iterator<Item = char> + 'a {
        let quoted = self.quoted;
        let mut escaped = false;
        self.raw.chars().filter(move |&c| {
            if quoted && !escaped && c == '\\' {
                escaped = true;
                return false;
            }
            escaped = false;
            true
        })
    }
}

/// A name-addr or addr-spec with its header parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name, if any.
    pub display_name: Option<DisplayName<'a>>,
    /// The URI (from inside `<>` when bracketed).
    pub uri: Uri<'a>,
    /// The URI's text as written.
    pub uri_text: &'a str,
    /// Whether the URI was enclosed in `<>`.
    pub bracketed: bool,
    /// Header parameters (`;tag=...`, `;expires=...`).
    pub params: Params<'a>,
}

impl<'a> NameAddr<'a> {
    /// Parses one value (split Contact/Route lists first).
    pub fn parse(value: &'a str) -> Result<NameAddr<'a>, HeaderError> {
        let mut c = Cursor::new(value);
        c.skip_lws();
        if c.at_end() {
            return Err(c.err(HeaderErrorKind::Empty));
        }
        let display_name = display_name(&mut c)?;
        let (uri_text, bracketed, uri_start) = if c.peek() == Some(b'<') || display_name.is_some() {
            if !c.eat(b'<') {
                return Err(c.err(HeaderErrorKind::Expected("'<' after the display name")));
            }
            let start = c.pos;
            let rest = c.s.get(start..).unwrap_or("");
            let close = crate::substring::memchr(b'>', rest.as_bytes()).ok_or(HeaderError::new(
                HeaderErrorKind::UnterminatedAngle,
                start.saturating_sub(1),
            ))?;
            c.pos = start + close + 1;
            (rest.get(..close).unwrap_or(""), true, start)
        } else {
            let start = c.pos;
            let text = c.take_while(|b| !is_lws(b) && b != b';');
            if text.bytes().any(|b| matches!(b, b',' | b'?')) {
                return Err(HeaderError::new(HeaderErrorKind::UnbracketedUri, start));
            }
            (text, false, start)
        };
        let uri = Uri::parse(uri_text).map_err(|e| HeaderError::new(HeaderErrorKind::Uri(e), uri_start))?;
        let params = Params::from_raw(c.params()?);
        c.finish()?;
        Ok(NameAddr {
            display_name,
            uri,
            uri_text,
            bracketed,
            params,
        })
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'a str> {
        self.params.get("tag").flatten()
    }

    /// The `expires` parameter of a Contact, if present and a number (saturating at `u32::MAX`, as RFC
    /// 3261 §10.2.1.1 asks for overlarge values).
    pub fn expires(&self) -> Option<u32> {
        let v = self.params.get("expires").flatten()?;
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(crate::write::parse_decimal(v).unwrap_or(u32::MAX))
    }

    /// The `q` parameter of a Contact, as written (`0.33`).
    pub fn q(&self) -> Option<&'a str> {
        self.params.get("q").flatten()
    }
}

/// Reads a display name if one precedes the URI; leaves the cursor on the `<` (or where it started).
fn display_name<'a>(c: &mut Cursor<'a>) -> Result<Option<DisplayName<'a>>, HeaderError> {
    if c.peek() == Some(b'"') {
        let raw = c.quoted()?;
        c.skip_lws();
        return Ok(Some(DisplayName { raw, quoted: true }));
    }
    // A run of tokens separated by LWS is a display name only if a '<' follows it.
    let start = c.pos;
    let mut end = start;
    loop {
        if c.take_while(is_token_byte).is_empty() {
            break;
        }
        end = c.pos;
        c.skip_lws();
    }
    if end > start && c.peek() == Some(b'<') {
        return Ok(Some(DisplayName {
            raw: c.s.get(start..end).unwrap_or(""),
            quoted: false,
        }));
    }
    c.pos = start;
    Ok(None)
}

impl fmt::Display for NameAddr<'_> {
    /// Canonical form: display name (as written), URI in `<>` whenever it was bracketed or has a display
    /// name, parameters without LWS.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = self.display_name {
            if d.quoted {
                write!(f, "\"{}\" ", d.raw)?;
            } else {
                write!(f, "{} ", d.raw)?;
            }
        }
        if self.bracketed || self.display_name.is_some() {
            write!(f, "<{}>", self.uri)?;
        } else {
            write!(f, "{}", self.uri)?;
        }
        for p in self.params {
            write!(f, ";{}", p.name)?;
            if let Some(v) = p.value {
                write!(f, "={v}")?;
            }
        }
        Ok(())
    }
}

/// One Contact value: `*` (only in a REGISTER that removes all bindings) or an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Contact<'a> {
    /// `Contact: *`.
    Star,
    /// An address with its parameters.
    Address(NameAddr<'a>),
}

impl<'a> Contact<'a> {
    /// Parses one Contact value.
    pub fn parse(value: &'a str) -> Result<Contact<'a>, HeaderError> {
        if super::lex::trim_lws(value) == "*" {
            Ok(Contact::Star)
        } else {
            NameAddr::parse(value).map(Contact::Address)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_display_name_with_escapes_and_folded_params() {
        let n = NameAddr::parse(
            "\"J Rosenberg \\\\\\\"\"       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8",
        )
        .unwrap();
        let d = n.display_name.unwrap();
        assert!(d.chars().eq("J Rosenberg \\\"".chars()));
        assert_eq!(n.tag(), Some("98asjd8"));
        assert!(n.bracketed);
    }

    #[test]
    fn bare_uri_params_belong_to_the_header() {
        let n = NameAddr::parse("sip:+19725552222@gw1.example.net;unknownparam").unwrap();
        assert!(n.params.contains("unknownparam"));
        assert!(n.uri.as_sip().unwrap().params.is_empty());
        let n = NameAddr::parse("<sip:+19725552222@gw1.example.net;unknownparam>").unwrap();
        assert!(n.params.is_empty());
        assert!(n.uri.as_sip().unwrap().params.contains("unknownparam"));
        let n = NameAddr::parse("sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n").unwrap();
        assert_eq!(n.tag(), Some("1918181833n"));
    }

    #[test]
    fn token_display_names() {
        let n = NameAddr::parse("caller<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(
            n.display_name,
            Some(DisplayName {
                raw: "caller",
                quoted: false
            })
        );
        let n = NameAddr::parse("A. Bell <sip:a.g.bell@example.com>").unwrap();
        assert_eq!(n.display_name.unwrap().raw, "A. Bell");
    }

    #[test]
    fn rejects_rfc4475_malformed_addresses() {
        let kind = |v| NameAddr::parse(v).unwrap_err().kind;
        assert_eq!(
            kind("\"Mr. J. User <sip:j.user@example.com>"),
            HeaderErrorKind::UnterminatedQuote
        );
        assert!(matches!(
            kind("\"Watson, Thomas\" < sip:t.watson@example.org >"),
            HeaderErrorKind::Uri(_)
        ));
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_err());
        assert_eq!(
            kind("sip:user@example.com?Route=%3Csip:sip.example.com%3E"),
            HeaderErrorKind::UnbracketedUri
        );
        assert_eq!(kind("<sip:a@b"), HeaderErrorKind::UnterminatedAngle);
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_err());
    }

    #[test]
    fn contact_star_and_contact_params() {
        assert_eq!(Contact::parse(" * "), Ok(Contact::Star));
        let Contact::Address(c) = Contact::parse("<sip:a@b>;expires=280297596632815;q=0.33").unwrap() else {
            panic!()
        };
        assert_eq!((c.expires(), c.q()), (Some(u32::MAX), Some("0.33")));
    }
}
