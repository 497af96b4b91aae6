//! The training step, shared out between the training threads.
//!
//! Every layer's work is cut into the same fixed number of slices (two,
//! or one per thread beyond two), and each thread owns a run of adjacent
//! slices. A slice's products are the same sgemm calls with the same
//! shapes whichever thread runs them, and wherever slices meet, their
//! results are combined in slice order, so **the results do not depend on
//! the number of threads**: one thread works through both of the two
//! slices that two threads share out.
//!
//! How a layer (out, in) is cut depends on its shape (`Split`):
//! - the input layer, by pixel columns. Each thread gathers its columns of
//!   the batch, computes each slice's partial input products x_s·w_sᵀ and,
//!   after the barrier, sums every slice's partial in slice order. Its
//!   update is column-sliced too (w_s −= lr·dzᵀ·x_s), so x is never shared.
//!   For the length of a pass each thread holds its columns of w, and of
//!   their optimiser state, in a block of its own (`InputBlock`), and it
//!   gathers its slices' pixels into blocks of its own: cut out of the
//!   row-major w in place, every row of one thread's columns would sit
//!   next to a row of another's, and the cores' prefetchers would pull
//!   each other's lines back and forth.
//! - a wide hidden layer, by output units (rows of w). Forward, each slice
//!   writes its block of outputs (B, rows_s) and every thread copies all
//!   blocks after a barrier; backward, each slice writes its partial
//!   ∂C/∂input = dz_s·w_s (B, in), summed in slice order after a barrier,
//!   and steps its own rows. Each thread touches only its own rows of w.
//! - a small layer (the tutorial's hidden-to-output layer) is not cut:
//!   every thread runs it whole on its own copy of its parameters and
//!   optimiser state. The copies see the same arithmetic on the same
//!   numbers, so they stay identical without being exchanged, and cost
//!   less than the barriers sharing would need.
//!
//! Element-wise stages (bias, activation, dropout, output units, deltas)
//! run on whole layers in every thread: they are cheap next to the
//! products, and dropout masks come from a counter-based hash, not a
//! shared stream.
//!
//! Exchange buffers are double-buffered by batch parity: a thread writing
//! batch i+1's cannot disturb a slower one still reading batch i's, and it
//! cannot reach batch i+2 before everyone has passed batch i+1's first
//! barrier. OpenBLAS stays single-threaded inside each thread: its own
//! threading costs more than it gains at these shapes.

use std::ops::Range;
use std::sync::{Mutex, RwLock};

use ndarray::linalg::general_mat_mul;
use ndarray::{
    s, Array1, Array2, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Dimension, Ix1, Ix2,
};

use crate::data::augment::{redraw, Augment, Scratch};
use crate::data::batch::{batches_with_next, gather_columns, prefetch, Normalisation};
use crate::data::dataset::{Dataset, PIXELS};
use crate::nn::aligned;
use crate::nn::arch::Arch;
use crate::nn::dropout::mask_key;
use crate::nn::gemm::{product_abt, Form};
use crate::nn::network::{
    add_to_rows, finish_hidden, finish_output, hidden_deltas, output_deltas, score, Dropout, Score,
};
use crate::nn::params::{Layer, Params};
use crate::nn::subnormals::flush_subnormals;
use crate::nn::workspace::{flat, flat_mut, HiddenBuffers, Workspace};
use crate::optim::schedule::LrSchedule;
use crate::optim::{states, Optimizer, States, Step};
use crate::train::affinity::Cores;
use crate::train::barrier::SpinBarrier;
use crate::train::observer::{Observer, Phase};

/// The number of slices for `threads` threads: at least two, so that one
/// thread and two train bit for bit alike; one per thread beyond that.
fn slice_count(threads: usize) -> usize {
    threads.max(2)
}

/// Weights from which a hidden layer is cut by units rather than run whole
/// by every thread: below it, the barriers cost more than the halved work
/// saves (see the README's thread notes).
pub const SHARED_LAYER_WEIGHTS: usize = 64 * 1024;

/// How a layer's work is shared out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// By input columns: the input layer.
    Inputs,
    /// By output units.
    Units,
    /// Not at all: every thread runs it whole on its own copy.
    Whole,
}

/// A layer's split and, for a cut layer, where its slices start and end.
#[derive(Debug, Clone)]
struct Plan {
    split: Split,
    /// Slice s is columns (Inputs) or rows (Units) bounds[s]..bounds[s + 1].
    bounds: Vec<usize>,
}

impl Plan {
    fn new(layer: usize, inputs: usize, outputs: usize, slices: usize) -> Self {
        let split = if layer == 0 {
            Split::Inputs
        } else if inputs * outputs >= SHARED_LAYER_WEIGHTS && outputs >= 16 * slices {
            Split::Units
        } else {
            Split::Whole
        };
        let cut = match split {
            Split::Inputs => inputs,
            Split::Units => outputs,
            Split::Whole => 0,
        };
        Self {
            split,
            bounds: (0..=slices).map(|s| s * cut / slices).collect(),
        }
    }

    fn range(&self, slice: usize) -> Range<usize> {
        self.bounds[slice]..self.bounds[slice + 1]
    }

    /// The columns or rows the run of slices `slices` covers.
    fn span(&self, slices: &Range<usize>) -> Range<usize> {
        self.bounds[slices.start]..self.bounds[slices.end]
    }

    /// The range of `slice` within the run of slices `slices`.
    fn range_within(&self, slice: usize, slices: &Range<usize>) -> Range<usize> {
        let first = self.span(slices).start;
        self.bounds[slice] - first..self.bounds[slice + 1] - first
    }

    fn widest(&self) -> usize {
        self.bounds
            .windows(2)
            .map(|b| b[1] - b[0])
            .max()
            .unwrap_or(0)
    }
}

