//! Replay of a GPU cluster trace through a [`GpuPlacement`], in simulated
//! time: pods arrive, wait, run and leave, and the replay measures how much
//! of the cluster was allocated and how long pods waited.
//!
//! It is a discrete-event simulation: no threads, no clock. Time is in
//! whole trace seconds.
//!
//! - **Arrival**: a pod arrives at its `creation_time`, shifted so that the
//!   first arrival is at t = 0.
//! - **Run**: once placed, it holds its CPU, memory and GPU share for
//!   `max(1, deletion_time − scheduled_time)` seconds, then leaves and
//!   frees them.
//! - **Queue**: a pod that cannot be placed on arrival joins a FIFO queue.
//!   Whenever a pod leaves, the queue is retried from its head, in order,
//!   and the retry stops at the first pod that still does not fit
//!   (head-of-line blocking, no backfilling: a pod never overtakes one that
//!   arrived before it, so none starves, at the price of room left idle
//!   while the head waits). While the queue is not empty, new arrivals join
//!   its tail without being tried.
//! - **Unplaceable**: a pod that no node could host even when empty is
//!   counted as unplaceable on arrival and never queued.
//! - **Order of events at one instant**: departures first, then the queue
//!   retry, then arrivals in file order.
//! - **End**: by default the replay stops at the end of the trace
//!   ([`Replay::trace_end`]: the last `deletion_time`, or later if a pod
//!   placed on arrival would leave later); pods still queued then are
//!   *waiting*, pods still running are *placed* but not finished.
//!   [`Replay::drain`] instead runs until every pod has left.
//! - **Skipped**: pods whose times are missing or invalid are not replayed
//!   but counted, with the reason ([`SkipReason`]).
//!
//! The allocation ratio is time-averaged: the integral of allocated
//! milli-GPUs (CPU milli-cores) over the replay, divided by the cluster's
//! capacity times the replay's length.
//!
//! Runs are deterministic: the nodes are sorted by name and shuffled with
//! the seed, as in [`super::cluster`], and policies break ties by the lowest
//! node index, so the shuffle is the tie-break order.
//!
//! # Examples
//!
//! A one-GPU node; the second pod must wait for the first to leave:
//!
//! ```
//! use allot::policy::{BestFit, GpuDemand, GpuNode};
//! use allot::sim::replay::{Replay, ReplayPod};
//!
//! let gpu = GpuDemand::whole(1_000, 1_024, 1);
//! let replay = Replay::new(
//!     vec![GpuNode::new(8_000, 16_384, 1, None)],
//!     vec![ReplayPod::new("a", gpu, 0, 10), ReplayPod::new("b", gpu, 2, 5)],
//! );
//! let run = replay.run(&mut BestFit::new())?;
//! assert_eq!(run.report.placed, 2);
//! assert_eq!(run.report.waiting_s.max, 8.0); // b waited from 2 to 10
//! assert_eq!(run.report.completion_s.max, 13.0); // and finished at 15
//! # Ok::<(), allot::sim::SimError>(())
//! ```

use super::cluster::{SimError, DEFAULT_MAX_TASKS_PER_NODE};
use super::openb::{is_integer, read, Row, Table, Trace, TraceError};
use crate::policy::{GpuChoice, GpuDemand, GpuNode, GpuPlacement};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::path::Path;

/// Default [`ReplayConfig::seed`], the same as the FGD simulator's.
pub const DEFAULT_REPLAY_SEED: u64 = 42;

/// The trace's time columns, in the pod list.
const TIME_COLUMNS: [&str; 3] = ["creation_time", "scheduled_time", "deletion_time"];

/// How a trace becomes a [`Replay`].
///
/// # Default
///
/// Seed [`DEFAULT_REPLAY_SEED`], GPU nodes only, every pod, stop at the end
/// of the trace, [`DEFAULT_MAX_TASKS_PER_NODE`] pods per node at most.
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
        }
    }
}

/// The times of one pod in the trace, in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PodTimes {
    /// When it was created (its arrival).
    pub creation: u64,
    /// When it was scheduled in the trace.
    pub scheduled: u64,
    /// When it was deleted.
    pub deletion: u64,
}

impl PodTimes {
    /// How long it runs once placed: `max(1, deletion − scheduled)`.
    pub fn duration(&self) -> u64 {
        self.deletion.saturating_sub(self.scheduled).max(1)
    }
}

