//! `allot bench`: message throughput and request/response latency of allot
//! against raw actix, crossbeam-channel, `tokio::spawn` and rayon, in the
//! same run.
//!
//! Every case lives for the whole run and the cases take turns, round after
//! round, so a slow spell of a shared machine hits them alike; the first
//! round is a warm-up, and each figure is the median over the other rounds,
//! shown with its spread (min–max). A ratio is taken within each round
//! (the two cases ran back to back) and summarised the same way.

pub(crate) mod cases;
mod cluster;
mod nats_raw;
mod under_load;

use crate::error::CliError;
use crate::table;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
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
    /// Window of each idle and trickle case per round, in milliseconds (0
    /// to 60000; 0 skips them).
    #[arg(long, default_value_t = 1_000, value_parser = at_most::<60_000>)]
    pub(crate) idle_ms: usize,
    /// Unrelated CPU work during the whole measurement, the same for every
    /// case: N processes that spin (0 to 64; 1 keeps one core busy).
    #[arg(long, default_value_t = 0, value_parser = at_most::<64>)]
    pub(crate) busy: usize,
    /// Also write the results as JSON to FILE (`-` for stdout; the table
    /// then goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
}

/// A whole number from 0 to `MAX`.
fn at_most<const MAX: usize>(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n <= MAX => Ok(n),
        _ => Err(format!(
            "expected a whole number from 0 to {MAX}, got `{s}`"
        )),
    }
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

/// One figure over the measured rounds: its median and spread, and every
/// round's value.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Figure {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) rounds: Vec<f64>,
}

impl Figure {
    /// The figure of `rounds` (at least one).
    pub(crate) fn of(rounds: Vec<f64>) -> Figure {
        let mut sorted = rounds.clone();
        sorted.sort_by(f64::total_cmp);
        Figure {
            median: sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN),
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            rounds,
        }
    }

    /// `a ÷ b` round by round.
    fn ratio(a: &Figure, b: &Figure) -> Figure {
        Figure::of(a.rounds.iter().zip(&b.rounds).map(|(x, y)| x / y).collect())
    }

    /// `min–max` with `decimals`, scaled by `scale`.
    fn spread(&self, scale: f64, decimals: usize) -> String {
        format!(
            "{:.decimals$}–{:.decimals$}",
            self.min * scale,
            self.max * scale
        )
    }
}

