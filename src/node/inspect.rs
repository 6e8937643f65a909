//! What the state API reads of a node: its status, where a task waits in
//! its queue, what runs on it. Each read takes the node's state lock once
//! (and its inbox lock inside it); none is on the data path.

use super::shared::NodeShared;
use crate::ids::TaskId;
use crate::inspect::{NodeHealth, NodeStatus};
use crate::job::JobRef;
use crate::sync::atomic::Ordering;

/// An attempt running on a node: task, attempt, start (clock nanos).
type RunningTask = (TaskId, u32, u64);

impl NodeShared {
    /// The node as the state API shows it.
    pub(crate) fn status(&self) -> NodeStatus {
        let st = self.state.lock();
        let c = &self.counters;
        let held = st.running_demand;
        let capacity = self.spec.capacity;
        let free = capacity.saturating_sub(&held);
        let health = if st.retired || self.is_retired() {
            NodeHealth::Retired
        } else if st.accepting {
            NodeHealth::Up
        } else {
            NodeHealth::Down
        };
        let status = NodeStatus {
            id: self.id,
            name: self.label.to_string(),
            speed: self.speed(),
            slots: self.spec.slots.max(1),
            capacity,
            held,
            free,
            load: self.load(),
            queued: self.queued(&st) as u64,
            running: st.slots.iter().filter(|s| s.entry.is_some()).count() as u64,
            completed: c.completed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            restarts: c.restarts.load(Ordering::Relaxed),
            health,
            gpu_fragmentation: (capacity.gpu_milli > 0).then(|| {
                // Free GPU capacity not in whole GPUs (1 000 milli-GPUs).
                let partial = free.gpu_milli % 1_000;
                if free.gpu_milli == 0 {
                    0.0
                } else {
                    partial as f64 / free.gpu_milli as f64
                }
            }),
        };
        drop(st);
        status
    }

    /// The attempts running here now.
    pub(crate) fn running_tasks(&self) -> Vec<RunningTask> {
        let st = self.state.lock();
        st.slots
            .iter()
            .filter(|s| !s.abandoned)
            .filter_map(|s| s.entry.as_ref())
            .map(|e| (e.task, e.attempt, e.started))
            .collect()
    }

    /// Where task `id` waits here: its place in start order (the queue,
    /// then the inbox, whose jobs go in behind the queue's as the next
    /// executor takes them) and how many wait in all.
    pub(crate) fn locate(&self, id: TaskId) -> Option<(usize, usize)> {
        let st = self.state.lock();
        let inbox = self.inbox.mutex.lock();
        let length = st.queue.len() + inbox.jobs.len();
        let is = |j: &JobRef| j.core().id == id;
        st.queue
            .position(is)
            .or_else(|| inbox.jobs.iter().position(is).map(|p| st.queue.len() + p))
            .map(|p| (p, length))
    }

    /// Calls `f` with every job waiting here (queue, then inbox) until it
    /// returns false.
    pub(crate) fn scan_queued(&self, mut f: impl FnMut(&JobRef) -> bool) {
        let st = self.state.lock();
        let inbox = self.inbox.mutex.lock();
        for job in st.queue.iter().chain(inbox.jobs.iter()) {
            if !f(job) {
                return;
            }
        }
    }
}
