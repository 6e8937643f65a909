//! Two heterogeneous shapes from Ray's issue tracker, on the real runtime.

use crate::args::Args;
use crate::report::{note, Goal};
use allot::policy::PolicyKind;
use allot::{NodeSpec, Resources, Runtime, Task};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Runs `tasks` tasks of `ms` milliseconds on the real runtime; returns
/// the wall time and the tasks per node.
fn run_real(
    nodes: Vec<NodeSpec>,
    policy: PolicyKind,
    tasks: usize,
    ms: u64,
    batch: bool,
) -> Result<(Duration, Vec<usize>), String> {
    let runtime = Runtime::builder()
        .nodes(nodes.clone())
        .policy(policy)
        .build()
        .map_err(|e| e.to_string())?;
    let handle = runtime.handle();
    let make = || {
        Task::new(move |ctx| {
            std::thread::sleep(Duration::from_millis(ms)); // stands for 10 ms of work
            Ok::<_, std::io::Error>(ctx.node())
        })
        .cost(ms as f64 / 1000.0)
        .demand(Resources::cpu(1_000))
    };
    let start = Instant::now();
    let handles = if batch {
        handle
            .submit_batch((0..tasks).map(|_| make()))
            .map_err(|e| e.to_string())?
    } else {
        let mut v = Vec::with_capacity(tasks);
        for _ in 0..tasks {
            v.push(handle.submit(make()).map_err(|e| e.to_string())?);
        }
        v
    };
    let mut per_node = vec![0usize; nodes.len()];
    for h in handles {
        let node = h.wait().map_err(|e| e.to_string())?;
        per_node[node.0] += 1;
    }
    let elapsed = start.elapsed();
    runtime.shutdown();
    Ok((elapsed, per_node))
}

pub(crate) fn hetero_section(
    args: &Args,
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
) -> Result<(), String> {
    // Ray #800: a 16-CPU and a 1-CPU node, 1000 tasks of 10 ms.
    let ray800 = vec![
        NodeSpec::new(Resources::cpu(16_000)).name("big").slots(16),
        NodeSpec::new(Resources::cpu(1_000)).name("small").slots(1),
    ];
    let ideal = Duration::from_millis(10 * 1000_u64.div_ceil(17));
    let mut rows = Vec::new();
    let policies: &[PolicyKind] = if args.quick {
        &[PolicyKind::LeastLoaded]
    } else {
        &[
            PolicyKind::LeastLoaded,
            PolicyKind::Lpt,
            PolicyKind::PowerOfTwo,
            PolicyKind::RoundRobin,
        ]
    };
    let mut jr = serde_json::Map::new();
    for &p in policies {
        let (t, per) = run_real(ray800.clone(), p, 1000, 10, true)?;
        let ratio = t.as_secs_f64() / ideal.as_secs_f64();
        rows.push(format!(
            "| {p} | {:.0} ms | {ratio:.3}× | {} / {} |",
            t.as_secs_f64() * 1e3,
            per[0],
            per[1]
        ));
        jr.insert(
            p.name().into(),
            json!({"seconds": t.as_secs_f64(), "ratio_to_ideal": ratio, "tasks_per_node": per}),
        );
        if p == PolicyKind::LeastLoaded {
            goals.push(Goal::new(
                "Ray #800 shape (16-CPU + 1-CPU node, 1000 × 10 ms): time / ideal ≤ 1.1 (Ray: 8.5×)",
                format!("{ratio:.3}× with least-loaded (ideal {} ms)", ideal.as_millis()),
                ratio <= 1.1,
            ));
        }
        note(&format!("ray800 {p}: {ratio:.3}x"));
    }
    let _ = writeln!(
        md,
        "Ray #800 shape: a 16-CPU node (16 slots) and a 1-CPU node (1 slot), 1000 tasks of 10 ms \
        submitted as one batch on the real runtime; ideal = ⌈1000/17⌉ × 10 ms = {} ms.\n",
        ideal.as_millis()
    );
    let _ = writeln!(
        md,
        "| policy | wall time | relative to ideal | tasks on big / small node |"
    );
    let _ = writeln!(md, "|---|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(md, "{r}");
    }
    // Ray #31730: 4 nodes × 2 slots.
    let four = vec![NodeSpec::new(Resources::cpu(2_000)).slots(2); 4];
    let _ = writeln!(md, "\nRay #31730 shape: 4 nodes × 2 slots, tasks of 50 ms, least-loaded; max/min tasks per node.\n");
    let _ = writeln!(md, "| tasks | submitted | tasks per node | max / min |");
    let _ = writeln!(md, "|---:|---|---|---:|");
    let mut worst: f64 = 1.0;
    let mut j31 = Vec::new();
    for (n, batch) in [(8, true), (8, false), (80, true), (80, false)] {
        let (_, per) = run_real(four.clone(), PolicyKind::LeastLoaded, n, 50, batch)?;
        let (mx, mn) = (
            *per.iter().max().unwrap_or(&0),
            *per.iter().min().unwrap_or(&0),
        );
        let ratio = if mn == 0 {
            f64::INFINITY
        } else {
            mx as f64 / mn as f64
        };
        worst = worst.max(ratio);
        let _ = writeln!(
            md,
            "| {n} | {} | {:?} | {ratio:.2} |",
            if batch { "one batch" } else { "one by one" },
            per
        );
        j31.push(json!({"tasks": n, "batch": batch, "per_node": per, "max_over_min": ratio}));
    }
    goals.push(Goal::new(
        "Ray #31730 shape (4 nodes × 2 slots): max/min tasks per node ≤ 1.1",
        format!("worst {worst:.2} over 4 runs"),
        worst <= 1.1,
    ));
    js["heterogeneous"] =
        json!({"ray800": jr, "ray800_ideal_ms": ideal.as_millis() as u64, "ray31730": j31});
    Ok(())
}
