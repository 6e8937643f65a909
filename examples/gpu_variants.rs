//! Compares GPU placement policies on every pod list of the openb family
//! under the FGD paper's method: allocation at 100 % and 130 % offered
//! (mean ± sd over seeds), and drops by pod shape.
//!
//! Run it in release:
//!
//! ```sh
//! cargo run --release --example gpu_variants -- --seeds 10 fgd fragmentation-aware
//! cargo run --release --example gpu_variants -- --lists default,gpuspec10 \
//!     "tuned:measure=fits-one,quantised=1,tie=least-left,power=1,prior=1"
//! ```
//!
//! A policy is `fgd`, `fragmentation-aware`, `best-fit` or
//! `tuned:KEY=VALUE,...` with the keys of `FragTuning` (`measure` =
//! `fill`/`fits-one`, `quantised` = 0/1, `tie` = `index`/`least-left`/
//! `fill`, `power`, `half-life`) and `prior` = 0/1 (start from the pod
//! list's mix, as FGD does). `--data DIR` is the directory with the
//! `openb_pod_list_*.csv` files (default `data/openb`); `--seeds N` and
//! `--first-seed S` run seeds S to S + N − 1 (default 42, 10).
//!
//! What to look for: the column "Δ vs fgd" (percentage points at 100 %).

use allot::policy::{
    BestFit, Fgd, FragTuning, FragmentationAware, GpuDemand, GpuPlacement, Measure, TieBreak,
};
use allot::sim::cluster::{FgdConfig, FgdRun, Scenario};
use allot::sim::openb::Trace;
use std::path::PathBuf;

fn make(spec: &str, workload: &[GpuDemand]) -> Result<Box<dyn GpuPlacement>, String> {
    match spec {
        "fgd" => return Ok(Box::new(Fgd::from_workload(workload, 0.95))),
        "fragmentation-aware" => {
            return Ok(Box::new(FragmentationAware::new().with_prior(workload)))
        }
        "best-fit" => return Ok(Box::new(BestFit::new())),
        _ => {}
    }
    let rest = spec
        .strip_prefix("tuned:")
        .ok_or_else(|| format!("unknown policy `{spec}`"))?;
    let mut t = FragTuning::default();
    let mut prior = false;
    let mut coverage = 1.0;
    for kv in rest.split(',').filter(|s| !s.is_empty()) {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| format!("`{kv}`: expected KEY=VALUE"))?;
        let num = || v.parse::<f64>().map_err(|e| format!("`{kv}`: {e}"));
        match k {
            "measure" => {
                t.measure = match v {
                    "fill" => Measure::Fill,
                    "fits-one" => Measure::FitsOne,
                    _ => return Err(format!("`{kv}`: unknown measure")),
                }
            }
            "quantised" => t.quantised = num()? != 0.0,
            "tie" => {
                t.tie_break = match v {
                    "index" => TieBreak::Index,
                    "least-left" => TieBreak::LeastLeft,
                    "fill" => TieBreak::Fill,
                    "reserve-fill" => TieBreak::ReserveThenFill,
                    "reserve-all-fill" => TieBreak::ReserveAllThenFill,
                    _ => return Err(format!("`{kv}`: unknown tie-break")),
                }
            }
            "power" => t.weight_power = num()?,
            "half-life" => t.half_life = num()?,
            "prior" => prior = num()? != 0.0,
            "levels" => t.levels = num()?,
            "coverage" => coverage = num()?,
            "gpu-ties" => t.gpu_ties = num()? != 0.0,
            _ => return Err(format!("`{kv}`: unknown key")),
        }
    }
    let p = FragmentationAware::with_tuning(t).coverage(coverage);
    Ok(Box::new(if prior { p.with_prior(workload) } else { p }))
}

struct Stats {
    at100: Vec<f64>,
    at130: Vec<f64>,
    drops8: Vec<f64>,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
}

