//! Presets: named partial configs, applied before the flags, which
//! override them. Their figures are in the README (benches/presets.sh).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::config::TrainConfig;

/// A named set of settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The tutorial's network and run: the defaults.
    Tutorial,
    /// The least wall time to 98% on two cores: 784-512-10 ReLU/softmax,
    /// Adam, one cycle, 4 epochs.
    Fast,
    /// The best an MLP reaches here in minutes: 784-800-800-10 ReLU/softmax
    /// with dropout 0.2, Adam, cosine schedule, 40 epochs, trained on
    /// shifted, rotated and scaled digits (no elastic distortion).
    Best,
    /// The most a plain MLP reaches here in 13 to 34 minutes: 784-1000-500-10
    /// ReLU/softmax, Adam, cosine schedule, 300 epochs on digits redrawn
    /// every epoch with shifts, rotations, scalings and elastic distortion
    /// (Ciresan et al. 2010's recipe, on two CPU cores).
    Record,
}

crate::nn::arch::display_as_value_name!(Preset);

impl Preset {
    /// Every preset, in the order help lists them.
    pub const ALL: [Preset; 4] = [Preset::Tutorial, Preset::Fast, Preset::Best, Preset::Record];

    /// The preset's whole config: the defaults with its settings.
    ///
    /// ```
    /// use mnist_mlp::{Preset, TrainConfig};
    ///
    /// let config = TrainConfig { validation: 10_000, early_stop: 2, ..Preset::Fast.config() };
    /// assert_eq!(config.hidden.0, [512]);
    /// assert_eq!(config.epochs, 4);
    /// ```
    pub fn config(self) -> TrainConfig {
        let mut config = TrainConfig::default();
        for (key, value) in self.settings() {
            config
                .set(key, value)
                .expect("every preset's settings are valid (tested)");
        }
        config
    }

    /// The settings, as (name, value) overrides of the defaults.
    pub fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Preset::Tutorial => &[],
            Preset::Fast => &[
                ("hidden", "512"),
                ("activation", "relu"),
                ("output", "softmax"),
                ("optimizer", "adam"),
                ("lr", "0.002"),
                ("schedule", "onecycle"),
                ("normalise", "dataset"),
                ("batch_size", "128"),
                ("epochs", "4"),
            ],
            Preset::Best => &[
                ("hidden", "800-800"),
                ("activation", "relu"),
                ("output", "softmax"),
                ("optimizer", "adam"),
                ("lr", "0.001"),
                ("schedule", "cosine"),
                ("normalise", "dataset"),
                ("batch_size", "128"),
                ("dropout", "0.2"),
                ("augment_shift", "2"),
                ("augment_rotate", "10"),
                ("augment_scale", "0.1"),
                ("augment_elastic", "0"),
                ("epochs", "40"),
            ],
            // Chosen on a 10 000-image validation split (docs/record.md).
            Preset::Record => &[
                ("hidden", "1000-500"),
                ("activation", "relu"),
                ("output", "softmax"),
                ("optimizer", "adam"),
                ("lr", "0.001"),
                ("schedule", "cosine"),
                ("normalise", "dataset"),
                ("batch_size", "128"),
                ("dropout", "0"),
                ("augment_shift", "2"),
                ("augment_rotate", "10"),
                ("augment_scale", "0.1"),
                ("augment_elastic", "34"),
                ("augment_elastic_sigma", "4"),
                ("epochs", "300"),
            ],
        }
    }
}

/// `overrides` with each `preset` replaced by its settings, put first so
/// that the other settings override them.
pub fn expand(overrides: &[(String, String)]) -> Result<Vec<(String, String)>> {
    let mut expanded = Vec::new();
    for (_, name) in overrides.iter().filter(|(key, _)| key == "preset") {
        let preset = Preset::ALL
            .into_iter()
            .find(|p| p.to_string().eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<String> = Preset::ALL.iter().map(|p| p.to_string()).collect();
                Error::Config(format!(
                    "--preset {name}: expected one of {}",
                    names.join(", ")
                ))
            })?;
        expanded.extend(
            preset
                .settings()
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
    }
    expanded.extend(overrides.iter().filter(|(key, _)| key != "preset").cloned());
    Ok(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_makes_a_valid_config() {
        for preset in Preset::ALL {
            preset.config().validate().unwrap();
        }
    }
}
