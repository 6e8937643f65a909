//! What `allot run` reports: the JSON document (`--json`, described field
//! by field in `docs/report-schema.md`) and the table it prints.
//!
//! One unit convention: every duration is in seconds, an `f64` whose field
//! name ends in `_s`; rates end in `_per_s`. `config` and `workload.tasks`
//! echo the workload file as run, whose durations are seconds too (without
//! the suffix, as the file spells them). Nodes are named, never numbered,
//! in samples, events and abandoned attempts.

use crate::compute::WorkSource;
use crate::machine::MachineLoad;
use crate::table;
use crate::workload::model::TaskMix;
use allot::{AbandonReason, Health, Metrics, NodeMetrics, RuntimeConfig, Totals};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Write};
use std::time::{Duration, SystemTime};

mod samples;
pub(crate) use samples::{
    events, refills, Event, EventKind, NodeSample, Sample, Samples, Sampling, REFILL_WINDOW_S,
};

/// The version of the report's layout: raised when a field is removed,
/// renamed or changes meaning (new fields do not raise it).
pub(crate) const SCHEMA_VERSION: u32 = 1;

/// The full report of one run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    /// [`SCHEMA_VERSION`].
    pub(crate) schema_version: u32,
    /// The allot that ran it.
    pub(crate) allot_version: &'static str,
    /// When the run started (RFC 3339, UTC, whole seconds).
    pub(crate) started_at: String,
    /// The machine it ran on.
    pub(crate) machine: Machine,
    /// What ran.
    pub(crate) workload: WorkloadInfo,
    /// The runtime settings it ran with (nodes resolved, overrides applied;
    /// with `--nats`, the workers' nodes).
    pub(crate) config: RuntimeConfig,
    /// With `--nats`: the cluster it ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cluster: Option<ClusterInfo>,
    /// How much compute one unit of cost was.
    pub(crate) work: WorkInfo,
    /// How busy the machine was during the run (Linux only).
    pub(crate) machine_load: Option<MachineLoad>,
    /// From the first submission until the last task ended.
    pub(crate) elapsed_s: f64,
    /// Completed tasks per second over `elapsed_s`.
    pub(crate) throughput_per_s: f64,
    /// The runtime's final metrics (per node, totals, latency, health).
    pub(crate) metrics: RunMetrics,
    /// Per kind of task.
    pub(crate) kinds: Vec<KindReport>,
    /// Failed tasks by the reason of their last failure.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Panics that a fault plan injected (each failed one attempt).
    pub(crate) injected_panics: u64,
    /// How often the snapshots were asked for and how often they came.
    pub(crate) sampling: Sampling,
    /// Periodic snapshots of every node.
    pub(crate) samples: Samples,
    /// Restarts, migrations, retirements and speed changes, from the
    /// snapshots.
    pub(crate) events: Vec<Event>,
    /// Submitted tasks that are neither finished nor in flight (the ledger
    /// check): 0 unless something was lost.
    pub(crate) unaccounted: i64,
}

/// The workload, as run.
#[derive(Debug, Serialize)]
pub(crate) struct WorkloadInfo {
    pub(crate) file: String,
    pub(crate) name: String,
    pub(crate) description: Option<String>,
    pub(crate) tasks: TaskMix,
}

/// The cluster a `--nats` run ran on.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterInfo {
    /// The NATS servers.
    pub(crate) urls: Vec<String>,
    /// The subject prefix.
    pub(crate) subject_prefix: String,
    /// Workers awaited (their nodes are `config.nodes`).
    pub(crate) workers: usize,
}

/// The calibration of task work.
#[derive(Debug, Serialize)]
pub(crate) struct WorkInfo {
    /// Side of the square f32 matrices multiplied.
    pub(crate) matrix: usize,
    /// Matrix products per second of cost.
    pub(crate) products_per_cost_second: f64,
    /// Where the figure came from: `flag` (`--work-rate`), `cached`, or
    /// `measured` for this run.
    pub(crate) source: WorkSource,
    /// The calibration cache file read or written.
    pub(crate) cache_file: Option<String>,
    /// When the figure was measured (seconds since the Unix epoch).
    pub(crate) measured_unix_s: Option<u64>,
}

