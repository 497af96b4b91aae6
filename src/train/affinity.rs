//! The threads of a training pass kept on distinct cores while it lasts.
//!
//! A helper thread that waited at the barrier long enough to sleep is woken
//! by the leader, and Linux may put a woken thread on its waker's core
//! (wake-affine placement). Both threads then share one core until the load
//! balancer parts them, milliseconds later: hundreds of the tutorial's
//! batches trained slower than on one thread. On a two-vCPU KVM guest (AMD
//! EPYC) this made the 2 000-sample probe of `--threads auto` find two
//! threads no faster than one in about half of the epochs, and keep one.
//!
//! So each thread of a pass pins itself to one core: the one the scheduler
//! started it on, unless another thread of the pass holds that one, else
//! the first free core the process may use. Where every allowed core is
//! held (more threads than cores), a thread stays unpinned. The caller's
//! thread gets its own mask back when the pass ends.

#[cfg(target_os = "linux")]
mod imp {
    use std::mem::{size_of, zeroed};
    use std::sync::Mutex;

    use libc::{cpu_set_t, sched_getaffinity, sched_getcpu, sched_setaffinity, CPU_ISSET, CPU_SET};

    /// The cores the threads of one pass may use, and those they have
    /// pinned themselves to.
    pub struct Cores {
        /// The creating thread's mask, read before anyone pins: a thread
        /// spawned by a pinned one inherits its single core.
        allowed: Option<cpu_set_t>,
        taken: Mutex<cpu_set_t>,
    }

    /// The calling thread's mask.
    fn own_mask() -> Option<cpu_set_t> {
        // SAFETY: a plain bit array of the size passed; pid 0 is the caller.
        unsafe {
            let mut mask: cpu_set_t = zeroed();
            (sched_getaffinity(0, size_of::<cpu_set_t>(), &mut mask) == 0).then_some(mask)
        }
    }

    /// Restores the thread's previous mask when dropped.
    pub struct Pinned {
        previous: cpu_set_t,
    }

    impl Default for Cores {
        fn default() -> Self {
            // SAFETY: cpu_set_t is a plain bit array; all zeros is the empty set.
            Self {
                allowed: own_mask(),
                taken: Mutex::new(unsafe { zeroed() }),
            }
        }
    }

    impl Cores {
        /// Pins the calling thread to a core no other thread of the pass
        /// holds, preferring the one it runs on.
        pub fn pin_here(&self) -> Option<Pinned> {
            let allowed = self.allowed.as_ref()?;
            let previous = own_mask()?;
            // SAFETY: the sets are plain bit arrays of the size passed; pid 0
            // is the calling thread; CPU_ISSET/CPU_SET index below CPU_SETSIZE.
            unsafe {
                let mut taken = self.taken.lock().ok()?;
                let free = |cpu: usize| CPU_ISSET(cpu, allowed) && !CPU_ISSET(cpu, &taken);
                let here = usize::try_from(sched_getcpu()).ok();
                let cpu = here
                    .filter(|&c| c < libc::CPU_SETSIZE as usize && free(c))
                    .or_else(|| (0..libc::CPU_SETSIZE as usize).find(|&c| free(c)))?;
                let mut mask: cpu_set_t = zeroed();
                CPU_SET(cpu, &mut mask);
                if sched_setaffinity(0, size_of::<cpu_set_t>(), &mask) != 0 {
                    return None;
                }
                CPU_SET(cpu, &mut taken);
                Some(Pinned { previous })
            }
        }
    }

    impl Drop for Pinned {
        fn drop(&mut self) {
            // SAFETY: as above; the mask is the one the thread had.
            unsafe { sched_setaffinity(0, size_of::<cpu_set_t>(), &self.previous) };
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    /// Elsewhere threads are left where the scheduler puts them.
    #[derive(Default)]
    pub struct Cores;

    pub struct Pinned;

    impl Cores {
        pub fn pin_here(&self) -> Option<Pinned> {
            None
        }
    }
}

pub use imp::{Cores, Pinned};
