//! Spare read buffers and chunk readers, shared by the relay's connections.
//!
//! A connection holds a read buffer and a [`ChunkReader`] (about 2 KiB) only while a message passes;
//! between messages it gives them back here, and the next message on any connection takes them
//! again. Without the pool every bind or short message would allocate and free a few KiB: with
//! the connections' long-lived allocations landing in between, glibc's heap kept those holes, and
//! 10,000 idle sessions cost about 2.6 KiB each in holes alone (`cargo xtask bench msrp`). The pool
//! is bounded, so an idle relay keeps at most [`SPARE_SMALL`] + [`SPARE_LARGE`] buffers and
//! [`SPARE_READERS`] readers.
//!
//! | call | pool has one | pool is empty |
//! |---|---|---|
//! | [`Pool::buffer`] | reused (contents are stale: callers write before they read) | allocated |
//! | [`Pool::reader`] | reused, reset to a fresh reader | allocated |
//! | [`Pool::give_buffer`], [`Pool::give_reader`] | kept while under the bound | freed |

use super::lock;
use simple_im_core::msrp::wire::ChunkReader;
use std::sync::Mutex;

/// Small buffers (first reads, binds, short messages) kept.
pub const SPARE_SMALL: usize = 16;
/// Large buffers (streaming bodies) kept.
pub const SPARE_LARGE: usize = 2;
/// Chunk readers kept.
pub const SPARE_READERS: usize = 16;

#[derive(Default)]
pub(crate) struct Pool {
    small: Mutex<Vec<Box<[u8]>>>,
    large: Mutex<Vec<Box<[u8]>>>,
    // Boxed in the list too: connections hold them boxed, and handing one over moves a pointer,
    // not 2 KiB.
    #[allow(clippy::vec_box)]
    readers: Mutex<Vec<Box<ChunkReader>>>,
}

impl Pool {
    /// A buffer of exactly `len` bytes, `small_len` or `large_len`.
    pub fn buffer(&self, len: usize, small_len: usize) -> Box<[u8]> {
        let list = if len == small_len {
            &self.small
        } else {
            &self.large
        };
        match lock(list).pop() {
            Some(buf) if buf.len() == len => buf,
            _ => vec![0u8; len].into_boxed_slice(),
        }
    }

    /// Takes back a buffer that [`Pool::buffer`] gave out.
    pub fn give_buffer(&self, buf: Box<[u8]>, small_len: usize) {
        if buf.is_empty() {
            return;
        }
        let (list, bound) = if buf.len() == small_len {
            (&self.small, SPARE_SMALL)
        } else {
            (&self.large, SPARE_LARGE)
        };
        let mut list = lock(list);
        if list.len() < bound {
            list.push(buf);
        }
    }

    /// A reader waiting for a first start line.
    pub fn reader(&self) -> Box<ChunkReader> {
        match lock(&self.readers).pop() {
            Some(mut reader) => {
                *reader = ChunkReader::new();
                reader
            }
            None => Box::default(),
        }
    }

    pub fn give_reader(&self, reader: Box<ChunkReader>) {
        let mut list = lock(&self.readers);
        if list.len() < SPARE_READERS {
            list.push(reader);
        }
    }
}
