//! What every policy is: the [`Policy`] trait, the views it sees of nodes
//! and tasks, the feedback it may learn from, and helpers several policies
//! share.

use crate::ids::{NodeId, TaskId};
use crate::resources::Resources;
use crate::spec::TaskKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// What a policy may know about a node.
///
/// The runtime reads each field without locking the node (the node
/// publishes them as its state changes), so each is exact as of a moment
/// just before the policy is asked, and two fields may be from moments a
/// task start or finish apart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeView {
    /// The node.
    pub id: NodeId,
    /// Estimated cost of the tasks queued on and running at the node.
    pub load: f64,
    /// Relative speed (1.0 = nominal). A task of cost `c` takes about
    /// `c / speed` seconds here.
    pub speed: f64,
    /// How many tasks the node runs at once.
    pub slots: usize,
    /// What the node has in all.
    pub capacity: Resources,
    /// What is not held by tasks running there now.
    pub free: Resources,
    /// Tasks waiting in its queue.
    pub queued: usize,
    /// Tasks running.
    pub running: usize,
    /// Whether the node accepts work now (alive, not restarting, not retired).
    pub available: bool,
}

impl NodeView {
    /// A view of an idle, available node.
    pub fn idle(id: NodeId, capacity: Resources, speed: f64, slots: usize) -> Self {
        NodeView {
            id,
            load: 0.0,
            speed,
            slots,
            capacity,
            free: capacity,
            queued: 0,
            running: 0,
            available: true,
        }
    }

    /// Expected seconds to drain the node's work: `load / (speed · slots)`.
    pub fn drain_time(&self) -> f64 {
        self.load / self.throughput()
    }

    /// Work the node gets through per second: `speed · slots`.
    pub fn throughput(&self) -> f64 {
        self.speed.max(1e-9) * self.slots.max(1) as f64
    }

    /// Expected seconds until `task` would finish here, counting the work
    /// ahead of it: `(load + cost) / (speed · slots)`.
    pub fn finish_time(&self, task: &TaskView<'_>) -> f64 {
        (self.load + task.cost) / self.throughput()
    }

    /// Whether `task` may be placed here at all: available and the demand
    /// fits the capacity.
    pub fn can_host(&self, task: &TaskView<'_>) -> bool {
        // Field by field: this sits on every placement's hot path.
        let (d, c) = (&task.demand, &self.capacity);
        self.available
            && d.cpu_milli <= c.cpu_milli
            && d.memory_mib <= c.memory_mib
            && d.gpu_milli <= c.gpu_milli
            && d.bandwidth_mbps <= c.bandwidth_mbps
    }

    /// Records that `task` was placed here (for batch allocation).
    pub fn assign(&mut self, task: &TaskView<'_>) {
        self.load += task.cost;
        self.queued += 1;
    }
}

/// What a policy may know about a task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TaskView<'a> {
    /// The task.
    pub id: TaskId,
    /// What it does.
    pub kind: &'a TaskKind,
    /// Estimated cost.
    pub cost: f64,
    /// What it needs.
    pub demand: Resources,
    /// Its priority.
    pub priority: i32,
}

/// What the runtime reports when an attempt completes, for policies that
/// learn ([`Policy::observe`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Feedback {
    /// Where the attempt ran.
    pub node: NodeId,
    /// The task's kind.
    pub kind: TaskKind,
    /// The task's estimated cost (seconds on a node of speed 1.0).
    pub cost: f64,
    /// How long the attempt ran (not counting time spent queued).
    pub elapsed: Duration,
}

/// An allocation policy.
///
/// Implementations are deterministic given their seed (and, for the solvers
/// with a time budget, as long as the budget's node or iteration limit, not
/// its clock, is what stops them). Returned indices are into the `nodes`
/// slice; a policy must only pick nodes for which [`NodeView::can_host`]
/// holds (the supervisor re-checks and falls back to the first such node if
/// it does not).
pub trait Policy: Send + fmt::Debug {
    /// A short stable name, as [`PolicyKind`](super::PolicyKind) parses it (`FromStr`).
    fn name(&self) -> &'static str;

    /// Online placement: the index of the node for `task`, or `None` when no
    /// node can host it now.
    fn place(&mut self, task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize>;

    /// Batch allocation: one entry in `out` per task (cleared first).
    ///
    /// The default places each task in order with [`place`](Policy::place)
    /// and updates the chosen node's view with [`NodeView::assign`].
    fn allocate(
        &mut self,
        tasks: &[TaskView<'_>],
        nodes: &mut [NodeView],
        out: &mut Vec<Option<usize>>,
    ) {
        out.clear();
        for task in tasks {
            let choice = self.place(task, nodes);
            if let Some(j) = choice {
                nodes[j].assign(task);
            }
            out.push(choice);
        }
    }

    /// Learns from a completed attempt. The default ignores it.
    fn observe(&mut self, feedback: &Feedback) {
        let _ = feedback;
    }

    /// Whether the runtime should report completions to
    /// [`observe`](Policy::observe). Off by default: collecting feedback
    /// costs a little on every task.
    fn wants_feedback(&self) -> bool {
        false
    }
}

/// Fills `order` with the indices of `tasks`, largest cost first (ties in
/// submission order): the order of LPT-style list scheduling.
pub(crate) fn largest_first(order: &mut Vec<usize>, tasks: &[TaskView<'_>]) {
    order.clear();
    order.extend(0..tasks.len());
    order.sort_by(|&a, &b| tasks[b].cost.total_cmp(&tasks[a].cost).then(a.cmp(&b)));
}

/// Index of the node that can host `task` and would finish it soonest
/// ([`NodeView::finish_time`]); ties go to the lowest index.
pub(crate) fn least_finish(task: &TaskView<'_>, nodes: &[NodeView]) -> Option<usize> {
    // Compared as cross products `work_a · rate_b < work_b · rate_a`, without
    // dividing (throughputs are positive).
    let mut best = usize::MAX;
    let (mut best_work, mut best_rate) = (0.0, 1.0);
    for (j, node) in nodes.iter().enumerate() {
        if !node.can_host(task) {
            continue;
        }
        let work = node.load + task.cost;
        let rate = node.throughput();
        if best == usize::MAX || work * best_rate < best_work * rate {
            best = j;
            best_work = work;
            best_rate = rate;
        }
    }
    (best != usize::MAX).then_some(best)
}
