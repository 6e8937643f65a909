//! Message throughput: allot's node mailbox and end-to-end task path against
//! raw actix, crossbeam-channel, `tokio::spawn` and rayon, in the same run.
//!
//! ```sh
//! cargo run --release --example throughput               # table
//! cargo run --release --example throughput -- --json     # one JSON object
//! cargo run --release --example throughput -- --messages 500000 --nodes 2 --batch 1024 --runs 7
//! cargo run --release --features cluster --example throughput -- --nats nats://127.0.0.1:4222
//! ```
//!
//! With `--nats URL` (feature `cluster`) it measures cluster mode instead:
//! two worker processes of this example (`--worker NAME`), no-op named
//! tasks, against raw JetStream publish → pull → ack and raw request/reply
//! in the same run (the same code as `allot bench --nats`).
//!
//! Every rate is the median of `--runs` runs; ratios divide medians from
//! this run, so they compare like with like on a noisy machine.

#[path = "../src/bin/allot/bench/cases.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]
mod cases;

#[cfg(feature = "cluster")]
#[path = "../src/bin/allot/bench/cluster.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod cluster;
#[cfg(feature = "cluster")]
#[path = "../src/bin/allot/kinds.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod kinds;
#[cfg(feature = "cluster")]
#[path = "../src/bin/allot/bench/nats_raw.rs"]
#[allow(dead_code, unreachable_pub, missing_docs)]
mod nats_raw;

use clap::Parser;
use std::time::Duration;

/// Message throughput: allot's node mailbox and end-to-end task path
/// against raw actix, crossbeam-channel, tokio::spawn and rayon, in the
/// same run (or, with --nats, cluster mode against raw JetStream).
#[derive(Debug, Parser)]
#[command(name = "throughput")]
struct Args {
    /// Messages (or tasks) per case per run.
    #[arg(long, default_value_t = 200_000, value_parser = positive)]
    messages: usize,
    /// allot nodes.
    #[arg(long, default_value_t = 2, value_parser = positive)]
    nodes: usize,
    /// Tasks per batch in the batched allot cases.
    #[arg(long, default_value_t = 1024, value_parser = positive)]
    batch: usize,
    /// Measured runs (after a warm-up); figures are their medians.
    #[arg(long, default_value_t = 5, value_parser = positive)]
    runs: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Run only this allot case, for profiling (with CPU ns per task per
    /// thread).
    #[arg(long, value_name = "CASE", value_parser = ["mailbox", "handles", "single", "e2e", "e2e-single"])]
    profile: Option<String>,
    /// Measure cluster mode on the NATS server at URL (feature `cluster`).
    #[arg(long, value_name = "URL")]
    nats: Option<String>,
    /// Serve as worker NAME (started by --nats).
    #[arg(long, value_name = "NAME")]
    worker: Option<String>,
    /// Subject prefix (with --nats).
    #[arg(long, default_value = "allot-throughput")]
    prefix: String,
    /// Attempts in flight per remote node beyond its slot (with --nats).
    #[arg(long, default_value_t = 64, value_parser = positive)]
    prefetch: usize,
    /// Unrelated CPU work for the whole measurement, the same for every
    /// row: N spinning processes (1 keeps one core busy).
    #[arg(long, default_value_t = 0)]
    busy: usize,
    /// Round trips per run (with --nats).
    #[arg(long, default_value_t = 1_000, value_parser = positive)]
    requests: usize,
}

/// A whole number above 0.
fn positive(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("expected a positive integer, got `{s}`")),
    }
}

