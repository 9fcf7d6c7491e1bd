//! The deferred queue of the SQLite store, on real files in temporary directories.

mod store_support;

use simple_im_tokio::store::{
    Enqueued, Quota, QuotaLimit, SqliteStore, Store, StoreError, UnixMillis, DB_FILE_NAME, SCHEMA_VERSION,
};
use std::sync::Arc;
use store_support::{message, ROOMY};

fn open() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (dir, store)
}

fn message_ids(messages: &[simple_im_tokio::store::DeferredMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.message.message_id.as_str()).collect()
}

#[tokio::test]
async fn pending_is_oldest_first_and_per_recipient() {
    let (_dir, store) = open();
    for (i, (to, id)) in [("bob", "m1"), ("carol", "m2"), ("bob", "m3"), ("bob", "m4")]
        .iter()
        .enumerate()
    {
        store
            .enqueue(message(to, "sip:alice@localhost", id, 1000 + i as u64), ROOMY)
            .await
            .unwrap();
    }
    let bob = store.pending("bob", 100).await.unwrap();
    assert_eq!(message_ids(&bob), ["m1", "m3", "m4"]);
    assert!(bob.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(message_ids(&store.pending("carol", 100).await.unwrap()), ["m2"]);
    assert_eq!(message_ids(&store.pending("bob", 2).await.unwrap()), ["m1", "m3"]);
    assert!(store.pending("dave", 100).await.unwrap().is_empty());
}

#[tokio::test]
async fn body_and_resend_headers_come_back_byte_for_byte() {
    let (_dir, store) = open();
    let mut sent = message("bob", "sip:alice@localhost", "<cpim-1@example.com>", 5);
    sent.content_type = "message/cpim".into();
    sent.cpim = true;
    sent.date = Some("Sat, 13 Nov 2010 23:29:00 GMT".into());
    sent.extra_headers = vec![
        ("Subject".into(), "a: b; c".into()),
        ("Priority".into(), "urgent".into()),
    ];
    // Not UTF-8, with NUL, bare CR/LF and trailing whitespace: all must survive untouched.
    sent.body = vec![0xff, 0x00, b'\r', b'\n', b'\n', 0xc3, 0x28, b' ', b'\t'];
    let id = store.enqueue(sent.clone(), ROOMY).await.unwrap();
    let stored = store.pending("bob", 10).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].id, id.id());
    assert_eq!(stored[0].message, sent);
    assert_eq!(stored[0].size(), 9);
}

#[tokio::test]
async fn delivered_removes_once() {
    let (_dir, store) = open();
    let first = store
        .enqueue(message("bob", "a", "m1", 1), ROOMY)
        .await
        .unwrap()
        .id();
    store.enqueue(message("bob", "a", "m2", 2), ROOMY).await.unwrap();
    assert!(store.delivered(first).await.unwrap());
    assert!(
        !store.delivered(first).await.unwrap(),
        "a second removal reports nothing was pending"
    );
    assert_eq!(message_ids(&store.pending("bob", 10).await.unwrap()), ["m2"]);
}

#[tokio::test]
async fn same_recipient_sender_and_message_id_is_stored_once() {
    let (_dir, store) = open();
    let first = store
        .enqueue(message("bob", "sip:alice@localhost", "m1", 1), ROOMY)
        .await
        .unwrap();
    let Enqueued::Stored(id) = first else {
        panic!("first enqueue must store, got {first:?}")
    };
    let again = store
        .enqueue(message("bob", "sip:alice@localhost", "m1", 2), ROOMY)
        .await
        .unwrap();
    assert_eq!(again, Enqueued::Duplicate(id));
    // The same message id from another sender is another message.
    let other = store
        .enqueue(message("bob", "sip:carol@localhost", "m1", 3), ROOMY)
        .await
        .unwrap();
    assert!(matches!(other, Enqueued::Stored(other_id) if other_id != id));
    assert_eq!(store.pending("bob", 10).await.unwrap().len(), 2);
    // ... and so is the same message to another recipient.
    let copy = store
        .enqueue(message("carol", "sip:alice@localhost", "m1", 4), ROOMY)
        .await
        .unwrap();
    assert!(matches!(copy, Enqueued::Stored(copy_id) if copy_id != id));
    assert_eq!(store.pending("carol", 10).await.unwrap().len(), 1);
}

#[tokio::test]
async fn resend_after_delivery_is_a_duplicate_until_the_message_would_have_expired() {
    let (_dir, store) = open();
    let sent = message("bob", "a", "m1", 1_000);
    let expires = sent.expires;
    let id = store.enqueue(sent.clone(), ROOMY).await.unwrap().id();
    assert!(store.delivered(id).await.unwrap());
    assert_eq!(
        store.enqueue(sent.clone(), ROOMY).await.unwrap(),
        Enqueued::Duplicate(id)
    );
    assert!(
        store.pending("bob", 10).await.unwrap().is_empty(),
        "a duplicate of a delivered message is not re-queued"
    );
    store.expire(expires, 100).await.unwrap();
    let later = store.enqueue(sent, ROOMY).await.unwrap();
    assert!(
        matches!(later, Enqueued::Stored(new_id) if new_id != id),
        "the tombstone is forgotten after expiry"
    );
}