/// The optimiser's state: per layer, `Optimizer::state_tensors` tensors
/// shaped like its weights and as many like its bias.
#[derive(Debug, Clone, PartialEq)]
pub struct OptimState {
    pub layers: Vec<LayerState>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LayerState {
    pub w: Vec<Array2<f32>>,
    pub b: Vec<Array1<f32>>,
}

impl OptimState {
    pub fn zeros(sizes: &[usize], optimizer: Optimizer) -> Self {
        let k = optimizer.state_tensors();
        Self {
            layers: sizes
                .windows(2)
                .map(|p| LayerState {
                    w: (0..k).map(|_| Array2::zeros((p[1], p[0]))).collect(),
                    b: (0..k).map(|_| Array1::zeros(p[1])).collect(),
                })
                .collect(),
        }
    }
}

/// A thread's own copy of what every thread updates alike: the whole of
/// each `Whole` layer and the input layer's bias, with their state. Other
/// layers' entries are empty.
struct Copies {
    layers: Vec<Layer>,
    state: OptimState,
}

/// A thread's columns of the input layer's weights and of their optimiser
/// state during a pass, rows contiguous, starting on a cache line. Storage
/// for all 784 columns, so that it holds whatever run of slices the thread
/// owns at any thread count.
struct InputBlock {
    w: Array2<f32>,
    state: Vec<Array2<f32>>,
}

impl InputBlock {
    fn new(outputs: usize, inputs: usize, state_tensors: usize) -> Self {
        Self {
            w: aligned::zeros((outputs, inputs)),
            state: (0..state_tensors)
                .map(|_| aligned::zeros((outputs, inputs)))
                .collect(),
        }
    }

    /// Views of the first `columns` columns' worth of each tensor, shaped
    /// (outputs, columns) with rows `columns` apart.
    fn views(&mut self, columns: usize) -> (ArrayViewMut2<'_, f32>, Vec<ArrayViewMut2<'_, f32>>) {
        fn packed(t: &mut Array2<f32>, columns: usize) -> ArrayViewMut2<'_, f32> {
            let rows = t.nrows();
            let flat = t.as_slice_mut().expect("a block is contiguous");
            ArrayViewMut2::from_shape((rows, columns), &mut flat[..rows * columns])
                .expect("rows × columns fit the block")
        }
        let w = packed(&mut self.w, columns);
        let state = self.state.iter_mut().map(|t| packed(t, columns)).collect();
        (w, state)
    }

    /// Copies `columns` of w and its state in.
    fn load(&mut self, w: &Array2<f32>, state: &[Array2<f32>], columns: Range<usize>) {
        let (mut mine, mut my_state) = self.views(columns.len());
        mine.assign(&w.slice(s![.., columns.clone()]));
        for (m, s) in my_state.iter_mut().zip(state) {
            m.assign(&s.slice(s![.., columns.clone()]));
        }
    }

    /// Copies them back out to `columns` of w and its state.
    fn store(&mut self, w: &mut Array2<f32>, state: &mut [Array2<f32>], columns: Range<usize>) {
        let (mine, my_state) = self.views(columns.len());
        w.slice_mut(s![.., columns.clone()]).assign(&mine);
        for (s, m) in state.iter_mut().zip(&my_state) {
            s.slice_mut(s![.., columns.clone()]).assign(m);
        }
    }
}

/// One thread's buffers.
struct Crew {
    input: InputBlock,
    /// Row j: the batch's pixels of the thread's j-th slice, (rows,
    /// columns) row-major from the row's start, on a cache line for the
    /// reason the input block is.
    pixels: Array2<f32>,
    ws: Workspace,
    /// Per layer, the gradient of the widest block this thread steps at a
    /// time; empty when the optimiser needs no gradient.
    grads: Vec<Layer>,
    /// The batch's redrawn images; empty without augmentation.
    scratch: Scratch,
    /// The input layer's transposed partials summed, (H_1, B); empty for
    /// the direct form.
    partials_sum: Array2<f32>,
}

/// What one thread steps in one layer during a pass: its block of the
/// weights (columns for the input layer, rows for a cut layer, all of a
/// whole one), the bias it keeps, and their optimiser state.
struct Part<'a> {
    w: ArrayViewMut2<'a, f32>,
    b: ArrayViewMut1<'a, f32>,
    w_state: Vec<ArrayViewMut2<'a, f32>>,
    b_state: Vec<ArrayViewMut1<'a, f32>>,
}

/// Per slice, the exchange buffer of each batch parity.
type Exchange = Vec<[Mutex<Array2<f32>>; 2]>;

/// Per slice, the images of its share of the batch (784 bytes each) as
/// redrawn by the thread that owns it, for each batch parity.
type Redrawn = Vec<[RwLock<Vec<u8>>; 2]>;

/// The rows of a batch of `n` that `slice` of `slices` redraws.
fn share_of_batch(n: usize, slice: usize, slices: usize) -> Range<usize> {
    slice * n / slices..(slice + 1) * n / slices
}

/// The per-thread buffers and the shared exchange buffers, allocated once
/// for the architecture and the batch size.
pub struct Team {
    plans: Vec<Plan>,
    /// How the input layer's forward product is computed; its exchange
    /// blocks are (H_1, B) when transposed.
    input_form: Form,
    crews: Vec<Crew>,
    /// The copies of threads 1.. (thread 0 steps the parameters themselves).
    copies: Vec<Copies>,
    /// Per layer: the input layer's partial products (B, H_1) per slice;
    /// a cut layer's output blocks (B, rows_s); nothing for a whole one.
    forward: Vec<Exchange>,
    /// Per layer: a cut layer's partial ∂C/∂input (B, in) per slice.
    backward: Vec<Exchange>,
    /// The batch's augmented images, each slice's share drawn once by
    /// its thread; empty without augmentation.
    redrawn: Redrawn,
    /// barriers[k - 1] is for k active threads.
    barriers: Vec<SpinBarrier>,
}

/// What a product of the step computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    /// input·wᵀ: (B, in)·(in, out).
    Forward,
    /// ∂C/∂input = dz·w: (B, out)·(out, in).
    BackwardInput,
    /// The weight gradient (or SGD's fused update) dzᵀ·input: (out, B)·(B, in).
    Weights,
}

impl ProductKind {
    pub fn name(self) -> &'static str {
        match self {
            ProductKind::Forward => "forward",
            ProductKind::BackwardInput => "backward",
            ProductKind::Weights => "weights",
        }
    }
}

