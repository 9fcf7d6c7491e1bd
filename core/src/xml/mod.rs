//! A bounded, zero-copy XML reader and the buffer writer shared by the builders.
pub mod writer;
