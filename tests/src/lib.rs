//! Helpers shared by the integration tests and benchmarks.

/// Data the benchmarks send.
pub mod bench_data;

pub mod hil;

/// Real SIP peers (simple-im, SIPp, Kamailio, pjsua2, tshark) for the interop tests.
pub mod peers;
