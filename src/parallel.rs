//! Training on several threads by splitting the hidden units.
//!
//! Shard s owns hidden units h ∈ [lo_s, hi_s): rows of w1 and b1, columns of
//! w2, and its own copy of b2. Per batch each shard
//!   1. gathers the whole batch into its own x (cheaper than a hand-off),
//!   2. computes its a1_s = σ(x·w1_sᵀ + b1_s) and its part of the output sum
//!      z2_s = a1_s·w2_sᵀ,
//!   3. waits at the one barrier of the batch,
//!   4. adds the parts in shard order (so every shard gets the same z2, bit
//!      for bit), then computes a2, d2, its d1_s = (d2·w2_s) ⊙ σ'(a1_s) and
//!      updates only its own rows, columns and b2 copy.
//!
//! Output parts are double-buffered by batch parity: a shard writing batch
//! i+1's part cannot disturb a slower shard still reading batch i's, and it
//! cannot reach batch i+2 before everyone has passed barrier i+1.
//! OpenBLAS stays single-threaded inside each shard: its own threading costs
//! more than it gains at these shapes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use indicatif::ProgressBar;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayViewMut, ArrayViewMut1, ArrayViewMut2, Axis, Dimension};

use crate::batch::{batches_with_next, gather, prefetch};
use crate::cost::Cost;
use crate::dataset::{Dataset, CLASSES};
use crate::network::{
    add_bias_sigmoid, output_activations, output_deltas, score, times_sigmoid_derivative, Params,
    Score,
};
use crate::profile::{Laps, Phase};
use crate::sgd::update_layer;
use crate::workspace::Workspace;

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

/// The per-shard buffers, allocated once for the batch size.
pub struct Shards {
    /// Shard s owns hidden units bounds[s]..bounds[s + 1].
    bounds: Vec<usize>,
    /// Each shard's buffers, its a1 and d1 as wide as its units.
    workspaces: Vec<Workspace>,
    /// Each shard's copy of b2, updated identically by all.
    output_biases: Vec<Array1<f32>>,
    /// (B,O) output parts, per shard, per batch parity.
    parts: Vec<[Mutex<Array2<f32>>; 2]>,
    barrier: SpinBarrier,
}

impl Shards {
    /// `threads` shards (at most one per hidden unit) of near-equal size.
    pub fn new(threads: usize, batch_size: usize, hidden: usize) -> Self {
        let count = threads.clamp(1, hidden);
        let bounds: Vec<usize> = (0..=count).map(|s| s * hidden / count).collect();
        let part = || Mutex::new(Array2::zeros((batch_size, CLASSES)));
        Self {
            workspaces: bounds
                .windows(2)
                .map(|w| Workspace::new(batch_size, w[1] - w[0]))
                .collect(),
            output_biases: vec![Array1::zeros(CLASSES); count],
            parts: (0..count).map(|_| [part(), part()]).collect(),
            barrier: SpinBarrier::new(count),
            bounds,
        }
    }

    pub fn count(&self) -> usize {
        self.workspaces.len()
    }

    /// One pass over `order`, every shard on its own thread (shard 0 on the
    /// caller's, which also reports laps and progress).
    #[allow(clippy::too_many_arguments)]
    pub fn train_epoch(
        &mut self,
        params: &mut Params,
        data: &Dataset,
        order: &[usize],
        batch_size: usize,
        cost: Cost,
        lr: f32,
        laps: &mut (impl Laps + Send),
        progress: Option<&ProgressBar>,
    ) -> Score {
        for b2 in &mut self.output_biases {
            b2.assign(&params.b2);
        }
        let w1 = split(params.w1.view_mut(), Axis(0), &self.bounds);
        let b1 = split(params.b1.view_mut(), Axis(0), &self.bounds);
        let w2 = split(params.w2.view_mut(), Axis(1), &self.bounds);
        let (parts, barrier) = (&self.parts, &self.barrier);
        let shared = SharedStep {
            data,
            order,
            batch_size,
            cost,
            lr,
            parts,
            barrier,
        };
        let mut shards = self
            .workspaces
            .iter_mut()
            .zip(&mut self.output_biases)
            .zip(w1.into_iter().zip(b1).zip(w2))
            .enumerate()
            .map(|(index, ((ws, b2), ((w1, b1), w2)))| Shard {
                index,
                ws,
                b2,
                w1,
                b1,
                w2,
            });
        let first = shards.next().expect("at least one shard");
        let score = std::thread::scope(|scope| {
            for shard in shards {
                let shared = &shared;
                scope.spawn(move || shard.run(shared, &mut (), None));
            }
            first.run(&shared, laps, progress)
        });
        params.b2.assign(&self.output_biases[0]);
        score
    }
}

