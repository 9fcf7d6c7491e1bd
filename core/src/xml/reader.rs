//! The pull reader: see the module docs of [`crate::xml`].

use super::declaration;
use super::entity::{is_xml_char, reference};
use super::event::{is_space, EndElement, Error, ErrorKind, Event, QName, StartElement, Text};
use super::{DEFAULT_MAX_DEPTH, DEFAULT_MAX_NAMESPACES, MAX_ATTRIBUTES, XML_NS};

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || (c as u32) >= 0xC0
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.' || c == '\u{B7}'
}

/// Length of the name at the start of `s` (0 when there is none).
fn name_len(s: &str) -> usize {
    let mut chars = s.char_indices();
    match chars.next() {
        Some((_, c)) if is_name_start(c) => {}
        _ => return 0,
    }
    chars.find(|(_, c)| !is_name_char(*c)).map_or(s.len(), |(i, _)| i)
}

/// A valid qualified name has at most one colon, not first or last.
fn valid_qname(name: &str) -> bool {
    match name.split_once(':') {
        None => !name.is_empty(),
        Some((p, l)) => !p.is_empty() && !l.is_empty() && !l.contains(':') && name_len(l) == l.len(),
    }
}

#[derive(Clone, Copy, Debug)]
struct NsBinding<'a> {
    prefix: Option<&'a str>,
    uri: &'a str,
    depth: usize,
}

/// The pull reader. `MAX_DEPTH` bounds nesting, `MAX_NS` the namespace declarations in scope.
#[derive(Debug)]
pub struct Reader<
    'a,
    const MAX_DEPTH: usize = DEFAULT_MAX_DEPTH,
    const MAX_NS: usize = DEFAULT_MAX_NAMESPACES,
> {
    src: &'a str,
    pos: usize,
    open: heapless::Vec<&'a str, MAX_DEPTH>,
    ns: heapless::Vec<NsBinding<'a>, MAX_NS>,
    pending_end: bool,
    root_seen: bool,
    failed: Option<Error>,
}

impl<'a, const MAX_DEPTH: usize, const MAX_NS: usize> Reader<'a, MAX_DEPTH, MAX_NS> {
    /// A reader over `input` (a UTF-8 byte order mark is skipped).
    pub fn new(input: &'a [u8]) -> Self {
        let (src, failed) = match core::str::from_utf8(input) {
            Ok(s) => (s, None),
            Err(e) => (
                "",
                Some(Error {
                    kind: ErrorKind::NotUtf8,
                    offset: e.valid_up_to(),
                }),
            ),
        };
        let pos = if src.starts_with('\u{FEFF}') { 3 } else { 0 };
        Reader {
            src,
            pos,
            open: heapless::Vec::new(),
            ns: heapless::Vec::new(),
            pending_end: false,
            root_seen: false,
            failed,
        }
    }

    /// Byte offset of the next unread input.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// Number of open elements.
    pub fn depth(&self) -> usize {
        self.open.len()
    }

