//! MSRP, the Message Session Relay Protocol (RFC 4975), with relays (RFC 4976), connection setup
//! (RFC 6135) and session matching for middleboxes (RFC 6714).
//!
//! - [`wire`]: zero-copy views, a streaming framer ([`wire::ChunkReader`]) and a builder.
//! - [`uri`]: MSRP URIs and their comparison rules.
//! - [`id`]: random session-ids, transaction-ids and Message-IDs from the caller's randomness.

pub mod id;
pub mod uri;
pub mod session;
pub mod wire;

pub use id::{generate_session_id, SessionId, SessionIdSource};
pub use uri::{MsrpUri, Path, UriError};
