//! The per-batch loop allocates nothing: every buffer lives in the workspace
//! and every product goes to sgemm (ndarray's pure-Rust fallback would
//! allocate packing buffers, so this also catches a product that misses BLAS).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::synthetic_mnist;
use mnist_mlp::internals::data::dataset::Dataset;
use mnist_mlp::internals::nn::gemm::Form;
use mnist_mlp::internals::train::{TrainConfig, Trainer};

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

/// Allocations of one training epoch and one evaluation of `trainer`.
fn allocations_of_an_epoch(trainer: &mut Trainer, train: &Dataset, test: &Dataset) -> usize {
    let before = allocations();
    trainer.train_epoch(train, &mut ());
    trainer.evaluate(test);
    allocations() - before
}

#[test]
fn allocations_do_not_grow_with_batches_on_one_thread() {
    // Batches of 20: 20 and 100 per epoch, the last of each short.
    let data = synthetic_mnist(2010, 310);
    let small = data.train.clone().truncated(410);
    for config in [
        TrainConfig {
            threads: 1,
            ..TrainConfig::default()
        },
        TrainConfig {
            threads: 1,
            ..common::deep_config()
        },
    ] {
        let mut trainer = Trainer::new(config, &data.train).unwrap();
        // Both forms of the input layer's forward product, whatever the
        // kernels' table picks here.
        for form in [Form::Direct, Form::Transposed] {
            trainer.force_input_form(form);
            // The first epoch and evaluation size the order and scores once.
            allocations_of_an_epoch(&mut trainer, &data.train, &data.test);
            let for_20 = allocations_of_an_epoch(&mut trainer, &small, &data.test);
            let for_100 = allocations_of_an_epoch(&mut trainer, &data.train, &data.test);
            assert_eq!(
                for_20, for_100,
                "allocations grow with batches: {for_20} for 20, {for_100} for 100"
            );
            // A few per pass, to share the layers out: none per batch.
            assert!(for_100 < 60, "{for_100} allocations for one epoch");
        }
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
