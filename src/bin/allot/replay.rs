//! `allot replay`: replays a GPU cluster trace in the Alibaba openb format
//! through the multi-resource placement policies, in simulated time, and
//! compares their allocation ratio, waiting and completion times.

mod plot;

use crate::error::{CliError, Position};
use crate::logging;
use crate::table;
use allot::policy::{BestFit, DotProduct, FragmentationAware, GpuPacking, GpuPlacement, RandomFit};
use allot::sim::openb::TraceError;
use allot::sim::openb::TraceErrorKind;
use allot::sim::replay::{
    Progress, QueueOrder, Replay, ReplayConfig, ReplayReport, TimelinePoint, DEFAULT_REPLAY_SEED,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// What `allot replay --help` says after the options: the semantics.
pub(crate) const SEMANTICS: &str = "\
How the replay works:
  - A discrete-event simulation in trace seconds, no threads. Pods arrive at
    creation_time (shifted so the first arrival is t = 0) and, once placed,
    run max(1, deletion_time - scheduled_time) seconds, then leave and free
    their CPU, memory and GPU share.
  - A pod that cannot be placed now joins the queue. Whenever a pod leaves,
    the queue is retried from its head. --queue fifo (the default) stops at
    the first pod that still does not fit (head-of-line blocking: no pod
    overtakes an earlier one), and while the queue is not empty new arrivals
    join its tail. --queue backfill tries every queued pod and places each
    that fits, and tries arrivals at once: a blocked large pod does not hold
    up smaller ones; it keeps a reservation (the node where it fits
    earliest) that only pods done by then may use, so it does not starve
    (EASY backfilling).
  - A pod that no node could host even when empty is unplaceable: counted,
    never queued. A pod with a missing or invalid time (the trace's Pending
    pods have no scheduled_time) is skipped: counted, not replayed. Pods
    that failed in the trace (pod_phase Failed) are replayed like the rest
    and counted; --skip-failed skips them.
  - The replay stops at the end of the trace (the last deletion_time): pods
    still queued then are 'waiting'. --drain runs on until every pod has left.
  - Nodes: GPU nodes only, as in the FGD paper (--all-nodes adds CPU-only
    ones), at most 1001 pods each, sorted by name and shuffled with --seed:
    the policies break ties by that order. --seed also seeds 'random'.
  - Allocation ratio: allocated GPU milli (CPU milli-cores) integrated over
    the replay, over the cluster's capacity times the replay's length; the
    GPU peak is the most allocated at any instant. The busy window is the
    stretch around the peak of the GPU the pods would hold at their recorded
    times (placed on arrival), while that stays at least half the peak (or,
    with --busy-window S, the S seconds in which they would hold the most);
    it is the same for every policy, and allocation is also given over it. Fragmentation is the FGD
    paper's: for each typical pod shape (the most common shapes covering
    95 % of the pods), the free GPU capacity of a node that shape could not
    use, weighted by frequency, summed over nodes, over the GPU capacity.
    Waiting time: start - arrival, of placed pods. Completion time: finish -
    arrival, of pods that finished. placed + waiting + unplaceable + skipped
    = pods.";

