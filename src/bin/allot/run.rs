//! `allot run`: runs a workload file on the runtime, with a live progress
//! bar, and builds the report.

use crate::compute::{self, Work};
use crate::error::CliError;
use crate::limits::MachineLimits;
use crate::locate::FieldPath;
use crate::logging;
use crate::report::{
    self, KindReport, Latencies, Percentiles, Report, Sample, WorkInfo, WorkloadInfo,
};
use crate::workload::{self, KindSpec, Loaded};
use allot::{
    AttemptFailure, BuildError, Discipline, PolicyKind, Refusal, Runtime, RuntimeHandle,
    SubmitBatchError, SubmitWaitError, Task, TaskError, TaskHandle,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Options of `allot run`.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// The workload file (`.toml` or `.json`; see docs/guide.md for the format).
    pub(crate) workload: PathBuf,
    /// Write the full report as JSON to FILE (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Draw per-node load and queue depth over time, with restarts and
    /// migrations marked, as an SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Override the workload's `runtime.policy` (e.g. `round-robin`,
    /// `least-loaded`).
    #[arg(long)]
    pub(crate) policy: Option<PolicyKind>,
    /// Override the workload's `runtime.discipline` (`fcfs`, `sjf`,
    /// `priority`, `edf`).
    #[arg(long)]
    pub(crate) discipline: Option<Discipline>,
    /// Override the workload's `runtime.rng_seed`.
    #[arg(long)]
    pub(crate) seed: Option<u64>,
    /// Override the workload's `tasks.count` (1 to 2^53).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=workload::MAX_TASKS))]
    pub(crate) tasks: Option<u64>,
    /// Milliseconds between metrics snapshots (the plot's resolution).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) sample_ms: u64,
    /// Never show the progress bar (it is hidden anyway when stderr is not
    /// a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Do not print the report table (the JSON report and plot are still
    /// written).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

/// What a workload task returns.
#[derive(Debug)]
struct Done {
    at: Instant,
    attempt: u32,
}

/// What every task closure shares.
#[derive(Debug)]
struct TaskEnv {
    work: Work,
    /// The fastest nominal node speed (the one that runs at this machine's pace).
    fastest: f64,
    seed: u64,
}

/// One planned task.
#[derive(Clone, Copy, Debug)]
struct Planned {
    kind: usize,
    cost: f64,
    /// Arrival, from the start of the run (paced workloads only).
    at: Duration,
}

/// One accepted task.
struct Accepted {
    kind: usize,
    at: Instant,
    handle: TaskHandle<Done>,
}

/// splitmix64 of the inputs: seeded decisions that do not depend on thread
/// interleaving.
fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut z =
        seed ^ a.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ b.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn chance(seed: u64, a: u64, b: u64, p: f64) -> bool {
    ((mix(seed, a, b) >> 11) as f64 / (1u64 << 53) as f64) < p
}

/// The workload's tasks, drawn as the run goes: kind by weight, cost from
/// the kind's distribution, and (paced workloads) the arrival time, from
/// one seeded generator, so that a seed gives the same tasks every run and
/// nothing is held per task. The draws are those the run made when it
/// planned every task up front.
struct Planner<'a> {
    kinds: &'a [KindSpec],
    total_weight: f64,
    rng: rand::rngs::StdRng,
    arrival_rate: f64,
    /// Seconds from the start to the last arrival drawn.
    at: f64,
    left: u64,
}

impl<'a> Planner<'a> {
    fn new(kinds: &'a [KindSpec], count: u64, arrival_rate: f64, seed: u64) -> Self {
        Planner {
            kinds,
            total_weight: kinds.iter().map(|k| k.weight).sum(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            arrival_rate,
            at: 0.0,
            left: count,
        }
    }
}

impl Iterator for Planner<'_> {
    type Item = Planned;

