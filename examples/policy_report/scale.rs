//! The replay at cluster scale: how its time grows with nodes and tasks,
//! on clusters and workloads generated from the openb trace; the real
//! trace under every policy; the indexed search against the plain scan;
//! and the queue disciplines' waiting times.
//!
//! `--section scale` regenerates only this section of an existing report
//! in place ([`splice_scale`]), so that a change to the replay does not
//! require every other section to be measured again.

use crate::args::Args;
use crate::report::{note, Goal};
use allot::policy::{
    BestFit, DotProduct, Fgd, FragmentationAware, GpuChoice, GpuDemand, GpuNode, GpuPacking,
    GpuPlacement, RandomFit,
};
use allot::sim::openb::Trace;
use allot::sim::replay::{
    parse_pod_times, PodTimes, QueueOrder, Replay, ReplayConfig, ReplayReport, SkipReason,
};
use allot::sim::scale::{scaled_replay, ScaleConfig};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Instant;

/// The policies of the cost model.
const SCALED: [&str; 2] = ["fgd", "fragmentation-aware"];

fn policy(name: &str, workload: &[GpuDemand]) -> Box<dyn GpuPlacement> {
    match name {
        "fgd" => Box::new(Fgd::from_workload(workload, Fgd::DEFAULT_TYPICAL_COVERAGE)),
        "fragmentation-aware" => Box::new(FragmentationAware::new().with_prior(workload)),
        "dot-product" => Box::new(DotProduct::new()),
        "gpu-packing" => Box::new(GpuPacking::new()),
        "random-fit" => Box::new(RandomFit::new(42)),
        _ => Box::new(BestFit::new()),
    }
}

/// A policy with the node index hidden: the replay's `choose_indexed`
/// falls back to the plain `choose`, which scans every node.
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

/// One timed replay.
struct Timed {
    seconds: f64,
    /// CPU time of this thread over the run (`NaN` where Linux's
    /// `/proc/thread-self/schedstat` is missing).
    cpu_seconds: f64,
    events: usize,
    report: ReplayReport,
}

/// CPU time this thread has run, from `/proc/thread-self/schedstat` (its
/// first field, nanoseconds): unlike the wall clock, it leaves out the time
/// other processes held the cores.
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(f64::NAN, |ns| ns as f64 / 1e9)
}

fn timed(replay: &Replay, p: &mut dyn GpuPlacement) -> Result<(Timed, Vec<String>), String> {
    let cpu = thread_cpu_seconds();
    let t = Instant::now();
    let run = replay.run(p).map_err(|e| e.to_string())?;
    let seconds = t.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu_seconds() - cpu;
    let outcomes = run.outcomes.iter().map(|o| format!("{o:?}")).collect();
    Ok((
        Timed {
            seconds,
            cpu_seconds,
            events: run.report.placed + run.report.finished + run.report.pods,
            report: run.report,
        },
        outcomes,
    ))
}

/// Median and (max − min) / 2 of `v`.
fn median_spread(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    if s.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = if s.len() % 2 == 1 {
        s[s.len() / 2]
    } else {
        (s[s.len() / 2 - 1] + s[s.len() / 2]) / 2.0
    };
    (m, (s[s.len() - 1] - s[0]) / 2.0)
}

fn load(args: &Args) -> Result<(Trace, Vec<Result<PodTimes, SkipReason>>), String> {
    let dir = args.data.join("openb");
    let pods_path = dir.join("openb_pod_list_default.csv");
    let trace = Trace::load(dir.join("openb_node_list_all_node.csv"), &pods_path)
        .map_err(|e| e.to_string())?;
    let text = std::fs::read_to_string(&pods_path).map_err(|e| e.to_string())?;
    let times =
        parse_pod_times(&pods_path.display().to_string(), &text).map_err(|e| e.to_string())?;
    Ok((trace, times))
}

/// One cell of the cost model.
struct Cell {
    nodes: usize,
    tasks: usize,
    policy: &'static str,
    seconds: Vec<f64>,
    cpu_seconds: Vec<f64>,
    events: usize,
    report: ReplayReport,
}