    /// The namespace bound to `prefix` (`None`: the default namespace) in the current scope.
    pub fn resolve(&self, prefix: Option<&str>) -> Option<&'a str> {
        if prefix == Some("xml") {
            return Some(XML_NS);
        }
        self.ns
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map(|b| b.uri)
            .filter(|u| !u.is_empty())
    }

    /// The next event, `Ok(None)` after the end of a well-formed document. After an error every call
    /// returns that error again.
    pub fn next_event(&mut self) -> Result<Option<Event<'a>>, Error> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.step();
        if let Err(e) = r {
            self.failed = Some(e);
        }
        r
    }

    /// Skips the rest of the element whose start tag was just returned, up to and including its end.
    pub fn skip_element(&mut self) -> Result<(), Error> {
        let target = self.open.len().saturating_sub(1);
        loop {
            match self.next_event()? {
                Some(Event::End(_)) if self.open.len() == target => return Ok(()),
                Some(_) => {}
                None => return Ok(()),
            }
        }
    }

    fn err(&self, kind: ErrorKind, offset: usize) -> Error {
        Error { kind, offset }
    }

    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn step(&mut self) -> Result<Option<Event<'a>>, Error> {
        if self.pending_end {
            self.pending_end = false;
            return Ok(Some(self.close_element()));
        }
        loop {
            let rest = self.rest();
            let start = self.pos;
            if rest.is_empty() {
                if !self.open.is_empty() {
                    return Err(self.err(ErrorKind::UnexpectedEof, start));
                }
                if !self.root_seen {
                    return Err(self.err(ErrorKind::NoRootElement, start));
                }
                return Ok(None);
            }
            if !rest.starts_with('<') {
                let len = crate::substring::memchr(b'<', rest.as_bytes()).unwrap_or(rest.len());
                let raw = rest.get(..len).unwrap_or("");
                self.check_text(raw, start)?;
                self.pos = start + len;
                if self.open.is_empty() {
                    if !raw.chars().all(is_space) {
                        return Err(self.err(ErrorKind::ContentOutsideRoot, start));
                    }
                    continue;
                }
                return Ok(Some(Event::Text(Text { raw })));
            }
            let event = if rest.starts_with("<?") {
                self.processing_instruction(rest, start)?
            } else if rest.starts_with("<!--") {
                self.comment(rest, start)?
            } else if rest.starts_with("<![CDATA[") {
                if self.open.is_empty() {
                    return Err(self.err(ErrorKind::ContentOutsideRoot, start));
                }
                let body = rest.get(9..).unwrap_or("");
                let end = crate::substring::find_str(body, "]]>")
                    .ok_or(self.err(ErrorKind::UnexpectedEof, start))?;
                let data = body.get(..end).unwrap_or("");
                self.check_chars(data, start + 9)?;
                self.pos = start + 9 + end + 3;
                Event::CData(data)
            } else if rest.starts_with("<!DOCTYPE") {
                return Err(self.err(ErrorKind::DoctypeNotSupported, start));
            } else if rest.starts_with("</") {
                self.end_tag(rest, start)?
            } else if rest.starts_with("<!") {
                return Err(self.err(ErrorKind::MalformedMarkup, start));
            } else {
                self.start_tag(rest, start)?
            };
            return Ok(Some(event));
        }
    }

    fn check_chars(&self, s: &str, offset: usize) -> Result<(), Error> {
        match s.char_indices().find(|(_, c)| !is_xml_char(*c)) {
            Some((i, _)) => Err(self.err(ErrorKind::InvalidCharacter, offset + i)),
            None => Ok(()),
        }
    }

    /// Checks character data or an attribute value: allowed characters and valid references.
    fn check_text(&self, s: &str, offset: usize) -> Result<(), Error> {
        self.check_chars(s, offset)?;
        if let Some(i) = crate::substring::find_str(s, "]]>") {
            return Err(self.err(ErrorKind::InvalidCharacter, offset + i));
        }
        let mut from = 0;
        while let Some(rel) = crate::substring::memchr(b'&', s.as_bytes().get(from..).unwrap_or(&[])) {
            let at = from + rel;
            let (_, len) = s
                .get(at..)
                .and_then(reference)
                .ok_or(self.err(ErrorKind::InvalidReference, offset + at))?;
            from = at + len;
        }
        Ok(())
    }

    fn processing_instruction(&mut self, rest: &'a str, start: usize) -> Result<Event<'a>, Error> {
        let body = rest.get(2..).unwrap_or("");
        let end = crate::substring::find_str(body, "?>").ok_or(self.err(ErrorKind::UnexpectedEof, start))?;
        let inner = body.get(..end).unwrap_or("");
        let target_len = name_len(inner);
        if target_len == 0 {
            return Err(self.err(ErrorKind::InvalidName, start + 2));
        }
        let target = inner.get(..target_len).unwrap_or("");
        let data = inner.get(target_len..).unwrap_or("");
        if !data.is_empty() && !data.starts_with(is_space) {
            return Err(self.err(ErrorKind::MalformedMarkup, start + 2 + target_len));
        }
        self.check_chars(data, start + 2 + target_len)?;
        self.pos = start + 2 + end + 2;
        if target.eq_ignore_ascii_case("xml") {
            let at_start = start == 0 || (start == 3 && self.src.starts_with('\u{FEFF}'));
            if !at_start || target != "xml" {
                return Err(self.err(ErrorKind::MisplacedDeclaration, start));
            }
            return self.declaration(data, start);
        }
        Ok(Event::ProcessingInstruction {
            target,
            data: crate::ascii_trim::trim(data, crate::ascii_trim::is_xml_space),
        })
    }

    fn declaration(&self, data: &'a str, start: usize) -> Result<Event<'a>, Error> {
        // `data` follows `<?xml`.
        declaration::parse(data)
            .map(Event::Declaration)
            .map_err(|(kind, at)| self.err(ErrorKind::MalformedDeclaration(kind), start + 5 + at))
    }

    fn comment(&mut self, rest: &'a str, start: usize) -> Result<Event<'a>, Error> {
        let body = rest.get(4..).unwrap_or("");
        let end = crate::substring::find_str(body, "--").ok_or(self.err(ErrorKind::UnexpectedEof, start))?;
        if body.get(end..end + 3) != Some("-->") {
            return Err(self.err(ErrorKind::DoubleHyphenInComment, start + 4 + end));
        }
        let text = body.get(..end).unwrap_or("");
        self.check_chars(text, start + 4)?;
        self.pos = start + 4 + end + 3;
        Ok(Event::Comment(text))
    }

    fn end_tag(&mut self, rest: &'a str, start: usize) -> Result<Event<'a>, Error> {
        let body = rest.get(2..).unwrap_or("");
        let len = name_len(body);
        let name = body.get(..len).unwrap_or("");
        if len == 0 {
            return Err(self.err(ErrorKind::InvalidName, start + 2));
        }
        let after = body.get(len..).unwrap_or("");
        let trimmed = crate::ascii_trim::trim_start(after, crate::ascii_trim::is_xml_space);
        if !trimmed.starts_with('>') {
            let kind = if trimmed.is_empty() {
                ErrorKind::UnexpectedEof
            } else {
                ErrorKind::MalformedMarkup
            };
            return Err(self.err(kind, start + 2 + len));
        }
        match self.open.last() {
            None => return Err(self.err(ErrorKind::UnexpectedEndTag, start)),
            Some(open) if *open != name => return Err(self.err(ErrorKind::MismatchedEndTag, start)),
            Some(_) => {}
        }
        self.pos = start + 2 + len + (after.len() - trimmed.len()) + 1;
        Ok(self.close_element())
    }

    /// Pops the innermost element and its namespace declarations.
    fn close_element(&mut self) -> Event<'a> {
        let name = QName::split(self.open.pop().unwrap_or(""));
        let namespace = self.resolve(name.prefix);
        let depth = self.open.len();
        while self.ns.last().is_some_and(|b| b.depth > depth) {
            self.ns.pop();
        }
        Event::End(EndElement { name, namespace })
    }

    fn start_tag(&mut self, rest: &'a str, start: usize) -> Result<Event<'a>, Error> {
        let body = rest.get(1..).unwrap_or("");
        let len = name_len(body);
        let name = body.get(..len).unwrap_or("");
        if len == 0 || !valid_qname(name) {
            return Err(self.err(ErrorKind::InvalidName, start + 1));
        }
        if self.open.is_empty() && self.root_seen {
            return Err(self.err(ErrorKind::ContentOutsideRoot, start));
        }
        // Scan the attributes: syntax, uniqueness, references; remember where the tag ends. Namespace
        // declarations are bound during the same scan (one pass over the attributes, not three); a
        // binding that does not fit is reported after the scan and the depth check, as before.
        let mut names: heapless::Vec<&'a str, MAX_ATTRIBUTES> = heapless::Vec::new();
        let depth = self.open.len() + 1;
        let mut namespaces_overflow = false;
        let attrs_start = 1 + len;
        let mut i = attrs_start;
        let (attrs_end, empty, tag_end) = loop {
            let at = rest.get(i..).unwrap_or("");
            let trimmed = crate::ascii_trim::trim_start(at, crate::ascii_trim::is_xml_space);
            let skipped = at.len() - trimmed.len();
            if trimmed.starts_with('>') {
                break (i, false, i + skipped + 1);
            }
            if trimmed.starts_with("/>") {
                break (i, true, i + skipped + 2);
            }
            if trimmed.is_empty() {
                return Err(self.err(ErrorKind::UnexpectedEof, start + i));
            }
            if skipped == 0 {
                return Err(self.err(ErrorKind::MalformedAttribute, start + i));
            }
            i += skipped;
            let name_at = i;
            let alen = name_len(trimmed);
            let aname = trimmed.get(..alen).unwrap_or("");
            if alen == 0 || !valid_qname(aname) {
                return Err(self.err(ErrorKind::InvalidName, start + i));
            }
            if names.contains(&aname) {
                return Err(self.err(ErrorKind::DuplicateAttribute, start + name_at));
            }
            names
                .push(aname)
                .map_err(|_| self.err(ErrorKind::TooManyAttributes, start + name_at))?;
            i += alen;
            let at = rest.get(i..).unwrap_or("");
            let t = crate::ascii_trim::trim_start(at, crate::ascii_trim::is_xml_space);
            let Some(t) = t.strip_prefix('=') else {
                return Err(self.err(ErrorKind::MalformedAttribute, start + i));
            };
            i += at.len() - t.len();
            let t2 = crate::ascii_trim::trim_start(t, crate::ascii_trim::is_xml_space);
            i += t.len() - t2.len();
            let quote = match t2.as_bytes().first() {
                Some(&q @ (b'"' | b'\'')) => q,
                Some(_) => return Err(self.err(ErrorKind::MalformedAttribute, start + i)),
                None => return Err(self.err(ErrorKind::UnexpectedEof, start + i)),
            };
            let value_area = t2.get(1..).unwrap_or("");
            let close = crate::substring::memchr(quote, value_area.as_bytes())
                .ok_or(self.err(ErrorKind::UnexpectedEof, start + i))?;
            let value = value_area.get(..close).unwrap_or("");
            if let Some(lt) = crate::substring::memchr(b'<', value.as_bytes()) {
                return Err(self.err(ErrorKind::MalformedAttribute, start + i + 1 + lt));
            }
            self.check_text(value, start + i + 1)?;
            let declared = match QName::split(aname) {
                QName {
                    prefix: Some("xmlns"),
                    local,
                } => Some(Some(local)),
                QName {
                    prefix: None,
                    local: "xmlns",
                } => Some(None),
                _ => None,
            };
            if let Some(prefix) = declared {
                let binding = NsBinding {
                    prefix,
                    uri: value,
                    depth,
                };
                namespaces_overflow |= self.ns.push(binding).is_err();
            }
            i += 1 + close + 1;
        };
        let attrs = rest.get(attrs_start..attrs_end).unwrap_or("");
        self.open
            .push(name)
            .map_err(|_| self.err(ErrorKind::TooDeep, start))?;
        self.root_seen = true;
        if namespaces_overflow {
            return Err(self.err(ErrorKind::TooManyNamespaces, start));
        }
        let qname = QName::split(name);
        let namespace = self.resolve(qname.prefix);
        if qname.prefix.is_some() && namespace.is_none() {
            return Err(self.err(ErrorKind::UnboundPrefix, start + 1));
        }
        for attribute in &names {
            if let Some(p) = QName::split(attribute).prefix {
                if p != "xmlns" && self.resolve(Some(p)).is_none() {
                    return Err(self.err(ErrorKind::UnboundPrefix, start));
                }
            }
        }
        self.pos = start + tag_end;
        self.pending_end = empty;
        Ok(Event::Start(StartElement {
            name: qname,
            namespace,
            attrs,
            empty,
            offset: start,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::DeclarationError;

    fn error_of(doc: &str) -> Error {
        let mut r: Reader<'_> = Reader::new(doc.as_bytes());
        loop {
            match r.next_event() {
                Err(e) => return e,
                Ok(None) => panic!("{doc:?} was accepted"),
                Ok(Some(_)) => {}
            }
        }
    }

    #[test]
    fn well_formedness_errors_carry_kind_and_offset() {
        let cases: &[(&str, ErrorKind, usize)] = &[
            ("<a></b>", ErrorKind::MismatchedEndTag, 3),
            ("<a>", ErrorKind::UnexpectedEof, 3),
            ("", ErrorKind::NoRootElement, 0),
            ("<a/><b/>", ErrorKind::ContentOutsideRoot, 4),
            ("<a/>x", ErrorKind::ContentOutsideRoot, 4),
            ("<a x='1' x='2'/>", ErrorKind::DuplicateAttribute, 9),
            ("<a x=1/>", ErrorKind::MalformedAttribute, 5),
            ("<a x='<'/>", ErrorKind::MalformedAttribute, 6),
            ("<a>&foo;</a>", ErrorKind::InvalidReference, 3),
            ("<a><!-- a -- b --></a>", ErrorKind::DoubleHyphenInComment, 10),
            ("<a/><?xml version='1.0'?>", ErrorKind::MisplacedDeclaration, 4),
            ("<!DOCTYPE a><a/>", ErrorKind::DoctypeNotSupported, 0),
            ("<p:a/>", ErrorKind::UnboundPrefix, 1),
            ("<a p:x='1'/>", ErrorKind::UnboundPrefix, 0),
            ("</a>", ErrorKind::UnexpectedEndTag, 0),
            ("<1a/>", ErrorKind::InvalidName, 1),
            ("<a>]]></a>", ErrorKind::InvalidCharacter, 3),
            ("<a>\u{1}</a>", ErrorKind::InvalidCharacter, 3),
            ("<a x='1'y='2'/>", ErrorKind::MalformedAttribute, 8),
            (
                "<?xml version=\"1.0ecipient-uri>\n<a>\" encoding=\"UTF-8\"?><a/>",
                ErrorKind::MalformedDeclaration(DeclarationError::InvalidVersion),
                15,
            ),
            (
                "<?xml version='1.0' foo='x'?><a/>",
                ErrorKind::MalformedDeclaration(DeclarationError::UnknownPseudoAttribute),
                20,
            ),
        ];
        for &(doc, kind, offset) in cases {
            assert_eq!(error_of(doc), Error { kind, offset }, "{doc:?}");
        }
    }

    #[test]
    fn depth_and_namespace_bounds_are_typed_errors() {
        let mut r: Reader<'_, 2, 1> = Reader::new(b"<a><b><c/></b></a>");
        let e = loop {
            if let Err(e) = r.next_event() {
                break e;
            }
        };
        assert_eq!(
            e,
            Error {
                kind: ErrorKind::TooDeep,
                offset: 6
            }
        );
        let mut r: Reader<'_, 4, 1> = Reader::new(b"<a xmlns='u'><b xmlns:p='v'/></a>");
        assert!(r.next_event().is_ok());
        assert_eq!(
            r.next_event(),
            Err(Error {
                kind: ErrorKind::TooManyNamespaces,
                offset: 13
            })
        );
        assert_eq!(
            r.next_event(),
            Err(Error {
                kind: ErrorKind::TooManyNamespaces,
                offset: 13
            })
        );
    }

    #[test]
    fn namespace_overflow_is_reported_after_the_attribute_scan_and_the_depth_check() {
        // The bindings are made while scanning; a later malformed attribute still wins.
        let mut r: Reader<'_, 4, 1> = Reader::new(b"<a xmlns='u' xmlns:p='v' x=1/>");
        assert_eq!(r.next_event().unwrap_err().kind, ErrorKind::MalformedAttribute);
        // Too deep is checked before too many namespaces.
        let mut r: Reader<'_, 1, 1> = Reader::new(b"<a><b xmlns='u' xmlns:p='v'/></a>");
        assert!(r.next_event().is_ok());
        assert_eq!(r.next_event().unwrap_err().kind, ErrorKind::TooDeep);
        // A prefixed attribute needs a binding, declared before or after it in the same tag.
        let mut r: Reader<'_> = Reader::new(b"<a p:x='1' xmlns:p='v'/>");
        assert!(r.next_event().is_ok());
        let mut r: Reader<'_> = Reader::new(b"<a q:x='1' xmlns:p='v'/>");
        assert_eq!(r.next_event().unwrap_err().kind, ErrorKind::UnboundPrefix);
    }

    #[test]
    fn namespaces_scope_to_their_element() {
        let doc = b"<r xmlns='d' xmlns:p='pp'><p:a xmlns:p='inner'/><p:b/><c xmlns=''/></r>";
        let mut r: Reader<'_> = Reader::new(doc);
        let mut seen = std::vec::Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            if let Event::Start(s) = ev {
                seen.push((s.name.local, s.namespace));
            }
        }
        assert_eq!(
            seen,
            [
                ("r", Some("d")),
                ("a", Some("inner")),
                ("b", Some("pp")),
                ("c", None)
            ]
        );
    }
}
