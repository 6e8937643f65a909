//! `allot run`: runs a workload file on the runtime, with a live progress
//! bar, and builds the report.
//!
//! - `plan`: the tasks, drawn from the workload's mix as the run goes;
//! - `task`: what each task runs (a closure, or `allot.compute`);
//! - `remote`: the coordinator of `--nats` runs, on workers' nodes;
//! - `submit`: submission, with backpressure and a bound on pending tasks;
//! - `collect`: the tally of each task as it ends;
//! - `sample`: metrics snapshots and the progress bar.

mod collect;
mod plan;
mod remote;
mod sample;
mod submit;
mod task;

pub(crate) use submit::MAX_PENDING;

use crate::compute::{self, Calibration};
use crate::error::CliError;
use crate::kinds;
use crate::limits::MachineLimits;
use crate::locate::FieldPath;
use crate::logging;
use crate::machine::{CpuTimes, MachineLoad};
use crate::nats::{self, Settings};
use crate::report::{
    self, ClusterInfo, KindReport, Machine, Report, RunMetrics, Sample, Samples, Sampling,
    WorkInfo, WorkloadInfo,
};
use crate::workload::file::{self, Loaded};
use crate::workload::model::{TaskMix, MAX_TASKS};
use allot::{
    BuildError, Discipline, PolicyKind, Refusal, Runtime, RuntimeHandle, SubmitBatchError, Task,
};
use collect::Collector;
use plan::Planner;
use remote::RemoteTasks;
use sample::{progress_bar, Sampler};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use submit::Submitter;
use task::{LocalTasks, Sizing, Source};

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
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_TASKS))]
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
    /// Run the tasks on the nodes of `allot worker` processes through the
    /// NATS server(s) at URL (comma-separated), as `allot.compute` named
    /// tasks; the workload's own nodes are ignored.
    #[arg(long, value_name = "URL")]
    pub(crate) nats: Option<String>,
    /// Workers to wait for before the run starts (with --nats; 1 to 65536).
    #[arg(long, value_name = "N", requires = "nats", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub(crate) workers: Option<u64>,
    /// Pin the size of a task's work: matrix products per second of cost
    /// (the `work` line of the report shows the figure a run used). By
    /// default the figure is measured once per build profile and cached
    /// (see --recalibrate).
    #[arg(long, value_name = "N", value_parser = compute::work_rate)]
    pub(crate) work_rate: Option<f64>,
    /// Measure this machine again (best of five 40 ms windows) and cache the
    /// new figure, instead of using the cached one.
    #[arg(long, conflicts_with = "work_rate")]
    pub(crate) recalibrate: bool,
    /// Subject prefix the workers use (with --nats; default `allot`).
    #[arg(long, value_name = "P", requires = "nats")]
    pub(crate) prefix: Option<String>,
    /// Serve the live dashboard at ADDR while the run lasts (e.g.
    /// `127.0.0.1:8080`; keep it on loopback unless other machines should
    /// see it). See docs/dashboard.md.
    #[arg(long, value_name = "ADDR")]
    pub(crate) dashboard: Option<std::net::SocketAddr>,
    /// A file holding the bearer token the dashboard asks of whoever
    /// cancels a task (its first line; reading needs none). Without it the
    /// dashboard cannot cancel. A file, not the token itself, so that it
    /// does not show in the process list.
    #[arg(long, value_name = "FILE", requires = "dashboard")]
    pub(crate) dashboard_token_file: Option<PathBuf>,
}

impl RunArgs {
    /// The dashboard's token, read from `--dashboard-token-file`.
    fn dashboard_token(&self) -> Result<Option<String>, CliError> {
        let Some(path) = &self.dashboard_token_file else {
            return Ok(None);
        };
        let flag = "--dashboard-token-file";
        let text = std::fs::read_to_string(path).map_err(|e| CliError::Flag {
            flag,
            message: format!("cannot read {}: {e}", path.display()),
        })?;
        let token = text.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(CliError::Flag {
                flag,
                message: format!("{} holds no token on its first line", path.display()),
            });
        }
        Ok(Some(token.to_string()))
    }

    /// Turns the dashboard on in `builder` if asked.
    fn attach_dashboard(&self, builder: &mut allot::Builder, token: Option<&str>) {
        if let Some(addr) = self.dashboard {
            builder.dashboard(addr);
            if let Some(token) = token {
                builder.dashboard_token(token);
            }
        }
    }
}

impl RunArgs {
    /// The cluster settings, with `--nats`.
    fn cluster(&self) -> Result<Option<Settings>, CliError> {
        let Some(urls) = self.nats.as_deref() else {
            return Ok(None);
        };
        Settings::new(&nats::Flags {
            nats: Some(urls),
            prefix: self.prefix.as_deref(),
            workers: Some(self.workers.map_or(1, |n| n as usize)),
            ..nats::Flags::default()
        })
        .map(Some)
    }
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
            tracing::warn!(probes = handles.len(), "run.probes_accepted");
            for h in handles {
                let _ = h.wait();
            }
            Ok(())
        }
    }
}

/// Where the run's tasks go.
enum Tasks {
    /// Closures on the workload's nodes.
    Local(LocalTasks),
    /// `allot.compute` on the workers' nodes.
    Remote(RemoteTasks),
}