/// The runs of the cost model: `(nodes, tasks)`, each policy, `repeats`
/// times, interleaved (every cell once, then again).
fn cost_model(
    trace: &Trace,
    times: &[Result<PodTimes, SkipReason>],
    grid: &[(usize, usize)],
    repeats: usize,
    skip: impl Fn(usize, usize, &str) -> bool,
) -> Result<Vec<Cell>, String> {
    let mut cells: Vec<Cell> = Vec::new();
    for round in 0..repeats {
        let mut k = 0;
        for &(nodes, tasks) in grid {
            let config = ScaleConfig {
                tasks,
                nodes,
                ..ScaleConfig::default()
            };
            let replay = scaled_replay(trace, times, &config).ok_or("no GPU node or timed pod")?;
            let workload: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
            for name in SCALED {
                if skip(nodes, tasks, name) {
                    continue;
                }
                let mut p = policy(name, &workload);
                let (m, _) = timed(&replay, p.as_mut())?;
                note(&format!(
                    "scale: tasks={tasks} nodes={nodes} policy={name} seconds={:.2} events_per_s={:.0} gpu_alloc_pct={:.2} cpu_seconds={:.2} (round {})",
                    m.seconds,
                    m.events as f64 / m.seconds,
                    100.0 * m.report.gpu_allocation,
                    m.cpu_seconds,
                    round + 1
                ));
                if round == 0 {
                    cells.push(Cell {
                        nodes,
                        tasks,
                        policy: name,
                        seconds: vec![m.seconds],
                        cpu_seconds: vec![m.cpu_seconds],
                        events: m.events,
                        report: m.report,
                    });
                } else {
                    cells[k].seconds.push(m.seconds);
                    cells[k].cpu_seconds.push(m.cpu_seconds);
                }
                k += 1;
            }
        }
    }
    Ok(cells)
}

pub(crate) fn scale_section(
    args: &Args,
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
) -> Result<(), String> {
    let (trace, times) = load(args)?;
    real_trace(args, md, js, goals)?;
    let (grid, repeats): (Vec<(usize, usize)>, usize) = if args.quick {
        (vec![(1_000, 10_000), (3_000, 10_000), (1_000, 30_000)], 1)
    } else {
        let mut g = Vec::new();
        for nodes in [1_000, 3_000, 10_000] {
            for tasks in [10_000, 100_000, 1_000_000] {
                g.push((nodes, tasks));
            }
        }
        (g, 2)
    };
    // Fragmentation-aware relearns its mix every 256 tasks, which makes
    // every cached score stale: at 1 000 000 tasks it takes minutes (see
    // the text), so the grid leaves those runs out.
    let skip = |nodes: usize, tasks: usize, name: &str| {
        name == "fragmentation-aware" && (tasks >= 1_000_000 || tasks >= 100_000 && nodes >= 10_000)
    };
    let cells = cost_model(&trace, &times, &grid, repeats, skip)?;
    let _ = writeln!(
        md,
        "Cost model: replay time against tasks and nodes, FIFO queue, median of {repeats} interleaved run{} \
         (± half the range): wall-clock seconds, and the CPU seconds of the replaying thread (what the \
         run cost, without the time other processes held the cores). Events are arrivals, placements \
         and departures; events / s and µs per task are on CPU time.\n\n\
         | nodes | tasks | policy | wall (s) | CPU (s) | events / s | µs per task | GPU allocation (time-averaged) | pods placed | mean wait (s) |\n\
         |---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        if repeats == 1 { "" } else { "s" }
    );
    let mut jr = Vec::new();
    for c in &cells {
        let (m, spread) = median_spread(&c.seconds);
        let (cm, cs) = median_spread(&c.cpu_seconds);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {m:.2} ± {spread:.2} | {cm:.2} ± {cs:.2} | {:.0} | {:.1} | {:.1} % | {} | {:.0} |",
            c.nodes,
            c.tasks,
            c.policy,
            c.events as f64 / cm,
            1e6 * cm / c.tasks as f64,
            100.0 * c.report.gpu_allocation,
            c.report.placed,
            c.report.waiting_s.mean
        );
        jr.push(
            json!({"nodes": c.nodes, "tasks": c.tasks, "policy": c.policy,
                       "seconds": c.seconds, "cpu_seconds": c.cpu_seconds, "events": c.events,
                       "gpu_allocation": c.report.gpu_allocation}),
        );
    }
    let _ = writeln!(md);
    for name in SCALED {
        let big = cells
            .iter()
            .find(|c| c.policy == name && c.nodes == 10_000 && c.tasks == 1_000_000);
        let (measured, met) = match big {
            Some(c) => {
                let (m, spread) = median_spread(&c.seconds);
                let (cm, cs) = median_spread(&c.cpu_seconds);
                (
                    format!(
                        "{cm:.1} ± {cs:.1} s of CPU, {m:.1} ± {spread:.1} s wall on the shared machine (median of {})",
                        c.seconds.len()
                    ),
                    cm < 60.0,
                )
            }
            None => (
                "not run in this report: over 300 s (see the scale section)".to_owned(),
                false,
            ),
        };
        goals.push(Goal::new(
            &format!("Replay 1 000 000 tasks on 10 000 nodes with {name} in under 60 s"),
            measured,
            met,
        ));
    }
    js["scale"] = json!({"runs": jr});
    queue_section(&trace, &times, args.quick, md, js)?;
    Ok(())
}

