//! The training step, with the input layer cut into pixel slices that the
//! training threads share out.
//!
//! The input layer holds nearly all the work (x·w1ᵀ forward, w1 −= lr·d1ᵀ·x
//! in the update, both over 784 pixels); the rest of the network is a few
//! hundred numbers per sample. So the 784 pixel columns are cut into slices,
//! and per batch the thread that owns a slice
//!   1. gathers and standardises the batch's pixels of its slices,
//!   2. computes each slice's partial input products x_s·w1_sᵀ,
//!   3. waits at the one barrier of the batch,
//!   4. sums every slice's partial, in slice order, and runs the rest of the
//!      network (hidden and output layers, backward pass, and the updates of
//!      b1, w2 and b2) on its own copy of those small parameters,
//!   5. updates the w1 columns of its slices: w1_s −= lr·d1ᵀ·x_s.
//!
//! Step 4 is the same arithmetic on the same numbers in every thread, so
//! the copies stay identical without being exchanged. Nothing that is
//! computed depends on which thread computes it, so **the results do not
//! depend on the number of threads** when the slices are the same: one
//! thread works through both of the two slices that two threads share out.
//!
//! Partial products are double-buffered by batch parity: a thread writing
//! batch i+1's partials cannot disturb a slower one still reading batch i's,
//! and it cannot reach batch i+2 before everyone has passed barrier i+1.
//! OpenBLAS stays single-threaded inside each thread: its own threading
//! costs more than it gains at these shapes.

use std::ops::Range;
use std::sync::Mutex;

use indicatif::ProgressBar;
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayViewMut1, ArrayViewMut2, Axis};

use crate::data::batch::{batches_with_next, gather_columns, prefetch};
use crate::data::dataset::{Dataset, CLASSES, PIXELS};
use crate::nn::cost::Cost;
use crate::nn::network::{backward_timed, forward_from_input_products, score, Params, Score};
use crate::nn::sgd::{update_all_but_w1, update_weights};
use crate::nn::workspace::Workspace;
use crate::train::barrier::SpinBarrier;
use crate::train::profile::{Laps, Phase};

/// The number of pixel slices for `threads` threads: at least two, so that
/// one thread and two train bit for bit alike; one per thread beyond that.
fn slice_count(threads: usize) -> usize {
    threads.max(2)
}

/// A thread's copy of the parameters every thread updates alike.
struct SmallParams {
    b1: Array1<f32>,
    w2: Array2<f32>,
    b2: Array1<f32>,
}

/// The per-thread buffers and the shared partial products, allocated once
/// for the batch size.
pub struct Team {
    /// Slice s is pixel columns bounds[s]..bounds[s + 1].
    bounds: Vec<usize>,
    /// Each thread's buffers; thread t fills only its slices' columns of x.
    workspaces: Vec<Workspace>,
    /// The copies of b1, w2 and b2 for threads 1.. (thread 0 updates the
    /// parameters themselves).
    copies: Vec<SmallParams>,
    /// (B,H) partial input products, per slice, per batch parity.
    partials: Vec<[Mutex<Array2<f32>>; 2]>,
    /// barriers[k - 1] is for k active threads.
    barriers: Vec<SpinBarrier>,
}

impl Team {
    pub fn new(threads: usize, batch_size: usize, hidden: usize) -> Self {
        let threads = threads.max(1);
        let slices = slice_count(threads);
        let partial = || Mutex::new(Array2::zeros((batch_size, hidden)));
        Self {
            bounds: (0..=slices).map(|s| s * PIXELS / slices).collect(),
            workspaces: (0..threads)
                .map(|_| Workspace::new(batch_size, hidden))
                .collect(),
            copies: (1..threads)
                .map(|_| SmallParams {
                    b1: Array1::zeros(hidden),
                    w2: Array2::zeros((CLASSES, hidden)),
                    b2: Array1::zeros(CLASSES),
                })
                .collect(),
            partials: (0..slices).map(|_| [partial(), partial()]).collect(),
            barriers: (1..=threads).map(SpinBarrier::new).collect(),
        }
    }

    /// The most threads this team can run.
    pub fn threads(&self) -> usize {
        self.workspaces.len()
    }

    /// Each thread's buffers, for work between passes (evaluation).
    pub fn workspaces_mut(&mut self) -> &mut [Workspace] {
        &mut self.workspaces
    }

    /// Trains on the batches of `order` with `active` threads (at most
    /// `threads()`), each on its own thread but thread 0, which runs on the
    /// caller's and reports laps and progress. Adds each batch's score,
    /// taken just before its update, to `total`.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        active: usize,
        total: &mut Score,
        params: &mut Params,
        data: &Dataset,
        order: &[usize],
        batch_size: usize,
        cost: Cost,
        lr: f32,
        laps: &mut (impl Laps + Send),
        progress: Option<&ProgressBar>,
    ) {
        assert!(
            (1..=self.threads()).contains(&active),
            "{active} active threads in a team of {}",
            self.threads()
        );
        for copy in &mut self.copies[..active - 1] {
            copy.b1.assign(&params.b1);
            copy.w2.assign(&params.w2);
            copy.b2.assign(&params.b2);
        }
        let shared = Shared {
            data,
            order,
            batch_size,
            cost,
            lr,
            bounds: &self.bounds,
            partials: &self.partials,
            barrier: &self.barriers[active - 1],
        };
        // Thread t's w1 columns: those of its slices, which are adjacent.
        // Slices first(t)..first(t + 1) belong to thread t of `active`.
        let slices = self.bounds.len() - 1;
        let first = move |t: usize| t * slices / active;
        let bounds = &self.bounds;
        let width = |t| bounds[first(t + 1)] - bounds[first(t)];
        let (w1, mut w1_rest) = params.w1.view_mut().split_at(Axis(1), width(0));
        let mut workspaces = self.workspaces.iter_mut();
        let leader = Member {
            index: 0,
            slices: first(0)..first(1),
            w1,
            ws: workspaces.next().expect("at least one thread"),
            b1: params.b1.view_mut(),
            w2: params.w2.view_mut(),
            b2: params.b2.view_mut(),
        };
        // One thread needs no scope (whose setup allocates).
        if active == 1 {
            return leader.run(&shared, total, laps, progress);
        }
        let others = workspaces.zip(&mut self.copies).take(active - 1);
        std::thread::scope(|scope| {
            for (t, (ws, copy)) in (1..).zip(others) {
                let (w1, rest) = w1_rest.split_at(Axis(1), width(t));
                w1_rest = rest;
                let member = Member {
                    index: t,
                    slices: first(t)..first(t + 1),
                    w1,
                    ws,
                    b1: copy.b1.view_mut(),
                    w2: copy.w2.view_mut(),
                    b2: copy.b2.view_mut(),
                };
                let shared = &shared;
                scope.spawn(move || member.run(shared, &mut Score::default(), &mut (), None));
            }
            leader.run(&shared, total, laps, progress)
        })
    }
}

