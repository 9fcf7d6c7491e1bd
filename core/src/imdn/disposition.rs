//! The `Disposition-Notification` CPIM header (RFC 5438 §6.2, §10).

use crate::ascii_trim::TrimAsciiWs;
use crate::write::{BufferTooSmall, ByteWriter};

/// One `notify-req` of a `Disposition-Notification` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NotifyReq<'a> {
    /// `positive-delivery`: tell me when it was delivered.
    PositiveDelivery,
    /// `negative-delivery`: tell me when delivery failed.
    NegativeDelivery,
    /// `display`: tell me when it was displayed.
    Display,
    /// `processing`: intermediaries may tell me what they did with it.
    Processing,
    /// An extension value, kept as written (recipients ignore it, §7.2.1).
    Other(&'a str),
}

impl<'a> NotifyReq<'a> {
    fn from_token(token: &'a str) -> NotifyReq<'a> {
        match token {
            "positive-delivery" => NotifyReq::PositiveDelivery,
            "negative-delivery" => NotifyReq::NegativeDelivery,
            "display" => NotifyReq::Display,
            "processing" => NotifyReq::Processing,
            other => NotifyReq::Other(other),
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &'a str {
        match self {
            NotifyReq::PositiveDelivery => "positive-delivery",
            NotifyReq::NegativeDelivery => "negative-delivery",
            NotifyReq::Display => "display",
            NotifyReq::Processing => "processing",
            NotifyReq::Other(s) => s,
        }
    }
}

/// Every `notify-req` of a header value with its parameters (`;p=v`, leading `;` kept), in order.
/// Case matters (§10: names are used exactly as given).
pub fn notify_reqs(value: &str) -> impl Iterator<Item = (NotifyReq<'_>, &str)> {
    value
        .split(',')
        .map(str::trim_ws)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (token, params) = match item.find(';') {
                Some(i) => (item.get(..i).unwrap_or(""), item.get(i..).unwrap_or("")),
                None => (item, ""),
            };
            (NotifyReq::from_token(token.trim_ws()), params)
        })
}

/// The dispositions an IM Sender asked for: the known values of a `Disposition-Notification` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DispositionRequest {
    /// `positive-delivery` was requested.
    pub positive_delivery: bool,
    /// `negative-delivery` was requested.
    pub negative_delivery: bool,
    /// `display` was requested.
    pub display: bool,
    /// `processing` was requested.
    pub processing: bool,
}

impl DispositionRequest {
    /// Reads a header value; unknown values are ignored as §7.2.1 requires.
    pub fn parse(value: &str) -> DispositionRequest {
        let mut req = DispositionRequest::default();
        for (item, _) in notify_reqs(value) {
            match item {
                NotifyReq::PositiveDelivery => req.positive_delivery = true,
                NotifyReq::NegativeDelivery => req.negative_delivery = true,
                NotifyReq::Display => req.display = true,
                NotifyReq::Processing => req.processing = true,
                NotifyReq::Other(_) => {}
            }
        }
        req
    }

    /// True when nothing is requested.
    pub fn is_empty(&self) -> bool {
        *self == DispositionRequest::default()
    }

    /// Writes the header value (`positive-delivery, display`), in the order of §10.
    pub fn write(&self, w: &mut ByteWriter<'_>) -> Result<(), BufferTooSmall> {
        let items = [
            (self.negative_delivery, NotifyReq::NegativeDelivery),
            (self.positive_delivery, NotifyReq::PositiveDelivery),
            (self.processing, NotifyReq::Processing),
            (self.display, NotifyReq::Display),
        ];
        let mut first = true;
        for (on, item) in items {
            if on {
                if !first {
                    w.push(b", ")?;
                }
                w.push_str(item.as_str())?;
                first = false;
            }
        }
        Ok(())
    }

    /// The header value as text in `buf` (at most 58 bytes are needed).
    pub fn to_str<'b>(&self, buf: &'b mut [u8]) -> Result<&'b str, BufferTooSmall> {
        let mut w = ByteWriter::new(buf);
        self.write(&mut w)?;
        let (buf, len) = w.finish();
        let done: &'b [u8] = buf;
        core::str::from_utf8(done.get(..len).unwrap_or(&[])).map_err(|_| BufferTooSmall)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_values_and_keeps_unknown_ones() {
        let items: heapless::Vec<_, 8> =
            notify_reqs("positive-delivery ;x=1, display,  frobnicate ,").collect();
        assert_eq!(
            items.as_slice(),
            [
                (NotifyReq::PositiveDelivery, ";x=1"),
                (NotifyReq::Display, ""),
                (NotifyReq::Other("frobnicate"), "")
            ]
        );
        let req = DispositionRequest::parse("negative-delivery, Display, processing");
        assert_eq!(
            req,
            DispositionRequest {
                negative_delivery: true,
                processing: true,
                ..Default::default()
            }
        );
    }

    #[test]
    fn writes_and_reparses() {
        let all = DispositionRequest {
            positive_delivery: true,
            negative_delivery: true,
            display: true,
            processing: true,
        };
        let mut buf = [0u8; 64];
        let text = all.to_str(&mut buf).unwrap();
        assert_eq!(text, "negative-delivery, positive-delivery, processing, display");
        assert_eq!(DispositionRequest::parse(text), all);
        assert!(DispositionRequest::parse("").is_empty());
    }
}
