//! A hyper-parameter sweep of real linfa models (logistic regression and
//! decision trees on winequality-red) over heterogeneous nodes, placed by
//! round-robin and by UCB, which learns the nodes' speeds from completions.
//!
//! ```sh
//! cargo run --release --example hyperparameter_sweep
//! ```
//!
//! What to look for: both policies find the same best model (the trials are
//! deterministic), but UCB finishes sooner, because it learns that two of
//! the four nodes are slow and sends them less work. Trials go out in waves
//! of four, as a trial scheduler with four concurrent trials would.

use allot::{NodeSpec, PolicyKind, Resources, Runtime, Task, TaskKind};
use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Data = DatasetBase<Array2<f64>, Array1<bool>>;

#[derive(Clone, Copy, Debug)]
enum Trial {
    Logistic { alpha: f64, iterations: u64 },
    Tree { depth: usize, min_split: f32 },
}

impl Trial {
    fn grid() -> Vec<Trial> {
        let mut trials = Vec::new();
        for alpha in [0.0, 0.001, 0.01, 0.1, 1.0, 10.0] {
            for iterations in [50, 100, 200, 400] {
                trials.push(Trial::Logistic { alpha, iterations });
            }
        }
        for depth in 2..=9 {
            for min_split in [2.0, 8.0, 32.0] {
                trials.push(Trial::Tree { depth, min_split });
            }
        }
        trials
    }

    /// Trains on `train`, returns accuracy on `valid`.
    fn run(self, train: &Data, valid: &Data) -> Result<f64, String> {
        let accuracy = |pred: Array1<bool>| {
            let hits = pred
                .iter()
                .zip(valid.targets().iter())
                .filter(|(p, t)| p == t)
                .count();
            hits as f64 / pred.len() as f64
        };
        match self {
            Trial::Logistic { alpha, iterations } => {
                let model = LogisticRegression::default()
                    .alpha(alpha)
                    .max_iterations(iterations)
                    .fit(train)
                    .map_err(|e| e.to_string())?;
                Ok(accuracy(model.predict(valid)))
            }
            Trial::Tree { depth, min_split } => {
                let model = DecisionTree::params()
                    .max_depth(Some(depth))
                    .min_weight_split(min_split)
                    .fit(train)
                    .map_err(|e| e.to_string())?;
                Ok(accuracy(model.predict(valid)))
            }
        }
    }
}

struct Outcome {
    wall: Duration,
    best: (f64, Trial),
    per_node: Vec<u64>,
}

fn sweep(
    policy: PolicyKind,
    train: &Arc<Data>,
    valid: &Arc<Data>,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    // Two fast nodes, one at 35 % and one at 20 % of their pace.
    let runtime = Runtime::builder()
        .nodes([
            NodeSpec::new(Resources::cpu(8_000)).name("fast-a"),
            NodeSpec::new(Resources::cpu(8_000)).name("fast-b"),
            NodeSpec::new(Resources::cpu(4_000))
                .name("slow")
                .speed(0.35),
            NodeSpec::new(Resources::cpu(2_000))
                .name("slower")
                .speed(0.2),
        ])
        .policy(policy)
        .build()?;
    let h = runtime.handle();
    let start = Instant::now();
    let mut best: Option<(f64, Trial)> = None;
    for wave in Trial::grid().chunks(4) {
        let tasks = wave.iter().map(|&trial| {
            let (train, valid) = (Arc::clone(train), Arc::clone(valid));
            // The policies only see this rough, equal estimate: the node
            // speeds are what UCB has to learn.
            Task::new(move |_| trial.run(&train, &valid).map(|acc| (acc, trial)))
                .kind(TaskKind::Evaluation)
                .cost(0.01)
        });
        for t in h.submit_batch(tasks)? {
            let (acc, trial) = t.wait()?;
            if best.is_none_or(|(b, _)| acc > b) {
                best = Some((acc, trial));
            }
        }
    }
    let wall = start.elapsed();
    let m = runtime.shutdown();
    Ok(Outcome {
        wall,
        best: best.ok_or("no trial ran")?,
        per_node: m.nodes.iter().map(|n| n.completed).collect(),
    })
}

/// A hyper-parameter sweep of real linfa models over heterogeneous nodes,
/// placed by round-robin and by UCB, which learns the nodes' speeds.
///
/// It takes no options: the program is the example.
#[derive(Debug, clap::Parser)]
#[command(name = "hyperparameter_sweep")]
struct Args {}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    <Args as clap::Parser>::parse();
    let (train, valid) = linfa_datasets::winequality()
        .map_targets(|q| *q > 6)
        .split_with_ratio(0.8);
    let (train, valid) = (Arc::new(train), Arc::new(valid));
    println!(
        "winequality-red, good = quality > 6: {} train / {} validation rows, {} trials in waves of 4",
        train.nsamples(),
        valid.nsamples(),
        Trial::grid().len()
    );
    println!(
        "{:<14} {:>9} {:>10}  {:<24} best trial",
        "policy", "wall", "best acc", "fast-a fast-b slow slower"
    );
    let mut walls = Vec::new();
    for policy in [PolicyKind::RoundRobin, PolicyKind::Ucb] {
        let o = sweep(policy, &train, &valid)?;
        let counts: Vec<String> = o.per_node.iter().map(|c| format!("{c:>4}")).collect();
        println!(
            "{:<14} {:>9.2?} {:>10.4}  {:<24} {:?}",
            policy.name(),
            o.wall,
            o.best.0,
            counts.join("  "),
            o.best.1
        );
        walls.push(o.wall);
    }
    println!(
        "ucb_vs_round_robin wall time: {:.2}x",
        walls[1].as_secs_f64() / walls[0].as_secs_f64()
    );
    Ok(())
}
