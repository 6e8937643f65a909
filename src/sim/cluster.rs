//! The FGD paper's evaluation method on a GPU cluster trace, for any
//! [`GpuPlacement`].
//!
//! - Cluster: the trace's GPU nodes only, sorted by name, then shuffled
//!   with the run's seed. Policies break ties by the lowest node index, so
//!   this shuffle is the fixed seeded tie-break order.
//! - Workload: every pod of the trace, sorted by name and shuffled with the
//!   seed, then pods drawn uniformly with replacement from the trace until
//!   the offered GPU demand would pass [`FgdConfig::target`] (130 %) of the
//!   cluster's GPU capacity. A trace that alone offers more than the target
//!   is trimmed instead, as the authors' simulator does
//!   ([`FgdConfig::trim`]): pods chosen uniformly at random (seeded) are
//!   removed until it offers at most the target.
//! - Pods never leave; a pod no node can take now is dropped.
//! - After every pod the allocation (placed milli-GPUs over capacity) is
//!   recorded against the offered demand (milli-GPUs of every pod so far,
//!   dropped ones included). The allocation "at X %" is the mean over the
//!   records whose offered demand rounds to X % (as the paper's analysis
//!   scripts do), or over X ± 1 % when none does.

use super::openb::Trace;
use crate::policy::{GpuDemand, GpuNode, GpuPlacement};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::fmt;

/// Default [`FgdConfig::target`]: offer 130 % of the GPU capacity.
pub const DEFAULT_TARGET: f64 = 1.3;
/// Default [`FgdConfig::max_tasks_per_node`].
pub const DEFAULT_MAX_TASKS_PER_NODE: u32 = 1001;
/// Default [`FgdConfig::trim`]: trim, as the FGD authors' simulator does.
pub const DEFAULT_TRIM: bool = true;

/// Settings of one simulated run.
///
/// # Default
///
/// Seed 42, [`DEFAULT_TARGET`], [`DEFAULT_MAX_TASKS_PER_NODE`],
/// [`DEFAULT_TRIM`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FgdConfig {
    /// Seed of the node order, the pod order and the extra draws.
    pub seed: u64,
    /// Offered GPU demand to reach, as a fraction of capacity.
    pub target: f64,
    /// Most pods one node takes.
    pub max_tasks_per_node: u32,
    /// Whether a trace that alone offers more than `target` is trimmed to
    /// it by removing pods chosen uniformly at random with the seed (the
    /// FGD artifact's workload tuning, so that figures at 130 % compare
    /// with its); when `false` every pod of the trace is offered.
    pub trim: bool,
}

impl Default for FgdConfig {
    fn default() -> Self {
        FgdConfig {
            seed: 42,
            target: DEFAULT_TARGET,
            max_tasks_per_node: DEFAULT_MAX_TASKS_PER_NODE,
            trim: DEFAULT_TRIM,
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug, PartialEq)]
pub struct FgdRun {
    /// The policy's name.
    pub policy: String,
    /// The seed.
    pub seed: u64,
    /// GPUs in the cluster.
    pub gpus: u64,
    /// Pods offered.
    pub offered: usize,
    /// Pods placed.
    pub placed: usize,
    /// Offered GPU demand (% of capacity) when the first pod was dropped;
    /// `None` if none was.
    pub first_failure: Option<f64>,
    /// Offered GPU demand (% of capacity) when the first pod asking for a
    /// GPU was dropped.
    pub first_gpu_failure: Option<f64>,
    /// Every pod dropped, in offer order.
    pub dropped: Vec<DroppedPod>,
    sums: Vec<(f64, u32)>,
}

/// A pod no node could take when it was offered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DroppedPod {
    /// Its index in [`Scenario::pods`].
    pub pod: usize,
    /// What it asked for.
    pub demand: GpuDemand,
    /// Offered GPU demand (% of capacity) once it was offered.
    pub offered_pct: f64,
}

impl FgdRun {
    /// Mean GPU allocation (% of capacity) while the offered demand rounds
    /// to `percent` %; `None` when the run never got near it.
    pub fn allocation_at(&self, percent: usize) -> Option<f64> {
        let at = |p: usize| {
            self.sums
                .get(p)
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| (*s, *n))
        };
        if let Some((s, n)) = at(percent) {
            return Some(s / n as f64);
        }
        let (mut s, mut n) = (0.0, 0);
        for p in percent.saturating_sub(1)..=percent + 1 {
            if let Some((ps, pn)) = at(p) {
                s += ps;
                n += pn;
            }
        }
        (n > 0).then(|| s / n as f64)
    }

    /// GPUs left unallocated while the offered demand rounds to `percent` %.
    pub fn unallocated_gpus_at(&self, percent: usize) -> Option<f64> {
        self.allocation_at(percent)
            .map(|a| (1.0 - a / 100.0) * self.gpus as f64)
    }
}

/// A policy did something the simulator cannot apply.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimError {
    /// The policy chose a node or GPUs without room for the pod.
    InvalidChoice {
        /// The policy.
        policy: String,
        /// The pod's index in the workload.
        pod: usize,
        /// The node index chosen.
        node: usize,
    },
    /// The trace has no GPU node.
    NoGpuNodes,
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SimError::InvalidChoice { policy, pod, node } => write!(
                f,
                "policy `{policy}` put pod {pod} on node {node}, which has no room for it"
            ),
            SimError::NoGpuNodes => f.write_str("the trace has no GPU node"),
        }
    }
}

impl std::error::Error for SimError {}

