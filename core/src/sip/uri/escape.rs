//! Percent-escapes (RFC 3261 §19.1.2): an allocation-free decoder and the comparisons §19.1.4 needs
//! (`%61` and `a` are the same character in a SIP URI's user, password, parameters and headers).

/// Iterator over the bytes of `s` with `%XX` escapes decoded. A `%` not followed by two hex digits is
/// passed through as itself (the URI parser rejects such text, so this only matters for raw callers).
#[derive(Clone, Debug)]
pub struct Unescape<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// Decodes percent-escapes in `s` lazily, without allocating.
pub fn unescape(s: &str) -> Unescape<'_> {
    Unescape {
        bytes: s.as_bytes(),
        pos: 0,
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

impl Iterator for Unescape<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.pos)?;
        if b == b'%' {
            let hi = self.bytes.get(self.pos + 1).copied().and_then(hex_value);
            let lo = self.bytes.get(self.pos + 2).copied().and_then(hex_value);
            if let (Some(hi), Some(lo)) = (hi, lo) {
                self.pos += 3;
                return Some(hi << 4 | lo);
            }
        }
        self.pos += 1;
        Some(b)
    }
}

/// Whether `a` and `b` are equal once escapes are decoded (case-sensitive, as §19.1.4 requires for the
/// user and password parts).
pub fn eq_unescaped(a: &str, b: &str) -> bool {
    unescape(a).eq(unescape(b))
}

/// Whether `a` and `b` are equal once escapes are decoded, ignoring ASCII case (parameters, headers).
pub fn eq_unescaped_ignore_case(a: &str, b: &str) -> bool {
    unescape(a)
        .map(|c| c.to_ascii_lowercase())
        .eq(unescape(b).map(|c| c.to_ascii_lowercase()))
}

/// Whether every `%` in `s` starts a valid `%XX` escape.
pub(crate) fn escapes_are_valid(s: &str) -> bool {
    let bytes = s.as_bytes();
    crate::substring::memchr_iter(b'%', bytes).all(|i| {
        bytes.get(i + 1).copied().and_then(hex_value).is_some()
            && bytes.get(i + 2).copied().and_then(hex_value).is_some()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_including_null() {
        assert!(unescape("null-%00-null").eq(*b"null-\0-null"));
        assert!(unescape("sips%3Auser%40example.com").eq(*b"sips:user@example.com"));
        assert!(unescape("100%").eq(*b"100%"));
        assert!(eq_unescaped("%75se%72", "user"));
        assert!(!eq_unescaped("User", "user"));
        assert!(eq_unescaped_ignore_case("%6C%72", "LR"));
        assert!(escapes_are_valid("a%20b") && !escapes_are_valid("a%2") && !escapes_are_valid("%ZZ"));
    }
}