    fn next(&mut self) -> Option<Planned> {
        if self.left == 0 || self.kinds.is_empty() {
            return None;
        }
        self.left -= 1;
        let mut pick = self.rng.random::<f64>() * self.total_weight;
        let kind = self
            .kinds
            .iter()
            .position(|k| {
                pick -= k.weight;
                pick < 0.0
            })
            .unwrap_or(self.kinds.len() - 1);
        let cost = self.kinds[kind].cost.sample(&mut self.rng);
        if self.arrival_rate > 0.0 {
            self.at += -(1.0 - self.rng.random::<f64>()).ln() / self.arrival_rate;
        }
        Some(Planned {
            kind,
            cost,
            // Past the clock's range (a tiny rate): never, in effect.
            at: Duration::try_from_secs_f64(self.at).unwrap_or(Duration::MAX),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = usize::try_from(self.left).ok();
        (left.unwrap_or(usize::MAX), left)
    }
}

fn make_task(env: &Arc<TaskEnv>, kind: &KindSpec, index: u64, cost: f64) -> Task<Done> {
    let env = Arc::clone(env);
    let error_rate = kind.error_rate;
    Task::with_spec(kind.spec(cost), move |ctx| {
        let products = env.work.products(cost, env.fastest);
        compute::run(products, index, || ctx.heartbeat());
        if error_rate > 0.0 && chance(env.seed, index, u64::from(ctx.attempt()), error_rate) {
            return Err(format!(
                "simulated model error (task {index}, attempt {}, error_rate {error_rate})",
                ctx.attempt()
            ));
        }
        Ok(Done {
            at: Instant::now(),
            attempt: ctx.attempt(),
        })
    })
}

/// The runtime's typed build error, pointed at the setting in the file.
pub(crate) fn build_error(loaded: &Loaded, e: BuildError) -> CliError {
    match &e {
        BuildError::InvalidConfig { field, index, .. } => loaded.error_at(
            &loaded.runtime_field(field, *index),
            format!("runtime refused: {e}"),
        ),
        _ => CliError::Other(format!("cannot start the runtime: {e}")),
    }
}

/// The runtime's typed submission error for kind `k`, pointed at the field.
fn submit_error(loaded: &Loaded, k: usize, reason: &Refusal) -> CliError {
    let base = FieldPath::parse("tasks.kinds").index(k);
    let field = match reason {
        Refusal::Infeasible(r) => base.key("demand").key(r.resource),
        Refusal::Invalid(error) => base.key(error.field),
        _ => base,
    };
    loaded.error_at(&field, format!("runtime refused the task: {reason}"))
}

/// Shows the runtime one task of each kind at each of its extreme costs, so
/// that a workload it would refuse fails before anything runs, with the
/// runtime's own typed error (`Invalid` for a bad cost or timeout,
/// `Infeasible` for a demand no node fits).
///
/// The probes go in one batch ending with a task every runtime refuses (a
/// NaN cost). A batch is accepted whole or refused whole, with the index of
/// its first bad task, so nothing runs: the index says whether a probe or
/// only the sentinel was refused.
pub(crate) fn check_admission(loaded: &Loaded, handle: &RuntimeHandle) -> Result<(), CliError> {
    let mut owners = Vec::new();
    let mut probes = Vec::new();
    for (k, kind) in loaded.workload.tasks.kinds.iter().enumerate() {
        for cost in kind.cost.probes() {
            owners.push(k);
            probes.push(Task::with_spec(kind.spec(cost), |_| {
                Ok::<(), std::convert::Infallible>(())
            }));
        }
    }
    let sentinel = probes.len();
    probes.push(Task::new(|_| Ok::<(), std::convert::Infallible>(())).cost(f64::NAN));
    match handle.submit_batch(probes) {
        Err(SubmitBatchError::Refused { index, reason, .. }) if index < sentinel => {
            Err(submit_error(loaded, owners[index], &reason))
        }
        Err(_) => Ok(()),
        Ok(handles) => {
            // Cannot happen with a NaN cost; if a runtime ever accepts it,
            // the probes are no-ops: let them finish.
            tracing::warn!(probes = handles.len(), "admission probes were accepted");
            for h in handles {
                let _ = h.wait();
            }
            Ok(())
        }
    }
}

/// Why a refused task was refused, for the report.
fn refusal_reason<T>(e: &SubmitWaitError<T>) -> String {
    match &e.reason {
        Refusal::Infeasible(reason) => format!("refused: infeasible ({reason})"),
        Refusal::ShuttingDown => "refused: runtime stopped".to_owned(),
        other => format!("refused: {other}"),
    }
}

/// Most tasks submitted and not yet tallied: past it the submitter waits
/// for the oldest to end before submitting more, so that a run's memory
/// does not grow with `tasks.count` (measured, debug build, zero-cost
/// tasks: 19 MB peak resident memory for 1 000 000 and for 2 000 000
/// tasks, 22 MB for 50 000 000).
pub(crate) const MAX_PENDING: u64 = 1 << 13;

/// Submits the planned tasks as they are drawn: in batches as fast as
/// possible, or paced by arrival time. Backpressure (`Full`) waits for
/// room; a task the runtime refuses (a node retired meanwhile, the runtime
/// stopped by escalation) is counted as refused, and the run goes on. At
/// most `pending_max` accepted tasks wait to be tallied.
struct Submitter<'a> {
    handle: &'a RuntimeHandle,
    env: Arc<TaskEnv>,
    kinds: &'a [KindSpec],
    pending: VecDeque<Accepted>,
    pending_max: usize,
    tally: Collector,
    /// Index of the next task.
    next: u64,
}

impl Submitter<'_> {
    fn one_by_one(&mut self, tasks: Vec<(usize, Task<Done>)>) {
        for (kind, task) in tasks {
            let at = Instant::now();
            match self.handle.submit_wait(task) {
                Ok(handle) => self.pending.push_back(Accepted { kind, at, handle }),
                Err(e) => {
                    tracing::debug!(kind = self.kinds[kind].label(), error = %e, "task refused");
                    self.tally.refused(kind, refusal_reason(&e));
                }
            }
        }
    }

