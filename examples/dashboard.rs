//! The live dashboard on a chaos workload: six nodes (two with GPUs)
//! under seeded crashes and task panics, waves of tasks for a minute, and
//! the dashboard open the whole time.
//!
//! ```sh
//! cargo run --release --features dashboard --example dashboard                     # 127.0.0.1:8080, 60 s
//! cargo run --release --features dashboard --example dashboard -- 127.0.0.1:9000 300
//! ```
//!
//! Open the printed address in a browser. Look for: the overview's counts
//! and rates moving every second; a node going down and back on the Nodes
//! page and in Events; the tasks page paging through tens of thousands of
//! tasks; the GPU task that waits while both GPU nodes are down, whose
//! page says why. `curl ADDR/metrics` shows the same in Prometheus text.
//! Cancelling from the page needs the token the example prints.

use allot::{
    FaultPlan, FaultSpec, NodeId, NodeSpec, Resources, Runtime, SupervisionConfig, Task, TaskKind,
};
use std::time::{Duration, Instant};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,allot=info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()?;
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);
    let token = format!("{:016x}", rand_token());
    let mut nodes = vec![NodeSpec::new(Resources::cpu(8_000)).slots(2); 4];
    nodes.extend(vec![
        NodeSpec::new(
            Resources::cpu(8_000).with_gpu_milli(2_000)
        )
        .slots(2);
        2
    ]);
    for (i, n) in nodes.iter_mut().enumerate() {
        n.name = if i < 4 {
            format!("cpu-{i}")
        } else {
            format!("gpu-{}", i - 4)
        };
    }
    let runtime = Runtime::builder()
        .nodes(nodes)
        .supervision(SupervisionConfig {
            backoff_min: Duration::from_secs(2),
            backoff_max: Duration::from_secs(5),
            max_restarts: 100,
            restart_period: Duration::from_secs(10),
            ..SupervisionConfig::default()
        })
        .fault_plan(
            FaultPlan::new(7)
                .with(FaultSpec::CrashNode {
                    node: NodeId(1),
                    after_tasks: 5_000,
                })
                .with(FaultSpec::CrashNode {
                    node: NodeId(4),
                    after_tasks: 300,
                })
                .with(FaultSpec::CrashNode {
                    node: NodeId(5),
                    after_tasks: 300,
                })
                .with(FaultSpec::PanicTask { p: 0.002 }),
        )
        .retain_finished(200_000)
        .dashboard(addr)
        .dashboard_token(token.clone())
        .build()?;
    let h = runtime.handle();
    let url = h.dashboard_addr().expect("the dashboard serves");
    println!("dashboard: http://{url}/  (token for cancelling: {token})");
    let start = Instant::now();
    let mut wave = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        let tasks = (0..2_000u64).map(move |i| {
            let kind = match i % 3 {
                0 => TaskKind::Training,
                1 => TaskKind::Inference,
                _ => TaskKind::Preprocessing,
            };
            Task::new(move |_| {
                std::thread::sleep(Duration::from_micros(200 + (i % 7) * 100));
                Ok::<_, String>(i)
            })
            .kind(kind)
            .cost(0.001)
        });
        h.submit_batch_detached(tasks)?;
        if wave.is_multiple_of(5) {
            // A GPU task: it waits whenever both GPU nodes are down.
            h.submit_batch_detached([Task::new(|_| Ok::<_, String>(0u64))
                .kind(TaskKind::Training)
                .demand(Resources::cpu(1_000).with_gpu_milli(1_500))])?;
        }
        wave += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    let m = runtime.shutdown();
    println!(
        "done: submitted {} completed {} failed {} restarts {}",
        m.totals.submitted, m.totals.completed, m.totals.failed, m.totals.restarts
    );
    Ok(())
}

/// A token that differs from run to run (no cryptographic strength: the
/// dashboard is on loopback).
fn rand_token() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (std::process::id() as u64).rotate_left(32)
}