/// Why a pod of the trace is not replayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum SkipReason {
    /// A time column is empty (the trace's Pending pods have no
    /// `scheduled_time`).
    MissingTime(&'static str),
    /// A time column is not a whole number of seconds.
    InvalidTime(&'static str),
    /// A time column is a whole number, but negative or above
    /// `u64::MAX` seconds.
    TimeOutOfRange(&'static str),
    /// `deletion_time` comes before `scheduled_time`.
    EndsBeforeStart,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::MissingTime(c) => write!(f, "no {c}"),
            SkipReason::InvalidTime(c) => write!(f, "{c} is not a whole number of seconds"),
            SkipReason::TimeOutOfRange(c) => {
                write!(f, "{c} is out of range (0 to 18446744073709551615 s)")
            }
            SkipReason::EndsBeforeStart => f.write_str("deletion_time before scheduled_time"),
        }
    }
}

/// A pod that is not replayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPod {
    /// Its name.
    pub name: String,
    /// Why.
    pub reason: SkipReason,
}

/// Reads the time columns of a pod list (`creation_time`, `scheduled_time`,
/// `deletion_time`), one entry per pod in file order, as
/// [`super::openb::parse_pods`] reads the rest. A pod whose times are
/// missing or invalid gets the reason instead: that is not an error.
///
/// # Errors
///
/// A [`TraceError`] naming the file and line when a time column is missing
/// from the header or a row has the wrong number of fields.
pub fn parse_pod_times(
    file: &str,
    text: &str,
) -> Result<Vec<Result<PodTimes, SkipReason>>, TraceError> {
    let table = Table::parse(file, text)?;
    let mut cols = [0usize; 3];
    for (c, name) in cols.iter_mut().zip(TIME_COLUMNS) {
        *c = table.column(name)?;
    }
    let time = |row: &Row, i: usize| {
        let v = &row.record[cols[i]];
        if v.is_empty() {
            Err(SkipReason::MissingTime(TIME_COLUMNS[i]))
        } else if let Ok(t) = v.parse::<u64>() {
            Ok(t)
        } else if is_integer(v) {
            Err(SkipReason::TimeOutOfRange(TIME_COLUMNS[i]))
        } else {
            Err(SkipReason::InvalidTime(TIME_COLUMNS[i]))
        }
    };
    Ok(table
        .rows
        .iter()
        .map(|row| {
            let t = PodTimes {
                creation: time(row, 0)?,
                scheduled: time(row, 1)?,
                deletion: time(row, 2)?,
            };
            if t.deletion < t.scheduled {
                return Err(SkipReason::EndsBeforeStart);
            }
            Ok(t)
        })
        .collect())
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
}

/// What the replay is doing, for a progress display or pacing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// The simulated time about to be processed, in seconds.
    pub time: u64,
    /// Where the replay will stop (`None` while draining).
    pub end: Option<u64>,
    /// Pods placed so far.
    pub placed: usize,
    /// Pods in the queue.
    pub waiting: usize,
}

/// What became of one replayed pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodOutcome {
    /// No node could host it, even empty.
    Unplaceable,
    /// Still in the queue when the replay stopped.
    Waiting,
    /// Placed, and still running when the replay stopped.
    Running {
        /// The node's index in [`Replay::nodes`].
        node: usize,
        /// When it started.
        start: u64,
    },
    /// Placed, ran and left.
    Finished {
        /// The node's index in [`Replay::nodes`].
        node: usize,
        /// When it started.
        start: u64,
        /// When it left.
        finish: u64,
    },
}

/// Summary of durations in seconds (nearest-rank percentiles); all zero
/// when there is none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct TimeSummary {
    /// How many.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl TimeSummary {
    /// Of these durations.
    pub fn of(mut v: Vec<u64>) -> Self {
        if v.is_empty() {
            return TimeSummary::default();
        }
        v.sort_unstable();
        let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64;
        TimeSummary {
            count: v.len(),
            mean: v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64,
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: v[v.len() - 1] as f64,
        }
    }
}

