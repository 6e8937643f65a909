//! What the state API reads of a node: its status, where a task waits in
//! its queue, what runs on it. The status reads published counters and
//! gauges without a lock; the others take the node's state lock once (and
//! its inbox lock inside it); none is on the data path.

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
        // Read without the state lock, from what every holder of it
        // publishes as it lets go (the views policies read): a poller of
        // many nodes never waits behind a descheduled executor.
        let view = self.view();
        let c = &self.counters;
        let held = view.capacity.saturating_sub(&view.free);
        let health = if self.is_retired() {
            NodeHealth::Retired
        } else if view.available {
            NodeHealth::Up
        } else {
            NodeHealth::Down
        };
        let free = view.free;
        NodeStatus {
            id: self.id,
            name: self.label.to_string(),
            speed: view.speed,
            slots: view.slots,
            capacity: view.capacity,
            held,
            free,
            load: view.load,
            queued: view.queued as u64,
            running: view.running as u64,
            completed: c.completed.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            restarts: c.restarts.load(Ordering::Relaxed),
            migrations_in: c.migrations_in.load(Ordering::Relaxed),
            migrations_out: c.migrations_out.load(Ordering::Relaxed),
            health,
            gpu_fragmentation: (view.capacity.gpu_milli > 0).then(|| {
                // Free GPU capacity not in whole GPUs (1 000 milli-GPUs).
                let partial = free.gpu_milli % 1_000;
                if free.gpu_milli == 0 {
                    0.0
                } else {
                    partial as f64 / free.gpu_milli as f64
                }
            }),
        }
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