/// Every thread of this process with its time on a CPU so far, from
/// `/proc/self/task/*/schedstat` (empty where there is none).
fn thread_cpu_ns() -> Vec<(String, u64)> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok());
        if let Some(ns) = ns {
            out.push((name.trim().to_owned(), ns));
        }
    }
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args = Args::parse();
    if args.worker.is_some() || args.nats.is_some() {
        cluster_mode(&args);
        return;
    }
    let n = args.messages;
    let runs = args.runs;
    if let Some(case) = &args.profile {
        // One allot case in a loop, nothing else: for perf and callgrind.
        let rt = cases::allot_runtime(args.nodes);
        let h = rt.handle().clone();
        for _ in 0..runs {
            let d = match case.as_str() {
                "mailbox" => cases::allot_mailbox(&h, n, args.batch),
                "handles" => cases::allot_mailbox_handles(&h, n, args.batch),
                "single" => cases::allot_mailbox(&h, n, 1),
                "e2e" => cases::allot_e2e(&h, n, args.batch),
                "e2e-single" => cases::allot_e2e_single(&h, n),
                other => {
                    eprintln!("unknown case `{other}` (mailbox, handles, single, e2e, e2e-single)");
                    std::process::exit(2);
                }
            };
            println!("{case}: {:.2} M/s", n as f64 / d.as_secs_f64() / 1e6);
        }
        // CPU time per task and thread: steadier than wall time on a
        // shared machine (Linux only).
        let tasks = (n * runs) as f64;
        for (name, ns) in thread_cpu_ns() {
            if ns as f64 / tasks >= 1.0 {
                println!("cpu {name:<18} {:>8.1} ns/task", ns as f64 / tasks);
            }
        }
        rt.shutdown();
        return;
    }

    // Every case lives for the whole run and the cases take turns, round
    // after round, so a slow spell of this shared machine hits them alike;
    // the first round is a warm-up.
    let busy = cases::Busy::start(args.busy).expect("sh starts");
    let actix_base = cases::ActixBaseline::start();
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    let rt = cases::allot_runtime(args.nodes);
    let h = rt.handle().clone();
    let single_n = n.min(100_000);
    // A case's rate, and the process's CPU seconds (all threads) per
    // million of its messages or tasks.
    let rate = |count: usize, case: &mut dyn FnMut() -> Duration| {
        let cpu = cases::process_cpu_ns();
        let d = case();
        let cpu = cases::process_cpu_ns().saturating_sub(cpu);
        (
            count as f64 / d.as_secs_f64(),
            cpu as f64 / 1e9 / count as f64 * 1e6,
        )
    };
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); 9];
    let mut cpu: Vec<Vec<f64>> = vec![Vec::new(); 9];
    for round in 0..=runs {
        let got = [
            rate(n, &mut || cases::crossbeam(n)),
            rate(n, &mut || actix_base.do_send(n)),
            rate(n, &mut || cases::tokio_spawn(&tokio_rt, n)),
            rate(n, &mut || cases::rayon_spawn(&pool, n)),
            rate(n, &mut || cases::allot_mailbox(&h, n, args.batch)),
            rate(single_n, &mut || cases::allot_mailbox(&h, single_n, 1)),
            rate(n, &mut || cases::allot_e2e(&h, n, args.batch)),
            rate(n, &mut || cases::allot_mailbox_handles(&h, n, args.batch)),
            rate(single_n, &mut || cases::allot_e2e_single(&h, single_n)),
        ];
        if round > 0 {
            for (k, (r, c)) in got.into_iter().enumerate() {
                samples[k].push(r);
                cpu[k].push(c);
            }
        }
    }
    rt.shutdown();
    drop(busy);
    let cpu: Vec<f64> = cpu.into_iter().map(median).collect();
    drop(actix_base);
    drop(tokio_rt);
    drop(pool);
    let m: Vec<f64> = samples.into_iter().map(median).collect();
    let (crossbeam, actix, tokio, rayon, mailbox_batched, mailbox_single, e2e, mailbox_handles) =
        (m[0], m[1], m[2], m[3], m[4], m[5], m[6], m[7]);
    let e2e_single = m[8];

    let rows = [
        ("crossbeam-channel send", crossbeam, cpu[0]),
        ("actix do_send", actix, cpu[1]),
        ("tokio::spawn + await", tokio, cpu[2]),
        ("rayon scope.spawn", rayon, cpu[3]),
        ("allot mailbox (batched)", mailbox_batched, cpu[4]),
        ("allot mailbox (batched, handles)", mailbox_handles, cpu[7]),
        ("allot mailbox (one at a time)", mailbox_single, cpu[5]),
        ("allot end-to-end (submit_batch)", e2e, cpu[6]),
        (
            "allot end-to-end (submit, one at a time)",
            e2e_single,
            cpu[8],
        ),
    ];
    let mailbox_vs_actix = mailbox_batched / actix;
    let mailbox_single_vs_actix = mailbox_single / actix;
    let e2e_vs_tokio_spawn = e2e / tokio;
    let e2e_vs_rayon = e2e / rayon;
    let e2e_single_vs_tokio_spawn = e2e_single / tokio;
    if args.json {
        let mut obj = serde_json::Map::new();
        obj.insert("messages".into(), n.into());
        obj.insert("nodes".into(), args.nodes.into());
        obj.insert("batch".into(), args.batch.into());
        obj.insert("runs".into(), runs.into());
        obj.insert("busy_processes".into(), args.busy.into());
        let mut rates = serde_json::Map::new();
        let mut cpus = serde_json::Map::new();
        for (name, r, c) in rows {
            rates.insert(name.into(), r.into());
            cpus.insert(name.into(), c.into());
        }
        obj.insert("rates_per_s".into(), rates.into());
        obj.insert("cpu_s_per_million".into(), cpus.into());
        obj.insert("mailbox_vs_actix".into(), mailbox_vs_actix.into());
        obj.insert(
            "mailbox_single_vs_actix".into(),
            mailbox_single_vs_actix.into(),
        );
        obj.insert("e2e_vs_tokio_spawn".into(), e2e_vs_tokio_spawn.into());
        obj.insert("e2e_vs_rayon".into(), e2e_vs_rayon.into());
        obj.insert(
            "e2e_single_vs_tokio_spawn".into(),
            e2e_single_vs_tokio_spawn.into(),
        );
        println!("{}", serde_json::Value::Object(obj));
    } else {
        println!(
            "{} messages, {} nodes, batch {}, median of {} runs, {} busy processes",
            n, args.nodes, args.batch, runs, args.busy
        );
        println!(
            "{:<42} {:>14} {:>16}",
            "path", "rate (M/s)", "CPU s/million"
        );
        for (name, r, c) in rows {
            println!("{:<42} {:>14.2} {:>16.3}", name, r / 1e6, c);
        }
        println!();
        println!("mailbox_vs_actix        = {mailbox_vs_actix:.2}");
        println!("mailbox_single_vs_actix = {mailbox_single_vs_actix:.2}");
        println!("e2e_vs_tokio_spawn      = {e2e_vs_tokio_spawn:.2}");
        println!("e2e_vs_rayon            = {e2e_vs_rayon:.2}");
        println!("e2e_single_vs_tokio_spawn = {e2e_single_vs_tokio_spawn:.2}");
    }
}

