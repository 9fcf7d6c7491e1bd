//! What the firmware asks of the debugger/emulator over semihosting: its exit status and its
//! command line. (Log output also goes over semihosting, through `defmt-semihosting`.)
//!
//! Under QEMU with `-semihosting-config enable=on,target=native`, `exit` ends QEMU with status 0 or 1,
//! so a runner script or a test sees the firmware's verdict.

use cortex_m_semihosting::{debug, nr, syscall1};

/// Ends the run with success (QEMU exits 0).
pub fn exit_success() -> ! {
    exit(debug::EXIT_SUCCESS)
}

/// Ends the run with failure (QEMU exits 1).
pub fn exit_failure() -> ! {
    exit(debug::EXIT_FAILURE)
}

fn exit(status: debug::ExitStatus) -> ! {
    debug::exit(status);
    // Without a host attached the call returns: park the core instead.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Copies the host-supplied command line (QEMU: `-semihosting-config ...,arg=A,arg=B`) into `buf`
/// and returns it, or None when the host supplies none or it is not UTF-8.
pub fn command_line(buf: &mut [u8]) -> Option<&str> {
    // SYS_GET_CMDLINE takes a two-word block: buffer address and capacity; the host writes the
    // NUL-terminated line into the buffer and its length into the second word.
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: `block` and `buf` are live, writable and stay borrowed for the duration of the call;
    // the host writes at most `buf.len()` bytes into `buf` and one word into `block[1]`.
    let failed = unsafe { syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) } != 0;
    // SAFETY: reads back the word the host may have written, through a pointer to live memory.
    let len = unsafe { core::ptr::read_volatile(&block[1]) };
    if failed {
        return None;
    }
    core::str::from_utf8(buf.get(..len)?).ok()
}