/// Submits the planned tasks of `source`, and tallies them as they end.
fn submit_all<S: Source>(
    source: &S,
    handle: &RuntimeHandle,
    mix: &TaskMix,
    planner: Planner<'_>,
    start: Instant,
) -> Collector {
    let mut submitter = Submitter {
        handle,
        source,
        kinds: &mix.kinds,
        pending: VecDeque::new(),
        pending_max: MAX_PENDING as usize,
        tally: Collector::new(&mix.kinds),
        next: 0,
    };
    submitter.run(planner, mix.batch, mix.arrival_rate > 0.0, start);
    submitter.finish()
}

/// Runs a workload and builds its report.
///
/// # Errors
///
/// A [`CliError`] for an invalid workload (naming file, line and field) or
/// a runtime that cannot start.
pub(crate) fn run(args: &RunArgs, injected_panics: &AtomicU64) -> Result<Report, CliError> {
    let loaded = file::load(&args.workload)?;
    let cluster = args.cluster()?;
    let mut config = match &cluster {
        None => loaded.runtime_config(&MachineLimits::read(), MAX_PENDING)?,
        Some(_) => remote::runtime_config(&loaded),
    };
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

    let token = args.dashboard_token()?;
    let dashboard = |b: &mut allot::Builder| args.attach_dashboard(b, token.as_deref());
    let runtime = match &cluster {
        None => {
            let mut builder = Runtime::builder_from(&config);
            dashboard(&mut builder);
            builder.build().map_err(|e| build_error(&loaded, e))?
        }
        Some(settings) => remote::start(&loaded, &mut config, settings, &dashboard)?,
    };
    if let Some(addr) = runtime.handle().dashboard_addr() {
        eprintln!("dashboard: http://{addr}/");
    }
    let handle = runtime.handle().clone();
    check_admission(&loaded, &handle)?;

    let calibration = Calibration::resolve(args.work_rate, args.recalibrate);
    let work = calibration.work;
    tracing::info!(
        products_per_second = work.products_per_second,
        source = calibration.source.as_str(),
        "run.calibrated"
    );
    let sizing = Sizing {
        work,
        fastest: config.nodes.iter().map(|n| n.speed).fold(1e-9, f64::max),
        seed: config.rng_seed,
    };
    let tasks = match &cluster {
        None => Tasks::Local(LocalTasks(sizing)),
        Some(_) => Tasks::Remote(RemoteTasks::new(sizing)?),
    };
    let planner = Planner::new(&mix.kinds, mix.count, mix.arrival_rate, config.rng_seed);

    let bar = progress_bar(mix.count, args.no_progress);
    logging::show_bar(Some(bar.clone()));
    let started_at = std::time::SystemTime::now();
    let cpu_before = CpuTimes::read();
    let start = Instant::now();
    let sampler = Sampler::start(
        handle.clone(),
        Duration::from_millis(args.sample_ms),
        start,
        bar.clone(),
    )?;
    let collected = match &tasks {
        Tasks::Local(local) => submit_all(local, &handle, &mix, planner, start),
        Tasks::Remote(remote) => submit_all(remote, &handle, &mix, planner, start),
    };
    let Collector {
        kinds: tallies,
        failures,
    } = collected;
    let metrics = runtime.shutdown();
    let elapsed = start.elapsed();
    let machine_load = MachineLoad::between(cpu_before, CpuTimes::read());
    let (mut samples, interval) = sampler.finish(Duration::from_millis(args.sample_ms));
    let sampling = Sampling::of(&samples, interval);
    samples.push(Sample::of(elapsed.as_secs_f64(), &metrics, true));
    let samples = Samples {
        names: report::node_names(&metrics.nodes),
        list: samples,
    };
    bar.finish_and_clear();
    logging::show_bar(None);

    let events = report::events(&samples);
    let kinds = tallies
        .into_iter()
        .map(|t| KindReport {
            latency: t.latencies.percentiles(),
            ..t.report
        })
        .collect();
    let elapsed_s = elapsed.as_secs_f64();
    let run_metrics = RunMetrics::of(&metrics, &config, &samples.names);
    Ok(Report {
        schema_version: report::SCHEMA_VERSION,
        allot_version: env!("CARGO_PKG_VERSION"),
        started_at: report::timestamp(started_at),
        machine: Machine::read(),
        workload: WorkloadInfo {
            file: args.workload.display().to_string(),
            name: loaded.name(),
            description: loaded.workload.description.clone(),
            tasks: mix,
        },
        config,
        cluster: cluster.map(|c| ClusterInfo {
            urls: c.config.urls.clone(),
            subject_prefix: c.config.subject_prefix.clone(),
            workers: c.config.workers,
        }),
        work: WorkInfo {
            matrix: kinds::MATRIX,
            products_per_cost_second: work.products_per_second,
            source: calibration.source,
            cache_file: calibration.file.map(|f| f.display().to_string()),
            measured_unix_s: calibration.measured_unix_s,
        },
        machine_load,
        sampling,
        elapsed_s,
        throughput_per_s: metrics.totals.completed as f64 / elapsed_s.max(1e-9),
        unaccounted: metrics.totals.unaccounted(),
        metrics: run_metrics,
        kinds,
        failures,
        injected_panics: injected_panics.load(Ordering::Relaxed),
        samples,
        events,
    })
}
