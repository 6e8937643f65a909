//! Message and task throughput, each allot path beside its baselines in the
//! same criterion group.
//!
//! - `mailbox`: fire-and-forget messages into one node's mailbox
//!   (`submit_batch_detached_to`, or `submit_to` one at a time), against raw
//!   actix `do_send` and crossbeam-channel; and the same batches with
//!   handles.
//! - `end_to_end`: no-op tasks, `submit_batch` until every result is
//!   received, against `tokio::spawn` + await and rayon `scope.spawn`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

#[path = "../src/bin/allot/bench/cases.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]
mod cases;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::time::Duration;

const N: usize = 50_000;

fn mailbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("mailbox");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let actix = cases::ActixBaseline::start();
    g.bench_function("actix_do_send", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| actix.do_send(N)).sum())
    });
    drop(actix);
    g.bench_function("crossbeam_channel", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| cases::crossbeam(N)).sum())
    });
    let rt = cases::allot_runtime(1);
    let h = rt.handle().clone();
    for batch in [1usize, 64, 1024] {
        g.bench_with_input(
            BenchmarkId::new("allot_submit_to", batch),
            &batch,
            |b, &batch| {
                b.iter_custom(|iters| (0..iters).map(|_| cases::allot_mailbox(&h, N, batch)).sum())
            },
        );
    }
    g.bench_function("allot_submit_batch_to_with_handles/1024", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| cases::allot_mailbox_handles(&h, N, 1024))
                .sum()
        })
    });
    rt.shutdown();
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = c.benchmark_group("end_to_end");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    g.bench_function("tokio_spawn", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| cases::tokio_spawn(&tokio_rt, N)).sum())
    });
    drop(tokio_rt);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    g.bench_function("rayon_scope_spawn", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| cases::rayon_spawn(&pool, N)).sum())
    });
    drop(pool);
    for nodes in [1usize, 2, 4] {
        let rt = cases::allot_runtime(nodes);
        let h = rt.handle().clone();
        g.bench_with_input(
            BenchmarkId::new("allot_submit_batch_nodes", nodes),
            &nodes,
            |b, _| b.iter_custom(|iters| (0..iters).map(|_| cases::allot_e2e(&h, N, 1024)).sum()),
        );
        if nodes == 2 {
            g.bench_function("allot_submit_one_at_a_time/2", |b| {
                b.iter_custom(|iters| (0..iters).map(|_| cases::allot_e2e_single(&h, N)).sum())
            });
        }
        rt.shutdown();
    }
    g.finish();
}

criterion_group!(benches, mailbox, end_to_end);
criterion_main!(benches);