/// The machine a run ran on.
#[derive(Debug, Serialize)]
pub(crate) struct Machine {
    /// The operating system (`linux`, `macos`, …).
    pub(crate) os: &'static str,
    /// The kernel's release, where it can be read (`/proc/sys/kernel/osrelease`).
    pub(crate) os_release: Option<String>,
    /// The CPU architecture (`x86_64`, `aarch64`, …).
    pub(crate) arch: &'static str,
    /// The CPU model, where it can be read (`/proc/cpuinfo`).
    pub(crate) cpu: Option<String>,
    /// Logical CPUs this process may run on (its affinity and cgroup quota
    /// counted).
    pub(crate) cores: usize,
}

impl Machine {
    /// This machine.
    pub(crate) fn read() -> Machine {
        let text = |path: &str| std::fs::read_to_string(path).ok();
        Machine {
            os: std::env::consts::OS,
            os_release: text("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()),
            arch: std::env::consts::ARCH,
            cpu: text("/proc/cpuinfo").and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            }),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// `at` as RFC 3339 in UTC, to the second (`2026-12-05T13:14:46Z`).
pub(crate) fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

/// Latency figures, in seconds.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Percentiles {
    /// Tasks measured.
    pub(crate) count: u64,
    pub(crate) mean_s: f64,
    pub(crate) p50_s: f64,
    pub(crate) p90_s: f64,
    pub(crate) p99_s: f64,
    pub(crate) max_s: f64,
}

/// Latencies recorded as tasks end, in constant memory: a histogram of
/// microseconds with three significant digits (percentiles within 0.1 %),
/// the exact mean and maximum.
#[derive(Debug)]
pub(crate) struct Latencies {
    micros: hdrhistogram::Histogram<u64>,
    sum_s: f64,
    max: Duration,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            // Three significant digits is within hdrhistogram's range (0-5).
            micros: hdrhistogram::Histogram::new(3).expect("3 significant digits is valid"),
            sum_s: 0.0,
            max: Duration::ZERO,
        }
    }
}

impl Latencies {
    /// Records one latency.
    pub(crate) fn record(&mut self, latency: Duration) {
        // The histogram grows to fit, and past what it can track records
        // its largest value.
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        if self.micros.record(micros).is_err() {
            self.micros.saturating_record(micros);
        }
        self.sum_s += latency.as_secs_f64();
        self.max = self.max.max(latency);
    }

    /// Their percentiles (nearest rank, to the histogram's precision).
    pub(crate) fn percentiles(&self) -> Percentiles {
        let count = self.micros.len();
        if count == 0 {
            return Percentiles::default();
        }
        let max_s = self.max.as_secs_f64();
        let at = |q: f64| (self.micros.value_at_quantile(q) as f64 / 1e6).min(max_s);
        Percentiles {
            count,
            mean_s: self.sum_s / count as f64,
            p50_s: at(0.5),
            p90_s: at(0.9),
            p99_s: at(0.99),
            max_s,
        }
    }
}

/// One kind of task's outcome.
#[derive(Debug, Serialize)]
pub(crate) struct KindReport {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) weight: f64,
    pub(crate) mean_cost_s: f64,
    /// Accepted by the runtime.
    pub(crate) submitted: u64,
    /// Handed back by the runtime (no node left for it, or shutting down).
    pub(crate) refused: u64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) cancelled: u64,
    /// Extra attempts (retries) of the tasks that ended.
    pub(crate) retries: u64,
    /// Submission to completion, of completed tasks.
    pub(crate) latency: Percentiles,
    pub(crate) deadline_s: Option<f64>,
    /// Tasks that did not complete within their deadline (failed ones too).
    pub(crate) deadline_missed: Option<u64>,
}