/// The real openb trace replayed with every policy, at the recorded
/// arrivals and 20 times faster; the indexed search against the plain
/// scan.
fn real_trace(
    args: &Args,
    md: &mut String,
    js: &mut Value,
    goals: &mut Vec<Goal>,
) -> Result<(), String> {
    let dir = args.data.join("openb");
    let names = [
        "best-fit",
        "dot-product",
        "gpu-packing",
        "random-fit",
        "fgd",
        "fragmentation-aware",
    ];
    let mut header = false;
    let mut worst: f64 = 0.0;
    let mut all_same = true;
    let mut jr = Vec::new();
    for speedup in [1.0, 20.0] {
        let config = ReplayConfig {
            arrival_speedup: speedup,
            ..ReplayConfig::default()
        };
        let replay = Replay::load(
            dir.join("openb_node_list_all_node.csv"),
            dir.join("openb_pod_list_default.csv"),
            &config,
        )
        .map_err(|e| e.to_string())?;
        if !header {
            header = true;
            let _ = writeln!(
                md,
                "The real openb trace (default pod list, {} pods on {} GPU nodes), replayed with every \
                 policy, with the arrivals as recorded and 20 times faster; for FGD and fragmentation-aware also with the node index hidden (the plain \
                 scan of every node), and the number of pods whose outcome (node, start, finish) \
                 differs between the two. Median of 3 interleaved runs, ± half the range.\n\n\
                 | arrivals | policy | seconds | plain scan (s) | outcomes that differ | GPU allocation | pods placed |\n\
                 |---|---|---:|---:|---:|---:|---:|",
                replay.pods.len(),
                replay.nodes.len()
            );
        }
        let workload: Vec<GpuDemand> = replay.pods.iter().map(|p| p.demand).collect();
        let mut secs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut plain_secs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        let mut rows: Vec<Option<(ReplayReport, Option<usize>)>> = vec![None; names.len()];
        for _ in 0..3 {
            for (k, name) in names.iter().enumerate() {
                let mut p = policy(name, &workload);
                let (m, outcomes) = timed(&replay, p.as_mut())?;
                secs[k].push(m.seconds);
                let mut differ = None;
                if matches!(*name, "fgd" | "fragmentation-aware") {
                    let mut plain = Plain(policy(name, &workload));
                    let (pm, plain_outcomes) = timed(&replay, &mut plain)?;
                    plain_secs[k].push(pm.seconds);
                    differ = Some(
                        outcomes
                            .iter()
                            .zip(&plain_outcomes)
                            .filter(|(a, b)| a != b)
                            .count(),
                    );
                }
                rows[k] = Some((m.report, differ));
            }
        }
        for (k, name) in names.iter().enumerate() {
            let (report, differ) = rows[k].take().expect("measured");
            let (m, spread) = median_spread(&secs[k]);
            worst = worst.max(m);
            let plain = if plain_secs[k].is_empty() {
                String::new()
            } else {
                let (pm, ps) = median_spread(&plain_secs[k]);
                format!("{pm:.2} ± {ps:.2}")
            };
            all_same &= differ.unwrap_or(0) == 0;
            let _ = writeln!(
                md,
                "| {} | {name} | {m:.3} ± {spread:.3} | {plain} | {} | {:.1} % | {} |",
                if speedup == 1.0 {
                    "as recorded".to_owned()
                } else {
                    format!("{speedup}× faster")
                },
                differ.map_or(String::new(), |d| d.to_string()),
                100.0 * report.gpu_allocation,
                report.placed
            );
            jr.push(
                json!({"speedup": speedup, "policy": name, "seconds": secs[k],
                           "plain_seconds": plain_secs[k], "differ": differ,
                           "gpu_allocation": report.gpu_allocation}),
            );
        }
    }
    let _ = writeln!(md);
    goals.push(Goal::new(
        "Replay the real openb trace with every policy in under 1 s each",
        format!("slowest {worst:.2} s (median of 3)"),
        worst < 1.0,
    ));
    goals.push(Goal::new(
        "The indexed search decides as the plain scan on the real openb trace",
        if all_same {
            "every pod's outcome the same (FGD, fragmentation-aware; as recorded and 20× faster)"
                .to_owned()
        } else {
            "**some outcomes differ**".to_owned()
        },
        all_same,
    ));
    js["scale_real_trace"] = Value::Array(jr);
    Ok(())
}

/// Nodes of the queue comparison: few, so that its tasks load them.
const QUEUE_NODES: usize = 250;

