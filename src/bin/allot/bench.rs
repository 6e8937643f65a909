//! `allot bench`: message throughput and request/response latency of allot
//! against raw actix, crossbeam-channel, `tokio::spawn` and rayon, in the
//! same run.
//!
//! Every case lives for the whole run and the cases take turns, round after
//! round, so a slow spell of a shared machine hits them alike; the first
//! round is a warm-up, and each figure is the median over the other rounds.

pub(crate) mod cases;
mod cluster;
mod nats_raw;

use crate::error::CliError;
use serde_json::{json, Map, Value};
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

/// Options of `allot bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Messages (or tasks) per throughput case per round (1 to 10^8: a
    /// case holds a handle for each).
    #[arg(long, default_value_t = 200_000, value_parser = up_to::<100_000_000>)]
    pub(crate) messages: usize,
    /// allot nodes, and threads of every baseline pool (tokio, rayon, the
    /// crossbeam-channel workers); within the machine's threads.
    #[arg(long, default_value_t = 2, value_parser = up_to::<{ 1 << 20 }>)]
    pub(crate) nodes: usize,
    /// Tasks per `submit_batch` call in the batched allot cases (1 to
    /// 65536).
    #[arg(long, default_value_t = 1024, value_parser = up_to::<65_536>)]
    pub(crate) batch: usize,
    /// Measured rounds (after one warm-up); figures are medians over them
    /// (1 to 1000).
    #[arg(long, default_value_t = 5, value_parser = up_to::<1_000>)]
    pub(crate) runs: usize,
    /// Round trips per request/response case per round (1 to 10^8).
    #[arg(long, default_value_t = 2_000, value_parser = up_to::<100_000_000>)]
    pub(crate) requests: usize,
    /// Measure cluster mode instead, on the NATS server at URL: two
    /// worker processes of this binary, no-op named tasks, against raw
    /// JetStream publish → pull → ack and raw request/reply.
    #[arg(long, value_name = "URL")]
    pub(crate) nats: Option<String>,
    /// With `--nats`: attempts in flight per remote node beyond its slot.
    #[arg(long, default_value_t = 64, value_parser = up_to::<4_096>)]
    pub(crate) prefetch: usize,
    /// Write the results as JSON to FILE (`-` for stdout, instead of the
    /// table).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

/// A whole number from 1 to `MAX`.
fn up_to<const MAX: usize>(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=MAX).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to {MAX}, got `{s}`"
        )),
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The p50 and p99 of one round's round trips, in microseconds.
fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e6;
    (at(0.5), at(0.99))
}

const MAILBOX: [&str; 7] = [
    "allot mailbox (batched)",
    "allot mailbox (one at a time)",
    "actix do_send",
    "crossbeam-channel send",
    "tokio::spawn (detached)",
    "rayon spawn (detached)",
    "allot mailbox (batched, handles)",
];

const END_TO_END: [&str; 6] = [
    "allot submit_batch + wait",
    "actix send + await",
    "crossbeam-channel worker pool",
    "tokio::spawn + await",
    "rayon scope.spawn",
    "allot submit + wait (one at a time)",
];

const ROUND_TRIP: [&str; 5] = [
    "allot submit + wait",
    "actix send + await",
    "crossbeam-channel request + reply",
    "tokio::spawn + await",
    "rayon install",
];

/// Medians of every case.
#[derive(Debug)]
pub(crate) struct Results {
    mailbox: Vec<f64>,
    end_to_end: Vec<f64>,
    p50_us: Vec<f64>,
    p99_us: Vec<f64>,
}