/// The names the report gives the nodes, by index: each node's own name,
/// `node-<i>` for a node without one, and `<name>#<i>` for every node whose
/// name another node shares, so that each is unique.
pub(crate) fn node_names(nodes: &[NodeMetrics]) -> Vec<String> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for n in nodes {
        *seen.entry(n.name.as_str()).or_default() += 1;
    }
    nodes
        .iter()
        .enumerate()
        .map(|(i, n)| match seen[n.name.as_str()] {
            _ if n.name.is_empty() => format!("node-{i}"),
            1 => n.name.clone(),
            _ => format!("{}#{i}", n.name),
        })
        .collect()
}

/// What a node is doing: what the table's `state` column says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NodeState {
    /// Accepting and running work (at the end of the run: was never
    /// retired; the shutdown itself is not counted).
    InService,
    /// Down, waiting for its restart.
    Restarting,
    /// Retired for good, past its restart intensity or by its restart
    /// policy.
    Retired,
}

impl NodeState {
    /// The state of `n`; `stopped` after the runtime's shutdown, when no
    /// node accepts work and only retirement tells.
    pub(crate) fn of(n: &NodeMetrics, stopped: bool) -> NodeState {
        if n.retired {
            NodeState::Retired
        } else if n.available || stopped {
            NodeState::InService
        } else {
            NodeState::Restarting
        }
    }

    fn label(self) -> &'static str {
        match self {
            NodeState::InService => "in service",
            NodeState::Restarting => "restarting",
            NodeState::Retired => "retired",
        }
    }
}

/// One node at the end of the run.
#[derive(Debug, Serialize)]
pub(crate) struct NodeReport {
    /// Unique in the report (see [`node_names`]).
    pub(crate) name: String,
    /// Its place in `config.nodes` (fault plans number nodes so).
    pub(crate) index: usize,
    /// Nominal speed (from the config).
    pub(crate) speed: f64,
    pub(crate) slots: usize,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    /// Times it went down.
    pub(crate) failures: u64,
    pub(crate) restarts: u64,
    pub(crate) migrations_in: u64,
    pub(crate) migrations_out: u64,
    pub(crate) stale_results: u64,
    pub(crate) timed_out: u64,
    pub(crate) state: NodeState,
}

/// The histogram's bucket of latencies from `from_s` to `to_s`, both
/// included, at the histogram's resolution (whole microseconds).
#[derive(Debug, Serialize)]
pub(crate) struct Bucket {
    pub(crate) from_s: f64,
    pub(crate) to_s: f64,
    pub(crate) count: u64,
}

/// The runtime's latency histogram (every completed task).
#[derive(Debug, Serialize)]
pub(crate) struct LatencyReport {
    #[serde(flatten)]
    pub(crate) summary: Percentiles,
    /// Consecutive buckets, each twice as wide as the one before (0, 1 µs,
    /// 2–3 µs, 4–7 µs, …), up to the one holding the largest latency.
    pub(crate) buckets: Vec<Bucket>,
}

/// An attempt whose code still ran when the report was taken.
#[derive(Debug, Serialize)]
pub(crate) struct AbandonedReport {
    pub(crate) task: u64,
    pub(crate) node: String,
    pub(crate) attempt: u32,
    pub(crate) reason: AbandonReason,
    pub(crate) running_for_s: f64,
}

/// What the coordinator of a `--nats` run saw on the wire.
#[derive(Debug, Serialize)]
pub(crate) struct WireReport {
    pub(crate) published: u64,
    pub(crate) work_messages: u64,
    pub(crate) republished: u64,
    pub(crate) delivered: u64,
    pub(crate) result_messages: u64,
    pub(crate) adopted: u64,
    pub(crate) ignored: u64,
    pub(crate) bad_results: u64,
    pub(crate) consumer_restarts: u64,
    pub(crate) workers: Vec<WorkerReport>,
}

