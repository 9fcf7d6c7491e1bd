//! Parameter lists (`;name=value;flag`) as a zero-copy iterator over the validated raw text.
//!
//! Typed parsers check the parameter syntax once and keep the raw run; iterating re-splits it on demand.
//! This needs no capacity at all, so there is no `MAX_PARAMS` limit: a header with 200 parameters costs
//! nothing more than its bytes (RFC 4475 longreq has parameter names of 100+ characters).

use super::lex::trim_lws;

/// A run of parameters, e.g. `;branch=z9hG4bK776;rport` (the leading `;` is optional).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Params<'a> {
    raw: &'a str,
}

/// One parameter: its name and its value as written (quoted values keep their quotes; see
/// [`Param::unquoted`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Param<'a> {
    /// Parameter name.
    pub name: &'a str,
    /// Value, `None` for a flag parameter such as `lr` or `rport`.
    pub value: Option<&'a str>,
}

impl<'a> Param<'a> {
    /// The value without surrounding double quotes (escapes inside are left as written).
    pub fn unquoted(&self) -> Option<&'a str> {
        self.value
            .map(|v| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v))
    }
}

impl<'a> Params<'a> {
    /// Wraps an already validated parameter run.
    pub const fn from_raw(raw: &'a str) -> Self {
        Params { raw }
    }

    /// The raw text, as written in the message.
    pub fn as_raw(&self) -> &'a str {
        self.raw
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Iterates over the parameters in order.
    pub fn iter(&self) -> ParamIter<'a> {
        ParamIter { rest: self.raw }
    }

    /// The first parameter called `name` (case-insensitive): `Some(None)` for a flag, `Some(Some(v))`
    /// for a valued one, `None` when absent.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.find(name).map(|p| p.value)
    }

    /// The first parameter called `name` (case-insensitive).
    pub fn find(&self, name: &str) -> Option<Param<'a>> {
        self.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Whether a parameter called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }
}

impl<'a> IntoIterator for Params<'a> {
    type Item = Param<'a>;
    type IntoIter = ParamIter<'a>;
    fn into_iter(self) -> ParamIter<'a> {
        self.iter()
    }
}

/// Iterator over [`Params`].
#[derive(Clone, Debug)]
pub struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = Param<'a>;

    fn next(&mut self) -> Option<Param<'a>> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let bytes = self.rest.as_bytes();
            let (mut quoted, mut i) = (false, 0);
            while let Some(&b) = bytes.get(i) {
                match b {
                    b'\\' if quoted => i += 1,
                    b'"' => quoted = !quoted,
                    b';' if !quoted => break,
                    _ => {}
                }
                i += 1;
            }
            let piece = self.rest.get(..i.min(self.rest.len())).unwrap_or("");
            self.rest = self.rest.get(i.saturating_add(1)..).unwrap_or("");
            let piece = trim_lws(piece);
            if piece.is_empty() {
                continue;
            }
            return Some(match piece.split_once('=') {
                Some((name, value)) => Param {
                    name: trim_lws(name),
                    value: Some(trim_lws(value)),
                },
                None => Param {
                    name: piece,
                    value: None,
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterates_flags_values_and_quoted_values() {
        let p = Params::from_raw(";\r\n  tag = 98asjd8 ; lr ;q=\"x;y\"");
        let mut it = p.iter();
        assert_eq!(
            it.next(),
            Some(Param {
                name: "tag",
                value: Some("98asjd8")
            })
        );
        assert_eq!(
            it.next(),
            Some(Param {
                name: "lr",
                value: None
            })
        );
        let q = it.next().unwrap();
        assert_eq!((q.value, q.unquoted()), (Some("\"x;y\""), Some("x;y")));
        assert_eq!(it.next(), None);
        assert_eq!(p.get("TAG"), Some(Some("98asjd8")));
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.get("maddr"), None);
    }
}