    fn batch(&mut self, planned: &[Planned]) {
        let first = self.next;
        self.next += planned.len() as u64;
        let kinds: Vec<usize> = planned.iter().map(|p| p.kind).collect();
        let tasks: Vec<Task<Done>> = planned
            .iter()
            .zip(first..)
            .map(|(p, i)| make_task(&self.env, &self.kinds[p.kind], i, p.cost))
            .collect();
        let at = Instant::now();
        match self.handle.submit_batch(tasks) {
            Ok(handles) => self.pending.extend(
                handles
                    .into_iter()
                    .zip(&kinds)
                    .map(|(handle, &kind)| Accepted { kind, at, handle }),
            ),
            // Full, or one bad task: go one by one, waiting for room.
            Err(e) => self.one_by_one(kinds.into_iter().zip(e.into_inner()).collect()),
        }
        while self.pending.len() > self.pending_max {
            if let Some(a) = self.pending.pop_front() {
                self.tally.ended(&self.kinds[a.kind], a);
            }
        }
    }

    fn run(&mut self, plan: Planner<'_>, batch: usize, paced: bool, start: Instant) {
        let mut plan = plan.peekable();
        let mut chunk: Vec<Planned> = Vec::with_capacity(batch);
        if !paced {
            loop {
                chunk.clear();
                chunk.extend(plan.by_ref().take(batch));
                if chunk.is_empty() {
                    return;
                }
                self.batch(&chunk);
            }
        }
        while let Some(first) = plan.peek() {
            let now = start.elapsed();
            if first.at > now {
                // Pacing an open-loop arrival process: wait for the next
                // arrival time.
                std::thread::sleep(first.at - now);
                continue;
            }
            // Every task due now, in batches.
            chunk.clear();
            while let Some(p) = plan.next_if(|p| p.at <= now) {
                chunk.push(p);
                if chunk.len() == batch {
                    self.batch(&chunk);
                    chunk.clear();
                }
            }
            if !chunk.is_empty() {
                self.batch(&chunk);
            }
        }
    }

    /// Tallies every task still pending.
    fn finish(mut self) -> Collector {
        while let Some(a) = self.pending.pop_front() {
            self.tally.ended(&self.kinds[a.kind], a);
        }
        self.tally
    }
}

/// Most snapshots kept; past it the sampling interval doubles.
const MAX_SAMPLES: usize = 4096;