fn measure(args: &BenchArgs) -> Results {
    let (n, nodes) = (args.messages, args.nodes);
    // One at a time is slow; cap it so a round stays short.
    let single_n = n.min(100_000);
    let actix = cases::ActixBaseline::start();
    let pool = cases::CrossbeamPool::start(nodes);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(nodes)
        .build()
        .expect("tokio runtime starts");
    // actix futures are awaited from a runtime of their own, as a caller would.
    let caller_rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime starts");
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(nodes)
        .build()
        .expect("rayon pool starts");
    let rt = cases::allot_runtime(nodes);
    let h = rt.handle().clone();
    let rate = |count: usize, d: Duration| count as f64 / d.as_secs_f64();

    let mut mailbox = vec![Vec::new(); MAILBOX.len()];
    let mut e2e = vec![Vec::new(); END_TO_END.len()];
    let mut p50 = vec![Vec::new(); ROUND_TRIP.len()];
    let mut p99 = vec![Vec::new(); ROUND_TRIP.len()];
    for round in 0..=args.runs {
        let m = [
            rate(n, cases::allot_mailbox(&h, n, args.batch)),
            rate(single_n, cases::allot_mailbox(&h, single_n, 1)),
            rate(n, actix.do_send(n)),
            rate(n, cases::crossbeam(n)),
            rate(n, cases::tokio_spawn_detached(&tokio_rt, n)),
            rate(n, cases::rayon_spawn_detached(&rayon_pool, n)),
            rate(n, cases::allot_mailbox_handles(&h, n, args.batch)),
        ];
        let e = [
            rate(n, cases::allot_e2e(&h, n, args.batch)),
            rate(n, actix.send_all(&caller_rt, n)),
            rate(n, pool.all(n)),
            rate(n, cases::tokio_spawn(&tokio_rt, n)),
            rate(n, cases::rayon_spawn(&rayon_pool, n)),
            rate(single_n, cases::allot_e2e_single(&h, single_n)),
        ];
        let trips =
            |f: &dyn Fn() -> Duration| percentiles((0..args.requests).map(|_| f()).collect());
        let l = [
            trips(&|| cases::allot_round_trip(&h)),
            trips(&|| actix.round_trip(&caller_rt)),
            trips(&|| pool.round_trip()),
            trips(&|| cases::tokio_round_trip(&tokio_rt)),
            trips(&|| cases::rayon_round_trip(&rayon_pool)),
        ];
        tracing::debug!(round, "bench.round");
        if round == 0 {
            continue;
        }
        for (s, v) in mailbox.iter_mut().zip(m) {
            s.push(v);
        }
        for (s, v) in e2e.iter_mut().zip(e) {
            s.push(v);
        }
        for (i, (a, b)) in l.into_iter().enumerate() {
            p50[i].push(a);
            p99[i].push(b);
        }
    }
    rt.shutdown();
    let med = |v: Vec<Vec<f64>>| v.into_iter().map(|mut s| median(&mut s)).collect();
    Results {
        mailbox: med(mailbox),
        end_to_end: med(e2e),
        p50_us: med(p50),
        p99_us: med(p99),
    }
}

/// Throughput ratios: allot ÷ baseline (above 1: allot is faster).
fn throughput_ratios(r: &Results) -> Vec<(&'static str, f64)> {
    let (m, e) = (&r.mailbox, &r.end_to_end);
    vec![
        ("mailbox_vs_actix", m[0] / m[2]),
        ("mailbox_single_vs_actix", m[1] / m[2]),
        ("mailbox_vs_crossbeam", m[0] / m[3]),
        ("mailbox_vs_tokio_spawn", m[0] / m[4]),
        ("mailbox_vs_rayon", m[0] / m[5]),
        ("e2e_vs_actix", e[0] / e[1]),
        ("e2e_vs_crossbeam", e[0] / e[2]),
        ("e2e_vs_tokio_spawn", e[0] / e[3]),
        ("e2e_vs_rayon", e[0] / e[4]),
        ("e2e_single_vs_tokio_spawn", e[5] / e[3]),
        ("e2e_single_vs_actix", e[5] / e[1]),
    ]
}

/// Latency ratios: allot p50 ÷ baseline p50 (above 1: allot is slower).
fn latency_ratios(r: &Results) -> Vec<(&'static str, f64)> {
    let p = &r.p50_us;
    vec![
        ("rr_p50_vs_actix", p[0] / p[1]),
        ("rr_p50_vs_crossbeam", p[0] / p[2]),
        ("rr_p50_vs_tokio_spawn", p[0] / p[3]),
        ("rr_p50_vs_rayon", p[0] / p[4]),
    ]
}

fn to_json(args: &BenchArgs, r: &Results) -> Value {
    let named = |names: &[&str], values: &[f64]| -> Value {
        Value::Object(
            names
                .iter()
                .zip(values)
                .map(|(n, v)| ((*n).to_owned(), json!(v)))
                .collect::<Map<String, Value>>(),
        )
    };
    let ratios: Map<String, Value> = throughput_ratios(r)
        .into_iter()
        .chain(latency_ratios(r))
        .map(|(n, v)| (n.to_owned(), json!(v)))
        .collect();
    json!({
        "messages": args.messages,
        "nodes": args.nodes,
        "batch": args.batch,
        "runs": args.runs,
        "requests": args.requests,
        "mailbox": { "rates_per_s": named(&MAILBOX, &r.mailbox) },
        "end_to_end": { "rates_per_s": named(&END_TO_END, &r.end_to_end) },
        "request_response": {
            "p50_us": named(&ROUND_TRIP, &r.p50_us),
            "p99_us": named(&ROUND_TRIP, &r.p99_us),
        },
        "ratios": ratios,
    })
}

