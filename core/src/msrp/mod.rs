//! MSRP, the Message Session Relay Protocol (RFC 4975), with relays (RFC 4976), connection setup
//! (RFC 6135) and session matching for middleboxes (RFC 6714).
//!
//! - [`wire`]: zero-copy views, a streaming framer ([`wire::ChunkReader`]) and a builder.
//! - [`uri`]: MSRP URIs and their comparison rules.
//! - [`id`]: random session-ids from the caller's randomness ([`crate::rng::Rng`]).
//! - [`session`]: the sans-IO endpoint ([`session::Session`]: binding, chunking, reassembly,
//!   responses and reports) and the relay ([`session::Relay`]).
//!
//! Nothing here allocates, reads a clock or touches a socket: bytes and `now` go in, bytes, events
//! and deadlines come out, and message bodies stream through caller traits
//! ([`session::BodySource`], [`session::BodySink`]) so a file never has to fit in memory.

pub mod id;
pub mod session;
pub mod uri;
pub mod wire;

pub use id::{generate_session_id, SessionId};
pub use uri::{MsrpUri, Path, UriError};
