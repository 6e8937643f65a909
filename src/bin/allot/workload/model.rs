//! The workload file's shape: what it names and how serde reads it, with
//! the counts it bounds as it reads.

use super::cost::CostDist;
use allot::{NodeSpec, Resources, RuntimeConfig, TaskKind, TaskSpec};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A parsed workload file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Workload {
    /// A name for reports; the file stem when absent.
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// One line saying what the workload shows.
    #[serde(default)]
    pub(crate) description: Option<String>,
    /// Runtime settings: any `RuntimeConfig` file works here.
    #[serde(default)]
    pub(crate) runtime: RuntimeConfig,
    /// The nodes, as a list or as `count` copies of a template; replaces
    /// `runtime.nodes`.
    #[serde(default)]
    pub(crate) nodes: Option<Nodes>,
    /// What to submit.
    pub(crate) tasks: TaskMix,
}

/// The nodes of a workload.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Nodes {
    /// Every node spelled out.
    List(Vec<NodeSpec>),
    /// `count` copies of `template`.
    Count(NodeCount),
}

/// `count` nodes like `template`, named `<template.name>-<i>` when the
/// template has a name.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeCount {
    /// How many: at most [`MAX_NODES`] (zero is refused by the runtime, the
    /// machine's thread limit before the run).
    #[serde(deserialize_with = "node_count")]
    pub(crate) count: usize,
    /// What each is like.
    #[serde(default)]
    pub(crate) template: NodeSpec,
}

impl Nodes {
    /// Threads the runtime starts for these nodes: one per slot (at least
    /// one) and one per node. Counted wide, so no count overflows.
    pub(crate) fn threads(&self) -> u128 {
        match self {
            Nodes::List(v) => node_threads(v),
            Nodes::Count(c) => c.count as u128 * (c.template.slots.max(1) as u128 + 1),
        }
    }

    /// The node list this stands for.
    pub(crate) fn specs(&self) -> Vec<NodeSpec> {
        match self {
            Nodes::List(v) => v.clone(),
            Nodes::Count(c) => (0..c.count)
                .map(|i| {
                    let mut n = c.template.clone();
                    if !n.name.is_empty() {
                        n.name = format!("{}-{i}", n.name);
                    }
                    n
                })
                .collect(),
        }
    }
}

impl<'de> Deserialize<'de> for Nodes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nodes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of nodes, or a table with `count` and `template`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Nodes, A::Error> {
                Vec::<NodeSpec>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(Nodes::List)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Nodes, A::Error> {
                NodeCount::deserialize(de::value::MapAccessDeserializer::new(map)).map(Nodes::Count)
            }
        }
        d.deserialize_any(V)
    }
}

/// Threads the runtime starts for `nodes`: one per slot and one per node.
pub(crate) fn node_threads(nodes: &[NodeSpec]) -> u128 {
    nodes.iter().map(|n| n.slots.max(1) as u128 + 1).sum()
}

/// Most tasks a run takes (`tasks.count`, `--tasks`): 2^53, the largest
/// count that the report's rates and shares (f64) hold exactly. Tasks are
/// generated as the run goes, so memory does not grow with the count.
pub(crate) const MAX_TASKS: u64 = 1 << 53;

/// Most tasks per `submit_batch` call (`tasks.batch`).
pub(crate) const MAX_BATCH: usize = 1 << 16;

/// What to submit, how many, how fast.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskMix {
    /// Tasks in all: 1 to [`MAX_TASKS`].
    #[serde(deserialize_with = "task_count")]
    pub(crate) count: u64,
    /// Tasks per second, as a Poisson process; 0 submits as fast as
    /// possible, in batches of `batch`.
    #[serde(default, deserialize_with = "non_negative")]
    pub(crate) arrival_rate: f64,
    /// Tasks per `submit_batch` call when `arrival_rate` is 0: 1 to
    /// [`MAX_BATCH`].
    #[serde(default = "default_batch", deserialize_with = "batch_size")]
    pub(crate) batch: usize,
    /// The kinds of task, drawn by weight.
    #[serde(deserialize_with = "non_empty")]
    pub(crate) kinds: Vec<KindSpec>,
}

fn default_batch() -> usize {
    64
}

