//! Registration of the IM client against the in-test registrar, row by row of the state table in
//! `client::registration`.

mod client_harness;

use client_harness::{config, World};
use simple_im_core::client::{ClientEvent, RegistrationState};
use simple_im_core::sim::LinkConfig;
use simple_im_core::time::Instant;

fn registered_world() -> World {
    let mut w = World::new(config(), LinkConfig::PERFECT, 1);
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(2);
    w
}

#[test]
fn registering_401_unauthenticated_resends_with_credentials_then_2xx_registers() {
    let w = registered_world();
    let auth: Vec<bool> = w.server.registers.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        auth,
        vec![false, true],
        "first REGISTER bare, second with valid credentials"
    );
    assert_eq!(w.events(), vec![ClientEvent::Registered { expires: 600 }]);
    assert_eq!(w.client.registration_state(), RegistrationState::Registered);
}

#[test]
fn registered_refresh_time_sends_register_at_half_the_granted_time() {
    let mut w = World::new(config(), LinkConfig::PERFECT, 2);
    w.server.granted = 200; // below the 5-minute nonce lifetime: the cached nonce is still good
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(2);
    let registered_at = w
        .seen
        .iter()
        .find(|(_, s)| matches!(s, client_harness::Seen::Other(ClientEvent::Registered { .. })))
        .unwrap()
        .0;
    w.run_for_secs(150);
    assert_eq!(w.server.registers.len(), 3, "one refresh within 150 s");
    let (refresh_sent, authed) = w.server.registers[2];
    // The registrar sees it one link delay (10 ms) after the client sends it at registered_at + 100 s.
    assert_eq!(refresh_sent.as_millis(), registered_at.as_millis() + 100_000 + 10);
    assert!(
        authed,
        "the refresh reuses the cached challenge with the next nonce count"
    );
    assert_eq!(w.events().len(), 2, "{:?}", w.events());
}

#[test]
fn registering_401_stale_after_nonce_expiry_answers_the_new_challenge() {
    let mut w = registered_world(); // granted 600 s: refresh at 300 s, when the 5-minute nonce is stale
    w.run_for_secs(310);
    let auth: Vec<bool> = w.server.registers.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        auth,
        vec![false, true, false, true],
        "stale refresh, then fresh credentials"
    );
    assert_eq!(
        w.events(),
        vec![
            ClientEvent::Registered { expires: 600 },
            ClientEvent::Registered { expires: 600 }
        ]
    );
}

#[test]
fn registering_401_after_credentials_fails_and_retries_after_backoff() {
    let mut cfg = config();
    cfg.secret = simple_im_core::client::StoredSecret::Password("wrong".try_into().unwrap());
    let mut w = World::new(cfg, LinkConfig::PERFECT, 3);
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(2);
    assert_eq!(w.events(), vec![ClientEvent::RegistrationFailed { status: 401 }]);
    assert_eq!(w.client.registration_state(), RegistrationState::RetryWait);
    assert_eq!(w.server.registers.len(), 2);
    w.run_for_secs(27); // t = 29 s
    assert_eq!(w.server.registers.len(), 2, "no retry before the 30 s backoff");
    w.run_for_secs(2); // t = 31 s
    assert_eq!(
        w.server.registers.len(),
        4,
        "retry (bare, then with credentials) after 30 s"
    );
    w.run_for_secs(58); // t = 89 s
    assert_eq!(w.server.registers.len(), 4, "the backoff doubled to 60 s");
    w.run_for_secs(2); // t = 91 s
    assert_eq!(w.server.registers.len(), 6, "second retry 60 s after the first");
}

#[test]
fn registering_timer_f_reports_408_and_schedules_a_retry() {
    let mut w = World::new(
        config(),
        LinkConfig::lossy(
            100,
            core::time::Duration::from_millis(5),
            core::time::Duration::from_millis(5),
        ),
        4,
    );
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(40);
    assert_eq!(w.events(), vec![ClientEvent::RegistrationFailed { status: 408 }]);
    assert!(
        w.up.stats().sent >= 10,
        "UDP retransmissions (timer E): {:?}",
        w.up.stats()
    );
    assert!(w.client.poll_timeout().is_some());
}

#[test]
fn any_unregister_sends_expires_zero_and_reports_unregistered() {
    let mut w = registered_world();
    let now = w.now();
    w.client.unregister(now).unwrap();
    w.run_for_secs(2);
    assert_eq!(w.events().last(), Some(&ClientEvent::Unregistered));
    assert_eq!(w.client.registration_state(), RegistrationState::Idle);
    w.run_for_secs(1000);
    assert_eq!(w.server.registers.len(), 3, "no refresh after unregistering");
    let _ = Instant::ZERO;
}

#[test]
fn registered_2xx_listing_other_devices_first_reports_our_own_binding_expiry() {
    let mut w = World::new(config(), LinkConfig::PERFECT, 5);
    w.server.other_bindings = vec!["<sip:alice@10.9.9.9:5062;transport=udp>;expires=17".to_string()];
    w.server.granted = 900;
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(2);
    assert_eq!(w.events(), vec![ClientEvent::Registered { expires: 900 }]);
}

#[test]
fn unregistering_with_a_nonce_the_registrar_forgot_answers_its_fresh_challenge() {
    let mut w = World::new(config(), LinkConfig::PERFECT, 6);
    w.server.granted = 3600; // no refresh before the un-REGISTER
    w.server.forget_nonces = true;
    let now = w.now();
    w.client.register(now).unwrap();
    w.run_for_secs(310); // past the 5-minute nonce lifetime
    let now = w.now();
    w.client.unregister(now).unwrap();
    w.run_for_secs(2);
    let auth: Vec<bool> = w.server.registers.iter().map(|(_, a)| *a).collect();
    assert_eq!(
        auth,
        vec![false, true, false, true],
        "the un-REGISTER is sent again with the new nonce"
    );
    assert_eq!(w.events().last(), Some(&ClientEvent::Unregistered));
}
