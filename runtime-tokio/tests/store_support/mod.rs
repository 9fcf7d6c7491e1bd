//! Helpers shared by the `store_*` integration tests.
#![allow(dead_code)]

use simple_im_tokio::store::{NewDeferred, Quota, UnixMillis};

/// A quota no test reaches unless it means to.
pub const ROOMY: Quota = Quota {
    max_messages: 1_000_000,
    max_bytes: 1 << 40,
};

/// A plain-text pager message from `sender` to `recipient` with the given message id, submitted at
/// `submitted` ms and expiring one hour later.
pub fn message(recipient: &str, sender: &str, message_id: &str, submitted: u64) -> NewDeferred {
    NewDeferred {
        recipient: recipient.to_owned(),
        sender: sender.to_owned(),
        message_id: message_id.to_owned(),
        content_type: "text/plain".to_owned(),
        date: None,
        cpim: false,
        extra_headers: Vec::new(),
        body: format!("hello {message_id}").into_bytes(),
        submitted: UnixMillis(submitted),
        expires: UnixMillis(submitted + 3_600_000),
    }
}
