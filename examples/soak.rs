//! A soak test: minutes of chaos faults, racing cancels, bursts and idle
//! spells, watching memory, threads and the ledger every second, then a
//! reconciliation of everything submitted against what the handles said
//! and what the ledger counted.
//!
//! ```sh
//! cargo run --release --example soak -- --minutes 30
//! cargo run --release --example soak -- --seconds 20 --seed 3   # a quick run
//! cargo run --release --example soak -- --minutes 5 --no-faults  # the data path alone
//! ```
//!
//! A fault thread keeps injecting node panics, crashes, stops, slow-downs,
//! hangs (for a while, or until the supervisor replaces the node) and
//! mailbox floods; tasks panic, fail, run past their timeouts and are
//! cancelled from another thread while they run. Every second a line of
//! samples goes to stderr (RSS and thread count from `/proc/self/status`,
//! the ledger's totals); the last line on stdout begins `soak:` and gives
//! `lost=`, `duplicated=` and `mismatched=` (the ledger's counts against
//! the handles'; all must be 0: the program exits non-zero otherwise), the
//! RSS at minute 1 and at the end (it must not grow after warm-up) and the
//! peak thread count (it must stay bounded).
//!
//! The program counts the bytes it holds on the heap (a counting global
//! allocator, the `cap` crate around the system allocator), so that
//! growth of the live heap (a leak, or buffers growing) can be told from
//! growth of RSS alone (memory the allocator keeps after it was freed).

use allot::{
    BalancerConfig, Fault, FaultPlan, FaultSpec, NodeId, NodeSpec, Resources, Runtime,
    RuntimeHandle, SupervisionConfig, Task, TaskError, TaskHandle, TaskKind,
};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Counts the bytes live on the heap; no limit.
#[global_allocator]
static HEAP: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

const NODES: usize = 6;
/// The most tasks in one batch.
const LARGEST_BURST: usize = 60_000;

/// A soak test: the runtime for minutes under everything at once
/// (bursts, faults, cancels, timeouts), watching memory and threads.
#[derive(Debug, Parser)]
#[command(name = "soak")]
struct Args {
    /// How long to run, in minutes (default: 1).
    #[arg(long, value_name = "N", conflicts_with = "seconds", value_parser = clap::value_parser!(u64).range(1..))]
    minutes: Option<u64>,
    /// How long to run, in seconds.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    seconds: Option<u64>,
    /// Seed of the bursts and faults.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// No injected faults (to tell a leak of the fault paths from one of
    /// the data path).
    #[arg(long)]
    no_faults: bool,
}

impl Args {
    /// How long to run.
    fn duration(&self) -> Duration {
        match (self.minutes, self.seconds) {
            (Some(m), _) => Duration::from_secs(m.saturating_mul(60)),
            (None, Some(s)) => Duration::from_secs(s),
            (None, None) => Duration::from_secs(60),
        }
    }
}

/// What the per-second samples add up to (kept as running figures, so
/// that sampling itself does not grow the heap).
#[derive(Debug, Default)]
struct Watch {
    samples: u64,
    /// RSS at the first sample at or after one minute.
    rss_min1_kib: Option<u64>,
    /// Largest RSS from minute 1 on.
    rss_max_after_min1_kib: Option<u64>,
    /// RSS at the last sample.
    rss_last_kib: u64,
    /// Live heap bytes at the first sample at or after one minute.
    heap_min1: Option<u64>,
    /// Largest live heap from minute 1 on.
    heap_max_after_min1: Option<u64>,
    /// Live heap bytes at the last sample.
    heap_last: u64,
    peak_threads: u64,
    peak_in_flight: u64,
}

