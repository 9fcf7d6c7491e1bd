//! embassy-time driver on the Cortex-M SysTick timer, ticking at 1 kHz.
//!
//! Each SysTick interrupt adds one millisecond to a 64-bit counter; when the counter reaches the next
//! deadline of the timer queue, the queue wakes the expired timers and yields the next deadline.
//! SysTick never stops, so this costs one short interrupt per millisecond, which is fine under QEMU
//! (whose SysTick follows host time) and on a board that does not need deep sleep. A board that does
//! would use a low-power timer with a compare register instead.

use core::cell::{Cell, RefCell};
use core::task::Waker;
use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_time_queue_utils::Queue;

/// The core clock of mps2-an385/an386, which SysTick counts.
pub const CORE_CLOCK_HZ: u32 = 25_000_000;
/// Must match the `tick-hz-1_000` feature of embassy-time-driver.
pub const TICK_HZ: u32 = 1_000;

struct SysTickDriver {
    ticks: Mutex<Cell<u64>>,
    next_deadline: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    next_deadline: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick at `TICK_HZ`; call once at boot, before the executor runs.
pub fn init(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CORE_CLOCK_HZ / TICK_HZ - 1);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

impl embassy_time_driver::Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.ticks.borrow(cs).get();
                self.next_deadline.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let now = DRIVER.ticks.borrow(cs).get().wrapping_add(1);
        DRIVER.ticks.borrow(cs).set(now);
        if now >= DRIVER.next_deadline.borrow(cs).get() {
            let next = DRIVER.queue.borrow_ref_mut(cs).next_expiration(now);
            DRIVER.next_deadline.borrow(cs).set(next);
        }
    });
}
