//! What a replay runs: the cluster, the pods with their arrivals and
//! durations, and how a trace becomes them.

use super::outcome::TimelinePoint;
use super::queue::QueueOrder;
use super::times::{
    parse_pod_phases, parse_pod_times, PodTimes, SkipReason, SkippedPod, TIME_COLUMNS,
};
use super::window::busiest_start;
use crate::policy::{GpuDemand, GpuNode};
use crate::sim::cluster::DEFAULT_MAX_TASKS_PER_NODE;
use crate::sim::openb::{read, Trace, TraceError, TraceNode};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;

/// Default [`ReplayConfig::seed`], the same as the FGD simulator's.
pub const DEFAULT_REPLAY_SEED: u64 = 42;

/// How a trace becomes a [`Replay`].
///
/// # Default
///
/// Seed [`DEFAULT_REPLAY_SEED`], GPU nodes only, every pod (failed ones
/// too), stop at the end of the trace, [`DEFAULT_MAX_TASKS_PER_NODE`] pods
/// per node at most, arrivals as recorded, a FIFO queue, the busy window
/// found from the trace ([`Replay::busy_span`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayConfig {
    /// Seed of the node order (the policies' tie-break order).
    pub seed: u64,
    /// Include CPU-only nodes (by default only GPU nodes, as in the FGD
    /// paper).
    pub all_nodes: bool,
    /// Replay only the first this many pods of the pod list (the whole
    /// file is still parsed and checked).
    pub limit: Option<usize>,
    /// Run until every pod has left instead of stopping at the end of the
    /// trace.
    pub drain: bool,
    /// Most pods one node holds at once.
    pub max_tasks_per_node: u32,
    /// Arrivals come this many times faster: every gap between arrivals is
    /// divided by it, while each pod's running time is kept, so the offered
    /// load grows by this factor. 1.0 replays the trace as recorded.
    pub arrival_speedup: f64,
    /// How queued pods are retried.
    pub queue: QueueOrder,
    /// Skip the pods whose `pod_phase` is `Failed` in the trace (counted
    /// as skipped, [`SkipReason::FailedInTrace`]) instead of replaying
    /// them like the rest.
    pub skip_failed: bool,
    /// Length of the busy window, in replay seconds; `None`: while the
    /// GPU the pods would hold at their recorded times stays at least half
    /// its peak ([`Replay::busy_span`]).
    pub busy_window: Option<u64>,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            seed: DEFAULT_REPLAY_SEED,
            all_nodes: false,
            limit: None,
            drain: false,
            max_tasks_per_node: DEFAULT_MAX_TASKS_PER_NODE,
            arrival_speedup: 1.0,
            queue: QueueOrder::Fifo,
            skip_failed: false,
            busy_window: None,
        }
    }
}

/// A pod to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayPod {
    /// Its name.
    pub name: String,
    /// What it asks for.
    pub demand: GpuDemand,
    /// When it arrives, in seconds from the start of the replay.
    pub arrival: u64,
    /// How long it runs once placed, in seconds (at least 1).
    pub duration: u64,
}

impl ReplayPod {
    /// A pod arriving at `arrival` that runs `duration` seconds (at least
    /// 1) once placed.
    pub fn new(name: impl Into<String>, demand: GpuDemand, arrival: u64, duration: u64) -> Self {
        ReplayPod {
            name: name.into(),
            demand,
            arrival,
            duration: duration.max(1),
        }
    }
}

/// A cluster and the pods to replay on it.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The nodes, empty, in tie-break order.
    pub nodes: Vec<GpuNode>,
    /// Their names, same order.
    pub node_names: Vec<String>,
    /// The pods to replay, in file order.
    pub pods: Vec<ReplayPod>,
    /// Pods of the trace not replayed.
    pub skipped: Vec<SkippedPod>,
    /// The end of the trace, in replay seconds: the last `deletion_time`,
    /// or later if a pod placed on arrival would leave later. The replay
    /// stops there unless [`drain`](Self::drain) is set, and never before
    /// the last arrival.
    pub trace_end: u64,
    /// Run until every pod has left instead of stopping at
    /// [`trace_end`](Self::trace_end).
    pub drain: bool,
    /// How queued pods are retried.
    pub queue: QueueOrder,
    /// Pods replayed whose `pod_phase` in the trace is `Failed` (0 when
    /// they are skipped, or the trace has no phases).
    pub failed_in_trace: usize,
    /// Length of the busy window, in replay seconds; `None`: see
    /// [`busy_span`](Self::busy_span).
    pub busy_window: Option<u64>,
}