impl Watch {
    fn add(&mut self, at: Duration, rss_kib: u64, heap: u64, threads: u64, in_flight: u64) {
        self.samples += 1;
        if at >= Duration::from_secs(60) {
            self.rss_min1_kib.get_or_insert(rss_kib);
            let max = self.rss_max_after_min1_kib.get_or_insert(rss_kib);
            *max = (*max).max(rss_kib);
            self.heap_min1.get_or_insert(heap);
            let max = self.heap_max_after_min1.get_or_insert(heap);
            *max = (*max).max(heap);
        }
        self.rss_last_kib = rss_kib;
        self.heap_last = heap;
        self.peak_threads = self.peak_threads.max(threads);
        self.peak_in_flight = self.peak_in_flight.max(in_flight);
    }
}

/// `VmRSS` (KiB) and `Threads` from `/proc/self/status`; zeros where the
/// file is missing (not Linux).
fn process_status() -> (u64, u64) {
    let Ok(text) = std::fs::read_to_string("/proc/self/status") else {
        return (0, 0);
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// What each task does, decided at submission from the seeded generator.
#[derive(Clone, Copy)]
enum Behaviour {
    /// A small model step.
    Compute,
    /// Returns its own error (retried when the task allows it).
    Error,
    /// Blocks well past its timeout (model code that does not return).
    Overrun,
}

/// A small model step: a few matrix-vector products.
fn work(i: u64) -> f64 {
    let n = 16;
    let mut v: Vec<f64> = (0..n).map(|k| ((k as u64 + i) % 7) as f64).collect();
    for _ in 0..2 {
        let out: Vec<f64> = (0..n)
            .map(|r| {
                (0..n)
                    .map(|c| (((r * c) as u64 + i) % 5) as f64 * v[c])
                    .sum::<f64>()
            })
            .collect();
        let norm = out.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-9);
        v = out.into_iter().map(|x| x / norm).collect();
    }
    v[0]
}

fn task(i: u64, behaviour: Behaviour, rng: &mut StdRng) -> Task<u64> {
    let t = Task::new(move |_| match behaviour {
        Behaviour::Compute => {
            std::hint::black_box(work(i));
            Ok(i)
        }
        Behaviour::Error => Err(format!("task {i}: simulated model error")),
        Behaviour::Overrun => {
            std::thread::sleep(Duration::from_millis(150));
            Ok(i)
        }
    })
    .kind(if i.is_multiple_of(4) {
        TaskKind::Training
    } else {
        TaskKind::Inference
    })
    .cost(0.000_02)
    .retry_on_error(rng.random_bool(0.5))
    .max_retries(2);
    match behaviour {
        Behaviour::Overrun => t.timeout(Duration::from_millis(20)),
        _ => t,
    }
}

/// What the handles said, over the whole run.
#[derive(Default)]
struct Tally {
    accepted: u64,
    completed: u64,
    failed: u64,
    cancelled: u64,
    /// Handles that did not resolve within their (generous) deadline:
    /// counted as lost, since they have no outcome.
    unresolved: u64,
    /// Values delivered for a task other than the handle's own, or twice.
    misdelivered: u64,
    /// Submissions refused (queue full, shutting down): never accepted.
    refused: u64,
    cancel_calls_won: u64,
}

/// Submits `n` tasks as one batch while another thread cancels some of
/// them as they run, then waits for every handle.
fn burst(h: &RuntimeHandle, next_id: &mut u64, n: usize, rng: &mut StdRng, tally: &mut Tally) {
    let first = *next_id;
    *next_id += n as u64;
    // At most one task per burst blocks past its timeout: its executor is
    // held for 150 ms per attempt.
    let overrun = rng
        .random_bool(0.3)
        .then(|| first + rng.random_range(0..n as u64));
    let tasks: Vec<Task<u64>> = (first..first + n as u64)
        .map(|i| {
            let b = if Some(i) == overrun {
                Behaviour::Overrun
            } else if rng.random_bool(0.01) {
                Behaviour::Error
            } else {
                Behaviour::Compute
            };
            task(i, b, rng)
        })
        .collect();
    let handles: Vec<TaskHandle<u64>> = match h.submit_batch(tasks) {
        Ok(hs) => hs,
        Err(e) => {
            tally.refused += n as u64;
            eprintln!("soak: a burst of {n} was refused: {e}");
            return;
        }
    };
    tally.accepted += handles.len() as u64;
    // Cancels race with execution, completion, timeouts, node failures and
    // this thread waiting on the same handles: a canceller thread cancels
    // picked tasks through their cancel handles while we wait.
    let picks: Vec<allot::CancelHandle> = (0..n / 20)
        .map(|_| handles[rng.random_range(0..n)].cancel_handle())
        .collect();
    let canceller = std::thread::spawn(move || picks.iter().filter(|c| c.cancel()).count());
    for (k, mut handle) in handles.into_iter().enumerate() {
        tally.answer(
            first + k as u64,
            handle.wait_timeout(Duration::from_secs(120)),
        );
    }
    let won = canceller.join().expect("the canceller thread panicked");
    tally.cancel_calls_won += won as u64;
}

impl Tally {
    /// Counts what the handle of task `own` answered (`None`: nothing in
    /// time). A value is the task's own number, so a value of another task
    /// is a misdelivery.
    fn answer(&mut self, own: u64, outcome: Option<Result<u64, TaskError>>) {
        match outcome {
            Some(Ok(v)) => {
                self.completed += 1;
                if v != own {
                    self.misdelivered += 1;
                }
            }
            Some(Err(TaskError::Cancelled(_))) => self.cancelled += 1,
            Some(Err(_)) => self.failed += 1,
            None => self.unresolved += 1,
        }
    }
}

/// One task at a time, each waited for: the single-submission path.
fn trickle(h: &RuntimeHandle, next_id: &mut u64, n: usize, rng: &mut StdRng, tally: &mut Tally) {
    for _ in 0..n {
        let i = *next_id;
        *next_id += 1;
        match h.submit(task(i, Behaviour::Compute, rng)) {
            Ok(mut handle) => {
                tally.accepted += 1;
                tally.answer(i, handle.wait_timeout(Duration::from_secs(120)));
            }
            Err(_) => tally.refused += 1,
        }
    }
}

/// Keeps injecting faults until `stop`: one every 0.2–1 s.
fn inject_faults(h: &RuntimeHandle, seed: u64, stop: &AtomicBool, injected: &AtomicU64) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0xfa17);
    let mut slowed = [false; NODES];
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1_000)));
        let node = NodeId(rng.random_range(0..NODES));
        // Count triggers need the node's task count; started tasks are at
        // least those it finished, so aim a little past that.
        let m = h.metrics();
        let done = m.nodes[node.0].completed + m.nodes[node.0].failed;
        let after_tasks = done + rng.random_range(50..500);
        let result = match rng.random_range(0..10) {
            0 | 1 => h.inject(Fault::PanicNode { node }),
            2 | 3 => h.inject(Fault::CrashNode { node }),
            4 => h.inject(Fault::StopNode { node }),
            5 | 6 => {
                slowed[node.0] = !slowed[node.0];
                let factor = if slowed[node.0] {
                    rng.random_range(0.1..0.8)
                } else {
                    1.0
                };
                h.inject(Fault::SlowNode { node, factor })
            }
            7 | 8 => h.inject_plan(
                &FaultPlan::new(rng.random()).with(FaultSpec::HangNode {
                    node,
                    after_tasks,
                    // Some hangs end on their own; the others last until the
                    // supervisor replaces the node (hang_timeout).
                    duration: rng
                        .random_bool(0.5)
                        .then(|| Duration::from_millis(rng.random_range(50..400))),
                }),
            ),
            _ => h.inject_plan(&FaultPlan::new(rng.random()).with(FaultSpec::FloodMailbox {
                node,
                after_tasks,
                messages: 20_000,
            })),
        };
        match result {
            Ok(()) => {
                injected.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => eprintln!("soak: injection refused: {e}"),
        }
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1}MiB", kib as f64 / 1024.0)
}

