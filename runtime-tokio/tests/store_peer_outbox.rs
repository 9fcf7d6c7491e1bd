//! The store's outbound queue of server-originated MESSAGEs to `[[peers]]` domains, on real files.

use simple_im_tokio::store::{NewPeerMessage, SqliteStore, Store, UnixMillis, DB_FILE_NAME, SCHEMA_VERSION};

fn row(domain: &str, user: &str, message_id: &str) -> NewPeerMessage {
    NewPeerMessage {
        domain: domain.into(),
        destination: format!("sip:{user}@{domain}"),
        from_uri: "sip:alice@localhost".into(),
        message_id: message_id.into(),
        dedupe_key: format!("Delivered-{user}-im-{message_id}"),
        content_type: "message/cpim".into(),
        body: format!("notification {message_id}").into_bytes(),
        queued: UnixMillis(1_000),
        expires: UnixMillis(100_000),
    }
}

/// `(domain, message_id)` of each domain's head.
async fn heads(store: &SqliteStore) -> Vec<(String, String)> {
    let heads = store.peer_message_heads().await.unwrap();
    heads
        .into_iter()
        .map(|h| (h.message.domain, h.message.message_id))
        .collect()
}

#[tokio::test]
async fn each_domain_is_sent_oldest_first_and_a_row_stays_until_done() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    for (domain, id) in [("b.test", "n1"), ("c.test", "n2"), ("b.test", "n3")] {
        assert!(store.queue_peer_message(row(domain, "carol", id)).await.unwrap());
    }
    let first = store.peer_message_heads().await.unwrap();
    assert_eq!(
        heads(&store).await,
        [("b.test".into(), "n1".into()), ("c.test".into(), "n2".into())]
    );
    let n1 = &first[0];
    assert_eq!(
        (n1.attempts, n1.next_attempt),
        (0, UnixMillis(1_000)),
        "due at once"
    );
    assert_eq!(n1.message, row("b.test", "carol", "n1"));

    store
        .peer_message_retry(n1.id, 1, UnixMillis(2_000))
        .await
        .unwrap();
    let retried = store.peer_message_heads().await.unwrap();
    assert_eq!(
        (retried[0].attempts, retried[0].next_attempt),
        (1, UnixMillis(2_000))
    );

    assert!(store.peer_message_done(n1.id).await.unwrap());
    assert!(!store.peer_message_done(n1.id).await.unwrap(), "gone already");
    assert_eq!(
        heads(&store).await,
        [("c.test".into(), "n2".into()), ("b.test".into(), "n3".into())]
    );
}

#[tokio::test]
async fn a_notification_queued_twice_is_kept_once_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(store
        .queue_peer_message(row("b.test", "carol", "n1"))
        .await
        .unwrap());
    let first = store.peer_message_heads().await.unwrap();
    store
        .peer_message_retry(first[0].id, 3, UnixMillis(9_000))
        .await
        .unwrap();
    // The same notification rebuilt with a new Message-ID (a push repeated after a crash) leaves
    // the row as it was.
    let rebuilt = NewPeerMessage {
        message_id: "n1-rebuilt".into(),
        ..row("b.test", "carol", "n1")
    };
    assert!(!store.queue_peer_message(rebuilt).await.unwrap());
    // The same notified message for another user is another row.
    assert!(store
        .queue_peer_message(row("b.test", "dave", "n1"))
        .await
        .unwrap());
    drop(store);

    let store = SqliteStore::open(dir.path()).unwrap();
    let reopened = store.peer_message_heads().await.unwrap();
    assert_eq!(reopened.len(), 1);
    assert_eq!((reopened[0].id, reopened[0].attempts), (first[0].id, 3));
    assert_eq!(reopened[0].next_attempt, UnixMillis(9_000));
}

/// A file of the previous schema version (4) gets the table, its other data kept.
#[tokio::test]
async fn a_version_4_file_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    drop(SqliteStore::open(dir.path()).unwrap());
    let path = dir.path().join(DB_FILE_NAME);
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE peer_outbox; UPDATE schema_version SET version = 4;
             INSERT INTO imdn_routes (route, message_id, value, expires_ms) VALUES ('r', 'm', 'v', 1);",
        )
        .unwrap();
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert!(store
        .queue_peer_message(row("b.test", "carol", "n1"))
        .await
        .unwrap());
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let routes: i64 = conn
        .query_row("SELECT count(*) FROM imdn_routes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(routes, 1);
}
