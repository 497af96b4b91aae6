//! What the training step reports as it goes: laps (where its time goes)
//! and progress (samples trained). The step knows only the `Observer`
//! trait; the unit type `()` ignores everything (and compiles to nothing),
//! `PhaseClock` adds each lap's time to its phase, `Trace` records each
//! thread's laps for a timeline, and the command line passes a progress
//! bar. Thread 0 reports to the observer it is given; each other thread to
//! a helper that observer hands out for the pass and takes back after it.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::io::metrics::EpochReport;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Batch gather, u8 → f32 and standardisation.
    Gather,
    ForwardProducts,
    /// Bias, activation, dropout and scoring.
    ForwardElementwise,
    BackwardProducts,
    /// Output deltas and the activation derivatives.
    BackwardElementwise,
    /// The optimiser steps of weights and biases.
    Update,
    /// Waiting for the other threads.
    Sync,
    /// The test-set pass after each epoch.
    Evaluation,
}

impl Phase {
    pub const ALL: [Phase; 8] = [
        Phase::Gather,
        Phase::ForwardProducts,
        Phase::ForwardElementwise,
        Phase::BackwardProducts,
        Phase::BackwardElementwise,
        Phase::Update,
        Phase::Sync,
        Phase::Evaluation,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Gather => "gather + augment + standardise",
            Phase::ForwardProducts => "forward products",
            Phase::ForwardElementwise => "forward element-wise",
            Phase::BackwardProducts => "backward products",
            Phase::BackwardElementwise => "backward element-wise",
            Phase::Update => "update",
            Phase::Sync => "thread sync",
            Phase::Evaluation => "evaluation",
        }
    }
}

pub trait Observer: Send {
    /// What a thread other than the first reports to during a pass.
    type Helper: Observer;

    /// The observer of thread `thread` (from 1) for the next pass.
    fn helper(&mut self, thread: usize) -> Self::Helper;

    /// Takes back thread `thread`'s helper when the pass ends.
    fn join(&mut self, _thread: usize, _helper: Self::Helper) {}

    /// The time since the previous lap was spent in `phase`.
    #[inline(always)]
    fn lap(&mut self, _phase: Phase) {}

    /// The time since the previous lap was spent in `phase` of layer
    /// `layer` (0 the input layer).
    #[inline(always)]
    fn layer_lap(&mut self, phase: Phase, _layer: usize) {
        self.lap(phase)
    }

    /// Epoch `epoch` (from 1) of `last` starts, over `samples` samples.
    fn epoch_started(&mut self, _epoch: usize, _last: usize, _samples: usize) {}

    /// `samples` more samples have been trained on.
    fn trained(&mut self, _samples: usize) {}

    /// An epoch has ended with these figures. An error stops the run and
    /// is what it returns.
    fn epoch_ended(&mut self, _report: &EpochReport) -> Result<()> {
        Ok(())
    }
}

impl Observer for () {
    type Helper = ();
    fn helper(&mut self, _thread: usize) {}
}

/// Accumulates time per phase.
#[derive(Debug, Clone)]
pub struct PhaseClock {
    last: Instant,
    pub totals: [Duration; Phase::ALL.len()],
}

impl PhaseClock {
    pub fn start() -> Self {
        Self {
            last: Instant::now(),
            totals: [Duration::ZERO; Phase::ALL.len()],
        }
    }

    /// Restarts the current lap without charging it to any phase.
    pub fn restart(&mut self) {
        self.last = Instant::now();
    }
}

/// Clocks thread 0 alone: it waits for the others at each barrier, so its
/// time is the step's.
impl Observer for PhaseClock {
    type Helper = ();
    fn helper(&mut self, _thread: usize) {}

    fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        self.totals[phase as usize] += now - self.last;
        self.last = now;
    }
}

/// Two observers at once (a clock and a trace, say), each told everything.
impl<A: Observer, B: Observer> Observer for (A, B) {
    type Helper = (A::Helper, B::Helper);

    fn helper(&mut self, thread: usize) -> Self::Helper {
        (self.0.helper(thread), self.1.helper(thread))
    }

    fn join(&mut self, thread: usize, (a, b): Self::Helper) {
        self.0.join(thread, a);
        self.1.join(thread, b);
    }

    fn lap(&mut self, phase: Phase) {
        self.0.lap(phase);
        self.1.lap(phase);
    }

    fn layer_lap(&mut self, phase: Phase, layer: usize) {
        self.0.layer_lap(phase, layer);
        self.1.layer_lap(phase, layer);
    }

    fn epoch_started(&mut self, epoch: usize, last: usize, samples: usize) {
        self.0.epoch_started(epoch, last, samples);
        self.1.epoch_started(epoch, last, samples);
    }

    fn trained(&mut self, samples: usize) {
        self.0.trained(samples);
        self.1.trained(samples);
    }

    fn epoch_ended(&mut self, report: &EpochReport) -> Result<()> {
        self.0.epoch_ended(report)?;
        self.1.epoch_ended(report)
    }
}
