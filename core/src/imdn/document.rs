//! `message/imdn+xml` documents (RFC 5438 §11): reading with validation, and writing.

use core::fmt;

use crate::write::{BufferTooSmall, ByteWriter};
use crate::xml::{self, Event, Reader};

/// The namespace of IMDN documents.
pub const IMDN_XML_NS: &str = "urn:ietf:params:xml:ns:imdn";

/// The disposition type a notification reports (§5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NotificationKind {
    /// `<delivery-notification>`.
    Delivery,
    /// `<display-notification>`.
    Display,
    /// `<processing-notification>` (intermediaries only).
    Processing,
}

impl NotificationKind {
    /// The element name.
    pub fn element(&self) -> &'static str {
        match self {
            NotificationKind::Delivery => "delivery-notification",
            NotificationKind::Display => "display-notification",
            NotificationKind::Processing => "processing-notification",
        }
    }

    fn from_element(local: &str) -> Option<NotificationKind> {
        match local {
            "delivery-notification" => Some(NotificationKind::Delivery),
            "display-notification" => Some(NotificationKind::Display),
            "processing-notification" => Some(NotificationKind::Processing),
            _ => None,
        }
    }
}

/// The content of `<status>` (§11.1.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status<'a> {
    /// `<delivered/>`.
    Delivered,
    /// `<failed/>`.
    Failed,
    /// `<forbidden/>`: the disposition was denied.
    Forbidden,
    /// `<error/>`: internal error.
    Error,
    /// `<displayed/>`.
    Displayed,
    /// `<processed/>`.
    Processed,
    /// `<stored/>`.
    Stored,
    /// A status extension element from another namespace: its local name. (Written back as an element of
    /// the IMDN namespace: extensions that need their own namespace need their own writer.)
    Extension(&'a str),
}

impl<'a> Status<'a> {
    /// The element name.
    pub fn element(&self) -> &'a str {
        match self {
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Forbidden => "forbidden",
            Status::Error => "error",
            Status::Displayed => "displayed",
            Status::Processed => "processed",
            Status::Stored => "stored",
            Status::Extension(name) => name,
        }
    }

    fn from_element(local: &str) -> Option<Status<'static>> {
        Some(match local {
            "delivered" => Status::Delivered,
            "failed" => Status::Failed,
            "forbidden" => Status::Forbidden,
            "error" => Status::Error,
            "displayed" => Status::Displayed,
            "processed" => Status::Processed,
            "stored" => Status::Stored,
            _ => return None,
        })
    }

    /// True when §11.1.7 allows this status in a notification of `kind` (extensions always are).
    pub fn allowed_in(&self, kind: NotificationKind) -> bool {
        use NotificationKind as K;
        match self {
            Status::Forbidden | Status::Error | Status::Extension(_) => true,
            Status::Delivered | Status::Failed => kind == K::Delivery,
            Status::Displayed => kind == K::Display,
            Status::Processed | Status::Stored => kind == K::Processing,
        }
    }
}

/// `<subject>` with its `xml:lang`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Subject<'a> {
    /// The subject text (raw XML text when parsed; plain text when building).
    pub text: &'a str,
    /// The `xml:lang` attribute.
    pub lang: Option<&'a str>,
}

/// An IMDN payload. When parsed, text fields are raw XML character data, trimmed: decode them with
/// [`xml::decode`] when [`xml::needs_decoding`] says so. When written, they are plain text and escaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Imdn<'a> {
    /// `<message-id>`: the Message-ID of the IM this notification is about.
    pub message_id: &'a str,
    /// `<datetime>`: the DateTime of that IM.
    pub datetime: &'a str,
    /// `<recipient-uri>`.
    pub recipient_uri: Option<&'a str>,
    /// `<original-recipient-uri>`.
    pub original_recipient_uri: Option<&'a str>,
    /// `<subject>`.
    pub subject: Option<Subject<'a>>,
    /// Which notification element is present.
    pub kind: NotificationKind,
    /// Its status.
    pub status: Status<'a>,
}

