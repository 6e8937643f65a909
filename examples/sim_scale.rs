//! How the trace replay scales: a cluster of N nodes and T tasks generated
//! from the openb trace, replayed through one placement policy, timed.
//!
//! Run it in release:
//!
//! ```sh
//! cargo run --release --example sim_scale -- --tasks 100000 --nodes 10000 --policy fgd
//! cargo run --release --example sim_scale -- --tasks 10000,20000 --nodes 1000,2000 \
//!     --policy fgd,fragmentation-aware,best-fit
//! ```
//!
//! The cluster and the tasks are generated from the openb trace by
//! `allot::sim::scale::scaled_replay` (seeded, `--seed`, default 42): the
//! trace's GPU nodes repeated to N, T pods resampled with their durations,
//! arrivals spread so that the offered GPU load is `--load` (default 0.9).
//! The queue is first-in-first-out (`--queue fifo`) or backfilled
//! (`--queue backfill`).
//!
//! It prints one line per run:
//!
//! `scale: tasks=… nodes=… policy=… seconds=… events_per_s=… gpu_alloc_pct=… queue=… mean_wait_s=… p99_wait_s=…`
//!
//! where the events are arrivals, placements and departures, and the GPU
//! allocation is time-averaged over the replay. What to look for: how
//! `seconds` grows with `tasks` and with `nodes`. The replay indexes the
//! nodes by state (`allot::policy::GpuCluster`), so a placement scores each
//! distinct node state that fits once, not every node; `--plain` hides the
//! index from the policy to compare (same choices, every node scored).

use allot::policy::{
    BestFit, Fgd, FragmentationAware, GpuChoice, GpuDemand, GpuNode, GpuPlacement,
};
use allot::sim::openb::Trace;
use allot::sim::replay::{parse_pod_times, PodTimes, QueueOrder, SkipReason};
use allot::sim::scale::{scaled_replay, ScaleConfig};
use std::path::PathBuf;
use std::time::Instant;

/// The trace replay on N nodes and T tasks generated from the openb trace.
#[derive(Debug, clap::Parser)]
#[command(name = "sim_scale")]
struct Args {
    /// Task counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10000")]
    tasks: Vec<usize>,
    /// Node counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1213")]
    nodes: Vec<usize>,
    /// Policies, comma-separated: `fgd`, `fragmentation-aware`, `best-fit`.
    #[arg(
        long = "policy",
        value_delimiter = ',',
        default_value = "fgd,fragmentation-aware"
    )]
    policies: Vec<String>,
    /// Queue discipline: `fifo`, `backfill` (with a reservation for the
    /// head) or `greedy-backfill`.
    #[arg(long, default_value = "fifo", value_parser = parse_queue)]
    queue: QueueOrder,
    /// Offered GPU load, as a fraction of capacity.
    #[arg(long, default_value_t = 0.9)]
    load: f64,
    /// Seed of the node order and the draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The directory with the openb node and pod lists.
    #[arg(long, value_name = "DIR", default_value = "data/openb")]
    data: PathBuf,
    /// Hide the node index from the policy: every placement scans every
    /// node (the same choices, slower).
    #[arg(long)]
    plain: bool,
}

/// A policy with the node index hidden: the replay's `choose_indexed`
/// falls back to the plain `choose`.
#[derive(Debug)]
struct Plain(Box<dyn GpuPlacement>);

impl GpuPlacement for Plain {
    fn name(&self) -> &'static str {
        self.0.name()
    }

    fn choose(&mut self, d: &GpuDemand, nodes: &[GpuNode]) -> Option<GpuChoice> {
        self.0.choose(d, nodes)
    }
}

fn parse_queue(s: &str) -> Result<QueueOrder, String> {
    match s {
        "fifo" => Ok(QueueOrder::Fifo),
        "backfill" => Ok(QueueOrder::Backfill),
        "greedy-backfill" => Ok(QueueOrder::GreedyBackfill),
        _ => Err(format!("`{s}` is not fifo, backfill or greedy-backfill")),
    }
}

/// The openb trace and its pods' times.
fn load_trace(a: &Args) -> Result<(Trace, Vec<Result<PodTimes, SkipReason>>), String> {
    let pods_path = a.data.join("openb_pod_list_default.csv");
    let trace = Trace::load(a.data.join("openb_node_list_all_node.csv"), &pods_path)
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&pods_path).map_err(|e| e.to_string())?;
    let times =
        parse_pod_times(&pods_path.display().to_string(), &text).map_err(|e| e.to_string())?;
    Ok((trace, times))
}

fn policy(name: &str, workload: &[GpuDemand]) -> Result<Box<dyn GpuPlacement>, String> {
    Ok(match name {
        "fgd" => Box::new(Fgd::from_workload(workload, Fgd::DEFAULT_TYPICAL_COVERAGE)),
        "fragmentation-aware" => Box::new(FragmentationAware::new().with_prior(workload)),
        "best-fit" => Box::new(BestFit::new()),
        _ => return Err(format!("unknown policy `{name}`")),
    })
}

fn main() {
    if let Err(e) = run() {
        eprintln!("sim_scale: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let a = <Args as clap::Parser>::parse();
    let (trace, times) = load_trace(&a)?;
    for &n in &a.nodes {
        for &t in &a.tasks {
            let config = ScaleConfig {
                tasks: t,
                nodes: n,
                load: a.load,
                seed: a.seed,
                queue: a.queue,
                ..ScaleConfig::default()
            };
            let replay = scaled_replay(&trace, &times, &config)
                .ok_or("the trace has no GPU node or no pod with times")?;
            let workload: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
            for name in &a.policies {
                let mut p = policy(name, &workload)?;
                if a.plain {
                    p = Box::new(Plain(p));
                }
                let started = Instant::now();
                let r = replay.run(p.as_mut()).map_err(|e| e.to_string())?;
                let secs = started.elapsed().as_secs_f64();
                let events = r.report.placed + r.report.finished + r.report.pods;
                println!(
                    "scale: tasks={t} nodes={n} policy={name} seconds={secs:.2} events_per_s={:.0} gpu_alloc_pct={:.2} queue={} mean_wait_s={:.1} p99_wait_s={:.0}",
                    events as f64 / secs,
                    100.0 * r.report.gpu_allocation,
                    a.queue.name(),
                    r.report.waiting_s.mean,
                    r.report.waiting_s.p99
                );
            }
        }
    }
    Ok(())
}
