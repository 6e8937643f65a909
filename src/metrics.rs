//! Metrics snapshots: plain, serialisable data.

use crate::ids::{NodeId, TaskId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// One node's counters at the time of the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NodeMetrics {
    /// The node.
    pub id: Option<NodeId>,
    /// Its name.
    pub name: String,
    /// Estimated cost queued and running (seconds at speed 1.0).
    pub load: f64,
    /// Tasks waiting in its queue (may include cancelled ones not yet reaped).
    pub queued: u64,
    /// Tasks running now.
    pub running: u64,
    /// Tasks that completed here.
    pub completed: u64,
    /// Tasks that failed for good here.
    pub failed: u64,
    /// Times the node went down (panic, crash, stop, hang).
    pub failures: u64,
    /// Times the node was restarted.
    pub restarts: u64,
    /// Tasks the balancer moved here.
    pub migrations_in: u64,
    /// Tasks the balancer moved away.
    pub migrations_out: u64,
    /// Results thrown away because their attempt had been superseded.
    pub stale_results: u64,
    /// Attempts that ran past their timeout here.
    pub timed_out: u64,
    /// Current speed factor.
    pub speed: f64,
    /// Whether the node accepts work now.
    pub available: bool,
    /// Whether the node was retired for good.
    pub retired: bool,
}

/// Task latency, submission to completion, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LatencySummary {
    /// Completed tasks measured.
    pub count: u64,
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: u64,
    /// 90th percentile.
    pub p90_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
    /// Histogram buckets: `(upper bound in µs, count in the bucket)`, with
    /// upper bounds growing by powers of two.
    pub buckets: Vec<(u64, u64)>,
}

impl LatencySummary {
    pub(crate) fn from_histogram(h: &hdrhistogram::Histogram<u64>) -> Self {
        let mut buckets = Vec::new();
        if !h.is_empty() {
            for v in h.iter_log(1, 2.0) {
                buckets.push((v.value_iterated_to(), v.count_since_last_iteration()));
            }
        }
        LatencySummary {
            count: h.len(),
            mean_us: if !h.is_empty() { h.mean() } else { 0.0 },
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            buckets,
        }
    }
}

/// Runtime-wide totals from the ledger.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Totals {
    /// Tasks accepted.
    pub submitted: u64,
    /// Tasks that ended with a value.
    pub completed: u64,
    /// Tasks that ended failed.
    pub failed: u64,
    /// Tasks cancelled (by the caller or by `shutdown_now`).
    pub cancelled: u64,
    /// Retries scheduled (one task may retry several times).
    pub retried: u64,
    /// Tasks accepted and not yet finished: what
    /// [`Builder::queue_capacity`](crate::Builder::queue_capacity) bounds.
    /// Read so that it never overstates.
    pub in_flight: u64,
    /// Unfinished tasks as the ledger's own entries count them (entries,
    /// less completions awaiting their batched removal): exactly what
    /// [`shutdown`](crate::RuntimeHandle::shutdown) waits for. Equal to
    /// `in_flight` whenever the runtime is quiet; see
    /// [`unaccounted`](Totals::unaccounted). Abandoned attempts
    /// ([`Metrics::abandoned`]) are not in it: their tasks have ended.
    pub live: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Balancer migrations.
    pub migrations: u64,
}

impl Totals {
    /// Submitted tasks that are neither finished nor in the ledger: always
    /// 0 in a quiet or stopped runtime unless the ledger is broken (a
    /// snapshot of a busy one reads its counters at slightly different
    /// moments).
    pub fn unaccounted(&self) -> i64 {
        self.submitted as i64 - (self.completed + self.failed + self.cancelled + self.live) as i64
    }
}

/// A snapshot of the whole runtime.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Metrics {
    /// Per node, in id order.
    pub nodes: Vec<NodeMetrics>,
    /// Totals.
    pub totals: Totals,
    /// Task latency.
    pub latency: LatencySummary,
    /// Balancer rounds that moved at least one task.
    pub balancer_rounds: u64,
    /// Whether every node is in service.
    pub health: crate::supervision::Health,
    /// Attempts whose code still runs on a thread the runtime has let go
    /// of: their tasks ended (timed out, cancelled, moved after their node
    /// went down, or cancelled by a shutdown) and nothing waits for them.
    /// In task id order.
    pub abandoned: Vec<AbandonedAttempt>,
    /// Cluster mode's wire counters and workers; `None` without a cluster.
    pub cluster: Option<ClusterMetrics>,
}

/// What a coordinator saw on the wire (cluster mode).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClusterMetrics {
    /// Attempts published to workers (acknowledged by the server).
    pub published: u64,
    /// Work messages that carried them: attempts that queued up for a node
    /// while its earlier messages waited for the server share a message.
    pub work_messages: u64,
    /// Publishes sent again (same message id) after no acknowledgement.
    pub republished: u64,
    /// Results delivered to a waiting attempt.
    pub delivered: u64,
    /// Of those, results from before a restart of this coordinator (on its
    /// journal) taken by the recovered tasks: work the workers did while
    /// the coordinator was down.
    pub adopted: u64,
    /// Result messages received (each carries one or more results).
    pub result_messages: u64,
    /// Results no attempt waited for any more (superseded, abandoned or
    /// from an earlier session): acknowledged and dropped.
    pub ignored: u64,
    /// Messages on the result stream that did not decode.
    pub bad_results: u64,
    /// Times the result consumer's pull was restarted (an error or a
    /// missed idle heartbeat: a stalled pull).
    pub consumer_restarts: u64,
    /// Every worker heard from, by name.
    pub workers: Vec<WorkerMetrics>,
}

/// What a coordinator knows of one worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WorkerMetrics {
    /// Its name.
    pub name: String,
    /// Since its last heartbeat.
    pub silent_for: Duration,
    /// Whether it said it is leaving.
    pub leaving: bool,
    /// Messages it could not decode, as it last reported.
    pub bad_messages: u64,
    /// Its nodes.
    pub nodes: usize,
    /// Why the coordinator does not use its nodes, if it refused them
    /// (no room left under `cluster.max_nodes`, too many threads).
    #[serde(default)]
    pub refused: Option<String>,
}

/// An attempt whose code still runs after the runtime let go of it.
///
/// A thread cannot be killed: when an attempt times out, its task is
/// cancelled while it runs, its node goes down, or a shutdown cancels it,
/// the runtime stops waiting for it, replaces its executor and ignores its
/// result. Its code runs on until it returns (it can see
/// [`TaskContext::is_abandoned`](crate::TaskContext::is_abandoned)), and
/// the attempt is listed here until then.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AbandonedAttempt {
    /// The task.
    pub task: TaskId,
    /// The node whose executor runs it.
    pub node: NodeId,
    /// Which attempt (0 for the first run).
    pub attempt: u32,
    /// Why the runtime let go of it.
    pub reason: AbandonReason,
    /// How long its code has run, as of the snapshot.
    pub running_for: Duration,
}

/// Why the runtime let go of a running attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AbandonReason {
    /// It ran past its task's timeout.
    TimedOut,
    /// Its task was cancelled while it ran.
    Cancelled,
    /// Its node went down (crashed, panicked, stopped or hung).
    NodeDown,
    /// The runtime shut down while it ran.
    Shutdown,
}
