//! The IM Recipient's side of RFC 5438 §7.2: which notifications a received IM asks for, when they are
//! due, and building them.
//!
//! | event (app calls)            | requested                 | due notification              | §       |
//! |------------------------------|---------------------------|-------------------------------|---------|
//! | `delivered()`                | `positive-delivery`       | delivery, `<delivered/>`      | 7.2.1.1 |
//! | `delivered()`                | no `positive-delivery`    | none                          | 7.2.1   |
//! | `delivery_failed()`          | `negative-delivery`       | delivery, `<failed/>`         | 7.2.1.1 |
//! | `delivery_failed()`          | no `negative-delivery`    | none                          | 7.2.1   |
//! | `displayed()`                | `display`                 | display, `<displayed/>`       | 7.2.1.2 |
//! | `displayed()`                | no `display`              | none                          | 7.2.1   |
//! | any, second time for a type  | any                       | none (one IMDN per type)      | 7.2.1   |
//! | IM is itself an IMDN         | any                       | none ([`Received::from_cpim`] → `None`) | 7.2.1 |
//!
//! `processing` is never answered by a recipient (§7.2.1: only intermediaries send it).
//!
//! The notification is a `message/cpim` entity: `From` = the IM's `To`, `To` = the IM's `From`, the
//! `NS` declaration of the IMDN namespace, a fresh `imdn.Message-ID`, the IM's `IMDN-Record-Route`
//! values copied in order into `imdn.IMDN-Route` (§7.2.1), then `Content-Type: message/imdn+xml`,
//! `Content-Disposition: notification`, `Content-Length` and the XML document. It is sent to the top
//! route, or to the IM's `From` URI when there is none ([`Received::destination`]).

use core::fmt;

use super::disposition::DispositionRequest;
use super::document::{Imdn, NotificationKind, Status, Subject};
use super::new_message_id;
use crate::cpim::{self, NameAddr, IMDN_NS};
use crate::rng::Rng;
use crate::write::ByteWriter;
use crate::xml::XmlText;

/// `IMDN-Record-Route` headers kept per IM (each intermediary that wants the IMDN back adds one).
pub const MAX_ROUTES: usize = 4;

/// Why a received IM cannot be tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReceiveError {
    /// The IM asks for notifications but has no `imdn.Message-ID` (§6.3 makes it mandatory).
    MissingMessageId,
    /// The IM asks for notifications but has no `DateTime` (§7.1.1.2).
    MissingDateTime,
    /// The IM has no `From`, so there is nobody to notify.
    MissingFrom,
    /// More `IMDN-Record-Route` headers than [`MAX_ROUTES`].
    TooManyRoutes,
}

impl fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReceiveError::MissingMessageId => "IMDN requested but the IM has no imdn.Message-ID header",
            ReceiveError::MissingDateTime => "IMDN requested but the IM has no DateTime header",
            ReceiveError::MissingFrom => "IMDN requested but the IM has no From header",
            ReceiveError::TooManyRoutes => "IM has more IMDN-Record-Route headers than MAX_ROUTES",
        })
    }
}

/// Why a notification could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NotifyError {
    /// The output buffer is too small.
    BufferTooSmall,
    /// The status does not fit the notification type (§11.1.7).
    StatusNotAllowed,
}

impl fmt::Display for NotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NotifyError::BufferTooSmall => "IMDN: output buffer too small for the notification",
            NotifyError::StatusNotAllowed => "IMDN: status not allowed for this notification type",
        })
    }
}

impl From<crate::write::BufferTooSmall> for NotifyError {
    fn from(_: crate::write::BufferTooSmall) -> Self {
        NotifyError::BufferTooSmall
    }
}

impl From<cpim::BuildError> for NotifyError {
    fn from(_: cpim::BuildError) -> Self {
        // The builder is only given valid names here, so its one possible failure is space.
        NotifyError::BufferTooSmall
    }
}

/// A received IM that asked for notifications, with what has been sent so far. Borrows the IM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received<'a> {
    /// The IM's `imdn.Message-ID`.
    pub message_id: &'a str,
    /// The IM's `DateTime`.
    pub date_time: &'a str,
    /// The IM's `From` (the notification goes back to it).
    pub sender: NameAddr<'a>,
    /// The IM's first `To` (the notification comes from it).
    pub recipient: Option<NameAddr<'a>>,
    /// The IM's `imdn.Original-To` URI.
    pub original_recipient: Option<&'a str>,
    /// The first `Subject` as (language, raw text).
    pub subject: Option<(Option<&'a str>, &'a str)>,
    /// What the sender asked for.
    pub requested: DispositionRequest,
    routes: heapless::Vec<&'a str, MAX_ROUTES>,
    sender_value: &'a str,
    recipient_value: Option<&'a str>,
    delivery_sent: bool,
    display_sent: bool,
}

