//! pjsua2 clients against the real `simple-im server` (issue 4 acceptance): two accounts register
//! with digest auth and exchange a MESSAGE in each direction.

use simple_im_tests::peers::pjsua::run_exchange;
use simple_im_tests::peers::server::start_with_users;
use std::time::Duration;

fn exchange_over(transport: &str) {
    let server = start_with_users(
        &format!("pjsua2-{transport}"),
        &[("alice", "alice-pw"), ("bob", "bob-pw")],
        |_| {},
    );
    let args = [
        "--server".to_string(),
        server.addr(),
        "--transport".into(),
        transport.into(),
        "--alice".into(),
        "alice:alice-pw".into(),
        "--bob".into(),
        "bob:bob-pw".into(),
    ];
    let (code, output) = run_exchange(&args, Duration::from_secs(20));
    assert_eq!(
        code,
        Some(0),
        "pjsua2 exchange over {transport} failed (exit {code:?}):\n{output}\n--- server:\n{}",
        server.output()
    );
}

#[test]
fn two_pjsua2_accounts_register_and_exchange_messages_both_ways_over_udp() {
    exchange_over("udp");
}

/// Responses and relayed requests must use the clients' own TCP connections.
#[test]
fn two_pjsua2_accounts_register_and_exchange_messages_both_ways_over_tcp() {
    exchange_over("tcp");
}
