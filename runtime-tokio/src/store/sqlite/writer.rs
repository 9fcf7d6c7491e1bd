//! The single writer thread and its group commit.
//!
//! Every write (enqueue, delivered, expire, account and policy changes) is sent to one thread that
//! owns the only writing connection. The thread takes whatever requests are waiting (up to
//! [`MAX_BATCH`]), runs them all inside one transaction, commits once, and only then answers each
//! caller. Under load, many callers share one commit and its fsync, which is what makes durable
//! enqueueing fast; with a single caller, a batch is just that caller's request, with no added delay
//! (the thread never waits for a batch to fill).
//!
//! Each request runs inside its own savepoint: one that fails (a full quota, an existing user name)
//! is rolled back alone and answered with its error, while the rest of the batch commits. If the
//! commit itself fails, every request of the batch is answered with that error, and none is stored.

use super::cache::Generation;
use crate::store::StoreError;
use rusqlite::Connection;
use std::sync::mpsc;
use std::thread;
use tokio::sync::oneshot;

/// The most requests committed in one transaction: large enough to amortise an fsync over thousands
/// of messages, small enough that the transaction's pages fit the page cache and the first caller of a
/// batch does not wait on an unbounded amount of work.
pub const MAX_BATCH: usize = 4096;

/// The answer a request sends once its batch is committed (or has failed).
type Completion = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
/// One request: given the connection inside the open transaction (or why there is none), it performs
/// its writes and returns how to answer its caller.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> Completion + Send>;

/// The handle to the writer thread. Dropping it lets the thread finish the queued requests and exit.
pub struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Writer {
    /// Starts the writer thread over `conn`, which must already be configured and migrated; it bumps
    /// `commits` after every commit, before answering the batch's callers.
    pub fn spawn(conn: Connection, commits: Generation) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = thread::Builder::new()
            .name("simple-im-store-writer".into())
            .spawn(move || run(conn, queue, commits))
            .map_err(|e| StoreError::Open(format!("cannot start the store's writer thread: {e}")))?;
        Ok(Writer {
            jobs: Some(jobs),
            thread: Some(thread),
        })
    }

    /// Queues `op` for the next batch; the receiver yields its result once that batch has committed.
    pub fn submit<T, F>(&self, op: F) -> oneshot::Receiver<Result<T, StoreError>>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(|conn| in_savepoint(conn, op));
            Box::new(move |commit: Result<(), StoreError>| {
                // The caller may have given up waiting (dropped its future); the write stands anyway.
                let _ = reply.send(commit.and(result));
            })
        });
        if let Some(jobs) = &self.jobs {
            // A send fails only if the thread is gone; the job is then dropped with its reply sender,
            // and the caller sees the closed channel as `StoreError::Closed`.
            let _ = jobs.send(job);
        }
        answer
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn in_savepoint<T>(
    conn: &Connection,
    op: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    conn.prepare_cached("SAVEPOINT request")?.execute([])?;
    let result = op(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO request")?.execute([])?;
    }
    conn.prepare_cached("RELEASE request")?.execute([])?;
    result
}

fn run(conn: Connection, queue: mpsc::Receiver<Job>, commits: Generation) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => {
                completions.extend(batch.drain(..).map(|job| job(Ok(&conn))));
                let committed = conn.execute_batch("COMMIT").map_err(StoreError::from);
                if committed.is_err() {
                    // Leave no half-open transaction behind for the next batch.
                    let _ = conn.execute_batch("ROLLBACK");
                }
                // Before the answers: a caller that reads after its write must see it.
                commits.bump();
                for complete in completions.drain(..) {
                    complete(committed.clone());
                }
            }
            Err(e) => {
                let e = StoreError::from(e);
                for job in batch.drain(..) {
                    job(Err(e.clone()))(Err(e.clone()));
                }
            }
        }
    }
}
