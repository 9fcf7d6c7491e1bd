//! The checkpointer thread: copies committed pages from the WAL back into the database file, off the
//! writer's path.
//!
//! SQLite's default is for the committing connection to checkpoint whenever the WAL passes 1000
//! pages. Under load that puts a random-write pass over the database file and an extra fsync inside
//! every few batches, on the one thread every acknowledgement waits for. Here the writer never
//! checkpoints (`wal_autocheckpoint = 0`); this thread runs a PASSIVE checkpoint every
//! [`INTERVAL`], which copies what is committed without blocking the writer or readers, on the other
//! CPU. PASSIVE can fall behind a writer that never pauses, so once the WAL exceeds
//! [`RESTART_FRAMES`] the thread runs a RESTART checkpoint, which briefly holds off the writer, copies
//! the rest and lets the next batch start the WAL file from the beginning: the WAL stays bounded, and
//! with it the time readers spend looking pages up in it.
//!
//! Durability does not depend on checkpoints: a commit is durable once its WAL frames are synced.

use rusqlite::Connection;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How often the WAL is checkpointed. Each pass copies every page changed since the previous one
/// once, however many commits rewrote it, so a longer interval means less copying under load; one
/// second keeps the WAL to a few tens of MiB at the store's peak rate.
pub const INTERVAL: Duration = Duration::from_secs(1);
/// WAL size (in pages) past which a RESTART checkpoint bounds it; 65536 pages is 64 MiB with the
/// store's 1 KiB pages.
pub const RESTART_FRAMES: i64 = 65_536;

/// The handle to the checkpointer thread; dropping it stops the thread (after a last checkpoint).
pub struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread over its own connection to the database.
    pub fn spawn(conn: Connection) -> std::io::Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("simple-im-store-checkpoint".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                    checkpoint(&conn);
                }
                checkpoint(&conn);
            })?;
        Ok(Checkpointer {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One PASSIVE pass, then a RESTART if the WAL is still too long. Errors are left for the next pass:
/// a failed checkpoint loses nothing, it only leaves the WAL longer.
fn checkpoint(conn: &Connection) {
    let frames = |mode: &str| -> Option<i64> {
        conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
            row.get::<_, i64>(1)
        })
        .ok()
    };
    if frames("PASSIVE").is_some_and(|wal_frames| wal_frames > RESTART_FRAMES) {
        let _ = frames("RESTART");
    }
}
