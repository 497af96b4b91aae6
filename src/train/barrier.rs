//! A barrier for threads that meet once per batch, every few microseconds.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

/// A barrier for threads that meet every few microseconds: it spins
/// briefly (a few microseconds, about one batch's imbalance), then sleeps on
/// a condition variable, so a thread whose partner lost its core to another
/// process (or to a third training thread) gives its own core away instead
/// of burning it.
pub struct SpinBarrier {
    parties: usize,
    arrived: AtomicUsize,
    generation: AtomicUsize,
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

const SPINS_BEFORE_SLEEP: u32 = 4_000;

impl SpinBarrier {
    pub fn new(parties: usize) -> Self {
        Self {
            parties,
            arrived: AtomicUsize::new(0),
            generation: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    pub fn wait(&self) {
        let generation = self.generation.load(Ordering::SeqCst);
        if self.arrived.fetch_add(1, Ordering::SeqCst) + 1 == self.parties {
            // Reset before releasing: nobody re-enters until the release.
            self.arrived.store(0, Ordering::SeqCst);
            self.generation.fetch_add(1, Ordering::SeqCst);
            if self.sleepers.load(Ordering::SeqCst) > 0 {
                let _guard = self.lock.lock().expect("barrier lock");
                self.wake.notify_all();
            }
            return;
        }
        for _ in 0..SPINS_BEFORE_SLEEP {
            if self.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            std::hint::spin_loop();
        }
        // Registered before the check under the lock: a releaser that saw no
        // sleeper released before that check, which then sees it.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.lock.lock().expect("barrier lock");
        while self.generation.load(Ordering::SeqCst) == generation {
            guard = self.wake.wait(guard).expect("barrier lock");
        }
        drop(guard);
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }
}