/// One worker, as the coordinator last heard of it.
#[derive(Debug, Serialize)]
pub(crate) struct WorkerReport {
    pub(crate) name: String,
    pub(crate) silent_for_s: f64,
    pub(crate) leaving: bool,
    pub(crate) bad_messages: u64,
    pub(crate) nodes: usize,
}

/// The runtime's final metrics, in the report's units and names.
#[derive(Debug, Serialize)]
pub(crate) struct RunMetrics {
    pub(crate) health: Health,
    pub(crate) totals: Totals,
    /// Balancer rounds that moved at least one task.
    pub(crate) balancer_rounds: u64,
    /// Submission to completion, every completed task.
    pub(crate) latency: LatencyReport,
    pub(crate) nodes: Vec<NodeReport>,
    pub(crate) abandoned: Vec<AbandonedReport>,
    /// With `--nats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) wire: Option<WireReport>,
}

impl RunMetrics {
    /// The final metrics `m` (taken after shutdown) of nodes run as
    /// `config`, named `names`.
    pub(crate) fn of(m: &Metrics, config: &RuntimeConfig, names: &[String]) -> RunMetrics {
        let l = &m.latency;
        let s = |us: u64| us as f64 / 1e6;
        // The runtime gives each bucket's highest value (µs); the next
        // bucket starts a microsecond above it.
        let mut from = 0;
        let buckets = l
            .buckets
            .iter()
            .map(|&(to, count)| {
                let b = Bucket {
                    from_s: s(from),
                    to_s: s(to),
                    count,
                };
                from = to.saturating_add(1);
                b
            })
            .collect();
        let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| format!("node-{i}"));
        RunMetrics {
            health: m.health,
            totals: m.totals.clone(),
            balancer_rounds: m.balancer_rounds,
            latency: LatencyReport {
                summary: Percentiles {
                    count: l.count,
                    mean_s: l.mean_us / 1e6,
                    p50_s: s(l.p50_us),
                    p90_s: s(l.p90_us),
                    p99_s: s(l.p99_us),
                    max_s: s(l.max_us),
                },
                buckets,
            },
            nodes: m
                .nodes
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let spec = config.nodes.get(i);
                    NodeReport {
                        name: name(i),
                        index: i,
                        speed: spec.map_or(n.speed, |s| s.speed),
                        slots: spec.map_or(0, |s| s.slots),
                        completed: n.completed,
                        failed: n.failed,
                        failures: n.failures,
                        restarts: n.restarts,
                        migrations_in: n.migrations_in,
                        migrations_out: n.migrations_out,
                        stale_results: n.stale_results,
                        timed_out: n.timed_out,
                        state: NodeState::of(n, true),
                    }
                })
                .collect(),
            abandoned: m
                .abandoned
                .iter()
                .map(|a| AbandonedReport {
                    task: a.task.0,
                    node: name(a.node.0),
                    attempt: a.attempt,
                    reason: a.reason,
                    running_for_s: a.running_for.as_secs_f64(),
                })
                .collect(),
            wire: m.cluster.as_ref().map(|c| WireReport {
                published: c.published,
                work_messages: c.work_messages,
                republished: c.republished,
                delivered: c.delivered,
                result_messages: c.result_messages,
                adopted: c.adopted,
                ignored: c.ignored,
                bad_results: c.bad_results,
                consumer_restarts: c.consumer_restarts,
                workers: c
                    .workers
                    .iter()
                    .map(|w| WorkerReport {
                        name: w.name.clone(),
                        silent_for_s: w.silent_for.as_secs_f64(),
                        leaving: w.leaving,
                        bad_messages: w.bad_messages,
                        nodes: w.nodes,
                    })
                    .collect(),
            }),
        }
    }
}

/// How long ago `unix_s` was: `5 s ago`, `3 min ago`, `2 h ago`, `4 days ago`.
fn age(unix_s: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = now.saturating_sub(unix_s);
    match s {
        0..60 => format!("{s} s ago"),
        60..3_600 => format!("{} min ago", s / 60),
        3_600..86_400 => format!("{} h ago", s / 3_600),
        _ => format!("{} days ago", s / 86_400),
    }
}

