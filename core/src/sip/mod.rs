//! SIP (RFC 3261): the message codec, URIs, typed header values, transactions, dialogs and digest
//! authentication.
pub mod auth;
