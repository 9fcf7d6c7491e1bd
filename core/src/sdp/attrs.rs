//! Typed values of the SDP attributes MSRP uses, parsed on demand from a [`super::Media`] view.

use crate::ascii_trim::TrimAsciiWs;
/// `a=setup` (RFC 4145 §4, as profiled for MSRP by RFC 6135 §4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Setup {
    /// Will open the connection.
    Active,
    /// Will accept the connection.
    Passive,
    /// Either; the answerer chooses (offers only).
    ActPass,
    /// Not now. RFC 6135: MSRP endpoints treat it as if no setup attribute were present.
    HoldConn,
    /// An unknown value, kept.
    Other,
}

impl Setup {
    /// Reads an `a=setup` value.
    pub fn parse(value: &str) -> Setup {
        match value.trim_ws() {
            "active" => Setup::Active,
            "passive" => Setup::Passive,
            "actpass" => Setup::ActPass,
            "holdconn" => Setup::HoldConn,
            _ => Setup::Other,
        }
    }

    /// The wire value (`None` for [`Setup::Other`], which is never written).
    pub fn as_str(&self) -> Option<&'static str> {
        match self {
            Setup::Active => Some("active"),
            Setup::Passive => Some("passive"),
            Setup::ActPass => Some("actpass"),
            Setup::HoldConn => Some("holdconn"),
            Setup::Other => None,
        }
    }
}

/// The direction attributes (RFC 8866 §6.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// `a=sendrecv` (also the meaning of no attribute).
    SendRecv,
    /// `a=sendonly`.
    SendOnly,
    /// `a=recvonly`.
    RecvOnly,
    /// `a=inactive`.
    Inactive,
}

impl Direction {
    /// Reads a direction attribute name.
    pub fn parse(name: &str) -> Option<Direction> {
        Some(match name {
            "sendrecv" => Direction::SendRecv,
            "sendonly" => Direction::SendOnly,
            "recvonly" => Direction::RecvOnly,
            "inactive" => Direction::Inactive,
            _ => return None,
        })
    }

    /// The attribute name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// The direction an answer takes for this offered one (RFC 3264 §6.1): send and receive swap.
    pub fn reversed(&self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            other => *other,
        }
    }

    /// True when an answer with direction `answer` is allowed for this offered direction
    /// (RFC 3264 §6.1: sendrecv allows any; sendonly/recvonly allow their reverse or inactive;
    /// inactive allows only inactive).
    pub fn accepts_answer(&self, answer: Direction) -> bool {
        match self {
            Direction::SendRecv => true,
            Direction::Inactive => answer == Direction::Inactive,
            _ => answer == Direction::Inactive || answer == self.reversed(),
        }
    }
}

/// `hash:<algorithm>:<hex bytes separated by colons>` in a file selector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hash<'a> {
    /// The algorithm (`sha-1`).
    pub algorithm: &'a str,
    /// The value as written (`72:24:5F:...`).
    pub value: &'a str,
}

impl Hash<'_> {
    /// The hash bytes decoded into `out`; `None` when the value is not colon-separated hex pairs or
    /// does not fit.
    pub fn bytes<'o>(&self, out: &'o mut [u8]) -> Option<&'o [u8]> {
        let mut n = 0;
        for pair in self.value.split(':') {
            let b = u8::from_str_radix(pair, 16).ok().filter(|_| pair.len() == 2)?;
            *out.get_mut(n)? = b;
            n += 1;
        }
        out.get(..n)
    }
}

/// `a=file-selector` (RFC 5547 §6): the file's name, type, size and hash, each optional.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FileSelector<'a> {
    /// `name:"..."`: between the quotes, still percent-encoded.
    pub name: Option<&'a str>,
    /// `type:type/subtype[;param="v"]`.
    pub media_type: Option<&'a str>,
    /// `size:` in octets.
    pub size: Option<u64>,
    /// `hash:algorithm:value`.
    pub hash: Option<Hash<'a>>,
}

/// Splits on spaces outside double quotes.
fn quoted_words(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = value;
    core::iter::from_fn(move || {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            return None;
        }
        let mut in_quotes = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == ' ' && !in_quotes
            })
            .map_or(rest.len(), |(i, _)| i);
        let word = rest.get(..end).unwrap_or("");
        rest = rest.get(end..).unwrap_or("");
        Some(word)
    })
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s)
}

impl<'a> FileSelector<'a> {
    /// Reads a selector value; unknown selectors are skipped.
    pub fn parse(value: &'a str) -> FileSelector<'a> {
        let mut sel = FileSelector::default();
        for word in quoted_words(value) {
            if let Some(v) = word.strip_prefix("name:") {
                sel.name = Some(unquote(v));
            } else if let Some(v) = word.strip_prefix("type:") {
                sel.media_type = Some(v);
            } else if let Some(v) = word.strip_prefix("size:") {
                sel.size = v.parse().ok();
            } else if let Some(v) = word.strip_prefix("hash:") {
                sel.hash = v
                    .split_once(':')
                    .map(|(algorithm, value)| Hash { algorithm, value });
            }
        }
        sel
    }

    /// True when no selector is present (the bare `a=file-selector` of a capability indication).
    pub fn is_empty(&self) -> bool {
        *self == FileSelector::default()
    }
}

/// `a=file-date` (RFC 5547 §6): dates as written between the quotes (RFC 5322 date-time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FileDate<'a> {
    /// `creation:"..."`.
    pub creation: Option<&'a str>,
    /// `modification:"..."`.
    pub modification: Option<&'a str>,
    /// `read:"..."`.
    pub read: Option<&'a str>,
}

