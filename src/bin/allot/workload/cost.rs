//! A cost distribution: how a file writes it, and its samples.

use rand::Rng;
use rand_distr::{Exp1, StandardNormal};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Largest task cost, in seconds on a speed-1.0 node, for every parameter
/// of a cost distribution; samples past it are clamped to it.
pub(crate) const MAX_COST: f64 = 1e9;

/// A cost distribution. In a file: a number (fixed), or a table
/// `{ dist = "fixed", value }`, `{ dist = "uniform", min, max }`,
/// `{ dist = "exponential", mean }`, `{ dist = "normal", mean, std_dev }`
/// (normal samples below 0 become 0).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "snake_case")]
pub(crate) enum CostDist {
    Fixed { value: f64 },
    Uniform { min: f64, max: f64 },
    Exponential { mean: f64 },
    Normal { mean: f64, std_dev: f64 },
}

impl Default for CostDist {
    fn default() -> Self {
        CostDist::Fixed { value: 0.001 }
    }
}

impl CostDist {
    /// The costs to show the runtime before the run: every parameter a
    /// sample can equal or centre on.
    pub(crate) fn probes(&self) -> Vec<f64> {
        match *self {
            CostDist::Fixed { value } => vec![value],
            CostDist::Uniform { min, max } => vec![min, max],
            CostDist::Exponential { mean } | CostDist::Normal { mean, .. } => vec![mean],
        }
    }

    /// The mean cost.
    pub(crate) fn mean(&self) -> f64 {
        match *self {
            CostDist::Fixed { value } => value,
            CostDist::Uniform { min, max } => (min + max) / 2.0,
            CostDist::Exponential { mean } | CostDist::Normal { mean, .. } => mean,
        }
    }

    /// One sample, at most [`MAX_COST`] (an exponential or normal tail
    /// can pass its parameters).
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> f64 {
        self.draw(rng).min(MAX_COST)
    }

    fn draw(&self, rng: &mut impl Rng) -> f64 {
        match *self {
            CostDist::Fixed { value } => value,
            CostDist::Uniform { min, max } => min + rng.random::<f64>() * (max - min),
            // Scaled standard samples (rand_distr's ziggurat): no
            // constructor to fail, whatever the (checked) parameters.
            CostDist::Exponential { mean } => mean * rng.sample::<f64, _>(Exp1),
            CostDist::Normal { mean, std_dev } => {
                (mean + std_dev * rng.sample::<f64, _>(StandardNormal)).max(0.0)
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum DistName {
    Fixed,
    Uniform,
    Exponential,
    Normal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CostTable {
    dist: DistName,
    value: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
    mean: Option<f64>,
    std_dev: Option<f64>,
}

impl CostTable {
    fn into_dist<E: de::Error>(self) -> Result<CostDist, E> {
        let need = |v: Option<f64>, name: &'static str| v.ok_or_else(|| E::missing_field(name));
        let (dist, used): (CostDist, &[&str]) = match self.dist {
            DistName::Fixed => (
                CostDist::Fixed {
                    value: need(self.value, "value")?,
                },
                &["value"],
            ),
            DistName::Uniform => {
                let (min, max) = (need(self.min, "min")?, need(self.max, "max")?);
                if min > max {
                    return Err(E::custom(format!(
                        "`min` ({min}) is greater than `max` ({max})"
                    )));
                }
                (CostDist::Uniform { min, max }, &["min", "max"])
            }
            DistName::Exponential => (
                CostDist::Exponential {
                    mean: need(self.mean, "mean")?,
                },
                &["mean"],
            ),
            DistName::Normal => {
                let std_dev = need(self.std_dev, "std_dev")?;
                if !(std_dev.is_finite() && std_dev >= 0.0) {
                    return Err(E::custom(format!(
                        "`std_dev` must be finite and >= 0, got {std_dev:?}"
                    )));
                }
                (
                    CostDist::Normal {
                        mean: need(self.mean, "mean")?,
                        std_dev,
                    },
                    &["mean", "std_dev"],
                )
            }
        };
        let given = [
            ("value", self.value),
            ("min", self.min),
            ("max", self.max),
            ("mean", self.mean),
            ("std_dev", self.std_dev),
        ];
        if let Some((extra, _)) = given
            .iter()
            .find(|(name, v)| v.is_some() && !used.contains(name))
        {
            return Err(E::custom(format!(
                "`{extra}` does not apply to this distribution (it takes: {})",
                used.join(", ")
            )));
        }
        Ok(dist)
    }
}

impl<'de> Deserialize<'de> for CostDist {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CostDist;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds, or a table with `dist`")
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<CostDist, E> {
                Ok(CostDist::Fixed { value })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CostDist, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CostDist, E> {
                self.visit_f64(v as f64)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<CostDist, A::Error> {
                CostTable::deserialize(de::value::MapAccessDeserializer::new(map))?.into_dist()
            }
        }
        d.deserialize_any(V)
    }
}