/// Options of `allot replay`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReplayArgs {
    /// The pod list: CSV in the openb format (name, cpu_milli, memory_mib,
    /// num_gpu, gpu_milli, creation_time, deletion_time, scheduled_time,
    /// optionally gpu_spec; other columns are ignored).
    #[arg(value_name = "PODS.csv")]
    pub(crate) pods: PathBuf,
    /// The node list: CSV in the openb format (sn, cpu_milli, memory_mib,
    /// gpu, model).
    #[arg(long, value_name = "NODES.csv")]
    pub(crate) nodes: PathBuf,
    /// The placement policy: random, best-fit, dot-product, gpu-packing,
    /// fragmentation-aware, or all (each of them on the same trace, side by
    /// side).
    #[arg(long, value_name = "P", default_value = "all")]
    pub(crate) policy: PolicyChoice,
    /// Pace the replay so that F trace seconds take one wall second
    /// (default: as fast as possible).
    #[arg(long, value_name = "F", value_parser = positive_factor)]
    pub(crate) compress: Option<f64>,
    /// Arrivals come F times faster (every gap between arrivals divided by
    /// F) while pods run as long as recorded: F times the offered load.
    /// The openb trace, spread over 149 days, barely loads its cluster as
    /// recorded; this is how to make the policies compete.
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = positive_factor)]
    pub(crate) arrival_speedup: f64,
    /// How queued pods are retried: fifo (head-of-line: a pod that does
    /// not fit holds up those behind it) or backfill (every queued pod that
    /// fits is placed, in order, around the head's reservation).
    #[arg(long, value_name = "Q", default_value = "fifo", value_parser = queue_order)]
    pub(crate) queue: QueueOrder,
    /// Skip the pods that failed in the trace (pod_phase Failed) instead of
    /// replaying them like the rest.
    #[arg(long)]
    pub(crate) skip_failed: bool,
    /// Length of the busy window, in trace seconds (after
    /// --arrival-speedup); default: while the GPU the pods would hold at
    /// their recorded times stays at least half its peak.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) busy_window: Option<u64>,
    /// Draw GPU and CPU allocation, fragmentation and queue length over
    /// time, one line per policy, as an SVG to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub(crate) plot: Option<PathBuf>,
    /// Replay only the first N pods of the pod list.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) limit: Option<u64>,
    /// Seed of the node order (the policies' tie-break order) and of the
    /// random policy.
    #[arg(long, default_value_t = DEFAULT_REPLAY_SEED)]
    pub(crate) seed: u64,
    /// Include CPU-only nodes (by default only GPU nodes, as in the FGD
    /// paper).
    #[arg(long)]
    pub(crate) all_nodes: bool,
    /// Keep replaying after the end of the trace until every pod has left.
    #[arg(long)]
    pub(crate) drain: bool,
    /// Write the full report as JSON to FILE (`-` for stdout; the table
    /// then goes to stderr).
    #[arg(long, value_name = "FILE")]
    pub(crate) json: Option<PathBuf>,
    /// Never show the progress bar (it is hidden anyway when stderr is not
    /// a terminal).
    #[arg(long)]
    pub(crate) no_progress: bool,
    /// Do not print the table (the JSON report is still written).
    #[arg(long, short)]
    pub(crate) quiet: bool,
}

fn queue_order(s: &str) -> Result<QueueOrder, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "fifo" => Ok(QueueOrder::Fifo),
        "backfill" => Ok(QueueOrder::Backfill),
        _ => Err(format!("expected fifo or backfill, got `{s}`")),
    }
}

fn positive_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("expected a positive number, got `{s}`")),
    }
}

/// A multi-resource placement policy, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyName {
    Random,
    BestFit,
    DotProduct,
    GpuPacking,
    FragmentationAware,
}

impl PolicyName {
    const ALL: [PolicyName; 5] = [
        PolicyName::Random,
        PolicyName::BestFit,
        PolicyName::DotProduct,
        PolicyName::GpuPacking,
        PolicyName::FragmentationAware,
    ];

    fn name(self) -> &'static str {
        match self {
            PolicyName::Random => "random",
            PolicyName::BestFit => "best-fit",
            PolicyName::DotProduct => "dot-product",
            PolicyName::GpuPacking => "gpu-packing",
            PolicyName::FragmentationAware => "fragmentation-aware",
        }
    }

    fn build(self, seed: u64) -> Box<dyn GpuPlacement> {
        match self {
            PolicyName::Random => Box::new(RandomFit::new(seed)),
            PolicyName::BestFit => Box::new(BestFit::new()),
            PolicyName::DotProduct => Box::new(DotProduct::new()),
            PolicyName::GpuPacking => Box::new(GpuPacking::new()),
            PolicyName::FragmentationAware => Box::new(FragmentationAware::new()),
        }
    }
}

/// `--policy`: one policy, or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PolicyChoice {
    One(PolicyName),
    All,
}

impl PolicyChoice {
    fn policies(self) -> Vec<PolicyName> {
        match self {
            PolicyChoice::One(p) => vec![p],
            PolicyChoice::All => PolicyName::ALL.to_vec(),
        }
    }
}

/// An unknown `--policy`.
#[derive(Debug)]
pub(crate) struct UnknownPolicy(String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = PolicyName::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown policy `{}` (expected one of: {}, all)",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for PolicyChoice {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace('_', "-");
        if norm == "all" {
            return Ok(PolicyChoice::All);
        }
        PolicyName::ALL
            .iter()
            .find(|p| p.name() == norm)
            .map(|&p| PolicyChoice::One(p))
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}