/// One product of the step: (m, k)·(k, n) as `shape` (m, k, n), computed
/// `slices` times per batch (once per slice of its layer).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Product {
    pub layer: usize,
    pub kind: ProductKind,
    pub shape: (usize, usize, usize),
    pub slices: usize,
    /// Only the input layer's forward product has a choice; the others are
    /// computed as written.
    pub form: Form,
}

impl Product {
    pub fn flops(&self) -> f64 {
        let (m, k, n) = self.shape;
        2.0 * (m * k * n) as f64
    }
}

/// Floats a team for `threads` threads allocates: what `Team::new` would
/// allocate, to refuse a size that does not fit before allocating it.
pub fn team_floats(
    sizes: &[usize],
    batch_size: usize,
    threads: usize,
    optimizer: Optimizer,
    dropout: bool,
) -> u128 {
    let (b, t) = (batch_size as u128, threads.max(1) as u128);
    let widths: u128 = sizes.iter().map(|&n| n as u128).sum();
    let hidden: u128 = sizes[1..sizes.len() - 1].iter().map(|&n| n as u128).sum();
    let weights: u128 = sizes.windows(2).map(|p| (p[0] * p[1] + p[1]) as u128).sum();
    let per_thread =
        b * (widths + hidden * (1 + 2 * dropout as u128) + 4 * sizes[sizes.len() - 1] as u128);
    let grads = if optimizer.needs_gradient() {
        weights
    } else {
        0
    };
    // Each thread's block of the input layer, its weights and their
    // state, and the sum of the layer's transposed partials.
    let input_block = (1 + optimizer.state_tensors() as u128) * (sizes[0] * sizes[1]) as u128
        + b * sizes[1] as u128;
    // Copies, grads and exchange buffers are bounded by the weights and a
    // few batch-wide blocks per layer.
    t * (per_thread + grads + weights + input_block) + 4 * b * widths * slice_count(threads) as u128
}

impl Team {
    pub fn new(
        threads: usize,
        batch_size: usize,
        sizes: &[usize],
        optimizer: Optimizer,
        dropout: bool,
        augment: Option<&Augment>,
        input_form: Form,
    ) -> Self {
        let threads = threads.max(1);
        let slices = slice_count(threads);
        let plans: Vec<Plan> = sizes
            .windows(2)
            .enumerate()
            .map(|(l, p)| Plan::new(l, p[0], p[1], slices))
            .collect();
        // Per slice, its block's shape (rows, columns), for each batch parity.
        let exchange = |shape: &dyn Fn(usize) -> (usize, usize)| -> Exchange {
            (0..slices)
                .map(|s| [0, 1].map(|_| Mutex::new(Array2::zeros(shape(s)))))
                .collect()
        };
        let forward = plans
            .iter()
            .enumerate()
            .map(|(l, plan)| match (plan.split, input_form) {
                (Split::Inputs, Form::Direct) => exchange(&|_| (batch_size, sizes[l + 1])),
                (Split::Inputs, Form::Transposed) => exchange(&|_| (sizes[l + 1], batch_size)),
                (Split::Units, _) => exchange(&|s| (batch_size, plan.range(s).len())),
                (Split::Whole, _) => Vec::new(),
            })
            .collect();
        let backward = plans
            .iter()
            .enumerate()
            .map(|(l, plan)| match plan.split {
                Split::Units => exchange(&|_| (batch_size, sizes[l])),
                Split::Inputs | Split::Whole => Vec::new(),
            })
            .collect();
        let grad_shape = |l: usize, plan: &Plan| match plan.split {
            Split::Inputs => Layer {
                w: Array2::zeros((sizes[l + 1], plan.widest())),
                b: Array1::zeros(sizes[l + 1]),
            },
            Split::Units => Layer::zeros(sizes[l], plan.widest()),
            Split::Whole => Layer::zeros(sizes[l], sizes[l + 1]),
        };
        let k = optimizer.state_tensors();
        let crews = (0..threads)
            .map(|_| Crew {
                input: InputBlock::new(sizes[1], sizes[0], k),
                pixels: aligned::zeros((slices, pixel_block_floats(batch_size, &plans[0]))),
                ws: Workspace::new(batch_size, sizes, dropout),
                grads: if optimizer.needs_gradient() {
                    plans
                        .iter()
                        .enumerate()
                        .map(|(l, p)| grad_shape(l, p))
                        .collect()
                } else {
                    Vec::new()
                },
                scratch: augment.map_or_else(Scratch::default, |a| Scratch::new(batch_size, a)),
                partials_sum: match input_form {
                    Form::Direct => Array2::zeros((0, 0)),
                    Form::Transposed => Array2::zeros((sizes[1], batch_size)),
                },
            })
            .collect();
        let copy_of = |l: usize, plan: &Plan| {
            let (w, b) = match plan.split {
                Split::Whole => ((sizes[l + 1], sizes[l]), sizes[l + 1]),
                Split::Inputs => ((0, 0), sizes[l + 1]),
                Split::Units => ((0, 0), 0),
            };
            (
                Layer {
                    w: aligned::zeros(w),
                    b: Array1::zeros(b),
                },
                LayerState {
                    w: (0..k).map(|_| Array2::zeros(w)).collect(),
                    b: (0..k).map(|_| Array1::zeros(b)).collect(),
                },
            )
        };
        let copies = (1..threads)
            .map(|_| {
                let (layers, state) = plans.iter().enumerate().map(|(l, p)| copy_of(l, p)).unzip();
                Copies {
                    layers,
                    state: OptimState { layers: state },
                }
            })
            .collect();
        let redrawn = match augment {
            Some(_) => (0..slices)
                .map(|_| [0, 1].map(|_| RwLock::new(vec![0; batch_size.div_ceil(slices) * PIXELS])))
                .collect(),
            None => Vec::new(),
        };
        Self {
            plans,
            input_form,
            crews,
            copies,
            forward,
            backward,
            redrawn,
            barriers: (1..=threads).map(SpinBarrier::new).collect(),
        }
    }