/// `--worker NAME`: serve the built-in kinds on one one-slot node;
/// `--nats URL`: the cluster measurement, with two such workers.
#[cfg(feature = "cluster")]
fn cluster_mode(args: &Args) {
    use allot::cluster::{ClusterConfig, Worker};
    use allot::{NodeSpec, Resources};
    let url = args.nats.clone().unwrap_or_default();
    if let Some(name) = &args.worker {
        let config = ClusterConfig {
            prefetch: args.prefetch,
            ..ClusterConfig::new(&url).subject_prefix(args.prefix.clone())
        };
        let (registry, _) = kinds::builtins();
        let node = NodeSpec::new(Resources::cpu(1_000)).slots(1);
        if let Err(e) = Worker::new(config, name.as_str(), vec![node], registry).run() {
            eprintln!("worker {name}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let exe = std::env::current_exe().expect("this example's path");
    let worker = |name: &str, url: &str, prefix: &str, prefetch: usize| {
        let mut c = std::process::Command::new(&exe);
        c.args(["--worker", name, "--nats", url, "--prefix", prefix])
            .args(["--prefetch", &prefetch.to_string()]);
        c
    };
    let plan = cluster::Plan {
        url: &url,
        messages: args.messages,
        batch: args.batch,
        requests: args.requests,
        runs: args.runs,
        prefetch: args.prefetch,
    };
    match cluster::measure(plan, &worker) {
        Ok(r) if args.json => println!("{}", r.to_json()),
        Ok(r) => {
            let _ = r.print(&mut std::io::stdout().lock());
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "cluster"))]
fn cluster_mode(_: &Args) {
    eprintln!("--nats and --worker need cluster mode: cargo run --release --features cluster --example throughput -- --nats URL");
    std::process::exit(2);
}