/// What one replay measured.
///
/// `placed + waiting + unplaceable + skipped == pods`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReplayReport {
    /// The policy's name.
    pub policy: String,
    /// Pods of the trace (replayed and skipped).
    pub pods: usize,
    /// Pods placed (running or finished at the end).
    pub placed: usize,
    /// Of those, pods that finished.
    pub finished: usize,
    /// Pods still queued at the end.
    pub waiting: usize,
    /// Pods no node could ever host.
    pub unplaceable: usize,
    /// Pods not replayed (missing or invalid times).
    pub skipped: usize,
    /// Time-averaged allocated GPU over the cluster's GPU capacity (0 to 1).
    pub gpu_allocation: f64,
    /// Time-averaged allocated CPU over the cluster's CPU capacity (0 to 1).
    pub cpu_allocation: f64,
    /// Most GPU allocated at any instant, over the GPU capacity (0 to 1).
    pub peak_gpu_allocation: f64,
    /// When the replay stopped, in seconds.
    pub end_s: u64,
    /// Waiting time (start − arrival) of the placed pods.
    pub waiting_s: TimeSummary,
    /// Completion time (finish − arrival) of the finished pods.
    pub completion_s: TimeSummary,
    /// Longest the queue got.
    pub max_queue: usize,
}

/// A replay's report and what became of each pod.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayRun {
    /// The summary.
    pub report: ReplayReport,
    /// One per [`Replay::pods`], same order.
    pub outcomes: Vec<PodOutcome>,
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
        Ok(Replay::from_trace(&trace, &times, config))
    }

    /// Prepares the replay of `trace`, with `times[i]` the times of
    /// `trace.pods[i]` (see [`parse_pod_times`]; a pod without an entry is
    /// skipped as missing its `creation_time`).
    pub fn from_trace(
        trace: &Trace,
        times: &[Result<PodTimes, SkipReason>],
        config: &ReplayConfig,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut nodes: Vec<&super::openb::TraceNode> = trace
            .nodes
            .iter()
            .filter(|n| config.all_nodes || n.gpus > 0)
            .collect();
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        nodes.shuffle(&mut rng);

        let count = config.limit.unwrap_or(usize::MAX).min(trace.pods.len());
        let mut skipped = Vec::new();
        let mut valid = Vec::with_capacity(count);
        for (k, pod) in trace.pods[..count].iter().enumerate() {
            match times
                .get(k)
                .copied()
                .unwrap_or(Err(SkipReason::MissingTime(TIME_COLUMNS[0])))
            {
                Ok(t) => valid.push((pod, t)),
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
        }
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

    /// Replays the pods through `policy`.
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidChoice`] when the policy picks a node or GPUs
    /// without room.
    pub fn run(&self, policy: &mut dyn GpuPlacement) -> Result<ReplayRun, SimError> {
        self.run_with(policy, |_| {})
    }

    /// Replays the pods through `policy`, calling `on_time` before each
    /// instant with events (to show progress, or to pace the replay against
    /// a wall clock).
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidChoice`] when the policy picks a node or GPUs
    /// without room.
    pub fn run_with(
        &self,
        policy: &mut dyn GpuPlacement,
        on_time: impl FnMut(&Progress),
    ) -> Result<ReplayRun, SimError> {
        let _span = tracing::debug_span!("replay.run", policy = policy.name()).entered();
        let run = Engine::new(self, policy).run(on_time)?;
        tracing::debug!(
            placed = run.report.placed,
            waiting = run.report.waiting,
            unplaceable = run.report.unplaceable,
            gpu_allocation = run.report.gpu_allocation,
            "replay done"
        );
        Ok(run)
    }
}

/// The state of one replay.
struct Engine<'a> {
    replay: &'a Replay,
    policy: &'a mut dyn GpuPlacement,
    nodes: Vec<GpuNode>,
    /// The GPUs each running pod holds.
    held: Vec<Vec<usize>>,
    outcomes: Vec<PodOutcome>,
    /// `(finish, pod)`, earliest first.
    departures: BinaryHeap<Reverse<(u64, usize)>>,
    queue: VecDeque<usize>,
    placed: usize,
    max_queue: usize,
    gpu_allocated: u64,
    cpu_allocated: u64,
    gpu_peak: u64,
}

