//! The workload file (`.toml` or `.json`): a runtime config plus a task mix.
//!
//! ```toml
//! name = "mixed"                  # optional; the file stem otherwise
//!
//! [runtime]                       # an allot::RuntimeConfig, verbatim
//! policy = "least-loaded"
//! discipline = "fcfs"
//! rng_seed = 42
//!
//! [nodes]                         # shorthand: `count` copies of `template`
//! count = 4                       # (or `[[nodes]]` entries, or `[[runtime.nodes]]`)
//! template = { name = "cpu", slots = 2, capacity = { cpu_milli = 4000 } }
//!
//! [tasks]
//! count = 2000
//! arrival_rate = 0                # tasks/s; 0 = as fast as possible
//!
//! [[tasks.kinds]]
//! kind = "inference"
//! weight = 3
//! cost = { dist = "exponential", mean = 0.001 }
//! ```
//!
//! Unknown fields are errors everywhere. Every number is checked against
//! a documented range ([`check_ranges`], `docs/guide.md`) so that none
//! reaches arithmetic that overflows; checks that the runtime itself makes
//! (a negative or NaN cost, a zero timeout, feasibility of demands, zero
//! nodes or slots) are left to it, so the messages are the runtime's typed
//! errors.

use crate::error::{CliError, Position};
use crate::limits::MachineLimits;
use crate::locate::{self, FieldPath};
use allot::{FaultSpec, NodeSpec, Resources, RuntimeConfig, TaskKind, TaskSpec};
use rand::Rng;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::path::{Path, PathBuf};
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
            CostDist::Exponential { mean } => -mean * (1.0 - rng.random::<f64>()).ln(),
            CostDist::Normal { mean, std_dev } => {
                // Box–Muller.
                let u1 = 1.0 - rng.random::<f64>();
                let u2 = rng.random::<f64>();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                (mean + std_dev * z).max(0.0)
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

/// Longest duration a workload file may give (any of them: intervals,
/// backoffs, timeouts, deadlines, fault times), in seconds: 10^9 s, about
/// 31.7 years. Longer ones would reach the clock's range in arithmetic.
pub(crate) const MAX_SECONDS: f64 = 1e9;

/// Largest task cost, in seconds on a speed-1.0 node, for every parameter
/// of a cost distribution; samples past it are clamped to it.
pub(crate) const MAX_COST: f64 = 1e9;

/// Range of a node's `speed` and of a `slow_node` fault's `factor`: so the
/// fastest node is at most 10^6 times the slowest (10^12 with a slowdown),
/// a ratio the runtime's speed throttle multiplies durations by.
pub(crate) const SPEED_RANGE: (f64, f64) = (1e-3, 1e3);

/// Largest `supervision.backoff_jitter` (a restart waits up to
/// `1 + jitter` times its backoff).
pub(crate) const MAX_JITTER: f64 = 100.0;

/// Largest `weight` of a kind of task.
pub(crate) const MAX_WEIGHT: f64 = 1e12;

/// Most messages one `flood_mailbox` fault sends.
pub(crate) const MAX_FLOOD: u64 = 1_000_000;

/// A value outside its documented range: the field and why.
type RangeError = (FieldPath, String);

fn at_most_seconds(field: &str, d: std::time::Duration) -> Result<(), RangeError> {
    if d.as_secs_f64() > MAX_SECONDS {
        return Err((
            FieldPath::parse(field),
            format!(
                "must be at most {MAX_SECONDS:e} seconds, got {:?}",
                d.as_secs_f64()
            ),
        ));
    }
    Ok(())
}

/// A speed or speed factor: NaN, zero and negatives are the runtime's to
/// refuse (it does, by name); positive values outside [`SPEED_RANGE`] and
/// infinity are refused here.
fn speed(field: FieldPath, v: f64) -> Result<(), RangeError> {
    let (lo, hi) = SPEED_RANGE;
    if v == f64::INFINITY || (v > 0.0 && !(lo..=hi).contains(&v)) {
        return Err((field, format!("must be from {lo} to {hi}, got {v:?}")));
    }
    Ok(())
}

/// A cost parameter: NaN and negatives are the runtime's to refuse (it
/// does, as an invalid task); above [`MAX_COST`] is refused here.
fn cost(field: FieldPath, v: f64) -> Result<(), RangeError> {
    if v > MAX_COST {
        return Err((
            field,
            format!("must be at most {MAX_COST:e} seconds, got {v:?}"),
        ));
    }
    Ok(())
}

fn node(field: FieldPath, n: &NodeSpec) -> Result<(), RangeError> {
    speed(field.key("speed"), n.speed)
}

/// Checks every number of the workload against the ranges the guide
/// documents, so that none reaches arithmetic that overflows or panics:
/// durations, speeds, jitter, costs, weights, fault settings. Settings the
/// runtime itself refuses by a typed error (no nodes, zero slots, a
/// negative or NaN cost or speed, a probability outside [0, 1], a zero
/// interval) are left to it, so its messages name them.
///
/// # Errors
///
/// The first field out of range, and why.
pub(crate) fn check_ranges(w: &Workload) -> Result<(), RangeError> {
    let r = &w.runtime;
    for (field, d) in [
        ("runtime.heartbeat_interval", r.heartbeat_interval),
        ("runtime.retry_backoff_min", r.retry_backoff_min),
        ("runtime.retry_backoff_max", r.retry_backoff_max),
        ("runtime.balancer.interval", r.balancer.interval),
        ("runtime.balancer.min_gap", r.balancer.min_gap),
        (
            "runtime.supervision.restart_period",
            r.supervision.restart_period,
        ),
        ("runtime.supervision.backoff_min", r.supervision.backoff_min),
        ("runtime.supervision.backoff_max", r.supervision.backoff_max),
        (
            "runtime.supervision.hang_timeout",
            r.supervision.hang_timeout,
        ),
    ] {
        at_most_seconds(field, d)?;
    }
    let jitter = r.supervision.backoff_jitter;
    if jitter > MAX_JITTER {
        return Err((
            FieldPath::parse("runtime.supervision.backoff_jitter"),
            format!("must be from 0 to {MAX_JITTER}, got {jitter:?}"),
        ));
    }
    for (i, n) in r.nodes.iter().enumerate() {
        node(FieldPath::parse("runtime.nodes").index(i), n)?;
    }
    match &w.nodes {
        Some(Nodes::List(v)) => {
            for (i, n) in v.iter().enumerate() {
                node(FieldPath::parse("nodes").index(i), n)?;
            }
        }
        Some(Nodes::Count(c)) => node(FieldPath::parse("nodes.template"), &c.template)?,
        None => {}
    }
    if let Some(plan) = &r.fault_plan {
        for (i, f) in plan.faults.iter().enumerate() {
            let at = |key: &str| {
                FieldPath::parse("runtime.fault_plan.faults")
                    .index(i)
                    .key(key)
                    .to_string()
            };
            match f {
                FaultSpec::HangNode {
                    duration: Some(d), ..
                } => at_most_seconds(&at("duration"), *d)?,
                FaultSpec::SlowNode {
                    factor,
                    at: start,
                    recover_after,
                    ..
                } => {
                    speed(FieldPath::parse(&at("factor")), *factor)?;
                    at_most_seconds(&at("at"), *start)?;
                    if let Some(d) = recover_after {
                        at_most_seconds(&at("recover_after"), *d)?;
                    }
                }
                FaultSpec::FloodMailbox { messages, .. } if *messages > MAX_FLOOD => {
                    return Err((
                        FieldPath::parse(&at("messages")),
                        format!("must be at most {MAX_FLOOD}, got {messages}"),
                    ));
                }
                _ => {}
            }
        }
    }
    for (i, k) in w.tasks.kinds.iter().enumerate() {
        let kind = FieldPath::parse("tasks.kinds").index(i);
        if k.weight > MAX_WEIGHT {
            return Err((
                kind.key("weight"),
                format!("must be at most {MAX_WEIGHT:e}, got {:?}", k.weight),
            ));
        }
        let c = kind.clone().key("cost");
        match k.cost {
            CostDist::Fixed { value } => cost(c, value)?,
            CostDist::Uniform { min, max } => {
                cost(c.clone().key("min"), min)?;
                cost(c.key("max"), max)?;
            }
            CostDist::Exponential { mean } => cost(c.key("mean"), mean)?,
            CostDist::Normal { mean, std_dev } => {
                cost(c.clone().key("mean"), mean)?;
                cost(c.key("std_dev"), std_dev)?;
            }
        }
        for (key, d) in [("deadline", k.deadline), ("timeout", k.timeout)] {
            if let Some(d) = d {
                at_most_seconds(&kind.clone().key(key).to_string(), d)?;
            }
        }
    }
    Ok(())
}

/// A workload file and its parsed contents, kept together so that later
/// errors can point into the text.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub(crate) path: PathBuf,
    pub(crate) text: String,
    pub(crate) is_json: bool,
    pub(crate) workload: Workload,
}

