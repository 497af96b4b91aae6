//! The per-batch loop allocates nothing: every buffer lives in the workspace
//! and every product goes to sgemm (ndarray's pure-Rust fallback would
//! allocate packing buffers, so this also catches a product that misses BLAS).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::synthetic_mnist;
use mnist_mlp::train::trainer::{TrainConfig, Trainer};

struct CountingAllocator;

thread_local! {
    // Per thread, so tests running in parallel do not count each other.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn count_one() {
    ALLOCATIONS.with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn steady_state_training_and_evaluation_allocate_nothing() {
    // 1010 samples in batches of 20: 50 full batches and a short one per epoch.
    let data = synthetic_mnist(1010, 310);
    for cost in ["cross-entropy", "quadratic"] {
        let mut trainer = Trainer::new(TrainConfig {
            hidden: 30,
            batch_size: 20,
            threads: 1,
            cost: cost.parse().unwrap(),
            ..TrainConfig::default()
        });
        // The first epoch sizes the shuffle order once.
        trainer.train_epoch(&data.train, 1.0);
        trainer.evaluate(&data.test);

        let before = allocations();
        let trained = trainer.train_epoch(&data.train, 0.5);
        let evaluated = trainer.evaluate(&data.test);
        let allocated = allocations() - before;

        assert_eq!(trained.samples + evaluated.samples, 1320);
        assert_eq!(
            allocated, 0,
            "{cost}: {allocated} allocations in 67 steady-state batches"
        );
    }
}

#[test]
fn the_counter_sees_allocations() {
    // Guards the test above against a counter that never counts.
    let before = allocations();
    let v: Vec<u64> = std::hint::black_box(vec![1, 2, 3]);
    assert!(allocations() > before);
    drop(v);
}
