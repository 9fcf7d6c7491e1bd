//! `message/imdn+xml` documents (RFC 5438 §11): reading with validation, and writing.
//!
//! Text fields are [`XmlText`]: a parsed document holds them as [`XmlText::Escaped`] (the character data
//! as written, references undecoded, surrounding XML whitespace trimmed) or, for a CDATA section, as
//! [`XmlText::Plain`]; an application building a notification passes plain text. Writing escapes plain
//! text only, so `parse(write(parse(x)))` equals `parse(x)`. Compare a field with a CPIM value with
//! [`XmlText::eq_plain`]; show it with `Display`; decode it with [`XmlText::decode_into`].
//!
//! The simple text elements (`<message-id>`, `<datetime>`, the URIs, `<subject>`) must hold one piece of
//! character data: text or one CDATA section, with only whitespace beside it. Text split by a CDATA
//! section, a comment, a processing instruction or a child element is refused
//! ([`ImdnError::MixedContent`]) rather than joined, which would need a buffer; no sender writes it.

use core::fmt;

use crate::write::{BufferTooSmall, ByteWriter};
use crate::xml::{self, Event, Reader, XmlText};

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
    /// The subject text.
    pub text: XmlText<'a>,
    /// The `xml:lang` attribute.
    pub lang: Option<XmlText<'a>>,
}

/// An IMDN payload. Text fields are [`XmlText`] (see the module docs): escaped as parsed, or plain as an
/// application gives them; equality compares decoded text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Imdn<'a> {
    /// `<message-id>`: the Message-ID of the IM this notification is about.
    pub message_id: XmlText<'a>,
    /// `<datetime>`: the DateTime of that IM.
    pub datetime: XmlText<'a>,
    /// `<recipient-uri>`.
    pub recipient_uri: Option<XmlText<'a>>,
    /// `<original-recipient-uri>`.
    pub original_recipient_uri: Option<XmlText<'a>>,
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
    /// A text element (`<message-id>`, `<datetime>`, a URI, `<subject>`) holds more than one piece of
    /// text: text and CDATA mixed, or text split by a comment, processing instruction or child element.
    MixedContent,
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
            ImdnError::MixedContent => {
                f.write_str("IMDN: a text element must hold plain text or one CDATA section, not both or pieces")
            }
        }
    }
}

impl From<xml::Error> for ImdnError {
    fn from(e: xml::Error) -> Self {
        ImdnError::Xml(e)
    }
}

fn trim_xml_space(s: &str) -> &str {
    crate::ascii_trim::trim(s, crate::ascii_trim::is_xml_space)
}

/// The content of the element whose start was just read: its one piece of character data, trimmed of
/// XML whitespace (see the module docs for what is refused). Child elements are skipped.
fn text_content<'a>(r: &mut Reader<'a>) -> Result<XmlText<'a>, ImdnError> {
    let mut text: Option<XmlText<'a>> = None;
    // A comment, PI or child element after the text means any further text is a second piece.
    let mut interrupted = false;
    loop {
        let piece = match r.next_event()? {
            Some(Event::Text(t)) => XmlText::Escaped(trim_xml_space(t.raw)),
            Some(Event::CData(c)) => XmlText::Plain(trim_xml_space(c)),
            Some(Event::Start(_)) => {
                r.skip_element()?;
                interrupted = text.is_some();
                continue;
            }
            Some(Event::End(_)) | None => return Ok(text.unwrap_or(XmlText::Escaped(""))),
            Some(_) => {
                interrupted = text.is_some();
                continue;
            }
        };
        if piece.is_empty() {
            continue;
        }
        if text.is_some() || interrupted {
            return Err(ImdnError::MixedContent);
        }
        text = Some(piece);
    }
}

fn set_once<'a>(slot: &mut Option<XmlText<'a>>, value: XmlText<'a>) -> Result<(), ImdnError> {
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
            // The four text elements share one read (one call site instead of four).
            let text_slot = match start.name.local {
                "message-id" => Some(&mut message_id),
                "datetime" => Some(&mut datetime),
                "recipient-uri" => Some(&mut recipient),
                "original-recipient-uri" => Some(&mut original),
                _ => None,
            };
            if let Some(slot) = text_slot {
                set_once(slot, text_content(&mut r)?)?;
                continue;
            }
            match start.name.local {
                "subject" => {
                    let lang = start
                        .attributes()
                        .find(|a| a.name.prefix == Some("xml") && a.name.local == "lang");
                    let text = text_content(&mut r)?;
                    let lang = lang.map(|a| XmlText::Escaped(a.raw_value));
                    if subject.replace(Subject { text, lang }).is_some() {
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
        let message_id = message_id
            .filter(|s| !s.is_empty())
            .ok_or(ImdnError::MissingMessageId)?;
        let datetime = datetime
            .filter(|s| !s.is_empty())
            .ok_or(ImdnError::MissingDatetime)?;
        let (kind, status) = notification.ok_or(ImdnError::MissingNotification)?;
        let status = status.ok_or(ImdnError::MissingStatus)?;
        if !status.allowed_in(kind) {
            return Err(ImdnError::StatusNotAllowed);
        }
        Ok(Imdn {
            message_id,
            datetime,
            recipient_uri: recipient,
            original_recipient_uri: original,
            subject,
            kind,
            status,
        })
    }

    /// Writes the document (UTF-8, CRLF line ends): plain text fields escaped, escaped ones verbatim.
    pub fn write_to(&self, w: &mut ByteWriter<'_>) -> Result<(), BufferTooSmall> {
        fn element(w: &mut ByteWriter<'_>, name: &str, text: XmlText<'_>) -> Result<(), BufferTooSmall> {
            w.push(b"  <")?;
            w.push_str(name)?;
            w.push_byte(b'>')?;
            text.write_content(w)?;
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
                lang.write_attribute_value(w)?;
                w.push_byte(b'"')?;
            }
            w.push_byte(b'>')?;
            s.text.write_content(w)?;
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