fn run(trace: &Trace, spec: &str, seeds: &[u64]) -> Result<Stats, String> {
    let workload: Vec<GpuDemand> = trace.pods.iter().map(|p| p.demand).collect();
    let one = |seed: u64| -> Result<FgdRun, String> {
        let config = FgdConfig {
            seed,
            ..FgdConfig::default()
        };
        let sc = Scenario::new(trace, &config).map_err(|e| e.to_string())?;
        let mut p = make(spec, &workload)?;
        sc.run(p.as_mut(), seed).map_err(|e| e.to_string())
    };
    let runs: Vec<Result<FgdRun, String>> = std::thread::scope(|s| {
        let hs: Vec<_> = [0, 1]
            .into_iter()
            .map(|h| {
                let one = &one;
                s.spawn(move || {
                    seeds
                        .iter()
                        .skip(h)
                        .step_by(2)
                        .map(|&seed| one(seed))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    let mut st = Stats {
        at100: vec![],
        at130: vec![],
        drops8: vec![],
    };
    for r in runs {
        let r = r?;
        st.at100.push(r.allocation_at(100).unwrap_or(f64::NAN));
        st.at130.push(r.allocation_at(130).unwrap_or(f64::NAN));
        st.drops8.push(
            r.dropped
                .iter()
                .filter(|d| d.demand.gpus == 8 && d.offered_pct <= 100.0)
                .count() as f64,
        );
    }
    Ok(st)
}

fn main() {
    if let Err(e) = real_main() {
        eprintln!("gpu_variants: {e}");
        std::process::exit(1);
    }
}

/// FGD against fragmentation-aware tunings on the openb family.
#[derive(Debug, clap::Parser)]
#[command(name = "gpu_variants")]
struct Args {
    /// How many seeds.
    #[arg(long, default_value_t = 10)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 42)]
    first_seed: u64,
    /// The directory with the node list and the `openb_pod_list_*.csv` files.
    #[arg(long, value_name = "DIR", default_value = "data/openb")]
    data: PathBuf,
    /// The pod lists, comma-separated (`default` is `openb_pod_list_default.csv`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "default,gpushare40,multigpu30,gpuspec10,cpu050"
    )]
    lists: Vec<String>,
    /// Policies: `fgd`, `fragmentation-aware`, `best-fit` or `tuned:KEY=VALUE,…`.
    policies: Vec<String>,
}

fn real_main() -> Result<(), String> {
    let args = <Args as clap::Parser>::parse();
    let (seeds, first, data, lists) = (args.seeds, args.first_seed, args.data, args.lists);
    let mut specs = args.policies;
    if specs.is_empty() {
        specs = vec!["fgd".into(), "fragmentation-aware".into()];
    }
    let seeds: Vec<u64> = (first..first + seeds).collect();
    for l in &lists {
        let trace = Trace::load(
            data.join("openb_node_list_all_node.csv"),
            data.join(format!("openb_pod_list_{l}.csv")),
        )
        .map_err(|e| e.to_string())?;
        let fgd = run(&trace, "fgd", &seeds)?;
        println!(
            "{l:12} {:60} {:.2} ± {:.2}  @130 {:.2}  8gpu-drops≤100% {:.1}",
            "fgd",
            mean(&fgd.at100),
            sd(&fgd.at100),
            mean(&fgd.at130),
            mean(&fgd.drops8)
        );
        for spec in specs.iter().filter(|s| *s != "fgd") {
            let st = run(&trace, spec, &seeds)?;
            let wins = st
                .at100
                .iter()
                .zip(&fgd.at100)
                .filter(|(a, b)| a > b)
                .count();
            println!(
                "{l:12} {spec:60} {:.2} ± {:.2}  @130 {:.2}  8gpu-drops≤100% {:.1}  Δ vs fgd {:+.2} (wins {wins}/{})",
                mean(&st.at100),
                sd(&st.at100),
                mean(&st.at130),
                mean(&st.drops8),
                mean(&st.at100) - mean(&fgd.at100),
                seeds.len()
            );
        }
    }
    Ok(())
}
