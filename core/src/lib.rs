//! # simple-im-core
//!
//! The protocol heart of simple-im, an implementation of the OMA SIMPLE IM 2.0 enabler: SIP (RFC 3261),
//! pager-mode MESSAGE (RFC 3428), MSRP (RFC 4975/4976), CPIM (RFC 3862), IMDN (RFC 5438), SDP for MSRP,
//! digest authentication (RFC 7616/8760) and the IM Client logic.
//!
//! The crate is `#![no_std]`, needs no allocator, and performs no I/O: the same code runs on a
//! microcontroller (through `simple-im-embassy`), in the server (through `simple-im-tokio`) and in the
//! deterministic simulation used by the tests.
//!
//! ## The run loop every machine shares
//!
//! Every state machine here (a SIP transaction, a dialog, an MSRP session, the IM client) is driven the
//! same way, as in quinn-proto or rustls:
//!
//! 1. The caller hands it an input together with the current time: bytes that arrived from a transport,
//!    a command from the user, or "a timer you asked for is due" (`handle_timeout(now)`).
//! 2. The caller then **drains** the machine by calling its `poll_*` method until it returns `None`:
//!    each call yields one output: bytes to transmit, an event for the application, or nothing more.
//! 3. The caller asks for the next deadline (`poll_timeout()`) and calls `handle_timeout(now)` once the
//!    clock reaches it.
//!
//! **Drain invariant:** after any `handle_*` call, outputs are only guaranteed to be observed if the caller
//! drains until `None` before the next `handle_*` call; a machine never emits an output spontaneously,
//! and `poll_timeout()` is only meaningful after a full drain. Time is only ever an input ([`time::Instant`]).
//!
//! ## Bounds
//!
//! Every capacity (headers per message, URI parameters, queued outputs, ...) is a `const` or a const
//! generic with a default sized for a 64 KiB-RAM device. Exceeding one is a typed error, never a panic
//! and never an allocation.
//!
//! ## Layers (lower never imports higher)
//!
//! 1. Wire codecs, zero-copy: [`sip`] messages, URIs and header values.
//! 2. Protocol machines: SIP transactions, dialogs, digest authentication.
//! 3. [`client`]: the OMA IM Client built from them, with its postcard-serialisable configuration.
//!
//! See `docs/ARCHITECTURE.md` in the repository for the whole design.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(test)]
extern crate std;

pub(crate) mod ascii_trim;
pub mod client;
pub mod conference_info;
pub mod cpim;
pub mod imdn;
pub(crate) mod log;
pub mod msrp;
pub mod multipart;
pub mod resource_lists;
pub mod rng;
pub mod sdp;
pub mod sim;
pub mod sip;
pub(crate) mod substring;
pub mod time;
pub mod write;
pub mod xml;

/// The error of every encoder that writes into a caller's buffer (see [`mod@write`]).
pub use write::BufferTooSmall;
