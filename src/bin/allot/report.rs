//! What `allot run` reports: the JSON document (`--json`) and the table it
//! prints.

use crate::compute::WorkSource;
use crate::machine::MachineLoad;
use crate::workload::model::TaskMix;
use allot::{Metrics, RuntimeConfig};
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::{self, Write};

/// The full report of one run.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
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
    pub(crate) metrics: Metrics,
    /// Per kind of task.
    pub(crate) kinds: Vec<KindReport>,
    /// Failed tasks by the reason of their last failure.
    pub(crate) failures: BTreeMap<String, u64>,
    /// Panics that a fault plan injected (each failed one attempt).
    pub(crate) injected_panics: u64,
    /// Periodic snapshots of every node.
    pub(crate) samples: Vec<Sample>,
    /// Restarts and migrations, from the snapshots.
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

/// Latency percentiles in milliseconds.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Percentiles {
    pub(crate) count: usize,
    pub(crate) mean: f64,
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// Latencies recorded as tasks end, in constant memory: a histogram of
/// microseconds with three significant digits (percentiles within 0.1 %),
/// the exact mean and maximum.
#[derive(Debug)]
pub(crate) struct Latencies {
    micros: hdrhistogram::Histogram<u64>,
    sum_ms: f64,
    max_ms: f64,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            // Three significant digits is within hdrhistogram's range (0-5).
            micros: hdrhistogram::Histogram::new(3).expect("3 significant digits is valid"),
            sum_ms: 0.0,
            max_ms: 0.0,
        }
    }
}

impl Latencies {
    /// Records one latency, in milliseconds.
    pub(crate) fn record(&mut self, ms: f64) {
        let ms = if ms.is_finite() { ms.max(0.0) } else { 0.0 };
        // `as` saturates; the histogram grows to fit, and past what it can
        // track records its largest value.
        let micros = (ms * 1000.0).round() as u64;
        if self.micros.record(micros).is_err() {
            self.micros.saturating_record(micros);
        }
        self.sum_ms += ms;
        self.max_ms = self.max_ms.max(ms);
    }

    /// Their percentiles (nearest rank, to the histogram's precision).
    pub(crate) fn percentiles(&self) -> Percentiles {
        let count = self.micros.len();
        if count == 0 {
            return Percentiles::default();
        }
        let at = |q: f64| (self.micros.value_at_quantile(q) as f64 / 1000.0).min(self.max_ms);
        Percentiles {
            count: count as usize,
            mean: self.sum_ms / count as f64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: self.max_ms,
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
    pub(crate) latency_ms: Percentiles,
    pub(crate) deadline_s: Option<f64>,
    /// Tasks that did not complete within their deadline (failed ones too).
    pub(crate) deadline_missed: Option<u64>,
}

/// One node in a snapshot.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct NodeSample {
    pub(crate) load: f64,
    pub(crate) queued: u64,
    pub(crate) running: u64,
    pub(crate) completed: u64,
    pub(crate) restarts: u64,
    pub(crate) migrations_in: u64,
    pub(crate) migrations_out: u64,
    pub(crate) available: bool,
}

/// A snapshot of every node at `t_s` seconds into the run.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Sample {
    pub(crate) t_s: f64,
    pub(crate) completed: u64,
    pub(crate) failed: u64,
    pub(crate) nodes: Vec<NodeSample>,
}

impl Sample {
    pub(crate) fn of(t_s: f64, m: &Metrics) -> Sample {
        Sample {
            t_s,
            completed: m.totals.completed,
            failed: m.totals.failed,
            nodes: m
                .nodes
                .iter()
                .map(|n| NodeSample {
                    load: n.load,
                    queued: n.queued,
                    running: n.running,
                    completed: n.completed,
                    restarts: n.restarts,
                    migrations_in: n.migrations_in,
                    migrations_out: n.migrations_out,
                    available: n.available,
                })
                .collect(),
        }
    }
}

/// What happened to a node between two snapshots.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    /// The node was restarted.
    Restart,
    /// Tasks migrated to the node.
    Migration,
}