/// Why a document is not a valid IMDN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ImdnError {
    /// Not well-formed XML.
    Xml(xml::Error),
    /// The root element is not `<imdn>` in the IMDN namespace.
    WrongRoot,
    /// `<message-id>` is missing or empty.
    MissingMessageId,
    /// `<datetime>` is missing or empty.
    MissingDatetime,
    /// None of the three notification elements is present.
    MissingNotification,
    /// More than one notification element, or a repeated single element.
    DuplicateElement,
    /// The notification has no `<status>` or the status is empty.
    MissingStatus,
    /// A status §11.1.7 does not allow for this notification (e.g. `<displayed/>` in a delivery one).
    StatusNotAllowed,
}

impl fmt::Display for ImdnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImdnError::Xml(e) => write!(f, "IMDN: {e}"),
            ImdnError::WrongRoot => write!(f, "IMDN: root element must be <imdn xmlns=\"{IMDN_XML_NS}\">"),
            ImdnError::MissingMessageId => f.write_str("IMDN: required <message-id> is missing or empty"),
            ImdnError::MissingDatetime => f.write_str("IMDN: required <datetime> is missing or empty"),
            ImdnError::MissingNotification => {
                f.write_str("IMDN: one of <delivery-notification>, <display-notification>, <processing-notification> is required")
            }
            ImdnError::DuplicateElement => f.write_str("IMDN: an element that may appear once appears twice"),
            ImdnError::MissingStatus => f.write_str("IMDN: the notification needs a <status> with one status element"),
            ImdnError::StatusNotAllowed => f.write_str("IMDN: this status is not allowed for this notification type"),
        }
    }
}

impl From<xml::Error> for ImdnError {
    fn from(e: xml::Error) -> Self {
        ImdnError::Xml(e)
    }
}

/// The trimmed text content of the element whose start was just read (nested elements are skipped).
fn text_content<'a>(r: &mut Reader<'a>) -> Result<&'a str, ImdnError> {
    let mut text = "";
    loop {
        match r.next_event()? {
            Some(Event::Text(t)) if text.is_empty() => text = t.raw.trim(),
            Some(Event::CData(c)) if text.is_empty() => text = c.trim(),
            Some(Event::Start(_)) => r.skip_element()?,
            Some(Event::End(_)) | None => return Ok(text),
            Some(_) => {}
        }
    }
}

fn set_once<'a>(slot: &mut Option<&'a str>, value: &'a str) -> Result<(), ImdnError> {
    if slot.is_some() {
        return Err(ImdnError::DuplicateElement);
    }
    *slot = Some(value);
    Ok(())
}

/// Reads `<status>`'s single child; other content is ignored.
fn read_status<'a>(r: &mut Reader<'a>) -> Result<Option<Status<'a>>, ImdnError> {
    let mut status = None;
    loop {
        match r.next_event()? {
            Some(Event::Start(s)) => {
                let st = if s.namespace == Some(IMDN_XML_NS) {
                    Status::from_element(s.name.local)
                } else {
                    Some(Status::Extension(s.name.local))
                };
                r.skip_element()?;
                if status.is_none() {
                    status = st;
                }
            }
            Some(Event::End(_)) | None => return Ok(status),
            Some(_) => {}
        }
    }
}

