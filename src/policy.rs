//! Allocation policies: plain Rust behind one trait, shared by the runtime,
//! the benches and the simulator.
//!
//! A policy answers two questions:
//!
//! - **online placement** ([`Policy::place`]): where does this one task go,
//!   given a view of every node?
//! - **batch allocation** ([`Policy::allocate`]): where does each of these
//!   many tasks go? The supervisor calls it when its queue holds many tasks.
//!   The default places the tasks one by one, updating the views as it goes.
//!
//! Policies never see actors; they see [`NodeView`]s and [`TaskView`]s.

use crate::ids::{NodeId, TaskId};
use crate::resources::Resources;
use crate::spec::TaskKind;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

mod greedy;

pub use greedy::{LeastLoaded, RoundRobin};

/// What a policy may know about a node.
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
        self.load / (self.speed.max(1e-9) * self.slots.max(1) as f64)
    }

    /// Whether `task` may be placed here at all: available and the demand
    /// fits the capacity.
    pub fn can_host(&self, task: &TaskView<'_>) -> bool {
        self.available && task.demand.fits_in(&self.capacity)
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

/// An allocation policy.
///
/// Implementations are deterministic given their seed. Returned indices are
/// into the `nodes` slice; a policy must only pick nodes for which
/// [`NodeView::can_host`] holds (the supervisor re-checks and falls back to
/// the first such node if it does not).
pub trait Policy: Send + fmt::Debug {
    /// A short stable name, as accepted by [`PolicyKind::from_str`].
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
}

/// A policy chosen by name, for builders and config files.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PolicyKind {
    /// [`RoundRobin`].
    RoundRobin,
    /// [`LeastLoaded`].
    #[default]
    LeastLoaded,
}

impl PolicyKind {
    /// Every selectable policy.
    pub const ALL: &'static [PolicyKind] = &[PolicyKind::RoundRobin, PolicyKind::LeastLoaded];

    /// Its name, as accepted by `from_str`.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::RoundRobin => "round-robin",
            PolicyKind::LeastLoaded => "least-loaded",
        }
    }

    /// A fresh instance, seeded with `seed` where the policy is random.
    pub fn build(self, seed: u64) -> Box<dyn Policy> {
        let _ = seed;
        match self {
            PolicyKind::RoundRobin => Box::new(RoundRobin::new()),
            PolicyKind::LeastLoaded => Box::new(LeastLoaded::new()),
        }
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown policy name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownPolicy(pub String);

impl fmt::Display for UnknownPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = PolicyKind::ALL.iter().map(|p| p.name()).collect();
        write!(
            f,
            "unknown policy `{}` (expected one of: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownPolicy {}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.to_ascii_lowercase().replace('_', "-");
        PolicyKind::ALL
            .iter()
            .copied()
            .find(|p| p.name() == norm)
            .ok_or_else(|| UnknownPolicy(s.to_owned()))
    }
}