/// Samples `metrics()` every `interval` on its own thread, and drives the
/// progress bar.
struct Sampler {
    stop: crossbeam_channel::Sender<()>,
    thread: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    fn start(
        handle: RuntimeHandle,
        interval: Duration,
        start: Instant,
        bar: ProgressBar,
    ) -> Result<Sampler, CliError> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(1);
        let thread = std::thread::Builder::new()
            .name("allot-cli-sampler".into())
            .spawn(move || {
                let mut samples: Vec<Sample> = Vec::new();
                let mut interval = interval;
                loop {
                    let m = handle.metrics();
                    let s = Sample::of(start.elapsed().as_secs_f64(), &m);
                    let done = m.totals.completed + m.totals.failed + m.totals.cancelled;
                    // Throughput over the last second or so.
                    let back = samples
                        .iter()
                        .rev()
                        .find(|o| s.t_s - o.t_s >= 1.0)
                        .or(samples.first());
                    let rate = back.map_or(0.0, |o| {
                        (s.completed - o.completed) as f64 / (s.t_s - o.t_s).max(1e-3)
                    });
                    bar.set_position(done);
                    bar.set_message(format!(
                        "{rate:>7.0} tasks/s · {} failed · {} restarts · {} migrations",
                        m.totals.failed, m.totals.restarts, m.totals.migrations
                    ));
                    samples.push(s);
                    if samples.len() >= MAX_SAMPLES {
                        // A long run: halve the resolution rather than grow
                        // without bound. Counters are cumulative, so no
                        // restart or migration is lost, only its precise time.
                        let mut keep = false;
                        samples.retain(|_| {
                            keep = !keep;
                            keep
                        });
                        interval = interval.saturating_mul(2);
                    }
                    match stopped.recv_timeout(interval) {
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        _ => return samples,
                    }
                }
            })
            .map_err(|e| CliError::Other(format!("cannot start the sampler thread: {e}")))?;
        Ok(Sampler { stop, thread })
    }

    fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.thread.join().unwrap_or_default()
    }
}