    /// How the input layer's forward product is computed.
    pub fn input_form(&self) -> Form {
        self.input_form
    }

    /// The products of one training step at batch `b`, one entry per
    /// layer and kind, each at the shape of one of its slices.
    pub fn products(&self, b: usize, sizes: &[usize]) -> Vec<Product> {
        let mut products = Vec::new();
        for (l, plan) in self.plans.iter().enumerate() {
            let (inputs, outputs) = (sizes[l], sizes[l + 1]);
            let slices = if plan.split == Split::Whole {
                1
            } else {
                plan.bounds.len() - 1
            };
            let (k, rows) = match plan.split {
                Split::Inputs => (plan.widest(), outputs),
                Split::Units => (inputs, plan.widest()),
                Split::Whole => (inputs, outputs),
            };
            let form = if l == 0 {
                self.input_form
            } else {
                Form::Direct
            };
            let mut add = |kind, shape| {
                products.push(Product {
                    layer: l,
                    kind,
                    shape,
                    slices,
                    form,
                })
            };
            add(ProductKind::Forward, (b, k, rows));
            if l > 0 {
                add(ProductKind::BackwardInput, (b, rows, k));
            }
            add(ProductKind::Weights, (rows, b, k));
        }
        products
    }

    /// The most threads this team can run.
    pub fn threads(&self) -> usize {
        self.crews.len()
    }

    /// Each thread's buffers, for work between passes (evaluation).
    pub fn workspaces_mut(&mut self) -> impl Iterator<Item = &mut Workspace> {
        self.crews.iter_mut().map(|c| &mut c.ws)
    }

    /// Trains on the batches of `pass.order` with `active` threads (at most
    /// `threads()`), each on its own thread but thread 0, which runs on the
    /// caller's and reports to `observer`. Adds each batch's score, taken
    /// just before its update, to `total`.
    pub fn train(
        &mut self,
        active: usize,
        pass: &Pass,
        params: &mut Params,
        state: &mut OptimState,
        total: &mut Score,
        observer: &mut impl Observer,
    ) {
        assert!(
            (1..=self.threads()).contains(&active),
            "{active} active threads in a team of {}",
            self.threads()
        );
        for copy in &mut self.copies[..active - 1] {
            for (plan, ((mine, main), (my_state, main_state))) in self.plans.iter().zip(
                copy.layers
                    .iter_mut()
                    .zip(&params.layers)
                    .zip(copy.state.layers.iter_mut().zip(&state.layers)),
            ) {
                if plan.split == Split::Whole {
                    mine.w.assign(&main.w);
                    my_state
                        .w
                        .iter_mut()
                        .zip(&main_state.w)
                        .for_each(|(m, s)| m.assign(s));
                }
                if plan.split != Split::Units {
                    mine.b.assign(&main.b);
                    my_state
                        .b
                        .iter_mut()
                        .zip(&main_state.b)
                        .for_each(|(m, s)| m.assign(s));
                }
            }
        }
        let slices = self.plans[0].bounds.len() - 1;
        // Slices first(t)..first(t + 1) belong to thread t of `active`.
        let first = move |t: usize| t * slices / active;
        let runs: Vec<Range<usize>> = (0..active).map(|t| first(t)..first(t + 1)).collect();
        let columns: Vec<Range<usize>> = runs.iter().map(|r| self.plans[0].span(r)).collect();
        let (blocks, crews): (Vec<_>, Vec<_>) = self
            .crews
            .iter_mut()
            .map(|crew| {
                (
                    &mut crew.input,
                    (
                        &mut crew.pixels,
                        &mut crew.partials_sum,
                        &mut crew.ws,
                        &mut crew.grads,
                        &mut crew.scratch,
                    ),
                )
            })
            .unzip();
        let (input_w, input_state) = (&params.layers[0].w, &state.layers[0].w);
        let inputs = blocks
            .into_iter()
            .zip(&columns)
            .map(|(block, columns)| {
                block.load(input_w, input_state, columns.clone());
                block.views(columns.len())
            })
            .collect();
        let mut parts = share_out(
            &self.plans,
            &mut self.copies[..active - 1],
            &runs,
            inputs,
            params,
            state,
        );
        let shared = Shared {
            pass,
            input_form: self.input_form,
            plans: &self.plans,
            forward: &self.forward,
            backward: &self.backward,
            redrawn: &self.redrawn,
            barrier: &self.barriers[active - 1],
        };
        let mut members = crews.into_iter().zip(runs).enumerate().map(
            |(index, ((pixels, partials_sum, ws, grads, scratch), slices))| Member {
                index,
                slices,
                parts: parts.next().expect("a part per thread"),
                pixels,
                partials_sum,
                ws,
                grads,
                scratch,
            },
        );
        let leader = members.next().expect("at least one thread");
        let flush = flush_subnormals();
        // One thread needs no scope (whose setup allocates).
        if active == 1 {
            leader.run(&shared, total, observer);
        } else {
            run_together(leader, members, &shared, total, observer);
        }
        drop(flush);
        for (crew, columns) in self.crews.iter_mut().zip(columns) {
            crew.input
                .store(&mut params.layers[0].w, &mut state.layers[0].w, columns);
        }
    }
}

/// Runs `leader` on the caller's thread and the other `members` on
/// threads of their own, each pinned to a core.
fn run_together<'a>(
    leader: Member<'a>,
    members: impl Iterator<Item = Member<'a>>,
    shared: &Shared,
    total: &mut Score,
    observer: &mut impl Observer,
) {
    let cores = Cores::default();
    let _leader_pinned = cores.pin_here();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = members
            .map(|member| {
                let cores = &cores;
                let mut helper = observer.helper(member.index);
                let index = member.index;
                let thread = scope.spawn(move || {
                    let _pinned = cores.pin_here();
                    let _flush = flush_subnormals();
                    member.run(shared, &mut Score::default(), &mut helper);
                    helper
                });
                (index, thread)
            })
            .collect();
        leader.run(shared, total, observer);
        for (index, thread) in helpers {
            let helper = thread.join().expect("no training thread panics");
            observer.join(index, helper);
        }
    })
}

