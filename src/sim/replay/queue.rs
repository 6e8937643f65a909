//! How a replay retries its queued pods.

use serde::Serialize;

/// How queued pods are retried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum QueueOrder {
    /// First in, first out, head-of-line: the retry stops at the first pod
    /// that does not fit, and arrivals join a non-empty queue untried.
    #[default]
    Fifo,
    /// EASY backfilling: every queued pod is tried, in arrival order, and
    /// each that fits is placed; arrivals are tried at once. The head of
    /// the queue (the pod waiting longest), when it does not fit, gets a
    /// *reservation*: the node where it could start earliest, were the
    /// running pods to leave at their finish times, and that time. A pod
    /// behind it may go on the reserved node only if it leaves by then, so
    /// the head starts no later than its reservation: it cannot starve.
    Backfill,
    /// Backfilling without a reservation: every queued pod that fits is
    /// placed, and the head may wait for ever behind the pods that pass it
    /// (kept for comparison).
    GreedyBackfill,
}

impl QueueOrder {
    /// Its name: `fifo`, `backfill` or `greedy-backfill`.
    pub fn name(self) -> &'static str {
        match self {
            QueueOrder::Fifo => "fifo",
            QueueOrder::Backfill => "backfill",
            QueueOrder::GreedyBackfill => "greedy-backfill",
        }
    }
}
