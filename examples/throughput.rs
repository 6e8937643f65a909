//! Message throughput: allot's node mailbox and end-to-end task path against
//! raw actix, crossbeam-channel, `tokio::spawn` and rayon, in the same run.
//!
//! ```sh
//! cargo run --release --example throughput               # table
//! cargo run --release --example throughput -- --json     # one JSON object
//! cargo run --release --example throughput -- --messages 500000 --nodes 2 --batch 1024 --runs 7
//! ```
//!
//! Every rate is the median of `--runs` runs; ratios divide medians from
//! this run, so they compare like with like on a noisy machine.

#[path = "../benches/support/cases.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]
mod cases;

use std::time::Duration;

struct Args {
    messages: usize,
    nodes: usize,
    batch: usize,
    runs: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        messages: 200_000,
        nodes: 2,
        batch: 1024,
        runs: 5,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut num = |name: &str| -> Result<usize, String> {
            let v = it.next().ok_or(format!("{name} needs a value"))?;
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{name}: expected a positive integer, got `{v}`")),
            }
        };
        match flag.as_str() {
            "--messages" => a.messages = num("--messages")?,
            "--nodes" => a.nodes = num("--nodes")?,
            "--batch" => a.batch = num("--batch")?,
            "--runs" => a.runs = num("--runs")?,
            "--json" => a.json = true,
            "-h" | "--help" => {
                return Err(
                    "usage: throughput [--messages N] [--nodes N] [--batch N] [--runs N] [--json]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(a)
}

/// Median rate in items per second over `runs` runs of `f`.
fn median_rate(n: usize, runs: usize, mut f: impl FnMut() -> Duration) -> f64 {
    f(); // warm-up
    let mut rates: Vec<f64> = (0..runs).map(|_| n as f64 / f().as_secs_f64()).collect();
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let n = args.messages;
    let runs = args.runs;

    let crossbeam = median_rate(n, runs, || cases::crossbeam(n));
    let actix = {
        let base = cases::ActixBaseline::start();
        median_rate(n, runs, || base.do_send(n))
    };
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("tokio runtime");
    let tokio = median_rate(n, runs, || cases::tokio_spawn(&tokio_rt, n));
    drop(tokio_rt);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("rayon pool");
    let rayon = median_rate(n, runs, || cases::rayon_spawn(&pool, n));
    drop(pool);

    let rt = cases::allot_runtime(args.nodes);
    let h = rt.handle().clone();
    let mailbox_batched = median_rate(n, runs, || cases::allot_mailbox(&h, n, args.batch));
    let single_n = n.min(100_000);
    let mailbox_single = median_rate(single_n, runs, || cases::allot_mailbox(&h, single_n, 1));
    let e2e = median_rate(n, runs, || cases::allot_e2e(&h, n, args.batch));
    rt.shutdown();

    let rows = [
        ("crossbeam-channel send", crossbeam),
        ("actix do_send", actix),
        ("tokio::spawn + await", tokio),
        ("rayon scope.spawn", rayon),
        ("allot mailbox (batched)", mailbox_batched),
        ("allot mailbox (one at a time)", mailbox_single),
        ("allot end-to-end (submit_batch)", e2e),
    ];
    let mailbox_vs_actix = mailbox_batched / actix;
    let mailbox_single_vs_actix = mailbox_single / actix;
    let e2e_vs_tokio_spawn = e2e / tokio;
    let e2e_vs_rayon = e2e / rayon;
    if args.json {
        let mut obj = serde_json::Map::new();
        obj.insert("messages".into(), n.into());
        obj.insert("nodes".into(), args.nodes.into());
        obj.insert("batch".into(), args.batch.into());
        obj.insert("runs".into(), runs.into());
        let mut rates = serde_json::Map::new();
        for (name, r) in rows {
            rates.insert(name.into(), r.into());
        }
        obj.insert("rates_per_s".into(), rates.into());
        obj.insert("mailbox_vs_actix".into(), mailbox_vs_actix.into());
        obj.insert(
            "mailbox_single_vs_actix".into(),
            mailbox_single_vs_actix.into(),
        );
        obj.insert("e2e_vs_tokio_spawn".into(), e2e_vs_tokio_spawn.into());
        obj.insert("e2e_vs_rayon".into(), e2e_vs_rayon.into());
        println!("{}", serde_json::Value::Object(obj));
    } else {
        println!(
            "{} messages, {} nodes, batch {}, median of {} runs",
            n, args.nodes, args.batch, runs
        );
        println!("{:<34} {:>14}", "path", "rate (M/s)");
        for (name, r) in rows {
            println!("{:<34} {:>14.2}", name, r / 1e6);
        }
        println!();
        println!("mailbox_vs_actix        = {mailbox_vs_actix:.2}");
        println!("mailbox_single_vs_actix = {mailbox_single_vs_actix:.2}");
        println!("e2e_vs_tokio_spawn      = {e2e_vs_tokio_spawn:.2}");
        println!("e2e_vs_rayon            = {e2e_vs_rayon:.2}");
    }
}