/// Splits `m` along `axis` at the shard bounds into disjoint views.
fn split<'a, D: Dimension>(
    mut m: ArrayViewMut<'a, f32, D>,
    axis: Axis,
    bounds: &[usize],
) -> Vec<ArrayViewMut<'a, f32, D>> {
    let mut pieces = Vec::with_capacity(bounds.len() - 1);
    for w in bounds.windows(2) {
        let (head, tail) = m.split_at(axis, w[1] - w[0]);
        pieces.push(head);
        m = tail;
    }
    pieces
}

/// What every shard of an epoch reads.
struct SharedStep<'a> {
    data: &'a Dataset,
    order: &'a [usize],
    batch_size: usize,
    cost: Cost,
    lr: f32,
    parts: &'a [[Mutex<Array2<f32>>; 2]],
    barrier: &'a SpinBarrier,
}

/// One shard's parameters and buffers for an epoch.
struct Shard<'a> {
    index: usize,
    ws: &'a mut Workspace,
    b2: &'a mut Array1<f32>,
    w1: ArrayViewMut2<'a, f32>, // (H_s, I)
    b1: ArrayViewMut1<'a, f32>, // (H_s)
    w2: ArrayViewMut2<'a, f32>, // (O, H_s)
}

impl Shard<'_> {
    /// Trains on every batch of the epoch; returns the running score (shard
    /// 0 scores, the others return an empty one).
    fn run(
        mut self,
        step: &SharedStep,
        laps: &mut impl Laps,
        progress: Option<&ProgressBar>,
    ) -> Score {
        let mut total = Score::default();
        let batches = batches_with_next(step.order, step.batch_size);
        for (i, (batch, next)) in batches.enumerate() {
            gather(self.ws, step.data, batch.iter().copied());
            if let Some(next) = next {
                prefetch(step.data, next);
            }
            laps.lap(Phase::Gather);
            let batch_score = self.step(step, i % 2, laps);
            if self.index == 0 {
                total.add(batch_score);
                if let Some(bar) = progress.filter(|_| i % crate::train::PROGRESS_EVERY == 0) {
                    bar.set_position(total.samples as u64);
                }
            }
        }
        total
    }

    fn step(&mut self, step: &SharedStep, parity: usize, laps: &mut impl Laps) -> Score {
        let ws = &mut *self.ws;
        let n = ws.rows;
        let x = ws.x.slice(s![..n, ..]);
        let mut a1 = ws.a1.slice_mut(s![..n, ..]);
        general_mat_mul(1.0, &x, &self.w1.t(), 0.0, &mut a1);
        laps.lap(Phase::ForwardProducts);
        add_bias_sigmoid(a1.view_mut(), self.b1.view());
        laps.lap(Phase::ForwardElementwise);
        {
            let mut part = step.parts[self.index][parity]
                .lock()
                .expect("no shard panics");
            general_mat_mul(
                1.0,
                &a1,
                &self.w2.t(),
                0.0,
                &mut part.slice_mut(s![..n, ..]),
            );
        }
        laps.lap(Phase::ForwardProducts);

        step.barrier.wait();
        laps.lap(Phase::Sync);

        let mut z2 = ws.z2.slice_mut(s![..n, ..]);
        for (s, shard_parts) in step.parts.iter().enumerate() {
            let part = shard_parts[parity].lock().expect("no shard panics");
            let part = part.slice(s![..n, ..]);
            if s == 0 {
                z2.assign(&part);
            } else {
                z2 += &part;
            }
        }
        output_activations(z2, self.b2.view(), ws.a2.slice_mut(s![..n, ..]));
        let batch_score = if self.index == 0 {
            score(ws, step.cost)
        } else {
            Score::default()
        };
        laps.lap(Phase::ForwardElementwise);

        let mut d2 = ws.d2.slice_mut(s![..n, ..]);
        output_deltas(
            ws.a2.slice(s![..n, ..]),
            ws.y.slice(s![..n, ..]),
            step.cost,
            d2.view_mut(),
        );
        laps.lap(Phase::BackwardElementwise);
        let mut d1 = ws.d1.slice_mut(s![..n, ..]);
        general_mat_mul(1.0, &d2, &self.w2, 0.0, &mut d1);
        laps.lap(Phase::BackwardProducts);
        let a1 = ws.a1.slice(s![..n, ..]);
        times_sigmoid_derivative(d1.view_mut(), a1);
        laps.lap(Phase::BackwardElementwise);

        let x = ws.x.slice(s![..n, ..]);
        update_layer(
            self.w2.view_mut(),
            self.b2.view_mut(),
            d2.view(),
            a1,
            step.lr,
        );
        update_layer(
            self.w1.view_mut(),
            self.b1.view_mut(),
            d1.view(),
            x,
            step.lr,
        );
        laps.lap(Phase::Update);
        batch_score
    }
}