/// The full report (`--json`).
#[derive(Debug, Serialize)]
pub(crate) struct ReplayOutput {
    pods_file: String,
    nodes_file: String,
    seed: u64,
    /// Trace seconds per wall second; `None`: as fast as possible.
    compress: Option<f64>,
    /// Arrivals this many times faster than recorded.
    arrival_speedup: f64,
    limit: Option<u64>,
    all_nodes: bool,
    drain: bool,
    /// How waiting pods are retried: `fifo` or `backfill`.
    queue: &'static str,
    /// Whether pods that failed in the trace were skipped.
    skip_failed: bool,
    cluster: ClusterInfo,
    trace: TraceInfo,
    /// One per policy, in the order run.
    policies: Vec<PolicyResult>,
}

#[derive(Debug, Serialize)]
struct ClusterInfo {
    nodes: usize,
    gpu_nodes: usize,
    gpus: u64,
    gpu_milli: u64,
    cpu_milli: u64,
}

#[derive(Debug, Serialize)]
struct TraceInfo {
    /// Pods considered (after `--limit`).
    pods: usize,
    replayed: usize,
    skipped: usize,
    /// Skipped pods by reason.
    skipped_by_reason: BTreeMap<String, usize>,
    /// The end of the trace, in seconds after the first arrival.
    end_s: u64,
    /// Replayed pods that failed in the trace.
    failed_in_trace: usize,
    /// The busy window: start and end, in seconds.
    busy_window_s: (u64, u64),
}

#[derive(Debug, Serialize)]
struct PolicyResult {
    #[serde(flatten)]
    report: ReplayReport,
    /// Wall time of this policy's replay.
    elapsed_s: f64,
    /// The cluster over time, at most [`TIMELINE_POINTS`] points (the
    /// state after the last instant at or before each).
    timeline: Vec<TimelinePoint>,
    /// Every instant, for the plot.
    #[serde(skip)]
    full_timeline: Vec<TimelinePoint>,
}

/// Most points of a policy's timeline in the report and the plot.
const TIMELINE_POINTS: usize = 600;

/// The state at `n` evenly spaced times from `from` to `to` (the last
/// point at or before each), or every point if there are fewer.
fn thin(timeline: &[TimelinePoint], from: u64, to: u64, n: usize) -> Vec<TimelinePoint> {
    let inside = timeline
        .iter()
        .filter(|p| (from..=to).contains(&p.time))
        .count();
    if inside <= n || n < 2 {
        return timeline
            .iter()
            .filter(|p| (from..=to).contains(&p.time))
            .copied()
            .collect();
    }
    let mut out: Vec<TimelinePoint> = Vec::with_capacity(n);
    for k in 0..n {
        let t = from + ((to - from) as f64 * k as f64 / (n - 1) as f64) as u64;
        let i = timeline.partition_point(|p| p.time <= t);
        let mut p = match i {
            0 => TimelinePoint {
                time: t,
                gpu_milli: 0,
                cpu_milli: 0,
                queued: 0,
                fragmentation_milli: 0.0,
            },
            _ => timeline[i - 1],
        };
        p.time = t;
        if out.last().is_none_or(|q| q.time != t) {
            out.push(p);
        }
    }
    out
}

/// `12s`, `3.5m`, `2.0h`, `4.1d`.
fn span(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.0}s")
    } else if s < 3_600.0 {
        format!("{:.1}m", s / 60.0)
    } else if s < 86_400.0 {
        format!("{:.1}h", s / 3_600.0)
    } else {
        format!("{:.1}d", s / 86_400.0)
    }
}

/// A replay time as `day D.D` (or seconds, minutes, hours early on).
fn at(s: u64) -> String {
    if s < 86_400 {
        format!("t = {}", span(s as f64))
    } else {
        format!("day {:.1}", s as f64 / 86_400.0)
    }
}

fn pct(x: f64) -> String {
    format!("{:.2} %", 100.0 * x)
}

