//! The replay at cluster scale: the node index changes no decision, the
//! scaled workload generator is deterministic, and a scaled-down scale run
//! finishes and loads the cluster.
//!
//! The indexed search ([`GpuPlacement::choose_indexed`], what the replay
//! calls) is compared with the plain scan ([`GpuPlacement::choose`] on the
//! node list) by replaying the same pods through both and comparing every
//! pod's outcome: node, start and finish.

use allot::policy::{Fgd, FragmentationAware, GpuChoice, GpuDemand, GpuNode, GpuPlacement};
use allot::sim::openb::Trace;
use allot::sim::replay::{parse_pod_times, PodTimes, QueueOrder, Replay, ReplayConfig, SkipReason};
use allot::sim::scale::{scaled_replay, ScaleConfig};
use std::path::PathBuf;

fn path(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(p)
}

const NODES: &str = "data/openb/openb_node_list_all_node.csv";
const PODS: &str = "data/openb/openb_pod_list_default.csv";

/// A policy with the index hidden: the replay's `choose_indexed` falls
/// back to the plain `choose` on every node.
#[derive(Debug)]
struct Plain<P>(P);

impl<P: GpuPlacement> GpuPlacement for Plain<P> {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        self.0.choose(d, nodes)
    }
}

fn policies(workload: &[GpuDemand]) -> Vec<Box<dyn GpuPlacement>> {
    vec![
        Box::new(Fgd::from_workload(workload, Fgd::DEFAULT_TYPICAL_COVERAGE)),
        Box::new(FragmentationAware::new().with_prior(workload)),
        Box::new(FragmentationAware::new()),
    ]
}

fn plain(workload: &[GpuDemand]) -> Vec<Box<dyn GpuPlacement>> {
    vec![
        Box::new(Plain(Fgd::from_workload(
            workload,
            Fgd::DEFAULT_TYPICAL_COVERAGE,
        ))),
        Box::new(Plain(FragmentationAware::new().with_prior(workload))),
        Box::new(Plain(FragmentationAware::new())),
    ]
}

/// Replays `replay` through each policy indexed and plain; every pod must
/// end the same way. Returns the pods placed by each.
fn same_outcomes(replay: &Replay) -> Vec<usize> {
    let workload: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
    let mut placed = Vec::new();
    for (mut fast, mut slow) in policies(&workload).into_iter().zip(plain(&workload)) {
        let a = replay.run(fast.as_mut()).unwrap();
        let b = replay.run(slow.as_mut()).unwrap();
        let differ = a.outcomes.iter().zip(&b.outcomes).position(|(x, y)| x != y);
        assert_eq!(differ, None, "{}: first pod that differs", fast.name());
        assert_eq!(a.report, b.report, "{}", fast.name());
        placed.push(a.report.placed);
    }
    placed
}

fn openb() -> (Trace, Vec<Result<PodTimes, SkipReason>>) {
    let trace = Trace::load(path(NODES), path(PODS)).unwrap();
    let text = std::fs::read_to_string(path(PODS)).unwrap();
    let times = parse_pod_times(PODS, &text).unwrap();
    (trace, times)
}

#[test]
fn the_indexed_search_decides_as_the_plain_one_on_the_openb_trace() {
    // The first 1 200 pods of the trace, arriving 20 times faster than
    // recorded.
    let config = ReplayConfig {
        limit: Some(1_200),
        arrival_speedup: 20.0,
        ..ReplayConfig::default()
    };
    let replay = Replay::load(path(NODES), path(PODS), &config).unwrap();
    let placed = same_outcomes(&replay);
    assert!(placed.iter().all(|&p| p > 600), "{placed:?}");
}

#[test]
fn the_indexed_search_decides_as_the_plain_one_on_a_loaded_scaled_cluster() {
    // More pods than the nodes hold at once: the queue fills, departures
    // retry it, and node states repeat and diverge.
    let (trace, times) = openb();
    for queue in [QueueOrder::Fifo, QueueOrder::Backfill] {
        let config = ScaleConfig {
            tasks: 2_000,
            nodes: 100,
            load: 1.1,
            queue,
            ..ScaleConfig::default()
        };
        let replay = scaled_replay(&trace, &times, &config).unwrap();
        let placed = same_outcomes(&replay);
        assert!(placed.iter().all(|&p| p > 800), "{queue:?}: {placed:?}");
    }
}

#[test]
fn the_scaled_workload_is_the_same_for_a_seed_and_differs_across_seeds() {
    let (trace, times) = openb();
    let config = ScaleConfig {
        tasks: 5_000,
        nodes: 3_000,
        ..ScaleConfig::default()
    };
    let a = scaled_replay(&trace, &times, &config).unwrap();
    let b = scaled_replay(&trace, &times, &config).unwrap();
    assert_eq!(a.pods, b.pods);
    assert_eq!(a.nodes, b.nodes);
    assert_eq!(a.node_names, b.node_names);
    assert_eq!(a.trace_end, b.trace_end);
    // 3 000 nodes: the 1 213 GPU nodes of the trace, then copies.
    assert_eq!(a.nodes.len(), 3_000);
    assert!(a.node_names.iter().any(|n| n.ends_with("-2")));
    let c = scaled_replay(&trace, &times, &ScaleConfig { seed: 7, ..config }).unwrap();
    assert_ne!(a.pods, c.pods);
    assert_ne!(a.node_names, c.node_names);
}

#[test]
fn a_scaled_down_scale_run_loads_the_cluster_and_places_every_kind_of_pod() {
    // The 1 000 000-task run on 10 000 nodes is the sim_scale example's;
    // here 10 000 tasks on 500 nodes, twice the tasks per node.
    let (trace, times) = openb();
    let config = ScaleConfig {
        tasks: 10_000,
        nodes: 500,
        ..ScaleConfig::default()
    };
    let replay = scaled_replay(&trace, &times, &config).unwrap();
    let workload: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
    let mut fgd = Fgd::from_workload(&workload, Fgd::DEFAULT_TYPICAL_COVERAGE);
    let run = replay.run(&mut fgd).unwrap();
    let r = &run.report;
    assert!(r.placed > 7_500, "{}", r.placed);
    assert!(r.gpu_allocation > 0.5, "{}", r.gpu_allocation);
    assert_eq!(r.placed + r.waiting + r.unplaceable + r.skipped, r.pods);
    // Multi-GPU pods were placed too, not only the small ones.
    let big_placed = run
        .outcomes
        .iter()
        .zip(&replay.pods)
        .filter(|(o, p)| {
            p.demand.gpus >= 4 && !matches!(o, allot::sim::replay::PodOutcome::Waiting)
        })
        .count();
    assert!(big_placed > 0);
}
