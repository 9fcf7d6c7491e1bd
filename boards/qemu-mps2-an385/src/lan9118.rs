//! SMSC LAN9118 Ethernet controller driver for `embassy-net` (the `embassy-net-driver` 0.2 trait).
//!
//! The controller is driven in PIO mode: frames move word by word through its TX and RX data FIFOs,
//! and the status FIFOs say where each frame ends. One interrupt line is used, for "RX status FIFO
//! not empty" (RSFL); it wakes the network task, which then drains frames until the FIFO is empty.
//!
//! Transmit never waits: QEMU's model sends a frame as soon as its last data word is written, and on a
//! real chip the 4.6 KB TX FIFO holds three full frames. When the FIFO lacks room, `transmit` returns
//! `None` and asks to be polled again.
//!
//! QEMU quirks handled here (they match the datasheet, but differ from what a first reading suggests):
//! - the interrupt line is active-low open-drain after reset; `IRQ_CFG` is set to enabled, push-pull,
//!   active-high (0x111) so that the NVIC sees a high level;
//! - `MAC_CR` starts promiscuous: it is cleared so only our unicast, broadcast and multicast frames arrive;
//! - the RX status length counts the 4-byte FCS, which is read out of the FIFO and dropped;
//! - there is no checksum offload, so `embassy-net` computes every checksum in software.

use core::task::Context;
use embassy_net_driver::{Capabilities, HardwareAddress, LinkState};
use embassy_sync::waitqueue::AtomicWaker;

/// Base address of the controller's registers on mps2-an385/an386.
pub const LAN9118_BASE: usize = 0x4020_0000;
/// The controller's interrupt number (NVIC line) on mps2-an385/an386.
pub const LAN9118_IRQ: u16 = 13;
/// Largest Ethernet frame without FCS (1500-byte payload + 14-byte header).
pub const MTU: usize = 1514;
/// Frame buffer size: MTU plus the FCS the RX FIFO delivers, rounded up to whole words.
const FRAME_BUF: usize = (MTU + 4 + 3) & !3;

// Register offsets (datasheet section 5).
const RX_DATA_FIFO: usize = 0x00;
const TX_DATA_FIFO: usize = 0x20;
const RX_STATUS_FIFO: usize = 0x40;
const TX_STATUS_FIFO: usize = 0x48;
const ID_REV: usize = 0x50;
const IRQ_CFG: usize = 0x54;
const INT_STS: usize = 0x58;
const INT_EN: usize = 0x5C;
const BYTE_TEST: usize = 0x64;
const FIFO_INT: usize = 0x68;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7C;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xA4;
const MAC_CSR_DATA: usize = 0xA8;

// MAC control and status registers, reached through MAC_CSR_CMD/DATA.
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const IRQ_CFG_ENABLED_PUSH_PULL_HIGH: u32 = 0x111;
const INT_RSFL: u32 = 1 << 3;
const HW_CFG_SRST: u32 = 1 << 0;
const PMT_CTRL_READY: u32 = 1 << 0;
const TX_CFG_TX_ON: u32 = 1 << 1;
/// Lets the TX status FIFO overrun, so unread statuses never stall transmission.
const TX_CFG_TXSAO: u32 = 1 << 2;
const MAC_CR_RXEN: u32 = 1 << 2;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_PRMS: u32 = 1 << 18;
const MAC_CSR_BUSY: u32 = 1 << 31;
const MAC_CSR_READ: u32 = 1 << 30;
const TX_CMD_A_FIRST_SEG: u32 = 1 << 13;
const TX_CMD_A_LAST_SEG: u32 = 1 << 12;
const RX_STS_ERROR: u32 = 1 << 15;
/// Bounded polls for a self-clearing bit, so a dead chip gives an error instead of a hang.
const MAX_POLLS: u32 = 100_000;
/// Locally administered address used when the controller holds none (no EEPROM).
const FALLBACK_MAC: [u8; 6] = [0x02, 0x53, 0x49, 0x4D, 0x00, 0x01];

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum InitError {
    /// BYTE_TEST did not read 0x87654321: nothing (or a wrongly wired bus) at the base address.
    NoDevice { byte_test: u32 },
    /// The chip never cleared its soft-reset or ready bit.
    ResetTimeout,
    /// A MAC CSR access never completed.
    MacCsrTimeout,
}

impl core::fmt::Display for InitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoDevice { byte_test } => {
                write!(
                    f,
                    "no LAN9118 at {LAN9118_BASE:#x}: BYTE_TEST read {byte_test:#x}, expected 0x87654321"
                )
            }
            Self::ResetTimeout => {
                f.write_str("LAN9118 did not finish its soft reset; check its power and clock")
            }
            Self::MacCsrTimeout => f.write_str("LAN9118 MAC CSR access timed out; the MAC is not responding"),
        }
    }
}