impl ReplayOutput {
    /// Writes the comparison table.
    fn print_table(&self, out: &mut impl Write) -> io::Result<()> {
        let t = &self.trace;
        let c = &self.cluster;
        writeln!(out)?;
        write!(
            out,
            "pods      {} · {} pods, {} replayed",
            self.pods_file, t.pods, t.replayed
        )?;
        if t.skipped > 0 {
            let why: Vec<String> = t
                .skipped_by_reason
                .iter()
                .map(|(r, n)| format!("{n} {r}"))
                .collect();
            write!(out, ", {} skipped ({})", t.skipped, why.join(", "))?;
        }
        writeln!(out)?;
        if t.failed_in_trace > 0 {
            writeln!(
                out,
                "          {} of the replayed pods failed in the trace: replayed like the rest (--skip-failed skips them)",
                t.failed_in_trace
            )?;
        }
        writeln!(
            out,
            "nodes     {} · {} nodes ({} with GPUs), {} GPUs, {} CPU cores",
            self.nodes_file,
            c.nodes,
            c.gpu_nodes,
            c.gpus,
            c.cpu_milli / 1000
        )?;
        let end = self
            .policies
            .iter()
            .map(|p| p.report.end_s)
            .max()
            .unwrap_or(0);
        writeln!(
            out,
            "replay    {} of trace{}{} · seed {} · {}",
            span(end as f64),
            if self.drain {
                " (drained)"
            } else {
                " (to the trace's end)"
            },
            if self.arrival_speedup == 1.0 {
                String::new()
            } else {
                format!(" · arrivals {}× faster", self.arrival_speedup)
            },
            self.seed,
            match self.compress {
                Some(f) => format!("{f} trace seconds per wall second"),
                None => "as fast as possible".to_owned(),
            }
        )?;
        writeln!(
            out,
            "queue     {}",
            if self.queue == "backfill" {
                "backfill: every queued pod that fits is placed, in arrival order, around a reservation for the head (EASY)"
            } else {
                "fifo, head-of-line: a pod that does not fit holds up every pod behind it (--queue backfill)"
            }
        )?;
        let (b0, b1) = t.busy_window_s;
        writeln!(
            out,
            "busy      {} to {} ({}): around the peak of the GPU the pods would hold at their recorded times, while at least half of it",
            at(b0),
            at(b1),
            span((b1 - b0) as f64),
        )?;
        writeln!(out)?;
        let mut alloc = table::new(
            &[
                "policy",
                "GPU all",
                "GPU busy",
                "GPU peak",
                "CPU all",
                "CPU busy",
                "frag all",
                "frag busy",
            ],
            1,
        );
        for p in &self.policies {
            let r = &p.report;
            alloc.add_row([
                r.policy.clone(),
                pct(r.gpu_allocation),
                pct(r.busy_window.gpu_allocation),
                pct(r.peak_gpu_allocation),
                pct(r.cpu_allocation),
                pct(r.busy_window.cpu_allocation),
                pct(r.fragmentation),
                pct(r.busy_window.fragmentation),
            ]);
        }
        writeln!(
            out,
            "allocation and fragmentation: over the whole trace (all), over the busy window (busy), and the GPU's peak"
        )?;
        table::write(out, &alloc, "")?;
        writeln!(out)?;
        let mut pods = table::new(
            &[
                "policy",
                "placed",
                "finished",
                "waiting",
                "unplaceable",
                "skipped",
                "max queue",
                "busy queue",
            ],
            1,
        );
        for p in &self.policies {
            let r = &p.report;
            pods.add_row([
                r.policy.clone(),
                r.placed.to_string(),
                r.finished.to_string(),
                r.waiting.to_string(),
                r.unplaceable.to_string(),
                r.skipped.to_string(),
                r.max_queue.to_string(),
                format!("{:.1}", r.busy_window.mean_queue),
            ]);
        }
        table::write(out, &pods, "")?;
        writeln!(out)?;
        let mut times = table::new(
            &[
                "policy",
                "wait p50",
                "wait p90",
                "wait p99",
                "wait mean",
                "done p50",
                "done p90",
                "done p99",
                "done mean",
            ],
            1,
        );
        for p in &self.policies {
            let r = &p.report;
            let mut row = vec![r.policy.clone()];
            for s in [&r.waiting_s, &r.completion_s] {
                row.extend([span(s.p50), span(s.p90), span(s.p99), span(s.mean)]);
            }
            times.add_row(row);
        }
        writeln!(
            out,
            "times: waiting = start − arrival, done = finish − arrival"
        )?;
        table::write(out, &times, "")?;
        Ok(())
    }
}

/// A trace error as an input error: file, line, column and field, with the
/// line quoted. The library's reader gives the line and character column
/// (it reads quoted fields as one, so the column counts the raw text).
fn trace_error(e: TraceError) -> CliError {
    let file = PathBuf::from(&e.file);
    if let TraceErrorKind::Io(io) = &e.kind {
        return CliError::Input {
            file,
            position: None,
            field: None,
            message: format!("cannot read the trace file: {io}"),
            source_line: None,
        };
    }
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let position = Position {
        line: e.line.max(1),
        column: e.char_column.unwrap_or(1),
    };
    CliError::input_at_line(&file, &text, position, e.column, e.kind.to_string())
}