fn progress_bar(total: u64, hidden: bool) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        // Draws only when stderr is a terminal.
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} tasks · {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Per-kind tallies while collecting.
struct Tally {
    latencies: Latencies,
    report: KindReport,
}

/// The tallies of the run, fed task by task as they end.
struct Collector {
    kinds: Vec<Tally>,
    failures: BTreeMap<String, u64>,
}

impl Collector {
    fn new(kinds: &[KindSpec]) -> Collector {
        Collector {
            kinds: kinds
                .iter()
                .map(|k| Tally {
                    latencies: Latencies::default(),
                    report: KindReport {
                        name: k.label().to_owned(),
                        kind: k.task_kind().to_string(),
                        weight: k.weight,
                        mean_cost_s: k.cost.mean(),
                        submitted: 0,
                        refused: 0,
                        completed: 0,
                        failed: 0,
                        cancelled: 0,
                        retries: 0,
                        latency_ms: Percentiles::default(),
                        deadline_s: k.deadline.map(|d| d.as_secs_f64()),
                        deadline_missed: k.deadline.map(|_| 0),
                    },
                })
                .collect(),
            failures: BTreeMap::new(),
        }
    }

    fn refused(&mut self, kind: usize, why: String) {
        self.kinds[kind].report.refused += 1;
        *self.failures.entry(why).or_default() += 1;
    }

    /// Waits for an accepted task to end and tallies it.
    fn ended(&mut self, spec: &KindSpec, Accepted { kind, at, handle }: Accepted) {
        let t = &mut self.kinds[kind];
        t.report.submitted += 1;
        match handle.wait() {
            Ok(done) => {
                let latency = done.at.saturating_duration_since(at);
                t.report.completed += 1;
                t.report.retries += u64::from(done.attempt);
                t.latencies.record(latency.as_secs_f64() * 1000.0);
                if let (Some(d), Some(missed)) = (spec.deadline, t.report.deadline_missed.as_mut())
                {
                    if latency > d {
                        *missed += 1;
                    }
                }
            }
            Err(e) => {
                if e.is_cancelled() {
                    t.report.cancelled += 1;
                } else {
                    t.report.failed += 1;
                }
                if let TaskError::Failed { attempts } = &e {
                    t.report.retries += attempts.len().saturating_sub(1) as u64;
                }
                if let Some(missed) = t.report.deadline_missed.as_mut() {
                    *missed += 1;
                }
                *self.failures.entry(failure_reason(&e)).or_default() += 1;
            }
        }
    }
}

fn failure_reason(e: &TaskError) -> String {
    match e {
        TaskError::Failed { .. } => match e.last_failure() {
            Some(AttemptFailure::Error(_)) => "task error",
            Some(AttemptFailure::Panicked(_)) => "task panicked",
            Some(AttemptFailure::TimedOut) => "timed out",
            Some(AttemptFailure::NodeLost) => "node lost",
            _ => "failed",
        }
        .to_owned(),
        TaskError::Cancelled(_) => "cancelled".to_owned(),
        TaskError::Unschedulable { .. } => "unschedulable".to_owned(),
        _ => "other".to_owned(),
    }
}

/// Runs a workload and builds its report.
///
/// # Errors
///
/// A [`CliError`] for an invalid workload (naming file, line and field) or
/// a runtime that cannot start.
pub(crate) fn run(args: &RunArgs, injected_panics: &AtomicU64) -> Result<Report, CliError> {
    let loaded = workload::load(&args.workload)?;
    let mut config = loaded.runtime_config(&MachineLimits::read(), MAX_PENDING)?;
    if let Some(seed) = args.seed {
        config.rng_seed = seed;
    }
    if let Some(policy) = args.policy {
        config.policy = policy;
    }
    if let Some(discipline) = args.discipline {
        config.discipline = discipline;
    }
    let mut mix = loaded.workload.tasks.clone();
    if let Some(n) = args.tasks {
        mix.count = n;
    }

    let runtime = Runtime::builder_from(&config)
        .build()
        .map_err(|e| build_error(&loaded, e))?;
    let handle = runtime.handle().clone();
    check_admission(&loaded, &handle)?;

    let work = Work::calibrate(Duration::from_millis(40));
    tracing::info!(
        products_per_second = work.products_per_second,
        "work calibrated"
    );
    let env = Arc::new(TaskEnv {
        work,
        fastest: config.nodes.iter().map(|n| n.speed).fold(1e-9, f64::max),
        seed: config.rng_seed,
    });
    let planner = Planner::new(&mix.kinds, mix.count, mix.arrival_rate, config.rng_seed);

    let bar = progress_bar(mix.count, args.no_progress);
    logging::show_bar(Some(bar.clone()));
    let start = Instant::now();
    let sampler = Sampler::start(
        handle.clone(),
        Duration::from_millis(args.sample_ms),
        start,
        bar.clone(),
    )?;
    let mut submitter = Submitter {
        handle: &handle,
        env,
        kinds: &mix.kinds,
        pending: VecDeque::new(),
        pending_max: MAX_PENDING as usize,
        tally: Collector::new(&mix.kinds),
        next: 0,
    };
    submitter.run(planner, mix.batch, mix.arrival_rate > 0.0, start);
    let Collector {
        kinds: tallies,
        failures,
    } = submitter.finish();
    let metrics = runtime.shutdown();
    let elapsed = start.elapsed();
    let mut samples = sampler.finish();
    samples.push(Sample::of(elapsed.as_secs_f64(), &metrics));
    bar.finish_and_clear();
    logging::show_bar(None);

    let events = report::events(&samples);
    let kinds = tallies
        .into_iter()
        .map(|t| KindReport {
            latency_ms: t.latencies.percentiles(),
            ..t.report
        })
        .collect();
    let elapsed_s = elapsed.as_secs_f64();
    Ok(Report {
        workload: WorkloadInfo {
            file: args.workload.display().to_string(),
            name: loaded.name(),
            description: loaded.workload.description.clone(),
            tasks: mix,
        },
        config,
        work: WorkInfo {
            matrix: compute::MATRIX,
            products_per_cost_second: work.products_per_second,
        },
        elapsed_s,
        throughput_per_s: metrics.totals.completed as f64 / elapsed_s.max(1e-9),
        unaccounted: metrics.totals.unaccounted(),
        metrics,
        kinds,
        failures,
        injected_panics: injected_panics.load(Ordering::Relaxed),
        samples,
        events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::CostDist;

    fn plan(kinds: &[KindSpec], count: u64, arrival_rate: f64, seed: u64) -> Vec<Planned> {
        Planner::new(kinds, count, arrival_rate, seed).collect()
    }

    fn kind(weight: f64) -> KindSpec {
        serde_json::from_value(serde_json::json!({ "kind": "k", "weight": weight })).unwrap()
    }

    #[test]
    fn the_plan_is_seeded_and_follows_the_weights() {
        let kinds = [kind(1.0), kind(3.0)];
        let a = plan(&kinds, 4000, 0.0, 7);
        let b = plan(&kinds, 4000, 0.0, 7);
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.kind == y.kind && x.cost == y.cost));
        let heavy = a.iter().filter(|p| p.kind == 1).count();
        assert!((2800..3200).contains(&heavy), "{heavy}");
        assert!(a.iter().all(|p| p.at.is_zero()));
        assert_eq!(kinds[0].cost, CostDist::Fixed { value: 0.001 });
    }

    /// The plan as the run drew it before tasks were generated lazily:
    /// every task up front, in one vector.
    fn plan_up_front(kinds: &[KindSpec], count: u64, arrival_rate: f64, seed: u64) -> Vec<Planned> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let total: f64 = kinds.iter().map(|k| k.weight).sum();
        let mut at = 0.0f64;
        (0..count)
            .map(|_| {
                let mut pick = rng.random::<f64>() * total;
                let kind = kinds
                    .iter()
                    .position(|k| {
                        pick -= k.weight;
                        pick < 0.0
                    })
                    .unwrap_or(kinds.len() - 1);
                let cost = kinds[kind].cost.sample(&mut rng);
                if arrival_rate > 0.0 {
                    at += -(1.0 - rng.random::<f64>()).ln() / arrival_rate;
                }
                Planned {
                    kind,
                    cost,
                    at: Duration::from_secs_f64(at),
                }
            })
            .collect()
    }

    #[test]
    fn the_generator_draws_the_tasks_the_up_front_plan_drew() {
        let mut kinds = [kind(1.0), kind(2.5), kind(0.5)];
        kinds[1].cost = CostDist::Exponential { mean: 0.01 };
        kinds[2].cost = CostDist::Normal {
            mean: 0.02,
            std_dev: 0.01,
        };
        for (rate, seed) in [(0.0, 7), (500.0, 42)] {
            let lazy = plan(&kinds, 3000, rate, seed);
            let eager = plan_up_front(&kinds, 3000, rate, seed);
            assert_eq!(lazy.len(), eager.len());
            for (a, b) in lazy.iter().zip(&eager) {
                assert_eq!((a.kind, a.cost, a.at), (b.kind, b.cost, b.at));
            }
        }
    }

    #[test]
    fn a_generator_of_u64_max_tasks_starts_at_once_and_holds_nothing_per_task() {
        let kinds = [kind(1.0), kind(3.0)];
        let mut g = Planner::new(&kinds, u64::MAX, 0.0, 1);
        assert_eq!(g.size_hint().1, usize::try_from(u64::MAX).ok());
        // The generator is a seeded RNG and counters, whatever the count.
        assert!(std::mem::size_of::<Planner<'_>>() <= 512);
        assert_eq!(g.by_ref().take(100_000).count(), 100_000);
        assert_eq!(g.left, u64::MAX - 100_000);
        let mut few = Planner::new(&kinds, 3, 0.0, 1);
        assert_eq!(few.by_ref().count(), 3);
        assert!(few.next().is_none());
    }

    #[test]
    fn a_tiny_arrival_rate_puts_arrivals_at_the_end_of_time_without_panicking() {
        let p = plan(&[kind(1.0)], 3, 1e-300, 1);
        assert!(p.iter().all(|t| t.at == Duration::MAX), "{p:?}");
        let p = plan(&[kind(1.0)], 3, f64::MIN_POSITIVE, 1);
        assert!(p.iter().all(|t| t.at == Duration::MAX), "{p:?}");
    }

    #[test]
    fn paced_arrivals_average_the_rate() {
        let p = plan(&[kind(1.0)], 5000, 1000.0, 1);
        let last = p.last().unwrap().at.as_secs_f64();
        assert!((4.7..5.3).contains(&last), "{last}");
        assert!(p.windows(2).all(|w| w[0].at <= w[1].at));
    }

    #[test]
    fn seeded_chances_are_stable_and_near_their_probability() {
        let hits = (0..10_000).filter(|&i| chance(3, i, 0, 0.1)).count();
        assert!((800..1200).contains(&hits), "{hits}");
        assert_eq!(chance(3, 5, 1, 0.5), chance(3, 5, 1, 0.5));
    }
}
