//! Incoming-IM barring as a published service setting.
//!
//! `set_barring` changes the local policy at once (incoming MESSAGEs get 480 while barred, see the
//! table in the `client` module docs) and PUBLISHes the new value to the user's own AoR so the network
//! (the Participating Function, or a deferred-messaging server) can apply it too.
//!
//! **Event package: [`SETTINGS_EVENT_PACKAGE`] (`simple-im-settings`) is this project's own choice.**
//! OMA SIMPLE IM 2.0 keeps the user's service settings in the IM XDMS and we could not confirm an
//! IANA-registered SIP event package name for publishing them, so the server of this project must accept
//! this name; the body is the small XML document [`SETTINGS_CONTENT_TYPE`] described below. Revisit
//! once the OMA name is confirmed.
//!
//! ```text
//! <?xml version="1.0" encoding="UTF-8"?>
//! <im-settings xmlns="urn:simple-im:params:xml:ns:im-settings"><incoming-im-barring>true</incoming-im-barring></im-settings>
//! ```
//!
//! # The publication's lifetime (RFC 3903)
//!
//! A publication lives for the `Expires` the server grants; the server then forgets it, which clears
//! barring on its side while the device would go on refusing with 480. So the client keeps it alive:
//!
//! | state | input | action | next |
//! |---|---|---|---|
//! | none | `set_barring` | PUBLISH with the document (initial) | publishing |
//! | published | `set_barring` | PUBLISH with the document and `SIP-If-Match` (modify) | publishing |
//! | publishing | 2xx | keep `SIP-ETag`, refresh at half the granted `Expires`; `BarringPublished` | published |
//! | published | refresh time | PUBLISH with `SIP-If-Match`, no body (refresh; no event on 2xx) | refreshing |
//! | publishing/refreshing with `SIP-If-Match` | 412 Conditional Request Failed | initial PUBLISH again | publishing |
//! | publishing/refreshing | other final, timeout | forget the publication; `BarringPublished{status}` | none |
//! | published | refresh time, every outgoing slot busy | try again 1 s later | published |
//!
//! A 2xx without `SIP-ETag` (a server that does not do RFC 3903) is refreshed by repeating the
//! initial PUBLISH. Half the granted time leaves room for the retransmissions of a lost refresh.

use crate::ascii_trim::TrimAsciiWs;
use core::time::Duration;

use heapless::String;

use super::pager::Purpose;
use super::{Client, CommandError};
use crate::rng::Rng;
use crate::sip::{HeaderName, Message, Method};
use crate::time::Instant;

/// The SIP event package of the PUBLISH (project-specific, see the module docs).
pub const SETTINGS_EVENT_PACKAGE: &str = "simple-im-settings";
/// The body type of the PUBLISH.
pub const SETTINGS_CONTENT_TYPE: &str = "application/vnd.simple-im.settings+xml";
/// Longest `SIP-ETag` kept for refreshes; a longer one is treated as absent (initial PUBLISH again).
pub const MAX_ETAG_LEN: usize = 48;

const BARRED_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<im-settings xmlns=\"urn:simple-im:params:xml:ns:im-settings\"><incoming-im-barring>true</incoming-im-barring></im-settings>\r\n";
const OPEN_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<im-settings xmlns=\"urn:simple-im:params:xml:ns:im-settings\"><incoming-im-barring>false</incoming-im-barring></im-settings>\r\n";

/// What a PUBLISH in flight does (see the state table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublishKind {
    /// Carries the document (initial, or modify when a publication exists).
    Document,
    /// Extends the publication's lifetime: `SIP-If-Match`, no body.
    Refresh,
}