/// A restart or a migration, seen at `t_s`.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Event {
    pub(crate) t_s: f64,
    pub(crate) node: usize,
    pub(crate) kind: EventKind,
    /// Restarts, or tasks moved in.
    pub(crate) count: u64,
}

/// How long after a node's restart the tasks moved into it count as
/// refilling it ([`refills`]).
pub(crate) const REFILL_WINDOW_S: f64 = 0.5;

/// Of the migrations in `events`, those into a node within
/// [`REFILL_WINDOW_S`] after one of its restarts: a restarted node comes
/// back with an empty queue (its queued tasks went to the other nodes), and
/// the balancer moves work back into it.
pub(crate) fn refills(events: &[Event]) -> u64 {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Migration)
        .filter(|m| {
            events.iter().any(|r| {
                r.kind == EventKind::Restart
                    && r.node == m.node
                    && m.t_s >= r.t_s
                    && m.t_s - r.t_s <= REFILL_WINDOW_S
            })
        })
        .map(|m| m.count)
        .sum()
}

/// The restarts and migrations between consecutive snapshots.
pub(crate) fn events(samples: &[Sample]) -> Vec<Event> {
    let mut out = Vec::new();
    for w in samples.windows(2) {
        for (node, (a, b)) in w[0].nodes.iter().zip(&w[1].nodes).enumerate() {
            let restarts = b.restarts.saturating_sub(a.restarts);
            if restarts > 0 {
                out.push(Event {
                    t_s: w[1].t_s,
                    node,
                    kind: EventKind::Restart,
                    count: restarts,
                });
            }
            let moved = b.migrations_in.saturating_sub(a.migrations_in);
            if moved > 0 {
                out.push(Event {
                    t_s: w[1].t_s,
                    node,
                    kind: EventKind::Migration,
                    count: moved,
                });
            }
        }
    }
    out
}

