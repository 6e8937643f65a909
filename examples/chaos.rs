//! Fault injection: ~50 000 tasks on six nodes under a seeded plan of
//! crashes, actor panics, task panics, a hang, a slow node and a mailbox
//! flood, ending with the ledger's proof that nothing was lost or delivered
//! twice.
//!
//! ```sh
//! cargo run --release --example chaos                       # seed 1, 50 000 tasks
//! cargo run --release --example chaos -- --seed 7 --tasks 20000
//! cargo run --release --example chaos -- --sweep 100 --tasks 10000   # 100 seeds
//! cargo run --release --example chaos -- --only 4           # just the plan's 5th fault
//! ```
//!
//! The same seed gives the same faults at the same task counts. `lost` and
//! `duplicated` are computed by checking every task handle's outcome against
//! the ledger, not assumed.

use allot::{
    BalancerConfig, FaultPlan, FaultSpec, Metrics, NodeId, NodeSpec, Resources, Runtime,
    SupervisionConfig, Task, TaskError, TaskKind,
};
use clap::Parser;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Fault injection: tasks on six nodes under a seeded plan of crashes,
/// actor panics, task panics, a hang, a slow node and a mailbox flood, then
/// the ledger's proof that nothing was lost or delivered twice.
#[derive(Debug, Parser)]
#[command(name = "chaos")]
struct Args {
    /// Seed of the fault plan (the same seed gives the same faults at the
    /// same task counts).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Tasks to submit (at least 1).
    #[arg(long, default_value_t = 50_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    tasks: usize,
    /// Run this many seeds (from --seed on), one line each.
    #[arg(long, value_name = "SEEDS", value_parser = clap::value_parser!(u64).range(1..))]
    sweep: Option<u64>,
    /// Inject only the plan's fault at this index (0 for the first).
    #[arg(long, value_name = "FAULT_INDEX", value_parser = clap::builder::RangedU64ValueParser::<usize>::new())]
    only: Option<usize>,
}

/// The plan: every kind of fault, placed by task count so a seed replays.
fn plan(seed: u64, tasks: usize) -> FaultPlan {
    let per_node = (tasks / 6).max(10) as u64;
    FaultPlan::new(seed)
        .with(FaultSpec::CrashNode {
            node: NodeId(1),
            after_tasks: per_node / 3,
        })
        .with(FaultSpec::CrashProbability {
            node: None,
            p: 0.000_2,
        })
        .with(FaultSpec::PanicNode {
            node: NodeId(2),
            after_tasks: per_node / 2,
        })
        .with(FaultSpec::PanicTask { p: 0.002 })
        .with(FaultSpec::HangNode {
            node: NodeId(3),
            after_tasks: per_node / 4,
            duration: None,
        })
        .with(FaultSpec::SlowNode {
            node: NodeId(4),
            factor: 0.2,
            at: Duration::from_millis(100),
            recover_after: Some(Duration::from_millis(800)),
        })
        .with(FaultSpec::FloodMailbox {
            node: NodeId(0),
            after_tasks: per_node / 5,
            messages: 50_000,
        })
}

/// A small model step: a few matrix-vector products.
fn work(i: usize) -> f64 {
    let n = 24;
    let mut v: Vec<f64> = (0..n).map(|k| ((k + i) % 7) as f64).collect();
    for _ in 0..3 {
        let out: Vec<f64> = (0..n)
            .map(|r| {
                (0..n)
                    .map(|c| (((r * c + i) % 5) as f64) * v[c])
                    .sum::<f64>()
            })
            .collect();
        let norm = out.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
        v = out.into_iter().map(|x| x / norm).collect();
    }
    v[0]
}

struct Outcome {
    metrics: Metrics,
    completed: u64,
    failed: u64,
    cancelled: u64,
    lost: u64,
    duplicated: u64,
    elapsed: Duration,
    /// How long `shutdown` took once every handle had answered.
    shutdown: Duration,
}