impl<'a> Engine<'a> {
    fn new(replay: &'a Replay, policy: &'a mut dyn GpuPlacement) -> Self {
        Engine {
            replay,
            policy,
            nodes: replay.nodes.clone(),
            held: vec![Vec::new(); replay.pods.len()],
            outcomes: vec![PodOutcome::Waiting; replay.pods.len()],
            departures: BinaryHeap::new(),
            queue: VecDeque::new(),
            placed: 0,
            max_queue: 0,
            gpu_allocated: 0,
            cpu_allocated: 0,
            gpu_peak: 0,
        }
    }

    fn run(mut self, mut on_time: impl FnMut(&Progress)) -> Result<ReplayRun, SimError> {
        let replay = self.replay;
        let pods = &replay.pods;
        let mut order: Vec<usize> = (0..pods.len()).collect();
        order.sort_by_key(|&i| (pods[i].arrival, i));
        let last_arrival = order.last().map_or(0, |&i| pods[i].arrival);
        let stop = (!replay.drain).then(|| replay.trace_end.max(last_arrival));
        let (mut gpu_time, mut cpu_time) = (0u128, 0u128);
        let mut last = 0u64;
        let mut next = 0;
        loop {
            let arrival = order.get(next).map(|&i| pods[i].arrival);
            let departure = self.departures.peek().map(|Reverse((t, _))| *t);
            let t = match (arrival, departure) {
                (Some(a), Some(d)) => a.min(d),
                (Some(a), None) => a,
                (None, Some(d)) => d,
                (None, None) => break,
            };
            if stop.is_some_and(|s| t > s) {
                break;
            }
            gpu_time += u128::from(self.gpu_allocated) * u128::from(t - last);
            cpu_time += u128::from(self.cpu_allocated) * u128::from(t - last);
            last = t;
            on_time(&Progress {
                time: t,
                end: stop,
                placed: self.placed,
                waiting: self.queue.len(),
            });

            let mut freed = false;
            while let Some(&Reverse((finish, i))) = self.departures.peek() {
                if finish != t {
                    break;
                }
                self.departures.pop();
                self.release(i, t);
                freed = true;
            }
            if freed {
                while let Some(&i) = self.queue.front() {
                    if !self.try_place(i, t)? {
                        break;
                    }
                    self.queue.pop_front();
                }
            }
            while let Some(&i) = order.get(next).filter(|&&i| pods[i].arrival == t) {
                next += 1;
                let d = &pods[i].demand;
                if !replay.nodes.iter().any(|n| n.could_fit(d)) {
                    self.outcomes[i] = PodOutcome::Unplaceable;
                } else if !self.queue.is_empty() || !self.try_place(i, t)? {
                    self.queue.push_back(i);
                    self.max_queue = self.max_queue.max(self.queue.len());
                }
            }
        }
        let end = stop.unwrap_or(last);
        gpu_time += u128::from(self.gpu_allocated) * u128::from(end - last);
        cpu_time += u128::from(self.cpu_allocated) * u128::from(end - last);
        Ok(self.finish(end, gpu_time, cpu_time))
    }

    /// Places pod `i` at time `t` if some node has room now.
    fn try_place(&mut self, i: usize, t: u64) -> Result<bool, SimError> {
        let pod = &self.replay.pods[i];
        let d = &pod.demand;
        // Every policy returns `None` when no node fits; checking first
        // keeps retries of a blocked pod from reaching (and teaching)
        // policies that learn from what they are asked to place.
        if !self.nodes.iter().any(|n| n.fits(d)) {
            return Ok(false);
        }
        let Some(c) = self.policy.choose(d, &self.nodes) else {
            return Ok(false);
        };
        if !valid_choice(&c, d, &self.nodes) {
            return Err(SimError::InvalidChoice {
                policy: self.policy.name().to_owned(),
                pod: i,
                node: c.node,
            });
        }
        self.nodes[c.node].place(d, &c.gpus);
        self.gpu_allocated += d.total_gpu_milli();
        self.gpu_peak = self.gpu_peak.max(self.gpu_allocated);
        self.cpu_allocated += d.cpu_milli;
        self.placed += 1;
        self.outcomes[i] = PodOutcome::Running {
            node: c.node,
            start: t,
        };
        self.held[i] = c.gpus;
        self.departures
            .push(Reverse((t.saturating_add(pod.duration), i)));
        Ok(true)
    }