impl<'a> Imdn<'a> {
    /// Reads and validates a `message/imdn+xml` document. Unknown elements (extensions) are skipped.
    pub fn parse(bytes: &'a [u8]) -> Result<Imdn<'a>, ImdnError> {
        let mut r: Reader<'a> = Reader::new(bytes);
        loop {
            match r.next_event()? {
                Some(Event::Start(root)) if root.is(IMDN_XML_NS, "imdn") => break,
                Some(Event::Start(_)) | None => return Err(ImdnError::WrongRoot),
                Some(_) => {}
            }
        }
        let (mut message_id, mut datetime, mut recipient, mut original) = (None, None, None, None);
        let mut subject = None;
        let mut notification: Option<(NotificationKind, Option<Status<'a>>)> = None;
        while let Some(ev) = r.next_event()? {
            let start = match ev {
                Event::Start(s) => s,
                Event::End(_) => break,
                _ => continue,
            };
            if start.namespace != Some(IMDN_XML_NS) {
                r.skip_element()?;
                continue;
            }
            match start.name.local {
                "message-id" => set_once(&mut message_id, text_content(&mut r)?)?,
                "datetime" => set_once(&mut datetime, text_content(&mut r)?)?,
                "recipient-uri" => set_once(&mut recipient, text_content(&mut r)?)?,
                "original-recipient-uri" => set_once(&mut original, text_content(&mut r)?)?,
                "subject" => {
                    let lang = start.attributes().find(|a| a.name.prefix == Some("xml") && a.name.local == "lang");
                    let text = text_content(&mut r)?;
                    if subject.replace(Subject { text, lang: lang.map(|a| a.raw_value) }).is_some() {
                        return Err(ImdnError::DuplicateElement);
                    }
                }
                local => match NotificationKind::from_element(local) {
                    Some(kind) => {
                        if notification.is_some() {
                            return Err(ImdnError::DuplicateElement);
                        }
                        let mut status = None;
                        while let Some(ev) = r.next_event()? {
                            match ev {
                                Event::Start(s) if s.is(IMDN_XML_NS, "status") => {
                                    if status.is_some() {
                                        return Err(ImdnError::DuplicateElement);
                                    }
                                    status = Some(read_status(&mut r)?.ok_or(ImdnError::MissingStatus)?);
                                }
                                Event::Start(_) => r.skip_element()?,
                                Event::End(_) => break,
                                _ => {}
                            }
                        }
                        notification = Some((kind, status));
                    }
                    None => r.skip_element()?,
                },
            }
        }
        // Drain to the end so trailing garbage is still reported as a well-formedness error.
        while r.next_event()?.is_some() {}
        let message_id = message_id.filter(|s| !s.is_empty()).ok_or(ImdnError::MissingMessageId)?;
        let datetime = datetime.filter(|s| !s.is_empty()).ok_or(ImdnError::MissingDatetime)?;
        let (kind, status) = notification.ok_or(ImdnError::MissingNotification)?;
        let status = status.ok_or(ImdnError::MissingStatus)?;
        if !status.allowed_in(kind) {
            return Err(ImdnError::StatusNotAllowed);
        }
        Ok(Imdn { message_id, datetime, recipient_uri: recipient, original_recipient_uri: original, subject, kind, status })
    }

    /// Writes the document (UTF-8, CRLF line ends) and returns its length.
    pub fn write_to(&self, w: &mut ByteWriter<'_>) -> Result<(), BufferTooSmall> {
        fn element(w: &mut ByteWriter<'_>, name: &str, text: &str) -> Result<(), BufferTooSmall> {
            w.push(b"  <")?;
            w.push_str(name)?;
            w.push_byte(b'>')?;
            w.push_xml_escaped(text)?;
            w.push(b"</")?;
            w.push_str(name)?;
            w.push(b">\r\n")
        }
        w.push(b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<imdn xmlns=\"")?;
        w.push_str(IMDN_XML_NS)?;
        w.push(b"\">\r\n")?;
        element(w, "message-id", self.message_id)?;
        element(w, "datetime", self.datetime)?;
        if let Some(uri) = self.recipient_uri {
            element(w, "recipient-uri", uri)?;
        }
        if let Some(uri) = self.original_recipient_uri {
            element(w, "original-recipient-uri", uri)?;
        }
        if let Some(s) = self.subject {
            w.push(b"  <subject")?;
            if let Some(lang) = s.lang {
                w.push(b" xml:lang=\"")?;
                w.push_xml_escaped(lang)?;
                w.push_byte(b'"')?;
            }
            w.push_byte(b'>')?;
            w.push_xml_escaped(s.text)?;
            w.push(b"</subject>\r\n")?;
        }
        w.push(b"  <")?;
        w.push_str(self.kind.element())?;
        w.push(b">\r\n    <status><")?;
        w.push_str(self.status.element())?;
        w.push(b"/></status>\r\n  </")?;
        w.push_str(self.kind.element())?;
        w.push(b">\r\n</imdn>\r\n")
    }

    /// Writes the document into `buf` and returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let mut w = ByteWriter::new(buf);
        self.write_to(&mut w)?;
        Ok(w.len())
    }
}
