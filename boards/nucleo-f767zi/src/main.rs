//! simple-im firmware for ST's Nucleo-F767ZI (STM32F767ZI, Cortex-M7 at 216 MHz, 512 KiB RAM).
//!
//! Boot: clocks to 216 MHz, the on-board Ethernet (RMII to a LAN8742A PHY), the hardware RNG, then
//! embassy-net with DHCPv4 (or the static address of `config::ADDRESSING`), and the IM client
//! (`im_client`: register, pager, IMDN). Logs are defmt frames over RTT, which probe-rs prints while it runs the firmware; a
//! panic is logged the same way (panic-probe) and stops the core under the debugger.
//!
//! No allocator is linked: the packet buffers, the network stack's state and every socket buffer are
//! statics or live in a task's future, which the executor allocates statically.
//!
//! Module split: `board` (clocks, pins, peripherals) and `hw_rng` are the board; `config` is what a
//! deployment edits (later: provisions); `im_client` is the application, on `simple-im-embassy`.

#![no_std]
#![no_main]

mod board;
mod config;
mod hw_rng;
mod im_client;

use defmt_rtt as _;
use embassy_executor::Spawner;
use embassy_net::{Ipv4Address, Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use panic_probe as _;
use static_cell::StaticCell;

use board::EthernetDriver;
use config::Addressing;

/// Sockets: the IM client's UDP socket and DHCP's, and one spare.
const SOCKETS: usize = 3;

static NET_RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    defmt::info!("simple-im on Nucleo-F767ZI booting");
    let peripherals = embassy_stm32::init(board::clock_config());
    let mut board = board::init(peripherals);
    defmt::info!("MAC address {=[u8]:02x}", board.mac_address);

    let net_config = match config::ADDRESSING {
        Addressing::Dhcp => embassy_net::Config::dhcpv4(Default::default()),
        Addressing::Static {
            address,
            prefix_len,
            gateway,
        } => embassy_net::Config::ipv4_static(StaticConfigV4 {
            address: Ipv4Cidr::new(Ipv4Address::from(address), prefix_len),
            gateway: gateway.map(Ipv4Address::from),
            dns_servers: heapless::Vec::new(),
        }),
    };
    // The seed varies TCP initial sequence numbers and ephemeral ports between boots.
    let seed = board.rng.next_u64();
    let resources = NET_RESOURCES.init(StackResources::new());
    let (stack, runner) = embassy_net::new(board.ethernet, net_config, resources, seed);

    // Each task has one slot and is spawned once, so this fails only if a task is spawned twice.
    let spawned = net_task(runner)
        .map(|task| spawner.spawn(task))
        .and_then(|()| im_client::im_client(stack, board.rng).map(|task| spawner.spawn(task)));
    if let Err(e) = spawned {
        defmt::panic!("task not spawned: {}", e);
    }
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, EthernetDriver>) -> ! {
    runner.run().await
}
