//! The small lexer every typed header parser shares: a cursor over a header value that understands LWS
//! (including folded `CRLF SP` continuations left in a value by the message view), tokens, quoted strings
//! and `;name=value` parameter runs. Every method is total: it never indexes out of bounds.

use super::error::{HeaderError, HeaderErrorKind};
use crate::sip::method::is_token_byte;

/// Linear whitespace inside a header value: SP, HTAB, and the CR/LF of a folded line.
#[inline]
pub(crate) fn is_lws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor<'a> {
    pub(crate) s: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Cursor { s, pos: 0 }
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    pub(crate) fn err(&self, kind: HeaderErrorKind) -> HeaderError {
        HeaderError { kind, at: self.pos }
    }

    /// Skips LWS; returns whether any was skipped.
    pub(crate) fn skip_lws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_lws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// Consumes `b` if it is next.
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consumes LWS, `b`, LWS (RFC 3261's SLASH, COLON, SEMI, EQUAL... separators).
    pub(crate) fn expect_sep(&mut self, b: u8, what: &'static str) -> Result<(), HeaderError> {
        self.skip_lws();
        if !self.eat(b) {
            return Err(self.err(HeaderErrorKind::Expected(what)));
        }
        self.skip_lws();
        Ok(())
    }

    /// The longest run of bytes satisfying `pred` (possibly empty).
    pub(crate) fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&pred) {
            self.pos += 1;
        }
        // Every predicate used stops on ASCII bytes only, so both ends are char boundaries.
        self.s.get(start..self.pos).unwrap_or("")
    }

    /// A non-empty token.
    pub(crate) fn token(&mut self, what: &'static str) -> Result<&'a str, HeaderError> {
        let t = self.take_while(is_token_byte);
        if t.is_empty() {
            Err(self.err(HeaderErrorKind::Expected(what)))
        } else {
            Ok(t)
        }
    }

    /// A quoted string starting at the cursor; returns the text between the quotes, escapes untouched.
    pub(crate) fn quoted(&mut self) -> Result<&'a str, HeaderError> {
        let open = self.pos;
        if !self.eat(b'"') {
            return Err(self.err(HeaderErrorKind::Expected("'\"'")));
        }
        let bytes = self.s.as_bytes();
        let mut i = self.pos;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => {
                    let inner = self.s.get(self.pos..i).unwrap_or("");
                    self.pos = i + 1;
                    return Ok(inner);
                }
                _ => i += 1,
            }
        }
        Err(HeaderError {
            kind: HeaderErrorKind::UnterminatedQuote,
            at: open,
        })
    }

    /// An unsigned decimal number, rejecting values above `max`.
    pub(crate) fn number(&mut self, max: u64, what: &'static str) -> Result<u64, HeaderError> {
        let start = self.pos;
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(self.err(HeaderErrorKind::NotANumber(what)));
        }
        let mut value: u64 = 0;
        for d in digits.bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(d - b'0')))
                .unwrap_or(u64::MAX);
        }
        if value > max {
            return Err(HeaderError {
                kind: HeaderErrorKind::TooLarge(what),
                at: start,
            });
        }
        Ok(value)
    }

    /// Parses a run of `;name[=value]` parameters (LWS allowed around `;` and `=`) and returns its raw
    /// text, starting at the first `;`. Values are tokens, quoted strings, or hosts (IPv6 references).
    pub(crate) fn params(&mut self) -> Result<&'a str, HeaderError> {
        let save = self.pos;
        self.skip_lws();
        let start = self.pos;
        let mut end = save;
        while self.peek() == Some(b';') {
            self.pos += 1;
            self.skip_lws();
            self.token("a parameter name")?;
            end = self.pos;
            self.skip_lws();
            if self.eat(b'=') {
                self.skip_lws();
                if self.peek() == Some(b'"') {
                    self.quoted()?;
                } else if self
                    .take_while(|b| is_token_byte(b) || matches!(b, b':' | b'[' | b']'))
                    .is_empty()
                {
                    return Err(self.err(HeaderErrorKind::Expected("a parameter value")));
                }
                end = self.pos;
            }
            let after_param = self.pos;
            self.skip_lws();
            if self.peek() != Some(b';') {
                self.pos = after_param;
            }
        }
        self.pos = end.max(save);
        Ok(if end > save {
            self.s.get(start..end).unwrap_or("")
        } else {
            ""
        })
    }

    /// Skips trailing LWS and requires the end of the value.
    pub(crate) fn finish(&mut self) -> Result<(), HeaderError> {
        self.skip_lws();
        if self.at_end() {
            Ok(())
        } else {
            Err(self.err(HeaderErrorKind::Trailing))
        }
    }
}

/// Trims LWS (including folded line breaks) from both ends.
pub fn trim_lws(s: &str) -> &str {
    crate::ascii_trim::trim(s, is_lws)
}

/// Splits a comma-separated header value into its items, honouring quoted strings (with `\` escapes) and
/// `<...>` URIs, which may both contain commas. Items are LWS-trimmed; empty items are skipped.
pub fn split_list(value: &str) -> SplitList<'_> {
    SplitList { rest: value }
}

/// Iterator returned by [`split_list`].
#[derive(Clone, Debug)]
pub struct SplitList<'a> {
    rest: &'a str,
}

impl<'a> Iterator for SplitList<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let bytes = self.rest.as_bytes();
            let (mut quoted, mut angle, mut i) = (false, false, 0);
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'\\' if quoted => i += 1,
                    b'"' if !angle => quoted = !quoted,
                    b'<' if !quoted => angle = true,
                    b'>' if !quoted => angle = false,
                    b',' if !quoted && !angle => break,
                    _ => {}
                }
                i += 1;
            }
            let item = self.rest.get(..i.min(self.rest.len())).unwrap_or("");
            self.rest = self.rest.get(i.saturating_add(1)..).unwrap_or("");
            let item = trim_lws(item);
            if !item.is_empty() {
                return Some(item);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_splitting_respects_quotes_angles_and_escapes() {
        let items: heapless::Vec<&str, 8> = split_list(r#""a, \"b," <sip:x@y;p=1,2>;q=1 , c,, d"#).collect();
        assert_eq!(&items[..], &[r#""a, \"b," <sip:x@y;p=1,2>;q=1"#, "c", "d"]);
        assert_eq!(split_list(";;,,;;,;").count(), 3);
        assert_eq!(split_list(" , ").count(), 0);
    }

    #[test]
    fn params_accept_lws_around_separators() {
        let mut c = Cursor::new(" ;\r\n  tag = 98asjd8 ; lr ;q=\"x;y\"  rest");
        assert_eq!(c.params().unwrap(), ";\r\n  tag = 98asjd8 ; lr ;q=\"x;y\"");
        assert_eq!(c.s.get(c.pos..), Some("  rest"));
        let mut empty = Cursor::new("abc");
        assert_eq!(empty.params().unwrap(), "");
        assert_eq!(empty.pos, 0);
        assert!(Cursor::new(";;").params().is_err());
    }

    #[test]
    fn numbers_saturate_and_report_overflow() {
        assert_eq!(Cursor::new("0068").number(255, "n").unwrap(), 68);
        assert_eq!(
            Cursor::new("36893488147419103232")
                .number(u64::from(u32::MAX), "n")
                .unwrap_err()
                .kind,
            HeaderErrorKind::TooLarge("n")
        );
    }
}
