//! The main job: four heterogeneous nodes run about 10 000 mixed AI tasks
//! doing real compute, while one node's actor panics partway through.
//!
//! Run it with:
//!
//! ```sh
//! cargo run --release --example quickstart
//! ```
//!
//! What to look for: the per-node table (the panicked node shows a restart,
//! slow nodes complete less), and the last line, where `lost` and
//! `duplicated` are computed by checking every task handle against the
//! ledger, not assumed. Set `RUST_LOG=allot=debug` to watch the runtime.

use allot::{Fault, NodeId, NodeSpec, Resources, Runtime, Task, TaskError, TaskHandle, TaskKind};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const TASKS: usize = 10_000;
const BATCH: usize = 500;

/// What a task gives back: its index and a number from the computation.
type Out = (usize, f64);

/// One logistic-regression gradient step on a synthetic batch; returns the loss.
fn gradient_step(seed: usize) -> f64 {
    let (n, d) = (256, 32);
    let mut w = vec![0.0f64; d];
    let x: Vec<f64> = (0..n * d)
        .map(|i| (((i + seed) * 31 % 97) as f64 / 97.0) - 0.5)
        .collect();
    let y: Vec<f64> = (0..n).map(|i| ((i + seed) % 2) as f64).collect();
    let mut loss = 0.0;
    for _ in 0..8 {
        let mut grad = vec![0.0; d];
        loss = 0.0;
        for r in 0..n {
            let z: f64 = (0..d).map(|c| x[r * d + c] * w[c]).sum();
            let p = 1.0 / (1.0 + (-z).exp());
            loss -= y[r] * p.max(1e-12).ln() + (1.0 - y[r]) * (1.0 - p).max(1e-12).ln();
            for c in 0..d {
                grad[c] += (p - y[r]) * x[r * d + c];
            }
        }
        for c in 0..d {
            w[c] -= 0.5 * grad[c] / n as f64;
        }
    }
    loss / n as f64
}

/// An inference batch: a 64×64 by 64×16 matrix product; returns a checksum.
fn matmul(seed: usize) -> f64 {
    let (m, k, n) = (64, 64, 16);
    let a: Vec<f64> = (0..m * k).map(|i| ((i * 7 + seed) % 11) as f64).collect();
    let b: Vec<f64> = (0..k * n).map(|i| ((i * 5 + seed) % 13) as f64).collect();
    let mut sum = 0.0;
    for r in 0..m {
        for c in 0..n {
            sum += (0..k).map(|j| a[r * k + j] * b[j * n + c]).sum::<f64>();
        }
    }
    sum
}

/// Preprocessing: standardise a vector of 16 384 samples; returns its variance.
fn standardise(seed: usize) -> f64 {
    let v: Vec<f64> = (0..16_384)
        .map(|i| ((i * 13 + seed) % 101) as f64)
        .collect();
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let z: Vec<f64> = v.iter().map(|x| (x - mean) / sd.max(1e-12)).collect();
    z.iter().map(|x| x * x).sum::<f64>() / z.len() as f64
}

/// Evaluation: accuracy of a fixed linear model on a synthetic batch.
fn evaluate(seed: usize) -> f64 {
    let (n, d) = (2_048, 8);
    let w: Vec<f64> = (0..d).map(|c| (c as f64 - 3.5) / 4.0).collect();
    let correct = (0..n)
        .filter(|&r| {
            let z: f64 = (0..d)
                .map(|c| w[c] * ((((r + seed) * (c + 3)) % 17) as f64 - 8.0))
                .sum();
            (z > 0.0) != (r + seed).is_multiple_of(3)
        })
        .count();
    correct as f64 / n as f64
}

fn make_task(i: usize) -> Task<Out> {
    match i % 10 {
        0..=2 => Task::new(move |_| Ok::<_, String>((i, gradient_step(i))))
            .kind(TaskKind::Training)
            .cost(0.0008)
            .demand(
                Resources::cpu(2_000)
                    .with_gpu_milli(500)
                    .with_memory_mib(2_048),
            )
            .priority(2),
        3..=6 => Task::new(move |_| Ok::<_, String>((i, matmul(i))))
            .kind(TaskKind::Inference)
            .cost(0.0002)
            .demand(Resources::cpu(1_000).with_memory_mib(512))
            .priority(5)
            .deadline(Duration::from_millis(200)),
        7..=8 => Task::new(move |_| Ok::<_, String>((i, standardise(i))))
            .kind(TaskKind::Preprocessing)
            .cost(0.0001)
            .demand(Resources::cpu(500).with_memory_mib(256)),
        _ => Task::new(move |_| Ok::<_, String>((i, evaluate(i))))
            .kind(TaskKind::Evaluation)
            .cost(0.0002)
            .demand(Resources::cpu(1_000).with_memory_mib(1_024)),
    }
}

