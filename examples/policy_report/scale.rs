//! The replay at cluster scale: how its time grows with nodes and tasks,
//! on clusters and workloads generated from the openb trace.

use crate::args::Args;
use crate::report::{note, Goal};
use allot::policy::{BestFit, Fgd, FragmentationAware, GpuDemand, GpuPlacement};
use allot::sim::openb::Trace;
use allot::sim::replay::{parse_pod_times, QueueOrder, ReplayReport};
use allot::sim::scale::{scaled_replay, ScaleConfig};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Instant;

struct Measured {
    nodes: usize,
    tasks: usize,
    policy: &'static str,
    seconds: f64,
    events: usize,
    report: ReplayReport,
}

fn policy(name: &str, workload: &[GpuDemand]) -> Box<dyn GpuPlacement> {
    match name {
        "fgd" => Box::new(Fgd::from_workload(workload, Fgd::DEFAULT_TYPICAL_COVERAGE)),
        "fragmentation-aware" => Box::new(FragmentationAware::new().with_prior(workload)),
        _ => Box::new(BestFit::new()),
    }
}

fn measure(
    trace: &Trace,
    times: &[Result<allot::sim::replay::PodTimes, allot::sim::replay::SkipReason>],
    config: &ScaleConfig,
    name: &'static str,
) -> Result<Measured, String> {
    let replay = scaled_replay(trace, times, config).ok_or("no GPU node or no timed pod")?;
    let workload: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
    let mut p = policy(name, &workload);
    let t = Instant::now();
    let run = replay.run(p.as_mut()).map_err(|e| e.to_string())?;
    let seconds = t.elapsed().as_secs_f64();
    let m = Measured {
        nodes: config.nodes,
        tasks: config.tasks,
        policy: name,
        seconds,
        events: run.report.placed + run.report.finished + run.report.pods,
        report: run.report,
    };
    note(&format!(
        "scale: tasks={} nodes={} policy={name} queue={} seconds={seconds:.2} events_per_s={:.0} gpu_alloc_pct={:.2}",
        m.tasks,
        m.nodes,
        config.queue.name(),
        m.events as f64 / seconds,
        100.0 * m.report.gpu_allocation
    ));
    Ok(m)
}

/// Nodes of the queue comparison: few, so that its tasks load them.
const QUEUE_NODES: usize = 250;

pub(crate) fn scale_section(
    args: &Args,
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
) -> Result<(), String> {
    let dir = args.data.join("openb");
    let pods_path = dir.join("openb_pod_list_default.csv");
    let trace = Trace::load(dir.join("openb_node_list_all_node.csv"), &pods_path)
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&pods_path).map_err(|e| e.to_string())?;
    let times =
        parse_pod_times(&pods_path.display().to_string(), &text).map_err(|e| e.to_string())?;
    let (node_sweep, task_sweep, fixed_tasks): (&[usize], &[usize], usize) = if args.quick {
        (&[1_213, 2_500], &[1_000, 4_000], 1_000)
    } else {
        (
            &[1_213, 2_500, 5_000, 10_000],
            &[2_000, 8_000, 32_000],
            2_000,
        )
    };
    let mut rows: Vec<Measured> = Vec::new();
    for &n in node_sweep {
        for name in ["best-fit", "fgd", "fragmentation-aware"] {
            let c = ScaleConfig {
                tasks: fixed_tasks,
                nodes: n,
                ..ScaleConfig::default()
            };
            rows.push(measure(&trace, &times, &c, name)?);
        }
    }
    for &t in task_sweep {
        for name in ["best-fit", "fgd"] {
            let c = ScaleConfig {
                tasks: t,
                nodes: 1_213,
                ..ScaleConfig::default()
            };
            rows.push(measure(&trace, &times, &c, name)?);
        }
    }
    let _ = writeln!(
        md,
        "| nodes | tasks | policy | seconds | events / s | µs per task per node | GPU allocation (time-averaged) |\n|---:|---:|---|---:|---:|---:|---:|"
    );
    let mut jr = Vec::new();
    for m in &rows {
        // Seconds over tasks × nodes: every arrival (and queue retry) asks
        // the policy, which scores every node.
        let per_node_us = 1e6 * m.seconds / (m.report.pods as f64 * m.nodes as f64);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {:.0} | {per_node_us:.3} | {:.1} % |",
            m.nodes,
            m.tasks,
            m.policy,
            m.seconds,
            m.events as f64 / m.seconds,
            100.0 * m.report.gpu_allocation
        );
        jr.push(
            json!({"nodes": m.nodes, "tasks": m.tasks, "policy": m.policy,
                       "seconds": m.seconds, "events": m.events,
                       "gpu_allocation": m.report.gpu_allocation}),
        );
    }
    // The largest run of each policy, extrapolated linearly in tasks × nodes
    // to the 1 000 000 tasks on 10 000 nodes.
    let mut extrapolated = serde_json::Map::new();
    for name in ["best-fit", "fgd", "fragmentation-aware"] {
        if let Some(m) = rows
            .iter()
            .filter(|m| m.policy == name)
            .max_by_key(|m| m.nodes * m.tasks)
        {
            let s = m.seconds * (1e6 / m.tasks as f64) * (1e4 / m.nodes as f64);
            let _ = write!(
                md,
                "{}{name}: about {s:.0} s",
                if extrapolated.is_empty() {
                    "\nExtrapolated to 1 000 000 tasks on 10 000 nodes (linear in tasks × nodes, from the largest run of each; \
                     those runs are lightly loaded, where many nodes are still in the same state and the search skips them, \
                     so a loaded cluster costs more): "
                } else {
                    "; "
                }
            );
            extrapolated.insert(name.into(), json!(s));
        }
    }
    let _ = writeln!(md, ".\n");
    // First-in-first-out against backfill on the same workload.
    let mut q = Vec::new();
    for queue in [QueueOrder::Fifo, QueueOrder::Backfill] {
        let c = ScaleConfig {
            tasks: task_sweep[task_sweep.len() - 1],
            nodes: QUEUE_NODES,
            load: 1.2,
            queue,
            ..ScaleConfig::default()
        };
        let m = measure(&trace, &times, &c, "best-fit")?;
        q.push((queue, m));
    }
    let _ = writeln!(
        md,
        "Queue disciplines, best-fit, {} tasks on {QUEUE_NODES} nodes offered 120 % of GPU capacity \
         (few nodes, so that the tasks load them):\n\n\
         | queue | placed | waiting at the end | mean wait (s) | max wait (s) | GPU allocation | seconds |\n|---|---:|---:|---:|---:|---:|---:|",
        task_sweep[task_sweep.len() - 1]
    );
    for (queue, m) in &q {
        let r = &m.report;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {:.1} % | {:.2} |",
            queue.name(),
            r.placed,
            r.waiting,
            r.waiting_s.mean,
            r.waiting_s.max,
            100.0 * r.gpu_allocation,
            m.seconds
        );
    }
    let fgd_1m = extrapolated
        .get("fgd")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    goals.push(Goal::new(
        "Replay 1 000 000 tasks on 10 000 nodes with FGD in under 60 s",
        format!("not run; about {fgd_1m:.0} s extrapolated"),
        fgd_1m < 60.0,
    ));
    js["scale"] =
        json!({"runs": jr, "extrapolated_1m_tasks_10k_nodes_s": Value::Object(extrapolated)});
    Ok(())
}