/// Each thread's parts of every layer, for threads owning the slices
/// `runs`: cut layers are split between them, thread 0 steps the
/// parameters of whole ones and the others their `copies`.
fn share_out<'a>(
    plans: &[Plan],
    copies: &'a mut [Copies],
    runs: &[Range<usize>],
    inputs: Vec<(ArrayViewMut2<'a, f32>, Vec<ArrayViewMut2<'a, f32>>)>,
    params: &'a mut Params,
    state: &'a mut OptimState,
) -> std::vec::IntoIter<Vec<Part<'a>>> {
    let mut inputs = inputs.into_iter();
    let mut per_thread: Vec<Vec<Part<'a>>> = runs
        .iter()
        .map(|_| Vec::with_capacity(plans.len()))
        .collect();
    let mut copies: Vec<_> = copies
        .iter_mut()
        .map(|c| c.layers.iter_mut().zip(c.state.layers.iter_mut()))
        .collect();
    for ((plan, layer), layer_state) in plans.iter().zip(&mut params.layers).zip(&mut state.layers)
    {
        let widths: Vec<usize> = runs.iter().map(|r| plan.span(r).len()).collect();
        // Every thread's copy of this layer, threads 1.. in order.
        let layer_copies: Vec<_> = copies
            .iter_mut()
            .map(|c| c.next().expect("a copy per layer"))
            .collect();
        let (
            Layer { w, b },
            LayerState {
                w: w_state,
                b: b_state,
            },
        ) = (layer, layer_state);
        match plan.split {
            Split::Whole => {
                per_thread[0].push(Part::of(w, b, w_state, b_state));
                for (parts, (copy, copy_state)) in per_thread[1..].iter_mut().zip(layer_copies) {
                    parts.push(Part::of(
                        &mut copy.w,
                        &mut copy.b,
                        &mut copy_state.w,
                        &mut copy_state.b,
                    ));
                }
            }
            Split::Inputs => {
                // Its weights are in the threads' blocks for the pass.
                let biases = std::iter::once((b, b_state)).chain(
                    layer_copies
                        .into_iter()
                        .map(|(copy, copy_state)| (&mut copy.b, &mut copy_state.b)),
                );
                for (parts, (b, b_state)) in per_thread.iter_mut().zip(biases) {
                    let (w, w_state) = inputs.next().expect("an input block per thread");
                    parts.push(Part {
                        w,
                        b: b.view_mut(),
                        w_state,
                        b_state: b_state.iter_mut().map(|s| s.view_mut()).collect(),
                    });
                }
            }
            Split::Units => {
                let mut w_states = cut_all(w_state, Axis(0), &widths);
                let mut b_states = cut_all(b_state, Axis(0), &widths);
                let ws = cut(w.view_mut(), Axis(0), &widths);
                let bs = cut(b.view_mut(), Axis(0), &widths);
                for ((parts, w), b) in per_thread.iter_mut().zip(ws).zip(bs) {
                    parts.push(Part {
                        w,
                        b,
                        w_state: next_blocks(&mut w_states),
                        b_state: next_blocks(&mut b_states),
                    });
                }
            }
        }
    }
    per_thread.into_iter()
}

/// Each of `tensors` cut as `cut` does, as iterators over their blocks.
fn cut_all<'a, D: Dimension>(
    tensors: &'a mut [ndarray::Array<f32, D>],
    axis: Axis,
    widths: &[usize],
) -> Vec<std::vec::IntoIter<ndarray::ArrayViewMut<'a, f32, D>>> {
    tensors
        .iter_mut()
        .map(|t| cut(t.view_mut(), axis, widths).into_iter())
        .collect()
}

/// The next block of each state tensor.
fn next_blocks<T>(states: &mut [std::vec::IntoIter<T>]) -> Vec<T> {
    states
        .iter_mut()
        .map(|s| s.next().expect("a block per thread"))
        .collect()
}

impl<'a> Part<'a> {
    /// The whole of a layer's weights, bias and their state.
    fn of(
        w: &'a mut Array2<f32>,
        b: &'a mut Array1<f32>,
        w_state: &'a mut [Array2<f32>],
        b_state: &'a mut [Array1<f32>],
    ) -> Self {
        Part {
            w: w.view_mut(),
            b: b.view_mut(),
            w_state: w_state.iter_mut().map(|s| s.view_mut()).collect(),
            b_state: b_state.iter_mut().map(|s| s.view_mut()).collect(),
        }
    }
}

/// Cuts `view` along `axis` into adjacent blocks of the given widths.
fn cut<'a, D: Dimension>(
    view: ndarray::ArrayViewMut<'a, f32, D>,
    axis: Axis,
    widths: &[usize],
) -> Vec<ndarray::ArrayViewMut<'a, f32, D>> {
    let mut blocks = Vec::with_capacity(widths.len());
    let mut rest = view;
    for &width in widths {
        let (block, after) = rest.split_at(axis, width);
        blocks.push(block);
        rest = after;
    }
    blocks
}

/// What a pass trains on, and with which settings.
pub struct Pass<'a> {
    pub data: &'a Dataset,
    pub order: &'a [usize],
    pub batch_size: usize,
    pub arch: &'a Arch,
    pub normalisation: Normalisation,
    pub schedule: LrSchedule,
    /// The epoch this pass belongs to, from 0 over the whole run.
    pub epoch: usize,
    /// Where the pass's first batch falls in its epoch, and the epoch's
    /// batches, for schedules that change the rate within an epoch.
    pub first_batch_in_epoch: usize,
    pub batches_in_epoch: usize,
    /// Batches trained before this pass over the whole run: numbers each
    /// batch for Adam's bias correction and the dropout masks.
    pub batches_before: u64,
    pub optimizer: Optimizer,
    pub momentum: f32,
    pub weight_decay: f32,
    pub dropout: f32,
    pub augment: Option<Augment>,
    pub label_smoothing: f32,
    pub seed: u64,
}