/// Wakes the network task from the interrupt handler.
static RX_WAKER: AtomicWaker = AtomicWaker::new();

/// The controller's memory-mapped registers.
struct Registers {
    base: usize,
}

impl Registers {
    fn read(&self, offset: usize) -> u32 {
        // SAFETY: `base` is the LAN9118 register block (guaranteed by `Lan9118::new`'s contract) and
        // every offset used is a 32-bit register inside it; a volatile read has no other effect than
        // the register's own (FIFO reads pop, which callers intend).
        unsafe { core::ptr::read_volatile((self.base + offset) as *const u32) }
    }

    fn write(&self, offset: usize, value: u32) {
        // SAFETY: as in `read`; the block is device memory owned by this driver alone.
        unsafe { core::ptr::write_volatile((self.base + offset) as *mut u32, value) }
    }

    fn wait_clear(&self, offset: usize, bit: u32) -> bool {
        (0..MAX_POLLS).any(|_| self.read(offset) & bit == 0)
    }

    fn mac_read(&self, reg: u32) -> Result<u32, InitError> {
        self.write(MAC_CSR_CMD, MAC_CSR_BUSY | MAC_CSR_READ | reg);
        if !self.wait_clear(MAC_CSR_CMD, MAC_CSR_BUSY) {
            return Err(InitError::MacCsrTimeout);
        }
        Ok(self.read(MAC_CSR_DATA))
    }

    fn mac_write(&self, reg: u32, value: u32) -> Result<(), InitError> {
        self.write(MAC_CSR_DATA, value);
        self.write(MAC_CSR_CMD, MAC_CSR_BUSY | reg);
        if self.wait_clear(MAC_CSR_CMD, MAC_CSR_BUSY) {
            Ok(())
        } else {
            Err(InitError::MacCsrTimeout)
        }
    }
}

/// The LAN9118 driver: owns the registers and one frame buffer per direction.
pub struct Lan9118 {
    regs: Registers,
    mac: [u8; 6],
    rx_buf: [u8; FRAME_BUF],
    tx_buf: [u8; FRAME_BUF],
}

impl Lan9118 {
    /// Resets and configures the controller, and returns the driver.
    ///
    /// # Safety
    /// `base` must be the address of a LAN9118 register block, and no other code may access it while
    /// the driver lives (one driver per chip).
    pub unsafe fn new(base: usize) -> Result<Self, InitError> {
        let regs = Registers { base };
        let byte_test = regs.read(BYTE_TEST);
        if byte_test != BYTE_TEST_VALUE {
            return Err(InitError::NoDevice { byte_test });
        }
        regs.write(HW_CFG, HW_CFG_SRST);
        if !regs.wait_clear(HW_CFG, HW_CFG_SRST)
            || !(0..MAX_POLLS).any(|_| regs.read(PMT_CTRL) & PMT_CTRL_READY != 0)
        {
            return Err(InitError::ResetTimeout);
        }
        let mac = read_or_set_mac(&regs)?;
        let mac_cr = regs.mac_read(MAC_CR)?;
        regs.mac_write(MAC_CR, (mac_cr & !MAC_CR_PRMS) | MAC_CR_TXEN | MAC_CR_RXEN)?;
        regs.write(TX_CFG, TX_CFG_TX_ON | TX_CFG_TXSAO);
        // RSFL fires while more than 0 RX statuses wait (FIFO_INT's RX level field = 0).
        regs.write(FIFO_INT, 0);
        regs.write(INT_STS, u32::MAX);
        regs.write(INT_EN, 0);
        regs.write(IRQ_CFG, IRQ_CFG_ENABLED_PUSH_PULL_HIGH);
        defmt::info!("LAN9118 id {=u32:#x}, MAC {=[u8]:02x}", regs.read(ID_REV), mac);
        Ok(Self {
            regs,
            mac,
            rx_buf: [0; FRAME_BUF],
            tx_buf: [0; FRAME_BUF],
        })
    }

    /// Pops one received frame into `rx_buf`; returns its length without FCS, or None if none waits.
    /// Frames with a receive error are dropped.
    fn pop_frame(&mut self) -> Option<usize> {
        loop {
            let statuses_waiting = (self.regs.read(RX_FIFO_INF) >> 16) & 0xFF;
            if statuses_waiting == 0 {
                return None;
            }
            let status = self.regs.read(RX_STATUS_FIFO);
            let len_with_fcs = ((status >> 16) & 0x3FFF) as usize;
            let words = len_with_fcs.div_ceil(4);
            // Words beyond the buffer are read and discarded so the FIFO stays aligned to frames.
            for i in 0..words {
                let word = self.regs.read(RX_DATA_FIFO).to_le_bytes();
                if let Some(dst) = self.rx_buf.get_mut(i * 4..i * 4 + 4) {
                    dst.copy_from_slice(&word);
                }
            }
            let len = len_with_fcs.saturating_sub(4);
            if status & RX_STS_ERROR == 0 && len <= MTU && len > 0 {
                return Some(len);
            }
            defmt::warn!("LAN9118: dropped RX frame, status {=u32:#x}", status);
        }
    }

