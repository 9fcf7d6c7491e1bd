//! Substring search for the MSRP framer and the multipart reader, in one of two builds:
//!
//! | build | search | why |
//! |---|---|---|
//! | default (hosts) | `memchr::memmem` (Two-Way with a SIMD prefilter) | fast on megabyte bodies |
//! | feature `small-code` (devices) | `memchr` for the needle's first byte, then a comparison | `memmem`'s searchers are about 3 KB of Cortex-M code; device bodies are a few KB |
//!
//! Both return the same answer: the offset of the needle's first occurrence.

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
    while let Some(offset) = hay.get(from..).and_then(|h| memchr::memchr(first, h)) {
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
}
