//! Accounts and policy: user-name validation, HA1 against RFC 7616's example, the `simple-im user`
//! CLI functions, and the store's user and policy operations.

mod store_support;

use md5::Md5;
use sha2::{Digest, Sha256};
use simple_im_tokio::config::Config;
use simple_im_tokio::store::{SqliteStore, Store, StoreError, UnixMillis, UserPolicy};
use simple_im_tokio::users::{
    cli_add, cli_list, cli_policy, cli_remove, credentials, format_utc, validate_user_name, CliError,
    PolicyChange, UserNameError,
};
use store_support::{message, ROOMY};

fn config_in(dir: &std::path::Path) -> Config {
    Config::load(None, Some(&dir.join("data"))).unwrap()
}

/// A store in a fresh data directory holding one account, `alice`, added through the CLI function.
fn store_with_alice() -> (tempfile::TempDir, Config, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    cli_add(&config, "alice", "pw", None).unwrap();
    let store = SqliteStore::open(&config.data_dir).unwrap();
    (dir, config, store)
}

fn hex_digest<D: Digest>(text: &str) -> String {
    D::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// RFC 7616 section 3.9.1: the HA1 we store, combined as the RFC's `qop=auth` response, must give the
/// responses printed in the example.
fn rfc7616_response<D: Digest>(ha1: &str) -> String {
    let ha2 = hex_digest::<D>("GET:/dir/index.html");
    hex_digest::<D>(&format!(
        "{ha1}:7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v:00000001:f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ:auth:{ha2}"
    ))
}

#[test]
fn rfc7616_s3_9_1_md5_and_sha256() {
    let creds = credentials("Mufasa", "http-auth@example.org", "Circle of Life");
    assert_eq!(creds.realm, "http-auth@example.org");
    assert_eq!(
        rfc7616_response::<Md5>(&creds.ha1_md5),
        "8ca523f5e9506fed4657c9700eebdbec"
    );
    assert_eq!(
        rfc7616_response::<Sha256>(&creds.ha1_sha256),
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
}

#[test]
fn user_names_follow_the_sip_user_part_grammar() {
    for good in [
        "alice",
        "bob.smith",
        "a-b_c!~*'()",
        "x&=+$,;?/",
        "0123",
        &"a".repeat(64),
    ] {
        assert_eq!(validate_user_name(good), Ok(()), "{good}");
    }
    let bad = [
        ("", UserNameError::Empty),
        (&*"a".repeat(65), UserNameError::TooLong { len: 65 }),
        ("alice@localhost", UserNameError::NotJustTheUserPart),
        ("sip:alice", UserNameError::NotJustTheUserPart),
        ("%61lice", UserNameError::PercentEscape),
        ("al ice", UserNameError::InvalidChar { ch: ' ', position: 2 }),
        ("alice:pw", UserNameError::InvalidChar { ch: ':', position: 5 }),
        (
            "émile",
            UserNameError::InvalidChar {
                ch: 'é', position: 0
            },
        ),
        (
            "a\r\nb",
            UserNameError::InvalidChar {
                ch: '\r',
                position: 1,
            },
        ),
    ];
    for (name, expected) in bad {
        assert_eq!(validate_user_name(name), Err(expected), "{name:?}");
    }
}

#[test]
fn created_times_print_as_utc() {
    assert_eq!(format_utc(UnixMillis(0)), "1970-01-01T00:00:00Z");
    assert_eq!(format_utc(UnixMillis(951_782_400_000)), "2000-02-29T00:00:00Z");
    assert_eq!(format_utc(UnixMillis(1_700_000_000_999)), "2023-11-14T22:13:20Z");
    assert_eq!(format_utc(UnixMillis(4_107_542_399_000)), "2100-02-28T23:59:59Z");
}

#[test]
fn cli_add_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    assert_eq!(
        cli_list(&config).unwrap(),
        "",
        "the data directory is created, empty"
    );
    assert!(config.db_path().exists());

    assert_eq!(
        cli_add(&config, "bob", "pw2", None).unwrap(),
        "added user bob (sip:bob@localhost)\n"
    );
    cli_add(&config, "alice", "pw1", Some("Alice Liddell")).unwrap();
    let listing = cli_list(&config).unwrap();
    let rows: Vec<Vec<&str>> = listing.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0][..2], ["alice", "Alice Liddell"]);
    assert_eq!(rows[1][..2], ["bob", ""]);
    assert!(
        rows.iter().all(|r| r.len() == 3 && r[2].ends_with('Z')),
        "{listing}"
    );

    assert_eq!(cli_remove(&config, "alice").unwrap(), "removed user alice\n");
    assert!(cli_list(&config).unwrap().starts_with("bob\t"));
    assert_eq!(cli_list(&config).unwrap().lines().count(), 1);
}