impl Pass<'_> {
    /// The optimiser step of the pass's batch `i`.
    fn step(&self, i: usize) -> Step {
        let progress = (self.first_batch_in_epoch + i) as f64 / self.batches_in_epoch.max(1) as f64;
        Step {
            optimizer: self.optimizer,
            lr: self.schedule.rate(self.epoch, progress),
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            t: self.batches_before + i as u64 + 1,
        }
    }

    fn dropout(&self, i: usize, layer: usize) -> Option<Dropout> {
        (self.dropout > 0.0).then(|| Dropout {
            p: self.dropout,
            key: mask_key(self.seed, self.batches_before + i as u64, layer),
        })
    }
}

/// What every thread of a pass reads.
struct Shared<'a> {
    pass: &'a Pass<'a>,
    /// How the input layer's forward product is computed.
    input_form: Form,
    plans: &'a [Plan],
    forward: &'a [Exchange],
    backward: &'a [Exchange],
    redrawn: &'a Redrawn,
    barrier: &'a SpinBarrier,
}

/// One thread's slices, parameters and buffers for a pass.
struct Member<'a> {
    index: usize,
    slices: Range<usize>,
    parts: Vec<Part<'a>>,
    pixels: &'a mut Array2<f32>,
    partials_sum: &'a mut Array2<f32>,
    ws: &'a mut Workspace,
    grads: &'a mut [Layer],
    scratch: &'a mut Scratch,
}

/// The batch's images, augmented: the thread owning `my_slices` redraws its slices'
/// shares, then, once every share is drawn, copies them all. Each image
/// is drawn once whatever the thread count, under a key of its own
/// (seed, epoch, image), so the images do not depend on who drew them.
fn redraw_batch<'s>(
    my_slices: &Range<usize>,
    scratch: &'s mut Scratch,
    shared: &Shared,
    (augment, batch, parity): (&Augment, &[usize], usize),
    observer: &mut impl Observer,
) -> &'s [u8] {
    let pass = shared.pass;
    let (n, slices) = (batch.len(), shared.redrawn.len());
    for slice in my_slices.clone() {
        let rows = share_of_batch(n, slice, slices);
        let mut share = shared.redrawn[slice][parity]
            .write()
            .expect("no training thread panics");
        redraw(
            pass.data,
            &batch[rows.clone()],
            &mut share[..rows.len() * PIXELS],
            augment,
            (pass.seed, pass.epoch),
            &mut scratch.resampler,
        );
    }
    observer.lap(Phase::Gather);
    shared.barrier.wait();
    observer.lap(Phase::Sync);
    let images = &mut scratch.images[..n * PIXELS];
    for (slice, share) in shared.redrawn.iter().enumerate() {
        let rows = share_of_batch(n, slice, slices);
        let share = share[parity].read().expect("no training thread panics");
        images[rows.start * PIXELS..rows.end * PIXELS]
            .copy_from_slice(&share[..rows.len() * PIXELS]);
    }
    images
}

/// Floats a slice's block of pixels takes: its widest batch, to a whole
/// number of cache lines.
fn pixel_block_floats(batch_size: usize, input: &Plan) -> usize {
    let per_line = aligned::CACHE_LINE / std::mem::size_of::<f32>();
    (batch_size * input.widest()).div_ceil(per_line) * per_line
}

/// The (rows, columns) block at the start of `storage`.
fn pixel_block(storage: &mut [f32], rows: usize, columns: usize) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape((rows, columns), &mut storage[..rows * columns])
        .expect("a batch of a slice's columns fits its block")
}

/// The batch's pixels of `slice`, one of the thread's `slices`.
fn slice_pixels<'p>(
    pixels: &'p Array2<f32>,
    rows: usize,
    plan: &Plan,
    slice: usize,
    slices: &Range<usize>,
) -> ArrayView2<'p, f32> {
    let columns = plan.range(slice).len();
    let storage = pixels
        .row(slice - slices.start)
        .to_slice()
        .expect("rows are contiguous");
    ArrayView2::from_shape((rows, columns), &storage[..rows * columns])
        .expect("a batch of a slice's columns fits its block")
}

/// `out` = the sum of every slice's partial of this parity, added in slice
/// order so that the rounding does not depend on which thread sums.
fn sum_in_slice_order(out: &mut [f32], partials: &Exchange, parity: usize) {
    for (slice, partial) in partials.iter().enumerate() {
        let partial = lock(&partial[parity]);
        let partial = flat(&partial, out.len());
        if slice == 0 {
            out.copy_from_slice(partial);
        } else {
            out.iter_mut().zip(partial).for_each(|(o, p)| *o += p);
        }
    }
}

/// `out` (n, H) = the sum of every slice's transposed partial (H, B) of
/// this parity, added in slice order as `sum_in_slice_order` does. The
/// partials are summed in their own layout into `sum` (H, B), along
/// contiguous rows, and the sum transposed once: adding a transposed view
/// in place walks one side a float per cache line.
fn sum_transposed_in_slice_order(
    out: ArrayViewMut2<f32>,
    sum: &mut Array2<f32>,
    partials: &Exchange,
    parity: usize,
) {
    let len = sum.len();
    sum_in_slice_order(flat_mut(sum, len), partials, parity);
    let n = out.nrows();
    transpose_into(out, sum.slice(s![.., ..n]));
}

/// `out` (n, h) = `src` (h, n) transposed, tile by tile, so that every
/// cache line read or written is used whole.
fn transpose_into(mut out: ArrayViewMut2<f32>, src: ArrayView2<f32>) {
    const TILE: usize = 16;
    let (n, h) = out.dim();
    for u0 in (0..h).step_by(TILE) {
        let units = u0..(u0 + TILE).min(h);
        for r0 in (0..n).step_by(TILE) {
            let rows = r0..(r0 + TILE).min(n);
            let mut tile = [[0f32; TILE]; TILE];
            for (tile_row, u) in tile.iter_mut().zip(units.clone()) {
                let src_row = src.row(u).to_slice().expect("rows are contiguous");
                tile_row[..rows.len()].copy_from_slice(&src_row[rows.clone()]);
            }
            for (j, r) in rows.clone().enumerate() {
                let out_row = out.row_mut(r).into_slice().expect("rows are contiguous");
                for (o, tile_row) in out_row[units.clone()].iter_mut().zip(&tile) {
                    *o = tile_row[j];
                }
            }
        }
    }
}