/// The main job: four heterogeneous nodes run about 10 000 mixed AI tasks
/// doing real compute, while one node's actor panics partway through.
/// Set RUST_LOG=allot=debug to watch the runtime.
///
/// It takes no options: the program is the example.
#[derive(Debug, clap::Parser)]
#[command(name = "quickstart")]
struct Args {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    <Args as clap::Parser>::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "allot=warn".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    // The injected panic is expected: one line, not a backtrace (which
    // can take longer to print than the whole run).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if allot::is_injected_panic(info.payload()) {
            eprintln!("(expected) {info}");
        } else {
            default_hook(info);
        }
    }));

    let runtime = Runtime::builder()
        .nodes([
            NodeSpec::new(Resources::new(2_000, 8_192, 0, 1_000))
                .name("cpu-small")
                .speed(0.5),
            NodeSpec::new(Resources::new(8_000, 32_768, 0, 10_000))
                .name("cpu-large")
                .slots(2),
            NodeSpec::new(Resources::new(8_000, 65_536, 2_000, 10_000))
                .name("gpu-a")
                .slots(2),
            NodeSpec::new(Resources::new(8_000, 65_536, 1_000, 10_000))
                .name("gpu-b")
                .speed(0.8),
        ])
        .build()?;
    let handle = runtime.handle().clone();
    let panic_node = NodeId(2);

    let start = Instant::now();
    let mut handles: Vec<TaskHandle<Out>> = Vec::with_capacity(TASKS);
    for (b, chunk_start) in (0..TASKS).step_by(BATCH).enumerate() {
        let batch = (chunk_start..(chunk_start + BATCH).min(TASKS)).map(make_task);
        handles.extend(handle.submit_batch(batch)?);
        if b == 2 {
            println!(
                "injecting a panic into {} ({})",
                panic_node,
                handle.nodes()[panic_node.0].name
            );
            handle.inject(Fault::PanicNode { node: panic_node })?;
        }
    }

    // Collect every handle's outcome, each at most once per task index.
    let mut seen: HashMap<usize, u32> = HashMap::with_capacity(TASKS);
    let (mut completed, mut failed, mut cancelled, mut timed_out) = (0u64, 0u64, 0u64, 0u64);
    let mut checksum = 0.0;
    for mut h in handles {
        match h.wait_timeout(Duration::from_secs(60)) {
            Some(Ok((i, v))) => {
                *seen.entry(i).or_default() += 1;
                checksum += v;
                completed += 1;
            }
            Some(Err(TaskError::Cancelled(_))) => cancelled += 1,
            Some(Err(_)) => failed += 1,
            None => timed_out += 1,
        }
    }
    let elapsed = start.elapsed();
    let m = runtime.shutdown();

    println!();
    println!(
        "{:<10} {:>6} {:>6} {:>10} {:>7} {:>9} {:>7} {:>8} {:>6}",
        "node", "speed", "slots", "completed", "failed", "restarts", "mig-in", "mig-out", "stale"
    );
    let specs = handle.nodes();
    for (n, spec) in m.nodes.iter().zip(&specs) {
        println!(
            "{:<10} {:>6.2} {:>6} {:>10} {:>7} {:>9} {:>7} {:>8} {:>6}",
            n.name,
            n.speed,
            spec.slots,
            n.completed,
            n.failed,
            n.restarts,
            n.migrations_in,
            n.migrations_out,
            n.stale_results
        );
    }
    let t = &m.totals;
    println!();
    println!(
        "{} tasks in {:.2?} ({:.0} tasks/s); latency p50={}us p99={}us max={}us; retried={} checksum={:.3e}",
        t.submitted,
        elapsed,
        t.submitted as f64 / elapsed.as_secs_f64(),
        m.latency.p50_us,
        m.latency.p99_us,
        m.latency.max_us,
        t.retried,
        checksum
    );

    // lost: submitted tasks whose handle gave no outcome, plus any task the
    // ledger cannot account for. duplicated: task indexes delivered more than
    // once, plus terminal states the ledger counted beyond the submissions.
    let delivered = completed + failed + cancelled;
    let ledger_terminal = t.completed + t.failed + t.cancelled;
    let lost = t.submitted.saturating_sub(delivered) + t.unaccounted().unsigned_abs();
    let duplicated = seen.values().filter(|&&c| c > 1).count() as u64
        + ledger_terminal.saturating_sub(t.submitted)
        + delivered.saturating_sub(t.submitted);
    debug_assert_eq!(timed_out, t.submitted.saturating_sub(delivered));
    assert_eq!(
        t.completed, completed,
        "ledger and handles disagree on completions"
    );
    println!(
        "summary: submitted={} completed={} failed={} lost={} duplicated={} restarts={} migrations={}",
        t.submitted,
        completed,
        failed + cancelled,
        lost,
        duplicated,
        t.restarts,
        t.migrations
    );
    if lost != 0 || duplicated != 0 {
        std::process::exit(1);
    }
    Ok(())
}