/// One kind of task in the mix.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KindSpec {
    /// `training`, `inference`, `preprocessing`, `evaluation`, or any other
    /// name (a custom kind).
    pub(crate) kind: String,
    /// A label for reports; `kind` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    /// Relative frequency.
    #[serde(default = "one", deserialize_with = "positive")]
    pub(crate) weight: f64,
    /// Cost in seconds on a speed-1.0 node: a number, or a distribution.
    #[serde(default)]
    pub(crate) cost: CostDist,
    /// Resources each task needs.
    #[serde(default)]
    pub(crate) demand: Resources,
    /// Larger first under the `priority` discipline.
    #[serde(default)]
    pub(crate) priority: i32,
    /// Seconds after submission; orders the `edf` discipline.
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub(crate) deadline: Option<Duration>,
    /// Seconds one attempt may run.
    #[serde(default, with = "opt_secs", skip_serializing_if = "Option::is_none")]
    pub(crate) timeout: Option<Duration>,
    /// Runs after a failed attempt.
    #[serde(default = "default_retries")]
    pub(crate) max_retries: u32,
    /// Whether the task's own errors are retried.
    #[serde(default)]
    pub(crate) retry_on_error: bool,
    /// Probability that an attempt ends with its own error (seeded).
    #[serde(default, deserialize_with = "probability")]
    pub(crate) error_rate: f64,
}

fn one() -> f64 {
    1.0
}

fn default_retries() -> u32 {
    TaskSpec::DEFAULT_MAX_RETRIES
}

impl KindSpec {
    /// The report label.
    pub(crate) fn label(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.kind)
    }

    /// The allot task kind.
    pub(crate) fn task_kind(&self) -> TaskKind {
        match self.kind.as_str() {
            "training" => TaskKind::Training,
            "inference" => TaskKind::Inference,
            "preprocessing" => TaskKind::Preprocessing,
            "evaluation" => TaskKind::Evaluation,
            other => TaskKind::Custom(other.to_owned()),
        }
    }

    /// The spec of one task of this kind with cost `cost`. Fields are set
    /// one by one so that fields the library adds later keep their defaults.
    #[allow(clippy::field_reassign_with_default)]
    pub(crate) fn spec(&self, cost: f64) -> TaskSpec {
        let mut spec = TaskSpec::default();
        spec.kind = self.task_kind();
        spec.cost = cost;
        spec.demand = self.demand;
        spec.priority = self.priority;
        spec.deadline = self.deadline;
        spec.max_retries = self.max_retries;
        spec.retry_on_error = self.retry_on_error;
        spec.timeout = self.timeout;
        spec
    }
}

/// Most nodes a `[nodes] count` may ask for: 2^20. The node list is built
/// whole, so this bounds its memory (about 100 MiB) whatever the file says;
/// a machine's thread limit refuses far fewer.
pub(crate) const MAX_NODES: usize = 1 << 20;

fn node_count<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = u64::deserialize(d)?;
    match usize::try_from(v) {
        // Zero is the runtime's to refuse ("at least one node").
        Ok(n) if n <= MAX_NODES => Ok(n),
        _ => Err(de::Error::custom(format!(
            "must be at most {MAX_NODES} (2^20), got {v}"
        ))),
    }
}

fn task_count<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = u64::deserialize(d)?;
    if !(1..=MAX_TASKS).contains(&v) {
        return Err(de::Error::custom(format!(
            "must be from 1 to {MAX_TASKS} (2^53), got {v}"
        )));
    }
    Ok(v)
}

fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let v = usize::deserialize(d)?;
    if !(1..=MAX_BATCH).contains(&v) {
        return Err(de::Error::custom(format!(
            "must be from 1 to {MAX_BATCH}, got {v}"
        )));
    }
    Ok(v)
}

fn non_negative<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(de::Error::custom(format!(
            "must be finite and >= 0, got {v:?}"
        )));
    }
    Ok(v)
}

fn positive<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(v.is_finite() && v > 0.0) {
        return Err(de::Error::custom(format!(
            "must be finite and > 0, got {v:?}"
        )));
    }
    Ok(v)
}

fn probability<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if !(0.0..=1.0).contains(&v) {
        return Err(de::Error::custom(format!("must be in [0, 1], got {v:?}")));
    }
    Ok(v)
}

fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<KindSpec>, D::Error> {
    let v = Vec::<KindSpec>::deserialize(d)?;
    if v.is_empty() {
        return Err(de::Error::custom("at least one kind of task is required"));
    }
    Ok(v)
}

/// `Option<Duration>` as (fractional) seconds.
mod opt_secs {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map(Some).map_err(|_| {
            de::Error::custom(format!(
                "must be a finite, non-negative number of seconds, got {v}"
            ))
        })
    }
}