    fn tx_fifo_free(&self) -> usize {
        (self.regs.read(TX_FIFO_INF) & 0xFFFF) as usize
    }
}

/// Writes `frame` to the TX FIFO as one segment; the chip sends it once the last word is in.
fn push_frame(regs: &Registers, frame: &[u8]) {
    let len = frame.len() as u32;
    regs.write(TX_DATA_FIFO, TX_CMD_A_FIRST_SEG | TX_CMD_A_LAST_SEG | len);
    // Command B: the packet tag (upper half, unused here) and the packet length.
    regs.write(TX_DATA_FIFO, len);
    for chunk in frame.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        regs.write(TX_DATA_FIFO, u32::from_le_bytes(word));
    }
    // TXSAO lets the status FIFO overrun; draining it anyway keeps TX_FIFO_INF's counts meaningful.
    while (regs.read(TX_FIFO_INF) >> 16) & 0xFF != 0 {
        regs.read(TX_STATUS_FIFO);
    }
}

fn read_or_set_mac(regs: &Registers) -> Result<[u8; 6], InitError> {
    let low = regs.mac_read(MAC_ADDRL)?.to_le_bytes();
    let high = regs.mac_read(MAC_ADDRH)?.to_le_bytes();
    let mac = [low[0], low[1], low[2], low[3], high[0], high[1]];
    let unusable = mac == [0; 6] || mac == [0xFF; 6] || mac[0] & 1 != 0;
    if !unusable {
        return Ok(mac);
    }
    let m = FALLBACK_MAC;
    regs.mac_write(MAC_ADDRL, u32::from_le_bytes([m[0], m[1], m[2], m[3]]))?;
    regs.mac_write(MAC_ADDRH, u32::from_le_bytes([m[4], m[5], 0, 0]))?;
    Ok(m)
}

/// Called from the interrupt dispatcher for `LAN9118_IRQ`: masks RSFL and wakes the network task,
/// which re-arms it once the RX FIFO is empty (so the level-triggered line cannot storm).
pub fn on_interrupt() {
    let regs = Registers { base: LAN9118_BASE };
    let enabled = regs.read(INT_EN);
    regs.write(INT_EN, enabled & !INT_RSFL);
    regs.write(INT_STS, INT_RSFL);
    RX_WAKER.wake();
}

impl embassy_net_driver::Driver for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, cx: &mut Context) -> Option<(RxToken<'_>, TxToken<'_>)> {
        RX_WAKER.register(cx.waker());
        match self.pop_frame() {
            Some(len) => {
                let Self {
                    regs, rx_buf, tx_buf, ..
                } = self;
                Some((
                    RxToken {
                        frame: &mut rx_buf[..len],
                    },
                    TxToken { regs, buf: tx_buf },
                ))
            }
            None => {
                // Clear a stale status first: a frame arriving after this point sets it again and,
                // with RSFL enabled below, raises the interrupt.
                self.regs.write(INT_STS, INT_RSFL);
                let enabled = self.regs.read(INT_EN);
                self.regs.write(INT_EN, enabled | INT_RSFL);
                None
            }
        }
    }

    fn transmit(&mut self, cx: &mut Context) -> Option<TxToken<'_>> {
        // Command A and B words plus a full frame.
        if self.tx_fifo_free() < FRAME_BUF + 8 {
            cx.waker().wake_by_ref();
            return None;
        }
        Some(TxToken {
            regs: &self.regs,
            buf: &mut self.tx_buf,
        })
    }

    fn link_state(&mut self, _cx: &mut Context) -> LinkState {
        // QEMU's PHY is always up; a real board would read the PHY's status register here.
        LinkState::Up
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.max_transmission_unit = MTU;
        caps.max_burst_size = Some(1);
        caps
    }

    fn hardware_address(&self) -> HardwareAddress {
        HardwareAddress::Ethernet(self.mac)
    }
}

/// A received frame, already copied out of the RX FIFO.
pub struct RxToken<'a> {
    frame: &'a mut [u8],
}

impl embassy_net_driver::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

/// Room for one frame; the frame is pushed to the TX FIFO when the closure returns.
pub struct TxToken<'a> {
    regs: &'a Registers,
    buf: &'a mut [u8; FRAME_BUF],
}

impl embassy_net_driver::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let frame = &mut self.buf[..len.min(MTU)];
        let result = f(frame);
        push_frame(self.regs, frame);
        result
    }
}
