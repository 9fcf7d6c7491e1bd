//! Resource lists (RFC 4826 §3) with copy control (RFC 5364): reading the recipient list of a
//! URI-list MESSAGE (RFC 5365), and writing the `recipient-list-history` each copy carries.
//!
//! ## Reading
//!
//! [`entries`] walks a `<resource-lists>` document and yields every `<entry>` of every `<list>`
//! (nested lists included, in document order) with its `uri`, `cp:copyControl` (`to` when absent,
//! RFC 5364 §4), `cp:anonymize` and `cp:count` attributes. Reference entries (`<entry-ref>`,
//! `<external>`) would need an XCAP fetch; they are reported as
//! [`ResourceListError::UnsupportedReference`] so the server can say so instead of silently skipping
//! recipients.
//!
//! ## Writing the history (RFC 5365 §4.1, RFC 5364 §4)
//!
//! [`write_history`] rewrites a recipient list into what every recipient may see: `to` entries, then
//! one `sip:anonymous@anonymous.invalid` entry with `cp:count` for the anonymised `to` entries, then
//! the same for `cc`; `bcc` entries are left out entirely.

use crate::ascii_trim::TrimAsciiWs;
use core::fmt;

use crate::write::{BufferTooSmall, ByteWriter};
use crate::xml::{self, Event, Reader, XmlText};

/// The namespace of resource lists.
pub const RESOURCE_LISTS_NS: &str = "urn:ietf:params:xml:ns:resource-lists";
/// The namespace of the copy-control attributes (RFC 5364).
pub const COPY_CONTROL_NS: &str = "urn:ietf:params:xml:ns:copycontrol";
/// The URI standing for anonymised recipients in a history (RFC 5364 §4).
pub const ANONYMOUS_URI: &str = "sip:anonymous@anonymous.invalid";

/// Which header a recipient would be listed in (RFC 5364 §4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CopyControl {
    /// A primary recipient.
    To,
    /// A carbon-copy recipient.
    Cc,
    /// A blind carbon-copy recipient: never shown to the others.
    Bcc,
}

impl CopyControl {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            CopyControl::To => "to",
            CopyControl::Cc => "cc",
            CopyControl::Bcc => "bcc",
        }
    }
}

/// One recipient of the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// The recipient's URI, as written in the document.
    pub uri: XmlText<'a>,
    /// To, cc or bcc.
    pub copy_control: CopyControl,
    /// Whether the sender asked that this recipient be hidden from the others.
    pub anonymize: bool,
    /// How many recipients an anonymous history entry stands for (`cp:count`).
    pub count: Option<u32>,
}

/// Why a recipient list cannot be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ResourceListError {
    /// The document is not well-formed XML.
    Xml(xml::Error),
    /// The root element is not `<resource-lists>` in the RFC 4826 namespace.
    NotResourceLists,
    /// An `<entry>` without a `uri` attribute (byte offset of the entry).
    MissingUri(usize),
    /// `cp:copyControl` is not `to`, `cc` or `bcc` (byte offset of the entry).
    BadCopyControl(usize),
    /// `cp:anonymize` is not a boolean, or `cp:count` not a number (byte offset of the entry).
    BadAttribute(usize),
    /// An `<entry-ref>` or `<external>` (byte offset): references to other documents are not fetched.
    UnsupportedReference(usize),
}

impl From<xml::Error> for ResourceListError {
    fn from(e: xml::Error) -> Self {
        ResourceListError::Xml(e)
    }
}

impl fmt::Display for ResourceListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResourceListError::Xml(e) => write!(f, "the recipient list is not well-formed: {e}"),
            ResourceListError::NotResourceLists => {
                write!(f, "the recipient list's root is not <resource-lists> ({RESOURCE_LISTS_NS})")
            }
            ResourceListError::MissingUri(at) => write!(f, "the <entry> at byte {at} has no uri attribute"),
            ResourceListError::BadCopyControl(at) => {
                write!(f, "the <entry> at byte {at} has a copyControl other than to, cc or bcc")
            }
            ResourceListError::BadAttribute(at) => {
                write!(f, "the <entry> at byte {at} has an anonymize or count value that is not valid")
            }
            ResourceListError::UnsupportedReference(at) => write!(
                f,
                "the list refers to another document at byte {at} (entry-ref/external); list the URIs themselves"
            ),
        }
    }
}

/// The entries of a resource-lists document; see [`entries`].
#[derive(Debug)]
pub struct Entries<'a> {
    reader: Reader<'a>,
    started: bool,
    failed: bool,
}