fn main() {
    let args = Args::parse();
    // Injected panics are expected here: count them instead of printing each.
    let injected_panics = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&injected_panics);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if allot::is_injected_panic(info.payload()) {
            seen.fetch_add(1, Ordering::Relaxed);
        } else {
            default_hook(info);
        }
    }));

    let (rss_start, threads_start) = process_status();
    let runtime = Runtime::builder()
        .nodes((0..NODES).map(|i| {
            NodeSpec::new(Resources::new(8_000, 32_768, 0, 10_000))
                .name(format!("n{i}"))
                .slots(1 + i % 2)
                .speed(if i == NODES - 1 { 0.5 } else { 1.0 })
        }))
        .rng_seed(args.seed)
        .supervision(SupervisionConfig {
            hang_timeout: Duration::from_millis(200),
            // Faults are steady for the whole run; no node should be
            // retired for having too many.
            max_restarts: 50,
            restart_period: Duration::from_secs(5),
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(50),
            ..SupervisionConfig::default()
        })
        .balancer(BalancerConfig {
            interval: Duration::from_millis(10),
            ..BalancerConfig::default()
        })
        .fault_plan(if args.no_faults {
            FaultPlan::new(args.seed)
        } else {
            FaultPlan::new(args.seed).with(FaultSpec::PanicTask { p: 0.001 })
        })
        .build()
        .unwrap_or_else(|e| {
            eprintln!("soak: cannot start the runtime: {e}");
            std::process::exit(1);
        });
    let h = runtime.handle().clone();
    let start = Instant::now();
    let stop = AtomicBool::new(false);
    let faults_injected = AtomicU64::new(0);
    let watch = Mutex::new(Watch::default());
    let mut tally = Tally::default();
    let (mut bursts, mut idle) = (0u64, Duration::ZERO);

    std::thread::scope(|s| {
        if !args.no_faults {
            s.spawn(|| inject_faults(&h, args.seed, &stop, &faults_injected));
        }
        s.spawn(|| {
            let mut next = Duration::from_secs(1);
            while !stop.load(Ordering::Relaxed) {
                let now = start.elapsed();
                if now < next {
                    std::thread::sleep((next - now).min(Duration::from_millis(100)));
                    continue;
                }
                let (rss_kib, threads) = process_status();
                let metrics = h.metrics();
                let heap = HEAP.allocated() as u64;
                let t = &metrics.totals;
                eprintln!(
                    "{:>5}s rss={} heap={} threads={} submitted={} completed={} failed={} \
                     cancelled={} in_flight={} restarts={} health={}",
                    now.as_secs(),
                    mib(rss_kib),
                    mib(heap / 1024),
                    threads,
                    t.submitted,
                    t.completed,
                    t.failed,
                    t.cancelled,
                    t.in_flight,
                    t.restarts,
                    metrics.health
                );
                watch
                    .lock()
                    .unwrap()
                    .add(now, rss_kib, heap, threads, t.in_flight);
                next += Duration::from_secs(1);
            }
        });

        let mut rng = StdRng::seed_from_u64(args.seed);
        let mut next_id = 0u64;
        // Warm-up: the largest burst first, so that the heap reaches its
        // high-water mark before minute 1 and later growth means a leak,
        // not a bigger burst than any before.
        burst(&h, &mut next_id, LARGEST_BURST, &mut rng, &mut tally);
        bursts += 1;
        while start.elapsed() < args.duration() {
            // A busy spell of 1-10 s: bursts of every size, from a handful
            // to a queue-load, and single submissions...
            let busy = Duration::from_millis(rng.random_range(1_000..10_000));
            let spell = Instant::now();
            while spell.elapsed() < busy && start.elapsed() < args.duration() {
                if rng.random_bool(0.7) {
                    let n = if rng.random_bool(0.1) {
                        rng.random_range(20_000..LARGEST_BURST)
                    } else {
                        rng.random_range(10..5_000)
                    };
                    burst(&h, &mut next_id, n, &mut rng, &mut tally);
                    bursts += 1;
                } else {
                    let n = rng.random_range(10..300);
                    trickle(&h, &mut next_id, n, &mut rng, &mut tally);
                }
            }
            // ...then an idle spell of 0.2-3 s: nothing submitted while
            // faults go on.
            let left = args.duration().saturating_sub(start.elapsed());
            let d = Duration::from_millis(rng.random_range(200..3_000)).min(left);
            std::thread::sleep(d);
            idle += d;
        }
        stop.store(true, Ordering::Relaxed);
    });

    let ran_for = start.elapsed();
    let before_shutdown = h.metrics();
    let shutdown_start = Instant::now();
    let report = runtime.shutdown_timeout(Duration::from_secs(30));
    let shutdown_took = shutdown_start.elapsed();
    let end = h.metrics();
    let (rss_end, threads_end) = process_status();
    // Threads the runtime still runs after shutdown (code it abandoned
    // that has not returned yet): watched for up to 2 s.
    let settle = Instant::now();
    let mut threads_left = threads_end;
    while threads_left > threads_start && settle.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
        threads_left = process_status().1;
    }
    let watch = watch.into_inner().unwrap();

    // Reconciliation: every accepted task must have exactly one outcome
    // from its handle, and the ledger must count what the handles said.
    let t = &end.totals;
    let answered = tally.completed + tally.failed + tally.cancelled;
    // Accepted and never answered (a handle that did not resolve within
    // its deadline), or left in the ledger after shutdown.
    let lost = tally.accepted.saturating_sub(answered) + t.unaccounted().unsigned_abs() + t.live;
    // Answered more than once, delivered to the wrong handle, or ended
    // more than once in the ledger.
    let duplicated = answered.saturating_sub(tally.accepted)
        + tally.misdelivered
        + (t.completed + t.failed + t.cancelled).saturating_sub(t.submitted);
    // The ledger's outcome counts against the handles'.
    let mismatched = t.completed.abs_diff(tally.completed)
        + t.failed.abs_diff(tally.failed)
        + t.cancelled.abs_diff(tally.cancelled)
        + tally.accepted.abs_diff(t.submitted);

    println!(
        "ran {:.1?}: {} bursts, idle {:.1?}, {} faults injected, {} injected task panics, \
         {} cancels won, {} refused",
        ran_for,
        bursts,
        idle,
        faults_injected.load(Ordering::Relaxed),
        injected_panics.load(Ordering::Relaxed),
        tally.cancel_calls_won,
        tally.refused
    );
    println!(
        "ledger: submitted={} completed={} failed={} cancelled={} restarts={} retried={} \
         migrations={} health={}",
        t.submitted,
        t.completed,
        t.failed,
        t.cancelled,
        t.restarts,
        t.retried,
        t.migrations,
        end.health
    );
    println!(
        "shutdown: took {:.1?}, {} unfinished handed back, {} abandoned attempts, {} in flight before; \
         threads before start={} after shutdown={} (after up to 2 s more: {}); \
         rss before start={} after shutdown={}; peak_in_flight={} samples={} \
         unresolved_handles={}",
        shutdown_took,
        report.unfinished.len(),
        report.abandoned.len(),
        before_shutdown.totals.in_flight,
        threads_start,
        threads_end,
        threads_left,
        mib(rss_start),
        mib(rss_end),
        watch.peak_in_flight,
        watch.samples,
        tally.unresolved
    );
    println!(
        "soak: lost={lost} duplicated={duplicated} mismatched={mismatched} rss_min1={} \
         rss_end={} rss_max_after_min1={} heap_min1={} heap_end={} heap_max_after_min1={} \
         peak_threads={} tasks={} seconds={}",
        watch.rss_min1_kib.map_or("-".into(), mib),
        mib(watch.rss_last_kib),
        watch.rss_max_after_min1_kib.map_or("-".into(), mib),
        watch.heap_min1.map_or("-".into(), |b| mib(b / 1024)),
        mib(watch.heap_last / 1024),
        watch
            .heap_max_after_min1
            .map_or("-".into(), |b| mib(b / 1024)),
        watch.peak_threads,
        tally.accepted,
        ran_for.as_secs()
    );
    if lost != 0 || duplicated != 0 || mismatched != 0 {
        std::process::exit(1);
    }
}
