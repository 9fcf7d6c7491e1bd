//! The client's provisioning format (postcard) and its memory footprint.

use simple_im_core::client::{
    Client, ClientConfig, ConfigError, PagerClient, StoredSecret, TransportKind, CHAT_CLIENT_RAM_BUDGET,
    CLIENT_RAM_BUDGET,
};
use simple_im_core::sim::SimRng;
use simple_im_core::time::Instant;

fn provisioned() -> ClientConfig {
    let mut c = ClientConfig::new(
        "im.example.com:5060",
        TransportKind::Tcp,
        "sip:alice@example.com",
        "alice",
        "pw",
    )
    .unwrap()
    .with_display_name("Alice's sensor")
    .unwrap()
    .with_ha1("a2f6c4e1d9b3a2f6c4e1d9b3a2f6c4e1d9b3a2f6c4e1d9b3a2f6c4e1d9b3a2f6")
    .unwrap();
    c.registration_expiry_s = 7200;
    c.t1_ms = 250;
    c.limits.max_pager_size = 4000;
    c.limits.max_chat_sessions = 2;
    c.incoming_im_barred = true;
    c
}

#[test]
fn postcard_round_trip_keeps_every_field() {
    let config = provisioned();
    let mut flash = [0u8; 512];
    let stored = config.to_postcard(&mut flash).unwrap().to_vec();
    println!("postcard config: {} bytes", stored.len());
    assert!(
        stored.len() < 256,
        "fits a small flash page: {} bytes",
        stored.len()
    );
    assert_eq!(ClientConfig::from_postcard(&stored).unwrap(), config);
    assert!(matches!(config.secret, StoredSecret::Ha1(_)));
}

#[test]
fn postcard_errors_are_typed() {
    let config = provisioned();
    let mut small = [0u8; 16];
    assert_eq!(config.to_postcard(&mut small), Err(ConfigError::BufferTooSmall));
    let mut flash = [0u8; 512];
    let stored = config.to_postcard(&mut flash).unwrap().to_vec();
    assert_eq!(
        ClientConfig::from_postcard(&stored[..stored.len() / 2]),
        Err(ConfigError::Corrupt)
    );
    assert_eq!(ClientConfig::from_postcard(&[0xff; 8]), Err(ConfigError::Corrupt));
    let long = "x".repeat(100);
    assert_eq!(
        ClientConfig::new(&long, TransportKind::Udp, "sip:a@b", "a", "p"),
        Err(ConfigError::TooLong("server"))
    );
}

#[test]
fn client_with_default_capacities_fits_the_ram_budget() {
    let pager = core::mem::size_of::<PagerClient<SimRng, [u8; 6]>>();
    let with_chat = core::mem::size_of::<Client<SimRng, [u8; 6]>>();
    println!("PagerClient (no session mode), host 64-bit: {pager} bytes");
    println!("Client with one chat session, host 64-bit: {with_chat} bytes");
    assert!(pager <= CLIENT_RAM_BUDGET, "{pager} bytes");
    assert!(with_chat <= CHAT_CLIENT_RAM_BUDGET, "{with_chat} bytes");
    type DeviceClient = Client<SimRng, [u8; 6]>;
    let client: DeviceClient = Client::new(provisioned(), Instant::ZERO, SimRng::new(1));
    assert!(client.is_barred(), "barring comes from the provisioned config");
}
