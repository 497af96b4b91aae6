//! A sweep's grid: axes of training settings, each a list of values; the
//! runs are every combination, in a fixed order, each a list of overrides
//! of the one `TrainConfig`. Any setting `train` takes (and `preset`) can
//! be an axis, so a new setting is an axis with no change here.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::train::config::TrainConfig;
use crate::train::preset;

/// One setting and the values a sweep gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    /// The setting's name as `TrainConfig::set` takes it (`batch_size`).
    pub key: String,
    pub values: Vec<String>,
}

/// The axes, in order: the first varies slowest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grid {
    pub axes: Vec<Axis>,
}

impl Default for Grid {
    /// The tutorial's grid: init × lr × cost × hidden, the rest at the
    /// defaults (30 epochs, batch 20, seed 3).
    fn default() -> Self {
        let axis = |key: &str, values: &[&str]| Axis {
            key: key.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        Self {
            axes: vec![
                axis("hidden", &["30", "90"]),
                axis("cost", &["quadratic", "cross-entropy"]),
                axis("init", &["random", "kaiming"]),
                axis("lr", &["0.001", "0.1", "1", "3", "10", "100"]),
            ],
        }
    }
}

/// A setting's name as `TrainConfig::set` and the CSV spell it.
pub fn key_name(flag: &str) -> String {
    flag.trim_start_matches("--").replace('-', "_")
}

/// The name of one run's files: its value of each axis that varies.
fn run_name(grid: &Grid, settings: &[(String, String)]) -> String {
    let parts: Vec<String> = grid
        .axes
        .iter()
        .zip(settings)
        .filter(|(axis, _)| axis.values.len() > 1)
        .map(|(axis, (_, value))| {
            let value: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || ".-+".contains(c) {
                        c
                    } else {
                        '-'
                    }
                })
                .collect();
            format!("{}-{value}", axis.key)
        })
        .collect();
    if parts.is_empty() {
        "run".into()
    } else {
        parts.join("_")
    }
}

/// One run of a grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Its place in the grid's order.
    pub index: usize,
    pub name: String,
    /// Its value of every axis, in the grid's order.
    pub settings: Vec<(String, String)>,
    pub config: TrainConfig,
}

impl Grid {
    /// Sets the axis `key` to `values`, replacing it or adding it last.
    pub fn set(&mut self, key: &str, values: Vec<String>) {
        let key = key_name(key);
        match self.axes.iter_mut().find(|a| a.key == key) {
            Some(axis) => axis.values = values,
            None => self.axes.push(Axis { key, values }),
        }
    }

    /// The values of axis `key`, if the grid has it.
    pub fn values(&self, key: &str) -> Option<&[String]> {
        self.axes
            .iter()
            .find(|a| a.key == key)
            .map(|a| a.values.as_slice())
    }

    /// Reads axes from TOML (`lr = [0.1, 1]`, `epochs = 5`,
    /// `hidden = ["30", "256-128"]`), in the file's order.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        // A grid is a few lines; a megabyte is not a grid.
        const MAX_CONFIG_BYTES: u64 = 1 << 20;
        let text = crate::io::read::read_capped_to_string(path, MAX_CONFIG_BYTES, "sweep config")?;
        let bad = |what: String| Error::Config(format!("{}: {what}", path.display()));
        let table: toml::Table =
            toml::from_str(&text).map_err(|e| bad(e.message().trim().into()))?;
        let mut grid = Grid { axes: Vec::new() };
        for (key, value) in table {
            let text = |v: &toml::Value| match v {
                toml::Value::String(s) => Ok(s.clone()),
                toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                    Ok(v.to_string())
                }
                _ => Err(bad(format!("{key}: expected a value or a list of values"))),
            };
            let values = match &value {
                toml::Value::Array(items) => items.iter().map(text).collect::<Result<_>>()?,
                single => vec![text(single)?],
            };
            let known = serde_json::to_value(TrainConfig::default())
                .expect("configs serialise")
                .get(key_name(&key))
                .is_some();
            if !known && key != "preset" {
                return Err(bad(format!("unknown setting '{key}'")));
            }
            grid.set(&key, values);
        }
        Ok(grid)
    }

    /// Every combination, in order, each checked to make a valid config.
    /// Runs train one thread each (they run side by side) unless the grid
    /// sets `threads`.
    pub fn runs(&self) -> Result<Vec<Run>> {
        if let Some(axis) = self.axes.iter().find(|a| a.values.is_empty()) {
            return Err(Error::Config(format!(
                "--{} has no values",
                axis.key.replace('_', "-")
            )));
        }
        let total: usize = self.axes.iter().map(|a| a.values.len()).product();
        let mut runs = Vec::with_capacity(total);
        for index in 0..total {
            // The axes as the digits of `index`, the last varying fastest.
            let mut rest = index;
            let mut settings = vec![(String::new(), String::new()); self.axes.len()];
            for (slot, axis) in settings.iter_mut().zip(&self.axes).rev() {
                *slot = (
                    axis.key.clone(),
                    axis.values[rest % axis.values.len()].clone(),
                );
                rest /= axis.values.len();
            }
            let mut config = TrainConfig {
                threads: 1,
                ..TrainConfig::default()
            };
            for (key, value) in preset::expand(&settings)? {
                config.set(&key, &value)?;
            }
            config.validate()?;
            let name = run_name(self, &settings);
            if let Some(twin) = runs.iter().find(|r: &&Run| r.config == config) {
                return Err(Error::Config(format!(
                    "the grid makes the same run twice ({} and {name}): give each value once",
                    twin.name
                )));
            }
            runs.push(Run {
                index,
                name,
                settings,
                config,
            });
        }
        Ok(runs)
    }

    /// The first axis on which `self` and `other` differ, described.
    pub fn difference(&self, other: &Grid) -> Option<String> {
        let describe = |g: &Grid, key: &str| match g.values(key) {
            Some(values) => values.join(","),
            None => "not an axis".into(),
        };
        let keys = self.axes.iter().chain(&other.axes).map(|a| a.key.as_str());
        for key in keys {
            if self.values(key) != other.values(key) {
                return Some(format!(
                    "--{} is {} there but {} here",
                    key.replace('_', "-"),
                    describe(other, key),
                    describe(self, key)
                ));
            }
        }
        (self != other).then(|| "the axes come in another order".into())
    }
}

/// Which slice of a grid one machine runs: the K-th of N (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub k: usize,
    pub n: usize,
}

impl Shard {
    pub const WHOLE: Shard = Shard { k: 1, n: 1 };

    /// Run i belongs to shard (i mod N) + 1: runs of one setting spread
    /// over the shards, so slow settings do not all land on one machine.
    pub fn holds(self, run: &Run) -> bool {
        run.index % self.n == self.k - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let bad = || format!("expected K/N with 1 <= K <= N (e.g. 2/4), got '{text}'");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let (k, n): (usize, usize) = (
            k.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if k == 0 || k > n {
            return Err(bad());
        }
        Ok(Shard { k, n })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.k, self.n)
    }
}
