//! What the open dashboard costs the data path: the throughput example's
//! mailbox and end-to-end cases on a runtime without the dashboard, on one
//! with it while a reader polls its overview, nodes and `/metrics` once a
//! second, and on one that also retains finished tasks (the dashboard's
//! default), in turn, in the same run.
//!
//! ```sh
//! cargo run --release --features dashboard --example dashboard_cost               # 2 000 000 tasks, 7 pairs
//! cargo run --release --features dashboard --example dashboard_cost -- 1000000 11
//! cargo run --release --features dashboard --example dashboard_cost -- 1000000 3 retaining  # one setup, to profile
//! cargo run --release --features dashboard --example dashboard_cost -- 1000000 5 all 10000  # retaining 10 000, not the default
//! ```
//!
//! Look for: the ratios to `off` (the goal is ≥ 0.95), each the ratio of
//! the medians of this run's rounds; and the CPU time per task, summed over
//! the process's threads (`/proc/self/task/*/schedstat`), steadier than
//! rates on a loaded machine (the goal: ≤ 1.05 of `off`).

#[path = "../src/bin/allot/bench/cases.rs"]
#[allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    missing_debug_implementations
)]
mod cases;

use allot::{BalancerConfig, NodeSpec, Resources, Runtime};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How a run is set up.
#[derive(Clone, Copy, PartialEq)]
enum Setup {
    /// No dashboard, nothing retained.
    Off,
    /// The dashboard polled, finished tasks not retained.
    Polled,
    /// The dashboard polled, finished tasks retained (its default).
    PolledRetaining,
}

fn runtime(setup: Setup, n: usize, retain: Option<usize>) -> Runtime {
    let mut b = Runtime::builder();
    b.nodes(vec![NodeSpec::new(Resources::cpu(4_000)); 2])
        .queue_capacity(n + 1_024)
        .balancer(BalancerConfig {
            enabled: false,
            ..BalancerConfig::default()
        });
    if setup != Setup::Off {
        b.dashboard("127.0.0.1:0".parse().expect("an address"));
    }
    if setup == Setup::Polled {
        b.retain_finished(0);
    }
    if let (Setup::PolledRetaining, Some(r)) = (setup, retain) {
        b.retain_finished(r);
    }
    b.build().expect("runtime starts")
}

/// Polls the dashboard once a second until told to stop; counts the polls.
fn poller(
    url: String,
    stop: Arc<AtomicBool>,
    polls: Arc<AtomicUsize>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        while !stop.load(Ordering::Relaxed) {
            for path in ["/api/overview", "/api/nodes", "/metrics"] {
                if let Ok(mut r) = agent.get(&format!("{url}{path}")).call() {
                    let _ = r.body_mut().read_to_string();
                }
            }
            polls.fetch_add(1, Ordering::Relaxed);
            // Once a second, but let a stop through quickly.
            for _ in 0..20 {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    })
}

/// A throughput case: runs `n` tasks in batches, returns how long it took.
type Case = fn(&allot::RuntimeHandle, usize, usize) -> Duration;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .map_or(2_000_000, |a| a.parse().expect("a task count"));
    let pairs: usize = args
        .next()
        .map_or(7, |a| a.parse().expect("a number of pairs"));
    let cases: [(&str, Case); 2] = [
        ("mailbox (batched)", cases::allot_mailbox),
        ("end-to-end (submit_batch)", cases::allot_e2e),
    ];
    let only = args.next().and_then(|a| match a.as_str() {
        "all" => None,
        "off" => Some(Setup::Off),
        "polled" => Some(Setup::Polled),
        "retaining" => Some(Setup::PolledRetaining),
        other => panic!("unknown setup `{other}` (all, off, polled or retaining)"),
    });
    let retain: Option<usize> = args
        .next()
        .map(|a| a.parse().expect("a number of finished tasks to retain"));
    let setups: Vec<Setup> = [Setup::Off, Setup::Polled, Setup::PolledRetaining]
        .into_iter()
        .filter(|s| only.is_none_or(|o| o == *s))
        .collect();
    let mut rates = vec![vec![Vec::new(); setups.len()]; cases.len()];
    let mut cpu = vec![vec![Vec::new(); setups.len()]; cases.len()];
    let polls = Arc::new(AtomicUsize::new(0));
    for _ in 0..pairs {
        for (s, &setup) in setups.iter().enumerate() {
            let rt = runtime(setup, n, retain);
            let h = rt.handle().clone();
            let stop = Arc::new(AtomicBool::new(false));
            let reader = h
                .dashboard_addr()
                .map(|a| poller(format!("http://{a}"), Arc::clone(&stop), Arc::clone(&polls)));
            for (k, (_, case)) in cases.iter().enumerate() {
                let cpu_before = cases::process_cpu_ns();
                let took = case(&h, n, 1024);
                let cpu_ns = cases::process_cpu_ns().saturating_sub(cpu_before);
                rates[k][s].push(n as f64 / took.as_secs_f64() / 1e6);
                cpu[k][s].push(cpu_ns as f64 / n as f64);
            }
            stop.store(true, Ordering::Relaxed);
            if let Some(r) = reader {
                let _ = r.join();
            }
            rt.shutdown();
        }
    }
    println!(
        "{n} tasks per run, {pairs} rounds, {} polls of the dashboard",
        polls.load(Ordering::Relaxed)
    );
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "case (M/s, medians)", "off", "polled", "+records", "polled÷off", "+rec÷off"
    );
    if setups.len() < 3 {
        for (k, (name, _)) in cases.iter().enumerate() {
            println!(
                "{name:<28} {:>8.2} M/s {:>8.1} CPU ns/task",
                median(rates[k][0].clone()),
                median(cpu[k][0].clone())
            );
        }
        return;
    }
    for ((name, _), by_setup) in cases.iter().zip(rates) {
        let m: Vec<f64> = by_setup.into_iter().map(median).collect();
        println!(
            "{name:<28} {:>8.2} {:>8.2} {:>8.2} {:>10.3} {:>10.3}",
            m[0],
            m[1],
            m[2],
            m[1] / m[0],
            m[2] / m[0]
        );
    }
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "case (CPU ns/task, medians)", "off", "polled", "+records", "polled÷off", "+rec÷off"
    );
    for ((name, _), by_setup) in cases.iter().zip(cpu) {
        let m: Vec<f64> = by_setup.into_iter().map(median).collect();
        println!(
            "{name:<28} {:>8.1} {:>8.1} {:>8.1} {:>10.3} {:>10.3}",
            m[0],
            m[1],
            m[2],
            m[1] / m[0],
            m[2] / m[0]
        );
    }
}