/// The p50 and p99 of one round's round trips, in seconds (hdrhistogram,
/// three significant digits).
fn percentiles(trips: impl Iterator<Item = Duration>) -> (f64, f64) {
    let mut h = hdrhistogram::Histogram::<u64>::new(3).expect("3 significant digits is valid");
    for d in trips {
        // The histogram grows to fit; past what it can track, its largest
        // value.
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if h.record(ns).is_err() {
            h.saturating_record(ns);
        }
    }
    let at = |q: f64| h.value_at_quantile(q) as f64 / 1e9;
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

const UNDER_LOAD: [&str; 4] = [
    "allot urgent submit + wait",
    "allot normal submit + wait",
    "actix send + await",
    "tokio::spawn + await",
];

const ROUND_TRIP: [&str; 5] = [
    "allot submit + wait",
    "actix send + await",
    "crossbeam-channel request + reply",
    "tokio::spawn + await",
    "rayon install",
];

/// Every case's figures.
#[derive(Debug)]
pub(crate) struct Results {
    /// Messages per second.
    mailbox: Vec<Figure>,
    /// Tasks or requests per second.
    end_to_end: Vec<Figure>,
    /// CPU seconds (all threads) per million messages, per mailbox case.
    mailbox_cpu: Vec<Figure>,
    /// CPU seconds (all threads) per million tasks, per end-to-end case.
    end_to_end_cpu: Vec<Figure>,
    /// Round trips, seconds.
    p50_s: Vec<Figure>,
    p99_s: Vec<Figure>,
    /// Round trips while a flood runs on the same runtime, seconds.
    loaded_p50_s: Vec<Figure>,
    loaded_p99_s: Vec<Figure>,
    /// CPU seconds per second of the idle and trickle cases (empty with
    /// `--idle-ms 0`).
    quiet_cpu: Vec<Figure>,
}

fn measure(args: &BenchArgs) -> Results {
    let (n, nodes) = (args.messages, args.nodes);
    // One at a time is slow; cap it so a round stays short.
    let single_n = n.min(100_000);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(nodes)
        .build()
        .expect("tokio runtime starts");
    let sink = under_load::Actix::start();
    // The idle and trickle cases first, before the other cases' runtimes
    // and pools exist: their idle threads would be in every window.
    let mut quiet = vec![Vec::new(); under_load::QUIET.len()];
    if args.idle_ms > 0 {
        let window = Duration::from_millis(args.idle_ms as u64);
        for round in 0..=args.runs {
            let q = under_load::quiet(window, &tokio_rt, &sink);
            if round > 0 {
                for (i, v) in q.into_iter().enumerate() {
                    quiet[i].push(v);
                }
            }
        }
    }
    let actix = cases::ActixBaseline::start();
    let pool = cases::CrossbeamPool::start(nodes);
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
    let loaded_rt = under_load::priority_runtime(nodes);
    let lh = loaded_rt.handle().clone();
    // A case's rate, and the process's CPU seconds per million of its
    // messages or tasks.
    let rate = |count: usize, case: &mut dyn FnMut() -> Duration| {
        let cpu = cases::process_cpu_ns();
        let d = case();
        let cpu = cases::process_cpu_ns().saturating_sub(cpu);
        (
            count as f64 / d.as_secs_f64(),
            cpu as f64 / 1e9 / count as f64 * 1e6,
        )
    };

    let mut mailbox = vec![Vec::new(); MAILBOX.len()];
    let mut e2e = vec![Vec::new(); END_TO_END.len()];
    let mut mailbox_cpu = vec![Vec::new(); MAILBOX.len()];
    let mut e2e_cpu = vec![Vec::new(); END_TO_END.len()];
    let mut p50 = vec![Vec::new(); ROUND_TRIP.len()];
    let mut p99 = vec![Vec::new(); ROUND_TRIP.len()];
    let mut loaded_p50 = vec![Vec::new(); UNDER_LOAD.len()];
    let mut loaded_p99 = vec![Vec::new(); UNDER_LOAD.len()];
    for round in 0..=args.runs {
        let m = [
            rate(n, &mut || cases::allot_mailbox(&h, n, args.batch)),
            rate(single_n, &mut || cases::allot_mailbox(&h, single_n, 1)),
            rate(n, &mut || actix.do_send(n)),
            rate(n, &mut || cases::crossbeam(n)),
            rate(n, &mut || cases::tokio_spawn_detached(&tokio_rt, n)),
            rate(n, &mut || cases::rayon_spawn_detached(&rayon_pool, n)),
            rate(n, &mut || cases::allot_mailbox_handles(&h, n, args.batch)),
        ];
        let e = [
            rate(n, &mut || cases::allot_e2e(&h, n, args.batch)),
            rate(n, &mut || actix.send_all(&caller_rt, n)),
            rate(n, &mut || pool.all(n)),
            rate(n, &mut || cases::tokio_spawn(&tokio_rt, n)),
            rate(n, &mut || cases::rayon_spawn(&rayon_pool, n)),
            rate(single_n, &mut || cases::allot_e2e_single(&h, single_n)),
        ];
        let trips = |f: &dyn Fn() -> Duration| percentiles((0..args.requests).map(|_| f()));
        let l = [
            trips(&|| cases::allot_round_trip(&h)),
            trips(&|| actix.round_trip(&caller_rt)),
            trips(&|| pool.round_trip()),
            trips(&|| cases::tokio_round_trip(&tokio_rt)),
            trips(&|| cases::rayon_round_trip(&rayon_pool)),
        ];
        let [urgent, normal] = under_load::allot(&lh, args.requests, args.batch);
        let loaded = [
            percentiles(urgent.into_iter()),
            percentiles(normal.into_iter()),
            percentiles(sink.round_trips(args.requests, args.batch).into_iter()),
            percentiles(under_load::tokio(&tokio_rt, args.requests, args.batch).into_iter()),
        ];
        tracing::debug!(round, "bench.round");
        if round == 0 {
            continue;
        }
        for (i, (a, b)) in loaded.into_iter().enumerate() {
            loaded_p50[i].push(a);
            loaded_p99[i].push(b);
        }
        for (i, (r, c)) in m.into_iter().enumerate() {
            mailbox[i].push(r);
            mailbox_cpu[i].push(c);
        }
        for (i, (r, c)) in e.into_iter().enumerate() {
            e2e[i].push(r);
            e2e_cpu[i].push(c);
        }
        for (i, (a, b)) in l.into_iter().enumerate() {
            p50[i].push(a);
            p99[i].push(b);
        }
    }
    rt.shutdown();
    loaded_rt.shutdown();
    let figures = |v: Vec<Vec<f64>>| v.into_iter().map(Figure::of).collect();
    Results {
        mailbox: figures(mailbox),
        end_to_end: figures(e2e),
        mailbox_cpu: figures(mailbox_cpu),
        end_to_end_cpu: figures(e2e_cpu),
        p50_s: figures(p50),
        p99_s: figures(p99),
        loaded_p50_s: figures(loaded_p50),
        loaded_p99_s: figures(loaded_p99),
        quiet_cpu: if args.idle_ms > 0 {
            figures(quiet)
        } else {
            Vec::new()
        },
    }
}

/// A named ratio of two cases, taken round by round.
#[derive(Debug, Serialize)]
struct Ratio {
    #[serde(skip)]
    name: &'static str,
    /// `numerator ÷ denominator`, by case name.
    divides: String,
    /// What a value above 1 means.
    above_1_means: &'static str,
    #[serde(flatten)]
    figure: Figure,
}

/// Every ratio: throughput ones are allot ÷ baseline (above 1: allot is
/// faster), latency ones allot ÷ baseline at p50 and at p99 (above 1: allot
/// is slower).
fn ratios(r: &Results) -> Vec<Ratio> {
    let (m, e) = (&r.mailbox, &r.end_to_end);
    let faster = "allot is faster";
    let slower = "allot is slower";
    let mut out = Vec::new();
    let mut add = |name, (na, a): (&str, &Figure), (nb, b): (&str, &Figure), means| {
        out.push(Ratio {
            name,
            divides: format!("{na} ÷ {nb}"),
            above_1_means: means,
            figure: Figure::ratio(a, b),
        });
    };
    let mb = |i: usize| (MAILBOX[i], &m[i]);
    let ee = |i: usize| (END_TO_END[i], &e[i]);
    add("mailbox_vs_actix", mb(0), mb(2), faster);
    add("mailbox_single_vs_actix", mb(1), mb(2), faster);
    add("mailbox_vs_crossbeam", mb(0), mb(3), faster);
    add("mailbox_vs_tokio_spawn", mb(0), mb(4), faster);
    add("mailbox_vs_rayon", mb(0), mb(5), faster);
    add("e2e_vs_actix", ee(0), ee(1), faster);
    add("e2e_vs_crossbeam", ee(0), ee(2), faster);
    add("e2e_vs_tokio_spawn", ee(0), ee(3), faster);
    add("e2e_vs_rayon", ee(0), ee(4), faster);
    add("e2e_single_vs_tokio_spawn", ee(5), ee(3), faster);
    add("e2e_single_vs_actix", ee(5), ee(1), faster);
    let more = "allot uses more CPU per task";
    let (mc, ec) = (&r.mailbox_cpu, &r.end_to_end_cpu);
    let mcpu = |i: usize| (MAILBOX[i], &mc[i]);
    let ecpu = |i: usize| (END_TO_END[i], &ec[i]);
    add("mailbox_cpu_vs_actix", mcpu(0), mcpu(2), more);
    add("mailbox_single_cpu_vs_actix", mcpu(1), mcpu(2), more);
    add("e2e_cpu_vs_actix", ecpu(0), ecpu(1), more);
    add("e2e_single_cpu_vs_actix", ecpu(5), ecpu(1), more);
    add("e2e_cpu_vs_tokio_spawn", ecpu(0), ecpu(3), more);
    add("e2e_cpu_vs_rayon", ecpu(0), ecpu(4), more);
    let p50 = |i: usize| (ROUND_TRIP_P50[i], &r.p50_s[i]);
    let p99 = |i: usize| (ROUND_TRIP_P99[i], &r.p99_s[i]);
    for i in 1..ROUND_TRIP.len() {
        add(RR_P50_NAMES[i - 1], p50(0), p50(i), slower);
        add(RR_P99_NAMES[i - 1], p99(0), p99(i), slower);
    }
    let lp99 = |i: usize| (UNDER_LOAD_P99[i], &r.loaded_p99_s[i]);
    add("loaded_p99_urgent_vs_actix", lp99(0), lp99(2), slower);
    add("loaded_p99_normal_vs_actix", lp99(1), lp99(2), slower);
    add("loaded_p99_urgent_vs_tokio_spawn", lp99(0), lp99(3), slower);
    add("loaded_p99_normal_vs_tokio_spawn", lp99(1), lp99(3), slower);
    out
}

const UNDER_LOAD_P99: [&str; 4] = [
    "allot urgent submit + wait p99 under a flood",
    "allot normal submit + wait p99 under a flood",
    "actix send + await p99 under a flood",
    "tokio::spawn + await p99 under a flood",
];

const ROUND_TRIP_P50: [&str; 5] = [
    "allot submit + wait p50",
    "actix send + await p50",
    "crossbeam-channel request + reply p50",
    "tokio::spawn + await p50",
    "rayon install p50",
];
const ROUND_TRIP_P99: [&str; 5] = [
    "allot submit + wait p99",
    "actix send + await p99",
    "crossbeam-channel request + reply p99",
    "tokio::spawn + await p99",
    "rayon install p99",
];
const RR_P50_NAMES: [&str; 4] = [
    "rr_p50_vs_actix",
    "rr_p50_vs_crossbeam",
    "rr_p50_vs_tokio_spawn",
    "rr_p50_vs_rayon",
];
const RR_P99_NAMES: [&str; 4] = [
    "rr_p99_vs_actix",
    "rr_p99_vs_crossbeam",
    "rr_p99_vs_tokio_spawn",
    "rr_p99_vs_rayon",
];

fn to_json(args: &BenchArgs, r: &Results) -> Value {
    let named = |names: &[&str], values: &[Figure]| -> Value {
        Value::Object(
            names
                .iter()
                .zip(values)
                .map(|(n, v)| ((*n).to_owned(), json!(v)))
                .collect::<Map<String, Value>>(),
        )
    };
    let ratios: Map<String, Value> = ratios(r)
        .into_iter()
        .map(|x| (x.name.to_owned(), json!(x)))
        .collect();
    json!({
        "messages": args.messages,
        "nodes": args.nodes,
        "batch": args.batch,
        "runs": args.runs,
        "requests": args.requests,
        "busy_processes": args.busy,
        "units": "rates in messages or tasks per second (`_per_s`), round trips in seconds (`_s`), CPU in seconds of all the process's threads per million messages or tasks (`cpu_s_per_million`) or per second of wall time (`cpu_s_per_s`); every figure is the median of the measured rounds with their min, max and each round's value, and every ratio is taken round by round",
        "mailbox": {
            "rates_per_s": named(&MAILBOX, &r.mailbox),
            "cpu_s_per_million": named(&MAILBOX, &r.mailbox_cpu),
        },
        "end_to_end": {
            "rates_per_s": named(&END_TO_END, &r.end_to_end),
            "cpu_s_per_million": named(&END_TO_END, &r.end_to_end_cpu),
        },
        "request_response": {
            "p50_s": named(&ROUND_TRIP, &r.p50_s),
            "p99_s": named(&ROUND_TRIP, &r.p99_s),
        },
        "under_load": {
            "p50_s": named(&UNDER_LOAD, &r.loaded_p50_s),
            "p99_s": named(&UNDER_LOAD, &r.loaded_p99_s),
        },
        "idle": {
            "window_s": args.idle_ms as f64 / 1e3,
            "trickle_every_s": under_load::TRICKLE.as_secs_f64(),
            "cpu_s_per_s": named(&under_load::QUIET, &r.quiet_cpu),
        },
        "ratios": ratios,
    })
}

fn print_table(args: &BenchArgs, r: &Results, out: &mut impl Write) -> io::Result<()> {
    let spread = args.runs > 1;
    writeln!(
        out,
        "allot bench: {} messages, {} nodes/threads, batch {}, {} round trips per round; median of {} round{} after a warm-up{}",
        args.messages,
        args.nodes,
        args.batch,
        args.requests,
        args.runs,
        if args.runs == 1 { "" } else { "s" },
        if spread { ", with min–max" } else { "" },
    )?;
    if args.busy > 0 {
        writeln!(
            out,
            "unrelated CPU work: {} spinning process{} for the whole measurement",
            args.busy,
            if args.busy == 1 { "" } else { "es" }
        )?;
    }
    for (title, names, rates, cpu) in [
        (
            "mailbox (fire-and-forget into one consumer)",
            &MAILBOX[..],
            &r.mailbox,
            &r.mailbox_cpu,
        ),
        (
            "end-to-end (n tasks or requests, every result received)",
            &END_TO_END[..],
            &r.end_to_end,
            &r.end_to_end_cpu,
        ),
    ] {
        writeln!(out)?;
        writeln!(out, "{title}")?;
        writeln!(
            out,
            "  ratio = {} ÷ this row, round by round (above 1: {} is faster); CPU s/M = CPU seconds of all threads per million",
            names[0], names[0]
        )?;
        let mut header = vec!["  case", "M/s"];
        if spread {
            header.push("min–max");
        }
        header.push("ratio");
        if spread {
            header.push("min–max");
        }
        header.push("CPU s/M");
        let mut t = table::new(&header, 1);
        for (i, (name, rate)) in names.iter().zip(rates.iter()).enumerate() {
            let ratio = Figure::ratio(&rates[0], rate);
            let mut row = vec![format!("  {name}"), format!("{:.3}", rate.median / 1e6)];
            if spread {
                row.push(rate.spread(1e-6, 3));
            }
            if i == 0 {
                row.push("(reference)".into());
                if spread {
                    row.push(String::new());
                }
            } else {
                row.push(format!("{:.2}", ratio.median));
                if spread {
                    row.push(ratio.spread(1.0, 2));
                }
            }
            row.push(format!("{:.3}", cpu[i].median));
            t.add_row(row);
        }
        table::write(out, &t, "")?;
    }
    writeln!(out)?;
    writeln!(out, "request/response (one at a time, µs)")?;
    let mut header = vec!["  case", "p50"];
    if spread {
        header.push("min–max");
    }
    header.push("p99");
    if spread {
        header.push("min–max");
    }
    let mut t = table::new(&header, 1);
    for (i, name) in ROUND_TRIP.iter().enumerate() {
        let mut row = vec![format!("  {name}")];
        for f in [&r.p50_s[i], &r.p99_s[i]] {
            row.push(format!("{:.1}", f.median * 1e6));
            if spread {
                row.push(f.spread(1e6, 1));
            }
        }
        t.add_row(row);
    }
    table::write(out, &t, "")?;
    writeln!(out)?;
    writeln!(
        out,
        "request/response under load (one at a time while another thread floods the same runtime, actor or pool with batches of {}; µs)",
        args.batch
    )?;
    let mut t = table::new(&header, 1);
    for (i, name) in UNDER_LOAD.iter().enumerate() {
        let mut row = vec![format!("  {name}")];
        for f in [&r.loaded_p50_s[i], &r.loaded_p99_s[i]] {
            row.push(format!("{:.1}", f.median * 1e6));
            if spread {
                row.push(f.spread(1e6, 1));
            }
        }
        t.add_row(row);
    }
    table::write(out, &t, "")?;
    if !r.quiet_cpu.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "idle and trickle (CPU ms of all threads per second of wall time, {} ms windows, before the other cases start)",
            args.idle_ms
        )?;
        let mut header = vec!["  case", "CPU ms/s"];
        if spread {
            header.push("min–max");
        }
        let mut t = table::new(&header, 1);
        for (name, f) in under_load::QUIET.iter().zip(&r.quiet_cpu) {
            let mut row = vec![format!("  {name}"), format!("{:.2}", f.median * 1e3)];
            if spread {
                row.push(f.spread(1e3, 2));
            }
            t.add_row(row);
        }
        table::write(out, &t, "")?;
    }
    writeln!(out)?;
    writeln!(out, "ratios (round by round)")?;
    let mut header = vec!["  name", "divides", "median"];
    if spread {
        header.push("min–max");
    }
    header.push("above 1:");
    let mut t = table::new(&header, 2);
    for x in ratios(r) {
        let mut row = vec![
            format!("  {}", x.name),
            x.divides,
            format!("{:.2}", x.figure.median),
        ];
        if spread {
            row.push(x.figure.spread(1.0, 2));
        }
        row.push(x.above_1_means.to_owned());
        t.add_row(row);
    }
    if let Some(c) = t.column_mut(header.len() - 1) {
        c.set_cell_alignment(comfy_table::CellAlignment::Left);
    }
    table::write(out, &t, "")
}

