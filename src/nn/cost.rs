//! The two costs of the tutorial, per output unit.
//!
//! For one output with pre-activation z, activation a = σ(z) and one-hot
//! target y:
//! - quadratic:     C = ½ (a − y)²                      ∂C/∂z = (a − y) σ'(z) = (a − y) a (1 − a)
//! - cross-entropy: C = −y ln a − (1 − y) ln(1 − a)     ∂C/∂z = a − y   (σ' cancels)
//!
//! A sample's cost sums its ten outputs; a batch's gradient is the mean over
//! its samples (the 1/n is applied where the deltas are written).

use std::fmt;
use std::str::FromStr;

use crate::data::dataset::CLASSES;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Cost {
    Quadratic,
    CrossEntropy,
}

impl Cost {
    /// The cost of one output unit. Cross-entropy is computed from z as
    /// softplus so it stays finite when σ(z) rounds to exactly 0 or 1.
    #[inline]
    pub fn loss(self, z: f32, a: f32, y: f32) -> f32 {
        match self {
            Cost::Quadratic => 0.5 * (a - y) * (a - y),
            Cost::CrossEntropy => y * softplus(-z) + (1.0 - y) * softplus(z),
        }
    }

    /// ∂C/∂z of one output unit.
    #[inline]
    pub fn delta(self, a: f32, y: f32) -> f32 {
        match self {
            Cost::Quadratic => (a - y) * a * (1.0 - a),
            Cost::CrossEntropy => a - y,
        }
    }

    /// A sample's cost when every output is 0.5 (z = 0): what a network
    /// that has learned nothing scores.
    pub fn know_nothing_loss(self) -> f64 {
        let (z, a) = (0.0, 0.5);
        (self.loss(z, a, 1.0) + (CLASSES - 1) as f32 * self.loss(z, a, 0.0)) as f64
    }

    pub fn name(self) -> &'static str {
        match self {
            Cost::Quadratic => "quadratic",
            Cost::CrossEntropy => "cross-entropy",
        }
    }
}

/// ln(1 + e^t) without overflow for large t or loss of precision for small.
#[inline(always)]
fn softplus(t: f32) -> f32 {
    t.max(0.0) + crate::nn::fastmath::log1p_exp_neg_abs(t)
}

impl fmt::Display for Cost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Cost {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "quadratic" | "quad" => Ok(Cost::Quadratic),
            "cross-entropy" | "ce" => Ok(Cost::CrossEntropy),
            _ => Err(format!(
                "unknown cost '{s}' (expected cross-entropy or quadratic)"
            )),
        }
    }
}
