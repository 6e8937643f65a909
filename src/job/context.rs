//! [`TaskContext`]: what a running attempt sees of itself.

use super::core::{Host, JobCore};
use super::state::{attempt_of, Phase};
use crate::ids::{NodeId, TaskId};
use crate::spec::TaskSpec;
use crate::sync::atomic::{AtomicU64, Ordering};

use std::fmt;

/// What a running attempt can see about itself, and how it forks subtasks
/// and joins them ([`spawn`](TaskContext::spawn), [`join`](TaskContext::join)).
pub struct TaskContext<'a> {
    pub(crate) core: &'a JobCore,
    pub(crate) node: NodeId,
    pub(crate) attempt: u32,
    /// The node's heartbeat counter.
    pub(crate) beats: Option<&'a AtomicU64>,
    pub(crate) node_name: &'a str,
    pub(crate) host: Option<&'a dyn Host>,
}

impl fmt::Debug for TaskContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskContext")
            .field("id", &self.core.id)
            .field("node", &self.node)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl TaskContext<'_> {
    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.core.id
    }

    /// The node running this attempt.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The name of the node running this attempt: its
    /// [`NodeSpec::name`](crate::NodeSpec::name), or `node-<id>` when it has
    /// none (as logs and metrics call it).
    pub fn node_name(&self) -> &str {
        self.node_name
    }

    /// Which attempt this is: 0 for the first run, 1 for the first retry, …
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The task's spec (rebuilt from the job's compact copy).
    pub fn spec(&self) -> TaskSpec {
        self.core.spec.unpack()
    }

    /// Reports that this attempt is alive and making progress. A long task
    /// should call it more often than the runtime's
    /// [`hang_timeout`](crate::SupervisionConfig::hang_timeout), or its node
    /// is declared hung and replaced.
    pub fn heartbeat(&self) {
        if let Some(p) = self.beats {
            p.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether this attempt's result will be thrown away: the task was
    /// cancelled, timed out, or moved elsewhere after its node was lost.
    /// Long tasks should check it now and then and return early.
    pub fn is_abandoned(&self) -> bool {
        let state = self.core.state.load(Ordering::Acquire);
        Phase::of(state) != Phase::Running || attempt_of(state) != self.attempt
    }
}