fn ms(s: f64) -> String {
    format!("{:.2} ms", s * 1000.0)
}

impl Report {
    /// The name of node `i`.
    pub(crate) fn node_name(&self, i: usize) -> &str {
        self.samples.names.get(i).map_or("", String::as_str)
    }

    /// Writes the human-readable report.
    pub(crate) fn print_table(&self, out: &mut impl Write) -> io::Result<()> {
        let m = &self.metrics;
        let t = &m.totals;
        let c = &self.config;
        writeln!(out)?;
        write!(out, "workload  {}", self.workload.name)?;
        if let Some(d) = &self.workload.description {
            write!(out, " — {d}")?;
        }
        writeln!(out)?;
        writeln!(out, "file      {}", self.workload.file)?;
        writeln!(
            out,
            "runtime   {} nodes · policy {} · discipline {} · seed {} · balancer {} · restarts {}",
            c.nodes.len(),
            c.policy,
            c.discipline,
            c.rng_seed,
            if c.balancer.enabled { "on" } else { "off" },
            serde_json::to_value(c.supervision.strategy)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        )?;
        if let Some(cl) = &self.cluster {
            writeln!(
                out,
                "cluster   {} worker(s) on {} · prefix {} · tasks run as allot.compute",
                cl.workers,
                cl.urls.join(","),
                cl.subject_prefix
            )?;
        }
        let rate = if self.workload.tasks.arrival_rate > 0.0 {
            format!("{} tasks/s offered", self.workload.tasks.arrival_rate)
        } else {
            "as fast as possible".to_owned()
        };
        writeln!(
            out,
            "ran       {} tasks ({rate}) in {:.2} s · {:.0} tasks/s completed · health {} · ledger {}",
            t.submitted,
            self.elapsed_s,
            self.throughput_per_s,
            m.health,
            if self.unaccounted == 0 {
                "ok".to_owned()
            } else {
                format!("BROKEN ({} unaccounted)", self.unaccounted)
            },
        )?;
        let w = &self.work;
        let whence = match w.source {
            WorkSource::Flag => "pinned by --work-rate".to_owned(),
            WorkSource::Cached | WorkSource::Measured => format!(
                "{} {}{}",
                if w.source == WorkSource::Cached {
                    "cached,"
                } else {
                    "calibrated now,"
                },
                w.measured_unix_s
                    .map_or_else(String::new, |at| format!("measured {}", age(at))),
                w.cache_file
                    .as_deref()
                    .map_or_else(String::new, |f| format!(" in {f}")),
            ),
        };
        writeln!(
            out,
            "work      {:.0} products of {m}×{m} f32 matrices per second of cost · {whence}",
            w.products_per_cost_second,
            m = w.matrix,
        )?;
        if let Some(l) = &self.machine_load {
            writeln!(
                out,
                "machine   {} CPUs · this run kept {:.1} busy · other processes {:.1} · stolen {:.0} %",
                l.cpus,
                l.own_cpus,
                l.other_cpus,
                100.0 * l.steal
            )?;
            if l.busy {
                writeln!(
                    out,
                    "warning   the machine was busy with other work during the run: times, latencies and the spread of tasks over nodes are not comparable with a run on a quiet machine"
                )?;
            }
        }
        let sm = &self.sampling;
        if let (Some(median), Some(max)) = (sm.median_gap_s, sm.max_gap_s) {
            writeln!(
                out,
                "samples   {} every {} asked · median gap {} · largest {}",
                sm.taken,
                ms(sm.interval_s),
                ms(median),
                ms(max),
            )?;
            if sm.late() {
                writeln!(
                    out,
                    "warning   snapshots came less often than asked: the sampler waited for a CPU behind this run's {} task slots (a thread each) and other processes; the plot's time resolution is the gaps'",
                    self.config.nodes.iter().map(|n| n.slots.max(1)).sum::<usize>(),
                )?;
            }
        }
        writeln!(out)?;

        let mut nodes = table::new(
            &[
                "node",
                "speed",
                "slots",
                "completed",
                "failed",
                "restarts",
                "migr in",
                "migr out",
                "stale",
                "timed out",
                "state",
            ],
            1,
        );
        // The last column, words, reads left-aligned.
        if let Some(state) = nodes.column_mut(10) {
            state.set_cell_alignment(comfy_table::CellAlignment::Left);
        }
        for n in &m.nodes {
            nodes.add_row([
                n.name.clone(),
                format!("{:.2}", n.speed),
                n.slots.to_string(),
                n.completed.to_string(),
                n.failed.to_string(),
                n.restarts.to_string(),
                n.migrations_in.to_string(),
                n.migrations_out.to_string(),
                n.stale_results.to_string(),
                n.timed_out.to_string(),
                n.state.label().to_owned(),
            ]);
        }
        let sum = |f: fn(&NodeReport) -> u64| m.nodes.iter().map(f).sum::<u64>().to_string();
        nodes.add_row([
            "all".to_owned(),
            String::new(),
            m.nodes.iter().map(|n| n.slots).sum::<usize>().to_string(),
            sum(|n| n.completed),
            sum(|n| n.failed),
            sum(|n| n.restarts),
            sum(|n| n.migrations_in),
            sum(|n| n.migrations_out),
            sum(|n| n.stale_results),
            sum(|n| n.timed_out),
            String::new(),
        ]);
        table::write(out, &nodes, "")?;
        writeln!(out)?;

        let l = &m.latency;
        writeln!(
            out,
            "latency   p50 {} · p90 {} · p99 {} · max {} · mean {}  (submission to completion, {} tasks)",
            ms(l.summary.p50_s),
            ms(l.summary.p90_s),
            ms(l.summary.p99_s),
            ms(l.summary.max_s),
            ms(l.summary.mean_s),
            l.summary.count,
        )?;
        writeln!(out)?;

        let mut kinds = table::new(
            &[
                "kind",
                "weight",
                "tasks",
                "completed",
                "failed",
                "refused",
                "retries",
                "p50 ms",
                "p99 ms",
                "deadline",
                "missed",
            ],
            1,
        );
        for k in &self.kinds {
            kinds.add_row([
                k.name.clone(),
                k.weight.to_string(),
                (k.submitted + k.refused).to_string(),
                k.completed.to_string(),
                k.failed.to_string(),
                k.refused.to_string(),
                k.retries.to_string(),
                format!("{:.2}", k.latency.p50_s * 1000.0),
                format!("{:.2}", k.latency.p99_s * 1000.0),
                k.deadline_s
                    .map_or_else(|| "-".to_owned(), |d| format!("{:.0} ms", d * 1000.0)),
                k.deadline_missed
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            ]);
        }
        table::write(out, &kinds, "")?;
        writeln!(out)?;
        writeln!(
            out,
            "totals    submitted {} · completed {} · failed {} · cancelled {} · retried {} · restarts {} · migrations {} · balancer rounds {}",
            t.submitted,
            t.completed,
            t.failed,
            t.cancelled,
            t.retried,
            t.restarts,
            t.migrations,
            m.balancer_rounds,
        )?;
        if t.migrations > 0 && t.restarts > 0 {
            let refilled = refills(&self.events).min(t.migrations);
            writeln!(
                out,
                "migrated  {refilled} of the {} moves refilled a node within {REFILL_WINDOW_S} s of its restart (it comes back empty, its queue gone to the others); the rest evened out queues",
                t.migrations
            )?;
        }
        if !self.failures.is_empty() {
            let parts: Vec<String> = self
                .failures
                .iter()
                .map(|(why, n)| format!("{why} {n}"))
                .collect();
            writeln!(out, "failures  {}", parts.join(" · "))?;
        }
        if self.injected_panics > 0 {
            writeln!(
                out,
                "faults    {} injected panics (each failed one attempt or one node)",
                self.injected_panics
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
