//! What a replay reports: its progress, each pod's outcome and the summary.

use super::queue::QueueOrder;
use serde::Serialize;

/// The cluster's state after one instant of the replay; it holds until the
/// next point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// The instant, in replay seconds.
    pub time: u64,
    /// Milli-GPUs allocated.
    pub gpu_milli: u64,
    /// CPU milli-cores allocated.
    pub cpu_milli: u64,
    /// Pods in the queue.
    pub queued: usize,
    /// The FGD paper's fragmentation summed over the nodes, in milli-GPUs
    /// ([`node_fragmentation`](crate::policy::node_fragmentation)).
    pub fragmentation_milli: f64,
}

/// Allocation over one stretch of the replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct WindowAllocation {
    /// Its start, in replay seconds.
    pub start_s: u64,
    /// Its end, in replay seconds.
    pub end_s: u64,
    /// Time-averaged allocated GPU over the GPU capacity (0 to 1).
    pub gpu_allocation: f64,
    /// Time-averaged allocated CPU over the CPU capacity (0 to 1).
    pub cpu_allocation: f64,
    /// Time-averaged fragmentation over the GPU capacity (0 to 1).
    pub fragmentation: f64,
    /// Time-averaged queue length.
    pub mean_queue: f64,
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
        /// The node's index in [`Replay::nodes`](super::Replay::nodes).
        node: usize,
        /// When it started.
        start: u64,
    },
    /// Placed, ran and left.
    Finished {
        /// The node's index in [`Replay::nodes`](super::Replay::nodes).
        node: usize,
        /// When it started.
        start: u64,
        /// When it left.
        finish: u64,
    },
}

/// Summary of durations in seconds (nearest-rank percentiles); all zero
/// when there is none.
///
/// Computed exactly from every duration, sorted: a replay holds them all
/// in memory anyway, so a histogram's approximation (hdrhistogram keeps
/// three significant digits) would only lose precision.
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
    /// How queued pods were retried.
    pub queue: QueueOrder,
    /// Replayed pods that had failed in the trace.
    pub failed_in_trace: usize,
    /// Time-averaged fragmentation (FGD's, summed over the nodes) over the
    /// GPU capacity (0 to 1).
    pub fragmentation: f64,
    /// Allocation over the busy window: the stretch of the replay in which
    /// the most GPU was allocated.
    pub busy_window: WindowAllocation,
}

/// A replay's report and what became of each pod.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayRun {
    /// The summary.
    pub report: ReplayReport,
    /// One per [`Replay::pods`](super::Replay::pods), same order.
    pub outcomes: Vec<PodOutcome>,
    /// The cluster after each instant with events, in time order.
    pub timeline: Vec<TimelinePoint>,
}
