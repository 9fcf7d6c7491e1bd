//! Trimming a `str` by a class of ASCII bytes, without decoding `char`s.
//!
//! `str::trim_matches` and friends decode UTF-8 from both ends and are instantiated once per pattern;
//! on a device that is several hundred bytes of code for what, with an ASCII class, is a byte scan.
//! These take the class as a plain `fn(u8) -> bool` so each exists once. A class must hold only
//! ASCII bytes: then every cut falls between characters, exactly where the `str` methods cut.

/// `s` without the leading bytes of `class`.
pub(crate) fn trim_start(s: &str, class: fn(u8) -> bool) -> &str {
    let start = s.bytes().position(|b| !class(b)).unwrap_or(s.len());
    s.get(start..).unwrap_or("")
}

/// `s` without the trailing bytes of `class`.
pub(crate) fn trim_end(s: &str, class: fn(u8) -> bool) -> &str {
    let end = s.bytes().rposition(|b| !class(b)).map_or(0, |last| last + 1);
    s.get(..end).unwrap_or("")
}

/// `s` without the bytes of `class` at either end.
pub(crate) fn trim(s: &str, class: fn(u8) -> bool) -> &str {
    trim_end(trim_start(s, class), class)
}

/// Whether `s` starts with `prefix`, ASCII case ignored (`prefix` must be ASCII). The same answer as
/// `s.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix))`, as one out-of-line copy
/// for the media-type, scheme and header-name tests that each inlined it.
#[inline(never)]
pub(crate) fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// XML white space (XML 1.0 `S`): SP, HT, CR, LF.
pub(crate) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Protocol white space: SP, HTAB, CR, LF. SIP's LWS (RFC 3261 section 25.1: SP / HTAB, with CRLF
/// folding), MSRP's header white space (RFC 4975), CPIM's (RFC 3862) and XML's `S` are all this class,
/// so a no-break space (U+00A0) or an ideographic space (U+3000) is content, never padding. The
/// `str::trim` family would strip those (Unicode `White_Space`), and on a device costs a UTF-8 decoder
/// and a 256-byte table besides.
pub(crate) fn is_ascii_ws(b: u8) -> bool {
    is_xml_space(b)
}

/// `trim`, `trim_start` and `trim_end` by [`is_ascii_ws`], as methods so call sites read like the
/// `str` ones they replace.
pub(crate) trait TrimAsciiWs {
    /// Without protocol white space at either end.
    fn trim_ws(&self) -> &str;
    /// Without leading protocol white space.
    fn trim_ws_start(&self) -> &str;
    /// Without trailing protocol white space.
    fn trim_ws_end(&self) -> &str;
}

// Out of line: inlined, each of the ~50 call sites would carry its own pair of byte loops.
impl TrimAsciiWs for str {
    #[inline(never)]
    fn trim_ws(&self) -> &str {
        trim(self, is_ascii_ws)
    }
    #[inline(never)]
    fn trim_ws_start(&self) -> &str {
        trim_start(self, is_ascii_ws)
    }
    #[inline(never)]
    fn trim_ws_end(&self) -> &str {
        trim_end(self, is_ascii_ws)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_test_answers_as_the_str_formula() {
        let texts = [
            "Message/CPIM",
            "message/cpim; x",
            "message/cp",
            "",
            "sip:",
            "SIP/2.0",
            "é/cpim",
            "mé",
        ];
        for text in texts {
            for prefix in ["message/cpim", "sip:", "SIP/", "m", ""] {
                let by_str = text
                    .get(..prefix.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(prefix));
                assert_eq!(
                    starts_with_ignore_case(text, prefix),
                    by_str,
                    "{text:?} {prefix:?}"
                );
            }
        }
    }

    #[test]
    fn cuts_where_the_str_methods_cut() {
        let class: fn(u8) -> bool = is_xml_space;
        for s in ["", " ", " \t\r\n", "a", " a b ", "\né\n", "é", " x\u{a0} "] {
            let std_class = |c: char| c.is_ascii() && class(c as u8);
            assert_eq!(trim_start(s, class), s.trim_start_matches(std_class));
            assert_eq!(trim_end(s, class), s.trim_end_matches(std_class));
            assert_eq!(trim(s, class), s.trim_matches(std_class));
        }
    }

    #[test]
    fn protocol_white_space_is_ascii_only() {
        assert_eq!(" \t a b \r\n".trim_ws(), "a b");
        assert_eq!("\u{a0}a\u{3000}".trim_ws(), "\u{a0}a\u{3000}");
        assert_eq!(" \u{a0}a ".trim_ws_start(), "\u{a0}a ");
        assert_eq!(" a\u{3000}\t".trim_ws_end(), " a\u{3000}");
    }
}