impl Replay {
    /// Replays `pods` on `nodes` as given (order, arrivals and durations
    /// unchanged; nodes named `node-0`, `node-1`, …), until every pod has
    /// left.
    pub fn new(nodes: Vec<GpuNode>, pods: Vec<ReplayPod>) -> Self {
        let trace_end = pods
            .iter()
            .map(|p| p.arrival.saturating_add(p.duration))
            .max()
            .unwrap_or(0);
        Replay {
            node_names: (0..nodes.len()).map(|k| format!("node-{k}")).collect(),
            nodes,
            pods,
            skipped: Vec::new(),
            trace_end,
            drain: true,
            queue: QueueOrder::Fifo,
            failed_in_trace: 0,
            busy_window: None,
        }
    }

    /// Loads a node list and a pod list in the openb format and prepares
    /// their replay.
    ///
    /// # Errors
    ///
    /// A [`TraceError`] naming the file, line and column at fault.
    pub fn load(
        nodes: impl AsRef<Path>,
        pods: impl AsRef<Path>,
        config: &ReplayConfig,
    ) -> Result<Self, TraceError> {
        let (np, pp) = (nodes.as_ref(), pods.as_ref());
        let (nt, pt) = (read(np)?, read(pp)?);
        Replay::parse(
            &np.display().to_string(),
            &nt,
            &pp.display().to_string(),
            &pt,
            config,
        )
    }

    /// Parses a node list and a pod list and prepares their replay; the
    /// names label errors.
    ///
    /// # Errors
    ///
    /// A [`TraceError`] naming the file, line and column at fault.
    pub fn parse(
        nodes_file: &str,
        nodes: &str,
        pods_file: &str,
        pods: &str,
        config: &ReplayConfig,
    ) -> Result<Self, TraceError> {
        let trace = Trace::parse(nodes_file, nodes, pods_file, pods)?;
        let times = parse_pod_times(pods_file, pods)?;
        let phases = parse_pod_phases(pods_file, pods)?;
        Ok(Replay::from_trace_with_phases(
            &trace, &times, &phases, config,
        ))
    }

    /// Prepares the replay of `trace`, with `times[i]` the times of
    /// `trace.pods[i]` (see [`parse_pod_times`]; a pod without an entry is
    /// skipped as missing its `creation_time`), not knowing which pods
    /// failed in the trace.
    pub fn from_trace(
        trace: &Trace,
        times: &[Result<PodTimes, SkipReason>],
        config: &ReplayConfig,
    ) -> Self {
        Replay::from_trace_with_phases(trace, times, &[], config)
    }

    /// [`from_trace`](Self::from_trace), with `phases[i]` the `pod_phase`
    /// of `trace.pods[i]` (see [`parse_pod_phases`]): pods whose phase is
    /// `Failed` are counted, and skipped if
    /// [`ReplayConfig::skip_failed`] is set.
    pub fn from_trace_with_phases(
        trace: &Trace,
        times: &[Result<PodTimes, SkipReason>],
        phases: &[String],
        config: &ReplayConfig,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut nodes: Vec<&TraceNode> = trace
            .nodes
            .iter()
            .filter(|n| config.all_nodes || n.gpus > 0)
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.shuffle(&mut rng);

        let count = config.limit.unwrap_or(usize::MAX).min(trace.pods.len());
        let mut skipped = Vec::new();
        let mut valid = Vec::with_capacity(count);
        let mut failed_in_trace = 0;
        for (k, pod) in trace.pods[..count].iter().enumerate() {
            let failed = phases
                .get(k)
                .is_some_and(|p| p.eq_ignore_ascii_case("failed"));
            match times
                .get(k)
                .copied()
                .unwrap_or(Err(SkipReason::MissingTime(TIME_COLUMNS[0])))
            {
                Ok(_) if failed && config.skip_failed => skipped.push(SkippedPod {
                    name: pod.name.clone(),
                    reason: SkipReason::FailedInTrace,
                }),
                Ok(t) => {
                    failed_in_trace += usize::from(failed);
                    valid.push((pod, t));
                }
                Err(reason) => skipped.push(SkippedPod {
                    name: pod.name.clone(),
                    reason,
                }),
            }
        }
        let first = valid.iter().map(|(_, t)| t.creation).min().unwrap_or(0);
        let speedup = if config.arrival_speedup.is_finite() && config.arrival_speedup > 0.0 {
            config.arrival_speedup
        } else {
            1.0
        };
        let scaled = |secs: u64| (secs as f64 / speedup) as u64;
        let mut trace_end = 0;
        let pods = valid
            .into_iter()
            .map(|(pod, t)| {
                let arrival = scaled(t.creation - first);
                let duration = t.duration();
                // With arrivals sped up, the trace ends when its last pod,
                // placed on arrival, would leave.
                let recorded_end = if speedup == 1.0 {
                    t.deletion.saturating_sub(first)
                } else {
                    0
                };
                trace_end = trace_end
                    .max(recorded_end)
                    .max(arrival.saturating_add(duration));
                ReplayPod {
                    name: pod.name.clone(),
                    demand: pod.demand,
                    arrival,
                    duration,
                }
            })
            .collect();
        Replay {
            node_names: nodes.iter().map(|n| n.name.clone()).collect(),
            nodes: nodes
                .iter()
                .map(|n| n.to_gpu_node().with_max_tasks(config.max_tasks_per_node))
                .collect(),
            pods,
            skipped,
            trace_end,
            drain: config.drain,
            queue: config.queue,
            failed_in_trace,
            busy_window: config.busy_window,
        }
    }