fn run(
    seed: u64,
    tasks: usize,
    only: Option<usize>,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let runtime = Runtime::builder()
        .nodes((0..6).map(|i| {
            NodeSpec::new(Resources::new(
                8_000,
                32_768,
                if i % 2 == 0 { 1_000 } else { 0 },
                10_000,
            ))
            .name(format!("n{i}"))
            .speed(if i == 5 { 0.5 } else { 1.0 })
        }))
        .rng_seed(seed)
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_millis(200),
            max_restarts: 10,
            ..SupervisionConfig::default()
        })
        .balancer(BalancerConfig {
            interval: Duration::from_millis(10),
            ..BalancerConfig::default()
        })
        .fault_plan({
            let mut p = plan(seed, tasks);
            if let Some(k) = only {
                p.faults = vec![p.faults[k % p.faults.len()].clone()];
            }
            p
        })
        .build()?;
    let h = runtime.handle().clone();
    let start = Instant::now();
    let mut handles = Vec::with_capacity(tasks);
    for chunk in (0..tasks).collect::<Vec<_>>().chunks(1_000) {
        let batch = chunk.iter().map(|&i| {
            Task::new(move |_| Ok::<_, String>((i, work(i))))
                .kind(if i % 3 == 0 {
                    TaskKind::Training
                } else {
                    TaskKind::Inference
                })
                .cost(0.000_02)
                .retry_on_error(i % 2 == 0)
        });
        handles.extend(h.submit_batch(batch)?);
    }
    let mut delivered = vec![0u8; tasks];
    let (mut completed, mut failed, mut cancelled, mut timed_out) = (0u64, 0u64, 0u64, 0u64);
    for mut t in handles {
        match t.wait_timeout(Duration::from_secs(60)) {
            Some(Ok((i, _))) => {
                delivered[i] = delivered[i].saturating_add(1);
                completed += 1;
            }
            Some(Err(TaskError::Cancelled(_))) => cancelled += 1,
            Some(Err(_)) => failed += 1,
            None => timed_out += 1,
        }
    }
    let elapsed = start.elapsed();
    let stopping = Instant::now();
    let metrics = runtime.shutdown();
    let shutdown = stopping.elapsed();
    let t = &metrics.totals;
    let answered = completed + failed + cancelled;
    let lost = t.submitted.saturating_sub(answered).max(timed_out) + t.unaccounted().unsigned_abs();
    let duplicated = delivered.iter().filter(|&&d| d > 1).count() as u64
        + (t.completed + t.failed + t.cancelled).saturating_sub(t.submitted)
        + t.completed.abs_diff(completed)
        + t.failed.abs_diff(failed);
    Ok(Outcome {
        metrics,
        completed,
        failed,
        cancelled,
        lost,
        duplicated,
        elapsed,
        shutdown,
    })
}

fn ledger_line(o: &Outcome) -> String {
    format!(
        "ledger: submitted={} completed={} failed={} cancelled={} lost={} duplicated={}",
        o.metrics.totals.submitted, o.completed, o.failed, o.cancelled, o.lost, o.duplicated
    )
}

fn main() {
    let args = Args::parse();
    // Injected panics are expected here: count them instead of printing each.
    let injected = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&injected);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if allot::is_injected_panic(info.payload()) {
            seen.fetch_add(1, Ordering::Relaxed);
        } else {
            default_hook(info);
        }
    }));

    if let Some(seeds) = args.sweep {
        let mut sum = [0u64; 8];
        let (mut slowest_stop, mut abandoned) = (Duration::ZERO, 0usize);
        let start = Instant::now();
        for seed in args.seed..args.seed + seeds {
            let o = run(seed, args.tasks, args.only).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            let t = &o.metrics.totals;
            for (s, v) in sum.iter_mut().zip([
                t.submitted,
                o.completed,
                o.failed,
                o.cancelled,
                o.lost,
                o.duplicated,
                t.restarts,
                t.retried,
            ]) {
                *s += v;
            }
            slowest_stop = slowest_stop.max(o.shutdown);
            abandoned += o.metrics.abandoned.len();
            if o.lost != 0 || o.duplicated != 0 {
                println!("seed {seed}: {}", ledger_line(&o));
            }
        }
        // Every handle has answered before `shutdown`: it waits for nothing
        // but the threads it ends.
        println!(
            "shutdown: slowest={slowest_stop:.1?} (after every handle answered) abandoned_attempts={abandoned}"
        );
        println!(
            "sweep: seeds={} tasks_per_seed={} in {:.1?}: restarts={} retried={}",
            seeds,
            args.tasks,
            start.elapsed(),
            sum[6],
            sum[7]
        );
        println!(
            "ledger: submitted={} completed={} failed={} cancelled={} lost={} duplicated={}",
            sum[0], sum[1], sum[2], sum[3], sum[4], sum[5]
        );
        if sum[4] != 0 || sum[5] != 0 {
            std::process::exit(1);
        }
        return;
    }

    let o = run(args.seed, args.tasks, args.only).unwrap_or_else(|e| {
        eprintln!("chaos: {e}");
        std::process::exit(1);
    });
    let m = &o.metrics;
    println!(
        "seed {} · {} tasks · {:.2?}",
        args.seed, args.tasks, o.elapsed
    );
    println!(
        "{:<5} {:>9} {:>7} {:>9} {:>7} {:>8} {:>6} {:>8} {:>8}",
        "node",
        "completed",
        "failed",
        "restarts",
        "mig-in",
        "mig-out",
        "stale",
        "timeout",
        "retired"
    );
    for n in &m.nodes {
        println!(
            "{:<5} {:>9} {:>7} {:>9} {:>7} {:>8} {:>6} {:>8} {:>8}",
            n.name,
            n.completed,
            n.failed,
            n.restarts,
            n.migrations_in,
            n.migrations_out,
            n.stale_results,
            n.timed_out,
            n.retired
        );
    }
    println!(
        "restarts={} retried={} migrations={} injected_task_panics={} health={}",
        m.totals.restarts,
        m.totals.retried,
        m.totals.migrations,
        injected.load(Ordering::Relaxed),
        m.health
    );
    println!("{}", ledger_line(&o));
    println!(
        "shutdown took {:.1?}; abandoned attempts: {}",
        o.shutdown,
        m.abandoned.len()
    );
    if o.lost != 0 || o.duplicated != 0 {
        std::process::exit(1);
    }
}
