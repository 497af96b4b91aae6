//! What a network is: its hidden layer sizes, hidden activation, output
//! units and cost, and how its weights are drawn.

use std::fmt;
use std::str::FromStr;

use crate::data::dataset::{CLASSES, PIXELS};
use crate::error::{Error, Result};

/// Implements `Display` as the variant's serde name, which is the name the
/// command line takes too (clap's and serde's are both kebab-case).
macro_rules! display_as_value_name {
    ($($t:ty),*) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match serde_json::to_value(self) {
                    Ok(serde_json::Value::String(name)) => f.write_str(&name),
                    _ => unreachable!("a unit variant serialises as its name"),
                }
            }
        }
    )*};
}
pub(crate) use display_as_value_name;

/// Hidden layer sizes in the notation papers use: `800-800` is
/// 784-800-800-10.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Hidden(pub Vec<usize>);

impl Hidden {
    /// Every layer width from the inputs to the outputs.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = Vec::with_capacity(self.0.len() + 2);
        sizes.push(PIXELS);
        sizes.extend(&self.0);
        sizes.push(CLASSES);
        sizes
    }
}

impl FromStr for Hidden {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let sizes: std::result::Result<Vec<usize>, String> = s
            .split('-')
            .map(|part| match part.trim().parse::<usize>() {
                Ok(0) => Err(format!("hidden layer sizes must be at least 1, got '{s}'")),
                Ok(n) => Ok(n),
                Err(_) => Err(format!(
                    "'{s}' is not a list of hidden layer sizes (expected e.g. 30 or 800-800)"
                )),
            })
            .collect();
        sizes.map(Hidden)
    }
}

impl fmt::Display for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(usize::to_string).collect();
        f.write_str(&parts.join("-"))
    }
}

impl TryFrom<String> for Hidden {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Hidden> for String {
    fn from(h: Hidden) -> String {
        h.to_string()
    }
}

/// The activation of every hidden unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// 1 / (1 + e^−z): the tutorial's.
    Sigmoid,
    /// max(0, z).
    Relu,
    /// tanh z.
    Tanh,
}

/// The output units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Ten independent σ units (the tutorial).
    Sigmoid,
    /// A probability distribution over the ten digits.
    Softmax,
}

/// The cost of one sample (see `cost.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Cost {
    #[cfg_attr(feature = "cli", value(alias = "quad"))]
    #[serde(alias = "quad")]
    /// ½‖a − y‖², the tutorial's first cost.
    Quadratic,
    /// With sigmoid outputs the sum of ten binary cross-entropies; with
    /// softmax the log-likelihood cost, −ln a_label.
    #[cfg_attr(feature = "cli", value(alias = "ce"))]
    #[serde(alias = "ce")]
    CrossEntropy,
}

/// How the weights are drawn; biases are N(0, 1) whatever the choice, as in
/// the tutorial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// N(0, 1).
    Random,
    /// N(0, 2 / fan_in).
    Kaiming,
    /// N(0, 1 / fan_in), network2's default.
    Lecun,
    /// N(0, 2 / (fan_in + fan_out)), Glorot normal.
    Xavier,
}

display_as_value_name!(Activation, Output, Cost, Init);

impl Init {
    /// The standard deviation of a weight of a layer (out, in).
    pub fn weight_scale(self, fan_in: usize, fan_out: usize) -> f32 {
        match self {
            Init::Random => 1.0,
            Init::Kaiming => (2.0 / fan_in as f32).sqrt(),
            Init::Lecun => (1.0 / fan_in as f32).sqrt(),
            Init::Xavier => (2.0 / (fan_in + fan_out) as f32).sqrt(),
        }
    }
}

/// The architecture: enough to build the network and read a model back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Arch {
    /// Hidden layer widths.
    pub hidden: Hidden,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// The output units.
    pub output: Output,
    /// The cost the gradients come from.
    pub cost: Cost,
}

impl Arch {
    /// The tutorial's network with `hidden` sigmoid units.
    pub fn tutorial(hidden: usize) -> Self {
        Self {
            hidden: Hidden(vec![hidden]),
            activation: Activation::Sigmoid,
            output: Output::Sigmoid,
            cost: Cost::CrossEntropy,
        }
    }

    /// Refuses an empty network and output/cost pairs that make no sense.
    pub fn validate(&self) -> Result<()> {
        if self.hidden.0.is_empty() || self.hidden.0.contains(&0) {
            return Err(Error::Config(format!(
                "--hidden {}: every hidden layer needs at least 1 unit",
                self.hidden
            )));
        }
        if self.output == Output::Softmax && self.cost == Cost::Quadratic {
            return Err(Error::Config(
                "--output softmax goes with --cost cross-entropy (the log-likelihood cost); \
                 use --output sigmoid for the quadratic cost"
                    .into(),
            ));
        }
        Ok(())
    }

    /// "784-800-800-10 relu softmax cross-entropy".
    pub fn describe(&self) -> String {
        format!(
            "784-{}-10 {} {} {}",
            self.hidden, self.activation, self.output, self.cost
        )
    }
}