#[tokio::test]
async fn full_message_quota_is_a_typed_error_and_stores_nothing() {
    let (_dir, store) = open();
    let quota = Quota {
        max_messages: 2,
        max_bytes: 1 << 20,
    };
    store.enqueue(message("bob", "a", "m1", 1), quota).await.unwrap();
    let second = store
        .enqueue(message("bob", "a", "m2", 2), quota)
        .await
        .unwrap()
        .id();
    let refused = store
        .enqueue(message("bob", "a", "m3", 3), quota)
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        StoreError::QuotaExceeded {
            recipient: "bob".into(),
            limit: QuotaLimit::Messages(2)
        }
    );
    assert_eq!(
        message_ids(&store.pending("bob", 10).await.unwrap()),
        ["m1", "m2"]
    );
    // Other recipients have their own quota; delivering frees room.
    store
        .enqueue(message("carol", "a", "m4", 4), quota)
        .await
        .unwrap();
    store.delivered(second).await.unwrap();
    store.enqueue(message("bob", "a", "m3", 5), quota).await.unwrap();
    assert_eq!(
        message_ids(&store.pending("bob", 10).await.unwrap()),
        ["m1", "m3"]
    );
}

#[tokio::test]
async fn a_resend_into_a_full_mailbox_is_still_a_duplicate() {
    let (_dir, store) = open();
    let quota = Quota {
        max_messages: 1,
        max_bytes: 1 << 20,
    };
    let id = store
        .enqueue(message("bob", "a", "m1", 1), quota)
        .await
        .unwrap()
        .id();
    assert_eq!(
        store.enqueue(message("bob", "a", "m1", 2), quota).await,
        Ok(Enqueued::Duplicate(id))
    );
}

#[tokio::test]
async fn full_byte_quota_is_a_typed_error() {
    let (_dir, store) = open();
    let quota = Quota {
        max_messages: 100,
        max_bytes: 10,
    };
    let mut six = message("bob", "a", "m1", 1);
    six.body = vec![b'x'; 6];
    store.enqueue(six.clone(), quota).await.unwrap();
    six.message_id = "m2".into();
    let refused = store.enqueue(six.clone(), quota).await.unwrap_err();
    assert_eq!(
        refused,
        StoreError::QuotaExceeded {
            recipient: "bob".into(),
            limit: QuotaLimit::Bytes(10)
        }
    );
    six.body.truncate(4);
    store
        .enqueue(six, quota)
        .await
        .expect("exactly filling the quota is allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_enqueues_share_batches_without_breaking_the_quota() {
    let (_dir, store) = open();
    // As the server holds it: behind the trait object, shared by tasks.
    let store: Arc<dyn Store> = Arc::new(store);
    let quota = Quota {
        max_messages: 10,
        max_bytes: 1 << 20,
    };
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .enqueue(message("bob", "a", &format!("m{i}"), i), quota)
                    .await
            })
        })
        .collect();
    let mut stored = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(Enqueued::Stored(_)) => stored += 1,
            Err(StoreError::QuotaExceeded { .. }) => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(stored, 10);
    assert_eq!(store.pending("bob", 100).await.unwrap().len(), 10);
}

#[tokio::test]
async fn expire_returns_what_expired_oldest_expiry_first() {
    let (_dir, store) = open();
    let mut soon = message("bob", "a", "soon", 1);
    soon.expires = UnixMillis(2_000);
    let mut sooner = message("carol", "a", "sooner", 2);
    sooner.expires = UnixMillis(1_500);
    let mut later = message("bob", "a", "later", 3);
    later.expires = UnixMillis(9_000);
    for m in [soon, sooner, later] {
        store.enqueue(m, ROOMY).await.unwrap();
    }
    assert!(store.expire(UnixMillis(1_499), 10).await.unwrap().is_empty());
    let first = store.expire(UnixMillis(2_000), 1).await.unwrap();
    assert_eq!(
        message_ids(&first),
        ["sooner"],
        "limit 1 takes the earliest expiry"
    );
    let rest = store.expire(UnixMillis(2_000), 10).await.unwrap();
    assert_eq!(message_ids(&rest), ["soon"], "expiry is inclusive of `now`");
    assert_eq!(message_ids(&store.pending("bob", 10).await.unwrap()), ["later"]);
    assert!(store.pending("carol", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn messages_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        store.enqueue(message("bob", "a", "m1", 1), ROOMY).await.unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_eq!(message_ids(&store.pending("bob", 10).await.unwrap()), ["m1"]);
    // Reopening must not re-run migrations or reset the dedupe state.
    let again = store.enqueue(message("bob", "a", "m1", 2), ROOMY).await.unwrap();
    assert!(matches!(again, Enqueued::Duplicate(_)));
}

#[test]
fn file_records_the_schema_version_and_a_newer_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let conn = rusqlite::Connection::open(dir.path().join(DB_FILE_NAME)).unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page_size, 1024);
    conn.execute("UPDATE schema_version SET version = ?1", [SCHEMA_VERSION + 1])
        .unwrap();
    drop(conn);
    let refused = SqliteStore::open(dir.path())
        .err()
        .expect("a newer schema must be refused");
    assert_eq!(
        refused,
        StoreError::SchemaTooNew {
            found: SCHEMA_VERSION + 1,
            supported: SCHEMA_VERSION
        }
    );
    assert!(refused.to_string().contains("newer simple-im"));
}

#[test]
fn missing_data_directory_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a").join("b");
    let store = SqliteStore::open(&nested).unwrap();
    assert_eq!(store.path(), nested.join(DB_FILE_NAME));
    assert!(store.path().exists());
}

#[tokio::test]
async fn after_close_the_database_file_alone_holds_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        for i in 0..100 {
            store
                .enqueue(message("bob", "a", &format!("m{i}"), i), ROOMY)
                .await
                .unwrap();
        }
    }
    // Closing checkpoints the WAL into the main file, so copying that one file is a complete backup.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join(DB_FILE_NAME), copy.path().join(DB_FILE_NAME)).unwrap();
    let restored = SqliteStore::open(copy.path()).unwrap();
    assert_eq!(restored.pending("bob", 1000).await.unwrap().len(), 100);
}