impl<'a> Received<'a> {
    /// Reads the IMDN request of a received IM. `Ok(None)`: nothing to notify (no request, or the IM is
    /// itself a notification).
    pub fn from_cpim(msg: &cpim::Message<'a>) -> Result<Option<Received<'a>>, ReceiveError> {
        let is_notification = msg.is_notification();
        let requested = msg
            .value(IMDN_NS, "Disposition-Notification")
            .map(DispositionRequest::parse);
        let requested = match requested {
            Some(r) if !is_notification && !r.is_empty() => r,
            _ => return Ok(None),
        };
        let message_id = msg.value(IMDN_NS, "Message-ID").filter(|v| !v.is_empty());
        let mut routes = heapless::Vec::new();
        for h in msg.get_all(IMDN_NS, "IMDN-Record-Route") {
            routes.push(h.value).map_err(|_| ReceiveError::TooManyRoutes)?;
        }
        let sender_value = msg
            .value(cpim::CPIM_NS, "From")
            .ok_or(ReceiveError::MissingFrom)?;
        let recipient_value = msg.value(cpim::CPIM_NS, "To");
        Ok(Some(Received {
            message_id: message_id.ok_or(ReceiveError::MissingMessageId)?,
            date_time: msg.date_time().ok_or(ReceiveError::MissingDateTime)?,
            sender: NameAddr::parse(sender_value),
            recipient: recipient_value.map(NameAddr::parse),
            original_recipient: msg.value(IMDN_NS, "Original-To").map(|v| NameAddr::parse(v).uri),
            subject: msg.get(cpim::CPIM_NS, "Subject").map(|h| (h.lang(), h.value)),
            requested,
            routes,
            sender_value,
            recipient_value,
            delivery_sent: false,
            display_sent: false,
        }))
    }

    /// The `IMDN-Record-Route` values, in order (each `[name] <uri>`).
    pub fn routes(&self) -> &[&'a str] {
        &self.routes
    }

    /// Where the notification is sent: the top route's URI, else the IM's `From` URI.
    pub fn destination(&self) -> &'a str {
        self.routes
            .first()
            .map_or(self.sender.uri, |r| NameAddr::parse(r).uri)
    }

    fn due_delivery(
        &mut self,
        wanted: bool,
        status: Status<'static>,
    ) -> Option<(NotificationKind, Status<'static>)> {
        if !wanted || self.delivery_sent {
            return None;
        }
        self.delivery_sent = true;
        Some((NotificationKind::Delivery, status))
    }

    /// The IM was delivered to the user's device: the delivery notification due now, if any.
    pub fn delivered(&mut self) -> Option<(NotificationKind, Status<'static>)> {
        let wanted = self.requested.positive_delivery;
        self.due_delivery(wanted, Status::Delivered)
    }

    /// Delivery failed: the negative delivery notification due now, if any.
    pub fn delivery_failed(&mut self) -> Option<(NotificationKind, Status<'static>)> {
        let wanted = self.requested.negative_delivery;
        self.due_delivery(wanted, Status::Failed)
    }

    /// The application displayed the IM: the display notification due now, if any.
    pub fn displayed(&mut self) -> Option<(NotificationKind, Status<'static>)> {
        if !self.requested.display || self.display_sent {
            return None;
        }
        self.display_sent = true;
        Some((NotificationKind::Display, Status::Displayed))
    }

    /// The IMDN payload for `kind`/`status`. The text fields are the IM's header values as plain text,
    /// escaped when the payload is written.
    pub fn payload<'s>(&self, kind: NotificationKind, status: Status<'s>) -> Imdn<'s>
    where
        'a: 's,
    {
        Imdn {
            message_id: XmlText::Plain(self.message_id),
            datetime: XmlText::Plain(self.date_time),
            recipient_uri: self.recipient.map(|r| XmlText::Plain(r.uri)),
            original_recipient_uri: self.original_recipient.map(XmlText::Plain),
            subject: self.subject.map(|(lang, text)| Subject {
                text: XmlText::Plain(text),
                lang: lang.map(XmlText::Plain),
            }),
            kind,
            status,
        }
    }

    /// Builds the complete notification (`message/cpim` entity, see the module docs) into `buf` and
    /// returns its length. `ids` supplies the randomness of the notification's own Message-ID;
    /// `date_time` is the notification's own `DateTime` header, if the caller knows the wall clock.
    pub fn build_notification(
        &self,
        kind: NotificationKind,
        status: Status<'_>,
        date_time: Option<&str>,
        ids: &mut impl Rng,
        buf: &mut [u8],
    ) -> Result<usize, NotifyError> {
        if !status.allowed_in(kind) {
            return Err(NotifyError::StatusNotAllowed);
        }
        let id = new_message_id(ids);
        let header_len = {
            let mut b = cpim::Builder::new(&mut *buf);
            // Header values are copied as written, so display names keep their exact wire form.
            b.raw_header("From", self.recipient_value.unwrap_or("<>"))?;
            b.raw_header("To", self.sender_value)?;
            b.ns(Some("imdn"), IMDN_NS)?;
            b.raw_header("imdn.Message-ID", id.as_str())?;
            if let Some(dt) = date_time {
                b.date_time(dt)?;
            }
            for route in &self.routes {
                b.raw_header("imdn.IMDN-Route", route)?;
            }
            b.content_header("Content-Type", "message/imdn+xml")?;
            b.content_header("Content-Disposition", "notification")?;
            // The body length is known only after writing it: the length and body go after this point.
            b.body(b"")?.saturating_sub(2)
        };
        // Write the XML after a gap wide enough for "Content-Length: <20 digits>\r\n\r\n", then close the gap.
        const GAP: usize = 16 + 20 + 4;
        let xml_start = header_len.checked_add(GAP).ok_or(NotifyError::BufferTooSmall)?;
        let tail = buf.get_mut(xml_start..).ok_or(NotifyError::BufferTooSmall)?;
        let mut w = ByteWriter::new(tail);
        self.payload(kind, status).write_to(&mut w)?;
        let xml_len = w.len();
        let mut head = ByteWriter::new(
            buf.get_mut(header_len..xml_start)
                .ok_or(NotifyError::BufferTooSmall)?,
        );
        head.push(b"Content-Length: ")?;
        head.push_u64(xml_len as u64)?;
        head.push(b"\r\n\r\n")?;
        let body_at = header_len + head.len();
        buf.copy_within(xml_start..xml_start + xml_len, body_at);
        Ok(body_at + xml_len)
    }
}