fn progress_bar(hidden: bool, end: u64) -> ProgressBar {
    let target = if hidden {
        ProgressDrawTarget::hidden()
    } else {
        // Draws only when stderr is a terminal.
        ProgressDrawTarget::stderr()
    };
    let bar = ProgressBar::with_draw_target(Some(end.max(1)), target);
    if let Ok(style) = ProgressStyle::with_template("{prefix:<20} [{bar:30}] {percent:>3}% · {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Shows progress, and with `--compress` waits until the wall clock has
/// caught up with the simulated time.
struct Pacer {
    bar: ProgressBar,
    compress: Option<f64>,
    start: Instant,
    end: u64,
}

/// Longest single sleep while pacing, so that the bar keeps moving.
const PACE_STEP: Duration = Duration::from_millis(100);

impl Pacer {
    fn show(&self, time: u64, p: &Progress) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.set_position(time.min(self.end));
        self.bar.set_message(format!(
            "day {:.1} · {} placed · {} waiting",
            time as f64 / 86_400.0,
            p.placed,
            p.waiting
        ));
    }

    fn on_time(&self, p: &Progress) {
        if let Some(f) = self.compress {
            // Checked before the run for the trace's end; a drained replay
            // can go past it, and is not paced beyond the clock's range.
            let Some(due) = due(self.start, p.time, f) else {
                self.show(p.time, p);
                return;
            };
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                // Pacing a replay against the wall clock: wait for the next
                // event's time, showing the simulated clock meanwhile.
                std::thread::sleep((due - now).min(PACE_STEP));
                let shown = (self.start.elapsed().as_secs_f64() * f) as u64;
                self.show(shown.min(p.time), p);
            }
        }
        self.show(p.time, p);
    }
}

/// When simulated second `time` is due on the wall clock, at `f` trace
/// seconds per wall second from `start`; `None` past the clock's range.
fn due(start: Instant, time: u64, f: f64) -> Option<Instant> {
    Duration::try_from_secs_f64(time as f64 / f)
        .ok()
        .and_then(|d| start.checked_add(d))
}

/// Replays the trace through each chosen policy and builds the report.
fn replay(args: &ReplayArgs) -> Result<ReplayOutput, CliError> {
    let config = ReplayConfig {
        seed: args.seed,
        all_nodes: args.all_nodes,
        limit: args.limit.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        drain: args.drain,
        arrival_speedup: args.arrival_speedup,
        queue: args.queue,
        skip_failed: args.skip_failed,
        busy_window: args.busy_window,
        ..ReplayConfig::default()
    };
    let replay = Replay::load(&args.nodes, &args.pods, &config).map_err(trace_error)?;
    if replay.nodes.is_empty() {
        return Err(CliError::Other(format!(
            "no node to replay on: {} has no {}node",
            args.nodes.display(),
            if args.all_nodes {
                ""
            } else {
                "GPU node (--all-nodes includes CPU-only nodes) or no "
            }
        )));
    }
    if let Some(f) = args.compress {
        if due(Instant::now(), replay.trace_end, f).is_none() {
            return Err(CliError::Other(format!(
                "--compress {f:?}: the trace's end ({} s) would be past the clock's range at \
                 {f:?} trace seconds per wall second; use a larger factor",
                replay.trace_end
            )));
        }
    }
    for s in &replay.skipped {
        tracing::debug!(pod = %s.name, reason = %s.reason, "replay.pod_skipped");
    }
    let mut skipped_by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for s in &replay.skipped {
        *skipped_by_reason.entry(s.reason.to_string()).or_default() += 1;
    }
    tracing::info!(
        nodes = replay.nodes.len(),
        pods = replay.pods.len(),
        skipped = replay.skipped.len(),
        trace_end_s = replay.trace_end,
        "replay.load"
    );

    let mut policies = Vec::new();
    for name in args.policy.policies() {
        let mut policy = name.build(args.seed);
        let bar = progress_bar(args.no_progress, replay.trace_end);
        bar.set_prefix(name.name());
        logging::show_bar(Some(bar.clone()));
        let start = Instant::now();
        let pacer = Pacer {
            bar: bar.clone(),
            compress: args.compress,
            start,
            end: replay.trace_end,
        };
        let run = replay.run_with(policy.as_mut(), |p| pacer.on_time(p));
        bar.finish_and_clear();
        logging::show_bar(None);
        let mut run = run.map_err(|e| CliError::Other(format!("replay failed: {e}")))?;
        run.report.policy = name.name().to_owned();
        let elapsed_s = start.elapsed().as_secs_f64();
        tracing::info!(
            policy = name.name(),
            elapsed_s,
            gpu_allocation = run.report.gpu_allocation,
            placed = run.report.placed,
            waiting = run.report.waiting,
            "replay.policy"
        );
        let timeline = thin(&run.timeline, 0, run.report.end_s, TIMELINE_POINTS);
        policies.push(PolicyResult {
            report: run.report,
            elapsed_s,
            timeline,
            full_timeline: run.timeline,
        });
    }

    let gpus = replay.gpu_capacity_milli() / 1000;
    Ok(ReplayOutput {
        pods_file: args.pods.display().to_string(),
        nodes_file: args.nodes.display().to_string(),
        seed: args.seed,
        compress: args.compress,
        arrival_speedup: args.arrival_speedup,
        limit: args.limit,
        all_nodes: args.all_nodes,
        drain: args.drain,
        queue: args.queue.name(),
        skip_failed: args.skip_failed,
        cluster: ClusterInfo {
            nodes: replay.nodes.len(),
            gpu_nodes: replay.nodes.iter().filter(|n| n.gpu_count() > 0).count(),
            gpus,
            gpu_milli: replay.gpu_capacity_milli(),
            cpu_milli: replay.cpu_capacity_milli(),
        },
        trace: TraceInfo {
            pods: replay.pods.len() + replay.skipped.len(),
            replayed: replay.pods.len(),
            skipped: replay.skipped.len(),
            skipped_by_reason,
            end_s: replay.trace_end,
            failed_in_trace: replay.failed_in_trace,
            busy_window_s: {
                let (start, length) = replay.busy_span();
                (start, start + length)
            },
        },
        policies,
    })
}