    /// Pod `i` leaves at time `t`.
    fn release(&mut self, i: usize, t: u64) {
        let d = &self.replay.pods[i].demand;
        let PodOutcome::Running { node, start } = self.outcomes[i] else {
            return;
        };
        let n = &mut self.nodes[node];
        for &g in &self.held[i] {
            n.gpu_free[g] += d.gpu_milli;
        }
        n.cpu_free += d.cpu_milli;
        n.memory_free += d.memory_mib;
        n.tasks -= 1;
        self.gpu_allocated -= d.total_gpu_milli();
        self.cpu_allocated -= d.cpu_milli;
        self.outcomes[i] = PodOutcome::Finished {
            node,
            start,
            finish: t,
        };
    }

    fn finish(self, end: u64, gpu_time: u128, cpu_time: u128) -> ReplayRun {
        let ratio = |time: u128, capacity: u64| {
            let denominator = u128::from(capacity) * u128::from(end);
            if denominator == 0 {
                0.0
            } else {
                time as f64 / denominator as f64
            }
        };
        let gpu_capacity = self.replay.gpu_capacity_milli();
        let pods = &self.replay.pods;
        let (mut waits, mut completions) = (Vec::new(), Vec::new());
        let (mut finished, mut unplaceable) = (0, 0);
        for (o, p) in self.outcomes.iter().zip(pods) {
            match *o {
                PodOutcome::Unplaceable => unplaceable += 1,
                PodOutcome::Waiting => {}
                PodOutcome::Running { start, .. } => waits.push(start - p.arrival),
                PodOutcome::Finished { start, finish, .. } => {
                    waits.push(start - p.arrival);
                    completions.push(finish - p.arrival);
                    finished += 1;
                }
            }
        }
        let report = ReplayReport {
            policy: self.policy.name().to_owned(),
            pods: pods.len() + self.replay.skipped.len(),
            placed: self.placed,
            finished,
            waiting: self.queue.len(),
            unplaceable,
            skipped: self.replay.skipped.len(),
            gpu_allocation: ratio(gpu_time, gpu_capacity),
            cpu_allocation: ratio(cpu_time, self.replay.cpu_capacity_milli()),
            peak_gpu_allocation: if gpu_capacity == 0 {
                0.0
            } else {
                self.gpu_peak as f64 / gpu_capacity as f64
            },
            end_s: end,
            waiting_s: TimeSummary::of(waits),
            completion_s: TimeSummary::of(completions),
            max_queue: self.max_queue,
        };
        ReplayRun {
            report,
            outcomes: self.outcomes,
        }
    }
}

