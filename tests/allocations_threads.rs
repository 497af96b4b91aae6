//! With several threads the per-batch loop still allocates nothing: an
//! epoch's allocations (spawning its threads) do not grow with its batches.
//! Counted across all threads, so this file holds one test alone.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::synthetic_mnist;
use mnist_mlp::internals::nn::gemm::Form;
use mnist_mlp::internals::train::{TrainConfig, Trainer};

struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

#[test]
fn threaded_epoch_allocations_do_not_grow_with_batches() {
    let data = synthetic_mnist(2010, 10);
    let small = data.train.clone().truncated(410);
    for config in [
        TrainConfig {
            threads: 2,
            ..TrainConfig::default()
        },
        TrainConfig {
            threads: 2,
            ..common::deep_config()
        },
    ] {
        let mut trainer = Trainer::new(config, &data.train).unwrap();
        // Both forms of the input layer's forward product, whatever the
        // kernels' table picks here.
        for form in [Form::Direct, Form::Transposed] {
            trainer.force_input_form(form);
            // Warm up: sizes the shuffle order for the larger set once.
            trainer.train_epoch(&data.train, &mut ());

            let mut count = |set| {
                let before = ALLOCATIONS.load(Ordering::SeqCst);
                trainer.train_epoch(set, &mut ());
                ALLOCATIONS.load(Ordering::SeqCst) - before
            };
            let for_20_batches = count(&small);
            let for_100_batches = count(&data.train);
            assert_eq!(
                for_20_batches, for_100_batches,
                "allocations grow with batches: {for_20_batches} for 20, {for_100_batches} for 100"
            );
            assert!(
                for_100_batches < 80,
                "{for_100_batches} allocations for one epoch"
            );
        }
    }
}
