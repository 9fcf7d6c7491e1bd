//! IMDN, Instant Message Disposition Notification (RFC 5438).
//!
//! - [`disposition`]: the `Disposition-Notification` CPIM header an IM Sender adds to ask for
//!   notifications (`positive-delivery, negative-delivery, display, processing`).
//! - [`document`]: the `message/imdn+xml` payload, read with the bounded [`crate::xml`] reader and
//!   validated against §11 (required `<message-id>`, `<datetime>`, exactly one notification element with a
//!   `<status>` allowed for its type; extension elements skipped), and written back.
//! - [`tracker`]: the IM Recipient's decisions (which notification is due when) and the construction of
//!   the complete notification, CPIM wrapper included.
//!
//! Randomness: Message-IDs must be unguessable (§6.3 recommends at least 64 random bits), so they come
//! from the caller through [`Rng`]. [`new_message_id`] turns [`MESSAGE_ID_LEN`] random bytes into
//! as many characters of a 64-symbol alphabet (6 bits each, 120 bits in all), all valid in a CPIM Token.
//!
//! The CPIM headers of IMDN live in the namespace [`crate::cpim::IMDN_NS`] (`urn:ietf:params:imdn`),
//! found through the message's `NS` declarations whatever prefix the sender chose.

pub mod disposition;
pub mod document;
pub mod tracker;

pub use disposition::{notify_reqs, DispositionRequest, NotifyReq};
pub use document::{Imdn, ImdnError, NotificationKind, Status, Subject, IMDN_XML_NS};
pub use tracker::{NotifyError, ReceiveError, Received, MAX_ROUTES};

use crate::cpim;
use crate::rng::Rng;

/// Characters in a generated Message-ID (each carries 6 random bits).
pub const MESSAGE_ID_LEN: usize = 20;

/// A generated Message-ID: [`MESSAGE_ID_LEN`] characters of `[A-Za-z0-9_-]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MessageId {
    chars: [u8; MESSAGE_ID_LEN],
}

impl MessageId {
    /// The identifier as text.
    pub fn as_str(&self) -> &str {
        // Always ASCII from ALPHABET.
        core::str::from_utf8(&self.chars).unwrap_or("")
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A fresh, unguessable Message-ID from `ids`.
pub fn new_message_id(ids: &mut impl Rng) -> MessageId {
    let mut chars = [0u8; MESSAGE_ID_LEN];
    ids.fill(&mut chars);
    for c in &mut chars {
        *c = ALPHABET.get(usize::from(*c & 63)).copied().unwrap_or(b'A');
    }
    MessageId { chars }
}

/// Adds the sender-side IMDN headers to an IM being built: the `NS` declaration, `imdn.Message-ID`,
/// `DateTime` and `imdn.Disposition-Notification` (§7.1.1). Call before the content headers.
pub fn add_request_headers(
    b: &mut cpim::Builder<'_>,
    message_id: &str,
    date_time: &str,
    request: DispositionRequest,
) -> Result<(), cpim::BuildError> {
    let mut value = [0u8; 64];
    let value = request
        .to_str(&mut value)
        .map_err(|_| cpim::BuildError::BufferTooSmall)?;
    b.ns(Some("imdn"), cpim::IMDN_NS)?;
    b.raw_header("imdn.Message-ID", message_id)?;
    b.date_time(date_time)?;
    b.raw_header("imdn.Disposition-Notification", value)?;
    Ok(())
}
