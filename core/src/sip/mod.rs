//! SIP (RFC 3261): the message codec, URIs, typed header values, transactions, dialogs and digest
//! authentication.
//!
//! The codec is split by job: [`message`] indexes bytes into a zero-copy view, [`framer`] delimits
//! messages on streams, [`header`] and [`uri`] parse values on demand, [`validate`] checks RFC 3261
//! conformance, and [`builder`] writes messages into caller buffers.
//!
//! ```
//! use simple_im_core::sip::header::Via;
//! use simple_im_core::sip::{check, response_to, Header, HeaderName, Message, ParseConfig};
//!
//! let bytes = b"MESSAGE sip:bob@example.com SIP/2.0\r\n\
//!     Via: SIP/2.0/UDP pc.example.com;branch=z9hG4bK776\r\n\
//!     Max-Forwards: 70\r\nTo: <sip:bob@example.com>\r\n\
//!     From: <sip:alice@example.com>;tag=49583\r\nCall-ID: a84b4c76e667\r\n\
//!     CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";
//! let mut slots = [Header::EMPTY; 32];
//! let msg = Message::parse_datagram(bytes, &mut slots, &ParseConfig::default()).unwrap();
//! check(&msg).unwrap();
//! let via = Via::parse(msg.values(HeaderName::Via).next().unwrap()).unwrap();
//! assert_eq!(via.rfc3261_branch_id(), Some("776"));
//! assert_eq!(msg.body(), b"hello");
//!
//! let mut out = [0u8; 512];
//! let len = response_to(&msg, 200, "OK", Some("a6c85cf"), &mut out).unwrap().finish(b"").unwrap();
//! assert!(out[..len].starts_with(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP pc.example.com;branch=z9hG4bK776\r\n"));
//! ```

pub mod auth;
pub mod builder;
pub mod dialog;
pub mod framer;
pub mod header;
pub mod message;
pub mod method;
pub mod transaction;
pub mod uri;
pub mod validate;

pub use builder::{ack_for_non_2xx, emit, response_to, BuildError, MessageWriter};
pub use framer::{frame, FrameError, Framed, MAX_MESSAGE_SIZE};
pub use header::{Header, HeaderName};
pub use message::{Message, ParseConfig, ParseError, StartLine, DEFAULT_MAX_HEADERS};
pub use method::Method;
pub use uri::Uri;
pub use validate::{check, Invalid, InvalidKind};
