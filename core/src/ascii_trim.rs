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

/// XML white space (XML 1.0 `S`): SP, HT, CR, LF.
pub(crate) fn is_xml_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
