//! simple-im firmware for QEMU's mps2-an385 (Cortex-M3) and mps2-an386 (Cortex-M4F).
//!
//! Boot: SysTick time driver, LAN9118 Ethernet, embassy-net with the static address 10.0.2.15/24 and
//! gateway 10.0.2.2, then the IM client demo (`demo`), all on a WFI-sleeping executor. Logs are defmt
//! frames written to the host over semihosting (decode with `defmt-print`), and the run ends with a
//! semihosting exit whose status QEMU passes on. No allocator is linked: every buffer is static or
//! lives in a task's statically allocated future.
//!
//! Module split (kept for `cargo xtask size`, which attributes symbols by path): `lan9118`,
//! `time_driver`, `executor`, `semihosting` and `rng` are the board; `demo` is the application on top
//! of `simple_im_embassy` and `simple_im_core`; `embassy_net`/`smoltcp` symbols are the network stack.

#![no_std]
#![no_main]

mod demo;
mod executor;
mod lan9118;
mod provisioning;
mod rng;
mod semihosting;
mod time_driver;

use cortex_m::peripheral::NVIC;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use defmt_semihosting as _;
use embassy_net::{Ipv4Cidr, Runner, StackResources, StaticConfigV4};
use lan9118::Lan9118;
use static_cell::StaticCell;

/// Sockets: the demo's UDP socket plus one spare.
const SOCKETS: usize = demo::DEMO_SOCKETS + 1;
/// QEMU offers no entropy source; the seed only varies TCP initial sequence numbers and ports.
const NET_RANDOM_SEED: u64 = 0x5349_4D50_4C45_494D;

defmt::timestamp!("{=u64:ms}", embassy_time::Instant::now().as_millis());

/// The LAN9118 line, for the NVIC (no PAC describes the mps2 interrupts).
#[derive(Clone, Copy)]
struct EthernetIrq;

// SAFETY: 13 is the LAN9118's NVIC line on mps2-an385/an386 and a valid interrupt number.
unsafe impl cortex_m::interrupt::InterruptNumber for EthernetIrq {
    fn number(self) -> u16 {
        lan9118::LAN9118_IRQ
    }
}

static EXECUTOR: StaticCell<executor::Executor> = StaticCell::new();
static NET_RESOURCES: StaticCell<StackResources<SOCKETS>> = StaticCell::new();

#[entry]
fn main() -> ! {
    defmt::info!("simple-im firmware booting");
    let Some(core) = cortex_m::Peripherals::take() else {
        defmt::error!("core peripherals already taken");
        semihosting::exit_failure();
    };
    time_driver::init(core.SYST);

    // SAFETY: LAN9118_BASE is the controller on these boards and this is the only driver for it.
    let ethernet = match unsafe { Lan9118::new(lan9118::LAN9118_BASE) } {
        Ok(driver) => driver,
        Err(e) => {
            defmt::error!("Ethernet init failed: {}", e);
            semihosting::exit_failure();
        }
    };
    // SAFETY: the handler (DefaultHandler below) and the driver's waker are ready, so unmasking the
    // line cannot run a handler against uninitialised state.
    unsafe { NVIC::unmask(EthernetIrq) };

    let config = embassy_net::Config::ipv4_static(StaticConfigV4 {
        address: Ipv4Cidr::new(demo::DEVICE_IP, 24),
        gateway: Some(demo::HOST_IP),
        dns_servers: heapless::Vec::new(),
    });
    let mac = match embassy_net_driver::Driver::hardware_address(&ethernet) {
        embassy_net_driver::HardwareAddress::Ethernet(mac) => mac,
        _ => [0; 6],
    };
    let Some(demo_config) = demo::config() else {
        semihosting::exit_failure();
    };
    // The SysTick count after the Ethernet reset varies with host timing (QEMU's SysTick follows host
    // time), and the embassy tick count with it: the RNG seed, with the MAC.
    let boot_ticks = cortex_m::peripheral::SYST::get_current()
        ^ (embassy_time::Instant::now().as_ticks() as u32).rotate_left(16);
    let rng = rng::DemoRng::seeded(boot_ticks, mac);
    let resources = NET_RESOURCES.init(StackResources::new());
    let (stack, runner) = embassy_net::new(ethernet, config, resources, NET_RANDOM_SEED);

    EXECUTOR.init(executor::Executor::new()).run(|spawner| {
        let mut spawned = net_task(runner).map(|t| spawner.spawn(t)).is_ok();
        spawned &= demo::im_client(stack, demo_config, rng)
            .map(|t| spawner.spawn(t))
            .is_ok();
        if !spawned {
            defmt::error!("a task could not be spawned");
            semihosting::exit_failure();
        }
    })
}

#[embassy_executor::task]
async fn net_task(mut runner: Runner<'static, Lan9118>) -> ! {
    runner.run().await
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    if irqn == lan9118::LAN9118_IRQ as i16 {
        lan9118::on_interrupt();
    } else {
        defmt::error!("unexpected interrupt {=i16}", irqn);
        semihosting::exit_failure();
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!("HardFault at pc {=u32:#x}", frame.pc());
    semihosting::exit_failure();
}

/// Logs where the panic happened (not the message: formatting it would link `core::fmt`'s machinery)
/// and ends the run with failure, so QEMU exits 1 instead of hanging.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    semihosting::exit_failure();
}
