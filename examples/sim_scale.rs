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
//! How the workload is made (seeded, `--seed`, default 42):
//!
//! - **Nodes**: the trace's GPU nodes sorted by name, repeated until there
//!   are N (the k-th copy of `openb-node-0227` is `openb-node-0227-k`), then
//!   shuffled with the seed (the replay's tie-break order).
//! - **Tasks**: T pods drawn uniformly with replacement from the trace's
//!   pods that have valid times; each keeps its shape and its duration
//!   (`deletion_time − scheduled_time`, at least 1 s). Arrivals are evenly
//!   spaced so that the offered GPU load (GPU demand × duration per second)
//!   is `--load` (default 0.9) of the cluster's GPU capacity: the cluster
//!   is busy but not flooded, whatever N and T are.
//! - The replay drains (runs until every task has left); the queue is
//!   first-in-first-out (`--queue fifo`) or backfilled (`--queue backfill`).
//!
//! It prints one line per run:
//!
//! `scale: tasks=… nodes=… policy=… queue=… seconds=… events_per_s=… gpu_alloc_pct=… mean_wait_s=…`
//!
//! where the events are arrivals plus departures, and the GPU allocation is
//! time-averaged over the replay. What to look for: how `seconds` grows
//! with `tasks` and with `nodes` (every placement scores every node).

use allot::policy::{BestFit, Fgd, FragmentationAware, GpuDemand, GpuNode, GpuPlacement};
use allot::sim::openb::Trace;
use allot::sim::replay::{parse_pod_times, QueueOrder, Replay, ReplayPod};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::time::Instant;

struct Args {
    tasks: Vec<usize>,
    nodes: Vec<usize>,
    policies: Vec<String>,
    queue: QueueOrder,
    load: f64,
    seed: u64,
    data: PathBuf,
}

fn list<T: std::str::FromStr>(s: &str, what: &str) -> Result<Vec<T>, String> {
    s.split(',')
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("{what}: `{x}` is not a number"))
        })
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        tasks: vec![10_000],
        nodes: vec![1_213],
        policies: vec!["fgd".into(), "fragmentation-aware".into()],
        queue: QueueOrder::Fifo,
        load: 0.9,
        seed: 42,
        data: PathBuf::from("data/openb"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().ok_or_else(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--tasks" => a.tasks = list(&v, "--tasks")?,
            "--nodes" => a.nodes = list(&v, "--nodes")?,
            "--policy" => a.policies = v.split(',').map(String::from).collect(),
            "--queue" => {
                a.queue = match v.as_str() {
                    "fifo" => QueueOrder::Fifo,
                    "backfill" => QueueOrder::Backfill,
                    _ => return Err(format!("--queue: `{v}` is not fifo or backfill")),
                }
            }
            "--load" => a.load = v.parse().map_err(|_| format!("--load: `{v}`"))?,
            "--seed" => a.seed = v.parse().map_err(|_| format!("--seed: `{v}`"))?,
            "--data" => a.data = PathBuf::from(v),
            _ => return Err(format!("unknown option {k}")),
        }
    }
    Ok(a)
}

/// The trace's pods with valid times, as (shape, duration).
fn pod_pool(a: &Args) -> Result<(Trace, Vec<(GpuDemand, u64)>), String> {
    let pods_path = a.data.join("openb_pod_list_default.csv");
    let trace = Trace::load(a.data.join("openb_node_list_all_node.csv"), &pods_path)
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&pods_path).map_err(|e| e.to_string())?;
    let times =
        parse_pod_times(&pods_path.display().to_string(), &text).map_err(|e| e.to_string())?;
    let pool = trace
        .pods
        .iter()
        .zip(&times)
        .filter_map(|(p, t)| t.as_ref().ok().map(|t| (p.demand, t.duration())))
        .collect();
    Ok((trace, pool))
}

/// N nodes from the trace's GPU nodes, repeated, shuffled with the seed.
fn nodes(trace: &Trace, n: usize, rng: &mut StdRng) -> Vec<GpuNode> {
    let mut base: Vec<_> = trace.nodes.iter().filter(|n| n.gpus > 0).collect();
    base.sort_by(|a, b| a.name.cmp(&b.name));
    let mut out: Vec<GpuNode> = base
        .iter()
        .cycle()
        .take(n)
        .map(|t| t.to_gpu_node().with_max_tasks(1001))
        .collect();
    out.shuffle(rng);
    out
}

/// T tasks drawn from the pool, arrivals spaced for the offered load.
fn tasks(
    pool: &[(GpuDemand, u64)],
    t: usize,
    capacity_milli: u64,
    load: f64,
    rng: &mut StdRng,
) -> Vec<ReplayPod> {
    let drawn: Vec<(GpuDemand, u64)> = (0..t)
        .map(|_| pool[rng.random_range(0..pool.len())])
        .collect();
    // GPU-seconds offered per task, on average; spacing so that
    // (work per task / spacing) = load × capacity.
    let work: f64 = drawn
        .iter()
        .map(|(d, s)| d.total_gpu_milli() as f64 * *s as f64)
        .sum::<f64>()
        / t.max(1) as f64;
    let spacing = work / (load * capacity_milli as f64);
    drawn
        .into_iter()
        .enumerate()
        .map(|(k, (d, s))| ReplayPod::new(format!("t{k}"), d, (k as f64 * spacing) as u64, s))
        .collect()
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
    let a = parse_args()?;
    let (trace, pool) = pod_pool(&a)?;
    for &n in &a.nodes {
        for &t in &a.tasks {
            let mut rng = StdRng::seed_from_u64(a.seed);
            let ns = nodes(&trace, n, &mut rng);
            let capacity: u64 = ns.iter().map(GpuNode::gpu_capacity_total).sum();
            let ps = tasks(&pool, t, capacity, a.load, &mut rng);
            let workload: Vec<GpuDemand> = ps.iter().map(|p| p.demand).collect();
            let mut replay = Replay::new(ns, ps);
            replay.queue = a.queue;
            for name in &a.policies {
                let mut p = policy(name, &workload)?;
                let started = Instant::now();
                let r = replay.run(p.as_mut()).map_err(|e| e.to_string())?;
                let secs = started.elapsed().as_secs_f64();
                let events = r.report.placed + r.report.finished + r.report.pods;
                println!(
                    "scale: tasks={t} nodes={n} policy={name} queue={} seconds={secs:.2} events_per_s={:.0} gpu_alloc_pct={:.2} mean_wait_s={:.1}",
                    a.queue.name(),
                    events as f64 / secs,
                    100.0 * r.report.gpu_allocation,
                    r.report.waiting_s.mean
                );
            }
        }
    }
    Ok(())
}
