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
//! The PUBLISH is not refreshed: its lifetime is the registration expiry, and the application calls
//! `set_barring` again after re-registering if the server needs it (not done automatically yet).

use super::pager::Purpose;
use super::{Client, CommandError};
use crate::rng::Rng;
use crate::sip::{HeaderName, Method};
use crate::time::Instant;

/// The SIP event package of the PUBLISH (project-specific, see the module docs).
pub const SETTINGS_EVENT_PACKAGE: &str = "simple-im-settings";
/// The body type of the PUBLISH.
pub const SETTINGS_CONTENT_TYPE: &str = "application/vnd.simple-im.settings+xml";

const BARRED_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<im-settings xmlns=\"urn:simple-im:params:xml:ns:im-settings\"><incoming-im-barring>true</incoming-im-barring></im-settings>\r\n";
const OPEN_DOC: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<im-settings xmlns=\"urn:simple-im:params:xml:ns:im-settings\"><incoming-im-barring>false</incoming-im-barring></im-settings>\r\n";

impl<R: Rng, A: Copy, const REQ: usize, const OUT: usize, const SRV: usize, const CHATS: usize>
    Client<R, A, REQ, OUT, SRV, CHATS>
{
    /// Bars (or allows) incoming IMs locally and publishes the setting; ends with `BarringPublished`.
    pub fn set_barring(&mut self, now: Instant, barred: bool) -> Result<(), CommandError> {
        self.barred = barred;
        let mut expires: heapless::String<10> = heapless::String::new();
        let _ = core::fmt::Write::write_fmt(
            &mut expires,
            format_args!("{}", self.config.registration_expiry_s),
        );
        let aor = self.config.aor.clone();
        let body = if barred { BARRED_DOC } else { OPEN_DOC };
        self.send_request(
            now,
            Method::Publish,
            aor.as_str(),
            aor.as_str(),
            SETTINGS_CONTENT_TYPE,
            &[
                (HeaderName::Event, SETTINGS_EVENT_PACKAGE),
                (HeaderName::Expires, expires.as_str()),
            ],
            body.as_bytes(),
            Purpose::Publish { barred },
        )?;
        Ok(())
    }
}
