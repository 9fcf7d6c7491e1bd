//! Durable enqueue throughput of the SQLite store (`cargo bench -p simple-im-tokio --bench store`).
//!
//! Each measurement has `concurrency` Tokio tasks enqueue pager messages (200-byte bodies, spread over
//! 1000 recipients) as fast as their enqueues return, as the server does when many MESSAGE requests
//! arrive at once: the writer thread batches whatever is waiting into one transaction, so throughput
//! grows with concurrency while each message is still fsynced (WAL, synchronous=FULL) before its
//! enqueue returns. Concurrency 1 shows the bare commit latency (one fsync per message). The database lives under Cargo's
//! target directory, on a real disk (a tmpfs would make fsync free and the figure meaningless).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use simple_im_tokio::store::{NewDeferred, Quota, SqliteStore, Store, UnixMillis};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUOTA: Quota = Quota {
    max_messages: u64::MAX,
    max_bytes: u64::MAX,
};
const RECIPIENTS: u64 = 1000;
const BODY_BYTES: usize = 200;

/// Message numbers are unique across the whole run so no enqueue is a duplicate.
static NEXT_MESSAGE: AtomicU64 = AtomicU64::new(0);

fn pager_message(n: u64) -> NewDeferred {
    NewDeferred {
        recipient: format!("user{}", n % RECIPIENTS),
        sender: "sip:load@localhost".into(),
        message_id: format!("bench-{n}"),
        content_type: "text/plain;charset=UTF-8".into(),
        date: Some("Tue, 24 Nov 2026 01:30:00 GMT".into()),
        cpim: false,
        extra_headers: Vec::new(),
        body: vec![b'x'; BODY_BYTES],
        submitted: UnixMillis(n),
        expires: UnixMillis(n + 604_800_000),
    }
}

/// Enqueues `total` messages from `concurrency` tasks and returns the time until the last returned.
async fn enqueue_concurrently(store: &Arc<SqliteStore>, concurrency: u64, total: u64) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let store = Arc::clone(store);
            let share = total / concurrency + u64::from(task < total % concurrency);
            tokio::spawn(async move {
                for _ in 0..share {
                    let n = NEXT_MESSAGE.fetch_add(1, Ordering::Relaxed);
                    store.enqueue(pager_message(n), QUOTA).await.expect("enqueue");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("enqueue task");
    }
    start.elapsed()
}

fn durable_enqueue(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("bench data dir");
    let store = Arc::new(SqliteStore::open(dir.path()).expect("open store"));
    let mut group = c.benchmark_group("durable_enqueue");
    group.throughput(Throughput::Elements(1));
    // Flat sampling: every sample enqueues the same, large number of messages, so the ramp-up of each
    // sample (the first commit holds only the first few requests) does not dominate small samples.
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    group
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8));
    for concurrency in [1u64, 64, 1024] {
        group.bench_with_input(
            BenchmarkId::new("concurrency", concurrency),
            &concurrency,
            |b, &concurrency| {
                b.iter_custom(|iters| runtime.block_on(enqueue_concurrently(&store, concurrency, iters)))
            },
        );
    }
    group.finish();
}

criterion_group!(benches, durable_enqueue);
criterion_main!(benches);