/// The cluster and workload of one seeded run: GPU nodes in the seeded
/// order, pods in offer order.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The nodes, in tie-break order.
    pub nodes: Vec<GpuNode>,
    /// Names of the nodes, same order.
    pub node_names: Vec<String>,
    /// The pods to offer, in order.
    pub pods: Vec<GpuDemand>,
    /// Total GPU milli-GPUs.
    pub capacity_milli: u64,
    /// Pods of the trace removed because it alone offered more than the
    /// target ([`FgdConfig::trim`]); 0 when it did not.
    pub trimmed: usize,
}

impl Scenario {
    /// Builds the seeded cluster and workload from `trace`.
    ///
    /// # Errors
    ///
    /// [`SimError::NoGpuNodes`] when the trace has no GPU node.
    pub fn new(trace: &Trace, config: &FgdConfig) -> Result<Self, SimError> {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut nodes: Vec<&super::openb::TraceNode> =
            trace.nodes.iter().filter(|n| n.gpus > 0).collect();
        if nodes.is_empty() {
            return Err(SimError::NoGpuNodes);
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.shuffle(&mut rng);
        let capacity_milli: u64 = nodes
            .iter()
            .map(|n| n.to_gpu_node().gpu_capacity_total())
            .sum();
        let mut by_name: Vec<&super::openb::TracePod> = trace.pods.iter().collect();
        by_name.sort_by(|a, b| a.name.cmp(&b.name));
        let mut order = by_name.clone();
        order.shuffle(&mut rng);
        let mut pods: Vec<GpuDemand> = order.iter().map(|p| p.demand).collect();
        let mut offered: u64 = pods.iter().map(GpuDemand::total_gpu_milli).sum();
        let limit = config.target * capacity_milli as f64;
        let mut trimmed = 0;
        if config.trim && offered as f64 > limit {
            // The artifact's tuneDownPods: remove a uniformly random pod
            // until the list offers at most the target.
            while offered as f64 > limit && !pods.is_empty() {
                let p = pods.remove(rng.random_range(0..pods.len()));
                offered -= p.total_gpu_milli();
                trimmed += 1;
            }
        } else if !by_name.is_empty() && by_name.iter().any(|p| p.demand.total_gpu_milli() > 0) {
            loop {
                let p = by_name[rng.random_range(0..by_name.len())].demand;
                if (offered + p.total_gpu_milli()) as f64 > limit {
                    break;
                }
                offered += p.total_gpu_milli();
                pods.push(p);
            }
        }
        Ok(Scenario {
            nodes: nodes
                .iter()
                .map(|n| n.to_gpu_node().with_max_tasks(config.max_tasks_per_node))
                .collect(),
            node_names: nodes.iter().map(|n| n.name.clone()).collect(),
            pods,
            capacity_milli,
            trimmed,
        })
    }

    /// Offers every pod to `policy`, in order.
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidChoice`] when the policy picks a node or GPUs
    /// without room.
    pub fn run(&self, policy: &mut dyn GpuPlacement, seed: u64) -> Result<FgdRun, SimError> {
        let mut nodes = self.nodes.clone();
        let cap = self.capacity_milli as f64;
        let mut offered: u64 = 0;
        let mut allocated: u64 = 0;
        let mut run = FgdRun {
            policy: policy.name().to_owned(),
            seed,
            gpus: self.capacity_milli / 1000,
            offered: self.pods.len(),
            placed: 0,
            first_failure: None,
            first_gpu_failure: None,
            dropped: Vec::new(),
            sums: Vec::new(),
        };
        for (k, pod) in self.pods.iter().enumerate() {
            offered += pod.total_gpu_milli();
            let offered_pct = 100.0 * offered as f64 / cap;
            match policy.choose(pod, &nodes) {
                Some(c) => {
                    let ok = c.node < nodes.len()
                        && nodes[c.node].fits(pod)
                        && c.gpus.len() == pod.gpus as usize
                        && c.gpus.iter().enumerate().all(|(i, &g)| {
                            g < nodes[c.node].gpu_free.len()
                                && nodes[c.node].gpu_free[g] >= pod.gpu_milli
                                && !c.gpus[..i].contains(&g)
                        });
                    if !ok {
                        return Err(SimError::InvalidChoice {
                            policy: run.policy,
                            pod: k,
                            node: c.node,
                        });
                    }
                    nodes[c.node].place(pod, &c.gpus);
                    allocated += pod.total_gpu_milli();
                    run.placed += 1;
                }
                None => {
                    run.dropped.push(DroppedPod {
                        pod: k,
                        demand: *pod,
                        offered_pct,
                    });
                    run.first_failure.get_or_insert(offered_pct);
                    if pod.gpus > 0 {
                        run.first_gpu_failure.get_or_insert(offered_pct);
                    }
                }
            }
            let bucket = offered_pct.round() as usize;
            if run.sums.len() <= bucket {
                run.sums.resize(bucket + 1, (0.0, 0));
            }
            run.sums[bucket].0 += 100.0 * allocated as f64 / cap;
            run.sums[bucket].1 += 1;
        }
        Ok(run)
    }
}

/// Builds the seeded scenario from `trace` and runs `policy` on it.
///
/// # Errors
///
/// As [`Scenario::new`] and [`Scenario::run`].
pub fn simulate(
    trace: &Trace,
    policy: &mut dyn GpuPlacement,
    config: &FgdConfig,
) -> Result<FgdRun, SimError> {
    Scenario::new(trace, config)?.run(policy, config.seed)
}