/// Prints a table to stdout, or to stderr when stdout carries the JSON
/// (`--json -`), and writes the JSON.
fn show(
    json: Option<&Path>,
    table: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    value: impl FnOnce() -> Value,
) -> Result<(), CliError> {
    let shown = if json == Some(Path::new("-")) {
        table(&mut io::stderr().lock())
    } else {
        table(&mut io::stdout().lock())
    };
    shown.map_err(|e| CliError::Other(format!("cannot print the results: {e}")))?;
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&value())
            .map_err(|e| CliError::Other(format!("cannot encode the results: {e}")))?;
        crate::output::write(path, &text)?;
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
    if let Some(path) = &args.json {
        crate::output::check_dir(path)?;
    }
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
        let _busy = cases::Busy::start(args.busy)
            .map_err(|e| CliError::Other(format!("cannot start the busy processes: {e}")))?;
        let r = cluster::measure(plan, &worker).map_err(CliError::Other)?;
        return show(
            args.json.as_deref(),
            |mut out| r.print(&mut out),
            || r.to_json(),
        );
    }
    let busy = cases::Busy::start(args.busy)
        .map_err(|e| CliError::Other(format!("cannot start the busy processes: {e}")))?;
    let results = measure(args);
    drop(busy);
    show(
        args.json.as_deref(),
        |mut out| print_table(args, &results, &mut out),
        || to_json(args, &results),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_percentiles_are_in_seconds() {
        let (p50, p99) = percentiles((1..=100).map(Duration::from_micros));
        assert!((p50 - 50e-6).abs() <= 50e-9, "{p50}");
        assert!((p99 - 99e-6).abs() <= 99e-9, "{p99}");
    }

    #[test]
    fn a_figure_is_the_median_and_spread_of_its_rounds_and_ratios_go_round_by_round() {
        let a = Figure::of(vec![3.0, 1.0, 2.0]);
        assert_eq!((a.median, a.min, a.max), (2.0, 1.0, 3.0));
        assert_eq!(a.rounds, [3.0, 1.0, 2.0]);
        let b = Figure::of(vec![1.5, 1.0, 4.0]);
        let r = Figure::ratio(&a, &b);
        assert_eq!(r.rounds, [2.0, 1.0, 0.5]);
        assert_eq!((r.median, r.min, r.max), (1.0, 0.5, 2.0));
        assert_eq!(a.spread(1.0, 1), "1.0–3.0");
    }
}
