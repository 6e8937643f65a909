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
    /// Every queued pod is tried, in arrival order, and each that fits is
    /// placed; arrivals are tried at once. A blocked pod does not hold up
    /// the pods behind it (it may starve).
    Backfill,
}

impl QueueOrder {
    /// Its name: `fifo` or `backfill`.
    pub fn name(self) -> &'static str {
        match self {
            QueueOrder::Fifo => "fifo",
            QueueOrder::Backfill => "backfill",
        }
    }
}
