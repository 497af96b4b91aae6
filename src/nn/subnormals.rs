//! Subnormal floats flushed to zero in every thread that computes.
//!
//! Saturated sigmoid units give deltas of 1e-38 and below, and Adam's
//! second moments underflow the same way. Intel cores take a microcode
//! assist, a hundred cycles or more, on every subnormal operand or result:
//! that made the tutorial network five times slower on a Xeon than with
//! the bits below set. With FTZ (results) and DAZ (operands) set in the
//! SSE control register, a value below `f32::MIN_POSITIVE` (1.2e-38) is
//! read and written as 0, as TensorFlow, JAX and
//! `torch.set_flush_denormal(True)` do. No figure this program prints
//! depends on numbers that small.
//!
//! The register is per thread. Each thread that computes sets the bits
//! where its work starts, with `flush_subnormals`, whose guard restores
//! the thread's previous mode when the work returns: a library call leaves
//! its caller's thread as it found it. On other architectures this is a
//! no-op and `flushing` is false.

/// Sets FTZ and DAZ on this thread until the guard drops.
#[must_use = "the mode lasts only as long as the guard"]
pub fn flush_subnormals() -> FlushGuard {
    let previous = imp::read();
    imp::write(previous | imp::FTZ_DAZ);
    FlushGuard { previous }
}

/// Whether this thread flushes subnormal results and operands to zero.
pub fn flushing() -> bool {
    imp::FTZ_DAZ != 0 && imp::read() & imp::FTZ_DAZ == imp::FTZ_DAZ
}

/// Restores the thread's floating-point mode when dropped.
pub struct FlushGuard {
    previous: u32,
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        imp::write(self.previous);
    }
}

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;

    /// MXCSR bit 15 (flush to zero) and bit 6 (denormals are zero).
    pub const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    pub fn read() -> u32 {
        let mut csr = 0u32;
        // SAFETY: stmxcsr stores the 32-bit control register to a valid,
        // writable u32; SSE is part of x86-64.
        unsafe {
            asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack, preserves_flags));
        }
        csr
    }

    pub fn write(csr: u32) {
        // SAFETY: ldmxcsr loads a value read by `read` with only the FTZ and
        // DAZ mode bits changed; no reserved bit is set.
        unsafe {
            asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack, readonly, preserves_flags));
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub const FTZ_DAZ: u32 = 0;

    pub fn read() -> u32 {
        0
    }

    pub fn write(_: u32) {}
}