    /// The busy window, `(start, length)` in replay seconds, the same for
    /// every policy so that their allocations over it compare. It is
    /// found on the pods at their recorded times (each placed on arrival,
    /// whatever the room): the stretch around the first peak of the GPU
    /// they would hold, for as long as that stays at least half the peak;
    /// with [`busy_window`](Self::busy_window) set, the stretch of that
    /// many seconds in which they would hold the most GPU.
    pub fn busy_span(&self) -> (u64, u64) {
        let end = self.trace_end;
        let timeline = self.recorded_timeline();
        if let Some(length) = self.busy_window {
            let length = length.clamp(1, end.max(1)).min(end);
            return (busiest_start(&timeline, end, length), length);
        }
        let Some((peak_at, peak)) = timeline
            .iter()
            .enumerate()
            .map(|(k, p)| (k, p.gpu_milli))
            .fold(None, |best: Option<(usize, u64)>, (k, g)| match best {
                Some((_, b)) if b >= g => best,
                _ => Some((k, g)),
            })
        else {
            return (0, end);
        };
        if peak == 0 {
            return (0, end);
        }
        let half = peak.div_ceil(2);
        let mut first = peak_at;
        while first > 0 && timeline[first - 1].gpu_milli >= half {
            first -= 1;
        }
        let mut last = peak_at;
        while last + 1 < timeline.len() && timeline[last + 1].gpu_milli >= half {
            last += 1;
        }
        let start = timeline[first].time.min(end);
        let stop = timeline.get(last + 1).map_or(end, |p| p.time.min(end));
        (
            start,
            stop.saturating_sub(start).max(1).min(end - start.min(end)),
        )
    }

    /// The GPU the pods would hold at their recorded times, each placed on
    /// arrival: a point at every change.
    fn recorded_timeline(&self) -> Vec<TimelinePoint> {
        let mut changes: Vec<(u64, i128)> = Vec::with_capacity(2 * self.pods.len());
        for p in &self.pods {
            let g = i128::from(p.demand.total_gpu_milli());
            changes.push((p.arrival, g));
            changes.push((p.arrival.saturating_add(p.duration), -g));
        }
        changes.sort_unstable();
        let mut timeline: Vec<TimelinePoint> = Vec::new();
        let mut held: i128 = 0;
        for (k, &(t, g)) in changes.iter().enumerate() {
            held += g;
            if changes.get(k + 1).is_some_and(|n| n.0 == t) {
                continue;
            }
            timeline.push(TimelinePoint {
                time: t,
                gpu_milli: u64::try_from(held.max(0)).unwrap_or(u64::MAX),
                cpu_milli: 0,
                queued: 0,
                fragmentation_milli: 0.0,
            });
        }
        timeline
    }

    /// Total milli-GPUs of the cluster.
    pub fn gpu_capacity_milli(&self) -> u64 {
        self.nodes
            .iter()
            .fold(0u64, |sum, n| sum.saturating_add(n.gpu_capacity_total()))
    }

    /// Total CPU milli-cores of the cluster.
    pub fn cpu_capacity_milli(&self) -> u64 {
        // Saturating: a trace's node list may add up past `u64`.
        self.nodes
            .iter()
            .fold(0u64, |sum, n| sum.saturating_add(n.cpu_capacity))
    }
}
