//! # simple-im-tokio
//!
//! Drives `simple-im-core` on Tokio. Today it carries the `simple-im` command-line tool; the IM Server
//! roles come with the server issues.
#![forbid(unsafe_code)]

pub mod client;
pub mod config;
pub mod inspect;
pub mod server;
pub mod store;
pub mod users;
