//! The three OTP restart strategies side by side on the same fault: node 1's
//! actor panics while every node has work running and queued.
//!
//! ```sh
//! cargo run --release --example supervision
//! ```
//!
//! What to look for: `OneForOne` restarts node 1 alone; `OneForAll` restarts
//! all four, so every node's running task loses an attempt (more retries);
//! `RestForOne` restarts node 1 and the nodes started after it (2 and 3).
//! In all three, nothing is lost.

use allot::{
    BalancerConfig, Fault, NodeId, NodeSpec, Resources, RestartStrategy, Runtime,
    SupervisionConfig, Task,
};
use std::time::{Duration, Instant};

const NODES: usize = 4;
const TASKS_PER_NODE: usize = 400;

/// About half a millisecond of real compute.
fn work(i: usize) -> f64 {
    let mut x = i as f64;
    for k in 0..20_000 {
        x = (x * 1.000_001 + k as f64).sqrt();
    }
    x
}

fn run(strategy: RestartStrategy) -> Result<String, Box<dyn std::error::Error>> {
    let runtime = Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)); NODES])
        .supervision(SupervisionConfig {
            strategy,
            backoff_min: Duration::from_millis(5),
            ..SupervisionConfig::default()
        })
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        })
        .build()?;
    let h = runtime.handle();
    let start = Instant::now();
    let mut handles = Vec::new();
    for node in 0..NODES {
        let batch =
            (0..TASKS_PER_NODE).map(|i| Task::new(move |_| Ok::<_, String>(work(i))).cost(0.000_5));
        handles.extend(h.submit_batch_to(NodeId(node), batch)?);
    }
    // Let every node get going, then fail node 1.
    while h.metrics().totals.completed < (NODES * TASKS_PER_NODE / 4) as u64 {
        std::thread::yield_now();
    }
    h.inject(Fault::PanicNode { node: NodeId(1) })?;
    let mut ok = 0;
    for t in handles {
        if t.wait().is_ok() {
            ok += 1;
        }
    }
    let elapsed = start.elapsed();
    // Restarts wait out a short backoff; let them land before reading.
    let expected = match strategy {
        RestartStrategy::OneForOne => 1,
        RestartStrategy::OneForAll => NODES as u64,
        _ => (NODES - 1) as u64,
    };
    while h.metrics().totals.restarts < expected {
        std::thread::yield_now();
    }
    let m = runtime.shutdown();
    let restarts: Vec<String> = m.nodes.iter().map(|n| n.restarts.to_string()).collect();
    Ok(format!(
        "{:<12} {:>16} {:>8} {:>10} {:>6} {:>9.0?}",
        format!("{strategy:?}"),
        restarts.join(" "),
        m.totals.retried,
        ok,
        m.totals.submitted - ok,
        elapsed
    ))
}

/// The three OTP restart strategies side by side on the same fault: node
/// 1's actor panics while every node has work running and queued.
///
/// It takes no options: the program is the example.
#[derive(Debug, clap::Parser)]
#[command(name = "supervision")]
struct Args {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    <Args as clap::Parser>::parse();
    // The injected actor panic is expected; keep its report short.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if allot::is_injected_panic(info.payload()) {
            eprintln!("(expected) {info}");
        } else {
            default_hook(info);
        }
    }));
    println!(
        "{:<12} {:>16} {:>8} {:>10} {:>6} {:>9}",
        "strategy", "restarts/node", "retried", "completed", "lost", "time"
    );
    for strategy in [
        RestartStrategy::OneForOne,
        RestartStrategy::OneForAll,
        RestartStrategy::RestForOne,
    ] {
        println!("{}", run(strategy)?);
    }
    Ok(())
}
