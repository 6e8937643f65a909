//! Decision cost of the online allocation policies: one `place` call at 16
//! and at 1 024 nodes, with a plain "first node that can host" scan as the
//! baseline in each group.
//!
//! Run with `cargo bench --bench allocation`.

// criterion's macros define an undocumented `benches` function.
#![allow(missing_docs)]

use allot::policy::{NodeView, PolicyKind, TaskView};
use allot::{NodeId, Resources, TaskId, TaskKind};
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};

fn views(n: usize) -> Vec<NodeView> {
    (0..n)
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
        .collect()
}

fn decision_cost(c: &mut Criterion) {
    static KIND: TaskKind = TaskKind::Inference;
    let task = TaskView {
        id: TaskId(0),
        kind: &KIND,
        cost: 1.0,
        demand: Resources::cpu(2_000).with_gpu_milli(500),
        priority: 0,
    };
    for n in [16usize, 1024] {
        let nodes = views(n);
        let mut group = c.benchmark_group(format!("place/{n}-nodes"));
        group.bench_function(BenchmarkId::from_parameter("baseline-first-fit"), |b| {
            b.iter(|| {
                black_box(&nodes)
                    .iter()
                    .position(|v| v.can_host(black_box(&task)))
            })
        });
        for &kind in PolicyKind::ALL {
            let mut p = kind.build(7);
            group.bench_function(BenchmarkId::from_parameter(kind.name()), |b| {
                b.iter(|| p.place(black_box(&task), black_box(&nodes)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, decision_cost);
criterion_main!(benches);