/// Reads and parses a workload file.
///
/// # Errors
///
/// [`CliError::Input`] naming the file, the position and the field.
pub(crate) fn load(path: &Path) -> Result<Loaded, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::Input {
        file: path.to_owned(),
        position: None,
        field: None,
        message: format!("cannot read the workload file: {e}"),
        source_line: None,
    })?;
    from_text(path, text)
}

/// Parses the text of workload file `path` and checks its ranges
/// ([`check_ranges`]).
///
/// # Errors
///
/// [`CliError::Input`] naming the file, the position and the field.
pub(crate) fn from_text(path: &Path, text: String) -> Result<Loaded, CliError> {
    let is_json = match path.extension().and_then(|e| e.to_str()) {
        Some("json") => true,
        Some("toml") => false,
        _ => text.trim_start().starts_with('{'),
    };
    let workload = if is_json {
        parse_json(path, &text)?
    } else {
        parse_toml(path, &text)?
    };
    let loaded = Loaded {
        path: path.to_owned(),
        text,
        is_json,
        workload,
    };
    check_ranges(&loaded.workload).map_err(|(field, why)| loaded.error_at(&field, why))?;
    Ok(loaded)
}

fn field_of(path: &serde_path_to_error::Path) -> Option<String> {
    let p = path.to_string();
    (p != ".").then_some(p)
}

