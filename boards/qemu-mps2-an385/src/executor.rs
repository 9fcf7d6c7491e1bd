//! A thread-mode executor that sleeps with WFI.
//!
//! embassy's stock Cortex-M thread executor sleeps with WFE, which QEMU executes as a no-op, so an idle
//! guest would spin a whole host core. WFI really halts until an interrupt, under QEMU and on silicon.
//!
//! The pender only raises a flag; the run loop checks it with interrupts masked and then executes WFI,
//! which still returns when an interrupt becomes pending. Unmasking lets that interrupt's handler run
//! (it may call the pender) before the flag is checked again, so no wake-up can be lost in between.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, Ordering};
use embassy_executor::{raw, Spawner};

/// Set by the pender when a task was woken; cleared before each poll.
static WORK_PENDING: AtomicBool = AtomicBool::new(false);

#[unsafe(export_name = "__pender")]
fn pender(_context: *mut ()) {
    WORK_PENDING.store(true, Ordering::Release);
}

/// The executor; there is one, running in thread mode forever.
pub struct Executor {
    inner: raw::Executor,
    not_send: PhantomData<*mut ()>,
}

impl Executor {
    pub fn new() -> Self {
        Self {
            inner: raw::Executor::new(core::ptr::null_mut()),
            not_send: PhantomData,
        }
    }

    /// Lets `init` spawn the first tasks, then polls woken tasks and sleeps in between, forever.
    pub fn run(&'static mut self, init: impl FnOnce(Spawner)) -> ! {
        init(self.inner.spawner());
        // Freshly spawned tasks are queued and have called the pender already.
        loop {
            if WORK_PENDING.swap(false, Ordering::AcqRel) {
                // SAFETY: `poll` is only called here, from this one thread-mode loop, never reentrantly
                // (the pender does not poll).
                unsafe { self.inner.poll() };
            }
            cortex_m::interrupt::disable();
            if !WORK_PENDING.load(Ordering::Acquire) {
                cortex_m::asm::wfi();
            }
            // SAFETY: interrupts were enabled before `disable` above (the loop runs with them enabled),
            // and no critical section is open here, so re-enabling them breaks no invariant.
            unsafe { cortex_m::interrupt::enable() };
        }
    }
}
