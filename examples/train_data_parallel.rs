//! Data-parallel training with fork-join: logistic regression on the
//! winequality-red data set (shipped by `linfa-datasets`), each gradient step
//! split into shard tasks across four nodes and averaged, while a node
//! crashes mid-epoch.
//!
//! ```sh
//! cargo run --release --example train_data_parallel
//! ```
//!
//! What to look for: the last line. The distributed run must end with the
//! same weights as a single-threaded reference (`max_weight_diff` below
//! 1e-9) although a node crashed and its shard tasks ran again: a shard's
//! gradient depends only on its rows and the step's weights, and the step
//! task sums shard gradients in shard order, so a retry changes nothing.

use allot::{FaultPlan, FaultSpec, NodeId, NodeSpec, Resources, Runtime, Task, TaskKind};
use ndarray::{Array1, Array2, Axis};
use std::sync::Arc;
use std::time::Instant;

const SHARDS: usize = 8;
const STEPS: usize = 150;
const LEARNING_RATE: f64 = 0.5;

/// Standardised features with a bias column, and 0/1 labels (quality >= 6).
struct Data {
    x: Array2<f64>,
    y: Array1<f64>,
}

fn load() -> (Data, Data) {
    let ds = linfa_datasets::winequality();
    let x = ds.records.clone();
    let y: Array1<f64> = ds.targets.mapv(|q| if q >= 6 { 1.0 } else { 0.0 });
    let mean = x.mean_axis(Axis(0)).expect("rows");
    let std = x
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > 0.0 { s } else { 1.0 });
    let z = (&x - &mean) / &std;
    let n = z.nrows();
    let ones = Array2::<f64>::ones((n, 1));
    let with_bias = ndarray::concatenate(Axis(1), &[ones.view(), z.view()]).expect("same rows");
    // A fixed 80/20 split: every fifth row is held out.
    let (train, test): (Vec<usize>, Vec<usize>) = (0..n).partition(|i| i % 5 != 0);
    let pick = |rows: &[usize]| Data {
        x: with_bias.select(Axis(0), rows),
        y: y.select(Axis(0), rows),
    };
    (pick(&train), pick(&test))
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Sum of the log-loss gradient over rows `lo..hi` at weights `w`.
fn shard_gradient(data: &Data, w: &[f64], lo: usize, hi: usize) -> Vec<f64> {
    let mut g = vec![0.0; w.len()];
    for r in lo..hi {
        let row = data.x.row(r);
        let z: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
        let err = sigmoid(z) - data.y[r];
        for (gi, xi) in g.iter_mut().zip(row.iter()) {
            *gi += err * xi;
        }
    }
    g
}

fn shard_bounds(n: usize, s: usize) -> (usize, usize) {
    (s * n / SHARDS, (s + 1) * n / SHARDS)
}

/// One step from shard gradients summed in shard order.
fn apply(w: &[f64], grads: &[Vec<f64>], n: usize) -> Vec<f64> {
    let mut total = vec![0.0; w.len()];
    for g in grads {
        for (t, gi) in total.iter_mut().zip(g) {
            *t += gi;
        }
    }
    w.iter()
        .zip(&total)
        .map(|(wi, ti)| wi - LEARNING_RATE * ti / n as f64)
        .collect()
}

fn accuracy(data: &Data, w: &[f64]) -> f64 {
    let hits = (0..data.x.nrows())
        .filter(|&r| {
            let z: f64 = data.x.row(r).iter().zip(w).map(|(a, b)| a * b).sum();
            (sigmoid(z) >= 0.5) == (data.y[r] == 1.0)
        })
        .count();
    hits as f64 / data.x.nrows() as f64
}

fn reference(train: &Data) -> Vec<f64> {
    let n = train.x.nrows();
    let mut w = vec![0.0; train.x.ncols()];
    for _ in 0..STEPS {
        let grads: Vec<Vec<f64>> = (0..SHARDS)
            .map(|s| {
                let (lo, hi) = shard_bounds(n, s);
                shard_gradient(train, &w, lo, hi)
            })
            .collect();
        w = apply(&w, &grads, n);
    }
    w
}

/// Data-parallel training with fork-join: logistic regression split into
/// shard tasks across four nodes, while a node crashes mid-epoch; the
/// result must match a single-threaded reference.
///
/// It takes no options: the program is the example.
#[derive(Debug, clap::Parser)]
#[command(name = "train_data_parallel")]
struct Args {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    <Args as clap::Parser>::parse();
    let (train, test) = load();
    let train = Arc::new(train);
    let n = train.x.nrows();

    let t0 = Instant::now();
    let w_ref = reference(&train);
    let reference_time = t0.elapsed();

    // Four nodes; node 1 crashes when it starts its 30th task, mid-epoch.
    let runtime = Runtime::builder()
        .nodes(vec![NodeSpec::new(Resources::cpu(4_000)); 4])
        .fault_plan(FaultPlan::new(7).with(FaultSpec::CrashNode {
            node: NodeId(1),
            after_tasks: 30,
        }))
        .build()?;
    let h = runtime.handle();
    let t0 = Instant::now();
    let mut w = vec![0.0; train.x.ncols()];
    for _ in 0..STEPS {
        let (data, weights) = (Arc::clone(&train), Arc::new(w.clone()));
        // The step is a task that forks one task per shard and joins them.
        let step = Task::new(move |ctx| {
            let shards = (0..SHARDS).map(|s| {
                let (data, weights) = (Arc::clone(&data), Arc::clone(&weights));
                Task::new(move |_| {
                    let (lo, hi) = shard_bounds(data.x.nrows(), s);
                    Ok::<_, String>(shard_gradient(&data, &weights, lo, hi))
                })
                .kind(TaskKind::Training)
                .cost(0.000_1)
            });
            let grads = ctx
                .fork_join(shards)
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(apply(&weights, &grads, n))
        })
        .kind(TaskKind::Training);
        w = h.submit(step)?.wait()?;
    }
    let distributed_time = t0.elapsed();
    // The crashed node restarts after a short backoff; count it.
    let m = runtime.shutdown();
    let crashes: u64 = m.nodes.iter().map(|n| n.failures).sum();
    let max_diff = w
        .iter()
        .zip(&w_ref)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "winequality-red: {} train / {} test rows, {} features, {} steps x {} shards; reference {:.0?}, distributed {:.0?}, {} tasks, {} retried",
        train.x.nrows(),
        test.x.nrows(),
        train.x.ncols() - 1,
        STEPS,
        SHARDS,
        reference_time,
        distributed_time,
        m.totals.submitted,
        m.totals.retried
    );
    println!(
        "training: reference_acc={:.4} distributed_acc={:.4} max_weight_diff={:.3e} crashes={}",
        accuracy(&test, &w_ref),
        accuracy(&test, &w),
        max_diff,
        crashes
    );
    if max_diff >= 1e-9 || crashes == 0 {
        std::process::exit(1);
    }
    Ok(())
}