fn lock(buffer: &Mutex<Array2<f32>>) -> std::sync::MutexGuard<'_, Array2<f32>> {
    buffer.lock().expect("no training thread panics")
}

impl Member<'_> {
    /// Trains on every batch of the pass, adding the scores to `total`
    /// (only thread 0 scores and reports).
    fn run(mut self, shared: &Shared, total: &mut Score, observer: &mut impl Observer) {
        let pass = shared.pass;
        let input = &shared.plans[0];
        let my_columns = input.span(&self.slices);
        let mut unreported = 0;
        for (i, (batch, next)) in batches_with_next(pass.order, pass.batch_size).enumerate() {
            let redrawn = match &pass.augment {
                Some(augment) => Some(redraw_batch(
                    &self.slices,
                    self.scratch,
                    shared,
                    (augment, batch, i % 2),
                    observer,
                ) as &[u8]),
                None => None,
            };
            let n = batch.len();
            let blocks = self
                .pixels
                .rows_mut()
                .into_iter()
                .zip(self.slices.clone())
                .map(|(block, slice)| {
                    let columns = input.range(slice);
                    let block = pixel_block(
                        block.into_slice().expect("rows are contiguous"),
                        n,
                        columns.len(),
                    );
                    (columns, block)
                });
            gather_columns(
                self.ws,
                pass.data,
                batch.iter().copied(),
                blocks,
                pass.normalisation,
                redrawn,
                pass.label_smoothing,
            );
            if let Some(next) = next {
                prefetch(pass.data, next, my_columns.clone());
            }
            observer.lap(Phase::Gather);
            let batch_score = self.step(shared, i, observer);
            if self.index == 0 {
                total.add(batch_score);
                unreported += batch.len();
                if i % PROGRESS_EVERY == 0 {
                    observer.trained(std::mem::take(&mut unreported));
                }
            }
        }
        if self.index == 0 {
            observer.trained(unreported);
        }
    }

    fn step(&mut self, shared: &Shared, i: usize, observer: &mut impl Observer) -> Score {
        let pass = shared.pass;
        let parity = i % 2;
        let step = pass.step(i);
        let last = shared.plans.len() - 1;
        self.forward_input_layer(shared, parity, i, observer);
        for l in 1..=last {
            self.forward_layer(shared, l, parity, observer);
            if l < last {
                let bias = (shared.plans[l].split == Split::Whole).then(|| self.parts[l].b.view());
                finish_hidden(self.ws, l, bias, pass.arch.activation, pass.dropout(i, l));
            } else {
                let bias = (shared.plans[l].split == Split::Whole).then(|| self.parts[l].b.view());
                finish_output(self.ws, bias, pass.arch.output);
            }
            observer.layer_lap(Phase::ForwardElementwise, l);
        }
        let batch_score = if self.index == 0 {
            score(self.ws, pass.arch)
        } else {
            Score::default()
        };
        output_deltas(self.ws, pass.arch);
        observer.lap(Phase::BackwardElementwise);
        for l in (1..=last).rev() {
            self.backward_layer(shared, l, parity, &step, observer);
            hidden_deltas(self.ws, l - 1, pass.arch.activation);
            observer.layer_lap(Phase::BackwardElementwise, l - 1);
        }
        self.step_input_layer(shared, &step);
        observer.layer_lap(Phase::Update, 0);
        batch_score
    }

    /// x·w_0ᵀ from the slices' partials, then the first hidden layer's
    /// bias, activation and dropout.
    fn forward_input_layer(
        &mut self,
        shared: &Shared,
        parity: usize,
        i: usize,
        observer: &mut impl Observer,
    ) {
        let n = self.ws.rows;
        let plan = &shared.plans[0];
        for slice in self.slices.clone() {
            let x = slice_pixels(self.pixels, n, plan, slice, &self.slices);
            let w = self.parts[0]
                .w
                .slice(s![.., plan.range_within(slice, &self.slices)]);
            let mut partial = lock(&shared.forward[0][slice][parity]);
            let mut partial = match shared.input_form {
                Form::Direct => partial.slice_mut(s![..n, ..]),
                Form::Transposed => partial.slice_mut(s![.., ..n]),
            };
            product_abt(shared.input_form, &x, &w, &mut partial);
        }
        observer.layer_lap(Phase::ForwardProducts, 0);
        shared.barrier.wait();
        observer.layer_lap(Phase::Sync, 0);
        let a = &mut self.ws.hidden[0].a;
        let len = n * a.ncols();
        match shared.input_form {
            Form::Direct => sum_in_slice_order(flat_mut(a, len), &shared.forward[0], parity),
            Form::Transposed => sum_transposed_in_slice_order(
                a.slice_mut(s![..n, ..]),
                self.partials_sum,
                &shared.forward[0],
                parity,
            ),
        }
        let pass = shared.pass;
        finish_hidden(
            self.ws,
            0,
            Some(self.parts[0].b.view()),
            pass.arch.activation,
            pass.dropout(i, 0),
        );
        observer.layer_lap(Phase::ForwardElementwise, 0);
    }

    /// Layer l's products into its output buffer (the bias already added
    /// for a cut layer, whose bias rows only their owner may read).
    fn forward_layer(
        &mut self,
        shared: &Shared,
        l: usize,
        parity: usize,
        observer: &mut impl Observer,
    ) {
        let n = self.ws.rows;
        let plan = &shared.plans[l];
        let part = &self.parts[l];
        if plan.split == Split::Whole {
            let (input, mut output) = self.ws.input_and_output(l, shared.pass.dropout > 0.0);
            general_mat_mul(1.0, &input, &part.w.t(), 0.0, &mut output);
            observer.layer_lap(Phase::ForwardProducts, l);
            return;
        }
        let input = self.ws.input(l, shared.pass.dropout > 0.0);
        for slice in self.slices.clone() {
            let rows = plan.range_within(slice, &self.slices);
            let mut block = lock(&shared.forward[l][slice][parity]);
            let mut block = block.slice_mut(s![..n, ..]);
            general_mat_mul(
                1.0,
                &input,
                &part.w.slice(s![rows.clone(), ..]).t(),
                0.0,
                &mut block,
            );
            add_to_rows(
                block.as_slice_mut().expect("blocks are row-major"),
                part.b.slice(s![rows]),
            );
        }
        observer.layer_lap(Phase::ForwardProducts, l);
        shared.barrier.wait();
        observer.layer_lap(Phase::Sync, l);
        let (_, mut output) = self.ws.input_and_output(l, false);
        for (slice, blocks) in shared.forward[l].iter().enumerate() {
            let block = lock(&blocks[parity]);
            output
                .slice_mut(s![.., plan.range(slice)])
                .assign(&block.slice(s![..n, ..]));
        }
        observer.layer_lap(Phase::ForwardElementwise, l);
    }

    /// ∂C/∂(layer l's input) into the previous hidden layer's dz, then layer
    /// l's step, which must come after: the first reads the weights.
    fn backward_layer(
        &mut self,
        shared: &Shared,
        l: usize,
        parity: usize,
        step: &Step,
        observer: &mut impl Observer,
    ) {
        let n = self.ws.rows;
        let plan = &shared.plans[l];
        let part = &mut self.parts[l];
        let mut grad = self.grads.get_mut(l);
        let Workspace { hidden, dz_out, .. } = &mut *self.ws;
        let (below, above) = hidden.split_at_mut(l);
        let HiddenBuffers {
            a,
            kept,
            dz: d_input,
            ..
        } = &mut below[l - 1];
        let input = if shared.pass.dropout > 0.0 {
            &*kept
        } else {
            &*a
        }
        .slice(s![..n, ..]);
        let dz = match above.first() {
            Some(h) => h.dz.slice(s![..n, ..]),
            None => dz_out.slice(s![..n, ..]),
        };
        if plan.split == Split::Whole {
            general_mat_mul(1.0, &dz, &part.w, 0.0, &mut d_input.slice_mut(s![..n, ..]));
            observer.layer_lap(Phase::BackwardProducts, l);
            step_block(
                step,
                part.w.view_mut(),
                states(part.w_state.iter_mut().map(|s| s.view_mut())),
                part.b.view_mut(),
                states(part.b_state.iter_mut().map(|s| s.view_mut())),
                grad,
                dz,
                input,
            );
            observer.layer_lap(Phase::Update, l);
            return;
        }
        for slice in self.slices.clone() {
            let rows = plan.range_within(slice, &self.slices);
            let dz_s = dz.slice(s![.., plan.range(slice)]);
            let mut partial = lock(&shared.backward[l][slice][parity]);
            general_mat_mul(
                1.0,
                &dz_s,
                &part.w.slice(s![rows.clone(), ..]),
                0.0,
                &mut partial.slice_mut(s![..n, ..]),
            );
            observer.layer_lap(Phase::BackwardProducts, l);
            step_block(
                step,
                part.w.slice_mut(s![rows.clone(), ..]),
                states(
                    part.w_state
                        .iter_mut()
                        .map(|s| s.slice_mut(s![rows.clone(), ..])),
                ),
                part.b.slice_mut(s![rows.clone()]),
                states(
                    part.b_state
                        .iter_mut()
                        .map(|s| s.slice_mut(s![rows.clone()])),
                ),
                grad.as_deref_mut(),
                dz_s,
                input,
            );
            observer.layer_lap(Phase::Update, l);
        }
        shared.barrier.wait();
        observer.layer_lap(Phase::Sync, l);
        let len = n * d_input.ncols();
        sum_in_slice_order(flat_mut(d_input, len), &shared.backward[l], parity);
        observer.layer_lap(Phase::BackwardElementwise, l);
    }

    /// The input layer's step: each slice's columns, then the bias every
    /// thread keeps.
    fn step_input_layer(&mut self, shared: &Shared, step: &Step) {
        let n = self.ws.rows;
        let plan = &shared.plans[0];
        let part = &mut self.parts[0];
        let mut grad = self.grads.first_mut();
        let dz = self.ws.hidden[0].dz.slice(s![..n, ..]);
        for slice in self.slices.clone() {
            let columns = plan.range_within(slice, &self.slices);
            let x = slice_pixels(self.pixels, n, plan, slice, &self.slices);
            let w_state = states(
                part.w_state
                    .iter_mut()
                    .map(|s| s.slice_mut(s![.., columns.clone()])),
            );
            let w_grad = grad
                .as_mut()
                .map(|g| g.w.slice_mut(s![.., ..columns.len()]));
            step.weights(part.w.slice_mut(s![.., columns]), w_state, w_grad, dz, x);
        }
        let b_state = states(part.b_state.iter_mut().map(|s| s.view_mut()));
        step.bias(part.b.view_mut(), b_state, grad.map(|g| g.b.view_mut()), dz);
    }
}

/// Steps a block of a layer's rows: weights from deltas (B, rows) and
/// inputs (B, in), and the bias rows.
#[allow(clippy::too_many_arguments)]
fn step_block(
    step: &Step,
    w: ArrayViewMut2<f32>,
    w_state: States<Ix2>,
    b: ArrayViewMut1<f32>,
    b_state: States<Ix1>,
    grad: Option<&mut Layer>,
    deltas: ArrayView2<f32>,
    inputs: ArrayView2<f32>,
) {
    let rows = w.nrows();
    let (w_grad, b_grad) = match grad {
        Some(g) => (
            Some(g.w.slice_mut(s![..rows, ..])),
            Some(g.b.slice_mut(s![..rows])),
        ),
        None => (None, None),
    };
    step.weights(w, w_state, w_grad, deltas, inputs);
    step.bias(b, b_state, b_grad, deltas);
}

/// Batches between progress reports: often enough to look live, rare
/// enough to cost nothing.
const PROGRESS_EVERY: usize = 64;
