//! Helpers shared by the integration tests and benchmarks.

pub mod hil;

/// Real SIP peers (simple-im, SIPp, Kamailio, pjsua2, tshark) for the interop tests.
pub mod peers;
