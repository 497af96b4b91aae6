//! Learning-rate schedules: the rate of each batch, from the epoch (counted
//! from 0 over the whole run, resumed epochs included) and the share of it
//! already trained.
//!
//! - tutorial: lr / (1 + decay·e), per epoch: the first epoch runs at lr,
//!   decay 0 keeps it constant (the NumPy reference's schedule).
//! - constant: lr.
//! - step:     lr · factor^⌊e / every⌋.
//! - cosine:   lr · ½(1 + cos(π·t/T)), t the epochs trained (fractional),
//!   T the run's epochs.
//! - onecycle: up linearly from lr/25 to lr over the warm-up, then down
//!   along a cosine to lr/10⁴ at the end (Smith's one-cycle policy).
//!
//! Warm-up (`--warmup-epochs W`) ramps constant, step and cosine linearly
//! from 0 over the first W epochs; onecycle rises over W epochs, or the
//! first 30% of the run when W is 0.

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
/// How the learning rate changes over a run (see the module docs).
pub enum Schedule {
    /// lr / (1 + decay·epoch), the tutorial's.
    Tutorial,
    /// lr throughout.
    Constant,
    /// lr · factor^⌊epoch / every⌋.
    Step,
    /// Down along a cosine to 0 at the end.
    Cosine,
    /// Up over the warm-up, then down along a cosine (Smith's one cycle).
    Onecycle,
}

crate::nn::arch::display_as_value_name!(Schedule);

/// A schedule with its settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrSchedule {
    /// Which schedule.
    pub schedule: Schedule,
    /// Its peak (or starting) rate.
    pub lr: f32,
    /// The tutorial schedule's decay.
    pub decay: f32,
    /// The step schedule's period in epochs and factor.
    pub step_every: usize,
    /// The step schedule's factor.
    pub step_factor: f32,
    /// Epochs of warm-up.
    pub warmup_epochs: f32,
    /// Epochs of the whole run, for cosine and onecycle.
    pub total_epochs: usize,
}

impl LrSchedule {
    /// The rate of a batch `progress` (0..1) of the way through epoch `epoch`.
    pub fn rate(&self, epoch: usize, progress: f64) -> f32 {
        let lr = self.lr as f64;
        let t = epoch as f64 + progress;
        let total = self.total_epochs.max(1) as f64;
        let warmup = self.warmup_epochs as f64;
        let ramp = if warmup > 0.0 && t < warmup {
            t / warmup
        } else {
            1.0
        };
        let rate = match self.schedule {
            Schedule::Tutorial => return self.lr / (1.0 + self.decay * epoch as f32),
            Schedule::Constant => lr * ramp,
            Schedule::Step => {
                let steps = epoch / self.step_every.max(1);
                lr * (self.step_factor as f64).powi(steps.min(i32::MAX as usize) as i32) * ramp
            }
            Schedule::Cosine => lr * 0.5 * (1.0 + (std::f64::consts::PI * t / total).cos()) * ramp,
            Schedule::Onecycle => {
                let rise = if warmup > 0.0 { warmup } else { 0.3 * total };
                let (low, high, end) = (lr / 25.0, lr, lr / 1e4);
                if t < rise {
                    low + (high - low) * t / rise
                } else {
                    let fall = ((t - rise) / (total - rise).max(1e-9)).min(1.0);
                    end + (high - end) * 0.5 * (1.0 + (std::f64::consts::PI * fall).cos())
                }
            }
        };
        rate as f32
    }
}