/// What every thread of a pass reads.
struct Shared<'a> {
    data: &'a Dataset,
    order: &'a [usize],
    batch_size: usize,
    cost: Cost,
    lr: f32,
    bounds: &'a [usize],
    partials: &'a [[Mutex<Array2<f32>>; 2]],
    barrier: &'a SpinBarrier,
}

impl Shared<'_> {
    fn columns(&self, slice: usize) -> Range<usize> {
        self.bounds[slice]..self.bounds[slice + 1]
    }

    /// The columns of `slice` within the columns of `slices`.
    fn columns_within(&self, slice: usize, slices: &Range<usize>) -> Range<usize> {
        let first = self.bounds[slices.start];
        self.bounds[slice] - first..self.bounds[slice + 1] - first
    }
}

/// One thread's slices, parameters and buffers for a pass.
struct Member<'a> {
    index: usize,
    slices: Range<usize>,
    /// (H, columns of its slices).
    w1: ArrayViewMut2<'a, f32>,
    ws: &'a mut Workspace,
    b1: ArrayViewMut1<'a, f32>,
    w2: ArrayViewMut2<'a, f32>,
    b2: ArrayViewMut1<'a, f32>,
}

impl Member<'_> {
    /// Trains on every batch of the pass, adding the scores to `total`
    /// (only thread 0 scores).
    fn run(
        mut self,
        shared: &Shared,
        total: &mut Score,
        laps: &mut impl Laps,
        progress: Option<&ProgressBar>,
    ) {
        let columns = shared.bounds[self.slices.start]..shared.bounds[self.slices.end];
        let mut unreported = 0;
        for (i, (batch, next)) in batches_with_next(shared.order, shared.batch_size).enumerate() {
            gather_columns(self.ws, shared.data, batch.iter().copied(), columns.clone());
            if let Some(next) = next {
                prefetch(shared.data, next);
            }
            laps.lap(Phase::Gather);
            let batch_score = self.step(shared, i % 2, laps);
            if self.index == 0 {
                total.add(batch_score);
                unreported += batch.len();
                if let Some(bar) =
                    progress.filter(|_| i % crate::train::trainer::PROGRESS_EVERY == 0)
                {
                    bar.inc(std::mem::take(&mut unreported) as u64);
                }
            }
        }
        if let Some(bar) = progress {
            bar.inc(unreported as u64);
        }
    }

    fn step(&mut self, shared: &Shared, parity: usize, laps: &mut impl Laps) -> Score {
        let n = self.ws.rows;
        for slice in self.slices.clone() {
            let x = self.ws.x.slice(s![..n, shared.columns(slice)]);
            let w1 = self
                .w1
                .slice(s![.., shared.columns_within(slice, &self.slices)]);
            let mut partial = shared.partials[slice][parity]
                .lock()
                .expect("no thread panics");
            general_mat_mul(1.0, &x, &w1.t(), 0.0, &mut partial.slice_mut(s![..n, ..]));
        }
        laps.lap(Phase::ForwardProducts);

        shared.barrier.wait();
        laps.lap(Phase::Sync);

        let a1 = self.ws.a1.as_slice_mut().expect("buffers are row-major");
        let a1 = &mut a1[..n * self.b1.len()];
        for (slice, partials) in shared.partials.iter().enumerate() {
            let partial = partials[parity].lock().expect("no thread panics");
            let partial = &partial.as_slice().expect("buffers are row-major")[..a1.len()];
            if slice == 0 {
                a1.copy_from_slice(partial);
            } else {
                a1.iter_mut().zip(partial).for_each(|(z, p)| *z += p);
            }
        }
        forward_from_input_products(
            self.ws,
            self.b1.view(),
            self.w2.view(),
            self.b2.view(),
            laps,
        );
        let batch_score = if self.index == 0 {
            score(self.ws, shared.cost)
        } else {
            Score::default()
        };
        laps.lap(Phase::ForwardElementwise);
        backward_timed(self.ws, self.w2.view(), shared.cost, laps);

        update_all_but_w1(
            self.w2.view_mut(),
            self.b2.view_mut(),
            self.b1.view_mut(),
            self.ws,
            shared.lr,
        );
        let d1 = self.ws.d1.slice(s![..n, ..]);
        for slice in self.slices.clone() {
            let x = self.ws.x.slice(s![..n, shared.columns(slice)]);
            let w1 = self
                .w1
                .slice_mut(s![.., shared.columns_within(slice, &self.slices)]);
            update_weights(w1, d1, x, shared.lr);
        }
        laps.lap(Phase::Update);
        batch_score
    }
}
