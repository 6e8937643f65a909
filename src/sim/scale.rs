//! A cluster of any size and a workload of any length, generated from a
//! GPU trace, for measuring how the replay scales.
//!
//! - **Nodes**: the trace's GPU nodes sorted by name, repeated until there
//!   are [`ScaleConfig::nodes`] (the k-th copy of node `n` is named `n-k`),
//!   then shuffled with the seed (the replay's tie-break order).
//! - **Tasks**: [`ScaleConfig::tasks`] pods drawn uniformly with
//!   replacement from the trace's pods that have valid times; each keeps
//!   its shape and its duration (`max(1, deletion_time − scheduled_time)`),
//!   clipped to a quarter of the horizon H. Arrivals are evenly spaced over
//!   H (several may share a second), which is chosen so that the offered
//!   GPU load (GPU demand × duration per second of H) is
//!   [`ScaleConfig::load`] of the cluster's GPU capacity. With few tasks
//!   per node the clipping caps what can be offered: when no H offers the
//!   load, H is one second per task, and the cluster is less loaded than
//!   asked.
//! - The replay stops at H: tasks still queued then are waiting.

use super::openb::Trace;
use super::replay::{PodTimes, QueueOrder, Replay, ReplayPod, SkipReason};
use crate::policy::{GpuDemand, GpuNode};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// What to generate.
///
/// # Default
///
/// 10 000 tasks on 1 213 nodes (the openb trace's GPU nodes), offered load
/// 0.9, seed 42, at most 1 001 tasks per node, first-in-first-out queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleConfig {
    /// Tasks to draw.
    pub tasks: usize,
    /// Nodes to build.
    pub nodes: usize,
    /// Offered GPU load, as a fraction of capacity.
    pub load: f64,
    /// Seed of the node order and the draws.
    pub seed: u64,
    /// Most tasks one node takes.
    pub max_tasks_per_node: u32,
    /// The replay's queue discipline.
    pub queue: QueueOrder,
}

impl Default for ScaleConfig {
    fn default() -> Self {
        ScaleConfig {
            tasks: 10_000,
            nodes: 1_213,
            load: 0.9,
            seed: 42,
            max_tasks_per_node: 1001,
            queue: QueueOrder::Fifo,
        }
    }
}

/// Builds the replay `config` describes from `trace`, with `times[i]` the
/// times of `trace.pods[i]` (pods without valid times are not drawn).
/// `None` when the trace has no GPU node or no pod with valid times.
pub fn scaled_replay(
    trace: &Trace,
    times: &[Result<PodTimes, SkipReason>],
    config: &ScaleConfig,
) -> Option<Replay> {
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut base: Vec<_> = trace.nodes.iter().filter(|n| n.gpus > 0).collect();
    if base.is_empty() {
        return None;
    }
    base.sort_by(|a, b| a.name.cmp(&b.name));
    let mut named: Vec<(String, GpuNode)> = (0..config.nodes)
        .map(|k| {
            let n = base[k % base.len()];
            let copy = k / base.len();
            let name = if copy == 0 {
                n.name.clone()
            } else {
                format!("{}-{copy}", n.name)
            };
            (
                name,
                n.to_gpu_node().with_max_tasks(config.max_tasks_per_node),
            )
        })
        .collect();
    named.shuffle(&mut rng);
    let capacity: u64 = named.iter().map(|(_, n)| n.gpu_capacity_total()).sum();
    let pool: Vec<(GpuDemand, u64)> = trace
        .pods
        .iter()
        .zip(times)
        .filter_map(|(p, t)| t.as_ref().ok().map(|t| (p.demand, t.duration())))
        .collect();
    if pool.is_empty() {
        return None;
    }
    let drawn: Vec<(GpuDemand, u64)> = (0..config.tasks)
        .map(|_| pool[rng.random_range(0..pool.len())])
        .collect();
    // No positive horizon: too few tasks to offer the load (each clipped
    // to a quarter of H); then one arrival a second.
    let h = Some(horizon(&drawn, capacity, config.load))
        .filter(|&h| h >= 1.0)
        .unwrap_or(config.tasks as f64);
    let spacing = h / config.tasks.max(1) as f64;
    let clip = (h / 4.0).max(1.0) as u64;
    let pods = drawn
        .into_iter()
        .enumerate()
        .map(|(k, (d, s))| {
            ReplayPod::new(
                format!("task-{k}"),
                d,
                (k as f64 * spacing) as u64,
                s.min(clip),
            )
        })
        .collect();
    let (names, nodes): (Vec<String>, Vec<GpuNode>) = named.into_iter().unzip();
    let mut replay = Replay::new(nodes, pods);
    replay.node_names = names;
    replay.drain = false;
    replay.trace_end = h as u64;
    replay.queue = config.queue;
    Some(replay)
}