fn print_table(args: &BenchArgs, r: &Results, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "allot bench: {} messages, {} nodes/threads, batch {}, median of {} runs after a warm-up, {} round trips per run",
        args.messages, args.nodes, args.batch, args.runs, args.requests
    )?;
    for (title, names, rates) in [
        (
            "mailbox (fire-and-forget into one consumer)",
            &MAILBOX[..],
            &r.mailbox,
        ),
        (
            "end-to-end (n tasks or requests, every result received)",
            &END_TO_END[..],
            &r.end_to_end,
        ),
    ] {
        writeln!(out)?;
        writeln!(
            out,
            "{title:<58} {:>12} {:>14}",
            "rate (M/s)", "allot ÷ this"
        )?;
        for (name, rate) in names.iter().zip(rates.iter()) {
            writeln!(
                out,
                "  {name:<56} {:>12.3} {:>14.2}",
                rate / 1e6,
                rates[0] / rate
            )?;
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "{:<58} {:>12} {:>10} {:>14}",
        "request/response (one at a time)", "p50 (µs)", "p99 (µs)", "allot p50 ÷"
    )?;
    for (i, name) in ROUND_TRIP.iter().enumerate() {
        writeln!(
            out,
            "  {name:<56} {:>12.1} {:>10.1} {:>14.2}",
            r.p50_us[i],
            r.p99_us[i],
            r.p50_us[0] / r.p50_us[i]
        )?;
    }
    writeln!(out)?;
    writeln!(
        out,
        "ratios (throughput: allot ÷ baseline, above 1 = allot faster)"
    )?;
    for (name, v) in throughput_ratios(r) {
        writeln!(out, "  {name:<26} = {v:.2}")?;
    }
    writeln!(
        out,
        "ratios (latency: allot p50 ÷ baseline p50, above 1 = allot slower)"
    )?;
    for (name, v) in latency_ratios(r) {
        writeln!(out, "  {name:<26} = {v:.2}")?;
    }
    Ok(())
}

/// Runs the benchmark and prints or writes its results.
///
/// # Errors
///
/// When the JSON file cannot be written.
pub(crate) fn run(args: &BenchArgs) -> Result<(), CliError> {
    // The crossbeam, tokio and rayon pools start `nodes` threads each, an
    // allot node two (its executor and its actor's), all alive for the
    // whole run: five per node, counted as six for what else runs.
    let threads = args.nodes as u128 * 6;
    crate::limits::MachineLimits::read()
        .check(threads, 0)
        .map_err(|e| CliError::Other(format!("--nodes {}: {e}", args.nodes)))?;
    if let Some(url) = &args.nats {
        let exe = std::env::current_exe()
            .map_err(|e| CliError::Other(format!("cannot find this binary: {e}")))?;
        let worker = |name: &str, url: &str, prefix: &str, prefetch: usize| {
            let mut c = std::process::Command::new(&exe);
            c.args(["worker", "--nats", url, "--name", name, "--prefix", prefix])
                .args(["--slots", "1", "--prefetch", &prefetch.to_string()]);
            c
        };
        let plan = cluster::Plan {
            url,
            messages: args.messages,
            batch: args.batch,
            requests: args.requests,
            runs: args.runs,
            prefetch: args.prefetch,
        };
        let r = cluster::measure(plan, &worker).map_err(CliError::Other)?;
        return match &args.json {
            Some(path) => {
                let text = serde_json::to_string_pretty(&r.to_json())
                    .map_err(|e| CliError::Other(format!("cannot encode the results: {e}")))?;
                crate::output::write(path, &text)
            }
            None => r
                .print(&mut io::stdout().lock())
                .map_err(|e| CliError::Other(format!("cannot print the results: {e}"))),
        };
    }
    let results = measure(args);
    match &args.json {
        Some(path) => {
            let text = serde_json::to_string_pretty(&to_json(args, &results))
                .map_err(|e| CliError::Other(format!("cannot encode the results: {e}")))?;
            crate::output::write(path, &text)
        }
        None => print_table(args, &results, &mut io::stdout().lock())
            .map_err(|e| CliError::Other(format!("cannot print the results: {e}"))),
    }
}