/// Every `<entry>` of `document`, in document order.
pub fn entries(document: &[u8]) -> Entries<'_> {
    Entries {
        reader: Reader::new(document),
        started: false,
        failed: false,
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim_ws() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

impl<'a> Entries<'a> {
    fn step(&mut self) -> Result<Option<Entry<'a>>, ResourceListError> {
        loop {
            let Some(event) = self.reader.next_event()? else {
                return Ok(None);
            };
            let Event::Start(start) = event else { continue };
            if !self.started {
                if !start.is(RESOURCE_LISTS_NS, "resource-lists") {
                    return Err(ResourceListError::NotResourceLists);
                }
                self.started = true;
                continue;
            }
            if start.namespace != Some(RESOURCE_LISTS_NS) {
                continue;
            }
            match start.name.local {
                "entry-ref" | "external" => {
                    return Err(ResourceListError::UnsupportedReference(start.offset()))
                }
                "entry" => {}
                _ => continue,
            }
            let at = start.offset();
            let uri = start.attribute("uri").ok_or(ResourceListError::MissingUri(at))?;
            let uri = XmlText::escaped(uri).map_err(|_| ResourceListError::BadAttribute(at))?;
            let mut entry = Entry {
                uri,
                copy_control: CopyControl::To,
                anonymize: false,
                count: None,
            };
            for attribute in start.attributes() {
                if attribute.name.prefix.is_none()
                    || self.reader.resolve(attribute.name.prefix) != Some(COPY_CONTROL_NS)
                {
                    continue;
                }
                let value = attribute.raw_value.trim_ws();
                match attribute.name.local {
                    "copyControl" => {
                        entry.copy_control = match value {
                            "to" => CopyControl::To,
                            "cc" => CopyControl::Cc,
                            "bcc" => CopyControl::Bcc,
                            _ => return Err(ResourceListError::BadCopyControl(at)),
                        }
                    }
                    "anonymize" => {
                        entry.anonymize = parse_bool(value).ok_or(ResourceListError::BadAttribute(at))?
                    }
                    "count" => {
                        entry.count = Some(value.parse().map_err(|_| ResourceListError::BadAttribute(at))?)
                    }
                    _ => {}
                }
            }
            if !start.is_empty() {
                // <display-name> and extensions: nothing a URI-list service needs.
                self.reader.skip_element()?;
            }
            return Ok(Some(entry));
        }
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, ResourceListError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let result = self.step().transpose();
        if matches!(result, Some(Err(_)) | None) {
            self.failed = true;
        }
        result
    }
}

/// Why a history could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum HistoryError {
    /// The recipient list itself is invalid.
    List(ResourceListError),
    /// The output buffer is too small.
    BufferTooSmall,
}

impl From<BufferTooSmall> for HistoryError {
    fn from(_: BufferTooSmall) -> Self {
        HistoryError::BufferTooSmall
    }
}

impl From<ResourceListError> for HistoryError {
    fn from(e: ResourceListError) -> Self {
        HistoryError::List(e)
    }
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HistoryError::List(e) => write!(f, "{e}"),
            HistoryError::BufferTooSmall => {
                write!(f, "the buffer is too small for the recipient-list history")
            }
        }
    }
}

/// Writes the `recipient-list-history` document for the recipient list `list` into `out` (see the
/// module docs) and returns its length. `Ok(0)` means there is nothing to show (every recipient is
/// bcc), so no history part should be sent.
pub fn write_history(list: &[u8], out: &mut [u8]) -> Result<usize, HistoryError> {
    let mut anonymous = [0u32; 2];
    let mut shown = 0u32;
    for entry in entries(list) {
        let entry = entry?;
        let slot = match entry.copy_control {
            CopyControl::To => 0,
            CopyControl::Cc => 1,
            CopyControl::Bcc => continue,
        };
        if entry.anonymize {
            if let Some(n) = anonymous.get_mut(slot) {
                *n = n.saturating_add(1);
            }
        } else {
            shown = shown.saturating_add(1);
        }
    }
    if shown == 0 && anonymous == [0, 0] {
        return Ok(0);
    }
    let mut w = ByteWriter::new(out);
    w.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n")?;
    w.push_fmt(format_args!(
        "<resource-lists xmlns=\"{RESOURCE_LISTS_NS}\" xmlns:cp=\"{COPY_CONTROL_NS}\">\r\n  <list>\r\n"
    ))?;
    for (slot, kind) in [CopyControl::To, CopyControl::Cc].into_iter().enumerate() {
        for entry in entries(list) {
            let entry = entry?;
            if entry.copy_control != kind || entry.anonymize {
                continue;
            }
            w.push_str("    <entry uri=\"")?;
            entry.uri.write_attribute_value(&mut w)?;
            w.push_fmt(format_args!("\" cp:copyControl=\"{}\"/>\r\n", kind.as_str()))?;
        }
        let hidden = anonymous.get(slot).copied().unwrap_or(0);
        if hidden > 0 {
            w.push_fmt(format_args!(
                "    <entry uri=\"{ANONYMOUS_URI}\" cp:copyControl=\"{}\" cp:count=\"{hidden}\"/>\r\n",
                kind.as_str()
            ))?;
        }
    }
    w.push_str("  </list>\r\n</resource-lists>\r\n")?;
    Ok(w.len())
}
