//! The Nucleo-F767ZI (MB1137): clocks, the Ethernet MAC with its LAN8742A PHY, and the RNG.
//!
//! ## Clocks
//! The on-board ST-LINK feeds the MCU its 8 MHz MCO clock on PH0 (the Nucleo-144's default solder
//! bridges, UM1974), so HSE runs in bypass mode. PLL: 8 MHz / 4 = 2 MHz in, x216 = 432 MHz VCO,
//! /2 = 216 MHz SYSCLK (the F767's maximum; the HAL turns on over-drive), /9 = 48 MHz for the RNG.
//! APB1 = 54 MHz and APB2 = 108 MHz, each at its limit. The Ethernet MAC runs on HCLK and on the
//! PHY's 50 MHz RMII reference clock.
//!
//! ## Ethernet (RMII, as wired on the Nucleo-144, UM1974)
//! - REF_CLK PA1, CRS_DV PA7, RXD0 PC4, RXD1 PC5 (PHY to MAC);
//! - TX_EN PG11, TXD0 PG13, TXD1 PB13 (MAC to PHY);
//! - station management: MDIO PA2, MDC PC1.
//!
//! The HAL checks at compile time that each pin can carry its signal. The LAN8742A sits at MDIO
//! address 0 on this board; naming it skips the HAL's probe of all 32 addresses (which panics when no
//! PHY answers, as on a board with the PHY held in reset).
//!
//! ## MAC address
//! The board has no EUI-48 chip, so the address is derived from the MCU's 96-bit unique ID: stable per
//! board, distinct between boards (with high probability), and marked locally administered.

use embassy_stm32::eth::{self, Ethernet, GenericPhy, PacketQueue, Sma};
use embassy_stm32::peripherals::{ETH, ETH_SMA, RNG};
use embassy_stm32::rcc::{self, mux, AHBPrescaler, APBPrescaler, Hse, HseMode, Pll, PllSource, Sysclk};
use embassy_stm32::time::Hertz;
use embassy_stm32::{bind_interrupts, rng, Peripherals};
use static_cell::StaticCell;

use crate::hw_rng::HardwareRng;

/// The Ethernet driver type embassy-net runs on.
pub type EthernetDriver = Ethernet<'static, ETH, GenericPhy<Sma<'static, ETH_SMA>>>;

/// MDIO address of the LAN8742A on the Nucleo-144 boards.
const PHY_ADDRESS: u8 = 0;
/// DMA descriptors and buffers: 4 frames each way (about 12 KiB) is plenty for SIP signalling.
const TX_FRAMES: usize = 4;
const RX_FRAMES: usize = 4;

bind_interrupts!(struct Irqs {
    ETH => eth::InterruptHandler;
    RNG => rng::InterruptHandler<RNG>;
});

static PACKETS: StaticCell<PacketQueue<TX_FRAMES, RX_FRAMES>> = StaticCell::new();

/// The HAL configuration for 216 MHz from the ST-LINK's 8 MHz clock (see the module docs).
pub fn clock_config() -> embassy_stm32::Config {
    let mut config = embassy_stm32::Config::default();
    config.rcc.hse = Some(Hse {
        freq: Hertz(8_000_000),
        mode: HseMode::Bypass,
    });
    config.rcc.pll_src = PllSource::HSE;
    config.rcc.pll = Some(Pll {
        prediv: rcc::PllPreDiv::DIV4,
        mul: rcc::PllMul::MUL216,
        divp: Some(rcc::PllPDiv::DIV2),
        divq: Some(rcc::PllQDiv::DIV9),
        divr: None,
    });
    config.rcc.sys = Sysclk::PLL1_P;
    config.rcc.ahb_pre = AHBPrescaler::DIV1;
    config.rcc.apb1_pre = APBPrescaler::DIV4;
    config.rcc.apb2_pre = APBPrescaler::DIV2;
    config.rcc.mux.clk48sel = mux::Clk48sel::PLL1_Q;
    config
}

/// The peripherals this firmware uses, set up.
pub struct Board {
    /// The Ethernet MAC, ready for embassy-net.
    pub ethernet: EthernetDriver,
    /// The hardware RNG.
    pub rng: HardwareRng,
    /// This board's MAC address.
    pub mac_address: [u8; 6],
}

/// Takes the peripherals and sets up Ethernet and the RNG. Call once, after `embassy_stm32::init`.
pub fn init(p: Peripherals) -> Board {
    let mac_address = mac_from_unique_id(&embassy_stm32::uid::uid());
    let phy = GenericPhy::new(Sma::new(p.ETH_SMA, p.PA2, p.PC1), PHY_ADDRESS);
    let ethernet = Ethernet::new_with_phy(
        PACKETS.init(PacketQueue::new()),
        p.ETH,
        Irqs,
        p.PA1,  // REF_CLK
        p.PA7,  // CRS_DV
        p.PC4,  // RXD0
        p.PC5,  // RXD1
        p.PG13, // TXD0
        p.PB13, // TXD1
        p.PG11, // TX_EN
        mac_address,
        phy,
    );
    let rng = HardwareRng(rng::Rng::new(p.RNG, Irqs));
    Board {
        ethernet,
        rng,
        mac_address,
    }
}

/// A locally administered unicast MAC address folded from the 96-bit unique ID.
fn mac_from_unique_id(uid: &[u8; 12]) -> [u8; 6] {
    let mut mac = [0u8; 6];
    for (i, byte) in uid.iter().enumerate() {
        mac[i % 6] ^= byte;
    }
    // First octet: bit 1 set = locally administered, bit 0 clear = unicast (IEEE 802 §8.2).
    mac[0] = (mac[0] | 0b10) & !0b01;
    mac
}
