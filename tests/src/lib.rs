//! Helpers shared by the integration tests and benchmarks.

/// Real SIP peers (simple-im, SIPp, Kamailio, pjsua2, tshark) for the interop tests.
pub mod peers;