/// The live publication of the barring setting.
pub(crate) struct Publication {
    /// The server's entity tag; empty when it sent none.
    etag: String<MAX_ETAG_LEN>,
    /// When to refresh; `None` while a PUBLISH for it is in flight.
    refresh_at: Option<Instant>,
}

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Bars (or allows) incoming IMs locally and publishes the setting; ends with `BarringPublished`.
    /// The publication is then refreshed until the client is dropped (module docs).
    pub fn set_barring(&mut self, now: Instant, barred: bool) -> Result<(), CommandError> {
        self.barred = barred;
        self.publish(now, PublishKind::Document)
    }

    fn publish(&mut self, now: Instant, kind: PublishKind) -> Result<(), CommandError> {
        let expires = crate::write::Decimal::new(self.config.registration_expiry_s.into());
        let aor = self.config.aor.clone();
        let etag = self
            .publication
            .as_ref()
            .map(|p| p.etag.clone())
            .filter(|e| !e.is_empty());
        let (kind, body) = match (kind, &etag) {
            // Without an entity tag there is nothing to refresh: publish the document again.
            (PublishKind::Refresh, None) | (PublishKind::Document, _) => (
                PublishKind::Document,
                if self.barred { BARRED_DOC } else { OPEN_DOC },
            ),
            (PublishKind::Refresh, Some(_)) => (PublishKind::Refresh, ""),
        };
        let mut headers = [
            (HeaderName::Event, SETTINGS_EVENT_PACKAGE),
            (HeaderName::Expires, expires.as_str()),
            (HeaderName::SipIfMatch, ""),
        ];
        let used = match &etag {
            Some(etag) => {
                if let Some(slot) = headers.get_mut(2) {
                    slot.1 = etag.as_str();
                }
                3
            }
            None => 2,
        };
        self.send_request(
            now,
            Method::Publish,
            aor.as_str(),
            aor.as_str(),
            SETTINGS_CONTENT_TYPE,
            headers.get(..used).unwrap_or(&[]),
            body.as_bytes(),
            Purpose::Publish {
                barred: self.barred,
                kind,
            },
        )?;
        if let Some(p) = self.publication.as_mut() {
            p.refresh_at = None;
        }
        Ok(())
    }

    /// The final answer (or timeout, `msg` = `None`) to a PUBLISH of ours.
    pub(crate) fn publish_done(
        &mut self,
        now: Instant,
        barred: bool,
        kind: PublishKind,
        status: u16,
        msg: Option<&Message<'_, '_>>,
    ) {
        let had_etag = self.publication.as_ref().is_some_and(|p| !p.etag.is_empty());
        match (status, msg) {
            (200..=299, Some(msg)) => {
                let asked = self.config.registration_expiry_s;
                let granted = msg
                    .header(HeaderName::Expires)
                    .and_then(|v| crate::write::parse_decimal(v.trim_ws()))
                    .unwrap_or(asked);
                let mut etag = String::new();
                if let Some(value) = msg.header(HeaderName::SipETag) {
                    let _ = etag.push_str(value.trim_ws());
                }
                let half = u64::from((granted / 2).max(1));
                self.publication = Some(Publication {
                    etag,
                    refresh_at: Some(now + Duration::from_secs(half)),
                });
                if kind == PublishKind::Document {
                    self.push_event(super::ClientEvent::BarringPublished { barred, status });
                }
            }
            (412, _) if had_etag => {
                // The server no longer knows our entity: start a new publication.
                self.publication = None;
                if self.publish(now, PublishKind::Document).is_err() {
                    self.push_event(super::ClientEvent::BarringPublished { barred, status });
                }
            }
            _ => {
                self.publication = None;
                self.push_event(super::ClientEvent::BarringPublished { barred, status });
            }
        }
    }

    /// The refresh deadline of the publication, for `poll_timeout`.
    pub(crate) fn publication_deadline(&self) -> Option<Instant> {
        self.publication.as_ref().and_then(|p| p.refresh_at)
    }

    /// Refreshes the publication when its time has come.
    pub(crate) fn publication_timeout(&mut self, now: Instant) {
        if self.publication_deadline().is_none_or(|at| at > now) {
            return;
        }
        if self.publish(now, PublishKind::Refresh).is_err() {
            if let Some(p) = self.publication.as_mut() {
                p.refresh_at = Some(now + Duration::from_secs(REFRESH_RETRY_S));
            }
        }
    }
}

/// Seconds before a refresh that found no free outgoing slot is tried again.
const REFRESH_RETRY_S: u64 = 1;