/// The horizon H with `Σ gpu · min(duration, H / 4) = load · capacity · H`,
/// by fixed-point iteration from the unclipped value: the left side grows
/// with H and never past that value, so the iterates fall monotonically to
/// the largest solution (0 when the tasks cannot offer the load at all; the
/// caller puts a floor under it).
fn horizon(drawn: &[(GpuDemand, u64)], capacity: u64, load: f64) -> f64 {
    let per_second = (load * capacity as f64).max(1.0);
    let work = |h: f64| -> f64 {
        drawn
            .iter()
            .map(|(d, s)| d.total_gpu_milli() as f64 * (*s as f64).min(h / 4.0))
            .sum()
    };
    let mut h = work(f64::INFINITY) / per_second;
    for _ in 0..64 {
        let next = work(h) / per_second;
        if (next - h).abs() < 1.0 {
            return next;
        }
        h = next;
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::BestFit;

    fn trace() -> (Trace, Vec<Result<PodTimes, SkipReason>>) {
        let nodes = "sn,cpu_milli,memory_mib,gpu,model\na,64000,262144,4,T4\nb,32000,131072,2,T4\nc,32000,131072,0,\n";
        let pods = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,4000,8192,1,500\np1,8000,16384,2,1000\n";
        let t = Trace::parse("n.csv", nodes, "p.csv", pods).unwrap();
        let times = vec![
            Ok(PodTimes {
                creation: 0,
                scheduled: 0,
                deletion: 100,
            }),
            Err(SkipReason::MissingTime("scheduled_time")),
        ];
        (t, times)
    }

    #[test]
    fn nodes_are_the_gpu_nodes_repeated_and_tasks_draw_only_pods_with_times() {
        let (t, times) = trace();
        let config = ScaleConfig {
            tasks: 50,
            nodes: 5,
            ..ScaleConfig::default()
        };
        let r = scaled_replay(&t, &times, &config).unwrap();
        let mut names = r.node_names.clone();
        names.sort();
        assert_eq!(names, ["a", "a-1", "a-2", "b", "b-1"]);
        assert_eq!(r.pods.len(), 50);
        // p1 has no scheduled_time: only p0 is drawn.
        assert!(r.pods.iter().all(|p| p.demand == t.pods[0].demand));
        assert!(r.pods.windows(2).all(|w| w[0].arrival <= w[1].arrival));
        assert_eq!(scaled_replay(&t, &times, &config).unwrap().pods, r.pods);
        let run = r.run(&mut BestFit::new()).unwrap();
        assert!(run.report.placed > 0);
    }

    #[test]
    fn the_horizon_offers_the_load_asked_for() {
        // 100 tasks of 1 000 milli-GPUs for 10 s on 1 GPU at load 0.5:
        // 1e6 milli-GPU-seconds over 500 milli-GPUs per second is 2 000 s,
        // and no duration is clipped.
        let drawn = vec![(GpuDemand::whole(1, 1, 1), 10); 100];
        let h = horizon(&drawn, 1_000, 0.5);
        assert!((h - 2_000.0).abs() < 1.0, "{h}");
    }
}
