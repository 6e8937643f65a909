//! UCB against an oracle: tasks placed one at a time on idle nodes whose
//! speeds (per task kind) the policy does not know, through the
//! [`Policy`] trait, with completion times fed back.

use crate::ids::{NodeId, TaskId};
use crate::policy::{Feedback, NodeView, Policy, TaskView};
use crate::resources::Resources;
use crate::spec::TaskKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// A node that slows down during the run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slowdown {
    /// After this many tasks…
    pub after: usize,
    /// …this node (`None`: the node fastest for the first kind)…
    pub node: Option<usize>,
    /// …runs at this fraction of its speed.
    pub factor: f64,
}

/// Settings of a bandit run.
///
/// # Default
///
/// 8 nodes, 10 000 tasks, 2 kinds, speeds uniform in 0.5–2.0 per node and
/// kind, task costs uniform in 0.5–1.5, 10 % log-normal noise on run
/// times, seed 7, no slowdown.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BanditConfig {
    /// Nodes.
    pub nodes: usize,
    /// Tasks placed.
    pub tasks: usize,
    /// Task kinds (each has its own speed per node).
    pub kinds: usize,
    /// Standard deviation of the log of the run-time noise.
    pub noise: f64,
    /// Seed of speeds, costs and noise.
    pub seed: u64,
    /// An optional slowdown.
    pub slowdown: Option<Slowdown>,
}

impl Default for BanditConfig {
    fn default() -> Self {
        BanditConfig {
            nodes: 8,
            tasks: 10_000,
            kinds: 2,
            noise: 0.1,
            seed: 7,
            slowdown: None,
        }
    }
}

/// What a bandit run measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BanditResult {
    /// Total run time of the policy's choices.
    pub policy_time: f64,
    /// Total run time had every task gone to the node fastest for its kind
    /// at that moment (same noise).
    pub oracle_time: f64,
    /// Share of tasks placed on the oracle's node.
    pub best_share: f64,
}

impl BanditResult {
    /// `(policy − oracle) / oracle`.
    pub fn regret(&self) -> f64 {
        (self.policy_time - self.oracle_time) / self.oracle_time
    }
}

fn normal(rng: &mut StdRng) -> f64 {
    // Box–Muller.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Runs `policy` for `config.tasks` tasks. Each task is placed on idle
/// nodes (load 0, speed reported as 1.0), runs alone, and its elapsed time
/// is fed back with [`Policy::observe`].
pub fn run_bandit(policy: &mut dyn Policy, config: &BanditConfig) -> BanditResult {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let kinds: Vec<TaskKind> = (0..config.kinds.max(1))
        .map(|k| TaskKind::Custom(format!("kind-{k}")))
        .collect();
    let mut speeds: Vec<Vec<f64>> = kinds
        .iter()
        .map(|_| {
            (0..config.nodes)
                .map(|_| rng.random_range(0.5..2.0))
                .collect()
        })
        .collect();
    let views: Vec<NodeView> = (0..config.nodes)
        .map(|j| NodeView::idle(NodeId(j), Resources::cpu(1_000), 1.0, 1))
        .collect();
    let (mut total, mut oracle, mut best_hits) = (0.0, 0.0, 0usize);
    for t in 0..config.tasks {
        if let Some(s) = config.slowdown {
            if t == s.after {
                let node = s.node.unwrap_or_else(|| {
                    (0..config.nodes)
                        .max_by(|&a, &b| speeds[0][a].total_cmp(&speeds[0][b]))
                        .unwrap_or(0)
                });
                for k in &mut speeds {
                    if let Some(v) = k.get_mut(node) {
                        *v *= s.factor;
                    }
                }
            }
        }
        let k = rng.random_range(0..kinds.len());
        let cost: f64 = rng.random_range(0.5..1.5);
        let noise = (config.noise * normal(&mut rng)).exp();
        let task = TaskView {
            id: TaskId(t as u64),
            kind: &kinds[k],
            cost,
            demand: Resources::ZERO,
            priority: 0,
        };
        let j = policy.place(&task, &views).unwrap_or(0);
        let best = (0..config.nodes)
            .max_by(|&a, &b| speeds[k][a].total_cmp(&speeds[k][b]))
            .expect("nodes");
        let elapsed = cost / speeds[k][j] * noise;
        total += elapsed;
        oracle += cost / speeds[k][best] * noise;
        best_hits += usize::from(j == best);
        policy.observe(&Feedback {
            node: NodeId(j),
            kind: kinds[k].clone(),
            cost,
            elapsed: Duration::from_secs_f64(elapsed),
        });
    }
    BanditResult {
        policy_time: total,
        oracle_time: oracle,
        best_share: best_hits as f64 / config.tasks.max(1) as f64,
    }
}