impl<'a> FileDate<'a> {
    /// Reads a `file-date` value.
    pub fn parse(value: &'a str) -> FileDate<'a> {
        let mut d = FileDate::default();
        for word in quoted_words(value) {
            if let Some((k, v)) = word.split_once(':') {
                let v = Some(unquote(v));
                match k {
                    "creation" => d.creation = v,
                    "modification" => d.modification = v,
                    "read" => d.read = v,
                    _ => {}
                }
            }
        }
        d
    }
}

/// `a=file-range:<start>-<stop|*>` (RFC 5547 §6), 1-based octet positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FileRange {
    /// First octet.
    pub start: u64,
    /// Last octet, `None` for `*` (to the end).
    pub stop: Option<u64>,
}

impl FileRange {
    /// Reads a `file-range` value.
    pub fn parse(value: &str) -> Option<FileRange> {
        let (a, b) = value.trim_ws().split_once('-')?;
        let start = a.parse().ok()?;
        let stop = if b == "*" { None } else { Some(b.parse().ok()?) };
        Some(FileRange { start, stop })
    }
}

/// The `type/subtype` part of a format entry, parameters dropped.
fn essence(entry: &str) -> &str {
    entry.split(';').next().unwrap_or("").trim_ws()
}

/// True when format entry `pattern` covers media type `candidate` (RFC 4975 §8.6): `*` covers all,
/// `type/*` covers every subtype of `type`, otherwise the types must be equal (case-insensitive;
/// parameters ignored). Either side may be the wildcard.
pub fn media_type_matches(pattern: &str, candidate: &str) -> bool {
    let (p, c) = (essence(pattern), essence(candidate));
    if p == "*" || c == "*" {
        return true;
    }
    let (Some((pt, ps)), Some((ct, cs))) = (p.split_once('/'), c.split_once('/')) else {
        return false;
    };
    pt.eq_ignore_ascii_case(ct) && (ps == "*" || cs == "*" || ps.eq_ignore_ascii_case(cs))
}

/// Of two matching entries, the narrower one (the one to put in an answer).
pub(crate) fn narrower<'x>(a: &'x str, b: &'x str) -> &'x str {
    let rank = |e: &str| match essence(e) {
        "*" => 0,
        s if s.ends_with("/*") => 1,
        _ => 2,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_with_quoted_name_and_hash() {
        let s = FileSelector::parse(
            r#"name:"My cool picture.jpg" type:image/jpeg size:32349 hash:sha-1:72:24:5F"#,
        );
        assert_eq!(s.name, Some("My cool picture.jpg"));
        assert_eq!(s.media_type, Some("image/jpeg"));
        assert_eq!(s.size, Some(32349));
        let h = s.hash.unwrap();
        assert_eq!(h.algorithm, "sha-1");
        let mut out = [0u8; 20];
        assert_eq!(h.bytes(&mut out), Some(&[0x72, 0x24, 0x5f][..]));
        assert!(FileSelector::parse("").is_empty());
    }

    #[test]
    fn wildcards_match() {
        assert!(media_type_matches("*", "text/plain"));
        assert!(media_type_matches("text/*", "TEXT/html"));
        assert!(media_type_matches("text/plain;charset=utf-8", "text/plain"));
        assert!(!media_type_matches("text/*", "message/cpim"));
        assert!(!media_type_matches("text/plain", "text/html"));
        assert!(!media_type_matches("garbage", "text/plain"));
        assert_eq!(narrower("text/*", "text/plain"), "text/plain");
        assert_eq!(narrower("message/cpim", "*"), "message/cpim");
    }

    #[test]
    fn ranges_and_dates() {
        assert_eq!(
            FileRange::parse("1-32349"),
            Some(FileRange {
                start: 1,
                stop: Some(32349)
            })
        );
        assert_eq!(
            FileRange::parse("10-*"),
            Some(FileRange {
                start: 10,
                stop: None
            })
        );
        assert_eq!(FileRange::parse("x-1"), None);
        let d = FileDate::parse(r#"creation:"Mon, 15 May 2006 15:01:31 +0300" read:"x""#);
        assert_eq!(d.creation, Some("Mon, 15 May 2006 15:01:31 +0300"));
        assert_eq!(d.read, Some("x"));
    }

    #[test]
    fn direction_answers() {
        assert!(Direction::SendOnly.accepts_answer(Direction::RecvOnly));
        assert!(!Direction::SendOnly.accepts_answer(Direction::SendOnly));
        assert!(Direction::SendRecv.accepts_answer(Direction::SendRecv));
        assert!(Direction::SendRecv.accepts_answer(Direction::RecvOnly));
        assert!(Direction::RecvOnly.accepts_answer(Direction::Inactive));
        assert!(!Direction::Inactive.accepts_answer(Direction::SendRecv));
    }
}