/// Runs `allot replay`: prints the table and writes the JSON report.
///
/// # Errors
///
/// A [`CliError`] for a trace file that cannot be read or parsed (naming
/// file, line, column and field), a cluster without nodes, or an output
/// that cannot be written.
pub(crate) fn run(args: &ReplayArgs) -> Result<(), CliError> {
    if let Some(path) = &args.json {
        crate::output::check_dir(path)?;
    }
    if let Some(path) = &args.plot {
        crate::output::check_svg(path)?;
        crate::output::check_dir(path)?;
    }
    let output = replay(args)?;
    let to_stdout = args.json.as_deref() == Some(Path::new("-"));
    if !args.quiet {
        // With `--json -` stdout carries the JSON; the table goes to stderr.
        let shown = if to_stdout {
            output.print_table(&mut io::stderr().lock())
        } else {
            output.print_table(&mut io::stdout().lock())
        };
        shown.map_err(|e| CliError::Other(format!("cannot print the report: {e}")))?;
    }
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&output)
            .map_err(|e| CliError::Other(format!("cannot encode the report: {e}")))?;
        crate::output::write(path, &text)?;
    }
    if let Some(path) = &args.plot {
        plot::write(&output, path).map_err(CliError::Other)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_names_parse_and_unknown_ones_list_the_valid_ones() {
        assert_eq!(
            "Best_Fit".parse::<PolicyChoice>().unwrap(),
            PolicyChoice::One(PolicyName::BestFit)
        );
        assert_eq!("all".parse::<PolicyChoice>().unwrap(), PolicyChoice::All);
        let e = "fgd".parse::<PolicyChoice>().unwrap_err().to_string();
        assert_eq!(
            e,
            "unknown policy `fgd` (expected one of: random, best-fit, dot-product, \
             gpu-packing, fragmentation-aware, all)"
        );
    }

    #[test]
    fn pacing_past_the_clocks_range_is_none_not_a_panic() {
        let start = Instant::now();
        assert_eq!(due(start, 10, 2.0), Some(start + Duration::from_secs(5)));
        assert_eq!(due(start, 12_902_960, 1e-300), None);
        assert_eq!(due(start, u64::MAX, f64::MIN_POSITIVE), None);
        assert_eq!(due(start, 0, 1e-300), Some(start));
    }

    #[test]
    fn spans_pick_a_readable_unit() {
        assert_eq!(span(0.0), "0s");
        assert_eq!(span(90.0), "1.5m");
        assert_eq!(span(7_200.0), "2.0h");
        assert_eq!(span(129_600.0), "1.5d");
    }
}
