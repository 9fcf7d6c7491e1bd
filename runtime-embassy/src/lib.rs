//! # simple-im-embassy
//!
//! Will drive the IM client of `simple-im-core` over embassy-net sockets and embassy-time, with every
//! buffer a const generic chosen by the application and no allocator. Not written yet: it is the subject
//! of the "IM Client on microcontrollers" issue. The crate exists now so the workspace has its final shape.
#![no_std]
#![forbid(unsafe_code)]