#[test]
fn cli_refuses_existing_missing_and_invalid_users() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    cli_add(&config, "alice", "pw", None).unwrap();
    let exists = cli_add(&config, "alice", "other", None).unwrap_err();
    assert_eq!(exists, CliError::Store(StoreError::UserExists("alice".into())));
    assert!(exists.to_string().contains("already exists"));
    let missing = cli_remove(&config, "nobody").unwrap_err();
    assert_eq!(missing, CliError::Store(StoreError::NoSuchUser("nobody".into())));
    assert!(missing.to_string().contains("nobody"));
    assert_eq!(
        cli_add(&config, "a b", "pw", None),
        Err(CliError::InvalidName(UserNameError::InvalidChar {
            ch: ' ',
            position: 1
        }))
    );
    assert_eq!(cli_add(&config, "carol", "", None), Err(CliError::EmptyPassword));
    assert_eq!(
        cli_list(&config).unwrap().lines().count(),
        1,
        "failed adds store nothing"
    );
}

#[tokio::test]
async fn cli_stores_hashes_for_the_configured_domain_never_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        domain: "example.com".into(),
        ..config_in(dir.path())
    };
    cli_add(&config, "alice", "s3cret-Pa55", Some("Alice")).unwrap();
    let store = SqliteStore::open(&config.data_dir).unwrap();
    let alice = store.user("alice").await.unwrap().expect("alice exists");
    assert_eq!(
        alice.credentials,
        credentials("alice", "example.com", "s3cret-Pa55")
    );
    assert_eq!(
        alice.credentials.ha1_md5,
        hex_digest::<Md5>("alice:example.com:s3cret-Pa55")
    );
    assert_eq!(alice.credentials.ha1_sha256.len(), 64);
    drop(store);
    let file = std::fs::read(config.db_path()).unwrap();
    let wal = std::fs::read(config.data_dir.join("simple-im.db-wal")).unwrap_or_default();
    let needle = b"s3cret-Pa55";
    for bytes in [&file, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the password must not be on disk"
        );
    }
}

#[tokio::test]
async fn a_running_store_sees_users_added_by_another_process_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_in(dir.path());
    let server = SqliteStore::open(&config.data_dir).unwrap();
    assert_eq!(server.user("dave").await.unwrap(), None);
    cli_add(&config, "dave", "pw", Some("Dave")).unwrap();
    let dave = server
        .user("dave")
        .await
        .unwrap()
        .expect("visible without reopening");
    assert_eq!(dave.display_name, "Dave");
    assert_eq!(server.users_by_display_name("Dave").await.unwrap(), [dave]);
    cli_remove(&config, "dave").unwrap();
    tokio::time::sleep(SqliteStore::OUTSIDE_CHANGES_SEEN_WITHIN).await;
    assert_eq!(server.user("dave").await.unwrap(), None);
}

#[tokio::test]
async fn a_running_store_sees_its_own_writes_at_once_even_between_polls() {
    let (_dir, _config, store) = store_with_alice();
    assert_eq!(store.policy("alice").await.unwrap(), UserPolicy::default());
    let barred = UserPolicy {
        incoming_barred: true,
        ..UserPolicy::default()
    };
    // Back to back, far inside one poll interval: only the writer's commit counter can tell.
    store.set_policy("alice", barred.clone()).await.unwrap();
    assert_eq!(store.policy("alice").await.unwrap(), barred);
    store.remove_user("alice").await.unwrap();
    assert_eq!(store.user("alice").await.unwrap(), None);
}

#[tokio::test]
async fn policy_round_trips_and_defaults_to_open() {
    let (_dir, _config, store) = store_with_alice();
    assert_eq!(store.policy("alice").await.unwrap(), UserPolicy::default());
    let policy = UserPolicy {
        blocked: vec!["sip:spam@evil.example".into(), "sip:ads@evil.example".into()],
        granted: vec!["sip:boss@localhost".into()],
        incoming_barred: true,
        store_pager_messages: true,
    };
    store.set_policy("alice", policy.clone()).await.unwrap();
    assert_eq!(
        store.policy("alice").await.unwrap(),
        policy,
        "lists keep their order"
    );
    let shorter = UserPolicy {
        blocked: vec!["sip:ads@evil.example".into()],
        ..UserPolicy::default()
    };
    store.set_policy("alice", shorter.clone()).await.unwrap();
    assert_eq!(
        store.policy("alice").await.unwrap(),
        shorter,
        "set_policy replaces the whole policy"
    );
    assert_eq!(
        store.set_policy("ghost", policy).await,
        Err(StoreError::NoSuchUser("ghost".into()))
    );
}

