//! Substring search for the MSRP framer and the multipart reader, in one of two builds:
//!
//! | build | search | why |
//! |---|---|---|
//! | default (hosts) | `memchr::memmem` (Two-Way with a SIMD prefilter) | fast on megabyte bodies |
//! | feature `small-code` (devices) | `memchr` for the needle's first byte, then a comparison | `memmem`'s searchers are about 3 KB of Cortex-M code; device bodies are a few KB |
//!
//! Both return the same answer: the offset of the needle's first occurrence.
//!
//! The single-byte scans of the SIP, CPIM and XML parsers ([`memchr`], [`memchr2`], [`memchr_iter`])
//! follow the same split: hosts call the `memchr` crate (word-at-a-time or SIMD), devices a plain loop
//! over the bytes, which saves the crate's word-at-a-time routines (~0.35 KB of Cortex-M code) on
//! messages of a few hundred bytes. Both answer the same offsets.

/// Offset of the first `needle` byte in `hay`.
#[cfg(not(feature = "small-code"))]
#[inline]
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr(needle, hay)
}

/// Offset of the first `needle` byte in `hay`.
#[cfg(feature = "small-code")]
#[inline(never)]
pub(crate) fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

/// Offset of the first byte in `hay` that is `first` or `second`.
#[cfg(not(feature = "small-code"))]
#[inline]
pub(crate) fn memchr2(first: u8, second: u8, hay: &[u8]) -> Option<usize> {
    memchr::memchr2(first, second, hay)
}

/// Offset of the first byte in `hay` that is `first` or `second`.
#[cfg(feature = "small-code")]
#[inline(never)]
pub(crate) fn memchr2(first: u8, second: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == first || b == second)
}

/// Offset of the last `needle` byte in `hay`.
#[cfg(not(feature = "small-code"))]
#[inline]
pub(crate) fn memrchr(needle: u8, hay: &[u8]) -> Option<usize> {
    memchr::memrchr(needle, hay)
}

/// Offset of the last `needle` byte in `hay`.
#[cfg(feature = "small-code")]
#[inline(never)]
pub(crate) fn memrchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().rposition(|&b| b == needle)
}

/// `str::rsplit_once` for an ASCII separator: the text before and after its last occurrence. An ASCII
/// byte is a whole character, so both halves start and end on character boundaries. Through
/// [`memrchr`], so devices keep no reverse `CharSearcher`.
pub(crate) fn rsplit_once_ascii(s: &str, separator: u8) -> Option<(&str, &str)> {
    let at = memrchr(separator, s.as_bytes())?;
    Some((s.get(..at)?, s.get(at + 1..)?))
}

/// The offsets of every `needle` byte in `hay`, in order.
#[cfg(not(feature = "small-code"))]
#[inline]
pub(crate) fn memchr_iter(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memchr_iter(needle, hay)
}

/// The offsets of every `needle` byte in `hay`, in order.
#[cfg(feature = "small-code")]
pub(crate) fn memchr_iter(needle: u8, hay: &[u8]) -> impl Iterator<Item = usize> + '_ {
    hay.iter()
        .enumerate()
        .filter(move |(_, &b)| b == needle)
        .map(|(at, _)| at)
}

/// Offset of the first occurrence of `needle` in `hay` (`Some(0)` for an empty needle).
#[cfg(not(feature = "small-code"))]
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(hay, needle)
}

/// Offset of the first occurrence of `needle` in `hay` (`Some(0)` for an empty needle).
#[cfg(feature = "small-code")]
#[inline(never)]
pub(crate) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let Some((&first, rest)) = needle.split_first() else {
        return Some(0);
    };
    let mut from = 0;
    while let Some(offset) = hay.get(from..).and_then(|h| memchr(first, h)) {
        let at = from + offset;
        let after = at + 1;
        if hay.get(after..after + rest.len())? == rest {
            return Some(at);
        }
        from = after;
    }
    None
}

/// `str::find` with a `&str` needle, through [`find`]: on devices this keeps `core`'s `StrSearcher`
/// (Two-Way, ~1.3 KB of Cortex-M code) out of the firmware. A match of a whole `str` starts and ends
/// on character boundaries, so the offset can slice `hay`.
pub(crate) fn find_str(hay: &str, needle: &str) -> Option<usize> {
    find(hay.as_bytes(), needle.as_bytes())
}

/// `str::split_once` with a `&str` needle, through [`find_str`].
pub(crate) fn split_once_str<'h>(hay: &'h str, needle: &str) -> Option<(&'h str, &'h str)> {
    let at = find_str(hay, needle)?;
    Some((hay.get(..at)?, hay.get(at + needle.len()..)?))
}

/// A searcher for one fixed needle, built once and kept across reads.
#[derive(Clone, Debug)]
pub(crate) struct Finder {
    #[cfg(not(feature = "small-code"))]
    searcher: memchr::memmem::Finder<'static>,
    #[cfg(feature = "small-code")]
    needle: &'static [u8],
}

impl Finder {
    pub(crate) fn new(needle: &'static [u8]) -> Self {
        Finder {
            #[cfg(not(feature = "small-code"))]
            searcher: memchr::memmem::Finder::new(needle),
            #[cfg(feature = "small-code")]
            needle,
        }
    }

    /// Offset of the first occurrence of the needle in `hay`.
    pub(crate) fn find(&self, hay: &[u8]) -> Option<usize> {
        #[cfg(not(feature = "small-code"))]
        return self.searcher.find(hay);
        #[cfg(feature = "small-code")]
        return find(hay, self.needle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_occurrence_or_none() {
        assert_eq!(find(b"ab\r\n-------x\r\n-------", b"\r\n-------"), Some(2));
        assert_eq!(find(b"aaab", b"ab"), Some(2));
        assert_eq!(find(b"\r\n-----", b"\r\n-------"), None);
        assert_eq!(find(b"", b"x"), None);
        assert_eq!(find(b"abc", b""), Some(0));
        assert_eq!(Finder::new(b"--").find(b"a-b--c"), Some(3));
    }

    #[test]
    fn str_helpers_answer_like_std() {
        for (hay, needle) in [
            ("a]]>b", "]]>"),
            ("é--x", "--"),
            ("abc", ""),
            ("", "x"),
            ("z;branch=z9", "z9"),
        ] {
            assert_eq!(find_str(hay, needle), hay.find(needle));
            assert_eq!(split_once_str(hay, needle), hay.split_once(needle));
        }
    }

    #[test]
    fn byte_scans_answer_like_std() {
        for hay in ["", "@", "a@b@c", "é@ü", "no separator", "\r\n\r\n", "@@"] {
            for byte in [b'@', b'\r', b'\n', b'x'] {
                let needle = char::from(byte);
                let bytes = hay.as_bytes();
                assert_eq!(memchr(byte, bytes), hay.find(needle));
                assert_eq!(memrchr(byte, bytes), hay.rfind(needle));
                assert_eq!(memchr2(byte, b'@', bytes), hay.find([needle, '@']));
                let every: std::vec::Vec<usize> = memchr_iter(byte, bytes).collect();
                let std_every: std::vec::Vec<usize> = hay.match_indices(needle).map(|(at, _)| at).collect();
                assert_eq!(every, std_every);
                assert_eq!(rsplit_once_ascii(hay, byte), hay.rsplit_once(needle));
            }
        }
    }
}