/// First-in-first-out, backfill with a reservation for the head, and
/// backfill without one, on the same overloaded workload.
fn queue_section(
    trace: &Trace,
    times: &[Result<PodTimes, SkipReason>],
    quick: bool,
    md: &mut String,
    js: &mut Value,
) -> Result<(), String> {
    let tasks = if quick { 8_000 } else { 32_000 };
    let _ = writeln!(
        md,
        "Queue disciplines, best-fit, {tasks} tasks on {QUEUE_NODES} nodes offered 120 % of GPU capacity \
         (few nodes, so that the tasks load them). FIFO: the head of the queue holds up every pod \
         behind it. Backfill: pods behind a blocked head are placed when they fit, but the head has a \
         reservation (the node where it fits earliest, were the running pods to leave at their \
         finish times) that a pod may use only if it leaves by then (EASY backfilling), so the head \
         starts no later than under FIFO from the same state. Greedy backfill: no reservation. \
         Waits are of the pods placed; pods still queued at the end are counted apart.\n\n\
         | queue | placed | waiting at the end | mean wait (s) | p50 | p99 | max wait (s) | GPU allocation | seconds |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut jq = Vec::new();
    for queue in [
        QueueOrder::Fifo,
        QueueOrder::Backfill,
        QueueOrder::GreedyBackfill,
    ] {
        let c = ScaleConfig {
            tasks,
            nodes: QUEUE_NODES,
            load: 1.2,
            queue,
            ..ScaleConfig::default()
        };
        let replay = scaled_replay(trace, times, &c).ok_or("no GPU node or timed pod")?;
        let (m, _) = timed(&replay, &mut BestFit::new())?;
        let r = &m.report;
        note(&format!(
            "scale: tasks={tasks} nodes={QUEUE_NODES} policy=best-fit seconds={:.2} events_per_s={:.0} gpu_alloc_pct={:.2} queue={}",
            m.seconds,
            m.events as f64 / m.seconds,
            100.0 * r.gpu_allocation,
            queue.name()
        ));
        let w = &r.waiting_s;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} % | {:.2} |",
            queue.name(),
            r.placed,
            r.waiting,
            w.mean,
            w.p50,
            w.p99,
            w.max,
            100.0 * r.gpu_allocation,
            m.seconds
        );
        jq.push(
            json!({"queue": queue.name(), "placed": r.placed, "waiting": r.waiting,
                       "wait_s": {"mean": w.mean, "p50": w.p50, "p99": w.p99, "max": w.max},
                       "gpu_allocation": r.gpu_allocation}),
        );
    }
    let _ = writeln!(md);
    js["queue"] = Value::Array(jq);
    Ok(())
}

/// Regenerates only the scale section of the report at `args.out` (and
/// its rows of the goals table), leaving every other section as it is.
pub(crate) fn splice_scale(args: &Args, template: &str) -> Result<(), String> {
    const HEADING: &str = "## The trace replay at cluster scale";
    let mut sc = String::new();
    let mut js = json!({});
    let mut goals = Vec::new();
    scale_section(args, &mut sc, &mut js, &mut goals)?;
    let section = |doc: &str| -> Option<(usize, usize)> {
        let start = doc.find(HEADING)?;
        let end = doc[start + HEADING.len()..]
            .find("\n## ")
            .map_or(doc.len(), |e| start + HEADING.len() + e + 1);
        Some((start, end))
    };
    let (ts, te) = section(template).ok_or("the template has no scale section")?;
    let fresh = template[ts..te].replace("{{SCALE}}", &sc);
    let doc =
        std::fs::read_to_string(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let (ds, de) = section(&doc).ok_or("the report has no scale section")?;
    let mut out = format!("{}{fresh}{}", &doc[..ds], &doc[de..]);
    // The goal as it was worded before both policies had one.
    let old = "| Replay 1 000 000 tasks on 10 000 nodes with FGD in under 60 s |";
    if let Some(at) = out.find(old) {
        let end = out[at..].find('\n').map_or(out.len(), |e| at + e + 1);
        out.replace_range(at..end, "");
    }
    for g in &goals {
        let row = format!(
            "| {} | {} | {} |",
            g.goal,
            g.measured,
            if g.met { "yes" } else { "**no**" }
        );
        let prefix = format!("| {} |", g.goal);
        out = match out.find(&prefix) {
            Some(at) => {
                let end = out[at..].find('\n').map_or(out.len(), |e| at + e);
                format!("{}{row}{}", &out[..at], &out[end..])
            }
            None => {
                // A new goal: after the last row of the goals table.
                let table = out
                    .find("| goal | measured | met |")
                    .ok_or("no goals table")?;
                let end = out[table..].find("\n\n").map_or(out.len(), |e| table + e);
                format!("{}\n{row}{}", &out[..end], &out[end..])
            }
        };
    }
    std::fs::write(&args.out, out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    note(&format!(
        "wrote the scale section of {}",
        args.out.display()
    ));
    Ok(())
}