#[tokio::test]
async fn removing_a_user_drops_its_policy_and_pending_messages() {
    let (_dir, config, store) = store_with_alice();
    store
        .set_policy(
            "alice",
            UserPolicy {
                incoming_barred: true,
                ..UserPolicy::default()
            },
        )
        .await
        .unwrap();
    store
        .enqueue(message("alice", "sip:bob@localhost", "m1", 1), ROOMY)
        .await
        .unwrap();
    store
        .enqueue(message("carol", "sip:bob@localhost", "m2", 2), ROOMY)
        .await
        .unwrap();
    store.remove_user("alice").await.unwrap();
    cli_add(&config, "alice", "pw", None).unwrap();
    assert_eq!(store.policy("alice").await.unwrap(), UserPolicy::default());
    assert!(store.pending("alice", 10).await.unwrap().is_empty());
    assert_eq!(
        store.pending("carol", 10).await.unwrap().len(),
        1,
        "other mailboxes are untouched"
    );
}

#[test]
fn cli_policy_applies_changes_in_order_and_shows_the_result() {
    let (_dir, config, _store) = store_with_alice();
    let shown = cli_policy(&config, "alice", &[]).unwrap();
    assert_eq!(
        shown,
        "user alice\nincoming IM barred: no\nstore pager messages: no\n"
    );
    let changes = [
        PolicyChange::Block("sip:spam@evil.example".into()),
        PolicyChange::Block("sip:ads@evil.example".into()),
        PolicyChange::Block("sip:spam@evil.example".into()),
        PolicyChange::Unblock("sip:ads@evil.example".into()),
        PolicyChange::Grant("tel:+15551234".into()),
        PolicyChange::BarIncoming(true),
        PolicyChange::StorePagerMessages(true),
    ];
    let shown = cli_policy(&config, "alice", &changes).unwrap();
    assert_eq!(
        shown,
        "user alice\nincoming IM barred: yes\nstore pager messages: yes\n\
         blocked: sip:spam@evil.example\ngranted: tel:+15551234\n"
    );
    assert_eq!(
        cli_policy(&config, "alice", &[]).unwrap(),
        shown,
        "the changes are stored"
    );
}

#[test]
fn cli_policy_refuses_unknown_users_and_non_uris() {
    let (_dir, config, _store) = store_with_alice();
    assert_eq!(
        cli_policy(&config, "ghost", &[]),
        Err(CliError::Store(StoreError::NoSuchUser("ghost".into())))
    );
    for bad in ["bob@example.com", "sip:", "sip:a b@c", "http://x"] {
        let refused = cli_policy(&config, "alice", &[PolicyChange::Block(bad.into())]);
        assert_eq!(refused, Err(CliError::InvalidUri(bad.into())), "{bad}");
    }
    assert!(
        cli_policy(&config, "alice", &[])
            .unwrap()
            .ends_with("store pager messages: no\n"),
        "nothing changed"
    );
}

#[tokio::test]
async fn a_running_store_sees_policy_changes_by_another_process_within_the_poll_interval() {
    let (_dir, config, store) = store_with_alice();
    assert_eq!(store.policy("alice").await.unwrap(), UserPolicy::default());
    assert_eq!(
        store.policy("alice").await.unwrap(),
        UserPolicy::default(),
        "read again (from memory)"
    );
    cli_policy(&config, "alice", &[PolicyChange::BarIncoming(true)]).unwrap();
    tokio::time::sleep(SqliteStore::OUTSIDE_CHANGES_SEEN_WITHIN).await;
    assert!(
        store.policy("alice").await.unwrap().incoming_barred,
        "visible without reopening"
    );
    assert!(store.user("alice").await.unwrap().is_some());
    cli_remove(&config, "alice").unwrap();
    tokio::time::sleep(SqliteStore::OUTSIDE_CHANGES_SEEN_WITHIN).await;
    assert_eq!(
        store.user("alice").await.unwrap(),
        None,
        "a cached account goes with its removal"
    );
}
