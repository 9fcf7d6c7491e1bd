//! Pre-defined groups in the store and the `simple-im group` CLI functions: durable round trip,
//! member order, the maximum enforced, names shared with accounts refused, unknown owners refused.

use simple_im_tokio::config::Config;
use simple_im_tokio::server::groups::cli::{cli_add, cli_list, cli_member, cli_remove};
use simple_im_tokio::store::{Group, ImdnRoute, InvitePolicy, SqliteStore, Store, StoreError, UnixMillis};
use simple_im_tokio::users::{cli_add as add_user, CliError};

fn setup() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load(None, Some(&dir.path().join("data"))).unwrap();
    for name in ["alice", "bob", "carol"] {
        add_user(&config, name, "pw", None).unwrap();
    }
    (dir, config)
}

fn new_group(name: &str, max: u32, members: &[&str]) -> Group {
    Group {
        name: name.into(),
        owner: "alice".into(),
        private: true,
        may_invite: InvitePolicy::Members,
        max_participants: max,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
        created: UnixMillis::now(),
    }
}

#[tokio::test]
async fn group_round_trips_through_a_reopened_store_with_members_in_order() {
    let (_dir, config) = setup();
    assert_eq!(
        cli_add(&config, new_group("team", 0, &["bob", "alice"])).unwrap(),
        "added group team (sip:team@localhost)\n"
    );
    assert_eq!(
        cli_member(&config, "team", "carol", true).unwrap(),
        "added carol to group team\n"
    );
    assert_eq!(
        cli_member(&config, "team", "carol", true).unwrap(),
        "carol is already a member of group team\n"
    );
    let store = SqliteStore::open(&config.data_dir).unwrap();
    let group = store.group("team").await.unwrap().expect("stored");
    assert_eq!(group.owner, "alice");
    assert!(group.private);
    assert_eq!(group.may_invite, InvitePolicy::Members);
    assert_eq!(group.members, ["bob", "alice", "carol"]);
    assert_eq!(
        cli_list(&config).unwrap(),
        "team\talice\tprivate\tinvite=members\tmax=0\tbob alice carol\n"
    );
    assert_eq!(
        cli_member(&config, "team", "bob", false).unwrap(),
        "removed bob from group team\n"
    );
    assert_eq!(
        cli_member(&config, "team", "bob", false).unwrap(),
        "bob was not a member of group team\n"
    );
    assert_eq!(
        store.group("team").await.unwrap().unwrap().members,
        ["alice", "carol"]
    );
    assert_eq!(cli_remove(&config, "team").unwrap(), "removed group team\n");
    assert_eq!(store.group("team").await.unwrap(), None);
    assert!(matches!(
        cli_remove(&config, "team"),
        Err(CliError::Store(StoreError::NoSuchGroup(_)))
    ));
}

#[tokio::test]
async fn maximum_participants_is_enforced_on_create_and_on_add() {
    let (_dir, config) = setup();
    assert!(matches!(
        cli_add(&config, new_group("small", 1, &["bob", "carol"])),
        Err(CliError::Store(StoreError::GroupFull { max: 1, .. }))
    ));
    cli_add(&config, new_group("small", 2, &["bob"])).unwrap();
    cli_member(&config, "small", "carol", true).unwrap();
    let refused = cli_member(&config, "small", "alice", true).unwrap_err();
    assert_eq!(
        refused.to_string(),
        "group 'small' already has its maximum of 2 participants"
    );
}

#[tokio::test]
async fn group_names_never_shadow_accounts_and_owners_must_exist() {
    let (_dir, config) = setup();
    assert!(matches!(
        cli_add(&config, new_group("bob", 0, &[])),
        Err(CliError::Store(StoreError::GroupExists(_)))
    ));
    cli_add(&config, new_group("team", 0, &[])).unwrap();
    assert!(matches!(
        cli_add(&config, new_group("team", 0, &[])),
        Err(CliError::Store(StoreError::GroupExists(_)))
    ));
    let mut orphan = new_group("orphans", 0, &[]);
    orphan.owner = "nobody".into();
    assert!(matches!(
        cli_add(&config, orphan),
        Err(CliError::Store(StoreError::NoSuchUser(_)))
    ));
    assert!(matches!(
        cli_member(&config, "missing", "bob", true),
        Err(CliError::Store(StoreError::NoSuchGroup(_)))
    ));
    assert!(matches!(
        cli_add(&config, new_group("bad name", 0, &[])),
        Err(CliError::InvalidName(_))
    ));
}

/// The notification routes of group and list messages: durable across a reopen, replaced by a
/// second write, invisible once expired, forgotten on request, and bounded with the
/// soonest-expiring evicted first.
#[tokio::test]
async fn imdn_routes_survive_a_reopen_expire_and_stay_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let route = |id: &str, value: &str, expires: u64| ImdnRoute {
        route: "team@localhost".into(),
        message_id: id.into(),
        value: value.into(),
        expires: UnixMillis(expires),
    };
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        let now = UnixMillis(1_000);
        store
            .remember_imdn_route(route("m1", "first", 5_000), now)
            .await
            .unwrap();
        store
            .remember_imdn_route(route("m1", "sip:alice@localhost", 9_000), now)
            .await
            .unwrap();
        store
            .remember_imdn_route(route("m2", "sip:bob@localhost", 2_000), now)
            .await
            .unwrap();
        store
            .remember_imdn_route(route("m3", "sip:carol@localhost", 9_000), now)
            .await
            .unwrap();
    }
    let store = std::sync::Arc::new(SqliteStore::open(dir.path()).unwrap());
    let now = UnixMillis(3_000);
    assert_eq!(
        store.imdn_route("team@localhost", "m1", now).await.unwrap(),
        Some(("sip:alice@localhost".to_owned(), UnixMillis(9_000)))
    );
    assert_eq!(
        store.imdn_route("team@localhost", "m2", now).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        store.imdn_route("other@localhost", "m1", now).await.unwrap(),
        None
    );
    store.forget_imdn_route("team@localhost", "m3").await.unwrap();
    assert_eq!(store.imdn_route("team@localhost", "m3", now).await.unwrap(), None);

    // Past the bound the soonest-expiring rows go: write bound + 1 more rows expiring later than m1.
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..20_481u64 {
        let store = store.clone();
        let row = route(&format!("bulk{i}"), "sip:x@localhost", 10_000 + i);
        writes.spawn(async move { store.remember_imdn_route(row, now).await.unwrap() });
    }
    while let Some(done) = writes.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        store.imdn_route("team@localhost", "m1", now).await.unwrap(),
        None,
        "evicted first"
    );
    assert!(store
        .imdn_route("team@localhost", "bulk20480", now)
        .await
        .unwrap()
        .is_some());
}
