//! Where a training step spends its time. The step functions report laps
//! to a `Laps`; the unit type `()` ignores them (and compiles to nothing),
//! `PhaseClock` adds each lap's time to its phase.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Batch gather, u8 → f32 and standardisation.
    Gather,
    ForwardProducts,
    /// Bias, sigmoid and scoring.
    ForwardElementwise,
    BackwardProducts,
    /// Output deltas and the sigmoid derivative.
    BackwardElementwise,
    /// The sgemm weight updates and the bias updates.
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
            Phase::Gather => "gather + standardise",
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

pub trait Laps {
    /// The time since the previous lap was spent in `phase`.
    fn lap(&mut self, phase: Phase);
}

impl Laps for () {
    #[inline(always)]
    fn lap(&mut self, _: Phase) {}
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

impl Laps for PhaseClock {
    fn lap(&mut self, phase: Phase) {
        let now = Instant::now();
        self.totals[phase as usize] += now - self.last;
        self.last = now;
    }
}
