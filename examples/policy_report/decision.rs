//! What one placement decision costs, per policy.

use crate::report::Goal;
use allot::policy::{NodeView, PolicyKind, TaskView};
use allot::{NodeId, Resources, TaskId, TaskKind};
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::time::Instant;

pub(crate) fn decision_cost(md: &mut String, js: &mut Value, goals: &mut Vec<Goal>, quick: bool) {
    static KIND: TaskKind = TaskKind::Inference;
    let mut rows = Vec::new();
    let mut jr = serde_json::Map::new();
    for &kind in PolicyKind::ALL {
        let mut cells = Vec::new();
        for n in [16usize, 1024] {
            let views: Vec<NodeView> = (0..n)
                .map(|j| {
                    let mut v = NodeView::idle(
                        NodeId(j),
                        Resources::new(64_000, 262_144, 8_000, 10_000),
                        1.0 + (j % 3) as f64 * 0.5,
                        4,
                    );
                    v.load = ((j * 7919) % 97) as f64;
                    v
                })
                .collect();
            let task = TaskView {
                id: TaskId(0),
                kind: &KIND,
                cost: 1.0,
                demand: Resources::cpu(2_000).with_gpu_milli(500),
                priority: 0,
            };
            let mut p = kind.build(7);
            let iters = if quick { 2_000 } else { 20_000 } * 16 / n.min(64);
            let mut samples = Vec::new();
            for _ in 0..5 {
                let t = Instant::now();
                let mut sink = 0usize;
                for _ in 0..iters {
                    sink = sink.wrapping_add(
                        p.place(std::hint::black_box(&task), std::hint::black_box(&views))
                            .unwrap_or(0),
                    );
                }
                std::hint::black_box(sink);
                samples.push(t.elapsed().as_nanos() as f64 / iters as f64);
            }
            samples.sort_by(f64::total_cmp);
            let median = samples[2];
            cells.push(median);
            if kind == PolicyKind::LeastLoaded && n == 16 {
                goals.push(Goal::new(
                    "LeastLoaded ≤ 100 ns per decision at 16 nodes",
                    format!("{median:.0} ns (timing loop here; see `cargo bench --bench allocation` for criterion)"),
                    median <= 100.0,
                ));
            }
        }
        rows.push(format!(
            "| {kind} | {:.0} ns | {:.0} ns |",
            cells[0], cells[1]
        ));
        jr.insert(
            kind.name().into(),
            json!({"ns_16": cells[0], "ns_1024": cells[1]}),
        );
    }
    let _ = writeln!(md, "| policy | 16 nodes | 1 024 nodes |");
    let _ = writeln!(md, "|---|---:|---:|");
    for r in rows {
        let _ = writeln!(md, "{r}");
    }
    js["decision_cost_ns"] = Value::Object(jr);
}