fn parse_toml(path: &Path, text: &str) -> Result<Workload, CliError> {
    let to_cli = |field, e: toml::de::Error| {
        CliError::input_at(
            path,
            text,
            e.span().map(|s| s.start),
            field,
            e.message().trim_end(),
        )
    };
    let de = toml::Deserializer::parse(text).map_err(|e| to_cli(None, e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = field_of(e.path());
        to_cli(field, e.into_inner())
    })
}

fn parse_json(path: &Path, text: &str) -> Result<Workload, CliError> {
    let to_cli = |field, e: serde_json::Error| {
        let shown = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let message = shown.strip_suffix(&suffix).unwrap_or(&shown).to_owned();
        if e.line() == 0 {
            return CliError::input_at(path, text, None, field, message);
        }
        let position = Position {
            line: e.line(),
            column: e.column().max(1),
        };
        CliError::input_at_line(path, text, position, field, message)
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let workload = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = field_of(e.path());
        to_cli(field, e.into_inner())
    })?;
    de.end().map_err(|e| to_cli(None, e))?;
    Ok(workload)
}

impl Loaded {
    /// The workload's name: its own, or the file stem.
    pub(crate) fn name(&self) -> String {
        self.workload.name.clone().unwrap_or_else(|| {
            self.path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "workload".into())
        })
    }

    /// An error about `field`, pointing at where the file sets it.
    pub(crate) fn error_at(&self, field: &FieldPath, message: impl Into<String>) -> CliError {
        let offset = locate::locate(&self.text, self.is_json, field);
        CliError::input_at(
            &self.path,
            &self.text,
            offset,
            Some(field.to_string()),
            message,
        )
    }

    /// The runtime settings with the workload's nodes in place, once the
    /// nodes are known to fit this machine (`limits`), with at most
    /// `pending` tasks submitted and not yet tallied at a time.
    ///
    /// # Errors
    ///
    /// When nodes are given both as `nodes` and as `runtime.nodes`, or
    /// need more threads or memory than the machine allows (checked before
    /// the node list is built: a `count` of 10^9 allocates nothing).
    pub(crate) fn runtime_config(
        &self,
        limits: &MachineLimits,
        pending: u64,
    ) -> Result<RuntimeConfig, CliError> {
        let mut cfg = self.workload.runtime.clone();
        let (threads, field) = match &self.workload.nodes {
            Some(nodes) => {
                if cfg.nodes != RuntimeConfig::default().nodes {
                    return Err(self.error_at(
                        &FieldPath::parse("nodes"),
                        "nodes are given twice, as `nodes` and as `runtime.nodes`: keep one",
                    ));
                }
                let field = match nodes {
                    Nodes::Count(_) => "nodes.count",
                    Nodes::List(_) => "nodes",
                };
                (nodes.threads(), field)
            }
            None => (node_threads(&cfg.nodes), "runtime.nodes"),
        };
        limits
            .check(threads, pending)
            .map_err(|e| self.error_at(&FieldPath::parse(field), e.to_string()))?;
        if let Some(nodes) = &self.workload.nodes {
            cfg.nodes = nodes.specs();
        }
        Ok(cfg)
    }

    /// Where the file sets the runtime setting `field` (as named by
    /// `BuildError::InvalidConfig`, e.g. `balancer.high`).
    pub(crate) fn runtime_field(&self, field: &str, node: Option<usize>) -> FieldPath {
        let nodes_setting = field == "nodes" || field.starts_with("nodes.");
        // `nodes.speed` of node `i` is `nodes[i].speed` in a list.
        let in_list = |list: &str| match (node, field.strip_prefix("nodes.")) {
            (Some(i), Some(rest)) => FieldPath::parse(list).index(i).key(rest),
            _ => FieldPath::parse(&format!("{}{}", list, &field["nodes".len()..])),
        };
        match &self.workload.nodes {
            Some(Nodes::Count(_)) if field == "nodes" => FieldPath::parse("nodes.count"),
            Some(Nodes::Count(_)) if nodes_setting => {
                FieldPath::parse(&format!("nodes.template.{}", &field["nodes.".len()..]))
            }
            Some(Nodes::List(_)) if nodes_setting => in_list("nodes"),
            _ if nodes_setting => in_list("runtime.nodes"),
            _ => FieldPath::parse(&format!("runtime.{field}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn toml_workload(text: &str) -> Result<Workload, CliError> {
        parse_toml(Path::new("w.toml"), text)
    }

    const MINIMAL: &str = "[tasks]\ncount = 10\n[[tasks.kinds]]\nkind = \"inference\"\n";

    #[test]
    fn a_minimal_workload_takes_every_default() {
        let w = toml_workload(MINIMAL).unwrap();
        assert_eq!(w.runtime, RuntimeConfig::default());
        assert_eq!(w.tasks.batch, 64);
        let k = &w.tasks.kinds[0];
        assert_eq!(k.cost, CostDist::Fixed { value: 0.001 });
        assert_eq!(k.weight, 1.0);
        assert_eq!(k.max_retries, TaskSpec::DEFAULT_MAX_RETRIES);
        assert_eq!(k.task_kind(), TaskKind::Inference);
    }

    #[test]
    fn costs_are_a_number_or_a_distribution_table() {
        let w = toml_workload(
            "[tasks]\ncount = 1\nkinds = [\n { kind = \"a\", cost = 2 },\n { kind = \"b\", cost = { dist = \"uniform\", min = 0.5, max = 1.5 } },\n { kind = \"c\", cost = { dist = \"normal\", mean = 1, std_dev = 0.1 } },\n]\n",
        )
        .unwrap();
        let costs: Vec<_> = w.tasks.kinds.iter().map(|k| k.cost.clone()).collect();
        assert_eq!(
            costs,
            vec![
                CostDist::Fixed { value: 2.0 },
                CostDist::Uniform { min: 0.5, max: 1.5 },
                CostDist::Normal {
                    mean: 1.0,
                    std_dev: 0.1
                },
            ]
        );
        assert_eq!(w.tasks.kinds[0].task_kind(), TaskKind::Custom("a".into()));
    }

    #[test]
    fn a_distribution_with_a_missing_or_foreign_parameter_is_refused_where_it_is_written() {
        let e = toml_workload(
            "[tasks]\ncount = 1\n[[tasks.kinds]]\nkind = \"a\"\ncost = { dist = \"exponential\", min = 1 }\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("w.toml:5:8: field `tasks.kinds[0].cost`"),
            "{e}"
        );
        assert!(e.contains("missing field `mean`"), "{e}");
    }

    #[test]
    fn nodes_are_a_list_or_a_count_and_a_template() {
        let w = toml_workload(&format!(
            "[nodes]\ncount = 3\ntemplate = {{ name = \"gpu\", slots = 2 }}\n{MINIMAL}"
        ))
        .unwrap();
        let specs = w.nodes.unwrap().specs();
        assert_eq!(specs.len(), 3);
        assert_eq!(specs[2].name, "gpu-2");
        assert_eq!(specs[2].slots, 2);
        let w = toml_workload(&format!(
            "{MINIMAL}[[nodes]]\nname = \"a\"\n[[nodes]]\nspeed = 2.0\n"
        ))
        .unwrap();
        let specs = w.nodes.unwrap().specs();
        assert_eq!((specs[0].name.as_str(), specs[1].speed), ("a", 2.0));
    }

    #[test]
    fn a_node_count_past_2_to_the_20_is_refused_before_any_node_is_built() {
        for count in ["100000000", "18446744073709551615"] {
            let e = toml_workload(&format!("[nodes]\ncount = {count}\n{MINIMAL}"))
                .unwrap_err()
                .to_string();
            assert!(e.contains("nodes.count") && e.contains(count), "{e}");
        }
        let w = toml_workload(&format!("[nodes]\ncount = 1048576\n{MINIMAL}")).unwrap();
        assert!(matches!(w.nodes, Some(Nodes::Count(ref c)) if c.count == MAX_NODES));
    }

    #[test]
    fn json_errors_carry_line_column_and_field() {
        let text = "{\n  \"tasks\": {\n    \"count\": \"ten\",\n    \"kinds\": []\n  }\n}\n";
        let e = parse_json(Path::new("w.json"), text)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("w.json:3:18: field `tasks.count`: invalid type"),
            "{e}"
        );
    }

    #[test]
    fn samples_follow_their_distribution_and_stay_non_negative() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let exp = CostDist::Exponential { mean: 2.0 };
        let n = 20_000;
        let mean = (0..n).map(|_| exp.sample(&mut rng)).sum::<f64>() / n as f64;
        assert!((mean - 2.0).abs() < 0.1, "{mean}");
        let normal = CostDist::Normal {
            mean: 0.0,
            std_dev: 1.0,
        };
        assert!((0..1000).all(|_| normal.sample(&mut rng) >= 0.0));
        let uni = CostDist::Uniform { min: 1.0, max: 2.0 };
        assert!((0..1000).all(|_| (1.0..2.0).contains(&uni.sample(&mut rng))));
    }
}