fn node_name(r: &Report, i: usize) -> String {
    r.metrics
        .nodes
        .get(i)
        .map(|n| n.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("node-{i}"))
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

fn ms(us: u64) -> String {
    format!("{:.2} ms", us as f64 / 1000.0)
}

impl Report {
    /// The name of node `i`.
    pub(crate) fn node_name(&self, i: usize) -> String {
        node_name(self, i)
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
        writeln!(out)?;

        let nw = (0..m.nodes.len())
            .map(|i| node_name(self, i).chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            out,
            "{:<nw$} {:>6} {:>5} {:>9} {:>6} {:>8} {:>7} {:>8} {:>6} {:>9}  state",
            "node",
            "speed",
            "slots",
            "completed",
            "failed",
            "restarts",
            "migr in",
            "migr out",
            "stale",
            "timed out"
        )?;
        for (i, n) in m.nodes.iter().enumerate() {
            let spec = c.nodes.get(i);
            // The snapshot is taken after shutdown: every node is stopped,
            // so only retirement (for good, mid-run) is worth showing.
            let state = if n.retired { "retired" } else { "in service" };
            writeln!(
                out,
                "{:<nw$} {:>6.2} {:>5} {:>9} {:>6} {:>8} {:>7} {:>8} {:>6} {:>9}  {state}",
                node_name(self, i),
                spec.map_or(n.speed, |s| s.speed),
                spec.map_or(0, |s| s.slots),
                n.completed,
                n.failed,
                n.restarts,
                n.migrations_in,
                n.migrations_out,
                n.stale_results,
                n.timed_out,
            )?;
        }
        let sum = |f: fn(&allot::NodeMetrics) -> u64| m.nodes.iter().map(f).sum::<u64>();
        writeln!(
            out,
            "{:<nw$} {:>6} {:>5} {:>9} {:>6} {:>8} {:>7} {:>8} {:>6} {:>9}",
            "all",
            "",
            c.nodes.iter().map(|s| s.slots).sum::<usize>(),
            sum(|n| n.completed),
            sum(|n| n.failed),
            sum(|n| n.restarts),
            sum(|n| n.migrations_in),
            sum(|n| n.migrations_out),
            sum(|n| n.stale_results),
            sum(|n| n.timed_out),
        )?;
        writeln!(out)?;

        let l = &m.latency;
        writeln!(
            out,
            "latency   p50 {} · p90 {} · p99 {} · max {} · mean {}  (submission to completion, {} tasks)",
            ms(l.p50_us),
            ms(l.p90_us),
            ms(l.p99_us),
            ms(l.max_us),
            ms(l.mean_us as u64),
            l.count,
        )?;
        writeln!(out)?;

        let kw = self
            .kinds
            .iter()
            .map(|k| k.name.chars().count())
            .max()
            .unwrap_or(0)
            .max(4);
        writeln!(
            out,
            "{:<kw$} {:>6} {:>7} {:>9} {:>6} {:>7} {:>7} {:>8} {:>8} {:>9} {:>7}",
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
            "missed"
        )?;
        for k in &self.kinds {
            writeln!(
                out,
                "{:<kw$} {:>6} {:>7} {:>9} {:>6} {:>7} {:>7} {:>8.2} {:>8.2} {:>9} {:>7}",
                k.name,
                k.weight,
                k.submitted + k.refused,
                k.completed,
                k.failed,
                k.refused,
                k.retries,
                k.latency_ms.p50,
                k.latency_ms.p99,
                k.deadline_s
                    .map_or_else(|| "-".to_owned(), |d| format!("{:.0} ms", d * 1000.0)),
                k.deadline_missed
                    .map_or_else(|| "-".to_owned(), |n| n.to_string()),
            )?;
        }
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
mod tests {
    use super::*;

    fn sample(t_s: f64, restarts: u64, migrations_in: u64) -> Sample {
        Sample {
            t_s,
            completed: 0,
            failed: 0,
            nodes: vec![NodeSample {
                load: 0.0,
                queued: 0,
                running: 0,
                completed: 0,
                restarts,
                migrations_in,
                migrations_out: 0,
                available: true,
            }],
        }
    }

    #[test]
    fn events_are_the_increases_between_snapshots() {
        let ev = events(&[sample(0.0, 0, 0), sample(0.1, 1, 0), sample(0.2, 1, 5)]);
        assert_eq!(ev.len(), 2);
        assert_eq!(
            (ev[0].kind, ev[0].t_s, ev[0].count),
            (EventKind::Restart, 0.1, 1)
        );
        assert_eq!((ev[1].kind, ev[1].count), (EventKind::Migration, 5));
    }

    #[test]
    fn refills_are_the_migrations_into_a_node_soon_after_its_restart() {
        let ev = |t_s: f64, node: usize, kind: EventKind, count: u64| Event {
            t_s,
            node,
            kind,
            count,
        };
        let events = [
            ev(0.10, 0, EventKind::Migration, 7),
            ev(0.20, 1, EventKind::Restart, 1),
            ev(0.22, 1, EventKind::Migration, 100),
            ev(0.24, 0, EventKind::Migration, 5),
            ev(0.60, 1, EventKind::Migration, 50),
            ev(0.90, 1, EventKind::Migration, 3),
        ];
        assert_eq!(refills(&events), 150);
        assert_eq!(refills(&[]), 0);
    }

    #[test]
    fn percentiles_pick_nearest_ranks_to_a_thousandth() {
        let mut l = Latencies::default();
        for ms in (1..=100).rev() {
            l.record(f64::from(ms));
        }
        let p = l.percentiles();
        assert_eq!((p.count, p.mean, p.max), (100, 50.5, 100.0));
        for (got, want) in [(p.p50, 50.0), (p.p90, 90.0), (p.p99, 99.0)] {
            assert!((got - want).abs() <= want * 1e-3, "{got} vs {want}");
        }
        assert_eq!(Latencies::default().percentiles().count, 0);
        // Odd values do not panic.
        l.record(f64::NAN);
        l.record(1e300);
        assert_eq!(l.percentiles().count, 102);
    }
}