/// Whether `c` names a node with room for `d` and `d.gpus` distinct GPUs
/// on it, each with `d.gpu_milli` free.
fn valid_choice(c: &GpuChoice, d: &GpuDemand, nodes: &[GpuNode]) -> bool {
    let Some(n) = nodes.get(c.node) else {
        return false;
    };
    n.fits(d)
        && c.gpus.len() == d.gpus as usize
        && c.gpus.iter().enumerate().all(|(k, &g)| {
            g < n.gpu_free.len() && n.gpu_free[g] >= d.gpu_milli && !c.gpus[..k].contains(&g)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{BestFit, RandomFit};

    const HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time";

    fn one_gpu_node() -> Vec<GpuNode> {
        vec![GpuNode::new(8_000, 16_384, 1, None)]
    }

    #[test]
    fn capacities_that_add_up_past_u64_saturate_instead_of_panicking() {
        let nodes = vec![
            GpuNode::new(u64::MAX, 1, 1, None),
            GpuNode::new(1, 1, 1, None),
        ];
        let pods = vec![ReplayPod::new("a", GpuDemand::cpu_only(1, 0), 0, 10)];
        let replay = Replay::new(nodes, pods);
        assert_eq!(replay.cpu_capacity_milli(), u64::MAX);
        let run = replay.run(&mut BestFit::new()).unwrap();
        assert_eq!(run.outcomes.len(), 1);
    }

    #[test]
    fn a_blocked_head_holds_back_later_pods_that_would_fit() {
        // Two GPUs: a takes one; b needs both and waits; c needs a share
        // that would fit beside a but must wait behind b.
        let nodes = vec![GpuNode::new(8_000, 16_384, 2, None)];
        let pods = vec![
            ReplayPod::new("a", GpuDemand::whole(1_000, 0, 1), 0, 10),
            ReplayPod::new("b", GpuDemand::whole(1_000, 0, 2), 1, 5),
            ReplayPod::new("c", GpuDemand::shared(1_000, 0, 500), 2, 5),
        ];
        let run = Replay::new(nodes, pods).run(&mut BestFit::new()).unwrap();
        let starts: Vec<u64> = run
            .outcomes
            .iter()
            .map(|o| match o {
                PodOutcome::Finished { start, .. } => *start,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(starts, [0, 10, 15]);
        assert_eq!(run.report.max_queue, 2);
        assert_eq!(run.report.end_s, 20);
    }

    #[test]
    fn departures_free_room_for_arrivals_at_the_same_instant() {
        let gpu = GpuDemand::whole(1_000, 0, 1);
        let pods = vec![
            ReplayPod::new("a", gpu, 0, 4),
            ReplayPod::new("b", gpu, 4, 4),
        ];
        let run = Replay::new(one_gpu_node(), pods)
            .run(&mut BestFit::new())
            .unwrap();
        assert_eq!(run.report.waiting_s.max, 0.0);
        // Busy the whole time.
        assert_eq!(run.report.gpu_allocation, 1.0);
        assert_eq!(run.report.cpu_allocation, 1_000.0 / 8_000.0);
    }

    #[test]
    fn stopping_at_the_trace_end_leaves_pods_waiting_and_running() {
        let gpu = GpuDemand::whole(1_000, 0, 1);
        let mut replay = Replay::new(
            one_gpu_node(),
            vec![
                ReplayPod::new("a", gpu, 0, 10),
                ReplayPod::new("b", gpu, 1, 10),
                ReplayPod::new("c", GpuDemand::whole(1_000, 0, 3), 2, 1),
            ],
        );
        replay.drain = false;
        replay.trace_end = 5;
        let r = replay.run(&mut BestFit::new()).unwrap().report;
        assert_eq!(
            (r.placed, r.finished, r.waiting, r.unplaceable, r.end_s),
            (1, 0, 1, 1, 5)
        );
        assert_eq!(r.gpu_allocation, 1.0);
        assert_eq!(r.peak_gpu_allocation, 1.0);
        assert_eq!(r.completion_s.count, 0);
    }

    #[test]
    fn pod_times_skip_bad_rows_and_refuse_a_missing_column() {
        let text = format!(
            "{HEADER}\n\
             p0,1000,0,1,500,,LS,Running,10,40,20\n\
             p1,1000,0,1,500,,BE,Pending,10,40,\n\
             p2,1000,0,1,500,,BE,Failed,10,x,20\n\
             p3,1000,0,1,500,,BE,Failed,10,15,20\n\
             p4,1000,0,1,500,,BE,Failed,10,20,20\n"
        );
        let t = parse_pod_times("pods.csv", &text).unwrap();
        assert_eq!(
            t,
            [
                Ok(PodTimes {
                    creation: 10,
                    scheduled: 20,
                    deletion: 40
                }),
                Err(SkipReason::MissingTime("scheduled_time")),
                Err(SkipReason::InvalidTime("deletion_time")),
                Err(SkipReason::EndsBeforeStart),
                Ok(PodTimes {
                    creation: 10,
                    scheduled: 20,
                    deletion: 20
                }),
            ]
        );
        assert_eq!(t[4].unwrap().duration(), 1);
        let e = parse_pod_times("pods.csv", "name,creation_time,deletion_time\n").unwrap_err();
        assert_eq!((e.line, e.column.as_deref()), (1, Some("scheduled_time")));
    }

    #[test]
    fn times_are_read_through_quoted_fields_and_out_of_range_ones_skip_the_pod() {
        let text = format!(
            "{HEADER}\n\
             \"p,0\",1000,0,1,500,\"A10|T4\",LS,Running,10,40,20\n\
             p1,1000,0,1,500,,BE,Failed,-10,40,20\n\
             p2,1000,0,1,500,,BE,Failed,10,99999999999999999999999,20\n\
             p3,1000,0,1,500,,BE,Failed,10,4e1,20\n"
        );
        let t = parse_pod_times("pods.csv", &text).unwrap();
        assert_eq!(
            t,
            [
                Ok(PodTimes {
                    creation: 10,
                    scheduled: 20,
                    deletion: 40
                }),
                Err(SkipReason::TimeOutOfRange("creation_time")),
                Err(SkipReason::TimeOutOfRange("deletion_time")),
                Err(SkipReason::InvalidTime("deletion_time")),
            ]
        );
    }

    #[test]
    fn sped_up_arrivals_keep_running_times_and_queue_pods() {
        let nodes = "sn,cpu_milli,memory_mib,gpu,model\n\
                     n1,32000,65536,1,V100\n";
        // Two one-GPU pods, 1 000 s apart, each running 500 s.
        let pods = format!(
            "{HEADER}\n\
             p0,1000,0,1,1000,,LS,Running,0,500,0\n\
             p1,1000,0,1,1000,,LS,Running,1000,1500,1000\n"
        );
        let at = |speedup: f64| {
            let config = ReplayConfig {
                arrival_speedup: speedup,
                ..ReplayConfig::default()
            };
            let r = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &config).unwrap();
            let arrivals: Vec<(u64, u64)> =
                r.pods.iter().map(|p| (p.arrival, p.duration)).collect();
            (arrivals, r.run(&mut BestFit::new()).unwrap().report)
        };
        let (arrivals, report) = at(1.0);
        assert_eq!(arrivals, [(0, 500), (1_000, 500)]);
        assert_eq!(report.waiting_s.max, 0.0);
        // Ten times faster: the second pod arrives at 100 s and waits 400 s.
        let (arrivals, report) = at(10.0);
        assert_eq!(arrivals, [(0, 500), (100, 500)]);
        assert_eq!(report.waiting_s.max, 400.0);
        assert_eq!(report.placed, 2);
    }

    #[test]
    fn a_parsed_trace_is_shifted_limited_and_seeded() {
        let nodes = "sn,cpu_milli,memory_mib,gpu,model\n\
                     n0,32000,65536,0,\n\
                     n1,32000,65536,2,V100\n\
                     n2,32000,65536,4,A10\n";
        let pods = format!(
            "{HEADER}\n\
             p0,1000,0,1,500,,LS,Running,100,400,150\n\
             p1,1000,0,0,0,,BE,Pending,120,400,\n\
             p2,1000,0,2,1000,,LS,Running,130,900,130\n\
             p3,1000,0,0,0,,BE,Failed,200,50,40\n"
        );
        let config = ReplayConfig {
            limit: Some(2),
            ..ReplayConfig::default()
        };
        let r = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &config).unwrap();
        assert_eq!(r.nodes.len(), 2, "GPU nodes only");
        assert_eq!(r.pods.len(), 1);
        assert_eq!((r.pods[0].arrival, r.pods[0].duration), (0, 250));
        assert_eq!(r.trace_end, 300);
        assert_eq!(r.skipped.len(), 1);
        let all = ReplayConfig {
            all_nodes: true,
            ..ReplayConfig::default()
        };
        let r = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &all).unwrap();
        assert_eq!(r.nodes.len(), 3);
        assert_eq!(r.pods[1].arrival, 30);
        // Deleted before it was created: odd, but it arrives and runs.
        assert_eq!((r.pods[2].arrival, r.pods[2].duration), (100, 10));
        let again = Replay::parse("nodes.csv", nodes, "pods.csv", &pods, &all).unwrap();
        assert_eq!(r.node_names, again.node_names);
    }

    #[test]
    fn the_random_policy_is_deterministic_under_its_seed() {
        let nodes: Vec<GpuNode> = (0..8)
            .map(|_| GpuNode::new(32_000, 65_536, 4, None))
            .collect();
        let pods: Vec<ReplayPod> = (0..200)
            .map(|k| {
                ReplayPod::new(
                    format!("p{k}"),
                    GpuDemand::shared(1_000, 0, 250 + (k % 3) as u32 * 250),
                    k / 4,
                    7 + k % 11,
                )
            })
            .collect();
        let replay = Replay::new(nodes, pods);
        let a = replay.run(&mut RandomFit::new(3)).unwrap();
        let b = replay.run(&mut RandomFit::new(3)).unwrap();
        assert_eq!(a, b);
        let r = &a.report;
        assert_eq!(r.placed + r.waiting + r.unplaceable + r.skipped, r.pods);
        assert!((0.0..=1.0).contains(&r.gpu_allocation));
    }
}
