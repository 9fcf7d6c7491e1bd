//! SIP (RFC 3261): the message codec, URIs, typed header values, transactions, dialogs and digest
//! authentication.
//!
//! The codec is split by job: [`message`] indexes bytes into a zero-copy view, [`framer`] delimits
//! messages on streams, [`header`] and [`uri`] parse values on demand, [`validate`] checks RFC 3261
//! conformance, and [`builder`] writes messages into caller buffers.

pub mod builder;
pub mod framer;
pub mod header;
pub mod message;
pub mod method;
pub mod uri;
pub mod validate;

pub use builder::{ack_for_non_2xx, emit, response_to, BuildError, MessageWriter};
pub use framer::{frame, FrameError, Framed, MAX_MESSAGE_SIZE};
pub use header::{Header, HeaderName};
pub use message::{Message, ParseConfig, ParseError, StartLine, DEFAULT_MAX_HEADERS};
pub use method::Method;
pub use uri::Uri;
pub use validate::{check, Invalid, InvalidKind};
